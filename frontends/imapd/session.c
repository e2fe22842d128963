/* session: one IMAP connection on its loop, on mc-conn. Client bytes go
 * into mc-imap-parser; its events run one command at a time (pipelined
 * commands wait in the parser), except the events of the command in
 * progress itself (APPEND's streamed literals, IDLE's DONE line). A
 * stopping daemon says BYE once the command in progress is answered. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "imapd.h"
#include "mailcore/mc-conn.h"

#define FEED_PIECE     (16 * 1024)
#define PARSER_BACKLOG (256 * 1024)
#define MAX_BAD	       20

void session_write(struct session *s, const void *data, size_t len)
{
	if (s->conn != NULL)
		mc_conn_write(s->conn, data, len);
}

void session_puts(struct session *s, const char *text)
{
	session_write(s, text, strlen(text));
}

void session_printf(struct session *s, const char *fmt, ...)
{
	struct mc_buf b;
	va_list ap;
	mc_buf_init(&b, NULL, 0);
	va_start(ap, fmt);
	mc_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	session_write(s, b.data, b.len);
	mc_buf_free(&b);
}

/* Unlinks from the loop's list and frees; the last reference went. */
static void session_free(struct mc_job_owner *owner)
{
	struct session *s = (struct session *)((char *)owner -
					       offsetof(struct session, jobs));
	notify_unregister(s);
	if (s->cmd != NULL)
		command_discard(s->cmd);
	selected_free(&s->sel);
	mc_imap_parser_destroy(&s->parser);
	free(s);
}

/* The connection is over: no more I/O; the session waits for its jobs. */
static void session_gone(struct session *s)
{
	if (s->jobs.gone)
		return;
	s->jobs.gone = true;
	s->conn = NULL;
	proxy_session_gone(s);
	mc_logc(&s->log, MC_LOG_INFO, "disconnected");
	if (s->cmd != NULL && s->cmd->aborted != NULL)
		s->cmd->aborted(s->cmd, NULL);
	mc_job_owner_unref(&s->jobs);
}

void session_close(struct session *s)
{
	if (s->conn != NULL)
		mc_conn_close(s->conn);
	session_gone(s);
}

/* Answers a synchronising literal: "+" or a refusal. */
static void on_continue(struct session *s, const struct mc_imap_event *ev)
{
	if (strcmp(ev->name, "APPEND") == 0 &&
	    ev->literal_size > s->d->append_limit) {
		mc_imap_parser_refuse(s->parser);
		session_printf(s, "%s NO [TOOBIG] Message too large\r\n",
			       ev->tag);
		return;
	}
	mc_imap_parser_continue(s->parser);
	session_puts(s, "+ OK\r\n");
}

/* A malformed command or a literal over the limits. */
static void on_error(struct session *s, const struct mc_imap_event *ev)
{
	if (s->cmd != NULL && s->cmd->aborted != NULL) {
		s->cmd->aborted(s->cmd, ev);
		return;
	}
	if (ev->type == MC_IMAP_EV_TOOBIG)
		session_printf(s, "%s NO [TOOBIG] %s\r\n", ev->tag, ev->text);
	else
		session_printf(s, "%s BAD %s\r\n", ev->tag, ev->text);
	s->bad_commands++;
}

/* Hands one event to the command in progress (APPEND, IDLE, AUTH). */
static void to_command(struct command *cmd, const struct mc_imap_event *ev)
{
	switch (ev->type) {
	case MC_IMAP_EV_LITERAL_BEGIN:
		cmd->literal_begin(cmd, ev);
		break;
	case MC_IMAP_EV_LITERAL_DATA:
		cmd->literal_data(cmd, ev->data, ev->data_len);
		break;
	case MC_IMAP_EV_LITERAL_END:
		/* the client's CRLF may wait for our ACK (Nagle): send it */
		if (cmd->s->conn != NULL)
			mc_conn_quickack(cmd->s->conn);
		cmd->literal_end(cmd);
		break;
	case MC_IMAP_EV_LINE:
		cmd->line(cmd, (const char *)ev->data, ev->data_len);
		break;
	default: /* COMMAND: the end of a streamed APPEND */
		cmd->finished(cmd, ev);
	}
}

/* Runs one parser event. */
static void on_event(struct session *s, const struct mc_imap_event *ev)
{
	if (ev->type == MC_IMAP_EV_CONTINUE)
		on_continue(s, ev);
	else if (ev->type == MC_IMAP_EV_BAD || ev->type == MC_IMAP_EV_TOOBIG)
		on_error(s, ev);
	else if (s->cmd != NULL)
		to_command(s->cmd, ev);
	else if (ev->type == MC_IMAP_EV_COMMAND ||
		 ev->type == MC_IMAP_EV_LITERAL_BEGIN)
		command_start(s, ev);
}

/* True when the parser's next event can be taken now. */
static bool can_take(const struct session *s)
{
	if (s->jobs.gone || s->starting_tls)
		return false;
	return s->cmd == NULL || (s->cmd->receiving && !s->cmd->busy);
}

