/* mc-admin-domains: the domain operations (list, list of a tenant,
 * create, get, update, delete, usage) and domain aliases. Tenant admins
 * and above create and delete domains and set their limits, status and
 * expiry; domain admins and above change their settings (catch-all,
 * policy defaults, password policy, self-registration, description,
 * default user quota) and domain aliases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"

#define DESCRIPTION_MAX 1000
#define TARGETS_MAX	1000
#define EXCEPTIONS_MAX	1000

#define DOMAIN_COLS                                                            \
	"d.id, d.name, t.name, d.status, to_char(d.expires_at AT TIME ZONE "   \
	"'UTC', 'YYYY-MM-DD'), d.description, d.catchall::text, "              \
	"d.default_user_quota, d.quota_permanent, d.attachment_max_bytes, "    \
	"d.internal_only, d.protocols::text, d.pw_min_length, "                \
	"d.pw_classes::text, d.pw_max_age_days, d.pw_reminder_days, "          \
	"d.pw_exceptions::text, d.self_registration, d.version, " ADMIN_TS(    \
		"d.created_at") ", (SELECT array_agg(x.name ORDER BY "         \
				"x.name) FROM domains x WHERE x.tenant_id = "  \
				"d.tenant_id AND "                             \
				"x.alias_for = "                               \
				"d.id)::text, " ADMIN_FILTER_COLS
#define DOMAIN_FROM " FROM domains d JOIN tenants t ON t.id = d.tenant_id "

/* A boolean column. */
static json_t *col_bool(const PGresult *res, int row, int col)
{
	return json_boolean(*PQgetvalue(res, row, col) == 't');
}

/* The settings and password_policy objects of a row. */
static void add_policy(json_t *o, PGresult *res, int i)
{
	json_object_set_new(
		o, "settings",
		json_pack("{sIsoso}", "attachment_max_bytes",
			  (json_int_t)admin_col_i64(res, i, 9), "internal_only",
			  col_bool(res, i, 10), "protocols",
			  admin_json_array(PQgetvalue(res, i, 11))));
	json_object_set_new(
		o, "password_policy",
		json_pack("{sIsosIsIso}", "min_length",
			  (json_int_t)admin_col_i64(res, i, 12), "classes",
			  admin_json_array(PQgetvalue(res, i, 13)),
			  "max_age_days", (json_int_t)admin_col_i64(res, i, 14),
			  "reminder_days",
			  (json_int_t)admin_col_i64(res, i, 15), "exceptions",
			  admin_json_array(PQgetvalue(res, i, 16))));
}

/* A domain row (DOMAIN_COLS) as JSON with its limits and usage. */
static json_t *domain_row(struct mc_admin *a, PGresult *res, int i,
			  struct mc_error *err)
{
	json_t *o = json_pack(
		"{sssssssosssososIsosssIss}", "name", PQgetvalue(res, i, 1),
		"tenant", PQgetvalue(res, i, 2), "status",
		PQgetvalue(res, i, 3), "expires", admin_col_json(res, i, 4),
		"description", PQgetvalue(res, i, 5), "aliases",
		admin_json_array(PQgetvalue(res, i, 20)), "catchall",
		admin_json_array(PQgetvalue(res, i, 6)), "default_user_quota",
		(json_int_t)admin_col_i64(res, i, 7), "quota_permanent",
		col_bool(res, i, 8), "self_registration",
		PQgetvalue(res, i, 17), "version",
		(json_int_t)admin_col_i64(res, i, 18), "created_at",
		PQgetvalue(res, i, 19));
	add_policy(o, res, i);
	admin_filter_json_add(o, res, i, 21);
	if (admin_level_json_add(a, o, ADMIN_AT_DOMAIN,
				 admin_col_i64(res, i, 0), err) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The domain id as GET returns it, or NULL. */
static json_t *domain_json(struct mc_admin *a, int64_t id, struct mc_error *err)
{
	char idbuf[24];
	const char *params[] = {admin_id_text(id, idbuf)};
	PGresult *res = admin_query(
		a, "SELECT " DOMAIN_COLS DOMAIN_FROM "WHERE d.id = $1", 1,
		params, err);
	json_t *o = NULL;

	if (res == NULL)
		return NULL;
	if (PQntuples(res) > 0)
		o = domain_row(a, res, 0, err);
	else
		mc_error_set(err, MC_ERR_NOTFOUND, "no such domain");
	PQclear(res);
	return o;
}

/* The writable members of a domain; -1 / NULL = not given. */
struct domain_in {
	const char *name, *status, *description, *self_registration;
	bool set_expires, set_catchall;
	const char *expires; /* NULL: never */
	char *catchall;	     /* array literal; NULL: none */
	int64_t default_user_quota, attachment_max, pw_min, pw_max_age,
		pw_reminder;
	int quota_permanent, internal_only;
	char *protocols, *pw_classes, *pw_exceptions; /* array literals */
	struct admin_limits lim;
	struct admin_filter_in filt; /* mc-admin-content.c */
	bool tenant_fields, settings_fields;
};

/* Frees the literals of in. */
static void domain_in_free(struct domain_in *in)
{
	free(in->catchall);
	free(in->protocols);
	free(in->pw_classes);
	free(in->pw_exceptions);
	admin_filter_in_free(&in->filt);
}

/* Is s one of the NULL-terminated words? */
static bool one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++) {
		if (strcmp(s, *words) == 0)
			return true;
	}
	return false;
}

