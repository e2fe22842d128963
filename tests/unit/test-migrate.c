/* test-migrate: against the PostgreSQL named by MAILCORE_TEST_PG, in
 * schemas created for this run and dropped at the end: applying, applying
 * again, edited history, a failing migration, and two concurrent runners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-migrate.h"
#include "mailcore/mc-pg.h"

#include "mc-test.h"

static char schema[48], schema_race[56];

static const struct mc_migration migrations[] = {
	{1, "0001_tenancy",
	 "CREATE TABLE tenants (id serial PRIMARY KEY, name text NOT NULL);"
	 "CREATE INDEX tenants_name ON tenants (name);"},
	{2, "0002_users",
	 "CREATE TABLE users (id serial PRIMARY KEY, "
	 "tenant int NOT NULL REFERENCES tenants(id));"
	 "INSERT INTO tenants (name) VALUES ('demo');"},
};

/* A connection whose search_path is s (skips when no server is set). */
static struct mc_pg *test_connect(const char *s)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	struct mc_pg_settings set = {.conninfo = conninfo};
	struct mc_error err;
	char sql[96];
	struct mc_pg *pg;

	if (conninfo == NULL)
		skip();
	pg = mc_pg_create(&set);
	snprintf(sql, sizeof(sql), "SET search_path TO %s", s);
	mc_error_clear(&err);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("%s", err.msg);
	return pg;
}

/* Runs a query that must succeed and returns its first value (static). */
static const char *value(struct mc_pg *pg, const char *sql)
{
	static char buf[128];
	struct mc_error err;
	PGresult *res;

	mc_error_clear(&err);
	res = mc_pg_query(pg, sql, 0, NULL, &err);
	if (res == NULL)
		fail_msg("%s: %s", sql, err.msg);
	snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

/* Creates (create) or drops the run's schemas. */
static void schemas(bool create)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	struct mc_pg_settings set = {.conninfo = conninfo};
	struct mc_error err;
	struct mc_pg *pg;
	char sql[160];

	if (conninfo == NULL)
		return;
	pg = mc_pg_create(&set);
	snprintf(sql, sizeof(sql),
		 create ? "CREATE SCHEMA %s; CREATE SCHEMA %s"
			: "DROP SCHEMA IF EXISTS %s, %s CASCADE",
		 schema, schema_race);
	mc_error_clear(&err);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("%s", err.msg);
	mc_pg_destroy(&pg);
}

/* Group setup: fresh schemas for this run. */
static int setup(void **state)
{
	(void)state;
	snprintf(schema, sizeof(schema), "mc_test_mig_%ld_%ld", (long)getpid(),
		 (long)time(NULL));
	snprintf(schema_race, sizeof(schema_race), "%s_race", schema);
	schemas(true);
	return 0;
}

/* Group teardown: drops the schemas again. */
static int teardown(void **state)
{
	(void)state;
	schemas(false);
	return 0;
}

struct progress {
	unsigned calls;
	unsigned versions[4];
};

/* Records which migrations were reported applied. */
static void on_progress(const struct mc_migration *m, void *ctx)
{
	struct progress *p = ctx;

	if (p->calls < 4)
		p->versions[p->calls] = m->version;
	p->calls++;
}

