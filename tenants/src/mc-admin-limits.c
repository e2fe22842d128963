/* mc-admin-limits: limits shared by every level (reseller, tenant, domain,
 * department): loading lim_* and counters, the "limits" and "usage" JSON
 * objects, and the carving checks the count triggers leave to the
 * operations (ancestors' limits, the subtree's limits, storage
 * allocation, user quotas within their domain's). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"

#define NKEYS	8
#define LEVELS	4 /* reseller, tenant, domain, department */
#define STORAGE 4 /* index of storage_bytes in keys[] */

/* A limit: its JSON key, its field, its column at each level (NULL when
 * the level does not have it). */
static const struct limit_key {
	const char *key;
	size_t offset;
	const char *col[LEVELS];
} keys[NKEYS] = {
	{"domains",
	 offsetof(struct admin_limits, domains),
	 {"lim_domains", "lim_domains", NULL, NULL}},
	{"users",
	 offsetof(struct admin_limits, users),
	 {"lim_users", "lim_users", "lim_users", "lim_users"}},
	{"aliases",
	 offsetof(struct admin_limits, aliases),
	 {"lim_aliases", "lim_aliases", "lim_aliases", NULL}},
	{"lists",
	 offsetof(struct admin_limits, lists),
	 {"lim_lists", "lim_lists", "lim_lists", NULL}},
	{"storage_bytes",
	 offsetof(struct admin_limits, storage),
	 {"lim_storage", "lim_storage", "quota_bytes", NULL}},
	{"message_bytes",
	 offsetof(struct admin_limits, message_bytes),
	 {"lim_message_bytes", "lim_message_bytes", "max_message_bytes",
	  "lim_message_bytes"}},
	{"daily_send_count",
	 offsetof(struct admin_limits, send_count),
	 {"lim_send_count", "lim_send_count", "lim_send_count",
	  "lim_send_count"}},
	{"daily_send_bytes",
	 offsetof(struct admin_limits, send_bytes),
	 {"lim_send_bytes", "lim_send_bytes", "lim_send_bytes",
	  "lim_send_bytes"}},
};

static const char *const all_keys[] = {"domains",
				       "users",
				       "aliases",
				       "lists",
				       "storage_bytes",
				       "message_bytes",
				       "daily_send_count",
				       "daily_send_bytes",
				       NULL};
static const char *const domain_keys[] = {"users",
					  "aliases",
					  "lists",
					  "storage_bytes",
					  "message_bytes",
					  "daily_send_count",
					  "daily_send_bytes",
					  NULL};
static const char *const department_keys[] = {
	"users", "message_bytes", "daily_send_count", "daily_send_bytes", NULL};
static const char *const no_keys[] = {NULL};

/* Columns: name, the eight limits in keys[] order, the four counters,
 * used and allocated storage; $2 asks for the storage sums. */
