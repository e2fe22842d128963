/* mc-conn: one client connection of a protocol daemon, on its loop: owns
 * the bufferevent, hands buffered input to the protocol code (which reads
 * it only when it can take it, so input stays bounded), writes replies,
 * runs read timeouts, wraps the connection in TLS for STARTTLS once the
 * reply is out (RFC 3207 / RFC 2595 / RFC 3501), reports the TLS version
 * and cipher, closes after the last reply has reached the socket (TLS
 * filter included), and keeps a per-loop list so that a stopping daemon
 * can say goodbye to every client (mc_conn_stop_loop). */
#ifndef MC_CONN_H
#define MC_CONN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "mc-server.h"

struct mc_conn;

/* Every callback runs on the connection's loop. After closed or after
 * mc_conn_close() none is called again. */
struct mc_conn_callbacks {
	/* Input is buffered: read it with mc_conn_input() and
	 * mc_conn_consume(), or leave it while busy (then call
	 * mc_conn_resume() to be told again). */
	void (*readable)(void *ctx);
	/* TLS is up: the implicit-TLS handshake finished, or the one that
	 * mc_conn_start_tls() began. May be NULL. */
	void (*tls_ready)(void *ctx);
	/* No input for the read timeout. Required. */
	void (*timeout)(void *ctx);
	/* The peer went away or the connection failed; the conn is freed
	 * when this returns. Required. */
	void (*closed)(void *ctx);
	/* The daemon stops: write the goodbye and mc_conn_close(), now or
	 * once the command in progress is answered. Required. */
	void (*stop)(void *ctx);
};

/* Takes over bev (from the mc_accept_cb); info is copied. */
struct mc_conn *mc_conn_create(struct mc_loop *loop, struct bufferevent *bev,
			       const struct mc_conn_info *info,
			       const struct mc_conn_callbacks *cb, void *ctx);

void mc_conn_write(struct mc_conn *c, const void *data, size_t len);
/* Bytes waiting to be sent (for back-pressure on big responses). */
size_t mc_conn_output_pending(const struct mc_conn *c);
/* The next contiguous buffered input (at most max bytes); 0 if none. */
size_t mc_conn_input(struct mc_conn *c, const unsigned char **data_r,
		     size_t max);
void mc_conn_consume(struct mc_conn *c, size_t n);
/* Calls readable again soon if input is buffered (after a pause). */
void mc_conn_resume(struct mc_conn *c);
/* ACKs what arrives next at once instead of after the delayed-ACK timer:
 * for a client that waits for our ACK before it sends the end of what
 * it started (a literal after "+", whose CRLF its Nagle holds back). */
void mc_conn_quickack(struct mc_conn *c);
/* Read timeout in ms (0: none). */
void mc_conn_set_timeout(struct mc_conn *c, unsigned read_ms);

/* STARTTLS: once the output written so far is on the wire, wraps the
 * connection in TLS with ctx; input that arrives meanwhile waits for
 * the TLS layer (plaintext sent after the command was discarded by the
 * protocol code before this call). tls_ready follows. */
void mc_conn_start_tls(struct mc_conn *c, SSL_CTX *ctx);
/* True when TLS is up; version and cipher names (owned by c). */
bool mc_conn_tls(const struct mc_conn *c, const char **version_r,
		 const char **cipher_r);
/* COMPRESS=DEFLATE (RFC 4978): from now on output is deflated (raw
 * deflate, flushed with Z_SYNC_FLUSH after each write batch) and input
 * inflated, over TLS if TLS is up. False if already on. */
bool mc_conn_start_compress(struct mc_conn *c);
bool mc_conn_compressing(const struct mc_conn *c);

/* The client's address and the listener it came in on. */
const struct mc_conn_info *mc_conn_info(const struct mc_conn *c);

/* Closes once the output is sent (or 30 s pass); no callback runs after
 * this and c is gone. */
void mc_conn_close(struct mc_conn *c);

/* mc_loop_stop_fn for mc_server_on_stop(): calls stop on every
 * connection of loop; true while some are still open. */
bool mc_conn_stop_loop(struct mc_loop *loop, void *ctx);

/* For a bufferevent that is not (or no longer) an mc_conn: closes and
 * frees bev once its pending output is sent (through the filters under
 * it), the peer goes away or 30 s pass. bev is no longer the caller's. */
void mc_conn_close_bev(struct bufferevent *bev);
/* True while closes of mc_conn_close() / mc_conn_close_bev() still have
 * output to send. */
bool mc_conn_closing(void);
/* At exit, once the loops have ended: frees the closes left behind. */
void mc_conn_closing_free_all(void);

#endif
