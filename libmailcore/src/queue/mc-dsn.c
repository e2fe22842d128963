/* mc-dsn: writes delivery status notifications (RFC 3464, RFC 3461,
 * RFC 3462 multipart/report, RFC 3834 Auto-Submitted): a readable text,
 * the message/delivery-status fields per recipient and the original (or
 * its header), streamed in chunks, as CRLF text with no line over 998. */
#include "mailcore/mc-dsn.h"

#include "mailcore/mc-date.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DSN_CHUNK	 (64 * 1024)
#define DSN_MAX_FULL	 (10 * 1024 * 1024)
#define DSN_HEADER_CAP	 (1024 * 1024)
#define DSN_LINE_MAX	 998
#define DSN_HEADER_WIDTH 78
#define DSN_TEXT_WIDTH	 76

/* Buffered output through the caller's write callback. */
struct sink {
	mc_dsn_write_fn *write;
	void *ctx;
	struct mc_buf buf;
	bool failed;
};

/* One mc_dsn_write() call. */
struct dsn_ctx {
	const struct mc_dsn *dsn;
	struct mc_pool *pool;
	struct sink out;
	const char *host; /* reporting MTA, cleaned */
	char boundary[64];
	bool any_failed, any_delayed;
	bool utf8;	/* an address needs UTF-8 (RFC 6531/6533) */
	bool full;	/* message/rfc822 rather than the header */
	bool orig_8bit; /* the returned original has 8-bit bytes */
};

/* Copies the original (or its header) with CRLF line ends and no line
 * over DSN_LINE_MAX; with out NULL it only scans for 8-bit bytes. */
struct copier {
	mc_dsn_read_fn *read;
	void *ctx;
	uint64_t size;
	bool headers_only;
	struct sink *out;
	bool in_header, pending_cr, stop, eightbit;
	size_t line_len;
	uint64_t emitted;
};

/* Hands the buffered bytes to the write callback. */
static void sink_flush(struct sink *s)
{
	if (!s->failed && s->buf.len > 0 &&
	    s->write(s->ctx, s->buf.data, s->buf.len) != 0)
		s->failed = true;
	mc_buf_clear(&s->buf);
}

/* Buffers n bytes, flushing whole chunks. */
static void sink_put(struct sink *s, const void *data, size_t n)
{
	mc_buf_append(&s->buf, data, n);
	if (s->buf.len >= DSN_CHUNK)
		sink_flush(s);
}

/* Buffers a C string. */
static void sink_str(struct sink *s, const char *str)
{
	sink_put(s, str, strlen(str));
}

/* True when s has a byte >= 0x80. */
static bool has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* Free text on one line: controls (CR, LF, TAB...) become blanks, blank
 * runs collapse, ends are trimmed; 8-bit bytes become '?' unless kept. */
static char *clean_text(struct mc_pool *pool, const char *s, bool keep_8bit)
{
	char *out = mc_palloc(pool, (s != NULL ? strlen(s) : 0) + 1);
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (c >= 0x80 && !keep_8bit)
			c = '?';
		if (c == ' ' && (n == 0 || out[n - 1] == ' '))
			continue;
		out[n++] = (char)c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return out;
}

/* s keeping only the bytes for which keep() is true. */
static char *clean_filter(struct mc_pool *pool, const char *s,
			  bool (*keep)(unsigned char c))
{
	char *out = mc_palloc(pool, (s != NULL ? strlen(s) : 0) + 1);
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++) {
		if (keep((unsigned char)*s))
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

/* Address bytes: no blanks, controls or angle brackets; UTF-8 kept. */
static bool addr_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '<' && c != '>';
}

/* Printable ASCII without blanks (xtext, queue ids). */
static bool token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Host names and address literals. */
static bool host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("-._:[]", c) != NULL;
}

/* Appends s as lines of about width bytes, breaking at blanks; the next
 * lines start with indent (" " folds a header field). A word too long
 * for a line is cut so that no line passes DSN_LINE_MAX. */
