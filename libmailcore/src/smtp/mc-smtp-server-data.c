/* mc-smtp-server-data: message data. DATA (RFC 5321 4.1.1.4) is
 * dot-unstuffed and ends only at CRLF.CRLF (bare LF never ends it: SMTP
 * smuggling defence); BDAT (RFC 3030) reads counted chunks. Bytes stream
 * to data_chunk; size, bare CR/LF and Received: hops are counted. */
#include "mc-smtp-server-private.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Resets the counters for a new message. */
void smtp_data_begin(struct mc_smtp_server *s)
{
	memset(&s->dp, 0, sizeof(s->dp));
	s->dp.state = DS_BOL;
	s->dp.in_header = s->dp.hdr_bol = true;
}

/* Hands buffered message bytes to the daemon. */
static void flush(struct mc_smtp_server *s)
{
	if (s->dp.out_len > 0 && !s->dp.too_big && s->cb.data_chunk != NULL)
		s->cb.data_chunk(s->ctx, s->dp.out, s->dp.out_len);
	s->dp.out_len = 0;
}

/* Counts "Received:" header lines until the first empty line. */
static void scan_header(struct data_parser *dp, unsigned char c)
{
	static const char rcvd[] = "received:";

	if (!dp->in_header)
		return;
	if (dp->hdr_bol) {
		if (c == '\r' || c == '\n') {
			dp->in_header = false;
			return;
		}
		dp->hdr_bol = false;
		dp->hdr_pos = 0;
	}
	if (c == '\n') {
		dp->hdr_bol = true;
	} else if (dp->hdr_pos < sizeof(rcvd) - 1) {
		if (tolower(c) != rcvd[dp->hdr_pos])
			dp->hdr_pos = sizeof(rcvd);
		else if (++dp->hdr_pos == sizeof(rcvd) - 1)
			dp->hops++;
	}
}

/* One byte of message content: counted, scanned, buffered. */
static void emit(struct mc_smtp_server *s, unsigned char c)
{
	struct data_parser *dp = &s->dp;

	dp->size++;
	scan_header(dp, c);
	if (s->set.max_message_size != 0 &&
	    dp->size > s->set.max_message_size) {
		dp->too_big = true;
		dp->out_len = 0;
	}
	if (dp->too_big)
		return;
	dp->out[dp->out_len++] = (char)c;
	if (dp->out_len == sizeof(dp->out))
		flush(s);
}

/* A byte inside a line: CR is held back, bare LF passes counted. */
static void text_byte(struct mc_smtp_server *s, unsigned char c)
{
	if (c == '\r') {
		s->dp.state = DS_CR;
		return;
	}
	if (c == '\n')
		s->dp.bare_lf++;
	emit(s, c);
	s->dp.state = DS_TEXT;
}

/* DATA byte machine; true when c completes CRLF.CRLF. Only CRLF starts a
 * line for dot handling, so "\n.\n", "\r\n.\n" and "\n.\r\n" are data. */
static bool data_byte(struct mc_smtp_server *s, unsigned char c)
{
	struct data_parser *dp = &s->dp;

	switch (dp->state) {
	case DS_BOL:
		if (c == '.') {
			dp->state = DS_DOT;
			return false;
		}
		text_byte(s, c);
		return false;
	case DS_TEXT:
		text_byte(s, c);
		return false;
	case DS_CR:
		if (c == '\n') {
			emit(s, '\r');
			emit(s, '\n');
			dp->state = DS_BOL;
			return false;
		}
		dp->bare_cr++;
		emit(s, '\r');
		text_byte(s, c);
		return false;
	case DS_DOT:
		if (c == '\r') {
			dp->state = DS_DOTCR;
			return false;
		}
		if (c == '\n')
			emit(s, '.'); /* ".\n" is not a terminator: keep it */
		text_byte(s, c);      /* otherwise the stuffed dot is dropped */
		return false;
	case DS_DOTCR:
		if (c == '\n')
			return true;
		dp->state = DS_CR;
		return data_byte(s, c);
	}
	return false;
}

/* Ends a message: limits, then the message_end decision. */
static void message_done(struct mc_smtp_server *s, bool chunking)
{
	flush(s);
	s->state = ST_CMD;
	if (s->dp.too_big) {
		smtp_send(s, 552, "5.3.4",
			  "Message size exceeds fixed maximum message size");
		smtp_trans_reset(s);
		return;
	}
	if (s->dp.hops > s->set.max_hops) {
		smtp_send(s, 554, "5.4.6", "Too many hops (mail loop?)");
		smtp_trans_reset(s);
		return;
	}
	s->msg.size = s->dp.size;
	s->msg.bare_lf = s->dp.bare_lf;
	s->msg.bare_cr = s->dp.bare_cr;
	s->msg.hops = s->dp.hops;
	s->msg.recipients = s->rcpts;
	s->msg.chunking = chunking;
	smtp_decide(s, P_MSG_END);
}

/* Feeds buffered input to the DATA machine; true at end of data. */
bool smtp_data_step(struct mc_smtp_server *s)
{
	const unsigned char *p = (const unsigned char *)s->in.data;

	while (s->in_pos < s->in.len) {
		if (data_byte(s, p[s->in_pos++])) {
			message_done(s, false);
			return true;
		}
	}
	flush(s);
	return false;
}

