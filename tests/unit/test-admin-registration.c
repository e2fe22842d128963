/* test-admin-registration: self-registration against a real PostgreSQL
 * (and Redis for the per-address limit): which domains take
 * registrations, open -> an active user with its mailboxes, approval -> a
 * pending user who cannot log in until restored, the password policy and
 * local-part rules, duplicates, a tenant's user limit (without its name),
 * the audit records, and that only the anonymous actor may register. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../tenants/src/mc-admin-private.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mc-test.h"

#define GOOD_PW "good-pass-1"

static struct mc_pg *pg;
static char schema[128];
static json_t *out;	/* the last operation's result */
static json_t *problem; /* and its problem members */
static struct mc_error last;

/* Tenant t1 (1): off.test (1), open.test (2, min 10, digit, default
 * quota 1000), appr.test (3), sus.test (4, open but suspended), alias.test
 * (5, an alias of open.test); tenant t2 (2, at most 1 user, has one):
 * full.test (6). */
static const struct mc_actor provider = {.role = MC_ROLE_PROVIDER,
					 .name = "test provider"};
static const struct mc_actor appr_admin = {.role = MC_ROLE_DOMAIN,
					   .tenant_id = 1,
					   .domain_id = 3,
					   .name = "appr admin"};

/* The actor mc-webd builds for a registration in domain id of tenant. */
static struct mc_actor visitor(int64_t tenant, int64_t domain)
{
	struct mc_actor v = {
		.role = MC_ROLE_USER, .tenant_id = tenant, .domain_id = domain};

	snprintf(v.name, sizeof(v.name), "self-registration (192.0.2.7)");
	snprintf(v.client_ip, sizeof(v.client_ip), "192.0.2.7");
	snprintf(v.request_id, sizeof(v.request_id), "req-reg-1");
	return v;
}

/* Runs fn as who on [domain] (plus local) with body (stolen, may be
 * NULL); the error class (MC_ERR_NONE on success). */
static enum mc_error_class run(mc_admin_op *fn, const struct mc_actor *who,
			       const char *domain, const char *local,
			       json_t *body)
{
	struct mc_admin_settings set = {.pg = pg, .actor = who};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_admin_call call = {.args = {domain, local},
				     .nargs = local != NULL ? 2 : 1,
				     .body = body,
				     .if_version = -1};

	json_decref(out);
	json_decref(problem);
	out = NULL;
	mc_error_clear(&last);
	int r = fn(a, &call, &out, &last);
	problem = json_deep_copy(mc_admin_problem(a));
	mc_admin_destroy(&a);
	json_decref(body);
	if (r < 0)
		assert_int_not_equal(last.cls, MC_ERR_NONE);
	return r < 0 ? last.cls : MC_ERR_NONE;
}

/* Registers local with password in domain (ids tenant, id) as its
 * visitor. */
static enum mc_error_class reg(int64_t tenant, int64_t id, const char *domain,
			       const char *local, const char *password)
{
	struct mc_actor v = visitor(tenant, id);
	json_t *body = json_object();

	if (local != NULL)
		json_object_set_new(body, "local_part", json_string(local));
	if (password != NULL)
		json_object_set_new(body, "password", json_string(password));
	return run(admin_registration_create, &v, domain, NULL, body);
}

/* The field of the first error of the last problem. */
static const char *problem_field(void)
{
	json_t *e = json_array_get(json_object_get(problem, "errors"), 0);
	return json_string_value(json_object_get(e, "field"));
}

static const char *out_str(const char *key)
{
	return json_string_value(json_object_get(out, key));
}

/* A one-value query with one %s filled in. */
static long long num_of(const char *fmt, const char *s)
{
	char q[512];

	snprintf(q, sizeof(q), fmt, s);
	return mc_test_num(pg, q);
}

/* The text of the first value of a query with one %s (caller frees). */
static char *text_of(const char *fmt, const char *s)
{
	char q[512];
	struct mc_error err = {0};

	snprintf(q, sizeof(q), fmt, s);
	PGresult *res = mc_pg_query_once(pg, q, 0, NULL, &err);
	assert_non_null(res);
	char *v = PQntuples(res) > 0 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return v;
}

/* Does the directory let address log in (1) or not (0)? */
static int can_login(const char *address)
{
	struct mc_pool *pool = mc_pool_create("test-login", 1024);
	struct mc_directory_login login;
	struct mc_error err = {0};
	int r = mc_directory_login(pg, pool, address, &login, &err);

	mc_pool_destroy(&pool);
	assert_true(r >= 0);
	return r;
}

