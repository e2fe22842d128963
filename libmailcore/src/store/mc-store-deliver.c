/* mc-store-deliver: one delivery, one transaction of few statements:
 * lock the recipients' user rows in id order (concurrent deliveries never
 * deadlock) and check quotas, upsert the message row per tenant with its
 * reference count, then per mailbox one statement giving it the next UID
 * and MODSEQ and updating user and domain usage; last the outbound queue
 * entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"

#define NUM 24

/* A tenant touched by the delivery, with its message row. */
struct txn_tenant {
	int64_t id;
	unsigned refs;
	bool queue;
	char message_id[NUM];
	char queue_entry[NUM];
};

/* The transaction's state (rebuilt on every retry). */
struct txn {
	const struct mc_store_delivery *d;
	struct mc_store_local_result *results;
	struct mc_pool *pool;
	struct txn_tenant *tenants;
	size_t tenants_count;
	unsigned delivered;
	bool committed;
};

/* Formats a 64-bit integer into buf. */
static const char *num(char buf[NUM], int64_t v)
{
	snprintf(buf, NUM, "%lld", (long long)v);
	return buf;
}

/* The tenant entry for id, added when new. */
static struct txn_tenant *tenant_of(struct txn *t, int64_t id)
{
	for (size_t i = 0; i < t->tenants_count; i++) {
		if (t->tenants[i].id == id)
			return &t->tenants[i];
	}
	struct txn_tenant *n = &t->tenants[t->tenants_count++];
	*n = (struct txn_tenant){.id = id};
	return n;
}

/* Locks the recipients' user rows (in id order, so concurrent deliveries
 * never deadlock) and reads their quota state: user id, quota, usage,
 * domain quota, domain usage (the sum of its shards), active. */
static const char sql_lock[] =
	"SELECT u.id, u.quota_bytes, u.used_bytes, d.quota_bytes, "
	"(SELECT coalesce(sum(used_bytes), 0) FROM domain_usage du WHERE "
	"du.tenant_id = u.tenant_id AND du.domain_id = u.domain_id), "
	"u.status = 'active' FROM users u JOIN unnest($1::bigint[], "
	"$2::bigint[]) AS k(t, i) ON u.tenant_id = k.t AND u.id = k.i "
	"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = u.domain_id "
	"ORDER BY u.id FOR UPDATE OF u";

/* The quota state of one locked user. */
struct quota_row {
	int64_t user_id, quota, used, domain_quota, domain_used;
	bool active;
};

/* Decides recipient i against the locked rows, counting what this
 * delivery already gave to the same domain. A copy (automatic BCC) that
 * fails is dropped: no bounce, and alone it commits nothing. */
static enum mc_store_local_status
decide(struct txn *t, size_t i, const struct quota_row *rows, size_t nrows)
{
	const struct mc_store_local *l = &t->d->local[i];
	int64_t size = (int64_t)t->d->info->size, prior = 0;
	const struct quota_row *q = NULL;
	for (size_t j = 0; j < nrows; j++) {
		if (rows[j].user_id == l->user_id)
			q = &rows[j];
	}
	if (q == NULL || !q->active)
		return MC_STORE_NO_MAILBOX;
	for (size_t j = 0; j < i; j++) {
		if (t->results[j].status == MC_STORE_DELIVERED &&
		    t->d->local[j].domain_id == l->domain_id)
			prior += size;
	}
	if (q->quota > 0 && q->used + size > q->quota)
		return MC_STORE_OVER_QUOTA;
	if (q->domain_quota > 0 &&
	    q->domain_used + prior + size > q->domain_quota)
		return MC_STORE_OVER_DOMAIN_QUOTA;
	return MC_STORE_DELIVERED;
}

/* Locks the users and sets every local recipient's status. Domain usage
 * is read, not locked: deliveries racing into one domain may pass its
 * quota by a message or so, as in other mail stores. */
