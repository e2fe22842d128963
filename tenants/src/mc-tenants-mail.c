/* mc-tenants-mail: the provisioning mail routing needs on top of the
 * tenant model: domain aliases and domain settings (quotas, size limit,
 * catch-all), user settings and forwards, send-as grants, tenant relay
 * networks, and alias removal and listing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mc-tenants-private.h"

#define DISPLAY_NAME_MAX 256
#define CATCHALL_MAX	 1000
#define FORWARD_MAX	 100

/* Copies a domain name lower-cased into out; MC_ERR_INVALID if bad. */
static int domain_name(const char *domain, char *out, struct mc_error *err)
{
	snprintf(out, MC_DOMAIN_MAX + 1, "%s", domain);
	mc_str_lower(out);
	if (strlen(domain) > MC_DOMAIN_MAX || !mc_tenants_valid_domain(out)) {
		mc_error_set(err, MC_ERR_INVALID, "bad domain name \"%s\"",
			     domain);
		return -1;
	}
	return 0;
}

/* Copies a tenant name lower-cased into out (64 bytes). */
static void tenant_name(const char *tenant, char *out)
{
	snprintf(out, 64, "%s", tenant);
	mc_str_lower(out);
}

/* 0 when the named object exists, else -1 (MC_ERR_NOTFOUND "what name
 * does not exist"). */
static int require(struct mc_pg *pg, const char *sql, const char *what,
		   const char *name, struct mc_error *err)
{
	const char *params[] = {name};
	int r = tenants_query_value(pg, sql, 1, params, NULL, 0, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "%s %s does not exist", what,
			     name);
	return r > 0 ? 0 : -1;
}

/* Fails with MC_ERR_NOTFOUND unless domain (lower case) exists. */
static int require_domain(struct mc_pg *pg, const char *domain,
			  struct mc_error *err)
{
	return require(pg, "SELECT 1 FROM domains WHERE name = $1", "domain",
		       domain, err);
}

/* Fails with MC_ERR_NOTFOUND unless tenant (lower case) exists. */
static int require_tenant(struct mc_pg *pg, const char *tenant,
			  struct mc_error *err)
{
	return require(pg, "SELECT 1 FROM tenants WHERE name = $1", "tenant",
		       tenant, err);
}

/* A column as a string, NULL for SQL NULL or "". */
static const char *value_or_null(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col) || *PQgetvalue(res, row, col) == '\0')
		return NULL;
	return PQgetvalue(res, row, col);
}

/* A bigint column. */
static int64_t value_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Checks each target like an alias target (local or external, never
 * self) and writes them as a PostgreSQL array literal into buf. */
static int targets_literal(const char *what, const char *self,
			   const char *const *targets, size_t count, size_t max,
			   struct mc_buf *buf, struct mc_error *err)
{
	if (count > max) {
		mc_error_set(err, MC_ERR_INVALID, "%s: at most %zu targets",
			     what, max);
		return -1;
	}
	mc_buf_append_c(buf, '{');
	for (size_t i = 0; i < count; i++) {
		char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
		char full[MC_ADDRESS_MAX + 1];
		if (mc_tenants_split_address(targets[i], false, local, domain,
					     err) < 0)
			return -1;
		snprintf(full, sizeof(full), "%s@%s", local, domain);
		if (self != NULL && strcasecmp(full, self) == 0) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s cannot target %s itself", what, self);
			return -1;
		}
		/* split_address refuses quotes and backslashes, so the
		 * elements need no escaping. */
		mc_buf_printf(buf, "%s\"%s\"", i > 0 ? "," : "", full);
	}
	mc_buf_append_c(buf, '}');
	return 0;
}

/* A size as a query parameter: NULL when unchanged; -1 if negative. */
static int size_param(const char *what, int64_t v, char *buf, size_t size,
		      const char **param_r, struct mc_error *err)
{
	*param_r = NULL;
	if (v == MC_UNCHANGED)
		return 0;
	if (v < 0) {
		mc_error_set(err, MC_ERR_INVALID, "bad %s: negative", what);
		return -1;
	}
	snprintf(buf, size, "%lld", (long long)v);
	*param_r = buf;
	return 0;
}

/* A tri-state flag as a query parameter. */
static const char *bool_param(int v)
{
	return v == MC_UNCHANGED ? NULL : v ? "true" : "false";
}

