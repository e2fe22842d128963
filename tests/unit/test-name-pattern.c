/* test-name-pattern: expansion of the user.batch name patterns: plain
 * names, ranges with prefix and suffix, zero padding, and the syntax,
 * order and count errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-name-pattern.h"
#include "mailcore/mc-pool.h"

struct expand_case {
	const char *pattern;
	size_t max;
	int ret;
	size_t count;
	const char *first, *second, *last;
};

/* Good patterns: count and the first, second and last names. */
static void test_expand_good(void **state)
{
	(void)state;
	static const struct expand_case cases[] = {
		{"alice", 0, 0, 1, "alice", NULL, "alice"},
		{"a..b", 0, 0, 1, "a..b", NULL, "a..b"},
		{"user{1..50}", 0, 0, 50, "user1", "user2", "user50"},
		{"u{001..120}", 0, 0, 120, "u001", "u002", "u120"},
		{"u{1..010}", 0, 0, 10, "u001", "u002", "u010"},
		{"u{0..3}", 0, 0, 4, "u0", "u1", "u3"},
		{"u{08..11}", 0, 0, 4, "u08", "u09", "u11"},
		{"u{8..11}", 0, 0, 4, "u8", "u9", "u11"},
		{"staff{1..3}.x", 0, 0, 3, "staff1.x", "staff2.x", "staff3.x"},
		{"{1..2}", 0, 0, 2, "1", "2", "2"},
		{"{7..7}-z", 0, 0, 1, "7-z", NULL, "7-z"},
		{"p%s{1..2}", 0, 0, 2, "p%s1", "p%s2", "p%s2"},
		{"n{1..1000}", 0, 0, 1000, "n1", "n2", "n1000"},
		{"n{1..5}", 5, 0, 5, "n1", "n2", "n5"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct expand_case *c = &cases[i];
		struct mc_pool *pool = mc_pool_create("test", 0);
		struct mc_error err;
		char **names;
		size_t n = 0, count = 0;

		mc_error_clear(&err);
		assert_int_equal(mc_name_pattern_expand(pool, c->pattern,
							c->max, &names, &n,
							&err),
				 0);
		assert_int_equal(n, c->count);
		assert_int_equal(
			mc_name_pattern_count(c->pattern, c->max, &count, NULL),
			0);
		assert_int_equal(count, c->count);
		assert_string_equal(names[0], c->first);
		if (c->second != NULL)
			assert_string_equal(names[1], c->second);
		assert_string_equal(names[n - 1], c->last);
		assert_null(names[n]);
		mc_pool_destroy(&pool);
	}
}

struct bad_case {
	const char *pattern;
	size_t max;
	const char *msg; /* a substring of the error */
};

/* Bad patterns: MC_ERR_INVALID, a telling message, outputs untouched. */
static void test_expand_bad(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"", 0, "empty"},
		{"u{5..1}", 0, "descending"},
		{"u{1..2}{3..4}", 0, "at most one"},
		{"u{1..2}x{", 0, "at most one"},
		{"u{1..2}}", 0, "at most one"},
		{"u}1..2{", 0, "unbalanced"},
		{"u{1..2", 0, "unbalanced"},
		{"u1..2}", 0, "unbalanced"},
		{"u{}", 0, "FIRST..LAST"},
		{"u{..}", 0, "FIRST..LAST"},
		{"u{1..}", 0, "FIRST..LAST"},
		{"u{..5}", 0, "FIRST..LAST"},
		{"u{1-5}", 0, "FIRST..LAST"},
		{"u{1...5}", 0, "FIRST..LAST"},
		{"u{a..c}", 0, "FIRST..LAST"},
		{"u{-1..3}", 0, "FIRST..LAST"},
		{"u{ 1..3}", 0, "FIRST..LAST"},
		{"u{1..1234567890}", 0, "FIRST..LAST"},
		{"n{1..1001}", 0, "1001 names, at most 1000"},
		{"n{0..1000}", 0, "at most 1000"},
		{"n{1..6}", 5, "6 names, at most 5"},
		{"n{1..999999999}", 0, "at most"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_pool *pool = mc_pool_create("test", 0);
		struct mc_error err;
		char **names = (char **)&err;
		size_t n = 77, count = 78;

		mc_error_clear(&err);
		assert_int_equal(mc_name_pattern_expand(pool, cases[i].pattern,
							cases[i].max, &names,
							&n, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].pattern,
				 err.msg, cases[i].msg);
		assert_ptr_equal(names, (char **)&err);
		assert_int_equal(n, 77);
		assert_int_equal(mc_name_pattern_count(cases[i].pattern,
						       cases[i].max, &count,
						       NULL),
				 -1);
		assert_int_equal(count, 78);
		mc_pool_destroy(&pool);
	}
}

/* Every name of a padded range, in order, none repeated. */
static void test_expand_all(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test", 0);
	char **names, want[16];
	size_t n;

	assert_int_equal(mc_name_pattern_expand(pool, "q{098..102}z", 0, &names,
						&n, NULL),
			 0);
	assert_int_equal(n, 5);
	for (unsigned int i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "q%03uz", 98 + i);
		assert_string_equal(names[i], want);
	}
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_good),
		cmocka_unit_test(test_expand_bad),
		cmocka_unit_test(test_expand_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
