/* mc-authres: Authentication-Results (RFC 8601): collects results, writes
 * them in the section 2.2 grammar (keywords, token / addr-spec / quoted-
 * string values, sanitized reasons and comments), folds the field at
 * word boundaries, and recognizes forged fields of our authserv-id
 * (section 5) one header field at a time. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-authres.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#define TAB_WIDTH 8

/* ptype.property=value of a result. */
struct prop {
	struct prop *next;
	const char *ptype, *property, *value;
};

/* One method=result with its reason, comment and properties. */
struct result {
	struct result *next;
	const char *method, *result, *reason, *comment;
	struct prop *props, **props_tail;
};

struct mc_authres {
	struct mc_pool *pool;
	const char *authserv_id;
	struct result *results, **tail;
	struct result *last; /* NULL after a refused add */
};

/* The field being written: output and current column. */
struct folder {
	struct mc_buf out;
	size_t col;
	bool first;
};

/* A builder for one field. */
struct mc_authres *mc_authres_create(struct mc_pool *pool,
				     const char *authserv_id)
{
	struct mc_authres *ar = mc_palloc(pool, sizeof(*ar));

	ar->pool = pool;
	ar->authserv_id = mc_pstrdup(pool, authserv_id);
	ar->tail = &ar->results;
	return ar;
}

/* keyword = ALPHA / DIGIT / "-" / "_" runs (RFC 8601 2.2, as methods,
 * results, ptypes and properties are registered). */
static bool keyword_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	}
	return true;
}

/* Starts a result. */
bool mc_authres_add(struct mc_authres *ar, const char *method,
		    const char *result)
{
	if (!keyword_ok(method) || !keyword_ok(result)) {
		ar->last = NULL;
		return false;
	}
	struct result *r = mc_palloc(ar->pool, sizeof(*r));
	r->method = mc_str_lower(mc_pstrdup(ar->pool, method));
	r->result = mc_str_lower(mc_pstrdup(ar->pool, result));
	r->props_tail = &r->props;
	*ar->tail = r;
	ar->tail = &r->next;
	ar->last = r;
	return true;
}

/* Free text made safe for a quoted string or comment: printable ASCII,
 * single spaces, trimmed, at most MC_AUTHRES_REASON_MAX bytes; NULL for
 * empty text. */
static const char *sanitize(struct mc_pool *pool, const char *s)
{
	char *out = mc_palloc(pool, MC_AUTHRES_REASON_MAX + 1);
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o < MC_AUTHRES_REASON_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		else if (c >= 0x80)
			c = '?';
		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o > 0 ? out : NULL;
}

/* Sets the reason of the last result. */
void mc_authres_reason(struct mc_authres *ar, const char *reason)
{
	if (ar->last != NULL)
		ar->last->reason = sanitize(ar->pool, reason);
}

/* Sets the comment of the last result. */
void mc_authres_comment(struct mc_authres *ar, const char *comment)
{
	if (ar->last != NULL)
		ar->last->comment = sanitize(ar->pool, comment);
}

/* Adds a property to the last result. */
void mc_authres_prop(struct mc_authres *ar, const char *ptype,
		     const char *property, const char *value)
{
	struct result *r = ar->last;

	if (r == NULL || value == NULL || !keyword_ok(ptype) ||
	    !keyword_ok(property))
		return;
	struct prop *p = mc_palloc(ar->pool, sizeof(*p));
	p->ptype = mc_str_lower(mc_pstrdup(ar->pool, ptype));
	p->property = mc_str_lower(mc_pstrdup(ar->pool, property));
	p->value = mc_pstrdup(ar->pool, value);
	*r->props_tail = p;
	r->props_tail = &p->next;
}

/* spf=result smtp.mailfrom= (or smtp.helo=). */
void mc_authres_add_spf(struct mc_authres *ar, const char *result,
			const char *mailfrom, const char *helo)
{
	if (!mc_authres_add(ar, "spf", result))
		return;
	if (mailfrom != NULL && *mailfrom != '\0')
		mc_authres_prop(ar, "smtp", "mailfrom", mailfrom);
	else
		mc_authres_prop(ar, "smtp", "helo", helo);
}

/* dkim=result header.d= header.s= header.a=. */
void mc_authres_add_dkim(struct mc_authres *ar, const struct mc_dkim_sig *sig)
{
	if (!mc_authres_add(ar, "dkim", mc_dkim_result_name(sig->result)))
		return;
	if (sig->result != MC_DKIM_PASS)
		mc_authres_reason(ar, sig->reason);
	mc_authres_prop(ar, "header", "d", sig->domain);
	mc_authres_prop(ar, "header", "s", sig->selector);
	mc_authres_prop(ar, "header", "a", sig->algorithm);
}

