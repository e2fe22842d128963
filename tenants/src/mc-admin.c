/* mc-admin: the context of administrative operations: roles and actors,
 * the scope check, finding objects inside the actor's subtree, the
 * transaction wrapper that takes on the RLS role and scope, limit errors,
 * and the audit record every change writes. */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

static const char *const role_names[] = {
	[MC_ROLE_USER] = "user",
	[MC_ROLE_ASSISTANT] = "assistant",
	[MC_ROLE_DEPARTMENT] = "department",
	[MC_ROLE_DOMAIN] = "domain",
	[MC_ROLE_TENANT] = "tenant",
	[MC_ROLE_RESELLER] = "reseller",
	[MC_ROLE_PROVIDER] = "provider",
};

const char *mc_role_name(enum mc_role role)
{
	if ((unsigned)role > MC_ROLE_PROVIDER)
		return "unknown";
	return role_names[role];
}

bool mc_role_parse(const char *name, enum mc_role *role_r)
{
	for (unsigned i = 0; name != NULL && i <= MC_ROLE_PROVIDER; i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*role_r = (enum mc_role)i;
			return true;
		}
	}
	return false;
}

void mc_actor_mailctl(struct mc_actor *actor)
{
	struct passwd *pw = getpwuid(getuid());

	memset(actor, 0, sizeof(*actor));
	actor->role = MC_ROLE_PROVIDER;
	snprintf(actor->name, sizeof(actor->name), "mailctl (%s)",
		 pw != NULL ? pw->pw_name : "?");
}

struct mc_admin *mc_admin_create(const struct mc_admin_settings *set)
{
	struct mc_admin *a = mc_calloc(1, sizeof(*a));

	a->pg = set->pg;
	a->redis = set->redis;
	a->cfg = set->cfg;
	a->actor = *set->actor;
	return a;
}

void mc_admin_destroy(struct mc_admin **admin)
{
	if (admin == NULL || *admin == NULL)
		return;
	json_decref((*admin)->problem);
	free(*admin);
	*admin = NULL;
}

const struct mc_actor *mc_admin_actor(const struct mc_admin *admin)
{
	return &admin->actor;
}

const json_t *mc_admin_problem(const struct mc_admin *admin)
{
	return admin->problem;
}

/* Is id one of the n ids? */
static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

bool admin_in_scope(const struct mc_admin *a, const struct admin_place *p)
{
	const struct mc_actor *ac = &a->actor;

	switch (ac->role) {
	case MC_ROLE_PROVIDER:
		return true;
	case MC_ROLE_RESELLER:
		return has_id(p->resellers, p->nresellers, ac->reseller_id);
	case MC_ROLE_TENANT:
		return p->level >= ADMIN_AT_TENANT &&
		       p->tenant_id == ac->tenant_id;
	case MC_ROLE_DOMAIN:
	case MC_ROLE_ASSISTANT:
		return p->level >= ADMIN_AT_DOMAIN &&
		       p->domain_id == ac->domain_id;
	case MC_ROLE_DEPARTMENT:
		return p->level >= ADMIN_AT_DEPARTMENT &&
		       p->domain_id == ac->domain_id &&
		       has_id(p->departments, p->ndepartments,
			      ac->department_id);
	case MC_ROLE_USER:
		return p->level == ADMIN_AT_USER && p->user_id == ac->user_id;
	}
	return false;
}

/* Is p above the actor's root (its tenant or domain, from below)? */
static bool is_ancestor(const struct mc_admin *a, const struct admin_place *p)
{
	const struct mc_actor *ac = &a->actor;

	if (p->level == ADMIN_AT_TENANT)
		return ac->role < MC_ROLE_TENANT &&
		       p->tenant_id == ac->tenant_id;
	if (p->level == ADMIN_AT_DOMAIN)
		return ac->role < MC_ROLE_DOMAIN &&
		       p->domain_id == ac->domain_id;
	return false;
}

/* The scope verdict of a found object: 0 or -1 NOTFOUND. */
static int scope_check(struct mc_admin *a, struct admin_place *p,
		       const char *what, const char *name, struct mc_error *err)
{
	p->ancestor = false;
	if (admin_in_scope(a, p))
		return 0;
	if (is_ancestor(a, p)) {
		p->ancestor = true;
		return 0;
	}
	mc_error_set(err, MC_ERR_NOTFOUND, "no %s %s", what, name);
	return -1;
}

