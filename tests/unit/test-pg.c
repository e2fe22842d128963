/* test-pg: SQLSTATE classes (always), and against the PostgreSQL named by
 * MAILCORE_TEST_PG: parameters, statement reuse, error classes,
 * transactions and their retry, timeouts, unreachable servers and the
 * transparent reconnect after the backend is killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"

#include "mc-test.h"

static char table[40];

/* A connection to the test server (skips the test when none is set). */
static struct mc_pg *test_connect(unsigned statement_timeout_ms)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	struct mc_pg_settings set = {
		.conninfo = conninfo,
		.statement_timeout_ms = statement_timeout_ms,
	};
	struct mc_error err;
	struct mc_pg *pg;

	if (conninfo == NULL)
		skip();
	pg = mc_pg_create(&set);
	mc_error_clear(&err);
	if (mc_pg_connect(pg, &err) < 0)
		fail_msg("connect: %s", err.msg);
	return pg;
}

/* Runs a query that must succeed and returns its first value (static). */
static const char *value(struct mc_pg *pg, const char *sql, int n,
			 const char *const *params)
{
	static char buf[256];
	struct mc_error err;
	PGresult *res;

	mc_error_clear(&err);
	res = mc_pg_query(pg, sql, n, params, &err);
	if (res == NULL)
		fail_msg("%s: %s", sql, err.msg);
	assert_true(PQntuples(res) >= 1);
	snprintf(buf, sizeof(buf), "%s",
		 PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

/* Runs a script that must succeed. */
static void script(struct mc_pg *pg, const char *sql)
{
	struct mc_error err;

	mc_error_clear(&err);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("%s: %s", sql, err.msg);
}

/* Creates this run's scratch table. */
static int setup_table(void **state)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	char sql[256];
	struct mc_pg *pg;

	(void)state;
	snprintf(table, sizeof(table), "mc_test_pg_%ld_%ld", (long)getpid(),
		 (long)time(NULL));
	if (conninfo == NULL)
		return 0;
	pg = test_connect(0);
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE %s (id int PRIMARY KEY, "
		 "parent int REFERENCES %s(id), v text CHECK (v <> 'bad'))",
		 table, table);
	script(pg, sql);
	mc_pg_destroy(&pg);
	return 0;
}

/* Drops this run's scratch table. */
static int teardown_table(void **state)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	char sql[256];
	struct mc_pg *pg;

	(void)state;
	if (conninfo == NULL)
		return 0;
	pg = test_connect(0);
	/* A failed test may leave a transaction holding a lock: no hang. */
	script(pg, "SET lock_timeout = 2000");
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	script(pg, sql);
	mc_pg_destroy(&pg);
	return 0;
}

/* The SQLSTATE to error class table. */
static void test_sqlstate_class(void **state)
{
	static const struct {
		const char *state;
		enum mc_error_class cls;
	} cases[] = {
		{"08000", MC_ERR_TEMPORARY}, {"08006", MC_ERR_TEMPORARY},
		{"08001", MC_ERR_TEMPORARY}, {"53300", MC_ERR_TEMPORARY},
		{"53100", MC_ERR_TEMPORARY}, {"57P01", MC_ERR_TEMPORARY},
		{"57P02", MC_ERR_TEMPORARY}, {"57P03", MC_ERR_TEMPORARY},
		{"57014", MC_ERR_TEMPORARY}, {"40001", MC_ERR_TEMPORARY},
		{"40P01", MC_ERR_TEMPORARY}, {"55P03", MC_ERR_TEMPORARY},
		{"23505", MC_ERR_EXISTS},    {"23503", MC_ERR_NOTFOUND},
		{"MC001", MC_ERR_LIMIT},
		{"23502", MC_ERR_INVALID},   {"23514", MC_ERR_INVALID},
		{"22P02", MC_ERR_INVALID},   {"22001", MC_ERR_INVALID},
		{"42601", MC_ERR_PERMANENT}, {"42P01", MC_ERR_PERMANENT},
		{"57000", MC_ERR_PERMANENT}, {"40002", MC_ERR_PERMANENT},
		{"XX000", MC_ERR_PERMANENT}, {"", MC_ERR_PERMANENT},
		{"0800", MC_ERR_PERMANENT},  {NULL, MC_ERR_PERMANENT},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (mc_pg_sqlstate_class(cases[i].state) != cases[i].cls)
			fail_msg("%s",
				 cases[i].state ? cases[i].state : "NULL");
	}
}