/* A string member that must be one of words. */
static int read_word(struct mc_admin *a, const json_t *body, const char *field,
		     const char *const *words, const char *list,
		     const char **value_r, struct mc_error *err)
{
	if (admin_get_string(a, body, field, 32, false, false, value_r, err) <
	    0)
		return -1;
	if (*value_r != NULL && !one_of(*value_r, words)) {
		admin_field_error(a, err, field, "must be one of %s", list);
		return -1;
	}
	return 0;
}

/* An array member of words (each once at most) as an array literal. */
static int read_words(struct mc_admin *a, const json_t *body, const char *field,
		      const char *const *words, const char *list, char **lit_r,
		      struct mc_error *err)
{
	const json_t *arr = NULL;
	size_t i;
	json_t *item;

	if (admin_get_strings(a, body, field, 8, 16, false, &arr, err) < 0)
		return -1;
	if (arr == NULL)
		return 0;
	json_array_foreach(arr, i, item)
	{
		if (!one_of(json_string_value(item), words)) {
			admin_field_error(a, err, field,
					  "items must be among %s", list);
			return -1;
		}
	}
	*lit_r = admin_pg_array(arr);
	return 0;
}

/* status and expires (tenant admins and above). */
static int read_status_expiry(struct mc_admin *a, const json_t *body,
			      struct domain_in *in, struct mc_error *err)
{
	static const char *const statuses[] = {"active", "suspended", "expired",
					       NULL};
	json_t *e = json_object_get(body, "expires");

	if (read_word(a, body, "status", statuses, "active, suspended, expired",
		      &in->status, err) < 0)
		return -1;
	in->set_expires = e != NULL;
	if (e == NULL || json_is_null(e))
		return 0;
	if (admin_get_string(a, body, "expires", 10, false, false, &in->expires,
			     err) < 0)
		return -1;
	if (!mc_tenants_valid_date(in->expires)) {
		admin_field_error(a, err, "expires",
				  "must be a date YYYY-MM-DD or null");
		return -1;
	}
	return 0;
}

/* The catch-all targets, normalised, as an array literal ([] or null:
 * none). */
static int read_catchall(struct mc_admin *a, const json_t *body,
			 struct domain_in *in, struct mc_error *err)
{
	json_t *c = json_object_get(body, "catchall");
	const json_t *arr = NULL;
	size_t i;
	json_t *item;

	in->set_catchall = c != NULL;
	if (c == NULL || json_is_null(c))
		return 0;
	if (admin_get_strings(a, body, "catchall", TARGETS_MAX, MC_ADDRESS_MAX,
			      false, &arr, err) < 0)
		return -1;
	json_t *norm = json_array();
	json_array_foreach(arr, i, item)
	{
		char local[MC_LOCAL_PART_MAX + 1], dom[MC_DOMAIN_MAX + 1];
		struct mc_error aerr = {0};
		if (mc_tenants_split_address(json_string_value(item), false,
					     local, dom, &aerr) < 0) {
			json_decref(norm);
			admin_field_error(a, err, "catchall",
					  "item %zu is not an address", i);
			return -1;
		}
		json_array_append_new(norm, json_sprintf("%s@%s", local, dom));
	}
	if (json_array_size(norm) > 0)
		in->catchall = admin_pg_array(norm);
	json_decref(norm);
	return 0;
}

