/* test-mime: the incremental MIME parser. Every table message is fed whole,
 * one byte at a time, in random chunks and without draining between feeds;
 * the serialized event sequences must be identical and contain the
 * expected lines. Plus a 1 MiB base64 body and a fuzz loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-mime.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM, FEED_NODRAIN };

/* Deterministic xorshift so failures reproduce. */
static uint32_t rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Appends data with \r \n \\ and non-printables escaped. */
static void escape(struct mc_buf *out, const void *data, size_t len)
{
	const unsigned char *d = data;

	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\r')
			mc_buf_append_str(out, "\\r");
		else if (d[i] == '\n')
			mc_buf_append_str(out, "\\n");
		else if (d[i] == '\\')
			mc_buf_append_str(out, "\\\\");
		else if (d[i] < 0x20 || d[i] >= 0x7f)
			mc_buf_printf(out, "\\x%02x", d[i]);
		else
			mc_buf_append_c(out, (char)d[i]);
	}
}

/* "-" for NULL. */
static const char *s_or_dash(const char *s)
{
	return s == NULL ? "-" : s;
}

/* Serializes the HEADERS_END part info. */
static void ser_info(struct mc_buf *out, unsigned part,
		     const struct mc_mime_part_info *in)
{
	mc_buf_printf(out, "E%u %s/%s enc=%s", part, in->type, in->subtype,
		      mc_mime_encoding_name(in->encoding));
	mc_buf_printf(out,
		      " charset=%s boundary=%s name=", s_or_dash(in->charset),
		      s_or_dash(in->boundary));
	escape(out, s_or_dash(in->name), strlen(s_or_dash(in->name)));
	mc_buf_printf(out, " disp=%s filename=", s_or_dash(in->disposition));
	escape(out, s_or_dash(in->filename), strlen(s_or_dash(in->filename)));
	mc_buf_printf(out, " id=%s desc=%s lang=%s loc=%s md5=%s params=",
		      s_or_dash(in->id), s_or_dash(in->description),
		      s_or_dash(in->language), s_or_dash(in->location),
		      s_or_dash(in->md5));
	for (unsigned i = 0; i < in->params_count; i++) {
		mc_buf_printf(out, "%s=", in->params[i].name);
		escape(out, in->params[i].value, strlen(in->params[i].value));
		mc_buf_append_c(out, ';');
	}
	mc_buf_printf(out, " hsize=%llu\n",
		      (unsigned long long)in->header_size);
}

/* Serializes one event; BODY bytes are gathered and printed at PART_END
 * as "T<part> <body>" (BODY events themselves print their size). */
static void ser_event(struct mc_buf *out, struct mc_buf *body,
		      const struct mc_mime_event *ev)
{
	switch (ev->type) {
	case MC_MIME_EV_PART_BEGIN:
		mc_buf_printf(out, "B%u d%u p%d off=%llu\n", ev->part,
			      ev->depth, ev->parent,
			      (unsigned long long)ev->u.begin.offset);
		break;
	case MC_MIME_EV_HEADER:
		mc_buf_printf(out, "H%u %s=", ev->part, ev->u.header.name);
		escape(out, ev->u.header.value, ev->u.header.value_len);
		mc_buf_printf(out, " [%llu,%llu)\n",
			      (unsigned long long)ev->u.header.offset,
			      (unsigned long long)ev->u.header.end_offset);
		break;
	case MC_MIME_EV_HEADERS_END:
		ser_info(out, ev->part, ev->u.headers_end.info);
		break;
	case MC_MIME_EV_BODY:
		assert_true(ev->u.body.size > 0);
		mc_buf_printf(out, "D%u %zu\n", ev->part, ev->u.body.size);
		mc_buf_append(body, ev->u.body.data, ev->u.body.size);
		break;
	case MC_MIME_EV_PART_END:
		mc_buf_printf(out, "T%u ", ev->part);
		escape(out, body->data, body->len);
		mc_buf_clear(body);
		mc_buf_printf(out, "\nX%u size=%llu vsize=%llu lines=%llu\n",
			      ev->part, (unsigned long long)ev->u.end.body_size,
			      (unsigned long long)ev->u.end.body_vsize,
			      (unsigned long long)ev->u.end.body_lines);
		break;
	case MC_MIME_EV_WARNING:
		mc_buf_printf(out, "W%u %s\n", ev->part, ev->u.warning.text);
		break;
	}
}

