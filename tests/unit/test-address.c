/* test-address: the RFC 5322 address-list parser on tables of real-world
 * headers (good, obsolete and broken, UTF-8, Outlook and Apple Mail
 * styles), the writer, limits, and random/mutated input that must not
 * crash or break the group structure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-address.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>

/* Serializes a parse result: "{group" / "}" for group markers,
 * ["!"]["\"name\" "]local[@domain] for mailboxes, joined by " | ". */
static void serialize(const struct mc_address *a, size_t n, struct mc_buf *b)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			mc_buf_append_str(b, " | ");
		if (a[i].invalid)
			mc_buf_append_c(b, '!');
		if (a[i].is_group_start) {
			mc_buf_printf(b, "{%s", a[i].group);
			continue;
		}
		if (a[i].is_group_end) {
			mc_buf_append_c(b, '}');
			continue;
		}
		if (a[i].name != NULL)
			mc_buf_printf(b, "\"%s\" ", a[i].name);
		mc_buf_append_str(b, a[i].local);
		if (a[i].domain != NULL)
			mc_buf_printf(b, "@%s", a[i].domain);
	}
}

/* Parses s and returns the serialized form (from pool). */
static const char *parse_str(struct mc_pool *pool, const char *s, size_t *n_r)
{
	struct mc_buf b;
	struct mc_address *a = mc_address_parse(pool, s, strlen(s), 0, n_r);

	mc_buf_init(&b, pool, 0);
	serialize(a, *n_r, &b);
	return mc_buf_cstr(&b);
}

