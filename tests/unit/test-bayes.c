/* test-bayes: the Bayesian classifier. The tokenizer (Subject, From
 * domain, plain, encoded and HTML bodies, URL hosts, limits, stable
 * output) and the scoring without a database; then against a real
 * PostgreSQL (a fresh schema per run): inactive below 200/200, synthetic
 * spam and ham told apart, the global fallback and the tenant's own table
 * once it has enough, learning counted once, moving re-learning, tenants
 * kept apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-bayes.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include "mc-test.h"

static char schema[96];
static struct mc_pg *pg;
static struct mc_pool *pool;
static struct mc_bayes *bayes;
static long long tenant_a, tenant_b, tenant_c;
static bool trained; /* tenant_a holds 200 spam and 200 ham */

/* A message in memory read through mc_bayes_read_fn; step > 0 gives at
 * most step bytes per read, fail makes every read fail. */
struct mem {
	const char *data;
	size_t len, step;
	bool fail;
	int reads;
};

/* mc_bayes_read_fn over struct mem. */
static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct mem *m = ctx;

	m->reads++;
	if (m->fail)
		return -1;
	if (offset >= m->len)
		return 0;
	if (len > m->len - offset)
		len = m->len - offset;
	if (m->step > 0 && len > m->step)
		len = m->step;
	memcpy(buf, m->data + offset, len);
	return (ssize_t)len;
}

/* The tokens of msg with b, split into reads of step bytes. */
static size_t tokens_of(struct mc_bayes *b, const char *msg, size_t step,
			int64_t **tokens)
{
	struct mem m = {.data = msg, .len = strlen(msg), .step = step};
	struct mc_error err = {0};
	size_t n = 0;

	assert_int_equal(
		mc_bayes_tokenize(b, pool, mem_read, &m, tokens, &n, &err), 0);
	return n;
}

/* True when the hash of token is among the sorted tokens. */
static bool has(const int64_t *tokens, size_t n, const char *token)
{
	int64_t h = mc_bayes_token_hash(token, strlen(token));

	for (size_t i = 0; i < n; i++) {
		if (tokens[i] == h)
			return true;
	}
	return false;
}

static const struct {
	const char *msg;
	const char *present[8], *absent[8];
} token_cases[] = {
	{"Subject: Cheap OFFER today\r\nFrom: \"Bob\" <bob@Mail.Example.COM>"
	 "\r\n\r\nhello\r\n",
	 {"s:cheap", "s:offer", "s:today", "f:mail.example.com", "hello"},
	 {"cheap", "offer", "s:hello", "bob", "f:example.com"}},
	{"Subject: =?UTF-8?B?R3LDtsOfZXMgQW5nZWJvdA==?=\r\n"
	 "From: =?UTF-8?Q?A=40b?= <x@Shop.Test.>\r\n\r\n",
	 {"s:größes", "s:angebot", "f:shop.test"},
	 {"s:utf", "f:b"}},
	{"Subject: x\r\n\r\nHello WORLD ab abc order 12345 "
	 "abcdefghijklmnopqrstuvwxyzabcd abcdefghijklmnopqrstuvwxyzabcde\r\n",
	 {"hello", "world", "abc", "order", "00000",
	  "abcdefghijklmnopqrstuvwxyzabcd"},
	 {"ab", "12345", "s:hello", "abcdefghijklmnopqrstuvwxyzabcde"}},
	{"Subject: x\r\n\r\nvisit https://Shop.Example.NET/path?x=1 now or "
	 "www.cheap-pills.biz/buy, ok\r\n",
	 {"visit", "now", "u:shop.example.net", "u:www.cheap-pills.biz"},
	 {"shop", "path", "https", "buy", "pills"}},
	{"Subject: x\r\nContent-Type: text/html\r\n\r\n<html><head><style>"
	 ".x{color:red}</style><script>var secret=1;</script></head><body>"
	 "<p>V<b></b>iagra &amp; <a href=\"http://Click.Example.ORG/x\">"
	 "here</a><!-- hidden comment --> S&#xE9;rum</p></body></html>\r\n",
	 {"viagra", "here", "u:click.example.org", "sérum"},
	 {"color", "secret", "hidden", "href", "html", "body"}},
	{"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	 "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	 "Gr=FC=DFe =\r\naus K=D6LN\r\n",
	 {"grüße", "aus", "köln"},
	 {"gr", "k"}},
	{"Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	 "boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n"
	 "Content-Transfer-Encoding: base64\r\n\r\nRGlzY291bnQgcGhhcm1hY3k=\r\n"
	 "--b1\r\nContent-Type: text/plain\r\nContent-Disposition: "
	 "attachment; filename=a.txt\r\n\r\nattachedword\r\n--b1\r\n"
	 "Content-Type: application/octet-stream\r\n\r\nbinaryword\r\n"
	 "--b1--\r\n",
	 {"discount", "pharmacy"},
	 {"attachedword", "binaryword", "rglzy291bnqgcghhcm1hy3k"}},
	{"Subject: ПРИВЕТ\r\n\r\nΑΘΗΝΑ—Ёлка…done\r\n",
	 {"s:привет", "αθηνα", "ёлка", "done"},
	 {"s:ПРИВЕТ"}},
	{"Subject: x\r\n\r\ncaf\xe9 na\xefve\r\n", /* undeclared, not UTF-8 */
	 {"café", "naïve"},
	 {"caf"}},
};

