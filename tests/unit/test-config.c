/* test-config: mc-config against the real schema: defaults, file values,
 * environment overrides, error messages with file:line, path resolution,
 * the dump and the aborting getters. Files live in a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mc-test.h"

static char tmpdir[64];
static char conf_path[128];

/* Creates the temporary directory once per test. */
static int setup(void **state)
{
	(void)state;
	if (mc_test_mkdtemp(tmpdir, sizeof(tmpdir), "test-config") == NULL)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/mailcore.conf", tmpdir);
	return 0;
}

/* Removes the config file and the directory. */
static int teardown(void **state)
{
	(void)state;
	mc_test_rmdir(tmpdir);
	unsetenv("MAILCORE_SERVER_WORKERS");
	unsetenv("MAILCORE_SMTPD_LISTEN_MX");
	unsetenv("MAILCORE_TLS_CERT");
	unsetenv("MAILCORE_BOGUS_THING");
	return 0;
}

/* Writes len bytes of data as the config file. */
static void write_conf_bytes(const char *data, size_t len)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes text as the config file. */
static void write_conf(const char *text)
{
	write_conf_bytes(text, strlen(text));
}

/* Loads data and expects failure with message "<path>:<rest>". */
static void expect_error_bytes(const char *data, size_t len, const char *rest)
{
	struct mc_error err;
	struct mc_config *cfg;
	char want[512];

	write_conf_bytes(data, len);
	mc_error_clear(&err);
	cfg = mc_config_load(conf_path, &err);
	assert_null(cfg);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	snprintf(want, sizeof(want), "%s:%s", conf_path, rest);
	assert_string_equal(err.msg, want);
}

/* Loads text and expects failure with message "<path>:<rest>". */
static void expect_file_error(const char *text, const char *rest)
{
	expect_error_bytes(text, strlen(text), rest);
}

/* Loads the current file and expects success. */
static struct mc_config *load_ok(const char *path)
{
	struct mc_error err;
	struct mc_config *cfg;

	mc_error_clear(&err);
	cfg = mc_config_load(path, &err);
	if (cfg == NULL)
		fail_msg("load failed: %s", err.msg);
	return cfg;
}

/* Without a file every key has its schema default and is not set. */
static void test_defaults(void **state)
{
	struct mc_config *cfg = load_ok(NULL);

	(void)state;
	assert_null(mc_config_path(cfg));
	assert_int_equal(mc_config_int(cfg, "server", "workers"), 4);
	assert_int_equal(mc_config_int(cfg, "redis", "port"), 6379);
	assert_string_equal(mc_config_str(cfg, "server", "log_level"), "info");
	assert_string_equal(mc_config_str(cfg, "server", "state_dir"),
			    "/var/lib/mailcore");
	assert_string_equal(mc_config_str(cfg, "smtpd", "listen_mx"),
			    "127.0.0.1:25");
	assert_string_equal(mc_config_str(cfg, "server", "hostname"), "");
	assert_int_equal(
		mc_config_duration_ms(cfg, "database", "connect_timeout"),
		5000);
	assert_int_equal(
		mc_config_duration_ms(cfg, "database", "retry_max_delay"),
		30000);
	assert_false(mc_config_is_set(cfg, "server", "workers"));
	mc_config_destroy(&cfg);
	assert_null(cfg);
	mc_config_destroy(&cfg);
	mc_config_destroy(NULL);
}

/* File values: comments, blanks, indentation, inline comments, a BOM,
 * duplicates (last wins), enum case folding and empty address lists. */
