/* mc-pop3-server-data: RETR and TOP responses streamed from the daemon's
 * raw message bytes: bare LF becomes CRLF, lines starting with "." are
 * byte-stuffed, TOP stops after the header, the blank line and n body
 * lines, and the response ends with ".\r\n" (RFC 1939 3, 5, 7). */
#include "mc-pop3-server-private.h"

#include <stdio.h>
#include <string.h>

/* Asks the daemon for message index; top_lines -1 means the whole one. */
void pop3_retr_begin(struct mc_pop3_server *s, size_t index, long top_lines)
{
	memset(&s->data, 0, sizeof(s->data));
	s->data.bol = s->data.header = true;
	s->data.top_lines = top_lines;
	s->data.size = s->msgs[index].size;
	s->pending = P_RETR;
	s->cb.retr(s->ctx, s, index, top_lines);
}

/* Sends the "+OK" line before the first message byte. */
static void start(struct mc_pop3_server *s)
{
	char t[64];

	if (s->data.started)
		return;
	if (s->data.top_lines < 0)
		snprintf(t, sizeof(t), "%llu octets",
			 (unsigned long long)s->data.size);
	else
		snprintf(t, sizeof(t), "Top of message follows");
	pop3_ok(s, t);
	s->data.started = true;
}

/* A line ended: leave the header at the blank line, count TOP lines. */
static void end_line(struct pop3_data *d)
{
	bool empty = d->line_len == 0 || (d->line_len == 1 && d->prev_cr);

	d->bol = true;
	d->prev_cr = false;
	d->line_len = 0;
	if (d->header) {
		if (empty) {
			d->header = false;
			d->done = d->top_lines == 0;
		}
		return;
	}
	if (d->top_lines >= 0 && ++d->body_lines >= d->top_lines)
		d->done = true;
}

/* Filters one message byte into out. */
static void put_byte(struct pop3_data *d, struct mc_buf *out, char c)
{
	if (c == '\n') {
		if (!d->prev_cr)
			mc_buf_append_c(out, '\r');
		mc_buf_append_c(out, '\n');
		end_line(d);
		return;
	}
	if (d->bol && c == '.')
		mc_buf_append_c(out, '.'); /* byte-stuffing */
	mc_buf_append_c(out, c);
	d->bol = false;
	d->prev_cr = c == '\r';
	d->line_len++;
}

/* Message bytes for the pending RETR/TOP. */
void mc_pop3_server_data(struct mc_pop3_server *s, const void *data, size_t len)
{
	const char *p = data;
	struct mc_buf out;

	if (s->pending != P_RETR || s->io == IO_CLOSED)
		return;
	start(s);
	mc_buf_init(&out, NULL, 0);
	for (size_t i = 0; i < len && !s->data.done; i++)
		put_byte(&s->data, &out, p[i]);
	pop3_write(s, out.data, out.len);
	mc_buf_free(&out);
}

/* The message is complete: end the last line and the response. */
void mc_pop3_server_data_end(struct mc_pop3_server *s)
{
	struct pop3_data *d = &s->data;

	if (s->pending != P_RETR || s->io == IO_CLOSED)
		return;
	start(s);
	if (!d->bol)
		pop3_write(s, d->prev_cr ? "\n" : "\r\n", d->prev_cr ? 1 : 2);
	pop3_write(s, ".\r\n", 3);
	s->pending = P_NONE;
	pop3_resume(s);
}

/* The message cannot be read: -ERR before the "+OK", else close. */
void mc_pop3_server_data_fail(struct mc_pop3_server *s, enum mc_pop3_code code,
			      const char *text)
{
	if (s->pending != P_RETR || s->io == IO_CLOSED)
		return;
	if (s->data.started) {
		pop3_close(s, NULL); /* no "." so the client sees the loss */
		return;
	}
	s->pending = P_NONE;
	pop3_err(s, code == MC_POP3_CODE_NONE ? MC_POP3_CODE_SYS_TEMP : code,
		 text != NULL ? text : "Message cannot be read right now");
	pop3_resume(s);
}