/* Applies both, then nothing the second time. */
static void test_apply_twice(void **state)
{
	struct mc_pg *pg = test_connect(schema);
	struct progress p = {0};
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(
		mc_migrate_apply(pg, migrations, 2, on_progress, &p, &err), 2);
	assert_int_equal(p.calls, 2);
	assert_int_equal(p.versions[0], 1);
	assert_int_equal(p.versions[1], 2);
	assert_string_equal(value(pg, "SELECT count(*) FROM users"), "0");
	assert_string_equal(value(pg, "SELECT name FROM tenants"), "demo");
	assert_string_equal(value(pg, "SELECT string_agg(version || name || "
				      "length(sha256), ',' ORDER BY version) "
				      "FROM schema_migrations"),
			    "10001_tenancy64,20002_users64");
	/* sha256("CREATE TABLE ..." of 0001) is recorded lower-case hex. */
	assert_string_equal(
		value(pg, "SELECT sha256 = encode(sha256(convert_to("
			  "'CREATE TABLE tenants (id serial PRIMARY KEY, "
			  "name text NOT NULL);CREATE INDEX tenants_name ON "
			  "tenants (name);', 'UTF8')), 'hex') "
			  "FROM schema_migrations WHERE version = 1"),
		"t");

	p.calls = 0;
	assert_int_equal(
		mc_migrate_apply(pg, migrations, 2, on_progress, &p, &err), 0);
	assert_int_equal(p.calls, 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	mc_pg_destroy(&pg);
}

/* An applied migration whose text changed is refused. */
static void test_changed(void **state)
{
	struct mc_migration list[2] = {migrations[0], migrations[1]};
	struct mc_pg *pg = test_connect(schema);
	struct mc_error err;

	(void)state;
	list[0].sql = "CREATE TABLE tenants (id bigserial PRIMARY KEY);";
	mc_error_clear(&err);
	assert_int_equal(mc_migrate_apply(pg, list, 2, NULL, NULL, &err), -1);
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_string_equal(
		err.msg,
		"migration 0001_tenancy was changed after it was applied");
	mc_pg_destroy(&pg);
}

/* A failing migration leaves nothing behind and is not recorded; the
 * ones before it stay. */
static void test_failing(void **state)
{
	struct mc_migration list[3] = {
		migrations[0],
		migrations[1],
		{3, "0003_broken", "CREATE TABLE broken (id int); SELECT 1/0;"},
	};
	struct mc_pg *pg = test_connect(schema);
	struct progress p = {0};
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(mc_migrate_apply(pg, list, 3, on_progress, &p, &err),
			 -1);
	assert_int_equal(p.calls, 0);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_string_equal(
		err.msg, "migration 0003_broken: database: division by zero");
	assert_false(mc_pg_in_transaction(pg));
	assert_string_equal(value(pg, "SELECT to_regclass('broken') IS NULL"),
			    "t");
	assert_string_equal(value(pg, "SELECT count(*) FROM schema_migrations"),
			    "2");
	mc_pg_destroy(&pg);
}

/* Child process: applies the list and exits with the number applied. */
static void race_child(const struct mc_migration *list, size_t n)
{
	const char *conninfo = getenv("MAILCORE_TEST_PG");
	struct mc_pg_settings set = {.conninfo = conninfo};
	struct mc_pg *pg = mc_pg_create(&set);
	char sql[96];
	int ret;

	snprintf(sql, sizeof(sql), "SET search_path TO %s", schema_race);
	ret = mc_pg_exec_script(pg, sql, NULL);
	if (ret == 0)
		ret = mc_migrate_apply(pg, list, n, NULL, NULL, NULL);
	mc_pg_destroy(&pg);
	_exit(ret < 0 ? 100 : ret);
}

/* Two runners at once apply each migration exactly once between them. */
static void test_concurrent(void **state)
{
	static const struct mc_migration list[] = {
		{1, "0001_slow",
		 "CREATE TABLE slow (id int); SELECT pg_sleep(0.1);"},
		{2, "0002_more", "CREATE TABLE more (id int);"},
	};
	struct mc_pg *pg = test_connect(schema_race);
	struct mc_error err;
	int status, applied;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		race_child(list, 2);
	mc_error_clear(&err);
	applied = mc_migrate_apply(pg, list, 2, NULL, NULL, &err);
	if (applied < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) <= 2);
	assert_int_equal(applied + WEXITSTATUS(status), 2);
	assert_string_equal(value(pg, "SELECT count(*) FROM schema_migrations"),
			    "2");
	mc_pg_destroy(&pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_twice),
		cmocka_unit_test(test_changed),
		cmocka_unit_test(test_failing),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
