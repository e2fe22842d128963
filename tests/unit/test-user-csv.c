/* test-user-csv: the user CSV import (header rules, per-line errors with
 * the file's line numbers, quoting, BOM, CRLF/LF/CR, limits, feeding in
 * pieces) and the export, read back through the import. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-user-csv.h"

#define ALL_COLS "local_part,password,display_name,quota,department,status\n"

/* Parses text whole; fails the test on a whole-file error. */
static struct mc_user_csv *parse_ok(const char *text, size_t len)
{
	struct mc_user_csv *csv = NULL;
	struct mc_error err;

	mc_error_clear(&err);
	if (mc_user_csv_parse(text, len, NULL, &csv, &err) < 0)
		fail_msg("parse failed: %s", err.msg);
	return csv;
}

/* Parses text fed one byte at a time. */
static struct mc_user_csv *parse_bytewise(const char *text, size_t len)
{
	struct mc_user_csv *csv = mc_user_csv_create(NULL);

	for (size_t i = 0; i < len; i++)
		assert_int_equal(mc_user_csv_feed(csv, text + i, 1, NULL), 0);
	assert_int_equal(mc_user_csv_finish(csv, NULL), 0);
	return csv;
}

/* Equal strings, both possibly NULL. */
static void assert_str_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* The same rows, field by field. */
static void assert_same_rows(const struct mc_user_csv *a,
			     const struct mc_user_csv *b)
{
	size_t na, nb;
	const struct mc_user_csv_row *ra = mc_user_csv_rows(a, &na);
	const struct mc_user_csv_row *rb = mc_user_csv_rows(b, &nb);

	assert_int_equal(na, nb);
	assert_int_equal(mc_user_csv_columns(a), mc_user_csv_columns(b));
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(ra[i].line, rb[i].line);
		assert_str_or_null(ra[i].local_part, rb[i].local_part);
		assert_str_or_null(ra[i].address, rb[i].address);
		assert_str_or_null(ra[i].password, rb[i].password);
		assert_str_or_null(ra[i].display_name, rb[i].display_name);
		assert_str_or_null(ra[i].department, rb[i].department);
		assert_str_or_null(ra[i].status, rb[i].status);
		assert_int_equal(ra[i].has_quota, rb[i].has_quota);
		assert_int_equal(ra[i].quota_bytes, rb[i].quota_bytes);
		assert_str_or_null(ra[i].error, rb[i].error);
	}
}

/* Fails unless error is NULL (want NULL) or contains want. */
static void assert_error(const char *error, const char *want, size_t line)
{
	if (want == NULL && error != NULL)
		fail_msg("line %zu: unexpected error \"%s\"", line, error);
	if (want != NULL && (error == NULL || strstr(error, want) == NULL))
		fail_msg("line %zu: error \"%s\" lacks \"%s\"", line,
			 error != NULL ? error : "(none)", want);
}

/* A file of good and bad lines, blank lines and a quoted display name
 * over three lines: the rows, their fields and line numbers. */
static const char mixed[] =
	"Local_Part , password,display_name,quota,department,status\n"
	"alice,s3cret,Alice Liddell,10M,Sales/EMEA,active\n"
	"\n"
	"bob,\"pa,ss\"\"word\",\"Bob\nthe\r\nBuilder\",1024,,FROZEN\n"
	"carol,x,Carol,lots,,\n"
	"  ,x,Nobody,,,\n"
	"dave,x,Dave\n"
	",,,,,\n"
	"erin,,,  2g ,  Sales /  EMEA / Nord ,\n"
	"frank,x,Frank,,Sales//EMEA,\n"
	"gina,x,Gina,,,gone\n"
	"hank,x,\"Hank \xff\",,,\n"
	"ivy, spaced pw ,Ivy,0,,active\n";

