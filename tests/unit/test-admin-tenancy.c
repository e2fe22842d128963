/* test-admin-tenancy: the tenancy operations against a real PostgreSQL:
 * resellers, tenants, domains, domain aliases, departments and me.get,
 * with their shapes, who may do what (403 in the subtree, 404 outside),
 * field errors, If-Match, audit records, list pages, the limits of every
 * level with the carving rules, and concurrent domain creation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tenants/src/mc-admin-limits.h"
#include "mailcore/mc-pg.h"
#include "mc-test.h"

struct db {
	struct mc_pg *pg;
	char schema[128];
};
static struct db *g_db;

/* The result of the last call(). */
static json_t *g_out;
static struct mc_error g_err;
static struct mc_admin *g_admin;

static int db_setup(void **state)
{
	struct db *db = calloc(1, sizeof(*db));
	db->pg = mc_test_pg_schema("tenancy", db->schema, sizeof(db->schema));
	g_db = db;
	*state = db;
	return 0;
}

static int db_teardown(void **state)
{
	struct db *db = *state;
	json_decref(g_out);
	g_out = NULL;
	mc_admin_destroy(&g_admin);
	mc_test_pg_drop_schema(&db->pg, db->schema);
	free(db);
	return 0;
}

/* A number from the database. */
static long long num(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static long long num(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return mc_test_num(g_db->pg, sql);
}

/* Runs SQL that must work. */
static void sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sql(const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mc_test_sql(g_db->pg, text);
}

/* Switches the acting admin. */
static struct mc_admin *as(enum mc_role role, int64_t reseller, int64_t tenant,
			   int64_t domain, int64_t department)
{
	struct mc_actor ac = {.role = role,
			      .reseller_id = reseller,
			      .tenant_id = tenant,
			      .domain_id = domain,
			      .department_id = department,
			      .binding_id = 7,
			      .token_id = 9};
	snprintf(ac.name, sizeof(ac.name), "%s-admin", mc_role_name(role));
	struct mc_admin_settings set = {.pg = g_db->pg, .actor = &ac};
	mc_admin_destroy(&g_admin);
	g_admin = mc_admin_create(&set);
	return g_admin;
}

static struct mc_admin *provider(void)
{
	return as(MC_ROLE_PROVIDER, 0, 0, 0, 0);
}

/* Calls an operation as the current admin; result in g_out / g_err. */
static int call_v(mc_admin_op *fn, const char *a0, const char *a1,
		  const char *body, int64_t version,
		  const struct mc_admin_list *list)
{
	json_error_t jerr;
	json_t *b = body != NULL ? json_loads(body, 0, &jerr) : NULL;
	if (body != NULL && b == NULL)
		fail_msg("bad test JSON %s: %s", body, jerr.text);
	struct mc_admin_call c = {.args = {a0, a1},
				  .nargs = a1 != NULL	? 2
					   : a0 != NULL ? 1
							: 0,
				  .body = b,
				  .list = list,
				  .if_version = version};
	json_decref(g_out);
	g_out = NULL;
	mc_error_clear(&g_err);
	int r = fn(g_admin, &c, &g_out, &g_err);
	json_decref(b);
	return r;
}

static int call(mc_admin_op *fn, const char *a0, const char *a1,
		const char *body)
{
	return call_v(fn, a0, a1, body, -1, NULL);
}

/* The call must work. */
#define OK(expr)                                                               \
	do {                                                                   \
		if ((expr) != 0)                                               \
			fail_msg("%s: %s", #expr, g_err.msg);                  \
	} while (0)
/* The call must fail with class cls. */
#define FAILS(expr, want)                                                      \
	do {                                                                   \
		if ((expr) != -1 || g_err.cls != (want))                       \
			fail_msg("%s: expected %s, got %s (%s)", #expr,        \
				 mc_error_class_name(want),                    \
				 mc_error_class_name(g_err.cls), g_err.msg);   \
	} while (0)

/* A member of the last output (or of an object) as text / integer. */
static const char *str(const json_t *o, const char *path)
{
	return json_string_value(json_object_get(o, path));
}

static long long inum(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The problem of the last limit error must be limit/level/name/max. */
static void assert_limit(const char *limit, const char *level, const char *name,
			 long long max)
{
	const json_t *p = mc_admin_problem(g_admin);
	assert_int_equal(g_err.cls, MC_ERR_LIMIT);
	assert_non_null(p);
	assert_string_equal(str(p, "limit"), limit);
	assert_string_equal(str(p, "level"), level);
	assert_string_equal(str(p, "name"), name);
	assert_int_equal(inum(p, "max"), max);
}

/* The first field error of the last call names field. */
static void assert_field(const char *field)
{
	const json_t *e = json_object_get(mc_admin_problem(g_admin), "errors");
	assert_int_equal(g_err.cls, MC_ERR_INVALID);
	assert_string_equal(str(json_array_get(e, 0), "field"), field);
}

/* Keys of an object, sorted, joined by ','. */
static char *keys_of(const json_t *o)
{
	static char buf[512];
	const char *names[32];
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		if (n < 32)
			names[n++] = k;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		     j--) {
			const char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i > 0 ? "," : "");
		strcat(buf, names[i]);
	}
	return buf;
}

static long long id_of(const char *table, const char *name)
{
	return num("SELECT id FROM %s WHERE name = '%s'", table, name);
}

/* Resellers: the shape, audit record and field errors of a create. */
static void test_resellers(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	provider();
	OK(call(admin_reseller_create, NULL, NULL,
		"{\"name\": \"r1\", \"display_name\": \"R One\", \"limits\": "
		"{\"domains\": 10, \"users\": 100, \"storage_bytes\": 1000}}"));
	assert_string_equal(keys_of(g_out),
			    "created_at,display_name,limits,name,parent,"
			    "status,usage,version");
	assert_string_equal(str(g_out, "display_name"), "R One");
	assert_true(json_is_null(json_object_get(g_out, "parent")));
	assert_string_equal(str(g_out, "status"), "active");
	assert_int_equal(inum(g_out, "version"), 1);
	json_t *lim = json_object_get(g_out, "limits");
	assert_string_equal(keys_of(lim),
			    "aliases,daily_send_bytes,daily_send_count,"
			    "domains,lists,message_bytes,storage_bytes,users");
	assert_int_equal(inum(lim, "domains"), 10);
	assert_string_equal(keys_of(json_object_get(g_out, "usage")),
			    "aliases,domains,lists,storage_allocated_bytes,"
			    "storage_bytes,users");
	assert_int_equal(num("SELECT count(*) FROM audit_log WHERE action = "
			     "'reseller.create' AND target = 'r1' AND "
			     "changes->'limits'->>'domains' = '10'"),
			 1);
	FAILS(call(admin_reseller_create, NULL, NULL, "{\"name\": \"r1\"}"),
	      MC_ERR_EXISTS);
	FAILS(call(admin_reseller_create, NULL, NULL, "{\"name\": \"R 1\"}"),
	      MC_ERR_INVALID);
	assert_field("name");
	FAILS(call(admin_reseller_create, NULL, NULL,
		   "{\"name\": \"x\", \"colour\": 1}"),
	      MC_ERR_INVALID);
	assert_field("colour");
	OK(call(admin_reseller_create, NULL, NULL, "{\"name\": \"r2\"}"));
}

/* A reseller admin: sub-resellers within its limits and storage, its
 * own reseller read and renamed only, If-Match. */
static void test_reseller_admin(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long r1 = id_of("resellers", "r1");
	as(MC_ROLE_RESELLER, r1, 0, 0, 0);
	/* sub-resellers default to the actor's own, within its limits */
	OK(call(admin_reseller_create, NULL, NULL,
		"{\"name\": \"r1a\", \"limits\": {\"domains\": 5, "
		"\"storage_bytes\": 600}}"));
	assert_string_equal(str(g_out, "parent"), "r1");
	FAILS(call(admin_reseller_create, NULL, NULL,
		   "{\"name\": \"r1b\", \"limits\": {\"domains\": 20, "
		   "\"storage_bytes\": 100}}"),
	      MC_ERR_LIMIT);
	assert_limit("domains", "reseller", "r1", 10);
	/* storage is allocated: 600 of 1000 are gone */
	FAILS(call(admin_reseller_create, NULL, NULL,
		   "{\"name\": \"r1b\", \"limits\": {\"storage_bytes\": 500}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "reseller", "r1", 1000);
	FAILS(call(admin_reseller_create, NULL, NULL, "{\"name\": \"r1b\"}"),
	      MC_ERR_LIMIT);
	assert_non_null(strstr(g_err.msg, "nonzero"));
	OK(call(admin_reseller_create, NULL, NULL,
		"{\"name\": \"r1b\", \"parent\": \"r1a\", \"limits\": "
		"{\"storage_bytes\": 600}}"));
	assert_string_equal(str(g_out, "parent"), "r1a");
	/* its own reseller: read and rename only */
	OK(call(admin_reseller_get, "r1", NULL, NULL));
	assert_int_equal(inum(json_object_get(g_out, "usage"),
			      "storage_allocated_bytes"),
			 600);
	FAILS(call(admin_reseller_update, "r1", NULL,
		   "{\"limits\": {\"domains\": 11}}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_reseller_update, "r1", NULL,
		   "{\"status\": \"suspended\"}"),
	      MC_ERR_DENIED);
	OK(call(admin_reseller_update, "r1", NULL,
		"{\"display_name\": \"Mine\"}"));
	assert_int_equal(inum(g_out, "version"), 2);
	FAILS(call(admin_reseller_delete, "r1", NULL, NULL), MC_ERR_DENIED);
	FAILS(call(admin_reseller_get, "r2", NULL, NULL), MC_ERR_NOTFOUND);
	FAILS(call(admin_reseller_create, NULL, NULL,
		   "{\"name\": \"r9\", \"parent\": \"r2\"}"),
	      MC_ERR_NOTFOUND);
	OK(call(admin_reseller_list, NULL, NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 3);
	FAILS(call_v(admin_reseller_update, "r1a", NULL,
		     "{\"status\": \"suspended\"}", 9, NULL),
	      MC_ERR_STALE);
	OK(call_v(admin_reseller_update, "r1a", NULL,
		  "{\"status\": \"suspended\"}", 1, NULL));
	assert_string_equal(str(g_out, "status"), "suspended");
	assert_true(g_admin->dirty);
}

/* A parent reseller's limits: not below a child's, nor its
 * allocations; delete rules; no reseller list below resellers. */
static void test_reseller_parent(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	/* a parent's limits: not below a child's, nor its allocations */
	provider();
	FAILS(call(admin_reseller_update, "r1", NULL,
		   "{\"limits\": {\"domains\": 3}}"),
	      MC_ERR_LIMIT);
	assert_limit("domains", "reseller", "r1a", 5);
	FAILS(call(admin_reseller_update, "r1", NULL,
		   "{\"limits\": {\"storage_bytes\": 500}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "reseller", "r1", 600);
	FAILS(call(admin_reseller_update, "r1a", NULL,
		   "{\"limits\": {\"storage_bytes\": 599}}"),
	      MC_ERR_LIMIT);
	FAILS(call(admin_reseller_delete, "r1a", NULL, NULL), MC_ERR_EXISTS);
	OK(call(admin_reseller_delete, "r1b", NULL, NULL));
	assert_null(g_out);
	assert_int_equal(num("SELECT count(*) FROM resellers "
			     "WHERE name = 'r1b'"),
			 0);
	as(MC_ROLE_TENANT, 0, 1, 0, 0);
	FAILS(call(admin_reseller_list, NULL, NULL, NULL), MC_ERR_DENIED);
}

/* Tenants created by a reseller admin: in its subtree, within its
 * limits and storage; status and imap_backend changes. */
static void test_tenants(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long r1 = id_of("resellers", "r1");
	as(MC_ROLE_RESELLER, r1, 0, 0, 0);
	OK(call(admin_tenant_create, NULL, NULL,
		"{\"name\": \"acme\", \"display_name\": \"ACME\", "
		"\"limits\": {\"users\": 50, \"storage_bytes\": 300}}"));
	assert_string_equal(keys_of(g_out),
			    "created_at,display_name,imap_backend,limits,name,"
			    "queue_lifetime,reseller,status,usage,version");
	assert_string_equal(str(g_out, "reseller"), "r1");
	assert_true(json_is_null(json_object_get(g_out, "imap_backend")));
	assert_int_equal(inum(json_object_get(g_out, "limits"), "users"), 50);
	FAILS(call(admin_tenant_create, NULL, NULL,
		   "{\"name\": \"big\", \"limits\": {\"users\": 101, "
		   "\"storage_bytes\": 1}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "reseller", "r1", 100);
	FAILS(call(admin_tenant_create, NULL, NULL,
		   "{\"name\": \"big\", \"limits\": {\"storage_bytes\": 200}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "reseller", "r1", 1000);
	FAILS(call(admin_tenant_create, NULL, NULL,
		   "{\"name\": \"top\", \"reseller\": null}"),
	      MC_ERR_DENIED);
	OK(call(admin_tenant_update, "acme", NULL,
		"{\"status\": \"suspended\", \"imap_backend\": "
		"\"127.0.0.1:1143\"}"));
	assert_true(g_admin->dirty);
	assert_string_equal(str(g_out, "imap_backend"), "127.0.0.1:1143");
	FAILS(call(admin_tenant_update, "acme", NULL,
		   "{\"imap_backend\": \"nowhere\"}"),
	      MC_ERR_INVALID);
	assert_field("imap_backend");
}

/* Tenant lists: pages with cursors, filters. */
static void test_tenant_list(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	provider();
	for (int i = 0; i < 3; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"name\": \"p%d\"}", i);
		OK(call(admin_tenant_create, NULL, NULL, body));
		assert_true(json_is_null(json_object_get(g_out, "reseller")));
	}
	struct mc_admin_list q = {.limit = 2};
	OK(call_v(admin_tenant_list, NULL, NULL, NULL, -1, &q));
	json_t *items = json_object_get(g_out, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(str(json_array_get(items, 0), "name"), "acme");
	char cursor[512];
	snprintf(cursor, sizeof(cursor), "%s", str(g_out, "next_cursor"));
	q.cursor = cursor;
	OK(call_v(admin_tenant_list, NULL, NULL, NULL, -1, &q));
	items = json_object_get(g_out, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(str(json_array_get(items, 0), "name"), "p1");
	assert_true(json_is_null(json_object_get(g_out, "next_cursor")));
	json_t *f = json_pack("{ss}", "status", "suspended");
	struct mc_admin_list fq = {.filters = f};
	OK(call_v(admin_tenant_list, NULL, NULL, NULL, -1, &fq));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 1);
	json_decref(f);
}

/* A tenant admin reads its tenant and renames it only. */
static void test_tenant_admin(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	as(MC_ROLE_TENANT, 0, acme, 0, 0);
	OK(call(admin_tenant_update, "acme", NULL,
		"{\"display_name\": \"Acme Inc\"}"));
	assert_string_equal(str(g_out, "display_name"), "Acme Inc");
	FAILS(call(admin_tenant_update, "acme", NULL,
		   "{\"status\": \"active\"}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_tenant_update, "acme", NULL,
		   "{\"limits\": {\"users\": 1}}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_tenant_get, "p0", NULL, NULL), MC_ERR_NOTFOUND);
	FAILS(call(admin_tenant_delete, "acme", NULL, NULL), MC_ERR_DENIED);
	OK(call(admin_tenant_list, NULL, NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 1);
	OK(call(admin_tenant_usage, "acme", NULL, NULL));
	assert_string_equal(keys_of(g_out), "domains,limits,name,usage");
}

/* Tenant delete rules; a reseller's limit not below a tenant's. */
static void test_tenant_delete(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	provider();
	OK(call(admin_tenant_delete, "p2", NULL, NULL));
	assert_int_equal(num("SELECT count(*) FROM tenants WHERE name = "
			     "'p2'"),
			 0);
	assert_int_equal(num("SELECT count(*) FROM audit_log WHERE action = "
			     "'tenant.delete' AND target = 'p2'"),
			 1);
	sql("INSERT INTO domains (tenant_id, name) VALUES (%lld, 'p1.test')",
	    id_of("tenants", "p1"));
	FAILS(call(admin_tenant_delete, "p1", NULL, NULL), MC_ERR_EXISTS);
	assert_non_null(strstr(g_err.msg, "domains"));
	/* a parent below the tenant's own limit */
	FAILS(call(admin_reseller_update, "r1", NULL,
		   "{\"limits\": {\"users\": 40}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "tenant", "acme", 50);
}

/* Domains: the shape of a created domain with its settings, its 16
 * usage shards, no unlimited domain under a storage-limited tenant. */
static void test_domains(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	as(MC_ROLE_TENANT, 0, acme, 0, 0);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme.test\"}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "tenant", "acme", 300);
	OK(call(admin_domain_create, "acme", NULL,
		"{\"name\": \"Acme.Test\", \"description\": \"main\", "
		"\"catchall\": [\"Boss@Acme.Test\"], \"default_user_quota\": "
		"50, \"settings\": {\"protocols\": [\"imap\", \"smtp\"]}, "
		"\"password_policy\": {\"min_length\": 12, \"classes\": "
		"[\"digit\"], \"exceptions\": [\"Svc\"]}, "
		"\"self_registration\": "
		"\"approval\", \"expires\": \"2030-01-31\", \"limits\": "
		"{\"storage_bytes\": 200, \"users\": 10}}"));
	assert_string_equal(keys_of(g_out),
			    "aliases,attachment_blocklist,"
			    "attachment_blocklist_action,catchall,created_at,"
			    "default_user_quota,description,expires,"
			    "filter_settings,limits,name,password_policy,"
			    "quota_permanent,self_registration,settings,"
			    "status,tenant,usage,version");
	assert_string_equal(str(g_out, "name"), "acme.test");
	assert_string_equal(str(g_out, "tenant"), "acme");
	assert_string_equal(str(g_out, "expires"), "2030-01-31");
	assert_int_equal(inum(g_out, "version"), 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(g_out, "catchall"), 0)),
			    "Boss@acme.test");
	json_t *pp = json_object_get(g_out, "password_policy");
	assert_int_equal(inum(pp, "min_length"), 12);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(pp, "exceptions"), 0)),
			    "svc");
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(g_out, "settings"), "protocols")),
		2);
	json_t *lim = json_object_get(g_out, "limits");
	assert_string_equal(keys_of(lim),
			    "aliases,daily_send_bytes,daily_send_count,lists,"
			    "message_bytes,storage_bytes,users");
	assert_int_equal(inum(lim, "storage_bytes"), 200);
	assert_string_equal(keys_of(json_object_get(g_out, "usage")),
			    "aliases,lists,storage_bytes,users");
	assert_true(g_admin->dirty);
	long long did = id_of("domains", "acme.test");
	assert_int_equal(num("SELECT count(*) FROM domain_usage WHERE "
			     "domain_id = %lld",
			     did),
			 16);
}

/* Domain creation: storage from what the tenant has left, caps within
 * the tenant's, field errors, duplicates, other tenants not found. */
static void test_domain_create_checks(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	as(MC_ROLE_TENANT, 0, id_of("tenants", "acme"), 0, 0);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"limits\": {\"storage_bytes\": "
		   "101}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "tenant", "acme", 300);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"limits\": {\"storage_bytes\": "
		   "10, \"users\": 51}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "tenant", "acme", 50);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"limits\": {\"storage_bytes\": "
		   "10, \"users\": 101}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "tenant", "acme", 50);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"settings\": {\"protocols\": "
		   "[\"ftp\"]}}"),
	      MC_ERR_INVALID);
	assert_field("protocols");
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"expires\": \"2030-02-30\"}"),
	      MC_ERR_INVALID);
	assert_field("expires");
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme2.test\", \"default_user_quota\": 20, "
		   "\"limits\": {\"storage_bytes\": 10}}"),
	      MC_ERR_LIMIT);
	FAILS(call(admin_domain_create, "acme", NULL,
		   "{\"name\": \"acme.test\", \"limits\": {\"storage_bytes\": "
		   "10}}"),
	      MC_ERR_EXISTS);
	FAILS(call(admin_domain_create, "p0", NULL, "{\"name\": \"x.test\"}"),
	      MC_ERR_NOTFOUND);
	/* the tenant's storage limit cannot go below its domains' quotas */
	as(MC_ROLE_RESELLER, id_of("resellers", "r1"), 0, 0, 0);
	FAILS(call(admin_tenant_update, "acme", NULL,
		   "{\"limits\": {\"storage_bytes\": 199}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "tenant", "acme", 200);
}

/* A domain admin changes settings and aliases; assistants and
 * department admins do not. */
static void test_domain_admin(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	long long did = id_of("domains", "acme.test");
	/* a domain admin changes settings, not limits, status or expiry */
	as(MC_ROLE_DOMAIN, 0, acme, did, 0);
	OK(call(admin_domain_update, "acme.test", NULL,
		"{\"catchall\": [], \"quota_permanent\": true, "
		"\"password_policy\": {\"max_age_days\": 90}}"));
	assert_int_equal(json_array_size(json_object_get(g_out, "catchall")),
			 0);
	assert_int_equal(
		inum(json_object_get(g_out, "password_policy"), "max_age_days"),
		90);
	assert_int_equal(
		inum(json_object_get(g_out, "password_policy"), "min_length"),
		12);
	assert_int_equal(inum(g_out, "version"), 2);
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"status\": \"suspended\"}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"limits\": {\"users\": 5}}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_domain_delete, "acme.test", NULL, NULL),
	      MC_ERR_DENIED);
	FAILS(call(admin_tenant_get, "acme", NULL, NULL), MC_ERR_DENIED);
	OK(call(admin_domain_list, NULL, NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 1);
	OK(call(admin_domain_alias_create, "acme.test", NULL,
		"{\"name\": \"ACME.example\"}"));
	assert_string_equal(keys_of(g_out), "created_at,domain,name");
	assert_string_equal(str(g_out, "name"), "acme.example");
	assert_int_equal(num("SELECT count(*) FROM domains WHERE name = "
			     "'acme.example' AND alias_for = %lld",
			     did),
			 1);
	FAILS(call(admin_domain_alias_create, "acme.test", NULL,
		   "{\"name\": \"acme.test\"}"),
	      MC_ERR_EXISTS);
	OK(call(admin_domain_alias_list, "acme.test", NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 1);
	OK(call(admin_domain_get, "acme.test", NULL, NULL));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(g_out, "aliases"), 0)),
			    "acme.example");
	FAILS(call(admin_domain_alias_delete, "acme.test", "nope.example",
		   NULL),
	      MC_ERR_NOTFOUND);
	OK(call(admin_domain_alias_delete, "acme.test", "acme.example", NULL));
	assert_int_equal(num("SELECT count(*) FROM domains WHERE name = "
			     "'acme.example'"),
			 0);
	as(MC_ROLE_ASSISTANT, 0, acme, did, 0);
	OK(call(admin_domain_get, "acme.test", NULL, NULL));
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"description\": \"x\"}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_domain_alias_create, "acme.test", NULL,
		   "{\"name\": \"b.example\"}"),
	      MC_ERR_DENIED);
	as(MC_ROLE_DEPARTMENT, 0, acme, did, 1);
	FAILS(call(admin_domain_list, NULL, NULL, NULL), MC_ERR_DENIED);
	FAILS(call(admin_domain_get, "acme.test", NULL, NULL), MC_ERR_DENIED);
	as(MC_ROLE_DOMAIN, 0, acme, did, 0);
	FAILS(call(admin_domain_get, "p1.test", NULL, NULL), MC_ERR_NOTFOUND);
}

