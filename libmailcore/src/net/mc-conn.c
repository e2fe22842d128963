/* mc-conn: a protocol daemon's client connection on its loop: the
 * bufferevent (plain, TLS, deflate on top), bounded input handed over on
 * demand, read timeouts, STARTTLS once the reply is out, closing after
 * the last byte is on the wire (the closers, which also serve bare
 * bufferevents), and the per-loop lists that let a stopping daemon say
 * goodbye to every client. */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "mailcore/mc-conn.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"
#include "mc-conn-private.h"

#define READ_HIGH	 (256 * 1024) /* input buffered at most */
#define WRITE_TIMEOUT_S	 600
#define CLOSER_TICK_MS	 10
#define CLOSER_TICKS	 3000 /* 30 s */
#define CLOSER_TIMEOUT_S 30

struct mc_conn {
	struct mc_loop *loop;
	struct bufferevent *bev; /* the top: deflate over TLS over socket */
	struct mc_conn_info info;
	char listener[64];
	struct mc_conn_callbacks cb;
	void *ctx;
	struct event *soon;  /* deferred work: flush, TLS, readable, fail */
	SSL_CTX *tls_wanted; /* STARTTLS once the output is out */
	struct mc_conn_zlib *zlib;
	unsigned read_ms;
	bool tls, handshaking;
	bool flush_due, readable_due, failed;
	bool stop_called, in_closed;
	char tls_version[16], tls_cipher[64];
	struct mc_conn *prev, *next; /* on conns[loop index] */
};

/* The live connections of each loop (touched on that loop only). */
static struct mc_conn *conns[MC_SERVER_MAX_LOOPS];

static void on_read(struct bufferevent *bev, void *ctx);
static void on_write(struct bufferevent *bev, void *ctx);
static void on_event(struct bufferevent *bev, short what, void *ctx);

/* The list head of c's loop. */
static struct mc_conn **list_of(const struct mc_loop *loop)
{
	return &conns[mc_loop_index(loop) % MC_SERVER_MAX_LOOPS];
}

/* Links c into its loop's list. */
static void conn_list(struct mc_conn *c)
{
	struct mc_conn **head = list_of(c->loop);
	c->next = *head;
	if (*head != NULL)
		(*head)->prev = c;
	*head = c;
}

/* Unlinks c from its loop's list. */
static void conn_unlist(struct mc_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		*list_of(c->loop) = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

/* True while bytes wait in bev or in a bufferevent under it (a filter
 * hands its output to the bufferevent below). */
static bool chain_pending(struct bufferevent *bev)
{
	for (; bev != NULL; bev = bufferevent_get_underlying(bev)) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
			return true;
	}
	return false;
}

/* A connection being closed once its last reply is out. Closers are
 * listed so that those a stopping daemon leaves behind are freed too. */
struct closer {
	struct closer *prev, *next;
	struct bufferevent *bev;
	struct event *timer;
	unsigned ticks;
};

static pthread_mutex_t closers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct closer *closers;

/* Unlists and frees a closer with its connection. */
static void closer_free(struct closer *cl)
{
	pthread_mutex_lock(&closers_lock);
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		closers = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	pthread_mutex_unlock(&closers_lock);
	event_free(cl->timer);
	bufferevent_free(cl->bev);
	free(cl);
}

/* Frees the connection once everything is on the wire (or 30 s pass);
 * checks again in a moment otherwise. */
static void closer_check(struct closer *cl)
{
	if (!chain_pending(cl->bev) || ++cl->ticks > CLOSER_TICKS) {
		closer_free(cl);
		return;
	}
	struct timeval tick = {.tv_usec = CLOSER_TICK_MS * 1000};
	evtimer_add(cl->timer, &tick);
}

/* The output buffer drained. */
static void closer_written(struct bufferevent *bev, void *ctx)
{
	(void)bev;
	closer_check(ctx);
}

/* The timer of closer_check. */
static void closer_tick(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	closer_check(ctx);
}

/* Frees bev when the peer goes away or the connection fails. */
static void closer_event(struct bufferevent *bev, short what, void *ctx)
{
	(void)bev;
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) != 0)
		closer_free(ctx);
}

void mc_conn_close_bev(struct bufferevent *bev)
{
	struct closer *cl = mc_calloc(1, sizeof(*cl));
	struct timeval timeout = {.tv_sec = CLOSER_TIMEOUT_S};
	cl->bev = bev;
	cl->timer = evtimer_new(bufferevent_get_base(bev), closer_tick, cl);
	pthread_mutex_lock(&closers_lock);
	cl->next = closers;
	if (closers != NULL)
		closers->prev = cl;
	closers = cl;
	pthread_mutex_unlock(&closers_lock);
	bufferevent_setcb(bev, NULL, closer_written, closer_event, cl);
	bufferevent_set_timeouts(bev, &timeout, &timeout);
	bufferevent_enable(bev, EV_WRITE);
	if (!chain_pending(bev))
		closer_check(cl);
}

