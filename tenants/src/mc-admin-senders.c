/* mc-admin-senders: the sender allow and block lists of schema/0012
 * through the admin model (sender_lists.list, .create, .delete): a
 * domain's own entries (user_id NULL) and its users' entries. Tenant and
 * domain admins of the domain (and above) manage them all; a user only
 * its own; assistants and department admins are denied. Audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define WHAT	      "manage sender lists"
#define ENTRY_VERSION 1	   /* entries are deleted and added again */
#define ENTRIES_MAX   1000 /* per domain, users' entries included */
#define PATTERN_MAX   320

#define ENTRY_COLS                                                             \
	"s.id, s.kind, s.pattern, u.local_part, " ADMIN_TS("s.created_at")
#define ENTRY_FROM                                                             \
	" FROM sender_lists s LEFT JOIN users u ON u.tenant_id = "             \
	"s.tenant_id AND u.id = s.user_id"

/* An entry row (ENTRY_COLS) as its JSON shape (SenderListEntry); arg:
 * the domain's name. */
static json_t *entry_json(const PGresult *res, int row, const void *arg)
{
	const char *domain = arg;
	bool of_user = !PQgetisnull(res, row, 3);
	char address[MC_ADDRESS_MAX + 1];
	json_t *o = json_pack("{sIsssssssIss}", "id",
			      (json_int_t)admin_col_i64(res, row, 0), "kind",
			      PQgetvalue(res, row, 1), "pattern",
			      PQgetvalue(res, row, 2), "domain", domain,
			      "version", (json_int_t)ENTRY_VERSION,
			      "created_at", PQgetvalue(res, row, 4));

	snprintf(address, sizeof(address), "%s@%s", PQgetvalue(res, row, 3),
		 domain);
	json_object_set_new(o, "user", admin_col_json(res, row, 3));
	json_object_set_new(o, "address",
			    of_user ? json_string(address) : json_null());
	return o;
}

/* Finds the domain of the call and checks the actor may manage lists in
 * it: domain admins and above, or a user of it (its own entries). */
static int find_domain(struct mc_admin *a, const struct mc_admin_call *call,
		       struct admin_place *p, struct mc_error *err)
{
	if (admin_find_domain(a, admin_arg(call, 0), p, err) < 0)
		return -1;
	if (a->actor.role == MC_ROLE_USER)
		return 0;
	if (admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0 ||
	    admin_require_inside(a, p, WHAT, err) < 0)
		return -1;
	return 0;
}

/* The user actor's own id as text; -1 NOTFOUND for an actor without a
 * user (it owns no entries). */
static int own_user(struct mc_admin *a, const struct admin_place *p, char *uid,
		    struct mc_error *err)
{
	if (a->actor.user_id == 0) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no sender lists in %s",
			     p->domain);
		return -1;
	}
	admin_id_text(a->actor.user_id, uid);
	return 0;
}

/* sender_lists.list ----------------------------------------------------- */

