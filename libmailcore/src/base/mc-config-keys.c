/* mc-config-keys: the schema of mailcore.conf, every section and key with
 * its type, default and bounds. A key not listed here is a startup error.
 * Later modules add their keys here, next to their section. */
#include "mailcore/mc-config.h"

#define MS (1000LL)
#define KEY(s, k, t, d, help)                                                  \
	{                                                                      \
		s, k, t, d, NULL, 0, 0, help                                   \
	}
#define KEYR(s, k, t, d, lo, hi, help)                                         \
	{                                                                      \
		s, k, t, d, NULL, lo, hi, help                                 \
	}
#define KEYE(s, k, d, choices, help)                                           \
	{                                                                      \
		s, k, MC_CFG_ENUM, d, choices, 0, 0, help                      \
	}

const struct mc_config_key mc_config_keys[] = {
	KEY("server", "hostname", MC_CFG_STRING, "",
	    "name in greetings and Received headers; empty = the host name"),
	KEY("server", "state_dir", MC_CFG_PATH, "/var/lib/mailcore",
	    "blobs, spool and runtime files"),
	KEYE("server", "log_level", "info", "debug|info|notice|warning|error",
	     "lowest level logged"),
	KEYE("server", "log_format", "plain", "plain|json", "log line format"),
	KEY("server", "log_file", MC_CFG_PATH, "",
	    "append logs to this file; empty = standard error"),
	KEYR("server", "loops", MC_CFG_INT, "0", 0, 256,
	     "event loops (threads) per daemon; 0 = one per core"),
	KEYR("server", "workers", MC_CFG_INT, "4", 1, 256,
	     "worker threads for database, Redis and CPU-heavy jobs"),
	KEY("server", "user", MC_CFG_STRING, "",
	    "drop root privileges to this user after binding ports"),

	KEY("database", "conninfo", MC_CFG_SECRET,
	    "host=127.0.0.1 port=5432 dbname=mailcore user=mailcore",
	    "libpq connection string"),
	KEYR("database", "connect_timeout", MC_CFG_DURATION, "5s", 1 * MS,
	     300 * MS, "timeout of one connection attempt"),
	KEYR("database", "statement_timeout", MC_CFG_DURATION, "30s", 0,
	     3600 * MS, "server-side limit per statement; 0 = none"),
	KEYR("database", "retry_max_delay", MC_CFG_DURATION, "30s", 100,
	     600 * MS,
	     "longest wait between attempts while the database is down"),

	KEY("redis", "host", MC_CFG_STRING, "127.0.0.1", "Redis host"),
	KEYR("redis", "port", MC_CFG_INT, "6379", 1, 65535, "Redis TCP port"),
	KEY("redis", "socket", MC_CFG_PATH, "",
	    "Redis unix socket; overrides host and port"),
	KEY("redis", "password", MC_CFG_SECRET, "", "AUTH password"),
	KEYR("redis", "db", MC_CFG_INT, "0", 0, 15, "database number"),
	KEYR("redis", "timeout", MC_CFG_DURATION, "2s", 10, 60 * MS,
	     "connect and command timeout"),

	KEY("tls", "cert", MC_CFG_PATH, "", "default certificate chain (PEM)"),
	KEY("tls", "key", MC_CFG_PATH, "", "default private key (PEM)"),
	KEYE("tls", "min_version", "1.2", "1.2|1.3", "oldest TLS version"),
	KEY("tls", "sni_dir", MC_CFG_PATH, "",
	    "directory of NAME.pem + NAME.key pairs picked by SNI"),

	KEYE("auth", "password_scheme", "yescrypt",
	     "yescrypt|bcrypt|sha512-crypt|argon2id",
	     "scheme of new password hashes"),
	KEYR("auth", "max_failures_ip", MC_CFG_INT, "30", 0, 1000000,
	     "failed logins from one IP within failure_window before it is "
	     "blocked; 0 = no limit"),
	KEYR("auth", "max_failures_user", MC_CFG_INT, "10", 0, 1000000,
	     "failed logins for one account within failure_window before it "
	     "is blocked; 0 = no limit"),
	KEYR("auth", "failure_window", MC_CFG_DURATION, "15m", 1 * MS,
	     86400 * MS, "how long a failed login counts (and a block lasts)"),
	KEY("auth", "throttle_exempt_networks", MC_CFG_NETS,
	    "127.0.0.0/8, ::1/128",
	    "clients never blocked per IP (webmail, proxies); accounts still "
	    "are"),

	KEY("smtpd", "listen_mx", MC_CFG_ADDRS, "127.0.0.1:25",
	    "MX listeners (plain, STARTTLS offered)"),
	KEY("smtpd", "listen_submission", MC_CFG_ADDRS, "127.0.0.1:587",
	    "submission listeners (STARTTLS required before AUTH)"),
	KEY("smtpd", "listen_submissions", MC_CFG_ADDRS, "127.0.0.1:465",
	    "submissions listeners (implicit TLS)"),
	KEY("smtpd", "tls_cert", MC_CFG_PATH, "", "certificate; empty = [tls]"),
	KEY("smtpd", "tls_key", MC_CFG_PATH, "", "key; empty = [tls]"),
	KEYR("smtpd", "max_message_size", MC_CFG_SIZE, "50M", 1024,
	     4LL << 30, "largest message accepted (SIZE)"),
	KEYR("smtpd", "max_recipients", MC_CFG_INT, "100", 1, 100000,
	     "recipients per message"),
	KEYR("smtpd", "max_errors", MC_CFG_INT, "10", 1, 1000,
	     "errors per session before 421"),
	KEYR("smtpd", "max_hops", MC_CFG_INT, "50", 1, 1000,
	     "Received: headers before 554 5.4.6 (mail loop)"),
	KEYR("smtpd", "command_timeout", MC_CFG_DURATION, "5m", 1 * MS,
	     3600 * MS, "wait for a command"),
	KEYR("smtpd", "data_timeout", MC_CFG_DURATION, "10m", 1 * MS,
	     3600 * MS, "wait for message data"),
	KEY("smtpd", "relay_networks", MC_CFG_NETS, "",
	    "client networks that may relay without AUTH (any sender)"),
	KEY("smtpd", "plaintext_auth_networks", MC_CFG_NETS,
	    "127.0.0.0/8, ::1/128",
	    "client networks allowed to AUTH before STARTTLS"),
	KEY("smtpd", "vrfy", MC_CFG_BOOL, "no",
	    "answer VRFY from the directory (else 252)"),
	KEY("smtpd", "postmaster", MC_CFG_STRING, "",
	    "address that RCPT TO:<postmaster> delivers to"),

	KEY("store", "blob_dir", MC_CFG_PATH, "",
	    "message blobs; empty = STATE_DIR/blobs"),
	KEY("store", "fsync", MC_CFG_BOOL, "yes",
	    "fsync blobs before acknowledging (never off in production)"),
	/* at most MC_STORE_MAX_SEARCH_TEXT (mc-store.h) */
	KEYR("store", "max_search_text", MC_CFG_SIZE, "256k", 1024, 512 << 10,
	     "text per message kept for full-text search"),

	KEYR("directory", "cache_ttl", MC_CFG_DURATION, "60s", 0, 86400 * MS,
	     "lifetime of cached address lookups in Redis; 0 = no cache"),

	/* server defaults of user policies (mc-policy.h); 0 = unlimited */
	KEY("policy", "attachment_max_bytes", MC_CFG_SIZE, "0",
	    "largest decoded attachment a user may send; 0 = no limit"),
	KEYR("policy", "daily_send_count", MC_CFG_INT, "0", 0, 1000000000,
	     "messages a user may send per UTC day; 0 = no limit"),
	KEY("policy", "daily_send_bytes", MC_CFG_SIZE, "0",
	    "bytes a user may send per UTC day; 0 = no limit"),
	KEY("policy", "internal_only", MC_CFG_BOOL, "no",
	    "users may send only to their tenant's own domains"),

	KEY("imapd", "listen", MC_CFG_ADDRS, "127.0.0.1:143",
	    "IMAP listeners (STARTTLS)"),
	KEY("imapd", "listen_tls", MC_CFG_ADDRS, "127.0.0.1:993",
	    "IMAPS listeners (implicit TLS)"),
	KEY("imapd", "tls_cert", MC_CFG_PATH, "", "certificate; empty = [tls]"),
	KEY("imapd", "tls_key", MC_CFG_PATH, "", "key; empty = [tls]"),
	KEY("imapd", "plaintext_auth_networks", MC_CFG_NETS,
	    "127.0.0.0/8, ::1/128",
	    "client networks allowed to log in before STARTTLS"),
	KEYR("imapd", "idle_timeout", MC_CFG_DURATION, "30m", 30 * 60 * MS,
	     24 * 3600 * MS, "autologout of an idle session (RFC: >= 30m)"),
	KEYR("imapd", "login_timeout", MC_CFG_DURATION, "1m", 1 * MS,
	     3600 * MS, "time to log in after connecting"),
	KEYR("imapd", "max_sessions_per_user", MC_CFG_INT, "50", 0, 100000,
	     "concurrent sessions of one user per process; 0 = no limit"),
	KEYR("imapd", "max_append", MC_CFG_SIZE, "50M", 1024, 4LL << 30,
	     "largest APPEND (APPENDLIMIT)"),
	KEYR("imapd", "max_line", MC_CFG_SIZE, "64k", 8192, 16LL << 20,
	     "longest command line"),
	KEY("imapd", "proxy", MC_CFG_BOOL, "no",
	    "relay users with an IMAP backend (user's or tenant's) to it"),
	KEY("imapd", "proxy_tls", MC_CFG_BOOL, "yes",
	    "talk to backends over TLS (verified against proxy_ca)"),
	KEY("imapd", "proxy_ca", MC_CFG_PATH, "",
	    "CA file for backend certificates; empty = the system's"),
	KEY("imapd", "trusted_proxies", MC_CFG_NETS, "127.0.0.0/8, ::1/128",
	    "proxies whose ID x-originating-ip names the client"),

	KEY("pop3d", "listen", MC_CFG_ADDRS, "127.0.0.1:110",
	    "POP3 listeners (STLS)"),
	KEY("pop3d", "listen_tls", MC_CFG_ADDRS, "127.0.0.1:995",
	    "POP3S listeners (implicit TLS)"),
	KEY("pop3d", "tls_cert", MC_CFG_PATH, "", "certificate; empty = [tls]"),
	KEY("pop3d", "tls_key", MC_CFG_PATH, "", "key; empty = [tls]"),
	KEY("pop3d", "plaintext_auth_networks", MC_CFG_NETS,
	    "127.0.0.0/8, ::1/128",
	    "client networks allowed to log in before STLS"),

	KEY("webd", "listen_http", MC_CFG_ADDRS, "127.0.0.1:80",
	    "HTTP listeners"),
	KEY("webd", "listen_https", MC_CFG_ADDRS, "127.0.0.1:443",
	    "HTTPS listeners"),
	KEY("webd", "tls_cert", MC_CFG_PATH, "", "certificate; empty = [tls]"),
	KEY("webd", "tls_key", MC_CFG_PATH, "", "key; empty = [tls]"),
	KEYR("webd", "threads", MC_CFG_INT, "16", 1, 1024,
	     "CivetWeb worker threads (each with its own database "
	     "connection)"),
	KEY("webd", "ssl_shim", MC_CFG_PATH, "",
	    "the OpenSSL 3 shim for CivetWeb; empty = "
	    "<bindir>/../lib/mailcore/libssl.so"),
	KEY("webd", "openapi", MC_CFG_PATH, "",
	    "api/openapi.yaml served at /api/v1/openapi.yaml; empty = "
	    "the installed or source copy"),
	KEYR("webd", "maintain_interval", MC_CFG_DURATION, "1h", 1 * MS,
	     7 * 86400 * MS, "how often maintenance runs (first 10 s after "
	     "start)"),
	KEYR("webd", "registrations_per_hour", MC_CFG_INT, "5", 0, 100000,
	     "self-registration attempts one client address (IPv6: its /64) "
	     "may make per hour; 0 = no limit"),

	/* DNS records hosted domains must publish (mc-dns-records) */
	KEY("dns", "mx", MC_CFG_STRING, "",
	    "MX hosts of hosted domains, \"10 mx1.example.net, 20 mx2...\"; "
	    "empty = [server] hostname, priority 10"),
	KEY("dns", "spf", MC_CFG_STRING, "",
	    "full SPF text (\"v=spf1 ...\"); empty = \"v=spf1 mx\" + "
	    "spf_include + spf_networks + \" -all\""),
	KEY("dns", "spf_include", MC_CFG_STRING, "",
	    "comma-separated domains for SPF include: mechanisms"),
	KEY("dns", "spf_networks", MC_CFG_NETS, "",
	    "networks for SPF ip4:/ip6: mechanisms"),
	KEYE("dns", "dmarc_policy", "quarantine", "none|quarantine|reject",
	     "DMARC p= of hosted domains"),
	KEY("dns", "dmarc_rua", MC_CFG_STRING, "",
	    "DMARC aggregate report mailbox; empty = dmarc-reports@DOMAIN"),
	KEYE("dns", "mta_sts_mode", "testing", "testing|enforce",
	     "MTA-STS policy mode"),
	KEYR("dns", "mta_sts_max_age", MC_CFG_INT, "604800", 86400, 31557600,
	     "MTA-STS policy max_age in seconds"),
	KEY("dns", "tlsrpt_rua", MC_CFG_STRING, "",
	    "TLS-RPT report mailbox; empty = tls-reports@DOMAIN"),
	KEY("dns", "web_host", MC_CFG_STRING, "",
	    "target of the mta-sts, autoconfig and autodiscover CNAMEs; "
	    "empty = [server] hostname"),
	KEY("dns", "imap_host", MC_CFG_STRING, "",
	    "IMAPS SRV target; empty = [server] hostname"),
	KEY("dns", "submission_host", MC_CFG_STRING, "",
	    "submission(s) SRV target; empty = [server] hostname"),
	KEY("dns", "pop3_host", MC_CFG_STRING, "",
	    "POP3S SRV target; empty = [server] hostname"),
	KEYR("dns", "imaps_port", MC_CFG_INT, "993", 1, 65535,
	     "port in the _imaps._tcp SRV record"),
	KEYR("dns", "submissions_port", MC_CFG_INT, "465", 1, 65535,
	     "port in the _submissions._tcp SRV record"),
	KEYR("dns", "submission_port", MC_CFG_INT, "587", 1, 65535,
	     "port in the _submission._tcp SRV record"),
	KEYR("dns", "pop3s_port", MC_CFG_INT, "995", 1, 65535,
	     "port in the _pop3s._tcp SRV record"),
	KEY("dns", "pop3", MC_CFG_BOOL, "yes",
	    "publish the POP3S SRV record (POP3 offered)"),
	{0},
};
