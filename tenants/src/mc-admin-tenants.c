/* mc-admin-tenants: the tenant operations (list, create, get, update,
 * delete, usage). The provider or a reseller above a tenant creates,
 * deletes, limits and suspends it; its tenant admin reads it and may
 * change its display_name only. A tenant with domains cannot be deleted.
 * queue_lifetime: how long the tenant's outbound mail may wait (seconds;
 * null = the server's [delivery] lifetime, which also caps it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"

#define DISPLAY_NAME_MAX   256
#define QUEUE_LIFETIME_MAX (60 * 86400) /* seconds: 60 days */

#define TENANT_LIFETIME "extract(epoch FROM t.queue_lifetime)::bigint"
#define TENANT_COLS                                                            \
	"t.id, t.name, t.display_name, r.name, t.status, t.imap_backend, "     \
	"t.version, " ADMIN_TS("t.created_at") ", " TENANT_LIFETIME
#define TENANT_FROM                                                            \
	" FROM tenants t LEFT JOIN resellers r ON r.id = t.reseller_id "

/* A tenant row (TENANT_COLS) as JSON with its limits and usage. */
static json_t *tenant_row(struct mc_admin *a, PGresult *res, int row,
			  struct mc_error *err)
{
	json_t *o = json_pack(
		"{sssssosssosIss}", "name", PQgetvalue(res, row, 1),
		"display_name", PQgetvalue(res, row, 2), "reseller",
		admin_col_json(res, row, 3), "status", PQgetvalue(res, row, 4),
		"imap_backend", admin_col_json(res, row, 5), "version",
		(json_int_t)admin_col_i64(res, row, 6), "created_at",
		PQgetvalue(res, row, 7));
	json_object_set_new(o, "queue_lifetime",
			    PQgetisnull(res, row, 8)
				    ? json_null()
				    : json_integer(admin_col_i64(res, row, 8)));
	if (admin_level_json_add(a, o, ADMIN_AT_TENANT,
				 admin_col_i64(res, row, 0), err) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The tenant id as GET returns it, or NULL. */
static json_t *tenant_json(struct mc_admin *a, int64_t id, struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(id, idbuf)};
	PGresult *res = admin_query(
		a, "SELECT " TENANT_COLS TENANT_FROM "WHERE t.id = $1", 1,
		params, err);
	json_t *o = NULL;

	if (res == NULL)
		return NULL;
	if (PQntuples(res) > 0)
		o = tenant_row(a, res, 0, err);
	else
		mc_error_set(err, MC_ERR_NOTFOUND, "no such tenant");
	PQclear(res);
	return o;
}

/* What a request body holds. */
struct tenant_in {
	const char *name, *display_name, *reseller, *status, *imap_backend;
	bool top;	    /* "reseller": null */
	bool clear_backend; /* "imap_backend": null */
	int64_t lifetime;   /* queue_lifetime: seconds, 0 = null, -1 unset */
	struct admin_limits lim;
};

struct tenant_op {
	const struct mc_admin_call *call;
	struct tenant_in in;
	json_t *out;
};

/* Checks status and imap_backend. */
static int read_status_backend(struct mc_admin *a, const json_t *body,
			       struct tenant_in *in, struct mc_error *err)
{
	struct mc_sockaddr sa;
	struct mc_error aerr = {0};

	if (admin_get_string(a, body, "status", 16, false, false, &in->status,
			     err) < 0 ||
	    admin_check_status(a, in->status, err) < 0)
		return -1;
	in->clear_backend = json_is_null(json_object_get(body, "imap_backend"));
	if (in->clear_backend)
		return 0;
	if (admin_get_string(a, body, "imap_backend", 64, false, false,
			     &in->imap_backend, err) < 0)
		return -1;
	if (in->imap_backend != NULL &&
	    mc_addr_parse(in->imap_backend, &sa, &aerr) < 0) {
		admin_field_error(a, err, "imap_backend",
				  "must be \"IP:port\" or null");
		return -1;
	}
	return 0;
}

/* queue_lifetime: seconds (1..60 days) or null; absent leaves -1. */
static int read_lifetime(struct mc_admin *a, const json_t *body,
			 struct tenant_in *in, struct mc_error *err)
{
	in->lifetime = -1;
	if (json_is_null(json_object_get(body, "queue_lifetime"))) {
		in->lifetime = 0;
		return 0;
	}
	return admin_get_int(a, body, "queue_lifetime", 1, QUEUE_LIFETIME_MAX,
			     false, &in->lifetime, err) < 0
		       ? -1
		       : 0;
}

/* Reads the members shared by create and update. */
static int read_common(struct mc_admin *a, const json_t *body,
		       struct tenant_in *in, struct mc_error *err)
{
	return admin_get_string(a, body, "display_name", DISPLAY_NAME_MAX,
				false, true, &in->display_name, err) < 0 ||
			       admin_limits_parse(
				       a, body,
				       admin_limit_keys(ADMIN_AT_TENANT),
				       &in->lim, err) < 0
		       ? -1
		       : 0;
}

/* Reads a create body. */
static int read_create(struct mc_admin *a, const json_t *body,
		       struct tenant_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {"name", "display_name",
					      "reseller", "limits", NULL};

	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    admin_get_string(a, body, "name", 63, true, false, &in->name, err) <
		    0 ||
	    read_common(a, body, in, err) < 0)
		return -1;
	return admin_read_named(a, body, in->name, "reseller", &in->reseller,
				&in->top, err);
}

