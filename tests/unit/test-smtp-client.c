/* test-smtp-client: the SMTP reply parser fed whole and byte by byte
 * (multi-line, enhanced codes, malformed input, limits), and the client
 * against an in-process fake SMTP server on a loopback port (a thread
 * with scripted replies that records what the client sent): pipelining,
 * refusals, dot-stuffing, BDAT, SIZE, SMTPUTF8, DSN, 421, timeouts,
 * STARTTLS (opportunistic, verified names, DANE) and AUTH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-smtp-client.h"
#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-str.h"

#include "mc-test.h"

/* ---- the reply parser ---- */

struct reply_case {
	const char *in;
	int ret;
	unsigned code;
	const char *enh, *text;
};

static const struct reply_case reply_cases[] = {
	{"220 mx.example ESMTP\r\n", 1, 220, "", "mx.example ESMTP"},
	{"250 2.1.0 Ok\r\n", 1, 250, "2.1.0", "Ok"},
	{"550 5.1.1 <x@y>: no such user\r\n", 1, 550, "5.1.1",
	 "<x@y>: no such user"},
	{"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n", 1, 550,
	 "5.7.1", "first second third"},
	{"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 1, 250, "",
	 "mx.example PIPELINING SIZE 100"},
	{"354 End data with <CR><LF>.<CR><LF>\r\n", 1, 354, "",
	 "End data with <CR><LF>.<CR><LF>"},
	{"250 5.1.1 class mismatch\r\n", 1, 250, "", "5.1.1 class mismatch"},
	{"451 4.3.0\r\n", 1, 451, "4.3.0", ""},
	{"250\r\n", 1, 250, "", ""},
	{"250 ok\n", 1, 250, "", "ok"}, /* bare LF tolerated */
	{"452 4.5.3000 not enhanced\r\n", 1, 452, "", "4.5.3000 not enhanced"},
	{"25\r\n", -1, 0, NULL, NULL},
	{"2x0 ok\r\n", -1, 0, NULL, NULL},
	{"650 ok\r\n", -1, 0, NULL, NULL},
	{"250+ok\r\n", -1, 0, NULL, NULL},
	{"250-a\r\n251 b\r\n", -1, 0, NULL, NULL},
	{"250-partial\r\n", 0, 0, NULL, NULL},
	{"250 no end", 0, 0, NULL, NULL},
};

/* Feeds in with step bytes per call; the last result and reply. */
static int feed_steps(struct mc_smtp_reply_parser *p, const char *in,
		      size_t step, struct mc_smtp_status *st)
{
	size_t len = strlen(in), off = 0;
	int r = 0;

	while (off < len) {
		size_t n = len - off < step ? len - off : step, used = 0;

		r = mc_smtp_reply_parser_feed(p, in + off, n, &used, st);
		assert_true(used <= n);
		off += used;
		if (r != 0)
			break;
	}
	return r;
}

/* Checks every case fed with step bytes at a time. */
static void check_reply_cases(size_t step)
{
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(*reply_cases);
	     i++) {
		const struct reply_case *c = &reply_cases[i];
		struct mc_smtp_reply_parser *p = mc_smtp_reply_parser_create(0);
		struct mc_smtp_status st;
		int r = feed_steps(p, c->in, step, &st);

		if (r != c->ret)
			fail_msg("case %zu (%s): %d != %d", i, c->in, r,
				 c->ret);
		if (r == 1) {
			assert_int_equal(st.code, c->code);
			assert_string_equal(st.enh, c->enh);
			assert_string_equal(st.text, c->text);
		}
		mc_smtp_reply_parser_destroy(&p);
		assert_null(p);
	}
}

/* The table fed in one call. */
static void test_reply_whole(void **state)
{
	(void)state;
	check_reply_cases(SIZE_MAX);
}

/* The table fed one byte at a time. */
static void test_reply_bytewise(void **state)
{
	(void)state;
	check_reply_cases(1);
}

/* EHLO keywords upper case, without the first line; two replies in one
 * feed come out one by one with the bytes used. */
static void test_reply_ehlo_lines(void **state)
{
	const char *in = "250-mx.example hi\r\n250-pipelining\r\n"
			 "250 Size 1000\r\n220 next\r\n";
	struct mc_smtp_reply_parser *p = mc_smtp_reply_parser_create(0);
	struct mc_smtp_status st;
	size_t used;

	(void)state;
	assert_int_equal(
		mc_smtp_reply_parser_feed(p, in, strlen(in), &used, &st), 1);
	assert_int_equal(used, strlen(in) - strlen("220 next\r\n"));
	assert_string_equal(mc_smtp_reply_parser_line(p, 0), "PIPELINING");
	assert_string_equal(mc_smtp_reply_parser_line(p, 1), "SIZE 1000");
	assert_null(mc_smtp_reply_parser_line(p, 2));
	assert_int_equal(mc_smtp_reply_parser_feed(
				 p, in + used, strlen(in) - used, &used, &st),
			 1);
	assert_int_equal(st.code, 220);
	assert_null(mc_smtp_reply_parser_line(p, 0));
	mc_smtp_reply_parser_destroy(&p);
	mc_smtp_reply_parser_destroy(&p); /* NULL accepted */
}

