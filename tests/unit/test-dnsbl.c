/* test-dnsbl: DNSBL scoring against the in-memory DNS: listings, weights
 * summed against the threshold, negative weights as allowlists,
 * return-code filters, refusal codes, IPv6 nibble names, a failing zone,
 * TXT reasons in the reject text, and the configuration parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-dnsbl.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

/* A check's world: zones, resolver and pool. */
struct fixture {
	struct mc_dnsbl *bl;
	struct mc_dns *dns;
	struct mc_pool *pool;
};

static void fixture_init(struct fixture *f, const char *zones, int threshold,
			 const char *text)
{
	struct mc_dnsbl_settings set = {zones, threshold, text};
	struct mc_error err = {0};
	f->bl = mc_dnsbl_create(&set, &err);
	if (f->bl == NULL)
		fail_msg("create: %s", err.msg);
	f->dns = mc_dns_memory_create();
	f->pool = mc_pool_create("test-dnsbl", 0);
}

static void fixture_done(struct fixture *f)
{
	mc_dnsbl_destroy(&f->bl);
	assert_null(f->bl);
	mc_dns_destroy(&f->dns);
	mc_pool_destroy(&f->pool);
}

/* Adds a record that must be accepted. */
static void add(struct fixture *f, const char *name, const char *type,
		const char *rdata)
{
	assert_int_equal(mc_dns_memory_add(f->dns, name, type, rdata), 0);
}

/* Checks ip, which must work; returns the result. */
static const struct mc_dnsbl_result *check(struct fixture *f, const char *ip)
{
	const struct mc_dnsbl_result *res;
	struct mc_error err = {0};
	int r = mc_dnsbl_check(f->bl, f->dns, f->pool, ip, &res, &err);
	if (r < 0)
		fail_msg("check %s: %s", ip, err.msg);
	assert_non_null(res);
	assert_int_equal(r, res->over);
	return res;
}

static void test_listed(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, "bl.example", 0, NULL);
	add(&f, "1.2.0.192.bl.example", "A", "127.0.0.2");
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_string_equal(res->query, "1.2.0.192");
	assert_int_equal(res->score, 1);
	assert_true(res->over);
	assert_int_equal(res->hit_count, 1);
	assert_string_equal(res->hits[0].zone, "bl.example");
	assert_int_equal(res->hits[0].status, MC_DNSBL_LISTED);
	assert_int_equal(res->hits[0].code_count, 1);
	assert_string_equal(res->hits[0].codes[0], "127.0.0.2");
	assert_null(res->hits[0].txt);
	assert_string_equal(res->reject_text,
			    "Client host [192.0.2.1] blocked using bl.example");
	res = check(&f, "192.0.2.2");
	assert_int_equal(res->score, 0);
	assert_false(res->over);
	assert_null(res->reject_text);
	assert_int_equal(res->hits[0].status, MC_DNSBL_NOT_LISTED);
	assert_int_equal(res->hits[0].code_count, 0);
	assert_null(res->hits[0].error);
	/* an IPv4-mapped client is asked as IPv4 */
	res = check(&f, "::ffff:192.0.2.1");
	assert_string_equal(res->query, "1.2.0.192");
	assert_true(res->over);
	fixture_done(&f);
}

/* Scores: the zones listing the client, the score and over. */
static const struct {
	const char *zones;
	int threshold;
	const char *listed[3];
	int score;
	bool over;
} scores[] = {
	{"a.example*2, b.example*3, c.example", 5, {"a", "b"}, 5, true},
	{"a.example*2, b.example*3, c.example", 5, {"a", "c"}, 3, false},
	{"a.example*2 b.example*3\tc.example", 5, {"a", "b", "c"}, 6, true},
	{"a.example*2, b.example*3, c.example", 0, {"c"}, 1, true},
	{"a.example*2, b.example*3, c.example", 5, {NULL}, 0, false},
	/* an allowlist outweighs a listing */
	{"a.example*3, b.example*-5", 3, {"a", "b"}, -2, false},
	{"a.example*3, b.example*-5", 3, {"a"}, 3, true},
	{"a.example*3, b.example*-5", 3, {"b"}, -5, false},
	{"a.example*+4, b.example*-1, c.example*1",
	 4,
	 {"a", "b", "c"},
	 4,
	 true},
};

