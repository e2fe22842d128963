/* mc-content-rules-cond: validation and compilation of one content-rule
 * condition {"field", "op", "value", "case_sensitive"}: which operators a
 * field takes, the value's type, PCRE2 patterns compiled into the set's
 * pool. Errors name the place ("rules[1].conditions[0].op: ..."). */
#include <ctype.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include "mc-content-rules-private.h"

static const char *const field_names[] = {
	[CR_F_SUBJECT] = "subject",
	[CR_F_BODY] = "body",
	[CR_F_SENDER] = "sender",
	[CR_F_RECIPIENT] = "recipient",
	[CR_F_HEADER] = "header:",
	[CR_F_ATT_NAME] = "attachment_name",
	[CR_F_ATT_TYPE] = "attachment_type",
	[CR_F_ATT_SIZE] = "attachment_size",
	[CR_F_SIZE] = "size",
};

static const char *const op_names[] = {
	[CR_OP_CONTAINS] = "contains",
	[CR_OP_NOT_CONTAINS] = "not_contains",
	[CR_OP_EQUALS] = "equals",
	[CR_OP_MATCHES] = "matches",
	[CR_OP_STARTS_WITH] = "starts_with",
	[CR_OP_ENDS_WITH] = "ends_with",
	[CR_OP_GT] = "gt",
	[CR_OP_LT] = "lt",
	[CR_OP_EXISTS] = "exists",
};

/* Whether the field holds numbers rather than text. */
static bool field_is_numeric(enum cr_field f)
{
	return f == CR_F_ATT_SIZE || f == CR_F_SIZE;
}

/* A header field name: printable ASCII without ':' (RFC 5322 ftext). */
static bool header_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CR_HEADER_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (*s < 33 || *s > 126 || *s == ':')
			return false;
	return true;
}

/* Parses "field" into c. */
static int parse_field(struct mc_pool *pool, const json_t *j, const char *where,
		       struct cr_cond *c, struct mc_error *err)
{
	const char *s = json_string_value(j);
	if (s == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "%s.field: %s", where,
			     j == NULL ? "missing" : "not a string");
		return -1;
	}
	if (strncmp(s, "header:", 7) == 0) {
		if (!header_name_valid(s + 7)) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s.field: bad header name in \"%s\"",
				     where, s);
			return -1;
		}
		c->field = CR_F_HEADER;
		c->header = mc_pstrdup(pool, s + 7);
		return 0;
	}
	for (size_t i = 0; i < sizeof(field_names) / sizeof(*field_names);
	     i++) {
		if (i != CR_F_HEADER && strcmp(s, field_names[i]) == 0) {
			c->field = (enum cr_field)i;
			return 0;
		}
	}
	mc_error_set(err, MC_ERR_INVALID, "%s.field: unknown field \"%s\"",
		     where, s);
	return -1;
}

/* Whether op applies to the field. */
static bool op_fits(enum cr_op op, enum cr_field f)
{
	if (op == CR_OP_EXISTS || op == CR_OP_EQUALS)
		return true;
	if (op == CR_OP_GT || op == CR_OP_LT)
		return field_is_numeric(f);
	return !field_is_numeric(f);
}

/* Parses "op" into c and checks it against the field. */
static int parse_op(const json_t *j, const char *where, struct cr_cond *c,
		    struct mc_error *err)
{
	const char *s = json_string_value(j);
	if (s == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "%s.op: %s", where,
			     j == NULL ? "missing" : "not a string");
		return -1;
	}
	for (size_t i = 0; i < sizeof(op_names) / sizeof(*op_names); i++) {
		if (strcmp(s, op_names[i]) != 0)
			continue;
		c->op = (enum cr_op)i;
		if (op_fits(c->op, c->field))
			return 0;
		mc_error_set(err, MC_ERR_INVALID,
			     "%s.op: \"%s\" does not apply to %s field %s%s",
			     where, s,
			     field_is_numeric(c->field) ? "numeric" : "text",
			     field_names[c->field],
			     c->header != NULL ? c->header : "");
		return -1;
	}
	mc_error_set(err, MC_ERR_INVALID, "%s.op: unknown operator \"%s\"",
		     where, s);
	return -1;
}

/* The numeric value: an integer >= 0 or a size string. */
static int parse_number(const json_t *j, const char *where, struct cr_cond *c,
			struct mc_error *err)
{
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		c->number = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (json_is_string(j) &&
	    mc_str_parse_size(json_string_value(j), &c->number))
		return 0;
	mc_error_set(err, MC_ERR_INVALID,
		     "%s.value: %s needs an integer >= 0 or a size (\"10M\")",
		     where, op_names[c->op]);
	return -1;
}

