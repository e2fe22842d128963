/* test-dmarc: DMARC against an in-memory DNS zone: alignment of SPF and
 * DKIM (relaxed, strict, unaligned signers), the organizational-domain
 * fallback through Debian's public suffix list, sp= and pct=, record
 * selection (none, two, bad syntax) and DNS failures; the record parser
 * and the RFC5322.From domain helper on tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#include <string.h>

static const struct {
	const char *name, *txt;
} zone[] = {
	{"_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:d@example.com"},
	{"_dmarc.strict.example", "v=DMARC1; p=reject; adkim=s; aspf=s"},
	{"_dmarc.example.co.uk", "v=DMARC1; p=reject; sp=quarantine"},
	{"_dmarc.shop.example.co.uk", "v=DMARC1; p=none"},
	{"_dmarc.plain.example", "v=DMARC1;p=reject"},
	{"_dmarc.pct0.example", "v=DMARC1; p=reject; pct=0"},
	{"_dmarc.half.example", "v=DMARC1; p=quarantine; pct=50"},
	{"_dmarc.quar.example", "v=DMARC1; np=reject; p=quarantine; x=y"},
	{"_dmarc.two.example", "v=DMARC1; p=reject"},
	{"_dmarc.two.example", "v=DMARC1; p=none"},
	{"_dmarc.one.example", "v=spf1 -all"},
	{"_dmarc.one.example", "v=DMARC1; p=reject"},
	{"_dmarc.bad.example", "v=DMARC1; p=bogus"},
	{"_dmarc.badrua.example",
	 "v=DMARC1; p=bogus; rua=mailto:r@badrua.example"},
	{"_dmarc.nop.example", "v=DMARC1; sp=reject"},
	{"_dmarc.nosep.example", "v=DMARC1 p=reject"},
	{"_dmarc.down2.example", "v=DMARC1; p=reject"},
};

/* A zone with the records above and two failing names. */
static struct mc_dns *make_zone(void)
{
	struct mc_dns *dns = mc_dns_memory_create();

	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		assert_int_equal(mc_dns_memory_add(dns, zone[i].name, "TXT",
						   zone[i].txt),
				 0);
	mc_dns_memory_fail(dns, "_dmarc.down.example");
	mc_dns_memory_fail(dns, "_dmarc.down2.example");
	return dns;
}

/* The checker and its zone for a test. */
struct fixture {
	struct mc_dns *dns;
	struct mc_dmarc *dmarc;
	struct mc_pool *pool;
};

/* Creates the fixture. */
static int setup(void **state)
{
	static struct fixture fx;
	struct mc_error err;

	mc_error_clear(&err);
	fx.dns = make_zone();
	fx.dmarc = mc_dmarc_create(NULL, fx.dns, &err);
	if (fx.dmarc == NULL) {
		print_error("%s\n", err.msg);
		return -1;
	}
	fx.pool = mc_pool_create("test-dmarc", 0);
	*state = &fx;
	return 0;
}

/* Destroys the fixture. */
static int teardown(void **state)
{
	struct fixture *fx = *state;

	mc_dmarc_destroy(&fx->dmarc);
	mc_dmarc_destroy(&fx->dmarc); /* NULL is accepted */
	mc_dns_destroy(&fx->dns);
	mc_pool_destroy(&fx->pool);
	return 0;
}

#define N  MC_DMARC_POLICY_NONE
#define Q  MC_DMARC_POLICY_QUARANTINE
#define R  MC_DMARC_POLICY_REJECT
#define DP MC_DKIM_PASS
#define DF MC_DKIM_FAIL

/* One evaluation: inputs and the expected verdict. */
struct check_case {
	const char *from;
	bool spf_pass;
	const char *spf_domain;
	const char *d1; /* DKIM signatures: domain and result */
	enum mc_dkim_result r1;
	const char *d2;
	enum mc_dkim_result r2;
	unsigned random;
	enum mc_dmarc_result result;
	enum mc_dmarc_policy policy, requested;
	bool spf_aligned, dkim_aligned, sampled_out, subdomain;
	const char *policy_domain; /* NULL: none expected */
};

