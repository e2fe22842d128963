/* test-server: loops and listeners on 127.0.0.1: greetings from the accept
 * callback on the accepting loop's thread, accept errors that only pause
 * the listener, port-in-use errors, posted callbacks in order, stopping by
 * call and by SIGTERM, implicit TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-server.h"
#include "mailcore/mc-tls.h"

#include "mc-test.h"

#define GREETING    "220 hello\r\n"
#define MAX_RECORDS 64
#define MAX_LOOPS   2

/* What the accept callback saw for one connection. */
struct record {
	unsigned loop;
	bool on_loop_thread;
	char listener[16];
	int local_port, remote_port;
	bool tls;
};

static pthread_t loop_threads[MAX_LOOPS];
static struct record records[MAX_RECORDS];
static int nrecords, nthreads_seen;

static struct mc_sockaddr loopback(int port)
{
	struct mc_sockaddr addr;
	char s[32];

	snprintf(s, sizeof(s), "127.0.0.1:%d", port);
	assert_int_equal(mc_addr_parse(s, &addr, NULL), 0);
	return addr;
}

/* Port of a socket address. */
static int port_of(const struct mc_sockaddr *addr)
{
	return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
}

/* Frees the connection once the greeting is written. */
static void on_written(struct bufferevent *bev, void *ctx)
{
	(void)ctx;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

/* Frees the connection on error or EOF (failed TLS handshakes). */
static void on_event(struct bufferevent *bev, short what, void *ctx)
{
	(void)ctx;
	if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) != 0)
		bufferevent_free(bev);
}

/* Accept callback: records the connection and sends the greeting. */
static void on_accept(struct mc_loop *loop, struct bufferevent *bev,
		      const struct mc_conn_info *info, void *ctx)
{
	unsigned idx = mc_loop_index(loop);
	struct record *r;

	(void)ctx;
	pthread_mutex_lock(&mc_test_mutex);
	if (nrecords < MAX_RECORDS) {
		r = &records[nrecords];
		r->loop = idx;
		r->on_loop_thread =
			idx < MAX_LOOPS &&
			pthread_equal(pthread_self(), loop_threads[idx]);
		snprintf(r->listener, sizeof(r->listener), "%s",
			 info->listener);
		r->local_port = port_of(&info->local);
		r->remote_port = port_of(&info->remote);
		r->tls = info->tls;
	}
	nrecords++;
	pthread_cond_broadcast(&mc_test_cond);
	pthread_mutex_unlock(&mc_test_mutex);
	bufferevent_setcb(bev, NULL, on_written, on_event, NULL);
	bufferevent_write(bev, GREETING, strlen(GREETING));
}

/* Finds the record of the connection from client_port. */
static const struct record *find_record(int client_port)
{
	const struct record *found = NULL;

	pthread_mutex_lock(&mc_test_mutex);
	for (int i = 0; i < nrecords && i < MAX_RECORDS; i++) {
		if (records[i].remote_port == client_port)
			found = &records[i];
	}
	pthread_mutex_unlock(&mc_test_mutex);
	assert_non_null(found);
	return found;
}

struct runner {
	pthread_t thread;
	struct mc_server *server;
	int ret;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = mc_server_run(r->server);
	return NULL;
}

/* Posted: notes which thread runs loop ctx. */
static void note_thread(void *ctx)
{
	unsigned idx = *(unsigned *)ctx;

	loop_threads[idx] = pthread_self();
	mc_test_bump(&nthreads_seen);
}

/* Runs server in a thread and learns its loop threads. */
static void start_runner(struct runner *r, struct mc_server *server)
{
	static unsigned idx[MAX_LOOPS] = {0, 1};
	unsigned n = mc_server_loop_count(server);

	assert_true(n <= MAX_LOOPS);
	nthreads_seen = 0;
	r->server = server;
	r->ret = -2;
	for (unsigned i = 0; i < n; i++)
		mc_loop_post(mc_server_loop(server, i), note_thread, &idx[i]);
	assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
	mc_test_wait_for(&nthreads_seen, (int)n);
}

/* mc_server_stop() from this thread must end mc_server_run() quickly. */
static void stop_runner(struct runner *r)
{
	struct timespec ts;

	mc_server_stop(r->server);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	assert_int_equal(pthread_timedjoin_np(r->thread, NULL, &ts), 0);
	assert_int_equal(r->ret, 0);
}

static struct mc_server *new_server(unsigned loops)
{
	struct mc_server_settings set = {loops};
	struct mc_error err;
	struct mc_server *server;

	mc_error_clear(&err);
	server = mc_server_create(&set, &err);
	if (server == NULL)
		fail_msg("mc_server_create: %s", err.msg);
	assert_int_equal(mc_server_loop_count(server), loops);
	return server;
}

static void listen_ok(struct mc_server *server, const char *name, int port,
		      SSL_CTX *tls)
{
	struct mc_sockaddr addr = loopback(port);
	struct mc_error err;

	mc_error_clear(&err);
	if (mc_server_listen(server, name, &addr, tls, on_accept, NULL, &err) !=
	    0)
		fail_msg("mc_server_listen: %s", err.msg);
}

