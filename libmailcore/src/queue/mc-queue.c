/* mc-queue: the delivery agent's side of the outbound queue. A claim is
 * one statement: due recipients of entries not held are locked with
 * FOR UPDATE SKIP LOCKED, stamped with the owner and a lease, and come
 * back grouped into jobs (per entry and recipient domain; 'failed' ones
 * per entry, for their DSN). Completing a job records each outcome under
 * the entry's row lock and drops the entry once nothing is pending. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"
#include "mailcore/mc-str.h"
#include "mc-queue-private.h"

#define DEFAULT_LEASE_S	   600u
#define DEFAULT_MAX	   100u
#define DEFAULT_LIFETIME_S (5u * 86400u)
#define DEFAULT_RETRY_MIN  300u
#define DEFAULT_RETRY_MAX  14400u

const char *mc_queue_num(char buf[QUEUE_NUM], int64_t v)
{
	snprintf(buf, QUEUE_NUM, "%lld", (long long)v);
	return buf;
}

int64_t mc_queue_col_i64(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c)
		       ? 0
		       : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

const char *mc_queue_col_str(struct mc_pool *pool, const PGresult *res, int r,
			     int c)
{
	return PQgetisnull(res, r, c) ? NULL
				      : mc_pstrdup(pool, PQgetvalue(res, r, c));
}

int mc_queue_txn(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		 struct mc_error *err)
{
	return mc_pg_in_transaction(pg) ? fn(pg, ctx, err)
					: mc_pg_transaction(pg, fn, ctx, err);
}

/* Deletes the entry (when final, if asked) and releases its reference. */
static const char sql_drop[] =
	"WITH d AS (DELETE FROM queue q WHERE q.tenant_id = $1 AND q.id = $2 "
	"AND (NOT $3::boolean OR NOT EXISTS (SELECT 1 FROM queue_recipients r "
	"WHERE r.tenant_id = q.tenant_id AND r.queue_entry = q.id AND "
	"r.state IN " QUEUE_PENDING ")) RETURNING q.tenant_id, q.message_id), "
	"m AS (UPDATE messages m SET refcount = m.refcount - 1, zero_since = "
	"CASE WHEN m.refcount - 1 <= 0 THEN now() END FROM d WHERE "
	"m.tenant_id = d.tenant_id AND m.id = d.message_id RETURNING 1) "
	"SELECT count(*) FROM d";

int mc_queue_drop_entry(struct mc_pg *pg, int64_t tenant_id, int64_t entry_id,
			bool only_if_final, struct mc_error *err)
{
	char tid[QUEUE_NUM], eid[QUEUE_NUM];
	const char *params[] = {mc_queue_num(tid, tenant_id),
				mc_queue_num(eid, entry_id),
				only_if_final ? "true" : "false"};
	PGresult *res = mc_pg_query(pg, sql_drop, 3, params, err);
	if (res == NULL)
		return -1;
	int dropped = mc_queue_col_i64(res, 0, 0) > 0;
	PQclear(res);
	return dropped;
}

/* Claims up to $3 due recipients for $1 for $2 seconds; $4 is the
 * server's lifetime. Rows come ordered by job: entry, kind, domain. */
static const char sql_claim[] =
	"WITH due AS (SELECT r.tenant_id, r.queue_entry, r.address FROM "
	"queue_recipients r JOIN queue q ON q.tenant_id = r.tenant_id AND "
	"q.id = r.queue_entry WHERE r.state IN " QUEUE_PENDING
	" AND " QUEUE_DUE_AT
	" <= now() AND q.state = 'queued' ORDER BY " QUEUE_DUE_AT
	" LIMIT $3 FOR UPDATE OF r SKIP LOCKED), "
	"c AS (UPDATE queue_recipients r SET claimed_by = $1, claimed_until = "
	"now() + $2::bigint * interval '1 second', updated_at = now() FROM due "
	"WHERE r.tenant_id = due.tenant_id AND r.queue_entry = due.queue_entry "
	"AND r.address = due.address RETURNING r.*) "
	"SELECT c.tenant_id, c.queue_entry, c.state = 'failed', CASE WHEN "
	"c.state = 'failed' THEN '' ELSE " QUEUE_DOMAIN_OF(
		"c.address") " END, "
			     "c.address, c.orcpt, c.notify, c.attempts, "
			     "c.delay_warned, "
			     "c.last_error, extract(epoch FROM "
			     "c.first_deferred)::bigint, "
			     "q.message_id, q.queue_id, q.sender, q.envid, "
			     "q.ret, q.auth_user, "
			     "host(q.client_ip), m.sha256, q.size_bytes, "
			     "extract(epoch FROM q.created_at)::bigint, "
			     "extract(epoch FROM "
			     "least(q.expires_at, q.created_at + "
			     "least(t.queue_lifetime, "
			     "$4::bigint * interval '1 second')))::bigint "
			     "FROM c JOIN queue q ON q.tenant_id = c.tenant_id "
			     "AND q.id = "
			     "c.queue_entry JOIN messages m ON m.tenant_id = "
			     "q.tenant_id AND "
			     "m.id = q.message_id LEFT JOIN tenants t ON t.id "
			     "= q.tenant_id "
			     "ORDER BY 1, 2, 3, 4, 5";

