/* mc-mailbox-msgs: messages of an opened mailbox: their metadata for
 * FETCH, SORT and THREAD (one query over the UID ranges), STORE with one
 * new MODSEQ per command and UNCHANGEDSINCE (RFC 7162 3.1.3), and the
 * delta since a MODSEQ that CONDSTORE/QRESYNC clients and other sessions
 * resynchronise with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mc-mailbox-private.h"

/* The columns of each part of a fetch, in order. */
static const char col_flags[] = ", mm.modseq, mm.flags, mm.keywords";
static const char col_basic[] =
	", extract(epoch FROM mm.internal_date)::bigint, mm.size_bytes, "
	"m.sha256";
static const char col_structure[] =
	", m.envelope, m.body, m.bodystructure, m.parts";
static const char col_sort[] =
	", m.base_subject, m.sort_from, m.sort_to, m.sort_cc, m.from_addr, "
	"m.to_addr, m.message_id, m.in_reply_to, m.refs, "
	"extract(epoch FROM m.sent_at)::bigint, m.subject";

/* The SELECT for what. */
static const char *fetch_sql(struct mc_pool *pool, unsigned what)
{
	bool join = (what & (MC_MAILBOX_F_BASIC | MC_MAILBOX_F_STRUCTURE |
			     MC_MAILBOX_F_SORT)) != 0;
	return mc_psprintf(
		pool,
		"SELECT mm.uid%s%s%s%s FROM mailbox_messages mm JOIN "
		"unnest($3::bigint[], $4::bigint[]) r(lo, hi) ON mm.uid "
		"BETWEEN "
		"r.lo AND r.hi %s WHERE mm.tenant_id = $1 AND mm.mailbox_id = "
		"$2 AND EXISTS (SELECT 1 FROM mailboxes b WHERE b.tenant_id = "
		"$1 AND b.id = $2 AND b.user_id = $5) ORDER BY mm.uid",
		what & MC_MAILBOX_F_FLAGS ? col_flags : "",
		what & MC_MAILBOX_F_BASIC ? col_basic : "",
		what & MC_MAILBOX_F_STRUCTURE ? col_structure : "",
		what & MC_MAILBOX_F_SORT ? col_sort : "",
		join ? "JOIN messages m ON m.tenant_id = mm.tenant_id AND "
		       "m.id = mm.message_id"
		     : "");
}

/* A text column copied to pool. */
static const char *text(struct mc_pool *pool, PGresult *res, int r, int c)
{
	return mc_pstrdup(pool, PQgetvalue(res, r, c));
}

/* Reads the flag columns starting at *c. */
static void row_flags(struct mc_pool *pool, PGresult *res, int r, int *c,
		      struct mc_mailbox_msg *m)
{
	m->modseq = strtoull(PQgetvalue(res, r, (*c)++), NULL, 10);
	m->flags = (unsigned)strtoul(PQgetvalue(res, r, (*c)++), NULL, 10);
	m->keywords = mb_text_array(pool, PQgetvalue(res, r, (*c)++),
				    &m->keywords_count);
}

/* Reads the basic columns starting at *c. */
static void row_basic(struct mc_pool *pool, PGresult *res, int r, int *c,
		      struct mc_mailbox_msg *m)
{
	m->internal_date =
		(time_t)strtoll(PQgetvalue(res, r, (*c)++), NULL, 10);
	m->size = strtoull(PQgetvalue(res, r, (*c)++), NULL, 10);
	m->sha256 = text(pool, res, r, (*c)++);
}

/* Reads the structure columns starting at *c. */
static void row_structure(struct mc_pool *pool, PGresult *res, int r, int *c,
			  struct mc_mailbox_msg *m)
{
	m->envelope =
		mb_bytea(pool, PQgetvalue(res, r, (*c)++), &m->envelope_len);
	m->body = mb_bytea(pool, PQgetvalue(res, r, (*c)++), &m->body_len);
	m->bodystructure = mb_bytea(pool, PQgetvalue(res, r, (*c)++),
				    &m->bodystructure_len);
	m->parts = text(pool, res, r, (*c)++);
}

