/* mc-imap-search: SEARCH arguments (RFC 3501 6.4.4, RFC 9051 6.4.4) from
 * the parser's argument tree into a tree of search keys, with the ESEARCH
 * return options (RFC 4731, RFC 5182 SAVE), the charset, MODSEQ (RFC 7162
 * 3.1.5) and "$" (RFC 5182); plus simplification and a text dump. */
#include "mailcore/mc-imap-search.h"

#include "mailcore/mc-date.h"
#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>
#include <strings.h>

#define BADCHARSET_ERROR "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset"

/* A position in an argument array (the command's or a list's). */
struct cursor {
	const struct mc_imap_arg *args;
	size_t count, pos;
};

struct ctx {
	struct mc_pool *pool;
	unsigned max_depth, max_keys;
	struct mc_imap_search *search;
	const char *error;
};

struct key_def;
typedef bool key_parse_fn(struct ctx *ctx, struct cursor *cur,
			  const struct key_def *def, unsigned depth,
			  struct mc_imap_search_node *n);

/* One search key of the dispatch table; a and b are handler arguments. */
struct key_def {
	const char *name;
	key_parse_fn *parse;
	int a, b;
};

static bool parse_key(struct ctx *ctx, struct cursor *cur, unsigned depth,
		      struct mc_imap_search_node **n_r);

/* Sets the error text and returns false. */
static bool fail(struct ctx *ctx, const char *error)
{
	ctx->error = error;
	return false;
}

/* The next argument, or NULL at the end. */
static const struct mc_imap_arg *next_arg(struct cursor *cur)
{
	return cur->pos < cur->count ? &cur->args[cur->pos++] : NULL;
}

/* The next argument, or NULL with "Missing argument for KEY". */
static const struct mc_imap_arg *need_arg(struct ctx *ctx, struct cursor *cur,
					  const struct key_def *def)
{
	const struct mc_imap_arg *arg = next_arg(cur);

	if (arg == NULL)
		ctx->error = mc_psprintf(ctx->pool, "Missing argument for %s",
					 def->name);
	return arg;
}

/* True when an argument follows; else "Missing argument for KEY". */
static bool has_more(struct ctx *ctx, struct cursor *cur,
		     const struct key_def *def)
{
	if (cur->pos < cur->count)
		return true;
	return need_arg(ctx, cur, def) != NULL;
}

/* "Invalid argument for KEY", returning false. */
static bool fail_arg(struct ctx *ctx, const struct key_def *def)
{
	return fail(ctx, mc_psprintf(ctx->pool, "Invalid argument for %s",
				     def->name));
}

/* The length of the UTF-8 sequence lead byte c starts (0: invalid). */
static unsigned utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c < 0xe0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if (c >= 0xf0 && c < 0xf5)
		return 4;
	return 0;
}

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t i = 0;
	unsigned n, k;
	uint32_t cp;

	while (i < len) {
		n = utf8_len(s[i]);
		if (n == 0 || len - i < n)
			return false;
		cp = n == 1 ? s[i] : s[i] & (0xffu >> (n + 1));
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min[n] || (cp >= 0xd800 && cp < 0xe000) ||
		    cp > 0x10ffff)
			return false;
		i += n;
	}
	return true;
}

/* Reads an astring argument as a pool string without NULs. */
static bool read_astring(struct ctx *ctx, struct cursor *cur,
			 const struct key_def *def, const char **s_r)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);
	const char *s;
	size_t len;

	if (arg == NULL)
		return false;
	if (!mc_imap_arg_string(arg, &s, &len) || strlen(s) != len)
		return fail_arg(ctx, def);
	if (ctx->search->charset == MC_IMAP_SEARCH_CHARSET_UTF8 &&
	    !utf8_valid((const unsigned char *)s, len))
		return fail(ctx, mc_psprintf(ctx->pool, "Invalid UTF-8 in %s",
					     def->name));
	*s_r = mc_pstrndup(ctx->pool, s, len);
	return true;
}

