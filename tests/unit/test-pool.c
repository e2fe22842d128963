/* test-pool: aborting allocators, checked size arithmetic, secure zero and
 * pools (alignment, zeroed memory, big allocations, clear, secure pools,
 * overflow aborts checked in a forked child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-pool.h"
#include "mc-test.h"

#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct size_case {
	size_t a, b;
	bool ok;
	size_t result;
};

/* mc_size_add and mc_size_mul at and past the limits. */
static void test_size_math(void **state)
{
	static const struct size_case add[] = {
		{0, 0, true, 0},
		{1, 2, true, 3},
		{SIZE_MAX - 1, 1, true, SIZE_MAX},
		{SIZE_MAX, 1, false, 0},
		{SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 1, false, 0},
	};
	static const struct size_case mul[] = {
		{0, SIZE_MAX, true, 0},
		{SIZE_MAX, 0, true, 0},
		{3, 7, true, 21},
		{SIZE_MAX, 1, true, SIZE_MAX},
		{SIZE_MAX / 2 + 1, 2, false, 0},
		{(size_t)1 << 32, (size_t)1 << 32, false, 0},
	};
	size_t r;

	(void)state;
	for (size_t i = 0; i < sizeof(add) / sizeof(add[0]); i++) {
		r = 12345;
		assert_int_equal(mc_size_add(add[i].a, add[i].b, &r),
				 add[i].ok);
		assert_int_equal(r, add[i].ok ? add[i].result : 12345);
	}
	for (size_t i = 0; i < sizeof(mul) / sizeof(mul[0]); i++) {
		r = 12345;
		assert_int_equal(mc_size_mul(mul[i].a, mul[i].b, &r),
				 mul[i].ok);
		assert_int_equal(r, mul[i].ok ? mul[i].result : 12345);
	}
}

/* The heap helpers copy and format correctly. */
static void test_heap_helpers(void **state)
{
	char *s, *p;
	int *v;

	(void)state;
	s = mc_strdup("hello");
	assert_string_equal(s, "hello");
	free(s);
	s = mc_strndup("hello", 3);
	assert_string_equal(s, "hel");
	free(s);
	s = mc_strndup("hi", 10);
	assert_string_equal(s, "hi");
	free(s);
	s = mc_asprintf("%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	free(s);
	v = mc_calloc(4, sizeof(*v));
	assert_int_equal(v[0] | v[1] | v[2] | v[3], 0);
	free(v);
	p = mc_malloc(0);
	assert_non_null(p);
	p = mc_realloc(p, 100);
	memset(p, 'a', 100);
	free(p);
}

/* mc_secure_zero clears exactly the range asked. */
static void test_secure_zero(void **state)
{
	char buf[16];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	mc_secure_zero(buf + 4, 8);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf[i], i >= 4 && i < 12 ? 0 : 'x');
	mc_secure_zero(NULL, 0);
}

/* Allocations are aligned, zeroed, distinct and counted. */
static void test_pool_alloc(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 256);
	unsigned char *prev = NULL, *p;
	size_t total = 0;

	(void)state;
	assert_int_equal(mc_pool_used(pool), 0);
	for (size_t size = 0; size < 300; size += 7) {
		p = mc_palloc(pool, size);
		assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xaa, size);
		assert_ptr_not_equal(p, prev);
		prev = p;
		total += size;
	}
	assert_int_equal(mc_pool_used(pool), total);
	mc_pool_destroy(&pool);
	assert_null(pool);
	mc_pool_destroy(&pool);
	mc_pool_destroy(NULL);
}

/* A big allocation gets its own block and small ones continue in the
 * current block; earlier data survives. */
static void test_pool_big(void **state)
{
	struct mc_pool *pool = mc_pool_create("big", 0);
	char *a, *big, *b;

	(void)state;
	a = mc_pstrdup(pool, "first");
	big = mc_palloc(pool, 100000);
	memset(big, 'b', 100000);
	b = mc_palloc(pool, 16);
	/* b follows a in the same 4096-byte block. */
	assert_true(b > a && b - a < 4096);
	assert_string_equal(a, "first");
	assert_int_equal(big[99999], 'b');
	assert_int_equal(mc_pool_used(pool), 6 + 100000 + 16);
	mc_pool_destroy(&pool);
}

