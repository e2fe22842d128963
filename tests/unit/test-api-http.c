/* test-api-http: the HTTP mechanics of the REST API without a server:
 * route matching (parameters, literal segments first, 404, 405 with
 * Allow), the query string as list options, If-Match, media types,
 * problem documents, error classes and Location templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../api/src/mc-api-private.h"

struct route_case {
	const char *method, *path;
	const char *op;	   /* expected op (or builtin name), NULL: none */
	const char *allow; /* NULL: 404; else the Allow list of a 405 */
	const char *args[MC_API_ARGS_MAX];
};

static const struct route_case route_cases[] = {
	{"GET", "/api/v1/me", "me.get", NULL, {0}},
	{"GET", "/api/v1/tenants", "tenant.list", NULL, {0}},
	{"POST", "/api/v1/tenants", "tenant.create", NULL, {0}},
	{"PATCH", "/api/v1/tenants/acme", "tenant.update", NULL, {"acme"}},
	{"GET",
	 "/api/v1/domains/acme.test/users/alice",
	 "user.get",
	 NULL,
	 {"acme.test", "alice"}},
	{"POST",
	 "/api/v1/domains/acme.test/users/import",
	 "user.import",
	 NULL,
	 {"acme.test"}},
	{"POST",
	 "/api/v1/domains/acme.test/users/batch",
	 "user.batch",
	 NULL,
	 {"acme.test"}},
	{"GET",
	 "/api/v1/domains/acme.test/users/import",
	 "user.get",
	 NULL,
	 {"acme.test", "import"}},
	{"POST",
	 "/api/v1/domains/d.test/users/bob/freeze",
	 "user.freeze",
	 NULL,
	 {"d.test", "bob"}},
	{"DELETE",
	 "/api/v1/domains/d.test/domain-aliases/old.test",
	 "domain_alias.delete",
	 NULL,
	 {"d.test", "old.test"}},
	{"GET",
	 "/api/v1/domains/a%2Fb/users/al%40ice",
	 "user.get",
	 NULL,
	 {"a/b", "al@ice"}},
	{"DELETE", "/api/v1/tokens/12", "token.delete", NULL, {"12"}},
	{"PUT", "/api/v1/tenants", NULL, "GET, POST", {0}},
	{"POST", "/api/v1/tenants/acme", NULL, "GET, PATCH, DELETE", {0}},
	{"GET", "/api/v1/domains/d.test/users/bob/freeze", NULL, "POST", {0}},
	{"GET", "/api/v1/nothing", NULL, NULL, {0}},
	{"GET", "/api/v1/tenants/", NULL, NULL, {0}},
	{"GET", "/api/v1//usage", NULL, NULL, {0}},
	{"GET", "/api/v1/tenants/acme/usage/x", NULL, NULL, {0}},
	{"GET", "/api/v1/domains/bad%zz/users", NULL, NULL, {0}},
};

/* Each case matches the expected route, arguments, 404 or 405. */
static void test_route_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]);
	     i++) {
		const struct route_case *c = &route_cases[i];
		struct mc_api_match m;
		bool found = mc_api_route_match(c->method, c->path, &m);
		assert_int_equal(found, c->op != NULL);
		if (c->op != NULL) {
			assert_string_equal(m.route->op, c->op);
			size_t n = 0;
			while (n < MC_API_ARGS_MAX && c->args[n] != NULL)
				n++;
			assert_int_equal(m.nargs, n);
			for (size_t k = 0; k < n; k++)
				assert_string_equal(m.args[k], c->args[k]);
		} else {
			assert_int_equal(m.path_found, c->allow != NULL);
			if (c->allow != NULL)
				assert_string_equal(m.allow, c->allow);
		}
		mc_api_match_free(&m);
	}
}

