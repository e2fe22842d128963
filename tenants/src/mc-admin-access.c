/* mc-admin-access: role bindings (who holds which role over which
 * subtree): binding.list/.create/.get/.delete, the rule that an actor
 * grants only its own role or weaker ones inside its subtree, and the
 * actor of a binding for web sessions (mc_admin_binding_actor). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"
#include "mc-admin-token.h"

/* Columns of a binding: its JSON members, then its place. */
/* clang-format off */
#define BINDING_COLS                                                           \
	"b.id, " MC_ADMIN_BINDING_SCOPE_COLS ", "                              \
	"coalesce(hu.local_part || '@' || hd.name, ''), b.label, "             \
	"b.created_by, " ADMIN_TS("b.created_at") ", "                         \
	"coalesce(r.path, t.reseller_path, '{}')::text, "                      \
	"coalesce(b.tenant_id, 0), coalesce(b.domain_id, 0), "                 \
	"coalesce(CASE b.role WHEN 'user' THEN hu.department_id "              \
	"ELSE b.department_id END, 0), coalesce(b.holder_id, 0), "             \
	"coalesce(b.reseller_id, 0)"
/* clang-format on */
#define BINDING_FROM                                                           \
	" FROM role_bindings b" MC_ADMIN_BINDING_JOINS                         \
	" LEFT JOIN users hu ON hu.tenant_id = b.holder_tenant "               \
	"AND hu.id = b.holder_id LEFT JOIN domains hd ON "                     \
	"hd.tenant_id = hu.tenant_id AND hd.id = hu.domain_id"
#define BINDING_SELECT                                                         \
	"SELECT " BINDING_COLS BINDING_FROM " WHERE " MC_ADMIN_BINDING_VISIBLE
enum {
	COL_ID = 0,
	COL_SCOPE = 1, /* five columns */
	COL_HOLDER = 6,
	COL_LABEL,
	COL_CREATED_BY,
	COL_CREATED_AT,
	COL_PATH,
	COL_TENANT,
	COL_DOMAIN,
	COL_DEPARTMENT,
	COL_HOLDER_ID,
	COL_RESELLER,
	COL_SORT, /* lists only */
};

/* A binding's request members, parsed. */
struct binding_req {
	enum mc_role role;
	const char *reseller, *tenant, *domain;
	char department[24];
	const char *holder, *label;
};

void mc_admin_binding_params(const struct mc_actor *ac,
			     struct mc_admin_binding_params *bp)
{
	const int64_t ids[5] = {ac->reseller_id, ac->tenant_id, ac->domain_id,
				ac->department_id, ac->binding_id};

	bp->values[0] = mc_role_name(ac->role);
	for (int i = 0; i < 5; i++) {
		admin_id_text(ids[i], bp->ids[i]);
		bp->values[i + 1] = bp->ids[i];
	}
}

json_t *mc_admin_binding_scope(const PGresult *res, int row, int col,
			       enum mc_role *role_r)
{
	enum mc_role role = MC_ROLE_USER;
	json_t *scope = json_object();

	(void)mc_role_parse(PQgetvalue(res, row, col), &role);
	if (role_r != NULL)
		*role_r = role;
	if (role == MC_ROLE_RESELLER)
		json_object_set_new(scope, "reseller",
				    json_string(PQgetvalue(res, row, col + 1)));
	else if (role == MC_ROLE_TENANT)
		json_object_set_new(scope, "tenant",
				    json_string(PQgetvalue(res, row, col + 2)));
	else if (role != MC_ROLE_PROVIDER)
		json_object_set_new(scope, "domain",
				    json_string(PQgetvalue(res, row, col + 3)));
	if (role == MC_ROLE_DEPARTMENT)
		json_object_set_new(
			scope, "department",
			json_integer(admin_col_i64(res, row, col + 4)));
	return scope;
}

bool mc_admin_may_grant(enum mc_role actor, enum mc_role role)
{
	if (actor == MC_ROLE_ASSISTANT || actor == MC_ROLE_DEPARTMENT ||
	    actor == MC_ROLE_USER)
		return false;
	return role <= actor;
}

