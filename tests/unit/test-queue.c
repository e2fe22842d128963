/* test-queue: the outbound queue against a real PostgreSQL (a fresh
 * schema per run): claims grouped by entry and domain, exclusive between
 * two concurrent claimers, leases that end; outcomes with backoff, the
 * entry and its message reference dropped when all are final; held
 * entries; DSN (NOTIFY) jobs; lifetimes; management scoped by tenant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"

#include "mc-test.h"

#define OWNER "node1:100"

static char schema[96];
static struct mc_pg *pg;
static struct mc_pool *pool;
static int serial;

static int setup(void **state)
{
	(void)state;
	pool = mc_pool_create("test-queue", 0);
	pg = mc_test_pg_schema("queue", schema, sizeof(schema));
	if (pg != NULL)
		mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme'), "
				"('beta')");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	mc_pool_destroy(&pool);
	return 0;
}

/* Empties the queue and the messages (each test starts clean). */
static void reset(void)
{
	mc_test_sql(pg, "DELETE FROM queue; DELETE FROM messages; "
			"UPDATE tenants SET queue_lifetime = NULL");
	mc_pool_clear(pool);
}

/* A queue entry of tenant with recipients rcpts ("{a@x,b@y}") of a new
 * message with refcount refs; returns the entry id. */
static long long entry(int tenant, const char *qid, const char *sender,
		       const char *rcpts, int refs)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO messages (tenant_id, sha256, size_bytes, "
		 "refcount, envelope, body, bodystructure) VALUES (%d, "
		 "lpad('%d', 64, '0'), 1234, %d, '', '', '') RETURNING id",
		 tenant, ++serial, refs);
	long long mid = mc_test_num(pg, sql);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO queue (tenant_id, queue_id, message_id, sender, "
		 "size_bytes, envid, client_ip) VALUES (%d, '%s', %lld, '%s', "
		 "1234, 'env-%s', '192.0.2.7') RETURNING id",
		 tenant, qid, mid, sender, qid);
	long long id = mc_test_num(pg, sql);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO queue_recipients (tenant_id, queue_entry, "
		 "address, notify) SELECT %d, %lld, a, 4 FROM "
		 "unnest('%s'::text[]) AS a",
		 tenant, id, rcpts);
	mc_test_sql(pg, sql);
	return id;
}

/* A number from a query with one %s for address (quoted by the caller). */
static long long num_of(const char *fmt, const char *address)
{
	char sql[512];
	snprintf(sql, sizeof(sql), fmt, address);
	return mc_test_num(pg, sql);
}

/* Claims with owner and max (default settings otherwise). */
static size_t claim(struct mc_pg *c, const char *owner, size_t max,
		    struct mc_queue_job **jobs)
{
	struct mc_queue_claim_settings set = {.owner = owner, .max = max};
	struct mc_error err = {0};
	size_t n = 99;
	assert_int_equal(mc_queue_claim(c, pool, &set, jobs, &n, &err), 0);
	return n;
}

/* Completes job with results (backoff 10 s doubling up to 50 s). */
static void complete(const struct mc_queue_job *job, const char *owner,
		     const struct mc_queue_result *results, size_t n)
{
	struct mc_queue_backoff b = {.min_s = 10, .max_s = 50};
	struct mc_error err = {0};
	assert_int_equal(
		mc_queue_complete(pg, job, owner, &b, results, n, &err), 0);
}

/* Recipients of one entry and domain come as one job; a second claim
 * finds them claimed. */
static void test_claim_groups_by_domain(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@X.TEST,c@y.test}", 1);
	entry(1, "Q2", "", "{d@x.test}", 1);
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 3);
	assert_string_equal(jobs[0].queue_id, "Q1");
	assert_string_equal(jobs[0].domain, "x.test");
	assert_int_equal(jobs[0].rcpts_count, 2);
	assert_string_equal(jobs[0].rcpts[0].address, "a@x.test");
	assert_string_equal(jobs[0].rcpts[1].address, "b@X.TEST");
	assert_int_equal(jobs[0].rcpts[0].notify, 4);
	assert_int_equal(jobs[0].kind, MC_QUEUE_DELIVER);
	assert_string_equal(jobs[0].sender, "s@acme.test");
	assert_string_equal(jobs[0].envid, "env-Q1");
	assert_string_equal(jobs[0].client_ip, "192.0.2.7");
	assert_null(jobs[0].ret);
	assert_int_equal(jobs[0].size, 1234);
	assert_int_equal(strlen(jobs[0].sha256), 64);
	assert_int_equal(jobs[0].expires_at - jobs[0].created_at, 5 * 86400);
	assert_string_equal(jobs[1].domain, "y.test");
	assert_int_equal(jobs[1].rcpts_count, 1);
	assert_string_equal(jobs[2].queue_id, "Q2");
	assert_string_equal(jobs[2].sender, "");
	assert_int_equal(
		mc_test_num(pg, "SELECT count(*) FROM "
				"queue_recipients WHERE claimed_by = '" OWNER
				"' AND claimed_until > now() + "
				"interval '590 s'"),
		4);
	assert_int_equal(claim(pg, "other:1", 0, &jobs), 0);
}

