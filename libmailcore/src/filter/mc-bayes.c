/* mc-bayes: the classifier's settings, its tokenizer entry point, and
 * its statistics in PostgreSQL (schema/0008_bayes.sql): learning (one
 * transaction: the per-message record, then batched upserts of the
 * tenant's and the global token counts and totals) and classifying (the
 * totals, then one SELECT of the message's tokens). */
#include "mc-bayes-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"

#define DEFAULT_MIN_SAMPLES 200
#define DEFAULT_MAX_TEXT    (256 * 1024)
#define DEFAULT_MAX_TOKENS  3000
#define DEFAULT_SIGNIFICANT 150
#define DEFAULT_MIN_COUNT   3
#define DEFAULT_MAX_READ    ((uint64_t)64 * 1024 * 1024)

/* A classifier with set (NULL = defaults). */
struct mc_bayes *mc_bayes_create(const struct mc_bayes_settings *set)
{
	struct mc_bayes *b = mc_calloc(1, sizeof(*b));
	struct mc_bayes_settings *s = &b->set;

	if (set != NULL)
		*s = *set;
	s->min_spam = s->min_spam != 0 ? s->min_spam : DEFAULT_MIN_SAMPLES;
	s->min_ham = s->min_ham != 0 ? s->min_ham : DEFAULT_MIN_SAMPLES;
	s->max_text = s->max_text != 0 ? s->max_text : DEFAULT_MAX_TEXT;
	s->max_tokens = s->max_tokens != 0 ? s->max_tokens : DEFAULT_MAX_TOKENS;
	s->max_significant = s->max_significant != 0 ? s->max_significant
						     : DEFAULT_SIGNIFICANT;
	s->min_token_count = s->min_token_count != 0 ? s->min_token_count
						     : DEFAULT_MIN_COUNT;
	s->max_read = s->max_read != 0 ? s->max_read : DEFAULT_MAX_READ;
	return b;
}

/* Frees bayes; accepts NULL and clears *bayes. */
void mc_bayes_destroy(struct mc_bayes **bayes)
{
	if (bayes == NULL || *bayes == NULL)
		return;
	free(*bayes);
	*bayes = NULL;
}

/* The distinct tokens of a message, sorted, from pool. */
int mc_bayes_tokenize(const struct mc_bayes *bayes, struct mc_pool *pool,
		      mc_bayes_read_fn *read, void *read_ctx,
		      int64_t **tokens_r, size_t *count_r, struct mc_error *err)
{
	struct bayes_tokens t;

	bayes_tokens_init(&t, pool, bayes->set.max_tokens);
	if (bayes_read_message(bayes, &t, read, read_ctx, err) < 0)
		return -1;
	*tokens_r = bayes_tokens_sorted(&t, pool);
	*count_r = t.count;
	return 0;
}

