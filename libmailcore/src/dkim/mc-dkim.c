/* mc-dkim: the shared part of DKIM signing and verifying: the handle around
 * one libopendkim library (options set here, once), result names, the
 * signed header list, and the feeder that splits the message read through
 * the callback into header fields, end of header and body chunks for
 * libopendkim and the Ed25519 signers. Bare LF line ends (a message from a
 * file) are made CRLF on the way. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-dkim-private.h"

/* Signed when present (RFC 6376 5.4.1); From is also oversigned, so that
 * a From added later breaks the signature. */
const char *const mc_dkim_sign_headers[] = {"from",
					    "sender",
					    "reply-to",
					    "subject",
					    "date",
					    "message-id",
					    "to",
					    "cc",
					    "mime-version",
					    "content-type",
					    "content-transfer-encoding",
					    "in-reply-to",
					    "references",
					    "list-id",
					    "list-unsubscribe",
					    "list-unsubscribe-post",
					    NULL};
const char *const mc_dkim_oversign_headers[] = {"from", NULL};

/* The header feeding state of mc_dkim_feed. */
struct feeder {
	DKIM *const *handles;
	size_t count;
	struct mc_dkim_ed *const *eds;
	size_t eds_count;
	bool verify;
	char *field;	   /* the pending field, raw, line ends included */
	size_t len, cap;   /* of field */
	size_t line_start; /* where the line being read starts in field */
	char *body;	   /* a body chunk with CRLF line ends */
	bool body_cr;	   /* the last body byte fed was a CR */
};

void mc_dkim_buf_add(struct mc_dkim_buf *b, const char *s, size_t n)
{
	size_t need;
	if (!mc_size_add(b->len, n, &need) || !mc_size_add(need, 1, &need))
		abort();
	if (need > b->cap) {
		if (!mc_size_mul(need, 2, &b->cap))
			abort();
		b->data = mc_realloc(b->data, b->cap);
	}
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

int mc_dkim_signed_index(const char *field, size_t len, size_t *name_len_r)
{
	const char *colon = memchr(field, ':', len);
	if (colon == NULL)
		return -1;
	size_t n = (size_t)(colon - field);
	*name_len_r = n;
	for (int i = 0; mc_dkim_sign_headers[i] != NULL; i++)
		if (strlen(mc_dkim_sign_headers[i]) == n &&
		    strncasecmp(mc_dkim_sign_headers[i], field, n) == 0)
			return i;
	return -1;
}

/* A PEM password callback that has none: encrypted keys fail. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

EVP_PKEY *mc_dkim_load_key(const char *pem, int type)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	if (bio == NULL)
		abort();
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != type) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	ERR_clear_error();
	return pkey;
}

int mc_dkim_lib_error(struct mc_error *err, enum mc_error_class cls,
		      DKIM *handle, const char *what, DKIM_STAT st)
{
	const char *why = handle != NULL ? dkim_geterror(handle) : NULL;
	if (why == NULL || *why == '\0')
		why = dkim_getresultstr(st);
	mc_error_set(err, cls, "DKIM %s: %s", what,
		     why != NULL ? why : "failed");
	return -1;
}

/* Sets one libopendkim option; false when it was refused. */
static bool set_option(DKIM_LIB *lib, int opt, const void *value, size_t size)
{
	return dkim_options(lib, DKIM_OP_SETOPT, opt, (void *)value, size) ==
	       DKIM_STAT_OK;
}

/* Sets the options every signature and verification uses. */
static bool configure(DKIM_LIB *lib)
{
	unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	if (!set_option(lib, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) ||
	    !set_option(lib, DKIM_OPTS_SIGNHDRS, mc_dkim_sign_headers,
			sizeof(char **)) ||
	    !set_option(lib, DKIM_OPTS_OVERSIGNHDRS, mc_dkim_oversign_headers,
			sizeof(char **)))
		return false;
	mc_dkim_verify_setup(lib);
	return true;
}

struct mc_dkim *mc_dkim_create(struct mc_dns *dns, struct mc_error *err)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		mc_error_set(err, MC_ERR_PERMANENT, "DKIM: dkim_init failed");
		return NULL;
	}
	if (!configure(lib)) {
		dkim_close(lib);
		mc_error_set(err, MC_ERR_PERMANENT,
			     "DKIM: libopendkim refused the options");
		return NULL;
	}
	struct mc_dkim *dkim = mc_calloc(1, sizeof(*dkim));
	dkim->lib = lib;
	dkim->dns = dns;
	return dkim;
}

