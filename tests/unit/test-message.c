/* test-message: the one-pass message collector. Every sample is fed whole,
 * one byte at a time and in random chunks; the results must be identical.
 * Checks ENVELOPE / BODY / BODYSTRUCTURE strings, the part map against the
 * raw bytes, decoded fields, SORT keys, searchable text and its cap, and
 * a fuzz loop over mutated samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-message.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

/* Deterministic xorshift so failures reproduce. */
static uint32_t rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Feeds msg as mode says and finishes; the caller destroys the result. */
static struct mc_message *feed(const char *msg, size_t len,
			       const struct mc_message_settings *set,
			       enum feed_mode mode, uint32_t seed)
{
	struct mc_message *m = mc_message_create(set);
	size_t pos = 0;

	while (pos < len) {
		size_t n = len - pos;

		if (mode == FEED_BYTES)
			n = 1;
		else if (mode == FEED_RANDOM)
			n = 1 + rnd(&seed) % (n < 200 ? n : 200);
		mc_message_feed(m, msg + pos, n);
		pos += n;
	}
	return m;
}

/* Every field of the info as one string (free()). */
static char *serialize(const struct mc_message_info *i)
{
	struct mc_buf b;

	mc_buf_init(&b, NULL, 0);
	mc_buf_printf(&b, "E=%s\nB=%s\nS=%s\nP=%s\n", i->envelope, i->body,
		      i->bodystructure, i->parts);
	mc_buf_printf(&b, "subj=%s\nfrom=%s\nto=%s\ncc=%s\n", i->subject,
		      i->from, i->to, i->cc);
	mc_buf_printf(&b, "mid=%s\nirt=%s\nrefs=%s\n", i->message_id,
		      i->in_reply_to, i->references);
	mc_buf_printf(&b, "base=%s\nsf=%s\nst=%s\nsc=%s\n", i->base_subject,
		      i->sort_from, i->sort_to, i->sort_cc);
	mc_buf_printf(&b, "date=%d %lld %d\n", i->has_date, (long long)i->date,
		      i->date_tz);
	mc_buf_printf(&b, "size=%llu parts=%u att=%d warn=%u textlen=%zu\n",
		      (unsigned long long)i->size, i->parts_count,
		      i->has_attachments, i->warnings, i->text_len);
	mc_buf_append(&b, i->text, i->text_len);
	return b.data;
}

/* Runs every feed mode, checks they agree; returns the whole-fed one. */
static struct mc_message *run_all(const char *msg, size_t len,
				  const struct mc_message_settings *set)
{
	struct mc_message *whole = feed(msg, len, set, FEED_WHOLE, 1), *other;
	const struct mc_message_info *info = mc_message_finish(whole);
	char *ref = serialize(info), *got;

	assert_ptr_equal(mc_message_finish(whole), info);
	for (uint32_t seed = 0; seed < 4; seed++) {
		other = feed(msg, len, set,
			     seed == 0 ? FEED_BYTES : FEED_RANDOM, seed * 7919);
		got = serialize(mc_message_finish(other));
		assert_string_equal(ref, got);
		free(got);
		mc_message_destroy(&other);
		assert_null(other);
	}
	if (getenv("MESSAGE_TEST_DUMP") != NULL)
		printf("----\n%s\n", ref);
	free(ref);
	return whole;
}

/* Expected values of one sample; NULL / -1 fields are not checked. */
struct msg_case {
	const char *name, *msg;
	const char *envelope, *body, *bodystructure;
	const char *subject, *from, *to, *base_subject, *sort_from, *sort_to;
	const char *text; /* exact searchable text */
	int has_attachments, parts_count;
};

#define SIMPLE_MSG                                                             \
	"From: John Doe <jdoe@example.com>\r\n"                                \
	"To: Mary <mary@example.org>, bob@example.net\r\n"                     \
	"Subject: Hello\r\n"                                                   \
	"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"                             \
	"Message-ID: <1234@example.com>\r\n"                                   \
	"\r\n"                                                                 \
	"Hello Mary,\r\nbye.\r\n"

#define JOHN "((\"John Doe\" NIL \"jdoe\" \"example.com\"))"

#define ALT_MSG                                                                \
	"From: a@b.c\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"                 \
	"Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n"         \
	"preamble\r\n--XX\r\n"                                                 \
	"Content-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n"        \
	"--XX\r\nContent-Type: text/html; charset=utf-8\r\n"                   \
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n"                  \
	"<p>html &amp; text</p>\r\n--XX--\r\n"

