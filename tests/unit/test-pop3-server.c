/* test-pop3-server: golden transcripts of the POP3 server state machine
 * (client input -> exact server output) run whole, byte by byte and fully
 * pipelined, with callbacks answering synchronously and asynchronously;
 * plus limits, maildrop checks, RETR failures and a fuzz loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-pop3-server.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GREET	   "+OK pop.test POP3 mailcore ready\r\n"
#define RFC_TS	   "<1896.697170952@dbc.mindspring.com>"
#define RFC_DIGEST "c4c9334bac560ecc979e58001b3e22fb"
#define CAPA_HEAD  "+OK Capability list follows\r\nTOP\r\nUIDL\r\n"
#define CAPA_TAIL                                                              \
	"PIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION mailcore-test\r\n.\r\n"
#define CODES	   "RESP-CODES\r\nAUTH-RESP-CODE\r\n"
#define CAPA_PLAIN CAPA_HEAD CODES "STLS\r\n" CAPA_TAIL
#define CAPA_TLS   CAPA_HEAD "USER\r\n" CODES "SASL PLAIN\r\n" CAPA_TAIL
#define CAPA_TRANS CAPA_HEAD CODES CAPA_TAIL
#define LOGIN_OK   "+OK Logged in, 4 messages (670 octets)\r\n"
#define SEND_PASS  "+OK Send PASS\r\n"
#define AUTH_FAIL  "-ERR [AUTH] Authentication failed\r\n"
#define UNKNOWN	   "-ERR Unknown command\r\n"
#define NO_MSG	   "-ERR No such message\r\n"
#define NEED_TLS                                                               \
	"-ERR Plaintext authentication is not allowed without TLS, use "       \
	"STLS first\r\n"
#define BYE	   "+OK pop.test POP3 server signing off\r\n"
#define BYE_N(n)   "+OK pop.test POP3 server signing off (" n " left)\r\n"
#define BEFORE(c)  "-ERR " c " is only valid after logging in\r\n"
#define AFTER(c)   "-ERR " c " is not valid after logging in\r\n"
#define DELETED(n) "-ERR Message " n " already deleted\r\n"
#define ALICE	   "USER alice\r\nPASS secret\r\n"
#define LOGIN                                                                  \
	{"USER alice\r\n", SEND_PASS},                                         \
	{                                                                      \
		"PASS secret\r\n", LOGIN_OK                                    \
	}
#define PLAIN_IR "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"

/* The maildrop the auth callback hands out for alice; message 4 cannot be
 * read. Sizes are the daemon's word and not checked. */
static const char *const bodies[] = {
	"Subject: one\r\n\r\nHello\r\n.dot line\r\n..two\r\n",
	"Subject: two\n\nline1\n.\nlast",
	"Subject: three\r\nX: y\r\n\r\nb1\r\nb2\r\nb3\r\n",
	NULL,
};
#define M1 "Subject: one\r\n\r\nHello\r\n..dot line\r\n...two\r\n.\r\n"
#define M2 "Subject: two\r\n\r\nline1\r\n..\r\nlast\r\n.\r\n"
#define M3 "Subject: three\r\nX: y\r\n\r\nb1\r\nb2\r\nb3\r\n.\r\n"

static const struct mc_pop3_message alice_msgs[] = {
	{120, "uid-1"}, {200, "uid-2"}, {340, "uid-3"}, {10, "uid-4"}};
static const struct mc_pop3_maildrop alice_drop = {4, alice_msgs};
static const struct mc_pop3_maildrop empty_drop = {0, NULL};
static const struct mc_pop3_message bad_msgs[] = {{1, "ok"}, {2, "sp ace"}};
static const struct mc_pop3_maildrop bad_drop = {2, bad_msgs};

/* ------------------------------------------------------------------ */
/* Harness: a server whose callbacks apply a fixed policy, answering now
 * or queueing the answer until the input call has returned. */

enum act_kind { A_NONE, A_LOGIN_OK, A_LOGIN_FAIL, A_STLS, A_RETR, A_UPDATE };

#define F_UPDATE_FAIL 0x1u
#define F_STLS_FAIL   0x2u
#define F_MID_FAIL    0x4u /* RETR fails after the first bytes */

struct act {
	enum act_kind kind;
	const struct mc_pop3_maildrop *drop;
	enum mc_pop3_code code;
	size_t index;
};

struct h {
	struct mc_pop3_server *s;
	struct mc_buf out;
	bool async;
	size_t chunk; /* message data piece size, 0 = whole */
	unsigned flags;
	struct act q;
	char mech[16], authzid[64], user[64], pass[64], deleted[64];
	unsigned updates;
	long top;
};

/* Performs an answer to the pending decision. */
static void perform(struct h *h, const struct act *a)
{
	const char *m;
	size_t len, step;

	switch (a->kind) {
	case A_LOGIN_OK:
		mc_pop3_server_login_ok(h->s, a->drop);
		break;
	case A_LOGIN_FAIL:
		mc_pop3_server_login_fail(h->s, a->code);
		break;
	case A_STLS:
		if (h->flags & F_STLS_FAIL)
			mc_pop3_server_stls_fail(h->s);
		else
			mc_pop3_server_stls_ok(h->s);
		break;
	case A_RETR:
		if ((m = bodies[a->index]) == NULL) {
			mc_pop3_server_data_fail(h->s, MC_POP3_CODE_SYS_TEMP,
						 NULL);
			break;
		}
		len = strlen(m);
		step = h->chunk == 0 ? len : h->chunk;
		for (size_t i = 0; i < len; i += step) {
			mc_pop3_server_data(h->s, m + i,
					    len - i < step ? len - i : step);
			if (h->flags & F_MID_FAIL) {
				mc_pop3_server_data_fail(
					h->s, MC_POP3_CODE_SYS_TEMP, "gone");
				return;
			}
		}
		mc_pop3_server_data_end(h->s);
		break;
	case A_UPDATE:
		if (h->flags & F_UPDATE_FAIL)
			mc_pop3_server_update_fail(h->s, NULL);
		else
			mc_pop3_server_update_ok(h->s);
		break;
	case A_NONE:
		break;
	}
}