static void test_mixed(void **state)
{
	(void)state;
	static const struct {
		size_t line;
		const char *local_part, *error;
	} want[] = {
		{2, "alice", NULL},
		{4, "bob", NULL},
		{7, "carol", "bad quota \"lots\""},
		{8, NULL, "empty local_part"},
		{9, "dave", "the line has 3 fields, the header 6"},
		{11, "erin", NULL},
		{12, "frank", "bad department path"},
		{13, "gina", "status must be active or frozen"},
		{14, "hank", "invalid UTF-8 in display_name"},
		{15, "ivy", NULL},
	};
	struct mc_user_csv *csv = parse_ok(mixed, sizeof(mixed) - 1);
	struct mc_user_csv *slow = parse_bytewise(mixed, sizeof(mixed) - 1);
	size_t n;
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

	assert_int_equal(
		mc_user_csv_columns(csv),
		MC_USER_CSV_COL_LOCAL_PART | MC_USER_CSV_COL_PASSWORD |
			MC_USER_CSV_COL_DISPLAY_NAME | MC_USER_CSV_COL_QUOTA |
			MC_USER_CSV_COL_DEPARTMENT | MC_USER_CSV_COL_STATUS);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rows[i].line, want[i].line);
		assert_str_or_null(rows[i].local_part, want[i].local_part);
		assert_error(rows[i].error, want[i].error, rows[i].line);
	}
	assert_string_equal(rows[0].password, "s3cret");
	assert_string_equal(rows[0].display_name, "Alice Liddell");
	assert_true(rows[0].has_quota);
	assert_int_equal(rows[0].quota_bytes, 10 * 1024 * 1024);
	assert_string_equal(rows[0].department, "Sales/EMEA");
	assert_string_equal(rows[0].status, "active");
	assert_string_equal(rows[1].password, "pa,ss\"word");
	assert_string_equal(rows[1].display_name, "Bob\nthe\r\nBuilder");
	assert_int_equal(rows[1].quota_bytes, 1024);
	assert_null(rows[1].department);
	assert_string_equal(rows[1].status, "frozen");
	assert_null(rows[5].password);
	assert_null(rows[5].display_name);
	assert_int_equal(rows[5].quota_bytes, 2ull << 30);
	assert_string_equal(rows[5].department, "Sales/EMEA/Nord");
	assert_null(rows[5].status);
	assert_string_equal(rows[9].password, " spaced pw ");
	assert_true(rows[9].has_quota);
	assert_int_equal(rows[9].quota_bytes, 0);
	assert_same_rows(csv, slow);
	mc_user_csv_destroy(&csv);
	mc_user_csv_destroy(&slow);
	assert_null(csv);
	mc_user_csv_destroy(&csv);
}

/* Replaces every "\n" of src not after a CR by eol into a new string
 * (caller frees). */
static char *with_eol(const char *src, const char *eol, size_t *len_r)
{
	struct mc_buf buf;

	mc_buf_init(&buf, NULL, 0);
	for (const char *p = src; *p != '\0'; p++) {
		if (*p == '\n' && (p == src || p[-1] != '\r'))
			mc_buf_append_str(&buf, eol);
		else
			mc_buf_append_c(&buf, *p);
	}
	*len_r = buf.len;
	return buf.data;
}

/* LF, CRLF and CR line ends (also inside the quoted field) give the same
 * rows and line numbers. */
static void test_line_ends(void **state)
{
	(void)state;
	static const char *const eols[] = {"\r\n", "\r"};

	for (size_t i = 0; i < 2; i++) {
		size_t len;
		char *text = with_eol(mixed, eols[i], &len);
		struct mc_user_csv *csv = parse_ok(text, len);
		struct mc_user_csv *slow = parse_bytewise(text, len);
		size_t n;
		const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

		assert_int_equal(n, 10);
		assert_int_equal(rows[1].line, 4);
		assert_int_equal(rows[2].line, 7);
		assert_int_equal(rows[9].line, 15);
		assert_same_rows(csv, slow);
		mc_user_csv_destroy(&csv);
		mc_user_csv_destroy(&slow);
		free(text);
	}
}

/* A byte order mark at the start is skipped, even split over feeds; one
 * elsewhere, or part of one, is data. */