/* True for 64 lower-case hex digits. */
static bool valid_sha256(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++) {
		if (!((s[n] >= '0' && s[n] <= '9') ||
		      (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	}
	return n == 64;
}

/* What one learning transaction needs. */
struct learn {
	const char *tenant, *sha256, *as, *tokens;
	bool is_spam;
	bool changed; /* a re-learning: the other column goes down */
};

/* Records the message as learned; 1 new, 2 re-learned the other way, 0
 * already learned so, -1 on error. */
static int record(struct mc_pg *pg, struct learn *l, struct mc_error *err)
{
	const char *p[] = {l->tenant, l->sha256, l->as};
	long n = mc_pg_exec(pg,
			    "INSERT INTO bayes_learned (tenant_id, sha256, "
			    "learned_as) VALUES ($1, $2, $3) "
			    "ON CONFLICT DO NOTHING",
			    3, p, err);

	if (n != 0)
		return n < 0 ? -1 : 1;
	n = mc_pg_exec(pg,
		       "UPDATE bayes_learned SET learned_as = $3, "
		       "learned_at = now() WHERE tenant_id = $1 "
		       "AND sha256 = $2 AND learned_as <> $3",
		       3, p, err);
	return n < 0 ? -1 : n > 0 ? 2 : 0;
}

/* Adds the deltas to the tenant's and the global counts (the tokens in
 * ascending order, so concurrent learnings lock rows in one order). */
static int count(struct mc_pg *pg, const struct learn *l, const char *ds,
		 const char *dh, struct mc_error *err)
{
	const char *p[] = {l->tenant, l->tokens, ds, dh};
	const char *pt[] = {l->tenant, ds, dh};

	if (mc_pg_exec(pg,
		       "INSERT INTO bayes_tokens AS b (tenant_id, token, spam, "
		       "ham) SELECT t.id, k.tok, greatest($3::int, 0), "
		       "greatest($4::int, 0) FROM unnest(ARRAY[0, "
		       "$1::bigint]) AS t(id), unnest($2::bigint[]) AS k(tok) "
		       "ORDER BY 1, 2 ON CONFLICT (tenant_id, token) DO "
		       "UPDATE SET spam = greatest(b.spam + $3::int, 0), "
		       "ham = greatest(b.ham + $4::int, 0), updated_at = now()",
		       4, p, err) < 0)
		return -1;
	return mc_pg_exec(pg,
			  "INSERT INTO bayes_totals AS b (tenant_id, "
			  "spam_messages, ham_messages) SELECT t.id, "
			  "greatest($2::int, 0), greatest($3::int, 0) FROM "
			  "unnest(ARRAY[0, $1::bigint]) AS t(id) ORDER BY 1 "
			  "ON CONFLICT (tenant_id) DO UPDATE SET "
			  "spam_messages = greatest(b.spam_messages + "
			  "$2::int, 0), ham_messages = greatest("
			  "b.ham_messages + $3::int, 0), updated_at = now()",
			  3, pt, err) < 0
		       ? -1
		       : 0;
}

/* The learning transaction: 1 counted, 0 nothing to do, -1 error. */
static int learn_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct learn *l = ctx;
	int r = record(pg, l, err);
	const char *up = "1", *down = r == 2 ? "-1" : "0";

	if (r <= 0)
		return r;
	if (count(pg, l, l->is_spam ? up : down, l->is_spam ? down : up, err) <
	    0)
		return -1;
	return 1;
}

/* Learns the message as spam or ham for tenant_id. */
int mc_bayes_learn(const struct mc_bayes *bayes, struct mc_pg *pg,
		   struct mc_pool *pool, int64_t tenant_id, const char *sha256,
		   mc_bayes_read_fn *read, void *read_ctx, bool is_spam,
		   struct mc_error *err)
{
	struct learn l = {.sha256 = sha256, .is_spam = is_spam};
	int64_t *tokens;
	size_t n;

	if (tenant_id <= 0 || !valid_sha256(sha256)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bayes: bad tenant or message hash");
		return -1;
	}
	if (mc_bayes_tokenize(bayes, pool, read, read_ctx, &tokens, &n, err) <
	    0)
		return -1;
	l.tenant = mc_psprintf(pool, "%" PRId64, tenant_id);
	l.as = is_spam ? "spam" : "ham";
	l.tokens = mc_pg_id_array(pool, tokens, n);
	return mc_pg_transaction(pg, learn_txn, &l, err);
}

/* Reads the totals of tenant_id and of the global table. */
static int totals(struct mc_pg *pg, const char *tenant, uint64_t t[2][2],
		  struct mc_error *err)
{
	const char *p[] = {tenant};
	PGresult *res = mc_pg_query(pg,
				    "SELECT tenant_id, spam_messages, "
				    "ham_messages FROM bayes_totals "
				    "WHERE tenant_id IN ($1, 0)",
				    1, p, err);

	if (res == NULL)
		return -1;
	memset(t, 0, sizeof(uint64_t[2][2]));
	for (int i = 0; i < PQntuples(res); i++) {
		int which = strcmp(PQgetvalue(res, i, 0), "0") == 0;

		t[which][0] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
		t[which][1] = strtoull(PQgetvalue(res, i, 2), NULL, 10);
	}
	PQclear(res);
	return 0;
}

/* Picks the table: the tenant's (0) when it has enough of both, else the
 * global one (1), else none (-1). */
static int pick(const struct mc_bayes *bayes, uint64_t t[2][2])
{
	for (int i = 0; i < 2; i++) {
		if (t[i][0] >= bayes->set.min_spam &&
		    t[i][1] >= bayes->set.min_ham)
			return i;
	}
	return -1;
}

/* Scores the tokens against the table of tenant table into *r. */
static int score(const struct mc_bayes *bayes, struct mc_pg *pg,
		 struct mc_pool *pool, const int64_t *tokens, size_t n,
		 struct mc_bayes_result *r, struct mc_error *err)
{
	const char *p[] = {mc_psprintf(pool, "%" PRId64, r->table),
			   mc_pg_id_array(pool, tokens, n)};
	PGresult *res = mc_pg_query(pg,
				    "SELECT spam, ham FROM bayes_tokens "
				    "WHERE tenant_id = $1 AND "
				    "token = ANY($2::bigint[])",
				    2, p, err);
	size_t rows;
	int64_t *spam, *ham;

	if (res == NULL)
		return -1;
	rows = (size_t)PQntuples(res);
	spam = mc_palloc_array(pool, rows + 1, sizeof(*spam));
	ham = mc_palloc_array(pool, rows + 1, sizeof(*ham));
	for (size_t i = 0; i < rows; i++) {
		spam[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
		ham[i] = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
	}
	PQclear(res);
	r->probability = mc_bayes_score(bayes, spam, ham, rows,
					r->spam_messages, r->ham_messages, r);
	return 0;
}

/* Classifies the message for tenant_id into *result_r. */
int mc_bayes_classify(const struct mc_bayes *bayes, struct mc_pg *pg,
		      struct mc_pool *pool, int64_t tenant_id,
		      mc_bayes_read_fn *read, void *read_ctx,
		      struct mc_bayes_result *result_r, struct mc_error *err)
{
	struct mc_bayes_result *r = result_r;
	uint64_t t[2][2];
	int64_t *tokens;
	size_t n;
	int which;

	memset(r, 0, sizeof(*r));
	r->probability = 0.5;
	r->table = tenant_id;
	if (tenant_id <= 0) {
		mc_error_set(err, MC_ERR_INVALID, "bayes: bad tenant");
		return -1;
	}
	if (totals(pg, mc_psprintf(pool, "%" PRId64, tenant_id), t, err) < 0)
		return -1;
	which = pick(bayes, t);
	r->spam_messages = t[which < 0 ? 0 : which][0];
	r->ham_messages = t[which < 0 ? 0 : which][1];
	if (which < 0)
		return 0;
	r->active = true;
	r->table = which == 0 ? tenant_id : 0;
	if (mc_bayes_tokenize(bayes, pool, read, read_ctx, &tokens, &n, err) ==
	    0) {
		r->tokens = (unsigned)n;
		if (score(bayes, pg, pool, tokens, n, r, err) == 0)
			return 0;
	}
	r->active = false;
	r->probability = 0.5;
	return -1;
}
