/* mc-quarantine-private: what the quarantine's files share: number
 * formatting, result columns, the scope's SQL and parameters, the item
 * columns and their reading, and transactions that join the caller's. */
#ifndef MC_QUARANTINE_PRIVATE_H
#define MC_QUARANTINE_PRIVATE_H

#include <stdint.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-quarantine.h"

#define QUAR_NUM 24

/* The scope of an item q: $1 tenants (NULL = all), $2 domain, $3 user
 * (NULL = any). */
#define QUAR_SQL_SCOPE                                                         \
	"($1::bigint[] IS NULL OR q.tenant_id = ANY ($1::bigint[])) AND "      \
	"($2::bigint IS NULL OR q.domain_id = $2::bigint) AND "                \
	"($3::bigint IS NULL OR q.user_id = $3::bigint) "

/* The columns mc_quarantine_fill_item reads, and where they come from. */
#define QUAR_SQL_ITEM                                                          \
	"SELECT q.tenant_id, q.id, q.user_id, q.domain_id, q.message_id, "     \
	"m.sha256, q.recipient, q.sender, q.subject, q.reason, q.category, "   \
	"q.size_bytes, extract(epoch FROM q.created_at)::bigint, "             \
	"extract(epoch FROM q.expires_at)::bigint, "                           \
	"extract(epoch FROM q.released_at)::bigint, "                          \
	"extract(epoch FROM q.digest_sent_at)::bigint, q.released_by "         \
	"FROM quarantine q LEFT JOIN messages m ON m.tenant_id = q.tenant_id " \
	"AND m.id = q.message_id "

/* v formatted into buf (for text parameters). */
const char *mc_quarantine_num(char buf[QUAR_NUM], int64_t v);
/* Column c of row r as an integer (0 when NULL). */
int64_t mc_quarantine_col_i64(const PGresult *res, int r, int c);
/* Column c of row r copied to pool; NULL when SQL NULL. */
const char *mc_quarantine_col_str(struct mc_pool *pool, const PGresult *res,
				  int r, int c);
/* Fills params[0..2] ($1-$3 of QUAR_SQL_SCOPE) from scope, from pool. */
void mc_quarantine_scope_params(struct mc_pool *pool,
				const struct mc_quarantine_scope *scope,
				const char *params[3]);
/* Reads row r of a QUAR_SQL_ITEM result into *item (strings from pool). */
void mc_quarantine_fill_item(struct mc_pool *pool, const PGresult *res, int r,
			     struct mc_quarantine_item *item);
/* Runs fn in the caller's open transaction, or in one of its own. */
int mc_quarantine_txn(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		      struct mc_error *err);

#endif
