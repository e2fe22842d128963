/* mc-admin-dkim: a domain's DKIM keys (dkim.list/.create/.delete: create
 * rotates, the previous active key of the algorithm retires in the same
 * transaction) and the DNS records the domain should publish
 * (dns.records). Private keys never leave the database row: not in
 * outputs, audit records or logs. Domain admins and above only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-dkim-keys.h"
#include "mailcore/mc-dns-records.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

/* Second keys of a month get "-2", "-3", ... up to this many tries. */
#define SELECTOR_TRIES 100

#define KEY_COLS                                                               \
	"k.id, k.selector, k.algorithm, k.public_key, k.status, " ADMIN_TS(    \
		"k.created_at") ", CASE WHEN k.retired_at IS NOT NULL "        \
				"THEN " ADMIN_TS("k.retired_at") " END"

/* The domain, found in the actor's subtree, the role at least domain
 * admin (what: for the denial); its ids as text into tid, did. */
static int open_domain(struct mc_admin *a, const char *name, const char *what,
		       struct admin_place *p, char *tid, char *did,
		       struct mc_error *err)
{
	if (admin_find_domain(a, name, p, err) < 0 ||
	    admin_require(a, MC_ROLE_DOMAIN, what, err) < 0 ||
	    admin_require_inside(a, p, what, err) < 0)
		return -1;
	snprintf(tid, 24, "%lld", (long long)p->tenant_id);
	snprintf(did, 24, "%lld", (long long)p->domain_id);
	return 0;
}

/* A key row (KEY_COLS) as its JSON shape; the DNS name and value are
 * derived from the selector and public key. */
static json_t *key_json(const PGresult *res, int row, const void *arg)
{
	const char *domain = arg;
	enum mc_dkim_algorithm alg = MC_DKIM_RSA_2048;
	const char *alg_name = PQgetvalue(res, row, 2);
	struct mc_error e = {0};
	char *name, *value;

	(void)mc_dkim_keys_algorithm_parse(alg_name, &alg, &e);
	name = mc_dkim_keys_dns_name(PQgetvalue(res, row, 1), domain, &e);
	value = mc_dkim_keys_txt_value(alg, PQgetvalue(res, row, 3), &e);
	json_t *out = json_pack(
		"{sssssssosossso}", "selector", PQgetvalue(res, row, 1),
		"algorithm", alg_name, "status", PQgetvalue(res, row, 4),
		"dns_name", name != NULL ? json_string(name) : json_null(),
		"dns_value", value != NULL ? json_string(value) : json_null(),
		"created_at", PQgetvalue(res, row, 5), "retired_at",
		PQgetisnull(res, row, 6)
			? json_null()
			: json_string(PQgetvalue(res, row, 6)));
	free(name);
	free(value);
	return out;
}

/* dkim.create ------------------------------------------------------------ */

struct create_ctx {
	const struct mc_admin_call *call;
	enum mc_dkim_algorithm alg;
	const char *selector; /* NULL: generated */
	char *private_pem;    /* secret: wiped after the transaction */
	char *public_b64;
	char chosen[MC_DKIM_SELECTOR_MAX + 1];
	json_t *out;
};

/* The body {algorithm?, selector?}. */
static int parse_create(struct mc_admin *a, const json_t *body,
			struct create_ctx *c, struct mc_error *err)
{
	static const char *const allowed[] = {"algorithm", "selector", NULL};
	const char *alg = "rsa-2048";
	struct mc_error e = {0};

	if (admin_body_check(a, body, allowed, false, err) < 0 ||
	    admin_get_string(a, body, "algorithm", 16, false, false, &alg,
			     err) < 0 ||
	    admin_get_string(a, body, "selector", MC_DKIM_SELECTOR_MAX, false,
			     false, &c->selector, err) < 0)
		return -1;
	if (mc_dkim_keys_algorithm_parse(alg, &c->alg, &e) < 0) {
		admin_field_error(a, err, "algorithm",
				  "must be rsa-2048 or ed25519");
		return -1;
	}
	if (c->selector != NULL && !mc_dkim_keys_valid_selector(c->selector)) {
		admin_field_error(a, err, "selector",
				  "must be one DNS label of lower-case "
				  "letters, digits and '-'");
		return -1;
	}
	return 0;
}

