/* test-imap-write: IMAP response strings: astring/string/nstring choose
 * atom, quoted or literal form correctly (CR/LF/NUL, 8-bit with and
 * without UTF-8, the 1000-byte limit), flag lists, and modified UTF-7
 * both ways with the strict decoder's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *in;
	bool utf8;
	const char *astring, *string;
} str_cases[] = {
	{"INBOX", false, "INBOX", "\"INBOX\""},
	{"a]b", false, "a]b", "\"a]b\""},
	{"", false, "\"\"", "\"\""},
	{"NIL", false, "\"NIL\"", "\"NIL\""},
	{"nil", false, "\"nil\"", "\"nil\""},
	{"two words", false, "\"two words\"", "\"two words\""},
	{"q\"b\\s", false, "\"q\\\"b\\\\s\"", "\"q\\\"b\\\\s\""},
	{"a*b", false, "\"a*b\"", "\"a*b\""},
	{"(x)", false, "\"(x)\"", "\"(x)\""},
	{"{5}", false, "\"{5}\"", "\"{5}\""},
	{"l1\r\nl2", false, "{6}\r\nl1\r\nl2", "{6}\r\nl1\r\nl2"},
	{"caf\xc3\xa9", false, "{5}\r\ncaf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"},
	{"caf\xc3\xa9", true, "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
	{"bad\xc3", true, "{4}\r\nbad\xc3", "{4}\r\nbad\xc3"},
	{"tab\there", false, "\"tab\there\"", "\"tab\there\""},
};

/* The output of one writer call (heap). */
static char *out_of(int which, const char *s, size_t len, bool utf8)
{
	struct mc_buf b;
	char *r;

	mc_buf_init(&b, NULL, 0);
	if (which == 0)
		assert_true(mc_imap_write_atom_or_string(&b, s, utf8));
	else if (which == 1)
		assert_true(mc_imap_write_string(&b, s, len, utf8));
	else
		assert_true(mc_imap_write_nstring(&b, s, len, utf8));
	r = mc_malloc(b.len + 1);
	memcpy(r, mc_buf_cstr(&b), b.len + 1);
	mc_buf_free(&b);
	return r;
}

/* astring and string forms. */
static void test_strings(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(str_cases) / sizeof(str_cases[0]); i++) {
		const char *in = str_cases[i].in;
		char *a = out_of(0, in, strlen(in), str_cases[i].utf8);
		char *s = out_of(1, in, strlen(in), str_cases[i].utf8);

		print_message("case: %s\n", in);
		assert_string_equal(a, str_cases[i].astring);
		assert_string_equal(s, str_cases[i].string);
		free(a);
		free(s);
	}
}

/* NUL, the 1000-byte limit, nstring's NIL, and a full buffer. */
static void test_literal_cases(void **state)
{
	char big[1002];
	char *r;
	struct mc_buf b;

	(void)state;
	r = out_of(1, "a\0b", 3, true);
	assert_memory_equal(r, "{3}\r\na", 6);
	free(r);
	memset(big, 'x', sizeof(big) - 1);
	big[1000] = '\0';
	r = out_of(1, big, 1000, false);
	assert_int_equal(r[0], '"');
	assert_int_equal(strlen(r), 1002);
	free(r);
	big[1000] = 'x';
	big[1001] = '\0';
	r = out_of(1, big, 1001, false);
	assert_true(strncmp(r, "{1001}\r\nxx", 10) == 0);
	free(r);
	r = out_of(2, NULL, 0, false);
	assert_string_equal(r, "NIL");
	free(r);
	r = out_of(2, "NIL", 3, false);
	assert_string_equal(r, "\"NIL\"");
	free(r);
	mc_buf_init(&b, NULL, 4);
	assert_false(mc_imap_write_string(&b, "hello", 5, false));
	mc_buf_free(&b);
}

