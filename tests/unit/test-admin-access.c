/* test-admin-access: role bindings, API tokens and the audit log against a
 * real PostgreSQL: who may grant which role where (403 vs 404), token
 * secrets (shown once, stored as a hash), token authentication (unknown,
 * revoked, expired, source networks, last use), binding actors, and the
 * audit log as each role sees it, with filters and paging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tenants/src/mc-admin-private.h"
#include "../../tenants/src/mc-admin-token.h"
#include "mailcore/mc-pg.h"
#include "mc-test.h"

static struct mc_pg *pg;
static char schema[128];

/* Actors; the binding ids are those db_setup inserts. */
static const struct mc_actor prov = {.role = MC_ROLE_PROVIDER, .name = "prov"};
static const struct mc_actor res1 = {
	.role = MC_ROLE_RESELLER, .reseller_id = 1, .name = "res1"};
static const struct mc_actor ten1 = {
	.role = MC_ROLE_TENANT, .tenant_id = 1, .name = "ten1"};
static const struct mc_actor dom_a = {.role = MC_ROLE_DOMAIN,
				      .tenant_id = 1,
				      .domain_id = 1,
				      .binding_id = 4,
				      .name = "dom_a"};
static const struct mc_actor dom_b = {.role = MC_ROLE_DOMAIN,
				      .tenant_id = 1,
				      .domain_id = 2,
				      .binding_id = 5,
				      .name = "dom_b"};
static const struct mc_actor dept = {.role = MC_ROLE_DEPARTMENT,
				     .tenant_id = 1,
				     .domain_id = 1,
				     .department_id = 1,
				     .user_id = 1,
				     .binding_id = 1,
				     .name = "dept"};
static const struct mc_actor asst = {.role = MC_ROLE_ASSISTANT,
				     .tenant_id = 1,
				     .domain_id = 1,
				     .user_id = 3,
				     .binding_id = 2,
				     .name = "asst"};
static const struct mc_actor ann = {.role = MC_ROLE_USER,
				    .tenant_id = 1,
				    .domain_id = 1,
				    .user_id = 1,
				    .binding_id = 3,
				    .name = "ann@a.test"};

/* Resellers r1 > r2 and rx; tenants t1 (under r2), t2 (rx); domains
 * a.test, b.test (t1), c.test (t2); departments sales > emea, ops in
 * a.test; users ann (emea), bob (ops), cat, dan@b.test, eve@c.test; and
 * bindings 1 department sales (ann), 2 assistant (cat), 3 user ann,
 * 4 domain a.test (bob), 5 domain b.test, 6 department emea (ann). */
static int db_setup(void **state)
{
	static const char *const sql[] = {
		"INSERT INTO resellers (name) VALUES ('r1')",
		"INSERT INTO resellers (name, parent_id) VALUES ('r2', 1)",
		"INSERT INTO resellers (name) VALUES ('rx')",
		"INSERT INTO tenants (name, reseller_id) VALUES ('t1', 2), "
		"('t2', 3), ('t3', NULL)",
		"INSERT INTO domains (tenant_id, name) VALUES (1, 'a.test'), "
		"(1, 'b.test'), (2, 'c.test')",
		"INSERT INTO departments (tenant_id, domain_id, parent_id, "
		"name) "
		"VALUES (1, 1, NULL, 'sales')",
		"INSERT INTO departments (tenant_id, domain_id, parent_id, "
		"name) "
		"VALUES (1, 1, 1, 'emea'), (1, 1, NULL, 'ops')",
		"INSERT INTO users (tenant_id, domain_id, local_part, "
		"password_hash, department_id) VALUES (1, 1, 'ann', 'x', 2), "
		"(1, 1, 'bob', 'x', 3), (1, 1, 'cat', 'x', NULL), "
		"(1, 2, 'dan', 'x', NULL), (2, 3, 'eve', 'x', NULL)",
		"INSERT INTO role_bindings (role, tenant_id, domain_id, "
		"department_id, holder_tenant, holder_id) VALUES "
		"('department', 1, 1, 1, 1, 1), ('assistant', 1, 1, NULL, 1, "
		"3), "
		"('user', 1, 1, NULL, 1, 1), ('domain', 1, 1, NULL, 1, 2), "
		"('domain', 1, 2, NULL, NULL, NULL), "
		"('department', 1, 1, 2, 1, 1)",
	};
	(void)state;
	pg = mc_test_pg_schema("access", schema, sizeof(schema));
	for (size_t i = 0; pg != NULL && i < sizeof(sql) / sizeof(*sql); i++)
		mc_test_sql(pg, sql[i]);
	return 0;
}

static int db_teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* The outcome of one operation. */
struct result {
	int ret;
	enum mc_error_class cls;
	char field[32];
	char msg[512];
	json_t *out;
};

/* Runs op as actor with arg (or NULL) and a JSON body (or NULL). */
static struct result run(const struct mc_actor *actor, mc_admin_op *op,
			 const char *arg, const char *body)
{
	struct mc_admin_settings set = {.pg = pg, .actor = actor};
	struct mc_admin *a = mc_admin_create(&set);
	json_t *b = body != NULL ? json_loads(body, 0, NULL) : NULL;
	struct mc_admin_call call = {.args = {arg},
				     .nargs = arg != NULL,
				     .body = b,
				     .if_version = -1};
	struct mc_error err = {0};
	struct result r = {0};

	if (body != NULL && b == NULL)
		fail_msg("bad test body %s", body);
	r.ret = op(a, &call, &r.out, &err);
	r.cls = err.cls;
	snprintf(r.msg, sizeof(r.msg), "%s", err.msg);
	const json_t *errors = json_object_get(mc_admin_problem(a), "errors");
	const char *f = json_string_value(
		json_object_get(json_array_get(errors, 0), "field"));
	snprintf(r.field, sizeof(r.field), "%s", f != NULL ? f : "");
	json_decref(b);
	mc_admin_destroy(&a);
	return r;
}

