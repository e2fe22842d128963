/* mc-imap-sort: the SORT program of RFC 5256 (and the DISPLAYFROM /
 * DISPLAYTO keys of RFC 5957) as a stable merge sort over the keys the
 * store keeps, strings compared with i;ascii-casemap, sequence number
 * last; plus the reply/forward test of the base subject rules (2.1). */
#include "mailcore/mc-imap-thread.h"

#include "mailcore/mc-address.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sort_ctx {
	const struct mc_imap_sort_criterion *criteria;
	size_t ncriteria;
};

static const struct {
	const char *name;
	enum mc_imap_sort_key key;
} sort_keys[] = {
	{"ARRIVAL", MC_IMAP_SORT_ARRIVAL},
	{"CC", MC_IMAP_SORT_CC},
	{"DATE", MC_IMAP_SORT_DATE},
	{"FROM", MC_IMAP_SORT_FROM},
	{"SIZE", MC_IMAP_SORT_SIZE},
	{"SUBJECT", MC_IMAP_SORT_SUBJECT},
	{"TO", MC_IMAP_SORT_TO},
	{"DISPLAYFROM", MC_IMAP_SORT_DISPLAYFROM},
	{"DISPLAYTO", MC_IMAP_SORT_DISPLAYTO},
};

/* Looks up a sort-key atom, case-insensitively. */
bool mc_imap_sort_key_parse(const char *name, enum mc_imap_sort_key *key_r)
{
	for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++) {
		if (strcasecmp(name, sort_keys[i].name) == 0) {
			*key_r = sort_keys[i].key;
			return true;
		}
	}
	return false;
}

/* i;ascii-casemap: bytes compared after folding a-z to upper case. */
static int casemap_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)(a ? a : "");
	const unsigned char *y = (const unsigned char *)(b ? b : "");

	for (;; x++, y++) {
		unsigned cx = *x >= 'a' && *x <= 'z' ? *x - 32u : *x;
		unsigned cy = *y >= 'a' && *y <= 'z' ? *y - 32u : *y;

		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx == 0)
			return 0;
	}
}

/* -1, 0 or 1 for two signed numbers. */
static int num_cmp(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

/* Compares two messages by one sort key. */
static int key_cmp(const struct mc_imap_sort_msg *a,
		   const struct mc_imap_sort_msg *b, enum mc_imap_sort_key key)
{
	switch (key) {
	case MC_IMAP_SORT_ARRIVAL:
		return num_cmp(a->arrival, b->arrival);
	case MC_IMAP_SORT_CC:
		return casemap_cmp(a->cc, b->cc);
	case MC_IMAP_SORT_DATE:
		return num_cmp(a->date, b->date);
	case MC_IMAP_SORT_FROM:
		return casemap_cmp(a->from, b->from);
	case MC_IMAP_SORT_SIZE:
		return a->size < b->size ? -1 : a->size > b->size ? 1 : 0;
	case MC_IMAP_SORT_SUBJECT:
		return casemap_cmp(a->base_subject, b->base_subject);
	case MC_IMAP_SORT_TO:
		return casemap_cmp(a->to, b->to);
	case MC_IMAP_SORT_DISPLAYFROM:
		return casemap_cmp(a->display_from, b->display_from);
	case MC_IMAP_SORT_DISPLAYTO:
		return casemap_cmp(a->display_to, b->display_to);
	}
	return 0;
}

/* Compares by the whole program, then by sequence number. */
static int msg_cmp(const struct mc_imap_sort_msg *a,
		   const struct mc_imap_sort_msg *b, const struct sort_ctx *ctx)
{
	for (size_t i = 0; i < ctx->ncriteria; i++) {
		int r = key_cmp(a, b, ctx->criteria[i].key);

		if (r != 0)
			return ctx->criteria[i].reverse ? -r : r;
	}
	return num_cmp(a->seq, b->seq);
}

/* Merges the sorted runs src[lo..mid) and src[mid..hi) into dst. */
static void merge(const struct mc_imap_sort_msg *src,
		  struct mc_imap_sort_msg *dst, size_t lo, size_t mid,
		  size_t hi, const struct sort_ctx *ctx)
{
	size_t i = lo, j = mid, k = lo;

	while (i < mid && j < hi) {
		if (msg_cmp(&src[j], &src[i], ctx) < 0)
			dst[k++] = src[j++];
		else
			dst[k++] = src[i++];
	}
	while (i < mid)
		dst[k++] = src[i++];
	while (j < hi)
		dst[k++] = src[j++];
}

/* Bottom-up merge sort of msgs, tmp holding n more messages. */
static void merge_sort(struct mc_imap_sort_msg *msgs,
		       struct mc_imap_sort_msg *tmp, size_t n,
		       const struct sort_ctx *ctx)
{
	struct mc_imap_sort_msg *src = msgs, *dst = tmp, *swap;

	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = mid + width < n ? mid + width : n;

			merge(src, dst, lo, mid, hi, ctx);
		}
		swap = src;
		src = dst;
		dst = swap;
	}
	if (src != msgs)
		memcpy(msgs, src, n * sizeof(*msgs));
}