/* max caps the recipients of one claim. */
static void test_claim_max(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@x.test,c@x.test}", 1);
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 2, &jobs), 1);
	assert_int_equal(jobs[0].rcpts_count, 2);
	assert_int_equal(claim(pg, OWNER, 2, &jobs), 1);
	assert_int_equal(jobs[0].rcpts_count, 1);
}

/* One claimer thread: claims until nothing is left, counting. */
struct claimer {
	const char *owner;
	struct mc_pg *pg;
	int rcpts;
};

static void *claimer_run(void *arg)
{
	struct claimer *c = arg;
	struct mc_pool *p = mc_pool_create("claimer", 0);
	struct mc_queue_claim_settings set = {.owner = c->owner, .max = 3};
	for (;;) {
		struct mc_queue_job *jobs;
		size_t n = 0;
		struct mc_error err = {0};
		if (mc_queue_claim(c->pg, p, &set, &jobs, &n, &err) < 0 ||
		    n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			c->rcpts += (int)jobs[i].rcpts_count;
	}
	mc_pool_destroy(&p);
	return NULL;
}

/* Two claimers on two connections never share a recipient. */
static void test_two_claimers(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	for (int i = 0; i < 20; i++) {
		char qid[16];
		snprintf(qid, sizeof(qid), "C%02d", i);
		entry(1 + i % 2, qid, "s@acme.test",
		      "{a@x.test,b@y.test,c@z.test,d@x.test,e@y.test}", 1);
	}
	struct claimer c[2] = {{"a:1", mc_test_pg_connect_schema(schema), 0},
			       {"b:2", mc_test_pg_connect_schema(schema), 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, claimer_run, &c[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(c[0].rcpts + c[1].rcpts, 100);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE claimed_by = "
					 "'a:1'"),
			 c[0].rcpts);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE claimed_by = "
					 "'b:2'"),
			 c[1].rcpts);
	for (int i = 0; i < 2; i++)
		mc_pg_destroy(&c[i].pg);
}

/* A claim whose lease ended is claimable again. */
static void test_lease_expiry(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test}", 1);
	struct mc_queue_job *jobs;
	struct mc_queue_claim_settings set = {.owner = OWNER, .lease_s = 30};
	struct mc_error err = {0};
	size_t n;
	assert_int_equal(mc_queue_claim(pg, pool, &set, &jobs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE claimed_until "
					 "BETWEEN now() + interval '25 s' AND "
					 "now() + interval '31 s'"),
			 1);
	assert_int_equal(claim(pg, "late:2", 0, &jobs), 0);
	mc_test_sql(pg, "UPDATE queue_recipients SET claimed_until = now() - "
			"interval '1 s'");
	assert_int_equal(claim(pg, "late:2", 0, &jobs), 1);
	/* the first owner's results no longer count */
	struct mc_queue_result r = {"a@x.test", MC_QUEUE_DELIVERED, NULL, NULL,
				    NULL};
	complete(&jobs[0], OWNER, &r, 1);
	assert_int_equal(num_of("SELECT count(*) FROM queue_recipients WHERE "
				"state = 'queued' AND claimed_by = '%s'",
				"late:2"),
			 1);
}

