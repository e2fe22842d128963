/* mc-imap-thread: THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256
 * section 3) building a forest of containers ("boxes") in a scratch pool,
 * then the caller's mc_imap_thread_node forest, and the THREAD response
 * writer. Every tree walk is iterative (parent pointers or an explicit
 * stack), so hostile reply chains cannot exhaust the C stack. */
#include "mailcore/mc-imap-thread.h"

#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A container of RFC 5256: a message, or a dummy when msg is NULL. */
struct box {
	const struct mc_imap_sort_msg *msg;
	struct box *parent, *child, *next, *prev; /* prev: step 1 only */
	struct box *all_next;			  /* every box, in order */
	struct mc_imap_thread_node *out;
	/* sort key: the message's, or a dummy's first child's */
	int64_t date;
	uint32_t seq;
	size_t root_idx; /* step 5: index in the root array */
};

struct forest {
	struct mc_pool *pool; /* the caller's: output nodes */
	struct mc_pool *tmp;  /* boxes, ids */
	struct box *first, *last;
};

/* Open addressing table from a string (Message-ID or base subject). */
struct slot {
	const char *key;
	size_t len;
	uint64_t hash;
	struct box *box;
};

struct table {
	struct slot *slots;
	size_t cap, count;
	bool icase;
};

/* Looks up a THREAD algorithm atom, case-insensitively. */
bool mc_imap_thread_algorithm_parse(const char *name,
				    enum mc_imap_thread_algorithm *alg_r)
{
	if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
		*alg_r = MC_IMAP_THREAD_ORDEREDSUBJECT;
	else if (strcasecmp(name, "REFERENCES") == 0)
		*alg_r = MC_IMAP_THREAD_REFERENCES;
	else
		return false;
	return true;
}

/* ---- boxes and sibling lists ---- */

/* A new box for msg (NULL: a dummy), remembered in creation order. */
static struct box *box_new(struct forest *f, const struct mc_imap_sort_msg *msg)
{
	struct box *b = mc_palloc(f->tmp, sizeof(*b));

	b->msg = msg;
	if (msg != NULL) {
		b->date = msg->date;
		b->seq = msg->seq;
	}
	if (f->last != NULL)
		f->last->all_next = b;
	else
		f->first = b;
	f->last = b;
	return b;
}

/* True when a sorts before b: sent date, then sequence number. */
static bool box_less(const struct box *a, const struct box *b)
{
	return a->date < b->date || (a->date == b->date && a->seq < b->seq);
}

/* Merges two sorted lists, stable. */
static struct box *list_merge(struct box *a, struct box *b)
{
	struct box head = {0}, *tail = &head;

	while (a != NULL && b != NULL) {
		if (box_less(b, a)) {
			tail->next = b;
			b = b->next;
		} else {
			tail->next = a;
			a = a->next;
		}
		tail = tail->next;
	}
	tail->next = a != NULL ? a : b;
	return head.next;
}

/* Detaches and sorts the first n boxes of *list (n >= 1). */
static struct box *list_sort_n(struct box **list, size_t n)
{
	struct box *a, *b;

	if (n == 1) {
		a = *list;
		*list = a->next;
		a->next = NULL;
		return a;
	}
	a = list_sort_n(list, n / 2);
	b = list_sort_n(list, n - n / 2);
	return list_merge(a, b);
}

/* Sorts a sibling list by sent date and sequence number. */
static struct box *list_sort(struct box *list)
{
	size_t n = 0;

	for (struct box *b = list; b != NULL; b = b->next)
		n++;
	return n == 0 ? NULL : list_sort_n(&list, n);
}

/* Adds child to the front of parent's children (order comes later). */
static void add_child(struct box *parent, struct box *child)
{
	child->parent = parent;
	child->prev = NULL;
	child->next = parent->child;
	if (parent->child != NULL)
		parent->child->prev = child;
	parent->child = child;
}

/* Unlinks child from its parent, if any (O(1) via prev). */
static void unlink_child(struct box *child)
{
	if (child->parent == NULL)
		return;
	if (child->prev != NULL)
		child->prev->next = child->next;
	else
		child->parent->child = child->next;
	if (child->next != NULL)
		child->next->prev = child->prev;
	child->parent = child->prev = child->next = NULL;
}

/* True when making child a child of parent would make a loop: parent is
 * child itself or one of its descendants. */
static bool would_loop(const struct box *parent, const struct box *child)
{
	if (parent == child)
		return true;
	if (child->child == NULL)
		return false;
	for (const struct box *b = parent->parent; b != NULL; b = b->parent) {
		if (b == child)
			return true;
	}
	return false;
}

