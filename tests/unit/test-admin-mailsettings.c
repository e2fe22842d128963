/* test-admin-mailsettings: the mail-settings operations against a real
 * PostgreSQL (MAILCORE_TEST_PG): aliases and groups (limits, user address
 * collisions, paging), BCC rules, policies (department selectors, null =
 * inherit), DKIM rotation and the DNS record set, each with the roles
 * that may and may not. */
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

struct db {
	struct mc_pg *pg;
	char schema[128];
};

/* Actors: tenant t1 (id 1) owns a.test (1) and c.test (3) with department
 * 1 in a.test; tenant t2 (2) owns b.test (2) with department 2. */
static const struct mc_actor prov = {.role = MC_ROLE_PROVIDER, .name = "prov"};
static const struct mc_actor tadm = {
	.role = MC_ROLE_TENANT, .tenant_id = 1, .name = "tadm"};
static const struct mc_actor dom = {
	.role = MC_ROLE_DOMAIN, .tenant_id = 1, .domain_id = 1, .name = "dom"};
static const struct mc_actor asst = {.role = MC_ROLE_ASSISTANT,
				     .tenant_id = 1,
				     .domain_id = 1,
				     .name = "asst"};
static const struct mc_actor dept = {.role = MC_ROLE_DEPARTMENT,
				     .tenant_id = 1,
				     .domain_id = 1,
				     .department_id = 1,
				     .name = "dept"};
static const struct mc_actor user = {.role = MC_ROLE_USER,
				     .tenant_id = 1,
				     .domain_id = 1,
				     .user_id = 1,
				     .name = "ann@a.test"};
static const struct mc_actor other = {
	.role = MC_ROLE_DOMAIN, .tenant_id = 2, .domain_id = 2, .name = "bdom"};

/* What the last call left: its error, problem members, dirty flag. */
static struct mc_error last_err;
static json_t *last_problem;
static bool last_dirty;

static struct db *g_db;
/* The selectors of the two RSA keys of test_dkim_rotation. */
static char g_sel[2][64];

/* Runs op as actor with path args a0, a1 (NULL = none), a JSON body
 * text (NULL = none), If-Match ifv (-1 any) and list options; returns
 * the error class (MC_ERR_NONE on success) and the output in *out_r
 * (NULL allowed: dropped). */
static enum mc_error_class
run_full(const struct mc_actor *actor, mc_admin_op *op, const char *a0,
	 const char *a1, const char *body, int64_t ifv,
	 const struct mc_admin_list *list, json_t **out_r)
{
	struct mc_admin_settings set = {.pg = g_db->pg, .actor = actor};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_admin_call call = {.args = {a0, a1},
				     .nargs = a1 != NULL ? 2 : 1,
				     .list = list,
				     .if_version = ifv};
	json_t *b = body != NULL ? json_loads(body, 0, NULL) : NULL,
	       *out = NULL;

	if (body != NULL && b == NULL)
		fail_msg("bad test JSON: %s", body);
	call.body = b;
	mc_error_clear(&last_err);
	int r = op(a, &call, &out, &last_err);
	json_decref(last_problem);
	last_problem = mc_admin_problem(a) != NULL
			       ? json_deep_copy(mc_admin_problem(a))
			       : NULL;
	last_dirty = a->dirty;
	if (r == 0)
		mc_error_clear(&last_err);
	else
		assert_null(out);
	if (out_r != NULL)
		*out_r = out;
	else
		json_decref(out);
	json_decref(b);
	mc_admin_destroy(&a);
	return r == 0 ? MC_ERR_NONE : last_err.cls;
}

/* run_full without If-Match and list options. */
static enum mc_error_class run(const struct mc_actor *actor, mc_admin_op *op,
			       const char *a0, const char *a1, const char *body,
			       json_t **out_r)
{
	return run_full(actor, op, a0, a1, body, -1, NULL, out_r);
}

/* The field named by the first error of the last problem. */
static const char *error_field(void)
{
	json_t *e = json_array_get(json_object_get(last_problem, "errors"), 0);
	return json_string_value(json_object_get(e, "field"));
}

/* A string member. */
static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* An integer member. */
static long long num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static int db_setup(void **state)
{
	struct db *db = calloc(1, sizeof(*db));
	db->pg = mc_test_pg_schema("mailset", db->schema, sizeof(db->schema));
	if (db->pg != NULL) {
		mc_test_sql(db->pg, "INSERT INTO tenants (name) VALUES "
				    "('t1'), ('t2')");
		mc_test_sql(db->pg, "INSERT INTO domains (tenant_id, name) "
				    "VALUES (1, 'a.test'), (2, 'b.test'), "
				    "(1, 'c.test')");
		mc_test_sql(db->pg, "INSERT INTO departments (tenant_id, "
				    "domain_id, name) VALUES (1, 1, 'Sales'), "
				    "(2, 2, 'Other')");
		mc_test_sql(db->pg, "INSERT INTO users (tenant_id, domain_id, "
				    "local_part, password_hash) VALUES "
				    "(1, 1, 'ann', 'x')");
	}
	g_db = db;
	*state = db;
	return 0;
}

