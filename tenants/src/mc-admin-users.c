/* mc-admin-users: the operations on one domain's mailboxes (user.*): list
 * with filters, create (name, alias clash, department scope, quota,
 * password policy), get, update, soft delete (recoverable for 7 days),
 * freeze, restore (also the approval of a pending self-registration),
 * password changes, usage and the effective policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mc-admin-limits.h"
#include "mc-admin-users-private.h"

#define NUM		 24
#define DISPLAY_NAME_MAX 256
#define FORWARD_MAX	 100
#define SEND_AS_MAX	 100
#define PROTOCOL_MAX	 16

/* clang-format off */
/* When a password expires: never without a maximum age or for the
 * domain's exceptions. */
#define PW_EXPIRES \
	"(CASE WHEN d.pw_max_age_days > 0 AND NOT lower(u.local_part) = " \
	"ANY (SELECT lower(x) FROM unnest(d.pw_exceptions) x) THEN " \
	"u.password_changed_at + d.pw_max_age_days * interval '1 day' END)"

/* The columns of a user as user_json() reads them (enum user_col). */
#define USER_COLS \
	"SELECT u.id, u.local_part, d.name, u.display_name, " \
	"u.department_id, u.quota_bytes, u.used_bytes, u.status, " \
	"u.protocols::text, u.forward_to::text, u.forward_keep_copy, " \
	"u.imap_backend, (SELECT coalesce(array_agg(s.address ORDER BY " \
	"s.address), '{}') FROM send_as s WHERE s.tenant_id = u.tenant_id " \
	"AND s.user_id = u.id)::text, " \
	ADMIN_TS("u.password_changed_at") ", " \
	ADMIN_TS(PW_EXPIRES) ", " \
	ADMIN_TS("u.deleted_at") ", " \
	ADMIN_TS("(u.deleted_at + interval '7 days')") ", " \
	"u.version, " ADMIN_TS("u.created_at")
#define USER_FROM \
	" FROM users u JOIN domains d ON d.tenant_id = u.tenant_id AND " \
	"d.id = u.domain_id"
/* clang-format on */

enum user_col {
	C_ID,
	C_LOCAL,
	C_DOMAIN,
	C_DISPLAY,
	C_DEPT,
	C_QUOTA,
	C_USED,
	C_STATUS,
	C_PROTOCOLS,
	C_FORWARD,
	C_KEEP,
	C_IMAP,
	C_SEND_AS,
	C_PW_CHANGED,
	C_PW_EXPIRES,
	C_DELETED,
	C_PURGE,
	C_VERSION,
	C_CREATED,
	C_SORT, /* lists: the sort value */
};

static const char *const protocol_names[] = {"imap", "pop3", "smtp", "webmail",
					     NULL};
static const char *const user_statuses[] = {"active",  "frozen",  "pending",
					    "expired", "deleted", NULL};

/* Helpers ----------------------------------------------------------------- */

/* A bigint column as JSON, null for SQL NULL. */
static json_t *col_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_integer(admin_col_i64(res, row, col));
}

/* Sets member key of o (null when v could not be made). */
static void put(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v != NULL ? v : json_null());
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

/* "local@domain" of a user's place into buf (MC_ADDRESS_MAX + 1). */
static const char *address_of(const struct admin_place *p, char *buf)
{
	snprintf(buf, MC_ADDRESS_MAX + 1, "%s@%s", p->local, p->domain);
	return buf;
}

/* Forgets the problem of an earlier operation of this context. */
static void problem_reset(struct mc_admin *a)
{
	json_decref(a->problem);
	a->problem = NULL;
}

/* Copies a failure into err (whose first error wins). */
static int fail_with(struct mc_error *err, const struct mc_error *e)
{
	mc_error_set(err, e->cls, "%s", e->msg);
	return -1;
}

/* Output of a user ------------------------------------------------------- */

/* The user of row as the API shows it. */
static json_t *user_json(const PGresult *res, int row, const void *unused)
{
	(void)unused;
	char address[MC_ADDRESS_MAX + 2];
	json_t *o = json_object();

	snprintf(address, sizeof(address), "%s@%s",
		 PQgetvalue(res, row, C_LOCAL), PQgetvalue(res, row, C_DOMAIN));
	put(o, "address", json_string(address));
	put(o, "local_part", admin_col_json(res, row, C_LOCAL));
	put(o, "domain", admin_col_json(res, row, C_DOMAIN));
	put(o, "display_name", admin_col_json(res, row, C_DISPLAY));
	put(o, "department", col_int(res, row, C_DEPT));
	put(o, "quota_bytes", col_int(res, row, C_QUOTA));
	put(o, "used_bytes", col_int(res, row, C_USED));
	put(o, "status", admin_col_json(res, row, C_STATUS));
	put(o, "protocols",
	    admin_json_array(PQgetvalue(res, row, C_PROTOCOLS)));
	put(o, "forward",
	    json_pack("{sosb}", "targets",
		      admin_json_array(PQgetvalue(res, row, C_FORWARD)),
		      "keep_copy", *PQgetvalue(res, row, C_KEEP) == 't'));
	put(o, "imap_backend", admin_col_json(res, row, C_IMAP));
	put(o, "send_as", admin_json_array(PQgetvalue(res, row, C_SEND_AS)));
	put(o, "password_changed_at", admin_col_json(res, row, C_PW_CHANGED));
	put(o, "password_expires_at", admin_col_json(res, row, C_PW_EXPIRES));
	put(o, "deleted_at", admin_col_json(res, row, C_DELETED));
	put(o, "purge_at", admin_col_json(res, row, C_PURGE));
	put(o, "version", col_int(res, row, C_VERSION));
	put(o, "created_at", admin_col_json(res, row, C_CREATED));
	return o;
}

/* The user at p (its tenant and user id) as JSON into *out_r. */
static int fetch_user(struct mc_admin *a, const struct admin_place *p,
		      json_t **out_r, struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid)};
	PGresult *res = admin_query(
		a, USER_COLS USER_FROM " WHERE u.tenant_id = $1 AND u.id = $2",
		2, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no user %s", p->local);
		return -1;
	}
	json_decref(*out_r);
	*out_r = user_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

/* Finding and checking ---------------------------------------------------- */

int admin_users_domain(struct mc_admin *a, const char *domain,
		       struct admin_place *p, const char *what,
		       struct mc_error *err)
{
	if (admin_find_domain(a, domain, p, err) < 0 ||
	    admin_require(a, MC_ROLE_DEPARTMENT, what, err) < 0)
		return -1;
	return 0;
}

/* Finds the user of a [domain, local] operation and checks the role:
 * assistants are denied; the user role (which finds only itself) may
 * act only where self_ok. */
