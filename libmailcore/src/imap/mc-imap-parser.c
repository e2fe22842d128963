/* mc-imap-parser: the IMAP command reader's event loop: input buffering,
 * lines bounded by max_line, literals (synchronising ones wait for the
 * daemon's CONTINUE answer), APPEND messages streamed as LITERAL_DATA,
 * line mode, and errors that skip the rest of the command in sync. */
#include "mc-imap-parser-private.h"

#include <stdlib.h>
#include <string.h>

/* Replaces zero settings by their defaults. */
static void apply_defaults(struct mc_imap_parser_settings *set)
{
	if (set->max_line == 0)
		set->max_line = MC_IMAP_DEFAULT_LINE;
	if (set->max_inline_literal == 0)
		set->max_inline_literal = MC_IMAP_DEFAULT_INLINE_LITERAL;
	if (set->max_command == 0)
		set->max_command = MC_IMAP_DEFAULT_COMMAND;
	if (set->max_append == 0)
		set->max_append = MC_IMAP_DEFAULT_APPEND;
	if (set->max_depth == 0)
		set->max_depth = MC_IMAP_DEFAULT_DEPTH;
}

/* A parser waiting for the first command. */
struct mc_imap_parser *
mc_imap_parser_create(const struct mc_imap_parser_settings *set)
{
	struct mc_imap_parser *p = mc_calloc(1, sizeof(*p));

	if (set != NULL)
		p->set = *set;
	apply_defaults(&p->set);
	p->pool = mc_pool_create("imap-cmd", 4096);
	p->frames = mc_calloc((size_t)p->set.max_depth + 1, sizeof(*p->frames));
	p->chunk = mc_malloc(IMAP_CHUNK);
	mc_buf_init(&p->in, NULL, 0);
	return p;
}

/* Frees the parser; accepts NULL. */
void mc_imap_parser_destroy(struct mc_imap_parser **pp)
{
	struct mc_imap_parser *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	mc_buf_free(&p->in);
	mc_pool_destroy(&p->pool);
	free(p->frames);
	free(p->chunk);
	free(p);
}

/* Buffers client bytes; consumed ones are dropped first. */
void mc_imap_parser_feed(struct mc_imap_parser *p, const void *data, size_t len)
{
	if (p->in_pos > 0) {
		mc_buf_consume(&p->in, p->in_pos);
		p->in_pos = 0;
	}
	if (len > 0)
		mc_buf_append(&p->in, data, len);
}

/* Bytes fed and not yet consumed. */
size_t mc_imap_parser_buffered(const struct mc_imap_parser *p)
{
	return p->in.len - p->in_pos;
}

/* Every line is a raw LINE event while on. */
void mc_imap_parser_set_line_mode(struct mc_imap_parser *p, bool on)
{
	p->line_mode = on;
}

/* Forgets the previous command (its pool too). */
static void reset_command(struct mc_imap_parser *p)
{
	mc_pool_clear(p->pool);
	p->tag = p->name = NULL;
	p->depth = 0;
	memset(&p->frames[0], 0, sizeof(p->frames[0]));
	p->cmd_bytes = 0;
	p->append = p->any_message = p->need_sep = false;
	p->in_cmd = false;
}

/* The command is over: the next line starts a new one. */
static void end_command(struct mc_imap_parser *p)
{
	p->in_cmd = false;
	p->state = IS_LINE;
	p->tail_len = 0;
}

/* Starts an event of type for the current command. */
static void ev_init(const struct mc_imap_parser *p, struct mc_imap_event *ev,
		    enum mc_imap_event_type type)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	if (type != MC_IMAP_EV_LINE)
		ev->tag = p->tag != NULL ? p->tag : "*";
	ev->name = p->name;
	ev->literal_size = p->lit_size;
	ev->literal8 = p->lit8;
}

/* Fills ev with the command-level arguments read so far. */
static void ev_args(const struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	ev->args = p->frames[0].args;
	ev->args_count = p->frames[0].count;
}

