/* cmd-fetch: FETCH and UID FETCH (RFC 3501 6.4.5 / 7.4.2, RFC 9051, RFC
 * 3516 BINARY, RFC 7162 MODSEQ, CHANGEDSINCE and VANISHED). The UIDs go
 * to worker jobs in batches; a job loads a batch's metadata, sets \Seen
 * when asked to, and builds and streams responses (cmd-fetch-body.c) up
 * to a bounded chunk, which the loop writes before the next job runs,
 * pausing while the client's output backlog is large. */
#include <stdlib.h>
#include <string.h>

#include "cmd-fetch.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-date.h"
#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-store.h"

#define BATCH_UIDS  200		  /* UIDs per batch */
#define BACKLOG_MAX (1024 * 1024) /* output waiting: pause above */
#define PAUSE_US    5000	  /* then look again after this */

/* A FETCH in progress. The worker owns the fields while running. */
struct fetch {
	struct command *cmd;
	const struct mc_imap_fetch *req; /* from the command's pool */
	struct mc_blob_store *blobs;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	unsigned what; /* MC_MAILBOX_F_* */
	bool set_seen, want_uid, want_modseq, condstore;
	bool vanished_pending;
	struct mc_imap_seqset uids;	  /* requested, as UIDs */
	struct mc_imap_seqset vanish_set; /* what VANISHED may report */
	size_t ri;			  /* loop: next range of uids */
	uint32_t next_uid;		  /* and where in it */
	/* the batch: UIDs known to the session, their sequence numbers */
	uint32_t uid_v[BATCH_UIDS], seq_v[BATCH_UIDS];
	size_t bn;
	bool loaded; /* its messages are read */
	struct mc_pool *bpool;
	struct mc_mailbox_msg *msgs;
	bool *changed; /* \Seen was set by this FETCH */
	size_t mcount, mi;
	struct fetch_msg fm; /* msgs[mi] being sent */
	/* job results */
	struct mc_buf out;
	int r; /* 0, FETCH_ERR, FETCH_UNKNOWN_CTE */
	struct mc_error err;
	bool running;
	struct event *timer;
};

static void step(struct fetch *f);

/* Frees the state (not the command). */
static void fetch_free(struct fetch *f)
{
	if (f->timer != NULL)
		event_free(f->timer);
	fetch_msg_reset(&f->fm);
	mc_pool_destroy(&f->bpool);
	mc_buf_free(&f->out);
	free(f);
}

/* The index of uid in v[0..n) (ascending), or n. */
static size_t find_uid(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == uid ? lo : n;
}

