/* test-policy: the policy resolver against a real PostgreSQL (a fresh
 * schema with resellers, tenants, a department tree and named policies)
 * and Redis: first match in position order, department subtrees, members,
 * the selector-less default, fall-through to the domain and the server,
 * ceilings of departments, tenants and resellers, protocols, the JSON,
 * the cache and its invalidation, outages; then the daily counters and
 * the attachment scanner (which need no database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"

#include "mc-test.h"

#define REDIS_DB 12

static char schema[96];
static struct mc_pg *pg;

static const struct mc_policy_settings server = {
	.attachment_max_bytes = 5000000,
	.daily_send_count = 100,
};

/* Resellers r1 > r2 > tenant t1 (one.test, alias.test); tenant t2
 * (two.test). Departments Sales > EMEA > Paris, Support. */
static const char *const fixture[] = {
	"INSERT INTO resellers (name, lim_send_bytes) VALUES ('r1', 9000)",
	"INSERT INTO resellers (name, parent_id, lim_send_count) SELECT 'r2', "
	"id, 40 FROM resellers WHERE name = 'r1'",
	"INSERT INTO tenants (name, reseller_id, lim_message_bytes) SELECT "
	"'t1', id, 10000000 FROM resellers WHERE name = 'r2'",
	"INSERT INTO tenants (name) VALUES ('t2')",
	"INSERT INTO domains (tenant_id, name, lim_send_count, "
	"max_message_bytes) SELECT id, 'one.test', 50, 20000000 FROM tenants "
	"WHERE name = 't1'",
	"INSERT INTO domains (tenant_id, name, alias_for) SELECT tenant_id, "
	"'alias.test', id FROM domains WHERE name = 'one.test'",
	"INSERT INTO domains (tenant_id, name, attachment_max_bytes, "
	"internal_only, protocols, lim_send_bytes) SELECT id, 'two.test', "
	"3000, true, '{imap}', 1234 FROM tenants WHERE name = 't2'",
	"INSERT INTO departments (tenant_id, domain_id, name) SELECT "
	"tenant_id, id, 'Sales' FROM domains WHERE name = 'one.test'",
	"INSERT INTO departments (tenant_id, domain_id, name) SELECT "
	"tenant_id, id, 'Support' FROM domains WHERE name = 'one.test'",
	"INSERT INTO departments (tenant_id, domain_id, parent_id, name, "
	"lim_message_bytes) SELECT tenant_id, domain_id, id, 'EMEA', 5000000 "
	"FROM departments WHERE name = 'Sales'",
	"INSERT INTO departments (tenant_id, domain_id, parent_id, name, "
	"lim_send_count) SELECT tenant_id, domain_id, id, 'Paris', 2 FROM "
	"departments WHERE name = 'EMEA'",
	"INSERT INTO users (tenant_id, domain_id, local_part, password_hash, "
	"department_id, protocols) SELECT d.tenant_id, d.id, v.l, 'x', "
	"(SELECT id FROM departments WHERE name = v.dep), v.p::text[] FROM "
	"domains d, (VALUES ('alice', 'Paris', '{imap,pop3,smtp,webmail}'), "
	"('dave', 'EMEA', '{imap,pop3,smtp,webmail}'), ('bob', 'Support', "
	"'{imap,pop3}'), ('erin', NULL, '{imap,pop3,smtp,webmail}'), "
	"('carol', NULL, '{imap,pop3,smtp,webmail}')) v(l, dep, p) WHERE "
	"d.name = 'one.test'",
	"INSERT INTO users (tenant_id, domain_id, local_part, password_hash) "
	"SELECT tenant_id, id, 'zed', 'x' FROM domains WHERE name = "
	"'two.test'",
	"INSERT INTO policies (tenant_id, domain_id, name, position, "
	"departments, attachment_max_bytes, send_count_daily) SELECT "
	"tenant_id, domain_id, 'paris', 0, ARRAY[id], 2000, 3 FROM "
	"departments WHERE name = 'Paris'",
	"INSERT INTO policies (tenant_id, domain_id, name, position, "
	"departments, attachment_max_bytes, protocols) SELECT tenant_id, "
	"domain_id, 'sales', 1, ARRAY[id], 1000, '{imap,smtp}' FROM "
	"departments WHERE name = 'Sales'",
	"INSERT INTO policies (tenant_id, domain_id, name, position, members, "
	"send_count_daily, internal_only, protocols) SELECT tenant_id, id, "
	"'members', 2, '{erin}', 5, true, '{pop3,smtp}' FROM domains WHERE "
	"name = 'one.test'",
	"INSERT INTO policies (tenant_id, domain_id, name, position, "
	"send_bytes_daily) SELECT tenant_id, id, 'everyone', 3, 7777 FROM "
	"domains WHERE name = 'one.test'",
	"INSERT INTO policies (tenant_id, domain_id, name, position, members, "
	"internal_only) SELECT tenant_id, id, 'never', 4, '{carol}', true "
	"FROM domains WHERE name = 'one.test'",
	NULL,
};