/* Builtins and flags sit on the routes the design note gives them. */
static void test_route_flags(void **state)
{
	(void)state;
	struct mc_api_match m;
	assert_true(mc_api_route_match("POST", "/api/v1/sessions", &m));
	assert_int_equal(m.route->builtin, MC_API_LOGIN);
	assert_true((m.route->flags & MC_API_NO_AUTH) != 0);
	assert_int_equal(m.route->status, 201);
	assert_true(mc_api_route_match("GET", "/api/v1/openapi.yaml", &m));
	assert_int_equal(m.route->builtin, MC_API_OPENAPI);
	assert_true(
		mc_api_route_match("DELETE", "/api/v1/sessions/current", &m));
	assert_int_equal(m.route->builtin, MC_API_LOGOUT);
	assert_true((m.route->flags & MC_API_NO_AUTH) == 0);
	assert_true(mc_api_route_match("GET", "/api/v1/domains/x/users", &m));
	assert_string_equal(m.route->csv_op, "user.export");
	mc_api_match_free(&m);
	assert_true(mc_api_route_match("POST", "/api/v1/domains/x/users/import",
				       &m));
	assert_true((m.route->flags & MC_API_CSV_BODY) != 0);
	mc_api_match_free(&m);
	/* every DELETE is 204, every other route names an op or builtin */
	for (const struct mc_api_route *r = mc_api_routes; r->method; r++) {
		if (strcmp(r->method, "DELETE") == 0)
			assert_int_equal(r->status, 204);
		assert_true(r->op != NULL || r->builtin != MC_API_OP);
	}
}

/* The printed table is sorted, one "METHOD /path" per route. */
static void test_print_routes(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	mc_api_print_routes(f);
	fclose(f);
	size_t n = 0;
	for (const struct mc_api_route *r = mc_api_routes; r->method; r++)
		n++;
	size_t lines = 0;
	char *prev = NULL;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		assert_non_null(strstr(line, " /api/v1/"));
		if (prev != NULL)
			assert_true(strcmp(prev, line) < 0);
		prev = line;
		lines++;
	}
	assert_int_equal(lines, n);
	assert_true(len > 0);
	free(buf);
}

/* limit, cursor, sort and filters come out of the query string. */
static void test_query_list(void **state)
{
	(void)state;
	struct mc_api_query q;
	const char *field = NULL, *why = NULL;
	assert_int_equal(
		mc_api_query_parse("limit=20&cursor=abc%3D&sort=-name"
				   "&status=active&q=al+ice&format=csv",
				   &q, &field, &why),
		0);
	assert_int_equal(q.list.limit, 20);
	assert_string_equal(q.list.cursor, "abc=");
	assert_string_equal(q.list.sort, "-name");
	assert_non_null(q.list.filters);
	assert_int_equal(json_object_size(q.list.filters), 2);
	assert_string_equal(
		json_string_value(json_object_get(q.list.filters, "q")),
		"al ice");
	assert_string_equal(mc_api_query_get(&q, "format"), "csv");
	mc_api_query_free(&q);

	assert_int_equal(mc_api_query_parse(NULL, &q, &field, &why), 0);
	assert_int_equal(q.list.limit, 0);
	assert_null(q.list.cursor);
	assert_null(q.list.sort);
	assert_null(q.list.filters);
	mc_api_query_free(&q);
}

/* Bad limits and encodings name the parameter. */
static void test_query_errors(void **state)
{
	(void)state;
	static const char *const bad_limit[] = {
		"limit=0", "limit=501", "limit=-1", "limit=x", "limit="};
	struct mc_api_query q;
	const char *field = NULL, *why = NULL;
	for (size_t i = 0; i < sizeof(bad_limit) / sizeof(bad_limit[0]); i++) {
		assert_int_equal(
			mc_api_query_parse(bad_limit[i], &q, &field, &why), -1);
		assert_string_equal(field, "limit");
		mc_api_query_free(&q);
	}
	assert_int_equal(mc_api_query_parse("q=%zz", &q, &field, &why), -1);
	assert_string_equal(field, "query");
	mc_api_query_free(&q);
	assert_int_equal(mc_api_query_parse("q=a%00b", &q, &field, &why), -1);
	mc_api_query_free(&q);
	assert_int_equal(mc_api_query_parse("limit=500&&x", &q, &field, &why),
			 0);
	assert_int_equal(q.list.limit, 500);
	assert_string_equal(mc_api_query_get(&q, "x"), "");
	mc_api_query_free(&q);
}

