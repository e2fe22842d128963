/* mc-message-text: the searchable text of a message: header items and the
 * decoded text bodies converted to UTF-8 (at line ends, so no character
 * is split between conversions), HTML reduced to its text (tags, comments,
 * script and style dropped, common entities decoded), all capped at max
 * bytes without cutting a UTF-8 sequence. */
#include "mc-message-private.h"

#include "mailcore/mc-encword.h"

#include <string.h>
#include <strings.h>

#define CONVERT_CHUNK (8 * 1024)  /* converted once this much is held */
#define LONG_LINE     (64 * 1024) /* converted even without a line end */

/* An empty text collector holding at most max bytes. */
void msg_text_init(struct msg_text *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	mc_buf_init(&t->out, NULL, 0);
	mc_buf_init(&t->raw, NULL, 0);
	mc_buf_init(&t->conv, NULL, 0);
}

/* Frees the buffers. */
void msg_text_free(struct msg_text *t)
{
	mc_buf_free(&t->out);
	mc_buf_free(&t->raw);
	mc_buf_free(&t->conv);
}

/* Appends within max; a cut backs up to the start of a UTF-8 sequence. */
static void put(struct msg_text *t, const char *s, size_t len)
{
	size_t room;

	if (t->full)
		return;
	room = t->max - t->out.len;
	if (len > room) {
		len = room;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
		t->full = true;
	}
	mc_buf_append(&t->out, s, len);
}

/* Ends the current line unless the text is empty or already ends one. */
static void separate(struct msg_text *t)
{
	if (t->out.len > 0 && t->out.data[t->out.len - 1] != '\n')
		put(t, "\n", 1);
}

/* Adds a header item on its own line. */
void msg_text_add(struct msg_text *t, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	separate(t);
	put(t, s, strlen(s));
}

/* Appends body text, separated from what came before the part. */
static void body_put(struct msg_text *t, const char *s, size_t len)
{
	if (len == 0)
		return;
	if (t->need_sep) {
		separate(t);
		t->need_sep = false;
	}
	put(t, s, len);
}

/* Body text unless inside <script> or <style>. */
static void html_put(struct msg_text *t, const char *s, size_t len)
{
	if (!t->skip)
		body_put(t, s, len);
}

/* A line break for a block-level tag, a blank for a table cell (not
 * repeated). */
static void html_break(struct msg_text *t, const char *brk)
{
	if (t->skip)
		return;
	if (t->need_sep) {
		separate(t);
		t->need_sep = false;
	} else if (t->out.len > 0 && t->out.data[t->out.len - 1] != '\n' &&
		   t->out.data[t->out.len - 1] != *brk) {
		put(t, brk, 1);
	}
}