/* A binding row as the API shows it. */
static json_t *binding_json(const PGresult *res, int row, const void *unused)
{
	(void)unused;
	const char *holder = PQgetvalue(res, row, COL_HOLDER);

	return json_pack("{sIsssoss?ssssss}", "id",
			 (json_int_t)admin_col_i64(res, row, COL_ID), "role",
			 PQgetvalue(res, row, COL_SCOPE), "scope",
			 mc_admin_binding_scope(res, row, COL_SCOPE, NULL),
			 "holder", *holder != '\0' ? holder : NULL, "label",
			 PQgetvalue(res, row, COL_LABEL), "created_by",
			 PQgetvalue(res, row, COL_CREATED_BY), "created_at",
			 PQgetvalue(res, row, COL_CREATED_AT));
}

/* Parses a PostgreSQL bigint array "{1,2}" into the place's resellers. */
static void parse_path(const char *text, struct admin_place *p)
{
	const char *s = *text == '{' ? text + 1 : "";

	p->nresellers = 0;
	while (*s != '\0' && *s != '}' && p->nresellers < ADMIN_PATH_MAX) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		p->resellers[p->nresellers++] = v;
		s = *end == ',' ? end + 1 : end;
	}
}

/* The level a binding of role sits at. */
static enum admin_level role_level(enum mc_role role)
{
	switch (role) {
	case MC_ROLE_PROVIDER:
		return ADMIN_AT_PROVIDER;
	case MC_ROLE_RESELLER:
		return ADMIN_AT_RESELLER;
	case MC_ROLE_TENANT:
		return ADMIN_AT_TENANT;
	case MC_ROLE_DEPARTMENT:
		return ADMIN_AT_DEPARTMENT;
	case MC_ROLE_USER:
		return ADMIN_AT_USER;
	default:
		return ADMIN_AT_DOMAIN;
	}
}

/* The place of a binding row (for its audit records). */
static int row_place(struct mc_admin *a, const PGresult *res, int row,
		     struct admin_place *p, struct mc_error *err)
{
	enum mc_role role = MC_ROLE_USER;
	int64_t dept = admin_col_i64(res, row, COL_DEPARTMENT);

	memset(p, 0, sizeof(*p));
	(void)mc_role_parse(PQgetvalue(res, row, COL_SCOPE), &role);
	p->level = role_level(role);
	parse_path(PQgetvalue(res, row, COL_PATH), p);
	p->reseller_id = admin_col_i64(res, row, COL_RESELLER);
	p->tenant_id = admin_col_i64(res, row, COL_TENANT);
	p->domain_id = admin_col_i64(res, row, COL_DOMAIN);
	if (role == MC_ROLE_USER)
		p->user_id = admin_col_i64(res, row, COL_HOLDER_ID);
	if (dept != 0)
		return admin_department_chain(a, dept, p, err);
	return 0;
}

/* The row of binding id if the actor sees it; NULL with NOTFOUND. */
static PGresult *binding_row(struct mc_admin *a, int64_t id,
			     struct mc_error *err)
{
	struct mc_admin_binding_params bp;
	char idbuf[24];
	const char *params[MC_ADMIN_BINDING_NPARAMS + 1];

	mc_admin_binding_params(&a->actor, &bp);
	memcpy(params, bp.values, sizeof(bp.values));
	admin_id_text(id, idbuf);
	params[MC_ADMIN_BINDING_NPARAMS] = idbuf;
	PGresult *res = admin_query(a, BINDING_SELECT " AND b.id = $7::bigint",
				    MC_ADMIN_BINDING_NPARAMS + 1, params, err);
	if (res != NULL && PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no role binding %lld",
			     (long long)id);
		return NULL;
	}
	return res;
}

int mc_admin_binding_lookup(struct mc_admin *a, int64_t id,
			    enum mc_role *role_r, json_t **scope_r,
			    struct mc_error *err)
{
	PGresult *res = binding_row(a, id, err);