/* Is selector taken in the domain? 1 yes, 0 no, -1 error. */
static int selector_taken(struct mc_admin *a, const char *tid, const char *did,
			  const char *selector, struct mc_error *err)
{
	const char *params[] = {tid, did, selector};
	PGresult *res = admin_query(a,
				    "SELECT 1 FROM dkim_keys WHERE tenant_id "
				    "= $1 AND domain_id = $2 AND selector = $3",
				    3, params, err);

	if (res == NULL)
		return -1;
	int taken = PQntuples(res) > 0;
	PQclear(res);
	return taken;
}

/* The selector of the new key into c->chosen: the given one (EXISTS when
 * taken) or the first free generated one. */
static int choose_selector(struct mc_admin *a, struct create_ctx *c,
			   const char *tid, const char *did,
			   struct mc_error *err)
{
	int r;

	if (c->selector != NULL) {
		snprintf(c->chosen, sizeof(c->chosen), "%s", c->selector);
		r = selector_taken(a, tid, did, c->chosen, err);
		if (r > 0)
			mc_error_set(err, MC_ERR_EXISTS,
				     "a DKIM key with selector %s already "
				     "exists",
				     c->chosen);
		return r == 0 ? 0 : -1;
	}
	for (unsigned seq = 0; seq < SELECTOR_TRIES; seq++) {
		mc_dkim_keys_selector(c->alg, time(NULL), seq, c->chosen,
				      sizeof(c->chosen));
		r = selector_taken(a, tid, did, c->chosen, err);
		if (r <= 0)
			return r;
	}
	mc_error_set(err, MC_ERR_EXISTS,
		     "no free selector this month: give one");
	return -1;
}

/* Retires the active key of the algorithm, then inserts the new one. */
static PGresult *rotate(struct mc_admin *a, const struct create_ctx *c,
			const char *tid, const char *did, struct mc_error *err)
{
	const char *alg = mc_dkim_keys_algorithm_name(c->alg);
	const char *params[] = {
		tid, did, alg, c->chosen, c->private_pem, c->public_b64};

	if (admin_exec(a,
		       "UPDATE dkim_keys SET status = 'retired', retired_at = "
		       "now() WHERE tenant_id = $1 AND domain_id = $2 AND "
		       "algorithm = $3 AND status = 'active'",
		       3, params, err) < 0)
		return NULL;
	return admin_query(a,
			   "INSERT INTO dkim_keys AS k (tenant_id, domain_id, "
			   "algorithm, selector, private_key, public_key) "
			   "VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6) "
			   "RETURNING " KEY_COLS,
			   6, params, err);
}

/* Transaction body of dkim.create. */
static int create_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct create_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_DOMAIN_MAX + 80];
	const char *params[] = {tid, did};

	if (open_domain(a, admin_arg(c->call, 0), "manage DKIM keys", &p, tid,
			did, err) < 0)
		return -1;
	/* generated once the role is known to be allowed, and kept when the
	 * transaction runs again */
	if (c->private_pem == NULL &&
	    mc_dkim_keys_generate(c->alg, &c->private_pem, &c->public_b64,
				  err) < 0)
		return -1;
	/* one rotation at a time per domain */
	if (admin_exec(a,
		       "SELECT 1 FROM domains WHERE tenant_id = $1 AND id = $2 "
		       "FOR UPDATE",
		       2, params, err) < 0 ||
	    choose_selector(a, c, tid, did, err) < 0)
		return -1;
	PGresult *res = rotate(a, c, tid, did, err);
	if (res == NULL)
		return -1;
	c->out = key_json(res, 0, p.domain);
	PQclear(res);
	json_t *changes =
		json_pack("{ssss}", "selector", c->chosen, "algorithm",
			  mc_dkim_keys_algorithm_name(c->alg));
	snprintf(target, sizeof(target), "%s dkim %s", p.domain, c->chosen);
	a->dirty = true;
	int r = admin_audit(a, &p, "dkim.create", target, changes, err);
	json_decref(changes);
	return r;
}

