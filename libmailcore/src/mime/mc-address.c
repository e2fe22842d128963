/* mc-address: RFC 5322 address-list parser (3.4, the obsolete forms of 4.4
 * that clients still send, RFC 6532 UTF-8) and writer. The parser never
 * fails: broken syntax yields best-effort entries marked invalid. Grammar:
 *   address-list = address *("," address)
 *   address      = mailbox / group
 *   mailbox      = name-addr / addr-spec
 *   name-addr    = [display-name] angle-addr
 *   angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
 *   group        = display-name ":" [group-list] ";" [CFWS]
 *   addr-spec    = local-part "@" domain */
#include "mailcore/mc-address.h"

#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdlib.h>
#include <string.h>

struct parser {
	const unsigned char *p, *end, *elem_start;
	struct mc_pool *pool;
	struct mc_address *addrs;
	size_t count, alloc, max;
	bool in_group, full, bad, local_bad;
	struct mc_buf phrase, local, domain, comment, word;
};

/* RFC 5322 atext, extended with UTF-8 (RFC 6532) and, for tolerance, the
 * other bytes that are not delimiters ("\", "]" and controls). */
static bool is_atom_char(unsigned char c)
{
	if (c == 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n')
		return false;
	return strchr("()<>[:;@,.\"", c) == NULL;
}

/* FWS bytes; NUL counts as blank so it never reaches a C string. */
static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0;
}

/* Appends one byte of a comment or quoted string, folding line breaks. */
static void append_text(struct mc_buf *buf, unsigned char c)
{
	if (c == '\r' || c == '\n' || c == 0)
		return;
	mc_buf_append_c(buf, (char)(c == '\t' ? ' ' : c));
}

/* Skips one (nested) comment at '(' and keeps its text in ps->comment. */
static void skip_comment(struct parser *ps)
{
	unsigned depth = 0;

	mc_buf_clear(&ps->comment);
	while (ps->p < ps->end) {
		unsigned char c = *ps->p++;

		if (c == '\\' && ps->p < ps->end) {
			append_text(&ps->comment, *ps->p++);
			continue;
		}
		if (c == '(' && depth++ == 0)
			continue;
		if (c == ')' && --depth == 0)
			return;
		append_text(&ps->comment, c);
	}
}

/* Skips CFWS; true when anything was skipped. */
static bool skip_cfws(struct parser *ps)
{
	const unsigned char *start = ps->p;

	while (ps->p < ps->end) {
		if (is_wsp(*ps->p))
			ps->p++;
		else if (*ps->p == '(')
			skip_comment(ps);
		else
			break;
	}
	return ps->p != start;
}

/* Appends an atom at ps->p to buf. */
static void read_atom(struct parser *ps, struct mc_buf *buf)
{
	const unsigned char *start = ps->p;

	while (ps->p < ps->end && is_atom_char(*ps->p))
		ps->p++;
	mc_buf_append(buf, start, (size_t)(ps->p - start));
}

/* Appends the contents of a quoted string at '"' to buf, unescaped. A
 * missing closing quote ends the string at the end of input. */
static void read_quoted(struct parser *ps, struct mc_buf *buf)
{
	ps->p++;
	while (ps->p < ps->end) {
		unsigned char c = *ps->p++;

		if (c == '"')
			return;
		if (c == '\\' && ps->p < ps->end)
			c = *ps->p++;
		append_text(buf, c);
	}
	ps->bad = true;
}

/* Adds an entry; false (nothing added) when the limit is reached. Room is
 * kept for the end marker of an open group. */
static bool push(struct parser *ps, const struct mc_address *addr)
{
	size_t reserve = ps->in_group && !addr->is_group_end ? 1 : 0;

	if (addr->is_group_start)
		reserve = 1;
	if (ps->count + reserve >= ps->max && !addr->is_group_end) {
		ps->full = true;
		return false;
	}
	if (ps->count == ps->alloc) {
		ps->alloc = ps->alloc == 0 ? 8 : ps->alloc * 2;
		ps->addrs = mc_realloc(ps->addrs, ps->alloc * sizeof(*addr));
	}
	ps->addrs[ps->count++] = *addr;
	return true;
}

