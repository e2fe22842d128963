/* mc-dkim-ed25519: ed25519-sha256 DKIM signatures (RFC 8463) made with
 * OpenSSL, in place of libopendkim (whose dkim_free() leaks the parsed
 * Ed25519 key): relaxed/relaxed canonicalization (RFC 6376 3.4.2, 3.4.4)
 * of the fed message, the body hash, the signed header selection and the
 * folded DKIM-Signature field. */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-dkim-private.h"

#define FOLD_AT	  76   /* columns of a folded DKIM-Signature line */
#define BODY_BUF  4096 /* canonical body bytes hashed at once */
#define SIG_LEN	  64   /* bytes of an Ed25519 signature */
#define HASH_LEN  32   /* bytes of a SHA-256 hash */
#define B_MIN_RUN 16   /* base64 of b= put on the line of "b=" */

/* A signed header field kept for the end: where in raw, which name. */
struct field {
	size_t off, len, name_len;
	int index;   /* in mc_dkim_sign_headers */
	size_t prev; /* 1 + the field of the same name above, 0 for none */
};

struct mc_dkim_ed {
	EVP_PKEY *pkey;
	const char *domain, *selector;
	/* relaxed body canonicalization into the body hash */
	EVP_MD_CTX *body_sha;
	bool hash_failed;
	size_t empty_lines; /* empty lines held back (dropped at the end) */
	bool wsp;	    /* blanks seen, not yet written as one SP */
	bool cr;	    /* a CR held back (it may start a CRLF) */
	bool content;	    /* the line has had a non-blank byte */
	unsigned char out[BODY_BUF];
	size_t out_len;
	/* the signed header fields, raw, in message order */
	struct mc_dkim_buf raw;
	struct field *fields;
	size_t fields_count, fields_cap;
};

/* A DKIM-Signature field being written, folded at FOLD_AT columns. */
struct folder {
	struct mc_dkim_buf *b;
	size_t col;
};

struct mc_dkim_ed *mc_dkim_ed_create(const struct mc_dkim_key *key,
				     struct mc_error *err)
{
	EVP_PKEY *pkey = mc_dkim_load_key(key->private_key, EVP_PKEY_ED25519);
	if (pkey == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DKIM key: no Ed25519 private key (PKCS#8 PEM) "
			     "for %s._domainkey.%s",
			     key->selector, key->domain);
		return NULL;
	}
	struct mc_dkim_ed *ed = mc_calloc(1, sizeof(*ed));
	ed->pkey = pkey;
	ed->domain = key->domain;
	ed->selector = key->selector;
	ed->body_sha = EVP_MD_CTX_new();
	if (ed->body_sha == NULL)
		abort();
	ed->hash_failed =
		EVP_DigestInit_ex(ed->body_sha, EVP_sha256(), NULL) != 1;
	return ed;
}

void mc_dkim_ed_destroy(struct mc_dkim_ed **ed)
{
	if (ed == NULL || *ed == NULL)
		return;
	EVP_PKEY_free((*ed)->pkey);
	EVP_MD_CTX_free((*ed)->body_sha);
	free((*ed)->raw.data);
	free((*ed)->fields);
	free(*ed);
	*ed = NULL;
}

/* Hashes the buffered canonical body bytes. */
static void body_flush(struct mc_dkim_ed *ed)
{
	if (ed->out_len > 0 &&
	    EVP_DigestUpdate(ed->body_sha, ed->out, ed->out_len) != 1)
		ed->hash_failed = true;
	ed->out_len = 0;
}

/* Writes one canonical body byte. */
static void body_out(struct mc_dkim_ed *ed, char c)
{
	if (ed->out_len == sizeof(ed->out))
		body_flush(ed);
	ed->out[ed->out_len++] = (unsigned char)c;
}

/* A non-blank body byte: the empty lines held back are real, and so is
 * a run of blanks before it (as one SP). */
