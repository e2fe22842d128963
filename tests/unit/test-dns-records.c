/* test-dns-records: the DNS records of a hosted domain against golden
 * tables (full settings, defaults, several MX, no DKIM keys, POP3 off),
 * input checks, the MTA-STS policy file and id, and the [dns] config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-dns-records.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

struct rec {
	const char *type, *name, *value;
	int prio, port; /* -1 = absent */
};

#define END                                                                    \
	{                                                                      \
		NULL, NULL, NULL, 0, 0                                         \
	}

/* Asserts that obj is {"domain": domain, "records": want} exactly, each
 * record with a non-empty purpose and no other members. */
static void assert_records(json_t *obj, const char *domain,
			   const struct rec *want)
{
	size_t n = 0;
	assert_non_null(obj);
	assert_int_equal(json_object_size(obj), 2);
	assert_string_equal(json_string_value(json_object_get(obj, "domain")),
			    domain);
	json_t *recs = json_object_get(obj, "records");
	for (; want[n].type != NULL; n++) {
		json_t *r = json_array_get(recs, n);
		const char *purpose =
			json_string_value(json_object_get(r, "purpose"));
		size_t members = 4 + (want[n].prio >= 0) + (want[n].port >= 0);
		assert_non_null(r);
		assert_string_equal(
			json_string_value(json_object_get(r, "type")),
			want[n].type);
		assert_string_equal(
			json_string_value(json_object_get(r, "name")),
			want[n].name);
		assert_string_equal(
			json_string_value(json_object_get(r, "value")),
			want[n].value);
		if (want[n].prio >= 0)
			assert_int_equal(json_integer_value(json_object_get(
						 r, "priority")),
					 want[n].prio);
		if (want[n].port >= 0)
			assert_int_equal(
				json_integer_value(json_object_get(r, "port")),
				want[n].port);
		assert_non_null(purpose);
		assert_true(*purpose != '\0');
		assert_int_equal(json_object_size(r), members);
	}
	assert_int_equal(json_array_size(recs), n);
}

static const struct mc_dns_mx two_mx[] = {
	{"mx1.example.net", 10},
	{"mx2.example.net", 20},
};
static const char *const includes[] = {"_spf.example.net"};
static const char *const networks[] = {"192.0.2.0/24", "2001:db8::1",
				       "198.51.100.7/32"};
static const struct mc_dns_dkim two_keys[] = {
	{"mc202507r", "v=DKIM1; k=rsa; p=QUJDRA=="},
	{"mc202507e", "v=DKIM1; k=ed25519; p=QUJD"},
};

/* Settings that change every default. */
static struct mc_dns_settings full_settings(void)
{
	return (struct mc_dns_settings){
		.hostname = "mail.example.net",
		.mx = two_mx,
		.mx_count = 2,
		.spf_include = includes,
		.spf_include_count = 1,
		.spf_networks = networks,
		.spf_networks_count = 3,
		.dmarc_policy = "reject",
		.dmarc_rua = "Postmaster@Example.org",
		.mta_sts_mode = "enforce",
		.mta_sts_max_age = 86400,
		.mta_sts_id = "20250715T1",
		.tlsrpt_rua = "tls@example.org",
		.web_host = "web.example.net",
		.imap_host = "imap.example.net",
		.submission_host = "smtp.example.net",
		.pop3_host = "pop.example.net",
		.imaps_port = 10993,
		.pop3 = true,
	};
}

