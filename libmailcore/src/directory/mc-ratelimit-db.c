/* mc-ratelimit-db: what the sending limits need from PostgreSQL: a
 * domain's overrides (domains.send_limits, cached in Redis for a minute),
 * a tenant's deferred recipients, and the report of a hit: an event plus
 * a short notice mail delivered straight into the INBOX of the tenant's
 * administrators, once per notify interval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-events.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-ratelimit.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-store.h"

#define DOMAIN_CACHE_TTL   60
#define DEFERRED_CACHE_TTL 60
#define NOTICE_MAX_RCPTS   20
#define NUM		   24

/* A sender domain as the limits see it. */
struct domain_row {
	int64_t tenant_id, id;
	char name[256];
	json_t *limits; /* the send_limits object, or NULL */
};

/* The domain row as cached: {"t", "id", "name", "l"}, {} when none. */
static char *row_to_json(const struct domain_row *row, bool found)
{
	json_t *o =
		found ? json_pack("{sI sI ss sO}", "t",
				  (json_int_t)row->tenant_id, "id",
				  (json_int_t)row->id, "name", row->name, "l",
				  row->limits != NULL ? row->limits
						      : json_object())
		      : json_object();
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Parses a cached row: 1 found, 0 none, -1 unreadable. */
static int row_from_json(const char *text, struct domain_row *row)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *name = NULL;
	json_int_t t = 0, id = 0;
	json_t *l = NULL;
	if (o == NULL)
		return -1;
	int r = json_object_size(o) == 0 ? 0 : 1;
	if (r == 1 && json_unpack(o, "{sI sI ss so}", "t", &t, "id", &id,
				  "name", &name, "l", &l) < 0)
		r = -1;
	if (r == 1) {
		row->tenant_id = t;
		row->id = id;
		snprintf(row->name, sizeof(row->name), "%s", name);
		row->limits = json_incref(l);
	}
	json_decref(o);
	return r;
}

/* The cached row under key: 1, 0 none, -1 not cached (or Redis down). */
static int cache_get(struct mc_redis *redis, const char *key,
		     struct domain_row *row)
{
	struct mc_error err = {0};
	if (redis == NULL)
		return -1;
	redisReply *r = mc_redis_command(redis, &err, "GET %s", key);
	if (r == NULL)
		return -1;
	int found =
		r->type == REDIS_REPLY_STRING ? row_from_json(r->str, row) : -1;
	freeReplyObject(r);
	return found;
}

/* Caches the row under key (best effort). */
static void cache_put(struct mc_redis *redis, const char *key,
		      const struct domain_row *row, bool found)
{
	struct mc_error err = {0};
	if (redis == NULL)
		return;
	char *json = row_to_json(row, found);
	redisReply *r = mc_redis_command(redis, &err, "SET %s %s EX %d", key,
					 json, DOMAIN_CACHE_TTL);
	if (r != NULL)
		freeReplyObject(r);
	free(json);
}

/* Reads the row from the database: 1, 0 none, -1. */
static int row_query(struct mc_pg *pg, const char *where, const char *param,
		     struct domain_row *row, struct mc_error *err)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT tenant_id, id, name, send_limits::text FROM domains "
		 "WHERE %s",
		 where);
	const char *params[] = {param};
	PGresult *res = mc_pg_query(pg, sql, 1, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		row->tenant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		row->id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(row->name, sizeof(row->name), "%s",
			 PQgetvalue(res, 0, 2));
		row->limits = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
	}
	PQclear(res);
	return found;
}

/* The row, from the cache or the database. */
static int row_fetch(struct mc_pg *pg, struct mc_redis *redis,
		     const char *cache_key, const char *where,
		     const char *param, struct domain_row *row,
		     struct mc_error *err)
{
	int r = cache_get(redis, cache_key, row);
	if (r >= 0)
		return r;
	r = row_query(pg, where, param, row, err);
	if (r >= 0)
		cache_put(redis, cache_key, row, r == 1);
	return r;
}

/* The server's limits with the domain's overrides of its user_ and
 * domain_ limits. */
static void apply(const struct mc_ratelimit_settings *set,
		  const json_t *overrides, struct mc_ratelimit_limits *out)
{
	*out = set->limits;
	for (int s = MC_RL_USER; s <= MC_RL_DOMAIN && overrides != NULL; s++) {
		for (int k = 0; k < MC_RL_KIND_COUNT; k++) {
			char key[64];
			snprintf(key, sizeof(key), "%s_%s",
				 mc_ratelimit_scope_name(s),
				 mc_ratelimit_kind_name(k));
			json_t *v = json_object_get(overrides, key);
			if (json_is_integer(v) && json_integer_value(v) >= 0)
				out->v[s][k] = (uint64_t)json_integer_value(v);
		}
	}
}