/* Whether s is one of the NULL-terminated words (or NULL itself). */
static bool one_of(const char *s, const char *const *words)
{
	if (s == NULL)
		return true;
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

int mc_domain_alias_add(struct mc_pg *pg, const char *alias, const char *domain,
			struct mc_error *err)
{
	char a[MC_DOMAIN_MAX + 1], d[MC_DOMAIN_MAX + 1],
		target[MC_DOMAIN_MAX + 1];
	if (domain_name(alias, a, err) < 0 || domain_name(domain, d, err) < 0)
		return -1;
	const char *params[] = {a, d};
	long n = mc_pg_exec(pg,
			    "INSERT INTO domains (tenant_id, name, alias_for) "
			    "SELECT tenant_id, $1::text, id FROM domains "
			    "WHERE name = $2 AND alias_for IS NULL",
			    2, params, err);
	if (n < 0) {
		char msg[MC_DOMAIN_MAX + 32];
		snprintf(msg, sizeof(msg), "domain %s already exists", a);
		return tenants_exists_as(err, msg);
	}
	if (n > 0)
		return 0;
	int r = tenants_query_value(
		pg,
		"SELECT t.name FROM domains d JOIN domains t "
		"ON t.id = d.alias_for WHERE d.name = $1",
		1, params + 1, target, sizeof(target), err);
	if (r > 0)
		mc_error_set(err, MC_ERR_INVALID, "%s is itself an alias of %s",
			     d, target);
	else if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "domain %s does not exist",
			     d);
	return -1;
}

void mc_domain_changes_init(struct mc_domain_changes *ch)
{
	*ch = (struct mc_domain_changes){
		.quota = MC_UNCHANGED,
		.default_user_quota = MC_UNCHANGED,
		.max_message_size = MC_UNCHANGED,
		.quota_permanent = MC_UNCHANGED,
	};
}

/* Checks status and expiry of a domain change. */
static int check_domain_status(const struct mc_domain_changes *ch,
			       struct mc_error *err)
{
	static const char *const statuses[] = {"active", "suspended", "expired",
					       NULL};
	if (!one_of(ch->status, statuses)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad domain status \"%s\": use active, suspended "
			     "or expired",
			     ch->status);
		return -1;
	}
	if (ch->expires != NULL && strcmp(ch->expires, "never") != 0 &&
	    !mc_tenants_valid_date(ch->expires)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad expiry date \"%s\": use YYYY-MM-DD or never",
			     ch->expires);
		return -1;
	}
	return 0;
}

/* Runs the domain UPDATE with the checked parameters (NULL = keep). */
static int domain_update(struct mc_pg *pg, const char *const params[9],
			 struct mc_error *err)
{
	long n = mc_pg_exec(
		pg,
		"UPDATE domains SET status = COALESCE($2, status), "
		"expires_at = CASE WHEN $3::text IS NULL THEN expires_at "
		"WHEN $3 = 'never' THEN NULL "
		"ELSE ($3::date)::timestamp AT TIME ZONE 'UTC' END, "
		"quota_bytes = COALESCE($4::bigint, quota_bytes), "
		"default_user_quota = COALESCE($5::bigint, "
		"default_user_quota), "
		"max_message_bytes = COALESCE($6::bigint, max_message_bytes), "
		"quota_permanent = COALESCE($7::boolean, quota_permanent), "
		"catchall = CASE WHEN $8::boolean THEN $9::text[] "
		"ELSE catchall END WHERE name = $1",
		9, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "domain %s does not exist",
			     params[0]);
	return n > 0 ? 0 : -1;
}

int mc_domain_set(struct mc_pg *pg, const char *domain,
		  const struct mc_domain_changes *ch, struct mc_error *err)
{
	char name[MC_DOMAIN_MAX + 1], q[24], dq[24], mm[24];
	const char *params[9] = {name, ch->status, ch->expires};
	if (domain_name(domain, name, err) < 0 ||
	    check_domain_status(ch, err) < 0 ||
	    size_param("quota", ch->quota, q, sizeof(q), &params[3], err) < 0 ||
	    size_param("default user quota", ch->default_user_quota, dq,
		       sizeof(dq), &params[4], err) < 0 ||
	    size_param("maximum message size", ch->max_message_size, mm,
		       sizeof(mm), &params[5], err) < 0)
		return -1;
	struct mc_buf catchall;
	mc_buf_init(&catchall, NULL, 0);
	int r = 0;
	if (ch->set_catchall && ch->catchall_count > 0)
		r = targets_literal("catch-all", NULL, ch->catchall,
				    ch->catchall_count, CATCHALL_MAX, &catchall,
				    err);
	params[6] = bool_param(ch->quota_permanent);
	params[7] = ch->set_catchall ? "true" : "false";
	params[8] = catchall.len > 0 ? mc_buf_cstr(&catchall) : NULL;
	if (r == 0)
		r = domain_update(pg, params, err);
	mc_buf_free(&catchall);
	return r;
}

