/* mc-directory: recipient resolution in PostgreSQL. An address expands
 * depth-first through domain aliases, users (and their forwards), aliases
 * (nested), "+detail" subaddresses and catch-alls into mailboxes and
 * external addresses, with a visited set against loops and bounds on
 * depth and size. The top address decides the status; a dead member of a
 * group is skipped. Login, send-as and relay-network checks live here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-directory-private.h"

#define ADDR_MAX 320

/* A domain looked up (ours or not), after following a domain alias. */
struct dir_domain {
	struct dir_domain *next;
	const char *name; /* as looked up */
	bool local;
	int64_t tenant_id, id;
	const char *target; /* name after the alias (pool) */
	enum mc_directory_status status;
	int64_t quota, used, max_size;
	bool quota_permanent;
	char **catchall; /* NULL-terminated (pool), NULL if none */
};

/* One resolution in progress. */
struct resolve {
	struct mc_pg *pg;
	struct mc_pool *pool;
	struct mc_directory_result *r;
	struct dir_domain *domains; /* memo of this resolution */
	struct {
		const char *addr;
		bool in_chain;
	} * visited;
	size_t visited_count, visited_cap;
	size_t mailboxes_cap, external_cap;
	bool too_big, loop;
};

static const char sql_domain[] =
	"SELECT d.tenant_id, coalesce(t.id, d.id), coalesce(t.name, d.name), "
	"CASE WHEN tn.status <> 'active' THEN 'suspended' "
	"ELSE coalesce(t.status, d.status) END, "
	"coalesce(coalesce(t.expires_at, d.expires_at) <= now(), false), "
	"coalesce(t.quota_bytes, d.quota_bytes), "
	"(SELECT coalesce(sum(used_bytes), 0) FROM domain_usage du WHERE "
	"du.tenant_id = d.tenant_id AND du.domain_id = coalesce(t.id, d.id)), "
	"coalesce(t.max_message_bytes, d.max_message_bytes), "
	"coalesce(t.quota_permanent, d.quota_permanent), "
	"coalesce(t.catchall, d.catchall) "
	"FROM domains d JOIN tenants tn ON tn.id = d.tenant_id "
	"LEFT JOIN domains t ON t.tenant_id = d.tenant_id AND t.id = "
	"d.alias_for "
	"WHERE d.name = $1";

static const char sql_entry[] =
	"SELECT 'u', id, status, quota_bytes, used_bytes, forward_to, "
	"forward_keep_copy FROM users WHERE tenant_id = $1 AND domain_id = $2 "
	"AND local_part = $3 AND status <> 'deleted' "
	"UNION ALL SELECT 'a', 0, '', 0, 0, targets, false FROM aliases "
	"WHERE tenant_id = $1 AND domain_id = $2 AND local_part = $3";

/* Parses a PostgreSQL text[] literal of plain addresses ({a,"b c"}) into
 * a NULL-terminated array from pool; NULL for SQL NULL or {}. */
static char **parse_array(struct mc_pool *pool, const char *s)
{
	size_t n = 0;
	if (s == NULL || s[0] != '{' || s[1] == '}')
		return NULL;
	char **list = mc_palloc_array(pool, strlen(s) / 2 + 2, sizeof(*list));
	const char *p = s + 1;
	while (*p != '\0' && *p != '}') {
		bool quoted = *p == '"';
		const char *start = quoted ? ++p : p;
		while (*p != '\0' &&
		       (quoted ? *p != '"' : (*p != ',' && *p != '}')))
			p++;
		list[n++] = mc_pstrndup(pool, start, (size_t)(p - start));
		if (quoted && *p == '"')
			p++;
		if (*p == ',')
			p++;
	}
	list[n] = NULL;
	return list;
}

/* The status of a domain row: expiry beats the stored status. */
static enum mc_directory_status domain_status(const char *status, bool expired)
{
	if (expired || strcmp(status, "expired") == 0)
		return MC_DIR_DOMAIN_EXPIRED;
	if (strcmp(status, "active") != 0)
		return MC_DIR_DOMAIN_SUSPENDED;
	return MC_DIR_OK;
}

