/* mc-admin-policies: the operations on a domain's named user policies
 * (policy.*): selectors (departments of the domain, member local parts),
 * a position (the first matching policy in position order applies) and
 * settings that each may be null = inherit from the domain and server.
 * Domain admins and above manage them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define DEPARTMENTS_MAX 1000
#define MEMBERS_MAX	10000
#define POSITION_MAX	1000000

/* The writable columns after name, in the order of the SQL below. */
enum pcol {
	P_POSITION = 0,
	P_DEPARTMENTS,
	P_MEMBERS,
	P_ATTACH,
	P_SEND_COUNT,
	P_SEND_BYTES,
	P_INTERNAL,
	P_PROTOCOLS,
	P_COUNT
};

enum skind { S_INT, S_BOOL, S_PROTOCOLS };

/* The members of "settings": JSON name, column, type. */
static const struct {
	const char *field;
	enum pcol col;
	enum skind kind;
} settings[] = {
	{"attachment_max_bytes", P_ATTACH, S_INT},
	{"daily_send_count", P_SEND_COUNT, S_INT},
	{"daily_send_bytes", P_SEND_BYTES, S_INT},
	{"internal_only", P_INTERNAL, S_BOOL},
	{"protocols", P_PROTOCOLS, S_PROTOCOLS},
};
#define N_SETTINGS (sizeof(settings) / sizeof(*settings))

static const char *const protocol_names[] = {"imap", "pop3", "smtp", "webmail"};

#define POLICY_COLS                                                            \
	"p.id, p.name, p.position, p.departments::text, p.members::text, "     \
	"p.attachment_max_bytes, p.send_count_daily, p.send_bytes_daily, "     \
	"p.internal_only, p.protocols::text, p.version, " ADMIN_TS(            \
		"p.created_at")
/* Column of POLICY_COLS holding the first setting. */
#define COL_SETTINGS 5

/* The domain of the policies, found in the actor's subtree; only domain
 * admins and above manage policies. Its ids as text into tid, did. */
static int open_domain(struct mc_admin *a, const char *name,
		       struct admin_place *p, char *tid, char *did,
		       struct mc_error *err)
{
	const char *what = "manage policies";

	if (admin_find_domain(a, name, p, err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, what, err) < 0 ||
	    admin_require_inside(a, p, what, err) < 0)
		return -1;
	admin_id_text(p->tenant_id, tid);
	admin_id_text(p->domain_id, did);
	return 0;
}

/* Input ------------------------------------------------------------------ */

struct policy_in {
	char name[64]; /* policy.create */
	bool has[P_COUNT];
	char *val[P_COUNT]; /* text parameter; NULL = SQL NULL */
	json_t *changes;    /* for the audit record */
};

static void policy_in_free(struct policy_in *in)
{
	for (int i = 0; i < P_COUNT; i++)
		free(in->val[i]);
	json_decref(in->changes);
}

/* Sets column col to text (owned) and records the change. */
static void set_col(struct policy_in *in, enum pcol col, char *text,
		    const char *field, json_t *value)
{
	free(in->val[col]);
	in->val[col] = text;
	in->has[col] = true;
	json_object_set(in->changes, field, value);
}

/* name: lower-cased, the rules of tenant names. */
static int parse_name(struct mc_admin *a, const json_t *body, bool required,
		      struct policy_in *in, struct mc_error *err)
{
	const char *s;
	int r = admin_get_string(a, body, "name", 63, required, false, &s, err);

	if (r <= 0)
		return r;
	snprintf(in->name, sizeof(in->name), "%s", s);
	mc_str_lower(in->name);
	if (!mc_tenants_valid_name(in->name)) {
		admin_field_error(a, err, "name",
				  "use 1 to 63 letters, digits, '.', '_' or "
				  "'-', starting with a letter or digit");
		return -1;
	}
	json_object_set_new(in->changes, "name", json_string(in->name));
	return 1;
}

/* Is id among the first n of ids? */
static bool has_id(const json_t *ids, size_t n, json_int_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (json_integer_value(json_array_get(ids, i)) == id)
			return true;
	}
	return false;
}

/* departments: an array of distinct department ids (checked against the
 * domain inside the transaction). */