static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("policy", schema, sizeof(schema));
	for (size_t i = 0; pg != NULL && fixture[i] != NULL; i++)
		mc_test_sql(pg, fixture[i]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

#define SRV MC_POLICY_SRC_SERVER
#define POL MC_POLICY_SRC_POLICY
#define DOM MC_POLICY_SRC_DOMAIN
#define DEP MC_POLICY_SRC_DEPARTMENT
#define TEN MC_POLICY_SRC_TENANT
#define RES MC_POLICY_SRC_RESELLER
#define ALL                                                                    \
	(MC_DIR_PROTO_IMAP | MC_DIR_PROTO_POP3 | MC_DIR_PROTO_SMTP |           \
	 MC_DIR_PROTO_WEBMAIL)

/* What a user's effective policy must be; sources in field order
 * (attachment, count, bytes, internal, protocols, message). */
struct expect {
	const char *address, *name;
	uint64_t attach, count, bytes;
	bool internal;
	unsigned protocols;
	uint64_t message;
	enum mc_policy_source src[MC_POLICY_F_COUNT];
};

static const struct expect cases[] = {
	/* Paris matches "paris" (position 0) before "sales"; Paris caps the
	 * count, EMEA the size, r1 (two levels up) the bytes */
	{"alice@one.test",
	 "paris",
	 2000,
	 2,
	 9000,
	 false,
	 ALL,
	 5000000,
	 {POL, DEP, RES, SRV, DOM, DEP}},
	/* EMEA is in the subtree of Sales; r2 caps the domain's count */
	{"dave@one.test",
	 "sales",
	 1000,
	 40,
	 9000,
	 false,
	 MC_DIR_PROTO_IMAP | MC_DIR_PROTO_SMTP,
	 5000000,
	 {POL, RES, RES, SRV, POL, DEP}},
	/* the default policy; the user's own switch narrows protocols */
	{"bob@one.test",
	 "everyone",
	 5000000,
	 40,
	 7777,
	 false,
	 MC_DIR_PROTO_IMAP | MC_DIR_PROTO_POP3,
	 10000000,
	 {SRV, RES, POL, SRV, DOM, TEN}},
	/* a member */
	{"erin@one.test",
	 "members",
	 5000000,
	 5,
	 9000,
	 true,
	 MC_DIR_PROTO_POP3 | MC_DIR_PROTO_SMTP,
	 10000000,
	 {SRV, POL, RES, POL, POL, TEN}},
	/* "everyone" comes before "never", which lists carol */
	{"Carol@Alias.Test",
	 "everyone",
	 5000000,
	 40,
	 7777,
	 false,
	 ALL,
	 10000000,
	 {SRV, RES, POL, SRV, DOM, TEN}},
	/* no policy, no ceilings: the domain's settings, else the server's */
	{"zed@two.test",
	 "",
	 3000,
	 100,
	 1234,
	 true,
	 MC_DIR_PROTO_IMAP,
	 0,
	 {DOM, SRV, DOM, DOM, DOM, SRV}},
};

/* Checks one resolved policy against its expectation. */
static void check(const struct expect *e, const struct mc_policy *p)
{
	if (strcmp(p->name, e->name) != 0 ||
	    p->attachment_max_bytes != e->attach ||
	    p->daily_send_count != e->count ||
	    p->daily_send_bytes != e->bytes ||
	    p->internal_only != e->internal || p->protocols != e->protocols ||
	    p->message_bytes != e->message)
		fail_msg("%s: %s %llu %llu %llu %d %x %llu", e->address,
			 p->name, (unsigned long long)p->attachment_max_bytes,
			 (unsigned long long)p->daily_send_count,
			 (unsigned long long)p->daily_send_bytes,
			 p->internal_only, p->protocols,
			 (unsigned long long)p->message_bytes);
	for (int f = 0; f < MC_POLICY_F_COUNT; f++)
		if (p->sources[f] != e->src[f])
			fail_msg("%s: %s from %s, expected %s", e->address,
				 mc_policy_field_name(f),
				 mc_policy_source_name(p->sources[f]),
				 mc_policy_source_name(e->src[f]));
}

/* Every case resolves as expected from the database (no cache). */
static void test_resolution(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_policy p;
		struct mc_error err = {0};
		int r = mc_policy_resolve_address(pg, NULL, &server,
						  cases[i].address, &p, &err);
		if (r != 1)
			fail_msg("%s: %d %s", cases[i].address, r, err.msg);
		check(&cases[i], &p);
	}
}