/* Pulls events until the parser wants input (0) or is done (-1). */
static int drain(struct mc_mime_parser *p, struct mc_buf *out,
		 struct mc_buf *body)
{
	struct mc_mime_event ev;
	int ret;

	while ((ret = mc_mime_parser_next(p, &ev)) == 1)
		ser_event(out, body, &ev);
	return ret;
}

/* Feeds msg as mode says and returns the serialized events (free()). */
static char *run(const char *msg, size_t len,
		 const struct mc_mime_settings *set, enum feed_mode mode,
		 uint32_t seed)
{
	struct mc_mime_parser *p = mc_mime_parser_create(set);
	struct mc_buf out, body;
	size_t pos = 0;

	mc_buf_init(&out, NULL, 0);
	mc_buf_init(&body, NULL, 0);
	while (pos < len) {
		size_t n = len - pos;

		if (mode == FEED_BYTES)
			n = 1;
		else if (mode != FEED_WHOLE)
			n = 1 + rnd(&seed) % (n < 300 ? n : 300);
		mc_mime_parser_feed(p, msg + pos, n);
		pos += n;
		if (mode != FEED_NODRAIN || rnd(&seed) % 3 == 0)
			assert_int_equal(drain(p, &out, &body), 0);
	}
	mc_mime_parser_finish(p);
	assert_int_equal(drain(p, &out, &body), -1);
	assert_int_equal(drain(p, &out, &body), -1);
	mc_mime_parser_destroy(&p);
	assert_null(p);
	mc_buf_free(&body);
	return out.data != NULL ? out.data : mc_strdup("");
}

/* Runs all feed modes, checks they agree; returns the whole-feed output. */
static char *run_all(const char *msg, size_t len,
		     const struct mc_mime_settings *set)
{
	char *whole = run(msg, len, set, FEED_WHOLE, 1);
	char *other;

	other = run(msg, len, set, FEED_BYTES, 1);
	assert_string_equal(whole, other);
	free(other);
	for (uint32_t seed = 1; seed <= 3; seed++) {
		other = run(msg, len, set, FEED_RANDOM, seed * 7919);
		assert_string_equal(whole, other);
		free(other);
		other = run(msg, len, set, FEED_NODRAIN, seed * 104729);
		assert_string_equal(whole, other);
		free(other);
	}
	return whole;
}

/* The first occurrence of line at the start of a line of out at or after
 * from, or NULL. */
static const char *find_line(const char *out, const char *from,
			     const char *line)
{
	const char *hit = strstr(from, line);

	while (hit != NULL && hit != out && hit[-1] != '\n')
		hit = strstr(hit + 1, line);
	return hit;
}

/* Each line of expect ("\n"-separated) must start a line of out, in order;
 * a line starting with '!' must start no line of out. */
static void check_expect(const char *out, const char *expect)
{
	const char *pos = out, *hit;
	char line[1024];

	while (*expect != '\0') {
		const char *nl = strchr(expect, '\n');
		size_t n = nl != NULL ? (size_t)(nl - expect) : strlen(expect);

		assert_true(n < sizeof(line));
		memcpy(line, expect, n);
		line[n] = '\0';
		expect += n + (nl != NULL ? 1 : 0);
		if (line[0] == '!') {
			if (find_line(out, out, line + 1) != NULL)
				fail_msg("unexpected '%s' in:\n%s", line + 1,
					 out);
			continue;
		}
		hit = find_line(out, pos, line);
		if (hit == NULL)
			fail_msg("missing '%s' in:\n%s", line, out);
		pos = hit + n;
	}
}

struct mime_case {
	const char *name;
	const char *msg;
	const char *expect;
	struct mc_mime_settings set;
};

