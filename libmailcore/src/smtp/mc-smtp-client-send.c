/* mc-smtp-client-send: one mail transaction of the outbound client: MAIL
 * FROM with the ESMTP parameters the server offers (SIZE, BODY, SMTPUTF8,
 * RET/ENVID), RCPT TO per recipient (NOTIFY/ORCPT), pipelined in one
 * write when PIPELINING is offered (RFC 2920), then BDAT chunks (RFC 3030)
 * or DATA with dot-stuffing; one reply per accepted recipient. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-pool.h"
#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-str.h"
#include "mc-smtp-client-private.h"

#define CHUNK_SIZE (64 * 1024)
#define BDAT_HDR   48 /* room for "BDAT <n> LAST\r\n" before a chunk */
#define READ_SIZE  (16 * 1024)

struct txn {
	struct mc_smtp_client *c;
	const struct mc_smtp_client_message *msg;
	struct mc_smtp_status *rcpt_r, *final_r;
	size_t accepted;
	bool pipelining, chunking, dsn;
	uint64_t pos; /* of the body source: prefix, then content */
};

/* The DATA output: dot-stuffed bytes waiting for a write. */
struct out {
	struct txn *t;
	char buf[CHUNK_SIZE];
	size_t len;
	bool bol;	/* at the beginning of a line */
	char last[2];	/* the last two bytes of the content */
	uint64_t count; /* content bytes taken */
	struct mc_smtp_status *st;
};

/* Every recipient without a refusal (and the outcome) gets st. */
static bool fail(struct txn *t, const struct mc_smtp_status *st)
{
	for (size_t i = 0; i < t->msg->rcpts_count; i++) {
		unsigned code = t->rcpt_r[i].code;

		if (code == 0 || code / 100 == 2)
			t->rcpt_r[i] = *st;
	}
	*t->final_r = *st;
	return false;
}

/* The accepted recipients and the outcome get st. */
static void set_accepted(struct txn *t, const struct mc_smtp_status *st)
{
	for (size_t i = 0; i < t->msg->rcpts_count; i++)
		if (t->rcpt_r[i].code / 100 == 2)
			t->rcpt_r[i] = *st;
	*t->final_r = *st;
}

/* Every recipient and the outcome get st (nothing was accepted). */
static void set_all(struct txn *t, const struct mc_smtp_status *st)
{
	for (size_t i = 0; i < t->msg->rcpts_count; i++)
		t->rcpt_r[i] = *st;
	*t->final_r = *st;
}

/*   xtext = *( xchar / hexchar )   (RFC 3461 4)
 *   xchar = "!".."~" except "+" and "=";  hexchar = "+" 2HEXDIG */
static void append_xtext(struct mc_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= '!' && ch <= '~' && ch != '+' && ch != '=')
			mc_buf_append_c(b, (char)ch);
		else
			mc_buf_printf(b, "+%02X", ch);
	}
}

/* MAIL FROM:<s> [SIZE=] [BODY=8BITMIME] [SMTPUTF8] [RET=] [ENVID=] */
static void mail_line(struct txn *t, struct mc_buf *b)
{
	const struct mc_smtp_client_message *m = t->msg;

	mc_buf_printf(b, "MAIL FROM:<%s>", m->sender != NULL ? m->sender : "");
	if (mc_smtp_client_has(t->c, "SIZE"))
		mc_buf_printf(b, " SIZE=%" PRIu64, m->size);
	if (m->eightbit && mc_smtp_client_has(t->c, "8BITMIME"))
		mc_buf_append_str(b, " BODY=8BITMIME");
	if (m->smtputf8)
		mc_buf_append_str(b, " SMTPUTF8");
	if (t->dsn && m->ret != NULL)
		mc_buf_append_str(b, strcasecmp(m->ret, "hdrs") == 0
					     ? " RET=HDRS"
					     : " RET=FULL");
	if (t->dsn && m->envid != NULL) {
		mc_buf_append_str(b, " ENVID=");
		append_xtext(b, m->envid);
	}
	mc_buf_append_str(b, "\r\n");
}

/* NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY (those set). */
static void append_notify(struct mc_buf *b, unsigned notify)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{MC_SMTP_NOTIFY_SUCCESS, "SUCCESS"},
		     {MC_SMTP_NOTIFY_FAILURE, "FAILURE"},
		     {MC_SMTP_NOTIFY_DELAY, "DELAY"}};
	const char *sep = "=";

	mc_buf_append_str(b, " NOTIFY");
	if (notify & MC_SMTP_NOTIFY_NEVER) {
		mc_buf_append_str(b, "=NEVER");
		return;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (notify & names[i].bit) {
			mc_buf_printf(b, "%s%s", sep, names[i].name);
			sep = ",";
		}
	}
}

/* RCPT TO:<a> [NOTIFY=] [ORCPT=addr-type;xtext] */
static void rcpt_line(struct txn *t, struct mc_buf *b,
		      const struct mc_smtp_client_rcpt *r)
{
	const char *semi;

	mc_buf_printf(b, "RCPT TO:<%s>", r->address);
	if (t->dsn && r->notify != 0)
		append_notify(b, r->notify);
	if (t->dsn && r->orcpt != NULL) {
		semi = strchr(r->orcpt, ';');
		mc_buf_append_str(b, " ORCPT=");
		if (semi != NULL)
			mc_buf_append(b, r->orcpt, (size_t)(semi - r->orcpt));
		else
			mc_buf_append_str(b, "rfc822");
		mc_buf_append_c(b, ';');
		append_xtext(b, semi != NULL ? semi + 1 : r->orcpt);
	}
	mc_buf_append_str(b, "\r\n");
}

/* Writes b with the command timeout: true, or false (broken). */
static bool write_buf(struct txn *t, const struct mc_buf *b)
{
	struct mc_smtp_status st;

	if (smtpc_write(t->c, b->data, b->len,
			smtpc_now_ms() + t->c->command_timeout, &st) < 0)
		return fail(t, &st);
	return true;
}

/* Reads a reply with the command timeout: true, or false (broken). */
static bool read_reply(struct txn *t, struct mc_smtp_status *st)
{
	if (smtpc_read_reply(t->c, smtpc_now_ms() + t->c->command_timeout, st) <
		    0 ||
	    t->c->broken)
		return fail(t, st);
	return true;
}

/* Writes one command line (in b) and reads its reply. */
static bool command(struct txn *t, struct mc_buf *b, struct mc_smtp_status *st)
{
	bool ok = write_buf(t, b) && read_reply(t, st);

	mc_buf_clear(b);
	return ok;
}

/* Takes the reply of recipient i. */
static bool rcpt_reply(struct txn *t, size_t i)
{
	if (!read_reply(t, &t->rcpt_r[i]))
		return false;
	if (t->rcpt_r[i].code / 100 == 2)
		t->accepted++;
	return true;
}

/* The first refused recipient's reply: the outcome when none passed. */
static void none_accepted(struct txn *t)
{
	*t->final_r = t->rcpt_r[0];
	for (size_t i = 0; i < t->msg->rcpts_count; i++) {
		if (t->rcpt_r[i].code / 100 != 2) {
			*t->final_r = t->rcpt_r[i];
			return;
		}
	}
}

/* DATA's reply: true on 354 (send the body), else the outcome. */
static bool data_reply(struct txn *t, const struct mc_smtp_status *st)
{
	if (st->code == 354)
		return true;
	set_accepted(t, st);
	return false;
}

/* MAIL, RCPT... (DATA) one command at a time: true to send the body. */
static bool envelope_serial(struct txn *t, struct mc_buf *b)
{
	struct mc_smtp_status st;

	mail_line(t, b);
	if (!command(t, b, &st))
		return false;
	if (st.code / 100 != 2) {
		set_all(t, &st);
		return false;
	}
	for (size_t i = 0; i < t->msg->rcpts_count; i++) {
		rcpt_line(t, b, &t->msg->rcpts[i]);
		if (!write_buf(t, b) || !rcpt_reply(t, i))
			return false;
		mc_buf_clear(b);
	}
	if (t->accepted == 0) {
		none_accepted(t);
		return false;
	}
	if (t->chunking)
		return true;
	mc_buf_append_str(b, "DATA\r\n");
	return command(t, b, &st) && data_reply(t, &st);
}

/* Ends a DATA a server accepted (354) without any recipient. */
static void data_abort(struct txn *t, const struct mc_smtp_status *data_st)
{
	struct mc_smtp_status st;

	if (data_st->code != 354 ||
	    smtpc_write(t->c, ".\r\n", 3,
			smtpc_now_ms() + t->c->command_timeout, &st) < 0)
		return;
	smtpc_read_reply(t->c, smtpc_now_ms() + t->c->data_timeout, &st);
}