/* The string and memory helpers copy into the pool. */
static void test_pool_strings(void **state)
{
	struct mc_pool *pool = mc_pool_create("str", 64);
	const char data[4] = {1, 0, 2, 3};
	char *s, *m;
	int *arr;

	(void)state;
	assert_string_equal(mc_pstrdup(pool, "abc"), "abc");
	assert_string_equal(mc_pstrdup(pool, ""), "");
	assert_string_equal(mc_pstrndup(pool, "abcdef", 2), "ab");
	assert_string_equal(mc_pstrndup(pool, "ab", 200), "ab");
	m = mc_pmemdup(pool, data, sizeof(data));
	assert_memory_equal(m, data, sizeof(data));
	s = mc_psprintf(pool, "%d-%s-%05.1f", 7, "x", 2.5);
	assert_string_equal(s, "7-x-002.5");
	s = mc_psprintf(pool, "%0200d", 1);
	assert_int_equal(strlen(s), 200);
	assert_int_equal(s[199], '1');
	arr = mc_palloc_array(pool, 10, sizeof(*arr));
	for (int i = 0; i < 10; i++)
		assert_int_equal(arr[i], 0);
	mc_pool_destroy(&pool);
}

/* Clear forgets everything, keeps the pool usable and hands out zeroed
 * memory again, also where old data lived. */
static void test_pool_clear(void **state)
{
	struct mc_pool *pool = mc_pool_create("clear", 128);
	unsigned char *p, *q;

	(void)state;
	p = mc_palloc(pool, 32);
	memset(p, 0xff, 32);
	for (int i = 0; i < 50; i++)
		memset(mc_palloc(pool, 40), 0xee, 40);
	memset(mc_palloc(pool, 5000), 0xdd, 5000);
	mc_pool_clear(pool);
	assert_int_equal(mc_pool_used(pool), 0);
	q = mc_palloc(pool, 32);
	assert_ptr_equal(p, q); /* the first block is reused */
	for (int i = 0; i < 32; i++)
		assert_int_equal(q[i], 0);
	assert_int_equal(mc_pool_used(pool), 32);
	mc_pool_destroy(&pool);
}

/* A secure pool wipes its first block on clear (observable because the
 * block is reused) and behaves like a normal pool otherwise. */
static void test_pool_secure(void **state)
{
	struct mc_pool *pool = mc_pool_create_secure("secret", 0);
	char *secret, *again;

	(void)state;
	secret = mc_pstrdup(pool, "hunter2-password");
	for (int i = 0; i < 100; i++)
		mc_pstrdup(pool, "another secret string, longer than 16");
	mc_palloc(pool, 70000);
	mc_pool_clear(pool);
	/* secret points into the kept first block: it must be zero now. */
	for (size_t i = 0; i < sizeof("hunter2-password"); i++)
		assert_int_equal(secret[i], 0);
	again = mc_pstrdup(pool, "x");
	assert_ptr_equal(again, secret);
	mc_pool_destroy(&pool);
	assert_null(pool);
}

static void palloc_huge(const void *arg)
{
	(void)arg;
	struct mc_pool *pool = mc_pool_create("huge", 0);

	mc_palloc(pool, SIZE_MAX - 3);
}

static void palloc_array_overflow(const void *arg)
{
	(void)arg;
	struct mc_pool *pool = mc_pool_create("ovf", 0);

	mc_palloc_array(pool, SIZE_MAX / 4, 8);
}

static void calloc_overflow(const void *arg)
{
	(void)arg;
	mc_calloc(SIZE_MAX / 2, 3);
}

/* Overflowing sizes abort instead of returning short memory. */
static void test_overflow_aborts(void **state)
{
	(void)state;
	mc_test_expect_abort(palloc_huge, NULL);
	mc_test_expect_abort(palloc_array_overflow, NULL);
	mc_test_expect_abort(calloc_overflow, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_math),
		cmocka_unit_test(test_heap_helpers),
		cmocka_unit_test(test_secure_zero),
		cmocka_unit_test(test_pool_alloc),
		cmocka_unit_test(test_pool_big),
		cmocka_unit_test(test_pool_strings),
		cmocka_unit_test(test_pool_clear),
		cmocka_unit_test(test_pool_secure),
		cmocka_unit_test(test_overflow_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