/* ---- output ---- */

/* The output node of b, allocated on first use. */
static struct mc_imap_thread_node *out_of(struct forest *f, struct box *b)
{
	if (b == NULL)
		return NULL;
	if (b->out == NULL) {
		b->out = mc_palloc(f->pool, sizeof(*b->out));
		b->out->uid = b->msg != NULL ? b->msg->uid : 0;
		b->out->seq = b->msg != NULL ? b->msg->seq : 0;
	}
	return b->out;
}

/* Mirrors the box forest rooted at the list roots into output nodes by a
 * pre-order walk over parent pointers. */
static struct mc_imap_thread_node *forest_output(struct forest *f,
						 struct box *roots)
{
	struct box *b = roots;

	while (b != NULL) {
		struct mc_imap_thread_node *o = out_of(f, b);

		o->child = out_of(f, b->child);
		o->next = out_of(f, b->next);
		if (b->child != NULL) {
			b = b->child;
			continue;
		}
		while (b != NULL && b->next == NULL)
			b = b->parent;
		if (b != NULL)
			b = b->next;
	}
	return out_of(f, roots);
}

/* Starts a forest whose output goes to pool. */
static void forest_init(struct forest *f, struct mc_pool *pool)
{
	memset(f, 0, sizeof(*f));
	f->pool = pool;
	f->tmp = mc_pool_create("imap-thread", 64 * 1024);
}

/* ---- THREAD=ORDEREDSUBJECT ---- */

/* Equal base subjects (i;ascii-casemap); NULL is "". */
static bool subject_eq(const char *a, const char *b)
{
	return strcasecmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Splits messages sorted by (subject, date) into threads: the first of
 * each subject a root, the others its children in order. */
static struct box *group_subjects(struct forest *f,
				  const struct mc_imap_sort_msg *sorted,
				  size_t n)
{
	struct box *roots = NULL, *root = NULL, *tail = NULL;

	for (size_t i = 0; i < n; i++) {
		struct box *b = box_new(f, &sorted[i]);

		if (root != NULL &&
		    subject_eq(root->msg->base_subject, b->msg->base_subject)) {
			b->parent = root;
			if (tail == root)
				root->child = b;
			else
				tail->next = b;
			tail = b;
			continue;
		}
		b->next = roots;
		roots = root = tail = b;
	}
	return roots;
}

/* Threads by base subject, ordered by first message (RFC 5256 3). */
struct mc_imap_thread_node *
mc_imap_thread_orderedsubject(struct mc_pool *pool,
			      const struct mc_imap_sort_msg *msgs, size_t n)
{
	static const struct mc_imap_sort_criterion order[] = {
		{MC_IMAP_SORT_SUBJECT, false},
		{MC_IMAP_SORT_DATE, false},
	};
	struct mc_imap_sort_msg *sorted;
	struct mc_imap_thread_node *result;
	struct forest f;

	if (n == 0)
		return NULL;
	sorted = mc_calloc(n, sizeof(*sorted));
	memcpy(sorted, msgs, n * sizeof(*sorted));
	mc_imap_sort(sorted, n, order, 2);
	forest_init(&f, pool);
	result = forest_output(&f, list_sort(group_subjects(&f, sorted, n)));
	mc_pool_destroy(&f.tmp);
	free(sorted);
	return result;
}

/* ---- msg-id syntax (RFC 5322 3.6.4) ----
 *   msg-id   = [CFWS] "<" id-left "@" id-right ">" [CFWS]
 *   id-left  = dot-atom-text / obs-id-left (local-part: words and dots)
 *   id-right = dot-atom-text / no-fold-literal ("[" *dtext "]") /
 *              obs-id-right
 * Text between msg-ids (comments, quoted phrases of old In-Reply-To
 * values, commas) is skipped; an invalid msg-id is skipped. */

/* RFC 5322 atext, plus 8-bit bytes (RFC 6532). */
static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Past a quoted-string (nest false) or comment (nest true, closer
 * close) opened at s; NULL when it is unterminated. */
static const char *skip_delimited(const char *s, char close, bool nest)
{
	unsigned depth = 1;
	char open = *s;

	for (s++; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (nest && *s == open)
			depth++;
		else if (*s == close && --depth == 0)
			return s + 1;
	}
	return NULL;
}

/* Past a quoted-string at s, NULL when unterminated or not one. */
static const char *quoted_end(const char *s)
{
	return *s == '"' ? skip_delimited(s, '"', false) : NULL;
}

/* Past 1*atext at s, NULL when there is none. */
static const char *atoms_end(const char *s)
{
	const char *p = s;

	while (is_atext((unsigned char)*p))
		p++;
	return p == s ? NULL : p;
}

/* Past id-left: words (atom or quoted-string) separated by dots. */
static const char *left_end(const char *s)
{
	for (;;) {
		const char *e = *s == '"' ? quoted_end(s) : atoms_end(s);

		if (e == NULL)
			return NULL;
		if (*e != '.')
			return e;
		s = e + 1;
	}
}

/* Past id-right: dot-atom-text or a no-fold-literal. */
static const char *right_end(const char *s)
{
	const char *e;

	if (*s == '[') {
		for (s++; *s >= 33 && *s <= 126 && *s != '[' && *s != '\\' &&
			  *s != ']';
		     s++)
			;
		return *s == ']' ? s + 1 : NULL;
	}
	for (;;) {
		if ((e = atoms_end(s)) == NULL)
			return NULL;
		if (*e != '.')
			return e;
		s = e + 1;
	}
}

/* Where the '>' of a msg-id whose '<' is just before s is, or NULL. */
static const char *msgid_close(const char *s)
{
	const char *e = left_end(s);

	if (e == NULL || *e != '@')
		return NULL;
	e = right_end(e + 1);
	return e != NULL && *e == '>' ? e : NULL;
}

/* The next valid msg-id from *p (without its brackets) in *id_r and
 * *len_r; *p moves past it. False when none is left. */
static bool next_msgid(const char **p, const char **id_r, size_t *len_r)
{
	const char *s = *p, *e;

	while (s != NULL && *s != '\0') {
		if (*s == '(' || *s == '"') {
			s = skip_delimited(s, *s == '(' ? ')' : '"', *s == '(');
			continue;
		}
		if (*s++ != '<' || (e = msgid_close(s)) == NULL)
			continue;
		*id_r = s;
		*len_r = (size_t)(e - s);
		*p = e + 1;
		return true;
	}
	*p = "";
	return false;
}

/* ---- string table ---- */

/* FNV-1a of a key, ASCII-folded when icase. */
static uint64_t key_hash(const char *s, size_t len, bool icase)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (icase && c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 1099511628211ull;
	}
	return h;
}

