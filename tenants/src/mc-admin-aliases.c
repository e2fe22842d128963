/* mc-admin-aliases: the operations on a domain's aliases and groups
 * (alias.*: rows of table aliases, kind alias or group, counted by the
 * triggers against lim_aliases or lim_lists) and on its automatic BCC
 * rules (bcc.*). Domain admins and above manage them, and assistants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define TARGETS_MAX	1000
#define DESCRIPTION_MAX 1000

#define ALIAS_COLS                                                             \
	"a.id, a.local_part, a.kind, a.targets::text, a.description, "         \
	"a.version, " ADMIN_TS("a.created_at")
#define BCC_COLS                                                               \
	"b.id, b.direction, b.local_part, b.target, b.version, " ADMIN_TS(     \
		"b.created_at")

/* The domain of the aliases an operation works on, found in the actor's
 * subtree, the role allowed (assistant or domain admin and above); its
 * ids as text in tid and did (24 bytes each). */
static int open_domain(struct mc_admin *a, const char *name,
		       struct admin_place *p, char *tid, char *did,
		       struct mc_error *err)
{
	const char *what = "manage aliases, groups or BCC rules";

	if (admin_find_domain(a, name, p, err) < 0 ||
	    admin_require(a, MC_ROLE_ASSISTANT, what, err) < 0 ||
	    admin_require_inside(a, p, what, err) < 0)
		return -1;
	admin_id_text(p->tenant_id, tid);
	admin_id_text(p->domain_id, did);
	return 0;
}

/* Lower-cased copy of s into buf (size bytes). */
static const char *lower_copy(const char *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s", s);
	return mc_str_lower(buf);
}

/* Alias input ------------------------------------------------------------ */

struct alias_in {
	char local[MC_LOCAL_PART_MAX + 1];
	const char *kind;	 /* NULL: unchanged (create: alias) */
	const char *description; /* NULL: unchanged (create: "") */
	json_t *targets;	 /* normalised addresses, NULL: unchanged */
	char *targets_lit;	 /* as a PostgreSQL array */
	json_t *changes;	 /* for the audit record */
};

static void alias_in_free(struct alias_in *in)
{
	json_decref(in->targets);
	json_decref(in->changes);
	free(in->targets_lit);
}

/* The local part of a new alias (lower-cased into in->local). */
static int parse_local(struct mc_admin *a, const json_t *body,
		       struct alias_in *in, struct mc_error *err)
{
	const char *s;

	if (admin_get_string(a, body, "local_part", MC_LOCAL_PART_MAX, true,
			     false, &s, err) < 0)
		return -1;
	lower_copy(s, in->local, sizeof(in->local));
	if (!mc_tenants_valid_local_part(in->local)) {
		admin_field_error(a, err, "local_part",
				  "use 1 to 64 letters, digits, '.', '_' or "
				  "'-'");
		return -1;
	}
	return 0;
}

/* One target, checked like every alias target (local or external, not
 * the alias itself), normalised into out. */
static int parse_target(struct mc_admin *a, const char *s, size_t i,
			const char *self, char *out, struct mc_error *err)
{
	char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
	struct mc_error e = {0};

	if (mc_tenants_split_address(s, false, local, domain, &e) < 0) {
		admin_field_error(a, err, "targets", "item %zu: %s", i, e.msg);
		return -1;
	}
	snprintf(out, MC_ADDRESS_MAX + 1, "%s@%s", local, domain);
	if (strcasecmp(out, self) == 0) {
		admin_field_error(a, err, "targets",
				  "item %zu: %s cannot target itself", i, self);
		return -1;
	}
	return 0;
}

/* The targets member: 1..1000 addresses; self is the alias's address. */
static int parse_targets(struct mc_admin *a, const json_t *body, bool required,
			 const char *self, struct alias_in *in,
			 struct mc_error *err)
{
	const json_t *arr = NULL, *item;
	size_t i;
	int r = admin_get_strings(a, body, "targets", TARGETS_MAX,
				  MC_ADDRESS_MAX, required, &arr, err);