/* A tenant admin sets status and caps within the tenant's; a domain
 * quota not below a user's; delete rules; usage and tenant lists. */
static void test_domain_tenant_admin(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	long long did = id_of("domains", "acme.test");
	/* the tenant admin: status, caps within the tenant's, user quotas */
	as(MC_ROLE_TENANT, 0, acme, 0, 0);
	sql("UPDATE tenants SET lim_message_bytes = 1000 WHERE id = %lld",
	    acme);
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"limits\": {\"message_bytes\": 2000}}"),
	      MC_ERR_LIMIT);
	assert_limit("message_bytes", "tenant", "acme", 1000);
	/* a reseller's limit binds although the tenant admin cannot see it */
	sql("UPDATE resellers SET lim_send_count = 100 WHERE name = 'r1'");
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"limits\": {\"daily_send_count\": 101}}"),
	      MC_ERR_LIMIT);
	assert_limit("daily_send_count", "reseller", "r1", 100);
	OK(call(admin_domain_update, "acme.test", NULL,
		"{\"status\": \"suspended\", \"expires\": null, \"limits\": "
		"{\"message_bytes\": 1000}}"));
	assert_string_equal(str(g_out, "status"), "suspended");
	assert_true(json_is_null(json_object_get(g_out, "expires")));
	assert_true(g_admin->dirty);
	sql("INSERT INTO users (tenant_id, domain_id, local_part, "
	    "password_hash, quota_bytes) VALUES (%lld, %lld, 'ann', 'x', 150)",
	    acme, did);
	FAILS(call(admin_domain_update, "acme.test", NULL,
		   "{\"limits\": {\"storage_bytes\": 100}}"),
	      MC_ERR_LIMIT);
	assert_limit("storage_bytes", "user", "ann@acme.test", 150);
	FAILS(call(admin_domain_delete, "acme.test", NULL, NULL),
	      MC_ERR_EXISTS);
	assert_non_null(strstr(g_err.msg, "users"));
	OK(call(admin_domain_usage, "acme.test", NULL, NULL));
	assert_string_equal(keys_of(g_out), "limits,name,usage");
	assert_int_equal(inum(json_object_get(g_out, "usage"), "users"), 1);
	OK(call(admin_domain_list_tenant, "acme", NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 1);
	FAILS(call(admin_domain_list_tenant, "p1", NULL, NULL),
	      MC_ERR_NOTFOUND);
	OK(call(admin_domain_create, "acme", NULL,
		"{\"name\": \"gone.test\", \"limits\": {\"storage_bytes\": "
		"50}}"));
	OK(call(admin_domain_delete, "gone.test", NULL, NULL));
	assert_int_equal(
		num("SELECT n_domains FROM tenants WHERE id = %lld", acme), 1);
}