/* Calls cb for each row of a domain query result. */
static int domain_rows(PGresult *res, mc_domain_info_cb *cb, void *ctx)
{
	int rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		struct mc_domain_info info = {
			.name = PQgetvalue(res, i, 0),
			.tenant = PQgetvalue(res, i, 1),
			.status = PQgetvalue(res, i, 2),
			.expires = value_or_null(res, i, 3),
			.alias_for = value_or_null(res, i, 4),
			.quota = value_i64(res, i, 5),
			.used = value_i64(res, i, 6),
			.default_user_quota = value_i64(res, i, 7),
			.max_message_size = value_i64(res, i, 8),
			.quota_permanent = *PQgetvalue(res, i, 9) == 't',
			.catchall = value_or_null(res, i, 10),
			.users = value_i64(res, i, 11),
		};
		cb(&info, ctx);
	}
	PQclear(res);
	return rows;
}

/* The domains named domain and/or of tenant (NULL = any), in order. */
static int domain_query(struct mc_pg *pg, const char *domain,
			const char *tenant, mc_domain_info_cb *cb, void *ctx,
			struct mc_error *err)
{
	const char *params[] = {domain, tenant};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT d.name, t.name, d.status, to_char(d.expires_at AT "
		"TIME ZONE 'UTC', 'YYYY-MM-DD'), a.name, d.quota_bytes, "
		"(SELECT coalesce(sum(used_bytes), 0) FROM domain_usage du "
		"WHERE du.tenant_id = d.tenant_id AND du.domain_id = d.id), "
		"d.default_user_quota, d.max_message_bytes, "
		"d.quota_permanent, array_to_string(d.catchall, ','), "
		"(SELECT count(*) FROM users u WHERE u.tenant_id = "
		"d.tenant_id AND u.domain_id = d.id) "
		"FROM domains d JOIN tenants t ON t.id = d.tenant_id "
		"LEFT JOIN domains a ON a.id = d.alias_for "
		"WHERE ($1::text IS NULL OR d.name = $1) "
		"AND ($2::text IS NULL OR t.name = $2) ORDER BY d.name",
		2, params, err);
	if (res == NULL)
		return -1;
	return domain_rows(res, cb, ctx);
}

int mc_domain_get(struct mc_pg *pg, const char *domain, mc_domain_info_cb *cb,
		  void *ctx, struct mc_error *err)
{
	char name[MC_DOMAIN_MAX + 1];
	if (domain_name(domain, name, err) < 0)
		return -1;
	int n = domain_query(pg, name, NULL, cb, ctx, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "domain %s does not exist",
			     name);
	return n > 0 ? 0 : -1;
}

int mc_domain_list(struct mc_pg *pg, const char *tenant, mc_domain_info_cb *cb,
		   void *ctx, struct mc_error *err)
{
	char t[64];
	if (tenant != NULL) {
		tenant_name(tenant, t);
		if (require_tenant(pg, t, err) < 0)
			return -1;
	}
	return domain_query(pg, NULL, tenant != NULL ? t : NULL, cb, ctx, err);
}

void mc_user_changes_init(struct mc_user_changes *ch)
{
	*ch = (struct mc_user_changes){
		.quota = MC_UNCHANGED,
		.keep_copy = MC_UNCHANGED,
	};
}

/* Refuses a protocol list with anything but imap, pop3, smtp, webmail. */
static int check_protocols(const char *list, struct mc_error *err)
{
	static const char *const names[] = {"imap", "pop3", "smtp", "webmail",
					    NULL};
	char buf[64];
	if (list == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (!one_of(p, names)) {
			mc_error_set(err, MC_ERR_INVALID,
				     "bad protocol \"%s\": use imap, pop3, "
				     "smtp, webmail or none",
				     p);
			return -1;
		}
	}
	return strlen(list) < sizeof(buf) ? 0 : -1;
}