static void append_folded(struct mc_buf *b, const char *s, size_t width,
			  const char *indent)
{
	size_t col = 0, ind = strlen(indent);
	bool fresh = true;

	while (*s != '\0') {
		size_t sp = strspn(s, " "), wl = strcspn(s + sp, " ");

		if (wl == 0)
			break;
		if (!fresh && col + sp + wl > width) {
			mc_buf_printf(b, "\r\n%s", indent);
			col = ind;
		} else {
			mc_buf_append(b, s, sp);
			col += sp;
		}
		s += sp;
		while (col + wl > DSN_LINE_MAX) {
			mc_buf_append(b, s, DSN_LINE_MAX - col);
			s += DSN_LINE_MAX - col;
			wl -= DSN_LINE_MAX - col;
			mc_buf_printf(b, "\r\n%s", indent);
			col = ind;
		}
		mc_buf_append(b, s, wl);
		col += wl;
		s += wl;
		fresh = false;
	}
	mc_buf_append_str(b, "\r\n");
}

/* A header field "name: value", value cleaned, folded. */
static void put_field(struct dsn_ctx *x, const char *name, const char *value)
{
	char *line = mc_psprintf(x->pool, "%s: %s", name,
				 clean_text(x->pool, value, x->utf8));

	append_folded(&x->out.buf, line, DSN_HEADER_WIDTH, " ");
}

/* A field whose value is an RFC 5322 date. */
static void put_date(struct dsn_ctx *x, const char *name, time_t t)
{
	char date[MC_DATE_RFC5322_MAX];

	mc_date_format_rfc5322(t, 0, date);
	put_field(x, name, date);
}

/* A text paragraph (or line) wrapped for reading. */
static void put_text(struct dsn_ctx *x, const char *text, const char *indent)
{
	append_folded(&x->out.buf, text, DSN_TEXT_WIDTH, indent);
}

/* Fills out with 2 * n hex digits of randomness (time and pid mixed in
 * when getrandom fails). */
