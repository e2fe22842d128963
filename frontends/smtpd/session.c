/* session: one SMTP connection on its loop (an mc_conn). Client bytes
 * go into the mc-smtp-server state machine only while it can take them
 * (no decision pending, no STARTTLS handshake due, spool not backed up),
 * so input stays bounded and pipelined commands wait in the socket
 * buffer. STARTTLS is mc-conn's once the 220 is out; timeouts follow RFC
 * 5321 4.5.3.2 (command and data phases). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "smtpd.h"

#define FEED_PIECE (16 * 1024)

/* Frees what the session owns; runs when the last reference goes. */
static void session_free(struct session *s)
{
	trans_free(&s->trans);
	mc_smtp_server_destroy(&s->smtp);
	if (s->trans != NULL) /* destroy ended a transaction: free it too */
		trans_free(&s->trans);
	free(s);
}

void session_unref(struct session *s)
{
	mc_job_owner_unref(&s->jobs);
}

/* struct mc_job_owner's free: the last reference went. */
static void session_free_owner(struct mc_job_owner *owner)
{
	session_free((struct session *)((char *)owner -
					offsetof(struct session, jobs)));
}

/* The connection is over: close it once pending replies are out (if it
 * is still there), keep the session for the jobs still in flight. */
static void session_end(struct session *s)
{
	if (s->jobs.gone)
		return;
	s->jobs.gone = true;
	conn_limits_end(s);
	if (s->conn != NULL) {
		mc_conn_close(s->conn);
		s->conn = NULL;
	}
	mc_logc(&s->log, MC_LOG_INFO, "disconnected");
	session_unref(s);
}

void session_close(struct session *s)
{
	session_end(s);
}

/* Tells the client the daemon stops, and closes. */
static void say_goodbye(struct session *s)
{
	char line[320];
	snprintf(line, sizeof(line),
		 "421 4.3.2 %s Service shutting down, try again later\r\n",
		 s->d->hostname);
	if (s->conn != NULL && !mc_smtp_server_awaiting_tls(s->smtp))
		mc_conn_write(s->conn, line, strlen(line));
	session_end(s);
}

/* mc-smtp-server's write callback: reply bytes for the client. */
static void smtp_write(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	if (s->conn != NULL)
		mc_conn_write(s->conn, data, len);
}

/* True when the state machine can take more input now. */
static bool can_feed(const struct session *s)
{
	return !s->jobs.gone && !s->stopping && s->cs.greeted &&
	       !mc_smtp_server_pending(s->smtp) &&
	       !mc_smtp_server_awaiting_tls(s->smtp) &&
	       !mc_smtp_server_closing(s->smtp) &&
	       (s->trans == NULL || !spool_backlogged(s->trans));
}

void session_pump(struct session *s)
{
	s->jobs.refs++; /* a callback below may end the session */
	while (s->conn != NULL && can_feed(s)) {
		const unsigned char *p;
		size_t len = mc_conn_input(s->conn, &p, FEED_PIECE);
		if (len == 0)
			break;
		mc_smtp_server_input(s->smtp, p, len);
		if (s->conn != NULL)
			mc_conn_consume(s->conn, len);
	}
	if (!s->jobs.gone && s->stopping && !mc_smtp_server_pending(s->smtp))
		say_goodbye(s);
	if (!s->jobs.gone && mc_smtp_server_closing(s->smtp))
		session_end(s);
	session_unref(s);
}

void session_timeouts(struct session *s)
{
	if (s->conn == NULL)
		return;
	mc_conn_set_timeout(s->conn, s->in_data ? s->d->data_timeout_ms
						: s->d->command_timeout_ms);
}

/* mc-smtp-server's STARTTLS decision. */
static void smtp_starttls(void *ctx, struct mc_smtp_server *smtp)
{
	struct session *s = ctx;
	if (s->d->tls == NULL || mc_conn_tls(s->conn, NULL, NULL)) {
		mc_smtp_server_reply(smtp, 454, "4.7.0",
				     "TLS not available due to temporary "
				     "reason");
		return;
	}
	mc_smtp_server_accept(smtp); /* the 220, then TLS */
	mc_conn_start_tls(s->conn, s->d->tls);
}

/* mc_conn: client bytes arrived. */
static void conn_readable(void *ctx)
{
	struct session *s = ctx;
	if (!s->cs.greeted)
		conn_limits_early_input(s);
	else
		session_pump(s);
}

/* mc_conn: TLS is up (implicit, or after STARTTLS). */
static void conn_tls_ready(void *ctx)
{
	struct session *s = ctx;
	const char *version, *cipher;
	if (mc_conn_tls(s->conn, &version, &cipher))
		mc_logc(&s->log, MC_LOG_DEBUG, "TLS %s %s", version, cipher);
	if (mc_smtp_server_awaiting_tls(s->smtp)) {
		mc_smtp_server_tls_started(s->smtp);
		session_pump(s);
	}
}