/* Flag lists in the fixed order, keywords after, bad keywords left out. */
static void test_flags(void **state)
{
	static const char *const kw[] = {"$Forwarded", "bad kw", "",
					 "Junk",       "\\X",	 "a]"};
	static const struct {
		unsigned bits;
		size_t n;
		const char *out;
	} cases[] = {
		{0, 0, "()"},
		{0x01, 0, "(\\Seen)"},
		{0x1f, 0, "(\\Seen \\Answered \\Flagged \\Deleted \\Draft)"},
		{0x0a, 0, "(\\Answered \\Deleted)"},
		{0x10, 6, "(\\Draft $Forwarded Junk)"},
		{0, 6, "($Forwarded Junk)"},
		{0xe0, 0, "()"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_buf b;

		mc_buf_init(&b, NULL, 0);
		assert_true(
			mc_imap_write_flags(&b, cases[i].bits, kw, cases[i].n));
		assert_string_equal(mc_buf_cstr(&b), cases[i].out);
		mc_buf_free(&b);
	}
}

static const struct {
	const char *utf8, *mutf7;
} utf7_pairs[] = {
	{"INBOX", "INBOX"},
	{"", ""},
	{"&", "&-"},
	{"Tom & Jerry", "Tom &- Jerry"},
	{"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8"
	 "\xaa\x9e",
	 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	{"\xe5\x8f\xb0", "&U,A-"},
	{"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
	{"\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-"},
	{"\xf0\x9f\x98\x80", "&2D3eAA-"},
	{"a\tb", "a&AAk-b"},
	{"\xe2\x98\xba!", "&Jjo-!"},
};

/* Encode and decode the same pairs. */
static void test_utf7_pairs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf7_pairs) / sizeof(utf7_pairs[0]);
	     i++) {
		struct mc_buf b;

		mc_buf_init(&b, NULL, 0);
		assert_true(mc_imap_utf7_encode(utf7_pairs[i].utf8, &b));
		assert_string_equal(mc_buf_cstr(&b), utf7_pairs[i].mutf7);
		mc_buf_clear(&b);
		assert_true(mc_imap_utf7_decode(utf7_pairs[i].mutf7, &b));
		assert_string_equal(mc_buf_cstr(&b), utf7_pairs[i].utf8);
		mc_buf_free(&b);
	}
}

/* Malformed input is refused both ways. */
static void test_utf7_invalid(void **state)
{
	static const char *const bad_utf7[] = {
		"&",	      /* unterminated */
		"&U,BTFw",    /* no "-" */
		"&AGE-",      /* "a" must stand for itself */
		"&AOk",	      /* unterminated */
		"&AOkA-",     /* one char too many: not minimal */
		"&AOl-",      /* non-zero padding bits */
		"&2D0-",      /* lone high surrogate */
		"&3gA-",      /* lone low surrogate */
		"&AOk-&AOk-", /* adjacent shifts: not minimal */
		"&A/k-",      /* "/" is not modified BASE64 */
		"a\xc3\xa9",  /* 8-bit */
		"a\tb",	      /* control */
		"&AAA-",      /* U+0000 */
		"&A-",	      /* too short */
	};
	static const char *const bad_utf8[] = {"\xc3", "\xc0\xaf",
					       "\xed\xa0\x80",
					       "\xf4\x90\x80\x80", "a\xff"};
	struct mc_buf b;

	(void)state;
	mc_buf_init(&b, NULL, 0);
	for (size_t i = 0; i < sizeof(bad_utf7) / sizeof(bad_utf7[0]); i++) {
		print_message("case: %s\n", bad_utf7[i]);
		mc_buf_clear(&b);
		assert_false(mc_imap_utf7_decode(bad_utf7[i], &b));
	}
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		mc_buf_clear(&b);
		assert_false(mc_imap_utf7_encode(bad_utf8[i], &b));
	}
	mc_buf_free(&b);
}

/* Every BMP and some astral code points survive a round trip. */
static void test_utf7_roundtrip(void **state)
{
	struct mc_buf u, m, d;

	(void)state;
	mc_buf_init(&u, NULL, 0);
	mc_buf_init(&m, NULL, 0);
	mc_buf_init(&d, NULL, 0);
	for (uint32_t cp = 1; cp < 0x110000; cp += cp < 0x10000 ? 1 : 97) {
		char s[8];
		size_t n = 0;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x80) {
			s[n++] = (char)cp;
		} else if (cp < 0x800) {
			s[n++] = (char)(0xc0 | cp >> 6);
			s[n++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			s[n++] = (char)(0xe0 | cp >> 12);
			s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[n++] = (char)(0x80 | (cp & 0x3f));
		} else {
			s[n++] = (char)(0xf0 | cp >> 18);
			s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[n++] = (char)(0x80 | (cp & 0x3f));
		}
		s[n++] = 'x';
		s[n] = '\0';
		mc_buf_clear(&m);
		mc_buf_clear(&d);
		assert_true(mc_imap_utf7_encode(s, &m));
		assert_true(mc_imap_utf7_decode(mc_buf_cstr(&m), &d));
		assert_string_equal(mc_buf_cstr(&d), s);
	}
	mc_buf_free(&u);
	mc_buf_free(&m);
	mc_buf_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_literal_cases),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_utf7_pairs),
		cmocka_unit_test(test_utf7_invalid),
		cmocka_unit_test(test_utf7_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