static void test_scores(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scores) / sizeof(scores[0]); i++) {
		struct fixture f;
		char name[64];
		fixture_init(&f, scores[i].zones, scores[i].threshold, NULL);
		for (int z = 0; z < 3 && scores[i].listed[z] != NULL; z++) {
			snprintf(name, sizeof(name), "9.113.0.203.%s.example",
				 scores[i].listed[z]);
			add(&f, name, "A", "127.0.0.2");
		}
		const struct mc_dnsbl_result *res = check(&f, "203.0.113.9");
		if (res->score != scores[i].score ||
		    res->over != scores[i].over)
			fail_msg("case %zu: score %d over %d", i, res->score,
				 res->over);
		assert_true(res->over == (res->reject_text != NULL));
		fixture_done(&f);
	}
}

static void test_return_codes(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f,
		     "zen.example=127.0.0.[2..3]*4, "
		     "zen.example=127.0.0.[10;11]*1, "
		     "multi.example=127.0.0.4;127.1.[0;5..6].2*2",
		     1, NULL);
	add(&f, "1.2.0.192.zen.example", "A", "127.0.0.10");
	add(&f, "1.2.0.192.multi.example", "A", "127.0.0.5");
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_int_equal(res->hits[0].status, MC_DNSBL_NOT_LISTED);
	assert_int_equal(res->hits[0].code_count, 1);
	assert_string_equal(res->hits[0].codes[0], "127.0.0.10");
	assert_int_equal(res->hits[1].status, MC_DNSBL_LISTED);
	assert_int_equal(res->hits[2].status, MC_DNSBL_NOT_LISTED);
	assert_int_equal(res->score, 1);
	add(&f, "2.2.0.192.zen.example", "A", "127.0.0.3");
	add(&f, "2.2.0.192.zen.example", "A", "127.0.0.11");
	add(&f, "2.2.0.192.multi.example", "A", "127.1.6.2");
	res = check(&f, "192.0.2.2");
	assert_int_equal(res->hits[0].status, MC_DNSBL_LISTED);
	assert_int_equal(res->hits[0].code_count, 2);
	assert_int_equal(res->hits[1].status, MC_DNSBL_LISTED);
	assert_int_equal(res->hits[2].status, MC_DNSBL_LISTED);
	assert_int_equal(res->score, 7);
	/* the reject text names the heaviest listing */
	assert_non_null(strstr(res->reject_text, "using zen.example"));
	add(&f, "3.2.0.192.multi.example", "A", "127.1.4.2");
	res = check(&f, "192.0.2.3");
	assert_int_equal(res->hits[2].status, MC_DNSBL_NOT_LISTED);
	fixture_done(&f);
}

static void test_odd_answers(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, "a.example, b.example, c.example", 1, NULL);
	/* outside 127.0.0.0/8 (a hijacking resolver) is no listing */
	add(&f, "1.2.0.192.a.example", "A", "192.0.2.99");
	/* a refused query is an error, not a listing */
	add(&f, "1.2.0.192.b.example", "A", "127.255.255.254");
	/* AAAA answers do not count */
	add(&f, "1.2.0.192.c.example", "AAAA", "::1");
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_int_equal(res->score, 0);
	assert_int_equal(res->hits[0].status, MC_DNSBL_NOT_LISTED);
	assert_int_equal(res->hits[0].code_count, 0);
	assert_int_equal(res->hits[1].status, MC_DNSBL_ERROR);
	assert_non_null(strstr(res->hits[1].error, "refused"));
	assert_non_null(strstr(res->hits[1].error, "127.255.255.254"));
	assert_int_equal(res->hits[2].status, MC_DNSBL_NOT_LISTED);
	fixture_done(&f);
}

static void test_ipv6(void **state)
{
	(void)state;
	static const char rev[] = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				  "0.0.8.b.d.0.1.0.0.2";
	struct fixture f;
	char name[128];
	fixture_init(&f, "bl6.example*2", 2, NULL);
	snprintf(name, sizeof(name), "%s.bl6.example", rev);
	add(&f, name, "A", "127.0.0.2");
	const struct mc_dnsbl_result *res = check(&f, "2001:DB8::1");
	assert_string_equal(res->query, rev);
	assert_int_equal(res->score, 2);
	assert_true(res->over);
	assert_string_equal(res->reject_text,
			    "Client host [2001:DB8::1] blocked using "
			    "bl6.example");
	res = check(&f, "2001:db8:abcd:12::fe");
	assert_string_equal(res->query, "e.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
					"2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2");
	assert_false(res->over);
	fixture_done(&f);
}

