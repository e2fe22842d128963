/* mc-smtp-server: the server side of SMTP (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, BINARYMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING, DSN,
 * STARTTLS and AUTH PLAIN/LOGIN) as a sans-I/O state machine: the daemon
 * pushes client bytes in, gets reply bytes through a write callback and
 * answers decisions (HELO, MAIL, RCPT, AUTH, DATA...) now or later.
 *
 * Timeouts are the daemon's job: RFC 5321 4.5.3.2 suggests 5 minutes
 * waiting for a command and 10 minutes between DATA/BDAT blocks; on expiry
 * it calls mc_smtp_server_timeout(). After mc_smtp_server_closing() turns
 * true the daemon flushes its output and closes the connection.
 *
 * Command line limit: max_line_len (CRLF included) defaults to 512 octets
 * (RFC 5321 4.5.3.1.4), raised to 2048 when DSN or SMTPUTF8 is offered,
 * because ORCPT/ENVID xtext and UTF-8 addresses do not fit in 512. AUTH
 * continuation lines may be 12288 octets (RFC 4954 4).
 *
 * Every reply carries an enhanced status code (RFC 2034) except the
 * greeting, HELO/EHLO, and the 354/334 intermediates (RFC 3463 has no
 * class 3). Errors (4xx/5xx other than 421) count towards max_errors; the
 * reply that reaches it is followed by 421 4.7.0 and the close. */
#ifndef MC_SMTP_SERVER_H
#define MC_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_buf;
struct mc_smtp_server;

#define MC_SMTP_SERVER_DEFAULT_LINE	    512
#define MC_SMTP_SERVER_DEFAULT_LINE_EXT	    2048
#define MC_SMTP_SERVER_AUTH_LINE	    12288
#define MC_SMTP_SERVER_DEFAULT_RCPTS	    100
#define MC_SMTP_SERVER_DEFAULT_ERRORS	    10
#define MC_SMTP_SERVER_DEFAULT_TRANSACTIONS 100
#define MC_SMTP_SERVER_DEFAULT_RSETS	    100
#define MC_SMTP_SERVER_DEFAULT_HOPS	    50
#define MC_SMTP_SERVER_DEFAULT_INPUT	    (64 * 1024)

/* Zero numeric limits mean the defaults above; max_message_size 0 means no
 * fixed maximum ("SIZE 0"). Strings are copied by mc_smtp_server_create.
 * mc_smtp_server_settings_init() turns every standard extension on. */
struct mc_smtp_server_settings {
	const char *hostname; /* banner, EHLO, Received; NULL = "localhost" */
	const char *greeting; /* after "220 host "; NULL = "ESMTP mailcore" */
	bool pipelining, eightbitmime, binarymime, smtputf8, chunking, dsn;
	bool starttls;	    /* STARTTLS may be offered (a certificate exists) */
	bool tls_active;    /* already TLS (implicit TLS, port 465) */
	bool auth;	    /* AUTH PLAIN LOGIN offered */
	bool auth_trusted;  /* AUTH allowed without TLS (loopback client) */
	bool auth_required; /* MAIL needs AUTH first (530 5.7.0) */
	bool vrfy;	    /* VRFY goes to the vrfy callback, else 252 */
	/* XCLIENT (Postfix's extension) offered: a trusted proxy or test
	 * client may say who the real client is; only for clients the
	 * daemon trusts ([smtpd] xclient_networks) */
	bool xclient;
	size_t max_line_len, max_input_buffer;
	uint64_t max_message_size;
	unsigned max_recipients, max_errors, max_transactions, max_rsets;
	unsigned max_hops;
};

enum mc_smtp_body {
	MC_SMTP_BODY_UNSPECIFIED = 0,
	MC_SMTP_BODY_7BIT,
	MC_SMTP_BODY_8BITMIME,
	MC_SMTP_BODY_BINARYMIME,
};

enum mc_smtp_ret {
	MC_SMTP_RET_UNSPECIFIED = 0,
	MC_SMTP_RET_FULL,
	MC_SMTP_RET_HDRS
};