/* Runs a list op with list options. */
static struct result run_list(const struct mc_actor *actor, mc_admin_op *op,
			      const struct mc_admin_list *q)
{
	struct mc_admin_settings set = {.pg = pg, .actor = actor};
	struct mc_admin *a = mc_admin_create(&set);
	struct mc_admin_call call = {.list = q, .if_version = -1};
	struct mc_error err = {0};
	struct result r = {0};

	r.ret = op(a, &call, &r.out, &err);
	r.cls = err.cls;
	snprintf(r.msg, sizeof(r.msg), "%s", err.msg);
	const json_t *errors = json_object_get(mc_admin_problem(a), "errors");
	const char *f = json_string_value(
		json_object_get(json_array_get(errors, 0), "field"));
	snprintf(r.field, sizeof(r.field), "%s", f != NULL ? f : "");
	mc_admin_destroy(&a);
	return r;
}

/* Asserts the outcome class (and the field of INVALID). */
static void expect(const struct result *r, enum mc_error_class cls,
		   const char *field, const char *what)
{
	if (r->cls != cls || (r->ret == 0) != (cls == MC_ERR_NONE))
		fail_msg("%s: expected %s, got %s (%s)", what,
			 mc_error_class_name(cls), mc_error_class_name(r->cls),
			 r->msg);
	if (field != NULL && strcmp(r->field, field) != 0)
		fail_msg("%s: field %s, expected %s", what, r->field, field);
}

/* The integer member of a result. */
static long long member_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The string member of a result ("" when absent). */
static const char *member_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

/* A query number with one %lld filled in. */
static long long num_id(const char *fmt, long long id)
{
	char q[512];
	snprintf(q, sizeof(q), fmt, id);
	return mc_test_num(pg, q);
}

static const struct {
	const struct mc_actor *actor;
	const char *body;
	enum mc_error_class cls;
	const char *field;
} create_cases[] = {
	{&prov, "{\"role\":\"reseller\",\"scope\":{\"reseller\":\"r1\"}}",
	 MC_ERR_NONE, NULL},
	{&res1, "{\"role\":\"reseller\",\"scope\":{\"reseller\":\"r2\"}}",
	 MC_ERR_NONE, NULL},
	{&res1,
	 "{\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"},"
	 "\"holder\":\"ann@a.test\"}",
	 MC_ERR_NONE, NULL},
	{&res1, "{\"role\":\"reseller\",\"scope\":{\"reseller\":\"rx\"}}",
	 MC_ERR_NOTFOUND, NULL},
	{&res1, "{\"role\":\"tenant\",\"scope\":{\"tenant\":\"t2\"}}",
	 MC_ERR_NOTFOUND, NULL},
	{&res1, "{\"role\":\"provider\"}", MC_ERR_DENIED, NULL},
	{&ten1, "{\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"}}",
	 MC_ERR_NONE, NULL},
	{&ten1,
	 "{\"role\":\"domain\",\"scope\":{\"domain\":\"a.test\"},"
	 "\"holder\":\"cat@a.test\"}",
	 MC_ERR_NONE, NULL},
	{&ten1, "{\"role\":\"reseller\",\"scope\":{\"reseller\":\"r2\"}}",
	 MC_ERR_NOTFOUND, NULL},
	{&ten1, "{\"role\":\"domain\",\"scope\":{\"domain\":\"c.test\"}}",
	 MC_ERR_NOTFOUND, NULL},
	/* escalation: a domain admin asks for its own tenant */
	{&dom_a, "{\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"}}",
	 MC_ERR_DENIED, NULL},
	{&dom_a, "{\"role\":\"domain\",\"scope\":{\"domain\":\"a.test\"}}",
	 MC_ERR_NONE, NULL},
	{&dom_a,
	 "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
	 "\"department\":1},\"holder\":\"ann@a.test\",\"label\":\"x\"}",
	 MC_ERR_NONE, NULL},
	{&dom_a,
	 "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
	 "\"department\":2},\"holder\":\"bob@a.test\"}",
	 MC_ERR_INVALID, "holder"},
	{&dom_a, "{\"role\":\"user\",\"holder\":\"bob@a.test\"}", MC_ERR_NONE,
	 NULL},
	{&dom_a, "{\"role\":\"domain\",\"scope\":{\"domain\":\"b.test\"}}",
	 MC_ERR_NOTFOUND, NULL},
	{&dom_a,
	 "{\"role\":\"assistant\",\"scope\":{\"domain\":\"a.test\"},"
	 "\"holder\":\"dan@b.test\"}",
	 MC_ERR_NOTFOUND, NULL},
	{&dom_a,
	 "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
	 "\"department\":99}}",
	 MC_ERR_NOTFOUND, NULL},
	{&dom_a,
	 "{\"role\":\"user\",\"holder\":\"cat@a.test\","
	 "\"scope\":{\"domain\":\"b.test\"}}",
	 MC_ERR_INVALID, "scope"},
	{&dom_b,
	 "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
	 "\"department\":2}}",
	 MC_ERR_NOTFOUND, NULL},
	{&dept,
	 "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
	 "\"department\":2}}",
	 MC_ERR_DENIED, NULL},
	{&asst, "{\"role\":\"assistant\",\"scope\":{\"domain\":\"a.test\"}}",
	 MC_ERR_DENIED, NULL},
	{&ann, "{\"role\":\"user\",\"holder\":\"ann@a.test\"}", MC_ERR_DENIED,
	 NULL},
	{&prov, "{\"role\":\"admin\"}", MC_ERR_INVALID, "role"},
	{&prov, "{\"role\":\"domain\",\"scope\":{\"tenant\":\"t1\"}}",
	 MC_ERR_INVALID, "scope"},
	{&prov, "{\"role\":\"domain\"}", MC_ERR_INVALID, "scope"},
	{&prov, "{\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"},\"x\":1}",
	 MC_ERR_INVALID, "x"},
	{&prov, "{\"role\":\"user\"}", MC_ERR_INVALID, "holder"},
	{&prov,
	 "{\"role\":\"domain\",\"scope\":{\"domain\":\"a.test\"},"
	 "\"holder\":\"nobody\"}",
	 MC_ERR_INVALID, "holder"},
};