/* Doubles the table (or creates it with 64 slots). */
static void table_grow(struct table *t)
{
	struct slot *old = t->slots;
	size_t old_cap = t->cap;

	t->cap = old_cap == 0 ? 64 : old_cap * 2;
	t->slots = mc_calloc(t->cap, sizeof(*t->slots));
	for (size_t i = 0; i < old_cap; i++) {
		size_t j = old[i].hash & (t->cap - 1);

		if (old[i].key == NULL)
			continue;
		while (t->slots[j].key != NULL)
			j = (j + 1) & (t->cap - 1);
		t->slots[j] = old[i];
	}
	free(old);
}

/* True when slot s holds key. */
static bool slot_is(const struct slot *s, const struct table *t,
		    const char *key, size_t len, uint64_t h)
{
	if (s->hash != h || s->len != len)
		return false;
	return t->icase ? strncasecmp(s->key, key, len) == 0
			: memcmp(s->key, key, len) == 0;
}

/* The slot of key, added (box NULL, key copied to pool) when missing. */
static struct slot *table_get(struct table *t, struct mc_pool *pool,
			      const char *key, size_t len)
{
	uint64_t h = key_hash(key, len, t->icase);
	size_t i;

	if ((t->count + 1) * 2 > t->cap)
		table_grow(t);
	for (i = h & (t->cap - 1); t->slots[i].key != NULL;
	     i = (i + 1) & (t->cap - 1)) {
		if (slot_is(&t->slots[i], t, key, len, h))
			return &t->slots[i];
	}
	t->slots[i].key = mc_pstrndup(pool, key, len);
	t->slots[i].len = len;
	t->slots[i].hash = h;
	t->count++;
	return &t->slots[i];
}

/* ---- THREAD=REFERENCES step 1 ---- */

/* The box of a Message-ID (a new dummy when unseen). */
static struct box *id_box(struct forest *f, struct table *ids, const char *id,
			  size_t len)
{
	struct slot *s = table_get(ids, f->tmp, id, len);

	if (s->box == NULL)
		s->box = box_new(f, NULL);
	return s->box;
}