	if (res == NULL)
		return -1;
	*scope_r = mc_admin_binding_scope(res, 0, COL_SCOPE, role_r);
	PQclear(res);
	return 0;
}

int mc_admin_binding_audit(struct mc_admin *a, int64_t id, const char *action,
			   const char *target, const json_t *changes,
			   struct mc_error *err)
{
	struct admin_place p;
	PGresult *res = binding_row(a, id, err);
	int ret = -1;

	if (res == NULL)
		return -1;
	if (row_place(a, res, 0, &p, err) == 0)
		ret = admin_audit(a, &p, action, target, changes, err);
	PQclear(res);
	return ret;
}

/* The scope members each role takes. */
static const char *const *scope_keys(enum mc_role role)
{
	static const char *const none[] = {NULL};
	static const char *const reseller[] = {"reseller", NULL};
	static const char *const tenant[] = {"tenant", NULL};
	static const char *const domain[] = {"domain", NULL};
	static const char *const dept[] = {"domain", "department", NULL};

	switch (role) {
	case MC_ROLE_PROVIDER:
		return none;
	case MC_ROLE_RESELLER:
		return reseller;
	case MC_ROLE_TENANT:
		return tenant;
	case MC_ROLE_DEPARTMENT:
		return dept;
	default:
		return domain;
	}
}

/* A scope member of a role's binding: 1 set, 0 absent (required ->
 * error), -1. */
static int scope_member(struct mc_admin *a, const json_t *scope,
			enum mc_role role, const char *key, bool required,
			const char **value_r, struct mc_error *err)
{
	size_t max = strcmp(key, "domain") == 0 ? MC_DOMAIN_MAX : 63;
	const json_t *v = scope != NULL ? json_object_get(scope, key) : NULL;

	*value_r = NULL;
	if (v == NULL && !required)
		return 0;
	if (v == NULL || !json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > max) {
		admin_field_error(a, err, "scope",
				  "a %s binding needs \"%s\" (a name)",
				  mc_role_name(role), key);
		return -1;
	}
	*value_r = json_string_value(v);
	return 1;
}

/* Refuses scope members that a role's binding does not take. */
static int scope_unknown(struct mc_admin *a, const json_t *scope,
			 enum mc_role role, struct mc_error *err)
{
	const char *const *keys = scope_keys(role);
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)scope, key, value)
	{
		size_t i = 0;
		while (keys[i] != NULL && strcmp(keys[i], key) != 0)
			i++;
		if (keys[i] == NULL) {
			admin_field_error(a, err, "scope",
					  "a %s binding takes no \"%s\"",
					  mc_role_name(role), key);
			return -1;
		}
	}
	return 0;
}

/* The scope object of the request for req->role. */
static int parse_scope(struct mc_admin *a, const json_t *body,
		       struct binding_req *req, struct mc_error *err)
{
	const json_t *scope = json_object_get(body, "scope");
	bool need = req->role != MC_ROLE_PROVIDER && req->role != MC_ROLE_USER;
	int64_t dept;

	if (scope != NULL && json_is_null(scope))
		scope = NULL;
	if ((scope == NULL && need) ||
	    (scope != NULL && !json_is_object(scope))) {
		admin_field_error(a, err, "scope",
				  "a %s binding needs a scope object",
				  mc_role_name(req->role));
		return -1;
	}
	if (scope_unknown(a, scope, req->role, err) < 0)
		return -1;
	enum mc_role r = req->role;
	bool in_domain = r > MC_ROLE_USER && r < MC_ROLE_TENANT;
	if (scope_member(a, scope, r, "reseller", r == MC_ROLE_RESELLER,
			 &req->reseller, err) < 0 ||
	    scope_member(a, scope, r, "tenant", r == MC_ROLE_TENANT,
			 &req->tenant, err) < 0 ||
	    scope_member(a, scope, r, "domain", in_domain, &req->domain, err) <
		    0)
		return -1;
	if (req->role != MC_ROLE_DEPARTMENT)
		return 0;
	if (admin_get_int(a, scope, "department", 1, INT64_MAX, true, &dept,
			  err) < 0)
		return -1;
	admin_id_text(dept, req->department);
	return 0;
}

