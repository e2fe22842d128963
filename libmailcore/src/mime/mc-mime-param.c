/* mc-mime-param: Content-Type / Content-Disposition value parsing (RFC 2045
 * 5.1, RFC 2183) with comments, quoted strings and RFC 2231 parameter
 * continuations and charset'lang'%XX values converted to UTF-8 by iconv.
 *   content := type "/" subtype *(";" parameter)
 *   parameter := attribute "=" value ; value := token / quoted-string */
#include "mc-mime-private.h"

#include <iconv.h>
#include <stdlib.h>
#include <string.h>

/* A parameter as written, before RFC 2231 joining. */
struct raw_param {
	char *name; /* base name, lower-case */
	char *value;
	size_t value_len;
	int section; /* -1: none */
	bool ext;    /* "*" suffix: charset'lang'%XX */
};

struct cursor {
	const char *s;
	size_t pos;
};

/* RFC 2045 token character (8-bit bytes tolerated). */
static bool is_token_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skips blanks and (nested, escaped) comments. */
static void skip_cfws(struct cursor *c)
{
	unsigned level = 0;

	for (; c->s[c->pos] != '\0'; c->pos++) {
		char ch = c->s[c->pos];

		if (level > 0 && ch == '\\' && c->s[c->pos + 1] != '\0')
			c->pos++;
		else if (ch == '(')
			level++;
		else if (level > 0 && ch == ')')
			level--;
		else if (level == 0 && ch != ' ' && ch != '\t' && ch != '\r' &&
			 ch != '\n')
			break;
	}
}

/* Reads a token into pool, lower-cased when asked; NULL if none. */
static char *read_token(struct mc_pool *pool, struct cursor *c, bool lower)
{
	size_t start = c->pos;
	char *tok;

	while (is_token_char((unsigned char)c->s[c->pos]))
		c->pos++;
	if (c->pos == start)
		return NULL;
	tok = mc_pstrndup(pool, c->s + start, c->pos - start);
	return lower ? mc_str_lower(tok) : tok;
}

/* Reads a quoted string (cursor on the quote), unescaping backslashes. */
static char *read_quoted(struct mc_pool *pool, struct cursor *c, size_t *len_r)
{
	size_t start = ++c->pos, n = 0;
	char *out = mc_palloc(pool, strlen(c->s + start) + 1);

	for (; c->s[c->pos] != '\0' && c->s[c->pos] != '"'; c->pos++) {
		if (c->s[c->pos] == '\\' && c->s[c->pos + 1] != '\0')
			c->pos++;
		out[n++] = c->s[c->pos];
	}
	if (c->s[c->pos] == '"')
		c->pos++;
	*len_r = n;
	return out;
}

/* Reads a value: quoted string, or token extended leniently up to ';'
 * for unquoted values with blanks ("name=my file.pdf"). */
static char *read_value(struct mc_pool *pool, struct cursor *c, size_t *len_r)
{
	size_t start = c->pos, end;

	if (c->s[c->pos] == '"')
		return read_quoted(pool, c, len_r);
	while (c->s[c->pos] != '\0' && c->s[c->pos] != ';')
		c->pos++;
	end = c->pos;
	while (end > start && (c->s[end - 1] == ' ' || c->s[end - 1] == '\t'))
		end--;
	*len_r = end - start;
	return mc_pstrndup(pool, c->s + start, end - start);
}

/* Splits "name*3*" into base name, section and extended flag. */
static void split_name(struct raw_param *rp)
{
	size_t len = strlen(rp->name);
	char *star;

	rp->section = -1;
	rp->ext = false;
	if (len > 1 && rp->name[len - 1] == '*') {
		rp->ext = true;
		rp->name[--len] = '\0';
	}
	star = strrchr(rp->name, '*');
	if (star == NULL || star == rp->name || star[1] == '\0' ||
	    strspn(star + 1, "0123456789") != strlen(star + 1) ||
	    strlen(star + 1) > 3)
		return;
	rp->section = atoi(star + 1);
	*star = '\0';
}

/* Skips to just past the next ';' (or the end). */
static void skip_to_semicolon(struct cursor *c)
{
	while (c->s[c->pos] != '\0' && c->s[c->pos] != ';')
		c->pos++;
}

/* Parses one "; attr=value"; false at the end of the string. */
static bool parse_one_param(struct mc_pool *pool, struct cursor *c,
			    struct raw_param *rp, bool *ok_r)
{
	*ok_r = false;
	skip_cfws(c);
	if (c->s[c->pos] == '\0')
		return false;
	if (c->s[c->pos] != ';') {
		skip_to_semicolon(c);
		return true;
	}
	c->pos++;
	skip_cfws(c);
	rp->name = read_token(pool, c, true);
	skip_cfws(c);
	if (rp->name == NULL || c->s[c->pos] != '=') {
		skip_to_semicolon(c);
		return true;
	}
	c->pos++;
	skip_cfws(c);
	rp->value = read_value(pool, c, &rp->value_len);
	split_name(rp);
	*ok_r = true;
	return true;
}

/* Converts len bytes from charset to UTF-8; NULL if iconv cannot. */
static char *to_utf8(struct mc_pool *pool, const char *charset, const char *in,
		     size_t len)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	size_t out_size = len * 4 + 1, out_left = out_size - 1, in_left = len;
	char *out, *op, *ip = (char *)in;

	if (cd == (iconv_t)-1)
		return NULL;
	out = mc_palloc(pool, out_size);
	op = out;
	if (iconv(cd, &ip, &in_left, &op, &out_left) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &op, &out_left) == (size_t)-1)
		out = NULL;
	iconv_close(cd);
	return out;
}