static const char *const load_sql[LEVELS] = {
	"SELECT r.name, r.lim_domains, r.lim_users, r.lim_aliases, "
	"r.lim_lists, r.lim_storage, r.lim_message_bytes, r.lim_send_count, "
	"r.lim_send_bytes, r.n_domains, r.n_users, r.n_aliases, r.n_lists, "
	"CASE WHEN $2::boolean THEN (SELECT coalesce(sum(du.used_bytes), 0) "
	"FROM domain_usage du JOIN tenants t ON t.id = du.tenant_id "
	"WHERE r.id = ANY (t.reseller_path)) ELSE 0 END, "
	"CASE WHEN $2::boolean THEN (SELECT coalesce(sum(lim_storage), 0) "
	"FROM tenants WHERE reseller_id = r.id) + (SELECT "
	"coalesce(sum(lim_storage), 0) FROM resellers WHERE parent_id = r.id) "
	"ELSE 0 END FROM resellers r WHERE r.id = $1",

	"SELECT t.name, t.lim_domains, t.lim_users, t.lim_aliases, "
	"t.lim_lists, t.lim_storage, t.lim_message_bytes, t.lim_send_count, "
	"t.lim_send_bytes, t.n_domains, t.n_users, t.n_aliases, t.n_lists, "
	"CASE WHEN $2::boolean THEN (SELECT coalesce(sum(used_bytes), 0) "
	"FROM domain_usage WHERE tenant_id = t.id) ELSE 0 END, "
	"CASE WHEN $2::boolean THEN (SELECT coalesce(sum(quota_bytes), 0) "
	"FROM domains WHERE tenant_id = t.id AND alias_for IS NULL) ELSE 0 "
	"END FROM tenants t WHERE t.id = $1",

	"SELECT d.name, 0, d.lim_users, d.lim_aliases, d.lim_lists, "
	"d.quota_bytes, d.max_message_bytes, d.lim_send_count, "
	"d.lim_send_bytes, 0, d.n_users, d.n_aliases, d.n_lists, "
	"CASE WHEN $2::boolean THEN (SELECT coalesce(sum(used_bytes), 0) "
	"FROM domain_usage du WHERE du.tenant_id = d.tenant_id AND "
	"du.domain_id = d.id) ELSE 0 END, 0 FROM domains d WHERE d.id = $1",

	"SELECT x.name, 0, x.lim_users, 0, 0, 0, x.lim_message_bytes, "
	"x.lim_send_count, x.lim_send_bytes, 0, x.n_users, 0, 0, 0, 0 "
	"FROM departments x WHERE x.id = $1 AND $2::boolean IS NOT NULL",
};

/* The index of a limit level in the tables above, -1 for others. */
static int level_index(enum admin_level level)
{
	if (level < ADMIN_AT_RESELLER || level > ADMIN_AT_DEPARTMENT)
		return -1;
	return (int)level - (int)ADMIN_AT_RESELLER;
}

/* The column of key k at level, or NULL. */
static const char *key_col(const struct limit_key *k, enum admin_level level)
{
	int i = level_index(level);
	return i < 0 ? NULL : k->col[i];
}

/* The value of key k in l. */
static int64_t *key_value(const struct limit_key *k, struct admin_limits *l)
{
	return (int64_t *)(void *)((char *)l + k->offset);
}

/* The value of key k in a read-only l. */
static int64_t key_get(const struct limit_key *k, const struct admin_limits *l)
{
	return *(const int64_t *)(const void *)((const char *)l + k->offset);
}

const char *admin_level_name(enum admin_level level)
{
	static const char *const names[] = {
		[ADMIN_AT_PROVIDER] = "provider",
		[ADMIN_AT_RESELLER] = "reseller",
		[ADMIN_AT_TENANT] = "tenant",
		[ADMIN_AT_DOMAIN] = "domain",
		[ADMIN_AT_DEPARTMENT] = "department",
		[ADMIN_AT_USER] = "user",
	};
	return (unsigned)level <= ADMIN_AT_USER ? names[level] : "?";
}

const char *const *admin_limit_keys(enum admin_level level)
{
	switch (level) {
	case ADMIN_AT_RESELLER:
	case ADMIN_AT_TENANT:
		return all_keys;
	case ADMIN_AT_DOMAIN:
		return domain_keys;
	case ADMIN_AT_DEPARTMENT:
		return department_keys;
	default:
		return no_keys;
	}
}