static int db_setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("areg", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('t1'), ('t2')");
	mc_test_sql(pg, "INSERT INTO domains (tenant_id, name, quota_bytes, "
			"default_user_quota, pw_min_length, pw_classes, "
			"self_registration, status) VALUES "
			"(1, 'off.test', 0, 0, 10, '{}', 'off', 'active'), "
			"(1, 'open.test', 0, 1000, 10, '{digit}', 'open', "
			"'active'), "
			"(1, 'appr.test', 0, 0, 10, '{}', 'approval', "
			"'active'), "
			"(1, 'sus.test', 0, 0, 10, '{}', 'open', 'suspended')");
	mc_test_sql(pg, "INSERT INTO domains (tenant_id, name, alias_for, "
			"self_registration) VALUES (1, 'alias.test', 2, "
			"'open')");
	mc_test_sql(pg, "INSERT INTO domains (tenant_id, name, "
			"self_registration) VALUES (2, 'full.test', 'open')");
	mc_test_sql(pg, "INSERT INTO users (tenant_id, domain_id, local_part, "
			"password_hash) VALUES (2, 6, 'first', 'x')");
	mc_test_sql(pg, "UPDATE tenants SET lim_users = 1 WHERE id = 2");
	mc_test_sql(pg, "INSERT INTO aliases (tenant_id, domain_id, "
			"local_part, targets) VALUES (1, 2, 'team', "
			"'{x@y.test}')");
	return 0;
}

static int db_teardown(void **state)
{
	(void)state;
	json_decref(out);
	json_decref(problem);
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* Only active domains of active tenants with registration open or by
 * approval are found, by name in any case; aliases never. */
static void test_domain_lookup(void **state)
{
	static const struct {
		const char *name;
		int found;
		int64_t id;
	} cases[] = {
		{"open.test", 1, 2}, {"OPEN.Test", 1, 2}, {"appr.test", 1, 3},
		{"off.test", 0, 0},  {"sus.test", 0, 0},  {"alias.test", 0, 0},
		{"none.test", 0, 0}, {"", 0, 0},
	};
	(void)state;
	if (pg == NULL)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t tid = -1, did = -1;
		struct mc_error err = {0};
		int r = mc_admin_registration_domain(pg, cases[i].name, &tid,
						     &did, &err);

		assert_int_equal(r, cases[i].found);
		if (r == 1) {
			assert_int_equal(tid, 1);
			assert_int_equal(did, cases[i].id);
		}
	}
}

/* A closed domain and an unknown one give the same NOTFOUND; nothing is
 * created. */
static void test_off_notfound(void **state)
{
	char off_msg[sizeof(last.msg)];

	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(1, 1, "off.test", "zed", GOOD_PW),
			 MC_ERR_NOTFOUND);
	snprintf(off_msg, sizeof(off_msg), "%s", last.msg);
	assert_non_null(strstr(off_msg, "accepts registrations"));
	assert_int_equal(reg(1, 4, "sus.test", "zed", GOOD_PW),
			 MC_ERR_NOTFOUND);
	assert_int_equal(reg(1, 1, "none.test", "zed", GOOD_PW),
			 MC_ERR_NOTFOUND);
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM users WHERE local_part "
				"= 'zed'"),
		0);
	/* the actor of one domain registers in no other */
	assert_int_equal(reg(1, 2, "appr.test", "zed", GOOD_PW),
			 MC_ERR_NOTFOUND);
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM users WHERE local_part "
				"= 'zed'"),
		0);
}

/* open: an active user with the domain's default quota and the default
 * mailboxes; the answer is {address, status} and nothing else. */
static void test_open_active(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(1, 2, "open.test", "Alice", GOOD_PW), MC_ERR_NONE);
	assert_int_equal(json_object_size(out), 2);
	assert_string_equal(out_str("address"), "alice@open.test");
	assert_string_equal(out_str("status"), "active");
	assert_int_equal(num_of("SELECT quota_bytes FROM users WHERE "
				"domain_id = 2 AND local_part = '%s'",
				"alice"),
			 1000);
	assert_int_equal(num_of("SELECT count(*) FROM mailboxes m JOIN users "
				"u ON u.id = m.user_id WHERE u.local_part = "
				"'%s' AND m.name = 'INBOX'",
				"alice"),
			 1);
	assert_true(num_of("SELECT count(*) FROM mailboxes m JOIN users u ON "
			   "u.id = m.user_id WHERE u.local_part = '%s'",
			   "alice") > 1);
	assert_int_equal(num_of("SELECT n_users FROM domains WHERE name = '%s'",
				"open.test"),
			 1);
	assert_int_equal(can_login("alice@open.test"), 1);
}