/* Does row r start a new job after row r - 1? */
static bool new_job(const PGresult *res, int r)
{
	if (r == 0)
		return true;
	for (int c = 0; c < 4; c++) {
		if (strcmp(PQgetvalue(res, r, c), PQgetvalue(res, r - 1, c)) !=
		    0)
			return true;
	}
	return false;
}

/* The job fields of row r (the entry's columns). */
static void fill_job(struct mc_pool *pool, const PGresult *res, int r,
		     struct mc_queue_job *j)
{
	j->kind = PQgetvalue(res, r, 2)[0] == 't' ? MC_QUEUE_NOTIFY
						  : MC_QUEUE_DELIVER;
	j->tenant_id = mc_queue_col_i64(res, r, 0);
	j->entry_id = mc_queue_col_i64(res, r, 1);
	j->domain = mc_queue_col_str(pool, res, r, 3);
	j->message_id = mc_queue_col_i64(res, r, 11);
	j->queue_id = mc_queue_col_str(pool, res, r, 12);
	j->sender = mc_queue_col_str(pool, res, r, 13);
	j->envid = mc_queue_col_str(pool, res, r, 14);
	j->ret = mc_queue_col_str(pool, res, r, 15);
	j->auth_user = mc_queue_col_str(pool, res, r, 16);
	j->client_ip = mc_queue_col_str(pool, res, r, 17);
	j->sha256 = mc_queue_col_str(pool, res, r, 18);
	j->size = (uint64_t)mc_queue_col_i64(res, r, 19);
	j->created_at = (time_t)mc_queue_col_i64(res, r, 20);
	j->expires_at = (time_t)mc_queue_col_i64(res, r, 21);
}

/* The recipient fields of row r. */
static void fill_rcpt(struct mc_pool *pool, const PGresult *res, int r,
		      struct mc_queue_rcpt *q)
{
	q->address = mc_queue_col_str(pool, res, r, 4);
	q->orcpt = mc_queue_col_str(pool, res, r, 5);
	q->notify = (unsigned)mc_queue_col_i64(res, r, 6);
	q->attempts = (unsigned)mc_queue_col_i64(res, r, 7);
	q->delay_warned = PQgetvalue(res, r, 8)[0] == 't';
	q->last_error = mc_queue_col_str(pool, res, r, 9);
	q->first_deferred = (time_t)mc_queue_col_i64(res, r, 10);
}

/* Groups the claimed rows (ordered by job) into jobs from pool. */
static size_t build_jobs(struct mc_pool *pool, const PGresult *res,
			 struct mc_queue_job **jobs_r)
{
	int n = PQntuples(res);
	size_t count = 0;
	for (int r = 0; r < n; r++)
		count += new_job(res, r);
	struct mc_queue_job *jobs =
		mc_palloc_array(pool, count + 1, sizeof(*jobs));
	struct mc_queue_rcpt *rcpts =
		mc_palloc_array(pool, (size_t)n + 1, sizeof(*rcpts));
	struct mc_queue_job *j = jobs - 1;
	for (int r = 0; r < n; r++) {
		if (new_job(res, r)) {
			fill_job(pool, res, r, ++j);
			j->rcpts = &rcpts[r];
		}
		fill_rcpt(pool, res, r, &rcpts[r]);
		j->rcpts_count++;
	}
	*jobs_r = jobs;
	return count;
}