static int find_target(struct mc_admin *a, const struct mc_admin_call *call,
		       bool self_ok, const char *what, struct admin_place *p,
		       struct mc_error *err)
{
	enum mc_role r = a->actor.role;

	if (admin_find_domain(a, admin_arg(call, 0), p, err) < 0 ||
	    admin_find_user(a, admin_arg(call, 1), p, err) < 0)
		return -1;
	if (r == MC_ROLE_ASSISTANT || (r == MC_ROLE_USER && !self_ok))
		return admin_require(a, MC_ROLE_DEPARTMENT, what, err);
	return admin_require_inside(a, p, what, err);
}

/* What an action needs to know of a user (its row locked). */
struct user_state {
	int64_t version;
	char status[16];
	bool purgeable; /* deleted more than 7 days ago */
};

/* Locks the user at p and checks If-Match. */
static int lock_user(struct mc_admin *a, const struct admin_place *p,
		     const struct mc_admin_call *call, struct user_state *st,
		     struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid)};
	PGresult *res = admin_query(
		a,
		"SELECT version, status, coalesce(deleted_at < now() - "
		"interval '7 days', false) FROM users WHERE tenant_id = $1 "
		"AND id = $2 FOR UPDATE",
		2, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no user %s", p->local);
		return -1;
	}
	st->version = admin_col_i64(res, 0, 0);
	snprintf(st->status, sizeof(st->status), "%s", PQgetvalue(res, 0, 1));
	st->purgeable = *PQgetvalue(res, 0, 2) == 't';
	PQclear(res);
	return admin_check_version(call, st->version, err);
}

/* A state conflict (409) about the user at p. */
static int conflict(const struct admin_place *p, const char *why,
		    struct mc_error *err)
{
	char address[MC_ADDRESS_MAX + 1];

	mc_error_set(err, MC_ERR_EXISTS, "user %s %s", address_of(p, address),
		     why);
	return -1;
}

/* Refuses changes to a deleted user. */
static int not_deleted(const struct user_state *st, const struct admin_place *p,
		       struct mc_error *err)
{
	if (strcmp(st->status, "deleted") != 0)
		return 0;
	return conflict(p, "is deleted: restore it first", err);
}

/* The department chain of a user place (dept 0: none). */
static int place_department(struct mc_admin *a, struct admin_place *p,
			    int64_t dept, struct mc_error *err)
{
	p->ndepartments = 0;
	return dept != 0 ? admin_department_chain(a, dept, p, err) : 0;
}

/* Checks that department id is of the domain at p and, for a department
 * admin, inside its subtree; one that cannot be seen is a field error. */
static int check_department(struct mc_admin *a, const struct admin_place *p,
			    int64_t id, struct mc_error *err)
{
	struct admin_place dp = *p;
	struct mc_error e = {0};
	char idbuf[NUM];

	if (admin_find_department(a, admin_id_text(id, idbuf), &dp, &e) == 0)
		return 0;
	if (e.cls != MC_ERR_NOTFOUND)
		return fail_with(err, &e);
	admin_field_error(a, err, "department", "no department %lld in %s",
			  (long long)id, p->domain);
	return -1;
}

/* The domain's rules for users -------------------------------------------- */

struct domain_rules {
	int64_t quota, default_quota;
	struct mc_password_policy pw;
};

/* MC_PW_* bits of a PostgreSQL array of class names. */
static unsigned class_bits(const char *pg_array)
{
	json_t *names = admin_json_array(pg_array), *name;
	unsigned bits = 0;
	size_t i;

	json_array_foreach(names, i, name)
	{
		bits |= mc_password_policy_class_from_name(
			json_string_value(name));
	}
	json_decref(names);
	return bits;
}

/* Reads the quotas and password policy of the domain at p (locking its
 * row when lock: user creation, as mc_user_add does). */
static int domain_rules(struct mc_admin *a, const struct admin_place *p,
			bool lock, struct domain_rules *r, struct mc_error *err)
{
	char tid[NUM], did[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did)};
	PGresult *res = admin_query(
		a,
		lock ? "SELECT quota_bytes, default_user_quota, pw_min_length, "
		       "pw_classes::text FROM domains WHERE tenant_id = $1 "
		       "AND id = $2 FOR UPDATE"
		     : "SELECT quota_bytes, default_user_quota, pw_min_length, "
		       "pw_classes::text FROM domains WHERE tenant_id = $1 "
		       "AND id = $2",
		2, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain %s", p->domain);
		return -1;
	}
	mc_password_policy_init(&r->pw);
	r->quota = admin_col_i64(res, 0, 0);
	r->default_quota = admin_col_i64(res, 0, 1);
	r->pw.min_length = (unsigned)admin_col_i64(res, 0, 2);
	r->pw.classes = class_bits(PQgetvalue(res, 0, 3));
	PQclear(res);
	return 0;
}

/* Checks a new password against the policy: a field error naming the
 * rule broken. */
static int check_password(struct mc_admin *a,
			  const struct mc_password_policy *pw,
			  const char *password, const char *local,
			  struct mc_error *err)
{
	struct mc_error e = {0};

	if (mc_password_policy_check(password, pw, local, &e))
		return 0;
	admin_field_error(a, err, "password", "%s", e.msg);
	return -1;
}

/* A hash of password in the configured scheme ([auth] password_scheme,
 * as mailctl user add); caller free()s. */
static char *hash_password(struct mc_admin *a, const char *password,
			   struct mc_error *err)
{
	enum mc_password_scheme scheme = MC_PW_YESCRYPT;
	const char *name = a->cfg != NULL ? mc_config_str(a->cfg, "auth",
							  "password_scheme")
					  : NULL;

	if (name != NULL)
		(void)mc_password_scheme_parse(name, &scheme);
	return mc_password_hash(password, scheme, err);
}

/* The hash of a new password: the given one once it passes the policy,
 * or a generated one written into gen (size bytes). */
static char *new_password(struct mc_admin *a,
			  const struct mc_password_policy *pw,
			  const char *given, const char *local, char *gen,
			  size_t size, struct mc_error *err)
{
	gen[0] = '\0';
	if (given != NULL)
		return check_password(a, pw, given, local, err) < 0
			       ? NULL
			       : hash_password(a, given, err);
	if (!mc_password_policy_generate(pw, gen, size)) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "could not generate a password");
		return NULL;
	}
	return hash_password(a, gen, err);
}

/* Creating a user --------------------------------------------------------- */

int admin_user_exists(struct mc_admin *a, const struct admin_place *p,
		      const char *local_part, struct mc_error *err)
{
	char tid[NUM], did[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did), local_part};
	PGresult *res = admin_query(a,
				    "SELECT 1 FROM users WHERE tenant_id = $1 "
				    "AND domain_id = $2 AND local_part = $3",
				    3, params, err);

	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

/* Fails EXISTS when the local part is already a user's, an alias's or a
 * group's in the domain at p. */