#define MIXED_MSG                                                              \
	"From: \"Doe, Jane\" <jane@example.com>\r\n"                           \
	"To: undisclosed-recipients:;\r\n"                                     \
	"Subject: =?ISO-8859-1?Q?Caf=E9?= menu\r\n"                            \
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n"                \
	"--outer\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"          \
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n"                  \
	"Men=FC du jour\r\n--outer\r\n"                                        \
	"Content-Type: application/pdf; name=\"menu.pdf\"\r\n"                 \
	"Content-Disposition: attachment;\r\n"                                 \
	" filename*=utf-8''men%C3%BC.pdf\r\n"                                  \
	"Content-Transfer-Encoding: base64\r\n\r\n"                            \
	"JVBERi0xLjQK\r\n--outer--\r\n"

#define NESTED_MSG                                                             \
	"Subject: outer\r\n"                                                   \
	"Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"                \
	"--o\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n"       \
	"\r\n--a\r\nContent-Type: text/plain\r\n\r\nalt plain\r\n"             \
	"--a\r\nContent-Type: text/html\r\n\r\n<b>alt html</b>\r\n"            \
	"--a--\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"                 \
	"From: inner@example.com\r\nSubject: inner\r\n"                        \
	"Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n"                \
	"--i\r\n\r\ninner one\r\n--i\r\nContent-Type: text/plain\r\n"          \
	"\r\ninner two\r\n--i--\r\n--o--\r\n"

#define RFC822_MSG                                                             \
	"From: a@b.c\nSubject: fwd\nContent-Type: message/rfc822\n\n"          \
	"From: X <x@y.z>\nSubject: hi\nDate: 1 Jan 2020 00:00:00 "             \
	"+0000\n\nline1\nline2\n"

