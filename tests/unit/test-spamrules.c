/* test-spamrules: the rule-based spam score. Each rule type and header
 * target matching and not, regex flags, bad rules with their line
 * numbers, a catastrophic regex stopped by the match limit, the built-in
 * checks (Reply-To, display-name address, missing headers, dangerous
 * attachments by name and by libmagic), the other filters' inputs, score
 * sums, the body limit, the part limit, byte-by-byte reading, read
 * errors, the shipped rules file and four threads sharing one set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-spamrules.h"
#include "mailcore/mc-str.h"

#define DEFAULT_RULES "libmailcore/data/spam-rules.conf"

/* The usual header block of a test message (Date and Message-ID). */
#define HDRS                                                                   \
	"From: Alice <alice@example.com>\r\n"                                  \
	"To: bob@example.org\r\n"                                              \
	"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n"                             \
	"Message-ID: <1@example.com>\r\n"

static const unsigned char elf_head[] = {0x7f, 'E', 'L',  'F', 2, 1, 1, 0,
					 0,    0,   0,	  0,   0, 0, 0, 0,
					 2,    0,   0x3e, 0,   1, 0, 0, 0};
/* an MS-DOS header, zero-padded to the size libmagic wants */
static const unsigned char mz_head[128] = {
	'M', 'Z', 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0, 0xb8, 0};
static const unsigned char png_head[] = {
	0x89, 'P', 'N', 'G', 13,  10, 26, 10,	0,    0,    0,
	13,   'I', 'H', 'D', 'R', 0,  0,  0,	1,    0,    0,
	0,    1,   8,	6,   0,	  0,  0,  0x1f, 0x15, 0xc4, 0x89};
