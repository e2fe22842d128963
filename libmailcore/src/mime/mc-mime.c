/* mc-mime: the incremental parser core: line scanner over pushed input (one
 * line buffered at most), the stack of open parts, multipart boundaries
 * (RFC 2046 5.1.1), leaf bodies, the event queue. Headers, parameters and
 * transfer decoding live in mc-mime-header.c, -param.c and -decode.c. */
#include "mc-mime-private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEF_HEADER_BYTES (64 * 1024)
#define DEF_HEADERS	 1000
#define DEF_DEPTH	 20
#define DEF_PARTS	 1000
#define DEF_LINE	 (16 * 1024)
#define MIN_LINE	 256

/* The innermost open part (the stack is never empty while parsing). */
struct mime_part *mime_top(struct mc_mime_parser *p)
{
	return &p->stack[p->depth_count - 1];
}

/* Appends an event for the top part; the caller fills the union. */
struct mc_mime_event *mime_event_push(struct mc_mime_parser *p,
				      enum mc_mime_event_type type)
{
	struct mc_mime_event *ev;

	if (p->q_len == p->q_cap) {
		p->q_cap = p->q_cap == 0 ? 16 : p->q_cap * 2;
		p->queue = mc_realloc(p->queue, p->q_cap * sizeof(*p->queue));
	}
	ev = &p->queue[p->q_len++];
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->parent = -1;
	if (p->depth_count > 0) {
		ev->part = mime_top(p)->index;
		ev->depth = mime_top(p)->depth;
		ev->parent = mime_top(p)->parent;
	}
	return ev;
}

/* Queues a WARNING event for the top part. */
void mime_warn(struct mc_mime_parser *p, const char *fmt, ...)
{
	struct mc_mime_event *ev = mime_event_push(p, MC_MIME_EV_WARNING);
	va_list ap;

	va_start(ap, fmt);
	ev->u.warning.text = mc_pvsprintf(p->ev_pool, fmt, ap);
	va_end(ap);
	ev->u.warning.offset = p->off;
}

/* Pushes a new part (child of the top, or the message) in header state. */
void mime_begin_part(struct mc_mime_parser *p, uint64_t header_off)
{
	struct mime_part *parent = p->depth_count > 0 ? mime_top(p) : NULL;
	struct mime_part *part = &p->stack[p->depth_count++];
	struct mc_mime_event *ev;

	memset(part, 0, sizeof(*part));
	part->index = p->parts_count++;
	part->depth = parent != NULL ? parent->depth + 1 : 0;
	part->parent = parent != NULL ? (int)parent->index : -1;
	part->header_off = header_off;
	part->body_off = header_off;
	part->body_lf = p->lf;
	part->body_bare = p->bare_lf;
	ev = mime_event_push(p, MC_MIME_EV_PART_BEGIN);
	ev->u.begin.offset = header_off;
	p->state = ST_HEADERS;
	p->hdr_fresh = true;
}

/* Does the line read "--boundary[--]" plus transport padding? */
static bool boundary_match(const struct mime_part *part,
			   const struct mime_line *l, bool *closing_r)
{
	size_t i = part->boundary_len + 2;

	if (l->len < i ||
	    memcmp(l->data + 2, part->boundary, part->boundary_len) != 0)
		return false;
	*closing_r =
		l->len >= i + 2 && l->data[i] == '-' && l->data[i + 1] == '-';
	if (*closing_r)
		i += 2;
	for (; i < l->len; i++) {
		if (l->data[i] != ' ' && l->data[i] != '\t')
			return false;
	}
	return true;
}

/* Index of the innermost open multipart below stack entry limit whose
 * boundary the line is, or -1. */
int mime_find_boundary(struct mc_mime_parser *p, const struct mime_line *l,
		       unsigned limit, bool *closing_r)
{
	if (!l->at_start || l->len < 2 || l->data[0] != '-' ||
	    l->data[1] != '-')
		return -1;
	for (unsigned i = limit; i-- > 0;) {
		const struct mime_part *part = &p->stack[i];

		if (part->kind == KIND_MULTIPART && !part->closed &&
		    boundary_match(part, l, closing_r))
			return (int)i;
	}
	return -1;
}

