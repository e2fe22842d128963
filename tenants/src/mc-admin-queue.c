/* mc-admin-queue: the outbound queue through the admin model (queue.list,
 * .list_tenant, .list_domain, .show, .hold, .release, .retry, .delete):
 * mc-queue.h scoped to the actor's subtree (provider: all; reseller: its
 * tenants; tenant admin: its tenant; domain admin: its domain's senders).
 * Entries outside are not found; roles below domain admin are denied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define QUEUE_ID_MAX 64
#define WHAT	     "manage the mail queue"

/* What the actor (or a list's path and filters) may see of the queue. */
struct qscope {
	struct mc_queue_filter f;
	int64_t *tenants; /* heap; f.tenants points here (or NULL: all) */
	bool none;	  /* a reseller without tenants: nothing */
	char domain[MC_DOMAIN_MAX + 1];
};

/* Frees the scope's tenant list. */
static void scope_free(struct qscope *s)
{
	free(s->tenants);
	s->tenants = NULL;
	s->f.tenants = NULL;
	s->f.tenants_count = 0;
}

/* Limits the scope to the one tenant id. */
static void scope_tenant(struct qscope *s, int64_t id)
{
	scope_free(s);
	s->tenants = mc_malloc(sizeof(*s->tenants));
	s->tenants[0] = id;
	s->f.tenants = s->tenants;
	s->f.tenants_count = 1;
	s->none = false;
}

/* Limits the scope to the senders of domain (a name, copied). */
static void scope_domain(struct qscope *s, const char *domain)
{
	snprintf(s->domain, sizeof(s->domain), "%s", domain);
	s->f.sender_domain = s->domain;
}

/* The tenants of reseller actor (under RLS) into the scope. */
static int scope_reseller(struct mc_admin *a, struct qscope *s,
			  struct mc_error *err)
{
	char rid[24];
	const char *params[] = {admin_id_text(a->actor.reseller_id, rid)};
	PGresult *res =
		admin_query(a,
			    "SELECT id FROM tenants WHERE "
			    "$1::bigint = ANY(reseller_path) ORDER BY id",
			    1, params, err);

	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	scope_free(s);
	s->tenants = mc_calloc(n > 0 ? (size_t)n : 1, sizeof(*s->tenants));
	for (int i = 0; i < n; i++)
		s->tenants[i] = admin_col_i64(res, i, 0);
	PQclear(res);
	s->f.tenants = s->tenants;
	s->f.tenants_count = (size_t)n;
	s->none = n == 0;
	return 0;
}

