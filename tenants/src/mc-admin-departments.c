/* mc-admin-departments: the department tree of a domain (list in tree
 * order with paths, create, get, update with moves, delete). Domain
 * admins and above manage every department; a department admin manages
 * the departments strictly below its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"

#define NAME_MAX_BYTES 128

/* The departments of domain ($2 of tenant $1) with their name paths, id
 * chains and tree sort keys (position, name, id per level). */
#define TREE_CTE                                                               \
	"WITH RECURSIVE tree AS (SELECT x.id, x.name, x.parent_id, "           \
	"x.position, x.version, x.created_at, ARRAY[x.name] AS path, "         \
	"ARRAY[x.id] AS ids, ARRAY[lpad((x.position::bigint + "                \
	"2147483648)::text, 10, '0'), x.name, lpad(x.id::text, 19, '0')] "     \
	"AS key, 1 AS depth FROM departments x WHERE x.tenant_id = $1 AND "    \
	"x.domain_id = $2 AND x.parent_id IS NULL UNION ALL SELECT c.id, "     \
	"c.name, c.parent_id, c.position, c.version, c.created_at, "           \
	"t.path || c.name, t.ids || c.id, t.key || ARRAY[lpad((c.position"     \
	"::bigint + 2147483648)::text, 10, '0'), c.name, lpad(c.id::text, "    \
	"19, '0')], t.depth + 1 FROM departments c JOIN tree t ON "            \
	"c.tenant_id = $1 AND c.parent_id = t.id WHERE t.depth < 64) "
#define TREE_COLS                                                              \
	"x.id, x.name, x.parent_id, x.position, x.path::text, "                \
	"x.version, " ADMIN_TS("x.created_at")

/* A department row (TREE_COLS) as JSON with its limits and usage. */
static json_t *department_row(struct mc_admin *a, PGresult *res, int i,
			      struct mc_error *err)
{
	int64_t id = admin_col_i64(res, i, 0);
	json_t *parent = PQgetisnull(res, i, 2)
				 ? json_null()
				 : json_integer(admin_col_i64(res, i, 2));
	json_t *o = json_pack("{sIsssosIsosIss}", "id", (json_int_t)id, "name",
			      PQgetvalue(res, i, 1), "parent", parent,
			      "position", (json_int_t)admin_col_i64(res, i, 3),
			      "path", admin_json_array(PQgetvalue(res, i, 4)),
			      "version", (json_int_t)admin_col_i64(res, i, 5),
			      "created_at", PQgetvalue(res, i, 6));
	if (admin_level_json_add(a, o, ADMIN_AT_DEPARTMENT, id, err) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The department id of the domain at p as GET returns it, or NULL. */
static json_t *department_json(struct mc_admin *a, const struct admin_place *p,
			       int64_t id, struct mc_error *err)
{
	char tid[24], did[24], xid[24];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did),
				admin_id_text(id, xid)};
	PGresult *res = admin_query(
		a, TREE_CTE "SELECT " TREE_COLS " FROM tree x WHERE x.id = $3",
		3, params, err);
	json_t *o = NULL;

	if (res == NULL)
		return NULL;
	if (PQntuples(res) > 0)
		o = department_row(a, res, 0, err);
	else
		mc_error_set(err, MC_ERR_NOTFOUND, "no department %lld",
			     (long long)id);
	PQclear(res);
	return o;
}

/* What a request body holds. */
struct dept_in {
	const char *name;
	bool set_parent;
	int64_t parent; /* 0: top level */
	bool set_position;
	int64_t position;
	struct admin_limits lim;
};

struct dept_op {
	const struct mc_admin_call *call;
	struct dept_in in;
	json_t *out;
};