/* A numeric column as int64. */
static int64_t col_i64(const PGresult *res, int col)
{
	return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

int admin_level_load(struct mc_admin *a, enum admin_level level, int64_t id,
		     bool with_usage, struct admin_level_usage *u,
		     struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {idbuf, with_usage ? "true" : "false"};
	int li = level_index(level);

	memset(u, 0, sizeof(*u));
	if (li < 0)
		return 0;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	PGresult *res = admin_query(a, load_sql[li], 2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		u->level = level;
		u->id = id;
		snprintf(u->name, sizeof(u->name), "%s", PQgetvalue(res, 0, 0));
		for (int i = 0; i < NKEYS; i++)
			*key_value(&keys[i], &u->lim) = col_i64(res, 1 + i);
		u->n_domains = col_i64(res, 9);
		u->n_users = col_i64(res, 10);
		u->n_aliases = col_i64(res, 11);
		u->n_lists = col_i64(res, 12);
		u->used_bytes = col_i64(res, 13);
		u->allocated_bytes = col_i64(res, 14);
	}
	PQclear(res);
	return found;
}

json_t *admin_limits_json(const struct admin_level_usage *u)
{
	json_t *o = json_object();

	for (int i = 0; i < NKEYS; i++) {
		if (key_col(&keys[i], u->level) != NULL)
			json_object_set_new(
				o, keys[i].key,
				json_integer(key_get(&keys[i], &u->lim)));
	}
	return o;
}

json_t *admin_usage_json(const struct admin_level_usage *u)
{
	json_t *o = json_object();

	if (u->level == ADMIN_AT_DEPARTMENT) {
		json_object_set_new(o, "users", json_integer(u->n_users));
		return o;
	}
	if (u->level != ADMIN_AT_DOMAIN)
		json_object_set_new(o, "domains", json_integer(u->n_domains));
	json_object_set_new(o, "users", json_integer(u->n_users));
	json_object_set_new(o, "aliases", json_integer(u->n_aliases));
	json_object_set_new(o, "lists", json_integer(u->n_lists));
	json_object_set_new(o, "storage_bytes", json_integer(u->used_bytes));
	if (u->level != ADMIN_AT_DOMAIN)
		json_object_set_new(o, "storage_allocated_bytes",
				    json_integer(u->allocated_bytes));
	return o;
}

int admin_level_json_add(struct mc_admin *a, json_t *obj,
			 enum admin_level level, int64_t id,
			 struct mc_error *err)
{
	struct admin_level_usage u;
	int r = admin_level_load(a, level, id, true, &u, err);

	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no such %s",
			     admin_level_name(level));
	if (r <= 0)
		return -1;
	json_object_set_new(obj, "limits", admin_limits_json(&u));
	json_object_set_new(obj, "usage", admin_usage_json(&u));
	return 0;
}

void admin_limits_params(const struct admin_limits *l, char bufs[8][24],
			 const char *params[8])
{
	for (int i = 0; i < NKEYS; i++) {
		int64_t v = key_get(&keys[i], l);
		params[i] = NULL;
		if (v == ADMIN_LIMIT_UNSET)
			continue;
		snprintf(bufs[i], 24, "%lld", (long long)v);
		params[i] = bufs[i];
	}
}

bool admin_limits_given(const struct admin_limits *l, enum admin_level level)
{
	for (int i = 0; i < NKEYS; i++) {
		if (key_get(&keys[i], l) != ADMIN_LIMIT_UNSET &&
		    key_col(&keys[i], level) != NULL)
			return true;
	}
	return false;
}

json_t *admin_limits_changes(const struct admin_limits *l,
			     enum admin_level level)
{
	json_t *o = json_object();

