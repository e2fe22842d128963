/* mc-imap-write: IMAP response strings: astring/string/nstring in atom,
 * quoted or literal form, flag lists, and modified UTF-7 mailbox names
 * (RFC 3501 5.1.3: printable ASCII stands for itself, "&" is "&-", the
 * rest is UTF-16 in BASE64 with "," for "/" between "&" and "-"). */
#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-str.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define MAX_QUOTED 1000

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* ASTRING-CHAR = ATOM-CHAR / resp-specials */
static bool astring_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

/* Decodes one UTF-8 sequence at s (strict: shortest form, no surrogates,
 * <= U+10FFFF); its length, 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n = s[0] < 0x80			  ? 1
		   : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		   : (s[0] & 0xf0) == 0xe0	  ? 3
		   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						  : 0;
	uint32_t cp;

	if (n == 0 || n > len)
		return 0;
	cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

/* True when s[0..len) may be a quoted string. */
static bool quotable(const char *s, size_t len, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	if (len > MAX_QUOTED)
		return false;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] < 0x80 ? 1 : 0;

		if (u[i] == '\0' || u[i] == '\r' || u[i] == '\n')
			return false;
		if (n == 0 &&
		    (!utf8 || (n = utf8_decode(u + i, len - i, &cp)) == 0))
			return false;
		i += n;
	}
	return true;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE, or literal = "{" number "}" CRLF
 * *CHAR8. */
bool mc_imap_write_string(struct mc_buf *out, const char *s, size_t len,
			  bool utf8)
{
	bool ok = true;

	if (!quotable(s, len, utf8))
		return mc_buf_printf(out, "{%zu}\r\n", len) &&
		       mc_buf_append(out, s, len);
	ok = mc_buf_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			ok = mc_buf_append_c(out, '\\') && ok;
		ok = mc_buf_append_c(out, s[i]) && ok;
	}
	return mc_buf_append_c(out, '"') && ok;
}

/* nstring = string / nil */
bool mc_imap_write_nstring(struct mc_buf *out, const char *s, size_t len,
			   bool utf8)
{
	if (s == NULL)
		return mc_buf_append_str(out, "NIL");
	return mc_imap_write_string(out, s, len, utf8);
}

/* astring = 1*ASTRING-CHAR / string */
bool mc_imap_write_atom_or_string(struct mc_buf *out, const char *s, bool utf8)
{
	size_t len = strlen(s);
	bool atom = len > 0 && strcasecmp(s, "NIL") != 0;

	for (size_t i = 0; atom && i < len; i++)
		atom = astring_char((unsigned char)s[i]);
	if (atom)
		return mc_buf_append(out, s, len);
	return mc_imap_write_string(out, s, len, utf8);
}

/* flag-keyword = atom (ATOM-CHAR: no "]" either) */
static bool keyword_ok(const char *kw)
{
	if (*kw == '\0')
		return false;
	for (; *kw != '\0'; kw++)
		if (!astring_char((unsigned char)*kw) || *kw == ']')
			return false;
	return true;
}

/* flag-list = "(" [flag *(SP flag)] ")" */
bool mc_imap_write_flags(struct mc_buf *out, unsigned system_flags,
			 const char *const *keywords, size_t n)
{
	static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged",
					    "\\Deleted", "\\Draft"};
	bool ok = mc_buf_append_c(out, '('), first = true;

	for (size_t i = 0; i < 5; i++) {
		if ((system_flags & (1u << i)) == 0)
			continue;
		if (!first)
			ok = mc_buf_append_c(out, ' ') && ok;
		ok = mc_buf_append_str(out, names[i]) && ok;
		first = false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!keyword_ok(keywords[i]))
			continue;
		if (!first)
			ok = mc_buf_append_c(out, ' ') && ok;
		ok = mc_buf_append_str(out, keywords[i]) && ok;
		first = false;
	}
	return mc_buf_append_c(out, ')') && ok;
}

