/* mc-queue-admin: management of the outbound queue, always within a
 * scope (tenants, sender domain): listing and showing entries with their
 * recipients, holding and releasing them, making them due now, and
 * deleting them silently or with a DSN for every pending recipient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"
#include "mailcore/mc-str.h"
#include "mc-queue-private.h"

#define DEFAULT_LIMIT	   100u
#define DEFAULT_LIFETIME_S (5u * 86400u)
#define DSN_TEXT	   "deleted from the queue by the administrator"

/* The scope: $1 tenants (NULL = all), $2 the sender's domain. */
#define SQL_SCOPE                                                              \
	"($1::bigint[] IS NULL OR q.tenant_id = ANY ($1::bigint[])) AND "      \
	"($2::text IS NULL OR " QUEUE_DOMAIN_OF(                               \
		"q.sender") " = lower($2)) "                                   \
			    "AND q.state <> 'done' "

/* A recipient of the entry matches cond. */
#define SQL_RCPT(cond)                                                         \
	"EXISTS (SELECT 1 FROM queue_recipients r WHERE r.tenant_id = "        \
	"q.tenant_id AND r.queue_entry = q.id AND " cond ")"

/* Entries in scope matching the filters $3-$8 and $11 (queue_id), $9 at
 * most, expiring by the tenant's lifetime or $10 seconds. */
static const char sql_list[] = "SELECT q.tenant_id, q.id, q.queue_id, "
			       "q.sender, q.state, q.envid, "
			       "q.ret, q.auth_user, host(q.client_ip), "
			       "q.held_reason, q.size_bytes, "
			       "extract(epoch FROM q.created_at)::bigint, "
			       "extract(epoch FROM "
			       "least(q.expires_at, q.created_at + "
			       "least(t.queue_lifetime, "
			       "$10::bigint * interval '1 second')))::bigint "
			       "FROM queue q LEFT JOIN "
			       "tenants t ON t.id = q.tenant_id "
			       "WHERE " SQL_SCOPE
			       "AND ($3::text IS NULL OR "
			       "strpos(lower(q.sender), lower($3)) > 0) "
			       "AND ($4::text IS NULL OR " SQL_RCPT(
				       "strpos(lower(r.address), lower($4)) > "
				       "0") ") "
					    "AND ($5::text IS NULL "
					    "OR " SQL_RCPT(QUEUE_DOMAIN_OF(
						    "r.address") " = lower($5)") ") "
										 "AND ($6::text IS NULL OR CASE WHEN $6 = 'held' THEN q.state = "
										 "'held' ELSE q.state = 'queued' AND " SQL_RCPT(
											 "r.state = $6") " END) "
													 "AND q.created_at <= now() - $7::bigint * interval '1 second' "
													 "AND ($8::text IS NULL OR q.queue_id > $8) "
													 "AND ($11::text IS NULL OR q.queue_id = $11) "
													 "ORDER BY q.queue_id, q.tenant_id, q.id LIMIT $9";

/* The recipients of the entries ($1 tenants, $2 ids), in their order. */
static const char sql_rcpts[] =
	"SELECT k.o, r.address, r.state, r.last_error, r.status, r.attempts, "
	"extract(epoch FROM r.next_attempt)::bigint FROM unnest($1::bigint[], "
	"$2::bigint[]) WITH ORDINALITY AS k(t, e, o) JOIN queue_recipients r "
	"ON r.tenant_id = k.t AND r.queue_entry = k.e ORDER BY k.o, r.address";

/* Is state a filter value of mc_queue_filter? */
static bool state_valid(const char *state)
{
	static const char *const states[] = {"queued", "deferred", "held",
					     "failed"};
	for (size_t i = 0; i < sizeof(states) / sizeof(*states); i++) {
		if (strcmp(state, states[i]) == 0)
			return true;
	}
	return false;
}

