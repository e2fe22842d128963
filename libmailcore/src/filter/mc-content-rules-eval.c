/* mc-content-rules-eval: evaluation of a compiled rule set against the
 * facts of one message: the attachment blocklist first, then the enabled
 * rules in position order, tags and BCCs collected until the first
 * deciding action (see mc-content-rules.h). No I/O, no shared state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mc-content-rules-private.h"

/* ASCII lower case (the locale plays no part). */
static unsigned char lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Whether n bytes of a equal b (already lower case when !cs). */
static bool bytes_eq(const char *a, const char *b, size_t n, bool cs)
{
	if (cs)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (lc((unsigned char)a[i]) != (unsigned char)b[i])
			return false;
	return true;
}

/* Whether h (hl bytes) contains n (nl bytes). */
static bool has_sub(const char *h, size_t hl, const char *n, size_t nl, bool cs)
{
	if (nl > hl)
		return false;
	if (cs)
		return memmem(h, hl, n, nl) != NULL;
	for (size_t i = 0; i + nl <= hl; i++)
		if (lc((unsigned char)h[i]) == (unsigned char)n[0] &&
		    bytes_eq(h + i, n, nl, false))
			return true;
	return false;
}

/* Runs the condition's pattern over s; a limit or error is no match. */
static bool regex_hit(const struct mc_content_rules *rules,
		      const struct cr_cond *c, const char *s, size_t len,
		      pcre2_match_data *md, unsigned *errors)
{
	int rc = pcre2_match(c->re, (PCRE2_SPTR)s, len, 0, 0, md, rules->mctx);
	if (rc >= 0)
		return true;
	if (rc != PCRE2_ERROR_NOMATCH)
		(*errors)++;
	return false;
}

/* Whether one text value satisfies a positive text operator (for
 * not_contains: whether it contains the text). */
static bool text_hit(const struct mc_content_rules *rules,
		     const struct cr_cond *c, const char *s, size_t len,
		     pcre2_match_data *md, unsigned *errors)
{
	bool cs = c->case_sensitive;
	size_t n = c->text_len;

	switch (c->op) {
	case CR_OP_CONTAINS:
	case CR_OP_NOT_CONTAINS:
		return has_sub(s, len, c->text, n, cs);
	case CR_OP_EQUALS:
		return len == n && bytes_eq(s, c->text, n, cs);
	case CR_OP_STARTS_WITH:
		return len >= n && bytes_eq(s, c->text, n, cs);
	case CR_OP_ENDS_WITH:
		return len >= n && bytes_eq(s + len - n, c->text, n, cs);
	case CR_OP_MATCHES:
		return regex_hit(rules, c, s, len, md, errors);
	default:
		return false;
	}
}

/* The text value at *i (advanced past it) of the condition's field;
 * false when there is none left. */
static bool next_text(const struct cr_cond *c, const struct mc_content_facts *f,
		      size_t *i, const char **s)
{
	switch (c->field) {
	case CR_F_SUBJECT:
		*s = f->subject;
		return (*i)++ == 0;
	case CR_F_BODY:
		*s = f->body;
		return (*i)++ == 0;
	case CR_F_SENDER:
		*s = f->sender;
		return (*i)++ == 0;
	case CR_F_RECIPIENT:
		*s = *i < f->recipients_count ? f->recipients[*i] : NULL;
		return (*i)++ < f->recipients_count;
	case CR_F_HEADER:
		for (; *i < f->headers_count; (*i)++) {
			if (strcasecmp(f->headers[*i].name, c->header) == 0) {
				*s = f->headers[(*i)++].value;
				return true;
			}
		}
		return false;
	case CR_F_ATT_NAME:
	case CR_F_ATT_TYPE:
		if (*i >= f->attachments_count)
			return false;
		*s = c->field == CR_F_ATT_NAME ? f->attachments[*i].name
					       : f->attachments[*i].type;
		(*i)++;
		return true;
	default:
		return false;
	}
}

/* The numeric value at *i (advanced) of a numeric field. */
static bool next_number(const struct cr_cond *c,
			const struct mc_content_facts *f, size_t *i,
			uint64_t *v)
{
	if (c->field == CR_F_SIZE) {
		*v = f->size;
		return (*i)++ == 0;
	}
	if (*i >= f->attachments_count)
		return false;
	*v = f->attachments[(*i)++].size;
	return true;
}