/* Fills a SEQSET / UIDSET node from an atom: a sequence set or "$". */
static bool set_from_atom(struct ctx *ctx, const struct mc_imap_arg *arg,
			  struct mc_imap_search_node *n)
{
	if (arg->type != MC_IMAP_ARG_ATOM ||
	    !mc_imap_seqset_parse(ctx->pool, arg->str, true, &n->seqset))
		return false;
	n->saved = n->seqset.dollar;
	if (n->saved)
		ctx->search->uses_saved = true;
	n->value = mc_pstrdup(ctx->pool, arg->str);
	return true;
}

/* ALL */
static bool key_all(struct ctx *ctx, struct cursor *cur,
		    const struct key_def *def, unsigned depth,
		    struct mc_imap_search_node *n)
{
	(void)ctx, (void)cur, (void)def, (void)depth;
	n->kind = MC_IMAP_SEARCH_ALL;
	return true;
}

/* ANSWERED, UNSEEN...: a = flag, b = must be set. */
static bool key_flag(struct ctx *ctx, struct cursor *cur,
		     const struct key_def *def, unsigned depth,
		     struct mc_imap_search_node *n)
{
	(void)ctx, (void)cur, (void)depth;
	n->kind = MC_IMAP_SEARCH_FLAG;
	n->flag = (enum mc_imap_search_flag)def->a;
	n->set = def->b != 0;
	return true;
}

/* A new FLAG node. */
static struct mc_imap_search_node *
flag_node(struct ctx *ctx, enum mc_imap_search_flag flag, bool set)
{
	struct mc_imap_search_node *n = mc_palloc(ctx->pool, sizeof(*n));

	n->kind = MC_IMAP_SEARCH_FLAG;
	n->flag = flag;
	n->set = set;
	return n;
}

/* NEW = RECENT UNSEEN; OLD = NOT RECENT (a = 1 for NEW). */
static bool key_new_old(struct ctx *ctx, struct cursor *cur,
			const struct key_def *def, unsigned depth,
			struct mc_imap_search_node *n)
{
	(void)cur, (void)depth;
	if (def->a == 0) {
		*n = *flag_node(ctx, MC_IMAP_SEARCH_FLAG_RECENT, false);
		return true;
	}
	n->kind = MC_IMAP_SEARCH_AND;
	n->child_count = 2;
	n->children = mc_palloc_array(ctx->pool, 2, sizeof(*n->children));
	n->children[0] = flag_node(ctx, MC_IMAP_SEARCH_FLAG_RECENT, true);
	n->children[1] = flag_node(ctx, MC_IMAP_SEARCH_FLAG_SEEN, false);
	return true;
}

/* KEYWORD / UNKEYWORD flag-keyword (b = must be set). */
static bool key_keyword(struct ctx *ctx, struct cursor *cur,
			const struct key_def *def, unsigned depth,
			struct mc_imap_search_node *n)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);

	(void)depth;
	if (arg == NULL)
		return false;
	if (arg->type != MC_IMAP_ARG_ATOM || arg->str[0] == '\\')
		return fail_arg(ctx, def);
	n->kind = MC_IMAP_SEARCH_KEYWORD;
	n->name = mc_pstrdup(ctx->pool, arg->str);
	n->set = def->b != 0;
	return true;
}

/* BCC CC FROM SUBJECT TO astring: a header substring test. */
static bool key_header_fixed(struct ctx *ctx, struct cursor *cur,
			     const struct key_def *def, unsigned depth,
			     struct mc_imap_search_node *n)
{
	(void)depth;
	n->kind = MC_IMAP_SEARCH_HEADER;
	n->name = def->name;
	return read_astring(ctx, cur, def, &n->value);
}

/* HEADER header-fld-name astring. */
static bool key_header(struct ctx *ctx, struct cursor *cur,
		       const struct key_def *def, unsigned depth,
		       struct mc_imap_search_node *n)
{
	char *name, *p;

	(void)depth;
	n->kind = MC_IMAP_SEARCH_HEADER;
	if (!read_astring(ctx, cur, def, &n->name))
		return false;
	name = (char *)n->name;
	if (*name == '\0' || strchr(name, ':') != NULL)
		return fail_arg(ctx, def);
	for (p = name; *p != '\0'; p++) {
		if (*p <= ' ' || *p > '~')
			return fail_arg(ctx, def);
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	}
	return read_astring(ctx, cur, def, &n->value);
}

