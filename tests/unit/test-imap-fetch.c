/* test-imap-fetch: FETCH item argument trees (built from text by a small
 * builder, not the real parser) into requests: simple items, macros,
 * BODY / BODY.PEEK / BINARY sections and partials with their echoed
 * names, RFC822 forms, modifiers, \Seen, and error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-fetch.h"
#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-pool.h"

#include "mc-test.h"

#include <stdlib.h>
#include <string.h>


struct ok_case {
	const char *in;
	bool uid;
	const char *dump;
	bool seen;
};

static const struct ok_case ok_cases[] = {
	{"FLAGS", false, "FLAGS", false},
	{"(flags internaldate rfc822.size envelope body bodystructure uid "
	 "modseq)",
	 false,
	 "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID "
	 "MODSEQ",
	 false},
	{"FAST", false, "FLAGS INTERNALDATE RFC822.SIZE", false},
	{"all", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE", false},
	{"FULL", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY", false},
	{"FLAGS", true, "FLAGS UID", false},
	{"(FLAGS FLAGS UID)", false, "FLAGS UID", false},
	{"BODY[]", false, "BODY[]///WHOLE//", true},
	{"BODY.PEEK[]", false, "BODY[]/P//WHOLE//", false},
	{"(FLAGS BODY.PEEK[HEADER])", false, "FLAGS BODY[HEADER]/P//HEADER//",
	 false},
	{"body[text]<0.2048>", false, "BODY[TEXT]<0>///TEXT//0.2048", true},
	{"BODY[1.2.3]", false, "BODY[1.2.3]//1.2.3/WHOLE//", true},
	{"BODY.PEEK[2.MIME]", false, "BODY[2.MIME]/P/2/MIME//", false},
	{"BODY.PEEK[4.2.HEADER]<10.1>", false,
	 "BODY[4.2.HEADER]<10>/P/4.2/HEADER//10.1", false},
	{"BODY.PEEK[3.TEXT]", false, "BODY[3.TEXT]/P/3/TEXT//", false},
	{"BODY[HEADER.FIELDS (From to)]<0.100>", false,
	 "BODY[HEADER.FIELDS (FROM TO)]<0>///FIELDS/FROM,TO/0.100", true},
	{"BODY.PEEK[1.HEADER.FIELDS.NOT (\"X-Spam\" Received)]", false,
	 "BODY[1.HEADER.FIELDS.NOT (X-SPAM RECEIVED)]/P/1/FIELDS.NOT/"
	 "X-SPAM,RECEIVED/",
	 false},
	{"BODY.PEEK[HEADER.FIELDS (\"x]y\" a)]", false,
	 "BODY[HEADER.FIELDS (\"X]Y\" A)]/P//FIELDS/X]Y,A/", false},
	{"BINARY[1]", false, "BINARY[1]/B/1/WHOLE//", true},
	{"BINARY.PEEK[1.2]<5.10>", false, "BINARY[1.2]<5>/PB/1.2/WHOLE//5.10",
	 false},
	{"BINARY.PEEK[]", false, "BINARY[]/PB//WHOLE//", false},
	{"BINARY.SIZE[3]", false, "BINARY.SIZE[3]/PBS/3/WHOLE//", false},
	{"RFC822", false, "RFC822///WHOLE//", true},
	{"RFC822.HEADER", false, "RFC822.HEADER/P//HEADER//", false},
	{"(RFC822.TEXT RFC822.SIZE)", false, "RFC822.SIZE RFC822.TEXT///TEXT//",
	 true},
	{"(BODY.PEEK[1] BODY[1])", false, "BODY[1]//1/WHOLE//", true},
	{"(BODY.PEEK[1] BODY.PEEK[1]<0.5> BODY.PEEK[1]<0.9>)", false,
	 "BODY[1]/P/1/WHOLE// BODY[1]<0>/P/1/WHOLE//0.5 "
	 "BODY[1]<0>/P/1/WHOLE//0.9",
	 false},
	{"BODY[]<9223372036854775807.1>", false,
	 "BODY[]<9223372036854775807>///WHOLE//9223372036854775807.1", true},
	{"FLAGS (CHANGEDSINCE 12345)", false, "FLAGS MODSEQ CHANGEDSINCE=12345",
	 false},
	{"FLAGS (changedsince 0 vanished)", true,
	 "FLAGS UID MODSEQ CHANGEDSINCE=0 VANISHED", false},
	{"FLAGS (VANISHED CHANGEDSINCE 9223372036854775807)", true,
	 "FLAGS UID MODSEQ CHANGEDSINCE=9223372036854775807 VANISHED", false},
};

/* Every ok case gives its dump and \Seen answer. */
static void test_ok_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct mc_imap_arg *args = mc_test_imap_args(pool, c->in, &count);
		struct mc_imap_fetch *f = NULL;
		const char *error = NULL;

		if (!mc_imap_fetch_parse(pool, args, count, c->uid, &f, &error))
			fail_msg("%s: %s", c->in, error);
		assert_string_equal(mc_imap_fetch_dump(pool, f), c->dump);
		if (mc_imap_fetch_sets_seen(f) != c->seen)
			fail_msg("%s: seen", c->in);
	}
	mc_pool_destroy(&pool);
}

