/* mc-dkim-private: what the mc-dkim-*.c files share: the handle (one
 * libopendkim library configured once at creation, then only read, so
 * workers may use it at the same time), the signed header list, a growing
 * string, the message feeder that reads a message through the callback and
 * hands it to libopendkim handles and Ed25519 signers, and the Ed25519
 * signer (mc-dkim-ed25519.c, OpenSSL). */
#ifndef MC_DKIM_PRIVATE_H
#define MC_DKIM_PRIVATE_H

#include <dkim.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <time.h>

#include "mailcore/mc-dkim.h"
#include "mailcore/mc-error.h"

#define MC_DKIM_MAX_SIGS  10	       /* signatures verified per message */
#define MC_DKIM_FIELD_MAX (256 * 1024) /* bytes of one header field */
#define MC_DKIM_CHUNK	  (16 * 1024)  /* bytes asked of the reader at once */

struct mc_dkim {
	DKIM_LIB *lib;
	struct mc_dns *dns;
};

struct mc_dkim_ed;

/* A growing NUL-terminated string (data malloc'd, NULL when empty). */
struct mc_dkim_buf {
	char *data;
	size_t len, cap;
};

/* Appends n bytes of s to b. */
void mc_dkim_buf_add(struct mc_dkim_buf *b, const char *s, size_t n);

/* Header field names signed when present, lowercase, NULL-terminated
 * (RFC 6376 5.4.1), and those also signed once more than present
 * (oversigned: an added one breaks the signature). */
extern const char *const mc_dkim_sign_headers[];
extern const char *const mc_dkim_oversign_headers[]; /* among the above */

/* The index in mc_dkim_sign_headers of the name of field (raw, "Name:
 * value"), or -1 when it is not signed; *name_len_r is the length of the
 * name as spelled in field. A name with blanks before the colon (obsolete
 * syntax) is not signed: libopendkim's verifier would not find it. */
int mc_dkim_signed_index(const char *field, size_t len, size_t *name_len_r);

/* The private key of a PEM text (PKCS#8 or traditional, unencrypted) if
 * it is one of type (EVP_PKEY_RSA, EVP_PKEY_ED25519), else NULL. The
 * caller frees it. */
EVP_PKEY *mc_dkim_load_key(const char *pem, int type);

/* Installs the verifier's callbacks (key lookup, prescreen) into lib. */
void mc_dkim_verify_setup(DKIM_LIB *lib);

/* Reads the message and feeds it to the count handles: each header field
 * (with its inner line breaks, without the last), the end of the header,
 * the body in chunks, bare LF line ends made CRLF; dkim_eom is left to
 * the caller. When verifying, libopendkim's complaints about header
 * fields are ignored (they show in the signatures' results). 0 when all
 * was fed, 1 when verifying and the header has no signature (nothing
 * more fed), -1 with err: MC_ERR_TEMPORARY when reading failed,
 * MC_ERR_INVALID when a field is too long or (signing) libopendkim
 * refused the message. */
int mc_dkim_feed(DKIM *const *handles, size_t count, bool verify,
		 mc_dkim_read_fn *read, void *read_ctx, struct mc_error *err);

/* mc_dkim_feed for signing: the message is read once and fed to the
 * libopendkim handles and to the Ed25519 signers eds alike. */
int mc_dkim_feed_sign(DKIM *const *handles, size_t count,
		      struct mc_dkim_ed *const *eds, size_t eds_count,
		      mc_dkim_read_fn *read, void *read_ctx,
		      struct mc_error *err);

/* Sets err (cls) to "DKIM what: libopendkim's reason" and returns -1. */
int mc_dkim_lib_error(struct mc_error *err, enum mc_error_class cls,
		      DKIM *handle, const char *what, DKIM_STAT st);

/* An ed25519-sha256 signer (RFC 8463) for key (its private_key an
 * Ed25519 PKCS#8 PEM; domain and selector are used, not copied), or NULL
 * with err (MC_ERR_INVALID). */
struct mc_dkim_ed *mc_dkim_ed_create(const struct mc_dkim_key *key,
				     struct mc_error *err);
void mc_dkim_ed_destroy(struct mc_dkim_ed **ed);

/* One header field, raw, with its inner line breaks, without the last. */
void mc_dkim_ed_header(struct mc_dkim_ed *ed, const char *field, size_t len);

/* Body bytes, CRLF line ends, in any chunking. */
void mc_dkim_ed_body(struct mc_dkim_ed *ed, const char *data, size_t len);

/* Ends the message and appends the DKIM-Signature field (t=now, folded
 * with CRLF + TAB, ending in CRLF) to out. 0, or -1 with err. */
int mc_dkim_ed_finish(struct mc_dkim_ed *ed, time_t now,
		      struct mc_dkim_buf *out, struct mc_error *err);

#endif