/* BODY / TEXT astring (a = node kind). */
static bool key_substring(struct ctx *ctx, struct cursor *cur,
			  const struct key_def *def, unsigned depth,
			  struct mc_imap_search_node *n)
{
	(void)depth;
	n->kind = (enum mc_imap_search_kind)def->a;
	return read_astring(ctx, cur, def, &n->value);
}

/* BEFORE ON SINCE SENT*: date = date-text / DQUOTE date-text DQUOTE
 * (a = date field, b = comparison). */
static bool key_date(struct ctx *ctx, struct cursor *cur,
		     const struct key_def *def, unsigned depth,
		     struct mc_imap_search_node *n)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);
	const char *s;
	size_t len;
	int tz;

	(void)depth;
	if (arg == NULL)
		return false;
	if (arg->type == MC_IMAP_ARG_LITERAL ||
	    !mc_imap_arg_string(arg, &s, &len) || len > 11 ||
	    strchr(s, ' ') != NULL || strchr(s, '"') != NULL ||
	    !mc_date_parse_imap(s, &n->date, &tz))
		return fail(ctx, mc_psprintf(ctx->pool, "Invalid date for %s",
					     def->name));
	n->kind = MC_IMAP_SEARCH_DATE;
	n->date_field = (enum mc_imap_search_date_field)def->a;
	n->cmp = (enum mc_imap_search_cmp)def->b;
	return true;
}

/* LARGER / SMALLER number (a = comparison); number64 as in RFC 9051. */
static bool key_size(struct ctx *ctx, struct cursor *cur,
		     const struct key_def *def, unsigned depth,
		     struct mc_imap_search_node *n)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);

	(void)depth;
	if (arg == NULL)
		return false;
	if (!mc_imap_arg_number(arg, true, &n->number))
		return fail_arg(ctx, def);
	n->kind = MC_IMAP_SEARCH_SIZE;
	n->cmp = (enum mc_imap_search_cmp)def->a;
	return true;
}

/* UID sequence-set (or "$"). */
static bool key_uid(struct ctx *ctx, struct cursor *cur,
		    const struct key_def *def, unsigned depth,
		    struct mc_imap_search_node *n)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);

	(void)depth;
	if (arg == NULL)
		return false;
	n->kind = MC_IMAP_SEARCH_UIDSET;
	if (!set_from_atom(ctx, arg, n))
		return fail(ctx, "Invalid UID sequence set");
	return true;
}

/* NOT search-key */
static bool key_not(struct ctx *ctx, struct cursor *cur,
		    const struct key_def *def, unsigned depth,
		    struct mc_imap_search_node *n)
{
	n->kind = MC_IMAP_SEARCH_NOT;
	n->child_count = 1;
	n->children = mc_palloc_array(ctx->pool, 1, sizeof(*n->children));
	return has_more(ctx, cur, def) &&
	       parse_key(ctx, cur, depth + 1, &n->children[0]);
}

/* OR search-key search-key */
static bool key_or(struct ctx *ctx, struct cursor *cur,
		   const struct key_def *def, unsigned depth,
		   struct mc_imap_search_node *n)
{
	unsigned i;

	n->kind = MC_IMAP_SEARCH_OR;
	n->child_count = 2;
	n->children = mc_palloc_array(ctx->pool, 2, sizeof(*n->children));
	for (i = 0; i < 2; i++) {
		if (!has_more(ctx, cur, def) ||
		    !parse_key(ctx, cur, depth + 1, &n->children[i]))
			return false;
	}
	return true;
}

/* attr-flag after "/flags/": a system flag or a keyword. */
static bool modseq_flag_valid(const char *s)
{
	static const char *const system[] = {"\\Answered", "\\Flagged",
					     "\\Deleted", "\\Seen", "\\Draft"};
	size_t i;

	for (i = 0; i < sizeof(system) / sizeof(system[0]); i++) {
		if (strcasecmp(s, system[i]) == 0)
			return true;
	}
	if (*s == '\0' || *s == '\\')
		return false;
	for (; *s != '\0'; s++) {
		if (*s <= ' ' || *s > '~' || strchr("(){%*\"\\]", *s) != NULL)
			return false;
	}
	return true;
}

