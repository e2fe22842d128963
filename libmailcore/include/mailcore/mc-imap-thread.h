/* mc-imap-thread: the SORT and THREAD algorithms of RFC 5256 (SORT keys
 * ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, REVERSE, and DISPLAYFROM /
 * DISPLAYTO of RFC 5957; THREAD=ORDEREDSUBJECT and THREAD=REFERENCES)
 * over the keys the store keeps, and the THREAD response body. Pure
 * computation: no I/O, no locks, bounded work for hostile headers. */
#ifndef MC_IMAP_THREAD_H
#define MC_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_pool;
struct mc_buf;

/* Message-IDs of one message's References (or In-Reply-To) considered by
 * THREAD=REFERENCES: the last ones, nearest the message. */
#define MC_IMAP_THREAD_MAX_REFS 100

/* One message as SORT and THREAD see it. Strings may be NULL (= ""); they
 * are only read, and must outlive the call that reads them. */
struct mc_imap_sort_msg {
	uint32_t uid, seq;
	int64_t arrival; /* INTERNALDATE, unix seconds */
	int64_t date;	 /* sent date; the arrival when there is none
			    (RFC 5256 2.2) */
	uint64_t size;
	const char *base_subject;   /* RFC 5256 2.1 base subject */
	const char *from, *to, *cc; /* addr-mailbox of the first address */
	/* RFC 5957 keys: see mc_imap_sort_display() */
	const char *display_from, *display_to;
	const char *message_id, *in_reply_to, *references; /* raw values */
	/* The Subject was a reply or forward (RFC 5256 2.1 / 3: a subj-refwd,
	 * "(fwd)" or "[fwd: ...]" was removed): mc_imap_subject_is_reply().
	 * Only THREAD=REFERENCES's subject gathering reads it. */
	bool reply;
};

enum mc_imap_sort_key {
	MC_IMAP_SORT_ARRIVAL = 1,
	MC_IMAP_SORT_CC,
	MC_IMAP_SORT_DATE,
	MC_IMAP_SORT_FROM,
	MC_IMAP_SORT_SIZE,
	MC_IMAP_SORT_SUBJECT,
	MC_IMAP_SORT_TO,
	MC_IMAP_SORT_DISPLAYFROM,
	MC_IMAP_SORT_DISPLAYTO,
};

/* One sort-key of a SORT program, REVERSE applying to it alone. */
struct mc_imap_sort_criterion {
	enum mc_imap_sort_key key;
	bool reverse;
};

/* The key named by an IMAP sort-key atom ("ARRIVAL", "displayfrom"...);
 * false when unknown. */
bool mc_imap_sort_key_parse(const char *name, enum mc_imap_sort_key *key_r);

/* Sorts msgs in place by the criteria in order, then by sequence number
 * (RFC 5256: messages that match exactly stay in mailbox order). Strings
 * compare with i;ascii-casemap, numbers and dates numerically. Stable,
 * O(n log n); ncriteria 0 sorts by sequence number only. */
void mc_imap_sort(struct mc_imap_sort_msg *msgs, size_t n,
		  const struct mc_imap_sort_criterion *criteria,
		  size_t ncriteria);

/* The RFC 5957 display key of a decoded display list ("Name <a@b>, c@d"
 * as mc_message_info.from holds): the display name of its first mailbox,
 * or its addr-spec when it has none, "" when there is no mailbox. From
 * pool (or a constant). */
const char *mc_imap_sort_display(struct mc_pool *pool, const char *list);

/* True when a (decoded) Subject is a reply or forward by the rules of
 * RFC 5256 2.1: base subject extraction would remove a "re:", "fw:",
 * "fwd:" (with optional [blob]s), a "(fwd)" trailer or a "[fwd: ...]"
 * wrapper. */
bool mc_imap_subject_is_reply(const char *subject);

enum mc_imap_thread_algorithm {
	MC_IMAP_THREAD_ORDEREDSUBJECT = 1,
	MC_IMAP_THREAD_REFERENCES,
};

/* A thread forest: roots are linked by next, children by child then next
 * in display order. uid 0 (and seq 0) marks a dummy placeholder, which
 * only appears as a root with two or more children. */
struct mc_imap_thread_node {
	uint32_t uid, seq;
	struct mc_imap_thread_node *child, *next;
};

/* The algorithm named by an IMAP atom ("REFERENCES", "orderedsubject");
 * false when unknown. */
bool mc_imap_thread_algorithm_parse(const char *name,
				    enum mc_imap_thread_algorithm *alg_r);

/* THREAD=ORDEREDSUBJECT (RFC 5256 section 3) over n messages: one thread
 * per base subject, ordered by the sent date of its first message, the
 * later messages children of the first. The forest is allocated from
 * pool; NULL when n is 0. msgs is not modified. */
struct mc_imap_thread_node *
mc_imap_thread_orderedsubject(struct mc_pool *pool,
			      const struct mc_imap_sort_msg *msgs, size_t n);

/* THREAD=REFERENCES (RFC 5256 section 3, steps 1 to 6) over n messages,
 * given in mailbox (sequence) order. Allocated from pool; NULL when n is
 * 0. msgs is not modified. */
struct mc_imap_thread_node *
mc_imap_thread_references(struct mc_pool *pool,
			  const struct mc_imap_sort_msg *msgs, size_t n);

/* Either algorithm. */
struct mc_imap_thread_node *
mc_imap_thread_build(struct mc_pool *pool, enum mc_imap_thread_algorithm alg,
		     const struct mc_imap_sort_msg *msgs, size_t n);

/* Appends the THREAD response body for the forest (what follows
 * "* THREAD", without the space): "(2)(3 6 (4 23)(44 7 96))", with UIDs
 * when use_uid, else sequence numbers. Nothing for an empty forest.
 * False when out is full (its max). Iterative: deep threads are safe. */
bool mc_imap_thread_write(const struct mc_imap_thread_node *roots, bool use_uid,
			  struct mc_buf *out);

#endif
