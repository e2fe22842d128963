/* cmd-select: SELECT and EXAMINE (with CONDSTORE and QRESYNC, RFC 7162
 * 3.2.5), CLOSE, UNSELECT (RFC 3691), and EXPUNGE / UID EXPUNGE (RFC
 * 4315). Opening a mailbox loads its UIDs (the sequence numbers are the
 * session's); QRESYNC reports what vanished and changed since the
 * client's MODSEQ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "mailcore/mc-imap-write.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

struct select_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	const char *name;
	bool readonly, condstore, qresync;
	uint32_t qr_uidvalidity;
	uint64_t qr_modseq;
	/* results */
	int found;
	struct mc_mailbox_info info;
	uint32_t *uids, uidnext;
	size_t count;
	uint64_t highestmodseq;
	struct mc_mailbox_delta delta;
	struct mc_error err;
};

/* Worker: the mailbox, its UIDs and, for QRESYNC, the delta. */
static void select_work(struct mc_worker *worker, void *ctx)
{
	struct select_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	j->found = mc_mailbox_get(pg, j->pool, &j->owner, j->name, &j->info,
				  &j->err);
	if (j->found <= 0)
		return;
	if (mc_mailbox_uids(pg, &j->owner, j->info.id, 0, &j->uids, &j->count,
			    &j->uidnext, &j->highestmodseq, &j->err) < 0) {
		j->found = -1;
		return;
	}
	if (j->qresync && j->qr_uidvalidity == j->info.uidvalidity &&
	    mc_mailbox_changes(pg, j->pool, &j->owner, j->info.id, j->qr_modseq,
			       &j->delta, &j->err) < 0)
		j->found = -1;
}

/* The untagged responses of a successful SELECT. */
static void select_responses(struct command *cmd, struct select_job *j)
{
	struct session *s = cmd->s;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, "* FLAGS (" SYSTEM_FLAGS ")\r\n");
	mc_buf_printf(&b, "* OK [PERMANENTFLAGS (%s)] Flags permitted\r\n",
		      j->readonly ? "" : SYSTEM_FLAGS " \\*");
	mc_buf_printf(&b, "* %zu EXISTS\r\n", j->count);
	if (!s->rev2)
		mc_buf_append_str(&b, "* 0 RECENT\r\n");
	mc_buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
		      j->info.uidvalidity);
	mc_buf_printf(&b, "* OK [UIDNEXT %u] Predicted next UID\r\n",
		      j->uidnext);
	mc_buf_printf(&b, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		      (unsigned long long)j->highestmodseq);
	if (s->rev2) {
		mc_buf_append_str(&b, "* LIST () \"/\" ");
		cmd_write_mailbox(cmd, &b, j->info.name);
		mc_buf_append_str(&b, "\r\n");
	}
	session_write(s, b.data, b.len);
}

/* QRESYNC: what vanished (EARLIER) and what changed since. */
static void qresync_responses(struct command *cmd, struct select_job *j)
{
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	if (j->delta.expunged_count > 0) {
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(cmd->pool, j->delta.expunged,
					   j->delta.expunged_count, &set);
		mc_buf_append_str(&b, "* VANISHED (EARLIER) ");
		mc_imap_seqset_write(&set, &b);
		mc_buf_append_str(&b, "\r\n");
	}
	for (size_t i = 0; i < j->delta.changes_count; i++) {
		const struct mc_mailbox_change *ch = &j->delta.changes[i];
		uint32_t seq = selected_seq(cmd->s->sel, ch->uid);
		if (seq == 0)
			continue;
		mc_buf_printf(&b, "* %u FETCH (UID %u FLAGS ", seq, ch->uid);
		mc_imap_write_flags(&b, ch->flags, ch->keywords,
				    ch->keywords_count);
		mc_buf_printf(&b, " MODSEQ (%llu))\r\n",
			      (unsigned long long)ch->modseq);
	}
	session_write(cmd->s, b.data, b.len);
}