/* Answers now (sync) or later (async). */
static void answer(struct h *h, enum act_kind kind,
		   const struct mc_pop3_maildrop *drop, enum mc_pop3_code code,
		   size_t index)
{
	struct act a = {kind, drop, code, index};

	if (!h->async) {
		perform(h, &a);
		return;
	}
	assert_int_equal(h->q.kind, A_NONE);
	h->q = a;
}

/* Copies a possibly NULL string into a fixed buffer. */
static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "(null)");
}

static void cb_write(void *ctx, const void *data, size_t len)
{
	assert_true(len > 0);
	mc_buf_append(&((struct h *)ctx)->out, data, len);
}

/* The login policy: alice/secret (or APOP mrose with the RFC digest)
 * logs in; other names pick a failure. */
static void cb_auth(void *ctx, struct mc_pop3_server *s,
		    const struct mc_pop3_server_auth *a)
{
	struct h *h = ctx;
	const char *u = a->user;
	bool pw = strcmp(a->password, "secret") == 0;

	assert_ptr_equal(s, h->s);
	assert_int_equal(strlen(a->password), a->password_len);
	copy(h->mech, sizeof(h->mech), a->mechanism);
	copy(h->authzid, sizeof(h->authzid), a->authzid);
	copy(h->user, sizeof(h->user), u);
	copy(h->pass, sizeof(h->pass), a->password);
	if (strcmp(a->mechanism, "APOP") == 0)
		pw = strcmp(a->apop_timestamp, RFC_TS) == 0 &&
		     strcmp(a->apop_digest, RFC_DIGEST) == 0;
	if (!pw)
		answer(h, A_LOGIN_FAIL, NULL, MC_POP3_CODE_AUTH, 0);
	else if (strcmp(u, "locked") == 0)
		answer(h, A_LOGIN_FAIL, NULL, MC_POP3_CODE_IN_USE, 0);
	else if (strcmp(u, "down") == 0)
		answer(h, A_LOGIN_FAIL, NULL, MC_POP3_CODE_SYS_TEMP, 0);
	else if (strcmp(u, "soon") == 0)
		answer(h, A_LOGIN_FAIL, NULL, MC_POP3_CODE_LOGIN_DELAY, 0);
	else if (strcmp(u, "empty") == 0)
		answer(h, A_LOGIN_OK, &empty_drop, 0, 0);
	else if (strcmp(u, "baduid") == 0)
		answer(h, A_LOGIN_OK, &bad_drop, 0, 0);
	else
		answer(h, A_LOGIN_OK, &alice_drop, 0, 0);
}

static void cb_stls(void *ctx, struct mc_pop3_server *s)
{
	(void)s;
	answer(ctx, A_STLS, NULL, 0, 0);
}

static void cb_retr(void *ctx, struct mc_pop3_server *s, size_t index,
		    long top_lines)
{
	struct h *h = ctx;

	(void)s;
	assert_true(index < 4);
	h->top = top_lines;
	answer(h, A_RETR, NULL, 0, index);
}