/* mc_conn: no input for the phase's timeout. */
static void conn_timeout(void *ctx)
{
	struct session *s = ctx;
	if (mc_smtp_server_pending(s->smtp))
		return; /* the client waits for us (a slow lookup): wait on */
	mc_logc(&s->log, MC_LOG_INFO, "timeout");
	mc_smtp_server_timeout(s->smtp);
	session_end(s);
}

/* mc_conn: the client went away or the connection failed. */
static void conn_closed(void *ctx)
{
	struct session *s = ctx;
	s->conn = NULL;
	session_end(s);
}

/* mc_conn: the daemon stops: 421 now, or once the pending reply is out
 * (session_pump). */
static void conn_stop(void *ctx)
{
	struct session *s = ctx;
	s->stopping = true;
	if (!s->jobs.gone && !mc_smtp_server_pending(s->smtp))
		say_goodbye(s);
}

static const struct mc_conn_callbacks conn_callbacks = {
	.readable = conn_readable,
	.tls_ready = conn_tls_ready,
	.timeout = conn_timeout,
	.closed = conn_closed,
	.stop = conn_stop,
};

/* mc-smtp-server settings for a session on port. */
static void smtp_settings(const struct session *s,
			  struct mc_smtp_server_settings *set)
{
	const struct smtpd *d = s->d;
	mc_smtp_server_settings_init(set);
	set->hostname = d->hostname;
	set->starttls = d->tls != NULL;
	set->tls_active = s->port == PORT_SUBMISSIONS;
	set->auth = true;
	set->auth_trusted = mc_cidr_list_match(
		d->plain_auth_nets, d->plain_auth_nets_count, &s->remote);
	set->auth_required = s->port != PORT_MX;
	set->vrfy = d->vrfy;
	set->xclient = mc_cidr_list_match(d->xclient_nets,
					  d->xclient_nets_count, &s->remote);
	set->max_message_size = d->max_message_size;
	set->max_recipients = d->max_recipients;
	set->max_errors = d->max_errors;
	set->max_hops = d->max_hops;
}

/* mc-smtp-server says the transaction is over. */
static void smtp_trans_end(void *ctx)
{
	struct session *s = ctx;
	trans_free(&s->trans);
	s->in_data = false;
}

/* XCLIENT from a trusted proxy: the session is now the real client's
 * (its address in logs, Received headers, filters and limits). */
static void smtp_xclient(void *ctx, struct mc_smtp_server *smtp,
			 const struct mc_smtp_server_xclient *x)
{
	struct session *s = ctx;
	(void)smtp; /* conn_limits_xclient() answers */
	if (x->addr != NULL) {
		char lit[MC_ADDR_STR_MAX + 8];
		snprintf(lit, sizeof(lit),
			 strchr(x->addr, ':') != NULL ? "[%s]:25" : "%s:25",
			 x->addr);
		if (mc_addr_parse(lit, &s->remote, NULL) == 0) {
			mc_logc(&s->log, MC_LOG_INFO, "XCLIENT: client %s",
				x->addr);
			mc_addr_ip_str(&s->remote, s->ip);
			mc_log_ctx_set(&s->log, "ip", "%s", s->ip);
		}
	}
	conn_limits_xclient(s); /* the new client's limits, then 220 */
}

static const struct mc_smtp_server_callbacks callbacks = {
	.write = smtp_write,
	.helo = conn_limits_helo,
	.mail = cmd_mail,
	.rcpt = cmd_rcpt,
	.auth = cmd_auth,
	.vrfy = cmd_vrfy,
	.data_start = data_start,
	.data_chunk = data_chunk,
	.message_end = data_end,
	.starttls = smtp_starttls,
	.xclient = smtp_xclient,
	.transaction_end = smtp_trans_end,
};

/* The listener a connection came in on. */
static enum smtpd_port port_of(const char *listener)
{
	if (strcmp(listener, "listen_submission") == 0)
		return PORT_SUBMISSION;
	if (strcmp(listener, "listen_submissions") == 0)
		return PORT_SUBMISSIONS;
	return PORT_MX;
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
		.free = session_free_owner,
	};
	s->port = port_of(info->listener);
	s->remote = info->remote;
	mc_addr_ip_str(&info->remote, s->ip);
	mc_log_session_id(s->id);
	mc_log_ctx_init(&s->log);
	mc_log_ctx_set(&s->log, "session", "%s", s->id);
	mc_log_ctx_set(&s->log, "ip", "%s", s->ip);
	struct mc_smtp_server_settings set;
	smtp_settings(s, &set);
	struct mc_smtp_server_callbacks cb = callbacks;
	s->smtp = mc_smtp_server_create(&set, &cb, s);
	mc_logc(&s->log, MC_LOG_INFO, "connect on %s", info->listener);
	s->conn = mc_conn_create(loop, bev, info, &conn_callbacks, s);
	session_timeouts(s);
	conn_limits_connect(s); /* the greeting, now or once checked */
}
