/* mc-content-rules-facts: one streaming pass over a message (mc-mime)
 * collecting what content rules test: the top-level header fields
 * (decoded), the subject, the decoded body text (through mc-message's
 * text collector: charsets, HTML reduced to text), the attachments with
 * their names, declared types and decoded sizes, and the total size. */
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include "../mime/mc-message-private.h"
#include "mc-content-rules-private.h"

#define READ_CHUNK	   (64 * 1024)
#define DEFAULT_MAX_BODY   (64 * 1024)
#define DEFAULT_MAX_ATTACH 1000

enum leaf { LEAF_NONE, LEAF_TEXT, LEAF_ATTACHMENT };

struct extract {
	struct mc_pool *pool;
	struct mc_content_facts *f;
	size_t max_attachments;
	struct mc_content_header *headers; /* heap while collecting */
	size_t headers_count, headers_alloc;
	struct mc_content_attachment *atts; /* heap while collecting */
	size_t atts_count, atts_alloc;
	struct msg_text text;
	enum leaf leaf;
	unsigned leaf_part;
	bool have_subject;
};

/* len bytes of header text decoded (RFC 2047) into a pool string. */
static const char *decode(struct mc_pool *pool, const char *s, size_t len)
{
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_encword_decode(s, len, &b);
	return mc_pstrndup(pool, b.data != NULL ? b.data : "", b.len);
}

/* Grows a heap array of n items of size to hold one more. */
static void *grow(void *arr, size_t n, size_t *alloc, size_t size)
{
	if (n < *alloc)
		return arr;
	*alloc = *alloc == 0 ? 16 : *alloc * 2;
	size_t bytes;
	if (!mc_size_mul(*alloc, size, &bytes))
		abort();
	return mc_realloc(arr, bytes);
}

/* A top-level header field: kept decoded; the first Subject is the
 * subject. */
static void on_header(struct extract *x, const struct mc_mime_event *ev)
{
	x->headers = grow(x->headers, x->headers_count, &x->headers_alloc,
			  sizeof(*x->headers));
	struct mc_content_header *h = &x->headers[x->headers_count++];
	h->name = mc_pstrdup(x->pool, ev->u.header.name);
	h->value = decode(x->pool, ev->u.header.value, ev->u.header.value_len);
	if (!x->have_subject && mc_str_eq_icase(h->name, "subject")) {
		x->f->subject = h->value;
		x->have_subject = true;
	}
}

/* The file name of a part (filename, else name), or NULL. */
static const char *part_file_name(const struct mc_mime_part_info *in)
{
	return in->filename != NULL && in->filename[0] != '\0' ? in->filename
							       : in->name;
}

/* Whether a part is a container whose children carry the content. */
static bool is_container(const struct mc_mime_part_info *in)
{
	if (strcmp(in->type, "multipart") == 0)
		return true;
	return strcmp(in->type, "message") == 0 &&
	       (strcmp(in->subtype, "rfc822") == 0 ||
		strcmp(in->subtype, "global") == 0) &&
	       in->encoding <= MC_MIME_ENC_BINARY;
}

/* Whether a leaf part is body text rather than an attachment. */
static bool is_body_text(const struct mc_mime_part_info *in)
{
	const char *name = part_file_name(in);
	return strcmp(in->type, "text") == 0 &&
	       (strcmp(in->subtype, "plain") == 0 ||
		strcmp(in->subtype, "html") == 0) &&
	       (name == NULL || name[0] == '\0') &&
	       (in->disposition == NULL ||
		strcmp(in->disposition, "attachment") != 0);
}

/* Records a new attachment for a leaf part (unless over the limit). */
static void add_attachment(struct extract *x,
			   const struct mc_mime_part_info *in)
{
	if (x->atts_count >= x->max_attachments) {
		x->f->attachments_truncated = true;
		return;
	}
	x->atts =
		grow(x->atts, x->atts_count, &x->atts_alloc, sizeof(*x->atts));
	struct mc_content_attachment *a = &x->atts[x->atts_count++];
	const char *name = part_file_name(in);
	a->name = name != NULL ? decode(x->pool, name, strlen(name)) : "";
	a->type = mc_psprintf(x->pool, "%s/%s", in->type, in->subtype);
	a->size = 0;
	x->leaf = LEAF_ATTACHMENT;
}

/* The Content-* headers of a part: a text body or an attachment begins. */
static void on_headers_end(struct extract *x, const struct mc_mime_event *ev)
{
	const struct mc_mime_part_info *in = ev->u.headers_end.info;

	x->leaf = LEAF_NONE;
	x->leaf_part = ev->part;
	if (in->type == NULL || in->subtype == NULL || is_container(in))
		return;
	if (is_body_text(in)) {
		msg_text_part_begin(&x->text, in->charset,
				    strcmp(in->subtype, "html") == 0);
		x->leaf = LEAF_TEXT;
		return;
	}
	add_attachment(x, in);
}

