/* mc-mailbox-expunge: removing messages (EXPUNGE, UID EXPUNGE, DELETE of
 * a mailbox, the source half of MOVE) and copying them (COPY, MOVE).
 * Both keep the books in the same transaction: the expunge log for
 * QRESYNC, message reference counts (rows at 0 wait for mc_store_gc),
 * mailbox counters, and user and domain usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-str.h"
#include "mc-mailbox-private.h"

/* Deletes the rows, logs them, releases their message rows; returns the
 * result rows (uid, size) or NULL. */
static PGresult *delete_rows(struct mc_pg *pg, struct mc_pool *pool,
			     const struct mc_mailbox_owner *owner,
			     int64_t mailbox_id,
			     const struct mc_imap_seqset *uids,
			     bool only_deleted, uint64_t modseq,
			     struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], ms[MB_NUM];
	const char *lo = "{0}", *hi = "{4294967295}";
	if (uids != NULL)
		mb_ranges(pool, uids, &lo, &hi);
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(id, mailbox_id),
				lo,
				hi,
				only_deleted ? "8" : "0",
				mb_num(ms, (int64_t)modseq)};
	return mc_pg_query(
		pg,
		"WITH del AS (DELETE FROM mailbox_messages mm USING "
		"unnest($3::bigint[], $4::bigint[]) r(lo, hi) WHERE "
		"mm.tenant_id = $1 AND mm.mailbox_id = $2 AND mm.uid BETWEEN "
		"r.lo AND r.hi AND mm.flags & $5::int = $5::int RETURNING "
		"mm.uid, mm.message_id, mm.size_bytes), "
		"lg AS (INSERT INTO expunged (tenant_id, mailbox_id, uid, "
		"modseq) SELECT $1, $2, uid, $6 FROM del ON CONFLICT "
		"(tenant_id, "
		"mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq), "
		"ref AS (UPDATE messages m SET refcount = m.refcount - d.n, "
		"zero_since = CASE WHEN m.refcount - d.n <= 0 THEN now() END "
		"FROM (SELECT message_id, count(*) AS n FROM del GROUP BY "
		"message_id) d WHERE m.tenant_id = $1 AND m.id = d.message_id) "
		"SELECT uid, size_bytes FROM del ORDER BY uid",
		6, params, err);
}

/* Takes what was removed off the counters and the usage. */
static int release_usage(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
			 int64_t mailbox_id, size_t count, uint64_t bytes,
			 uint64_t modseq, struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], uid[MB_NUM], did[MB_NUM], n[MB_NUM],
		b[MB_NUM], ms[MB_NUM];
	const char *params[] = {
		mb_num(tid, owner->tenant_id), mb_num(id, mailbox_id),
		mb_num(uid, owner->user_id),   mb_num(did, owner->domain_id),
		mb_num(n, (int64_t)count),     mb_num(b, (int64_t)bytes),
		mb_num(ms, (int64_t)modseq)};
	return mc_pg_exec(
		       pg,
		       "WITH mb AS (UPDATE mailboxes SET highestmodseq = $7, "
		       "messages = greatest(messages - $5, 0), size_bytes = "
		       "greatest(size_bytes - $6, 0) WHERE tenant_id = $1 AND "
		       "id = $2), u AS (UPDATE users SET used_bytes = "
		       "greatest(used_bytes - $6, 0) WHERE tenant_id = $1 AND "
		       "id = $3) INSERT INTO domain_usage (tenant_id, "
		       "domain_id, "
		       "shard, used_bytes) VALUES ($1, $4, $3::bigint % 16, "
		       "-$6::bigint) ON CONFLICT (tenant_id, domain_id, shard) "
		       "DO UPDATE SET used_bytes = domain_usage.used_bytes + "
		       "EXCLUDED.used_bytes",
		       7, params, err) < 0
		       ? -1
		       : 0;
}

/* The mailbox's next MODSEQ (its row locked), 0 on error. */
static uint64_t lock_modseq(struct mc_pg *pg,
			    const struct mc_mailbox_owner *owner,
			    int64_t mailbox_id, struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(id, mailbox_id),
				mb_num(uid, owner->user_id)};
	PGresult *res = mc_pg_query(pg,
				    "SELECT highestmodseq + 1 FROM mailboxes "
				    "WHERE tenant_id = $1 AND id = $2 AND "
				    "user_id = $3 FOR UPDATE",
				    3, params, err);
	if (res == NULL)
		return 0;
	uint64_t m = PQntuples(res) > 0
			     ? strtoull(PQgetvalue(res, 0, 0), NULL, 10)
			     : 0;
	PQclear(res);
	if (m == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "mailbox is gone");
	return m;
}

