/* test-directory: recipient resolution against a real PostgreSQL (a
 * fresh schema per run, loaded from golden/directory.sql). Routing
 * decisions are golden transcripts: every address of golden/directory.in
 * is resolved and the printed results must equal golden/directory.ref
 * (MC_GOLDEN_UPDATE=1 rewrites it). Then the Redis cache and its
 * invalidation, outages, logins, send-as and relay networks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-str.h"

#include "mc-test.h"

#define GOLDEN	   "tests/unit/golden/directory"
#define REDIS_DB   7
#define FILE_LIMIT (1024 * 1024)

static char schema[96];
static struct mc_pg *pg;

/* Reads a whole file into a heap string; NULL if missing. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = mc_malloc(FILE_LIMIT + 1);
	size_t n = fread(buf, 1, FILE_LIMIT, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Group setup: the schema with the fixture loaded. */
static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("dir", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	char *sql = slurp(GOLDEN ".sql");
	struct mc_error err = {0};
	assert_non_null(sql);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("fixture: %s", err.msg);
	free(sql);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

static const char *const status_names[] = {
	"OK",	     "NOT_LOCAL", "UNKNOWN", "DISABLED",
	"SUSPENDED", "EXPIRED",	  "LOOP",
};

/* Appends one result line. */
static void format_result(const char *addr, const struct mc_directory_result *r,
			  struct mc_buf *out)
{
	mc_buf_printf(out, "%s: %s tenant=%lld domain=%s", addr,
		      status_names[r->status], (long long)r->tenant_id,
		      r->domain != NULL ? r->domain : "-");
	for (size_t i = 0; i < r->mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &r->mailboxes[i];
		mc_buf_printf(out, " mbox=%s[%lld/%lld %lld/%lld max=%lld%s]",
			      m->address, (long long)m->used,
			      (long long)m->quota, (long long)m->domain_used,
			      (long long)m->domain_quota,
			      (long long)m->max_message_size,
			      m->quota_permanent ? " perm" : "");
	}
	for (size_t i = 0; i < r->external_count; i++)
		mc_buf_printf(out, " ext=%s", r->external[i]);
	if (r->status != MC_DIR_OK)
		mc_buf_printf(out, " (%s)", r->text);
	mc_buf_append_c(out, '\n');
}

/* Resolves every line of directory.in into out. */
static void resolve_all(const char *input, struct mc_buf *out)
{
	struct mc_directory_settings set = {0};
	char *copy = mc_strdup(input), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		struct mc_pool *pool = mc_pool_create("test-dir", 1024);
		struct mc_directory_result r;
		struct mc_error err = {0};
		if (mc_directory_resolve(pg, NULL, &set, pool, line, &r, &err) <
		    0)
			fail_msg("%s: %s", line, err.msg);
		format_result(line, &r, out);
		mc_pool_destroy(&pool);
	}
	free(copy);
}

/* The routing decisions equal the reference transcript. */
static void test_golden(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char *input = slurp(GOLDEN ".in"), *ref = slurp(GOLDEN ".ref");
	struct mc_buf out;
	mc_buf_init(&out, NULL, 0);
	assert_non_null(input);
	resolve_all(input, &out);
	if (mc_test_getenv("MC_GOLDEN_UPDATE") != NULL) {
		FILE *f = fopen(GOLDEN ".ref", "w");
		assert_non_null(f);
		fputs(mc_buf_cstr(&out), f);
		fclose(f);
	} else if (ref == NULL || strcmp(ref, mc_buf_cstr(&out)) != 0) {
		FILE *f = fopen("/tmp/directory.out", "w");
		if (f != NULL) {
			fputs(mc_buf_cstr(&out), f);
			fclose(f);
		}
		fail_msg("routing differs from " GOLDEN ".ref: diff it with "
			 "/tmp/directory.out");
	}
	mc_buf_free(&out);
	free(input);
	free(ref);
}

/* Resolves addr and returns its status (asserting no error). */
static enum mc_directory_status status_of(struct mc_redis *redis,
					  const char *addr)
{
	struct mc_directory_settings set = {.cache_ttl_s = 60};
	struct mc_pool *pool = mc_pool_create("test-dir", 1024);
	struct mc_directory_result r;
	struct mc_error err = {0};
	if (mc_directory_resolve(pg, redis, &set, pool, addr, &r, &err) < 0)
		fail_msg("%s: %s", addr, err.msg);
	enum mc_directory_status st = r.status;
	mc_pool_destroy(&pool);
	return st;
}

/* Cached answers survive a database change until invalidated. */
static void test_cache_invalidation(void **state)
{
	(void)state;
	struct mc_redis *redis = mc_test_redis(REDIS_DB);
	if (pg == NULL || redis == NULL)
		skip();
	struct mc_error err = {0};
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(status_of(redis, "info@one.test"), MC_DIR_OK);
	mc_test_sql(pg, "UPDATE users SET status = 'frozen' WHERE local_part = 'alice'");
	/* info -> alice: still the cached answer */
	assert_int_equal(status_of(redis, "Info@one.test"), MC_DIR_OK);
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(status_of(redis, "info@one.test"), MC_DIR_UNKNOWN);
	assert_int_equal(status_of(redis, "alice@one.test"), MC_DIR_DISABLED);
	mc_test_sql(pg, "UPDATE users SET status = 'active' WHERE local_part = 'alice'");
	const char *addrs[] = {"alice@one.test"};
	mc_directory_forget(redis, addrs, 1);
	assert_int_equal(status_of(redis, "alice@one.test"), MC_DIR_OK);
	/* negative answers are cached too, and invalidated the same way */
	assert_int_equal(status_of(redis, "new@one.test"), MC_DIR_UNKNOWN);
	mc_test_sql(pg, "INSERT INTO aliases (tenant_id, domain_id, local_part, targets) "
	    "SELECT 1, id, 'new', '{alice@one.test}' FROM domains WHERE "
	    "name = 'one.test'");
	assert_int_equal(status_of(redis, "new@one.test"), MC_DIR_UNKNOWN);
	assert_int_equal(mc_directory_invalidate(redis, &err), 0);
	assert_int_equal(status_of(redis, "new@one.test"), MC_DIR_OK);
	mc_redis_destroy(&redis);
}

