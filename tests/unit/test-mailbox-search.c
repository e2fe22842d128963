/* test-mailbox-search: mc_mailbox_search against a real PostgreSQL (a
 * fresh schema per run) on three known messages with blobs in memory:
 * every kind of key, NOT/OR/AND, non-ASCII body words, UTC day dates,
 * header keys answered from the blob (BCC, HEADER X-...), the UID scope
 * and the MODSEQ of the result. Skips without MAILCORE_TEST_PG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-imap-search.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-mailbox.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-store.h"

#include "mc-test.h"

static char schema[96];
static struct mc_pg *pg;
static struct mc_blob_store *blobs;
static struct mc_mailbox_owner owner;
static int64_t inbox;
static struct mc_pool *pool;

/* 2006-01-03 12:00, 2006-01-05 00:00:00, 2006-01-10 23:59:59 UTC */
#define T1 1136289600
#define T2 1136419200
#define T3 1136937599

static const char msg1[] =
	"From: Alice Example <alice@a.test>\r\n"
	"To: bob@b.test\r\n"
	"Cc: carol@c.test\r\n"
	"Bcc: dave@d.test\r\n"
	"Subject: Hello World 100% done\r\n"
	"Date: Mon, 02 Jan 2006 23:30:00 -0800\r\n"
	"X-Custom: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from\r\n the lab\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"Viele Grüße aus Berlin\r\n";
static const char msg2[] =
	"From: bob@b.test\r\n"
	"To: alice@a.test\r\n"
	"Subject: =?UTF-8?B?5pel5pys?= trip\r\n"
	"Content-Type: text/plain; charset=UTF-8\r\n"
	"\r\n"
	"日本 の 旅 padding padding padding padding padding padding padding\r\n"
	"padding padding padding padding padding padding padding padding\r\n";
static const char msg3[] = "From: Carol <carol@c.test>\r\n"
			   "To: alice@a.test\r\n"
			   "Subject: under_score test\r\n"
			   "Date: Tue, 10 Jan 2006 10:00:00 +0000\r\n"
			   "X-Other: nothing\r\n"
			   "\r\n"
			   "plain english words\r\n";

/* Stores text as a blob and delivers it to INBOX. */
static void deliver(const char *text, time_t date, unsigned flags,
		    const char *keywords)
{
	char hash[MC_BLOB_HASH_LEN + 1];
	struct mc_error err = {0};
	assert_int_equal(mc_blob_put(blobs, text, strlen(text), hash, &err), 0);
	struct mc_message *m = mc_message_create(NULL);
	mc_message_feed(m, text, strlen(text));
	struct mc_store_local l = {.tenant_id = owner.tenant_id,
				   .user_id = owner.user_id,
				   .domain_id = owner.domain_id,
				   .address = "u@m.test",
				   .flags = flags,
				   .keywords = keywords};
	struct mc_store_delivery d = {.sha256 = hash,
				      .info = mc_message_finish(m),
				      .internal_date = date,
				      .local = &l,
				      .local_count = 1,
				      .queue_id = "T",
				      .sender = "a@b.test"};
	struct mc_store_local_result res;
	bool committed;
	if (mc_store_deliver(pg, &d, &res, &committed, &err) < 0 || !committed)
		fail_msg("deliver: %s", err.msg);
	inbox = res.mailbox_id;
	mc_message_destroy(&m);
}

