/* test-authres: the Authentication-Results builder (results, reasons,
 * comments, properties; token / addr-spec / quoted-string values and
 * folding under 78 columns) and the forged-field test of RFC 8601
 * section 5 on a table of field names and values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-authres.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>

#define ID "mx.example.net"

/* Asserts that no line of "Authentication-Results: value" is longer than
 * MC_AUTHRES_LINE_MAX columns (tabs 8), and that folds are CRLF + WSP. */
static void assert_folded(const char *value)
{
	size_t col = strlen(MC_AUTHRES_FIELD ": ");

	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\r') {
			assert_int_equal(p[1], '\n');
			assert_true(p[2] == '\t' || p[2] == ' ');
			assert_true(col <= MC_AUTHRES_LINE_MAX);
			col = 0;
			p++;
			continue;
		}
		assert_int_not_equal(*p, '\n');
		col += *p == '\t' ? 8 : 1;
	}
	assert_true(col <= MC_AUTHRES_LINE_MAX);
}

/* The value unfolded: CRLF dropped, a folding TAB read as the space it
 * replaced. */
static const char *unfold(struct mc_pool *pool, const char *value)
{
	struct mc_buf b;

	mc_buf_init(&b, pool, 0);
	for (const char *p = value; *p != '\0'; p++) {
		if (p[0] == '\r' && p[1] == '\n') {
			mc_buf_append_c(&b, ' ');
			p += 2;
			continue;
		}
		mc_buf_append_c(&b, *p);
	}
	return mc_buf_cstr(&b);
}

/* SPF, DKIM and DMARC as the pipeline adds them, folded. */
static void test_build_typical(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);
	struct mc_dkim_sig sig = {.result = MC_DKIM_PASS,
				  .domain = "b.example",
				  .selector = "sel",
				  .algorithm = "rsa-sha256",
				  .reason = ""};
	struct mc_dmarc_verdict v = {.result = MC_DMARC_PASS,
				     .requested = MC_DMARC_POLICY_REJECT,
				     .header_from = "b.example",
				     .policy_domain = "b.example",
				     .reason = "aligned"};

	(void)state;
	mc_authres_add_spf(ar, "pass", "a@b.example", "helo.b.example");
	mc_authres_add_dkim(ar, &sig);
	mc_authres_add_dmarc(ar, &v);
	const char *val = mc_authres_value(ar);
	assert_string_equal(val,
			    ID "; spf=pass smtp.mailfrom=a@b.example;\r\n"
			       "\tdkim=pass header.d=b.example header.s=sel "
			       "header.a=rsa-sha256;\r\n"
			       "\tdmarc=pass (p=reject dis=none) "
			       "header.from=b.example");
	assert_folded(val);
	mc_pool_destroy(&pool);
}

/* Failures carry reasons; a null reverse-path uses smtp.helo; DMARC
 * without a record has no comment. */
static void test_build_failures(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);
	struct mc_dkim_sig sig = {.result = MC_DKIM_FAIL,
				  .domain = "b.example",
				  .selector = "s1",
				  .algorithm = "ed25519-sha256",
				  .reason = "body hash mismatch"};
	struct mc_dmarc_verdict v = {.result = MC_DMARC_NONE,
				     .header_from = "b.example",
				     .reason = "no DMARC record"};

	(void)state;
	mc_authres_add_spf(ar, "softfail", "", "helo.b.example");
	mc_authres_add_dkim(ar, &sig);
	mc_authres_add_dmarc(ar, &v);
	const char *val = mc_authres_value(ar);
	assert_folded(val);
	assert_string_equal(
		unfold(pool, val),
		ID "; spf=softfail smtp.helo=helo.b.example; dkim=fail "
		   "reason=\"body hash mismatch\" header.d=b.example "
		   "header.s=s1 header.a=ed25519-sha256; dmarc=none "
		   "reason=\"no DMARC record\" header.from=b.example");
	mc_pool_destroy(&pool);
}

