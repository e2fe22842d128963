/* test-store: deliveries against a real PostgreSQL (a fresh schema per
 * run): the rows one delivery writes (message refcount, UIDs, MODSEQ,
 * usage, default mailboxes), quotas at commit (partial and total), the
 * queue entry for remote recipients, several messages all or nothing
 * (mc_store_deliver_many), and concurrent deliveries into one
 * mailbox getting distinct consecutive UIDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-store.h"

#include "mc-test.h"

#define THREADS	   4
#define PER_THREAD 25

static char schema[96];
static struct mc_pg *pg;
static int64_t alice, bob, carol; /* user ids; carol has a tiny quota */

static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("store", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme');"
		"INSERT INTO domains (tenant_id, name) VALUES (1, 's.test');"
		"INSERT INTO users (tenant_id, domain_id, local_part, "
		"password_hash, quota_bytes) SELECT 1, id, l, 'x', q FROM "
		"domains, (VALUES ('alice', 0), ('bob', 0), ('carol', 300)) "
		"AS v(l, q)");
	alice = mc_test_num(pg, "SELECT id FROM users WHERE local_part = 'alice'");
	bob = mc_test_num(pg, "SELECT id FROM users WHERE local_part = 'bob'");
	carol = mc_test_num(pg, "SELECT id FROM users WHERE local_part = 'carol'");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* Parses text into a message (caller destroys). */
static struct mc_message *parse(const char *text)
{
	struct mc_message *m = mc_message_create(NULL);
	mc_message_feed(m, text, strlen(text));
	mc_message_finish(m);
	return m;
}

/* A local recipient of tenant 1, domain 1. */
static struct mc_store_local local(int64_t user, const char *addr)
{
	return (struct mc_store_local){.tenant_id = 1,
				       .user_id = user,
				       .domain_id = 1,
				       .address = addr};
}

/* One delivery, two users, one remote recipient. */
static void test_deliver(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_message *m = parse("Subject: hello\r\nFrom: x@y\r\n\r\n"
				     "body text\r\n");
	const struct mc_message_info *info = mc_message_finish(m);
	struct mc_store_local l[] = {local(alice, "alice@s.test"),
				     local(bob, "bob@s.test")};
	struct mc_store_remote r[] = {
		{.tenant_id = 1, .address = "far@away.example", .notify = 4}};
	struct mc_store_delivery d = {
		.sha256 = "0000000000000000000000000000000000000000000000000000"
			  "000000000001",
		.info = info,
		.local = l,
		.local_count = 2,
		.remote = r,
		.remote_count = 1,
		.queue_id = "Q1",
		.sender = "x@y",
		.client_ip = "127.0.0.1"};
	struct mc_store_local_result res[2];
	bool committed = false;
	struct mc_error err = {0};
	assert_int_equal(mc_store_deliver(pg, &d, res, &committed, &err), 0);
	assert_true(committed);
	assert_int_equal(res[0].status, MC_STORE_DELIVERED);
	assert_int_equal(res[0].uid, 1);
	assert_int_equal(res[1].uid, 1);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 3);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailboxes WHERE user_id = "
			     "(SELECT id FROM users WHERE local_part = "
			     "'alice')"),
			 6);
	assert_int_equal(mc_test_num(pg, "SELECT sum(used_bytes) FROM users"),
			 2 * (long long)info->size);
	assert_int_equal(mc_test_num(pg, "SELECT sum(used_bytes) FROM domain_usage"),
			 2 * (long long)info->size);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue_recipients WHERE "
			     "address = 'far@away.example' AND state = "
			     "'queued' AND notify = 4"),
			 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE search @@ "
			     "to_tsquery('simple', 'hello & body')"),
			 1);
	/* the same content again: same row, refcount up, next UID */
	assert_int_equal(mc_store_deliver(pg, &d, res, &committed, &err), 0);
	assert_int_equal(res[0].uid, 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(mc_test_num(pg, "SELECT refcount FROM messages"), 6);
	mc_message_destroy(&m);
}

/* Over quota at commit: alone nothing is stored; with another recipient
 * the other gets it and the full one waits for its DSN. */
static void test_quota(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct mc_message *m = parse(big);
	struct mc_store_local l[] = {local(carol, "carol@s.test"),
				     local(bob, "bob@s.test")};
	struct mc_store_delivery d = {
		.sha256 = "0000000000000000000000000000000000000000000000000000"
			  "000000000002",
		.info = mc_message_finish(m),
		.local = l,
		.local_count = 1,
		.queue_id = "Q2",
		.sender = "x@y"};
	struct mc_store_local_result res[2];
	bool committed = true;
	struct mc_error err = {0};
	long long before = mc_test_num(pg, "SELECT count(*) FROM mailbox_messages");
	assert_int_equal(mc_store_deliver(pg, &d, res, &committed, &err), 0);
	assert_false(committed);
	assert_int_equal(res[0].status, MC_STORE_OVER_QUOTA);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailbox_messages"), before);
	d.local_count = 2;
	assert_int_equal(mc_store_deliver(pg, &d, res, &committed, &err), 0);
	assert_true(committed);
	assert_int_equal(res[0].status, MC_STORE_OVER_QUOTA);
	assert_int_equal(res[1].status, MC_STORE_DELIVERED);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue_recipients WHERE "
			     "address = 'carol@s.test' AND state = 'failed' "
			     "AND last_error LIKE '552 5.2.2%'"),
			 1);
	/* the null sender gets no DSN */
	d.sender = "";
	assert_int_equal(mc_store_deliver(pg, &d, res, &committed, &err), 0);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM queue_recipients WHERE "
			     "address = 'carol@s.test'"),
			 1);
	mc_message_destroy(&m);
}

