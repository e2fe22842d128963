/* test-imap-thread: SORT (each key, REVERSE, several criteria, the
 * sequence tie-break), THREAD=ORDEREDSUBJECT and THREAD=REFERENCES over
 * tables of messages with known responses (RFC 5256's examples, dummies,
 * loops, duplicate ids, subject gathering), and large random sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-thread.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MSGS 16

/* One message of a threading case. */
struct tmsg {
	uint32_t seq;
	int64_t date;
	const char *subject; /* base subject */
	bool reply;
	const char *mid, *refs, *irt;
};

struct thread_case {
	const char *name;
	enum mc_imap_thread_algorithm alg;
	struct tmsg msgs[MAX_MSGS];
	const char *expected;
};

/* Fills sort messages from a case table (uid = 10 * seq). */
static size_t fill_msgs(const struct tmsg *t, struct mc_imap_sort_msg *out)
{
	size_t n = 0;

	for (; n < MAX_MSGS && t[n].seq != 0; n++) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].seq = t[n].seq;
		out[n].uid = t[n].seq * 10;
		out[n].date = t[n].date;
		out[n].arrival = t[n].date;
		out[n].base_subject = t[n].subject;
		out[n].reply = t[n].reply;
		out[n].message_id = t[n].mid;
		out[n].references = t[n].refs;
		out[n].in_reply_to = t[n].irt;
	}
	return n;
}

/* The THREAD response of msgs (sequence numbers or UIDs), from pool. */
static const char *thread_str(struct mc_pool *pool,
			      enum mc_imap_thread_algorithm alg,
			      const struct mc_imap_sort_msg *msgs, size_t n,
			      bool use_uid)
{
	struct mc_imap_thread_node *roots;
	struct mc_buf buf;

	roots = mc_imap_thread_build(pool, alg, msgs, n);
	mc_buf_init(&buf, pool, 0);
	assert_true(mc_imap_thread_write(roots, use_uid, &buf));
	return mc_buf_cstr(&buf);
}

