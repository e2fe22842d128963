/* mc-migrate: applies schema migrations in version order. Each runs in its
 * own transaction under a transaction-scoped advisory lock, so concurrent
 * runners serialise and none is applied twice; schema_migrations records
 * version, name and the SHA-256 of the SQL text to catch edited history. */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-migrate.h"
#include "mailcore/mc-pg.h"

/* "mailcore" in ASCII, as a bigint: the advisory lock key. */
#define MIGRATE_LOCK_KEY "7881696737120711269"

#define SQL_LOCK	   "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")"
#define SQL_READ_COMMITTED "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
#define SQL_CREATE                                                             \
	"CREATE TABLE IF NOT EXISTS schema_migrations ("                       \
	"version integer PRIMARY KEY, name text NOT NULL, "                    \
	"sha256 text NOT NULL, "                                               \
	"applied_at timestamptz NOT NULL DEFAULT now())"
#define SQL_SELECT "SELECT sha256 FROM schema_migrations WHERE version = $1"
#define SQL_INSERT                                                             \
	"INSERT INTO schema_migrations (version, name, sha256) "               \
	"VALUES ($1, $2, $3)"

struct apply_ctx {
	const struct mc_migration *m;
	char sha256[65];
};

/* Writes the lower-case hex SHA-256 of s into hex (65 bytes). */
static int sha256_hex(const char *s, char hex[65], struct mc_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL) != 1 ||
	    len != 32) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "migration: SHA-256 failed");
		return -1;
	}
	for (unsigned i = 0; i < len; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
	return 0;
}

/* Starts a migration transaction: read committed, then the lock, so that
 * what we read next includes what a concurrent runner committed. */
static int lock(struct mc_pg *pg, struct mc_error *err)
{
	if (mc_pg_exec_script(pg, SQL_READ_COMMITTED, err) < 0)
		return -1;
	return mc_pg_exec(pg, SQL_LOCK, 0, NULL, err) < 0 ? -1 : 0;
}

/* Transaction body: creates the bookkeeping table if missing. */
static int create_table(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	(void)ctx;
	if (lock(pg, err) < 0 || mc_pg_exec_script(pg, SQL_CREATE, err) < 0)
		return -1;
	return 0;
}

/* 1 if the migration is recorded, 0 if not, -1 on error or a changed
 * text. */
static int check_recorded(struct mc_pg *pg, const struct apply_ctx *a,
			  const char *version, struct mc_error *err)
{
	const char *params[] = {version};
	PGresult *res = mc_pg_query(pg, SQL_SELECT, 1, params, err);
	int ret;

	if (res == NULL)
		return -1;
	ret = PQntuples(res) > 0 ? 1 : 0;
	if (ret == 1 && strcmp(PQgetvalue(res, 0, 0), a->sha256) != 0) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "migration %s was changed after it was applied",
			     a->m->name);
		ret = -1;
	}
	PQclear(res);
	return ret;
}

/* Transaction body: applies one migration unless already recorded.
 * Returns 1 when applied, 0 when it already was. */
static int apply_one(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct apply_ctx *a = ctx;
	char version[16];
	const char *params[3] = {version, a->m->name, a->sha256};
	int recorded;

	snprintf(version, sizeof(version), "%u", a->m->version);
	if (lock(pg, err) < 0)
		return -1;
	recorded = check_recorded(pg, a, version, err);
	if (recorded != 0)
		return recorded > 0 ? 0 : -1;
	if (mc_pg_exec_script(pg, a->m->sql, err) < 0) {
		mc_error_prefix(err, "migration %s", a->m->name);
		return -1;
	}
	if (mc_pg_exec(pg, SQL_INSERT, 3, params, err) < 0)
		return -1;
	return 1;
}

/* Applies every migration not yet recorded; returns how many. */
int mc_migrate_apply(struct mc_pg *pg, const struct mc_migration *list,
		     size_t count, mc_migrate_progress_fn *progress, void *ctx,
		     struct mc_error *err)
{
	int applied = 0;

	if (mc_pg_transaction(pg, create_table, NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct apply_ctx a = {.m = &list[i]};
		int ret;

		if (sha256_hex(list[i].sql, a.sha256, err) < 0)
			return -1;
		ret = mc_pg_transaction(pg, apply_one, &a, err);
		if (ret < 0)
			return -1;
		if (ret == 1) {
			applied++;
			if (progress != NULL)
				progress(&list[i], ctx);
		}
	}
	return applied;
}
