/* mc-admin-relays: the smarthost routes of mc-deliverd (relay.list,
 * .create, .delete) through the admin model: rows of relay_routes, either
 * provider-wide (tenant_id 0) or of one tenant. Only the provider manages
 * them; every other role is denied. The AUTH password is write-only: no
 * list shows it and audit records carry "***" in its place. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define WHAT	     "manage relay routes"
#define PRIORITY_MAX 1000000

/* Routes never change (delete and create again): always version 1. */
#define ROUTE_VERSION 1

#define ROUTE_COLS                                                             \
	"r.id, r.kind, t.name, r.match, r.host, r.port, r.auth_user, r.tls, "  \
	"r.priority, " ADMIN_TS("r.created_at")
#define ROUTE_FROM                                                             \
	" FROM relay_routes r LEFT JOIN tenants t ON t.id = r.tenant_id "

/* A route row (ROUTE_COLS) as its JSON shape (RelayRoute). */
static json_t *route_json(const PGresult *res, int row, const void *arg)
{
	(void)arg;
	return json_pack(
		"{sIsssososssIsosssIsIss}", "id",
		(json_int_t)admin_col_i64(res, row, 0), "kind",
		PQgetvalue(res, row, 1), "tenant", admin_col_json(res, row, 2),
		"match", admin_col_json(res, row, 3), "host",
		PQgetvalue(res, row, 4), "port",
		(json_int_t)admin_col_i64(res, row, 5), "auth_user",
		admin_col_json(res, row, 6), "tls", PQgetvalue(res, row, 7),
		"priority", (json_int_t)admin_col_i64(res, row, 8), "version",
		(json_int_t)ROUTE_VERSION, "created_at",
		PQgetvalue(res, row, 9));
}

/* relay.list ------------------------------------------------------------ */

static const struct admin_sort route_sorts[] = {
	{"id", "r.id"},	    {"priority", "r.priority"},
	{"host", "r.host"}, {"created_at", "r.created_at"},
	{NULL, NULL},
};

struct list_ctx {
	struct admin_list l;
	json_t *out;
};

/* Transaction body of relay.list (filters kind, tenant, q). */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	const char *params[6];
	int n = 0;
	struct mc_buf sql;

	if (admin_require(a, MC_ROLE_PROVIDER, WHAT, err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " ROUTE_COLS ", (%s)::text, r.id" ROUTE_FROM
		      "WHERE true",
		      c->l.sort->expr);
	admin_where(&sql, params, &n, admin_filter(&c->l, "kind"),
		    " AND r.kind = $?");
	admin_where(&sql, params, &n, admin_filter(&c->l, "tenant"),
		    " AND t.name = lower($?)");
	admin_where(&sql, params, &n, admin_filter(&c->l, "q"),
		    " AND strpos(coalesce(r.match, '') || ' ' || r.host, "
		    "lower($?)) > 0");
	c->out = admin_list_page(a, &c->l, &sql, "r.id", params, n, route_json,
				 NULL, err);
	return c->out != NULL ? 0 : -1;
}

ADMIN_OP(admin_relay_list)
{
	struct list_ctx c = {0};

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, route_sorts, &c.l, err) < 0)
		return -1;
	return admin_run(a, list_txn, &c, &c.out, out_r, err);
}

/* relay.create ---------------------------------------------------------- */

/* What a create body holds (strings borrowed from the body, except the
 * normalised copies). */
struct route_in {
	const char *kind, *tenant, *user, *password, *tls;
	char match[MC_DOMAIN_MAX + 1];
	char host[MC_DOMAIN_MAX + 1];
	int64_t port, priority;
};

struct create_ctx {
	struct route_in in;
	json_t *out;
};

