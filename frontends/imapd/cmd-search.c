/* cmd-search: SEARCH / UID SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4) with
 * CHARSET, ESEARCH return options (RFC 4731), SAVE and "$" (RFC 5182),
 * MODSEQ (RFC 7162 3.1.5); SORT / UID SORT (RFC 5256, SORT=DISPLAY of
 * RFC 5957) and THREAD / UID THREAD (REFERENCES, ORDEREDSUBJECT). The
 * store answers the search on a worker, which also sorts, threads and
 * writes the untagged response; the loop only sends it. */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "mailcore/mc-imap-search.h"
#include "mailcore/mc-imap-sortargs.h"
#include "mailcore/mc-imap-thread.h"

#define FETCH_BATCH 5000 /* messages per mc_mailbox_fetch of SORT/THREAD */

enum verb { VERB_SEARCH, VERB_SORT, VERB_THREAD };

struct search_job {
	struct mc_pool *pool;
	struct mc_blob_store *blobs;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	enum verb verb;
	bool uid, esearch;
	unsigned opts; /* ESEARCH return options */
	const char *tag;
	const struct mc_imap_search *program; /* the command's pool */
	uint32_t *known; /* the session's UIDs (seq - 1 -> UID) */
	size_t nknown;
	struct mc_imap_sort_criterion crit[MC_IMAP_SORTARGS_MAX];
	size_t ncrit;
	enum mc_imap_thread_algorithm alg;
	/* results */
	int r;
	struct mc_error err;
	uint32_t *uids, *seqs; /* matches, ascending */
	size_t count;
	uint64_t max_modseq;
	struct mc_buf out; /* the untagged response */
	uint32_t *saved;   /* SAVE: the UIDs to keep */
	size_t nsaved;
};

