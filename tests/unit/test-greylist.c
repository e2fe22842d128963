/* test-greylist: greylisting against the Redis named by MAILCORE_TEST_REDIS
 * (skipped when unset): the defer / early retry / pass / known sequence,
 * the retry window, /24 and /64 client networks, sender normalization,
 * auto-allowed clients, key names and TTLs, Redis down; and the
 * exemptions, which need no Redis. Time comes from the explicit now;
 * every test hashes its keys with a secret of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-greylist.h"
#include "mailcore/mc-redis.h"

#include "mc-test.h"

#define DB   13
#define DAY  86400
#define RCPT "bob@example.net"

/* One test's greylist, its Redis client and its key secret. */
struct fixture {
	struct mc_greylist *gl;
	struct mc_redis *redis;
	char secret[64];
	time_t t0;
};

/* A fixture with set (its secret replaced by a fresh one), or skip. */
static void fixture_init(struct fixture *f, struct mc_greylist_settings set)
{
	static int n;
	f->redis = mc_test_redis(DB);
	if (f->redis == NULL)
		skip();
	snprintf(f->secret, sizeof(f->secret), "test-%d-%lld-%d", getpid(),
		 (long long)time(NULL), ++n);
	set.hash_secret = f->secret;
	f->gl = mc_greylist_create(&set, NULL);
	assert_non_null(f->gl);
	f->t0 = time(NULL);
}

static void fixture_done(struct fixture *f)
{
	mc_greylist_destroy(&f->gl);
	assert_null(f->gl);
	mc_redis_destroy(&f->redis);
}

/* One check at t0 + dt that must work; returns the verdict and reason. */
static int check(struct fixture *f, const char *ip, const char *sender,
		 const char *rcpt, time_t dt, struct mc_greylist_result *res)
{
	struct mc_error err = {0};
	int r = mc_greylist_check(f->gl, f->redis, ip, sender, rcpt, f->t0 + dt,
				  res, &err);
	if (r < 0)
		fail_msg("greylist check failed: %s", err.msg);
	return r;
}

/* Asserts the verdict, reason and retry hint of one check. */
static void expect(struct fixture *f, const char *ip, const char *sender,
		   const char *rcpt, time_t dt, enum mc_greylist_reason reason,
		   unsigned retry_in)
{
	struct mc_greylist_result res;
	int r = check(f, ip, sender, rcpt, dt, &res);
	assert_string_equal(mc_greylist_reason_name(res.reason),
			    mc_greylist_reason_name(reason));
	assert_int_equal(r, reason >= MC_GREYLIST_PASSED);
	assert_int_equal(res.retry_in_s, retry_in);
}

static void test_sequence(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, (struct mc_greylist_settings){0});
	const char *s = "alice@example.com";
	expect(&f, "192.0.2.10", s, RCPT, 0, MC_GREYLIST_NEW, 300);
	expect(&f, "192.0.2.10", s, RCPT, 100, MC_GREYLIST_EARLY, 200);
	/* the early retry did not restart the clock */
	expect(&f, "192.0.2.10", s, RCPT, 299, MC_GREYLIST_EARLY, 1);
	expect(&f, "192.0.2.10", s, RCPT, 300, MC_GREYLIST_PASSED, 0);
	expect(&f, "192.0.2.10", s, RCPT, 301, MC_GREYLIST_KNOWN, 0);
	expect(&f, "192.0.2.10", s, RCPT, 30 * DAY, MC_GREYLIST_KNOWN, 0);
	/* each pass refreshed the allowance: 36 days after the last one
	 * it still holds, a second later it is gone */
	expect(&f, "192.0.2.10", s, RCPT, 66 * DAY, MC_GREYLIST_KNOWN, 0);
	expect(&f, "192.0.2.10", s, RCPT, 102 * DAY + 1, MC_GREYLIST_RESTARTED,
	       300);
	/* another recipient is another triplet */
	expect(&f, "192.0.2.10", s, "carol@example.net", 400, MC_GREYLIST_NEW,
	       300);
	fixture_done(&f);
}

