/* mc-directory-private: what mc-directory.c (the lookups in PostgreSQL)
 * and mc-directory-cache.c (the Redis cache of their results) share. */
#ifndef MC_DIRECTORY_PRIVATE_H
#define MC_DIRECTORY_PRIVATE_H

#include "mailcore/mc-directory.h"

#define DIR_GEN_MAX 24

/* Looks address up in the cache: 1 hit (*result_r filled from pool),
 * 0 miss (gen_r holds the generation to store under), -1 Redis error. */
int dir_cache_get(struct mc_redis *redis, struct mc_pool *pool,
		  const char *address, struct mc_directory_result *result_r,
		  char gen_r[DIR_GEN_MAX], struct mc_error *err);
/* Stores a result under generation gen for ttl_s seconds; best effort. */
void dir_cache_put(struct mc_redis *redis, const char *gen, const char *address,
		   const struct mc_directory_result *r, unsigned ttl_s);

#endif