static void body_content(struct mc_dkim_ed *ed, char c)
{
	for (; ed->empty_lines > 0; ed->empty_lines--) {
		body_out(ed, '\r');
		body_out(ed, '\n');
	}
	if (ed->wsp)
		body_out(ed, ' ');
	ed->wsp = false;
	body_out(ed, c);
	ed->content = true;
}

/* A line ended: its trailing blanks go; an empty one is held back. */
static void body_line_end(struct mc_dkim_ed *ed)
{
	if (ed->content) {
		body_out(ed, '\r');
		body_out(ed, '\n');
	} else {
		ed->empty_lines++;
	}
	ed->wsp = false;
	ed->content = false;
}

/* One body byte through relaxed canonicalization (RFC 6376 3.4.4). */
static void body_byte(struct mc_dkim_ed *ed, char c)
{
	if (ed->cr) {
		ed->cr = false;
		if (c == '\n') {
			body_line_end(ed);
			return;
		}
		body_content(ed, '\r'); /* a CR alone is data */
	}
	if (c == '\r')
		ed->cr = true;
	else if (c == '\n')
		body_line_end(ed);
	else if (c == ' ' || c == '\t')
		ed->wsp = true;
	else
		body_content(ed, c);
}

void mc_dkim_ed_body(struct mc_dkim_ed *ed, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		body_byte(ed, data[i]);
}

/* Ends the body (a last line without CRLF gets one; trailing empty lines
 * and an empty body hash as nothing) and writes bh= (base64) to bh. */
static bool body_hash(struct mc_dkim_ed *ed, char bh[HASH_LEN * 2])
{
	unsigned char hash[HASH_LEN];
	unsigned len = 0;
	if (ed->cr)
		body_content(ed, '\r');
	if (ed->content)
		body_line_end(ed);
	body_flush(ed);
	if (ed->hash_failed ||
	    EVP_DigestFinal_ex(ed->body_sha, hash, &len) != 1 ||
	    len != HASH_LEN)
		return false;
	EVP_EncodeBlock((unsigned char *)bh, hash, HASH_LEN);
	return true;
}

void mc_dkim_ed_header(struct mc_dkim_ed *ed, const char *field, size_t len)
{
	size_t name_len;
	int index = mc_dkim_signed_index(field, len, &name_len);
	if (index < 0)
		return;
	if (ed->fields_count == ed->fields_cap) {
		ed->fields_cap = ed->fields_cap == 0 ? 16 : ed->fields_cap * 2;
		ed->fields = mc_realloc(ed->fields,
					ed->fields_cap * sizeof(*ed->fields));
	}
	ed->fields[ed->fields_count++] =
		(struct field){ed->raw.len, len, name_len, index, 0};
	mc_dkim_buf_add(&ed->raw, field, len);
}

/* Whether c is a blank (WSP) or a line break byte. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends field (raw, "Name: value" with inner line breaks) to out in
 * relaxed canonical form (RFC 6376 3.4.2): the name lowercase, line
 * breaks removed, blank runs as one SP, none around the colon or at the
 * end. No CRLF. */
static void canon_header(struct mc_dkim_buf *out, const char *f, size_t n)
{
	const char *colon = memchr(f, ':', n);
	size_t i = 0, name = colon != NULL ? (size_t)(colon - f) : n;
	bool wsp = false, any = false;
	for (; i < name; i++) {
		char c = (char)tolower((unsigned char)f[i]);
		if (!is_space(c))
			mc_dkim_buf_add(out, &c, 1);
	}
	if (colon != NULL)
		mc_dkim_buf_add(out, ":", 1);
	for (i = name + 1; i < n; i++) {
		if (f[i] == '\r' || f[i] == '\n')
			continue;
		if (f[i] == ' ' || f[i] == '\t') {
			wsp = true;
			continue;
		}
		if (wsp && any)
			mc_dkim_buf_add(out, " ", 1);
		mc_dkim_buf_add(out, f + i, 1);
		wsp = false;
		any = true;
	}
}

