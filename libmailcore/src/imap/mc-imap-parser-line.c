/* mc-imap-parser-line: one complete line of an IMAP command (RFC 3501 9,
 * RFC 9051 9) tokenised into the argument tree: tag, command name, atoms
 * (with fetch-att sections kept whole), NIL, quoted strings, lists, and
 * the literal header that may end the line. Also the argument helpers. */
#include "mc-imap-parser-private.h"

#include <string.h>
#include <strings.h>

/* ATOM-CHAR: any CHAR except atom-specials
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

/* tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR /
 * resp-specials */
static bool tag_char(unsigned char c)
{
	return (atom_char(c) || c == ']') && c != '+';
}

/* Characters of an argument atom: ATOM-CHAR plus list-wildcards (LIST
 * patterns, "*" in sequence sets) and "]" (astring, section ends). */
static bool arg_atom_char(unsigned char c)
{
	return atom_char(c) || c == '%' || c == '*' || c == ']';
}

/* Records a syntax error; returns false for the caller to pass on. */
static bool bad(struct mc_imap_parser *p, const char *text)
{
	p->err_text = text;
	return false;
}

/* Records a syntax error as a line result. */
static enum line_result bad_lr(struct mc_imap_parser *p, const char *text)
{
	p->err_text = text;
	return LR_BAD;
}

/* Adds an empty argument to the current list level. */
struct mc_imap_arg *imap_add_arg(struct mc_imap_parser *p,
				 enum mc_imap_arg_type type)
{
	struct imap_frame *f = &p->frames[p->depth];
	struct mc_imap_arg *a;

	if (f->count == f->cap) {
		size_t cap = f->cap == 0 ? 4 : f->cap * 2;
		a = mc_palloc_array(p->pool, cap, sizeof(*a));
		if (f->count > 0)
			memcpy(a, f->args, f->count * sizeof(*a));
		f->args = a;
		f->cap = cap;
	}
	a = &f->args[f->count++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->str = "";
	return a;
}

/* Charges len bytes of argument text to max_command; false when over. */
static bool charge(struct mc_imap_parser *p, size_t len)
{
	size_t cost = len + IMAP_ARG_COST;

	if (cost < len || p->cmd_bytes + cost < p->cmd_bytes ||
	    p->cmd_bytes + cost > p->set.max_command)
		return false;
	p->cmd_bytes += cost;
	return true;
}

/* A copy of s[0..len) in the pool with ASCII letters upper-cased. */
static char *upper_dup(struct mc_imap_parser *p, const char *s, size_t len)
{
	char *r = mc_pstrndup(p->pool, s, len);

	for (size_t i = 0; i < len; i++)
		if (r[i] >= 'a' && r[i] <= 'z')
			r[i] = (char)(r[i] - 'a' + 'A');
	return r;
}

/* command = tag SP (command-any / command-auth / ...) CRLF; the command
 * name is its first atom. Leaves *pos after the name. */
bool imap_parse_tag_name(struct mc_imap_parser *p, const char *s, size_t len,
			 size_t *pos)
{
	size_t i = 0, start;

	while (i < len && tag_char((unsigned char)s[i]))
		i++;
	if (i == 0 || (i < len && s[i] != ' '))
		return bad(p, "invalid tag");
	p->tag = mc_pstrndup(p->pool, s, i);
	if (i == len || i + 1 == len)
		return bad(p, "missing command name");
	start = ++i;
	while (i < len && atom_char((unsigned char)s[i]))
		i++;
	if (i == start || (i < len && s[i] != ' '))
		return bad(p, "invalid command name");
	p->name = upper_dup(p, s + start, i - start);
	*pos = i;
	return true;
}

/* A valid tag at the start of s followed by SP, copied; NULL otherwise. */
const char *imap_peek_tag(struct mc_imap_parser *p, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && tag_char((unsigned char)s[i]))
		i++;
	if (i == 0 || i == len || s[i] != ' ')
		return NULL;
	return mc_pstrndup(p->pool, s, i);
}

/* Skips a section "[...]" starting at s[*i]: section-spec may hold a
 * header-list "(" astring *(SP astring) ")", so SP, lists and quoted
 * strings are allowed inside; false when it does not close. */
static bool skip_bracket(const char *s, size_t len, size_t *i)
{
	bool quoted = false;
	unsigned paren = 0;

	for (size_t j = *i + 1; j < len; j++) {
		unsigned char c = (unsigned char)s[j];

		if (c < 0x20 || c >= 0x7f)
			return false;
		if (quoted) {
			if (c == '\\' && j + 1 < len)
				j++;
			else if (c == '"')
				quoted = false;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '(') {
			paren++;
		} else if (c == ')') {
			if (paren-- == 0)
				return false;
		} else if (c == ']' && paren == 0) {
			*i = j + 1;
			return true;
		}
	}
	return false;
}