/* Unknown users are 0, not errors. */
static void test_unknown(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	static const char *const addrs[] = {"nobody@one.test", "alice@x.test",
					    "alice", "alice@one.test@x", ""};
	struct mc_policy p;
	struct mc_error err = {0};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		assert_int_equal(mc_policy_resolve_address(pg, NULL, &server,
							   addrs[i], &p, &err),
				 0);
	assert_int_equal(
		mc_policy_resolve(pg, NULL, &server, 1, 999999, &p, &err), 0);
}

/* The REST API's JSON of a policy. */
static void test_json(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_policy p;
	struct mc_error err = {0};
	assert_int_equal(mc_policy_resolve_address(pg, NULL, &server,
						   "dave@one.test", &p, &err),
			 1);
	json_t *o = mc_policy_to_json(&p);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
		s, "{\"attachment_max_bytes\":1000,\"daily_send_bytes\":9000,"
		   "\"daily_send_count\":40,\"internal_only\":false,"
		   "\"message_bytes\":5000000,\"policy\":\"sales\","
		   "\"protocols\":[\"imap\",\"smtp\"],\"sources\":{"
		   "\"attachment_max_bytes\":\"policy\",\"daily_send_bytes\":"
		   "\"reseller\",\"daily_send_count\":\"reseller\","
		   "\"internal_only\":\"server\",\"message_bytes\":"
		   "\"department\",\"protocols\":\"policy\"}}");
	free(s);
	json_decref(o);
	assert_int_equal(mc_policy_resolve_address(pg, NULL, &server,
						   "zed@two.test", &p, &err),
			 1);
	o = mc_policy_to_json(&p);
	assert_true(json_is_null(json_object_get(o, "policy")));
	json_decref(o);
}

/* The user's ids of an address. */
static void ids(const char *local, int64_t *tenant, int64_t *user)
{
	char q[160];
	snprintf(q, sizeof(q),
		 "SELECT tenant_id FROM users WHERE local_part = '%s'", local);
	*tenant = mc_test_num(pg, q);
	snprintf(q, sizeof(q), "SELECT id FROM users WHERE local_part = '%s'",
		 local);
	*user = mc_test_num(pg, q);
}

/* bob's daily byte limit through redis (cached or not). */
static uint64_t bob_bytes(struct mc_redis *redis)
{
	int64_t t, u;
	ids("bob", &t, &u);
	struct mc_policy p;
	struct mc_error err = {0};
	if (mc_policy_resolve(pg, redis, &server, t, u, &p, &err) != 1)
		fail_msg("bob: %s", err.msg);
	return p.daily_send_bytes;
}