/* The sequence number of uid among the known UIDs, 0 if unknown. */
static uint32_t known_seq(const struct search_job *j, uint32_t uid)
{
	size_t lo = 0, hi = j->nknown;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->known[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->nknown && j->known[lo] == uid ? (uint32_t)lo + 1 : 0;
}

/* Keeps the matches the client knows, with their sequence numbers. */
static void keep_known(struct search_job *j)
{
	size_t n = 0;
	j->seqs = mc_palloc_array(j->pool, j->count + 1, sizeof(*j->seqs));
	for (size_t i = 0; i < j->count; i++) {
		uint32_t seq = known_seq(j, j->uids[i]);
		if (seq == 0)
			continue;
		j->uids[n] = j->uids[i];
		j->seqs[n++] = seq;
	}
	j->count = n;
}

/* Appends " (MODSEQ n)" or " MODSEQ n" when the program used MODSEQ. */
static void write_modseq(struct search_job *j, bool esearch)
{
	if (!j->program->uses_modseq || j->count == 0)
		return;
	mc_buf_printf(&j->out, esearch ? " MODSEQ %llu" : " (MODSEQ %llu)",
		      (unsigned long long)j->max_modseq);
}

/* The numbers of the matches (UIDs or sequence numbers). */
static const uint32_t *numbers(const struct search_job *j)
{
	return j->uid ? j->uids : j->seqs;
}

/* "* SEARCH 2 5 9" (RFC 3501 7.2.5). */
static void write_search(struct search_job *j)
{
	const uint32_t *v = numbers(j);
	mc_buf_append_str(&j->out, "* SEARCH");
	for (size_t i = 0; i < j->count; i++)
		mc_buf_printf(&j->out, " %u", v[i]);
	write_modseq(j, false);
	mc_buf_append_str(&j->out, "\r\n");
}

/* "* ESEARCH (TAG "t") UID MIN 1 MAX 9 COUNT 3 ALL 1,5:9" (RFC 4731). */
static void write_esearch(struct search_job *j)
{
	const uint32_t *v = numbers(j);
	mc_buf_printf(&j->out, "* ESEARCH (TAG \"%s\")%s", j->tag,
		      j->uid ? " UID" : "");
	if ((j->opts & MC_IMAP_SEARCH_RETURN_MIN) && j->count > 0)
		mc_buf_printf(&j->out, " MIN %u", v[0]);
	if ((j->opts & MC_IMAP_SEARCH_RETURN_MAX) && j->count > 0)
		mc_buf_printf(&j->out, " MAX %u", v[j->count - 1]);
	if (j->opts & MC_IMAP_SEARCH_RETURN_COUNT)
		mc_buf_printf(&j->out, " COUNT %zu", j->count);
	if ((j->opts & MC_IMAP_SEARCH_RETURN_ALL) && j->count > 0) {
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(j->pool, v, j->count, &set);
		mc_buf_append_str(&j->out, " ALL ");
		mc_imap_seqset_write(&set, &j->out);
	}
	write_modseq(j, true);
	mc_buf_append_str(&j->out, "\r\n");
}

/* SAVE (RFC 5182 2.4): MIN and/or MAX alone save those; otherwise all. */
static void save_result(struct search_job *j)
{
	unsigned o = j->opts;
	bool minmax =
		(o & (MC_IMAP_SEARCH_RETURN_MIN | MC_IMAP_SEARCH_RETURN_MAX)) !=
			0 &&
		(o & (MC_IMAP_SEARCH_RETURN_ALL |
		      MC_IMAP_SEARCH_RETURN_COUNT)) == 0;
	if (!minmax || j->count == 0) {
		j->saved = j->uids;
		j->nsaved = j->count;
		return;
	}
	j->saved = mc_palloc_array(j->pool, 2, sizeof(*j->saved));
	if (o & MC_IMAP_SEARCH_RETURN_MIN)
		j->saved[j->nsaved++] = j->uids[0];
	if ((o & MC_IMAP_SEARCH_RETURN_MAX) &&
	    (j->nsaved == 0 || j->uids[j->count - 1] != j->saved[0]))
		j->saved[j->nsaved++] = j->uids[j->count - 1];
}

/* The response of SEARCH, and what SAVE keeps. */
static void answer_search(struct search_job *j)
{
	if (j->opts & MC_IMAP_SEARCH_RETURN_SAVE)
		save_result(j);
	if (!j->esearch)
		write_search(j);
	else if ((j->opts & ~(unsigned)MC_IMAP_SEARCH_RETURN_SAVE) != 0)
		write_esearch(j);
}

/* One message as SORT and THREAD see it. */
static void sort_msg(struct search_job *j, const struct mc_mailbox_msg *m,
		     uint32_t seq, struct mc_imap_sort_msg *s)
{
	*s = (struct mc_imap_sort_msg){
		.uid = m->uid,
		.seq = seq,
		.arrival = (int64_t)m->internal_date,
		.date = (int64_t)(m->has_sent_date ? m->sent_date
						   : m->internal_date),
		.size = m->size,
		.base_subject = m->base_subject,
		.from = m->sort_from,
		.to = m->sort_to,
		.cc = m->sort_cc,
		.display_from = mc_imap_sort_display(j->pool, m->from),
		.display_to = mc_imap_sort_display(j->pool, m->to),
		.message_id = m->message_id,
		.in_reply_to = m->in_reply_to,
		.references = m->references,
		.reply = mc_imap_subject_is_reply(m->subject),
	};
}

/* The sort keys of the matches, fetched in batches. 0 or -1. */
static int fetch_keys(struct mc_pg *pg, struct search_job *j,
		      struct mc_imap_sort_msg **msgs_r, size_t *n_r)
{
	struct mc_imap_sort_msg *msgs =
		mc_palloc_array(j->pool, j->count + 1, sizeof(*msgs));
	size_t n = 0;
	for (size_t at = 0; at < j->count; at += FETCH_BATCH) {
		size_t len = j->count - at < FETCH_BATCH ? j->count - at
							 : FETCH_BATCH;
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(j->pool, j->uids + at, len, &set);
		struct mc_mailbox_msg *m;
		size_t got;
		if (mc_mailbox_fetch(pg, j->pool, &j->owner, j->mailbox_id,
				     &set,
				     MC_MAILBOX_F_SORT | MC_MAILBOX_F_BASIC, &m,
				     &got, &j->err) < 0)
			return -1;
		for (size_t i = 0; i < got && n < j->count; i++)
			sort_msg(j, &m[i], known_seq(j, m[i].uid), &msgs[n++]);
	}
	*msgs_r = msgs;
	*n_r = n;
	return 0;
}

/* "* SORT 3 1 2" (RFC 5256 4). */
static void answer_sort(struct search_job *j, struct mc_imap_sort_msg *msgs,
			size_t n)
{
	mc_imap_sort(msgs, n, j->crit, j->ncrit);
	mc_buf_append_str(&j->out, "* SORT");
	for (size_t i = 0; i < n; i++)
		mc_buf_printf(&j->out, " %u",
			      j->uid ? msgs[i].uid : msgs[i].seq);
	write_modseq(j, false);
	mc_buf_append_str(&j->out, "\r\n");
}

/* "* THREAD (2)(3 6 (4 23)(44 7 96))" (RFC 5256 4). */
static void answer_thread(struct search_job *j,
			  const struct mc_imap_sort_msg *msgs, size_t n)
{
	struct mc_imap_thread_node *roots =
		mc_imap_thread_build(j->pool, j->alg, msgs, n);
	mc_buf_append_str(&j->out, n > 0 ? "* THREAD " : "* THREAD");
	mc_imap_thread_write(roots, j->uid, &j->out);
	mc_buf_append_str(&j->out, "\r\n");
}

/* Worker: the search, then the response of the verb. */
static void search_work(struct mc_worker *worker, void *ctx)
{
	struct search_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_imap_seqset scope;
	uint32_t top = j->nknown > 0 ? j->known[j->nknown - 1] : 0;
	struct mc_imap_range range = {1, top};
	scope = (struct mc_imap_seqset){&range, top > 0 ? 1 : 0, false, false};
	mc_buf_init(&j->out, j->pool, 0);
	j->r = mc_mailbox_search(pg, j->blobs, j->pool, &j->owner,
				 j->mailbox_id, j->program, &scope, &j->uids,
				 &j->count, &j->max_modseq, &j->err);
	if (j->r < 0)
		return;
	keep_known(j);
	if (j->verb == VERB_SEARCH) {
		answer_search(j);
		return;
	}
	struct mc_imap_sort_msg *msgs;
	size_t n;
	if ((j->r = fetch_keys(pg, j, &msgs, &n)) < 0)
		return;
	if (j->verb == VERB_SORT)
		answer_sort(j, msgs, n);
	else
		answer_thread(j, msgs, n);
}

/* Replaces the session's "$" by the n UIDs v (ascending). */
static void set_searchres(struct selected *sel, const uint32_t *v, size_t n)
{
	struct mc_pool *tmp = mc_pool_create("imap-searchres", 1024);
	struct mc_imap_seqset set;
	mc_imap_seqset_from_sorted(tmp, v, n, &set);
	free(sel->searchres.ranges);
	sel->searchres = (struct mc_imap_seqset){0};
	if (set.count > 0) {
		sel->searchres.ranges =
			mc_malloc(set.count * sizeof(*set.ranges));
		memcpy(sel->searchres.ranges, set.ranges,
		       set.count * sizeof(*set.ranges));
		sel->searchres.count = set.count;
	}
	mc_pool_destroy(&tmp);
}

/* Loop: sends the response and ends the command. */
static void search_done(struct command *cmd, void *ctx)
{
	struct search_job *j = ctx;
	if (cmd != NULL) {
		struct selected *sel = cmd->s->sel;
		bool save = (j->opts & MC_IMAP_SEARCH_RETURN_SAVE) != 0;
		if (j->r < 0) {
			/* RFC 5182 2.1: a failed SAVE empties "$" */
			if (save && sel != NULL)
				set_searchres(sel, NULL, 0);
			cmd_fail(cmd, &j->err);
		} else {
			if (save && sel != NULL)
				set_searchres(sel, j->saved, j->nsaved);
			session_write(cmd->s, j->out.data, j->out.len);
			cmd_ok(cmd, NULL,
			       j->verb == VERB_SEARCH ? "SEARCH completed"
			       : j->verb == VERB_SORT ? "SORT completed"
						      : "THREAD completed");
		}
	}
	mc_pool_destroy(&j->pool);
}

/* UIDs of the sequence numbers of set (resolved against EXISTS; numbers
 * beyond it match nothing). */
static void seqs_to_uids(struct command *cmd, struct mc_imap_seqset *set)
{
	const struct selected *sel = cmd->s->sel;
	mc_imap_seqset_resolve(set, (uint32_t)sel->count);
	size_t n = 0;
	uint32_t *v = mc_palloc_array(cmd->pool, sel->count + 1, sizeof(*v));
	for (size_t i = 0; i < set->count; i++) {
		for (uint64_t q = set->ranges[i].lo;
		     q <= set->ranges[i].hi && q <= sel->count; q++)
			v[n++] = sel->uids[q - 1];
	}
	mc_imap_seqset_from_sorted(cmd->pool, v, n, set);
}

/* Turns sequence-set keys and "$" into resolved UID sets, in place. */
static void convert_sets(struct command *cmd, struct mc_imap_search_node *n)
{
	const struct selected *sel = cmd->s->sel;
	for (size_t i = 0; i < n->child_count; i++)
		convert_sets(cmd, n->children[i]);
	if (n->kind != MC_IMAP_SEARCH_SEQSET &&
	    n->kind != MC_IMAP_SEARCH_UIDSET)
		return;
	if (n->saved) {
		size_t size =
			sel->searchres.count * sizeof(*sel->searchres.ranges);
		n->seqset = (struct mc_imap_seqset){
			size > 0 ? mc_pmemdup(cmd->pool, sel->searchres.ranges,
					      size)
				 : NULL,
			sel->searchres.count, false, false};
	} else if (n->kind == MC_IMAP_SEARCH_SEQSET) {
		seqs_to_uids(cmd, &n->seqset);
	} else {
		mc_imap_seqset_resolve(
			&n->seqset,
			sel->count > 0 ? sel->uids[sel->count - 1] : 0);
	}
	n->kind = MC_IMAP_SEARCH_UIDSET;
	n->saved = false;
}

/* A job for the command's program (set sequence numbers converted). */
static struct search_job *new_job(struct command *cmd, enum verb verb,
				  struct mc_imap_search *program)
{
	struct session *s = cmd->s;
	struct mc_pool *pool = mc_pool_create("imap-search", 8192);
	struct search_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct search_job){.pool = pool,
				 .blobs = s->d->blobs,
				 .owner = s->owner,
				 .mailbox_id = s->sel->id,
				 .verb = verb,
				 .uid = cmd->uid,
				 .tag = mc_pstrdup(pool, cmd->tag),
				 .program = program,
				 .nknown = s->sel->count};
	j->known = mc_palloc_array(pool, j->nknown + 1, sizeof(*j->known));
	if (j->nknown > 0)
		memcpy(j->known, s->sel->uids, j->nknown * sizeof(*j->known));
	convert_sets(cmd, program->root);
	return j;
}

