/* mc-spamrules-scan: one scan of a message. Reads it through the
 * caller's function into mc-mime, keeps the message's header fields, the
 * capped body texts and the leading bytes of each attachment, then runs
 * the rules under PCRE2 match limits and the built-in checks, and sums
 * the hits. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-address.h"
#include "mailcore/mc-encword.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-spamrules-private.h"

#define READ_CHUNK    65536
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (1024 * 1024)
#define HEAP_LIMIT_KB (16 * 1024)

/* ---- results ---- */

/* Adds a hit (name and description copied into the scan's pool). */
void scan_hit(struct scan *s, const char *name, double score,
	      const char *description)
{
	if (s->hit_count == s->hit_cap) {
		size_t cap = s->hit_cap == 0 ? 16 : s->hit_cap * 2;
		struct mc_spamrules_hit *h =
			mc_palloc_array(s->pool, cap, sizeof(*h));
		if (s->hit_count > 0)
			memcpy(h, s->hits, s->hit_count * sizeof(*h));
		s->hits = h;
		s->hit_cap = cap;
	}
	s->hits[s->hit_count++] = (struct mc_spamrules_hit){
		mc_pstrdup(s->pool, name), score,
		mc_pstrdup(s->pool, description ? description : "")};
	s->score += score;
}

/* Adds an attachment to the result. */
static void add_attachment(struct scan *s,
			   const struct mc_spamrules_attachment *att)
{
	if (s->att_count == s->att_cap) {
		size_t cap = s->att_cap == 0 ? 8 : s->att_cap * 2;
		struct mc_spamrules_attachment *a =
			mc_palloc_array(s->pool, cap, sizeof(*a));
		if (s->att_count > 0)
			memcpy(a, s->atts, s->att_count * sizeof(*a));
		s->atts = a;
		s->att_cap = cap;
	}
	s->atts[s->att_count++] = *att;
}

/* ---- header fields ---- */

/* Keeps one header field of the message. */
static void add_field(struct scan *s, const char *name, const char *value,
		      size_t len)
{
	if (s->field_count == s->field_cap) {
		s->field_cap = s->field_cap == 0 ? 32 : s->field_cap * 2;
		s->fields = mc_realloc(s->fields,
				       s->field_cap * sizeof(*s->fields));
	}
	struct field *f = &s->fields[s->field_count++];
	struct mc_buf dec;
	mc_buf_init(&dec, s->pool, 0);
	mc_encword_decode(value, len, &dec);
	f->name = mc_pstrdup(s->pool, name);
	f->raw = mc_pstrndup(s->pool, value, len);
	f->decoded = mc_buf_cstr(&dec);
}

