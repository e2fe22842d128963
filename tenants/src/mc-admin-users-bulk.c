/* mc-admin-users-bulk: the operations on many users at once: user.import
 * (a CSV body, each line in its own transaction, existing users skipped,
 * a report per line), user.batch (names from a pattern such as
 * "user{1..50}", all created or none) and user.export (the domain's users
 * as CSV text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-name-pattern.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-user-csv.h"
#include "mc-admin-users-private.h"

#define NUM		 24
#define BATCH_MAX	 1000
#define PATTERN_MAX	 200
#define DISPLAY_NAME_MAX 256

/* The departments of a domain with their paths ("Sales/EMEA"). */
#define DEPT_PATHS                                                             \
	"WITH RECURSIVE dp(id, path, depth) AS (SELECT id, name, 0 FROM "      \
	"departments WHERE tenant_id = $1 AND domain_id = $2 AND parent_id "   \
	"IS NULL UNION ALL SELECT c.id, dp.path || '/' || c.name, dp.depth "   \
	"+ 1 FROM departments c JOIN dp ON c.parent_id = dp.id WHERE "         \
	"c.tenant_id = $1 AND dp.depth < 64) "

/* Forgets the problem of an earlier operation of this context. */
static void problem_reset(struct mc_admin *a)
{
	json_decref(a->problem);
	a->problem = NULL;
}

struct domain_ctx {
	const char *domain, *what;
	struct admin_place place;
};

/* Transaction that only finds the domain and checks the role. */
static int domain_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_ctx *c = ctx;

	return admin_users_domain(a, c->domain, &c->place, c->what, err);
}

/* user.import ------------------------------------------------------------- */

struct line_ctx {
	const char *domain;
	const char *department; /* path, NULL = none */
	struct admin_new_user u;
	bool skipped;
};

/* The id of the department at path in the domain at p. */
static int department_by_path(struct mc_admin *a, const struct admin_place *p,
			      const char *path, int64_t *id_r,
			      struct mc_error *err)
{
	char tid[NUM], did[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did), path};
	PGresult *res = admin_query(a,
				    DEPT_PATHS "SELECT id FROM dp WHERE "
					       "path = $3 LIMIT 1",
				    3, params, err);
	int found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (!found)
		admin_field_error(a, err, "department", "no department %s",
				  path);
	return found ? 0 : -1;
}

/* Transaction of one import line: skipped when the user exists. */
static int line_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct line_ctx *c = ctx;
	struct admin_place p;
	int r;

	c->skipped = false;
	if (admin_users_domain(a, c->domain, &p, "import users", err) < 0)
		return -1;
	r = admin_user_exists(a, &p, c->u.local_part, err);
	if (r != 0) {
		c->skipped = r > 0;
		return r > 0 ? 0 : -1;
	}
	c->u.department_id = 0;
	if (c->department != NULL &&
	    department_by_path(a, &p, c->department, &c->u.department_id, err) <
		    0)
		return -1;
	return admin_user_insert(a, &p, &c->u, err);
}

/* The local part of a row into local: its local_part, or its address,
 * which must be in domain. NULL, or why not. */
static const char *row_local(const struct mc_user_csv_row *row,
			     const char *domain, char *local)
{
	char d[MC_DOMAIN_MAX + 1];

	if (row->address != NULL) {
		if (mc_tenants_split_address(row->address, true, local, d,
					     NULL) < 0)
			return "bad address";
		return mc_str_eq_icase(d, domain) ? NULL
						  : "address of another domain";
	}
	if (row->local_part == NULL)
		return "local_part is required";
	if (strlen(row->local_part) > MC_LOCAL_PART_MAX)
		return "bad local part";
	snprintf(local, MC_LOCAL_PART_MAX + 1, "%s", row->local_part);
	mc_str_lower(local);
	return mc_tenants_valid_local_part(local) ? NULL : "bad local part";
}

/* The checks of a line before its transaction: NULL or its error. */
static const char *line_check(const struct mc_user_csv_row *row,
			      const char *domain, char *local)
{
	local[0] = '\0';
	if (row->error != NULL)
		return row->error;
	const char *why = row_local(row, domain, local);
	if (why != NULL)
		return why;
	if (row->password == NULL)
		return "password is required";
	return NULL;
}