static const struct msg_case cases[] = {
	{"simple", SIMPLE_MSG,
	 "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Hello\" " JOHN " " JOHN " " JOHN
	 " ((\"Mary\" NIL \"mary\" \"example.org\")"
	 "(NIL NIL \"bob\" \"example.net\")) NIL NIL NIL "
	 "\"<1234@example.com>\")",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 19 "
	 "2)",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 19 2 "
	 "NIL NIL NIL NIL)",
	 "Hello", "John Doe <jdoe@example.com>",
	 "Mary <mary@example.org>, bob@example.net", "hello", "jdoe", "mary",
	 "Hello\nJohn Doe <jdoe@example.com>\nMary <mary@example.org>, "
	 "bob@example.net\nHello Mary,\nbye.\n",
	 0, 1},
	{"alternative", ALT_MSG, NULL,
	 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 1)"
	 "(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
	 "\"QUOTED-PRINTABLE\" 22 1) \"ALTERNATIVE\")",
	 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 1 "
	 "NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
	 "\"QUOTED-PRINTABLE\" 22 1 NIL NIL NIL NIL) \"ALTERNATIVE\" "
	 "(\"BOUNDARY\" \"XX\") NIL NIL NIL)",
	 "alt", "a@b.c", "", "alt", "a", "",
	 "alt\na@b.c\nplain text\nhtml & text\n", 0, 3},
	{"mixed-attachment", MIXED_MSG,
	 "(NIL \"=?ISO-8859-1?Q?Caf=E9?= menu\" "
	 "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	 "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	 "((\"Doe, Jane\" NIL \"jane\" \"example.com\")) "
	 "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	 "NIL NIL NIL NIL)",
	 NULL,
	 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL "
	 "\"QUOTED-PRINTABLE\" 14 1 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" "
	 "(\"NAME\" \"menu.pdf\") NIL NIL \"BASE64\" 12 NIL (\"ATTACHMENT\" "
	 "(\"FILENAME\" {9}\r\nmen\xc3\xbc.pdf)) NIL NIL) \"MIXED\" "
	 "(\"BOUNDARY\" \"outer\") NIL NIL NIL)",
	 "Caf\xc3\xa9 menu", "\"Doe, Jane\" <jane@example.com>",
	 "undisclosed-recipients:;", "caf\xc3\xa9 menu", "jane", "",
	 "Caf\xc3\xa9 menu\n\"Doe, Jane\" <jane@example.com>\n"
	 "undisclosed-recipients:;\nMen\xc3\xbc du jour\nmen\xc3\xbc.pdf",
	 1, 3},
	{"nested", NESTED_MSG, NULL, NULL,
	 "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 "
	 "1 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL "
	 "NIL \"7BIT\" 15 1 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" "
	 "\"a\") NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 155 "
	 "(NIL \"inner\" ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL "
	 "\"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) "
	 "NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") "
	 "NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" "
	 "(\"CHARSET\" "
	 "\"us-ascii\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL) \"MIXED\" "
	 "(\"BOUNDARY\" \"i\") NIL NIL NIL) 12 NIL NIL NIL NIL) \"MIXED\" "
	 "(\"BOUNDARY\" \"o\") NIL NIL NIL)",
	 "outer", "", "", "outer", "", "",
	 "outer\nalt plain\nalt html\ninner one\ninner two", 0, 8},
	{"rfc822", RFC822_MSG, NULL,
	 "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 73 (\"1 Jan 2020 "
	 "00:00:00 +0000\" \"hi\" ((\"X\" NIL \"x\" \"y.z\")) ((\"X\" NIL "
	 "\"x\" "
	 "\"y.z\")) ((\"X\" NIL \"x\" \"y.z\")) NIL NIL NIL NIL NIL) (\"TEXT\" "
	 "\"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 2) 6)",
	 NULL, "fwd", "a@b.c", "", "fwd", "a", "", "fwd\na@b.c\nline1\nline2\n",
	 0, 2},
	{"groups",
	 "From: a@b.c\r\nTo: A Group: a@x.org, B <b@y.org>;, c@z.org\r\n"
	 "Cc: =?utf-8?q?J=C3=B6rg?= <J.Org@Example.COM>\r\n\r\n",
	 "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL "
	 "NIL \"a\" \"b.c\")) ((NIL NIL \"A Group\" NIL)(NIL NIL \"a\" "
	 "\"x.org\")(\"B\" NIL \"b\" \"y.org\")(NIL NIL NIL NIL)(NIL NIL \"c\" "
	 "\"z.org\")) ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"J.Org\" "
	 "\"Example.COM\")) NIL NIL NIL)",
	 NULL, NULL, "", "a@b.c", "A Group: a@x.org, B <b@y.org>;, c@z.org", "",
	 "a", "a",
	 "a@b.c\nA Group: a@x.org, B <b@y.org>;, c@z.org\n"
	 "J\xc3\xb6rg <J.Org@Example.COM>",
	 0, 1},
	{"missing",
	 "From: a@b.c\r\nSender:\r\nReply-To: r@b.c\r\nBcc: <>\r\n\r\nx",
	 "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL "
	 "NIL \"r\" \"b.c\")) NIL NIL ((NIL NIL \"\" \"\")) NIL NIL)",
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 1 1)",
	 NULL, "", "a@b.c", "", "", "a", "", "a@b.c\nx", 0, 1},
	{"no-headers", "\r\nbody\r\n",
	 "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", NULL,
	 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 6 1 "
	 "NIL NIL NIL NIL)",
	 "", "", "", "", "", "", "body\n", 0, 1},
	{"8bit-header",
	 "Subject: caf\xc3\xa9 \"q\" \\o/\r\nIn-Reply-To: <a@b>\r\n"
	 "Content-Type: TEXT/Plain; Format=Flowed; charset=\"UTF-8\"\r\n"
	 "Content-ID: <cid@x>\r\nContent-Description: say \"hi\"\r\n"
	 "Content-Language: en, fr\r\nContent-Location: http://x/y\r\n"
	 "Content-MD5: Q2hlY2s=\r\nContent-Disposition: inline\r\n"
	 "Content-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9t\xc3\xa9",
	 "(NIL {13}\r\ncaf\xc3\xa9 \"q\" \\o/ NIL NIL NIL NIL NIL NIL "
	 "\"<a@b>\" "
	 "NIL)",
	 "(\"TEXT\" \"PLAIN\" (\"FORMAT\" \"Flowed\" \"CHARSET\" \"UTF-8\") "
	 "\"<cid@x>\" \"say \\\"hi\\\"\" \"8BIT\" 5 1)",
	 "(\"TEXT\" \"PLAIN\" (\"FORMAT\" \"Flowed\" \"CHARSET\" \"UTF-8\") "
	 "\"<cid@x>\" \"say \\\"hi\\\"\" \"8BIT\" 5 1 \"Q2hlY2s=\" (\"INLINE\" "
	 "NIL) (\"en\" \"fr\") \"http://x/y\")",
	 "caf\xc3\xa9 \"q\" \\o/", "", "", "caf\xc3\xa9 \"q\" \\o/", "", "",
	 "caf\xc3\xa9 \"q\" \\o/\n\xc3\xa9t\xc3\xa9", 0, 1},
	{"encoded-subject",
	 "Subject: =?UTF-8?B?w4lUw4k=?= =?utf-8?q?_=C3=A0_Paris?=\r\n\r\n",
	 "(NIL \"=?UTF-8?B?w4lUw4k=?= =?utf-8?q?_=C3=A0_Paris?=\" NIL NIL NIL "
	 "NIL NIL NIL NIL NIL)",
	 NULL, NULL, "\xc3\x89T\xc3\x89 \xc3\xa0 Paris", "", "",
	 "\xc3\xa9t\xc3\xa9 \xc3\xa0 paris", "", "", NULL, 0, 1},
	{"latin1-html",
	 "Content-Type: multipart/alternative; boundary=b\n\n--b\n"
	 "Content-Type: text/plain; charset=ISO-8859-1\n"
	 "Content-Transfer-Encoding: 8bit\n\ncaf\xe9 cr\xe8me\n--b\n"
	 "Content-Type: text/html; charset=windows-1252\n\n"
	 "<html><head><title>T</title><style>p {x}</style>\n"
	 "<script>if (a<b) x();</script></head><body><!-- c > d -->"
	 "<p>a&lt;b&gt; &quot;c&quot;&nbsp;&amp; &#233;&#xE9; &bogus; \x80"
	 "</p><div title=\"x>y\">1 < 2</div><table><tr><td>x</td><td>y</td>"
	 "</tr></table></body></html>\n--b--\n",
	 NULL, NULL, NULL, "", "", "", "", "", "",
	 "caf\xc3\xa9 cr\xc3\xa8me\nT\n\na<b> \"c\" & \xc3\xa9\xc3\xa9 &bogus; "
	 "\xe2\x82\xac\n1 < 2\nx y \n",
	 0, 3},
	{"unterminated",
	 "Content-Type: multipart/mixed; boundary=z\n\n--z\n"
	 "Content-Type: text/plain\n\nno end\n--z\nContent-Type: multipart/"
	 "mixed; boundary=y\n\n",
	 NULL, NULL,
	 "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 6 1 "
	 "NIL NIL NIL NIL)((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL "
	 "NIL \"7BIT\" 0 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"y\") NIL "
	 "NIL NIL) \"MIXED\" (\"BOUNDARY\" \"z\") NIL NIL NIL)",
	 NULL, NULL, NULL, NULL, NULL, NULL, "no end", 0, 3},
	{"rfc822-base64",
	 "Content-Type: message/global\nContent-Transfer-Encoding: base64\n"
	 "\nU3ViamVjdDogeAoKeQo=\n", /* cases[12] */
	 NULL,
	 "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"BASE64\" 21 (NIL NIL NIL NIL "
	 "NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
	 "\"us-ascii\") NIL NIL \"7BIT\" 0 0) 1)",
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, "", 0, 1},
	{"garbage", "\x01\x02\xff:\n\n\n--\r\r\r\0\0", NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, -1, 1},
};