static const struct thread_case thread_cases[] = {
	/* RFC 5256 section 4's tree: (2)(3 6 (4 23)(44 7 96)) */
	{"rfc-figure",
	 MC_IMAP_THREAD_REFERENCES,
	 {{2, 1, "alpha", false, "<2@x>", NULL, NULL},
	  {3, 2, "beta", false, "<3@x>", NULL, NULL},
	  {4, 4, "beta", true, "<4@x>", "<3@x> <6@x>", NULL},
	  {6, 3, "beta", true, "<6@x>", "<3@x>", NULL},
	  {7, 7, "beta", true, "<7@x>", "<3@x> <6@x> <44@x>", NULL},
	  {23, 5, "beta", true, "<23@x>", "<3@x>\r\n <6@x> <4@x>", NULL},
	  {44, 6, "beta", true, "<44@x>", NULL, "<6@x>"},
	  {96, 8, "beta", true, "<96@x>", "<3@x> <6@x> <44@x> <7@x>", NULL}},
	 "(2)(3 6 (4 23)(44 7 96))"},
	/* the same mailbox as ORDEREDSUBJECT: one thread per subject */
	{"rfc-figure-orderedsubject",
	 MC_IMAP_THREAD_ORDEREDSUBJECT,
	 {{2, 1, "alpha", false, "<2@x>", NULL, NULL},
	  {3, 2, "beta", false, "<3@x>", NULL, NULL},
	  {4, 4, "beta", true, "<4@x>", "<3@x> <6@x>", NULL},
	  {6, 3, "beta", true, "<6@x>", "<3@x>", NULL},
	  {7, 7, "beta", true, "<7@x>", "<3@x> <6@x> <44@x>", NULL}},
	 "(2)(3 (6)(4)(7))"},
	/* missing parents: a dummy with two children stays at the top, a
	 * chain of dummies above one message disappears */
	{"missing-parent",
	 MC_IMAP_THREAD_REFERENCES,
	 {{3, 1, "gamma", true, "<3@x>", "<gone@x>", NULL},
	  {5, 2, "gamma", true, "<5@x>", "<gone@x>", NULL},
	  {7, 3, "delta", true, "<7@x>", "<p1@x> <p2@x>", NULL}},
	 "((3)(5))(7)"},
	/* a dummy in the middle of a thread is replaced by its children */
	{"dummy-inside",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "eps", false, "<1@x>", NULL, NULL},
	  {2, 2, "eps", true, "<2@x>", "<1@x> <lost@x>", NULL},
	  {3, 3, "eps", true, "<3@x>", "<1@x> <lost@x>", NULL}},
	 "(1 (2)(3))"},
	/* A references B and B references A: no loop, one thread */
	{"reply-loop",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "loop", true, "<a@x>", "<b@x>", NULL},
	  {2, 2, "loop", true, "<b@x>", "<a@x>", NULL}},
	 "(2 1)"},
	/* a three-way loop and a message referencing itself */
	{"loop-three",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "tri", true, "<a@x>", "<b@x> <c@x>", NULL},
	  {2, 2, "tri", true, "<b@x>", "<c@x> <a@x>", NULL},
	  {3, 3, "tri", true, "<c@x>", "<a@x> <b@x>", NULL},
	  {4, 4, "self", false, "<s@x>", "<s@x>", NULL}},
	 "(2 3 1)(4)"},
	/* a second message with the same id gets a unique one; a message
	 * without (or with an invalid) Message-ID stands alone */
	{"duplicate-ids",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "dup", false, "<d@x>", NULL, NULL},
	  {2, 2, "other", false, "<d@x>", NULL, NULL},
	  {3, 3, "dup", true, "<3@x>", "<d@x>", NULL},
	  {4, 4, "solo", false, NULL, NULL, NULL},
	  {5, 5, "solo2", false, "no-brackets@x", "<4@x", NULL}},
	 "(1 3)(2)(4)(5)"},
	/* In-Reply-To only when References has no valid msg-id; comments
	 * and quoted phrases are skipped */
	{"in-reply-to",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "p", false, "<1@x>", NULL, NULL},
	  {2, 2, "q", false, "<2@x>", NULL, NULL},
	  {3, 3, "r", true, "<3@x>", "garbage (<2@x>)", "\"<2@x>\" <1@x>"},
	  {4, 4, "s", true, " (c) <4@[10.0.0.1]> ", "<2@x>", "<1@x>"},
	  {5, 5, "t", true, "<5@x>", NULL, "<4@[10.0.0.1]> <2@x>"}},
	 "(1 3)(2 4 5)"},
	/* Re: threads without references join the original */
	{"subject-gather",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "hello", false, "<1@x>", NULL, NULL},
	  {2, 2, "hello", true, "<2@x>", NULL, NULL},
	  {3, 3, "hello", true, "<3@x>", "<missing@x>", NULL},
	  {4, 4, "hello", false, "<4@x>", NULL, NULL},
	  {5, 5, "", false, "<5@x>", NULL, NULL},
	  {6, 6, "", false, "<6@x>", NULL, NULL}},
	 "((1 (2)(3))(4))(5)(6)"},
	/* the original arrives after the reply: the reply still goes under */
	{"subject-original-later",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 1, "topic", true, "<1@x>", NULL, NULL},
	  {2, 2, "topic", false, "<2@x>", NULL, NULL}},
	 "(2 1)"},
	/* a dummy thread is preferred; two dummies merge */
	{"subject-dummies",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 5, "x", true, "<1@x>", "<m@x>", NULL},
	  {2, 6, "x", true, "<2@x>", "<m@x>", NULL},
	  {3, 1, "x", true, "<3@x>", NULL, NULL},
	  {4, 7, "y", true, "<4@x>", "<m1@x>", NULL},
	  {5, 8, "y", true, "<5@x>", "<m1@x>", NULL},
	  {6, 9, "y", true, "<6@x>", "<m2@x>", NULL},
	  {7, 10, "y", true, "<7@x>", "<m2@x>", NULL}},
	 "((3)(1)(2))((4)(5)(6)(7))"},
	/* ORDEREDSUBJECT: grouping, date order, sequence tie-break */
	{"orderedsubject",
	 MC_IMAP_THREAD_ORDEREDSUBJECT,
	 {{1, 5, "b", false, NULL, NULL, NULL},
	  {2, 3, "a", false, NULL, NULL, NULL},
	  {3, 1, "b", false, NULL, NULL, NULL},
	  {4, 4, "a", false, NULL, NULL, NULL},
	  {5, 2, "c", false, NULL, NULL, NULL},
	  {6, 1, "B", false, NULL, NULL, NULL}},
	 "(3 (6)(1))(5)(2 4)"},
	/* REFERENCES sorts threads and siblings by date, then sequence */
	{"references-order",
	 MC_IMAP_THREAD_REFERENCES,
	 {{1, 9, "k", false, "<1@x>", NULL, NULL},
	  {2, 3, "k", true, "<2@x>", "<1@x>", NULL},
	  {3, 3, "k", true, "<3@x>", "<1@x>", NULL},
	  {4, 1, "k", true, "<4@x>", "<1@x>", NULL},
	  {5, 2, "m", false, "<5@x>", NULL, NULL}},
	 "(5)(1 (4)(2)(3))"},
};

