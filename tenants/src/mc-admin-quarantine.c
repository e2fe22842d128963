/* mc-admin-quarantine: quarantined mail through the admin model
 * (quarantine.list, .list_domain, .show, .release, .delete): mc-quarantine.h
 * scoped to the actor's subtree (provider: all; reseller: its tenants;
 * tenant admin: its tenant; domain admin: its domain; user: its own
 * items). Items outside are not found; assistants and department admins
 * are denied. Releases and deletes are audited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

#define WHAT	  "manage quarantined mail"
#define ACTOR_MAX 400

/* What the actor (or a list's path and filters) may see. */
struct qscope {
	struct mc_quarantine_scope s;
	int64_t *tenants; /* heap; s.tenants points here (or NULL: all) */
	bool none;	  /* nothing can be in scope */
};

/* Frees the scope's tenant list. */
static void scope_free(struct qscope *q)
{
	free(q->tenants);
	q->tenants = NULL;
	q->s.tenants = NULL;
	q->s.tenants_count = 0;
}

/* Limits the scope to tenant ids[0..n). */
static void scope_tenants(struct qscope *q, const int64_t *ids, size_t n)
{
	scope_free(q);
	q->tenants = mc_calloc(n > 0 ? n : 1, sizeof(*q->tenants));
	memcpy(q->tenants, ids, n * sizeof(*ids));
	q->s.tenants = q->tenants;
	q->s.tenants_count = n;
	q->none = n == 0;
}

/* The tenants of the reseller actor (under RLS) into the scope. */
static int scope_reseller(struct mc_admin *a, struct qscope *q,
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
	size_t n = (size_t)PQntuples(res);
	int64_t *ids = mc_calloc(n > 0 ? n : 1, sizeof(*ids));
	for (size_t i = 0; i < n; i++)
		ids[i] = admin_col_i64(res, (int)i, 0);
	PQclear(res);
	scope_tenants(q, ids, n);
	free(ids);
	return 0;
}

/* The actor's own scope (in the transaction). */
static int scope_actor(struct mc_admin *a, struct qscope *q,
		       struct mc_error *err)
{
	const struct mc_actor *ac = &a->actor;

	memset(&q->s, 0, sizeof(q->s));
	scope_free(q);
	q->none = false;
	if (ac->role == MC_ROLE_USER) {
		/* the anonymous actor owns no user: it finds nothing */
		scope_tenants(q, &ac->tenant_id, 1);
		q->s.user_id = ac->user_id;
		q->none = ac->user_id == 0;
		return 0;
	}
	if (admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0)
		return -1;
	if (ac->role == MC_ROLE_RESELLER)
		return scope_reseller(a, q, err);
	if (ac->role != MC_ROLE_PROVIDER)
		scope_tenants(q, &ac->tenant_id, 1);
	if (ac->role == MC_ROLE_DOMAIN)
		q->s.domain_id = ac->domain_id;
	return 0;
}

