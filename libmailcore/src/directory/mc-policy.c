/* mc-policy: the effective policy of a user. One query gathers the
 * user, its domain's settings, the first matching named policy and the
 * ceilings of its department chain, tenant and reseller chain; the
 * layers are then applied here. Results are cached in Redis as JSON
 * under "mc:pol:<directory generation>:<tenant>:<user>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-redis.h"

/* The directory's generation (mc-directory-cache.c): bumping it with
 * mc_directory_invalidate() makes cached policies stale too. */
#define GEN_KEY	   "mc:dir:gen"
#define KEY_PREFIX "mc:pol:"

static const char get_script[] =
	"local g = redis.call('GET', KEYS[1]) or '0' "
	"return {g, redis.call('GET', 'mc:pol:' .. g .. ':' .. ARGV[1])}";

/* Columns of sql_resolve. */
enum col {
	C_DOMAIN = 0,
	C_USER_PROTOCOLS,
	C_D_ATTACH,
	C_D_INTERNAL,
	C_D_PROTOCOLS,
	C_D_SEND_COUNT,
	C_D_SEND_BYTES,
	C_D_MESSAGE,
	C_DEP_MESSAGE, /* ceilings: department, tenant, reseller */
	C_DEP_COUNT,
	C_DEP_BYTES,
	C_T_MESSAGE,
	C_T_COUNT,
	C_T_BYTES,
	C_R_MESSAGE,
	C_R_COUNT,
	C_R_BYTES,
	C_P_NAME,
	C_P_ATTACH,
	C_P_SEND_COUNT,
	C_P_SEND_BYTES,
	C_P_INTERNAL,
	C_P_PROTOCOLS,
};

static const char sql_resolve[] =
	"WITH RECURSIVE usr AS (SELECT u.tenant_id, u.domain_id, "
	"u.local_part, u.department_id, u.protocols FROM users u "
	"WHERE u.tenant_id = $1 AND u.id = $2), "
	"up(id) AS (SELECT department_id FROM usr WHERE department_id IS "
	"NOT NULL UNION SELECT p.parent_id FROM departments p JOIN up ON "
	"p.tenant_id = $1 AND p.id = up.id WHERE p.parent_id IS NOT NULL), "
	"dep AS (SELECT coalesce(array_agg(x.id), '{}') AS ids, "
	"coalesce(min(nullif(x.lim_message_bytes, 0)), 0) AS mb, "
	"coalesce(min(nullif(x.lim_send_count, 0)), 0) AS sc, "
	"coalesce(min(nullif(x.lim_send_bytes, 0)), 0) AS sb "
	"FROM departments x JOIN up ON x.tenant_id = $1 AND x.id = up.id) "
	"SELECT usr.domain_id, array_to_string(usr.protocols, ','), "
	"d.attachment_max_bytes, d.internal_only, "
	"array_to_string(d.protocols, ','), d.lim_send_count, "
	"d.lim_send_bytes, d.max_message_bytes, dep.mb, dep.sc, dep.sb, "
	"t.lim_message_bytes, t.lim_send_count, t.lim_send_bytes, "
	"r.mb, r.sc, r.sb, p.name, p.attachment_max_bytes, "
	"p.send_count_daily, p.send_bytes_daily, p.internal_only, "
	"array_to_string(p.protocols, ',') "
	"FROM usr JOIN domains d ON d.tenant_id = usr.tenant_id AND d.id = "
	"usr.domain_id JOIN tenants t ON t.id = usr.tenant_id CROSS JOIN dep "
	"CROSS JOIN LATERAL (SELECT "
	"coalesce(min(nullif(lim_message_bytes, 0)), 0) AS mb, "
	"coalesce(min(nullif(lim_send_count, 0)), 0) AS sc, "
	"coalesce(min(nullif(lim_send_bytes, 0)), 0) AS sb "
	"FROM resellers WHERE id = ANY (t.reseller_path)) r "
	"LEFT JOIN LATERAL (SELECT * FROM policies p WHERE p.tenant_id = "
	"usr.tenant_id AND p.domain_id = usr.domain_id AND "
	"((cardinality(p.departments) = 0 AND cardinality(p.members) = 0) "
	"OR p.departments && dep.ids OR usr.local_part = ANY (p.members)) "
	"ORDER BY p.position, p.id LIMIT 1) p ON true";

static const char *const source_names[] = {
	"server", "policy", "domain", "department", "tenant", "reseller",
};

static const char *const field_names[] = {
	"attachment_max_bytes", "daily_send_count", "daily_send_bytes",
	"internal_only",	"protocols",	    "message_bytes",
};