static int lock_and_check(struct mc_pg *pg, struct txn *t, struct mc_error *err)
{
	size_t n = t->d->local_count;
	if (n == 0)
		return 0;
	int64_t *tenants = mc_palloc_array(t->pool, n, sizeof(*tenants));
	int64_t *users = mc_palloc_array(t->pool, n, sizeof(*users));
	for (size_t i = 0; i < n; i++) {
		tenants[i] = t->d->local[i].tenant_id;
		users[i] = t->d->local[i].user_id;
	}
	const char *params[] = {mc_pg_id_array(t->pool, tenants, n),
				mc_pg_id_array(t->pool, users, n)};
	PGresult *res = mc_pg_query(pg, sql_lock, 2, params, err);
	if (res == NULL)
		return -1;
	size_t nrows = (size_t)PQntuples(res);
	struct quota_row *rows =
		mc_palloc_array(t->pool, nrows + 1, sizeof(*rows));
	for (size_t r = 0; r < nrows; r++) {
		int64_t v[5];
		for (int c = 0; c < 5; c++)
			v[c] = strtoll(PQgetvalue(res, (int)r, c), NULL, 10);
		rows[r] = (struct quota_row){
			v[0], v[1], v[2],
			v[3], v[4], PQgetvalue(res, (int)r, 5)[0] == 't'};
	}
	PQclear(res);
	for (size_t i = 0; i < n; i++)
		t->results[i] = (struct mc_store_local_result){
			.status = decide(t, i, rows, nrows)};
	return 0;
}

static const char sql_message[] =
	"INSERT INTO messages (tenant_id, sha256, size_bytes, refcount, "
	"envelope, body, bodystructure, subject, from_addr, to_addr, cc_addr, "
	"message_id, in_reply_to, refs, base_subject, sort_from, sort_to, "
	"sort_cc, parts, sent_at, has_attachments, search) VALUES ($1, $2, "
	"$3, $4, decode($5, 'hex'), decode($6, 'hex'), decode($7, 'hex'), $8, "
	"$9, $10, $11, $12, $13, $14, $15, $16, $17, "
	"$18, $19, to_timestamp($20::double precision), $21, "
	"to_tsvector('simple', $22)) ON CONFLICT (tenant_id, sha256) DO "
	"UPDATE SET refcount = messages.refcount + EXCLUDED.refcount, "
	"zero_since = NULL RETURNING id";

/* Text safe for PostgreSQL: NUL-free is guaranteed by mc-message, but
 * invalid UTF-8 is not: PostgreSQL would refuse the row. */
static const char *pg_text(struct mc_pool *pool, const char *s)
{
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_charset_to_utf8("utf-8", s, strlen(s), &b);
	return mc_buf_cstr(&b);
}

/* The searchable text, cut to what a tsvector can hold (at a UTF-8
 * character boundary). */
static const char *search_text(struct mc_pool *pool, const char *text)
{
	size_t len = strlen(text);
	if (len <= MC_STORE_MAX_SEARCH_TEXT)
		return pg_text(pool, text);
	len = MC_STORE_MAX_SEARCH_TEXT;
	while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
		len--;
	return pg_text(pool, mc_pstrndup(pool, text, len));
}

