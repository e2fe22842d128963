/* mc-smtp-client: the session part of the outbound SMTP client: a
 * non-blocking connect, I/O with a deadline on every step (poll around
 * read/SSL_read), the greeting, EHLO (HELO fallback), STARTTLS with the
 * certificate checks of the mode (names, MTA-STS patterns, DANE), AUTH
 * PLAIN/LOGIN, RSET and QUIT. Transactions: mc-smtp-client-send.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-smtp-client-private.h"

#define QUIT_TIMEOUT 2000
#define COMMAND_MAX  8192

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t smtpc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A local status: code 0, enh and the formatted text. */
void smtpc_status_local(struct mc_smtp_status *st, const char *enh,
			const char *fmt, ...)
{
	va_list ap;

	memset(st, 0, sizeof(*st));
	snprintf(st->enh, sizeof(st->enh), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

/* Waits until fd is ready for events: 1, 0 at the deadline, -1. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - smtpc_now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r != 0 || errno != EINTR)
			return r > 0 ? 1 : r;
	}
}

/* After an SSL call returned r: 1 to retry (waited as asked), 0 on a
 * clean EOF, -1 on failure (errno ETIMEDOUT at the deadline). */
static int tls_wait(struct mc_smtp_client *c, int r, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, r), w;

	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		errno = ECONNRESET;
		return -1;
	}
	w = wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline);
	if (w == 0)
		errno = ETIMEDOUT;
	return w > 0 ? 1 : -1;
}

/* One TLS read or write: n > 0, 0 at EOF, -1 (errno). */
static ssize_t tls_io(struct mc_smtp_client *c, void *buf, size_t len, bool wr,
		      int64_t deadline)
{
	int n = len > INT_MAX ? INT_MAX : (int)len;

	for (;;) {
		int r = wr ? SSL_write(c->ssl, buf, n)
			   : SSL_read(c->ssl, buf, n);
		int w;

		if (r > 0)
			return r;
		w = tls_wait(c, r, deadline);
		if (w <= 0) {
			ERR_clear_error();
			return w;
		}
	}
}

/* One plain read or write: n > 0, 0 at EOF, -1 (errno). */
static ssize_t plain_io(struct mc_smtp_client *c, void *buf, size_t len,
			bool wr, int64_t deadline)
{
	for (;;) {
		ssize_t n = wr ? send(c->fd, buf, len, MSG_NOSIGNAL)
			       : recv(c->fd, buf, len, 0);
		int w;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		w = wait_fd(c->fd, wr ? POLLOUT : POLLIN, deadline);
		if (w == 0)
			errno = ETIMEDOUT;
		if (w <= 0)
			return -1;
	}
}

/* Marks c broken and sets st for an I/O failure (err 0: EOF). */
static int io_fail(struct mc_smtp_client *c, struct mc_smtp_status *st, int err,
		   const char *what)
{
	char eb[128];

	c->broken = true;
	if (err == ETIMEDOUT)
		smtpc_status_local(st, "4.4.2", "timeout %s %s", what, c->host);
	else if (err == 0)
		smtpc_status_local(st, "4.4.2", "connection closed by %s",
				   c->host);
	else
		smtpc_status_local(st, "4.4.2", "lost connection %s %s: %s",
				   what, c->host,
				   strerror_r(err, eb, sizeof(eb)));
	return -1;
}