static const char *const protocol_names[] = {"imap", "pop3", "smtp", "webmail"};
#define N_PROTOCOLS 4

const char *mc_policy_source_name(enum mc_policy_source src)
{
	return (unsigned)src < 6 ? source_names[src] : "server";
}

const char *mc_policy_field_name(enum mc_policy_field field)
{
	return (unsigned)field < MC_POLICY_F_COUNT ? field_names[field] : "";
}

void mc_policy_settings_from_config(const struct mc_config *cfg,
				    struct mc_policy_settings *set_r)
{
	*set_r = (struct mc_policy_settings){
		.attachment_max_bytes =
			mc_config_size(cfg, "policy", "attachment_max_bytes"),
		.daily_send_count = (uint64_t)mc_config_int(cfg, "policy",
							    "daily_send_count"),
		.daily_send_bytes =
			mc_config_size(cfg, "policy", "daily_send_bytes"),
		.internal_only = mc_config_bool(cfg, "policy", "internal_only"),
		.cache_ttl_s = MC_POLICY_CACHE_TTL,
	};
}

/* The MC_DIR_PROTO_* mask of a comma-separated list of names. */
static unsigned protocols_parse(const char *list)
{
	unsigned mask = 0;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		for (unsigned i = 0; i < N_PROTOCOLS; i++)
			if (strcmp(p, protocol_names[i]) == 0)
				mask |= 1u << i;
	}
	return mask;
}

/* One numeric column (NULL reads as 0). */
static uint64_t num(const PGresult *res, int col)
{
	return strtoull(PQgetvalue(res, 0, col), NULL, 10);
}

/* True when a boolean column is true. */
static bool flag(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

/* A size or count: the policy's (set), the domain's (nonzero), else the
 * server's. pcol < 0: the policy has no such setting. */
static void layer(struct mc_policy *p, enum mc_policy_field f, uint64_t *out,
		  const PGresult *res, int pcol, int dcol, uint64_t server)
{
	if (pcol >= 0 && !PQgetisnull(res, 0, pcol)) {
		*out = num(res, pcol);
		p->sources[f] = MC_POLICY_SRC_POLICY;
	} else if (num(res, dcol) > 0) {
		*out = num(res, dcol);
		p->sources[f] = MC_POLICY_SRC_DOMAIN;
	} else {
		*out = server;
		p->sources[f] = MC_POLICY_SRC_SERVER;
	}
}

/* Caps *out by the nonzero ceilings of the department chain, tenant and
 * resellers (columns first, first + 3, first + 6). */
static void cap(struct mc_policy *p, enum mc_policy_field f, uint64_t *out,
		const PGresult *res, int first)
{
	static const enum mc_policy_source levels[] = {MC_POLICY_SRC_DEPARTMENT,
						       MC_POLICY_SRC_TENANT,
						       MC_POLICY_SRC_RESELLER};
	for (int i = 0; i < 3; i++) {
		uint64_t c = num(res, first + 3 * i);
		if (c > 0 && (*out == 0 || c < *out)) {
			*out = c;
			p->sources[f] = levels[i];
		}
	}
}

/* The flags and the protocol set: policy, else domain (else server). */
static void layer_flags(struct mc_policy *p, const PGresult *res,
			const struct mc_policy_settings *set)
{
	if (!PQgetisnull(res, 0, C_P_INTERNAL)) {
		p->internal_only = flag(res, C_P_INTERNAL);
		p->sources[MC_POLICY_F_INTERNAL_ONLY] = MC_POLICY_SRC_POLICY;
	} else if (flag(res, C_D_INTERNAL)) {
		p->internal_only = true;
		p->sources[MC_POLICY_F_INTERNAL_ONLY] = MC_POLICY_SRC_DOMAIN;
	} else {
		p->internal_only = set->internal_only;
	}
	bool own = !PQgetisnull(res, 0, C_P_PROTOCOLS);
	p->protocols = protocols_parse(PQgetvalue(
			       res, 0, own ? C_P_PROTOCOLS : C_D_PROTOCOLS)) &
		       protocols_parse(PQgetvalue(res, 0, C_USER_PROTOCOLS));
	p->sources[MC_POLICY_F_PROTOCOLS] =
		own ? MC_POLICY_SRC_POLICY : MC_POLICY_SRC_DOMAIN;
}

/* Applies the layers of the query's row. */
static void apply(struct mc_policy *p, const PGresult *res,
		  const struct mc_policy_settings *set)
{
	p->domain_id = (int64_t)num(res, C_DOMAIN);
	if (!PQgetisnull(res, 0, C_P_NAME))
		snprintf(p->name, sizeof(p->name), "%s",
			 PQgetvalue(res, 0, C_P_NAME));
	layer(p, MC_POLICY_F_ATTACHMENT_MAX_BYTES, &p->attachment_max_bytes,
	      res, C_P_ATTACH, C_D_ATTACH, set->attachment_max_bytes);
	layer(p, MC_POLICY_F_DAILY_SEND_COUNT, &p->daily_send_count, res,
	      C_P_SEND_COUNT, C_D_SEND_COUNT, set->daily_send_count);
	layer(p, MC_POLICY_F_DAILY_SEND_BYTES, &p->daily_send_bytes, res,
	      C_P_SEND_BYTES, C_D_SEND_BYTES, set->daily_send_bytes);
	layer(p, MC_POLICY_F_MESSAGE_BYTES, &p->message_bytes, res, -1,
	      C_D_MESSAGE, 0);
	layer_flags(p, res, set);
	cap(p, MC_POLICY_F_DAILY_SEND_COUNT, &p->daily_send_count, res,
	    C_DEP_COUNT);
	cap(p, MC_POLICY_F_DAILY_SEND_BYTES, &p->daily_send_bytes, res,
	    C_DEP_BYTES);
	cap(p, MC_POLICY_F_MESSAGE_BYTES, &p->message_bytes, res,
	    C_DEP_MESSAGE);
}

/* Resolves from PostgreSQL: 1, 0 no such user, -1. */
static int resolve_db(struct mc_pg *pg, const struct mc_policy_settings *set,
		      struct mc_policy *p, struct mc_error *err)
{
	char tid[24], uid[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)p->tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)p->user_id);
	const char *params[] = {tid, uid};
	PGresult *res = mc_pg_query(pg, sql_resolve, 2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found)
		apply(p, res, set);
	PQclear(res);
	return found;
}