/* Each outcome's row; recipients without a result lose the claim. */
static void test_complete_outcomes(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test",
	      "{d@x.test,f@x.test,b@x.test,r@x.test,n@x.test,w@x.test}", 1);
	entry(1, "Q2", "s@acme.test", "{q@x.test}", 1);
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 2);
	struct mc_queue_result rs[] = {
		{"d@x.test", MC_QUEUE_DELIVERED, "2.0.0", "250 ok", "mx[1]"},
		{"f@x.test", MC_QUEUE_FAILED, "5.1.1", "550 5.1.1 no", "mx[1]"},
		{"b@x.test", MC_QUEUE_BOUNCED, "5.1.2", "bad", NULL},
		{"r@x.test", MC_QUEUE_RELEASE, NULL, NULL, NULL},
		{"w@x.test", MC_QUEUE_DEFERRED, "4.4.1", "timeout", "mx[2]"},
	};
	complete(&jobs[0], OWNER, rs, 5);
	static const struct {
		const char *address, *state, *status;
		int attempts, claimed, due_in; /* due_in: -1 past/now */
	} want[] = {
		{"d@x.test", "delivered", "2.0.0", 1, 0, -1},
		{"f@x.test", "failed", "5.1.1", 1, 0, -1},
		{"b@x.test", "bounced", "5.1.2", 1, 0, -1},
		{"r@x.test", "queued", NULL, 0, 0, -1},
		{"n@x.test", "queued", NULL, 0, 0, -1},
		{"w@x.test", "deferred", "4.4.1", 1, 0, 10},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM queue_recipients WHERE address "
			 "= '%s' AND state = '%s' AND status IS NOT DISTINCT "
			 "FROM %s%s%s AND attempts = %d AND (claimed_by IS NOT "
			 "NULL) = %s AND next_attempt %s",
			 want[i].address, want[i].state,
			 want[i].status ? "'" : "",
			 want[i].status ? want[i].status : "NULL",
			 want[i].status ? "'" : "", want[i].attempts,
			 want[i].claimed ? "true" : "false",
			 want[i].due_in < 0
				 ? "<= now()"
				 : "BETWEEN now() + interval '9 s' AND now() + "
				   "interval '11 s' AND first_deferred IS NOT "
				   "NULL");
		assert_int_equal(mc_test_num(pg, sql), 1);
	}
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE address = "
					 "'f@x.test' AND last_error = "
					 "'550 5.1.1 no' AND remote_mta = "
					 "'mx[1]'"),
			 1);
	/* the other job is untouched */
	assert_int_equal(mc_test_num(pg,
				     "SELECT count(*) FROM "
				     "queue_recipients WHERE address = "
				     "'q@x.test' AND claimed_by IS NOT NULL"),
			 1);
}

/* Deferrals back off doubling from min to max. */
static void test_backoff(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test}", 1);
	static const int want[] = {10, 20, 40, 50, 50};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		struct mc_queue_job *jobs;
		mc_test_sql(pg, "UPDATE queue_recipients SET next_attempt = "
				"now() - interval '1 s'");
		assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
		assert_int_equal(jobs[0].rcpts[0].attempts, i);
		struct mc_queue_result r = {"a@x.test", MC_QUEUE_DEFERRED,
					    "4.0.0", "later", NULL};
		complete(&jobs[0], OWNER, &r, 1);
		long long s = mc_test_num(
			pg, "SELECT round(extract(epoch FROM next_attempt - "
			    "now())) FROM queue_recipients");
		assert_int_equal(s, want[i]);
	}
}

/* When every recipient is final the entry goes with its reference:
 * zero_since is set only at 0. A wrong owner changes nothing. */
static void test_complete_drops_entry(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@y.test}", 2);
	entry(2, "Q2", "s@beta.test", "{c@x.test}", 1);
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 3);
	struct mc_queue_result a = {"a@x.test", MC_QUEUE_DELIVERED, NULL, NULL,
				    NULL};
	struct mc_queue_result b = {"b@y.test", MC_QUEUE_BOUNCED, NULL, NULL,
				    NULL};
	struct mc_queue_result c = {"c@x.test", MC_QUEUE_DELIVERED, NULL, NULL,
				    NULL};
	complete(&jobs[0], "intruder:9", &a, 1);
	assert_int_equal(num_of("SELECT count(*) FROM queue_recipients WHERE "
				"address = '%s' AND state = 'queued' AND "
				"claimed_by = '" OWNER "'",
				"a@x.test"),
			 1);
	complete(&jobs[0], OWNER, &a, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "queue_id = 'Q1'"),
			 1);
	complete(&jobs[1], OWNER, &b, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "queue_id = 'Q1'"),
			 0);
	assert_int_equal(mc_test_num(pg,
				     "SELECT count(*) FROM "
				     "queue_recipients WHERE tenant_id = 1"),
			 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "tenant_id = 1 AND refcount = 1 AND "
					 "zero_since IS NULL"),
			 1);
	complete(&jobs[2], OWNER, &c, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE "
					 "tenant_id = 2 AND refcount = 0 AND "
					 "zero_since IS NOT NULL"),
			 1);
}

