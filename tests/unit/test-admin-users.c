/* test-admin-users: the user operations against a real PostgreSQL: create
 * and get with the exact members, validation and password policy errors,
 * what each role may do (department admins inside their subtree only,
 * assistants never, users on themselves), updates with If-Match, soft
 * delete and restore within 7 days, the purge by maintenance (rows gone,
 * message references dropped, usage released), lists with filters and
 * cursors, CSV import and export, and batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tenants/src/mc-admin-private.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-pg.h"
#include "mc-test.h"

static struct mc_pg *pg;
static char schema[128];
static json_t *out;	/* the last operation's result */
static json_t *problem; /* and its problem members */
static struct mc_error last;

/* Actors over tenant 1, domain a.test (1); departments Sales (1) > EMEA
 * (2) and Ops (3). */
static const struct mc_actor provider = {.role = MC_ROLE_PROVIDER,
					 .name = "test provider"};
static const struct mc_actor dom_admin = {.role = MC_ROLE_DOMAIN,
					  .tenant_id = 1,
					  .domain_id = 1,
					  .name = "dom admin"};
static const struct mc_actor sales_admin = {.role = MC_ROLE_DEPARTMENT,
					    .tenant_id = 1,
					    .domain_id = 1,
					    .department_id = 1,
					    .name = "sales admin"};
static const struct mc_actor assistant = {.role = MC_ROLE_ASSISTANT,
					  .tenant_id = 1,
					  .domain_id = 1,
					  .name = "assistant"};

/* Runs fn as who with call; the error class (MC_ERR_NONE on success). */
static enum mc_error_class run_call(mc_admin_op *fn, const struct mc_actor *who,
				    struct mc_admin_call *call)
{
	struct mc_admin_settings set = {.pg = pg, .actor = who};
	struct mc_admin *a = mc_admin_create(&set);

	json_decref(out);
	json_decref(problem);
	out = NULL;
	mc_error_clear(&last);
	int r = fn(a, call, &out, &last);
	problem = json_deep_copy(mc_admin_problem(a));
	mc_admin_destroy(&a);
	if (r < 0)
		assert_int_not_equal(last.cls, MC_ERR_NONE);
	return r < 0 ? last.cls : MC_ERR_NONE;
}

/* Runs fn as who on [domain, local] (local NULL: [domain]) with body
 * (stolen, may be NULL). */
static enum mc_error_class run(mc_admin_op *fn, const struct mc_actor *who,
			       const char *domain, const char *local,
			       json_t *body)
{
	struct mc_admin_call call = {.args = {domain, local},
				     .nargs = local != NULL ? 2 : 1,
				     .body = body,
				     .if_version = -1};
	enum mc_error_class c = run_call(fn, who, &call);

	json_decref(body);
	return c;
}

/* Creates local in a.test as who with a good password. */
static enum mc_error_class create_as(const struct mc_actor *who,
				     const char *local, json_t *extra)
{
	json_t *body = json_pack("{ssss}", "local_part", local, "password",
				 "good-pass-1");

	if (extra != NULL) {
		json_object_update(body, extra);
		json_decref(extra);
	}
	return run(admin_user_create, who, "a.test", local, body);
}

/* The field and detail of the i-th error of the last problem. */
static const char *problem_field(size_t i)
{
	json_t *e = json_array_get(json_object_get(problem, "errors"), i);
	return json_string_value(json_object_get(e, "field"));
}

static const char *problem_detail(size_t i)
{
	json_t *e = json_array_get(json_object_get(problem, "errors"), i);
	return json_string_value(json_object_get(e, "detail"));
}

/* Members of the last result. */
static const char *out_str(const char *key)
{
	return json_string_value(json_object_get(out, key));
}

static long long out_int(const char *key)
{
	return json_integer_value(json_object_get(out, key));
}

/* The id of user local of a.test. */
static long long user_id(const char *local)
{
	char q[200];
	snprintf(q, sizeof(q),
		 "SELECT id FROM users WHERE domain_id = 1 AND "
		 "local_part = '%s'",
		 local);
	return mc_test_num(pg, q);
}

/* A user-role actor for local of a.test. */
static struct mc_actor user_actor(const char *local)
{
	struct mc_actor u = {.role = MC_ROLE_USER,
			     .tenant_id = 1,
			     .domain_id = 1,
			     .user_id = user_id(local)};
	snprintf(u.name, sizeof(u.name), "%s@a.test", local);
	return u;
}