/* Narrows the scope to the domain at p (found in the actor's subtree). */
static void scope_domain(struct qscope *q, const struct admin_place *p)
{
	scope_tenants(q, &p->tenant_id, 1);
	q->s.domain_id = p->domain_id;
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

/* A string or null (also for bad UTF-8). */
static json_t *str_json(const char *s)
{
	json_t *v = s != NULL ? json_string(s) : NULL;
	return v != NULL ? v : json_null();
}

/* The names of the domains (and their tenants) of items:
 * {"<domain id>": ["<domain>", "<tenant>"]}. */
static json_t *place_names(struct mc_admin *a,
			   const struct mc_quarantine_item *items, size_t n,
			   struct mc_error *err)
{
	struct mc_buf ids;
	json_t *names = json_object();

	mc_buf_init(&ids, NULL, 0);
	mc_buf_printf(&ids, "{");
	for (size_t i = 0; i < n; i++)
		mc_buf_printf(&ids, "%s%lld", i > 0 ? "," : "",
			      (long long)items[i].domain_id);
	mc_buf_printf(&ids, "}");
	const char *params[] = {mc_buf_cstr(&ids)};
	PGresult *res = admin_query(
		a,
		"SELECT d.id::text, d.name, t.name FROM domains d JOIN "
		"tenants t ON t.id = d.tenant_id WHERE d.id = "
		"ANY($1::bigint[])",
		1, params, err);
	mc_buf_free(&ids);
	if (res == NULL) {
		json_decref(names);
		return NULL;
	}
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(names, PQgetvalue(res, i, 0),
				    json_pack("[ss]", PQgetvalue(res, i, 1),
					      PQgetvalue(res, i, 2)));
	PQclear(res);
	return names;
}

/* Name k (0 domain, 1 tenant) of the item's domain from names. */
static json_t *name_of(const json_t *names, int64_t domain_id, size_t k)
{
	char key[24];
	const json_t *pair =
		json_object_get(names, admin_id_text(domain_id, key));

	return str_json(json_string_value(json_array_get(pair, k)));
}

/* One item as its JSON shape (QuarantineItem). */
static json_t *item_json(const struct mc_quarantine_item *it,
			 const json_t *names)
{
	json_t *o = json_pack(
		"{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:s}", "id",
		(json_int_t)it->id, "tenant", name_of(names, it->domain_id, 1),
		"domain", name_of(names, it->domain_id, 0), "recipient",
		str_json(it->recipient), "sender", str_json(it->sender),
		"subject", str_json(it->subject), "reason",
		str_json(it->reason), "category", str_json(it->category),
		"size_bytes", (json_int_t)it->size, "state",
		it->released_at != 0 ? "released" : "held");

	json_object_set_new(o, "created_at", time_json(it->created_at));
	json_object_set_new(o, "expires_at", time_json(it->expires_at));
	json_object_set_new(o, "released_at", time_json(it->released_at));
	json_object_set_new(o, "released_by", str_json(it->released_by));
	json_object_set_new(o, "digest_sent_at", time_json(it->digest_sent_at));
	json_object_set_new(o, "version", json_integer(1));
	return o;
}

/* quarantine.list, .list_domain ---------------------------------------- */

static const struct admin_sort quarantine_sorts[] = {
	{"id", "q.id"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	bool of_domain;
	struct admin_list l;
	struct qscope q;
	json_t *out;
};

/* The filters tenant and domain (found in the actor's subtree). */
static int filter_places(struct mc_admin *a, struct list_ctx *c,
			 struct mc_error *err)
{
	const char *tenant = admin_filter(&c->l, "tenant");
	const char *domain = admin_filter(&c->l, "domain");
	struct admin_place p;
	int64_t tid = 0;

	if (tenant != NULL) {
		if (admin_find_tenant(a, tenant, &p, err) < 0)
			return -1;
		tid = p.tenant_id;
		scope_tenants(&c->q, &tid, 1);
	}
	if (domain == NULL)
		return 0;
	if (admin_find_domain(a, domain, &p, err) < 0)
		return -1;
	if (tenant != NULL && tid != p.tenant_id) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain %s in %s", domain,
			     tenant);
		return -1;
	}
	scope_domain(&c->q, &p);
	return 0;
}

/* The scope of list_domain's path parameter. */
static int path_scope(struct mc_admin *a, struct list_ctx *c,
		      struct mc_error *err)
{
	struct admin_place p;

	if (admin_find_domain(a, admin_arg(c->call, 0), &p, err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, WHAT, err) < 0 ||
	    admin_require_inside(a, &p, WHAT, err) < 0)
		return -1;
	scope_domain(&c->q, &p);
	return 0;
}

/* The page of items (limit + 1 fetched) as {"items", "next_cursor"}. */
static json_t *list_page(struct mc_admin *a, const struct list_ctx *c,
			 const struct mc_quarantine_item *items, size_t n,
			 struct mc_error *err)
{
	size_t keep = n > c->l.limit ? c->l.limit : n;
	json_t *names = place_names(a, items, keep, err);
	char last[24];

	if (names == NULL)
		return NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < keep; i++)
		json_array_append_new(arr, item_json(&items[i], names));
	json_decref(names);
	if (keep > 0)
		admin_id_text(items[keep - 1].id, last);
	return admin_page(&c->l, arr, n > keep, keep > 0 ? last : NULL,
			  keep > 0 ? items[keep - 1].id : 0);
}

