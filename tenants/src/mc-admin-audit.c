/* mc-admin-audit: audit.list, the audit records of the actor's subtree
 * (provider: all; reseller: its subtree's; tenant, domain: theirs;
 * department admin: its department subtree's), newest first, filtered by
 * action, target, actor and a time range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"
#include "mc-admin-token.h"

/* clang-format off */
#define AUDIT_COLS                                                             \
	"a.id, " ADMIN_TS("a.at") ", a.actor, a.actor_role, a.action, "        \
	"a.target, a.changes::text, host(a.client_ip), a.request_id, "         \
	"t.name, d.name"
/* clang-format on */
#define AUDIT_FROM                                                             \
	" FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id "         \
	"LEFT JOIN domains d ON d.id = a.domain_id"
#define COL_SORT 11
/* The records of the department subtree of $1. */
#define IN_DEPARTMENT                                                          \
	" AND a.department_id IN " MC_ADMIN_DEPARTMENT_SUBTREE("$1")

static const struct admin_sort audit_sorts[] = {
	{"at", "a.at"},
	{NULL, NULL},
};

struct audit_op {
	struct admin_list list;
	char since[32], until[32];
	json_t *out;
};

/* An audit row as the API shows it. */
static json_t *audit_json(const PGresult *res, int row, const void *unused)
{
	(void)unused;
	json_t *changes = json_loads(PQgetvalue(res, row, 6), 0, NULL);
	static const char *const names[] = {"client_ip", "request_id", "tenant",
					    "domain"};

	json_t *o = json_pack(
		"{sIssssssssssso}", "id",
		(json_int_t)strtoll(PQgetvalue(res, row, 0), NULL, 10), "at",
		PQgetvalue(res, row, 1), "actor", PQgetvalue(res, row, 2),
		"role", PQgetvalue(res, row, 3), "action",
		PQgetvalue(res, row, 4), "target", PQgetvalue(res, row, 5),
		"changes", changes != NULL ? changes : json_object());
	for (int i = 0; i < 4; i++)
		json_object_set_new(o, names[i],
				    admin_col_json(res, row, 7 + i));
	return o;
}

/* The WHERE clause of the actor's scope, its parameter into params. */
static void scope_sql(const struct mc_actor *ac, struct mc_buf *sql,
		      char idbuf[24], const char **params, int *n)
{
	int64_t id = ac->role == MC_ROLE_RESELLER     ? ac->reseller_id
		     : ac->role == MC_ROLE_TENANT     ? ac->tenant_id
		     : ac->role == MC_ROLE_DEPARTMENT ? ac->department_id
						      : ac->domain_id;

	mc_buf_append_str(sql, " WHERE true");
	if (ac->role == MC_ROLE_PROVIDER)
		return;
	snprintf(idbuf, 24, "%lld", (long long)id);
	params[(*n)++] = idbuf;
	if (ac->role == MC_ROLE_RESELLER)
		mc_buf_append_str(sql,
				  " AND $1::bigint = ANY (a.reseller_path)");
	else if (ac->role == MC_ROLE_TENANT)
		mc_buf_append_str(sql, " AND a.tenant_id = $1::bigint");
	else if (ac->role == MC_ROLE_DEPARTMENT)
		mc_buf_append_str(sql, IN_DEPARTMENT);
	else
		mc_buf_append_str(sql, " AND a.domain_id = $1::bigint");
}

/* Appends " AND <expr> $n" for a filter value that is set. */
static void filter_sql(struct mc_buf *sql, const char *expr, const char *value,
		       const char **params, int *n)
{
	if (value == NULL || *value == '\0')
		return;
	params[(*n)++] = value;
	mc_buf_printf(sql, " AND %s $%d", expr, *n);
}

/* audit.list in the transaction. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct audit_op *op = ctx;
	const struct admin_list *l = &op->list;
	const char *params[8];
	char idbuf[24];
	int n = 0;
	struct mc_buf sql;

	json_decref(op->out);
	op->out = NULL;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql, "SELECT " AUDIT_COLS ", %s::text" AUDIT_FROM,
		      l->sort->expr);
	scope_sql(&a->actor, &sql, idbuf, params, &n);
	filter_sql(&sql, "a.action =", admin_filter(l, "action"), params, &n);
	filter_sql(&sql, "a.target =", admin_filter(l, "target"), params, &n);
	filter_sql(&sql, "a.actor =", admin_filter(l, "actor"), params, &n);
	filter_sql(&sql, "a.at >= ", op->since, params, &n);
	filter_sql(&sql, "a.at < ", op->until, params, &n);
	PGresult *res = admin_list_fetch(a, l, &sql, "a.id", params, n, err);
	if (res == NULL)
		return -1;
	op->out = admin_page_rows(l, res, COL_SORT, 0, audit_json, NULL);
	PQclear(res);
	return 0;
}

/* A time filter ("since", "until") as UTC RFC 3339 into out ("" when
 * absent). */
static int time_filter(struct mc_admin *a, const struct admin_list *l,
		       const char *name, char out[32], struct mc_error *err)
{
	const char *v = admin_filter(l, name);
	time_t t;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	if (!mc_admin_parse_time(v, &t)) {
		admin_field_error(a, err, name,
				  "must be an RFC 3339 time such as "
				  "2025-01-31T12:00:00Z");
		return -1;
	}
	mc_admin_format_time(t, out);
	return 0;
}

ADMIN_OP(admin_audit_list)
{
	struct audit_op op = {0};
	struct mc_admin_list q = {0};
	struct mc_admin_call c = *call;

	*out_r = NULL;
	if (call->list != NULL)
		q = *call->list;
	if (q.sort == NULL)
		q.sort = "-at";
	c.list = &q;
	if (admin_require(a, MC_ROLE_DEPARTMENT, "read the audit log", err) < 0)
		return -1;
	if (admin_list_parse(a, &c, audit_sorts, &op.list, err) < 0 ||
	    time_filter(a, &op.list, "since", op.since, err) < 0 ||
	    time_filter(a, &op.list, "until", op.until, err) < 0 ||
	    admin_txn(a, list_txn, &op, err) < 0)
		return -1;
	*out_r = op.out;
	return 0;
}