	if (r <= 0)
		return r;
	if (json_array_size(arr) == 0) {
		admin_field_error(a, err, "targets", "needs 1 to %d addresses",
				  TARGETS_MAX);
		return -1;
	}
	in->targets = json_array();
	json_array_foreach(arr, i, item)
	{
		char full[MC_ADDRESS_MAX + 1];
		if (parse_target(a, json_string_value(item), i, self, full,
				 err) < 0)
			return -1;
		json_array_append_new(in->targets, json_string(full));
	}
	in->targets_lit = admin_pg_array(in->targets);
	json_object_set(in->changes, "targets", in->targets);
	return 1;
}

/* kind and description. */
static int parse_alias_fields(struct mc_admin *a, const json_t *body,
			      struct alias_in *in, struct mc_error *err)
{
	int r = admin_get_string(a, body, "kind", 16, false, false, &in->kind,
				 err);

	if (r < 0)
		return -1;
	if (r > 0 && strcmp(in->kind, "alias") != 0 &&
	    strcmp(in->kind, "group") != 0) {
		admin_field_error(a, err, "kind", "must be alias or group");
		return -1;
	}
	if (r > 0)
		json_object_set_new(in->changes, "kind", json_string(in->kind));
	r = admin_get_string(a, body, "description", DESCRIPTION_MAX, false,
			     true, &in->description, err);
	if (r > 0)
		json_object_set_new(in->changes, "description",
				    json_string(in->description));
	return r < 0 ? -1 : 0;
}

/* The body of alias.create (create) or alias.update; local is the
 * alias's local part for updates, domain the (lower-cased) domain. */
static int parse_alias(struct mc_admin *a, const json_t *body, bool create,
		       const char *local, const char *domain,
		       struct alias_in *in, struct mc_error *err)
{
	static const char *const allowed_create[] = {
		"local_part", "kind", "targets", "description", NULL};
	static const char *const allowed_update[] = {"kind", "targets",
						     "description", NULL};
	char self[MC_ADDRESS_MAX + 1];

	memset(in, 0, sizeof(*in));
	in->changes = json_object();
	if (!create && body != NULL && json_object_get(body, "local_part")) {
		admin_field_error(a, err, "local_part",
				  "an alias cannot be renamed; create a new "
				  "one");
		return -1;
	}
	if (admin_body_check(a, body, create ? allowed_create : allowed_update,
			     true, err) < 0 ||
	    (create && parse_local(a, body, in, err) < 0))
		return -1;
	if (!create)
		lower_copy(local, in->local, sizeof(in->local));
	snprintf(self, sizeof(self), "%s@%s", in->local, domain);
	if (parse_targets(a, body, create, self, in, err) < 0)
		return -1;
	return parse_alias_fields(a, body, in, err);
}

/* Alias output ----------------------------------------------------------- */

/* An alias row (ALIAS_COLS) as its JSON shape. */
static json_t *alias_json(const PGresult *res, int row, const void *arg)
{
	const char *domain = arg;
	const char *local = PQgetvalue(res, row, 1);
	char address[MC_ADDRESS_MAX + 1];

	snprintf(address, sizeof(address), "%s@%s", local, domain);
	return json_pack("{sssssssosssIss}", "address", address, "local_part",
			 local, "kind", PQgetvalue(res, row, 2), "targets",
			 admin_json_array(PQgetvalue(res, row, 3)),
			 "description", PQgetvalue(res, row, 4), "version",
			 (json_int_t)admin_col_i64(res, row, 5), "created_at",
			 PQgetvalue(res, row, 6));
}

/* The result of a one-row query as an alias, or NOTFOUND. */
static int alias_result(PGresult *res, const char *domain, const char *local,
			json_t **out_r, struct mc_error *err)
{
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no alias %s@%s", local,
			     domain);
		return -1;
	}
	*out_r = alias_json(res, 0, domain);
	PQclear(res);
	return 0;
}

