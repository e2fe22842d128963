/* test-str: mc_buf (heap and pool, max cap, printf, consume) and the strict
 * parsers and helpers, mostly as tables of good and bad inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>

/* Appends, printf and consume on a heap buffer; contents stay binary safe
 * and NUL-terminated. */
static void test_buf_heap(void **state)
{
	struct mc_buf buf;

	(void)state;
	mc_buf_init(&buf, NULL, 0);
	assert_string_equal(mc_buf_cstr(&buf), "");
	assert_true(mc_buf_append_str(&buf, "hello"));
	assert_true(mc_buf_append_c(&buf, ' '));
	assert_true(mc_buf_printf(&buf, "%s %d", "world", 42));
	assert_string_equal(mc_buf_cstr(&buf), "hello world 42");
	assert_int_equal(buf.len, 14);
	assert_true(mc_buf_append(&buf, "\0x", 2));
	assert_int_equal(buf.len, 16);
	assert_memory_equal(buf.data + 14, "\0x\0", 3);
	mc_buf_consume(&buf, 6);
	assert_string_equal(mc_buf_cstr(&buf), "world 42");
	mc_buf_consume(&buf, 100);
	assert_int_equal(buf.len, 0);
	assert_string_equal(mc_buf_cstr(&buf), "");
	for (int i = 0; i < 1000; i++)
		assert_true(mc_buf_printf(&buf, "%04d", i));
	assert_int_equal(buf.len, 4000);
	assert_memory_equal(buf.data + 3996, "0999", 5);
	mc_buf_clear(&buf);
	assert_string_equal(mc_buf_cstr(&buf), "");
	mc_buf_free(&buf);
	assert_null(buf.data);
	assert_string_equal(mc_buf_cstr(&buf), "");
}

/* A pool-backed buffer grows inside the pool; free is harmless. */
static void test_buf_pool(void **state)
{
	struct mc_pool *pool = mc_pool_create("buf", 0);
	struct mc_buf buf;

	(void)state;
	mc_buf_init(&buf, pool, 0);
	for (int i = 0; i < 500; i++)
		assert_true(mc_buf_append_str(&buf, "abcdefghij"));
	assert_int_equal(buf.len, 5000);
	assert_int_equal(strlen(mc_buf_cstr(&buf)), 5000);
	assert_true(mc_pool_used(pool) >= 5000);
	mc_buf_free(&buf);
	mc_pool_destroy(&pool);
}

/* max caps len: an append that would pass it appends nothing. */
static void test_buf_max(void **state)
{
	struct mc_buf buf;

	(void)state;
	mc_buf_init(&buf, NULL, 8);
	assert_true(mc_buf_append_str(&buf, "12345"));
	assert_false(mc_buf_append_str(&buf, "6789"));
	assert_string_equal(mc_buf_cstr(&buf), "12345");
	assert_false(mc_buf_printf(&buf, "%s", "abcd"));
	assert_string_equal(mc_buf_cstr(&buf), "12345");
	assert_true(mc_buf_printf(&buf, "%d", 678));
	assert_string_equal(mc_buf_cstr(&buf), "12345678");
	assert_false(mc_buf_append_c(&buf, 'x'));
	assert_true(mc_buf_append(&buf, "", 0));
	mc_buf_consume(&buf, 2);
	assert_true(mc_buf_append_str(&buf, "9a"));
	assert_string_equal(mc_buf_cstr(&buf), "3456789a");
	assert_false(mc_buf_append(&buf, "x", SIZE_MAX));
	mc_buf_free(&buf);
}

struct u64_case {
	const char *s;
	bool ok;
	uint64_t v;
};

/* Strict unsigned decimal. */
static void test_to_u64(void **state)
{
	static const struct u64_case cases[] = {
		{"0", true, 0},
		{"42", true, 42},
		{"007", true, 7},
		{"18446744073709551615", true, UINT64_MAX},
		{"18446744073709551616", false, 0},
		{"99999999999999999999", false, 0},
		{"", false, 0},
		{"-1", false, 0},
		{"+1", false, 0},
		{" 1", false, 0},
		{"1 ", false, 0},
		{"1a", false, 0},
		{"0x10", false, 0},
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 777;
		assert_int_equal(mc_str_to_u64(cases[i].s, &v), cases[i].ok);
		assert_int_equal(v, cases[i].ok ? cases[i].v : 777);
	}
}

struct i64_case {
	const char *s;
	bool ok;
	int64_t v;
};

/* Strict signed decimal: '-' allowed, '+' not. */
static void test_to_i64(void **state)
{
	static const struct i64_case cases[] = {
		{"0", true, 0},
		{"-0", true, 0},
		{"-42", true, -42},
		{"9223372036854775807", true, INT64_MAX},
		{"9223372036854775808", false, 0},
		{"-9223372036854775808", true, INT64_MIN},
		{"-9223372036854775809", false, 0},
		{"+5", false, 0},
		{"-", false, 0},
		{"--1", false, 0},
		{"", false, 0},
		{"1.5", false, 0},
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 777;
		assert_int_equal(mc_str_to_i64(cases[i].s, &v), cases[i].ok);
		assert_true(v == (cases[i].ok ? cases[i].v : 777));
	}
}