static int check_free(struct mc_admin *a, const struct admin_place *p,
		      const char *local, struct mc_error *err)
{
	char tid[NUM], did[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did), local};
	PGresult *res = admin_query(
		a,
		"SELECT 'user' FROM users WHERE tenant_id = $1 AND domain_id "
		"= $2 AND local_part = $3 UNION ALL SELECT kind FROM aliases "
		"WHERE tenant_id = $1 AND domain_id = $2 AND local_part = $3",
		3, params, err);

	if (res == NULL)
		return -1;
	int taken = PQntuples(res) > 0;
	if (taken)
		mc_error_set(err, MC_ERR_EXISTS, "%s %s@%s already exists",
			     PQgetvalue(res, 0, 0), local, p->domain);
	PQclear(res);
	return taken ? -1 : 0;
}

/* Inserts the row of u; its id into u->user_id. */
static int insert_row(struct mc_admin *a, const struct admin_place *p,
		      struct admin_new_user *u, const char *hash, int64_t dept,
		      int64_t quota, struct mc_error *err)
{
	char tid[NUM], did[NUM], dp[NUM] = "", q[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did),
				u->local_part,
				hash,
				u->display_name != NULL ? u->display_name : "",
				dept != 0 ? admin_id_text(dept, dp) : "",
				admin_id_text(quota, q),
				u->status != NULL ? u->status : "active",
				u->protocols};
	PGresult *res = admin_query(
		a,
		"INSERT INTO users (tenant_id, domain_id, local_part, "
		"password_hash, display_name, department_id, quota_bytes, "
		"status, protocols) VALUES ($1, $2, $3, $4, $5, "
		"nullif($6, '')::bigint, $7, $8, coalesce($9::text[], "
		"'{imap,pop3,smtp,webmail}')) RETURNING id",
		9, params, err);

	if (res == NULL)
		return -1;
	u->user_id = PQntuples(res) > 0 ? admin_col_i64(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/* The audit record of a created user (the password as "***"). */
static int audit_create(struct mc_admin *a, const struct admin_place *up,
			const struct admin_new_user *u, int64_t dept,
			int64_t quota, struct mc_error *err)
{
	char address[MC_ADDRESS_MAX + 1];
	json_t *ch = json_pack(
		"{sssssosIssss}", "local_part", u->local_part, "display_name",
		u->display_name != NULL ? u->display_name : "", "department",
		dept != 0 ? json_integer(dept) : json_null(), "quota_bytes",
		(json_int_t)quota, "status",
		u->status != NULL ? u->status : "active", "password", "***");

	if (ch != NULL && u->protocols != NULL)
		json_object_set_new(ch, "protocols",
				    admin_json_array(u->protocols));
	int r = admin_audit(a, up, "user.create", address_of(up, address), ch,
			    err);
	json_decref(ch);
	return r;
}

/* The department a new user lands in: the given one, checked; a
 * department admin's own when none is given. */
static int new_user_department(struct mc_admin *a, const struct admin_place *p,
			       const struct admin_new_user *u, int64_t *dept_r,
			       struct mc_error *err)
{
	*dept_r = u->department_id;
	if (*dept_r == 0 && a->actor.role == MC_ROLE_DEPARTMENT)
		*dept_r = a->actor.department_id;
	return *dept_r != 0 ? check_department(a, p, *dept_r, err) : 0;
}

/* The checks before the row: name, domain lock, clash, department, quota. */
static int new_user_checks(struct mc_admin *a, const struct admin_place *p,
			   const struct admin_new_user *u,
			   struct domain_rules *r, int64_t *dept_r,
			   int64_t *quota_r, struct mc_error *err)
{
	if (u->local_part == NULL ||
	    !mc_tenants_valid_local_part(u->local_part)) {
		admin_field_error(a, err, "local_part",
				  "use 1 to 64 lower-case letters, digits, "
				  "'.', '_' or '-'");
		return -1;
	}
	if (domain_rules(a, p, true, r, err) < 0 ||
	    check_free(a, p, u->local_part, err) < 0 ||
	    new_user_department(a, p, u, dept_r, err) < 0)
		return -1;
	*quota_r = u->quota_bytes >= 0 ? u->quota_bytes : r->default_quota;
	return admin_limits_check_user_quota(a, p, *quota_r, err);
}

int admin_user_insert(struct mc_admin *a, const struct admin_place *p,
		      struct admin_new_user *u, struct mc_error *err)
{
	struct domain_rules r;
	struct admin_place up = *p;
	int64_t dept = 0, quota = 0;
	char *hash = NULL;
	int ret = -1;

	u->generated[0] = '\0';
	u->user_id = 0;
	if (new_user_checks(a, p, u, &r, &dept, &quota, err) < 0)
		return -1;
	hash = new_password(a, &r.pw, u->password, u->local_part, u->generated,
			    sizeof(u->generated), err);
	if (hash == NULL || insert_row(a, p, u, hash, dept, quota, err) < 0 ||
	    mc_store_create_default_mailboxes(a->pg, p->tenant_id, u->user_id,
					      err) < 0)
		goto out;
	up.level = ADMIN_AT_USER;
	up.user_id = u->user_id;
	snprintf(up.local, sizeof(up.local), "%s", u->local_part);
	if (place_department(a, &up, dept, err) == 0 &&
	    audit_create(a, &up, u, dept, quota, err) == 0)
		ret = 0;
	a->dirty = true;
out:
	free(hash);
	return ret;
}

/* Request bodies ---------------------------------------------------------- */

/* What create and update requests may give. */
struct user_input {
	char local[MC_LOCAL_PART_MAX + 1];
	bool has_local;
	const char *password;
	const char *display_name; /* NULL: not given */
	bool has_department;
	int64_t department; /* 0 = none */
	bool has_quota;
	int64_t quota;
	char *protocols; /* array literal, NULL: not given */
	const char *status;
	char *forward; /* array literal of targets, NULL: not given */
	int keep_copy; /* -1 not given, 0, 1 */
	bool has_imap_backend;
	const char *imap_backend; /* NULL or "": none */
	json_t *send_as;	  /* normalised addresses, NULL: not given */
};

static void user_input_free(struct user_input *in)
{
	free(in->protocols);
	free(in->forward);
	json_decref(in->send_as);
}

/* local_part, lower-cased into in->local. */
static int parse_local(struct mc_admin *a, const json_t *body, bool required,
		       struct user_input *in, struct mc_error *err)
{
	const char *s;
	int r = admin_get_string(a, body, "local_part", MC_LOCAL_PART_MAX,
				 required, false, &s, err);

	if (r <= 0)
		return r;
	snprintf(in->local, sizeof(in->local), "%s", s);
	mc_str_lower(in->local);
	in->has_local = true;
	if (mc_tenants_valid_local_part(in->local))
		return 1;
	admin_field_error(a, err, "local_part",
			  "use 1 to 64 letters, digits, '.', '_' or '-'");
	return -1;
}

/* department: an id, or null for none. */
static int parse_department(struct mc_admin *a, const json_t *body,
			    struct user_input *in, struct mc_error *err)
{
	json_t *v = json_object_get(body, "department");
	int r = 1;

	if (v == NULL)
		return 0;
	in->department = 0;
	if (!json_is_null(v))
		r = admin_get_int(a, body, "department", 1, INT64_MAX, false,
				  &in->department, err);
	in->has_department = r > 0;
	return r;
}

/* protocols: a subset of imap, pop3, smtp, webmail. */
static int parse_protocols(struct mc_admin *a, const json_t *body,
			   struct user_input *in, struct mc_error *err)
{
	const json_t *arr = NULL, *item;
	size_t i;
	int r = admin_get_strings(a, body, "protocols", 4, PROTOCOL_MAX, false,
				  &arr, err);

	if (r <= 0)
		return r;
	json_array_foreach(arr, i, item)
	{
		if (!one_of(json_string_value(item), protocol_names)) {
			admin_field_error(a, err, "protocols",
					  "item %zu: use imap, pop3, smtp or "
					  "webmail",
					  i);
			return -1;
		}
	}
	in->protocols = admin_pg_array(arr);
	return 1;
}

/* status of a new user: active or frozen. */
static int parse_status(struct mc_admin *a, const json_t *body,
			struct user_input *in, struct mc_error *err)
{
	static const char *const allowed[] = {"active", "frozen", NULL};
	int r = admin_get_string(a, body, "status", 16, false, false,
				 &in->status, err);

	if (r <= 0 || one_of(in->status, allowed))
		return r;
	admin_field_error(a, err, "status", "use active or frozen");
	return -1;
}

/* The members create and update share. */
static int parse_common(struct mc_admin *a, const json_t *body,
			struct user_input *in, struct mc_error *err)
{
	int64_t quota;
	int r = admin_get_int(a, body, "quota_bytes", 0, INT64_MAX, false,
			      &quota, err);

	if (r < 0)
		return -1;
	in->has_quota = r > 0;
	in->quota = in->has_quota ? quota : -1;
	if (admin_get_string(a, body, "display_name", DISPLAY_NAME_MAX, false,
			     true, &in->display_name, err) < 0 ||
	    parse_department(a, body, in, err) < 0 ||
	    parse_protocols(a, body, in, err) < 0)
		return -1;
	return 0;
}

/* One forward target, normalised and appended to arr. */
static int forward_target(struct mc_admin *a, const json_t *item, size_t i,
			  const char *self, json_t *arr, struct mc_error *err)
{
	char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
	char full[MC_ADDRESS_MAX + 2];
	struct mc_error e = {0};
	const char *s = json_string_value(item);

	if (s == NULL ||
	    mc_tenants_split_address(s, false, local, domain, &e) < 0) {
		admin_field_error(a, err, "forward", "target %zu: %s", i,
				  s == NULL ? "must be a string" : e.msg);
		return -1;
	}
	snprintf(full, sizeof(full), "%s@%s", local, domain);
	if (strcasecmp(full, self) == 0) {
		admin_field_error(a, err, "forward",
				  "target %zu: %s cannot forward to itself", i,
				  self);
		return -1;
	}
	json_array_append_new(arr, json_string(full));
	return 0;
}

/* forward.targets into in->forward. */
static int parse_forward_targets(struct mc_admin *a, const json_t *t,
				 const char *self, struct user_input *in,
				 struct mc_error *err)
{
	json_t *arr, *item;
	size_t i;

	if (!json_is_array(t) || json_array_size(t) > FORWARD_MAX) {
		admin_field_error(a, err, "forward",
				  "targets must be an array of at most %d "
				  "addresses",
				  FORWARD_MAX);
		return -1;
	}
	arr = json_array();
	json_array_foreach(t, i, item)
	{
		if (forward_target(a, item, i, self, arr, err) < 0) {
			json_decref(arr);
			return -1;
		}
	}
	in->forward = admin_pg_array(arr);
	json_decref(arr);
	return 0;
}

/* forward: {targets?, keep_copy?}; self is the user's address. */
static int parse_forward(struct mc_admin *a, const json_t *body,
			 const char *self, struct user_input *in,
			 struct mc_error *err)
{
	static const char *const fields[] = {"targets", "keep_copy", NULL};
	json_t *v = json_object_get(body, "forward"), *t, *k;

	if (v == NULL)
		return 0;
	if (!json_is_object(v) ||
	    admin_body_check(a, v, fields, true, err) < 0) {
		admin_field_error(a, err, "forward",
				  "must be an object {targets, keep_copy}");
		return -1;
	}
	t = json_object_get(v, "targets");
	k = json_object_get(v, "keep_copy");
	if (k != NULL && !json_is_boolean(k)) {
		admin_field_error(a, err, "forward",
				  "keep_copy must be true or false");
		return -1;
	}
	in->keep_copy = k != NULL ? json_is_true(k) : -1;
	return t != NULL ? parse_forward_targets(a, t, self, in, err) : 0;
}

/* imap_backend: "IP:port", or null / "" for none. */
static int parse_imap_backend(struct mc_admin *a, const json_t *body,
			      struct user_input *in, struct mc_error *err)
{
	json_t *v = json_object_get(body, "imap_backend");
	struct mc_sockaddr sa;
	struct mc_error e = {0};

	if (v == NULL)
		return 0;
	in->has_imap_backend = true;
	if (json_is_null(v))
		return 0;
	if (admin_get_string(a, body, "imap_backend", 128, false, true,
			     &in->imap_backend, err) < 0)
		return -1;
	if (in->imap_backend[0] == '\0' ||
	    mc_addr_parse(in->imap_backend, &sa, &e) == 0)
		return 0;
	admin_field_error(a, err, "imap_backend", "%s", e.msg);
	return -1;
}

/* One send-as grant: "local@domain" or "@domain", lower-cased. */
static int send_as_item(struct mc_admin *a, const char *s, size_t i, char *out,
			struct mc_error *err)
{
	char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
	struct mc_error e = {0};

	if (s[0] == '@') {
		snprintf(domain, sizeof(domain), "%s", s + 1);
		mc_str_lower(domain);
		if (strlen(s + 1) <= MC_DOMAIN_MAX &&
		    mc_tenants_valid_domain(domain)) {
			snprintf(out, MC_ADDRESS_MAX + 2, "@%s", domain);
			return 0;
		}
		mc_error_set(&e, MC_ERR_INVALID, "bad domain name");
	} else if (mc_tenants_split_address(s, true, local, domain, &e) == 0) {
		snprintf(out, MC_ADDRESS_MAX + 2, "%s@%s", local, domain);
		return 0;
	}
	admin_field_error(a, err, "send_as", "item %zu: %s", i, e.msg);
	return -1;
}

/* send_as: the addresses the user may send as (replacing the grants). */
static int parse_send_as(struct mc_admin *a, const json_t *body,
			 struct user_input *in, struct mc_error *err)
{
	const json_t *arr = NULL, *item;
	char out[MC_ADDRESS_MAX + 2];
	size_t i, j;
	int r = admin_get_strings(a, body, "send_as", SEND_AS_MAX,
				  MC_ADDRESS_MAX + 1, false, &arr, err);

	if (r <= 0)
		return r;
	in->send_as = json_array();
	json_array_foreach(arr, i, item)
	{
		if (send_as_item(a, json_string_value(item), i, out, err) < 0)
			return -1;
		for (j = 0; j < json_array_size(in->send_as); j++) {
			if (strcmp(json_string_value(
					   json_array_get(in->send_as, j)),
				   out) == 0)
				break;
		}
		if (j == json_array_size(in->send_as))
			json_array_append_new(in->send_as, json_string(out));
	}
	return 1;
}

/* user.list --------------------------------------------------------------- */

static const struct admin_sort user_sorts[] = {
	{"local_part", "u.local_part"},
	{"created_at", "u.created_at"},
	{"quota_bytes", "u.quota_bytes"},
	{"used_bytes", "u.used_bytes"},
	{NULL, NULL},
};

/* Checks the list filters before the transaction. */
static int list_filters_check(struct mc_admin *a, const struct admin_list *l,
			      struct mc_error *err)
{
	const char *status = admin_filter(l, "status");
	const char *dept = admin_filter(l, "department");
	const char *q = admin_filter(l, "q");
	int64_t id;

	if (status != NULL && !one_of(status, user_statuses)) {
		admin_field_error(a, err, "status",
				  "use active, frozen, pending, expired or "
				  "deleted");
		return -1;
	}
	if (dept != NULL && (!mc_str_to_i64(dept, &id) || id <= 0)) {
		admin_field_error(a, err, "department",
				  "must be a department id");
		return -1;
	}
	if (q != NULL && strlen(q) > 256) {
		admin_field_error(a, err, "q", "must be at most 256 bytes");
		return -1;
	}
	return 0;
}

/* Appends " AND u.department_id IN (the subtree of department $k)". */
static void append_subtree(struct mc_buf *sql, int k)
{
	mc_buf_printf(sql,
		      " AND u.department_id IN (WITH RECURSIVE sub(id) AS "
		      "(SELECT id FROM departments WHERE tenant_id = $1 AND "
		      "domain_id = $2 AND id = $%d::bigint UNION SELECT c.id "
		      "FROM departments c JOIN sub ON c.parent_id = sub.id "
		      "WHERE c.tenant_id = $1) SELECT id FROM sub)",
		      k);
}

/* Appends the actor's scope and the filters to the list query. */
static void list_where(const struct mc_admin *a, const struct admin_list *l,
		       struct mc_buf *sql, const char **params, int *n,
		       char *dept)
{
	const char *status = admin_filter(l, "status");
	const char *d = admin_filter(l, "department");
	const char *q = admin_filter(l, "q");

	if (a->actor.role == MC_ROLE_DEPARTMENT) {
		params[(*n)++] = admin_id_text(a->actor.department_id, dept);
		append_subtree(sql, *n);
	}
	admin_where(sql, params, n, status, " AND u.status = $?");
	if (d != NULL) {
		params[(*n)++] = d;
		append_subtree(sql, *n);
	}
	admin_where(sql, params, n, q,
		    " AND (strpos(u.local_part, lower($?)) > 0 OR "
		    "strpos(lower(u.display_name), lower($?)) > 0)");
}

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* Transaction of user.list. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[NUM], did[NUM], dept[NUM];
	const char *params[10];
	int n = 2;
	struct mc_buf sql;

	json_decref(c->out);
	c->out = NULL;
	if (admin_users_domain(a, admin_arg(c->call, 0), &p, "list users",
			       err) < 0)
		return -1;
	params[0] = admin_id_text(p.tenant_id, tid);
	params[1] = admin_id_text(p.domain_id, did);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_append_str(&sql, USER_COLS);
	mc_buf_printf(&sql, ", %s::text", c->l.sort->expr);
	mc_buf_append_str(&sql, USER_FROM " WHERE u.tenant_id = $1 AND "
					  "u.domain_id = $2");
	list_where(a, &c->l, &sql, params, &n, dept);
	PGresult *res =
		admin_list_fetch(a, &c->l, &sql, "u.id", params, n, err);
	if (res == NULL)
		return -1;
	c->out = admin_page_rows(&c->l, res, C_SORT, C_ID, user_json, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_user_list)
{
	struct list_ctx c = {.call = call};

	*out_r = NULL;
	problem_reset(a);
	if (admin_list_parse(a, call, user_sorts, &c.l, err) < 0 ||
	    list_filters_check(a, &c.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &c, &c.out, out_r, err);
}

/* user.create ------------------------------------------------------------- */

struct create_ctx {
	const struct mc_admin_call *call;
	struct admin_new_user u;
	json_t *out;
};

/* Transaction of user.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct create_ctx *c = ctx;
	struct admin_place p;

	json_decref(c->out);
	c->out = NULL;
	if (admin_users_domain(a, admin_arg(c->call, 0), &p, "create users",
			       err) < 0 ||
	    admin_user_insert(a, &p, &c->u, err) < 0)
		return -1;
	p.level = ADMIN_AT_USER;
	p.user_id = c->u.user_id;
	snprintf(p.local, sizeof(p.local), "%s", c->u.local_part);
	return fetch_user(a, &p, &c->out, err);
}

/* The body of user.create into in. */
static int parse_create(struct mc_admin *a, const json_t *body,
			struct user_input *in, struct mc_error *err)
{
	static const char *const fields[] = {
		"local_part",  "password",  "display_name", "department",
		"quota_bytes", "protocols", "status",	    NULL};

	if (admin_body_check(a, body, fields, true, err) < 0 ||
	    parse_local(a, body, true, in, err) < 0 ||
	    admin_get_string(a, body, "password", MC_PASSWORD_MAX_BYTES, true,
			     false, &in->password, err) < 0 ||
	    parse_common(a, body, in, err) < 0 ||
	    parse_status(a, body, in, err) < 0)
		return -1;
	return 0;
}

ADMIN_OP(admin_user_create)
{
	struct user_input in = {.keep_copy = -1};
	struct create_ctx c = {.call = call};
	int r = -1;

	*out_r = NULL;
	problem_reset(a);
	if (parse_create(a, call->body, &in, err) == 0) {
		c.u = (struct admin_new_user){
			.local_part = in.local,
			.password = in.password,
			.display_name = in.display_name,
			.department_id = in.department,
			.quota_bytes = in.quota,
			.status = in.status,
			.protocols = in.protocols,
		};
		r = admin_txn(a, create_txn, &c, err);
	}
	user_input_free(&in);
	if (r < 0)
		json_decref(c.out);
	else
		*out_r = c.out;
	return r < 0 ? -1 : 0;
}

/* user.get ---------------------------------------------------------------- */

struct get_ctx {
	const struct mc_admin_call *call;
	json_t *out;
};

/* Transaction of user.get. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct get_ctx *c = ctx;
	struct admin_place p;

	if (find_target(a, c->call, true, "read users", &p, err) < 0)
		return -1;
	return fetch_user(a, &p, &c->out, err);
}

/* Runs a transaction that leaves a JSON result in ctx->out. */
static int run_get(struct mc_admin *a, admin_txn_fn *fn, struct get_ctx *c,
		   json_t **out_r, struct mc_error *err)
{
	*out_r = NULL;
	problem_reset(a);
	if (admin_txn(a, fn, c, err) < 0) {
		json_decref(c->out);
		return -1;
	}
	*out_r = c->out;
	return 0;
}

ADMIN_OP(admin_user_get)
{
	struct get_ctx c = {.call = call};

	return run_get(a, get_txn, &c, out_r, err);
}

/* user.update ------------------------------------------------------------- */

struct update_ctx {
	const struct mc_admin_call *call;
	struct user_input in;
	json_t *changes;
	json_t *out;
};

/* The body of user.update; a new local part is refused (no renames). */
static int parse_update(struct mc_admin *a, const struct mc_admin_call *call,
			struct user_input *in, struct mc_error *err)
{
	static const char *const fields[] = {
		"display_name", "department", "quota_bytes",
		"protocols",	"forward",    "imap_backend",
		"send_as",	"local_part", NULL};
	char self[MC_ADDRESS_MAX + 2], cur[MC_LOCAL_PART_MAX + 1];

	snprintf(cur, sizeof(cur), "%s", admin_arg(call, 1));
	mc_str_lower(cur);
	snprintf(self, sizeof(self), "%s@%s", cur, admin_arg(call, 0));
	mc_str_lower(self);
	if (admin_body_check(a, call->body, fields, true, err) < 0)
		return -1;
	if (json_object_get(call->body, "local_part") != NULL &&
	    (parse_local(a, call->body, false, in, err) < 0 ||
	     strcmp(in->local, cur) != 0)) {
		problem_reset(a);
		mc_error_clear(err);
		admin_field_error(a, err, "local_part",
				  "a mailbox cannot be renamed; add an alias");
		return -1;
	}
	if (parse_common(a, call->body, in, err) < 0 ||
	    parse_forward(a, call->body, self, in, err) < 0 ||
	    parse_imap_backend(a, call->body, in, err) < 0 ||
	    parse_send_as(a, call->body, in, err) < 0)
		return -1;
	return 0;
}

/* The user role may change its display name only. */
static int self_fields_only(struct mc_admin *a, const struct user_input *in,
			    struct mc_error *err)
{
	if (a->actor.role != MC_ROLE_USER)
		return 0;
	if (!in->has_department && !in->has_quota && in->protocols == NULL &&
	    in->forward == NULL && in->keep_copy < 0 && !in->has_imap_backend &&
	    in->send_as == NULL)
		return 0;
	mc_error_set(err, MC_ERR_DENIED,
		     "a user may change only its display name");
	return -1;
}

/* Department and quota checks of an update of the user at p. */
static int check_update(struct mc_admin *a, const struct admin_place *p,
			const struct user_input *in, struct mc_error *err)
{
	if (in->has_department && in->department != 0 &&
	    check_department(a, p, in->department, err) < 0)
		return -1;
	if (in->has_department && in->department == 0 &&
	    a->actor.role == MC_ROLE_DEPARTMENT) {
		mc_error_set(err, MC_ERR_DENIED,
			     "a department admin may not move a user out of "
			     "its department");
		return -1;
	}
	if (in->has_quota &&
	    admin_limits_check_user_quota(a, p, in->quota, err) < 0)
		return -1;
	return 0;
}

/* The UPDATE of the scalar fields (NULL parameters keep a column). */
static int update_row(struct mc_admin *a, const struct admin_place *p,
		      const struct user_input *in, struct mc_error *err)
{
	char tid[NUM], uid[NUM], dept[NUM] = "", q[NUM];
	const char *params[] = {
		admin_id_text(p->tenant_id, tid),
		admin_id_text(p->user_id, uid),
		in->display_name,
		in->has_department ? "true" : "false",
		in->department != 0 ? admin_id_text(in->department, dept) : "",
		in->has_quota ? admin_id_text(in->quota, q) : NULL,
		in->protocols,
		in->forward,
		in->keep_copy < 0 ? NULL
		: in->keep_copy	  ? "true"
				  : "false",
		in->has_imap_backend ? "true" : "false",
		in->imap_backend != NULL ? in->imap_backend : ""};

	return admin_exec(
		       a,
		       "UPDATE users SET display_name = coalesce($3, "
		       "display_name), department_id = CASE WHEN "
		       "$4::boolean THEN nullif($5, '')::bigint ELSE "
		       "department_id END, quota_bytes = coalesce($6::bigint, "
		       "quota_bytes), protocols = coalesce($7::text[], "
		       "protocols), forward_to = coalesce($8::text[], "
		       "forward_to), forward_keep_copy = coalesce("
		       "$9::boolean, forward_keep_copy), imap_backend = "
		       "CASE WHEN $10::boolean THEN nullif($11, '') ELSE "
		       "imap_backend END, version = version + 1 WHERE "
		       "tenant_id = $1 AND id = $2",
		       11, params, err) < 0
		       ? -1
		       : 0;
}

/* Grants one send-as address: of the user's domain (or its aliases) for
 * actors below tenant admins, of any of the tenant's domains above. */
static int grant_send_as(struct mc_admin *a, const struct admin_place *p,
			 const char *address, struct mc_error *err)
{
	char tid[NUM], uid[NUM], did[NUM];
	const char *at = strchr(address, '@');
	bool below = a->actor.role < MC_ROLE_TENANT;
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid), address,
				at != NULL ? at + 1 : "",
				admin_id_text(below ? p->domain_id : 0, did)};
	long n = admin_exec(
		a,
		"INSERT INTO send_as (tenant_id, user_id, address) SELECT "
		"$1::bigint, $2::bigint, $3::text WHERE EXISTS (SELECT 1 FROM "
		"domains WHERE tenant_id = $1 AND name = $4 AND ($5::bigint = "
		"0 OR id = $5 OR alias_for = $5))",
		5, params, err);

	if (n < 0)
		return -1;
	if (n > 0)
		return 0;
	admin_field_error(a, err, "send_as", "%s is not an address of %s",
			  address, below ? p->domain : "this tenant");
	return -1;
}