/* The index of the first message with uid >= the given one. */
static size_t lower_bound(const struct selected *sel, uint32_t uid)
{
	size_t lo = 0, hi = sel->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sel->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Loop: the next batch of requested UIDs the session knows. */
static void pick_batch(struct fetch *f, const struct selected *sel)
{
	f->bn = 0;
	while (f->bn < BATCH_UIDS && f->ri < f->uids.count) {
		const struct mc_imap_range *r = &f->uids.ranges[f->ri];
		size_t i = lower_bound(sel, f->next_uid > r->lo ? f->next_uid
								: r->lo);
		for (; i < sel->count && sel->uids[i] <= r->hi &&
		       f->bn < BATCH_UIDS;
		     i++) {
			f->uid_v[f->bn] = sel->uids[i];
			f->seq_v[f->bn++] = (uint32_t)i + 1;
		}
		if (i < sel->count && sel->uids[i] <= r->hi) {
			f->next_uid = sel->uids[i];
			break;
		}
		f->ri++;
		f->next_uid = 0;
	}
}

/* Worker: "* VANISHED (EARLIER) uids" expunged since CHANGEDSINCE. */
static int vanished(struct fetch *f, struct mc_pg *pg)
{
	struct mc_pool *pool = mc_pool_create("imap-fetch-vanished", 4096);
	struct mc_mailbox_delta d;
	if (mc_mailbox_changes(pg, pool, &f->owner, f->mailbox_id,
			       f->req->changedsince, &d, &f->err) < 0) {
		mc_pool_destroy(&pool);
		return FETCH_ERR;
	}
	uint32_t *v = mc_palloc_array(pool, d.expunged_count + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < d.expunged_count; i++) {
		if (mc_imap_seqset_contains(&f->vanish_set, d.expunged[i]))
			v[n++] = d.expunged[i];
	}
	if (n > 0) {
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(pool, v, n, &set);
		mc_buf_append_str(&f->out, "* VANISHED (EARLIER) ");
		mc_imap_seqset_write(&set, &f->out);
		mc_buf_append_str(&f->out, "\r\n");
	}
	mc_pool_destroy(&pool);
	return 0;
}

/* Worker: sets \Seen on the batch's messages without it. */
static int store_seen(struct fetch *f, struct mc_worker *worker)
{
	uint32_t *v = mc_palloc_array(f->bpool, f->mcount + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < f->mcount; i++) {
		if ((f->msgs[i].flags & MC_STORE_FLAG_SEEN) == 0)
			v[n++] = f->msgs[i].uid;
	}
	if (n == 0)
		return 0;
	struct mc_imap_seqset set;
	struct mc_mailbox_change *ch;
	uint32_t *failed;
	size_t nch, nfailed;
	mc_imap_seqset_from_sorted(f->bpool, v, n, &set);
	if (mc_mailbox_store(mc_service_worker_pg(worker), f->bpool, &f->owner,
			     f->mailbox_id, &set, MC_MAILBOX_FLAGS_ADD,
			     MC_STORE_FLAG_SEEN, NULL, 0, 0, &ch, &nch, &failed,
			     &nfailed, &f->err) < 0)
		return FETCH_ERR;
	uint64_t modseq = 0;
	for (size_t i = 0; i < nch; i++) {
		for (size_t k = 0; k < f->mcount; k++) {
			struct mc_mailbox_msg *m = &f->msgs[k];
			if (m->uid != ch[i].uid)
				continue;
			m->flags = ch[i].flags;
			m->keywords = ch[i].keywords;
			m->keywords_count = ch[i].keywords_count;
			m->modseq = ch[i].modseq;
			f->changed[k] = true;
		}
		modseq = ch[i].modseq > modseq ? ch[i].modseq : modseq;
	}
	if (nch > 0)
		mc_mailbox_notify(mc_service_worker_redis(worker), &f->owner,
				  "flags", f->mailbox_id, modseq);
	return 0;
}

/* Worker: reads the batch's messages (those changed since CHANGEDSINCE
 * only) and sets \Seen when the request does. */
static int load_batch(struct fetch *f, struct mc_worker *worker)
{
	struct mc_imap_seqset set;
	f->bpool = mc_pool_create("imap-fetch-batch", 16384);
	mc_imap_seqset_from_sorted(f->bpool, f->uid_v, f->bn, &set);
	if (mc_mailbox_fetch(mc_service_worker_pg(worker), f->bpool, &f->owner,
			     f->mailbox_id, &set, f->what, &f->msgs, &f->mcount,
			     &f->err) < 0)
		return FETCH_ERR;
	if (f->req->changedsince_given) {
		size_t n = 0;
		for (size_t i = 0; i < f->mcount; i++) {
			if (f->msgs[i].modseq > f->req->changedsince)
				f->msgs[n++] = f->msgs[i];
		}
		f->mcount = n;
	}
	f->changed = mc_palloc_array(f->bpool, f->mcount + 1, sizeof(bool));
	memset(f->changed, 0, (f->mcount + 1) * sizeof(bool));
	f->loaded = true;
	f->mi = 0;
	return f->set_seen ? store_seen(f, worker) : 0;
}

/* Worker: the simple items of a message's response, after "(". */
static void simple_items(struct fetch *f, const struct mc_mailbox_msg *m,
			 bool changed, const char **sep)
{
	struct fetch_msg *fm = &f->fm;
	unsigned items = f->req->items;
	char date[MC_DATE_IMAP_MAX];
	if (f->want_uid) {
		fetch_msg_printf(fm, "%sUID %u", *sep, m->uid);
		*sep = " ";
	}
	if ((items & MC_IMAP_FETCH_FLAGS) || changed) {
		fetch_msg_printf(fm, "%sFLAGS ", *sep);
		mc_imap_write_flags(&fm->text, m->flags, m->keywords,
				    m->keywords_count);
		*sep = " ";
	}
	if (f->want_modseq || (changed && f->condstore)) {
		fetch_msg_printf(fm, "%sMODSEQ (%llu)", *sep,
				 (unsigned long long)m->modseq);
		*sep = " ";
	}
	if (items & MC_IMAP_FETCH_INTERNALDATE) {
		mc_date_format_imap(m->internal_date, 0, date);
		fetch_msg_printf(fm, "%sINTERNALDATE \"%s\"", *sep, date);
		*sep = " ";
	}
	if (items & MC_IMAP_FETCH_RFC822_SIZE) {
		fetch_msg_printf(fm, "%sRFC822.SIZE %llu", *sep,
				 (unsigned long long)m->size);
		*sep = " ";
	}
}

/* Worker: "NAME value" of a stored IMAP value (NIL when missing). */
static void stored_item(struct fetch *f, const char *name, const char *v,
			size_t len, const char **sep)
{
	fetch_msg_printf(&f->fm, "%s%s ", *sep, name);
	if (v != NULL && len > 0)
		fetch_msg_text(&f->fm, v, len);
	else
		fetch_msg_text(&f->fm, "NIL", 3);
	*sep = " ";
}

/* Worker: builds the response of msgs[mi]: 0 or FETCH_ERR / _CTE. */
static int build_msg(struct fetch *f)
{
	const struct mc_mailbox_msg *m = &f->msgs[f->mi];
	unsigned items = f->req->items;
	const char *sep = "";
	size_t b = find_uid(f->uid_v, f->bn, m->uid);
	fetch_msg_begin(&f->fm, f->blobs, m->sha256);
	fetch_msg_printf(&f->fm, "* %u FETCH (", b < f->bn ? f->seq_v[b] : 0);
	simple_items(f, m, f->changed[f->mi], &sep);
	if (items & MC_IMAP_FETCH_ENVELOPE)
		stored_item(f, "ENVELOPE", m->envelope, m->envelope_len, &sep);
	if (items & MC_IMAP_FETCH_BODY)
		stored_item(f, "BODY", m->body, m->body_len, &sep);
	if (items & MC_IMAP_FETCH_BODYSTRUCTURE)
		stored_item(f, "BODYSTRUCTURE", m->bodystructure,
			    m->bodystructure_len, &sep);
	for (size_t i = 0; i < f->req->part_count; i++) {
		fetch_msg_text(&f->fm, sep, strlen(sep));
		sep = " ";
		int r = fetch_msg_part(&f->fm, m->parts, &f->req->parts[i],
				       &f->err);
		if (r < 0)
			return r;
	}
	fetch_msg_text(&f->fm, ")\r\n", 3);
	fetch_msg_built(&f->fm);
	f->fm.built = true;
	return 0;
}

/* Worker: sends the batch's responses until the chunk is full. */
static int produce(struct fetch *f)
{
	while (f->mi < f->mcount && f->out.len < FETCH_CHUNK) {
		int r = f->fm.built ? 0 : build_msg(f);
		if (r < 0) {
			fetch_msg_reset(&f->fm);
			return r;
		}
		if (fetch_msg_emit(&f->fm, &f->out) == 0)
			return 0;
		fetch_msg_reset(&f->fm);
		f->mi++;
	}
	if (f->mi == f->mcount) {
		mc_pool_destroy(&f->bpool);
		f->loaded = false;
		f->bn = f->mcount = f->mi = 0;
	}
	return 0;
}

/* Worker: the job: VANISHED first, then the batch. */
static void fetch_work(struct mc_worker *worker, void *ctx)
{
	struct fetch *f = ctx;
	if (f->vanished_pending) {
		f->vanished_pending = false;
		f->r = vanished(f, mc_service_worker_pg(worker));
		if (f->r < 0)
			return;
	}
	if (f->bn > 0 && !f->loaded)
		f->r = load_batch(f, worker);
	if (f->r == 0 && f->loaded)
		f->r = produce(f);
}

/* Loop: the job's output goes out; then the next step. */
static void fetch_done(struct command *cmd, void *ctx)
{
	struct fetch *f = ctx;
	f->running = false;
	if (cmd == NULL) {
		fetch_free(f);
		return;
	}
	session_write(cmd->s, f->out.data, f->out.len);
	mc_buf_clear(&f->out);
	step(f);
}

/* Loop: the backlog went down, maybe. */
static void on_timer(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	step(ctx);
}

/* Loop: the tagged reply, after which f is gone. */
static void finish(struct fetch *f)
{
	struct command *cmd = f->cmd;
	int r = f->r;
	struct mc_error err = f->err;
	cmd->ctx = NULL;
	fetch_free(f);
	if (r == FETCH_UNKNOWN_CTE)
		cmd_no(cmd, "UNKNOWN-CTE", "Unknown content transfer encoding");
	else if (r < 0)
		cmd_fail(cmd, &err);
	else
		cmd_ok(cmd, NULL,
		       cmd->uid ? "UID FETCH completed" : "FETCH completed");
}

/* Loop: the next job, a pause for back-pressure, or the end. */
static void step(struct fetch *f)
{
	struct session *s = f->cmd->s;
	if (f->r != 0) {
		finish(f);
		return;
	}
	if (!f->loaded && f->bn == 0)
		pick_batch(f, s->sel);
	if (!f->loaded && f->bn == 0 && !f->vanished_pending) {
		finish(f);
		return;
	}
	if (s->conn != NULL && mc_conn_output_pending(s->conn) > BACKLOG_MAX) {
		struct timeval tv = {0, PAUSE_US};
		if (f->timer == NULL)
			f->timer =
				evtimer_new(mc_loop_base(s->loop), on_timer, f);
		evtimer_add(f->timer, &tv);
		return;
	}
	f->running = true;
	if (!cmd_job(f->cmd, fetch_work, fetch_done, f)) {
		f->cmd->ctx = NULL; /* answered and freed by cmd_job */
		fetch_free(f);
	}
}

/* The client left: free now unless a job has f (its done frees it). */
static void fetch_aborted(struct command *cmd, const struct mc_imap_event *ev)
{
	struct fetch *f = cmd->ctx;
	if (ev != NULL || f == NULL || f->running)
		return;
	cmd->ctx = NULL;
	fetch_free(f);
}

/* What columns the request needs. */
static unsigned columns(const struct fetch *f)
{
	unsigned items = f->req->items, what = 0;
	if ((items & (MC_IMAP_FETCH_FLAGS | MC_IMAP_FETCH_MODSEQ)) ||
	    f->req->changedsince_given || f->set_seen || f->condstore)
		what |= MC_MAILBOX_F_FLAGS;
	if ((items &
	     (MC_IMAP_FETCH_INTERNALDATE | MC_IMAP_FETCH_RFC822_SIZE)) ||
	    f->req->part_count > 0)
		what |= MC_MAILBOX_F_BASIC;
	if ((items & (MC_IMAP_FETCH_ENVELOPE | MC_IMAP_FETCH_BODY |
		      MC_IMAP_FETCH_BODYSTRUCTURE)) ||
	    f->req->part_count > 0)
		what |= MC_MAILBOX_F_STRUCTURE;
	return what;
}

/* The UIDs VANISHED may report: the set with "*" as the last UID the
 * session was told of (expunged ones included). */
static void vanish_set(struct command *cmd, struct fetch *f)
{
	const struct mc_imap_arg *a = &cmd->args[0];
	struct mc_imap_seqset set;
	f->vanish_set = f->uids;
	if (!mc_imap_seqset_parse(cmd->pool, a->str, false, &set))
		return; /* "$": the saved result */
	mc_imap_seqset_resolve(&set, cmd->s->sel->uidnext - 1);
	f->vanish_set = set;
}

/* A MODSEQ item or CHANGEDSINCE enables CONDSTORE (RFC 7162 3.1). */
static void enable_condstore(struct command *cmd,
			     const struct mc_imap_fetch *req)
{
	struct session *s = cmd->s;
	if (s->condstore || (req->items & MC_IMAP_FETCH_MODSEQ) == 0)
		return;
	s->condstore = true;
	session_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		       (unsigned long long)s->sel->highestmodseq);
}