/* Lines over 2048 bytes and replies over max_lines are refused. */
static void test_reply_limits(void **state)
{
	struct mc_smtp_reply_parser *p = mc_smtp_reply_parser_create(3);
	char line[2100];
	struct mc_smtp_status st;
	const char *many = "250-a\r\n250-b\r\n250-c\r\n250 d\r\n";
	const char *three = "250-a\r\n250-b\r\n250 c\r\n";

	(void)state;
	assert_int_equal(feed_steps(p, three, SIZE_MAX, &st), 1);
	assert_int_equal(feed_steps(p, many, SIZE_MAX, &st), -1);
	mc_smtp_reply_parser_destroy(&p);
	p = mc_smtp_reply_parser_create(0);
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	strcpy(line + 2046, "\r\n"); /* exactly 2048 bytes */
	assert_int_equal(feed_steps(p, line, SIZE_MAX, &st), 1);
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	strcpy(line + 2047, "\r\n");
	assert_int_equal(feed_steps(p, line, 7, &st), -1);
	mc_smtp_reply_parser_destroy(&p);
}

/* ---- the fake server ---- */

struct fake {
	/* the script: replies are whole lines with CRLF */
	const char *ehlo;      /* EHLO reply */
	const char *ehlo_tls;  /* after STARTTLS; NULL = ehlo */
	const char *mail;      /* NULL: 250 */
	const char *rcpt[4];   /* per RCPT in order; NULL: 250 */
	const char *data;      /* NULL: 354 */
	const char *final;     /* after the body; NULL: 250 */
	const char *fail_at;   /* command prefix answered 421, then closed */
	const char *silent_at; /* command prefix never answered */
	bool hold;	       /* hold MAIL/RCPT replies until DATA */
	SSL_CTX *tls;	       /* STARTTLS with this context */
	/* what happened */
	char log[8192]; /* command lines as received */
	size_t log_len;
	char body[200000]; /* DATA as sent (stuffed), BDAT data joined */
	size_t body_len;
	int ahead; /* commands with more input already pending */
	bool tls_done;
	/* the connection */
	int lfd, fd, port;
	SSL *ssl;
	char in[70000];
	size_t in_len;
	size_t nrcpt;
	struct mc_buf held;
	bool quit;
	pthread_t th;
};

/* Appends n bytes to a record (NUL-terminated; the rest dropped). */
static void fk_log(char *rec, size_t *len, size_t size, const char *data,
		   size_t n)
{
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(rec + *len, data, n);
	*len += n;
	rec[*len] = '\0';
}

/* Reads more input: false at EOF or error. */
static bool fk_fill(struct fake *f)
{
	int n;

	if (f->in_len == sizeof(f->in))
		return false;
	if (f->ssl != NULL)
		n = SSL_read(f->ssl, f->in + f->in_len,
			     (int)(sizeof(f->in) - f->in_len));
	else
		n = (int)read(f->fd, f->in + f->in_len,
			      sizeof(f->in) - f->in_len);
	if (n <= 0)
		return false;
	f->in_len += (size_t)n;
	return true;
}

/* Takes n input bytes into out (or drops them when out is NULL). */
static bool fk_take(struct fake *f, char *out, size_t n)
{
	while (f->in_len < n)
		if (!fk_fill(f))
			return false;
	if (out != NULL)
		memcpy(out, f->in, n);
	memmove(f->in, f->in + n, f->in_len - n);
	f->in_len -= n;
	return true;
}

/* One line with its CRLF into line (NUL-terminated). */
static bool fk_line(struct fake *f, char *line, size_t size)
{
	char *lf;

	while ((lf = memchr(f->in, '\n', f->in_len)) == NULL)
		if (!fk_fill(f))
			return false;
	if ((size_t)(lf - f->in) + 2 > size)
		return false;
	fk_take(f, line, (size_t)(lf - f->in) + 1);
	line[lf - f->in + 1] = '\0';
	return true;
}

/* Sends s (or holds it while holding). */
static void fk_send(struct fake *f, const char *s, bool may_hold)
{
	if (may_hold && f->hold) {
		mc_buf_append_str(&f->held, s);
		return;
	}
	if (f->ssl != NULL)
		SSL_write(f->ssl, s, (int)strlen(s));
	else if (write(f->fd, s, strlen(s)) < 0)
		f->quit = true;
}

/* Reads DATA up to the "." line into body, then the final reply. */
static void fk_data(struct fake *f)
{
	char line[4096];

	while (fk_line(f, line, sizeof(line)) && strcmp(line, ".\r\n") != 0)
		fk_log(f->body, &f->body_len, sizeof(f->body), line,
		       strlen(line));
	fk_send(f, f->final != NULL ? f->final : "250 2.0.0 queued\r\n", false);
}

/* BDAT n [LAST]: the chunk into body and a reply. */
static void fk_bdat(struct fake *f, const char *line)
{
	size_t n = strtoul(line + 5, NULL, 10);
	char *buf = malloc(n + 1);

	if (!fk_take(f, buf, n)) {
		f->quit = true;
		free(buf);
		return;
	}
	fk_log(f->body, &f->body_len, sizeof(f->body), buf, n);
	free(buf);
	if (strstr(line, " LAST") != NULL)
		fk_send(f, f->final != NULL ? f->final : "250 2.0.0 queued\r\n",
			false);
	else
		fk_send(f, "250 2.0.0 chunk ok\r\n", false);
}

/* STARTTLS: 220, then the server side of the handshake. */
static void fk_starttls(struct fake *f)
{
	fk_send(f, "220 2.0.0 go ahead\r\n", false);
	f->ssl = SSL_new(f->tls);
	SSL_set_fd(f->ssl, f->fd);
	if (SSL_accept(f->ssl) != 1) {
		ERR_clear_error();
		f->quit = true;
		return;
	}
	f->tls_done = true;
}

/* AUTH LOGIN: the two prompts and the answers logged. */
static void fk_auth_login(struct fake *f)
{
	char line[1024];

	fk_send(f, "334 VXNlcm5hbWU6\r\n", false);
	if (!fk_line(f, line, sizeof(line)))
		return;
	fk_log(f->log, &f->log_len, sizeof(f->log), line, strlen(line));
	fk_send(f, "334 UGFzc3dvcmQ6\r\n", false);
	if (!fk_line(f, line, sizeof(line)))
		return;
	fk_log(f->log, &f->log_len, sizeof(f->log), line, strlen(line));
	fk_send(f, "235 2.7.0 ok\r\n", false);
}

