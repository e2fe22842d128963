/* test-content-rules: per-domain content rules: every field and operator,
 * AND/OR and groups, the first deciding action winning while earlier tags
 * and BCCs accumulate, disabled rules, facts from a MIME message with
 * attachments (whole and byte by byte), header conditions, a regex bounded
 * by its match limit, validation errors, the attachment blocklist, and
 * loading from PostgreSQL (skipped without MAILCORE_TEST_PG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "mailcore/mc-content-rules.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"

#include "mc-test.h"

/* A hand-made summary every field test runs against. */
static const char *const rcpts[] = {"alice@example.test", "Bob@Other.test"};
static const struct mc_content_header headers[] = {
	{"From", "Eve <eve@evil.test>"},
	{"X-Spam-Flag", "YES"},
	{"Received", "from a.test"},
	{"Received", "from b.test"},
};
static const struct mc_content_attachment atts[] = {
	{"Invoice.PDF", "application/pdf", 120000},
	{"", "image/png", 3000},
};
static const struct mc_content_facts base = {
	.sender = "eve@evil.test",
	.recipients = rcpts,
	.recipients_count = 2,
	.subject = "Your Invoice is ready",
	.headers = headers,
	.headers_count = 4,
	.body = "Please pay now.\nRegards",
	.body_len = 23,
	.attachments = atts,
	.attachments_count = 2,
	.size = 150000,
};

static struct mc_pool *pool;
static struct mc_pg *pg; /* NULL without MAILCORE_TEST_PG */
static char schema[96];

/* Compiles rules from JSON text, which must be valid. */
static struct mc_content_rules *compile(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	struct mc_content_rules *r = NULL;
	struct mc_error err = {0};
	if (mc_content_rules_compile(j, pool, &r, &err) < 0)
		fail_msg("compile: %s: %s", err.msg, text);
	json_decref(j);
	return r;
}

/* Compiles text expecting failure; returns the error. */
static struct mc_error compile_error(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	struct mc_content_rules *r = NULL;
	struct mc_error err = {0};
	assert_int_equal(mc_content_rules_compile(j, pool, &r, &err), -1);
	assert_null(r);
	json_decref(j);
	return err;
}

/* Whether one condition (JSON text) holds for facts. */
static bool cond_holds(const char *cond, const struct mc_content_facts *f)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "[{\"name\": \"t\", \"conditions\": [%s], "
		 "\"action\": {\"type\": \"reject\"}}]",
		 cond);
	struct mc_content_verdict v;
	mc_content_rules_eval(compile(text), f, &v);
	return v.action == MC_CONTENT_REJECT;
}

static int setup(void **state)
{
	(void)state;
	pool = mc_pool_create("test-content-rules", 0);
	pg = mc_test_pg_schema("content_rules", schema, sizeof(schema));
	if (pg != NULL)
		mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme'), "
				"('beta')");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	mc_pool_destroy(&pool);
	return 0;
}

struct cond_case {
	const char *cond;
	bool holds;
};