/* Members of "settings". */
static int read_settings(struct mc_admin *a, const json_t *s,
			 struct domain_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {
		"attachment_max_bytes", "internal_only", "protocols", NULL};
	static const char *const protocols[] = {"imap", "pop3", "smtp",
						"webmail", NULL};
	bool b;
	int r;

	if (s == NULL)
		return 0;
	if (admin_body_check(a, s, allowed, true, err) < 0 ||
	    admin_get_int(a, s, "attachment_max_bytes", 0, INT64_MAX, false,
			  &in->attachment_max, err) < 0 ||
	    (r = admin_get_bool(a, s, "internal_only", false, &b, err)) < 0 ||
	    read_words(a, s, "protocols", protocols,
		       "imap, pop3, smtp, webmail", &in->protocols, err) < 0)
		return -1;
	if (r > 0)
		in->internal_only = b;
	return 0;
}

/* The password policy's exceptions: local parts, lower-cased. */
static int read_exceptions(struct mc_admin *a, const json_t *p,
			   struct domain_in *in, struct mc_error *err)
{
	const json_t *arr = NULL;
	size_t i;
	json_t *item;

	if (admin_get_strings(a, p, "exceptions", EXCEPTIONS_MAX,
			      MC_LOCAL_PART_MAX, false, &arr, err) < 0)
		return -1;
	if (arr == NULL)
		return 0;
	json_t *norm = json_array();
	json_array_foreach(arr, i, item)
	{
		char local[MC_LOCAL_PART_MAX + 1];
		snprintf(local, sizeof(local), "%s", json_string_value(item));
		mc_str_lower(local);
		if (!mc_tenants_valid_local_part(local)) {
			json_decref(norm);
			admin_field_error(a, err, "exceptions",
					  "item %zu is not a local part", i);
			return -1;
		}
		json_array_append_new(norm, json_string(local));
	}
	in->pw_exceptions = admin_pg_array(norm);
	json_decref(norm);
	return 0;
}

/* Members of "password_policy". */
static int read_password_policy(struct mc_admin *a, const json_t *p,
				struct domain_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {"min_length",   "classes",
					      "max_age_days", "reminder_days",
					      "exceptions",   NULL};
	static const char *const classes[] = {"lower", "upper", "digit",
					      "symbol", NULL};

	if (p == NULL)
		return 0;
	if (admin_body_check(a, p, allowed, true, err) < 0 ||
	    admin_get_int(a, p, "min_length", 6, 128, false, &in->pw_min, err) <
		    0 ||
	    read_words(a, p, "classes", classes, "lower, upper, digit, symbol",
		       &in->pw_classes, err) < 0 ||
	    admin_get_int(a, p, "max_age_days", 0, 3650, false, &in->pw_max_age,
			  err) < 0 ||
	    admin_get_int(a, p, "reminder_days", 0, 365, false,
			  &in->pw_reminder, err) < 0 ||
	    read_exceptions(a, p, in, err) < 0)
		return -1;
	return 0;
}

/* Domain settings (domain admins and above). */
static int read_domain_settings(struct mc_admin *a, const json_t *body,
				struct domain_in *in, struct mc_error *err)
{
	static const char *const modes[] = {"off", "open", "approval", NULL};
	bool b;
	int r;

	if (admin_get_string(a, body, "description", DESCRIPTION_MAX, false,
			     true, &in->description, err) < 0 ||
	    read_catchall(a, body, in, err) < 0 ||
	    admin_get_int(a, body, "default_user_quota", 0, INT64_MAX, false,
			  &in->default_user_quota, err) < 0 ||
	    (r = admin_get_bool(a, body, "quota_permanent", false, &b, err)) <
		    0 ||
	    read_word(a, body, "self_registration", modes,
		      "off, open, approval", &in->self_registration, err) < 0 ||
	    read_settings(a, json_object_get(body, "settings"), in, err) < 0 ||
	    read_password_policy(a, json_object_get(body, "password_policy"),
				 in, err) < 0)
		return -1;
	if (r > 0)
		in->quota_permanent = b;
	return 0;
}