/* A blocking client socket with 2 s timeouts. */
static int client_socket(void)
{
	struct timeval tv = {2, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Connects fd to the loopback port; returns connect's result. */
static int connect_to(int fd, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	return connect(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* A connected client socket; -1 if connect fails. */
static int client_connect(int port, int *local_port_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = client_socket();

	if (connect_to(fd, port) < 0) {
		close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*local_port_r = ntohs(sin.sin_port);
	return fd;
}

/* Reads everything until EOF, checks it is the greeting, closes fd. */
static void read_greeting(int fd)
{
	char buf[64];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	assert_string_equal(buf, GREETING);
}

/* Connects and checks the greeting; returns the client's port. */
static int plain_client(int port)
{
	int client_port, fd = client_connect(port, &client_port);

	assert_true(fd >= 0);
	read_greeting(fd);
	return client_port;
}

static void test_accept_greeting(void **state)
{
	struct mc_server *server = new_server(2);
	int per_loop[MAX_LOOPS] = {0}, port = mc_test_free_port(), fd, unused;
	struct runner r;

	(void)state;
	nrecords = 0;
	listen_ok(server, "smtp", port, NULL);
	start_runner(&r, server);
	for (int i = 0; i < 32; i++) {
		int client_port = plain_client(port);
		const struct record *rec = find_record(client_port);

		assert_string_equal(rec->listener, "smtp");
		assert_int_equal(rec->local_port, port);
		assert_false(rec->tls);
		assert_true(rec->on_loop_thread);
		per_loop[rec->loop]++;
	}
	/* SO_REUSEPORT spreads 32 connections over both loops */
	assert_true(per_loop[0] > 0 && per_loop[1] > 0);
	stop_runner(&r);
	/* a stopped server accepts nothing */
	fd = client_connect(port, &unused);
	assert_int_equal(fd, -1);
	mc_server_destroy(&server);
	assert_null(server);
	mc_server_destroy(&server);
}

/* Reads what the logger wrote to fd, waiting up to 2 s for a line. */
static void read_log(int fd, char *buf, size_t size)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t n;

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	n = read(fd, buf, size - 1);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_accept_error(void **state)
{
	struct mc_server *server = new_server(1);
	int port = mc_test_free_port(), logpipe[2], fd, lowest;
	struct rlimit old, low;
	struct runner r;
	char log[1024];

	(void)state;
	listen_ok(server, "smtp", port, NULL);
	start_runner(&r, server);
	assert_int_equal(pipe2(logpipe, O_CLOEXEC | O_NONBLOCK), 0);
	mc_log_init("test-server", MC_LOG_INFO, MC_LOG_PLAIN, logpipe[1]);
	fd = client_socket();
	/* no descriptor is left for accept() */
	lowest = dup(logpipe[0]);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(connect_to(fd, port), 0);
	read_log(logpipe[0], log, sizeof(log));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	mc_log_init("test-server", MC_LOG_INFO, MC_LOG_PLAIN, -1);
	if (strstr(log, "smtp: accept failed: Too many open files") == NULL)
		fail_msg("unexpected log: %s", log);
	/* the loop lives on and accepts the waiting connection */
	read_greeting(fd);
	stop_runner(&r);
	close(logpipe[0]);
	close(logpipe[1]);
	mc_server_destroy(&server);
}

static void test_port_in_use(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct mc_server *server = new_server(2), *second = new_server(1);
	int one = 1, port = mc_test_free_port(),
	    fd = socket(AF_INET, SOCK_STREAM, 0);
	struct mc_sockaddr addr = loopback(port);
	struct mc_error err;
	char want[96];

	(void)state;
	/* a plain socket (no SO_REUSEPORT) holds the port */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	mc_error_clear(&err);
	assert_int_equal(mc_server_listen(server, "smtp", &addr, NULL,
					  on_accept, NULL, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	snprintf(want, sizeof(want),
		 "cannot listen on 127.0.0.1:%d: Address already in use", port);
	assert_string_equal(err.msg, want);
	close(fd);
	/* once free, two servers share the port through SO_REUSEPORT */
	listen_ok(server, "smtp", port, NULL);
	listen_ok(second, "smtp", port, NULL);
	mc_server_destroy(&server);
	mc_server_destroy(&second);
}

static int order[1001], norder, nposted_done;
static bool order_thread_ok = true;
static struct mc_loop *post_loop;
static pthread_t first_post_thread;

/* Posted: appends its number to order[] on loop 1's thread. */
static void posted(void *ctx)
{
	int i = (int)(intptr_t)ctx;

	/* post 0 runs before note_thread() has told us loop 1's thread */
	if (i == 0)
		first_post_thread = pthread_self();
	else if (!pthread_equal(pthread_self(), loop_threads[1]))
		order_thread_ok = false;
	if (norder < 1001)
		order[norder++] = i;
	if (i == 1000)
		mc_test_bump(&nposted_done);
}

/* Posted: a callback may post again; that post runs after the others. */
static void posted_then_post(void *ctx)
{
	posted(ctx);
	mc_loop_post(post_loop, posted, (void *)(intptr_t)1000);
}

static void test_post_order(void **state)
{
	struct mc_server *server = new_server(2);
	struct runner r;

	(void)state;
	norder = 0;
	nposted_done = 0;
	post_loop = mc_server_loop(server, 1);
	assert_int_equal(mc_loop_index(post_loop), 1);
	assert_non_null(mc_loop_base(post_loop));
	assert_null(mc_server_loop(server, 2));
	/* posted before the loop runs */
	mc_loop_post(post_loop, posted, (void *)(intptr_t)0);
	start_runner(&r, server);
	for (int i = 1; i < 999; i++)
		mc_loop_post(post_loop, posted, (void *)(intptr_t)i);
	mc_loop_post(post_loop, posted_then_post, (void *)(intptr_t)999);
	mc_test_wait_for(&nposted_done, 1);
	stop_runner(&r);
	assert_int_equal(norder, 1001);
	for (int i = 0; i < 1001; i++)
		assert_int_equal(order[i], i);
	assert_true(order_thread_ok);
	assert_true(pthread_equal(first_post_thread, loop_threads[1]));
	/* posts left after the stop are freed by destroy (ASan checks) */
	mc_loop_post(post_loop, posted, (void *)(intptr_t)5000);
	mc_server_destroy(&server);
}

/* Posted: the process receives SIGTERM. */
static void send_sigterm(void *ctx)
{
	(void)ctx;
	kill(getpid(), SIGTERM);
}

static void test_stop(void **state)
{
	struct mc_server *server = new_server(2);
	sigset_t set, pending;

	(void)state;
	/* a stop requested before run is not lost */
	mc_server_stop(server);
	assert_int_equal(mc_server_run(server), 0);
	/* SIGTERM ends the run; every thread blocks it, so no thread dies */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	mc_loop_post(mc_server_loop(server, 0), send_sigterm, NULL);
	assert_int_equal(mc_server_run(server), 0);
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGTERM));
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	mc_server_destroy(&server);
}

/* A server context from a self-signed CN=localhost certificate and its
 * key written to dir; *cert_r is the certificate. */
static SSL_CTX *make_tls_ctx(const char *dir, X509 **cert_r)
{
	char cert_path[128], key_path[128];
	struct mc_tls_settings set = {cert_path, key_path, NULL};
	SSL_CTX *ctx;

	*cert_r = mc_test_write_cert_key(dir);
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	ctx = mc_tls_server_ctx_create(&set, NULL);
	assert_non_null(ctx);
	return ctx;
}

/* A client context trusting cert; max_version 0 = no limit. */
static SSL_CTX *client_ctx(X509 *cert, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (max_version != 0) {
		/* let the client itself allow old versions, so a refusal
		 * can only come from the server */
		SSL_CTX_set_min_proto_version(ctx, 0);
		SSL_CTX_set_max_proto_version(ctx, max_version);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	}
	return ctx;
}

/* A TLS handshake to port; returns SSL_connect's result, and reads the
 * greeting when it succeeds. */
static int tls_client(SSL_CTX *cctx, int port, int *client_port_r)
{
	int fd = client_connect(port, client_port_r), ret, n, got = 0;
	SSL *ssl = SSL_new(cctx);
	char buf[64];

	assert_true(fd >= 0);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "localhost");
	ERR_clear_error();
	ret = SSL_connect(ssl);
	if (ret == 1) {
		assert_int_equal(SSL_get_verify_result(ssl), X509_V_OK);
		while (got < (int)strlen(GREETING) &&
		       (n = SSL_read(ssl, buf + got, sizeof(buf) - 1 - got)) >
			       0)
			got += n;
		buf[got] = '\0';
		assert_string_equal(buf, GREETING);
	}
	SSL_free(ssl);
	close(fd);
	return ret;
}

static void test_tls_listener(void **state)
{
	struct mc_server *server = new_server(2);
	char dir[64];
	int port = mc_test_free_port(), client_port;
	SSL_CTX *sctx, *good, *old;
	const struct record *rec;
	struct runner r;
	X509 *cert;

	(void)state;
	nrecords = 0;
	assert_non_null(mc_test_mkdtemp(dir, sizeof(dir), "test-server"));
	sctx = make_tls_ctx(dir, &cert);
	mc_test_rmdir(dir);
	listen_ok(server, "smtps", port, sctx);
	start_runner(&r, server);
	good = client_ctx(cert, 0);
	assert_int_equal(tls_client(good, port, &client_port), 1);
	rec = find_record(client_port);
	assert_true(rec->tls);
	assert_string_equal(rec->listener, "smtps");
	assert_true(rec->on_loop_thread);
	old = client_ctx(cert, TLS1_1_VERSION);
	assert_true(tls_client(old, port, &client_port) <= 0);
	assert_int_equal(ERR_GET_REASON(ERR_peek_error()),
			 SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
	ERR_clear_error();
	stop_runner(&r);
	mc_server_destroy(&server);
	SSL_CTX_free(good);
	SSL_CTX_free(old);
	SSL_CTX_free(sctx);
	X509_free(cert);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_greeting),
		cmocka_unit_test(test_accept_error),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_post_order),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_tls_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