/* Step 1: the message's own box. A missing or invalid Message-ID, or one
 * that another message already has, gets a unique one (a box outside the
 * table); a dummy made by an earlier reference is filled in. */
static struct box *msg_box(struct forest *f, struct table *ids,
			   const struct mc_imap_sort_msg *msg)
{
	const char *p = msg->message_id != NULL ? msg->message_id : "", *id;
	struct slot *s;
	size_t len;

	if (!next_msgid(&p, &id, &len))
		return box_new(f, msg);
	s = table_get(ids, f->tmp, id, len);
	if (s->box == NULL) {
		s->box = box_new(f, msg);
	} else if (s->box->msg == NULL) {
		s->box->msg = msg;
		s->box->date = msg->date;
		s->box->seq = msg->seq;
	} else {
		return box_new(f, msg);
	}
	return s->box;
}

/* The boxes of the message's references: the last MAX_REFS msg-ids of
 * References, or the first of In-Reply-To when References has none.
 * Returns the count; refs is a ring, *start_r its first entry. */
static size_t msg_refs(struct forest *f, struct table *ids,
		       const struct mc_imap_sort_msg *msg, struct box **refs,
		       size_t *start_r)
{
	const char *p = msg->references != NULL ? msg->references : "", *id;
	size_t n = 0, len;

	*start_r = 0;
	while (next_msgid(&p, &id, &len)) {
		refs[n % MC_IMAP_THREAD_MAX_REFS] = id_box(f, ids, id, len);
		n++;
	}
	if (n > MC_IMAP_THREAD_MAX_REFS) {
		*start_r = n % MC_IMAP_THREAD_MAX_REFS;
		return MC_IMAP_THREAD_MAX_REFS;
	}
	p = msg->in_reply_to != NULL ? msg->in_reply_to : "";
	if (n == 0 && next_msgid(&p, &id, &len))
		refs[n++] = id_box(f, ids, id, len);
	return n;
}

/* Steps 1.A and 1.B for one message. */
static void link_message(struct forest *f, struct table *ids,
			 const struct mc_imap_sort_msg *msg, struct box **refs)
{
	struct box *m = msg_box(f, ids, msg), *last = NULL;
	size_t start, n = msg_refs(f, ids, msg, refs, &start);

	/* 1.A: each reference the child of the one before, unless it
	 * already has a parent or that would make a loop */
	for (size_t i = 0; i + 1 < n; i++) {
		struct box *parent =
			refs[(start + i) % MC_IMAP_THREAD_MAX_REFS];
		struct box *child =
			refs[(start + i + 1) % MC_IMAP_THREAD_MAX_REFS];

		if (child->parent == NULL && !would_loop(parent, child))
			add_child(parent, child);
	}
	if (n > 0)
		last = refs[(start + n - 1) % MC_IMAP_THREAD_MAX_REFS];
	/* 1.B: the message the child of its last reference (none: a root),
	 * replacing an older link; no link that would make a loop */
	if (m->parent == last)
		return;
	if (last != NULL && would_loop(last, m))
		return;
	unlink_child(m);
	if (last != NULL)
		add_child(last, m);
}

/* Step 2: the boxes without a parent, in creation order. */
static struct box *collect_roots(struct forest *f)
{
	struct box head = {0}, *tail = &head;

	for (struct box *b = f->first; b != NULL; b = b->all_next) {
		if (b->parent != NULL)
			continue;
		tail->next = b;
		tail = b;
	}
	tail->next = NULL;
	return head.next;
}

/* ---- steps 3, 4 and 6: pruning and sorting ---- */

/* Appends b to the list (*head, *tail) under parent. */
static void list_append(struct box **head, struct box **tail, struct box *b,
			struct box *parent)
{
	b->parent = parent;
	b->next = NULL;
	if (*tail != NULL)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

/* Step 3 on one sibling list (its members already pruned): a dummy
 * without children goes; one with children is replaced by them, except
 * at the top (parent NULL) where only a single child is promoted. */
static struct box *prune_list(struct box *list, struct box *parent)
{
	struct box *head = NULL, *tail = NULL, *next, *gnext;

