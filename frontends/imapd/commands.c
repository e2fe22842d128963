/* commands: the command table and what every command shares: dispatch by
 * name and state (RFC 3501 3), tagged replies that end a command, the
 * mapping of store errors to response codes (RFC 5530), worker jobs
 * bound to the command, and the argument helpers for mailbox names and
 * sequence sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "mailcore/mc-imap-write.h"

void command_discard(struct command *cmd)
{
	if (cmd->s->cmd == cmd)
		cmd->s->cmd = NULL;
	mc_pool_destroy(&cmd->pool);
	free(cmd);
}

/* Frees a finished command and lets the session read the next one. */
static void command_end(struct command *cmd)
{
	struct session *s = cmd->s;
	command_discard(cmd);
	session_pump(s);
}

/* Writes "tag STATUS [code] text". */
static void tagged(struct command *cmd, const char *status, const char *code,
		   const char *text)
{
	if (code != NULL)
		session_printf(cmd->s, "%s %s [%s] %s\r\n", cmd->tag, status,
			       code, text);
	else
		session_printf(cmd->s, "%s %s %s\r\n", cmd->tag, status, text);
}

void cmd_ok(struct command *cmd, const char *code, const char *text)
{
	tagged(cmd, "OK", code, text);
	command_end(cmd);
}

void cmd_no(struct command *cmd, const char *code, const char *text)
{
	tagged(cmd, "NO", code, text);
	command_end(cmd);
}

void cmd_bad(struct command *cmd, const char *text)
{
	tagged(cmd, "BAD", NULL, text);
	cmd->s->bad_commands++;
	command_end(cmd);
}

void cmd_fail(struct command *cmd, const struct mc_error *err)
{
	if (mc_mailbox_error_is_quota(err)) {
		cmd_no(cmd, "OVERQUOTA", "Quota exceeded");
		return;
	}
	switch (err->cls) {
	case MC_ERR_TEMPORARY:
		mc_logc(&cmd->s->log, MC_LOG_WARNING, "%s: %s", cmd->name,
			err->msg);
		cmd_no(cmd, "UNAVAILABLE",
		       "Temporary failure, please try again later");
		return;
	case MC_ERR_NOTFOUND:
		cmd_no(cmd, "NONEXISTENT", "No such mailbox");
		return;
	case MC_ERR_EXISTS:
		cmd_no(cmd, "ALREADYEXISTS", "Mailbox already exists");
		return;
	case MC_ERR_INVALID:
		cmd_no(cmd, "CANNOT", err->msg);
		return;
	default:
		mc_logc(&cmd->s->log, MC_LOG_ERROR, "%s: %s", cmd->name,
			err->msg);
		cmd_no(cmd, "SERVERBUG", "Internal error, logged");
	}
}

struct cmd_job {
	struct command *cmd;
	mc_job_fn *work;
	cmd_done_fn *done;
	void *ctx;
};

/* mc_job_fn: the command's work. */
static void cmd_job_run(struct mc_worker *worker, void *ctx)
{
	struct cmd_job *j = ctx;
	j->work(worker, j->ctx);
}

/* mc_owner_done_fn: the command's completion (NULL when gone). */
static void cmd_job_done(struct mc_job_owner *owner, void *ctx)
{
	struct cmd_job *j = ctx;
	struct command *cmd = j->cmd;
	if (owner == NULL) {
		j->done(NULL, j->ctx);
		command_discard(cmd);
	} else {
		j->done(cmd, j->ctx);
	}
	free(j);
}

bool cmd_job(struct command *cmd, mc_job_fn *work, cmd_done_fn *done, void *ctx)
{
	struct cmd_job *j = mc_malloc(sizeof(*j));
	*j = (struct cmd_job){cmd, work, done, ctx};
	if (mc_job_owner_submit(&cmd->s->jobs, cmd_job_run, cmd_job_done, j))
		return true;
	free(j);
	cmd_no(cmd, "UNAVAILABLE", "Server busy, please try again later");
	return false;
}

void cmd_write_astring(struct command *cmd, struct mc_buf *out, const char *s)
{
	mc_imap_write_atom_or_string(out, s, cmd->s->utf8);
}

const char *cmd_mailbox_arg(struct command *cmd, const struct mc_imap_arg *a)
{
	const char *s;
	size_t len;
	if (!mc_imap_arg_string(a, &s, &len) || len == 0 || strlen(s) != len) {
		cmd_bad(cmd, "Expected a mailbox name");
		return NULL;
	}
	if (cmd->s->utf8)
		return s;
	struct mc_buf out;
	mc_buf_init(&out, cmd->pool, MC_MAILBOX_NAME_MAX * 2);
	if (!mc_imap_utf7_decode(s, &out)) {
		cmd_bad(cmd, "Mailbox name is not valid modified UTF-7");
		return NULL;
	}
	return mc_buf_cstr(&out);
}

void cmd_write_mailbox(struct command *cmd, struct mc_buf *out,
		       const char *utf8_name)
{
	if (cmd->s->utf8) {
		mc_imap_write_atom_or_string(out, utf8_name, true);
		return;
	}
	struct mc_buf enc;
	mc_buf_init(&enc, cmd->pool, 0);
	mc_imap_utf7_encode(utf8_name, &enc);
	mc_imap_write_atom_or_string(out, mc_buf_cstr(&enc), false);
}

