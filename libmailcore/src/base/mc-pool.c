/* mc-pool: aborting allocators, checked size arithmetic and memory pools.
 * A pool is a list of blocks carved from the front; allocations bigger than
 * half a block get a block of their own. Secure pools zero every block
 * before it is released or reused. */
#include "mailcore/mc-pool.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN	   alignof(max_align_t)
#define POOL_DEFAULT_BLOCK 4096

struct pool_block {
	struct pool_block *next;
	size_t size, used;
	max_align_t data[];
};

struct mc_pool {
	char name[32];
	size_t block_size, used;
	bool secure;
	struct pool_block *first; /* kept across clears */
	struct pool_block *cur;	  /* small allocations come from here */
	struct pool_block *extra; /* every other block */
};

/* Reports an impossible allocation and aborts. */
static void __attribute__((noreturn)) oom(size_t size)
{
	fprintf(stderr, "mailcore: out of memory allocating %zu bytes\n", size);
	abort();
}

/* malloc that never returns NULL. */
void *mc_malloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

/* calloc that never returns NULL and checks n * size. */
void *mc_calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (!mc_size_mul(n, size, &total))
		oom(SIZE_MAX);
	p = calloc(total != 0 ? n : 1, total != 0 ? size : 1);
	if (p == NULL)
		oom(total);
	return p;
}

/* realloc that never returns NULL. */
void *mc_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size != 0 ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

/* strdup that never returns NULL. */
char *mc_strdup(const char *s)
{
	return mc_strndup(s, strlen(s));
}

/* Copies at most n bytes of s and a NUL. */
char *mc_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = mc_malloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* vasprintf that never returns NULL. */
char *mc_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (ret < 0)
		oom(0);
	return s;
}

/* *result_r = a + b unless that overflows. */
bool mc_size_add(size_t a, size_t b, size_t *result_r)
{
	if (a > SIZE_MAX - b)
		return false;
	*result_r = a + b;
	return true;
}

/* *result_r = a * b unless that overflows. */
bool mc_size_mul(size_t a, size_t b, size_t *result_r)
{
	if (b != 0 && a > SIZE_MAX / b)
		return false;
	*result_r = a * b;
	return true;
}

/* Zeroes memory; explicit_bzero is never optimised away. */
void mc_secure_zero(void *ptr, size_t size)
{
	if (ptr != NULL && size != 0)
		explicit_bzero(ptr, size);
}

/* Allocates a zeroed block with room for size bytes. */
static struct pool_block *block_new(size_t size)
{
	struct pool_block *b;
	size_t total;

	if (!mc_size_add(sizeof(*b), size, &total))
		oom(SIZE_MAX);
	b = mc_calloc(1, total);
	b->size = size;
	return b;
}

/* Releases a block, zeroing it first in a secure pool. */
static void block_free(const struct mc_pool *pool, struct pool_block *b)
{
	if (pool->secure)
		mc_secure_zero(b, sizeof(*b) + b->size);
	free(b);
}

/* Creates a pool; the first block is allocated at once. */
static struct mc_pool *pool_create(const char *name, size_t block_size,
				   bool secure)
{
	struct mc_pool *pool = mc_calloc(1, sizeof(*pool));

	snprintf(pool->name, sizeof(pool->name), "%s", name ? name : "");
	if (block_size == 0)
		block_size = POOL_DEFAULT_BLOCK;
	/* Keep block sizes a multiple of the alignment. */
	block_size = (block_size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	pool->block_size = block_size;
	pool->secure = secure;
	pool->first = block_new(block_size);
	pool->cur = pool->first;
	return pool;
}

/* A pool whose blocks are freed without being zeroed. */
struct mc_pool *mc_pool_create(const char *name, size_t block_size)
{
	return pool_create(name, block_size, false);
}

/* A pool for secrets: every block is zeroed before it is freed. */
struct mc_pool *mc_pool_create_secure(const char *name, size_t block_size)
{
	return pool_create(name, block_size, true);
}

/* Frees every block but the first. */
static void pool_free_extra(struct mc_pool *pool)
{
	struct pool_block *b, *next;

	for (b = pool->extra; b != NULL; b = next) {
		next = b->next;
		block_free(pool, b);
	}
	pool->extra = NULL;
}

/* Frees the pool and everything allocated from it. */
void mc_pool_destroy(struct mc_pool **poolp)
{
	struct mc_pool *pool;

	if (poolp == NULL || *poolp == NULL)
		return;
	pool = *poolp;
	*poolp = NULL;
	pool_free_extra(pool);
	block_free(pool, pool->first);
	free(pool);
}

/* Forgets every allocation; the first block is zeroed and reused. */
void mc_pool_clear(struct mc_pool *pool)
{
	pool_free_extra(pool);
	mc_secure_zero(pool->first->data, pool->first->used);
	pool->first->used = 0;
	pool->cur = pool->first;
	pool->used = 0;
}

/* Bytes handed out since creation or the last clear. */
size_t mc_pool_used(const struct mc_pool *pool)
{
	return pool->used;
}

/* Puts b on the list of extra blocks. */
static void pool_link(struct mc_pool *pool, struct pool_block *b)
{
	b->next = pool->extra;
	pool->extra = b;
}

/* Zeroed, max_align_t-aligned memory that lives as long as the pool. */
void *mc_palloc(struct mc_pool *pool, size_t size)
{
	struct pool_block *b = pool->cur;
	size_t rounded;
	void *p;

	if (!mc_size_add(size != 0 ? size : 1, POOL_ALIGN - 1, &rounded))
		oom(size);
	rounded &= ~(POOL_ALIGN - 1);
	if (rounded > pool->block_size / 2) {
		b = block_new(rounded);
		pool_link(pool, b);
	} else if (b->size - b->used < rounded) {
		b = block_new(pool->block_size);
		pool_link(pool, b);
		pool->cur = b;
	}
	p = (char *)b->data + b->used;
	b->used += rounded;
	pool->used += size;
	return p;
}

/* Zeroed room for n items of size bytes; aborts on overflow. */
void *mc_palloc_array(struct mc_pool *pool, size_t n, size_t size)
{
	size_t total;

	if (!mc_size_mul(n, size, &total))
		oom(SIZE_MAX);
	return mc_palloc(pool, total);
}

/* Copies s into the pool. */
char *mc_pstrdup(struct mc_pool *pool, const char *s)
{
	return mc_pmemdup(pool, s, strlen(s) + 1);
}

/* Copies at most n bytes of s and a NUL into the pool. */
char *mc_pstrndup(struct mc_pool *pool, const char *s, size_t n)
{
	size_t len = strnlen(s, n), total;
	char *p;

	if (!mc_size_add(len, 1, &total))
		oom(SIZE_MAX);
	p = mc_palloc(pool, total);
	memcpy(p, s, len);
	return p;
}

/* Copies size bytes of data into the pool. */
void *mc_pmemdup(struct mc_pool *pool, const void *data, size_t size)
{
	void *p = mc_palloc(pool, size);

	if (size != 0)
		memcpy(p, data, size);
	return p;
}

/* sprintf into pool memory. */
char *mc_psprintf(struct mc_pool *pool, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = mc_pvsprintf(pool, fmt, ap);
	va_end(ap);
	return s;
}

/* vsprintf into pool memory. */
char *mc_pvsprintf(struct mc_pool *pool, const char *fmt, va_list ap)
{
	va_list ap2;
	char *s;
	int len;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0)
		oom(0);
	s = mc_palloc(pool, (size_t)len + 1);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	return s;
}