/* s is one of the NULL-terminated names. */
static bool one_of(const char *s, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* An optional string member where null means absent. */
static int get_opt(struct mc_admin *a, const json_t *body, const char *field,
		   size_t max, const char **value_r, struct mc_error *err)
{
	*value_r = NULL;
	if (json_is_null(json_object_get(body, field)))
		return 0;
	return admin_get_string(a, body, field, max, false, false, value_r,
				err);
}

/* A host name of LDH labels (one label is enough: "localhost"), lower
 * case, not all digits and dots (that would be a bad IPv4 literal). */
static bool host_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > MC_DOMAIN_MAX || strspn(s, "0123456789.") == len)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-' ||
			    s[i - label] == '-')
				return false;
			label = 0;
		} else if (islower((unsigned char)s[i]) ||
			   isdigit((unsigned char)s[i]) || s[i] == '-') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* host: a host name, an IPv4 literal or an IPv6 literal (brackets
 * optional; stored without them), lower-cased into in->host. */
static int read_host(struct mc_admin *a, const json_t *body,
		     struct route_in *in, struct mc_error *err)
{
	const char *s;
	unsigned char buf[16];

	if (admin_get_string(a, body, "host", MC_DOMAIN_MAX, true, false, &s,
			     err) < 0)
		return -1;
	size_t len = strlen(s);
	if (len > 2 && s[0] == '[' && s[len - 1] == ']')
		snprintf(in->host, sizeof(in->host), "%.*s", (int)(len - 2),
			 s + 1);
	else
		snprintf(in->host, sizeof(in->host), "%s", s);
	mc_str_lower(in->host);
	if (inet_pton(AF_INET6, in->host, buf) == 1 ||
	    (s[0] != '[' && (inet_pton(AF_INET, in->host, buf) == 1 ||
			     host_name_ok(in->host))))
		return 0;
	admin_field_error(a, err, "host",
			  "must be a host name or an IP address");
	return -1;
}

/* kind, tenant and match, and their consistency. */
static int read_kind(struct mc_admin *a, const json_t *body,
		     struct route_in *in, struct mc_error *err)
{
	static const char *const kinds[] = {"all", "tenant", "sender_domain",
					    "recipient_domain", NULL};
	const char *match;

	if (admin_get_string(a, body, "kind", 32, true, false, &in->kind, err) <
		    0 ||
	    get_opt(a, body, "tenant", 63, &in->tenant, err) < 0 ||
	    get_opt(a, body, "match", MC_DOMAIN_MAX, &match, err) < 0)
		return -1;
	if (!one_of(in->kind, kinds)) {
		admin_field_error(a, err, "kind",
				  "must be all, tenant, sender_domain or "
				  "recipient_domain");
		return -1;
	}
	bool domain_kind = strstr(in->kind, "_domain") != NULL;
	if (strcmp(in->kind, "tenant") == 0 && in->tenant == NULL) {
		admin_field_error(a, err, "tenant",
				  "is required for a tenant route");
		return -1;
	}
	if (!domain_kind && match != NULL) {
		admin_field_error(a, err, "match",
				  "is only for sender_domain and "
				  "recipient_domain routes");
		return -1;
	}
	if (!domain_kind)
		return 0;
	if (match == NULL) {
		admin_field_error(a, err, "match", "is required for a %s route",
				  in->kind);
		return -1;
	}
	snprintf(in->match, sizeof(in->match), "%s", match);
	if (!mc_tenants_valid_domain(mc_str_lower(in->match))) {
		admin_field_error(a, err, "match", "must be a domain name");
		return -1;
	}
	return 0;
}

/* auth_user and auth_password (both or neither), and tls with its
 * default (required with AUTH, else opportunistic). */
static int read_auth(struct mc_admin *a, const json_t *body,
		     struct route_in *in, struct mc_error *err)
{
	static const char *const modes[] = {"none", "opportunistic", "required",
					    "verify", NULL};