/* Whether s is a non-empty string. */
static bool filled(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Whether the field has a value in the sense of "exists". */
static bool field_exists(const struct cr_cond *c,
			 const struct mc_content_facts *f)
{
	size_t i = 0;
	const char *s;

	switch (c->field) {
	case CR_F_SUBJECT:
		return filled(f->subject);
	case CR_F_SENDER:
		return filled(f->sender);
	case CR_F_BODY:
		return f->body_len > 0;
	case CR_F_RECIPIENT:
		return f->recipients_count > 0;
	case CR_F_HEADER:
		return next_text(c, f, &i, &s);
	case CR_F_ATT_NAME:
		while (next_text(c, f, &i, &s))
			if (filled(s))
				return true;
		return false;
	case CR_F_SIZE:
		return true;
	default:
		return f->attachments_count > 0;
	}
}

/* A numeric condition: any value satisfies gt, lt or equals. */
static bool number_cond(const struct cr_cond *c,
			const struct mc_content_facts *f)
{
	size_t i = 0;
	uint64_t v;
	while (next_number(c, f, &i, &v)) {
		if ((c->op == CR_OP_GT && v > c->number) ||
		    (c->op == CR_OP_LT && v < c->number) ||
		    (c->op == CR_OP_EQUALS && v == c->number))
			return true;
	}
	return false;
}

/* A text condition over every value of the field. */
static bool text_cond(const struct mc_content_rules *rules,
		      const struct cr_cond *c, const struct mc_content_facts *f,
		      pcre2_match_data *md, unsigned *errors)
{
	size_t i = 0;
	const char *s;
	bool hit = false;

	while (!hit && next_text(c, f, &i, &s)) {
		if (s == NULL)
			s = "";
		size_t len = c->field == CR_F_BODY ? f->body_len : strlen(s);
		hit = text_hit(rules, c, s, len, md, errors);
	}
	return c->op == CR_OP_NOT_CONTAINS ? !hit : hit;
}

bool cr_cond_eval(const struct mc_content_rules *rules, const struct cr_cond *c,
		  const struct mc_content_facts *f, pcre2_match_data *md,
		  unsigned *regex_errors)
{
	if (c->is_group) {
		for (size_t i = 0; i < c->members_count; i++) {
			bool v = cr_cond_eval(rules, &c->members[i], f, md,
					      regex_errors);
			if (v == c->any)
				return v;
		}
		return !c->any;
	}
	if (c->op == CR_OP_EXISTS)
		return field_exists(c, f) == c->want;
	if (c->field == CR_F_SIZE || c->field == CR_F_ATT_SIZE)
		return number_cond(c, f);
	return text_cond(rules, c, f, md, regex_errors);
}

/* Whether the rule's conditions hold (all, or any). */
static bool rule_matches(const struct mc_content_rules *rules,
			 const struct cr_rule *r,
			 const struct mc_content_facts *f, pcre2_match_data *md,
			 unsigned *errors)
{
	for (size_t i = 0; i < r->conds_count; i++) {
		bool v = cr_cond_eval(rules, &r->conds[i], f, md, errors);
		if (v == r->any)
			return v;
	}
	return !r->any;
}

/* Appends s to list unless it is there (case-insensitive). */
static void collect(const char **list, size_t *count, const char *s)
{
	for (size_t i = 0; i < *count; i++)
		if (strcasecmp(list[i], s) == 0)
			return;
	if (*count < MC_CONTENT_RULES_MAX)
		list[(*count)++] = s;
}

/* The blocklist step: true when an attachment decided. */
static bool blocklist_step(const struct mc_content_rules *rules,
			   const struct mc_content_facts *f,
			   struct mc_content_verdict *out)
{
	for (size_t i = 0; i < f->attachments_count; i++) {
		const struct mc_content_attachment *a = &f->attachments[i];
		if (!cr_blocklist_match(rules, a, &out->blocked_entry))
			continue;
		out->action = rules->block_action;
		out->blocklisted = true;
		out->blocked_attachment = a->name != NULL && a->name[0] != '\0'
						  ? a->name
						  : a->type;
		out->text = out->action == MC_CONTENT_REJECT
				    ? MC_CONTENT_BLOCKED_TEXT
				    : NULL;
		return true;
	}
	return false;
}

/* Applies a matching rule; true when it decided. */
static bool apply(const struct cr_rule *r, struct mc_content_verdict *out)
{
	out->rules_matched++;
	if (r->action == MC_CONTENT_TAG) {
		collect(out->tags, &out->tags_count, r->text);
		return false;
	}
	if (r->action == MC_CONTENT_BCC) {
		collect(out->bcc, &out->bcc_count, r->address);
		return false;
	}
	out->action = r->action;
	out->rule = r->name;
	out->position = r->position;
	out->text = r->text;
	if (r->action == MC_CONTENT_REJECT && r->text == NULL)
		out->text = MC_CONTENT_REJECT_TEXT;
	return true;
}

void mc_content_rules_eval(const struct mc_content_rules *rules,
			   const struct mc_content_facts *facts,
			   struct mc_content_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->position = -1;
	if (rules == NULL || blocklist_step(rules, facts, out) ||
	    rules->enabled == 0)
		return;
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (md == NULL)
		abort();
	for (size_t i = 0; i < rules->count; i++) {
		const struct cr_rule *r = &rules->rules[i];
		if (r->enabled &&
		    rule_matches(rules, r, facts, md, &out->regex_errors) &&
		    apply(r, out))
			break;
	}
	pcre2_match_data_free(md);
}
