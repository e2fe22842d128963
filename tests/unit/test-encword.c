/* test-encword: RFC 2047 decoding on real-world headers (good and broken,
 * many charsets, Outlook and Apple Mail styles), charset conversion,
 * encoding with folding checked by decoding back, and random input that
 * must not crash and must always yield valid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-str.h"

#include <string.h>

static const struct {
	const char *in, *out;
} decode_cases[] = {
	{"=?utf-8?Q?J=C3=B6rg?= Müller", "Jörg Müller"},
	{"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"},
	{"=?ISO-8859-1?Q?a?=\r\n =?ISO-8859-1?Q?b?=", "ab"},
	{"=?ISO-8859-1?Q?a?=\r\n\t  =?iso-8859-1?q?b?=", "ab"},
	{"=?ISO-8859-1?Q?a?= b =?ISO-8859-1?Q?c?=", "a b c"},
	{"=?utf-8?B?w7Z3w7Z3?=", "öwöw"},
	{"=?utf-8?B?4pw=?= =?utf-8?B?kw==?=", "\xe2\x9c\x93"},
	{"=?UTF-8*en?Q?hi_there?=", "hi there"},
	{"=?utf-8*de-DE?B?w7Y=?=", "ö"},
	{"=?x-bogus?Q?hi?=", "=?x-bogus?Q?hi?="},
	{"=?x-bogus?Q?hi?= =?utf-8?Q?a?=", "=?x-bogus?Q?hi?= a"},
	{"=?utf-8?Q?broken", "=?utf-8?Q?broken"},
	{"caf\xe9", "café"},
	{"caf\xc3\xa9 \x93quoted\x94", "café “quoted”"},
	{"=?gb2312?B?xOO6ww==?=", "你好"},
	{"=?GB2312?B?xOO6ww==?=", "你好"},
	{"=?shift_jis?B?g2WDWINn?=", "テスト"},
	{"=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "テスト"},
	{"=?koi8-r?B?8NLJ18XU?=", "Привет"},
	{"=?us-ascii?Q?a=E9?=", "aé"},
	{"=?iso-8859-15?Q?=A4?=", "€"},
	{"=?windows-1252?Q?=80?=", "€"},
	{"=?iso-8859-2?Q?=B1?=", "ą"},
	{"=?utf-8?Q?a=ZZb?=", "a=ZZb"},
	{"=?utf-8?Q?a=4?=", "a=4"},
	{"=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="},
	{"=?utf-8?B?w7Y=x?=", "=?utf-8?B?w7Y=x?="},
	{"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
	{"=?utf-8?Q?a b?=", "=?utf-8?Q?a b?="},
	{"=??Q?abc?=", "=??Q?abc?="},
	{"=?utf-8?Q?=FF?=", "\xef\xbf\xbd"},
	{"=?utf-8?Q?a=0D=0Ab=00c?=", "a  b c"},
	{"Re: =?utf-8?Q?Caf=C3=A9?= meeting", "Re: Café meeting"},
	{"=?utf-8?Q?\?=", ""},
	{"foo=?utf-8?Q?bar?=baz", "foobarbaz"},
	{"=?UTF-8?B?w7Y?=", "ö"},
	{"=?iso-8859-1?Q?=E9?= =?utf-8?Q?=C3=A9?=", "éé"},
	{"==?utf-8?Q?a?=", "=a"},
	{"=?", "=?"},
	{"plain text", "plain text"},
	{"a\r\n b", "a b"},
	{"", ""},
	/* Apple Mail and Outlook subjects and names */
	{"=?utf-8?Q?Re=3A_Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=",
	 "Re: Grüße aus München"},
	{"=?utf-8?B?UmU6IEdyw7zDn2UgYXVzIE3DvG5jaGVu?=",
	 "Re: Grüße aus München"},
	{"=?Windows-1252?Q?AW:_Gr=FC=DFe?=", "AW: Grüße"},
	{"=?iso-8859-1?Q?Andr=E9?= Pirard", "André Pirard"},
	{"=?UTF-8?B?8J+YgA==?= party", "😀 party"},
	{"=?utf-8?Q?=F0=9F=98?= =?utf-8?Q?=80?=", "😀"},
	{"[list] =?UTF-8?Q?=E2=82=AC100?= off", "[list] €100 off"},
};