/* Checks status and display name of a user change. */
static int check_user_fields(const struct mc_user_changes *ch,
			     struct mc_error *err)
{
	static const char *const statuses[] = {"active", "frozen", NULL};
	if (!one_of(ch->status, statuses)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad user status \"%s\": use active or frozen",
			     ch->status);
		return -1;
	}
	const char *d = ch->display_name;
	bool bad = d != NULL && strlen(d) > DISPLAY_NAME_MAX;
	for (; d != NULL && *d != '\0'; d++)
		bad = bad || (unsigned char)*d < ' ' || *d == 127;
	if (bad)
		mc_error_set(err, MC_ERR_INVALID,
			     "bad display name: at most %d bytes, no control "
			     "characters",
			     DISPLAY_NAME_MAX);
	struct mc_sockaddr sa;
	if (!bad && ch->imap_backend != NULL && ch->imap_backend[0] != '\0' &&
	    mc_addr_parse(ch->imap_backend, &sa, err) < 0)
		bad = true;
	return bad || check_protocols(ch->protocols, err) < 0 ? -1 : 0;
}

/* Runs the user UPDATE with the checked parameters (NULL = keep). */
static int user_update(struct mc_pg *pg, const struct address *a,
		       const char *const params[10], struct mc_error *err)
{
	long n = mc_pg_exec(
		pg,
		"UPDATE users u SET status = COALESCE($3, u.status), "
		"quota_bytes = COALESCE($4::bigint, u.quota_bytes), "
		"display_name = COALESCE($5, u.display_name), "
		"forward_to = CASE WHEN $6::boolean THEN $7::text[] "
		"ELSE u.forward_to END, "
		"forward_keep_copy = COALESCE($8::boolean, "
		"u.forward_keep_copy), imap_backend = CASE WHEN $9::text IS "
		"NULL THEN u.imap_backend ELSE nullif($9, '') END, protocols = "
		"CASE WHEN $10::text IS NULL THEN u.protocols ELSE "
		"coalesce(string_to_array(nullif($10, ''), ','), '{}') END "
		"FROM "
		"domains d "
		"WHERE d.tenant_id = u.tenant_id AND d.id = u.domain_id "
		"AND u.local_part = $1 AND d.name = $2",
		10, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "user %s does not exist",
			     a->full);
	return n > 0 ? 0 : -1;
}

int mc_user_set(struct mc_pg *pg, const char *address,
		const struct mc_user_changes *ch, struct mc_error *err)
{
	struct address a;
	char q[24];
	const char *params[10] = {a.local, a.domain, ch->status};
	if (tenants_parse_own(address, &a, err) < 0 ||
	    check_user_fields(ch, err) < 0 ||
	    size_param("quota", ch->quota, q, sizeof(q), &params[3], err) < 0)
		return -1;
	struct mc_buf forward;
	mc_buf_init(&forward, NULL, 0);
	int r = 0;
	if (ch->set_forward)
		r = targets_literal("a forward", a.full, ch->forward,
				    ch->forward_count, FORWARD_MAX, &forward,
				    err);
	params[4] = ch->display_name;
	params[5] = ch->set_forward ? "true" : "false";
	params[6] = ch->set_forward ? mc_buf_cstr(&forward) : NULL;
	params[7] = bool_param(ch->keep_copy);
	params[8] = ch->imap_backend;
	params[9] = ch->protocols;
	if (r == 0)
		r = user_update(pg, &a, params, err);
	mc_buf_free(&forward);
	return r;
}

