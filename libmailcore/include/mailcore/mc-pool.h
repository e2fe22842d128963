/* mc-pool: memory pools (one per lifetime: connection, transaction, command)
 * and the aborting allocators everything else uses. Free the pool, not the
 * pieces. A secure pool zeroes every block before releasing it (secrets). */
#ifndef MC_POOL_H
#define MC_POOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct mc_pool;

/* Aborting allocators: never return NULL. Free with free(). */
void *mc_malloc(size_t size);
void *mc_calloc(size_t n, size_t size);
void *mc_realloc(void *ptr, size_t size);
char *mc_strdup(const char *s);
char *mc_strndup(const char *s, size_t n);
char *mc_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checked size arithmetic: false on overflow (result untouched). */
bool mc_size_add(size_t a, size_t b, size_t *result_r);
bool mc_size_mul(size_t a, size_t b, size_t *result_r);

/* Zero memory in a way the compiler cannot drop. */
void mc_secure_zero(void *ptr, size_t size);

/* A pool grows in blocks of at least block_size bytes (0 = 4096).
 * name appears in debug logs only. */
struct mc_pool *mc_pool_create(const char *name, size_t block_size);
/* Like mc_pool_create, but every block is zeroed before it is freed. */
struct mc_pool *mc_pool_create_secure(const char *name, size_t block_size);
/* Frees every allocation of the pool; accepts NULL and clears *pool. */
void mc_pool_destroy(struct mc_pool **pool);
/* Frees every allocation but keeps the pool (and its first block). */
void mc_pool_clear(struct mc_pool *pool);
/* Bytes handed out since creation or the last clear. */
size_t mc_pool_used(const struct mc_pool *pool);

/* Pool allocations live until the pool is cleared or destroyed. Memory is
 * zeroed and aligned for any type. Overflowing sizes abort. */
void *mc_palloc(struct mc_pool *pool, size_t size);
void *mc_palloc_array(struct mc_pool *pool, size_t n, size_t size);
char *mc_pstrdup(struct mc_pool *pool, const char *s);
char *mc_pstrndup(struct mc_pool *pool, const char *s, size_t n);
void *mc_pmemdup(struct mc_pool *pool, const void *data, size_t size);
char *mc_psprintf(struct mc_pool *pool, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *mc_pvsprintf(struct mc_pool *pool, const char *fmt, va_list ap);

#endif
