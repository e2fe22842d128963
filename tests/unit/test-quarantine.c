/* test-quarantine: the quarantine against a real PostgreSQL (a fresh
 * schema per run): items hold message references and stay out of
 * mailboxes; listing and showing within tenant, domain and user scopes
 * with filters and a cursor; release into the INBOX (once, within
 * scope, refused over quota); delete, user purge and expiry dropping
 * references; release tokens (round trip, every single character
 * changed, expiry, other secret); digests of new items only, with
 * working links; the store's GC sparing what an item holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-store.h"

#include "mc-test.h"

#define SECRET "test secret 0123456789"
#define BASE   "https://mail.s.test"

static char schema[96];
static struct mc_pg *pg;
static struct mc_pool *pool;
static struct mc_message *msg;
static const struct mc_message_info *info;
static int serial;
/* tenant 1: s.test (alice, bob, carol with a tiny quota), t.test (dave);
 * tenant 2: b.test (erin) */
static int64_t dom_s, dom_t, dom_b;
static int64_t alice, bob, carol, dave, erin;

/* The id of the user called local (unique over the tenants here). */
static int64_t user_id(const char *local)
{
	char q[128];
	snprintf(q, sizeof(q), "SELECT id FROM users WHERE local_part = '%s'",
		 local);
	return mc_test_num(pg, q);
}

static void create_rows(void)
{
	mc_test_sql(
		pg,
		"INSERT INTO tenants (name) VALUES ('acme'), ('beta');"
		"INSERT INTO domains (tenant_id, name) VALUES (1, "
		"'s.test'), (1, 't.test'), (2, 'b.test');"
		"INSERT INTO users (tenant_id, domain_id, local_part, "
		"password_hash, quota_bytes) SELECT d.tenant_id, d.id, l, "
		"'x', q FROM domains d JOIN (VALUES ('s.test', 'alice', 0), "
		"('s.test', 'bob', 0), ('s.test', 'carol', 10), ('t.test', "
		"'dave', 0), ('b.test', 'erin', 0)) AS v(n, l, q) ON "
		"d.name = v.n");
	dom_s = mc_test_num(pg, "SELECT id FROM domains WHERE name = 's.test'");
	dom_t = mc_test_num(pg, "SELECT id FROM domains WHERE name = 't.test'");
	dom_b = mc_test_num(pg, "SELECT id FROM domains WHERE name = 'b.test'");
	alice = user_id("alice");
	bob = user_id("bob");
	carol = user_id("carol");
	dave = user_id("dave");
	erin = user_id("erin");
}

static int setup(void **state)
{
	static const char text[] = "Subject: cheap pills\r\nFrom: spam@x.test"
				   "\r\nTo: alice@s.test\r\n\r\nbuy now\r\n";
	(void)state;
	pool = mc_pool_create("test-quarantine", 0);
	msg = mc_message_create(NULL);
	mc_message_feed(msg, text, strlen(text));
	info = mc_message_finish(msg);
	pg = mc_test_pg_schema("quarantine", schema, sizeof(schema));
	if (pg != NULL)
		create_rows();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	mc_message_destroy(&msg);
	mc_pool_destroy(&pool);
	return 0;
}

/* Empties what the tests write (each test starts clean). */
static void reset(void)
{
	mc_test_sql(pg, "DELETE FROM quarantine; DELETE FROM mailbox_messages;"
			" DELETE FROM messages; DELETE FROM domain_usage; "
			"UPDATE users SET used_bytes = 0");
	mc_pool_clear(pool);
}

/* A recipient. */
static struct mc_quarantine_rcpt rcpt(int64_t user, int64_t domain,
				      const char *address)
{
	return (struct mc_quarantine_rcpt){user, domain, address};
}

/* Quarantines a new message of tenant for n recipients; ids in ids. */
static void add(int64_t tenant, const struct mc_quarantine_rcpt *r, size_t n,
		const char *sender, const char *reason,
		enum mc_quarantine_category cat, unsigned lifetime,
		int64_t *ids)
{
	char sha[65];
	snprintf(sha, sizeof(sha), "%064d", ++serial);
	struct mc_quarantine_add a = {.tenant_id = tenant,
				      .sha256 = sha,
				      .info = info,
				      .sender = sender,
				      .rcpts = r,
				      .rcpts_count = n,
				      .reason = reason,
				      .category = cat,
				      .lifetime_s = lifetime};
	struct mc_error err = {0};
	assert_int_equal(mc_quarantine_add(pg, &a, ids, &err), 0);
}

