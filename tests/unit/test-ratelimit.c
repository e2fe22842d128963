/* test-ratelimit: the sending-limit counters against the Redis named by
 * MAILCORE_TEST_REDIS (skipped when unset): sliding per-minute windows,
 * daily caps, per-IP counters apart from per-user ones, atomic take
 * under concurrency, key expiry, the once-per-window guard, and the
 * event sinks (memory always, Redis stream when available). Short
 * windows come from the settings, time from the explicit now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-events.h"
#include "mailcore/mc-ratelimit.h"
#include "mailcore/mc-redis.h"

#include "mc-test.h"

#define DB     11
#define WINDOW 10 /* seconds of a test "minute" */

/* A tenant id no other run uses, so keys never collide. */
static int64_t unique_tenant(void)
{
	static int64_t n;
	return (int64_t)getpid() * 100000 + (int64_t)(time(NULL) % 1000) * 100 +
	       ++n;
}

/* A Redis client, or skip. */
static struct mc_redis *redis_or_skip(void)
{
	struct mc_redis *r = mc_test_redis(DB);
	if (r == NULL)
		skip();
	return r;
}

/* A start time at the beginning of a test window. */
static time_t window_start(void)
{
	time_t now = time(NULL);
	return now - now % 86400 + 3600; /* inside today, window-aligned */
}

static const struct mc_ratelimit_settings base = {
	.minute_s = WINDOW,
	.notify_interval_s = 30,
};

/* Checks then records one message with rcpts recipients and bytes;
 * returns whether the check passed. */
static bool send_one(struct mc_redis *redis,
		     const struct mc_ratelimit_settings *set,
		     const struct mc_ratelimit_subject *subj, time_t now,
		     uint64_t rcpts, uint64_t bytes,
		     struct mc_ratelimit_verdict *v)
{
	struct mc_error err = {0};
	struct mc_ratelimit_amount check = {1, rcpts, bytes > 0 ? bytes : 1};
	struct mc_ratelimit_amount add = {1, rcpts, bytes};
	assert_int_equal(mc_ratelimit_check(redis, set, &set->limits, subj, now,
					    &check, v, &err),
			 0);
	if (v->over)
		return false;
	assert_int_equal(mc_ratelimit_record(redis, set, &set->limits, subj,
					     now, &add, &err),
			 0);
	return true;
}

static void test_minute_window(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_ratelimit_settings set = base;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 3;
	struct mc_ratelimit_subject subj = {unique_tenant(), 7,	  0, NULL,
					    "a@x.example",   NULL};
	struct mc_ratelimit_verdict v;
	time_t t0 = window_start();
	for (int i = 0; i < 3; i++)
		assert_true(send_one(redis, &set, &subj, t0 + i, 1, 10, &v));
	assert_false(send_one(redis, &set, &subj, t0 + 3, 1, 10, &v));
	assert_true(v.over);
	assert_int_equal(v.scope, MC_RL_USER);
	assert_int_equal(v.kind, MC_RL_MESSAGES_MINUTE);
	assert_int_equal(v.limit, 3);
	assert_int_equal(v.used, 3);
	/* sliding: at the start of the next window the last one still
	 * counts in full, near its end hardly at all */
	assert_false(send_one(redis, &set, &subj, t0 + WINDOW, 1, 10, &v));
	assert_true(
		send_one(redis, &set, &subj, t0 + 2 * WINDOW - 1, 1, 10, &v));
	/* two windows later nothing of it is left */
	for (int i = 0; i < 3; i++)
		assert_true(send_one(redis, &set, &subj, t0 + 4 * WINDOW, 1, 10,
				     &v));
	assert_false(send_one(redis, &set, &subj, t0 + 4 * WINDOW, 1, 10, &v));
	mc_redis_destroy(&redis);
}