/* Replaces the user's send-as grants. */
static int set_send_as(struct mc_admin *a, const struct admin_place *p,
		       const json_t *list, struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid)};
	const json_t *item;
	size_t i;

	if (admin_exec(a,
		       "DELETE FROM send_as WHERE tenant_id = $1 AND "
		       "user_id = $2",
		       2, params, err) < 0)
		return -1;
	json_array_foreach(list, i, item)
	{
		if (grant_send_as(a, p, json_string_value(item), err) < 0)
			return -1;
	}
	return 0;
}

/* The department the user has after the update. */
static int64_t current_department(const struct admin_place *p)
{
	return p->ndepartments > 0 ? p->departments[p->ndepartments - 1] : 0;
}

/* Transaction of user.update. */
static int update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct update_ctx *c = ctx;
	struct admin_place p;
	struct user_state st;
	char address[MC_ADDRESS_MAX + 1];

	json_decref(c->out);
	c->out = NULL;
	if (find_target(a, c->call, true, "change users", &p, err) < 0 ||
	    self_fields_only(a, &c->in, err) < 0 ||
	    lock_user(a, &p, c->call, &st, err) < 0 ||
	    not_deleted(&st, &p, err) < 0 ||
	    check_update(a, &p, &c->in, err) < 0 ||
	    update_row(a, &p, &c->in, err) < 0)
		return -1;
	if (c->in.send_as != NULL && set_send_as(a, &p, c->in.send_as, err) < 0)
		return -1;
	if (place_department(a, &p,
			     c->in.has_department ? c->in.department
						  : current_department(&p),
			     err) < 0 ||
	    admin_audit(a, &p, "user.update", address_of(&p, address),
			c->changes, err) < 0)
		return -1;
	a->dirty = true;
	return fetch_user(a, &p, &c->out, err);
}

