/* test-smtp-server: golden transcripts of the SMTP server state machine
 * (client input -> exact server output) run whole, byte by byte and fully
 * pipelined, with callbacks answering synchronously and asynchronously;
 * plus limits, parsed parameters, the Received: header and a fuzz loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GREET "220 mx.test ESMTP mailcore\r\n"
#define EHLO_BASE                                                              \
	"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"   \
	"250-BINARYMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"        \
	"250-CHUNKING\r\n"
#define EHLO_PLAIN EHLO_BASE "250-DSN\r\n250 STARTTLS\r\n"
#define EHLO_TLS   EHLO_BASE "250-DSN\r\n250 AUTH PLAIN LOGIN\r\n"
#define OK	   "250 2.0.0 OK\r\n"
#define OK_MAIL	   "250 2.1.0 Sender OK\r\n"
#define OK_RCPT	   "250 2.1.5 Recipient OK\r\n"
#define GO_DATA	   "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED	   "250 2.0.0 Ok: queued as Q1\r\n"
#define BYE	   "221 2.0.0 mx.test closing connection\r\n"
#define NEED_MAIL  "503 5.5.1 Need MAIL command first\r\n"
#define UNKNOWN	   "500 5.5.1 Command unrecognized\r\n"
#define BADPARAM   "501 5.5.4 Invalid parameter value\r\n"
#define BADRCPT	   "501 5.1.3 Bad address syntax\r\n"
#define AUTH_OK	   "235 2.7.0 Authentication successful\r\n"
#define AUTH_BAD   "535 5.7.8 Authentication credentials invalid\r\n"
#define A10	   "aaaaaaaaaa"
#define EHLO_C	   "EHLO client.test\r\n"
#define MAIL_A	   "MAIL FROM:<a@b.test>\r\n"
#define RCPT_C	   "RCPT TO:<c@d.test>\r\n"

/* ------------------------------------------------------------------ */
/* Harness: a server whose callbacks apply a fixed policy, answering now
 * or queueing the answer until the input call has returned. */

struct h {
	struct mc_smtp_server *s;
	struct mc_buf out, data;
	bool async, queued;
	unsigned q_code;
	const char *q_enh, *q_text;
	unsigned msg_ends, trans_ends, data_starts;
	struct mc_smtp_server_message msg;
	struct mc_smtp_server_mail mail;
	char from[300], envid[128], mail_auth[128];
	char rcpt[300], rcpt_local[128], orcpt[300];
	unsigned notify;
	bool rcpt_no_domain;
	char authzid[64], authcid[64], pass[64];
	const char *helo_reply_text;
};

/* Answers now (sync) or later (async). */
static void answer(struct h *h, unsigned code, const char *enh,
		   const char *text)
{
	if (!h->async) {
		mc_smtp_server_reply(h->s, code, enh, text);
		return;
	}
	assert_false(h->queued);
	h->queued = true;
	h->q_code = code;
	h->q_enh = enh;
	h->q_text = text;
}

/* Copies a possibly NULL string into a fixed buffer. */
static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "(null)");
}

static void cb_write(void *ctx, const void *data, size_t len)
{
	mc_buf_append(&((struct h *)ctx)->out, data, len);
}

static void cb_helo(void *ctx, struct mc_smtp_server *s,
		    const struct mc_smtp_server_helo *helo)
{
	struct h *h = ctx;

	assert_ptr_equal(s, h->s);
	if (strcmp(helo->domain, "reject.test") == 0)
		answer(h, 550, "5.7.1", "Go away");
	else
		answer(h, 250, NULL, "ignored");
}

static void cb_mail(void *ctx, struct mc_smtp_server *s,
		    const struct mc_smtp_server_mail *m)
{
	struct h *h = ctx;

	(void)s;
	h->mail = *m;
	copy(h->from, sizeof(h->from), m->from.address);
	copy(h->envid, sizeof(h->envid), m->envid);
	copy(h->mail_auth, sizeof(h->mail_auth), m->auth);
	if (strcmp(m->from.address, "blocked@x.test") == 0)
		answer(h, 550, "5.7.1", "Sender rejected");
	else
		answer(h, 250, "2.1.0", "Sender OK");
}

static void cb_rcpt(void *ctx, struct mc_smtp_server *s,
		    const struct mc_smtp_server_rcpt *r)
{
	struct h *h = ctx;

	(void)s;
	copy(h->rcpt, sizeof(h->rcpt), r->to.address);
	copy(h->rcpt_local, sizeof(h->rcpt_local), r->to.local);
	copy(h->orcpt, sizeof(h->orcpt), r->orcpt);
	h->notify = r->notify;
	h->rcpt_no_domain = r->to.domain == NULL;
	if (strcmp(r->to.local, "bad") == 0)
		answer(h, 550, "5.1.1", "No such user");
	else if (strcmp(r->to.local, "inject") == 0)
		answer(h, 550, "5.1.1", "bad\r\n250 injected");
	else
		answer(h, 250, "2.1.5", "Recipient OK");
}