/* The entry fields of row r. */
static void fill_entry(struct mc_pool *pool, const PGresult *res, int r,
		       struct mc_queue_entry *e)
{
	*e = (struct mc_queue_entry){
		.tenant_id = mc_queue_col_i64(res, r, 0),
		.queue_id = mc_queue_col_str(pool, res, r, 2),
		.sender = mc_queue_col_str(pool, res, r, 3),
		.state = mc_queue_col_str(pool, res, r, 4),
		.envid = mc_queue_col_str(pool, res, r, 5),
		.ret = mc_queue_col_str(pool, res, r, 6),
		.auth_user = mc_queue_col_str(pool, res, r, 7),
		.client_ip = mc_queue_col_str(pool, res, r, 8),
		.held_reason = mc_queue_col_str(pool, res, r, 9),
		.size = (uint64_t)mc_queue_col_i64(res, r, 10),
		.created_at = (time_t)mc_queue_col_i64(res, r, 11),
		.expires_at = (time_t)mc_queue_col_i64(res, r, 12)};
}

/* Entries being read, with their ids for the recipients' query. */
struct found {
	struct mc_pool *pool;
	struct mc_queue_entry *entries;
	int64_t *tenants, *ids;
	size_t count;
};

/* Attaches the recipients rows (ordered by entry) to the entries. */
static void attach_rcpts(struct found *f, const PGresult *res)
{
	int n = PQntuples(res);
	struct mc_queue_entry_rcpt *rcpts =
		mc_palloc_array(f->pool, (size_t)n + 1, sizeof(*rcpts));
	for (int r = 0; r < n; r++) {
		size_t o = (size_t)mc_queue_col_i64(res, r, 0) - 1;
		rcpts[r] = (struct mc_queue_entry_rcpt){
			.address = mc_queue_col_str(f->pool, res, r, 1),
			.state = mc_queue_col_str(f->pool, res, r, 2),
			.last_error = mc_queue_col_str(f->pool, res, r, 3),
			.status = mc_queue_col_str(f->pool, res, r, 4),
			.attempts = (unsigned)mc_queue_col_i64(res, r, 5),
			.next_attempt = (time_t)mc_queue_col_i64(res, r, 6)};
		if (o >= f->count)
			continue;
		if (f->entries[o].rcpts == NULL)
			f->entries[o].rcpts = &rcpts[r];
		f->entries[o].rcpts_count++;
	}
}

/* Reads the recipients of the found entries. */
static int read_rcpts(struct mc_pg *pg, struct found *f, struct mc_error *err)
{
	if (f->count == 0)
		return 0;
	const char *params[] = {mc_pg_id_array(f->pool, f->tenants, f->count),
				mc_pg_id_array(f->pool, f->ids, f->count)};
	PGresult *res = mc_pg_query(pg, sql_rcpts, 2, params, err);
	if (res == NULL)
		return -1;
	attach_rcpts(f, res);
	PQclear(res);
	return 0;
}

/* Reads the entries of a list result into f. */
static void read_entries(struct found *f, const PGresult *res)
{
	f->count = (size_t)PQntuples(res);
	f->entries =
		mc_palloc_array(f->pool, f->count + 1, sizeof(*f->entries));
	f->tenants =
		mc_palloc_array(f->pool, f->count + 1, sizeof(*f->tenants));
	f->ids = mc_palloc_array(f->pool, f->count + 1, sizeof(*f->ids));
	for (size_t i = 0; i < f->count; i++) {
		fill_entry(f->pool, res, (int)i, &f->entries[i]);
		f->tenants[i] = f->entries[i].tenant_id;
		f->ids[i] = mc_queue_col_i64(res, (int)i, 1);
	}
}

