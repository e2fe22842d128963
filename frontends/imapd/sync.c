/* sync: keeps a selected mailbox as the client knows it in step with the
 * store. Asks for the delta since the last MODSEQ the client was told,
 * then reports expunges (EXPUNGE in falling sequence order, or VANISHED
 * with QRESYNC, only while they may be sent), new messages (EXISTS) and
 * flag changes (FETCH FLAGS, with MODSEQ under CONDSTORE). */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "mailcore/mc-imap-write.h"

struct sync_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	uint64_t since;
	bool allow_expunge;
	void (*then)(struct command *cmd);
	struct mc_mailbox_delta delta;
	int r;
	struct mc_error err;
};

void selected_free(struct selected **selp)
{
	struct selected *sel = *selp;
	if (sel == NULL)
		return;
	*selp = NULL;
	free(sel->name);
	free(sel->uids);
	free(sel->searchres.ranges);
	free(sel);
}

/* Worker: the delta. */
static void sync_work(struct mc_worker *worker, void *ctx)
{
	struct sync_job *j = ctx;
	j->r = mc_mailbox_changes(mc_service_worker_pg(worker), j->pool,
				  &j->owner, j->mailbox_id, j->since, &j->delta,
				  &j->err);
}

/* Removes the expunged UIDs the client knows, reporting each. */
static void report_expunges(struct command *cmd,
			    const struct mc_mailbox_delta *d)
{
	struct selected *sel = cmd->s->sel;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	uint32_t *gone = mc_palloc_array(cmd->pool, d->expunged_count + 1,
					 sizeof(*gone));
	size_t n = 0;
	for (size_t i = d->expunged_count; i-- > 0;) {
		uint32_t seq = selected_seq(sel, d->expunged[i]);
		if (seq == 0)
			continue;
		gone[n++] = d->expunged[i];
		if (!cmd->s->qresync)
			mc_buf_printf(&b, "* %u EXPUNGE\r\n", seq);
		memmove(&sel->uids[seq - 1], &sel->uids[seq],
			(sel->count - seq) * sizeof(*sel->uids));
		sel->count--;
	}
	if (cmd->s->qresync && n > 0) {
		struct mc_imap_seqset set;
		for (size_t i = 0; i < n / 2; i++) {
			uint32_t t = gone[i];
			gone[i] = gone[n - 1 - i];
			gone[n - 1 - i] = t;
		}
		mc_imap_seqset_from_sorted(cmd->pool, gone, n, &set);
		mc_buf_append_str(&b, "* VANISHED ");
		mc_imap_seqset_write(&set, &b);
		mc_buf_append_str(&b, "\r\n");
	}
	session_write(cmd->s, b.data, b.len);
}

/* Adds the new messages and says how many exist now. */
static void report_new(struct command *cmd, const struct mc_mailbox_delta *d)
{
	struct selected *sel = cmd->s->sel;
	size_t before = sel->count;
	for (size_t i = 0; i < d->changes_count; i++) {
		uint32_t uid = d->changes[i].uid;
		if (uid < sel->uidnext ||
		    (sel->count > 0 && uid <= sel->uids[sel->count - 1]))
			continue;
		if (sel->count == sel->cap) {
			sel->cap = sel->cap == 0 ? 64 : sel->cap * 2;
			sel->uids = mc_realloc(sel->uids,
					       sel->cap * sizeof(*sel->uids));
		}
		sel->uids[sel->count++] = uid;
	}
	if (sel->count != before)
		session_printf(cmd->s, "* %zu EXISTS\r\n", sel->count);
}

/* FETCH FLAGS for the known messages whose flags changed. */
static void report_flags(struct command *cmd, const struct mc_mailbox_delta *d,
			 uint32_t known_uidnext)
{
	struct selected *sel = cmd->s->sel;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	for (size_t i = 0; i < d->changes_count; i++) {
		const struct mc_mailbox_change *ch = &d->changes[i];
		uint32_t seq = ch->uid < known_uidnext
				       ? selected_seq(sel, ch->uid)
				       : 0;
		if (seq == 0)
			continue;
		mc_buf_printf(&b, "* %u FETCH (UID %u FLAGS ", seq, ch->uid);
		mc_imap_write_flags(&b, ch->flags, ch->keywords,
				    ch->keywords_count);
		if (cmd->s->condstore)
			mc_buf_printf(&b, " MODSEQ (%llu)",
				      (unsigned long long)ch->modseq);
		mc_buf_append_str(&b, ")\r\n");
	}
	session_write(cmd->s, b.data, b.len);
}

/* Loop: reports the delta, then runs the rest of the command. */
static void sync_done(struct command *cmd, void *ctx)
{
	struct sync_job *j = ctx;
	if (cmd == NULL) {
		mc_pool_destroy(&j->pool);
		free(j);
		return;
	}
	struct selected *sel = cmd->s->sel;
	if (j->r == 0 && sel != NULL && sel->id == j->mailbox_id) {
		uint32_t known_uidnext = sel->uidnext;
		bool deferred =
			!j->allow_expunge && j->delta.expunged_count > 0;
		if (!deferred)
			report_expunges(cmd, &j->delta);
		report_new(cmd, &j->delta);
		report_flags(cmd, &j->delta, known_uidnext);
		sel->uidnext = j->delta.uidnext;
		if (!deferred)
			sel->highestmodseq = j->delta.highestmodseq;
		sel->dirty = deferred;
	}
	void (*then)(struct command *) = j->then;
	mc_pool_destroy(&j->pool);
	free(j);
	then(cmd);
}

void sync_then(struct command *cmd, bool allow_expunge,
	       void (*then)(struct command *cmd))
{
	struct selected *sel = cmd->s->sel;
	if (sel == NULL) {
		then(cmd);
		return;
	}
	struct sync_job *j = mc_calloc(1, sizeof(*j));
	j->pool = mc_pool_create("imap-sync", 4096);
	j->owner = cmd->s->owner;
	j->mailbox_id = sel->id;
	j->since = sel->highestmodseq;
	j->allow_expunge = allow_expunge;
	j->then = then;
	if (!cmd_job(cmd, sync_work, sync_done, j)) {
		mc_pool_destroy(&j->pool);
		free(j);
	}
}