static void test_window(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, (struct mc_greylist_settings){.delay_s = 60,
						       .window_s = 3600});
	const char *s = "a@example.com";
	expect(&f, "192.0.2.1", s, RCPT, 0, MC_GREYLIST_NEW, 60);
	expect(&f, "192.0.2.1", s, RCPT, 3601, MC_GREYLIST_RESTARTED, 60);
	expect(&f, "192.0.2.1", s, RCPT, 3630, MC_GREYLIST_EARLY, 31);
	expect(&f, "192.0.2.1", s, RCPT, 3661, MC_GREYLIST_PASSED, 0);
	/* the window's last second still passes */
	expect(&f, "192.0.2.1", s, "x@example.net", 0, MC_GREYLIST_NEW, 60);
	expect(&f, "192.0.2.1", s, "x@example.net", 3600, MC_GREYLIST_PASSED,
	       0);
	/* the default window is two days */
	struct fixture g;
	fixture_init(&g, (struct mc_greylist_settings){0});
	expect(&g, "192.0.2.1", s, RCPT, 0, MC_GREYLIST_NEW, 300);
	expect(&g, "192.0.2.1", s, RCPT, 2 * DAY, MC_GREYLIST_PASSED, 0);
	expect(&g, "192.0.2.1", s, "y@example.net", 0, MC_GREYLIST_NEW, 300);
	expect(&g, "192.0.2.1", s, "y@example.net", 2 * DAY + 1,
	       MC_GREYLIST_RESTARTED, 300);
	fixture_done(&g);
	fixture_done(&f);
}

/* Networks: clients of one network share triplets, others do not. */
static const struct {
	const char *first, *same, *other;
} nets[] = {
	{"192.0.2.10", "192.0.2.250", "192.0.3.10"},
	{"192.0.2.10", "::ffff:192.0.2.77", "198.51.100.10"},
	{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe",
	 "2001:db8:1:3::1"},
	{"2001:DB8:1:2::1", "2001:db8:1:2::2", "2001:db9:1:2::1"},
};

static void test_networks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
		struct fixture f;
		fixture_init(&f, (struct mc_greylist_settings){0});
		const char *s = "n@example.com";
		expect(&f, nets[i].first, s, RCPT, 0, MC_GREYLIST_NEW, 300);
		expect(&f, nets[i].other, s, RCPT, 300, MC_GREYLIST_NEW, 300);
		expect(&f, nets[i].same, s, RCPT, 300, MC_GREYLIST_PASSED, 0);
		expect(&f, nets[i].first, s, RCPT, 301, MC_GREYLIST_KNOWN, 0);
		expect(&f, nets[i].other, s, RCPT, 310, MC_GREYLIST_EARLY, 290);
		fixture_done(&f);
	}
}

static void test_senders(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, (struct mc_greylist_settings){0});
	const char *ip = "203.0.113.5";
	/* the null sender is a triplet of its own */
	expect(&f, ip, "", RCPT, 0, MC_GREYLIST_NEW, 300);
	expect(&f, ip, "mailer-daemon@example.com", RCPT, 300, MC_GREYLIST_NEW,
	       300);
	expect(&f, ip, "", RCPT, 300, MC_GREYLIST_PASSED, 0);
	expect(&f, ip, NULL, RCPT, 400, MC_GREYLIST_KNOWN, 0);
	/* case does not matter, nor does a BATV tag that changes */
	expect(&f, ip, "Alice@Example.COM", RCPT, 0, MC_GREYLIST_NEW, 300);
	expect(&f, ip, "alice@example.com", "BOB@Example.NET", 300,
	       MC_GREYLIST_PASSED, 0);
	expect(&f, ip, "prvs=1234abcd=alice@example.com", RCPT, 301,
	       MC_GREYLIST_KNOWN, 0);
	expect(&f, ip, "PRVS=9999ffff=Alice@example.com", RCPT, 302,
	       MC_GREYLIST_KNOWN, 0);
	/* the tag of another scheme is kept */
	expect(&f, ip, "btv1==1234=alice@example.com", RCPT, 303,
	       MC_GREYLIST_NEW, 300);
	fixture_done(&f);
}

/* Passes one fresh triplet (rcpt number i) from ip at t0 + dt, then
 * sends known more messages of it. */
static void pass_one(struct fixture *f, const char *ip, int i, time_t dt,
		     int known)
{
	char rcpt[64];
	snprintf(rcpt, sizeof(rcpt), "user%d@example.net", i);
	expect(f, ip, "s@example.com", rcpt, dt, MC_GREYLIST_NEW, 300);
	expect(f, ip, "s@example.com", rcpt, dt + 300, MC_GREYLIST_PASSED, 0);
	for (int k = 0; k < known; k++)
		expect(f, ip, "s@example.com", rcpt, dt + 301 + k,
		       MC_GREYLIST_KNOWN, 0);
}