/* Records the deleted indices as "0,2". */
static void cb_update(void *ctx, struct mc_pop3_server *s,
		      const size_t *deleted, size_t n)
{
	struct h *h = ctx;
	size_t o = 0;

	(void)s;
	h->updates++;
	h->deleted[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(h->deleted + o, sizeof(h->deleted) - o,
				      "%s%zu", i ? "," : "", deleted[i]);
	answer(h, A_UPDATE, NULL, 0, 0);
}

static const struct mc_pop3_server_callbacks callbacks = {
	.write = cb_write,
	.auth = cb_auth,
	.stls = cb_stls,
	.retr = cb_retr,
	.update = cb_update,
};

typedef void setup_fn(struct mc_pop3_server_settings *set);

/* The settings most transcripts use. */
static void base_settings(struct mc_pop3_server_settings *set)
{
	mc_pop3_server_settings_init(set);
	set->hostname = "pop.test";
	set->stls = true;
	set->implementation = "mailcore-test";
	set->max_errors = 1000;
}

/* A greeted server; the banner is checked and dropped. */
static void h_init(struct h *h, setup_fn *setup, bool async)
{
	struct mc_pop3_server_settings set;

	memset(h, 0, sizeof(*h));
	base_settings(&set);
	if (setup != NULL)
		setup(&set);
	h->async = async;
	mc_buf_init(&h->out, NULL, 0);
	h->s = mc_pop3_server_create(&set, &callbacks, h);
	mc_pop3_server_greet(h->s);
	if (set.apop && set.apop_timestamp != NULL)
		assert_string_equal(mc_buf_cstr(&h->out),
				    "+OK pop.test POP3 mailcore ready " RFC_TS
				    "\r\n");
	else if (!set.apop)
		assert_string_equal(mc_buf_cstr(&h->out), GREET);
	mc_buf_clear(&h->out);
}

static void h_free(struct h *h)
{
	mc_pop3_server_destroy(&h->s);
	assert_null(h->s);
	mc_buf_free(&h->out);
}

/* Answers queued decisions until none is left. */
static void drain(struct h *h)
{
	while (h->q.kind != A_NONE) {
		struct act a = h->q;

		h->q.kind = A_NONE;
		perform(h, &a);
	}
}

/* Feeds input whole (chunk 0) or in pieces of chunk bytes. */
static void feed(struct h *h, const char *in, size_t len, size_t chunk)
{
	if (chunk == 0)
		chunk = len;
	for (size_t i = 0; i < len; i += chunk) {
		mc_pop3_server_input(h->s, in + i,
				     len - i < chunk ? len - i : chunk);
		drain(h);
	}
}

static void feed_str(struct h *h, const char *in)
{
	feed(h, in, strlen(in), 0);
}

/* Compares and clears the output, naming the place on mismatch. */
static void expect(struct h *h, const char *want, const char *what, int i)
{
	if (strcmp(mc_buf_cstr(&h->out), want) != 0) {
		print_error("%s step %d (%s):\n got: [%s]\nwant: [%s]\n", what,
			    i, h->async ? "async" : "sync",
			    mc_buf_cstr(&h->out), want);
		fail();
	}
	mc_buf_clear(&h->out);
}

/* ------------------------------------------------------------------ */
/* Golden transcripts. */

/* in == TLS_UP: the daemon calls mc_pop3_server_tls_started() */
struct step {
	const char *in, *out;
};

#define TLS_UP "<tls>"

struct transcript {
	const char *name;
	setup_fn *setup;
	bool no_pipeline; /* STLS: later input is discarded */
	unsigned flags;
	const char *deleted; /* expected update indices, NULL = no update */
	struct step steps[48];
};

static void tls_on(struct mc_pop3_server_settings *set)
{
	set->tls_active = true;
}

static void trusted(struct mc_pop3_server_settings *set)
{
	set->plaintext_auth = true;
	set->stls = false;
}

static void trusted_stls(struct mc_pop3_server_settings *set)
{
	set->plaintext_auth = true;
}

static void apop_on(struct mc_pop3_server_settings *set)
{
	set->apop = true;
	set->apop_timestamp = RFC_TS;
	set->tls_active = true;
}

static void default_errors(struct mc_pop3_server_settings *set)
{
	set->tls_active = true;
	set->max_errors = 0;
}

static void login_delay(struct mc_pop3_server_settings *set)
{
	set->tls_active = true;
	set->login_delay_cap = true;
	set->implementation = NULL;
}

static const struct transcript transcripts[] = {
	{"authorization state",
	 tls_on,
	 false,
	 0,
	 NULL,
	 {{"CAPA\r\n", CAPA_TLS},
	  {"capa\r\n", CAPA_TLS},
	  {"CAPA x\r\n", "-ERR Syntax: CAPA\r\n"},
	  {"NOOP\r\n", BEFORE("NOOP")},
	  {"STAT\r\n", BEFORE("STAT")},
	  {"LIST\r\n", BEFORE("LIST")},
	  {"LIST 1\r\n", BEFORE("LIST")},
	  {"UIDL\r\n", BEFORE("UIDL")},
	  {"RETR 1\r\n", BEFORE("RETR")},
	  {"TOP 1 0\r\n", BEFORE("TOP")},
	  {"DELE 1\r\n", BEFORE("DELE")},
	  {"RSET\r\n", BEFORE("RSET")},
	  {"PASS secret\r\n", "-ERR Send USER first\r\n"},
	  {"USER\r\n", "-ERR Syntax: USER name\r\n"},
	  {"USER a b\r\n", "-ERR Syntax: USER name\r\n"},
	  {"APOP mrose " RFC_DIGEST "\r\n", "-ERR APOP is not available\r\n"},
	  {"APOP mrose\r\n", "-ERR Syntax: APOP name digest\r\n"},
	  {"STLS\r\n", "-ERR TLS is already active\r\n"},
	  {"FOO\r\n", UNKNOWN},
	  {"\r\n", UNKNOWN},
	  {"RETRX 1\r\n", UNKNOWN},
	  {"QUIT x\r\n", "-ERR Syntax: QUIT\r\n"},
	  {"QUIT\r\n", BYE},
	  {"USER alice\r\n", ""}}},
	{"user/pass and the transaction state",
	 tls_on,
	 false,
	 0,
	 "",
	 {{"USER alice\r\n", SEND_PASS},
	  {"PASS wrong\r\n", AUTH_FAIL},
	  {"PASS secret\r\n", "-ERR Send USER first\r\n"},
	  {"user alice\r\n", SEND_PASS},
	  {"PASS\r\n", "-ERR Syntax: PASS password\r\n"},
	  LOGIN,
	  {"CAPA\r\n", CAPA_TRANS},
	  {"USER alice\r\n", AFTER("USER")},
	  {"PASS secret\r\n", AFTER("PASS")},
	  {"APOP a " RFC_DIGEST "\r\n", AFTER("APOP")},
	  {PLAIN_IR, AFTER("AUTH")},
	  {"STLS\r\n", AFTER("STLS")},
	  {"STAT\r\n", "+OK 4 670\r\n"},
	  {"LIST\r\n", "+OK 4 messages (670 octets)\r\n1 120\r\n2 200\r\n"
		       "3 340\r\n4 10\r\n.\r\n"},
	  {"LIST 2\r\n", "+OK 2 200\r\n"},
	  {"list  3\r\n", "+OK 3 340\r\n"},
	  {"LIST 5\r\n", NO_MSG},
	  {"LIST 0\r\n", NO_MSG},
	  {"LIST x\r\n", "-ERR Invalid message number\r\n"},
	  {"LIST -1\r\n", "-ERR Invalid message number\r\n"},
	  {"LIST 1 2\r\n", "-ERR Syntax: LIST [msg]\r\n"},
	  {"UIDL\r\n", "+OK Unique-ID listing follows\r\n1 uid-1\r\n"
		       "2 uid-2\r\n3 uid-3\r\n4 uid-4\r\n.\r\n"},
	  {"UIDL 3\r\n", "+OK 3 uid-3\r\n"},
	  {"UIDL 9\r\n", NO_MSG},
	  {"NOOP\r\n", "+OK\r\n"},
	  {"RSET\r\n", "+OK Maildrop has 4 messages (670 octets)\r\n"},
	  {"BOGUS\r\n", UNKNOWN},
	  {"QUIT\r\n", BYE_N("4 messages")},
	  {"NOOP\r\n", ""}}},
	{"retr and top",
	 tls_on,
	 false,
	 0,
	 NULL,
	 {LOGIN,
	  {"RETR 1\r\n", "+OK 120 octets\r\n" M1},
	  {"RETR 2\r\n", "+OK 200 octets\r\n" M2},
	  {"RETR 3\r\n", "+OK 340 octets\r\n" M3},
	  {"RETR 4\r\n",
	   "-ERR [SYS/TEMP] Message cannot be read right now\r\n"},
	  {"RETR 5\r\n", NO_MSG},
	  {"RETR\r\n", "-ERR Syntax: RETR msg\r\n"},
	  {"TOP 3 0\r\n", "+OK Top of message follows\r\n"
			  "Subject: three\r\nX: y\r\n\r\n.\r\n"},
	  {"TOP 3 2\r\n", "+OK Top of message follows\r\n"
			  "Subject: three\r\nX: y\r\n\r\nb1\r\nb2\r\n.\r\n"},
	  {"TOP 3 99\r\n", "+OK Top of message follows\r\n" M3},
	  {"TOP 2 1\r\n", "+OK Top of message follows\r\n"
			  "Subject: two\r\n\r\nline1\r\n.\r\n"},
	  {"TOP 2 2\r\n", "+OK Top of message follows\r\n"
			  "Subject: two\r\n\r\nline1\r\n..\r\n.\r\n"},
	  {"TOP 1 0\r\n",
	   "+OK Top of message follows\r\nSubject: one\r\n\r\n.\r\n"},
	  {"TOP 1\r\n", "-ERR Syntax: TOP msg lines\r\n"},
	  {"TOP 1 x\r\n", "-ERR Invalid number of lines\r\n"},
	  {"TOP 1 -1\r\n", "-ERR Invalid number of lines\r\n"},
	  {"TOP 7 1\r\n", NO_MSG},
	  {"STAT\r\n", "+OK 4 670\r\n"}}},
	{"dele, rset and quit with deletions",
	 tls_on,
	 false,
	 0,
	 "0,2",
	 {LOGIN,
	  {"DELE 2\r\n", "+OK Message 2 deleted\r\n"},
	  {"DELE 2\r\n", DELETED("2")},
	  {"LIST 2\r\n", DELETED("2")},
	  {"UIDL 2\r\n", DELETED("2")},
	  {"RETR 2\r\n", DELETED("2")},
	  {"TOP 2 0\r\n", DELETED("2")},
	  {"STAT\r\n", "+OK 3 470\r\n"},
	  {"LIST\r\n", "+OK 3 messages (470 octets)\r\n1 120\r\n3 340\r\n"
		       "4 10\r\n.\r\n"},
	  {"UIDL\r\n", "+OK Unique-ID listing follows\r\n1 uid-1\r\n"
		       "3 uid-3\r\n4 uid-4\r\n.\r\n"},
	  {"RSET\r\n", "+OK Maildrop has 4 messages (670 octets)\r\n"},
	  {"STAT\r\n", "+OK 4 670\r\n"},
	  {"LIST 2\r\n", "+OK 2 200\r\n"},
	  {"DELE 1\r\n", "+OK Message 1 deleted\r\n"},
	  {"DELE 3\r\n", "+OK Message 3 deleted\r\n"},
	  {"DELE 9\r\n", NO_MSG},
	  {"DELE\r\n", "-ERR Syntax: DELE msg\r\n"},
	  {"STAT\r\n", "+OK 2 210\r\n"},
	  {"QUIT\r\n", BYE_N("2 messages")},
	  {"STAT\r\n", ""}}},
	{"update fails: nothing removed",
	 tls_on,
	 false,
	 F_UPDATE_FAIL,
	 "3",
	 {LOGIN,
	  {"DELE 4\r\n", "+OK Message 4 deleted\r\n"},
	  {"QUIT\r\n", "-ERR [SYS/TEMP] Deleted messages could not be "
		       "removed; none were removed\r\n"},
	  {"NOOP\r\n", ""}}},
	{"empty maildrop",
	 tls_on,
	 false,
	 0,
	 "",
	 {{"USER empty\r\n", SEND_PASS},
	  {"PASS secret\r\n", "+OK Logged in, 0 messages (0 octets)\r\n"},
	  {"STAT\r\n", "+OK 0 0\r\n"},
	  {"LIST\r\n", "+OK 0 messages (0 octets)\r\n.\r\n"},
	  {"UIDL\r\n", "+OK Unique-ID listing follows\r\n.\r\n"},
	  {"RETR 1\r\n", NO_MSG},
	  {"QUIT\r\n", "+OK pop.test POP3 server signing off "
		       "(maildrop empty)\r\n"}}},
	{"auth plain",
	 tls_on,
	 false,
	 0,
	 NULL,
	 {{"AUTH\r\n", "+OK\r\nPLAIN\r\n.\r\n"},
	  {"AUTH CRAM-MD5\r\n",
	   "-ERR Unsupported authentication mechanism\r\n"},
	  {"AUTH PLAIN\r\n", "+ \r\n"},
	  {"*\r\n", "-ERR Authentication cancelled\r\n"},
	  {"AUTH PLAIN\r\n", "+ \r\n"},
	  {"!!!!\r\n", "-ERR Invalid base64 data\r\n"},
	  {"AUTH PLAIN =\r\n", "-ERR Invalid PLAIN response\r\n"},
	  {"AUTH PLAIN AGFsaWNl=\r\n", "-ERR Invalid base64 data\r\n"},
	  {"AUTH PLAIN YWxpY2UAc2VjcmV0\r\n",
	   "-ERR Invalid PLAIN response\r\n"},
	  {"AUTH PLAIN AABzZWNyZXQ=\r\n", "-ERR Invalid PLAIN response\r\n"},
	  {"AUTH PLAIN AGFsaWNlAHNlY3JldAB4\r\n",
	   "-ERR Invalid PLAIN response\r\n"},
	  {"AUTH PLAIN AGFsaWNlAHdyb25n\r\n", AUTH_FAIL},
	  {"AUTH PLAIN\r\n", "+ \r\n"},
	  {"AGFsaWNlAHdyb25n\r\n", AUTH_FAIL},
	  {"AUTH PLAIN AGxvY2tlZABzZWNyZXQ=\r\n",
	   "-ERR [IN-USE] Maildrop is locked by another session\r\n"},
	  {"AUTH PLAIN\r\n", "+ \r\n"},
	  {"AGFsaWNlAHNlY3JldA==\r\n", LOGIN_OK},
	  {"STAT\r\n", "+OK 4 670\r\n"}}},
	{"auth plain with initial response",
	 tls_on,
	 false,
	 0,
	 NULL,
	 {{"auth plain AGFsaWNlAHNlY3JldA==\r\n", LOGIN_OK},
	  {"AUTH\r\n", AFTER("AUTH")}}},
	{"login failures: in-use, sys/temp, login-delay",
	 tls_on,
	 false,
	 0,
	 NULL,
	 {{"USER locked\r\n", SEND_PASS},
	  {"PASS secret\r\n",
	   "-ERR [IN-USE] Maildrop is locked by another session\r\n"},
	  {"USER down\r\nPASS secret\r\n",
	   SEND_PASS "-ERR [SYS/TEMP] Temporary system failure, try "
		     "later\r\n"},
	  {"USER soon\r\nPASS secret\r\n",
	   SEND_PASS "-ERR [LOGIN-DELAY] Too soon since the last login\r\n"},
	  {"USER baduid\r\nPASS secret\r\n",
	   SEND_PASS "-ERR [SYS/PERM] Maildrop cannot be listed\r\n"},
	  {"STAT\r\n", BEFORE("STAT")},
	  {ALICE, SEND_PASS LOGIN_OK}}},
	{"plaintext refused before TLS, then STLS",
	 NULL,
	 true,
	 0,
	 NULL,
	 {{"CAPA\r\n", CAPA_PLAIN},
	  {"USER alice\r\n", NEED_TLS},
	  {"PASS secret\r\n", NEED_TLS},
	  {"AUTH PLAIN\r\n", NEED_TLS},
	  {PLAIN_IR, NEED_TLS},
	  {"AUTH\r\n", "+OK\r\n.\r\n"},
	  {"STLS x\r\n", "-ERR Syntax: STLS\r\n"},
	  {"STLS\r\nCAPA\r\n", "+OK Begin TLS negotiation\r\n"},
	  {"NOOP\r\n", ""},
	  {TLS_UP, ""},
	  {"CAPA\r\n", CAPA_TLS},
	  {"STLS\r\n", "-ERR TLS is already active\r\n"},
	  {ALICE, SEND_PASS LOGIN_OK}}},
	{"STLS gives a fresh session",
	 trusted_stls,
	 true,
	 0,
	 NULL,
	 {{"USER alice\r\n", SEND_PASS},
	  {"STLS\r\n", "+OK Begin TLS negotiation\r\n"},
	  {TLS_UP, ""},
	  {"PASS secret\r\n", "-ERR Send USER first\r\n"},
	  {ALICE, SEND_PASS LOGIN_OK}}},
	{"STLS refused by the daemon",
	 NULL,
	 false,
	 F_STLS_FAIL,
	 NULL,
	 {{"STLS\r\n", "-ERR [SYS/TEMP] TLS not available right now\r\n"},
	  {"USER alice\r\n", NEED_TLS}}},
	{"plaintext allowed for a trusted client",
	 trusted,
	 false,
	 0,
	 NULL,
	 {{"CAPA\r\n", CAPA_HEAD "USER\r\n" CODES "SASL PLAIN\r\n" CAPA_TAIL},
	  {"STLS\r\n", "-ERR STLS is not available\r\n"},
	  {PLAIN_IR, LOGIN_OK}}},
	{"apop",
	 apop_on,
	 false,
	 0,
	 NULL,
	 {{"APOP mrose 123\r\n",
	   "-ERR Syntax: APOP name digest (32 hex digits)\r\n"},
	  {"APOP mrose 0000000000000000000000000000000z\r\n",
	   "-ERR Syntax: APOP name digest (32 hex digits)\r\n"},
	  {"APOP mrose 00000000000000000000000000000000\r\n", AUTH_FAIL},
	  {"APOP mrose C4C9334BAC560ECC979E58001B3E22FB\r\n", LOGIN_OK}}},
	{"too many errors (default 10)",
	 default_errors,
	 false,
	 0,
	 NULL,
	 {{"A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\nH\r\n",
	   UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN},
	  {"NOOP\r\n", BEFORE("NOOP")},
	  {"PASS x\r\n", "-ERR Send USER first\r\n"
			 "-ERR Too many errors, closing connection\r\n"},
	  {"CAPA\r\n", ""}}},
	{"login-delay capability",
	 login_delay,
	 false,
	 0,
	 NULL,
	 {{"CAPA\r\n",
	   CAPA_HEAD "USER\r\n" CODES "SASL PLAIN\r\n"
		     "PIPELINING\r\nEXPIRE NEVER\r\nLOGIN-DELAY 0\r\n.\r\n"}}},
	{"pipelined session in one packet",
	 tls_on,
	 false,
	 0,
	 "0",
	 {{"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nRETR 1\r\n"
	   "DELE 1\r\nLIST\r\nQUIT\r\n",
	   CAPA_TLS SEND_PASS LOGIN_OK
	   "+OK 4 670\r\n+OK 120 octets\r\n" M1 "+OK Message 1 deleted\r\n"
	   "+OK 3 messages (550 octets)\r\n2 200\r\n3 340\r\n4 10\r\n"
	   ".\r\n" BYE_N("3 messages")}}},
};

enum { MODE_WHOLE, MODE_BYTES, MODE_PIPELINED };

/* Runs one transcript in one mode. */
static void run_transcript(const struct transcript *t, int mode, bool async)
{
	struct h h;
	struct mc_buf in, want;
	const struct step *st;

	h_init(&h, t->setup, async);
	h.flags = t->flags;
	h.chunk = mode == MODE_BYTES ? 1 : mode == MODE_PIPELINED ? 7 : 0;
	mc_buf_init(&in, NULL, 0);
	mc_buf_init(&want, NULL, 0);
	for (int i = 0; t->steps[i].in != NULL; i++) {
		st = &t->steps[i];
		if (mode == MODE_PIPELINED) {
			mc_buf_append_str(&in, st->in);
			mc_buf_append_str(&want, st->out);
			continue;
		}
		if (strcmp(st->in, TLS_UP) == 0)
			mc_pop3_server_tls_started(h.s);
		else
			feed(&h, st->in, strlen(st->in),
			     mode == MODE_BYTES ? 1 : 0);
		expect(&h, st->out, t->name, i);
	}
	if (mode == MODE_PIPELINED) {
		feed(&h, in.data, in.len, 0);
		expect(&h, mc_buf_cstr(&want), t->name, -1);
	}
	if (t->deleted != NULL) {
		assert_int_equal(h.updates, 1);
		assert_string_equal(h.deleted, t->deleted);
	} else {
		assert_int_equal(h.updates, 0);
	}
	mc_buf_free(&in);
	mc_buf_free(&want);
	h_free(&h);
}

/* Every transcript, whole / byte by byte / pipelined, sync and async. */
static void test_transcripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(transcripts) / sizeof(transcripts[0]);
	     i++) {
		for (int mode = MODE_WHOLE; mode <= MODE_PIPELINED; mode++) {
			if (mode == MODE_PIPELINED &&
			    transcripts[i].no_pipeline)
				continue;
			run_transcript(&transcripts[i], mode, false);
			run_transcript(&transcripts[i], mode, true);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Focused tests. */

/* What the auth callback sees: mechanism, authzid, spaces in PASS. */
static void test_auth_fields(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	feed_str(&h, "USER alice\r\nPASS my secret pass\r\n");
	assert_string_equal(h.mech, "USER");
	assert_string_equal(h.user, "alice");
	assert_string_equal(h.pass, "my secret pass");
	expect(&h, SEND_PASS AUTH_FAIL, "fields", 0);
	feed_str(&h, "AUTH PLAIN YWRtaW4AYWxpY2UAc2VjcmV0\r\n");
	assert_string_equal(h.mech, "PLAIN");
	assert_string_equal(h.authzid, "admin");
	assert_string_equal(h.user, "alice");
	assert_string_equal(h.pass, "secret");
	assert_int_equal(mc_pop3_server_state(h.s), MC_POP3_STATE_TRANSACTION);
	assert_string_equal(mc_pop3_server_user(h.s), "alice");
	assert_null(mc_pop3_server_apop_timestamp(h.s));
	h_free(&h);
}

/* RETR and TOP hand the daemon 0-based indices and the line count. */
static void test_retr_args(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	feed_str(&h, ALICE "RETR 3\r\n");
	assert_int_equal(h.top, -1);
	feed_str(&h, "TOP 3 5\r\n");
	assert_int_equal(h.top, 5);
	feed_str(&h, "TOP 1 99999999999999999999999\r\n");
	expect(&h,
	       SEND_PASS LOGIN_OK "+OK 340 octets\r\n" M3
				  "+OK Top of message follows\r\n" M3
				  "-ERR Invalid number of lines\r\n",
	       "retr args", 0);
	h_free(&h);
}

/* A failure after the "+OK": no terminating ".", the session closes. */
static void test_retr_mid_fail(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, true);
	feed_str(&h, ALICE);
	mc_buf_clear(&h.out);
	h.flags = F_MID_FAIL;
	h.chunk = 4;
	feed_str(&h, "RETR 1\r\nSTAT\r\n");
	expect(&h, "+OK 120 octets\r\nSubj", "mid fail", 0);
	assert_true(mc_pop3_server_closing(h.s));
	assert_false(mc_pop3_server_pending(h.s));
	mc_pop3_server_data(h.s, "x", 1);
	mc_pop3_server_data_end(h.s);
	mc_pop3_server_timeout(h.s);
	expect(&h, "", "mid fail", 1);
	h_free(&h);
}

/* A timeout in the middle of a RETR writes nothing more. */
static void test_timeout(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	assert_false(mc_pop3_server_closing(h.s));
	mc_pop3_server_timeout(h.s);
	expect(&h, "-ERR Disconnected: inactivity timeout\r\n", "timeout", 0);
	assert_true(mc_pop3_server_closing(h.s));
	feed_str(&h, "CAPA\r\n");
	expect(&h, "", "timeout", 1);
	h_free(&h);

	h_init(&h, tls_on, true);
	feed_str(&h, ALICE);
	mc_buf_clear(&h.out);
	mc_pop3_server_input(h.s, "RETR 1\r\n", 8);
	assert_true(mc_pop3_server_pending(h.s));
	mc_pop3_server_data(h.s, "Subject: x\n", 11);
	mc_pop3_server_timeout(h.s);
	expect(&h, "+OK 120 octets\r\nSubject: x\r\n", "timeout", 2);
	assert_true(mc_pop3_server_closing(h.s));
	h.q.kind = A_NONE;
	h_free(&h);
}

/* Builds n copies of s. */
static void repeat(struct mc_buf *b, const char *s, int n)
{
	for (int i = 0; i < n; i++)
		mc_buf_append_str(b, s);
}

/* 512 octets are accepted, longer lines get -ERR and are skipped. */
static void test_line_too_long(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	h_init(&h, tls_on, false);
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "USER ");
	repeat(&b, "x", 512 - 7);
	mc_buf_append_str(&b, "\r\n"); /* exactly 512 octets */
	feed(&h, b.data, b.len, 0);
	expect(&h, SEND_PASS, "long", 0);
	mc_buf_clear(&b);
	mc_buf_append_str(&b, "USER ");
	repeat(&b, "x", 512 - 6);
	mc_buf_append_str(&b, "\r\nCAPA\r\n");
	feed(&h, b.data, b.len, 0);
	expect(&h, "-ERR Line too long\r\n" CAPA_TLS, "long", 1);
	mc_buf_clear(&b);
	mc_buf_append_str(&b, "USER ");
	repeat(&b, "x", 5000);
	mc_buf_append_str(&b, "\r\nCAPA\r\n");
	feed(&h, b.data, b.len, 0);
	expect(&h, "-ERR Line too long\r\n" CAPA_TLS, "long", 2);
	feed(&h, b.data, b.len, 1);
	expect(&h, "-ERR Line too long\r\n" CAPA_TLS, "long", 3);
	mc_buf_free(&b);
	h_free(&h);
}