/* Every case's THREAD response, with sequence numbers. */
static void test_thread_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sort_msg msgs[MAX_MSGS];

	(void)state;
	for (size_t i = 0; i < sizeof(thread_cases) / sizeof(thread_cases[0]);
	     i++) {
		const struct thread_case *c = &thread_cases[i];
		size_t n = fill_msgs(c->msgs, msgs);
		const char *got = thread_str(pool, c->alg, msgs, n, false);

		if (strcmp(got, c->expected) != 0)
			fail_msg("%s: got %s, want %s", c->name, got,
				 c->expected);
	}
	mc_pool_destroy(&pool);
}

/* UIDs instead of sequence numbers; the forest's shape. */
static void test_thread_uid(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sort_msg msgs[MAX_MSGS];
	size_t n = fill_msgs(thread_cases[0].msgs, msgs);
	struct mc_imap_thread_node *r;

	(void)state;
	assert_string_equal(
		thread_str(pool, MC_IMAP_THREAD_REFERENCES, msgs, n, true),
		"(20)(30 60 (40 230)(440 70 960))");
	r = mc_imap_thread_references(pool, msgs, n);
	assert_int_equal(r->uid, 20);
	assert_null(r->child);
	assert_int_equal(r->next->seq, 3);
	assert_int_equal(r->next->child->seq, 6);
	assert_int_equal(r->next->child->child->next->seq, 44);
	assert_null(r->next->next);
	n = fill_msgs(thread_cases[2].msgs, msgs);
	r = mc_imap_thread_references(pool, msgs, n);
	assert_int_equal(r->uid, 0); /* the dummy */
	assert_int_equal(r->seq, 0);
	assert_int_equal(r->child->seq, 3);
	mc_pool_destroy(&pool);
}

/* No messages: no forest, an empty response, sort is a no-op. */
static void test_empty(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_buf buf;

	(void)state;
	assert_null(mc_imap_thread_references(pool, NULL, 0));
	assert_null(mc_imap_thread_orderedsubject(pool, NULL, 0));
	mc_buf_init(&buf, pool, 0);
	assert_true(mc_imap_thread_write(NULL, true, &buf));
	assert_string_equal(mc_buf_cstr(&buf), "");
	mc_imap_sort(NULL, 0, NULL, 0);
	mc_pool_destroy(&pool);
}

/* A full buffer makes the writer report false. */
static void test_write_full(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sort_msg msgs[MAX_MSGS];
	size_t n = fill_msgs(thread_cases[0].msgs, msgs);
	struct mc_buf buf;

	(void)state;
	mc_buf_init(&buf, pool, 8);
	assert_false(mc_imap_thread_write(
		mc_imap_thread_references(pool, msgs, n), false, &buf));
	mc_pool_destroy(&pool);
}

/* ---- SORT ---- */