static int db_setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("ausers", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('t1'), ('t2')");
	mc_test_sql(pg, "INSERT INTO domains (tenant_id, name, quota_bytes, "
			"default_user_quota, pw_min_length, pw_classes, "
			"pw_max_age_days, pw_exceptions) VALUES "
			"(1, 'a.test', 1000000, 1000, 10, '{digit}', 90, "
			"'{svc}'), (1, 'b.test', 0, 0, 10, '{}', 0, '{}'), "
			"(2, 'c.test', 0, 0, 10, '{}', 0, '{}')");
	mc_test_sql(pg, "INSERT INTO departments (tenant_id, domain_id, "
			"parent_id, name) VALUES (1, 1, NULL, 'Sales'), "
			"(1, 1, 1, 'EMEA'), (1, 1, NULL, 'Ops'), "
			"(1, 2, NULL, 'Other')");
	mc_test_sql(pg, "INSERT INTO aliases (tenant_id, domain_id, "
			"local_part, targets) VALUES (1, 1, 'info', "
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

/* Creating returns the user as get does, with the domain's default
 * quota, the default mailboxes, an expiry from the password policy, and
 * an audit record without the password. */
static void test_create_get(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "Alice",
				   json_pack("{sssi}", "display_name",
					     "Alice A", "department", 2)),
			 MC_ERR_NONE);
	assert_string_equal(out_str("address"), "alice@a.test");
	assert_string_equal(out_str("local_part"), "alice");
	assert_string_equal(out_str("domain"), "a.test");
	assert_string_equal(out_str("display_name"), "Alice A");
	assert_int_equal(out_int("department"), 2);
	assert_int_equal(out_int("quota_bytes"), 1000);
	assert_int_equal(out_int("used_bytes"), 0);
	assert_string_equal(out_str("status"), "active");
	assert_int_equal(json_array_size(json_object_get(out, "protocols")), 4);
	assert_int_equal(out_int("version"), 1);
	assert_non_null(out_str("created_at"));
	assert_non_null(out_str("password_expires_at"));
	assert_true(json_is_null(json_object_get(out, "deleted_at")));
	assert_null(json_object_get(out, "password"));
	json_t *created = json_deep_copy(out);

	assert_int_equal(
		run(admin_user_get, &provider, "a.test", "ALICE", NULL),
		MC_ERR_NONE);
	assert_true(json_equal(out, created));
	json_decref(created);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailboxes m "
					 "JOIN users u ON u.id = m.user_id "
					 "WHERE u.local_part = 'alice'"),
			 6);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "local_part = 'alice' AND "
					 "password_hash LIKE '$y$%'"),
			 1);
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM audit_log WHERE action "
				"= 'user.create' AND target = 'alice@a.test' "
				"AND changes->>'password' = '***' AND "
				"department_id = 2 AND changes::text NOT LIKE "
				"'%good-pass%'"),
		1);
	/* the exceptions of the policy have no expiry */
	assert_int_equal(create_as(&provider, "svc", NULL), MC_ERR_NONE);
	assert_true(json_is_null(json_object_get(out, "password_expires_at")));
}

/* Bad bodies name the field; the policy names its rule; clashes and the
 * domain quota are refused. */
