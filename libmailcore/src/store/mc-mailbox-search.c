/* mc-mailbox-search: SEARCH over one mailbox. The parsed program (RFC 3501
 * 6.4.4, RFC 9051, MODSEQ of RFC 7162) becomes one parameterised query,
 * read in pages of UIDs inside one snapshot. Keys no column holds (BCC,
 * HEADER of other fields) are tested in C on the candidates' blob
 * headers: the query then returns each other key's truth per row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-encword.h"
#include "mailcore/mc-imap-search.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-str.h"
#include "mc-mailbox-private.h"

#define PAGE_ROWS    "5000"
#define PAGE_SIZE    5000
#define HEADER_MAX   (256 * 1024) /* bytes of a blob read for its header */
#define HEADER_CHUNK 16384
#define BASE_PARAMS  6 /* tenant, mailbox, user, scope lo, scope hi, last */

/* A search key compiled: SQL leaves get a result column, blob leaves a
 * header test in C. */
struct cnode {
	const struct mc_imap_search_node *src;
	struct cnode **kids;
	size_t n;
	int col; /* result column of a SQL leaf; -1 for a blob leaf */
};

/* The query being built. */
struct sq {
	struct mc_pool *pool;
	const char **params;
	size_t nparams, cap;
	struct mc_buf where; /* the WHERE test (blob leaves as TRUE/FALSE) */
	struct mc_buf cols;  /* ", leaf, leaf..." when blob leaves exist */
	int ncols;
	bool has_blob, invalid;
};

/* Everything one search holds while it runs. */
struct search {
	struct mc_pool *pool;
	struct mc_blob_store *blobs;
	const struct mc_mailbox_owner *owner;
	int64_t mailbox_id;
	const struct mc_imap_seqset *scope;
	struct sq q;
	struct cnode *root;
	const char *sql;
	uint32_t *uids; /* heap while collecting */
	size_t count, cap;
	uint64_t max_modseq;
};

/* Adds a parameter; returns its "$n". */
static const char *param(struct sq *q, const char *value)
{
	if (q->nparams == q->cap) {
		q->cap *= 2;
		const char **p = mc_palloc_array(q->pool, q->cap, sizeof(*p));
		memcpy(p, q->params, q->nparams * sizeof(*p));
		q->params = p;
	}
	q->params[q->nparams++] = value;
	return mc_psprintf(q->pool, "$%zu", q->nparams);
}

/* A number parameter. */
static const char *param_num(struct sq *q, int64_t v)
{
	return param(q, mc_psprintf(q->pool, "%lld", (long long)v));
}

/* "%value%" for ILIKE with \, % and _ escaped. */
static const char *like_pattern(struct mc_pool *pool, const char *value)
{
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_buf_append_c(&b, '%');
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\\' || *p == '%' || *p == '_')
			mc_buf_append_c(&b, '\\');
		mc_buf_append_c(&b, *p);
	}
	mc_buf_append_c(&b, '%');
	return mc_buf_cstr(&b);
}

/* The stored column of a header field, NULL when only the blob has it.
 * SUBJECT, FROM, TO and CC are decoded (RFC 2047, display lists);
 * Message-ID, In-Reply-To and References are raw. */
static const char *header_column(const char *name)
{
	static const char *const map[][2] = {
		{"SUBJECT", "m.subject"},
		{"FROM", "m.from_addr"},
		{"TO", "m.to_addr"},
		{"CC", "m.cc_addr"},
		{"MESSAGE-ID", "m.message_id"},
		{"IN-REPLY-TO", "m.in_reply_to"},
		{"REFERENCES", "m.refs"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i][0], name) == 0)
			return map[i][1];
	}
	return NULL;
}

/* The stored bit of a system flag (0 for \Recent, which is never set). */
static unsigned flag_bit(enum mc_imap_search_flag f)
{
	switch (f) {
	case MC_IMAP_SEARCH_FLAG_SEEN:
		return 1;
	case MC_IMAP_SEARCH_FLAG_ANSWERED:
		return 2;
	case MC_IMAP_SEARCH_FLAG_FLAGGED:
		return 4;
	case MC_IMAP_SEARCH_FLAG_DELETED:
		return 8;
	case MC_IMAP_SEARCH_FLAG_DRAFT:
		return 16;
	default:
		return 0;
	}
}