	if (get_opt(a, body, "auth_user", 320, &in->user, err) < 0 ||
	    get_opt(a, body, "auth_password", 1024, &in->password, err) < 0 ||
	    get_opt(a, body, "tls", 16, &in->tls, err) < 0)
		return -1;
	if ((in->user == NULL) != (in->password == NULL)) {
		admin_field_error(a, err,
				  in->user == NULL ? "auth_user"
						   : "auth_password",
				  "auth_user and auth_password go together");
		return -1;
	}
	if (in->tls == NULL)
		in->tls = in->user != NULL ? "required" : "opportunistic";
	if (!one_of(in->tls, modes)) {
		admin_field_error(a, err, "tls",
				  "must be none, opportunistic, required or "
				  "verify");
		return -1;
	}
	return 0;
}

/* Reads and checks a create body. */
static int read_create(struct mc_admin *a, const json_t *body,
		       struct route_in *in, struct mc_error *err)
{
	static const char *const allowed[] = {
		"kind",	     "tenant",	      "match", "host",	   "port",
		"auth_user", "auth_password", "tls",   "priority", NULL};

	in->port = 25;
	in->priority = 0;
	if (admin_body_check(a, body, allowed, true, err) < 0 ||
	    read_kind(a, body, in, err) < 0 ||
	    read_host(a, body, in, err) < 0 ||
	    admin_get_int(a, body, "port", 1, 65535, false, &in->port, err) <
		    0 ||
	    read_auth(a, body, in, err) < 0)
		return -1;
	return admin_get_int(a, body, "priority", -PRIORITY_MAX, PRIORITY_MAX,
			     false, &in->priority, err) < 0
		       ? -1
		       : 0;
}

/* The audit changes of a route for tenant (NULL: provider-wide), the
 * password as "***". */
static json_t *changes_of(const struct route_in *in, const char *tenant)
{
	json_t *ch = json_pack("{sssssIsssI}", "kind", in->kind, "host",
			       in->host, "port", (json_int_t)in->port, "tls",
			       in->tls, "priority", (json_int_t)in->priority);

	if (tenant != NULL)
		json_object_set_new(ch, "tenant", json_string(tenant));
	if (in->match[0] != '\0')
		json_object_set_new(ch, "match", json_string(in->match));
	if (in->user != NULL) {
		json_object_set_new(ch, "auth_user", json_string(in->user));
		json_object_set_new(ch, "auth_password", json_string("***"));
	}
	return ch;
}

/* The tenant a route is for into p (zeroed: provider-wide when none). */
static int route_tenant(struct mc_admin *a, const char *tenant,
			struct admin_place *p, struct mc_error *err)
{
	memset(p, 0, sizeof(*p));
	if (tenant == NULL)
		return 0;
	if (admin_find_tenant(a, tenant, p, err) == 0)
		return 0;
	if (err != NULL && err->cls == MC_ERR_NOTFOUND) {
		mc_error_clear(err);
		admin_field_error(a, err, "tenant", "no tenant %s", tenant);
		return -1;
	}
	return -1;
}

/* Inserts the route; its row (ROUTE_COLS) as JSON into c->out. */
static int insert_route(struct mc_admin *a, struct create_ctx *c,
			const struct admin_place *p, struct mc_error *err)
{
	const struct route_in *in = &c->in;
	char tid[24], port[24], prio[24];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				in->kind,
				in->match[0] != '\0' ? in->match : NULL,
				in->host,
				admin_id_text(in->port, port),
				in->user,
				in->password,
				in->tls,
				admin_id_text(in->priority, prio)};
	PGresult *res = admin_query(
		a,
		"WITH r AS (INSERT INTO relay_routes (tenant_id, kind, match, "
		"host, port, auth_user, auth_password, tls, priority) VALUES "
		"($1::bigint, $2, $3, $4, $5::integer, $6, $7, $8, "
		"$9::integer) RETURNING *) SELECT " ROUTE_COLS
		" FROM r LEFT JOIN tenants t ON t.id = r.tenant_id",
		9, params, err);

	if (res == NULL)
		return err != NULL && err->cls == MC_ERR_EXISTS
			       ? admin_exists_error(err, "relay route to",
						    in->host)
			       : -1;
	c->out = route_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