static void test_auto_allow(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, (struct mc_greylist_settings){0});
	/* five distinct triplets; repeated passes of one do not count */
	for (int i = 0; i < 4; i++)
		pass_one(&f, "192.0.2.1", i, 1000 * i, 3);
	expect(&f, "192.0.2.9", "new@example.org", RCPT, 5000, MC_GREYLIST_NEW,
	       300);
	pass_one(&f, "192.0.2.2", 4, 6000, 0);
	/* now anything from the network passes, any other still waits */
	expect(&f, "192.0.2.99", "other@example.org", "z@example.net", 7000,
	       MC_GREYLIST_CLIENT, 0);
	expect(&f, "192.0.2.9", "new@example.org", RCPT, 7001,
	       MC_GREYLIST_CLIENT, 0);
	expect(&f, "192.0.3.1", "other@example.org", "z@example.net", 7002,
	       MC_GREYLIST_NEW, 300);
	/* the allowance ends 36 days after the network's last message */
	expect(&f, "192.0.2.3", "late@example.org", RCPT, 6300 + 36 * DAY,
	       MC_GREYLIST_CLIENT, 0);
	expect(&f, "192.0.2.3", "late@example.org", "q@example.net",
	       6300 + 72 * DAY + 1, MC_GREYLIST_NEW, 300);
	fixture_done(&f);

	/* a count of its own, and never */
	fixture_init(&f, (struct mc_greylist_settings){.auto_allow_after = 1});
	pass_one(&f, "192.0.2.1", 0, 0, 0);
	expect(&f, "192.0.2.1", "x@y.example", RCPT, 400, MC_GREYLIST_CLIENT,
	       0);
	fixture_done(&f);
	fixture_init(&f, (struct mc_greylist_settings){.auto_allow_after = -1});
	for (int i = 0; i < 6; i++)
		pass_one(&f, "192.0.2.1", i, 1000 * i, 1);
	expect(&f, "192.0.2.1", "x@y.example", RCPT, 9000, MC_GREYLIST_NEW,
	       300);
	fixture_done(&f);
}

/* The key a name material gets with the fixture's secret. */
static void expected_key(const struct fixture *f, const char *prefix,
			 const void *data, size_t len, char *key, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	HMAC(EVP_sha256(), f->secret, (int)strlen(f->secret), data, len, md,
	     &md_len);
	int o = snprintf(key, size, "%s", prefix);
	for (int i = 0; i < 16; i++)
		o += snprintf(key + o, size - (size_t)o, "%02x", md[i]);
}

/* The TTL of key (-2 when it does not exist). */
static long long ttl_of(struct fixture *f, const char *key)
{
	redisReply *r = mc_redis_command(f->redis, NULL, "TTL %s", key);
	assert_non_null(r);
	long long ttl = r->integer;
	freeReplyObject(r);
	return ttl;
}

static void test_keys_and_ttls(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f, (struct mc_greylist_settings){.window_s = 7200,
						       .allow_ttl_s = 50000});
	static const char t[] = "t\0"
				"192.0.2.0/24\0"
				"a@b.example\0" RCPT;
	static const char c[] = "c\0"
				"192.0.2.0/24";
	char tkey[64], ckey[64];
	expected_key(&f, "mc:grey:t:", t, sizeof(t) - 1, tkey, sizeof(tkey));
	expected_key(&f, "mc:grey:c:", c, sizeof(c), ckey, sizeof(ckey));
	assert_int_equal(strlen(tkey), 10 + 32);
	assert_int_equal(ttl_of(&f, tkey), -2);
	expect(&f, "192.0.2.7", "A@B.example", RCPT, 0, MC_GREYLIST_NEW, 300);
	long long ttl = ttl_of(&f, tkey);
	assert_true(ttl > 7190 && ttl <= 7200);
	assert_int_equal(ttl_of(&f, ckey), -2);
	expect(&f, "192.0.2.8", "a@b.example", RCPT, 300, MC_GREYLIST_PASSED,
	       0);
	ttl = ttl_of(&f, tkey);
	assert_true(ttl > 49990 && ttl <= 50000);
	ttl = ttl_of(&f, ckey);
	assert_true(ttl > 49990 && ttl <= 50000);
	/* without a secret the name is the plain SHA-256 */
	struct mc_greylist *plain =
		mc_greylist_create(&(struct mc_greylist_settings){0}, NULL);
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(t, sizeof(t) - 1, md, &n, EVP_sha256(), NULL);
	int o = snprintf(tkey, sizeof(tkey), "mc:grey:t:");
	for (int i = 0; i < 16; i++)
		o += snprintf(tkey + o, sizeof(tkey) - (size_t)o, "%02x",
			      md[i]);
	struct mc_greylist_result res;
	redisReply *r = mc_redis_command(f.redis, NULL, "DEL %s", tkey);
	freeReplyObject(r);
	assert_int_equal(mc_greylist_check(plain, f.redis, "192.0.2.9",
					   "a@b.example", RCPT, f.t0, &res,
					   NULL),
			 0);
	assert_true(ttl_of(&f, tkey) > 0);
	r = mc_redis_command(f.redis, NULL, "DEL %s", tkey);
	freeReplyObject(r);
	mc_greylist_destroy(&plain);
	fixture_done(&f);
}