static void test_create_errors(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	static const struct {
		const char *body;
		enum mc_error_class cls;
		const char *field, *detail;
	} cases[] = {
		{"{\"local_part\": \"bob\"}", MC_ERR_INVALID, "password",
		 "is required"},
		{"{\"local_part\": \"b b\", \"password\": \"good-pass-1\"}",
		 MC_ERR_INVALID, "local_part", NULL},
		{"{\"local_part\": \"bob\", \"password\": \"short1\"}",
		 MC_ERR_INVALID, "password", "at least 10 characters"},
		{"{\"local_part\": \"bob\", \"password\": \"no-digits-here\"}",
		 MC_ERR_INVALID, "password", "needs a digit"},
		{"{\"local_part\": \"bob\", \"password\": \"good-pass-1\", "
		 "\"color\": 1}",
		 MC_ERR_INVALID, "color", "unknown member"},
		{"{\"local_part\": \"bob\", \"password\": \"good-pass-1\", "
		 "\"status\": \"deleted\"}",
		 MC_ERR_INVALID, "status", NULL},
		{"{\"local_part\": \"bob\", \"password\": \"good-pass-1\", "
		 "\"department\": 4}",
		 MC_ERR_INVALID, "department", NULL},
		{"{\"local_part\": \"bob\", \"password\": \"good-pass-1\", "
		 "\"quota_bytes\": 2000000}",
		 MC_ERR_LIMIT, NULL, NULL},
		{"{\"local_part\": \"info\", \"password\": \"good-pass-1\"}",
		 MC_ERR_EXISTS, NULL, "alias info@a.test already exists"},
		{"{\"local_part\": \"alice\", \"password\": \"good-pass-1\"}",
		 MC_ERR_EXISTS, NULL, "user alice@a.test already exists"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		json_t *body = json_loads(cases[i].body, 0, NULL);
		enum mc_error_class c =
			run(admin_user_create, &provider, "a.test", NULL, body);
		if (c != cases[i].cls)
			fail_msg("case %zu: class %d (%s)", i, c, last.msg);
		if (cases[i].field != NULL)
			assert_string_equal(problem_field(0), cases[i].field);
		if (cases[i].field != NULL && cases[i].detail != NULL)
			assert_string_equal(problem_detail(0), cases[i].detail);
		if (cases[i].field == NULL && cases[i].detail != NULL)
			assert_string_equal(last.msg, cases[i].detail);
	}
	assert_int_equal(create_as(&provider, "bob",
				   json_pack("{sI}", "quota_bytes",
					     (json_int_t)2000000)),
			 MC_ERR_LIMIT);
	assert_string_equal(
		json_string_value(json_object_get(problem, "limit")),
		"storage_bytes");
	assert_int_equal(json_integer_value(json_object_get(problem, "max")),
			 1000000);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "local_part = 'bob'"),
			 0);
	/* a domain outside the actor's subtree is not found */
	assert_int_equal(run(admin_user_create, &dom_admin, "c.test", NULL,
			     json_pack("{ssss}", "local_part", "bob",
				       "password", "good-pass-1")),
			 MC_ERR_NOTFOUND);
}

/* Department admins work inside their subtree; assistants never touch
 * users. */