static const struct check_case cases[] = {
	/* aligned SPF pass (relaxed: a subdomain of the From domain) */
	{"example.com", true, "bounce.example.com", NULL, 0, NULL, 0, 0,
	 MC_DMARC_PASS, N, R, true, false, false, false, "example.com"},
	/* aligned DKIM pass, SPF failed */
	{"Example.COM", false, "example.com", "mail.example.com", DP, NULL, 0,
	 0, MC_DMARC_PASS, N, R, false, true, false, false, "example.com"},
	/* DKIM pass but unaligned d=other.org: fail, p=reject */
	{"example.com", false, NULL, "other.org", DP, NULL, 0, 0, MC_DMARC_FAIL,
	 R, R, false, false, false, false, "example.com"},
	/* an aligned signature that failed does not count */
	{"example.com", false, NULL, "example.com", DF, "other.org", DP, 0,
	 MC_DMARC_FAIL, R, R, false, false, false, false, "example.com"},
	/* SPF passed for an unrelated domain */
	{"example.com", true, "example.net", NULL, 0, NULL, 0, 0, MC_DMARC_FAIL,
	 R, R, false, false, false, false, "example.com"},
	/* strict: a subdomain is not aligned, for SPF nor DKIM */
	{"strict.example", true, "mail.strict.example", "mail.strict.example",
	 DP, NULL, 0, 0, MC_DMARC_FAIL, R, R, false, false, false, false,
	 "strict.example"},
	/* strict: the exact domain is */
	{"strict.example", true, "STRICT.example.", "strict.example", DP, NULL,
	 0, 0, MC_DMARC_PASS, N, R, true, true, false, false, "strict.example"},
	/* org fallback: sub.example.co.uk finds _dmarc.example.co.uk, and
	 * sp=quarantine applies to the subdomain */
	{"sub.example.co.uk", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL,
	 Q, Q, false, false, false, true, "example.co.uk"},
	/* ... relaxed alignment across the organizational domain */
	{"sub.example.co.uk", true, "mx.example.co.uk", NULL, 0, NULL, 0, 0,
	 MC_DMARC_PASS, N, Q, true, false, false, true, "example.co.uk"},
	/* ... but co.uk is a public suffix: evil.co.uk is not aligned */
	{"example.co.uk", true, "evil.co.uk", "evil.co.uk", DP, NULL, 0, 0,
	 MC_DMARC_FAIL, R, R, false, false, false, false, "example.co.uk"},
	/* a record at the subdomain itself wins, and its p= applies */
	{"shop.example.co.uk", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL,
	 N, N, false, false, false, false, "shop.example.co.uk"},
	/* no sp=: subdomains get p= */
	{"a.b.plain.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL,
	 R, R, false, false, false, true, "plain.example"},
	/* pct=0: sampled out, nothing applied */
	{"pct0.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL, N, R,
	 false, false, true, false, "pct0.example"},
	/* pct=50: random 49 is in, 50 out */
	{"half.example", false, NULL, NULL, 0, NULL, 0, 49, MC_DMARC_FAIL, Q, Q,
	 false, false, false, false, "half.example"},
	{"half.example", false, NULL, NULL, 0, NULL, 0, 50, MC_DMARC_FAIL, N, Q,
	 false, false, true, false, "half.example"},
	/* p=quarantine with unknown tags (np= is not RFC 7489) */
	{"quar.example", false, NULL, NULL, 0, NULL, 0, 99, MC_DMARC_FAIL, Q, Q,
	 false, false, false, false, "quar.example"},
	/* the second signature aligns */
	{"quar.example", false, NULL, "other.org", DP, "quar.example", DP, 0,
	 MC_DMARC_PASS, N, Q, false, true, false, false, "quar.example"},
	/* no record anywhere */
	{"nothing.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_NONE, N,
	 N, false, false, false, false, NULL},
	/* two v=DMARC1 records: none (no fallback either) */
	{"two.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_NONE, N, N,
	 false, false, false, false, NULL},
	/* other TXT records beside the one DMARC record are ignored */
	{"one.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL, R, R,
	 false, false, false, false, "one.example"},
	/* "v=DMARC1 p=reject" does not start with a version tag */
	{"nosep.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_NONE, N, N,
	 false, false, false, false, NULL},
	/* bad p= without rua=: permerror, no policy */
	{"bad.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_PERMERROR, N,
	 N, false, false, false, false, NULL},
	/* missing p= (only sp=) without rua=: the same */
	{"nop.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_PERMERROR, N,
	 N, false, false, false, false, NULL},
	/* bad p= with a rua= URI: evaluated as p=none */
	{"badrua.example", false, NULL, NULL, 0, NULL, 0, 0, MC_DMARC_FAIL, N,
	 N, false, false, false, false, "badrua.example"},
};