/* The reply to DATA (after the held replies). */
static void fk_data_cmd(struct fake *f)
{
	const char *r = f->data != NULL ? f->data : "354 go ahead\r\n";

	f->hold = false;
	fk_send(f, mc_buf_cstr(&f->held), false);
	mc_buf_clear(&f->held);
	fk_send(f, r, false);
	if (strncmp(r, "354", 3) == 0)
		fk_data(f);
}

/* 421 and the end, at the command the script says. */
static void fk_fail(struct fake *f, const char *line)
{
	(void)line;
	fk_send(f, "421 4.3.2 shutting down\r\n", false);
	f->quit = true;
}

/* EHLO: the script's reply (the TLS one after STARTTLS). */
static void fk_ehlo(struct fake *f, const char *line)
{
	(void)line;
	fk_send(f, f->ssl != NULL && f->ehlo_tls ? f->ehlo_tls : f->ehlo,
		false);
}

/* HELO: always fine. */
static void fk_helo(struct fake *f, const char *line)
{
	(void)line;
	fk_send(f, "250 fake.test\r\n", false);
}

/* AUTH LOGIN (two prompts), else any AUTH succeeds at once. */
static void fk_auth(struct fake *f, const char *line)
{
	if (strncmp(line, "AUTH LOGIN", 10) == 0)
		fk_auth_login(f);
	else
		fk_send(f, "235 2.7.0 ok\r\n", false);
}

/* MAIL: the script's reply (maybe held). */
static void fk_mail(struct fake *f, const char *line)
{
	(void)line;
	fk_send(f, f->mail != NULL ? f->mail : "250 2.1.0 ok\r\n", true);
}

/* RCPT: the script's reply for this recipient (maybe held). */
static void fk_rcpt(struct fake *f, const char *line)
{
	const char *r = f->nrcpt < 4 ? f->rcpt[f->nrcpt] : NULL;

	(void)line;
	f->nrcpt++;
	fk_send(f, r != NULL ? r : "250 2.1.5 ok\r\n", true);
}

/* RSET: a new transaction. */
static void fk_rset(struct fake *f, const char *line)
{
	(void)line;
	f->nrcpt = 0;
	fk_send(f, "250 2.0.0 ok\r\n", false);
}

/* QUIT: 221 and the end. */
static void fk_quit(struct fake *f, const char *line)
{
	(void)line;
	fk_send(f, "221 2.0.0 bye\r\n", false);
	f->quit = true;
}

/* STARTTLS and DATA, taking the line argument of the table. */
static void fk_starttls_cmd(struct fake *f, const char *line)
{
	(void)line;
	fk_starttls(f);
}

static void fk_data_line(struct fake *f, const char *line)
{
	(void)line;
	fk_data_cmd(f);
}

static const struct {
	const char *verb;
	void (*fn)(struct fake *f, const char *line);
} fk_verbs[] = {
	{"EHLO", fk_ehlo},
	{"HELO", fk_helo},
	{"STARTTLS", fk_starttls_cmd},
	{"AUTH", fk_auth},
	{"MAIL", fk_mail},
	{"RCPT", fk_rcpt},
	{"DATA", fk_data_line},
	{"BDAT ", fk_bdat},
	{"RSET", fk_rset},
	{"QUIT", fk_quit},
};

/* Answers one command line (dispatch by the verb table). */
static void fk_command(struct fake *f, const char *line)
{
	if (f->fail_at != NULL &&
	    strncmp(line, f->fail_at, strlen(f->fail_at)) == 0) {
		fk_fail(f, line);
		return;
	}
	for (size_t i = 0; i < sizeof(fk_verbs) / sizeof(*fk_verbs); i++) {
		if (strncmp(line, fk_verbs[i].verb, strlen(fk_verbs[i].verb)) ==
		    0) {
			fk_verbs[i].fn(f, line);
			return;
		}
	}
	fk_send(f, "500 5.5.2 what\r\n", false);
}

/* The server thread: one connection, then done. */
static void *fk_run(void *arg)
{
	struct fake *f = arg;
	struct timeval tv = {.tv_sec = 3};
	char line[4096];

	f->fd = accept(f->lfd, NULL, NULL);
	if (f->fd < 0)
		return NULL;
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	fk_send(f, "220 fake.test ESMTP\r\n", false);
	while (!f->quit && fk_line(f, line, sizeof(line))) {
		fk_log(f->log, &f->log_len, sizeof(f->log), line, strlen(line));
		f->ahead += f->in_len > 0 && f->ssl == NULL;
		if (f->silent_at != NULL &&
		    strncmp(line, f->silent_at, strlen(f->silent_at)) == 0)
			while (fk_take(f, NULL, f->in_len + 1))
				;
		else
			fk_command(f, line);
	}
	shutdown(f->fd, SHUT_WR); /* let the client read the last reply */
	while (read(f->fd, line, sizeof(line)) > 0)
		;
	if (f->ssl != NULL)
		SSL_free(f->ssl);
	close(f->fd);
	return NULL;
}

/* Starts the fake server on a loopback port chosen by the kernel. */
static void fk_start(struct fake *f)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	if (f->ehlo == NULL)
		f->ehlo = "250-fake.test\r\n250 8BITMIME\r\n";
	mc_buf_init(&f->held, NULL, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	getsockname(f->lfd, (struct sockaddr *)&sin, &len);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, fk_run, f), 0);
}