static const struct mime_case cases[] = {
	{"simple",
	 "From: a@b\r\nSubject: hi\r\n\r\nHello\r\nWorld\r\n",
	 "B0 d0 p-1 off=0\nH0 From=a@b [0,11)\nH0 Subject=hi [11,24)\n"
	 "E0 text/plain enc=7bit charset=us-ascii boundary=- name=- disp=- "
	 "filename=- id=- desc=- lang=- loc=- md5=- params=charset=us-ascii; "
	 "hsize=26\nT0 Hello\\r\\nWorld\\r\\n\n"
	 "X0 size=14 vsize=14 lines=2\n!W",
	 {0}},
	{"folded",
	 "Subject: a\r\n  long\r\n\tline\r\nX-8bit: caf\xc3\xa9\r\n"
	 "Content-ID: <id@x>\r\nContent-Description: d\r\n"
	 "Content-Language: en\r\nContent-Location: http://x/\r\n"
	 "Content-MD5: Q2hlY2s=\r\n\r\nb",
	 "H0 Subject=a  long\\x09line [0,27)\nH0 X-8bit=caf\\xc3\\xa9\n"
	 "E0 text/plain enc=7bit charset=us-ascii boundary=- name=- disp=- "
	 "filename=- id=<id@x> desc=d lang=en loc=http://x/ md5=Q2hlY2s=\n"
	 "T0 b\nX0 size=1 vsize=1 lines=1\n!W",
	 {0}},
	{"base64",
	 "Content-Transfer-Encoding: BASE64\r\n\r\nSGVsbG8g\r\nV29y bGQ=\r\n",
	 "E0 text/plain enc=base64\nT0 Hello World\n"
	 "X0 size=21 vsize=21 lines=2\n!W",
	 {0}},
	{"base64-bad",
	 "Content-Transfer-Encoding: base64\n\nSGV*sbG8=\nQ\n",
	 "W0 base64: invalid character\nW0 base64: truncated quantum\n"
	 "T0 Hello\n",
	 {0}},
	{"qp",
	 "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	 "a=3Db=3d  \r\nsoft=\r\nbreak =ZZ x=4\r\nend=\r\n",
	 "E0 text/plain enc=quoted-printable\n"
	 "T0 a=b=\\r\\nsoftbreak =ZZ x=4\\r\\nend\nX0 size=40 vsize=40 "
	 "lines=4\n!W",
	 {0}},
	{"alternative",
	 "Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n"
	 "preamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
	 "--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	 "<b>html</b>\r\n\r\n--XX--\r\nepilogue\r\n",
	 "E0 multipart/alternative enc=7bit charset=- boundary=XX\n"
	 "B1 d1 p0\nE1 text/plain enc=7bit charset=us-ascii\nT1 plain\n"
	 "X1 size=5 vsize=5 lines=1\nB2 d1 p0\n"
	 "E2 text/html enc=7bit charset=utf-8\nT2 <b>html</b>\\r\\n\n"
	 "X2 size=13 vsize=13 lines=1\nT0 \nX0 size=132 vsize=132 lines=12\n"
	 "!W",
	 {0}},
	{"nested-2231",
	 "Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
	 "Content-Type: multipart/alternative; boundary=inner\n\n"
	 "--inner\nContent-Type: text/plain\n\ntext\n--inner--\n--outer\n"
	 "Content-Type: application/octet-stream\n"
	 "Content-Disposition: Attachment;\n"
	 " filename*0*=iso-8859-1'en'%E9t%E9;\n filename*1=\".txt\"\n"
	 "Content-Transfer-Encoding: base64\n\nAAEC\n--outer--\n",
	 "B1 d1 p0\nE1 multipart/alternative\nB2 d2 p1\nE2 text/plain\n"
	 "T2 text\nX2 size=4 vsize=4 lines=1\nX1 size=48 vsize=52 lines=5\n"
	 "B3 d1 p0\nE3 application/octet-stream enc=base64 charset=- "
	 "boundary=- name=- disp=attachment filename=\\xc3\\xa9t\\xc3\\xa9"
	 ".txt\nT3 \\x00\\x01\\x02\nX3 size=4 vsize=4 lines=1\nX0 size=295 "
	 "vsize=312 lines=17\n!W",
	 {0}},
	{"rfc822",
	 "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	 "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
	 "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n\r\n"
	 "inner body\r\n--b--\r\n",
	 "B1 d1 p0\nE1 message/rfc822\nB2 d2 p1\nH2 Subject=inner\n"
	 "E2 text/plain enc=7bit charset=iso-8859-1\nT2 inner body\n"
	 "X2 size=10 vsize=10 lines=1\nX1 size=76 vsize=76 lines=4\nX0\n!W",
	 {0}},
	{"missing-final",
	 "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n",
	 "B1 d1 p0\nT1 x\\n\nX1 size=2 vsize=3 lines=1\n"
	 "W0 multipart without closing boundary\nX0",
	 {0}},
	{"boundary-like",
	 "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n"
	 "--bb\r\n--b-x\r\n--b--x\r\n -b\r\n--b \t\r\n\r\ntwo\r\n--b-- \r\n",
	 "T1 --bb\\r\\n--b-x\\r\\n--b--x\\r\\n -b\nB2\nT2 two\nX0\n!W",
	 {0}},
	{"bare-lf",
	 "Subject: x\nContent-Type: multipart/mixed; boundary=z\n\n--z\n\n"
	 "line1\nline2\n--z--\n",
	 "H0 Subject=x [0,11)\nT1 line1\\nline2\nX1 size=11 vsize=12 "
	 "lines=2\nX0 size=23 vsize=28 lines=5\n!W",
	 {0}},
	{"no-colon",
	 "Subject: a\r\nthis is not a header\r\nbody\r\n",
	 "H0 Subject=a\nW0 header line without colon ends the headers\n"
	 "E0 text/plain\nT0 this is not a header\\r\\nbody\\r\\n\n"
	 "X0 size=28 vsize=28 lines=2\n",
	 {0}},
	{"header-count",
	 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n  4b\r\nE: 5\r\n\r\nbody",
	 "H0 A=1\nH0 C=3\nW0 more than 3 headers: rest skipped\n"
	 "E0 text/plain\nT0 body\n!H0 D=\n!H0 E=",
	 {.max_headers = 3}},
	{"header-bytes",
	 "A: 1\r\nB: 2222222222\r\nC: 3\r\n\r\nbody",
	 "H0 A=1\nW0 header block over 16 bytes\nT0 body\n!H0 B\n!H0 C",
	 {.max_header_bytes = 16}},
	{"depth",
	 "Content-Type: multipart/mixed; boundary=a\n\n--a\n"
	 "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n"
	 "--a--\n",
	 "B1 d1 p0\nW1 nesting deeper than 2: part kept opaque\n"
	 "E1 multipart/mixed\nT1 --b\\n\\nx\\n--b--\nX0\n!B2",
	 {.max_depth = 2}},
	{"parts",
	 "Content-Type: multipart/mixed; boundary=a\n\n--a\n\n1\n--a\n\n2\n"
	 "--a\n\n3\n--a\n\n4\n--a--\nepilogue\n",
	 "T1 1\nT2 2\nW0 more than 3 parts: rest of multipart skipped\n"
	 "X0\n!B3\n!multipart without closing",
	 {.max_parts = 3}},
	{"empty",
	 "",
	 "B0 d0 p-1 off=0\nE0 text/plain enc=7bit charset=us-ascii\n"
	 "X0 size=0 vsize=0 lines=0\n!W",
	 {0}},
	{"no-body",
	 "Subject: x\r\n",
	 "H0 Subject=x [0,12)\nE0 text/plain\nT0 \nX0 size=0 vsize=0 "
	 "lines=0\n!W",
	 {0}},
	{"no-boundary",
	 "Content-Type: multipart/mixed\r\n\r\n--x\r\nbody\r\n",
	 "W0 multipart without usable boundary: treated as text/plain\n"
	 "E0 text/plain\nT0 --x\\r\\nbody\\r\\n\n!B1",
	 {0}},
	{"digest",
	 "Content-Type: multipart/digest; boundary=d\n\n--d\n\n"
	 "Subject: s1\n\nm1\n--d\nContent-Type: text/plain\n\nt\n--d--\n",
	 "E1 message/rfc822\nB2 d2 p1\nH2 Subject=s1\nE2 text/plain\n"
	 "T2 m1\nB3 d1 p0\nE3 text/plain\nT3 t\n!W",
	 {0}},
	{"params",
	 "Content-Type: Text/HTML (a comment) ; CharSet=\"UTF-8\" (c) ;\r\n"
	 " Name=\"a \\\"q\\\" b\"; x*=us-ascii'en'a%20b; junk; y=my file;\r\n"
	 " z*=x-unknown-cs''%41%42\r\n"
	 "Content-Disposition: inline; filename=plain.txt\r\n\r\n",
	 "E0 text/html enc=7bit charset=UTF-8 boundary=- "
	 "name=a \"q\" b disp=inline filename=plain.txt id=- desc=- lang=- "
	 "loc=- md5=- params=charset=UTF-8;name=a \"q\" b;x=a b;y=my "
	 "file;z=AB;",
	 {0}},
	{"bad-ctype",
	 "Content-Type: /\r\nContent-Transfer-Encoding: x-uue\r\n\r\nz",
	 "W0 invalid Content-Type: default used\n"
	 "W0 unknown Content-Transfer-Encoding\nE0 text/plain\nT0 z\n",
	 {0}},
	{"boundary-in-headers",
	 "Content-Type: multipart/mixed; boundary=q\n\n--q\nX: 1\n--q\n"
	 "\nb\n--q--\n",
	 "B1 d1 p0\nH1 X=1\nE1 text/plain\nT1 \nX1 size=0 vsize=0 lines=0\n"
	 "B2 d1 p0\nT2 b\n!W",
	 {0}},
	{"long-header",
	 "X: "
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 "\nY: 2\n\nbody",
	 "W0 header line too long: truncated\nH0 Y=2\nT0 body\n",
	 {.max_line_length = 256}},
};