json_t *mc_policy_to_json(const struct mc_policy *p)
{
	json_t *protocols = json_array(), *sources = json_object();
	for (unsigned i = 0; i < N_PROTOCOLS; i++)
		if (p->protocols & (1u << i))
			json_array_append_new(protocols,
					      json_string(protocol_names[i]));
	for (int f = 0; f < MC_POLICY_F_COUNT; f++)
		json_object_set_new(
			sources, field_names[f],
			json_string(mc_policy_source_name(p->sources[f])));
	return json_pack(
		"{s:o,s:I,s:I,s:I,s:b,s:o,s:I,s:o}", "policy",
		p->name[0] != '\0' ? json_string(p->name) : json_null(),
		"attachment_max_bytes", (json_int_t)p->attachment_max_bytes,
		"daily_send_count", (json_int_t)p->daily_send_count,
		"daily_send_bytes", (json_int_t)p->daily_send_bytes,
		"internal_only", p->internal_only, "protocols", protocols,
		"message_bytes", (json_int_t)p->message_bytes, "sources",
		sources);
}

/* The source called name; false if unknown. */
static bool source_parse(const char *name, enum mc_policy_source *src_r)
{
	for (unsigned i = 0; name != NULL && i < 6; i++) {
		if (strcmp(name, source_names[i]) == 0) {
			*src_r = (enum mc_policy_source)i;
			return true;
		}
	}
	return false;
}

/* Protocols and sources of a cached entry; false if malformed. */
static bool lists_from_json(json_t *protocols, json_t *sources,
			    struct mc_policy *p)
{
	size_t i;
	json_t *v;
	if (!json_is_array(protocols) || !json_is_object(sources))
		return false;
	json_array_foreach(protocols, i, v) p->protocols |=
		protocols_parse(json_is_string(v) ? json_string_value(v) : "");
	for (int f = 0; f < MC_POLICY_F_COUNT; f++) {
		const char *s = json_string_value(
			json_object_get(sources, field_names[f]));
		if (!source_parse(s, &p->sources[f]))
			return false;
	}
	return true;
}