/* Transaction body of the lists. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	const struct mc_quarantine_item *items = NULL;
	size_t n = 0;

	if (scope_actor(a, &c->q, err) < 0 ||
	    (c->of_domain ? path_scope(a, c, err) : filter_places(a, c, err)) <
		    0)
		return -1;
	if (c->q.none)
		return admin_out(&c->out, admin_page(&c->l, json_array(), false,
						     NULL, 0));
	struct mc_quarantine_filter f = {
		.state = admin_filter(&c->l, "state"),
		.category = admin_filter(&c->l, "category"),
		.sender = admin_filter(&c->l, "sender"),
		.recipient = admin_filter(&c->l, "recipient"),
		.text = admin_filter(&c->l, "q"),
		.after = c->l.after ? c->l.after_id : 0,
		.limit = c->l.limit + 1,
	};
	struct mc_pool *pool = mc_pool_create("quarantine-list", 16384);
	int r = mc_quarantine_list(a->pg, pool, &c->q.s, &f, &items, &n, err);
	if (r == 0)
		r = admin_out(&c->out, list_page(a, c, items, n, err));
	mc_pool_destroy(&pool);
	return r;
}

/* The filters that need checking: state, category; newest first only. */
static int list_check(struct mc_admin *a, struct list_ctx *c,
		      struct mc_error *err)
{
	const char *state = admin_filter(&c->l, "state");
	const char *cat = admin_filter(&c->l, "category");
	enum mc_quarantine_category k;

	if (state != NULL && strcmp(state, "held") != 0 &&
	    strcmp(state, "released") != 0) {
		admin_field_error(a, err, "state", "must be held or released");
		return -1;
	}
	if (cat != NULL && !mc_quarantine_category_parse(cat, &k)) {
		admin_field_error(a, err, "category",
				  "must be virus, spam, policy or dmarc");
		return -1;
	}
	if (c->l.desc) {
		admin_field_error(a, err, "sort",
				  "the quarantine lists newest first");
		return -1;
	}
	return 0;
}

/* Both lists. */
static int list_run(struct mc_admin *a, const struct mc_admin_call *call,
		    bool of_domain, json_t **out_r, struct mc_error *err)
{
	struct list_ctx c = {.call = call, .of_domain = of_domain};
	int r;

	admin_op_begin(a, out_r);
	if (admin_list_parse(a, call, quarantine_sorts, &c.l, err) < 0 ||
	    list_check(a, &c, err) < 0)
		return -1;
	r = admin_run(a, list_txn, &c, &c.out, out_r, err);
	scope_free(&c.q);
	return r;
}

ADMIN_OP(admin_quarantine_list)
{
	return list_run(a, call, false, out_r, err);
}

ADMIN_OP(admin_quarantine_list_domain)
{
	return list_run(a, call, true, out_r, err);
}

/* quarantine.show, .release, .delete ----------------------------------- */

enum item_op { OP_SHOW, OP_RELEASE, OP_DELETE };

struct item_ctx {
	const struct mc_admin_call *call;
	enum item_op op;
	int64_t id;
	struct qscope q;
	json_t *out;
};

/* Looks the item up in the scope: 0, -1 NOTFOUND / TEMPORARY. */
static int item_find(struct mc_admin *a, struct item_ctx *c,
		     struct mc_pool *pool, struct mc_quarantine_item *it,
		     struct mc_error *err)
{
	int r = c->q.none ? 0
			  : mc_quarantine_show(a->pg, pool, &c->q.s, c->id, it,
					       err);

	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no quarantine item %lld",
			     (long long)c->id);
	return r > 0 ? 0 : -1;
}

/* The item's domain (and tenant) as the place of its audit record. */
static int item_place(struct mc_admin *a, const struct mc_quarantine_item *it,
		      struct admin_place *p, struct mc_error *err)
{
	char tid[24], did[24];
	const char *params[] = {admin_id_text(it->tenant_id, tid),
				admin_id_text(it->domain_id, did)};
	PGresult *res = admin_query(
		a,
		"SELECT t.reseller_path::text, t.name, d.name FROM domains d "
		"JOIN tenants t ON t.id = d.tenant_id WHERE d.tenant_id = $1 "
		"AND d.id = $2",
		2, params, err);