static const char pdf_head[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n"
			       "endobj\n";

/* Settings with the defaults and rules text rules. */
static struct mc_spamrules_settings settings(const char *rules)
{
	struct mc_spamrules_settings set;
	mc_spamrules_settings_init(&set);
	set.rules = rules;
	return set;
}

/* A rule set that must load. */
static struct mc_spamrules *make(const struct mc_spamrules_settings *set)
{
	struct mc_error err = {0};
	struct mc_spamrules *sr = mc_spamrules_create(set, &err);
	if (sr == NULL)
		fail_msg("create: %s", err.msg);
	return sr;
}

/* A rule set of rules text with the default settings. */
static struct mc_spamrules *make_rules(const char *rules)
{
	struct mc_spamrules_settings set = settings(rules);
	return make(&set);
}

/* Scans msg, which must work. */
static struct mc_spamrules_result scan(struct mc_spamrules *sr,
				       struct mc_pool *pool, const char *msg,
				       const struct mc_spamrules_inputs *in)
{
	struct mc_spamrules_result res;
	struct mc_error err = {0};
	if (mc_spamrules_scan_buffer(sr, pool, msg, strlen(msg), in, &res,
				     &err) != 0)
		fail_msg("scan: %s", err.msg);
	return res;
}

/* True when the result has the symbol. */
static bool has(const struct mc_spamrules_result *res, const char *name)
{
	return mc_spamrules_result_find(res, name) != NULL;
}

/* A multipart message with one base64 attachment, from pool. */
static const char *with_attachment(struct mc_pool *pool, const char *type,
				   const char *name, const void *data,
				   size_t len)
{
	unsigned char *b64 = mc_palloc(pool, 4 * (len / 3 + 1) + 1);
	EVP_EncodeBlock(b64, data, (int)len);
	return mc_psprintf(
		pool,
		HDRS
		"Subject: files\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
		"--BB\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
		"--BB\r\nContent-Type: %s; name=\"%s\"\r\n"
		"Content-Disposition: attachment; filename=\"%s\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--BB--\r\n",
		type, name, name, b64);
}

/* ---- rule types ---- */

struct rule_case {
	const char *rule; /* named R */
	const char *msg;
	bool hits;
};

static const struct rule_case rule_cases[] = {
	/* header: decoded (RFC 2047), raw, missing, !~, exists, ALL */
	{"header R Subject =~ /cheap pills/i 1",
	 HDRS "Subject: =?UTF-8?B?Q2hlYXAgUGlsbHM=?=\r\n\r\nx\r\n", true},
	{"header R Subject =~ /cheap pills/i 1",
	 HDRS "Subject: hello\r\n\r\nx\r\n", false},
	{"header R Subject:raw =~ /^=\\?UTF-8\\?B\\?/ 1",
	 HDRS "Subject: =?UTF-8?B?Q2hlYXAgUGlsbHM=?=\r\n\r\nx\r\n", true},
	{"header R Subject:raw =~ /Cheap/ 1",
	 HDRS "Subject: =?UTF-8?B?Q2hlYXAgUGlsbHM=?=\r\n\r\nx\r\n", false},
	{"header R X-Spam-Tool =~ /./ 1", HDRS "\r\nx\r\n", false},
	{"header R Subject !~ /\\S/ 1", HDRS "\r\nx\r\n", true},
	{"header R Subject !~ /\\S/ 1", HDRS "Subject: hi\r\n\r\nx\r\n", false},
	{"header R exists:X-Mailer 1", HDRS "X-Mailer: Foo\r\n\r\nx\r\n", true},
	{"header R exists:X-Mailer 1", HDRS "\r\nx\r\n", false},
	{"header R ALL =~ /^X-Campaign: \\d+$/m 1",
	 HDRS "X-Campaign: 42\r\n\r\nx\r\n", true},
	{"header R received =~ /second/ 1",
	 "Received: first\r\nReceived: second\r\n" HDRS "\r\nx\r\n", true},
	/* header: addresses and display names */
	{"header R To:addr =~ /^victim@bank\\.example$/m 1",
	 HDRS "Cc: \"Victim\" <victim@bank.example>, o@x.example\r\n\r\nx",
	 false},
	{"header R Cc:addr =~ /^victim@bank\\.example$/m 1",
	 HDRS "Cc: \"Victim\" <victim@bank.example>, o@x.example\r\n\r\nx",
	 true},
	{"header R From:name =~ /^Alice$/ 1", HDRS "\r\nx\r\n", true},
	{"header R From:name =~ /example/ 1", HDRS "\r\nx\r\n", false},
	/* body: decoded, HTML dropped, the Subject included */
	{"body R =~ /free money/ 1",
	 HDRS "Subject: s\r\n\r\nget free money now\r\n", true},
	{"body R =~ /free money/ 1", HDRS "Subject: s\r\n\r\nget money\r\n",
	 false},
	{"body R =~ /^winner$/m 1", HDRS "Subject: winner\r\n\r\nhi\r\n", true},
	{"body R =~ /free money/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/html\r\n\r\n"
	      "<p>fr<b>ee</b> mo&#110;ey</p>\r\n",
	 true},
	{"body R =~ /<b>/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n",
	 false},
	{"body R =~ /hidden/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/html\r\n\r\n"
	      "<style>p{hidden}</style><script>hidden()</script>ok\r\n",
	 false},
	{"body R =~ /caf\xc3\xa9 cr\xc3\xa8me/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	      "caf=E9 cr=E8me\r\n",
	 true},
	{"body R =~ /secret offer/ 1",
	 HDRS "Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	      "c2VjcmV0IG9mZmVy\r\n",
	 true},
	{"body R =~ /attached words/ 1",
	 HDRS "Subject: s\r\nMIME-Version: 1.0\r\n"
	      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	      "--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
	      "--b\r\nContent-Type: text/plain; name=a.txt\r\n"
	      "Content-Disposition: attachment\r\n\r\nattached words\r\n"
	      "--b--\r\n",
	 false},
	/* rawbody: the HTML kept */
	{"rawbody R =~ /<b>x<\\/b>/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n",
	 true},
	{"rawbody R =~ /winner/ 1", HDRS "Subject: winner\r\n\r\nhi\r\n",
	 false},
	/* uri: links in plain text and in HTML attributes */
	{"uri R =~ /^http:\\/\\/192\\.0\\.2\\.1\\/login$/ 1",
	 HDRS "Subject: s\r\n\r\nGo to http://192.0.2.1/login.\r\n", true},
	{"uri R =~ /evil\\.example/ 1",
	 HDRS "Subject: s\r\nContent-Type: text/html\r\n\r\n"
	      "<a href=\"https://evil.example/x\">bank</a>\r\n",
	 true},
	{"uri R =~ /^www\\.spam\\.example/ 1",
	 HDRS "Subject: s\r\n\r\nsee www.spam.example today\r\n", true},
	{"uri R =~ /evil/ 1", HDRS "Subject: s\r\n\r\nno evil links here\r\n",
	 false},
};

/* Every rule type and target, matching and not. */
static void test_rule_types(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]);
	     i++) {
		const struct rule_case *c = &rule_cases[i];
		struct mc_spamrules *sr = make_rules(c->rule);
		struct mc_spamrules_result res = scan(sr, pool, c->msg, NULL);
		if (has(&res, "R") != c->hits)
			fail_msg("case %zu (%s): hit %d", i, c->rule, !c->hits);
		mc_spamrules_destroy(&sr);
		assert_null(sr);
	}
	mc_pool_destroy(&pool);
}