static void random_hex(char *out, size_t n)
{
	unsigned char r[32];
	struct timespec ts;
	size_t i;

	if (n > sizeof(r))
		n = sizeof(r);
	if (getrandom(r, n, 0) != (ssize_t)n) {
		clock_gettime(CLOCK_REALTIME, &ts);
		for (i = 0; i < n; i++)
			r[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^
					       (getpid() >> (i % 2 * 8)) ^ i);
	}
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* True for an RFC 3463 status code "class.subject.detail". */
static bool status_valid(const char *s)
{
	size_t i, n;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return false;
	s++;
	for (i = 0; i < 2; i++) {
		if (*s++ != '.')
			return false;
		n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return false;
		s += n;
	}
	return *s == '\0';
}

/* The status to write for r: its own if valid, else one by action. */
static const char *rcpt_status(const struct mc_dsn_rcpt *r)
{
	if (status_valid(r->status))
		return r->status;
	if (r->action == MC_DSN_FAILED)
		return "5.0.0";
	return r->action == MC_DSN_DELAYED ? "4.0.0" : "2.0.0";
}

/* The Action field value (RFC 3464 2.3.3). */
static const char *action_name(enum mc_dsn_action a)
{
	switch (a) {
	case MC_DSN_FAILED:
		return "failed";
	case MC_DSN_DELAYED:
		return "delayed";
	case MC_DSN_DELIVERED:
		return "delivered";
	case MC_DSN_RELAYED:
		return "relayed";
	case MC_DSN_EXPANDED:
		return "expanded";
	}
	return "failed";
}

/* What happened, in words, for the text part. */
static const char *action_text(enum mc_dsn_action a)
{
	switch (a) {
	case MC_DSN_FAILED:
		return "delivery failed";
	case MC_DSN_DELAYED:
		return "not delivered yet, still being retried";
	case MC_DSN_DELIVERED:
		return "delivered";
	case MC_DSN_RELAYED:
		return "relayed to a system that sends no reports";
	case MC_DSN_EXPANDED:
		return "delivered, and forwarded to further recipients";
	}
	return "delivery failed";
}

/* The Subject for the kind of report. */
static const char *subject(const struct dsn_ctx *x)
{
	if (x->any_failed)
		return "Undelivered Mail Returned to Sender";
	if (x->any_delayed)
		return "Delayed Mail (still being retried)";
	return "Successful Mail Delivery Report";
}

/* The latest Will-Retry-Until among delayed recipients, or 0. */
static time_t retry_until(const struct mc_dsn *dsn)
{
	time_t t = 0;
	size_t i;

	for (i = 0; i < dsn->rcpts_count; i++) {
		if (dsn->rcpts[i].action == MC_DSN_DELAYED &&
		    dsn->rcpts[i].retry_until > t)
			t = dsn->rcpts[i].retry_until;
	}
	return t;
}

/* The message header (RFC 5322, RFC 2045, RFC 3462, RFC 3834). */
static void write_header(struct dsn_ctx *x, time_t now)
{
	const struct mc_dsn *dsn = x->dsn;
	char id[33];

	put_date(x, "Date", now);
	put_field(x, "From",
		  mc_psprintf(x->pool, "Mail Delivery System <%s>",
			      clean_filter(x->pool, dsn->from, addr_char)));
	put_field(x, "To",
		  mc_psprintf(x->pool, "<%s>",
			      clean_filter(x->pool, dsn->to, addr_char)));
	put_field(x, "Subject", subject(x));
	random_hex(id, 16);
	put_field(x, "Message-ID",
		  mc_psprintf(x->pool, "<%s.%lld@%s>", id, (long long)now,
			      x->host));
	put_field(x, "Auto-Submitted", "auto-replied");
	put_field(x, "MIME-Version", "1.0");
	put_field(x, "Content-Type",
		  mc_psprintf(x->pool,
			      "multipart/report; report-type=delivery-status; "
			      "boundary=\"%s\"",
			      x->boundary));
	if (x->utf8 || x->orig_8bit)
		put_field(x, "Content-Transfer-Encoding", "8bit");
	sink_str(&x->out, "\r\nThis is a MIME-encapsulated message.\r\n");
}

/* Starts a body part: the delimiter, its type and description. */
static void part_begin(struct dsn_ctx *x, const char *type,
		       const char *description, bool eightbit)
{
	mc_buf_printf(&x->out.buf, "\r\n--%s\r\n", x->boundary);
	put_field(x, "Content-Description", description);
	put_field(x, "Content-Type", type);
	if (eightbit)
		put_field(x, "Content-Transfer-Encoding", "8bit");
	sink_str(&x->out, "\r\n");
}

/* The opening paragraph of a delay warning. */
static const char *intro_delay(struct dsn_ctx *x)
{
	time_t until = retry_until(x->dsn);
	char date[MC_DATE_RFC5322_MAX];

	if (until == 0)
		return "This is a warning only: your message has not yet been "
		       "delivered to the recipients listed below. Delivery "
		       "is still being retried; you do not need to send it "
		       "again.";
	mc_date_format_rfc5322(until, 0, date);
	return mc_psprintf(x->pool,
			   "This is a warning only: your message has not yet "
			   "been delivered to the recipients listed below. "
			   "Delivery will be retried until %s; you do not "
			   "need to send it again.",
			   date);
}

/* The opening paragraph of the text part. */
static const char *intro_text(struct dsn_ctx *x)
{
	const char *what, *more = "", *attached;

	if (!x->any_failed && x->any_delayed)
		return intro_delay(x);
	if (x->any_failed) {
		what = "Your message could not be delivered to one or more "
		       "of its recipients, listed below with the reason.";
		if (x->any_delayed)
			more = " For the recipients marked as delayed, "
			       "delivery is still being retried.";
	} else {
		what = "Your message was delivered to the recipients listed "
		       "below.";
	}
	attached = x->full ? "A copy of the message is attached."
			   : "The header of the message is attached.";
	return mc_psprintf(x->pool, "%s%s %s", what, more, attached);
}

/* One recipient in the text part. */
static void text_rcpt(struct dsn_ctx *x, const struct mc_dsn_rcpt *r)
{
	const char *host = clean_filter(x->pool, r->remote_mta, host_char);
	const char *diag = clean_text(x->pool, r->diag, false);
	char date[MC_DATE_RFC5322_MAX];

	put_text(x,
		 mc_psprintf(x->pool, "<%s>: %s (status %s)",
			     clean_filter(x->pool, r->address, addr_char),
			     action_text(r->action), rcpt_status(r)),
		 "    ");
	if (*diag != '\0' && *host != '\0')
		put_text(x,
			 mc_psprintf(x->pool, "    The server %s replied: %s",
				     host, diag),
			 "    ");
	else if (*diag != '\0')
		put_text(x, mc_psprintf(x->pool, "    Reason: %s", diag),
			 "    ");
	if (r->action == MC_DSN_DELAYED && r->retry_until != 0) {
		mc_date_format_rfc5322(r->retry_until, 0, date);
		put_text(x, mc_psprintf(x->pool, "    Retried until %s", date),
			 "    ");
	}
}

/* Part 1: the human-readable explanation. */
static void write_text_part(struct dsn_ctx *x)
{
	const struct mc_dsn *dsn = x->dsn;
	size_t i;

	part_begin(x,
		   x->utf8 ? "text/plain; charset=utf-8"
			   : "text/plain; charset=us-ascii",
		   "Notification", x->utf8);
	put_text(x,
		 mc_psprintf(x->pool, "This is the mail delivery system at %s.",
			     x->host),
		 "");
	sink_str(&x->out, "\r\n");
	put_text(x, intro_text(x), "");
	sink_str(&x->out, "\r\n");
	if (dsn->queue_id != NULL && *dsn->queue_id != '\0') {
		put_text(x,
			 mc_psprintf(x->pool, "Queue ID: %s",
				     clean_filter(x->pool, dsn->queue_id,
						  token_char)),
			 "    ");
		sink_str(&x->out, "\r\n");
	}
	for (i = 0; i < dsn->rcpts_count; i++) {
		if (i > 0)
			sink_str(&x->out, "\r\n");
		text_rcpt(x, &dsn->rcpts[i]);
		sink_flush(&x->out);
	}
}

/* Original-Recipient from the ORCPT "type;address", type kept. */
static void put_orcpt(struct dsn_ctx *x, const char *orcpt)
{
	char *v = clean_text(x->pool, orcpt, x->utf8);

	if (*v == '\0')
		return;
	put_field(x, "Original-Recipient",
		  strchr(v, ';') != NULL
			  ? v
			  : mc_psprintf(x->pool, "rfc822;%s", v));
}

/* The per-recipient fields of RFC 3464 2.3. */
static void status_rcpt(struct dsn_ctx *x, const struct mc_dsn_rcpt *r)
{
	const char *addr = clean_filter(x->pool, r->address, addr_char);
	const char *host = clean_filter(x->pool, r->remote_mta, host_char);
	const char *diag = clean_text(x->pool, r->diag, false);

	sink_str(&x->out, "\r\n");
	if (r->orcpt != NULL)
		put_orcpt(x, r->orcpt);
	put_field(x, "Final-Recipient",
		  mc_psprintf(x->pool, "%s; %s",
			      has_8bit(addr) ? "utf-8" : "rfc822", addr));
	put_field(x, "Action", action_name(r->action));
	put_field(x, "Status", rcpt_status(r));
	if (*host != '\0')
		put_field(x, "Remote-MTA",
			  mc_psprintf(x->pool, "dns; %s", host));
	if (*diag != '\0')
		put_field(x, "Diagnostic-Code",
			  mc_psprintf(x->pool, "smtp; %s", diag));
	if (r->last_attempt != 0)
		put_date(x, "Last-Attempt-Date", r->last_attempt);
	if (r->action == MC_DSN_DELAYED && r->retry_until != 0)
		put_date(x, "Will-Retry-Until", r->retry_until);
}

/* Part 2: message/delivery-status (message/global-delivery-status
 * when an address is UTF-8, RFC 6533). */
static void write_status_part(struct dsn_ctx *x)
{
	const struct mc_dsn *dsn = x->dsn;
	size_t i;

	part_begin(x,
		   x->utf8 ? "message/global-delivery-status"
			   : "message/delivery-status",
		   "Delivery report", x->utf8);
	put_field(x, "Reporting-MTA", mc_psprintf(x->pool, "dns; %s", x->host));
	if (dsn->envid != NULL && *dsn->envid != '\0')
		put_field(x, "Original-Envelope-Id",
			  clean_filter(x->pool, dsn->envid, token_char));
	if (dsn->arrival != 0)
		put_date(x, "Arrival-Date", dsn->arrival);
	for (i = 0; i < dsn->rcpts_count; i++) {
		status_rcpt(x, &dsn->rcpts[i]);
		sink_flush(&x->out);
	}
}

/* Emits copied bytes (or only counts them when scanning). */
static void cp_emit(struct copier *c, const void *data, size_t n)
{
	c->emitted += n;
	if (c->out != NULL)
		sink_put(c->out, data, n);
}

/* A line end: CRLF, except that the empty line ending the header stops
 * a header-only copy; so does passing DSN_HEADER_CAP. */
static void cp_line_end(struct copier *c)
{
	if (c->line_len == 0 && c->in_header) {
		c->in_header = false;
		if (c->headers_only) {
			c->stop = true;
			return;
		}
	}
	cp_emit(c, "\r\n", 2);
	c->line_len = 0;
	if (c->headers_only && c->emitted >= DSN_HEADER_CAP)
		c->stop = true;
}

/* Copies bytes up to a CR or LF or the line limit (where an overlong line
 * is broken, as a fold in the header); returns how many. */
static size_t cp_span(struct copier *c, const unsigned char *p, size_t n)
{
	size_t k = 0, room;

	if (c->line_len >= DSN_LINE_MAX) {
		cp_emit(c, c->in_header ? "\r\n " : "\r\n",
			c->in_header ? 3 : 2);
		c->line_len = c->in_header ? 1 : 0;
	}
	room = DSN_LINE_MAX - c->line_len;
	for (; k < n && k < room && p[k] != '\r' && p[k] != '\n'; k++) {
		if (p[k] >= 0x80)
			c->eightbit = true;
	}
	cp_emit(c, p, k);
	c->line_len += k;
	if (c->eightbit && c->out == NULL)
		c->stop = true;
	return k;
}

/* Feeds one chunk; CRLF, bare CR and bare LF all end a line. */
static void cp_feed(struct copier *c, const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !c->stop) {
		if (c->pending_cr) {
			c->pending_cr = false;
			cp_line_end(c);
			if (p[i] == '\n')
				i++;
		} else if (p[i] == '\r') {
			c->pending_cr = true;
			i++;
		} else if (p[i] == '\n') {
			cp_line_end(c);
			i++;
		} else {
			i += cp_span(c, p + i, n - i);
		}
	}
}

