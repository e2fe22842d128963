/* mc-admin-security: the security log (schema/0011: what the inbound
 * checks decided per message and local recipient) through the admin model:
 * security.list and .list_domain for the admins of the recipient's subtree
 * (provider: all; reseller: its tenants; tenant admin: its tenant; domain
 * admin: its domain; other roles denied), and its purge by maintenance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"
#include "mc-admin-token.h"

#define WHAT	    "read the security log"
#define PURGE_BATCH "10000"
#define NPARAMS	    16

/* clang-format off */
#define SEC_COLS                                                               \
	"s.id, " ADMIN_TS("s.created_at") ", s.queue_id, host(s.client_ip), "  \
	"s.sender, s.recipient, d.name, s.action, s.reason, s.spf, s.dkim, "   \
	"s.dmarc, s.spam_score::text, s.virus, s.created_at::text, s.id"
/* clang-format on */
#define SEC_FROM                                                               \
	" FROM security_log s JOIN domains d ON d.tenant_id = s.tenant_id "    \
	"AND d.id = s.domain_id WHERE true"

static const struct admin_sort security_sorts[] = {
	{"created_at", "s.created_at"},
	{NULL, NULL},
};

/* The actions mc-smtpd records (frontends/smtpd/filter.c). */
static const char *const actions[] = {
	"deliver", "tag", "junk", "reject", "quarantine", "tempfail", NULL,
};

struct list_ctx {
	const struct mc_admin_call *call;
	bool of_domain;
	struct admin_list l;
	char since[32], until[32], min_score[32];
	char rid[24], tid[24], did[24]; /* scope parameters */
	json_t *out;
};

/* A row of the list as its JSON shape (SecurityLogEntry). */
static json_t *entry_json(const PGresult *res, int row, const void *unused)
{
	static const char *const names[] = {
		"queue_id", "client_ip", "sender", "recipient", "domain",
		"action",   "reason",	 "spf",	   "dkim",	"dmarc",
	};
	(void)unused;
	json_t *o = json_pack("{s:I,s:o}", "id",
			      (json_int_t)admin_col_i64(res, row, 0),
			      "created_at", admin_col_json(res, row, 1));

	for (int i = 0; i < 10; i++)
		json_object_set_new(o, names[i],
				    admin_col_json(res, row, 2 + i));
	const char *score_text = PQgetvalue(res, row, 12);
	json_t *score = PQgetisnull(res, row, 12)
				? json_null()
				: json_real(strtod(score_text, NULL));

	json_object_set_new(o, "spam_score", score);
	json_object_set_new(o, "virus", admin_col_json(res, row, 13));
	return o;
}

/* The WHERE conditions of the actor's scope. */
static void actor_sql(struct mc_admin *a, struct list_ctx *c,
		      struct mc_buf *sql, const char **params, int *n)
{
	const struct mc_actor *ac = &a->actor;

	if (ac->role == MC_ROLE_PROVIDER)
		return;
	if (ac->role == MC_ROLE_RESELLER) {
		admin_where(sql, params, n,
			    admin_id_text(ac->reseller_id, c->rid),
			    " AND s.tenant_id IN (SELECT id FROM tenants "
			    "WHERE $?::bigint = ANY (reseller_path))");
		return;
	}
	admin_where(sql, params, n, admin_id_text(ac->tenant_id, c->tid),
		    " AND s.tenant_id = $?::bigint");
	if (ac->role != MC_ROLE_TENANT)
		admin_where(sql, params, n,
			    admin_id_text(ac->domain_id, c->did),
			    " AND s.domain_id = $?::bigint");
}

/* The WHERE conditions of list_domain's path parameter (found in the
 * actor's subtree, else NOTFOUND). */
static int path_sql(struct mc_admin *a, struct list_ctx *c, struct mc_buf *sql,
		    const char **params, int *n, struct mc_error *err)
{
	struct admin_place p;

	if (admin_find_domain(a, admin_arg(c->call, 0), &p, err) < 0 ||
	    admin_require_inside(a, &p, WHAT, err) < 0)
		return -1;
	admin_where(sql, params, n, admin_id_text(p.tenant_id, c->tid),
		    " AND s.tenant_id = $?::bigint");
	admin_where(sql, params, n, admin_id_text(p.domain_id, c->did),
		    " AND s.domain_id = $?::bigint");
	return 0;
}

