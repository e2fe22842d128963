/* test-imap-parser: the IMAP command reader fed whole, one byte at a time
 * and in random chunks, its events serialised to text and compared with
 * golden strings: arguments, literals, CONTINUE, APPEND streaming, line
 * mode, every error and limit with resynchronisation, and a fuzz loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Harness: a daemon loop that answers CONTINUE at once, switches line
 * mode on after IDLE and off after DONE, and writes every event as a
 * line of text (LITERAL_DATA chunks are joined, so chunking is hidden). */

struct run {
	struct mc_buf out, data;
	bool refuse;
	size_t max_buffered, max_chunk, events;
};

/* Appends bytes, non-printable ones as \xNN. */
static void put_text(struct mc_buf *b, const void *data, size_t len)
{
	const unsigned char *s = data;

	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] >= 0x7f)
			mc_buf_printf(b, "\\x%02x", s[i]);
		else
			mc_buf_append_c(b, (char)s[i]);
	}
}

static void put_args(struct mc_buf *b, const struct mc_imap_arg *a, size_t n);

/* One argument: A:atom Q:quoted L{n}:literal L8{n}: NIL (list). */
static void put_arg(struct mc_buf *b, const struct mc_imap_arg *a)
{
	switch (a->type) {
	case MC_IMAP_ARG_ATOM:
		mc_buf_append_str(b, "A:");
		break;
	case MC_IMAP_ARG_QUOTED:
		mc_buf_append_str(b, "Q:");
		break;
	case MC_IMAP_ARG_LITERAL:
		mc_buf_printf(b, "L%s{%zu}:", a->literal8 ? "8" : "", a->len);
		break;
	case MC_IMAP_ARG_NIL:
		mc_buf_append_str(b, "NIL");
		return;
	case MC_IMAP_ARG_LIST:
		mc_buf_append_c(b, '(');
		put_args(b, a->list, a->list_count);
		mc_buf_append_c(b, ')');
		return;
	}
	put_text(b, a->str, a->len);
	assert_int_equal(a->str[a->len], '\0');
}

/* Arguments separated by spaces. */
static void put_args(struct mc_buf *b, const struct mc_imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			mc_buf_append_c(b, ' ');
		put_arg(b, &a[i]);
	}
}

/* " args" when there are any. */
static void put_sp_args(struct mc_buf *b, const struct mc_imap_event *ev)
{
	if (ev->args_count > 0) {
		mc_buf_append_c(b, ' ');
		put_args(b, ev->args, ev->args_count);
	}
}

/* The joined LITERAL_DATA: short ones in full, long ones by a sum. */
static void put_data(struct run *r)
{
	uint32_t sum = 0;

	mc_buf_printf(&r->out, "DATA %zu:", r->data.len);
	if (r->data.len <= 40) {
		put_text(&r->out, r->data.data, r->data.len);
	} else {
		for (size_t i = 0; i < r->data.len; i++)
			sum = sum * 31 + (unsigned char)r->data.data[i];
		mc_buf_printf(&r->out, "~%08x", sum);
	}
	mc_buf_append_str(&r->out, "\nEND\n");
	mc_buf_clear(&r->data);
}