ADMIN_OP(admin_user_update)
{
	struct update_ctx c = {.call = call, .in = {.keep_copy = -1}};
	int r = -1;

	*out_r = NULL;
	problem_reset(a);
	if (parse_update(a, call, &c.in, err) == 0) {
		c.changes = json_deep_copy(call->body);
		json_object_del(c.changes, "local_part");
		r = admin_txn(a, update_txn, &c, err);
	}
	user_input_free(&c.in);
	json_decref(c.changes);
	if (r < 0)
		json_decref(c.out);
	else
		*out_r = c.out;
	return r < 0 ? -1 : 0;
}

/* user.delete, user.freeze, user.restore ---------------------------------- */

enum status_action { ACT_DELETE, ACT_FREEZE, ACT_RESTORE };

static const struct {
	const char *what, *action;
} status_actions[] = {
	[ACT_DELETE] = {"delete users", "user.delete"},
	[ACT_FREEZE] = {"freeze users", "user.freeze"},
	[ACT_RESTORE] = {"restore users", "user.restore"},
};

/* Where restore leads from st: 1 active, 0 nothing to do, -1 refused. */
static int restore_transition(const struct user_state *st,
			      const struct admin_place *p, struct mc_error *err)
{
	if (strcmp(st->status, "active") == 0)
		return 0;
	if (strcmp(st->status, "deleted") == 0 && st->purgeable)
		return conflict(p,
				"was deleted more than 7 days ago and can no "
				"longer be restored",
				err);
	if (strcmp(st->status, "expired") == 0)
		return conflict(p, "is expired, not frozen, pending or deleted",
				err);
	return 1;
}

