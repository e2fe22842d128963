/* test-tenants: the name rules of the tenant model (tenant names, domains,
 * local parts, address splitting and normalisation). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_names),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_local_parts),
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
