/* mc-bcc: matching a transaction's addresses against the automatic BCC
 * rules of their domains. The rules of each domain (its own and those of
 * the domain it aliases) are cached in Redis as JSON under
 * "mc:bcc:<directory generation>:<domain>", an empty list included, so a
 * domain without rules costs no query; the domains not cached are read
 * in one query. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-bcc.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-str.h"

/* The directory's generation (mc-directory-cache.c). */
#define GEN_KEY	   "mc:dir:gen"
#define KEY_PREFIX "mc:bcc:"
#define GEN_MAX	   24

static const char get_script[] =
	"local g = redis.call('GET', KEYS[1]) or '0' local out = {g} "
	"for i, d in ipairs(ARGV) do out[i + 1] = redis.call('GET', "
	"'mc:bcc:' .. g .. ':' .. d) or false end return out";

static const char sql_rules[] =
	"SELECT d.name, r.tenant_id, r.direction, r.local_part, "
	"lower(r.target) FROM domains d JOIN bcc_rules r ON r.tenant_id = "
	"d.tenant_id AND (r.domain_id = d.id OR r.domain_id = d.alias_for) "
	"WHERE d.name = ANY ($1::text[]) ORDER BY d.name, r.id";

/* One rule of a domain. */
struct rule {
	int64_t tenant_id;
	const char *direction; /* in, out, both */
	const char *local;     /* "*" or a local part */
	const char *target;
};

/* A domain of the transaction with its rules. */
struct domain {
	const char *name;
	struct rule *rules;
	size_t count;
	bool loaded;
};

/* A key split for matching. */
struct split_key {
	enum mc_bcc_direction direction;
	const char *local;
	size_t domain; /* index into the domains */
};

/* One match in progress. */
struct match {
	struct mc_pool *pool;
	struct split_key *keys;
	size_t keys_count;
	struct domain *domains;
	size_t domains_count;
	char gen[GEN_MAX];
	bool cache; /* gen is known: store what the database gave */
};

/* The index of domain name, added when new. */
static size_t domain_index(struct match *m, const char *name)
{
	for (size_t i = 0; i < m->domains_count; i++) {
		if (strcmp(m->domains[i].name, name) == 0)
			return i;
	}
	m->domains[m->domains_count] = (struct domain){.name = name};
	return m->domains_count++;
}

/* Splits address into the lower-cased local part (without "+detail")
 * and domain; false when it has no '@' or an empty side. */
static bool split_key(struct match *m, const struct mc_bcc_key *k,
		      struct split_key *out)
{
	char *a = mc_str_lower(mc_pstrdup(m->pool, k->address));
	char *at = strrchr(a, '@');
	if (at == NULL || at == a || at[1] == '\0')
		return false;
	*at = '\0';
	char *plus = strchr(a, '+');
	if (plus != NULL && plus != a)
		*plus = '\0';
	*out = (struct split_key){k->direction, a, domain_index(m, at + 1)};
	return true;
}

/* A rule list from its cached JSON; false if malformed (then a miss). */
static bool rules_from_json(struct mc_pool *pool, const char *s, size_t len,
			    struct domain *d)
{
	json_t *a = json_loadb(s, len, 0, NULL), *v;
	size_t i;
	bool ok = json_is_array(a);
	d->count = 0;
	d->rules = mc_palloc_array(pool, json_array_size(a) + 1,
				   sizeof(*d->rules));
	json_array_foreach(a, i, v)
	{
		json_int_t tenant;
		const char *dir, *local, *target;
		if (!ok || json_unpack(v, "[Isss]", &tenant, &dir, &local,
				       &target) < 0) {
			ok = false;
			break;
		}
		d->rules[d->count++] = (struct rule){
			tenant, mc_pstrdup(pool, dir), mc_pstrdup(pool, local),
			mc_pstrdup(pool, target)};
	}
	json_decref(a);
	d->loaded = ok;
	return ok;
}

