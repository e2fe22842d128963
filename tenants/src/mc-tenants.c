/* mc-tenants: provisioning of tenants, domains, users and aliases. Each
 * call is one transaction; user and alias creation lock their domain row
 * so that an address is a user or an alias, never both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mc-tenants-private.h"

/* Splits and normalises one of our own addresses. */
int tenants_parse_own(const char *address, struct address *a,
		      struct mc_error *err)
{
	if (mc_tenants_split_address(address, true, a->local, a->domain, err) <
	    0)
		return -1;
	snprintf(a->full, sizeof(a->full), "%s@%s", a->local, a->domain);
	return 0;
}

/* Runs a single-row query and copies column 0 of row 0 into out
 * (out_size bytes). 1 found, 0 no row, -1 error. */
int tenants_query_value(struct mc_pg *pg, const char *sql, int n,
			const char *const *params, char *out, size_t out_size,
			struct mc_error *err)
{
	PGresult *res = mc_pg_query(pg, sql, n, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found && out != NULL)
		snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

int tenants_exists_as(struct mc_error *err, const char *text)
{
	if (err != NULL && err->cls == MC_ERR_EXISTS)
		mc_error_reset(err, MC_ERR_EXISTS, "%s", text);
	return -1;
}

/* The duplicate-key error of creating what name. */
static int exists_as(struct mc_error *err, const char *what, const char *name)
{
	char text[MC_ADDRESS_MAX + 64];
	snprintf(text, sizeof(text), "%s %s already exists", what, name);
	return tenants_exists_as(err, text);
}

int mc_tenant_add(struct mc_pg *pg, const char *name, struct mc_error *err)
{
	if (!mc_tenants_valid_name(name)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad tenant name \"%s\": use 1-63 lower-case "
			     "letters, digits, '.', '_' or '-'",
			     name);
		return -1;
	}
	const char *params[] = {name};
	if (mc_pg_exec(pg, "INSERT INTO tenants (name) VALUES ($1)", 1, params,
		       err) < 0)
		return exists_as(err, "tenant", name);
	return 0;
}

int mc_domain_add(struct mc_pg *pg, const char *domain, const char *tenant,
		  struct mc_error *err)
{
	char name[MC_DOMAIN_MAX + 1];
	snprintf(name, sizeof(name), "%s", domain);
	mc_str_lower(name);
	if (strlen(domain) > MC_DOMAIN_MAX || !mc_tenants_valid_domain(name)) {
		mc_error_set(err, MC_ERR_INVALID, "bad domain name \"%s\"",
			     domain);
		return -1;
	}
	const char *params[] = {name, tenant};
	long n = mc_pg_exec(pg,
			    "INSERT INTO domains (tenant_id, name) "
			    "SELECT id, $1 FROM tenants WHERE name = $2",
			    2, params, err);
	if (n < 0)
		return exists_as(err, "domain", name);
	if (n == 0) {
		mc_error_set(err, MC_ERR_NOTFOUND, "tenant %s does not exist",
			     tenant);
		return -1;
	}
	return 0;
}

/* Locks the address's domain row; fills tenant and domain ids. A domain
 * alias holds no addresses of its own (MC_ERR_INVALID). */
static int lock_domain(struct mc_pg *pg, const struct address *a,
		       char *tenant_id, char *domain_id, struct mc_error *err)
{
	const char *params[] = {a->domain};
	PGresult *res = mc_pg_query(pg,
				    "SELECT d.tenant_id, d.id, t.name FROM "
				    "domains d LEFT JOIN domains t ON t.id = "
				    "d.alias_for WHERE d.name = $1 "
				    "FOR UPDATE OF d",
				    1, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	bool alias = found && !PQgetisnull(res, 0, 2);
	if (found) {
		snprintf(tenant_id, 24, "%s", PQgetvalue(res, 0, 0));
		snprintf(domain_id, 24, "%s", PQgetvalue(res, 0, 1));
	}
	if (alias)
		mc_error_set(err, MC_ERR_INVALID,
			     "%s is an alias of %s: add it there", a->domain,
			     PQgetvalue(res, 0, 2));
	PQclear(res);
	if (!found)
		mc_error_set(err, MC_ERR_NOTFOUND, "domain %s does not exist",
			     a->domain);
	return found && !alias ? 0 : -1;
}

/* Fails with MC_ERR_EXISTS when the local part is already used in the
 * domain by a user or an alias. */
static int check_free(struct mc_pg *pg, const struct address *a,
		      const char *domain_id, struct mc_error *err)
{
	const char *params[] = {domain_id, a->local};
	char kind[16];
	int r = tenants_query_value(pg,
			    "SELECT 'user' FROM users WHERE domain_id = $1 "
			    "AND local_part = $2 UNION ALL "
			    "SELECT 'alias' FROM aliases WHERE domain_id = $1 "
			    "AND local_part = $2",
			    2, params, kind, sizeof(kind), err);
	if (r > 0)
		mc_error_set(err, MC_ERR_EXISTS, "%s %s already exists", kind,
			     a->full);
	return r == 0 ? 0 : -1;
}

struct user_add {
	struct address addr;
	const char *hash;
};

/* Transaction body of mc_user_add. */
static int user_add_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct user_add *u = ctx;
	char tenant_id[24], domain_id[24];
	if (lock_domain(pg, &u->addr, tenant_id, domain_id, err) < 0 ||
	    check_free(pg, &u->addr, domain_id, err) < 0)
		return -1;
	const char *params[] = {tenant_id, domain_id, u->addr.local, u->hash};
	if (mc_pg_exec(pg,
		       "INSERT INTO users (tenant_id, domain_id, local_part, "
		       "password_hash, quota_bytes) SELECT $1::bigint, "
		       "$2::bigint, "
		       "$3, $4, default_user_quota FROM domains WHERE id = $2",
		       4, params, err) < 0)
		return exists_as(err, "user", u->addr.full);
	return 0;
}