/* Each role creates the bindings it may (its role or weaker, inside its
 * subtree); outside is 404, stronger or not allowed 403; every creation
 * is audited at its place. */
static void test_binding_create(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long before = mc_test_num(pg, "SELECT count(*) FROM audit_log "
					   "WHERE action = 'binding.create'");
	int ok = 0;
	for (size_t i = 0; i < sizeof(create_cases) / sizeof(*create_cases);
	     i++) {
		char what[32];
		snprintf(what, sizeof(what), "case %zu", i);
		struct result r =
			run(create_cases[i].actor, admin_binding_create, NULL,
			    create_cases[i].body);
		expect(&r, create_cases[i].cls, create_cases[i].field, what);
		ok += r.ret == 0;
		json_decref(r.out);
	}
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'binding.create'"),
			 before + ok);

	struct result r =
		run(&dom_a, admin_binding_create, NULL,
		    "{\"role\":\"department\",\"scope\":{\"domain\":\"a.test\","
		    "\"department\":1},\"holder\":\"ann@a.test\","
		    "\"label\":\"night\"}");
	expect(&r, MC_ERR_NONE, NULL, "department binding");
	json_t *o = r.out;
	assert_int_equal(json_object_size(o), 7);
	assert_string_equal(member_str(o, "role"), "department");
	json_t *want = json_pack("{sssi}", "domain", "a.test", "department", 1);
	assert_true(json_equal(json_object_get(o, "scope"), want));
	json_decref(want);
	assert_string_equal(member_str(o, "holder"), "ann@a.test");
	assert_string_equal(member_str(o, "label"), "night");
	assert_string_equal(member_str(o, "created_by"), "dom_a");
	assert_int_equal(strlen(member_str(o, "created_at")), 20);
	long long id = member_int(o, "id");
	assert_int_equal(num_id("SELECT count(*) FROM audit_log WHERE "
				"action = 'binding.create' AND target = "
				"'binding %lld' AND domain_id = 1 AND "
				"department_id = 1 AND actor = 'dom_a' AND "
				"changes->>'holder' = 'ann@a.test'",
				id),
			 1);
	json_decref(o);

	/* a binding without a holder shows holder null */
	r = run(&prov, admin_binding_create, NULL, "{\"role\":\"provider\"}");
	expect(&r, MC_ERR_NONE, NULL, "provider binding");
	assert_true(json_is_null(json_object_get(r.out, "holder")));
	assert_int_equal(json_object_size(json_object_get(r.out, "scope")), 0);
	json_decref(r.out);
}

/* Collects every page of a list (limit per page) into one array. */
static json_t *all_pages(const struct mc_actor *actor, mc_admin_op *op,
			 unsigned limit, const char *sort, json_t *filters)
{
	json_t *all = json_array();
	char cursor[1400] = "";
	for (int pages = 0; pages < 100; pages++) {
		struct mc_admin_list q = {.limit = limit,
					  .sort = sort,
					  .filters = filters,
					  .cursor = cursor[0] ? cursor : NULL};
		struct result r = run_list(actor, op, &q);
		expect(&r, MC_ERR_NONE, NULL, "list page");
		json_t *items = json_object_get(r.out, "items");
		assert_true(json_array_size(items) <= limit);
		json_array_extend(all, items);
		const char *next = json_string_value(
			json_object_get(r.out, "next_cursor"));
		if (next == NULL) {
			json_decref(r.out);
			json_decref(filters);
			return all;
		}
		snprintf(cursor, sizeof(cursor), "%s", next);
		json_decref(r.out);
	}
	fail_msg("the list does not end");
	return NULL;
}

/* The bindings each role sees, paged, sorted and filtered. */
static void test_binding_list(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	json_t *all = all_pages(&dom_a, admin_binding_list, 2, NULL, NULL);
	size_t i;
	json_t *item;
	long long last = 0;
	assert_int_equal(json_array_size(all),
			 mc_test_num(pg, "SELECT count(*) FROM role_bindings "
					 "WHERE domain_id = 1"));
	json_array_foreach(all, i, item)
	{
		assert_string_equal(
			member_str(json_object_get(item, "scope"), "domain"),
			"a.test");
		assert_true(member_int(item, "id") > last);
		last = member_int(item, "id");
	}
	json_decref(all);

	all = all_pages(&ann, admin_binding_list, 10, NULL, NULL);
	assert_int_equal(json_array_size(all), 1);
	assert_int_equal(member_int(json_array_get(all, 0), "id"), 3);
	json_decref(all);

	/* department sales: its own (1), emea (6), ann's user binding (3) */
	all = all_pages(&dept, admin_binding_list, 10, NULL, NULL);
	int seen = 0;
	json_array_foreach(all, i, item)
	{
		long long id = member_int(item, "id");
		seen |= (id == 1) | (id == 3) << 1 | (id == 6) << 2;
		assert_int_not_equal(id, 2);
		assert_int_not_equal(id, 4);
	}
	assert_int_equal(seen, 7);
	json_decref(all);

	/* reseller r1: its subtree, never the provider's or rx's */
	all = all_pages(&res1, admin_binding_list, 50, "-id", NULL);
	assert_true(json_array_size(all) >= 8);
	json_array_foreach(all, i, item)
	{
		assert_string_not_equal(member_str(item, "role"), "provider");
		assert_string_not_equal(
			member_str(json_object_get(item, "scope"), "reseller"),
			"rx");
		if (i > 0)
			assert_true(
				member_int(item, "id") <
				member_int(json_array_get(all, i - 1), "id"));
	}
	json_decref(all);

	all = all_pages(&ten1, admin_binding_list, 50, NULL,
			json_pack("{ss}", "role", "domain"));
	assert_true(json_array_size(all) >= 3);
	json_array_foreach(all, i, item)
		assert_string_equal(member_str(item, "role"), "domain");
	json_decref(all);
}

