/* test-bcc: the automatic BCC rule matcher against a real PostgreSQL (a
 * fresh schema with two tenants, a domain alias and rules of every
 * direction) and Redis: directions, '*', local parts as given (case,
 * "+detail", domain alias), dedupe by target, rule tenants, the target
 * limit, the cache (empty lists included) and its invalidation, outages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-bcc.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"

#include "mc-test.h"

#define REDIS_DB 14

static char schema[96];
static struct mc_pg *pg;
static const struct mc_directory_settings cached = {.cache_ttl_s = 60};

/* Tenant t1: one.test with alias.test, three.test; tenant t2: two.test.
 * Rules of one.test, in id order: alice in -> arch, alice out -> out,
 * '*' both -> all, bob in -> arch, carol in -> Arch (case); two.test:
 * zed in -> z@two.test; three.test: 101 '*' in rules. */
static const char *const fixture[] = {
	"INSERT INTO tenants (name) VALUES ('t1'), ('t2')",
	"INSERT INTO domains (tenant_id, name) SELECT id, 'one.test' FROM "
	"tenants WHERE name = 't1'",
	"INSERT INTO domains (tenant_id, name, alias_for) SELECT tenant_id, "
	"'alias.test', id FROM domains WHERE name = 'one.test'",
	"INSERT INTO domains (tenant_id, name) SELECT id, 'three.test' FROM "
	"tenants WHERE name = 't1'",
	"INSERT INTO domains (tenant_id, name) SELECT id, 'two.test' FROM "
	"tenants WHERE name = 't2'",
	"INSERT INTO bcc_rules (tenant_id, domain_id, direction, local_part, "
	"target) SELECT d.tenant_id, d.id, v.d, v.l, v.t FROM domains d, "
	"(VALUES (1, 'in', 'alice', 'arch@one.test'), (2, 'out', 'alice', "
	"'out@ext.example'), (3, 'both', '*', 'all@one.test'), (4, 'in', "
	"'bob', 'arch@one.test'), (5, 'in', 'carol', 'Arch@One.test')) "
	"v(o, d, l, t) WHERE d.name = 'one.test' ORDER BY v.o",
	"INSERT INTO bcc_rules (tenant_id, domain_id, direction, local_part, "
	"target) SELECT tenant_id, id, 'in', 'zed', 'z@two.test' FROM "
	"domains WHERE name = 'two.test'",
	"INSERT INTO bcc_rules (tenant_id, domain_id, direction, local_part, "
	"target) SELECT tenant_id, id, 'in', '*', 'c' || g || '@x.example' "
	"FROM domains, generate_series(1, 101) g WHERE name = 'three.test' "
	"ORDER BY g",
	NULL,
};

static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("bcc", schema, sizeof(schema));
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

#define IN  MC_BCC_IN
#define OUT MC_BCC_OUT

/* One case: up to 3 keys, the targets expected in order ("" ends). */
struct bcc_case {
	struct mc_bcc_key keys[3];
	size_t nkeys;
	const char *want[4];
	const char *tenant_of_last; /* the tenant name of the last target */
};

static const struct bcc_case cases[] = {
	{{{IN, "alice@one.test"}}, 1, {"arch@one.test", "all@one.test"}, "t1"},
	{{{OUT, "alice@one.test"}},
	 1,
	 {"out@ext.example", "all@one.test"},
	 "t1"},
	{{{IN, "dave@one.test"}}, 1, {"all@one.test"}, "t1"},
	{{{OUT, "dave@one.test"}}, 1, {"all@one.test"}, "t1"},
	{{{IN, "Alice+News@ALIAS.test"}},
	 1,
	 {"arch@one.test", "all@one.test"},
	 "t1"},
	{{{IN, "alice@one.test"}, {IN, "bob@one.test"}},
	 2,
	 {"arch@one.test", "all@one.test"},
	 "t1"},
	{{{IN, "carol@one.test"}}, 1, {"all@one.test", "arch@one.test"}, "t1"},
	{{{IN, "zed@two.test"}}, 1, {"z@two.test"}, "t2"},
	{{{OUT, "zed@two.test"}}, 1, {NULL}, NULL},
	{{{IN, "alice@nowhere.example"}, {IN, "no-at-sign"}, {IN, "@one.test"}},
	 3,
	 {NULL},
	 NULL},
	{{{OUT, "bob@one.test"}, {IN, "zed@two.test"}, {IN, "alice@one.test"}},
	 3,
	 {"all@one.test", "z@two.test", "arch@one.test"},
	 "t1"},
};

/* The id of tenant name. */
static int64_t tenant_id(const char *name)
{
	char q[96];
	snprintf(q, sizeof(q), "SELECT id FROM tenants WHERE name = '%s'",
		 name);
	return mc_test_num(pg, q);
}