/* Writes all of data before the deadline. */
int smtpc_write(struct mc_smtp_client *c, const void *data, size_t len,
		int64_t deadline, struct mc_smtp_status *st)
{
	char *p = (char *)data;

	if (c->broken)
		return io_fail(c, st, EPIPE, "sending to");
	while (len > 0) {
		ssize_t n = c->ssl != NULL
				    ? tls_io(c, p, len, true, deadline)
				    : plain_io(c, p, len, true, deadline);

		if (n <= 0)
			return io_fail(c, st, n == 0 ? EPIPE : errno,
				       "sending to");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Refills the input buffer: 0, or -1 with st. */
static int fill(struct mc_smtp_client *c, int64_t deadline,
		struct mc_smtp_status *st)
{
	ssize_t n;

	c->in_pos = c->in_len = 0;
	n = c->ssl != NULL ? tls_io(c, c->in, sizeof(c->in), false, deadline)
			   : plain_io(c, c->in, sizeof(c->in), false, deadline);
	if (n <= 0)
		return io_fail(c, st, n == 0 ? 0 : errno,
			       "waiting for reply from");
	c->in_len = (size_t)n;
	return 0;
}

/* Reads one reply before the deadline. */
int smtpc_read_reply(struct mc_smtp_client *c, int64_t deadline,
		     struct mc_smtp_status *st)
{
	for (;;) {
		size_t used;
		int r;

		if (c->in_pos < c->in_len) {
			r = mc_smtp_reply_parser_feed(
				c->parser, c->in + c->in_pos,
				c->in_len - c->in_pos, &used, st);
			c->in_pos += used;
			if (r > 0) {
				c->broken |= st->code == 421;
				return 0;
			}
			if (r < 0) {
				c->broken = true;
				smtpc_status_local(st, "4.5.0",
						   "malformed reply from %s",
						   c->host);
				return -1;
			}
		}
		if (fill(c, deadline, st) < 0)
			return -1;
	}
}

/* Writes a command line and reads its reply (command timeout). */
int smtpc_command(struct mc_smtp_client *c, struct mc_smtp_status *st,
		  const char *fmt, ...)
{
	char line[COMMAND_MAX];
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		smtpc_status_local(st, "5.3.0", "command to %s too long",
				   c->host);
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	r = smtpc_write(c, line, (size_t)n + 2,
			smtpc_now_ms() + c->command_timeout, st);
	mc_secure_zero(line, (size_t)n); /* AUTH lines */
	if (r < 0)
		return -1;
	return smtpc_read_reply(c, smtpc_now_ms() + c->command_timeout, st);
}

/* A TCP connection to addr before the deadline: the fd, or -1 and st. */
static int tcp_connect(const struct mc_sockaddr *addr, const char *host,
		       int64_t deadline, struct mc_smtp_status *st)
{
	int fd = socket(addr->ss.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t elen = sizeof(int);
	char ab[MC_ADDR_STR_MAX], eb[128];
	int err = fd < 0 ? errno : 0, w;

	if (fd >= 0 &&
	    connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			w = wait_fd(fd, POLLOUT, deadline);
			err = w == 0 ? ETIMEDOUT : w < 0 ? errno : 0;
			if (w > 0)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					   &elen);
		}
	}
	if (err == 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
			   sizeof(int));
		return fd;
	}
	if (fd >= 0)
		close(fd);
	smtpc_status_local(st, "4.4.1", "connect to %s[%s]: %s", host,
			   mc_addr_str(addr, ab),
			   err == ETIMEDOUT ? "timeout"
					    : strerror_r(err, eb, sizeof(eb)));
	return -1;
}

/* Forgets the EHLO keywords. */
static void ext_free(struct mc_smtp_client *c)
{
	for (size_t i = 0; i < c->ext_count; i++)
		free(c->ext[i]);
	free(c->ext);
	c->ext = NULL;
	c->ext_count = 0;
	c->max_size = 0;
}

/* Keeps the keywords of the EHLO reply just read; SIZE's limit. */
static void ext_take(struct mc_smtp_client *c)
{
	const char *size;
	size_t n = 0;

	ext_free(c);
	while (mc_smtp_reply_parser_line(c->parser, n) != NULL)
		n++;
	c->ext = mc_calloc(n + 1, sizeof(*c->ext));
	for (size_t i = 0; i < n; i++)
		c->ext[i] = mc_strdup(mc_smtp_reply_parser_line(c->parser, i));
	c->ext_count = n;
	size = smtpc_ext_param(c, "SIZE");
	if (size == NULL || sscanf(size, "%" SCNu64, &c->max_size) != 1)
		c->max_size = 0;
}