static void test_bom(void **state)
{
	(void)state;
	static const char text[] = "\xef\xbb\xbflocal_part\nalice\n";
	struct mc_user_csv *csv = parse_ok(text, sizeof(text) - 1);
	struct mc_user_csv *slow = parse_bytewise(text, sizeof(text) - 1);
	struct mc_error err;
	size_t n;
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

	assert_int_equal(n, 1);
	assert_string_equal(rows[0].local_part, "alice");
	assert_int_equal(rows[0].line, 2);
	assert_same_rows(csv, slow);
	mc_user_csv_destroy(&csv);
	mc_user_csv_destroy(&slow);

	/* half a BOM is not one: the header name is unknown */
	mc_error_clear(&err);
	const char *half = "\xef\xbblocal_part\nalice\n";
	assert_int_equal(
		mc_user_csv_parse(half, strlen(half), NULL, &csv, &err), -1);
	assert_non_null(strstr(err.msg, "unknown column"));
	assert_null(csv);
	/* a BOM on the second line is data (and valid UTF-8) */
	csv = parse_ok("local_part\n\xef\xbb\xbf"
		       "alice\n",
		       20);
	rows = mc_user_csv_rows(csv, &n);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].local_part, "\xef\xbb\xbf"
						"alice");
	mc_user_csv_destroy(&csv);
}

struct file_error_case {
	const char *text;
	const char *msg; /* a substring of the whole-file error */
};

/* Whole-file errors: header rules, quoting, an empty file. */
static void test_file_errors(void **state)
{
	(void)state;
	static const struct file_error_case cases[] = {
		{"", "no header"},
		{"\n\r\n,,\n", "no header"},
		{"\xef\xbb\xbf", "no header"},
		{"local_part,shoe_size\nalice,9\n",
		 "line 1: unknown column \"shoe_size\""},
		{"\n\nlocal_part,x\xff\n", "line 3: unknown column 2"},
		{"local_part,,password\n", "unknown column \"\""},
		{"local_part,password,PASSWORD\n",
		 "duplicate column \"PASSWORD\""},
		{"local_part,quota,quota_bytes\n",
		 "duplicate column \"quota_bytes\""},
		{"password,display_name\nx,y\n",
		 "needs a local_part or an address column"},
		{"local_part,address\n", "both local_part and address"},
		{"local_part,password,display_name,quota,department,status,"
		 "used_bytes,created_at,quota_bytes,address,x\n",
		 "too many columns"},
		{"local_part,password\nalice,a\"b\n",
		 "line 2: malformed quoting"},
		{"local_part,password\nalice,\"ab\"c\n",
		 "line 2: malformed quoting"},
		{"local_part,display_name\nalice,\"A\nB\"\nbob,\"x\"y\n",
		 "line 4: malformed quoting"},
		{"local_part,display_name\nalice,x\nbob,\"open\nstill\n",
		 "line 3: unterminated quoted field"},
		{"local_part,display_name\n\"bob\nx", "line 2: unterminated"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_user_csv *csv = NULL;
		struct mc_error err;

		mc_error_clear(&err);
		if (mc_user_csv_parse(cases[i].text, strlen(cases[i].text),
				      NULL, &csv, &err) == 0)
			fail_msg("case %zu parsed", i);
		assert_null(csv);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
				 cases[i].msg);
	}
}

struct line_case {
	const char *line; /* a data line under the ALL_COLS header */
	const char *error;
	bool has_quota;
	uint64_t quota;
};