static const struct admin_sort entry_sorts[] = {
	{"id", "s.id"},
	{"pattern", "s.pattern"},
	{"created_at", "s.created_at"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* The WHERE additions of the filters kind, user ("" or "-" = the
 * domain's own entries) and q. */
static void list_filters(const struct admin_list *l, struct mc_buf *sql,
			 const char **params, int *n)
{
	const char *user = admin_filter(l, "user");

	admin_where(sql, params, n, admin_filter(l, "kind"),
		    " AND s.kind = $?");
	admin_where(sql, params, n, admin_filter(l, "q"),
		    " AND strpos(s.pattern, lower($?)) > 0");
	if (user != NULL && (user[0] == '\0' || strcmp(user, "-") == 0))
		mc_buf_printf(sql, " AND s.user_id IS NULL");
	else
		admin_where(sql, params, n, user,
			    " AND u.local_part = lower($?)");
}

/* Transaction body of sender_lists.list. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], uid[24];
	const char *params[8] = {tid, did};
	int n = 2;
	struct mc_buf sql;

	if (find_domain(a, c->call, &p, err) < 0)
		return -1;
	admin_id_text(p.tenant_id, tid);
	admin_id_text(p.domain_id, did);
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " ENTRY_COLS ", (%s)::text, s.id" ENTRY_FROM
		      " WHERE s.tenant_id = $1 AND s.domain_id = $2",
		      c->l.sort->expr);
	if (a->actor.role == MC_ROLE_USER) {
		if (own_user(a, &p, uid, err) < 0) {
			mc_buf_free(&sql);
			return -1;
		}
		admin_where(&sql, params, &n, uid, " AND s.user_id = $?");
	}
	list_filters(&c->l, &sql, params, &n);
	c->out = admin_list_page(a, &c->l, &sql, "s.id", params, n, entry_json,
				 p.domain, err);
	return c->out != NULL ? 0 : -1;
}

/* The filter kind must be allow or block. */
static int list_check(struct mc_admin *a, const struct admin_list *l,
		      struct mc_error *err)
{
	const char *kind = admin_filter(l, "kind");

	if (kind != NULL && strcmp(kind, "allow") != 0 &&
	    strcmp(kind, "block") != 0) {
		admin_field_error(a, err, "kind", "must be allow or block");
		return -1;
	}
	return 0;
}

ADMIN_OP(admin_sender_lists_list)
{
	struct list_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    admin_list_parse(a, call, entry_sorts, &c.l, err) < 0 ||
	    list_check(a, &c.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &c, &c.out, out_r, err);
}

/* sender_lists.create --------------------------------------------------- */

struct create_ctx {
	const struct mc_admin_call *call;
	const char *kind;
	char pattern[PATTERN_MAX + 1];
	const char *user; /* a local part; NULL: none given */
	json_t *out;
};

/* Whether s (lower case) is "local@domain" with one '@' or "@domain",
 * the domain a host name with a dot. */
static bool pattern_ok(const char *s)
{
	char local[MC_LOCAL_PART_MAX + 1], dom[MC_DOMAIN_MAX + 1];
	struct mc_error e = {0};
	const char *at = strchr(s, '@');

	if (at == NULL || strchr(at + 1, '@') != NULL)
		return false;
	if (at == s)
		return mc_tenants_valid_domain(s + 1);
	return mc_tenants_split_address(s, false, local, dom, &e) == 0 &&
	       mc_tenants_valid_domain(dom);
}

/* kind and pattern of the body (the pattern lower-cased). */
static int read_entry(struct mc_admin *a, const json_t *body,
		      struct create_ctx *c, struct mc_error *err)
{
	const char *s;

	if (admin_get_string(a, body, "kind", 8, true, false, &c->kind, err) <
	    0)
		return -1;
	if (strcmp(c->kind, "allow") != 0 && strcmp(c->kind, "block") != 0) {
		admin_field_error(a, err, "kind", "must be allow or block");
		return -1;
	}
	if (admin_get_string(a, body, "pattern", PATTERN_MAX, true, false, &s,
			     err) < 0)
		return -1;
	snprintf(c->pattern, sizeof(c->pattern), "%s", s);
	mc_str_lower(c->pattern);
	if (!pattern_ok(c->pattern)) {
		admin_field_error(a, err, "pattern",
				  "must be an address (name@example.com) or "
				  "a domain (@example.com)");
		return -1;
	}
	return 0;
}

/* The create body: kind, pattern and the optional user. */
static int read_create(struct mc_admin *a, const json_t *body,
		       struct create_ctx *c, struct mc_error *err)
{
	static const char *const allowed[] = {"kind", "pattern", "user", NULL};

	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    read_entry(a, body, c, err) < 0 ||
	    admin_get_string(a, body, "user", MC_LOCAL_PART_MAX, false, false,
			     &c->user, err) < 0)
		return -1;
	return 0;
}

/* The user whose list it is into uid ("" for the domain's own list):
 * the named one (a user actor may name only itself; none = itself). An
 * unknown user is a field error for admins, DENIED for a user actor
 * (which finds no other user). */
static int entry_user(struct mc_admin *a, struct create_ctx *c,
		      const struct admin_place *dom, char *uid,
		      struct mc_error *err)
{
	bool self = a->actor.role == MC_ROLE_USER;
	struct admin_place p = *dom;

	uid[0] = '\0';
	if (c->user == NULL)
		return self ? own_user(a, dom, uid, err) : 0;
	struct mc_error e = {0};
	if (admin_find_user(a, c->user, &p, &e) == 0) {
		admin_id_text(p.user_id, uid);
		return 0;
	}
	if (e.cls == MC_ERR_NOTFOUND && self)
		mc_error_set(err, MC_ERR_DENIED,
			     "a user may only manage its own sender lists");
	else if (e.cls == MC_ERR_NOTFOUND)
		admin_field_error(a, err, "user", "no user %s@%s", c->user,
				  dom->domain);
	else
		mc_error_set(err, e.cls, "%s", e.msg);
	return -1;
}

/* Locks the domain and refuses a new entry past ENTRIES_MAX. */
static int check_limit(struct mc_admin *a, const struct admin_place *p,
		       const char *const *params, struct mc_error *err)
{
	PGresult *res = admin_query(
		a,
		"SELECT (SELECT count(*) FROM sender_lists WHERE tenant_id = "
		"$1 AND domain_id = $2) FROM domains WHERE tenant_id = $1 AND "
		"id = $2 FOR UPDATE",
		2, params, err);

	if (res == NULL)
		return -1;
	int64_t n = PQntuples(res) > 0 ? admin_col_i64(res, 0, 0) : 0;
	PQclear(res);
	if (n < ENTRIES_MAX)
		return 0;
	return admin_limit_error(a, err, "sender_lists", "domain", p->domain,
				 ENTRIES_MAX);
}

/* Inserts the entry of c; its row into c->out. */
static int insert_entry(struct mc_admin *a, struct create_ctx *c,
			const struct admin_place *p, const char *const *params,
			struct mc_error *err)
{
	PGresult *res = admin_query(
		a,
		"WITH s AS (INSERT INTO sender_lists (tenant_id, domain_id, "
		"user_id, kind, pattern) VALUES ($1, $2, "
		"nullif($3, '')::bigint, $4, $5) RETURNING *) "
		"SELECT " ENTRY_COLS
		" FROM s LEFT JOIN users u ON u.tenant_id = s.tenant_id AND "
		"u.id = s.user_id",
		5, params, err);

	if (res == NULL) {
		if (err != NULL && err->cls == MC_ERR_EXISTS)
			mc_error_reset(err, MC_ERR_EXISTS,
				       "%s is already on this %s list",
				       c->pattern, c->kind);
		return -1;
	}
	c->out = entry_json(res, 0, p->domain);
	PQclear(res);
	return 0;
}

/* The audit target of an entry: "<domain> sender list <id>". */
static void entry_target(const struct admin_place *p, int64_t id, char *buf,
			 size_t size)
{
	snprintf(buf, size, "%s sender list %lld", p->domain, (long long)id);
}

/* Transaction body of sender_lists.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct create_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], uid[24], target[MC_DOMAIN_MAX + 48];

	if (find_domain(a, c->call, &p, err) < 0 ||
	    entry_user(a, c, &p, uid, err) < 0)
		return -1;
	const char *params[] = {admin_id_text(p.tenant_id, tid),
				admin_id_text(p.domain_id, did), uid, c->kind,
				c->pattern};
	if (check_limit(a, &p, params, err) < 0 ||
	    insert_entry(a, c, &p, params, err) < 0)
		return -1;
	entry_target(&p, json_integer_value(json_object_get(c->out, "id")),
		     target, sizeof(target));
	return admin_audit_new(
		a, &p, "sender_lists.create", target,
		json_pack("{sOsOsO}", "kind", json_object_get(c->out, "kind"),
			  "pattern", json_object_get(c->out, "pattern"), "user",
			  json_object_get(c->out, "user")),
		err);
}

ADMIN_OP(admin_sender_lists_create)
{
	struct create_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 1, err) < 0 ||
	    read_create(a, call->body, &c, err) < 0)
		return -1;
	return admin_run(a, create_txn, &c, &c.out, out_r, err);
}

/* sender_lists.delete --------------------------------------------------- */

struct delete_ctx {
	const struct mc_admin_call *call;
	int64_t id;
};

/* Deletes entry c->id of the domain at p (a user actor: only its own);
 * its audit changes into *changes_r. */
static int delete_entry(struct mc_admin *a, struct delete_ctx *c,
			const struct admin_place *p, json_t **changes_r,
			struct mc_error *err)
{
	char tid[24], did[24], id[24], uid[24] = "";

	if (a->actor.role == MC_ROLE_USER && own_user(a, p, uid, err) < 0)
		return -1;
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did),
				admin_id_text(c->id, id), uid};
	PGresult *res = admin_query(
		a,
		"WITH s AS (DELETE FROM sender_lists WHERE tenant_id = $1 AND "
		"domain_id = $2 AND id = $3 AND ($4 = '' OR user_id = "
		"nullif($4, '')::bigint) RETURNING *) SELECT " ENTRY_COLS
		" FROM s LEFT JOIN users u ON u.tenant_id = s.tenant_id AND "
		"u.id = s.user_id",
		4, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND,
			     "no sender list entry %s in %s", id, p->domain);
		return -1;
	}
	*changes_r = json_pack("{ssss}", "kind", PQgetvalue(res, 0, 1),
			       "pattern", PQgetvalue(res, 0, 2));
	json_object_set_new(*changes_r, "user", admin_col_json(res, 0, 3));
	PQclear(res);
	return 0;
}

/* Transaction body of sender_lists.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct delete_ctx *c = ctx;
	struct admin_place p;
	char target[MC_DOMAIN_MAX + 48];
	json_t *changes = NULL;

	if (find_domain(a, c->call, &p, err) < 0 ||
	    delete_entry(a, c, &p, &changes, err) < 0)
		return -1;
	if (admin_check_version(c->call, ENTRY_VERSION, err) < 0) {
		json_decref(changes);
		return -1;
	}
	entry_target(&p, c->id, target, sizeof(target));
	return admin_audit_new(a, &p, "sender_lists.delete", target, changes,
			       err);
}

ADMIN_OP(admin_sender_lists_delete)
{
	struct delete_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_need_args(call, 2, err) < 0 ||
	    admin_arg_id(call, 1, "sender list entry", &c.id, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &c, err) < 0 ? -1 : 0;
}