/* FLAG and KEYWORD tests (keywords compare case-insensitively). */
static const char *flag_sql(struct sq *q, const struct mc_imap_search_node *n)
{
	if (n->kind == MC_IMAP_SEARCH_KEYWORD)
		return mc_psprintf(
			q->pool,
			"%sEXISTS (SELECT 1 FROM unnest(mm.keywords) "
			"k WHERE lower(k) = lower(%s::text))",
			n->set ? "" : "NOT ", param(q, n->name));
	unsigned bit = flag_bit(n->flag);
	if (bit == 0)
		return n->set ? "FALSE" : "TRUE";
	return mc_psprintf(q->pool, "(mm.flags & %u) %s 0", bit,
			   n->set ? "<>" : "=");
}

/* Dates at day granularity in UTC: the node's date is midnight UTC of the
 * day given (RFC 3501 6.4.4 disregards time and zone). */
static const char *date_sql(struct sq *q, const struct mc_imap_search_node *n)
{
	const char *col = n->date_field == MC_IMAP_SEARCH_DATE_SENT
				  ? "m.sent_at"
				  : "mm.internal_date";
	const char *day = param_num(q, (int64_t)n->date);
	const char *test;
	if (n->cmp == MC_IMAP_SEARCH_LT)
		test = mc_psprintf(q->pool, "%s < to_timestamp(%s::bigint)",
				   col, day);
	else if (n->cmp == MC_IMAP_SEARCH_EQ)
		test = mc_psprintf(q->pool,
				   "%s >= to_timestamp(%s::bigint) AND %s < "
				   "to_timestamp(%s::bigint)",
				   col, day, col,
				   param_num(q, (int64_t)n->date + 86400));
	else
		test = mc_psprintf(q->pool, "%s >= to_timestamp(%s::bigint)",
				   col, day);
	/* a message without a Date: matches no SENT* key */
	return mc_psprintf(q->pool, "COALESCE(%s, FALSE)", test);
}

/* A UID set (resolved by the caller; a "*" left is the largest UID). */
static const char *uidset_sql(struct sq *q, const struct mc_imap_search_node *n)
{
	struct mc_imap_seqset set = n->seqset;
	if (set.star) {
		set.ranges = mc_pmemdup(q->pool, set.ranges,
					set.count * sizeof(*set.ranges));
		mc_imap_seqset_resolve(&set, UINT32_MAX);
	}
	const char *lo, *hi;
	mb_ranges(q->pool, &set, &lo, &hi);
	return mc_psprintf(q->pool,
			   "EXISTS (SELECT 1 FROM unnest(%s::bigint[], "
			   "%s::bigint[]) s(lo, hi) WHERE mm.uid BETWEEN s.lo "
			   "AND s.hi)",
			   param(q, lo), param(q, hi));
}

/* BODY and TEXT go through the full-text index of the message text
 * (subject, addresses, attachment names, decoded text parts): they find
 * whole words (any script, case-folded), where RFC 3501 asks for
 * substrings; the text itself is not stored. A value without any word
 * (punctuation only) matches everything, like the empty string. */
static const char *text_sql(struct sq *q, const struct mc_imap_search_node *n)
{
	const char *v = param(q, n->value);
	return mc_psprintf(q->pool,
			   "(numnode(plainto_tsquery('simple', %s::text)) = 0 "
			   "OR COALESCE(m.search @@ plainto_tsquery('simple', "
			   "%s::text), FALSE))",
			   v, v);
}

/* A header key held by a column: case-insensitive substring. */
static const char *header_sql(struct sq *q, const struct mc_imap_search_node *n,
			      const char *col)
{
	return mc_psprintf(q->pool, "%s ILIKE %s::text", col,
			   param(q, like_pattern(q->pool, n->value)));
}