/* Get inside and outside the subtree; delete needs the grant and takes
 * the binding's tokens with it. */
static void test_binding_get_delete(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct result r = run(&dom_a, admin_binding_get, "5", NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "get b.test binding");
	r = run(&dom_a, admin_binding_get, "4", NULL);
	expect(&r, MC_ERR_NONE, NULL, "get");
	assert_string_equal(member_str(r.out, "holder"), "bob@a.test");
	json_decref(r.out);
	r = run(&dom_a, admin_binding_get, "x", NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "get x");

	mc_test_sql(pg, "INSERT INTO api_tokens (binding_id, name, prefix, "
			"hash) VALUES (6, 'doomed', 'mct_x', '\\x01')");
	r = run(&dept, admin_binding_delete, "6", NULL);
	expect(&r, MC_ERR_DENIED, NULL, "department admin deletes");
	r = run(&dom_b, admin_binding_delete, "6", NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "other domain deletes");
	r = run(&dom_a, admin_binding_delete, "6", NULL);
	expect(&r, MC_ERR_NONE, NULL, "domain admin deletes");
	assert_null(r.out);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM role_bindings "
					 "WHERE id = 6"),
			 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM api_tokens "
					 "WHERE name = 'doomed'"),
			 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM audit_log "
					 "WHERE action = 'binding.delete' AND "
					 "target = 'binding 6' AND "
					 "changes->>'tokens' = '1' AND "
					 "department_id = 2"),
			 1);
}

/* Creates a token that must succeed; returns the response. */
static json_t *token_ok(const struct mc_actor *actor, const char *body)
{
	struct result r = run(actor, admin_token_create, NULL, body);
	expect(&r, MC_ERR_NONE, NULL, body);
	return r.out;
}

/* The secret is "mct_" + 43 base64url characters, returned once; the
 * database holds its SHA-256 and prefix only; the audit record names the
 * token but not the secret. */
static void test_token_secret(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	json_t *o = token_ok(&prov, "{\"name\":\"ci\",\"role\":\"provider\","
				    "\"expires_at\":null}");
	char tok[64], q[512];
	snprintf(tok, sizeof(tok), "%s", member_str(o, "token"));
	assert_int_equal(strlen(tok), 47);
	assert_memory_equal(tok, "mct_", 4);
	assert_int_equal(strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
					 "klmnopqrstuvwxyz0123456789-_"),
			 43);
	assert_int_equal(strlen(member_str(o, "prefix")), 12);
	assert_memory_equal(member_str(o, "prefix"), tok, 12);
	assert_true(json_is_null(json_object_get(o, "expires_at")));
	assert_null(json_object_get(o, "hash"));
	assert_string_equal(member_str(o, "role"), "provider");
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM api_tokens WHERE hash = "
		 "sha256(convert_to('%s', 'UTF8'))",
		 tok);
	assert_int_equal(mc_test_num(pg, q), 1);
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM api_tokens k WHERE "
		 "position('%s' in k::text) > 0",
		 tok + 12);
	assert_int_equal(mc_test_num(pg, q), 0);
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM audit_log a WHERE "
		 "position('%s' in a::text) > 0",
		 tok + 12);
	assert_int_equal(mc_test_num(pg, q), 0);
	assert_int_equal(num_id("SELECT count(*) FROM audit_log WHERE "
				"action = 'token.create' AND target = "
				"'token %lld' AND changes->>'name' = 'ci' AND "
				"changes->>'role' = 'provider' AND "
				"changes->'expires_at' = 'null'",
				member_int(o, "id")),
			 1);
	/* the get does not show the secret again */
	char id[24];
	snprintf(id, sizeof(id), "%lld", member_int(o, "id"));
	struct result r = run(&prov, admin_token_get, id, NULL);
	expect(&r, MC_ERR_NONE, NULL, "get");
	assert_null(json_object_get(r.out, "token"));
	assert_int_equal(json_object_size(r.out), 13);
	json_decref(r.out);
	json_decref(o);
}