/* Ends an unterminated last line. */
static void cp_finish(struct copier *c)
{
	if (!c->stop && c->pending_cr) {
		c->pending_cr = false;
		cp_line_end(c);
	}
	if (!c->stop && c->line_len > 0)
		cp_line_end(c);
}

/* Reads the original in chunks through the copier; -1 on read error. */
static int cp_run(struct copier *c)
{
	unsigned char *buf = mc_malloc(DSN_CHUNK);
	uint64_t off = 0;
	int ret = 0;

	c->in_header = true;
	while (!c->stop && off < c->size) {
		size_t want = c->size - off < DSN_CHUNK
				      ? (size_t)(c->size - off)
				      : DSN_CHUNK;
		ssize_t n = c->read(c->ctx, buf, want, off);

		if (n < 0 || (size_t)n > want) {
			ret = -1;
			break;
		}
		if (n == 0)
			break;
		cp_feed(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	if (ret == 0)
		cp_finish(c);
	return ret;
}

/* Sets up a copier over the original for this report. */
static void cp_init(struct copier *c, const struct dsn_ctx *x, uint64_t size,
		    mc_dsn_read_fn *read, void *ctx, struct sink *out)
{
	memset(c, 0, sizeof(*c));
	c->read = read;
	c->ctx = ctx;
	c->size = size;
	c->headers_only = !x->full;
	c->out = out;
}

/* Part 3: the original (message/rfc822) or its header
 * (text/rfc822-headers), then the closing delimiter. */
static int write_original(struct dsn_ctx *x, uint64_t size,
			  mc_dsn_read_fn *read, void *ctx)
{
	struct copier c;

	part_begin(x, x->full ? "message/rfc822" : "text/rfc822-headers",
		   x->full ? "Original message" : "Original message header",
		   x->orig_8bit);
	cp_init(&c, x, size, read, ctx, &x->out);
	if (cp_run(&c) < 0)
		return -1;
	mc_buf_printf(&x->out.buf, "\r\n--%s--\r\n", x->boundary);
	sink_flush(&x->out);
	return 0;
}

/* Decides the kind of report, the character set and what is returned. */
static void dsn_ctx_init(struct dsn_ctx *x, const struct mc_dsn *dsn,
			 uint64_t size, mc_dsn_write_fn *write, void *ctx)
{
	uint64_t max = dsn->max_full != 0 ? dsn->max_full : DSN_MAX_FULL;
	size_t i;

	memset(x, 0, sizeof(*x));
	x->dsn = dsn;
	x->pool = mc_pool_create("dsn", 0);
	x->out.write = write;
	x->out.ctx = ctx;
	mc_buf_init(&x->out.buf, NULL, 0);
	x->host = clean_filter(x->pool, dsn->reporting_mta, host_char);
	if (*x->host == '\0')
		x->host = "localhost";
	memcpy(x->boundary, "=_mc-dsn_", 9);
	random_hex(x->boundary + 9, 16);
	x->utf8 = has_8bit(dsn->to);
	for (i = 0; i < dsn->rcpts_count; i++) {
		const struct mc_dsn_rcpt *r = &dsn->rcpts[i];

		x->any_failed |= r->action == MC_DSN_FAILED;
		x->any_delayed |= r->action == MC_DSN_DELAYED;
		x->utf8 |= has_8bit(r->address) || has_8bit(r->orcpt);
	}
	x->full = !dsn->headers_only && size <= max;
}

/* Writes the complete DSN; see mc-dsn.h. */
int mc_dsn_write(const struct mc_dsn *dsn, uint64_t original_size,
		 mc_dsn_read_fn *read, void *read_ctx, mc_dsn_write_fn *write,
		 void *write_ctx, struct mc_error *err)
{
	struct dsn_ctx x;
	struct copier scan;
	int ret = -1;

	dsn_ctx_init(&x, dsn, original_size, write, write_ctx);
	cp_init(&scan, &x, original_size, read, read_ctx, NULL);
	if (cp_run(&scan) < 0)
		goto read_failed;
	x.orig_8bit = scan.eightbit;
	write_header(&x, dsn->now != 0 ? dsn->now : time(NULL));
	write_text_part(&x);
	write_status_part(&x);
	if (write_original(&x, original_size, read, read_ctx) < 0)
		goto read_failed;
	if (x.out.failed)
		mc_error_set(err, MC_ERR_TEMPORARY, "dsn: write failed");
	else
		ret = 0;
	goto out;
read_failed:
	mc_error_set(err, MC_ERR_TEMPORARY,
		     "dsn: reading the original message failed");
out:
	mc_buf_free(&x.out.buf);
	mc_pool_destroy(&x.pool);
	return ret;
}
