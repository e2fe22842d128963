/* mc-smtp-client: the SMTP client of outbound delivery (RFC 5321) for a
 * worker thread: blocking I/O with a deadline on every step. Connects,
 * reads the greeting, EHLO (HELO when EHLO is refused), STARTTLS when
 * offered (or required; the certificate checked against the names or
 * TLSA records given), AUTH PLAIN/LOGIN for smarthosts, then sends
 * transactions with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN and
 * CHUNKING (BDAT) when the server offers them, one reply per recipient.
 * A connection carries several transactions (RSET between). Replies are
 * read by an incremental parser with limits (mc_smtp_reply_parser). */
#ifndef MC_SMTP_CLIENT_H
#define MC_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "mc-addr.h"

struct mc_error;
struct mc_dns_tlsa;
struct mc_smtp_client;

/* A server reply. code 0: no reply (connection failed, timeout, TLS
 * failure, or a local refusal such as SMTPUTF8 not offered): text says
 * what happened, enh the status to report ("4.4.1", "5.6.7"...). */
struct mc_smtp_status {
	unsigned code;
	char enh[16];	/* "5.1.1", or "" if the reply had none */
	char text[512]; /* the reply's text, lines joined with " " */
};

enum mc_smtp_tls_mode {
	MC_SMTP_TLS_NONE,	   /* never STARTTLS */
	MC_SMTP_TLS_OPPORTUNISTIC, /* when offered; no certificate check;
				    * a failed handshake: try the next host */
	MC_SMTP_TLS_REQUIRED,	   /* must succeed; certificate not checked */
	MC_SMTP_TLS_VERIFY,	   /* must succeed, certificate verified
				    * (CA file) and matching one of names */
	MC_SMTP_TLS_DANE,	   /* must succeed, checked against tlsa */
};

struct mc_smtp_client_settings {
	const char *helo_name;
	unsigned connect_timeout_ms; /* 0 = 30000 */
	unsigned command_timeout_ms; /* per reply; 0 = 300000 */
	unsigned data_timeout_ms;    /* final reply after the body; 0 = 600000 */
	enum mc_smtp_tls_mode tls;
	/* A client context (mc_smtp_client_tls_ctx): certificate checks
	 * use its CA store. Needed for any mode but NONE. */
	SSL_CTX *tls_ctx;
	const char *const *tls_names; /* VERIFY: accepted names (MTA-STS MX
				       * patterns "*.example" allowed) */
	size_t tls_names_count;
	const char *tls_sni; /* server name sent in the handshake */
	/* DANE: the TLSA records of the host (RFC 7672: usage 2 and 3) */
	const struct mc_dns_tlsa *tlsa;
	size_t tlsa_count;
	/* AUTH after TLS (PLAIN, else LOGIN); NULL = no AUTH. A server
	 * that does not offer AUTH then fails the connection (5.7.8). */
	const char *auth_user, *auth_password;
	size_t max_reply_lines; /* 0 = 100 */
};

/* A client TLS context: TLS 1.2+, CA from ca_file (NULL: the system's
 * store). The caller owns it (SSL_CTX_free). */
SSL_CTX *mc_smtp_client_tls_ctx(const char *ca_file, struct mc_error *err);

/* Connects to addr and runs the greeting, EHLO, STARTTLS and AUTH. The
 * client (caller owns it) or NULL with *status_r saying why: code 0
 * (network/TLS, text says which) or the server's 4xx/5xx. host is the
 * name for logs and Remote-MTA. */
struct mc_smtp_client *
mc_smtp_client_connect(const struct mc_smtp_client_settings *set,
		       const struct mc_sockaddr *addr, const char *host,
		       struct mc_smtp_status *status_r);

/* What the server offered (after the last EHLO) and how we talk. */
bool mc_smtp_client_has(const struct mc_smtp_client *c, const char *ext);
uint64_t mc_smtp_client_max_size(const struct mc_smtp_client *c); /* 0 = none */
bool mc_smtp_client_tls_active(const struct mc_smtp_client *c);
bool mc_smtp_client_tls_verified(const struct mc_smtp_client *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" (static storage of c). */
const char *mc_smtp_client_tls_desc(const struct mc_smtp_client *c);
const char *mc_smtp_client_host(const struct mc_smtp_client *c);

struct mc_smtp_client_rcpt {
	const char *address;
	const char *orcpt; /* "rfc822;x@y" or NULL (sent as ORCPT= when the
			    * server has DSN, xtext-encoded) */
	unsigned notify;   /* MC_SMTP_NOTIFY_* bits, 0 = none */
};

/* The message body source: reads up to len bytes at offset into buf;
 * returns the count (0 at the end) or -1. The content is the message as
 * stored: CRLF line ends. */
typedef ssize_t mc_smtp_client_read_fn(void *ctx, void *buf, size_t len,
				       uint64_t offset);

struct mc_smtp_client_message {
	const char *sender; /* "" for <> */
	const char *envid;  /* ENVID= when DSN is offered, or NULL */
	const char *ret;    /* "full"/"hdrs" or NULL */
	const struct mc_smtp_client_rcpt *rcpts;
	size_t rcpts_count;
	uint64_t size; /* of prefix + content */
	bool eightbit; /* BODY=8BITMIME when offered */
	bool smtputf8; /* needs SMTPUTF8: refused locally (5.6.7) when the
			* server lacks it, before MAIL is sent */
	/* bytes sent before the content (DKIM-Signature lines, CRLF) */
	const char *prefix;
	size_t prefix_len;
	mc_smtp_client_read_fn *read;
	void *read_ctx;
};

/* One transaction. rcpt_r (rcpts_count entries) gets each recipient's
 * RCPT reply, then, for the accepted ones, the final reply after the
 * data (code 250 = delivered). *final_r is the transaction's outcome:
 * MAIL refused, no recipient accepted, DATA/BDAT refused, or the final
 * reply. Returns 0 when the connection can carry another transaction
 * (call mc_smtp_client_reset first), -1 when it is unusable (timeout,
 * I/O error, 421). */
int mc_smtp_client_send(struct mc_smtp_client *c,
			const struct mc_smtp_client_message *msg,
			struct mc_smtp_status *rcpt_r,
			struct mc_smtp_status *final_r);
/* RSET between transactions; -1 when the connection is unusable. */
int mc_smtp_client_reset(struct mc_smtp_client *c);
/* QUIT (best effort), close, free. Accepts NULL. */
void mc_smtp_client_close(struct mc_smtp_client **c);

/* The incremental reply parser (sans I/O, used by the client and its
 * tests): feed bytes, take complete replies. */
struct mc_smtp_reply_parser;
struct mc_smtp_reply_parser *mc_smtp_reply_parser_create(size_t max_lines);
/* Takes input. Returns 1 with *reply_r filled when a complete reply
 * ended (consumed bytes in *used_r; call again for more), 0 when it
 * needs more input (all consumed), -1 on a malformed reply or over the
 * limits (line over 2048 bytes, too many lines). */
int mc_smtp_reply_parser_feed(struct mc_smtp_reply_parser *p, const void *data,
			      size_t len, size_t *used_r,
			      struct mc_smtp_status *reply_r);
/* The EHLO keywords of the last reply taken (upper case), e.g. "SIZE
 * 10240000": NULL past the last. Valid until the next feed. */
const char *mc_smtp_reply_parser_line(const struct mc_smtp_reply_parser *p,
				      size_t i);
void mc_smtp_reply_parser_destroy(struct mc_smtp_reply_parser **p);

#endif