/* Writes ev and answers it as a daemon would. */
static void handle(struct mc_imap_parser *p, struct run *r,
		   const struct mc_imap_event *ev)
{
	struct mc_buf *b = &r->out;

	r->events++;
	switch (ev->type) {
	case MC_IMAP_EV_COMMAND:
		mc_buf_printf(b, "CMD %s %s", ev->tag, ev->name);
		put_sp_args(b, ev);
		mc_buf_append_c(b, '\n');
		if (strcmp(ev->name, "IDLE") == 0)
			mc_imap_parser_set_line_mode(p, true);
		break;
	case MC_IMAP_EV_CONTINUE:
		mc_buf_printf(b, "CONT %s %s %llu", ev->tag, ev->name,
			      (unsigned long long)ev->literal_size);
		put_sp_args(b, ev);
		mc_buf_append_c(b, '\n');
		if (r->refuse)
			mc_imap_parser_refuse(p);
		else
			mc_imap_parser_continue(p);
		break;
	case MC_IMAP_EV_LITERAL_BEGIN:
		mc_buf_printf(b, "BEGIN %s %s %llu%s", ev->tag, ev->name,
			      (unsigned long long)ev->literal_size,
			      ev->literal8 ? "~" : "");
		put_sp_args(b, ev);
		mc_buf_append_c(b, '\n');
		break;
	case MC_IMAP_EV_LITERAL_DATA:
		assert_true(ev->data_len > 0);
		if (ev->data_len > r->max_chunk)
			r->max_chunk = ev->data_len;
		mc_buf_append(&r->data, ev->data, ev->data_len);
		break;
	case MC_IMAP_EV_LITERAL_END:
		put_data(r);
		break;
	case MC_IMAP_EV_LINE:
		mc_buf_append_str(b, "LINE ");
		put_text(b, ev->data, ev->data_len);
		mc_buf_append_c(b, '\n');
		if (ev->data_len == 4 && memcmp(ev->data, "DONE", 4) == 0)
			mc_imap_parser_set_line_mode(p, false);
		break;
	case MC_IMAP_EV_BAD:
	case MC_IMAP_EV_TOOBIG:
		mc_buf_printf(b, "%s %s %s\n",
			      ev->type == MC_IMAP_EV_BAD ? "BAD" : "TOOBIG",
			      ev->tag, ev->text);
		break;
	}
}

/* Pulls every event available. */
static void drain(struct mc_imap_parser *p, struct run *r)
{
	struct mc_imap_event ev;

	while (mc_imap_parser_next(p, &ev) == 1)
		handle(p, r, &ev);
	if (mc_imap_parser_buffered(p) > r->max_buffered)
		r->max_buffered = mc_imap_parser_buffered(p);
}

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

/* Runs input through a new parser; returns the transcript (heap). */
static char *run_input(const struct mc_imap_parser_settings *set,
		       const char *in, size_t len, enum feed_mode mode,
		       bool refuse, unsigned seed)
{
	struct mc_imap_parser *p = mc_imap_parser_create(set);
	struct run r = {.refuse = refuse};
	char *res;

	mc_buf_init(&r.out, NULL, 0);
	mc_buf_init(&r.data, NULL, 0);
	for (size_t pos = 0; pos < len;) {
		size_t n = mode == FEED_WHOLE ? len - pos
			   : mode == FEED_BYTES
				   ? 1
				   : 1 + (size_t)rand_r(&seed) % 23;
		if (n > len - pos)
			n = len - pos;
		mc_imap_parser_feed(p, in + pos, n);
		pos += n;
		drain(p, &r);
	}
	drain(p, &r);
	mc_imap_parser_destroy(&p);
	assert_null(p);
	res = mc_strdup(mc_buf_cstr(&r.out));
	mc_buf_free(&r.out);
	mc_buf_free(&r.data);
	return res;
}

/* The transcript must be expected, and the same in all feeding modes. */
static void check(const struct mc_imap_parser_settings *set, const char *in,
		  size_t len, bool refuse, const char *expected)
{
	char *whole = run_input(set, in, len, FEED_WHOLE, refuse, 0);

	assert_string_equal(whole, expected);
	for (unsigned i = 0; i < 4; i++) {
		char *other = run_input(set, in, len,
					i == 0 ? FEED_BYTES : FEED_RANDOM,
					refuse, i * 7919u + 1);
		assert_string_equal(other, expected);
		free(other);
	}
	free(whole);
}

/* ------------------------------------------------------------------ */

static const struct mc_imap_parser_settings small = {
	.max_line = 64,
	.max_inline_literal = 16,
	.max_command = 200,
	.max_append = 100,
	.max_depth = 3,
};
static const struct mc_imap_parser_settings lminus = {.literal_minus = true};
static const struct mc_imap_parser_settings tiny_cmd = {.max_command = 100};

#define IN(s) s, sizeof(s) - 1
#define Z     "z NOOP\r\n"
#define ZCMD  "CMD z NOOP\n"

struct pcase {
	const char *name;
	const struct mc_imap_parser_settings *set;
	const char *in;
	size_t len;
	bool refuse;
	const char *out;
};