/* Text parameters, SQL NULL and the application name. */
static void test_params(void **state)
{
	struct mc_pg *pg = test_connect(0);
	const char *p2[] = {"2", "3"};
	const char *pnull[] = {NULL};

	(void)state;
	assert_string_equal(value(pg, "SELECT $1::int + $2::int", 2, p2), "5");
	assert_string_equal(value(pg, "SELECT $1::text IS NULL", 1, pnull),
			    "t");
	assert_string_equal(value(pg, "SELECT $1::text", 1, pnull), "(null)");
	assert_string_equal(value(pg,
				  "SELECT current_setting('application_name')",
				  0, NULL),
			    "mailcore");
	mc_pg_destroy(&pg);
	assert_null(pg);
	mc_pg_destroy(&pg);
}

/* The same SQL text is prepared once; a new text gets a new statement. */
static void test_prepared_reuse(void **state)
{
	static const char *count_sql =
		"SELECT count(*) FROM pg_prepared_statements";
	struct mc_pg *pg = test_connect(0);

	(void)state;
	assert_string_equal(value(pg, count_sql, 0, NULL), "1");
	assert_string_equal(value(pg, count_sql, 0, NULL), "1");
	assert_string_equal(value(pg, "SELECT 1", 0, NULL), "1");
	assert_string_equal(value(pg, count_sql, 0, NULL), "2");
	assert_string_equal(value(pg,
				  "SELECT string_agg(name, ',' ORDER BY name) "
				  "FROM pg_prepared_statements",
				  0, NULL),
			    "mc_1,mc_2,mc_3");
	mc_pg_destroy(&pg);
}

/* Constraint and syntax errors get their classes and a clean message. */
static void test_error_classes(void **state)
{
	static const struct {
		const char *sql_fmt;
		enum mc_error_class cls;
	} cases[] = {
		{"INSERT INTO %s (id) VALUES (1)", MC_ERR_EXISTS},
		{"INSERT INTO %s (id, parent) VALUES (2, 999)",
		 MC_ERR_NOTFOUND},
		{"INSERT INTO %s (id, v) VALUES (3, 'bad')", MC_ERR_INVALID},
		{"INSERT INTO %s (id) VALUES ('x')", MC_ERR_INVALID},
		{"SELEKT * FROM %s", MC_ERR_PERMANENT},
		{"SELECT nope FROM %s", MC_ERR_PERMANENT},
	};
	struct mc_pg *pg = test_connect(0);
	struct mc_error err;
	char sql[256];

	(void)state;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (1)", table);
	mc_error_clear(&err);
	assert_int_equal(mc_pg_exec(pg, sql, 0, NULL, &err), 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(sql, sizeof(sql), cases[i].sql_fmt, table);
		mc_error_clear(&err);
		assert_null(mc_pg_query(pg, sql, 0, NULL, &err));
		assert_int_equal(err.cls, cases[i].cls);
		assert_true(strncmp(err.msg, "database: ", 10) == 0);
		assert_null(strchr(err.msg, '\n'));
	}
	mc_error_clear(&err);
	assert_int_equal(mc_pg_exec(pg, "SELEKT 1", 0, NULL, &err), -1);
	assert_string_equal(err.msg,
			    "database: syntax error at or near \"SELEKT\"");
	snprintf(sql, sizeof(sql), "DELETE FROM %s", table);
	assert_int_equal(mc_pg_exec(pg, sql, 0, NULL, &err), 1);
	mc_pg_destroy(&pg);
}

/* Counts the rows of the scratch table through pg. */
static const char *count_rows(struct mc_pg *pg)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return value(pg, sql, 0, NULL);
}