/* One line of the report. */
static json_t *report_line(const struct mc_user_csv_row *row, const char *local,
			   const char *result, const char *error)
{
	const char *shown = local[0] != '\0'	      ? local
			    : row->local_part != NULL ? row->local_part
						      : row->address;
	json_t *o = json_pack("{sIss?ss}", "line", (json_int_t)row->line,
			      "local_part", shown, "result", result);

	if (o == NULL) /* a name that is not UTF-8 */
		o = json_pack("{sIsnss}", "line", (json_int_t)row->line,
			      "local_part", "result", result);
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	return o;
}

/* The error text of a failed line (without the "invalid request: "). */
static const char *line_error(const struct mc_error *e)
{
	const char *prefix = "invalid request: ";

	if (strncmp(e->msg, prefix, strlen(prefix)) == 0)
		return e->msg + strlen(prefix);
	return e->msg;
}

/* Counts a line of result in the report ("error" lines as "failed"). */
static void count_line(json_t *report, const char *result)
{
	const char *key = strcmp(result, "error") == 0 ? "failed" : result;
	json_int_t n = json_integer_value(json_object_get(report, key));

	json_object_set_new(report, key, json_integer(n + 1));
}

/* Imports one row; its result into the report. -1 only when the database
 * is unavailable (the import stops). */
static int import_row(struct mc_admin *a, const char *domain,
		      const struct mc_user_csv_row *row, json_t *report,
		      struct mc_error *err)
{
	char local[MC_LOCAL_PART_MAX + 1];
	const char *why = line_check(row, domain, local);
	struct line_ctx c = {.domain = domain, .department = row->department};
	struct mc_error e = {0};
	const char *result = "error";

	if (why == NULL) {
		c.u = (struct admin_new_user){
			.local_part = local,
			.password = row->password,
			.display_name = row->display_name,
			.quota_bytes =
				row->has_quota ? (int64_t)row->quota_bytes : -1,
			.status = row->status};
		if (admin_txn(a, line_txn, &c, &e) == 0)
			result = c.skipped ? "skipped" : "created";
		else if (!mc_error_is_temporary(&e))
			why = line_error(&e);
		else {
			mc_error_set(err, e.cls, "%s", e.msg);
			return -1;
		}
	}
	count_line(report, result);
	json_array_append_new(json_object_get(report, "lines"),
			      report_line(row, local, result, why));
	return 0;
}

/* Parses the CSV body: whole-file problems are a field error "body". */
static int import_parse(struct mc_admin *a, const struct mc_admin_call *call,
			struct mc_user_csv **csv_r, struct mc_error *err)
{
	struct mc_error e = {0};

	if (call->raw == NULL) {
		admin_field_error(a, err, "body", "a CSV body is required");
		return -1;
	}
	if (mc_user_csv_parse(call->raw, call->raw_len, NULL, csv_r, &e) == 0)
		return 0;
	admin_field_error(a, err, "body", "%s", e.msg);
	return -1;
}

ADMIN_OP(admin_user_import)
{
	struct domain_ctx dc = {.domain = admin_arg(call, 0),
				.what = "import users"};
	struct mc_user_csv *csv = NULL;
	const struct mc_user_csv_row *rows;
	json_t *report;
	size_t n;

	*out_r = NULL;
	problem_reset(a);
	if (import_parse(a, call, &csv, err) < 0)
		return -1;
	if (admin_txn(a, domain_txn, &dc, err) < 0) {
		mc_user_csv_destroy(&csv);
		return -1;
	}
	report = json_pack("{sisisiso}", "created", 0, "skipped", 0, "failed",
			   0, "lines", json_array());
	rows = mc_user_csv_rows(csv, &n);
	for (size_t i = 0; i < n; i++) {
		if (import_row(a, dc.place.domain, &rows[i], report, err) < 0) {
			json_decref(report);
			mc_user_csv_destroy(&csv);
			return -1;
		}
	}
	mc_user_csv_destroy(&csv);
	*out_r = report;
	return 0;
}