/* dmarc=result (p= dis=) header.from=. */
void mc_authres_add_dmarc(struct mc_authres *ar,
			  const struct mc_dmarc_verdict *v)
{
	if (!mc_authres_add(ar, "dmarc", mc_dmarc_result_name(v->result)))
		return;
	if (v->policy_domain != NULL)
		mc_authres_comment(
			ar, mc_psprintf(ar->pool, "p=%s dis=%s",
					mc_dmarc_policy_name(v->requested),
					mc_dmarc_policy_name(v->policy)));
	if (v->result != MC_DMARC_PASS)
		mc_authres_reason(ar, v->reason);
	mc_authres_prop(ar, "header", "from", v->header_from);
}

/* ---- writing ---- */

/* RFC 2045 token characters: printable ASCII but tspecials. */
static bool token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A non-empty run of token characters. */
static bool is_token(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!token_char((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* dot-atom-text (RFC 5322 3.2.3) of len bytes. */
static bool is_dot_atom(const char *s, size_t len)
{
	static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' && s[i + 1] == '.')
			return false;
		if (c != '.' && !isalnum(c) &&
		    strchr(atext_specials, c) == NULL)
			return false;
	}
	return true;
}

/* domain-name: letters, digits, '-' and single dots. */
static bool is_domain(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' && s[i + 1] == '.')
			return false;
		if (c != '.' && c != '-' && !isalnum(c))
			return false;
	}
	return true;
}

/* pvalue's [ [ local-part ] "@" ] domain-name form, with a dot-atom
 * local-part. */
static bool is_addr_spec(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL)
		return false;
	if (at > s && !is_dot_atom(s, (size_t)(at - s)))
		return false;
	return is_domain(at + 1, strlen(at + 1));
}

/* Writes word (len bytes) after a blank, folding before it when it does
 * not fit: fold_ws is the blank a fold line starts with ('\t' between
 * elements, ' ' inside a quoted string where the blank is content). */
static void fold_word(struct folder *f, const char *word, size_t len,
		      char fold_ws)
{
	if (f->first) {
		f->first = false;
	} else if (f->col + 1 + len > MC_AUTHRES_LINE_MAX) {
		mc_buf_append_str(&f->out, "\r\n");
		mc_buf_append_c(&f->out, fold_ws);
		f->col = fold_ws == '\t' ? TAB_WIDTH : 1;
	} else {
		mc_buf_append_c(&f->out, ' ');
		f->col++;
	}
	mc_buf_append(&f->out, word, len);
	f->col += len;
}

/* Appends c to b, backslash-escaped when it is one of esc. */
static void add_escaped(struct mc_buf *b, char c, const char *esc)
{
	if (strchr(esc, c) != NULL)
		mc_buf_append_c(b, '\\');
	mc_buf_append_c(b, c);
}

/* Writes prefix + open + text + close + suffix as words split at the
 * blanks of text (already sanitized); esc lists the characters to
 * escape. The blanks are content, so folds there keep them. */
static void write_quoted(struct folder *f, struct mc_pool *pool,
			 const char *prefix, char open, const char *text,
			 char close, const char *suffix, const char *esc)
{
	struct mc_buf w;
	bool first_word = true;

	mc_buf_init(&w, pool, 0);
	mc_buf_append_str(&w, prefix);
	mc_buf_append_c(&w, open);
	for (const char *p = text;; p++) {
		if (*p != ' ' && *p != '\0') {
			add_escaped(&w, *p, esc);
			continue;
		}
		if (*p == '\0') {
			mc_buf_append_c(&w, close);
			mc_buf_append_str(&w, suffix);
		}
		fold_word(f, w.data, w.len, first_word ? '\t' : ' ');
		first_word = false;
		mc_buf_clear(&w);
		if (*p == '\0')
			break;
	}
}

/* Writes prefix + value (token, addr-spec or quoted-string) + suffix. */
static void write_value(struct folder *f, struct mc_pool *pool,
			const char *prefix, const char *value, bool addr_ok,
			const char *suffix)
{
	const char *s;

	if (is_token(value, strlen(value)) ||
	    (addr_ok && is_addr_spec(value))) {
		s = mc_psprintf(pool, "%s%s%s", prefix, value, suffix);
		fold_word(f, s, strlen(s), '\t');
		return;
	}
	s = sanitize(pool, value);
	write_quoted(f, pool, prefix, '"', s != NULL ? s : "", '"', suffix,
		     "\"\\");
}