/* Rolled back rows are never seen; committed ones are, by others too. */
static void test_transactions(void **state)
{
	struct mc_pg *pg = test_connect(0), *other = test_connect(0);
	const char *p10[] = {"10"}, *p11[] = {"11"};
	struct mc_error err;
	char sql[256];

	(void)state;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES ($1)", table);
	mc_error_clear(&err);
	assert_int_equal(mc_pg_begin(pg, &err), 0);
	assert_true(mc_pg_in_transaction(pg));
	assert_int_equal(mc_pg_begin(pg, &err), -1);
	mc_error_clear(&err);
	assert_int_equal(mc_pg_exec(pg, sql, 1, p10, &err), 1);
	assert_string_equal(count_rows(pg), "1");
	assert_string_equal(count_rows(other), "0");
	mc_pg_rollback(pg);
	assert_false(mc_pg_in_transaction(pg));
	assert_string_equal(count_rows(pg), "0");

	assert_int_equal(mc_pg_begin(pg, &err), 0);
	assert_int_equal(mc_pg_exec(pg, sql, 1, p11, &err), 1);
	assert_string_equal(count_rows(other), "0");
	assert_int_equal(mc_pg_commit(pg, &err), 0);
	assert_string_equal(count_rows(other), "1");

	/* A failed statement aborts the transaction: COMMIT is an error. */
	assert_int_equal(mc_pg_begin(pg, &err), 0);
	assert_int_equal(mc_pg_exec(pg, sql, 1, p10, &err), 1);
	assert_int_equal(mc_pg_exec(pg, sql, 1, p11, &err), -1);
	assert_int_equal(err.cls, MC_ERR_EXISTS);
	mc_error_clear(&err);
	assert_int_equal(mc_pg_commit(pg, &err), -1);
	assert_false(mc_pg_in_transaction(pg));
	assert_string_equal(count_rows(other), "1");

	snprintf(sql, sizeof(sql), "DELETE FROM %s", table);
	assert_int_equal(mc_pg_exec(pg, sql, 0, NULL, &err), 1);
	mc_pg_destroy(&pg);
	mc_pg_destroy(&other);
}

struct txn_ctx {
	int calls;
	int fail_first; /* raise a serialization failure this many times */
	bool give_up;	/* return -1 without a database error */
};

/* Transaction body: inserts a row, then maybe fails. */
static int txn_body(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct txn_ctx *t = ctx;
	const char *p[] = {"20"};
	char sql[256];

	t->calls++;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES ($1)", table);
	if (mc_pg_exec(pg, sql, 1, p, err) < 0)
		return -1;
	if (t->calls <= t->fail_first)
		return mc_pg_exec_script(
			pg,
			"DO $$ BEGIN RAISE EXCEPTION 'forced' USING "
			"ERRCODE = 'serialization_failure'; END $$",
			err);
	if (t->give_up) {
		mc_error_set(err, MC_ERR_INVALID, "caller gave up");
		return -1;
	}
	return 7;
}

/* mc_pg_transaction commits, rolls back, and retries serialization
 * failures up to three attempts. */