	for (int i = 0; i < NKEYS; i++) {
		int64_t v = key_get(&keys[i], l);
		if (v != ADMIN_LIMIT_UNSET && key_col(&keys[i], level) != NULL)
			json_object_set_new(o, keys[i].key, json_integer(v));
	}
	if (json_object_size(o) == 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Ancestors of the object, nearest first. */
struct ancestors {
	struct admin_level_usage lv[2 * ADMIN_PATH_MAX + 2];
	size_t n;
};

/* Appends level id to the list of ancestors to load. */
static void anc_add(struct ancestors *an, enum admin_level level, int64_t id)
{
	if (id == 0 || an->n >= sizeof(an->lv) / sizeof(*an->lv))
		return;
	an->lv[an->n].level = level;
	an->lv[an->n].id = id;
	an->n++;
}

/* The ancestors of the object of level self at p (self itself, which its
 * finder's place includes, is skipped). */
static void anc_collect(const struct admin_place *p, enum admin_level level,
			int64_t self, struct ancestors *an)
{
	an->n = 0;
	if (level == ADMIN_AT_DEPARTMENT) {
		for (size_t i = p->ndepartments; i > 0; i--) {
			if (p->departments[i - 1] != self)
				anc_add(an, ADMIN_AT_DEPARTMENT,
					p->departments[i - 1]);
		}
	}
	if (level > ADMIN_AT_DOMAIN)
		anc_add(an, ADMIN_AT_DOMAIN, p->domain_id);
	if (level > ADMIN_AT_TENANT)
		anc_add(an, ADMIN_AT_TENANT, p->tenant_id);
	for (size_t i = p->nresellers; i > 0; i--) {
		if (level != ADMIN_AT_RESELLER || p->resellers[i - 1] != self)
			anc_add(an, ADMIN_AT_RESELLER, p->resellers[i - 1]);
	}
}

/* Leaves the API role for reads above the actor's scope (on) and takes
 * it on again (off). */
static int owner_mode(struct mc_admin *a, bool on, struct mc_error *err)
{
	return mc_pg_exec_script(a->pg,
				 on ? "SET LOCAL ROLE NONE"
				    : "SET LOCAL ROLE mailcore_api",
				 err);
}

/* Loads the limits of every ancestor (as the owner). */
static int anc_load(struct mc_admin *a, struct ancestors *an,
		    struct mc_error *err)
{
	int ret = 0;

	if (an->n == 0)
		return 0;
	if (owner_mode(a, true, err) < 0)
		return -1;
	for (size_t i = 0; i < an->n && ret == 0; i++) {
		enum admin_level level = an->lv[i].level;
		int64_t id = an->lv[i].id;
		int r = admin_level_load(a, level, id, false, &an->lv[i], err);
		if (r == 0)
			mc_error_set(err, MC_ERR_NOTFOUND, "no such %s",
				     admin_level_name(level));
		ret = r > 0 ? 0 : -1;
	}
	if (owner_mode(a, false, err) < 0)
		return -1;
	return ret;
}

/* A limit above an ancestor's: MC_ERR_LIMIT naming the ancestor. */
static int above_error(struct mc_admin *a, struct mc_error *err,
		       const char *key, int64_t v,
		       const struct admin_level_usage *anc, int64_t lim)
{
	admin_limit_error(a, err, key, admin_level_name(anc->level), anc->name,
			  lim);
	mc_error_reset(err, MC_ERR_LIMIT,
		       "%s limit %lld is above the limit of %s %s (%lld)", key,
		       (long long)v, admin_level_name(anc->level), anc->name,
		       (long long)lim);
	return -1;
}

/* Each count or cap limit within every ancestor's nonzero limit. */
static int check_caps(struct mc_admin *a, enum admin_level level,
		      const struct admin_limits *l, const struct ancestors *an,
		      struct mc_error *err)
{
	for (int k = 0; k < NKEYS; k++) {
		int64_t v = key_get(&keys[k], l);
		if (k == STORAGE || v <= 0 || key_col(&keys[k], level) == NULL)
			continue;
		for (size_t i = 0; i < an->n; i++) {
			const struct admin_level_usage *u = &an->lv[i];
			int64_t lim = key_get(&keys[k], &u->lim);
			if (key_col(&keys[k], u->level) != NULL && lim > 0 &&
			    v > lim)
				return above_error(a, err, keys[k].key, v, u,
						   lim);
		}
	}
	return 0;
}

/* The storage parent's limit, locked (as the owner): 0 unlimited. */
static int lock_parent_storage(struct mc_admin *a,
			       const struct admin_level_usage *parent,
			       int64_t *lim_r, struct mc_error *err)
{
	char id[24];
	const char *params[] = {id};
	const char *sql = parent->level == ADMIN_AT_RESELLER
				  ? "SELECT lim_storage FROM resellers "
				    "WHERE id = $1 FOR UPDATE"
				  : "SELECT lim_storage FROM tenants "
				    "WHERE id = $1 FOR UPDATE";

	snprintf(id, sizeof(id), "%lld", (long long)parent->id);
	PGresult *res = admin_query(a, sql, 1, params, err);
	if (res == NULL)
		return -1;
	*lim_r = PQntuples(res) > 0 ? col_i64(res, 0) : 0;
	PQclear(res);
	return 0;
}

/* What parent has allocated to its children other than self (as the
 * owner). */
static int sibling_storage(struct mc_admin *a,
			   const struct admin_level_usage *parent,
			   enum admin_level level, int64_t self, int64_t *sum_r,
			   struct mc_error *err)
{
	char pid[24], sid[24];
	const char *params[] = {pid, sid, admin_level_name(level)};
	PGresult *res;

	snprintf(pid, sizeof(pid), "%lld", (long long)parent->id);
	snprintf(sid, sizeof(sid), "%lld", (long long)self);
	if (parent->level == ADMIN_AT_RESELLER)
		res = admin_query(
			a,
			"SELECT (SELECT coalesce(sum(lim_storage), 0) FROM "
			"tenants WHERE reseller_id = $1 AND NOT ($3 = 'tenant' "
			"AND id = $2)) + (SELECT coalesce(sum(lim_storage), 0) "
			"FROM resellers WHERE parent_id = $1 AND NOT "
			"($3 = 'reseller' AND id = $2))",
			3, params, err);
	else
		res = admin_query(
			a,
			"SELECT coalesce(sum(quota_bytes), 0) FROM domains "
			"WHERE tenant_id = $1 AND alias_for IS NULL "
			"AND id <> $2 AND $3::text IS NOT NULL",
			3, params, err);
	if (res == NULL)
		return -1;
	*sum_r = col_i64(res, 0);
	PQclear(res);
	return 0;
}

/* The storage error against the parent's limit lim (others allocated). */
static int storage_error(struct mc_admin *a, struct mc_error *err,
			 enum admin_level level,
			 const struct admin_level_usage *parent, int64_t s,
			 int64_t lim, int64_t others)
{
	const char *pl = admin_level_name(parent->level);

	admin_limit_error(a, err, "storage_bytes", pl, parent->name, lim);
	if (s == 0)
		mc_error_reset(err, MC_ERR_LIMIT,
			       "storage_bytes: %s %s has a storage limit "
			       "(%lld), so a %s under it needs a nonzero "
			       "storage_bytes",
			       pl, parent->name, (long long)lim,
			       admin_level_name(level));
	else
		mc_error_reset(err, MC_ERR_LIMIT,
			       "storage_bytes: %lld requested, but %s %s has "
			       "%lld of its %lld left to allocate",
			       (long long)s, pl, parent->name,
			       (long long)(others < lim ? lim - others : 0),
			       (long long)lim);
	return -1;
}

/* Storage is allocated: within what the parent has left, never unlimited
 * under a storage-limited parent. */
static int check_allocation(struct mc_admin *a, enum admin_level level,
			    int64_t self, const struct admin_limits *l,
			    const struct ancestors *an, struct mc_error *err)
{
	int64_t s = l->storage, lim, others = 0;

	if (level == ADMIN_AT_DEPARTMENT || an->n == 0)
		return 0;
	if (s == ADMIN_LIMIT_UNSET) {
		if (self != 0)
			return 0;
		s = 0;
	}
	const struct admin_level_usage *parent = &an->lv[0];
	if (owner_mode(a, true, err) < 0 ||
	    lock_parent_storage(a, parent, &lim, err) < 0 ||
	    (lim > 0 &&
	     sibling_storage(a, parent, level, self, &others, err) < 0) ||
	    owner_mode(a, false, err) < 0)
		return -1;
	if (lim == 0)
		return 0;
	if (s == 0 || others > lim || s > lim - others)
		return storage_error(a, err, level, parent, s, lim, others);
	return 0;
}

/* Where the descendants of a level are, with $1 the object's id. */
static const struct {
	enum admin_level level, below;
	const char *from;
} subtrees[] = {
	{ADMIN_AT_RESELLER, ADMIN_AT_RESELLER,
	 "resellers x WHERE $1::bigint = ANY (x.path) AND x.id <> $1::bigint"},
	{ADMIN_AT_RESELLER, ADMIN_AT_TENANT,
	 "tenants x WHERE $1::bigint = ANY (x.reseller_path)"},
	{ADMIN_AT_RESELLER, ADMIN_AT_DOMAIN,
	 "domains x JOIN tenants t ON t.id = x.tenant_id WHERE $1::bigint = "
	 "ANY (t.reseller_path) AND x.alias_for IS NULL"},
	{ADMIN_AT_RESELLER, ADMIN_AT_DEPARTMENT,
	 "departments x JOIN tenants t ON t.id = x.tenant_id "
	 "WHERE $1::bigint = ANY (t.reseller_path)"},
	{ADMIN_AT_TENANT, ADMIN_AT_DOMAIN,
	 "domains x WHERE x.tenant_id = $1::bigint AND x.alias_for IS NULL"},
	{ADMIN_AT_TENANT, ADMIN_AT_DEPARTMENT,
	 "departments x WHERE x.tenant_id = $1::bigint"},
	{ADMIN_AT_DOMAIN, ADMIN_AT_DEPARTMENT,
	 "departments x WHERE x.domain_id = $1::bigint"},
	{ADMIN_AT_DEPARTMENT, ADMIN_AT_DEPARTMENT,
	 "departments x WHERE x.id IN (WITH RECURSIVE down(id) AS ("
	 "SELECT id FROM departments WHERE parent_id = $1::bigint UNION "
	 "SELECT c.id FROM departments c JOIN down ON c.parent_id = down.id) "
	 "SELECT id FROM down)"},
};

/* A parent's limit below a limit in its subtree. */
static int below_error(struct mc_admin *a, struct mc_error *err,
		       const char *key, int64_t v, enum admin_level level,
		       const char *name, int64_t lim)
{
	admin_limit_error(a, err, key, admin_level_name(level), name, lim);
	mc_error_reset(err, MC_ERR_LIMIT,
		       "%s limit %lld is below the limit of %s %s under it "
		       "(%lld)",
		       key, (long long)v, admin_level_name(level), name,
		       (long long)lim);
	return -1;
}

/* The largest explicit limit of key k above v in one subtree table. */
static int subtree_max(struct mc_admin *a, size_t t, const struct limit_key *k,
		       int64_t self, int64_t v, struct mc_error *err)
{
	const char *col = key_col(k, subtrees[t].below);
	char sid[24], vbuf[24];
	const char *params[] = {sid, vbuf};
	struct mc_buf sql;

	snprintf(sid, sizeof(sid), "%lld", (long long)self);
	snprintf(vbuf, sizeof(vbuf), "%lld", (long long)v);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT x.name, x.%s FROM %s AND x.%s > $2::bigint "
		      "ORDER BY x.%s DESC, x.name LIMIT 1",
		      col, subtrees[t].from, col, col);
	PGresult *res =
		mc_pg_query_once(a->pg, mc_buf_cstr(&sql), 2, params, err);
	mc_buf_free(&sql);
	if (res == NULL)
		return -1;
	int r = 0;
	if (PQntuples(res) > 0)
		r = below_error(a, err, k->key, v, subtrees[t].below,
				PQgetvalue(res, 0, 0), col_i64(res, 1));
	PQclear(res);
	return r;
}

/* A storage limit v below the sum already allocated to the children. */
static int allocated_error(struct mc_admin *a, enum admin_level level,
			   int64_t self, int64_t v, int64_t sum,
			   struct mc_error *err)
{
	struct admin_level_usage u;