/* The i, m and s flags. */
static void test_flags(void **state)
{
	(void)state;
	static const struct {
		const char *re;
		bool hits;
	} cases[] = {
		{"/LINE ONE/", false},	      {"/LINE ONE/i", true},
		{"/^line two$/", false},      {"/^line two$/m", true},
		{"/one.line/", false},	      {"/one.line/s", true},
		{"/^LINE TWO$/im", true},     {"/ONE.LINE/is", true},
		{"/line \\x{74}wo/x", false}, {"/line\\ \\x{74}wo/x", true},
	};
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	const char *msg = HDRS "Subject: s\r\n\r\nline one\r\nline two\r\n";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *rule = mc_psprintf(pool, "body R =~ %s 1", cases[i].re);
		struct mc_spamrules *sr = make_rules(rule);
		struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
		if (has(&res, "R") != cases[i].hits)
			fail_msg("%s: hit %d", cases[i].re, !cases[i].hits);
		mc_spamrules_destroy(&sr);
	}
	mc_pool_destroy(&pool);
}

/* ---- bad rules ---- */

/* Creates from set, which must fail with MC_ERR_INVALID naming want. */
static void expect_bad(const struct mc_spamrules_settings *set,
		       const char *want)
{
	struct mc_error err = {0};
	struct mc_spamrules *sr = mc_spamrules_create(set, &err);
	if (sr != NULL)
		fail_msg("loaded, wanted \"%s\"", want);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

/* Bad lines fail the load with their line number. */
static void test_bad_rules(void **state)
{
	(void)state;
	static const char ok[] = "# comment\n\nbody A =~ /a/ 1\n";
	static const struct {
		const char *line, *want;
	} cases[] = {
		{"body B =~ /(unclosed/ 1", "rules:4: bad regex at offset"},
		{"body B =~ /a/q 1", "rules:4: unknown regex flag \"q\""},
		{"body B =~ /a/ ", "rules:4: missing score"},
		{"body B =~ /a/ many", "rules:4: bad score"},
		{"body B =~ /a/ 5000", "rules:4: bad score"},
		{"body B =~ /a/ nan", "rules:4: bad score"},
		{"body B =~ /a 1", "rules:4: unterminated"},
		{"body B =~ a 1", "rules:4: expected /regex/"},
		{"body B !~ /a/ 1", "rules:4: expected =~"},
		{"body A =~ /b/ 1",
		 "rules:4: duplicate or built-in rule name A"},
		{"body DNSBL =~ /a/ 1", "rules:4: duplicate or built-in"},
		{"body B-C =~ /a/ 1", "rules:4: missing or bad rule name"},
		{"meta B (A && C) 1", "rules:4: unknown or unsupported"},
		{"score A 2", "rules:4: unknown or unsupported"},
		{"header B =~ /a/ 1", "rules:4: expected =~, not \"/a/\""},
		{"header B Sub:ject =~ /a/ 1", "rules:4: bad header field"},
		{"header B", "rules:4: missing header field"},
		{"header B Subject:raw", "rules:4: expected =~"},
		{"body B =~ /a/ 1 \"open", "rules:4: unterminated description"},
		{"body B =~ /a/ 1 \"d\" junk", "rules:4: unexpected"},
		{"body B =~ /a/ 1 junk", "rules:4: unexpected"},
		{"body B =~ /\xff/ 1", "rules:4: bad regex"},
	};
	char text[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s\nbody Z =~ /z/ 1\n", ok,
			 cases[i].line);
		struct mc_spamrules_settings set = settings(text);
		expect_bad(&set, cases[i].want);
	}
}