/* Unreachable Redis or PostgreSQL are temporary errors, never answers. */
static void test_outages(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_redis_settings rs = {.host = "127.0.0.1",
				       .port = (unsigned)mc_test_free_port(),
				       .timeout_ms = 200};
	struct mc_redis *dead_redis = mc_redis_create(&rs);
	struct mc_directory_settings set = {.cache_ttl_s = 60};
	struct mc_pool *pool = mc_pool_create("test-dir", 1024);
	struct mc_directory_result r;
	struct mc_error err = {0};
	assert_int_equal(mc_directory_resolve(pg, dead_redis, &set, pool,
					      "alice@one.test", &r, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	char conninfo[96];
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d connect_timeout=1",
		 mc_test_free_port());
	struct mc_pg_settings ps = {.conninfo = conninfo};
	struct mc_pg *dead_pg = mc_pg_create(&ps);
	mc_error_clear(&err);
	assert_int_equal(mc_directory_resolve(dead_pg, NULL, &set, pool,
					      "alice@one.test", &r, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_pg_destroy(&dead_pg);
	mc_redis_destroy(&dead_redis);
	mc_pool_destroy(&pool);
}

/* Logins: active users of active domains and tenants only. */
static void test_login(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	static const struct {
		const char *login;
		int found;
	} cases[] = {
		{"alice@one.test", 1},	 {"ALICE@ONE.TEST", 1},
		{"bob@one.test", 0},	 {"zed@two.test", 0},
		{"alice@alias.test", 0}, {"alice", 0},
		{"alice@one.test@x", 0}, {"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_pool *pool = mc_pool_create("test-dir", 512);
		struct mc_directory_login login;
		struct mc_error err = {0};
		int r = mc_directory_login(pg, pool, cases[i].login, &login,
					   &err);
		if (r != cases[i].found)
			fail_msg("%s: %d (%s)", cases[i].login, r, err.msg);
		if (r == 1) {
			assert_string_equal(login.address, "alice@one.test");
			assert_string_equal(login.password_hash, "x");
		}
		mc_pool_destroy(&pool);
	}
}

/* The id of a user of one.test. */
static int64_t user_id(const char *local)
{
	char q[128];
	struct mc_error err = {0};
	snprintf(q, sizeof(q), "SELECT id FROM users WHERE local_part = '%s'",
		 local);
	PGresult *res = mc_pg_query(pg, q, 0, NULL, &err);
	assert_non_null(res);
	int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

/* Who may use which envelope sender. */
static void test_send_as(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	int64_t alice = user_id("alice");
	char q[200];
	snprintf(q, sizeof(q),
		 "INSERT INTO send_as VALUES (1, %lld, '@catch.test'), "
		 "(1, %lld, 'boss@one.test')",
		 (long long)alice, (long long)alice);
	mc_test_sql(pg, q);
	static const struct {
		const char *addr;
		int ok;
	} cases[] = {
		{"alice@one.test", 1},	 {"Alice@One.Test", 1},
		{"alice@alias.test", 1}, {"info@one.test", 1},
		{"team@one.test", 0},	 {"bob@one.test", 0},
		{"x@catch.test", 1},	 {"boss@one.test", 1},
		{"boss@alias.test", 0},	 {"alice@two.test", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_error err = {0};
		int r = mc_directory_may_send_as(pg, 1, alice, cases[i].addr,
						 &err);
		if (r != cases[i].ok)
			fail_msg("%s: %d (%s)", cases[i].addr, r, err.msg);
	}
}

/* Tenant networks relay only for their own tenant's senders. */
static void test_relay_networks(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	mc_test_sql(pg, "INSERT INTO tenant_networks VALUES (1, '10.1.0.0/16'), "
	    "(2, '2001:db8::/32')");
	static const struct {
		const char *ip, *sender;
		int ok;
		int64_t tenant;
	} cases[] = {
		{"10.1.2.3", "one.test", 1, 1},
		{"10.1.2.3", "ONE.test", 1, 1},
		{"10.1.2.3", "alias.test", 1, 1},
		{"10.1.2.3", "two.test", 0, 0},
		{"10.1.2.3", "", 1, 1},
		{"10.2.0.1", "one.test", 0, 0},
		{"2001:db8::5", "two.test", 1, 2},
		{"2001:db9::5", "two.test", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_error err = {0};
		int64_t tenant = 0;
		int r = mc_directory_relay_network(
			pg, cases[i].ip, cases[i].sender, &tenant, &err);
		if (r != cases[i].ok || tenant != cases[i].tenant)
			fail_msg("%s %s: %d tenant %lld (%s)", cases[i].ip,
				 cases[i].sender, r, (long long)tenant,
				 err.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_send_as),
		cmocka_unit_test(test_relay_networks),
		cmocka_unit_test(test_outages),
		cmocka_unit_test(test_cache_invalidation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