/* Runs one table case in every feed mode and checks the expectations. */
static void run_case(const struct mime_case *c)
{
	char *out = run_all(c->msg, strlen(c->msg), &c->set);

	if (getenv("MIME_TEST_DUMP") != NULL)
		printf("== %s\n%s", c->name, out);
	else
		check_expect(out, c->expect);
	free(out);
}

/* All table cases. */
static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* next() says 0 until finish, then -1 after the last event. */
static void test_need_more(void **state)
{
	struct mc_mime_parser *p = mc_mime_parser_create(NULL);
	struct mc_mime_event ev;

	(void)state;
	assert_int_equal(mc_mime_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_MIME_EV_PART_BEGIN);
	assert_int_equal(mc_mime_parser_next(p, &ev), 0);
	mc_mime_parser_feed(p, "Subject: x", 10);
	assert_int_equal(mc_mime_parser_next(p, &ev), 0);
	mc_mime_parser_feed(p, "\r\n\r\nbo", 6);
	assert_int_equal(mc_mime_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_MIME_EV_HEADER);
	assert_string_equal(ev.u.header.value, "x");
	assert_int_equal(mc_mime_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_MIME_EV_HEADERS_END);
	assert_int_equal(mc_mime_parser_next(p, &ev), 0);
	mc_mime_parser_finish(p);
	assert_int_equal(mc_mime_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_MIME_EV_BODY);
	assert_memory_equal(ev.u.body.data, "bo", 2);
	assert_int_equal(mc_mime_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_MIME_EV_PART_END);
	assert_int_equal(mc_mime_parser_next(p, &ev), -1);
	mc_mime_parser_destroy(&p);
	mc_mime_parser_destroy(&p);
}