static void test_department_admin(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	/* no department given: the admin's own */
	assert_int_equal(create_as(&sales_admin, "dana", NULL), MC_ERR_NONE);
	assert_int_equal(out_int("department"), 1);
	assert_int_equal(create_as(&sales_admin, "erin",
				   json_pack("{si}", "department", 2)),
			 MC_ERR_NONE);
	assert_int_equal(create_as(&sales_admin, "olaf",
				   json_pack("{si}", "department", 3)),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "department");
	assert_int_equal(create_as(&provider, "otto",
				   json_pack("{si}", "department", 3)),
			 MC_ERR_NONE);
	/* another department's user is not found, for reads and writes */
	assert_int_equal(
		run(admin_user_get, &sales_admin, "a.test", "otto", NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(
		run(admin_user_delete, &sales_admin, "a.test", "otto", NULL),
		MC_ERR_NOTFOUND);
	/* moves stay inside */
	assert_int_equal(run(admin_user_update, &sales_admin, "a.test", "dana",
			     json_pack("{si}", "department", 3)),
			 MC_ERR_INVALID);
	assert_int_equal(run(admin_user_update, &sales_admin, "a.test", "dana",
			     json_pack("{sn}", "department")),
			 MC_ERR_DENIED);
	assert_int_equal(run(admin_user_update, &sales_admin, "a.test", "dana",
			     json_pack("{si}", "department", 2)),
			 MC_ERR_NONE);
	assert_int_equal(out_int("department"), 2);
	/* the list holds the subtree only */
	assert_int_equal(
		run(admin_user_list, &sales_admin, "a.test", NULL, NULL),
		MC_ERR_NONE);
	json_t *items = json_object_get(out, "items"), *it;
	size_t i;
	json_array_foreach(items, i, it)
	{
		json_int_t d =
			json_integer_value(json_object_get(it, "department"));
		assert_true(d == 1 || d == 2);
	}
	assert_true(json_array_size(items) >= 2);
	/* assistants: 403 on every user operation */
	assert_int_equal(
		run(admin_user_get, &assistant, "a.test", "dana", NULL),
		MC_ERR_DENIED);
	assert_int_equal(run(admin_user_list, &assistant, "a.test", NULL, NULL),
			 MC_ERR_DENIED);
	assert_int_equal(create_as(&assistant, "asst", NULL), MC_ERR_DENIED);
	assert_int_equal(
		run(admin_user_usage, &assistant, "a.test", "dana", NULL),
		MC_ERR_DENIED);
	assert_int_equal(
		run(admin_user_export, &assistant, "a.test", NULL, NULL),
		MC_ERR_DENIED);
}

/* The user role: itself only, display name only, own password with the
 * current one. */
static void test_user_role(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "uma", NULL), MC_ERR_NONE);
	struct mc_actor uma = user_actor("uma");
	assert_int_equal(run(admin_user_get, &uma, "a.test", "uma", NULL),
			 MC_ERR_NONE);
	assert_int_equal(run(admin_user_get, &uma, "a.test", "alice", NULL),
			 MC_ERR_NOTFOUND);
	assert_int_equal(run(admin_user_update, &uma, "a.test", "uma",
			     json_pack("{ss}", "display_name", "Uma U")),
			 MC_ERR_NONE);
	assert_string_equal(out_str("display_name"), "Uma U");
	assert_int_equal(run(admin_user_update, &uma, "a.test", "uma",
			     json_pack("{si}", "quota_bytes", 5)),
			 MC_ERR_DENIED);
	assert_int_equal(run(admin_user_delete, &uma, "a.test", "uma", NULL),
			 MC_ERR_DENIED);
	assert_int_equal(run(admin_user_list, &uma, "a.test", NULL, NULL),
			 MC_ERR_DENIED);
	assert_int_equal(run(admin_user_usage, &uma, "a.test", "uma", NULL),
			 MC_ERR_NONE);
	/* password: the current one is required and checked */
	assert_int_equal(run(admin_user_password, &uma, "a.test", "uma",
			     json_pack("{ss}", "password", "newer-pass-2")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "current_password");
	assert_int_equal(run(admin_user_password, &uma, "a.test", "uma",
			     json_pack("{ssss}", "password", "newer-pass-2",
				       "current_password", "wrong-pass-1")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "current_password");
	assert_int_equal(run(admin_user_password, &uma, "a.test", "uma",
			     json_pack("{ssss}", "password", "newer-pass-2",
				       "current_password", "good-pass-1")),
			 MC_ERR_NONE);
	assert_null(json_object_get(out, "password"));
	assert_int_equal(run(admin_user_password, &uma, "a.test", "alice",
			     json_pack("{ssss}", "password", "newer-pass-2",
				       "current_password", "good-pass-1")),
			 MC_ERR_NOTFOUND);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'user.password' AND "
					 "target = 'uma@a.test' AND "
					 "changes->>'password' = '***' AND "
					 "actor = 'uma@a.test'"),
			 1);
}

/* Updates: no renames, If-Match, the fields a PATCH may change. */
static void test_update(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "pat", NULL), MC_ERR_NONE);
	assert_int_equal(run(admin_user_update, &dom_admin, "a.test", "pat",
			     json_pack("{ss}", "local_part", "patricia")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "local_part");
	assert_string_equal(problem_detail(0),
			    "a mailbox cannot be renamed; add an alias");
	struct mc_admin_call call = {
		.args = {"a.test", "pat"},
		.nargs = 2,
		.body = json_pack("{ss}", "display_name", "P"),
		.if_version = 7,
	};
	assert_int_equal(run_call(admin_user_update, &dom_admin, &call),
			 MC_ERR_STALE);
	call.if_version = 1;
	assert_int_equal(run_call(admin_user_update, &dom_admin, &call),
			 MC_ERR_NONE);
	json_decref((json_t *)call.body);
	assert_int_equal(out_int("version"), 2);
	json_t *body = json_loads(
		"{\"forward\": {\"targets\": [\"Ext@Example.org\"], "
		"\"keep_copy\": false}, \"send_as\": [\"@a.test\", "
		"\"info@b.test\"], \"protocols\": [\"imap\", \"smtp\"], "
		"\"quota_bytes\": 5000, \"imap_backend\": \"127.0.0.1:143\"}",
		0, NULL);
	assert_int_equal(
		run(admin_user_update, &provider, "a.test", "pat", body),
		MC_ERR_NONE);
	json_t *fw = json_object_get(out, "forward");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(fw, "targets"), 0)),
			    "Ext@example.org");
	assert_true(json_is_false(json_object_get(fw, "keep_copy")));
	assert_int_equal(json_array_size(json_object_get(out, "send_as")), 2);
	assert_int_equal(json_array_size(json_object_get(out, "protocols")), 2);
	assert_int_equal(out_int("quota_bytes"), 5000);
	assert_string_equal(out_str("imap_backend"), "127.0.0.1:143");
	/* a domain admin grants only its own domain's addresses */
	assert_int_equal(run(admin_user_update, &dom_admin, "a.test", "pat",
			     json_pack("{s[s]}", "send_as", "x@b.test")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "send_as");
	assert_int_equal(
		run(admin_user_update, &dom_admin, "a.test", "pat",
		    json_pack("{s{s[s]}}", "forward", "targets", "Pat@A.test")),
		MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "forward");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'user.update' AND "
					 "target = 'pat@a.test'"),
			 2);
}