/* The changes for the audit record. */
static json_t *changes_of(const struct tenant_in *in)
{
	json_t *ch = json_object();
	json_t *lim = admin_limits_changes(&in->lim, ADMIN_AT_TENANT);

	if (in->name != NULL)
		json_object_set_new(ch, "name", json_string(in->name));
	if (in->display_name != NULL)
		json_object_set_new(ch, "display_name",
				    json_string(in->display_name));
	if (in->reseller != NULL)
		json_object_set_new(ch, "reseller", json_string(in->reseller));
	if (in->status != NULL)
		json_object_set_new(ch, "status", json_string(in->status));
	if (in->imap_backend != NULL || in->clear_backend)
		json_object_set_new(ch, "imap_backend",
				    in->clear_backend
					    ? json_null()
					    : json_string(in->imap_backend));
	if (lim != NULL)
		json_object_set_new(ch, "limits", lim);
	if (in->lifetime >= 0)
		json_object_set_new(ch, "queue_lifetime",
				    in->lifetime > 0
					    ? json_integer(in->lifetime)
					    : json_null());
	return ch;
}

/* Inserts the tenant (no RETURNING: a reseller's scope sees the new row
 * only from the next statement on); its place into p. */
static int insert_tenant(struct mc_admin *a, const struct tenant_in *in,
			 const struct admin_place *rp, struct admin_place *p,
			 struct mc_error *err)
{
	char bufs[8][24], rid[24];
	const char *params[11] = {in->name, in->display_name,
				  rp->reseller_id != 0
					  ? admin_id_text(rp->reseller_id, rid)
					  : NULL};

	admin_limits_params(&in->lim, bufs, params + 3);
	if (admin_exec(a,
		       "INSERT INTO tenants (name, display_name, "
		       "reseller_id, " ADMIN_LIMIT_COLS
		       ") VALUES ($1, coalesce($2, ''), "
		       "$3::bigint, " ADMIN_LIMIT_VALUES ")",
		       11, params, err) < 0)
		return admin_exists_error(err, "tenant", in->name);
	return admin_find_tenant(a, in->name, p, err);
}

/* Transaction of tenant.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct tenant_op *op = ctx;
	struct admin_place rp, p;

	if (admin_require(a, MC_ROLE_RESELLER, "create tenants", err) < 0 ||
	    admin_parent_reseller(a, op->in.reseller, op->in.top,
				  "a reseller admin may only create tenants in "
				  "its own subtree",
				  &rp, err) < 0)
		return -1;
	rp.level = ADMIN_AT_TENANT;
	if (admin_limits_check(a, &rp, ADMIN_AT_TENANT, 0, &op->in.lim, err) <
		    0 ||
	    insert_tenant(a, &op->in, &rp, &p, err) < 0)
		return -1;
	json_t *ch = changes_of(&op->in);
	if (rp.reseller[0] != '\0')
		json_object_set_new(ch, "reseller", json_string(rp.reseller));
	if (admin_audit_new(a, &p, "tenant.create", op->in.name, ch, err) < 0)
		return -1;
	return admin_out(&op->out, tenant_json(a, p.tenant_id, err));
}

ADMIN_OP(admin_tenant_create)
{
	struct tenant_op op = {.call = call, .in.lifetime = -1};

	admin_op_begin(a, out_r);
	if (read_create(a, call->body, &op.in, err) < 0)
		return -1;
	return admin_run(a, create_txn, &op, &op.out, out_r, err);
}

/* Finds the tenant of the call for reading (tenant admin and above). */
static int find_readable(struct mc_admin *a, const struct tenant_op *op,
			 struct admin_place *p, struct mc_error *err)
{
	if (admin_find_tenant(a, op->call->args[0], p, err) < 0 ||
	    admin_require_inside(a, p, "read its tenant", err) < 0)
		return -1;
	return 0;
}