/* Writes one resinfo, with a ';' after it unless it is the last. */
static void write_result(struct folder *f, struct mc_pool *pool,
			 const struct result *r)
{
	const char *sep = r->next != NULL ? ";" : "";
	bool more = r->comment != NULL || r->reason != NULL || r->props != NULL;
	const char *s = mc_psprintf(pool, "%s=%s%s", r->method, r->result,
				    more ? "" : sep);

	fold_word(f, s, strlen(s), '\t');
	if (r->comment != NULL)
		write_quoted(f, pool, "", '(', r->comment, ')',
			     r->reason != NULL || r->props != NULL ? "" : sep,
			     "()\\");
	if (r->reason != NULL)
		write_quoted(f, pool, "reason=", '"', r->reason, '"',
			     r->props != NULL ? "" : sep, "\"\\");
	for (const struct prop *p = r->props; p != NULL; p = p->next) {
		const char *pre =
			mc_psprintf(pool, "%s.%s=", p->ptype, p->property);
		write_value(f, pool, pre, p->value, true,
			    p->next != NULL ? "" : sep);
	}
}

/* The folded field value. */
const char *mc_authres_value(struct mc_authres *ar)
{
	struct folder f = {.col = strlen(MC_AUTHRES_FIELD ": "), .first = true};

	mc_buf_init(&f.out, ar->pool, 0);
	write_value(&f, ar->pool, "", ar->authserv_id, false, ";");
	if (ar->results == NULL)
		fold_word(&f, "none", 4, '\t');
	for (const struct result *r = ar->results; r != NULL; r = r->next)
		write_result(&f, ar->pool, r);
	return mc_buf_cstr(&f.out);
}

/* ---- forged fields (RFC 8601 section 5) ---- */

/* Skips CFWS: blanks, line ends and (nested, escaped) comments. */
static const char *skip_cfws(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (depth > 0 && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (depth > 0 && *p == ')')
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\r' &&
			 *p != '\n')
			break;
	}
	return p;
}

/* Matches a quoted-string at p against id (case-insensitive); the end of
 * the string in *end_r. */
static bool quoted_matches(const char *p, const char *end, const char *id,
			   const char **end_r)
{
	size_t i = 0;
	bool same = true;

	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (*p == '\r' || *p == '\n')
			continue; /* folding inside the string */
		same = same && id[i] != '\0' &&
		       tolower((unsigned char)*p) ==
			       tolower((unsigned char)id[i]);
		if (id[i] != '\0')
			i++;
	}
	*end_r = p < end ? p + 1 : p;
	return p < end && same && id[i] == '\0';
}

/* Matches the authserv-id value at p (token or quoted-string) against id;
 * *end_r is where the value ends. */
static bool id_matches(const char *p, const char *end, const char *id,
		       const char **end_r)
{
	size_t len = strlen(id);
	const char *q = p;

	if (p < end && *p == '"')
		return quoted_matches(p, end, id, end_r);
	while (q < end && token_char((unsigned char)*q))
		q++;
	*end_r = q;
	return (size_t)(q - p) == len && strncasecmp(p, id, len) == 0;
}

/* True for the end of the authserv-id: the end, CFWS or ';'. */
static bool id_boundary(const char *p, const char *end)
{
	return p == end || *p == ';' || *p == '(' || *p == ' ' || *p == '\t' ||
	       *p == '\r' || *p == '\n';
}

/* Our authserv-id at the start of an Authentication-Results field. */
bool mc_authres_is_forged(const char *authserv_id, const char *name,
			  size_t name_len, const char *value, size_t value_len)
{
	const char *end = value + value_len, *p, *id_end;
	size_t flen = strlen(MC_AUTHRES_FIELD);

	while (name_len > 0 &&
	       (name[name_len - 1] == ' ' || name[name_len - 1] == '\t'))
		name_len--;
	if (authserv_id == NULL || *authserv_id == '\0' || name_len != flen ||
	    strncasecmp(name, MC_AUTHRES_FIELD, flen) != 0)
		return false;
	p = skip_cfws(value, end);
	if (!id_matches(p, end, authserv_id, &id_end))
		return false;
	return *p == '"' || id_boundary(id_end, end);
}