/* Compiles the pattern of a matches condition into the set's pool. */
static int compile_regex(struct mc_content_rules *rules, const char *where,
			 struct cr_cond *c, struct mc_error *err)
{
	uint32_t opts =
		PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
	int code;
	PCRE2_SIZE off;

	if (!c->case_sensitive)
		opts |= PCRE2_CASELESS;
	c->re = pcre2_compile((PCRE2_SPTR)c->text, c->text_len, opts, &code,
			      &off, rules->cctx);
	if (c->re != NULL)
		return 0;
	PCRE2_UCHAR msg[256];
	pcre2_get_error_message(code, msg, sizeof(msg));
	mc_error_set(err, MC_ERR_INVALID,
		     "%s.value: regex does not compile at offset %zu: %s",
		     where, (size_t)off, (const char *)msg);
	return -1;
}

/* The text value: a string of 1..CR_VALUE_MAX bytes ("" for equals). */
static int parse_text(struct mc_content_rules *rules, const json_t *j,
		      const char *where, struct cr_cond *c,
		      struct mc_error *err)
{
	const char *s = json_string_value(j);
	size_t n = s != NULL ? json_string_length(j) : 0;
	const char *bad = NULL;

	if (s == NULL)
		bad = j == NULL ? "missing" : "not a string";
	else if (strlen(s) != n)
		bad = "contains NUL";
	else if (n > CR_VALUE_MAX)
		bad = "longer than 1000 bytes";
	else if (n == 0 && c->op != CR_OP_EQUALS)
		bad = "empty";
	if (bad != NULL) {
		mc_error_set(err, MC_ERR_INVALID, "%s.value: %s", where, bad);
		return -1;
	}
	char *t = mc_pstrndup(rules->pool, s, n);
	if (!c->case_sensitive && c->op != CR_OP_MATCHES)
		mc_str_lower(t);
	c->text = t;
	c->text_len = n;
	return c->op == CR_OP_MATCHES ? compile_regex(rules, where, c, err) : 0;
}

/* Parses "value" according to the operator. */
static int parse_value(struct mc_content_rules *rules, const json_t *j,
		       const char *where, struct cr_cond *c,
		       struct mc_error *err)
{
	if (c->op == CR_OP_EXISTS) {
		c->want = j == NULL || json_is_true(j);
		if (j == NULL || json_is_boolean(j))
			return 0;
		mc_error_set(err, MC_ERR_INVALID,
			     "%s.value: exists takes true or false", where);
		return -1;
	}
	if (field_is_numeric(c->field))
		return parse_number(j, where, c, err);
	return parse_text(rules, j, where, c, err);
}

/* Refuses keys other than the four of a condition. */
static int check_keys(const json_t *json, const char *where,
		      struct mc_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)json, key, v)
	{
		if (strcmp(key, "field") != 0 && strcmp(key, "op") != 0 &&
		    strcmp(key, "value") != 0 &&
		    strcmp(key, "case_sensitive") != 0) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s: unknown key \"%s\"", where, key);
			return -1;
		}
	}
	return 0;
}

int cr_cond_compile(struct mc_content_rules *rules, const json_t *json,
		    const char *where, struct cr_cond *c, struct mc_error *err)
{
	const json_t *cs = json_object_get(json, "case_sensitive");

	if (check_keys(json, where, err) < 0)
		return -1;
	if (cs != NULL && !json_is_boolean(cs)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "%s.case_sensitive: not a boolean", where);
		return -1;
	}
	c->case_sensitive = json_is_true(cs);
	if (parse_field(rules->pool, json_object_get(json, "field"), where, c,
			err) < 0 ||
	    parse_op(json_object_get(json, "op"), where, c, err) < 0)
		return -1;
	return parse_value(rules, json_object_get(json, "value"), where, c,
			   err);
}

/* Checks an address "local@domain": a dot-atom or printable local part
 * of 1..64 bytes, a domain of letters, digits, '-' and dots, 1..253. */
bool cr_address_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	if (at == NULL || at == s || at - s > 64)
		return false;
	for (const char *p = s; p < at; p++)
		if (*p <= 32 || *p >= 127 || strchr("<>()[],;:\\\"", *p))
			return false;
	const char *d = at + 1;
	size_t n = strlen(d);
	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.' ||
	    strstr(d, "..") != NULL || strchr(d, '.') == NULL)
		return false;
	for (; *d != '\0'; d++)
		if (!isalnum((unsigned char)*d) && *d != '-' && *d != '.')
			return false;
	return true;
}