/* The buffer's contents as a pool string, NULL when empty. */
static const char *pool_str(struct parser *ps, const struct mc_buf *buf)
{
	if (buf->len == 0)
		return NULL;
	return mc_pstrndup(ps->pool, buf->data, buf->len);
}

/* Reads one word (atom or quoted string) into ps->word. */
static void read_word(struct parser *ps)
{
	mc_buf_clear(&ps->word);
	if (*ps->p == '"')
		read_quoted(ps, &ps->word);
	else
		read_atom(ps, &ps->word);
}

/* Collects words and dots (a phrase or a local part) up to a delimiter,
 * into ps->phrase (words spaced as in the input, dots kept) and ps->local
 * (the words joined as a local part). */
static void read_words(struct parser *ps)
{
	bool space = false, want_dot = false;

	ps->local_bad = false;
	while (ps->p < ps->end) {
		unsigned char c = *ps->p;

		if (c == '.') {
			mc_buf_append_c(&ps->phrase, '.');
			mc_buf_append_c(&ps->local, '.');
			ps->local_bad |= !want_dot;
			want_dot = false;
			ps->p++;
		} else if (c == '"' || is_atom_char(c)) {
			read_word(ps);
			if (space && ps->phrase.len > 0)
				mc_buf_append_c(&ps->phrase, ' ');
			if (want_dot) {
				mc_buf_append_c(&ps->local, ' ');
				ps->local_bad = true;
			}
			mc_buf_append(&ps->phrase, ps->word.data, ps->word.len);
			mc_buf_append(&ps->local, ps->word.data, ps->word.len);
			want_dot = true;
		} else {
			break;
		}
		space = skip_cfws(ps);
	}
	if (ps->local.len > 0 && !want_dot)
		ps->local_bad = true;
}

/* True when s is a dot-atom: atoms separated by single dots. */
static bool is_dot_atom(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' ? s[i + 1] == '.' : !is_atom_char(c) || c == '\\')
			return false;
		if (c < 0x20 || c == 0x7f || c == ']')
			return false;
	}
	return true;
}

/* Reads a domain literal at '[' (brackets kept) into ps->domain. */
static void read_domain_literal(struct parser *ps)
{
	while (ps->p < ps->end) {
		unsigned char c = *ps->p++;

		if (c == '\\' && ps->p < ps->end)
			c = *ps->p++;
		if (!is_wsp(c))
			mc_buf_append_c(&ps->domain, (char)c);
		if (c == ']')
			return;
	}
	ps->bad = true;
}

/* Reads the domain after '@': a dot-atom (with the obsolete CFWS between
 * its parts) or a domain literal. */
static void read_domain(struct parser *ps)
{
	bool want_dot = false;

	mc_buf_clear(&ps->domain);
	skip_cfws(ps);
	if (ps->p < ps->end && *ps->p == '[') {
		read_domain_literal(ps);
		skip_cfws(ps);
		return;
	}
	while (ps->p < ps->end &&
	       (*ps->p == '.' || (is_atom_char(*ps->p) && !want_dot))) {
		if (*ps->p == '.')
			mc_buf_append_c(&ps->domain, *ps->p++);
		else
			read_atom(ps, &ps->domain);
		want_dot = ps->domain.data[ps->domain.len - 1] != '.';
		skip_cfws(ps);
	}
	if (!is_dot_atom(ps->domain.data, ps->domain.len))
		ps->bad = true;
}

static void read_angle_addr(struct parser *ps);

/* Outlook's unquoted 'a@b' <a@b>: the text before '<' is the name. */
static void reread_as_name(struct parser *ps)
{
	const unsigned char *start = ps->elem_start, *end = ps->p;

	while (start < end && is_wsp(*start))
		start++;
	while (end > start && is_wsp(end[-1]))
		end--;
	mc_buf_clear(&ps->phrase);
	for (; start < end; start++)
		append_text(&ps->phrase, *start);
	ps->bad = false;
	read_angle_addr(ps);
}