/* Passwords set by admins: the policy applies; absent, one is generated
 * and returned once. */
static void test_password(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "pwd", NULL), MC_ERR_NONE);
	assert_int_equal(run(admin_user_password, &dom_admin, "a.test", "pwd",
			     json_pack("{ss}", "password", "pwd")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "password");
	assert_string_equal(problem_detail(0), "at least 10 characters");
	assert_int_equal(
		run(admin_user_password, &dom_admin, "a.test", "pwd", NULL),
		MC_ERR_NONE);
	const char *gen = out_str("password");
	assert_non_null(gen);
	assert_true(strlen(gen) >= 16);
	assert_non_null(strpbrk(gen, "0123456789"));
	assert_string_equal(out_str("address"), "pwd@a.test");
	/* the generated password is the one stored */
	struct mc_actor me = user_actor("pwd");
	char *copy = strdup(gen);
	assert_int_equal(run(admin_user_password, &me, "a.test", "pwd",
			     json_pack("{ssss}", "password", "third-pass-3",
				       "current_password", copy)),
			 MC_ERR_NONE);
	free(copy);
}

/* Soft delete: recoverable for 7 days, then refused. */
static void test_delete_restore(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "del", NULL), MC_ERR_NONE);
	assert_int_equal(
		run(admin_user_delete, &dom_admin, "a.test", "del", NULL),
		MC_ERR_NONE);
	assert_null(out);
	assert_int_equal(run(admin_user_get, &dom_admin, "a.test", "del", NULL),
			 MC_ERR_NONE);
	assert_string_equal(out_str("status"), "deleted");
	assert_non_null(out_str("deleted_at"));
	assert_non_null(out_str("purge_at"));
	assert_int_equal(
		run(admin_user_freeze, &dom_admin, "a.test", "del", NULL),
		MC_ERR_EXISTS);
	assert_int_equal(run(admin_user_update, &dom_admin, "a.test", "del",
			     json_pack("{ss}", "display_name", "x")),
			 MC_ERR_EXISTS);
	assert_int_equal(
		run(admin_user_restore, &dom_admin, "a.test", "del", NULL),
		MC_ERR_NONE);
	assert_string_equal(out_str("status"), "active");
	assert_true(json_is_null(json_object_get(out, "deleted_at")));
	/* deleted 8 days ago: too late */
	assert_int_equal(
		run(admin_user_delete, &dom_admin, "a.test", "del", NULL),
		MC_ERR_NONE);
	mc_test_sql(pg, "UPDATE users SET deleted_at = now() - interval "
			"'8 days' WHERE local_part = 'del'");
	assert_int_equal(
		run(admin_user_restore, &dom_admin, "a.test", "del", NULL),
		MC_ERR_EXISTS);
	assert_non_null(strstr(last.msg, "more than 7 days"));
	/* freeze and restore; a pending registration is approved */
	assert_int_equal(create_as(&provider, "frz", NULL), MC_ERR_NONE);
	assert_int_equal(
		run(admin_user_freeze, &dom_admin, "a.test", "frz", NULL),
		MC_ERR_NONE);
	assert_string_equal(out_str("status"), "frozen");
	assert_int_equal(
		run(admin_user_restore, &dom_admin, "a.test", "frz", NULL),
		MC_ERR_NONE);
	assert_string_equal(out_str("status"), "active");
	mc_test_sql(pg, "UPDATE users SET status = 'pending' WHERE "
			"local_part = 'frz'");
	assert_int_equal(
		run(admin_user_restore, &sales_admin, "a.test", "frz", NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(
		run(admin_user_restore, &dom_admin, "a.test", "frz", NULL),
		MC_ERR_NONE);
	assert_string_equal(out_str("status"), "active");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE target = 'frz@a.test' AND "
					 "action IN ('user.freeze', "
					 "'user.restore')"),
			 3);
}