static int parse_departments(struct mc_admin *a, const json_t *body,
			     struct policy_in *in, struct mc_error *err)
{
	json_t *v = json_object_get(body, "departments"), *item;
	size_t i;
	struct mc_buf buf;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > DEPARTMENTS_MAX) {
		admin_field_error(a, err, "departments",
				  "must be an array of at most %d department "
				  "ids",
				  DEPARTMENTS_MAX);
		return -1;
	}
	mc_buf_init(&buf, NULL, 0);
	mc_buf_append_c(&buf, '{');
	json_array_foreach(v, i, item)
	{
		if (!json_is_integer(item) || json_integer_value(item) <= 0 ||
		    has_id(v, i, json_integer_value(item))) {
			admin_field_error(a, err, "departments",
					  "item %zu must be a department id "
					  "given once",
					  i);
			mc_buf_free(&buf);
			return -1;
		}
		mc_buf_printf(&buf, "%s%lld", i > 0 ? "," : "",
			      (long long)json_integer_value(item));
	}
	mc_buf_append_c(&buf, '}');
	set_col(in, P_DEPARTMENTS, mc_strdup(mc_buf_cstr(&buf)), "departments",
		v);
	mc_buf_free(&buf);
	return 1;
}

/* members: local parts (lower-cased), users or not yet. */
static int parse_members(struct mc_admin *a, const json_t *body,
			 struct policy_in *in, struct mc_error *err)
{
	const json_t *arr = NULL, *item;
	size_t i;
	int r = admin_get_strings(a, body, "members", MEMBERS_MAX,
				  MC_LOCAL_PART_MAX, false, &arr, err);

	if (r <= 0)
		return r;
	json_t *norm = json_array();
	json_array_foreach(arr, i, item)
	{
		char local[MC_LOCAL_PART_MAX + 1];
		snprintf(local, sizeof(local), "%s", json_string_value(item));
		mc_str_lower(local);
		if (!mc_tenants_valid_local_part(local)) {
			admin_field_error(a, err, "members",
					  "item %zu is not a local part", i);
			json_decref(norm);
			return -1;
		}
		json_array_append_new(norm, json_string(local));
	}
	set_col(in, P_MEMBERS, admin_pg_array(norm), "members", norm);
	json_decref(norm);
	return 1;
}

/* The protocols setting: distinct names of imap, pop3, smtp, webmail. */
static char *protocols_literal(const json_t *v)
{
	bool seen[4] = {false};
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return NULL;
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);
		size_t k = 0;
		while (k < 4 &&
		       (s == NULL || strcmp(s, protocol_names[k]) != 0))
			k++;
		if (k == 4 || seen[k])
			return NULL;
		seen[k] = true;
	}
	return admin_pg_array(v);
}

/* The column text of setting k's value v (not null), or NULL if bad. */
static char *setting_text(size_t k, const json_t *v)
{
	if (settings[k].kind == S_INT)
		return json_is_integer(v) && json_integer_value(v) >= 0
			       ? mc_asprintf("%lld",
					     (long long)json_integer_value(v))
			       : NULL;
	if (settings[k].kind == S_BOOL)
		return json_is_boolean(v)
			       ? mc_strdup(json_is_true(v) ? "true" : "false")
			       : NULL;
	return protocols_literal(v);
}

/* What setting k's value must be, for its field error. */
static const char *setting_rule(size_t k)
{
	if (settings[k].kind == S_INT)
		return "must be an integer >= 0 or null";
	if (settings[k].kind == S_BOOL)
		return "must be true, false or null";
	return "must be distinct names of imap, pop3, smtp, webmail, or null";
}

/* One member of settings as a column value (json null = inherit). */
static int parse_setting(struct mc_admin *a, size_t k, const json_t *v,
			 struct policy_in *in, struct mc_error *err)
{
	char field[64];
	char *text = NULL;

	snprintf(field, sizeof(field), "settings.%s", settings[k].field);
	if (!json_is_null(v) && (text = setting_text(k, v)) == NULL) {
		admin_field_error(a, err, field, "%s", setting_rule(k));
		return -1;
	}
	set_col(in, settings[k].col, text, settings[k].field, (json_t *)v);
	return 0;
}

/* settings: an object of the members above, each may be null. */
static int parse_settings(struct mc_admin *a, const json_t *body,
			  struct policy_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {
		"attachment_max_bytes", "daily_send_count", "daily_send_bytes",
		"internal_only",	"protocols",	    NULL};
	json_t *v = json_object_get(body, "settings");

	if (v == NULL)
		return 0;
	if (!json_is_object(v)) {
		admin_field_error(a, err, "settings", "must be an object");
		return -1;
	}
	if (admin_body_check(a, v, allowed, true, err) < 0)
		return -1;
	for (size_t k = 0; k < N_SETTINGS; k++) {
		json_t *s = json_object_get(v, settings[k].field);
		if (s != NULL && parse_setting(a, k, s, in, err) < 0)
			return -1;
	}
	return 0;
}

