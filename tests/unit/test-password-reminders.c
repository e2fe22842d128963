/* test-password-reminders: admin_password_reminders against a real
 * PostgreSQL (MAILCORE_TEST_PG, a fresh schema per run) and a blob store
 * in a temporary directory: who is due (a table of users), one INBOX
 * message per password, the message itself, a retry after a refused
 * delivery, and the login lookup's expiry agreeing with the policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tenants/src/mc-admin-reminders.h"
#include "mailcore/mc-blob.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-password-policy.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"

#include "mc-test.h"

#define DAY 86400

static char schema[96], blob_dir[64];
static struct mc_pg *pg;
static struct mc_config *cfg;

/* The users every test starts with: r.test expires passwords after 90
 * days and reminds 14 days before, except for "svc"; n.test never does. */
static const struct {
	const char *local, *domain, *status;
	int days_ago;  /* since the password was set */
	bool reminded; /* gets a reminder on the first run */
} users[] = {
	{"due", "r.test", "active", 80, true},
	{"edge", "r.test", "active", 77, true}, /* 13 days left */
	{"fresh", "r.test", "active", 10, false},
	{"early", "r.test", "active", 75, false}, /* 15 days left */
	{"gone", "r.test", "active", 100, false}, /* expired already */
	{"svc", "r.test", "active", 80, false},	  /* an exception */
	{"frozen", "r.test", "frozen", 80, false},
	{"zero", "n.test", "active", 80, false}, /* no maximum age */
};
#define N_USERS (sizeof(users) / sizeof(users[0]))

/* The messages in local@domain's INBOX. */
static long long inbox_count(const char *local, const char *domain)
{
	char q[512];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM mailbox_messages mm JOIN mailboxes mb "
		 "ON mb.tenant_id = mm.tenant_id AND mb.id = mm.mailbox_id "
		 "JOIN users u ON u.tenant_id = mb.tenant_id AND u.id = "
		 "mb.user_id JOIN domains d ON d.id = u.domain_id WHERE "
		 "mb.name = 'INBOX' AND u.local_part = '%s' AND d.name = '%s'",
		 local, domain);
	return mc_test_num(pg, q);
}

/* Runs the reminders, which must work; returns how many were sent. */
static int run(void)
{
	struct mc_error err = {0};
	int n = admin_password_reminders(pg, NULL, cfg, &err);
	if (n < 0)
		fail_msg("reminders: %s", err.msg);
	return n;
}

/* Fresh tenant, domains and users (before each test). */
static int reset(void **state)
{
	char sql[512];
	(void)state;
	if (pg == NULL)
		return 0;
	mc_test_sql(pg,
		    "TRUNCATE tenants RESTART IDENTITY CASCADE;"
		    "INSERT INTO tenants (name) VALUES ('acme');"
		    "INSERT INTO domains (tenant_id, name, pw_max_age_days, "
		    "pw_reminder_days, pw_exceptions) VALUES (1, 'r.test', "
		    "90, 14, '{SVC}'), (1, 'n.test', 0, 14, '{}')");
	for (size_t i = 0; i < N_USERS; i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO users (tenant_id, domain_id, local_part, "
			 "password_hash, status, password_changed_at) SELECT "
			 "1, id, '%s', 'x', '%s', now() - interval '%d days' "
			 "FROM domains WHERE name = '%s'",
			 users[i].local, users[i].status, users[i].days_ago,
			 users[i].domain);
		mc_test_sql(pg, sql);
	}
	return 0;
}

/* Shifts every password and reminder time back by days, as if that much
 * time had passed. */
static void time_passes(int days)
{
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE users SET password_changed_at = password_changed_at "
		 "- interval '%d days', pw_reminded_at = pw_reminded_at - "
		 "interval '%d days'",
		 days, days);
	mc_test_sql(pg, sql);
}

/* Exactly the due users get one message; a second run sends none. */
static void test_due_users_once(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(run(), 2);
	for (size_t i = 0; i < N_USERS; i++) {
		long long n = inbox_count(users[i].local, users[i].domain);
		if (n != (users[i].reminded ? 1 : 0))
			fail_msg("%s@%s: %lld messages", users[i].local,
				 users[i].domain, n);
	}
	assert_int_equal(run(), 0);
	time_passes(5); /* the same passwords, 5 days nearer expiry */
	assert_int_equal(run(), 1);
	assert_int_equal(inbox_count("early", "r.test"), 1);
	assert_int_equal(inbox_count("due", "r.test"), 1);
	assert_int_equal(inbox_count("edge", "r.test"), 1);
}

/* The blob named hash, NUL-terminated, into buf. */
static void read_blob(const char *hash, char *buf, size_t size)
{
	struct mc_error err = {0};
	struct mc_blob_store *blobs =
		mc_blob_store_fs_create(blob_dir, false, &err);
	assert_non_null(blobs);
	struct mc_blob_reader *r = mc_blob_open(blobs, hash, &err);
	assert_non_null(r);
	ssize_t n = mc_blob_pread(r, buf, size - 1, 0, &err);
	assert_true(n > 0);
	buf[n] = '\0';
	mc_blob_reader_close(&r);
	mc_blob_store_destroy(&blobs);
}

