/* mc-admin-tokens: API tokens: token.list/.create/.get/.delete (revoke)
 * and authentication of a bearer token. The secret ("mct_" + 43
 * base64url characters of 32 random bytes) is shown once; only its
 * SHA-256 is stored, with the first 12 characters to tell tokens apart. */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"
#include "mc-admin-token.h"

#define TOKEN_PREFIX	"mct_"
#define TOKEN_LEN	47 /* "mct_" + 43 */
#define TOKEN_SHOWN	12 /* the stored prefix */
#define TOKEN_NETWORKS	64
#define DAYS_DEFAULT	90
#define DAYS_MAX	3650
#define LAST_USED_EVERY "60 seconds"

/* clang-format off */
#define TOKEN_COLS                                                             \
	"k.id, k.name, k.binding_id, " MC_ADMIN_BINDING_SCOPE_COLS ", "        \
	"k.prefix, k.networks::text, "                                         \
	ADMIN_TS("k.expires_at") ", "                                          \
	ADMIN_TS("k.revoked_at") ", "                                          \
	ADMIN_TS("k.last_used_at") ", "                                        \
	"host(k.last_used_ip), k.created_by, "                                 \
	ADMIN_TS("k.created_at")
/* clang-format on */
#define TOKEN_FROM                                                             \
	" FROM api_tokens k JOIN role_bindings b ON b.id = "                   \
	"k.binding_id" MC_ADMIN_BINDING_JOINS
#define TOKEN_SELECT                                                           \
	"SELECT " TOKEN_COLS TOKEN_FROM " WHERE " MC_ADMIN_BINDING_VISIBLE
enum {
	COL_ID = 0,
	COL_NAME,
	COL_BINDING,
	COL_SCOPE, /* five columns */
	COL_PREFIX = 8,
	COL_NETWORKS,
	COL_EXPIRES,
	COL_REVOKED,
	COL_LAST_USED,
	COL_LAST_IP,
	COL_CREATED_BY,
	COL_CREATED_AT,
	COL_SORT, /* lists only */
};

/* Reads n decimal digits at s into *v; false unless all are digits. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* Is y-m-d a real calendar day? */
static bool real_day(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* The zone of an RFC 3339 time at s ("Z" or "+hh:mm"): seconds east. */
static bool parse_zone(const char *s, long *east_r)
{
	int h, m;

	if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
		*east_r = 0;
		return true;
	}
	if ((*s != '+' && *s != '-') || !digits(s + 1, 2, &h) || s[3] != ':' ||
	    !digits(s + 4, 2, &m) || s[6] != '\0' || h > 23 || m > 59)
		return false;
	*east_r = (*s == '-' ? -1 : 1) * (h * 3600L + m * 60L);
	return true;
}

bool mc_admin_parse_time(const char *s, time_t *t_r)
{
	int y, mo, d, h, mi, se;
	long east;
	struct tm tm = {0};

	if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &se))
		return false;
	if (!real_day(y, mo, d) || h > 23 || mi > 59 || se > 59)
		return false;
	s += 19;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return false;
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	}
	if (!parse_zone(s, &east))
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t_r = timegm(&tm) - east;
	return true;
}

void mc_admin_format_time(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Hex of the SHA-256 of the secret. */
static void token_hash(const char *secret, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
}

/* A new secret "mct_..." (TOKEN_LEN characters). 0 or -1 TEMPORARY. */
static int token_new(char secret[TOKEN_LEN + 1], struct mc_error *err)
{
	unsigned char raw[32], b64[48];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		mc_error_set(err, MC_ERR_TEMPORARY, "no random bytes");
		return -1;
	}
	EVP_EncodeBlock(b64, raw, sizeof(raw));
	memcpy(secret, TOKEN_PREFIX, 4);
	for (int i = 0; i < TOKEN_LEN - 4; i++)
		secret[4 + i] = b64[i] == '+'	? '-'
				: b64[i] == '/' ? '_'
						: (char)b64[i];
	secret[TOKEN_LEN] = '\0';
	mc_secure_zero(raw, sizeof(raw));
	mc_secure_zero(b64, sizeof(b64));
	return 0;
}