static void cb_data_start(void *ctx, struct mc_smtp_server *s)
{
	struct h *h = ctx;

	(void)s;
	h->data_starts++;
	answer(h, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void cb_data_chunk(void *ctx, const void *data, size_t len)
{
	assert_true(len > 0);
	mc_buf_append(&((struct h *)ctx)->data, data, len);
}

static void cb_message_end(void *ctx, struct mc_smtp_server *s,
			   const struct mc_smtp_server_message *msg)
{
	struct h *h = ctx;

	(void)s;
	h->msg = *msg;
	h->msg_ends++;
	answer(h, 250, "2.0.0", "Ok: queued as Q1");
}

static void cb_auth(void *ctx, struct mc_smtp_server *s,
		    const struct mc_smtp_server_auth *a)
{
	struct h *h = ctx;

	(void)s;
	copy(h->authzid, sizeof(h->authzid), a->authzid);
	copy(h->authcid, sizeof(h->authcid), a->authcid);
	copy(h->pass, sizeof(h->pass), a->password);
	assert_int_equal(strlen(a->password), a->password_len);
	if (strcmp(a->authcid, "alice") == 0 &&
	    strcmp(a->password, "secret") == 0)
		answer(h, 235, "2.7.0", "Authentication successful");
	else
		answer(h, 535, "5.7.8", "Authentication credentials invalid");
}

static void cb_starttls(void *ctx, struct mc_smtp_server *s)
{
	(void)s;
	answer(ctx, 220, "2.0.0", "Ready to start TLS");
}

static void cb_vrfy(void *ctx, struct mc_smtp_server *s, const char *arg)
{
	(void)s;
	answer(ctx, 250, "2.1.5",
	       strcmp(arg, "bob") == 0 ? "<bob@mx.test>" : "unknown");
}

static void cb_trans_end(void *ctx)
{
	((struct h *)ctx)->trans_ends++;
}

static const struct mc_smtp_server_callbacks callbacks = {
	.write = cb_write,
	.helo = cb_helo,
	.mail = cb_mail,
	.rcpt = cb_rcpt,
	.auth = cb_auth,
	.data_start = cb_data_start,
	.data_chunk = cb_data_chunk,
	.message_end = cb_message_end,
	.starttls = cb_starttls,
	.vrfy = cb_vrfy,
	.transaction_end = cb_trans_end,
};

typedef void setup_fn(struct mc_smtp_server_settings *set);

/* The settings most transcripts use. */
static void base_settings(struct mc_smtp_server_settings *set)
{
	mc_smtp_server_settings_init(set);
	set->hostname = "mx.test";
	set->max_message_size = 1000;
	set->starttls = true;
	set->auth = true;
	set->max_errors = 1000;
}

/* A greeted server; the banner is checked and dropped. */
static void h_init(struct h *h, setup_fn *setup, bool async)
{
	struct mc_smtp_server_settings set;

	memset(h, 0, sizeof(*h));
	base_settings(&set);
	if (setup != NULL)
		setup(&set);
	h->async = async;
	mc_buf_init(&h->out, NULL, 0);
	mc_buf_init(&h->data, NULL, 0);
	h->s = mc_smtp_server_create(&set, &callbacks, h);
	mc_smtp_server_greet(h->s);
	assert_string_equal(mc_buf_cstr(&h->out), GREET);
	mc_buf_clear(&h->out);
}

static void h_free(struct h *h)
{
	mc_smtp_server_destroy(&h->s);
	assert_null(h->s);
	mc_buf_free(&h->out);
	mc_buf_free(&h->data);
}

/* Answers queued decisions until none is left. */
static void drain(struct h *h)
{
	while (h->queued) {
		h->queued = false;
		mc_smtp_server_reply(h->s, h->q_code, h->q_enh, h->q_text);
	}
}

/* Feeds input whole (chunk 0) or in pieces of chunk bytes. */
static void feed(struct h *h, const char *in, size_t len, size_t chunk)
{
	if (chunk == 0)
		chunk = len;
	for (size_t i = 0; i < len; i += chunk) {
		mc_smtp_server_input(h->s, in + i,
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

/* in == TLS_UP: the daemon calls mc_smtp_server_tls_started() */
struct step {
	const char *in, *out;
};

#define TLS_UP "<tls>"

struct transcript {
	const char *name;
	setup_fn *setup;
	bool no_pipeline; /* STARTTLS: later input is discarded */
	const char *data; /* every message byte delivered, or NULL */
	struct step steps[48];
};

static void tls_on(struct mc_smtp_server_settings *set)
{
	set->tls_active = true;
}

static void auth_required(struct mc_smtp_server_settings *set)
{
	set->tls_active = true;
	set->auth_required = true;
}

static void default_errors(struct mc_smtp_server_settings *set)
{
	set->max_errors = 0;
}

static void few_rsets(struct mc_smtp_server_settings *set)
{
	set->max_rsets = 2;
	set->max_transactions = 1;
}

static void trusted(struct mc_smtp_server_settings *set)
{
	set->auth_trusted = true;
	set->starttls = false;
}

static void vrfy_on(struct mc_smtp_server_settings *set)
{
	set->vrfy = true;
}

static const struct transcript transcripts[] = {
	{"basic",
	 NULL,
	 false,
	 "Subject: x\r\n\r\nhello\r\n.dot\r\n",
	 {{EHLO_C, EHLO_PLAIN},
	  {MAIL_A, OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"DATA\r\n", GO_DATA},
	  {"Subject: x\r\n\r\nhello\r\n..dot\r\n.\r\n", QUEUED},
	  {"QUIT\r\n", BYE},
	  {"NOOP\r\n", ""}}},
	{"sequence and simple verbs",
	 NULL,
	 false,
	 NULL,
	 {{MAIL_A, "503 5.5.1 Send EHLO/HELO first\r\n"},
	  {"HELO\r\n", "501 5.5.4 Syntax: HELO hostname\r\n"},
	  {"HELO bad_domain!\r\n", "501 5.5.4 Invalid domain name\r\n"},
	  {"HELO [192.0.2.1]\r\n", "501 5.5.4 Invalid domain name\r\n"},
	  {"EHLO [192.0.2.1]\r\n", EHLO_PLAIN},
	  {"HELO reject.test\r\n", "550 5.7.1 Go away\r\n"},
	  {"helo client.test\r\n", "250 mx.test\r\n"},
	  {"NOOP\r\n", OK},
	  {"NOOP whatever\r\n", OK},
	  {"HELP\r\n", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT "
		       "RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n"},
	  {"VRFY bob\r\n", "252 2.5.0 Cannot VRFY user, but will accept "
			   "message and attempt delivery\r\n"},
	  {"VRFY\r\n", "501 5.5.4 Syntax: VRFY address\r\n"},
	  {"FOO bar\r\n", UNKNOWN},
	  {"\r\n", UNKNOWN},
	  {RCPT_C, NEED_MAIL},
	  {"DATA\r\n", NEED_MAIL},
	  {"RSET\r\n", OK},
	  {"RSET x\r\n", "501 5.5.4 Syntax: RSET\r\n"},
	  {"MAIL TO:<a@b.test>\r\n",
	   "501 5.5.2 Syntax: MAIL FROM:<address>\r\n"},
	  {"MAIL FROM:<blocked@x.test>\r\n", "550 5.7.1 Sender rejected\r\n"},
	  {RCPT_C, NEED_MAIL},
	  {"mail from:<a@b.test>\r\n", OK_MAIL},
	  {MAIL_A, "503 5.5.1 Nested MAIL command\r\n"},
	  {"DATA\r\n", "554 5.5.1 No valid recipients\r\n"},
	  {"RCPT TO:c@d.test\r\n", BADRCPT},
	  {"RCPT TO:<bad@d.test>\r\n", "550 5.1.1 No such user\r\n"},
	  {"RCPT TO:<inject@d.test>\r\n", "550 5.1.1 bad  250 injected\r\n"},
	  {"DATA x\r\n", "501 5.5.4 Syntax: DATA\r\n"},
	  {"STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS\r\n"},
	  {"AUTH PLAIN\r\n", "503 5.5.1 Send EHLO first\r\n"},
	  {"NO\0OP\r\n", "500 5.5.2 Syntax error: NUL in command\r\n"},
	  {"QUIT now\r\n", "501 5.5.4 Syntax: QUIT\r\n"},
	  {"QUIT\r\n", BYE},
	  {"NOOP\r\n", ""}}},
	{"mail and rcpt parameters, paths",
	 NULL,
	 false,
	 NULL,
	 {{EHLO_C, EHLO_PLAIN},
	  {"MAIL FROM:<a b@c.test>\r\n", "501 5.1.7 Bad address syntax\r\n"},
	  {"MAIL FROM:<> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=a+2Bb\r\n",
	   OK_MAIL},
	  {"RSET\r\n", OK},
	  {"MAIL FROM:<a@b.test> SIZE=2000\r\n",
	   "552 5.3.4 Message size exceeds fixed maximum message size\r\n"},
	  {"MAIL FROM:<a@b.test> SIZE=abc\r\n", BADPARAM},
	  {"MAIL FROM:<a@b.test> BODY=9BIT\r\n", BADPARAM},
	  {"MAIL FROM:<a@b.test> RET=ALL\r\n", BADPARAM},
	  {"MAIL FROM:<a@b.test> ENVID=a+zz\r\n", BADPARAM},
	  {"MAIL FROM:<a@b.test> FOO=bar\r\n",
	   "555 5.5.4 Unsupported parameter\r\n"},
	  {"MAIL FROM:<a@b.test> AUTH=<>\r\n",
	   "555 5.5.4 Unsupported parameter\r\n"},
	  {"MAIL FROM:<a@b.test> =x\r\n",
	   "501 5.5.4 Syntax error in parameters\r\n"},
	  {"MAIL FROM:<a@b.test>SIZE=1\r\n",
	   "501 5.5.4 Syntax error in parameters\r\n"},
	  {"MAIL FROM:<\xc3\xbc@b.test>\r\n",
	   "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"},
	  {"MAIL FROM:<\xc3@b.test> SMTPUTF8\r\n",
	   "501 5.1.7 Bad address syntax\r\n"},
	  {"MAIL FROM: <\xc3\xbc@b.test> SMTPUTF8\r\n", OK_MAIL},
	  {"RCPT TO:<\xc3\xb6@d.test> NOTIFY=SUCCESS,FAILURE "
	   "ORCPT=rfc822;x+40y.test\r\n",
	   OK_RCPT},
	  {"RCPT TO:<e@d.test> NOTIFY=NEVER,DELAY\r\n", BADPARAM},
	  {"RCPT TO:<e@d.test> NOTIFY=SOMETIMES\r\n", BADPARAM},
	  {"RCPT TO:<e@d.test> ORCPT=rfc822\r\n", BADPARAM},
	  {"RCPT TO:<e@d.test> SIZE=1\r\n",
	   "555 5.5.4 Unsupported parameter\r\n"},
	  {"RCPT TO:<Postmaster>\r\n", OK_RCPT},
	  {"RCPT TO:<other>\r\n", BADRCPT},
	  {"RCPT TO:<@r1.test,@r2.test:e@d.test>\r\n", OK_RCPT},
	  {"RCPT TO:<@r1.test:e@d.test\r\n", BADRCPT},
	  {"RCPT TO:<\"john doe\"@d.test>\r\n", OK_RCPT},
	  {"RCPT TO:<\"john\r\n", BADRCPT},
	  {"RCPT TO:<a..b@d.test>\r\n", BADRCPT},
	  {"RCPT TO:<.a@d.test>\r\n", BADRCPT},
	  {"RCPT TO:<a@-d.test>\r\n", BADRCPT},
	  {"RCPT TO:<a@d..test>\r\n", BADRCPT},
	  {"RCPT TO:<a@d.test->\r\n", BADRCPT},
	  {"RCPT TO:<a@>\r\n", BADRCPT},
	  {"RCPT TO:<a@[192.0.2.1]>\r\n", OK_RCPT},
	  {"RCPT TO:<a@[IPv6:2001:db8::1]>\r\n", OK_RCPT},
	  {"RCPT TO:<a@[300.1.1.1]>\r\n", BADRCPT},
	  {"RCPT TO:<" A10 A10 A10 A10 A10 A10 "aaaa@d.test>\r\n", OK_RCPT},
	  {"RCPT TO:<" A10 A10 A10 A10 A10 A10 "aaaaa@d.test>\r\n",
	   "553 5.1.3 Address too long\r\n"},
	  {"RCPT TO:<>\r\n", BADRCPT},
	  {"RCPT FROM:<a@b.test>\r\n",
	   "501 5.5.2 Syntax: RCPT TO:<address>\r\n"},
	  {"QUIT\r\n", BYE}}},
	{"dot-stuffing and bare LF smuggling",
	 NULL,
	 false,
	 "a\n.\nMAIL FROM:<evil@x.test>\r\n.\nb\n.\r\nc\r\n.d\r\ne\rf\r\n"
	 ".\n\r\n",
	 {{EHLO_C, EHLO_PLAIN},
	  {MAIL_A, OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"DATA\r\n", GO_DATA},
	  {"a\n.\nMAIL FROM:<evil@x.test>\r\n.\nb\n.\r\nc\r\n..d\r\n"
	   "e\rf\r\n",
	   ""},
	  {".\n\r\n.\r\n", QUEUED},
	  {MAIL_A, OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"DATA\r\n", GO_DATA},
	  {".\r\n", QUEUED},
	  {"QUIT\r\n", BYE}}},
	{"BDAT",
	 NULL,
	 false,
	 "hello worldabc.\n",
	 {{EHLO_C, EHLO_PLAIN},
	  {MAIL_A, OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"BDAT 5\r\nhello", "250 2.0.0 5 octets received\r\n"},
	  {"BDAT 6 LAST\r\n world", QUEUED},
	  {"DATA\r\n", NEED_MAIL},
	  {MAIL_A, OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"BDAT 3\r\nabc", "250 2.0.0 3 octets received\r\n"},
	  {"DATA\r\n", "503 5.5.1 DATA not allowed after BDAT\r\n"},
	  {"BDAT 0 LAST\r\n", QUEUED},
	  {"BDAT 4\r\nxxxx", NEED_MAIL},
	  {"BDAT x\r\n", "501 5.5.4 Syntax: BDAT size [LAST]\r\n"},
	  {"BDAT 1 FIRST\r\n", "501 5.5.4 Syntax: BDAT size [LAST]\r\n"},
	  {"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n", OK_MAIL},
	  {RCPT_C, OK_RCPT},
	  {"DATA\r\n", "503 5.5.1 BODY=BINARYMIME requires BDAT\r\n"},
	  {"BDAT 2 last\r\n.\n", QUEUED},
	  {MAIL_A, OK_MAIL},
	  {"BDAT 3\r\nabc", "554 5.5.1 No valid recipients\r\n"},
	  {RCPT_C, NEED_MAIL},
	  {"QUIT\r\n", BYE}}},
	{"STARTTLS, injection discarded, state reset",
	 NULL,
	 true,
	 NULL,
	 {{EHLO_C, EHLO_PLAIN},
	  {"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	   "538 5.7.11 Encryption required for requested authentication "
	   "mechanism\r\n"},
	  {MAIL_A, OK_MAIL},
	  {"STARTTLS\r\nRCPT TO:<evil@x.test>\r\nDATA\r\n",
	   "220 2.0.0 Ready to start TLS\r\n"},
	  {"NOOP\r\n", ""},
	  {TLS_UP, ""},
	  {RCPT_C, NEED_MAIL},
	  {MAIL_A, "503 5.5.1 Send EHLO/HELO first\r\n"},
	  {EHLO_C, EHLO_TLS},
	  {"STARTTLS\r\n", "503 5.5.1 TLS already active\r\n"},
	  {"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", AUTH_OK},
	  {"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	   "503 5.5.1 Already authenticated\r\n"},
	  {EHLO_C, EHLO_TLS},
	  {"QUIT\r\n", BYE}}},
	{"AUTH PLAIN and LOGIN",
	 tls_on,
	 false,
	 NULL,
	 {{"AUTH PLAIN\r\n", "503 5.5.1 Send EHLO first\r\n"},
	  {"HELO client.test\r\n", "250 mx.test\r\n"},
	  {"AUTH PLAIN\r\n", "503 5.5.1 Send EHLO first\r\n"},
	  {EHLO_C, EHLO_TLS},
	  {"AUTH CRAM-MD5\r\n", "504 5.5.4 Unrecognized authentication "
				"type\r\n"},
	  {"AUTH PLAIN\r\n", "334 \r\n"},
	  {"*\r\n", "501 5.7.0 Authentication cancelled\r\n"},
	  {"AUTH PLAIN !!!!\r\n", "501 5.5.2 Invalid base64 data\r\n"},
	  {"AUTH PLAIN AGFsaWNl=AHNl\r\n", "501 5.5.2 Invalid base64 data\r\n"},
	  {"AUTH PLAIN\r\n", "334 \r\n"},
	  {"AGFsaWNlAHdyb25n\r\n", AUTH_BAD},
	  {"AUTH PLAIN YWxpY2UAc2VjcmV0\r\n",
	   "501 5.5.2 Invalid PLAIN response\r\n"},
	  {"AUTH PLAIN =\r\n", "501 5.5.2 Invalid PLAIN response\r\n"},
	  {MAIL_A, OK_MAIL},
	  {"AUTH LOGIN\r\n", "503 5.5.1 AUTH not allowed during a mail "
			     "transaction\r\n"},
	  {"RSET\r\n", OK},
	  {"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"},
	  {"YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n"},
	  {"*\r\n", "501 5.7.0 Authentication cancelled\r\n"},
	  {"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"},
	  {"YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n"},
	  {"c2VjcmV0\r\n", AUTH_OK},
	  {"MAIL FROM:<a@b.test> AUTH=<>\r\n", OK_MAIL},
	  {"QUIT\r\n", BYE}}},
	{"AUTH LOGIN initial response, trusted plaintext",
	 trusted,
	 false,
	 NULL,
	 {{EHLO_C, EHLO_BASE "250-DSN\r\n250 AUTH PLAIN LOGIN\r\n"},
	  {"STARTTLS\r\n", "503 5.5.1 STARTTLS not offered\r\n"},
	  {"AUTH LOGIN YWxpY2U=\r\n", "334 UGFzc3dvcmQ6\r\n"},
	  {"c2VjcmV0\r\n", AUTH_OK},
	  {"QUIT\r\n", BYE}}},
	{"AUTH required",
	 auth_required,
	 false,
	 NULL,
	 {{EHLO_C, EHLO_TLS},
	  {MAIL_A, "530 5.7.0 Authentication required\r\n"},
	  {"AUTH PLAIN YWRtaW4AYWxpY2UAc2VjcmV0\r\n", AUTH_OK},
	  {MAIL_A, OK_MAIL},
	  {"QUIT\r\n", BYE}}},
	{"too many errors (default 10)",
	 default_errors,
	 false,
	 NULL,
	 {{EHLO_C, EHLO_PLAIN},
	  {"X\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\n",
	   UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN UNKNOWN
		   UNKNOWN},
	  {"X\r\n", UNKNOWN "421 4.7.0 mx.test Too many errors, closing "
			    "connection\r\n"},
	  {"NOOP\r\n", ""}}},
	{"RSET and transaction limits",
	 few_rsets,
	 false,
	 NULL,
	 {{EHLO_C, EHLO_PLAIN},
	  {MAIL_A, OK_MAIL},
	  {"RSET\r\n", OK},
	  {MAIL_A, "421 4.7.0 mx.test Too many transactions in this "
		   "session\r\n"},
	  {"NOOP\r\n", ""}}},
	{"RSET limit",
	 few_rsets,
	 false,
	 NULL,
	 {{"RSET\r\nRSET\r\n", OK OK},
	  {"RSET\r\n", "421 4.7.0 mx.test Too many RSET commands\r\n"}}},
	{"VRFY enabled",
	 vrfy_on,
	 false,
	 NULL,
	 {{"VRFY bob\r\n", "250 2.1.5 <bob@mx.test>\r\n"},
	  {"VRFY x\r\n", "250 2.1.5 unknown\r\n"}}},
};

enum { MODE_WHOLE, MODE_BYTES, MODE_PIPELINED };

/* Runs one transcript in one mode. */
static void run_transcript(const struct transcript *t, int mode, bool async)
{
	struct h h;
	struct mc_buf in, want;
	const struct step *st;

	h_init(&h, t->setup, async);
	mc_buf_init(&in, NULL, 0);
	mc_buf_init(&want, NULL, 0);
	for (int i = 0; t->steps[i].in != NULL; i++) {
		st = &t->steps[i];
		if (mode == MODE_PIPELINED) {
			/* "NO\0OP" needs its real length */
			mc_buf_append(&in, st->in,
				      strlen(st->in) +
					      (strncmp(st->in, "NO", 3) == 0
						       ? 5
						       : 0));
			mc_buf_append_str(&want, st->out);
			continue;
		}
		if (strcmp(st->in, TLS_UP) == 0)
			mc_smtp_server_tls_started(h.s);
		else if (strncmp(st->in, "NO", 3) == 0)
			feed(&h, "NO\0OP\r\n", 7, mode == MODE_BYTES ? 1 : 0);
		else
			feed(&h, st->in, strlen(st->in),
			     mode == MODE_BYTES ? 1 : 0);
		expect(&h, st->out, t->name, i);
	}
	if (mode == MODE_PIPELINED) {
		feed(&h, in.data, in.len, 0);
		expect(&h, mc_buf_cstr(&want), t->name, -1);
	}
	if (t->data != NULL)
		assert_string_equal(mc_buf_cstr(&h.data), t->data);
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

/* Starts a transaction: EHLO, MAIL, RCPT. */
static void begin(struct h *h)
{
	feed_str(h, EHLO_C MAIL_A RCPT_C);
	mc_buf_clear(&h->out);
}

/* MAIL and RCPT parameters reach the callbacks decoded. */
static void test_parsed_params(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, tls_on, false);
	feed_str(&h, EHLO_C "MAIL FROM:<> SIZE=100 BODY=BINARYMIME RET=FULL "
			    "ENVID=a+2Bb+3Dc AUTH=<u+40x.test> SMTPUTF8\r\n");
	expect(&h, EHLO_TLS OK_MAIL, "params", 0);
	assert_string_equal(h.from, "");
	assert_true(h.mail.has_size);
	assert_int_equal(h.mail.size, 100);
	assert_int_equal(h.mail.body, MC_SMTP_BODY_BINARYMIME);
	assert_int_equal(h.mail.ret, MC_SMTP_RET_FULL);
	assert_true(h.mail.smtputf8);
	assert_string_equal(h.envid, "a+b=c");
	assert_string_equal(h.mail_auth, "<u@x.test>");
	feed_str(&h, "RCPT TO:<@r.test:\"j d\"@d.test> NOTIFY=SUCCESS,DELAY "
		     "ORCPT=rfc822;j+20d+40d.test\r\n");
	expect(&h, OK_RCPT, "params", 1);
	assert_string_equal(h.rcpt, "\"j d\"@d.test");
	assert_string_equal(h.rcpt_local, "j d");
	assert_string_equal(h.orcpt, "j d@d.test");
	assert_int_equal(h.notify,
			 MC_SMTP_NOTIFY_SUCCESS | MC_SMTP_NOTIFY_DELAY);
	feed_str(&h, "RCPT TO:<postmaster> NOTIFY=NEVER\r\n");
	expect(&h, OK_RCPT, "params", 2);
	assert_true(h.rcpt_no_domain);
	assert_int_equal(h.notify, MC_SMTP_NOTIFY_NEVER);
	feed_str(&h, "AUTH PLAIN YWRtaW4AYWxpY2UAc2VjcmV0\r\n");
	expect(&h, "503 5.5.1 AUTH not allowed during a mail transaction\r\n",
	       "params", 3);
	feed_str(&h, "RSET\r\nAUTH PLAIN YWRtaW4AYWxpY2UAc2VjcmV0\r\n");
	expect(&h, OK AUTH_OK, "params", 4);
	assert_string_equal(h.authzid, "admin");
	assert_string_equal(h.authcid, "alice");
	assert_string_equal(h.pass, "secret");
	assert_string_equal(mc_smtp_server_auth_user(h.s), "alice");
	assert_string_equal(mc_smtp_server_helo_domain(h.s), "client.test");
	h_free(&h);
}

/* Message-end info: size, bare LF/CR counts, hops, recipients. */
static void test_message_info(void **state)
{
	struct h h;

	(void)state;
	for (int async = 0; async < 2; async++) {
		h_init(&h, NULL, async);
		begin(&h);
		feed_str(&h, "DATA\r\nReceived: a\r\nreceived: b\r\n x\r\n"
			     "X: received: c\r\n\r\nReceived: body\nz\rq\r\n"
			     ".\r\n");
		expect(&h, GO_DATA QUEUED, "info", async);
		assert_int_equal(h.msg_ends, 1);
		assert_int_equal(h.msg.hops, 2);
		assert_int_equal(h.msg.bare_lf, 1);
		assert_int_equal(h.msg.bare_cr, 1);
		assert_int_equal(h.msg.recipients, 1);
		assert_false(h.msg.chunking);
		assert_int_equal(h.msg.size, h.data.len);
		assert_int_equal(h.trans_ends, 1);
		h_free(&h);
	}
}

/* Appends n copies of s to b. */
static void repeat(struct mc_buf *b, const char *s, int n)
{
	for (int i = 0; i < n; i++)
		mc_buf_append_str(b, s);
}

/* Over max_message_size: read to the end, then 552 and no message_end;
 * the session goes on. Same for BDAT. */
static void test_oversize(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	for (int async = 0; async < 2; async++) {
		h_init(&h, NULL, async);
		begin(&h);
		mc_buf_init(&b, NULL, 0);
		mc_buf_append_str(&b, "DATA\r\n");
		repeat(&b, "0123456789\r\n", 100);
		mc_buf_append_str(&b, ".\r\nNOOP\r\n");
		feed(&h, b.data, b.len, 7);
		expect(&h,
		       GO_DATA "552 5.3.4 Message size exceeds fixed "
			       "maximum message size\r\n" OK,
		       "oversize", async);
		assert_int_equal(h.msg_ends, 0);
		assert_int_equal(h.trans_ends, 1);
		assert_true(h.data.len <= 1000);
		mc_buf_clear(&b);
		mc_buf_append_str(&b, MAIL_A RCPT_C "BDAT 600\r\n");
		repeat(&b, "x", 600);
		mc_buf_append_str(&b, "BDAT 600 LAST\r\n");
		repeat(&b, "x", 600);
		feed(&h, b.data, b.len, 0);
		expect(&h,
		       OK_MAIL OK_RCPT
		       "250 2.0.0 600 octets received\r\n"
		       "552 5.3.4 Message size exceeds fixed maximum "
		       "message size\r\n",
		       "oversize bdat", async);
		assert_int_equal(h.msg_ends, 0);
		mc_buf_free(&b);
		h_free(&h);
	}
}

/* No size limit for the hop tests. */
static void no_size(struct mc_smtp_server_settings *set)
{
	set->max_message_size = 0;
}

/* 50 Received: lines pass, 51 give 554 5.4.6 after the data. */
static void test_hops(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	for (int n = 50; n <= 51; n++) {
		h_init(&h, no_size, false);
		begin(&h);
		mc_buf_init(&b, NULL, 0);
		mc_buf_append_str(&b, "DATA\r\n");
		repeat(&b, "Received: from x by y; date\r\n", n);
		mc_buf_append_str(&b, "\r\nbody\r\n.\r\n");
		feed(&h, b.data, b.len, 0);
		expect(&h,
		       n == 50 ? GO_DATA QUEUED
			       : GO_DATA "554 5.4.6 Too many hops (mail "
					 "loop?)\r\n",
		       "hops", n);
		assert_int_equal(h.msg_ends, n == 50 ? 1 : 0);
		mc_buf_free(&b);
		h_free(&h);
	}
}

/* A command line over the limit gives 500 5.5.6; the next one works. */
static void test_line_too_long(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	h_init(&h, NULL, false);
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "NOOP ");
	repeat(&b, "x", 2048 - 7);
	mc_buf_append_str(&b, "\r\n"); /* exactly 2048 octets: accepted */
	feed(&h, b.data, b.len, 0);
	expect(&h, OK, "long", 0);
	mc_buf_clear(&b);
	mc_buf_append_str(&b, "NOOP ");
	repeat(&b, "x", 5000);
	mc_buf_append_str(&b, "\r\nNOOP\r\n");
	feed(&h, b.data, b.len, 0);
	expect(&h, "500 5.5.6 Line too long\r\n" OK, "long", 1);
	feed(&h, b.data, b.len, 1);
	expect(&h, "500 5.5.6 Line too long\r\n" OK, "long", 2);
	mc_buf_free(&b);
	h_free(&h);
}

/* Plain 512-octet limit without DSN/SMTPUTF8. */
static void small_lines(struct mc_smtp_server_settings *set)
{
	set->dsn = set->smtputf8 = false;
}

static void test_line_limit_default(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	h_init(&h, small_lines, false);
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "NOOP ");
	repeat(&b, "x", 512 - 6);
	mc_buf_append_str(&b, "\r\n");
	feed(&h, b.data, b.len, 0);
	expect(&h, "500 5.5.6 Line too long\r\n", "512", 0);
	mc_buf_free(&b);
	h_free(&h);
}

/* The 101st recipient gets 452 4.5.3; the message still goes through. */
static void test_too_many_rcpts(void **state)
{
	struct h h;
	struct mc_buf b, want;

	(void)state;
	h_init(&h, NULL, true);
	mc_buf_init(&b, NULL, 0);
	mc_buf_init(&want, NULL, 0);
	mc_buf_append_str(&b, EHLO_C MAIL_A);
	mc_buf_append_str(&want, EHLO_PLAIN OK_MAIL);
	for (int i = 0; i < 101; i++) {
		mc_buf_printf(&b, "RCPT TO:<r%d@d.test>\r\n", i);
		mc_buf_append_str(
			&want, i < 100 ? OK_RCPT
				       : "452 4.5.3 Too many recipients\r\n");
	}
	mc_buf_append_str(&b, "DATA\r\nx\r\n.\r\n");
	mc_buf_append_str(&want, GO_DATA QUEUED);
	feed(&h, b.data, b.len, 0);
	expect(&h, mc_buf_cstr(&want), "rcpts", 0);
	assert_int_equal(h.msg.recipients, 100);
	mc_buf_free(&b);
	mc_buf_free(&want);
	h_free(&h);
}

/* Input piling up while a decision is pending is bounded: 421, close. */
static void test_pipeline_overflow(void **state)
{
	struct h h;
	struct mc_buf b;

	(void)state;
	h_init(&h, NULL, true);
	mc_smtp_server_input(h.s, EHLO_C, strlen(EHLO_C));
	assert_true(mc_smtp_server_pending(h.s));
	mc_buf_init(&b, NULL, 0);
	repeat(&b, "NOOP\r\n", 8192);
	mc_smtp_server_input(h.s, b.data, b.len);
	mc_smtp_server_input(h.s, b.data, b.len);
	expect(&h, "421 4.7.0 mx.test Too much pipelined input\r\n", "overflow",
	       0);
	assert_true(mc_smtp_server_closing(h.s));
	assert_false(mc_smtp_server_pending(h.s));
	h.queued = false;
	mc_buf_free(&b);
	h_free(&h);
}

/* The daemon's timer: 421 4.4.2 and closing; a transaction is ended. */
static void test_timeout(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, NULL, false);
	begin(&h);
	assert_false(mc_smtp_server_closing(h.s));
	mc_smtp_server_timeout(h.s);
	expect(&h, "421 4.4.2 mx.test Error: timeout exceeded\r\n", "timeout",
	       0);
	assert_true(mc_smtp_server_closing(h.s));
	assert_int_equal(h.trans_ends, 1);
	feed_str(&h, "NOOP\r\n");
	expect(&h, "", "timeout", 1);
	h_free(&h);
}

/* Replies cannot inject lines; accept() gives the default answers. */
static void test_reply_sanitised(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, NULL, true);
	mc_smtp_server_input(h.s, EHLO_C, strlen(EHLO_C));
	h.queued = false;
	mc_smtp_server_accept(h.s);
	expect(&h, EHLO_PLAIN, "accept", 0);
	mc_smtp_server_input(h.s, MAIL_A, strlen(MAIL_A));
	h.queued = false;
	mc_smtp_server_reply(h.s, 451, "4.3.0\r\n", "a\r\nb\n\x7f");
	expect(&h, "451 4.3.0   a  b  \r\n", "sanitise", 1);
	mc_smtp_server_reply(h.s, 250, "2.0.0", "nothing pending");
	expect(&h, "", "sanitise", 2);
	h_free(&h);
}

/* The Received: header for a TLS + AUTH session, one recipient. */
static void test_received_header(void **state)
{
	struct h h;
	struct mc_buf b;
	struct mc_smtp_server_received_info info = {
		.ip = "192.0.2.7",
		.rdns = "client.example",
		.tls_version = "TLSv1.3",
		.tls_cipher = "TLS_AES_256_GCM_SHA384",
		.id = "Q1",
		.for_rcpt = "c@d.test",
		.time = 1700000000,
	};

	(void)state;
	h_init(&h, tls_on, false);
	feed_str(&h, EHLO_C "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	mc_buf_init(&b, NULL, 0);
	mc_smtp_server_received_header(h.s, &info, &b);
	assert_string_equal(
		mc_buf_cstr(&b),
		"Received: from client.test (client.example [192.0.2.7])\r\n"
		"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
		"\t(Authenticated sender: alice)\r\n"
		"\tby mx.test (mailcore) with ESMTPSA id Q1\r\n"
		"\tfor <c@d.test>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	mc_buf_free(&b);
	h_free(&h);

	h_init(&h, NULL, false);
	feed_str(&h, "HELO client.test\r\n");
	info.rdns = NULL;
	info.ip = "2001:db8::1";
	info.for_rcpt = NULL;
	info.id = NULL;
	mc_buf_init(&b, NULL, 0);
	mc_smtp_server_received_header(h.s, &info, &b);
	assert_string_equal(
		mc_buf_cstr(&b),
		"Received: from client.test ([IPv6:2001:db8::1])\r\n"
		"\tby mx.test (mailcore) with SMTP; "
		"Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	mc_buf_clear(&b);
	feed_str(&h, EHLO_C "MAIL FROM:<a@b.test> SMTPUTF8\r\n");
	mc_smtp_server_received_header(h.s, &info, &b);
	assert_non_null(strstr(mc_buf_cstr(&b), "with UTF8SMTP;"));
	mc_buf_free(&b);
	h_free(&h);
}

/* Pieces the fuzzer glues together. */
static const char *const fuzz_tokens[] = {
	"EHLO x.test\r\n",
	"HELO x\r\n",
	MAIL_A,
	RCPT_C,
	"DATA\r\n",
	"BDAT 3\r\n",
	"BDAT 0 LAST\r\n",
	"BDAT 5 LAST\r\n",
	".\r\n",
	"\r\n",
	"\n.\n",
	"RSET\r\n",
	"NOOP\r\n",
	"STARTTLS\r\n",
	"AUTH PLAIN\r\n",
	"AUTH LOGIN\r\n",
	"*\r\n",
	"AGFsaWNlAHNlY3JldA==\r\n",
	"VRFY a\r\n",
	"MAIL FROM:<> SIZE=5 BODY=BINARYMIME ENVID=+41\r\n",
	"RCPT TO:<\"q\"@[1.2.3.4]> NOTIFY=NEVER ORCPT=rfc822;a\r\n",
	"..",
	"RCPT TO:<@a,@b:c@d>\r\n",
	"Received: x\r\n",
	"<",
	">",
	"\"",
	"\\",
};

/* Random bytes and protocol fragments, split at random, sync and async:
 * nothing may crash (run under ASan once). */
static void test_fuzz(void **state)
{
	unsigned seed = 12345;
	char buf[600];

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		struct h h;
		size_t len = 0;

		h_init(&h, iter % 3 == 0 ? tls_on : NULL, iter % 2 == 1);
		while (len < sizeof(buf) - 80) {
			int r = rand_r(&seed) % 10;

			if (r < 6) {
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
		if (mc_smtp_server_awaiting_tls(h.s)) {
			mc_smtp_server_tls_started(h.s);
			feed(&h, buf, len, 0);
		}
		mc_smtp_server_timeout(h.s);
		assert_true(mc_smtp_server_closing(h.s));
		h_free(&h);
	}
}

/* Destroy accepts NULL; a pending decision at destroy is harmless. */
static void test_destroy(void **state)
{
	struct mc_smtp_server *s = NULL;
	struct h h;

	(void)state;
	mc_smtp_server_destroy(&s);
	h_init(&h, tls_on, true);
	feed_str(&h, EHLO_C);
	h.queued = false;
	mc_smtp_server_accept(h.s);
	mc_smtp_server_input(h.s, "AUTH LOGIN YWxpY2U=\r\nc2Vj", 25);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_parsed_params),
		cmocka_unit_test(test_message_info),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_hops),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_line_limit_default),
		cmocka_unit_test(test_too_many_rcpts),
		cmocka_unit_test(test_pipeline_overflow),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_reply_sanitised),
		cmocka_unit_test(test_received_header),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_destroy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