static int db_teardown(void **state)
{
	struct db *db = *state;
	mc_test_pg_drop_schema(&db->pg, db->schema);
	json_decref(last_problem);
	last_problem = NULL;
	free(db);
	return 0;
}

#define NEED_DB()                                                              \
	do {                                                                   \
		if (((struct db *)*state)->pg == NULL)                         \
			skip();                                                \
	} while (0)

/* An assistant creates and reads an alias: the exact output members,
 * normalised addresses, the audit record, the directory marked dirty. */
static void test_alias_crud(void **state)
{
	NEED_DB();
	json_t *out;
	assert_int_equal(
		run(&asst, admin_alias_create, "A.test", NULL,
		    "{\"local_part\": \"Sales\", \"targets\": [\"ann@A.test\", "
		    "\"Bob.X@Ext.Example\"], \"description\": \"team\"}",
		    &out),
		MC_ERR_NONE);
	assert_true(last_dirty);
	assert_string_equal(str(out, "address"), "sales@a.test");
	assert_string_equal(str(out, "local_part"), "sales");
	assert_string_equal(str(out, "kind"), "alias");
	assert_string_equal(str(out, "description"), "team");
	assert_int_equal(num(out, "version"), 1);
	assert_non_null(str(out, "created_at"));
	json_t *want = json_pack("[ss]", "ann@a.test", "Bob.X@ext.example");
	assert_true(json_equal(json_object_get(out, "targets"), want));
	json_decref(want);
	assert_int_equal(json_object_size(out), 7);
	json_t *got;
	assert_int_equal(
		run(&asst, admin_alias_get, "a.test", "SALES", NULL, &got),
		MC_ERR_NONE);
	assert_true(json_equal(out, got));
	json_decref(got);
	json_decref(out);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM audit_log WHERE "
				     "action = 'alias.create' AND target = "
				     "'sales@a.test' AND actor_role = "
				     "'assistant' AND changes->>'kind' = "
				     "'alias'"),
			 1);
}

/* The alias's update (If-Match, no rename) and delete, both audited. */
static void test_alias_update_delete(void **state)
{
	NEED_DB();
	json_t *out;
	assert_int_equal(run_full(&asst, admin_alias_update, "a.test", "sales",
				  "{\"targets\": [\"bob@ext.example\"]}", 1,
				  NULL, &out),
			 MC_ERR_NONE);
	assert_int_equal(num(out, "version"), 2);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(out, "targets"), 0)),
			    "bob@ext.example");
	assert_string_equal(str(out, "description"), "team");
	json_decref(out);
	assert_int_equal(run_full(&asst, admin_alias_update, "a.test", "sales",
				  "{\"description\": \"x\"}", 1, NULL, NULL),
			 MC_ERR_STALE);
	assert_int_equal(run(&asst, admin_alias_update, "a.test", "sales",
			     "{\"local_part\": \"s2\"}", NULL),
			 MC_ERR_INVALID);
	assert_string_equal(error_field(), "local_part");
	assert_int_equal(run_full(&asst, admin_alias_delete, "a.test", "sales",
				  NULL, 1, NULL, NULL),
			 MC_ERR_STALE);
	assert_int_equal(run_full(&asst, admin_alias_delete, "a.test", "sales",
				  NULL, 2, NULL, NULL),
			 MC_ERR_NONE);
	assert_true(last_dirty);
	assert_int_equal(
		run(&asst, admin_alias_get, "a.test", "sales", NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM audit_log WHERE "
				     "target = 'sales@a.test' AND action IN "
				     "('alias.update', 'alias.delete')"),
			 2);
	assert_int_equal(mc_test_num(g_db->pg, "SELECT n_aliases FROM domains "
					       "WHERE id = 1"),
			 0);
}

/* Who may touch aliases: assistant, domain admin and above; department
 * admins and users are denied; another domain's admin does not see it. */
