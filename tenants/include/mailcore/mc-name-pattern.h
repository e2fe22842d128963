/* mc-name-pattern: batch name patterns for user.batch. "user{1..50}"
 * expands to user1 .. user50, "u{001..120}" to u001 .. u120 (zero padded
 * when either bound has a leading zero, to the wider bound's width), and
 * "staff{1..3}.x" keeps the text around the range. At most one range; a
 * pattern without braces is one name. The names are not checked here: the
 * caller validates each as a local part. */
#ifndef MC_NAME_PATTERN_H
#define MC_NAME_PATTERN_H

#include <stddef.h>

struct mc_error;
struct mc_pool;

/* Names a pattern may expand to when the caller passes max = 0. */
#define MC_NAME_PATTERN_MAX_DEFAULT 1000
/* Digits a range bound may have. */
#define MC_NAME_PATTERN_DIGITS_MAX 9

/* How many names pattern expands to: 0 and *count_r set, or -1 with
 * MC_ERR_INVALID (bad syntax: stray or second brace, empty bound,
 * non-digit, descending range, more than max names; max 0 = the default).
 * Nothing is allocated. */
int mc_name_pattern_count(const char *pattern, size_t max, size_t *count_r,
			  struct mc_error *err);

/* Expands pattern into a NULL-terminated array of *n_r names, in range
 * order; the array and the names are allocated from pool. 0, or -1 as for
 * mc_name_pattern_count (then *names_r and *n_r are untouched). */
int mc_name_pattern_expand(struct mc_pool *pool, const char *pattern,
			   size_t max, char ***names_r, size_t *n_r,
			   struct mc_error *err);

#endif
