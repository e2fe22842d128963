/* mc-server: libevent loops, one per thread, sharing SO_REUSEPORT listeners
 * (one listening socket per loop and address), a cross-thread FIFO of posted
 * callbacks per loop, and a run cycle that ends on SIGINT, SIGTERM or
 * mc_server_stop(). */
#include "mailcore/mc-server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"

#define MAX_LOOPS	  MC_SERVER_MAX_LOOPS
#define LISTEN_BACKLOG	  511
#define ACCEPT_RETRY_MSEC 100
#define STOP_TICK_MS	  20

struct post {
	struct post *next;
	void (*fn)(void *ctx);
	void *ctx;
};

struct mc_loop {
	struct mc_server *server;
	unsigned idx;
	struct event_base *base;
	struct event *post_ev;
	pthread_mutex_t lock; /* protects head and tailp */
	struct post *head, **tailp;
	pthread_t thread;
	bool stopping; /* loop thread only */
	unsigned grace_left; /* ms a stopping loop still waits */
};

struct listener;

/* One listening socket of a listener, owned by one loop. */
struct loop_listener {
	struct listener *l;
	struct mc_loop *loop;
	struct evconnlistener *lev;
	struct event *retry_ev; /* re-enables accepting after an error */
};

struct listener {
	struct listener *next;
	char *name;
	SSL_CTX *tls_ctx;
	mc_accept_cb *cb;
	void *ctx;
	struct loop_listener *per_loop; /* [server->nloops] */
};

struct mc_server {
	unsigned nloops;
	struct mc_loop *loops;
	pthread_mutex_t lock; /* protects the listener list */
	struct listener *listeners;
	int stop_fd; /* eventfd written by mc_server_stop() */
	mc_loop_stop_fn *on_stop;
	void *on_stop_ctx;
	unsigned grace_ms;
};

static int evthread_status = -1;

/* Makes libevent thread-aware, once per process. */
static void evthread_setup(void)
{
	evthread_status = evthread_use_pthreads();
}

/* Detaches and returns every queued post. */
static struct post *take_posts(struct mc_loop *loop)
{
	struct post *batch;

	pthread_mutex_lock(&loop->lock);
	batch = loop->head;
	loop->head = NULL;
	loop->tailp = &loop->head;
	pthread_mutex_unlock(&loop->lock);
	return batch;
}

/* Puts the unrun rest of a batch back at the front of the queue. */
static void requeue_posts(struct mc_loop *loop, struct post *batch)
{
	struct post *last = batch;

	while (last->next != NULL)
		last = last->next;
	pthread_mutex_lock(&loop->lock);
	last->next = loop->head;
	if (loop->head == NULL)
		loop->tailp = &last->next;
	loop->head = batch;
	pthread_mutex_unlock(&loop->lock);
	event_active(loop->post_ev, EV_READ, 0);
}

/* Runs the posted callbacks in FIFO order, until the loop is stopping. */
static void on_posts(evutil_socket_t fd, short what, void *arg)
{
	struct mc_loop *loop = arg;
	struct post *batch = take_posts(loop), *p;

	(void)fd;
	(void)what;
	while (batch != NULL && !loop->stopping) {
		p = batch;
		batch = p->next;
		p->fn(p->ctx);
		free(p);
	}
	if (batch != NULL)
		requeue_posts(loop, batch);
}

void mc_loop_post(struct mc_loop *loop, void (*fn)(void *ctx), void *ctx)
{
	struct post *p = mc_malloc(sizeof(*p));

	p->next = NULL;
	p->fn = fn;
	p->ctx = ctx;
	pthread_mutex_lock(&loop->lock);
	*loop->tailp = p;
	loop->tailp = &p->next;
	pthread_mutex_unlock(&loop->lock);
	event_active(loop->post_ev, EV_READ, 0);
}

struct event_base *mc_loop_base(struct mc_loop *loop)
{
	return loop->base;
}

unsigned mc_loop_index(const struct mc_loop *loop)
{
	return loop->idx;
}