/* The domain admin's domain name into the scope. */
static int scope_own_domain(struct mc_admin *a, struct qscope *s,
			    struct mc_error *err)
{
	char did[24];
	const char *params[] = {admin_id_text(a->actor.domain_id, did)};
	PGresult *res = admin_query(a, "SELECT name FROM domains WHERE id = $1",
				    1, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain");
		return -1;
	}
	scope_domain(s, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* The actor's own scope of the queue (in the transaction). */
static int scope_actor(struct mc_admin *a, struct qscope *s,
		       struct mc_error *err)
{
	memset(&s->f, 0, sizeof(s->f));
	s->domain[0] = '\0';
	if (a->cfg != NULL)
		s->f.lifetime_s =
			(unsigned)(mc_config_duration_ms(a->cfg, "delivery",
							 "lifetime") /
				   1000);
	if (admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0)
		return -1;
	switch (a->actor.role) {
	case MC_ROLE_PROVIDER:
		scope_free(s);
		s->none = false;
		return 0;
	case MC_ROLE_RESELLER:
		return scope_reseller(a, s, err);
	case MC_ROLE_TENANT:
		scope_tenant(s, a->actor.tenant_id);
		return 0;
	default:
		scope_tenant(s, a->actor.tenant_id);
		return scope_own_domain(a, s, err);
	}
}

/* time_t as RFC 3339 UTC, or null for 0. */
static json_t *time_json(time_t t)
{
	struct tm tm;
	char buf[32];

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* A string or null. */
static json_t *str_json(const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;
	return v != NULL ? v : json_null();
}

/* One recipient as its JSON shape (QueueRecipient). */
static json_t *rcpt_json(const struct mc_queue_entry_rcpt *r)
{
	return json_pack("{s:o,s:o,s:I,s:o,s:o,s:o}", "address",
			 str_json(r->address), "state", str_json(r->state),
			 "attempts", (json_int_t)r->attempts, "next_attempt",
			 time_json(r->next_attempt), "last_error",
			 str_json(r->last_error), "status",
			 str_json(r->status));
}

/* One entry as its JSON shape (QueueEntry); tenant: its name or NULL. */
static json_t *entry_json(const struct mc_queue_entry *e, const char *tenant)
{
	json_t *rcpts = json_array();

	for (size_t i = 0; i < e->rcpts_count; i++)
		json_array_append_new(rcpts, rcpt_json(&e->rcpts[i]));
	json_t *o = json_pack(
		"{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o}", "queue_id",
		str_json(e->queue_id), "tenant", str_json(tenant), "sender",
		str_json(e->sender), "state", str_json(e->state), "envid",
		str_json(e->envid), "ret", str_json(e->ret), "auth_user",
		str_json(e->auth_user), "client_ip", str_json(e->client_ip),
		"held_reason", str_json(e->held_reason), "size_bytes",
		(json_int_t)e->size, "created_at", time_json(e->created_at),
		"expires_at", time_json(e->expires_at));
	json_object_set_new(o, "recipients", rcpts);
	return o;
}

/* The names of the tenants of entries: {"<id>": "<name>"}. */
static json_t *tenant_names(struct mc_admin *a,
			    const struct mc_queue_entry *entries, size_t n,
			    struct mc_error *err)
{
	struct mc_buf ids;
	json_t *names = json_object();

	mc_buf_init(&ids, NULL, 0);
	mc_buf_printf(&ids, "{");
	for (size_t i = 0; i < n; i++)
		mc_buf_printf(&ids, "%s%lld", i > 0 ? "," : "",
			      (long long)entries[i].tenant_id);
	mc_buf_printf(&ids, "}");
	const char *params[] = {mc_buf_cstr(&ids)};
	PGresult *res = admin_query(a,
				    "SELECT id::text, name FROM tenants WHERE "
				    "id = ANY($1::bigint[])",
				    1, params, err);
	mc_buf_free(&ids);
	if (res == NULL) {
		json_decref(names);
		return NULL;
	}
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(names, PQgetvalue(res, i, 0),
				    json_string(PQgetvalue(res, i, 1)));
	PQclear(res);
	return names;
}

/* The name of tenant id from names, or NULL. */
static const char *name_of(const json_t *names, int64_t id)
{
	char key[24];

	return json_string_value(
		json_object_get(names, admin_id_text(id, key)));
}

/* queue.list, .list_tenant, .list_domain ------------------------------- */

static const struct admin_sort queue_sorts[] = {
	{"queue_id", "queue_id"},
	{NULL, NULL},
};

enum list_kind { LIST_ALL, LIST_TENANT, LIST_DOMAIN };

struct list_ctx {
	const struct mc_admin_call *call;
	enum list_kind kind;
	struct admin_list l;
	unsigned min_age;
	struct qscope s;
	json_t *out;
};

/* The filters tenant and domain (found in the actor's subtree). */
static int filter_places(struct mc_admin *a, struct list_ctx *c,
			 struct mc_error *err)
{
	const char *tenant = admin_filter(&c->l, "tenant");
	const char *domain = admin_filter(&c->l, "domain");
	struct admin_place p;

	if (tenant != NULL) {
		if (admin_find_tenant(a, tenant, &p, err) < 0)
			return -1;
		scope_tenant(&c->s, p.tenant_id);
	}
	if (domain != NULL) {
		if (admin_find_domain(a, domain, &p, err) < 0)
			return -1;
		if (tenant != NULL && c->s.tenants[0] != p.tenant_id) {
			mc_error_set(err, MC_ERR_NOTFOUND, "no domain %s in %s",
				     domain, tenant);
			return -1;
		}
		scope_tenant(&c->s, p.tenant_id);
		scope_domain(&c->s, p.domain);
	}
	return 0;
}

/* The scope of the list's path parameter (a tenant or a domain). */
static int path_scope(struct mc_admin *a, struct list_ctx *c,
		      struct mc_error *err)
{
	struct admin_place p;
	const char *name = admin_arg(c->call, 0);
	int r = c->kind == LIST_TENANT ? admin_find_tenant(a, name, &p, err)
				       : admin_find_domain(a, name, &p, err);

	if (r < 0 || admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0 ||
	    admin_require_inside(a, &p, WHAT, err) < 0)
		return -1;
	scope_tenant(&c->s, p.tenant_id);
	if (c->kind == LIST_DOMAIN)
		scope_domain(&c->s, p.domain);
	return 0;
}

/* The page of entries (limit + 1 fetched) as {"items", "next_cursor"}. */
static json_t *list_page(struct mc_admin *a, const struct list_ctx *c,
			 const struct mc_queue_entry *entries, size_t n,
			 struct mc_error *err)
{
	size_t keep = n > c->l.limit ? c->l.limit : n;
	json_t *names = tenant_names(a, entries, keep, err);

	if (names == NULL)
		return NULL;
	json_t *items = json_array();
	for (size_t i = 0; i < keep; i++)
		json_array_append_new(
			items,
			entry_json(&entries[i],
				   name_of(names, entries[i].tenant_id)));
	json_decref(names);
	return admin_page(&c->l, items, n > keep,
			  keep > 0 ? entries[keep - 1].queue_id : NULL, 0);
}

/* Transaction body of the queue lists. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	const struct mc_queue_entry *entries = NULL;
	size_t n = 0;

	if (scope_actor(a, &c->s, err) < 0)
		return -1;
	if ((c->kind == LIST_ALL ? filter_places(a, c, err)
				 : path_scope(a, c, err)) < 0)
		return -1;
	if (c->s.none)
		return admin_out(&c->out, admin_page(&c->l, json_array(), false,
						     NULL, 0));
	c->s.f.sender = admin_filter(&c->l, "sender");
	c->s.f.recipient = admin_filter(&c->l, "recipient");
	c->s.f.recipient_domain = admin_filter(&c->l, "recipient_domain");
	c->s.f.state = admin_filter(&c->l, "state");
	c->s.f.min_age_s = c->min_age;
	c->s.f.after = c->l.after ? c->l.after_value : NULL;
	c->s.f.limit = c->l.limit + 1;
	struct mc_pool *pool = mc_pool_create("queue-list", 16384);
	int r = mc_queue_list(a->pg, pool, &c->s.f, &entries, &n, err);
	if (r == 0)
		r = admin_out(&c->out, list_page(a, c, entries, n, err));
	mc_pool_destroy(&pool);
	return r;
}

/* The filters that need checking: state and older_than; no descending
 * order (the queue lists by queue id). */
static int list_check(struct mc_admin *a, struct list_ctx *c,
		      struct mc_error *err)
{
	static const char *const states[] = {"queued", "deferred", "held",
					     "failed", NULL};
	const char *state = admin_filter(&c->l, "state");
	const char *age = admin_filter(&c->l, "older_than");
	int64_t v;
	size_t i = 0;

	while (state != NULL && states[i] != NULL && strcmp(states[i], state))
		i++;
	if (state != NULL && states[i] == NULL) {
		admin_field_error(a, err, "state",
				  "must be queued, deferred, held or failed");
		return -1;
	}
	if (age != NULL && (!mc_str_to_i64(age, &v) || v < 0 || v > 1 << 30)) {
		admin_field_error(a, err, "older_than",
				  "must be a number of seconds");
		return -1;
	}
	c->min_age = age != NULL ? (unsigned)v : 0;
	if (c->l.desc) {
		admin_field_error(a, err, "sort",
				  "the queue lists by queue_id");
		return -1;
	}
	return 0;
}

/* The three lists. */
static int list_run(struct mc_admin *a, const struct mc_admin_call *call,
		    enum list_kind kind, json_t **out_r, struct mc_error *err)
{
	struct list_ctx c = {.call = call, .kind = kind};
	int r;

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, queue_sorts, &c.l, err) < 0 ||
	    list_check(a, &c, err) < 0)
		return -1;
	r = admin_run(a, list_txn, &c, &c.out, out_r, err);
	scope_free(&c.s);
	return r;
}

ADMIN_OP(admin_queue_list)
{
	return list_run(a, call, LIST_ALL, out_r, err);
}

ADMIN_OP(admin_queue_list_tenant)
{
	return list_run(a, call, LIST_TENANT, out_r, err);
}

ADMIN_OP(admin_queue_list_domain)
{
	return list_run(a, call, LIST_DOMAIN, out_r, err);
}

/* queue.show and the actions ----------------------------------------- */

enum entry_op { OP_SHOW, OP_HOLD, OP_RELEASE, OP_RETRY, OP_DELETE };

struct entry_ctx {
	const struct mc_admin_call *call;
	enum entry_op op;
	const char *reason; /* hold: held_reason */
	bool bounce;	    /* delete: with DSNs */
	struct qscope s;
	json_t *out;
};

/* A queue id as mc-smtpd makes them (letters, digits, '.', '-', '_'). */
static bool queue_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= QUEUE_ID_MAX &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789.-_") == n;
}