int admin_require(struct mc_admin *a, enum mc_role min, const char *what,
		  struct mc_error *err)
{
	enum mc_role r = a->actor.role;
	bool ok = r >= min;

	/* assistant and department are side by side below domain */
	if (min == MC_ROLE_ASSISTANT && r == MC_ROLE_DEPARTMENT)
		ok = false;
	if (min == MC_ROLE_DEPARTMENT && r == MC_ROLE_ASSISTANT)
		ok = false;
	if (ok)
		return 0;
	mc_error_set(err, MC_ERR_DENIED, "a %s admin may not %s",
		     mc_role_name(r), what);
	if (r == MC_ROLE_USER)
		mc_error_reset(err, MC_ERR_DENIED, "a user may not %s", what);
	return -1;
}

int admin_require_inside(struct mc_admin *a, const struct admin_place *p,
			 const char *what, struct mc_error *err)
{
	if (!p->ancestor)
		return 0;
	mc_error_set(err, MC_ERR_DENIED, "this %s role may not %s",
		     mc_role_name(a->actor.role), what);
	return -1;
}

PGresult *admin_query(struct mc_admin *a, const char *sql, int n,
		      const char *const *params, struct mc_error *err)
{
	return mc_pg_query(a->pg, sql, n, params, err);
}

long admin_exec(struct mc_admin *a, const char *sql, int n,
		const char *const *params, struct mc_error *err)
{
	return mc_pg_exec(a->pg, sql, n, params, err);
}

size_t admin_parse_ids(const char *text, int64_t *ids, size_t max)
{
	size_t n = 0;
	const char *s = text != NULL && *text == '{' ? text + 1 : "";

	while (*s != '\0' && *s != '}' && n < max) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		ids[n++] = v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Runs a finder query; 1 with a row, 0 NOTFOUND set, -1 error. */
static int find_row(struct mc_admin *a, const char *sql, int n,
		    const char *const *params, PGresult **res_r,
		    const char *what, const char *name, struct mc_error *err)
{
	PGresult *res = admin_query(a, sql, n, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no %s %s", what, name);
		return 0;
	}
	*res_r = res;
	return 1;
}

int admin_find_reseller(struct mc_admin *a, const char *name,
			struct admin_place *p, struct mc_error *err)
{
	const char *params[] = {name};
	PGresult *res = NULL;

	memset(p, 0, sizeof(*p));
	if (find_row(a, "SELECT id, path::text FROM resellers WHERE name = $1",
		     1, params, &res, "reseller", name, err) <= 0)
		return -1;
	p->level = ADMIN_AT_RESELLER;
	p->reseller_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 1), p->resellers,
					ADMIN_PATH_MAX);
	snprintf(p->reseller, sizeof(p->reseller), "%s", name);
	PQclear(res);
	return scope_check(a, p, "reseller", name, err);
}

int admin_find_tenant(struct mc_admin *a, const char *name,
		      struct admin_place *p, struct mc_error *err)
{
	const char *params[] = {name};
	PGresult *res = NULL;

	memset(p, 0, sizeof(*p));
	if (find_row(a,
		     "SELECT t.id, t.reseller_path::text, "
		     "coalesce(r.name, '') FROM tenants t "
		     "LEFT JOIN resellers r ON r.id = t.reseller_id "
		     "WHERE t.name = $1",
		     1, params, &res, "tenant", name, err) <= 0)
		return -1;
	p->level = ADMIN_AT_TENANT;
	p->tenant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 1), p->resellers,
					ADMIN_PATH_MAX);
	snprintf(p->reseller, sizeof(p->reseller), "%s", PQgetvalue(res, 0, 2));
	snprintf(p->tenant, sizeof(p->tenant), "%s", name);
	PQclear(res);
	return scope_check(a, p, "tenant", name, err);
}

int admin_find_domain(struct mc_admin *a, const char *name,
		      struct admin_place *p, struct mc_error *err)
{
	char lower[MC_DOMAIN_MAX + 1];
	const char *params[] = {lower};
	PGresult *res = NULL;