static const struct {
	const struct mc_actor *actor;
	const char *body;
	enum mc_error_class cls;
	const char *field;
} token_cases[] = {
	{&ten1,
	 "{\"name\":\"x\",\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"},"
	 "\"expires_at\":null}",
	 MC_ERR_INVALID, "expires_at"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"expires_in_days\":0}",
	 MC_ERR_INVALID, "expires_in_days"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"expires_in_days\":3651}",
	 MC_ERR_INVALID, "expires_in_days"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"expires_in_days\":3650}",
	 MC_ERR_NONE, NULL},
	{&prov,
	 "{\"name\":\"x\",\"binding\":4,\"expires_at\":"
	 "\"2000-01-01T00:00:00Z\"}",
	 MC_ERR_INVALID, "expires_at"},
	{&prov,
	 "{\"name\":\"x\",\"binding\":4,\"expires_at\":"
	 "\"2999-01-01T00:00:00Z\"}",
	 MC_ERR_INVALID, "expires_at"},
	{&prov,
	 "{\"name\":\"x\",\"binding\":4,\"expires_at\":"
	 "\"2030-02-30T00:00:00Z\"}",
	 MC_ERR_INVALID, "expires_at"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"expires_at\":\"soon\"}",
	 MC_ERR_INVALID, "expires_at"},
	{&prov,
	 "{\"name\":\"x\",\"binding\":4,\"expires_at\":"
	 "\"2030-01-01T00:00:00Z\",\"expires_in_days\":5}",
	 MC_ERR_INVALID, "expires_in_days"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"networks\":[\"10.0.0.1/8\"]}",
	 MC_ERR_INVALID, "networks"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"networks\":[\"nope\"]}",
	 MC_ERR_INVALID, "networks"},
	{&prov, "{\"name\":\"x\"}", MC_ERR_INVALID, "binding"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"role\":\"provider\"}",
	 MC_ERR_INVALID, "binding"},
	{&prov, "{\"binding\":4}", MC_ERR_INVALID, "name"},
	{&prov, "{\"name\":\"x\",\"binding\":4,\"secret\":\"s\"}",
	 MC_ERR_INVALID, "secret"},
	{&prov, "{\"name\":\"x\",\"binding\":999}", MC_ERR_NOTFOUND, NULL},
	/* a domain admin: not above itself, not in another domain */
	{&dom_a,
	 "{\"name\":\"x\",\"role\":\"tenant\",\"scope\":{\"tenant\":\"t1\"}}",
	 MC_ERR_DENIED, NULL},
	{&dom_a, "{\"name\":\"x\",\"binding\":5}", MC_ERR_NOTFOUND, NULL},
	{&dom_a, "{\"name\":\"x\",\"binding\":3}", MC_ERR_NONE, NULL},
	{&dom_a,
	 "{\"name\":\"x\",\"role\":\"assistant\","
	 "\"scope\":{\"domain\":\"a.test\"}}",
	 MC_ERR_NONE, NULL},
	/* department admins, assistants, users: their own binding only */
	{&dept, "{\"name\":\"x\",\"binding\":1}", MC_ERR_NONE, NULL},
	{&dept, "{\"name\":\"x\",\"binding\":3}", MC_ERR_DENIED, NULL},
	{&dept, "{\"name\":\"x\",\"binding\":4}", MC_ERR_NOTFOUND, NULL},
	{&dept,
	 "{\"name\":\"x\",\"role\":\"department\",\"scope\":{\"domain\":"
	 "\"a.test\",\"department\":1}}",
	 MC_ERR_DENIED, NULL},
	{&asst, "{\"name\":\"x\",\"binding\":2}", MC_ERR_NONE, NULL},
	{&asst, "{\"name\":\"x\",\"binding\":4}", MC_ERR_NOTFOUND, NULL},
	{&ann, "{\"name\":\"x\",\"binding\":3}", MC_ERR_NONE, NULL},
	{&ann, "{\"name\":\"x\",\"binding\":1}", MC_ERR_NOTFOUND, NULL},
	{&res1, "{\"name\":\"x\",\"binding\":4}", MC_ERR_NONE, NULL},
	{&res1, "{\"name\":\"x\",\"role\":\"provider\"}", MC_ERR_DENIED, NULL},
};

/* Who may create tokens for which binding, and the checks of the
 * request (expiry, networks, binding or role). */
static void test_token_create(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	long long before = mc_test_num(pg, "SELECT count(*) FROM api_tokens");
	int ok = 0;
	for (size_t i = 0; i < sizeof(token_cases) / sizeof(*token_cases);
	     i++) {
		char what[32];
		snprintf(what, sizeof(what), "token case %zu", i);
		struct result r = run(token_cases[i].actor, admin_token_create,
				      NULL, token_cases[i].body);
		expect(&r, token_cases[i].cls, token_cases[i].field, what);
		ok += r.ret == 0;
		json_decref(r.out);
	}
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM api_tokens"),
			 before + ok);

	/* default expiry 90 days; networks normalised */
	json_t *o = token_ok(&dom_a, "{\"name\":\"d90\",\"binding\":4,"
				     "\"networks\":[\"10.0.0.0/8\","
				     "\"2001:DB8::/32\", \"192.0.2.7\"]}");
	assert_int_equal(num_id("SELECT count(*) FROM api_tokens WHERE id = "
				"%lld AND expires_at BETWEEN now() + "
				"interval '89 days' AND now() + "
				"interval '91 days'",
				member_int(o, "id")),
			 1);
	json_t *nets = json_pack("[sss]", "10.0.0.0/8", "2001:db8::/32",
				 "192.0.2.7/32");
	assert_true(json_equal(json_object_get(o, "networks"), nets));
	json_decref(nets);
	assert_int_equal(member_int(o, "binding"), 4);
	assert_string_equal(member_str(json_object_get(o, "scope"), "domain"),
			    "a.test");
	json_decref(o);

	/* an explicit expiry with an offset comes back in UTC */
	char body[256], when[32], want[32];
	time_t t = time(NULL) + 86400;
	struct tm tm;
	gmtime_r(&t, &tm);
	tm.tm_hour = 10;
	tm.tm_min = 0;
	tm.tm_sec = 0;
	t = timegm(&tm) + 86400;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S+02:00", &tm);
	mc_admin_format_time(t - 7200, want);
	snprintf(body, sizeof(body),
		 "{\"name\":\"dated\",\"binding\":4,\"expires_at\":\"%s\"}",
		 when);
	o = token_ok(&prov, body);
	assert_string_equal(member_str(o, "expires_at"), want);
	json_decref(o);
}

/* Authenticates token from ip; returns the result class. */
static enum mc_error_class auth(const char *token, const char *ip,
				struct mc_actor *actor, char *msg)
{
	struct mc_error err = {0};
	int r = mc_admin_token_authenticate(pg, token, ip, actor, &err);
	if (msg != NULL)
		snprintf(msg, 512, "%s", err.msg);
	assert_true((r == 0) == (err.cls == MC_ERR_NONE));
	return err.cls;
}

static char net_token[64];
static long long net_id;