/* If-Match: one strong tag or *, nothing else. */
static void test_if_match(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		int rc;
		int64_t version;
	} cases[] = {
		{NULL, 0, -1},
		{"*", 0, -1},
		{"\"12\"", 0, 12},
		{" \"0\" ", 0, 0},
		{"12", -1, -1},
		{"W/\"12\"", -1, -1},
		{"\"1\", \"2\"", -1, -1},
		{"\"\"", -1, -1},
		{"\"-3\"", -1, -1},
		{"\"x\"", -1, -1},
		{"", -1, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 99;
		assert_int_equal(mc_api_if_match_parse(cases[i].value, &v),
				 cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(v, cases[i].version);
	}
}

/* Problem documents: type, title, status, detail, instance, members. */
static void test_problem_shape(void **state)
{
	(void)state;
	json_t *m = json_pack("{s:s, s:i, s:s}", "limit", "users", "max", 5,
			      "status", "overridden?");
	json_t *p = mc_api_problem_new("limit-exceeded", "too many",
				       "/api/v1/tenants", m);
	assert_string_equal(json_string_value(json_object_get(p, "type")),
			    "https://mailcore.invalid/problems/limit-exceeded");
	assert_int_equal(json_integer_value(json_object_get(p, "status")), 409);
	assert_non_null(json_string_value(json_object_get(p, "title")));
	assert_string_equal(json_string_value(json_object_get(p, "detail")),
			    "too many");
	assert_string_equal(json_string_value(json_object_get(p, "instance")),
			    "/api/v1/tenants");
	assert_int_equal(json_integer_value(json_object_get(p, "max")), 5);
	json_decref(p);
	json_decref(m);

	p = mc_api_problem_new("no-such-slug", NULL, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(p, "status")), 500);
	assert_null(json_object_get(p, "detail"));
	assert_null(json_object_get(p, "instance"));
	json_decref(p);
}

/* Error classes map to the slugs and statuses of mc-admin.h. */
static void test_error_slugs(void **state)
{
	(void)state;
	static const struct {
		enum mc_error_class cls;
		const char *slug;
		int status;
	} cases[] = {
		{MC_ERR_NOTFOUND, "not-found", 404},
		{MC_ERR_DENIED, "forbidden", 403},
		{MC_ERR_INVALID, "invalid", 422},
		{MC_ERR_EXISTS, "conflict", 409},
		{MC_ERR_LIMIT, "limit-exceeded", 409},
		{MC_ERR_STALE, "precondition-failed", 412},
		{MC_ERR_TEMPORARY, "unavailable", 503},
		{MC_ERR_PERMANENT, "server-error", 500},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *slug = mc_api_error_slug(cases[i].cls);
		int status;
		const char *title;
		assert_string_equal(slug, cases[i].slug);
		assert_true(mc_api_problem_type(slug, &status, &title));
		assert_int_equal(status, cases[i].status);
	}
}

/* Media types, Accept, request ids. */
static void test_headers(void **state)
{
	(void)state;
	assert_true(
		mc_api_content_type_is("application/json", "application/json"));
	assert_true(mc_api_content_type_is("Application/JSON; charset=utf-8",
					   "application/json"));
	assert_false(mc_api_content_type_is("application/jsonx",
					    "application/json"));
	assert_false(mc_api_content_type_is(NULL, "text/csv"));
	assert_true(mc_api_accepts("text/csv", "text/csv"));
	assert_true(mc_api_accepts("text/html, text/csv;q=0.9", "text/csv"));
	assert_false(mc_api_accepts("application/json, text/csv", "text/csv"));
	assert_false(mc_api_accepts("*/*", "text/csv"));
	assert_true(mc_api_request_id_ok("abc-123.x:y_z"));
	assert_false(mc_api_request_id_ok(""));
	assert_false(mc_api_request_id_ok("a b"));
	assert_false(mc_api_request_id_ok("a\r\nSet-Cookie: x"));
	char longid[80];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_false(mc_api_request_id_ok(longid));
}

/* Location templates take result members and path parameters. */
static void test_location(void **state)
{
	(void)state;
	json_t *out = json_pack("{s:s, s:i}", "local_part", "al ice", "id", 7);
	char *args[] = {"acme.test"};
	char *l = mc_api_location("/api/v1/domains/{0}/users/{local_part}", out,
				  args, 1);
	assert_string_equal(l, "/api/v1/domains/acme.test/users/al%20ice");
	free(l);
	l = mc_api_location("/api/v1/tokens/{id}", out, args, 1);
	assert_string_equal(l, "/api/v1/tokens/7");
	free(l);
	assert_null(mc_api_location("/x/{missing}", out, args, 1));
	assert_null(mc_api_location("/x/{1}", out, args, 1));
	assert_null(mc_api_location(NULL, out, args, 1));
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_route_flags),
		cmocka_unit_test(test_print_routes),
		cmocka_unit_test(test_query_list),
		cmocka_unit_test(test_query_errors),
		cmocka_unit_test(test_if_match),
		cmocka_unit_test(test_problem_shape),
		cmocka_unit_test(test_error_slugs),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_location),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