static void test_alias_roles(void **state)
{
	NEED_DB();
	static const struct {
		const struct mc_actor *actor;
		enum mc_error_class want;
	} cases[] = {
		{&prov, MC_ERR_NONE},	   {&tadm, MC_ERR_NONE},
		{&dom, MC_ERR_NONE},	   {&asst, MC_ERR_NONE},
		{&dept, MC_ERR_DENIED},	   {&user, MC_ERR_DENIED},
		{&other, MC_ERR_NOTFOUND},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (run(cases[i].actor, admin_alias_list, "a.test", NULL, NULL,
			NULL) != cases[i].want)
			fail_msg("list case %zu: %s", i, last_err.msg);
	}
	assert_int_equal(run(&dept, admin_alias_create, "a.test", NULL,
			     "{\"local_part\": \"d\", \"targets\": "
			     "[\"ann@a.test\"]}",
			     NULL),
			 MC_ERR_DENIED);
	assert_int_equal(run(&other, admin_alias_create, "a.test", NULL,
			     "{\"local_part\": \"d\", \"targets\": "
			     "[\"ann@a.test\"]}",
			     NULL),
			 MC_ERR_NOTFOUND);
	assert_int_equal(mc_test_num(g_db->pg, "SELECT count(*) FROM aliases "
					       "WHERE local_part = 'd'"),
			 0);
}

/* Bad bodies are field errors naming the field; nothing is written. */
static void test_alias_validation(void **state)
{
	NEED_DB();
	static const struct {
		const char *body, *field;
	} cases[] = {
		{"{\"local_part\": \"x\"}", "targets"},
		{"{\"local_part\": \"x\", \"targets\": []}", "targets"},
		{"{\"local_part\": \"x\", \"targets\": [\"x@a.test\"]}",
		 "targets"},
		{"{\"local_part\": \"x\", \"targets\": [\"nobody\"]}",
		 "targets"},
		{"{\"local_part\": \"a b\", \"targets\": [\"ann@a.test\"]}",
		 "local_part"},
		{"{\"targets\": [\"ann@a.test\"]}", "local_part"},
		{"{\"local_part\": \"x\", \"kind\": \"list\", \"targets\": "
		 "[\"ann@a.test\"]}",
		 "kind"},
		{"{\"local_part\": \"x\", \"color\": 1, \"targets\": "
		 "[\"ann@a.test\"]}",
		 "color"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		if (run(&dom, admin_alias_create, "a.test", NULL, cases[i].body,
			NULL) != MC_ERR_INVALID)
			fail_msg("case %zu accepted", i);
		if (error_field() == NULL ||
		    strcmp(error_field(), cases[i].field) != 0)
			fail_msg("case %zu: field %s", i, error_field());
	}
	/* 1001 targets */
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "{\"local_part\": \"big\", \"targets\": [");
	for (int i = 0; i < 1001; i++)
		mc_buf_printf(&b, "%s\"u%d@ext.example\"", i > 0 ? "," : "", i);
	mc_buf_append_str(&b, "]}");
	assert_int_equal(run(&dom, admin_alias_create, "a.test", NULL,
			     mc_buf_cstr(&b), NULL),
			 MC_ERR_INVALID);
	assert_string_equal(error_field(), "targets");
	mc_buf_free(&b);
	assert_int_equal(mc_test_num(g_db->pg, "SELECT count(*) FROM aliases"),
			 0);
}

/* An alias cannot take a user's address, nor an existing alias's. */
static void test_alias_collision(void **state)
{
	NEED_DB();
	assert_int_equal(run(&dom, admin_alias_create, "a.test", NULL,
			     "{\"local_part\": \"ANN\", \"targets\": "
			     "[\"x@ext.example\"]}",
			     NULL),
			 MC_ERR_EXISTS);
	assert_non_null(strstr(last_err.msg, "ann@a.test"));
	assert_int_equal(run(&dom, admin_alias_create, "a.test", NULL,
			     "{\"local_part\": \"info\", \"targets\": "
			     "[\"ann@a.test\"]}",
			     NULL),
			 MC_ERR_NONE);
	assert_int_equal(run(&dom, admin_alias_create, "a.test", NULL,
			     "{\"local_part\": \"info\", \"kind\": \"group\", "
			     "\"targets\": [\"ann@a.test\"]}",
			     NULL),
			 MC_ERR_EXISTS);
	assert_non_null(strstr(last_err.msg, "already exists"));
	assert_int_equal(
		run(&dom, admin_alias_delete, "a.test", "info", NULL, NULL),
		MC_ERR_NONE);
}

/* Groups count against lim_lists (aliases do not), also when an alias
 * becomes a group. */