	memset(p, 0, sizeof(*p));
	snprintf(lower, sizeof(lower), "%s", name);
	mc_str_lower(lower);
	if (find_row(a,
		     "SELECT d.tenant_id, d.id, t.reseller_path::text, t.name "
		     "FROM domains d JOIN tenants t ON t.id = d.tenant_id "
		     "WHERE d.name = $1 AND d.alias_for IS NULL",
		     1, params, &res, "domain", name, err) <= 0)
		return -1;
	p->level = ADMIN_AT_DOMAIN;
	p->tenant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	p->domain_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 2), p->resellers,
					ADMIN_PATH_MAX);
	snprintf(p->tenant, sizeof(p->tenant), "%s", PQgetvalue(res, 0, 3));
	snprintf(p->domain, sizeof(p->domain), "%s", lower);
	PQclear(res);
	return scope_check(a, p, "domain", lower, err);
}

int admin_department_chain(struct mc_admin *a, int64_t id,
			   struct admin_place *p, struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {idbuf};

	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	PGresult *res = admin_query(
		a,
		"WITH RECURSIVE up(id, parent_id, depth) AS ("
		"SELECT id, parent_id, 0 FROM departments WHERE id = $1 "
		"UNION ALL SELECT d.id, d.parent_id, up.depth + 1 "
		"FROM departments d JOIN up ON d.id = up.parent_id "
		"WHERE up.depth < 64) "
		"SELECT id FROM up ORDER BY depth DESC",
		1, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	p->ndepartments = 0;
	for (int i = 0; i < n && i < ADMIN_PATH_MAX; i++)
		p->departments[p->ndepartments++] =
			strtoll(PQgetvalue(res, i, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Parses a positive decimal id; false for anything else. */
static bool parse_id(const char *s, int64_t *id_r)
{
	return s != NULL && *s >= '1' && *s <= '9' && mc_str_to_i64(s, id_r) &&
	       *id_r > 0;
}

int admin_find_department(struct mc_admin *a, const char *id,
			  struct admin_place *p, struct mc_error *err)
{
	char tid[24], did[24];
	const char *params[] = {tid, did, id};
	int64_t dept;
	PGresult *res = NULL;

	if (!parse_id(id, &dept)) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no department %s", id);
		return -1;
	}
	snprintf(tid, sizeof(tid), "%lld", (long long)p->tenant_id);
	snprintf(did, sizeof(did), "%lld", (long long)p->domain_id);
	if (find_row(a,
		     "SELECT id FROM departments WHERE tenant_id = $1 "
		     "AND domain_id = $2 AND id = $3",
		     3, params, &res, "department", id, err) <= 0)
		return -1;
	PQclear(res);
	if (admin_department_chain(a, dept, p, err) < 0)
		return -1;
	p->level = ADMIN_AT_DEPARTMENT;
	return scope_check(a, p, "department", id, err);
}

int admin_find_user(struct mc_admin *a, const char *local,
		    struct admin_place *p, struct mc_error *err)
{
	char tid[24], did[24], lower[MC_LOCAL_PART_MAX + 1];
	const char *params[] = {tid, did, lower};
	char address[MC_ADDRESS_MAX + 1];
	PGresult *res = NULL;

	snprintf(lower, sizeof(lower), "%s", local);
	mc_str_lower(lower);
	snprintf(address, sizeof(address), "%s@%s", lower, p->domain);
	snprintf(tid, sizeof(tid), "%lld", (long long)p->tenant_id);
	snprintf(did, sizeof(did), "%lld", (long long)p->domain_id);
	if (strlen(local) > MC_LOCAL_PART_MAX) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no user %s", address);
		return -1;
	}
	if (find_row(a,
		     "SELECT id, coalesce(department_id, 0) FROM users "
		     "WHERE tenant_id = $1 AND domain_id = $2 "
		     "AND local_part = $3",
		     3, params, &res, "user", address, err) <= 0)
		return -1;
	p->level = ADMIN_AT_USER;
	p->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	int64_t dept = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	snprintf(p->local, sizeof(p->local), "%s", lower);
	p->ndepartments = 0;
	if (dept != 0 && admin_department_chain(a, dept, p, err) < 0)
		return -1;
	return scope_check(a, p, "user", address, err);
}

/* The RLS scope of the actor: "provider", "reseller:<id>", "tenant:<id>". */
static void scope_string(const struct mc_actor *ac, char *buf, size_t size)
{
	if (ac->role == MC_ROLE_PROVIDER)
		snprintf(buf, size, "provider");
	else if (ac->role == MC_ROLE_RESELLER)
		snprintf(buf, size, "reseller:%lld",
			 (long long)ac->reseller_id);
	else
		snprintf(buf, size, "tenant:%lld", (long long)ac->tenant_id);
}

struct txn {
	struct mc_admin *a;
	admin_txn_fn *fn;
	void *ctx;
};

/* One attempt: take on the API role and scope, then run the operation. */
static int txn_body(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct txn *t = ctx;
	char scope[64];
	const char *params[] = {scope};

	json_decref(t->a->problem);
	t->a->problem = NULL;
	t->a->dirty = false;
	scope_string(&t->a->actor, scope, sizeof(scope));
	if (mc_pg_exec_script(pg, "SET LOCAL ROLE mailcore_api", err) < 0)
		return -1;
	if (mc_pg_exec(pg, "SELECT set_config('mailcore.scope', $1, true)", 1,
		       params, err) < 0)
		return -1;
	return t->fn(t->a, t->ctx, err);
}

int admin_limit_error(struct mc_admin *a, struct mc_error *err,
		      const char *limit, const char *level, const char *name,
		      int64_t max)
{
	json_decref(a->problem);
	a->problem = json_pack("{sssssssI}", "limit", limit, "level", level,
			       "name", name, "max", (json_int_t)max);
	mc_error_reset(err, MC_ERR_LIMIT, "%s limit of %s %s reached (%lld)",
		       limit, level, name, (long long)max);
	return -1;
}

/* A limit error from the database carries its JSON detail as message. */
static void translate_limit(struct mc_admin *a, struct mc_error *err)
{
	json_t *d = json_loads(err->msg, 0, NULL);
	const char *limit = "?", *level = "?", *name = "?";
	json_int_t max = 0;

	if (d == NULL ||
	    json_unpack(d, "{ss,ss,ss,sI}", "limit", &limit, "level", &level,
			"name", &name, "max", &max) < 0) {
		json_decref(d);
		return;
	}
	admin_limit_error(a, err, limit, level, name, max);
	json_decref(d);
}

int admin_txn(struct mc_admin *a, admin_txn_fn *fn, void *ctx,
	      struct mc_error *err)
{
	struct txn t = {a, fn, ctx};
	int ret = mc_pg_transaction(a->pg, txn_body, &t, err);

	if (ret < 0 && err != NULL && err->cls == MC_ERR_LIMIT &&
	    err->msg[0] == '{')
		translate_limit(a, err);
	if (ret >= 0 && a->dirty && a->redis != NULL) {
		struct mc_error ierr = {0};
		(void)mc_directory_invalidate(a->redis, &ierr);
	}
	return ret;
}

/* A place's reseller chain as a PostgreSQL array literal. */
static void path_literal(const struct admin_place *p, char *buf, size_t size)
{
	size_t off = (size_t)snprintf(buf, size, "{");
	for (size_t i = 0; i < p->nresellers && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%lld",
					i > 0 ? "," : "",
					(long long)p->resellers[i]);
	if (off < size)
		snprintf(buf + off, size - off, "}");
}

/* An id as text, "" for 0 (NULL in the insert). */
static void id_text(int64_t id, char *buf, size_t size)
{
	if (id == 0)
		buf[0] = '\0';
	else
		snprintf(buf, size, "%lld", (long long)id);
}

int admin_audit(struct mc_admin *a, const struct admin_place *p,
		const char *action, const char *target, const json_t *changes,
		struct mc_error *err)
{
	char path[ADMIN_PATH_MAX * 24], tid[24], did[24], dept[24];
	char *json = changes != NULL ? json_dumps(changes, JSON_COMPACT)
				     : mc_strdup("{}");
	const struct mc_actor *ac = &a->actor;

	path_literal(p, path, sizeof(path));
	id_text(p->tenant_id, tid, sizeof(tid));
	id_text(p->domain_id, did, sizeof(did));
	id_text(p->ndepartments > 0 ? p->departments[p->ndepartments - 1] : 0,
		dept, sizeof(dept));
	const char *params[] = {
		path,	       tid,	      did,
		dept,	       ac->name,      mc_role_name(ac->role),
		action,	       target,	      json,
		ac->client_ip, ac->request_id};
	long n = admin_exec(
		a,
		"INSERT INTO audit_log (reseller_path, tenant_id, domain_id, "
		"department_id, actor, actor_role, action, target, changes, "
		"client_ip, request_id) VALUES ($1::bigint[], "
		"nullif($2, '')::bigint, nullif($3, '')::bigint, "
		"nullif($4, '')::bigint, $5, $6, $7, $8, $9::jsonb, "
		"nullif($10, '')::inet, nullif($11, ''))",
		11, params, err);
	free(json);
	return n < 0 ? -1 : 0;
}

int admin_audit_new(struct mc_admin *a, const struct admin_place *p,
		    const char *action, const char *target, json_t *changes,
		    struct mc_error *err)
{
	int r = admin_audit(a, p, action, target, changes, err);

	json_decref(changes);
	return r;
}

char *admin_id_text(int64_t id, char *buf)
{
	snprintf(buf, 24, "%lld", (long long)id);
	return buf;
}

int64_t admin_col_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

json_t *admin_col_json(const PGresult *res, int row, int col)
{
	json_t *s = PQgetisnull(res, row, col)
			    ? NULL
			    : json_string(PQgetvalue(res, row, col));

	return s != NULL ? s : json_null();
}

const char *admin_arg(const struct mc_admin_call *call, size_t i)
{
	return call != NULL && i < call->nargs && call->args[i] != NULL
		       ? call->args[i]
		       : "";
}

int admin_arg_id(const struct mc_admin_call *call, size_t i, const char *what,
		 int64_t *id_r, struct mc_error *err)
{
	if (parse_id(admin_arg(call, i), id_r))
		return 0;
	mc_error_set(err, MC_ERR_NOTFOUND, "no %s %s", what,
		     admin_arg(call, i));
	return -1;
}

int admin_need_args(const struct mc_admin_call *call, size_t n,
		    struct mc_error *err)
{
	for (size_t i = 0; call != NULL && i < n && i < call->nargs; i++) {
		if (call->args[i] == NULL)
			break;
		if (i + 1 == n)
			return 0;
	}
	mc_error_set(err, MC_ERR_INVALID, "missing path parameter");
	return -1;
}

void admin_op_begin(struct mc_admin *a, json_t **out_r)
{
	*out_r = NULL;
	json_decref(a->problem);
	a->problem = NULL;
}

int admin_exists_error(struct mc_error *err, const char *what, const char *name)
{
	if (err != NULL && err->cls == MC_ERR_EXISTS)
		mc_error_reset(err, MC_ERR_EXISTS, "%s %s already exists", what,
			       name);
	return -1;
}

struct run {
	admin_txn_fn *fn;
	void *ctx;
	json_t **out;
};

/* One attempt of admin_run: no output left from an earlier one. */
static int run_body(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct run *r = ctx;

	json_decref(*r->out);
	*r->out = NULL;
	return r->fn(a, r->ctx, err);
}

int admin_run(struct mc_admin *a, admin_txn_fn *fn, void *ctx, json_t **ctx_out,
	      json_t **out_r, struct mc_error *err)
{
	struct run r = {fn, ctx, ctx_out};
	int ret = admin_txn(a, run_body, &r, err);

	if (ret < 0) {
		json_decref(*ctx_out);
		*ctx_out = NULL;
	}
	if (out_r != NULL)
		*out_r = *ctx_out;
	return ret < 0 ? -1 : 0;
}

int admin_out(json_t **out_r, json_t *o)
{
	*out_r = o;
	return o != NULL ? 0 : -1;
}

int admin_lock_row(struct mc_admin *a, const struct mc_admin_call *call,
		   const char *sql, int n, const char *const *params, int col,
		   struct mc_error *err, const char *fmt, ...)
{
	PGresult *res = admin_query(a, sql, n, params, err);
	char msg[sizeof(err->msg)];
	va_list ap;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		mc_error_set(err, MC_ERR_NOTFOUND, "%s", msg);
		return -1;
	}
	int64_t version = admin_col_i64(res, 0, col);
	PQclear(res);
	return admin_check_version(call, version, err);
}

int admin_lock_version(struct mc_admin *a, const char *sql, int64_t id,
		       const struct mc_admin_call *call, const char *what,
		       struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(id, idbuf)};

	return admin_lock_row(a, call, sql, 1, params, 0, err, "no %s", what);
}