/* Waits for the server thread and frees the records. */
static void fk_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
	mc_buf_free(&f->held);
}

/* ---- client helpers ---- */

static char cert_dir[64];
static X509 *srv_cert;
static SSL_CTX *srv_ctx;

/* Removes the certificate files at exit. */
static void cleanup(void)
{
	SSL_CTX_free(srv_ctx);
	X509_free(srv_cert);
	mc_test_rmdir(cert_dir);
}

/* A server context for mx.example.net (self-signed), made once. */
static SSL_CTX *server_tls(void)
{
	static const char *const sans[] = {"mx.example.net", NULL};
	char crt[128], key[128];

	if (srv_ctx != NULL)
		return srv_ctx;
	assert_non_null(mc_test_mkdtemp(cert_dir, sizeof(cert_dir), "smtpc"));
	atexit(cleanup);
	srv_cert = mc_test_write_named_pair(cert_dir, "mx", "mx.example.net",
					    sans);
	snprintf(crt, sizeof(crt), "%s/mx.pem", cert_dir);
	snprintf(key, sizeof(key), "%s/mx.key", cert_dir);
	srv_ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(
		SSL_CTX_use_certificate_file(srv_ctx, crt, SSL_FILETYPE_PEM),
		1);
	assert_int_equal(
		SSL_CTX_use_PrivateKey_file(srv_ctx, key, SSL_FILETYPE_PEM), 1);
	return srv_ctx;
}

/* A client context trusting the server's self-signed certificate. */
static SSL_CTX *client_tls(void)
{
	char crt[128];
	SSL_CTX *ctx;

	server_tls();
	snprintf(crt, sizeof(crt), "%s/mx.pem", cert_dir);
	ctx = mc_smtp_client_tls_ctx(crt, NULL);
	assert_non_null(ctx);
	return ctx;
}

/* Settings with short timeouts. */
static struct mc_smtp_client_settings settings(void)
{
	struct mc_smtp_client_settings set = {
		.helo_name = "client.test",
		.connect_timeout_ms = 1000,
		.command_timeout_ms = 1000,
		.data_timeout_ms = 1000,
	};

	return set;
}

/* Connects to the fake server. */
static struct mc_smtp_client *
fk_connect(struct fake *f, const struct mc_smtp_client_settings *set,
	   struct mc_smtp_status *st)
{
	struct mc_sockaddr addr;
	char s[64];

	snprintf(s, sizeof(s), "127.0.0.1:%d", f->port);
	assert_int_equal(mc_addr_parse(s, &addr, NULL), 0);
	return mc_smtp_client_connect(set, &addr, "mx.example.net", st);
}

struct src {
	const char *data;
	size_t len;
	bool fail;
};

/* The message source of the tests: a string. */
static ssize_t src_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct src *s = ctx;

	if (s->fail)
		return -1;
	if (offset >= s->len)
		return 0;
	if (len > s->len - offset)
		len = s->len - offset;
	if (len > 1000) /* short reads on purpose */
		len = 1000;
	memcpy(buf, s->data + offset, len);
	return (ssize_t)len;
}

static const struct mc_smtp_client_rcpt two_rcpts[] = {
	{.address = "bob@example.net"},
	{.address = "carol@example.net"},
};

/* A message of content for the recipients. */
static struct mc_smtp_client_message
message(struct src *s, const struct mc_smtp_client_rcpt *r, size_t n)
{
	struct mc_smtp_client_message m = {
		.sender = "alice@example.org",
		.rcpts = r,
		.rcpts_count = n,
		.size = s->len,
		.read = src_read,
		.read_ctx = s,
	};

	return m;
}

static struct src hello = {.data = "Subject: hi\r\n\r\nhello\r\n", .len = 22};

/* Connects, sends msg once, closes; returns send's result. */
static int transaction_with(struct fake *f,
			    const struct mc_smtp_client_settings *set,
			    const struct mc_smtp_client_message *m,
			    struct mc_smtp_status *rcpt_r,
			    struct mc_smtp_status *final_r)
{
	struct mc_smtp_status st;
	struct mc_smtp_client *c;
	int r;

	fk_start(f);
	c = fk_connect(f, set, &st);
	assert_non_null(c);
	r = mc_smtp_client_send(c, m, rcpt_r, final_r);
	mc_smtp_client_close(&c);
	assert_null(c);
	fk_stop(f);
	return r;
}

/* The same with the default settings. */
static int one_transaction(struct fake *f,
			   const struct mc_smtp_client_message *m,
			   struct mc_smtp_status *rcpt_r,
			   struct mc_smtp_status *final_r)
{
	struct mc_smtp_client_settings set = settings();

	return transaction_with(f, &set, m, rcpt_r, final_r);
}

/* ---- client tests ---- */

/* One command at a time, the body, QUIT; what the server saw. */
static void test_plain(void **state)
{
	struct fake f = {0};
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin;

	(void)state;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_string_equal(fin.enh, "2.0.0");
	assert_int_equal(rs[0].code, 250);
	assert_string_equal(f.log, "EHLO client.test\r\n"
				   "MAIL FROM:<alice@example.org>\r\n"
				   "RCPT TO:<bob@example.net>\r\n"
				   "DATA\r\nQUIT\r\n");
	assert_int_equal(f.ahead, 0);
	/* ends with CRLF: no extra one */
	assert_string_equal(f.body, hello.data);
}

/* With PIPELINING, MAIL, RCPTs and DATA go before any reply: the server
 * holds its replies until DATA, which only works when pipelined. */