int mc_ratelimit_limits_for(struct mc_pg *pg, struct mc_redis *redis,
			    const struct mc_ratelimit_settings *set,
			    int64_t domain_id,
			    struct mc_ratelimit_limits *limits_r, char *name_r,
			    size_t size, struct mc_error *err)
{
	struct domain_row row = {0};
	char key[64], id[NUM];
	int r = 0;
	snprintf(key, sizeof(key), "mc:rl:dom:%lld", (long long)domain_id);
	snprintf(id, sizeof(id), "%lld", (long long)domain_id);
	if (domain_id > 0)
		r = row_fetch(pg, redis, key, "id = $1", id, &row, err);
	apply(set, r == 1 ? row.limits : NULL, limits_r);
	if (name_r != NULL)
		snprintf(name_r, size, "%s", r == 1 ? row.name : "");
	json_decref(row.limits);
	return r;
}

int mc_ratelimit_limits_by_name(struct mc_pg *pg, struct mc_redis *redis,
				const struct mc_ratelimit_settings *set,
				const char *domain, int64_t *tenant_r,
				int64_t *domain_id_r,
				struct mc_ratelimit_limits *limits_r,
				struct mc_error *err)
{
	struct domain_row row = {0};
	char key[320];
	int r = 0;
	snprintf(key, sizeof(key), "mc:rl:domn:%.300s", domain);
	if (domain[0] != '\0')
		r = row_fetch(pg, redis, key, "name = lower($1)", domain, &row,
			      err);
	apply(set, r == 1 ? row.limits : NULL, limits_r);
	*tenant_r = r == 1 ? row.tenant_id : 0;
	*domain_id_r = r == 1 ? row.id : 0;
	json_decref(row.limits);
	return r;
}

/* The notice's recipients: the tenant's and the domain's administrators
 * (role bindings held by active users), else postmaster@ the domain. */
static const char sql_admins[] =
	"SELECT DISTINCT u.tenant_id, u.id, u.domain_id, u.local_part || '@' "
	"|| d.name FROM role_bindings rb JOIN users u ON u.tenant_id = "
	"rb.holder_tenant AND u.id = rb.holder_id JOIN domains d ON "
	"d.tenant_id = u.tenant_id AND d.id = u.domain_id WHERE u.status = "
	"'active' AND ((rb.role = 'tenant' AND rb.tenant_id = $1) OR "
	"(rb.role = 'domain' AND rb.domain_id = $2)) ORDER BY u.id LIMIT 20";
static const char sql_postmaster[] =
	"SELECT u.tenant_id, u.id, u.domain_id, u.local_part || '@' || d.name "
	"FROM users u JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = "
	"u.domain_id WHERE d.id = $2 AND u.local_part = 'postmaster' AND "
	"u.status = 'active' AND $1::bigint IS NOT NULL";

/* Runs one recipient query into locals: their count, or -1. */
static int query_rcpts(struct mc_pg *pg, struct mc_pool *pool, const char *sql,
		       const char *const params[2],
		       struct mc_store_local *locals, struct mc_error *err)
{
	PGresult *res = mc_pg_query(pg, sql, 2, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res) < NOTICE_MAX_RCPTS ? PQntuples(res)
						  : NOTICE_MAX_RCPTS;
	for (int i = 0; i < n; i++)
		locals[i] = (struct mc_store_local){
			.tenant_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
			.user_id = strtoll(PQgetvalue(res, i, 1), NULL, 10),
			.domain_id = strtoll(PQgetvalue(res, i, 2), NULL, 10),
			.address = mc_pstrdup(pool, PQgetvalue(res, i, 3)),
		};
	PQclear(res);
	return n;
}

/* Who gets the notice about subj: their count, or -1. */
static int notice_rcpts(struct mc_pg *pg, struct mc_pool *pool,
			const struct mc_ratelimit_subject *subj,
			struct mc_store_local *locals, struct mc_error *err)
{
	char tid[NUM], did[NUM];
	snprintf(tid, sizeof(tid), "%lld", (long long)subj->tenant_id);
	snprintf(did, sizeof(did), "%lld", (long long)subj->domain_id);
	const char *params[2] = {tid, did};
	if (subj->tenant_id <= 0)
		return 0;
	int n = query_rcpts(pg, pool, sql_admins, params, locals, err);
	if (n == 0 && subj->domain_id > 0)
		n = query_rcpts(pg, pool, sql_postmaster, params, locals, err);
	return n;
}