/* Submits the job. */
static void start(struct command *cmd, struct search_job *j)
{
	if (!cmd_job(cmd, search_work, search_done, j))
		mc_pool_destroy(&j->pool);
}

/* Answers a failed parse: BAD, or NO [BADCHARSET ...]. */
static void parse_failed(struct command *cmd, enum mc_imap_search_status st,
			 const char *error)
{
	if (st == MC_IMAP_SEARCH_BADCHARSET)
		cmd_no(cmd, NULL, error);
	else
		cmd_bad(cmd, error);
}

/* SEARCH [RETURN (opts)] [CHARSET charset] 1*(SP search-key); in
 * IMAP4rev2 the answer is always ESEARCH (RFC 9051 7.3.4), RETURN ()
 * or none meaning ALL. */
static void cmd_search(struct command *cmd)
{
	struct mc_imap_search *program;
	const char *error;
	enum mc_imap_search_status st = mc_imap_search_parse(
		cmd->pool, NULL, cmd->args, cmd->argc, &program, &error);
	if (st != MC_IMAP_SEARCH_OK) {
		parse_failed(cmd, st, error);
		return;
	}
	struct search_job *j = new_job(cmd, VERB_SEARCH, program);
	j->esearch = program->return_given || cmd->s->rev2;
	j->opts = program->return_given ? program->return_opts
					: MC_IMAP_SEARCH_RETURN_ALL;
	start(cmd, j);
}