/* Runs one table case and checks the fields it gives. */
static void run_case(const struct msg_case *c)
{
	size_t len = strcmp(c->name, "garbage") == 0 ? 14 : strlen(c->msg);
	struct mc_message *m = run_all(c->msg, len, NULL);
	const struct mc_message_info *i = mc_message_finish(m);
	const char *want[] = {c->envelope,     c->body,	     c->bodystructure,
			      c->subject,      c->from,	     c->to,
			      c->base_subject, c->sort_from, c->sort_to};
	const char *got[] = {i->envelope,     i->body,	    i->bodystructure,
			     i->subject,      i->from,	    i->to,
			     i->base_subject, i->sort_from, i->sort_to};

	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		if (want[k] != NULL && strcmp(want[k], got[k]) != 0)
			fail_msg("%s field %zu:\n got '%s'\nwant '%s'", c->name,
				 k, got[k], want[k]);
	}
	if (c->text != NULL &&
	    (i->text_len != strlen(c->text) || strcmp(i->text, c->text) != 0))
		fail_msg("%s text:\n got '%s'\nwant '%s'", c->name, i->text,
			 c->text);
	if (c->has_attachments >= 0)
		assert_int_equal(i->has_attachments, c->has_attachments);
	if (c->parts_count >= 0)
		assert_int_equal(i->parts_count, c->parts_count);
	assert_int_equal(i->size, len);
	mc_message_destroy(&m);
}

/* All table cases. */
static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Decoded header fields of the simple sample, and warnings. */
static void test_fields(void **state)
{
	const char *msg = "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
			  "Message-ID:  <m@x>  \r\nIn-Reply-To: <p@x>\r\n"
			  "References: <a@x>\r\n <p@x>\r\n\r\n";
	struct mc_message *m = run_all(msg, strlen(msg), NULL);
	const struct mc_message_info *i = mc_message_finish(m);

	(void)state;
	assert_true(i->has_date);
	assert_int_equal(i->date, 1057049557);
	assert_int_equal(i->date_tz, 120);
	assert_string_equal(i->message_id, "<m@x>");
	assert_string_equal(i->in_reply_to, "<p@x>");
	assert_string_equal(i->references, "<a@x> <p@x>");
	assert_int_equal(i->warnings, 0);
	mc_message_destroy(&m);
	msg = "Date: Feb 30 2003\r\n\r\n";
	m = run_all(msg, strlen(msg), NULL);
	assert_false(mc_message_finish(m)->has_date);
	mc_message_destroy(&m);
	msg = cases[11].msg; /* unterminated */
	m = run_all(msg, strlen(msg), NULL);
	assert_true(mc_message_finish(m)->warnings > 0);
	mc_message_destroy(&m);
}