/* Sizes with binary suffixes. */
static void test_parse_size(void **state)
{
	static const struct u64_case cases[] = {
		{"0", true, 0},
		{"512", true, 512},
		{"10k", true, 10240},
		{"10K", true, 10240},
		{"25M", true, 25ULL << 20},
		{"2g", true, 2ULL << 30},
		{"1T", true, 1ULL << 40},
		{"16383T", true, 16383ULL << 40},
		{"16777216T", false, 0},
		{"", false, 0},
		{"k", false, 0},
		{"10kb", false, 0},
		{"10 k", false, 0},
		{"10x", false, 0},
		{"-1k", false, 0},
		{"1.5M", false, 0},
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 777;
		assert_int_equal(mc_str_parse_size(cases[i].s, &v),
				 cases[i].ok);
		assert_int_equal(v, cases[i].ok ? cases[i].v : 777);
	}
}

/* Durations in milliseconds; a bare number is seconds. */
static void test_parse_duration(void **state)
{
	static const struct u64_case cases[] = {
		{"0", true, 0},
		{"30", true, 30000},
		{"250ms", true, 250},
		{"30s", true, 30000},
		{"5m", true, 300000},
		{"4h", true, 4 * 3600000ULL},
		{"7d", true, 7 * 86400000ULL},
		{"10S", true, 10000},
		{"18446744073709551615ms", true, UINT64_MAX},
		{"18446744073709551615s", false, 0},
		{"", false, 0},
		{"s", false, 0},
		{"10min", false, 0},
		{"1w", false, 0},
		{"1.5s", false, 0},
		{"5 s", false, 0},
		{"-5s", false, 0},
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 777;
		assert_int_equal(mc_str_parse_duration_ms(cases[i].s, &v),
				 cases[i].ok);
		assert_int_equal(v, cases[i].ok ? cases[i].v : 777);
	}
}

struct bool_case {
	const char *s;
	bool ok, v;
};

/* Booleans in their usual spellings. */
static void test_parse_bool(void **state)
{
	static const struct bool_case cases[] = {
		{"yes", true, true},	{"YES", true, true},
		{"true", true, true},	{"On", true, true},
		{"1", true, true},	{"no", true, false},
		{"False", true, false}, {"off", true, false},
		{"0", true, false},	{"", false, false},
		{"y", false, false},	{"2", false, false},
		{"yes ", false, false}, {"onn", false, false},
	};
	bool v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = !cases[i].v;
		assert_int_equal(mc_str_parse_bool(cases[i].s, &v),
				 cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(v, cases[i].v);
	}
}

/* Case-insensitive compares, prefix, suffix, lower-casing, trimming. */
static void test_helpers(void **state)
{
	char s1[] = "MiXeD 123 Ä";
	char s2[] = " \t hello world \r\n";
	char s3[] = "   ";

	(void)state;
	assert_true(mc_str_eq_icase("Hello", "hELLO"));
	assert_true(mc_str_eq_icase("", ""));
	assert_false(mc_str_eq_icase("Hello", "Hell"));
	assert_false(mc_str_eq_icase("Hell", "Hello"));
	assert_true(mc_str_has_prefix("mailcore", "mail"));
	assert_true(mc_str_has_prefix("mail", ""));
	assert_false(mc_str_has_prefix("mail", "mailcore"));
	assert_false(mc_str_has_prefix("mailcore", "Mail"));
	assert_true(mc_str_has_suffix_icase("user@Example.ORG", ".org"));
	assert_false(mc_str_has_suffix_icase("org", "x.org"));
	assert_true(mc_str_has_suffix_icase("abc", ""));
	assert_string_equal(mc_str_lower(s1), "mixed 123 Ä");
	assert_string_equal(mc_str_trim(s2), "hello world");
	assert_string_equal(mc_str_trim(s3), "");
}

/* Splitting trims items and skips empty ones. */
static void test_split(void **state)
{
	struct mc_pool *pool = mc_pool_create("split", 0);
	char **items;
	size_t n;

	(void)state;
	items = mc_str_split(pool, " a, b ,,c ;d ", ",;", &n);
	assert_int_equal(n, 4);
	assert_string_equal(items[0], "a");
	assert_string_equal(items[1], "b");
	assert_string_equal(items[2], "c");
	assert_string_equal(items[3], "d");
	assert_null(items[4]);
	items = mc_str_split(pool, "", ",", &n);
	assert_int_equal(n, 0);
	assert_null(items[0]);
	items = mc_str_split(pool, " , ,", ",", &n);
	assert_int_equal(n, 0);
	items = mc_str_split(pool, "plain|json", "|", &n);
	assert_int_equal(n, 2);
	assert_string_equal(items[1], "json");
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_heap),
		cmocka_unit_test(test_buf_pool),
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_to_u64),
		cmocka_unit_test(test_to_i64),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