/* approval: the user is pending and cannot log in until a domain admin
 * restores it. */
static void test_approval_pending(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(1, 3, "appr.test", "bob", GOOD_PW), MC_ERR_NONE);
	assert_string_equal(out_str("address"), "bob@appr.test");
	assert_string_equal(out_str("status"), "pending");
	char *status = text_of("SELECT status FROM users WHERE local_part = "
			       "'%s'",
			       "bob");
	assert_string_equal(status, "pending");
	free(status);
	assert_int_equal(can_login("bob@appr.test"), 0);
	assert_int_equal(
		run(admin_user_restore, &appr_admin, "appr.test", "bob", NULL),
		MC_ERR_NONE);
	assert_string_equal(out_str("status"), "active");
	assert_int_equal(can_login("bob@appr.test"), 1);
}

/* The password policy and the local-part rules, each a field error. */
static void test_validation(void **state)
{
	static const struct {
		const char *local, *password, *field;
	} cases[] = {
		{"carol", "short-1", "password"},	 /* under 10 */
		{"carol", "no-digits-here", "password"}, /* class digit */
		{"carol", NULL, "password"},
		{NULL, GOOD_PW, "local_part"},
		{"bad name", GOOD_PW, "local_part"},
		{"postmaster", GOOD_PW, "local_part"},
		{"Abuse", GOOD_PW, "local_part"},
		{"webmaster", GOOD_PW, "local_part"},
	};
	(void)state;
	if (pg == NULL)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(reg(1, 2, "open.test", cases[i].local,
				     cases[i].password),
				 MC_ERR_INVALID);
		assert_string_equal(problem_field(), cases[i].field);
	}
	struct mc_actor v = visitor(1, 2);
	assert_int_equal(
		run(admin_registration_create, &v, "open.test", NULL,
		    json_pack("{ssssss}", "local_part", "carol", "password",
			      GOOD_PW, "status", "active")),
		MC_ERR_INVALID);
	assert_int_equal(
		run(admin_registration_create, &v, "open.test", NULL, NULL),
		MC_ERR_INVALID);
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM users WHERE local_part "
				"IN ('carol', 'postmaster', 'abuse')"),
		0);
}

/* An address that is taken (a user's or an alias's) is EXISTS. */
static void test_duplicate(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(1, 2, "open.test", "dave", GOOD_PW), MC_ERR_NONE);
	assert_int_equal(reg(1, 2, "open.test", "DAVE", GOOD_PW),
			 MC_ERR_EXISTS);
	assert_non_null(strstr(last.msg, "dave@open.test"));
	assert_int_equal(reg(1, 2, "open.test", "team", GOOD_PW),
			 MC_ERR_EXISTS);
}

/* A user past the tenant's limit is refused like any create, but the
 * visitor learns neither the tenant's name nor its size. */
static void test_limit(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(2, 6, "full.test", "second", GOOD_PW),
			 MC_ERR_LIMIT);
	assert_null(strstr(last.msg, "t2"));
	assert_non_null(strstr(last.msg, "full.test"));
	assert_string_equal(
		json_string_value(json_object_get(problem, "limit")), "users");
	assert_int_equal(json_object_size(problem), 1);
	assert_int_equal(
		mc_test_num(pg, "SELECT n_users FROM tenants WHERE id = 2"), 1);
}

/* Both audit records of a registration: user.create (password hidden)
 * and user.register, by the visitor, from its address, in the domain. */
static void test_audit(void **state)
{
	static const char *const actions[] = {"user.create", "user.register"};
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(reg(1, 3, "appr.test", "erin", GOOD_PW), MC_ERR_NONE);
	for (size_t i = 0; i < 2; i++) {
		char q[400];
		snprintf(q, sizeof(q),
			 "SELECT count(*) FROM audit_log WHERE action = '%s' "
			 "AND target = 'erin@appr.test' AND actor = "
			 "'self-registration (192.0.2.7)' AND actor_role = "
			 "'user' AND client_ip = '192.0.2.7' AND request_id "
			 "= 'req-reg-1' AND tenant_id = 1 AND domain_id = 3",
			 actions[i]);
		assert_int_equal(mc_test_num(pg, q), 1);
	}
	char *ch = text_of("SELECT changes::text FROM audit_log WHERE action "
			   "= 'user.register' AND target = '%s'",
			   "erin@appr.test");
	json_t *changes = json_loads(ch, 0, NULL);
	assert_string_equal(
		json_string_value(json_object_get(changes, "status")),
		"pending");
	assert_string_equal(json_string_value(json_object_get(
				    changes, "self_registration")),
			    "approval");
	json_decref(changes);
	free(ch);
	ch = text_of("SELECT changes->>'password' FROM audit_log WHERE "
		     "action = 'user.create' AND target = '%s'",
		     "erin@appr.test");
	assert_string_equal(ch, "***");
	free(ch);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE changes::text LIKE '%" GOOD_PW
					 "%'"),
			 0);
}

