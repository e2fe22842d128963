/* cmd-idle: IDLE (RFC 2177). The session waits for "DONE" in line mode;
 * every change notice for its mailbox (from this node or another, via
 * Redis) syncs at once, so new mail shows as EXISTS within a moment. */
#include <string.h>
#include <strings.h>

#include "imapd.h"

/* After a sync while idling: wait again (or take the DONE that came). */
static void idle_synced(struct command *cmd)
{
	cmd->busy = false;
	session_pump(cmd->s);
}

/* Syncs now unless a sync already runs. */
static void idle_sync(struct command *cmd)
{
	if (cmd->busy || cmd->s->sel == NULL)
		return;
	cmd->busy = true;
	sync_then(cmd, true, idle_synced);
}

void session_notified(struct session *s, int64_t mailbox_id)
{
	(void)mailbox_id;
	if (s->idling && s->cmd != NULL)
		idle_sync(s->cmd);
}

/* The line that ends IDLE. */
static void idle_line(struct command *cmd, const char *line, size_t len)
{
	struct session *s = cmd->s;
	mc_imap_parser_set_line_mode(s->parser, false);
	s->idling = false;
	cmd->receiving = false;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		cmd_ok(cmd, NULL, "IDLE terminated");
	else
		cmd_bad(cmd, "Expected DONE");
}

/* The client left while idling. */
static void idle_aborted(struct command *cmd, const struct mc_imap_event *ev)
{
	(void)ev;
	cmd->s->idling = false;
}

/* IDLE */
static void cmd_idle(struct command *cmd)
{
	struct session *s = cmd->s;
	s->idling = true;
	cmd->receiving = true;
	cmd->line = idle_line;
	cmd->aborted = idle_aborted;
	mc_imap_parser_set_line_mode(s->parser, true);
	session_puts(s, "+ idling\r\n");
	if (s->sel != NULL && s->sel->dirty)
		idle_sync(cmd);
}

const struct command_def idle_command_defs[] = {
	{"IDLE", IMAP_AUTH | IMAP_SELECTED, false, cmd_idle, false},
	{NULL, 0, false, NULL, false},
};
