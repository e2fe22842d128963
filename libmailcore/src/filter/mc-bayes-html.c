/* mc-bayes-html: HTML (already UTF-8) reduced to the text the classifier
 * reads: comments, script and style dropped, inline tags ("V<b></b>iagra")
 * removed without a break, other tags turned into a blank, common and
 * numeric entities decoded; URLs in tag attributes become "u:host". */
#include "mc-bayes-private.h"

#include <string.h>
#include <strings.h>

#include "mailcore/mc-str.h"

#define TAG_NAME_MAX 16
#define ENTITY_MAX   10

/* Where needle (lower-case ASCII) first occurs in s, any case; len if not. */
static size_t find_icase(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++) {
		if (strncasecmp(s + i, needle, n) == 0)
			return i;
	}
	return len;
}

/* True when name is one of the NULL-terminated list. */
static bool name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcmp(name, *list) == 0)
			return true;
	}
	return false;
}

/* The lower-case name of tag (its text after '<'), '/' skipped. */
static void tag_name(const char *tag, size_t len, char *name, bool *closing)
{
	size_t i = 0, n = 0;

	*closing = len > 0 && tag[0] == '/';
	for (i = *closing; i < len && n + 1 < TAG_NAME_MAX; i++) {
		char c = tag[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9')))
			break;
		name[n++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	name[n] = '\0';
}

/* A tag from s[0] == '<': URLs of its attributes added, a blank put for
 * a non-inline tag; returns the bytes consumed (script and style include
 * their content). */
static size_t tag(struct bayes_tokens *t, const char *s, size_t len,
		  struct mc_buf *out)
{
	static const char *const inline_tags[] = {
		"a",	"b",	 "i",	"u",   "s",   "em", "strong", "span",
		"font", "small", "big", "sub", "sup", "tt", "strike", "abbr",
		"mark", "wbr",	 "ins", "del", "q",   NULL};
	const char *gt = memchr(s, '>', len);
	size_t end = gt != NULL ? (size_t)(gt - s) + 1 : len;
	char name[TAG_NAME_MAX], close[TAG_NAME_MAX + 2];
	bool closing;

	bayes_urls(t, s + 1, end - 1);
	tag_name(s + 1, end - 1, name, &closing);
	if (!closing &&
	    (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
		strcpy(close, "</");
		strcat(close, name);
		end += find_icase(s + end, len - end, close);
		gt = memchr(s + end, '>', len - end);
		return gt != NULL ? (size_t)(gt - s) + 1 : len;
	}
	if (!name_in(name, inline_tags))
		mc_buf_append_c(out, ' ');
	return end;
}

/* Appends code point c as UTF-8 (nothing for a non-character). */
static void put_cp(struct mc_buf *out, unsigned long c)
{
	char b[4];

	if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return;
	if (c < 0x80) {
		mc_buf_append_c(out, (char)c);
		return;
	}
	if (c < 0x800) {
		b[0] = (char)(0xC0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3F));
		mc_buf_append(out, b, 2);
	} else if (c < 0x10000) {
		b[0] = (char)(0xE0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		mc_buf_append(out, b, 3);
	} else {
		b[0] = (char)(0xF0 | c >> 18);
		b[1] = (char)(0x80 | (c >> 12 & 0x3F));
		b[2] = (char)(0x80 | (c >> 6 & 0x3F));
		b[3] = (char)(0x80 | (c & 0x3F));
		mc_buf_append(out, b, 4);
	}
}

/* The value of a numeric entity body ("#169", "#xA9"); 0 if malformed. */
static unsigned long numeric(const char *e)
{
	bool hex = e[1] == 'x' || e[1] == 'X';
	unsigned long v = 0;

	for (const char *d = e + (hex ? 2 : 1); *d != '\0'; d++) {
		int x = *d >= '0' && *d <= '9'		? *d - '0'
			: hex && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10
			: hex && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10
							: -1;

		if (x < 0 || v > 0x10FFFF)
			return 0;
		v = v * (hex ? 16 : 10) + (unsigned long)x;
	}
	return v;
}

/* An entity at s[0] == '&': decoded into out; returns the bytes taken
 * (1 when it is no entity: the '&' is kept). */
static size_t entity(const char *s, size_t len, struct mc_buf *out)
{
	static const struct {
		const char *name;
		char c;
	} names[] = {{"amp", '&'},  {"lt", '<'},    {"gt", '>'},
		     {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '}};
	const char *semi = memchr(s, ';', len < ENTITY_MAX ? len : ENTITY_MAX);
	char e[ENTITY_MAX];
	size_t n;

	if (semi == NULL || (n = (size_t)(semi - s) - 1) == 0) {
		mc_buf_append_c(out, '&');
		return 1;
	}
	memcpy(e, s + 1, n);
	e[n] = '\0';
	if (e[0] == '#') {
		put_cp(out, numeric(e));
		return n + 2;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(e, names[i].name) == 0) {
			mc_buf_append_c(out, names[i].c);
			return n + 2;
		}
	}
	mc_buf_append_c(out, '&');
	return 1;
}

/* True when s[0] == '<' opens markup rather than being a literal '<'. */
static bool opens_tag(const char *s, size_t len)
{
	char c = len > 1 ? s[1] : '\0';

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '/' ||
	       c == '!' || c == '?';
}

/* Appends the text of HTML to out, the hosts of URLs in tags to t. */
void bayes_html_text(struct bayes_tokens *t, const char *s, size_t len,
		     struct mc_buf *out)
{
	size_t i = 0, j;

	while (i < len) {
		if (s[i] == '<' && len - i >= 4 &&
		    memcmp(s + i, "<!--", 4) == 0) {
			j = find_icase(s + i + 4, len - i - 4, "-->");
			i += 4 + j + (j < len - i - 4 ? 3 : 0);
		} else if (s[i] == '<' && opens_tag(s + i, len - i)) {
			i += tag(t, s + i, len - i, out);
		} else if (s[i] == '&') {
			i += entity(s + i, len - i, out);
		} else {
			for (j = i + 1; j < len && s[j] != '<' && s[j] != '&';
			     j++)
				;
			mc_buf_append(out, s + i, j - i);
			i = j;
		}
	}
}