void mc_dkim_destroy(struct mc_dkim **dkim)
{
	if (dkim == NULL || *dkim == NULL)
		return;
	dkim_close((*dkim)->lib);
	free(*dkim);
	*dkim = NULL;
}

const char *mc_dkim_result_name(enum mc_dkim_result r)
{
	switch (r) {
	case MC_DKIM_PASS:
		return "pass";
	case MC_DKIM_FAIL:
		return "fail";
	case MC_DKIM_NEUTRAL:
		return "neutral";
	case MC_DKIM_TEMPERROR:
		return "temperror";
	case MC_DKIM_PERMERROR:
		return "permerror";
	case MC_DKIM_NONE:
		break;
	}
	return "none";
}

/* Gives field[0, end) minus its last line end to every handle. */
static int flush_field(struct feeder *f, size_t end, struct mc_error *err)
{
	if (end > 0 && f->field[end - 1] == '\n')
		end--;
	if (end > 0 && f->field[end - 1] == '\r')
		end--;
	if (end == 0)
		return 0;
	for (size_t i = 0; i < f->eds_count; i++)
		mc_dkim_ed_header(f->eds[i], f->field, end);
	for (size_t i = 0; i < f->count; i++) {
		DKIM_STAT st = dkim_header(f->handles[i],
					   (unsigned char *)f->field, end);
		if (st != DKIM_STAT_OK && !f->verify)
			return mc_dkim_lib_error(err, MC_ERR_INVALID,
						 f->handles[i], "header", st);
	}
	return 0;
}

/* Ends the header of every handle: 0, 1 (verifying, no signature), -1. */
static int end_header(struct feeder *f, struct mc_error *err)
{
	int rc = 1;
	for (size_t i = 0; i < f->count; i++) {
		DKIM_STAT st = dkim_eoh(f->handles[i]);
		if (f->verify && st != DKIM_STAT_NOSIG)
			rc = 0;
		else if (!f->verify && st != DKIM_STAT_OK)
			return mc_dkim_lib_error(err, MC_ERR_INVALID,
						 f->handles[i], "header", st);
	}
	return f->verify ? rc : 0;
}

/* Appends c to the pending field; -1 with err when it grows too long. */
static int append(struct feeder *f, char c, struct mc_error *err)
{
	if (f->len == f->cap) {
		if (f->cap >= MC_DKIM_FIELD_MAX) {
			mc_error_set(err, MC_ERR_INVALID,
				     "DKIM: header field longer than %u bytes",
				     (unsigned)MC_DKIM_FIELD_MAX);
			return -1;
		}
		f->cap = f->cap == 0 ? 1024 : f->cap * 2;
		f->field = mc_realloc(f->field, f->cap);
	}
	f->field[f->len++] = c;
	return 0;
}

/* A line of the header was completed in field[line_start, len): an empty
 * line ends the header (returns end_header's 0/1 as 2/3), a line starting
 * with a blank continues the field, any other starts a new one. */
static int header_line(struct feeder *f, struct mc_error *err)
{
	size_t start = f->line_start, n = f->len - start;
	bool empty = n == 1 || (n == 2 && f->field[start] == '\r');
	if (empty) {
		if (flush_field(f, start, err) < 0)
			return -1;
		int rc = end_header(f, err);
		return rc < 0 ? -1 : rc + 2;
	}
	char c = f->field[start];
	if (start > 0 && c != ' ' && c != '\t') {
		if (flush_field(f, start, err) < 0)
			return -1;
		memmove(f->field, f->field + start, n);
		f->len = n;
	}
	f->line_start = f->len;
	return 0;
}