/* Who hit the limit, for texts. */
static const char *who(const struct mc_ratelimit_subject *subj,
		       enum mc_ratelimit_scope scope)
{
	const char *s = scope == MC_RL_USER	? subj->user
			: scope == MC_RL_DOMAIN ? subj->domain
						: subj->ip;
	return s != NULL && s[0] != '\0' ? s : "(unknown)";
}

/* The notice as a message (CRLF lines). */
static const char *notice_text(struct mc_pool *pool,
			       const struct mc_ratelimit_report_ctx *ctx,
			       const struct mc_ratelimit_subject *subj,
			       const struct mc_ratelimit_verdict *v, time_t now)
{
	char date[64];
	struct tm tm;
	const char *enh, *text;
	unsigned code = mc_ratelimit_reply(v, &enh, &text);
	unsigned interval = ctx->set->notify_interval_s > 0
				    ? ctx->set->notify_interval_s
				    : 3600;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const char *host = ctx->hostname != NULL ? ctx->hostname : "localhost";
	return mc_psprintf(
		pool,
		"From: Mail system <MAILER-DAEMON@%s>\r\n"
		"To: undisclosed-recipients:;\r\n"
		"Subject: Sending limit reached: %s %s (%s)\r\n"
		"Date: %s\r\nMessage-ID: <rl.%lld.%d@%s>\r\n"
		"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"
		"The %s limit %s (%llu) was reached by %s %s at %s.\r\n\r\n"
		"Further submissions are refused with: %u %s %s\r\n\r\n"
		"This notice is sent at most once every %u seconds for "
		"this limit.\r\n",
		host, mc_ratelimit_scope_name(v->scope),
		mc_ratelimit_kind_name(v->kind), who(subj, v->scope), date,
		(long long)now, rand() % 100000, host,
		mc_ratelimit_scope_name(v->scope),
		mc_ratelimit_kind_name(v->kind), (unsigned long long)v->limit,
		mc_ratelimit_scope_name(v->scope), who(subj, v->scope), date,
		code, enh, text, interval);
}

/* Stores data as a message in the locals' INBOXes. 0 or -1. */
static int deliver_notice(const struct mc_ratelimit_report_ctx *ctx,
			  const char *data, const struct mc_store_local *locals,
			  size_t n, struct mc_error *err)
{
	char hash[MC_BLOB_HASH_LEN + 1];
	size_t len = strlen(data);
	if (mc_blob_put(ctx->blobs, data, len, hash, err) < 0)
		return -1;
	struct mc_message_settings ms = {0};
	struct mc_message *msg = mc_message_create(&ms);
	mc_message_feed(msg, data, len);
	struct mc_store_delivery d = {
		.sha256 = hash,
		.info = mc_message_finish(msg),
		.local = locals,
		.local_count = n,
		.queue_id = "ratelimit",
		.sender = "",
	};
	struct mc_store_local_result res[NOTICE_MAX_RCPTS];
	bool committed = false;
	int r = mc_store_deliver(ctx->pg, &d, res, &committed, err);
	if (r == 0 && committed)
		mc_store_notify(ctx->redis, &d, res);
	mc_message_destroy(&msg);
	return r;
}

/* Delivers the notice to the administrators: 0 (also when there are
 * none), or -1. */
static int send_notice(const struct mc_ratelimit_report_ctx *ctx,
		       const struct mc_ratelimit_subject *subj,
		       const struct mc_ratelimit_verdict *v, time_t now,
		       struct mc_error *err)
{
	struct mc_store_local locals[NOTICE_MAX_RCPTS];
	if (ctx->blobs == NULL || ctx->pg == NULL)
		return 0;
	struct mc_pool *pool = mc_pool_create("ratelimit-notice", 4096);
	int n = notice_rcpts(ctx->pg, pool, subj, locals, err);
	int r = n;
	if (n > 0)
		r = deliver_notice(ctx, notice_text(pool, ctx, subj, v, now),
				   locals, (size_t)n, err);
	mc_pool_destroy(&pool);
	return r < 0 ? -1 : 0;
}

/* The limit.hit event's data. */
static json_t *hit_json(const struct mc_ratelimit_subject *subj,
			const struct mc_ratelimit_verdict *v)
{
	json_t *o = json_pack(
		"{sI ss ss sI sI}", "tenant_id", (json_int_t)subj->tenant_id,
		"scope", mc_ratelimit_scope_name(v->scope), "limit",
		mc_ratelimit_kind_name(v->kind), "max", (json_int_t)v->limit,
		"used", (json_int_t)v->used);
	if (subj->user != NULL && subj->user_id > 0)
		json_object_set_new(o, "user", json_string(subj->user));
	if (subj->domain != NULL && subj->domain_id > 0)
		json_object_set_new(o, "domain", json_string(subj->domain));
	if (subj->ip != NULL && subj->ip[0] != '\0')
		json_object_set_new(o, "ip", json_string(subj->ip));
	return o;
}