/* Runs one case and compares the verdict. */
static void run_case(struct fixture *fx, const struct check_case *c)
{
	struct mc_dkim_sig sigs[2] = {{.result = c->r1, .domain = c->d1},
				      {.result = c->r2, .domain = c->d2}};
	struct mc_dmarc_input in = {
		.from_domain = c->from,
		.spf_pass = c->spf_pass,
		.spf_domain = c->spf_domain,
		.dkim = sigs,
		.dkim_count = c->d2 != NULL   ? 2
			      : c->d1 != NULL ? 1
					      : 0,
		.random = c->random,
	};
	struct mc_dmarc_verdict v;
	struct mc_error err;
	int want = c->result == MC_DMARC_PASS || c->result == MC_DMARC_FAIL;

	mc_error_clear(&err);
	print_message("case %s\n", c->from);
	assert_int_equal(mc_dmarc_check(fx->dmarc, fx->pool, &in, &v, &err),
			 want);
	assert_string_equal(mc_dmarc_result_name(v.result),
			    mc_dmarc_result_name(c->result));
	assert_string_equal(mc_dmarc_policy_name(v.policy),
			    mc_dmarc_policy_name(c->policy));
	assert_int_equal(v.requested, c->requested);
	assert_int_equal(v.spf_aligned, c->spf_aligned);
	assert_int_equal(v.dkim_aligned, c->dkim_aligned);
	assert_int_equal(v.sampled_out, c->sampled_out);
	assert_int_equal(v.subdomain_policy, c->subdomain);
	if (c->policy_domain == NULL)
		assert_null(v.policy_domain);
	else
		assert_string_equal(v.policy_domain, c->policy_domain);
	assert_non_null(v.reason);
}

/* The table of evaluations. */
static void test_check_table(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(fx, &cases[i]);
}

/* The verdict carries what Authentication-Results needs. */
static void test_verdict_fields(void **state)
{
	struct fixture *fx = *state;
	struct mc_dkim_sig sig = {.result = MC_DKIM_PASS,
				  .domain = "Mail.Example.CO.UK"};
	struct mc_dmarc_input in = {.from_domain = "Sub.Example.co.uk.",
				    .dkim = &sig,
				    .dkim_count = 1};
	struct mc_dmarc_verdict v;

	assert_int_equal(mc_dmarc_check(fx->dmarc, fx->pool, &in, &v, NULL), 1);
	assert_int_equal(v.result, MC_DMARC_PASS);
	assert_string_equal(v.header_from, "sub.example.co.uk");
	assert_string_equal(v.org_domain, "example.co.uk");
	assert_string_equal(v.dkim_domain, "mail.example.co.uk");
	assert_int_equal(v.record.sp, MC_DMARC_POLICY_QUARANTINE);
	assert_int_equal(v.record.p, MC_DMARC_POLICY_REJECT);
	in.from_domain = "";
	assert_int_equal(mc_dmarc_check(fx->dmarc, fx->pool, &in, &v, NULL), 0);
	assert_int_equal(v.result, MC_DMARC_NONE);
}