/* A NUL byte in a command line is refused. */
static void test_nul(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	feed(&h, "CA\0PA\r\nCAPA\r\n", 13, 0);
	expect(&h, "-ERR NUL byte in command line\r\n" CAPA_TLS, "nul", 0);
	h_free(&h);
}

/* Input piling up while a decision is pending is bounded. */
static void test_pipeline_overflow(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	h_init(&h, tls_on, true);
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	assert_true(mc_pop3_server_pending(h.s));
	mc_buf_init(&b, NULL, 0);
	repeat(&b, "STAT\r\n", 8192);
	mc_pop3_server_input(h.s, b.data, b.len);
	mc_pop3_server_input(h.s, b.data, b.len);
	expect(&h,
	       SEND_PASS
	       "-ERR Too much pipelined input, closing connection\r\n",
	       "overflow", 0);
	assert_true(mc_pop3_server_closing(h.s));
	assert_false(mc_pop3_server_pending(h.s));
	drain(&h); /* a late answer is ignored */
	expect(&h, "", "overflow", 1);
	mc_buf_free(&b);
	h_free(&h);
}

/* Invalid uids are refused by login_ok; valid edge cases pass. */
static void test_uids(void **state)
{
	char long_uid[80];
	struct mc_pop3_message m[1] = {{5, long_uid}};
	struct mc_pop3_maildrop d = {1, m};
	struct h h;

	(void)state;
	memset(long_uid, 'u', sizeof(long_uid));
	long_uid[70] = '\0';
	h_init(&h, tls_on, true);
	feed_str(&h, "USER x\r\n");
	mc_pop3_server_input(h.s, "PASS secret\r\n", 13);
	h.q.kind = A_NONE;
	assert_true(mc_pop3_server_login_ok(h.s, &d));
	assert_false(mc_pop3_server_login_ok(h.s, &d)); /* nothing pending */
	feed_str(&h, "UIDL 1\r\nQUIT\r\n");
	assert_non_null(strstr(mc_buf_cstr(&h.out), "+OK 1 uuuu"));
	h_free(&h);

	long_uid[70] = 'u';
	long_uid[71] = '\0';
	h_init(&h, tls_on, true);
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	h.q.kind = A_NONE;
	assert_false(mc_pop3_server_login_ok(h.s, &d));
	assert_int_equal(mc_pop3_server_state(h.s),
			 MC_POP3_STATE_AUTHORIZATION);
	m[0].uid = "";
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	h.q.kind = A_NONE;
	assert_false(mc_pop3_server_login_ok(h.s, &d));
	m[0].uid = "tab\there";
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	h.q.kind = A_NONE;
	assert_false(mc_pop3_server_login_ok(h.s, &d));
	assert_null(mc_pop3_server_user(h.s));
	h_free(&h);
}

