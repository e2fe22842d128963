/* mc-spamrules-load: settings, the rules-file parser (one rule per line,
 * see mc-spamrules.h), PCRE2 compilation (UTF-8, JIT when available) and
 * the life of a struct mc_spamrules. A bad line fails the whole load with
 * its source and line number. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-spamrules-private.h"

#define DEFAULT_MAX_BODY    (256 * 1024)
#define DEFAULT_MAX_PARTS   100
#define DEFAULT_SNIFF	    8192
#define DEFAULT_MATCH_LIMIT 200000
#define DEFAULT_DEPTH_LIMIT 5000
#define LIMIT_MAX_BODY	    (64 * 1024 * 1024)
#define LIMIT_SNIFF	    (1024 * 1024)
#define LIMIT_PARTS	    100000

/* A line being parsed: the cursor and the reason of a failure. */
struct cursor {
	const char *p;
	char why[300];
};

/* The default scores; everything else zero. */
void mc_spamrules_settings_init(struct mc_spamrules_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->scores = (struct mc_spamrules_scores){
		.reply_to_differs = 1.5,
		.from_name_address = 2.5,
		.missing_date = 1.4,
		.missing_message_id = 0.5,
		.attach_name = 5.0,
		.attach_type = 5.0,
		.spf_pass = -0.2,
		.spf_fail = 1.0,
		.spf_softfail = 0.5,
		.dkim_pass = -0.2,
		.dkim_fail = 1.0,
		.dmarc_fail = 2.0,
		.dnsbl_factor = 1.0,
	};
}

/* ---- tokens ---- */

/* Sets the failure reason and returns false. */
static bool fail(struct cursor *c, const char *fmt, const char *arg)
{
	snprintf(c->why, sizeof(c->why), fmt, arg);
	return false;
}

/* Skips blanks. */
static void skip_blanks(struct cursor *c)
{
	while (*c->p == ' ' || *c->p == '\t')
		c->p++;
}

/* The next blank-delimited word into buf (size bytes); false if none or
 * too long. */
static bool word(struct cursor *c, char *buf, size_t size)
{
	size_t n = 0;
	skip_blanks(c);
	while (c->p[n] != '\0' && c->p[n] != ' ' && c->p[n] != '\t')
		n++;
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, c->p, n);
	buf[n] = '\0';
	c->p += n;
	return true;
}

/* True for a valid rule name. */
static bool valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* True for a header field name (RFC 5322 ftext). */
static bool valid_field(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == ':')
			return false;
	return true;
}

/* ---- one rule ---- */

/* The PCRE2 options of the flags word. */
static bool regex_flags(struct cursor *c, uint32_t *opts)
{
	static const char letters[] = "imsx";
	static const uint32_t options[] = {PCRE2_CASELESS, PCRE2_MULTILINE,
					   PCRE2_DOTALL, PCRE2_EXTENDED};
	for (; *c->p != '\0' && *c->p != ' ' && *c->p != '\t'; c->p++) {
		const char *l = strchr(letters, *c->p);
		if (l == NULL) {
			char f[2] = {*c->p, '\0'};
			return fail(c, "unknown regex flag \"%s\"", f);
		}
		*opts |= options[l - letters];
	}
	return true;
}

