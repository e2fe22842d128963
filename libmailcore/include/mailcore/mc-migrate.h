/* mc-migrate: applies schema migrations in version order, each once, each
 * in its own transaction under an advisory lock, recording version, name
 * and SHA-256 in schema_migrations. A recorded migration whose text has
 * changed since is an error. */
#ifndef MC_MIGRATE_H
#define MC_MIGRATE_H

#include <stddef.h>

struct mc_error;
struct mc_pg;

struct mc_migration {
	unsigned version;
	const char *name; /* "0001_tenancy" */
	const char *sql;
};

/* Called for each migration applied. */
typedef void mc_migrate_progress_fn(const struct mc_migration *m, void *ctx);

/* list must be sorted by version. Returns the number applied, or -1. */
int mc_migrate_apply(struct mc_pg *pg, const struct mc_migration *list,
		     size_t count, mc_migrate_progress_fn *progress, void *ctx,
		     struct mc_error *err);

#endif