/* Queues the decoded bytes gathered in p->dec as one BODY event. */
static void emit_body(struct mc_mime_parser *p)
{
	struct mc_mime_event *ev;

	if (p->dec.len == 0)
		return;
	ev = mime_event_push(p, MC_MIME_EV_BODY);
	ev->u.body.data = mc_pmemdup(p->ev_pool, p->dec.data, p->dec.len);
	ev->u.body.size = p->dec.len;
	mc_buf_clear(&p->dec);
}

/* Sets the PART_END sizes of the top part. At a boundary the body ends
 * before the line break preceding the boundary line (it belongs to it). */
static void part_sizes(struct mc_mime_parser *p, const struct mime_part *t,
		       bool at_boundary, struct mc_mime_event *ev)
{
	uint64_t e = at_boundary ? p->prev_eol_len : 0;
	uint64_t size, lfs, bare;
	bool ends_lf;

	if (e > p->off - t->body_off)
		e = p->off - t->body_off;
	size = p->off - e - t->body_off;
	lfs = p->lf - t->body_lf - (e > 0 ? 1 : 0);
	bare = p->bare_lf - t->body_bare - (e == 1 ? 1 : 0);
	if (at_boundary)
		ends_lf = size > 0 && p->last_line_len == 0;
	else
		ends_lf = size > 0 && p->prev_eol_len > 0;
	ev->u.end.header_size = t->body_off - t->header_off;
	ev->u.end.body_offset = t->body_off;
	ev->u.end.body_size = size;
	ev->u.end.body_vsize = size + bare;
	ev->u.end.body_lines = lfs + (size > 0 && !ends_lf ? 1 : 0);
}

/* Closes the top part: flushes its decoder, queues PART_END, pops it. */
static void end_part(struct mc_mime_parser *p, bool at_boundary)
{
	struct mime_part *top = mime_top(p);

	if (top->kind == KIND_LEAF && p->state == ST_BODY) {
		mc_buf_clear(&p->dec);
		if (!at_boundary && p->pending_eol > 0)
			mime_decode_eol(p, p->pending_eol);
		p->pending_eol = 0;
		mime_decode_finish(p);
		emit_body(p);
	}
	if (top->kind == KIND_MULTIPART && !top->closed)
		mime_warn(p, "multipart without closing boundary");
	part_sizes(p, top, at_boundary,
		   mime_event_push(p, MC_MIME_EV_PART_END));
	free(top->boundary);
	top->boundary = NULL;
	p->depth_count--;
	p->state = ST_EPILOGUE;
}

/* A boundary line of the multipart at stack index idx: closes the parts
 * inside it, then starts its next child or its epilogue. */
void mime_handle_boundary(struct mc_mime_parser *p, const struct mime_line *l,
			  unsigned idx, bool closing)
{
	struct mime_part *mp;

	while (p->depth_count - 1 > idx)
		end_part(p, true);
	mp = mime_top(p);
	p->state = ST_EPILOGUE;
	if (closing) {
		mp->closed = true;
	} else if (mp->skipping) {
		return;
	} else if (p->parts_count >= p->set.max_parts) {
		mime_warn(p, "more than %u parts: rest of multipart skipped",
			  p->set.max_parts);
		mp->skipping = true;
	} else {
		mime_begin_part(p, p->off + l->len + l->eol_len);
	}
}

/* A line of a leaf body: its line break is held back until the next line
 * shows it is not the one before a boundary. */
static void body_line(struct mc_mime_parser *p, const struct mime_line *l)
{
	mc_buf_clear(&p->dec);
	if (p->pending_eol > 0)
		mime_decode_eol(p, p->pending_eol);
	mime_decode_bytes(p, l->data, l->len);
	p->pending_eol = l->eol_len;
	emit_body(p);
}