/* One recipient's item; returns its id. */
static int64_t add1(int64_t tenant, struct mc_quarantine_rcpt r,
		    const char *reason)
{
	int64_t id = 0;
	add(tenant, &r, 1, "spam@x.test", reason, MC_QUARANTINE_SPAM, 0, &id);
	return id;
}

/* A number from a query with one %lld filled in. */
static long long num_of(const char *fmt, long long v)
{
	char q[512];
	snprintf(q, sizeof(q), fmt, v);
	return mc_test_num(pg, q);
}

/* Adding: rows and references, not in any mailbox; bad requests. */
static void test_add(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	struct mc_quarantine_rcpt r[] = {rcpt(alice, dom_s, "alice@s.test"),
					 rcpt(bob, dom_s, "bob@s.test")};
	int64_t ids[2] = {0};
	add(1, r, 2, "spam@x.test", "virus: Eicar-Signature",
	    MC_QUARANTINE_VIRUS, 0, ids);
	assert_true(ids[0] > 0 && ids[1] > ids[0]);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "mailbox_messages"),
			 0);
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM quarantine "
				"WHERE category = 'virus' AND subject = 'cheap "
				"pills' AND reason = 'virus: Eicar-Signature' "
				"AND expires_at > now() + interval '29 days'"),
		2);
	/* the same content again: the same message row, one more ref */
	add1(1, r[0], "spam score 12.3");
	serial--;
	add1(1, r[0], "spam score 12.3");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages"), 2);
	assert_int_equal(num_of("SELECT refcount FROM messages WHERE sha256 = "
				"lpad('%lld', 64, '0')",
				serial),
			 2);

	struct mc_quarantine_add bad = {.tenant_id = 1,
					.sha256 = "ab",
					.info = info,
					.rcpts = r,
					.rcpts_count = 1,
					.reason = ""};
	struct mc_error err = {0};
	assert_int_equal(mc_quarantine_add(pg, &bad, NULL, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	bad.reason = "x";
	bad.category = (enum mc_quarantine_category)9;
	mc_error_clear(&err);
	assert_int_equal(mc_quarantine_add(pg, &bad, NULL, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM quarantine"), 4);
}

/* The number of items scope sees with filter f (NULL: none). */
static size_t count_in(const struct mc_quarantine_scope *scope,
		       const struct mc_quarantine_filter *f)
{
	const struct mc_quarantine_item *items;
	size_t n = 99;
	struct mc_error err = {0};
	assert_int_equal(
		mc_quarantine_list(pg, pool, scope, f, &items, &n, &err), 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(scope->tenants == NULL ||
			    items[i].tenant_id == scope->tenants[0]);
		assert_true(scope->user_id == 0 ||
			    items[i].user_id == scope->user_id);
	}
	return n;
}

/* Listing per tenant, domain and user; another tenant's items unseen. */
static void test_list_scope(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	int64_t a = add1(1, rcpt(alice, dom_s, "alice@s.test"), "spam score 9");
	add1(1, rcpt(bob, dom_s, "bob@s.test"), "content rule nopills");
	add1(1, rcpt(dave, dom_t, "dave@t.test"), "dmarc quarantine");
	int64_t e = add1(2, rcpt(erin, dom_b, "erin@b.test"), "spam score 7");
	const int64_t t1[] = {1}, t2[] = {2};
	const struct {
		struct mc_quarantine_scope scope;
		size_t count;
	} cases[] = {
		{{NULL, 0, 0, 0}, 4}, /* the provider */
		{{t1, 1, 0, 0}, 3},	    {{t2, 1, 0, 0}, 1},
		{{t2, 0, 0, 0}, 0}, /* an empty tenant list sees nothing */
		{{t1, 1, dom_s, 0}, 2},	    {{t1, 1, dom_t, 0}, 1},
		{{t2, 1, dom_s, 0}, 0},	    {{t1, 1, 0, alice}, 1},
		{{t1, 1, dom_t, alice}, 0}, {{t2, 1, 0, alice}, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_int_equal(count_in(&cases[i].scope, NULL),
				 cases[i].count);

	struct mc_quarantine_item item;
	struct mc_error err = {0};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0}, s2 = {t2, 1, 0, 0};
	assert_int_equal(mc_quarantine_show(pg, pool, &s1, a, &item, &err), 1);
	assert_string_equal(item.recipient, "alice@s.test");
	assert_string_equal(item.sender, "spam@x.test");
	assert_string_equal(item.category, "spam");
	assert_non_null(item.sha256);
	assert_int_equal(item.size, info->size);
	assert_int_equal(item.released_at, 0);
	assert_int_equal(mc_quarantine_show(pg, pool, &s2, a, &item, &err), 0);
	assert_int_equal(mc_quarantine_show(pg, pool, &s1, e, &item, &err), 0);
}

/* Filters, the cursor and bad filter values. */
static void test_list_filters(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	add1(1, rcpt(alice, dom_s, "alice@s.test"), "spam score 9");
	add1(1, rcpt(bob, dom_s, "bob@s.test"), "content rule nopills");
	int64_t d = 0;
	struct mc_quarantine_rcpt rd = rcpt(dave, dom_t, "dave@t.test");
	add(1, &rd, 1, "", "dmarc quarantine", MC_QUARANTINE_DMARC, 0, &d);
	const int64_t t1[] = {1};
	struct mc_quarantine_scope s = {t1, 1, 0, 0};
	static const struct {
		struct mc_quarantine_filter f;
		size_t count;
	} cases[] = {
		{{.category = "dmarc"}, 1},
		{{.category = "spam"}, 2},
		{{.sender = "SPAM@"}, 2},
		{{.recipient = "@t.TEST"}, 1},
		{{.text = "NOPILLS"}, 1},
		{{.text = "cheap"}, 3}, /* the subject */
		{{.state = "held"}, 3},
		{{.state = "released"}, 0},
		{{.limit = 2}, 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_int_equal(count_in(&s, &cases[i].f), cases[i].count);

	/* pages of one, newest first, until the end */
	struct mc_quarantine_filter f = {.limit = 1};
	const struct mc_quarantine_item *items;
	size_t n, pages = 0;
	int64_t last = INT64_MAX;
	struct mc_error err = {0};
	do {
		assert_int_equal(
			mc_quarantine_list(pg, pool, &s, &f, &items, &n, &err),
			0);
		if (n > 0) {
			assert_true(items[0].id < last);
			last = f.after = items[0].id;
			pages++;
		}
	} while (n > 0);
	assert_int_equal(pages, 3);
	assert_int_equal(last, d - 2);

	static const struct mc_quarantine_filter bad[] = {{.state = "gone"},
							  {.category = "ham"}};
	for (size_t i = 0; i < 2; i++) {
		mc_error_clear(&err);
		assert_int_equal(mc_quarantine_list(pg, pool, &s, &bad[i],
						    &items, &n, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
	}
}

/* Release: into the INBOX once, within scope, not over quota. */
static void test_release(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	int64_t a = add1(1, rcpt(alice, dom_s, "alice@s.test"), "spam score 9");
	const int64_t t1[] = {1}, t2[] = {2};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0}, s2 = {t2, 1, 0, 0};
	struct mc_error err = {0};
	assert_int_equal(
		mc_quarantine_release(pg, NULL, &s2, a, "admin b", &err), 0);
	assert_int_equal(
		mc_quarantine_release(pg, NULL, &s1, a, "admin a", &err), 1);
	assert_int_equal(num_of("SELECT count(*) FROM mailbox_messages mm JOIN "
				"mailboxes mb ON mb.tenant_id = mm.tenant_id "
				"AND mb.id = mm.mailbox_id WHERE mb.name = "
				"'INBOX' AND mb.user_id = %lld",
				alice),
			 1);
	/* the mailbox's reference replaced the item's */
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 1);
	assert_int_equal(num_of("SELECT count(*) FROM quarantine WHERE id = "
				"%lld AND released_at IS NOT NULL AND "
				"released_by = 'admin a' AND message_id IS "
				"NULL",
				a),
			 1);
	assert_int_equal(
		num_of("SELECT used_bytes FROM users WHERE id = %lld", alice),
		(long long)info->size);
	assert_int_equal(
		mc_quarantine_release(pg, NULL, &s1, a, "admin a", &err), -1);
	assert_int_equal(err.cls, MC_ERR_STALE);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 1);

	/* over quota: refused, nothing changes */
	int64_t c = add1(1, rcpt(carol, dom_s, "carol@s.test"), "spam");
	mc_error_clear(&err);
	assert_int_equal(
		mc_quarantine_release(pg, NULL, &s1, c, "admin a", &err), -1);
	assert_int_equal(err.cls, MC_ERR_LIMIT);
	assert_int_equal(num_of("SELECT count(*) FROM quarantine WHERE id = "
				"%lld AND released_at IS NULL AND message_id "
				"IS NOT NULL",
				c),
			 1);
	assert_int_equal(num_of("SELECT refcount FROM messages m JOIN "
				"quarantine q ON q.message_id = m.id WHERE "
				"q.id = %lld",
				c),
			 1);
}

/* Delete and a user purge drop the reference; zero_since at 0. */
static void test_delete(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	struct mc_quarantine_rcpt r[] = {rcpt(alice, dom_s, "alice@s.test"),
					 rcpt(bob, dom_s, "bob@s.test")};
	int64_t ids[2];
	add(1, r, 2, "x@y.test", "spam", MC_QUARANTINE_SPAM, 0, ids);
	const int64_t t1[] = {1}, t2[] = {2};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0}, s2 = {t2, 1, 0, 0};
	struct mc_quarantine_scope not_alice = {t1, 1, 0, bob};
	struct mc_error err = {0};
	assert_int_equal(mc_quarantine_delete(pg, &s2, ids[0], &err), 0);
	assert_int_equal(mc_quarantine_delete(pg, &not_alice, ids[0], &err), 0);
	assert_int_equal(mc_quarantine_delete(pg, &s1, ids[0], &err), 1);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "zero_since IS NULL"),
			 1);
	assert_int_equal(mc_quarantine_delete(pg, &s1, ids[0], &err), 0);
	assert_int_equal(mc_quarantine_delete(pg, &s1, ids[1], &err), 1);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "zero_since IS NOT NULL"),
			 1);

	/* a purged user's items go with their references */
	mc_test_sql(pg, "INSERT INTO users (tenant_id, domain_id, local_part, "
			"password_hash) SELECT 1, id, 'zed', 'x' FROM domains "
			"WHERE name = 's.test'");
	int64_t zed = user_id("zed");
	add1(1, rcpt(zed, dom_s, "zed@s.test"), "spam");
	assert_int_equal(num_of("SELECT refcount FROM messages WHERE sha256 = "
				"lpad('%lld', 64, '0')",
				serial),
			 1);
	mc_test_sql(pg, "DELETE FROM users WHERE local_part = 'zed'");
	assert_int_equal(num_of("SELECT refcount FROM messages WHERE sha256 = "
				"lpad('%lld', 64, '0')",
				serial),
			 0);
}

