/* mc-imap-seqset: IMAP sequence sets (RFC 3501 9 sequence-set, RFC 5182
 * "$"): a strict parser into ranges, "*" resolved against the mailbox,
 * sorting and merging, membership by binary search, the compact written
 * form, and sets built from sorted numbers (SEARCH results, UIDs). */
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdlib.h>
#include <string.h>

/* seq-number = nz-number / "*"; nz-number = digit-nz *DIGIT (32 bits).
 * "*" is stored as 0. Advances *s. */
static bool parse_number(const char **s, uint32_t *n_r, bool *star)
{
	const char *p = *s;
	uint64_t n = 0;

	if (*p == '*') {
		*n_r = 0;
		*star = true;
		*s = p + 1;
		return true;
	}
	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX)
			return false;
	}
	*n_r = (uint32_t)n;
	*s = p;
	return true;
}

/* Orders ranges by lo. */
static int range_cmp(const void *a, const void *b)
{
	const struct mc_imap_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts ranges and merges those that overlap or touch. */
static void normalise(struct mc_imap_seqset *set)
{
	size_t out = 0;

	if (set->count == 0)
		return;
	qsort(set->ranges, set->count, sizeof(*set->ranges), range_cmp);
	for (size_t i = 1; i < set->count; i++) {
		struct mc_imap_range *last = &set->ranges[out];
		struct mc_imap_range r = set->ranges[i];

		if (last->hi == UINT32_MAX || r.lo <= last->hi + 1) {
			if (r.hi > last->hi)
				last->hi = r.hi;
		} else {
			set->ranges[++out] = r;
		}
	}
	set->count = out + 1;
}

/* Puts the endpoints of r in order ("*" = 0 goes last). */
static void order_range(struct mc_imap_range *r)
{
	uint32_t t;

	if (r->lo == 0 || (r->hi != 0 && r->lo > r->hi)) {
		t = r->lo;
		r->lo = r->hi;
		r->hi = t;
	}
}

/* Parses a sequence set (see the header). */
bool mc_imap_seqset_parse(struct mc_pool *pool, const char *s,
			  bool allow_dollar, struct mc_imap_seqset *set_r)
{
	size_t n = 1;

	memset(set_r, 0, sizeof(*set_r));
	if (allow_dollar && strcmp(s, "$") == 0) {
		set_r->dollar = true;
		return true;
	}
	for (const char *p = s; *p != '\0'; p++)
		n += *p == ',';
	set_r->ranges = mc_palloc_array(pool, n, sizeof(*set_r->ranges));
	for (size_t i = 0; i < n; i++) {
		struct mc_imap_range *r = &set_r->ranges[i];

		if (!parse_number(&s, &r->lo, &set_r->star))
			return false;
		r->hi = r->lo;
		if (*s == ':' && (s++, !parse_number(&s, &r->hi, &set_r->star)))
			return false;
		if (*s != (i + 1 < n ? ',' : '\0'))
			return false;
		s++;
		order_range(r);
	}
	set_r->count = n;
	if (!set_r->star)
		normalise(set_r);
	return true;
}

/* Replaces "*" by max, then sorts and merges. */
void mc_imap_seqset_resolve(struct mc_imap_seqset *set, uint32_t max)
{
	size_t out = 0;

	if (!set->star)
		return;
	for (size_t i = 0; i < set->count; i++) {
		struct mc_imap_range r = set->ranges[i];

		if (r.hi == 0 && max == 0)
			continue; /* "*" of an empty mailbox: nothing */
		if (r.lo == 0)
			r.lo = max;
		if (r.hi == 0)
			r.hi = max;
		if (r.lo > r.hi) {
			uint32_t t = r.lo;
			r.lo = r.hi;
			r.hi = t;
		}
		set->ranges[out++] = r;
	}
	set->count = out;
	set->star = false;
	normalise(set);
}

/* The range with "*" read as 2^32-1. */
static struct mc_imap_range effective(struct mc_imap_range r)
{
	if (r.lo == 0)
		r.lo = UINT32_MAX;
	if (r.hi == 0)
		r.hi = UINT32_MAX;
	return r;
}

/* Membership: binary search on a normalised set, a scan otherwise. */
bool mc_imap_seqset_contains(const struct mc_imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;

	if (set->star) {
		for (size_t i = 0; i < set->count; i++) {
			struct mc_imap_range r = effective(set->ranges[i]);
			if (n >= r.lo && n <= r.hi)
				return true;
		}
		return false;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n < set->ranges[mid].lo)
			hi = mid;
		else if (n > set->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* The number of members (overlaps counted once only when normalised). */
uint64_t mc_imap_seqset_count(const struct mc_imap_seqset *set)
{
	uint64_t total = 0;

	for (size_t i = 0; i < set->count; i++) {
		struct mc_imap_range r = effective(set->ranges[i]);

		total += (uint64_t)r.hi - r.lo + 1;
	}
	return total;
}

/* Appends one endpoint. */
static bool write_number(struct mc_buf *out, uint32_t n)
{
	if (n == 0)
		return mc_buf_append_c(out, '*');
	return mc_buf_printf(out, "%u", n);
}

/* Appends the set as "1:3,5". */
bool mc_imap_seqset_write(const struct mc_imap_seqset *set, struct mc_buf *out)
{
	bool ok = true;

	if (set->dollar)
		return mc_buf_append_c(out, '$');
	for (size_t i = 0; i < set->count; i++) {
		struct mc_imap_range r = set->ranges[i];

		if (i > 0)
			ok = mc_buf_append_c(out, ',') && ok;
		ok = write_number(out, r.lo) && ok;
		if (r.hi != r.lo)
			ok = mc_buf_append_c(out, ':') &&
			     write_number(out, r.hi) && ok;
	}
	return ok;
}

/* Builds ranges from ascending numbers. */
void mc_imap_seqset_from_sorted(struct mc_pool *pool, const uint32_t *v,
				size_t n, struct mc_imap_seqset *set_r)
{
	memset(set_r, 0, sizeof(*set_r));
	set_r->ranges =
		mc_palloc_array(pool, n > 0 ? n : 1, sizeof(*set_r->ranges));
	for (size_t i = 0; i < n; i++) {
		struct mc_imap_range *last =
			set_r->count > 0 ? &set_r->ranges[set_r->count - 1]
					 : NULL;

		if (v[i] == 0 || (last != NULL && v[i] <= last->hi))
			continue;
		if (last != NULL && v[i] == last->hi + 1)
			last->hi = v[i];
		else
			set_r->ranges[set_r->count++] =
				(struct mc_imap_range){v[i], v[i]};
	}
}