/* A new FETCH state for a parsed request. */
static struct fetch *fetch_new(struct command *cmd,
			       const struct mc_imap_fetch *req,
			       const struct mc_imap_seqset *uids)
{
	struct session *s = cmd->s;
	struct fetch *f = mc_calloc(1, sizeof(*f));
	f->cmd = cmd;
	f->req = req;
	f->blobs = s->d->blobs;
	f->owner = s->owner;
	f->mailbox_id = s->sel->id;
	f->uids = *uids;
	f->condstore = s->condstore;
	f->set_seen = mc_imap_fetch_sets_seen(req) && !s->sel->readonly;
	f->want_uid = (req->items & MC_IMAP_FETCH_UID) || s->condstore;
	f->want_modseq = (req->items & MC_IMAP_FETCH_MODSEQ) || s->condstore;
	f->what = columns(f);
	f->vanished_pending = req->vanished;
	mc_buf_init(&f->out, NULL, 0);
	return f;
}

/* FETCH sequence-set (items) [(modifiers)], UID FETCH uid-set ...
 *   fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
 *           fetch-att / "(" fetch-att *(SP fetch-att) ")")
 *           [fetch-modifiers]                          (RFC 9051, 7162) */
static void cmd_fetch(struct command *cmd)
{
	struct mc_imap_fetch *req;
	struct mc_imap_seqset uids;
	const char *error;
	if (cmd->argc < 2) {
		cmd_bad(cmd, "Expected a sequence set and fetch items");
		return;
	}
	if (!mc_imap_fetch_parse(cmd->pool, &cmd->args[1], cmd->argc - 1,
				 cmd->uid, &req, &error)) {
		cmd_bad(cmd, error);
		return;
	}
	if (req->vanished && !cmd->s->qresync) {
		cmd_bad(cmd, "VANISHED needs QRESYNC enabled");
		return;
	}
	if (!cmd_uid_set(cmd, &cmd->args[0], &uids))
		return;
	enable_condstore(cmd, req);
	struct fetch *f = fetch_new(cmd, req, &uids);
	if (req->vanished)
		vanish_set(cmd, f);
	cmd->ctx = f;
	cmd->aborted = fetch_aborted;
	step(f);
}

const struct command_def fetch_command_defs[] = {
	{"FETCH", IMAP_SELECTED, true, cmd_fetch, true},
	{NULL, 0, false, NULL, false},
};