/* Makes the job's mailbox the selected one. */
static void become_selected(struct session *s, struct select_job *j)
{
	struct selected *sel = mc_calloc(1, sizeof(*sel));
	sel->id = j->info.id;
	sel->name = mc_strdup(j->info.name);
	sel->readonly = j->readonly;
	sel->uidvalidity = j->info.uidvalidity;
	sel->uidnext = j->uidnext;
	sel->highestmodseq = j->highestmodseq;
	sel->uids = j->uids;
	sel->count = sel->cap = j->count;
	j->uids = NULL;
	selected_free(&s->sel);
	s->sel = sel;
	s->state = IMAP_SELECTED;
	if (j->condstore)
		s->condstore = true;
}

/* Loop: the answer to SELECT / EXAMINE. */
static void select_done(struct command *cmd, void *ctx)
{
	struct select_job *j = ctx;
	if (cmd != NULL) {
		struct session *s = cmd->s;
		if (j->found <= 0) {
			/* RFC 3501 6.3.1: a failed SELECT closes the old one */
			selected_free(&s->sel);
			s->state = IMAP_AUTH;
			if (j->found == 0)
				cmd_no(cmd, "NONEXISTENT", "No such mailbox");
			else
				cmd_fail(cmd, &j->err);
		} else {
			become_selected(s, j);
			select_responses(cmd, j);
			if (j->qresync)
				qresync_responses(cmd, j);
			cmd_ok(cmd, j->readonly ? "READ-ONLY" : "READ-WRITE",
			       j->readonly ? "EXAMINE completed"
					   : "SELECT completed");
		}
	}
	free(j->uids);
	mc_pool_destroy(&j->pool);
}

/* Reads "(CONDSTORE)" or "(QRESYNC (uidvalidity modseq ...))". */
static bool select_params(struct command *cmd, struct select_job *j)
{
	if (cmd->argc == 1)
		return true;
	const struct mc_imap_arg *l = &cmd->args[1];
	if (cmd->argc != 2 || l->type != MC_IMAP_ARG_LIST)
		return false;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct mc_imap_arg *p = &l->list[i];
		uint64_t v, m;
		if (mc_imap_arg_is(p, "CONDSTORE")) {
			j->condstore = true;
		} else if (mc_imap_arg_is(p, "QRESYNC") && cmd->s->qresync &&
			   i + 1 < l->list_count &&
			   l->list[i + 1].type == MC_IMAP_ARG_LIST &&
			   l->list[i + 1].list_count >= 2 &&
			   mc_imap_arg_number(&l->list[i + 1].list[0], false,
					      &v) &&
			   mc_imap_arg_number(&l->list[i + 1].list[1], true,
					      &m)) {
			j->qresync = j->condstore = true;
			j->qr_uidvalidity = (uint32_t)v;
			j->qr_modseq = m;
			i++;
		} else {
			return false;
		}
	}
	return true;
}

/* SELECT / EXAMINE mailbox [(params)] */
static void run_select(struct command *cmd, bool readonly)
{
	struct session *s = cmd->s;
	if (cmd->argc < 1) {
		cmd_bad(cmd, "Expected a mailbox name");
		return;
	}
	const char *name = cmd_mailbox_arg(cmd, &cmd->args[0]);
	if (name == NULL)
		return;
	struct mc_pool *pool = mc_pool_create("imap-select", 4096);
	struct select_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct select_job){.pool = pool,
				 .owner = s->owner,
				 .name = mc_pstrdup(pool, name),
				 .readonly = readonly};
	if (!select_params(cmd, j)) {
		mc_pool_destroy(&pool);
		cmd_bad(cmd, "Invalid SELECT parameters");
		return;
	}
	if (s->sel != NULL && (s->qresync || s->rev2))
		session_puts(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	if (!cmd_job(cmd, select_work, select_done, j))
		mc_pool_destroy(&pool);
}

static void cmd_select(struct command *cmd)
{
	run_select(cmd, false);
}

static void cmd_examine(struct command *cmd)
{
	run_select(cmd, true);
}

/* UNSELECT: leave without expunging. */
static void cmd_unselect(struct command *cmd)
{
	selected_free(&cmd->s->sel);
	cmd->s->state = IMAP_AUTH;
	cmd_ok(cmd, NULL, "Returned to authenticated state");
}

struct expunge_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	struct mc_imap_seqset *uids; /* NULL: every \Deleted one */
	bool close;		     /* CLOSE: silent, then unselect */
	uint32_t *gone;
	size_t count;
	int r;
	struct mc_error err;
};

