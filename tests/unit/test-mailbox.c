/* test-mailbox: a user's mailboxes against a real PostgreSQL (a fresh
 * schema per run): the list and its counts, create with parents, rename
 * with children and of INBOX, delete rules, STORE with MODSEQ and
 * UNCHANGEDSINCE, the delta since a MODSEQ, EXPUNGE with its log and
 * usage, COPY/MOVE with their UIDs and the quota, and FETCH columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-mailbox.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-store.h"

#include "mc-test.h"

static char schema[96];
static struct mc_pg *pg;
static struct mc_mailbox_owner owner;
static struct mc_pool *pool;

/* Delivers a small message to INBOX; returns its UID. */
static uint32_t deliver(const char *subject)
{
	char text[256], hash[65];
	snprintf(text, sizeof(text),
		 "From: a@b.test\r\nSubject: %s\r\n\r\nbody of %s\r\n", subject,
		 subject);
	struct mc_message *m = mc_message_create(NULL);
	mc_message_feed(m, text, strlen(text));
	snprintf(hash, sizeof(hash), "%064zx",
		 strlen(subject) * 7919 + (size_t)subject[0]);
	struct mc_store_local l = {.tenant_id = owner.tenant_id,
				   .user_id = owner.user_id,
				   .domain_id = owner.domain_id,
				   .address = "u@m.test"};
	struct mc_store_delivery d = {.sha256 = hash,
				      .info = mc_message_finish(m),
				      .local = &l,
				      .local_count = 1,
				      .queue_id = "T",
				      .sender = "a@b.test"};
	struct mc_store_local_result res;
	bool committed;
	struct mc_error err = {0};
	if (mc_store_deliver(pg, &d, &res, &committed, &err) < 0 || !committed)
		fail_msg("deliver: %s", err.msg);
	mc_message_destroy(&m);
	return (uint32_t)res.uid;
}

/* A resolved UID set from text. */
static struct mc_imap_seqset *uids(const char *text)
{
	struct mc_imap_seqset *set = mc_palloc(pool, sizeof(*set));
	assert_true(mc_imap_seqset_parse(pool, text, false, set));
	mc_imap_seqset_resolve(set, UINT32_MAX - 1);
	return set;
}

/* The mailbox named name (must exist). */
static struct mc_mailbox_info get(const char *name)
{
	struct mc_mailbox_info info;
	struct mc_error err = {0};
	if (mc_mailbox_get(pg, pool, &owner, name, &info, &err) != 1)
		fail_msg("no mailbox %s (%s)", name, err.msg);
	return info;
}

