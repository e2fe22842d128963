/* mc-name-pattern: expansion of the batch patterns of user.batch
 * ("user{1..50}", "u{001..120}", "staff{1..3}.x") into the list of names,
 * with the syntax and count checks done before anything is allocated. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-name-pattern.h"
#include "mailcore/mc-pool.h"

/* A parsed pattern: prefix{lo..hi}suffix, or just prefix without range. */
struct pattern {
	const char *prefix, *suffix;
	size_t prefix_len;
	bool has_range;
	uint32_t lo, hi;
	int width; /* zero-padding width, 0 = none */
};

/* Parses a bound of 1..MC_NAME_PATTERN_DIGITS_MAX digits at s, ending at
 * end; *padded_r tells whether it has a leading zero. */
static bool parse_bound(const char *s, const char *end, uint32_t *value_r,
			bool *padded_r)
{
	size_t len = (size_t)(end - s);
	uint32_t v = 0;

	if (len == 0 || len > MC_NAME_PATTERN_DIGITS_MAX)
		return false;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint32_t)(*p - '0');
	}
	*value_r = v;
	*padded_r = len > 1 && s[0] == '0';
	return true;
}

/* Parses the range between the braces open and close ("lo..hi"). */
static int parse_range(struct pattern *pat, const char *open, const char *close,
		       struct mc_error *err)
{
	const char *dots = strstr(open + 1, "..");
	bool lo_pad, hi_pad;

	if (dots == NULL || dots > close ||
	    !parse_bound(open + 1, dots, &pat->lo, &lo_pad) ||
	    !parse_bound(dots + 2, close, &pat->hi, &hi_pad)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "a range is {FIRST..LAST} with 1 to %d digits "
			     "each",
			     MC_NAME_PATTERN_DIGITS_MAX);
		return -1;
	}
	if (pat->lo > pat->hi) {
		mc_error_set(err, MC_ERR_INVALID, "descending range {%u..%u}",
			     pat->lo, pat->hi);
		return -1;
	}
	if (lo_pad || hi_pad) {
		size_t lo_len = (size_t)(dots - open - 1);
		size_t hi_len = (size_t)(close - dots - 2);
		pat->width = (int)(lo_len > hi_len ? lo_len : hi_len);
	}
	return 0;
}

/* Splits pattern into prefix, optional range and suffix. */
static int parse_pattern(const char *pattern, struct pattern *pat,
			 struct mc_error *err)
{
	const char *open = strchr(pattern, '{');
	const char *close = strchr(pattern, '}');

	memset(pat, 0, sizeof(*pat));
	pat->prefix = pattern;
	if (*pattern == '\0') {
		mc_error_set(err, MC_ERR_INVALID, "empty name pattern");
		return -1;
	}
	if (open == NULL && close == NULL) {
		pat->prefix_len = strlen(pattern);
		pat->suffix = pattern + pat->prefix_len;
		return 0;
	}
	if (open == NULL || close == NULL || close < open) {
		mc_error_set(err, MC_ERR_INVALID,
			     "unbalanced braces in the name pattern");
		return -1;
	}
	if (strchr(open + 1, '{') != NULL || strchr(close + 1, '}') != NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "a name pattern has at most one {FIRST..LAST} "
			     "range");
		return -1;
	}
	pat->prefix_len = (size_t)(open - pattern);
	pat->suffix = close + 1;
	pat->has_range = true;
	return parse_range(pat, open, close, err);
}

/* Number of names of a parsed pattern. */
static size_t pattern_count(const struct pattern *pat)
{
	return pat->has_range ? (size_t)(pat->hi - pat->lo) + 1 : 1;
}

/* Parses pattern and checks its count against max (0 = default). */
static int parse_checked(const char *pattern, size_t max, struct pattern *pat,
			 struct mc_error *err)
{
	size_t count;

	if (parse_pattern(pattern, pat, err) < 0)
		return -1;
	if (max == 0)
		max = MC_NAME_PATTERN_MAX_DEFAULT;
	count = pattern_count(pat);
	if (count > max) {
		mc_error_set(err, MC_ERR_INVALID,
			     "the pattern makes %zu names, at most %zu allowed",
			     count, max);
		return -1;
	}
	return 0;
}

int mc_name_pattern_count(const char *pattern, size_t max, size_t *count_r,
			  struct mc_error *err)
{
	struct pattern pat;

	if (parse_checked(pattern, max, &pat, err) < 0)
		return -1;
	*count_r = pattern_count(&pat);
	return 0;
}

int mc_name_pattern_expand(struct mc_pool *pool, const char *pattern,
			   size_t max, char ***names_r, size_t *n_r,
			   struct mc_error *err)
{
	struct pattern pat;
	size_t n;
	char **names;

	if (parse_checked(pattern, max, &pat, err) < 0)
		return -1;
	n = pattern_count(&pat);
	names = mc_palloc_array(pool, n + 1, sizeof(*names));
	if (!pat.has_range) {
		names[0] = mc_pstrdup(pool, pattern);
	} else {
		for (size_t i = 0; i < n; i++) {
			names[i] = mc_psprintf(pool, "%.*s%0*u%s",
					       (int)pat.prefix_len, pat.prefix,
					       pat.width, pat.lo + (uint32_t)i,
					       pat.suffix);
		}
	}
	*names_r = names;
	*n_r = n;
	return 0;
}