static const struct {
	uint32_t seq;
	int64_t arrival, date;
	uint64_t size;
	const char *subject, *from, *to, *cc, *dfrom, *dto;
} sort_msgs[] = {
	/* given out of sequence order, so the tie-break shows */
	{3, 20, 200, 300, "ALPHA", "Bob", "amy", NULL, "bob jones", "amy"},
	{1, 30, 100, 500, "beta", "carol", "zed", "", "Aaron C", "Zed"},
	{4, 20, 100, 300, "gamma", "alice", "", "y", "Alice", NULL},
	{2, 10, 300, 100, "alpha", "alice", "bob", "x", "alice", "Bob"},
};

static const struct {
	struct mc_imap_sort_criterion c[3];
	size_t n;
	const char *expected;
} sort_cases[] = {
	{{{MC_IMAP_SORT_ARRIVAL, false}}, 1, "2 3 4 1"},
	{{{MC_IMAP_SORT_ARRIVAL, true}}, 1, "1 3 4 2"},
	{{{MC_IMAP_SORT_DATE, false}}, 1, "1 4 3 2"},
	{{{MC_IMAP_SORT_DATE, true}}, 1, "2 3 1 4"},
	{{{MC_IMAP_SORT_SIZE, false}}, 1, "2 3 4 1"},
	{{{MC_IMAP_SORT_SUBJECT, false}}, 1, "2 3 1 4"},
	{{{MC_IMAP_SORT_SUBJECT, true}}, 1, "4 1 2 3"},
	{{{MC_IMAP_SORT_FROM, false}}, 1, "2 4 3 1"},
	{{{MC_IMAP_SORT_TO, false}}, 1, "4 3 2 1"},
	{{{MC_IMAP_SORT_CC, false}}, 1, "1 3 2 4"},
	{{{MC_IMAP_SORT_DISPLAYFROM, false}}, 1, "1 2 4 3"},
	{{{MC_IMAP_SORT_DISPLAYTO, false}}, 1, "4 3 2 1"},
	{{{MC_IMAP_SORT_FROM, false}, {MC_IMAP_SORT_SIZE, true}}, 2, "4 2 3 1"},
	{{{MC_IMAP_SORT_SIZE, false}, {MC_IMAP_SORT_DATE, false}},
	 2,
	 "2 4 3 1"},
	{{{MC_IMAP_SORT_ARRIVAL, false},
	  {MC_IMAP_SORT_SIZE, false},
	  {MC_IMAP_SORT_DATE, false}},
	 3,
	 "2 4 3 1"},
	{{{0, false}}, 0, "1 2 3 4"},
};

/* The sequence numbers of msgs as "a b c". */
static void seq_list(const struct mc_imap_sort_msg *msgs, size_t n, char *out,
		     size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%u",
					i > 0 ? " " : "", msgs[i].seq);
}

/* Each key, REVERSE, several criteria, and no criteria. */
static void test_sort_cases(void **state)
{
	size_t n = sizeof(sort_msgs) / sizeof(sort_msgs[0]);
	struct mc_imap_sort_msg msgs[4];
	char got[64];

	(void)state;
	for (size_t i = 0; i < sizeof(sort_cases) / sizeof(sort_cases[0]);
	     i++) {
		for (size_t j = 0; j < n; j++) {
			memset(&msgs[j], 0, sizeof(msgs[j]));
			msgs[j].seq = sort_msgs[j].seq;
			msgs[j].arrival = sort_msgs[j].arrival;
			msgs[j].date = sort_msgs[j].date;
			msgs[j].size = sort_msgs[j].size;
			msgs[j].base_subject = sort_msgs[j].subject;
			msgs[j].from = sort_msgs[j].from;
			msgs[j].to = sort_msgs[j].to;
			msgs[j].cc = sort_msgs[j].cc;
			msgs[j].display_from = sort_msgs[j].dfrom;
			msgs[j].display_to = sort_msgs[j].dto;
		}
		mc_imap_sort(msgs, n, sort_cases[i].c, sort_cases[i].n);
		seq_list(msgs, n, got, sizeof(got));
		if (strcmp(got, sort_cases[i].expected) != 0)
			fail_msg("case %zu: got %s, want %s", i, got,
				 sort_cases[i].expected);
	}
}