/* The first field named name (case-insensitive), or NULL. */
const struct field *scan_field(const struct scan *s, const char *name)
{
	for (size_t i = 0; i < s->field_count; i++)
		if (strcasecmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}

/* ---- parts ---- */

/* The file name of a part, decoded, from the pool; NULL if none. */
static const char *part_name(struct scan *s,
			     const struct mc_mime_part_info *info)
{
	const char *n = info->filename != NULL ? info->filename : info->name;
	if (n == NULL || *n == '\0')
		return NULL;
	struct mc_buf dec;
	mc_buf_init(&dec, s->pool, 0);
	mc_encword_decode(n, strlen(n), &dec);
	return mc_buf_cstr(&dec);
}

/* True when the part is a container whose children mc-mime parses. */
static bool is_container(const struct mc_mime_part_info *info)
{
	if (strcmp(info->type, "multipart") == 0)
		return true;
	return strcmp(info->type, "message") == 0 &&
	       (strcmp(info->subtype, "rfc822") == 0 ||
		strcmp(info->subtype, "global") == 0) &&
	       info->encoding <= MC_MIME_ENC_BINARY;
}

/* Starts collecting a part at its HEADERS_END. */
static void part_begin(struct scan *s, unsigned part,
		       const struct mc_mime_part_info *info)
{
	struct leaf *l = &s->leaf;
	struct mc_spamrules_attachment att = {
		.name = part_name(s, info),
		.declared_type = mc_psprintf(s->pool, "%s/%s", info->type,
					     info->subtype)};
	if (is_container(info)) {
		if (att.name != NULL) { /* a named container: its name only */
			checks_attachment(s, &att, NULL);
			add_attachment(s, &att);
		}
		return;
	}
	bool disp_att = info->disposition != NULL &&
			strcmp(info->disposition, "attachment") == 0;
	l->active = true;
	l->part = part;
	l->is_html = strcmp(info->subtype, "html") == 0;
	l->is_text = strcmp(info->type, "text") == 0 && !disp_att &&
		     att.name == NULL &&
		     (l->is_html || strcmp(info->subtype, "plain") == 0);
	l->charset = info->charset ? mc_pstrdup(s->pool, info->charset) : NULL;
	l->att = att;
	mc_buf_clear(&l->raw);
	mc_buf_clear(&l->sniff);
}

/* Appends at most the room left in buf; false when bytes were dropped. */
static bool append_capped(struct mc_buf *buf, const void *data, size_t len)
{
	size_t room = buf->max - buf->len;
	mc_buf_append(buf, data, len < room ? len : room);
	return len <= room;
}

/* Takes decoded body bytes of the current part. */
static void part_body(struct scan *s, const unsigned char *data, size_t len)
{
	struct leaf *l = &s->leaf;
	if (l->is_text) {
		if (!append_capped(&l->raw, data, len))
			s->body_truncated = true;
		return;
	}
	l->att.size += len;
	if (l->sniff.len < l->sniff.max)
		append_capped(&l->sniff, data, len);
}

/* True when len bytes of s are valid UTF-8 (overlongs not checked). */
static bool valid_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = s[i] < 0x80	  ? 1
			   : s[i] >= 0xF0 ? 4
			   : s[i] >= 0xE0 ? 3
			   : s[i] >= 0xC2 ? 2
					  : 0;
		if (n == 0 || s[i] > 0xF4 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

/* Converts the part's text to UTF-8 into s->tmp. Text declared ASCII or
 * undeclared that is valid UTF-8 is kept as it is. */
static void part_utf8(struct scan *s)
{
	struct leaf *l = &s->leaf;
	const char *cs = l->charset;
	mc_buf_clear(&s->tmp);
	if ((cs == NULL || strcasecmp(cs, "us-ascii") == 0 ||
	     strcasecmp(cs, "utf-8") == 0) &&
	    valid_utf8((const unsigned char *)l->raw.data, l->raw.len)) {
		mc_buf_append(&s->tmp, l->raw.data, l->raw.len);
		return;
	}
	if (!mc_charset_to_utf8(cs ? cs : "us-ascii", l->raw.data, l->raw.len,
				&s->tmp))
		mc_charset_to_utf8("windows-1252", l->raw.data, l->raw.len,
				   &s->tmp);
}

/* Turns the CRLF line ends of buf into LF, in place. */
static void crlf_to_lf(struct mc_buf *buf)
{
	size_t o = 0;
	for (size_t i = 0; i < buf->len; i++)
		if (buf->data[i] != '\r' || i + 1 >= buf->len ||
		    buf->data[i + 1] != '\n')
			buf->data[o++] = buf->data[i];
	buf->len = o;
	if (buf->data != NULL)
		buf->data[o] = '\0';
}

/* Ends the current part: its text goes to the body texts, or it is
 * checked as an attachment. */
static void part_end(struct scan *s)
{
	struct leaf *l = &s->leaf;
	l->active = false;
	if (!l->is_text) {
		checks_attachment(s, &l->att, &l->sniff);
		add_attachment(s, &l->att);
		return;
	}
	part_utf8(s);
	crlf_to_lf(&s->tmp);
	bool whole = text_append(&s->rawbody, s->tmp.data, s->tmp.len) &&
		     text_append(&s->rawbody, "\n", 1);
	if (l->is_html)
		whole = text_html(&s->body, s->tmp.data, s->tmp.len) && whole;
	else
		whole = text_append(&s->body, s->tmp.data, s->tmp.len) && whole;
	if (!text_append(&s->body, "\n", 1) || !whole)
		s->body_truncated = true;
}

/* The body text starts with the Subject line. */
static void body_subject(struct scan *s)
{
	const struct field *f = scan_field(s, "Subject");
	if (f != NULL)
		text_append(&s->body, f->decoded, strlen(f->decoded));
	text_append(&s->body, "\n", 1);
}

/* Handles one mc-mime event. */
static void scan_event(struct scan *s, const struct mc_mime_event *ev)
{
	bool in_limit = ev->part < s->sr->max_parts;
	switch (ev->type) {
	case MC_MIME_EV_PART_BEGIN:
		if (!in_limit)
			s->parts_truncated = true;
		break;
	case MC_MIME_EV_HEADER:
		if (ev->part == 0)
			add_field(s, ev->u.header.name, ev->u.header.value,
				  ev->u.header.value_len);
		break;
	case MC_MIME_EV_HEADERS_END:
		if (ev->part == 0)
			body_subject(s);
		if (in_limit)
			part_begin(s, ev->part, ev->u.headers_end.info);
		break;
	case MC_MIME_EV_BODY:
		if (s->leaf.active && s->leaf.part == ev->part)
			part_body(s, ev->u.body.data, ev->u.body.size);
		break;
	case MC_MIME_EV_PART_END:
		if (s->leaf.active && s->leaf.part == ev->part)
			part_end(s);
		break;
	default:
		break;
	}
}

/* Drains every event the parser has. */
static void scan_drain(struct scan *s, struct mc_mime_parser *p)
{
	struct mc_mime_event ev;
	while (mc_mime_parser_next(p, &ev) == 1)
		scan_event(s, &ev);
}

/* Reads the whole message into the parser; -1 on a read error. */
static int scan_read(struct scan *s, mc_spamrules_read_fn *read, void *ctx,
		     uint64_t *size_r, struct mc_error *err)
{
	struct mc_mime_settings ms = {.max_parts = s->sr->max_parts + 1};
	struct mc_mime_parser *p = mc_mime_parser_create(&ms);
	char *buf = mc_malloc(READ_CHUNK);
	ssize_t n;
	*size_r = 0;
	while ((n = read(ctx, buf, READ_CHUNK, *size_r)) > 0) {
		*size_r += (uint64_t)n;
		mc_mime_parser_feed(p, buf, (size_t)n);
		scan_drain(s, p);
	}
	if (n == 0) {
		mc_mime_parser_finish(p);
		scan_drain(s, p);
	} else {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "spam rules: reading the message failed");
	}
	free(buf);
	mc_mime_parser_destroy(&p);
	return n == 0 ? 0 : -1;
}

/* ---- matching ---- */

/* 1 match, 0 none (a limit reached counts as none). */
int scan_match(struct scan *s, const pcre2_code *code, const char *subject,
	       size_t len)
{
	int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, s->md,
			     s->mctx);
	if (rc >= 0)
		return 1;
	if (rc != PCRE2_ERROR_NOMATCH)
		s->regex_errors++;
	return 0;
}