/* The members role, scope, holder, label into req. */
static int parse_req(struct mc_admin *a, const json_t *body,
		     struct binding_req *req, struct mc_error *err)
{
	const char *role;

	memset(req, 0, sizeof(*req));
	req->label = "";
	if (admin_get_string(a, body, "role", 32, true, false, &role, err) < 0)
		return -1;
	if (!mc_role_parse(role, &req->role)) {
		admin_field_error(a, err, "role",
				  "must be provider, reseller, tenant, domain, "
				  "assistant, department or user");
		return -1;
	}
	if (parse_scope(a, body, req, err) < 0 ||
	    admin_get_string(a, body, "holder", MC_ADDRESS_MAX, false, false,
			     &req->holder, err) < 0 ||
	    admin_get_string(a, body, "label", 256, false, true, &req->label,
			     err) < 0)
		return -1;
	if (req->role == MC_ROLE_USER && req->holder == NULL) {
		admin_field_error(a, err, "holder",
				  "is required for the user role");
		return -1;
	}
	return 0;
}

int mc_admin_binding_check(struct mc_admin *a, const json_t *body,
			   struct mc_error *err)
{
	struct binding_req req;

	return parse_req(a, body, &req, err);
}

/* Finds the user of address (in the actor's subtree) into p. */
static int find_holder(struct mc_admin *a, const char *address,
		       struct admin_place *p, struct mc_error *err)
{
	char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
	struct mc_error perr = {0};

	if (mc_tenants_split_address(address, true, local, domain, &perr) < 0) {
		admin_field_error(a, err, "holder", "%s", perr.msg);
		return -1;
	}
	if (admin_find_domain(a, domain, p, err) < 0)
		return -1;
	return admin_find_user(a, local, p, err);
}

/* Finds the place the binding is for (user role: its holder). */
static int find_scope(struct mc_admin *a, const struct binding_req *req,
		      struct admin_place *p, struct mc_error *err)
{
	memset(p, 0, sizeof(*p));
	switch (req->role) {
	case MC_ROLE_PROVIDER:
		return 0;
	case MC_ROLE_RESELLER:
		return admin_find_reseller(a, req->reseller, p, err);
	case MC_ROLE_TENANT:
		return admin_find_tenant(a, req->tenant, p, err);
	case MC_ROLE_USER:
		if (find_holder(a, req->holder, p, err) < 0)
			return -1;
		if (req->domain != NULL &&
		    !mc_str_eq_icase(req->domain, p->domain)) {
			admin_field_error(a, err, "scope",
					  "a user binding's domain is its "
					  "holder's");
			return -1;
		}
		return 0;
	default:
		if (admin_find_domain(a, req->domain, p, err) < 0)
			return -1;
		if (req->role != MC_ROLE_DEPARTMENT)
			return 0;
		return admin_find_department(a, req->department, p, err);
	}
}

/* The actor a binding of role at place p would be (for its subtree). */
static void place_actor(enum mc_role role, const struct admin_place *p,
			struct mc_actor *ac)
{
	memset(ac, 0, sizeof(*ac));
	ac->role = role;
	ac->reseller_id = p->reseller_id;
	ac->tenant_id = p->tenant_id;
	ac->domain_id = p->domain_id;
	ac->user_id = p->user_id;
	if (p->ndepartments > 0)
		ac->department_id = p->departments[p->ndepartments - 1];
}

/* Is place h inside the subtree of a binding of role at place p? */
static bool in_binding(enum mc_role role, const struct admin_place *p,
		       const struct admin_place *h)
{
	struct mc_admin tmp;

	memset(&tmp, 0, sizeof(tmp));
	place_actor(role, p, &tmp.actor);
	return admin_in_scope(&tmp, h);
}