static int setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("msearch", schema, sizeof(schema));
	if (pg == NULL)
		return 0;
	mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('acme');"
	    "INSERT INTO domains (tenant_id, name) VALUES (1, 'm.test');"
	    "INSERT INTO users (tenant_id, domain_id, local_part, "
	    "password_hash) VALUES (1, 1, 'u', 'x')");
	owner = (struct mc_mailbox_owner){1, mc_test_num(pg, "SELECT id FROM users"), 1};
	pool = mc_pool_create("test-mailbox-search", 4096);
	blobs = mc_blob_store_memory_create();
	deliver(msg1, T1, MC_STORE_FLAG_SEEN, "{$Label1}");
	deliver(msg2, T2, MC_STORE_FLAG_FLAGGED | MC_STORE_FLAG_ANSWERED,
		"{Work}");
	deliver(msg3, T3, MC_STORE_FLAG_DELETED, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mc_blob_store_destroy(&blobs);
	mc_pool_destroy(&pool);
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* Parses "t SEARCH <keys>" with the real parser into a program. */
static struct mc_imap_search *program(const char *keys)
{
	struct mc_imap_parser *p = mc_imap_parser_create(NULL);
	char *line = mc_psprintf(pool, "t SEARCH %s\r\n", keys);
	mc_imap_parser_feed(p, line, strlen(line));
	struct mc_imap_event ev;
	assert_int_equal(mc_imap_parser_next(p, &ev), 1);
	assert_int_equal(ev.type, MC_IMAP_EV_COMMAND);
	struct mc_imap_search *s;
	const char *error;
	if (mc_imap_search_parse(pool, NULL, ev.args, ev.args_count, &s,
				 &error) != MC_IMAP_SEARCH_OK)
		fail_msg("%s: %s", keys, error);
	mc_imap_parser_destroy(&p);
	return s;
}

/* The matching UIDs of keys as "1,3" (scope may be NULL). */
static const char *run(const char *keys, const char *scope, uint64_t *modseq_r)
{
	struct mc_imap_seqset set, *sp = NULL;
	if (scope != NULL) {
		assert_true(mc_imap_seqset_parse(pool, scope, false, &set));
		mc_imap_seqset_resolve(&set, 3);
		sp = &set;
	}
	uint32_t *uids;
	size_t n;
	uint64_t modseq;
	struct mc_error err = {0};
	if (mc_mailbox_search(pg, blobs, pool, &owner, inbox, program(keys), sp,
			      &uids, &n, &modseq, &err) < 0)
		fail_msg("%s: %s", keys, err.msg);
	char *out = mc_palloc(pool, n * 12 + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(out + strlen(out), "%s%u", i > 0 ? "," : "", uids[i]);
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return out;
}

struct search_case {
	const char *keys, *want;
};

static const struct search_case cases[] = {
	{"ALL", "1,2,3"},
	/* flags and keywords */
	{"SEEN", "1"},
	{"UNSEEN", "2,3"},
	{"FLAGGED ANSWERED", "2"},
	{"DELETED", "3"},
	{"UNDELETED", "1,2"},
	{"DRAFT", ""},
	{"RECENT", ""},
	{"OLD", "1,2,3"},
	{"KEYWORD $label1", "1"},
	{"KEYWORD WORK", "2"},
	{"UNKEYWORD work", "1,3"},
	/* dates: internal (UTC days) and sent */
	{"ON 3-Jan-2006", "1"},
	{"BEFORE 5-Jan-2006", "1"},
	{"SINCE 5-Jan-2006", "2,3"},
	{"ON 10-Jan-2006", "3"},
	{"SINCE 11-Jan-2006", ""},
	{"SENTON 3-Jan-2006", "1"}, /* 23:30 -0800 is the 3rd in UTC */
	{"SENTBEFORE 10-Jan-2006", "1"},
	{"SENTSINCE 4-Jan-2006", "3"},
	{"NOT SENTSINCE 4-Jan-2006", "1,2"}, /* 2 has no Date */
	/* sizes */
	{"LARGER 200", "1,2"},
	{"SMALLER 200", "3"},
	/* header columns: case-insensitive substrings, % and _ literal */
	{"SUBJECT hello", "1"},
	{"SUBJECT \"100%\"", "1"},
	{"SUBJECT \"0% d\"", "1"},
	{"SUBJECT \"%\"", "1"},
	{"SUBJECT _", "3"},
	{"SUBJECT \"\"", "1,2,3"},
	{"FROM ALICE", "1"},
	{"FROM \"alice example\"", "1"},
	{"TO alice@a.test", "2,3"},
	{"CC carol", "1"},
	{"HEADER subject world", "1"},
	/* header fields from the blob */
	{"BCC dave", "1"},
	{"BCC bob", ""},
	{"HEADER X-Custom \"from the lab\"", "1"},
	{"HEADER X-Custom gr", "1"},
	{"HEADER X-Other \"\"", "3"},
	{"NOT HEADER X-Other \"\"", "1,2"},
	{"OR BCC dave SUBJECT test", "1,3"},
	{"OR HEADER X-Other x SEEN", "1"},
	/* body and text: whole words */
	{"BODY berlin", "1"},
	{"BODY \"english words\"", "3"},
	{"BODY engl", ""},
	{"TEXT carol", "3"},	      /* the display name: a word */
	{"TEXT carol@c.test", "1,3"}, /* addresses are one word each */
	{"BODY \"\"", "1,2,3"},
	/* UIDs, MODSEQ, boolean structure */
	{"UID 2:*", "2,3"},
	{"UID 1,3", "1,3"},
	{"UID 5:7", ""},
	{"MODSEQ 3", "2,3"},
	{"NOT SEEN", "2,3"},
	{"OR SEEN DELETED", "1,3"},
	{"OR (SEEN FLAGGED) DELETED", "3"},
	{"NOT (OR SEEN DELETED)", "2"},
	{"(UNSEEN LARGER 100) NOT DELETED", "2"},
	{"OR OR SEEN FLAGGED DELETED", "1,2,3"},
};

/* Every key of the table. */
static void test_keys(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = run(cases[i].keys, NULL, NULL);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].keys,
				 got, cases[i].want);
	}
}