/* The number of names in mc_dkim_sign_headers. */
static size_t sign_names(void)
{
	size_t n = 0;
	while (mc_dkim_sign_headers[n] != NULL)
		n++;
	return n;
}

/* The index of name in mc_dkim_sign_headers, -1 if absent. */
static int name_index(const char *name)
{
	for (int i = 0; mc_dkim_sign_headers[i] != NULL; i++)
		if (strcmp(mc_dkim_sign_headers[i], name) == 0)
			return i;
	return -1;
}

/* Appends, for a name of h=, the bottom-most field of that name not yet
 * taken (RFC 6376 5.4.2) to data, canonical and ending in CRLF; nothing
 * when none is left (an oversigned name). */
static void take_field(struct mc_dkim_ed *ed, size_t *last, int index,
		       struct mc_dkim_buf *data)
{
	if (index < 0 || last[index] == 0)
		return;
	const struct field *f = &ed->fields[last[index] - 1];
	last[index] = f->prev;
	canon_header(data, ed->raw.data + f->off, f->len);
	mc_dkim_buf_add(data, "\r\n", 2);
}

/* The canonical signed header fields, in h= order, into data. */
static void signed_headers(struct mc_dkim_ed *ed, struct mc_dkim_buf *data)
{
	size_t *last = mc_calloc(sign_names(), sizeof(*last));
	for (size_t i = 0; i < ed->fields_count; i++) {
		ed->fields[i].prev = last[ed->fields[i].index];
		last[ed->fields[i].index] = i + 1;
	}
	for (size_t i = 0; i < ed->fields_count; i++)
		take_field(ed, last, ed->fields[i].index, data);
	for (size_t i = 0; mc_dkim_oversign_headers[i] != NULL; i++)
		take_field(ed, last, name_index(mc_dkim_oversign_headers[i]),
			   data);
	free(last);
}

/* Makes room for need bytes on the line: a fold (CRLF TAB) when they
 * would pass FOLD_AT, else the separating SP when sep. */
static void fold_room(struct folder *f, size_t need, bool sep)
{
	if (f->col + (sep ? 1 : 0) + need > FOLD_AT && f->col > 8) {
		mc_dkim_buf_add(f->b, "\r\n\t", 3);
		f->col = 8;
	} else if (sep) {
		mc_dkim_buf_add(f->b, " ", 1);
		f->col++;
	}
}

/* Appends the tag "name=value;" as a unit. */
static void put_tag(struct folder *f, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	fold_room(f, n + 1 + v + 1, true);
	mc_dkim_buf_add(f->b, name, n);
	mc_dkim_buf_add(f->b, "=", 1);
	mc_dkim_buf_add(f->b, value, v);
	mc_dkim_buf_add(f->b, ";", 1);
	f->col += n + 1 + v + 1;
}

/* Appends one name of h= (with "h=" before the first, else ":"), room
 * kept for the ':' or ';' after it; folds only after a colon. */
static void put_name(struct folder *f, const char *name, size_t n, bool *first)
{
	if (*first) {
		fold_room(f, 2 + n + 1, true);
		mc_dkim_buf_add(f->b, "h=", 2);
		f->col += 2;
	} else {
		mc_dkim_buf_add(f->b, ":", 1);
		f->col++;
		fold_room(f, n + 1, false);
	}
	mc_dkim_buf_add(f->b, name, n);
	f->col += n;
	*first = false;
}

/* Appends h=: the names of the signed fields top down, as spelled, then
 * the oversigned names. */
static void put_h(struct folder *f, const struct mc_dkim_ed *ed)
{
	bool first = true;
	for (size_t i = 0; i < ed->fields_count; i++)
		put_name(f, ed->raw.data + ed->fields[i].off,
			 ed->fields[i].name_len, &first);
	for (size_t i = 0; mc_dkim_oversign_headers[i] != NULL; i++)
		put_name(f, mc_dkim_oversign_headers[i],
			 strlen(mc_dkim_oversign_headers[i]), &first);
	mc_dkim_buf_add(f->b, ";", 1);
	f->col++;
}