/* A rules file: loads, names the file and line of a bad rule, and a
 * missing file fails. */
static void test_rules_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test-spamrules-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "body A =~ /a/ 1 \"say \\\"a\\\"\"\r\n"
				   "header B Subject =~ /[/ 1\r\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	struct mc_spamrules_settings set = settings(NULL);
	set.rules_file = path;
	char *want = mc_asprintf("%s:2: bad regex", path);
	expect_bad(&set, want);
	free(want);
	set.rules_file = "/nonexistent/spam.rules";
	expect_bad(&set, "cannot open rules /nonexistent/spam.rules");
	unlink(path);
	set.rules_file = DEFAULT_RULES;
	struct mc_spamrules *sr = make(&set);
	assert_true(mc_spamrules_rule_count(sr) >= 10);
	mc_spamrules_destroy(&sr);
}

/* The description, with its escapes, reaches the hit. */
static void test_description(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr =
		make_rules("body A =~ /a/ 1.25 \"say \\\"a\\\" \\\\ "
			   "done\"\nbody B =~ /a/ 1");
	struct mc_spamrules_result res =
		scan(sr, pool, HDRS "Subject: s\r\n\r\na\r\n", NULL);
	const struct mc_spamrules_hit *a = mc_spamrules_result_find(&res, "A");
	const struct mc_spamrules_hit *b = mc_spamrules_result_find(&res, "B");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->description, "say \"a\" \\ done");
	assert_string_equal(b->description, "");
	assert_true(a->score == 1.25);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* ---- limits ---- */

/* /(a+)+$/ on "aaa...b" stops at the match limit: no match, counted,
 * fast; the other rules still run. */