struct bad_case {
	const char *in;
	bool uid;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{"", false, "Missing fetch items"},
	{"FLAGS (CHANGEDSINCE 1) x", false, "Unexpected arguments after FETCH"},
	{"()", false, "Empty fetch item list"},
	{"FOO", false, "Unknown fetch item: FOO"},
	{"(FLAGS FOO)", false, "Unknown fetch item: FOO"},
	{"(ALL)", false, "Macro not allowed in a list: ALL"},
	{"\"FLAGS\"", false, "Invalid fetch item"},
	{"(FLAGS (UID))", false, "Invalid fetch item"},
	{"BODY.PEEK", false, "Unknown fetch item: BODY.PEEK"},
	{"BODY[", false, "Invalid section: BODY["},
	{"BODY[0]", false, "Invalid section: BODY[0]"},
	{"BODY[1.0]", false, "Invalid section: BODY[1.0]"},
	{"BODY[01]", false, "Invalid section: BODY[01]"},
	{"BODY[1.]", false, "Invalid section: BODY[1.]"},
	{"BODY[4294967296]", false, "Invalid section: BODY[4294967296]"},
	{"BODY[MIME]", false, "Invalid section: BODY[MIME]"},
	{"BODY[1TEXT]", false, "Invalid section: BODY[1TEXT]"},
	{"BODY[HEADERX]", false, "Invalid section: BODY[HEADERX]"},
	{"BODY[HEADER.FIELDS]", false, "Invalid section: BODY[HEADER.FIELDS]"},
	{"BODY[HEADER.FIELDS ()]", false,
	 "Invalid section: BODY[HEADER.FIELDS ()]"},
	{"BODY[HEADER.FIELDS (A  B)]", false,
	 "Invalid section: BODY[HEADER.FIELDS (A  B)]"},
	{"BODY[HEADER.FIELDS (\"a:b\")]", false,
	 "Invalid section: BODY[HEADER.FIELDS (\"a:b\")]"},
	{"BODY[HEADER.FIELDS (\"ab)]", false,
	 "Invalid section: BODY[HEADER.FIELDS (\"ab)]"},
	{"BINARY[HEADER]", false, "Invalid section: BINARY[HEADER]"},
	{"BINARY[1.MIME]", false, "Invalid section: BINARY[1.MIME]"},
	{"BINARY.SIZE[1]<0.1>", false,
	 "Invalid fetch item: BINARY.SIZE[1]<0.1>"},
	{"BODY[]<0.0>", false, "Invalid partial: BODY[]<0.0>"},
	{"BODY[]<0>", false, "Invalid partial: BODY[]<0>"},
	{"BODY[]<1.2", false, "Invalid partial: BODY[]<1.2"},
	{"BODY[]<9223372036854775808.1>", false,
	 "Invalid partial: BODY[]<9223372036854775808.1>"},
	{"BODY[]x", false, "Invalid fetch item: BODY[]x"},
	{"FLAGS FLAGS", false, "Invalid FETCH modifiers"},
	{"FLAGS ()", false, "Invalid FETCH modifiers"},
	{"FLAGS (FOO)", false, "Invalid FETCH modifier"},
	{"FLAGS (CHANGEDSINCE)", false, "Invalid CHANGEDSINCE"},
	{"FLAGS (CHANGEDSINCE x)", false, "Invalid CHANGEDSINCE"},
	{"FLAGS (CHANGEDSINCE -1)", false, "Invalid CHANGEDSINCE"},
	{"FLAGS (CHANGEDSINCE 9223372036854775808)", false,
	 "Invalid CHANGEDSINCE"},
	{"FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", false,
	 "Invalid CHANGEDSINCE"},
	{"FLAGS (VANISHED VANISHED CHANGEDSINCE 1)", true,
	 "Invalid FETCH modifier"},
	{"FLAGS (CHANGEDSINCE 1 VANISHED)", false,
	 "VANISHED is only allowed with UID FETCH"},
	{"FLAGS (VANISHED)", true, "VANISHED requires CHANGEDSINCE"},
};