static void test_group_limit(void **state)
{
	NEED_DB();
	mc_test_sql(g_db->pg, "UPDATE domains SET lim_lists = 1 WHERE id = 1");
	const char *g = "{\"local_part\": \"%s\", \"kind\": \"%s\", "
			"\"targets\": [\"ann@a.test\"]}";
	char body[200];
	snprintf(body, sizeof(body), g, "g1", "group");
	assert_int_equal(
		run(&asst, admin_alias_create, "a.test", NULL, body, NULL),
		MC_ERR_NONE);
	snprintf(body, sizeof(body), g, "g2", "group");
	assert_int_equal(
		run(&asst, admin_alias_create, "a.test", NULL, body, NULL),
		MC_ERR_LIMIT);
	assert_string_equal(str(last_problem, "limit"), "lists");
	assert_string_equal(str(last_problem, "level"), "domain");
	assert_string_equal(str(last_problem, "name"), "a.test");
	assert_int_equal(num(last_problem, "max"), 1);
	snprintf(body, sizeof(body), g, "al1", "alias");
	assert_int_equal(
		run(&asst, admin_alias_create, "a.test", NULL, body, NULL),
		MC_ERR_NONE);
	assert_int_equal(run(&asst, admin_alias_update, "a.test", "al1",
			     "{\"kind\": \"group\"}", NULL),
			 MC_ERR_LIMIT);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT n_lists * 10 + n_aliases FROM "
				     "domains WHERE id = 1"),
			 11);
	mc_test_sql(g_db->pg, "UPDATE domains SET lim_lists = 0 WHERE id = 1");
	mc_test_sql(g_db->pg, "DELETE FROM aliases");
}

/* Pages of two follow each other by cursor; kind and q filter. */
static void test_alias_list(void **state)
{
	NEED_DB();
	static const char *const names[] = {"l1", "l2", "l3", "l4", "l5"};
	char body[200];
	for (size_t i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
			 "{\"local_part\": \"%s\", \"kind\": \"%s\", "
			 "\"targets\": [\"ann@a.test\"]}",
			 names[i], i % 2 ? "group" : "alias");
		assert_int_equal(run(&dom, admin_alias_create, "a.test", NULL,
				     body, NULL),
				 MC_ERR_NONE);
	}
	struct mc_admin_list q = {.limit = 2};
	json_t *page;
	char seen[64] = "";
	for (int n = 0; n < 3; n++) {
		assert_int_equal(run_full(&asst, admin_alias_list, "a.test",
					  NULL, NULL, -1, &q, &page),
				 MC_ERR_NONE);
		json_t *items = json_object_get(page, "items"), *it;
		size_t i;
		json_array_foreach(items, i, it)
		{
			strcat(seen, str(it, "local_part"));
		}
		const char *next = str(page, "next_cursor");
		assert_true((next != NULL) == (n < 2));
		static char cursor[512];
		if (next != NULL)
			snprintf(cursor, sizeof(cursor), "%s", next);
		q.cursor = cursor;
		json_decref(page);
	}
	assert_string_equal(seen, "l1l2l3l4l5");

	json_t *f = json_pack("{ss}", "kind", "group");
	struct mc_admin_list fq = {.filters = f, .sort = "-local_part"};
	assert_int_equal(run_full(&asst, admin_alias_list, "a.test", NULL, NULL,
				  -1, &fq, &page),
			 MC_ERR_NONE);
	json_t *items = json_object_get(page, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(str(json_array_get(items, 0), "local_part"), "l4");
	json_decref(page);
	json_object_set_new(f, "kind", json_string("list"));
	assert_int_equal(run_full(&asst, admin_alias_list, "a.test", NULL, NULL,
				  -1, &fq, NULL),
			 MC_ERR_INVALID);
	json_object_del(f, "kind");
	json_object_set_new(f, "q", json_string("L3"));
	assert_int_equal(run_full(&asst, admin_alias_list, "a.test", NULL, NULL,
				  -1, &fq, &page),
			 MC_ERR_NONE);
	assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
	json_decref(page);
	json_decref(f);
	mc_test_sql(g_db->pg, "DELETE FROM aliases");
}

/* BCC rules: create (source must be "*" or a user/alias of the domain),
 * duplicates and field errors. */