/* An atom, flag ("\Seen", "\*"), sequence set, LIST pattern or fetch-att
 * with its sections and partial ("BODY.PEEK[HEADER.FIELDS (TO)]<0.10>"),
 * or NIL. */
static enum line_result parse_atom(struct mc_imap_parser *p, const char *s,
				   size_t len, size_t *pos)
{
	size_t start = *pos, i = *pos;
	struct mc_imap_arg *a;
	enum mc_imap_arg_type type = MC_IMAP_ARG_ATOM;

	if (s[i] == '\\')
		i++;
	while (i < len && s[i] != ' ' && s[i] != ')') {
		if (s[i] == '[') {
			if (!skip_bracket(s, len, &i))
				return bad_lr(p, "unterminated section");
		} else if (arg_atom_char((unsigned char)s[i])) {
			i++;
		} else {
			return bad_lr(p, "invalid character in atom");
		}
	}
	if (i == start + 1 && s[start] == '\\')
		return bad_lr(p, "invalid flag");
	if (i - start == 3 && strncasecmp(s + start, "NIL", 3) == 0)
		type = MC_IMAP_ARG_NIL;
	if (!charge(p, i - start))
		return LR_TOOBIG;
	a = imap_add_arg(p, type);
	a->str = mc_pstrndup(p->pool, s + start, i - start);
	a->len = i - start;
	*pos = i;
	return LR_DONE;
}

/* Length of the quoted string opening at s[start] once unescaped, and
 * where it closes; false when it is malformed.
 * quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = <any TEXT-CHAR except
 * quoted-specials> / "\" quoted-specials (8-bit allowed: RFC 9051) */
static bool scan_quoted(struct mc_imap_parser *p, const char *s, size_t len,
			size_t start, size_t *n_r, size_t *end_r)
{
	size_t n = 0;

	for (size_t i = start + 1; i < len; i++, n++) {
		char c = s[i];

		if (c == '"') {
			*n_r = n;
			*end_r = i;
			return true;
		}
		if (c == '\\') {
			if (i + 1 == len ||
			    (s[i + 1] != '"' && s[i + 1] != '\\'))
				return bad(p,
					   "invalid escape in quoted string");
			i++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return bad(p, "invalid character in quoted string");
		}
	}
	return bad(p, "unterminated quoted string");
}

/* A quoted string, unescaped into the pool. */
static enum line_result parse_quoted(struct mc_imap_parser *p, const char *s,
				     size_t len, size_t *pos)
{
	size_t n, end, k = 0;
	struct mc_imap_arg *a;
	char *out;

	if (!scan_quoted(p, s, len, *pos, &n, &end))
		return LR_BAD;
	if (!charge(p, n))
		return LR_TOOBIG;
	out = mc_palloc(p->pool, n + 1);
	for (size_t i = *pos + 1; i < end; i++) {
		if (s[i] == '\\')
			i++;
		out[k++] = s[i];
	}
	a = imap_add_arg(p, MC_IMAP_ARG_QUOTED);
	a->str = out;
	a->len = n;
	*pos = end + 1;
	return LR_DONE;
}

/* literal = "{" number64 ["+"] "}" CRLF *CHAR8 (RFC 7888);
 * literal8 = "~{" number64 ["+"] "}" CRLF *OCTET (RFC 3516).
 * The header must end the line; its contents come next. */
static enum line_result parse_literal(struct mc_imap_parser *p, const char *s,
				      size_t len, size_t pos)
{
	uint64_t n = 0;
	size_t digits = 0;

	p->lit8 = s[pos] == '~';
	pos += p->lit8 ? 2 : 1;
	for (; pos < len && s[pos] >= '0' && s[pos] <= '9'; pos++, digits++) {
		unsigned d = (unsigned)(s[pos] - '0');

		if (n > (UINT64_C(0x7fffffffffffffff) - d) / 10)
			return bad_lr(p, "literal size too large");
		n = n * 10 + d;
	}
	p->lit_sync = !(pos < len && s[pos] == '+');
	if (!p->lit_sync)
		pos++;
	if (digits == 0 || pos >= len || s[pos] != '}')
		return bad_lr(p, "invalid literal");
	if (pos + 1 != len)
		return bad_lr(p, "literal must end the line");
	p->lit_size = n;
	return LR_LITERAL;
}