/* Authentication fills the actor from the token's binding and records
 * the first use. */
static void test_token_authenticate(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	json_t *o = token_ok(&prov, "{\"name\":\"net\",\"binding\":4,"
				    "\"networks\":[\"10.0.0.0/8\","
				    "\"2001:db8::/32\"]}");
	long long id = net_id = member_int(o, "id");
	snprintf(net_token, sizeof(net_token), "%s", member_str(o, "token"));
	json_decref(o);

	const char *tok = net_token;
	struct mc_actor ac;
	assert_int_equal(auth(tok, "10.1.2.3", &ac, NULL), MC_ERR_NONE);
	assert_int_equal(ac.role, MC_ROLE_DOMAIN);
	assert_int_equal(ac.tenant_id, 1);
	assert_int_equal(ac.domain_id, 1);
	assert_int_equal(ac.binding_id, 4);
	assert_int_equal(ac.token_id, id);
	assert_int_equal(ac.user_id, 2);
	char name[64];
	snprintf(name, sizeof(name), "token %lld (net)", id);
	assert_string_equal(ac.name, name);
	assert_string_equal(ac.client_ip, "10.1.2.3");
	assert_int_equal(num_id("SELECT count(*) FROM api_tokens WHERE id = "
				"%lld AND last_used_at IS NOT NULL AND "
				"last_used_ip = '10.1.2.3'",
				id),
			 1);
}

/* Source networks (IPv4, IPv6, IPv4-mapped); last use at most once a
 * minute. */
static void test_token_networks(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	const char *tok = net_token;
	long long id = net_id;
	struct mc_actor ac;
	char msg[512];
	static const struct {
		const char *ip;
		enum mc_error_class cls;
	} nets[] = {
		{"::ffff:10.9.9.9", MC_ERR_NONE},
		{"2001:db8::5", MC_ERR_NONE},
		{"192.168.1.1", MC_ERR_DENIED},
		{"2001:db9::1", MC_ERR_DENIED},
		{"", MC_ERR_DENIED},
		{"not-an-ip", MC_ERR_DENIED},
	};
	for (size_t i = 0; i < sizeof(nets) / sizeof(*nets); i++) {
		if (auth(tok, nets[i].ip, &ac, msg) != nets[i].cls)
			fail_msg("network case %zu: %s", i, msg);
	}
	/* used again within the minute: the first use stays recorded */
	assert_int_equal(num_id("SELECT count(*) FROM api_tokens WHERE id = "
				"%lld AND last_used_ip = '10.1.2.3'",
				id),
			 1);
	num_id("UPDATE api_tokens SET last_used_at = now() - "
	       "interval '2 minutes' WHERE id = %lld RETURNING 1",
	       id);
	assert_int_equal(auth(tok, "2001:db8::5", &ac, NULL), MC_ERR_NONE);
	assert_int_equal(num_id("SELECT count(*) FROM api_tokens WHERE id = "
				"%lld AND last_used_ip = '2001:db8::5' AND "
				"last_used_at > now() - interval '10 seconds'",
				id),
			 1);
}

/* Unknown, malformed and expired tokens are refused. */
static void test_token_refused(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_actor ac;
	char msg[512], tok[64];
	long long id = net_id;
	snprintf(tok, sizeof(tok), "%s", net_token);

	/* unknown and malformed */
	assert_int_equal(auth("mct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			      "10.1.2.3", &ac, msg),
			 MC_ERR_DENIED);
	assert_non_null(strstr(msg, "unknown"));
	assert_int_equal(auth("abc", "10.1.2.3", &ac, NULL), MC_ERR_DENIED);
	assert_int_equal(auth(NULL, "10.1.2.3", &ac, NULL), MC_ERR_DENIED);
	char bad[64];
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[20] = '!';
	assert_int_equal(auth(bad, "10.1.2.3", &ac, NULL), MC_ERR_DENIED);

	/* expired */
	num_id("UPDATE api_tokens SET expires_at = now() - interval '1 minute' "
	       "WHERE id = %lld RETURNING 1",
	       id);
	assert_int_equal(auth(tok, "10.1.2.3", &ac, msg), MC_ERR_DENIED);
	assert_non_null(strstr(msg, "expired"));
}

/* A user's token: the user is the actor; revoked (once): refused. */
static void test_token_revoked(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_actor ac;
	char msg[512], tok[64];
	json_t *o = token_ok(&ann, "{\"name\":\"mine\",\"binding\":3}");
	snprintf(tok, sizeof(tok), "%s", member_str(o, "token"));
	char idtext[24];
	snprintf(idtext, sizeof(idtext), "%lld", member_int(o, "id"));
	json_decref(o);
	assert_int_equal(auth(tok, "", &ac, NULL), MC_ERR_NONE);
	assert_int_equal(ac.role, MC_ROLE_USER);
	assert_int_equal(ac.user_id, 1);
	assert_string_equal(ac.client_ip, "");
	struct result r = run(&ann, admin_token_delete, idtext, NULL);
	expect(&r, MC_ERR_NONE, NULL, "revoke own");
	assert_int_equal(auth(tok, "", &ac, msg), MC_ERR_DENIED);
	assert_non_null(strstr(msg, "revoked"));
	r = run(&ann, admin_token_delete, idtext, NULL);
	expect(&r, MC_ERR_NONE, NULL, "revoke twice");
	char q[256];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM audit_log WHERE action = "
		 "'token.delete' AND target = 'token %s' AND "
		 "actor = 'ann@a.test' AND domain_id = 1",
		 idtext);
	assert_int_equal(mc_test_num(pg, q), 1);
	r = run(&ann, admin_token_get, idtext, NULL);
	expect(&r, MC_ERR_NONE, NULL, "get revoked");
	assert_true(json_is_string(json_object_get(r.out, "revoked_at")));
	json_decref(r.out);
}