/* Gives user id two messages (300 bytes) in its INBOX: one shared with
 * another mailbox (refcount 2), one its own (refcount 1). */
static void fill_inbox(long long id)
{
	char sql[1024];

	mc_test_sql(pg, "INSERT INTO messages (tenant_id, sha256, size_bytes, "
			"refcount, envelope, body, bodystructure) VALUES "
			"(1, repeat('a', 64), 100, 2, '', '', ''), "
			"(1, repeat('b', 64), 200, 1, '', '', '')");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO mailbox_messages (tenant_id, mailbox_id, uid, "
		 "message_id, modseq, size_bytes) SELECT 1, mb.id, m.id, m.id, "
		 "1, m.size_bytes FROM mailboxes mb, messages m WHERE "
		 "mb.user_id = %lld AND mb.name = 'INBOX'; "
		 "UPDATE mailboxes SET messages = 2, size_bytes = 300 WHERE "
		 "user_id = %lld AND name = 'INBOX'; "
		 "UPDATE users SET used_bytes = 300 WHERE id = %lld; "
		 "INSERT INTO domain_usage VALUES (1, 1, %lld %% 16, 300)",
		 id, id, id, id);
	mc_test_sql(pg, sql);
}

/* Usage: the quota, the used bytes and each mailbox's counters. */
static void test_usage(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(create_as(&provider, "gone", NULL), MC_ERR_NONE);
	fill_inbox(user_id("gone"));
	assert_int_equal(
		run(admin_user_usage, &dom_admin, "a.test", "gone", NULL),
		MC_ERR_NONE);
	assert_int_equal(out_int("quota_bytes"), 1000);
	assert_int_equal(out_int("used_bytes"), 300);
	assert_int_equal(out_int("messages"), 2);
	json_t *boxes = json_object_get(out, "mailboxes");
	assert_int_equal(json_array_size(boxes), 6);
	json_t *box;
	size_t i;
	json_array_foreach(boxes, i, box)
	{
		const char *name =
			json_string_value(json_object_get(box, "name"));
		json_int_t bytes =
			json_integer_value(json_object_get(box, "bytes"));
		assert_int_equal(bytes, strcmp(name, "INBOX") == 0 ? 300 : 0);
	}
}

/* The purge of a user deleted 8 days ago drops its rows, its message
 * references and its usage; maintenance also expires domains and old
 * idempotency keys. */
static void test_purge(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long id = user_id("gone");
	char sql[256];

	/* not yet due: nothing happens */
	assert_int_equal(
		run(admin_user_delete, &dom_admin, "a.test", "gone", NULL),
		MC_ERR_NONE);
	struct mc_error err = {0};
	mc_test_sql(pg, "DELETE FROM users WHERE status = 'deleted' AND "
			"local_part <> 'gone'");
	assert_int_equal(mc_admin_maintain(pg, NULL, NULL, &err), 0);
	assert_int_equal(user_id("gone"), id);
	mc_test_sql(pg, "UPDATE users SET deleted_at = now() - interval "
			"'8 days' WHERE local_part = 'gone'");
	mc_test_sql(pg, "UPDATE domains SET expires_at = now() - interval "
			"'1 day' WHERE name = 'b.test'");
	mc_test_sql(pg, "INSERT INTO idempotency_keys (principal, key, "
			"request_hash, created_at) VALUES ('p', 'old', 'h', "
			"now() - interval '25 hours'), ('p', 'new', 'h', "
			"now())");
	assert_int_equal(mc_admin_maintain(pg, NULL, NULL, &err), 1);
	assert_int_equal(user_id("gone"), -1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM mailboxes WHERE user_id = %lld", id);
	assert_int_equal(mc_test_num(pg, sql), 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "sha256 = repeat('a', 64) AND "
					 "refcount = 1 AND zero_since IS NULL"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "sha256 = repeat('b', 64) AND "
					 "refcount = 0 AND zero_since IS NOT "
					 "NULL"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT sum(used_bytes) FROM "
					 "domain_usage WHERE domain_id = 1"),
			 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'user.purge' AND "
					 "actor = 'maintenance' AND target = "
					 "'gone@a.test' AND domain_id = 1"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM domains WHERE "
					 "name = 'b.test' AND status = "
					 "'expired'"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "idempotency_keys"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT n_users FROM domains WHERE "
					 "id = 1"),
			 mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "domain_id = 1"));
}