/* s as hex digits (for bytea parameters). */
static const char *hex(struct mc_pool *pool, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = strlen(s);
	char *out = mc_palloc_array(pool, n + 1, 2);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[(unsigned char)s[i] >> 4];
		out[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	return out;
}

/* Upserts the message row of one tenant with its reference count. */
static int upsert_message(struct mc_pg *pg, struct txn *t,
			  struct txn_tenant *tt, struct mc_error *err)
{
	const struct mc_message_info *m = t->d->info;
	char tid[NUM], size[NUM], refs[NUM], date[NUM];
	const char *params[] = {num(tid, tt->id),
				t->d->sha256,
				num(size, (int64_t)m->size),
				num(refs, tt->refs),
				hex(t->pool, m->envelope),
				hex(t->pool, m->body),
				hex(t->pool, m->bodystructure),
				pg_text(t->pool, m->subject),
				pg_text(t->pool, m->from),
				pg_text(t->pool, m->to),
				pg_text(t->pool, m->cc),
				pg_text(t->pool, m->message_id),
				pg_text(t->pool, m->in_reply_to),
				pg_text(t->pool, m->references),
				pg_text(t->pool, m->base_subject),
				pg_text(t->pool, m->sort_from),
				pg_text(t->pool, m->sort_to),
				pg_text(t->pool, m->sort_cc),
				m->parts,
				m->has_date ? num(date, (int64_t)m->date)
					    : NULL,
				m->has_attachments ? "true" : "false",
				search_text(t->pool, m->text)};
	PGresult *res = mc_pg_query(pg, sql_message, 22, params, err);
	if (res == NULL)
		return -1;
	snprintf(tt->message_id, NUM, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static const char sql_append[] =
	"WITH mb AS (UPDATE mailboxes SET uidnext = uidnext + 1, "
	"highestmodseq = highestmodseq + 1, messages = messages + 1, "
	"size_bytes = size_bytes + $4 WHERE tenant_id = $1 AND user_id = $2 "
	"AND name = $3 RETURNING id, uidnext - 1 AS uid, highestmodseq), "
	"ins AS (INSERT INTO mailbox_messages (tenant_id, mailbox_id, uid, "
	"message_id, modseq, flags, internal_date, size_bytes, keywords) SELECT "
	"$1, id, uid, $5, highestmodseq, $6, to_timestamp($7::double "
	"precision), $4, coalesce($9::text[], '{}') "
	"FROM mb RETURNING mailbox_id, uid, modseq), "
	"u AS (UPDATE users SET used_bytes = used_bytes + $4 WHERE tenant_id "
	"= $1 AND id = $2 AND EXISTS (SELECT 1 FROM ins)), "
	"du AS (INSERT INTO domain_usage (tenant_id, domain_id, shard, "
	"used_bytes) SELECT $1, $8, $2::bigint % 16, $4 FROM ins ON CONFLICT "
	"(tenant_id, domain_id, shard) DO UPDATE SET used_bytes = "
	"domain_usage.used_bytes + EXCLUDED.used_bytes) "
	"SELECT mailbox_id, uid, modseq FROM ins";

/* Appends the message to one recipient's mailbox: 1 done, 0 no such
 * mailbox, -1 error. */
static int append_once(struct mc_pg *pg, struct txn *t, size_t i,
		       const char *message_id, struct mc_error *err)
{
	const struct mc_store_local *l = &t->d->local[i];
	char tid[NUM], uid[NUM], size[NUM], flags[NUM], date[NUM], did[NUM];
	time_t when =
		t->d->internal_date != 0 ? t->d->internal_date : time(NULL);
	const char *params[] = {num(tid, l->tenant_id),
				num(uid, l->user_id),
				l->mailbox != NULL ? l->mailbox : "INBOX",
				num(size, (int64_t)t->d->info->size),
				message_id,
				num(flags, l->flags),
				num(date, (int64_t)when),
				num(did, l->domain_id), l->keywords};
	PGresult *res = mc_pg_query(pg, sql_append, 9, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		struct mc_store_local_result *r = &t->results[i];
		r->mailbox_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		r->uid = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		r->modseq = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	return found;
}

/* Appends, creating the default mailboxes on first delivery. */
static int append(struct mc_pg *pg, struct txn *t, size_t i,
		  const char *message_id, struct mc_error *err)
{
	int r = append_once(pg, t, i, message_id, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	const struct mc_store_local *l = &t->d->local[i];
	if (mc_store_create_default_mailboxes(pg, l->tenant_id, l->user_id,
					      err) < 0)
		return -1;
	r = append_once(pg, t, i, message_id, err);
	if (r == 0) /* a named mailbox that does not exist: use INBOX */
		mc_error_set(err, MC_ERR_PERMANENT, "mailbox %s of %s missing",
			     l->mailbox != NULL ? l->mailbox : "INBOX",
			     l->address);
	return r > 0 ? 0 : -1;
}

/* Creates one tenant's queue entry. */
static int queue_entry(struct mc_pg *pg, struct txn *t, struct txn_tenant *tt,
		       struct mc_error *err)
{
	const struct mc_store_delivery *d = t->d;
	char tid[NUM], size[NUM];
	const char *params[] = {num(tid, tt->id),
				d->queue_id,
				tt->message_id,
				d->sender,
				d->envid,
				d->ret,
				d->auth_user,
				d->client_ip,
				num(size, (int64_t)d->info->size),
				d->hold ? "held" : "queued"};
	PGresult *res = mc_pg_query(
		pg,
		"INSERT INTO queue (tenant_id, queue_id, message_id, sender, "
		"envid, ret, auth_user, client_ip, size_bytes, state) VALUES "
		"($1, $2, $3, $4, $5, $6, $7, $8::inet, $9, $10) RETURNING id",
		10, params, err);
	if (res == NULL)
		return -1;
	snprintf(tt->queue_entry, NUM, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Adds one queue recipient (state 'queued', or 'failed' with why). */
static int queue_rcpt(struct mc_pg *pg, const struct txn_tenant *tt,
		      const char *address, const char *orcpt, unsigned notify,
		      const char *failed_why, struct mc_error *err)
{
	char tid[NUM], nbuf[NUM];
	const char *params[] = {
		num(tid, tt->id),  tt->queue_entry,
		address,	   orcpt,
		num(nbuf, notify), failed_why != NULL ? "failed" : "queued",
		failed_why};
	return mc_pg_exec(pg,
			  "INSERT INTO queue_recipients (tenant_id, "
			  "queue_entry, address, orcpt, notify, state, "
			  "last_error) VALUES ($1, $2, $3, $4, $5, $6, $7) "
			  "ON CONFLICT DO NOTHING",
			  7, params, err) < 0
		       ? -1
		       : 0;
}

/* Why a local recipient failed, as the DSN will say it. */
static const char *failure_text(enum mc_store_local_status st)
{
	switch (st) {
	case MC_STORE_OVER_QUOTA:
		return "552 5.2.2 mailbox full";
	case MC_STORE_OVER_DOMAIN_QUOTA:
		return "552 5.2.2 domain storage quota exceeded";
	default:
		return "550 5.1.1 mailbox unavailable";
	}
}

/* Works out which tenants need a message row and queue entry. */
static void plan_tenants(struct txn *t)
{
	const struct mc_store_delivery *d = t->d;
	bool bounce = d->sender != NULL && d->sender[0] != '\0';
	for (size_t i = 0; i < d->local_count; i++) {
		struct txn_tenant *tt = tenant_of(t, d->local[i].tenant_id);
		if (t->results[i].status == MC_STORE_DELIVERED)
			tt->refs++;
		else if (bounce && !tt->queue && !d->local[i].copy)
			tt->refs++, tt->queue = true;
	}
	for (size_t i = 0; i < d->remote_count; i++) {
		struct txn_tenant *tt = tenant_of(t, d->remote[i].tenant_id);
		if (!tt->queue)
			tt->refs++, tt->queue = true;
	}
}

/* Queues the remote recipients and the failed local ones. */
static int write_queue(struct mc_pg *pg, struct txn *t, struct mc_error *err)
{
	const struct mc_store_delivery *d = t->d;
	for (size_t i = 0; i < t->tenants_count; i++) {
		if (t->tenants[i].queue &&
		    queue_entry(pg, t, &t->tenants[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < d->remote_count; i++) {
		const struct mc_store_remote *r = &d->remote[i];
		if (queue_rcpt(pg, tenant_of(t, r->tenant_id), r->address,
			       r->orcpt, r->notify, NULL, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < d->local_count; i++) {
		struct txn_tenant *tt = tenant_of(t, d->local[i].tenant_id);
		if (t->results[i].status != MC_STORE_DELIVERED && tt->queue &&
		    !d->local[i].copy &&
		    queue_rcpt(pg, tt, d->local[i].address, NULL, 0,
			       failure_text(t->results[i].status), err) < 0)
			return -1;
	}
	return 0;
}

/* Stores the message rows, appends to the mailboxes, updates usage. */
static int store_rows(struct mc_pg *pg, struct txn *t, struct mc_error *err)
{
	for (size_t i = 0; i < t->tenants_count; i++) {
		if (t->tenants[i].refs > 0 &&
		    upsert_message(pg, t, &t->tenants[i], err) < 0)
			return -1;
	}
	for (size_t i = 0; i < t->d->local_count; i++) {
		if (t->results[i].status != MC_STORE_DELIVERED)
			continue;
		const char *mid =
			tenant_of(t, t->d->local[i].tenant_id)->message_id;
		if (append(pg, t, i, mid, err) < 0)
			return -1;
		t->delivered++;
	}
	return write_queue(pg, t, err);
}

/* The transaction body (mc_pg_transaction retries it on conflicts). */
static int deliver_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct txn *t = ctx;
	size_t n = t->d->local_count + t->d->remote_count;
	mc_pool_clear(t->pool);
	t->tenants = mc_palloc_array(t->pool, n + 1, sizeof(*t->tenants));
	t->tenants_count = 0;
	t->delivered = 0;
	if (lock_and_check(pg, t, err) < 0)
		return -1;
	plan_tenants(t);
	t->committed = false;
	for (size_t i = 0; i < t->d->remote_count; i++)
		t->committed |= !t->d->remote[i].copy;
	for (size_t i = 0; i < t->d->local_count; i++)
		t->committed |= t->results[i].status == MC_STORE_DELIVERED &&
				!t->d->local[i].copy;
	if (!t->committed)
		return 0; /* nothing written: only the locks go */
	return store_rows(pg, t, err);
}

int mc_store_deliver(struct mc_pg *pg, const struct mc_store_delivery *d,
		     struct mc_store_local_result *results, bool *committed_r,
		     struct mc_error *err)
{
	struct txn t = {.d = d,
			.results = results,
			.pool = mc_pool_create("store-deliver", 8192)};
	int r = mc_pg_transaction(pg, deliver_txn, &t, err);
	*committed_r = r >= 0 && t.committed;
	mc_pool_destroy(&t.pool);
	return r < 0 ? -1 : 0;
}

int mc_store_deliver_in(struct mc_pg *pg, const struct mc_store_delivery *d,
			struct mc_store_local_result *results,
			bool *committed_r, struct mc_error *err)
{
	struct txn t = {.d = d,
			.results = results,
			.pool = mc_pool_create("store-deliver", 8192)};
	int r = deliver_txn(pg, &t, err);
	*committed_r = r >= 0 && t.committed;
	mc_pool_destroy(&t.pool);
	return r < 0 ? -1 : 0;
}

int mc_store_message_ref(struct mc_pg *pg, int64_t tenant_id,
			 const char *sha256,
			 const struct mc_message_info *info, unsigned refs,
			 int64_t *message_id_r, struct mc_error *err)
{
	struct mc_store_delivery d = {.sha256 = sha256, .info = info};
	struct txn_tenant tt = {.id = tenant_id, .refs = refs};
	struct txn t = {.d = &d, .pool = mc_pool_create("store-ref", 8192)};
	int r = upsert_message(pg, &t, &tt, err);
	if (r == 0)
		*message_id_r = strtoll(tt.message_id, NULL, 10);
	mc_pool_destroy(&t.pool);
	return r;
}

/* The deliveries of mc_store_deliver_many. */
struct txn_many {
	struct txn *t;
	size_t n;
	bool refused;
};

/* The body of one all-or-nothing transaction of several deliveries. */
static int deliver_many_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct txn_many *m = ctx;
	m->refused = false;
	for (size_t i = 0; i < m->n; i++) {
		struct txn *t = &m->t[i];
		if (deliver_txn(pg, t, err) < 0)
			return -1;
		for (size_t k = 0; k < t->d->local_count; k++)
			m->refused |=
				t->results[k].status != MC_STORE_DELIVERED;
		if (m->refused) {
			mc_error_set(err, MC_ERR_PERMANENT, "delivery refused");
			return -1; /* rolls everything back */
		}
	}
	return 0;
}

int mc_store_deliver_many(struct mc_pg *pg, const struct mc_store_delivery *d,
			  size_t n, struct mc_store_local_result *results,
			  bool *committed_r, struct mc_error *err)
{
	struct txn_many m = {mc_calloc(n + 1, sizeof(*m.t)), n, false};
	for (size_t i = 0, off = 0; i < n; off += d[i].local_count, i++)
		m.t[i] = (struct txn){
			.d = &d[i],
			.results = results + off,
			.pool = mc_pool_create("store-deliver", 8192)};
	int r = mc_pg_transaction(pg, deliver_many_txn, &m, err);
	*committed_r = r >= 0;
	if (r < 0 && m.refused) {
		mc_error_clear(err);
		r = 0;
	}
	for (size_t i = 0; i < n; i++)
		mc_pool_destroy(&m.t[i].pool);
	free(m.t);
	return r < 0 ? -1 : 0;
}

void mc_store_notify(struct mc_redis *redis, const struct mc_store_delivery *d,
		     const struct mc_store_local_result *results)
{
	for (size_t i = 0; redis != NULL && i < d->local_count; i++) {
		if (results[i].status != MC_STORE_DELIVERED)
			continue;
		char channel[64], msg[96];
		snprintf(channel, sizeof(channel), MC_STORE_CHANNEL_FMT,
			 (long long)d->local[i].tenant_id,
			 (long long)d->local[i].user_id);
		snprintf(msg, sizeof(msg), "new %lld %lld %lld",
			 (long long)results[i].mailbox_id,
			 (long long)results[i].uid,
			 (long long)results[i].modseq);
		struct mc_error err = {0};
		redisReply *r = mc_redis_command(redis, &err, "PUBLISH %s %s",
						 channel, msg);
		if (r == NULL) {
			mc_log_warning("new-mail notification for %s not "
				       "sent: %s",
				       d->local[i].address, err.msg);
			return;
		}
		freeReplyObject(r);
	}
}

int mc_store_create_default_mailboxes(struct mc_pg *pg, int64_t tenant_id,
				      int64_t user_id, struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {num(tid, tenant_id), num(uid, user_id)};
	return mc_pg_exec(pg,
			  "INSERT INTO mailboxes (tenant_id, user_id, name, "
			  "special_use) SELECT $1, $2, n, s FROM (VALUES "
			  "(1, 'INBOX', NULL), (2, 'Drafts', '\\Drafts'), "
			  "(3, 'Sent', '\\Sent'), (4, 'Trash', '\\Trash'), "
			  "(5, 'Junk', '\\Junk'), (6, 'Archive', '\\Archive')) "
			  "AS v(o, n, s) ORDER BY o ON CONFLICT DO NOTHING",
			  2, params, err) < 0
		       ? -1
		       : 0;
}
