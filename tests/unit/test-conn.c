/* test-conn: mc-conn on a real mc_server over loopback sockets: a line
 * protocol answering PING, holding input (consume/resume), read timeouts,
 * close after write delivering the last bytes, STARTTLS with an OpenSSL
 * client, COMPRESS=DEFLATE with a zlib client, and stop_loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "mailcore/mc-conn.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-server.h"
#include "mailcore/mc-tls.h"

#include "mc-test.h"

#define BIG_SIZE (300 * 1000)

/* The server side of one connection. */
struct tconn {
	struct mc_conn *conn;
	char line[256];
	size_t len;
	bool hold;
};

static SSL_CTX *server_tls;
static unsigned read_timeout_ms = 2000;
static struct tconn *last_conn;
static int n_closed, n_stopped, n_timeouts, n_accepted;

/* Writes a C string. */
static void say(struct tconn *t, const char *s)
{
	mc_conn_write(t->conn, s, strlen(s));
}

/* Writes n bytes of a known pattern, ending with "END\r\n". */
static void say_big(struct tconn *t, size_t n)
{
	char *buf = mc_malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + i % 26);
	memcpy(buf + n - 5, "END\r\n", 5);
	mc_conn_write(t->conn, buf, n);
	free(buf);
}

/* Answers one command; false when the connection is gone or held. */
static bool command(struct tconn *t, const char *line)
{
	const char *v, *c;
	char reply[160];
	if (strcmp(line, "PING") == 0) {
		say(t, "PONG\r\n");
	} else if (strcmp(line, "HOLD") == 0) {
		say(t, "HELD\r\n");
		t->hold = true;
		return false;
	} else if (strcmp(line, "TLS") == 0) {
		say(t, "GO\r\n");
		mc_conn_start_tls(t->conn, server_tls);
		return false;
	} else if (strcmp(line, "ZIP") == 0) {
		say(t, "OK\r\n");
		assert_true(mc_conn_start_compress(t->conn));
		assert_false(mc_conn_start_compress(t->conn));
		assert_true(mc_conn_compressing(t->conn));
	} else if (strcmp(line, "WHO") == 0) {
		bool tls = mc_conn_tls(t->conn, &v, &c);
		snprintf(reply, sizeof(reply), "%s %s %s\r\n",
			 mc_conn_info(t->conn)->listener, tls ? v : "-",
			 tls ? c : "-");
		say(t, reply);
	} else if (strcmp(line, "BIG") == 0) {
		say_big(t, BIG_SIZE); /* deflated: zlib may hold it for now */
	} else if (strcmp(line, "QUIT") == 0) {
		say_big(t, BIG_SIZE);
		assert_true(mc_conn_output_pending(t->conn) > 0);
		mc_conn_close(t->conn);
		free(t);
		return false;
	}
	return true;
}

/* readable: reads lines (any split) and answers them. */
static void t_readable(void *ctx)
{
	struct tconn *t = ctx;
	const unsigned char *p;
	size_t n;
	while (!t->hold && (n = mc_conn_input(t->conn, &p, 1)) > 0) {
		char ch = (char)p[0];
		mc_conn_consume(t->conn, 1); /* p is gone now */
		if (ch == '\r')
			continue;
		if (ch != '\n') {
			if (t->len + 1 < sizeof(t->line))
				t->line[t->len++] = ch;
			continue;
		}
		t->line[t->len] = '\0';
		t->len = 0;
		if (!command(t, t->line))
			return;
	}
}

/* tls_ready: says which TLS it is. */
static void t_tls_ready(void *ctx)
{
	say(ctx, "READY\r\n");
	t_readable(ctx);
}

/* timeout: says so and closes. */
static void t_timeout(void *ctx)
{
	struct tconn *t = ctx;
	say(t, "TIMEOUT\r\n");
	mc_conn_close(t->conn);
	free(t);
	mc_test_bump(&n_timeouts);
}

/* closed: the peer left. */
static void t_closed(void *ctx)
{
	if (last_conn == ctx)
		last_conn = NULL;
	free(ctx);
	mc_test_bump(&n_closed);
}

/* stop: the goodbye. */
static void t_stop(void *ctx)
{
	struct tconn *t = ctx;
	if (last_conn == t)
		last_conn = NULL;
	say(t, "STOP\r\n");
	mc_conn_close(t->conn);
	free(t);
	mc_test_bump(&n_stopped);
}

static const struct mc_conn_callbacks tcb = {
	.readable = t_readable,
	.tls_ready = t_tls_ready,
	.timeout = t_timeout,
	.closed = t_closed,
	.stop = t_stop,
};

/* mc_accept_cb: a new tconn. */
static void t_accept(struct mc_loop *loop, struct bufferevent *bev,
		     const struct mc_conn_info *info, void *ctx)
{
	(void)ctx;
	struct tconn *t = mc_calloc(1, sizeof(*t));
	t->conn = mc_conn_create(loop, bev, info, &tcb, t);
	mc_conn_set_timeout(t->conn, read_timeout_ms);
	last_conn = t;
	say(t, "HELLO\r\n");
	mc_test_bump(&n_accepted);
}