/* alias.create ----------------------------------------------------------- */

struct alias_ctx {
	const struct mc_admin_call *call;
	struct alias_in in;
	char local[MC_LOCAL_PART_MAX + 1]; /* get/update/delete */
	json_t *out;
};

/* Locks the domain row (an address is a user or an alias, never both)
 * and fails with EXISTS when local is a user's. */
static int check_not_user(struct mc_admin *a, const struct admin_place *p,
			  const char *tid, const char *did, const char *local,
			  struct mc_error *err)
{
	const char *params[] = {tid, did, local};
	PGresult *res;

	if (admin_exec(a,
		       "SELECT 1 FROM domains WHERE tenant_id = $1 AND id = $2 "
		       "FOR UPDATE",
		       2, params, err) < 0)
		return -1;
	res = admin_query(a,
			  "SELECT 1 FROM users WHERE tenant_id = $1 AND "
			  "domain_id = $2 AND local_part = $3",
			  3, params, err);
	if (res == NULL)
		return -1;
	int taken = PQntuples(res) > 0;
	PQclear(res);
	if (taken)
		mc_error_set(err, MC_ERR_EXISTS,
			     "%s@%s is a user's address: an alias cannot "
			     "take it",
			     local, p->domain);
	return taken ? -1 : 0;
}

/* The insert of alias.create; EXISTS with a clear text for a duplicate. */
static PGresult *insert_alias(struct mc_admin *a, const struct admin_place *p,
			      const char *tid, const char *did,
			      const struct alias_in *in, struct mc_error *err)
{
	const char *params[] = {tid,
				did,
				in->local,
				in->kind != NULL ? in->kind : "alias",
				in->targets_lit,
				in->description != NULL ? in->description : ""};
	PGresult *res = admin_query(
		a,
		"INSERT INTO aliases AS a (tenant_id, domain_id, local_part, "
		"kind, targets, description) VALUES ($1::bigint, $2::bigint, "
		"$3, $4, $5::text[], $6) RETURNING " ALIAS_COLS,
		6, params, err);

	if (res == NULL && err != NULL && err->cls == MC_ERR_EXISTS)
		mc_error_reset(err, MC_ERR_EXISTS,
			       "an alias or group %s@%s already exists",
			       in->local, p->domain);
	return res;
}

/* Transaction body of alias.create. */
static int alias_create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct alias_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_ADDRESS_MAX + 1];

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    check_not_user(a, &p, tid, did, c->in.local, err) < 0)
		return -1;
	if (alias_result(insert_alias(a, &p, tid, did, &c->in, err), p.domain,
			 c->in.local, &c->out, err) < 0)
		return -1;
	json_object_set_new(c->in.changes, "kind",
			    json_incref(json_object_get(c->out, "kind")));
	snprintf(target, sizeof(target), "%s@%s", c->in.local, p.domain);
	a->dirty = true;
	return admin_audit(a, &p, "alias.create", target, c->in.changes, err);
}

ADMIN_OP(admin_alias_create)
{
	struct alias_ctx c = {.call = call};
	char domain[MC_DOMAIN_MAX + 1];
	int r = -1;

	lower_copy(admin_arg(call, 0), domain, sizeof(domain));
	if (parse_alias(a, call->body, true, NULL, domain, &c.in, err) == 0)
		r = admin_run(a, alias_create_txn, &c, &c.out, out_r, err);
	alias_in_free(&c.in);
	return r;
}

/* alias.get / .update / .delete ----------------------------------------- */

/* Transaction body of alias.get. */
static int alias_get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct alias_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[] = {tid, did, c->local};

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0)
		return -1;
	return alias_result(
		admin_query(a,
			    "SELECT " ALIAS_COLS " FROM aliases a "
			    "WHERE a.tenant_id = $1 AND "
			    "a.domain_id = $2 AND a.local_part = $3",
			    3, params, err),
		p.domain, c->local, &c->out, err);
}