/* A domain's rules as JSON (caller frees), NULL on failure. */
static char *rules_to_json(const struct domain *d)
{
	json_t *a = json_array();
	for (size_t i = 0; i < d->count; i++) {
		const struct rule *r = &d->rules[i];
		json_array_append_new(
			a, json_pack("[Isss]", (json_int_t)r->tenant_id,
				     r->direction, r->local, r->target));
	}
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/* Reads the cached rule lists and the generation; a Redis failure only
 * means no cache. */
static void cache_get(struct mc_redis *redis, struct match *m)
{
	size_t argc = m->domains_count + 4;
	const char **argv = mc_palloc_array(m->pool, argc, sizeof(*argv));
	size_t *lens = mc_palloc_array(m->pool, argc, sizeof(*lens));
	argv[0] = "EVAL", argv[1] = get_script, argv[2] = "1",
	argv[3] = GEN_KEY;
	for (size_t i = 0; i < m->domains_count; i++)
		argv[4 + i] = m->domains[i].name;
	for (size_t i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	struct mc_error err = {0};
	redisReply *r = mc_redis_commandv(redis, (int)argc, argv, lens, &err);
	if (r == NULL) {
		mc_log_warning("bcc cache: %s", err.msg);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY &&
	    r->elements == m->domains_count + 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(m->gen, sizeof(m->gen), "%s", r->element[0]->str);
		m->cache = true;
		for (size_t i = 0; i < m->domains_count; i++) {
			redisReply *v = r->element[i + 1];
			if (v->type == REDIS_REPLY_STRING)
				(void)rules_from_json(m->pool, v->str, v->len,
						      &m->domains[i]);
		}
	}
	freeReplyObject(r);
}

/* Stores the lists the database gave; best effort. */
static void cache_put(struct mc_redis *redis, const struct match *m,
		      const bool *missed, unsigned ttl_s)
{
	for (size_t i = 0; i < m->domains_count; i++) {
		char *json = missed[i] ? rules_to_json(&m->domains[i]) : NULL;
		if (json == NULL)
			continue;
		struct mc_error err = {0};
		redisReply *r = mc_redis_command(
			redis, &err, "SET %s%s:%s %s EX %u", KEY_PREFIX, m->gen,
			m->domains[i].name, json, ttl_s);
		if (r != NULL)
			freeReplyObject(r);
		else
			mc_log_debug("bcc cache: %s", err.msg);
		free(json);
	}
}

/* The names of the domains not loaded, as a text[] literal. */
static const char *missing_array(struct match *m, bool *missed)
{
	struct mc_buf b;
	mc_buf_init(&b, m->pool, 0);
	mc_buf_append_c(&b, '{');
	for (size_t i = 0, n = 0; i < m->domains_count; i++) {
		missed[i] = !m->domains[i].loaded;
		if (!missed[i])
			continue;
		mc_buf_append_str(&b, n++ > 0 ? ",\"" : "\"");
		for (const char *p = m->domains[i].name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				mc_buf_append_c(&b, '\\');
			mc_buf_append_c(&b, *p);
		}
		mc_buf_append_c(&b, '"');
	}
	mc_buf_append_c(&b, '}');
	return mc_buf_cstr(&b);
}

/* Appends row r of sql_rules to its domain. */
static void add_row(struct match *m, PGresult *res, int r)
{
	const char *name = PQgetvalue(res, r, 0);
	for (size_t i = 0; i < m->domains_count; i++) {
		struct domain *d = &m->domains[i];
		if (d->loaded || strcmp(d->name, name) != 0)
			continue;
		d->rules[d->count++] = (struct rule){
			strtoll(PQgetvalue(res, r, 1), NULL, 10),
			mc_pstrdup(m->pool, PQgetvalue(res, r, 2)),
			mc_pstrdup(m->pool, PQgetvalue(res, r, 3)),
			mc_pstrdup(m->pool, PQgetvalue(res, r, 4))};
	}
}

/* Reads the rules of every domain not cached in one query. */
static int load_missing(struct mc_pg *pg, struct match *m, bool *missed,
			struct mc_error *err)
{
	const char *params[] = {missing_array(m, missed)};
	PGresult *res = mc_pg_query(pg, sql_rules, 1, params, err);
	if (res == NULL)
		return -1;
	int rows = PQntuples(res);
	for (size_t i = 0; i < m->domains_count; i++) {
		if (!missed[i])
			continue;
		m->domains[i].rules = mc_palloc_array(m->pool, (size_t)rows + 1,
						      sizeof(struct rule));
		m->domains[i].count = 0;
	}
	for (int r = 0; r < rows; r++)
		add_row(m, res, r);
	PQclear(res);
	for (size_t i = 0; i < m->domains_count; i++)
		m->domains[i].loaded = true;
	return 0;
}

/* True when rule r applies to key k. */
static bool applies(const struct rule *r, const struct split_key *k)
{
	bool dir = strcmp(r->direction, "both") == 0 ||
		   strcmp(r->direction,
			  k->direction == MC_BCC_IN ? "in" : "out") == 0;
	return dir &&
	       (strcmp(r->local, "*") == 0 || strcmp(r->local, k->local) == 0);
}

/* Adds a target unless present or the list is full. */
static void add_target(struct mc_bcc_target *t, size_t *n, const struct rule *r)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(t[i].address, r->target) == 0)
			return;
	}
	if (*n >= MC_BCC_MAX_TARGETS) {
		mc_log_warning("bcc: more than %d targets, %s not copied",
			       MC_BCC_MAX_TARGETS, r->target);
		return;
	}
	t[(*n)++] = (struct mc_bcc_target){r->tenant_id, r->target};
}

