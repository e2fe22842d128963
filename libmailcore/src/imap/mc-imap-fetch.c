/* mc-imap-fetch: FETCH data items (RFC 3501 6.4.5 and 9, RFC 9051, BINARY
 * of RFC 3516, MODSEQ and the CHANGEDSINCE / VANISHED modifiers of RFC
 * 7162) into a bitmask of simple items and a list of body-part requests
 * with their response names, and whether the request implies \Seen. */
#include "mailcore/mc-imap-fetch.h"

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <string.h>
#include <strings.h>

/* Longest item text quoted back in an error. */
#define ERROR_ITEM_MAX 64

struct ctx {
	struct mc_pool *pool;
	struct mc_imap_fetch *fetch;
	const char *item; /* the whole item text, for errors */
	const char *p;	  /* the parse position inside it */
	const char *error;
};

/* A simple item or a body request without a section. */
struct simple_def {
	const char *name;
	unsigned items;
	const char *section; /* non-NULL: an RFC822 form of BODY[...] */
	bool peek;
};

static const struct simple_def simple_items[] = {
	{"FLAGS", MC_IMAP_FETCH_FLAGS, NULL, false},
	{"INTERNALDATE", MC_IMAP_FETCH_INTERNALDATE, NULL, false},
	{"RFC822.SIZE", MC_IMAP_FETCH_RFC822_SIZE, NULL, false},
	{"ENVELOPE", MC_IMAP_FETCH_ENVELOPE, NULL, false},
	{"BODY", MC_IMAP_FETCH_BODY, NULL, false},
	{"BODYSTRUCTURE", MC_IMAP_FETCH_BODYSTRUCTURE, NULL, false},
	{"UID", MC_IMAP_FETCH_UID, NULL, false},
	{"MODSEQ", MC_IMAP_FETCH_MODSEQ, NULL, false},
	{"RFC822", 0, "", false},
	{"RFC822.HEADER", 0, "HEADER", true},
	{"RFC822.TEXT", 0, "TEXT", false},
};

/* The body-part item prefixes: "BODY.PEEK[" and friends. */
struct prefix_def {
	const char *prefix;
	const char *echo;
	bool peek, binary, size_only;
};

static const struct prefix_def prefixes[] = {
	{"BODY[", "BODY", false, false, false},
	{"BODY.PEEK[", "BODY", true, false, false},
	{"BINARY[", "BINARY", false, true, false},
	{"BINARY.PEEK[", "BINARY", true, true, false},
	{"BINARY.SIZE[", "BINARY.SIZE", true, true, true},
};

/* Sets "<what>: <item>" (the item only when short) and returns false. */
static bool fail(struct ctx *ctx, const char *what)
{
	if (*ctx->item != '\0' && strlen(ctx->item) <= ERROR_ITEM_MAX)
		ctx->error = mc_psprintf(ctx->pool, "%s: %s", what, ctx->item);
	else
		ctx->error = what;
	return false;
}

/* Consumes word at the parse position (case-insensitive). */
static bool skip_word(struct ctx *ctx, const char *word)
{
	size_t len = strlen(word);

	if (strncasecmp(ctx->p, word, len) != 0)
		return false;
	ctx->p += len;
	return true;
}