/* Has the token the shape of ours? */
static bool token_wellformed(const char *t)
{
	if (t == NULL || strlen(t) != TOKEN_LEN ||
	    strncmp(t, TOKEN_PREFIX, 4) != 0)
		return false;
	for (const char *s = t + 4; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	}
	return true;
}

/* A token row as the API shows it (never the hash). */
static json_t *token_json(const PGresult *res, int row, const void *unused)
{
	(void)unused;
	json_t *o = json_pack("{sIsssIsssoss}", "id",
			      (json_int_t)admin_col_i64(res, row, COL_ID),
			      "name", PQgetvalue(res, row, COL_NAME), "binding",
			      (json_int_t)admin_col_i64(res, row, COL_BINDING),
			      "role", PQgetvalue(res, row, COL_SCOPE), "scope",
			      mc_admin_binding_scope(res, row, COL_SCOPE, NULL),
			      "prefix", PQgetvalue(res, row, COL_PREFIX));

	json_object_set_new(
		o, "networks",
		admin_json_array(PQgetvalue(res, row, COL_NETWORKS)));
	json_object_set_new(o, "expires_at",
			    admin_col_json(res, row, COL_EXPIRES));
	json_object_set_new(o, "revoked_at",
			    admin_col_json(res, row, COL_REVOKED));
	json_object_set_new(o, "last_used_at",
			    admin_col_json(res, row, COL_LAST_USED));
	json_object_set_new(o, "last_used_ip",
			    admin_col_json(res, row, COL_LAST_IP));
	json_object_set_new(o, "created_by",
			    json_string(PQgetvalue(res, row, COL_CREATED_BY)));
	json_object_set_new(o, "created_at",
			    json_string(PQgetvalue(res, row, COL_CREATED_AT)));
	return o;
}

/* The row of token id if the actor sees its binding; NULL NOTFOUND. */
static PGresult *token_row(struct mc_admin *a, int64_t id, struct mc_error *err)
{
	struct mc_admin_binding_params bp;
	char idbuf[24];
	const char *params[MC_ADMIN_BINDING_NPARAMS + 1];

	mc_admin_binding_params(&a->actor, &bp);
	memcpy(params, bp.values, sizeof(bp.values));
	admin_id_text(id, idbuf);
	params[MC_ADMIN_BINDING_NPARAMS] = idbuf;
	PGresult *res = admin_query(a, TOKEN_SELECT " AND k.id = $7::bigint",
				    MC_ADMIN_BINDING_NPARAMS + 1, params, err);
	if (res != NULL && PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no token %lld",
			     (long long)id);
		return NULL;
	}
	return res;
}

/* May the actor create or revoke tokens of binding id (of role)? The
 * holder of a binding may always; else the role must be grantable. */
static int token_grant_check(struct mc_admin *a, int64_t id, enum mc_role role,
			     const char *what, struct mc_error *err)
{
	enum mc_role ar = a->actor.role;

	if (a->actor.binding_id != 0 && id == a->actor.binding_id)
		return 0;
	if (!mc_admin_may_grant(ar, MC_ROLE_USER)) {
		mc_error_set(err, MC_ERR_DENIED,
			     "a%s %s may %s only for its own role binding",
			     ar == MC_ROLE_ASSISTANT ? "n" : "",
			     ar == MC_ROLE_USER	       ? "user"
			     : ar == MC_ROLE_ASSISTANT ? "assistant"
						       : "department admin",
			     what);
		return -1;
	}
	if (mc_admin_may_grant(ar, role))
		return 0;
	mc_error_set(err, MC_ERR_DENIED, "a %s admin may not %s of the %s role",
		     mc_role_name(ar), what, mc_role_name(role));
	return -1;
}

struct token_create {
	const json_t *body;
	const char *name;
	int64_t binding_id; /* given; 0: made from role + scope */
	bool no_expiry;
	char expires[32]; /* RFC 3339 UTC; "" = never */
	json_t *networks; /* normalised CIDRs */
	char secret[TOKEN_LEN + 1], hash[65], prefix[TOKEN_SHOWN + 1];
	json_t *out;
};