/* May the actor grant role at place p? 0 or -1 DENIED. */
static int grant_check(struct mc_admin *a, enum mc_role role,
		       const struct admin_place *p, struct mc_error *err)
{
	if (admin_require_inside(a, p, "grant roles there", err) < 0)
		return -1;
	if (mc_admin_may_grant(a->actor.role, role))
		return 0;
	enum mc_role ar = a->actor.role;
	if (ar == MC_ROLE_USER)
		mc_error_set(err, MC_ERR_DENIED, "a user may not grant roles");
	else if (!mc_admin_may_grant(ar, MC_ROLE_USER))
		mc_error_set(err, MC_ERR_DENIED,
			     "a%s %s admin may not grant "
			     "roles",
			     ar == MC_ROLE_ASSISTANT ? "n" : "",
			     mc_role_name(ar));
	else
		mc_error_set(err, MC_ERR_DENIED,
			     "a %s admin may not grant the %s role",
			     mc_role_name(ar), mc_role_name(role));
	return -1;
}

/* Inserts the binding; its id into *id_r. */
static int insert_binding(struct mc_admin *a, const struct binding_req *req,
			  const struct admin_place *p,
			  const struct admin_place *h, int64_t *id_r,
			  struct mc_error *err)
{
	char rid[24] = "", tid[24] = "", did[24] = "", dep[24] = "";
	char ht[24] = "", hid[24] = "";
	enum mc_role r = req->role;

	if (r == MC_ROLE_RESELLER)
		admin_id_text(p->reseller_id, rid);
	if (r <= MC_ROLE_TENANT)
		admin_id_text(p->tenant_id, tid);
	if (r < MC_ROLE_TENANT)
		admin_id_text(p->domain_id, did);
	if (r == MC_ROLE_DEPARTMENT)
		admin_id_text(p->departments[p->ndepartments - 1], dep);
	if (h->user_id != 0) {
		admin_id_text(h->tenant_id, ht);
		admin_id_text(h->user_id, hid);
	}
	const char *params[] = {
		mc_role_name(r), rid,	       tid, did, dep, ht, hid,
		req->label,	 a->actor.name};
	PGresult *res = admin_query(
		a,
		"INSERT INTO role_bindings (role, reseller_id, tenant_id, "
		"domain_id, department_id, holder_tenant, holder_id, label, "
		"created_by) VALUES ($1, nullif($2, '')::bigint, "
		"nullif($3, '')::bigint, nullif($4, '')::bigint, "
		"nullif($5, '')::bigint, nullif($6, '')::bigint, "
		"nullif($7, '')::bigint, $8, $9) RETURNING id",
		9, params, err);
	if (res == NULL)
		return -1;
	*id_r = admin_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* The holder place of the request (none: zeroed), checked to be inside
 * the binding's subtree. */
static int holder_place(struct mc_admin *a, const struct binding_req *req,
			const struct admin_place *p, struct admin_place *h,
			struct mc_error *err)
{
	memset(h, 0, sizeof(*h));
	if (req->role == MC_ROLE_USER) {
		*h = *p;
		return 0;
	}
	if (req->holder == NULL)
		return 0;
	if (find_holder(a, req->holder, h, err) < 0)
		return -1;
	if (in_binding(req->role, p, h))
		return 0;
	admin_field_error(a, err, "holder",
			  "%s is not a user inside the binding's scope",
			  req->holder);
	return -1;
}

int mc_admin_binding_make(struct mc_admin *a, const json_t *body, int64_t *id_r,
			  struct mc_error *err)
{
	struct binding_req req;
	struct admin_place p, h;
	char target[48];

