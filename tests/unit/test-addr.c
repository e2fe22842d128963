/* test-addr: numeric address parsing (good and bad tables with exact error
 * texts), lists, formatting, ports and loopback detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-error.h"

#include <netinet/in.h>
#include <string.h>

struct good_case {
	const char *in, *out;
	int family, port, loopback;
};

/* Addresses that parse, and how they print back. */
static void test_parse_good(void **state)
{
	static const struct good_case cases[] = {
		{"127.0.0.1:25", "127.0.0.1:25", AF_INET, 25, 1},
		{"127.9.8.7:1", "127.9.8.7:1", AF_INET, 1, 1},
		{"0.0.0.0:65535", "0.0.0.0:65535", AF_INET, 65535, 0},
		{"192.0.2.1:587", "192.0.2.1:587", AF_INET, 587, 0},
		{"[::1]:2525", "[::1]:2525", AF_INET6, 2525, 1},
		{"[::]:143", "[::]:143", AF_INET6, 143, 0},
		{"[2001:DB8::1]:993", "[2001:db8::1]:993", AF_INET6, 993, 0},
		{"[::ffff:127.0.0.1]:25", "[::ffff:127.0.0.1]:25", AF_INET6, 25,
		 1},
		{"[::ffff:10.0.0.1]:25", "[::ffff:10.0.0.1]:25", AF_INET6, 25,
		 0},
	};
	struct mc_sockaddr addr;
	char buf[MC_ADDR_STR_MAX];
	struct mc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mc_error_clear(&err);
		assert_int_equal(mc_addr_parse(cases[i].in, &addr, &err), 0);
		assert_int_equal(err.cls, MC_ERR_NONE);
		assert_int_equal(addr.ss.ss_family, cases[i].family);
		assert_int_equal(addr.len,
				 cases[i].family == AF_INET
					 ? sizeof(struct sockaddr_in)
					 : sizeof(struct sockaddr_in6));
		assert_string_equal(mc_addr_str(&addr, buf), cases[i].out);
		assert_int_equal(mc_addr_port(&addr), cases[i].port);
		assert_int_equal(mc_addr_is_loopback(&addr), cases[i].loopback);
	}
	mc_addr_parse("[::1]:25", &addr, NULL);
	assert_string_equal(mc_addr_ip_str(&addr, buf), "::1");
	mc_addr_parse("10.1.2.3:25", &addr, NULL);
	assert_string_equal(mc_addr_ip_str(&addr, buf), "10.1.2.3");
}

struct bad_case {
	const char *in, *msg;
};

/* Addresses that do not parse, with the exact error. */
static void test_parse_bad(void **state)
{
	static const struct bad_case cases[] = {
		{"x", "bad address \"x\": expected IP:PORT"},
		{"", "bad address \"\": expected IP:PORT"},
		{"127.0.0.1", "bad address \"127.0.0.1\": expected IP:PORT"},
		{"localhost:25", "bad address \"localhost:25\": not a numeric "
				 "IP address (host names are not resolved)"},
		{"1.2.3:25", "bad address \"1.2.3:25\": not a numeric IP "
			     "address (host names are not resolved)"},
		{"1.2.3.4:0", "bad address \"1.2.3.4:0\": port must be a "
			      "number from 1 to 65535"},
		{"1.2.3.4:65536", "bad address \"1.2.3.4:65536\": port must be "
				  "a number from 1 to 65535"},
		{"1.2.3.4:", "bad address \"1.2.3.4:\": port must be a number "
			     "from 1 to 65535"},
		{"1.2.3.4:+25", "bad address \"1.2.3.4:+25\": port must be a "
				"number from 1 to 65535"},
		{"::1:25", "bad address \"::1:25\": IPv6 addresses must be "
			   "written as [IP]:PORT"},
		{"[::1]", "bad address \"[::1]\": expected [IPv6]:PORT"},
		{"[::1]25", "bad address \"[::1]25\": expected [IPv6]:PORT"},
		{"[::1:25", "bad address \"[::1:25\": expected [IPv6]:PORT"},
		{"[1.2.3.4]:25", "bad address \"[1.2.3.4]:25\": not a numeric "
				 "IPv6 address"},
		{"[fe80::1%eth0]:25", "bad address \"[fe80::1%eth0]:25\": not "
				      "a numeric IPv6 address"},
		{" 1.2.3.4:25", "bad address \" 1.2.3.4:25\": not a numeric "
				"IP address (host names are not resolved)"},
	};
	struct mc_sockaddr addr;
	struct mc_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mc_error_clear(&err);
		assert_int_equal(mc_addr_parse(cases[i].in, &addr, &err), -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_string_equal(err.msg, cases[i].msg);
	}
	assert_int_equal(mc_addr_parse("nope", &addr, NULL), -1);
}

