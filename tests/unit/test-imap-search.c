/* test-imap-search: SEARCH argument trees (built from text by a small
 * builder, not the real parser) into search programs: every RFC 3501 key,
 * MODSEQ, "$", RETURN and CHARSET, the SORT criteria form, limits, error
 * texts, and simplification of trivial trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-imap-search.h"
#include "mailcore/mc-pool.h"

#include <stdio.h>
#include "mc-test.h"

#include <stdlib.h>
#include <string.h>


struct ok_case {
	const char *in;
	const char *dump;
};

static const struct ok_case ok_cases[] = {
	{"ALL", "(AND ALL)"},
	{"answered deleted DRAFT FLAGGED RECENT SEEN",
	 "(AND (FLAG \\Answered) (FLAG \\Deleted) (FLAG \\Draft) "
	 "(FLAG \\Flagged) (FLAG \\Recent) (FLAG \\Seen))"},
	{"UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
	 "(AND (NOFLAG \\Answered) (NOFLAG \\Deleted) (NOFLAG \\Draft) "
	 "(NOFLAG \\Flagged) (NOFLAG \\Seen))"},
	{"NEW", "(AND (AND (FLAG \\Recent) (NOFLAG \\Seen)))"},
	{"OLD", "(AND (NOFLAG \\Recent))"},
	{"KEYWORD $Junk UNKEYWORD $Forwarded",
	 "(AND (KEYWORD $Junk) (NOKEYWORD $Forwarded))"},
	{"BCC a CC b FROM \"Bob Smith\" SUBJECT {5}\r\nhello TO \"\"",
	 "(AND (HEADER BCC \"a\") (HEADER CC \"b\") (HEADER FROM \"Bob Smith\")"
	 " (HEADER SUBJECT \"hello\") (HEADER TO \"\"))"},
	{"HEADER x-spam-flag YES HEADER \"List-Id\" \"a \\\"b\\\"\"",
	 "(AND (HEADER X-SPAM-FLAG \"YES\") (HEADER LIST-ID \"a \\\"b\\\"\"))"},
	{"BODY café TEXT \"x y\"", "(AND (BODY \"café\") (TEXT \"x y\"))"},
	{"BEFORE 1-Feb-1994 ON \"02-Jan-2006\" SINCE 31-Dec-1999",
	 "(AND (DATE INTERNAL < 1994-02-01) (DATE INTERNAL = 2006-01-02) "
	 "(DATE INTERNAL >= 1999-12-31))"},
	{"SENTBEFORE 1-Feb-1994 SENTON 29-Feb-2000 SENTSINCE 1-jan-2024",
	 "(AND (DATE SENT < 1994-02-01) (DATE SENT = 2000-02-29) "
	 "(DATE SENT >= 2024-01-01))"},
	{"LARGER 1024 SMALLER 0 LARGER 9223372036854775807",
	 "(AND (SIZE > 1024) (SIZE < 0) (SIZE > 9223372036854775807))"},
	{"UID 1:* 2,4:7,9 *:3 4294967295",
	 "(AND (UID 1:*) (SEQ 2,4:7,9) (SEQ *:3) (SEQ 4294967295))"},
	{"NOT SEEN", "(AND (NOT (FLAG \\Seen)))"},
	{"NOT NOT NOT DELETED", "(AND (NOT (NOT (NOT (FLAG \\Deleted)))))"},
	{"OR SEEN FLAGGED", "(AND (OR (FLAG \\Seen) (FLAG \\Flagged)))"},
	{"OR (FROM a TO b) NOT OR 1 2 SEEN",
	 "(AND (OR (AND (HEADER FROM \"a\") (HEADER TO \"b\")) "
	 "(NOT (OR (SEQ 1) (SEQ 2)))) (FLAG \\Seen))"},
	{"((ALL))", "(AND (AND (AND ALL)))"},
	{"$ UID $", "(AND (SEQ $) (UID $))"},
	{"MODSEQ 0", "(AND (MODSEQ >= 0))"},
	{"MODSEQ \"/flags/\\\\draft\" all 620162338",
	 "(AND (MODSEQ \"\\\\draft\" all >= 620162338))"},
	{"MODSEQ \"/flags/$Junk\" PRIV 5 MODSEQ \"/FLAGS/\\\\Seen\" shared 9",
	 "(AND (MODSEQ \"$Junk\" priv >= 5) (MODSEQ \"\\\\Seen\" shared >= "
	 "9))"},
};

/* Every ok case parses to its dump. */
static void test_ok_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct mc_imap_arg *args = mc_test_imap_args(pool, ok_cases[i].in, &count);
		struct mc_imap_search *s = NULL;
		const char *error = NULL;
		int ret;

		ret = mc_imap_search_parse(pool, NULL, args, count, &s, &error);
		if (ret != MC_IMAP_SEARCH_OK)
			fail_msg("%s: %s", ok_cases[i].in, error);
		assert_string_equal(mc_imap_search_dump(pool, s->root),
				    ok_cases[i].dump);
		assert_false(s->return_given);
	}
	mc_pool_destroy(&pool);
}