#define MC_SMTP_NOTIFY_NEVER   0x1u
#define MC_SMTP_NOTIFY_SUCCESS 0x2u
#define MC_SMTP_NOTIFY_FAILURE 0x4u
#define MC_SMTP_NOTIFY_DELAY   0x8u

/* What the callbacks receive. Strings stay valid until the reply to that
 * command (the library owns them), except the AUTH password, which is
 * zeroed when the auth callback returns: copy it if answering later. */
struct mc_smtp_server_helo {
	const char *domain; /* Domain or address-literal as sent */
	bool ehlo;
};

/* An address: "" (null reverse-path) or a mailbox. address is as sent
 * (source route dropped, quoting kept); local is unquoted; domain is NULL
 * only for RCPT TO:<postmaster>. utf8 is set when non-ASCII. */
struct mc_smtp_server_path {
	const char *address, *local, *domain;
	bool utf8;
};

struct mc_smtp_server_mail {
	struct mc_smtp_server_path from;
	bool has_size;
	uint64_t size;
	enum mc_smtp_body body;
	bool smtputf8;
	const char *auth; /* AUTH= xtext-decoded, NULL if absent */
	enum mc_smtp_ret ret;
	const char *envid; /* xtext-decoded, NULL if absent */
};

struct mc_smtp_server_rcpt {
	struct mc_smtp_server_path to;
	unsigned notify;	/* MC_SMTP_NOTIFY_* bits, 0 if absent */
	const char *orcpt_type; /* "rfc822" etc., NULL if absent */
	const char *orcpt;	/* xtext-decoded original recipient */
};

struct mc_smtp_server_auth {
	const char *mechanism; /* "PLAIN" or "LOGIN" */
	const char *authzid;   /* "" when absent */
	const char *authcid;
	const char *password; /* zeroed after the callback returns */
	size_t password_len;
};

/* Handed to message_end once the data is complete and within limits. */
struct mc_smtp_server_message {
	uint64_t size;	  /* octets after dot-unstuffing */
	unsigned bare_lf; /* LF not preceded by CR (possible smuggling) */
	unsigned bare_cr; /* CR not followed by LF */
	unsigned hops;	  /* Received: header lines */
	unsigned recipients;
	bool chunking; /* sent with BDAT */
};

/* XCLIENT attributes (values xtext-decoded; NULL when not given or
 * "[UNAVAILABLE]"). */
struct mc_smtp_server_xclient {
	const char *addr; /* an IPv4 or IPv6 address (no "IPV6:" prefix) */
	const char *name; /* the client's host name */
	const char *helo; /* the HELO the client sent the proxy */
};

/* Decision callbacks (helo ... vrfy) must be followed, now or later, by
 * exactly one mc_smtp_server_reply() or mc_smtp_server_accept(); until then
 * input is only buffered. A NULL decision callback accepts. s is the
 * server that called. data_chunk and transaction_end are notifications. */
struct mc_smtp_server_callbacks {
	/* Required: reply bytes for the client, in order. */
	void (*write)(void *ctx, const void *data, size_t len);
	void (*helo)(void *ctx, struct mc_smtp_server *s,
		     const struct mc_smtp_server_helo *helo);
	void (*mail)(void *ctx, struct mc_smtp_server *s,
		     const struct mc_smtp_server_mail *mail);
	void (*rcpt)(void *ctx, struct mc_smtp_server *s,
		     const struct mc_smtp_server_rcpt *rcpt);
	void (*auth)(void *ctx, struct mc_smtp_server *s,
		     const struct mc_smtp_server_auth *auth);
	/* DATA, or the first BDAT of a transaction. */
	void (*data_start)(void *ctx, struct mc_smtp_server *s);
	/* Message bytes, dot-unstuffed, line ends as sent. Not called once
	 * the message is over max_message_size. */
	void (*data_chunk)(void *ctx, const void *data, size_t len);
	void (*message_end)(void *ctx, struct mc_smtp_server *s,
			    const struct mc_smtp_server_message *msg);
	/* Accepting makes the library send 220 and wait for
	 * mc_smtp_server_tls_started(). */
	void (*starttls)(void *ctx, struct mc_smtp_server *s);
	void (*vrfy)(void *ctx, struct mc_smtp_server *s, const char *arg);
	/* Accepting restarts the session as if the client were x (a new
	 * 220 greeting; EHLO again); NULL accepts. */
	void (*xclient)(void *ctx, struct mc_smtp_server *s,
			const struct mc_smtp_server_xclient *x);
	/* A transaction that MAIL had started is over (message answered,
	 * RSET, EHLO, STARTTLS, error, close): drop its state. */
	void (*transaction_end)(void *ctx);
};

