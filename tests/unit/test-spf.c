/* test-spf: mc-spf against the in-memory DNS zone: every result (pass by
 * ip4, a, mx, include, redirect, exists, ptr, IPv6; fail, softfail,
 * neutral, none, permerror, temperror), the null sender's HELO identity,
 * macros, explanations, the Received-SPF value and 8 threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-spf.h"

#define RECEIVER "mx.receiver.test"

/* The zone every test shares. */
static const char *const zone[][3] = {
	{"ip4.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"},
	{"a.example", "TXT", "v=spf1 a -all"},
	{"a.example", "A", "192.0.2.10"},
	{"a.example", "AAAA", "2001:db8::10"},
	{"mx.example", "TXT", "v=spf1 mx -all"},
	{"mx.example", "MX", "10 mail.mx.example."},
	{"mail.mx.example", "A", "192.0.2.20"},
	{"inc.example", "TXT", "v=spf1 include:ip4.example ~all"},
	{"soft.example", "TXT", "v=spf1 ip4:192.0.2.1 ~all"},
	{"neutral.example", "TXT", "v=spf1 ip4:192.0.2.1 ?all"},
	{"default.example", "TXT", "v=spf1 ip4:192.0.2.1"},
	{"nospf.example", "A", "192.0.2.30"},
	{"nospf.example", "TXT", "google-site-verification=x"},
	{"two.example", "TXT", "v=spf1 +all"},
	{"two.example", "TXT", "v=spf1 -all"},
	{"syntax.example", "TXT", "v=spf1 ip4:300.1.1.1/33 -all"},
	{"unknown.example", "TXT", "v=spf1 foo:bar -all"},
	{"many.example", "TXT",
	 "v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example "
	 "a:h5.example a:h6.example a:h7.example a:h8.example a:h9.example "
	 "a:h10.example a:h11.example -all"},
	{"few.example", "TXT",
	 "v=spf1 a:h1.example a:h2.example a:h3.example -all"},
	{"loop.example", "TXT", "v=spf1 include:loop.example -all"},
	{"incnone.example", "TXT", "v=spf1 include:nospf.example -all"},
	{"tmp.example", "TXT", "v=spf1 -all"},
	{"tmpa.example", "TXT", "v=spf1 a:broken.example -all"},
	{"tmpinc.example", "TXT", "v=spf1 include:broken.example -all"},
	{"tmpmx.example", "TXT", "v=spf1 mx:broken.example -all"},
	{"tmpexists.example", "TXT", "v=spf1 exists:broken.example -all"},
	{"tmppass.example", "TXT",
	 "v=spf1 ip4:192.0.2.1 a:broken.example -all"},
	{"helo.example", "TXT", "v=spf1 ip4:192.0.2.5 -all"},
	{"v6.example", "TXT", "v=spf1 ip6:2001:db8::/32 -all"},
	{"redir.example", "TXT", "v=spf1 redirect=ip4.example"},
	{"exists.example", "TXT",
	 "v=spf1 exists:%{i}._spf.exists.example -all"},
	{"192.0.2.7._spf.exists.example", "A", "127.0.0.2"},
	{"lp.example", "TXT", "v=spf1 exists:%{l}.%{d}._u.lp.example -all"},
	{"alice.lp.example._u.lp.example", "A", "127.0.0.2"},
	{"ptr.example", "TXT", "v=spf1 ptr -all"},
	{"9.2.0.192.in-addr.arpa", "PTR", "mail.ptr.example."},
	{"mail.ptr.example", "A", "192.0.2.9"},
	{"8.2.0.192.in-addr.arpa", "PTR", "liar.ptr.example."},
	{"liar.ptr.example", "A", "192.0.2.99"},
	{"exp.example", "TXT", "v=spf1 -all exp=why.exp.example"},
	{"why.exp.example", "TXT", "%{i} is not one of %{d}'s servers"},
	{"h1.example", "A", "10.0.0.1"},
	{"h2.example", "A", "10.0.0.2"},
	{"h3.example", "A", "10.0.0.3"},
	{"h4.example", "A", "10.0.0.4"},
	{"h5.example", "A", "10.0.0.5"},
	{"h6.example", "A", "10.0.0.6"},
	{"h7.example", "A", "10.0.0.7"},
	{"h8.example", "A", "10.0.0.8"},
	{"h9.example", "A", "10.0.0.9"},
	{"h10.example", "A", "10.0.0.10"},
	{"h11.example", "A", "10.0.0.11"},
	{"ten.example", "TXT",
	 "v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example "
	 "a:h5.example a:h6.example a:h7.example a:h8.example a:h9.example "
	 "a:h10.example -all"},
	{"deep.example", "TXT",
	 "v=spf1 include:few.example include:few2.example "
	 "include:few3.example -all"},
	{"few2.example", "TXT",
	 "v=spf1 a:h4.example a:h5.example a:h6.example -all"},
	{"few3.example", "TXT",
	 "v=spf1 a:h7.example a:h8.example a:h9.example -all"},
	{"voids.example", "TXT",
	 "v=spf1 a:n1.example a:n2.example a:n3.example ip4:192.0.2.1 -all"},
	{"twovoids.example", "TXT",
	 "v=spf1 a:n1.example a:n2.example ip4:192.0.2.1 -all"},
};

