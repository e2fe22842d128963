/* mc-redis: a blocking hiredis connection for one thread (each worker owns
 * one), with timeouts, AUTH/SELECT on connect and one reconnect per
 * command. Every failure to reach Redis is MC_ERR_TEMPORARY. */
#ifndef MC_REDIS_H
#define MC_REDIS_H

#include <hiredis.h>
#include <stddef.h>

struct mc_error;
struct mc_redis;

struct mc_redis_settings {
	const char *host; /* used when socket is NULL or "" */
	unsigned port;
	const char *socket;   /* unix socket path */
	const char *password; /* NULL or "" = no AUTH */
	unsigned db;
	unsigned timeout_ms; /* connect and command; 0 = 2000 */
};

/* Does not connect yet; strings are copied. The caller owns the result. */
struct mc_redis *mc_redis_create(const struct mc_redis_settings *set);
void mc_redis_destroy(struct mc_redis **redis);
int mc_redis_connect(struct mc_redis *redis, struct mc_error *err);

/* Runs a command (hiredis format string). Returns the reply (caller
 * freeReplyObject()s it) or NULL with err set: TEMPORARY when Redis cannot
 * be reached, PERMANENT for an error reply. */
redisReply *mc_redis_command(struct mc_redis *redis, struct mc_error *err,
			     const char *fmt, ...);
redisReply *mc_redis_commandv(struct mc_redis *redis, int argc,
			      const char **argv, const size_t *argvlen,
			      struct mc_error *err);
/* PING: 0 or -1. */
int mc_redis_ping(struct mc_redis *redis, struct mc_error *err);

/* Pub/sub on a connection of its own: connects if needed, subscribes to
 * a channel pattern (PSUBSCRIBE) and drops the read timeout, so the
 * connection then only waits for messages. 0 or -1 (TEMPORARY). */
int mc_redis_psubscribe(struct mc_redis *redis, const char *pattern,
			struct mc_error *err);
/* Waits for the next message: 1 with the channel and payload (caller
 * free()s both), -1 when the connection is lost or interrupted (connect
 * and subscribe again). */
int mc_redis_message(struct mc_redis *redis, char **channel_r,
		     char **message_r, struct mc_error *err);
/* From another thread: makes a waiting mc_redis_message() return -1. */
void mc_redis_interrupt(struct mc_redis *redis);

#endif