/* Standard extensions on, TLS/AUTH/VRFY off, limits 0 (defaults). */
void mc_smtp_server_settings_init(struct mc_smtp_server_settings *set);

/* Returns a new server; callbacks are copied, ctx is passed back. */
struct mc_smtp_server *
mc_smtp_server_create(const struct mc_smtp_server_settings *set,
		      const struct mc_smtp_server_callbacks *callbacks,
		      void *ctx);
/* Accepts NULL; clears *s. Must not be called from a callback. */
void mc_smtp_server_destroy(struct mc_smtp_server **s);

/* Sends the "220 host greeting" banner. */
void mc_smtp_server_greet(struct mc_smtp_server *s);
/* Bytes from the client, split anywhere. */
void mc_smtp_server_input(struct mc_smtp_server *s, const void *data,
			  size_t len);

/* Answers the pending decision. code is 200..599, enh "x.y.z" (NULL for
 * none); control characters in text are replaced by spaces. For EHLO any
 * 2xx sends the capability list. Ignored when nothing is pending. */
void mc_smtp_server_reply(struct mc_smtp_server *s, unsigned code,
			  const char *enh, const char *text);
/* The default positive answer to the pending decision. */
void mc_smtp_server_accept(struct mc_smtp_server *s);

/* The daemon finished the TLS handshake after STARTTLS: the session goes
 * back to its state before EHLO. */
void mc_smtp_server_tls_started(struct mc_smtp_server *s);
/* Sends "421 4.4.2 host Error: timeout exceeded" and closes. */
void mc_smtp_server_timeout(struct mc_smtp_server *s);

/* True once the connection must be closed after flushing output. */
bool mc_smtp_server_closing(const struct mc_smtp_server *s);
/* True while a decision is pending (the daemon may stop reading). */
bool mc_smtp_server_pending(const struct mc_smtp_server *s);
/* True after STARTTLS was accepted until mc_smtp_server_tls_started(). */
bool mc_smtp_server_awaiting_tls(const struct mc_smtp_server *s);
/* The authenticated user (owned by s), NULL if none. */
const char *mc_smtp_server_auth_user(const struct mc_smtp_server *s);
/* The HELO/EHLO domain (owned by s), NULL before it. */
const char *mc_smtp_server_helo_domain(const struct mc_smtp_server *s);

/* Connection facts for the Received: header; all optional but ip. */
struct mc_smtp_server_received_info {
	const char *ip;		 /* client address, "192.0.2.1" or IPv6 */
	const char *rdns;	 /* verified reverse name */
	const char *tls_version; /* "TLSv1.3" */
	const char *tls_cipher;
	const char *id;	      /* queue id */
	const char *for_rcpt; /* set only for a single recipient */
	time_t time;	      /* 0 = now */
};

/* Appends a folded "Received: ... ; date\r\n" (RFC 5321 4.4) built from
 * the session (HELO, TLS, AUTH, SMTPUTF8) and info. Call it before
 * answering message_end: the transaction (SMTPUTF8) ends with the reply. */
void mc_smtp_server_received_header(
	const struct mc_smtp_server *s,
	const struct mc_smtp_server_received_info *info, struct mc_buf *out);

#endif