/* The status an action leads to from st (*to_r): 1 change, 0 nothing to
 * do, -1 refused. */
static int transition(enum status_action act, const struct user_state *st,
		      const struct admin_place *p, const char **to_r,
		      struct mc_error *err)
{
	switch (act) {
	case ACT_DELETE:
		*to_r = "deleted";
		return strcmp(st->status, "deleted") != 0;
	case ACT_FREEZE:
		*to_r = "frozen";
		if (not_deleted(st, p, err) < 0)
			return -1;
		return strcmp(st->status, "frozen") != 0;
	case ACT_RESTORE:
		*to_r = "active";
		return restore_transition(st, p, err);
	}
	return -1;
}

/* Sets the user's status (deleted_at follows it), audited. */
static int set_status(struct mc_admin *a, const struct admin_place *p,
		      const char *action, const char *to, struct mc_error *err)
{
	char tid[NUM], uid[NUM], address[MC_ADDRESS_MAX + 1];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid), to};
	json_t *ch = json_pack("{ss}", "status", to);
	int r = admin_exec(a,
			   "UPDATE users SET status = $3, deleted_at = CASE "
			   "WHEN $3 = 'deleted' THEN now() END, version = "
			   "version + 1 WHERE tenant_id = $1 AND id = $2",
			   3, params, err) < 0
			? -1
			: admin_audit(a, p, action, address_of(p, address), ch,
				      err);

	json_decref(ch);
	a->dirty = true;
	return r;
}