/* Quota syntax and the other per-line checks, one line at a time. */
static void test_line_checks(void **state)
{
	(void)state;
	static const struct line_case cases[] = {
		{"a,p,n,1024,,", NULL, true, 1024},
		{"a,p,n,10K,,", NULL, true, 10240},
		{"a,p,n,10k,,", NULL, true, 10240},
		{"a,p,n,25M,,", NULL, true, 25ull << 20},
		{"a,p,n,2g,,", NULL, true, 2ull << 30},
		{"a,p,n,1T,,", NULL, true, 1ull << 40},
		{"a,p,n,\"\",,", NULL, false, 0},
		{"a,p,n,9223372036854775807,,", NULL, true, INT64_MAX},
		{"a,p,n,9223372036854775808,,", "bad quota", false, 0},
		{"a,p,n,8388608T,,", "bad quota", false, 0},
		{"a,p,n,1.5G,,", "bad quota", false, 0},
		{"a,p,n,-1,,", "bad quota", false, 0},
		{"a,p,n,10KB,,", "bad quota", false, 0},
		{"a,p,n,10 K,,", "bad quota", false, 0},
		{"a,p,n,"
		 "12345678901234567890123456789012345678901234567890,,",
		 "bad quota", false, 0},
		{"a,p,n,,,Active", NULL, false, 0},
		{"a,p,n,,,pending", "status must be", false, 0},
		{"a,p,n,,/Sales,", "bad department path", false, 0},
		{"a,p,n,,Sales/,", "bad department path", false, 0},
		{"a,p,n,,\" / \",", "bad department path", false, 0},
		{"a,p,n,,,,", "the line has 7 fields, the header 6", false, 0},
		{"a", "the line has 1 field, the header 6", false, 0},
		{"\"\",p,n,,,", "empty local_part", false, 0},
		{"a,\"\xc3\x28\",n,,,", "invalid UTF-8 in password", false, 0},
		{"a,p,\"\xe0\x80\x80\",,,", "invalid UTF-8 in display_name",
		 false, 0},
		{"a,p,n,,\"\xed\xa0\x80\",", "invalid UTF-8 in department",
		 false, 0},
		{"\xf4\x90\x80\x80,p,n,,,", "invalid UTF-8 in local_part",
		 false, 0},
		{"a,p,\xf0\x9f\x98\x80 ok,,,", NULL, false, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = mc_asprintf(ALL_COLS "%s\n", cases[i].line);
		struct mc_user_csv *csv = parse_ok(text, strlen(text));
		size_t n;
		const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

		assert_int_equal(n, 1);
		assert_int_equal(rows[0].line, 2);
		assert_error(rows[0].error, cases[i].error, i);
		if (cases[i].error == NULL) {
			assert_int_equal(rows[0].has_quota, cases[i].has_quota);
			assert_int_equal(rows[0].quota_bytes, cases[i].quota);
		}
		mc_user_csv_destroy(&csv);
		free(text);
	}
}

/* A NUL byte inside a field is refused for that line. */
static void test_nul(void **state)
{
	(void)state;
	static const char text[] = "local_part,password\nalice,a\0b\nbob,c\n";
	struct mc_user_csv *csv = parse_ok(text, sizeof(text) - 1);
	size_t n;
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

	assert_int_equal(n, 2);
	assert_error(rows[0].error, "NUL byte in password", 2);
	assert_error(rows[1].error, NULL, 3);
	mc_user_csv_destroy(&csv);
}

/* A line with one field of len bytes of 'x' in the named column. */
static const char *long_field_error(const char *column, size_t len)
{
	static char error[128];
	struct mc_buf buf;
	struct mc_user_csv *csv;
	size_t n;
	const struct mc_user_csv_row *rows;

	mc_buf_init(&buf, NULL, 0);
	mc_buf_printf(&buf, "local_part,%s\nalice,", column);
	for (size_t i = 0; i < len; i++)
		mc_buf_append_c(&buf, 'x');
	mc_buf_append_c(&buf, '\n');
	csv = parse_ok(buf.data, buf.len);
	rows = mc_user_csv_rows(csv, &n);
	assert_int_equal(n, 1);
	snprintf(error, sizeof(error), "%s",
		 rows[0].error != NULL ? rows[0].error : "");
	mc_user_csv_destroy(&csv);
	mc_buf_free(&buf);
	return error;
}

/* Field limits: display_name 256, password 1024, department 1000, the
 * local part or address 320 bytes. */
static void test_field_limits(void **state)
{
	(void)state;
	static const struct {
		const char *column;
		size_t max;
	} limits[] = {
		{"display_name", 256},
		{"password", 1024},
		{"department", 1000},
	};
	char want[64];

	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(
			long_field_error(limits[i].column, limits[i].max), "");
		snprintf(want, sizeof(want), "%s longer than %zu bytes",
			 limits[i].column, limits[i].max);
		assert_string_equal(
			long_field_error(limits[i].column, limits[i].max + 1),
			want);
	}
	/* the local part column itself */
	char *text = mc_asprintf("local_part\n%0321d\n", 0);
	struct mc_user_csv *csv = parse_ok(text, strlen(text));
	size_t n;
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);
	assert_error(rows[0].error, "local_part longer than 320 bytes", 2);
	mc_user_csv_destroy(&csv);
	free(text);
}

/* The address column instead of local_part; ignored export columns. */
static void test_address_column(void **state)
{
	(void)state;
	static const char text[] = "address,used_bytes,created_at,quota_bytes\n"
				   "Alice@Acme.test,5,2024-01-01T00:00:00Z,1M\n"
				   ",1,,\n";
	struct mc_user_csv *csv = parse_ok(text, sizeof(text) - 1);
	size_t n;
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);

	assert_int_equal(mc_user_csv_columns(csv),
			 MC_USER_CSV_COL_ADDRESS | MC_USER_CSV_COL_QUOTA);
	assert_int_equal(n, 2);
	assert_null(rows[0].local_part);
	assert_string_equal(rows[0].address, "Alice@Acme.test");
	assert_int_equal(rows[0].quota_bytes, 1 << 20);
	assert_null(rows[0].error);
	assert_error(rows[1].error, "empty address", 3);
	mc_user_csv_destroy(&csv);
}