/* Fills d from row 0 of a sql_domain result. */
static void domain_from_row(struct resolve *rs, PGresult *res,
			    struct dir_domain *d)
{
	d->local = true;
	d->tenant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	d->id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	d->target = mc_pstrdup(rs->pool, PQgetvalue(res, 0, 2));
	d->status = domain_status(PQgetvalue(res, 0, 3),
				  PQgetvalue(res, 0, 4)[0] == 't');
	d->quota = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	d->used = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	d->max_size = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	d->quota_permanent = PQgetvalue(res, 0, 8)[0] == 't';
	d->catchall = PQgetisnull(res, 0, 9)
			      ? NULL
			      : parse_array(rs->pool, PQgetvalue(res, 0, 9));
}

/* The domain named name (memoised per resolution); NULL on error. */
static struct dir_domain *lookup_domain(struct resolve *rs, const char *name,
					struct mc_error *err)
{
	for (struct dir_domain *d = rs->domains; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	const char *params[] = {name};
	PGresult *res = mc_pg_query(rs->pg, sql_domain, 1, params, err);
	if (res == NULL)
		return NULL;
	struct dir_domain *d = mc_palloc(rs->pool, sizeof(*d));
	d->name = mc_pstrdup(rs->pool, name);
	if (PQntuples(res) > 0)
		domain_from_row(rs, res, d);
	PQclear(res);
	d->next = rs->domains;
	rs->domains = d;
	return d;
}

/* Grows *array (of elem bytes) from pool to hold one more than *count. */
static void *grow(struct mc_pool *pool, void *array, size_t count, size_t *cap,
		  size_t elem)
{
	if (count < *cap)
		return array;
	size_t ncap = *cap == 0 ? 4 : *cap * 2;
	void *n = mc_palloc_array(pool, ncap, elem);
	if (count > 0)
		memcpy(n, array, count * elem);
	*cap = ncap;
	return n;
}

enum visit { VISIT_NEW, VISIT_SEEN, VISIT_LOOP };

/* Marks addr visited and on the current chain: VISIT_SEEN when another
 * branch had it (a diamond: deliver once), VISIT_LOOP when it leads back
 * to itself, or when the set is full. */
static enum visit visit(struct resolve *rs, const char *addr)
{
	for (size_t i = 0; i < rs->visited_count; i++) {
		if (strcmp(rs->visited[i].addr, addr) == 0)
			return rs->visited[i].in_chain ? VISIT_LOOP
						       : VISIT_SEEN;
	}
	if (rs->visited_count >= MC_DIRECTORY_MAX_TARGETS) {
		rs->too_big = true;
		return VISIT_LOOP;
	}
	rs->visited = grow(rs->pool, rs->visited, rs->visited_count,
			   &rs->visited_cap, sizeof(*rs->visited));
	rs->visited[rs->visited_count].addr = mc_pstrdup(rs->pool, addr);
	rs->visited[rs->visited_count++].in_chain = true;
	return VISIT_NEW;
}

/* Takes addr off the current chain once its expansion is done. */
static void leave(struct resolve *rs, const char *addr)
{
	for (size_t i = 0; i < rs->visited_count; i++) {
		if (strcmp(rs->visited[i].addr, addr) == 0)
			rs->visited[i].in_chain = false;
	}
}

/* Adds an external target. */
static void add_external(struct resolve *rs, const char *addr)
{
	struct mc_directory_result *r = rs->r;
	r->external = grow(rs->pool, r->external, r->external_count,
			   &rs->external_cap, sizeof(char *));
	r->external[r->external_count++] = mc_pstrdup(rs->pool, addr);
}

/* Adds a user's mailbox from a sql_entry row. */
static void add_mailbox(struct resolve *rs, const struct dir_domain *d,
			PGresult *res, const char *local)
{
	struct mc_directory_result *r = rs->r;
	r->mailboxes = grow(rs->pool, r->mailboxes, r->mailboxes_count,
			    &rs->mailboxes_cap, sizeof(*r->mailboxes));
	r->mailboxes[r->mailboxes_count++] = (struct mc_directory_mailbox){
		.tenant_id = d->tenant_id,
		.user_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10),
		.domain_id = d->id,
		.address = mc_psprintf(rs->pool, "%s@%s", local, d->target),
		.quota = strtoll(PQgetvalue(res, 0, 3), NULL, 10),
		.used = strtoll(PQgetvalue(res, 0, 4), NULL, 10),
		.domain_quota = d->quota,
		.domain_used = d->used,
		.max_message_size = d->max_size,
		.quota_permanent = d->quota_permanent,
	};
}

static int expand(struct resolve *rs, const char *addr, unsigned depth,
		  enum mc_directory_status *status_r, struct mc_error *err);