struct status_ctx {
	const struct mc_admin_call *call;
	enum status_action act;
	json_t *out;
};

/* Transaction of the status actions. */
static int status_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct status_ctx *c = ctx;
	struct admin_place p;
	struct user_state st;
	const char *to = NULL;
	int r;

	json_decref(c->out);
	c->out = NULL;
	if (find_target(a, c->call, false, status_actions[c->act].what, &p,
			err) < 0 ||
	    lock_user(a, &p, c->call, &st, err) < 0)
		return -1;
	r = transition(c->act, &st, &p, &to, err);
	if (r < 0 || (r > 0 && set_status(a, &p, status_actions[c->act].action,
					  to, err) < 0))
		return -1;
	return c->act == ACT_DELETE ? 0 : fetch_user(a, &p, &c->out, err);
}

/* Runs a status action. */
static int status_op(struct mc_admin *a, const struct mc_admin_call *call,
		     enum status_action act, json_t **out_r,
		     struct mc_error *err)
{
	struct status_ctx c = {.call = call, .act = act};

	*out_r = NULL;
	problem_reset(a);
	return admin_run(a, status_txn, &c, &c.out, out_r, err);
}

ADMIN_OP(admin_user_delete)
{
	return status_op(a, call, ACT_DELETE, out_r, err);
}

ADMIN_OP(admin_user_freeze)
{
	return status_op(a, call, ACT_FREEZE, out_r, err);
}

ADMIN_OP(admin_user_restore)
{
	return status_op(a, call, ACT_RESTORE, out_r, err);
}

/* user.password ----------------------------------------------------------- */

struct password_ctx {
	const struct mc_admin_call *call;
	const char *password, *current;
	char generated[MC_PASSWORD_GEN_MAX + 1];
	json_t *out;
};