struct runner {
	pthread_t thread;
	struct mc_server *server;
	int port;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	assert_int_equal(mc_server_run(r->server), 0);
	return NULL;
}

/* A one-loop server on a free port, running in a thread. */
static void start(struct runner *r)
{
	struct mc_server_settings set = {1};
	struct mc_error err = {0};
	struct mc_sockaddr addr;
	char s[32];
	n_closed = n_stopped = n_timeouts = n_accepted = 0;
	r->server = mc_server_create(&set, &err);
	assert_non_null(r->server);
	r->port = mc_test_free_port();
	snprintf(s, sizeof(s), "127.0.0.1:%d", r->port);
	assert_int_equal(mc_addr_parse(s, &addr, NULL), 0);
	assert_int_equal(mc_server_listen(r->server, "test", &addr, NULL,
					  t_accept, NULL, &err),
			 0);
	mc_server_on_stop(r->server, mc_conn_stop_loop, NULL, 1000);
	assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
}

/* Stops the server and frees it. */
static void stop(struct runner *r)
{
	struct timespec ts;
	mc_server_stop(r->server);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	assert_int_equal(pthread_timedjoin_np(r->thread, NULL, &ts), 0);
	mc_server_drain(r->server);
	mc_conn_closing_free_all();
	mc_server_destroy(&r->server);
}

/* A connected client with 10 s timeouts (generous: loaded CI machines). */
static int client(int port)
{
	struct timeval tv = {10, 0};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Reads one line (up to LF) from fd into buf; "" on EOF. */
static const char *read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size && read(fd, buf + n, 1) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return buf;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads until EOF; returns the byte count, checks the big pattern. */
static size_t read_to_eof(int fd, char *last5)
{
	char buf[16384];
	size_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (n >= 5)
			memcpy(last5, buf + n - 5, 5);
	}
	return total;
}

