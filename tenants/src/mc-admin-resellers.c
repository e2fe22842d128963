/* mc-admin-resellers: the reseller operations (list, create, get, update,
 * delete). The provider manages every reseller; a reseller admin manages
 * the sub-resellers below its own and only reads its own reseller (it may
 * rename it, not change its limits or status, nor delete it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"

#define DISPLAY_NAME_MAX 256

#define RESELLER_SELECT                                                        \
	"SELECT r.id, r.name, r.display_name, p.name, r.status, "              \
	"r.version, " ADMIN_TS(                                                \
		"r.created_at") " FROM resellers r "                           \
				"LEFT JOIN resellers p ON p.id = r.parent_id "

/* A reseller row (RESELLER_SELECT columns) as JSON with its limits. */
static json_t *reseller_row(struct mc_admin *a, PGresult *res, int row,
			    struct mc_error *err)
{
	json_t *o = json_pack("{sssssosssIss}", "name", PQgetvalue(res, row, 1),
			      "display_name", PQgetvalue(res, row, 2), "parent",
			      admin_col_json(res, row, 3), "status",
			      PQgetvalue(res, row, 4), "version",
			      (json_int_t)admin_col_i64(res, row, 5),
			      "created_at", PQgetvalue(res, row, 6));
	if (admin_level_json_add(a, o, ADMIN_AT_RESELLER,
				 admin_col_i64(res, row, 0), err) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The reseller id as GET returns it, or NULL. */
static json_t *reseller_json(struct mc_admin *a, int64_t id,
			     struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(id, idbuf)};
	PGresult *res = admin_query(a, RESELLER_SELECT "WHERE r.id = $1", 1,
				    params, err);
	json_t *o = NULL;

	if (res == NULL)
		return NULL;
	if (PQntuples(res) > 0)
		o = reseller_row(a, res, 0, err);
	else
		mc_error_set(err, MC_ERR_NOTFOUND, "no such reseller");
	PQclear(res);
	return o;
}

/* What a request body holds. */
struct reseller_in {
	const char *name, *display_name, *parent, *status;
	bool top; /* "parent": null */
	struct admin_limits lim;
};

struct reseller_op {
	const struct mc_admin_call *call;
	struct reseller_in in;
	json_t *out;
};

/* Reads the optional members shared by create and update. */
static int read_common(struct mc_admin *a, const json_t *body,
		       struct reseller_in *in, struct mc_error *err)
{
	if (admin_get_string(a, body, "display_name", DISPLAY_NAME_MAX, false,
			     true, &in->display_name, err) < 0 ||
	    admin_get_string(a, body, "status", 16, false, false, &in->status,
			     err) < 0 ||
	    admin_limits_parse(a, body, admin_limit_keys(ADMIN_AT_RESELLER),
			       &in->lim, err) < 0)
		return -1;
	return admin_check_status(a, in->status, err);
}

/* Reads a create body. */
static int read_create(struct mc_admin *a, const json_t *body,
		       struct reseller_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {"name", "display_name", "parent",
					      "limits", NULL};

	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    admin_get_string(a, body, "name", 63, true, false, &in->name, err) <
		    0 ||
	    read_common(a, body, in, err) < 0)
		return -1;
	return admin_read_named(a, body, in->name, "parent", &in->parent,
				&in->top, err);
}

/* The parent of a new reseller: the one named, else the actor's own
 * (reseller admins); p zeroed for a top-level one. */
static int find_parent(struct mc_admin *a, const struct reseller_in *in,
		       struct admin_place *p, struct mc_error *err)
{
	if (admin_parent_reseller(a, in->parent, in->top,
				  "a reseller admin may only create resellers "
				  "below its own",
				  p, err) < 0)
		return -1;
	if (p->nresellers >= ADMIN_PATH_MAX) {
		admin_field_error(a, err, "parent",
				  "resellers nest at most %d deep",
				  ADMIN_PATH_MAX);
		return -1;
	}
	return 0;
}

/* The changes of a create or update for the audit record. */
static json_t *changes_of(const struct reseller_in *in,
			  const struct admin_place *parent)
{
	json_t *ch = json_object();
	json_t *lim = admin_limits_changes(&in->lim, ADMIN_AT_RESELLER);

	if (in->name != NULL)
		json_object_set_new(ch, "name", json_string(in->name));
	if (in->display_name != NULL)
		json_object_set_new(ch, "display_name",
				    json_string(in->display_name));
	if (parent != NULL && parent->reseller[0] != '\0')
		json_object_set_new(ch, "parent",
				    json_string(parent->reseller));
	if (in->status != NULL)
		json_object_set_new(ch, "status", json_string(in->status));
	if (lim != NULL)
		json_object_set_new(ch, "limits", lim);
	return ch;
}

