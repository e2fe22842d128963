/* mc-imap-sortargs: the SORT criteria (RFC 5256, DISPLAYFROM / DISPLAYTO
 * of RFC 5957) and the THREAD algorithm name (RFC 5256) read from the
 * parser's argument tree. The search criteria that follow them go to
 * mc_imap_search_parse_criteria(). */
#ifndef MC_IMAP_SORTARGS_H
#define MC_IMAP_SORTARGS_H

#include <stdbool.h>
#include <stddef.h>

struct mc_pool;
struct mc_imap_arg;

/* Most criteria one SORT accepts (each key makes sense once). */
#define MC_IMAP_SORTARGS_MAX 32

enum mc_imap_sortargs_key {
	MC_IMAP_SORTARGS_ARRIVAL = 1,
	MC_IMAP_SORTARGS_CC,
	MC_IMAP_SORTARGS_DATE,
	MC_IMAP_SORTARGS_FROM,
	MC_IMAP_SORTARGS_SIZE,
	MC_IMAP_SORTARGS_SUBJECT,
	MC_IMAP_SORTARGS_TO,
	MC_IMAP_SORTARGS_DISPLAYFROM,
	MC_IMAP_SORTARGS_DISPLAYTO,
};

struct mc_imap_sortargs_criterion {
	enum mc_imap_sortargs_key key;
	bool reverse;
};

enum mc_imap_sortargs_thread {
	MC_IMAP_SORTARGS_ORDEREDSUBJECT = 1,
	MC_IMAP_SORTARGS_REFERENCES,
};

/* sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
 * sort-criterion = ["REVERSE" SP] sort-key
 * Fills *crit_r (from pool) and *count_r; false with *error_r (for a
 * tagged BAD) otherwise. */
bool mc_imap_sortargs_parse(struct mc_pool *pool, const struct mc_imap_arg *arg,
			    struct mc_imap_sortargs_criterion **crit_r,
			    size_t *count_r, const char **error_r);

/* thread-alg = "ORDEREDSUBJECT" / "REFERENCES" (case-insensitive). */
bool mc_imap_sortargs_thread(const struct mc_imap_arg *arg,
			     enum mc_imap_sortargs_thread *alg_r,
			     const char **error_r);

/* The RFC name of a key ("ARRIVAL", "DISPLAYFROM"), static. */
const char *mc_imap_sortargs_key_name(enum mc_imap_sortargs_key key);

#endif