/* Every field with every operator it takes, both outcomes. */
static void test_fields_and_ops(void **state)
{
	(void)state;
	static const struct cond_case cases[] = {
		{"{\"field\":\"subject\",\"op\":\"contains\",\"value\":"
		 "\"invoice\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"contains\",\"value\":"
		 "\"invoice\",\"case_sensitive\":true}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"contains\",\"value\":"
		 "\"Invoice\",\"case_sensitive\":true}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"not_contains\",\"value\":"
		 "\"invoice\"}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"not_contains\",\"value\":"
		 "\"lottery\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"equals\",\"value\":\"your "
		 "invoice is ready\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"equals\",\"value\":\"your "
		 "invoice\"}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"starts_with\",\"value\":"
		 "\"YOUR\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"starts_with\",\"value\":"
		 "\"invoice\"}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"ends_with\",\"value\":"
		 "\"READY\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"ends_with\",\"value\":"
		 "\"your\"}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"matches\",\"value\":\"^"
		 "your\\\\s+inv\"}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"matches\",\"value\":\"^"
		 "your\\\\s+inv\",\"case_sensitive\":true}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"exists\"}", true},
		{"{\"field\":\"subject\",\"op\":\"exists\",\"value\":false}",
		 false},
		{"{\"field\":\"body\",\"op\":\"contains\",\"value\":\"pay "
		 "now\"}",
		 true},
		{"{\"field\":\"body\",\"op\":\"matches\",\"value\":\"^Regards$"
		 "\"}",
		 false},
		{"{\"field\":\"body\",\"op\":\"matches\",\"value\":\"(?m)^"
		 "Regards$\"}",
		 true},
		{"{\"field\":\"body\",\"op\":\"ends_with\",\"value\":"
		 "\"regards\"}",
		 true},
		{"{\"field\":\"body\",\"op\":\"exists\"}", true},
		{"{\"field\":\"sender\",\"op\":\"ends_with\",\"value\":\"@EVIL."
		 "test\"}",
		 true},
		{"{\"field\":\"sender\",\"op\":\"equals\",\"value\":\"eve@evil."
		 "test\"}",
		 true},
		{"{\"field\":\"sender\",\"op\":\"starts_with\",\"value\":"
		 "\"bob\"}",
		 false},
		{"{\"field\":\"recipient\",\"op\":\"equals\",\"value\":\"bob@"
		 "other.test\"}",
		 true},
		{"{\"field\":\"recipient\",\"op\":\"ends_with\",\"value\":\"@"
		 "nowhere.test\"}",
		 false},
		{"{\"field\":\"recipient\",\"op\":\"not_contains\",\"value\":"
		 "\"alice\"}",
		 false},
		{"{\"field\":\"recipient\",\"op\":\"not_contains\",\"value\":"
		 "\"carol\"}",
		 true},
		{"{\"field\":\"recipient\",\"op\":\"exists\"}", true},
		{"{\"field\":\"attachment_name\",\"op\":\"ends_with\","
		 "\"value\":\".pdf\"}",
		 true},
		{"{\"field\":\"attachment_name\",\"op\":\"ends_with\","
		 "\"value\":\".pdf\",\"case_sensitive\":true}",
		 false},
		{"{\"field\":\"attachment_name\",\"op\":\"matches\",\"value\":"
		 "\"\\\\.(exe|scr)$\"}",
		 false},
		{"{\"field\":\"attachment_name\",\"op\":\"exists\"}", true},
		{"{\"field\":\"attachment_type\",\"op\":\"equals\",\"value\":"
		 "\"image/png\"}",
		 true},
		{"{\"field\":\"attachment_type\",\"op\":\"starts_with\","
		 "\"value\":\"video/\"}",
		 false},
		{"{\"field\":\"attachment_type\",\"op\":\"not_contains\","
		 "\"value\":\"zip\"}",
		 true},
		{"{\"field\":\"attachment_type\",\"op\":\"exists\"}", true},
		{"{\"field\":\"attachment_size\",\"op\":\"gt\",\"value\":"
		 "100000}",
		 true},
		{"{\"field\":\"attachment_size\",\"op\":\"gt\",\"value\":"
		 "\"1M\"}",
		 false},
		{"{\"field\":\"attachment_size\",\"op\":\"lt\",\"value\":"
		 "\"2k\"}",
		 false},
		{"{\"field\":\"attachment_size\",\"op\":\"lt\",\"value\":3001}",
		 true},
		{"{\"field\":\"attachment_size\",\"op\":\"equals\",\"value\":"
		 "3000}",
		 true},
		{"{\"field\":\"attachment_size\",\"op\":\"exists\"}", true},
		{"{\"field\":\"size\",\"op\":\"gt\",\"value\":149999}", true},
		{"{\"field\":\"size\",\"op\":\"gt\",\"value\":150000}", false},
		{"{\"field\":\"size\",\"op\":\"lt\",\"value\":\"1M\"}", true},
		{"{\"field\":\"size\",\"op\":\"equals\",\"value\":150000}",
		 true},
		{"{\"field\":\"size\",\"op\":\"exists\"}", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (cond_holds(cases[i].cond, &base) != cases[i].holds)
			fail_msg("case %zu: %s should be %s", i, cases[i].cond,
				 cases[i].holds ? "true" : "false");
	}
}

/* Fields of an empty message: exists false, not_contains true. */
static void test_empty_facts(void **state)
{
	(void)state;
	static const struct cond_case cases[] = {
		{"{\"field\":\"subject\",\"op\":\"exists\"}", false},
		{"{\"field\":\"subject\",\"op\":\"equals\",\"value\":\"\"}",
		 true},
		{"{\"field\":\"body\",\"op\":\"exists\"}", false},
		{"{\"field\":\"sender\",\"op\":\"exists\",\"value\":false}",
		 true},
		{"{\"field\":\"recipient\",\"op\":\"exists\"}", false},
		{"{\"field\":\"recipient\",\"op\":\"not_contains\",\"value\":"
		 "\"a\"}",
		 true},
		{"{\"field\":\"header:From\",\"op\":\"exists\"}", false},
		{"{\"field\":\"attachment_name\",\"op\":\"exists\"}", false},
		{"{\"field\":\"attachment_size\",\"op\":\"lt\",\"value\":1}",
		 false},
		{"{\"field\":\"attachment_type\",\"op\":\"not_contains\","
		 "\"value\":\"x\"}",
		 true},
		{"{\"field\":\"size\",\"op\":\"exists\"}", true},
	};
	struct mc_content_facts empty = {.sender = "", .subject = ""};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (cond_holds(cases[i].cond, &empty) != cases[i].holds)
			fail_msg("case %zu: %s should be %s", i, cases[i].cond,
				 cases[i].holds ? "true" : "false");
	}
}