/* The BASE64 bits of one UTF-16 unit. */
static void b64_unit(struct mc_buf *out, uint32_t unit, uint32_t *bits,
		     unsigned *nbits)
{
	*bits = (*bits << 16) | unit;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		mc_buf_append_c(out, b64[(*bits >> *nbits) & 0x3f]);
	}
	*bits &= (1u << *nbits) - 1;
}

/* Encodes the run of non-printable characters at *s as "&...-". */
static bool encode_run(const unsigned char **s, struct mc_buf *out)
{
	const unsigned char *p = *s;
	uint32_t bits = 0, cp;
	unsigned nbits = 0;

	mc_buf_append_c(out, '&');
	while (*p != '\0' && (*p < 0x20 || *p > 0x7e)) {
		size_t n = utf8_decode(p, strlen((const char *)p), &cp);

		if (n == 0)
			return false;
		p += n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			b64_unit(out, 0xd800 | (cp >> 10), &bits, &nbits);
			cp = 0xdc00 | (cp & 0x3ff);
		}
		b64_unit(out, cp, &bits, &nbits);
	}
	if (nbits > 0)
		mc_buf_append_c(out, b64[(bits << (6 - nbits)) & 0x3f]);
	*s = p;
	return mc_buf_append_c(out, '-');
}

/* UTF-8 to modified UTF-7. */
bool mc_imap_utf7_encode(const char *utf8, struct mc_buf *out)
{
	const unsigned char *s = (const unsigned char *)utf8;

	while (*s != '\0') {
		if (*s >= 0x20 && *s <= 0x7e) {
			if (*s == '&')
				mc_buf_append_str(out, "&-");
			else
				mc_buf_append_c(out, (char)*s);
			s++;
		} else if (!encode_run(&s, out)) {
			return false;
		}
	}
	return true;
}

/* Appends code point cp as UTF-8. */
static void utf8_put(struct mc_buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		n = 4;
	}
	for (size_t i = 1; i < n; i++)
		b[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
	mc_buf_append(out, b, n);
}

/* One decoded UTF-16 unit; false when the sequence is invalid. */
static bool decode_unit(struct mc_buf *out, uint32_t u, uint32_t *high)
{
	uint32_t cp = u;

	if (*high != 0) {
		if (u < 0xdc00 || u > 0xdfff)
			return false;
		cp = 0x10000 + ((*high - 0xd800) << 10) + (u - 0xdc00);
		*high = 0;
	} else if (u >= 0xd800 && u <= 0xdbff) {
		*high = u;
		return true;
	} else if (u >= 0xdc00 && u <= 0xdfff) {
		return false;
	}
	if (cp == 0 || (cp >= 0x20 && cp <= 0x7e))
		return false; /* printable ASCII must stand for itself */
	utf8_put(out, cp);
	return true;
}

/* Decodes the BASE64 part of "&...-" at *s (after "&"). */
static bool decode_run(const char **s, struct mc_buf *out)
{
	const char *p = *s;
	uint32_t bits = 0, high = 0;
	unsigned nbits = 0;

	for (; *p != '-'; p++) {
		const char *v = *p != '\0' ? strchr(b64, *p) : NULL;

		if (v == NULL)
			return false;
		bits = (bits << 6) | (uint32_t)(v - b64);
		nbits += 6;
		if (nbits >= 16) {
			nbits -= 16;
			if (!decode_unit(out, (bits >> nbits) & 0xffff, &high))
				return false;
			bits &= (1u << nbits) - 1;
		}
	}
	*s = p + 1;
	/* minimal: fewer than 6 bits left over, and those zero */
	return nbits < 6 && bits == 0 && high == 0;
}

/* Modified UTF-7 to UTF-8. */
bool mc_imap_utf7_decode(const char *mutf7, struct mc_buf *out)
{
	const char *s = mutf7;
	bool after_run = false;

	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			mc_buf_append_c(out, (char)c);
			s++;
			after_run = false;
		} else if (s[1] == '-') {
			mc_buf_append_c(out, '&');
			s += 2;
			after_run = false;
		} else {
			s++;
			if (after_run || *s == '-' || !decode_run(&s, out))
				return false;
			after_run = true;
		}
	}
	return true;
}
