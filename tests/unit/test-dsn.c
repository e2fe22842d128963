/* test-dsn: the delivery status notifications mc-dsn writes: subjects
 * and fields for failed / delayed / mixed recipients, RET=HDRS and the
 * size limit, envid and orcpt, header injection through remote replies,
 * CRLF-only output with short lines, the MIME structure read back with
 * mc-mime, chunked reads of a large original, and read/write failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-date.h"
#include "mailcore/mc-dsn.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-mime.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGINAL                                                               \
	"From: alice@example.org\r\n"                                          \
	"To: bob@remote.example\r\n"                                           \
	"Subject: hello\r\n"                                                   \
	"\r\n"                                                                 \
	"the body line\r\n"

#define NOW   ((time_t)1700000000)
#define LATER ((time_t)1700400000)

/* The original as the reader sees it, and how it was read. */
struct reader {
	const char *data;
	size_t len;
	size_t max_asked; /* the largest len asked for */
	bool fail;
};

/* Reads from memory; -1 when told to fail. */
static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct reader *r = ctx;

	if (r->fail)
		return -1;
	if (len > r->max_asked)
		r->max_asked = len;
	if (offset >= r->len)
		return 0;
	if (len > r->len - offset)
		len = r->len - offset;
	memcpy(buf, r->data + offset, len);
	return (ssize_t)len;
}

/* Collects output; fails when fail is set. */
struct writer {
	struct mc_buf out;
	bool fail;
};

/* Appends to the writer's buffer. */
static int mem_write(void *ctx, const void *data, size_t len)
{
	struct writer *w = ctx;

	if (w->fail)
		return -1;
	mc_buf_append(&w->out, data, len);
	return 0;
}

static const struct mc_dsn_rcpt rcpt_failed = {
	.address = "bob@remote.example",
	.action = MC_DSN_FAILED,
	.status = "5.1.1",
	.remote_mta = "mx.remote.example",
	.diag = "550 5.1.1 No such user",
	.last_attempt = NOW - 60,
};

static const struct mc_dsn_rcpt rcpt_delayed = {
	.address = "carol@slow.example",
	.action = MC_DSN_DELAYED,
	.status = "4.4.1",
	.remote_mta = "mx.slow.example",
	.diag = "421 4.4.1 Try again later",
	.last_attempt = NOW - 30,
	.retry_until = LATER,
};

/* A report for rcpts with the defaults the tests share. */
static struct mc_dsn make_dsn(const struct mc_dsn_rcpt *rcpts, size_t n)
{
	struct mc_dsn d = {
		.reporting_mta = "mta.example.net",
		.from = "MAILER-DAEMON@mta.example.net",
		.to = "alice@example.org",
		.queue_id = "Q12345",
		.arrival = NOW - 3600,
		.rcpts = rcpts,
		.rcpts_count = n,
		.now = NOW,
	};
	return d;
}

/* Writes the DSN for original into a fresh string (caller frees). */
static char *run(const struct mc_dsn *d, const char *original, size_t len)
{
	struct reader r = {.data = original, .len = len};
	struct writer w;
	struct mc_error err;

	mc_error_clear(&err);
	mc_buf_init(&w.out, NULL, 0);
	w.fail = false;
	assert_int_equal(
		mc_dsn_write(d, len, mem_read, &r, mem_write, &w, &err), 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	assert_true(r.max_asked <= 64 * 1024);
	return w.out.data != NULL ? w.out.data : strdup("");
}

/* Every line ends in CRLF (no bare CR or LF) and has at most 998 bytes. */
static void check_lines(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\r') {
			assert_int_equal(s[1], '\n');
			s++;
			col = 0;
			continue;
		}
		assert_int_not_equal(*s, '\n');
		col++;
		assert_true(col <= 998);
	}
	assert_int_equal(col, 0);
}

/* True when a line of s starts with prefix. */
static bool has_line(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) == 0)
		return true;
	for (const char *p = strstr(s, "\r\n"); p != NULL;
	     p = strstr(p + 2, "\r\n")) {
		if (strncmp(p + 2, prefix, n) == 0)
			return true;
	}
	return false;
}