static struct mc_dns *dns;
static struct mc_spf *spf;

/* Builds the zone and the checker. */
static int setup(void **state)
{
	struct mc_spf_settings set = {.receiver = RECEIVER};

	(void)state;
	dns = mc_dns_memory_create();
	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (mc_dns_memory_add(dns, zone[i][0], zone[i][1],
				      zone[i][2]) != 0)
			return -1;
	mc_dns_memory_fail(dns, "tmp.example");
	mc_dns_memory_fail(dns, "broken.example");
	set.dns = dns;
	spf = mc_spf_create(&set, NULL);
	return spf != NULL ? 0 : -1;
}

/* Frees them. */
static int teardown(void **state)
{
	(void)state;
	mc_spf_destroy(&spf);
	mc_dns_destroy(&dns);
	return 0;
}

struct spf_case {
	const char *ip, *helo, *from;
	enum mc_spf_result want;
};

/* Runs the cases, each with mc_spf_check. */
static void run_cases(const struct spf_case *cases, size_t n)
{
	struct mc_pool *pool = mc_pool_create("t", 0);

	for (size_t i = 0; i < n; i++) {
		struct mc_spf_answer ans;
		struct mc_error err = {0};
		assert_int_equal(mc_spf_check(spf, pool, cases[i].ip,
					      cases[i].helo, cases[i].from,
					      &ans, &err),
				 1);
		if (ans.result != cases[i].want)
			fail_msg("%s from %s: %s, want %s (%s)", cases[i].from,
				 cases[i].ip, mc_spf_result_name(ans.result),
				 mc_spf_result_name(cases[i].want),
				 ans.received_spf);
		assert_string_equal(
			mc_spf_result_name(ans.result),
			strtok(mc_pstrdup(pool, ans.received_spf), " "));
	}
	mc_pool_destroy(&pool);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

/* pass by ip4, a, mx, include, redirect, exists, ptr; fail otherwise. */
static void test_pass_fail(void **state)
{
	static const struct spf_case cases[] = {
		{"192.0.2.77", "h.test", "u@ip4.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@ip4.example", MC_SPF_FAIL},
		{"192.0.2.10", "h.test", "u@a.example", MC_SPF_PASS},
		{"192.0.2.11", "h.test", "u@A.Example.", MC_SPF_FAIL},
		{"192.0.2.20", "h.test", "u@mx.example", MC_SPF_PASS},
		{"192.0.2.21", "h.test", "u@mx.example", MC_SPF_FAIL},
		{"192.0.2.1", "h.test", "u@inc.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@inc.example", MC_SPF_SOFTFAIL},
		{"192.0.2.2", "h.test", "u@redir.example", MC_SPF_PASS},
		{"198.51.100.2", "h.test", "u@redir.example", MC_SPF_FAIL},
		{"192.0.2.7", "h.test", "u@exists.example", MC_SPF_PASS},
		{"192.0.2.8", "h.test", "u@exists.example", MC_SPF_FAIL},
		{"192.0.2.9", "h.test", "u@ptr.example", MC_SPF_PASS},
		{"192.0.2.8", "h.test", "u@ptr.example", MC_SPF_FAIL},
		{"192.0.2.1", "h.test", "u@few.example", MC_SPF_FAIL},
		{"10.0.0.3", "h.test", "u@few.example", MC_SPF_PASS},
	};

	(void)state;
	RUN(cases);
}

/* softfail, neutral (explicit and by default) and none. */
static void test_soft_neutral_none(void **state)
{
	static const struct spf_case cases[] = {
		{"198.51.100.1", "h.test", "u@soft.example", MC_SPF_SOFTFAIL},
		{"192.0.2.1", "h.test", "u@soft.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@neutral.example", MC_SPF_NEUTRAL},
		{"198.51.100.1", "h.test", "u@default.example", MC_SPF_NEUTRAL},
		{"198.51.100.1", "h.test", "u@nospf.example", MC_SPF_NONE},
		{"198.51.100.1", "h.test", "u@nxdomain.example", MC_SPF_NONE},
		{"198.51.100.1", "h.test", "u@localhost", MC_SPF_NONE},
		{"198.51.100.1", "h.test", "u@bad..example", MC_SPF_NONE},
		{"198.51.100.1", "h.test", "u@bad domain.example", MC_SPF_NONE},
	};

	(void)state;
	RUN(cases);
}

/* permerror: two records, syntax errors, too many lookups (10 pass, 11
 * not, counted across includes), too many void lookups, loops, an
 * include of a domain without SPF. */
static void test_permerror(void **state)
{
	static const struct spf_case cases[] = {
		{"192.0.2.1", "h.test", "u@two.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@syntax.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@unknown.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@many.example", MC_SPF_PERMERROR},
		{"10.0.0.11", "h.test", "u@many.example", MC_SPF_PERMERROR},
		{"10.0.0.10", "h.test", "u@ten.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@ten.example", MC_SPF_FAIL},
		{"10.0.0.7", "h.test", "u@deep.example", MC_SPF_PASS},
		{"10.0.0.8", "h.test", "u@deep.example", MC_SPF_PERMERROR},
		{"198.51.100.1", "h.test", "u@deep.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@voids.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@twovoids.example", MC_SPF_PASS},
		{"192.0.2.1", "h.test", "u@loop.example", MC_SPF_PERMERROR},
		{"192.0.2.1", "h.test", "u@incnone.example", MC_SPF_PERMERROR},
	};
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	RUN(cases);
	assert_int_equal(mc_spf_check(spf, pool, "192.0.2.1", "h.test",
				      "u@two.example", &ans, NULL),
			 1);
	assert_non_null(ans.problem);
	assert_non_null(strstr(ans.received_spf, " problem="));
	mc_pool_destroy(&pool);
}

/* A DNS failure anywhere gives temperror, never fail. */
static void test_temperror(void **state)
{
	static const struct spf_case cases[] = {
		{"198.51.100.1", "h.test", "u@tmp.example", MC_SPF_TEMPERROR},
		{"198.51.100.1", "h.test", "u@tmpa.example", MC_SPF_TEMPERROR},
		{"198.51.100.1", "h.test", "u@tmpinc.example",
		 MC_SPF_TEMPERROR},
		{"198.51.100.1", "h.test", "u@tmpmx.example", MC_SPF_TEMPERROR},
		{"198.51.100.1", "h.test", "u@tmpexists.example",
		 MC_SPF_TEMPERROR},
		{"192.0.2.1", "h.test", "u@tmppass.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@broken.example",
		 MC_SPF_TEMPERROR},
	};
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	RUN(cases);
	assert_int_equal(mc_spf_check(spf, pool, "198.51.100.1", "h.test",
				      "u@tmp.example", &ans, NULL),
			 1);
	assert_non_null(ans.problem);
	assert_non_null(strstr(ans.problem, "tmp.example"));
	mc_pool_destroy(&pool);
}

/* The null sender checks postmaster@helo as the HELO identity. */
static void test_null_sender(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	assert_int_equal(mc_spf_check(spf, pool, "192.0.2.5", "helo.example",
				      "", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_PASS);
	assert_int_equal(ans.identity, MC_SPF_IDENTITY_HELO);
	assert_string_equal(ans.domain, "helo.example");
	assert_string_equal(ans.sender, "postmaster@helo.example");
	assert_non_null(strstr(ans.received_spf, " envelope-from=\"\";"));
	assert_non_null(strstr(ans.received_spf, " identity=helo;"));
	assert_int_equal(mc_spf_check(spf, pool, "192.0.2.6", "helo.example",
				      NULL, &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_FAIL);
	assert_int_equal(mc_spf_check_helo(spf, pool, "192.0.2.5",
					   "Helo.Example", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_PASS);
	assert_null(strstr(ans.received_spf, "envelope-from"));
	assert_int_equal(mc_spf_check_helo(spf, pool, "192.0.2.5",
					   "[192.0.2.5]", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_NONE);
	assert_string_equal(ans.domain, "");
	assert_int_equal(
		mc_spf_check(spf, pool, "192.0.2.5", NULL, "", &ans, NULL), 1);
	assert_int_equal(ans.result, MC_SPF_NONE);
	mc_pool_destroy(&pool);
}

/* IPv6 clients: ip6 and a (AAAA); IPv4-mapped counts as IPv4. */
static void test_ipv6(void **state)
{
	static const struct spf_case cases[] = {
		{"2001:db8::5", "h.test", "u@v6.example", MC_SPF_PASS},
		{"2001:db9::5", "h.test", "u@v6.example", MC_SPF_FAIL},
		{"2001:db8::10", "h.test", "u@a.example", MC_SPF_PASS},
		{"2001:db8::11", "h.test", "u@a.example", MC_SPF_FAIL},
		{"::ffff:192.0.2.10", "h.test", "u@a.example", MC_SPF_PASS},
		{"192.0.2.10", "h.test", "u@v6.example", MC_SPF_FAIL},
	};

	(void)state;
	RUN(cases);
}

/* Macros: %{i} in exists, %{l} and %{d}; and the exp= explanation. */
static void test_macros_explanation(void **state)
{
	static const struct spf_case cases[] = {
		{"192.0.2.1", "h.test", "alice@lp.example", MC_SPF_PASS},
		{"192.0.2.1", "h.test", "bob@lp.example", MC_SPF_FAIL},
	};
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	RUN(cases);
	assert_int_equal(mc_spf_check(spf, pool, "198.51.100.3", "h.test",
				      "u@exp.example", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_FAIL);
	assert_string_equal(ans.explanation,
			    "198.51.100.3 is not one of exp.example's servers");
	assert_int_equal(mc_spf_check(spf, pool, "198.51.100.3", "h.test",
				      "u@ip4.example", &ans, NULL),
			 1);
	assert_non_null(strstr(ans.explanation, "198.51.100.3"));
	assert_int_equal(mc_spf_check(spf, pool, "192.0.2.3", "h.test",
				      "u@ip4.example", &ans, NULL),
			 1);
	assert_string_equal(ans.explanation, "");
	mc_pool_destroy(&pool);
}

/* The Received-SPF value: result, comment, the keys, quoting. */
static void test_received_spf(void **state)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	assert_int_equal(mc_spf_check(spf, pool, "192.0.2.1", "client.test",
				      "user@ip4.example", &ans, NULL),
			 1);
	assert_string_equal(ans.domain, "ip4.example");
	assert_string_equal(ans.comment,
			    RECEIVER ": domain of user@ip4.example designates "
				     "192.0.2.1 as permitted sender");
	assert_string_equal(
		ans.received_spf,
		"pass (" RECEIVER ": domain of user@ip4.example designates "
		"192.0.2.1 as permitted sender) client-ip=192.0.2.1; "
		"envelope-from=\"user@ip4.example\"; helo=client.test; "
		"receiver=" RECEIVER "; identity=mailfrom;");
	assert_int_equal(mc_spf_check(spf, pool, "2001:db8::1", "bad\r\nX: y",
				      "a(b)\"\r\n@default.example", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_NEUTRAL);
	assert_null(strpbrk(ans.received_spf, "\r\n"));
	assert_null(strpbrk(ans.comment, "\r\n"));
	assert_non_null(strstr(ans.received_spf, "client-ip=\"2001:db8::1\";"));
	assert_non_null(strstr(ans.received_spf, "helo=\"bad??X: y\";"));
	assert_non_null(strstr(ans.received_spf, "a\\(b\\)\"??@default"));
	assert_non_null(
		strstr(ans.received_spf, "envelope-from=\"a(b)\\\"??@default"));
	assert_non_null(strstr(ans.received_spf, " mechanism=default;"));
	assert_int_equal(mc_spf_check(spf, pool, "198.51.100.1", "h.test",
				      "u@tmp.example", &ans, NULL),
			 1);
	assert_true(strncmp(ans.received_spf, "temperror (", 11) == 0);
	mc_pool_destroy(&pool);
}

/* Bad input, names and create errors. */
static void test_api(void **state)
{
	static const char *const names[] = {"none",	"neutral",  "pass",
					    "fail",	"softfail", "temperror",
					    "permerror"};
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_settings set = {0};
	struct mc_spf_answer ans;
	struct mc_error err = {0};

	(void)state;
	for (int i = 0; i <= MC_SPF_PERMERROR; i++)
		assert_string_equal(mc_spf_result_name(i), names[i]);
	assert_string_equal(mc_spf_identity_name(MC_SPF_IDENTITY_HELO), "helo");
	assert_int_equal(mc_spf_check(spf, pool, "not-an-ip", "h.test",
				      "u@ip4.example", &ans, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_null(mc_spf_create(&set, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_spf_destroy(NULL);
	mc_pool_destroy(&pool);
}

/* A lower max_dns_mechanisms turns a record within 10 into permerror. */
static void test_max_mechanisms(void **state)
{
	struct mc_spf_settings set = {.dns = dns, .max_dns_mechanisms = 2};
	struct mc_spf *low = mc_spf_create(&set, NULL);
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_spf_answer ans;

	(void)state;
	assert_int_equal(mc_spf_check(low, pool, "10.0.0.3", "h.test",
				      "u@few.example", &ans, NULL),
			 1);
	assert_int_equal(ans.result, MC_SPF_PERMERROR);
	mc_pool_destroy(&pool);
	mc_spf_destroy(&low);
}

#define THREADS 8
#define ROUNDS	50

/* One thread's checks; counts wrong answers into *arg. */
static void *check_thread(void *arg)
{
	static const struct spf_case cases[] = {
		{"192.0.2.20", "h.test", "u@mx.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@inc.example", MC_SPF_SOFTFAIL},
		{"192.0.2.9", "h.test", "u@ptr.example", MC_SPF_PASS},
		{"198.51.100.1", "h.test", "u@tmpa.example", MC_SPF_TEMPERROR},
		{"192.0.2.1", "h.test", "u@many.example", MC_SPF_PERMERROR},
	};
	int *bad = arg;
	struct mc_pool *pool = mc_pool_create("t", 0);

	for (int r = 0; r < ROUNDS; r++) {
		const struct spf_case *c = &cases[r % 5];
		struct mc_spf_answer ans;
		if (mc_spf_check(spf, pool, c->ip, c->helo, c->from, &ans,
				 NULL) != 1 ||
		    ans.result != c->want)
			(*bad)++;
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
	return NULL;
}

/* 8 threads checking through one mc_spf at once. */
static void test_threads(void **state)
{
	pthread_t t[THREADS];
	int bad[THREADS] = {0};

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(
			pthread_create(&t[i], NULL, check_thread, &bad[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(bad[i], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_fail),
		cmocka_unit_test(test_soft_neutral_none),
		cmocka_unit_test(test_permerror),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_macros_explanation),
		cmocka_unit_test(test_received_spf),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_max_mechanisms),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
