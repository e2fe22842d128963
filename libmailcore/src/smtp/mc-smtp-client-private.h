/* mc-smtp-client-private: the client's state shared by the session code
 * (mc-smtp-client.c: connect, EHLO, TLS, AUTH, deadline I/O) and the
 * transaction code (mc-smtp-client-send.c: MAIL, RCPT, DATA/BDAT). */
#ifndef MC_SMTP_CLIENT_PRIVATE_H
#define MC_SMTP_CLIENT_PRIVATE_H

#include <stdint.h>

#include "mailcore/mc-smtp-client.h"

#define SMTPC_CONNECT_TIMEOUT 30000
#define SMTPC_COMMAND_TIMEOUT 300000
#define SMTPC_DATA_TIMEOUT    600000

struct mc_smtp_client {
	int fd;
	SSL *ssl;
	struct mc_smtp_reply_parser *parser;
	char in[4096];
	size_t in_pos, in_len;
	char *host;
	unsigned connect_timeout, command_timeout, data_timeout;
	char **ext; /* EHLO keywords of the last EHLO (upper case) */
	size_t ext_count;
	uint64_t max_size;
	bool tls_verified;
	bool broken; /* no more commands: I/O error, timeout, 421 */
	char tls_desc[128];
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t smtpc_now_ms(void);
/* Sets st to a local status (code 0) with enh and formatted text. */
void smtpc_status_local(struct mc_smtp_status *st, const char *enh,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes all of data before the deadline (plain or TLS): 0, or -1 with
 * st set (code 0) and the client marked broken. */
int smtpc_write(struct mc_smtp_client *c, const void *data, size_t len,
		int64_t deadline, struct mc_smtp_status *st);
/* Reads one reply before the deadline into st: 0 (a reply; a 421 marks
 * the client broken), or -1 with st set (code 0) and the client broken. */
int smtpc_read_reply(struct mc_smtp_client *c, int64_t deadline,
		     struct mc_smtp_status *st);
/* Writes a command line (CRLF added) and reads its reply, with the
 * command timeout: 0 or -1 as smtpc_read_reply. */
int smtpc_command(struct mc_smtp_client *c, struct mc_smtp_status *st,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The argument of EHLO keyword ext ("" when it has none), or NULL. */
const char *smtpc_ext_param(const struct mc_smtp_client *c, const char *ext);

#endif