struct quota_ctx {
	struct admin_place p;
	int64_t quota;
};

/* Finds acme.test and checks a user quota against it. */
static int quota_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct quota_ctx *q = ctx;
	if (admin_find_domain(a, "acme.test", &q->p, err) < 0)
		return -1;
	return admin_limits_check_user_quota(a, &q->p, q->quota, err);
}

/* The user quota check the user operations call. */
static void test_user_quota(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	as(MC_ROLE_DOMAIN, 0, id_of("tenants", "acme"),
	   id_of("domains", "acme.test"), 0);
	struct quota_ctx q = {.quota = 200};
	struct mc_error err = {0};
	assert_int_equal(admin_txn(g_admin, quota_txn, &q, &err), 0);
	q.quota = 0;
	assert_int_equal(admin_txn(g_admin, quota_txn, &q, &err), 0);
	q.quota = 201;
	assert_int_equal(admin_txn(g_admin, quota_txn, &q, &err), -1);
	g_err = err;
	assert_limit("storage_bytes", "domain", "acme.test", 200);
}

/* Creates a department as the current admin; returns its id. */
static long long mkdept(const char *body)
{
	OK(call(admin_department_create, "acme.test", NULL, body));
	return inum(g_out, "id");
}

/* Departments: the shape, paths, sibling names, tree order of lists
 * (parents first, siblings by position then name) with cursors. */
