/* mc-redis: a blocking hiredis connection with connect and command
 * timeouts, AUTH and SELECT on every (re)connect, and one reconnect plus
 * retry per command after an I/O error. Unreachable is TEMPORARY; error
 * replies are PERMANENT unless Redis says it is busy or loading. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"

struct mc_redis {
	char *host;
	char *socket;
	char *password;
	unsigned port;
	unsigned db;
	struct timeval timeout;
	redisContext *ctx;
};

/* Creates a handle; does not connect. */
struct mc_redis *mc_redis_create(const struct mc_redis_settings *set)
{
	struct mc_redis *redis = mc_calloc(1, sizeof(*redis));
	unsigned ms = set->timeout_ms != 0 ? set->timeout_ms : 2000;

	redis->host = mc_strdup(set->host != NULL ? set->host : "127.0.0.1");
	if (set->socket != NULL && set->socket[0] != '\0')
		redis->socket = mc_strdup(set->socket);
	if (set->password != NULL && set->password[0] != '\0')
		redis->password = mc_strdup(set->password);
	redis->port = set->port != 0 ? set->port : 6379;
	redis->db = set->db;
	redis->timeout.tv_sec = ms / 1000;
	redis->timeout.tv_usec = (ms % 1000) * 1000;
	return redis;
}

/* Drops the current context, if any. */
static void disconnect(struct mc_redis *redis)
{
	if (redis->ctx != NULL)
		redisFree(redis->ctx);
	redis->ctx = NULL;
}

/* Closes the connection and frees the handle; accepts NULL. */
void mc_redis_destroy(struct mc_redis **redisp)
{
	struct mc_redis *redis = *redisp;

	if (redis == NULL)
		return;
	*redisp = NULL;
	disconnect(redis);
	if (redis->password != NULL) {
		mc_secure_zero(redis->password, strlen(redis->password));
		free(redis->password);
	}
	free(redis->host);
	free(redis->socket);
	free(redis);
}

/* Runs one setup command (AUTH, SELECT) right after connecting. */
static int setup_command(struct mc_redis *redis, const char *what,
			 struct mc_error *err, const char *fmt, ...)
{
	redisReply *reply;
	va_list ap;
	int ret = 0;

	va_start(ap, fmt);
	reply = redisvCommand(redis->ctx, fmt, ap);
	va_end(ap);
	if (reply == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s: %s", what,
			     redis->ctx->errstr);
		ret = -1;
	} else if (reply->type == REDIS_REPLY_ERROR) {
		mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s failed: %s",
			     what, reply->str);
		ret = -1;
	}
	if (reply != NULL)
		freeReplyObject(reply);
	return ret;
}

/* Opens the socket and applies the command timeout. */
static int open_ctx(struct mc_redis *redis, struct mc_error *err)
{
	if (redis->socket != NULL)
		redis->ctx = redisConnectUnixWithTimeout(redis->socket,
							 redis->timeout);
	else
		redis->ctx = redisConnectWithTimeout(
			redis->host, (int)redis->port, redis->timeout);
	if (redis->ctx == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "redis: cannot allocate context");
		return -1;
	}
	if (redis->ctx->err != 0 ||
	    redisSetTimeout(redis->ctx, redis->timeout) != REDIS_OK) {
		mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s",
			     redis->ctx->errstr);
		disconnect(redis);
		return -1;
	}
	return 0;
}

/* Connects (with AUTH and SELECT) unless a healthy context exists. */
int mc_redis_connect(struct mc_redis *redis, struct mc_error *err)
{
	if (redis->ctx != NULL && redis->ctx->err == 0)
		return 0;
	disconnect(redis);
	if (open_ctx(redis, err) < 0)
		return -1;
	if ((redis->password != NULL &&
	     setup_command(redis, "AUTH", err, "AUTH %s", redis->password) <
		     0) ||
	    (redis->db != 0 &&
	     setup_command(redis, "SELECT", err, "SELECT %u", redis->db) < 0)) {
		disconnect(redis);
		return -1;
	}
	return 0;
}

/* True for error replies that mean "try again later". */
static bool reply_is_temporary(const char *str)
{
	static const char *const codes[] = {
		"LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN ",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++) {
		if (strncmp(str, codes[i], strlen(codes[i])) == 0)
			return true;
	}
	return false;
}

