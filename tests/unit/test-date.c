/* test-date: RFC 5322 date parsing on real-world and obsolete forms and
 * impossible dates, both formatters, the IMAP date-time / date parser, and
 * random and mutated input that must not crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-date.h"

#include <stdio.h>
#include <string.h>

/* The instant as "YYYY-MM-DD HH:MM:SS" in UTC. */
static void utc_str(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

struct date_case {
	const char *in;
	bool ok;
	const char *utc;
	int tz;
};

static const struct date_case rfc_cases[] = {
	{"Tue, 1 Jul 2003 10:52:37 +0200", true, "2003-07-01 08:52:37", 120},
	{"Fri, 21 Nov 1997 09:55:06 -0600", true, "1997-11-21 15:55:06", -360},
	{"Fri, 21 Nov 1997 09:55:06 -0600 (MDT)", true, "1997-11-21 15:55:06",
	 -360},
	{"21 Nov 97 09:55:06 GMT", true, "1997-11-21 09:55:06", 0},
	{"Thu, 13 Feb 1969 23:32:54 -0330", true, "1969-02-14 03:02:54", -210},
	{"Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      "
	 "23:32\r\n               -0330 (Newfoundland Time)",
	 true, "1969-02-14 03:02:00", -210},
	{"Mon, 2 Jan 2006 15:04:05 -0700", true, "2006-01-02 22:04:05", -420},
	{"2 Jan 2006 15:04 PST", true, "2006-01-02 23:04:00", -480},
	{"Mon, 02 Jan 06 15:04:05 EDT", true, "2006-01-02 19:04:05", -240},
	{"mon, 02 JAN 2006 15:04:05 cst", true, "2006-01-02 21:04:05", -360},
	{"Mon, 2 Jan 2006 15:04:05 CDT", true, "2006-01-02 20:04:05", -300},
	{"Mon, 2 Jan 2006 15:04:05 EST", true, "2006-01-02 20:04:05", -300},
	{"Mon, 2 Jan 2006 15:04:05 MST", true, "2006-01-02 22:04:05", -420},
	{"Mon, 2 Jan 2006 15:04:05 MDT", true, "2006-01-02 21:04:05", -360},
	{"Mon, 2 Jan 2006 15:04:05 PDT", true, "2006-01-02 22:04:05", -420},
	{"Mon, 2 Jan 2006 15:04:05 UT", true, "2006-01-02 15:04:05", 0},
	{"Mon, 2 Jan 2006 15:04:05 Z", true, "2006-01-02 15:04:05", 0},
	{"Mon, 2 Jan 2006 15:04:05 A", true, "2006-01-02 15:04:05", 0},
	{"Mon, 2 Jan 2006 15:04:05 CEST", true, "2006-01-02 15:04:05", 0},
	{"Mon, 2 Jan 2006 15:04:05", true, "2006-01-02 15:04:05", 0},
	{"Sat, 01 Jan 000 00:00:00 +0000", true, "1900-01-01 00:00:00", 0},
	{"1 Jan 49 00:00:00 +0000", true, "2049-01-01 00:00:00", 0},
	{"1 Jan 50 00:00:00 +0000", true, "1950-01-01 00:00:00", 0},
	{"1 Jan 103 00:00:00 +0000", true, "2003-01-01 00:00:00", 0},
	/* Outlook, Apple Mail, Gmail, Exchange */
	{"Wed, 14 Feb 2024 08:00:00 +0000", true, "2024-02-14 08:00:00", 0},
	{"Wed, 14 Feb 2024 09:00:00 +0100", true, "2024-02-14 08:00:00", 60},
	{"Wed, 14 Feb 2024 09:00:00 -0800 (PST)", true, "2024-02-14 17:00:00",
	 -480},
	{"Wed, 14 Feb 2024 09:00:00 +0100 (CET)", true, "2024-02-14 08:00:00",
	 60},
	{"Wed, 14 Feb 2024 14:30:00 +0530", true, "2024-02-14 09:00:00", 330},
	{"  mon ,  01   jul 2003   10 : 52 : 37   GMT (comment)", true,
	 "2003-07-01 10:52:37", 0},
	{"(c) Tue (c), 1 (c) Jul 2003 10:52:37 +0200", true,
	 "2003-07-01 08:52:37", 120},
	{"Monday, 1 January 2024 10:00:00 +0000", true, "2024-01-01 10:00:00",
	 0},
	{"Tue 1 Jul 2003 10:52:37 +0200", true, "2003-07-01 08:52:37", 120},
	{"1 Jan 2024 10:00:00 +01:00", true, "2024-01-01 09:00:00", 60},
	{"Tue, 29 Feb 2000 12:00:00 +0000", true, "2000-02-29 12:00:00", 0},
	{"Thu, 29 Feb 2024 23:59:59 +1400", true, "2024-02-29 09:59:59", 840},
	{"31 Dec 2023 23:59:60 +0000", true, "2024-01-01 00:00:00", 0},
	{"1 Jan 2024 10:00:00 +0000 trailing junk", true, "2024-01-01 10:00:00",
	 0},
	/* impossible or malformed */
	{"Thu, 29 Feb 1900 12:00:00 +0000", false, NULL, 0},
	{"Wed, 29 Feb 2023 12:00:00 +0000", false, NULL, 0},
	{"Thu, 30 Feb 2023 10:00:00 +0000", false, NULL, 0},
	{"31 Apr 2024 10:00:00 +0000", false, NULL, 0},
	{"0 Jan 2024 10:00:00 +0000", false, NULL, 0},
	{"32 Jan 2024 10:00:00 +0000", false, NULL, 0},
	{"1 Jan 2024 25:00:00 +0000", false, NULL, 0},
	{"1 Jan 2024 10:60:00 +0000", false, NULL, 0},
	{"1 Jan 2024 10:00:61 +0000", false, NULL, 0},
	{"1 Foo 2024 10:00:00 +0000", false, NULL, 0},
	{"Funday, 1 Jan 2024 10:00:00 +0000", false, NULL, 0},
	{"1 Jan 2024", false, NULL, 0},
	{"1 Jan 2024 10", false, NULL, 0},
	{"1 Jan 2024 10:00:00 +2500", false, NULL, 0},
	{"1 Jan 2024 10:00:00 +0060", false, NULL, 0},
	{"1 Jan 2024 10:00:00 +00", false, NULL, 0},
	{"1 Jan 20245 10:00:00 +0000", false, NULL, 0},
	{"1 Jan 0999 10:00:00 +0000", false, NULL, 0},
	{"123 Jan 2024 10:00:00 +0000", false, NULL, 0},
	{"2024-01-01T10:00:00Z", false, NULL, 0},
	{"", false, NULL, 0},
	{"   ", false, NULL, 0},
	{"(unterminated comment", false, NULL, 0},
	{"garbage", false, NULL, 0},
};

/* Runs one parser over a table. */
static void run_cases(const struct date_case *cases, size_t n,
		      bool (*parse)(const char *, time_t *, int *))
{
	for (size_t i = 0; i < n; i++) {
		time_t t = 0;
		int tz = 12345;
		char got[32];
		bool ok = parse(cases[i].in, &t, &tz);

		if (ok != cases[i].ok)
			fail_msg("case %zu [%s]: ok=%d", i, cases[i].in, ok);
		if (!ok)
			continue;
		utc_str(t, got);
		if (strcmp(got, cases[i].utc) != 0 || tz != cases[i].tz)
			fail_msg("case %zu [%s]: got %s %d want %s %d", i,
				 cases[i].in, got, tz, cases[i].utc,
				 cases[i].tz);
	}
}

/* The RFC 5322 table. */
static void test_parse_rfc5322(void **state)
{
	(void)state;
	run_cases(rfc_cases, sizeof(rfc_cases) / sizeof(rfc_cases[0]),
		  mc_date_parse);
	assert_false(mc_date_parse(NULL, NULL, NULL));
	assert_true(mc_date_parse("1 Jan 2024 10:00:00 +0000", NULL, NULL));
}

static const struct date_case imap_cases[] = {
	{"02-Jan-2006 15:04:05 -0700", true, "2006-01-02 22:04:05", -420},
	{"\"02-Jan-2006 15:04:05 -0700\"", true, "2006-01-02 22:04:05", -420},
	{" 2-Jan-2006 15:04:05 +0000", true, "2006-01-02 15:04:05", 0},
	{"\" 2-Jan-2006 15:04:05 +0530\"", true, "2006-01-02 09:34:05", 330},
	{"2-Jan-2006 15:04:05 +0000", true, "2006-01-02 15:04:05", 0},
	{"29-feb-2024 00:00:00 +0000", true, "2024-02-29 00:00:00", 0},
	{"2-jan-2006", true, "2006-01-02 00:00:00", 0},
	{"02-JAN-2006", true, "2006-01-02 00:00:00", 0},
	{"\"1-Dec-1999\"", true, "1999-12-01 00:00:00", 0},
	{"02-Jan-2006 15:04 -0700", false, NULL, 0},
	{"02-Jan-06 15:04:05 -0700", false, NULL, 0},
	{"30-Feb-2006 15:04:05 -0700", false, NULL, 0},
	{"29-Feb-2023", false, NULL, 0},
	{"02-Jan-2006 15:04:05", false, NULL, 0},
	{"02-Jan-2006 15:04:05 -07:00", false, NULL, 0},
	{"02-Jan-2006 24:00:00 +0000", false, NULL, 0},
	{"02-Jan-2006 15:04:05 -0700 x", false, NULL, 0},
	{"\"02-Jan-2006 15:04:05 -0700", false, NULL, 0},
	{"02-Jan-2006\"", false, NULL, 0},
	{"02-Xyz-2006", false, NULL, 0},
	{"02 Jan 2006", false, NULL, 0},
	{"002-Jan-2006", false, NULL, 0},
	{"2-J", false, NULL, 0},
	{"2-Jan", false, NULL, 0},
	{"", false, NULL, 0},
};

/* The IMAP table. */
static void test_parse_imap(void **state)
{
	(void)state;
	run_cases(imap_cases, sizeof(imap_cases) / sizeof(imap_cases[0]),
		  mc_date_parse_imap);
	assert_false(mc_date_parse_imap(NULL, NULL, NULL));
}

/* Both formatters on known instants and zones. */
static void test_format(void **state)
{
	char buf[MC_DATE_RFC5322_MAX], ibuf[MC_DATE_IMAP_MAX];

	(void)state;
	mc_date_format_rfc5322(1136239445, -420, buf);
	assert_string_equal(buf, "Mon, 2 Jan 2006 15:04:05 -0700");
	mc_date_format_imap(1136239445, -420, ibuf);
	assert_string_equal(ibuf, "02-Jan-2006 15:04:05 -0700");
	mc_date_format_rfc5322(1136239445, 330, buf);
	assert_string_equal(buf, "Tue, 3 Jan 2006 03:34:05 +0530");
	mc_date_format_imap(0, 0, ibuf);
	assert_string_equal(ibuf, "01-Jan-1970 00:00:00 +0000");
	mc_date_format_rfc5322(951825600, 0, buf);
	assert_string_equal(buf, "Tue, 29 Feb 2000 12:00:00 +0000");
	mc_date_format_imap(1700000000, -210, ibuf);
	assert_string_equal(ibuf, "14-Nov-2023 18:43:20 -0330");
}

/* Format then parse gives back the instant and zone. */
static void test_roundtrip(void **state)
{
	uint64_t seed = 88172645463325252ull;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		time_t t, t2;
		int tz, tz2;
		char buf[MC_DATE_RFC5322_MAX], ibuf[MC_DATE_IMAP_MAX];

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		t = (time_t)(seed % 4000000000ull);
		tz = (int)((seed >> 40) % (24 * 60 * 2 - 1)) - (24 * 60 - 1);
		mc_date_format_rfc5322(t, tz, buf);
		assert_true(mc_date_parse(buf, &t2, &tz2));
		assert_int_equal(t2, t);
		assert_int_equal(tz2, tz);
		mc_date_format_imap(t, tz, ibuf);
		assert_true(mc_date_parse_imap(ibuf, &t2, &tz2));
		assert_int_equal(t2, t);
		assert_int_equal(tz2, tz);
	}
}

/* Random and mutated strings never crash either parser. */
static void test_fuzz(void **state)
{
	static const char alphabet[] = "0123456789 :+-,()\"JanFebMonGMTZ\r\n\\";
	uint64_t seed = 0xDEADBEEFCAFEull;
	char buf[96];

	(void)state;
	for (int iter = 0; iter < 6000; iter++) {
		const struct date_case *src = &rfc_cases[iter % 30];
		size_t len;
		time_t t;
		int tz;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		if (iter % 2 == 0) {
			len = seed % (sizeof(buf) - 1);
			for (size_t i = 0; i < len; i++)
				buf[i] = alphabet[(seed >> (i % 50)) % 35];
		} else {
			len = strlen(src->in) % (sizeof(buf) - 1);
			memcpy(buf, src->in, len);
			if (len > 0)
				buf[(seed >> 8) % len] = (char)(seed >> 16);
			if (len > 0)
				len = (seed >> 24) % (len + 1);
		}
		buf[len] = '\0';
		mc_date_parse(buf, &t, &tz);
		mc_date_parse_imap(buf, &t, &tz);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rfc5322),
		cmocka_unit_test(test_parse_imap),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