	if (admin_level_load(a, level, self, false, &u, err) < 0)
		return -1;
	admin_limit_error(a, err, "storage_bytes", admin_level_name(level),
			  u.name, sum);
	mc_error_reset(err, MC_ERR_LIMIT,
		       "storage_bytes limit %lld of %s %s is below the %lld "
		       "already allocated under it",
		       (long long)v, admin_level_name(level), u.name,
		       (long long)sum);
	return -1;
}

/* Storage of a reseller or tenant (update): at least what it allocated,
 * and no unlimited child. */
static int check_children_storage(struct mc_admin *a, enum admin_level level,
				  int64_t self, int64_t v, struct mc_error *err)
{
	char sid[24];
	const char *params[] = {sid};
	const char *sql =
		level == ADMIN_AT_RESELLER
			? "SELECT coalesce(sum(lim), 0), (array_agg(kind "
			  "ORDER BY name) FILTER (WHERE lim = 0))[1], "
			  "(array_agg(name ORDER BY name) FILTER (WHERE "
			  "lim = 0))[1] FROM (SELECT 'tenant' AS kind, name, "
			  "lim_storage AS lim FROM tenants WHERE reseller_id "
			  "= $1 UNION ALL SELECT 'reseller', name, "
			  "lim_storage FROM resellers WHERE parent_id = $1) c"
			: "SELECT coalesce(sum(quota_bytes), 0), 'domain', "
			  "min(name) FILTER (WHERE quota_bytes = 0) FROM "
			  "domains WHERE tenant_id = $1 AND alias_for IS NULL";

	snprintf(sid, sizeof(sid), "%lld", (long long)self);
	PGresult *res = admin_query(a, sql, 1, params, err);
	if (res == NULL)
		return -1;
	int64_t sum = col_i64(res, 0);
	int r = 0;
	if (!PQgetisnull(res, 0, 2)) {
		const char *kind = PQgetvalue(res, 0, 1);
		admin_limit_error(a, err, "storage_bytes", kind,
				  PQgetvalue(res, 0, 2), 0);
		mc_error_reset(err, MC_ERR_LIMIT,
			       "storage_bytes: %s %s under it has no storage "
			       "limit; give it one first",
			       kind, PQgetvalue(res, 0, 2));
		r = -1;
	} else if (sum > v) {
		r = allocated_error(a, level, self, v, sum, err);
	}
	PQclear(res);
	return r;
}

/* A domain's quota (update): at least its largest user quota. */
static int check_user_quotas(struct mc_admin *a, int64_t self, int64_t v,
			     struct mc_error *err)
{
	char sid[24], vbuf[24];
	const char *params[] = {sid, vbuf};