/* Limits of the whole file as set: data lines and bytes. */
static void test_file_limits(void **state)
{
	(void)state;
	struct mc_user_csv_settings set = {.max_bytes = 40, .max_rows = 3};
	struct mc_user_csv *csv = NULL;
	struct mc_error err;

	/* three lines (blank ones not counted) pass, four fail */
	const char *three = "local_part\na\n\nb\nc\n";
	assert_int_equal(
		mc_user_csv_parse(three, strlen(three), &set, &csv, NULL), 0);
	mc_user_csv_destroy(&csv);
	mc_error_clear(&err);
	assert_int_equal(mc_user_csv_parse("local_part\na\nb\nc\nd\n", 19, &set,
					   &csv, &err),
			 -1);
	assert_string_equal(err.msg, "more than 3 lines of users");

	/* bytes: 40 pass, 41 fail, also when fed in pieces */
	set.max_rows = 0;
	const char *forty = "local_part\n0123456789012345678901234567\n";
	assert_int_equal(strlen(forty), 40);
	assert_int_equal(mc_user_csv_parse(forty, 40, &set, &csv, NULL), 0);
	mc_user_csv_destroy(&csv);
	csv = mc_user_csv_create(&set);
	assert_int_equal(mc_user_csv_feed(csv, "local_part\n", 11, NULL), 0);
	mc_error_clear(&err);
	assert_int_equal(mc_user_csv_feed(csv,
					  "0123456789012345678901234"
					  "56789\n",
					  30, &err),
			 -1);
	assert_string_equal(err.msg, "the file is larger than 40 bytes");
	mc_error_clear(&err);
	assert_int_equal(mc_user_csv_finish(csv, &err), -1);
	assert_string_equal(err.msg, "the file is larger than 40 bytes");
	mc_user_csv_destroy(&csv);
}

/* The default limits: 100000 data lines, 10 MiB. */
static void test_file_limits_default(void **state)
{
	(void)state;
	struct mc_user_csv *csv = NULL;
	struct mc_error err;
	struct mc_buf buf;

	mc_buf_init(&buf, NULL, 0);
	mc_buf_append_str(&buf, "local_part\n");
	for (int i = 0; i < 100000; i++)
		mc_buf_append(&buf, "u\n", 2);
	assert_int_equal(mc_user_csv_parse(buf.data, buf.len, NULL, &csv, NULL),
			 0);
	mc_user_csv_destroy(&csv);
	mc_buf_append(&buf, "u\n", 2);
	mc_error_clear(&err);
	assert_int_equal(mc_user_csv_parse(buf.data, buf.len, NULL, &csv, &err),
			 -1);
	assert_string_equal(err.msg, "more than 100000 lines of users");
	mc_buf_free(&buf);
	csv = mc_user_csv_create(NULL);
	char *big = mc_calloc(1, MC_USER_CSV_MAX_BYTES + 1);
	mc_error_clear(&err);
	assert_int_equal(
		mc_user_csv_feed(csv, big, MC_USER_CSV_MAX_BYTES + 1, &err),
		-1);
	assert_string_equal(err.msg, "the file is larger than 10 MiB");
	free(big);
	mc_user_csv_destroy(&csv);
}