/* user.batch -------------------------------------------------------------- */

struct batch_req {
	const char *pattern, *password, *display_name;
	int64_t quota, department;
	char **names;
	size_t n;
};

struct batch_ctx {
	const struct mc_admin_call *call;
	const struct batch_req *req;
	json_t *created;
};

/* The department member: an id or null (0). */
static int batch_department(struct mc_admin *a, const json_t *body,
			    int64_t *id_r, struct mc_error *err)
{
	json_t *v = json_object_get(body, "department");

	*id_r = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	return admin_get_int(a, body, "department", 1, INT64_MAX, false, id_r,
			     err) < 0
		       ? -1
		       : 0;
}

/* Expands the pattern into lower-cased local parts, each checked. */
static int batch_names(struct mc_admin *a, struct mc_pool *pool,
		       struct batch_req *req, struct mc_error *err)
{
	struct mc_error e = {0};

	if (mc_name_pattern_expand(pool, req->pattern, BATCH_MAX, &req->names,
				   &req->n, &e) < 0) {
		admin_field_error(a, err, "pattern", "%s", e.msg);
		return -1;
	}
	for (size_t i = 0; i < req->n; i++) {
		mc_str_lower(req->names[i]);
		if (!mc_tenants_valid_local_part(req->names[i])) {
			admin_field_error(a, err, "pattern",
					  "\"%.64s\" is not a valid local part",
					  req->names[i]);
			return -1;
		}
	}
	return 0;
}

/* The body of user.batch. */
static int batch_parse(struct mc_admin *a, const json_t *body,
		       struct mc_pool *pool, struct batch_req *req,
		       struct mc_error *err)
{
	static const char *const fields[] = {"pattern",	     "password",
					     "display_name", "quota_bytes",
					     "department",   NULL};
	int r;

	req->quota = -1;
	if (admin_body_check(a, body, fields, true, err) < 0 ||
	    admin_get_string(a, body, "pattern", PATTERN_MAX, true, false,
			     &req->pattern, err) < 0 ||
	    admin_get_string(a, body, "password", MC_PASSWORD_MAX_BYTES, false,
			     false, &req->password, err) < 0 ||
	    admin_get_string(a, body, "display_name", DISPLAY_NAME_MAX, false,
			     true, &req->display_name, err) < 0 ||
	    batch_department(a, body, &req->department, err) < 0)
		return -1;
	r = admin_get_int(a, body, "quota_bytes", 0, INT64_MAX, false,
			  &req->quota, err);
	if (r < 0)
		return -1;
	if (r == 0)
		req->quota = -1;
	return batch_names(a, pool, req, err);
}

/* Creates one user of the batch and adds it to the created list. */
static int batch_one(struct mc_admin *a, const struct admin_place *p,
		     struct batch_ctx *c, const char *name,
		     struct mc_error *err)
{
	const struct batch_req *req = c->req;
	struct admin_new_user u = {
		.local_part = name,
		.password = req->password,
		.display_name = req->display_name,
		.department_id = req->department,
		.quota_bytes = req->quota,
	};
	char address[MC_ADDRESS_MAX + 2];
	json_t *o;

	if (admin_user_insert(a, p, &u, err) < 0) {
		mc_secure_zero(u.generated, sizeof(u.generated));
		return -1;
	}
	snprintf(address, sizeof(address), "%s@%s", name, p->domain);
	o = json_pack("{ss}", "address", address);
	if (u.generated[0] != '\0')
		json_object_set_new(o, "password", json_string(u.generated));
	mc_secure_zero(u.generated, sizeof(u.generated));
	json_array_append_new(c->created, o);
	return 0;
}

/* Transaction of user.batch: every user or none. */
static int batch_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct batch_ctx *c = ctx;
	struct admin_place p;

	json_decref(c->created);
	c->created = json_array();
	if (admin_users_domain(a, admin_arg(c->call, 0), &p, "create users",
			       err) < 0)
		return -1;
	for (size_t i = 0; i < c->req->n; i++) {
		if (batch_one(a, &p, c, c->req->names[i], err) < 0)
			return -1;
	}
	return 0;
}