/* The user role must prove its current password. */
static int verify_current(struct mc_admin *a, const struct admin_place *p,
			  const char *current, struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid)};
	PGresult *res;
	int ok;

	if (current == NULL) {
		admin_field_error(a, err, "current_password",
				  "is required to change your own password");
		return -1;
	}
	res = admin_query(a,
			  "SELECT password_hash FROM users WHERE tenant_id = "
			  "$1 AND id = $2",
			  2, params, err);
	if (res == NULL)
		return -1;
	ok = PQntuples(res) > 0 &&
	     mc_password_verify(current, PQgetvalue(res, 0, 0), NULL) == 1;
	PQclear(res);
	if (ok)
		return 0;
	admin_field_error(a, err, "current_password", "is not correct");
	return -1;
}

/* Stores the new hash, audited with the password as "***". */
static int store_password(struct mc_admin *a, const struct admin_place *p,
			  const char *hash, struct mc_error *err)
{
	char tid[NUM], uid[NUM], address[MC_ADDRESS_MAX + 1];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid), hash};
	json_t *ch = json_pack("{ss}", "password", "***");
	int r = admin_exec(a,
			   "UPDATE users SET password_hash = $3, "
			   "password_changed_at = now(), version = version + "
			   "1 WHERE tenant_id = $1 AND id = $2",
			   3, params, err) < 0
			? -1
			: admin_audit(a, p, "user.password",
				      address_of(p, address), ch, err);

	json_decref(ch);
	a->dirty = true;
	return r;
}

/* Transaction of user.password. */
static int password_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct password_ctx *c = ctx;
	struct admin_place p;
	struct user_state st;
	struct domain_rules r;
	char *hash;

	json_decref(c->out);
	c->out = NULL;
	if (find_target(a, c->call, true, "change passwords", &p, err) < 0 ||
	    lock_user(a, &p, c->call, &st, err) < 0 ||
	    not_deleted(&st, &p, err) < 0 ||
	    (a->actor.role == MC_ROLE_USER &&
	     verify_current(a, &p, c->current, err) < 0) ||
	    domain_rules(a, &p, false, &r, err) < 0)
		return -1;
	hash = new_password(a, &r.pw, c->password, p.local, c->generated,
			    sizeof(c->generated), err);
	if (hash == NULL || store_password(a, &p, hash, err) < 0) {
		free(hash);
		return -1;
	}
	free(hash);
	if (fetch_user(a, &p, &c->out, err) < 0)
		return -1;
	if (c->generated[0] != '\0')
		json_object_set_new(c->out, "password",
				    json_string(c->generated));
	return 0;
}

ADMIN_OP(admin_user_password)
{
	static const char *const fields[] = {"password", "current_password",
					     NULL};
	struct password_ctx c = {.call = call};
	int r = -1;

	*out_r = NULL;
	problem_reset(a);
	if (admin_body_check(a, call->body, fields, false, err) == 0 &&
	    admin_get_string(a, call->body, "password", MC_PASSWORD_MAX_BYTES,
			     false, false, &c.password, err) >= 0 &&
	    admin_get_string(a, call->body, "current_password",
			     MC_PASSWORD_MAX_BYTES, false, false, &c.current,
			     err) >= 0)
		r = admin_txn(a, password_txn, &c, err);
	mc_secure_zero(c.generated, sizeof(c.generated));
	if (r < 0) {
		json_decref(c.out);
		return -1;
	}
	*out_r = c.out;
	return 0;
}

/* user.usage -------------------------------------------------------------- */

/* The mailboxes of the user at p: [{name, messages, bytes}], with the
 * total of messages. */
static json_t *mailbox_usage(struct mc_admin *a, const struct admin_place *p,
			     int64_t *messages_r, struct mc_error *err)
{
	char tid[NUM], uid[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->user_id, uid)};
	PGresult *res = admin_query(a,
				    "SELECT name, messages, size_bytes FROM "
				    "mailboxes WHERE tenant_id = $1 AND "
				    "user_id = $2 ORDER BY name",
				    2, params, err);
	json_t *list;

	if (res == NULL)
		return NULL;
	list = json_array();
	*messages_r = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		*messages_r += admin_col_i64(res, i, 1);
		json_array_append_new(
			list,
			json_pack("{sosIsI}", "name", admin_col_json(res, i, 0),
				  "messages",
				  (json_int_t)admin_col_i64(res, i, 1), "bytes",
				  (json_int_t)admin_col_i64(res, i, 2)));
	}
	PQclear(res);
	return list;
}

/* Transaction of user.usage. */
static int usage_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct get_ctx *c = ctx;
	struct admin_place p;
	json_t *user = NULL, *boxes;
	int64_t messages;

	json_decref(c->out);
	c->out = NULL;
	if (find_target(a, c->call, true, "read usage", &p, err) < 0 ||
	    fetch_user(a, &p, &user, err) < 0)
		return -1;
	boxes = mailbox_usage(a, &p, &messages, err);
	if (boxes != NULL)
		c->out = json_pack(
			"{sOsOsIso}", "quota_bytes",
			json_object_get(user, "quota_bytes"), "used_bytes",
			json_object_get(user, "used_bytes"), "messages",
			(json_int_t)messages, "mailboxes", boxes);
	json_decref(user);
	return boxes != NULL ? 0 : -1;
}

ADMIN_OP(admin_user_usage)
{
	struct get_ctx c = {.call = call};

	return run_get(a, usage_txn, &c, out_r, err);
}

/* user.policy ------------------------------------------------------------- */

struct policy_ctx {
	const struct mc_admin_call *call;
	int64_t tenant_id, user_id;
};

/* Transaction of user.policy: who, and may the actor see it. */
static int policy_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct policy_ctx *c = ctx;
	struct admin_place p;

	if (find_target(a, c->call, true, "read policies", &p, err) < 0)
		return -1;
	c->tenant_id = p.tenant_id;
	c->user_id = p.user_id;
	return 0;
}

ADMIN_OP(admin_user_policy)
{
	struct policy_ctx c = {.call = call};
	struct mc_policy_settings set = {0};
	struct mc_policy pol;
	int r;

	*out_r = NULL;
	problem_reset(a);
	if (admin_txn(a, policy_txn, &c, err) < 0)
		return -1;
	if (a->cfg != NULL)
		mc_policy_settings_from_config(a->cfg, &set);
	/* resolved outside the scoped transaction: the ceilings of levels
	 * above the actor's scope apply too */
	r = mc_policy_resolve(a->pg, a->redis, &set, c.tenant_id, c.user_id,
			      &pol, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no user %s",
			     admin_arg(call, 1));
	if (r <= 0)
		return -1;
	*out_r = mc_policy_to_json(&pol);
	return 0;
}