/* Every record with every setting changed, in the documented order. */
static void test_full(void **state)
{
	static const struct rec want[] = {
		{"MX", "example.com", "mx1.example.net", 10, -1},
		{"MX", "example.com", "mx2.example.net", 20, -1},
		{"TXT", "example.com",
		 "v=spf1 mx include:_spf.example.net ip4:192.0.2.0/24 "
		 "ip6:2001:db8::1 ip4:198.51.100.7 -all",
		 -1, -1},
		{"TXT", "mc202507r._domainkey.example.com",
		 "v=DKIM1; k=rsa; p=QUJDRA==", -1, -1},
		{"TXT", "mc202507e._domainkey.example.com",
		 "v=DKIM1; k=ed25519; p=QUJD", -1, -1},
		{"TXT", "_dmarc.example.com",
		 "v=DMARC1; p=reject; rua=mailto:Postmaster@example.org", -1,
		 -1},
		{"TXT", "_mta-sts.example.com", "v=STSv1; id=20250715T1", -1,
		 -1},
		{"CNAME", "mta-sts.example.com", "web.example.net", -1, -1},
		{"TXT", "_smtp._tls.example.com",
		 "v=TLSRPTv1; rua=mailto:tls@example.org", -1, -1},
		{"CNAME", "autoconfig.example.com", "web.example.net", -1, -1},
		{"CNAME", "autodiscover.example.com", "web.example.net", -1,
		 -1},
		{"SRV", "_imaps._tcp.example.com", "1 10993 imap.example.net",
		 0, 10993},
		{"SRV", "_imap._tcp.example.com", "0 0 .", 0, 0},
		{"SRV", "_submissions._tcp.example.com",
		 "1 465 smtp.example.net", 0, 465},
		{"SRV", "_submission._tcp.example.com",
		 "1 587 smtp.example.net", 0, 587},
		{"SRV", "_pop3s._tcp.example.com", "1 995 pop.example.net", 0,
		 995},
		{"SRV", "_pop3._tcp.example.com", "0 0 .", 0, 0},
		END,
	};
	(void)state;
	struct mc_dns_settings set = full_settings();
	struct mc_error err = {0};
	json_t *obj = mc_dns_records("example.com", &set, two_keys, 2, &err);
	if (obj == NULL)
		fail_msg("%s", err.msg);
	assert_records(obj, "example.com", want);
	json_decref(obj);
}

/* Only the hostname set: every default; no DKIM keys; POP3 off (the
 * zero value). The id is derived from the policy text. */
static void test_defaults(void **state)
{
	static const struct rec want[] = {
		{"MX", "example.org", "mail.example.net", 10, -1},
		{"TXT", "example.org", "v=spf1 mx -all", -1, -1},
		{"TXT", "_dmarc.example.org",
		 "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.org",
		 -1, -1},
		{"TXT", "_mta-sts.example.org",
		 "v=STSv1; id=5c32075846f429212071", -1, -1},
		{"CNAME", "mta-sts.example.org", "mail.example.net", -1, -1},
		{"TXT", "_smtp._tls.example.org",
		 "v=TLSRPTv1; rua=mailto:tls-reports@example.org", -1, -1},
		{"CNAME", "autoconfig.example.org", "mail.example.net", -1, -1},
		{"CNAME", "autodiscover.example.org", "mail.example.net", -1,
		 -1},
		{"SRV", "_imaps._tcp.example.org", "1 993 mail.example.net", 0,
		 993},
		{"SRV", "_imap._tcp.example.org", "0 0 .", 0, 0},
		{"SRV", "_submissions._tcp.example.org",
		 "1 465 mail.example.net", 0, 465},
		{"SRV", "_submission._tcp.example.org",
		 "1 587 mail.example.net", 0, 587},
		{"SRV", "_pop3s._tcp.example.org", "0 0 .", 0, 0},
		{"SRV", "_pop3._tcp.example.org", "0 0 .", 0, 0},
		END,
	};
	(void)state;
	struct mc_dns_settings set = {.hostname = "mail.example.net"};
	json_t *obj = mc_dns_records("example.org", &set, NULL, 0, NULL);
	assert_records(obj, "example.org", want);
	json_decref(obj);
}

/* Several MX hosts keep their order; the SPF override is used as is;
 * POP3 off publishes "not offered" for _pop3s. */
