/* mc-smtp-server-path: the SMTP address grammar of RFC 5321 4.1.2 (paths,
 * source routes, dot-strings, quoted local parts, domains and address
 * literals) with RFC 6531 UTF-8, ESMTP parameters and RFC 3461 xtext. */
#include "mc-smtp-server-private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#define MAX_LOCAL   64
#define MAX_ADDRESS 254

/* Let-dig = ALPHA / DIGIT, with UTF-8 octets for U-labels. */
static bool let_dig(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* Domain = sub-domain *("." sub-domain)
 * sub-domain = Let-dig [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig */
bool smtp_domain_valid(const char *d, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
		} else if (let_dig(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && d[len - 1] != '-';
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 *                   General-address-literal ) "]"
 * General-address-literal = Standardized-tag ":" 1*dcontent */
bool smtp_addr_literal_valid(const char *d, size_t len)
{
	char buf[64];
	unsigned char addr[16];
	const char *colon;

	if (len < 3 || d[0] != '[' || d[len - 1] != ']' || len - 2 >= 64)
		return false;
	memcpy(buf, d + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	if (inet_pton(AF_INET, buf, addr) == 1)
		return true;
	colon = strchr(buf, ':');
	if (colon == NULL || colon == buf || colon[1] == '\0' ||
	    !smtp_domain_valid(buf, (size_t)(colon - buf)))
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < 33 || *p > 126 || *p == '[' || *p == '\\' || *p == ']')
			return false;
	}
	return true;
}

/* True if s is well-formed UTF-8 (no overlongs, no surrogates). */
bool smtp_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = c < 0x80		    ? 0
			   : c >= 0xc2 && c <= 0xdf ? 1
			   : c >= 0xe0 && c <= 0xef ? 2
			   : c >= 0xf0 && c <= 0xf4 ? 3
						    : 9;
		unsigned cp = n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;

		if (n == 9 || i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 &&
		     (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n + 1;
	}
	return true;
}

/* atext = ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~", UTF-8 octets (RFC 6531) */
static bool atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c);
}

/* Local-part = Dot-string / Quoted-string; Dot-string = Atom *("." Atom)
 * Quoted-string = DQUOTE *QcontentSMTP DQUOTE
 * QcontentSMTP = qtextSMTP / quoted-pairSMTP; quoted-pairSMTP = "\" %d32-126
 * qtextSMTP = %d32-33 / %d35-91 / %d93-126. Unquoted copy into out. */
static const char *parse_local(const char *p, struct mc_buf *out)
{
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '\\' && p[1] >= 32 && p[1] <= 126)
				c = (unsigned char)*++p;
			else if (c < 32 || c == 127 || c == '\\')
				return NULL;
			mc_buf_append_c(out, (char)c);
		}
		return p + 1;
	}
	for (bool dot_ok = false;; p++) {
		if (*p == '.' && dot_ok)
			dot_ok = false;
		else if (*p != '\0' && *p != '.' && atext((unsigned char)*p))
			dot_ok = true;
		else
			return dot_ok ? p : NULL;
		mc_buf_append_c(out, *p);
	}
}

/* A-d-l = At-domain *( "," At-domain ) ":"  (tolerated and dropped) */
static const char *skip_route(const char *p)
{
	const char *end;

	while (*p == '@') {
		end = p + 1 + strcspn(p + 1, ",:>");
		if (!smtp_domain_valid(p + 1, (size_t)(end - p - 1)))
			return NULL;
		p = *end == ',' ? end + 1 : end;
	}
	return *p == ':' ? p + 1 : NULL;
}

/* Fills r from the mailbox [start, end) after the route. */
static unsigned parse_mailbox(struct mc_pool *pool, const char *p,
			      enum path_kind kind,
			      struct mc_smtp_server_path *r, const char **end_r)
{
	struct mc_buf local;
	const char *start = p, *dom;