/* Reads every writable member of body. */
static int read_domain(struct mc_admin *a, const json_t *body,
		       struct domain_in *in, struct mc_error *err)
{
	static const char *const tenant_keys[] = {"status", "expires", "limits",
						  NULL};
	const char *key;
	json_t *v;

	in->default_user_quota = in->attachment_max = in->pw_min =
		in->pw_max_age = in->pw_reminder = -1;
	in->quota_permanent = in->internal_only = -1;
	if (read_status_expiry(a, body, in, err) < 0 ||
	    read_domain_settings(a, body, in, err) < 0 ||
	    admin_filter_read(a, body, &in->filt, err) < 0 ||
	    admin_limits_parse(a, body, admin_limit_keys(ADMIN_AT_DOMAIN),
			       &in->lim, err) < 0)
		return -1;
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "name") == 0)
			continue;
		if (one_of(key, tenant_keys))
			in->tenant_fields = true;
		else
			in->settings_fields = true;
	}
	return 0;
}

static const char *const writable[] = {"status",
				       "expires",
				       "description",
				       "catchall",
				       "default_user_quota",
				       "quota_permanent",
				       "settings",
				       "password_policy",
				       "self_registration",
				       "limits",
				       "filter_settings",
				       "attachment_blocklist",
				       "attachment_blocklist_action",
				       NULL};

/* A -1-means-unset integer as a parameter. */
static const char *int_param(int64_t v, char *buf)
{
	if (v < 0)
		return NULL;
	return admin_id_text(v, buf);
}

/* A -1-means-unset flag as a parameter. */
static const char *bool_param(int v)
{
	return v < 0 ? NULL : v ? "true" : "false";
}

static const char sql_update[] =
	"UPDATE domains SET status = coalesce($2, status), "
	"expires_at = CASE WHEN $3::boolean THEN ($4::date)::timestamp AT "
	"TIME ZONE 'UTC' ELSE expires_at END, "
	"description = coalesce($5, description), "
	"catchall = CASE WHEN $6::boolean THEN $7::text[] ELSE catchall END, "
	"default_user_quota = coalesce($8::bigint, default_user_quota), "
	"quota_permanent = coalesce($9::boolean, quota_permanent), "
	"attachment_max_bytes = coalesce($10::bigint, attachment_max_bytes), "
	"internal_only = coalesce($11::boolean, internal_only), "
	"protocols = coalesce($12::text[], protocols), "
	"pw_min_length = coalesce($13::integer, pw_min_length), "
	"pw_classes = coalesce($14::text[], pw_classes), "
	"pw_max_age_days = coalesce($15::integer, pw_max_age_days), "
	"pw_reminder_days = coalesce($16::integer, pw_reminder_days), "
	"pw_exceptions = coalesce($17::text[], pw_exceptions), "
	"self_registration = coalesce($18, self_registration), "
	"lim_users = coalesce($19::bigint, lim_users), "
	"lim_aliases = coalesce($20::bigint, lim_aliases), "
	"lim_lists = coalesce($21::bigint, lim_lists), "
	"quota_bytes = coalesce($22::bigint, quota_bytes), "
	"max_message_bytes = coalesce($23::bigint, max_message_bytes), "
	"lim_send_count = coalesce($24::bigint, lim_send_count), "
	"lim_send_bytes = coalesce($25::bigint, lim_send_bytes), "
	"version = version + $26::integer WHERE id = $1 "
	"RETURNING default_user_quota, quota_bytes";

/* Applies in to domain id (bump: 1 for updates, 0 for creates), then
 * checks the default user quota against the domain quota. */