/* Locks the alias row and checks If-Match. */
static int lock_alias(struct mc_admin *a, const struct alias_ctx *c,
		      const struct admin_place *p, const char *tid,
		      const char *did, struct mc_error *err)
{
	const char *params[] = {tid, did, c->local};
	PGresult *res = admin_query(a,
				    "SELECT version FROM aliases WHERE "
				    "tenant_id = $1 AND domain_id = $2 AND "
				    "local_part = $3 FOR UPDATE",
				    3, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no alias %s@%s", c->local,
			     p->domain);
		return -1;
	}
	int64_t version = admin_col_i64(res, 0, 0);
	PQclear(res);
	return admin_check_version(c->call, version, err);
}

/* Transaction body of alias.update. */
static int alias_update_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct alias_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_ADDRESS_MAX + 1];

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    lock_alias(a, c, &p, tid, did, err) < 0)
		return -1;
	const char *params[] = {tid,
				did,
				c->local,
				c->in.kind,
				c->in.targets_lit,
				c->in.description};
	if (alias_result(
		    admin_query(
			    a,
			    "UPDATE aliases a SET kind = coalesce($4, kind), "
			    "targets = coalesce($5::text[], targets), "
			    "description = coalesce($6, description), "
			    "version = version + 1 WHERE a.tenant_id = $1 "
			    "AND a.domain_id = $2 AND a.local_part = $3 "
			    "RETURNING " ALIAS_COLS,
			    6, params, err),
		    p.domain, c->local, &c->out, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "%s@%s", c->local, p.domain);
	a->dirty = true;
	return admin_audit(a, &p, "alias.update", target, c->in.changes, err);
}

/* Transaction body of alias.delete. */
static int alias_delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct alias_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_ADDRESS_MAX + 1];
	const char *params[] = {tid, did, c->local};

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    lock_alias(a, c, &p, tid, did, err) < 0)
		return -1;
	if (admin_exec(a,
		       "DELETE FROM aliases WHERE tenant_id = $1 AND "
		       "domain_id = $2 AND local_part = $3",
		       3, params, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "%s@%s", c->local, p.domain);
	a->dirty = true;
	return admin_audit(a, &p, "alias.delete", target, NULL, err);
}

/* Runs one of get/update/delete on the alias of path parameter 1. */
static int alias_run(struct mc_admin *a, const struct mc_admin_call *call,
		     admin_txn_fn *fn, struct alias_ctx *c, json_t **out_r,
		     struct mc_error *err)
{
	c->call = call;
	lower_copy(admin_arg(call, 1), c->local, sizeof(c->local));
	if (strlen(admin_arg(call, 1)) > MC_LOCAL_PART_MAX) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no alias %s",
			     admin_arg(call, 1));
		return -1;
	}
	return admin_run(a, fn, c, &c->out, out_r, err);
}

ADMIN_OP(admin_alias_get)
{
	struct alias_ctx c = {0};

	return alias_run(a, call, alias_get_txn, &c, out_r, err);
}

ADMIN_OP(admin_alias_update)
{
	struct alias_ctx c = {0};
	char domain[MC_DOMAIN_MAX + 1];
	int r = -1;

	*out_r = NULL;
	lower_copy(admin_arg(call, 0), domain, sizeof(domain));
	if (parse_alias(a, call->body, false, admin_arg(call, 1), domain, &c.in,
			err) == 0)
		r = alias_run(a, call, alias_update_txn, &c, out_r, err);
	alias_in_free(&c.in);
	return r;
}

ADMIN_OP(admin_alias_delete)
{
	struct alias_ctx c = {0};

	return alias_run(a, call, alias_delete_txn, &c, out_r, err);
}

/* alias.list ------------------------------------------------------------- */