static void test_recipients_and_daily_caps(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_ratelimit_settings set = base;
	set.limits.v[MC_RL_USER][MC_RL_RECIPIENTS_MINUTE] = 5;
	set.limits.v[MC_RL_DOMAIN][MC_RL_MESSAGES_DAY] = 4;
	set.limits.v[MC_RL_DOMAIN][MC_RL_BYTES_DAY] = 1000;
	int64_t tenant = unique_tenant();
	struct mc_ratelimit_subject subj = {tenant, 1, tenant, NULL, "u", "d"};
	struct mc_ratelimit_verdict v;
	struct mc_error err = {0};
	time_t t0 = window_start();
	assert_true(send_one(redis, &set, &subj, t0, 4, 100, &v));
	/* a fifth recipient passes, a sixth does not */
	struct mc_ratelimit_amount one = {0, 1, 0}, two = {0, 2, 0};
	assert_int_equal(mc_ratelimit_check(redis, &set, &set.limits, &subj, t0,
					    &one, &v, &err),
			 0);
	assert_false(v.over);
	assert_int_equal(mc_ratelimit_check(redis, &set, &set.limits, &subj, t0,
					    &two, &v, &err),
			 0);
	assert_true(v.over);
	assert_int_equal(v.kind, MC_RL_RECIPIENTS_MINUTE);
	/* the daily volume: 100 + 900 reaches 1000, then nothing more */
	assert_true(send_one(redis, &set, &subj, t0 + 100, 1, 900, &v));
	assert_false(send_one(redis, &set, &subj, t0 + 200, 1, 0, &v));
	assert_int_equal(v.scope, MC_RL_DOMAIN);
	assert_int_equal(v.kind, MC_RL_BYTES_DAY);
	assert_int_equal(v.used, 1000);
	/* the message count per day, under another domain-less volume */
	set.limits.v[MC_RL_DOMAIN][MC_RL_BYTES_DAY] = 0;
	assert_true(send_one(redis, &set, &subj, t0 + 300, 1, 1, &v));
	assert_true(send_one(redis, &set, &subj, t0 + 400, 1, 1, &v));
	assert_false(send_one(redis, &set, &subj, t0 + 500, 1, 1, &v));
	assert_int_equal(v.kind, MC_RL_MESSAGES_DAY);
	assert_int_equal(v.used, 4);
	/* the next day starts over */
	assert_true(send_one(redis, &set, &subj, t0 + 86400, 1, 1, &v));
	mc_redis_destroy(&redis);
}

static void test_ip_apart_from_user(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_ratelimit_settings set = base;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 5;
	set.limits.v[MC_RL_IP][MC_RL_MESSAGES_MINUTE] = 2;
	int64_t tenant = unique_tenant();
	char ip[64], ip2[64];
	snprintf(ip, sizeof(ip), "192.0.2.%lld", (long long)(tenant % 250));
	snprintf(ip2, sizeof(ip2), "2001:db8::%llx", (long long)tenant);
	struct mc_ratelimit_subject a = {tenant, 1, 0, ip, "a", NULL};
	struct mc_ratelimit_subject b = {tenant, 2, 0, ip, "b", NULL};
	struct mc_ratelimit_subject a2 = {tenant, 1, 0, ip2, "a", NULL};
	struct mc_ratelimit_subject relay = {tenant, 0, 0, ip, NULL, NULL};
	struct mc_ratelimit_verdict v;
	time_t t0 = window_start();
	assert_true(send_one(redis, &set, &a, t0, 1, 1, &v));
	assert_true(send_one(redis, &set, &b, t0, 1, 1, &v));
	/* the IP is spent, whoever sends from it */
	assert_false(send_one(redis, &set, &b, t0, 1, 1, &v));
	assert_int_equal(v.scope, MC_RL_IP);
	assert_false(send_one(redis, &set, &relay, t0, 1, 1, &v));
	assert_int_equal(v.scope, MC_RL_IP);
	/* the same user from elsewhere is fine, up to its own limit */
	for (int i = 0; i < 2; i++)
		assert_true(send_one(redis, &set, &a2, t0, 1, 1, &v));
	set.limits.v[MC_RL_IP][MC_RL_MESSAGES_MINUTE] = 0;
	for (int i = 0; i < 2; i++)
		assert_true(send_one(redis, &set, &a2, t0, 1, 1, &v));
	assert_false(send_one(redis, &set, &a2, t0, 1, 1, &v));
	assert_int_equal(v.scope, MC_RL_USER);
	assert_int_equal(v.used, 5);
	mc_redis_destroy(&redis);
}

struct taker {
	const struct mc_ratelimit_settings *set;
	const struct mc_ratelimit_subject *subj;
	time_t now;
	int taken;
};

/* A thread taking one message at a time on its own connection. */
static void *take_loop(void *arg)
{
	struct taker *t = arg;
	struct mc_redis *redis = mc_test_redis(DB);
	struct mc_ratelimit_amount one = {1, 3, 0};
	for (int i = 0; i < 20; i++) {
		struct mc_ratelimit_verdict v;
		struct mc_error err = {0};
		if (mc_ratelimit_take(redis, t->set, &t->set->limits, t->subj,
				      t->now, &one, &v, &err) == 0 &&
		    !v.over)
			t->taken++;
	}
	mc_redis_destroy(&redis);
	return NULL;
}