/* A cached policy survives a change until the directory is invalidated;
 * the cached copy equals the database's in every field. */
static void test_cache(void **state)
{
	(void)state;
	struct mc_redis *redis = mc_test_redis(REDIS_DB);
	if (pg == NULL || redis == NULL)
		skip();
	struct mc_error err = {0};
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int round = 0; round < 2; round++) { /* miss, then hit */
			struct mc_policy p;
			assert_int_equal(mc_policy_resolve_address(
						 pg, redis, &server,
						 cases[i].address, &p, &err),
					 1);
			check(&cases[i], &p);
		}
	}
	assert_int_equal(bob_bytes(redis), 7777);
	mc_test_sql(pg, "UPDATE policies SET send_bytes_daily = 1111 WHERE "
			"name = 'everyone'");
	assert_int_equal(bob_bytes(redis), 7777); /* the cached answer */
	assert_int_equal(bob_bytes(NULL), 1111);
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(bob_bytes(redis), 1111);
	mc_test_sql(pg, "UPDATE policies SET send_bytes_daily = 7777 WHERE "
			"name = 'everyone'");
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(bob_bytes(redis), 7777);
	mc_redis_destroy(&redis);
}

/* Redis down: answers from the database. PostgreSQL down: temporary. */
static void test_outages(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_redis_settings rs = {.host = "127.0.0.1",
				       .port = (unsigned)mc_test_free_port(),
				       .timeout_ms = 200};
	struct mc_redis *dead_redis = mc_redis_create(&rs);
	struct mc_policy p;
	struct mc_error err = {0};
	assert_int_equal(mc_policy_resolve_address(pg, dead_redis, &server,
						   "alice@one.test", &p, &err),
			 1);
	check(&cases[0], &p);
	char conninfo[96];
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d connect_timeout=1",
		 mc_test_free_port());
	struct mc_pg_settings ps = {.conninfo = conninfo};
	struct mc_pg *dead_pg = mc_pg_create(&ps);
	assert_int_equal(
		mc_policy_resolve(dead_pg, dead_redis, &server, 1, 1, &p, &err),
		-1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_pg_destroy(&dead_pg);
	mc_redis_destroy(&dead_redis);
}

/* Daily counters add up per UTC day; the next day starts at zero. */
static void test_send_counters(void **state)
{
	(void)state;
	struct mc_redis *redis = mc_test_redis(REDIS_DB);
	if (redis == NULL)
		skip();
	time_t day = 1700000000 - 1700000000 % 86400; /* a UTC midnight */
	int64_t user = (int64_t)getpid();
	uint64_t n, b;
	struct mc_error err = {0};
	assert_int_equal(
		mc_policy_send_usage(redis, 77, user, day + 10, &n, &b, &err),
		0);
	assert_true(n == 0 && b == 0);
	assert_int_equal(
		mc_policy_send_record(redis, 77, user, day + 10, 100, &err), 0);
	assert_int_equal(
		mc_policy_send_record(redis, 77, user, day + 86399, 250, &err),
		0);
	assert_int_equal(
		mc_policy_send_usage(redis, 77, user, day + 500, &n, &b, &err),
		0);
	assert_true(n == 2 && b == 350);
	assert_int_equal(mc_policy_send_usage(redis, 77, user, day + 86400, &n,
					      &b, &err),
			 0);
	assert_true(n == 0 && b == 0);
	redisReply *r = mc_redis_command(redis, &err, "DEL mc:send:77:%lld:%s",
					 (long long)user, "20231114");
	assert_non_null(r);
	assert_int_equal(r->integer, 1); /* the key is the documented one */
	freeReplyObject(r);
	mc_redis_destroy(&redis);
}

/* Whether what was sent reaches a limit. */
static void test_send_exhausted(void **state)
{
	(void)state;
	static const struct {
		uint64_t count_limit, bytes_limit, sent, bytes;
		bool exhausted;
	} t[] = {
		{0, 0, 1000000, 1ull << 40, false},
		{3, 0, 2, 0, false},
		{3, 0, 3, 0, true},
		{0, 100, 50, 99, false},
		{0, 100, 1, 100, true},
		{5, 100, 4, 120, true},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mc_policy p = {.daily_send_count = t[i].count_limit,
				      .daily_send_bytes = t[i].bytes_limit};
		assert_int_equal(
			mc_policy_send_exhausted(&p, t[i].sent, t[i].bytes),
			t[i].exhausted);
	}
}