/* Several messages in one transaction: all stored, or (one over quota)
 * none, not even the ones that fitted. */
static void test_deliver_many(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char text[200];
	memset(text, 'y', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	struct mc_message *m = parse(text);
	struct mc_store_local l[] = {local(carol, "carol@s.test"),
				     local(carol, "carol@s.test")};
	l[1].mailbox = "Sent";
	l[1].flags = MC_STORE_FLAG_SEEN;
	struct mc_store_delivery d[2];
	for (int i = 0; i < 2; i++)
		d[i] = (struct mc_store_delivery){
			.sha256 = i == 0 ? "00000000000000000000000000000000000"
					   "00000000000000000000000000004"
					 : "00000000000000000000000000000000000"
					   "00000000000000000000000000005",
			.info = mc_message_finish(m),
			.local = &l[i],
			.local_count = 1};
	struct mc_store_local_result res[2];
	bool committed = true;
	struct mc_error err = {0};
	long long before = mc_test_num(pg, "SELECT count(*) FROM mailbox_messages");
	/* carol has room for one, not two: neither is kept */
	assert_int_equal(mc_store_deliver_many(pg, d, 2, res, &committed, &err),
			 0);
	assert_false(committed);
	assert_int_equal(res[0].status, MC_STORE_DELIVERED);
	assert_int_equal(res[1].status, MC_STORE_OVER_QUOTA);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailbox_messages"), before);
	assert_int_equal(mc_test_num(pg, "SELECT used_bytes FROM users WHERE local_part = "
			     "'carol'"),
			 0);
	assert_int_equal(mc_store_deliver_many(pg, d, 1, res, &committed, &err),
			 0);
	assert_true(committed);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailbox_messages"),
			 before + 1);
	l[0].user_id = l[1].user_id = bob;
	assert_int_equal(mc_store_deliver_many(pg, d, 2, res, &committed, &err),
			 0);
	assert_true(committed);
	assert_int_equal(res[0].status, MC_STORE_DELIVERED);
	assert_int_equal(res[1].status, MC_STORE_DELIVERED);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM mailbox_messages mm JOIN "
			     "mailboxes mb ON mb.id = mm.mailbox_id WHERE "
			     "mb.name = 'Sent' AND mm.flags = 1"),
			 1);
	mc_message_destroy(&m);
}

struct worker_arg {
	const struct mc_message_info *info;
	int failures;
};

/* One thread: its own connection, PER_THREAD deliveries to alice's
 * Archive mailbox. */
static void *deliver_thread(void *p)
{
	struct worker_arg *a = p;
	struct mc_pg *c = mc_test_pg_connect_schema(schema);
	struct mc_store_local l = local(alice, "alice@s.test");
	l.mailbox = "Archive";
	struct mc_store_delivery d = {
		.sha256 = "0000000000000000000000000000000000000000000000000000"
			  "000000000003",
		.info = a->info,
		.local = &l,
		.local_count = 1,
		.queue_id = "Q3",
		.sender = "x@y"};
	for (int i = 0; i < PER_THREAD; i++) {
		struct mc_store_local_result res;
		bool committed;
		struct mc_error err = {0};
		if (mc_store_deliver(c, &d, &res, &committed, &err) < 0 ||
		    !committed)
			a->failures++;
	}
	mc_pg_destroy(&c);
	return NULL;
}

/* Concurrent deliveries: every UID once, no gaps, MODSEQ advanced. */
static void test_concurrent_uids(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_message *m = parse("Subject: many\r\n\r\nx\r\n");
	pthread_t t[THREADS];
	struct worker_arg args[THREADS];
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct worker_arg){.info = mc_message_finish(m)};
		pthread_create(&t[i], NULL, deliver_thread, &args[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	const char *mb = "(SELECT id FROM mailboxes WHERE name = 'Archive' AND "
			 "user_id = (SELECT id FROM users WHERE local_part = "
			 "'alice'))";
	char q[400];
	snprintf(q, sizeof(q),
		 "SELECT count(DISTINCT uid) * 1000 + max(uid) FROM "
		 "mailbox_messages WHERE mailbox_id = %s",
		 mb);
	assert_int_equal(mc_test_num(pg, q), THREADS * PER_THREAD * 1001);
	snprintf(q, sizeof(q),
		 "SELECT uidnext * 1000 + highestmodseq FROM mailboxes WHERE "
		 "id = %s",
		 mb);
	assert_int_equal(mc_test_num(pg, q), (THREADS * PER_THREAD + 1) * 1001);
	mc_message_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_deliver_many),
		cmocka_unit_test(test_concurrent_uids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