ADMIN_OP(admin_user_batch)
{
	struct mc_pool *pool = mc_pool_create("user-batch", 0);
	struct batch_req req = {0};
	struct batch_ctx c = {.call = call, .req = &req};
	int r = -1;

	*out_r = NULL;
	problem_reset(a);
	if (batch_parse(a, call->body, pool, &req, err) == 0)
		r = admin_txn(a, batch_txn, &c, err);
	mc_pool_destroy(&pool);
	if (r < 0) {
		json_decref(c.created);
		return -1;
	}
	*out_r = json_pack("{so}", "created", c.created);
	return 0;
}

/* user.export ------------------------------------------------------------- */

/* clang-format off */
#define EXPORT_SQL \
	DEPT_PATHS "SELECT u.local_part, u.display_name, u.quota_bytes, " \
	"u.used_bytes, dp.path, u.status, " ADMIN_TS("u.created_at") \
	" FROM users u LEFT JOIN dp ON dp.id = u.department_id " \
	"WHERE u.tenant_id = $1 AND u.domain_id = $2"
/* clang-format on */
#define EXPORT_ORDER " ORDER BY u.local_part"
/* A department admin's export: only its subtree. */
#define EXPORT_SUBTREE                                                         \
	" AND u.department_id IN (WITH RECURSIVE sub(id) AS (SELECT id FROM "  \
	"departments WHERE tenant_id = $1 AND id = $3::bigint UNION SELECT "   \
	"c.id FROM departments c JOIN sub ON c.parent_id = sub.id WHERE "      \
	"c.tenant_id = $1) SELECT id FROM sub)"

struct export_ctx {
	const struct mc_admin_call *call;
	json_t *out;
};

/* The CSV text of the export rows. */
static json_t *export_csv(const PGresult *res)
{
	struct mc_buf buf;
	json_t *out;

	mc_buf_init(&buf, NULL, 0);
	mc_user_csv_export_header(&buf);
	for (int i = 0; i < PQntuples(res); i++) {
		struct mc_user_csv_export_row row = {
			.local_part = PQgetvalue(res, i, 0),
			.display_name = PQgetvalue(res, i, 1),
			.quota_bytes =
				strtoull(PQgetvalue(res, i, 2), NULL, 10),
			.used_bytes = strtoull(PQgetvalue(res, i, 3), NULL, 10),
			.department = PQgetisnull(res, i, 4)
					      ? NULL
					      : PQgetvalue(res, i, 4),
			.status = PQgetvalue(res, i, 5),
			.created_at = PQgetvalue(res, i, 6),
		};
		mc_user_csv_export_row(&buf, &row);
	}
	out = json_stringn(mc_buf_cstr(&buf), buf.len);
	mc_buf_free(&buf);
	return out;
}

/* Transaction of user.export. */
static int export_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct export_ctx *c = ctx;
	struct admin_place p;
	char tid[NUM], did[NUM], dept[NUM];
	bool sub = a->actor.role == MC_ROLE_DEPARTMENT;
	const char *params[] = {tid, did, dept};
	PGresult *res;

	json_decref(c->out);
	c->out = NULL;
	if (admin_users_domain(a, admin_arg(c->call, 0), &p, "export users",
			       err) < 0)
		return -1;
	admin_id_text(p.tenant_id, tid);
	admin_id_text(p.domain_id, did);
	admin_id_text(a->actor.department_id, dept);
	res = admin_query(a,
			  sub ? EXPORT_SQL EXPORT_SUBTREE EXPORT_ORDER
			      : EXPORT_SQL EXPORT_ORDER,
			  sub ? 3 : 2, params, err);
	if (res == NULL)
		return -1;
	c->out = export_csv(res);
	PQclear(res);
	if (c->out != NULL)
		return 0;
	mc_error_set(err, MC_ERR_PERMANENT, "the export is not valid UTF-8");
	return -1;
}

ADMIN_OP(admin_user_export)
{
	struct export_ctx c = {.call = call};

	*out_r = NULL;
	problem_reset(a);
	return admin_run(a, export_txn, &c, &c.out, out_r, err);
}