static const struct admin_sort alias_sorts[] = {
	{"local_part", "a.local_part"},
	{"address", "a.local_part"},
	{"kind", "a.kind"},
	{"created_at", "a.created_at"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* The page of a list query: rows of cols, then the sort value and id in
 * the last two columns; to_json makes an item of a row. */
/* The WHERE additions of alias.list's filters (kind, q). */
static void alias_filters(const struct admin_list *l, struct mc_buf *sql,
			  const char **params, int *n)
{
	const char *kind = admin_filter(l, "kind"), *q = admin_filter(l, "q");

	admin_where(sql, params, n, kind, " AND a.kind = $?");
	admin_where(
		sql, params, n, q,
		" AND strpos(a.local_part || ' ' || array_to_string(a.targets, "
		"' ') || ' ' || lower(a.description), lower($?)) > 0");
}

/* Transaction body of alias.list. */
static int alias_list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[8] = {tid, did};
	int n = 2;
	struct mc_buf sql;

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " ALIAS_COLS ", %s::text, a.id FROM aliases a "
		      "WHERE a.tenant_id = $1 AND a.domain_id = $2",
		      c->l.sort->expr);
	alias_filters(&c->l, &sql, params, &n);
	PGresult *res =
		admin_list_fetch(a, &c->l, &sql, "a.id", params, n, err);
	if (res == NULL)
		return -1;
	c->out = admin_page_rows(&c->l, res, -2, -1, alias_json, p.domain);
	PQclear(res);
	return 0;
}

/* Runs a list transaction after the list options were parsed. */
static int list_run(struct mc_admin *a, struct list_ctx *c, admin_txn_fn *fn,
		    json_t **out_r, struct mc_error *err)
{
	return admin_run(a, fn, c, &c->out, out_r, err);
}

ADMIN_OP(admin_alias_list)
{
	struct list_ctx c = {.call = call};
	const char *kind;

	*out_r = NULL;
	if (admin_list_parse(a, call, alias_sorts, &c.l, err) < 0)
		return -1;
	kind = admin_filter(&c.l, "kind");
	if (kind != NULL && strcmp(kind, "alias") != 0 &&
	    strcmp(kind, "group") != 0) {
		admin_field_error(a, err, "kind", "must be alias or group");
		return -1;
	}
	return list_run(a, &c, alias_list_txn, out_r, err);
}

/* BCC rules -------------------------------------------------------------- */

/* A BCC rule row (BCC_COLS) as its JSON shape. */
static json_t *bcc_json(const PGresult *res, int row, const void *arg)
{
	const char *domain = arg;
	(void)domain;
	return json_pack(
		"{sIsssssssIss}", "id", (json_int_t)admin_col_i64(res, row, 0),
		"direction", PQgetvalue(res, row, 1), "local_part",
		PQgetvalue(res, row, 2), "target", PQgetvalue(res, row, 3),
		"version", (json_int_t)admin_col_i64(res, row, 4), "created_at",
		PQgetvalue(res, row, 5));
}

static const struct admin_sort bcc_sorts[] = {
	{"id", "b.id"},
	{"local_part", "b.local_part"},
	{"direction", "b.direction"},
	{"target", "b.target"},
	{"created_at", "b.created_at"},
	{NULL, NULL},
};

/* The WHERE additions of bcc.list's filters (direction, local_part, q). */
static void bcc_filters(const struct admin_list *l, struct mc_buf *sql,
			const char **params, int *n)
{
	const char *dir = admin_filter(l, "direction");
	const char *local = admin_filter(l, "local_part");
	const char *q = admin_filter(l, "q");

	admin_where(sql, params, n, dir, " AND b.direction = $?");
	admin_where(sql, params, n, local, " AND b.local_part = lower($?)");
	admin_where(
		sql, params, n, q,
		" AND strpos(b.local_part || ' ' || b.target, lower($?)) > 0");
}