/* Each message gives the tokens it should and none it should not. */
static void test_tokens(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(token_cases) / sizeof(*token_cases);
	     i++) {
		int64_t *t;
		size_t n = tokens_of(bayes, token_cases[i].msg, 0, &t);

		for (size_t j = 0; token_cases[i].present[j] != NULL; j++) {
			if (!has(t, n, token_cases[i].present[j]))
				fail_msg("case %zu: no %s", i,
					 token_cases[i].present[j]);
		}
		for (size_t j = 0; token_cases[i].absent[j] != NULL; j++) {
			if (has(t, n, token_cases[i].absent[j]))
				fail_msg("case %zu: has %s", i,
					 token_cases[i].absent[j]);
		}
	}
}

/* The same message gives the same sorted, distinct tokens whether read
 * whole or a few bytes at a time; repeated words count once. */
static void test_tokens_stable(void **state)
{
	const char *msg = token_cases[4].msg;
	int64_t *a, *b, *c;
	size_t na, nb, nc;

	(void)state;
	na = tokens_of(bayes, msg, 0, &a);
	nb = tokens_of(bayes, msg, 0, &b);
	nc = tokens_of(bayes, msg, 7, &c);
	assert_true(na >= 4);
	assert_int_equal(na, nb);
	assert_int_equal(na, nc);
	assert_memory_equal(a, b, na * sizeof(*a));
	assert_memory_equal(a, c, na * sizeof(*a));
	for (size_t i = 1; i < na; i++)
		assert_true(a[i - 1] < a[i]);
	na = tokens_of(bayes, "Subject: a\r\n\r\nword word WORD Word\r\n", 0,
		       &a);
	assert_int_equal(na, 1);
}

/* A letter-only word for i ("aaaa", "baaa", ...): digits would fold. */
static void word_for(unsigned i, char *w)
{
	for (int k = 0; k < 4; k++, i /= 26)
		w[k] = (char)('a' + i % 26);
	w[4] = '\0';
}

/* At most max_tokens distinct tokens and max_text bytes of text. */
static void test_token_limits(void **state)
{
	struct mc_bayes_settings set = {.max_text = 100, .max_tokens = 10};
	struct mc_bayes *small = mc_bayes_create(&set);
	struct mc_buf msg;
	char w[5];
	int64_t *t;

	(void)state;
	mc_buf_init(&msg, pool, 0);
	mc_buf_append_str(&msg, "Subject: limits\r\n\r\n");
	for (unsigned i = 0; i < 5000; i++) {
		word_for(i, w);
		mc_buf_printf(&msg, "%s%s", w, i % 10 == 9 ? "\r\n" : " ");
	}
	assert_int_equal(tokens_of(bayes, msg.data, 0, &t), 3000);
	assert_true(has(t, 3000, "s:limits"));
	word_for(2998, w);
	assert_true(has(t, 3000, w));
	word_for(2999, w);
	assert_false(has(t, 3000, w));
	assert_int_equal(tokens_of(small, msg.data, 0, &t), 10);
	mc_bayes_destroy(&small);
	set.max_tokens = 0;
	small = mc_bayes_create(&set);
	size_t n = tokens_of(small, msg.data, 0, &t);
	assert_int_equal(n, 1 + 100 / 5); /* the subject + 20 words */
	word_for(19, w);
	assert_true(has(t, n, w));
	word_for(20, w);
	assert_false(has(t, n, w));
	mc_bayes_destroy(&small);
	assert_null(small);
}