static void test_write_read(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	start(&r);
	int fd = client(r.port);
	assert_string_equal(read_line(fd, line, sizeof(line)), "HELLO\r\n");
	send_str(fd, "PI");
	usleep(20000);
	send_str(fd, "NG\r\nPING\r\nWHO\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "PONG\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "PONG\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "test - -\r\n");
	close(fd);
	mc_test_wait_for(&n_closed, 1);
	stop(&r);
}

/* Posted to the loop: the held connection goes on. */
static void release(void *ctx)
{
	(void)ctx;
	if (last_conn != NULL) {
		last_conn->hold = false;
		mc_conn_resume(last_conn->conn);
	}
}

static void test_consume_resume(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	send_str(fd, "HOLD\r\nPING\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "HELD\r\n");
	struct timeval tv = {0, 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_string_equal(read_line(fd, line, sizeof(line)), "");
	tv.tv_sec = 2;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	mc_loop_post(mc_server_loop(r.server, 0), release, NULL);
	assert_string_equal(read_line(fd, line, sizeof(line)), "PONG\r\n");
	close(fd);
	stop(&r);
}

static void test_timeout(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	read_timeout_ms = 150;
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	usleep(100000);
	send_str(fd, "PING\r\n"); /* input resets the timer */
	assert_string_equal(read_line(fd, line, sizeof(line)), "PONG\r\n");
	assert_int_equal(n_timeouts, 0);
	assert_string_equal(read_line(fd, line, sizeof(line)), "TIMEOUT\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "");
	mc_test_wait_for(&n_timeouts, 1);
	close(fd);
	read_timeout_ms = 2000;
	stop(&r);
}

static void test_close_after_write(void **state)
{
	(void)state;
	struct runner r;
	char line[128], last5[6] = {0};
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	send_str(fd, "QUIT\r\n");
	usleep(100000); /* let the server close with output still queued */
	assert_int_equal(read_to_eof(fd, last5), BIG_SIZE);
	assert_string_equal(last5, "END\r\n");
	close(fd);
	assert_int_equal(n_closed, 0); /* closing is not "closed" */
	stop(&r);
}

/* A client context trusting cert. */
static SSL_CTX *client_ctx(X509 *cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Reads one line over TLS. */
static const char *ssl_line(SSL *ssl, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size && SSL_read(ssl, buf + n, 1) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return buf;
}

static void test_starttls(void **state)
{
	(void)state;
	char dir[64], cert_path[128], key_path[128], line[160];
	assert_non_null(mc_test_mkdtemp(dir, sizeof(dir), "test-conn"));
	X509 *cert = mc_test_write_cert_key(dir);
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	struct mc_tls_settings set = {cert_path, key_path, NULL};
	server_tls = mc_tls_server_ctx_create(&set, NULL);
	assert_non_null(server_tls);
	struct runner r;
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	send_str(fd, "TLS\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "GO\r\n");
	SSL_CTX *cctx = client_ctx(cert);
	SSL *ssl = SSL_new(cctx);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "localhost");
	assert_int_equal(SSL_connect(ssl), 1);
	assert_string_equal(ssl_line(ssl, line, sizeof(line)), "READY\r\n");
	assert_int_equal(SSL_write(ssl, "PING\r\nWHO\r\n", 11), 11);
	assert_string_equal(ssl_line(ssl, line, sizeof(line)), "PONG\r\n");
	char want[160];
	snprintf(want, sizeof(want), "test %s %s\r\n", SSL_get_version(ssl),
		 SSL_get_cipher_name(ssl));
	assert_string_equal(ssl_line(ssl, line, sizeof(line)), want);
	SSL_free(ssl);
	close(fd);
	mc_test_wait_for(&n_closed, 1);
	stop(&r);
	SSL_CTX_free(cctx);
	SSL_CTX_free(server_tls);
	server_tls = NULL;
	X509_free(cert);
	mc_test_rmdir(dir);
}

/* Deflates s (raw, sync flush) with d and sends it. */
static void send_deflated(int fd, z_stream *d, const char *s)
{
	unsigned char out[4096];
	d->next_in = (unsigned char *)s;
	d->avail_in = (uInt)strlen(s);
	do {
		d->next_out = out;
		d->avail_out = sizeof(out);
		int rc = deflate(d, Z_SYNC_FLUSH);
		assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
		size_t n = sizeof(out) - d->avail_out;
		assert_int_equal(write(fd, out, n), (ssize_t)n);
	} while (d->avail_in > 0 || d->avail_out == 0);
}

/* Reads and inflates until want bytes came out (or EOF); returns them. */
static size_t read_inflated(int fd, z_stream *in, char *buf, size_t want)
{
	unsigned char raw[8192];
	size_t got = 0;
	while (got < want) {
		ssize_t n = read(fd, raw, sizeof(raw));
		if (n <= 0)
			break;
		in->next_in = raw;
		in->avail_in = (uInt)n;
		while (in->avail_in > 0 && got < want) {
			in->next_out = (unsigned char *)buf + got;
			in->avail_out = (uInt)(want - got);
			int rc = inflate(in, Z_SYNC_FLUSH);
			assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
			got = want - in->avail_out;
		}
	}
	return got;
}

static void test_compress(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	z_stream d = {0}, in = {0};
	assert_int_equal(
		deflateInit2(&d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
		Z_OK);
	assert_int_equal(inflateInit2(&in, -15), Z_OK);
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	send_str(fd, "ZIP\r\n");
	assert_string_equal(read_line(fd, line, sizeof(line)), "OK\r\n");
	send_deflated(fd, &d, "PING\r\nBIG\r\n");
	char *buf = mc_malloc(BIG_SIZE + 6);
	assert_int_equal(read_inflated(fd, &in, buf, 6 + BIG_SIZE),
			 6 + BIG_SIZE);
	assert_memory_equal(buf, "PONG\r\n", 6);
	assert_memory_equal(buf + 6 + BIG_SIZE - 5, "END\r\n", 5);
	/* a corrupt stream closes the connection */
	send_str(fd, "\xff\xff\xff\xff garbage");
	assert_int_equal(read(fd, buf, 16), 0);
	mc_test_wait_for(&n_closed, 1);
	free(buf);
	close(fd);
	deflateEnd(&d);
	inflateEnd(&in);
	stop(&r);
}

/* A long run of one byte compresses to almost nothing: the server still
 * reads it in bounded passes and answers every line. */
static void test_compress_bomb(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	z_stream d = {0}, in = {0};
	deflateInit2(&d, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	inflateInit2(&in, -15);
	start(&r);
	int fd = client(r.port);
	read_line(fd, line, sizeof(line));
	send_str(fd, "ZIP\r\n");
	read_line(fd, line, sizeof(line));
	size_t n = 1000 * 1000;
	char *s = mc_malloc(n + 6);
	for (size_t i = 0; i < n; i += 100) {
		memset(s + i, 'x', 92);
		memcpy(s + i + 92, "\r\nPING\r\n", 8);
	}
	memcpy(s + n, "WHO\r\n", 6);
	send_deflated(fd, &d, s);
	size_t want = (n / 100) * 6 + strlen("test - -\r\n");
	char *buf = mc_malloc(want);
	assert_int_equal(read_inflated(fd, &in, buf, want), want);
	assert_memory_equal(buf + want - 10, "test - -\r\n", 10);
	free(buf);
	free(s);
	close(fd);
	deflateEnd(&d);
	inflateEnd(&in);
	stop(&r);
}

static void test_stop_loop(void **state)
{
	(void)state;
	struct runner r;
	char line[128];
	start(&r);
	int a = client(r.port), b = client(r.port);
	read_line(a, line, sizeof(line));
	read_line(b, line, sizeof(line));
	mc_test_wait_for(&n_accepted, 2);
	mc_server_stop(r.server);
	assert_string_equal(read_line(a, line, sizeof(line)), "STOP\r\n");
	assert_string_equal(read_line(b, line, sizeof(line)), "STOP\r\n");
	assert_string_equal(read_line(a, line, sizeof(line)), "");
	mc_test_wait_for(&n_stopped, 2);
	close(a);
	close(b);
	stop(&r);
	assert_int_equal(n_stopped, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_consume_resume),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_close_after_write),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_compress),
		cmocka_unit_test(test_compress_bomb),
		cmocka_unit_test(test_stop_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