/* Looks the entry up in the scope: 0, -1 NOTFOUND / TEMPORARY. */
static int entry_find(struct mc_admin *a, struct entry_ctx *c,
		      struct mc_pool *pool, struct mc_queue_entry *e,
		      struct mc_error *err)
{
	const char *id = admin_arg(c->call, 0);
	int r = c->s.none ? 0 : mc_queue_show(a->pg, pool, &c->s.f, id, e, err);

	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no queue entry %s", id);
	return r > 0 ? 0 : -1;
}

/* Where the entry's audit record goes: its tenant, and the sender's
 * domain when it is one of that tenant's. */
static int entry_place(struct mc_admin *a, const struct mc_queue_entry *e,
		       struct admin_place *p, struct mc_error *err)
{
	char tid[24];
	const char *at = strrchr(e->sender, '@');
	const char *params[] = {admin_id_text(e->tenant_id, tid),
				at != NULL ? at + 1 : ""};
	PGresult *res = admin_query(
		a,
		"SELECT t.reseller_path::text, t.name, d.id, d.name FROM "
		"tenants t LEFT JOIN domains d ON d.tenant_id = t.id AND "
		"d.name = lower($2) AND d.alias_for IS NULL WHERE t.id = $1",
		2, params, err);

	memset(p, 0, sizeof(*p));
	if (res == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		p->level = ADMIN_AT_TENANT;
		p->tenant_id = e->tenant_id;
		p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 0),
						p->resellers, ADMIN_PATH_MAX);
		snprintf(p->tenant, sizeof(p->tenant), "%s",
			 PQgetvalue(res, 0, 1));
	}
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 2)) {
		p->level = ADMIN_AT_DOMAIN;
		p->domain_id = admin_col_i64(res, 0, 2);
		snprintf(p->domain, sizeof(p->domain), "%s",
			 PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return 0;
}

/* The action of op with its audit name and changes. */
static enum mc_queue_action
entry_action(const struct entry_ctx *c, const char **name_r, json_t **changes_r)
{
	switch (c->op) {
	case OP_HOLD:
		*name_r = "queue.hold";
		*changes_r = json_pack("{s:s,s:o}", "state", "held", "reason",
				       str_json(c->reason));
		return MC_QUEUE_HOLD;
	case OP_RELEASE:
		*name_r = "queue.release";
		*changes_r = json_pack("{s:s}", "state", "queued");
		return MC_QUEUE_UNHOLD;
	case OP_RETRY:
		*name_r = "queue.retry";
		*changes_r = json_pack("{s:b}", "retry", 1);
		return MC_QUEUE_RETRY;
	default:
		*name_r = "queue.delete";
		*changes_r = json_pack("{s:b}", "bounce", c->bounce);
		return c->bounce ? MC_QUEUE_DELETE_DSN : MC_QUEUE_DELETE;
	}
}

/* Applies the action to entry e, writes its audit record. */
static int entry_act(struct mc_admin *a, struct entry_ctx *c,
		     const struct mc_queue_entry *e, struct mc_error *err)
{
	struct admin_place p;
	const char *name;
	json_t *changes;
	char target[QUEUE_ID_MAX + 16];
	enum mc_queue_action act = entry_action(c, &name, &changes);

	if (entry_place(a, e, &p, err) < 0) {
		json_decref(changes);
		return -1;
	}
	int r = mc_queue_act(a->pg, &c->s.f, e->queue_id, act,
			     c->op == OP_HOLD ? c->reason : NULL, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no queue entry %s",
			     e->queue_id);
	if (r <= 0) {
		json_decref(changes);
		return -1;
	}
	snprintf(target, sizeof(target), "queue %s", e->queue_id);
	return admin_audit_new(a, &p, name, target, changes, err);
}

/* The entry as it is now, with its tenant's name, into c->out. */
static int entry_output(struct mc_admin *a, struct entry_ctx *c,
			struct mc_pool *pool, struct mc_error *err)
{
	struct mc_queue_entry e;

	if (entry_find(a, c, pool, &e, err) < 0)
		return -1;
	json_t *names = tenant_names(a, &e, 1, err);
	if (names == NULL)
		return -1;
	c->out = entry_json(&e, name_of(names, e.tenant_id));
	json_decref(names);
	return 0;
}

/* One attempt at the entry operation, with its pool. */
static int entry_body(struct mc_admin *a, struct entry_ctx *c,
		      struct mc_pool *pool, struct mc_error *err)
{
	struct mc_queue_entry e;

	if (scope_actor(a, &c->s, err) < 0)
		return -1;
	if (c->op == OP_SHOW)
		return entry_output(a, c, pool, err);
	if (entry_find(a, c, pool, &e, err) < 0 || entry_act(a, c, &e, err) < 0)
		return -1;
	if (c->op == OP_DELETE)
		return 0;
	return entry_output(a, c, pool, err);
}

/* Transaction body of queue.show and the actions. */
static int entry_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct entry_ctx *c = ctx;
	struct mc_pool *pool = mc_pool_create("queue-entry", 4096);
	int r = entry_body(a, c, pool, err);

	mc_pool_destroy(&pool);
	return r;
}