/* Feeds buffered input into the parser, bounded. */
static void feed(struct session *s)
{
	const unsigned char *p;
	size_t n;
	while (s->conn != NULL &&
	       mc_imap_parser_buffered(s->parser) < PARSER_BACKLOG &&
	       (n = mc_conn_input(s->conn, &p, FEED_PIECE)) > 0) {
		mc_imap_parser_feed(s->parser, p, n);
		mc_conn_consume(s->conn, n);
	}
}

void session_pump(struct session *s)
{
	struct mc_imap_event ev;
	if (s->pumping)
		return; /* a command ended inside the loop below: it goes on */
	if (proxy_relaying(s)) {
		proxy_client_input(s);
		return;
	}
	s->pumping = true;
	s->jobs.refs++; /* a command below may end the session */
	while (can_take(s) && s->bad_commands < MAX_BAD) {
		feed(s);
		if (mc_imap_parser_next(s->parser, &ev) <= 0)
			break;
		on_event(s, &ev);
	}
	if (!s->jobs.gone && s->bad_commands >= MAX_BAD) {
		session_puts(s, "* BYE Too many invalid commands\r\n");
		session_close(s);
	}
	if (!s->jobs.gone && s->stopping && s->cmd == NULL) {
		session_puts(s, "* BYE Server shutting down\r\n");
		session_close(s);
	}
	s->pumping = false;
	mc_job_owner_unref(&s->jobs);
}

/* mc-conn: input is buffered. */
static void conn_readable(void *ctx)
{
	session_pump(ctx);
}

/* mc-conn: TLS is up (implicit, or after STARTTLS). */
static void conn_tls_ready(void *ctx)
{
	struct session *s = ctx;
	s->tls = true;
	if (s->starting_tls) {
		s->starting_tls = false;
		session_pump(s);
	}
}

/* mc-conn: nothing from the client for the timeout. */
static void conn_timeout(void *ctx)
{
	struct session *s = ctx;
	if (s->cmd != NULL && !s->cmd->receiving)
		return; /* the client waits for us */
	mc_logc(&s->log, MC_LOG_INFO, "autologout");
	session_puts(s, "* BYE Autologout; idle for too long\r\n");
	session_close(s);
}

/* mc-conn: the client went away. */
static void conn_closed(void *ctx)
{
	session_gone(ctx);
}

/* mc-conn: the daemon stops. */
static void conn_stop(void *ctx)
{
	struct session *s = ctx;
	s->stopping = true;
	if (s->cmd == NULL || s->idling) {
		session_puts(s, "* BYE Server shutting down\r\n");
		session_close(s);
	}
}

static const struct mc_conn_callbacks conn_callbacks = {
	.readable = conn_readable,
	.tls_ready = conn_tls_ready,
	.timeout = conn_timeout,
	.closed = conn_closed,
	.stop = conn_stop,
};

void session_start_tls(struct session *s)
{
	s->starting_tls = true;
	/* RFC 3501 6.2.1: nothing pipelined after STARTTLS counts */
	mc_imap_parser_destroy(&s->parser);
	s->parser = mc_imap_parser_create(&s->d->parser);
	mc_conn_start_tls(s->conn, s->d->tls);
}

bool session_start_compress(struct session *s)
{
	return s->conn != NULL && mc_conn_start_compress(s->conn);
}

void session_timeouts(struct session *s)
{
	if (s->conn != NULL)
		mc_conn_set_timeout(s->conn, s->state == IMAP_NOT_AUTH
						     ? s->d->login_timeout_ms
						     : s->d->idle_timeout_ms);
}

/* The greeting with the pre-login capabilities. */
static void greet(struct session *s)
{
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "* OK [CAPABILITY ");
	capabilities(s, &b);
	mc_buf_printf(&b, "] %s mailcore IMAP ready\r\n", s->d->hostname);
	session_write(s, b.data, b.len);
	mc_buf_free(&b);
}

void session_accept(struct mc_loop *loop, struct bufferevent *bev,
		    const struct mc_conn_info *info, void *ctx)
{
	struct session *s = mc_calloc(1, sizeof(*s));
	s->d = mc_service_context(ctx);
	s->loop = loop;
	s->jobs = (struct mc_job_owner){
		.workers = mc_service_workers_slot(s->d->service),
		.loop = loop,
		.refs = 1,
		.free = session_free,
	};
	s->state = IMAP_NOT_AUTH;
	s->remote = info->remote;
	s->tls = info->tls;
	mc_addr_ip_str(&info->remote, s->ip);
	mc_log_session_id(s->id);
	mc_log_ctx_init(&s->log);
	mc_log_ctx_set(&s->log, "session", "%s", s->id);
	mc_log_ctx_set(&s->log, "ip", "%s", s->ip);
	s->parser = mc_imap_parser_create(&s->d->parser);
	s->conn = mc_conn_create(loop, bev, info, &conn_callbacks, s);
	mc_logc(&s->log, MC_LOG_INFO, "connect on %s", info->listener);
	session_timeouts(s);
	greet(s);
}
