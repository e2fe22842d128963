/* mc-queue-private: what the queue's agent side (mc-queue.c) and its
 * management side (mc-queue-admin.c) share: number formatting, result
 * columns, transactions that join the caller's, and dropping an entry
 * with its message reference. */
#ifndef MC_QUEUE_PRIVATE_H
#define MC_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mailcore/mc-pg.h"

#define QUEUE_NUM 24

/* The states a recipient still needs the agent in (SQL list). */
#define QUEUE_PENDING "('queued', 'deferred', 'failed')"

/* When a pending recipient may be claimed (the index expression). */
#define QUEUE_DUE_AT                                                           \
	"greatest(r.next_attempt, coalesce(r.claimed_until, '-infinity'))"

/* The lower-cased domain of an address column (after the last '@'). */
#define QUEUE_DOMAIN_OF(col)                                                   \
	"lower(coalesce(substring(" col " from '@([^@]*)$'), ''))"

/* v formatted into buf (for text parameters). */
const char *mc_queue_num(char buf[QUEUE_NUM], int64_t v);
/* Column c of row r as an integer (0 when NULL). */
int64_t mc_queue_col_i64(const PGresult *res, int r, int c);
/* Column c of row r copied to pool, NULL when SQL NULL. */
const char *mc_queue_col_str(struct mc_pool *pool, const PGresult *res, int r,
			     int c);
/* Runs fn in the caller's open transaction, or in one of its own. */
int mc_queue_txn(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		 struct mc_error *err);
/* Deletes entry (its recipients cascade) and drops its message's
 * refcount, setting zero_since at 0 as the store's GC expects; with
 * only_if_final, only when no recipient is pending. 1 dropped, 0 not,
 * -1 with err. */
int mc_queue_drop_entry(struct mc_pg *pg, int64_t tenant_id, int64_t entry_id,
			bool only_if_final, struct mc_error *err);

#endif