/* Appends code point cp as UTF-8 (U+FFFD when it is not a character). */
static void put_cp(struct msg_text *t, unsigned long cp)
{
	char b[4];

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		b[0] = (char)cp;
		html_put(t, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		html_put(t, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		html_put(t, b, 3);
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		html_put(t, b, 4);
	}
}

/* Value of a numeric entity body ("#169", "#xA9"); false if malformed. */
static bool numeric_entity(const char *e, unsigned long *cp_r)
{
	bool hex = e[1] == 'x' || e[1] == 'X';
	const char *d = e + (hex ? 2 : 1);
	unsigned long v = 0;

	if (*d == '\0')
		return false;
	for (; *d != '\0'; d++) {
		int x = *d >= '0' && *d <= '9'		? *d - '0'
			: hex && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10
			: hex && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10
							: -1;

		if (x < 0)
			return false;
		v = v * (hex ? 16 : 10) + (unsigned long)x;
		if (v > 0x10FFFF)
			v = 0x110000;
	}
	*cp_r = v;
	return true;
}

/* A complete "&name;": decoded, or kept literally when unknown. */
static void entity_end(struct msg_text *t)
{
	static const struct {
		const char *name, *text;
	} names[] = {{"amp", "&"},   {"lt", "<"},   {"gt", ">"},
		     {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}};
	unsigned long cp;

	t->ent[t->ent_len] = '\0';
	if (t->ent[0] == '#' && numeric_entity(t->ent, &cp)) {
		put_cp(t, cp);
		return;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(t->ent, names[i].name) == 0) {
			html_put(t, names[i].text, 1);
			return;
		}
	}
	html_put(t, "&", 1);
	html_put(t, t->ent, t->ent_len);
	html_put(t, ";", 1);
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

/* A tag ended: script/style start or stop skipping, blocks break lines. */
static void tag_end(struct msg_text *t)
{
	static const char *const blocks[] = {
		"br",	 "p",	"div",	      "tr",    "li", "ul", "ol",
		"table", "hr",	"h1",	      "h2",    "h3", "h4", "h5",
		"h6",	 "pre", "blockquote", "title", NULL};
	static const char *const cells[] = {"td", "th", NULL};
	static const char *const skipped[] = {"script", "style", NULL};

	t->name[t->name_len] = '\0';
	if (t->skip) {
		if (t->closing && strcmp(t->name, t->skip_name) == 0)
			t->skip = false;
		return;
	}
	if (!t->closing && name_in(t->name, skipped)) {
		strcpy(t->skip_name, t->name);
		t->skip = true;
	} else if (name_in(t->name, blocks)) {
		html_break(t, "\n");
	} else if (name_in(t->name, cells)) {
		html_break(t, " ");
	}
}

static void html_byte(struct msg_text *t, char c);

/* True for the ASCII letters and digits. */
static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* A byte of a tag name: collected lower-cased; "<!--" opens a comment. */
static bool tag_name_byte(struct msg_text *t, char c)
{
	if (t->name_len == 0 && c == '/' && !t->closing) {
		t->closing = true;
		return true;
	}
	if (!is_alnum(c) && c != '!' && c != '-')
		return false;
	if (t->name_len + 1 < sizeof(t->name))
		t->name[t->name_len++] =
			c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	if (t->name_len == 3 && memcmp(t->name, "!--", 3) == 0) {
		t->state = HTML_COMMENT;
		t->dashes = 0;
	}
	return true;
}

/* A tag byte inside <script> or <style>, whose content is raw text:
 * only "</script" (or "</style") starts a tag there. */
static void skip_tag_byte(struct msg_text *t, char c)
{
	if (!t->closing && t->name_len == 0 && c == '/') {
		t->closing = true;
		return;
	}
	if (t->closing && is_alnum(c) && t->name_len + 1 < sizeof(t->name)) {
		t->name[t->name_len++] =
			c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		return;
	}
	t->name[t->name_len] = '\0';
	if (!t->closing || strcmp(t->name, t->skip_name) != 0) {
		t->state = HTML_TEXT;
		html_byte(t, c);
		return;
	}
	t->name_done = true;
	if (c == '>') {
		t->state = HTML_TEXT;
		tag_end(t);
	}
}

/* A byte inside "<...>": attribute quotes may hold '>'. */
static void tag_byte(struct msg_text *t, char c)
{
	if (t->skip && !t->name_done) {
		skip_tag_byte(t, c);
		return;
	}
	if (t->quote != 0) {
		if (c == t->quote)
			t->quote = 0;
		return;
	}
	if (t->name_len == 0 && !t->closing && !is_alnum(c) && c != '!' &&
	    c != '/' && c != '?') {
		/* "a < b": not a tag */
		t->state = HTML_TEXT;
		html_put(t, "<", 1);
		html_byte(t, c);
		return;
	}
	if (c == '>') {
		t->state = HTML_TEXT;
		tag_end(t);
		return;
	}
	if (!t->name_done && tag_name_byte(t, c))
		return;
	t->name_done = true;
	if (c == '"' || c == '\'')
		t->quote = c;
}

/* A byte after '&': the entity ends at ';' or turns out not to be one. */
static void entity_byte(struct msg_text *t, char c)
{
	if (c == ';') {
		t->state = HTML_TEXT;
		entity_end(t);
		return;
	}
	if ((is_alnum(c) || c == '#') && t->ent_len + 1 < sizeof(t->ent)) {
		t->ent[t->ent_len++] = c;
		return;
	}
	t->state = HTML_TEXT;
	html_put(t, "&", 1);
	html_put(t, t->ent, t->ent_len);
	html_byte(t, c);
}

/* Feeds one byte to the HTML filter. */
static void html_byte(struct msg_text *t, char c)
{
	switch (t->state) {
	case HTML_TEXT:
		if (c == '<') {
			t->state = HTML_TAG;
			t->name_len = 0;
			t->name_done = t->closing = false;
			t->quote = 0;
		} else if (c == '&') {
			t->state = HTML_ENTITY;
			t->ent_len = 0;
		} else {
			html_put(t, &c, 1);
		}
		break;
	case HTML_TAG:
		tag_byte(t, c);
		break;
	case HTML_ENTITY:
		entity_byte(t, c);
		break;
	case HTML_COMMENT:
		if (c == '>' && t->dashes >= 2)
			t->state = HTML_TEXT;
		t->dashes = c == '-' ? t->dashes + 1 : 0;
		break;
	}
}

/* Runs UTF-8 text through the HTML filter, plain runs in one piece. */
static void html_filter(struct msg_text *t, const char *s, size_t len)
{
	size_t i = 0, j;

	while (i < len && !t->full) {
		if (t->state == HTML_TEXT) {
			for (j = i; j < len && s[j] != '<' && s[j] != '&'; j++)
				;
			html_put(t, s + i, j - i);
			if ((i = j) == len)
				break;
		}
		html_byte(t, s[i++]);
	}
}

/* Drops CRs and turns NULs into blanks, in place. */
static size_t sanitize(char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\r')
			s[n++] = s[i] == '\0' ? ' ' : s[i];
	}
	return n;
}