/* LIST of a large maildrop is complete and in order. */
static void test_large_list(void **state)
{
	enum { N = 3000 };
	static struct mc_pop3_message m[N];
	static char uids[N][16];
	struct mc_pop3_maildrop d = {N, m};
	struct h h;
	const char *p;
	size_t lines = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(uids[i], sizeof(uids[i]), "u%d", i);
		m[i].uid = uids[i];
		m[i].size = (uint64_t)i;
	}
	h_init(&h, tls_on, true);
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	h.q.kind = A_NONE;
	assert_true(mc_pop3_server_login_ok(h.s, &d));
	mc_buf_clear(&h.out);
	feed_str(&h, "UIDL\r\n");
	for (p = mc_buf_cstr(&h.out); (p = strstr(p, "\r\n")) != NULL; p += 2)
		lines++;
	assert_int_equal(lines, N + 2);
	assert_non_null(strstr(mc_buf_cstr(&h.out), "\r\n3000 u2999\r\n.\r\n"));
	h_free(&h);
}

/* A generated APOP timestamp differs between sessions. */
static void apop_generated(struct mc_pop3_server_settings *set)
{
	set->apop = true;
}

static void test_apop_timestamp(void **state)
{
	struct h a, b;
	const char *ta, *tb;

	(void)state;
	h_init(&a, apop_generated, false);
	h_init(&b, apop_generated, false);
	ta = mc_pop3_server_apop_timestamp(a.s);
	tb = mc_pop3_server_apop_timestamp(b.s);
	assert_non_null(ta);
	assert_true(ta[0] == '<' && strstr(ta, "@pop.test>") != NULL);
	assert_string_not_equal(ta, tb);
	mc_pop3_server_greet(a.s);
	assert_non_null(strstr(mc_buf_cstr(&a.out), ta));
	h_free(&a);
	h_free(&b);
}