static int update_row(struct mc_admin *a, int64_t id, const char *name,
		      const struct domain_in *in, int bump,
		      struct mc_error *err)
{
	char b[8][24], lb[8][24];
	const char *lim[8],
		*params[26] = {admin_id_text(id, b[0]),
			       in->status,
			       in->set_expires ? "true" : "false",
			       in->expires,
			       in->description,
			       in->set_catchall ? "true" : "false",
			       in->catchall,
			       int_param(in->default_user_quota, b[1]),
			       bool_param(in->quota_permanent),
			       int_param(in->attachment_max, b[2]),
			       bool_param(in->internal_only),
			       in->protocols,
			       int_param(in->pw_min, b[3]),
			       in->pw_classes,
			       int_param(in->pw_max_age, b[4]),
			       int_param(in->pw_reminder, b[5]),
			       in->pw_exceptions,
			       in->self_registration};

	admin_limits_params(&in->lim, lb, lim);
	memcpy(params + 18, lim + 1, 7 * sizeof(*lim));
	params[25] = bump ? "1" : "0";
	if (admin_filter_update(a, id, &in->filt, err) < 0)
		return -1;
	PGresult *res = admin_query(a, sql_update, 26, params, err);
	if (res == NULL)
		return -1;
	int64_t dq = admin_col_i64(res, 0, 0), q = admin_col_i64(res, 0, 1);
	PQclear(res);
	if (q == 0 || dq <= q)
		return 0;
	admin_limit_error(a, err, "storage_bytes", "domain", name, q);
	mc_error_reset(err, MC_ERR_LIMIT,
		       "default_user_quota %lld is above the quota of domain "
		       "%s (%lld)",
		       (long long)dq, name, (long long)q);
	return -1;
}

struct domain_op {
	const struct mc_admin_call *call;
	struct domain_in in;
	char name[MC_DOMAIN_MAX + 1];
	json_t *out;
};

/* Lower-cases and checks a domain name member into out. */
static int read_name(struct mc_admin *a, const json_t *body, char *out,
		     struct mc_error *err)
{
	const char *name;

	if (admin_get_string(a, body, "name", MC_DOMAIN_MAX, true, false, &name,
			     err) < 0)
		return -1;
	snprintf(out, MC_DOMAIN_MAX + 1, "%s", name);
	mc_str_lower(out);
	if (!mc_tenants_valid_domain(out)) {
		admin_field_error(a, err, "name", "is not a domain name");
		return -1;
	}
	return 0;
}

/* Inserts the domain row and its 16 usage shards; its place into p. */
static int insert_domain(struct mc_admin *a, struct admin_place *p,
			 const char *name, struct mc_error *err)
{
	char tid[24], did[24];
	const char *params[] = {admin_id_text(p->tenant_id, tid), name};
	PGresult *res = admin_query(a,
				    "INSERT INTO domains (tenant_id, name) "
				    "VALUES ($1, $2) RETURNING id",
				    2, params, err);

	if (res == NULL)
		return admin_exists_error(err, "domain", name);
	p->level = ADMIN_AT_DOMAIN;
	p->ancestor = false;
	p->domain_id = admin_col_i64(res, 0, 0);
	snprintf(p->domain, sizeof(p->domain), "%s", name);
	PQclear(res);
	const char *up[] = {tid, admin_id_text(p->domain_id, did)};
	return admin_exec(a,
			  "INSERT INTO domain_usage (tenant_id, domain_id, "
			  "shard) SELECT $1, $2, s FROM "
			  "generate_series(0, 15) s",
			  2, up, err) < 0
		       ? -1
		       : 0;
}

