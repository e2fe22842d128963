/* mc-authres: the Authentication-Results header field (RFC 8601): a
 * builder for the one field the filter pipeline adds (results of SPF,
 * DKIM, DMARC... as method=result, reason="..." and ptype.property=value,
 * values written as tokens or quoted strings, folded with CRLF + TAB),
 * and the per-field test that finds forged copies claiming our
 * authserv-id (section 5) so a streaming pipeline can drop them. No
 * shared state: thread-safe. */
#ifndef MC_AUTHRES_H
#define MC_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

struct mc_dkim_sig;
struct mc_dmarc_verdict;
struct mc_pool;
struct mc_authres;

#define MC_AUTHRES_FIELD "Authentication-Results"
/* Longest line written (tabs count 8 columns), the field name included. */
#define MC_AUTHRES_LINE_MAX 78
/* Longest reason kept (bytes after sanitizing; longer ones are cut). */
#define MC_AUTHRES_REASON_MAX 200

/* A builder for one field, allocated from pool (freed with it).
 * authserv_id is normally the host name of the MTA. */
struct mc_authres *mc_authres_create(struct mc_pool *pool,
				     const char *authserv_id);

/* Starts a result "method=result": both keywords (RFC 8601 2.2: letters,
 * digits, '-', '_'; lowercased). False (nothing added, the following
 * reason and properties are ignored) for an invalid keyword. */
bool mc_authres_add(struct mc_authres *ar, const char *method,
		    const char *result);
/* Sets the reason of the last result: control characters become spaces,
 * runs of blanks one space, non-ASCII bytes '?', cut at
 * MC_AUTHRES_REASON_MAX; NULL or "" means none. */
void mc_authres_reason(struct mc_authres *ar, const char *reason);
/* Sets a comment after the last result's "method=result", sanitized
 * like a reason (parentheses and backslashes escaped). */
void mc_authres_comment(struct mc_authres *ar, const char *comment);
/* Adds "ptype.property=value" to the last result (e.g. "smtp",
 * "mailfrom", "a@b.example"); value is written as a token, as an
 * addr-spec when it is one, or as a quoted-string. Ignored when value is
 * NULL or a keyword is invalid. */
void mc_authres_prop(struct mc_authres *ar, const char *ptype,
		     const char *property, const char *value);

/* spf=<result> with smtp.mailfrom=<mailfrom>, or smtp.helo=<helo> when
 * mailfrom is NULL or "" (a null reverse-path). */
void mc_authres_add_spf(struct mc_authres *ar, const char *result,
			const char *mailfrom, const char *helo);
/* dkim=<result> header.d= header.s= header.a=, reason= on failure. */
void mc_authres_add_dkim(struct mc_authres *ar, const struct mc_dkim_sig *sig);
/* dmarc=<result> "(p=<requested> dis=<applied>)" when a record was
 * found, reason= unless it passed, header.from=. */
void mc_authres_add_dmarc(struct mc_authres *ar,
			  const struct mc_dmarc_verdict *v);

/* The field value: "authserv-id; method=result ...; ..." or
 * "authserv-id; none" without results, folded so that no line of
 * "Authentication-Results: <value>" passes MC_AUTHRES_LINE_MAX columns
 * unless one word is longer; no CRLF at the end. From the builder's pool. */
const char *mc_authres_value(struct mc_authres *ar);

/* True when the header field (name as written before the colon, value
 * after it, folded or not) is an Authentication-Results field whose
 * authserv-id is authserv_id (case-insensitive; CFWS before it and a
 * version number after it, as in the RFC 5451 "id 1;" form, allowed):
 * a forgery the pipeline must remove (RFC 8601 section 5). Fields of
 * other authserv-ids, and values that only mention the id later, are
 * kept. For several ids of our own, call once per id. */
bool mc_authres_is_forged(const char *authserv_id, const char *name,
			  size_t name_len, const char *value, size_t value_len);

#endif