/* data = "DATA" CRLF */
void smtp_cmd_data(struct mc_smtp_server *s, char *args)
{
	if (*args != '\0')
		smtp_send(s, 501, "5.5.4", "Syntax: DATA");
	else if (!s->in_trans)
		smtp_send(s, 503, "5.5.1", "Need MAIL command first");
	else if (s->chunking)
		smtp_send(s, 503, "5.5.1", "DATA not allowed after BDAT");
	else if (s->bin_body)
		smtp_send(s, 503, "5.5.1", "BODY=BINARYMIME requires BDAT");
	else if (s->rcpts == 0)
		smtp_send(s, 554, "5.5.1", "No valid recipients");
	else
		smtp_decide(s, P_DATA);
}

/* The data_start answer to DATA: 3xx starts reading. */
void smtp_data_started(struct mc_smtp_server *s, unsigned code, const char *enh,
		       const char *text)
{
	smtp_send(s, code, enh, text);
	if (code / 100 != 3)
		return;
	smtp_data_begin(s);
	s->state = ST_DATA;
}

/* Remembers the error to send once the chunk is read. */
static void bdat_fail(struct mc_smtp_server *s, unsigned code, const char *enh,
		      const char *text)
{
	s->bdat_err_code = code;
	snprintf(s->bdat_err_enh, sizeof(s->bdat_err_enh), "%s",
		 enh != NULL ? enh : "");
	s->bdat_err_text = mc_pstrdup(s->cmd_pool, text != NULL ? text : "");
}

/* The data_start answer to the first BDAT: errors wait for the chunk. */
void smtp_bdat_started(struct mc_smtp_server *s, unsigned code, const char *enh,
		       const char *text)
{
	if (code / 100 != 2 && code / 100 != 3)
		bdat_fail(s, code, enh, text);
}

/* Parses "n [LAST]"; false on bad syntax. */
static bool bdat_args(char *args, uint64_t *size_r, bool *last_r)
{
	char *sp = strchr(args, ' ');

	*last_r = false;
	if (sp != NULL) {
		*sp = '\0';
		if (!mc_str_eq_icase(sp + 1, "LAST"))
			return false;
		*last_r = true;
	}
	return *args != '\0' && strlen(args) <= 19 &&
	       mc_str_to_u64(args, size_r);
}

/* bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF
 * chunk-size = 1*DIGIT; end-marker = "LAST"  (RFC 3030 2) */
void smtp_cmd_bdat(struct mc_smtp_server *s, char *args)
{
	uint64_t size;
	bool last;

	if (!s->set.chunking) {
		smtp_send(s, 500, "5.5.1", "Command unrecognized");
		return;
	}
	if (!bdat_args(args, &size, &last)) {
		smtp_send(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_err_code = 0;
	s->state = ST_BDAT;
	if (!s->in_trans)
		bdat_fail(s, 503, "5.5.1", "Need MAIL command first");
	else if (s->rcpts == 0)
		bdat_fail(s, 554, "5.5.1", "No valid recipients");
	if (s->bdat_err_code != 0 || s->chunking)
		return;
	s->chunking = true;
	smtp_data_begin(s);
	smtp_decide(s, P_BDAT);
}

/* A chunk is read: the error, an ack, or the message end. */
static void chunk_done(struct mc_smtp_server *s)
{
	char t[64];

	s->state = ST_CMD;
	if (s->bdat_err_code != 0) {
		smtp_send(s, s->bdat_err_code, s->bdat_err_enh,
			  s->bdat_err_text);
		smtp_trans_reset(s);
		return;
	}
	if (s->bdat_last) {
		if (s->dp.state == DS_CR)
			s->dp.bare_cr++;
		message_done(s, true);
		return;
	}
	flush(s);
	if (s->dp.too_big) {
		message_done(s, true);
		return;
	}
	snprintf(t, sizeof(t), "%llu octets received",
		 (unsigned long long)s->dp.size);
	smtp_send(s, 250, "2.0.0", t);
}

/* One BDAT byte: counted like DATA but never unstuffed. */
static void bdat_byte(struct mc_smtp_server *s, unsigned char c)
{
	bool cr = s->dp.state == DS_CR;

	if (cr && c != '\n')
		s->dp.bare_cr++;
	if (c == '\n' && !cr)
		s->dp.bare_lf++;
	s->dp.state = c == '\r' ? DS_CR : DS_TEXT;
	emit(s, c);
}

/* Consumes chunk bytes; true when the chunk is complete. */
bool smtp_bdat_step(struct mc_smtp_server *s)
{
	size_t avail = s->in.len - s->in_pos;
	size_t n = s->bdat_left < avail ? (size_t)s->bdat_left : avail;
	const unsigned char *p = (const unsigned char *)s->in.data + s->in_pos;

	if (s->bdat_err_code == 0) {
		for (size_t i = 0; i < n; i++)
			bdat_byte(s, p[i]);
	}
	s->in_pos += n;
	s->bdat_left -= n;
	if (s->bdat_left > 0) {
		flush(s);
		return false;
	}
	chunk_done(s);
	return true;
}