	if (parse_req(a, body, &req, err) < 0 ||
	    find_scope(a, &req, &p, err) < 0 ||
	    grant_check(a, req.role, &p, err) < 0 ||
	    holder_place(a, &req, &p, &h, err) < 0 ||
	    insert_binding(a, &req, &p, &h, id_r, err) < 0)
		return -1;
	json_t *ch = json_pack("{sssOss?ss}", "role", mc_role_name(req.role),
			       "scope",
			       json_object_get(body, "scope") != NULL
				       ? json_object_get(body, "scope")
				       : json_null(),
			       "holder", req.holder, "label", req.label);
	snprintf(target, sizeof(target), "binding %lld", (long long)*id_r);
	int ret = admin_audit(a, &p, "binding.create", target, ch, err);
	json_decref(ch);
	return ret;
}

struct binding_op {
	const struct mc_admin_call *call;
	int64_t id;
	struct admin_list list;
	json_t *out;
};

/* binding.create in the transaction. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct binding_op *op = ctx;
	PGresult *res;

	json_decref(op->out);
	op->out = NULL;
	if (mc_admin_binding_make(a, op->call->body, &op->id, err) < 0)
		return -1;
	if ((res = binding_row(a, op->id, err)) == NULL)
		return -1;
	op->out = binding_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_binding_create)
{
	static const char *const allowed[] = {"role", "scope", "holder",
					      "label", NULL};
	struct binding_op op = {.call = call};

	*out_r = NULL;
	if (admin_body_check(a, call->body, allowed, true, err) < 0 ||
	    mc_admin_binding_check(a, call->body, err) < 0)
		return -1;
	return admin_run(a, create_txn, &op, &op.out, out_r, err);
}

/* binding.get in the transaction. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct binding_op *op = ctx;
	PGresult *res = binding_row(a, op->id, err);

	json_decref(op->out);
	op->out = NULL;
	if (res == NULL)
		return -1;
	op->out = binding_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_binding_get)
{
	struct binding_op op = {.call = call};

	*out_r = NULL;
	if (admin_arg_id(call, 0, "role binding", &op.id, err) < 0 ||
	    admin_txn(a, get_txn, &op, err) < 0)
		return -1;
	*out_r = op.out;
	return 0;
}

/* The number of tokens of binding id. */
static int64_t count_tokens(struct mc_admin *a, int64_t id,
			    struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {idbuf};

	admin_id_text(id, idbuf);
	PGresult *res = admin_query(
		a, "SELECT count(*) FROM api_tokens WHERE binding_id = $1", 1,
		params, err);
	if (res == NULL)
		return -1;
	int64_t n = admin_col_i64(res, 0, 0);
	PQclear(res);
	return n;
}

/* Audits and deletes the binding of row (its tokens go with it). */
static int delete_row(struct mc_admin *a, const PGresult *res, int64_t id,
		      struct mc_error *err)
{
	struct admin_place p;
	char idbuf[24], target[48];
	const char *params[] = {idbuf};
	const char *holder = PQgetvalue(res, 0, COL_HOLDER);
	int64_t tokens = count_tokens(a, id, err);

	if (tokens < 0 || row_place(a, res, 0, &p, err) < 0)
		return -1;
	json_t *ch = json_pack(
		"{sssoss?sI}", "role", PQgetvalue(res, 0, COL_SCOPE), "scope",
		mc_admin_binding_scope(res, 0, COL_SCOPE, NULL), "holder",
		*holder != '\0' ? holder : NULL, "tokens", (json_int_t)tokens);
	snprintf(target, sizeof(target), "binding %lld", (long long)id);
	int ret = admin_audit(a, &p, "binding.delete", target, ch, err);
	json_decref(ch);
	admin_id_text(id, idbuf);
	if (ret == 0 && admin_exec(a, "DELETE FROM role_bindings WHERE id = $1",
				   1, params, err) < 0)
		ret = -1;
	return ret;
}

/* binding.delete in the transaction. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct binding_op *op = ctx;
	PGresult *res = binding_row(a, op->id, err);
	enum mc_role role = MC_ROLE_USER;
	struct admin_place p = {0};

	if (res == NULL)
		return -1;
	(void)mc_role_parse(PQgetvalue(res, 0, COL_SCOPE), &role);
	int ret = grant_check(a, role, &p, err);
	if (ret == 0)
		ret = delete_row(a, res, op->id, err);
	PQclear(res);
	return ret;
}

ADMIN_OP(admin_binding_delete)
{
	struct binding_op op = {.call = call};

	*out_r = NULL;
	if (admin_arg_id(call, 0, "role binding", &op.id, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err);
}

static const struct admin_sort binding_sorts[] = {
	{"id", "b.id"},
	{"created_at", "b.created_at"},
	{"role", "b.role"},
	{NULL, NULL},
};

/* binding.list in the transaction (filters role, holder). */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct binding_op *op = ctx;
	struct mc_admin_binding_params bp;
	const char *params[MC_ADMIN_BINDING_NPARAMS + 4];
	int n = MC_ADMIN_BINDING_NPARAMS;
	const char *role = admin_filter(&op->list, "role");
	const char *holder = admin_filter(&op->list, "holder");
	struct mc_buf sql;