/* Remembers the last IMAP_TAIL bytes of a line being skipped. */
static void tail_add(struct mc_imap_parser *p, const char *s, size_t n)
{
	if (n >= IMAP_TAIL) {
		memcpy(p->tail, s + n - IMAP_TAIL, IMAP_TAIL);
		p->tail_len = IMAP_TAIL;
		return;
	}
	if (p->tail_len + n > IMAP_TAIL) {
		size_t drop = p->tail_len + n - IMAP_TAIL;

		memmove(p->tail, p->tail + drop, p->tail_len - drop);
		p->tail_len -= drop;
	}
	memcpy(p->tail + p->tail_len, s, n);
	p->tail_len += n;
}

/* A skipped line ended: a non-synchronising literal announced at its end
 * was sent and is skipped too; otherwise the command is over. */
static void skip_line_end(struct mc_imap_parser *p)
{
	uint64_t size;
	bool sync;

	if (p->skip_literals &&
	    imap_tail_literal(p->tail, p->tail_len, &size, &sync) && !sync) {
		p->lit_left = size;
		p->tail_len = 0;
		p->state = IS_DISCARD;
		return;
	}
	end_command(p);
}

/* Reports an error found in the complete line s and skips the rest of
 * the command. */
static int fail(struct mc_imap_parser *p, struct mc_imap_event *ev,
		enum mc_imap_event_type type, const char *text, const char *s,
		size_t len)
{
	ev_init(p, ev, type);
	ev->text = text;
	p->skip_literals = true;
	p->tail_len = 0;
	tail_add(p, s, len);
	skip_line_end(p);
	return 1;
}

/* A line over max_line: BAD, then everything up to its LF is dropped
 * (complete: s[0..n) is that line, LF included, already consumed). */
static int line_too_long(struct mc_imap_parser *p, struct mc_imap_event *ev,
			 const char *s, size_t n, bool complete)
{
	bool raw = p->line_mode && !p->in_cmd;

	if (!p->in_cmd) {
		reset_command(p);
		if (!raw)
			p->tag = imap_peek_tag(p, s, n);
		p->in_cmd = true;
	}
	ev_init(p, ev, MC_IMAP_EV_BAD);
	ev->text = "line too long";
	p->skip_literals = !raw;
	p->tail_len = 0;
	tail_add(p, s, complete ? n - 1 : n);
	if (complete) {
		skip_line_end(p);
	} else {
		p->in_pos += n;
		p->state = IS_SKIP_LINE;
	}
	return 1;
}

/* Why the literal just announced cannot be taken, or NULL. */
static const char *literal_refusal(const struct mc_imap_parser *p)
{
	uint64_t room;

	if (!p->lit_sync && p->set.literal_minus &&
	    p->lit_size > IMAP_LITERAL_MINUS_MAX)
		return "non-synchronizing literal over 4096 bytes";
	if (p->lit_msg)
		return p->lit_size > p->set.max_append ? "message too large"
						       : NULL;
	room = p->set.max_command - p->cmd_bytes;
	if (p->lit_size > p->set.max_inline_literal ||
	    p->lit_size + IMAP_ARG_COST > room)
		return "literal too large";
	return NULL;
}

/* The literal may come: read it into the tree or stream it. */
static void accept_literal(struct mc_imap_parser *p)
{
	p->lit_left = p->lit_size;
	if (p->lit_msg) {
		p->state = IS_MSG_BEGIN;
		return;
	}
	p->lit_data = mc_palloc(p->pool, (size_t)p->lit_size + 1);
	p->state = IS_LITERAL;
}

/* The line ended with a literal header: refuse it, ask for it, or (when
 * non-synchronising) read it. In APPEND a literal at the top level is a
 * message, except a first argument (the mailbox name). */
