/* mc-dns-records: the DNS records a hosted domain should publish (MX, SPF,
 * DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig/autodiscover, RFC 6186 / RFC
 * 8314 SRV) as the JSON of GET /domains/{domain}/dns-records, and the
 * MTA-STS policy file (RFC 8461 3.2). No database or DNS access.
 *
 * Names convention: every name and host is written WITHOUT a trailing dot
 * ("_dmarc.example.com", MX value "mx.example.net"), as most DNS UIs want;
 * the only exception is the SRV target "." meaning "service not offered"
 * (RFC 6186 section 4). */
#ifndef MC_DNS_RECORDS_H
#define MC_DNS_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_config;
struct mc_error;
struct mc_pool;

struct mc_dns_mx {
	const char *host;
	unsigned priority; /* 0..65535 */
};

struct mc_dns_dkim {
	const char *selector; /* mc_dkim_keys_valid_selector() */
	const char *value;    /* the TXT value, "v=DKIM1; k=...; p=..." */
};

/* What the caller knows from the configuration ([dns], [server]). Zero /
 * NULL members take the defaults shown; hostname is required. Hosts are
 * checked with mc_tenants_valid_domain(), mailboxes must be plain
 * addresses (no ',', ';', '!', blanks). */
struct mc_dns_settings {
	const char *hostname; /* the server's name: default of every host */
	const struct mc_dns_mx *mx; /* 0 = hostname, priority 10 */
	size_t mx_count;
	/* the full "v=spf1 ..." text; NULL = "v=spf1 mx" + an include: per
	 * spf_include, ip4:/ip6: per spf_networks (CIDR or address) +
	 * " -all" */
	const char *spf;
	const char *const *spf_include;
	size_t spf_include_count;
	const char *const *spf_networks;
	size_t spf_networks_count;
	const char *dmarc_policy; /* none|quarantine|reject; quarantine */
	const char *dmarc_rua;	  /* dmarc-reports@<domain> */
	const char *mta_sts_mode; /* testing|enforce; testing */
	uint32_t mta_sts_max_age; /* seconds, 1..31557600; 604800 */
	/* RFC 8461 id, 1..32 letters and digits; NULL = derived from the
	 * policy text (SHA-256), so it changes whenever the policy does */
	const char *mta_sts_id;
	const char *tlsrpt_rua; /* tls-reports@<domain> */
	const char *web_host;	/* mta-sts/autoconfig/autodiscover CNAMEs */
	const char *imap_host;	/* _imaps._tcp */
	const char *submission_host; /* _submissions._tcp, _submission._tcp */
	const char *pop3_host;	     /* _pop3s._tcp */
	unsigned imaps_port;	     /* 993 */
	unsigned submissions_port;   /* 465 */
	unsigned submission_port;    /* 587 */
	unsigned pop3s_port;	     /* 995 */
	bool pop3;		     /* POP3 offered */
};

/* Fills *set_r from cfg: hostname = mc_service_hostname(), the rest from
 * [dns] (strings copied into pool; empty values = the defaults above):
 *   mx            "10 mx1.example.net, 20 mx2.example.net" (a bare host
 *                 has priority 10); empty = the hostname
 *   spf           full SPF text, overrides the two below
 *   spf_include   comma-separated domains for include: (may hold "_")
 *   spf_networks  (NETS) networks for ip4:/ip6:
 *   dmarc_policy  (ENUM none|quarantine|reject)  dmarc_rua
 *   mta_sts_mode  (ENUM testing|enforce)  mta_sts_max_age (INT seconds)
 *   tlsrpt_rua    web_host  imap_host  submission_host  pop3_host
 *   imaps_port  submissions_port  submission_port  pop3s_port (INT)
 *   pop3          (BOOL) publish POP3 SRV records
 * mta_sts_id stays NULL (derived). 0, or -1 MC_ERR_INVALID (a bad mx). */
int mc_dns_settings_from_config(const struct mc_config *cfg,
				struct mc_pool *pool,
				struct mc_dns_settings *set_r,
				struct mc_error *err);

/* The records of domain with its published DKIM keys (dkim_count may be
 * 0), in this order: MX (one per host), SPF TXT, DKIM TXT per key, DMARC
 * TXT, MTA-STS TXT, mta-sts CNAME, TLS-RPT TXT, autoconfig and
 * autodiscover CNAMEs, SRV _imaps, _imap ("."), _submissions, _submission,
 * _pop3s (target "." when POP3 is off), _pop3 ("."). _imap and _pop3
 * always say "not offered" so clients use implicit TLS (RFC 8314 5.1).
 *   {"domain": d, "records": [{"type", "name", "value", "priority"?,
 *    "port"?, "purpose"}]}
 * value is the record data as in a zone file without the priority: MX
 * and CNAME a host, TXT the text (unquoted), SRV "<weight> <port>
 * <target>"; MX and SRV carry "priority", SRV also "port". New reference
 * (caller decrefs), or NULL with MC_ERR_INVALID naming the bad input. */
json_t *mc_dns_records(const char *domain, const struct mc_dns_settings *set,
		       const struct mc_dns_dkim *dkim, size_t dkim_count,
		       struct mc_error *err);

/* The policy file served at https://mta-sts.<domain>/.well-known/
 * mta-sts.txt: "version: STSv1", "mode: <mode>", "mx: <host>" per MX host,
 * "max_age: <seconds>", each line ending in CRLF. Caller frees; NULL with
 * MC_ERR_INVALID. */
char *mc_dns_mta_sts_policy(const struct mc_dns_settings *set,
			    struct mc_error *err);
/* The id derived from the policy text: 20 hex digits of its SHA-256,
 * written into buf (at least 21 bytes). -1 MC_ERR_INVALID, or 0. */
int mc_dns_mta_sts_id(const struct mc_dns_settings *set, char *buf, size_t size,
		      struct mc_error *err);

#endif