/* RFC 5256 section 2.1 base subjects. */
static void test_base_subject(void **state)
{
	static const char *const t[][2] = {
		{"Re: test", "test"},
		{"re: RE: Fwd: test", "test"},
		{"Re : test", "test"},
		{"RE[5]: test", "test"},
		{"Fw: test (fwd)", "test"},
		{"test (fwd) (FWD)  ", "test"},
		{"[list] Re: [other] test", "test"},
		{"[list]", "[list]"},
		{"[a][b] Re: x", "x"},
		{"[Fwd: Re: hello]", "hello"},
		{"[fwd: [fwd: nested] (fwd)]", "nested"},
		{"Re: [fwd: x]", "x"},
		{"  Hello \t  World  ", "hello world"},
		{"Reply: x", "reply: x"},
		{"fwdx: y", "fwdx: y"},
		{"Re:", ""},
		{"=?utf-8?q?Re=3A_=C3=89t=C3=A9?=", "\xc3\xa9t\xc3\xa9"},
		{"Re: \xc3\x84PFEL", "\xc3\xa4pfel"},
	};
	char buf[256];

	(void)state;
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct mc_message *m = mc_message_create(NULL);
		int n = snprintf(buf, sizeof(buf), "Subject: %s\r\n\r\n",
				 t[k][0]);

		mc_message_feed(m, buf, (size_t)n);
		if (strcmp(mc_message_finish(m)->base_subject, t[k][1]) != 0)
			fail_msg("'%s' -> '%s', want '%s'", t[k][0],
				 mc_message_finish(m)->base_subject, t[k][1]);
		mc_message_destroy(&m);
	}
}

/* The raw bytes of [off, off + size) equal want. */
static void check_range(const char *raw, size_t len, uint64_t off,
			uint64_t size, const char *want, const char *what)
{
	if (off + size > len || size != strlen(want) ||
	    memcmp(raw + off, want, size) != 0)
		fail_msg("%s: [%llu,+%llu) is '%.*s', want '%s'", what,
			 (unsigned long long)off, (unsigned long long)size,
			 off + size <= len ? (int)size : 0,
			 off + size <= len ? raw + off : "", want);
}

struct section_case {
	const char *section;
	bool found, is_message, is_multipart;
	const char *header, *body, *msg_header; /* NULL: not checked */
};

#define INNER_HDR                                                              \
	"From: inner@example.com\r\nSubject: inner\r\n"                        \
	"Content-Type: multipart/mixed; boundary=\"i\"\r\n\r\n"

/* Looks every section up in the map of raw and checks its byte ranges. */
static void check_sections(const char *raw, const struct section_case *sc,
			   size_t n)
{
	struct mc_message *m = run_all(raw, strlen(raw), NULL);
	const struct mc_message_info *info = mc_message_finish(m);
	struct mc_message_part p;

	for (size_t k = 0; k < n; k++) {
		bool found =
			mc_message_part_find(info->parts, sc[k].section, &p);

		if (found != sc[k].found)
			fail_msg("section '%s' found=%d in\n%s", sc[k].section,
				 found, info->parts);
		if (!found)
			continue;
		assert_int_equal(p.is_message, sc[k].is_message);
		assert_int_equal(p.is_multipart, sc[k].is_multipart);
		if (sc[k].header != NULL)
			check_range(raw, strlen(raw), p.header_offset,
				    p.header_size, sc[k].header, sc[k].section);
		if (sc[k].body != NULL)
			check_range(raw, strlen(raw), p.body_offset,
				    p.body_size, sc[k].body, sc[k].section);
		if (sc[k].msg_header != NULL)
			check_range(raw, strlen(raw), p.msg_header_offset,
				    p.msg_header_size, sc[k].msg_header,
				    sc[k].section);
	}
	mc_message_destroy(&m);
}

/* RFC 3501 6.4.5 numbering over multipart/alternative inside mixed and a
 * message/rfc822 that is itself multipart. */