/* Reads the sort columns starting at *c. */
static void row_sort(struct mc_pool *pool, PGresult *res, int r, int *c,
		     struct mc_mailbox_msg *m)
{
	m->base_subject = text(pool, res, r, (*c)++);
	m->sort_from = text(pool, res, r, (*c)++);
	m->sort_to = text(pool, res, r, (*c)++);
	m->sort_cc = text(pool, res, r, (*c)++);
	m->from = text(pool, res, r, (*c)++);
	m->to = text(pool, res, r, (*c)++);
	m->message_id = text(pool, res, r, (*c)++);
	m->in_reply_to = text(pool, res, r, (*c)++);
	m->references = text(pool, res, r, (*c)++);
	m->has_sent_date = !PQgetisnull(res, r, *c);
	m->sent_date = (time_t)strtoll(PQgetvalue(res, r, (*c)++), NULL, 10);
	m->subject = text(pool, res, r, (*c)++);
}

int mc_mailbox_fetch(struct mc_pg *pg, struct mc_pool *pool,
		     const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		     const struct mc_imap_seqset *uids, unsigned what,
		     struct mc_mailbox_msg **msgs_r, size_t *count_r,
		     struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], uid[MB_NUM];
	const char *lo, *hi;
	mb_ranges(pool, uids, &lo, &hi);
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(id, mailbox_id), lo, hi,
				mb_num(uid, owner->user_id)};
	PGresult *res = mc_pg_query(pg, fetch_sql(pool, what), 5, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	struct mc_mailbox_msg *msgs =
		mc_palloc_array(pool, (size_t)n + 1, sizeof(*msgs));
	for (int r = 0; r < n; r++) {
		int c = 0;
		msgs[r].uid =
			(uint32_t)strtoul(PQgetvalue(res, r, c++), NULL, 10);
		if (what & MC_MAILBOX_F_FLAGS)
			row_flags(pool, res, r, &c, &msgs[r]);
		if (what & MC_MAILBOX_F_BASIC)
			row_basic(pool, res, r, &c, &msgs[r]);
		if (what & MC_MAILBOX_F_STRUCTURE)
			row_structure(pool, res, r, &c, &msgs[r]);
		if (what & MC_MAILBOX_F_SORT)
			row_sort(pool, res, r, &c, &msgs[r]);
	}
	PQclear(res);
	*msgs_r = msgs;
	*count_r = (size_t)n;
	return 0;
}

/* One STORE in progress. */
struct store_args {
	struct mc_pool *pool;
	const struct mc_mailbox_owner *owner;
	int64_t mailbox_id;
	const struct mc_imap_seqset *uids;
	enum mc_mailbox_flag_op op;
	unsigned flags;
	const char *const *keywords;
	size_t keywords_count;
	uint64_t unchangedsince;
	/* results */
	struct mc_mailbox_change *changed;
	size_t changed_count;
	uint32_t *failed;
	size_t failed_count;
};

/* True when kw is among list (keywords compare case-insensitively). */
static bool has_keyword(const char *const *list, size_t n, const char *kw)
{
	for (size_t i = 0; i < n; i++) {
		if (mc_str_eq_icase(list[i], kw))
			return true;
	}
	return false;
}