static const struct pcase cases[] = {
	{"noop", NULL, IN("a1 NOOP\r\n"), false, "CMD a1 NOOP\n"},
	{"upper-case name, bare LF", NULL, IN("a1 noop\nb.2] Check\r\n"), false,
	 "CMD a1 NOOP\nCMD b.2] CHECK\n"},
	{"quoted escapes", NULL,
	 IN("a2 LOGIN \"us\\\"er\" \"p\\\\w\" \"\"\r\n"), false,
	 "CMD a2 LOGIN Q:us\"er Q:p\\w Q:\n"},
	{"8-bit quoted", NULL, IN("a2 SELECT \"\xc3\xa9t\xc3\xa9\"\r\n"), false,
	 "CMD a2 SELECT Q:\\xc3\\xa9t\\xc3\\xa9\n"},
	{"nested lists and NIL", NULL, IN("a3 X (a (b c) NIL nil) () NILS\r\n"),
	 false, "CMD a3 X (A:a (A:b A:c) NIL NIL) () A:NILS\n"},
	{"fetch atoms", NULL,
	 IN("a4 UID FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]"
	    "<0.100> BINARY[1.2] BODY[] \\Seen \\* $ *)\r\n"),
	 false,
	 "CMD a4 UID A:FETCH A:1:*,5 (A:FLAGS A:BODY.PEEK[HEADER.FIELDS (FROM "
	 "TO)]<0.100> A:BINARY[1.2] A:BODY[] A:\\Seen A:\\* A:$ A:*)\n"},
	{"list patterns and brackets", NULL, IN("a4 LIST \"\" %/[Gmail]/*\r\n"),
	 false, "CMD a4 LIST Q: A:%/[Gmail]/*\n"},
	{"quoted header names in a section", NULL,
	 IN("a4 FETCH 1 BODY[HEADER.FIELDS (\"X-A]\" b)]\r\n"), false,
	 "CMD a4 FETCH A:1 A:BODY[HEADER.FIELDS (\"X-A]\" b)]\n"},
	{"sync literals", NULL, IN("a5 LOGIN {3}\r\nbob {4}\r\npass\r\n"),
	 false,
	 "CONT a5 LOGIN 3\nCONT a5 LOGIN 4 L{3}:bob\n"
	 "CMD a5 LOGIN L{3}:bob L{4}:pass\n"},
	{"literal in a list", NULL, IN("a5 X (a {2}\r\nbc d)\r\n"), false,
	 "CONT a5 X 2\nCMD a5 X (A:a L{2}:bc A:d)\n"},
	{"refused literal", NULL, IN("a6 LOGIN {3}\r\na7 NOOP\r\n"), true,
	 "CONT a6 LOGIN 3\nCMD a7 NOOP\n"},
	{"non-sync literal", NULL, IN("a8 LOGIN {3+}\r\nbob \"x\"\r\n"), false,
	 "CMD a8 LOGIN L{3}:bob Q:x\n"},
	{"empty literal", NULL, IN("a8 X {0+}\r\n {0}\r\n\r\n"), false,
	 "CONT a8 X 0 L{0}:\nCMD a8 X L{0}: L{0}:\n"},
	{"literal8 with NUL", NULL, IN("a9 X ~{3+}\r\na\0c\r\n"), false,
	 "CMD a9 X L8{3}:a\\x00c\n"},
	{"LITERAL- 4096 ok", &lminus, IN("b0 X {2+}\r\nab\r\n"), false,
	 "CMD b0 X L{2}:ab\n"},
	{"inline literal too big, sync", &small, IN("c1 LOGIN {17}\r\n" Z),
	 false, "TOOBIG c1 literal too large\n" ZCMD},
	{"inline literal too big, non-sync", &small,
	 IN("c3 LOGIN {17+}\r\n01234567890123456 x {2+}\r\nab\r\n" Z), false,
	 "TOOBIG c3 literal too large\n" ZCMD},
	{"append", NULL,
	 IN("d1 APPEND INBOX (\\Seen) \" 1-Jan-2024 10:00:00 +0000\" {11}\r\n"
	    "hello world\r\n" Z),
	 false,
	 "CONT d1 APPEND 11 A:INBOX (A:\\Seen) Q: 1-Jan-2024 10:00:00 +0000\n"
	 "BEGIN d1 APPEND 11 A:INBOX (A:\\Seen) Q: 1-Jan-2024 10:00:00 +0000\n"
	 "DATA 11:hello world\nEND\nCMD d1 APPEND\n" ZCMD},
	{"append refused", NULL, IN("d1 APPEND nobox {11}\r\n" Z), true,
	 "CONT d1 APPEND 11 A:nobox\n" ZCMD},
	{"multiappend", NULL,
	 IN("d2 APPEND box {3+}\r\nabc (\\Draft) ~{2}\r\nd\0\r\n"), false,
	 "BEGIN d2 APPEND 3 A:box\nDATA 3:abc\nEND\n"
	 "CONT d2 APPEND 2 (A:\\Draft)\nBEGIN d2 APPEND 2~ (A:\\Draft)\n"
	 "DATA 2:d\\x00\nEND\nCMD d2 APPEND\n"},
	{"append with a literal mailbox and empty message", NULL,
	 IN("d3 APPEND {3+}\r\nbox {0+}\r\n\r\n"), false,
	 "BEGIN d3 APPEND 0 L{3}:box\nDATA 0:\nEND\nCMD d3 APPEND\n"},
	{"append too big, sync", &small, IN("d4 APPEND box {101}\r\n" Z), false,
	 "TOOBIG d4 message too large\n" ZCMD},
	{"append too big, non-sync", &small,
	 IN("d6 APPEND box {101+}\r\n"
	    "01234567890123456789012345678901234567890123456789"
	    "01234567890123456789012345678901234567890123456789X\r\n" Z),
	 false, "TOOBIG d6 message too large\n" ZCMD},
	{"idle line mode", NULL, IN("i1 IDLE\r\nDONE\r\ni2 NOOP\r\n"), false,
	 "CMD i1 IDLE\nLINE DONE\nCMD i2 NOOP\n"},
	{"line mode keeps {n+} raw", NULL,
	 IN("i1 IDLE\r\nx {3+}\r\n\r\nDONE\r\n" Z), false,
	 "CMD i1 IDLE\nLINE x {3+}\nLINE \nLINE DONE\n" ZCMD},
	{"empty line", NULL, IN("\r\n" Z), false,
	 "BAD * empty command line\n" ZCMD},
	{"bad tag", NULL, IN("+x NOOP\r\n" Z), false,
	 "BAD * invalid tag\n" ZCMD},
	{"tag only", NULL, IN("e1\r\ne1 \r\n" Z), false,
	 "BAD e1 missing command name\nBAD e1 missing command name\n" ZCMD},
	{"bad name", NULL, IN("e1 NO\"OP\r\n" Z), false,
	 "BAD e1 invalid command name\n" ZCMD},
	{"unterminated quoted", NULL, IN("e2 X \"abc\r\n" Z), false,
	 "BAD e2 unterminated quoted string\n" ZCMD},
	{"bad escape", NULL, IN("e3 X \"a\\b\"\r\n" Z), false,
	 "BAD e3 invalid escape in quoted string\n" ZCMD},
	{"NUL in quoted", NULL, IN("e3 X \"a\0b\"\r\n" Z), false,
	 "BAD e3 invalid character in quoted string\n" ZCMD},
	{"CR in quoted", NULL, IN("e3 X \"a\rb\"\r\n" Z), false,
	 "BAD e3 invalid character in quoted string\n" ZCMD},
	{"unterminated list", NULL, IN("e4 X (a\r\n" Z), false,
	 "BAD e4 unterminated list\n" ZCMD},
	{"unexpected paren", NULL, IN("e5 X a)\r\n" Z), false,
	 "BAD e5 unexpected )\n" ZCMD},
	{"missing space", NULL, IN("e5 X (a)b\r\n" Z), false,
	 "BAD e5 missing space between arguments\n" ZCMD},
	{"literal not at line end", NULL, IN("e6 X {3}x\r\n" Z), false,
	 "BAD e6 literal must end the line\n" ZCMD},
	{"bad atom char", NULL, IN("e7 X a\"b\r\n" Z), false,
	 "BAD e7 invalid character in atom\n" ZCMD},
	{"bad flag", NULL, IN("e7 STORE 1 FLAGS \\\r\n" Z), false,
	 "BAD e7 invalid flag\n" ZCMD},
	{"unterminated section", NULL, IN("e7 FETCH 1 BODY[1\r\n" Z), false,
	 "BAD e7 unterminated section\n" ZCMD},
	{"too deep", &small, IN("e8 X ((((a))))\r\n" Z), false,
	 "BAD e8 lists nested too deeply\n" ZCMD},
	{"bad literal", NULL, IN("e9 X {abc}\r\n" Z), false,
	 "BAD e9 invalid literal\n" ZCMD},
	{"huge literal size", NULL, IN("e9 X {99999999999999999999}\r\n" Z),
	 false, "BAD e9 literal size too large\n" ZCMD},
	{"error skips a trailing non-sync literal", NULL,
	 IN("e10 X ) {3+}\r\nabc more {2+}\r\nxy end\r\n" Z), false,
	 "BAD e10 unexpected )\n" ZCMD},
	{"error with a trailing sync literal ends the command", NULL,
	 IN("e11 X ) {3}\r\n" Z), false, "BAD e11 unexpected )\n" ZCMD},
	{"error after a literal", NULL, IN("e12 X {1+}\r\na\"\r\n" Z), false,
	 "BAD e12 missing space between arguments\n" ZCMD},
	{"line too long", &small,
	 IN("g1 X "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" Z),
	 false, "BAD g1 line too long\n" ZCMD},
	{"line too long, then its literal", &small,
	 IN("g2 X "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaa {3+}\r\nabc\r\n" Z),
	 false, "BAD g2 line too long\n" ZCMD},
	{"line too long after a literal", &small,
	 IN("g3 X {1+}\r\na "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" Z),
	 false, "BAD g3 line too long\n" ZCMD},
	{"line too long without a tag", &small,
	 IN("(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
	    "((((((((\r\n" Z),
	 false, "BAD * line too long\n" ZCMD},
	{"command too long", &tiny_cmd,
	 IN("h1 X a b c d e f g h i j k l m n o p q\r\n" Z), false,
	 "TOOBIG h1 command too long\n" ZCMD},
	{"literal over the command limit", &tiny_cmd,
	 IN("h2 X a b c d e f g {50}\r\n" Z), false,
	 "TOOBIG h2 literal too large\n" ZCMD},
};

/* Every table case, fed whole, byte by byte and in random chunks. */
static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];

		print_message("case: %s\n", c->name);
		check(c->set, c->in, c->len, c->refuse, c->out);
	}
}