/* header:<Name>: case-insensitive names, any of several values. */
static void test_header_conditions(void **state)
{
	(void)state;
	static const struct cond_case cases[] = {
		{"{\"field\":\"header:x-spam-flag\",\"op\":\"equals\","
		 "\"value\":\"yes\"}",
		 true},
		{"{\"field\":\"header:X-Spam-Flag\",\"op\":\"equals\","
		 "\"value\":\"yes\",\"case_sensitive\":true}",
		 false},
		{"{\"field\":\"header:Received\",\"op\":\"contains\",\"value\":"
		 "\"b.test\"}",
		 true},
		{"{\"field\":\"header:Received\",\"op\":\"not_contains\","
		 "\"value\":\"b.test\"}",
		 false},
		{"{\"field\":\"header:Received\",\"op\":\"not_contains\","
		 "\"value\":\"c.test\"}",
		 true},
		{"{\"field\":\"header:From\",\"op\":\"matches\",\"value\":\"<[^"
		 ">]+@evil\\\\.test>\"}",
		 true},
		{"{\"field\":\"header:Reply-To\",\"op\":\"exists\"}", false},
		{"{\"field\":\"header:Reply-To\",\"op\":\"exists\",\"value\":"
		 "false}",
		 true},
		{"{\"field\":\"header:Reply-To\",\"op\":\"contains\",\"value\":"
		 "\"x\"}",
		 false},
		{"{\"field\":\"header:Reply-To\",\"op\":\"not_contains\","
		 "\"value\":\"x\"}",
		 true},
		{"{\"field\":\"header:X-Spam-Flag\",\"op\":\"exists\"}", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (cond_holds(cases[i].cond, &base) != cases[i].holds)
			fail_msg("case %zu: %s should be %s", i, cases[i].cond,
				 cases[i].holds ? "true" : "false");
	}
}

#define TRUE_C                                                                 \
	"{\"field\":\"subject\",\"op\":\"contains\",\"value\":\"invoice\"}"
#define FALSE_C                                                                \
	"{\"field\":\"subject\",\"op\":\"contains\",\"value\":\"lottery\"}"

/* match all is AND, any is OR; one level of groups. */
static void test_and_or_groups(void **state)
{
	(void)state;
	static const struct {
		const char *match, *conds;
		bool holds;
	} cases[] = {
		{"all", TRUE_C "," TRUE_C, true},
		{"all", TRUE_C "," FALSE_C, false},
		{"any", TRUE_C "," FALSE_C, true},
		{"any", FALSE_C "," FALSE_C, false},
		{"all", TRUE_C ",{\"any\":[" FALSE_C "," TRUE_C "]}", true},
		{"all", TRUE_C ",{\"any\":[" FALSE_C "," FALSE_C "]}", false},
		{"any", FALSE_C ",{\"all\":[" TRUE_C "," TRUE_C "]}", true},
		{"any", FALSE_C ",{\"all\":[" TRUE_C "," FALSE_C "]}", false},
	};
	char text[2048];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(
			text, sizeof(text),
			"[{\"name\":\"t\",\"match\":\"%s\",\"conditions\":[%s],"
			"\"action\":{\"type\":\"hold\"}}]",
			cases[i].match, cases[i].conds);
		struct mc_content_verdict v;
		mc_content_rules_eval(compile(text), &base, &v);
		if ((v.action == MC_CONTENT_HOLD) != cases[i].holds)
			fail_msg("case %zu: %s", i, text);
	}
}

/* Rules run by position (not array order); tags and BCCs before the first
 * deciding rule accumulate (deduplicated), the rest is not evaluated. */
static void test_first_deciding_wins(void **state)
{
	(void)state;
	struct mc_content_rules *r = compile(
		"[{\"name\":\"late "
		"tag\",\"position\":50,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"tag\",\"text\":\"[LATE]\"}},"
		"{\"name\":\"reject\",\"position\":40,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"reject\",\"text\":\"no invoices\"}},"
		"{\"name\":\"quarantine\",\"position\":30,\"conditions\":"
		"[" TRUE_C
		"],\"action\":{\"type\":\"quarantine\",\"text\":\"why\"}},"
		"{\"name\":\"no "
		"match\",\"position\":25,\"conditions\":[" FALSE_C
		"],\"action\":{\"type\":\"deliver\"}},"
		"{\"name\":\"bcc\",\"position\":20,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"bcc\",\"address\":\"audit@example."
		"test\"}},"
		"{\"name\":\"tag "
		"again\",\"position\":15,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"tag\",\"text\":\"[EXTERNAL]\"}},"
		"{\"name\":\"tag\",\"position\":10,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"tag\",\"text\":\"[EXTERNAL]\"}}]");
	struct mc_content_verdict v;
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_QUARANTINE);
	assert_string_equal(v.rule, "quarantine");
	assert_int_equal(v.position, 30);
	assert_string_equal(v.text, "why");
	assert_int_equal(v.tags_count, 1);
	assert_string_equal(v.tags[0], "[EXTERNAL]");
	assert_int_equal(v.bcc_count, 1);
	assert_string_equal(v.bcc[0], "audit@example.test");
	assert_int_equal(v.rules_matched, 4);
	assert_false(v.blocklisted);
	assert_int_equal(mc_content_rules_total(r), 7);
}

/* Disabled rules are skipped; a reject without text gets the default;
 * no deciding rule leaves NONE with the tags. */