/* Inserts the reseller; its id and path into p. */
static int insert_reseller(struct mc_admin *a, const struct reseller_in *in,
			   const struct admin_place *parent,
			   struct admin_place *p, struct mc_error *err)
{
	char bufs[8][24], pid[24];
	const char *params[11] = {
		in->name, in->display_name,
		parent->reseller_id != 0
			? admin_id_text(parent->reseller_id, pid)
			: NULL};
	admin_limits_params(&in->lim, bufs, params + 3);
	PGresult *res = admin_query(a,
				    "INSERT INTO resellers (name, "
				    "display_name, parent_id, " ADMIN_LIMIT_COLS
				    ") VALUES ($1, coalesce($2, ''), "
				    "$3::bigint, " ADMIN_LIMIT_VALUES
				    ") RETURNING id, path::text",
				    11, params, err);
	if (res == NULL)
		return admin_exists_error(err, "reseller", in->name);
	memset(p, 0, sizeof(*p));
	p->level = ADMIN_AT_RESELLER;
	p->reseller_id = admin_col_i64(res, 0, 0);
	p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 1), p->resellers,
					ADMIN_PATH_MAX);
	snprintf(p->reseller, sizeof(p->reseller), "%s", in->name);
	PQclear(res);
	return 0;
}

/* Transaction of reseller.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct reseller_op *op = ctx;
	struct admin_place parent, p;

	if (admin_require(a, MC_ROLE_RESELLER, "create resellers", err) < 0 ||
	    find_parent(a, &op->in, &parent, err) < 0 ||
	    admin_limits_check(a, &parent, ADMIN_AT_RESELLER, 0, &op->in.lim,
			       err) < 0 ||
	    insert_reseller(a, &op->in, &parent, &p, err) < 0)
		return -1;
	if (admin_audit_new(a, &p, "reseller.create", op->in.name,
			    changes_of(&op->in, &parent), err) < 0)
		return -1;
	return admin_out(&op->out, reseller_json(a, p.reseller_id, err));
}

ADMIN_OP(admin_reseller_create)
{
	struct reseller_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (read_create(a, call->body, &op.in, err) < 0)
		return -1;
	return admin_run(a, create_txn, &op, &op.out, out_r, err);
}

/* Transaction of reseller.get. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct reseller_op *op = ctx;
	struct admin_place p;

	if (admin_find_reseller(a, op->call->args[0], &p, err) < 0)
		return -1;
	return admin_out(&op->out, reseller_json(a, p.reseller_id, err));
}

ADMIN_OP(admin_reseller_get)
{
	struct reseller_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_run(a, get_txn, &op, &op.out, out_r, err);
}

/* Is p the actor's own reseller? */
static bool own_reseller(const struct mc_admin *a, const struct admin_place *p)
{
	return a->actor.role == MC_ROLE_RESELLER &&
	       p->reseller_id == a->actor.reseller_id;
}

/* Applies an update body to reseller id. */
static int update_row(struct mc_admin *a, int64_t id,
		      const struct reseller_in *in, struct mc_error *err)
{
	char bufs[8][24], idbuf[24];
	const char *params[11] = {admin_id_text(id, idbuf), in->display_name,
				  in->status};

	admin_limits_params(&in->lim, bufs, params + 3);
	return admin_exec(a,
			  "UPDATE resellers SET display_name = coalesce($2, "
			  "display_name), status = coalesce($3, "
			  "status), " ADMIN_LIMIT_SET ", version = version + 1 "
			  "WHERE id = $1",
			  11, params, err) < 0
		       ? -1
		       : 0;
}

/* Locks the reseller at p and checks If-Match. */
static int lock_reseller(struct mc_admin *a, const struct reseller_op *op,
			 const struct admin_place *p, struct mc_error *err)
{
	return admin_lock_version(
		a, "SELECT version FROM resellers WHERE id = $1 FOR UPDATE",
		p->reseller_id, op->call, "such reseller", err);
}