/* Expands every target of a list; the list's status is OK. */
static int expand_list(struct resolve *rs, char **targets, unsigned depth,
		       struct mc_error *err)
{
	for (size_t i = 0; targets != NULL && targets[i] != NULL; i++) {
		enum mc_directory_status st;
		if (expand(rs, targets[i], depth + 1, &st, err) < 0)
			return -1;
	}
	return 0;
}

/* Looks local up in d: 1 found (*res_r, caller clears), 0 not, -1 err. */
static int lookup_entry(struct resolve *rs, const struct dir_domain *d,
			const char *local, PGresult **res_r,
			struct mc_error *err)
{
	char tid[24], did[24];
	snprintf(tid, sizeof(tid), "%lld", (long long)d->tenant_id);
	snprintf(did, sizeof(did), "%lld", (long long)d->id);
	const char *params[] = {tid, did, local};
	PGresult *res = mc_pg_query(rs->pg, sql_entry, 3, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	*res_r = res;
	return 1;
}

/* Delivers to a found user or alias row. */
static int expand_entry(struct resolve *rs, const struct dir_domain *d,
			const char *local, PGresult *res, unsigned depth,
			enum mc_directory_status *status_r,
			struct mc_error *err)
{
	char **targets = parse_array(rs->pool, PQgetvalue(res, 0, 5));
	if (PQgetvalue(res, 0, 0)[0] == 'a')
		return expand_list(rs, targets, depth, err);
	if (strcmp(PQgetvalue(res, 0, 2), "active") != 0) {
		*status_r = MC_DIR_DISABLED;
		return 0;
	}
	if (targets == NULL || PQgetvalue(res, 0, 6)[0] == 't')
		add_mailbox(rs, d, res, local);
	return expand_list(rs, targets, depth, err);
}

/* Resolves local in our domain d: entry, then the part before '+',
 * then the catch-all. */
static int expand_local(struct resolve *rs, const struct dir_domain *d,
			char *local, unsigned depth,
			enum mc_directory_status *status_r,
			struct mc_error *err)
{
	PGresult *res = NULL;
	int found = lookup_entry(rs, d, local, &res, err);
	char *plus = strchr(local, '+');
	if (found == 0 && plus != NULL && plus != local) {
		*plus = '\0';
		found = lookup_entry(rs, d, local, &res, err);
	}
	if (found < 0)
		return -1;
	if (found == 0) {
		if (d->catchall == NULL) {
			*status_r = MC_DIR_UNKNOWN;
			return 0;
		}
		return expand_list(rs, d->catchall, depth, err);
	}
	int r = expand_entry(rs, d, local, res, depth, status_r, err);
	PQclear(res);
	return r;
}

/* Expands one address in our domain or not (lower case, with '@'). */
static int expand_addr(struct resolve *rs, char *buf, char *at, unsigned depth,
		       enum mc_directory_status *status_r, struct mc_error *err)
{
	*at = '\0';
	struct dir_domain *d = lookup_domain(rs, at + 1, err);
	if (d == NULL)
		return -1;
	if (depth == 0) {
		rs->r->tenant_id = d->tenant_id;
		rs->r->domain =
			d->local ? d->target : mc_pstrdup(rs->pool, at + 1);
	}
	if (!d->local) {
		*at = '@';
		if (depth > 0)
			add_external(rs, buf);
		*status_r = MC_DIR_NOT_LOCAL;
		return 0;
	}
	if (d->status != MC_DIR_OK) {
		*status_r = d->status;
		return 0;
	}
	return expand_local(rs, d, buf, depth, status_r, err);
}

/* Expands one address into rs->r; *status_r is its own status. */
static int expand(struct resolve *rs, const char *addr, unsigned depth,
		  enum mc_directory_status *status_r, struct mc_error *err)
{
	char buf[ADDR_MAX], key[ADDR_MAX];
	*status_r = MC_DIR_OK;
	if (depth > MC_DIRECTORY_MAX_DEPTH) {
		rs->too_big = true;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", addr);
	mc_str_lower(buf);
	char *at = strrchr(buf, '@');
	if (at == NULL || at == buf || at[1] == '\0') {
		*status_r = MC_DIR_UNKNOWN;
		return 0;
	}
	enum visit v = visit(rs, buf);
	if (v != VISIT_NEW) {
		rs->loop |= v == VISIT_LOOP;
		return 0;
	}
	snprintf(key, sizeof(key), "%s", buf);
	int r = expand_addr(rs, buf, at, depth, status_r, err);
	leave(rs, key);
	return r;
}

/* The reply text for a status. */
static const char *status_text(enum mc_directory_status st)
{
	switch (st) {
	case MC_DIR_OK:
		return "OK";
	case MC_DIR_NOT_LOCAL:
		return "not a local domain";
	case MC_DIR_UNKNOWN:
		return "no such user here";
	case MC_DIR_DISABLED:
		return "mailbox disabled, not accepting messages";
	case MC_DIR_DOMAIN_SUSPENDED:
		return "domain suspended, not accepting messages";
	case MC_DIR_DOMAIN_EXPIRED:
		return "domain expired, not accepting messages";
	case MC_DIR_LOOP:
		return "alias loop or expansion too large";
	}
	return "unknown";
}

/* The uncached resolution. */
static int resolve_db(struct mc_pg *pg, struct mc_pool *pool,
		      const char *address, struct mc_directory_result *r,
		      struct mc_error *err)
{
	struct resolve rs = {.pg = pg, .pool = pool, .r = r};
	enum mc_directory_status st;
	*r = (struct mc_directory_result){0};
	if (expand(&rs, address, 0, &st, err) < 0)
		return -1;
	bool none = r->mailboxes_count + r->external_count == 0;
	if (rs.too_big || (st == MC_DIR_OK && none && rs.loop))
		st = MC_DIR_LOOP;
	else if (st == MC_DIR_OK && none)
		st = MC_DIR_UNKNOWN; /* every member was dead */
	r->status = st;
	r->text = status_text(st);
	return 0;
}

int mc_directory_resolve(struct mc_pg *pg, struct mc_redis *redis,
			 const struct mc_directory_settings *set,
			 struct mc_pool *pool, const char *address,
			 struct mc_directory_result *result_r,
			 struct mc_error *err)
{
	char key[ADDR_MAX], gen[DIR_GEN_MAX];
	snprintf(key, sizeof(key), "%s", address);
	mc_str_lower(key);
	bool cache = redis != NULL && set->cache_ttl_s > 0;
	if (cache) {
		int hit = dir_cache_get(redis, pool, key, result_r, gen, err);
		if (hit != 0)
			return hit < 0 ? -1 : 0;
	}
	if (resolve_db(pg, pool, key, result_r, err) < 0)
		return -1;
	if (cache)
		dir_cache_put(redis, gen, key, result_r, set->cache_ttl_s);
	return 0;
}

/* Runs a query whose first column is a tenant id: 1 with *tenant_id_r
 * set (may be NULL), 0 no row, -1 error. */
static int query_tenant(struct mc_pg *pg, const char *sql, int n,
			const char *const *params, int64_t *tenant_id_r,
			struct mc_error *err)
{
	PGresult *res = mc_pg_query(pg, sql, n, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found && tenant_id_r != NULL)
		*tenant_id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return found;
}

int mc_directory_local_domain(struct mc_pg *pg, const char *domain,
			      int64_t *tenant_id_r, struct mc_error *err)
{
	const char *params[] = {domain};
	return query_tenant(
		pg, "SELECT tenant_id FROM domains WHERE name = lower($1)", 1,
		params, tenant_id_r, err);
}

/* The login query: the user, its domain's protocols, and when its
 * password expires (whole seconds, as mc-password-policy counts: no
 * maximum age or one of the domain's exceptions is 0). */
static const char sql_login[] =
	"SELECT u.tenant_id, u.id, u.domain_id, u.password_hash, "
	"u.local_part || '@' || d.name, coalesce(u.imap_backend, "
	"t.imap_backend), ('imap' = ANY(u.protocols))::int + "
	"2 * ('pop3' = ANY(u.protocols))::int + 4 * ('smtp' = "
	"ANY(u.protocols))::int + 8 * ('webmail' = "
	"ANY(u.protocols))::int, "
	"floor(extract(epoch FROM u.password_changed_at))::bigint, "
	"CASE WHEN d.pw_max_age_days > 0 AND NOT lower(u.local_part) = "
	"ANY (SELECT lower(x) FROM unnest(d.pw_exceptions) x) THEN "
	"floor(extract(epoch FROM u.password_changed_at))::bigint + "
	"d.pw_max_age_days::bigint * 86400 ELSE 0 END FROM users u "
	"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = "
	"u.domain_id JOIN tenants t ON t.id = u.tenant_id "
	"WHERE d.name = lower(split_part($1, '@', 2)) AND u.local_part "
	"= lower(split_part($1, '@', 1)) AND u.status = 'active' AND "
	"d.status = 'active' AND (d.expires_at IS NULL OR d.expires_at "
	"> now()) AND t.status = 'active' AND $1 LIKE '%_@_%' AND "
	"$1 NOT LIKE '%@%@%'";

/* Column c of row 0 as an integer. */
static int64_t col_int(const PGresult *res, int c)
{
	return strtoll(PQgetvalue(res, 0, c), NULL, 10);
}

int mc_directory_login(struct mc_pg *pg, struct mc_pool *pool,
		       const char *address, struct mc_directory_login *login_r,
		       struct mc_error *err)
{
	const char *params[] = {address};
	PGresult *res = mc_pg_query(pg, sql_login, 1, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		*login_r = (struct mc_directory_login){
			.tenant_id = col_int(res, 0),
			.user_id = col_int(res, 1),
			.domain_id = col_int(res, 2),
			.password_hash =
				mc_pstrdup(pool, PQgetvalue(res, 0, 3)),
			.address = mc_pstrdup(pool, PQgetvalue(res, 0, 4)),
			.imap_backend =
				PQgetisnull(res, 0, 5)
					? NULL
					: mc_pstrdup(pool,
						     PQgetvalue(res, 0, 5)),
			.protocols = (unsigned)col_int(res, 6),
			.password_changed_at = col_int(res, 7),
			.password_expires_at = col_int(res, 8),
		};
	}
	PQclear(res);
	return found;
}

bool mc_directory_login_expired(const struct mc_directory_login *login,
				int64_t now)
{
	return login->password_expires_at != 0 &&
	       now >= login->password_expires_at;
}

/* Runs a query with text parameters: 1 if it returned a row, 0, -1. */
static int has_row(struct mc_pg *pg, const char *sql, int n,
		   const char *const *params, struct mc_error *err)
{
	PGresult *res = mc_pg_query(pg, sql, n, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

int mc_directory_may_send_as(struct mc_pg *pg, int64_t tenant_id,
			     int64_t user_id, const char *address,
			     struct mc_error *err)
{
	char tid[24], uid[24], addr[ADDR_MAX];
	snprintf(tid, sizeof(tid), "%lld", (long long)tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	snprintf(addr, sizeof(addr), "%s", address);
	mc_str_lower(addr);
	const char *params[] = {tid, uid, addr};
	return has_row(
		pg,
		"SELECT 1 FROM users u JOIN domains d ON d.tenant_id = "
		"u.tenant_id AND d.id = u.domain_id WHERE u.tenant_id = $1 AND "
		"u.id = $2 AND ($3 = u.local_part || '@' || d.name "
		"OR EXISTS (SELECT 1 FROM domains da WHERE da.tenant_id = "
		"u.tenant_id AND da.alias_for = d.id AND $3 = u.local_part || "
		"'@' || da.name) "
		"OR EXISTS (SELECT 1 FROM send_as s WHERE s.tenant_id = "
		"u.tenant_id AND s.user_id = u.id AND (s.address = $3 OR "
		"s.address = '@' || split_part($3, '@', 2))) "
		"OR EXISTS (SELECT 1 FROM aliases a JOIN domains ad ON "
		"ad.tenant_id = a.tenant_id AND ad.id = a.domain_id WHERE "
		"a.tenant_id = u.tenant_id AND a.local_part || '@' || ad.name "
		"= $3 AND a.targets = ARRAY[u.local_part || '@' || d.name]))",
		3, params, err);
}

int mc_directory_relay_network(struct mc_pg *pg, const char *ip,
			       const char *sender_domain, int64_t *tenant_id_r,
			       struct mc_error *err)
{
	const char *params[] = {ip, sender_domain != NULL ? sender_domain : ""};
	return query_tenant(
		pg,
		"SELECT n.tenant_id FROM tenant_networks n WHERE n.network >>= "
		"$1::inet AND ($2 = '' OR EXISTS (SELECT 1 FROM domains d "
		"WHERE d.tenant_id = n.tenant_id AND d.name = lower($2))) "
		"LIMIT 1",
		2, params, tenant_id_r, err);
}