/* The expiry of the request into c: expires_at (RFC 3339, in the next
 * ten years, or null) or expires_in_days (default 90). */
static int parse_expiry(struct mc_admin *a, const json_t *body,
			struct token_create *c, struct mc_error *err)
{
	const json_t *at = json_object_get(body, "expires_at");
	int64_t days = DAYS_DEFAULT;
	time_t now = time(NULL), t;
	struct tm tm;

	if (at != NULL && json_object_get(body, "expires_in_days") != NULL) {
		admin_field_error(a, err, "expires_in_days",
				  "give expires_at or expires_in_days, not "
				  "both");
		return -1;
	}
	if (at != NULL && json_is_null(at)) {
		c->no_expiry = true;
		return 0;
	}
	if (at == NULL) {
		if (admin_get_int(a, body, "expires_in_days", 1, DAYS_MAX,
				  false, &days, err) < 0)
			return -1;
		mc_admin_format_time(now + days * 86400, c->expires);
		return 0;
	}
	gmtime_r(&now, &tm);
	tm.tm_year += 10;
	if (!mc_admin_parse_time(json_string_value(at), &t) || t <= now ||
	    t > timegm(&tm)) {
		admin_field_error(a, err, "expires_at",
				  "must be an RFC 3339 time in the next ten "
				  "years (or null for provider tokens)");
		return -1;
	}
	mc_admin_format_time(t, c->expires);
	return 0;
}

/* The networks of the request, normalised, into c->networks. */
static int parse_networks(struct mc_admin *a, const json_t *body,
			  struct token_create *c, struct mc_error *err)
{
	const json_t *nets = NULL;
	size_t i;
	json_t *item;

	c->networks = json_array();
	int r = admin_get_strings(a, body, "networks", TOKEN_NETWORKS,
				  MC_CIDR_MAX, false, &nets, err);
	if (r <= 0)
		return r;
	json_array_foreach(nets, i, item)
	{
		char net[MC_CIDR_MAX];
		struct mc_error perr = {0};
		if (mc_tenants_parse_cidr(json_string_value(item), net, &perr) <
		    0) {
			admin_field_error(a, err, "networks", "item %zu: %s", i,
					  perr.msg);
			return -1;
		}
		json_array_append_new(c->networks, json_string(net));
	}
	return 0;
}

/* Which binding: "binding" (an id) or "role" + "scope" (+ "label"). */
static int parse_binding(struct mc_admin *a, const json_t *body,
			 struct token_create *c, struct mc_error *err)
{
	bool by_role = json_object_get(body, "role") != NULL;
	int r = admin_get_int(a, body, "binding", 1, INT64_MAX, false,
			      &c->binding_id, err);

	if (r < 0)
		return -1;
	if (r > 0 && (by_role || json_object_get(body, "scope") != NULL ||
		      json_object_get(body, "label") != NULL ||
		      json_object_get(body, "holder") != NULL)) {
		admin_field_error(a, err, "binding",
				  "give binding or role and scope, not both");
		return -1;
	}
	if (r == 0 && !by_role) {
		admin_field_error(a, err, "binding",
				  "binding (an id) or role and scope are "
				  "required");
		return -1;
	}
	return r > 0 ? 0 : mc_admin_binding_check(a, body, err);
}