static const struct {
	const char *in;
	size_t count;
	const char *out;
} parse_cases[] = {
	{"john@example.com", 1, "john@example.com"},
	{"John Doe <john@example.com>", 1, "\"John Doe\" john@example.com"},
	{"\"Doe, John\" <john.doe@example.com>", 1,
	 "\"Doe, John\" john.doe@example.com"},
	{"a@b.example, c@d.example", 2, "a@b.example | c@d.example"},
	{"undisclosed-recipients:;", 2, "{undisclosed-recipients | }"},
	{"Undisclosed recipients:;", 2, "{Undisclosed recipients | }"},
	{"Friends: a@b.example, \"c d\"@e.example;, z@z.example", 5,
	 "{Friends | a@b.example | c d@e.example | } | z@z.example"},
	{"foo", 1, "!foo"},
	{"foo bar", 1, "!foo bar"},
	{"<@a.example,@b.example:x@y.example>", 1, "x@y.example"},
	{"Müller <jörg@münchen.de>", 1, "\"Müller\" jörg@münchen.de"},
	{"用户@例子.广告", 1, "用户@例子.广告"},
	{"\"Имя Фамилия\" <имя@пример.рф>", 1, "\"Имя Фамилия\" имя@пример.рф"},
	{"a@[1.2.3.4]", 1, "a@[1.2.3.4]"},
	{"postmaster@[IPv6:2001:db8::1]", 1, "postmaster@[IPv6:2001:db8::1]"},
	{"John Q. Public <jqp@example.com>", 1,
	 "\"John Q. Public\" jqp@example.com"},
	{"a@b.example c@d.example", 2, "a@b.example | c@d.example"},
	{"<foo@bar.example", 1, "foo@bar.example"},
	{"John <john@example.com, x@y.example", 2,
	 "\"John\" john@example.com | x@y.example"},
	{"<>", 1, ""},
	{"", 0, ""},
	{" , ,, ", 0, ""},
	{"=?utf-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>", 1,
	 "\"=?utf-8?Q?J=C3=B6rg_M=C3=BCller?=\" joerg@example.de"},
	{"=?iso-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", 1,
	 "\"=?iso-8859-1?Q?Andr=E9?= Pirard\" PIRARD@vm1.ulg.ac.be"},
	{"=?UTF-8?B?5bGx55Sw5aSq6YOO?= <taro@example.jp>", 1,
	 "\"=?UTF-8?B?5bGx55Sw5aSq6YOO?=\" taro@example.jp"},
	/* Outlook: "Last, First" names, ';' used as a separator */
	{"\"Smith, John (IT)\" <John.Smith@corp.example.com>; \"Doe, Jane\" "
	 "<jane@corp.example.com>",
	 2,
	 "\"Smith, John (IT)\" John.Smith@corp.example.com | \"Doe, Jane\" "
	 "jane@corp.example.com"},
	{"'john@example.com' <john@example.com>", 1,
	 "\"'john@example.com'\" john@example.com"},
	/* Apple Mail: folded lines, quoted UTF-8 names */
	{"\"Jörg Müller\"\r\n <joerg@example.de>,\r\n\t\"Anna\" "
	 "<anna@x.example>",
	 2, "\"Jörg Müller\" joerg@example.de | \"Anna\" anna@x.example"},
	{"jane@x.org (Jane Doe)", 1, "\"Jane Doe\" jane@x.org"},
	{"root@localhost (Cron Daemon)", 1, "\"Cron Daemon\" root@localhost"},
	{"x@y.example (A (nested) c)", 1, "\"A (nested) c\" x@y.example"},
	{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 1,
	 "\"Pete\" pete@silly.test"},
	{"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public."
	 "example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my "
	 "dear friend); (the end of the group)",
	 5,
	 "{A Group | \"Chris Jones\" c@public.example | joe@example.org | "
	 "\"John\" jdoe@one.test | }"},
	{"\"Joe Q. Public\" <john.q.public@example.com>, Mary Smith "
	 "<mary@x.test>, jdoe@example.org, Who? <one@y.test>",
	 4,
	 "\"Joe Q. Public\" john.q.public@example.com | \"Mary Smith\" "
	 "mary@x.test | jdoe@example.org | \"Who?\" one@y.test"},
	{"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" "
	 "<sysservices@example.net>",
	 2, "boss@nil.test | \"Giant; \"Big\" Box\" sysservices@example.net"},
	{"\"john doe\"@example.com", 1, "john doe@example.com"},
	{"\"a\\\\b\"@example.com", 1, "a\\b@example.com"},
	{"john . doe @ example . com", 1, "john.doe@example.com"},
	{"Mary Smith <mary@x.test>  (comment)", 1,
	 "\"Mary Smith\" mary@x.test"},
	{"G: a@b.example", 3, "{G | a@b.example | }"},
	{"Group: <a@b.example>;, Other: ;", 5,
	 "{Group | a@b.example | } | {Other | }"},
	{": a@b.example;", 3, "!{ | a@b.example | }"},
	{"\"unterminated <a@b.example>", 1, "!unterminated <a@b.example>"},
	{"a@", 1, "!a"},
	{"@b.example", 1, "!@b.example"},
	{"a@b.example.", 1, "!a@b.example."},
	{"..a@b.example", 1, "!..a@b.example"},
	{"a..b@example.com", 1, "!a..b@example.com"},
	{"Joe <joe@example.com> junk, x@y.example", 3,
	 "\"Joe\" joe@example.com | !junk | x@y.example"},
	{"<postmaster>", 1, "!postmaster"},
	{"\"\" <a@b.example>", 1, "a@b.example"},
	{">>>a@b.example", 1, "!a@b.example"},
	{"a@[1.2.3.4", 1, "!a@[1.2.3.4"},
	{"A: B: c@d.example;;", 3, "{A | !Bc@d.example | }"},
	{"MAILER-DAEMON@mx.example.com (Mail Delivery System)", 1,
	 "\"Mail Delivery System\" MAILER-DAEMON@mx.example.com"},
};

/* Every table case parses to the expected entries. */
static void test_parse_table(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		size_t n;
		const char *got = parse_str(pool, parse_cases[i].in, &n);

		if (strcmp(got, parse_cases[i].out) != 0 ||
		    n != parse_cases[i].count)
			fail_msg("case %zu [%s]: got %zu [%s], want %zu [%s]",
				 i, parse_cases[i].in, n, got,
				 parse_cases[i].count, parse_cases[i].out);
	}
	mc_pool_destroy(&pool);
}

/* Markers carry no local part, the group name sits on the start. */
static void test_group_markers(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	const char *s = "Team: a@b.example;";
	size_t n;
	struct mc_address *a = mc_address_parse(pool, s, strlen(s), 0, &n);

	(void)state;
	assert_int_equal(n, 3);
	assert_true(a[0].is_group_start);
	assert_false(a[0].is_group_end);
	assert_null(a[0].local);
	assert_null(a[0].name);
	assert_string_equal(a[0].group, "Team");
	assert_false(a[1].is_group_start || a[1].is_group_end);
	assert_null(a[1].group);
	assert_true(a[2].is_group_end);
	assert_null(a[2].local);
	assert_null(a[2].group);
	assert_null(mc_address_parse(pool, "", 0, 0, &n));
	assert_int_equal(n, 0);
	mc_pool_destroy(&pool);
}