/* Reads name, parent, position and limits. */
static int read_dept(struct mc_admin *a, const json_t *body, bool create,
		     struct dept_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {"name", "parent", "position",
					      "limits", NULL};
	json_t *parent = json_object_get(body, "parent");
	int r;

	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    admin_get_string(a, body, "name", NAME_MAX_BYTES, create, false,
			     &in->name, err) < 0 ||
	    (r = admin_get_int(a, body, "position", INT32_MIN, INT32_MAX, false,
			       &in->position, err)) < 0 ||
	    admin_limits_parse(a, body, admin_limit_keys(ADMIN_AT_DEPARTMENT),
			       &in->lim, err) < 0)
		return -1;
	in->set_position = r > 0;
	if (in->name != NULL && strchr(in->name, '/') != NULL) {
		admin_field_error(a, err, "name", "must not contain '/'");
		return -1;
	}
	in->set_parent = parent != NULL;
	if (parent != NULL && !json_is_null(parent) &&
	    admin_get_int(a, body, "parent", 1, INT64_MAX, false, &in->parent,
			  err) < 0)
		return -1;
	return 0;
}

/* Finds the domain of the call (a way down for department admins) and
 * checks the role may manage departments. */
static int find_domain_for(struct mc_admin *a, const struct mc_admin_call *call,
			   struct admin_place *p, const char *what,
			   struct mc_error *err)
{
	if (admin_find_domain(a, call->args[0], p, err) < 0 ||
	    admin_require(a, MC_ROLE_DEPARTMENT, what, err) < 0)
		return -1;
	return 0;
}

/* Finds department id under the domain at dp (copied into p). */
static int find_dept(struct mc_admin *a, const struct admin_place *dp,
		     int64_t id, struct admin_place *p, struct mc_error *err)
{
	char idbuf[24];

	*p = *dp;
	return admin_find_department(a, admin_id_text(id, idbuf), p, err);
}

/* The place a new or moved department goes under: the domain's (top
 * level; not for department admins) or the parent's. */
static int find_new_parent(struct mc_admin *a, const struct admin_place *dp,
			   int64_t parent, struct admin_place *p,
			   struct mc_error *err)
{
	if (parent == 0) {
		if (a->actor.role == MC_ROLE_DEPARTMENT) {
			mc_error_set(err, MC_ERR_DENIED,
				     "a department admin may only place "
				     "departments below its own");
			return -1;
		}
		*p = *dp;
		p->ndepartments = 0;
		return 0;
	}
	return find_dept(a, dp, parent, p, err);
}

/* A department admin acts strictly below its own department. */
static int check_below_own(struct mc_admin *a, const struct admin_place *p,
			   struct mc_error *err)
{
	if (a->actor.role != MC_ROLE_DEPARTMENT || p->ndepartments == 0 ||
	    p->departments[p->ndepartments - 1] != a->actor.department_id)
		return 0;
	mc_error_set(err, MC_ERR_DENIED,
		     "a department admin may not change or delete its own "
		     "department");
	return -1;
}

/* The audit target of department id. */
static void target_of(const struct admin_place *p, int64_t id, const char *name,
		      char *buf, size_t size)
{
	snprintf(buf, size, "department %lld (%s) of %s", (long long)id, name,
		 p->domain);
}

/* The changes for the audit record. */
static json_t *changes_of(const struct dept_in *in)
{
	json_t *ch = json_object();
	json_t *lim = admin_limits_changes(&in->lim, ADMIN_AT_DEPARTMENT);

	if (in->name != NULL)
		json_object_set_new(ch, "name", json_string(in->name));
	if (in->set_parent)
		json_object_set_new(ch, "parent",
				    in->parent != 0 ? json_integer(in->parent)
						    : json_null());
	if (in->set_position)
		json_object_set_new(ch, "position", json_integer(in->position));
	if (lim != NULL)
		json_object_set_new(ch, "limits", lim);
	return ch;
}

