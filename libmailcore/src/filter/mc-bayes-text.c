/* mc-bayes-text: the tokenizer's upper half: one pass over the message
 * with mc-mime, taking the top-level Subject (RFC 2047 decoded) and From
 * headers and the decoded text/plain and text/html parts (not
 * attachments), converted to UTF-8 and, for HTML, reduced to text, up to
 * the body text budget; the words go to mc-bayes-token.c. */
#include "mc-bayes-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-mime.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#define READ_CHUNK  (64 * 1024)
#define SUBJECT_MAX (16 * 1024)

/* The state of one pass over a message. */
struct pass {
	struct bayes_tokens *t;
	struct mc_mime_parser *parser;
	bool subject_seen, from_seen, headers_done;
	int text_part; /* the text part being collected, -1 none */
	bool html;
	char charset[64];
	size_t text_left; /* body text budget still unused */
	struct mc_buf raw, conv, text;
};

/* The Subject's words ("s:") and the From domain ("f:"), once each. */
static void header(struct pass *p, const struct mc_mime_event *ev)
{
	const char *name = ev->u.header.name;

	if (!p->subject_seen && strcasecmp(name, "Subject") == 0) {
		p->subject_seen = true;
		mc_buf_clear(&p->conv);
		p->conv.max = SUBJECT_MAX;
		mc_encword_decode(ev->u.header.value, ev->u.header.value_len,
				  &p->conv);
		p->conv.max = 0;
		bayes_words(p->t, "s:", p->conv.data, p->conv.len, false);
	} else if (!p->from_seen && strcasecmp(name, "From") == 0) {
		p->from_seen = true;
		bayes_from_domain(p->t, ev->u.header.value,
				  ev->u.header.value_len);
	}
}

/* Starts collecting a part when it is text/plain or text/html and no
 * attachment. */
static void part_begin(struct pass *p, const struct mc_mime_event *ev)
{
	const struct mc_mime_part_info *info = ev->u.headers_end.info;
	const char *cs = info->charset;

	if (ev->part == 0)
		p->headers_done = true;
	if (p->text_left == 0 || info->type == NULL || info->subtype == NULL ||
	    strcmp(info->type, "text") != 0)
		return;
	if (strcmp(info->subtype, "plain") != 0 &&
	    strcmp(info->subtype, "html") != 0)
		return;
	if (info->disposition != NULL &&
	    strcmp(info->disposition, "attachment") == 0)
		return;
	if (cs == NULL || strlen(cs) >= sizeof(p->charset))
		cs = "us-ascii";
	strcpy(p->charset, cs);
	p->html = strcmp(info->subtype, "html") == 0;
	p->text_part = (int)ev->part;
	mc_buf_clear(&p->raw);
}

/* Decoded body bytes of the text part, within the budget. */
static void part_data(struct pass *p, const struct mc_mime_event *ev)
{
	size_t room = p->text_left - p->raw.len, n = ev->u.body.size;

	if ((int)ev->part != p->text_part)
		return;
	mc_buf_append(&p->raw, ev->u.body.data, n < room ? n : room);
}

/* Converts the collected part to UTF-8 and adds its words. */
static void part_end(struct pass *p, const struct mc_mime_event *ev)
{
	if ((int)ev->part != p->text_part)
		return;
	p->text_part = -1;
	p->text_left -= p->raw.len;
	mc_buf_clear(&p->conv);
	if (p->raw.len == 0)
		return;
	/* undeclared 8-bit text is UTF-8 when it is well-formed */
	if (strcasecmp(p->charset, "us-ascii") == 0 &&
	    bayes_utf8_valid(p->raw.data, p->raw.len))
		strcpy(p->charset, "utf-8");
	if (!mc_charset_to_utf8(p->charset, p->raw.data, p->raw.len, &p->conv))
		mc_charset_to_utf8("utf-8", p->raw.data, p->raw.len, &p->conv);
	mc_buf_clear(&p->raw);
	if (!p->html) {
		bayes_words(p->t, "", p->conv.data, p->conv.len, true);
		return;
	}
	mc_buf_clear(&p->text);
	bayes_html_text(p->t, p->conv.data, p->conv.len, &p->text);
	bayes_words(p->t, "", p->text.data, p->text.len, true);
}

/* Handles every event the parser has ready. */
static void drain(struct pass *p)
{
	struct mc_mime_event ev;

	while (mc_mime_parser_next(p->parser, &ev) == 1) {
		if (ev.type == MC_MIME_EV_HEADER && ev.part == 0)
			header(p, &ev);
		else if (ev.type == MC_MIME_EV_HEADERS_END)
			part_begin(p, &ev);
		else if (ev.type == MC_MIME_EV_BODY)
			part_data(p, &ev);
		else if (ev.type == MC_MIME_EV_PART_END)
			part_end(p, &ev);
	}
}

/* True when reading on cannot add tokens. */
static bool done(const struct pass *p)
{
	if (p->t->full)
		return true;
	if (p->text_part >= 0)
		return p->raw.len == p->text_left; /* budget filled */
	return p->headers_done && p->text_left == 0;
}

/* Feeds the message to the parser until its end, max_read or done(). */
static int feed(const struct mc_bayes *bayes, struct pass *p,
		mc_bayes_read_fn *read, void *read_ctx, struct mc_error *err)
{
	char *buf = mc_malloc(READ_CHUNK);
	uint64_t off = 0, max = bayes->set.max_read;
	ssize_t n = 0;

	while (!done(p) && off < max) {
		size_t want = max - off < READ_CHUNK ? (size_t)(max - off)
						     : READ_CHUNK;

		if ((n = read(read_ctx, buf, want, off)) <= 0)
			break;
		mc_mime_parser_feed(p->parser, buf, (size_t)n);
		drain(p);
		off += (uint64_t)n;
	}
	free(buf);
	if (n < 0) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "bayes: reading the message failed");
		return -1;
	}
	return 0;
}

/* Reads the message and fills t. 0, or -1 with err. */
int bayes_read_message(const struct mc_bayes *bayes, struct bayes_tokens *t,
		       mc_bayes_read_fn *read, void *read_ctx,
		       struct mc_error *err)
{
	struct pass p = {.t = t, .text_part = -1};
	int ret;

	p.text_left = bayes->set.max_text;
	p.parser = mc_mime_parser_create(NULL);
	mc_buf_init(&p.raw, NULL, 0);
	mc_buf_init(&p.conv, NULL, 0);
	mc_buf_init(&p.text, NULL, 0);
	ret = feed(bayes, &p, read, read_ctx, err);
	if (ret == 0) {
		mc_mime_parser_finish(p.parser);
		drain(&p);
	}
	mc_mime_parser_destroy(&p.parser);
	mc_buf_free(&p.raw);
	mc_buf_free(&p.conv);
	mc_buf_free(&p.text);
	return ret;
}