/* Runs case c through mc_bcc_match and checks the targets. */
static void check_case(struct mc_redis *redis, const struct bcc_case *c,
		       size_t index)
{
	struct mc_pool *pool = mc_pool_create("test-bcc", 1024);
	struct mc_bcc_target *t;
	size_t n = 99, want = 0;
	struct mc_error err = {0};
	if (mc_bcc_match(pg, redis, &cached, pool, c->keys, c->nkeys, &t, &n,
			 &err) < 0)
		fail_msg("case %zu: %s", index, err.msg);
	while (want < 4 && c->want[want] != NULL)
		want++;
	if (n != want)
		fail_msg("case %zu: %zu targets, want %zu", index, n, want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(t[i].address, c->want[i]);
	if (n > 0)
		assert_int_equal(t[n - 1].tenant_id,
				 tenant_id(c->tenant_of_last));
	mc_pool_destroy(&pool);
}

/* Every case from the database alone. */
static void test_match(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(NULL, &cases[i], i);
}

/* The number of targets of one IN key, through redis (may be NULL). */
static size_t targets_of(struct mc_redis *redis, const char *address)
{
	struct mc_pool *pool = mc_pool_create("test-bcc", 1024);
	struct mc_bcc_key k = {IN, address};
	struct mc_bcc_target *t;
	size_t n;
	struct mc_error err = {0};
	if (mc_bcc_match(pg, redis, &cached, pool, &k, 1, &t, &n, &err) < 0)
		fail_msg("%s: %s", address, err.msg);
	mc_pool_destroy(&pool);
	return n;
}

/* At most MC_BCC_MAX_TARGETS targets. */
static void test_limit(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(targets_of(NULL, "anyone@three.test"),
			 MC_BCC_MAX_TARGETS);
}

/* Cached lists (hits equal misses, an empty one included) survive a new
 * rule until the directory is invalidated. */
static void test_cache(void **state)
{
	(void)state;
	struct mc_redis *redis = mc_test_redis(REDIS_DB);
	if (pg == NULL || redis == NULL)
		skip();
	struct mc_error err = {0};
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	for (int round = 0; round < 2; round++) { /* miss, then hit */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			check_case(redis, &cases[i], i);
	}
	assert_int_equal(targets_of(redis, "zed@two.test"), 1);
	mc_test_sql(pg, "INSERT INTO bcc_rules (tenant_id, domain_id, "
			"direction, local_part, target) SELECT tenant_id, id, "
			"'in', '*', 'new@two.test' FROM domains WHERE name = "
			"'two.test'");
	assert_int_equal(targets_of(redis, "zed@two.test"), 1);
	assert_int_equal(targets_of(NULL, "zed@two.test"), 2);
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(targets_of(redis, "zed@two.test"), 2);
	mc_test_sql(pg, "DELETE FROM bcc_rules WHERE target = 'new@two.test'");
	assert_int_equal(targets_of(redis, "zed@two.test"), 2); /* cached */
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(targets_of(redis, "zed@two.test"), 1);
	mc_redis_destroy(&redis);
}

/* Redis down: answers from the database. PostgreSQL down: a temporary
 * error, never an empty answer. */
static void test_outages(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_redis_settings rs = {.host = "127.0.0.1",
				       .port = (unsigned)mc_test_free_port(),
				       .timeout_ms = 200};
	struct mc_redis *dead_redis = mc_redis_create(&rs);
	check_case(dead_redis, &cases[0], 0);
	char conninfo[96];
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d connect_timeout=1",
		 mc_test_free_port());
	struct mc_pg_settings ps = {.conninfo = conninfo};
	struct mc_pg *dead_pg = mc_pg_create(&ps);
	struct mc_pool *pool = mc_pool_create("test-bcc", 1024);
	struct mc_bcc_target *t;
	size_t n;
	struct mc_error err = {0};
	assert_int_equal(mc_bcc_match(dead_pg, dead_redis, &cached, pool,
				      cases[0].keys, 1, &t, &n, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_pool_destroy(&pool);
	mc_pg_destroy(&dead_pg);
	mc_redis_destroy(&dead_redis);
}

/* No keys, or none with a domain: no query at all (a dead database is
 * not asked). */
static void test_nothing_to_match(void **state)
{
	(void)state;
	struct mc_pg_settings ps = {.conninfo = "host=127.0.0.1 port=1"};
	struct mc_pg *dead_pg = mc_pg_create(&ps);
	struct mc_pool *pool = mc_pool_create("test-bcc", 1024);
	struct mc_bcc_key k = {IN, "nobody"};
	struct mc_bcc_target *t = (void *)&k;
	size_t n = 5;
	struct mc_error err = {0};
	assert_int_equal(
		mc_bcc_match(dead_pg, NULL, &cached, pool, &k, 1, &t, &n, &err),
		0);
	assert_int_equal(n, 0);
	assert_null(t);
	assert_int_equal(
		mc_bcc_match(dead_pg, NULL, NULL, pool, NULL, 0, &t, &n, &err),
		0);
	assert_int_equal(n, 0);
	mc_pool_destroy(&pool);
	mc_pg_destroy(&dead_pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_outages),
		cmocka_unit_test(test_nothing_to_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