/* Transaction body of bcc.list. */
static int bcc_list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[8] = {tid, did};
	int n = 2;
	struct mc_buf sql;

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " BCC_COLS ", %s::text, b.id FROM bcc_rules b "
		      "WHERE b.tenant_id = $1 AND b.domain_id = $2",
		      c->l.sort->expr);
	bcc_filters(&c->l, &sql, params, &n);
	PGresult *res =
		admin_list_fetch(a, &c->l, &sql, "b.id", params, n, err);
	if (res == NULL)
		return -1;
	c->out = admin_page_rows(&c->l, res, -2, -1, bcc_json, p.domain);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_bcc_list)
{
	struct list_ctx c = {.call = call};

	*out_r = NULL;
	if (admin_list_parse(a, call, bcc_sorts, &c.l, err) < 0)
		return -1;
	return list_run(a, &c, bcc_list_txn, out_r, err);
}

struct bcc_ctx {
	const struct mc_admin_call *call;
	const char *direction;
	char local[MC_LOCAL_PART_MAX + 1];
	char target[MC_ADDRESS_MAX + 1];
	int64_t id; /* bcc.delete */
	json_t *out;
};

/* direction and local_part of bcc.create. */
static int parse_bcc_source(struct mc_admin *a, const json_t *body,
			    struct bcc_ctx *c, struct mc_error *err)
{
	const char *s;

	if (admin_get_string(a, body, "direction", 8, true, false,
			     &c->direction, err) < 0)
		return -1;
	if (strcmp(c->direction, "in") != 0 &&
	    strcmp(c->direction, "out") != 0 &&
	    strcmp(c->direction, "both") != 0) {
		admin_field_error(a, err, "direction",
				  "must be in, out or both");
		return -1;
	}
	if (admin_get_string(a, body, "local_part", MC_LOCAL_PART_MAX, true,
			     false, &s, err) < 0)
		return -1;
	lower_copy(s, c->local, sizeof(c->local));
	if (strcmp(c->local, "*") != 0 &&
	    !mc_tenants_valid_local_part(c->local)) {
		admin_field_error(a, err, "local_part",
				  "must be \"*\" or a local part of the "
				  "domain");
		return -1;
	}
	return 0;
}

/* The body of bcc.create; domain is the lower-cased domain. */
static int parse_bcc(struct mc_admin *a, const json_t *body, const char *domain,
		     struct bcc_ctx *c, struct mc_error *err)
{
	static const char *const allowed[] = {"direction", "local_part",
					      "target", NULL};
	char local[MC_LOCAL_PART_MAX + 1], dom[MC_DOMAIN_MAX + 1];
	char self[MC_ADDRESS_MAX + 1];
	struct mc_error e = {0};
	const char *s;

	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    parse_bcc_source(a, body, c, err) < 0 ||
	    admin_get_string(a, body, "target", 320, true, false, &s, err) < 0)
		return -1;
	if (mc_tenants_split_address(s, false, local, dom, &e) < 0) {
		admin_field_error(a, err, "target", "%s", e.msg);
		return -1;
	}
	snprintf(c->target, sizeof(c->target), "%s@%s", local, dom);
	snprintf(self, sizeof(self), "%s@%s", c->local, domain);
	if (strcasecmp(self, c->target) == 0) {
		admin_field_error(a, err, "target",
				  "a BCC rule cannot copy %s to itself", self);
		return -1;
	}
	return 0;
}

/* A named local part must be a user or an alias of the domain. */
static int check_bcc_local(struct mc_admin *a, const struct admin_place *p,
			   const char *tid, const char *did, const char *local,
			   struct mc_error *err)
{
	const char *params[] = {tid, did, local};
	PGresult *res;