bool mc_conn_closing(void)
{
	pthread_mutex_lock(&closers_lock);
	bool any = closers != NULL;
	pthread_mutex_unlock(&closers_lock);
	return any;
}

/* True while a closer of base still has output to send. */
static bool closing_on(struct event_base *base)
{
	bool any = false;
	pthread_mutex_lock(&closers_lock);
	for (struct closer *cl = closers; cl != NULL && !any; cl = cl->next)
		any = bufferevent_get_base(cl->bev) == base;
	pthread_mutex_unlock(&closers_lock);
	return any;
}

void mc_conn_closing_free_all(void)
{
	while (closers != NULL)
		closer_free(closers);
}

/* Asks for the deferred work of on_soon. */
static void soon(struct mc_conn *c)
{
	event_active(c->soon, EV_TIMEOUT, 1);
}

/* Applies the read timeout and the fixed write timeout to the top. */
static void apply_timeouts(struct mc_conn *c)
{
	struct timeval rd = {.tv_sec = c->read_ms / 1000,
			     .tv_usec = (c->read_ms % 1000) * 1000};
	struct timeval wr = {.tv_sec = WRITE_TIMEOUT_S};
	bufferevent_set_timeouts(c->bev, c->read_ms > 0 ? &rd : NULL, &wr);
}

/* Makes bev the top of the connection; the one below it (if any) gives
 * up its callbacks and timeouts to the filter. */
static void set_top(struct mc_conn *c, struct bufferevent *bev)
{
	if (c->bev != NULL)
		bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->bev = bev;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	apply_timeouts(c);
}

/* Frees c and its connection at once (the peer is gone). */
static void conn_free(struct mc_conn *c)
{
	conn_unlist(c);
	event_free(c->soon);
	bufferevent_free(c->bev);
	free(c);
}

/* The connection failed: tells the daemon, then frees c. */
static void conn_fail(struct mc_conn *c)
{
	c->in_closed = true;
	c->cb.closed(c->ctx);
	conn_free(c);
}

/* Notes the negotiated TLS version and cipher of the top bufferevent. */
static void note_tls(struct mc_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl == NULL)
		return;
	c->tls = true;
	snprintf(c->tls_version, sizeof(c->tls_version), "%s",
		 SSL_get_version(ssl));
	snprintf(c->tls_cipher, sizeof(c->tls_cipher), "%s",
		 SSL_get_cipher_name(ssl));
}

/* Wraps the connection in TLS (the reply to STARTTLS is out); false if
 * it cannot start. */
static bool wrap_tls(struct mc_conn *c)
{
	SSL *ssl = SSL_new(c->tls_wanted);
	c->tls_wanted = NULL;
	struct bufferevent *tls =
		ssl == NULL ? NULL
			    : bufferevent_openssl_filter_new(
				      mc_loop_base(c->loop), c->bev, ssl,
				      BUFFEREVENT_SSL_ACCEPTING,
				      BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		mc_log_error("cannot start TLS");
		return false;
	}
	c->handshaking = true;
	set_top(c, tls);
	return true;
}

/* The deferred work, in order: failure, flush, STARTTLS, readable. */
static void on_soon(evutil_socket_t fd, short what, void *ctx)
{
	struct mc_conn *c = ctx;
	(void)fd;
	(void)what;
	if (c->failed) {
		conn_fail(c);
		return;
	}
	if (c->flush_due) {
		c->flush_due = false;
		bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
	}
	if (c->tls_wanted != NULL && !chain_pending(c->bev) && !wrap_tls(c)) {
		conn_fail(c);
		return;
	}
	if (c->readable_due && c->tls_wanted == NULL && !c->handshaking) {
		c->readable_due = false;
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			c->cb.readable(c->ctx);
	}
}

/* Client bytes arrived (held back while STARTTLS is due). */
static void on_read(struct bufferevent *bev, void *ctx)
{
	struct mc_conn *c = ctx;
	(void)bev;
	if (c->tls_wanted == NULL && !c->handshaking)
		c->cb.readable(c->ctx);
}

/* Output drained: the moment to start a pending STARTTLS. */
static void on_write(struct bufferevent *bev, void *ctx)
{
	struct mc_conn *c = ctx;
	(void)bev;
	if (c->tls_wanted != NULL && !chain_pending(c->bev) && !wrap_tls(c))
		conn_fail(c);
}

/* Connection events: TLS up, timeouts, EOF and errors. */
static void on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct mc_conn *c = ctx;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->handshaking = false;
		note_tls(c);
		if (c->cb.tls_ready != NULL)
			c->cb.tls_ready(c->ctx);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		/* keep reading: the daemon may choose to wait on */
		bufferevent_enable(c->bev, EV_READ);
		c->cb.timeout(c->ctx);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		mc_log_debug("connection error");
	conn_fail(c);
}