int mc_user_get(struct mc_pg *pg, const char *address,
		void (*cb)(const struct mc_user_details *user, void *ctx),
		void *ctx, struct mc_error *err)
{
	struct address a;
	if (tenants_parse_own(address, &a, err) < 0)
		return -1;
	const char *params[] = {a.local, a.domain};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.display_name, u.status, u.quota_bytes, "
		"u.used_bytes, array_to_string(u.forward_to, ','), "
		"u.forward_keep_copy, (SELECT string_agg(s.address, ',' "
		"ORDER BY s.address) FROM send_as s WHERE s.tenant_id = "
		"u.tenant_id AND s.user_id = u.id), to_char(u.created_at AT "
		"TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		"array_to_string(u.protocols, ','), u.imap_backend "
		"FROM users u JOIN domains d ON d.tenant_id = u.tenant_id "
		"AND d.id = u.domain_id WHERE u.local_part = $1 "
		"AND d.name = $2",
		2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		struct mc_user_details u = {
			.address = a.full,
			.display_name = PQgetvalue(res, 0, 0),
			.status = PQgetvalue(res, 0, 1),
			.quota = value_i64(res, 0, 2),
			.used = value_i64(res, 0, 3),
			.forward = value_or_null(res, 0, 4),
			.keep_copy = *PQgetvalue(res, 0, 5) == 't',
			.send_as = value_or_null(res, 0, 6),
			.created_at = PQgetvalue(res, 0, 7),
			.protocols = PQgetvalue(res, 0, 8),
			.imap_backend = value_or_null(res, 0, 9),
		};
		cb(&u, ctx);
	} else {
		mc_error_set(err, MC_ERR_NOTFOUND, "user %s does not exist",
			     a.full);
	}
	PQclear(res);
	return found ? 0 : -1;
}

struct send_as {
	struct address user;
	char address[MC_ADDRESS_MAX + 2]; /* "local@domain" or "@domain" */
	char domain[MC_DOMAIN_MAX + 1];
	char tenant_id[24], user_id[24], tenant[64];
};

/* Parses the user and the send-as address of a grant. */
static int parse_send_as(const char *user, const char *address,
			 struct send_as *s, struct mc_error *err)
{
	if (tenants_parse_own(user, &s->user, err) < 0)
		return -1;
	if (address[0] == '@') {
		if (domain_name(address + 1, s->domain, err) < 0)
			return -1;
		snprintf(s->address, sizeof(s->address), "@%s", s->domain);
		return 0;
	}
	struct address a;
	if (tenants_parse_own(address, &a, err) < 0)
		return -1;
	snprintf(s->domain, sizeof(s->domain), "%s", a.domain);
	snprintf(s->address, sizeof(s->address), "%s", a.full);
	return 0;
}

/* Finds the grant's user: its tenant id, user id and tenant name. */
static int find_user(struct mc_pg *pg, struct send_as *s, struct mc_error *err)
{
	const char *params[] = {s->user.local, s->user.domain};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.tenant_id, u.id, t.name FROM users u JOIN domains d "
		"ON d.tenant_id = u.tenant_id AND d.id = u.domain_id "
		"JOIN tenants t ON t.id = u.tenant_id "
		"WHERE u.local_part = $1 AND d.name = $2",
		2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		snprintf(s->tenant_id, sizeof(s->tenant_id), "%s",
			 PQgetvalue(res, 0, 0));
		snprintf(s->user_id, sizeof(s->user_id), "%s",
			 PQgetvalue(res, 0, 1));
		snprintf(s->tenant, sizeof(s->tenant), "%s",
			 PQgetvalue(res, 0, 2));
	} else {
		mc_error_set(err, MC_ERR_NOTFOUND, "user %s does not exist",
			     s->user.full);
	}
	PQclear(res);
	return found ? 0 : -1;
}

int mc_send_as_add(struct mc_pg *pg, const char *user, const char *address,
		   struct mc_error *err)
{
	struct send_as s;
	if (parse_send_as(user, address, &s, err) < 0 ||
	    find_user(pg, &s, err) < 0)
		return -1;
	const char *params[] = {s.tenant_id, s.user_id, s.address, s.domain};
	long n = mc_pg_exec(
		pg,
		"INSERT INTO send_as (tenant_id, user_id, address) "
		"SELECT $1::bigint, $2::bigint, $3::text WHERE EXISTS "
		"(SELECT 1 FROM domains WHERE tenant_id = $1 "
		"AND name = $4)",
		4, params, err);
	if (n < 0) {
		char msg[2 * MC_ADDRESS_MAX + 64];
		snprintf(msg, sizeof(msg), "%s may already send as %s",
			 s.user.full, s.address);
		return tenants_exists_as(err, msg);
	}
	if (n == 0)
		mc_error_set(err, MC_ERR_INVALID,
			     "%s is not in a domain of tenant %s: send-as is "
			     "only for the tenant's own addresses",
			     s.address, s.tenant);
	return n > 0 ? 0 : -1;
}