/* Transaction of domain.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;

	if (admin_find_tenant(a, op->call->args[0], &p, err) < 0 ||
	    admin_require(a, MC_ROLE_TENANT, "create domains", err) < 0 ||
	    admin_require_inside(a, &p, "create domains", err) < 0 ||
	    admin_limits_check(a, &p, ADMIN_AT_DOMAIN, 0, &op->in.lim, err) <
		    0 ||
	    insert_domain(a, &p, op->name, err) < 0 ||
	    update_row(a, p.domain_id, op->name, &op->in, 0, err) < 0 ||
	    admin_audit(a, &p, "domain.create", op->name, op->call->body, err) <
		    0)
		return -1;
	a->dirty = true;
	return admin_out(&op->out, domain_json(a, p.domain_id, err));
}

ADMIN_OP(admin_domain_create)
{
	static const char *const allowed[] = {"name",
					      "status",
					      "expires",
					      "description",
					      "catchall",
					      "default_user_quota",
					      "quota_permanent",
					      "settings",
					      "password_policy",
					      "self_registration",
					      "limits",
					      "filter_settings",
					      "attachment_blocklist",
					      "attachment_blocklist_action",
					      NULL};
	struct domain_op op = {.call = call};
	int r = -1;

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) == 0 &&
	    admin_body_check(a, call->body, allowed, true, err) == 0 &&
	    read_name(a, call->body, op.name, err) == 0 &&
	    read_domain(a, call->body, &op.in, err) == 0)
		r = admin_run(a, create_txn, &op, &op.out, out_r, err);
	domain_in_free(&op.in);
	return r;
}

/* Finds the domain of the call, inside the actor's subtree. */
static int find_inside(struct mc_admin *a, const struct mc_admin_call *call,
		       struct admin_place *p, const char *what,
		       struct mc_error *err)
{
	if (admin_find_domain(a, call->args[0], p, err) < 0 ||
	    admin_require_inside(a, p, what, err) < 0)
		return -1;
	return 0;
}

/* Transaction of domain.get. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;

	if (find_inside(a, op->call, &p, "read its domain", err) < 0)
		return -1;
	return admin_out(&op->out, domain_json(a, p.domain_id, err));
}

ADMIN_OP(admin_domain_get)
{
	struct domain_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_run(a, get_txn, &op, &op.out, out_r, err);
}

/* Who may change which members. */
static int check_update_role(struct mc_admin *a, const struct domain_in *in,
			     struct mc_error *err)
{
	if (in->tenant_fields &&
	    admin_require(a, MC_ROLE_TENANT,
			  "change the limits, status or expiry of a domain",
			  err) < 0)
		return -1;
	return admin_require(a, MC_ROLE_DOMAIN, "change domain settings", err);
}

/* Locks the domain at p and checks If-Match. */
static int lock_domain(struct mc_admin *a, const struct domain_op *op,
		       const struct admin_place *p, struct mc_error *err)
{
	return admin_lock_version(
		a, "SELECT version FROM domains WHERE id = $1 FOR UPDATE",
		p->domain_id, op->call, "such domain", err);
}

/* Transaction of domain.update. */
static int update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;
	bool limits = admin_limits_given(&op->in.lim, ADMIN_AT_DOMAIN);

	if (find_inside(a, op->call, &p, "change its domain", err) < 0 ||
	    check_update_role(a, &op->in, err) < 0 ||
	    lock_domain(a, op, &p, err) < 0 ||
	    (limits && admin_limits_check(a, &p, ADMIN_AT_DOMAIN, p.domain_id,
					  &op->in.lim, err) < 0) ||
	    update_row(a, p.domain_id, p.domain, &op->in, 1, err) < 0 ||
	    admin_audit(a, &p, "domain.update", p.domain, op->call->body, err) <
		    0)
		return -1;
	a->dirty = true;
	return admin_out(&op->out, domain_json(a, p.domain_id, err));
}

ADMIN_OP(admin_domain_update)
{
	struct domain_op op = {.call = call};
	int r = -1;

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) == 0 &&
	    admin_body_check(a, call->body, writable, true, err) == 0 &&
	    read_domain(a, call->body, &op.in, err) == 0)
		r = admin_run(a, update_txn, &op, &op.out, out_r, err);
	domain_in_free(&op.in);
	return r;
}

/* Refuses to delete a domain that still has users. */
static int check_no_users(struct mc_admin *a, const struct admin_place *p,
			  struct mc_error *err)
{
	char tid[24], did[24];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did)};
	PGresult *res = admin_query(a,
				    "SELECT count(*) FROM users WHERE "
				    "tenant_id = $1 AND domain_id = $2",
				    2, params, err);

	if (res == NULL)
		return -1;
	int64_t n = admin_col_i64(res, 0, 0);
	PQclear(res);
	if (n == 0)
		return 0;
	mc_error_set(err, MC_ERR_EXISTS,
		     "domain %s still has %lld users (deleted users count "
		     "until they are purged): delete them first",
		     p->domain, (long long)n);
	return -1;
}