/* Held entries are neither claimed nor due. */
static void test_held_not_claimed(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test}", 1);
	mc_test_sql(pg, "UPDATE queue SET state = 'held'");
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 0);
	time_t when = 1;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_next_due(pg, &when, &err), 0);
	assert_int_equal(when, 0);
	mc_test_sql(pg, "UPDATE queue SET state = 'queued'");
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
}

/* 'failed' recipients come as one NOTIFY job per entry; a failure in a
 * delivery makes one; BOUNCED from it ends the entry. */
static void test_notify_job(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@y.test}", 1);
	mc_test_sql(pg, "UPDATE queue_recipients SET state = 'failed', "
			"last_error = '552 5.2.2 mailbox full' WHERE address = "
			"'a@x.test'");
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 2);
	struct mc_queue_job *n =
		jobs[0].kind == MC_QUEUE_NOTIFY ? &jobs[0] : &jobs[1];
	struct mc_queue_job *d = n == &jobs[0] ? &jobs[1] : &jobs[0];
	assert_int_equal(n->kind, MC_QUEUE_NOTIFY);
	assert_int_equal(n->rcpts_count, 1);
	assert_string_equal(n->rcpts[0].last_error, "552 5.2.2 mailbox full");
	assert_int_equal(d->kind, MC_QUEUE_DELIVER);
	assert_string_equal(d->domain, "y.test");
	struct mc_queue_result f = {"b@y.test", MC_QUEUE_FAILED, "5.1.1",
				    "550 5.1.1 unknown", NULL};
	complete(d, OWNER, &f, 1);
	/* the DSN of a could not be sent yet: stays failed, retried later */
	struct mc_queue_result later = {"a@x.test", MC_QUEUE_DEFERRED, NULL,
					NULL, NULL};
	complete(n, OWNER, &later, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE state = "
					 "'failed' AND attempts = 0 AND "
					 "next_attempt > now()"),
			 1);
	mc_test_sql(pg, "UPDATE queue_recipients SET next_attempt = now()");
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
	assert_int_equal(jobs[0].kind, MC_QUEUE_NOTIFY);
	assert_int_equal(jobs[0].rcpts_count, 2);
	assert_string_equal(jobs[0].domain, "");
	struct mc_queue_result done[] = {
		{"a@x.test", MC_QUEUE_BOUNCED, NULL, NULL, NULL},
		{"b@y.test", MC_QUEUE_BOUNCED, NULL, NULL, NULL}};
	complete(&jobs[0], OWNER, done, 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue"), 0);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 0);
}

/* WARNED alone defers and marks; next to DEFERRED it only marks. */
static void test_warned(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@x.test}", 1);
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
	struct mc_queue_result rs[] = {
		{"a@x.test", MC_QUEUE_WARNED, "4.4.1", "slow", NULL},
		{"b@x.test", MC_QUEUE_WARNED, NULL, NULL, NULL},
		{"b@x.test", MC_QUEUE_DEFERRED, "4.2.0", "busy", NULL}};
	complete(&jobs[0], OWNER, rs, 3);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE state = "
					 "'deferred' AND delay_warned AND "
					 "attempts = 1"),
			 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE status = "
					 "'4.2.0'"),
			 1);
	mc_test_sql(pg, "UPDATE queue_recipients SET next_attempt = now()");
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
	assert_true(jobs[0].rcpts[0].delay_warned);
	assert_true(jobs[0].rcpts[0].first_deferred > 0);
}

/* The lifetime: the tenant's when shorter than the server's, else the
 * server's; an entry's own cap wins when earlier. */
