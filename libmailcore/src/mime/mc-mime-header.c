/* mc-mime-header: the header block of a part (RFC 5322 2.2, 3.6): folded
 * fields unfolded into HEADER events, limits on bytes and count, then the
 * Content-* headers (RFC 2045, 2183) turned into the HEADERS_END part info
 * which decides whether the part is a leaf, a multipart or a message. */
#include "mc-mime-private.h"

#include <string.h>
#include <strings.h>

/* Clears what the previous header block left behind. */
void mime_header_reset(struct mc_mime_parser *p)
{
	mc_pool_clear(p->hdr_pool);
	mc_buf_clear(&p->field);
	memset(&p->raw, 0, sizeof(p->raw));
	p->hdr_bytes = 0;
	p->hdr_count = 0;
	p->hdr_fresh = false;
	p->field_open = false;
	p->field_skip = false;
	p->hdr_long = false;
	p->hdr_warned_bytes = false;
	p->hdr_warned_count = false;
}

/* Remembers a Content-* header value (first occurrence wins). */
static void remember_content(struct mc_mime_parser *p, const char *name,
			     const char *value)
{
	static const struct {
		const char *name;
		size_t offset;
	} map[] = {
		{"type", offsetof(struct mime_raw_ctype, ctype)},
		{"transfer-encoding", offsetof(struct mime_raw_ctype, cte)},
		{"disposition", offsetof(struct mime_raw_ctype, disposition)},
		{"id", offsetof(struct mime_raw_ctype, id)},
		{"description", offsetof(struct mime_raw_ctype, description)},
		{"language", offsetof(struct mime_raw_ctype, language)},
		{"location", offsetof(struct mime_raw_ctype, location)},
		{"md5", offsetof(struct mime_raw_ctype, md5)},
	};

	if (strncasecmp(name, "content-", 8) != 0)
		return;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char **slot =
			(const char **)((char *)&p->raw + map[i].offset);

		if (mc_str_eq_icase(name + 8, map[i].name) && *slot == NULL)
			*slot = mc_pstrdup(p->hdr_pool, value);
	}
}

/* Emits the open field as a HEADER event. */
static void finalize_field(struct mc_mime_parser *p)
{
	const char *f = p->field.data, *colon, *v, *end;
	struct mc_mime_event *ev;
	size_t nlen;

	if (!p->field_open)
		return;
	p->field_open = false;
	if (p->field_skip)
		return;
	colon = memchr(f, ':', p->field.len);
	nlen = (size_t)(colon - f);
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t'))
		nlen--;
	v = colon + 1;
	end = f + p->field.len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	ev = mime_event_push(p, MC_MIME_EV_HEADER);
	ev->u.header.name = mc_pstrndup(p->ev_pool, f, nlen);
	ev->u.header.value = mc_pmemdup(p->ev_pool, v, (size_t)(end - v) + 1);
	((char *)ev->u.header.value)[end - v] = '\0';
	ev->u.header.value_len = (size_t)(end - v);
	ev->u.header.offset = p->field_off;
	ev->u.header.end_offset = p->field_end;
	remember_content(p, ev->u.header.name, ev->u.header.value);
}

/* True when the line is "name:" with a non-empty name without blanks
 * (blanks before the colon are tolerated, RFC 5322 obs-optional). */