/* Sorts msgs by the SORT program, sequence number last. */
void mc_imap_sort(struct mc_imap_sort_msg *msgs, size_t n,
		  const struct mc_imap_sort_criterion *criteria,
		  size_t ncriteria)
{
	struct sort_ctx ctx = {criteria, ncriteria};
	struct mc_imap_sort_msg *tmp;

	if (n < 2)
		return;
	tmp = mc_calloc(n, sizeof(*tmp));
	merge_sort(msgs, tmp, n, &ctx);
	free(tmp);
}

/* The RFC 5957 key: first mailbox's display name, else its addr-spec. */
const char *mc_imap_sort_display(struct mc_pool *pool, const char *list)
{
	struct mc_address *addrs;
	size_t count;

	if (list == NULL || *list == '\0')
		return "";
	addrs = mc_address_parse(pool, list, strlen(list), 0, &count);
	for (size_t i = 0; i < count; i++) {
		const struct mc_address *a = &addrs[i];

		if (a->local == NULL)
			continue;
		if (a->name != NULL && *a->name != '\0')
			return a->name;
		if (a->domain == NULL)
			return a->local;
		return mc_psprintf(pool, "%s@%s", a->local, a->domain);
	}
	return "";
}

/* True for a blank of a (possibly still folded) header value. */
static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at s, 0 when none. */
static size_t blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != ']'; i++) {
		if (s[i] == '[')
			return 0;
	}
	if (i == len)
		return 0;
	for (i++; i < len && is_wsp(s[i]); i++)
		;
	return i;
}

/* True when a subj-refwd (("re" / "fw" ["d"]) *WSP [subj-blob] ":")
 * starts at s. */
static bool is_refwd(const char *s, size_t len)
{
	size_t i;

	if (len >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 &&
		 (strncasecmp(s, "re", 2) == 0 || strncasecmp(s, "fw", 2) == 0))
		i = 2;
	else
		return false;
	while (i < len && is_wsp(s[i]))
		i++;
	i += blob_len(s + i, len - i);
	return i < len && s[i] == ':';
}

/* True when only blanks remain in s[0..len). */
static bool all_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_wsp(s[i]))
			return false;
	}
	return true;
}

/* Walks the RFC 5256 2.1 steps until one of them marks a reply/forward:
 * "(fwd)" trailer (2), subj-refwd leader (3), "[fwd:" wrapper (6); blanks
 * and blobs (3, 4) are skipped on the way. */
bool mc_imap_subject_is_reply(const char *subject)
{
	size_t len = subject == NULL ? 0 : strlen(subject), n;
	const char *s = subject;

	while (len > 0) {
		while (len > 0 && is_wsp(s[len - 1]))
			len--;
		if (len >= 5 && strncasecmp(s + len - 5, "(fwd)", 5) == 0)
			return true;
		if (len >= 6 && strncasecmp(s, "[fwd:", 5) == 0 &&
		    s[len - 1] == ']')
			return true;
		if (is_refwd(s, len))
			return true;
		if (len > 0 && is_wsp(s[0]))
			n = 1;
		else if ((n = blob_len(s, len)) == 0 ||
			 all_blank(s + n, len - n))
			return false;
		s += n;
		len -= n;
	}
	return false;
}