static void test_bcc(void **state)
{
	NEED_DB();
	json_t *out;
	assert_int_equal(run(&asst, admin_bcc_create, "a.test", NULL,
			     "{\"direction\": \"in\", \"local_part\": \"Ann\", "
			     "\"target\": \"archive@Ext.example\"}",
			     &out),
			 MC_ERR_NONE);
	assert_true(last_dirty);
	assert_string_equal(str(out, "direction"), "in");
	assert_string_equal(str(out, "local_part"), "ann");
	assert_string_equal(str(out, "target"), "archive@ext.example");
	assert_int_equal(num(out, "version"), 1);
	assert_true(num(out, "id") > 0);
	char id[24];
	snprintf(id, sizeof(id), "%lld", num(out, "id"));
	json_decref(out);
	assert_int_equal(run(&asst, admin_bcc_create, "a.test", NULL,
			     "{\"direction\": \"in\", \"local_part\": \"ann\", "
			     "\"target\": \"archive@ext.example\"}",
			     NULL),
			 MC_ERR_EXISTS);
	assert_int_equal(run(&asst, admin_bcc_create, "a.test", NULL,
			     "{\"direction\": \"out\", \"local_part\": \"*\", "
			     "\"target\": \"journal@ext.example\"}",
			     NULL),
			 MC_ERR_NONE);
	static const struct {
		const char *body, *field;
	} bad[] = {
		{"{\"direction\": \"up\", \"local_part\": \"*\", \"target\": "
		 "\"j@ext.example\"}",
		 "direction"},
		{"{\"direction\": \"in\", \"local_part\": \"nobody\", "
		 "\"target\": \"j@ext.example\"}",
		 "local_part"},
		{"{\"direction\": \"in\", \"local_part\": \"*\", \"target\": "
		 "\"nope\"}",
		 "target"},
		{"{\"direction\": \"in\", \"local_part\": \"ann\", \"target\": "
		 "\"ann@a.test\"}",
		 "target"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (run(&asst, admin_bcc_create, "a.test", NULL, bad[i].body,
			NULL) != MC_ERR_INVALID ||
		    strcmp(error_field(), bad[i].field) != 0)
			fail_msg("bad case %zu: %s", i, last_err.msg);
	}
}

/* BCC rules listed by direction and deleted (If-Match); department
 * admins are denied, another domain's admin does not see them. */
static void test_bcc_list_delete(void **state)
{
	NEED_DB();
	json_t *out;
	char id[24];
	snprintf(id, sizeof(id), "%lld",
		 mc_test_num(g_db->pg, "SELECT id FROM bcc_rules WHERE "
				       "local_part = 'ann'"));
	json_t *f = json_pack("{ss}", "direction", "out");
	struct mc_admin_list q = {.filters = f};
	assert_int_equal(run_full(&dom, admin_bcc_list, "a.test", NULL, NULL,
				  -1, &q, &out),
			 MC_ERR_NONE);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str(json_array_get(items, 0), "local_part"), "*");
	json_decref(out);
	json_object_del(f, "direction");
	json_object_set_new(f, "q", json_string("ARCHIVE"));
	assert_int_equal(run_full(&dom, admin_bcc_list, "a.test", NULL, NULL,
				  -1, &q, &out),
			 MC_ERR_NONE);
	items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str(json_array_get(items, 0), "target"),
			    "archive@ext.example");
	json_decref(out);
	json_decref(f);
	assert_int_equal(run(&dept, admin_bcc_list, "a.test", NULL, NULL, NULL),
			 MC_ERR_DENIED);
	assert_int_equal(run(&dept, admin_bcc_delete, "a.test", id, NULL, NULL),
			 MC_ERR_DENIED);
	assert_int_equal(
		run(&other, admin_bcc_delete, "a.test", id, NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(run_full(&asst, admin_bcc_delete, "a.test", id, NULL,
				  7, NULL, NULL),
			 MC_ERR_STALE);
	assert_int_equal(run(&asst, admin_bcc_delete, "a.test", id, NULL, NULL),
			 MC_ERR_NONE);
	assert_int_equal(run(&asst, admin_bcc_delete, "a.test", id, NULL, NULL),
			 MC_ERR_NOTFOUND);
	assert_int_equal(
		run(&asst, admin_bcc_delete, "a.test", "x1", NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM audit_log WHERE "
				     "action LIKE 'bcc.%'"),
			 3);
}

/* Policies: create with selectors and settings (absent = null =
 * inherit), positions appended by default, duplicate names. */
static void test_policy_crud(void **state)
{
	NEED_DB();
	json_t *out;
	assert_int_equal(
		run(&dom, admin_policy_create, "a.test", NULL,
		    "{\"name\": \"Staff\", \"departments\": [1], \"members\": "
		    "[\"Bob\"], \"settings\": {\"internal_only\": true, "
		    "\"daily_send_count\": 100, \"protocols\": [\"imap\", "
		    "\"smtp\"]}}",
		    &out),
		MC_ERR_NONE);
	assert_true(last_dirty);
	json_t *want = json_loads(
		"{\"name\": \"staff\", \"position\": 0, \"departments\": [1], "
		"\"members\": [\"bob\"], \"settings\": "
		"{\"attachment_max_bytes\": "
		"null, \"daily_send_count\": 100, \"daily_send_bytes\": null, "
		"\"internal_only\": true, \"protocols\": [\"imap\", "
		"\"smtp\"]}, "
		"\"version\": 1}",
		0, NULL);
	json_object_set(want, "created_at", json_object_get(out, "created_at"));
	assert_true(json_equal(out, want));
	json_decref(want);
	json_decref(out);

	assert_int_equal(run(&dom, admin_policy_create, "a.test", NULL,
			     "{\"name\": \"second\"}", &out),
			 MC_ERR_NONE);
	assert_int_equal(num(out, "position"), 1);
	json_decref(out);
	assert_int_equal(run(&dom, admin_policy_create, "a.test", NULL,
			     "{\"name\": \"first\", \"position\": -5}", NULL),
			 MC_ERR_NONE);
	assert_int_equal(run(&dom, admin_policy_create, "a.test", NULL,
			     "{\"name\": \"first\"}", NULL),
			 MC_ERR_EXISTS);
}

/* PATCH merges settings (null = inherit), checks If-Match and refuses a
 * rename; the list is in position order; delete. */
static void test_policy_update_list(void **state)
{
	NEED_DB();
	json_t *out;
	assert_int_equal(run_full(&dom, admin_policy_update, "a.test", "staff",
				  "{\"settings\": {\"internal_only\": null, "
				  "\"attachment_max_bytes\": 1000}}",
				  1, NULL, &out),
			 MC_ERR_NONE);
	json_t *s = json_object_get(out, "settings");
	assert_true(json_is_null(json_object_get(s, "internal_only")));
	assert_int_equal(num(s, "attachment_max_bytes"), 1000);
	assert_int_equal(num(s, "daily_send_count"), 100);
	assert_int_equal(json_array_size(json_object_get(s, "protocols")), 2);
	assert_int_equal(num(out, "version"), 2);
	assert_int_equal(json_array_size(json_object_get(out, "departments")),
			 1);
	json_decref(out);
	assert_int_equal(run_full(&dom, admin_policy_update, "a.test", "staff",
				  "{\"position\": 3}", 1, NULL, NULL),
			 MC_ERR_STALE);
	assert_int_equal(run(&dom, admin_policy_update, "a.test", "staff",
			     "{\"name\": \"other\"}", NULL),
			 MC_ERR_INVALID);
	assert_string_equal(error_field(), "name");
	assert_int_equal(run(&dom, admin_policy_update, "a.test", "nope",
			     "{\"position\": 3}", NULL),
			 MC_ERR_NOTFOUND);

	assert_int_equal(
		run(&tadm, admin_policy_list, "a.test", NULL, NULL, &out),
		MC_ERR_NONE);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(str(json_array_get(items, 0), "name"), "first");
	assert_string_equal(str(json_array_get(items, 1), "name"), "staff");
	assert_string_equal(str(json_array_get(items, 2), "name"), "second");
	json_decref(out);

	assert_int_equal(
		run(&dom, admin_policy_get, "a.test", "Staff", NULL, &out),
		MC_ERR_NONE);
	assert_int_equal(num(out, "version"), 2);
	json_decref(out);
	assert_int_equal(
		run(&dom, admin_policy_delete, "a.test", "first", NULL, NULL),
		MC_ERR_NONE);
	assert_int_equal(
		run(&dom, admin_policy_get, "a.test", "first", NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM audit_log WHERE "
				     "action LIKE 'policy.%'"),
			 5);
}

/* Departments must be the domain's; settings are checked by type;
 * assistants and department admins are denied, another domain's admin
 * does not see the domain. */
static void test_policy_checks(void **state)
{
	NEED_DB();
	static const struct {
		const char *body, *field;
	} bad[] = {
		{"{\"name\": \"p\", \"departments\": [999]}", "departments"},
		{"{\"name\": \"p\", \"departments\": [2]}", "departments"},
		{"{\"name\": \"p\", \"departments\": [1, 1]}", "departments"},
		{"{\"name\": \"p\", \"departments\": [\"1\"]}", "departments"},
		{"{\"name\": \"p\", \"members\": [\"a b\"]}", "members"},
		{"{\"name\": \"p\", \"settings\": {\"color\": 1}}", "color"},
		{"{\"name\": \"p\", \"settings\": {\"protocols\": [\"ftp\"]}}",
		 "settings.protocols"},
		{"{\"name\": \"p\", \"settings\": {\"daily_send_count\": -1}}",
		 "settings.daily_send_count"},
		{"{\"name\": \"p\", \"settings\": {\"internal_only\": 1}}",
		 "settings.internal_only"},
		{"{\"name\": \"-p\"}", "name"},
		{"{\"position\": 1}", "name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (run(&dom, admin_policy_create, "a.test", NULL, bad[i].body,
			NULL) != MC_ERR_INVALID ||
		    error_field() == NULL ||
		    strcmp(error_field(), bad[i].field) != 0)
			fail_msg("bad case %zu: %s", i, last_err.msg);
	}
	assert_int_equal(mc_test_num(g_db->pg, "SELECT count(*) FROM policies "
					       "WHERE name = 'p'"),
			 0);
	assert_int_equal(
		run(&asst, admin_policy_list, "a.test", NULL, NULL, NULL),
		MC_ERR_DENIED);
	assert_int_equal(run(&asst, admin_policy_create, "a.test", NULL,
			     "{\"name\": \"p\"}", NULL),
			 MC_ERR_DENIED);
	assert_int_equal(
		run(&dept, admin_policy_get, "a.test", "staff", NULL, NULL),
		MC_ERR_DENIED);
	assert_int_equal(
		run(&other, admin_policy_get, "a.test", "staff", NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(
		run(&asst, admin_policy_delete, "a.test", "staff", NULL, NULL),
		MC_ERR_DENIED);
}

/* Rotation: a second RSA key retires the first (one active, one retired),
 * an Ed25519 key is independent; selectors are generated or given (a
 * taken one is refused); bad algorithms and selectors are field errors. */
static void test_dkim_rotation(void **state)
{
	NEED_DB();
	json_t *k1, *k2, *out;
	assert_int_equal(
		run(&dom, admin_dkim_create, "a.test", NULL, NULL, &k1),
		MC_ERR_NONE);
	assert_string_equal(str(k1, "algorithm"), "rsa-2048");
	assert_string_equal(str(k1, "status"), "active");
	assert_true(json_is_null(json_object_get(k1, "retired_at")));
	const char *s1 = str(k1, "selector");
	assert_true(strncmp(s1, "mc", 2) == 0 && s1[strlen(s1) - 1] == 'r');
	char name[128];
	snprintf(name, sizeof(name), "%s._domainkey.a.test", s1);
	assert_string_equal(str(k1, "dns_name"), name);
	assert_true(strncmp(str(k1, "dns_value"), "v=DKIM1; k=rsa; p=", 18) ==
		    0);
	assert_int_equal(json_object_size(k1), 7);
	assert_int_equal(
		run(&dom, admin_dkim_create, "a.test", NULL, "{}", &k2),
		MC_ERR_NONE);
	const char *s2 = str(k2, "selector");
	assert_string_not_equal(s1, s2);
	snprintf(g_sel[0], sizeof(g_sel[0]), "%s", s1);
	snprintf(g_sel[1], sizeof(g_sel[1]), "%s", s2);
	json_decref(k1);
	json_decref(k2);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FILTER (WHERE status = "
				     "'active') * 10 + count(*) FILTER (WHERE "
				     "status = 'retired' AND retired_at IS NOT "
				     "NULL) FROM dkim_keys WHERE domain_id = 1 "
				     "AND algorithm = 'rsa-2048'"),
			 11);
	assert_int_equal(run(&dom, admin_dkim_create, "a.test", NULL,
			     "{\"algorithm\": \"ed25519\", \"selector\": "
			     "\"edkey\"}",
			     &out),
			 MC_ERR_NONE);
	assert_true(strncmp(str(out, "dns_value"),
			    "v=DKIM1; k=ed25519; p=", 22) == 0);
	json_decref(out);
	assert_int_equal(run(&dom, admin_dkim_create, "a.test", NULL,
			     "{\"algorithm\": \"ed25519\", \"selector\": "
			     "\"edkey\"}",
			     NULL),
			 MC_ERR_EXISTS);
	assert_int_equal(run(&dom, admin_dkim_create, "a.test", NULL,
			     "{\"algorithm\": \"dsa\"}", NULL),
			 MC_ERR_INVALID);
	assert_string_equal(error_field(), "algorithm");
	assert_int_equal(run(&dom, admin_dkim_create, "a.test", NULL,
			     "{\"selector\": \"Bad_Sel\"}", NULL),
			 MC_ERR_INVALID);
	assert_string_equal(error_field(), "selector");
}

/* The list (oldest first) without private keys; the active key cannot be
 * deleted, the retired one can; the audit records name selector and
 * algorithm only; assistants, department admins and users are denied. */
static void test_dkim_list_delete(void **state)
{
	NEED_DB();
	json_t *out;
	const char *s1 = g_sel[0], *s2 = g_sel[1];
	assert_int_equal(run(&dom, admin_dkim_list, "a.test", NULL, NULL, &out),
			 MC_ERR_NONE);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(str(json_array_get(items, 0), "status"), "retired");
	assert_non_null(str(json_array_get(items, 0), "retired_at"));
	char *dump = json_dumps(out, 0);
	assert_null(strstr(dump, "PRIVATE"));
	free(dump);
	json_decref(out);

	assert_int_equal(run(&dom, admin_dkim_delete, "a.test", s2, NULL, NULL),
			 MC_ERR_EXISTS);
	assert_non_null(strstr(last_err.msg, "rotate first"));
	assert_int_equal(
		mc_test_num(g_db->pg,
			    "SELECT count(*) FROM audit_log WHERE "
			    "action = 'dkim.create' AND changes ?& "
			    "'{selector,algorithm}' AND (SELECT "
			    "count(*) FROM jsonb_object_keys(changes)) "
			    "= 2"),
		3);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM audit_log WHERE "
				     "changes::text LIKE '%PRIVATE%'"),
			 0);
	static const struct mc_actor *const denied[] = {&asst, &dept, &user};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(run(denied[i], admin_dkim_create, "a.test",
				     NULL, NULL, NULL),
				 MC_ERR_DENIED);
		assert_int_equal(run(denied[i], admin_dkim_list, "a.test", NULL,
				     NULL, NULL),
				 MC_ERR_DENIED);
		assert_int_equal(run(denied[i], admin_dkim_delete, "a.test", s1,
				     NULL, NULL),
				 MC_ERR_DENIED);
	}
	assert_int_equal(
		run(&other, admin_dkim_list, "a.test", NULL, NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(run(&dom, admin_dkim_delete, "a.test", s1, NULL, NULL),
			 MC_ERR_NONE);
	assert_int_equal(run(&dom, admin_dkim_delete, "a.test", s1, NULL, NULL),
			 MC_ERR_NOTFOUND);
}

/* Finds the record of type whose name is name (and value starts with
 * prefix); NULL when none. */
static json_t *find_record(json_t *records, const char *type, const char *name,
			   const char *prefix)
{
	size_t i;
	json_t *r;

	json_array_foreach(records, i, r)
	{
		if (strcmp(str(r, "type"), type) == 0 &&
		    strcmp(str(r, "name"), name) == 0 &&
		    strncmp(str(r, "value"), prefix, strlen(prefix)) == 0)
			return r;
	}
	return NULL;
}

/* The record set holds MX, SPF, DMARC and the DKIM TXT of the active and
 * the retired key; readable by domain admins and above only (not by
 * assistants or department admins). */
static void test_dns_records(void **state)
{
	NEED_DB();
	json_t *k1, *k2, *out;
	/* Ed25519 keys: rotation as with RSA, but fast to generate */
	const char *ed = "{\"algorithm\": \"ed25519\"}";
	assert_int_equal(run(&tadm, admin_dkim_create, "c.test", NULL, ed, &k1),
			 MC_ERR_NONE);
	assert_int_equal(run(&tadm, admin_dkim_create, "c.test", NULL, ed, &k2),
			 MC_ERR_NONE);
	assert_int_equal(mc_test_num(g_db->pg,
				     "SELECT count(*) FROM dkim_keys WHERE "
				     "domain_id = 3 AND status = 'retired'"),
			 1);
	if (run(&tadm, admin_dns_records, "C.test", NULL, NULL, &out) !=
	    MC_ERR_NONE)
		fail_msg("dns.records: %s", last_err.msg);
	assert_string_equal(str(out, "domain"), "c.test");
	json_t *recs = json_object_get(out, "records");
	json_t *mx = find_record(recs, "MX", "c.test", "localhost.localdomain");
	assert_non_null(mx);
	assert_int_equal(num(mx, "priority"), 10);
	assert_non_null(find_record(recs, "TXT", "c.test", "v=spf1 "));
	assert_non_null(find_record(recs, "TXT", "_dmarc.c.test", "v=DMARC1"));
	json_t *keys[] = {k1, k2};
	for (int i = 0; i < 2; i++) {
		json_t *r = find_record(recs, "TXT", str(keys[i], "dns_name"),
					"v=DKIM1; k=ed25519; p=");
		assert_non_null(r);
		assert_string_equal(str(r, "value"), str(keys[i], "dns_value"));
	}
	json_decref(out);
	assert_int_equal(
		run(&prov, admin_dns_records, "c.test", NULL, NULL, NULL),
		MC_ERR_NONE);
	assert_int_equal(
		run(&dom, admin_dns_records, "a.test", NULL, NULL, NULL),
		MC_ERR_NONE);
	assert_int_equal(
		run(&asst, admin_dns_records, "a.test", NULL, NULL, NULL),
		MC_ERR_DENIED);
	assert_int_equal(
		run(&dept, admin_dns_records, "a.test", NULL, NULL, NULL),
		MC_ERR_DENIED);
	assert_int_equal(
		run(&dom, admin_dns_records, "c.test", NULL, NULL, NULL),
		MC_ERR_NOTFOUND);
	assert_int_equal(
		run(&other, admin_dns_records, "a.test", NULL, NULL, NULL),
		MC_ERR_NOTFOUND);
	json_decref(k1);
	json_decref(k2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alias_crud),
		cmocka_unit_test(test_alias_update_delete),
		cmocka_unit_test(test_alias_roles),
		cmocka_unit_test(test_alias_validation),
		cmocka_unit_test(test_alias_collision),
		cmocka_unit_test(test_group_limit),
		cmocka_unit_test(test_alias_list),
		cmocka_unit_test(test_bcc),
		cmocka_unit_test(test_bcc_list_delete),
		cmocka_unit_test(test_policy_crud),
		cmocka_unit_test(test_policy_update_list),
		cmocka_unit_test(test_policy_checks),
		cmocka_unit_test(test_dkim_rotation),
		cmocka_unit_test(test_dkim_list_delete),
		cmocka_unit_test(test_dns_records),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