/* Emits the mailbox whose local part is in ps->local; "@" may follow. */
static void finish_mailbox(struct parser *ps, const char *name, bool angle)
{
	struct mc_address addr = {.name = name};
	bool has_at = ps->p < ps->end && *ps->p == '@';

	mc_buf_clear(&ps->comment);
	if (has_at) {
		ps->p++;
		read_domain(ps);
		addr.domain = pool_str(ps, &ps->domain);
	}
	if (ps->local_bad || (has_at ? addr.domain == NULL || ps->local.len == 0
				     : !angle || ps->local.len > 0))
		ps->bad = true;
	addr.local =
		mc_pstrndup(ps->pool, mc_buf_cstr(&ps->local), ps->local.len);
	if (!angle) {
		skip_cfws(ps);
		if (ps->p < ps->end && *ps->p == '<') {
			reread_as_name(ps);
			return;
		}
		if (addr.name == NULL)
			addr.name = pool_str(ps, &ps->comment);
	}
	addr.invalid = ps->bad;
	push(ps, &addr);
}

/* Skips an obs-route "@a,@b:" at ps->p when a ':' comes before '>'. */
static void skip_obs_route(struct parser *ps)
{
	const unsigned char *q = ps->p;

	while (q < ps->end && *q != ':' && *q != '>')
		q++;
	if (q < ps->end && *q == ':')
		ps->p = q + 1;
}

/* Parses an angle-addr at '<' for the display name in ps->phrase. A
 * missing '>' is tolerated. */
static void read_angle_addr(struct parser *ps)
{
	const char *name = NULL;

	if (ps->phrase.len > 0)
		name = mc_pstrndup(ps->pool, ps->phrase.data, ps->phrase.len);
	ps->p++;
	skip_cfws(ps);
	if (ps->p < ps->end && *ps->p == '@')
		skip_obs_route(ps);
	mc_buf_clear(&ps->phrase);
	mc_buf_clear(&ps->local);
	skip_cfws(ps);
	read_words(ps);
	finish_mailbox(ps, name, true);
	skip_cfws(ps);
	if (ps->p < ps->end && *ps->p == '>')
		ps->p++;
	skip_cfws(ps);
}

/* Opens a group named by ps->phrase at ':'. */
static void open_group(struct parser *ps)
{
	struct mc_address addr = {.is_group_start = true};

	ps->p++;
	addr.group =
		mc_pstrndup(ps->pool, mc_buf_cstr(&ps->phrase), ps->phrase.len);
	addr.invalid = ps->bad || ps->phrase.len == 0;
	if (push(ps, &addr))
		ps->in_group = true;
}

/* Closes the open group. */
static void close_group(struct parser *ps)
{
	struct mc_address addr = {.is_group_end = true};

	push(ps, &addr);
	ps->in_group = false;
}

/* Parses one mailbox or group start (ps->p is not at ',' or ';'). */
static void parse_element(struct parser *ps)
{
	mc_buf_clear(&ps->phrase);
	mc_buf_clear(&ps->local);
	ps->bad = false;
	ps->elem_start = ps->p;
	for (;;) {
		read_words(ps);
		if (ps->p >= ps->end || *ps->p == ',' || *ps->p == ';')
			break;
		if (*ps->p == '<') {
			read_angle_addr(ps);
			return;
		}
		if (*ps->p == '@') {
			finish_mailbox(ps, NULL, false);
			return;
		}
		if (*ps->p == ':' && !ps->in_group) {
			open_group(ps);
			return;
		}
		/* junk: a stray '>', '[', or ':' */
		ps->bad = true;
		ps->p++;
		skip_cfws(ps);
	}
	if (ps->local.len > 0)
		finish_mailbox(ps, NULL, false);
}