/* STLS state accessors. */
static void test_awaiting_tls(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, NULL, true);
	feed_str(&h, "STLS\r\n");
	assert_true(mc_pop3_server_awaiting_tls(h.s));
	feed_str(&h, "CAPA\r\n");
	expect(&h, "+OK Begin TLS negotiation\r\n", "tls", 0);
	mc_pop3_server_tls_started(h.s);
	assert_false(mc_pop3_server_awaiting_tls(h.s));
	feed_str(&h, "CAPA\r\n");
	expect(&h, CAPA_TLS, "tls", 1);
	h_free(&h);
}

/* Optional callbacks left NULL: no login, no RETR/TOP, QUIT accepted. */
static void test_minimal_callbacks(void **state)
{
	struct mc_pop3_server_callbacks cb = {.write = cb_write};
	struct mc_pop3_server_settings set;
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	mc_pop3_server_destroy(&h.s);
	base_settings(&set);
	set.tls_active = true;
	h.s = mc_pop3_server_create(&set, &cb, &h);
	feed_str(&h, "CAPA\r\nUSER a\r\nAUTH\r\nSTLS\r\nLIST 1 2 3 4 5\r\n"
		     "QUIT\r\n");
	expect(&h,
	       "+OK Capability list follows\r\nUIDL\r\n" CODES CAPA_TAIL
	       "-ERR [SYS/PERM] Login is not available\r\n+OK\r\n.\r\n"
	       "-ERR TLS is already active\r\n" BEFORE("LIST") BYE,
	       "minimal", 0);
	h_free(&h);

	cb.auth = cb_auth;
	h_init(&h, tls_on, false);
	mc_pop3_server_destroy(&h.s);
	h.s = mc_pop3_server_create(&set, &cb, &h);
	feed_str(&h, ALICE "RETR 1\r\nTOP 1 1\r\nLIST 1 2 3 4 5\r\n"
			   "DELE 1\r\nQUIT\r\n");
	expect(&h,
	       SEND_PASS LOGIN_OK
	       "-ERR [SYS/PERM] Message retrieval not available\r\n"
	       "-ERR [SYS/PERM] Message retrieval not available\r\n"
	       "-ERR Syntax: LIST [msg]\r\n+OK Message 1 deleted\r\n" BYE_N(
		       "3 messages"),
	       "minimal", 1);
	h_free(&h);
}