/* FNV-1a, to compare large bodies cheaply. */
static uint64_t fnv(const unsigned char *d, size_t len, uint64_t h)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ d[i]) * 0x100000001b3ULL;
	return h;
}

/* Builds a message with data base64-encoded in 76-column lines. */
static char *b64_message(const unsigned char *data, size_t len, size_t *n_r)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				 "tuvwxyz0123456789+/";
	struct mc_buf m;
	size_t col = 0;

	mc_buf_init(&m, NULL, 0);
	mc_buf_append_str(&m, "Content-Type: application/octet-stream\r\n"
			      "Content-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		char q[4];

		v |= i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0;
		v |= i + 2 < len ? data[i + 2] : 0;
		for (int k = 0; k < 4; k++)
			q[k] = al[(v >> (18 - 6 * k)) & 63];
		if (i + 1 >= len)
			q[2] = '=';
		if (i + 2 >= len)
			q[3] = '=';
		mc_buf_append(&m, q, 4);
		if ((col += 4) == 76) {
			mc_buf_append_str(&m, "\r\n");
			col = 0;
		}
	}
	mc_buf_append_str(&m, "\r\n");
	*n_r = m.len;
	return m.data;
}

/* Decodes msg fed in chunks of up to chunk bytes; checks size and hash. */
static void check_big(const char *msg, size_t n, size_t chunk, size_t len,
		      uint64_t want)
{
	struct mc_mime_parser *p = mc_mime_parser_create(NULL);
	struct mc_mime_event ev;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t got = 0, pos = 0;
	int ret;

	for (;;) {
		while ((ret = mc_mime_parser_next(p, &ev)) == 1) {
			assert_int_not_equal(ev.type, MC_MIME_EV_WARNING);
			if (ev.type == MC_MIME_EV_BODY) {
				h = fnv(ev.u.body.data, ev.u.body.size, h);
				got += ev.u.body.size;
			}
		}
		if (ret < 0)
			break;
		if (pos == n) {
			mc_mime_parser_finish(p);
			continue;
		}
		size_t k = n - pos < chunk ? n - pos : chunk;

		mc_mime_parser_feed(p, msg + pos, k);
		pos += k;
	}
	assert_int_equal(got, len);
	assert_true(h == want);
	mc_mime_parser_destroy(&p);
}