static void test_departments(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	long long did = id_of("domains", "acme.test");
	char body[256];
	as(MC_ROLE_DOMAIN, 0, acme, did, 0);
	long long sales = mkdept("{\"name\": \"Sales\", \"position\": 2}");
	assert_string_equal(keys_of(g_out),
			    "created_at,id,limits,name,parent,path,position,"
			    "usage,version");
	assert_string_equal(keys_of(json_object_get(g_out, "limits")),
			    "daily_send_bytes,daily_send_count,message_bytes,"
			    "users");
	assert_string_equal(keys_of(json_object_get(g_out, "usage")), "users");
	long long eng = mkdept("{\"name\": \"Eng\", \"position\": 1}");
	snprintf(body, sizeof(body),
		 "{\"name\": \"EMEA\", \"parent\": %lld, \"limits\": "
		 "{\"users\": 5}}",
		 sales);
	mkdept(body);
	json_t *path = json_object_get(g_out, "path");
	assert_string_equal(json_string_value(json_array_get(path, 0)),
			    "Sales");
	assert_string_equal(json_string_value(json_array_get(path, 1)), "EMEA");
	assert_int_equal(inum(g_out, "parent"), sales);
	snprintf(body, sizeof(body),
		 "{\"name\": \"Backend\", \"parent\": %lld}", eng);
	mkdept(body);
	snprintf(body, sizeof(body), "{\"name\": \"EMEA\", \"parent\": %lld}",
		 sales);
	FAILS(call(admin_department_create, "acme.test", NULL, body),
	      MC_ERR_EXISTS);
	FAILS(call(admin_department_create, "acme.test", NULL,
		   "{\"name\": \"a/b\"}"),
	      MC_ERR_INVALID);
	assert_field("name");
	OK(call(admin_department_list, "acme.test", NULL, NULL));
	json_t *items = json_object_get(g_out, "items");
	static const char *const order[] = {"Eng", "Backend", "Sales", "EMEA"};
	assert_int_equal(json_array_size(items), 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(str(json_array_get(items, i), "name"),
				    order[i]);
	struct mc_admin_list q = {.limit = 3};
	OK(call_v(admin_department_list, "acme.test", NULL, NULL, -1, &q));
	char cursor[512];
	snprintf(cursor, sizeof(cursor), "%s", str(g_out, "next_cursor"));
	q.cursor = cursor;
	OK(call_v(admin_department_list, "acme.test", NULL, NULL, -1, &q));
	items = json_object_get(g_out, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str(json_array_get(items, 0), "name"), "EMEA");
}

/* Department limits within the domain's and the parent's; moves
 * (not into its own subtree) carry the user counts; If-Match. */
static void test_department_limits(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long sales = id_of("departments", "Sales");
	long long eng = id_of("departments", "Eng");
	long long emea = id_of("departments", "EMEA");
	long long backend = id_of("departments", "Backend");
	char idb[24], body[256];
	/* limits: within the domain's and the parent's, parent not below */
	snprintf(idb, sizeof(idb), "%lld", eng);
	FAILS(call(admin_department_update, "acme.test", idb,
		   "{\"limits\": {\"users\": 11}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "domain", "acme.test", 10);
	snprintf(body, sizeof(body),
		 "{\"name\": \"Deep\", \"parent\": %lld, \"limits\": "
		 "{\"users\": 6}}",
		 emea);
	FAILS(call(admin_department_create, "acme.test", NULL, body),
	      MC_ERR_LIMIT);
	assert_limit("users", "department", "EMEA", 5);
	snprintf(idb, sizeof(idb), "%lld", sales);
	OK(call(admin_department_update, "acme.test", idb,
		"{\"limits\": {\"users\": 8}}"));
	FAILS(call(admin_department_update, "acme.test", idb,
		   "{\"limits\": {\"users\": 4}}"),
	      MC_ERR_LIMIT);
	assert_limit("users", "department", "EMEA", 5);
	/* no move into its own subtree */
	snprintf(idb, sizeof(idb), "%lld", eng);
	snprintf(body, sizeof(body), "{\"parent\": %lld}", backend);
	FAILS(call(admin_department_update, "acme.test", idb, body),
	      MC_ERR_INVALID);
	assert_field("parent");
	/* a move carries its users' counts to the new chain */
	sql("UPDATE users SET department_id = %lld WHERE local_part = 'ann'",
	    emea);
	assert_int_equal(
		num("SELECT n_users FROM departments WHERE id = %lld", sales),
		1);
	snprintf(idb, sizeof(idb), "%lld", emea);
	snprintf(body, sizeof(body), "{\"parent\": %lld, \"position\": 3}",
		 eng);
	OK(call(admin_department_update, "acme.test", idb, body));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(g_out, "path"), 0)),
			    "Eng");
	assert_int_equal(
		num("SELECT n_users FROM departments WHERE id = %lld", sales),
		0);
	assert_int_equal(
		num("SELECT n_users FROM departments WHERE id = %lld", eng), 1);
	assert_int_equal(num("SELECT count(*) FROM audit_log WHERE action = "
			     "'department.update' AND changes->>'parent' = "
			     "'%lld'",
			     eng),
			 1);
	snprintf(idb, sizeof(idb), "%lld", eng);
	FAILS(call(admin_department_delete, "acme.test", idb, NULL),
	      MC_ERR_EXISTS);
	FAILS(call_v(admin_department_update, "acme.test", idb,
		     "{\"name\": \"R&D\"}", 99, NULL),
	      MC_ERR_STALE);
}