/* Every decode case gives the expected UTF-8. */
static void test_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]);
	     i++) {
		struct mc_buf b;

		mc_buf_init(&b, NULL, 0);
		assert_true(mc_encword_decode(decode_cases[i].in,
					      strlen(decode_cases[i].in), &b));
		if (strcmp(mc_buf_cstr(&b), decode_cases[i].out) != 0)
			fail_msg("case %zu [%s]: got [%s] want [%s]", i,
				 decode_cases[i].in, mc_buf_cstr(&b),
				 decode_cases[i].out);
		mc_buf_free(&b);
	}
}

static const struct {
	const char *charset, *in;
	size_t len;
	bool ok;
	const char *out;
} charset_cases[] = {
	{"latin1", "\xe9", 1, true, "é"},
	{"ISO-8859-1", "\x80", 1, true, "€"},
	{"us-ascii",
	 "a\x93"
	 "b\x94",
	 4, true, "a“b”"},
	{"US-ASCII", "plain", 5, true, "plain"},
	{"utf-8",
	 "a\xff"
	 "b",
	 3, true,
	 "a\xef\xbf\xbd"
	 "b"},
	{"utf8", "\xc3\xa9", 2, true, "é"},
	{"UTF-8", "\xed\xa0\x80", 3, true,
	 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	{"windows-1252", "\x81", 1, true, "\xef\xbf\xbd"},
	{"utf-16le", "a\0b\0", 4, true, "ab"},
	{"iso-8859-2", "\xb1", 1, true, "ą"},
	{"shift_jis", "\x83", 1, true, "\xef\xbf\xbd"},
	{"ks_c_5601-1987", "\xc7\xd1", 2, true, "한"},
	{"utf-8*en", "x", 1, true, "x"},
	{"UTF-8", "", 0, true, ""},
	{"nonexistent-charset", "abc", 3, false, ""},
	{"bad name", "abc", 3, false, ""},
	{"", "abc", 3, false, ""},
};

/* mc_charset_to_utf8 on aliases, bad bytes and unknown names. */
static void test_charset(void **state)
{
	struct mc_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(charset_cases) / sizeof(charset_cases[0]);
	     i++) {
		bool ok;

		mc_buf_init(&b, NULL, 0);
		ok = mc_charset_to_utf8(charset_cases[i].charset,
					charset_cases[i].in,
					charset_cases[i].len, &b);
		if (ok != charset_cases[i].ok ||
		    strcmp(mc_buf_cstr(&b), charset_cases[i].out) != 0)
			fail_msg("case %zu (%s): ok=%d [%s]", i,
				 charset_cases[i].charset, ok, mc_buf_cstr(&b));
		mc_buf_free(&b);
	}
	assert_true(mc_charset_is_known("ISO-8859-7"));
	assert_false(mc_charset_is_known("x-nope"));
	mc_buf_init(&b, NULL, 4);
	assert_false(mc_charset_to_utf8("latin1", "\xe9\xe9\xe9", 3, &b));
	assert_true(b.len <= 4);
	mc_buf_free(&b);
}

/* A valid UTF-8 check, independent of the module's own. */
static bool valid_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = s[i] < 0x80	  ? 1
			   : s[i] >= 0xF0 ? 4
			   : s[i] >= 0xE0 ? 3
					  : 2;

		if ((s[i] >= 0x80 && s[i] < 0xC2) || s[i] > 0xF4 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += n;
	}
	return true;
}

/* Lines of out are at most 76 columns (the first starting at used) and
 * every encoded word at most 75 characters. */
static void check_folding(const char *out, size_t used)
{
	size_t col = used, word = 0;
	bool in_word = false;

	for (const char *p = out; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			p++;
			col = 0;
			continue;
		}
		col++;
		assert_true(col <= 76);
		if (p[0] == '=' && p[1] == '?' && !in_word) {
			in_word = true;
			word = 0;
		}
		if (!in_word)
			continue;
		word++;
		if (word > 2 && p[0] == '=' && p[-1] == '?') {
			in_word = false;
			assert_true(word <= 75);
		}
	}
}

/* Encodes s and decodes it back, checking the folding. */
static void encode_roundtrip(const char *s, size_t len, size_t used,
			     const char *expect_decoded)
{
	struct mc_buf enc, dec;

	mc_buf_init(&enc, NULL, 0);
	mc_buf_init(&dec, NULL, 0);
	assert_true(mc_encword_encode(s, len, used, &enc));
	check_folding(mc_buf_cstr(&enc), used);
	assert_true(mc_encword_decode(enc.data, enc.len, &dec));
	/* a line too full to start a word begins with a fold */
	if (used > 76 - 24)
		assert_memory_equal(enc.data, "\r\n ", 3);
	assert_string_equal(mc_buf_cstr(&dec) + (used > 76 - 24 ? 1 : 0),
			    expect_decoded);
	mc_buf_free(&enc);
	mc_buf_free(&dec);
}