/* The export: header, plain and quoted fields, CRLF line ends. */
static void test_export(void **state)
{
	(void)state;
	struct mc_buf buf;
	struct mc_user_csv_export_row row = {
		.local_part = "alice",
		.display_name = "Liddell, \"Alice\"",
		.quota_bytes = 1048576,
		.used_bytes = 42,
		.department = "Sales/EMEA",
		.status = "active",
		.created_at = "2024-05-01T10:00:00Z",
	};

	mc_buf_init(&buf, NULL, 0);
	assert_true(mc_user_csv_export_header(&buf));
	assert_true(mc_user_csv_export_row(&buf, &row));
	row.local_part = "bob";
	row.display_name = NULL;
	row.department = NULL;
	assert_true(mc_user_csv_export_row(&buf, &row));
	assert_string_equal(mc_buf_cstr(&buf),
			    "local_part,display_name,quota_bytes,used_bytes,"
			    "department,status,created_at\r\n"
			    "alice,\"Liddell, \"\"Alice\"\"\",1048576,42,"
			    "Sales/EMEA,active,2024-05-01T10:00:00Z\r\n"
			    "bob,,1048576,42,,active,2024-05-01T10:00:00Z\r\n");
	mc_buf_free(&buf);

	/* a capped buffer: the line that does not fit is not appended */
	mc_buf_init(&buf, NULL, 100);
	assert_true(mc_user_csv_export_header(&buf));
	size_t len = buf.len;
	assert_false(mc_user_csv_export_row(&buf, &row));
	assert_int_equal(buf.len, len);
	mc_buf_free(&buf);
}

/* Users with commas, quotes, line breaks and UTF-8 in their fields. */
static const struct {
	const char *display_name, *department, *want_name;
} trip_users[] = {
	{"Plain", "Sales", "Plain"},
	{"Comma, Inc.", "A/B", "Comma, Inc."},
	{"\"Quoted\" \"\"twice\"\"", NULL, "\"Quoted\" \"\"twice\"\""},
	{"Multi\r\nline\nname\rhere", NULL, "Multi\r\nline\nname\rhere"},
	{"  padded  ", "Sales/EMEA", "padded"},
	{"J\xc3\xbcrgen \xe2\x82\xac", "R&D", "J\xc3\xbcrgen \xe2\x82\xac"},
	{NULL, NULL, NULL},
	{"\"", "Sales, Inc./\"EMEA\"", "\""},
	{"x", "/", "x"},
};
#define N_TRIP (sizeof(trip_users) / sizeof(trip_users[0]))

/* The export of trip_users: user<i>, quota i MiB, used i bytes. */
static void export_trip_users(struct mc_buf *buf)
{
	assert_true(mc_user_csv_export_header(buf));
	for (size_t i = 0; i < N_TRIP; i++) {
		char local[16];
		struct mc_user_csv_export_row row = {
			.local_part = local,
			.display_name = trip_users[i].display_name,
			.quota_bytes = (uint64_t)i << 20,
			.used_bytes = i,
			.department = trip_users[i].department,
			.status = i % 2 == 0 ? "active" : "frozen",
			.created_at = "2024-05-01T10:00:00Z",
		};
		snprintf(local, sizeof(local), "user%zu", i);
		assert_true(mc_user_csv_export_row(buf, &row));
	}
}

/* Exported values read back the same through the import (blanks around
 * a name are trimmed). */
static void test_export_round_trip(void **state)
{
	(void)state;
	struct mc_buf buf;
	struct mc_user_csv *csv;
	size_t n;

	mc_buf_init(&buf, NULL, 0);
	export_trip_users(&buf);
	csv = parse_ok(buf.data, buf.len);
	const struct mc_user_csv_row *rows = mc_user_csv_rows(csv, &n);
	assert_int_equal(n, N_TRIP);
	for (size_t i = 0; i < N_TRIP; i++) {
		char local[16];
		snprintf(local, sizeof(local), "user%zu", i);
		assert_string_equal(rows[i].local_part, local);
		if (i == N_TRIP - 1) {
			/* "/" has empty department names: a line error */
			assert_error(rows[i].error, "bad department path",
				     rows[i].line);
			continue;
		}
		assert_error(rows[i].error, NULL, rows[i].line);
		assert_str_or_null(rows[i].display_name,
				   trip_users[i].want_name);
		assert_str_or_null(rows[i].department,
				   trip_users[i].department);
		assert_int_equal(rows[i].quota_bytes, (uint64_t)i << 20);
		assert_true(rows[i].has_quota);
		assert_string_equal(rows[i].status,
				    i % 2 == 0 ? "active" : "frozen");
	}
	/* the multi-line name moved the line numbers on */
	assert_int_equal(rows[3].line, 5);
	assert_int_equal(rows[4].line, 9);
	mc_user_csv_destroy(&csv);
	mc_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_line_checks),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_address_column),
		cmocka_unit_test(test_file_limits),
		cmocka_unit_test(test_file_limits_default),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_export_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
