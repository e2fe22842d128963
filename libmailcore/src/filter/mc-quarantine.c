/* mc-quarantine: adding items (one per recipient, each holding a
 * reference on the message row), listing and showing them within a
 * scope, deleting them and expiring them. Release is in
 * mc-quarantine-release.c, tokens and digests in their own files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mc-quarantine-private.h"

#define DEFAULT_LIMIT 100u
#define EXPIRE_BATCH  500
#define MAX_SUBJECT   1000 /* bytes, as the schema allows characters */
#define MAX_SENDER    320
#define MAX_REASON    1000

static const char *const categories[] = {
	[MC_QUARANTINE_VIRUS] = "virus",
	[MC_QUARANTINE_SPAM] = "spam",
	[MC_QUARANTINE_POLICY] = "policy",
	[MC_QUARANTINE_DMARC] = "dmarc",
};

/* The name of category c. */
const char *mc_quarantine_category_name(enum mc_quarantine_category c)
{
	if ((unsigned)c >= sizeof(categories) / sizeof(*categories))
		return NULL;
	return categories[c];
}

/* The category called name. */
bool mc_quarantine_category_parse(const char *name,
				  enum mc_quarantine_category *c_r)
{
	for (size_t i = 0;
	     name != NULL && i < sizeof(categories) / sizeof(*categories);
	     i++) {
		if (strcmp(name, categories[i]) == 0) {
			*c_r = (enum mc_quarantine_category)i;
			return true;
		}
	}
	return false;
}

/* Formats v into buf. */
const char *mc_quarantine_num(char buf[QUAR_NUM], int64_t v)
{
	snprintf(buf, QUAR_NUM, "%lld", (long long)v);
	return buf;
}

/* Column c of row r as an integer. */
int64_t mc_quarantine_col_i64(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c)
		       ? 0
		       : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* Column c of row r as a string from pool. */
const char *mc_quarantine_col_str(struct mc_pool *pool, const PGresult *res,
				  int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL
				      : mc_pstrdup(pool, PQgetvalue(res, r, c));
}

/* An id, or NULL (SQL NULL) for 0. */
static const char *opt_id(struct mc_pool *pool, int64_t v)
{
	return v == 0 ? NULL : mc_psprintf(pool, "%lld", (long long)v);
}

/* The scope as the three parameters of QUAR_SQL_SCOPE. */
void mc_quarantine_scope_params(struct mc_pool *pool,
				const struct mc_quarantine_scope *scope,
				const char *params[3])
{
	params[0] = scope->tenants == NULL
			    ? NULL
			    : mc_pg_id_array(pool, scope->tenants,
					     scope->tenants_count);
	params[1] = opt_id(pool, scope->domain_id);
	params[2] = opt_id(pool, scope->user_id);
}

/* Column c as a string that is never NULL. */
static const char *col_text(struct mc_pool *pool, const PGresult *res, int r,
			    int c)
{
	const char *s = mc_quarantine_col_str(pool, res, r, c);
	return s != NULL ? s : "";
}

/* Reads one item row. */
void mc_quarantine_fill_item(struct mc_pool *pool, const PGresult *res, int r,
			     struct mc_quarantine_item *item)
{
	*item = (struct mc_quarantine_item){
		.tenant_id = mc_quarantine_col_i64(res, r, 0),
		.id = mc_quarantine_col_i64(res, r, 1),
		.user_id = mc_quarantine_col_i64(res, r, 2),
		.domain_id = mc_quarantine_col_i64(res, r, 3),
		.message_id = mc_quarantine_col_i64(res, r, 4),
		.sha256 = mc_quarantine_col_str(pool, res, r, 5),
		.recipient = col_text(pool, res, r, 6),
		.sender = col_text(pool, res, r, 7),
		.subject = col_text(pool, res, r, 8),
		.reason = col_text(pool, res, r, 9),
		.category = col_text(pool, res, r, 10),
		.size = (uint64_t)mc_quarantine_col_i64(res, r, 11),
		.created_at = (time_t)mc_quarantine_col_i64(res, r, 12),
		.expires_at = (time_t)mc_quarantine_col_i64(res, r, 13),
		.released_at = (time_t)mc_quarantine_col_i64(res, r, 14),
		.digest_sent_at = (time_t)mc_quarantine_col_i64(res, r, 15),
		.released_by = mc_quarantine_col_str(pool, res, r, 16)};
}

/* Runs fn in the caller's transaction or its own. */
int mc_quarantine_txn(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		      struct mc_error *err)
{
	return mc_pg_in_transaction(pg) ? fn(pg, ctx, err)
					: mc_pg_transaction(pg, fn, ctx, err);
}

/* Adding ------------------------------------------------------------- */

/* s as valid UTF-8 (as PostgreSQL needs) of at most max bytes, cut at a
 * character boundary. */
