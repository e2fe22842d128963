/* test-error: first error wins, reset overwrites, prefixing, NULL slots,
 * message truncation, class names and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-error.h"

#include <string.h>

/* The first error set is kept until cleared. */
static void test_first_wins(void **state)
{
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(err.cls, MC_ERR_NONE);
	assert_string_equal(err.msg, "");
	mc_error_set(&err, MC_ERR_TEMPORARY, "db down: %s", "timeout");
	mc_error_set(&err, MC_ERR_INVALID, "second");
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_string_equal(err.msg, "db down: timeout");
	assert_true(mc_error_is_temporary(&err));
	mc_error_reset(&err, MC_ERR_NOTFOUND, "no such user %d", 7);
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	assert_string_equal(err.msg, "no such user 7");
	assert_false(mc_error_is_temporary(&err));
	mc_error_clear(&err);
	mc_error_set(&err, MC_ERR_EXISTS, "again");
	assert_int_equal(err.cls, MC_ERR_EXISTS);
}

/* A NULL slot is accepted everywhere. */
static void test_null(void **state)
{
	(void)state;
	mc_error_clear(NULL);
	mc_error_set(NULL, MC_ERR_INVALID, "x");
	mc_error_reset(NULL, MC_ERR_INVALID, "x");
	mc_error_prefix(NULL, "p");
	assert_false(mc_error_is_temporary(NULL));
}

/* Prefixes stack; without an error nothing happens; long text is cut. */
static void test_prefix(void **state)
{
	struct mc_error err;
	char longtext[700];

	(void)state;
	mc_error_clear(&err);
	mc_error_prefix(&err, "ignored");
	assert_string_equal(err.msg, "");
	mc_error_set(&err, MC_ERR_PERMANENT, "bad thing");
	mc_error_prefix(&err, "step %d", 2);
	mc_error_prefix(&err, "load");
	assert_string_equal(err.msg, "load: step 2: bad thing");
	assert_int_equal(err.cls, MC_ERR_PERMANENT);

	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	mc_error_reset(&err, MC_ERR_INVALID, "%s", longtext);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	mc_error_prefix(&err, "pre");
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_memory_equal(err.msg, "pre: aaa", 8);
	mc_error_reset(&err, MC_ERR_INVALID, "end");
	mc_error_prefix(&err, "%s", longtext);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

struct class_case {
	enum mc_error_class cls;
	const char *name;
	int exit_code;
};

/* Names and exit codes of every class. */
static void test_classes(void **state)
{
	static const struct class_case cases[] = {
		{MC_ERR_NONE, "none", 0},
		{MC_ERR_TEMPORARY, "temporary", 75},
		{MC_ERR_PERMANENT, "permanent", 1},
		{MC_ERR_NOTFOUND, "not found", 1},
		{MC_ERR_EXISTS, "exists", 1},
		{MC_ERR_INVALID, "invalid", 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(mc_error_class_name(cases[i].cls),
				    cases[i].name);
		assert_int_equal(mc_error_exit_code(cases[i].cls),
				 cases[i].exit_code);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_wins),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