/* The targets of every rule that applies to a key. */
static void collect(const struct match *m, struct mc_bcc_target **targets_r,
		    size_t *count_r)
{
	struct mc_bcc_target *t =
		mc_palloc_array(m->pool, MC_BCC_MAX_TARGETS + 1, sizeof(*t));
	size_t n = 0;
	for (size_t i = 0; i < m->keys_count; i++) {
		const struct split_key *k = &m->keys[i];
		const struct domain *d = &m->domains[k->domain];
		for (size_t j = 0; j < d->count; j++) {
			if (applies(&d->rules[j], k))
				add_target(t, &n, &d->rules[j]);
		}
	}
	*targets_r = t;
	*count_r = n;
}

int mc_bcc_match(struct mc_pg *pg, struct mc_redis *redis,
		 const struct mc_directory_settings *set, struct mc_pool *pool,
		 const struct mc_bcc_key *keys, size_t count,
		 struct mc_bcc_target **targets_r, size_t *count_r,
		 struct mc_error *err)
{
	struct match m = {.pool = pool};
	m.keys = mc_palloc_array(pool, count + 1, sizeof(*m.keys));
	m.domains = mc_palloc_array(pool, count + 1, sizeof(*m.domains));
	for (size_t i = 0; i < count; i++) {
		if (split_key(&m, &keys[i], &m.keys[m.keys_count]))
			m.keys_count++;
	}
	*targets_r = NULL;
	*count_r = 0;
	if (m.domains_count == 0)
		return 0;
	bool cache = redis != NULL && set != NULL && set->cache_ttl_s > 0;
	if (cache)
		cache_get(redis, &m);
	bool *missed = mc_palloc_array(pool, m.domains_count, sizeof(bool));
	size_t loaded = 0;
	for (size_t i = 0; i < m.domains_count; i++)
		loaded += m.domains[i].loaded;
	if (loaded < m.domains_count) {
		if (load_missing(pg, &m, missed, err) < 0)
			return -1;
		if (cache && m.cache)
			cache_put(redis, &m, missed, set->cache_ttl_s);
	}
	collect(&m, targets_r, count_r);
	return 0;
}