	for (struct box *c = list; c != NULL; c = next) {
		next = c->next;
		if (c->msg != NULL || (parent == NULL && c->child != NULL &&
				       c->child->next != NULL)) {
			list_append(&head, &tail, c, parent);
			continue;
		}
		for (struct box *g = c->child; g != NULL; g = gnext) {
			gnext = g->next;
			list_append(&head, &tail, g, parent);
		}
	}
	return head;
}

/* Prunes and sorts b's children; a dummy takes its first child's key. */
static void finish_children(struct box *b)
{
	b->child = list_sort(prune_list(b->child, b));
	if (b->msg == NULL && b->child != NULL) {
		b->date = b->child->date;
		b->seq = b->child->seq;
	}
}

/* The deepest first descendant of b. */
static struct box *first_leaf(struct box *b)
{
	while (b->child != NULL)
		b = b->child;
	return b;
}

/* Steps 3 and 4 (and 6 below the top): every sibling list pruned and
 * sorted, children before parents (post-order over parent pointers);
 * then the top list. */
static struct box *prune_and_sort(struct box *roots)
{
	struct box *b = roots != NULL ? first_leaf(roots) : NULL, *next;

	while (b != NULL) {
		next = b->next != NULL ? first_leaf(b->next) : b->parent;
		finish_children(b);
		b = next;
	}
	return list_sort(prune_list(roots, NULL));
}

/* ---- step 5: gathering by subject ---- */

/* A root's thread subject: its own, or its first child's for a dummy. */
static const char *thread_subject(const struct box *b)
{
	const struct mc_imap_sort_msg *m =
		b->msg != NULL ? b->msg : b->child->msg;
	const char *s = m != NULL ? m->base_subject : NULL;

	return s != NULL ? s : "";
}

/* True when b is a message whose subject was a reply or forward. */
static bool is_reply(const struct box *b)
{
	return b->msg != NULL && b->msg->reply;
}

/* Step 5.B: one root per thread subject, preferring a dummy, then a
 * message that is not a reply or forward. */
static void subjects_fill(struct forest *f, struct table *subj,
			  struct box **roots, const char **subjects, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = subjects[i] = thread_subject(roots[i]);
		struct slot *sl;
		struct box *t;

		if (*s == '\0')
			continue;
		sl = table_get(subj, f->tmp, s, strlen(s));
		t = sl->box;
		if (t == NULL ||
		    (t->msg != NULL && (roots[i]->msg == NULL ||
					(is_reply(t) && !is_reply(roots[i])))))
			sl->box = roots[i];
		roots[i]->root_idx = i;
	}
}

/* Moves every child of from under to. */
static void move_children(struct box *from, struct box *to)
{
	struct box *next;

	for (struct box *c = from->child; c != NULL; c = next) {
		next = c->next;
		c->next = to->child;
		c->parent = to;
		to->child = c;
	}
	from->child = NULL;
}

/* Step 5.C.iv for root i whose subject's table root is sl->box. */
static void merge_root(struct forest *f, struct slot *sl, struct box **roots,
		       size_t i)
{
	struct box *b = roots[i], *t = sl->box, *d;

	if (b->msg == NULL && t->msg == NULL) {
		move_children(b, t);
	} else if (t->msg == NULL || (is_reply(b) && !is_reply(t))) {
		b->next = t->child;
		b->parent = t;
		t->child = b;
	} else if (b->msg == NULL) {
		return; /* cannot happen after 5.B: a dummy is preferred */
	} else {
		d = box_new(f, NULL);
		d->root_idx = t->root_idx;
		roots[t->root_idx] = d;
		d->child = t;
		t->next = b;
		b->next = NULL;
		t->parent = b->parent = d;
		sl->box = d;
	}
	roots[i] = NULL;
}

/* Step 5 over the sorted root list; returns the new root list, its
 * changed sibling lists sorted again (step 6). */
static struct box *gather_subjects(struct forest *f, struct box *list)
{
	struct table subj = {NULL, 0, 0, true};
	struct box **roots, *head = NULL, *tail = NULL;
	const char **subjects;
	size_t n = 0, k = 0;

	for (struct box *b = list; b != NULL; b = b->next)
		n++;
	roots = mc_calloc(n + 1, sizeof(*roots));
	subjects = mc_calloc(n + 1, sizeof(*subjects));
	for (struct box *b = list; b != NULL; b = b->next)
		roots[k++] = b;
	subjects_fill(f, &subj, roots, subjects, n);
	/* 5.C: subjects as found in 5.B, before merges change children */
	for (size_t i = 0; i < n; i++) {
		struct slot *sl;

		if (roots[i] == NULL || *subjects[i] == '\0')
			continue;
		sl = table_get(&subj, f->tmp, subjects[i], strlen(subjects[i]));
		if (sl->box != roots[i])
			merge_root(f, sl, roots, i);
	}
	for (size_t i = 0; i < n; i++) {
		if (roots[i] == NULL)
			continue;
		/* a message wrapped in a new dummy may have got children */
		for (struct box *c = roots[i]->child; c != NULL; c = c->next)
			c->child = list_sort(c->child);
		finish_children(roots[i]);
		list_append(&head, &tail, roots[i], NULL);
	}
	free(subjects);
	free(roots);
	free(subj.slots);
	return list_sort(head);
}