/* The argument of EHLO keyword ext ("" when it has none), or NULL. */
const char *smtpc_ext_param(const struct mc_smtp_client *c, const char *ext)
{
	size_t len = strlen(ext);

	for (size_t i = 0; i < c->ext_count; i++) {
		const char *l = c->ext[i];

		if (strncasecmp(l, ext, len) == 0 &&
		    (l[len] == '\0' || l[len] == ' '))
			return l + len + (l[len] == ' ');
	}
	return NULL;
}

/* EHLO, or HELO when EHLO is refused with a 5xx: 0, or -1 with st. */
static int ehlo(struct mc_smtp_client *c, const char *helo,
		struct mc_smtp_status *st)
{
	if (smtpc_command(c, st, "EHLO %s", helo) < 0)
		return -1;
	if (st->code == 250) {
		ext_take(c);
		return 0;
	}
	ext_free(c);
	if (st->code / 100 != 5 || smtpc_command(c, st, "HELO %s", helo) < 0)
		return -1;
	return st->code == 250 ? 0 : -1;
}

/* A client TLS context: TLS 1.2+, CA store, DANE enabled. */
SSL_CTX *mc_smtp_client_tls_ctx(const char *ca_file, struct mc_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok;

	if (ctx == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
			     : SSL_CTX_set_default_verify_paths(ctx);
	if (ok == 1 && SSL_CTX_dane_enable(ctx) > 0)
		return ctx;
	mc_error_set(err, MC_ERR_INVALID, "TLS client context (CA %s): %s",
		     ca_file != NULL ? ca_file : "default",
		     ERR_reason_error_string(ERR_peek_last_error()));
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* VERIFY: the names the certificate may match; an MTA-STS pattern
 * "*.example" becomes ".example", matching one label only (RFC 8461
 * 4.1: not "example", not "a.b.example"). */
static int tls_set_names(SSL *ssl, const struct mc_smtp_client_settings *set,
			 const char *host)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	size_t n = set->tls_names_count;

	X509_VERIFY_PARAM_set_hostflags(
		param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
			       X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS);
	if (n == 0)
		return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 ? 0
									: -1;
	for (size_t i = 0; i < n; i++) {
		const char *name = set->tls_names[i];

		if (name[0] == '*' && name[1] == '.')
			name++;
		if (X509_VERIFY_PARAM_add1_host(param, name, 0) != 1)
			return -1;
	}
	return 0;
}

/* DANE: the usable TLSA records (RFC 7672 3.1: DANE-TA(2), DANE-EE(3);
 * PKIX-TA(0)/PKIX-EE(1) are ignored). The count added, or -1. */
static int tls_set_dane(SSL *ssl, const struct mc_smtp_client_settings *set,
			const char *host)
{
	const char *base = set->tls_sni != NULL ? set->tls_sni : host;
	int usable = 0;

	if (SSL_dane_enable(ssl, base) <= 0)
		return -1;
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (size_t i = 0; i < set->tls_names_count; i++)
		SSL_add1_host(ssl, set->tls_names[i]);
	for (size_t i = 0; i < set->tlsa_count; i++) {
		const struct mc_dns_tlsa *t = &set->tlsa[i];

		if (t->usage != 2 && t->usage != 3)
			continue;
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
				      t->data, t->data_len) > 0)
			usable++;
	}
	ERR_clear_error(); /* unusable records */
	return usable;
}

/* Sets st for a failed handshake (4.7.0 opportunistic, else 4.7.5). */
static int tls_fail(struct mc_smtp_client *c,
		    const struct mc_smtp_client_settings *set,
		    struct mc_smtp_status *st)
{
	const char *reason = errno == ETIMEDOUT ? "timeout" : NULL;