static void test_disabled_and_defaults(void **state)
{
	(void)state;
	struct mc_content_rules *r = compile(
		"[{\"name\":\"off\",\"enabled\":false,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"deliver\"}},"
		"{\"name\":\"rej\",\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"reject\"}}]");
	struct mc_content_verdict v;
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_REJECT);
	assert_string_equal(v.rule, "rej");
	assert_int_equal(v.position, 1);
	assert_string_equal(v.text, MC_CONTENT_REJECT_TEXT);
	assert_int_equal(mc_content_rules_count(r), 1);

	r = compile("[{\"name\":\"t\",\"conditions\":[" TRUE_C
		    "],\"action\":{\"type\":\"tag\",\"text\":\"[X]\"}},"
		    "{\"name\":\"d\",\"enabled\":false,\"conditions\":[" TRUE_C
		    "],\"action\":{\"type\":\"deliver\"}}]");
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_NONE);
	assert_null(v.rule);
	assert_null(v.text);
	assert_int_equal(v.position, -1);
	assert_int_equal(v.tags_count, 1);

	mc_content_rules_eval(NULL, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_NONE);
	assert_int_equal(v.tags_count, 0);
	assert_string_equal(mc_content_action_name(MC_CONTENT_HOLD), "hold");
	assert_string_equal(mc_content_action_name(MC_CONTENT_BCC), "bcc");
}

/* A regex with catastrophic backtracking stops at the match limit: no
 * match, counted, and fast. */