/* The keywords after the operation; NULL-terminated, from pool. */
static const char **new_keywords(struct store_args *a, const char **old,
				 size_t old_n, size_t *n_r)
{
	const char **out = mc_palloc_array(
		a->pool, old_n + a->keywords_count + 1, sizeof(*out));
	size_t n = 0;
	for (size_t i = 0; a->op != MC_MAILBOX_FLAGS_SET && i < old_n; i++) {
		if (a->op == MC_MAILBOX_FLAGS_ADD ||
		    !has_keyword(a->keywords, a->keywords_count, old[i]))
			out[n++] = old[i];
	}
	for (size_t i = 0;
	     a->op != MC_MAILBOX_FLAGS_REMOVE && i < a->keywords_count; i++) {
		if (!has_keyword(out, n, a->keywords[i]))
			out[n++] = a->keywords[i];
	}
	out[n] = NULL;
	*n_r = n;
	return out;
}

/* The system flags after the operation. */
static unsigned new_flags(const struct store_args *a, unsigned old)
{
	switch (a->op) {
	case MC_MAILBOX_FLAGS_ADD:
		return old | a->flags;
	case MC_MAILBOX_FLAGS_REMOVE:
		return old & ~a->flags;
	default:
		return a->flags;
	}
}

/* True when the two keyword lists hold the same set. */
static bool same_keywords(const char **a, size_t an, const char **b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		if (!has_keyword(b, bn, a[i]))
			return false;
	}
	return true;
}

/* Appends a keyword list as a text[] literal element of an array of
 * array literals: each element is itself quoted. */