/* Lists: blanks, empty items, the limit, the bad item named. */
static void test_list(void **state)
{
	struct mc_sockaddr addrs[3];
	char buf[MC_ADDR_STR_MAX], longitem[300];
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(mc_addr_list_parse("", addrs, 3, &err), 0);
	assert_int_equal(mc_addr_list_parse("  ", addrs, 3, &err), 0);
	assert_int_equal(mc_addr_list_parse(" 127.0.0.1:25 ,, [::1]:587,",
					    addrs, 3, &err),
			 2);
	assert_string_equal(mc_addr_str(&addrs[0], buf), "127.0.0.1:25");
	assert_string_equal(mc_addr_str(&addrs[1], buf), "[::1]:587");
	assert_int_equal(err.cls, MC_ERR_NONE);

	assert_int_equal(mc_addr_list_parse("1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,"
					    "1.1.1.1:4",
					    addrs, 3, &err),
			 -1);
	assert_string_equal(err.msg, "too many addresses (at most 3)");

	mc_error_clear(&err);
	assert_int_equal(mc_addr_list_parse("1.1.1.1:1, bad:2", addrs, 3, &err),
			 -1);
	assert_string_equal(err.msg, "bad address \"bad:2\": not a numeric "
				     "IP address (host names are not "
				     "resolved)");

	memset(longitem, '1', sizeof(longitem) - 1);
	longitem[sizeof(longitem) - 1] = '\0';
	mc_error_clear(&err);
	assert_int_equal(mc_addr_list_parse(longitem, addrs, 3, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_int_equal(mc_addr_parse(longitem, addrs, &err), -1);
	assert_non_null(strstr(err.msg, "too long"));
}

/* An unknown family prints as "?" with port -1. */
static void test_unknown_family(void **state)
{
	struct mc_sockaddr addr;
	char buf[MC_ADDR_STR_MAX];

	(void)state;
	memset(&addr, 0, sizeof(addr));
	addr.ss.ss_family = AF_UNIX;
	assert_int_equal(mc_addr_port(&addr), -1);
	assert_int_equal(mc_addr_is_loopback(&addr), 0);
	assert_string_equal(mc_addr_ip_str(&addr, buf), "?");
}

/* Networks: parsing, refusals and matching (IPv4-mapped clients too). */
static void test_cidr(void **state)
{
	(void)state;
	static const struct {
		const char *nets, *client;
		int count, match;
	} cases[] = {
		{"10.0.0.0/8", "10.200.3.4:25", 1, 1},
		{"10.0.0.0/8", "11.0.0.1:25", 1, 0},
		{"192.0.2.1", "192.0.2.1:25", 1, 1},
		{"192.0.2.1", "192.0.2.2:25", 1, 0},
		{"0.0.0.0/0", "203.0.113.9:25", 1, 1},
		{"172.16.0.0/12", "172.31.255.255:25", 1, 1},
		{"172.16.0.0/12", "172.32.0.0:25", 1, 0},
		{"127.0.0.0/8, ::1/128", "[::1]:25", 2, 1},
		{"127.0.0.0/8", "[::ffff:127.0.0.2]:25", 1, 1},
		{"2001:db8::/32", "[2001:db8:ffff::1]:25", 1, 1},
		{"2001:db8::/32", "[2001:db9::1]:25", 1, 0},
		{"2001:db8::/33", "[2001:db8:8000::1]:25", 1, 0},
		{"", "127.0.0.1:25", 0, 0},
		{" , 10.0.0.0/8 ,", "10.0.0.1:25", 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_cidr nets[4];
		struct mc_sockaddr client;
		struct mc_error err;
		mc_error_clear(&err);
		int n = mc_cidr_list_parse(cases[i].nets, nets, 4, &err);
		assert_int_equal(n, cases[i].count);
		assert_int_equal(mc_addr_parse(cases[i].client, &client, &err),
				 0);
		assert_int_equal(mc_cidr_list_match(nets, (size_t)n, &client),
				 cases[i].match);
	}
	static const char *const bad[] = {
		"10.1.0.0/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "host.example",
		"10.0.0.0/8x", "1.2.3", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_cidr c;
		struct mc_error err;
		mc_error_clear(&err);
		assert_int_equal(mc_cidr_parse(bad[i], &c, &err), -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_non_null(strstr(err.msg, "bad network"));
	}
	struct mc_cidr two[1];
	struct mc_error err;
	mc_error_clear(&err);
	assert_int_equal(mc_cidr_list_parse("10.0.0.0/8, 11.0.0.0/8", two, 1,
					    &err),
			 -1);
	assert_non_null(strstr(err.msg, "too many networks"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_unknown_family),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