/* Fills p (ids already set) from a cached entry; false if malformed. */
static bool from_json(const char *s, size_t len, struct mc_policy *p)
{
	json_t *o = json_loadb(s, len, 0, NULL), *name, *protocols, *sources;
	json_int_t v[5];
	int internal;
	bool ok = o != NULL &&
		  json_unpack(o, "{s:o,s:I,s:I,s:I,s:b,s:o,s:I,s:o,s:I}",
			      "policy", &name, "attachment_max_bytes", &v[0],
			      "daily_send_count", &v[1], "daily_send_bytes",
			      &v[2], "internal_only", &internal, "protocols",
			      &protocols, "message_bytes", &v[3], "sources",
			      &sources, "domain_id", &v[4]) == 0 &&
		  (json_is_null(name) || json_is_string(name)) &&
		  lists_from_json(protocols, sources, p);
	if (ok) {
		snprintf(p->name, sizeof(p->name), "%s",
			 json_is_string(name) ? json_string_value(name) : "");
		p->attachment_max_bytes = (uint64_t)v[0];
		p->daily_send_count = (uint64_t)v[1];
		p->daily_send_bytes = (uint64_t)v[2];
		p->internal_only = internal != 0;
		p->message_bytes = (uint64_t)v[3];
		p->domain_id = v[4];
	}
	json_decref(o);
	return ok;
}

/* Looks the user up in the cache: 1 hit, 0 miss (gen_r set), -1 Redis
 * unusable (then no caching at all). */
static int cache_get(struct mc_redis *redis, const char *id,
		     struct mc_policy *p, char *gen_r, size_t gen_size)
{
	struct mc_error err = {0};
	redisReply *r = mc_redis_command(redis, &err, "EVAL %s 1 %s %s",
					 get_script, GEN_KEY, id);
	if (r == NULL) {
		mc_log_warning("policy cache: %s", err.msg);
		return -1;
	}
	int hit = -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(gen_r, gen_size, "%s", r->element[0]->str);
		redisReply *v = r->element[1];
		hit = v->type == REDIS_REPLY_STRING &&
		      from_json(v->str, v->len, p);
	}
	freeReplyObject(r);
	return hit;
}

/* Stores p under gen for ttl_s seconds; best effort. */
static void cache_put(struct mc_redis *redis, const char *gen, const char *id,
		      const struct mc_policy *p, unsigned ttl_s)
{
	json_t *o = mc_policy_to_json(p);
	json_object_set_new(o, "domain_id", json_integer(p->domain_id));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		return;
	struct mc_error err = {0};
	redisReply *r = mc_redis_command(redis, &err, "SET %s%s:%s %s EX %u",
					 KEY_PREFIX, gen, id, s, ttl_s);
	if (r != NULL)
		freeReplyObject(r);
	else
		mc_log_debug("policy cache: %s", err.msg);
	free(s);
}

int mc_policy_resolve(struct mc_pg *pg, struct mc_redis *redis,
		      const struct mc_policy_settings *set, int64_t tenant_id,
		      int64_t user_id, struct mc_policy *policy_r,
		      struct mc_error *err)
{
	*policy_r =
		(struct mc_policy){.tenant_id = tenant_id, .user_id = user_id};
	char id[48], gen[24];
	snprintf(id, sizeof(id), "%lld:%lld", (long long)tenant_id,
		 (long long)user_id);
	int cached = redis != NULL
			     ? cache_get(redis, id, policy_r, gen, sizeof(gen))
			     : -1;
	if (cached == 1)
		return 1;
	*policy_r =
		(struct mc_policy){.tenant_id = tenant_id, .user_id = user_id};
	int found = resolve_db(pg, set, policy_r, err);
	if (found == 1 && cached == 0)
		cache_put(redis, gen, id, policy_r,
			  set->cache_ttl_s > 0 ? set->cache_ttl_s
					       : MC_POLICY_CACHE_TTL);
	return found;
}

int mc_policy_resolve_address(struct mc_pg *pg, struct mc_redis *redis,
			      const struct mc_policy_settings *set,
			      const char *address, struct mc_policy *policy_r,
			      struct mc_error *err)
{
	const char *params[] = {address};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.tenant_id, u.id FROM users u JOIN domains d ON "
		"d.tenant_id = u.tenant_id AND (d.id = u.domain_id OR "
		"d.alias_for = u.domain_id) WHERE d.name = "
		"lower(split_part($1, '@', 2)) AND u.local_part = "
		"lower(split_part($1, '@', 1)) AND $1 LIKE '%_@_%' AND "
		"$1 NOT LIKE '%@%@%' LIMIT 1",
		1, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	int64_t tenant = 0, user = 0;
	if (found) {
		tenant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		user = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	if (!found)
		return 0;
	return mc_policy_resolve(pg, redis, set, tenant, user, policy_r, err);
}

int mc_policy_allows(struct mc_pg *pg, struct mc_redis *redis,
		     const struct mc_policy_settings *set, int64_t tenant_id,
		     int64_t user_id, unsigned protocol, struct mc_error *err)
{
	struct mc_policy p;
	int r = mc_policy_resolve(pg, redis, set, tenant_id, user_id, &p, err);
	return r <= 0 ? r : (p.protocols & protocol) != 0;
}