/* The actor of a binding for web sessions. */
static void test_binding_actor(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_actor ac;
	struct mc_error err = {0};
	assert_int_equal(mc_admin_binding_actor(pg, 4, &ac, &err), 0);
	assert_int_equal(ac.role, MC_ROLE_DOMAIN);
	assert_int_equal(ac.domain_id, 1);
	assert_int_equal(ac.user_id, 2);
	assert_int_equal(ac.binding_id, 4);
	assert_int_equal(ac.token_id, 0);
	assert_string_equal(ac.name, "bob@a.test");
	assert_int_equal(mc_admin_binding_actor(pg, 1, &ac, &err), 0);
	assert_int_equal(ac.role, MC_ROLE_DEPARTMENT);
	assert_int_equal(ac.department_id, 1);
	assert_int_equal(mc_admin_binding_actor(pg, 5, &ac, &err), 0);
	assert_string_equal(ac.name, "binding 5");
	assert_int_equal(mc_admin_binding_actor(pg, 9999, &ac, &err), -1);
	assert_int_equal(err.cls, MC_ERR_DENIED);
}

/* Token lists show the tokens of the bindings in the subtree (never a
 * hash or secret). */
static void test_token_list(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	json_t *all = all_pages(&dom_a, admin_token_list, 1, NULL, NULL);
	size_t i;
	json_t *item;
	assert_int_equal(json_array_size(all),
			 mc_test_num(pg, "SELECT count(*) FROM api_tokens k "
					 "JOIN role_bindings b ON b.id = "
					 "k.binding_id WHERE b.domain_id = 1"));
	assert_true(json_array_size(all) >= 5);
	json_array_foreach(all, i, item)
	{
		assert_string_equal(
			member_str(json_object_get(item, "scope"), "domain"),
			"a.test");
		assert_null(json_object_get(item, "token"));
		assert_null(json_object_get(item, "hash"));
	}
	json_decref(all);

	all = all_pages(&ann, admin_token_list, 50, "name", NULL);
	assert_true(json_array_size(all) >= 2);
	json_array_foreach(all, i, item)
		assert_int_equal(member_int(item, "binding"), 3);
	json_decref(all);

	all = all_pages(&prov, admin_token_list, 50, NULL,
			json_pack("{ss}", "binding", "2"));
	assert_int_equal(json_array_size(all), 1);
	json_decref(all);
	struct mc_admin_list q = {.filters = json_pack("{ss}", "binding", "x")};
	struct result r = run_list(&prov, admin_token_list, &q);
	expect(&r, MC_ERR_INVALID, "binding", "bad binding filter");
	json_decref((json_t *)q.filters);
}

/* Get and revoke outside the subtree are 404; revoking what the actor
 * may not grant is 403. */
static void test_token_get_revoke(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct result r;
	/* a token of ann's user binding (3) and one of bob's domain (4) */
	char t3[24], t4[24];
	snprintf(t3, sizeof(t3), "%lld",
		 mc_test_num(pg, "SELECT max(id) FROM api_tokens "
				 "WHERE binding_id = 3"));
	snprintf(t4, sizeof(t4), "%lld",
		 mc_test_num(pg,
			     "SELECT max(id) FROM api_tokens "
			     "WHERE binding_id = 4 AND revoked_at IS NULL"));
	r = run(&dom_b, admin_token_get, t4, NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "other domain gets");
	r = run(&dept, admin_token_delete, t4, NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "department revokes outside");
	r = run(&dept, admin_token_delete, t3, NULL);
	expect(&r, MC_ERR_DENIED, NULL, "department revokes a user's");
	r = run(&dom_a, admin_token_delete, "999", NULL);
	expect(&r, MC_ERR_NOTFOUND, NULL, "revoke unknown");
	r = run(&dom_a, admin_token_delete, t4, NULL);
	expect(&r, MC_ERR_NONE, NULL, "domain admin revokes");
	assert_int_equal(num_id("SELECT count(*) FROM api_tokens WHERE "
				"id = %lld AND revoked_at IS NOT NULL",
				atoll(t4)),
			 1);
}

/* Inserts the probe audit rows: one per place, k minutes old. */
static void audit_probes(void)
{
	mc_test_sql(
		pg,
		"INSERT INTO audit_log (at, reseller_path, tenant_id, "
		"domain_id, department_id, actor, actor_role, action, target) "
		"SELECT now() - k * interval '1 minute', p::bigint[], t, d, "
		"dep, 'tester', 'provider', 'probe', name FROM (VALUES "
		"(1, 'P', '{}', NULL, NULL, NULL), (2, 'R1', '{1}', NULL, "
		"NULL, NULL), (3, 'RX', '{3}', NULL, NULL, NULL), "
		"(5, 'T1', '{1,2}', 1, NULL, NULL), "
		"(4, 'A', '{1,2}', 1, 1, NULL), (9, 'B', '{1,2}', 1, 2, NULL), "
		"(6, 'SALES', '{1,2}', 1, 1, 1), "
		"(7, 'EMEA', '{1,2}', 1, 1, 2), (8, 'OPS', '{1,2}', 1, 1, 3), "
		"(10, 'T2', '{3}', 2, NULL, NULL)) "
		"AS v(k, name, p, t, d, dep)");
}

/* The targets of an audit page, comma-separated, into buf. */
static void targets(const json_t *items, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *item;
	buf[0] = '\0';
	json_array_foreach(items, i, item) off +=
		(size_t)snprintf(buf + off, size - off, "%s%s",
				 i > 0 ? "," : "", member_str(item, "target"));
}

/* The probe targets actor sees with extra filters and sort. */
static void probe_targets(const struct mc_actor *actor, const char *sort,
			  json_t *filters, char *buf, size_t size)
{
	if (filters == NULL)
		filters = json_object();
	json_object_set_new(filters, "action", json_string("probe"));
	json_t *all = all_pages(actor, admin_audit_list, 3, sort, filters);
	targets(all, buf, size);
	json_decref(all);
}