static void test_errors(void **state)
{
	(void)state;
	struct mc_greylist *gl =
		mc_greylist_create(&(struct mc_greylist_settings){0}, NULL);
	struct mc_redis_settings rs = {.host = "127.0.0.1",
				       .port = (unsigned)mc_test_free_port(),
				       .timeout_ms = 500};
	struct mc_redis *down = mc_redis_create(&rs);
	struct mc_greylist_result res;
	struct mc_error err = {0};
	/* Redis down: a temporary error, for the caller to fail open */
	assert_int_equal(mc_greylist_check(gl, down, "192.0.2.1", "a@b", "c@d",
					   time(NULL), &res, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_error_clear(&err);
	assert_int_equal(mc_greylist_check(gl, down, "not-an-ip", "a@b", "c@d",
					   time(NULL), &res, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_redis_destroy(&down);
	mc_greylist_destroy(&gl);
	mc_greylist_destroy(&gl); /* NULL is fine */
	mc_greylist_destroy(NULL);
	/* bad settings */
	mc_error_clear(&err);
	assert_null(mc_greylist_create(
		&(struct mc_greylist_settings){.exempt_networks = "10.0.0.0/8, "
								  "nonsense"},
		&err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_non_null(strstr(err.msg, "nonsense"));
	assert_null(mc_greylist_create(
		&(struct mc_greylist_settings){.v4_prefix = 33}, NULL));
}

/* Exemptions: client, recipient domain, authenticated, expected. */
static const struct {
	const char *ip, *domain;
	bool auth, exempt;
} exemptions[] = {
	{"127.0.0.1", NULL, false, true},
	{"127.1.2.3", "other.net", false, true},
	{"::1", NULL, false, true},
	{"::ffff:127.0.0.1", NULL, false, true},
	{"10.20.30.40", NULL, false, true},
	{"::ffff:10.0.0.1", NULL, false, true},
	{"11.0.0.1", NULL, false, false},
	{"2001:db8:ffff::1", "", false, true},
	{"2001:db9::1", NULL, false, false},
	{"192.0.2.1", "example.com", false, true},
	{"192.0.2.1", "EXAMPLE.Com", false, true},
	{"192.0.2.1", "sub.example.com", false, false},
	{"192.0.2.1", "sub.example.org", false, true},
	{"192.0.2.1", "a.b.example.org", false, true},
	{"192.0.2.1", "example.org", false, false},
	{"192.0.2.1", "xexample.org", false, false},
	{"192.0.2.1", "other.net", true, true},
	{"192.0.2.1", "other.net", false, false},
	{"not-an-ip", NULL, false, false},
	{NULL, NULL, false, false},
};

static void test_exempt(void **state)
{
	(void)state;
	struct mc_greylist_settings set = {
		.exempt_networks = "10.0.0.0/8, 2001:db8::/32",
		.exempt_domains = "Example.com, .example.org",
	};
	struct mc_greylist *gl = mc_greylist_create(&set, NULL);
	assert_non_null(gl);
	for (size_t i = 0; i < sizeof(exemptions) / sizeof(exemptions[0]);
	     i++) {
		bool got = mc_greylist_exempt(gl, exemptions[i].ip,
					      exemptions[i].domain,
					      exemptions[i].auth);
		if (got != exemptions[i].exempt)
			fail_msg("exemption %zu (%s, %s): got %d", i,
				 exemptions[i].ip, exemptions[i].domain, got);
	}
	mc_greylist_destroy(&gl);
	/* without lists only loopback and authentication */
	gl = mc_greylist_create(&(struct mc_greylist_settings){0}, NULL);
	assert_true(mc_greylist_exempt(gl, "127.0.0.1", "example.com", false));
	assert_false(mc_greylist_exempt(gl, "10.0.0.1", "example.com", false));
	mc_greylist_destroy(&gl);
}

static void test_reply(void **state)
{
	(void)state;
	char buf[128];
	struct mc_greylist_result res = {MC_GREYLIST_EARLY, 120};
	assert_string_equal(mc_greylist_reply_text(&res, buf, sizeof(buf)),
			    "Greylisted, please try again in 120 seconds");
	assert_string_equal(mc_greylist_reason_name(MC_GREYLIST_CLIENT),
			    "client");
	assert_string_equal(mc_greylist_reason_name(MC_GREYLIST_NEW), "new");
	assert_string_equal(mc_greylist_reason_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_senders),
		cmocka_unit_test(test_auto_allow),
		cmocka_unit_test(test_keys_and_ttls),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_exempt),
		cmocka_unit_test(test_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