int mb_expunge_txn(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		   const struct mc_imap_seqset *uids, bool only_deleted,
		   uint32_t **expunged_r, size_t *count_r, struct mc_error *err)
{
	uint64_t modseq = lock_modseq(pg, owner, mailbox_id, err);
	if (modseq == 0)
		return -1;
	PGresult *res = delete_rows(pg, pool, owner, mailbox_id, uids,
				    only_deleted, modseq, err);
	if (res == NULL)
		return -1;
	size_t n = (size_t)PQntuples(res);
	uint64_t bytes = 0;
	uint32_t *v = mc_palloc_array(pool, n + 1, sizeof(*v));
	for (size_t r = 0; r < n; r++) {
		v[r] = (uint32_t)strtoul(PQgetvalue(res, (int)r, 0), NULL, 10);
		bytes += strtoull(PQgetvalue(res, (int)r, 1), NULL, 10);
	}
	PQclear(res);
	*expunged_r = v;
	*count_r = n;
	if (n == 0)
		return 0;
	return release_usage(pg, owner, mailbox_id, n, bytes, modseq, err);
}

struct expunge_args {
	struct mc_pool *pool;
	const struct mc_mailbox_owner *owner;
	int64_t mailbox_id;
	const struct mc_imap_seqset *uids;
	uint32_t *expunged;
	size_t count;
};

/* Transaction body of mc_mailbox_expunge. */
static int expunge_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct expunge_args *a = ctx;
	return mb_expunge_txn(pg, a->pool, a->owner, a->mailbox_id, a->uids,
			      true, &a->expunged, &a->count, err);
}

int mc_mailbox_expunge(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		       const struct mc_imap_seqset *uids, uint32_t **expunged_r,
		       size_t *count_r, struct mc_error *err)
{
	struct expunge_args a = {pool, owner, mailbox_id, uids, NULL, 0};
	if (mc_pg_transaction(pg, expunge_txn, &a, err) < 0)
		return -1;
	*expunged_r = a.expunged;
	*count_r = a.count;
	return 0;
}

struct copy_args {
	struct mc_pool *pool;
	const struct mc_mailbox_owner *owner;
	int64_t mailbox_id;
	const struct mc_imap_seqset *uids;
	const char *to;
	bool move;
	struct mc_mailbox_copied *result;
};

/* Refuses a copy of bytes more than the owner's quota allows. */
static int check_quota(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		       uint64_t bytes, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], b[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id),
				mb_num(b, (int64_t)bytes)};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.quota_bytes > 0 AND u.used_bytes + $3 > "
		"u.quota_bytes "
		"OR d.quota_bytes > 0 AND (SELECT coalesce(sum(used_bytes), 0) "
		"FROM domain_usage du WHERE du.tenant_id = u.tenant_id AND "
		"du.domain_id = u.domain_id) + $3 > d.quota_bytes FROM users u "
		"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = "
		"u.domain_id WHERE u.tenant_id = $1 AND u.id = $2 FOR UPDATE "
		"OF u",
		3, params, err);
	if (res == NULL)
		return -1;
	bool over = PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (over)
		mc_error_set(err, MC_ERR_PERMANENT,
			     "over quota: the copy does not fit");
	return over ? -1 : 0;
}

/* The size of the messages to copy. */
static int copy_size(struct mc_pg *pg, struct copy_args *a, const char *lo,
		     const char *hi, uint64_t *bytes_r, struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM];
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(id, a->mailbox_id), lo, hi};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT coalesce(sum(size_bytes), 0) FROM mailbox_messages mm "
		"JOIN unnest($3::bigint[], $4::bigint[]) r(lo, hi) ON mm.uid "
		"BETWEEN r.lo AND r.hi WHERE mm.tenant_id = $1 AND "
		"mm.mailbox_id = $2",
		4, params, err);
	if (res == NULL)
		return -1;
	*bytes_r = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

static const char sql_copy[] =
	"WITH src AS (SELECT mm.uid, mm.message_id, mm.flags, mm.keywords, "
	"mm.internal_date, mm.size_bytes, row_number() OVER (ORDER BY mm.uid) "
	"AS n FROM mailbox_messages mm JOIN unnest($3::bigint[], "
	"$4::bigint[]) r(lo, hi) ON mm.uid BETWEEN r.lo AND r.hi WHERE "
	"mm.tenant_id = $1 AND mm.mailbox_id = $2), "
	"dst AS (UPDATE mailboxes SET uidnext = uidnext + (SELECT count(*) "
	"FROM src), highestmodseq = highestmodseq + 1, messages = messages + "
	"(SELECT count(*) FROM src), size_bytes = size_bytes + (SELECT "
	"coalesce(sum(size_bytes), 0) FROM src) WHERE tenant_id = $1 AND id = "
	"$5 RETURNING uidnext - (SELECT count(*) FROM src) AS first, "
	"highestmodseq), "
	"ins AS (INSERT INTO mailbox_messages (tenant_id, mailbox_id, uid, "
	"message_id, modseq, flags, keywords, internal_date, size_bytes) "
	"SELECT $1, $5, dst.first + src.n - 1, src.message_id, "
	"dst.highestmodseq, src.flags, src.keywords, src.internal_date, "
	"src.size_bytes FROM src, dst RETURNING uid), "
	"ref AS (UPDATE messages m SET refcount = m.refcount + s.n, zero_since "
	"= NULL FROM (SELECT message_id, count(*) AS n FROM src GROUP BY "
	"message_id) s WHERE m.tenant_id = $1 AND m.id = s.message_id) "
	"SELECT src.uid, dst.first + src.n - 1 FROM src, dst ORDER BY src.uid";

