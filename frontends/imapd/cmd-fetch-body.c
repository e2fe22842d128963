/* cmd-fetch-body: one message's FETCH response as segments (text, byte
 * ranges of the blob, content-transfer-decoded parts), built from the
 * part map (RFC 3501 6.4.5 sections: whole, HEADER, HEADER.FIELDS[.NOT],
 * TEXT, MIME, nested part numbers; partials; RFC 3516 BINARY and
 * BINARY.SIZE) and streamed out in bounded pieces over several jobs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd-fetch.h"
#include "mailcore/mc-mime.h"

#define PIECE	   (64 * 1024)	 /* bytes read from the blob at once */
#define HEADER_MAX (1024 * 1024) /* header bytes HEADER.FIELDS looks at */

/* A BINARY section's decoder: the part's header and body pushed through
 * mc-mime, its body events are the decoded bytes. */
struct fetch_decoder {
	struct mc_mime_parser *parser;
	struct mc_blob_reader *blob;
	struct mc_message_part part;
	uint64_t in_pos, in_size; /* header then body bytes fed */
	uint64_t out_pos;	  /* decoded bytes returned */
	bool finished, unknown;
	unsigned char buf[PIECE];
};

/* A decoder for the leaf part mp of blob. */
static struct fetch_decoder *dec_create(struct mc_blob_reader *blob,
					const struct mc_message_part *mp)
{
	struct fetch_decoder *d = mc_calloc(1, sizeof(*d));
	d->parser = mc_mime_parser_create(NULL);
	d->blob = blob;
	d->part = *mp;
	d->in_size = mp->header_size + mp->body_size;
	return d;
}

static void dec_destroy(struct fetch_decoder **dp)
{
	if (*dp == NULL)
		return;
	mc_mime_parser_destroy(&(*dp)->parser);
	free(*dp);
	*dp = NULL;
}

/* Feeds the next piece of the part; false at its end or on an error. */
static bool dec_feed(struct fetch_decoder *d, struct mc_error *err)
{
	const struct mc_message_part *mp = &d->part;
	uint64_t off, left;
	if (d->in_pos < mp->header_size) {
		off = mp->header_offset + d->in_pos;
		left = mp->header_size - d->in_pos;
	} else {
		off = mp->body_offset + (d->in_pos - mp->header_size);
		left = d->in_size - d->in_pos;
	}
	if (left == 0)
		return false;
	ssize_t n = mc_blob_pread(d->blob, d->buf, left < PIECE ? left : PIECE,
				  off, err);
	if (n <= 0)
		return false;
	mc_mime_parser_feed(d->parser, d->buf, (size_t)n);
	d->in_pos += (uint64_t)n;
	return true;
}

/* The next decoded bytes: 1 with *data_r / *len_r (valid until the next
 * call), 0 at the end. */
static int dec_next(struct fetch_decoder *d, const unsigned char **data_r,
		    size_t *len_r)
{
	struct mc_mime_event ev;
	struct mc_error err;
	for (;;) {
		int r = mc_mime_parser_next(d->parser, &ev);
		if (r < 0)
			return 0;
		if (r == 0) {
			if (d->finished || !dec_feed(d, &err)) {
				d->finished = true;
				mc_mime_parser_finish(d->parser);
			}
			continue;
		}
		if (ev.part != 0)
			continue;
		if (ev.type == MC_MIME_EV_HEADERS_END &&
		    ev.u.headers_end.info->encoding == MC_MIME_ENC_UNKNOWN)
			d->unknown = true;
		if (ev.type == MC_MIME_EV_BODY && ev.u.body.size > 0) {
			*data_r = ev.u.body.data;
			*len_r = ev.u.body.size;
			d->out_pos += ev.u.body.size;
			return 1;
		}
	}
}

/* Pass one over a leaf: its decoded size, whether [lo, hi) of it holds
 * a NUL, and whether its encoding is unknown. */
static void dec_measure(struct mc_blob_reader *blob,
			const struct mc_message_part *mp, uint64_t lo,
			uint64_t hi, uint64_t *size_r, bool *nul_r,
			bool *unknown_r)
{
	struct fetch_decoder *d = dec_create(blob, mp);
	const unsigned char *data;
	size_t len;
	*nul_r = false;
	while (dec_next(d, &data, &len) > 0 && !d->unknown) {
		uint64_t at = d->out_pos - len;
		for (size_t i = 0; i < len && !*nul_r; i++)
			*nul_r = data[i] == '\0' && at + i >= lo && at + i < hi;
	}
	*size_r = d->out_pos;
	*unknown_r = d->unknown;
	dec_destroy(&d);
}