/* Transaction body of relay.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct create_ctx *c = ctx;
	struct admin_place p;
	char target[48];

	if (admin_require(a, MC_ROLE_PROVIDER, WHAT, err) < 0 ||
	    route_tenant(a, c->in.tenant, &p, err) < 0 ||
	    insert_route(a, c, &p, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "relay route %lld",
		 (long long)json_integer_value(json_object_get(c->out, "id")));
	return admin_audit_new(
		a, &p, "relay.create", target,
		changes_of(&c->in, p.tenant_id != 0 ? p.tenant : NULL), err);
}

ADMIN_OP(admin_relay_create)
{
	struct create_ctx c = {0};

	admin_op_begin(a, out_r);
	if (admin_require(a, MC_ROLE_PROVIDER, WHAT, err) < 0 ||
	    read_create(a, call->body, &c.in, err) < 0)
		return -1;
	return admin_run(a, create_txn, &c, &c.out, out_r, err);
}

/* relay.delete ---------------------------------------------------------- */

struct delete_ctx {
	const struct mc_admin_call *call;
	int64_t id;
};

/* Locks route c->id; its tenant's place into p (provider-wide routes,
 * and routes whose tenant is gone, stay at the provider) and its fields
 * into *changes_r for the audit record. */
static int lock_route(struct mc_admin *a, const struct delete_ctx *c,
		      struct admin_place *p, json_t **changes_r,
		      struct mc_error *err)
{
	char id[24], tenant[64];
	const char *params[] = {admin_id_text(c->id, id)};
	PGresult *res = admin_query(
		a,
		"SELECT r.kind, r.match, r.host, r.port, t.name FROM "
		"relay_routes r LEFT JOIN tenants t ON t.id = r.tenant_id "
		"WHERE r.id = $1 FOR UPDATE OF r",
		1, params, err);

	memset(p, 0, sizeof(*p));
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no relay route %s", id);
		return -1;
	}
	bool provider = PQgetisnull(res, 0, 4);
	*changes_r = json_pack("{sssosssIso}", "kind", PQgetvalue(res, 0, 0),
			       "match", admin_col_json(res, 0, 1), "host",
			       PQgetvalue(res, 0, 2), "port",
			       (json_int_t)admin_col_i64(res, 0, 3), "tenant",
			       admin_col_json(res, 0, 4));
	snprintf(tenant, sizeof(tenant), "%s", PQgetvalue(res, 0, 4));
	PQclear(res);
	if (!provider && admin_find_tenant(a, tenant, p, err) < 0)
		return -1;
	return admin_check_version(c->call, ROUTE_VERSION, err);
}

/* Transaction body of relay.delete. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct delete_ctx *c = ctx;
	struct admin_place p;
	json_t *changes = NULL;
	char id[24], target[48];
	const char *params[] = {admin_id_text(c->id, id)};

	if (admin_require(a, MC_ROLE_PROVIDER, WHAT, err) < 0)
		return -1;
	if (lock_route(a, c, &p, &changes, err) < 0 ||
	    admin_exec(a, "DELETE FROM relay_routes WHERE id = $1", 1, params,
		       err) < 0) {
		json_decref(changes);
		return -1;
	}
	snprintf(target, sizeof(target), "relay route %s", id);
	return admin_audit_new(a, &p, "relay.delete", target, changes, err);
}

ADMIN_OP(admin_relay_delete)
{
	struct delete_ctx c = {.call = call};

	admin_op_begin(a, out_r);
	if (admin_require(a, MC_ROLE_PROVIDER, WHAT, err) < 0 ||
	    admin_arg_id(call, 0, "relay route", &c.id, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &c, err) < 0 ? -1 : 0;
}