/* Compiles "/REGEX/FLAGS" at the cursor into r->code. */
static bool parse_regex(struct cursor *c, struct rule *r)
{
	skip_blanks(c);
	if (*c->p != '/')
		return fail(c, "%s", "expected /regex/");
	const char *start = ++c->p;
	while (*c->p != '\0' && *c->p != '/')
		c->p += (*c->p == '\\' && c->p[1] != '\0') ? 2 : 1;
	if (*c->p != '/')
		return fail(c, "%s", "unterminated /regex/");
	size_t len = (size_t)(c->p++ - start);
	uint32_t opts =
		PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
	if (!regex_flags(c, &opts))
		return false;
	int code;
	PCRE2_SIZE off;
	r->code =
		pcre2_compile((PCRE2_SPTR)start, len, opts, &code, &off, NULL);
	if (r->code == NULL) {
		char msg[200];
		pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(c->why, sizeof(c->why), "bad regex at offset %zu: %s",
			 (size_t)off, msg);
		return false;
	}
	(void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* optional */
	return true;
}

/* The header rule target word ("Subject", "From:addr", "ALL",
 * "exists:X-Foo") into r. */
static bool parse_target(struct cursor *c, struct rule *r)
{
	static const struct {
		const char *suffix;
		enum rule_target target;
	} modes[] = {{":raw", TARGET_RAW},
		     {":addr", TARGET_ADDR},
		     {":name", TARGET_NAME}};
	char w[256];
	if (!word(c, w, sizeof(w)))
		return fail(c, "%s", "missing header field");
	if (strcmp(w, "ALL") == 0) {
		r->target = TARGET_ALL;
		return true;
	}
	char *field = w;
	r->target = TARGET_DECODED;
	if (strncmp(w, "exists:", 7) == 0) {
		r->target = TARGET_EXISTS;
		field = w + 7;
	}
	size_t len = strlen(field);
	for (size_t i = 0; i < 3 && r->target == TARGET_DECODED; i++)
		if (mc_str_has_suffix_icase(field, modes[i].suffix)) {
			r->target = modes[i].target;
			len -= strlen(modes[i].suffix);
		}
	if (!valid_field(field, len))
		return fail(c, "bad header field \"%s\"", w);
	r->field = mc_strndup(field, len);
	return true;
}

/* The "=~" (or, for header rules, "!~") operator. */
static bool parse_op(struct cursor *c, struct rule *r)
{
	char w[8];
	if (!word(c, w, sizeof(w)))
		return fail(c, "%s", "expected =~");
	if (strcmp(w, "!~") == 0 && r->type == RULE_HEADER)
		r->negate = true;
	else if (strcmp(w, "=~") != 0)
		return fail(c, "expected =~, not \"%s\"", w);
	return true;
}

/* The score word. */
static bool parse_score(struct cursor *c, struct rule *r)
{
	char w[64], *end;
	if (!word(c, w, sizeof(w)))
		return fail(c, "%s", "missing score");
	errno = 0;
	r->score = strtod(w, &end);
	if (*end != '\0' || errno != 0 || !isfinite(r->score) ||
	    fabs(r->score) > MC_SPAMRULES_SCORE_MAX)
		return fail(c, "bad score \"%s\"", w);
	return true;
}

/* The optional "description" and the end of the line. */
static bool parse_description(struct cursor *c, struct rule *r)
{
	skip_blanks(c);
	if (*c->p == '\0') {
		r->description = mc_strdup("");
		return true;
	}
	if (*c->p != '"')
		return fail(c, "unexpected \"%s\"", c->p);
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	for (c->p++; *c->p != '\0' && *c->p != '"'; c->p++) {
		if (*c->p == '\\' && (c->p[1] == '"' || c->p[1] == '\\'))
			c->p++;
		mc_buf_append_c(&b, *c->p);
	}
	r->description = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	if (*c->p != '"')
		return fail(c, "%s", "unterminated description");
	c->p++;
	skip_blanks(c);
	return *c->p == '\0' || fail(c, "unexpected \"%s\"", c->p);
}

/* The rule type word. */
static bool parse_type(struct cursor *c, struct rule *r)
{
	static const struct {
		const char *word;
		enum rule_type type;
	} types[] = {{"header", RULE_HEADER},
		     {"body", RULE_BODY},
		     {"rawbody", RULE_RAWBODY},
		     {"uri", RULE_URI}};
	char w[32];
	if (!word(c, w, sizeof(w)))
		return fail(c, "%s", "missing rule type");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(w, types[i].word) == 0) {
			r->type = types[i].type;
			return true;
		}
	return fail(c, "unknown or unsupported rule type \"%s\"", w);
}

/* Frees what a rule holds. */
static void rule_free(struct rule *r)
{
	free(r->name);
	free(r->description);
	free(r->field);
	pcre2_code_free(r->code);
}

/* Parses one rule line into r; false with c->why. */
static bool parse_rule(struct cursor *c, struct rule *r)
{
	char name[MC_SPAMRULES_NAME_MAX + 1];
	if (!parse_type(c, r))
		return false;
	if (!word(c, name, sizeof(name)) || !valid_name(name))
		return fail(c, "%s", "missing or bad rule name");
	r->name = mc_strdup(name);
	if (r->type == RULE_HEADER && !parse_target(c, r))
		return false;
	if (r->target != TARGET_EXISTS &&
	    (!parse_op(c, r) || !parse_regex(c, r)))
		return false;
	return parse_score(c, r) && parse_description(c, r);
}