/* The store's GC keeps a quarantined message's row; once the item is
 * gone (and the margin passed) the row is collected. */
static void test_gc(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	struct mc_blob_store *blobs = mc_blob_store_memory_create();
	struct mc_store_gc_stats stats;
	struct mc_error err = {0};
	int64_t a = add1(1, rcpt(alice, dom_s, "alice@s.test"), "spam");
	assert_int_equal(mc_store_gc(pg, blobs, NULL, &stats, &err), 0);
	assert_int_equal(stats.rows_deleted, 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages"), 1);
	const int64_t t1[] = {1};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0};
	assert_int_equal(mc_quarantine_delete(pg, &s1, a, &err), 1);
	mc_test_sql(pg, "UPDATE messages SET zero_since = now() - interval "
			"'2 hours'");
	assert_int_equal(mc_store_gc(pg, blobs, NULL, &stats, &err), 0);
	assert_int_equal(stats.rows_deleted, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages"), 0);
	mc_blob_store_destroy(&blobs);
}

/* Expiry deletes what expired; a released item keeps its INBOX copy. */
static void test_expire(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	struct mc_quarantine_rcpt ra = rcpt(alice, dom_s, "alice@s.test");
	struct mc_quarantine_rcpt rb = rcpt(bob, dom_s, "bob@s.test");
	int64_t a, b;
	add(1, &ra, 1, "x@y.test", "spam", MC_QUARANTINE_SPAM, 60, &a);
	add(1, &rb, 1, "x@y.test", "spam", MC_QUARANTINE_SPAM, 60, &b);
	add1(1, ra, "spam"); /* 30 days */
	const int64_t t1[] = {1};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0};
	struct mc_error err = {0};
	assert_int_equal(mc_quarantine_release(pg, NULL, &s1, b, "admin", &err),
			 1);
	uint64_t n = 99;
	assert_int_equal(mc_quarantine_expire(pg, 0, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mc_quarantine_expire(pg, time(NULL) + 120, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM quarantine"), 1);
	assert_int_equal(num_of("SELECT refcount FROM messages WHERE sha256 = "
				"lpad('%lld', 64, '0')",
				serial - 2),
			 0);
	/* bob's released copy is in his INBOX still */
	assert_int_equal(num_of("SELECT refcount FROM messages WHERE sha256 = "
				"lpad('%lld', 64, '0')",
				serial - 1),
			 1);
	assert_int_equal(
		mc_quarantine_expire(pg, time(NULL) + 40 * 86400, &n, &err), 0);
	assert_int_equal(n, 1);
}

/* Tokens: round trip, every character changed, expiry, secrets. */
static void test_token(void **state)
{
	(void)state;
	char tok[MC_QUARANTINE_TOKEN_SIZE];
	time_t now = 1700000000;
	int64_t id = 0, tenant = 0, user = 0;
	assert_true(mc_quarantine_token(SECRET, 123456789012LL, 7, 42,
					now + 3600, tok));
	assert_int_equal(strlen(tok), MC_QUARANTINE_TOKEN_LEN);
	assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				     "klmnopqrstuvwxyz0123456789-_"),
			 MC_QUARANTINE_TOKEN_LEN);
	assert_int_equal(mc_quarantine_token_check(SECRET, tok, now, &id,
						   &tenant, &user),
			 MC_QUARANTINE_TOKEN_VALID);
	assert_int_equal(id, 123456789012LL);
	assert_int_equal(tenant, 7);
	assert_int_equal(user, 42);
	for (size_t i = 0; i < MC_QUARANTINE_TOKEN_LEN; i++) {
		char bad[MC_QUARANTINE_TOKEN_SIZE];
		memcpy(bad, tok, sizeof(bad));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_equal(mc_quarantine_token_check(SECRET, bad, now,
							   NULL, NULL, NULL),
				 MC_QUARANTINE_TOKEN_INVALID);
	}
	static const struct {
		const char *secret, *token;
		time_t now;
		enum mc_quarantine_token_status want;
	} cases[] = {
		{SECRET, NULL, 0, MC_QUARANTINE_TOKEN_EXPIRED},
		{SECRET, NULL, 3599, MC_QUARANTINE_TOKEN_VALID},
		{"another secret", NULL, 0, MC_QUARANTINE_TOKEN_INVALID},
		{"", NULL, 0, MC_QUARANTINE_TOKEN_INVALID},
		{SECRET, "", 0, MC_QUARANTINE_TOKEN_INVALID},
		{SECRET, "short", 0, MC_QUARANTINE_TOKEN_INVALID},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *t = cases[i].token != NULL ? cases[i].token : tok;
		time_t at = cases[i].want == MC_QUARANTINE_TOKEN_EXPIRED
				    ? now + 3600
				    : now + cases[i].now;
		assert_int_equal(mc_quarantine_token_check(cases[i].secret, t,
							   at, NULL, NULL,
							   NULL),
				 cases[i].want);
	}
	char longer[MC_QUARANTINE_TOKEN_SIZE + 1];
	snprintf(longer, sizeof(longer), "%sA", tok);
	assert_int_equal(mc_quarantine_token_check(SECRET, longer, now, NULL,
						   NULL, NULL),
			 MC_QUARANTINE_TOKEN_INVALID);
	assert_false(mc_quarantine_token("", 1, 1, 1, now, tok));
	assert_string_equal(tok, "");
}

/* The release links of a digest: each checked, ids in ids; the count. */
static size_t check_links(const char *m, int64_t tenant, int64_t user,
			  int64_t *ids)
{
	static const char prefix[] = "Release: " BASE "/quarantine/release?t=";
	size_t n = 0;
	for (const char *p = strstr(m, prefix); p != NULL;
	     p = strstr(p + 1, prefix)) {
		char tok[MC_QUARANTINE_TOKEN_SIZE];
		int64_t t = 0, u = 0;
		memcpy(tok, p + strlen(prefix), MC_QUARANTINE_TOKEN_LEN);
		tok[MC_QUARANTINE_TOKEN_LEN] = '\0';
		assert_int_equal(mc_quarantine_token_check(SECRET, tok,
							   time(NULL), &ids[n],
							   &t, &u),
				 MC_QUARANTINE_TOKEN_VALID);
		assert_int_equal(t, tenant);
		assert_int_equal(u, user);
		assert_memory_equal(p + strlen(prefix) + strlen(tok), "\r\n",
				    2);
		n++;
	}
	return n;
}

/* The first digest of test_digest: bob's two held items. */
static void check_first_digest(const char *m, size_t size)
{
	assert_int_equal(strlen(m), size);
	assert_non_null(strstr(m, "\r\nTo: bob@s.test\r\n"));
	assert_non_null(strstr(m, "\r\nFrom: postmaster@s.test\r\n"));
	assert_non_null(strstr(m, "Subject: Quarantine digest: 2 new "
				  "messages held for you\r\n"));
	assert_non_null(strstr(m, "Reason:  virus: Eicar-Signature\r\n"));
	assert_non_null(strstr(m, "From:    <>\r\n"));
	assert_non_null(strstr(m, "content rule &lt;nopills&gt; &amp; co"));
	assert_non_null(strstr(m, "Content-Type: text/html; charset=utf-8"));
	assert_non_null(strstr(m, "--\r\n"));
	assert_null(strstr(m, "spam score 9")); /* alice's */
	assert_null(strstr(m, "\n\n"));		/* CRLF only */
}

/* Digests list the new items only, with links, and mark them. */
static void test_digest(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	struct mc_quarantine_rcpt rb = rcpt(bob, dom_s, "bob@s.test");
	int64_t b1 = add1(1, rb, "virus: Eicar-Signature");
	int64_t b2 = 0;
	add(1, &rb, 1, "", "content rule <nopills> & co", MC_QUARANTINE_POLICY,
	    0, &b2);
	int64_t b3 = add1(1, rb, "spam");
	add1(1, rcpt(alice, dom_s, "alice@s.test"), "spam score 9");
	const int64_t t1[] = {1};
	struct mc_quarantine_scope s1 = {t1, 1, 0, 0};
	struct mc_error err = {0};
	assert_int_equal(
		mc_quarantine_release(pg, NULL, &s1, b3, "admin", &err), 1);
	struct mc_quarantine_digest_settings set = {.secret = SECRET,
						    .base_url = BASE};
	const char *m = NULL;
	size_t size = 0;
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 1, bob, 0, &m,
					      &size, &err),
			 1);
	check_first_digest(m, size);
	int64_t ids[8];
	assert_int_equal(check_links(m, 1, bob, ids), 2);
	assert_int_equal(ids[0], b1);
	assert_int_equal(ids[1], b2);
	assert_int_equal(num_of("SELECT count(*) FROM quarantine WHERE user_id "
				"= %lld AND digest_sent_at IS NOT NULL",
				bob),
			 2);
	/* nothing new, then only the new one; since in the future: none */
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 1, bob, 0, &m,
					      &size, &err),
			 0);
	int64_t b4 = add1(1, rb, "dmarc quarantine");
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 1, bob,
					      time(NULL) + 3600, &m, &size,
					      &err),
			 0);
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 1, bob, 0, &m,
					      &size, &err),
			 1);
	assert_int_equal(check_links(m, 1, bob, ids), 1);
	assert_int_equal(ids[0], b4);
	assert_non_null(strstr(m, "1 new message held"));
	/* no such user; no secret */
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 2, bob, 0, &m,
					      &size, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	set.secret = NULL;
	mc_error_clear(&err);
	assert_int_equal(mc_quarantine_digest(pg, pool, &set, 1, alice, 0, &m,
					      &size, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

/* Category names both ways. */
static void test_categories(void **state)
{
	(void)state;
	static const char *const names[] = {"virus", "spam", "policy", "dmarc"};
	for (size_t i = 0; i < 4; i++) {
		enum mc_quarantine_category c;
		assert_true(mc_quarantine_category_parse(names[i], &c));
		assert_int_equal(c, i);
		assert_string_equal(mc_quarantine_category_name(c), names[i]);
	}
	enum mc_quarantine_category c;
	assert_false(mc_quarantine_category_parse("Virus", &c));
	assert_null(
		mc_quarantine_category_name((enum mc_quarantine_category)4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_list_scope),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_gc),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_categories),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