/* The store's SORT key of a parsed criterion. */
static enum mc_imap_sort_key sort_key(enum mc_imap_sortargs_key k)
{
	static const enum mc_imap_sort_key map[] = {
		[MC_IMAP_SORTARGS_ARRIVAL] = MC_IMAP_SORT_ARRIVAL,
		[MC_IMAP_SORTARGS_CC] = MC_IMAP_SORT_CC,
		[MC_IMAP_SORTARGS_DATE] = MC_IMAP_SORT_DATE,
		[MC_IMAP_SORTARGS_FROM] = MC_IMAP_SORT_FROM,
		[MC_IMAP_SORTARGS_SIZE] = MC_IMAP_SORT_SIZE,
		[MC_IMAP_SORTARGS_SUBJECT] = MC_IMAP_SORT_SUBJECT,
		[MC_IMAP_SORTARGS_TO] = MC_IMAP_SORT_TO,
		[MC_IMAP_SORTARGS_DISPLAYFROM] = MC_IMAP_SORT_DISPLAYFROM,
		[MC_IMAP_SORTARGS_DISPLAYTO] = MC_IMAP_SORT_DISPLAYTO,
	};
	return map[k];
}

/* Reads "charset 1*search-key" after the first argument of SORT/THREAD;
 * NULL with the answer sent. */