/* Transaction of tenant.get. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct tenant_op *op = ctx;
	struct admin_place p;

	if (find_readable(a, op, &p, err) < 0)
		return -1;
	return admin_out(&op->out, tenant_json(a, p.tenant_id, err));
}

ADMIN_OP(admin_tenant_get)
{
	struct tenant_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_run(a, get_txn, &op, &op.out, out_r, err);
}

/* A tenant admin may change the display_name only. */
static int check_update_role(struct mc_admin *a, const struct tenant_in *in,
			     struct mc_error *err)
{
	bool more = in->status != NULL || in->imap_backend != NULL ||
		    in->clear_backend || in->lifetime >= 0 ||
		    admin_limits_given(&in->lim, ADMIN_AT_TENANT);

	if (admin_require(a, MC_ROLE_TENANT, "change tenants", err) < 0)
		return -1;
	if (more && a->actor.role < MC_ROLE_RESELLER) {
		mc_error_set(err, MC_ERR_DENIED,
			     "a tenant admin may change only the display_name "
			     "of its tenant");
		return -1;
	}
	return 0;
}

/* Applies an update body to tenant id. */
static int update_row(struct mc_admin *a, int64_t id,
		      const struct tenant_in *in, struct mc_error *err)
{
	char bufs[8][24], idbuf[24], life[24];
	const char *params[13] = {admin_id_text(id, idbuf), in->display_name,
				  in->status};

	admin_limits_params(&in->lim, bufs, params + 3);
	params[11] = in->clear_backend ? "" : in->imap_backend;
	params[12] =
		in->lifetime >= 0 ? admin_id_text(in->lifetime, life) : NULL;
	return admin_exec(a,
			  "UPDATE tenants SET display_name = coalesce($2, "
			  "display_name), status = coalesce($3, "
			  "status), " ADMIN_LIMIT_SET
			  ", imap_backend = CASE WHEN $12::text "
			  "IS NULL THEN imap_backend ELSE nullif($12, '') END, "
			  "queue_lifetime = CASE WHEN $13::bigint IS NULL THEN "
			  "queue_lifetime WHEN $13::bigint = 0 THEN NULL ELSE "
			  "make_interval(secs => $13::bigint) END, "
			  "version = version + 1 WHERE id = $1",
			  13, params, err) < 0
		       ? -1
		       : 0;
}

/* Locks the tenant at p and checks If-Match. */
static int lock_tenant(struct mc_admin *a, const struct tenant_op *op,
		       const struct admin_place *p, struct mc_error *err)
{
	return admin_lock_version(
		a, "SELECT version FROM tenants WHERE id = $1 FOR UPDATE",
		p->tenant_id, op->call, "such tenant", err);
}

/* Transaction of tenant.update. */
static int update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct tenant_op *op = ctx;
	struct admin_place p;
	struct admin_limits *lim = &op->in.lim;

	if (admin_find_tenant(a, op->call->args[0], &p, err) < 0 ||
	    check_update_role(a, &op->in, err) < 0 ||
	    admin_require_inside(a, &p, "change its tenant", err) < 0 ||
	    lock_tenant(a, op, &p, err) < 0)
		return -1;
	int r = admin_limits_given(lim, ADMIN_AT_TENANT)
			? admin_limits_check(a, &p, ADMIN_AT_TENANT,
					     p.tenant_id, lim, err)
			: 0;
	if (r < 0 || update_row(a, p.tenant_id, &op->in, err) < 0)
		return -1;
	r = admin_audit_new(a, &p, "tenant.update", p.tenant,
			    changes_of(&op->in), err);
	a->dirty = op->in.status != NULL || op->in.imap_backend != NULL ||
		   op->in.clear_backend;
	if (r < 0)
		return -1;
	return admin_out(&op->out, tenant_json(a, p.tenant_id, err));
}

ADMIN_OP(admin_tenant_update)
{
	static const char *const allowed[] = {"display_name", "status",
					      "imap_backend", "limits",
					      "queue_lifetime", NULL};
	struct tenant_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_body_check(a, call->body, allowed, true, err) < 0 ||
	    read_common(a, call->body, &op.in, err) < 0 ||
	    read_status_backend(a, call->body, &op.in, err) < 0 ||
	    read_lifetime(a, call->body, &op.in, err) < 0)
		return -1;
	return admin_run(a, update_txn, &op, &op.out, out_r, err);
}

/* Refuses to delete a tenant that still has domains. */
static int check_no_domains(struct mc_admin *a, const struct admin_place *p,
			    struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(p->tenant_id, idbuf)};
	PGresult *res = admin_query(
		a, "SELECT count(*) FROM domains WHERE tenant_id = $1", 1,
		params, err);

	if (res == NULL)
		return -1;
	int64_t n = admin_col_i64(res, 0, 0);
	PQclear(res);
	if (n == 0)
		return 0;
	mc_error_set(err, MC_ERR_EXISTS,
		     "tenant %s still has %lld domains (or domain aliases): "
		     "delete them first",
		     p->tenant, (long long)n);
	return -1;
}