static bool is_field_start(const struct mime_line *l)
{
	const char *colon = memchr(l->data, ':', l->len);
	size_t n;

	if (colon == NULL || colon == l->data)
		return false;
	n = (size_t)(colon - l->data);
	while (n > 0 && (l->data[n - 1] == ' ' || l->data[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l->data[i];

		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return n > 0;
}

/* Counts a header line against the byte limit; false when over it. */
static bool within_bytes(struct mc_mime_parser *p, const struct mime_line *l)
{
	p->hdr_bytes += l->len + l->eol_len;
	if (p->hdr_bytes <= p->set.max_header_bytes)
		return true;
	if (!p->hdr_warned_bytes) {
		p->hdr_warned_bytes = true;
		mime_warn(p, "header block over %zu bytes: rest skipped",
			  p->set.max_header_bytes);
	}
	p->field_skip = true;
	return false;
}

/* Starts a new field with this line. */
static void start_field(struct mc_mime_parser *p, const struct mime_line *l)
{
	finalize_field(p);
	p->field_open = true;
	p->field_skip = false;
	p->field_off = p->off;
	p->field_end = p->off + l->len + l->eol_len;
	if (!within_bytes(p, l))
		return;
	if (p->hdr_count >= p->set.max_headers) {
		if (!p->hdr_warned_count) {
			p->hdr_warned_count = true;
			mime_warn(p, "more than %u headers: rest skipped",
				  p->set.max_headers);
		}
		p->field_skip = true;
		return;
	}
	p->hdr_count++;
	mc_buf_clear(&p->field);
	mc_buf_append(&p->field, l->data, l->len);
}

/* A folded continuation line: appended to the open field. */
static void continue_field(struct mc_mime_parser *p, const struct mime_line *l)
{
	if (!p->field_open) {
		mime_warn(p, "continuation line without a header: skipped");
		p->hdr_bytes += l->len + l->eol_len;
		return;
	}
	p->field_end = p->off + l->len + l->eol_len;
	if (within_bytes(p, l) && !p->field_skip)
		mc_buf_append(&p->field, l->data, l->len);
}

/* Handles one physical line while reading a header block. */
void mime_header_line(struct mc_mime_parser *p, const struct mime_line *l)
{
	bool closing;
	int idx;

	if (p->hdr_fresh)
		mime_header_reset(p);
	if (!l->at_start) {
		if (!p->hdr_long)
			mime_warn(p, "header line too long: truncated");
		p->hdr_long = true;
		return;
	}
	p->hdr_long = false;
	if (l->len == 0) {
		mime_headers_end(p, l, true);
		return;
	}
	idx = mime_find_boundary(p, l, p->depth_count - 1, &closing);
	if (idx >= 0) {
		mime_headers_end(p, NULL, false);
		mime_handle_boundary(p, l, (unsigned)idx, closing);
	} else if (l->data[0] == ' ' || l->data[0] == '\t') {
		continue_field(p, l);
	} else if (is_field_start(l)) {
		start_field(p, l);
	} else {
		finalize_field(p);
		mime_warn(p, "header line without colon ends the headers");
		mime_headers_end(p, NULL, false);
		mime_process_line(p, l);
	}
}

/* Content-Type into info, with the RFC 2045 5.2 / 2046 5.1.5 defaults. */
static void fill_ctype(struct mc_mime_parser *p, struct mc_mime_part_info *in,
		       bool digest_child)
{
	struct mc_mime_param *params, *def;

	if (p->raw.ctype != NULL &&
	    mime_parse_ctype(p->ev_pool, p->raw.ctype, true, &in->type,
			     &in->subtype, &params, &in->params_count)) {
		in->params = params;
	} else {
		if (p->raw.ctype != NULL)
			mime_warn(p, "invalid Content-Type: default used");
		in->type_defaulted = true;
		in->type = digest_child ? "message" : "text";
		in->subtype = digest_child ? "rfc822" : "plain";
		if (!digest_child) {
			def = mc_palloc(p->ev_pool, sizeof(*def));
			def->name = "charset";
			def->value = "us-ascii";
			in->params = def;
			in->params_count = 1;
		}
	}
	in->boundary = mime_param_get(in->params, in->params_count, "boundary");
	in->charset = mime_param_get(in->params, in->params_count, "charset");
	in->name = mime_param_get(in->params, in->params_count, "name");
	if (in->charset == NULL && strcmp(in->type, "text") == 0)
		in->charset = "us-ascii";
}

/* Content-Transfer-Encoding into info. */
static void fill_encoding(struct mc_mime_parser *p,
			  struct mc_mime_part_info *in)
{
	static const char *const names[] = {"7bit", "8bit", "binary", "base64",
					    "quoted-printable"};
	char *tok;

	in->encoding = MC_MIME_ENC_7BIT;
	if (p->raw.cte == NULL)
		return;
	tok = mc_str_lower(mc_str_trim(mc_pstrdup(p->ev_pool, p->raw.cte)));
	in->encoding_name = tok;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(tok, names[i]) == 0) {
			in->encoding = (enum mc_mime_encoding)i;
			return;
		}
	}
	in->encoding = MC_MIME_ENC_UNKNOWN;
	mime_warn(p, "unknown Content-Transfer-Encoding: not decoded");
}

/* Copies a raw header string into the event pool (NULL stays NULL). */
static const char *dup_raw(struct mc_mime_parser *p, const char *s)
{
	return s == NULL ? NULL : mc_pstrdup(p->ev_pool, s);
}

/* Builds the part info of the top part from the remembered headers. */
static struct mc_mime_part_info *build_info(struct mc_mime_parser *p)
{
	struct mc_mime_part_info *in = mc_palloc(p->ev_pool, sizeof(*in));
	struct mime_part *parent =
		p->depth_count >= 2 ? &p->stack[p->depth_count - 2] : NULL;
	struct mc_mime_param *dparams;
	const char *subtype;

	fill_ctype(p, in, parent != NULL && parent->digest);
	fill_encoding(p, in);
	if (p->raw.disposition != NULL &&
	    mime_parse_ctype(p->ev_pool, p->raw.disposition, false,
			     &in->disposition, &subtype, &dparams,
			     &in->disposition_params_count)) {
		in->disposition_params = dparams;
		in->filename = mime_param_get(
			dparams, in->disposition_params_count, "filename");
	}
	in->id = dup_raw(p, p->raw.id);
	in->description = dup_raw(p, p->raw.description);
	in->language = dup_raw(p, p->raw.language);
	in->location = dup_raw(p, p->raw.location);
	in->md5 = dup_raw(p, p->raw.md5);
	return in;
}

/* Decides the kind of the top part, applying depth and count limits. */
static enum part_kind decide_kind(struct mc_mime_parser *p,
				  struct mc_mime_part_info *in)
{
	struct mime_part *top = mime_top(p);
	enum part_kind kind = KIND_LEAF;

	if (strcmp(in->type, "multipart") == 0) {
		if (in->boundary != NULL && *in->boundary != '\0' &&
		    strlen(in->boundary) <= MIME_BOUNDARY_MAX)
			kind = KIND_MULTIPART;
		else {
			mime_warn(p, "multipart without usable boundary: "
				     "treated as text/plain");
			in->type = "text";
			in->subtype = "plain";
			in->charset = "us-ascii";
		}
	} else if (strcmp(in->type, "message") == 0 &&
		   (strcmp(in->subtype, "rfc822") == 0 ||
		    strcmp(in->subtype, "global") == 0) &&
		   in->encoding <= MC_MIME_ENC_BINARY) {
		kind = KIND_MESSAGE;
	}
	if (kind != KIND_LEAF && top->depth + 1 >= p->set.max_depth) {
		mime_warn(p, "nesting deeper than %u: part kept opaque",
			  p->set.max_depth);
		kind = KIND_LEAF;
	} else if (kind != KIND_LEAF && p->parts_count >= p->set.max_parts) {
		mime_warn(p, "more than %u parts: part kept opaque",
			  p->set.max_parts);
		kind = KIND_LEAF;
	}
	return kind;
}

/* Ends the header block of the top part: at blank (the empty line that
 * ends it) or, when NULL, at the current line which belongs to the body. */
void mime_headers_end(struct mc_mime_parser *p, const struct mime_line *blank,
		      bool blank_line)
{
	struct mime_part *top;
	struct mc_mime_part_info *in;
	struct mc_mime_event *ev;
	size_t eol = blank_line ? blank->eol_len : 0;

	if (p->hdr_fresh)
		mime_header_reset(p);
	finalize_field(p);
	top = mime_top(p);
	top->body_off = p->off + (blank_line ? blank->len + eol : 0);
	top->body_lf = p->lf + (eol > 0 ? 1 : 0);
	top->body_bare = p->bare_lf + (eol == 1 ? 1 : 0);
	in = build_info(p);
	in->header_offset = top->header_off;
	in->body_offset = top->body_off;
	in->header_size = top->body_off - top->header_off;
	top->kind = decide_kind(p, in);
	ev = mime_event_push(p, MC_MIME_EV_HEADERS_END);
	ev->u.headers_end.info = in;
	if (top->kind == KIND_MULTIPART) {
		top->boundary = mc_strdup(in->boundary);
		top->boundary_len = strlen(top->boundary);
		top->digest = strcmp(in->subtype, "digest") == 0;
		p->state = ST_PREAMBLE;
	} else if (top->kind == KIND_MESSAGE) {
		mime_begin_part(p, top->body_off);
	} else {
		mime_decode_start(p, in->encoding);
		p->state = ST_BODY;
	}
}