/* The body of policy.create (create: name required) or policy.update
 * (no name: policies are not renamed). */
static int parse_policy(struct mc_admin *a, const json_t *body, bool create,
			struct policy_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {
		"name", "position", "departments", "members", "settings", NULL};
	int64_t pos;
	int r;

	memset(in, 0, sizeof(*in));
	in->changes = json_object();
	if (!create && body != NULL && json_object_get(body, "name") != NULL) {
		admin_field_error(a, err, "name",
				  "a policy cannot be renamed; create a new "
				  "one");
		return -1;
	}
	/* updates take the members after "name" */
	if (admin_body_check(a, body, create ? allowed : allowed + 1, true,
			     err) < 0 ||
	    (create && parse_name(a, body, true, in, err) < 0))
		return -1;
	r = admin_get_int(a, body, "position", -POSITION_MAX, POSITION_MAX,
			  false, &pos, err);
	if (r < 0)
		return -1;
	if (r > 0)
		set_col(in, P_POSITION, mc_asprintf("%lld", (long long)pos),
			"position", json_object_get(body, "position"));
	if (parse_departments(a, body, in, err) < 0 ||
	    parse_members(a, body, in, err) < 0 ||
	    parse_settings(a, body, in, err) < 0)
		return -1;
	return 0;
}

/* Output ----------------------------------------------------------------- */

/* A PostgreSQL bigint array "{1,2}" as a JSON array of integers. */
static json_t *id_array(const char *text)
{
	json_t *out = json_array();
	const char *s = text != NULL && *text == '{' ? text + 1 : "";

	while (*s != '\0' && *s != '}') {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s)
			break;
		json_array_append_new(out, json_integer(v));
		s = *end == ',' ? end + 1 : end;
	}
	return out;
}

/* Setting k of a row as JSON (null = inherit). */
static json_t *setting_json(const PGresult *res, int row, size_t k)
{
	int col = COL_SETTINGS + (int)k;
	const char *v = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col))
		return json_null();
	if (settings[k].kind == S_INT)
		return json_integer(strtoll(v, NULL, 10));
	if (settings[k].kind == S_BOOL)
		return json_boolean(*v == 't');
	return admin_json_array(v);
}

/* A policy row (POLICY_COLS) as its JSON shape. */
static json_t *policy_json(const PGresult *res, int row, const void *unused)
{
	(void)unused;
	json_t *set = json_object();

	for (size_t k = 0; k < N_SETTINGS; k++)
		json_object_set_new(set, settings[k].field,
				    setting_json(res, row, k));
	return json_pack("{sssIsosososIss}", "name", PQgetvalue(res, row, 1),
			 "position", (json_int_t)admin_col_i64(res, row, 2),
			 "departments", id_array(PQgetvalue(res, row, 3)),
			 "members", admin_json_array(PQgetvalue(res, row, 4)),
			 "settings", set, "version",
			 (json_int_t)admin_col_i64(res, row, 10), "created_at",
			 PQgetvalue(res, row, 11));
}

/* The result of a one-row query as a policy, or NOTFOUND. */
static int policy_result(PGresult *res, const char *name, const char *domain,
			 json_t **out_r, struct mc_error *err)
{
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no policy %s in %s", name,
			     domain);
		return -1;
	}
	*out_r = policy_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

/* Operations ------------------------------------------------------------- */

struct policy_ctx {
	const struct mc_admin_call *call;
	struct policy_in in;
	char name[64]; /* get/update/delete: the policy of the path */
	json_t *out;
};

/* Every department of in must be one of the domain's (field error). */
static int check_departments(struct mc_admin *a, const struct policy_in *in,
			     const struct admin_place *p, const char *tid,
			     const char *did, struct mc_error *err)
{
	const char *params[] = {tid, did, in->val[P_DEPARTMENTS]};
	PGresult *res;

	if (!in->has[P_DEPARTMENTS])
		return 0;
	res = admin_query(a,
			  "SELECT x FROM unnest($3::bigint[]) x WHERE NOT "
			  "EXISTS (SELECT 1 FROM departments d WHERE "
			  "d.tenant_id = $1 AND d.domain_id = $2 AND d.id = x) "
			  "LIMIT 1",
			  3, params, err);
	if (res == NULL)
		return -1;
	int bad = PQntuples(res) > 0;
	if (bad)
		admin_field_error(a, err, "departments",
				  "%s is not a department of %s",
				  PQgetvalue(res, 0, 0), p->domain);
	PQclear(res);
	return bad ? -1 : 0;
}