/* The department admin of Eng acts below its own department only. */
static void test_department_admin(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	long long acme = id_of("tenants", "acme");
	long long did = id_of("domains", "acme.test");
	long long eng = id_of("departments", "Eng");
	long long sales = id_of("departments", "Sales");
	char idb[24], body[256];
	snprintf(idb, sizeof(idb), "%lld", eng);
	/* the department admin of Eng: below its own only */
	as(MC_ROLE_DEPARTMENT, 0, acme, did, eng);
	snprintf(body, sizeof(body), "{\"name\": \"QA\", \"parent\": %lld}",
		 eng);
	long long qa = mkdept(body);
	FAILS(call(admin_department_create, "acme.test", NULL,
		   "{\"name\": \"Top\"}"),
	      MC_ERR_DENIED);
	FAILS(call(admin_department_update, "acme.test", idb,
		   "{\"name\": \"Mine\"}"),
	      MC_ERR_DENIED);
	OK(call(admin_department_get, "acme.test", idb, NULL));
	snprintf(idb, sizeof(idb), "%lld", sales);
	FAILS(call(admin_department_get, "acme.test", idb, NULL),
	      MC_ERR_NOTFOUND);
	OK(call(admin_department_list, "acme.test", NULL, NULL));
	assert_int_equal(json_array_size(json_object_get(g_out, "items")), 4);
	snprintf(idb, sizeof(idb), "%lld", qa);
	OK(call(admin_department_delete, "acme.test", idb, NULL));
	assert_int_equal(num("SELECT count(*) FROM departments WHERE id = "
			     "%lld",
			     qa),
			 0);
	as(MC_ROLE_USER, 0, acme, did, 0);
	FAILS(call(admin_department_list, "acme.test", NULL, NULL),
	      MC_ERR_DENIED);
}