/* Runs op on the entry named by the path. */
static int entry_run(struct mc_admin *a, struct entry_ctx *c, json_t **out_r,
		     struct mc_error *err)
{
	int r;

	if (!queue_id_ok(admin_arg(c->call, 0))) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no queue entry %s",
			     admin_arg(c->call, 0));
		return -1;
	}
	r = admin_run(a, entry_txn, c, &c->out, out_r, err);
	scope_free(&c->s);
	return r;
}

ADMIN_OP(admin_queue_show)
{
	struct entry_ctx c = {.call = call, .op = OP_SHOW};

	admin_op_begin(a, out_r);
	return entry_run(a, &c, out_r, err);
}

/* The actions without a body: release, retry. */
static int plain_action(struct mc_admin *a, const struct mc_admin_call *call,
			enum entry_op op, json_t **out_r, struct mc_error *err)
{
	static const char *const allowed[] = {NULL};
	struct entry_ctx c = {.call = call, .op = op};

	admin_op_begin(a, out_r);
	if (admin_body_check(a, call->body, allowed, false, err) < 0)
		return -1;
	return entry_run(a, &c, out_r, err);
}

ADMIN_OP(admin_queue_hold)
{
	static const char *const allowed[] = {"reason", NULL};
	struct entry_ctx c = {.call = call, .op = OP_HOLD};

	admin_op_begin(a, out_r);
	if (admin_body_check(a, call->body, allowed, false, err) < 0 ||
	    admin_get_string(a, call->body, "reason", 500, false, false,
			     &c.reason, err) < 0)
		return -1;
	return entry_run(a, &c, out_r, err);
}