	memset(p, 0, sizeof(*p));
	if (res == NULL)
		return -1;
	p->level = ADMIN_AT_DOMAIN;
	p->tenant_id = it->tenant_id;
	p->domain_id = it->domain_id;
	if (PQntuples(res) > 0) {
		p->nresellers = admin_parse_ids(PQgetvalue(res, 0, 0),
						p->resellers, ADMIN_PATH_MAX);
		snprintf(p->tenant, sizeof(p->tenant), "%s",
			 PQgetvalue(res, 0, 1));
		snprintf(p->domain, sizeof(p->domain), "%s",
			 PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return 0;
}

/* The release by the actor; store errors as the API classes them. */
static int item_release(struct mc_admin *a, struct item_ctx *c,
			const struct mc_quarantine_item *it,
			struct mc_error *err)
{
	char actor[ACTOR_MAX + 1];

	if (it->released_at != 0) {
		mc_error_set(err, MC_ERR_EXISTS,
			     "quarantine item %lld was already released",
			     (long long)c->id);
		return -1;
	}
	snprintf(actor, sizeof(actor), "%s %s",
		 a->actor.role == MC_ROLE_USER ? "user" : "admin",
		 a->actor.name[0] != '\0' ? a->actor.name : "(unknown)");
	int r = mc_quarantine_release(a->pg, a->redis, &c->q.s, c->id, actor,
				      err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no quarantine item %lld",
			     (long long)c->id);
	if (r < 0 && err != NULL &&
	    (err->cls == MC_ERR_STALE || err->cls == MC_ERR_PERMANENT))
		err->cls = MC_ERR_EXISTS;
	return r > 0 ? 0 : -1;
}

/* Applies the action to item it and writes its audit record. */
static int item_act(struct mc_admin *a, struct item_ctx *c,
		    const struct mc_quarantine_item *it, struct mc_error *err)
{
	struct admin_place p;
	char target[48];
	int r;

	if (item_place(a, it, &p, err) < 0)
		return -1;
	if (c->op == OP_RELEASE) {
		r = item_release(a, c, it, err);
	} else {
		r = mc_quarantine_delete(a->pg, &c->q.s, c->id, err);
		if (r == 0)
			mc_error_set(err, MC_ERR_NOTFOUND,
				     "no quarantine item %lld",
				     (long long)c->id);
		r = r > 0 ? 0 : -1;
	}
	if (r < 0)
		return -1;
	snprintf(target, sizeof(target), "quarantine %lld", (long long)c->id);
	return admin_audit_new(a, &p,
			       c->op == OP_RELEASE ? "quarantine.release"
						   : "quarantine.delete",
			       target,
			       json_pack("{s:o,s:o,s:o}", "recipient",
					 str_json(it->recipient), "sender",
					 str_json(it->sender), "reason",
					 str_json(it->reason)),
			       err);
}

/* The item as it is now, with its names, into c->out. */
static int item_output(struct mc_admin *a, struct item_ctx *c,
		       struct mc_pool *pool, struct mc_error *err)
{
	struct mc_quarantine_item it;

	if (item_find(a, c, pool, &it, err) < 0)
		return -1;
	json_t *names = place_names(a, &it, 1, err);
	if (names == NULL)
		return -1;
	c->out = item_json(&it, names);
	json_decref(names);
	return 0;
}

/* One attempt at the item operation, with its pool. */
static int item_body(struct mc_admin *a, struct item_ctx *c,
		     struct mc_pool *pool, struct mc_error *err)
{
	struct mc_quarantine_item it;

	if (scope_actor(a, &c->q, err) < 0)
		return -1;
	if (c->op == OP_SHOW)
		return item_output(a, c, pool, err);
	if (item_find(a, c, pool, &it, err) < 0 || item_act(a, c, &it, err) < 0)
		return -1;
	if (c->op == OP_DELETE)
		return 0;
	return item_output(a, c, pool, err);
}

/* Transaction body of the item operations. */
static int item_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct item_ctx *c = ctx;
	struct mc_pool *pool = mc_pool_create("quarantine-item", 4096);
	int r = item_body(a, c, pool, err);

	mc_pool_destroy(&pool);
	return r;
}

/* Runs op on the item named by the path (no body allowed). */
static int item_run(struct mc_admin *a, const struct mc_admin_call *call,
		    enum item_op op, json_t **out_r, struct mc_error *err)
{
	static const char *const allowed[] = {NULL};
	struct item_ctx c = {.call = call, .op = op};
	int r;

	admin_op_begin(a, out_r);
	if (admin_body_check(a, call->body, allowed, false, err) < 0 ||
	    admin_arg_id(call, 0, "quarantine item", &c.id, err) < 0)
		return -1;
	r = admin_run(a, item_txn, &c, &c.out, out_r, err);
	scope_free(&c.q);
	return r;
}

ADMIN_OP(admin_quarantine_show)
{
	return item_run(a, call, OP_SHOW, out_r, err);
}

ADMIN_OP(admin_quarantine_release)
{
	return item_run(a, call, OP_RELEASE, out_r, err);
}

ADMIN_OP(admin_quarantine_delete)
{
	return item_run(a, call, OP_DELETE, out_r, err);
}