/* The optional entry-name SP entry-type-req of MODSEQ. */
static bool modseq_entry(struct ctx *ctx, struct cursor *cur,
			 const struct key_def *def,
			 const struct mc_imap_arg *arg,
			 struct mc_imap_search_node *n)
{
	const char *s;
	size_t len;

	if (!mc_imap_arg_string(arg, &s, &len) || strlen(s) != len ||
	    strncasecmp(s, "/flags/", 7) != 0 || !modseq_flag_valid(s + 7))
		return fail(ctx, "Invalid MODSEQ entry name");
	n->name = mc_pstrdup(ctx->pool, s + 7);
	if ((arg = need_arg(ctx, cur, def)) == NULL)
		return false;
	if (mc_imap_arg_is(arg, "priv"))
		n->entry_type = MC_IMAP_SEARCH_ENTRY_PRIV;
	else if (mc_imap_arg_is(arg, "shared"))
		n->entry_type = MC_IMAP_SEARCH_ENTRY_SHARED;
	else if (mc_imap_arg_is(arg, "all"))
		n->entry_type = MC_IMAP_SEARCH_ENTRY_ALL;
	else
		return fail(ctx, "Invalid MODSEQ entry type");
	return true;
}

/* MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer
 * (RFC 7162 3.1.5). */
static bool key_modseq(struct ctx *ctx, struct cursor *cur,
		       const struct key_def *def, unsigned depth,
		       struct mc_imap_search_node *n)
{
	const struct mc_imap_arg *arg = need_arg(ctx, cur, def);

	(void)depth;
	if (arg == NULL)
		return false;
	n->kind = MC_IMAP_SEARCH_MODSEQ;
	n->cmp = MC_IMAP_SEARCH_GE;
	if (!mc_imap_arg_number(arg, true, &n->number)) {
		if (!modseq_entry(ctx, cur, def, arg, n) ||
		    (arg = need_arg(ctx, cur, def)) == NULL)
			return false;
		if (!mc_imap_arg_number(arg, true, &n->number))
			return fail(ctx, "Invalid MODSEQ value");
	}
	ctx->search->uses_modseq = true;
	return true;
}

static const struct key_def keys[] = {
	{"ALL", key_all, 0, 0},
	{"ANSWERED", key_flag, MC_IMAP_SEARCH_FLAG_ANSWERED, 1},
	{"BCC", key_header_fixed, 0, 0},
	{"BEFORE", key_date, MC_IMAP_SEARCH_DATE_INTERNAL, MC_IMAP_SEARCH_LT},
	{"BODY", key_substring, MC_IMAP_SEARCH_BODY, 0},
	{"CC", key_header_fixed, 0, 0},
	{"DELETED", key_flag, MC_IMAP_SEARCH_FLAG_DELETED, 1},
	{"DRAFT", key_flag, MC_IMAP_SEARCH_FLAG_DRAFT, 1},
	{"FLAGGED", key_flag, MC_IMAP_SEARCH_FLAG_FLAGGED, 1},
	{"FROM", key_header_fixed, 0, 0},
	{"HEADER", key_header, 0, 0},
	{"KEYWORD", key_keyword, 0, 1},
	{"LARGER", key_size, MC_IMAP_SEARCH_GT, 0},
	{"MODSEQ", key_modseq, 0, 0},
	{"NEW", key_new_old, 1, 0},
	{"NOT", key_not, 0, 0},
	{"OLD", key_new_old, 0, 0},
	{"ON", key_date, MC_IMAP_SEARCH_DATE_INTERNAL, MC_IMAP_SEARCH_EQ},
	{"OR", key_or, 0, 0},
	{"RECENT", key_flag, MC_IMAP_SEARCH_FLAG_RECENT, 1},
	{"SEEN", key_flag, MC_IMAP_SEARCH_FLAG_SEEN, 1},
	{"SENTBEFORE", key_date, MC_IMAP_SEARCH_DATE_SENT, MC_IMAP_SEARCH_LT},
	{"SENTON", key_date, MC_IMAP_SEARCH_DATE_SENT, MC_IMAP_SEARCH_EQ},
	{"SENTSINCE", key_date, MC_IMAP_SEARCH_DATE_SENT, MC_IMAP_SEARCH_GE},
	{"SINCE", key_date, MC_IMAP_SEARCH_DATE_INTERNAL, MC_IMAP_SEARCH_GE},
	{"SMALLER", key_size, MC_IMAP_SEARCH_LT, 0},
	{"SUBJECT", key_header_fixed, 0, 0},
	{"TEXT", key_substring, MC_IMAP_SEARCH_TEXT, 0},
	{"TO", key_header_fixed, 0, 0},
	{"UID", key_uid, 0, 0},
	{"UNANSWERED", key_flag, MC_IMAP_SEARCH_FLAG_ANSWERED, 0},
	{"UNDELETED", key_flag, MC_IMAP_SEARCH_FLAG_DELETED, 0},
	{"UNDRAFT", key_flag, MC_IMAP_SEARCH_FLAG_DRAFT, 0},
	{"UNFLAGGED", key_flag, MC_IMAP_SEARCH_FLAG_FLAGGED, 0},
	{"UNKEYWORD", key_keyword, 0, 0},
	{"UNSEEN", key_flag, MC_IMAP_SEARCH_FLAG_SEEN, 0},
};