ADMIN_OP(admin_dkim_create)
{
	struct create_ctx c = {.call = call};
	int r;

	*out_r = NULL;
	if (parse_create(a, call->body, &c, err) < 0)
		return -1;
	r = admin_run(a, create_txn, &c, &c.out, out_r, err);
	mc_dkim_keys_free_secret(&c.private_pem);
	free(c.public_b64);
	return r;
}

/* dkim.delete ------------------------------------------------------------ */

/* Transaction body of dkim.delete: only retired keys go. */
static int delete_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	const struct mc_admin_call *call = ctx;
	struct admin_place p;
	char tid[24], did[24], target[MC_DOMAIN_MAX + 80];
	const char *sel = admin_arg(call, 1);
	const char *params[] = {tid, did, sel};

	if (open_domain(a, admin_arg(call, 0), "manage DKIM keys", &p, tid, did,
			err) < 0)
		return -1;
	PGresult *res = admin_query(a,
				    "SELECT status FROM dkim_keys WHERE "
				    "tenant_id = $1 AND domain_id = $2 AND "
				    "selector = $3 FOR UPDATE",
				    3, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	bool active = found && strcmp(PQgetvalue(res, 0, 0), "active") == 0;
	PQclear(res);
	if (!found)
		mc_error_set(err, MC_ERR_NOTFOUND, "no DKIM key %s in %s", sel,
			     p.domain);
	else if (active)
		mc_error_set(err, MC_ERR_EXISTS,
			     "DKIM key %s is the active key: rotate first "
			     "(create a new key), then delete the retired one",
			     sel);
	if (!found || active)
		return -1;
	if (admin_exec(a,
		       "DELETE FROM dkim_keys WHERE tenant_id = $1 AND "
		       "domain_id = $2 AND selector = $3",
		       3, params, err) < 0)
		return -1;
	snprintf(target, sizeof(target), "%s dkim %s", p.domain, sel);
	a->dirty = true;
	return admin_audit(a, &p, "dkim.delete", target, NULL, err);
}

ADMIN_OP(admin_dkim_delete)
{
	*out_r = NULL;
	if (strlen(admin_arg(call, 1)) > MC_DKIM_SELECTOR_MAX) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no DKIM key %s",
			     admin_arg(call, 1));
		return -1;
	}
	return admin_txn(a, delete_txn, (void *)call, err);
}

/* dkim.list -------------------------------------------------------------- */

static const struct admin_sort key_sorts[] = {
	{"created_at", "k.created_at"},
	{"selector", "k.selector"},
	{NULL, NULL},
};

struct list_ctx {
	const struct mc_admin_call *call;
	struct admin_list l;
	json_t *out;
};

/* The WHERE additions of the filters status and algorithm. */
static void key_filters(const struct admin_list *l, struct mc_buf *sql,
			const char **params, int *n)
{
	const char *status = admin_filter(l, "status");
	const char *alg = admin_filter(l, "algorithm");

	admin_where(sql, params, n, status, " AND k.status = $?");
	admin_where(sql, params, n, alg, " AND k.algorithm = $?");
}

/* Transaction body of dkim.list. */
static int list_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct list_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[8] = {tid, did};
	int n = 2;
	struct mc_buf sql;

	if (open_domain(a, admin_arg(c->call, 0), "manage DKIM keys", &p, tid,
			did, err) < 0)
		return -1;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_printf(&sql,
		      "SELECT " KEY_COLS ", %s::text, k.id FROM dkim_keys k "
		      "WHERE k.tenant_id = $1 AND k.domain_id = $2",
		      c->l.sort->expr);
	key_filters(&c->l, &sql, params, &n);
	PGresult *res =
		admin_list_fetch(a, &c->l, &sql, "k.id", params, n, err);
	if (res == NULL)
		return -1;
	c->out = admin_page_rows(&c->l, res, 7, 8, key_json, p.domain);
	PQclear(res);
	return 0;
}