/* The WHERE conditions of the filters (checked by list_check). */
static void filter_sql(const struct list_ctx *c, struct mc_buf *sql,
		       const char **params, int *n)
{
	const struct admin_list *l = &c->l;

	admin_where(sql, params, n, admin_filter(l, "action"),
		    " AND s.action = $?");
	admin_where(sql, params, n, admin_filter(l, "recipient"),
		    " AND strpos(lower(s.recipient), lower($?)) > 0");
	admin_where(sql, params, n, admin_filter(l, "sender"),
		    " AND strpos(lower(s.sender), lower($?)) > 0");
	admin_where(sql, params, n, c->since[0] ? c->since : NULL,
		    " AND s.created_at >= $?::timestamptz");
	admin_where(sql, params, n, c->until[0] ? c->until : NULL,
		    " AND s.created_at < $?::timestamptz");
	admin_where(sql, params, n, c->min_score[0] ? c->min_score : NULL,
		    " AND s.spam_score >= $?::real");
}

/* Transaction body of both lists. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	const char *params[NPARAMS];
	int n = 0;
	struct mc_buf sql;

	mc_buf_init(&sql, NULL, 0);
	mc_buf_append_str(&sql, "SELECT " SEC_COLS SEC_FROM);
	actor_sql(a, c, &sql, params, &n);
	if (c->of_domain && path_sql(a, c, &sql, params, &n, err) < 0) {
		mc_buf_free(&sql);
		return -1;
	}
	filter_sql(c, &sql, params, &n);
	return admin_out(&c->out,
			 admin_list_page(a, &c->l, &sql, "s.id", params, n,
					 entry_json, NULL, err));
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

/* min_score as a finite number into out ("" when absent). */
static int score_filter(struct mc_admin *a, const struct admin_list *l,
			char out[32], struct mc_error *err)
{
	const char *v = admin_filter(l, "min_score");
	char *end;
	double d;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || !isfinite(d) || fabs(d) > 1e6) {
		admin_field_error(a, err, "min_score", "must be a number");
		return -1;
	}
	snprintf(out, 32, "%.17g", d);
	return 0;
}

/* The filters that need checking: action, times, min_score. */
static int list_check(struct mc_admin *a, struct list_ctx *c,
		      struct mc_error *err)
{
	const char *action = admin_filter(&c->l, "action");
	size_t i = 0;

	while (action != NULL && actions[i] != NULL &&
	       strcmp(actions[i], action) != 0)
		i++;
	if (action != NULL && actions[i] == NULL) {
		admin_field_error(a, err, "action",
				  "must be deliver, tag, junk, reject, "
				  "quarantine or tempfail");
		return -1;
	}
	if (time_filter(a, &c->l, "since", c->since, err) < 0 ||
	    time_filter(a, &c->l, "until", c->until, err) < 0)
		return -1;
	return score_filter(a, &c->l, c->min_score, err);
}

/* Both lists: newest first unless sort=created_at. */
static int list_run(struct mc_admin *a, const struct mc_admin_call *call,
		    bool of_domain, json_t **out_r, struct mc_error *err)
{
	struct list_ctx c = {.of_domain = of_domain};
	struct mc_admin_list q = {0};
	struct mc_admin_call cc = *call;

	admin_op_begin(a, out_r);
	if (call->list != NULL)
		q = *call->list;
	if (q.sort == NULL)
		q.sort = "-created_at";
	cc.list = &q;
	c.call = &cc;
	if (of_domain && admin_need_args(call, 1, err) < 0)
		return -1;
	if (admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0 ||
	    admin_list_parse(a, &cc, security_sorts, &c.l, err) < 0 ||
	    list_check(a, &c, err) < 0)
		return -1;
	return admin_run(a, list_txn, &c, &c.out, out_r, err);
}

ADMIN_OP(admin_security_list)
{
	return list_run(a, call, false, out_r, err);
}

ADMIN_OP(admin_security_list_domain)
{
	return list_run(a, call, true, out_r, err);
}

long admin_security_log_purge(struct mc_pg *pg, struct mc_error *err)
{
	char days[24];
	const char *params[] = {days, PURGE_BATCH};
	long total = 0, n;

	snprintf(days, sizeof(days), "%d", ADMIN_SECURITY_LOG_DAYS);
	do {
		n = mc_pg_exec(pg,
			       "DELETE FROM security_log WHERE (tenant_id, id) "
			       "IN (SELECT tenant_id, id FROM security_log "
			       "WHERE created_at < now() - $1::int * interval "
			       "'1 day' LIMIT $2::int)",
			       2, params, err);
		if (n < 0)
			return -1;
		total += n;
	} while (n >= atol(PURGE_BATCH));
	return total;
}