static void test_take_is_atomic(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_ratelimit_settings set = base;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 50;
	set.limits.v[MC_RL_USER][MC_RL_RECIPIENTS_MINUTE] = 1000;
	struct mc_ratelimit_subject subj = {
		unique_tenant(), 3, 0, NULL, "c", NULL};
	struct taker t[8];
	pthread_t th[8];
	time_t t0 = window_start();
	for (int i = 0; i < 8; i++) {
		t[i] = (struct taker){&set, &subj, t0, 0};
		assert_int_equal(pthread_create(&th[i], NULL, take_loop, &t[i]),
				 0);
	}
	int total = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += t[i].taken;
	}
	assert_int_equal(total, 50);
	/* the recipients moved with the messages, never alone */
	struct mc_ratelimit_verdict v;
	struct mc_error err = {0};
	struct mc_ratelimit_amount rc = {0, 1000 - 150 + 1, 0};
	assert_int_equal(mc_ratelimit_check(redis, &set, &set.limits, &subj, t0,
					    &rc, &v, &err),
			 0);
	assert_true(v.over);
	assert_int_equal(v.kind, MC_RL_RECIPIENTS_MINUTE);
	assert_int_equal(v.used, 150);
	mc_redis_destroy(&redis);
}

static void test_keys_expire(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_ratelimit_settings set = base;
	set.day_s = 100;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 9;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_DAY] = 9;
	int64_t tenant = unique_tenant();
	struct mc_ratelimit_subject subj = {tenant, 4, 0, NULL, "e", NULL};
	struct mc_ratelimit_verdict v;
	struct mc_error err = {0};
	time_t t0 = window_start();
	assert_true(send_one(redis, &set, &subj, t0, 1, 1, &v));
	const struct {
		const char *tag;
		long long len;
	} keys[] = {{"mm", WINDOW}, {"md", 100}};
	for (size_t i = 0; i < 2; i++) {
		redisReply *r = mc_redis_command(redis, &err,
						 "TTL mc:rl:u:%lld:4:%s:%lld",
						 (long long)tenant, keys[i].tag,
						 (long long)t0 / keys[i].len);
		assert_non_null(r);
		assert_true(r->integer > 0 && r->integer <= 2 * keys[i].len);
		freeReplyObject(r);
	}
	/* nothing is written for unlimited kinds or scopes */
	redisReply *r =
		mc_redis_command(redis, &err, "EXISTS mc:rl:u:%lld:4:rm:%lld",
				 (long long)tenant, (long long)t0 / WINDOW);
	assert_non_null(r);
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
	mc_redis_destroy(&redis);
}

static void test_notify_once(void **state)
{
	(void)state;
	struct mc_redis *redis = redis_or_skip();
	struct mc_error err = {0};
	char key[64];
	snprintf(key, sizeof(key), "test:%lld", (long long)unique_tenant());
	assert_int_equal(mc_ratelimit_notify_once(redis, &base, key, &err), 1);
	assert_int_equal(mc_ratelimit_notify_once(redis, &base, key, &err), 0);
	redisReply *r = mc_redis_command(redis, &err, "TTL mc:rl:n:%s", key);
	assert_non_null(r);
	assert_true(r->integer > 0 && r->integer <= 30);
	freeReplyObject(r);
	mc_redis_destroy(&redis);
}