static void append_kw_literal(struct mc_buf *b, const char **kw, size_t n)
{
	mc_buf_append_str(b, "\"{");
	for (size_t i = 0; i < n; i++) {
		mc_buf_append_str(b, i > 0 ? "," : "");
		mc_buf_append_str(b, "\\\"");
		for (const char *p = kw[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				mc_buf_append_str(b, "\\\\\\");
			mc_buf_append_c(b, *p);
		}
		mc_buf_append_str(b, "\\\"");
	}
	mc_buf_append_str(b, "}\"");
}

/* Decides every locked row: changed, failed (UNCHANGEDSINCE) or alone. */
static void decide_rows(struct store_args *a, PGresult *res)
{
	int n = PQntuples(res);
	a->changed =
		mc_palloc_array(a->pool, (size_t)n + 1, sizeof(*a->changed));
	a->failed = mc_palloc_array(a->pool, (size_t)n + 1, sizeof(*a->failed));
	for (int r = 0; r < n; r++) {
		struct mc_mailbox_msg m = {0};
		int c = 1;
		m.uid = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
		row_flags(a->pool, res, r, &c, &m);
		if (a->unchangedsince > 0 && m.modseq > a->unchangedsince) {
			a->failed[a->failed_count++] = m.uid;
			continue;
		}
		struct mc_mailbox_change *ch = &a->changed[a->changed_count];
		ch->uid = m.uid;
		ch->flags = new_flags(a, m.flags);
		ch->keywords = new_keywords(a, m.keywords, m.keywords_count,
					    &ch->keywords_count);
		if (ch->flags != m.flags ||
		    !same_keywords(ch->keywords, ch->keywords_count, m.keywords,
				   m.keywords_count))
			a->changed_count++;
	}
}

/* Writes the changed rows with modseq. */
static int write_rows(struct mc_pg *pg, struct store_args *a, uint64_t modseq,
		      struct mc_error *err)
{
	struct mc_buf uids, flags, kws;
	mc_buf_init(&uids, a->pool, 0);
	mc_buf_init(&flags, a->pool, 0);
	mc_buf_init(&kws, a->pool, 0);
	for (size_t i = 0; i < a->changed_count; i++) {
		const struct mc_mailbox_change *ch = &a->changed[i];
		const char *sep = i > 0 ? "," : "";
		mc_buf_printf(&uids, "%s%u", sep, ch->uid);
		mc_buf_printf(&flags, "%s%u", sep, ch->flags);
		mc_buf_append_str(&kws, sep);
		append_kw_literal(&kws, ch->keywords, ch->keywords_count);
		a->changed[i].modseq = modseq;
	}
	char tid[MB_NUM], id[MB_NUM], ms[MB_NUM];
	const char *params[] = {
		mb_num(tid, a->owner->tenant_id),
		mb_num(id, a->mailbox_id),
		mc_psprintf(a->pool, "{%s}", mc_buf_cstr(&uids)),
		mc_psprintf(a->pool, "{%s}", mc_buf_cstr(&flags)),
		mc_psprintf(a->pool, "{%s}", mc_buf_cstr(&kws)),
		mb_num(ms, (int64_t)modseq)};
	return mc_pg_exec(pg,
			  "UPDATE mailbox_messages mm SET flags = v.f, "
			  "keywords = v.k::text[], modseq = $6 FROM "
			  "unnest($3::bigint[], $4::int[], $5::text[]) v(u, f, "
			  "k) WHERE mm.tenant_id = $1 AND mm.mailbox_id = $2 "
			  "AND mm.uid = v.u",
			  6, params, err) < 0
		       ? -1
		       : 0;
}

/* Takes the mailbox's next MODSEQ; 0 on error. */
static uint64_t next_modseq(struct mc_pg *pg,
			    const struct mc_mailbox_owner *owner,
			    int64_t mailbox_id, struct mc_error *err)
{
	char tid[MB_NUM], id[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(id, mailbox_id),
				mb_num(uid, owner->user_id)};
	PGresult *res =
		mc_pg_query(pg,
			    "UPDATE mailboxes SET highestmodseq = "
			    "highestmodseq + 1 WHERE tenant_id = $1 AND "
			    "id = $2 AND user_id = $3 RETURNING "
			    "highestmodseq",
			    3, params, err);
	if (res == NULL)
		return 0;
	uint64_t m = PQntuples(res) > 0
			     ? strtoull(PQgetvalue(res, 0, 0), NULL, 10)
			     : 0;
	PQclear(res);
	if (m == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "mailbox is gone");
	return m;
}

/* Transaction body of mc_mailbox_store. */
static int store_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct store_args *a = ctx;
	char tid[MB_NUM], id[MB_NUM];
	const char *lo, *hi;
	a->changed_count = a->failed_count = 0;
	mb_ranges(a->pool, a->uids, &lo, &hi);
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(id, a->mailbox_id), lo, hi};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT mm.uid, mm.modseq, mm.flags, mm.keywords FROM "
		"mailbox_messages mm JOIN unnest($3::bigint[], $4::bigint[]) "
		"r(lo, hi) ON mm.uid BETWEEN r.lo AND r.hi WHERE mm.tenant_id "
		"= "
		"$1 AND mm.mailbox_id = $2 ORDER BY mm.uid FOR UPDATE OF mm",
		4, params, err);
	if (res == NULL)
		return -1;
	decide_rows(a, res);
	PQclear(res);
	if (a->changed_count == 0)
		return 0;
	uint64_t modseq = next_modseq(pg, a->owner, a->mailbox_id, err);
	return modseq == 0 ? -1 : write_rows(pg, a, modseq, err);
}

int mc_mailbox_store(struct mc_pg *pg, struct mc_pool *pool,
		     const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		     const struct mc_imap_seqset *uids,
		     enum mc_mailbox_flag_op op, unsigned flags,
		     const char *const *keywords, size_t keywords_count,
		     uint64_t unchangedsince,
		     struct mc_mailbox_change **changed_r,
		     size_t *changed_count_r, uint32_t **failed_r,
		     size_t *failed_count_r, struct mc_error *err)
{
	struct store_args a = {.pool = pool,
			       .owner = owner,
			       .mailbox_id = mailbox_id,
			       .uids = uids,
			       .op = op,
			       .flags = flags,
			       .keywords = keywords,
			       .keywords_count = keywords_count,
			       .unchangedsince = unchangedsince};
	if (mc_pg_transaction(pg, store_txn, &a, err) < 0)
		return -1;
	*changed_r = a.changed;
	*changed_count_r = a.changed_count;
	*failed_r = a.failed;
	*failed_count_r = a.failed_count;
	return 0;
}