	if (strcmp(local, "*") == 0)
		return 0;
	res = admin_query(a,
			  "SELECT 1 FROM users WHERE tenant_id = $1 AND "
			  "domain_id = $2 AND local_part = $3 UNION ALL "
			  "SELECT 1 FROM aliases WHERE tenant_id = $1 AND "
			  "domain_id = $2 AND local_part = $3",
			  3, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	if (!found)
		admin_field_error(a, err, "local_part",
				  "%s@%s is neither a user nor an alias", local,
				  p->domain);
	return found ? 0 : -1;
}

/* Transaction body of bcc.create. */
static int bcc_create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct bcc_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_DOMAIN_MAX + 48];

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    check_bcc_local(a, &p, tid, did, c->local, err) < 0)
		return -1;
	const char *params[] = {tid, did, c->direction, c->local, c->target};
	PGresult *res = admin_query(
		a,
		"INSERT INTO bcc_rules AS b (tenant_id, domain_id, direction, "
		"local_part, target) VALUES ($1::bigint, $2::bigint, $3, $4, "
		"$5) RETURNING " BCC_COLS,
		5, params, err);
	if (res == NULL) {
		if (err != NULL && err->cls == MC_ERR_EXISTS)
			mc_error_reset(err, MC_ERR_EXISTS,
				       "this BCC rule already exists");
		return -1;
	}
	c->out = bcc_json(res, 0, p.domain);
	PQclear(res);
	snprintf(target, sizeof(target), "%s bcc rule %lld", p.domain,
		 (long long)json_integer_value(json_object_get(c->out, "id")));
	json_t *changes =
		json_pack("{ssssss}", "direction", c->direction, "local_part",
			  c->local, "target", c->target);
	a->dirty = true;
	int r = admin_audit(a, &p, "bcc.create", target, changes, err);
	json_decref(changes);
	return r;
}

ADMIN_OP(admin_bcc_create)
{
	struct bcc_ctx c = {.call = call};
	char domain[MC_DOMAIN_MAX + 1];

	*out_r = NULL;
	lower_copy(admin_arg(call, 0), domain, sizeof(domain));
	if (parse_bcc(a, call->body, domain, &c, err) < 0)
		return -1;
	int r = admin_run(a, bcc_create_txn, &c, &c.out, out_r, err);
	return r;
}

/* Locks BCC rule c->id of the domain and checks If-Match. */
static int lock_bcc(struct mc_admin *a, const struct bcc_ctx *c,
		    const char *tid, const char *did, struct mc_error *err)
{
	char id[24];
	const char *params[] = {tid, did, admin_id_text(c->id, id)};
	PGresult *res = admin_query(a,
				    "SELECT version FROM bcc_rules WHERE "
				    "tenant_id = $1 AND domain_id = $2 AND "
				    "id = $3 FOR UPDATE",
				    3, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no BCC rule %lld",
			     (long long)c->id);
		return -1;
	}
	int64_t version = admin_col_i64(res, 0, 0);
	PQclear(res);
	return admin_check_version(c->call, version, err);
}

/* Transaction body of bcc.delete. */
static int bcc_delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct bcc_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], id[24], target[MC_DOMAIN_MAX + 48];
	const char *params[] = {tid, did, id};

	if (open_domain(a, admin_arg(c->call, 0), &p, tid, did, err) < 0 ||
	    lock_bcc(a, c, tid, did, err) < 0)
		return -1;
	admin_id_text(c->id, id);
	if (admin_exec(a,
		       "DELETE FROM bcc_rules WHERE tenant_id = $1 AND "
		       "domain_id = $2 AND id = $3",
		       3, params, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "%s bcc rule %lld", p.domain,
		 (long long)c->id);
	a->dirty = true;
	return admin_audit(a, &p, "bcc.delete", target, NULL, err);
}

ADMIN_OP(admin_bcc_delete)
{
	struct bcc_ctx c = {.call = call};
	const char *id = admin_arg(call, 1);

	*out_r = NULL;
	if (*id < '1' || *id > '9' || !mc_str_to_i64(id, &c.id) || c.id <= 0) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no BCC rule %s", id);
		return -1;
	}
	return admin_txn(a, bcc_delete_txn, &c, err);
}
