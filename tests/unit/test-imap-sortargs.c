/* test-imap-sortargs: SORT criteria and THREAD algorithm argument trees
 * (built from text by a small builder, not the real parser): every key,
 * REVERSE, case, the criteria limit, and error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-imap-sortargs.h"
#include "mailcore/mc-pool.h"

#include "mc-test.h"

#include <stdlib.h>
#include <string.h>


/* The criteria as "REVERSE DATE SUBJECT" from pool. */
static const char *dump(struct mc_pool *pool,
			const struct mc_imap_sortargs_criterion *c, size_t n)
{
	const char *s = "";
	size_t i;

	for (i = 0; i < n; i++)
		s = mc_psprintf(pool, "%s%s%s%s", s, i == 0 ? "" : " ",
				c[i].reverse ? "REVERSE " : "",
				mc_imap_sortargs_key_name(c[i].key));
	return s;
}

struct sort_case {
	const char *in;
	const char *dump; /* NULL: an error */
	const char *error;
};

static const struct sort_case sort_cases[] = {
	{"(ARRIVAL)", "ARRIVAL", NULL},
	{"(arrival cc date from size subject to displayfrom displayto)",
	 "ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO", NULL},
	{"(REVERSE DATE SUBJECT reverse SIZE)",
	 "REVERSE DATE SUBJECT REVERSE SIZE", NULL},
	{"(DATE DATE)", "DATE DATE", NULL},
	{"()", NULL, "Sort criteria must be a non-empty list"},
	{"DATE", NULL, "Sort criteria must be a non-empty list"},
	{"(REVERSE)", NULL, "REVERSE needs a sort key"},
	{"(DATE REVERSE)", NULL, "REVERSE needs a sort key"},
	{"(REVERSE REVERSE DATE)", NULL, "Unknown sort key"},
	{"(THREAD)", NULL, "Unknown sort key"},
	{"(\"DATE\")", NULL, "Unknown sort key"},
	{"((DATE))", NULL, "Unknown sort key"},
};

/* Every case parses to its dump or fails with its text. */
static void test_sort_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count, n;

	(void)state;
	for (i = 0; i < sizeof(sort_cases) / sizeof(sort_cases[0]); i++) {
		const struct sort_case *c = &sort_cases[i];
		struct mc_imap_arg *args = mc_test_imap_args(pool, c->in, &count);
		struct mc_imap_sortargs_criterion *crit = NULL;
		const char *error = NULL;
		bool ok;

		assert_int_equal(count, 1);
		ok = mc_imap_sortargs_parse(pool, &args[0], &crit, &n, &error);
		if (ok != (c->dump != NULL))
			fail_msg("%s: %s", c->in, ok ? "accepted" : error);
		if (ok)
			assert_string_equal(dump(pool, crit, n), c->dump);
		else
			assert_string_equal(error, c->error);
	}
	mc_pool_destroy(&pool);
}

/* No list at all, and more criteria than MC_IMAP_SORTARGS_MAX. */
static void test_sort_limits(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sortargs_criterion *crit = NULL;
	const char *error = NULL, *text = "(";
	struct mc_imap_arg *args;
	size_t i, count, n;

	(void)state;
	assert_false(mc_imap_sortargs_parse(pool, NULL, &crit, &n, &error));
	for (i = 0; i < MC_IMAP_SORTARGS_MAX; i++)
		text = mc_psprintf(pool, "%sREVERSE SIZE ", text);
	args = mc_test_imap_args(pool, mc_psprintf(pool, "%s)", text), &count);
	assert_true(mc_imap_sortargs_parse(pool, &args[0], &crit, &n, &error));
	assert_int_equal(n, MC_IMAP_SORTARGS_MAX);
	assert_true(crit[n - 1].reverse);
	assert_int_equal(crit[n - 1].key, MC_IMAP_SORTARGS_SIZE);
	args = mc_test_imap_args(pool, mc_psprintf(pool, "%sTO)", text), &count);
	assert_false(mc_imap_sortargs_parse(pool, &args[0], &crit, &n, &error));
	assert_string_equal(error, "Too many sort criteria");
	mc_pool_destroy(&pool);
}

/* THREAD algorithm names. */
static void test_thread(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	enum mc_imap_sortargs_thread alg = 0;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;

	(void)state;
	args = mc_test_imap_args(pool, "references orderedsubject REFS \"REFERENCES\"",
		     &count);
	assert_true(mc_imap_sortargs_thread(&args[0], &alg, &error));
	assert_int_equal(alg, MC_IMAP_SORTARGS_REFERENCES);
	assert_true(mc_imap_sortargs_thread(&args[1], &alg, &error));
	assert_int_equal(alg, MC_IMAP_SORTARGS_ORDEREDSUBJECT);
	assert_false(mc_imap_sortargs_thread(&args[2], &alg, &error));
	assert_string_equal(error, "Unknown thread algorithm");
	assert_false(mc_imap_sortargs_thread(&args[3], &alg, &error));
	assert_false(mc_imap_sortargs_thread(NULL, &alg, &error));
	assert_string_equal(mc_imap_sortargs_key_name(0), "?");
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort_cases),
		cmocka_unit_test(test_sort_limits),
		cmocka_unit_test(test_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