/* A 1 MiB base64 attachment decodes to the original bytes. */
static void test_big_base64(void **state)
{
	size_t len = 1024 * 1024 + 1, n;
	unsigned char *data = mc_malloc(len);
	uint32_t seed = 12345;
	char *msg;

	(void)state;
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)rnd(&seed);
	msg = b64_message(data, len, &n);
	check_big(msg, n, n, len, fnv(data, len, 0xcbf29ce484222325ULL));
	check_big(msg, n, 4093, len, fnv(data, len, 0xcbf29ce484222325ULL));
	free(msg);
	free(data);
}

/* Feeds random input; PART_BEGIN and PART_END must pair up. */
static void fuzz_one(const char *msg, size_t len,
		     const struct mc_mime_settings *set, uint32_t seed)
{
	struct mc_mime_parser *p = mc_mime_parser_create(set);
	struct mc_mime_event ev;
	size_t pos = 0;
	int depth = 0, ret;

	for (;;) {
		while ((ret = mc_mime_parser_next(p, &ev)) == 1) {
			depth += ev.type == MC_MIME_EV_PART_BEGIN;
			depth -= ev.type == MC_MIME_EV_PART_END;
			assert_true(depth >= 0);
		}
		if (ret < 0)
			break;
		if (pos == len) {
			mc_mime_parser_finish(p);
			continue;
		}
		size_t k = 1 + rnd(&seed) % 64;

		k = k > len - pos ? len - pos : k;
		mc_mime_parser_feed(p, msg + pos, k);
		pos += k;
	}
	assert_int_equal(depth, 0);
	mc_mime_parser_destroy(&p);
}

/* Mutates a copy of a table message: flips, inserts boundary-ish text,
 * truncates. */
static size_t mutate(char *buf, size_t len, size_t cap, uint32_t *seed)
{
	static const char *const bits[] = {
		"\r\n", "\n--", "--b\r\n", "=",	 ":",
		"\n\n", " ",	"*0*=",	   "\"", "("};

	for (unsigned m = rnd(seed) % 8; m > 0 && len > 0; m--) {
		size_t at = rnd(seed) % len;
		const char *b = bits[rnd(seed) % 10];
		size_t bl = strlen(b);

		if (rnd(seed) % 2 == 0)
			buf[at] = (char)rnd(seed);
		else if (len + bl < cap) {
			memmove(buf + at + bl, buf + at, len - at);
			memcpy(buf + at, b, bl);
			len += bl;
		}
	}
	return rnd(seed) % 7 == 0 ? len / 2 : len;
}

/* Random bytes and mutated table messages must never crash. */
static void test_fuzz(void **state)
{
	struct mc_mime_settings small = {.max_header_bytes = 64,
					 .max_headers = 3,
					 .max_depth = 3,
					 .max_parts = 4,
					 .max_line_length = 1024};
	size_t ncases = sizeof(cases) / sizeof(cases[0]);
	uint32_t seed = 987654321;
	char buf[4096];

	(void)state;
	for (int it = 0; it < 3000; it++) {
		const struct mc_mime_settings *set =
			it % 3 == 0 ? &small : NULL;
		size_t len;

		if (it % 4 == 0) {
			len = rnd(&seed) % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = rnd(&seed) % 4 == 0
						 ? "-\r\n:="[rnd(&seed) % 5]
						 : (char)rnd(&seed);
		} else {
			const char *m = cases[rnd(&seed) % ncases].msg;

			len = strlen(m);
			memcpy(buf, m, len);
			len = mutate(buf, len, sizeof(buf), &seed);
		}
		fuzz_one(buf, len, set, seed);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_need_more),
		cmocka_unit_test(test_big_base64),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