static void test_several_mx_pop3_off(void **state)
{
	static const struct mc_dns_mx mx[] = {
		{"a.mx.example.net", 5},
		{"c.mx.example.net", 5},
		{"b.mx.example.net", 50},
	};
	(void)state;
	struct mc_dns_settings set = full_settings();
	set.mx = mx;
	set.mx_count = 3;
	set.spf = "v=spf1 a:out.example.net ~all";
	set.pop3 = false;
	json_t *obj = mc_dns_records("example.com", &set, two_keys, 1, NULL);
	json_t *recs = json_object_get(obj, "records");
	for (size_t i = 0; i < 3; i++) {
		json_t *r = json_array_get(recs, i);
		assert_string_equal(
			json_string_value(json_object_get(r, "value")),
			mx[i].host);
		assert_int_equal(
			json_integer_value(json_object_get(r, "priority")),
			mx[i].priority);
	}
	json_t *spf = json_array_get(recs, 3);
	assert_string_equal(json_string_value(json_object_get(spf, "value")),
			    "v=spf1 a:out.example.net ~all");
	json_t *dkim = json_array_get(recs, 4);
	assert_string_equal(json_string_value(json_object_get(dkim, "name")),
			    "mc202507r._domainkey.example.com");
	json_t *dmarc = json_array_get(recs, 5);
	assert_string_equal(json_string_value(json_object_get(dmarc, "name")),
			    "_dmarc.example.com");
	size_t n = json_array_size(recs);
	json_t *pop3s = json_array_get(recs, n - 2);
	assert_string_equal(json_string_value(json_object_get(pop3s, "name")),
			    "_pop3s._tcp.example.com");
	assert_string_equal(json_string_value(json_object_get(pop3s, "value")),
			    "0 0 .");
	assert_int_equal(n, 3 + 1 + 1 + 12);
	json_decref(obj);
}

/* Asserts that the records of domain with s and one DKIM key are refused
 * as MC_ERR_INVALID; what names the case. */