/* Inserts the department under pp; returns its id or -1. */
static int64_t insert_dept(struct mc_admin *a, const struct admin_place *pp,
			   const struct dept_in *in, struct mc_error *err)
{
	char tid[24], did[24], par[24], pos[24], bufs[8][24];
	const char *lim[8];
	admin_limits_params(&in->lim, bufs, lim);
	const char *params[9] = {
		admin_id_text(pp->tenant_id, tid),
		admin_id_text(pp->domain_id, did),
		pp->ndepartments > 0
			? admin_id_text(pp->departments[pp->ndepartments - 1],
					par)
			: NULL,
		in->name,
		admin_id_text(in->set_position ? in->position : 0, pos),
		lim[1],
		lim[5],
		lim[6],
		lim[7]};
	PGresult *res = admin_query(
		a,
		"INSERT INTO departments (tenant_id, domain_id, parent_id, "
		"name, position, lim_users, lim_message_bytes, lim_send_count, "
		"lim_send_bytes) VALUES ($1, $2, $3::bigint, $4, $5::integer, "
		"coalesce($6::bigint, 0), coalesce($7::bigint, 0), "
		"coalesce($8::bigint, 0), coalesce($9::bigint, 0)) "
		"RETURNING id",
		9, params, err);
	if (res == NULL)
		return admin_exists_error(err, "department", in->name);
	int64_t id = admin_col_i64(res, 0, 0);
	PQclear(res);
	return id;
}

/* Transaction of department.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct dept_op *op = ctx;
	struct admin_place dp, pp;
	char target[MC_DOMAIN_MAX + 200];

	if (find_domain_for(a, op->call, &dp, "create departments", err) < 0 ||
	    find_new_parent(a, &dp, op->in.parent, &pp, err) < 0)
		return -1;
	if (pp.ndepartments >= ADMIN_PATH_MAX) {
		admin_field_error(a, err, "parent",
				  "departments nest at most %d deep",
				  ADMIN_PATH_MAX);
		return -1;
	}
	int64_t id;
	if (admin_limits_check(a, &pp, ADMIN_AT_DEPARTMENT, 0, &op->in.lim,
			       err) < 0 ||
	    (id = insert_dept(a, &pp, &op->in, err)) < 0)
		return -1;
	pp.level = ADMIN_AT_DEPARTMENT;
	pp.departments[pp.ndepartments++] = id;
	target_of(&pp, id, op->in.name, target, sizeof(target));
	int r = admin_audit_new(a, &pp, "department.create", target,
				changes_of(&op->in), err);
	if (r < 0)
		return -1;
	return admin_out(&op->out, department_json(a, &pp, id, err));
}

ADMIN_OP(admin_department_create)
{
	struct dept_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    read_dept(a, call->body, true, &op.in, err) < 0)
		return -1;
	return admin_run(a, create_txn, &op, &op.out, out_r, err);
}

/* Locks department id and checks If-Match. */
static int lock_dept(struct mc_admin *a, const struct dept_op *op, int64_t id,
		     struct mc_error *err)
{
	return admin_lock_version(
		a, "SELECT version FROM departments WHERE id = $1 FOR UPDATE",
		id, op->call, "such department", err);
}

/* Finds the domain and the department of the call. */
static int find_target(struct mc_admin *a, const struct mc_admin_call *call,
		       struct admin_place *dp, struct admin_place *p,
		       struct mc_error *err)
{
	if (admin_find_domain(a, call->args[0], dp, err) < 0)
		return -1;
	*p = *dp;
	return admin_find_department(a, call->args[1], p, err);
}