/* The input is bounded by len, not by a NUL. */
static void test_parse_len(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	const char s[] = "a@b.example, c@d.example";
	size_t n;
	struct mc_address *a = mc_address_parse(pool, s, 11, 0, &n);

	(void)state;
	assert_int_equal(n, 1);
	assert_string_equal(a[0].domain, "b.example");
	a = mc_address_parse(pool, "a@b\0c", 5, 0, &n);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].local, "a");
	assert_string_equal(a[0].domain, "b");
	assert_true(a[1].invalid);
	mc_pool_destroy(&pool);
}

/* At most max entries; default 10000; an open group is still closed. */
static void test_limits(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	struct mc_buf b;
	struct mc_address *a;
	size_t n;

	(void)state;
	mc_buf_init(&b, pool, 0);
	for (int i = 0; i < 12000; i++)
		mc_buf_printf(&b, "u%d@x.example,", i);
	a = mc_address_parse(pool, b.data, b.len, 0, &n);
	assert_int_equal(n, MC_ADDRESS_DEFAULT_MAX);
	assert_string_equal(a[n - 1].local, "u9999");
	a = mc_address_parse(pool, b.data, b.len, 3, &n);
	assert_int_equal(n, 3);
	a = mc_address_parse(pool, "G: a@x, b@x, c@x, d@x;", 22, 4, &n);
	assert_int_equal(n, 4);
	assert_true(a[0].is_group_start);
	assert_true(a[3].is_group_end);
	assert_string_equal(a[2].local, "b");
	a = mc_address_parse(pool, "a@x, G: b@x;", 12, 2, &n);
	assert_int_equal(n, 1);
	mc_pool_destroy(&pool);
}

static const struct {
	struct mc_address addr;
	const char *out;
} write_cases[] = {
	{{.local = "a", .domain = "b.example"}, "a@b.example"},
	{{.name = "John Doe", .local = "j", .domain = "x.example"},
	 "John Doe <j@x.example>"},
	{{.name = "Doe, John", .local = "j", .domain = "x"},
	 "\"Doe, John\" <j@x>"},
	{{.name = "a\"b\\c", .local = "j", .domain = "x"},
	 "\"a\\\"b\\\\c\" <j@x>"},
	{{.name = "John Q. Public", .local = "j", .domain = "x"},
	 "\"John Q. Public\" <j@x>"},
	{{.name = "Jörg", .local = "jörg", .domain = "münchen.de"},
	 "Jörg <jörg@münchen.de>"},
	{{.name = "=?utf-8?Q?J=C3=B6rg?=", .local = "j", .domain = "x"},
	 "=?utf-8?Q?J=C3=B6rg?= <j@x>"},
	{{.name = "", .local = "j", .domain = "x"}, "j@x"},
	{{.name = " lead", .local = "j", .domain = "x"}, "\" lead\" <j@x>"},
	{{.local = "john doe", .domain = "x"}, "\"john doe\"@x"},
	{{.local = ".a", .domain = "x"}, "\".a\"@x"},
	{{.local = "a..b", .domain = "x"}, "\"a..b\"@x"},
	{{.local = "a\"b", .domain = "x"}, "\"a\\\"b\"@x"},
	{{.local = "john.doe", .domain = "[1.2.3.4]"}, "john.doe@[1.2.3.4]"},
	{{.local = "foo"}, "foo"},
	{{.local = ""}, "<>"},
	{{.is_group_start = true, .group = "undisclosed-recipients"},
	 "undisclosed-recipients:"},
	{{.is_group_start = true, .group = "My Team, Inc"},
	 "\"My Team, Inc\":"},
	{{.is_group_end = true}, ";"},
};

/* Single entries are written with the quoting they need. */
static void test_write(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(write_cases) / sizeof(write_cases[0]);
	     i++) {
		struct mc_buf b;

		mc_buf_init(&b, NULL, 0);
		assert_true(mc_address_write(&write_cases[i].addr, &b));
		if (strcmp(mc_buf_cstr(&b), write_cases[i].out) != 0)
			fail_msg("case %zu: got [%s] want [%s]", i,
				 mc_buf_cstr(&b), write_cases[i].out);
		mc_buf_free(&b);
	}
}