/* The audit record of a policy change. */
static int policy_audit(struct mc_admin *a, const struct admin_place *p,
			const char *action, const char *name,
			const json_t *changes, struct mc_error *err)
{
	char target[MC_DOMAIN_MAX + 80];

	snprintf(target, sizeof(target), "%s policy %s", p->domain, name);
	a->dirty = true;
	return admin_audit(a, p, action, target, changes, err);
}

/* The EXISTS text of a duplicate name. */
static void exists_text(struct mc_error *err, const char *name,
			const char *domain)
{
	if (err != NULL && err->cls == MC_ERR_EXISTS)
		mc_error_reset(err, MC_ERR_EXISTS,
			       "policy %s already exists in %s", name, domain);
}

/* Transaction body of policy.create. */
static int policy_create_txn(struct mc_admin *a, void *ctx,
			     struct mc_error *err)
{
	struct policy_ctx *c = ctx;
	struct policy_in *in = &c->in;
	struct admin_place p;
	char tid[24], did[24];

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    check_departments(a, in, &p, tid, did, err) < 0)
		return -1;
	const char *params[] = {tid,
				did,
				in->name,
				in->val[P_POSITION],
				in->val[P_DEPARTMENTS],
				in->val[P_MEMBERS],
				in->val[P_ATTACH],
				in->val[P_SEND_COUNT],
				in->val[P_SEND_BYTES],
				in->val[P_INTERNAL],
				in->val[P_PROTOCOLS]};
	PGresult *res = admin_query(
		a,
		"INSERT INTO policies AS p (tenant_id, domain_id, name, "
		"position, departments, members, attachment_max_bytes, "
		"send_count_daily, send_bytes_daily, internal_only, protocols) "
		"VALUES ($1::bigint, $2::bigint, $3, coalesce($4::integer, "
		"(SELECT coalesce(max(position) + 1, 0) FROM policies WHERE "
		"tenant_id = $1::bigint AND domain_id = $2::bigint)), "
		"coalesce($5::bigint[], '{}'), coalesce($6::text[], '{}'), "
		"$7::bigint, $8::bigint, $9::bigint, $10::boolean, "
		"$11::text[]) RETURNING " POLICY_COLS,
		11, params, err);
	if (res == NULL)
		exists_text(err, in->name, p.domain);
	if (policy_result(res, in->name, p.domain, &c->out, err) < 0)
		return -1;
	return policy_audit(a, &p, "policy.create", in->name, in->changes, err);
}

/* Runs fn on ctx; hands the output over. */
static int policy_run(struct mc_admin *a, admin_txn_fn *fn,
		      struct policy_ctx *c, json_t **out_r,
		      struct mc_error *err)
{
	return admin_run(a, fn, c, &c->out, out_r, err);
}

ADMIN_OP(admin_policy_create)
{
	struct policy_ctx c = {.call = call};
	int r = -1;

	*out_r = NULL;
	if (parse_policy(a, call->body, true, &c.in, err) == 0)
		r = policy_run(a, policy_create_txn, &c, out_r, err);
	policy_in_free(&c.in);
	return r;
}

/* Transaction body of policy.get. */
static int policy_get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct policy_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[] = {tid, did, c->name};

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0)
		return -1;
	return policy_result(admin_query(a,
					 "SELECT " POLICY_COLS
					 " FROM policies p WHERE "
					 "p.tenant_id = $1 AND p.domain_id = "
					 "$2 AND p.name = $3",
					 3, params, err),
			     c->name, p.domain, &c->out, err);
}

/* Prepares c for an operation on the policy named by path parameter 1. */
static void policy_target(struct policy_ctx *c,
			  const struct mc_admin_call *call)
{
	c->call = call;
	snprintf(c->name, sizeof(c->name), "%s", admin_arg(call, 1));
	mc_str_lower(c->name);
}

ADMIN_OP(admin_policy_get)
{
	struct policy_ctx c = {0};

	policy_target(&c, call);
	return policy_run(a, policy_get_txn, &c, out_r, err);
}

/* Locks the policy row: its current values (POLICY_COLS) into *res_r,
 * after the If-Match check. */
static int lock_policy(struct mc_admin *a, const struct policy_ctx *c,
		       const struct admin_place *p, const char *tid,
		       const char *did, PGresult **res_r, struct mc_error *err)
{
	const char *params[] = {tid, did, c->name};
	PGresult *res = admin_query(a,
				    "SELECT " POLICY_COLS
				    " FROM policies p WHERE p.tenant_id = $1 "
				    "AND p.domain_id = $2 AND p.name = $3 "
				    "FOR UPDATE",
				    3, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no policy %s in %s",
			     c->name, p->domain);
		return -1;
	}
	if (admin_check_version(c->call, admin_col_i64(res, 0, 10), err) < 0) {
		PQclear(res);
		return -1;
	}
	*res_r = res;
	return 0;
}