/* Every bad case fails with its text. */
static void test_bad_cases(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct mc_imap_arg *args = mc_test_imap_args(pool, c->in, &count);
		struct mc_imap_fetch *f = NULL;
		const char *error = NULL;

		if (mc_imap_fetch_parse(pool, args, count, c->uid, &f, &error))
			fail_msg("%s: accepted", c->in);
		assert_string_equal(error, c->error);
	}
	mc_pool_destroy(&pool);
}

/* The request's fields, beyond what the dump shows. */
static void test_part_fields(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_imap_fetch *f = NULL;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;

	(void)state;
	args = mc_test_imap_args(pool,
		     "(UID BODY.PEEK[1.2.HEADER.FIELDS (subject)]<100.200>)",
		     &count);
	assert_true(mc_imap_fetch_parse(pool, args, count, false, &f, &error));
	assert_int_equal(f->items, MC_IMAP_FETCH_UID);
	assert_int_equal(f->part_count, 1);
	assert_true(f->parts[0].peek);
	assert_false(f->parts[0].binary);
	assert_string_equal(f->parts[0].part, "1.2");
	assert_int_equal(f->parts[0].section,
			 MC_IMAP_FETCH_SECTION_HEADER_FIELDS);
	assert_int_equal(f->parts[0].field_count, 1);
	assert_string_equal(f->parts[0].fields[0], "SUBJECT");
	assert_true(f->parts[0].partial);
	assert_int_equal(f->parts[0].offset, 100);
	assert_int_equal(f->parts[0].length, 200);
	assert_string_equal(f->parts[0].name,
			    "BODY[1.2.HEADER.FIELDS (SUBJECT)]<100>");
	assert_false(f->changedsince_given);
	assert_false(f->vanished);
	mc_pool_destroy(&pool);
}

/* A long unknown item is not quoted back whole. */
static void test_long_item_error(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	char text[200];
	struct mc_imap_fetch *f = NULL;
	const char *error = NULL;
	struct mc_imap_arg *args;
	size_t count;

	(void)state;
	memset(text, 'X', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	args = mc_test_imap_args(pool, text, &count);
	assert_false(mc_imap_fetch_parse(pool, args, count, false, &f, &error));
	assert_string_equal(error, "Unknown fetch item");
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_cases),
		cmocka_unit_test(test_bad_cases),
		cmocka_unit_test(test_part_fields),
		cmocka_unit_test(test_long_item_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