static void test_pipelining(void **state)
{
	struct fake f = {
		.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
		.hold = true,
	};
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
	struct mc_smtp_status rs[2], fin;

	(void)state;
	m.eightbit = true;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_int_equal(rs[0].code, 250);
	assert_int_equal(rs[1].code, 250);
	assert_string_equal(f.log,
			    "EHLO client.test\r\n"
			    "MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"
			    "RCPT TO:<bob@example.net>\r\n"
			    "RCPT TO:<carol@example.net>\r\n"
			    "DATA\r\nQUIT\r\n");
}

/* Without PIPELINING, holding replies makes the client time out. */
static void test_no_pipelining(void **state)
{
	struct fake f = {.hold = true};
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_status rs[2], fin;

	(void)state;
	set.command_timeout_ms = 100;
	assert_int_equal(transaction_with(&f, &set, &m, rs, &fin), -1);
	assert_int_equal(fin.code, 0);
	assert_string_equal(fin.enh, "4.4.2");
	assert_string_equal(f.log, "EHLO client.test\r\n"
				   "MAIL FROM:<alice@example.org>\r\n");
}

/* One recipient refused, one accepted: the accepted one gets the final
 * reply, the refused keeps its 550; pipelined and not. */
static void test_rcpt_refusal(void **state)
{
	const char *ehlos[] = {"250 fake.test\r\n",
			       "250-fake.test\r\n250 PIPELINING\r\n"};

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct fake f = {.ehlo = ehlos[i]};
		struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
		struct mc_smtp_status rs[2], fin;

		f.rcpt[0] = "550 5.1.1 no such user\r\n";
		f.final = "250 2.0.0 Ok: queued as X1\r\n";
		assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
		assert_int_equal(rs[0].code, 550);
		assert_string_equal(rs[0].enh, "5.1.1");
		assert_string_equal(rs[0].text, "no such user");
		assert_int_equal(rs[1].code, 250);
		assert_string_equal(rs[1].text, "Ok: queued as X1");
		assert_int_equal(fin.code, 250);
		assert_string_equal(f.body, hello.data);
	}
}

/* All refused: no DATA without pipelining; with it the DATA reply is
 * not the outcome: the first refusal is. The connection goes on. */
static void test_all_refused(void **state)
{
	const char *ehlos[] = {"250 fake.test\r\n",
			       "250-fake.test\r\n250 PIPELINING\r\n"};

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct fake f = {.ehlo = ehlos[i]};
		struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
		struct mc_smtp_client_settings set = settings();
		struct mc_smtp_status rs[2], fin, st;
		struct mc_smtp_client *c;

		f.rcpt[0] = "550 5.1.1 unknown bob\r\n";
		f.rcpt[1] = "450 4.2.0 carol greylisted\r\n";
		f.data = "554 5.5.1 no valid recipients\r\n";
		fk_start(&f);
		c = fk_connect(&f, &set, &st);
		assert_non_null(c);
		assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
		assert_int_equal(fin.code, 550);
		assert_string_equal(fin.text, "unknown bob");
		assert_int_equal(rs[1].code, 450);
		assert_int_equal(mc_smtp_client_reset(c), 0);
		mc_smtp_client_close(&c);
		fk_stop(&f);
		assert_int_equal(strstr(f.log, "DATA") != NULL, i == 1);
		assert_non_null(strstr(f.log, "RSET\r\n"));
	}
}

