/* mc-imap-seqset: IMAP sequence sets (RFC 3501 sequence-set, RFC 9051)
 * and the "$" search result reference (RFC 5182): parsing, resolving "*"
 * against the mailbox, membership, counting, and writing back in compact
 * form. */
#ifndef MC_IMAP_SEQSET_H
#define MC_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_pool;
struct mc_buf;

/* lo <= hi; before mc_imap_seqset_resolve() an endpoint 0 stands for
 * "*". */
struct mc_imap_range {
	uint32_t lo, hi;
};

/* ranges are allocated from the pool given to the builder. After parse
 * without "*", and after resolve, they are sorted, disjoint and not
 * adjacent. star: some endpoint is still "*". dollar: the set is "$" (no
 * ranges; the daemon substitutes the saved search result). */
struct mc_imap_seqset {
	struct mc_imap_range *ranges;
	size_t count;
	bool star;
	bool dollar;
};

/* sequence-set = (seq-number / seq-range) ["," sequence-set];
 * seq-number = nz-number / "*"; "4:2" is 2:4. "$" alone when allow_dollar.
 * False on a syntax error (0, leading zeros, > 2^32-1, empty items). */
bool mc_imap_seqset_parse(struct mc_pool *pool, const char *s,
			  bool allow_dollar, struct mc_imap_seqset *set_r);
/* Replaces "*" by max (the largest sequence number or UID), then sorts and
 * merges. With max 0 (empty mailbox) ranges with "*" match nothing. Does
 * not clip other numbers to max. */
void mc_imap_seqset_resolve(struct mc_imap_seqset *set, uint32_t max);
/* True when n is in the set ("*" counts as 2^32-1 when unresolved). */
bool mc_imap_seqset_contains(const struct mc_imap_seqset *set, uint32_t n);
/* How many numbers the set holds ("*" as 2^32-1 when unresolved). */
uint64_t mc_imap_seqset_count(const struct mc_imap_seqset *set);
/* Appends "1:3,5" ("*" for an unresolved endpoint, "$" for dollar;
 * nothing for an empty set); false when out's max was reached. */
bool mc_imap_seqset_write(const struct mc_imap_seqset *set, struct mc_buf *out);
/* Builds the set of the ascending numbers v[0..n) (duplicates and 0s are
 * ignored); ranges from pool. */
void mc_imap_seqset_from_sorted(struct mc_pool *pool, const uint32_t *v,
				size_t n, struct mc_imap_seqset *set_r);

#endif