/* Only the anonymous actor registers: administrators and users are
 * DENIED (they have user.create), and nothing is created. */
static void test_actor_checks(void **state)
{
	struct mc_actor user = visitor(1, 2), token = visitor(1, 2);
	const struct mc_actor *who[] = {&provider, &appr_admin, &user, &token};

	(void)state;
	if (pg == NULL)
		skip();
	user.user_id = 1;
	token.token_id = 7;
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		assert_int_equal(run(admin_registration_create, who[i],
				     "open.test", NULL,
				     json_pack("{ssss}", "local_part", "frank",
					       "password", GOOD_PW)),
				 MC_ERR_DENIED);
	}
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM users WHERE local_part "
				"= 'frank'"),
		0);
}

/* Without a limit nothing is asked of Redis; with one and no Redis the
 * answer is TEMPORARY (refuse). */
static void test_throttle_no_redis(void **state)
{
	struct mc_error err = {0};
	unsigned retry = 9;

	(void)state;
	assert_int_equal(mc_admin_registration_throttle(NULL, 0, "192.0.2.1",
							&retry, &err),
			 1);
	assert_int_equal(retry, 0);
	assert_int_equal(mc_admin_registration_throttle(NULL, 5, "192.0.2.1",
							&retry, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);

	struct mc_redis_settings set = {.host = "127.0.0.1",
					.port = (unsigned)mc_test_free_port(),
					.timeout_ms = 500};
	struct mc_redis *dead = mc_redis_create(&set);
	mc_error_clear(&err);
	assert_int_equal(mc_admin_registration_throttle(dead, 5, "192.0.2.1",
							&retry, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_redis_destroy(&dead);
}

/* Drops the counter key of a client. */
static void forget(struct mc_redis *redis, const char *key)
{
	redisReply *r = mc_redis_command(redis, NULL, "DEL %s", key);
	assert_non_null(r);
	freeReplyObject(r);
}

/* max attempts per address and hour, then 0 with Retry-After; another
 * address has its own count; an IPv6 /64 counts as one. */
static void test_throttle(void **state)
{
	struct mc_redis *redis = mc_test_redis(0);
	struct mc_error err = {0};
	unsigned retry = 0;

	(void)state;
	if (redis == NULL)
		skip();
	forget(redis, "mc:reg:ip:192.0.2.55");
	forget(redis, "mc:reg:ip:192.0.2.56");
	forget(redis, "mc:reg:ip:2001:db8:1:2::/64");
	for (int i = 0; i < 2; i++)
		assert_int_equal(mc_admin_registration_throttle(
					 redis, 2, "192.0.2.55", &retry, &err),
				 1);
	assert_int_equal(mc_admin_registration_throttle(redis, 2, "192.0.2.55",
							&retry, &err),
			 0);
	assert_in_range(retry, 1, 3600);
	assert_int_equal(mc_admin_registration_throttle(
				 redis, 2, "::ffff:192.0.2.55", &retry, &err),
			 0);
	assert_int_equal(mc_admin_registration_throttle(redis, 2, "192.0.2.56",
							&retry, &err),
			 1);
	assert_int_equal(mc_admin_registration_throttle(
				 redis, 1, "2001:db8:1:2::1", &retry, &err),
			 1);
	assert_int_equal(mc_admin_registration_throttle(redis, 1,
							"2001:db8:1:2:ffff::9",
							&retry, &err),
			 0);
	assert_int_equal(mc_admin_registration_throttle(
				 redis, 1, "2001:db8:1:3::1", &retry, &err),
			 1);
	forget(redis, "mc:reg:ip:192.0.2.55");
	forget(redis, "mc:reg:ip:192.0.2.56");
	forget(redis, "mc:reg:ip:2001:db8:1:2::/64");
	forget(redis, "mc:reg:ip:2001:db8:1:3::/64");
	mc_redis_destroy(&redis);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_lookup),
		cmocka_unit_test(test_off_notfound),
		cmocka_unit_test(test_open_active),
		cmocka_unit_test(test_approval_pending),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_actor_checks),
		cmocka_unit_test(test_throttle_no_redis),
		cmocka_unit_test(test_throttle),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
