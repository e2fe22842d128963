/* test-admin: the core of administrative operations: role names, which
 * places each role's subtree holds, field errors in the problem, list
 * cursors, and against a real PostgreSQL the finders under row-level
 * security, the audit record and limit errors from the triggers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tenants/src/mc-admin-private.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-test.h"

/* Every role name parses back to its role; unknown names do not. */
static void test_role_names(void **state)
{
	(void)state;
	for (int r = MC_ROLE_USER; r <= MC_ROLE_PROVIDER; r++) {
		enum mc_role back;
		assert_true(
			mc_role_parse(mc_role_name((enum mc_role)r), &back));
		assert_int_equal(back, r);
	}
	enum mc_role x;
	assert_false(mc_role_parse("admin", &x));
	assert_false(mc_role_parse(NULL, &x));
	assert_string_equal(mc_role_name(MC_ROLE_ASSISTANT), "assistant");
}

static struct mc_admin *admin_as(const struct mc_actor *actor)
{
	struct mc_admin_settings set = {.actor = actor};
	return mc_admin_create(&set);
}

/* Which roles see a user of department 7 (under 5) in domain 3 of tenant 2
 * under resellers 1 > 4. */
static void test_scope(void **state)
{
	(void)state;
	struct admin_place user = {
		.level = ADMIN_AT_USER,
		.resellers = {1, 4},
		.nresellers = 2,
		.tenant_id = 2,
		.domain_id = 3,
		.user_id = 9,
		.departments = {5, 7},
		.ndepartments = 2,
	};
	static const struct {
		struct mc_actor actor;
		bool sees;
	} cases[] = {
		{{.role = MC_ROLE_PROVIDER}, true},
		{{.role = MC_ROLE_RESELLER, .reseller_id = 1}, true},
		{{.role = MC_ROLE_RESELLER, .reseller_id = 4}, true},
		{{.role = MC_ROLE_RESELLER, .reseller_id = 6}, false},
		{{.role = MC_ROLE_TENANT, .tenant_id = 2}, true},
		{{.role = MC_ROLE_TENANT, .tenant_id = 8}, false},
		{{.role = MC_ROLE_DOMAIN, .tenant_id = 2, .domain_id = 3},
		 true},
		{{.role = MC_ROLE_DOMAIN, .tenant_id = 2, .domain_id = 4},
		 false},
		{{.role = MC_ROLE_ASSISTANT, .tenant_id = 2, .domain_id = 3},
		 true},
		{{.role = MC_ROLE_DEPARTMENT,
		  .tenant_id = 2,
		  .domain_id = 3,
		  .department_id = 5},
		 true},
		{{.role = MC_ROLE_DEPARTMENT,
		  .tenant_id = 2,
		  .domain_id = 3,
		  .department_id = 7},
		 true},
		{{.role = MC_ROLE_DEPARTMENT,
		  .tenant_id = 2,
		  .domain_id = 3,
		  .department_id = 6},
		 false},
		{{.role = MC_ROLE_USER,
		  .tenant_id = 2,
		  .domain_id = 3,
		  .user_id = 9},
		 true},
		{{.role = MC_ROLE_USER,
		  .tenant_id = 2,
		  .domain_id = 3,
		  .user_id = 10},
		 false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct mc_admin *a = admin_as(&cases[i].actor);
		if (admin_in_scope(a, &user) != cases[i].sees)
			fail_msg("case %zu", i);
		mc_admin_destroy(&a);
	}
	/* the domain itself is not inside a department admin's subtree */
	struct admin_place domain = {
		.level = ADMIN_AT_DOMAIN, .tenant_id = 2, .domain_id = 3};
	struct mc_actor dept = {.role = MC_ROLE_DEPARTMENT,
				.tenant_id = 2,
				.domain_id = 3,
				.department_id = 5};
	struct mc_admin *a = admin_as(&dept);
	assert_false(admin_in_scope(a, &domain));
	mc_admin_destroy(&a);
}

/* Role requirements: assistant and department are side by side. */
static void test_require(void **state)
{
	(void)state;
	struct mc_actor asst = {.role = MC_ROLE_ASSISTANT};
	struct mc_actor dept = {.role = MC_ROLE_DEPARTMENT};
	struct mc_admin *a = admin_as(&asst), *d = admin_as(&dept);
	struct mc_error err = {0};

	assert_int_equal(admin_require(a, MC_ROLE_ASSISTANT, "x", &err), 0);
	assert_int_equal(
		admin_require(a, MC_ROLE_DEPARTMENT, "add users", &err), -1);
	assert_int_equal(err.cls, MC_ERR_DENIED);
	assert_non_null(strstr(err.msg, "add users"));
	mc_error_clear(&err);
	assert_int_equal(admin_require(d, MC_ROLE_ASSISTANT, "x", &err), -1);
	assert_int_equal(admin_require(d, MC_ROLE_DEPARTMENT, "x", NULL), 0);
	assert_int_equal(admin_require(d, MC_ROLE_DOMAIN, "x", NULL), -1);
	mc_admin_destroy(&a);
	mc_admin_destroy(&d);
}

/* Unknown members and bad values become field errors in the problem. */
static void test_field_errors(void **state)
{
	(void)state;
	struct mc_actor p = {.role = MC_ROLE_PROVIDER};
	struct mc_admin *a = admin_as(&p);
	struct mc_error err = {0};
	static const char *const allowed[] = {"name", "size", NULL};
	json_t *body =
		json_pack("{sssiss}", "name", "x", "size", 5, "color", "red");

	assert_int_equal(admin_body_check(a, body, allowed, true, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	const json_t *errors = json_object_get(mc_admin_problem(a), "errors");
	assert_int_equal(json_array_size(errors), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(errors, 0), "field")),
			    "color");
	int64_t v;
	assert_int_equal(
		admin_get_int(a, body, "size", 10, 20, false, &v, NULL), -1);
	assert_int_equal(admin_get_int(a, body, "size", 0, 20, false, &v, NULL),
			 1);
	assert_int_equal(v, 5);
	const char *s;
	assert_int_equal(
		admin_get_string(a, body, "missing", 10, true, false, &s, NULL),
		-1);
	json_object_set_new(body, "ctl", json_string("a\tb"));
	assert_int_equal(
		admin_get_string(a, body, "ctl", 10, false, false, &s, NULL),
		-1);
	json_decref(body);
	mc_admin_destroy(&a);
}

/* PostgreSQL arrays to JSON and back, with quotes and commas. */
static void test_arrays(void **state)
{
	(void)state;
	json_t *in = json_pack("[sss]", "a", "b,c", "d\"e\\f");
	char *lit = admin_pg_array(in);
	assert_string_equal(lit, "{\"a\",\"b,c\",\"d\\\"e\\\\f\"}");
	json_t *back = admin_json_array(lit);
	assert_true(json_equal(in, back));
	json_t *plain = admin_json_array("{x,y}");
	assert_int_equal(json_array_size(plain), 2);
	json_t *empty = admin_json_array(NULL);
	assert_int_equal(json_array_size(empty), 0);
	json_decref(empty);
	free(lit);
	json_decref(in);
	json_decref(back);
	json_decref(plain);
}

static const struct admin_sort sorts[] = {
	{"name", "t.name"},
	{"created_at", "t.created_at"},
	{NULL, NULL},
};

/* A cursor from a page continues the same list; a cursor of another sort
 * or garbage is refused. */
static void test_cursor(void **state)
{
	(void)state;
	struct mc_actor p = {.role = MC_ROLE_PROVIDER};
	struct mc_admin *a = admin_as(&p);
	struct mc_admin_list q = {.limit = 2, .sort = "-name"};
	struct mc_admin_call call = {.list = &q, .if_version = -1};
	struct admin_list l;
	struct mc_error err = {0};

	assert_int_equal(admin_list_parse(a, &call, sorts, &l, &err), 0);
	assert_true(l.desc);
	assert_string_equal(l.sort->field, "name");
	json_t *page = admin_page(&l, json_array(), true, "bob's", 42);
	const char *cursor =
		json_string_value(json_object_get(page, "next_cursor"));
	assert_non_null(cursor);
	q.cursor = cursor;
	assert_int_equal(admin_list_parse(a, &call, sorts, &l, &err), 0);
	assert_true(l.after);
	assert_string_equal(l.after_value, "bob's");
	assert_int_equal(l.after_id, 42);

	struct mc_buf sql;
	const char *params[4];
	int n = 0;
	mc_buf_init(&sql, NULL, 0);
	mc_buf_append_str(&sql, "SELECT 1 WHERE true");
	admin_list_sql(&l, "t.id", &sql, params, &n);
	assert_int_equal(n, 2);
	assert_string_equal(mc_buf_cstr(&sql),
			    "SELECT 1 WHERE true AND (t.name, t.id) < ($1, "
			    "$2::bigint) ORDER BY t.name DESC, t.id DESC "
			    "LIMIT 3");
	mc_buf_free(&sql);

	q.sort = "created_at";
	assert_int_equal(admin_list_parse(a, &call, sorts, &l, &err), -1);
	q.cursor = "!!!";
	q.sort = NULL;
	assert_int_equal(admin_list_parse(a, &call, sorts, &l, &err), -1);
	q.cursor = NULL;
	q.sort = "color";
	assert_int_equal(admin_list_parse(a, &call, sorts, &l, &err), -1);
	json_t *last = admin_page(&l, json_array(), false, NULL, 0);
	assert_true(json_is_null(json_object_get(last, "next_cursor")));
	json_decref(page);
	json_decref(last);
	mc_admin_destroy(&a);
}

struct db {
	struct mc_pg *pg;
	char schema[128];
};

/* Two tenants (one under reseller r1) with a domain and a user each. */
static int db_setup(void **state)
{
	struct db *db = calloc(1, sizeof(*db));
	db->pg = mc_test_pg_schema("admin", db->schema, sizeof(db->schema));
	if (db->pg != NULL) {
		mc_test_sql(db->pg,
			    "INSERT INTO resellers (name) VALUES ('r1')");
		mc_test_sql(db->pg,
			    "INSERT INTO tenants (name, reseller_id) VALUES "
			    "('t1', 1), ('t2', NULL)");
		mc_test_sql(db->pg, "INSERT INTO domains (tenant_id, name) "
				    "VALUES (1, 'a.test'), (2, 'b.test')");
		mc_test_sql(db->pg, "INSERT INTO users (tenant_id, domain_id, "
				    "local_part, password_hash) VALUES "
				    "(1, 1, 'ann', 'x'), (2, 2, 'bob', 'x')");
	}
	*state = db;
	return 0;
}

static int db_teardown(void **state)
{
	struct db *db = *state;
	mc_test_pg_drop_schema(&db->pg, db->schema);
	free(db);
	return 0;
}

struct find_ctx {
	const char *domain, *local;
	struct admin_place place;
	int found;
};

/* Finds a domain and optionally a user in it, then audits. */
static int find_and_audit(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct find_ctx *f = ctx;
	if (admin_find_domain(a, f->domain, &f->place, err) < 0)
		return -1;
	if (f->local != NULL &&
	    admin_find_user(a, f->local, &f->place, err) < 0)
		return -1;
	f->found = 1;
	json_t *ch = json_pack("{ss}", "display_name", "Ann");
	int r = admin_audit(a, &f->place, "user.update", f->local, ch, err);
	json_decref(ch);
	return r;
}

/* A tenant admin finds its own domain and user; the other tenant's domain
 * is not found (also hidden by RLS); its change is audited. */
static void test_find_scoped(void **state)
{
	struct db *db = *state;
	if (db->pg == NULL)
		skip();
	struct mc_actor t1 = {.role = MC_ROLE_TENANT,
			      .tenant_id = 1,
			      .name = "tester",
			      .client_ip = "127.0.0.1"};
	struct mc_admin_settings set = {.pg = db->pg, .actor = &t1};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_error err = {0};
	struct find_ctx f = {.domain = "A.TEST", .local = "ann"};

	assert_int_equal(admin_txn(a, find_and_audit, &f, &err), 0);
	assert_int_equal(f.place.level, ADMIN_AT_USER);
	assert_int_equal(f.place.tenant_id, 1);
	assert_int_equal(f.place.nresellers, 1);
	assert_int_equal(mc_test_num(db->pg,
				     "SELECT count(*) FROM audit_log "
				     "WHERE actor = 'tester' AND "
				     "actor_role = 'tenant' AND "
				     "tenant_id = 1 AND "
				     "client_ip = '127.0.0.1' AND "
				     "changes->>'display_name' = 'Ann'"),
			 1);
	struct find_ctx g = {.domain = "b.test"};
	assert_int_equal(admin_txn(a, find_and_audit, &g, &err), -1);
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	assert_int_equal(g.found, 0);
	mc_admin_destroy(&a);

	/* the provider finds it */
	struct mc_actor prov = {.role = MC_ROLE_PROVIDER};
	set.actor = &prov;
	a = mc_admin_create(&set);
	mc_error_clear(&err);
	struct find_ctx h = {.domain = "b.test", .local = "bob"};
	assert_int_equal(admin_txn(a, find_and_audit, &h, &err), 0);
	mc_admin_destroy(&a);
}

struct rls_ctx {
	long long users, updated;
	int insert_failed;
};

/* Raw SQL inside an API transaction, past the operations' own checks. */
static int raw_sql(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct rls_ctx *r = ctx;
	struct mc_error ierr = {0};
	PGresult *res =
		admin_query(a, "SELECT count(*) FROM users", 0, NULL, err);
	if (res == NULL)
		return -1;
	r->users = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	r->updated = admin_exec(a,
				"UPDATE users SET display_name = 'pwned' "
				"WHERE tenant_id = 2",
				0, NULL, err);
	/* a savepoint keeps the transaction usable after the refusal */
	if (mc_pg_exec_script(a->pg, "SAVEPOINT s", err) < 0)
		return -1;
	r->insert_failed = admin_exec(a,
				      "INSERT INTO aliases (tenant_id, "
				      "domain_id, local_part, targets) VALUES "
				      "(2, 2, 'evil', '{x@y.example}')",
				      0, NULL, &ierr) < 0;
	return mc_pg_exec_script(a->pg, "ROLLBACK TO SAVEPOINT s", err);
}

/* Row-level security holds even for SQL that forgets the scope: a
 * tenant's API transaction sees, changes and adds only its own rows. */
static void test_rls_without_where(void **state)
{
	struct db *db = *state;
	if (db->pg == NULL)
		skip();
	struct mc_actor t1 = {.role = MC_ROLE_TENANT, .tenant_id = 1};
	struct mc_admin_settings set = {.pg = db->pg, .actor = &t1};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_error err = {0};
	struct rls_ctx r = {0};

	assert_int_equal(admin_txn(a, raw_sql, &r, &err), 0);
	assert_int_equal(r.users, mc_test_num(db->pg, "SELECT count(*) FROM "
						      "users WHERE tenant_id "
						      "= 1"));
	assert_true(r.users < mc_test_num(db->pg, "SELECT count(*) FROM "
						  "users"));
	assert_int_equal(r.updated, 0);
	assert_true(r.insert_failed);
	assert_int_equal(mc_test_num(db->pg, "SELECT count(*) FROM users "
					     "WHERE display_name = 'pwned'"),
			 0);
	mc_admin_destroy(&a);
}

/* Inserts a user named by ctx. */
static int add_user(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	const char *params[] = {ctx};
	return admin_exec(
		       a,
		       "INSERT INTO users (tenant_id, domain_id, local_part, "
		       "password_hash) VALUES (1, 1, $1, 'x')",
		       1, params, err) < 0
		       ? -1
		       : 0;
}

/* A trigger's limit error arrives as MC_ERR_LIMIT with readable text and
 * the problem members; nothing is inserted. */
static void test_limit_error(void **state)
{
	struct db *db = *state;
	if (db->pg == NULL)
		skip();
	mc_test_sql(db->pg, "UPDATE resellers SET lim_users = 1");
	struct mc_actor r1 = {.role = MC_ROLE_RESELLER, .reseller_id = 1};
	struct mc_admin_settings set = {.pg = db->pg, .actor = &r1};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_error err = {0};

	assert_int_equal(admin_txn(a, add_user, "carl", &err), -1);
	assert_int_equal(err.cls, MC_ERR_LIMIT);
	assert_string_equal(err.msg, "users limit of reseller r1 reached (1)");
	const json_t *p = mc_admin_problem(a);
	assert_string_equal(json_string_value(json_object_get(p, "limit")),
			    "users");
	assert_string_equal(json_string_value(json_object_get(p, "level")),
			    "reseller");
	assert_int_equal(json_integer_value(json_object_get(p, "max")), 1);
	assert_int_equal(mc_test_num(db->pg, "SELECT count(*) FROM users "
					     "WHERE local_part = 'carl'"),
			 0);
	mc_test_sql(db->pg, "UPDATE resellers SET lim_users = 0");
	mc_admin_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_role_names),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_require),
		cmocka_unit_test(test_field_errors),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_find_scoped),
		cmocka_unit_test(test_limit_error),
		cmocka_unit_test(test_rls_without_where),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