/* Transaction of department.get. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct dept_op *op = ctx;
	struct admin_place dp, p;
	int64_t id;

	if (admin_arg_id(op->call, 1, "department", &id, err) < 0 ||
	    find_target(a, op->call, &dp, &p, err) < 0 ||
	    admin_require_inside(a, &p, "read departments", err) < 0 ||
	    admin_require(a, MC_ROLE_DEPARTMENT, "read departments", err) < 0)
		return -1;
	return admin_out(&op->out, department_json(a, &p, id, err));
}

ADMIN_OP(admin_department_get)
{
	struct dept_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0)
		return -1;
	return admin_run(a, get_txn, &op, &op.out, out_r, err);
}

/* How many levels are below department id (0 for a leaf). */
static int subtree_height(struct mc_admin *a, int64_t id, int64_t *h_r,
			  struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(id, idbuf)};
	PGresult *res = admin_query(
		a,
		"WITH RECURSIVE down(id, depth) AS (SELECT id, 0 FROM "
		"departments WHERE id = $1 UNION ALL SELECT c.id, d.depth + 1 "
		"FROM departments c JOIN down d ON c.parent_id = d.id WHERE "
		"d.depth < 64) SELECT max(depth) FROM down",
		1, params, err);

	if (res == NULL)
		return -1;
	*h_r = admin_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Checks a move of the department at p under np: not into its own
 * subtree, not too deep. */
static int check_move(struct mc_admin *a, const struct admin_place *p,
		      const struct admin_place *np, struct mc_error *err)
{
	int64_t self = p->departments[p->ndepartments - 1], h;

	for (size_t i = 0; i < np->ndepartments; i++) {
		if (np->departments[i] == self) {
			admin_field_error(a, err, "parent",
					  "a department cannot move under "
					  "itself or its own subtree");
			return -1;
		}
	}
	if (subtree_height(a, self, &h, err) < 0)
		return -1;
	if ((int64_t)np->ndepartments + 1 + h > ADMIN_PATH_MAX) {
		admin_field_error(a, err, "parent",
				  "departments nest at most %d deep",
				  ADMIN_PATH_MAX);
		return -1;
	}
	return 0;
}

/* The department's limits with the given ones applied. */
static int merged_limits(struct mc_admin *a, int64_t id,
			 const struct admin_limits *given,
			 struct admin_limits *out, struct mc_error *err)
{
	struct admin_level_usage u;

	if (admin_level_load(a, ADMIN_AT_DEPARTMENT, id, false, &u, err) <= 0)
		return -1;
	*out = u.lim;
	if (given->users != ADMIN_LIMIT_UNSET)
		out->users = given->users;
	if (given->message_bytes != ADMIN_LIMIT_UNSET)
		out->message_bytes = given->message_bytes;
	if (given->send_count != ADMIN_LIMIT_UNSET)
		out->send_count = given->send_count;
	if (given->send_bytes != ADMIN_LIMIT_UNSET)
		out->send_bytes = given->send_bytes;
	return 0;
}

/* Moves the users counted in department id from its old parent's chain
 * to new_parent's (0: none); the new chain's limits are checked by
 * mc_count_departments. */
static int move_counts(struct mc_admin *a, int64_t id, int64_t new_parent,
		       bool after, struct mc_error *err)
{
	char idbuf[24], pbuf[24];
	const char *params[] = {admin_id_text(id, idbuf),
				admin_id_text(new_parent, pbuf)};

	if (!after)
		return admin_exec(a,
				  "SELECT mc_count_departments(parent_id, "
				  "-n_users::integer) FROM departments WHERE "
				  "id = $1 AND parent_id IS NOT NULL AND "
				  "n_users > 0 AND $2::bigint IS NOT NULL",
				  2, params, err) < 0
			       ? -1
			       : 0;
	return admin_exec(a,
			  "SELECT mc_count_departments($2::bigint, "
			  "n_users::integer) FROM departments WHERE id = $1 "
			  "AND n_users > 0 AND $2::bigint <> 0",
			  2, params, err) < 0
		       ? -1
		       : 0;
}