/* Dispatches one line unit by state. */
void mime_process_line(struct mc_mime_parser *p, const struct mime_line *l)
{
	bool closing;
	int idx;

	switch (p->state) {
	case ST_HEADERS:
		mime_header_line(p, l);
		return;
	case ST_BODY:
	case ST_PREAMBLE:
	case ST_EPILOGUE:
		idx = mime_find_boundary(p, l, p->depth_count, &closing);
		if (idx >= 0)
			mime_handle_boundary(p, l, (unsigned)idx, closing);
		else if (p->state == ST_BODY)
			body_line(p, l);
		return;
	case ST_DONE:
		return;
	}
}

/* Fills l with n bytes at data, splitting off the line break. */
static void set_unit(struct mc_mime_parser *p, struct mime_line *l,
		     const char *data, size_t n, bool has_lf)
{
	l->data = data;
	l->eol_len = 0;
	if (has_lf)
		l->eol_len = n >= 2 && data[n - 2] == '\r' ? 2 : 1;
	l->len = n - l->eol_len;
	l->at_start = p->at_line_start;
}

/* Continues the buffered partial line with new input. */
static bool unit_from_carry(struct mc_mime_parser *p, struct mime_line *l)
{
	const char *src = p->in + p->in_pos;
	size_t avail = p->in_len - p->in_pos;
	size_t room = p->set.max_line_length - p->carry.len;
	const char *lf = memchr(src, '\n', avail < room ? avail : room);
	size_t n = lf != NULL ? (size_t)(lf - src) + 1
			      : (avail < room ? avail : room);

	mc_buf_append(&p->carry, src, n);
	p->in_pos += n;
	if (lf == NULL && p->carry.len < p->set.max_line_length && !p->finished)
		return false;
	set_unit(p, l, p->carry.data, p->carry.len, lf != NULL);
	p->carry_ready = true;
	return true;
}

/* The next line unit of the input; false when more input is needed (the
 * partial line is then kept in carry) or at the end. */
static bool next_unit(struct mc_mime_parser *p, struct mime_line *l)
{
	size_t max = p->set.max_line_length;
	const char *src = p->in + p->in_pos;
	size_t avail = p->in_len - p->in_pos;
	const char *lf;

	if (p->carry_ready) {
		mc_buf_clear(&p->carry);
		p->carry_ready = false;
	}
	if (p->carry.len > 0)
		return (avail > 0 || p->finished) && unit_from_carry(p, l);
	if (avail == 0)
		return false;
	lf = memchr(src, '\n', avail < max ? avail : max);
	if (lf != NULL)
		avail = (size_t)(lf - src) + 1;
	else if (avail >= max)
		avail = max;
	else
		return unit_from_carry(p, l);
	set_unit(p, l, src, avail, lf != NULL);
	p->in_pos += avail;
	return true;
}

/* Advances the position counters past a processed unit. */
static void count_unit(struct mc_mime_parser *p, const struct mime_line *l)
{
	p->off += l->len + l->eol_len;
	if (l->eol_len > 0) {
		p->lf++;
		if (l->eol_len == 1)
			p->bare_lf++;
		p->last_line_len = p->cur_line_len + l->len;
		p->cur_line_len = 0;
	} else {
		p->cur_line_len += l->len;
	}
	p->prev_eol_len = l->eol_len;
	p->at_line_start = l->eol_len > 0;
}

/* End of input: completes the header block and closes every part. */
static void finish_all(struct mc_mime_parser *p)
{
	while (p->depth_count > 0) {
		if (p->state == ST_HEADERS)
			mime_headers_end(p, NULL, false);
		else
			end_part(p, false);
	}
	p->state = ST_DONE;
}

/* Processes input until some event is queued or input runs out. */
static void fill_queue(struct mc_mime_parser *p)
{
	struct mime_line l;

	while (p->q_len == 0 && p->state != ST_DONE) {
		if (next_unit(p, &l)) {
			mime_process_line(p, &l);
			count_unit(p, &l);
		} else if (p->finished) {
			finish_all(p);
		} else {
			break;
		}
	}
}

