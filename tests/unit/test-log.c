/* test-log: plain and JSON lines captured through a temporary file: the
 * line shapes, context fields, escaping of control characters and invalid
 * UTF-8, level filtering, the 8 KiB cut and whole lines under threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_MAX 65536

static FILE *out_file;
static char out[OUT_MAX];

/* A fresh capture file per test, plain at DEBUG. */
static int setup(void **state)
{
	(void)state;
	out_file = tmpfile();
	if (out_file == NULL)
		return -1;
	mc_log_init("mc-test", MC_LOG_DEBUG, MC_LOG_PLAIN, fileno(out_file));
	return 0;
}

/* Sends logging back to stderr and drops the capture file. */
static int teardown(void **state)
{
	(void)state;
	mc_log_init("mc-test", MC_LOG_INFO, MC_LOG_PLAIN, -1);
	fclose(out_file);
	return 0;
}

/* Everything logged so far, NUL-terminated; returns its length. */
static size_t captured(void)
{
	ssize_t n = pread(fileno(out_file), out, sizeof(out) - 1, 0);

	assert_true(n >= 0);
	out[n] = '\0';
	return (size_t)n;
}

/* Checks a "YYYY-MM-DDTHH:MM:SS.mmmZ" timestamp at s. */
static void check_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd')
			assert_true(s[i] >= '0' && s[i] <= '9');
		else
			assert_int_equal(s[i], shape[i]);
	}
}

/* Plain line shape without and with a context. */
static void test_plain(void **state)
{
	struct mc_log_ctx ctx;
	char want[256];
	size_t len;

	(void)state;
	mc_log_info("hello %s", "world");
	len = captured();
	check_timestamp(out);
	snprintf(want, sizeof(want), " mc-test[%ld] info: hello world\n",
		 (long)getpid());
	assert_string_equal(out + 24, want);
	assert_int_equal(len, 24 + strlen(want));

	mc_log_ctx_init(&ctx);
	mc_log_ctx_set(&ctx, "session", "%s", "abc123");
	mc_log_ctx_set(&ctx, "remote", "%s:%d", "192.0.2.1", 25);
	mc_logc(&ctx, MC_LOG_WARNING, "rejected");
	captured();
	snprintf(want, sizeof(want),
		 " mc-test[%ld] warning: session=abc123 remote=192.0.2.1:25: "
		 "rejected\n",
		 (long)getpid());
	assert_string_equal(strchr(out, '\n') + 1 + 24, want);
}