/* The once-per-window key of a hit: the limit and its subject. */
static void hit_key(char *buf, size_t size,
		    const struct mc_ratelimit_subject *subj,
		    const struct mc_ratelimit_verdict *v)
{
	long long id = v->scope == MC_RL_USER ? subj->user_id : subj->domain_id;
	if (v->scope == MC_RL_IP)
		snprintf(buf, size, "ip:%.64s:%s",
			 subj->ip != NULL ? subj->ip : "",
			 mc_ratelimit_kind_name(v->kind));
	else
		snprintf(buf, size, "%s:%lld:%lld:%s",
			 mc_ratelimit_scope_name(v->scope),
			 (long long)subj->tenant_id, id,
			 mc_ratelimit_kind_name(v->kind));
}

int mc_ratelimit_report(const struct mc_ratelimit_report_ctx *ctx,
			const struct mc_ratelimit_subject *subj,
			const struct mc_ratelimit_verdict *v, time_t now,
			struct mc_error *err)
{
	char key[160];
	hit_key(key, sizeof(key), subj, v);
	int first = mc_ratelimit_notify_once(ctx->redis, ctx->set, key, err);
	if (first <= 0)
		return first;
	json_t *data = hit_json(subj, v);
	int r = mc_events_emit(ctx->events, MC_EVENT_LIMIT_HIT, subj->tenant_id,
			       data, err);
	json_decref(data);
	struct mc_error nerr = {0};
	if (send_notice(ctx, subj, v, now, &nerr) < 0) {
		mc_error_set(err, nerr.cls, "notice: %s", nerr.msg);
		r = -1;
	}
	return r < 0 ? -1 : 1;
}

/* The tenant's deferred recipients, from the cache or the database:
 * 0, or -1. */
static int deferred_count(const struct mc_ratelimit_report_ctx *ctx,
			  int64_t tenant_id, uint64_t *count_r,
			  struct mc_error *err)
{
	char key[64], tid[NUM];
	struct mc_error cerr = {0};
	unsigned ttl = ctx->set->deferred_cache_s > 0
			       ? ctx->set->deferred_cache_s
			       : DEFERRED_CACHE_TTL;
	snprintf(key, sizeof(key), "mc:rl:dq:%lld", (long long)tenant_id);
	redisReply *r = mc_redis_command(ctx->redis, &cerr, "GET %s", key);
	bool hit = r != NULL && r->type == REDIS_REPLY_STRING;
	if (hit)
		*count_r = strtoull(r->str, NULL, 10);
	if (r != NULL)
		freeReplyObject(r);
	if (hit)
		return 0;
	snprintf(tid, sizeof(tid), "%lld", (long long)tenant_id);
	const char *params[] = {tid};
	PGresult *res = mc_pg_query(
		ctx->pg,
		"SELECT count(*) FROM queue_recipients qr JOIN queue q ON "
		"q.tenant_id = qr.tenant_id AND q.id = qr.queue_entry WHERE "
		"qr.tenant_id = $1 AND qr.state = 'deferred' AND q.state <> "
		"'done'",
		1, params, err);
	if (res == NULL)
		return -1;
	*count_r = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	r = mc_redis_command(ctx->redis, &cerr, "SET %s %llu EX %u", key,
			     (unsigned long long)*count_r, ttl);
	if (r != NULL)
		freeReplyObject(r);
	return 0;
}

int mc_ratelimit_deferred(const struct mc_ratelimit_report_ctx *ctx,
			  int64_t tenant_id, uint64_t *count_r,
			  struct mc_error *err)
{
	uint64_t threshold = ctx->set->deferred_threshold;
	*count_r = 0;
	if (threshold == 0)
		return 0;
	if (deferred_count(ctx, tenant_id, count_r, err) < 0)
		return -1;
	if (*count_r <= threshold)
		return 0;
	char key[64];
	snprintf(key, sizeof(key), "deferred:%lld", (long long)tenant_id);
	if (mc_ratelimit_notify_once(ctx->redis, ctx->set, key, err) == 1) {
		json_t *data = json_pack(
			"{sI sI sI sb}", "tenant_id", (json_int_t)tenant_id,
			"deferred", (json_int_t)*count_r, "threshold",
			(json_int_t)threshold, "hold", ctx->set->deferred_hold);
		(void)mc_events_emit(ctx->events, MC_EVENT_QUEUE_DEFERRED,
				     tenant_id, data, err);
		json_decref(data);
	}
	return 1;
}