/* Sets up one loop: its event base and its post queue. */
static int loop_init(struct mc_server *server, struct mc_loop *loop,
		     unsigned idx, struct mc_error *err)
{
	loop->server = server;
	loop->idx = idx;
	loop->tailp = &loop->head;
	pthread_mutex_init(&loop->lock, NULL);
	loop->base = event_base_new();
	if (loop->base != NULL)
		loop->post_ev = event_new(loop->base, -1, 0, on_posts, loop);
	if (loop->post_ev == NULL) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot create event loop %u", idx);
		return -1;
	}
	return 0;
}

/* Frees a loop's queued posts (not run), its events and its base. */
static void loop_deinit(struct mc_loop *loop)
{
	struct post *p = take_posts(loop), *next;

	for (; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	if (loop->post_ev != NULL)
		event_free(loop->post_ev);
	if (loop->base != NULL)
		event_base_free(loop->base);
	pthread_mutex_destroy(&loop->lock);
}

/* Number of loops to create when the settings say 0. */
static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > MAX_LOOPS ? MAX_LOOPS : (unsigned)n;
}

struct mc_server *mc_server_create(const struct mc_server_settings *set,
				   struct mc_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned n = set->loops != 0 ? set->loops : online_cpus();
	struct mc_server *server;

	pthread_once(&once, evthread_setup);
	if (evthread_status < 0) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot enable libevent threading");
		return NULL;
	}
	if (n > MAX_LOOPS) {
		mc_error_set(err, MC_ERR_INVALID, "too many loops: %u (max %d)",
			     n, MAX_LOOPS);
		return NULL;
	}
	server = mc_calloc(1, sizeof(*server));
	pthread_mutex_init(&server->lock, NULL);
	server->loops = mc_calloc(n, sizeof(*server->loops));
	server->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (server->stop_fd < 0) {
		mc_error_set(err, MC_ERR_PERMANENT, "eventfd: %s",
			     strerror(errno));
		mc_server_destroy(&server);
		return NULL;
	}
	for (; server->nloops < n; server->nloops++) {
		if (loop_init(server, &server->loops[server->nloops],
			      server->nloops, err) < 0) {
			server->nloops++; /* so destroy frees it */
			mc_server_destroy(&server);
			return NULL;
		}
	}
	return server;
}

unsigned mc_server_loop_count(const struct mc_server *server)
{
	return server->nloops;
}

struct mc_loop *mc_server_loop(struct mc_server *server, unsigned idx)
{
	return idx < server->nloops ? &server->loops[idx] : NULL;
}

/* Creates a bufferevent (plain or accepting TLS) for an accepted socket;
 * closes fd and returns NULL on failure. */