/* Applies defaults to the settings. */
static void settings_init(struct mc_mime_settings *s,
			  const struct mc_mime_settings *in)
{
	if (in != NULL)
		*s = *in;
	else
		memset(s, 0, sizeof(*s));
	if (s->max_header_bytes == 0)
		s->max_header_bytes = DEF_HEADER_BYTES;
	if (s->max_headers == 0)
		s->max_headers = DEF_HEADERS;
	if (s->max_depth == 0)
		s->max_depth = DEF_DEPTH;
	if (s->max_parts == 0)
		s->max_parts = DEF_PARTS;
	if (s->max_line_length == 0)
		s->max_line_length = DEF_LINE;
	if (s->max_line_length < MIN_LINE)
		s->max_line_length = MIN_LINE;
}

/* A parser positioned before the message's header block. */
struct mc_mime_parser *mc_mime_parser_create(const struct mc_mime_settings *s)
{
	struct mc_mime_parser *p = mc_calloc(1, sizeof(*p));

	settings_init(&p->set, s);
	p->stack = mc_calloc(p->set.max_depth + 1, sizeof(*p->stack));
	p->hdr_pool = mc_pool_create("mime-headers", 0);
	p->ev_pool = mc_pool_create("mime-events",
				    p->set.max_line_length * 2 + 4096);
	mc_buf_init(&p->inbuf, NULL, 0);
	mc_buf_init(&p->carry, NULL, 0);
	mc_buf_init(&p->field, NULL, 0);
	mc_buf_init(&p->qp_ws, NULL, 0);
	mc_buf_init(&p->dec, NULL, 0);
	p->at_line_start = true;
	p->in = "";
	mime_begin_part(p, 0);
	return p;
}

/* Frees the parser and everything it still holds. */
void mc_mime_parser_destroy(struct mc_mime_parser **parser)
{
	struct mc_mime_parser *p = *parser;

	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->depth_count; i++)
		free(p->stack[i].boundary);
	free(p->stack);
	free(p->queue);
	mc_pool_destroy(&p->hdr_pool);
	mc_pool_destroy(&p->ev_pool);
	mc_buf_free(&p->inbuf);
	mc_buf_free(&p->carry);
	mc_buf_free(&p->field);
	mc_buf_free(&p->qp_ws);
	mc_buf_free(&p->dec);
	free(p);
	*parser = NULL;
}

/* Makes data the input; an unconsumed rest of earlier input is copied. */
void mc_mime_parser_feed(struct mc_mime_parser *p, const void *data, size_t len)
{
	if (p->finished || len == 0)
		return;
	if (p->in_pos < p->in_len) {
		if (p->in == p->inbuf.data) {
			mc_buf_consume(&p->inbuf, p->in_pos);
		} else {
			mc_buf_clear(&p->inbuf);
			mc_buf_append(&p->inbuf, p->in + p->in_pos,
				      p->in_len - p->in_pos);
		}
		mc_buf_append(&p->inbuf, data, len);
		p->in = p->inbuf.data;
		p->in_len = p->inbuf.len;
	} else {
		p->in = data;
		p->in_len = len;
	}
	p->in_pos = 0;
}

/* No more input will come. */
void mc_mime_parser_finish(struct mc_mime_parser *p)
{
	p->finished = true;
}

/* Returns the next event (1), 0 for more input, -1 when all is done. */
int mc_mime_parser_next(struct mc_mime_parser *p, struct mc_mime_event *ev_r)
{
	if (p->q_pos == p->q_len) {
		p->q_pos = 0;
		p->q_len = 0;
		mc_pool_clear(p->ev_pool);
		fill_queue(p);
	}
	if (p->q_pos < p->q_len) {
		*ev_r = p->queue[p->q_pos++];
		return 1;
	}
	return p->state == ST_DONE ? -1 : 0;
}

/* The canonical name of a transfer encoding. */
const char *mc_mime_encoding_name(enum mc_mime_encoding enc)
{
	static const char *const names[] = {
		"7bit",	    "8bit", "binary", "base64", "quoted-printable",
		"x-unknown"};

	return (unsigned)enc < sizeof(names) / sizeof(names[0]) ? names[enc]
								: "x-unknown";
}