struct bad_case {
	const char *in;
	int status;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{"", MC_IMAP_SEARCH_BAD, "Missing search criteria"},
	{"CHARSET UTF-8", MC_IMAP_SEARCH_BAD, "Missing search criteria"},
	{"CHARSET", MC_IMAP_SEARCH_BAD, "Missing or invalid charset"},
	{"CHARSET ISO-8859-1 ALL", MC_IMAP_SEARCH_BADCHARSET,
	 "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset"},
	{"CHARSET (UTF-8) ALL", MC_IMAP_SEARCH_BAD,
	 "Missing or invalid charset"},
	{"FOO", MC_IMAP_SEARCH_BAD, "Unknown search key: FOO"},
	{"\"ALL\"", MC_IMAP_SEARCH_BAD, "Invalid search key"},
	{"SEEN CHARSET UTF-8", MC_IMAP_SEARCH_BAD,
	 "Unknown search key: CHARSET"},
	{"FROM", MC_IMAP_SEARCH_BAD, "Missing argument for FROM"},
	{"FROM (a)", MC_IMAP_SEARCH_BAD, "Invalid argument for FROM"},
	{"FROM NIL", MC_IMAP_SEARCH_BAD, "Invalid argument for FROM"},
	{"HEADER X", MC_IMAP_SEARCH_BAD, "Missing argument for HEADER"},
	{"HEADER \"a:b\" x", MC_IMAP_SEARCH_BAD, "Invalid argument for HEADER"},
	{"HEADER \"\" x", MC_IMAP_SEARCH_BAD, "Invalid argument for HEADER"},
	{"KEYWORD \\Seen", MC_IMAP_SEARCH_BAD, "Invalid argument for KEYWORD"},
	{"KEYWORD \"x\"", MC_IMAP_SEARCH_BAD, "Invalid argument for KEYWORD"},
	{"SINCE 30-Feb-2006", MC_IMAP_SEARCH_BAD, "Invalid date for SINCE"},
	{"ON \"2-Jan-2006 10:00:00 +0000\"", MC_IMAP_SEARCH_BAD,
	 "Invalid date for ON"},
	{"BEFORE 2006-01-02", MC_IMAP_SEARCH_BAD, "Invalid date for BEFORE"},
	{"SENTON", MC_IMAP_SEARCH_BAD, "Missing argument for SENTON"},
	{"LARGER -1", MC_IMAP_SEARCH_BAD, "Invalid argument for LARGER"},
	{"SMALLER 9223372036854775808", MC_IMAP_SEARCH_BAD,
	 "Invalid argument for SMALLER"},
	{"LARGER \"5\"", MC_IMAP_SEARCH_BAD, "Invalid argument for LARGER"},
	{"UID 0", MC_IMAP_SEARCH_BAD, "Invalid UID sequence set"},
	{"UID 1:", MC_IMAP_SEARCH_BAD, "Invalid UID sequence set"},
	{"UID $,1", MC_IMAP_SEARCH_BAD, "Invalid UID sequence set"},
	{"1,,2", MC_IMAP_SEARCH_BAD, "Invalid sequence set"},
	{"4294967296", MC_IMAP_SEARCH_BAD, "Invalid sequence set"},
	{"01", MC_IMAP_SEARCH_BAD, "Invalid sequence set"},
	{"NOT", MC_IMAP_SEARCH_BAD, "Missing argument for NOT"},
	{"OR SEEN", MC_IMAP_SEARCH_BAD, "Missing argument for OR"},
	{"OR SEEN FOO", MC_IMAP_SEARCH_BAD, "Unknown search key: FOO"},
	{"()", MC_IMAP_SEARCH_BAD, "Empty search key list"},
	{"MODSEQ", MC_IMAP_SEARCH_BAD, "Missing argument for MODSEQ"},
	{"MODSEQ x", MC_IMAP_SEARCH_BAD, "Invalid MODSEQ entry name"},
	{"MODSEQ \"/flags/\\\\Bogus\" all 1", MC_IMAP_SEARCH_BAD,
	 "Invalid MODSEQ entry name"},
	{"MODSEQ \"/flags/$x\" both 1", MC_IMAP_SEARCH_BAD,
	 "Invalid MODSEQ entry type"},
	{"MODSEQ \"/flags/$x\" all", MC_IMAP_SEARCH_BAD,
	 "Missing argument for MODSEQ"},
	{"MODSEQ \"/flags/$x\" all y", MC_IMAP_SEARCH_BAD,
	 "Invalid MODSEQ value"},
	{"MODSEQ 9223372036854775808", MC_IMAP_SEARCH_BAD,
	 "Invalid MODSEQ entry name"},
	{"RETURN ALL", MC_IMAP_SEARCH_BAD, "RETURN needs a list of options"},
	{"RETURN (MIN FOO) ALL", MC_IMAP_SEARCH_BAD,
	 "Unknown RETURN option: FOO"},
	{"RETURN (MIN)", MC_IMAP_SEARCH_BAD, "Missing search criteria"},
	{"CHARSET UTF-8 BODY \"\xc3\x28\"", MC_IMAP_SEARCH_BAD,
	 "Invalid UTF-8 in BODY"},
	{"CHARSET UTF-8 TEXT \"\xed\xa0\x80\"", MC_IMAP_SEARCH_BAD,
	 "Invalid UTF-8 in TEXT"},
	{"CHARSET UTF-8 TEXT \"\xe0\x80\xaf\"", MC_IMAP_SEARCH_BAD,
	 "Invalid UTF-8 in TEXT"},
};