/* The SQL of a leaf; NULL for a key only the blob can answer. */
static const char *leaf_sql(struct sq *q, const struct mc_imap_search_node *n)
{
	switch (n->kind) {
	case MC_IMAP_SEARCH_ALL:
		return "TRUE";
	case MC_IMAP_SEARCH_FLAG:
	case MC_IMAP_SEARCH_KEYWORD:
		return flag_sql(q, n);
	case MC_IMAP_SEARCH_DATE:
		return date_sql(q, n);
	case MC_IMAP_SEARCH_SIZE:
		return mc_psprintf(q->pool, "mm.size_bytes %s %s::bigint",
				   n->cmp == MC_IMAP_SEARCH_LT ? "<" : ">",
				   param_num(q, n->number > INT64_MAX
							? INT64_MAX
							: (int64_t)n->number));
	case MC_IMAP_SEARCH_HEADER: {
		const char *col = header_column(n->name);
		if (col != NULL && n->value[0] == '\0')
			return "TRUE";
		return col != NULL ? header_sql(q, n, col) : NULL;
	}
	case MC_IMAP_SEARCH_BODY:
	case MC_IMAP_SEARCH_TEXT:
		return n->value[0] == '\0' ? "TRUE" : text_sql(q, n);
	case MC_IMAP_SEARCH_UIDSET:
		return uidset_sql(q, n);
	case MC_IMAP_SEARCH_MODSEQ:
		return mc_psprintf(q->pool, "mm.modseq >= %s::bigint",
				   param_num(q, n->number > INT64_MAX
							? INT64_MAX
							: (int64_t)n->number));
	default: /* SEQSET and "$": the caller converts them to UIDs */
		q->invalid = true;
		return "FALSE";
	}
}

/* Compiles a leaf: its SQL into the WHERE test (and a column when blob
 * leaves exist), or a blob test (TRUE/FALSE by polarity in the WHERE, so
 * the query returns a superset of the matches). */
static void compile_leaf(struct sq *q, struct cnode *c, bool positive)
{
	const char *sql = leaf_sql(q, c->src);
	if (sql == NULL) {
		c->col = -1;
		mc_buf_append_str(&q->where, positive ? "TRUE" : "FALSE");
		return;
	}
	c->col = q->ncols++;
	mc_buf_printf(&q->where, "(%s)", sql);
	mc_buf_printf(&q->cols, ", (%s)", sql);
}

/* Compiles a node and its children, writing the WHERE test. */
static struct cnode *compile(struct sq *q, const struct mc_imap_search_node *n,
			     bool positive)
{
	struct cnode *c = mc_palloc(q->pool, sizeof(*c));
	c->src = n;
	if (n->kind != MC_IMAP_SEARCH_AND && n->kind != MC_IMAP_SEARCH_OR &&
	    n->kind != MC_IMAP_SEARCH_NOT) {
		compile_leaf(q, c, positive);
		return c;
	}
	const char *op = n->kind == MC_IMAP_SEARCH_OR ? " OR " : " AND ";
	bool pos = n->kind == MC_IMAP_SEARCH_NOT ? !positive : positive;
	c->n = n->kind == MC_IMAP_SEARCH_NOT ? 1 : n->child_count;
	c->kids = mc_palloc_array(q->pool, c->n + 1, sizeof(*c->kids));
	mc_buf_append_str(&q->where,
			  n->kind == MC_IMAP_SEARCH_NOT ? "NOT (" : "(");
	for (size_t i = 0; i < c->n; i++) {
		mc_buf_append_str(&q->where, i > 0 ? op : "");
		c->kids[i] = compile(q, n->children[i], pos);
	}
	if (c->n == 0)
		mc_buf_append_str(&q->where, "TRUE");
	mc_buf_append_c(&q->where, ')');
	return c;
}

/* True when the tree has a key only the blob can answer. */
static bool needs_blob(const struct cnode *c)
{
	if (c->kids == NULL)
		return c->col < 0;
	for (size_t i = 0; i < c->n; i++) {
		if (needs_blob(c->kids[i]))
			return true;
	}
	return false;
}