uint32_t selected_seq(const struct selected *sel, uint32_t uid)
{
	size_t lo = 0, hi = sel->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sel->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sel->count && sel->uids[lo] == uid ? (uint32_t)lo + 1 : 0;
}

/* Turns a resolved set of sequence numbers into UIDs. */
static void seqs_to_uids(struct command *cmd, struct mc_imap_seqset *set)
{
	const struct selected *sel = cmd->s->sel;
	uint64_t n = 0;
	for (size_t i = 0; i < set->count; i++) {
		uint32_t hi = set->ranges[i].hi;
		if (set->ranges[i].lo <= sel->count)
			n += (hi > sel->count ? sel->count : hi) -
			     set->ranges[i].lo + 1;
	}
	uint32_t *v = mc_palloc_array(cmd->pool, n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < set->count; i++) {
		for (uint64_t q = set->ranges[i].lo;
		     q <= set->ranges[i].hi && q <= sel->count; q++)
			v[k++] = sel->uids[q - 1];
	}
	mc_imap_seqset_from_sorted(cmd->pool, v, k, set);
}

bool cmd_uid_set(struct command *cmd, const struct mc_imap_arg *a,
		 struct mc_imap_seqset *uids_r)
{
	struct selected *sel = cmd->s->sel;
	if (a->type != MC_IMAP_ARG_ATOM ||
	    !mc_imap_seqset_parse(cmd->pool, a->str, true, uids_r)) {
		cmd_bad(cmd, "Invalid sequence set");
		return false;
	}
	if (uids_r->dollar) {
		uids_r->ranges = mc_pmemdup(cmd->pool, sel->searchres.ranges,
					    sel->searchres.count *
						    sizeof(*uids_r->ranges));
		uids_r->count = sel->searchres.count;
		uids_r->dollar = false;
		return true;
	}
	if (cmd->uid) {
		mc_imap_seqset_resolve(
			uids_r, sel->count > 0 ? sel->uids[sel->count - 1] : 0);
		return true;
	}
	mc_imap_seqset_resolve(uids_r, (uint32_t)sel->count);
	seqs_to_uids(cmd, uids_r);
	return true;
}

static const struct command_def *const tables[] = {
	auth_command_defs,   mailbox_command_defs, select_command_defs,
	fetch_command_defs,  search_command_defs,  store_command_defs,
	append_command_defs, idle_command_defs,
};

/* The table entry for name (UID variants when uid). */
static const struct command_def *lookup(const char *name, bool uid)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct command_def *d = tables[t]; d->name != NULL;
		     d++) {
			if (strcmp(d->name, name) == 0 && (!uid || d->uid))
				return d;
		}
	}
	return NULL;
}

/* A new command for a COMMAND or LITERAL_BEGIN event. */
static struct command *command_new(struct session *s,
				   const struct mc_imap_event *ev)
{
	struct command *cmd = mc_calloc(1, sizeof(*cmd));
	cmd->s = s;
	cmd->pool = mc_pool_create("imap-command", 4096);
	cmd->tag = mc_pstrdup(cmd->pool, ev->tag);
	cmd->name = mc_pstrdup(cmd->pool, ev->name);
	cmd->args = ev->args;
	cmd->argc = ev->args_count;
	if (strcmp(cmd->name, "UID") == 0 && cmd->argc > 0 &&
	    cmd->args[0].type == MC_IMAP_ARG_ATOM) {
		char *verb = mc_pstrdup(cmd->pool, cmd->args[0].str);
		for (char *p = verb; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		cmd->name = verb;
		cmd->uid = true;
		cmd->args++;
		cmd->argc--;
	}
	return cmd;
}

/* Copies the argument tree into the command's pool (the parser's goes
 * with the next event). */
static const struct mc_imap_arg *
copy_args(struct mc_pool *pool, const struct mc_imap_arg *args, size_t n)
{
	struct mc_imap_arg *out = mc_palloc_array(pool, n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i] = args[i];
		if (args[i].str != NULL)
			out[i].str =
				mc_pmemdup(pool, args[i].str, args[i].len + 1);
		if (args[i].type == MC_IMAP_ARG_LIST)
			out[i].list = copy_args(pool, args[i].list,
						args[i].list_count);
	}
	return out;
}

void command_start(struct session *s, const struct mc_imap_event *ev)
{
	struct command *cmd = command_new(s, ev);
	cmd->args = copy_args(cmd->pool, cmd->args, cmd->argc);
	s->cmd = cmd;
	const struct command_def *def = lookup(cmd->name, cmd->uid);
	if (def == NULL) {
		cmd_bad(cmd, "Unknown command");
		return;
	}
	if ((def->states & s->state) == 0) {
		cmd_bad(cmd, s->state == IMAP_NOT_AUTH
				     ? "Log in first"
				     : "Not allowed in this state");
		return;
	}
	cmd->literal = ev->type == MC_IMAP_EV_LITERAL_BEGIN ? ev : NULL;
	if (s->sel != NULL && s->sel->dirty && cmd->literal == NULL)
		sync_then(cmd, !def->no_expunge || cmd->uid, def->run);
	else
		def->run(cmd);
}
