/* mc-server: one libevent loop per core, each in its own thread, sharing
 * SO_REUSEPORT listeners; connections are handed to an accept callback as
 * bufferevents on the loop that accepted them. Code running on a loop
 * never blocks: blocking work goes to mc-workers. */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "mc-addr.h"

struct mc_error;
struct mc_server;
struct mc_loop;

/* The most loops a server runs (mc_loop_index() is below it). */
#define MC_SERVER_MAX_LOOPS 1024

struct mc_server_settings {
	unsigned loops; /* 0 = one per online CPU */
};

struct mc_conn_info {
	const char *listener; /* the name given to mc_server_listen */
	struct mc_sockaddr local, remote;
	bool tls; /* implicit TLS: bev is an accepting SSL bufferevent */
};

/* Called on the accepting loop's thread. The callback owns bev (created
 * with BEV_OPT_CLOSE_ON_FREE, and for implicit TLS with the handshake
 * pending) and must free it. info is valid during the call only. */
typedef void mc_accept_cb(struct mc_loop *loop, struct bufferevent *bev,
			  const struct mc_conn_info *info, void *ctx);

/* The caller owns the result. */
struct mc_server *mc_server_create(const struct mc_server_settings *set,
				   struct mc_error *err);
/* Binds addr (SO_REUSEADDR, SO_REUSEPORT, one socket per loop) and starts
 * listening at once, so a port in use is reported here. tls_ctx non-NULL
 * makes it an implicit-TLS listener; the server does not take ownership
 * of tls_ctx. name is copied. */
int mc_server_listen(struct mc_server *server, const char *name,
		     const struct mc_sockaddr *addr, SSL_CTX *tls_ctx,
		     mc_accept_cb *cb, void *ctx, struct mc_error *err);
unsigned mc_server_loop_count(const struct mc_server *server);
struct mc_loop *mc_server_loop(struct mc_server *server, unsigned idx);
/* Runs every loop in its own thread and returns after mc_server_stop()
 * or SIGINT/SIGTERM (which the call handles while it runs), once all loops
 * have ended. Returns 0, or -1 if the loops could not start. */
int mc_server_run(struct mc_server *server);
/* A daemon's goodbye: when the server stops, fn(loop, ctx) runs on each
 * loop's thread once its listeners are closed (to say "421 shutting
 * down" to the connections), then again every 20 ms while it returns
 * true (work still in flight), for grace_ms at most; then the loop ends.
 * Without it loops end at once. */
typedef bool mc_loop_stop_fn(struct mc_loop *loop, void *ctx);
void mc_server_on_stop(struct mc_server *server, mc_loop_stop_fn *fn,
		       void *ctx, unsigned grace_ms);
/* Once mc_server_run() has returned and nothing posts any more (the
 * worker pool is gone): runs what is still queued for the loops, on the
 * calling thread, so completions free what they own. */
void mc_server_drain(struct mc_server *server);
/* Thread- and async-signal-safe request to end mc_server_run(). */
void mc_server_stop(struct mc_server *server);
void mc_server_destroy(struct mc_server **server);

struct event_base *mc_loop_base(struct mc_loop *loop);
unsigned mc_loop_index(const struct mc_loop *loop);
/* Runs fn(ctx) on loop's thread, soon. Thread-safe; never blocks. */
void mc_loop_post(struct mc_loop *loop, void (*fn)(void *ctx), void *ctx);

#endif