/* The table entry for an atom, or NULL. */
static const struct key_def *find_key(const struct mc_imap_arg *arg)
{
	size_t i;

	if (arg->type != MC_IMAP_ARG_ATOM)
		return NULL;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcasecmp(arg->str, keys[i].name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* Parses every key of cur into an AND node's children. */
static bool parse_keys(struct ctx *ctx, struct cursor *cur, unsigned depth,
		       struct mc_imap_search_node *and)
{
	and->kind = MC_IMAP_SEARCH_AND;
	and->children = mc_palloc_array(ctx->pool, cur->count - cur->pos,
					sizeof(*and->children));
	while (cur->pos < cur->count) {
		if (!parse_key(ctx, cur, depth,
			       &and->children[ and->child_count]))
			return false;
		and->child_count++;
	}
	return true;
}

/* A parenthesised group: "(" search-key *(SP search-key) ")". */
static bool parse_group(struct ctx *ctx, const struct mc_imap_arg *arg,
			unsigned depth, struct mc_imap_search_node *n)
{
	struct cursor sub = {arg->list, arg->list_count, 0};

	if (arg->list_count == 0)
		return fail(ctx, "Empty search key list");
	return parse_keys(ctx, &sub, depth + 1, n);
}

/* One search-key at cur into *n_r. */
static bool parse_key(struct ctx *ctx, struct cursor *cur, unsigned depth,
		      struct mc_imap_search_node **n_r)
{
	const struct mc_imap_arg *arg = next_arg(cur);
	const struct key_def *def;
	struct mc_imap_search_node *n;

	if (depth > ctx->max_depth)
		return fail(ctx, "Search keys nested too deeply");
	if (++ctx->search->key_count > ctx->max_keys)
		return fail(ctx, "Too many search keys");
	*n_r = n = mc_palloc(ctx->pool, sizeof(*n));
	if (arg->type == MC_IMAP_ARG_LIST)
		return parse_group(ctx, arg, depth, n);
	if ((def = find_key(arg)) != NULL)
		return def->parse(ctx, cur, def, depth, n);
	n->kind = MC_IMAP_SEARCH_SEQSET;
	if (set_from_atom(ctx, arg, n))
		return true;
	if (arg->type == MC_IMAP_ARG_ATOM && arg->str[0] != '\0' &&
	    strchr("0123456789*$", arg->str[0]) != NULL)
		return fail(ctx, "Invalid sequence set");
	if (arg->type == MC_IMAP_ARG_ATOM && strlen(arg->str) < 64)
		return fail(ctx,
			    mc_psprintf(ctx->pool, "Unknown search key: %s",
					arg->str));
	return fail(ctx, "Invalid search key");
}

/* One ESEARCH return option into the bitmask. */
static bool return_opt(struct ctx *ctx, const struct mc_imap_arg *arg)
{
	static const char *const names[] = {"MIN", "MAX", "ALL", "COUNT",
					    "SAVE"};
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (mc_imap_arg_is(arg, names[i])) {
			ctx->search->return_opts |= 1u << i;
			return true;
		}
	}
	if (arg->type == MC_IMAP_ARG_ATOM && strlen(arg->str) < 64)
		return fail(ctx,
			    mc_psprintf(ctx->pool, "Unknown RETURN option: %s",
					arg->str));
	return fail(ctx, "Invalid RETURN option");
}

/* search-return-opts = SP "RETURN" SP "(" [opt *(SP opt)] ")". */
static bool parse_return(struct ctx *ctx, struct cursor *cur)
{
	const struct mc_imap_arg *arg;
	size_t i;

	if (cur->pos >= cur->count ||
	    !mc_imap_arg_is(&cur->args[cur->pos], "RETURN"))
		return true;
	cur->pos++;
	arg = next_arg(cur);
	if (arg == NULL || arg->type != MC_IMAP_ARG_LIST)
		return fail(ctx, "RETURN needs a list of options");
	ctx->search->return_given = true;
	for (i = 0; i < arg->list_count; i++) {
		if (!return_opt(ctx, &arg->list[i]))
			return false;
	}
	if (arg->list_count == 0)
		ctx->search->return_opts = MC_IMAP_SEARCH_RETURN_ALL;
	return true;
}

/* The charset argument: US-ASCII or UTF-8, else BADCHARSET. */
static enum mc_imap_search_status parse_charset(struct ctx *ctx,
						struct cursor *cur)
{
	const struct mc_imap_arg *arg = next_arg(cur);
	const char *s;
	size_t len;

	if (arg == NULL || !mc_imap_arg_string(arg, &s, &len)) {
		ctx->error = "Missing or invalid charset";
		return MC_IMAP_SEARCH_BAD;
	}
	if (strcasecmp(s, "US-ASCII") == 0) {
		ctx->search->charset = MC_IMAP_SEARCH_CHARSET_US_ASCII;
	} else if (strcasecmp(s, "UTF-8") == 0) {
		ctx->search->charset = MC_IMAP_SEARCH_CHARSET_UTF8;
	} else {
		ctx->error = BADCHARSET_ERROR;
		return MC_IMAP_SEARCH_BADCHARSET;
	}
	return MC_IMAP_SEARCH_OK;
}

/* The shared part of both entry points: options, then the keys. */
static enum mc_imap_search_status
parse(struct mc_pool *pool, const struct mc_imap_search_settings *set,
      const struct mc_imap_arg *args, size_t count, bool criteria,
      struct mc_imap_search **search_r, const char **error_r)
{
	struct ctx ctx = {.pool = pool};
	struct cursor cur = {args, count, 0};
	enum mc_imap_search_status st = MC_IMAP_SEARCH_OK;

	ctx.max_depth = set != NULL && set->max_depth != 0
				? set->max_depth
				: MC_IMAP_SEARCH_DEFAULT_DEPTH;
	ctx.max_keys = set != NULL && set->max_keys != 0
			       ? set->max_keys
			       : MC_IMAP_SEARCH_DEFAULT_KEYS;
	ctx.search = mc_palloc(pool, sizeof(*ctx.search));
	ctx.search->root = mc_palloc(pool, sizeof(*ctx.search->root));
	if (criteria)
		st = parse_charset(&ctx, &cur);
	else if (!parse_return(&ctx, &cur))
		st = MC_IMAP_SEARCH_BAD;
	else if (cur.pos < count && mc_imap_arg_is(&args[cur.pos], "CHARSET")) {
		cur.pos++;
		st = parse_charset(&ctx, &cur);
	}
	if (st == MC_IMAP_SEARCH_OK && cur.pos >= count) {
		ctx.error = "Missing search criteria";
		st = MC_IMAP_SEARCH_BAD;
	}
	if (st == MC_IMAP_SEARCH_OK &&
	    !parse_keys(&ctx, &cur, 0, ctx.search->root))
		st = MC_IMAP_SEARCH_BAD;
	if (st != MC_IMAP_SEARCH_OK)
		*error_r = ctx.error;
	else
		*search_r = ctx.search;
	return st;
}

enum mc_imap_search_status
mc_imap_search_parse(struct mc_pool *pool,
		     const struct mc_imap_search_settings *set,
		     const struct mc_imap_arg *args, size_t count,
		     struct mc_imap_search **search_r, const char **error_r)
{
	return parse(pool, set, args, count, false, search_r, error_r);
}

enum mc_imap_search_status mc_imap_search_parse_criteria(
	struct mc_pool *pool, const struct mc_imap_search_settings *set,
	const struct mc_imap_arg *args, size_t count,
	struct mc_imap_search **search_r, const char **error_r)
{
	return parse(pool, set, args, count, true, search_r, error_r);
}

/* Simplifies the children of an AND / OR and splices same-kind ones. */
static void simplify_list(struct mc_pool *pool, struct mc_imap_search_node *n)
{
	struct mc_imap_search_node **out;
	size_t i, j, total = 0;

	for (i = 0; i < n->child_count; i++) {
		n->children[i] = mc_imap_search_simplify(pool, n->children[i]);
		total += n->children[i]->kind == n->kind
				 ? n->children[i]->child_count
				 : 1;
	}
	out = mc_palloc_array(pool, total, sizeof(*out));
	for (i = 0, total = 0; i < n->child_count; i++) {
		struct mc_imap_search_node *c = n->children[i];

		if (c->kind != n->kind) {
			out[total++] = c;
			continue;
		}
		for (j = 0; j < c->child_count; j++)
			out[total++] = c->children[j];
	}
	n->children = out;
	n->child_count = total;
}

/* AND: drops ALL children while others remain. OR: ALL if any is. */
static struct mc_imap_search_node *simplify_all(struct mc_imap_search_node *n)
{
	size_t i, kept = 0;

	for (i = 0; i < n->child_count; i++) {
		if (n->children[i]->kind != MC_IMAP_SEARCH_ALL)
			n->children[kept++] = n->children[i];
		else if (n->kind == MC_IMAP_SEARCH_OR)
			return n->children[i];
	}
	if (kept == 0)
		kept = 1; /* all were ALL: children[0] is one */
	n->child_count = kept;
	return n->child_count == 1 ? n->children[0] : n;
}

struct mc_imap_search_node *
mc_imap_search_simplify(struct mc_pool *pool, struct mc_imap_search_node *n)
{
	struct mc_imap_search_node *c;

	switch (n->kind) {
	case MC_IMAP_SEARCH_NOT:
		c = mc_imap_search_simplify(pool, n->children[0]);
		if (c->kind == MC_IMAP_SEARCH_NOT)
			return c->children[0];
		if (c->kind == MC_IMAP_SEARCH_FLAG ||
		    c->kind == MC_IMAP_SEARCH_KEYWORD) {
			c->set = !c->set;
			return c;
		}
		n->children[0] = c;
		return n;
	case MC_IMAP_SEARCH_AND:
	case MC_IMAP_SEARCH_OR:
		simplify_list(pool, n);
		return simplify_all(n);
	default:
		return n;
	}
}

/* Appends s as a quoted string. */
static void dump_quoted(struct mc_buf *buf, const char *s)
{
	mc_buf_append_c(buf, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			mc_buf_append_c(buf, '\\');
		mc_buf_append_c(buf, *s);
	}
	mc_buf_append_c(buf, '"');
}

/* The comparison as an operator. */
static const char *cmp_name(enum mc_imap_search_cmp cmp)
{
	switch (cmp) {
	case MC_IMAP_SEARCH_LT:
		return "<";
	case MC_IMAP_SEARCH_EQ:
		return "=";
	case MC_IMAP_SEARCH_GE:
		return ">=";
	case MC_IMAP_SEARCH_GT:
		return ">";
	}
	return "?";
}

/* Appends a FLAG node. */
static void dump_flag(struct mc_buf *buf, const struct mc_imap_search_node *n)
{
	static const char *const names[] = {
		"?",	     "\\Answered", "\\Deleted", "\\Draft",
		"\\Flagged", "\\Recent",   "\\Seen"};

	mc_buf_printf(buf, "(%s %s)", n->set ? "FLAG" : "NOFLAG",
		      names[n->flag <= MC_IMAP_SEARCH_FLAG_SEEN ? n->flag : 0]);
}

/* Appends a DATE node: (DATE INTERNAL|SENT op YYYY-MM-DD). */
static void dump_date(struct mc_buf *buf, const struct mc_imap_search_node *n)
{
	struct tm tm;

	gmtime_r(&n->date, &tm);
	mc_buf_printf(
		buf, "(DATE %s %s %04d-%02d-%02d)",
		n->date_field == MC_IMAP_SEARCH_DATE_SENT ? "SENT" : "INTERNAL",
		cmp_name(n->cmp), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Appends a MODSEQ node. */
static void dump_modseq(struct mc_buf *buf, const struct mc_imap_search_node *n)
{
	static const char *const types[] = {"", "priv", "shared", "all"};

	mc_buf_append_str(buf, "(MODSEQ ");
	if (n->name != NULL) {
		dump_quoted(buf, n->name);
		mc_buf_printf(buf, " %s ", types[n->entry_type & 3]);
	}
	mc_buf_printf(buf, ">= %llu)", (unsigned long long)n->number);
}

static void dump_node(struct mc_buf *buf, const struct mc_imap_search_node *n);

/* Appends a node with children: (AND a b), (OR a b), (NOT a). */
static void dump_children(struct mc_buf *buf, const char *name,
			  const struct mc_imap_search_node *n)
{
	size_t i;

	mc_buf_printf(buf, "(%s", name);
	for (i = 0; i < n->child_count; i++) {
		mc_buf_append_c(buf, ' ');
		dump_node(buf, n->children[i]);
	}
	mc_buf_append_c(buf, ')');
}

/* Appends a node with a name and a quoted value (HEADER, BODY, TEXT). */
static void dump_value(struct mc_buf *buf, const char *what, const char *name,
		       const char *value)
{
	mc_buf_printf(buf, "(%s ", what);
	if (name != NULL)
		mc_buf_printf(buf, "%s ", name);
	dump_quoted(buf, value);
	mc_buf_append_c(buf, ')');
}

/* Appends any node. */
static void dump_node(struct mc_buf *buf, const struct mc_imap_search_node *n)
{
	switch (n->kind) {
	case MC_IMAP_SEARCH_ALL:
		mc_buf_append_str(buf, "ALL");
		break;
	case MC_IMAP_SEARCH_AND:
		dump_children(buf, "AND", n);
		break;
	case MC_IMAP_SEARCH_OR:
		dump_children(buf, "OR", n);
		break;
	case MC_IMAP_SEARCH_NOT:
		dump_children(buf, "NOT", n);
		break;
	case MC_IMAP_SEARCH_FLAG:
		dump_flag(buf, n);
		break;
	case MC_IMAP_SEARCH_KEYWORD:
		mc_buf_printf(buf, "(%s %s)", n->set ? "KEYWORD" : "NOKEYWORD",
			      n->name);
		break;
	case MC_IMAP_SEARCH_DATE:
		dump_date(buf, n);
		break;
	case MC_IMAP_SEARCH_SIZE:
		mc_buf_printf(buf, "(SIZE %s %llu)", cmp_name(n->cmp),
			      (unsigned long long)n->number);
		break;
	case MC_IMAP_SEARCH_HEADER:
		dump_value(buf, "HEADER", n->name, n->value);
		break;
	case MC_IMAP_SEARCH_BODY:
		dump_value(buf, "BODY", NULL, n->value);
		break;
	case MC_IMAP_SEARCH_TEXT:
		dump_value(buf, "TEXT", NULL, n->value);
		break;
	case MC_IMAP_SEARCH_SEQSET:
		mc_buf_printf(buf, "(SEQ %s)", n->value);
		break;
	case MC_IMAP_SEARCH_UIDSET:
		mc_buf_printf(buf, "(UID %s)", n->value);
		break;
	case MC_IMAP_SEARCH_MODSEQ:
		dump_modseq(buf, n);
		break;
	}
}

const char *mc_imap_search_dump(struct mc_pool *pool,
				const struct mc_imap_search_node *n)
{
	struct mc_buf buf;

	mc_buf_init(&buf, pool, 0);
	dump_node(&buf, n);
	return mc_buf_cstr(&buf);
}