/* Writes the field up to "b=" (its value empty) to f. */
static void sig_prefix(struct folder *f, const struct mc_dkim_ed *ed,
		       time_t now, const char *bh)
{
	char t[32];
	snprintf(t, sizeof(t), "%" PRIdMAX, (intmax_t)now);
	mc_dkim_buf_add(f->b, "DKIM-Signature:", 15);
	f->col = 15;
	put_tag(f, "v", "1");
	put_tag(f, "a", "ed25519-sha256");
	put_tag(f, "c", "relaxed/relaxed");
	put_tag(f, "d", ed->domain);
	put_tag(f, "s", ed->selector);
	put_tag(f, "t", t);
	put_h(f, ed);
	put_tag(f, "bh", bh);
	fold_room(f, 2 + B_MIN_RUN, true);
	mc_dkim_buf_add(f->b, "b=", 2);
	f->col += 2;
}

/* Appends the base64 value of b= in runs filling the lines. */
static void put_b(struct folder *f, const char *b64, size_t n)
{
	while (n > 0) {
		if (f->col + B_MIN_RUN > FOLD_AT) {
			mc_dkim_buf_add(f->b, "\r\n\t", 3);
			f->col = 8;
		}
		size_t run = FOLD_AT - f->col < n ? FOLD_AT - f->col : n;
		mc_dkim_buf_add(f->b, b64, run);
		f->col += run;
		b64 += run;
		n -= run;
	}
}

/* The Ed25519 signature of the SHA-256 hash of data (RFC 8463 3). */
static bool ed_sign(EVP_PKEY *pkey, const struct mc_dkim_buf *data,
		    unsigned char sig[SIG_LEN])
{
	unsigned char hash[HASH_LEN];
	unsigned hash_len = 0;
	size_t sig_len = SIG_LEN;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL)
		abort();
	bool ok = EVP_Digest(data->data, data->len, hash, &hash_len,
			     EVP_sha256(), NULL) == 1 &&
		  EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
		  EVP_DigestSign(md, sig, &sig_len, hash, sizeof(hash)) == 1 &&
		  sig_len == SIG_LEN;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

/* Hashes the header, signs and writes the whole field to sigfield. */
static bool make_field(struct mc_dkim_ed *ed, time_t now, const char *bh,
		       struct mc_dkim_buf *sigfield)
{
	struct mc_dkim_buf data = {0};
	struct folder f = {sigfield, 0};
	unsigned char sig[SIG_LEN];
	char b64[SIG_LEN * 2];
	signed_headers(ed, &data);
	sig_prefix(&f, ed, now, bh);
	/* RFC 6376 3.7: the field itself, b= empty, without CRLF */
	canon_header(&data, sigfield->data, sigfield->len);
	bool ok = ed_sign(ed->pkey, &data, sig);
	free(data.data);
	if (ok) {
		int n = EVP_EncodeBlock((unsigned char *)b64, sig, SIG_LEN);
		put_b(&f, b64, (size_t)n);
		mc_dkim_buf_add(sigfield, "\r\n", 2);
	}
	return ok;
}

int mc_dkim_ed_finish(struct mc_dkim_ed *ed, time_t now,
		      struct mc_dkim_buf *out, struct mc_error *err)
{
	char bh[HASH_LEN * 2];
	struct mc_dkim_buf field = {0};
	bool ok = body_hash(ed, bh) && make_field(ed, now, bh, &field);
	if (ok)
		mc_dkim_buf_add(out, field.data, field.len);
	else
		mc_error_set(err, MC_ERR_INVALID,
			     "DKIM signing: Ed25519 signature failed for "
			     "%s._domainkey.%s",
			     ed->selector, ed->domain);
	free(field.data);
	return ok ? 0 : -1;
}
