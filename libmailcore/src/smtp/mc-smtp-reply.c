/* mc-smtp-reply: the incremental parser of SMTP replies (RFC 5321 4.2)
 * for the outbound client: push bytes, take whole replies (multi-line
 * "250-" continued), with the enhanced status code (RFC 2034) split off
 * the text, and the lines of the reply kept as EHLO keywords. Sans I/O. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pool.h"
#include "mailcore/mc-smtp-client.h"

#define REPLY_LINE_MAX	    2048 /* CRLF included */
#define REPLY_LINES_DEFAULT 100

struct mc_smtp_reply_parser {
	size_t max_lines;
	char line[REPLY_LINE_MAX + 1];
	size_t line_len;
	/* the reply being assembled */
	unsigned code;
	size_t nlines;
	struct mc_smtp_status st;
	size_t text_len;
	/* lines 2.. of the reply (upper case): the EHLO keywords */
	char **kw;
	size_t kw_count, kw_cap;
	bool done; /* the last line of a reply was seen: next starts anew */
};

/* A parser taking replies of at most max_lines lines (0 = 100). */
struct mc_smtp_reply_parser *mc_smtp_reply_parser_create(size_t max_lines)
{
	struct mc_smtp_reply_parser *p = mc_calloc(1, sizeof(*p));

	p->max_lines = max_lines != 0 ? max_lines : REPLY_LINES_DEFAULT;
	p->done = true;
	return p;
}

/* Frees the keyword lines of the previous reply. */
static void kw_clear(struct mc_smtp_reply_parser *p)
{
	for (size_t i = 0; i < p->kw_count; i++)
		free(p->kw[i]);
	p->kw_count = 0;
}

/* Frees the parser; accepts NULL and clears *pp. */
void mc_smtp_reply_parser_destroy(struct mc_smtp_reply_parser **pp)
{
	struct mc_smtp_reply_parser *p = *pp;

	if (p == NULL)
		return;
	kw_clear(p);
	free(p->kw);
	free(p);
	*pp = NULL;
}

/* Keyword i of the last reply (its line i + 2), NULL past the last. */
const char *mc_smtp_reply_parser_line(const struct mc_smtp_reply_parser *p,
				      size_t i)
{
	return i < p->kw_count ? p->kw[i] : NULL;
}

/* Length of "d.ddd.ddd" (RFC 3463 status-code) at s, 0 if none; the code
 * must be followed by a blank or the end, and its class be cls. */
static size_t enh_len(const char *s, char cls)
{
	size_t i = 1;

	if (s[0] != cls || s[1] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t start = ++i;

		while (isdigit((unsigned char)s[i]) && i - start < 3)
			i++;
		if (i == start || (part == 0 && s[i] != '.'))
			return 0;
	}
	if (s[i] != '\0' && s[i] != ' ' && s[i] != '\t')
		return 0;
	return i;
}

/* Appends a line's text to the joined reply text (truncated to fit). */
static void text_append(struct mc_smtp_reply_parser *p, const char *text)
{
	size_t cap = sizeof(p->st.text) - 1;
	int n;

	if (p->text_len >= cap)
		return;
	n = snprintf(p->st.text + p->text_len, cap + 1 - p->text_len, "%s%s",
		     p->text_len > 0 ? " " : "", text);
	p->text_len += (size_t)n;
	if (p->text_len > cap)
		p->text_len = cap;
}

/* Keeps a continuation line (upper case) as an EHLO keyword. */
static void kw_add(struct mc_smtp_reply_parser *p, const char *text)
{
	char *s;

	if (p->kw_count == p->kw_cap) {
		p->kw_cap = p->kw_cap == 0 ? 16 : p->kw_cap * 2;
		p->kw = mc_realloc(p->kw, p->kw_cap * sizeof(*p->kw));
	}
	s = mc_strdup(text);
	for (char *q = s; *q != '\0'; q++)
		*q = (char)toupper((unsigned char)*q);
	p->kw[p->kw_count++] = s;
}

/* The code of a reply line "ddd" (2..5, 0..5, 0..9), or 0. */
static unsigned line_code(const char *l)
{
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    !isdigit((unsigned char)l[2]))
		return 0;
	return (unsigned)(l[0] - '0') * 100 + (unsigned)(l[1] - '0') * 10 +
	       (unsigned)(l[2] - '0');
}

/* Starts a new reply at its first line. */
static void reply_begin(struct mc_smtp_reply_parser *p, unsigned code)
{
	kw_clear(p);
	memset(&p->st, 0, sizeof(p->st));
	p->code = code;
	p->nlines = 0;
	p->text_len = 0;
	p->done = false;
}

/*   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                Reply-code [ SP textstring ] CRLF
 * One line without its CRLF: 1 when it ended the reply, 0 when more
 * lines follow, -1 when malformed or over the line limit. */
static int parse_line(struct mc_smtp_reply_parser *p, const char *l)
{
	unsigned code = line_code(l);
	const char *text = l + 4;
	size_t n;

	if (code == 0 || (l[3] != '\0' && l[3] != ' ' && l[3] != '-'))
		return -1;
	if (p->done)
		reply_begin(p, code);
	else if (code != p->code)
		return -1;
	if (++p->nlines > p->max_lines)
		return -1;
	if (l[3] == '\0')
		text = l + 3;
	if (p->nlines > 1)
		kw_add(p, text);
	n = enh_len(text, l[0]);
	if (n > 0 && p->nlines == 1)
		snprintf(p->st.enh, sizeof(p->st.enh), "%.*s", (int)n, text);
	if (n > 0)
		text += n + (text[n] != '\0');
	text_append(p, text);
	return l[3] == '-' ? 0 : 1;
}

/* Ends the buffered line (CR stripped) and parses it. */
static int end_line(struct mc_smtp_reply_parser *p)
{
	size_t len = p->line_len;
	int r = -1;

	if (len > 0 && p->line[len - 1] == '\r')
		len--;
	p->line[len] = '\0';
	p->line_len = 0;
	if (len >= 3 && strlen(p->line) == len) /* no NUL inside */
		r = parse_line(p, p->line);
	if (r < 0)
		p->done = true;
	return r;
}

/* Takes bytes up to the end of one reply: 1 (reply_r filled, *used_r
 * consumed), 0 (all consumed, need more), -1 malformed or too long. */
int mc_smtp_reply_parser_feed(struct mc_smtp_reply_parser *p, const void *data,
			      size_t len, size_t *used_r,
			      struct mc_smtp_status *reply_r)
{
	const char *d = data;

	for (size_t i = 0; i < len; i++) {
		int r;

		if (d[i] != '\n') {
			if (p->line_len >= REPLY_LINE_MAX - 1)
				goto bad;
			p->line[p->line_len++] = d[i];
			continue;
		}
		r = end_line(p);
		if (r == 0)
			continue;
		*used_r = i + 1;
		if (r < 0)
			return -1;
		p->done = true;
		p->st.code = p->code;
		*reply_r = p->st;
		return 1;
	}
	*used_r = len;
	return 0;
bad:
	p->line_len = 0;
	p->done = true;
	*used_r = len;
	return -1;
}