/* Converts len raw bytes of the part to UTF-8 and adds them. */
static void convert(struct msg_text *t, const char *data, size_t len)
{
	size_t n;

	mc_buf_clear(&t->conv);
	if (!mc_charset_to_utf8(t->charset, data, len, &t->conv)) {
		mc_buf_clear(&t->conv);
		mc_charset_to_utf8("utf-8", data, len, &t->conv);
	}
	if (t->conv.len == 0)
		return;
	n = sanitize(t->conv.data, t->conv.len);
	if (t->html)
		html_filter(t, mc_buf_cstr(&t->conv), n);
	else
		body_put(t, mc_buf_cstr(&t->conv), n);
}

/* True for the charsets whose text has no ASCII line ends to cut at. */
static bool is_wide(const char *cs)
{
	static const char *const prefixes[] = {"utf-16", "utf-32", "ucs-2",
					       "ucs-4",	 "ucs2",   "ucs4",
					       "unicode"};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strncasecmp(cs, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	}
	return false;
}

/* Starts a text part in charset (HTML filtered when html). */
void msg_text_part_begin(struct msg_text *t, const char *charset, bool html)
{
	if (charset == NULL || strlen(charset) >= sizeof(t->charset))
		charset = "us-ascii";
	strcpy(t->charset, charset);
	t->active = true;
	t->html = html;
	t->whole = is_wide(charset);
	t->need_sep = true;
	t->state = HTML_TEXT;
	t->skip = false;
	mc_buf_clear(&t->raw);
}

/* Converts what is held up to its last line end (or all of a very long
 * line). */
static void convert_lines(struct msg_text *t)
{
	const char *nl = memrchr(t->raw.data, '\n', t->raw.len);
	size_t n;

	if (nl != NULL)
		n = (size_t)(nl - t->raw.data) + 1;
	else if (t->raw.len >= LONG_LINE)
		n = t->raw.len;
	else
		return;
	convert(t, t->raw.data, n);
	mc_buf_consume(&t->raw, n);
}

/* Decoded body bytes of the current text part. */
void msg_text_part_data(struct msg_text *t, const unsigned char *data,
			size_t len)
{
	size_t cap;

	if (!t->active || t->full)
		return;
	if (t->whole) {
		/* converted at the end; 4 bytes per character at most */
		cap = t->max > (SIZE_MAX - 8) / 4 ? SIZE_MAX : t->max * 4 + 8;
		if (t->raw.len < cap)
			mc_buf_append(&t->raw, data,
				      len < cap - t->raw.len
					      ? len
					      : cap - t->raw.len);
		return;
	}
	mc_buf_append(&t->raw, data, len);
	if (t->raw.len >= CONVERT_CHUNK)
		convert_lines(t);
}

/* Converts what the part still holds and ends it. */
void msg_text_part_end(struct msg_text *t)
{
	if (!t->active)
		return;
	if (t->raw.len > 0 && !t->full)
		convert(t, t->raw.data, t->raw.len);
	mc_buf_clear(&t->raw);
	if (t->html && t->state == HTML_ENTITY) {
		html_put(t, "&", 1);
		html_put(t, t->ent, t->ent_len);
	}
	t->state = HTML_TEXT;
	t->skip = false;
	t->active = false;
}