int mc_send_as_remove(struct mc_pg *pg, const char *user, const char *address,
		      struct mc_error *err)
{
	struct send_as s;
	if (parse_send_as(user, address, &s, err) < 0 ||
	    find_user(pg, &s, err) < 0)
		return -1;
	const char *params[] = {s.tenant_id, s.user_id, s.address};
	long n = mc_pg_exec(pg,
			    "DELETE FROM send_as WHERE tenant_id = $1 "
			    "AND user_id = $2 AND address = $3",
			    3, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND,
			     "%s has no send-as grant for %s", s.user.full,
			     s.address);
	return n > 0 ? 0 : -1;
}

int mc_network_add(struct mc_pg *pg, const char *tenant, const char *cidr,
		   struct mc_error *err)
{
	char t[64], net[MC_CIDR_MAX];
	tenant_name(tenant, t);
	if (mc_tenants_parse_cidr(cidr, net, err) < 0)
		return -1;
	const char *params[] = {t, net};
	long n = mc_pg_exec(pg,
			    "INSERT INTO tenant_networks (tenant_id, network) "
			    "SELECT id, $2::cidr FROM tenants WHERE name = $1",
			    2, params, err);
	if (n < 0) {
		char msg[MC_CIDR_MAX + 96];
		snprintf(msg, sizeof(msg), "tenant %s already has network %s",
			 t, net);
		return tenants_exists_as(err, msg);
	}
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "tenant %s does not exist",
			     t);
	return n > 0 ? 0 : -1;
}

int mc_network_remove(struct mc_pg *pg, const char *tenant, const char *cidr,
		      struct mc_error *err)
{
	char t[64], net[MC_CIDR_MAX];
	tenant_name(tenant, t);
	if (mc_tenants_parse_cidr(cidr, net, err) < 0 ||
	    require_tenant(pg, t, err) < 0)
		return -1;
	const char *params[] = {t, net};
	long n = mc_pg_exec(pg,
			    "DELETE FROM tenant_networks n USING tenants t "
			    "WHERE n.tenant_id = t.id AND t.name = $1 "
			    "AND n.network = $2::cidr",
			    2, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND,
			     "tenant %s has no network %s", t, net);
	return n > 0 ? 0 : -1;
}

int mc_network_list(struct mc_pg *pg, const char *tenant,
		    void (*cb)(const char *cidr, void *ctx), void *ctx,
		    struct mc_error *err)
{
	char t[64];
	tenant_name(tenant, t);
	if (require_tenant(pg, t, err) < 0)
		return -1;
	const char *params[] = {t};
	PGresult *res = mc_pg_query(pg,
				    "SELECT n.network::text FROM "
				    "tenant_networks n JOIN tenants t ON t.id "
				    "= n.tenant_id WHERE t.name = $1 "
				    "ORDER BY n.network",
				    1, params, err);
	if (res == NULL)
		return -1;
	int rows = PQntuples(res);
	for (int i = 0; i < rows; i++)
		cb(PQgetvalue(res, i, 0), ctx);
	PQclear(res);
	return rows;
}

int mc_alias_remove(struct mc_pg *pg, const char *address, struct mc_error *err)
{
	struct address a;
	if (tenants_parse_own(address, &a, err) < 0)
		return -1;
	const char *params[] = {a.local, a.domain};
	long n = mc_pg_exec(pg,
			    "DELETE FROM aliases a USING domains d "
			    "WHERE d.tenant_id = a.tenant_id AND d.id = "
			    "a.domain_id AND a.local_part = $1 AND d.name = $2",
			    2, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "alias %s does not exist",
			     a.full);
	return n > 0 ? 0 : -1;
}

int mc_alias_list(struct mc_pg *pg, const char *domain,
		  void (*cb)(const char *address, const char *targets,
			     void *ctx),
		  void *ctx, struct mc_error *err)
{
	char name[MC_DOMAIN_MAX + 1];
	if (domain_name(domain, name, err) < 0 ||
	    require_domain(pg, name, err) < 0)
		return -1;
	const char *params[] = {name};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT a.local_part || '@' || d.name, "
		"array_to_string(a.targets, ',') FROM aliases a JOIN domains d "
		"ON d.tenant_id = a.tenant_id AND d.id = a.domain_id "
		"WHERE d.name = $1 ORDER BY a.local_part",
		1, params, err);
	if (res == NULL)
		return -1;
	int rows = PQntuples(res);
	for (int i = 0; i < rows; i++)
		cb(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), ctx);
	PQclear(res);
	return rows;
}