/* The value of column col after the update: the new one or the current
 * one (row cur of POLICY_COLS, where col i is at column 2 + i). */
static const char *merged(const struct policy_in *in, const PGresult *cur,
			  enum pcol col)
{
	if (in->has[col])
		return in->val[col];
	if (PQgetisnull(cur, 0, 2 + (int)col))
		return NULL;
	return PQgetvalue(cur, 0, 2 + (int)col);
}

/* The UPDATE of policy.update with the merged values. */
static PGresult *update_policy(struct mc_admin *a, const struct policy_ctx *c,
			       const PGresult *cur, struct mc_error *err)
{
	const char *params[1 + P_COUNT] = {PQgetvalue(cur, 0, 0)};

	for (int i = 0; i < P_COUNT; i++)
		params[1 + i] = merged(&c->in, cur, (enum pcol)i);
	return admin_query(
		a,
		"UPDATE policies p SET position = $2::integer, departments = "
		"$3::bigint[], members = $4::text[], attachment_max_bytes = "
		"$5::bigint, send_count_daily = $6::bigint, send_bytes_daily = "
		"$7::bigint, internal_only = $8::boolean, protocols = "
		"$9::text[], version = version + 1 WHERE p.id = $1::bigint "
		"RETURNING " POLICY_COLS,
		1 + P_COUNT, params, err);
}

/* Transaction body of policy.update. */
static int policy_update_txn(struct mc_admin *a, void *ctx,
			     struct mc_error *err)
{
	struct policy_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	PGresult *cur = NULL;

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    check_departments(a, &c->in, &p, tid, did, err) < 0 ||
	    lock_policy(a, c, &p, tid, did, &cur, err) < 0)
		return -1;
	PGresult *res = update_policy(a, c, cur, err);
	PQclear(cur);
	if (policy_result(res, c->name, p.domain, &c->out, err) < 0)
		return -1;
	return policy_audit(a, &p, "policy.update", c->name, c->in.changes,
			    err);
}

ADMIN_OP(admin_policy_update)
{
	struct policy_ctx c = {0};
	int r = -1;

	*out_r = NULL;
	policy_target(&c, call);
	if (parse_policy(a, call->body, false, &c.in, err) == 0)
		r = policy_run(a, policy_update_txn, &c, out_r, err);
	policy_in_free(&c.in);
	return r;
}

/* Transaction body of policy.delete. */
static int policy_delete_txn(struct mc_admin *a, void *ctx,
			     struct mc_error *err)
{
	struct policy_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	PGresult *cur = NULL;

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    lock_policy(a, c, &p, tid, did, &cur, err) < 0)
		return -1;
	const char *params[] = {PQgetvalue(cur, 0, 0)};
	long n = admin_exec(a, "DELETE FROM policies WHERE id = $1", 1, params,
			    err);
	PQclear(cur);
	if (n < 0)
		return -1;
	return policy_audit(a, &p, "policy.delete", c->name, NULL, err);
}

ADMIN_OP(admin_policy_delete)
{
	struct policy_ctx c = {0};

	policy_target(&c, call);
	return policy_run(a, policy_delete_txn, &c, out_r, err);
}

/* policy.list ------------------------------------------------------------ */

static const struct admin_sort policy_sorts[] = {
	{"position", "p.position"},
	{"name", "p.name"},
	{"created_at", "p.created_at"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* Transaction body of policy.list (filter q: part of the name). */
static int policy_list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[6] = {tid, did}, *q = admin_filter(&c->l, "q");
	int n = 2;
	struct mc_buf sql;

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " POLICY_COLS ", %s::text, p.id FROM policies p "
		      "WHERE p.tenant_id = $1 AND p.domain_id = $2",
		      c->l.sort->expr);
	if (q != NULL) {
		params[n] = q;
		mc_buf_printf(&sql, " AND strpos(p.name, lower($%d)) > 0", ++n);
	}
	PGresult *res =
		admin_list_fetch(a, &c->l, &sql, "p.id", params, n, err);
	if (res == NULL)
		return -1;
	c->out = admin_page_rows(&c->l, res, 12, 13, policy_json, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_policy_list)
{
	struct list_ctx c = {.call = call};
	int r;

	*out_r = NULL;
	if (admin_list_parse(a, call, policy_sorts, &c.l, err) < 0)
		return -1;
	r = admin_run(a, policy_list_txn, &c, &c.out, out_r, err);
	return r;
}