static const char sql_head[] =
	"SELECT mm.uid, mm.modseq, m.sha256%s FROM mailbox_messages mm "
	"JOIN messages m ON m.tenant_id = mm.tenant_id AND m.id = "
	"mm.message_id JOIN unnest($4::bigint[], $5::bigint[]) r(lo, hi) ON "
	"mm.uid BETWEEN r.lo AND r.hi WHERE mm.tenant_id = $1 AND "
	"mm.mailbox_id = $2 AND EXISTS (SELECT 1 FROM mailboxes b WHERE "
	"b.tenant_id = $1 AND b.id = $2 AND b.user_id = $3) AND mm.uid > "
	"$6::bigint AND %s ORDER BY mm.uid LIMIT " PAGE_ROWS;

/* Builds the query of the program; false for an unconverted sequence
 * set. */
static bool build(struct search *s, const struct mc_imap_search *program)
{
	struct sq *q = &s->q;
	q->pool = s->pool;
	q->cap = BASE_PARAMS + 16;
	q->params = mc_palloc_array(s->pool, q->cap, sizeof(*q->params));
	q->nparams = BASE_PARAMS;
	mc_buf_init(&q->where, s->pool, 0);
	mc_buf_init(&q->cols, s->pool, 0);
	s->root = compile(q, program->root, true);
	q->has_blob = needs_blob(s->root);
	s->sql = mc_psprintf(s->pool, sql_head,
			     q->has_blob ? mc_buf_cstr(&q->cols) : "",
			     mc_buf_cstr(&q->where));
	return !q->invalid;
}

/* The header block of a blob (up to HEADER_MAX bytes) into b; a missing
 * blob has an empty header. 0 or -1. */
static int read_header(struct mc_blob_store *blobs, const char *sha,
		       struct mc_buf *b, struct mc_error *err)
{
	struct mc_error e = {0};
	struct mc_blob_reader *r = mc_blob_open(blobs, sha, &e);
	mc_buf_clear(b);
	if (r == NULL) {
		if (e.cls == MC_ERR_NOTFOUND)
			return 0;
		*err = e;
		return -1;
	}
	char chunk[HEADER_CHUNK];
	ssize_t got = 0;
	while (b->len < HEADER_MAX &&
	       (got = mc_blob_pread(r, chunk, sizeof(chunk), b->len, err)) >
		       0) {
		mc_buf_append(b, chunk, (size_t)got);
		if (strstr(b->data, "\r\n\r\n") != NULL ||
		    strstr(b->data, "\n\n") != NULL)
			break;
	}
	mc_blob_reader_close(&r);
	return got < 0 ? -1 : 0;
}

/* The end of the header field starting at p (its last line's end). */
static const char *field_end(const char *p, const char *end)
{
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return end;
		if (nl + 1 >= end || (nl[1] != ' ' && nl[1] != '\t'))
			return nl + 1;
		p = nl + 1;
	}
}

/* True when the header has the field name whose unfolded, RFC 2047
 * decoded value contains value (ASCII case-insensitive); "" asks only
 * for the field. */