int mc_queue_claim(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_queue_claim_settings *set,
		   struct mc_queue_job **jobs_r, size_t *count_r,
		   struct mc_error *err)
{
	char lease[QUEUE_NUM], max[QUEUE_NUM], life[QUEUE_NUM];
	const char *params[] = {
		set->owner,
		mc_queue_num(lease,
			     set->lease_s ? set->lease_s : DEFAULT_LEASE_S),
		mc_queue_num(max, set->max ? (int64_t)set->max : DEFAULT_MAX),
		mc_queue_num(life, set->lifetime_s ? set->lifetime_s
						   : DEFAULT_LIFETIME_S)};
	*jobs_r = NULL;
	*count_r = 0;
	PGresult *res = mc_pg_query(pg, sql_claim, 4, params, err);
	if (res == NULL)
		return -1;
	*count_r = build_jobs(pool, res, jobs_r);
	PQclear(res);
	return 0;
}

/* Records one outcome of a recipient still claimed by $4. $5 the new
 * state (NULL keeps it), $6 attempts to add, $7 the next attempt
 * ('backoff' by attempts from $8 doubling up to $9 seconds, 'min' = $8,
 * 'now', else kept), $10 sets delay_warned, $11-$13 status, error and
 * remote MTA (NULL keeps the old). */
static const char sql_result[] =
	"UPDATE queue_recipients SET state = coalesce($5, state), attempts = "
	"attempts + $6::integer, next_attempt = CASE $7 WHEN 'backoff' THEN "
	"now() + least($9::double precision, $8::double precision * "
	"power(2, least(attempts, 40))) * interval '1 second' WHEN 'min' THEN "
	"now() + $8::double precision * interval '1 second' WHEN 'now' THEN "
	"now() ELSE next_attempt END, first_deferred = CASE WHEN $5 = "
	"'deferred' THEN coalesce(first_deferred, now()) ELSE first_deferred "
	"END, delay_warned = delay_warned OR $10::boolean, status = "
	"coalesce($11, status), last_error = coalesce($12, last_error), "
	"remote_mta = coalesce($13, remote_mta), claimed_by = NULL, "
	"claimed_until = NULL, updated_at = now() WHERE tenant_id = $1 AND "
	"queue_entry = $2 AND address = $3 AND claimed_by = $4";

/* How one outcome changes a recipient's row. */
struct change {
	const char *state; /* NULL: kept */
	bool attempt;	   /* counts as a delivery attempt */
	const char *next;  /* "backoff", "min", "now", "keep" */
};

/* The change of outcome o in a job of kind k. A DSN that could not be
 * sent yet (NOTIFY deferred) keeps the recipient 'failed'. */
static struct change change_of(enum mc_queue_outcome o,
			       enum mc_queue_job_kind k)
{
	bool deliver = k == MC_QUEUE_DELIVER;
	switch (o) {
	case MC_QUEUE_DELIVERED:
		return (struct change){"delivered", deliver, "keep"};
	case MC_QUEUE_DEFERRED:
	case MC_QUEUE_WARNED:
		return deliver ? (struct change){"deferred", true, "backoff"}
			       : (struct change){NULL, false, "min"};
	case MC_QUEUE_FAILED:
		return (struct change){"failed", deliver, "now"};
	case MC_QUEUE_BOUNCED:
		return (struct change){"bounced", deliver, "keep"};
	default: /* MC_QUEUE_RELEASE */
		return (struct change){NULL, false, "keep"};
	}
}

/* Does results have an outcome o (or, with o negative, anything but
 * WARNED) for address? */
static bool has_outcome(const struct mc_queue_result *results, size_t count,
			const char *address, int o)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(results[i].address, address) != 0)
			continue;
		if (o < 0 ? results[i].outcome != MC_QUEUE_WARNED
			  : (int)results[i].outcome == o)
			return true;
	}
	return false;
}

/* The state of one mc_queue_complete call. */
struct complete {
	const struct mc_queue_job *job;
	const char *owner;
	unsigned min_s, max_s;
	const struct mc_queue_result *results;
	size_t count;
};

/* Records result i. A WARNED next to another outcome of the same address
 * only marks it warned (with that outcome). */
static int record(struct mc_pg *pg, const struct complete *c, size_t i,
		  struct mc_error *err)
{
	const struct mc_queue_result *res = &c->results[i];
	bool warned = has_outcome(c->results, c->count, res->address,
				  MC_QUEUE_WARNED);
	if (res->outcome == MC_QUEUE_WARNED &&
	    has_outcome(c->results, c->count, res->address, -1))
		return 0;
	struct change ch = change_of(res->outcome, c->job->kind);
	char tid[QUEUE_NUM], eid[QUEUE_NUM], mn[QUEUE_NUM], mx[QUEUE_NUM];
	const char *params[] = {mc_queue_num(tid, c->job->tenant_id),
				mc_queue_num(eid, c->job->entry_id),
				res->address,
				c->owner,
				ch.state,
				ch.attempt ? "1" : "0",
				ch.next,
				mc_queue_num(mn, c->min_s),
				mc_queue_num(mx, c->max_s),
				warned ? "true" : "false",
				res->status,
				res->error,
				res->remote_mta};
	return mc_pg_exec(pg, sql_result, 13, params, err) < 0 ? -1 : 0;
}