/* How many times needle occurs in s. */
static int count(const char *s, const char *needle)
{
	int n = 0;

	for (s = strstr(s, needle); s != NULL; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* How often c occurs in the (folded) field starting with name. */
static int field_count(const char *s, const char *name, char c)
{
	const char *p = strstr(s, name);
	int n = 0;

	assert_non_null(p);
	for (; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] != ' ')
			break;
		n += *p == c;
	}
	return n;
}

/* The message header: everything up to the first empty line. */
static char *header_of(const char *s)
{
	const char *end = strstr(s, "\r\n\r\n");

	assert_non_null(end);
	return strndup(s, (size_t)(end - s) + 2);
}

struct scenario {
	const char *name;
	const struct mc_dsn_rcpt *rcpts[2];
	size_t n;
	const char *subject;
	const char *present[10];
	const char *absent[4];
};

static const struct scenario scenarios[] = {
	{"one failed",
	 {&rcpt_failed},
	 1,
	 "Subject: Undelivered Mail Returned to Sender\r\n",
	 {"Final-Recipient: rfc822; bob@remote.example\r\n",
	  "Action: failed\r\nStatus: 5.1.1\r\n",
	  "Remote-MTA: dns; mx.remote.example\r\n",
	  "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n",
	  "Last-Attempt-Date: Tue, 14 Nov 2023 22:12:20 +0000\r\n",
	  "Content-Type: message/rfc822\r\n", "\r\n\r\nthe body line\r\n",
	  "Queue ID: Q12345"},
	 {"Will-Retry-Until", "Delayed Mail", "Content-Transfer-Encoding"}},
	{"failed and delayed",
	 {&rcpt_failed, &rcpt_delayed},
	 2,
	 "Subject: Undelivered Mail Returned to Sender\r\n",
	 {"Final-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\n",
	  "Final-Recipient: rfc822; carol@slow.example\r\nAction: delayed\r\n",
	  "Status: 4.4.1\r\n", "Remote-MTA: dns; mx.slow.example\r\n",
	  "Will-Retry-Until: Sun, 19 Nov 2023 13:20:00 +0000\r\n",
	  "<carol@slow.example>: not delivered yet",
	  "<bob@remote.example>: "
	  "delivery failed (status 5.1.1)"},
	 {"Delayed Mail"}},
	{"delay only",
	 {&rcpt_delayed},
	 1,
	 "Subject: Delayed Mail (still being retried)\r\n",
	 {"Action: delayed\r\n",
	  "Will-Retry-Until: Sun, 19 Nov 2023 13:20:00 +0000\r\n",
	  "Retried until Sun, 19 Nov 2023 13:20:00 +0000",
	  "This is a warning only", "Delivery will be retried until Sun,",
	  "The server mx.slow.example replied: 421 4.4.1 Try again later"},
	 {"Undelivered", "Action: failed"}},
};

/* The fields and subject of each scenario, and the common header. */
static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct mc_dsn_rcpt rcpts[2];
		struct mc_dsn d;
		char *out, *hdr;

		for (size_t j = 0; j < sc->n; j++)
			rcpts[j] = *sc->rcpts[j];
		d = make_dsn(rcpts, sc->n);
		out = run(&d, ORIGINAL, strlen(ORIGINAL));
		check_lines(out);
		hdr = header_of(out);
		assert_non_null(strstr(hdr, sc->subject));
		assert_true(has_line(hdr, "Date: Tue, 14 Nov 2023 22:13:20 "
					  "+0000\r\n"));
		assert_true(has_line(hdr, "From: Mail Delivery System "
					  "<MAILER-DAEMON@mta.example.net>"));
		assert_true(has_line(hdr, "To: <alice@example.org>\r\n"));
		assert_true(has_line(hdr, "Auto-Submitted: auto-replied\r\n"));
		assert_true(has_line(hdr, "MIME-Version: 1.0\r\n"));
		assert_true(has_line(hdr, "Message-ID: <"));
		assert_non_null(strstr(hdr, "@mta.example.net>\r\n"));
		assert_non_null(strstr(hdr, "multipart/report; "
					    "report-type=delivery-status;"));
		assert_true(has_line(out, "Reporting-MTA: dns; "
					  "mta.example.net\r\n"));
		assert_true(has_line(out, "Arrival-Date: Tue, 14 Nov 2023 "
					  "21:13:20 +0000\r\n"));
		assert_non_null(strstr(out, "charset=us-ascii"));
		for (size_t j = 0; sc->present[j] != NULL; j++) {
			if (strstr(out, sc->present[j]) == NULL)
				fail_msg("%s: missing %s", sc->name,
					 sc->present[j]);
		}
		for (size_t j = 0; sc->absent[j] != NULL; j++) {
			if (strstr(out, sc->absent[j]) != NULL)
				fail_msg("%s: has %s", sc->name, sc->absent[j]);
		}
		assert_int_equal(count(out, "Final-Recipient:"), (int)sc->n);
		free(hdr);
		free(out);
	}
}

