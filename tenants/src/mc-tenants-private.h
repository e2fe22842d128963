/* mc-tenants-private: helpers shared by mc-tenants.c (tenants, domains,
 * users, aliases) and mc-tenants-mail.c (mail settings, grants,
 * networks). */
#ifndef MC_TENANTS_PRIVATE_H
#define MC_TENANTS_PRIVATE_H

#include <stddef.h>

#include "mailcore/mc-tenants.h"

struct mc_error;
struct mc_pg;

/* One of our own addresses, split and lower-cased. */
struct address {
	char local[MC_LOCAL_PART_MAX + 1];
	char domain[MC_DOMAIN_MAX + 1];
	char full[MC_ADDRESS_MAX + 1];
};

/* Splits and normalises one of our own addresses; 0 or -1 (INVALID). */
int tenants_parse_own(const char *address, struct address *a,
		      struct mc_error *err);
/* Runs a query and copies column 0 of row 0 into out (out_size bytes; may
 * be NULL). 1 found, 0 no row, -1 error. */
int tenants_query_value(struct mc_pg *pg, const char *sql, int n,
			const char *const *params, char *out, size_t out_size,
			struct mc_error *err);
/* Rewrites a duplicate-key error into "text"; returns -1. */
int tenants_exists_as(struct mc_error *err, const char *text);

#endif