struct mc_conn *mc_conn_create(struct mc_loop *loop, struct bufferevent *bev,
			       const struct mc_conn_info *info,
			       const struct mc_conn_callbacks *cb, void *ctx)
{
	struct mc_conn *c = mc_calloc(1, sizeof(*c));
	c->loop = loop;
	c->info = *info;
	snprintf(c->listener, sizeof(c->listener), "%s",
		 info->listener != NULL ? info->listener : "");
	c->info.listener = c->listener;
	c->cb = *cb;
	c->ctx = ctx;
	c->handshaking = info->tls;
	c->soon = event_new(mc_loop_base(loop), -1, 0, on_soon, c);
	conn_list(c);
	set_top(c, bev);
	return c;
}

void mc_conn_write(struct mc_conn *c, const void *data, size_t len)
{
	bufferevent_write(c->bev, data, len);
	if (c->zlib != NULL && !c->flush_due) {
		c->flush_due = true;
		soon(c);
	}
}

size_t mc_conn_output_pending(const struct mc_conn *c)
{
	size_t n = 0;
	for (struct bufferevent *b = c->bev; b != NULL;
	     b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

size_t mc_conn_input(struct mc_conn *c, const unsigned char **data_r,
		     size_t max)
{
	if (c->tls_wanted != NULL || c->handshaking || c->failed)
		return 0;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_contiguous_space(in);
	if (len > max)
		len = max;
	if (len == 0)
		return 0;
	*data_r = evbuffer_pullup(in, (ev_ssize_t)len);
	return len;
}

void mc_conn_consume(struct mc_conn *c, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, n);
	if (c->zlib != NULL && evbuffer_get_length(in) == 0)
		(void)mc_conn_zlib_pump(c->zlib,
					in); /* errors: on_zlib_error */
}

void mc_conn_resume(struct mc_conn *c)
{
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
		return;
	c->readable_due = true;
	soon(c);
}

void mc_conn_set_timeout(struct mc_conn *c, unsigned read_ms)
{
	c->read_ms = read_ms;
	apply_timeouts(c);
}

void mc_conn_start_tls(struct mc_conn *c, SSL_CTX *ctx)
{
	c->tls_wanted = ctx;
	soon(c); /* at once if the output is already out */
}

bool mc_conn_tls(const struct mc_conn *c, const char **version_r,
		 const char **cipher_r)
{
	if (version_r != NULL)
		*version_r = c->tls ? c->tls_version : NULL;
	if (cipher_r != NULL)
		*cipher_r = c->tls ? c->tls_cipher : NULL;
	return c->tls;
}

/* The deflate stream is corrupt: close from the loop. */
static void on_zlib_error(void *arg)
{
	struct mc_conn *c = arg;
	mc_log_debug("corrupt deflate stream");
	c->failed = true;
	soon(c);
}

bool mc_conn_start_compress(struct mc_conn *c)
{
	if (c->zlib != NULL)
		return false;
	struct mc_conn_zlib *z = NULL;
	struct bufferevent *f = mc_conn_zlib_new(c->bev, on_zlib_error, c, &z);
	if (f == NULL)
		return false;
	c->zlib = z;
	set_top(c, f);
	return true;
}

bool mc_conn_compressing(const struct mc_conn *c)
{
	return c->zlib != NULL;
}

const struct mc_conn_info *mc_conn_info(const struct mc_conn *c)
{
	return &c->info;
}

void mc_conn_close(struct mc_conn *c)
{
	if (c->in_closed)
		return; /* from the closed callback: freed on return */
	conn_unlist(c);
	event_free(c->soon);
	if (c->zlib != NULL && !c->failed)
		bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
	mc_conn_close_bev(c->bev);
	free(c);
}

bool mc_conn_stop_loop(struct mc_loop *loop, void *ctx)
{
	(void)ctx;
	struct mc_conn *c;
	do {
		c = *list_of(loop);
		while (c != NULL && (c->stop_called || c->loop != loop))
			c = c->next;
		if (c != NULL) {
			c->stop_called = true;
			c->cb.stop(c->ctx);
		}
	} while (c != NULL);
	for (c = *list_of(loop); c != NULL; c = c->next) {
		if (c->loop == loop)
			return true;
	}
	return closing_on(mc_loop_base(loop));
}

void mc_conn_quickack(struct mc_conn *c)
{
	struct bufferevent *b = c->bev;
	while (bufferevent_get_underlying(b) != NULL)
		b = bufferevent_get_underlying(b);
	int fd = (int)bufferevent_getfd(b), one = 1;
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one,
				 sizeof(one));
}
