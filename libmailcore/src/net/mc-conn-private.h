/* mc-conn-private: what mc-conn.c and mc-conn-compress.c share: the
 * COMPRESS=DEFLATE filter (RFC 4978) that sits on top of a connection's
 * bufferevent. */
#ifndef MC_CONN_PRIVATE_H
#define MC_CONN_PRIVATE_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>

struct mc_conn_zlib;

/* Called (from inside libevent) when the stream is corrupt. */
typedef void mc_conn_zlib_error_fn(void *arg);

/* A deflate filter over under (which it frees with itself); the state
 * (*z_r) is owned by the filter. NULL if zlib cannot start. */
struct bufferevent *mc_conn_zlib_new(struct bufferevent *under,
				     mc_conn_zlib_error_fn *on_error, void *arg,
				     struct mc_conn_zlib **z_r);
/* Inflates what zlib still holds back (a pass stops at a bound) into
 * the filter's input buffer dst; -1 when the stream is corrupt. */
int mc_conn_zlib_pump(struct mc_conn_zlib *z, struct evbuffer *dst);

#endif