/* Encoding: plain text stays, others become folded Q or B words. */
static void test_encode(void **state)
{
	static const char *const texts[] = {
		"Grüße aus München",
		"Hällo Wörld, this is a fairly long subject line that must be "
		"folded somewhere because it is long, longer than one line",
		"日本語のテキストです。日本語のテキストです。日本語のテキスト",
		"😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
		"a =?utf-8?Q?x?= b",
		"tab\tand\x01control",
		"ü",
	};
	struct mc_buf b;

	(void)state;
	mc_buf_init(&b, NULL, 0);
	assert_true(mc_encword_encode("plain text", 10, 9, &b));
	assert_string_equal(mc_buf_cstr(&b), "plain text");
	mc_buf_clear(&b);
	assert_true(mc_encword_encode("Grüße", strlen("Grüße"), 9, &b));
	assert_string_equal(mc_buf_cstr(&b), "=?UTF-8?B?R3LDvMOfZQ==?=");
	mc_buf_clear(&b);
	assert_true(mc_encword_encode("Café meeting", 13, 9, &b));
	assert_string_equal(mc_buf_cstr(&b), "=?UTF-8?Q?Caf=C3=A9_meeting?=");
	mc_buf_clear(&b);
	assert_true(mc_encword_encode("日本語", strlen("日本語"), 9, &b));
	assert_string_equal(mc_buf_cstr(&b), "=?UTF-8?B?5pel5pys6Kqe?=");
	mc_buf_clear(&b);
	assert_true(mc_encword_encode("a\xff", 2, 0, &b));
	assert_string_equal(mc_buf_cstr(&b), "=?UTF-8?B?Ye+/vQ==?=");
	mc_buf_clear(&b);
	assert_true(mc_encword_encode("\"Q\" (x)", 7, 70, &b));
	assert_string_equal(mc_buf_cstr(&b), "\"Q\" (x)");
	mc_buf_free(&b);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		encode_roundtrip(texts[i], strlen(texts[i]), 9, texts[i]);
		encode_roundtrip(texts[i], strlen(texts[i]), 0, texts[i]);
		encode_roundtrip(texts[i], strlen(texts[i]), 70, texts[i]);
	}
}

/* mc_encword_needed flags 8-bit, controls and encoded-word lookalikes. */
static void test_needed(void **state)
{
	(void)state;
	assert_false(mc_encword_needed("abc", 3));
	assert_false(mc_encword_needed("tab\there", 8));
	assert_false(mc_encword_needed("a = b ? c", 9));
	assert_true(mc_encword_needed("é", 2));
	assert_true(mc_encword_needed("a\x01", 2));
	assert_true(mc_encword_needed("x=?y", 4));
	assert_true(mc_encword_needed("a\r\nb", 4));
}

/* xorshift64 for the fuzz loops. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random and mutated headers decode to valid UTF-8 without crashing;
 * random UTF-8 encodes and decodes back to itself. */
static void test_fuzz(void **state)
{
	static const char alphabet[] = "=?QBqbutf-8iso8859*_ \r\nAZaz09+/";
	uint64_t seed = 0xA5A5A5A55A5A5A5Aull;
	size_t ncases = sizeof(decode_cases) / sizeof(decode_cases[0]);
	char buf[200];

	(void)state;
	for (int iter = 0; iter < 5000; iter++) {
		struct mc_buf out;
		size_t len;

		if (iter % 2 == 0) {
			len = rnd(&seed) % sizeof(buf);
			for (size_t i = 0; i < len; i++) {
				uint64_t r = rnd(&seed);

				buf[i] = r % 5 == 0 ? (char)(r >> 8)
						    : alphabet[(r >> 8) % 31];
			}
		} else {
			const char *src = decode_cases[iter % ncases].in;

			len = strlen(src);
			memcpy(buf, src, len);
			if (len > 0)
				buf[rnd(&seed) % len] = (char)rnd(&seed);
			if (len > 0 && iter % 3 == 0)
				len = rnd(&seed) % len;
		}
		mc_buf_init(&out, NULL, 0);
		mc_encword_decode(buf, len, &out);
		assert_true(valid_utf8((unsigned char *)out.data, out.len));
		mc_buf_clear(&out);
		mc_encword_encode(buf, len, iter % 80, &out);
		mc_buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_needed),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