static int start_literal(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	const char *why;

	p->lit_msg = p->append && p->depth == 0 &&
		     (p->any_message || p->frames[0].count > 0);
	why = literal_refusal(p);
	if (why != NULL) {
		ev_init(p, ev, MC_IMAP_EV_TOOBIG);
		ev->text = why;
		if (p->lit_sync) {
			end_command(p);
		} else {
			p->skip_literals = true;
			p->lit_left = p->lit_size;
			p->state = IS_DISCARD;
		}
		return 1;
	}
	if (p->lit_sync) {
		ev_init(p, ev, MC_IMAP_EV_CONTINUE);
		ev_args(p, ev);
		p->state = IS_CONT_WAIT;
		return 1;
	}
	accept_literal(p);
	return 2;
}

/* Answers a CONTINUE: the literal comes next. */
void mc_imap_parser_continue(struct mc_imap_parser *p)
{
	if (p->state == IS_CONT_WAIT)
		accept_literal(p);
}

/* Answers a CONTINUE: the command is over. */
void mc_imap_parser_refuse(struct mc_imap_parser *p)
{
	if (p->state == IS_CONT_WAIT)
		end_command(p);
}

/* A raw line in line mode. */
static int raw_line(struct mc_imap_parser *p, struct mc_imap_event *ev,
		    const char *s, size_t len)
{
	unsigned char *copy;

	reset_command(p);
	copy = mc_palloc(p->pool, len + 1);
	memcpy(copy, s, len);
	ev_init(p, ev, MC_IMAP_EV_LINE);
	ev->data = copy;
	ev->data_len = len;
	return 1;
}

/* One complete line s (line end stripped) of a command. */
static int handle_line(struct mc_imap_parser *p, struct mc_imap_event *ev,
		       const char *s, size_t len)
{
	size_t pos = 0;

	if (p->line_mode && !p->in_cmd)
		return raw_line(p, ev, s, len);
	if (!p->in_cmd) {
		reset_command(p);
		p->in_cmd = true;
		if (len == 0)
			return fail(p, ev, MC_IMAP_EV_BAD, "empty command line",
				    s, len);
		if (!imap_parse_tag_name(p, s, len, &pos))
			return fail(p, ev, MC_IMAP_EV_BAD, p->err_text, s, len);
		p->append = strcmp(p->name, "APPEND") == 0;
		p->need_sep = true;
	}
	switch (imap_parse_args(p, s, len, pos)) {
	case LR_DONE:
		ev_init(p, ev, MC_IMAP_EV_COMMAND);
		ev_args(p, ev);
		end_command(p);
		return 1;
	case LR_LITERAL:
		return start_literal(p, ev);
	case LR_TOOBIG:
		return fail(p, ev, MC_IMAP_EV_TOOBIG, "command too long", s,
			    len);
	case LR_BAD:
	default:
		return fail(p, ev, MC_IMAP_EV_BAD, p->err_text, s, len);
	}
}

/* Reads one line when it is complete (or over max_line). */
static int step_line(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	const char *s = p->in.data + p->in_pos, *lf;
	size_t avail = p->in.len - p->in_pos, len;

	if (avail == 0)
		return 0;
	lf = memchr(s + p->scanned, '\n', avail - p->scanned);
	if (lf == NULL) {
		p->scanned = avail;
		if (avail < p->set.max_line)
			return 0;
		p->scanned = 0;
		return line_too_long(p, ev, s, avail, false);
	}
	p->scanned = 0;
	len = (size_t)(lf - s);
	p->in_pos += len + 1;
	if (len + 1 > p->set.max_line)
		return line_too_long(p, ev, s, len + 1, true);
	if (len > 0 && s[len - 1] == '\r')
		len--;
	return handle_line(p, ev, s, len);
}

/* Bytes available for a literal, at most want. */
static size_t literal_avail(const struct mc_imap_parser *p, uint64_t want)
{
	size_t avail = p->in.len - p->in_pos;

	return want < avail ? (size_t)want : avail;
}

