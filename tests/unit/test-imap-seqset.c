/* test-imap-seqset: IMAP sequence sets: the parser's accepted and refused
 * syntax, "*" resolved against mailbox sizes (empty ones too), membership,
 * counting, the compact written form and sets built from numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>

/* The written form of set. */
static const char *written(struct mc_pool *pool,
			   const struct mc_imap_seqset *set)
{
	struct mc_buf b;

	mc_buf_init(&b, pool, 0);
	assert_true(mc_imap_seqset_write(set, &b));
	return mc_buf_cstr(&b);
}

static const struct {
	const char *in;
	bool ok;
	const char *parsed; /* written right after parsing */
	uint32_t max;
	const char *resolved;
	uint64_t count;
} cases[] = {
	{"1", true, "1", 10, "1", 1},
	{"1:3,5", true, "1:3,5", 10, "1:3,5", 4},
	{"5,1:3", true, "1:3,5", 10, "1:3,5", 4},
	{"4:2", true, "2:4", 10, "2:4", 3},
	{"1,2,3,4", true, "1:4", 10, "1:4", 4},
	{"3:5,1:4,9", true, "1:5,9", 10, "1:5,9", 6},
	{"4294967295", true, "4294967295", 1, "4294967295", 1},
	{"1:4294967295,7", true, "1:4294967295", 1, "1:4294967295",
	 4294967295u},
	{"*", true, "*", 7, "7", 1},
	{"1:*", true, "1:*", 7, "1:7", 7},
	{"*:3", true, "3:*", 7, "3:7", 5},
	{"9:*", true, "9:*", 7, "7:9", 3},
	{"*:*,2", true, "*,2", 7, "2,7", 2},
	{"1:*", true, "1:*", 0, "", 0},
	{"*", true, "*", 0, "", 0},
	{"2:3,5:*", true, "2:3,5:*", 0, "2:3", 2},
	{"1:2,2:*", true, "1:2,2:*", 9, "1:9", 9},
	{"$", false, NULL, 0, NULL, 0}, /* without allow_dollar */
	{"0", false, NULL, 0, NULL, 0},
	{"1:0", false, NULL, 0, NULL, 0},
	{"01", false, NULL, 0, NULL, 0},
	{"4294967296", false, NULL, 0, NULL, 0},
	{"", false, NULL, 0, NULL, 0},
	{"1,", false, NULL, 0, NULL, 0},
	{",1", false, NULL, 0, NULL, 0},
	{"1,,2", false, NULL, 0, NULL, 0},
	{"1:", false, NULL, 0, NULL, 0},
	{"1:2:3", false, NULL, 0, NULL, 0},
	{"1 ", false, NULL, 0, NULL, 0},
	{"a", false, NULL, 0, NULL, 0},
	{"-1", false, NULL, 0, NULL, 0},
	{"**", false, NULL, 0, NULL, 0},
};

/* Parse, write, resolve, write, count. */
static void test_table(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_imap_seqset set;
		bool ok = mc_imap_seqset_parse(pool, cases[i].in, false, &set);

		print_message("case: %s\n", cases[i].in);
		assert_int_equal(ok, cases[i].ok);
		if (!ok)
			continue;
		assert_string_equal(written(pool, &set), cases[i].parsed);
		mc_imap_seqset_resolve(&set, cases[i].max);
		assert_false(set.star);
		assert_string_equal(written(pool, &set), cases[i].resolved);
		assert_int_equal(mc_imap_seqset_count(&set), cases[i].count);
	}
	mc_pool_destroy(&pool);
}

/* "$" (RFC 5182) only alone and only when allowed. */
static void test_dollar(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_seqset set;

	(void)state;
	assert_true(mc_imap_seqset_parse(pool, "$", true, &set));
	assert_true(set.dollar);
	assert_int_equal(set.count, 0);
	assert_string_equal(written(pool, &set), "$");
	assert_false(mc_imap_seqset_parse(pool, "1,$", true, &set));
	assert_false(mc_imap_seqset_parse(pool, "$:4", true, &set));
	assert_true(mc_imap_seqset_parse(pool, "1:2", true, &set));
	assert_false(set.dollar);
	mc_pool_destroy(&pool);
}

/* Membership in resolved and unresolved sets. */
static void test_contains(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_seqset set;
	static const uint32_t in[] = {2, 3, 4, 10, 20, 21, 100};
	static const uint32_t out[] = {0, 1, 5, 9, 11, 19, 22, 99, 101};

	(void)state;
	assert_true(
		mc_imap_seqset_parse(pool, "100,20:21,10,4:2", false, &set));
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_true(mc_imap_seqset_contains(&set, in[i]));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		assert_false(mc_imap_seqset_contains(&set, out[i]));
	assert_true(mc_imap_seqset_parse(pool, "5:*", false, &set));
	assert_true(mc_imap_seqset_contains(&set, 4000000000u));
	assert_false(mc_imap_seqset_contains(&set, 4));
	mc_imap_seqset_resolve(&set, 8);
	assert_true(mc_imap_seqset_contains(&set, 8));
	assert_false(mc_imap_seqset_contains(&set, 9));
	mc_pool_destroy(&pool);
}

/* Sets from sorted numbers: runs become ranges. */
static void test_from_sorted(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_seqset set;
	static const uint32_t v[] = {0, 1, 2, 3, 3, 5, 7, 8, 4294967295u};

	(void)state;
	mc_imap_seqset_from_sorted(pool, v, sizeof(v) / sizeof(v[0]), &set);
	assert_string_equal(written(pool, &set), "1:3,5,7:8,4294967295");
	assert_int_equal(mc_imap_seqset_count(&set), 7);
	assert_true(mc_imap_seqset_contains(&set, 7));
	assert_false(mc_imap_seqset_contains(&set, 6));
	mc_imap_seqset_from_sorted(pool, v, 0, &set);
	assert_int_equal(set.count, 0);
	assert_string_equal(written(pool, &set), "");
	assert_false(mc_imap_seqset_contains(&set, 1));
	mc_pool_destroy(&pool);
}

/* Parsing many ranges, then merging them, stays exact. */
static void test_many(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_buf b;
	struct mc_imap_seqset set;

	(void)state;
	mc_buf_init(&b, pool, 0);
	for (unsigned i = 1000; i >= 1; i--)
		mc_buf_printf(&b, "%s%u", i == 1000 ? "" : ",", i * 2);
	assert_true(mc_imap_seqset_parse(pool, mc_buf_cstr(&b), false, &set));
	assert_int_equal(set.count, 1000);
	assert_int_equal(set.ranges[0].lo, 2);
	assert_int_equal(mc_imap_seqset_count(&set), 1000);
	assert_true(mc_imap_seqset_contains(&set, 1000));
	assert_false(mc_imap_seqset_contains(&set, 1001));
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_dollar),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_from_sorted),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