/* THREAD=REFERENCES, RFC 5256 section 3 steps 1 to 6. */
struct mc_imap_thread_node *
mc_imap_thread_references(struct mc_pool *pool,
			  const struct mc_imap_sort_msg *msgs, size_t n)
{
	struct table ids = {NULL, 0, 0, false};
	struct box *refs[MC_IMAP_THREAD_MAX_REFS], *roots;
	struct mc_imap_thread_node *result;
	struct forest f;

	if (n == 0)
		return NULL;
	forest_init(&f, pool);
	for (size_t i = 0; i < n; i++)
		link_message(&f, &ids, &msgs[i], refs);
	free(ids.slots);
	roots = prune_and_sort(collect_roots(&f));
	roots = gather_subjects(&f, roots);
	result = forest_output(&f, roots);
	mc_pool_destroy(&f.tmp);
	return result;
}

/* Either algorithm. */
struct mc_imap_thread_node *
mc_imap_thread_build(struct mc_pool *pool, enum mc_imap_thread_algorithm alg,
		     const struct mc_imap_sort_msg *msgs, size_t n)
{
	if (alg == MC_IMAP_THREAD_ORDEREDSUBJECT)
		return mc_imap_thread_orderedsubject(pool, msgs, n);
	return mc_imap_thread_references(pool, msgs, n);
}

/* ---- the THREAD response ----
 *   thread-list    = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested  = 2*thread-list */

struct stack {
	const struct mc_imap_thread_node **items;
	size_t depth, cap;
};

/* Pushes a pending sibling (may be NULL). */
static void stack_push(struct stack *st, const struct mc_imap_thread_node *n)
{
	if (st->depth == st->cap) {
		st->cap = st->cap == 0 ? 32 : st->cap * 2;
		st->items = mc_realloc(st->items, st->cap * sizeof(*st->items));
	}
	st->items[st->depth++] = n;
}

/* Writes the numbers of a chain of single children from n; returns the
 * node whose children branch (after writing the SP before them), or
 * NULL at the chain's leaf. */
static const struct mc_imap_thread_node *
write_chain(const struct mc_imap_thread_node *n, bool use_uid,
	    struct mc_buf *out, bool *ok)
{
	bool written = false;

	for (;;) {
		if (n->uid != 0) {
			if (written)
				*ok &= mc_buf_append_c(out, ' ');
			*ok &= mc_buf_printf(out, "%u",
					     use_uid ? n->uid : n->seq);
			written = true;
		}
		if (n->child == NULL)
			return NULL;
		if (n->child->next == NULL) {
			n = n->child;
			continue;
		}
		if (written)
			*ok &= mc_buf_append_c(out, ' ');
		return n;
	}
}

/* Writes one thread: every chain in parentheses, a branch's children as
 * consecutive lists; the stack holds each open branch's next child. */
static bool write_thread(const struct mc_imap_thread_node *n, bool use_uid,
			 struct mc_buf *out, struct stack *st)
{
	bool ok = mc_buf_append_c(out, '(');

	st->depth = 0;
	for (;;) {
		const struct mc_imap_thread_node *branch =
			write_chain(n, use_uid, out, &ok);

		if (branch != NULL) {
			stack_push(st, branch->child->next);
			ok &= mc_buf_append_c(out, '(');
			n = branch->child;
			continue;
		}
		ok &= mc_buf_append_c(out, ')');
		while (st->depth > 0 && st->items[st->depth - 1] == NULL) {
			st->depth--;
			ok &= mc_buf_append_c(out, ')');
		}
		if (st->depth == 0)
			return ok;
		n = st->items[st->depth - 1];
		st->items[st->depth - 1] = n->next;
		ok &= mc_buf_append_c(out, '(');
	}
}

/* Appends the THREAD response body for the forest. */
bool mc_imap_thread_write(const struct mc_imap_thread_node *roots, bool use_uid,
			  struct mc_buf *out)
{
	struct stack st = {NULL, 0, 0};
	bool ok = true;

	for (; roots != NULL; roots = roots->next)
		ok &= write_thread(roots, use_uid, out, &st);
	free(st.items);
	return ok;
}