/* A DNS failure is temperror, at the From domain and at the fallback,
 * and never a policy. */
static void test_dns_failure(void **state)
{
	static const char *const froms[] = {"down.example",
					    "sub.down2.example"};
	struct fixture *fx = *state;

	for (size_t i = 0; i < 2; i++) {
		struct mc_dmarc_input in = {.from_domain = froms[i]};
		struct mc_dmarc_verdict v;
		struct mc_error err;
		mc_error_clear(&err);
		assert_int_equal(
			mc_dmarc_check(fx->dmarc, fx->pool, &in, &v, &err), -1);
		assert_int_equal(v.result, MC_DMARC_TEMPERROR);
		assert_int_equal(v.policy, MC_DMARC_POLICY_NONE);
		assert_true(mc_error_is_temporary(&err));
	}
}

/* Organizational domains from the suffix list. */
static void test_org_domain(void **state)
{
	static const char *const tab[][2] = {
		{"sub.example.co.uk", "example.co.uk"},
		{"example.co.uk", "example.co.uk"},
		{"a.b.example.com", "example.com"},
		{"EXAMPLE.COM.", "example.com"},
		{"co.uk", "co.uk"},
		{"x.y.unknowntld", "y.unknowntld"},
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		assert_string_equal(
			mc_dmarc_org_domain(fx->dmarc, fx->pool, tab[i][0]),
			tab[i][1]);
}

/* Both files of Debian's publicsuffix load; a missing one is an error. */
static void test_psl_files(void **state)
{
	static const char *const files[] = {
		"/usr/share/publicsuffix/public_suffix_list.dat",
		"/usr/share/publicsuffix/public_suffix_list.dafsa"};
	struct fixture *fx = *state;
	struct mc_error err;

	for (size_t i = 0; i < 2; i++) {
		struct mc_dmarc_settings set = {.psl_file = files[i]};
		struct mc_dmarc *d = mc_dmarc_create(&set, fx->dns, NULL);
		assert_non_null(d);
		assert_string_equal(
			mc_dmarc_org_domain(d, fx->pool, "a.b.example.co.uk"),
			"example.co.uk");
		mc_dmarc_destroy(&d);
		assert_null(d);
	}
	struct mc_dmarc_settings bad = {.psl_file = "/nonexistent/psl.dat"};
	mc_error_clear(&err);
	assert_null(mc_dmarc_create(&bad, fx->dns, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

/* One record for the parser and the expected outcome. */
struct rec_case {
	const char *text;
	int ret;
	enum mc_dmarc_policy p, sp;
	unsigned pct;
	bool adkim_s, aspf_s;
	unsigned long ri;
};

static const struct rec_case rec_cases[] = {
	{"v=DMARC1; p=none", 1, N, N, 100, false, false, 86400},
	{"v = DMARC1 ;p = Reject; sp=none; pct=30; adkim=s; aspf=r; ri=3600;",
	 1, R, N, 30, true, false, 3600},
	{"v=DMARC1; p=quarantine; pct=101; adkim=x; ri=-1", 1, Q, Q, 100, false,
	 false, 86400},
	{"v=DMARC1; p=reject; aspf=S; pct=abc", 1, R, R, 100, false, true,
	 86400},
	{"v=DMARC1; p=reject; sp=bogus", -1, R, R, 100, false, false, 86400},
	{"v=DMARC1; p=reject; sp=bogus; rua=mailto:a@b.example", 1, N, N, 100,
	 false, false, 86400},
	{"v=DMARC1; p=bogus; rua=notauri", -1, N, N, 100, false, false, 86400},
	{"v=DMARC1", -1, N, N, 100, false, false, 86400},
	{"v=dmarc1; p=reject", 0, N, N, 0, false, false, 0},
	{"v=DMARC10; p=reject", 0, N, N, 0, false, false, 0},
	{"p=reject; v=DMARC1", 0, N, N, 0, false, false, 0},
	{"v=spf1 -all", 0, N, N, 0, false, false, 0},
	{"", 0, N, N, 0, false, false, 0},
};

/* The record parser on a table, plus the text tags kept. */
static void test_record_parse(void **state)
{
	struct fixture *fx = *state;
	struct mc_dmarc_record rec;
	const char *error;

	for (size_t i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];
		print_message("record %s\n", c->text);
		assert_int_equal(
			mc_dmarc_record_parse(fx->pool, c->text, &rec, &error),
			c->ret);
		assert_true((error != NULL) ==
			    (c->ret < 0 || rec.policy_invalid));
		if (c->ret != 1)
			continue;
		assert_int_equal(rec.p, c->p);
		assert_int_equal(rec.sp, c->sp);
		assert_int_equal(rec.pct, c->pct);
		assert_int_equal(rec.adkim_strict, c->adkim_s);
		assert_int_equal(rec.aspf_strict, c->aspf_s);
		assert_int_equal(rec.ri, c->ri);
	}
	assert_int_equal(mc_dmarc_record_parse(fx->pool,
					       "v=DMARC1; p=none; rua=mailto:a@"
					       "x.example,mailto:b@y.example; "
					       "ruf=mailto:f@x.example; fo=1:d",
					       &rec, &error),
			 1);
	assert_string_equal(rec.rua, "mailto:a@x.example,mailto:b@y.example");
	assert_string_equal(rec.ruf, "mailto:f@x.example");
	assert_string_equal(rec.fo, "1:d");
	assert_false(rec.policy_invalid);
}

/* One From value and the expected domain (or failure). */
static const struct {
	const char *value;
	int ret;
	const char *domain;
} from_cases[] = {
	{"Alice <alice@Example.COM>", 1, "example.com"},
	{"alice@example.org.", 1, "example.org"},
	{"\"Doe, Jane\"\r\n <jane@mail.example>", 1, "mail.example"},
	{"a@x.example, b@X.Example", 1, "x.example"},
	{"a@x.example, b@y.example", -1, NULL},
	{"Team: a@x.example, b@y.example;", -1, NULL},
	{"undisclosed-recipients:;", 0, NULL},
	{"alice", 0, NULL},
	{"a@[192.0.2.1]", 0, NULL},
	{"", 0, NULL},
};

/* The RFC5322.From domain helper. */
static void test_from_domain(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]);
	     i++) {
		const char *dom, *error;
		const char *val = from_cases[i].value;
		print_message("from %s\n", val);
		assert_int_equal(mc_dmarc_from_domain(fx->pool, val,
						      strlen(val), &dom,
						      &error),
				 from_cases[i].ret);
		if (from_cases[i].ret == 1) {
			assert_string_equal(dom, from_cases[i].domain);
			assert_null(error);
		} else {
			assert_null(dom);
			assert_non_null(error);
		}
	}
}

/* Names of results and policies. */
static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mc_dmarc_result_name(MC_DMARC_NONE), "none");
	assert_string_equal(mc_dmarc_result_name(MC_DMARC_PASS), "pass");
	assert_string_equal(mc_dmarc_result_name(MC_DMARC_FAIL), "fail");
	assert_string_equal(mc_dmarc_result_name(MC_DMARC_TEMPERROR),
			    "temperror");
	assert_string_equal(mc_dmarc_result_name(MC_DMARC_PERMERROR),
			    "permerror");
	assert_string_equal(mc_dmarc_policy_name(Q), "quarantine");
	assert_string_equal(mc_dmarc_policy_name(R), "reject");
	assert_string_equal(mc_dmarc_policy_name(N), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verdict_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dns_failure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_org_domain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_psl_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_record_parse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_from_domain, setup,
						teardown),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