/* MAIL, every RCPT and DATA in one write, then the replies in order
 * (RFC 2920 3.1): true to send the body. */
static bool envelope_pipelined(struct txn *t, struct mc_buf *b)
{
	struct mc_smtp_status mail_st, data_st = {0};

	mail_line(t, b);
	for (size_t i = 0; i < t->msg->rcpts_count; i++)
		rcpt_line(t, b, &t->msg->rcpts[i]);
	if (!t->chunking)
		mc_buf_append_str(b, "DATA\r\n");
	if (!write_buf(t, b) || !read_reply(t, &mail_st))
		return false;
	for (size_t i = 0; i < t->msg->rcpts_count; i++)
		if (!rcpt_reply(t, i))
			return false;
	if (!t->chunking && !read_reply(t, &data_st))
		return false;
	if (mail_st.code / 100 != 2 || t->accepted == 0) {
		if (mail_st.code / 100 != 2)
			set_all(t, &mail_st);
		else
			none_accepted(t);
		data_abort(t, &data_st);
		return false;
	}
	return t->chunking || data_reply(t, &data_st);
}

/* Up to len bytes of the body source: prefix, then content; -1. */
static ssize_t src_read(struct txn *t, char *buf, size_t len)
{
	const struct mc_smtp_client_message *m = t->msg;
	ssize_t n;

	if (t->pos < m->prefix_len) {
		n = (ssize_t)(m->prefix_len - t->pos < len
				      ? m->prefix_len - t->pos
				      : len);
		memcpy(buf, m->prefix + t->pos, (size_t)n);
	} else if (m->read == NULL) {
		return 0;
	} else {
		n = m->read(m->read_ctx, buf, len, t->pos - m->prefix_len);
	}
	if (n > 0)
		t->pos += (uint64_t)n;
	return n;
}

/* The body source failed mid-transaction: the connection is unusable. */
static bool read_fail(struct txn *t)
{
	struct mc_smtp_status st;

	smtpc_status_local(&st, "4.3.0", "cannot read the message for %s",
			   mc_smtp_client_host(t->c));
	t->c->broken = true;
	return fail(t, &st);
}

/* Reads the reply to the end of the body (data timeout): the outcome. */
static bool final_reply(struct txn *t, struct mc_smtp_status *st)
{
	if (smtpc_read_reply(t->c, smtpc_now_ms() + t->c->data_timeout, st) <
		    0 ||
	    t->c->broken)
		return fail(t, st);
	set_accepted(t, st);
	return true;
}

/* Writes the buffered DATA output. */
static bool out_flush(struct out *o)
{
	if (o->len == 0)
		return true;
	if (smtpc_write(o->t->c, o->buf, o->len,
			smtpc_now_ms() + o->t->c->command_timeout, o->st) < 0)
		return fail(o->t, o->st);
	o->len = 0;
	return true;
}

/* Buffers one byte of output, flushing when full. */
static inline bool out_put(struct out *o, char ch)
{
	if (o->len == sizeof(o->buf) && !out_flush(o))
		return false;
	o->buf[o->len++] = ch;
	return true;
}

/* Adds content dot-stuffed (RFC 5321 4.5.2: a line starting with "."
 * gets another "."). */
static bool out_stuff(struct out *o, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (o->bol && data[i] == '.' && !out_put(o, '.'))
			return false;
		if (!out_put(o, data[i]))
			return false;
		o->bol = data[i] == '\n';
		o->last[0] = o->last[1];
		o->last[1] = data[i];
	}
	o->count += len;
	return true;
}

/* Ends DATA: CRLF if the content lacks one, "." CRLF, flushed. */
static bool out_end(struct out *o)
{
	const char *end = ".\r\n";

	if (o->count > 0 && (o->last[0] != '\r' || o->last[1] != '\n'))
		end = "\r\n.\r\n";
	for (; *end != '\0'; end++)
		if (!out_put(o, *end))
			return false;
	return out_flush(o);
}

