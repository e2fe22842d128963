/* test-tenants: the name rules of the tenant model (tenant names, domains,
 * local parts, address splitting and normalisation) and the syntax of the
 * dates and relay networks mailctl takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-tenants.h"

struct name_case {
	const char *s;
	bool ok;
};

/* Tenant names: lower case, digits, '.', '_', '-', 1..63, alnum first. */
static void test_tenant_names(void **state)
{
	(void)state;
	static const struct name_case cases[] = {
		{"demo", true},
		{"acme-corp.2", true},
		{"a", true},
		{"", false},
		{"Demo", false},
		{"-x", false},
		{"has space", false},
		{"ü", false},
		{"a/b", false},
		{"0123456789012345678901234567890123456789012345678901234567890"
		 "12",
		 true},
		{"0123456789012345678901234567890123456789012345678901234567890"
		 "123",
		 false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_tenants_valid_name(cases[i].s),
				 cases[i].ok);
}

/* Domains: LDH labels, two at least, no empty labels. */
static void test_domains(void **state)
{
	(void)state;
	static const struct name_case cases[] = {
		{"demo.test", true},
		{"a.b.c.example", true},
		{"xn--bcher-kva.example", true},
		{"localhost", false},
		{"demo..test", false},
		{".demo.test", false},
		{"demo.test.", false},
		{"-demo.test", false},
		{"demo-.test", false},
		{"de_mo.test", false},
		{"DEMO.test", false},
		{"", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_tenants_valid_domain(cases[i].s),
				 cases[i].ok);
	char label64[80];
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".test");
	assert_false(mc_tenants_valid_domain(label64));
	assert_true(mc_tenants_valid_domain(label64 + 1));
}

/* Local parts of our mailboxes. */
static void test_local_parts(void **state)
{
	(void)state;
	static const struct name_case cases[] = {
		{"alice", true},  {"first.last", true}, {"a_b-c", true},
		{"Alice", false}, {"a+tag", false},	{"", false},
		{"a b", false},	  {"a@b", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_tenants_valid_local_part(cases[i].s),
				 cases[i].ok);
}

/* Splitting lower-cases our addresses and the domain of external ones. */
static void test_split(void **state)
{
	(void)state;
	char local[MC_LOCAL_PART_MAX + 1], domain[MC_DOMAIN_MAX + 1];
	struct mc_error err = {0};
	assert_int_equal(mc_tenants_split_address("Alice@Demo.Test", true,
						  local, domain, &err),
			 0);
	assert_string_equal(local, "alice");
	assert_string_equal(domain, "demo.test");
	assert_int_equal(mc_tenants_split_address("Partner+x@Else.Example",
						  false, local, domain, &err),
			 0);
	assert_string_equal(local, "Partner+x");
	assert_string_equal(domain, "else.example");
	static const char *const bad[] = {
		"noat", "@demo.test",	 "a@",
		"a@b",	"a+b@demo.test", "a@@demo.test"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mc_error_clear(&err);
		assert_int_equal(mc_tenants_split_address(bad[i], true, local,
							  domain, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	char longlocal[100];
	memset(longlocal, 'a', 65);
	strcpy(longlocal + 65, "@demo.test");
	assert_int_equal(
		mc_tenants_split_address(longlocal, false, local, domain, NULL),
		-1);
}

/* Dates: YYYY-MM-DD, real calendar days, leap years. */
static void test_dates(void **state)
{
	(void)state;
	static const struct name_case cases[] = {
		{"2031-02-28", true},  {"2024-02-29", true},
		{"2000-02-29", true},  {"1999-12-31", true},
		{"2023-02-29", false}, {"1900-02-29", false},
		{"2031-02-30", false}, {"2031-04-31", false},
		{"2031-13-01", false}, {"2031-00-10", false},
		{"2031-01-00", false}, {"2031-1-01", false},
		{"2031/01/01", false}, {"2031-01-011", false},
		{"never", false},      {"", false},
		{"2031-01-0a", false}, {" 031-01-01", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_tenants_valid_date(cases[i].s),
				 cases[i].ok);
}

struct cidr_case {
	const char *in, *out; /* out NULL: refused */
};

/* Networks: v4 and v6, bare hosts, normalised output, host bits. */
static void test_cidr(void **state)
{
	(void)state;
	static const struct cidr_case cases[] = {
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"198.51.100.7", "198.51.100.7/32"},
		{"198.51.100.7/32", "198.51.100.7/32"},
		{"192.0.2.128/25", "192.0.2.128/25"},
		{"2001:DB8::/32", "2001:db8::/32"},
		{"2001:db8:0:0::/64", "2001:db8::/64"},
		{"::1", "::1/128"},
		{"::/0", "::/0"},
		{"192.0.2.1/24", NULL},
		{"192.0.2.129/25", NULL},
		{"10.0.0.0/33", NULL},
		{"10.0.0.0/", NULL},
		{"10.0.0.0/-1", NULL},
		{"10.0.0.0/8/8", NULL},
		{"10.0.0.0/ 8", NULL},
		{"10.0.0", NULL},
		{"example.com", NULL},
		{"", NULL},
		{"/8", NULL},
		{"2001:db8::1/32", NULL},
		{"::/129", NULL},
		{"10.0.0.0/08x", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[MC_CIDR_MAX];
		struct mc_error err = {0};
		int r = mc_tenants_parse_cidr(cases[i].in, out, &err);
		if (cases[i].out != NULL) {
			assert_int_equal(r, 0);
			assert_string_equal(out, cases[i].out);
		} else {
			assert_int_equal(r, -1);
			assert_int_equal(err.cls, MC_ERR_INVALID);
			assert_non_null(strstr(err.msg, "bad network"));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_names),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_local_parts),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_cidr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