/* No result at all. */
static void test_build_none(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);

	(void)state;
	assert_string_equal(mc_authres_value(ar), ID "; none");
	ar = mc_authres_create(pool, "my host");
	assert_string_equal(mc_authres_value(ar), "\"my host\"; none");
	/* an invalid keyword adds nothing, nor do its properties */
	assert_false(mc_authres_add(ar, "sp f", "pass"));
	mc_authres_prop(ar, "smtp", "mailfrom", "a@b.example");
	mc_authres_reason(ar, "ignored");
	assert_false(mc_authres_add(ar, "spf", ""));
	assert_string_equal(mc_authres_value(ar), "\"my host\"; none");
	mc_pool_destroy(&pool);
}

/* Many results with long reasons: every line fits and unfolding gives
 * back the words, blanks inside quoted strings included. */
static void test_fold_long(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);
	struct mc_buf want;

	(void)state;
	mc_buf_init(&want, pool, 0);
	mc_buf_append_str(&want, ID ";");
	for (int i = 0; i < 6; i++) {
		const char *d = mc_psprintf(pool, "signer%d.example.org", i);
		assert_true(mc_authres_add(ar, "DKIM", "Fail"));
		mc_authres_reason(ar, "signature verification failed: the "
				      "body hash did not match the bh= tag");
		mc_authres_prop(ar, "header", "d", d);
		mc_buf_printf(&want,
			      " dkim=fail reason=\"signature verification "
			      "failed: the body hash did not match the bh= "
			      "tag\" header.d=%s%s",
			      d, i < 5 ? ";" : "");
	}
	const char *val = mc_authres_value(ar);
	assert_folded(val);
	assert_non_null(strstr(val, "\r\n "));	/* folded in a string */
	assert_non_null(strstr(val, "\r\n\t")); /* and between elements */
	assert_string_equal(unfold(pool, val), mc_buf_cstr(&want));
	mc_pool_destroy(&pool);
}

/* How one property value is written. */
static const struct {
	const char *value, *written;
} value_cases[] = {
	{"b.example", "b.example"},
	{"a@b.example", "a@b.example"},
	{"user+tag.x@b.example", "user+tag.x@b.example"},
	{"@b.example", "@b.example"},
	{"a b", "\"a b\""},
	{"first last@b.example", "\"first last@b.example\""},
	{"a..b@b.example", "\"a..b@b.example\""},
	{"x\"y\\z", "\"x\\\"y\\\\z\""},
	{"x;y", "\"x;y\""},
	{"a=b", "\"a=b\""},
	{"(c)", "\"(c)\""},
	{"a\r\n\tb", "\"a b\""},
	{"", "\"\""},
};

/* Values as tokens, addr-specs or quoted strings. */
static void test_values(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);

	(void)state;
	for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]);
	     i++) {
		struct mc_authres *ar = mc_authres_create(pool, ID);
		assert_true(mc_authres_add(ar, "auth", "pass"));
		mc_authres_prop(ar, "smtp", "auth", value_cases[i].value);
		const char *val = mc_authres_value(ar);
		assert_folded(val);
		assert_string_equal(unfold(pool, val),
				    mc_psprintf(pool,
						ID "; auth=pass smtp.auth=%s",
						value_cases[i].written));
	}
	mc_pool_destroy(&pool);
}

/* Reasons and comments are sanitized and escaped. */
static void test_reason_comment(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);
	char longr[400];

	(void)state;
	assert_true(mc_authres_add(ar, "spf", "fail"));
	mc_authres_comment(ar, "a (b) c\\");
	mc_authres_reason(ar, "  bad\r\n  \"record\"\x01 caf\xc3\xa9\t ");
	assert_string_equal(unfold(pool, mc_authres_value(ar)),
			    ID "; spf=fail (a \\(b\\) c\\\\) "
			       "reason=\"bad \\\"record\\\" caf??\"");
	ar = mc_authres_create(pool, ID);
	assert_true(mc_authres_add(ar, "spf", "fail"));
	mc_authres_reason(ar, " \r\n ");
	mc_authres_comment(ar, "");
	assert_string_equal(mc_authres_value(ar), ID "; spf=fail");
	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	mc_authres_reason(ar, longr);
	const char *val = unfold(pool, mc_authres_value(ar));
	assert_int_equal(strlen(val), strlen(ID "; spf=fail reason=\"\"") +
					      MC_AUTHRES_REASON_MAX);
	mc_pool_destroy(&pool);
}