/* Appends the addresses (or the decoded display names) of a field. */
static void target_addresses(struct scan *s, const struct field *f, bool names)
{
	size_t n;
	struct mc_address *a =
		mc_address_parse(s->pool, f->raw, strlen(f->raw), 0, &n);
	for (size_t i = 0; i < n; i++) {
		if (a[i].local == NULL || (names && a[i].name == NULL))
			continue;
		if (names)
			mc_encword_decode(a[i].name, strlen(a[i].name),
					  &s->tmp);
		else
			mc_buf_printf(&s->tmp, "%s@%s", a[i].local,
				      a[i].domain ? a[i].domain : "");
		mc_buf_append_c(&s->tmp, '\n');
	}
}

/* Builds the subject of a header rule in s->tmp. */
static void header_subject(struct scan *s, const struct rule *r)
{
	bool first = true;
	mc_buf_clear(&s->tmp);
	for (size_t i = 0; i < s->field_count; i++) {
		const struct field *f = &s->fields[i];
		if (r->target == TARGET_ALL) {
			mc_buf_printf(&s->tmp, "%s: %s\n", f->name, f->decoded);
			continue;
		}
		if (strcasecmp(f->name, r->field) != 0)
			continue;
		if (r->target == TARGET_ADDR || r->target == TARGET_NAME) {
			target_addresses(s, f, r->target == TARGET_NAME);
			continue;
		}
		if (!first)
			mc_buf_append_c(&s->tmp, '\n');
		mc_buf_append_str(
			&s->tmp, r->target == TARGET_RAW ? f->raw : f->decoded);
		first = false;
	}
}

/* True when header rule r hits. */
static bool header_hits(struct scan *s, const struct rule *r)
{
	if (r->target == TARGET_EXISTS)
		return scan_field(s, r->field) != NULL;
	header_subject(s, r);
	return scan_match(s, r->code, s->tmp.data ? s->tmp.data : "",
			  s->tmp.len) != r->negate;
}

/* True when rule r hits. */
static bool rule_hits(struct scan *s, const struct rule *r)
{
	switch (r->type) {
	case RULE_HEADER:
		return header_hits(s, r);
	case RULE_BODY:
		return scan_match(s, r->code, mc_buf_cstr(&s->body),
				  s->body.len) == 1;
	case RULE_RAWBODY:
		return scan_match(s, r->code, mc_buf_cstr(&s->rawbody),
				  s->rawbody.len) == 1;
	case RULE_URI:
		for (size_t i = 0; i < s->uri_count; i++)
			if (scan_match(s, r->code, s->uris[i],
				       strlen(s->uris[i])) == 1)
				return true;
		return false;
	}
	return false;
}