/* Each role reads its subtree's audit records, newest first, in pages. */
static void test_audit_scope(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	audit_probes();
	static const struct {
		const struct mc_actor *actor;
		const char *want;
	} cases[] = {
		{&prov, "P,R1,RX,A,T1,SALES,EMEA,OPS,B,T2"},
		{&res1, "R1,A,T1,SALES,EMEA,OPS,B"},
		{&ten1, "A,T1,SALES,EMEA,OPS,B"},
		{&dom_a, "A,SALES,EMEA,OPS"},
		{&dom_b, "B"},
		{&dept, "SALES,EMEA"},
	};
	char got[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		probe_targets(cases[i].actor, NULL, NULL, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: %s, expected %s", i, got,
				 cases[i].want);
	}
}

/* Audit filters (target, actor, since, until) and ascending order. */
static void test_audit_filters(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char got[256];
	probe_targets(&dom_a, "at", NULL, got, sizeof(got));
	assert_string_equal(got, "OPS,EMEA,SALES,A");
	probe_targets(&dom_a, NULL, json_pack("{ss}", "target", "EMEA"), got,
		      sizeof(got));
	assert_string_equal(got, "EMEA");
	probe_targets(&ten1, NULL, json_pack("{ss}", "actor", "nobody"), got,
		      sizeof(got));
	assert_string_equal(got, "");
	char since[32];
	mc_admin_format_time(time(NULL) - 390, since);
	probe_targets(&dom_a, NULL, json_pack("{ss}", "since", since), got,
		      sizeof(got));
	assert_string_equal(got, "A,SALES");
	probe_targets(&dom_a, NULL, json_pack("{ss}", "until", since), got,
		      sizeof(got));
	assert_string_equal(got, "EMEA,OPS");
	struct mc_admin_list q = {.filters =
					  json_pack("{ss}", "since", "today")};
	struct result r = run_list(&dom_a, admin_audit_list, &q);
	expect(&r, MC_ERR_INVALID, "since", "bad since");
	json_decref((json_t *)q.filters);
}

/* The members of a record; a domain admin never sees another domain's
 * records; assistants and users may not read the log. */
static void test_audit_records(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	/* the members of a record */
	struct mc_admin_list q = {
		.filters = json_pack("{ss}", "target", "EMEA"), .limit = 1};
	struct result r = run_list(&dept, admin_audit_list, &q);
	expect(&r, MC_ERR_NONE, NULL, "one record");
	json_t *rec = json_array_get(json_object_get(r.out, "items"), 0);
	assert_int_equal(json_object_size(rec), 11);
	assert_string_equal(member_str(rec, "actor"), "tester");
	assert_string_equal(member_str(rec, "role"), "provider");
	assert_string_equal(member_str(rec, "action"), "probe");
	assert_string_equal(member_str(rec, "tenant"), "t1");
	assert_string_equal(member_str(rec, "domain"), "a.test");
	assert_true(json_is_object(json_object_get(rec, "changes")));
	assert_true(json_is_null(json_object_get(rec, "client_ip")));
	assert_int_equal(strlen(member_str(rec, "at")), 20);
	json_decref(r.out);
	json_decref((json_t *)q.filters);

	/* a domain admin never sees another domain's records */
	json_t *all = all_pages(&dom_a, admin_audit_list, 7, NULL, NULL);
	size_t i;
	json_t *item;
	assert_true(json_array_size(all) > 4);
	json_array_foreach(all, i, item)
		assert_string_equal(member_str(item, "domain"), "a.test");
	json_decref(all);
	r = run_list(&asst, admin_audit_list, NULL);
	expect(&r, MC_ERR_DENIED, NULL, "assistant");
	r = run_list(&ann, admin_audit_list, NULL);
	expect(&r, MC_ERR_DENIED, NULL, "user");
}

/* RFC 3339 parsing: offsets, fractions, real days. */
static void test_parse_time(void **state)
{
	(void)state;
	time_t t;
	char buf[32];
	assert_true(mc_admin_parse_time("2025-01-31T12:00:00Z", &t));
	mc_admin_format_time(t, buf);
	assert_string_equal(buf, "2025-01-31T12:00:00Z");
	assert_true(mc_admin_parse_time("2025-01-31t14:30:00.25+02:30", &t));
	mc_admin_format_time(t, buf);
	assert_string_equal(buf, "2025-01-31T12:00:00Z");
	assert_true(mc_admin_parse_time("2024-02-29T00:00:00-01:00", &t));
	static const char *const bad[] = {
		"2025-02-29T00:00:00Z",	 "2025-01-31 12:00:00Z",
		"2025-01-31T24:00:00Z",	 "2025-01-31T12:00:00",
		"2025-01-31T12:00:00.Z", "2025-01-31T12:00:00+2:00",
		"2025-13-01T00:00:00Z",	 "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (mc_admin_parse_time(bad[i], &t))
			fail_msg("accepted %s", bad[i]);
	}
	assert_false(mc_admin_parse_time(NULL, &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_binding_create),
		cmocka_unit_test(test_binding_list),
		cmocka_unit_test(test_binding_get_delete),
		cmocka_unit_test(test_token_secret),
		cmocka_unit_test(test_token_create),
		cmocka_unit_test(test_token_authenticate),
		cmocka_unit_test(test_token_networks),
		cmocka_unit_test(test_token_refused),
		cmocka_unit_test(test_token_revoked),
		cmocka_unit_test(test_binding_actor),
		cmocka_unit_test(test_token_list),
		cmocka_unit_test(test_token_get_revoke),
		cmocka_unit_test(test_audit_scope),
		cmocka_unit_test(test_audit_filters),
		cmocka_unit_test(test_audit_records),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