static void test_redis_down_fails_open(void **state)
{
	(void)state;
	struct mc_redis_settings rs = {.host = "127.0.0.1",
				       .port = (unsigned)mc_test_free_port(),
				       .timeout_ms = 200};
	struct mc_redis *redis = mc_redis_create(&rs);
	struct mc_ratelimit_settings set = base;
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 1;
	struct mc_ratelimit_subject subj = {1, 1, 0, NULL, NULL, NULL};
	struct mc_ratelimit_amount one = {1, 0, 0};
	struct mc_ratelimit_verdict v = {.over = true};
	struct mc_error err = {0};
	assert_int_equal(mc_ratelimit_check(redis, &set, &set.limits, &subj, 0,
					    &one, &v, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	/* no limit at all: no Redis call, no error */
	set.limits.v[MC_RL_USER][MC_RL_MESSAGES_MINUTE] = 0;
	assert_int_equal(mc_ratelimit_record(redis, &set, &set.limits, &subj, 0,
					     &one, &err),
			 0);
	mc_redis_destroy(&redis);
}

static void test_replies(void **state)
{
	(void)state;
	static const struct {
		enum mc_ratelimit_scope scope;
		enum mc_ratelimit_kind kind;
		unsigned code;
		const char *enh, *text;
	} cases[] = {
		{MC_RL_USER, MC_RL_MESSAGES_MINUTE, 451, "4.7.1",
		 "Too many messages per minute from this user; try again "
		 "later"},
		{MC_RL_IP, MC_RL_RECIPIENTS_MINUTE, 451, "4.7.1",
		 "Too many recipients per minute from this IP address; try "
		 "again later"},
		{MC_RL_DOMAIN, MC_RL_MESSAGES_DAY, 550, "5.7.1",
		 "Daily message limit reached for this domain"},
		{MC_RL_USER, MC_RL_BYTES_DAY, 550, "5.7.1",
		 "Daily sending volume limit reached for this user"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_ratelimit_verdict v = {true, cases[i].scope,
						 cases[i].kind, 1, 1};
		const char *enh, *text;
		assert_int_equal(mc_ratelimit_reply(&v, &enh, &text),
				 cases[i].code);
		assert_string_equal(enh, cases[i].enh);
		assert_string_equal(text, cases[i].text);
	}
	assert_string_equal(mc_ratelimit_kind_name(MC_RL_BYTES_DAY),
			    "bytes_per_day");
	assert_string_equal(mc_ratelimit_scope_name(MC_RL_IP), "ip");
}

static void test_memory_events(void **state)
{
	(void)state;
	struct mc_events *ev = mc_events_memory_create();
	struct mc_error err = {0};
	struct mc_event e;
	json_t *data = json_pack("{si ss}", "used", 3, "scope", "user");
	assert_string_equal(mc_events_backend_name(ev), "memory");
	assert_int_equal(mc_events_emit(ev, MC_EVENT_LIMIT_HIT, 42, data, &err),
			 0);
	assert_int_equal(
		mc_events_emit(ev, MC_EVENT_QUEUE_DEFERRED, 0, NULL, &err), 0);
	assert_int_equal(mc_events_memory_count(ev), 2);
	assert_true(mc_events_memory_get(ev, 0, &e));
	assert_string_equal(e.type, "limit.hit");
	assert_int_equal(e.tenant_id, 42);
	assert_string_equal(e.json, "{\"scope\":\"user\",\"used\":3}");
	assert_true(mc_events_memory_get(ev, 1, &e));
	assert_string_equal(e.json, "{}");
	assert_false(mc_events_memory_get(ev, 2, &e));
	/* the ring keeps the last 1000 */
	for (int i = 0; i < 1000; i++)
		mc_events_emit(ev, "x", i, data, &err);
	assert_int_equal(mc_events_memory_count(ev), 1000);
	assert_true(mc_events_memory_get(ev, 0, &e));
	assert_string_equal(e.type, "x");
	assert_int_equal(e.tenant_id, 0);
	/* no sink: nothing happens */
	assert_int_equal(mc_events_emit(NULL, "x", 0, data, &err), 0);
	json_decref(data);
	mc_events_destroy(&ev);
	assert_null(ev);
	mc_events_destroy(&ev);
}

static void test_redis_events(void **state)
{
	(void)state;
	struct mc_redis *check = redis_or_skip();
	struct mc_events *ev = mc_events_redis_create(mc_test_redis(DB));
	struct mc_error err = {0};
	char type[64];
	snprintf(type, sizeof(type), "test.%lld", (long long)unique_tenant());
	json_t *data = json_pack("{si}", "n", 1);
	assert_int_equal(mc_events_emit(ev, type, 9, data, &err), 0);
	json_decref(data);
	redisReply *r = mc_redis_command(check, &err,
					 "XREVRANGE mc:events + - COUNT 1");
	assert_non_null(r);
	assert_int_equal(r->elements, 1);
	redisReply *fields = r->element[0]->element[1];
	assert_int_equal(fields->elements, 6);
	const char *want[] = {"type", type, "tenant", "9", "json", "{\"n\":1}"};
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(fields->element[i]->str, want[i]);
	freeReplyObject(r);
	mc_events_destroy(&ev);
	mc_redis_destroy(&check);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minute_window),
		cmocka_unit_test(test_recipients_and_daily_caps),
		cmocka_unit_test(test_ip_apart_from_user),
		cmocka_unit_test(test_take_is_atomic),
		cmocka_unit_test(test_keys_expire),
		cmocka_unit_test(test_notify_once),
		cmocka_unit_test(test_redis_down_fails_open),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_memory_events),
		cmocka_unit_test(test_redis_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