/* Control characters become \xNN in plain lines, in values and text. */
static void test_plain_escaping(void **state)
{
	struct mc_log_ctx ctx;
	const char *line;

	(void)state;
	mc_log_ctx_init(&ctx);
	mc_log_ctx_set(&ctx, "user", "evil\r\nuser");
	mc_logc(&ctx, MC_LOG_ERROR, "a\nb\tc\x7f\x1b[0m \xc3\xa9");
	captured();
	line = strstr(out, " error: ");
	assert_non_null(line);
	assert_string_equal(line, " error: user=evil\\x0d\\x0auser: "
				  "a\\x0ab\\x09c\\x7f\\x1b[0m \xc3\xa9\n");
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

/* Lines below the level are dropped; errno survives logging. */
static void test_level_filter(void **state)
{
	(void)state;
	mc_log_set_level(MC_LOG_WARNING);
	assert_int_equal(mc_log_get_level(), MC_LOG_WARNING);
	mc_log_debug("d");
	mc_log_info("i");
	mc_log_notice("n");
	assert_int_equal(captured(), 0);
	errno = EPIPE;
	mc_log_warning("w");
	assert_int_equal(errno, EPIPE);
	mc_log_error("e");
	mc_logc(NULL, MC_LOG_FATAL, "f");
	captured();
	assert_non_null(strstr(out, " warning: w\n"));
	assert_non_null(strstr(out, " error: e\n"));
	assert_non_null(strstr(out, " fatal: f\n"));
	assert_null(strstr(out, "info"));
}

/* Parses the single JSON line in out. */
static json_t *parse_json_line(void)
{
	size_t len = captured();
	json_error_t jerr;
	json_t *obj;

	assert_true(len > 0);
	assert_int_equal(out[len - 1], '\n');
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
	obj = json_loads(out, 0, &jerr);
	if (obj == NULL)
		fail_msg("bad JSON (%s): %s", jerr.text, out);
	return obj;
}

/* JSON lines: field order, types, context fields, escaping. */
static void test_json(void **state)
{
	struct mc_log_ctx ctx;
	char prefix[64];
	json_t *obj;

	(void)state;
	mc_log_init("mc-smtpd", MC_LOG_DEBUG, MC_LOG_JSON, fileno(out_file));
	mc_log_ctx_init(&ctx);
	mc_log_ctx_set(&ctx, "session", "s1");
	mc_log_ctx_set(&ctx, "user", "bad\"\\\n\x01");
	mc_logc(&ctx, MC_LOG_NOTICE, "line1\nline2 \xff\xfe ok \xe2\x82\xac");
	obj = parse_json_line();
	assert_true(strncmp(out, "{\"ts\":\"", 7) == 0);
	check_timestamp(out + 7);
	snprintf(prefix, sizeof(prefix),
		 "\",\"level\":\"notice\",\"proc\":\"mc-smtpd\",\"pid\":%ld,",
		 (long)getpid());
	assert_true(strncmp(out + 31, prefix, strlen(prefix)) == 0);
	assert_non_null(strstr(out, ",\"session\":\"s1\",\"user\":"));
	assert_non_null(strstr(out, ",\"msg\":\"line1\\nline2 "));
	assert_string_equal(json_string_value(json_object_get(obj, "user")),
			    "bad\"\\\n\x01");
	assert_string_equal(json_string_value(json_object_get(obj, "msg")),
			    "line1\nline2 \\xff\\xfe ok \xe2\x82\xac");
	assert_int_equal(json_integer_value(json_object_get(obj, "pid")),
			 getpid());
	assert_int_equal(json_object_size(obj), 7);
	json_decref(obj);
}

/* A context key that clashes with a line field is renamed. */
static void test_json_key_clash(void **state)
{
	struct mc_log_ctx ctx;
	json_t *obj;

	(void)state;
	mc_log_init("p", MC_LOG_DEBUG, MC_LOG_JSON, fileno(out_file));
	mc_log_ctx_init(&ctx);
	mc_log_ctx_set(&ctx, "level", "spoofed");
	mc_logc(&ctx, MC_LOG_INFO, "m");
	obj = parse_json_line();
	assert_string_equal(json_string_value(json_object_get(obj, "level")),
			    "info");
	assert_string_equal(
		json_string_value(json_object_get(obj, "ctx_level")),
		"spoofed");
	json_decref(obj);
}

/* Context fields: replace, limit, value cut. */
static void test_ctx(void **state)
{
	struct mc_log_ctx ctx;
	char longval[300];

	(void)state;
	mc_log_ctx_init(&ctx);
	assert_int_equal(ctx.count, 0);
	mc_log_ctx_set(&ctx, "a", "1");
	mc_log_ctx_set(&ctx, "a", "2");
	assert_int_equal(ctx.count, 1);
	assert_string_equal(ctx.field[0].value, "2");
	for (int i = 0; i < 10; i++) {
		static const char *const keys[] = {"b", "c", "d", "e", "f",
						   "g", "h", "i", "j", "k"};

		mc_log_ctx_set(&ctx, keys[i], "%d", i);
	}
	assert_int_equal(ctx.count, MC_LOG_CTX_MAX_FIELDS);
	assert_string_equal(ctx.field[5].key, "f");
	mc_log_ctx_set(&ctx, "c", "new");
	assert_string_equal(ctx.field[2].value, "new");
	memset(longval, 'v', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	mc_log_ctx_set(&ctx, "a", "%s", longval);
	assert_int_equal(strlen(ctx.field[0].value), MC_LOG_CTX_VALUE_MAX - 1);
}

/* Lines are cut to 8 KiB, marked with "...", JSON stays valid. */
static void test_long_lines(void **state)
{
	char *big = malloc(20001);
	json_t *obj;
	size_t len;

	(void)state;
	memset(big, 'x', 20000);
	big[20000] = '\0';
	mc_log_info("%s", big);
	len = captured();
	assert_int_equal(len, 8192);
	assert_memory_equal(out + len - 4, "...\n", 4);

	/* Control characters expand six-fold in JSON. */
	memset(big, '\x01', 20000);
	for (int fmt = 0; fmt < 2; fmt++) {
		assert_int_equal(ftruncate(fileno(out_file), 0), 0);
		lseek(fileno(out_file), 0, SEEK_SET);
		mc_log_init("p", MC_LOG_DEBUG, MC_LOG_JSON, fileno(out_file));
		mc_log_info("%s", fmt == 0 ? big + 19000 : big);
		obj = parse_json_line();
		assert_true(strlen(out) <= 8192);
		len = strlen(json_string_value(json_object_get(obj, "msg")));
		if (fmt == 0)
			assert_int_equal(len, 1000);
		else
			assert_true(len > 1300 && len < 8192 / 6);
		json_decref(obj);
	}
	/* A multi-byte character is never cut in half. */
	for (int i = 0; i < 19998; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[19998] = '\0';
	assert_int_equal(ftruncate(fileno(out_file), 0), 0);
	lseek(fileno(out_file), 0, SEEK_SET);
	mc_log_info("%s", big);
	obj = parse_json_line();
	assert_null(strstr(out, "\\x"));
	json_decref(obj);
	free(big);
}

/* Level and format names. */
static void test_names(void **state)
{
	enum mc_log_level level;
	enum mc_log_format format;

	(void)state;
	assert_true(mc_log_level_parse("WARNING", &level));
	assert_int_equal(level, MC_LOG_WARNING);
	assert_true(mc_log_level_parse("debug", &level));
	assert_int_equal(level, MC_LOG_DEBUG);
	assert_false(mc_log_level_parse("warn", &level));
	assert_false(mc_log_level_parse("", &level));
	assert_true(mc_log_format_parse("json", &format));
	assert_int_equal(format, MC_LOG_JSON);
	assert_true(mc_log_format_parse("Plain", &format));
	assert_int_equal(format, MC_LOG_PLAIN);
	assert_false(mc_log_format_parse("xml", &format));
	assert_string_equal(mc_log_level_name(MC_LOG_NOTICE), "notice");
	assert_string_equal(mc_log_level_name(MC_LOG_FATAL), "fatal");
	assert_string_equal(mc_log_level_name((enum mc_log_level)99),
			    "unknown");
}

#define THREADS 4
#define LINES	200

/* Logs LINES numbered lines. */
static void *log_thread(void *arg)
{
	struct mc_log_ctx ctx;

	mc_log_ctx_init(&ctx);
	mc_log_ctx_set(&ctx, "t", "%d", (int)(intptr_t)arg);
	for (int i = 0; i < LINES; i++)
		mc_logc(&ctx, MC_LOG_INFO, "line %04d %s", i,
			"padding padding padding padding padding");
	return NULL;
}

/* Concurrent lines never interleave. */
static void test_threads(void **state)
{
	pthread_t th[THREADS];
	static char all[THREADS * LINES * 200];
	int count = 0;
	ssize_t n;

	(void)state;
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, log_thread, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	n = pread(fileno(out_file), all, sizeof(all) - 1, 0);
	assert_true(n > 0);
	all[n] = '\0';
	for (char *line = all, *nl; (nl = strchr(line, '\n')) != NULL;
	     line = nl + 1) {
		*nl = '\0';
		check_timestamp(line);
		assert_non_null(strstr(line, " info: t="));
		assert_non_null(strstr(line, "padding padding padding "
					     "padding padding"));
		count++;
	}
	assert_int_equal(count, THREADS * LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_escaping, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_level_filter, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_key_clash, setup,
						teardown),
		cmocka_unit_test(test_ctx),
		cmocka_unit_test_setup_teardown(test_long_lines, setup,
						teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