ADMIN_OP(admin_dkim_list)
{
	struct list_ctx c = {.call = call};
	int r;

	*out_r = NULL;
	if (admin_list_parse(a, call, key_sorts, &c.l, err) < 0)
		return -1;
	r = admin_run(a, list_txn, &c, &c.out, out_r, err);
	return r;
}

/* dns.records ------------------------------------------------------------ */

struct dns_ctx {
	const struct mc_admin_call *call;
	char domain[MC_DOMAIN_MAX + 1];
	PGresult *keys; /* selector, algorithm, public_key */
};

/* Transaction body of dns.records: the domain's published keys, active
 * first. */
static int dns_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct dns_ctx *c = ctx;
	struct admin_place p;
	char tid[24], did[24];
	const char *params[] = {tid, did};

	PQclear(c->keys);
	c->keys = NULL;
	if (open_domain(a, admin_arg(c->call, 0), "read DNS records", &p, tid,
			did, err) < 0)
		return -1;
	snprintf(c->domain, sizeof(c->domain), "%s", p.domain);
	c->keys = admin_query(a,
			      "SELECT selector, algorithm, public_key FROM "
			      "dkim_keys WHERE tenant_id = $1 AND domain_id = "
			      "$2 ORDER BY status = 'active' DESC, algorithm, "
			      "created_at, id",
			      2, params, err);
	return c->keys != NULL ? 0 : -1;
}

/* The DNS settings: from [dns] and [server] when there is a
 * configuration, else the defaults for a placeholder host name (the dns
 * module wants a name of two labels at least). */
static int dns_settings(const struct mc_admin *a, struct mc_pool *pool,
			struct mc_dns_settings *set, struct mc_error *err)
{
	memset(set, 0, sizeof(*set));
	if (a->cfg == NULL) {
		set->hostname = "localhost.localdomain";
		return 0;
	}
	return mc_dns_settings_from_config(a->cfg, pool, set, err);
}

/* The published keys of keys (rows of dns_txn) with their TXT values
 * from pool. */
static struct mc_dns_dkim *dns_keys(struct mc_pool *pool, const PGresult *keys,
				    size_t *count_r)
{
	int rows = PQntuples(keys);
	struct mc_dns_dkim *out = mc_palloc_array(
		pool, rows > 0 ? (size_t)rows : 1, sizeof(*out));
	size_t n = 0;

	for (int i = 0; i < rows; i++) {
		enum mc_dkim_algorithm alg;
		struct mc_error e = {0};
		if (mc_dkim_keys_algorithm_parse(PQgetvalue(keys, i, 1), &alg,
						 &e) < 0)
			continue;
		char *v =
			mc_dkim_keys_txt_value(alg, PQgetvalue(keys, i, 2), &e);
		if (v == NULL)
			continue;
		out[n].selector = mc_pstrdup(pool, PQgetvalue(keys, i, 0));
		out[n++].value = mc_pstrdup(pool, v);
		free(v);
	}
	*count_r = n;
	return out;
}

ADMIN_OP(admin_dns_records)
{
	struct dns_ctx c = {.call = call};
	struct mc_pool *pool;
	struct mc_dns_settings set;
	size_t n;

	*out_r = NULL;
	if (admin_txn(a, dns_txn, &c, err) < 0) {
		PQclear(c.keys);
		return -1;
	}
	pool = mc_pool_create("dns-records", 4096);
	struct mc_dns_dkim *keys = dns_keys(pool, c.keys, &n);
	PQclear(c.keys);
	if (dns_settings(a, pool, &set, err) == 0)
		*out_r = mc_dns_records(c.domain, &set, keys, n, err);
	mc_pool_destroy(&pool);
	if (*out_r != NULL)
		return 0;
	/* the stored keys are valid: what fails is the server's settings */
	mc_error_prefix(err, "the server's DNS settings ([dns], [server])");
	if (err != NULL)
		err->cls = MC_ERR_PERMANENT;
	return -1;
}