static struct mc_imap_search *criteria(struct command *cmd)
{
	struct mc_imap_search *program;
	const char *error;
	enum mc_imap_search_status st =
		mc_imap_search_parse_criteria(cmd->pool, NULL, cmd->args + 1,
					      cmd->argc - 1, &program, &error);
	if (st != MC_IMAP_SEARCH_OK) {
		parse_failed(cmd, st, error);
		return NULL;
	}
	return program;
}

/* SORT (sort-criteria) charset 1*(SP search-key) */
static void cmd_sort(struct command *cmd)
{
	struct mc_imap_sortargs_criterion *crit;
	size_t ncrit;
	const char *error;
	if (cmd->argc < 1) {
		cmd_bad(cmd, "Expected sort criteria");
		return;
	}
	if (!mc_imap_sortargs_parse(cmd->pool, &cmd->args[0], &crit, &ncrit,
				    &error)) {
		cmd_bad(cmd, error);
		return;
	}
	struct mc_imap_search *program = criteria(cmd);
	if (program == NULL)
		return;
	struct search_job *j = new_job(cmd, VERB_SORT, program);
	for (size_t i = 0; i < ncrit && i < MC_IMAP_SORTARGS_MAX; i++)
		j->crit[j->ncrit++] = (struct mc_imap_sort_criterion){
			sort_key(crit[i].key), crit[i].reverse};
	start(cmd, j);
}

/* THREAD thread-alg SP search-charset 1*(SP search-key) */
static void cmd_thread(struct command *cmd)
{
	enum mc_imap_sortargs_thread alg;
	const char *error;
	if (cmd->argc < 1) {
		cmd_bad(cmd, "Expected a threading algorithm");
		return;
	}
	if (!mc_imap_sortargs_thread(&cmd->args[0], &alg, &error)) {
		cmd_bad(cmd, error);
		return;
	}
	struct mc_imap_search *program = criteria(cmd);
	if (program == NULL)
		return;
	struct search_job *j = new_job(cmd, VERB_THREAD, program);
	j->alg = alg == MC_IMAP_SORTARGS_REFERENCES
			 ? MC_IMAP_THREAD_REFERENCES
			 : MC_IMAP_THREAD_ORDEREDSUBJECT;
	start(cmd, j);
}

const struct command_def search_command_defs[] = {
	{"SEARCH", IMAP_SELECTED, true, cmd_search, true},
	{"SORT", IMAP_SELECTED, true, cmd_sort, true},
	{"THREAD", IMAP_SELECTED, true, cmd_thread, true},
	{NULL, 0, false, NULL, false},
};
