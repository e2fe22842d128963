/* mc-content-rules: validation and compilation of a domain's content rules
 * from their JSON form (see mc-content-rules.h): rule keys, groups,
 * actions, limits and the position order. Conditions are compiled by
 * mc-content-rules-cond.c, evaluated by mc-content-rules-eval.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#include "mc-content-rules-private.h"

#define WHERE_MAX      48		/* "rules[N]" */
#define COND_WHERE_MAX (WHERE_MAX + 40) /* ".conditions[N]" */

static const char *const action_names[] = {
	[MC_CONTENT_NONE] = "none",
	[MC_CONTENT_REJECT] = "reject",
	[MC_CONTENT_QUARANTINE] = "quarantine",
	[MC_CONTENT_HOLD] = "hold",
	[MC_CONTENT_DELIVER] = "deliver",
	[MC_CONTENT_TAG] = "tag",
	[MC_CONTENT_BCC] = "bcc",
};

const char *mc_content_action_name(enum mc_content_action action)
{
	if ((size_t)action >= sizeof(action_names) / sizeof(*action_names))
		return "none";
	return action_names[action];
}

/* PCRE2 allocator over a pool. */
static void *pcre_pool_malloc(PCRE2_SIZE size, void *data)
{
	return mc_palloc(data, size);
}

/* Pool memory is freed with the pool. */
static void pcre_pool_free(void *ptr, void *data)
{
	(void)ptr;
	(void)data;
}

/* A new empty set in pool with its PCRE2 contexts and match limits. */
static struct mc_content_rules *set_new(struct mc_pool *pool)
{
	struct mc_content_rules *r = mc_palloc(pool, sizeof(*r));
	r->pool = pool;
	r->gctx = pcre2_general_context_create(pcre_pool_malloc, pcre_pool_free,
					       pool);
	r->cctx = pcre2_compile_context_create(r->gctx);
	r->mctx = pcre2_match_context_create(r->gctx);
	if (r->gctx == NULL || r->cctx == NULL || r->mctx == NULL)
		abort();
	pcre2_set_max_pattern_length(r->cctx, CR_VALUE_MAX);
	pcre2_set_parens_nest_limit(r->cctx, 50);
	pcre2_set_match_limit(r->mctx, CR_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, CR_DEPTH_LIMIT);
	pcre2_set_heap_limit(r->mctx, CR_HEAP_LIMIT_KIB);
	r->block_action = MC_CONTENT_REJECT;
	return r;
}

/* Whether s is valid UTF-8 without control characters. */
static bool text_clean(const char *s, bool ascii)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		if (*p < 32 || *p == 127 || (ascii && *p > 127))
			return false;
		size_t n = *p < 0x80		 ? 0
			   : (*p & 0xe0) == 0xc0 ? 1
			   : (*p & 0xf0) == 0xe0 ? 2
			   : (*p & 0xf8) == 0xf0 ? 3
						 : 4;
		if (n == 4 || (n == 1 && *p < 0xc2))
			return false;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Reads an optional or required text key of an action into *out. */
static int action_text(struct mc_pool *pool, const json_t *action,
		       const char *key, bool required, size_t max, bool ascii,
		       const char *where, const char **out,
		       struct mc_error *err)
{
	const json_t *j = json_object_get(action, key);
	const char *s = json_string_value(j);
	const char *bad = NULL;

	if (j == NULL && !required)
		return 0;
	if (s == NULL)
		bad = j == NULL ? "missing" : "not a string";
	else if (strlen(s) != json_string_length(j) || !text_clean(s, ascii))
		bad = ascii ? "not printable ASCII" : "control characters";
	else if (s[0] == '\0')
		bad = "empty";
	else if (strlen(s) > max)
		bad = "too long";
	if (bad != NULL) {
		mc_error_set(err, MC_ERR_INVALID, "%s.action.%s: %s", where,
			     key, bad);
		return -1;
	}
	*out = mc_pstrdup(pool, s);
	return 0;
}

/* Refuses keys of obj not in the NULL-terminated list allowed. */
static int check_keys(const json_t *obj, const char *const *allowed,
		      const char *where, struct mc_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s: unknown key \"%s\"", where, key);
			return -1;
		}
	}
	return 0;
}

/* The action's type name into r->action. */
static int action_type(const json_t *a, const char *where, struct cr_rule *r,
		       struct mc_error *err)
{
	const char *type = json_string_value(json_object_get(a, "type"));
	for (size_t i = 1;
	     type != NULL && i < sizeof(action_names) / sizeof(*action_names);
	     i++) {
		if (strcmp(type, action_names[i]) == 0) {
			r->action = (enum mc_content_action)i;
			return 0;
		}
	}
	mc_error_set(err, MC_ERR_INVALID, "%s.action.type: %s%s%s", where,
		     type == NULL ? "missing or not a string" : "unknown \"",
		     type == NULL ? "" : type, type == NULL ? "" : "\"");
	return -1;
}