static void expect_invalid(const char *what, const char *domain,
			   const struct mc_dns_settings *s,
			   const struct mc_dns_dkim *dkim)
{
	struct mc_error err = {0};
	json_t *obj = mc_dns_records(domain, s, dkim, 1, &err);
	if (obj != NULL)
		fail_msg("accepted: %s", what);
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

#define FIELD(f) offsetof(struct mc_dns_settings, f)

/* Bad string settings, one at a time. */
static void test_invalid_strings(void **state)
{
	static const struct {
		size_t field;
		const char *value;
	} cases[] = {
		{FIELD(hostname), NULL},
		{FIELD(hostname), "mail"},
		{FIELD(spf), "v=spf10 mx -all"},
		{FIELD(spf), "mx -all"},
		{FIELD(spf), "v=spf1 mx\n-all"},
		{FIELD(dmarc_policy), "strict"},
		{FIELD(dmarc_policy), "reject|none"},
		{FIELD(dmarc_policy), ""},
		{FIELD(mta_sts_mode), "none"},
		{FIELD(mta_sts_id), "2025-07"},
		{FIELD(mta_sts_id), "123456789012345678901234567890123"},
		{FIELD(mta_sts_id), ""},
		{FIELD(dmarc_rua), "a;b@example.org"},
		{FIELD(dmarc_rua), "a@b@example.org"},
		{FIELD(tlsrpt_rua), "a!10m@example.org"},
		{FIELD(tlsrpt_rua), "nobody"},
		{FIELD(web_host), "web_host.example.net"},
		{FIELD(imap_host), "imap.example.net."},
		{FIELD(submission_host), "-smtp.example.net"},
		{FIELD(pop3_host), "POP.example.net"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_dns_settings s = full_settings();
		*(const char **)((char *)&s + cases[i].field) = cases[i].value;
		expect_invalid(cases[i].value != NULL ? cases[i].value : "NULL",
			       "example.com", &s, two_keys);
	}
}

/* Bad domains, lists, numbers and DKIM records. */
static void test_invalid_other(void **state)
{
	static const struct mc_dns_mx bad_host[] = {{"Mx.example.net", 10}};
	static const struct mc_dns_mx bad_prio[] = {{"mx.example.net", 65536}};
	static const char *const bad_inc[] = {"spf example"};
	static const char *const bad_net[] = {"192.0.2.1/24"};
	static const struct mc_dns_dkim bad_dkim[] = {
		{"Sel", "v=DKIM1; p=QUJD"},
		{"sel", "p=QUJD"},
		{"sel", "v=DKIM1;\n"},
	};
	char long_domain[256];
	memset(long_domain, 'a', sizeof(long_domain));
	for (int i = 60; i < 240; i += 61)
		long_domain[i] = '.';
	strcpy(long_domain + 240, ".com"); /* 244 bytes: no room for SRV */
	(void)state;
	struct mc_dns_settings s = full_settings();
	expect_invalid("upper case", "Example.com", &s, two_keys);
	expect_invalid("one label", "localhost", &s, two_keys);
	expect_invalid("long", long_domain, &s, two_keys);
	for (size_t i = 0; i < 3; i++)
		expect_invalid(bad_dkim[i].value, "example.com", &s,
			       &bad_dkim[i]);
	/* 63 + "._domainkey." + 182 > 253; with 178 it fits exactly */
	char sel[64];
	memset(sel, 'a', 63);
	sel[63] = '\0';
	struct mc_dns_dkim long_sel = {sel, "v=DKIM1; k=rsa; p=QUJD"};
	long_domain[182] = '\0';
	expect_invalid("long DKIM name", long_domain, &s, &long_sel);
	long_domain[178] = '\0';
	json_t *ok = mc_dns_records(long_domain, &s, &long_sel, 1, NULL);
	assert_non_null(ok);
	json_decref(ok);
	s.mx = bad_host;
	expect_invalid("MX host", "example.com", &s, two_keys);
	s = full_settings();
	s.mx = bad_prio;
	expect_invalid("MX priority", "example.com", &s, two_keys);
	s = full_settings();
	s.spf_include = bad_inc;
	expect_invalid("include", "example.com", &s, two_keys);
	s = full_settings();
	s.spf_networks = bad_net;
	s.spf_networks_count = 1;
	expect_invalid("network", "example.com", &s, two_keys);
	s = full_settings();
	s.mta_sts_max_age = 31557601;
	expect_invalid("max_age", "example.com", &s, two_keys);
	s = full_settings();
	s.submission_port = 65536;
	expect_invalid("port", "example.com", &s, two_keys);
}

/* The policy file: exact text, CRLF lines, one mx: line per MX. */
static void test_mta_sts_policy(void **state)
{
	(void)state;
	struct mc_dns_settings set = full_settings();
	char *p = mc_dns_mta_sts_policy(&set, NULL);
	assert_string_equal(p, "version: STSv1\r\n"
			       "mode: enforce\r\n"
			       "mx: mx1.example.net\r\n"
			       "mx: mx2.example.net\r\n"
			       "max_age: 86400\r\n");
	free(p);
	set = (struct mc_dns_settings){.hostname = "mail.example.net"};
	p = mc_dns_mta_sts_policy(&set, NULL);
	assert_string_equal(p, "version: STSv1\r\nmode: testing\r\n"
			       "mx: mail.example.net\r\nmax_age: 604800\r\n");
	free(p);
	struct mc_error err = {0};
	set.mta_sts_mode = "enforced";
	assert_null(mc_dns_mta_sts_policy(&set, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

/* The derived id: the golden value, changing with the policy. */
static void test_mta_sts_id(void **state)
{
	(void)state;
	struct mc_dns_settings set = {.hostname = "mail.example.net"};
	char id[21], id2[21];
	assert_int_equal(mc_dns_mta_sts_id(&set, id, sizeof(id), NULL), 0);
	assert_string_equal(id, "5c32075846f429212071");
	set.mta_sts_mode = "enforce";
	assert_int_equal(mc_dns_mta_sts_id(&set, id2, sizeof(id2), NULL), 0);
	assert_string_not_equal(id, id2);
	assert_int_equal(strlen(id2), 20);
	assert_int_equal(mc_dns_mta_sts_id(&set, id2, 20, NULL), -1);
}

/* True when the config schema has [dns] mx (added with this module). */
static bool schema_has_dns(void)
{
	for (const struct mc_config_key *k = mc_config_keys; k->section; k++) {
		if (strcmp(k->section, "dns") == 0 && strcmp(k->key, "mx") == 0)
			return true;
	}
	return false;
}

/* Loads text as a config file. */
static struct mc_config *load(const char *text, struct mc_error *err)
{
	char path[] = "/tmp/test-dns-records.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct mc_config *cfg = mc_config_load(path, err);
	unlink(path);
	return cfg;
}

/* [dns] keys become settings; empty keys the defaults. */
static void test_from_config(void **state)
{
	(void)state;
	if (!schema_has_dns())
		fail_msg("the config schema has no [dns] section");
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_config *cfg = load(
		"[server]\nhostname = mail.example.net\n[dns]\n"
		"mx = 10 MX1.example.net, mx2.example.net,5 mx3.example.net\n"
		"spf_include = _spf.example.net, _spf2.example.net\n"
		"spf_networks = 192.0.2.0/24, 2001:db8::/32\n"
		"dmarc_policy = reject\nmta_sts_mode = enforce\n"
		"mta_sts_max_age = 86400\nimaps_port = 10993\npop3 = no\n"
		"web_host = web.example.net\n",
		NULL);
	struct mc_dns_settings s;
	assert_non_null(cfg);
	assert_int_equal(mc_dns_settings_from_config(cfg, pool, &s, NULL), 0);
	assert_string_equal(s.hostname, "mail.example.net");
	assert_int_equal(s.mx_count, 3);
	assert_string_equal(s.mx[0].host, "mx1.example.net");
	assert_int_equal(s.mx[0].priority, 10);
	assert_string_equal(s.mx[1].host, "mx2.example.net");
	assert_int_equal(s.mx[1].priority, 10);
	assert_string_equal(s.mx[2].host, "mx3.example.net");
	assert_int_equal(s.mx[2].priority, 5);
	assert_null(s.spf);
	assert_int_equal(s.spf_include_count, 2);
	assert_string_equal(s.spf_include[1], "_spf2.example.net");
	assert_int_equal(s.spf_networks_count, 2);
	assert_string_equal(s.spf_networks[1], "2001:db8::/32");
	assert_string_equal(s.dmarc_policy, "reject");
	assert_null(s.dmarc_rua);
	assert_string_equal(s.mta_sts_mode, "enforce");
	assert_int_equal(s.mta_sts_max_age, 86400);
	assert_null(s.mta_sts_id);
	assert_string_equal(s.web_host, "web.example.net");
	assert_null(s.imap_host);
	assert_int_equal(s.imaps_port, 10993);
	assert_int_equal(s.submission_port, 587);
	assert_false(s.pop3);
	json_t *obj = mc_dns_records("example.com", &s, NULL, 0, NULL);
	json_t *spf = json_array_get(json_object_get(obj, "records"), 3);
	assert_string_equal(json_string_value(json_object_get(spf, "value")),
			    "v=spf1 mx include:_spf.example.net "
			    "include:_spf2.example.net ip4:192.0.2.0/24 "
			    "ip6:2001:db8::/32 -all");
	json_decref(obj);
	mc_config_destroy(&cfg);
	mc_pool_destroy(&pool);
}

/* An empty [dns]: defaults; a bad mx item is MC_ERR_INVALID. */
static void test_from_config_defaults(void **state)
{
	(void)state;
	if (!schema_has_dns())
		fail_msg("the config schema has no [dns] section");
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_config *cfg =
		load("[server]\nhostname = mail.example.net\n", NULL);
	struct mc_dns_settings s;
	struct mc_error err = {0};
	assert_int_equal(mc_dns_settings_from_config(cfg, pool, &s, NULL), 0);
	assert_int_equal(s.mx_count, 0);
	assert_int_equal(s.spf_include_count + s.spf_networks_count, 0);
	assert_string_equal(s.dmarc_policy, "quarantine");
	assert_string_equal(s.mta_sts_mode, "testing");
	assert_int_equal(s.mta_sts_max_age, 604800);
	assert_int_equal(s.imaps_port, 993);
	assert_int_equal(s.submissions_port, 465);
	assert_int_equal(s.pop3s_port, 995);
	assert_true(s.pop3);
	mc_config_destroy(&cfg);
	static const char *const bad[] = {"10", "x mx.example.net",
					  "10 mx.example.net extra",
					  "70000 mx.example.net", "-1 a.b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = mc_asprintf("[dns]\nmx = %s\n", bad[i]);
		cfg = load(text, NULL);
		free(text);
		assert_non_null(cfg);
		mc_error_clear(&err);
		assert_int_equal(
			mc_dns_settings_from_config(cfg, pool, &s, &err), -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		mc_config_destroy(&cfg);
	}
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_several_mx_pop3_off),
		cmocka_unit_test(test_invalid_strings),
		cmocka_unit_test(test_invalid_other),
		cmocka_unit_test(test_mta_sts_policy),
		cmocka_unit_test(test_mta_sts_id),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_from_config_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