/* Decodes %XX escapes in place; returns the new length. */
static size_t percent_decode(char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *h1, *h2;

		if (s[i] == '%' && i + 2 < len && s[i + 1] != '\0' &&
		    s[i + 2] != '\0' &&
		    (h1 = strchr(hex, s[i + 1] | 0x20)) != NULL &&
		    (h2 = strchr(hex, s[i + 2] | 0x20)) != NULL) {
			s[n++] = (char)((h1 - hex) * 16 + (h2 - hex));
			i += 2;
		} else {
			s[n++] = s[i];
		}
	}
	s[n] = '\0';
	return n;
}

/* The raw parameter holding section sec of name, or NULL. */
static struct raw_param *find_section(struct raw_param *rps, unsigned n,
				      const char *name, int sec)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(rps[i].name, name) == 0 &&
		    (rps[i].section == sec ||
		     (sec == 0 && rps[i].section == -1 && rps[i].ext)))
			return &rps[i];
	}
	return NULL;
}

/* Splits "charset'lang'" off an extended first section; returns the
 * charset (NULL if none) and moves *v / *vlen past it. */
static const char *split_charset(char **v, size_t *vlen)
{
	char *q1 = memchr(*v, '\'', *vlen), *q2 = NULL, *charset = *v;

	if (q1 != NULL)
		q2 = memchr(q1 + 1, '\'', *vlen - (size_t)(q1 + 1 - *v));
	if (q2 == NULL)
		return NULL;
	*q1 = '\0';
	*vlen -= (size_t)(q2 + 1 - *v);
	*v = q2 + 1;
	return charset;
}

/* Joins the sections of base name (RFC 2231 3, 4) into a UTF-8 value. */
static char *join_sections(struct mc_pool *pool, struct raw_param *rps,
			   unsigned n, const char *name)
{
	struct mc_buf buf;
	const char *charset = NULL;
	struct raw_param *rp;
	char *res, *conv;

	mc_buf_init(&buf, pool, 0);
	for (int sec = 0; (rp = find_section(rps, n, name, sec)) != NULL;
	     sec++) {
		char *v = rp->value;
		size_t vlen = rp->value_len;

		if (rp->ext && sec == 0)
			charset = split_charset(&v, &vlen);
		if (rp->ext)
			vlen = percent_decode(v, vlen);
		mc_buf_append(&buf, v, vlen);
		if (rp->section == -1)
			break;
	}
	res = buf.data != NULL ? buf.data : mc_pstrdup(pool, "");
	if (charset == NULL || *charset == '\0' ||
	    mc_str_eq_icase(charset, "utf-8") ||
	    mc_str_eq_icase(charset, "us-ascii"))
		return res;
	conv = to_utf8(pool, charset, res, buf.len);
	return conv != NULL ? conv : res;
}

/* True when name is already in the output list. */
static bool have_param(const struct mc_mime_param *out, unsigned n,
		       const char *name)
{
	return mime_param_get(out, n, name) != NULL;
}

/* Builds the final list: one entry per base name, 2231 forms preferred. */
static unsigned build_params(struct mc_pool *pool, struct raw_param *rps,
			     unsigned n, struct mc_mime_param *out)
{
	unsigned count = 0;

	for (unsigned i = 0; i < n; i++) {
		bool rfc2231 = false;

		if (have_param(out, count, rps[i].name))
			continue;
		for (unsigned j = 0; j < n; j++) {
			if (strcmp(rps[j].name, rps[i].name) == 0 &&
			    (rps[j].ext || rps[j].section >= 0))
				rfc2231 = true;
		}
		out[count].name = rps[i].name;
		out[count].value =
			rfc2231 ? join_sections(pool, rps, n, rps[i].name)
				: rps[i].value;
		if (rfc2231 && *out[count].value == '\0')
			out[count].value = rps[i].value;
		count++;
	}
	return count;
}

/* Parses a Content-Type (want_subtype) or Content-Disposition value. */
bool mime_parse_ctype(struct mc_pool *pool, const char *s, bool want_subtype,
		      const char **type_r, const char **subtype_r,
		      struct mc_mime_param **params_r, unsigned *count_r)
{
	struct cursor c = {s, 0};
	struct raw_param *rps;
	unsigned n = 0;
	bool ok;

	*params_r = NULL;
	*count_r = 0;
	skip_cfws(&c);
	*type_r = read_token(pool, &c, true);
	if (*type_r == NULL)
		return false;
	if (want_subtype) {
		skip_cfws(&c);
		if (s[c.pos] != '/')
			return false;
		c.pos++;
		skip_cfws(&c);
		*subtype_r = read_token(pool, &c, true);
		if (*subtype_r == NULL)
			return false;
	}
	rps = mc_palloc_array(pool, MIME_PARAMS_MAX, sizeof(*rps));
	while (n < MIME_PARAMS_MAX && parse_one_param(pool, &c, &rps[n], &ok))
		n += ok ? 1 : 0;
	*params_r = mc_palloc_array(pool, n + 1, sizeof(**params_r));
	*count_r = build_params(pool, rps, n, *params_r);
	return true;
}

/* The value of parameter name, NULL when absent. */
const char *mime_param_get(const struct mc_mime_param *params, unsigned count,
			   const char *name)
{
	for (unsigned i = 0; i < count; i++) {
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}