/* Appends s as one quoted element of an array literal. */
static void array_elem(struct mc_buf *b, const char *s)
{
	mc_buf_append_c(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			mc_buf_append_c(b, '\\');
		mc_buf_append_c(b, *s);
	}
	mc_buf_append_c(b, '"');
}

/* The job's addresses as a text[] literal (heap; caller frees). */
static char *job_addresses(const struct mc_queue_job *job)
{
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_c(&b, '{');
	for (size_t i = 0; i < job->rcpts_count; i++) {
		if (i > 0)
			mc_buf_append_c(&b, ',');
		array_elem(&b, job->rcpts[i].address);
	}
	mc_buf_append_c(&b, '}');
	char *s = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	return s;
}

/* Drops the owner's remaining claims on the job's recipients. */
static int release_rest(struct mc_pg *pg, const struct complete *c,
			struct mc_error *err)
{
	char tid[QUEUE_NUM], eid[QUEUE_NUM];
	char *addrs = job_addresses(c->job);
	const char *params[] = {mc_queue_num(tid, c->job->tenant_id),
				mc_queue_num(eid, c->job->entry_id), c->owner,
				addrs};
	long r = mc_pg_exec(pg,
			    "UPDATE queue_recipients SET claimed_by = NULL, "
			    "claimed_until = NULL, updated_at = now() WHERE "
			    "tenant_id = $1 AND queue_entry = $2 AND "
			    "claimed_by = $3 AND address = ANY ($4::text[])",
			    4, params, err);
	free(addrs);
	return r < 0 ? -1 : 0;
}

/* Locks the job's entry row: 1, 0 when it is gone, -1. */
static int lock_entry(struct mc_pg *pg, const struct mc_queue_job *job,
		      struct mc_error *err)
{
	char tid[QUEUE_NUM], eid[QUEUE_NUM];
	const char *params[] = {mc_queue_num(tid, job->tenant_id),
				mc_queue_num(eid, job->entry_id)};
	PGresult *res = mc_pg_query(pg,
				    "SELECT 1 FROM queue WHERE tenant_id = $1 "
				    "AND id = $2 FOR UPDATE",
				    2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

/* The transaction of mc_queue_complete: under the entry's lock (so that
 * concurrent completions of one entry see each other's outcomes), every
 * result, the other claims, and the entry if nothing is left. */
static int complete_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct complete *c = ctx;
	int r = lock_entry(pg, c->job, err);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < c->count; i++) {
		if (record(pg, c, i, err) < 0)
			return -1;
	}
	if (release_rest(pg, c, err) < 0)
		return -1;
	return mc_queue_drop_entry(pg, c->job->tenant_id, c->job->entry_id,
				   true, err) < 0
		       ? -1
		       : 0;
}

int mc_queue_complete(struct mc_pg *pg, const struct mc_queue_job *job,
		      const char *owner, const struct mc_queue_backoff *backoff,
		      const struct mc_queue_result *results, size_t count,
		      struct mc_error *err)
{
	struct complete c = {
		.job = job,
		.owner = owner,
		.min_s = backoff != NULL && backoff->min_s ? backoff->min_s
							   : DEFAULT_RETRY_MIN,
		.max_s = backoff != NULL && backoff->max_s ? backoff->max_s
							   : DEFAULT_RETRY_MAX,
		.results = results,
		.count = count};
	return mc_queue_txn(pg, complete_txn, &c, err) < 0 ? -1 : 0;
}

int mc_queue_next_due(struct mc_pg *pg, time_t *when_r, struct mc_error *err)
{
	PGresult *res = mc_pg_query(
		pg,
		"SELECT ceil(extract(epoch FROM min(" QUEUE_DUE_AT
		")))::bigint "
		"FROM queue_recipients r JOIN queue q ON q.tenant_id = "
		"r.tenant_id AND q.id = r.queue_entry WHERE r.state "
		"IN " QUEUE_PENDING " AND q.state = 'queued'",
		0, NULL, err);
	if (res == NULL)
		return -1;
	*when_r = (time_t)mc_queue_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}