	if (reason == NULL)
		reason = ERR_reason_error_string(ERR_peek_last_error());
	smtpc_status_local(
		st, set->tls == MC_SMTP_TLS_OPPORTUNISTIC ? "4.7.0" : "4.7.5",
		"TLS handshake with %s failed: %s", c->host,
		reason != NULL ? reason : "connection closed");
	ERR_clear_error();
	c->broken = true;
	return -1;
}

/* Checks the certificate as the mode asks (usable: TLSA records). */
static int tls_check(struct mc_smtp_client *c,
		     const struct mc_smtp_client_settings *set, int usable,
		     struct mc_smtp_status *st)
{
	long v = SSL_get_verify_result(c->ssl);

	if (set->tls != MC_SMTP_TLS_VERIFY &&
	    (set->tls != MC_SMTP_TLS_DANE || usable == 0))
		return 0; /* RFC 7672 2.2: no usable TLSA, unauthenticated */
	if (SSL_get0_peer_certificate(c->ssl) == NULL)
		v = X509_V_ERR_UNSPECIFIED;
	if (v != X509_V_OK) {
		smtpc_status_local(st, "4.7.5",
				   "TLS certificate verification failed for "
				   "%s: %s",
				   c->host, X509_verify_cert_error_string(v));
		return -1;
	}
	c->tls_verified = true;
	return 0;
}

/* The TLS handshake on the socket, then the mode's checks. */
static int tls_start(struct mc_smtp_client *c,
		     const struct mc_smtp_client_settings *set,
		     struct mc_smtp_status *st)
{
	int64_t deadline = smtpc_now_ms() + c->command_timeout;
	int usable = 0, r;

	c->in_pos = c->in_len = 0; /* nothing sent before TLS counts */
	c->ssl = SSL_new(set->tls_ctx);
	errno = 0;
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return tls_fail(c, set, st);
	if (set->tls_sni != NULL)
		SSL_set_tlsext_host_name(c->ssl, set->tls_sni);
	if (set->tls == MC_SMTP_TLS_VERIFY)
		usable = tls_set_names(c->ssl, set, c->host);
	else if (set->tls == MC_SMTP_TLS_DANE)
		usable = tls_set_dane(c->ssl, set, c->host);
	if (usable < 0)
		return tls_fail(c, set, st);
	while ((r = SSL_connect(c->ssl)) != 1)
		if (tls_wait(c, r, deadline) <= 0)
			return tls_fail(c, set, st);
	snprintf(c->tls_desc, sizeof(c->tls_desc), "%s %s",
		 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	return tls_check(c, set, usable, st);
}

/* STARTTLS as the mode asks, then EHLO again: 0 (TLS on, or not wanted
 * or not possible in opportunistic mode), or -1 with st. */
static int starttls(struct mc_smtp_client *c,
		    const struct mc_smtp_client_settings *set,
		    struct mc_smtp_status *st)
{
	bool may = set->tls == MC_SMTP_TLS_OPPORTUNISTIC;