static void test_part_map_nested(void **state)
{
	static const struct section_case sc[] = {
		{"", true, false, true,
		 "Subject: outer\r\nContent-Type: multipart/mixed; "
		 "boundary=\"o\"\r\n\r\n",
		 NULL, NULL},
		{"1", true, false, true,
		 "Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n",
		 NULL, NULL},
		{"1.1", true, false, false, "Content-Type: text/plain\r\n\r\n",
		 "alt plain", NULL},
		{"1.2", true, false, false, NULL, "<b>alt html</b>", NULL},
		{"2", true, true, false, "Content-Type: message/rfc822\r\n\r\n",
		 INNER_HDR "--i\r\n\r\ninner one\r\n--i\r\nContent-Type: "
			   "text/plain\r\n\r\ninner two\r\n--i--",
		 INNER_HDR},
		{"2.1", true, false, false, "\r\n", "inner one", NULL},
		{"2.2", true, false, false, NULL, "inner two", NULL},
		{"3", false, false, false, NULL, NULL, NULL},
		{"1.3", false, false, false, NULL, NULL, NULL},
		{"2.3", false, false, false, NULL, NULL, NULL},
		{"2.1.1", false, false, false, NULL, NULL, NULL},
		{"0", false, false, false, NULL, NULL, NULL},
		{"01", false, false, false, NULL, NULL, NULL},
		{"1.", false, false, false, NULL, NULL, NULL},
		{".1", false, false, false, NULL, NULL, NULL},
		{"1..1", false, false, false, NULL, NULL, NULL},
		{"1.MIME", false, false, false, NULL, NULL, NULL},
	};

	(void)state;
	check_sections(NESTED_MSG, sc, sizeof(sc) / sizeof(sc[0]));
}

/* A non-multipart message: "1" is its body; a message/rfc822 holding a
 * non-multipart message: "1.1" is that message's body; a base64
 * message/global is opaque. */
static void test_part_map_single(void **state)
{
	static const struct section_case plain[] = {
		{"", true, false, false, NULL, "Hello Mary,\r\nbye.\r\n", NULL},
		{"1", true, false, false, NULL, "Hello Mary,\r\nbye.\r\n",
		 NULL},
		{"2", false, false, false, NULL, NULL, NULL},
		{"1.1", false, false, false, NULL, NULL, NULL},
	};
	static const struct section_case fwd[] = {
		{"", true, false, false, NULL, NULL,
		 "From: a@b.c\nSubject: fwd\nContent-Type: message/rfc822\n\n"},
		{"1", true, true, false,
		 "From: a@b.c\nSubject: fwd\nContent-Type: message/rfc822\n\n",
		 "From: X <x@y.z>\nSubject: hi\nDate: 1 Jan 2020 00:00:00 "
		 "+0000\n\nline1\nline2\n",
		 "From: X <x@y.z>\nSubject: hi\nDate: 1 Jan 2020 00:00:00 "
		 "+0000\n\n"},
		{"1.1", true, false, false, NULL, "line1\nline2\n", NULL},
		{"1.2", false, false, false, NULL, NULL, NULL},
		{"1.1.1", false, false, false, NULL, NULL, NULL},
	};

	static const struct section_case b64[] = {
		{"1", true, false, false, NULL, "U3ViamVjdDogeAoKeQo=\n", NULL},
		{"1.1", false, false, false, NULL, NULL, NULL},
	};

	(void)state;
	check_sections(SIMPLE_MSG, plain, sizeof(plain) / sizeof(plain[0]));
	check_sections(RFC822_MSG, fwd, sizeof(fwd) / sizeof(fwd[0]));
	check_sections(cases[12].msg, b64, sizeof(b64) / sizeof(b64[0]));
}

/* A hand-made map line is read back; malformed maps find nothing. */
static void test_part_map_parse(void **state)
{
	struct mc_message_part p;

	(void)state;
	assert_true(mc_message_part_find("0 p 0 10 10 90\n"
					 "1 m 12 5 17 40 17 8 25 32\n",
					 "1", &p));
	assert_true(p.is_message && !p.is_multipart);
	assert_int_equal(p.header_offset, 12);
	assert_int_equal(p.body_size, 40);
	assert_int_equal(p.msg_header_offset, 17);
	assert_int_equal(p.msg_body_size, 32);
	assert_false(mc_message_part_find("1 m 1 2 3 4\n", "1", &p));
	assert_false(mc_message_part_find("1 x 1 2 3 4\n", "1", &p));
	assert_false(mc_message_part_find("1 l 1 2 z 4\n", "1", &p));
	assert_false(mc_message_part_find("", "", &p));
	assert_false(mc_message_part_find("11 l 1 2 3 4\n", "1", &p));
}