/* Feeds header bytes of buf; *used_r is how many were header. 0 more
 * header wanted, 2 header done (the rest is body), 3 no signature, -1. */
static int feed_header(struct feeder *f, char *buf, size_t n, size_t *used_r,
		       struct mc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		bool bare_lf = buf[i] == '\n' &&
			       (f->len == 0 || f->field[f->len - 1] != '\r');
		if ((bare_lf && append(f, '\r', err) < 0) ||
		    append(f, buf[i], err) < 0)
			return -1;
		if (buf[i] != '\n')
			continue;
		int rc = header_line(f, err);
		if (rc != 0) {
			*used_r = i + 1;
			return rc;
		}
	}
	*used_r = n;
	return 0;
}

/* Copies buf[0, n) into f->body with every bare LF made CRLF; the new
 * length. */
static size_t body_crlf(struct feeder *f, const char *buf, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n' && !f->body_cr)
			f->body[len++] = '\r';
		f->body[len++] = buf[i];
		f->body_cr = buf[i] == '\r';
	}
	return len;
}

/* Feeds body bytes to every handle. */
static int feed_body(struct feeder *f, const char *buf, size_t n,
		     struct mc_error *err)
{
	n = body_crlf(f, buf, n);
	for (size_t i = 0; i < f->eds_count && n > 0; i++)
		mc_dkim_ed_body(f->eds[i], f->body, n);
	for (size_t i = 0; i < f->count && n > 0; i++) {
		DKIM_STAT st =
			dkim_body(f->handles[i], (unsigned char *)f->body, n);
		if (st != DKIM_STAT_OK && !f->verify)
			return mc_dkim_lib_error(err, MC_ERR_INVALID,
						 f->handles[i], "body", st);
	}
	return 0;
}

/* Reads the whole message into f. 0, 1 (no signature), -1. */
static int feed_all(struct feeder *f, mc_dkim_read_fn *read, void *read_ctx,
		    char *buf, struct mc_error *err)
{
	uint64_t offset = 0;
	int state = 0; /* 0 header, 2 body */
	for (;;) {
		ssize_t n = read(read_ctx, buf, MC_DKIM_CHUNK, offset);
		if (n < 0 || n > MC_DKIM_CHUNK) {
			mc_error_set(err, MC_ERR_TEMPORARY,
				     "DKIM: reading the message failed");
			return -1;
		}
		if (n == 0)
			break;
		offset += (uint64_t)n;
		size_t used = 0;
		if (state == 0 &&
		    (state = feed_header(f, buf, (size_t)n, &used, err)) < 0)
			return -1;
		if (state == 3)
			return 1;
		if (state == 2 &&
		    feed_body(f, buf + used, (size_t)n - used, err) < 0)
			return -1;
	}
	if (state != 0)
		return 0;
	/* the message ended inside the header: no body */
	if (flush_field(f, f->len, err) < 0)
		return -1;
	return end_header(f, err);
}

/* Reads the message through f (its targets set): 0, 1, -1. */
static int feed(struct feeder *f, mc_dkim_read_fn *read, void *read_ctx,
		struct mc_error *err)
{
	char *buf = mc_malloc(MC_DKIM_CHUNK);
	f->body = mc_malloc(2 * MC_DKIM_CHUNK);
	int rc = feed_all(f, read, read_ctx, buf, err);
	free(buf);
	free(f->body);
	free(f->field);
	return rc;
}

int mc_dkim_feed(DKIM *const *handles, size_t count, bool verify,
		 mc_dkim_read_fn *read, void *read_ctx, struct mc_error *err)
{
	struct feeder f = {
		.handles = handles, .count = count, .verify = verify};
	return feed(&f, read, read_ctx, err);
}

int mc_dkim_feed_sign(DKIM *const *handles, size_t count,
		      struct mc_dkim_ed *const *eds, size_t eds_count,
		      mc_dkim_read_fn *read, void *read_ctx,
		      struct mc_error *err)
{
	struct feeder f = {.handles = handles,
			   .count = count,
			   .eds = eds,
			   .eds_count = eds_count};
	return feed(&f, read, read_ctx, err);
}