static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("mbox", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme');"
	    "INSERT INTO domains (tenant_id, name) VALUES (1, 'm.test');"
	    "INSERT INTO users (tenant_id, domain_id, local_part, "
	    "password_hash) VALUES (1, 1, 'u', 'x')");
	owner = (struct mc_mailbox_owner){1, mc_test_num(pg, "SELECT id FROM users"), 1};
	pool = mc_pool_create("test-mailbox", 4096);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_pool_destroy(&pool);
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* The list, create with parents, names. */
static void test_list_create(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	deliver("one");
	deliver("two");
	struct mc_mailbox_info *list;
	size_t n;
	assert_int_equal(mc_mailbox_list(pg, pool, &owner, &list, &n, &err), 0);
	assert_int_equal(n, 6);
	struct mc_mailbox_info inbox = get("inbox");
	assert_string_equal(inbox.name, "INBOX");
	assert_int_equal(inbox.messages, 2);
	assert_int_equal(inbox.unseen, 2);
	assert_int_equal(inbox.uidnext, 3);
	assert_string_equal(get("Sent").special_use, "\\Sent");
	assert_int_equal(
		mc_mailbox_create(pg, &owner, "Projects/2026/Q1", NULL, &err),
		0);
	assert_int_equal(get("Projects/2026").messages, 0);
	assert_int_equal(mc_mailbox_create(pg, &owner, "Projects", NULL, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_EXISTS);
	static const char *const bad[] = {"",	  "/a", "a/",	   "a//b",
					  "a\tb", "x*", "\xff\xfe"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(mc_mailbox_name_valid(bad[i]));
	assert_true(mc_mailbox_name_valid("Entw\xc3\xbcrfe/2026"));
}

/* Rename with children, rename of INBOX, delete rules. */
static void test_rename_delete(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	assert_int_equal(
		mc_mailbox_rename(pg, &owner, "Projects", "Work", &err), 0);
	assert_int_equal(get("Work/2026/Q1").messages, 0);
	struct mc_mailbox_info info;
	assert_int_equal(
		mc_mailbox_get(pg, pool, &owner, "Projects/2026", &info, &err),
		0);
	assert_int_equal(
		mc_mailbox_rename(pg, &owner, "Work", "Work/Sub", &err), -1);
	uint32_t validity = get("INBOX").uidvalidity;
	assert_int_equal(mc_mailbox_rename(pg, &owner, "INBOX", "Old", &err),
			 0);
	assert_int_equal(get("INBOX").messages, 0);
	assert_int_equal(get("INBOX").uidvalidity, validity);
	assert_int_equal(get("Old").messages, 2);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM expunged"), 2);
	assert_int_equal(mc_mailbox_delete(pg, &owner, "INBOX", &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_int_equal(mc_mailbox_delete(pg, &owner, "Trash", &err), -1);
	mc_error_clear(&err);
	assert_int_equal(mc_mailbox_delete(pg, &owner, "Work/2026", &err), 0);
	assert_int_equal(get("Work/2026/Q1").messages, 0);
	long long used = mc_test_num(pg, "SELECT used_bytes FROM users");
	assert_true(used > 0);
	assert_int_equal(mc_mailbox_delete(pg, &owner, "Old", &err), 0);
	assert_int_equal(mc_test_num(pg, "SELECT used_bytes FROM users"), 0);
	assert_int_equal(mc_test_num(pg, "SELECT sum(refcount) FROM messages"), 0);
	assert_int_equal(mc_mailbox_delete(pg, &owner, "Nope", &err), -1);
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
}

/* STORE, UNCHANGEDSINCE and the delta since a MODSEQ. */
static void test_store_changes(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	uint32_t a = deliver("alpha"), b = deliver("beta"),
		 c = deliver("gamma");
	int64_t box = get("INBOX").id;
	uint64_t before = get("INBOX").highestmodseq;
	struct mc_mailbox_change *ch;
	uint32_t *failed;
	size_t nch, nfail;
	const char *kw[] = {"$Label1", "Work"};
	char set[32];
	snprintf(set, sizeof(set), "%u:%u", a, b);
	assert_int_equal(mc_mailbox_store(pg, pool, &owner, box, uids(set),
					  MC_MAILBOX_FLAGS_ADD,
					  MC_STORE_FLAG_SEEN, kw, 2, 0, &ch,
					  &nch, &failed, &nfail, &err),
			 0);
	assert_int_equal(nch, 2);
	assert_int_equal(ch[0].modseq, before + 1);
	assert_int_equal(ch[1].modseq, before + 1);
	assert_int_equal(ch[0].keywords_count, 2);
	assert_int_equal(get("INBOX").unseen, 1);
	/* the same again changes nothing and keeps HIGHESTMODSEQ */
	assert_int_equal(mc_mailbox_store(pg, pool, &owner, box, uids(set),
					  MC_MAILBOX_FLAGS_ADD,
					  MC_STORE_FLAG_SEEN, kw, 2, 0, &ch,
					  &nch, &failed, &nfail, &err),
			 0);
	assert_int_equal(nch, 0);
	assert_int_equal(get("INBOX").highestmodseq, before + 1);
	/* UNCHANGEDSINCE below the messages' MODSEQ: MODIFIED */
	snprintf(set, sizeof(set), "%u:%u", a, c);
	assert_int_equal(mc_mailbox_store(pg, pool, &owner, box, uids(set),
					  MC_MAILBOX_FLAGS_REMOVE, 0, kw, 1,
					  before, &ch, &nch, &failed, &nfail,
					  &err),
			 0);
	assert_int_equal(nfail, 2);
	assert_int_equal(failed[0], a);
	struct mc_mailbox_delta d;
	if (mc_mailbox_changes(pg, pool, &owner, box, before, &d, &err) < 0)
		fail_msg("changes: %s", err.msg);
	assert_int_equal(d.changes_count, 2);
	assert_int_equal(d.highestmodseq, before + 1);
	assert_int_equal(d.uidnext, c + 1);
	/* FLAGS replaces */
	snprintf(set, sizeof(set), "%u", a);
	assert_int_equal(mc_mailbox_store(pg, pool, &owner, box, uids(set),
					  MC_MAILBOX_FLAGS_SET,
					  MC_STORE_FLAG_FLAGGED, NULL, 0, 0,
					  &ch, &nch, &failed, &nfail, &err),
			 0);
	assert_int_equal(ch[0].flags, MC_STORE_FLAG_FLAGGED);
	assert_int_equal(ch[0].keywords_count, 0);
}

/* EXPUNGE: only \Deleted ones, the log, usage and refcounts. */
static void test_expunge(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	int64_t box = get("INBOX").id;
	uint32_t d = deliver("delta-expunged");
	char set[32];
	snprintf(set, sizeof(set), "%u", d);
	struct mc_mailbox_change *ch;
	uint32_t *failed, *gone;
	size_t nch, nfail, ngone;
	long long used = mc_test_num(pg, "SELECT used_bytes FROM users");
	assert_int_equal(mc_mailbox_store(pg, pool, &owner, box, uids(set),
					  MC_MAILBOX_FLAGS_ADD,
					  MC_STORE_FLAG_DELETED, NULL, 0, 0,
					  &ch, &nch, &failed, &nfail, &err),
			 0);
	uint64_t modseq = get("INBOX").highestmodseq;
	assert_int_equal(mc_mailbox_expunge(pg, pool, &owner, box, NULL, &gone,
					    &ngone, &err),
			 0);
	assert_int_equal(ngone, 1);
	assert_int_equal(gone[0], d);
	assert_true(mc_test_num(pg, "SELECT used_bytes FROM users") < used);
	struct mc_mailbox_delta delta;
	assert_int_equal(
		mc_mailbox_changes(pg, pool, &owner, box, modseq, &delta, &err),
		0);
	assert_int_equal(delta.expunged_count, 1);
	assert_int_equal(delta.expunged[0], d);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE refcount = 0 "
			     "AND zero_since IS NOT NULL AND subject = "
			     "'delta-expunged'"),
			 1);
	/* nothing \Deleted: nothing goes */
	assert_int_equal(mc_mailbox_expunge(pg, pool, &owner, box, NULL, &gone,
					    &ngone, &err),
			 0);
	assert_int_equal(ngone, 0);
}

/* COPY and MOVE: UIDs, usage, quota. */
static void test_copy_move(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	int64_t box = get("INBOX").id;
	uint32_t next = get("Archive").uidnext;
	long long used = mc_test_num(pg, "SELECT used_bytes FROM users");
	struct mc_mailbox_copied cp;
	assert_int_equal(mc_mailbox_copy(pg, pool, &owner, box, uids("1:*"),
					 "Archive", false, &cp, &err),
			 0);
	assert_int_equal(cp.count, get("INBOX").messages);
	assert_int_equal(cp.dst[0], next);
	assert_int_equal(cp.uidvalidity, get("Archive").uidvalidity);
	assert_int_equal(mc_test_num(pg, "SELECT used_bytes FROM users"), 2 * used);
	mc_test_sql(pg, "UPDATE users SET quota_bytes = used_bytes + 10");
	assert_int_equal(mc_mailbox_copy(pg, pool, &owner, box, uids("1:*"),
					 "Archive", false, &cp, &err),
			 -1);
	assert_true(mc_mailbox_error_is_quota(&err));
	mc_error_clear(&err);
	/* MOVE fits even at the quota: nothing is added */
	size_t inbox = get("INBOX").messages;
	assert_int_equal(mc_mailbox_copy(pg, pool, &owner, box, uids("1:*"),
					 "Junk", true, &cp, &err),
			 0);
	assert_int_equal(cp.count, inbox);
	assert_int_equal(get("INBOX").messages, 0);
	assert_int_equal(get("Junk").messages, inbox);
	assert_int_equal(mc_test_num(pg, "SELECT used_bytes FROM users"), 2 * used);
	assert_int_equal(mc_mailbox_copy(pg, pool, &owner, box, uids("1:*"),
					 "Nope", false, &cp, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	struct mc_mailbox_quota q;
	assert_int_equal(mc_mailbox_quota(pg, &owner, &q, &err), 0);
	assert_int_equal(q.used, (uint64_t)(2 * used));
	assert_int_equal(q.limit, q.used + 10);
	mc_test_sql(pg, "UPDATE users SET quota_bytes = 0");
}

/* FETCH columns and the UID list. */
static void test_fetch_uids(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	struct mc_error err = {0};
	int64_t box = get("Junk").id;
	struct mc_mailbox_msg *msgs;
	size_t n;
	assert_int_equal(mc_mailbox_fetch(pg, pool, &owner, box, uids("1:*"),
					  MC_MAILBOX_F_FLAGS |
						  MC_MAILBOX_F_BASIC |
						  MC_MAILBOX_F_STRUCTURE |
						  MC_MAILBOX_F_SORT,
					  &msgs, &n, &err),
			 0);
	assert_true(n >= 3);
	assert_true(msgs[0].uid < msgs[1].uid);
	assert_non_null(strstr(msgs[0].envelope, "\"a\" \"b.test\""));
	assert_int_equal(msgs[0].envelope_len, strlen(msgs[0].envelope));
	assert_non_null(strstr(msgs[0].bodystructure, "\"TEXT\" \"PLAIN\""));
	assert_int_equal(strlen(msgs[0].sha256), 64);
	assert_true(msgs[0].size > 0);
	assert_string_equal(msgs[0].sort_from, "a");
	uint32_t *v, uidnext;
	uint64_t hms;
	assert_int_equal(mc_mailbox_uids(pg, &owner, box, 0, &v, &n, &uidnext,
					 &hms, &err),
			 0);
	assert_int_equal(v[0], msgs[0].uid);
	assert_int_equal(uidnext, get("Junk").uidnext);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_create),
		cmocka_unit_test(test_rename_delete),
		cmocka_unit_test(test_store_changes),
		cmocka_unit_test(test_expunge),
		cmocka_unit_test(test_copy_move),
		cmocka_unit_test(test_fetch_uids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