/* Reads 1*DIGIT up to max at the parse position; nz forbids a leading 0. */
static bool read_number(struct ctx *ctx, bool nz, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;
	const char *p = ctx->p;

	if (*p < '0' || *p > '9' || (nz && *p == '0'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	ctx->p = p;
	*n_r = n;
	return true;
}

/* section-part = nz-number *("." nz-number), leaving the parse position
 * on a "." that starts section-text. Copies the digits to *part_r. */
static bool read_part(struct ctx *ctx, const char **part_r)
{
	const char *start = ctx->p;
	uint64_t n;

	*part_r = "";
	if (*ctx->p < '0' || *ctx->p > '9')
		return true;
	for (;;) {
		if (!read_number(ctx, true, UINT32_MAX, &n))
			return false;
		if (ctx->p[0] != '.' || ctx->p[1] < '0' || ctx->p[1] > '9')
			break;
		ctx->p++;
	}
	*part_r = mc_pstrndup(ctx->pool, start, (size_t)(ctx->p - start));
	return true;
}

/* True for a character of an astring atom (ASTRING-CHAR). */
static bool astring_char(char c)
{
	return c > ' ' && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

/* A quoted string at the parse position into buf (without quotes). */
static bool read_quoted(struct ctx *ctx, struct mc_buf *buf)
{
	const char *p = ctx->p + 1;

	for (; *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		else if (*p == '\0' || *p == '\\' || *p == '\r' || *p == '\n')
			return false;
		mc_buf_append_c(buf, *p);
	}
	ctx->p = p + 1;
	return true;
}

/* One header-fld-name (astring) at the parse position, upper-cased. */
static bool read_field(struct ctx *ctx, const char **name_r)
{
	struct mc_buf buf;
	char *s;

	mc_buf_init(&buf, ctx->pool, 0);
	if (*ctx->p == '"') {
		if (!read_quoted(ctx, &buf))
			return false;
	} else {
		while (astring_char(*ctx->p))
			mc_buf_append_c(&buf, *ctx->p++);
	}
	s = (char *)mc_buf_cstr(&buf);
	if (*s == '\0')
		return false;
	for (*name_r = s; *s != '\0'; s++) {
		if (*s <= ' ' || *s > '~' || *s == ':')
			return false; /* not a field name (RFC 5322 ftext) */
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
	}
	return true;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")". */
static bool read_header_list(struct ctx *ctx, struct mc_imap_fetch_part *fp)
{
	const char **fields;
	size_t cap = 1, n = 0;
	const char *p;

	if (!skip_word(ctx, " ("))
		return false;
	for (p = ctx->p; *p != '\0'; p++)
		cap += *p == ' ';
	fields = mc_palloc_array(ctx->pool, cap, sizeof(*fields));
	do {
		if (n == cap || !read_field(ctx, &fields[n++]))
			return false;
	} while (skip_word(ctx, " "));
	if (!skip_word(ctx, ")"))
		return false;
	fp->fields = fields;
	fp->field_count = n;
	return true;
}

/* section-msgtext / "MIME" after the part (binary sections have none). */
static bool read_section_text(struct ctx *ctx, struct mc_imap_fetch_part *fp)
{
	if (skip_word(ctx, "HEADER.FIELDS.NOT"))
		fp->section = MC_IMAP_FETCH_SECTION_HEADER_FIELDS_NOT;
	else if (skip_word(ctx, "HEADER.FIELDS"))
		fp->section = MC_IMAP_FETCH_SECTION_HEADER_FIELDS;
	else if (skip_word(ctx, "HEADER"))
		fp->section = MC_IMAP_FETCH_SECTION_HEADER;
	else if (skip_word(ctx, "TEXT"))
		fp->section = MC_IMAP_FETCH_SECTION_TEXT;
	else if (*fp->part != '\0' && skip_word(ctx, "MIME"))
		fp->section = MC_IMAP_FETCH_SECTION_MIME;
	else
		return false;
	if (fp->section == MC_IMAP_FETCH_SECTION_HEADER_FIELDS ||
	    fp->section == MC_IMAP_FETCH_SECTION_HEADER_FIELDS_NOT)
		return read_header_list(ctx, fp);
	return true;
}

/* section-spec up to and including "]" (the "[" is consumed). */
static bool read_section(struct ctx *ctx, struct mc_imap_fetch_part *fp)
{
	fp->section = MC_IMAP_FETCH_SECTION_WHOLE;
	if (!read_part(ctx, &fp->part))
		return false;
	if (!fp->binary && *ctx->p != ']') {
		if (*fp->part != '\0' && !skip_word(ctx, "."))
			return false;
		if (!read_section_text(ctx, fp))
			return false;
	}
	return skip_word(ctx, "]");
}

/* partial = "<" number64 "." nz-number64 ">" (RFC 9051). */
static bool read_partial(struct ctx *ctx, struct mc_imap_fetch_part *fp)
{
	if (*ctx->p != '<')
		return true;
	ctx->p++;
	if (!read_number(ctx, false, INT64_MAX, &fp->offset) ||
	    !skip_word(ctx, ".") ||
	    !read_number(ctx, true, INT64_MAX, &fp->length) ||
	    !skip_word(ctx, ">"))
		return false;
	fp->partial = true;
	return true;
}

/* Appends a header field name, quoted when it is not an atom. */
static void echo_field(struct mc_buf *buf, const char *name)
{
	const char *p;

	for (p = name; astring_char(*p) && *p != ']'; p++)
		;
	if (*p == '\0') {
		mc_buf_append_str(buf, name);
		return;
	}
	mc_buf_append_c(buf, '"');
	for (p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			mc_buf_append_c(buf, '\\');
		mc_buf_append_c(buf, *p);
	}
	mc_buf_append_c(buf, '"');
}

/* The response name: PREFIX[part.TEXT (FIELDS)]<origin>. */
static const char *echo_name(struct mc_pool *pool, const char *prefix,
			     const struct mc_imap_fetch_part *fp)
{
	static const char *const texts[] = {
		"",	"",    "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
		"TEXT", "MIME"};
	struct mc_buf buf;
	size_t i;

	mc_buf_init(&buf, pool, 0);
	mc_buf_printf(&buf, "%s[%s", prefix, fp->part);
	if (*fp->part != '\0' && fp->section != MC_IMAP_FETCH_SECTION_WHOLE)
		mc_buf_append_c(&buf, '.');
	mc_buf_append_str(&buf, texts[fp->section]);
	for (i = 0; i < fp->field_count; i++) {
		mc_buf_append_str(&buf, i == 0 ? " (" : " ");
		echo_field(&buf, fp->fields[i]);
	}
	mc_buf_append_str(&buf, fp->field_count > 0 ? ")]" : "]");
	if (fp->partial)
		mc_buf_printf(&buf, "<%llu>", (unsigned long long)fp->offset);
	return mc_buf_cstr(&buf);
}

/* True when a and b ask for exactly the same data. */
static bool same_part(const struct mc_imap_fetch_part *a,
		      const struct mc_imap_fetch_part *b)
{
	return strcmp(a->name, b->name) == 0 && a->partial == b->partial &&
	       a->length == b->length;
}

/* Appends a request, merging it into an identical one (then \Seen is set
 * unless both peek). */
static void add_part(struct mc_imap_fetch *fetch,
		     const struct mc_imap_fetch_part *fp)
{
	size_t i;

	for (i = 0; i < fetch->part_count; i++) {
		if (same_part(&fetch->parts[i], fp)) {
			fetch->parts[i].peek = fetch->parts[i].peek && fp->peek;
			return;
		}
	}
	fetch->parts[fetch->part_count++] = *fp;
}

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...] with the partial where allowed. */
static bool parse_body_item(struct ctx *ctx, const struct prefix_def *def)
{
	struct mc_imap_fetch_part fp = {
		.peek = def->peek,
		.binary = def->binary,
		.size_only = def->size_only,
	};

	ctx->p = ctx->item + strlen(def->prefix);
	if (!read_section(ctx, &fp))
		return fail(ctx, "Invalid section");
	if (!def->size_only && !read_partial(ctx, &fp))
		return fail(ctx, "Invalid partial");
	if (*ctx->p != '\0')
		return fail(ctx, "Invalid fetch item");
	fp.name = echo_name(ctx->pool, def->echo, &fp);
	add_part(ctx->fetch, &fp);
	return true;
}

/* A simple item, or RFC822 / RFC822.HEADER / RFC822.TEXT. */
static void add_simple(struct ctx *ctx, const struct simple_def *def)
{
	struct mc_imap_fetch_part fp = {.peek = def->peek, .part = ""};

	ctx->fetch->items |= def->items;
	if (def->section == NULL)
		return;
	fp.section = *def->section == '\0' ? MC_IMAP_FETCH_SECTION_WHOLE
		     : strcmp(def->section, "HEADER") == 0
			     ? MC_IMAP_FETCH_SECTION_HEADER
			     : MC_IMAP_FETCH_SECTION_TEXT;
	fp.name = def->name;
	add_part(ctx->fetch, &fp);
}

/* One fetch-att. */
static bool parse_item(struct ctx *ctx, const struct mc_imap_arg *arg)
{
	size_t i;

	ctx->item = arg->type == MC_IMAP_ARG_ATOM ? arg->str : "";
	if (arg->type != MC_IMAP_ARG_ATOM)
		return fail(ctx, "Invalid fetch item");
	for (i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
		if (strcasecmp(arg->str, simple_items[i].name) == 0) {
			add_simple(ctx, &simple_items[i]);
			return true;
		}
	}
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strncasecmp(arg->str, prefixes[i].prefix,
				strlen(prefixes[i].prefix)) == 0)
			return parse_body_item(ctx, &prefixes[i]);
	}
	if (mc_str_eq_icase(arg->str, "ALL") ||
	    mc_str_eq_icase(arg->str, "FAST") ||
	    mc_str_eq_icase(arg->str, "FULL"))
		return fail(ctx, "Macro not allowed in a list");
	return fail(ctx, "Unknown fetch item");
}

/* ALL / FAST / FULL when arg is one of them. */
static bool parse_macro(struct ctx *ctx, const struct mc_imap_arg *arg)
{
	const unsigned fast = MC_IMAP_FETCH_FLAGS | MC_IMAP_FETCH_INTERNALDATE |
			      MC_IMAP_FETCH_RFC822_SIZE;

	if (arg->type != MC_IMAP_ARG_ATOM)
		return false;
	if (strcasecmp(arg->str, "FAST") == 0)
		ctx->fetch->items |= fast;
	else if (strcasecmp(arg->str, "ALL") == 0)
		ctx->fetch->items |= fast | MC_IMAP_FETCH_ENVELOPE;
	else if (strcasecmp(arg->str, "FULL") == 0)
		ctx->fetch->items |=
			fast | MC_IMAP_FETCH_ENVELOPE | MC_IMAP_FETCH_BODY;
	else
		return false;
	return true;
}

/* ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")") */
static bool parse_items(struct ctx *ctx, const struct mc_imap_arg *arg)
{
	size_t i, n = arg->type == MC_IMAP_ARG_LIST ? arg->list_count : 1;

	ctx->fetch->parts =
		mc_palloc_array(ctx->pool, n, sizeof(*ctx->fetch->parts));
	if (arg->type != MC_IMAP_ARG_LIST)
		return parse_macro(ctx, arg) || parse_item(ctx, arg);
	if (arg->list_count == 0) {
		ctx->error = "Empty fetch item list";
		return false;
	}
	for (i = 0; i < arg->list_count; i++) {
		if (!parse_item(ctx, &arg->list[i]))
			return false;
	}
	return true;
}

/* CHANGEDSINCE's mod-sequence-value (0 accepted, as Dovecot does). */
static bool parse_changedsince(struct ctx *ctx, const struct mc_imap_arg *arg)
{
	uint64_t n;

	if (ctx->fetch->changedsince_given)
		return false;
	ctx->p = arg != NULL && arg->type == MC_IMAP_ARG_ATOM ? arg->str : "";
	if (!read_number(ctx, false, INT64_MAX, &n) || *ctx->p != '\0')
		return false;
	ctx->fetch->changedsince_given = true;
	ctx->fetch->changedsince = n;
	ctx->fetch->items |= MC_IMAP_FETCH_MODSEQ; /* RFC 7162 3.1.4.1 */
	return true;
}

/* fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
 * fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED" */
static bool parse_modifiers(struct ctx *ctx, const struct mc_imap_arg *arg,
			    bool uid_fetch)
{
	size_t i;

	ctx->item = "";
	if (arg->type != MC_IMAP_ARG_LIST || arg->list_count == 0)
		return fail(ctx, "Invalid FETCH modifiers");
	for (i = 0; i < arg->list_count; i++) {
		const struct mc_imap_arg *m = &arg->list[i];

		if (mc_imap_arg_is(m, "VANISHED") && !ctx->fetch->vanished) {
			ctx->fetch->vanished = true;
		} else if (mc_imap_arg_is(m, "CHANGEDSINCE")) {
			i++;
			if (!parse_changedsince(ctx, i < arg->list_count
							     ? &arg->list[i]
							     : NULL))
				return fail(ctx, "Invalid CHANGEDSINCE");
		} else {
			return fail(ctx, "Invalid FETCH modifier");
		}
	}
	if (ctx->fetch->vanished && !uid_fetch)
		return fail(ctx, "VANISHED is only allowed with UID FETCH");
	if (ctx->fetch->vanished && !ctx->fetch->changedsince_given)
		return fail(ctx, "VANISHED requires CHANGEDSINCE");
	return true;
}

bool mc_imap_fetch_parse(struct mc_pool *pool, const struct mc_imap_arg *args,
			 size_t count, bool uid_fetch,
			 struct mc_imap_fetch **fetch_r, const char **error_r)
{
	struct ctx ctx = {.pool = pool};

	ctx.fetch = mc_palloc(pool, sizeof(*ctx.fetch));
	if (count == 0 || count > 2) {
		*error_r = count == 0 ? "Missing fetch items"
				      : "Unexpected arguments after FETCH";
		return false;
	}
	if (!parse_items(&ctx, &args[0]) ||
	    (count == 2 && !parse_modifiers(&ctx, &args[1], uid_fetch))) {
		*error_r = ctx.error;
		return false;
	}
	if (uid_fetch)
		ctx.fetch->items |= MC_IMAP_FETCH_UID;
	*fetch_r = ctx.fetch;
	return true;
}

bool mc_imap_fetch_sets_seen(const struct mc_imap_fetch *fetch)
{
	size_t i;

	for (i = 0; i < fetch->part_count; i++) {
		if (!fetch->parts[i].peek)
			return true;
	}
	return false;
}

/* Appends one body-part request: name/flags/part/SECTION/F,F/o.l. */
static void dump_part(struct mc_buf *buf, const struct mc_imap_fetch_part *fp)
{
	static const char *const sections[] = {
		"?", "WHOLE", "HEADER", "FIELDS", "FIELDS.NOT", "TEXT", "MIME"};
	size_t i;

	mc_buf_printf(buf, "%s/%s%s%s/%s/%s/", fp->name, fp->peek ? "P" : "",
		      fp->binary ? "B" : "", fp->size_only ? "S" : "", fp->part,
		      sections[fp->section]);
	for (i = 0; i < fp->field_count; i++)
		mc_buf_printf(buf, "%s%s", i == 0 ? "" : ",", fp->fields[i]);
	mc_buf_append_c(buf, '/');
	if (fp->partial)
		mc_buf_printf(buf, "%llu.%llu", (unsigned long long)fp->offset,
			      (unsigned long long)fp->length);
}

const char *mc_imap_fetch_dump(struct mc_pool *pool,
			       const struct mc_imap_fetch *fetch)
{
	static const char *const names[] = {
		"FLAGS", "INTERNALDATE",  "RFC822.SIZE", "ENVELOPE",
		"BODY",	 "BODYSTRUCTURE", "UID",	 "MODSEQ"};
	struct mc_buf buf;
	size_t i;

	mc_buf_init(&buf, pool, 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((fetch->items & (1u << i)) != 0)
			mc_buf_printf(&buf, "%s%s", buf.len > 0 ? " " : "",
				      names[i]);
	}
	for (i = 0; i < fetch->part_count; i++) {
		mc_buf_append_str(&buf, buf.len > 0 ? " " : "");
		dump_part(&buf, &fetch->parts[i]);
	}
	if (fetch->changedsince_given)
		mc_buf_printf(&buf, " CHANGEDSINCE=%llu",
			      (unsigned long long)fetch->changedsince);
	if (fetch->vanished)
		mc_buf_append_str(&buf, " VANISHED");
	return mc_buf_cstr(&buf);
}