	mc_buf_init(&local, pool, 0);
	if ((p = parse_local(p, &local)) == NULL)
		return 501;
	r->local = mc_buf_cstr(&local);
	if (*p == '>' && kind == PATH_FORWARD &&
	    mc_str_eq_icase(r->local, "postmaster")) {
		*end_r = p;
		r->address = mc_pstrndup(pool, start, (size_t)(p - start));
		return 0;
	}
	if (*p != '@' || p - start > MAX_LOCAL)
		return *p != '@' ? 501 : 553;
	dom = ++p;
	p += strcspn(p, ">");
	if (*p != '>' || (!smtp_domain_valid(dom, (size_t)(p - dom)) &&
			  !smtp_addr_literal_valid(dom, (size_t)(p - dom))))
		return 501;
	if (p - start > MAX_ADDRESS)
		return 553;
	r->domain = mc_pstrndup(pool, dom, (size_t)(p - dom));
	r->address = mc_pstrndup(pool, start, (size_t)(p - start));
	*end_r = p;
	return 0;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">"; Reverse-path = Path / "<>" */
unsigned smtp_parse_path(struct mc_pool *pool, const char **pp,
			 enum path_kind kind, struct mc_smtp_server_path *r,
			 const char **enh_r, const char **text_r)
{
	const char *p = *pp, *end = NULL;
	unsigned code = 501;

	memset(r, 0, sizeof(*r));
	*enh_r = kind == PATH_REVERSE ? "5.1.7" : "5.1.3";
	*text_r = "Bad address syntax";
	if (*p++ != '<')
		return 501;
	if (*p == '>' && kind == PATH_REVERSE) {
		r->address = r->local = "";
		*pp = p + 1;
		return 0;
	}
	if (*p == '@' && (p = skip_route(p)) == NULL)
		return 501;
	code = parse_mailbox(pool, p, kind, r, &end);
	if (code == 553) {
		*enh_r = "5.1.3";
		*text_r = "Address too long";
	}
	if (code != 0)
		return code;
	for (const char *c = r->address; *c != '\0'; c++)
		r->utf8 |= (unsigned char)*c >= 0x80;
	if (r->utf8 && !smtp_utf8_valid(r->address, strlen(r->address)))
		return 501;
	*pp = end + 1;
	return 0;
}

/* esmtp-param = esmtp-keyword ["=" esmtp-value]
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
 * *p is at the keyword; key and value are terminated in place and *p
 * moves to the next keyword (blanks skipped). */
bool smtp_esmtp_param(char **pp, char **key_r, char **value_r)
{
	char *p = *pp;

	*key_r = p;
	*value_r = NULL;
	if (!isalnum((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '-')
		p++;
	if (*p == '=') {
		*p++ = '\0';
		*value_r = p;
		while ((unsigned char)*p > 32 && *p != '=' && *p != 127)
			p++;
		if (p == *value_r)
			return false;
	}
	if (*p == ' ') {
		*p++ = '\0';
		while (*p == ' ')
			p++;
	} else if (*p != '\0') {
		return false;
	}
	*pp = p;
	return true;
}

/* xtext = *( xchar / hexchar ); xchar = %d33-42 / %d44-60 / %d62-126
 * hexchar = "+" 2(%x30-39 / %x41-46); NULL on bad syntax or NUL. */
char *smtp_xtext_decode(struct mc_pool *pool, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = mc_palloc(pool, strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		const char *h1, *h2;

		if (*s != '+') {
			if (*s < 33 || *s > 126 || *s == '=')
				return NULL;
			*o++ = *s;
			continue;
		}
		if (s[1] == '\0' || s[2] == '\0' ||
		    (h1 = strchr(hex, s[1])) == NULL ||
		    (h2 = strchr(hex, s[2])) == NULL ||
		    (h1 == hex && h2 == hex))
			return NULL;
		*o++ = (char)((h1 - hex) * 16 + (h2 - hex));
		s += 2;
	}
	*o = '\0';
	return out;
}