/* Runs the list query for f (queue_id: one entry by its id, or NULL). */
static int query_entries(struct mc_pg *pg, struct found *out,
			 const struct mc_queue_filter *f, const char *queue_id,
			 struct mc_error *err)
{
	char age[QUEUE_NUM], limit[QUEUE_NUM], life[QUEUE_NUM];
	if (f->state != NULL && !state_valid(f->state)) {
		mc_error_set(err, MC_ERR_INVALID, "unknown queue state %s",
			     f->state);
		return -1;
	}
	const char *params[] = {
		mc_pg_id_array(out->pool, f->tenants, f->tenants_count),
		f->sender_domain,
		f->sender,
		f->recipient,
		f->recipient_domain,
		f->state,
		mc_queue_num(age, f->min_age_s),
		f->after,
		mc_queue_num(limit,
			     f->limit ? (int64_t)f->limit : DEFAULT_LIMIT),
		mc_queue_num(life, f->lifetime_s ? f->lifetime_s
						 : DEFAULT_LIFETIME_S),
		queue_id};
	PGresult *res = mc_pg_query(pg, sql_list, 11, params, err);
	if (res == NULL)
		return -1;
	read_entries(out, res);
	PQclear(res);
	return read_rcpts(pg, out, err);
}

int mc_queue_list(struct mc_pg *pg, struct mc_pool *pool,
		  const struct mc_queue_filter *f,
		  const struct mc_queue_entry **entries_r, size_t *count_r,
		  struct mc_error *err)
{
	struct found out = {.pool = pool};
	*entries_r = NULL;
	*count_r = 0;
	if (query_entries(pg, &out, f, NULL, err) < 0)
		return -1;
	*entries_r = out.entries;
	*count_r = out.count;
	return 0;
}

int mc_queue_show(struct mc_pg *pg, struct mc_pool *pool,
		  const struct mc_queue_filter *scope, const char *queue_id,
		  struct mc_queue_entry *entry_r, struct mc_error *err)
{
	struct mc_queue_filter f = {.tenants = scope->tenants,
				    .tenants_count = scope->tenants_count,
				    .sender_domain = scope->sender_domain,
				    .limit = 1,
				    .lifetime_s = scope->lifetime_s};
	struct found out = {.pool = pool};
	if (query_entries(pg, &out, &f, queue_id, err) < 0)
		return -1;
	if (out.count == 0)
		return 0;
	*entry_r = out.entries[0];
	return 1;
}

/* One management action on the entries of a queue_id in scope. */
struct act {
	const struct mc_queue_filter *scope;
	const char *queue_id, *reason;
	enum mc_queue_action action;
	struct mc_pool *pool;
};

/* Holds one entry (reason may be NULL). */
static int hold(struct mc_pg *pg, const char *const *key, const char *reason,
		struct mc_error *err)
{
	const char *params[] = {key[0], key[1], reason};
	return mc_pg_exec(pg,
			  "UPDATE queue SET state = 'held', held_reason = $3 "
			  "WHERE tenant_id = $1 AND id = $2",
			  3, params, err) < 0
		       ? -1
		       : 0;
}

/* Releases one entry (a no-op unless held). */
static int unhold(struct mc_pg *pg, const char *const *key,
		  struct mc_error *err)
{
	return mc_pg_exec(pg,
			  "UPDATE queue SET state = 'queued', held_reason = "
			  "NULL WHERE tenant_id = $1 AND id = $2 AND state = "
			  "'held'",
			  2, key, err) < 0
		       ? -1
		       : 0;
}

/* Makes every pending recipient of one entry due now, unclaimed. */
static int retry_now(struct mc_pg *pg, const char *const *key,
		     struct mc_error *err)
{
	return mc_pg_exec(pg,
			  "UPDATE queue_recipients SET next_attempt = now(), "
			  "claimed_by = NULL, claimed_until = NULL, "
			  "updated_at = now() WHERE tenant_id = $1 AND "
			  "queue_entry = $2 AND state IN " QUEUE_PENDING,
			  2, key, err) < 0
		       ? -1
		       : 0;
}

/* Fails every pending recipient of one entry ($3 why) and releases the
 * entry, so that the agent sends their DSN now. */