/* Applies the update to department id. */
static int update_row(struct mc_admin *a, int64_t id, const struct dept_in *in,
		      struct mc_error *err)
{
	char idbuf[24], par[24], pos[24], bufs[8][24];
	const char *lim[8];
	admin_limits_params(&in->lim, bufs, lim);
	const char *params[10] = {
		admin_id_text(id, idbuf),
		in->name,
		in->set_parent ? "true" : "false",
		in->parent != 0 ? admin_id_text(in->parent, par) : NULL,
		in->set_position ? admin_id_text(in->position, pos) : NULL,
		lim[1],
		lim[5],
		lim[6],
		lim[7],
		NULL};
	return admin_exec(a,
			  "UPDATE departments SET name = coalesce($2, name), "
			  "parent_id = CASE WHEN $3::boolean THEN $4::bigint "
			  "ELSE parent_id END, position = coalesce("
			  "$5::integer, position), lim_users = coalesce("
			  "$6::bigint, lim_users), lim_message_bytes = "
			  "coalesce($7::bigint, lim_message_bytes), "
			  "lim_send_count = coalesce($8::bigint, "
			  "lim_send_count), lim_send_bytes = coalesce("
			  "$9::bigint, lim_send_bytes), version = version + 1 "
			  "WHERE id = $1",
			  9, params, err) < 0
		       ? admin_exists_error(err, "department",
					    in->name != NULL ? in->name
							     : "of that name")
		       : 0;
}

/* The limits check of an update: the given limits in place, or with a
 * move all of them under the new parent. */
static int check_update_limits(struct mc_admin *a, struct dept_op *op,
			       const struct admin_place *p,
			       const struct admin_place *np,
			       struct mc_error *err)
{
	int64_t self = p->departments[p->ndepartments - 1];
	struct admin_limits merged;
	struct admin_place moved;

	if (!op->in.set_parent)
		return admin_limits_check(a, p, ADMIN_AT_DEPARTMENT, self,
					  &op->in.lim, err);
	if (merged_limits(a, self, &op->in.lim, &merged, err) < 0)
		return -1;
	moved = *np;
	moved.level = ADMIN_AT_DEPARTMENT;
	moved.departments[moved.ndepartments++] = self;
	return admin_limits_check(a, &moved, ADMIN_AT_DEPARTMENT, self, &merged,
				  err);
}

/* The checks of department.update before any change. */
static int update_checks(struct mc_admin *a, struct dept_op *op,
			 struct admin_place *dp, struct admin_place *p,
			 struct admin_place *np, struct mc_error *err)
{
	int64_t id;

	if (admin_arg_id(op->call, 1, "department", &id, err) < 0 ||
	    find_target(a, op->call, dp, p, err) < 0 ||
	    admin_require(a, MC_ROLE_DEPARTMENT, "change departments", err) <
		    0 ||
	    check_below_own(a, p, err) < 0 || lock_dept(a, op, id, err) < 0)
		return -1;
	if (op->in.set_parent &&
	    (find_new_parent(a, dp, op->in.parent, np, err) < 0 ||
	     check_move(a, p, np, err) < 0))
		return -1;
	return check_update_limits(a, op, p, np, err);
}

/* Transaction of department.update. */
static int update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct dept_op *op = ctx;
	struct admin_place dp, p, np;
	char target[MC_DOMAIN_MAX + 200];

	if (update_checks(a, op, &dp, &p, &np, err) < 0)
		return -1;
	int64_t id = p.departments[p.ndepartments - 1];
	bool move = op->in.set_parent;
	if ((move && move_counts(a, id, op->in.parent, false, err) < 0) ||
	    update_row(a, id, &op->in, err) < 0 ||
	    (move && move_counts(a, id, op->in.parent, true, err) < 0))
		return -1;
	if (move && admin_department_chain(a, id, &p, err) < 0)
		return -1;
	op->out = department_json(a, &p, id, err);
	if (op->out == NULL)
		return -1;
	target_of(&p, id, json_string_value(json_object_get(op->out, "name")),
		  target, sizeof(target));
	int r = admin_audit_new(a, &p, "department.update", target,
				changes_of(&op->in), err);
	return r;
}

ADMIN_OP(admin_department_update)
{
	struct dept_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0 ||
	    read_dept(a, call->body, false, &op.in, err) < 0)
		return -1;
	return admin_run(a, update_txn, &op, &op.out, out_r, err);
}

