/* mc-imap-sortargs: SORT criteria (RFC 5256 3, RFC 5957 DISPLAYFROM and
 * DISPLAYTO) into an array of {key, reverse}, and the THREAD algorithm
 * names ORDEREDSUBJECT and REFERENCES (RFC 5256 3). */
#include "mailcore/mc-imap-sortargs.h"

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-pool.h"

/* Indexed by enum mc_imap_sortargs_key. */
static const char *const key_names[] = {
	NULL,	"ARRIVAL", "CC", "DATE",	"FROM",
	"SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
};

#define KEY_COUNT (sizeof(key_names) / sizeof(key_names[0]))

/* The key an atom names, or 0. */
static enum mc_imap_sortargs_key find_key(const struct mc_imap_arg *arg)
{
	size_t i;

	for (i = 1; i < KEY_COUNT; i++) {
		if (mc_imap_arg_is(arg, key_names[i]))
			return (enum mc_imap_sortargs_key)i;
	}
	return 0;
}

/* One sort-criterion at list[*i]; advances *i past it. */
static bool parse_criterion(const struct mc_imap_arg *arg, size_t *i,
			    struct mc_imap_sortargs_criterion *c,
			    const char **error_r)
{
	const struct mc_imap_arg *list = arg->list;

	c->reverse = mc_imap_arg_is(&list[*i], "REVERSE");
	if (c->reverse && ++*i == arg->list_count) {
		*error_r = "REVERSE needs a sort key";
		return false;
	}
	c->key = find_key(&list[*i]);
	if (c->key == 0) {
		*error_r = "Unknown sort key";
		return false;
	}
	(*i)++;
	return true;
}

bool mc_imap_sortargs_parse(struct mc_pool *pool, const struct mc_imap_arg *arg,
			    struct mc_imap_sortargs_criterion **crit_r,
			    size_t *count_r, const char **error_r)
{
	struct mc_imap_sortargs_criterion *crit;
	size_t i = 0, n = 0;

	if (arg == NULL || arg->type != MC_IMAP_ARG_LIST ||
	    arg->list_count == 0) {
		*error_r = "Sort criteria must be a non-empty list";
		return false;
	}
	crit = mc_palloc_array(pool, arg->list_count, sizeof(*crit));
	while (i < arg->list_count) {
		if (n == MC_IMAP_SORTARGS_MAX) {
			*error_r = "Too many sort criteria";
			return false;
		}
		if (!parse_criterion(arg, &i, &crit[n++], error_r))
			return false;
	}
	*crit_r = crit;
	*count_r = n;
	return true;
}

bool mc_imap_sortargs_thread(const struct mc_imap_arg *arg,
			     enum mc_imap_sortargs_thread *alg_r,
			     const char **error_r)
{
	if (arg != NULL && mc_imap_arg_is(arg, "ORDEREDSUBJECT")) {
		*alg_r = MC_IMAP_SORTARGS_ORDEREDSUBJECT;
		return true;
	}
	if (arg != NULL && mc_imap_arg_is(arg, "REFERENCES")) {
		*alg_r = MC_IMAP_SORTARGS_REFERENCES;
		return true;
	}
	*error_r = "Unknown thread algorithm";
	return false;
}

const char *mc_imap_sortargs_key_name(enum mc_imap_sortargs_key key)
{
	return (size_t)key < KEY_COUNT && key != 0 ? key_names[key] : "?";
}
