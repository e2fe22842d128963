/* mc-quarantine-release: releasing an item in one transaction: lock it,
 * rebuild the stored message's description from its row, deliver it into
 * the recipient's INBOX through the store (which takes the mailbox's
 * reference), and mark the item released (the schema's trigger drops the
 * item's own reference). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-store.h"
#include "mc-quarantine-private.h"

#define MAX_ACTOR 400 /* as the schema allows */

/* Locks item $4 in scope and reads it with its message row. */
static const char sql_lock[] =
	"SELECT q.user_id, q.domain_id, q.recipient, q.released_at IS NOT "
	"NULL, extract(epoch FROM q.created_at)::bigint, m.sha256, "
	"m.size_bytes, encode(m.envelope, 'hex'), encode(m.body, 'hex'), "
	"encode(m.bodystructure, 'hex'), m.subject, m.from_addr, m.to_addr, "
	"m.cc_addr, m.message_id, m.in_reply_to, m.refs, m.base_subject, "
	"m.sort_from, m.sort_to, m.sort_cc, m.parts, "
	"extract(epoch FROM m.sent_at)::bigint, m.has_attachments, "
	"q.tenant_id FROM quarantine q LEFT JOIN messages m ON m.tenant_id = "
	"q.tenant_id AND m.id = q.message_id WHERE " QUAR_SQL_SCOPE
	"AND q.id = $4 FOR UPDATE OF q";

/* Marks item $2 of tenant $1 released by $3, without its message. */
static const char sql_mark[] =
	"UPDATE quarantine SET released_at = now(), released_by = $3, "
	"message_id = NULL WHERE tenant_id = $1 AND id = $2";

/* One release's state (rebuilt on every attempt). */
struct release {
	const struct mc_quarantine_scope *scope;
	int64_t id;
	const char *actor;
	struct mc_pool *pool;
	struct mc_message_info info;
	struct mc_store_local local;
	struct mc_store_delivery d;
	struct mc_store_local_result result;
	int found;
};

/* The value of a hex digit. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

/* The bytes hex digits stand for, as a string (the IMAP values stored as
 * bytea have no NUL). */
static const char *unhex(struct mc_pool *pool, const char *hex)
{
	size_t n = strlen(hex) / 2;
	char *out = mc_palloc(pool, n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(hexval(hex[2 * i]) << 4 |
				hexval(hex[2 * i + 1]));
	out[n] = '\0';
	return out;
}

/* Column c of the locked row as a string ("" when NULL). */
static const char *col(struct release *rl, const PGresult *res, int c)
{
	const char *s = mc_quarantine_col_str(rl->pool, res, 0, c);
	return s != NULL ? s : "";
}

/* The message description a delivery takes, from the message row. */
static void read_info(struct release *rl, const PGresult *res)
{
	struct mc_message_info *m = &rl->info;
	*m = (struct mc_message_info){
		.size = (uint64_t)mc_quarantine_col_i64(res, 0, 6),
		.envelope = unhex(rl->pool, col(rl, res, 7)),
		.body = unhex(rl->pool, col(rl, res, 8)),
		.bodystructure = unhex(rl->pool, col(rl, res, 9)),
		.subject = col(rl, res, 10),
		.from = col(rl, res, 11),
		.to = col(rl, res, 12),
		.cc = col(rl, res, 13),
		.message_id = col(rl, res, 14),
		.in_reply_to = col(rl, res, 15),
		.references = col(rl, res, 16),
		.base_subject = col(rl, res, 17),
		.sort_from = col(rl, res, 18),
		.sort_to = col(rl, res, 19),
		.sort_cc = col(rl, res, 20),
		.parts = col(rl, res, 21),
		.has_date = !PQgetisnull(res, 0, 22),
		.date = (time_t)mc_quarantine_col_i64(res, 0, 22),
		.has_attachments = PQgetvalue(res, 0, 23)[0] == 't'};
	/* only used should the row have to be made again: it cannot while
	 * the item holds its reference */
	m->text = m->subject;
	m->text_len = strlen(m->text);
}

/* The delivery of the locked item into its recipient's INBOX. */
static void read_delivery(struct release *rl, const PGresult *res)
{
	read_info(rl, res);
	rl->local = (struct mc_store_local){
		.tenant_id = mc_quarantine_col_i64(res, 0, 24),
		.user_id = mc_quarantine_col_i64(res, 0, 0),
		.domain_id = mc_quarantine_col_i64(res, 0, 1),
		.address = col(rl, res, 2)};
	rl->d = (struct mc_store_delivery){
		.sha256 = col(rl, res, 5),
		.info = &rl->info,
		.internal_date = (time_t)mc_quarantine_col_i64(res, 0, 4),
		.local = &rl->local,
		.local_count = 1,
		.queue_id = "",
		.sender = ""};
}

/* Locks and reads the item: 1, 0 when not in scope, -1 (also when it
 * was released already or lost its message). */
static int lock_item(struct mc_pg *pg, struct release *rl, struct mc_error *err)
{
	char idbuf[QUAR_NUM];
	const char *params[4];
	mc_quarantine_scope_params(rl->pool, rl->scope, params);
	params[3] = mc_quarantine_num(idbuf, rl->id);
	PGresult *res = mc_pg_query(pg, sql_lock, 4, params, err);
	if (res == NULL)
		return -1;
	int r = PQntuples(res) > 0;
	if (r > 0 && PQgetvalue(res, 0, 3)[0] == 't') {
		mc_error_set(err, MC_ERR_STALE,
			     "quarantine item %lld was "
			     "already released",
			     (long long)rl->id);
		r = -1;
	} else if (r > 0 && PQgetisnull(res, 0, 5)) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "quarantine item %lld "
			     "has no message",
			     (long long)rl->id);
		r = -1;
	} else if (r > 0) {
		read_delivery(rl, res);
	}
	PQclear(res);
	return r;
}

