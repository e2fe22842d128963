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

#endif