static struct bufferevent *accepted_bev(struct loop_listener *ll,
					evutil_socket_t fd)
{
	const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct event_base *base = ll->loop->base;
	struct bufferevent *bev;
	SSL *ssl;

	if (ll->l->tls_ctx == NULL) {
		bev = bufferevent_socket_new(base, fd, opts);
	} else if ((ssl = SSL_new(ll->l->tls_ctx)) == NULL) {
		bev = NULL;
	} else {
		bev = bufferevent_openssl_socket_new(
			base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
	}
	/* on failure libevent may already have freed ssl: do not free it */
	if (bev == NULL) {
		mc_log_error("%s: cannot set up an accepted connection",
			     ll->l->name);
		evutil_closesocket(fd);
	}
	return bev;
}

/* evconnlistener callback: hands a new connection to the accept callback. */
static void on_accept(struct evconnlistener *lev, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct loop_listener *ll = arg;
	struct mc_conn_info info;
	struct bufferevent *bev;

	(void)lev;
	memset(&info, 0, sizeof(info));
	info.listener = ll->l->name;
	info.tls = ll->l->tls_ctx != NULL;
	if (salen < 0 || (size_t)salen > sizeof(info.remote.ss))
		salen = sizeof(info.remote.ss);
	memcpy(&info.remote.ss, sa, salen);
	info.remote.len = salen;
	info.local.len = sizeof(info.local.ss);
	if (getsockname(fd, (struct sockaddr *)&info.local.ss,
			&info.local.len) < 0) {
		mc_log_warning("%s: getsockname: %s", ll->l->name,
			       strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	/* replies are small and awaited: never let Nagle hold them back
	 * (a client's delayed ACK would cost 40 ms per exchange) */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = accepted_bev(ll, fd);
	if (bev != NULL)
		ll->l->cb(ll->loop, bev, &info, ll->l->ctx);
}

/* accept() failed for a non-transient reason (EMFILE, ENOBUFS...): log it
 * and pause this socket for a moment instead of spinning. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct loop_listener *ll = arg;
	struct timeval tv = {0, ACCEPT_RETRY_MSEC * 1000};
	int e = EVUTIL_SOCKET_ERROR();

	mc_log_error("%s: accept failed: %s; pausing %d ms", ll->l->name,
		     evutil_socket_error_to_string(e), ACCEPT_RETRY_MSEC);
	evconnlistener_disable(lev);
	evtimer_add(ll->retry_ev, &tv);
}

/* Timer: accepting resumes after an accept error. */
static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct loop_listener *ll = arg;

	(void)fd;
	(void)what;
	if (ll->lev != NULL)
		evconnlistener_enable(ll->lev);
}

/* Creates a bound, listening, non-blocking socket for addr. */
static int open_socket(const struct mc_sockaddr *addr, struct mc_error *err)
{
	char buf[MC_ADDR_STR_MAX];
	int fd, e, one = 1;

	fd = socket(addr->ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
	    (addr->ss.ss_family != AF_INET6 ||
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ==
		     0) &&
	    bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0 &&
	    listen(fd, LISTEN_BACKLOG) == 0)
		return fd;
	e = errno;
	if (fd >= 0)
		close(fd);
	mc_error_set(err, MC_ERR_PERMANENT, "cannot listen on %s: %s",
		     mc_addr_str(addr, buf), strerror(e));
	return -1;
}

/* Frees the sockets and events of one loop's share of a listener. */
static void loop_listener_close(struct loop_listener *ll)
{
	if (ll->retry_ev != NULL)
		event_free(ll->retry_ev);
	if (ll->lev != NULL)
		evconnlistener_free(ll->lev);
	ll->retry_ev = NULL;
	ll->lev = NULL;
}

/* Frees a listener and everything it still holds. */
static void listener_free(struct listener *l, unsigned nloops)
{
	for (unsigned i = 0; i < nloops; i++)
		loop_listener_close(&l->per_loop[i]);
	if (l->tls_ctx != NULL)
		SSL_CTX_free(l->tls_ctx);
	free(l->per_loop);
	free(l->name);
	free(l);
}

/* Wraps the listening socket fd (taking it over) in loop idx's listener. */
static int attach_socket(struct mc_server *server, struct listener *l,
			 unsigned idx, int fd, struct mc_error *err)
{
	const unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
	struct loop_listener *ll = &l->per_loop[idx];
	struct mc_loop *loop = &server->loops[idx];

	ll->l = l;
	ll->loop = loop;
	ll->retry_ev = evtimer_new(loop->base, on_accept_retry, ll);
	/* backlog 0: the socket is already listening */
	ll->lev = evconnlistener_new(loop->base, on_accept, ll, flags, 0, fd);
	if (ll->lev == NULL || ll->retry_ev == NULL) {
		if (ll->lev == NULL)
			close(fd);
		mc_error_set(err, MC_ERR_PERMANENT,
			     "%s: cannot create listener", l->name);
		return -1;
	}
	evconnlistener_set_error_cb(ll->lev, on_accept_error);
	return 0;
}

/* Opens one socket per loop; closes them all on error. */
static int open_sockets(struct mc_server *server,
			const struct mc_sockaddr *addr, int *fds,
			struct mc_error *err)
{
	for (unsigned i = 0; i < server->nloops; i++) {
		fds[i] = open_socket(addr, err);
		if (fds[i] < 0) {
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	}
	return 0;
}

/* Checks the arguments of mc_server_listen. */
static int listen_args_ok(const char *name, const struct mc_sockaddr *addr,
			  mc_accept_cb *cb, struct mc_error *err)
{
	if (name == NULL || cb == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "listener needs a name and a callback");
		return 0;
	}
	if (addr->ss.ss_family != AF_INET && addr->ss.ss_family != AF_INET6) {
		mc_error_set(err, MC_ERR_INVALID,
			     "%s: not an IPv4 or IPv6 address", name);
		return 0;
	}
	return 1;
}

int mc_server_listen(struct mc_server *server, const char *name,
		     const struct mc_sockaddr *addr, SSL_CTX *tls_ctx,
		     mc_accept_cb *cb, void *ctx, struct mc_error *err)
{
	struct listener *l;
	int *fds, ret = 0;
	unsigned i;

	if (!listen_args_ok(name, addr, cb, err))
		return -1;
	fds = mc_calloc(server->nloops, sizeof(*fds));
	if (open_sockets(server, addr, fds, err) < 0) {
		free(fds);
		return -1;
	}
	l = mc_calloc(1, sizeof(*l));
	l->name = mc_strdup(name);
	l->cb = cb;
	l->ctx = ctx;
	l->per_loop = mc_calloc(server->nloops, sizeof(*l->per_loop));
	if (tls_ctx != NULL && SSL_CTX_up_ref(tls_ctx) == 1)
		l->tls_ctx = tls_ctx;
	for (i = 0; i < server->nloops && ret == 0; i++)
		ret = attach_socket(server, l, i, fds[i], err);
	for (; i < server->nloops; i++)
		close(fds[i]);
	free(fds);
	if (ret < 0 || (tls_ctx != NULL && l->tls_ctx == NULL)) {
		mc_error_set(err, MC_ERR_PERMANENT, "%s: cannot listen", name);
		listener_free(l, server->nloops);
		return -1;
	}
	pthread_mutex_lock(&server->lock);
	l->next = server->listeners;
	server->listeners = l;
	pthread_mutex_unlock(&server->lock);
	return 0;
}

static void stop_tick(evutil_socket_t fd, short what, void *ctx);

/* Posted on each loop when the server stops: closes the loop's listening
 * sockets so no more connections are accepted, and ends the loop. */
static void stop_loop(void *ctx)
{
	struct mc_loop *loop = ctx;
	struct mc_server *server = loop->server;

	pthread_mutex_lock(&server->lock);
	for (struct listener *l = server->listeners; l != NULL; l = l->next)
		loop_listener_close(&l->per_loop[loop->idx]);
	pthread_mutex_unlock(&server->lock);
	if (server->on_stop == NULL) {
		loop->stopping = true;
		event_base_loopbreak(loop->base);
		return;
	}
	loop->grace_left = server->grace_ms;
	stop_tick(-1, 0, loop);
}

/* Asks the daemon whether the stopping loop is done; ends it when so or
 * when the grace time is over, else asks again in a moment. */
static void stop_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct mc_loop *loop = ctx;
	struct mc_server *server = loop->server;
	struct timeval tick = {.tv_usec = STOP_TICK_MS * 1000};

	(void)fd;
	(void)what;
	if (!server->on_stop(loop, server->on_stop_ctx) ||
	    loop->grace_left < STOP_TICK_MS) {
		loop->stopping = true;
		event_base_loopbreak(loop->base);
		return;
	}
	loop->grace_left -= STOP_TICK_MS;
	event_base_once(loop->base, -1, EV_TIMEOUT, stop_tick, loop, &tick);
}

void mc_server_on_stop(struct mc_server *server, mc_loop_stop_fn *fn,
		       void *ctx, unsigned grace_ms)
{
	server->on_stop = fn;
	server->on_stop_ctx = ctx;
	server->grace_ms = grace_ms;
}

void mc_server_drain(struct mc_server *server)
{
	for (unsigned i = 0; i < server->nloops; i++) {
		struct mc_loop *loop = &server->loops[i];
		struct post *p;

		while ((p = take_posts(loop)) != NULL) {
			while (p != NULL) {
				struct post *next = p->next;

				p->fn(p->ctx);
				free(p);
				p = next;
			}
		}
	}
}

/* Thread body: runs one loop until stop_loop() breaks it. */
static void *loop_thread(void *arg)
{
	struct mc_loop *loop = arg;
	char name[16];

	snprintf(name, sizeof(name), "mc-loop-%u", loop->idx);
	pthread_setname_np(pthread_self(), name);
	loop->stopping = false;
	if (event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		mc_log_error("event loop %u failed", loop->idx);
	return NULL;
}

/* Starts the loop threads; returns how many started. */
static unsigned start_loops(struct mc_server *server)
{
	unsigned i;
	int e;

	for (i = 0; i < server->nloops; i++) {
		struct mc_loop *loop = &server->loops[i];

		e = pthread_create(&loop->thread, NULL, loop_thread, loop);
		if (e != 0) {
			mc_log_error("cannot start loop thread %u: %s", i,
				     strerror(e));
			break;
		}
	}
	return i;
}

/* Ends the first n loops and waits for their threads. */
static void stop_loops(struct mc_server *server, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		mc_loop_post(&server->loops[i], stop_loop, &server->loops[i]);
	for (unsigned i = 0; i < n; i++)
		pthread_join(server->loops[i].thread, NULL);
}

/* Reads a signal from sfd; returns true if one was read. */
static bool read_signal(int sfd)
{
	struct signalfd_siginfo si;
	const char *name;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return false;
	name = sigabbrev_np((int)si.ssi_signo);
	mc_logc(NULL, MC_LOG_NOTICE, "received SIG%s, stopping",
		name != NULL ? name : "?");
	return true;
}

/* Blocks until a signal arrives on sfd or mc_server_stop() is called. */
static void wait_for_stop(struct mc_server *server, int sfd)
{
	struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
				{.fd = server->stop_fd, .events = POLLIN}};
	uint64_t val;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			mc_log_error("poll: %s; stopping", strerror(errno));
			return;
		}
		if ((pfd[0].revents & POLLIN) != 0 && read_signal(sfd))
			return;
		if ((pfd[1].revents & POLLIN) != 0 &&
		    read(server->stop_fd, &val, sizeof(val)) == sizeof(val))
			return;
	}
}