/* Validates "action" into r. */
static int parse_action(struct mc_pool *pool, const json_t *a,
			const char *where, struct cr_rule *r,
			struct mc_error *err)
{
	static const char *const keys[] = {"type", "text", "address", NULL};
	if (!json_is_object(a)) {
		mc_error_set(err, MC_ERR_INVALID, "%s.action: %s", where,
			     a == NULL ? "missing" : "not an object");
		return -1;
	}
	if (check_keys(a, keys, where, err) < 0 ||
	    action_type(a, where, r, err) < 0)
		return -1;
	if (r->action == MC_CONTENT_BCC) {
		const char *s =
			json_string_value(json_object_get(a, "address"));
		if (s == NULL || !cr_address_valid(s)) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s.action.address: %s", where,
				     s == NULL ? "missing"
					       : "not an address local@domain");
			return -1;
		}
		r->address = mc_pstrdup(pool, s);
		return 0;
	}
	if (r->action == MC_CONTENT_TAG)
		return action_text(pool, a, "text", true, CR_TAG_MAX, false,
				   where, &r->text, err);
	return action_text(pool, a, "text", false, CR_TEXT_MAX,
			   r->action == MC_CONTENT_REJECT, where, &r->text,
			   err);
}

/* Compiles a group {"any": [...]} or {"all": [...]} into c; *used counts
 * the conditions of the rule so far. */
static int parse_group(struct mc_content_rules *set, const json_t *j,
		       const char *where, size_t *used, struct cr_cond *c,
		       struct mc_error *err)
{
	const json_t *list = json_object_get(j, "any");
	char sub[COND_WHERE_MAX + 32];

	c->is_group = true;
	c->any = list != NULL;
	if (list == NULL)
		list = json_object_get(j, "all");
	if (json_object_size(j) != 1 || !json_is_array(list) ||
	    json_array_size(list) == 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "%s: a group is {\"any\": [...]} or {\"all\": "
			     "[...]} with at least one condition",
			     where);
		return -1;
	}
	c->members_count = json_array_size(list);
	c->members = mc_palloc_array(set->pool, c->members_count,
				     sizeof(*c->members));
	for (size_t i = 0; i < c->members_count; i++) {
		const json_t *m = json_array_get(list, i);
		snprintf(sub, sizeof(sub), "%s.%s[%zu]", where,
			 c->any ? "any" : "all", i);
		if (++*used > MC_CONTENT_CONDITIONS_MAX) {
			mc_error_set(err, MC_ERR_LIMIT,
				     "%s: more than %d conditions in a rule",
				     sub, MC_CONTENT_CONDITIONS_MAX);
			return -1;
		}
		if (!json_is_object(m) || json_object_get(m, "any") != NULL ||
		    json_object_get(m, "all") != NULL) {
			mc_error_set(err, MC_ERR_INVALID,
				     "%s: not a condition (groups nest one "
				     "level only)",
				     sub);
			return -1;
		}
		if (cr_cond_compile(set, m, sub, &c->members[i], err) < 0)
			return -1;
	}
	return 0;
}

/* Compiles "conditions" into r. */
static int parse_conditions(struct mc_content_rules *set, const json_t *list,
			    const char *where, struct cr_rule *r,
			    struct mc_error *err)
{
	char sub[COND_WHERE_MAX];
	size_t used = 0;

	if (!json_is_array(list) || json_array_size(list) == 0) {
		mc_error_set(err, MC_ERR_INVALID, "%s.conditions: %s", where,
			     list == NULL ? "missing"
					  : "not a non-empty array");
		return -1;
	}
	r->conds_count = json_array_size(list);
	r->conds =
		mc_palloc_array(set->pool, r->conds_count, sizeof(*r->conds));
	for (size_t i = 0; i < r->conds_count; i++) {
		const json_t *c = json_array_get(list, i);
		snprintf(sub, sizeof(sub), "%s.conditions[%zu]", where, i);
		if (!json_is_object(c)) {
			mc_error_set(err, MC_ERR_INVALID, "%s: not an object",
				     sub);
			return -1;
		}
		if (json_object_get(c, "any") != NULL ||
		    json_object_get(c, "all") != NULL) {
			if (parse_group(set, c, sub, &used, &r->conds[i], err) <
			    0)
				return -1;
			continue;
		}
		if (++used > MC_CONTENT_CONDITIONS_MAX) {
			mc_error_set(err, MC_ERR_LIMIT,
				     "%s: more than %d conditions in a rule",
				     sub, MC_CONTENT_CONDITIONS_MAX);
			return -1;
		}
		if (cr_cond_compile(set, c, sub, &r->conds[i], err) < 0)
			return -1;
	}
	return 0;
}

/* name, position, enabled and match of a rule. */
static int parse_head(struct mc_pool *pool, const json_t *j, size_t index,
		      const char *where, struct cr_rule *r,
		      struct mc_error *err)
{
	const json_t *name = json_object_get(j, "name");
	const json_t *pos = json_object_get(j, "position");
	const json_t *en = json_object_get(j, "enabled");
	const char *match = json_string_value(json_object_get(j, "match"));
	const char *s = json_string_value(name);