/* Copies the rows into the locked destination; fills the result. */
static int copy_rows(struct mc_pg *pg, struct copy_args *a, const char *lo,
		     const char *hi, struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], dst[MB_NUM];
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(id, a->mailbox_id), lo, hi,
				mb_num(dst, a->result->dst_mailbox_id)};
	PGresult *res = mc_pg_query(pg, sql_copy, 5, params, err);
	if (res == NULL)
		return -1;
	size_t n = (size_t)PQntuples(res);
	a->result->src = mc_palloc_array(a->pool, n + 1, sizeof(uint32_t));
	a->result->dst = mc_palloc_array(a->pool, n + 1, sizeof(uint32_t));
	for (size_t r = 0; r < n; r++) {
		a->result->src[r] =
			(uint32_t)strtoul(PQgetvalue(res, (int)r, 0), NULL, 10);
		a->result->dst[r] =
			(uint32_t)strtoul(PQgetvalue(res, (int)r, 1), NULL, 10);
	}
	a->result->count = n;
	PQclear(res);
	return 0;
}

/* Adds a copy's bytes to the owner's usage. */
static int add_usage(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		     uint64_t bytes, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], did[MB_NUM], b[MB_NUM];
	const char *params[] = {
		mb_num(tid, owner->tenant_id), mb_num(uid, owner->user_id),
		mb_num(did, owner->domain_id), mb_num(b, (int64_t)bytes)};
	return mc_pg_exec(
		       pg,
		       "WITH u AS (UPDATE users SET used_bytes = used_bytes "
		       "+ $4 WHERE tenant_id = $1 AND id = $2) INSERT INTO "
		       "domain_usage (tenant_id, domain_id, shard, "
		       "used_bytes) VALUES ($1, $3, $2::bigint % 16, $4) ON "
		       "CONFLICT (tenant_id, domain_id, shard) DO UPDATE SET "
		       "used_bytes = domain_usage.used_bytes + "
		       "EXCLUDED.used_bytes",
		       4, params, err) < 0
		       ? -1
		       : 0;
}

/* Transaction body of mc_mailbox_copy. */
static int copy_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct copy_args *a = ctx;
	const char *lo, *hi;
	uint64_t bytes;
	*a->result = (struct mc_mailbox_copied){0};
	mb_ranges(a->pool, a->uids, &lo, &hi);
	int r = mb_lock_by_name(pg, a->owner, a->to, &a->result->dst_mailbox_id,
				&a->result->uidvalidity, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no mailbox %s", a->to);
	if (r <= 0 || copy_size(pg, a, lo, hi, &bytes, err) < 0)
		return -1;
	if (!a->move && check_quota(pg, a->owner, bytes, err) < 0)
		return -1;
	if (copy_rows(pg, a, lo, hi, err) < 0)
		return -1;
	if (!a->move)
		return add_usage(pg, a->owner, bytes, err);
	uint32_t *gone;
	size_t n;
	struct mc_imap_seqset moved;
	mc_imap_seqset_from_sorted(a->pool, a->result->src, a->result->count,
				   &moved);
	/* the copies took the usage over: count it once */
	return add_usage(pg, a->owner, bytes, err) < 0
		       ? -1
		       : mb_expunge_txn(pg, a->pool, a->owner, a->mailbox_id,
					&moved, false, &gone, &n, err);
}

int mc_mailbox_copy(struct mc_pg *pg, struct mc_pool *pool,
		    const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		    const struct mc_imap_seqset *uids, const char *to,
		    bool move, struct mc_mailbox_copied *result_r,
		    struct mc_error *err)
{
	char norm[MC_MAILBOX_NAME_MAX + 1];
	struct copy_args a = {
		pool, owner,   mailbox_id, uids, mb_normal_name(to, norm),
		move, result_r};
	return mc_pg_transaction(pg, copy_txn, &a, err) < 0 ? -1 : 0;
}