/* i;ascii-casemap folds to upper case: '_' sorts after letters. */
static void test_sort_casemap(void **state)
{
	struct mc_imap_sort_msg msgs[3] = {
		{.seq = 1, .base_subject = "_x"},
		{.seq = 2, .base_subject = "Zz"},
		{.seq = 3, .base_subject = "a"},
	};
	struct mc_imap_sort_criterion c = {MC_IMAP_SORT_SUBJECT, false};
	char got[32];

	(void)state;
	mc_imap_sort(msgs, 3, &c, 1);
	seq_list(msgs, 3, got, sizeof(got));
	assert_string_equal(got, "3 2 1");
}

/* Sort-key and algorithm names. */
static void test_names(void **state)
{
	enum mc_imap_sort_key k;
	enum mc_imap_thread_algorithm a;

	(void)state;
	assert_true(mc_imap_sort_key_parse("arrival", &k));
	assert_int_equal(k, MC_IMAP_SORT_ARRIVAL);
	assert_true(mc_imap_sort_key_parse("DISPLAYTO", &k));
	assert_int_equal(k, MC_IMAP_SORT_DISPLAYTO);
	assert_false(mc_imap_sort_key_parse("REVERSE", &k));
	assert_false(mc_imap_sort_key_parse("", &k));
	assert_true(mc_imap_thread_algorithm_parse("references", &a));
	assert_int_equal(a, MC_IMAP_THREAD_REFERENCES);
	assert_true(mc_imap_thread_algorithm_parse("ORDEREDSUBJECT", &a));
	assert_int_equal(a, MC_IMAP_THREAD_ORDEREDSUBJECT);
	assert_false(mc_imap_thread_algorithm_parse("REFS", &a));
}

/* Reply/forward detection by the base subject rules. */
static void test_subject_is_reply(void **state)
{
	static const struct {
		const char *s;
		bool reply;
	} cases[] = {
		{"Re: x", true},	{"RE:x", true},
		{"Fwd: x", true},	{"fw: x", true},
		{"[list] Re: x", true}, {"[a][b] fw: x", true},
		{"re[2]: x", true},	{"  re : x", true},
		{"x (fwd)", true},	{"x (FWD)  ", true},
		{"[Fwd: x]", true},	{"[list] [fwd: x]", true},
		{"x", false},		{"Regards", false},
		{"Re x", false},	{"[list] x", false},
		{"[fwd]", false},	{"", false},
		{"x re: y", false},	{"[unclosed re: x", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (mc_imap_subject_is_reply(cases[i].s) != cases[i].reply)
			fail_msg("\"%s\": want %d", cases[i].s, cases[i].reply);
	}
	assert_false(mc_imap_subject_is_reply(NULL));
}

/* RFC 5957 display keys from display lists. */
static void test_sort_display(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);

	(void)state;
	assert_string_equal(
		mc_imap_sort_display(pool, "Carol Smith <carol@x.org>, b@y"),
		"Carol Smith");
	assert_string_equal(mc_imap_sort_display(pool, "bob@y.org, c@d"),
			    "bob@y.org");
	assert_string_equal(mc_imap_sort_display(pool, "G: a@b.c;"), "a@b.c");
	assert_string_equal(mc_imap_sort_display(pool, ""), "");
	assert_string_equal(mc_imap_sort_display(pool, NULL), "");
	mc_pool_destroy(&pool);
}

/* ---- large sets ---- */

/* Counts the numbers in a THREAD response, checking each of 1..n comes
 * once and the parentheses balance. */
static void check_response(const char *s, size_t n)
{
	unsigned char *seen = calloc(n + 1, 1);
	size_t count = 0;
	long depth = 0;

	assert_non_null(seen);
	while (*s != '\0') {
		if (*s == '(' || *s == ')') {
			depth += *s++ == '(' ? 1 : -1;
			assert_true(depth >= 0);
		} else if (*s == ' ') {
			s++;
		} else {
			char *end;
			unsigned long v = strtoul(s, &end, 10);

			assert_true(end > s && v >= 1 && v <= n);
			assert_int_equal(seen[v], 0);
			seen[v] = 1;
			count++;
			s = end;
		}
	}
	assert_int_equal(depth, 0);
	assert_int_equal(count, n);
	free(seen);
}