int mc_user_add(struct mc_pg *pg, const char *address,
		const char *password_hash, struct mc_error *err)
{
	struct user_add u = {.hash = password_hash};
	if (tenants_parse_own(address, &u.addr, err) < 0)
		return -1;
	return mc_pg_transaction(pg, user_add_txn, &u, err);
}

int mc_user_set_password(struct mc_pg *pg, const char *address,
			 const char *password_hash, struct mc_error *err)
{
	struct address a;
	if (tenants_parse_own(address, &a, err) < 0)
		return -1;
	const char *params[] = {password_hash, a.local, a.domain};
	long n = mc_pg_exec(pg,
			    "UPDATE users u SET password_hash = $1, "
			    "password_changed_at = now() FROM domains d "
			    "WHERE d.tenant_id = u.tenant_id AND d.id = "
			    "u.domain_id AND u.local_part = $2 AND d.name = $3",
			    3, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "user %s does not exist",
			     a.full);
	return n > 0 ? 0 : -1;
}

/* Fails with MC_ERR_NOTFOUND unless domain exists. */
static int domain_exists(struct mc_pg *pg, const char *domain,
			 struct mc_error *err)
{
	const char *params[] = {domain};
	int r = tenants_query_value(pg, "SELECT 1 FROM domains WHERE name = $1", 1,
			    params, NULL, 0, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "domain %s does not exist",
			     domain);
	return r > 0 ? 0 : -1;
}

int mc_user_list(struct mc_pg *pg, const char *domain,
		 void (*cb)(const struct mc_user_info *user, void *ctx),
		 void *ctx, struct mc_error *err)
{
	char name[MC_DOMAIN_MAX + 1];
	snprintf(name, sizeof(name), "%s", domain);
	mc_str_lower(name);
	if (domain_exists(pg, name, err) < 0)
		return -1;
	const char *params[] = {name};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.local_part || '@' || d.name, u.display_name, "
		"u.status, u.quota_bytes, to_char(u.created_at AT TIME ZONE "
		"'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM users u "
		"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = "
		"u.domain_id WHERE d.name = $1 ORDER BY u.local_part",
		1, params, err);
	if (res == NULL)
		return -1;
	int rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		struct mc_user_info info = {
			.address = PQgetvalue(res, i, 0),
			.display_name = PQgetvalue(res, i, 1),
			.status = PQgetvalue(res, i, 2),
			.quota_bytes = strtoll(PQgetvalue(res, i, 3), NULL, 10),
			.created_at = PQgetvalue(res, i, 4),
		};
		cb(&info, ctx);
	}
	PQclear(res);
	return rows;
}

struct alias_add {
	struct address addr;
	struct mc_buf targets; /* a PostgreSQL array literal */
};

/* Transaction body of mc_alias_add. */
static int alias_add_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct alias_add *al = ctx;
	char tenant_id[24], domain_id[24];
	if (lock_domain(pg, &al->addr, tenant_id, domain_id, err) < 0 ||
	    check_free(pg, &al->addr, domain_id, err) < 0)
		return -1;
	const char *params[] = {tenant_id, domain_id, al->addr.local,
				mc_buf_cstr(&al->targets)};
	if (mc_pg_exec(pg,
		       "INSERT INTO aliases (tenant_id, domain_id, local_part, "
		       "targets) VALUES ($1, $2, $3, $4::text[])",
		       4, params, err) < 0)
		return exists_as(err, "alias", al->addr.full);
	return 0;
}

/* Checks every target and writes them as an array literal into buf. */
static int build_targets(const struct address *self, const char *const *targets,
			 size_t count, struct mc_buf *buf, struct mc_error *err)
{
	if (count < 1 || count > 1000) {
		mc_error_set(err, MC_ERR_INVALID,
			     "an alias needs 1 to 1000 targets");
		return -1;
	}
	mc_buf_append_c(buf, '{');
	for (size_t i = 0; i < count; i++) {
		char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
		if (mc_tenants_split_address(targets[i], false, local, domain,
					     err) < 0)
			return -1;
		char full[MC_ADDRESS_MAX + 1];
		snprintf(full, sizeof(full), "%s@%s", local, domain);
		if (strcasecmp(full, self->full) == 0) {
			mc_error_set(err, MC_ERR_INVALID,
				     "alias %s cannot target itself",
				     self->full);
			return -1;
		}
		/* The characters allowed in targets need no array quoting
		 * except the backslash and quote, which are refused. */
		mc_buf_printf(buf, "%s\"%s\"", i > 0 ? "," : "", full);
	}
	mc_buf_append_c(buf, '}');
	return 0;
}

int mc_alias_add(struct mc_pg *pg, const char *address,
		 const char *const *targets, size_t count, struct mc_error *err)
{
	struct alias_add al;
	mc_buf_init(&al.targets, NULL, 0);
	int r = -1;
	if (tenants_parse_own(address, &al.addr, err) == 0 &&
	    build_targets(&al.addr, targets, count, &al.targets, err) == 0)
		r = mc_pg_transaction(pg, alias_add_txn, &al, err);
	mc_buf_free(&al.targets);
	return r;
}