/* One header field and whether it is a forgery of ID. */
static const struct {
	const char *name, *value;
	bool forged;
} forged_cases[] = {
	{"Authentication-Results", " " ID "; spf=pass", true},
	{"Authentication-Results", ID, true},
	{"authentication-results", " MX.Example.NET; dkim=pass", true},
	{"AUTHENTICATION-RESULTS ", " " ID "; none", true},
	{"Authentication-Results", " (comment) " ID "; spf=pass", true},
	{"Authentication-Results",
	 "\r\n\t(nested (comment \\) here)) " ID ";\r\n\tspf=pass", true},
	{"Authentication-Results", " " ID "(trailing); none", true},
	{"Authentication-Results", " " ID " 1; spf=pass", true},
	{"Authentication-Results", " " ID "\r\n 1 ; none", true},
	{"Authentication-Results", " \"" ID "\"; none", true},
	{"Authentication-Results", " \"MX.example.net\" 1; none", true},
	{"Authentication-Results", " other.example; spf=pass", false},
	{"Authentication-Results", " other.example; spf=pass smtp.mailfrom=" ID,
	 false},
	{"Authentication-Results", " other.example (" ID "); none", false},
	{"Authentication-Results", " (" ID ") other.example; none", false},
	{"Authentication-Results", " " ID ".evil; spf=pass", false},
	{"Authentication-Results", " evil-" ID "; spf=pass", false},
	{"Authentication-Results", " mx.example.ne; spf=pass", false},
	{"Authentication-Results", " " ID "/x; spf=pass", false},
	{"Authentication-Results", " \"" ID " x\"; none", false},
	{"Authentication-Results", " \"" ID, false},
	{"Authentication-Results", " (unterminated " ID "; none", false},
	{"Authentication-Results", "", false},
	{"X-Authentication-Results", " " ID "; spf=pass", false},
	{"ARC-Authentication-Results", " i=1; " ID "; spf=pass", false},
	{"Received", " from " ID, false},
};

/* Forged fields of our authserv-id are found, all others kept. */
static void test_forged(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forged_cases) / sizeof(forged_cases[0]);
	     i++) {
		const char *n = forged_cases[i].name;
		const char *v = forged_cases[i].value;
		print_message("%s:%s\n", n, v);
		assert_int_equal(
			mc_authres_is_forged(ID, n, strlen(n), v, strlen(v)),
			forged_cases[i].forged);
	}
	/* lengths are honoured: the value is not NUL-terminated there */
	const char *v = " " ID "x; none";
	assert_true(mc_authres_is_forged(ID, MC_AUTHRES_FIELD, 22, v,
					 strlen(ID) + 1));
	assert_false(
		mc_authres_is_forged(ID, MC_AUTHRES_FIELD, 21, v, strlen(v)));
	assert_false(
		mc_authres_is_forged("", MC_AUTHRES_FIELD, 22, v, strlen(v)));
}

/* A value we built is recognized as ours (a copy in a later message is
 * removed) and not as another server's. */
static void test_forged_roundtrip(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_authres *ar = mc_authres_create(pool, ID);

	(void)state;
	mc_authres_add_spf(ar, "pass", "a@b.example", NULL);
	const char *val = mc_authres_value(ar);
	assert_true(mc_authres_is_forged(ID, MC_AUTHRES_FIELD, 22, val,
					 strlen(val)));
	assert_false(mc_authres_is_forged("mx2.example.net", MC_AUTHRES_FIELD,
					  22, val, strlen(val)));
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_typical),
		cmocka_unit_test(test_build_failures),
		cmocka_unit_test(test_build_none),
		cmocka_unit_test(test_fold_long),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_reason_comment),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_forged_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