/* Seconds of CPU time since start. */
static double elapsed(clock_t start)
{
	return (double)(clock() - start) / CLOCKS_PER_SEC;
}

#define RANDOM_N 20000

/* 20000 messages with random ids, references (loops, duplicates,
 * missing parents, long chains) and subjects: both algorithms quickly,
 * every message once in the output. */
static void test_random_large(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sort_msg *msgs = calloc(RANDOM_N, sizeof(*msgs));
	static const char *subjects[] = {"", "a", "b", "c", "d", "e"};
	clock_t start;
	const char *r;

	(void)state;
	assert_non_null(msgs);
	srand(5256);
	for (uint32_t i = 0; i < RANDOM_N; i++) {
		struct mc_buf refs;
		unsigned nrefs = (unsigned)rand() % 8;

		msgs[i].seq = msgs[i].uid = i + 1;
		msgs[i].date = rand() % 5000;
		msgs[i].base_subject = subjects[rand() % 6];
		msgs[i].reply = rand() % 2;
		msgs[i].message_id = rand() % 20 == 0
					     ? NULL
					     : mc_psprintf(pool, "<%d@r>",
							   rand() % RANDOM_N);
		mc_buf_init(&refs, pool, 0);
		for (unsigned k = 0; k < nrefs; k++)
			mc_buf_printf(&refs, "<%d@r> ", rand() % RANDOM_N);
		msgs[i].references = mc_buf_cstr(&refs);
		msgs[i].in_reply_to =
			mc_psprintf(pool, "<%d@r>", rand() % RANDOM_N);
	}
	start = clock();
	r = thread_str(pool, MC_IMAP_THREAD_REFERENCES, msgs, RANDOM_N, true);
	check_response(r, RANDOM_N);
	r = thread_str(pool, MC_IMAP_THREAD_ORDEREDSUBJECT, msgs, RANDOM_N,
		       false);
	check_response(r, RANDOM_N);
	assert_true(elapsed(start) < 0.5);
	free(msgs);
	mc_pool_destroy(&pool);
}

/* A 10000-deep reply chain with a leaf at every level, and a References
 * header of thousands of ids (the last message: a root, then gathered
 * under the first by subject): no stack exhaustion, bounded time. */
static void test_deep_and_long(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_sort_msg *msgs = calloc(RANDOM_N, sizeof(*msgs));
	struct mc_buf refs;
	clock_t start;
	const char *r;

	(void)state;
	assert_non_null(msgs);
	mc_buf_init(&refs, pool, 0);
	for (int k = 0; k < 5000; k++)
		mc_buf_printf(&refs, "<h%d@x> ", k);
	for (uint32_t i = 0; i < RANDOM_N; i++) {
		msgs[i].seq = msgs[i].uid = i + 1;
		msgs[i].date = i;
		msgs[i].base_subject = "deep";
		msgs[i].reply = i > 0;
		msgs[i].message_id = mc_psprintf(pool, "<%u@d>", i + 1);
		/* odd: the next link of the chain; even: a leaf */
		if (i > 0)
			msgs[i].in_reply_to = mc_psprintf(
				pool, "<%u@d>", i % 2 == 0 ? i - 1 : i);
	}
	msgs[RANDOM_N - 1].references = mc_buf_cstr(&refs);
	start = clock();
	r = thread_str(pool, MC_IMAP_THREAD_REFERENCES, msgs, RANDOM_N, false);
	check_response(r, RANDOM_N);
	assert_true(mc_str_has_prefix(r, "(1 (2)(3 (4)(5 (6)(7 "));
	assert_true(elapsed(start) < 0.5);
	free(msgs);
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_cases),
		cmocka_unit_test(test_thread_uid),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_write_full),
		cmocka_unit_test(test_sort_cases),
		cmocka_unit_test(test_sort_casemap),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_subject_is_reply),
		cmocka_unit_test(test_sort_display),
		cmocka_unit_test(test_random_large),
		cmocka_unit_test(test_deep_and_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