static void test_lifetime(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "Q1", "s@acme.test", "{a@x.test}", 1);
	entry(2, "Q2", "s@beta.test", "{b@x.test}", 1);
	entry(2, "Q3", "s@beta.test", "{c@x.test}", 1);
	mc_test_sql(pg, "UPDATE tenants SET queue_lifetime = '2 days' WHERE "
			"id = 1; UPDATE queue SET expires_at = created_at + "
			"interval '1 hour' WHERE queue_id = 'Q3'");
	/* more than the server's: the server's applies */
	mc_test_sql(pg, "UPDATE tenants SET queue_lifetime = '9 days' WHERE "
			"id = 2");
	struct mc_queue_claim_settings set = {.owner = OWNER,
					      .lifetime_s = 3 * 86400};
	struct mc_queue_job *jobs;
	size_t n;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_claim(pg, pool, &set, &jobs, &n, &err), 0);
	assert_int_equal(n, 3);
	static const char *const qids[] = {"Q1", "Q2", "Q3"};
	static const time_t life[] = {2 * 86400, 3 * 86400, 3600};
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < 3; k++) {
			if (strcmp(jobs[i].queue_id, qids[k]) == 0)
				assert_int_equal(jobs[i].expires_at -
							 jobs[i].created_at,
						 life[k]);
		}
	}
}

/* The next due time: the earliest pending one; 0 when empty. */
static void test_next_due(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	time_t when = 1;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_next_due(pg, &when, &err), 0);
	assert_int_equal(when, 0);
	entry(1, "Q1", "s@acme.test", "{a@x.test,b@x.test}", 1);
	mc_test_sql(pg, "UPDATE queue_recipients SET next_attempt = now() + "
			"interval '1 hour'; UPDATE queue_recipients SET "
			"next_attempt = now() + interval '100 s' WHERE address "
			"= 'b@x.test'");
	assert_int_equal(mc_queue_next_due(pg, &when, &err), 0);
	long long d = (long long)(when - time(NULL));
	assert_true(d >= 99 && d <= 102);
}

/* Queue ids of a list result joined with ",". */
static const char *ids(const struct mc_queue_entry *e, size_t n)
{
	static char buf[256];
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i > 0 ? "," : "");
		strcat(buf, e[i].queue_id);
	}
	return buf;
}

/* Lists f's queue ids. */
static const char *list(const struct mc_queue_filter *f)
{
	const struct mc_queue_entry *e;
	size_t n;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_list(pg, pool, f, &e, &n, &err), 0);
	return ids(e, n);
}

static const int64_t acme[] = {1}, beta[] = {2};