/* ---- the set ---- */

/* True when sr already has a rule called name, or name is a built-in
 * symbol. */
static bool name_taken(const struct mc_spamrules *sr, const char *name)
{
	static const char *const builtin[] = {"REPLYTO_DIFFERS",
					      "FROM_NAME_ADDRESS",
					      "MISSING_DATE",
					      "MISSING_MESSAGE_ID",
					      "ATTACH_DANGEROUS_NAME",
					      "ATTACH_DANGEROUS_TYPE",
					      "SPF_PASS",
					      "SPF_FAIL",
					      "SPF_SOFTFAIL",
					      "DKIM_PASS",
					      "DKIM_FAIL",
					      "DMARC_FAIL",
					      "DNSBL",
					      NULL};
	for (size_t i = 0; builtin[i] != NULL; i++)
		if (strcmp(builtin[i], name) == 0)
			return true;
	for (size_t i = 0; i < sr->count; i++)
		if (strcmp(sr->rules[i].name, name) == 0)
			return true;
	return false;
}

/* Parses one line of source (NUL-terminated, no line break). */
static bool load_line(struct mc_spamrules *sr, const char *line,
		      const char *source, unsigned lineno, struct mc_error *err)
{
	struct cursor c = {.p = line};
	struct rule r = {0};
	skip_blanks(&c);
	if (*c.p == '\0' || *c.p == '#')
		return true;
	bool ok = parse_rule(&c, &r);
	if (ok && name_taken(sr, r.name))
		ok = fail(&c, "duplicate or built-in rule name %s", r.name);
	if (ok && sr->count >= MC_SPAMRULES_RULES_MAX)
		ok = fail(&c, "%s", "too many rules");
	if (!ok) {
		mc_error_set(err, MC_ERR_INVALID, "%s:%u: %s", source, lineno,
			     c.why);
		rule_free(&r);
		return false;
	}
	if (sr->count == sr->cap) {
		sr->cap = sr->cap == 0 ? 32 : sr->cap * 2;
		sr->rules = mc_realloc(sr->rules, sr->cap * sizeof(r));
	}
	sr->rules[sr->count++] = r;
	return true;
}

/* Strips a trailing CR/LF of line (len bytes) in place. */
static void chomp(char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
}

/* Loads every rule of the file at path. */
static bool load_file(struct mc_spamrules *sr, const char *path,
		      struct mc_error *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "cannot open rules %s: %s",
			     path, strerror(errno));
		return false;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	bool ok = true;
	while (ok && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > MC_SPAMRULES_LINE_MAX) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s:%u: line too long", path, lineno);
			ok = false;
			break;
		}
		chomp(line, (size_t)n);
		ok = load_line(sr, line, path, lineno, err);
	}
	free(line);
	fclose(f);
	return ok;
}

/* Loads every rule of a text. */
static bool load_text(struct mc_spamrules *sr, const char *text,
		      struct mc_error *err)
{
	unsigned lineno = 0;
	while (*text != '\0') {
		size_t n = strcspn(text, "\n");
		lineno++;
		if (n > MC_SPAMRULES_LINE_MAX) {
			mc_error_set(err, MC_ERR_INVALID,
				     "rules:%u: line too long", lineno);
			return false;
		}
		char *line = mc_strndup(text, n);
		chomp(line, n);
		bool ok = load_line(sr, line, "rules", lineno, err);
		free(line);
		if (!ok)
			return false;
		text += n + (text[n] == '\n');
	}
	return true;
}

/* Splits a list setting into lower-case words (leading dots dropped). */
static char **load_list(const char *s, size_t *n_r)
{
	struct mc_pool *pool = mc_pool_create("spamrules-list", 0);
	char **items = mc_str_split(pool, s, ", \t\n", n_r);
	char **list = mc_calloc(*n_r + 1, sizeof(*list));
	for (size_t i = 0; i < *n_r; i++)
		list[i] = mc_str_lower(
			mc_strdup(items[i] + (items[i][0] == '.')));
	mc_pool_destroy(&pool);
	return list;
}