/* Inserts the token of c for binding bid; its id into *id_r. */
static int insert_token(struct mc_admin *a, struct token_create *c, int64_t bid,
			int64_t *id_r, struct mc_error *err)
{
	char bidbuf[24];
	char *nets = admin_pg_array(c->networks);
	const char *params[] = {bidbuf, c->name,    c->prefix,	  c->hash,
				nets,	c->expires, a->actor.name};

	admin_id_text(bid, bidbuf);
	PGresult *res = admin_query(
		a,
		"INSERT INTO api_tokens (binding_id, name, prefix, hash, "
		"networks, expires_at, created_by) VALUES ($1::bigint, $2, "
		"$3, decode($4, 'hex'), $5::cidr[], "
		"nullif($6, '')::timestamptz, $7) RETURNING id",
		7, params, err);
	free(nets);
	if (res == NULL)
		return -1;
	*id_r = admin_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* The audit record of a new token (never its secret). */
static int audit_create(struct mc_admin *a, const struct token_create *c,
			int64_t id, int64_t bid, enum mc_role role,
			json_t *scope, struct mc_error *err)
{
	char target[48];
	json_t *ch = json_pack("{sssIsssOss?sssO}", "name", c->name, "binding",
			       (json_int_t)bid, "role", mc_role_name(role),
			       "scope", scope, "expires_at",
			       c->expires[0] != '\0' ? c->expires : NULL,
			       "prefix", c->prefix, "networks", c->networks);

	snprintf(target, sizeof(target), "token %lld", (long long)id);
	int ret =
		mc_admin_binding_audit(a, bid, "token.create", target, ch, err);
	json_decref(ch);
	return ret;
}

/* The binding of the new token: made or looked up, checked. */
static int create_binding(struct mc_admin *a, struct token_create *c,
			  int64_t *bid_r, enum mc_role *role_r,
			  json_t **scope_r, struct mc_error *err)
{
	*bid_r = c->binding_id;
	if (*bid_r == 0 && mc_admin_binding_make(a, c->body, bid_r, err) < 0)
		return -1;
	if (mc_admin_binding_lookup(a, *bid_r, role_r, scope_r, err) < 0)
		return -1;
	if (c->binding_id != 0 &&
	    token_grant_check(a, *bid_r, *role_r, "create tokens", err) < 0)
		return -1;
	if (c->no_expiry && *role_r != MC_ROLE_PROVIDER) {
		admin_field_error(a, err, "expires_at",
				  "only provider tokens may never expire");
		return -1;
	}
	return 0;
}

/* token.create in the transaction. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct token_create *c = ctx;
	int64_t bid, id;
	enum mc_role role;
	json_t *scope = NULL;
	PGresult *res;
	int ret = -1;

	json_decref(c->out);
	c->out = NULL;
	if (create_binding(a, c, &bid, &role, &scope, err) == 0 &&
	    insert_token(a, c, bid, &id, err) == 0 &&
	    audit_create(a, c, id, bid, role, scope, err) == 0 &&
	    (res = token_row(a, id, err)) != NULL) {
		c->out = token_json(res, 0, NULL);
		json_object_set_new(c->out, "token", json_string(c->secret));
		PQclear(res);
		ret = 0;
	}
	json_decref(scope);
	return ret;
}

ADMIN_OP(admin_token_create)
{
	static const char *const allowed[] = {
		"name",	    "binding", "role",	     "scope",
		"holder",   "label",   "expires_at", "expires_in_days",
		"networks", NULL};
	struct token_create c = {.body = call->body};
	int ret = -1;

	*out_r = NULL;
	if (admin_body_check(a, call->body, allowed, true, err) < 0 ||
	    admin_get_string(a, call->body, "name", 128, true, false, &c.name,
			     err) < 0 ||
	    parse_binding(a, call->body, &c, err) < 0 ||
	    parse_expiry(a, call->body, &c, err) < 0 ||
	    parse_networks(a, call->body, &c, err) < 0 ||
	    token_new(c.secret, err) < 0)
		goto out;
	token_hash(c.secret, c.hash);
	memcpy(c.prefix, c.secret, TOKEN_SHOWN);
	c.prefix[TOKEN_SHOWN] = '\0';
	if (admin_txn(a, create_txn, &c, err) == 0) {
		*out_r = c.out;
		c.out = NULL;
		ret = 0;
	}
out:
	json_decref(c.out);
	json_decref(c.networks);
	mc_secure_zero(c.secret, sizeof(c.secret));
	return ret;
}

struct token_op {
	int64_t id;
	struct admin_list list;
	json_t *out;
};

/* token.get in the transaction. */
static int get_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct token_op *op = ctx;
	PGresult *res = token_row(a, op->id, err);

	json_decref(op->out);
	op->out = NULL;
	if (res == NULL)
		return -1;
	op->out = token_json(res, 0, NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_token_get)
{
	struct token_op op = {0};

	*out_r = NULL;
	if (admin_arg_id(call, 0, "token", &op.id, err) < 0 ||
	    admin_txn(a, get_txn, &op, err) < 0)
		return -1;
	*out_r = op.out;
	return 0;
}

/* Revokes the token of row (once) and audits it. */
static int revoke_row(struct mc_admin *a, const PGresult *res, int64_t id,
		      struct mc_error *err)
{
	char idbuf[24], target[48];
	const char *params[] = {idbuf};

	admin_id_text(id, idbuf);
	long n = admin_exec(a,
			    "UPDATE api_tokens SET revoked_at = now() "
			    "WHERE id = $1::bigint AND revoked_at IS NULL",
			    1, params, err);
	if (n <= 0)
		return n < 0 ? -1 : 0;
	json_t *ch = json_pack("{sssb}", "name", PQgetvalue(res, 0, COL_NAME),
			       "revoked", 1);
	snprintf(target, sizeof(target), "token %lld", (long long)id);
	int ret = mc_admin_binding_audit(a, admin_col_i64(res, 0, COL_BINDING),
					 "token.delete", target, ch, err);
	json_decref(ch);
	return ret;
}

/* token.delete in the transaction. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct token_op *op = ctx;
	PGresult *res = token_row(a, op->id, err);
	enum mc_role role = MC_ROLE_USER;

	if (res == NULL)
		return -1;
	(void)mc_role_parse(PQgetvalue(res, 0, COL_SCOPE), &role);
	int ret = token_grant_check(a, admin_col_i64(res, 0, COL_BINDING), role,
				    "revoke tokens", err);
	if (ret == 0)
		ret = revoke_row(a, res, op->id, err);
	PQclear(res);
	return ret;
}

ADMIN_OP(admin_token_delete)
{
	struct token_op op = {0};

	*out_r = NULL;
	if (admin_arg_id(call, 0, "token", &op.id, err) < 0)
		return -1;
	return admin_txn(a, delete_txn, &op, err);
}

static const struct admin_sort token_sorts[] = {
	{"id", "k.id"},
	{"name", "k.name"},
	{"created_at", "k.created_at"},
	{NULL, NULL},
};

/* token.list in the transaction (filters binding, name). */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct token_op *op = ctx;
	struct mc_admin_binding_params bp;
	const char *params[MC_ADMIN_BINDING_NPARAMS + 4];
	int n = MC_ADMIN_BINDING_NPARAMS;
	const char *binding = admin_filter(&op->list, "binding");
	const char *name = admin_filter(&op->list, "name");
	struct mc_buf sql;

	json_decref(op->out);
	op->out = NULL;
	mc_admin_binding_params(&a->actor, &bp);
	memcpy(params, bp.values, sizeof(bp.values));
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " TOKEN_COLS ", %s::text" TOKEN_FROM
		      " WHERE " MC_ADMIN_BINDING_VISIBLE,
		      op->list.sort->expr);
	admin_where(&sql, params, &n, binding,
		    " AND k.binding_id = $?::bigint");
	admin_where(&sql, params, &n, name, " AND k.name = $?");
	PGresult *res =
		admin_list_fetch(a, &op->list, &sql, "k.id", params, n, err);
	if (res == NULL)
		return -1;
	op->out = admin_page_rows(&op->list, res, COL_SORT, COL_ID, token_json,
				  NULL);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_token_list)
{
	struct token_op op = {0};
	int64_t id;

	*out_r = NULL;
	if (admin_list_parse(a, call, token_sorts, &op.list, err) < 0)
		return -1;
	const char *binding = admin_filter(&op.list, "binding");
	if (binding != NULL && !mc_str_to_i64(binding, &id)) {
		admin_field_error(a, err, "binding", "must be a binding id");
		return -1;
	}
	if (admin_txn(a, list_txn, &op, err) < 0)
		return -1;
	*out_r = op.out;
	return 0;
}