static const char *pg_text(struct mc_pool *pool, const char *s, size_t max)
{
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	if (s != NULL)
		mc_charset_to_utf8("utf-8", s, strlen(s), &b);
	size_t len = b.len;
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)b.data[len] & 0xc0) == 0x80)
			len--;
	}
	return mc_pstrndup(pool, mc_buf_cstr(&b), len);
}

/* Checks a request before anything is written. */
static int add_valid(const struct mc_quarantine_add *a, struct mc_error *err)
{
	const char *why = NULL;
	if (a->sha256 == NULL || a->info == NULL)
		why = "no message";
	else if (a->rcpts_count == 0 || a->rcpts == NULL)
		why = "no recipient";
	else if (a->reason == NULL || a->reason[0] == '\0' ||
		 strlen(a->reason) > MAX_REASON)
		why = "reason empty or too long";
	else if (mc_quarantine_category_name(a->category) == NULL)
		why = "unknown category";
	for (size_t i = 0; why == NULL && i < a->rcpts_count; i++) {
		const char *addr = a->rcpts[i].address;
		if (addr == NULL || addr[0] == '\0' || strlen(addr) > 320)
			why = "bad recipient address";
	}
	if (why != NULL)
		mc_error_set(err, MC_ERR_INVALID, "quarantine: %s", why);
	return why != NULL ? -1 : 0;
}

/* One add's transaction state. */
struct add_txn {
	const struct mc_quarantine_add *a;
	int64_t *ids_r;
	struct mc_pool *pool;
};

static const char sql_insert[] =
	"INSERT INTO quarantine (tenant_id, message_id, user_id, domain_id, "
	"recipient, sender, subject, reason, category, size_bytes, "
	"expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + "
	"$11::bigint * interval '1 second') RETURNING id";

/* Inserts the item of recipient i of message mid. */
static int insert_item(struct mc_pg *pg, struct add_txn *t, const char *mid,
		       size_t i, struct mc_error *err)
{
	const struct mc_quarantine_add *a = t->a;
	const struct mc_quarantine_rcpt *rc = &a->rcpts[i];
	char tid[QUAR_NUM], uid[QUAR_NUM], did[QUAR_NUM], size[QUAR_NUM],
		life[QUAR_NUM];
	const char *params[] = {
		mc_quarantine_num(tid, a->tenant_id),
		mid,
		mc_quarantine_num(uid, rc->user_id),
		mc_quarantine_num(did, rc->domain_id),
		pg_text(t->pool, rc->address, MAX_SENDER),
		pg_text(t->pool, a->sender, MAX_SENDER),
		pg_text(t->pool, a->info->subject, MAX_SUBJECT),
		pg_text(t->pool, a->reason, MAX_REASON),
		mc_quarantine_category_name(a->category),
		mc_quarantine_num(size, (int64_t)a->info->size),
		mc_quarantine_num(life, a->lifetime_s
						? a->lifetime_s
						: MC_QUARANTINE_LIFETIME_S)};
	PGresult *res = mc_pg_query(pg, sql_insert, 11, params, err);
	if (res == NULL)
		return -1;
	if (t->ids_r != NULL)
		t->ids_r[i] = mc_quarantine_col_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* The add transaction: the message row with its references, the items. */
static int add_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct add_txn *t = ctx;
	const struct mc_quarantine_add *a = t->a;
	int64_t message_id;
	char mid[QUAR_NUM];
	mc_pool_clear(t->pool);
	if (mc_store_message_ref(pg, a->tenant_id, a->sha256, a->info,
				 (unsigned)a->rcpts_count, &message_id,
				 err) < 0)
		return -1;
	mc_quarantine_num(mid, message_id);
	for (size_t i = 0; i < a->rcpts_count; i++) {
		if (insert_item(pg, t, mid, i, err) < 0)
			return -1;
	}
	return 0;
}

int mc_quarantine_add(struct mc_pg *pg, const struct mc_quarantine_add *a,
		      int64_t *ids_r, struct mc_error *err)
{
	if (add_valid(a, err) < 0)
		return -1;
	struct add_txn t = {a, ids_r, mc_pool_create("quarantine-add", 4096)};
	int r = mc_quarantine_txn(pg, add_txn, &t, err);
	mc_pool_destroy(&t.pool);
	return r < 0 ? -1 : 0;
}

/* Listing ------------------------------------------------------------ */

/* Items in scope matching the filters $4-$8, before id $9, $10 at most. */
static const char sql_list[] = QUAR_SQL_ITEM
	"WHERE " QUAR_SQL_SCOPE
	"AND ($4::text IS NULL OR (q.released_at IS NULL) = ($4 = 'held')) "
	"AND ($5::text IS NULL OR q.category = $5) "
	"AND ($6::text IS NULL OR strpos(lower(q.sender), lower($6)) > 0) "
	"AND ($7::text IS NULL OR strpos(lower(q.recipient), lower($7)) > 0) "
	"AND ($8::text IS NULL OR strpos(lower(q.subject), lower($8)) > 0 "
	"OR strpos(lower(q.reason), lower($8)) > 0) "
	"AND ($9::bigint IS NULL OR q.id < $9::bigint) "
	"ORDER BY q.id DESC LIMIT $10";