void fetch_msg_begin(struct fetch_msg *fm, struct mc_blob_store *blobs,
		     const char *sha256)
{
	fm->pool = mc_pool_create("imap-fetch-msg", 4096);
	fm->blobs = blobs;
	fm->sha256 = sha256;
	mc_buf_init(&fm->text, fm->pool, 0);
}

void fetch_msg_reset(struct fetch_msg *fm)
{
	dec_destroy(&fm->dec);
	mc_blob_reader_close(&fm->blob);
	mc_pool_destroy(&fm->pool);
	memset(fm, 0, sizeof(*fm));
}

void fetch_msg_text(struct fetch_msg *fm, const void *data, size_t len)
{
	mc_buf_append(&fm->text, data, len);
}

void fetch_msg_printf(struct fetch_msg *fm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mc_buf_vprintf(&fm->text, fmt, ap);
	va_end(ap);
}

/* A new segment (the pending text goes before it). */
static struct fetch_seg *add_seg(struct fetch_msg *fm, enum fetch_seg_kind kind)
{
	if (kind != FETCH_SEG_TEXT && fm->text.len > 0)
		fetch_msg_built(fm);
	if (fm->count == fm->cap) {
		size_t cap = fm->cap == 0 ? 8 : fm->cap * 2;
		struct fetch_seg *v =
			mc_palloc_array(fm->pool, cap, sizeof(*v));
		if (fm->count > 0)
			memcpy(v, fm->segs, fm->count * sizeof(*v));
		fm->segs = v;
		fm->cap = cap;
	}
	struct fetch_seg *s = &fm->segs[fm->count++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	return s;
}

void fetch_msg_built(struct fetch_msg *fm)
{
	if (fm->text.len == 0)
		return;
	struct fetch_seg *s = add_seg(fm, FETCH_SEG_TEXT);
	s->text = fm->text.data;
	s->len = fm->text.len;
	mc_buf_init(&fm->text, fm->pool, 0);
}

/* The partial window of a section of total bytes. */
static void window(const struct mc_imap_fetch_part *fp, uint64_t total,
		   uint64_t *off_r, uint64_t *len_r)
{
	*off_r = 0;
	*len_r = total;
	if (!fp->partial)
		return;
	*off_r = fp->offset < total ? fp->offset : total;
	*len_r = total - *off_r < fp->length ? total - *off_r : fp->length;
}

/* "NAME {n}\r\n" (or "~{n}" for literal8), "NAME \"\"" when empty. */
static void literal_head(struct fetch_msg *fm, const char *name, uint64_t len,
			 bool lit8)
{
	if (len == 0)
		fetch_msg_printf(fm, "%s \"\"", name);
	else
		fetch_msg_printf(fm, "%s %s{%llu}\r\n", name, lit8 ? "~" : "",
				 (unsigned long long)len);
}

/* Where a section's raw bytes are; false when it does not exist. */
static bool section_range(const struct mc_imap_fetch_part *fp,
			  const struct mc_message_part *mp, uint64_t blob_size,
			  uint64_t *off_r, uint64_t *len_r)
{
	bool top = *fp->part == '\0';
	switch (fp->section) {
	case MC_IMAP_FETCH_SECTION_WHOLE:
		*off_r = top ? 0 : mp->body_offset;
		*len_r = top ? blob_size : mp->body_size;
		break;
	case MC_IMAP_FETCH_SECTION_TEXT:
		*off_r = mp->msg_body_offset;
		*len_r = mp->msg_body_size;
		break;
	case MC_IMAP_FETCH_SECTION_MIME:
		*off_r = mp->header_offset;
		*len_r = mp->header_size;
		break;
	default: /* HEADER, HEADER.FIELDS[.NOT] */
		*off_r = mp->msg_header_offset;
		*len_r = mp->msg_header_size;
	}
	if (fp->section != MC_IMAP_FETCH_SECTION_WHOLE &&
	    fp->section != MC_IMAP_FETCH_SECTION_MIME && !top &&
	    !mp->is_message)
		return false; /* HEADER / TEXT of a part that is no message */
	if (*off_r > blob_size)
		*off_r = blob_size;
	if (*len_r > blob_size - *off_r)
		*len_r = blob_size - *off_r;
	return true;
}

/* Opens the blob at the first body section. */
static bool open_blob(struct fetch_msg *fm, struct mc_error *err)
{
	if (fm->blob == NULL)
		fm->blob = mc_blob_open(
			fm->blobs, fm->sha256 != NULL ? fm->sha256 : "", err);
	return fm->blob != NULL;
}

/* Reads [off, off + len) of the blob into a new string of the pool. */
static char *read_range(struct fetch_msg *fm, uint64_t off, size_t len,
			struct mc_error *err)
{
	char *p = mc_palloc(fm->pool, len + 1);
	size_t got = 0;
	while (got < len) {
		ssize_t n = mc_blob_pread(fm->blob, p + got, len - got,
					  off + got, err);
		if (n < 0)
			return NULL;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	memset(p + got, ' ', len - got);
	p[len] = '\0';
	return p;
}

/* HEADER.FIELDS[.NOT]: the filtered header as text. */
static int header_fields_part(struct fetch_msg *fm,
			      const struct mc_imap_fetch_part *fp, uint64_t off,
			      uint64_t len, struct mc_error *err)
{
	size_t n = len > HEADER_MAX ? HEADER_MAX : (size_t)len;
	const char *h = read_range(fm, off, n, err);
	if (h == NULL)
		return FETCH_ERR;
	struct mc_buf b;
	mc_buf_init(&b, fm->pool, 0);
	fetch_header_fields(
		h, n, fp->fields, fp->field_count,
		fp->section == MC_IMAP_FETCH_SECTION_HEADER_FIELDS_NOT, &b);
	uint64_t woff, wlen;
	window(fp, b.len, &woff, &wlen);
	literal_head(fm, fp->name, wlen, false);
	fetch_msg_text(fm, b.data + woff, (size_t)wlen);
	return 0;
}

/* A raw section: its literal head, then a byte range of the blob. */
static void range_part(struct fetch_msg *fm,
		       const struct mc_imap_fetch_part *fp, uint64_t off,
		       uint64_t len)
{
	uint64_t woff, wlen;
	window(fp, len, &woff, &wlen);
	if (fp->size_only) {
		fetch_msg_printf(fm, "%s %llu", fp->name,
				 (unsigned long long)len);
		return;
	}
	literal_head(fm, fp->name, wlen, false);
	if (wlen == 0)
		return;
	struct fetch_seg *s = add_seg(fm, FETCH_SEG_RANGE);
	s->offset = off + woff;
	s->len = wlen;
}

/* BINARY[part] / BINARY.SIZE[part] of a leaf: decoded. */
static int decoded_part(struct fetch_msg *fm,
			const struct mc_imap_fetch_part *fp,
			const struct mc_message_part *mp)
{
	uint64_t lo = fp->partial ? fp->offset : 0, hi = UINT64_MAX;
	if (fp->partial && fp->length <= UINT64_MAX - fp->offset)
		hi = fp->offset + fp->length;
	uint64_t size, woff, wlen;
	bool nul, unknown;
	dec_measure(fm->blob, mp, lo, hi, &size, &nul, &unknown);
	if (unknown)
		return FETCH_UNKNOWN_CTE;
	if (fp->size_only) {
		fetch_msg_printf(fm, "%s %llu", fp->name,
				 (unsigned long long)size);
		return 0;
	}
	window(fp, size, &woff, &wlen);
	literal_head(fm, fp->name, wlen, nul);
	if (wlen == 0)
		return 0;
	struct fetch_seg *s = add_seg(fm, FETCH_SEG_DECODE);
	s->offset = woff;
	s->len = wlen;
	s->part = *mp;
	return 0;
}

int fetch_msg_part(struct fetch_msg *fm, const char *parts,
		   const struct mc_imap_fetch_part *fp, struct mc_error *err)
{
	struct mc_message_part mp;
	uint64_t off, len;
	if (!open_blob(fm, err))
		return FETCH_ERR;
	uint64_t size = mc_blob_reader_size(fm->blob);
	if (!mc_message_part_find(parts, fp->part, &mp) ||
	    !section_range(fp, &mp, size, &off, &len)) {
		if (fp->size_only)
			fetch_msg_printf(fm, "%s 0", fp->name);
		else
			fetch_msg_printf(fm, "%s \"\"", fp->name);
		return 0;
	}
	if (fp->binary && *fp->part != '\0' && !mp.is_multipart &&
	    !mp.is_message)
		return decoded_part(fm, fp, &mp);
	if (fp->section == MC_IMAP_FETCH_SECTION_HEADER_FIELDS ||
	    fp->section == MC_IMAP_FETCH_SECTION_HEADER_FIELDS_NOT)
		return header_fields_part(fm, fp, off, len, err);
	range_part(fm, fp, off, len);
	return 0;
}

/* Appends n spaces (a literal whose bytes could not be read). */
static void pad(struct mc_buf *out, uint64_t n)
{
	static const char spaces[] = "                                ";
	while (n > 0) {
		size_t k =
			n < sizeof(spaces) - 1 ? (size_t)n : sizeof(spaces) - 1;
		mc_buf_append(out, spaces, k);
		n -= k;
	}
}

/* Sends raw blob bytes; true when the segment is done. */
static bool emit_range(struct fetch_msg *fm, struct fetch_seg *s,
		       struct mc_buf *out)
{
	struct mc_error err;
	if (fm->piece == NULL)
		fm->piece = mc_palloc(fm->pool, PIECE);
	while (fm->pos < s->len && out->len < FETCH_CHUNK) {
		uint64_t left = s->len - fm->pos;
		ssize_t n = mc_blob_pread(fm->blob, fm->piece,
					  left < PIECE ? left : PIECE,
					  s->offset + fm->pos, &err);
		if (n <= 0) {
			pad(out, left); /* the blob changed under us */
			fm->pos = s->len;
			break;
		}
		mc_buf_append(out, fm->piece, (size_t)n);
		fm->pos += (uint64_t)n;
	}
	return fm->pos == s->len;
}

/* Sends decoded bytes [offset, offset + len); true when done. */
static bool emit_decoded(struct fetch_msg *fm, struct fetch_seg *s,
			 struct mc_buf *out)
{
	const unsigned char *data;
	size_t n;
	if (fm->dec == NULL)
		fm->dec = dec_create(fm->blob, &s->part);
	while (fm->pos < s->len && out->len < FETCH_CHUNK) {
		if (dec_next(fm->dec, &data, &n) <= 0) {
			pad(out, s->len - fm->pos);
			fm->pos = s->len;
			break;
		}
		uint64_t at = fm->dec->out_pos - n, want = s->offset + fm->pos;
		uint64_t end = s->offset + s->len;
		uint64_t lo = at > want ? at : want;
		uint64_t hi = at + n < end ? at + n : end;
		if (lo < hi) {
			mc_buf_append(out, data + (lo - at), (size_t)(hi - lo));
			fm->pos += hi - lo;
		}
	}
	if (fm->pos < s->len)
		return false;
	dec_destroy(&fm->dec);
	return true;
}

int fetch_msg_emit(struct fetch_msg *fm, struct mc_buf *out)
{
	while (fm->i < fm->count) {
		struct fetch_seg *s = &fm->segs[fm->i];
		bool done = true;
		if (out->len >= FETCH_CHUNK)
			return 0;
		if (s->kind == FETCH_SEG_TEXT)
			mc_buf_append(out, s->text, (size_t)s->len);
		else if (s->kind == FETCH_SEG_RANGE)
			done = emit_range(fm, s, out);
		else
			done = emit_decoded(fm, s, out);
		if (!done)
			return 0;
		fm->i++;
		fm->pos = 0;
	}
	return 1;
}

/* True when the field starting line (up to its colon) is one of fields. */
static bool field_listed(const char *line, size_t len,
			 const char *const *fields, size_t n)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - line) : len;
	while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
		nlen--;
	for (size_t i = 0; i < n; i++) {
		if (strlen(fields[i]) == nlen &&
		    strncasecmp(fields[i], line, nlen) == 0)
			return true;
	}
	return false;
}

void fetch_header_fields(const char *h, size_t len, const char *const *fields,
			 size_t n, bool not, struct mc_buf *out)
{
	bool keep = false, open = false;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(h + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - h) + 1 : len;
		const char *line = h + i;
		size_t llen = end - i;
		if (line[0] == '\n' || (line[0] == '\r' && llen <= 2))
			break; /* the blank line ending the header */
		if (line[0] != ' ' && line[0] != '\t')
			keep = field_listed(line, llen, fields, n) != not ;
		if (keep) {
			mc_buf_append(out, line, llen);
			open = line[llen - 1] != '\n';
		}
		i = end;
	}
	if (open)
		mc_buf_append(out, "\r\n", 2);
	mc_buf_append(out, "\r\n", 2);
}
