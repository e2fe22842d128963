/* test-redis: against the Redis named by MAILCORE_TEST_REDIS ("host:port"):
 * binary-safe commands, error replies, SELECT, unreachable servers and the
 * transparent reconnect after the server drops the connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-redis.h"

#include "mc-test.h"

static char key[64];

/* The test server: MAILCORE_TEST_REDIS ("host:port") and, when it asks
 * for one, MAILCORE_TEST_REDIS_PASSWORD; skips the test when unset. */
static struct mc_redis *test_connect(unsigned db)
{
	const char *env = mc_test_getenv("MAILCORE_TEST_REDIS");
	static char host[64];
	struct mc_redis_settings set = {
		.host = host,
		.db = db,
		.password = getenv("MAILCORE_TEST_REDIS_PASSWORD"),
	};
	const char *colon;

	if (env == NULL)
		skip();
	colon = strrchr(env, ':');
	assert_non_null(colon);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - env), env);
	set.port = (unsigned)atoi(colon + 1);
	return mc_redis_create(&set);
}

/* Runs a command that must succeed; returns the reply. */
static redisReply *must(struct mc_redis *redis, const char *fmt,
			const char *arg)
{
	struct mc_error err;
	redisReply *reply;

	mc_error_clear(&err);
	reply = mc_redis_command(redis, &err, fmt, arg);
	if (reply == NULL)
		fail_msg("%s: %s", fmt, err.msg);
	return reply;
}

/* Values with NUL bytes and CR/LF survive SET and GET. */
static void test_binary_safe(void **state)
{
	static const char val[] = "a\0b\r\nc\xff";
	struct mc_redis *redis = test_connect(0);
	const char *set_argv[] = {"SET", key, val};
	const size_t set_len[] = {3, strlen(key), sizeof(val) - 1};
	const char *get_argv[] = {"GET", key};
	const size_t get_len[] = {3, strlen(key)};
	struct mc_error err;
	redisReply *reply;

	(void)state;
	mc_error_clear(&err);
	reply = mc_redis_commandv(redis, 3, set_argv, set_len, &err);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STATUS);
	freeReplyObject(reply);
	reply = mc_redis_commandv(redis, 2, get_argv, get_len, &err);
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_STRING);
	assert_int_equal(reply->len, sizeof(val) - 1);
	assert_memory_equal(reply->str, val, sizeof(val) - 1);
	freeReplyObject(reply);
	freeReplyObject(must(redis, "DEL %s", key));
	assert_int_equal(mc_redis_ping(redis, &err), 0);
	mc_redis_destroy(&redis);
	assert_null(redis);
	mc_redis_destroy(&redis);
}

/* An error reply is PERMANENT, carries the text, and the connection stays
 * usable. */
static void test_error_reply(void **state)
{
	struct mc_redis *redis = test_connect(0);
	struct mc_error err;
	redisReply *reply;

	(void)state;
	freeReplyObject(must(redis, "SET %s notanumber", key));
	mc_error_clear(&err);
	assert_null(mc_redis_command(redis, &err, "INCR %s", key));
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_string_equal(
		err.msg, "redis: ERR value is not an integer or out of range");
	mc_error_clear(&err);
	assert_null(mc_redis_command(redis, &err, "NOSUCHCOMMAND"));
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_true(strncmp(err.msg, "redis: ERR", 10) == 0);
	reply = must(redis, "GET %s", key);
	assert_string_equal(reply->str, "notanumber");
	freeReplyObject(reply);
	freeReplyObject(must(redis, "DEL %s", key));
	mc_redis_destroy(&redis);
}

/* db selects the logical database on connect. */
static void test_select(void **state)
{
	struct mc_redis *db0 = test_connect(0), *db3 = test_connect(3);
	redisReply *reply;

	(void)state;
	freeReplyObject(must(db3, "SET %s three", key));
	reply = must(db0, "EXISTS %s", key);
	assert_int_equal(reply->integer, 0);
	freeReplyObject(reply);
	reply = must(db3, "GET %s", key);
	assert_string_equal(reply->str, "three");
	freeReplyObject(reply);
	freeReplyObject(must(db3, "DEL %s", key));
	mc_redis_destroy(&db0);
	mc_redis_destroy(&db3);
}

/* A closed port is TEMPORARY, for connect and for commands. */
static void test_unreachable(void **state)
{
	struct mc_redis_settings set = {
		.host = "127.0.0.1",
		.port = 1,
		.password = "hunter2",
		.timeout_ms = 500,
	};
	struct mc_redis *redis = mc_redis_create(&set);
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(mc_redis_connect(redis, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_true(strncmp(err.msg, "redis: ", 7) == 0);
	mc_error_clear(&err);
	assert_null(mc_redis_command(redis, &err, "PING"));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_null(strstr(err.msg, "hunter2"));
	mc_error_clear(&err);
	assert_int_equal(mc_redis_ping(redis, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_redis_destroy(&redis);
}

/* A failing AUTH fails the connect TEMPORARY without the password. */
static void test_auth_refused(void **state)
{
	struct mc_redis *probe = test_connect(0);
	struct mc_redis_settings set = {.password = "hunter2"};
	struct mc_redis *redis;
	struct mc_error err;
	const char *env = getenv("MAILCORE_TEST_REDIS");
	char host[64];

	(void)state;
	mc_redis_destroy(&probe);
	snprintf(host, sizeof(host), "%.*s", (int)(strrchr(env, ':') - env),
		 env);
	set.host = host;
	set.port = (unsigned)atoi(strrchr(env, ':') + 1);
	redis = mc_redis_create(&set);
	mc_error_clear(&err);
	assert_int_equal(mc_redis_connect(redis, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_true(strncmp(err.msg, "redis: AUTH failed: ", 20) == 0);
	assert_null(strstr(err.msg, "hunter2"));
	mc_redis_destroy(&redis);
}

/* This connection's client id. */
static long long client_id(struct mc_redis *redis)
{
	redisReply *reply = must(redis, "CLIENT ID", NULL);
	long long id = reply->integer;

	freeReplyObject(reply);
	return id;
}

/* After the server kills the connection the next command reconnects (and
 * selects the database again) transparently. */
static void test_reconnect(void **state)
{
	struct mc_redis *redis = test_connect(2), *killer = test_connect(0);
	struct mc_error err;
	redisReply *reply;
	char id[32];
	long long before;

	(void)state;
	freeReplyObject(must(redis, "SET %s two", key));
	before = client_id(redis);
	snprintf(id, sizeof(id), "%lld", before);
	reply = must(killer, "CLIENT KILL ID %s", id);
	assert_int_equal(reply->integer, 1);
	freeReplyObject(reply);
	mc_error_clear(&err);
	reply = mc_redis_command(redis, &err, "GET %s", key);
	assert_non_null(reply);
	assert_string_equal(reply->str, "two");
	freeReplyObject(reply);
	assert_true(client_id(redis) != before);
	freeReplyObject(must(redis, "DEL %s", key));
	mc_redis_destroy(&redis);
	mc_redis_destroy(&killer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binary_safe),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_auth_refused),
		cmocka_unit_test(test_reconnect),
	};

	/* A write to a socket the server closed must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(key, sizeof(key), "mc:test-redis:%ld:%ld", (long)getpid(),
		 (long)time(NULL));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