/* Transaction of tenant.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct tenant_op *op = ctx;
	struct admin_place p;
	char idbuf[24];
	const char *params[1];

	if (admin_find_tenant(a, op->call->args[0], &p, err) < 0 ||
	    admin_require(a, MC_ROLE_RESELLER, "delete tenants", err) < 0 ||
	    lock_tenant(a, op, &p, err) < 0 ||
	    check_no_domains(a, &p, err) < 0 ||
	    admin_audit(a, &p, "tenant.delete", p.tenant, NULL, err) < 0)
		return -1;
	params[0] = admin_id_text(p.tenant_id, idbuf);
	if (admin_exec(a, "DELETE FROM relay_routes WHERE tenant_id = $1", 1,
		       params, err) < 0 ||
	    admin_exec(a, "DELETE FROM tenants WHERE id = $1", 1, params, err) <
		    0)
		return -1;
	a->dirty = true;
	return 0;
}

ADMIN_OP(admin_tenant_delete)
{
	struct tenant_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err) < 0 ? -1 : 0;
}

/* The per-domain lines of tenant.usage. */
static json_t *domain_usage_lines(struct mc_admin *a, int64_t tenant_id,
				  struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(tenant_id, idbuf)};
	PGresult *res = admin_query(
		a,
		"SELECT d.name, d.n_users, d.n_aliases, d.n_lists, "
		"d.quota_bytes, (SELECT coalesce(sum(used_bytes), 0) FROM "
		"domain_usage du WHERE du.tenant_id = d.tenant_id AND "
		"du.domain_id = d.id) FROM domains d WHERE d.tenant_id = $1 "
		"AND d.alias_for IS NULL ORDER BY d.name",
		1, params, err);

	if (res == NULL)
		return NULL;
	json_t *lines = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(
			lines,
			json_pack(
				"{sssIsIsIsIsI}", "name", PQgetvalue(res, i, 0),
				"users", (json_int_t)admin_col_i64(res, i, 1),
				"aliases", (json_int_t)admin_col_i64(res, i, 2),
				"lists", (json_int_t)admin_col_i64(res, i, 3),
				"quota_bytes",
				(json_int_t)admin_col_i64(res, i, 4),
				"storage_bytes",
				(json_int_t)admin_col_i64(res, i, 5)));
	PQclear(res);
	return lines;
}

/* Transaction of tenant.usage: {name, limits, usage, domains}. */
static int usage_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct tenant_op *op = ctx;
	struct admin_place p;

	if (find_readable(a, op, &p, err) < 0)
		return -1;
	json_t *o = json_pack("{ss}", "name", p.tenant);
	json_t *lines = NULL;
	if (admin_level_json_add(a, o, ADMIN_AT_TENANT, p.tenant_id, err) < 0 ||
	    (lines = domain_usage_lines(a, p.tenant_id, err)) == NULL) {
		json_decref(o);
		return -1;
	}
	json_object_set_new(o, "domains", lines);
	op->out = o;
	return 0;
}

ADMIN_OP(admin_tenant_usage)
{
	struct tenant_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_run(a, usage_txn, &op, &op.out, out_r, err);
}

static const struct admin_sort tenant_sorts[] = {
	{"name", "t.name"},
	{"created_at", "t.created_at"},
	{NULL, NULL},
};

struct list_op {
	struct admin_list l;
	json_t *out;
};

/* Transaction of tenant.list: RLS keeps it to the actor's subtree. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_op *op = ctx;
	const char *params[6];
	int n = 0;
	struct mc_buf sql;
	const char *q = admin_filter(&op->l, "q");
	const char *status = admin_filter(&op->l, "status");
	const char *reseller = admin_filter(&op->l, "reseller");

	if (admin_require(a, MC_ROLE_TENANT, "list tenants", err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " TENANT_COLS ", (%s)::text, t.id" TENANT_FROM
		      "WHERE true",
		      op->l.sort->expr);
	admin_where(&sql, params, &n, q,
		    " AND (strpos(t.name, lower($?)) > 0 OR "
		    "strpos(lower(t.display_name), lower($?)) > 0)");
	admin_where(&sql, params, &n, status, " AND t.status = $?");
	admin_where(&sql, params, &n, reseller, " AND r.name = $?");
	op->out = admin_list_run(a, &op->l, &sql, params, n, "t.id", tenant_row,
				 err);
	mc_buf_free(&sql);
	return op->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_tenant_list)
{
	struct list_op op = {0};

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, tenant_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &op, &op.out, out_r, err);
}