/* The body after 354: dot-stuffed, terminated, and the final reply. */
static bool body_data(struct txn *t)
{
	struct out *o = mc_calloc(1, sizeof(*o));
	char *rbuf = mc_malloc(READ_SIZE);
	struct mc_smtp_status st;
	bool ok = true;
	ssize_t n = 0;

	o->t = t;
	o->bol = true;
	o->st = &st;
	while (ok && (n = src_read(t, rbuf, READ_SIZE)) > 0)
		ok = out_stuff(o, rbuf, (size_t)n);
	if (ok && n < 0)
		ok = read_fail(t);
	ok = ok && out_end(o) && final_reply(t, &st);
	free(rbuf);
	free(o);
	return ok;
}

/* Fills a chunk from the body source: the count (< len at the end). */
static ssize_t chunk_fill(struct txn *t, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = src_read(t, buf + got, len - got);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*   bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF
 * One chunk (its data at buf + BDAT_HDR) and its reply. */
static bool bdat_chunk(struct txn *t, char *buf, size_t n, bool last)
{
	struct mc_smtp_status st;
	char hdr[BDAT_HDR];
	int hl = snprintf(hdr, sizeof(hdr), "BDAT %zu%s\r\n", n,
			  last ? " LAST" : "");
	char *start = buf + BDAT_HDR - hl;

	memcpy(start, hdr, (size_t)hl);
	if (smtpc_write(t->c, start, (size_t)hl + n,
			smtpc_now_ms() + t->c->command_timeout, &st) < 0)
		return fail(t, &st);
	if (last)
		return final_reply(t, &st) && st.code / 100 == 2;
	if (!read_reply(t, &st))
		return false;
	if (st.code / 100 != 2) {
		set_accepted(t, &st);
		return false;
	}
	return true;
}

/* The body in BDAT chunks, the last one marked LAST (no stuffing). */
static bool body_bdat(struct txn *t)
{
	char *buf = mc_malloc(BDAT_HDR + CHUNK_SIZE);
	bool ok = true, last = false;

	while (ok && !last) {
		ssize_t n = chunk_fill(t, buf + BDAT_HDR, CHUNK_SIZE);

		if (n < 0) {
			ok = read_fail(t);
			break;
		}
		last = (size_t)n < CHUNK_SIZE;
		ok = bdat_chunk(t, buf, (size_t)n, last);
	}
	free(buf);
	return ok;
}

/* Refusals before anything is sent: true when the transaction may go. */
static bool precheck(struct txn *t)
{
	struct mc_smtp_client *c = t->c;
	const char *host = mc_smtp_client_host(c);
	struct mc_smtp_status st;

	if (c->broken)
		smtpc_status_local(&st, "4.4.2", "connection to %s is unusable",
				   host);
	else if (t->msg->rcpts_count == 0)
		smtpc_status_local(&st, "5.5.1", "no recipients");
	else if (t->msg->smtputf8 && !mc_smtp_client_has(c, "SMTPUTF8"))
		smtpc_status_local(&st, "5.6.7",
				   "SMTPUTF8 is required but was not offered "
				   "by %s",
				   host);
	else if (c->max_size != 0 && t->msg->size > c->max_size)
		smtpc_status_local(&st, "5.3.4",
				   "message size %" PRIu64 " exceeds the "
				   "limit %" PRIu64 " of %s",
				   t->msg->size, c->max_size, host);
	else
		return true;
	set_all(t, &st);
	return false;
}

/* One transaction: 0 when the connection can go on, -1 when unusable. */
int mc_smtp_client_send(struct mc_smtp_client *c,
			const struct mc_smtp_client_message *msg,
			struct mc_smtp_status *rcpt_r,
			struct mc_smtp_status *final_r)
{
	struct txn t = {
		.c = c, .msg = msg, .rcpt_r = rcpt_r, .final_r = final_r};
	struct mc_buf b;
	bool go;

	memset(rcpt_r, 0, msg->rcpts_count * sizeof(*rcpt_r));
	memset(final_r, 0, sizeof(*final_r));
	if (!precheck(&t))
		return c->broken ? -1 : 0;
	t.pipelining = mc_smtp_client_has(c, "PIPELINING");
	t.chunking = mc_smtp_client_has(c, "CHUNKING");
	t.dsn = mc_smtp_client_has(c, "DSN");
	mc_buf_init(&b, NULL, 0);
	go = t.pipelining ? envelope_pipelined(&t, &b)
			  : envelope_serial(&t, &b);
	mc_buf_free(&b);
	if (go)
		(void)(t.chunking ? body_bdat(&t) : body_data(&t));
	return c->broken ? -1 : 0;
}