/* A failing reader is a temporary error. */
static void test_read_failure(void **state)
{
	struct mem m = {.fail = true};
	struct mc_error err = {0};
	int64_t *t;
	size_t n;

	(void)state;
	assert_int_equal(
		mc_bayes_tokenize(bayes, pool, mem_read, &m, &t, &n, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
}

/* The scoring: spammy and hammy counts, rare tokens ignored, at most 150
 * tokens combined. */
static void test_score(void **state)
{
	int64_t spam[400], ham[400];
	struct mc_bayes_result r = {0};

	(void)state;
	for (int i = 0; i < 400; i++) {
		spam[i] = i < 200 ? 90 : 2;
		ham[i] = i < 200 ? 3 : 0;
	}
	assert_true(mc_bayes_score(bayes, spam, ham, 20, 200, 200, &r) > 0.99);
	assert_int_equal(r.used, 20);
	assert_true(mc_bayes_score(bayes, ham, spam, 20, 200, 200, &r) < 0.01);
	/* seen twice: ignored */
	assert_true(mc_bayes_score(bayes, spam + 200, ham + 200, 200, 200, 200,
				   &r) == 0.5);
	assert_int_equal(r.known, 0);
	assert_true(mc_bayes_score(bayes, spam, ham, 400, 200, 200, &r) > 0.99);
	assert_int_equal(r.known, 200);
	assert_int_equal(r.used, 150);
	/* even evidence: neutral */
	spam[0] = ham[0] = 50;
	double p = mc_bayes_score(bayes, spam, ham, 1, 200, 200, &r);
	assert_true(p > 0.45 && p < 0.55);
}

/* Vocabularies of the synthetic messages. */
static const char *const spam_words[] = {
	"viagra",     "casino",	   "winner",	  "lottery",	 "prize",
	"cheap",      "discount",  "pharmacy",	  "bitcoin",	 "investment",
	"guaranteed", "bonus",	   "jackpot",	  "unclaimed",	 "inheritance",
	"millions",   "urgent",	   "wire",	  "transfer",	 "offer",
	"limited",    "exclusive", "replica",	  "watches",	 "pills",
	"loan",	      "credit",	   "approved",	  "refinance",	 "cash",
	"free",	      "click",	   "unsubscribe", "opportunity", "profit",
	"earn",	      "income",	   "weight",	  "diet",	 "miracle"};
static const char *const ham_words[] = {
	"meeting",	"agenda",   "project",	"schedule",   "report",
	"quarterly",	"review",   "budget",	"team",	      "deadline",
	"minutes",	"attached", "draft",	"proposal",   "feedback",
	"colleague",	"lunch",    "tomorrow", "conference", "slides",
	"presentation", "notes",    "planning", "milestone",  "release",
	"version",	"patch",    "commit",	"repository", "invoice",
	"contract",	"client",   "support",	"ticket",     "holiday",
	"family",	"birthday", "weekend",	"dinner",     "thanks"};
static const char *const neutral_words[] = {
	"the",	 "and",	 "for",	 "with", "this",   "that",
	"have",	 "from", "your", "will", "please", "about",
	"today", "time", "here", "more", "just",   "know"};
#define NWORDS(a) (sizeof(a) / sizeof(*(a)))

/* xorshift64*: the synthetic messages' randomness. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* A word of the kind's vocabulary (60%) or a neutral one. */
static const char *pick_word(uint64_t *s, bool spam)
{
	uint64_t r = rnd(s);

	if (r % 10 >= 6)
		return neutral_words[(r >> 8) % NWORDS(neutral_words)];
	if (spam)
		return spam_words[(r >> 8) % NWORDS(spam_words)];
	return ham_words[(r >> 8) % NWORDS(ham_words)];
}

/* Synthetic message number i of a kind, from pool: every third one HTML. */
static const char *message(bool spam, unsigned i)
{
	static const char *const from[2][3] = {
		{"acme.test", "partner.example", "lists.example.org"},
		{"promo-deals.biz", "winner-club.info", "pharma-shop.ru"}};
	uint64_t s = ((uint64_t)i + 1) * 0x9E3779B97F4A7C15ULL + spam;
	bool html = i % 3 == 0;
	struct mc_buf b;

	mc_buf_init(&b, pool, 0);
	mc_buf_printf(&b, "From: <u%u@%s>\r\nSubject:", i,
		      from[spam][rnd(&s) % 3]);
	for (unsigned k = 0, n = 3 + rnd(&s) % 3; k < n; k++)
		mc_buf_printf(&b, " %s", pick_word(&s, spam));
	mc_buf_printf(&b, "\r\nContent-Type: text/%s\r\n\r\n%s",
		      html ? "html" : "plain", html ? "<p>" : "");
	for (unsigned k = 0, n = 25 + rnd(&s) % 16; k < n; k++)
		mc_buf_printf(&b, "%s%s", pick_word(&s, spam),
			      k % 8 == 7 ? "\r\n" : " ");
	mc_buf_printf(&b, "%s %s\r\n",
		      spam ? "http://offers.spam-host.biz/x"
			   : "https://wiki.acme.test/page",
		      html ? "</p>" : "");
	return b.data;
}

/* A message key (64 hex digits) for message i of a kind and series. */
static const char *key(bool spam, unsigned series, unsigned i)
{
	return mc_psprintf(pool, "%08x%08x%048x", spam, series, i);
}

/* Learns message i of a kind as is_spam for tenant; returns the result. */
static int learn(long long tenant, bool spam, unsigned series, unsigned i,
		 bool is_spam)
{
	const char *msg = message(spam, i);
	struct mem m = {.data = msg, .len = strlen(msg)};
	struct mc_error err = {0};
	int r = mc_bayes_learn(bayes, pg, pool, tenant, key(spam, series, i),
			       mem_read, &m, is_spam, &err);

	if (r < 0)
		fail_msg("learn: %s", err.msg);
	mc_pool_clear(pool);
	return r;
}

/* Learns messages [from, to) of both kinds for tenant (swapped: spam as
 * ham and ham as spam). */
static void train(long long tenant, unsigned series, unsigned from, unsigned to,
		  bool swapped)
{
	for (unsigned i = from; i < to; i++) {
		assert_int_equal(learn(tenant, true, series, i, !swapped), 1);
		assert_int_equal(learn(tenant, false, series, i, swapped), 1);
	}
}

/* Classifies message i of a kind (from the unseen range) for tenant. */
static struct mc_bayes_result classify(long long tenant, bool spam, unsigned i)
{
	const char *msg = message(spam, i);
	struct mem m = {.data = msg, .len = strlen(msg)};
	struct mc_bayes_result r;
	struct mc_error err = {0};

	if (mc_bayes_classify(bayes, pg, pool, tenant, mem_read, &m, &r, &err) <
	    0)
		fail_msg("classify: %s", err.msg);
	return r;
}

/* A number of SQL with one %lld for a tenant. */
static long long num(const char *fmt, long long tenant)
{
	char sql[512];

	snprintf(sql, sizeof(sql), fmt, tenant);
	return mc_test_num(pg, sql);
}

#define UNSEEN 10000 /* messages from here on are never learned */

/* Unseen spam scores above 0.9 and unseen ham below 0.1 for tenant with
 * table. */
static void expect_separated(long long tenant, long long table, bool swapped)
{
	for (unsigned i = UNSEEN; i < UNSEEN + 10; i++) {
		struct mc_bayes_result s = classify(tenant, !swapped, i);
		struct mc_bayes_result h = classify(tenant, swapped, i);

		assert_true(s.active && h.active);
		assert_int_equal(s.table, table);
		if (s.probability <= 0.9 || h.probability >= 0.1)
			fail_msg("message %u: spam %f, ham %f", i,
				 s.probability, h.probability);
		assert_true(s.used > 10 && s.used <= s.known);
		assert_true(s.known <= s.tokens);
	}
}

static int setup(void **state)
{
	(void)state;
	pool = mc_pool_create("test-bayes", 0);
	bayes = mc_bayes_create(NULL);
	pg = mc_test_pg_schema("bayes", schema, sizeof(schema));
	if (pg != NULL) {
		mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme'), "
				"('beta'), ('gamma')");
		tenant_a = mc_test_num(pg, "SELECT id FROM tenants "
					   "WHERE name = 'acme'");
		tenant_b = mc_test_num(pg, "SELECT id FROM tenants "
					   "WHERE name = 'beta'");
		tenant_c = mc_test_num(pg, "SELECT id FROM tenants "
					   "WHERE name = 'gamma'");
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	mc_bayes_destroy(&bayes);
	mc_pool_destroy(&pool);
	return 0;
}

/* Inactive (and the message not even read) until the tenant or the
 * global table has 200 spam and 200 ham; then the tenant's table tells
 * unseen spam from ham. */
static void test_activates_at_200(void **state)
{
	struct mem m = {.fail = true};
	struct mc_bayes_result r;
	struct mc_error err = {0};

	(void)state;
	if (pg == NULL)
		skip();
	mc_test_sql(pg, "DELETE FROM bayes_tokens; DELETE FROM bayes_totals; "
			"DELETE FROM bayes_learned");
	train(tenant_a, 0, 0, 199, false);
	assert_int_equal(mc_bayes_classify(bayes, pg, pool, tenant_a, mem_read,
					   &m, &r, &err),
			 0);
	assert_false(r.active);
	assert_true(r.probability == 0.5);
	assert_int_equal(r.spam_messages, 199);
	assert_int_equal(m.reads, 0);
	assert_int_equal(learn(tenant_a, true, 0, 199, true), 1);
	assert_false(classify(tenant_a, true, UNSEEN).active);
	assert_int_equal(learn(tenant_a, false, 0, 199, false), 1);
	trained = true;
	expect_separated(tenant_a, tenant_a, false);
	assert_int_equal(num("SELECT spam_messages * 1000 + ham_messages FROM "
			     "bayes_totals WHERE tenant_id = %lld",
			     tenant_a),
			 200200);
	assert_int_equal(num("SELECT spam_messages * 1000 + ham_messages FROM "
			     "bayes_totals WHERE tenant_id = %lld",
			     0),
			 200200);
}

/* Trains tenant_a when test_activates_at_200 did not run. */
static void ensure_trained(void)
{
	if (trained)
		return;
	mc_test_sql(pg, "DELETE FROM bayes_tokens; DELETE FROM bayes_totals; "
			"DELETE FROM bayes_learned");
	train(tenant_a, 0, 0, 200, false);
	trained = true;
}

/* A tenant without training of its own classifies with the global
 * table; a little training of its own does not change that. */
static void test_global_fallback(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	ensure_trained();
	expect_separated(tenant_b, 0, false);
	assert_int_equal(learn(tenant_b, true, 5, 0, true), 1);
	struct mc_bayes_result r = classify(tenant_b, true, UNSEEN);
	assert_int_equal(r.table, 0);
	assert_int_equal(r.spam_messages, 201);
}

/* A tenant that learned the opposite gets the global view until it has
 * 200/200, then its own (spam-like mail is its ham); the other tenants'
 * own tables do not move. */
static void test_tenant_table_preferred(void **state)
{
	const char *sum = "SELECT count(*) * 1000000 + sum(spam) * 1000 + "
			  "sum(ham) FROM bayes_tokens WHERE tenant_id = %lld";
	long long before;

	(void)state;
	if (pg == NULL)
		skip();
	ensure_trained();
	before = num(sum, tenant_a);
	train(tenant_c, 1, 0, 199, true);
	assert_int_equal(learn(tenant_c, true, 1, 199, false), 1);
	assert_int_equal(classify(tenant_c, true, UNSEEN).table, 0);
	assert_int_equal(learn(tenant_c, false, 1, 199, true), 1);
	expect_separated(tenant_c, tenant_c, true);
	assert_int_equal(num(sum, tenant_a), before);
	expect_separated(tenant_a, tenant_a, false);
	assert_int_equal(num("SELECT spam_messages FROM bayes_totals WHERE "
			     "tenant_id = %lld",
			     tenant_c),
			 200);
	assert_int_equal(num("SELECT spam_messages FROM bayes_totals WHERE "
			     "tenant_id = %lld",
			     0),
			 num("SELECT sum(spam_messages) FROM bayes_totals "
			     "WHERE tenant_id <> %lld",
			     0));
}

/* Learning a message twice the same way counts it once; learning it the
 * other way moves its counts; per tenant. */
static void test_learn_once_and_move(void **state)
{
	const char *tok = "SELECT count(*) * 1000000 + sum(spam) * 1000 + "
			  "sum(ham) FROM bayes_tokens WHERE tenant_id = %lld";
	const char *tot = "SELECT spam_messages * 1000000 + ham_messages FROM "
			  "bayes_totals WHERE tenant_id = %lld";
	long long global, n;
	int64_t *t;

	(void)state;
	if (pg == NULL)
		skip();
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "DELETE FROM bayes_tokens WHERE tenant_id = %lld; "
		 "DELETE FROM bayes_totals WHERE tenant_id = %lld",
		 tenant_b, tenant_b);
	mc_test_sql(pg, sql);
	global = num(tot, 0);
	n = (long long)tokens_of(bayes, message(true, 77), 0, &t);
	assert_int_equal(learn(tenant_b, true, 9, 77, true), 1);
	assert_int_equal(learn(tenant_b, true, 9, 77, true), 0);
	assert_int_equal(num(tot, tenant_b), 1000000);
	assert_int_equal(num(tok, tenant_b), n * 1000000 + n * 1000);
	assert_int_equal(num(tot, 0), global + 1000000);
	assert_int_equal(learn(tenant_b, true, 9, 77, false), 1);
	assert_int_equal(learn(tenant_b, true, 9, 77, false), 0);
	assert_int_equal(num(tot, tenant_b), 1);
	assert_int_equal(num(tok, tenant_b), n * 1000000 + n);
	assert_int_equal(num(tot, 0), global + 1);
	assert_int_equal(num("SELECT count(*) FROM bayes_learned WHERE "
			     "tenant_id = %lld AND learned_as = 'ham'",
			     tenant_b),
			 1);
	/* the same message is new to another tenant */
	assert_int_equal(learn(tenant_c, true, 9, 77, true), 1);
	assert_int_equal(num(tot, tenant_b), 1);
}

/* Stored tokens are the SHA-256 prefixes PostgreSQL computes too. */
static void test_stored_hashes(void **state)
{
	char sql[256];
	const char *msg = "Subject: Zebra\r\n\r\nquokka\r\n";
	struct mem m = {.data = msg, .len = strlen(msg)};
	struct mc_error err = {0};

	(void)state;
	if (pg == NULL)
		skip();
	snprintf(sql, sizeof(sql),
		 "SELECT (('x' || substr(encode(sha256('s:zebra'), 'hex'), "
		 "1, 16))::bit(64)::bigint = %lld)::int",
		 (long long)mc_bayes_token_hash("s:zebra", 7));
	assert_int_equal(mc_test_num(pg, sql), 1);
	assert_int_equal(mc_bayes_learn(bayes, pg, pool, tenant_b,
					key(true, 3, 3), mem_read, &m, true,
					&err),
			 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM bayes_tokens WHERE tenant_id IN (0, "
		 "%lld) AND token IN (%lld, %lld)",
		 tenant_b, (long long)mc_bayes_token_hash("s:zebra", 7),
		 (long long)mc_bayes_token_hash("quokka", 6));
	assert_int_equal(mc_test_num(pg, sql), 4);
}

/* Bad arguments and a failing reader change nothing. */
static void test_learn_errors(void **state)
{
	struct mem m = {.fail = true};
	struct mc_error err = {0};
	struct mc_bayes_result r;
	long long before;

	(void)state;
	if (pg == NULL)
		skip();
	before = mc_test_num(pg, "SELECT count(*) FROM bayes_learned");
	assert_int_equal(mc_bayes_learn(bayes, pg, pool, 0, key(1, 1, 1),
					mem_read, &m, true, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_int_equal(mc_bayes_learn(bayes, pg, pool, tenant_a, "ABC",
					mem_read, &m, true, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_int_equal(mc_bayes_learn(bayes, pg, pool, tenant_a, key(1, 8, 8),
					mem_read, &m, true, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM bayes_learned"),
			 before);
	mc_error_clear(&err);
	if (trained) {
		assert_int_equal(mc_bayes_classify(bayes, pg, pool, tenant_a,
						   mem_read, &m, &r, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_TEMPORARY);
		assert_false(r.active);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_tokens_stable),
		cmocka_unit_test(test_token_limits),
		cmocka_unit_test(test_read_failure),
		cmocka_unit_test(test_score),
		cmocka_unit_test(test_activates_at_200),
		cmocka_unit_test(test_global_fallback),
		cmocka_unit_test(test_tenant_table_preferred),
		cmocka_unit_test(test_learn_once_and_move),
		cmocka_unit_test(test_stored_hashes),
		cmocka_unit_test(test_learn_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