	snprintf(sid, sizeof(sid), "%lld", (long long)self);
	snprintf(vbuf, sizeof(vbuf), "%lld", (long long)v);
	PGresult *res = admin_query(
		a,
		"SELECT u.local_part || '@' || d.name, u.quota_bytes FROM "
		"users u JOIN domains d ON d.tenant_id = u.tenant_id AND "
		"d.id = u.domain_id WHERE d.id = $1 AND u.quota_bytes > "
		"$2::bigint ORDER BY u.quota_bytes DESC LIMIT 1",
		2, params, err);
	if (res == NULL)
		return -1;
	int r = 0;
	if (PQntuples(res) > 0)
		r = below_error(a, err, "storage_bytes", v, ADMIN_AT_USER,
				PQgetvalue(res, 0, 0), col_i64(res, 1));
	PQclear(res);
	return r;
}

/* The subtree's limits within the new ones (updates only). */
static int check_subtree(struct mc_admin *a, enum admin_level level,
			 int64_t self, const struct admin_limits *l,
			 struct mc_error *err)
{
	for (int k = 0; k < NKEYS; k++) {
		int64_t v = key_get(&keys[k], l);
		if (v <= 0 || key_col(&keys[k], level) == NULL)
			continue;
		if (k == STORAGE) {
			int r = level == ADMIN_AT_DOMAIN
					? check_user_quotas(a, self, v, err)
					: check_children_storage(a, level, self,
								 v, err);
			if (r < 0)
				return -1;
			continue;
		}
		for (size_t t = 0; t < sizeof(subtrees) / sizeof(*subtrees);
		     t++) {
			if (subtrees[t].level == level &&
			    key_col(&keys[k], subtrees[t].below) != NULL &&
			    subtree_max(a, t, &keys[k], self, v, err) < 0)
				return -1;
		}
	}
	return 0;
}

int admin_limits_check(struct mc_admin *a, const struct admin_place *p,
		       enum admin_level level, int64_t self,
		       const struct admin_limits *l, struct mc_error *err)
{
	struct ancestors *an = mc_calloc(1, sizeof(*an));
	int r = -1;

	anc_collect(p, level, self, an);
	if (anc_load(a, an, err) == 0 &&
	    check_caps(a, level, l, an, err) == 0 &&
	    check_allocation(a, level, self, l, an, err) == 0 &&
	    (self == 0 || check_subtree(a, level, self, l, err) == 0))
		r = 0;
	free(an);
	return r;
}

int admin_limits_check_user_quota(struct mc_admin *a,
				  const struct admin_place *p,
				  int64_t quota_bytes, struct mc_error *err)
{
	struct admin_level_usage u;

	if (quota_bytes <= 0)
		return 0;
	int r = admin_level_load(a, ADMIN_AT_DOMAIN, p->domain_id, false, &u,
				 err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain %s", p->domain);
	if (r <= 0)
		return -1;
	if (u.lim.storage == 0 || quota_bytes <= u.lim.storage)
		return 0;
	admin_limit_error(a, err, "storage_bytes", "domain", u.name,
			  u.lim.storage);
	mc_error_reset(err, MC_ERR_LIMIT,
		       "quota_bytes %lld is above the quota of domain %s "
		       "(%lld)",
		       (long long)quota_bytes, u.name,
		       (long long)u.lim.storage);
	return -1;
}

json_t *admin_list_run(struct mc_admin *a, const struct admin_list *l,
		       struct mc_buf *sql, const char **params, int n,
		       const char *id_expr, admin_row_fn *row,
		       struct mc_error *err)
{
	admin_list_sql(l, id_expr, sql, params, &n);
	PGresult *res =
		mc_pg_query_once(a->pg, mc_buf_cstr(sql), n, params, err);
	if (res == NULL)
		return NULL;
	int keep = admin_page_keep(l, res);
	json_t *items = json_array();
	for (int i = 0; i < keep; i++) {
		json_t *item = row(a, res, i, err);
		if (item == NULL) {
			json_decref(items);
			PQclear(res);
			return NULL;
		}
		json_array_append_new(items, item);
	}
	json_t *page = admin_page_end(l, res, items, -2, -1);
	PQclear(res);
	return page;
}

int admin_read_named(struct mc_admin *a, const json_t *body, const char *name,
		     const char *parent_field, const char **parent_r,
		     bool *top_r, struct mc_error *err)
{
	if (!mc_tenants_valid_name(name)) {
		admin_field_error(a, err, "name",
				  "use 1-63 lower-case letters, digits, '.', "
				  "'_' or '-'");
		return -1;
	}
	*top_r = json_is_null(json_object_get(body, parent_field));
	if (!*top_r && admin_get_string(a, body, parent_field, 63, false, false,
					parent_r, err) < 0)
		return -1;
	return 0;
}

int admin_check_status(struct mc_admin *a, const char *status,
		       struct mc_error *err)
{
	if (status == NULL || strcmp(status, "active") == 0 ||
	    strcmp(status, "suspended") == 0)
		return 0;
	admin_field_error(a, err, "status", "must be active or suspended");
	return -1;
}

/* The name of the actor's own reseller into buf (64 bytes; "" if none). */
static int own_reseller_name(struct mc_admin *a, char *buf,
			     struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(a->actor.reseller_id, idbuf)};
	PGresult *res = admin_query(
		a, "SELECT name FROM resellers WHERE id = $1", 1, params, err);

	if (res == NULL)
		return -1;
	buf[0] = '\0';
	if (PQntuples(res) > 0)
		snprintf(buf, 64, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int admin_parent_reseller(struct mc_admin *a, const char *name, bool top,
			  const char *denied, struct admin_place *p,
			  struct mc_error *err)
{
	char own[64];

	memset(p, 0, sizeof(*p));
	if (a->actor.role == MC_ROLE_RESELLER && top) {
		mc_error_set(err, MC_ERR_DENIED, "%s", denied);
		return -1;
	}
	if (name == NULL && a->actor.role == MC_ROLE_RESELLER) {
		if (own_reseller_name(a, own, err) < 0)
			return -1;
		name = own;
	}
	return name == NULL ? 0 : admin_find_reseller(a, name, p, err);
}