/* The client address normalised (IPv4-mapped IPv6 as IPv4) into out;
 * "" when it is not an address. */
static void client_addr(const char *ip, char out[INET6_ADDRSTRLEN])
{
	unsigned char a[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};

	out[0] = '\0';
	if (ip == NULL || *ip == '\0')
		return;
	if (inet_pton(AF_INET, ip, a) == 1) {
		inet_ntop(AF_INET, a, out, INET6_ADDRSTRLEN);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		if (memcmp(a, mapped, 12) == 0)
			inet_ntop(AF_INET, a + 12, out, INET6_ADDRSTRLEN);
		else
			inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
	}
}

/* Refuses a token row that is revoked, expired or used from outside
 * its networks; the reason is for the log. */
static int token_usable(const PGresult *res, const char *ip,
			struct mc_error *err)
{
	long long id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

	if (*PQgetvalue(res, 0, 3) == 't')
		mc_error_set(err, MC_ERR_DENIED, "token %lld is revoked", id);
	else if (*PQgetvalue(res, 0, 4) == 't')
		mc_error_set(err, MC_ERR_DENIED, "token %lld has expired", id);
	else if (*PQgetvalue(res, 0, 5) != 't')
		mc_error_set(err, MC_ERR_DENIED,
			     "token %lld may not be used from %s", id,
			     *ip != '\0' ? ip : "a local client");
	else
		return 0;
	return -1;
}