/* Lists: filters, sorts and cursors. */
static void test_list(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	static const char *const names[] = {"la", "lb", "lc"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(
			create_as(&provider, names[i],
				  json_pack("{sisssi}", "quota_bytes",
					    (int)(10 + i), "display_name",
					    i == 1 ? "Lister Bee" : "x",
					    "department", 3)),
			MC_ERR_NONE);
	json_t *filters = json_pack("{ss}", "department", "3");
	struct mc_admin_list q = {
		.limit = 2, .sort = "-quota_bytes", .filters = filters};
	struct mc_admin_call call = {
		.args = {"a.test"}, .nargs = 1, .list = &q, .if_version = -1};
	assert_int_equal(run_call(admin_user_list, &dom_admin, &call),
			 MC_ERR_NONE);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 2);
	/* otto (Ops, the default quota 1000) sorts first */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 0), "local_part")),
			    "otto");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 1), "local_part")),
			    "lc");
	char *cursor = strdup(out_str("next_cursor"));
	q.cursor = cursor;
	assert_int_equal(run_call(admin_user_list, &dom_admin, &call),
			 MC_ERR_NONE);
	items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 0), "local_part")),
			    "lb");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 1), "local_part")),
			    "la");
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	free(cursor);
	json_decref(filters);
	/* q matches the display name; status filters */
	filters = json_pack("{ssss}", "q", "BEE", "status", "active");
	q = (struct mc_admin_list){.filters = filters};
	assert_int_equal(run_call(admin_user_list, &dom_admin, &call),
			 MC_ERR_NONE);
	items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(items, 0), "local_part")),
			    "lb");
	json_decref(filters);
	filters = json_pack("{ss}", "status", "gone");
	q.filters = filters;
	assert_int_equal(run_call(admin_user_list, &dom_admin, &call),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "status");
	json_decref(filters);
}

/* Import: good lines created (one audit each), existing ones skipped,
 * bad ones reported with their error. */
static void test_import(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	const char *csv = "local_part,password,display_name,quota,department\n"
			  "imp1,import-pass-1,Imp One,2K,Sales/EMEA\n"
			  "imp2,short,Imp Two,,\n"
			  "alice,import-pass-1,,,\n"
			  "bad name,import-pass-1,,,\n"
			  "imp3,import-pass-3,,,Nowhere\n"
			  "imp4,import-pass-4,,,\n";
	struct mc_admin_call call = {.args = {"a.test"},
				     .nargs = 1,
				     .raw = csv,
				     .raw_len = strlen(csv),
				     .if_version = -1};
	assert_int_equal(run_call(admin_user_import, &dom_admin, &call),
			 MC_ERR_NONE);
	assert_int_equal(out_int("created"), 2);
	assert_int_equal(out_int("skipped"), 1);
	assert_int_equal(out_int("failed"), 3);
	json_t *lines = json_object_get(out, "lines");
	assert_int_equal(json_array_size(lines), 6);
	static const char *const results[] = {"created", "error", "skipped",
					      "error",	 "error", "created"};
	for (size_t i = 0; i < 6; i++) {
		json_t *l = json_array_get(lines, i);
		assert_string_equal(
			json_string_value(json_object_get(l, "result")),
			results[i]);
		assert_int_equal(json_integer_value(json_object_get(l, "line")),
				 i + 2);
		assert_true((json_object_get(l, "error") != NULL) ==
			    (strcmp(results[i], "error") == 0));
	}
	assert_non_null(strstr(json_string_value(json_object_get(
				       json_array_get(lines, 1), "error")),
			       "at least 10 characters"));
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "local_part = 'imp1' AND "
					 "department_id = 2 AND quota_bytes = "
					 "2048 AND display_name = 'Imp One'"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'user.create' AND "
					 "target LIKE 'imp%'"),
			 2);
	/* a malformed file creates nothing */
	const char *bad = "name,password\nx,y\n";
	call.raw = bad;
	call.raw_len = strlen(bad);
	assert_int_equal(run_call(admin_user_import, &dom_admin, &call),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "body");
}