static bool header_has(struct mc_pool *pool, const struct mc_buf *hdr,
		       const char *name, const char *value)
{
	const char *p = hdr->data, *end = hdr->data + hdr->len;
	size_t nlen = strlen(name);
	while (p != NULL && p < end && *p != '\r' && *p != '\n') {
		const char *fe = field_end(p, end);
		if ((size_t)(fe - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			if (value[0] == '\0')
				return true;
			struct mc_buf dec;
			mc_buf_init(&dec, pool, 0);
			mc_encword_decode(p + nlen + 1,
					  (size_t)(fe - p) - nlen - 1, &dec);
			if (strcasestr(mc_buf_cstr(&dec), value) != NULL)
				return true;
		}
		p = fe;
	}
	return false;
}

/* One candidate row as C evaluates it. */
struct row {
	PGresult *res;
	int r;
	const struct mc_buf *hdr;
};

/* Evaluates a compiled node on a row. */
static bool eval(struct search *s, const struct cnode *c, const struct row *w)
{
	const struct mc_imap_search_node *n = c->src;
	if (c->kids == NULL && c->col >= 0)
		return PQgetvalue(w->res, w->r, 3 + c->col)[0] == 't';
	if (c->kids == NULL)
		return header_has(s->pool, w->hdr, n->name, n->value);
	if (n->kind == MC_IMAP_SEARCH_NOT)
		return !eval(s, c->kids[0], w);
	bool or = n->kind == MC_IMAP_SEARCH_OR;
	for (size_t i = 0; i < c->n; i++) {
		if (eval(s, c->kids[i], w) == or)
			return or ;
	}
	return ! or ;
}

/* Adds a match. */
static void add_match(struct search *s, uint32_t uid, uint64_t modseq)
{
	if (s->count == s->cap) {
		s->cap = s->cap == 0 ? 256 : s->cap * 2;
		s->uids = mc_realloc(s->uids, s->cap * sizeof(*s->uids));
	}
	s->uids[s->count++] = uid;
	if (modseq > s->max_modseq)
		s->max_modseq = modseq;
}

/* Takes the matches of one page; *last_r gets its last UID. */
static int take_page(struct search *s, PGresult *res, uint32_t *last_r,
		     struct mc_error *err)
{
	struct mc_buf hdr;
	mc_buf_init(&hdr, NULL, 0);
	int rc = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		uint32_t uid =
			(uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
		uint64_t modseq = strtoull(PQgetvalue(res, r, 1), NULL, 10);
		*last_r = uid;
		if (s->q.has_blob) {
			if (read_header(s->blobs, PQgetvalue(res, r, 2), &hdr,
					err) < 0) {
				rc = -1;
				break;
			}
			struct row w = {res, r, &hdr};
			if (!eval(s, s->root, &w))
				continue;
		}
		add_match(s, uid, modseq);
	}
	mc_buf_free(&hdr);
	return rc;
}

/* Transaction body: every page in one snapshot. */
static int search_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct search *s = ctx;
	s->count = 0;
	s->max_modseq = 0;
	if (mc_pg_exec(pg,
		       "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ "
		       "ONLY",
		       0, NULL, err) < 0)
		return -1;
	uint32_t last = 0;
	for (;;) {
		char lastbuf[MB_NUM];
		s->q.params[5] = mb_num(lastbuf, last);
		PGresult *res = mc_pg_query_once(pg, s->sql, (int)s->q.nparams,
					    s->q.params, err);
		if (res == NULL)
			return -1;
		int n = PQntuples(res);
		int rc = take_page(s, res, &last, err);
		PQclear(res);
		if (rc < 0)
			return -1;
		if (n < PAGE_SIZE)
			return 0;
	}
}

/* The fixed parameters: owner, mailbox and the UID scope. */
static void base_params(struct search *s, char bufs[3][MB_NUM])
{
	const char **p = s->q.params;
	p[0] = mb_num(bufs[0], s->owner->tenant_id);
	p[1] = mb_num(bufs[1], s->mailbox_id);
	p[2] = mb_num(bufs[2], s->owner->user_id);
	if (s->scope != NULL) {
		mb_ranges(s->pool, s->scope, &p[3], &p[4]);
	} else {
		p[3] = "{0}";
		p[4] = "{4294967295}";
	}
}

int mc_mailbox_search(struct mc_pg *pg, struct mc_blob_store *blobs,
		      struct mc_pool *pool,
		      const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		      const struct mc_imap_search *program,
		      const struct mc_imap_seqset *uid_scope, uint32_t **uids_r,
		      size_t *count_r, uint64_t *max_modseq_r,
		      struct mc_error *err)
{
	struct search s = {.pool = pool,
			   .blobs = blobs,
			   .owner = owner,
			   .mailbox_id = mailbox_id,
			   .scope = uid_scope};
	if (!build(&s, program)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "sequence sets must be converted to UIDs");
		return -1;
	}
	if (s.q.has_blob && blobs == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "header search needs the blob store");
		return -1;
	}
	char bufs[3][MB_NUM];
	base_params(&s, bufs);
	int rc = mc_pg_transaction(pg, search_txn, &s, err);
	if (rc >= 0) {
		*uids_r = mc_palloc_array(pool, s.count + 1, sizeof(**uids_r));
		if (s.count > 0)
			memcpy(*uids_r, s.uids, s.count * sizeof(**uids_r));
		*count_r = s.count;
		*max_modseq_r = s.max_modseq;
	}
	free(s.uids);
	return rc < 0 ? -1 : 0;
}
