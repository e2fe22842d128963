/* mc-bayes: the Bayesian spam classifier, per tenant with a global
 * fallback, its statistics in PostgreSQL (schema/0008_bayes.sql).
 *
 * Tokens: the decoded Subject words ("s:word"), the From domain
 * ("f:example.com") and the words of the decoded text/plain and text/html
 * parts (HTML tags, comments, script and style dropped, entities decoded;
 * attachments skipped), with the host of every URL as "u:host" (from the
 * text and from HTML attributes). A word is a run of letters and digits
 * (any non-ASCII character but Unicode punctuation and spaces counts as a
 * letter), lower-cased (ASCII, Latin-1, Greek, Cyrillic), kept when it is
 * 3 to 30 bytes long; digits are folded to '0' ("2024" -> "0000"). At most
 * max_text bytes of body text and max_tokens distinct tokens are taken.
 * Each token is stored only as the first 64 bits of its SHA-256, so no
 * text of a message is kept.
 *
 * Learning counts a message once per tenant, keyed by its SHA-256: a
 * message learned again the same way changes nothing, learned the other
 * way (moved out of Junk) it is unlearned and learned again. Every
 * learning updates the tenant's table and the global table (tenant_id 0)
 * in the same transaction, so the global table is the sum of all tenants.
 *
 * Classifying uses the tenant's own table once it holds at least min_spam
 * spam and min_ham ham messages, the global table when only that one
 * does, and is inactive otherwise. Each token's spam probability is
 * Robinson's f(w) = (s*x + n*p(w)) / (s + n) with s = 1, x = 0.5, n the
 * messages the token was seen in and p(w) = spam ratio / (spam ratio +
 * ham ratio), the ratios relative to the table's message totals; tokens
 * seen in fewer than min_token_count messages are ignored. The
 * max_significant tokens farthest from 0.5 are combined with Fisher's
 * chi-square method into I = (1 + S - H) / 2 (SpamBayes' chi2 scheme).
 *
 * The object holds only settings: one may be shared by every worker
 * thread; each thread passes its own struct mc_pg. */
#ifndef MC_BAYES_H
#define MC_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mc_bayes;
struct mc_error;
struct mc_pg;
struct mc_pool;

/* Reads up to len bytes of the message at offset into buf: the count, 0
 * at the end, -1 on failure (as mc_dkim_read_fn). */
typedef ssize_t mc_bayes_read_fn(void *ctx, void *buf, size_t len,
				 uint64_t offset);

struct mc_bayes_settings {
	/* messages of each kind a table needs to be used; 0 = 200 */
	unsigned min_spam, min_ham;
	size_t max_text;	  /* body text bytes tokenized; 0 = 256 KiB */
	unsigned max_tokens;	  /* distinct tokens per message; 0 = 3000 */
	unsigned max_significant; /* tokens combined; 0 = 150 */
	unsigned min_token_count; /* messages a token needs; 0 = 3 */
	/* message bytes read (the rest is ignored); 0 = 64 MiB */
	uint64_t max_read;
};

struct mc_bayes_result {
	bool active;	    /* false: no table has enough messages */
	int64_t table;	    /* the tenant whose table was used, 0 = global */
	double probability; /* of spam, 0..1 (0.5 when inactive) */
	unsigned tokens;    /* distinct tokens of the message */
	unsigned known;	    /* of them, seen often enough in the table */
	unsigned used;	    /* of them, combined (most significant) */
	/* the totals of the table used (of the tenant's when inactive) */
	uint64_t spam_messages, ham_messages;
};

/* A classifier with set (NULL = defaults). The caller owns the result. */
struct mc_bayes *mc_bayes_create(const struct mc_bayes_settings *set);
/* Frees bayes; accepts NULL and clears *bayes. */
void mc_bayes_destroy(struct mc_bayes **bayes);

/* The stored form of one token ("s:offer"): the first 64 bits of its
 * SHA-256, big-endian, as a signed integer (never 0). */
int64_t mc_bayes_token_hash(const char *token, size_t len);

/* The distinct tokens of a message, sorted ascending, in *tokens_r (from
 * pool). 0, or -1 with err (MC_ERR_TEMPORARY: reading failed). */
int mc_bayes_tokenize(const struct mc_bayes *bayes, struct mc_pool *pool,
		      mc_bayes_read_fn *read, void *read_ctx,
		      int64_t **tokens_r, size_t *count_r,
		      struct mc_error *err);

/* Learns the message (sha256: its 64 lower-case hex digits, as in the
 * messages table) as spam or ham for tenant_id (> 0) in one transaction,
 * which it starts (pg must not be in one). 1 learned (or re-learned the
 * other way), 0 it was already learned so (nothing changed), -1 with err
 * (MC_ERR_INVALID for a bad tenant or sha256, MC_ERR_TEMPORARY for
 * reading or the database). pool holds temporaries. */
int mc_bayes_learn(const struct mc_bayes *bayes, struct mc_pg *pg,
		   struct mc_pool *pool, int64_t tenant_id, const char *sha256,
		   mc_bayes_read_fn *read, void *read_ctx, bool is_spam,
		   struct mc_error *err);

/* Classifies the message for tenant_id (> 0) into *result_r; the message
 * is not read when no table is active. 0, or -1 with err. pool holds
 * temporaries. */
int mc_bayes_classify(const struct mc_bayes *bayes, struct mc_pg *pg,
		      struct mc_pool *pool, int64_t tenant_id,
		      mc_bayes_read_fn *read, void *read_ctx,
		      struct mc_bayes_result *result_r, struct mc_error *err);

/* The combined spam probability of tokens whose counts in a table of
 * spam_total / ham_total messages are spam[i] / ham[i] (the scoring of
 * mc_bayes_classify, without a database); used and known counts go to
 * result_r, which must have been zeroed. */
double mc_bayes_score(const struct mc_bayes *bayes, const int64_t *spam,
		      const int64_t *ham, size_t n, uint64_t spam_total,
		      uint64_t ham_total, struct mc_bayes_result *result_r);

#endif