static int fail_all(struct mc_pg *pg, const char *const *key,
		    const char *reason, struct mc_error *err)
{
	const char *params[] = {key[0], key[1],
				reason != NULL ? reason : DSN_TEXT};
	if (mc_pg_exec(pg,
		       "UPDATE queue_recipients SET state = 'failed', status = "
		       "CASE WHEN state = 'failed' THEN status ELSE '5.0.0' "
		       "END, last_error = CASE WHEN state = 'failed' THEN "
		       "last_error ELSE $3 END, next_attempt = now(), "
		       "claimed_by = NULL, claimed_until = NULL, updated_at = "
		       "now() WHERE tenant_id = $1 AND queue_entry = $2 AND "
		       "state IN " QUEUE_PENDING,
		       3, params, err) < 0)
		return -1;
	return unhold(pg, key, err);
}

/* Applies the action to one entry (key: tenant id, entry id). */
static int act_one(struct mc_pg *pg, const struct act *a,
		   const char *const *key, struct mc_error *err)
{
	int64_t tenant = strtoll(key[0], NULL, 10),
		id = strtoll(key[1], NULL, 10);
	switch (a->action) {
	case MC_QUEUE_HOLD:
		return hold(pg, key, a->reason, err);
	case MC_QUEUE_UNHOLD:
		return unhold(pg, key, err);
	case MC_QUEUE_RETRY:
		return retry_now(pg, key, err);
	case MC_QUEUE_DELETE:
		return mc_queue_drop_entry(pg, tenant, id, false, err) < 0 ? -1
									   : 0;
	case MC_QUEUE_DELETE_DSN:
		if (fail_all(pg, key, a->reason, err) < 0)
			return -1;
		return mc_queue_drop_entry(pg, tenant, id, true, err) < 0 ? -1
									  : 0;
	}
	mc_error_set(err, MC_ERR_INVALID, "unknown queue action");
	return -1;
}

/* The transaction of mc_queue_act: lock the entries, act on each. */
static int act_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct act *a = ctx;
	const char *params[] = {
		mc_pg_id_array(a->pool, a->scope->tenants, a->scope->tenants_count),
		a->scope->sender_domain, a->queue_id};
	PGresult *res = mc_pg_query(pg,
				    "SELECT q.tenant_id, q.id FROM queue q "
				    "WHERE " SQL_SCOPE "AND q.queue_id = $3 "
				    "ORDER BY q.tenant_id, q.id FOR UPDATE",
				    3, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res), ret = n > 0 ? 1 : 0;
	for (int i = 0; i < n && ret > 0; i++) {
		const char *key[] = {PQgetvalue(res, i, 0),
				     PQgetvalue(res, i, 1)};
		if (act_one(pg, a, key, err) < 0)
			ret = -1;
	}
	PQclear(res);
	return ret;
}

int mc_queue_act(struct mc_pg *pg, const struct mc_queue_filter *scope,
		 const char *queue_id, enum mc_queue_action action,
		 const char *reason, struct mc_error *err)
{
	struct act a = {.scope = scope,
			.queue_id = queue_id,
			.reason = reason,
			.action = action,
			.pool = mc_pool_create("queue-act", 0)};
	int r = mc_queue_txn(pg, act_txn, &a, err);
	mc_pool_destroy(&a.pool);
	return r;
}

int mc_queue_deferred_count(struct mc_pg *pg, int64_t tenant_id,
			    uint64_t *count_r, struct mc_error *err)
{
	char tid[QUEUE_NUM];
	const char *params[] = {mc_queue_num(tid, tenant_id)};
	PGresult *res = mc_pg_query(pg,
				    "SELECT count(*) FROM queue_recipients "
				    "WHERE tenant_id = $1 AND state = "
				    "'deferred'",
				    1, params, err);
	if (res == NULL)
		return -1;
	*count_r = (uint64_t)mc_queue_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}