/* me.get: role, scope names, name, binding and token. */
static void test_me(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	as(MC_ROLE_DOMAIN, 0, id_of("tenants", "acme"),
	   id_of("domains", "acme.test"), 0);
	OK(call(admin_me_get, NULL, NULL, NULL));
	assert_string_equal(keys_of(g_out), "binding,name,role,scope,token");
	assert_string_equal(str(g_out, "role"), "domain");
	assert_string_equal(str(g_out, "name"), "domain-admin");
	assert_int_equal(inum(g_out, "binding"), 7);
	assert_int_equal(inum(g_out, "token"), 9);
	json_t *scope = json_object_get(g_out, "scope");
	assert_string_equal(str(scope, "tenant"), "acme");
	assert_string_equal(str(scope, "domain"), "acme.test");
	assert_true(json_is_null(json_object_get(scope, "reseller")));
	assert_true(json_is_null(json_object_get(scope, "department")));
	provider();
	OK(call(admin_me_get, NULL, NULL, NULL));
	assert_true(json_is_null(
		json_object_get(json_object_get(g_out, "scope"), "tenant")));
}

struct racer {
	int index;
	int created, limited, other;
	char other_msg[512];
};

/* Creates 10 domains under "race" on a connection of its own. */
static void *race(void *arg)
{
	struct racer *r = arg;
	struct mc_pg *pg = mc_test_pg_connect_schema(g_db->schema);
	struct mc_actor ac = {.role = MC_ROLE_PROVIDER, .name = "racer"};
	struct mc_admin_settings set = {.pg = pg, .actor = &ac};
	struct mc_admin *a = mc_admin_create(&set);

	for (int i = 0; i < 10; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"name\": \"r%d-%d.test\"}",
			 r->index, i);
		json_t *b = json_loads(body, 0, NULL);
		struct mc_admin_call c = {.args = {"race"},
					  .nargs = 1,
					  .body = b,
					  .if_version = -1};
		json_t *out = NULL;
		struct mc_error err = {0};
		if (admin_domain_create(a, &c, &out, &err) == 0)
			r->created++;
		else if (err.cls == MC_ERR_LIMIT)
			r->limited++;
		else if (r->other++ == 0)
			snprintf(r->other_msg, sizeof(r->other_msg), "%s",
				 err.msg);
		json_decref(out);
		json_decref(b);
	}
	mc_admin_destroy(&a);
	mc_pg_destroy(&pg);
	return NULL;
}