static void test_file_values(void **state)
{
	struct mc_config *cfg;

	(void)state;
	write_conf("\xef\xbb\xbf; mailcore test\n"
		   "# another comment\n"
		   "\n"
		   "[server]\n"
		   "workers = 2\n"
		   "  loops = 3\n"
		   "  workers = 7 ; inline comment\n"
		   "log_format = JSON\n"
		   "hostname = mx.example.org\n"
		   "[database]\n"
		   "connect_timeout = 1500ms\n"
		   "statement_timeout = 0\n"
		   "conninfo = host=db password=secret\n"
		   "[smtpd]\n"
		   "listen_mx = 127.0.0.1:2525, [::1]:2525\n"
		   "listen_submission =\n"
		   "[redis] ; the cache\n"
		   "port=6380\n");
	cfg = load_ok(conf_path);
	assert_string_equal(mc_config_path(cfg), conf_path);
	assert_int_equal(mc_config_int(cfg, "server", "workers"), 7);
	assert_int_equal(mc_config_int(cfg, "server", "loops"), 3);
	assert_string_equal(mc_config_str(cfg, "server", "log_format"), "json");
	assert_string_equal(mc_config_str(cfg, "server", "hostname"),
			    "mx.example.org");
	assert_int_equal(
		mc_config_duration_ms(cfg, "database", "connect_timeout"),
		1500);
	assert_int_equal(
		mc_config_duration_ms(cfg, "database", "statement_timeout"), 0);
	assert_string_equal(mc_config_str(cfg, "database", "conninfo"),
			    "host=db password=secret");
	assert_string_equal(mc_config_str(cfg, "smtpd", "listen_mx"),
			    "127.0.0.1:2525, [::1]:2525");
	assert_string_equal(mc_config_str(cfg, "smtpd", "listen_submission"),
			    "");
	assert_int_equal(mc_config_int(cfg, "redis", "port"), 6380);
	assert_true(mc_config_is_set(cfg, "server", "workers"));
	assert_false(mc_config_is_set(cfg, "server", "user"));
	mc_config_destroy(&cfg);
}

/* MAILCORE_<SECTION>_<KEY> beats the file; other MAILCORE_* are ignored. */
static void test_env_override(void **state)
{
	struct mc_config *cfg;

	(void)state;
	write_conf("[server]\nworkers = 2\n");
	setenv("MAILCORE_SERVER_WORKERS", "9", 1);
	setenv("MAILCORE_SMTPD_LISTEN_MX", "[::1]:25", 1);
	setenv("MAILCORE_BOGUS_THING", "whatever", 1);
	cfg = load_ok(conf_path);
	assert_int_equal(mc_config_int(cfg, "server", "workers"), 9);
	assert_string_equal(mc_config_str(cfg, "smtpd", "listen_mx"),
			    "[::1]:25");
	assert_true(mc_config_is_set(cfg, "smtpd", "listen_mx"));
	mc_config_destroy(&cfg);

	/* Also without a file. */
	cfg = load_ok(NULL);
	assert_int_equal(mc_config_int(cfg, "server", "workers"), 9);
	mc_config_destroy(&cfg);
}