/* Lines starting with "." get another; a missing final CRLF is added. */
static void test_dot_stuffing(void **state)
{
	static struct src s = {.data = ".top\r\nA\r\n.b\r\n..\r\n.\r\nend",
			       .len = 23};
	struct fake f = {0};
	struct mc_smtp_client_message m = message(&s, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin;

	(void)state;
	m.prefix = "X-Pre: 1\r\n";
	m.prefix_len = 10;
	m.size = s.len + 10;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_string_equal(f.body,
			    "X-Pre: 1\r\n..top\r\nA\r\n..b\r\n...\r\n..\r\n"
			    "end\r\n");
}

/* A body of several chunks: BDAT 65536 ... LAST, not dot-stuffed. */
static void test_bdat(void **state)
{
	size_t len = 150000;
	char *big = malloc(len + 1);
	struct src s = {.data = big, .len = len};
	struct fake f = {
		.ehlo = "250-fake.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
	};
	struct mc_smtp_client_message m = message(&s, two_rcpts, 2);
	struct mc_smtp_status rs[2], fin;

	(void)state;
	for (size_t i = 0; i < len; i++)
		big[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : '.';
	m.prefix = "P: 1\r\n";
	m.prefix_len = 6;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_int_equal(rs[1].code, 250);
	assert_non_null(strstr(
		f.log, "RCPT TO:<carol@example.net>\r\n"
		       "BDAT 65536\r\nBDAT 65536\r\nBDAT 18934 LAST\r\n"));
	assert_null(strstr(f.log, "DATA"));
	assert_int_equal(f.body_len, len + 6);
	assert_memory_equal(f.body, "P: 1\r\n", 6);
	assert_memory_equal(f.body + 6, big, len);
	free(big);
}

/* An exact multiple of the chunk size ends with "BDAT 0 LAST". */
static void test_bdat_exact(void **state)
{
	size_t len = 65536;
	char *big = calloc(1, len);
	struct src s = {.data = big, .len = len};
	struct fake f = {.ehlo = "250-fake.test\r\n250 CHUNKING\r\n"};
	struct mc_smtp_client_message m = message(&s, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin;

	(void)state;
	memset(big, 'a', len);
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(rs[0].code, 250);
	assert_non_null(strstr(f.log, "BDAT 65536\r\nBDAT 0 LAST\r\n"));
	assert_int_equal(f.body_len, len);
	free(big);
}

/* SIZE= goes with MAIL; over the server's limit nothing is sent. */
static void test_size(void **state)
{
	static struct src big = {.data = "", .len = 5000};
	struct fake f = {.ehlo = "250-fake.test\r\n250 SIZE 1000\r\n"};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin, st;
	struct mc_smtp_client *c;

	(void)state;
	fk_start(&f);
	c = fk_connect(&f, &set, &st);
	assert_non_null(c);
	assert_int_equal(mc_smtp_client_max_size(c), 1000);
	assert_true(mc_smtp_client_has(c, "size"));
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	m = message(&big, two_rcpts, 1);
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 0);
	assert_string_equal(fin.enh, "5.3.4");
	assert_int_equal(rs[0].code, 0);
	assert_string_equal(rs[0].enh, "5.3.4");
	mc_smtp_client_close(&c);
	fk_stop(&f);
	assert_string_equal(f.log,
			    "EHLO client.test\r\n"
			    "MAIL FROM:<alice@example.org> SIZE=22\r\n"
			    "RCPT TO:<bob@example.net>\r\nDATA\r\nQUIT\r\n");
}

/* SMTPUTF8 needed and not offered: 5.6.7 locally, no MAIL; offered: the
 * parameter goes with MAIL. */
static void test_smtputf8(void **state)
{
	struct fake f = {0}, g = {.ehlo = "250-fake.test\r\n250 SMTPUTF8\r\n"};
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
	struct mc_smtp_status rs[2], fin;

	(void)state;
	m.smtputf8 = true;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 0);
	assert_string_equal(fin.enh, "5.6.7");
	assert_string_equal(fin.text, "SMTPUTF8 is required but was not "
				      "offered by mx.example.net");
	assert_string_equal(rs[1].enh, "5.6.7");
	assert_string_equal(f.log, "EHLO client.test\r\nQUIT\r\n");
	assert_int_equal(one_transaction(&g, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_non_null(
		strstr(g.log, "MAIL FROM:<alice@example.org> SMTPUTF8\r\n"));
}

/* DSN parameters only when DSN is offered; xtext for ENVID and ORCPT. */
static void test_dsn(void **state)
{
	static const struct mc_smtp_client_rcpt rcpts[] = {
		{.address = "bob@example.net",
		 .orcpt = "rfc822;b+x=y@example.net",
		 .notify = MC_SMTP_NOTIFY_SUCCESS | MC_SMTP_NOTIFY_FAILURE},
		{.address = "carol@example.net",
		 .notify = MC_SMTP_NOTIFY_NEVER},
		{.address = "dave@example.net",
		 .orcpt = "caf\xc3\xa9 x@example.net",
		 .notify = MC_SMTP_NOTIFY_DELAY},
	};
	struct fake f = {.ehlo = "250-fake.test\r\n250 DSN\r\n"}, g = {0};
	struct mc_smtp_client_message m = message(&hello, rcpts, 3);
	struct mc_smtp_status rs[3], fin;

	(void)state;
	m.envid = "id+1=2";
	m.ret = "hdrs";
	assert_int_equal(one_transaction(&f, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_string_equal(
		f.log,
		"EHLO client.test\r\n"
		"MAIL FROM:<alice@example.org> RET=HDRS ENVID=id+2B1+3D2\r\n"
		"RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE "
		"ORCPT=rfc822;b+2Bx+3Dy@example.net\r\n"
		"RCPT TO:<carol@example.net> NOTIFY=NEVER\r\n"
		"RCPT TO:<dave@example.net> NOTIFY=DELAY "
		"ORCPT=rfc822;caf+C3+A9+20x@example.net\r\n"
		"DATA\r\nQUIT\r\n");
	assert_int_equal(one_transaction(&g, &m, rs, &fin), 0);
	assert_string_equal(g.log, "EHLO client.test\r\n"
				   "MAIL FROM:<alice@example.org>\r\n"
				   "RCPT TO:<bob@example.net>\r\n"
				   "RCPT TO:<carol@example.net>\r\n"
				   "RCPT TO:<dave@example.net>\r\n"
				   "DATA\r\nQUIT\r\n");
}

/* 421 mid-transaction: -1, every status the 421. */
static void test_421(void **state)
{
	const char *ehlos[] = {"250 fake.test\r\n",
			       "250-fake.test\r\n250 PIPELINING\r\n"};

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct fake f = {.ehlo = ehlos[i], .fail_at = "RCPT TO:<carol"};
		struct mc_smtp_client_message m = message(&hello, two_rcpts, 2);
		struct mc_smtp_status rs[2], fin;

		assert_int_equal(one_transaction(&f, &m, rs, &fin), -1);
		assert_int_equal(fin.code, 421);
		assert_string_equal(fin.enh, "4.3.2");
		assert_int_equal(rs[0].code, 421);
		assert_int_equal(rs[1].code, 421);
		assert_null(strstr(f.log, "QUIT"));
	}
}

/* A silent server: timeout, 4.4.2, the connection unusable. */
static void test_timeout(void **state)
{
	struct fake f = {.silent_at = "DATA"};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin, st;
	struct mc_smtp_client *c;
	int64_t t0;

	(void)state;
	set.command_timeout_ms = 150;
	fk_start(&f);
	c = fk_connect(&f, &set, &st);
	assert_non_null(c);
	t0 = (int64_t)time(NULL);
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), -1);
	assert_true((int64_t)time(NULL) - t0 <= 1);
	assert_int_equal(fin.code, 0);
	assert_string_equal(fin.enh, "4.4.2");
	assert_non_null(strstr(fin.text, "timeout"));
	assert_string_equal(rs[0].enh, "4.4.2");
	assert_int_equal(mc_smtp_client_reset(c), -1);
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), -1);
	mc_smtp_client_close(&c);
	fk_stop(&f);
}