/* Two connections racing to create domains under lim_domains = 5: the
 * triggers' row locks leave exactly five, every failure a limit. */
static void test_concurrent_domains(void **state)
{
	(void)state;
	if (g_db->pg == NULL)
		skip();
	sql("INSERT INTO tenants (name, lim_domains) VALUES ('race', 5)");
	struct racer r[2] = {{.index = 0}, {.index = 1}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (r[0].other + r[1].other > 0)
		fail_msg("unexpected error: %s%s", r[0].other_msg,
			 r[1].other_msg);
	assert_int_equal(r[0].created + r[1].created, 5);
	assert_int_equal(r[0].limited + r[1].limited, 15);
	assert_int_equal(num("SELECT count(*) FROM domains d JOIN tenants t "
			     "ON t.id = d.tenant_id WHERE t.name = 'race'"),
			 5);
	assert_int_equal(num("SELECT n_domains FROM tenants WHERE name = "
			     "'race'"),
			 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resellers),
		cmocka_unit_test(test_reseller_admin),
		cmocka_unit_test(test_reseller_parent),
		cmocka_unit_test(test_tenants),
		cmocka_unit_test(test_tenant_list),
		cmocka_unit_test(test_tenant_admin),
		cmocka_unit_test(test_tenant_delete),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_domain_create_checks),
		cmocka_unit_test(test_domain_admin),
		cmocka_unit_test(test_domain_tenant_admin),
		cmocka_unit_test(test_user_quota),
		cmocka_unit_test(test_departments),
		cmocka_unit_test(test_department_limits),
		cmocka_unit_test(test_department_admin),
		cmocka_unit_test(test_me),
		cmocka_unit_test(test_concurrent_domains),
	};
	return cmocka_run_group_tests(tests, db_setup, db_teardown);
}