/* Runs every enabled rule. */
static void scan_rules(struct scan *s)
{
	s->uris = text_uris(s->pool, mc_buf_cstr(&s->rawbody), s->rawbody.len,
			    MC_SPAMRULES_URIS_MAX, &s->uri_count);
	for (size_t i = 0; i < s->sr->count; i++) {
		const struct rule *r = &s->sr->rules[i];
		if (r->score != 0 && rule_hits(s, r))
			scan_hit(s, r->name, r->score, r->description);
	}
}

/* ---- one scan ---- */

/* Sets up the scan's buffers and PCRE2 scratch. */
static void scan_init(struct scan *s, struct mc_spamrules *sr,
		      struct mc_pool *pool)
{
	memset(s, 0, sizeof(*s));
	s->sr = sr;
	s->pool = pool;
	mc_buf_init(&s->body, NULL, sr->max_body);
	mc_buf_init(&s->rawbody, NULL, sr->max_body);
	mc_buf_init(&s->tmp, NULL, 0);
	mc_buf_init(&s->leaf.raw, NULL, sr->max_body);
	mc_buf_init(&s->leaf.sniff, NULL, sr->sniff_bytes);
	s->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(s->mctx, sr->match_limit);
	pcre2_set_depth_limit(s->mctx, sr->depth_limit);
	pcre2_set_heap_limit(s->mctx, HEAP_LIMIT_KB);
	s->jit = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
	if (s->jit != NULL)
		pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
	s->md = pcre2_match_data_create(1, NULL);
	if (s->mctx == NULL || s->md == NULL)
		abort();
}

/* Frees what scan_init and the scan took (not the pool). */
static void scan_free(struct scan *s)
{
	checks_magic_release(s);
	mc_buf_free(&s->body);
	mc_buf_free(&s->rawbody);
	mc_buf_free(&s->tmp);
	mc_buf_free(&s->leaf.raw);
	mc_buf_free(&s->leaf.sniff);
	free(s->fields);
	pcre2_match_data_free(s->md);
	pcre2_jit_stack_free(s->jit);
	pcre2_match_context_free(s->mctx);
}

/* Copies the scan's outcome to out. */
static void scan_result(const struct scan *s, uint64_t size,
			struct mc_spamrules_result *out)
{
	*out = (struct mc_spamrules_result){
		.score = s->score,
		.hits = s->hits,
		.hit_count = s->hit_count,
		.attachments = s->atts,
		.attachment_count = s->att_count,
		.body_truncated = s->body_truncated,
		.parts_truncated = s->parts_truncated,
		.regex_errors = s->regex_errors,
		.size = size,
	};
}

/* Reads, parses and scores one message. */
int mc_spamrules_scan(struct mc_spamrules *sr, struct mc_pool *pool,
		      mc_spamrules_read_fn *read, void *read_ctx,
		      const struct mc_spamrules_inputs *in,
		      struct mc_spamrules_result *out, struct mc_error *err)
{
	struct scan s;
	uint64_t size;
	scan_init(&s, sr, pool);
	int r = scan_read(&s, read, read_ctx, &size, err);
	if (r == 0) {
		checks_headers(&s);
		scan_rules(&s);
		checks_attachments_total(&s);
		checks_inputs(&s, in);
		scan_result(&s, size, out);
	}
	scan_free(&s);
	return r;
}

/* A message in memory, for mc_spamrules_scan_buffer. */
struct membuf {
	const char *data;
	size_t len;
};

/* mc_spamrules_read_fn over a struct membuf. */
static ssize_t membuf_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct membuf *m = ctx;
	if (offset >= m->len)
		return 0;
	size_t n =
		m->len - (size_t)offset < len ? m->len - (size_t)offset : len;
	memcpy(buf, m->data + offset, n);
	return (ssize_t)n;
}

/* Scans a message in memory. */
int mc_spamrules_scan_buffer(struct mc_spamrules *sr, struct mc_pool *pool,
			     const void *data, size_t len,
			     const struct mc_spamrules_inputs *in,
			     struct mc_spamrules_result *out,
			     struct mc_error *err)
{
	struct membuf m = {data, len};
	return mc_spamrules_scan(sr, pool, membuf_read, &m, in, out, err);
}

/* The hit called name, or NULL. */
const struct mc_spamrules_hit *
mc_spamrules_result_find(const struct mc_spamrules_result *res,
			 const char *name)
{
	for (size_t i = 0; i < res->hit_count; i++)
		if (strcmp(res->hits[i].name, name) == 0)
			return &res->hits[i];
	return NULL;
}