int mc_server_run(struct mc_server *server)
{
	sigset_t set, old;
	unsigned started;
	int sfd, ret = 0;

	/* SIGINT and SIGTERM go to the signalfd; the loop threads inherit
	 * the mask, and SIGPIPE there just makes writes fail with EPIPE. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	sigdelset(&set, SIGPIPE);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		mc_log_error("signalfd: %s", strerror(errno));
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	started = start_loops(server);
	if (started == server->nloops)
		wait_for_stop(server, sfd);
	else
		ret = -1;
	stop_loops(server, started);
	close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

void mc_server_stop(struct mc_server *server)
{
	const uint64_t one = 1;
	int saved_errno = errno;

	if (write(server->stop_fd, &one, sizeof(one)) < 0) {
		/* the counter is already set: a stop is pending */
	}
	errno = saved_errno;
}

void mc_server_destroy(struct mc_server **serverp)
{
	struct mc_server *server = *serverp;
	struct listener *l, *next;

	if (server == NULL)
		return;
	*serverp = NULL;
	for (l = server->listeners; l != NULL; l = next) {
		next = l->next;
		listener_free(l, server->nloops);
	}
	for (unsigned i = 0; i < server->nloops; i++)
		loop_deinit(&server->loops[i]);
	if (server->stop_fd >= 0)
		close(server->stop_fd);
	pthread_mutex_destroy(&server->lock);
	free(server->loops);
	free(server);
}