/* keys followed by word as a literal, as clients send 8-bit text. */
static const char *lit(const char *keys, const char *word)
{
	return mc_psprintf(pool, "CHARSET UTF-8 %s {%zu+}\r\n%s", keys,
			   strlen(word), word);
}

/* Non-ASCII words. */
static void test_non_ascii(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	assert_string_equal(run(lit("BODY", "Grüße"), NULL, NULL), "1");
	assert_string_equal(run(lit("BODY", "Grü"), NULL, NULL), "");
	assert_string_equal(run(lit("TEXT", "日本"), NULL, NULL), "2");
	assert_string_equal(run(lit("BODY", "旅"), NULL, NULL), "2");
	assert_string_equal(run(lit("SUBJECT", "日本"), NULL, NULL), "2");
	assert_string_equal(run(lit("HEADER X-Custom", "Grüß"), NULL, NULL),
			    "1");
	assert_string_equal(run(lit("NOT BODY", "Grüße"), NULL, NULL), "2,3");
}

/* The scope bounds the result; the highest MODSEQ comes with it. */
static void test_scope_modseq(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	uint64_t modseq;
	assert_string_equal(run("ALL", "1:2", &modseq), "1,2");
	assert_int_equal(modseq, (uint64_t)mc_test_num(pg, "SELECT max(modseq) FROM "
					       "mailbox_messages WHERE uid <= "
					       "2"));
	assert_string_equal(run("BCC dave", "2:3", &modseq), "");
	assert_int_equal(modseq, 0);
	assert_string_equal(run("OR SEEN DELETED", "3", NULL), "3");
}

/* Unconverted sequence sets, and header keys without a blob store. */
static void test_errors(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	uint32_t *uids;
	size_t n;
	uint64_t modseq;
	struct mc_error err = {0};
	assert_int_equal(mc_mailbox_search(pg, blobs, pool, &owner, inbox,
					   program("1:2"), NULL, &uids, &n,
					   &modseq, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	mc_error_clear(&err);
	assert_int_equal(mc_mailbox_search(pg, NULL, pool, &owner, inbox,
					   program("BCC x"), NULL, &uids, &n,
					   &modseq, &err),
			 -1);
	/* another user's view of the mailbox is empty */
	struct mc_mailbox_owner other = owner;
	other.user_id += 1000;
	assert_int_equal(mc_mailbox_search(pg, blobs, pool, &other, inbox,
					   program("ALL"), NULL, &uids, &n,
					   &modseq, &err),
			 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_non_ascii),
		cmocka_unit_test(test_scope_modseq),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