/* Scope and filters of list and show. */
static void test_list_show_scope(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "L1", "alice@acme.test", "{x@far.test,y@near.test}", 1);
	entry(1, "L2", "bob@acme.test", "{z@far.test}", 1);
	entry(2, "L3", "carol@beta.test", "{w@other.test}", 1);
	mc_test_sql(pg, "UPDATE queue SET state = 'held', held_reason = 'x', "
			"created_at = now() - interval '2 hours' WHERE "
			"queue_id = 'L2'; UPDATE queue_recipients SET state = "
			"'deferred', last_error = 'later', status = '4.0.0' "
			"WHERE address = 'y@near.test'");
	static const struct {
		struct mc_queue_filter f;
		const char *want;
	} cases[] = {
		{{.tenants = NULL}, "L1,L2,L3"},
		{{.tenants = acme, .tenants_count = 1}, "L1,L2"},
		{{.tenants = beta, .tenants_count = 1}, "L3"},
		{{.tenants = acme, .tenants_count = 0}, ""},
		{{.sender_domain = "BETA.test"}, "L3"},
		{{.sender = "ALI"}, "L1"},
		{{.recipient = "z@far"}, "L2"},
		{{.recipient_domain = "far.test"}, "L1,L2"},
		{{.state = "held"}, "L2"},
		{{.state = "deferred"}, "L1"},
		{{.state = "queued"}, "L1,L3"},
		{{.min_age_s = 3600}, "L2"},
		{{.after = "L1"}, "L2,L3"},
		{{.limit = 2}, "L1,L2"},
		{{.tenants = beta, .tenants_count = 1, .recipient = "x@"}, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_string_equal(list(&cases[i].f), cases[i].want);
	struct mc_queue_filter bad = {.state = "bogus"};
	const struct mc_queue_entry *e;
	size_t n;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_list(pg, pool, &bad, &e, &n, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);

	struct mc_queue_filter scope = {.tenants = beta, .tenants_count = 1};
	struct mc_queue_entry one;
	assert_int_equal(mc_queue_show(pg, pool, &scope, "L1", &one, &err), 0);
	scope.tenants = acme;
	scope.lifetime_s = 7200;
	assert_int_equal(mc_queue_show(pg, pool, &scope, "L1", &one, &err), 1);
	assert_string_equal(one.sender, "alice@acme.test");
	assert_string_equal(one.state, "queued");
	assert_int_equal(one.tenant_id, 1);
	assert_int_equal(one.expires_at - one.created_at, 7200);
	assert_int_equal(one.rcpts_count, 2);
	assert_string_equal(one.rcpts[0].address, "x@far.test");
	assert_string_equal(one.rcpts[1].state, "deferred");
	assert_string_equal(one.rcpts[1].status, "4.0.0");
	assert_string_equal(one.rcpts[1].last_error, "later");
	assert_int_equal(mc_queue_show(pg, pool, &scope, "L2", &one, &err), 1);
	assert_string_equal(one.state, "held");
	assert_string_equal(one.held_reason, "x");
}

/* mc_queue_act within scope, returning 1. */
static void act(const char *qid, enum mc_queue_action a, const char *reason)
{
	struct mc_queue_filter scope = {.tenants = acme, .tenants_count = 1};
	struct mc_error err = {0};
	assert_int_equal(mc_queue_act(pg, &scope, qid, a, reason, &err), 1);
}

/* Hold, release, retry, delete and delete with DSN. */
static void test_act(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "A1", "s@acme.test", "{a@x.test,b@y.test}", 2);
	entry(2, "A2", "s@beta.test", "{c@x.test}", 1);
	struct mc_queue_filter scope = {.tenants = acme, .tenants_count = 1};
	struct mc_error err = {0};
	assert_int_equal(
		mc_queue_act(pg, &scope, "A2", MC_QUEUE_DELETE, NULL, &err), 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "queue_id = 'A2'"),
			 1);
	act("A1", MC_QUEUE_HOLD, "spam?");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "state = 'held' AND held_reason = "
					 "'spam?'"),
			 1);
	mc_test_sql(pg, "DELETE FROM queue WHERE queue_id = 'A2'");
	struct mc_queue_job *jobs;
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 0);
	act("A1", MC_QUEUE_UNHOLD, NULL);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "state = 'queued' AND held_reason IS "
					 "NULL"),
			 1);
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 2);
	struct mc_queue_result r = {"a@x.test", MC_QUEUE_DEFERRED, NULL, NULL,
				    NULL};
	complete(&jobs[0], OWNER, &r, 1);
	act("A1", MC_QUEUE_RETRY, NULL);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE next_attempt "
					 "<= now() AND claimed_by IS NULL"),
			 2);
	act("A1", MC_QUEUE_HOLD, NULL);
	act("A1", MC_QUEUE_DELETE_DSN, "spam");
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM "
					 "queue_recipients WHERE state = "
					 "'failed' AND status = '5.0.0' AND "
					 "last_error = 'spam'"),
			 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue WHERE "
					 "state = 'queued'"),
			 1);
	assert_int_equal(claim(pg, OWNER, 0, &jobs), 1);
	assert_int_equal(jobs[0].kind, MC_QUEUE_NOTIFY);
	act("A1", MC_QUEUE_DELETE, NULL);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue"), 0);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 1);
	assert_int_equal(
		mc_queue_act(pg, &scope, "A1", MC_QUEUE_HOLD, NULL, &err), 0);
}

/* Deferred recipients per tenant. */
static void test_deferred_count(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	reset();
	entry(1, "D1", "s@acme.test", "{a@x.test,b@x.test,c@x.test}", 1);
	entry(2, "D2", "s@beta.test", "{d@x.test}", 1);
	mc_test_sql(pg, "UPDATE queue_recipients SET state = 'deferred' WHERE "
			"address IN ('a@x.test', 'b@x.test', 'd@x.test')");
	uint64_t n = 0;
	struct mc_error err = {0};
	assert_int_equal(mc_queue_deferred_count(pg, 1, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(mc_queue_deferred_count(pg, 2, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mc_queue_deferred_count(pg, 3, &n, &err), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_groups_by_domain),
		cmocka_unit_test(test_claim_max),
		cmocka_unit_test(test_two_claimers),
		cmocka_unit_test(test_lease_expiry),
		cmocka_unit_test(test_complete_outcomes),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_complete_drops_entry),
		cmocka_unit_test(test_held_not_claimed),
		cmocka_unit_test(test_notify_job),
		cmocka_unit_test(test_warned),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_next_due),
		cmocka_unit_test(test_list_show_scope),
		cmocka_unit_test(test_act),
		cmocka_unit_test(test_deferred_count),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