static void test_dns_failure(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, "bad.example*5, bl.example", 1, NULL);
	mc_dns_memory_fail(f.dns, "1.2.0.192.bad.example");
	add(&f, "1.2.0.192.bad.example", "A", "127.0.0.2");
	add(&f, "1.2.0.192.bl.example", "A", "127.0.0.2");
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_int_equal(res->hits[0].status, MC_DNSBL_ERROR);
	assert_non_null(res->hits[0].error);
	assert_string_equal(mc_dnsbl_status_name(res->hits[0].status), "error");
	assert_int_equal(res->hits[1].status, MC_DNSBL_LISTED);
	assert_int_equal(res->score, 1);
	assert_string_equal(res->reject_text,
			    "Client host [192.0.2.1] blocked using bl.example");
	/* only failing zones: nothing listed, mail goes on */
	mc_dns_memory_fail(f.dns, "1.2.0.192.bl.example");
	res = check(&f, "192.0.2.1");
	assert_int_equal(res->score, 0);
	assert_false(res->over);
	assert_int_equal(res->hits[1].status, MC_DNSBL_ERROR);
	fixture_done(&f);
}

static void test_txt_reason(void **state)
{
	(void)state;
	struct fixture f;
	char long_txt[400];
	fixture_init(&f, "small.example, big.example*3", 1, NULL);
	add(&f, "1.2.0.192.small.example", "A", "127.0.0.2");
	add(&f, "1.2.0.192.small.example", "TXT", "small says no");
	add(&f, "1.2.0.192.big.example", "A", "127.0.0.2");
	add(&f, "1.2.0.192.big.example", "TXT",
	    "Listed, see https://big.example/q?ip=192.0.2.1");
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_string_equal(res->hits[0].txt, "small says no");
	assert_string_equal(
		res->reject_text,
		"Client host [192.0.2.1] blocked using big.example: "
		"Listed, see https://big.example/q?ip=192.0.2.1");
	/* a reason made fit for a reply line */
	add(&f, "2.2.0.192.small.example", "A", "127.0.0.2");
	add(&f, "2.2.0.192.small.example", "TXT", "evil\r\n250 ok\x01");
	res = check(&f, "192.0.2.2");
	assert_string_equal(res->hits[0].txt, "evil??250 ok?");
	memset(long_txt, 'x', sizeof(long_txt) - 1);
	long_txt[sizeof(long_txt) - 1] = '\0';
	add(&f, "3.2.0.192.small.example", "A", "127.0.0.2");
	add(&f, "3.2.0.192.small.example", "TXT", long_txt);
	res = check(&f, "192.0.2.3");
	assert_int_equal(strlen(res->hits[0].txt), 200);
	/* no TXT asked for a zone that does not list */
	assert_null(res->hits[1].txt);
	fixture_done(&f);

	/* a text of the administrator's */
	fixture_init(&f, "bl.example", 1,
		     "$ip is listed by $zone ($reason), $other $");
	add(&f, "1.2.0.192.bl.example", "A", "127.0.0.2");
	add(&f, "1.2.0.192.bl.example", "TXT", "spam $ip");
	res = check(&f, "192.0.2.1");
	assert_string_equal(res->reject_text,
			    "192.0.2.1 is listed by bl.example (spam $ip), "
			    "$other $");
	fixture_done(&f);
}

/* Good configuration values: count, then zone and weight of each. */
static const struct {
	const char *s;
	int count;
	const char *zone[3];
	int weight[3];
	size_t patterns[3];
} good[] = {
	{"zen.spamhaus.org*2, bl.example=127.0.0.4*3, allow.example*-5",
	 3,
	 {"zen.spamhaus.org", "bl.example", "allow.example"},
	 {2, 3, -5},
	 {0, 1, 0}},
	{"  BL.Example.  \t x.example=127.0.0.[1..5;9];127.0.1.2 ",
	 2,
	 {"bl.example", "x.example"},
	 {1, 1},
	 {0, 2}},
	{"", 0, {NULL}, {0}, {0}},
	{NULL, 0, {NULL}, {0}, {0}},
	{"a_b.example*10000", 1, {"a_b.example"}, {10000}, {0}},
};