/* Refuses to delete a department with users or sub-departments. */
static int check_empty(struct mc_admin *a, const struct admin_place *p,
		       int64_t id, char *name, struct mc_error *err)
{
	char tid[24], idbuf[24];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(id, idbuf)};
	PGresult *res = admin_query(
		a,
		"SELECT name, (SELECT count(*) FROM users WHERE tenant_id = $1 "
		"AND department_id = $2), (SELECT count(*) FROM departments "
		"WHERE tenant_id = $1 AND parent_id = $2) FROM departments "
		"WHERE id = $2",
		2, params, err);

	if (res == NULL)
		return -1;
	int64_t users = admin_col_i64(res, 0, 1);
	int64_t children = admin_col_i64(res, 0, 2);
	snprintf(name, NAME_MAX_BYTES + 1, "%s", PQgetvalue(res, 0, 0));
	if (users > 0 || children > 0)
		mc_error_set(err, MC_ERR_EXISTS,
			     "department %s still has %lld users and %lld "
			     "sub-departments: move or delete them first",
			     PQgetvalue(res, 0, 0), (long long)users,
			     (long long)children);
	PQclear(res);
	return users > 0 || children > 0 ? -1 : 0;
}

/* Transaction of department.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct dept_op *op = ctx;
	struct admin_place dp, p;
	char target[MC_DOMAIN_MAX + 200], idbuf[24], name[NAME_MAX_BYTES + 1];
	int64_t id;

	if (admin_arg_id(op->call, 1, "department", &id, err) < 0 ||
	    find_target(a, op->call, &dp, &p, err) < 0 ||
	    admin_require(a, MC_ROLE_DEPARTMENT, "delete departments", err) <
		    0 ||
	    check_below_own(a, &p, err) < 0 || lock_dept(a, op, id, err) < 0 ||
	    check_empty(a, &p, id, name, err) < 0)
		return -1;
	target_of(&p, id, name, target, sizeof(target));
	const char *params[] = {admin_id_text(id, idbuf)};
	if (admin_audit(a, &p, "department.delete", target, NULL, err) < 0 ||
	    admin_exec(a, "DELETE FROM departments WHERE id = $1", 1, params,
		       err) < 0)
		return -1;
	a->dirty = true;
	return 0;
}

ADMIN_OP(admin_department_delete)
{
	struct dept_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err) < 0 ? -1 : 0;
}

static const struct admin_sort dept_sorts[] = {
	{"tree", "x.key"},
	{"name", "x.name"},
	{"created_at", "x.created_at"},
	{NULL, NULL},
};

struct list_op {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* Transaction of department.list: tree order (parents before children,
 * siblings by position then name); a department admin sees its subtree. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_op *op = ctx;
	struct admin_place dp;
	const char *params[8];
	char tid[24], did[24], own[24];
	const char *q = admin_filter(&op->l, "q");
	int n = 2;
	struct mc_buf sql;

	if (admin_find_domain(a, op->call->args[0], &dp, err) < 0)
		return -1;
	/* assistants manage aliases and BCC rules only */
	if (admin_require(a, MC_ROLE_DEPARTMENT, "list departments", err) < 0)
		return -1;
	params[0] = admin_id_text(dp.tenant_id, tid);
	params[1] = admin_id_text(dp.domain_id, did);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      TREE_CTE "SELECT " TREE_COLS ", (%s)::text, x.id FROM "
			       "tree x WHERE true",
		      op->l.sort->expr);
	if (a->actor.role == MC_ROLE_DEPARTMENT) {
		params[n++] = admin_id_text(a->actor.department_id, own);
		mc_buf_printf(&sql, " AND $%d::bigint = ANY (x.ids)", n);
	}
	admin_where(&sql, params, &n, q,
		    " AND strpos(lower(x.name), lower($?)) > 0");
	op->out = admin_list_run(a, &op->l, &sql, params, n, "x.id",
				 department_row, err);
	mc_buf_free(&sql);
	return op->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_department_list)
{
	struct list_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_list_parse(a, call, dept_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &op, &op.out, out_r, err);
}