/* A bad environment value names the variable. */
static void test_env_bad_value(void **state)
{
	struct mc_error err;

	(void)state;
	setenv("MAILCORE_SERVER_WORKERS", "0", 1);
	mc_error_clear(&err);
	assert_null(mc_config_load(NULL, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_string_equal(err.msg, "environment MAILCORE_SERVER_WORKERS: "
				     "bad value \"0\": expected an integer "
				     "from 1 to 256");
}

/* Unknown keys and sections, and keys outside a section. */
static void test_unknown(void **state)
{
	(void)state;
	expect_file_error("[server]\nworkers = 2\n\n; c\n[smtpd]\nfoo = 1\n",
			  "6: unknown key \"foo\" in section [smtpd]");
	expect_file_error("[server]\n\n[nope]\n", "3: unknown section [nope]");
	expect_file_error("[nope]\nworkers = 1\n[bad]\n",
			  "1: unknown section [nope]");
	expect_file_error("workers = 1\n",
			  "1: key \"workers\" outside of any section");
	/* Keys are case-sensitive, like the schema. */
	expect_file_error("[server]\nWorkers = 1\n",
			  "2: unknown key \"Workers\" in section [server]");
}

struct bad_case {
	const char *text;
	const char *rest;
};

/* Bad values of every type, with the exact message. */
static void test_bad_values(void **state)
{
	static const struct bad_case cases[] = {
		{"[server]\n\n\n\n\n\nworkers = abc\n",
		 "7: [server] workers: bad value \"abc\": expected an integer "
		 "from 1 to 256"},
		{"[server]\nworkers = 257\n",
		 "2: [server] workers: bad value \"257\": expected an integer "
		 "from 1 to 256"},
		{"[server]\nworkers = -1\n",
		 "2: [server] workers: bad value \"-1\": expected an integer "
		 "from 1 to 256"},
		{"[server]\nworkers =\n",
		 "2: [server] workers: bad value \"\": expected an integer "
		 "from 1 to 256"},
		{"[server]\nlog_format = xml\n",
		 "2: [server] log_format: bad value \"xml\": expected one of "
		 "plain, json"},
		{"[database]\nconnect_timeout = 10min\n",
		 "2: [database] connect_timeout: bad value \"10min\": expected "
		 "a duration (250ms, 30s, 5m, 4h, 7d) from 1s to 5m"},
		{"[database]\nconnect_timeout = 500ms\n",
		 "2: [database] connect_timeout: bad value \"500ms\": expected "
		 "a duration (250ms, 30s, 5m, 4h, 7d) from 1s to 5m"},
		{"[redis]\ntimeout = 9ms\n",
		 "2: [redis] timeout: bad value \"9ms\": expected a duration "
		 "(250ms, 30s, 5m, 4h, 7d) from 10ms to 1m"},
		{"[smtpd]\nlisten_mx = localhost:25\n",
		 "2: [smtpd] listen_mx: bad value \"localhost:25\": bad "
		 "address \"localhost:25\": not a numeric IP address (host "
		 "names are not resolved)"},
		{"[smtpd]\nlisten_mx = 1.2.3.4\n",
		 "2: [smtpd] listen_mx: bad value \"1.2.3.4\": bad address "
		 "\"1.2.3.4\": expected IP:PORT"},
		{"[server]\nworkers = 1\nworkers = x\n",
		 "3: [server] workers: bad value \"x\": expected an integer "
		 "from 1 to 256"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_file_error(cases[i].text, cases[i].rest);
}

/* More than 16 addresses in one list. */
static void test_too_many_addrs(void **state)
{
	char text[1024] = "[imapd]\nlisten = ";
	struct mc_error err;

	(void)state;
	for (int i = 0; i < 17; i++) {
		char item[32];

		snprintf(item, sizeof(item), "%s127.0.0.1:%d", i ? "," : "",
			 1000 + i);
		strcat(text, item);
	}
	strcat(text, "\n");
	write_conf(text);
	mc_error_clear(&err);
	assert_null(mc_config_load(conf_path, &err));
	assert_non_null(strstr(err.msg, ":2: [imapd] listen: bad value"));
	assert_non_null(strstr(err.msg, "too many addresses (at most 16)"));
}

/* Lines inih cannot parse, and lines longer than its buffer. */
static void test_syntax_errors(void **state)
{
	char text[5000];

	(void)state;
	expect_file_error("[server]\nworkers = 1\n\n\n\n\n\n\njunk line\n",
			  "9: syntax error");
	expect_file_error("[server\nworkers = 1\n", "1: syntax error");
	expect_file_error("[server] junk\n", "1: syntax error");
	/* The first error in line order wins. */
	expect_file_error("[server]\njunk\n[nope]\n", "2: syntax error");
	expect_file_error("[server]\nfoo = 1\njunk\n",
			  "2: unknown key \"foo\" in section [server]");
	/* 4094 bytes plus the newline fit; one more does not. */
	snprintf(text, sizeof(text), "[server]\nhostname = %04083d\n[x]\n", 1);
	expect_file_error(text, "3: unknown section [x]");
	snprintf(text, sizeof(text), "[server]\nhostname = %04084d\n", 1);
	expect_file_error(text, "2: syntax error: line longer than 4094 "
				"bytes");
	expect_error_bytes("[server]\nuser = a\0b\n", 20,
			   "2: syntax error: NUL byte");
}

/* A missing file is NOTFOUND with the errno text. */
static void test_missing_file(void **state)
{
	struct mc_error err;
	char path[160], want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	mc_error_clear(&err);
	assert_null(mc_config_load(path, &err));
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	snprintf(want, sizeof(want),
		 "cannot read %s: No such file or directory", path);
	assert_string_equal(err.msg, want);
}

/* Relative PATH values resolve against the file's directory. */
static void test_relative_paths(void **state)
{
	struct mc_config *cfg;
	char want[256], cwd[256];

	(void)state;
	write_conf("[server]\nstate_dir = data/state\nlog_file =\n"
		   "[tls]\nkey = /etc/key.pem\n");
	setenv("MAILCORE_TLS_CERT", "certs/c.pem", 1);
	cfg = load_ok(conf_path);
	snprintf(want, sizeof(want), "%s/data/state", tmpdir);
	assert_string_equal(mc_config_str(cfg, "server", "state_dir"), want);
	assert_string_equal(mc_config_str(cfg, "server", "log_file"), "");
	assert_string_equal(mc_config_str(cfg, "tls", "key"), "/etc/key.pem");
	snprintf(want, sizeof(want), "%s/certs/c.pem", tmpdir);
	assert_string_equal(mc_config_str(cfg, "tls", "cert"), want);
	mc_config_destroy(&cfg);

	/* A relative config path still gives an absolute directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	cfg = load_ok("mailcore.conf");
	assert_int_equal(chdir(cwd), 0);
	assert_non_null(cfg);
	snprintf(want, sizeof(want), "%s/data/state", tmpdir);
	assert_string_equal(mc_config_str(cfg, "server", "state_dir"), want);
	mc_config_destroy(&cfg);
}

/* The dump shows effective values and hides secrets. */
static void test_dump(void **state)
{
	struct mc_config *cfg;
	char out[8192];
	ssize_t n;
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	write_conf("[server]\nworkers = 5\n[redis]\npassword = hunter2\n");
	cfg = load_ok(conf_path);
	mc_config_dump(cfg, fileno(f));
	mc_config_destroy(&cfg);
	n = pread(fileno(f), out, sizeof(out) - 1, 0);
	fclose(f);
	assert_true(n > 0);
	out[n] = '\0';
	assert_true(strncmp(out, "[server]\nhostname = \n", 21) == 0);
	assert_non_null(strstr(out, "\nworkers = 5\n"));
	assert_non_null(strstr(out, "\n\n[redis]\n"));
	assert_non_null(strstr(out, "\npassword = (hidden)\n"));
	assert_non_null(strstr(out, "\nconninfo = (hidden)\n"));
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, "\nlisten_mx = 127.0.0.1:25\n"));
}

/* Getter misuse, each run in a child by mc_test_expect_abort. */
static void get_unknown(const void *cfg)
{
	mc_config_str(cfg, "server", "nope");
}

static void get_wrong_type(const void *cfg)
{
	mc_config_int(cfg, "server", "log_level");
}

static void get_str_of_int(const void *cfg)
{
	mc_config_str(cfg, "server", "workers");
}

/* Programming errors in getters abort. */
static void test_getter_abort(void **state)
{
	struct mc_config *cfg = load_ok(NULL);

	(void)state;
	mc_test_expect_abort(get_unknown, cfg);
	mc_test_expect_abort(get_wrong_type, cfg);
	mc_test_expect_abort(get_str_of_int, cfg);
	mc_config_destroy(&cfg);
}

/* Unsets every MAILCORE_* variable the caller's environment may hold, so
 * the expected defaults are the schema's. */
static void clear_mailcore_env(void)
{
	extern char **environ;
	for (size_t i = 0; environ[i] != NULL;) {
		const char *eq = strchr(environ[i], '=');
		if (strncmp(environ[i], "MAILCORE_", 9) == 0 && eq != NULL) {
			char name[256];
			snprintf(name, sizeof(name), "%.*s",
				 (int)(eq - environ[i]), environ[i]);
			unsetenv(name);
		} else {
			i++;
		}
	}
}

int main(void)
{
	clear_mailcore_env();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_env_override, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_env_bad_value, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_too_many_addrs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getter_abort, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