/* Every bad case fails with its status and text. */
static void test_bad_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct mc_imap_arg *args = mc_test_imap_args(pool, bad_cases[i].in, &count);
		struct mc_imap_search *s = NULL;
		const char *error = NULL;
		int ret;

		ret = mc_imap_search_parse(pool, NULL, args, count, &s, &error);
		if (ret != bad_cases[i].status)
			fail_msg("%s: status %d", bad_cases[i].in, ret);
		assert_non_null(error);
		assert_string_equal(error, bad_cases[i].error);
	}
	mc_pool_destroy(&pool);
}

/* A literal with a NUL is refused; 8-bit text passes without UTF-8. */
static void test_nul_and_8bit(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_arg args[2] = {
		{.type = MC_IMAP_ARG_ATOM, .str = "BODY", .len = 4},
		{.type = MC_IMAP_ARG_LITERAL, .str = "a\0b", .len = 3},
	};
	struct mc_imap_search *s = NULL;
	const char *error = NULL;

	(void)state;
	assert_int_equal(mc_imap_search_parse(pool, NULL, args, 2, &s, &error),
			 MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Invalid argument for BODY");
	args[1].str = "\xe9t\xe9";
	args[1].len = 3;
	assert_int_equal(mc_imap_search_parse(pool, NULL, args, 2, &s, &error),
			 MC_IMAP_SEARCH_OK);
	assert_string_equal(s->root->children[0]->value, "\xe9t\xe9");
	mc_pool_destroy(&pool);
}

struct opts_case {
	const char *in;
	bool given;
	unsigned opts;
	enum mc_imap_search_charset charset;
	bool modseq, saved;
};

static const struct opts_case opts_cases[] = {
	{"ALL", false, 0, MC_IMAP_SEARCH_CHARSET_NONE, false, false},
	{"RETURN () ALL", true, MC_IMAP_SEARCH_RETURN_ALL,
	 MC_IMAP_SEARCH_CHARSET_NONE, false, false},
	{"return (min MAX count) CHARSET us-ascii 1", true,
	 MC_IMAP_SEARCH_RETURN_MIN | MC_IMAP_SEARCH_RETURN_MAX |
		 MC_IMAP_SEARCH_RETURN_COUNT,
	 MC_IMAP_SEARCH_CHARSET_US_ASCII, false, false},
	{"RETURN (SAVE ALL) charset \"utf-8\" MODSEQ 3", true,
	 MC_IMAP_SEARCH_RETURN_SAVE | MC_IMAP_SEARCH_RETURN_ALL,
	 MC_IMAP_SEARCH_CHARSET_UTF8, true, false},
	{"OR $ NOT MODSEQ 1 SEEN", false, 0, MC_IMAP_SEARCH_CHARSET_NONE, true,
	 true},
};

/* RETURN options, charset and the uses_* flags. */
static void test_options(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(opts_cases) / sizeof(opts_cases[0]); i++) {
		const struct opts_case *c = &opts_cases[i];
		struct mc_imap_arg *args = mc_test_imap_args(pool, c->in, &count);
		struct mc_imap_search *s = NULL;
		const char *error = NULL;

		assert_int_equal(mc_imap_search_parse(pool, NULL, args, count,
						      &s, &error),
				 MC_IMAP_SEARCH_OK);
		assert_int_equal(s->return_given, c->given);
		assert_int_equal(s->return_opts, c->opts);
		assert_int_equal(s->charset, c->charset);
		assert_int_equal(s->uses_modseq, c->modseq);
		assert_int_equal(s->uses_saved, c->saved);
	}
	mc_pool_destroy(&pool);
}