/* Batches: every user with a generated password, or none at all. */
static void test_batch(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(run(admin_user_batch, &dom_admin, "a.test", NULL,
			     json_pack("{sssi}", "pattern", "bt{1..3}",
				       "quota_bytes", 77)),
			 MC_ERR_NONE);
	json_t *created = json_object_get(out, "created");
	assert_int_equal(json_array_size(created), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(created, 2), "address")),
			    "bt3@a.test");
	assert_true(strlen(json_string_value(json_object_get(
			    json_array_get(created, 0), "password"))) >= 16);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "local_part LIKE 'bt_' AND "
					 "quota_bytes = 77"),
			 3);
	/* a given password: none returned */
	assert_int_equal(run(admin_user_batch, &dom_admin, "a.test", NULL,
			     json_pack("{ssss}", "pattern", "bp{1..2}",
				       "password", "batch-pass-1")),
			 MC_ERR_NONE);
	assert_null(json_object_get(
		json_array_get(json_object_get(out, "created"), 0),
		"password"));
	/* over 1000 names: refused, nothing created */
	assert_int_equal(run(admin_user_batch, &dom_admin, "a.test", NULL,
			     json_pack("{ss}", "pattern", "many{1..1001}")),
			 MC_ERR_INVALID);
	assert_string_equal(problem_field(0), "pattern");
	/* the last name exists: all or nothing */
	assert_int_equal(create_as(&provider, "bq3", NULL), MC_ERR_NONE);
	assert_int_equal(run(admin_user_batch, &dom_admin, "a.test", NULL,
			     json_pack("{ss}", "pattern", "bq{1..3}")),
			 MC_ERR_EXISTS);
	assert_string_equal(last.msg, "user bq3@a.test already exists");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM users WHERE "
					 "local_part IN ('many1', 'bq1', "
					 "'bq2')"),
			 0);
}

/* Export: the CSV of the users the actor sees. */
static void test_export(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_int_equal(
		run(admin_user_export, &dom_admin, "a.test", NULL, NULL),
		MC_ERR_NONE);
	const char *csv = json_string_value(out);
	assert_non_null(csv);
	assert_true(strncmp(csv,
			    "local_part,display_name,quota_bytes,used_bytes,"
			    "department,status,created_at\r\n",
			    73) == 0);
	assert_non_null(strstr(csv, "\r\nalice,Alice A,1000,0,Sales/EMEA,"
				    "active,"));
	assert_non_null(strstr(csv, "\r\notto,,1000,0,Ops,active,"));
	assert_int_equal(
		run(admin_user_export, &sales_admin, "a.test", NULL, NULL),
		MC_ERR_NONE);
	csv = json_string_value(out);
	assert_non_null(strstr(csv, "\r\nalice,"));
	assert_null(strstr(csv, "\r\notto,"));
}

/* The effective policy of a user. */
static void test_policy(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_actor alice = user_actor("alice");
	assert_int_equal(
		run(admin_user_policy, &alice, "a.test", "alice", NULL),
		MC_ERR_NONE);
	assert_non_null(json_object_get(out, "sources"));
	assert_non_null(json_object_get(out, "protocols"));
	assert_int_equal(
		run(admin_user_policy, &assistant, "a.test", "alice", NULL),
		MC_ERR_DENIED);
	assert_int_equal(
		run(admin_user_policy, &sales_admin, "a.test", "otto", NULL),
		MC_ERR_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_get),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_department_admin),
		cmocka_unit_test(test_user_role),
		cmocka_unit_test(test_update),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_delete_restore),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_import),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_policy),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