/* A string of n copies of ch (heap). */
static char *rep(char ch, size_t n)
{
	char *s = mc_malloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* LITERAL-: a non-sync literal over 4096 bytes is TOOBIG and skipped,
 * 4096 is fine, and a big synchronising one still asks (refused here). */
static void test_literal_minus(void **state)
{
	char *big = rep('x', 5000), *ok = rep('y', 4096);
	char *in = mc_asprintf("b1 X {5000+}\r\n%s y\r\nb2 X {4096+}\r\n%s\r\n"
			       "b3 X {5000}\r\n" Z,
			       big, ok);
	char *exp = mc_asprintf("TOOBIG b1 non-synchronizing literal over "
				"4096 bytes\nCMD b2 X L{4096}:%s\n"
				"CONT b3 X 5000\n" ZCMD,
				ok);

	(void)state;
	check(&lminus, in, strlen(in), true, exp);
	free(in);
	free(exp);
	free(big);
	free(ok);
}

/* test_append_stream's event check: the data must be msg in order. */
static void stream_event(struct mc_imap_parser *p, struct run *r,
			 const struct mc_imap_event *ev,
			 const unsigned char *msg, uint64_t *got, int *begins)
{
	if (ev->type == MC_IMAP_EV_LITERAL_BEGIN) {
		(*begins)++;
		assert_int_equal(ev->args_count, 3);
		assert_true(mc_imap_arg_is(&ev->args[0], "inbox"));
		assert_int_equal(ev->args[1].list_count, 2);
		return;
	}
	if (ev->type != MC_IMAP_EV_LITERAL_DATA) {
		handle(p, r, ev);
		return;
	}
	assert_true(ev->data_len <= 65536);
	assert_memory_equal(ev->data, msg + *got, ev->data_len);
	*got += ev->data_len;
}

/* Feeds a 3 MB APPEND in 64 KB pieces: the message streams out in chunks
 * and the parser never holds more than what was just fed. */
static void test_append_stream(void **state)
{
	const size_t size = 3 * 1024 * 1024, piece = 65536;
	struct mc_imap_parser *p = mc_imap_parser_create(NULL);
	struct run r = {0};
	const char *head = "s1 APPEND INBOX (\\Seen \\Flagged) "
			   "\"05-Mar-2024 12:00:00 +0100\" {3145728}\r\n";
	unsigned char *msg = mc_malloc(size);
	struct mc_imap_event ev;
	uint64_t got = 0;
	int begins = 0;

	(void)state;
	for (size_t i = 0; i < size; i++)
		msg[i] = (unsigned char)(i % 251);
	mc_buf_init(&r.out, NULL, 0);
	mc_buf_init(&r.data, NULL, 0);
	mc_imap_parser_feed(p, head, strlen(head));
	assert_int_equal(mc_imap_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_IMAP_EV_CONTINUE);
	assert_int_equal(ev.literal_size, size);
	assert_int_equal(ev.args_count, 3);
	assert_int_equal(mc_imap_parser_next(p, &ev), 0); /* waits */
	mc_imap_parser_continue(p);
	for (size_t pos = 0; pos <= size; pos += piece) {
		if (pos < size)
			mc_imap_parser_feed(p, msg + pos,
					    size - pos < piece ? size - pos
							       : piece);
		else
			mc_imap_parser_feed(p, "\r\n", 2);
		while (mc_imap_parser_next(p, &ev) == 1)
			stream_event(p, &r, &ev, msg, &got, &begins);
		assert_int_equal(mc_imap_parser_buffered(p), 0);
	}
	assert_int_equal(begins, 1);
	assert_int_equal(got, size);
	assert_string_equal(mc_buf_cstr(&r.out),
			    "DATA 0:\nEND\nCMD s1 APPEND\n");
	mc_imap_parser_destroy(&p);
	mc_buf_free(&r.out);
	mc_buf_free(&r.data);
	free(msg);
}

/* A 2 MB non-sync APPEND over max_append is dropped as it arrives and
 * the next command is intact. */
static void test_append_too_big_skipped(void **state)
{
	const struct mc_imap_parser_settings set = {.max_append = 1000000};
	const size_t size = 2000000;
	char *body = rep('q', size);
	char *in = mc_asprintf("k1 APPEND box {2000000+}\r\n%s\r\nk2 NOOP\r\n",
			       body);
	struct mc_imap_parser *p = mc_imap_parser_create(&set);
	struct run r = {0};
	size_t len = strlen(in);

	(void)state;
	mc_buf_init(&r.out, NULL, 0);
	mc_buf_init(&r.data, NULL, 0);
	for (size_t pos = 0; pos < len; pos += 32768) {
		mc_imap_parser_feed(p, in + pos,
				    len - pos < 32768 ? len - pos : 32768);
		drain(p, &r);
	}
	assert_true(r.max_buffered <= 32768);
	assert_string_equal(mc_buf_cstr(&r.out),
			    "TOOBIG k1 message too large\nCMD k2 NOOP\n");
	mc_imap_parser_destroy(&p);
	mc_buf_free(&r.out);
	mc_buf_free(&r.data);
	free(in);
	free(body);
}

/* A line that never ends is dropped as it arrives (buffer bounded). */
static void test_endless_line(void **state)
{
	struct mc_imap_parser *p = mc_imap_parser_create(&small);
	struct run r = {0};
	char junk[1000];

	(void)state;
	memset(junk, 'a', sizeof(junk));
	mc_buf_init(&r.out, NULL, 0);
	mc_buf_init(&r.data, NULL, 0);
	mc_imap_parser_feed(p, "t1 X ", 5);
	for (int i = 0; i < 100; i++) {
		mc_imap_parser_feed(p, junk, sizeof(junk));
		drain(p, &r);
	}
	assert_true(r.max_buffered < 64);
	mc_imap_parser_feed(p, "\r\n" Z, strlen("\r\n" Z));
	drain(p, &r);
	assert_string_equal(mc_buf_cstr(&r.out), "BAD t1 line too long\n" ZCMD);
	mc_imap_parser_destroy(&p);
	mc_buf_free(&r.out);
	mc_buf_free(&r.data);
}

/* Pointers of an event survive until the next call; tags of CONTINUE. */
static void test_event_fields(void **state)
{
	struct mc_imap_parser *p = mc_imap_parser_create(NULL);
	struct mc_imap_event ev;
	const char *s;
	size_t len;
	uint64_t n;

	(void)state;
	mc_imap_parser_feed(p, IN("x UID STORE 4294967295 +FLAGS (\\Seen) "
				  "{2}\r\n"));
	assert_int_equal(mc_imap_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_IMAP_EV_CONTINUE);
	assert_string_equal(ev.tag, "x");
	assert_string_equal(ev.name, "UID");
	assert_int_equal(ev.args_count, 4);
	assert_true(mc_imap_arg_is(&ev.args[0], "store"));
	assert_true(mc_imap_arg_number(&ev.args[1], false, &n));
	assert_int_equal(n, 4294967295u);
	assert_false(mc_imap_arg_number(&ev.args[2], false, &n));
	assert_false(mc_imap_arg_string(&ev.args[3], &s, &len));
	mc_imap_parser_continue(p);
	mc_imap_parser_feed(p, IN("a\0\r\n"));
	assert_int_equal(mc_imap_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_IMAP_EV_COMMAND);
	assert_true(mc_imap_arg_string(&ev.args[4], &s, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(s, "a\0", 3);
	assert_int_equal(mc_imap_parser_next(p, &ev), 0);
	assert_int_equal(mc_imap_parser_buffered(p), 0);
	mc_imap_parser_destroy(&p);
	mc_imap_parser_destroy(&p); /* NULL is fine */
}

/* Helpers on arguments. */
static void test_arg_helpers(void **state)
{
	struct mc_imap_arg a = {.type = MC_IMAP_ARG_ATOM, .str = "", .len = 0};
	static const struct {
		const char *s;
		bool wide, ok;
		uint64_t n;
	} nums[] = {
		{"0", false, true, 0},
		{"007", false, true, 7},
		{"4294967295", false, true, 4294967295u},
		{"4294967296", false, false, 0},
		{"4294967296", true, true, 4294967296u},
		{"9223372036854775807", true, true, 9223372036854775807u},
		{"9223372036854775808", true, false, 0},
		{"", false, false, 0},
		{"-1", false, false, 0},
		{"1a", false, false, 0},
	};
	const char *s;
	uint64_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		a.str = nums[i].s;
		a.len = strlen(nums[i].s);
		assert_int_equal(mc_imap_arg_number(&a, nums[i].wide, &n),
				 nums[i].ok);
		if (nums[i].ok)
			assert_int_equal(n, nums[i].n);
	}
	a.str = "Inbox";
	a.len = 5;
	assert_true(mc_imap_arg_is(&a, "INBOX"));
	assert_false(mc_imap_arg_is(&a, "INBOX2"));
	assert_true(mc_imap_arg_string(&a, &s, NULL));
	a.type = MC_IMAP_ARG_QUOTED;
	assert_false(mc_imap_arg_is(&a, "INBOX"));
	assert_true(mc_imap_arg_string(&a, &s, NULL));
	a.type = MC_IMAP_ARG_NIL;
	assert_false(mc_imap_arg_string(&a, &s, NULL));
}

/* Pieces the fuzzer glues together. */
static const char *const fuzz_tokens[] = {
	"a NOOP\r\n",
	"b LOGIN {3}\r\n",
	"{5+}\r\n",
	"~{2}\r\n",
	"abc",
	"(",
	")",
	"\"",
	"\\",
	"\r\n",
	"\n",
	"c APPEND box (\\Seen) {4+}\r\n",
	"d APPEND x {200}\r\n",
	"BODY[HEADER.FIELDS (A)]<1.2>",
	"[",
	"]",
	" ",
	"NIL",
	"e IDLE\r\n",
	"DONE\r\n",
	"{99999999}\r\n",
	"{0}\r\n",
	"\0",
	"\xff",
	"f X (((((((",
	"{4096+}\r\n",
};

/* Protocol fragments and random bytes glued together into buf. */
static size_t glue(char *buf, size_t size, unsigned *seed)
{
	size_t len = 0;

	while (len < size - 40) {
		unsigned k = (unsigned)rand_r(seed) % 40;
		const char *t;
		size_t tl;

		if (k >= sizeof(fuzz_tokens) / sizeof(fuzz_tokens[0])) {
			buf[len++] = (char)rand_r(seed);
			continue;
		}
		t = fuzz_tokens[k];
		tl = k == 22 ? 1 : strlen(t);
		memcpy(buf + len, t, tl);
		len += tl;
	}
	return len;
}

/* A table case with a few bytes replaced, dropped or duplicated. */
static size_t mutate(char *buf, size_t size, unsigned *seed)
{
	const struct pcase *c = &cases[(size_t)rand_r(seed) %
				       (sizeof(cases) / sizeof(cases[0]))];
	size_t len = c->len < size / 2 ? c->len : size / 2;
	unsigned edits = 1 + (unsigned)rand_r(seed) % 4;

	memcpy(buf, c->in, len);
	for (unsigned e = 0; e < edits && len > 0; e++) {
		size_t at = (size_t)rand_r(seed) % len;

		switch (rand_r(seed) % 3) {
		case 0:
			buf[at] = (char)rand_r(seed);
			break;
		case 1:
			memmove(buf + at, buf + at + 1, len - at - 1);
			len--;
			break;
		default:
			memmove(buf + at + 1, buf + at, len - at);
			len++;
			break;
		}
	}
	return len;
}

/* Random inputs from protocol fragments and bytes, split at random and
 * answered at random: nothing may crash, leak or spin (ASan run once). */
static void test_fuzz(void **state)
{
	const struct mc_imap_parser_settings *sets[] = {NULL, &small, &lminus};
	unsigned seed = 4242;
	char buf[700];
	size_t commands = 0, errors = 0;

	(void)state;
	for (int it = 0; it < 3000; it++) {
		struct mc_imap_parser *p = mc_imap_parser_create(sets[it % 3]);
		struct mc_imap_event ev;
		size_t len = 0, pos = 0, fed = 0;

		if (it % 2 == 0)
			len = glue(buf, sizeof(buf), &seed);
		else
			len = mutate(buf, sizeof(buf), &seed);
		while (pos < len) {
			size_t n = 1 + (size_t)rand_r(&seed) % 64;

			if (n > len - pos)
				n = len - pos;
			mc_imap_parser_feed(p, buf + pos, n);
			pos += n;
			fed += n;
			while (mc_imap_parser_next(p, &ev) == 1) {
				if (ev.type == MC_IMAP_EV_CONTINUE &&
				    rand_r(&seed) % 2 == 0)
					mc_imap_parser_refuse(p);
				else if (ev.type == MC_IMAP_EV_CONTINUE)
					mc_imap_parser_continue(p);
				else if (ev.type == MC_IMAP_EV_COMMAND)
					mc_imap_parser_set_line_mode(
						p, rand_r(&seed) % 8 == 0);
				else if (ev.type == MC_IMAP_EV_LINE)
					mc_imap_parser_set_line_mode(p, false);
				if (ev.tag != NULL)
					assert_true(strlen(ev.tag) > 0);
				commands += ev.type == MC_IMAP_EV_COMMAND;
				errors += ev.type == MC_IMAP_EV_BAD ||
					  ev.type == MC_IMAP_EV_TOOBIG;
			}
			assert_true(mc_imap_parser_buffered(p) <= fed);
		}
		mc_imap_parser_destroy(&p);
	}
	/* the inputs exercise both paths */
	assert_true(commands > 1000);
	assert_true(errors > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_literal_minus),
		cmocka_unit_test(test_append_stream),
		cmocka_unit_test(test_append_too_big_skipped),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_event_fields),
		cmocka_unit_test(test_arg_helpers),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