/* Opens a list level. */
static enum line_result open_list(struct mc_imap_parser *p)
{
	if (p->depth >= p->set.max_depth)
		return bad_lr(p, "lists nested too deeply");
	p->depth++;
	memset(&p->frames[p->depth], 0, sizeof(p->frames[p->depth]));
	return LR_DONE;
}

/* Closes a list level into a LIST argument of its parent. */
static enum line_result close_list(struct mc_imap_parser *p)
{
	struct imap_frame f;
	struct mc_imap_arg *a;

	if (p->depth == 0)
		return bad_lr(p, "unexpected )");
	f = p->frames[p->depth--];
	if (!charge(p, 0))
		return LR_TOOBIG;
	a = imap_add_arg(p, MC_IMAP_ARG_LIST);
	a->list = f.args;
	a->list_count = f.count;
	return LR_DONE;
}

/* One token starting at s[*pos] (not SP or ")"). */
static enum line_result parse_token(struct mc_imap_parser *p, const char *s,
				    size_t len, size_t *pos)
{
	char c = s[*pos];

	if (c == '(') {
		(*pos)++;
		p->need_sep = false;
		return open_list(p);
	}
	p->need_sep = true;
	if (c == '"')
		return parse_quoted(p, s, len, pos);
	if (c == '{' || (c == '~' && *pos + 1 < len && s[*pos + 1] == '{'))
		return parse_literal(p, s, len, *pos);
	return parse_atom(p, s, len, pos);
}

/* Arguments separated by SP, lists in "(" ")", until the line ends (the
 * command is complete: lists must be closed) or a literal header. */
enum line_result imap_parse_args(struct mc_imap_parser *p, const char *s,
				 size_t len, size_t pos)
{
	enum line_result r;

	while (pos < len) {
		if (s[pos] == ' ') {
			pos++;
			p->need_sep = false;
			continue;
		}
		if (s[pos] == ')') {
			pos++;
			r = close_list(p);
			p->need_sep = true;
		} else if (p->need_sep) {
			return bad_lr(p, "missing space between arguments");
		} else {
			r = parse_token(p, s, len, &pos);
		}
		if (r != LR_DONE)
			return r;
	}
	if (p->depth > 0)
		return bad_lr(p, "unterminated list");
	return LR_DONE;
}

/* True when s (a line, CR allowed at the end) ends with "{n}" or
 * "{n+}" (also "~{...}"). */
bool imap_tail_literal(const char *s, size_t len, uint64_t *size_r,
		       bool *sync_r)
{
	size_t end, i;
	uint64_t n = 0;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len < 3 || s[len - 1] != '}')
		return false;
	end = len - 1;
	*sync_r = s[end - 1] != '+';
	if (!*sync_r)
		end--;
	for (i = end; i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'; i--)
		;
	if (i == 0 || i == end || s[i - 1] != '{' || end - i > 18)
		return false;
	for (; i < end; i++)
		n = n * 10 + (uint64_t)(s[i] - '0');
	*size_r = n;
	return true;
}

/* True for an astring/string argument; its text in *s_r. */
bool mc_imap_arg_string(const struct mc_imap_arg *arg, const char **s_r,
			size_t *len_r)
{
	if (arg == NULL ||
	    (arg->type != MC_IMAP_ARG_ATOM && arg->type != MC_IMAP_ARG_QUOTED &&
	     arg->type != MC_IMAP_ARG_LITERAL))
		return false;
	*s_r = arg->str;
	if (len_r != NULL)
		*len_r = arg->len;
	return true;
}

/* True for an ATOM equal to word, case-insensitively. */
bool mc_imap_arg_is(const struct mc_imap_arg *arg, const char *word)
{
	return arg != NULL && arg->type == MC_IMAP_ARG_ATOM &&
	       strcasecmp(arg->str, word) == 0;
}

/* number = 1*DIGIT (32 bits); mod-sequence-value (63 bits) when wide. */
bool mc_imap_arg_number(const struct mc_imap_arg *arg, bool wide, uint64_t *n_r)
{
	uint64_t max = wide ? UINT64_C(0x7fffffffffffffff) : UINT32_MAX;
	uint64_t n = 0;

	if (arg == NULL || arg->type != MC_IMAP_ARG_ATOM || arg->len == 0)
		return false;
	for (size_t i = 0; i < arg->len; i++) {
		unsigned d = (unsigned)(arg->str[i] - '0');

		if (d > 9 || n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*n_r = n;
	return true;
}