	json_decref(op->out);
	op->out = NULL;
	mc_admin_binding_params(&a->actor, &bp);
	memcpy(params, bp.values, sizeof(bp.values));
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " BINDING_COLS ", %s::text" BINDING_FROM
		      " WHERE " MC_ADMIN_BINDING_VISIBLE,
		      op->list.sort->expr);
	admin_where(&sql, params, &n, role, " AND b.role = $?");
	admin_where(&sql, params, &n, holder,
		    " AND hu.local_part || '@' || hd.name = lower($?)");
	PGresult *res =
		admin_list_fetch(a, &op->list, &sql, "b.id", params, n, err);
	if (res == NULL)
		return -1;
	op->out = admin_page_rows(&op->list, res, COL_SORT, COL_ID,
				  binding_json, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_binding_list)
{
	struct binding_op op = {.call = call};

	*out_r = NULL;
	if (admin_list_parse(a, call, binding_sorts, &op.list, err) < 0 ||
	    admin_txn(a, list_txn, &op, err) < 0)
		return -1;
	*out_r = op.out;
	return 0;
}

int mc_admin_binding_actor(struct mc_pg *pg, int64_t binding_id,
			   struct mc_actor *actor_r, struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {idbuf};

	admin_id_text(binding_id, idbuf);
	PGresult *res = mc_pg_query(
		pg,
		"SELECT b.role, coalesce(b.reseller_id, 0), "
		"coalesce(b.tenant_id, 0), coalesce(b.domain_id, 0), "
		"coalesce(b.department_id, 0), coalesce(b.holder_id, 0), "
		"coalesce(hu.local_part || '@' || hd.name, ''), "
		"CASE WHEN hu.id IS NOT NULL AND hu.status <> 'active' "
		"THEN 'its holder is ' || hu.status "
		"WHEN t.status <> 'active' THEN 'its tenant is ' || t.status "
		"WHEN r.status <> 'active' THEN 'its reseller is ' || r.status "
		"ELSE '' END" BINDING_FROM " WHERE b.id = $1::bigint",
		1, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0 || *PQgetvalue(res, 0, 7) != '\0') {
		/* a frozen holder or a suspended customer administers
		 * nothing until it is active again */
		if (PQntuples(res) == 0)
			mc_error_set(err, MC_ERR_DENIED, "no role binding %lld",
				     (long long)binding_id);
		else
			mc_error_set(
				err, MC_ERR_DENIED, "role binding %lld: %s",
				(long long)binding_id, PQgetvalue(res, 0, 7));
		PQclear(res);
		return -1;
	}
	memset(actor_r, 0, sizeof(*actor_r));
	(void)mc_role_parse(PQgetvalue(res, 0, 0), &actor_r->role);
	actor_r->reseller_id = admin_col_i64(res, 0, 1);
	actor_r->tenant_id = admin_col_i64(res, 0, 2);
	actor_r->domain_id = admin_col_i64(res, 0, 3);
	actor_r->department_id = admin_col_i64(res, 0, 4);
	actor_r->user_id = admin_col_i64(res, 0, 5);
	actor_r->binding_id = binding_id;
	if (*PQgetvalue(res, 0, 6) != '\0')
		snprintf(actor_r->name, sizeof(actor_r->name), "%s",
			 PQgetvalue(res, 0, 6));
	else
		snprintf(actor_r->name, sizeof(actor_r->name), "binding %lld",
			 (long long)binding_id);
	PQclear(res);
	return 0;
}