	if (set->tls == MC_SMTP_TLS_NONE)
		return 0;
	if (!mc_smtp_client_has(c, "STARTTLS") || set->tls_ctx == NULL) {
		if (may)
			return 0;
		smtpc_status_local(st, "4.7.4",
				   "TLS is required, but was not offered by %s",
				   c->host);
		return -1;
	}
	if (smtpc_command(c, st, "STARTTLS") < 0)
		return -1;
	if (st->code != 220 && may && st->code != 421)
		return 0;
	if (st->code != 220) {
		if (st->code != 421)
			smtpc_status_local(st, "4.7.4",
					   "TLS is required, but %s refused "
					   "STARTTLS: %u %s",
					   c->host, st->code, st->text);
		return -1;
	}
	if (tls_start(c, set, st) < 0)
		return -1;
	return ehlo(c, set->helo_name, st);
}

/* True when word is one of the blank-separated words of list. */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; *p != '\0'; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncasecmp(p, word, len) == 0 &&
		    (p[len] == ' ' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* Sends fmt with the base64 of data appended and reads the reply. */
static int send_b64(struct mc_smtp_client *c, struct mc_smtp_status *st,
		    const char *cmd, const void *data, size_t len)
{
	size_t b64len = 4 * ((len + 2) / 3) + 1;
	unsigned char *b64;
	int r;

	if (len > COMMAND_MAX) {
		smtpc_status_local(st, "5.7.8", "credentials too long");
		return -1;
	}
	b64 = mc_malloc(b64len);
	EVP_EncodeBlock(b64, data, (int)len);
	r = smtpc_command(c, st, "%s%s", cmd, (const char *)b64);
	mc_secure_zero(b64, b64len);
	free(b64);
	return r;
}

/* AUTH PLAIN with an initial response (RFC 4616). */
static int auth_plain(struct mc_smtp_client *c, struct mc_smtp_status *st,
		      const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass), len = ul + pl + 2;
	char *buf = mc_malloc(len);
	int r;

	buf[0] = '\0';
	memcpy(buf + 1, user, ul);
	buf[ul + 1] = '\0';
	memcpy(buf + ul + 2, pass, pl);
	r = send_b64(c, st, "AUTH PLAIN ", buf, len);
	mc_secure_zero(buf, len);
	free(buf);
	return r;
}

/* AUTH LOGIN: user and password as answers to the 334 prompts. */
static int auth_login(struct mc_smtp_client *c, struct mc_smtp_status *st,
		      const char *user, const char *pass)
{
	if (smtpc_command(c, st, "AUTH LOGIN") < 0 || st->code != 334)
		return -1;
	if (send_b64(c, st, "", user, strlen(user)) < 0 || st->code != 334)
		return -1;
	return send_b64(c, st, "", pass, strlen(pass));
}

/* AUTH (PLAIN, else LOGIN) when a user is set; only over TLS unless the
 * mode is NONE. 0 or -1 with st. */
static int auth(struct mc_smtp_client *c,
		const struct mc_smtp_client_settings *set,
		struct mc_smtp_status *st)
{
	const char *mechs = smtpc_ext_param(c, "AUTH");
	int r;

	if (set->auth_user == NULL)
		return 0;
	if (set->tls != MC_SMTP_TLS_NONE && c->ssl == NULL) {
		smtpc_status_local(st, "4.7.4",
				   "AUTH to %s needs TLS, which is not active",
				   c->host);
		return -1;
	}
	if (mechs != NULL && has_word(mechs, "PLAIN"))
		r = auth_plain(c, st, set->auth_user, set->auth_password);
	else if (mechs != NULL && has_word(mechs, "LOGIN"))
		r = auth_login(c, st, set->auth_user, set->auth_password);
	else {
		smtpc_status_local(st, "5.7.8",
				   "%s does not offer AUTH PLAIN or LOGIN",
				   c->host);
		return -1;
	}
	if (r == 0 && st->code == 235)
		return 0;
	if (st->code / 100 == 2 || st->code / 100 == 3)
		smtpc_status_local(st, "4.7.0", "unexpected AUTH reply from %s",
				   c->host);
	return -1;
}

/* A client on a connected socket. */
static struct mc_smtp_client *
client_new(const struct mc_smtp_client_settings *set, int fd, const char *host)
{
	struct mc_smtp_client *c = mc_calloc(1, sizeof(*c));

	c->fd = fd;
	c->host = mc_strdup(host != NULL ? host : "");
	c->parser = mc_smtp_reply_parser_create(set->max_reply_lines);
	c->connect_timeout = set->connect_timeout_ms != 0
				     ? set->connect_timeout_ms
				     : SMTPC_CONNECT_TIMEOUT;
	c->command_timeout = set->command_timeout_ms != 0
				     ? set->command_timeout_ms
				     : SMTPC_COMMAND_TIMEOUT;
	c->data_timeout = set->data_timeout_ms != 0 ? set->data_timeout_ms
						    : SMTPC_DATA_TIMEOUT;
	return c;
}

/* Greeting, EHLO, STARTTLS, AUTH: 0, or -1 with st. */
static int session_open(struct mc_smtp_client *c,
			const struct mc_smtp_client_settings *set,
			int64_t deadline, struct mc_smtp_status *st)
{
	const char *helo =
		set->helo_name != NULL ? set->helo_name : "localhost";

	if (smtpc_read_reply(c, deadline, st) < 0 || st->code != 220)
		return -1;
	if (ehlo(c, helo, st) < 0 || starttls(c, set, st) < 0)
		return -1;
	return auth(c, set, st);
}

/* Connects and opens the session; NULL with *st saying why. */
struct mc_smtp_client *
mc_smtp_client_connect(const struct mc_smtp_client_settings *set,
		       const struct mc_sockaddr *addr, const char *host,
		       struct mc_smtp_status *st)
{
	unsigned ms = set->connect_timeout_ms != 0 ? set->connect_timeout_ms
						   : SMTPC_CONNECT_TIMEOUT;
	int64_t deadline = smtpc_now_ms() + ms;
	struct mc_smtp_client *c;
	int fd;