/* Empty input still gives a complete, valid result. */
static void test_empty(void **state)
{
	struct mc_message *m = mc_message_create(NULL);
	const struct mc_message_info *i = mc_message_finish(m);
	struct mc_message_part p;

	(void)state;
	assert_int_equal(i->size, 0);
	assert_string_equal(i->envelope,
			    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_string_equal(
		i->bodystructure,
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL "
		"NIL \"7BIT\" 0 0 NIL NIL NIL NIL)");
	assert_string_equal(i->subject, "");
	assert_string_equal(i->base_subject, "");
	assert_int_equal(i->text_len, 0);
	assert_int_equal(i->parts_count, 1);
	assert_true(mc_message_part_find(i->parts, "", &p));
	assert_int_equal(p.body_size, 0);
	assert_true(mc_message_part_find(i->parts, "1", &p));
	mc_message_feed(m, "x", 1);
	assert_ptr_equal(mc_message_finish(m), i);
	assert_int_equal(i->size, 0);
	mc_message_destroy(&m);
	mc_message_destroy(&m);
}

/* Long and multi-line values go out as literals. */
static void test_literals(void **state)
{
	struct mc_buf msg;
	struct mc_message *m;
	const char *env;

	(void)state;
	mc_buf_init(&msg, NULL, 0);
	mc_buf_append_str(&msg, "Subject: ");
	for (int k = 0; k < 1001; k++)
		mc_buf_append_c(&msg, 'a' + k % 26);
	mc_buf_append_str(&msg, "\r\n\r\n");
	m = run_all(msg.data, msg.len, NULL);
	env = mc_message_finish(m)->envelope;
	assert_true(strncmp(env, "(NIL {1001}\r\nabc", 16) == 0);
	assert_string_equal(env + 13 + 1001,
			    " NIL NIL NIL NIL NIL NIL NIL NIL)");
	mc_message_destroy(&m);
	mc_buf_free(&msg);
}

/* True when s is valid UTF-8. */
static bool valid_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = s[i] < 0x80	  ? 1
			   : s[i] >= 0xF0 ? 4
			   : s[i] >= 0xE0 ? 3
			   : s[i] >= 0xC2 ? 2
					  : 0;

		if (n == 0 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += n;
	}
	return true;
}

/* The text stops at max_text without cutting a UTF-8 sequence, and is a
 * prefix of the uncapped text; big bodies stay bounded. */
static void test_text_cap(void **state)
{
	const char *msg = "Subject: s\r\n\r\n\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			  "\xc3\xa9\xc3\xa9\r\n";
	struct mc_message_settings set = {.max_text = 0};
	struct mc_message *full = run_all(msg, strlen(msg), NULL), *m;
	const struct mc_message_info *fi = mc_message_finish(full), *i;
	struct mc_buf big;

	(void)state;
	for (size_t max = 1; max <= fi->text_len + 2; max++) {
		set.max_text = max;
		m = run_all(msg, strlen(msg), &set);
		i = mc_message_finish(m);
		assert_true(i->text_len <= max);
		assert_true(i->text_len + 1 >=
			    (max < fi->text_len ? max : fi->text_len));
		assert_memory_equal(i->text, fi->text, i->text_len);
		assert_true(valid_utf8((const unsigned char *)i->text,
				       i->text_len));
		mc_message_destroy(&m);
	}
	mc_message_destroy(&full);
	mc_buf_init(&big, NULL, 0);
	mc_buf_append_str(&big, "Content-Type: text/plain; charset=utf-8\r\n"
				"\r\n");
	while (big.len < 3 * 1024 * 1024)
		mc_buf_append_str(&big, "\xe2\x82\xac lorem ipsum dolor\r\n");
	m = feed(big.data, big.len, NULL, FEED_WHOLE, 1);
	i = mc_message_finish(m);
	assert_true(i->text_len <= 256 * 1024 &&
		    i->text_len > 256 * 1024 - 4); /* the default cap */
	assert_true(valid_utf8((const unsigned char *)i->text, i->text_len));
	assert_int_equal(i->size, big.len);
	mc_message_destroy(&m);
	mc_buf_free(&big);
}

/* UTF-16 text (no line ends to cut at) and base64 splitting UTF-8
 * sequences across lines still convert cleanly. */
static void test_text_charsets(void **state)
{
	const char *msg =
		"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
		"Content-Type: text/plain; charset=utf-16\n"
		"Content-Transfer-Encoding: base64\n\n//5oAGkAIADpAA==\n--b\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: base64\n\nw6nD\nqcOp\n--b\n"
		"Content-Type: text/plain; charset=x-no-such-charset\n\nok\n"
		"--b--\n";
	struct mc_message *m = run_all(msg, strlen(msg), NULL);

	(void)state;
	assert_string_equal(mc_message_finish(m)->text,
			    "hi \xc3\xa9\n\xc3\xa9\xc3\xa9\xc3\xa9\nok");
	mc_message_destroy(&m);
}

/* Checks that s is one IMAP parenthesised list of NIL, numbers, quoted
 * strings and literals. */