/* Nobody listening: 4.4.1 with code 0. */
static void test_refused(void **state)
{
	struct fake f = {0};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_status st;

	(void)state;
	f.port = mc_test_free_port();
	assert_null(fk_connect(&f, &set, &st));
	assert_int_equal(st.code, 0);
	assert_string_equal(st.enh, "4.4.1");
}

/* The greeting refused: NULL with the server's reply. EHLO refused:
 * HELO, and no extensions. */
static void test_helo_fallback(void **state)
{
	struct fake f = {.ehlo = "502 5.5.1 no EHLO here\r\n"};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_status st, rs[1], fin;
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_client *c;

	(void)state;
	fk_start(&f);
	c = fk_connect(&f, &set, &st);
	assert_non_null(c);
	assert_false(mc_smtp_client_has(c, "8BITMIME"));
	m.eightbit = true;
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	mc_smtp_client_close(&c);
	fk_stop(&f);
	assert_non_null(strstr(f.log, "EHLO client.test\r\n"
				      "HELO client.test\r\n"
				      "MAIL FROM:<alice@example.org>\r\n"));
}

/* Two transactions on one connection with RSET between. */
static void test_rset_second(void **state)
{
	struct fake f = {.ehlo = "250-fake.test\r\n250 PIPELINING\r\n"};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin, st;
	struct mc_smtp_client *c;

	(void)state;
	fk_start(&f);
	c = fk_connect(&f, &set, &st);
	assert_non_null(c);
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	assert_int_equal(mc_smtp_client_reset(c), 0);
	m.sender = "";
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	mc_smtp_client_close(&c);
	fk_stop(&f);
	assert_non_null(strstr(f.log, "DATA\r\nRSET\r\nMAIL FROM:<>\r\n"));
	assert_int_equal(f.body_len, 2 * hello.len);
}

/* A source failing mid-DATA: 4.3.0 and the connection unusable. */
static void test_read_failure(void **state)
{
	struct src bad = {.data = "x", .len = 1, .fail = true};
	struct fake f = {0};
	struct mc_smtp_client_message m = message(&bad, two_rcpts, 1);
	struct mc_smtp_status rs[1], fin;

	(void)state;
	assert_int_equal(one_transaction(&f, &m, rs, &fin), -1);
	assert_string_equal(fin.enh, "4.3.0");
	assert_string_equal(rs[0].enh, "4.3.0");
}

/* ---- TLS ---- */

#define EHLO_TLS_PLAIN "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
#define EHLO_TLS_AFTER "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 DSN\r\n"

/* Connects with a TLS mode and names to a STARTTLS fake server. */
static struct mc_smtp_client *tls_connect(struct fake *f,
					  struct mc_smtp_client_settings *set,
					  struct mc_smtp_status *st)
{
	f->ehlo = EHLO_TLS_PLAIN;
	f->ehlo_tls = EHLO_TLS_AFTER;
	f->tls = server_tls();
	fk_start(f);
	if (set->tls_ctx == NULL)
		set->tls_ctx = client_tls();
	return fk_connect(f, set, st);
}

/* Opportunistic: TLS on (certificate not checked), EHLO again, the
 * transaction over TLS. */
static void test_starttls_opportunistic(void **state)
{
	struct fake f = {0};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_client_message m = message(&hello, two_rcpts, 1);
	struct mc_smtp_status st, rs[1], fin;
	struct mc_smtp_client *c;

	(void)state;
	set.tls = MC_SMTP_TLS_OPPORTUNISTIC;
	set.tls_ctx = mc_smtp_client_tls_ctx(NULL, NULL); /* system CAs */
	assert_non_null(set.tls_ctx);
	c = tls_connect(&f, &set, &st);
	assert_non_null(c);
	assert_true(mc_smtp_client_tls_active(c));
	assert_false(mc_smtp_client_tls_verified(c));
	assert_non_null(strstr(mc_smtp_client_tls_desc(c), "TLS"));
	assert_true(mc_smtp_client_has(c, "DSN"));
	assert_false(mc_smtp_client_has(c, "STARTTLS"));
	assert_int_equal(mc_smtp_client_send(c, &m, rs, &fin), 0);
	assert_int_equal(fin.code, 250);
	mc_smtp_client_close(&c);
	fk_stop(&f);
	assert_true(f.tls_done);
	assert_string_equal(
		f.log, "EHLO client.test\r\nSTARTTLS\r\nEHLO client.test\r\n"
		       "MAIL FROM:<alice@example.org>\r\n"
		       "RCPT TO:<bob@example.net>\r\nDATA\r\nQUIT\r\n");
	SSL_CTX_free(set.tls_ctx);
}

struct verify_case {
	const char *names[2];
	size_t count;
	bool ok;
};

/* VERIFY against the names (MTA-STS patterns match one label). */
static void test_starttls_verify(void **state)
{
	static const struct verify_case cases[] = {
		{{"mx.example.net"}, 1, true},
		{{"other.example.net", "mx.example.net"}, 2, true},
		{{"*.example.net"}, 1, true},
		{{"other.example.net"}, 1, false},
		{{"*.net"}, 1, false},
		{{"example.net"}, 1, false},
		{{NULL}, 0, true}, /* the host name given to connect */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct fake f = {0};
		struct mc_smtp_client_settings set = settings();
		struct mc_smtp_status st;
		struct mc_smtp_client *c;

		set.tls = MC_SMTP_TLS_VERIFY;
		set.tls_names = cases[i].names;
		set.tls_names_count = cases[i].count;
		set.tls_sni = "mx.example.net";
		c = tls_connect(&f, &set, &st);
		if (cases[i].ok) {
			assert_non_null(c);
			assert_true(mc_smtp_client_tls_verified(c));
		} else {
			assert_null(c);
			assert_int_equal(st.code, 0);
			assert_string_equal(st.enh, "4.7.5");
			assert_non_null(strstr(st.text, "mismatch"));
		}
		mc_smtp_client_close(&c);
		fk_stop(&f);
		SSL_CTX_free(set.tls_ctx);
	}
}