struct changes_args {
	struct mc_pool *pool;
	const struct mc_mailbox_owner *owner;
	int64_t mailbox_id;
	uint64_t since;
	struct mc_mailbox_delta *delta;
};

/* Reads the mailbox's counters into the delta. */
static int read_counters(struct mc_pg *pg, struct changes_args *a,
			 const char *const *params, struct mc_error *err)
{
	const char *p3[] = {params[0], params[1], params[3]};
	PGresult *res =
		mc_pg_query(pg,
			    "SELECT highestmodseq, uidnext, messages "
			    "FROM mailboxes WHERE tenant_id = $1 AND id "
			    "= $2 AND user_id = $3",
			    3, p3, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		a->delta->highestmodseq =
			strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		a->delta->uidnext =
			(uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		a->delta->messages =
			(uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
	} else {
		mc_error_set(err, MC_ERR_NOTFOUND, "mailbox is gone");
	}
	PQclear(res);
	return found ? 0 : -1;
}

/* Reads the changed rows into the delta. */
static int read_changes(struct mc_pg *pg, struct changes_args *a,
			const char *const *params, struct mc_error *err)
{
	PGresult *res = mc_pg_query(pg,
				    "SELECT uid, modseq, flags, keywords FROM "
				    "mailbox_messages WHERE tenant_id = $1 AND "
				    "mailbox_id = $2 AND modseq > $3 ORDER BY "
				    "uid",
				    3, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	struct mc_mailbox_change *ch =
		mc_palloc_array(a->pool, (size_t)n + 1, sizeof(*ch));
	for (int r = 0; r < n; r++) {
		struct mc_mailbox_msg m = {0};
		int c = 1;
		row_flags(a->pool, res, r, &c, &m);
		ch[r] = (struct mc_mailbox_change){
			.uid = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL,
						 10),
			.modseq = m.modseq,
			.flags = m.flags,
			.keywords = m.keywords,
			.keywords_count = m.keywords_count};
	}
	PQclear(res);
	a->delta->changes = ch;
	a->delta->changes_count = (size_t)n;
	return 0;
}

/* Reads the UIDs expunged since into the delta. */
static int read_expunged(struct mc_pg *pg, struct changes_args *a,
			 const char *const *params, struct mc_error *err)
{
	PGresult *res =
		mc_pg_query(pg,
			    "SELECT uid FROM expunged WHERE tenant_id = "
			    "$1 AND mailbox_id = $2 AND modseq > $3 "
			    "ORDER BY uid",
			    3, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	uint32_t *v = mc_palloc_array(a->pool, (size_t)n + 1, sizeof(*v));
	for (int r = 0; r < n; r++)
		v[r] = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
	PQclear(res);
	a->delta->expunged = v;
	a->delta->expunged_count = (size_t)n;
	return 0;
}

/* Transaction body of mc_mailbox_changes: one snapshot for all three. */
static int changes_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct changes_args *a = ctx;
	char tid[MB_NUM], id[MB_NUM], since[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(id, a->mailbox_id),
				mb_num(since, (int64_t)a->since),
				mb_num(uid, a->owner->user_id)};
	if (mc_pg_exec(pg,
		       "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ "
		       "ONLY",
		       0, NULL, err) < 0 ||
	    read_counters(pg, a, params, err) < 0 ||
	    read_changes(pg, a, params, err) < 0)
		return -1;
	return read_expunged(pg, a, params, err);
}

int mc_mailbox_changes(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		       uint64_t since, struct mc_mailbox_delta *delta_r,
		       struct mc_error *err)
{
	struct changes_args a = {pool, owner, mailbox_id, since, delta_r};
	*delta_r = (struct mc_mailbox_delta){0};
	return mc_pg_transaction(pg, changes_txn, &a, err) < 0 ? -1 : 0;
}