/* Writing a parsed list and parsing it again gives the same entries. */
static void test_roundtrip(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		size_t n, n2;
		const char *s1 = parse_str(pool, parse_cases[i].in, &n);
		struct mc_address *a;
		struct mc_buf w;

		if (strchr(s1, '!') != NULL)
			continue;
		a = mc_address_parse(pool, parse_cases[i].in,
				     strlen(parse_cases[i].in), 0, &n);
		mc_buf_init(&w, pool, 0);
		assert_true(mc_address_write_list(a, n, &w));
		if (strcmp(parse_str(pool, mc_buf_cstr(&w), &n2), s1) != 0 ||
		    n2 != n)
			fail_msg("case %zu: [%s] -> [%s]", i, parse_cases[i].in,
				 mc_buf_cstr(&w));
	}
	mc_pool_destroy(&pool);
}

/* The list writer separates entries and groups properly. */
static void test_write_list(void **state)
{
	struct mc_pool *pool = mc_pool_create("test", 0);
	const char *s = "a@x, G: b@x ,c@y ; H:;,d@z";
	struct mc_buf w;
	size_t n;
	struct mc_address *a = mc_address_parse(pool, s, strlen(s), 0, &n);

	(void)state;
	mc_buf_init(&w, pool, 0);
	assert_true(mc_address_write_list(a, n, &w));
	assert_string_equal(mc_buf_cstr(&w), "a@x, G: b@x, c@y;, H:;, d@z");
	mc_pool_destroy(&pool);
}

/* xorshift64: deterministic pseudo-random numbers for the fuzz loops. */
static uint64_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Structural invariants of any parse result, and the writer copes. */
static void check_result(const struct mc_address *a, size_t n, size_t max)
{
	bool in_group = false;
	struct mc_buf w;

	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		if (a[i].is_group_start) {
			assert_false(in_group);
			assert_non_null(a[i].group);
			in_group = true;
		} else if (a[i].is_group_end) {
			assert_true(in_group);
			in_group = false;
		} else {
			assert_non_null(a[i].local);
		}
		if (a[i].is_group_start || a[i].is_group_end)
			assert_null(a[i].local);
	}
	assert_false(in_group);
	mc_buf_init(&w, NULL, 0);
	mc_address_write_list(a, n, &w);
	mc_buf_free(&w);
}

/* Random bytes biased toward the syntax's special characters. */
static void test_fuzz_random(void **state)
{
	static const char alphabet[] = "a@.<>,;:\"\\()[] \r\n\tz\xc3\xa9=?";
	struct mc_pool *pool = mc_pool_create("fuzz", 0);
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	char buf[256];

	(void)state;
	for (int iter = 0; iter < 4000; iter++) {
		size_t len = rnd(&seed) % sizeof(buf), n, max;
		struct mc_address *a;

		for (size_t i = 0; i < len; i++) {
			uint64_t r = rnd(&seed);

			if (r % 4 == 0)
				buf[i] = (char)(r >> 8);
			else
				buf[i] = alphabet[(r >> 8) %
						  (sizeof(alphabet) - 1)];
		}
		max = iter % 3 == 0 ? 1 + rnd(&seed) % 5 : 0;
		a = mc_address_parse(pool, buf, len, max, &n);
		check_result(a, n, max == 0 ? MC_ADDRESS_DEFAULT_MAX : max);
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
}

/* Table inputs with bytes flipped, inserted, removed and truncated. */
static void test_fuzz_mutate(void **state)
{
	struct mc_pool *pool = mc_pool_create("fuzz", 0);
	size_t ncases = sizeof(parse_cases) / sizeof(parse_cases[0]);
	uint64_t seed = 12345;
	char buf[512];

	(void)state;
	for (int iter = 0; iter < 4000; iter++) {
		const char *src = parse_cases[iter % ncases].in;
		size_t len = strlen(src), n;
		struct mc_address *a;

		memcpy(buf, src, len);
		for (int m = 0; m < 1 + (int)(rnd(&seed) % 4); m++) {
			size_t pos = len > 0 ? rnd(&seed) % len : 0;
			uint64_t op = rnd(&seed) % 4;

			if (op == 0 && len > 0)
				buf[pos] = (char)rnd(&seed);
			else if (op == 1 && len + 1 < sizeof(buf)) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = "\"()<>@,;:\\["[rnd(&seed) % 12];
				len++;
			} else if (op == 2 && len > 0) {
				memmove(buf + pos, buf + pos + 1,
					len - pos - 1);
				len--;
			} else {
				len = pos;
			}
		}
		a = mc_address_parse(pool, buf, len, 0, &n);
		check_result(a, n, MC_ADDRESS_DEFAULT_MAX);
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_group_markers),
		cmocka_unit_test(test_parse_len),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_write_list),
		cmocka_unit_test(test_fuzz_random),
		cmocka_unit_test(test_fuzz_mutate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