/* Pieces the fuzzer glues together. */
static const char *const fuzz_tokens[] = {
	"CAPA\r\n",
	"USER alice\r\n",
	"PASS secret\r\n",
	"PASS x y\r\n",
	"USER locked\r\n",
	"AUTH PLAIN\r\n",
	"AUTH\r\n",
	"*\r\n",
	PLAIN_IR,
	"AGFsaWNlAHNlY3JldA==\r\n",
	"STLS\r\n",
	"STAT\r\n",
	"LIST\r\n",
	"LIST 1\r\n",
	"UIDL\r\n",
	"UIDL 2\r\n",
	"RETR 1\r\n",
	"RETR 4\r\n",
	"TOP 3 1\r\n",
	"TOP 2 0\r\n",
	"DELE 1\r\n",
	"DELE 3\r\n",
	"RSET\r\n",
	"NOOP\r\n",
	"QUIT\r\n",
	"APOP a b\r\n",
	"\r\n",
	"\n",
	"\r",
	" ",
	"=",
	"9999999999999999999999",
};

/* Random bytes and protocol fragments, split at random, sync and async:
 * nothing may crash (run under ASan once). */
static void test_fuzz(void **state)
{
	unsigned seed = 4242;
	char buf[400];

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		struct h h;
		size_t len = 0;

		h_init(&h, iter % 3 == 0 ? tls_on : trusted_stls,
		       iter % 2 == 1);
		h.flags = (unsigned)rand_r(&seed) & 7u;
		h.chunk = (size_t)(rand_r(&seed) % 5);
		while (len < sizeof(buf) - 40) {
			int r = rand_r(&seed) % 10;

			if (r < 7) {
				const char *t =
					fuzz_tokens[rand_r(&seed) %
						    (sizeof(fuzz_tokens) /
						     sizeof(fuzz_tokens[0]))];
				memcpy(buf + len, t, strlen(t));
				len += strlen(t);
			} else {
				buf[len++] = (char)rand_r(&seed);
			}
		}
		feed(&h, buf, len, (size_t)(rand_r(&seed) % 40));
		if (mc_pop3_server_awaiting_tls(h.s)) {
			mc_pop3_server_tls_started(h.s);
			feed(&h, buf, len, 0);
		}
		mc_pop3_server_timeout(h.s);
		assert_true(mc_pop3_server_closing(h.s));
		h_free(&h);
	}
}

/* Destroy accepts NULL; a pending decision at destroy is harmless. */
static void test_destroy(void **state)
{
	struct mc_pop3_server *s = NULL;
	struct h h;

	(void)state;
	mc_pop3_server_destroy(&s);
	h_init(&h, tls_on, true);
	mc_pop3_server_input(h.s, "AUTH PLAIN\r\nAGFsaWNl", 20);
	h_free(&h);
	h_init(&h, tls_on, true);
	mc_pop3_server_input(h.s, ALICE, strlen(ALICE));
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_auth_fields),
		cmocka_unit_test(test_retr_args),
		cmocka_unit_test(test_retr_mid_fail),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_pipeline_overflow),
		cmocka_unit_test(test_uids),
		cmocka_unit_test(test_large_list),
		cmocka_unit_test(test_apop_timestamp),
		cmocka_unit_test(test_awaiting_tls),
		cmocka_unit_test(test_minimal_callbacks),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_destroy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