/* Sends a formatted command and reads its reply; NULL on I/O error. */
static redisReply *send_once(struct mc_redis *redis, const char *cmd,
			     size_t len)
{
	void *reply = NULL;

	if (redisAppendFormattedCommand(redis->ctx, cmd, len) != REDIS_OK ||
	    redisGetReply(redis->ctx, &reply) != REDIS_OK)
		return NULL;
	return reply;
}

/* Runs a formatted command with one reconnect and retry on I/O error. */
static redisReply *exec_formatted(struct mc_redis *redis, const char *cmd,
				  size_t len, struct mc_error *err)
{
	redisReply *reply = NULL;

	for (int attempt = 0; reply == NULL; attempt++) {
		if (mc_redis_connect(redis, err) < 0)
			return NULL;
		reply = send_once(redis, cmd, len);
		if (reply != NULL)
			break;
		if (attempt > 0) {
			mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s",
				     redis->ctx->errstr);
			disconnect(redis);
			return NULL;
		}
		mc_log_warning("redis: %s, reconnecting", redis->ctx->errstr);
		disconnect(redis);
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		mc_error_set(err,
			     reply_is_temporary(reply->str) ? MC_ERR_TEMPORARY
							    : MC_ERR_PERMANENT,
			     "redis: %s", reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

/* Runs a command given as a hiredis format string. */
redisReply *mc_redis_command(struct mc_redis *redis, struct mc_error *err,
			     const char *fmt, ...)
{
	redisReply *reply;
	char *cmd = NULL;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len < 0) {
		mc_error_set(err, MC_ERR_INVALID, "redis: bad command format");
		return NULL;
	}
	reply = exec_formatted(redis, cmd, (size_t)len, err);
	redisFreeCommand(cmd);
	return reply;
}

/* Runs a command given as binary-safe arguments. */
redisReply *mc_redis_commandv(struct mc_redis *redis, int argc,
			      const char **argv, const size_t *argvlen,
			      struct mc_error *err)
{
	redisReply *reply;
	char *cmd = NULL;
	int len;

	len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	if (len < 0) {
		mc_error_set(err, MC_ERR_INVALID, "redis: bad command");
		return NULL;
	}
	reply = exec_formatted(redis, cmd, (size_t)len, err);
	redisFreeCommand(cmd);
	return reply;
}

/* Sends PING and expects PONG. */
int mc_redis_ping(struct mc_redis *redis, struct mc_error *err)
{
	redisReply *reply = mc_redis_command(redis, err, "PING");
	bool ok;

	if (reply == NULL)
		return -1;
	ok = reply->type == REDIS_REPLY_STATUS && reply->str != NULL &&
	     strcmp(reply->str, "PONG") == 0;
	freeReplyObject(reply);
	if (!ok) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "redis: unexpected PING reply");
		return -1;
	}
	return 0;
}

int mc_redis_psubscribe(struct mc_redis *redis, const char *pattern,
			struct mc_error *err)
{
	redisReply *r = mc_redis_command(redis, err, "PSUBSCRIBE %s", pattern);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	struct timeval forever = {0};
	if (redisSetTimeout(redis->ctx, forever) != REDIS_OK) {
		mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s",
			     redis->ctx->errstr);
		disconnect(redis);
		return -1;
	}
	return 0;
}

/* True for a "pmessage" reply: pattern, channel, payload. */
static bool is_pmessage(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
	       r->element[0]->type == REDIS_REPLY_STRING &&
	       strcmp(r->element[0]->str, "pmessage") == 0 &&
	       r->element[2]->type == REDIS_REPLY_STRING &&
	       r->element[3]->type == REDIS_REPLY_STRING;
}

int mc_redis_message(struct mc_redis *redis, char **channel_r,
		     char **message_r, struct mc_error *err)
{
	for (;;) {
		void *reply = NULL;
		if (redis->ctx == NULL ||
		    redisGetReply(redis->ctx, &reply) != REDIS_OK) {
			mc_error_set(err, MC_ERR_TEMPORARY, "redis: %s",
				     redis->ctx != NULL ? redis->ctx->errstr
							: "not connected");
			disconnect(redis);
			return -1;
		}
		redisReply *r = reply;
		bool msg = is_pmessage(r);
		if (msg) {
			*channel_r = mc_strdup(r->element[2]->str);
			*message_r = mc_strdup(r->element[3]->str);
		}
		freeReplyObject(r);
		if (msg)
			return 1;
	}
}

void mc_redis_interrupt(struct mc_redis *redis)
{
	if (redis->ctx != NULL && redis->ctx->fd >= 0)
		shutdown(redis->ctx->fd, SHUT_RDWR);
}