static void test_regex_bounded(void **state)
{
	(void)state;
	char body[4096];
	memset(body, 'a', 3000);
	strcpy(body + 3000, "!");
	struct mc_content_facts f = base;
	f.body = body;
	f.body_len = strlen(body);
	struct mc_content_rules *r = compile(
		"[{\"name\":\"evil\",\"conditions\":[{\"field\":\"body\","
		"\"op\":\"matches\",\"value\":\"^(a|aa)+$\"}],"
		"\"action\":{\"type\":\"reject\"}},"
		"{\"name\":\"after\",\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"hold\"}}]");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct mc_content_verdict v;
	mc_content_rules_eval(r, &f, &v);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms =
		(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_int_equal(v.action, MC_CONTENT_HOLD);
	assert_int_equal(v.regex_errors, 1);
	assert_true(ms < 500);
	/* without the trailing "!" the same pattern matches */
	body[3000] = '\0';
	f.body_len = 3000;
	mc_content_rules_eval(r, &f, &v);
	assert_true(v.action == MC_CONTENT_REJECT || v.regex_errors == 1);
}

struct err_case {
	const char *json;
	enum mc_error_class cls;
	const char *msg; /* substring */
};

#define R(conds, action)                                                       \
	"[{\"name\":\"r\",\"conditions\":[" conds "],\"action\":" action "}]"
#define REJ "{\"type\":\"reject\"}"

/* Precise validation errors. */
static void test_validation_errors(void **state)
{
	(void)state;
	static const struct err_case cases[] = {
		{"{}", MC_ERR_INVALID, "rules: not an array"},
		{"[1]", MC_ERR_INVALID, "rules[0]: not an object"},
		{"[{\"conditions\":[" TRUE_C "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0].name: missing"},
		{"[{\"name\":\"r\",\"colour\":1,\"conditions\":[" TRUE_C
		 "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0]: unknown key \"colour\""},
		{"[{\"name\":\"r\",\"position\":-1,\"conditions\":[" TRUE_C
		 "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0].position"},
		{"[{\"name\":\"r\",\"enabled\":\"yes\",\"conditions\":[" TRUE_C
		 "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0].enabled: not a boolean"},
		{"[{\"name\":\"r\",\"match\":\"some\",\"conditions\":[" TRUE_C
		 "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0].match"},
		{"[{\"name\":\"r\",\"conditions\":[],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules[0].conditions: not a non-empty array"},
		{R("{\"field\":\"colour\",\"op\":\"equals\",\"value\":\"x\"}",
		   REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[0].field: unknown field \"colour\""},
		{R("{\"field\":\"header:\",\"op\":\"exists\"}", REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[0].field: bad header name"},
		{R("{\"field\":\"subject\",\"op\":\"near\",\"value\":\"x\"}",
		   REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[0].op: unknown operator \"near\""},
		{R("{\"field\":\"subject\",\"op\":\"gt\",\"value\":3}", REJ),
		 MC_ERR_INVALID, "\"gt\" does not apply to text field subject"},
		{R("{\"field\":\"size\",\"op\":\"contains\",\"value\":\"3\"}",
		   REJ),
		 MC_ERR_INVALID,
		 "\"contains\" does not apply to numeric field"},
		{R("{\"field\":\"size\",\"op\":\"gt\",\"value\":\"big\"}", REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[0].value: gt needs an integer"},
		{R("{\"field\":\"subject\",\"op\":\"contains\",\"value\":3}",
		   REJ),
		 MC_ERR_INVALID, "rules[0].conditions[0].value: not a string"},
		{R("{\"field\":\"subject\",\"op\":\"contains\",\"value\":\"\"}",
		   REJ),
		 MC_ERR_INVALID, "rules[0].conditions[0].value: empty"},
		{R("{\"field\":\"subject\",\"op\":\"exists\",\"value\":1}",
		   REJ),
		 MC_ERR_INVALID, "exists takes true or false"},
		{R("{\"field\":\"subject\",\"op\":\"matches\",\"value\":\"("
		   "a\"}",
		   REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[0].value: regex does not compile at "
		 "offset"},
		{R("{\"field\":\"subject\",\"op\":\"exists\",\"case_"
		   "sensitive\":1}",
		   REJ),
		 MC_ERR_INVALID, "case_sensitive: not a boolean"},
		{R(TRUE_C ",{\"any\":[{\"all\":[" TRUE_C "]}]}", REJ),
		 MC_ERR_INVALID,
		 "rules[0].conditions[1].any[0]: not a condition (groups nest"},
		{R("{\"any\":[]}", REJ), MC_ERR_INVALID,
		 "rules[0].conditions[0]: a group is"},
		{R(TRUE_C, "{\"type\":\"explode\"}"), MC_ERR_INVALID,
		 "rules[0].action.type: unknown \"explode\""},
		{"[{\"name\":\"r\",\"conditions\":[" TRUE_C "]}]",
		 MC_ERR_INVALID, "rules[0].action: missing"},
		{R(TRUE_C, "{\"type\":\"bcc\"}"), MC_ERR_INVALID,
		 "rules[0].action.address: missing"},
		{R(TRUE_C, "{\"type\":\"bcc\",\"address\":\"not an address\"}"),
		 MC_ERR_INVALID, "rules[0].action.address: not an address"},
		{R(TRUE_C, "{\"type\":\"bcc\",\"address\":\"a@b..c\"}"),
		 MC_ERR_INVALID, "rules[0].action.address: not an address"},
		{R(TRUE_C, "{\"type\":\"tag\"}"), MC_ERR_INVALID,
		 "rules[0].action.text: missing"},
		{R(TRUE_C, "{\"type\":\"tag\",\"text\":\"a\\nb\"}"),
		 MC_ERR_INVALID, "rules[0].action.text: control characters"},
		{R(TRUE_C, "{\"type\":\"reject\",\"text\":\"caf\\u00e9\"}"),
		 MC_ERR_INVALID, "rules[0].action.text: not printable ASCII"},
		{R(TRUE_C, "{\"type\":\"reject\",\"colour\":1}"),
		 MC_ERR_INVALID, "rules[0]: unknown key \"colour\""},
		{"[{\"name\":\"a\",\"position\":3,\"conditions\":[" TRUE_C
		 "],\"action\":" REJ "},{\"name\":\"b\",\"position\":3,"
		 "\"conditions\":[" TRUE_C "],\"action\":" REJ "}]",
		 MC_ERR_INVALID, "rules: position 3 used by \"a\" and \"b\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct mc_error err = compile_error(cases[i].json);
		if (err.cls != cases[i].cls ||
		    strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: got %s \"%s\", want \"%s\"", i,
				 mc_error_class_name(err.cls), err.msg,
				 cases[i].msg);
	}
}

/* Building a JSON array of n rules, each with conds conditions. */
static json_t *many(size_t n, size_t conds)
{
	json_t *rules = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array();
		for (size_t k = 0; k < conds; k++)
			json_array_append_new(
				c, json_pack("{ssssss}", "field", "subject",
					     "op", "contains", "value", "x"));
		json_array_append_new(
			rules, json_pack("{sssoso}", "name", "r", "conditions",
					 c, "action",
					 json_pack("{ss}", "type", "reject")));
	}
	return rules;
}

/* 100 rules and 20 conditions (groups included) are the limits. */
static void test_limits(void **state)
{
	(void)state;
	struct mc_content_rules *r;
	struct mc_error err = {0};
	json_t *j = many(MC_CONTENT_RULES_MAX, MC_CONTENT_CONDITIONS_MAX);
	assert_int_equal(mc_content_rules_compile(j, pool, &r, &err), 0);
	assert_int_equal(mc_content_rules_count(r), 100);
	json_decref(j);
	j = many(MC_CONTENT_RULES_MAX + 1, 1);
	assert_int_equal(mc_content_rules_compile(j, pool, &r, &err), -1);
	assert_int_equal(err.cls, MC_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "at most 100"));
	json_decref(j);
	mc_error_clear(&err);
	j = many(1, MC_CONTENT_CONDITIONS_MAX + 1);
	assert_int_equal(mc_content_rules_compile(j, pool, &r, &err), -1);
	assert_int_equal(err.cls, MC_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "rules[0].conditions[20]"));
	json_decref(j);
	struct mc_error e = compile_error(R(
		"{\"any\":[" TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C
		"," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C "]},"
		"{\"all\":[" TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C
		"," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C "," TRUE_C
		"]}," TRUE_C,
		REJ));
	assert_int_equal(e.cls, MC_ERR_LIMIT);
	assert_non_null(strstr(e.msg, "rules[0].conditions[2]"));
	assert_int_equal(mc_content_rules_compile(NULL, pool, &r, &err), 0);
	assert_int_equal(mc_content_rules_total(r), 0);
}

/* A reader over a string, at most step bytes per call (0: all). */
struct reader {
	const char *data;
	size_t len, step;
	bool fail;
};

static ssize_t read_str(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct reader *r = ctx;
	if (r->fail && offset > 0)
		return -1;
	if (offset >= r->len)
		return 0;
	size_t n = r->len - offset;
	if (n > len)
		n = len;
	if (r->step != 0 && n > r->step)
		n = r->step;
	memcpy(buf, r->data + offset, n);
	return (ssize_t)n;
}

static const char mime_msg[] =
	"From: Eve <eve@evil.test>\r\n"
	"To: alice@example.test\r\n"
	"Subject: =?UTF-8?Q?Rechnung_f=C3=BCr_Sie?=\r\n"
	"X-Mailer: Test\r\n"
	"  Mailer 2\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"OUTER\"\r\n"
	"\r\n"
	"--OUTER\r\n"
	"Content-Type: multipart/alternative; boundary=\"ALT\"\r\n"
	"\r\n"
	"--ALT\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Bitte zahlen Sie sofort, sch=F6n.\r\n"
	"--ALT\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<p>Click <b>here</b></p>\r\n"
	"--ALT--\r\n"
	"--OUTER\r\n"
	"Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQKMTIzNDU2Nzg5MA==\r\n"
	"--OUTER\r\n"
	"Content-Type: application/octet-stream;\r\n"
	" name=\"=?UTF-8?B?w7xiZXIuZXhl?=\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"TVqQAAMAAAAEAAAA\r\n"
	"--OUTER\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"Content-Disposition: attachment; filename*=utf-8''notes%20v2.txt\r\n"
	"\r\n"
	"secret notes\r\n"
	"--OUTER--\r\n";

/* Facts from mime_msg read step bytes at a time. */
static const struct mc_content_facts *extract(size_t step,
					      const struct mc_content_limits *l)
{
	static const char *const to[] = {"alice@example.test"};
	struct reader rd = {mime_msg, sizeof(mime_msg) - 1, step, false};
	const struct mc_content_facts *f = NULL;
	struct mc_error err = {0};
	assert_int_equal(mc_content_facts_extract(pool, read_str, &rd,
						  "eve@evil.test", to, 1, l, &f,
						  &err),
			 0);
	return f;
}

/* Checks the summary of mime_msg. */
static void check_mime_facts(const struct mc_content_facts *f)
{
	assert_string_equal(f->subject, "Rechnung für Sie");
	assert_string_equal(f->sender, "eve@evil.test");
	assert_int_equal(f->recipients_count, 1);
	assert_int_equal(f->headers_count, 6);
	assert_string_equal(f->headers[3].name, "X-Mailer");
	assert_string_equal(f->headers[3].value, "Test  Mailer 2");
	assert_int_equal(f->size, sizeof(mime_msg) - 1);
	assert_non_null(strstr(f->body, "Bitte zahlen Sie sofort, schön."));
	assert_non_null(strstr(f->body, "Click here"));
	assert_null(strstr(f->body, "<b>"));
	assert_null(strstr(f->body, "secret"));
	assert_false(f->body_truncated);
	assert_int_equal(f->attachments_count, 3);
	assert_string_equal(f->attachments[0].name, "invoice.pdf");
	assert_string_equal(f->attachments[0].type, "application/pdf");
	assert_int_equal(f->attachments[0].size, 19);
	assert_string_equal(f->attachments[1].name, "über.exe");
	assert_string_equal(f->attachments[1].type, "application/octet-stream");
	assert_int_equal(f->attachments[1].size, 12);
	assert_string_equal(f->attachments[2].name, "notes v2.txt");
	assert_string_equal(f->attachments[2].type, "text/plain");
	assert_int_equal(f->attachments[2].size, 12);
}

/* Facts from a MIME message with attachments, whole and byte by byte;
 * then attachment conditions on them. */
static void test_mime_facts(void **state)
{
	(void)state;
	check_mime_facts(extract(0, NULL));
	check_mime_facts(extract(1, NULL));
	const struct mc_content_facts *f = extract(7, NULL);
	static const struct cond_case cases[] = {
		{"{\"field\":\"attachment_name\",\"op\":\"ends_with\","
		 "\"value\":\".EXE\"}",
		 true},
		{"{\"field\":\"attachment_name\",\"op\":\"equals\",\"value\":"
		 "\"über.exe\"}",
		 true},
		{"{\"field\":\"attachment_name\",\"op\":\"matches\",\"value\":"
		 "\"^.ber\\\\.exe$\"}",
		 true},
		{"{\"field\":\"attachment_type\",\"op\":\"equals\",\"value\":"
		 "\"application/pdf\"}",
		 true},
		{"{\"field\":\"attachment_type\",\"op\":\"equals\",\"value\":"
		 "\"text/html\"}",
		 false},
		{"{\"field\":\"attachment_size\",\"op\":\"gt\",\"value\":18}",
		 true},
		{"{\"field\":\"attachment_size\",\"op\":\"gt\",\"value\":19}",
		 false},
		{"{\"field\":\"attachment_size\",\"op\":\"lt\",\"value\":13}",
		 true},
		{"{\"field\":\"subject\",\"op\":\"contains\",\"value\":"
		 "\"FÜR\"}",
		 false},
		{"{\"field\":\"subject\",\"op\":\"matches\",\"value\":\"FÜR\"}",
		 true},
		{"{\"field\":\"body\",\"op\":\"contains\",\"value\":"
		 "\"SOFORT\"}",
		 true},
		{"{\"field\":\"header:x-mailer\",\"op\":\"equals\",\"value\":"
		 "\"test  mailer 2\"}",
		 true},
		{"{\"field\":\"header:Content-Type\",\"op\":\"starts_with\","
		 "\"value\":\"multipart/mixed\"}",
		 true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (cond_holds(cases[i].cond, f) != cases[i].holds)
			fail_msg("case %zu: %s should be %s", i, cases[i].cond,
				 cases[i].holds ? "true" : "false");
	}
}

/* max_body and max_attachments cut; a read error is temporary. */
static void test_facts_limits(void **state)
{
	(void)state;
	struct mc_content_limits l = {.max_body = 10, .max_attachments = 2};
	const struct mc_content_facts *f = extract(0, &l);
	assert_true(f->body_len <= 10);
	assert_true(f->body_truncated);
	assert_int_equal(f->attachments_count, 2);
	assert_true(f->attachments_truncated);

	struct reader rd = {mime_msg, sizeof(mime_msg) - 1, 100, true};
	struct mc_error err = {0};
	f = NULL;
	assert_int_equal(mc_content_facts_extract(pool, read_str, &rd, NULL,
						  NULL, 0, NULL, &f, &err),
			 -1);
	assert_null(f);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);

	/* a single-part non-text message is one attachment */
	static const char zip[] = "Subject: z\r\nContent-Type: application/zip"
				  "\r\n\r\nPK\r\n";
	struct reader rz = {zip, sizeof(zip) - 1, 0, false};
	assert_int_equal(mc_content_facts_extract(pool, read_str, &rz, NULL,
						  NULL, 0, NULL, &f, &err),
			 0);
	assert_string_equal(f->sender, "");
	assert_int_equal(f->attachments_count, 1);
	assert_string_equal(f->attachments[0].type, "application/zip");
	assert_int_equal(f->body_len, 0);
}

/* Sets a blocklist from JSON text. */
static int blocklist(struct mc_content_rules *r, const char *text,
		     enum mc_content_action action, struct mc_error *err)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	int ret = mc_content_rules_set_blocklist(r, j, action, err);
	json_decref(j);
	return ret;
}

/* The blocklist runs before the rules (even a deliver at position 0),
 * by extension or type; bad entries are refused. */
static void test_blocklist(void **state)
{
	(void)state;
	struct mc_content_rules *r = compile(
		"[{\"name\":\"pass\",\"position\":0,\"conditions\":[" TRUE_C
		"],\"action\":{\"type\":\"deliver\"}}]");
	struct mc_error err = {0};
	struct mc_content_verdict v;
	const struct mc_content_facts *f = extract(0, NULL);

	assert_int_equal(
		blocklist(r, "[\".scr\", \"EXE\"]", MC_CONTENT_REJECT, &err),
		0);
	assert_int_equal(mc_content_rules_blocklist_count(r), 2);
	mc_content_rules_eval(r, f, &v);
	assert_int_equal(v.action, MC_CONTENT_REJECT);
	assert_true(v.blocklisted);
	assert_string_equal(v.blocked_attachment, "über.exe");
	assert_string_equal(v.blocked_entry, "exe");
	assert_string_equal(v.text, MC_CONTENT_BLOCKED_TEXT);
	assert_null(v.rule);
	assert_int_equal(v.rules_matched, 0);

	/* no hit: the rules decide */
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_DELIVER);
	assert_false(v.blocklisted);

	assert_int_equal(blocklist(r, "[\"image/*\", \"tar.gz\"]",
				   MC_CONTENT_QUARANTINE, &err),
			 0);
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_QUARANTINE);
	assert_string_equal(v.blocked_attachment, "image/png");
	assert_string_equal(v.blocked_entry, "image/*");
	assert_null(v.text);

	struct mc_content_attachment tgz = {"x.TAR.GZ. ", "application/gzip",
					    1};
	struct mc_content_facts one = {.sender = "",
				       .subject = "",
				       .attachments = &tgz,
				       .attachments_count = 1};
	mc_content_rules_eval(r, &one, &v);
	assert_string_equal(v.blocked_entry, "tar.gz");
	tgz.name = "xtar.gz.txt";
	mc_content_rules_eval(r, &one, &v);
	assert_false(v.blocklisted);
}

/* Bad blocklist entries and actions are refused; the list stays. */
static void test_blocklist_errors(void **state)
{
	(void)state;
	struct mc_content_rules *r = compile("[]");
	struct mc_error err = {0};
	assert_int_equal(
		blocklist(r, "[\"exe\", \"scr\"]", MC_CONTENT_REJECT, &err), 0);
	static const char *const bad[] = {"[\"\"]",	"[\".\"]",
					  "[\"a b\"]",	"[\"exe..\"]",
					  "[\"/pdf\"]", "[\"application/\"]",
					  "[3]",	"{}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		mc_error_clear(&err);
		assert_int_equal(blocklist(r, bad[i], MC_CONTENT_REJECT, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
	}
	mc_error_clear(&err);
	assert_int_equal(blocklist(r, "[\"exe\"]", MC_CONTENT_HOLD, &err), -1);
	/* the previous list stays after a failure */
	assert_int_equal(mc_content_rules_blocklist_count(r), 2);
	assert_int_equal(mc_content_rules_validate(NULL, NULL, &err), 0);
	json_t *b = json_loads("[\"exe\", \"no good\"]", 0, NULL);
	mc_error_clear(&err);
	assert_int_equal(mc_content_rules_validate(NULL, b, &err), -1);
	assert_non_null(strstr(err.msg, "blocklist[1]"));
	json_decref(b);
}

/* A new domain of tenant 1 with a blocklist; its id. */
static long long seed_domain(const char *name)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO domains (tenant_id, name, attachment_blocklist, "
		 "attachment_blocklist_action) VALUES (1, '%s', "
		 "'{exe,application/x-msdownload}', 'quarantine') RETURNING id",
		 name);
	return mc_test_num(pg, sql);
}

/* Three rules of domain d: positions 20 (hold), 10 (tag), 5 (disabled). */
static void seed_rules(long long d)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO content_rules (tenant_id, domain_id, position, "
		 "name, enabled, rule) VALUES "
		 "(1, %lld, 20, 'hold', true, '{\"conditions\": [" TRUE_C
		 "], \"action\": {\"type\": \"hold\"}}'), "
		 "(1, %lld, 10, 'tag', true, '{\"match\": \"any\", "
		 "\"conditions\": [" TRUE_C
		 "], \"action\": {\"type\": \"tag\", "
		 "\"text\": \"[T]\"}}'), "
		 "(1, %lld, 5, 'off', false, '{\"conditions\": [" TRUE_C
		 "], \"action\": {\"type\": \"reject\"}}')",
		 d, d, d);
	mc_test_sql(pg, sql);
}

/* Rules and blocklist loaded from PostgreSQL, in position order; a
 * missing domain gives an empty set. */
static void test_load_pg(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long d = seed_domain("load.test");
	seed_rules(d);
	struct mc_content_rules *r = NULL;
	struct mc_error err = {0};
	struct mc_content_verdict v;
	assert_int_equal(mc_content_rules_load(pg, pool, 1, d, &r, &err), 1);
	assert_int_equal(mc_content_rules_total(r), 3);
	assert_int_equal(mc_content_rules_count(r), 2);
	assert_int_equal(mc_content_rules_blocklist_count(r), 2);
	mc_content_rules_eval(r, &base, &v);
	assert_int_equal(v.action, MC_CONTENT_HOLD);
	assert_int_equal(v.position, 20);
	assert_int_equal(v.tags_count, 1);
	mc_content_rules_eval(r, extract(0, NULL), &v);
	assert_int_equal(v.action, MC_CONTENT_QUARANTINE);
	assert_true(v.blocklisted);

	r = NULL;
	assert_int_equal(mc_content_rules_load(pg, pool, 1, d + 1000, &r, &err),
			 0);
	assert_non_null(r);
	assert_int_equal(mc_content_rules_total(r), 0);
	/* another tenant's domain is not found either */
	assert_int_equal(mc_content_rules_load(pg, pool, 2, d, &r, &err), 0);
}

/* The database refuses a 101st rule of a domain (SQLSTATE MC001). */
static void test_load_limit_trigger(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long d = seed_domain("limit.test");
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO content_rules (tenant_id, domain_id, position, "
		 "name, rule) SELECT 1, %lld, g, 'r' || g, "
		 "'{\"conditions\": [" FALSE_C "], \"action\": {\"type\": "
		 "\"deliver\"}}' FROM generate_series(1, 100) g",
		 d);
	mc_test_sql(pg, sql);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO content_rules (tenant_id, domain_id, position, "
		 "name, rule) VALUES (1, %lld, 1000, 'over', '{}')",
		 d);
	struct mc_error err = {0};
	assert_int_equal(mc_pg_exec(pg, sql, 0, NULL, &err), -1);
	assert_int_equal(err.cls, MC_ERR_LIMIT);
	struct mc_content_rules *r = NULL;
	mc_error_clear(&err);
	assert_int_equal(mc_content_rules_load(pg, pool, 1, d, &r, &err), 1);
	assert_int_equal(mc_content_rules_total(r), 100);
}

/* A stored rule that no longer compiles fails the load; deleting the
 * domain deletes its rules. */
static void test_load_broken_and_cascade(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long d = seed_domain("broken.test");
	seed_rules(d);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "UPDATE content_rules SET rule = '{\"conditions\": [], "
		 "\"action\": {}}' WHERE domain_id = %lld AND position = 20",
		 d);
	mc_test_sql(pg, sql);
	struct mc_content_rules *r = NULL;
	struct mc_error err = {0};
	assert_int_equal(mc_content_rules_load(pg, pool, 1, d, &r, &err), -1);
	assert_null(r);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_non_null(strstr(err.msg, "stored rules: rules[2].conditions"));

	snprintf(sql, sizeof(sql), "DELETE FROM domains WHERE id = %lld", d);
	mc_test_sql(pg, sql);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM content_rules WHERE domain_id = %lld",
		 d);
	assert_int_equal(mc_test_num(pg, sql), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_ops),
		cmocka_unit_test(test_empty_facts),
		cmocka_unit_test(test_header_conditions),
		cmocka_unit_test(test_and_or_groups),
		cmocka_unit_test(test_first_deciding_wins),
		cmocka_unit_test(test_disabled_and_defaults),
		cmocka_unit_test(test_regex_bounded),
		cmocka_unit_test(test_validation_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_mime_facts),
		cmocka_unit_test(test_facts_limits),
		cmocka_unit_test(test_blocklist),
		cmocka_unit_test(test_blocklist_errors),
		cmocka_unit_test(test_load_pg),
		cmocka_unit_test(test_load_limit_trigger),
		cmocka_unit_test(test_load_broken_and_cascade),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