ADMIN_OP(admin_queue_release)
{
	return plain_action(a, call, OP_RELEASE, out_r, err);
}

ADMIN_OP(admin_queue_retry)
{
	return plain_action(a, call, OP_RETRY, out_r, err);
}

/* bounce from the query (?bounce=true|false) or the body {"bounce"}. */
static int parse_bounce(struct mc_admin *a, const struct mc_admin_call *call,
			bool *bounce_r, struct mc_error *err)
{
	static const char *const allowed[] = {"bounce", NULL};
	const json_t *f = call->list != NULL ? call->list->filters : NULL;
	const char *q = json_string_value(json_object_get(f, "bounce"));

	*bounce_r = false;
	if (admin_body_check(a, call->body, allowed, false, err) < 0 ||
	    admin_get_bool(a, call->body, "bounce", false, bounce_r, err) < 0)
		return -1;
	if (q == NULL)
		return 0;
	if (strcmp(q, "true") == 0 || strcmp(q, "1") == 0)
		*bounce_r = true;
	else if (strcmp(q, "false") == 0 || strcmp(q, "0") == 0)
		*bounce_r = false;
	else {
		admin_field_error(a, err, "bounce", "must be true or false");
		return -1;
	}
	return 0;
}

ADMIN_OP(admin_queue_delete)
{
	struct entry_ctx c = {.call = call, .op = OP_DELETE};

	admin_op_begin(a, out_r);
	if (parse_bounce(a, call, &c.bounce, err) < 0)
		return -1;
	return entry_run(a, &c, out_r, err);
}