/* The error of a delivery the store refused. */
static void refused(const struct release *rl, struct mc_error *err)
{
	if (rl->result.status == MC_STORE_NO_MAILBOX)
		mc_error_set(err, MC_ERR_PERMANENT, "recipient %s is gone",
			     rl->local.address);
	else
		mc_error_set(err, MC_ERR_LIMIT, "recipient %s is over quota",
			     rl->local.address);
}

/* The release transaction. */
static int release_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct release *rl = ctx;
	char tid[QUAR_NUM], idbuf[QUAR_NUM];
	bool committed = false;
	mc_pool_clear(rl->pool);
	rl->found = lock_item(pg, rl, err);
	if (rl->found <= 0)
		return rl->found;
	if (mc_store_deliver_in(pg, &rl->d, &rl->result, &committed, err) < 0)
		return -1;
	if (!committed || rl->result.status != MC_STORE_DELIVERED) {
		refused(rl, err);
		return -1;
	}
	const char *params[] = {mc_quarantine_num(tid, rl->local.tenant_id),
				mc_quarantine_num(idbuf, rl->id), rl->actor};
	return mc_pg_exec(pg, sql_mark, 3, params, err) < 0 ? -1 : 0;
}

int mc_quarantine_release(struct mc_pg *pg, struct mc_redis *redis,
			  const struct mc_quarantine_scope *scope, int64_t id,
			  const char *actor, struct mc_error *err)
{
	if (actor == NULL || actor[0] == '\0' || strlen(actor) > MAX_ACTOR) {
		mc_error_set(err, MC_ERR_INVALID, "quarantine: bad actor");
		return -1;
	}
	struct release rl = {
		.scope = scope,
		.id = id,
		.actor = actor,
		.pool = mc_pool_create("quarantine-release", 8192)};
	bool own = !mc_pg_in_transaction(pg);
	int r = mc_quarantine_txn(pg, release_txn, &rl, err);
	/* announced once committed: the caller's commit is not known */
	if (r >= 0 && rl.found > 0 && own && redis != NULL)
		mc_store_notify(redis, &rl.d, &rl.result);
	mc_pool_destroy(&rl.pool);
	return r < 0 ? -1 : rl.found;
}