static void check_imap_list(const char *s)
{
	int depth = 0;
	const char *p = s;

	assert_true(*p == '(');
	while (*p != '\0') {
		if (*p == '(') {
			depth++;
			p++;
		} else if (*p == ')') {
			assert_true(--depth >= 0);
			p++;
			assert_true(depth > 0 || *p == '\0');
		} else if (*p == ' ' || (*p >= '0' && *p <= '9')) {
			p++;
		} else if (strncmp(p, "NIL", 3) == 0) {
			p += 3;
		} else if (*p == '"') {
			for (p++; *p != '"'; p++) {
				assert_true(*p != '\0' && *p != '\r' &&
					    *p != '\n' && (*p & 0x80) == 0);
				if (*p == '\\') {
					p++;
					assert_true(*p == '"' || *p == '\\');
				}
			}
			p++;
		} else {
			char *end;
			unsigned long n;

			assert_true(*p == '{');
			n = strtoul(p + 1, &end, 10);
			assert_true(strncmp(end, "}\r\n", 3) == 0);
			assert_true(strlen(end + 3) >= n);
			p = end + 3 + n;
		}
	}
	assert_int_equal(depth, 0);
}

/* Result invariants that must hold for any input. */
static void check_sane(const struct mc_message_info *i, size_t len,
		       size_t max_text)
{
	struct mc_message_part p;
	char section[64];

	check_imap_list(i->envelope);
	check_imap_list(i->body);
	check_imap_list(i->bodystructure);
	assert_true(i->text_len <= max_text);
	assert_int_equal(strlen(i->text), i->text_len);
	assert_int_equal(i->size, len);
	for (const char *l = i->parts; *l != '\0'; l = strchr(l, '\n') + 1) {
		size_t n = strcspn(l, " ");

		assert_true(n < sizeof(section));
		memcpy(section, l, n);
		section[n] = '\0';
		assert_true(mc_message_part_find(
			i->parts, strcmp(section, "0") == 0 ? "" : section,
			&p));
		assert_true(p.header_offset + p.header_size <= len);
		assert_true(p.body_offset + p.body_size <= len);
		assert_true(p.msg_body_offset + p.msg_body_size <= len);
	}
}

/* Mutates a copy of a sample: random bytes, inserted MIME-ish text,
 * truncation. */
static size_t mutate(char *buf, size_t len, size_t cap, uint32_t *seed)
{
	static const char *const bits[] = {
		"\r\n",	     "\n--", "--o\r\n", "=",	    ":",
		"\n\n",	     " ",    "*0*=",	"\"",	    "(",
		"<",	     "&#",   "=?x?B?",	"\n--XX--", "message/rfc822",
		"multipart/"};
	size_t nbits = sizeof(bits) / sizeof(bits[0]);

	for (unsigned m = rnd(seed) % 8; m > 0 && len > 0; m--) {
		size_t at = rnd(seed) % len;
		const char *b = bits[rnd(seed) % nbits];
		size_t bl = strlen(b);

		if (rnd(seed) % 2 == 0)
			buf[at] = (char)rnd(seed);
		else if (len + bl < cap) {
			memmove(buf + at + bl, buf + at, len - at);
			memcpy(buf + at, b, bl);
			len += bl;
		}
	}
	if (rnd(seed) % 8 == 0)
		len = rnd(seed) % (len + 1);
	return len;
}

/* Random mutations of the samples never crash and keep the invariants;
 * chunked feeding gives the same result as a whole feed. */
static void test_fuzz(void **state)
{
	const char *samples[] = {SIMPLE_MSG,  ALT_MSG,	  MIXED_MSG,
				 NESTED_MSG,  RFC822_MSG, cases[10].msg,
				 cases[5].msg};
	struct mc_message_settings set = {.max_text = 64};
	uint32_t seed = 2024;
	char buf[4096];

	(void)state;
	for (unsigned it = 0; it < 3000; it++) {
		const char *s = samples[it % 7];
		size_t len = strlen(s);
		struct mc_message *a, *b;
		char *sa, *sb;

		memcpy(buf, s, len);
		len = mutate(buf, len, sizeof(buf), &seed);
		set.mime.max_parts = it % 3 == 0 ? 3 : 0;
		set.mime.max_depth = it % 5 == 0 ? 2 : 0;
		a = feed(buf, len, &set, FEED_WHOLE, 1);
		b = feed(buf, len, &set, FEED_RANDOM, seed);
		sa = serialize(mc_message_finish(a));
		sb = serialize(mc_message_finish(b));
		assert_string_equal(sa, sb);
		check_sane(mc_message_finish(a), len, set.max_text);
		free(sa);
		free(sb);
		mc_message_destroy(&a);
		mc_message_destroy(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_part_map_nested),
		cmocka_unit_test(test_part_map_single),
		cmocka_unit_test(test_part_map_parse),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_text_cap),
		cmocka_unit_test(test_text_charsets),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