/* Transaction of reseller.update. */
static int update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct reseller_op *op = ctx;
	struct admin_place p;
	bool limits = admin_limits_given(&op->in.lim, ADMIN_AT_RESELLER);

	if (admin_find_reseller(a, op->call->args[0], &p, err) < 0 ||
	    admin_require(a, MC_ROLE_RESELLER, "change resellers", err) < 0)
		return -1;
	if (own_reseller(a, &p) && (limits || op->in.status != NULL)) {
		mc_error_set(err, MC_ERR_DENIED,
			     "a reseller admin may not change the limits or "
			     "status of its own reseller");
		return -1;
	}
	if (lock_reseller(a, op, &p, err) < 0 ||
	    (limits &&
	     admin_limits_check(a, &p, ADMIN_AT_RESELLER, p.reseller_id,
				&op->in.lim, err) < 0) ||
	    update_row(a, p.reseller_id, &op->in, err) < 0)
		return -1;
	int r = admin_audit_new(a, &p, "reseller.update", p.reseller,
				changes_of(&op->in, NULL), err);
	a->dirty = op->in.status != NULL;
	if (r < 0)
		return -1;
	return admin_out(&op->out, reseller_json(a, p.reseller_id, err));
}

ADMIN_OP(admin_reseller_update)
{
	static const char *const allowed[] = {"display_name", "status",
					      "limits", NULL};
	struct reseller_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_body_check(a, call->body, allowed, true, err) < 0 ||
	    read_common(a, call->body, &op.in, err) < 0)
		return -1;
	return admin_run(a, update_txn, &op, &op.out, out_r, err);
}

/* Refuses to delete a reseller that still has tenants or resellers. */
static int check_empty(struct mc_admin *a, const struct admin_place *p,
		       struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(p->reseller_id, idbuf)};
	PGresult *res = admin_query(
		a,
		"SELECT (SELECT count(*) FROM tenants WHERE reseller_id = $1), "
		"(SELECT count(*) FROM resellers WHERE parent_id = $1)",
		1, params, err);

	if (res == NULL)
		return -1;
	int64_t tenants = admin_col_i64(res, 0, 0);
	int64_t resellers = admin_col_i64(res, 0, 1);
	PQclear(res);
	if (tenants == 0 && resellers == 0)
		return 0;
	mc_error_set(err, MC_ERR_EXISTS,
		     "reseller %s still has %lld tenants and %lld resellers: "
		     "delete or move them first",
		     p->reseller, (long long)tenants, (long long)resellers);
	return -1;
}

/* Transaction of reseller.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct reseller_op *op = ctx;
	struct admin_place p;
	char idbuf[24];
	const char *params[1];

	if (admin_find_reseller(a, op->call->args[0], &p, err) < 0 ||
	    admin_require(a, MC_ROLE_RESELLER, "delete resellers", err) < 0)
		return -1;
	if (own_reseller(a, &p)) {
		mc_error_set(err, MC_ERR_DENIED,
			     "a reseller admin may not delete its own "
			     "reseller");
		return -1;
	}
	params[0] = admin_id_text(p.reseller_id, idbuf);
	if (lock_reseller(a, op, &p, err) < 0 || check_empty(a, &p, err) < 0 ||
	    admin_audit(a, &p, "reseller.delete", p.reseller, NULL, err) < 0 ||
	    admin_exec(a, "DELETE FROM resellers WHERE id = $1", 1, params,
		       err) < 0)
		return -1;
	a->dirty = true;
	return 0;
}

ADMIN_OP(admin_reseller_delete)
{
	struct reseller_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err) < 0 ? -1 : 0;
}

static const struct admin_sort reseller_sorts[] = {
	{"name", "r.name"},
	{"created_at", "r.created_at"},
	{NULL, NULL},
};

struct list_op {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* Transaction of reseller.list: RLS keeps it to the actor's subtree. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_op *op = ctx;
	const char *params[6];
	int n = 0;
	struct mc_buf sql;
	const char *q = admin_filter(&op->l, "q");
	const char *status = admin_filter(&op->l, "status");
	const char *parent = admin_filter(&op->l, "parent");

	if (admin_require(a, MC_ROLE_RESELLER, "list resellers", err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT r.id, r.name, r.display_name, p.name, r.status, "
		      "r.version, %s, (%s)::text, r.id FROM resellers r "
		      "LEFT JOIN resellers p ON p.id = r.parent_id WHERE true",
		      ADMIN_TS("r.created_at"), op->l.sort->expr);
	admin_where(&sql, params, &n, q,
		    " AND (strpos(r.name, lower($?)) > 0 OR "
		    "strpos(lower(r.display_name), lower($?)) > 0)");
	admin_where(&sql, params, &n, status, " AND r.status = $?");
	admin_where(&sql, params, &n, parent, " AND p.name = $?");
	op->out = admin_list_run(a, &op->l, &sql, params, n, "r.id",
				 reseller_row, err);
	mc_buf_free(&sql);
	return op->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_reseller_list)
{
	struct list_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, reseller_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &op, &op.out, out_r, err);
}