	if (s == NULL || s[0] == '\0' || strlen(s) > CR_NAME_MAX ||
	    !text_clean(s, false)) {
		mc_error_set(err, MC_ERR_INVALID, "%s.name: %s", where,
			     name == NULL ? "missing"
					  : "not a string of 1..100 bytes "
					    "without control characters");
		return -1;
	}
	r->name = mc_pstrdup(pool, s);
	if (pos != NULL &&
	    (!json_is_integer(pos) || json_integer_value(pos) < 0 ||
	     json_integer_value(pos) > INT32_MAX)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "%s.position: not an integer 0..2147483647",
			     where);
		return -1;
	}
	r->position = pos != NULL ? json_integer_value(pos) : (int64_t)index;
	if (en != NULL && !json_is_boolean(en)) {
		mc_error_set(err, MC_ERR_INVALID, "%s.enabled: not a boolean",
			     where);
		return -1;
	}
	r->enabled = en == NULL || json_is_true(en);
	if (json_object_get(j, "match") != NULL &&
	    (match == NULL ||
	     (strcmp(match, "all") != 0 && strcmp(match, "any") != 0))) {
		mc_error_set(err, MC_ERR_INVALID,
			     "%s.match: not \"all\" or \"any\"", where);
		return -1;
	}
	r->any = match != NULL && strcmp(match, "any") == 0;
	return 0;
}

/* Compiles one rule object. */
static int parse_rule(struct mc_content_rules *set, const json_t *j,
		      size_t index, struct cr_rule *r, struct mc_error *err)
{
	static const char *const keys[] = {"id",      "name",  "position",
					   "enabled", "match", "conditions",
					   "action",  NULL};
	char where[WHERE_MAX];

	snprintf(where, sizeof(where), "rules[%zu]", index);
	if (!json_is_object(j)) {
		mc_error_set(err, MC_ERR_INVALID, "%s: not an object", where);
		return -1;
	}
	if (check_keys(j, keys, where, err) < 0 ||
	    parse_head(set->pool, j, index, where, r, err) < 0 ||
	    parse_conditions(set, json_object_get(j, "conditions"), where, r,
			     err) < 0)
		return -1;
	return parse_action(set->pool, json_object_get(j, "action"), where, r,
			    err);
}

/* qsort order: by position. */
static int rule_cmp(const void *a, const void *b)
{
	const struct cr_rule *x = a, *y = b;
	return (x->position > y->position) - (x->position < y->position);
}

/* Sorts the rules and refuses a position used twice. */
static int sort_rules(struct mc_content_rules *set, struct mc_error *err)
{
	qsort(set->rules, set->count, sizeof(*set->rules), rule_cmp);
	for (size_t i = 1; i < set->count; i++) {
		if (set->rules[i].position == set->rules[i - 1].position) {
			mc_error_set(err, MC_ERR_INVALID,
				     "rules: position %lld used by \"%s\" and "
				     "\"%s\"",
				     (long long)set->rules[i].position,
				     set->rules[i - 1].name,
				     set->rules[i].name);
			return -1;
		}
	}
	for (size_t i = 0; i < set->count; i++)
		set->enabled += set->rules[i].enabled;
	return 0;
}

int mc_content_rules_compile(const json_t *rules, struct mc_pool *pool,
			     struct mc_content_rules **rules_r,
			     struct mc_error *err)
{
	if (rules != NULL && !json_is_array(rules)) {
		mc_error_set(err, MC_ERR_INVALID, "rules: not an array");
		return -1;
	}
	size_t n = rules != NULL ? json_array_size(rules) : 0;
	if (n > MC_CONTENT_RULES_MAX) {
		mc_error_set(err, MC_ERR_LIMIT, "rules: %zu rules, at most %d",
			     n, MC_CONTENT_RULES_MAX);
		return -1;
	}
	struct mc_content_rules *set = set_new(pool);
	set->count = n;
	set->rules = mc_palloc_array(pool, n + 1, sizeof(*set->rules));
	for (size_t i = 0; i < n; i++)
		if (parse_rule(set, json_array_get(rules, i), i, &set->rules[i],
			       err) < 0)
			return -1;
	if (sort_rules(set, err) < 0)
		return -1;
	*rules_r = set;
	return 0;
}

int mc_content_rules_validate(const json_t *rules, const json_t *blocklist,
			      struct mc_error *err)
{
	struct mc_pool *pool = mc_pool_create("content-rules-validate", 0);
	struct mc_content_rules *set;
	int ret = mc_content_rules_compile(rules, pool, &set, err);
	if (ret == 0)
		ret = mc_content_rules_set_blocklist(set, blocklist,
						     MC_CONTENT_REJECT, err);
	mc_pool_destroy(&pool);
	return ret;
}

size_t mc_content_rules_count(const struct mc_content_rules *rules)
{
	return rules != NULL ? rules->enabled : 0;
}

size_t mc_content_rules_total(const struct mc_content_rules *rules)
{
	return rules != NULL ? rules->count : 0;
}

size_t mc_content_rules_blocklist_count(const struct mc_content_rules *rules)
{
	return rules != NULL ? rules->block_count : 0;
}