/* Transaction of domain.delete: its aliases go with it. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[2];

	if (find_inside(a, op->call, &p, "delete its domain", err) < 0 ||
	    admin_require(a, MC_ROLE_TENANT, "delete domains", err) < 0 ||
	    lock_domain(a, op, &p, err) < 0 || check_no_users(a, &p, err) < 0 ||
	    admin_audit(a, &p, "domain.delete", p.domain, NULL, err) < 0)
		return -1;
	params[0] = admin_id_text(p.tenant_id, tid);
	params[1] = admin_id_text(p.domain_id, did);
	if (admin_exec(a,
		       "DELETE FROM aliases WHERE tenant_id = $1 AND "
		       "domain_id = $2",
		       2, params, err) < 0 ||
	    admin_exec(a,
		       "DELETE FROM domains WHERE tenant_id = $1 AND id = $2",
		       2, params, err) < 0)
		return -1;
	a->dirty = true;
	return 0;
}

ADMIN_OP(admin_domain_delete)
{
	struct domain_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err) < 0 ? -1 : 0;
}

/* Transaction of domain.usage: {name, limits, usage}. */
static int usage_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;

	if (find_inside(a, op->call, &p, "read its domain", err) < 0)
		return -1;
	json_t *o = json_pack("{ss}", "name", p.domain);
	if (admin_level_json_add(a, o, ADMIN_AT_DOMAIN, p.domain_id, err) < 0) {
		json_decref(o);
		return -1;
	}
	op->out = o;
	return 0;
}

ADMIN_OP(admin_domain_usage)
{
	struct domain_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0)
		return -1;
	return admin_run(a, usage_txn, &op, &op.out, out_r, err);
}

static const struct admin_sort domain_sorts[] = {
	{"name", "d.name"},
	{"created_at", "d.created_at"},
	{NULL, NULL},
};

struct list_op {
	const struct mc_admin_call *call;
	struct admin_list l;
	bool of_tenant;
	json_t *out;
};

/* The filters of a domain list. */
static void list_filters(const struct admin_list *l, struct mc_buf *sql,
			 const char **params, int *n)
{
	const char *q = admin_filter(l, "q");
	const char *status = admin_filter(l, "status");
	const char *tenant = admin_filter(l, "tenant");

	admin_where(sql, params, n, q, " AND strpos(d.name, lower($?)) > 0");
	admin_where(sql, params, n, status, " AND d.status = $?");
	admin_where(sql, params, n, tenant, " AND t.name = $?");
}

/* Transaction of domain.list and domain.list_tenant: RLS keeps the list
 * to the actor's tenants; a domain admin or assistant sees its domain. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_op *op = ctx;
	struct admin_place p;
	const char *params[8];
	char tid[24], did[24];
	int n = 0;
	struct mc_buf sql;

	if (op->of_tenant &&
	    admin_find_tenant(a, op->call->args[0], &p, err) < 0)
		return -1;
	if (admin_require(a, MC_ROLE_ASSISTANT, "list domains", err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " DOMAIN_COLS ", (%s)::text, d.id" DOMAIN_FROM
		      "WHERE d.alias_for IS NULL",
		      op->l.sort->expr);
	if (op->of_tenant) {
		params[n++] = admin_id_text(p.tenant_id, tid);
		mc_buf_printf(&sql, " AND d.tenant_id = $%d", n);
	}
	if (a->actor.role < MC_ROLE_TENANT) {
		params[n++] = admin_id_text(a->actor.domain_id, did);
		mc_buf_printf(&sql, " AND d.id = $%d", n);
	}
	list_filters(&op->l, &sql, params, &n);
	op->out = admin_list_run(a, &op->l, &sql, params, n, "d.id", domain_row,
				 err);
	mc_buf_free(&sql);
	return op->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_domain_list)
{
	struct list_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, domain_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &op, &op.out, out_r, err);
}

ADMIN_OP(admin_domain_list_tenant)
{
	struct list_op op = {.call = call, .of_tenant = true};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_list_parse(a, call, domain_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &op, &op.out, out_r, err);
}

/* Domain aliases -------------------------------------------------------- */

static const struct admin_sort alias_sorts[] = {
	{"name", "x.name"},
	{"created_at", "x.created_at"},
	{NULL, NULL},
};

