/* mc-admin-token: what the token operations (mc-admin-tokens.c) and the
 * audit log (mc-admin-audit.c) share with the role binding operations
 * (mc-admin-access.c): which bindings an actor sees (SQL), a binding's
 * scope as JSON, creating a binding from role + scope inside a running
 * operation, who may grant what, and RFC 3339 instants. Internal to the
 * tenants library; API clients use mc-admin.h. */
#ifndef MC_ADMIN_TOKEN_H
#define MC_ADMIN_TOKEN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mailcore/mc-admin.h"

struct mc_admin;
struct mc_error;

/* The ids of a department's subtree (itself included); p is the SQL
 * parameter holding the department id, e.g. "$5". */
#define MC_ADMIN_DEPARTMENT_SUBTREE(p)                                         \
	"(WITH RECURSIVE sub(id) AS (SELECT " p "::bigint UNION "              \
	"SELECT x.id FROM departments x JOIN sub ON x.parent_id = sub.id) "    \
	"SELECT id FROM sub)"

/* True for role binding b inside the subtree of the actor whose
 * mc_admin_binding_params() are $1..$6 (assistants and users: only their
 * own binding). */
/* clang-format off */
#define MC_ADMIN_BINDING_VISIBLE                                               \
	"(CASE $1::text WHEN 'provider' THEN true "                            \
	"WHEN 'reseller' THEN EXISTS (SELECT 1 FROM resellers vr "             \
	"WHERE vr.id = b.reseller_id AND $2::bigint = ANY (vr.path)) "         \
	"OR EXISTS (SELECT 1 FROM tenants vt WHERE vt.id = b.tenant_id "       \
	"AND $2::bigint = ANY (vt.reseller_path)) "                            \
	"WHEN 'tenant' THEN b.tenant_id = $3::bigint "                         \
	"WHEN 'domain' THEN b.domain_id = $4::bigint "                         \
	"WHEN 'department' THEN b.domain_id = $4::bigint AND "                 \
	"(b.department_id IN " MC_ADMIN_DEPARTMENT_SUBTREE("$5") " "           \
	"OR (b.role = 'user' AND EXISTS (SELECT 1 FROM users vu "              \
	"WHERE vu.tenant_id = b.holder_tenant AND vu.id = b.holder_id "        \
	"AND vu.department_id IN " MC_ADMIN_DEPARTMENT_SUBTREE("$5") "))) "    \
	"ELSE b.id = $6::bigint END)"
/* clang-format on */
#define MC_ADMIN_BINDING_NPARAMS 6

/* Joins of role_bindings b with the names of its scope. */
#define MC_ADMIN_BINDING_JOINS                                                 \
	" LEFT JOIN resellers r ON r.id = b.reseller_id"                       \
	" LEFT JOIN tenants t ON t.id = b.tenant_id"                           \
	" LEFT JOIN domains d ON d.id = b.domain_id"
/* The five columns mc_admin_binding_scope() reads. */
#define MC_ADMIN_BINDING_SCOPE_COLS                                            \
	"b.role, coalesce(r.name, ''), coalesce(t.name, ''), "                 \
	"coalesce(d.name, ''), coalesce(b.department_id::text, '')"

/* The values of $1..$6 for MC_ADMIN_BINDING_VISIBLE (point into bp). */
struct mc_admin_binding_params {
	char ids[5][24];
	const char *values[MC_ADMIN_BINDING_NPARAMS];
};
void mc_admin_binding_params(const struct mc_actor *actor,
			     struct mc_admin_binding_params *bp);

/* The scope object ({"tenant": "acme"}, {"domain": ..., "department": 7},
 * {} for the provider) from the MC_ADMIN_BINDING_SCOPE_COLS at col of
 * row; the role into *role_r (may be NULL). Caller owns the result. */
json_t *mc_admin_binding_scope(const PGresult *res, int row, int col,
			       enum mc_role *role_r);

/* May an actor of role actor grant role (bindings, tokens)? Assistants,
 * department admins and users grant nothing. */
bool mc_admin_may_grant(enum mc_role actor, enum mc_role role);

/* Checks the members role, scope, holder, label of body (outside the
 * transaction): field errors, 0 or -1. */
int mc_admin_binding_check(struct mc_admin *a, const json_t *body,
			   struct mc_error *err);
/* Inside an operation's transaction: creates the role binding that
 * body's role, scope, holder, label describe (scope found in the actor's
 * subtree, else NOTFOUND; the role must be grantable, else DENIED) and
 * audits it. 0 with *id_r, or -1. */
int mc_admin_binding_make(struct mc_admin *a, const json_t *body, int64_t *id_r,
			  struct mc_error *err);
/* Inside a transaction: the role and scope (caller json_decref()s it) of
 * binding id if the actor sees it, else -1 NOTFOUND. */
int mc_admin_binding_lookup(struct mc_admin *a, int64_t id,
			    enum mc_role *role_r, json_t **scope_r,
			    struct mc_error *err);
/* Inside a transaction: admin_audit() at the place of binding id. */
int mc_admin_binding_audit(struct mc_admin *a, int64_t id, const char *action,
			   const char *target, const json_t *changes,
			   struct mc_error *err);

/* RFC 3339 "2025-01-31T12:00:00Z" (fraction and numeric offset allowed,
 * real calendar days only) to the instant; false when malformed. */
bool mc_admin_parse_time(const char *s, time_t *t_r);
/* Writes t as "YYYY-MM-DDTHH:MM:SSZ". */
void mc_admin_format_time(time_t t, char buf[32]);

#endif