	fd = tcp_connect(addr, host != NULL ? host : "", deadline, st);
	if (fd < 0)
		return NULL;
	c = client_new(set, fd, host);
	if (session_open(c, set, deadline, st) < 0) {
		mc_smtp_client_close(&c);
		return NULL;
	}
	return c;
}

/* True when the last EHLO offered ext (a keyword, any case). */
bool mc_smtp_client_has(const struct mc_smtp_client *c, const char *ext)
{
	return smtpc_ext_param(c, ext) != NULL;
}

/* The SIZE limit the server announced, 0 for none. */
uint64_t mc_smtp_client_max_size(const struct mc_smtp_client *c)
{
	return c->max_size;
}

/* True after a completed STARTTLS handshake. */
bool mc_smtp_client_tls_active(const struct mc_smtp_client *c)
{
	return c->ssl != NULL && SSL_is_init_finished(c->ssl);
}

/* True when the certificate passed the VERIFY or DANE checks. */
bool mc_smtp_client_tls_verified(const struct mc_smtp_client *c)
{
	return c->tls_verified;
}

/* Protocol and cipher, or "". */
const char *mc_smtp_client_tls_desc(const struct mc_smtp_client *c)
{
	return c->tls_desc;
}

/* The host name given to connect. */
const char *mc_smtp_client_host(const struct mc_smtp_client *c)
{
	return c->host;
}

/* RSET: 0, or -1 (and the client unusable). */
int mc_smtp_client_reset(struct mc_smtp_client *c)
{
	struct mc_smtp_status st;

	if (c->broken)
		return -1;
	if (smtpc_command(c, &st, "RSET") < 0 || st.code != 250) {
		c->broken = true;
		return -1;
	}
	return 0;
}

/* QUIT and its reply, briefly (best effort). */
static void quit(struct mc_smtp_client *c)
{
	int64_t deadline = smtpc_now_ms() + (c->command_timeout < QUIT_TIMEOUT
						     ? c->command_timeout
						     : QUIT_TIMEOUT);
	struct mc_smtp_status st;

	if (smtpc_write(c, "QUIT\r\n", 6, deadline, &st) == 0)
		smtpc_read_reply(c, deadline, &st);
}

/* QUIT, close, free; accepts NULL and clears *cp. */
void mc_smtp_client_close(struct mc_smtp_client **cp)
{
	struct mc_smtp_client *c = *cp;

	if (c == NULL)
		return;
	if (!c->broken && (c->ssl == NULL || SSL_is_init_finished(c->ssl)))
		quit(c);
	if (c->ssl != NULL && !c->broken && SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	ERR_clear_error();
	close(c->fd);
	mc_smtp_reply_parser_destroy(&c->parser);
	ext_free(c);
	free(c->host);
	free(c);
	*cp = NULL;
}