/* The SORT / THREAD form: a bare mandatory charset, no RETURN. */
static void test_criteria_form(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_search *s = NULL;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;

	(void)state;
	args = mc_test_imap_args(pool, "UTF-8 SUBJECT x", &count);
	assert_int_equal(mc_imap_search_parse_criteria(pool, NULL, args, count,
						       &s, &error),
			 MC_IMAP_SEARCH_OK);
	assert_int_equal(s->charset, MC_IMAP_SEARCH_CHARSET_UTF8);
	assert_string_equal(mc_imap_search_dump(pool, s->root),
			    "(AND (HEADER SUBJECT \"x\"))");
	args = mc_test_imap_args(pool, "SEEN", &count);
	assert_int_equal(mc_imap_search_parse_criteria(pool, NULL, args, count,
						       &s, &error),
			 MC_IMAP_SEARCH_BADCHARSET);
	args = mc_test_imap_args(pool, "US-ASCII", &count);
	assert_int_equal(mc_imap_search_parse_criteria(pool, NULL, args, count,
						       &s, &error),
			 MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Missing search criteria");
	args = mc_test_imap_args(pool, "UTF-8 RETURN (ALL) SEEN", &count);
	assert_int_equal(mc_imap_search_parse_criteria(pool, NULL, args, count,
						       &s, &error),
			 MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Unknown search key: RETURN");
	mc_pool_destroy(&pool);
}

/* A text of n times word followed by tail. */
static char *repeat(const char *word, unsigned n, const char *tail)
{
	size_t wl = strlen(word), i;
	char *s = mc_malloc(wl * n + strlen(tail) + 1);

	for (i = 0; i < n; i++)
		memcpy(s + i * wl, word, wl);
	strcpy(s + wl * n, tail);
	return s;
}

/* Nesting depth and key count limits, defaults and settings. */
static void test_limits(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_search_settings set = {.max_depth = 3, .max_keys = 4};
	struct mc_imap_search *s = NULL;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;
	char *text;

	(void)state;
	args = mc_test_imap_args(pool, "NOT NOT NOT SEEN", &count);
	assert_int_equal(
		mc_imap_search_parse(pool, &set, args, count, &s, &error),
		MC_IMAP_SEARCH_OK);
	args = mc_test_imap_args(pool, "NOT (NOT (SEEN))", &count);
	assert_int_equal(
		mc_imap_search_parse(pool, &set, args, count, &s, &error),
		MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Search keys nested too deeply");
	args = mc_test_imap_args(pool, "SEEN SEEN SEEN SEEN SEEN", &count);
	assert_int_equal(
		mc_imap_search_parse(pool, &set, args, count, &s, &error),
		MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Too many search keys");
	text = repeat("NOT ", 100000, "SEEN");
	args = mc_test_imap_args(pool, text, &count);
	assert_int_equal(
		mc_imap_search_parse(pool, NULL, args, count, &s, &error),
		MC_IMAP_SEARCH_BAD);
	assert_string_equal(error, "Search keys nested too deeply");
	free(text);
	text = repeat("SEEN ", MC_IMAP_SEARCH_DEFAULT_KEYS, "");
	args = mc_test_imap_args(pool, text, &count);
	assert_int_equal(
		mc_imap_search_parse(pool, NULL, args, count, &s, &error),
		MC_IMAP_SEARCH_OK);
	free(text);
	mc_pool_destroy(&pool);
}

static const struct ok_case simplify_cases[] = {
	{"SEEN", "(FLAG \\Seen)"},
	{"NOT NOT SEEN", "(FLAG \\Seen)"},
	{"NOT NOT NOT SEEN", "(NOFLAG \\Seen)"},
	{"NOT UNKEYWORD $x", "(KEYWORD $x)"},
	{"NOT FROM a", "(NOT (HEADER FROM \"a\"))"},
	{"NOT NOT (NOT NOT FROM a)", "(HEADER FROM \"a\")"},
	{"((SEEN) (1:3 (ALL UID 5)))", "(AND (FLAG \\Seen) (SEQ 1:3) (UID 5))"},
	{"ALL (ALL)", "ALL"},
	{"OR SEEN OR FLAGGED DRAFT",
	 "(OR (FLAG \\Seen) (FLAG \\Flagged) (FLAG \\Draft))"},
	{"OR SEEN ALL", "ALL"},
	{"NEW DELETED",
	 "(AND (FLAG \\Recent) (NOFLAG \\Seen) (FLAG \\Deleted))"},
	{"NOT (NOT SEEN NOT DELETED)",
	 "(NOT (AND (NOFLAG \\Seen) (NOFLAG \\Deleted)))"},
};

/* Simplification of trivial trees. */
static void test_simplify(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(simplify_cases) / sizeof(simplify_cases[0]);
	     i++) {
		struct mc_imap_arg *args =
			mc_test_imap_args(pool, simplify_cases[i].in, &count);
		struct mc_imap_search *s = NULL;
		struct mc_imap_search_node *root;
		const char *error = NULL;

		assert_int_equal(mc_imap_search_parse(pool, NULL, args, count,
						      &s, &error),
				 MC_IMAP_SEARCH_OK);
		root = mc_imap_search_simplify(pool, s->root);
		assert_string_equal(mc_imap_search_dump(pool, root),
				    simplify_cases[i].dump);
	}
	mc_pool_destroy(&pool);
}

/* Node fields callers rely on: dates at midnight UTC, header names, parsed
 * sequence sets. */
static void test_node_fields(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_search *s = NULL;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;

	(void)state;
	args = mc_test_imap_args(pool, "SINCE 2-Jan-2006 HEADER subject x", &count);
	assert_int_equal(
		mc_imap_search_parse(pool, NULL, args, count, &s, &error),
		MC_IMAP_SEARCH_OK);
	assert_int_equal(s->root->child_count, 2);
	assert_int_equal(s->root->children[0]->kind, MC_IMAP_SEARCH_DATE);
	assert_int_equal(s->root->children[0]->date, 1136160000);
	assert_int_equal(s->root->children[0]->cmp, MC_IMAP_SEARCH_GE);
	assert_string_equal(s->root->children[1]->name, "SUBJECT");
	assert_int_equal(s->key_count, 2);
	args = mc_test_imap_args(pool, "UID 3:1,5 $", &count);
	assert_int_equal(
		mc_imap_search_parse(pool, NULL, args, count, &s, &error),
		MC_IMAP_SEARCH_OK);
	assert_int_equal(s->root->children[0]->kind, MC_IMAP_SEARCH_UIDSET);
	assert_int_equal(s->root->children[0]->seqset.count, 2);
	assert_int_equal(s->root->children[0]->seqset.ranges[0].lo, 1);
	assert_int_equal(s->root->children[0]->seqset.ranges[0].hi, 3);
	assert_false(s->root->children[0]->saved);
	assert_int_equal(s->root->children[1]->kind, MC_IMAP_SEARCH_SEQSET);
	assert_true(s->root->children[1]->saved);
	assert_true(s->root->children[1]->seqset.dollar);
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_cases),
		cmocka_unit_test(test_bad_cases),
		cmocka_unit_test(test_nul_and_8bit),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_criteria_form),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_simplify),
		cmocka_unit_test(test_node_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