/* VERIFY with the system's CAs: the self-signed certificate fails;
 * REQUIRED without STARTTLS offered: 4.7.4. */
static void test_starttls_untrusted(void **state)
{
	struct fake f = {0}, g = {0};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_status st;
	const char *names[] = {"mx.example.net"};

	(void)state;
	set.tls = MC_SMTP_TLS_VERIFY;
	set.tls_names = names;
	set.tls_names_count = 1;
	set.tls_ctx = mc_smtp_client_tls_ctx(NULL, NULL);
	assert_null(tls_connect(&f, &set, &st));
	assert_string_equal(st.enh, "4.7.5");
	fk_stop(&f);
	set.tls = MC_SMTP_TLS_REQUIRED;
	fk_start(&g);
	assert_null(fk_connect(&g, &set, &st));
	assert_string_equal(st.enh, "4.7.4");
	fk_stop(&g);
	assert_string_equal(g.log, "EHLO client.test\r\nQUIT\r\n");
	SSL_CTX_free(set.tls_ctx);
}

/* SHA-256 of the server certificate's SubjectPublicKeyInfo. */
static void spki_sha256(unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(X509_get0_pubkey(srv_cert), &der);
	unsigned int olen = 32;

	assert_true(len > 0);
	assert_int_equal(
		EVP_Digest(der, (size_t)len, out, &olen, EVP_sha256(), NULL),
		1);
	OPENSSL_free(der);
}

/* DANE-EE 3 1 1 matching passes, a wrong digest fails, PKIX-EE (1)
 * only is unusable: TLS without authentication. */
static void test_starttls_dane(void **state)
{
	unsigned char good[32], bad[32];
	struct mc_dns_tlsa recs[][1] = {
		{{.usage = 3,
		  .selector = 1,
		  .mtype = 1,
		  .data = good,
		  .data_len = 32}},
		{{.usage = 3,
		  .selector = 1,
		  .mtype = 1,
		  .data = bad,
		  .data_len = 32}},
		{{.usage = 1,
		  .selector = 1,
		  .mtype = 1,
		  .data = good,
		  .data_len = 32}},
	};
	int expect[] = {1, -1, 0}; /* verified, fails, unverified */

	(void)state;
	server_tls();
	spki_sha256(good);
	memcpy(bad, good, 32);
	bad[0] ^= 1;
	for (int i = 0; i < 3; i++) {
		struct fake f = {0};
		struct mc_smtp_client_settings set = settings();
		struct mc_smtp_status st;
		struct mc_smtp_client *c;

		set.tls = MC_SMTP_TLS_DANE;
		set.tlsa = recs[i];
		set.tlsa_count = 1;
		set.tls_ctx = mc_smtp_client_tls_ctx(NULL, NULL);
		c = tls_connect(&f, &set, &st);
		if (expect[i] < 0) {
			assert_null(c);
			assert_string_equal(st.enh, "4.7.5");
		} else {
			assert_non_null(c);
			assert_true(mc_smtp_client_tls_active(c));
			assert_int_equal(mc_smtp_client_tls_verified(c),
					 expect[i] == 1);
		}
		mc_smtp_client_close(&c);
		fk_stop(&f);
		SSL_CTX_free(set.tls_ctx);
	}
}

/* AUTH PLAIN after STARTTLS; LOGIN when PLAIN is not offered; no AUTH
 * over plain text. */
static void test_auth(void **state)
{
	struct fake f = {0}, g = {0}, h = {0};
	struct mc_smtp_client_settings set = settings();
	struct mc_smtp_status st;
	struct mc_smtp_client *c;

	(void)state;
	set.tls = MC_SMTP_TLS_REQUIRED;
	set.auth_user = "alice";
	set.auth_password = "secret";
	c = tls_connect(&f, &set, &st);
	assert_non_null(c);
	mc_smtp_client_close(&c);
	fk_stop(&f);
	assert_non_null(strstr(f.log, "EHLO client.test\r\n"
				      "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
				      "QUIT\r\n"));
	g.ehlo = EHLO_TLS_PLAIN;
	g.ehlo_tls = "250-fake.test\r\n250 AUTH LOGIN\r\n";
	g.tls = server_tls();
	fk_start(&g);
	c = fk_connect(&g, &set, &st);
	assert_non_null(c);
	mc_smtp_client_close(&c);
	fk_stop(&g);
	assert_non_null(
		strstr(g.log, "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n"));
	set.tls = MC_SMTP_TLS_OPPORTUNISTIC;
	h.ehlo = "250-fake.test\r\n250 AUTH PLAIN\r\n";
	fk_start(&h);
	assert_null(fk_connect(&h, &set, &st));
	fk_stop(&h);
	assert_string_equal(st.enh, "4.7.4");
	assert_null(strstr(h.log, "AUTH"));
	SSL_CTX_free(set.tls_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_whole),
		cmocka_unit_test(test_reply_bytewise),
		cmocka_unit_test(test_reply_ehlo_lines),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_no_pipelining),
		cmocka_unit_test(test_rcpt_refusal),
		cmocka_unit_test(test_all_refused),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_bdat_exact),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_smtputf8),
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_421),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_rset_second),
		cmocka_unit_test(test_read_failure),
		cmocka_unit_test(test_starttls_opportunistic),
		cmocka_unit_test(test_starttls_verify),
		cmocka_unit_test(test_starttls_untrusted),
		cmocka_unit_test(test_starttls_dane),
		cmocka_unit_test(test_auth),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