/* Bad configuration values. */
static const char *const bad[] = {
	"bl..example",
	".bl.example",
	"bl.exa mple=127.0.0.2=", /* "mple=127.0.0.2=" as a zone */
	"bl.example*",
	"bl.example*x",
	"bl.example*2x",
	"bl.example*99999",
	"bl.example=",
	"bl.example=127.0.0",
	"bl.example=127.0.0.256",
	"bl.example=127.0.0.1234",
	"bl.example=127.0.0.[5..2]",
	"bl.example=127.0.0.[2",
	"bl.example=127.0.0.[]",
	"bl.example=127.0.0.2;",
	"bl.example=127.0.0.2.",
	"bl.example*2=127.0.0.2",
	"*3",
	"=127.0.0.2",
	"bad!zone.example",
	"a.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aa.example",
	"a.example=1.1.1.1;2.2.2.2;3.3.3.3;4.4.4.4;5.5.5.5;6.6.6.6;7.7.7.7;"
	"8.8.8.8;9.9.9.9",
};

static void test_parse(void **state)
{
	(void)state;
	struct mc_dnsbl_zone zones[MC_DNSBL_ZONES_MAX];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mc_error err = {0};
		int n = mc_dnsbl_zones_parse(good[i].s, zones,
					     MC_DNSBL_ZONES_MAX, &err);
		if (n != good[i].count)
			fail_msg("good %zu: %d (%s)", i, n, err.msg);
		for (int z = 0; z < n; z++) {
			assert_string_equal(zones[z].zone, good[i].zone[z]);
			assert_int_equal(zones[z].weight, good[i].weight[z]);
			assert_int_equal(zones[z].pattern_count,
					 good[i].patterns[z]);
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_error err = {0};
		int n = mc_dnsbl_zones_parse(bad[i], zones, MC_DNSBL_ZONES_MAX,
					     &err);
		if (n != -1 || err.cls != MC_ERR_INVALID)
			fail_msg("bad %zu (%s) accepted: %d", i, bad[i], n);
		assert_non_null(strstr(err.msg, "bad DNSBL entry"));
	}
	/* the item is named, and the count is limited */
	struct mc_error err = {0};
	assert_int_equal(
		mc_dnsbl_zones_parse("ok.example, no..example", zones, 4, &err),
		-1);
	assert_non_null(strstr(err.msg, "no..example"));
	mc_error_clear(&err);
	assert_int_equal(mc_dnsbl_zones_parse("a.example b.example c.example",
					      zones, 2, &err),
			 -1);
	assert_non_null(strstr(err.msg, "too many"));
	assert_int_equal(
		mc_dnsbl_zones_parse("a.example b.example", zones, 2, NULL), 2);
}

static void test_create_and_errors(void **state)
{
	(void)state;
	struct mc_error err = {0};
	struct mc_dnsbl_settings set = {"bl.example*x", 1, NULL};
	assert_null(mc_dnsbl_create(&set, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	set = (struct mc_dnsbl_settings){"bl.example", -1, NULL};
	assert_null(mc_dnsbl_create(&set, NULL));
	/* no zones: nothing is asked, never over */
	struct fixture f;
	fixture_init(&f, "", 0, NULL);
	assert_int_equal(mc_dnsbl_count(f.bl), 0);
	const struct mc_dnsbl_result *res = check(&f, "192.0.2.1");
	assert_int_equal(res->hit_count, 0);
	assert_false(res->over);
	/* a client that is no IP */
	mc_error_clear(&err);
	assert_int_equal(
		mc_dnsbl_check(f.bl, f.dns, f.pool, "192.0.2", &res, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_null(res);
	assert_int_equal(mc_dnsbl_check(f.bl, f.dns, f.pool, NULL, &res, NULL),
			 -1);
	fixture_done(&f);
	mc_dnsbl_destroy(NULL);
	assert_string_equal(mc_dnsbl_status_name(MC_DNSBL_NOT_LISTED),
			    "not listed");
	assert_string_equal(mc_dnsbl_status_name(MC_DNSBL_LISTED), "listed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed),
		cmocka_unit_test(test_scores),
		cmocka_unit_test(test_return_codes),
		cmocka_unit_test(test_odd_answers),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_dns_failure),
		cmocka_unit_test(test_txt_reason),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_create_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