/* Frees a list from load_list. */
static void free_list(char **list, size_t n)
{
	for (size_t i = 0; list != NULL && i < n; i++)
		free(list[i]);
	free(list);
}

/* Applies the limits of set (defaults for 0); false when one is out of
 * range. */
static bool load_limits(struct mc_spamrules *sr,
			const struct mc_spamrules_settings *set,
			struct mc_error *err)
{
	sr->max_body =
		set->max_body_bytes ? set->max_body_bytes : DEFAULT_MAX_BODY;
	sr->max_parts = set->max_parts ? set->max_parts : DEFAULT_MAX_PARTS;
	sr->sniff_bytes = set->sniff_bytes ? set->sniff_bytes : DEFAULT_SNIFF;
	sr->match_limit =
		set->match_limit ? set->match_limit : DEFAULT_MATCH_LIMIT;
	sr->depth_limit =
		set->depth_limit ? set->depth_limit : DEFAULT_DEPTH_LIMIT;
	if (sr->max_body > LIMIT_MAX_BODY || sr->sniff_bytes > LIMIT_SNIFF ||
	    sr->max_parts > LIMIT_PARTS) {
		mc_error_set(err, MC_ERR_INVALID, "spam rules limit too large");
		return false;
	}
	return true;
}

/* Loads the lists, limits and rules of set into sr. */
static bool spamrules_load(struct mc_spamrules *sr,
			   const struct mc_spamrules_settings *set,
			   struct mc_error *err)
{
	sr->scores = set->scores;
	sr->exts = load_list(set->dangerous_extensions != NULL
				     ? set->dangerous_extensions
				     : MC_SPAMRULES_DANGEROUS_EXTENSIONS,
			     &sr->ext_count);
	sr->types = load_list(set->dangerous_types != NULL
				      ? set->dangerous_types
				      : MC_SPAMRULES_DANGEROUS_TYPES,
			      &sr->type_count);
	if (!load_limits(sr, set, err))
		return false;
	if (set->rules_file != NULL && !load_file(sr, set->rules_file, err))
		return false;
	return set->rules == NULL || load_text(sr, set->rules, err);
}

/* Frees the rules and lists of sr. */
static void spamrules_rules_free(struct mc_spamrules *sr)
{
	for (size_t i = 0; i < sr->count; i++)
		rule_free(&sr->rules[i]);
	free(sr->rules);
	free_list(sr->exts, sr->ext_count);
	free_list(sr->types, sr->type_count);
}

/* Loads the rules and opens the first libmagic handle. */
struct mc_spamrules *
mc_spamrules_create(const struct mc_spamrules_settings *set,
		    struct mc_error *err)
{
	struct mc_spamrules *sr = mc_calloc(1, sizeof(*sr));
	char why[256];
	magic_t m;
	pthread_mutex_init(&sr->magic_lock, NULL);
	sr->magic_file = set->magic_file ? mc_strdup(set->magic_file) : NULL;
	if (!spamrules_load(sr, set, err)) {
		mc_spamrules_destroy(&sr);
		return NULL;
	}
	if (!checks_magic_open(sr, &m, why, sizeof(why))) {
		mc_error_set(err, MC_ERR_INVALID, "libmagic: %s", why);
		mc_spamrules_destroy(&sr);
		return NULL;
	}
	sr->magic_idle = mc_malloc(sizeof(*sr->magic_idle) * 4);
	sr->magic_idle_cap = 4;
	sr->magic_idle[sr->magic_idle_count++] = m;
	return sr;
}

/* Frees the rules and every idle libmagic handle. */
void mc_spamrules_destroy(struct mc_spamrules **srp)
{
	struct mc_spamrules *sr = *srp;
	if (sr == NULL)
		return;
	*srp = NULL;
	spamrules_rules_free(sr);
	for (size_t i = 0; i < sr->magic_idle_count; i++)
		magic_close(sr->magic_idle[i]);
	free(sr->magic_idle);
	free(sr->magic_file);
	pthread_mutex_destroy(&sr->magic_lock);
	free(sr);
}

/* The number of rules loaded. */
size_t mc_spamrules_rule_count(const struct mc_spamrules *sr)
{
	return sr->count;
}