/* Runs the parser over the whole input. */
static void parse_list(struct parser *ps)
{
	while (ps->p < ps->end && !ps->full) {
		const unsigned char *start = ps->p;

		skip_cfws(ps);
		if (ps->p >= ps->end)
			break;
		if (*ps->p == ',' || *ps->p == ';') {
			if (*ps->p == ';' && ps->in_group)
				close_group(ps);
			ps->p++;
			continue;
		}
		parse_element(ps);
		if (ps->p == start)
			ps->p++;
	}
	if (ps->in_group)
		close_group(ps);
}

struct mc_address *mc_address_parse(struct mc_pool *pool, const char *input,
				    size_t len, size_t max, size_t *count_r)
{
	struct parser ps = {.pool = pool, .max = max};
	struct mc_buf *bufs[] = {&ps.phrase, &ps.local, &ps.domain, &ps.comment,
				 &ps.word};
	struct mc_address *result = NULL;

	ps.p = (const unsigned char *)input;
	ps.end = ps.p + len;
	if (ps.max == 0)
		ps.max = MC_ADDRESS_DEFAULT_MAX;
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		mc_buf_init(bufs[i], NULL, 0);
	parse_list(&ps);
	if (ps.count > 0)
		result = mc_pmemdup(pool, ps.addrs, ps.count * sizeof(*result));
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		mc_buf_free(bufs[i]);
	free(ps.addrs);
	*count_r = ps.count;
	return result;
}

/* True when a display name can go out as a phrase of plain atoms. */
static bool is_plain_phrase(const char *s)
{
	if (*s == '\0' || *s == ' ')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == ' ' ? s[1] == ' ' || s[1] == '\0'
			     : !is_atom_char(c) || c == '\\' || c == ']' ||
				       c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Appends s as a quoted string. */
static bool write_quoted(struct mc_buf *out, const char *s)
{
	bool ok = mc_buf_append_c(out, '"');

	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			ok &= mc_buf_append_c(out, '\\');
		ok &= mc_buf_append_c(out, *s);
	}
	return mc_buf_append_c(out, '"') && ok;
}

/* Appends a phrase, quoted when it is not plain atoms. */
static bool write_phrase(struct mc_buf *out, const char *s)
{
	if (is_plain_phrase(s))
		return mc_buf_append_str(out, s);
	return write_quoted(out, s);
}

/* Appends local@domain, quoting the local part when needed. */
static bool write_addr_spec(const struct mc_address *addr, struct mc_buf *out)
{
	const char *local = addr->local;
	bool ok;

	if (is_dot_atom(local, strlen(local)) || *local == '\0')
		ok = mc_buf_append_str(out, local);
	else
		ok = write_quoted(out, local);
	if (addr->domain != NULL)
		ok &= mc_buf_printf(out, "@%s", addr->domain);
	return ok;
}

bool mc_address_write(const struct mc_address *addr, struct mc_buf *out)
{
	if (addr->is_group_start) {
		return write_phrase(out,
				    addr->group != NULL ? addr->group : "") &&
		       mc_buf_append_c(out, ':');
	}
	if (addr->is_group_end)
		return mc_buf_append_c(out, ';');
	if (addr->local == NULL)
		return true;
	if (*addr->local == '\0' && addr->domain == NULL)
		return mc_buf_append_str(out, "<>");
	if (addr->name == NULL || *addr->name == '\0')
		return write_addr_spec(addr, out);
	return write_phrase(out, addr->name) && mc_buf_append_str(out, " <") &&
	       write_addr_spec(addr, out) && mc_buf_append_c(out, '>');
}

bool mc_address_write_list(const struct mc_address *addrs, size_t count,
			   struct mc_buf *out)
{
	bool ok = true;

	for (size_t i = 0; i < count; i++) {
		const struct mc_address *addr = &addrs[i];

		if (i > 0 && !addr->is_group_end) {
			ok &= mc_buf_append_str(
				out, addrs[i - 1].is_group_start ? " " : ", ");
		}
		ok &= mc_address_write(addr, out);
	}
	return ok;
}