static void test_transaction_fn(void **state)
{
	struct mc_pg *pg = test_connect(0);
	struct txn_ctx t = {.give_up = true};
	struct mc_error err;
	char sql[256];

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(mc_pg_transaction(pg, txn_body, &t, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_int_equal(t.calls, 1);
	assert_string_equal(count_rows(pg), "0");

	t = (struct txn_ctx){.fail_first = 5};
	mc_error_clear(&err);
	assert_int_equal(mc_pg_transaction(pg, txn_body, &t, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_int_equal(t.calls, 3);
	assert_string_equal(count_rows(pg), "0");

	t = (struct txn_ctx){.fail_first = 2};
	mc_error_clear(&err);
	assert_int_equal(mc_pg_transaction(pg, txn_body, &t, &err), 7);
	assert_int_equal(err.cls, MC_ERR_NONE);
	assert_int_equal(t.calls, 3);
	assert_false(mc_pg_in_transaction(pg));
	assert_string_equal(count_rows(pg), "1");
	snprintf(sql, sizeof(sql), "DELETE FROM %s", table);
	assert_int_equal(mc_pg_exec(pg, sql, 0, NULL, &err), 1);
	mc_pg_destroy(&pg);
}

/* statement_timeout is applied; a timeout is TEMPORARY. */
static void test_statement_timeout(void **state)
{
	struct mc_pg *pg = test_connect(50);
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_null(mc_pg_query(pg, "SELECT pg_sleep(2)", 0, NULL, &err));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_string_equal(value(pg, "SELECT 'still here'", 0, NULL),
			    "still here");
	mc_pg_destroy(&pg);
}

/* A closed port fails TEMPORARY without leaking the conninfo. */
static void test_unreachable(void **state)
{
	struct mc_pg_settings set = {
		.conninfo = "host=127.0.0.1 port=1 user=u password=hunter2 "
			    "dbname=d",
		.connect_timeout_ms = 1000,
	};
	struct mc_pg *pg = mc_pg_create(&set);
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(mc_pg_connect(pg, &err), -1);
	assert_false(mc_pg_is_connected(pg));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_true(strncmp(err.msg, "database: ", 10) == 0);
	assert_null(strstr(err.msg, "password"));
	assert_null(strstr(err.msg, "hunter2"));
	assert_null(strchr(err.msg, '\n'));
	mc_error_clear(&err);
	assert_null(mc_pg_query(pg, "SELECT 1", 0, NULL, &err));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_null(strstr(err.msg, "hunter2"));
	mc_pg_destroy(&pg);
}

/* A malformed conninfo is refused without quoting it. */
static void test_bad_conninfo(void **state)
{
	static const char *const bad[] = {
		"postgresql://u:hunter 2@127.0.0.1:1/d",
		"postgresql://u:hunter2%zz@127.0.0.1:1/d",
		"host=127.0.0.1 password='hunter2",
		"host=127.0.0.1 hunter2",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_pg_settings set = {.conninfo = bad[i]};
		struct mc_pg *pg = mc_pg_create(&set);
		struct mc_error err;

		mc_error_clear(&err);
		assert_int_equal(mc_pg_connect(pg, &err), -1);
		assert_int_not_equal(err.cls, MC_ERR_NONE);
		assert_null(strstr(err.msg, "hunter"));
		mc_pg_destroy(&pg);
	}
}

/* Terminates pg's backend from another connection and waits for it. */
static void kill_backend(struct mc_pg *pg, struct mc_pg *killer)
{
	char pid[32];
	const char *p[] = {pid};

	snprintf(pid, sizeof(pid), "%s",
		 value(pg, "SELECT pg_backend_pid()", 0, NULL));
	assert_string_equal(
		value(killer, "SELECT pg_terminate_backend($1::int)", 1, p),
		"t");
	for (int i = 0; i < 200; i++) {
		if (strcmp(value(killer,
				 "SELECT count(*) FROM pg_stat_activity "
				 "WHERE pid = $1::int",
				 1, p),
			   "0") == 0)
			return;
		usleep(5000);
	}
	fail_msg("backend %s did not exit", pid);
}

/* A killed backend is replaced transparently outside a transaction; inside
 * one the query fails TEMPORARY and the next one reconnects. */
static void test_reconnect(void **state)
{
	struct mc_pg *pg = test_connect(0), *killer = test_connect(0);
	const char *p[] = {"41"};
	struct mc_error err;
	char pid[32];

	(void)state;
	assert_string_equal(value(pg, "SELECT $1::int + 1", 1, p), "42");
	snprintf(pid, sizeof(pid), "%s",
		 value(pg, "SELECT pg_backend_pid()", 0, NULL));
	kill_backend(pg, killer);
	/* Re-prepared on the new connection. */
	assert_string_equal(value(pg, "SELECT $1::int + 1", 1, p), "42");
	assert_string_not_equal(value(pg, "SELECT pg_backend_pid()", 0, NULL),
				pid);

	mc_error_clear(&err);
	assert_int_equal(mc_pg_begin(pg, &err), 0);
	kill_backend(pg, killer);
	assert_null(mc_pg_query(pg, "SELECT 1", 0, NULL, &err));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_error_clear(&err);
	assert_null(mc_pg_query(pg, "SELECT 1", 0, NULL, &err));
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_pg_rollback(pg);
	assert_string_equal(value(pg, "SELECT $1::int + 1", 1, p), "42");
	mc_pg_destroy(&pg);
	mc_pg_destroy(&killer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlstate_class),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_prepared_reuse),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_transaction_fn),
		cmocka_unit_test(test_statement_timeout),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_bad_conninfo),
		cmocka_unit_test(test_reconnect),
	};

	return cmocka_run_group_tests(tests, setup_table, teardown_table);
}