/* Records the token's last use (at most once a minute); failures do not
 * refuse the request. */
static void token_used(struct mc_pg *pg, const char *id, const char *ip)
{
	struct mc_error uerr = {0};
	const char *params[] = {id, ip};

	(void)mc_pg_exec(pg,
			 "UPDATE api_tokens SET last_used_at = now(), "
			 "last_used_ip = nullif($2, '')::inet "
			 "WHERE id = $1::bigint AND (last_used_at IS NULL OR "
			 "last_used_at < now() - interval '" LAST_USED_EVERY
			 "')",
			 2, params, &uerr);
}

/* The token row of secret (as the owner: every token), NULL DENIED. */
static PGresult *token_lookup(struct mc_pg *pg, const char *token,
			      const char *ip, struct mc_error *err)
{
	char hash[65];
	const char *params[] = {hash, ip};

	token_hash(token, hash);
	PGresult *res = mc_pg_query(
		pg,
		"SELECT k.id, k.name, k.binding_id, k.revoked_at IS NOT NULL, "
		"coalesce(k.expires_at <= now(), false), "
		"cardinality(k.networks) = 0 OR coalesce((SELECT "
		"bool_or(nullif($2, '')::inet <<= n) FROM unnest(k.networks) "
		"n), false) FROM api_tokens k WHERE k.hash = decode($1, 'hex')",
		2, params, err);
	if (res != NULL && PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_DENIED, "unknown token %.12s", token);
		return NULL;
	}
	return res;
}

int mc_admin_token_authenticate(struct mc_pg *pg, const char *token,
				const char *client_ip, struct mc_actor *actor_r,
				struct mc_error *err)
{
	char ip[INET6_ADDRSTRLEN], id[24];
	PGresult *res;

	if (!token_wellformed(token)) {
		mc_error_set(err, MC_ERR_DENIED, "malformed token");
		return -1;
	}
	client_addr(client_ip, ip);
	if ((res = token_lookup(pg, token, ip, err)) == NULL)
		return -1;
	if (token_usable(res, ip, err) < 0 ||
	    mc_admin_binding_actor(pg, admin_col_i64(res, 0, 2), actor_r, err) <
		    0) {
		PQclear(res);
		return -1;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
	actor_r->token_id = admin_col_i64(res, 0, 0);
	snprintf(actor_r->name, sizeof(actor_r->name), "token %s (%s)", id,
		 PQgetvalue(res, 0, 1));
	snprintf(actor_r->client_ip, sizeof(actor_r->client_ip), "%s", ip);
	PQclear(res);
	token_used(pg, id, ip);
	return 0;
}