/* Reads inline literal bytes; the complete literal becomes an argument. */
static int step_literal(struct mc_imap_parser *p)
{
	size_t n = literal_avail(p, p->lit_left);
	struct mc_imap_arg *a;

	memcpy(p->lit_data + (p->lit_size - p->lit_left),
	       p->in.data + p->in_pos, n);
	p->in_pos += n;
	p->lit_left -= n;
	if (p->lit_left > 0)
		return 0;
	p->cmd_bytes += (size_t)p->lit_size + IMAP_ARG_COST;
	a = imap_add_arg(p, MC_IMAP_ARG_LITERAL);
	a->str = p->lit_data;
	a->len = (size_t)p->lit_size;
	a->literal8 = p->lit8;
	p->need_sep = true;
	p->state = IS_LINE;
	return 2;
}

/* APPEND: the message starts. */
static int step_msg_begin(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	ev_init(p, ev, MC_IMAP_EV_LITERAL_BEGIN);
	ev_args(p, ev);
	p->state = p->lit_left > 0 ? IS_MSG : IS_MSG_END;
	return 1;
}

/* APPEND: the message bytes that arrived, in chunks. */
static int step_msg(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	size_t n = literal_avail(p, p->lit_left);

	if (n == 0)
		return 0;
	if (n > IMAP_CHUNK)
		n = IMAP_CHUNK;
	memcpy(p->chunk, p->in.data + p->in_pos, n);
	p->in_pos += n;
	p->lit_left -= n;
	ev_init(p, ev, MC_IMAP_EV_LITERAL_DATA);
	ev->data = p->chunk;
	ev->data_len = n;
	if (p->lit_left == 0)
		p->state = IS_MSG_END;
	return 1;
}

/* APPEND: the message ended; more groups or the line end follow. */
static int step_msg_end(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	ev_init(p, ev, MC_IMAP_EV_LITERAL_END);
	p->any_message = true;
	p->frames[0].count = 0;
	p->need_sep = true;
	p->state = IS_LINE;
	return 1;
}

/* Drops the bytes of a refused literal, then the rest of its command. */
static int step_discard(struct mc_imap_parser *p)
{
	size_t n = literal_avail(p, p->lit_left);

	p->in_pos += n;
	p->lit_left -= n;
	if (p->lit_left > 0)
		return 0;
	p->tail_len = 0;
	p->state = IS_SKIP_LINE;
	return 2;
}

/* Drops a line (after an error) up to its LF. */
static int step_skip_line(struct mc_imap_parser *p)
{
	const char *s = p->in.data + p->in_pos;
	size_t avail = p->in.len - p->in_pos;
	const char *lf = memchr(s, '\n', avail);

	if (lf == NULL) {
		tail_add(p, s, avail);
		p->in_pos += avail;
		return 0;
	}
	tail_add(p, s, (size_t)(lf - s));
	p->in_pos += (size_t)(lf - s) + 1;
	skip_line_end(p);
	return 2;
}

/* One step: 1 event, 0 stuck, 2 progressed without an event. */
static int step(struct mc_imap_parser *p, struct mc_imap_event *ev)
{
	switch (p->state) {
	case IS_LINE:
		return step_line(p, ev);
	case IS_CONT_WAIT:
		return 0;
	case IS_LITERAL:
		return step_literal(p);
	case IS_MSG_BEGIN:
		return step_msg_begin(p, ev);
	case IS_MSG:
		return step_msg(p, ev);
	case IS_MSG_END:
		return step_msg_end(p, ev);
	case IS_DISCARD:
		return step_discard(p);
	case IS_SKIP_LINE:
		return step_skip_line(p);
	}
	return 0;
}

/* The next event, or 0 when more input (or a CONTINUE answer) is due. */
int mc_imap_parser_next(struct mc_imap_parser *p, struct mc_imap_event *ev_r)
{
	int r;

	while ((r = step(p, ev_r)) == 2)
		;
	return r;
}