/* RET=HDRS and an original over max_full return only its header. */
static void test_headers_only(void **state)
{
	static const struct {
		bool headers_only;
		uint64_t max_full;
		bool full;
	} cases[] = {
		{true, 0, false},
		{false, 20, false},
		{false, sizeof(ORIGINAL) - 1, true},
		{false, 0, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_dsn d = make_dsn(&rcpt_failed, 1);
		char *out;

		d.headers_only = cases[i].headers_only;
		d.max_full = cases[i].max_full;
		out = run(&d, ORIGINAL, strlen(ORIGINAL));
		check_lines(out);
		assert_non_null(strstr(out, "Subject: hello\r\n"));
		if (cases[i].full) {
			assert_non_null(strstr(out, "the body line"));
			assert_null(strstr(out, "text/rfc822-headers"));
		} else {
			assert_null(strstr(out, "the body line"));
			assert_non_null(strstr(out, "Content-Type: "
						    "text/rfc822-headers\r\n"));
			assert_null(strstr(out, "message/rfc822"));
			assert_non_null(strstr(out, "To: bob@remote.example"
						    "\r\nSubject: hello\r\n"
						    "\r\n--=_mc-dsn_"));
		}
		free(out);
	}
}

/* Original-Envelope-Id and Original-Recipient only when given. */
static void test_envid_orcpt(void **state)
{
	static const struct {
		const char *envid, *orcpt, *want_envid, *want_orcpt;
	} cases[] = {
		{NULL, NULL, NULL, NULL},
		{"QQ+2Bab", NULL, "Original-Envelope-Id: QQ+2Bab\r\n", NULL},
		{NULL, "rfc822;Bob+2B1@remote.example", NULL,
		 "Original-Recipient: rfc822;Bob+2B1@remote.example\r\n"
		 "Final-Recipient: rfc822; bob@remote.example\r\n"},
		{"e1", "x400;/C=us/", "Original-Envelope-Id: e1\r\n",
		 "Original-Recipient: x400;/C=us/\r\n"},
		{"", "", NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_dsn_rcpt r = rcpt_failed;
		struct mc_dsn d = make_dsn(&r, 1);
		char *out;

		r.orcpt = cases[i].orcpt;
		d.envid = cases[i].envid;
		out = run(&d, ORIGINAL, strlen(ORIGINAL));
		if (cases[i].want_envid != NULL)
			assert_true(has_line(out, cases[i].want_envid));
		else
			assert_null(strstr(out, "Original-Envelope-Id"));
		if (cases[i].want_orcpt != NULL)
			assert_true(has_line(out, cases[i].want_orcpt));
		else
			assert_null(strstr(out, "Original-Recipient"));
		free(out);
	}
}

/* CR, LF and controls in replies, hosts and addresses start no field. */
static void test_injection(void **state)
{
	struct mc_dsn_rcpt r = rcpt_failed;
	struct mc_dsn d;
	char *out;

	(void)state;
	r.diag = "550 no\r\nBcc: x@evil.example\r\n\r\nbody";
	r.remote_mta = "mx\r\nBcc: y";
	r.address = "bob@remote.example\r\nBcc: z@evil.example";
	r.orcpt = "rfc822;a\nBcc: w";
	d = make_dsn(&r, 1);
	d.to = "alice@example.org>\r\nBcc: v@evil.example";
	d.envid = "id\r\nBcc: u";
	d.queue_id = "Q1\nBcc: t";
	out = run(&d, ORIGINAL, strlen(ORIGINAL));
	check_lines(out);
	assert_false(has_line(out, "Bcc:"));
	assert_true(has_line(out, "Diagnostic-Code: smtp; 550 no Bcc: "
				  "x@evil.example body\r\n"));
	assert_true(has_line(out, "Final-Recipient: rfc822; "
				  "bob@remote.exampleBcc:z@evil.example\r\n"));
	assert_true(has_line(out, "Remote-MTA: dns; mxBcc:y\r\n"));
	assert_true(has_line(out, "To: <alice@example.orgBcc:v@evil.example>"
				  "\r\n"));
	free(out);
}

/* Long replies are folded, words over the limit cut, lines of the
 * original broken, and bare CR / LF in the original become CRLF. */
static void test_long_lines(void **state)
{
	struct mc_dsn_rcpt r = rcpt_failed;
	struct mc_dsn d;
	char *diag = malloc(6001), orig[8000], *out;
	size_t n;

	(void)state;
	for (n = 0; n < 3000; n++)
		diag[n] = n % 10 == 9 ? ' ' : 'q';
	memset(diag + 3000, 'z', 3000);
	diag[6000] = '\0';
	r.diag = diag;
	d = make_dsn(&r, 1);
	n = (size_t)sprintf(orig, "Subject: x\nX-Long: ");
	memset(orig + n, 'h', 2500);
	n += 2500;
	n += (size_t)sprintf(orig + n, "\r\rbody\rline\n");
	memset(orig + n, 'c', 3000);
	n += 3000;
	out = run(&d, orig, n);
	check_lines(out);
	assert_non_null(strstr(out, "\r\nSubject: x\r\nX-Long: hhh"));
	assert_non_null(strstr(out, "hhh\r\n hhh"));
	assert_non_null(strstr(out, "\r\n\r\nbody\r\nline\r\nccc"));
	assert_non_null(strstr(out, "\r\n qqqqqqqqq"));
	assert_int_equal(field_count(out, "Diagnostic-Code:", 'z'), 3000);
	assert_int_equal(field_count(out, "Diagnostic-Code:", 'q'), 2700);
	free(out);
	free(diag);
}

/* Part types read back by mc-mime: multipart/report with 3 parts. */
static void check_structure(const char *out, const char *third,
			    const char *second)
{
	struct mc_mime_parser *p = mc_mime_parser_create(NULL);
	struct mc_mime_event ev;
	char types[4][64] = {{0}};
	int children = 0, rc;
	bool report = false;

	mc_mime_parser_feed(p, out, strlen(out));
	mc_mime_parser_finish(p);
	while ((rc = mc_mime_parser_next(p, &ev)) == 1) {
		const struct mc_mime_part_info *in;

		if (ev.type != MC_MIME_EV_HEADERS_END || ev.parent > 0)
			continue;
		in = ev.u.headers_end.info;
		if (ev.parent == 0)
			children++;
		if (children > 3)
			break;
		snprintf(types[children], sizeof(types[0]), "%s/%s", in->type,
			 in->subtype);
		for (unsigned i = 0; ev.parent < 0 && i < in->params_count;
		     i++) {
			report |= strcmp(in->params[i].name, "report-type") ==
					  0 &&
				  strcmp(in->params[i].value,
					 "delivery-status") == 0;
		}
	}
	mc_mime_parser_destroy(&p);
	assert_int_equal(children, 3);
	assert_true(report);
	assert_string_equal(types[0], "multipart/report");
	assert_string_equal(types[1], "text/plain");
	assert_string_equal(types[2], second);
	assert_string_equal(types[3], third);
}

/* The structure for a full return, a header return and UTF-8. */
static void test_mime_structure(void **state)
{
	struct mc_dsn_rcpt rcpts[2] = {rcpt_failed, rcpt_delayed};
	struct mc_dsn d = make_dsn(rcpts, 2);
	char *out;

	(void)state;
	out = run(&d, ORIGINAL, strlen(ORIGINAL));
	check_structure(out, "message/rfc822", "message/delivery-status");
	free(out);
	d.headers_only = true;
	out = run(&d, ORIGINAL, strlen(ORIGINAL));
	check_structure(out, "text/rfc822-headers", "message/delivery-status");
	free(out);
	rcpts[0].address = "j\xc3\xb6rg@b\xc3\xbc"
			   "cher.example";
	out = run(&d, ORIGINAL, strlen(ORIGINAL));
	check_lines(out);
	check_structure(out, "text/rfc822-headers",
			"message/global-delivery-status");
	assert_non_null(strstr(out, "charset=utf-8"));
	assert_non_null(strstr(out, "Final-Recipient: utf-8; j\xc3\xb6rg@"));
	free(out);
}

/* An 8-bit original is declared 8bit; a 7-bit one is not. */
static void test_8bit_original(void **state)
{
	static const char orig[] =
		"Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
	struct mc_dsn d = make_dsn(&rcpt_failed, 1);
	char *out, *hdr;

	(void)state;
	out = run(&d, orig, strlen(orig));
	assert_non_null(strstr(out, "Content-Type: message/rfc822\r\n"
				    "Content-Transfer-Encoding: 8bit\r\n"));
	assert_non_null(strstr(out, "na\xc3\xafve\r\n"));
	hdr = header_of(out);
	assert_true(has_line(hdr, "Content-Transfer-Encoding: 8bit\r\n"));
	free(hdr);
	free(out);
	d.headers_only = true;
	out = run(&d, ORIGINAL, strlen(ORIGINAL));
	assert_null(strstr(out, "8bit"));
	free(out);
}

/* A large original is read in chunks and returned whole; the header
 * alone stops at the empty line, before the body. */
static void test_large_original(void **state)
{
	size_t body = 300 * 1024, hlen = strlen("Subject: big\r\n\r\n");
	char *orig = malloc(hlen + body + 1), *out;
	struct mc_dsn d = make_dsn(&rcpt_failed, 1);

	(void)state;
	memcpy(orig, "Subject: big\r\n\r\n", hlen);
	for (size_t i = 0; i < body; i++)
		orig[hlen + i] = i % 80 == 78	? '\r'
				 : i % 80 == 79 ? '\n'
						: 'x';
	orig[hlen + body] = '\0';
	out = run(&d, orig, hlen + body);
	check_lines(out);
	assert_non_null(strstr(out, orig));
	free(out);
	d.max_full = 1000;
	out = run(&d, orig, hlen + body);
	assert_null(strstr(out, "xxxx"));
	assert_non_null(strstr(out, "Subject: big\r\n\r\n--=_mc-dsn_"));
	free(out);
	free(orig);
}

/* Two reports have different boundaries and Message-IDs. */
static void test_unique_ids(void **state)
{
	struct mc_dsn d = make_dsn(&rcpt_failed, 1);
	char *a, *b;
	const char *ba, *bb;

	(void)state;
	a = run(&d, ORIGINAL, strlen(ORIGINAL));
	b = run(&d, ORIGINAL, strlen(ORIGINAL));
	ba = strstr(a, "boundary=\"");
	bb = strstr(b, "boundary=\"");
	assert_non_null(ba);
	assert_non_null(bb);
	assert_memory_not_equal(ba, bb, 30);
	assert_memory_not_equal(strstr(a, "Message-ID:"),
				strstr(b, "Message-ID:"), 30);
	free(a);
	free(b);
}

/* A failing reader or writer gives -1 with a temporary error. */
static void test_failures(void **state)
{
	struct mc_dsn d = make_dsn(&rcpt_failed, 1);
	struct reader r = {.data = ORIGINAL, .len = strlen(ORIGINAL)};
	struct writer w;
	struct mc_error err;

	(void)state;
	for (int i = 0; i < 2; i++) {
		mc_error_clear(&err);
		mc_buf_init(&w.out, NULL, 0);
		r.fail = i == 0;
		w.fail = i == 1;
		assert_int_equal(mc_dsn_write(&d, r.len, mem_read, &r,
					      mem_write, &w, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_TEMPORARY);
		mc_buf_free(&w.out);
	}
	mc_error_clear(&err);
	r.fail = false;
	w.fail = false;
	mc_buf_init(&w.out, NULL, 0);
	assert_int_equal(
		mc_dsn_write(&d, r.len, mem_read, &r, mem_write, &w, NULL), 0);
	assert_non_null(strstr(w.out.data, "the body line"));
	mc_buf_free(&w.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_headers_only),
		cmocka_unit_test(test_envid_orcpt),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_mime_structure),
		cmocka_unit_test(test_8bit_original),
		cmocka_unit_test(test_large_original),
		cmocka_unit_test(test_unique_ids),
		cmocka_unit_test(test_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