/* Worker: the expunge, and the notice for the other sessions. */
static void expunge_work(struct mc_worker *worker, void *ctx)
{
	struct expunge_job *j = ctx;
	j->r = mc_mailbox_expunge(mc_service_worker_pg(worker), j->pool,
				  &j->owner, j->mailbox_id, j->uids, &j->gone,
				  &j->count, &j->err);
	if (j->r == 0 && j->count > 0)
		mc_mailbox_notify(mc_service_worker_redis(worker), &j->owner,
				  "expunge", j->mailbox_id, 0);
}

/* Reports what this session expunged and forgets it. */
static void report_own_expunges(struct command *cmd, struct expunge_job *j)
{
	struct mc_mailbox_delta d = {.expunged = j->gone,
				     .expunged_count = j->count};
	struct selected *sel = cmd->s->sel;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	if (cmd->s->qresync && j->count > 0) {
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(cmd->pool, d.expunged,
					   d.expunged_count, &set);
		mc_buf_append_str(&b, "* VANISHED ");
		mc_imap_seqset_write(&set, &b);
		mc_buf_append_str(&b, "\r\n");
	}
	for (size_t i = d.expunged_count; i-- > 0;) {
		uint32_t seq = selected_seq(sel, d.expunged[i]);
		if (seq == 0)
			continue;
		if (!cmd->s->qresync)
			mc_buf_printf(&b, "* %u EXPUNGE\r\n", seq);
		memmove(&sel->uids[seq - 1], &sel->uids[seq],
			(sel->count - seq) * sizeof(*sel->uids));
		sel->count--;
	}
	session_write(cmd->s, b.data, b.len);
}

/* Loop: the answer to EXPUNGE / UID EXPUNGE / CLOSE. */
static void expunge_done(struct command *cmd, void *ctx)
{
	struct expunge_job *j = ctx;
	if (cmd != NULL && j->close) {
		selected_free(&cmd->s->sel);
		cmd->s->state = IMAP_AUTH;
		cmd_ok(cmd, NULL, "CLOSE completed");
	} else if (cmd != NULL && j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (cmd != NULL) {
		report_own_expunges(cmd, j);
		cmd_ok(cmd, NULL, "EXPUNGE completed");
	}
	mc_pool_destroy(&j->pool);
}

/* Starts an expunge job. */
static void start_expunge(struct command *cmd, struct mc_imap_seqset *uids,
			  bool close)
{
	struct selected *sel = cmd->s->sel;
	struct mc_pool *pool = mc_pool_create("imap-expunge", 2048);
	struct expunge_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct expunge_job){.pool = pool,
				  .owner = cmd->s->owner,
				  .mailbox_id = sel->id,
				  .close = close};
	if (uids != NULL) {
		j->uids = mc_palloc(pool, sizeof(*j->uids));
		*j->uids = *uids;
		j->uids->ranges =
			mc_pmemdup(pool, uids->ranges,
				   uids->count * sizeof(*uids->ranges));
	}
	if (!cmd_job(cmd, expunge_work, expunge_done, j))
		mc_pool_destroy(&pool);
}

/* EXPUNGE, UID EXPUNGE set */
static void cmd_expunge(struct command *cmd)
{
	struct mc_imap_seqset uids;
	if (cmd->s->sel->readonly) {
		cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	if (cmd->uid) {
		if (cmd->argc != 1 || !cmd_uid_set(cmd, &cmd->args[0], &uids))
			return;
		start_expunge(cmd, &uids, false);
		return;
	}
	start_expunge(cmd, NULL, false);
}

/* CLOSE: expunge silently (unless read-only), then unselect. */
static void cmd_close(struct command *cmd)
{
	if (cmd->s->sel->readonly) {
		cmd_unselect(cmd);
		return;
	}
	start_expunge(cmd, NULL, true);
}

const struct command_def select_command_defs[] = {
	{"SELECT", IMAP_AUTH | IMAP_SELECTED, false, cmd_select, false},
	{"EXAMINE", IMAP_AUTH | IMAP_SELECTED, false, cmd_examine, false},
	{"UNSELECT", IMAP_SELECTED, false, cmd_unselect, false},
	{"CLOSE", IMAP_SELECTED, false, cmd_close, false},
	{"EXPUNGE", IMAP_SELECTED, true, cmd_expunge, false},
	{NULL, 0, false, NULL, false},
};