/* A domain alias row: name, domain, created_at. */
static json_t *alias_row(struct mc_admin *a, PGresult *res, int i,
			 struct mc_error *err)
{
	(void)a;
	(void)err;
	return json_pack("{ssssss}", "name", PQgetvalue(res, i, 0), "domain",
			 PQgetvalue(res, i, 1), "created_at",
			 PQgetvalue(res, i, 2));
}

/* Transaction of domain_alias.list. */
static int alias_list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_op *op = ctx;
	struct admin_place p;
	const char *params[4];
	char did[24];
	int n = 1;
	struct mc_buf sql;

	if (find_inside(a, op->call, &p, "read its domain", err) < 0)
		return -1;
	params[0] = admin_id_text(p.domain_id, did);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT x.name, d.name, %s, (%s)::text, x.id FROM "
		      "domains x JOIN domains d ON d.id = x.alias_for "
		      "WHERE x.alias_for = $1",
		      ADMIN_TS("x.created_at"), op->l.sort->expr);
	op->out = admin_list_run(a, &op->l, &sql, params, n, "x.id", alias_row,
				 err);
	mc_buf_free(&sql);
	return op->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_domain_alias_list)
{
	struct list_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_list_parse(a, call, alias_sorts, &op.l, err) < 0)
		return -1;
	return admin_run(a, alias_list_txn, &op, &op.out, out_r, err);
}

/* Transaction of domain_alias.create. */
static int alias_create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;
	char tid[24], did[24];

	if (find_inside(a, op->call, &p, "add domain aliases", err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, "add domain aliases", err) < 0)
		return -1;
	const char *params[] = {admin_id_text(p.tenant_id, tid), op->name,
				admin_id_text(p.domain_id, did)};
	PGresult *res = admin_query(
		a,
		"WITH x AS (INSERT INTO domains (tenant_id, name, alias_for) "
		"VALUES ($1, $2, $3) RETURNING name, created_at) "
		"SELECT name, " ADMIN_TS("created_at") " FROM x",
		3, params, err);
	if (res == NULL)
		return admin_exists_error(err, "domain", op->name);
	json_t *out = json_pack("{ssssss}", "name", op->name, "domain",
				p.domain, "created_at", PQgetvalue(res, 0, 1));
	PQclear(res);
	int r = admin_audit_new(a, &p, "domain_alias.create", op->name,
				json_pack("{ss}", "domain", p.domain), err);
	a->dirty = true;
	if (r < 0) {
		json_decref(out);
		return -1;
	}
	op->out = out;
	return 0;
}

ADMIN_OP(admin_domain_alias_create)
{
	static const char *const allowed[] = {"name", NULL};
	struct domain_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_body_check(a, call->body, allowed, true, err) < 0 ||
	    read_name(a, call->body, op.name, err) < 0)
		return -1;
	return admin_run(a, alias_create_txn, &op, &op.out, out_r, err);
}

/* Transaction of domain_alias.delete. */
static int alias_delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct domain_op *op = ctx;
	struct admin_place p;
	char tid[24], did[24];

	if (find_inside(a, op->call, &p, "delete domain aliases", err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, "delete domain aliases", err) < 0)
		return -1;
	const char *params[] = {admin_id_text(p.tenant_id, tid),
				admin_id_text(p.domain_id, did), op->name};
	long n = admin_exec(a,
			    "DELETE FROM domains WHERE tenant_id = $1 AND "
			    "alias_for = $2 AND name = $3",
			    3, params, err);
	if (n < 0)
		return -1;
	if (n == 0) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain alias %s of %s",
			     op->name, p.domain);
		return -1;
	}
	a->dirty = true;
	int r = admin_audit_new(a, &p, "domain_alias.delete", op->name,
				json_pack("{ss}", "domain", p.domain), err);
	return r;
}

ADMIN_OP(admin_domain_alias_delete)
{
	struct domain_op op = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0)
		return -1;
	snprintf(op.name, sizeof(op.name), "%s", call->args[1]);
	mc_str_lower(op.name);
	return admin_txn(a, alias_delete_txn, &op, err) < 0 ? -1 : 0;
}
