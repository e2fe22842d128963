/* mc-spamrules-text: the text the body rules see. Appending UTF-8 under
 * a byte cap without splitting a character, a small HTML-to-text pass
 * (tags, comments, <script> and <style> dropped, entities decoded, block
 * tags turned into line breaks) and the links the uri rules match. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-pool.h"
#include "mc-spamrules-private.h"

#define ENTITY_MAX   12 /* "&#x10FFFF;" fits */
#define TAG_NAME_MAX 16

/* Output of the HTML pass: the buffer and whether it was cut. */
struct html_out {
	struct mc_buf *buf;
	bool whole;
};

/* Appends len bytes of UTF-8 to buf up to its max, cut at a character
 * boundary; false when something was cut. */
bool text_append(struct mc_buf *buf, const char *s, size_t len)
{
	size_t room = buf->max > buf->len ? buf->max - buf->len : 0;
	if (buf->max == 0 || len <= room) {
		mc_buf_append(buf, s, len);
		return true;
	}
	size_t cut = room;
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--;
	mc_buf_append(buf, s, cut);
	return false;
}

/* Appends to the HTML output, noting a cut. */
static void put(struct html_out *o, const char *s, size_t len)
{
	if (!text_append(o->buf, s, len))
		o->whole = false;
}

/* Appends code point cp as UTF-8. */
static void put_cp(struct html_out *o, unsigned long cp)
{
	char b[4];
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		b[0] = (char)cp;
		put(o, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		put(o, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		put(o, b, 3);
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		put(o, b, 4);
	}
}

/* The code point of the entity name (between & and ;), or 0. */
static unsigned long entity_cp(const char *e, size_t n)
{
	static const struct {
		const char *name;
		unsigned long cp;
	} named[] = {{"amp", '&'},  {"lt", '<'},    {"gt", '>'},
		     {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '}};
	char name[ENTITY_MAX + 1], *end;
	memcpy(name, e, n);
	name[n] = '\0';
	if (name[0] == '#') {
		bool hex = name[1] == 'x' || name[1] == 'X';
		unsigned long cp = strtoul(name + 1 + hex, &end, hex ? 16 : 10);
		return *end == '\0' && end != name + 1 + hex ? cp : 0;
	}
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(name, named[i].name) == 0)
			return named[i].cp;
	return 0;
}

/* An "&...;" at s (len bytes left): appends it decoded and returns the
 * bytes used, or appends "&" and returns 1 for no entity. */
static size_t html_entity(struct html_out *o, const char *s, size_t len)
{
	size_t n = 1;
	while (n < len && n <= ENTITY_MAX && s[n] != ';' &&
	       (isalnum((unsigned char)s[n]) || s[n] == '#'))
		n++;
	unsigned long cp = 0;
	if (n < len && s[n] == ';' && n > 1)
		cp = entity_cp(s + 1, n - 1);
	if (cp == 0) {
		put(o, "&", 1);
		return 1;
	}
	put_cp(o, cp);
	return n + 1;
}

/* Finds needle (ASCII, lower-case) in s case-insensitively; the offset
 * or len when absent. */
static size_t find_icase(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return i;
	return len;
}

/* True for the tags that break a line of text. */
static bool block_tag(const char *name)
{
	static const char *const tags[] = {
		"br", "p",     "div",	     "tr",    "li", "h1",
		"h2", "h3",    "h4",	     "h5",    "h6", "ul",
		"ol", "table", "blockquote", "title", "hr", NULL};
	for (size_t i = 0; tags[i] != NULL; i++)
		if (strcasecmp(name, tags[i]) == 0)
			return true;
	return false;
}

/* The name of the tag at s ("<name" or "</name"), lower-cased. */
static void tag_name(const char *s, size_t len, char *name)
{
	size_t i = (len > 1 && s[1] == '/') ? 2 : 1, n = 0;
	while (i < len && n < TAG_NAME_MAX && isalnum((unsigned char)s[i]))
		name[n++] = (char)tolower((unsigned char)s[i++]);
	name[n] = '\0';
}

/* A "<" at s: skips the tag (or comment, or script/style element) and
 * returns the bytes used; appends "<" and returns 1 when it is no tag. */
static size_t html_tag(struct html_out *o, const char *s, size_t len)
{
	char name[TAG_NAME_MAX + 1];
	size_t end;
	if (len >= 4 && memcmp(s, "<!--", 4) == 0) {
		end = find_icase(s + 4, len - 4, "-->");
		return end == len - 4 ? len : end + 7;
	}
	if (len < 2 || !(isalpha((unsigned char)s[1]) || s[1] == '/' ||
			 s[1] == '!' || s[1] == '?')) {
		put(o, "<", 1);
		return 1;
	}
	tag_name(s, len, name);
	end = find_icase(s, len, ">");
	if (end == len)
		return len;
	if (block_tag(name))
		put(o, "\n", 1);
	if (s[1] != '/' &&
	    (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
		char close[TAG_NAME_MAX + 3] = "</";
		strcat(close, name);
		size_t c = find_icase(s + end, len - end, close);
		if (c == len - end)
			return len;
		size_t from = end + c;
		size_t gt = from + find_icase(s + from, len - from, ">");
		return gt < len ? gt + 1 : len;
	}
	return end + 1;
}

/* Appends the text of an HTML document; false when something was cut. */
bool text_html(struct mc_buf *buf, const char *s, size_t len)
{
	struct html_out o = {buf, true};
	size_t i = 0;
	while (i < len) {
		size_t run = 0;
		while (i + run < len && s[i + run] != '<' && s[i + run] != '&')
			run++;
		put(&o, s + i, run);
		i += run;
		if (i >= len)
			break;
		if (s[i] == '<')
			i += html_tag(&o, s + i, len - i);
		else
			i += html_entity(&o, s + i, len - i);
	}
	return o.whole;
}

/* ---- links ---- */

/* The length of a link prefix at s (http://, https://, ftp://, www.),
 * 0 for none. prev is the byte before s (or ' '). */
static size_t link_prefix(const char *s, size_t len, char prev)
{
	static const char *const schemes[] = {"http://", "https://", "ftp://"};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(schemes[i]);
		if (len > n && strncasecmp(s, schemes[i], n) == 0)
			return n;
	}
	if (len > 4 && strncasecmp(s, "www.", 4) == 0 &&
	    !isalnum((unsigned char)prev) && prev != '.' && prev != '/')
		return 4;
	return 0;
}

/* The length of the link at s (its prefix known), trailing punctuation
 * left out. */
static size_t link_len(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && (unsigned char)s[n] > ' ' &&
	       strchr("\"'<>()[]{}|\\^`", s[n]) == NULL)
		n++;
	while (n > 0 && strchr(".,;:!?", s[n - 1]) != NULL)
		n--;
	return n;
}

/* The links of text, at most max, from pool; count in *n_r. */
const char **text_uris(struct mc_pool *pool, const char *text, size_t len,
		       size_t max, size_t *n_r)
{
	const char **uris = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < len && n < max; i++) {
		char c = (char)tolower((unsigned char)text[i]);
		if (c != 'h' && c != 'f' && c != 'w')
			continue;
		size_t pre = link_prefix(text + i, len - i,
					 i > 0 ? text[i - 1] : ' ');
		if (pre == 0)
			continue;
		size_t l = link_len(text + i, len - i);
		if (l <= pre)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			const char **grown =
				mc_palloc_array(pool, cap, sizeof(*grown));
			if (n > 0)
				memcpy(grown, uris, n * sizeof(*grown));
			uris = grown;
		}
		uris[n++] = mc_pstrndup(pool, text + i, l);
		i += l - 1;
	}
	*n_r = n;
	return uris;
}