/* The stored message: headers, text and the expiry date. */
static void test_message(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(run(), 2);
	struct mc_error err = {0};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT m.sha256, m.subject, floor(extract(epoch "
		"FROM u.password_changed_at))::bigint FROM messages m JOIN "
		"mailbox_messages mm ON mm.tenant_id = m.tenant_id AND "
		"mm.message_id = m.id JOIN mailboxes mb ON mb.id = "
		"mm.mailbox_id JOIN users u ON u.id = mb.user_id WHERE "
		"u.local_part = 'due'",
		0, NULL, &err);
	assert_non_null(res);
	assert_int_equal(PQntuples(res), 1);
	time_t expires =
		(time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10) + 90 * DAY;
	char day[16], want[256], body[4096];
	struct tm tm;
	gmtime_r(&expires, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(want, sizeof(want), "Your password expires on %s", day);
	assert_string_equal(PQgetvalue(res, 0, 1), want);

	read_blob(PQgetvalue(res, 0, 0), body, sizeof(body));
	PQclear(res);

	static const char *const headers[] = {
		"From: postmaster@r.test\r\n",
		"To: due@r.test\r\n",
		"\r\nDate: ",
		"\r\nMessage-ID: <",
		"\r\nAuto-Submitted: auto-generated\r\n",
		"\r\nContent-Type: text/plain; charset=utf-8\r\n",
	};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		if (strstr(body, headers[i]) == NULL)
			fail_msg("no %s in:\n%s", headers[i], body);
	}
	snprintf(
		want, sizeof(want),
		"\r\n\r\nYour password for due@r.test expires on %s; change it "
		"in webmail or ask your administrator.\r\n",
		day);
	assert_non_null(strstr(body, want));
}

/* A new password is reminded again, only when it is due in turn. */
static void test_new_password(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(run(), 2);
	mc_test_sql(pg, "UPDATE users SET status = 'frozen' WHERE local_part "
			"<> 'due'"); /* only due's time counts from here */
	/* due changes its password, as mc_user_set_password does */
	mc_test_sql(pg, "UPDATE users SET password_changed_at = now() WHERE "
			"local_part = 'due'");
	assert_int_equal(run(), 0);
	time_passes(70); /* 70 days left: not yet */
	assert_int_equal(run(), 0);
	time_passes(10); /* 10 days left */
	assert_int_equal(run(), 1);
	assert_int_equal(inbox_count("due", "r.test"), 2);
	assert_int_equal(inbox_count("edge", "r.test"), 1);
	assert_int_equal(run(), 0);
}

/* A delivery the store refuses (over quota) is not counted and is
 * tried again by a later run. */
static void test_refused_is_retried(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	mc_test_sql(pg, "UPDATE users SET quota_bytes = 10 WHERE local_part "
			"= 'due'");
	assert_int_equal(run(), 1); /* edge only */
	assert_int_equal(inbox_count("due", "r.test"), 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "pw_reminded_at IS NOT NULL"),
			 1);
	mc_test_sql(pg, "UPDATE users SET quota_bytes = 0");
	assert_int_equal(run(), 1);
	assert_int_equal(inbox_count("due", "r.test"), 1);
}

/* The login lookup's expiry is the policy module's, 0 for exceptions
 * and for a domain without a maximum age. */
static void test_login_expiry(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_password_policy policy;
	mc_password_policy_init(&policy);
	policy.max_age_days = 90;
	struct mc_pool *pool = mc_pool_create("test", 1024);
	time_t now = time(NULL);
	for (size_t i = 0; i < N_USERS; i++) {
		char address[64];
		struct mc_directory_login login;
		struct mc_error err = {0};
		snprintf(address, sizeof(address), "%s@%s", users[i].local,
			 users[i].domain);
		int r = mc_directory_login(pg, pool, address, &login, &err);
		assert_int_equal(r, strcmp(users[i].status, "active") == 0);
		if (r == 0)
			continue;
		bool exempt = strcmp(users[i].domain, "n.test") == 0 ||
			      strcmp(users[i].local, "svc") == 0;
		int64_t want = exempt ? 0
				      : mc_password_policy_expires_at(
						login.password_changed_at,
						&policy, users[i].local);
		assert_int_equal(login.password_expires_at, want);
		assert_int_equal(mc_directory_login_expired(&login, now),
				 strcmp(users[i].local, "gone") == 0);
	}
	mc_pool_destroy(&pool);
}

/* The schema, and a configuration whose blob store is a temp dir. */
static int setup(void **state)
{
	struct mc_error err = {0};
	(void)state;
	pg = mc_test_pg_schema("pwrem", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	if (mc_test_mkdtemp(blob_dir, sizeof(blob_dir), "pwrem") == NULL)
		return -1;
	setenv("MAILCORE_STORE_BLOB_DIR", blob_dir, 1);
	setenv("MAILCORE_STORE_FSYNC", "no", 1);
	cfg = mc_config_load(NULL, &err);
	return cfg == NULL ? -1 : 0;
}

/* Drops the schema and the blobs. */
static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	mc_config_destroy(&cfg);
	if (blob_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", blob_dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_due_users_once, reset),
		cmocka_unit_test_setup(test_message, reset),
		cmocka_unit_test_setup(test_new_password, reset),
		cmocka_unit_test_setup(test_refused_is_retried, reset),
		cmocka_unit_test_setup(test_login_expiry, reset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