/* Checks the filter's enumerated values. */
static int filter_valid(const struct mc_quarantine_filter *f,
			struct mc_error *err)
{
	enum mc_quarantine_category c;
	if (f->state != NULL && strcmp(f->state, "held") != 0 &&
	    strcmp(f->state, "released") != 0) {
		mc_error_set(err, MC_ERR_INVALID, "unknown quarantine state %s",
			     f->state);
		return -1;
	}
	if (f->category != NULL &&
	    !mc_quarantine_category_parse(f->category, &c)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "unknown quarantine category %s", f->category);
		return -1;
	}
	return 0;
}

/* The page size asked for, within bounds. */
static size_t page_size(size_t limit)
{
	if (limit == 0)
		return DEFAULT_LIMIT;
	return limit > MC_QUARANTINE_LIST_MAX ? MC_QUARANTINE_LIST_MAX : limit;
}

/* Reads every row of an item result. */
static void read_items(struct mc_pool *pool, const PGresult *res,
		       const struct mc_quarantine_item **items_r,
		       size_t *count_r)
{
	size_t n = (size_t)PQntuples(res);
	struct mc_quarantine_item *items =
		mc_palloc_array(pool, n + 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		mc_quarantine_fill_item(pool, res, (int)i, &items[i]);
	*items_r = items;
	*count_r = n;
}

int mc_quarantine_list(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_quarantine_scope *scope,
		       const struct mc_quarantine_filter *f,
		       const struct mc_quarantine_item **items_r,
		       size_t *count_r, struct mc_error *err)
{
	static const struct mc_quarantine_filter none = {0};
	char limit[QUAR_NUM];
	const char *params[10];
	if (f == NULL)
		f = &none;
	if (filter_valid(f, err) < 0)
		return -1;
	mc_quarantine_scope_params(pool, scope, params);
	params[3] = f->state;
	params[4] = f->category;
	params[5] = f->sender;
	params[6] = f->recipient;
	params[7] = f->text;
	params[8] = opt_id(pool, f->after);
	params[9] = mc_quarantine_num(limit, (int64_t)page_size(f->limit));
	PGresult *res = mc_pg_query(pg, sql_list, 10, params, err);
	if (res == NULL)
		return -1;
	read_items(pool, res, items_r, count_r);
	PQclear(res);
	return 0;
}

int mc_quarantine_show(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_quarantine_scope *scope, int64_t id,
		       struct mc_quarantine_item *item_r, struct mc_error *err)
{
	char idbuf[QUAR_NUM];
	const char *params[4];
	mc_quarantine_scope_params(pool, scope, params);
	params[3] = mc_quarantine_num(idbuf, id);
	PGresult *res = mc_pg_query(
		pg, QUAR_SQL_ITEM "WHERE " QUAR_SQL_SCOPE "AND q.id = $4", 4,
		params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found)
		mc_quarantine_fill_item(pool, res, 0, item_r);
	PQclear(res);
	return found;
}

/* Deleting and expiring ---------------------------------------------- */

int mc_quarantine_delete(struct mc_pg *pg,
			 const struct mc_quarantine_scope *scope, int64_t id,
			 struct mc_error *err)
{
	struct mc_pool *pool = mc_pool_create("quarantine-delete", 1024);
	char idbuf[QUAR_NUM];
	const char *params[4];
	mc_quarantine_scope_params(pool, scope, params);
	params[3] = mc_quarantine_num(idbuf, id);
	/* the schema's trigger drops the reference of an unreleased item */
	long n = mc_pg_exec(pg,
			    "DELETE FROM quarantine q WHERE " QUAR_SQL_SCOPE
			    "AND q.id = $4",
			    4, params, err);
	mc_pool_destroy(&pool);
	return n < 0 ? -1 : n > 0;
}

/* Deletes up to $2 items expired at $1 (NULL = now). */
static const char sql_expire[] =
	"DELETE FROM quarantine q USING (SELECT tenant_id, id FROM quarantine "
	"WHERE expires_at <= coalesce(to_timestamp($1::double precision), "
	"now()) LIMIT $2 FOR UPDATE SKIP LOCKED) d WHERE q.tenant_id = "
	"d.tenant_id AND q.id = d.id";

int mc_quarantine_expire(struct mc_pg *pg, time_t now, uint64_t *count_r,
			 struct mc_error *err)
{
	char when[QUAR_NUM], limit[QUAR_NUM];
	const char *params[] = {now != 0 ? mc_quarantine_num(when, (int64_t)now)
					 : NULL,
				mc_quarantine_num(limit, EXPIRE_BATCH)};
	uint64_t total = 0;
	long n;
	do {
		n = mc_pg_exec(pg, sql_expire, 2, params, err);
		if (n > 0)
			total += (uint64_t)n;
	} while (n == EXPIRE_BATCH);
	if (count_r != NULL)
		*count_r = total;
	return n < 0 ? -1 : 0;
}