#define MIXED                                                                  \
	"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "    \
	"boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"          \
	"a long enough text body, not an attachment\r\n--XX\r\n"

static const struct {
	const char *msg;
	uint64_t limit;
	bool over;
	const char *name;
	uint64_t size;
} attach_cases[] = {
	/* base64 "0123456789AB": 12 decoded bytes */
	{MIXED
	 "Content-Type: application/octet-stream\r\nContent-"
	 "Disposition: attachment; filename=\"a.bin\"\r\nContent-"
	 "Transfer-Encoding: base64\r\n\r\nMDEyMzQ1Njc4OUFC\r\n--XX--\r\n",
	 10, true, "a.bin", 12},
	{MIXED
	 "Content-Type: application/octet-stream\r\nContent-"
	 "Disposition: attachment; filename=\"a.bin\"\r\nContent-"
	 "Transfer-Encoding: base64\r\n\r\nMDEyMzQ1Njc4OUFC\r\n--XX--\r\n",
	 12, false, "", 0},
	/* the disposition alone marks it */
	{MIXED "Content-Type: image/png\r\nContent-Disposition: attachment"
	       "\r\n\r\n0123456789abcdef\r\n--XX--\r\n",
	 10, true, "", 16},
	/* Content-Type's name */
	{MIXED "Content-Type: application/pdf; name=\"r.pdf\"\r\n\r\n"
	       "0123456789abcdef\r\n--XX--\r\n",
	 10, true, "r.pdf", 16},
	/* an inline part without a name is not an attachment */
	{MIXED "Content-Type: image/png\r\nContent-Disposition: inline\r\n\r\n"
	       "0123456789abcdef\r\n--XX--\r\n",
	 10, false, "", 0},
	/* a large text body alone */
	{"Subject: x\r\n\r\n0123456789012345678901234567890123456789\r\n", 10,
	 false, "", 0},
	/* the first offending part is named */
	{MIXED "Content-Disposition: attachment; filename=one.txt\r\n\r\n"
	       "0123456789abcdef\r\n--XX\r\nContent-Disposition: attachment; "
	       "filename=two.txt\r\n\r\n0123456789abcdef\r\n--XX--\r\n",
	 10, true, "one.txt", 16},
};

/* Runs the scanner over msg, whole or one byte at a time. */
static bool scan(const char *msg, uint64_t limit, bool bytewise, char *name_r,
		 size_t name_size, uint64_t *size_r)
{
	struct mc_policy_attach *a = mc_policy_attach_create(limit);
	size_t len = strlen(msg);
	if (bytewise)
		for (size_t i = 0; i < len; i++)
			mc_policy_attach_feed(a, msg + i, 1);
	else
		mc_policy_attach_feed(a, msg, len);
	const char *name;
	bool over = mc_policy_attach_finish(a, &name, size_r);
	snprintf(name_r, name_size, "%s", name);
	mc_policy_attach_destroy(&a);
	assert_null(a);
	return over;
}

/* Attachments over the limit are found, whatever the feeding. */
static void test_attachments(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(attach_cases) / sizeof(attach_cases[0]);
	     i++) {
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			char name[64];
			uint64_t size = 0;
			bool over =
				scan(attach_cases[i].msg, attach_cases[i].limit,
				     bytewise, name, sizeof(name), &size);
			if (over != attach_cases[i].over ||
			    strcmp(name, attach_cases[i].name) != 0 ||
			    size != attach_cases[i].size)
				fail_msg("case %zu/%d: %d %s %llu", i, bytewise,
					 over, name, (unsigned long long)size);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolution),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_outages),
		cmocka_unit_test(test_send_counters),
		cmocka_unit_test(test_send_exhausted),
		cmocka_unit_test(test_attachments),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