static void test_catastrophic_regex(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr =
		make_rules("body CAT =~ /(a+)+$/ 5\n"
			   "header CATH Subject =~ /(a+)+$/ 5\n"
			   "body OK =~ /b/ 1\n");
	char a[64];
	memset(a, 'a', 48);
	a[48] = '\0';
	const char *msg =
		mc_psprintf(pool, HDRS "Subject: %sb\r\n\r\n%sb\r\n", a, a);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_false(has(&res, "CAT"));
	assert_false(has(&res, "CATH"));
	assert_true(has(&res, "OK"));
	assert_int_equal(res.regex_errors, 2);
	if (ms > 500)
		fail_msg("took %.0f ms", ms);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* Text past max_body_bytes is not scanned, and the cut is reported. */
static void test_body_limit(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set =
		settings("body EARLY =~ /early/ 1\n"
			 "body LATE =~ /late/ 1\n"
			 "rawbody RLATE =~ /late/ 1");
	set.max_body_bytes = 1024;
	struct mc_spamrules *sr = make(&set);
	char fill[4001];
	memset(fill, 'x', 4000);
	fill[4000] = '\0';
	const char *msg = mc_psprintf(pool,
				      HDRS "Subject: s\r\n\r\nearly %s "
					   "late\r\n",
				      fill);
	struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
	assert_true(has(&res, "EARLY"));
	assert_false(has(&res, "LATE"));
	assert_false(has(&res, "RLATE"));
	assert_true(res.body_truncated);
	assert_int_equal(res.size, strlen(msg));
	res = scan(sr, pool, HDRS "Subject: s\r\n\r\nearly late\r\n", NULL);
	assert_true(has(&res, "LATE"));
	assert_false(res.body_truncated);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* Parts past max_parts are not looked at, and that is reported. */
static void test_parts_limit(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set = settings(NULL);
	set.max_parts = 3;
	struct mc_spamrules *sr = make(&set);
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_buf_append_str(&b, HDRS "Subject: s\r\nMIME-Version: 1.0\r\n"
				   "Content-Type: multipart/mixed; boundary=b"
				   "\r\n\r\n");
	for (int i = 0; i < 6; i++)
		mc_buf_printf(&b,
			      "--b\r\nContent-Type: application/pdf; "
			      "name=f%d.%s\r\n\r\n%%PDF-1.4\r\n",
			      i, i == 5 ? "exe" : "pdf");
	mc_buf_append_str(&b, "--b--\r\n");
	struct mc_spamrules_result res = scan(sr, pool, mc_buf_cstr(&b), NULL);
	assert_true(res.parts_truncated);
	assert_int_equal(res.attachment_count, 2); /* parts 1 and 2 */
	assert_false(has(&res, "ATTACH_DANGEROUS_NAME"));
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* ---- built-in checks ---- */

struct header_case {
	const char *headers; /* after Date and Message-ID */
	const char *symbol;
	bool hits;
};

static const struct header_case header_cases[] = {
	{"From: a@example.com\r\nReply-To: b@example.com\r\n",
	 "REPLYTO_DIFFERS", false},
	{"From: a@example.com\r\nReply-To: b@news.EXAMPLE.com\r\n",
	 "REPLYTO_DIFFERS", false},
	{"From: a@mail.example.com\r\nReply-To: b@example.com\r\n",
	 "REPLYTO_DIFFERS", false},
	{"From: a@example.com\r\nReply-To: Help <b@other.example>\r\n",
	 "REPLYTO_DIFFERS", true},
	{"From: a@example.com\r\nReply-To: b@example.com, c@badexample.com\r\n",
	 "REPLYTO_DIFFERS", true},
	{"From: a@example.com\r\n", "REPLYTO_DIFFERS", false},
	{"From: PayPal <x@evil.example>\r\n", "FROM_NAME_ADDRESS", false},
	{"From: \"service@paypal.com\" <x@evil.example>\r\n",
	 "FROM_NAME_ADDRESS", true},
	{"From: 'service@paypal.com' <x@evil.example>\r\n", "FROM_NAME_ADDRESS",
	 true},
	{"From: \"mailto:service@paypal.com\" <x@evil.example>\r\n",
	 "FROM_NAME_ADDRESS", true},
	{"From: =?UTF-8?Q?service=40paypal=2Ecom?= <x@evil.example>\r\n",
	 "FROM_NAME_ADDRESS", true},
	{"From: \"x@evil.example\" <X@Evil.Example>\r\n", "FROM_NAME_ADDRESS",
	 false},
	{"From: \"PayPal service@paypal.com\" <x@evil.example>\r\n",
	 "FROM_NAME_ADDRESS", false},
	{"From: \"a@b\" <x@evil.example>\r\n", "FROM_NAME_ADDRESS", false},
	{"From: x@evil.example\r\n", "FROM_NAME_ADDRESS", false},
};

/* Reply-To domains and display-name addresses. */
static void test_header_checks(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr = make_rules(NULL);
	for (size_t i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]);
	     i++) {
		const struct header_case *c = &header_cases[i];
		const char *msg =
			mc_psprintf(pool,
				    "Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n"
				    "Message-ID: <1@x>\r\n%s\r\nbody\r\n",
				    c->headers);
		struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
		if (has(&res, c->symbol) != c->hits)
			fail_msg("case %zu (%s): hit %d", i, c->headers,
				 !c->hits);
		assert_int_equal(res.hit_count, c->hits ? 1 : 0);
	}
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* Missing Date and Message-ID; a score of 0 disables a check. */
static void test_missing_headers(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set = settings(NULL);
	struct mc_spamrules *sr = make(&set);
	struct mc_spamrules_result res =
		scan(sr, pool, "From: a@example.com\r\n\r\nbody\r\n", NULL);
	assert_true(has(&res, "MISSING_DATE"));
	assert_true(has(&res, "MISSING_MESSAGE_ID"));
	assert_true(res.score ==
		    set.scores.missing_date + set.scores.missing_message_id);
	res = scan(sr, pool, HDRS "\r\nbody\r\n", NULL);
	assert_int_equal(res.hit_count, 0);
	assert_true(res.score == 0);
	mc_spamrules_destroy(&sr);
	set.scores.missing_date = 0;
	sr = make(&set);
	res = scan(sr, pool, "From: a@example.com\r\n\r\nbody\r\n", NULL);
	assert_false(has(&res, "MISSING_DATE"));
	assert_true(has(&res, "MISSING_MESSAGE_ID"));
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

struct attach_case {
	const char *type, *name;
	const void *data;
	size_t len;
	const char *sniffed; /* expected libmagic type, NULL: not checked */
	bool bad_name, bad_type;
};

static const struct attach_case attach_cases[] = {
	{"application/pdf", "report.pdf", pdf_head, sizeof(pdf_head) - 1,
	 "application/pdf", false, false},
	{"image/png", "logo.png", png_head, sizeof(png_head), "image/png",
	 false, false},
	{"application/pdf", "invoice.pdf.exe", pdf_head, sizeof(pdf_head) - 1,
	 "application/pdf", true, false},
	{"application/octet-stream", "run.JS. ", "alert(1)", 8, NULL, true,
	 false},
	{"application/octet-stream", "setup.scr", mz_head, sizeof(mz_head),
	 "application/x-dosexec", true, true},
	{"text/plain", "notes.txt", elf_head, sizeof(elf_head),
	 "application/x-executable", false, true},
	{"text/plain", "readme.txt", mz_head, sizeof(mz_head),
	 "application/x-dosexec", false, true},
	{"application/x-msdownload", "data.bin", "plain", 5, NULL, false, true},
	{"application/zip", "archive.zip", "PK\x03\x04", 4, NULL, false, false},
};

/* Dangerous attachments by extension, declared type and sniffing;
 * harmless PDF and PNG are not flagged. */
static void test_attachments(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr = make_rules(NULL);
	for (size_t i = 0; i < sizeof(attach_cases) / sizeof(attach_cases[0]);
	     i++) {
		const struct attach_case *c = &attach_cases[i];
		const char *msg = with_attachment(pool, c->type, c->name,
						  c->data, c->len);
		struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
		assert_int_equal(res.attachment_count, 1);
		const struct mc_spamrules_attachment *a = &res.attachments[0];
		assert_string_equal(a->name, c->name);
		assert_string_equal(a->declared_type, c->type);
		assert_int_equal(a->size, c->len);
		if (c->sniffed != NULL)
			assert_string_equal(a->sniffed_type, c->sniffed);
		if (a->dangerous_name != c->bad_name ||
		    a->dangerous_type != c->bad_type)
			fail_msg("case %zu (%s): name %d type %d (%s)", i,
				 c->name, a->dangerous_name, a->dangerous_type,
				 a->sniffed_type);
		assert_int_equal(a->dangerous, c->bad_name || c->bad_type);
		assert_int_equal(has(&res, "ATTACH_DANGEROUS_NAME"),
				 c->bad_name);
		assert_int_equal(has(&res, "ATTACH_DANGEROUS_TYPE"),
				 c->bad_type);
	}
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* Custom extension and type lists replace the defaults; a missing
 * libmagic database fails creation. */
static void test_attachment_lists(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set = settings(NULL);
	set.dangerous_extensions = ".pdf, docm";
	set.dangerous_types = "image/png";
	struct mc_spamrules *sr = make(&set);
	struct mc_spamrules_result res =
		scan(sr, pool,
		     with_attachment(pool, "application/pdf", "a.pdf", pdf_head,
				     sizeof(pdf_head) - 1),
		     NULL);
	assert_true(has(&res, "ATTACH_DANGEROUS_NAME"));
	res = scan(sr, pool,
		   with_attachment(pool, "application/octet-stream", "a.exe",
				   png_head, sizeof(png_head)),
		   NULL);
	assert_false(has(&res, "ATTACH_DANGEROUS_NAME"));
	assert_true(has(&res, "ATTACH_DANGEROUS_TYPE"));
	mc_spamrules_destroy(&sr);
	set = settings(NULL);
	set.magic_file = "/nonexistent/magic.mgc";
	expect_bad(&set, "libmagic");
	mc_pool_destroy(&pool);
}

/* ---- inputs and sums ---- */

/* The other filters' verdicts add their scores, extra symbols pass
 * through, and the score is the sum. */
static void test_inputs(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set = settings(NULL);
	set.scores.dnsbl_factor = 0.5;
	struct mc_spamrules *sr = make(&set);
	const char *msg = HDRS "Subject: s\r\n\r\nbody\r\n";
	struct mc_spamrules_hit extra = {"BAYES_99", 3.5, "Bayes spam"};
	struct mc_spamrules_inputs in = {.spf = MC_SPF_FAIL,
					 .dkim = MC_DKIM_FAIL,
					 .dmarc = MC_DMARC_FAIL,
					 .dnsbl_score = 4,
					 .extra = &extra,
					 .extra_count = 1};
	struct mc_spamrules_result res = scan(sr, pool, msg, &in);
	assert_int_equal(res.hit_count, 5);
	assert_true(has(&res, "SPF_FAIL") && has(&res, "DKIM_FAIL") &&
		    has(&res, "DMARC_FAIL") && has(&res, "BAYES_99"));
	assert_true(mc_spamrules_result_find(&res, "DNSBL")->score == 2.0);
	assert_true(res.score == set.scores.spf_fail + set.scores.dkim_fail +
					 set.scores.dmarc_fail + 2.0 + 3.5);
	in = (struct mc_spamrules_inputs){.spf = MC_SPF_PASS,
					  .dkim = MC_DKIM_PASS,
					  .dmarc = MC_DMARC_PASS};
	res = scan(sr, pool, msg, &in);
	assert_true(has(&res, "SPF_PASS") && has(&res, "DKIM_PASS"));
	assert_true(res.score == set.scores.spf_pass + set.scores.dkim_pass);
	assert_true(res.score < 0);
	in = (struct mc_spamrules_inputs){.spf = MC_SPF_SOFTFAIL,
					  .dnsbl_score = -5};
	res = scan(sr, pool, msg, &in);
	assert_true(has(&res, "SPF_SOFTFAIL"));
	assert_true(res.score == set.scores.spf_softfail - 2.5);
	in = (struct mc_spamrules_inputs){.spf = MC_SPF_TEMPERROR,
					  .dkim = MC_DKIM_TEMPERROR,
					  .dmarc = MC_DMARC_TEMPERROR};
	res = scan(sr, pool, msg, &in);
	assert_int_equal(res.hit_count, 0);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* Rules, negative scores and built-ins sum; a rule scored 0 is loaded
 * but never runs. */
static void test_score_sum(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set =
		settings("header A Subject =~ /offer/ 1.5\n"
			 "body B =~ /offer/ 2.25\n"
			 "body C =~ /newsletter/ -1\n"
			 "body D =~ /offer/ 0\n"
			 "body E =~ /absent/ 7\n");
	struct mc_spamrules *sr = make(&set);
	assert_int_equal(mc_spamrules_rule_count(sr), 5);
	struct mc_spamrules_result res =
		scan(sr, pool,
		     "From: a@example.com\r\nReply-To: b@elsewhere.example\r\n"
		     "Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n"
		     "Subject: offer\r\n\r\nour newsletter\r\n",
		     NULL);
	assert_true(has(&res, "A") && has(&res, "B") && has(&res, "C"));
	assert_false(has(&res, "D") || has(&res, "E"));
	assert_true(has(&res, "REPLYTO_DIFFERS"));
	assert_true(has(&res, "MISSING_MESSAGE_ID"));
	double sum = 0;
	for (size_t i = 0; i < res.hit_count; i++)
		sum += res.hits[i].score;
	assert_true(res.score == sum);
	assert_true(res.score == 1.5 + 2.25 - 1 + set.scores.reply_to_differs +
					 set.scores.missing_message_id);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* ---- reading ---- */

/* A reader handing out at most step bytes per call, failing at fail_at. */
struct slow_reader {
	const char *data;
	size_t len, step;
	uint64_t fail_at;
};

/* mc_spamrules_read_fn over a struct slow_reader. */
static ssize_t slow_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct slow_reader *r = ctx;
	if (offset >= r->fail_at)
		return -1;
	if (offset >= r->len)
		return 0;
	size_t n = r->len - offset;
	if (n > len)
		n = len;
	if (n > r->step)
		n = r->step;
	memcpy(buf, r->data + offset, n);
	return (ssize_t)n;
}

/* Reading a byte at a time gives the same result; a read error fails the
 * scan as temporary. */
static void test_reader(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr = make_rules("body B =~ /needle/ 1\n"
					     "header H Subject =~ /hay/ 1\n");
	const char *msg = with_attachment(pool, "text/plain", "x.txt", elf_head,
					  sizeof(elf_head));
	msg = mc_psprintf(pool, "Subject: hay\r\n%s", msg);
	msg = mc_psprintf(pool, "%.*sneedle%s", (int)(strstr(msg, "See") - msg),
			  msg, strstr(msg, "See"));
	struct slow_reader r = {msg, strlen(msg), 1, UINT64_MAX};
	struct mc_spamrules_result res;
	struct mc_error err = {0};
	assert_int_equal(
		mc_spamrules_scan(sr, pool, slow_read, &r, NULL, &res, &err),
		0);
	assert_true(has(&res, "B") && has(&res, "H"));
	assert_true(has(&res, "ATTACH_DANGEROUS_TYPE"));
	assert_int_equal(res.size, strlen(msg));
	r.step = 7;
	r.fail_at = 100;
	assert_int_equal(
		mc_spamrules_scan(sr, pool, slow_read, &r, NULL, &res, &err),
		-1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* ---- the shipped rules ---- */

/* The default rules file scores a phishing message and leaves a plain
 * one alone. */
static void test_default_rules(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules_settings set = settings(NULL);
	set.rules_file = DEFAULT_RULES;
	struct mc_spamrules *sr = make(&set);
	struct mc_spamrules_result res = scan(
		sr, pool,
		"From: \"security@bank.example\" <x@evil.example>\r\n"
		"To: undisclosed-recipients:;\r\n"
		"Subject: Account suspended!!!\r\n"
		"Content-Type: text/html\r\n\r\n"
		"<p>Please verify your account details at "
		"<a href=\"http://bank.example@192.0.2.7/login\">our site</a>"
		"</p>\r\n",
		NULL);
	static const char *const want[] = {
		"SUBJ_ACCOUNT_ALERT",  "SUBJ_EXCLAIM", "TO_UNDISCLOSED",
		"BODY_VERIFY_ACCOUNT", "URI_USERINFO", "URI_NUMERIC_IP",
		"FROM_NAME_ADDRESS",   "MISSING_DATE", NULL};
	for (size_t i = 0; want[i] != NULL; i++)
		if (!has(&res, want[i]))
			fail_msg("no %s", want[i]);
	assert_true(res.score > 10);
	struct mc_spamrules_inputs in = {.spf = MC_SPF_PASS,
					 .dkim = MC_DKIM_PASS};
	res = scan(sr, pool,
		   HDRS "Subject: Lunch on Friday?\r\n\r\nShall we meet at "
			"noon? The menu is at https://cafe.example/menu.\r\n",
		   &in);
	assert_int_equal(res.hit_count, 2);
	assert_true(res.score < 0);
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

/* ---- threads ---- */

#define THREADS 4
#define ROUNDS	40

struct thread_arg {
	struct mc_spamrules *sr;
	const char *msg;
	double score;
	int ok;
};

/* Scans the message ROUNDS times; ok counts identical results. */
static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct mc_pool *pool = mc_pool_create("test-spamrules-thread", 0);
	for (int i = 0; i < ROUNDS; i++) {
		struct mc_spamrules_result res;
		if (mc_spamrules_scan_buffer(a->sr, pool, a->msg,
					     strlen(a->msg), NULL, &res,
					     NULL) == 0 &&
		    res.score == a->score && res.attachment_count == 1 &&
		    res.attachments[0].dangerous_type)
			a->ok++;
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
	return NULL;
}

/* Four threads share one rule set (and its libmagic handles). */
static void test_threads(void **state)
{
	(void)state;
	struct mc_pool *pool = mc_pool_create("test-spamrules", 0);
	struct mc_spamrules *sr = make_rules("body B =~ /see attached/i 1\n"
					     "header H Subject =~ /files/ 1\n");
	const char *msg = with_attachment(pool, "text/plain", "a.txt", mz_head,
					  sizeof(mz_head));
	struct mc_spamrules_result res = scan(sr, pool, msg, NULL);
	assert_int_equal(res.hit_count, 3);
	struct thread_arg args[THREADS];
	pthread_t tids[THREADS];
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct thread_arg){sr, msg, res.score, 0};
		assert_int_equal(
			pthread_create(&tids[i], NULL, thread_main, &args[i]),
			0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(tids[i], NULL);
		assert_int_equal(args[i].ok, ROUNDS);
	}
	mc_spamrules_destroy(&sr);
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_types),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_rules_file),
		cmocka_unit_test(test_description),
		cmocka_unit_test(test_catastrophic_regex),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_parts_limit),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_missing_headers),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_attachment_lists),
		cmocka_unit_test(test_inputs),
		cmocka_unit_test(test_score_sum),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_default_rules),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
