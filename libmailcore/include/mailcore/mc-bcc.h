/* mc-bcc: automatic BCC rules (table bcc_rules, managed through the admin
 * API): which extra addresses get a copy of a message. A rule of domain D
 * with direction "in" copies mail accepted for a local part of D ("*":
 * every address of D), "out" mail submitted with an envelope sender at D,
 * "both" either. A domain alias of D has D's rules (and its own, if any).
 * The rules of a transaction's domains are read in one round trip: one
 * Redis lookup under the directory generation (mc_directory_invalidate()
 * makes them stale, as it does cached lookups), one query for the domains
 * not cached. */
#ifndef MC_BCC_H
#define MC_BCC_H

#include <stddef.h>
#include <stdint.h>

struct mc_directory_settings;
struct mc_error;
struct mc_pg;
struct mc_pool;
struct mc_redis;

/* The most targets one transaction gets copies for (further matches are
 * ignored, with a warning in the log). */
#define MC_BCC_MAX_TARGETS 100

enum mc_bcc_direction {
	MC_BCC_IN = 0, /* the address is a local recipient */
	MC_BCC_OUT,    /* the address is an authenticated envelope sender */
};

/* One address of a transaction to match: "local@domain", any case; a
 * "+detail" is ignored (u+x@D matches the rules of u@D). */
struct mc_bcc_key {
	enum mc_bcc_direction direction;
	const char *address;
};

/* A matched rule's target. */
struct mc_bcc_target {
	int64_t tenant_id;   /* the rule's tenant (queues a remote copy) */
	const char *address; /* lower case */
};

/* Matches keys against the rules of their domains. The targets (from
 * pool, each once, in key order then rule order) are what every matching
 * rule names; *count_r may be 0. redis may be NULL, and set->cache_ttl_s
 * 0 means no cache; a Redis failure only skips the cache. 0, or -1 with
 * err (MC_ERR_TEMPORARY when PostgreSQL is down): never a silent skip. */
int mc_bcc_match(struct mc_pg *pg, struct mc_redis *redis,
		 const struct mc_directory_settings *set, struct mc_pool *pool,
		 const struct mc_bcc_key *keys, size_t count,
		 struct mc_bcc_target **targets_r, size_t *count_r,
		 struct mc_error *err);

#endif