/* Decoded bytes of the current leaf. */
static void on_body(struct extract *x, const struct mc_mime_event *ev)
{
	if (ev->part != x->leaf_part)
		return;
	if (x->leaf == LEAF_TEXT)
		msg_text_part_data(&x->text, ev->u.body.data, ev->u.body.size);
	else if (x->leaf == LEAF_ATTACHMENT)
		x->atts[x->atts_count - 1].size += ev->u.body.size;
}

/* One parser event. */
static void on_event(struct extract *x, const struct mc_mime_event *ev)
{
	switch (ev->type) {
	case MC_MIME_EV_HEADER:
		if (ev->part == 0)
			on_header(x, ev);
		break;
	case MC_MIME_EV_HEADERS_END:
		on_headers_end(x, ev);
		break;
	case MC_MIME_EV_BODY:
		on_body(x, ev);
		break;
	case MC_MIME_EV_PART_END:
		if (ev->part == x->leaf_part && x->leaf == LEAF_TEXT)
			msg_text_part_end(&x->text);
		if (ev->part == x->leaf_part)
			x->leaf = LEAF_NONE;
		break;
	default:
		break;
	}
}

/* Pulls every event the parser has. */
static void drain(struct extract *x, struct mc_mime_parser *p)
{
	struct mc_mime_event ev;
	while (mc_mime_parser_next(p, &ev) == 1)
		on_event(x, &ev);
}

/* Feeds the whole message from read into the parser. 0 or -1. */
static int feed_all(struct extract *x, struct mc_mime_parser *p,
		    mc_content_read_fn *read, void *ctx, struct mc_error *err)
{
	char *buf = mc_malloc(READ_CHUNK);
	uint64_t off = 0;
	ssize_t n;

	while ((n = read(ctx, buf, READ_CHUNK, off)) > 0) {
		off += (uint64_t)n;
		mc_mime_parser_feed(p, buf, (size_t)n);
		drain(x, p);
	}
	free(buf);
	if (n < 0) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "content rules: reading the message failed at "
			     "offset %llu",
			     (unsigned long long)off);
		return -1;
	}
	mc_mime_parser_finish(p);
	drain(x, p);
	x->f->size = off;
	return 0;
}

/* Copies the envelope into the facts. */
static void set_envelope(struct extract *x, const char *sender,
			 const char *const *rcpts, size_t n)
{
	const char **r = mc_palloc_array(x->pool, n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = mc_pstrdup(x->pool, rcpts[i] != NULL ? rcpts[i] : "");
	x->f->sender = mc_pstrdup(x->pool, sender != NULL ? sender : "");
	x->f->recipients = r;
	x->f->recipients_count = n;
	x->f->subject = "";
}

/* Moves what was collected into the facts (pool). */
static void finish(struct extract *x)
{
	struct mc_content_facts *f = x->f;
	f->headers =
		x->headers_count == 0
			? NULL
			: mc_pmemdup(x->pool, x->headers,
				     x->headers_count * sizeof(*x->headers));
	f->headers_count = x->headers_count;
	f->attachments = x->atts_count == 0
				 ? NULL
				 : mc_pmemdup(x->pool, x->atts,
					      x->atts_count * sizeof(*x->atts));
	f->attachments_count = x->atts_count;
	f->body = mc_pstrndup(x->pool, mc_buf_cstr(&x->text.out),
			      x->text.out.len);
	f->body_len = x->text.out.len;
	f->body_truncated = x->text.full;
}

int mc_content_facts_extract(struct mc_pool *pool, mc_content_read_fn *read,
			     void *read_ctx, const char *sender,
			     const char *const *recipients,
			     size_t recipients_count,
			     const struct mc_content_limits *limits,
			     const struct mc_content_facts **facts_r,
			     struct mc_error *err)
{
	struct mc_content_limits lim = {0};
	struct extract x = {.pool = pool};

	if (limits != NULL)
		lim = *limits;
	x.max_attachments = lim.max_attachments != 0 ? lim.max_attachments
						     : DEFAULT_MAX_ATTACH;
	x.f = mc_palloc(pool, sizeof(*x.f));
	set_envelope(&x, sender, recipients, recipients_count);
	msg_text_init(&x.text,
		      lim.max_body != 0 ? lim.max_body : DEFAULT_MAX_BODY);
	struct mc_mime_parser *p = mc_mime_parser_create(&lim.mime);
	int ret = feed_all(&x, p, read, read_ctx, err);
	if (ret == 0) {
		finish(&x);
		*facts_r = x.f;
	}
	mc_mime_parser_destroy(&p);
	msg_text_free(&x.text);
	free(x.headers);
	free(x.atts);
	return ret;
}
