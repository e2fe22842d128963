/* session: one SMTP connection on its loop. Client bytes go into the
 * mc-smtp-server state machine only while it can take them (no decision
 * pending, no STARTTLS handshake due, spool not backed up), so input
 * stays bounded and pipelined commands wait in the socket buffer.
 * STARTTLS wraps the bufferevent in an OpenSSL filter once the 220 is
 * out; timeouts follow RFC 5321 4.5.3.2 (command and data phases). */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "smtpd.h"

#define FEED_PIECE (16 * 1024)
#define READ_HIGH  (256 * 1024)

static void on_read(struct bufferevent *bev, void *ctx);
static void on_write(struct bufferevent *bev, void *ctx);
static void on_event(struct bufferevent *bev, short what, void *ctx);

/* Unlinks a session from its loop's list. */
static void session_unlist(struct session *s)
{
	struct session **head = &s->d->sessions[mc_loop_index(s->loop)];
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
}

/* Links a new session into its loop's list. */
static void session_list(struct session *s)
{
	struct session **head = &s->d->sessions[mc_loop_index(s->loop)];
	s->next = *head;
	if (*head != NULL)
		(*head)->prev = s;
	*head = s;
}

/* Frees what the session owns; runs when the last reference goes. */
static void session_free(struct session *s)
{
	session_unlist(s);
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

/* The connection is over: drop the socket, keep the session for the
 * jobs still in flight. flush sends pending replies first. */
static void session_end(struct session *s, bool flush)
{
	if (s->jobs.gone)
		return;
	s->jobs.gone = true;
	if (s->bev != NULL) {
		if (flush)
			mc_service_close_after_write(s->bev);
		else
			bufferevent_free(s->bev);
		s->bev = NULL;
	}
	mc_logc(&s->log, MC_LOG_INFO, "disconnected");
	session_unref(s);
}

/* Tells the client the daemon stops, and closes. */
static void say_goodbye(struct session *s)
{
	char line[320];
	snprintf(line, sizeof(line),
		 "421 4.3.2 %s Service shutting down, try again later\r\n",
		 s->d->hostname);
	if (s->bev != NULL && !s->starting_tls)
		bufferevent_write(s->bev, line, strlen(line));
	session_end(s, true);
}

/* mc-smtp-server's write callback: reply bytes for the client. */
static void smtp_write(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	if (s->bev != NULL)
		bufferevent_write(s->bev, data, len);
}

/* True when the state machine can take more input now. */
static bool can_feed(const struct session *s)
{
	return !s->jobs.gone && !s->stopping &&
	       !mc_smtp_server_pending(s->smtp) &&
	       !mc_smtp_server_awaiting_tls(s->smtp) && !s->starting_tls &&
	       !mc_smtp_server_closing(s->smtp) &&
	       (s->trans == NULL || !spool_backlogged(s->trans));
}

void session_pump(struct session *s)
{
	s->jobs.refs++; /* a callback below may end the session */
	while (s->bev != NULL && can_feed(s)) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		size_t len = evbuffer_get_contiguous_space(in);
		if (len == 0)
			break;
		if (len > FEED_PIECE)
			len = FEED_PIECE;
		unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)len);
		mc_smtp_server_input(s->smtp, p, len);
		if (s->bev != NULL)
			evbuffer_drain(bufferevent_get_input(s->bev), len);
	}
	if (!s->jobs.gone && s->stopping && !mc_smtp_server_pending(s->smtp))
		say_goodbye(s);
	if (!s->jobs.gone && mc_smtp_server_closing(s->smtp))
		session_end(s, true);
	session_unref(s);
}

bool sessions_stop(struct mc_loop *loop, void *ctx)
{
	struct smtpd *d = ctx;
	struct session *s = d->sessions[mc_loop_index(loop)], *next;
	for (; s != NULL; s = next) {
		next = s->next;
		s->stopping = true;
		if (!s->jobs.gone && !mc_smtp_server_pending(s->smtp))
			say_goodbye(s);
	}
	return d->sessions[mc_loop_index(loop)] != NULL || mc_service_closing();
}

void session_timeouts(struct session *s)
{
	if (s->bev == NULL)
		return;
	unsigned ms =
		s->in_data ? s->d->data_timeout_ms : s->d->command_timeout_ms;
	struct timeval rd = {.tv_sec = ms / 1000,
			     .tv_usec = (ms % 1000) * 1000};
	struct timeval wr = {.tv_sec = 600};
	bufferevent_set_timeouts(s->bev, &rd, &wr);
}

/* Notes the negotiated TLS version and cipher for Received headers. */
static void note_tls(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	if (ssl == NULL)
		return;
	s->tls = true;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s",
		 SSL_get_version(ssl));
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s",
		 SSL_get_cipher_name(ssl));
	mc_logc(&s->log, MC_LOG_DEBUG, "TLS %s %s", s->tls_version,
		s->tls_cipher);
}

/* Wraps the connection in TLS once the 220 to STARTTLS is sent. */
static void begin_tls(struct session *s)
{
	SSL *ssl = SSL_new(s->d->tls);
	struct bufferevent *tls =
		ssl == NULL ? NULL
			    : bufferevent_openssl_filter_new(
				      mc_loop_base(s->loop), s->bev, ssl,
				      BUFFEREVENT_SSL_ACCEPTING,
				      BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		mc_logc(&s->log, MC_LOG_ERROR, "cannot start TLS");
		session_end(s, false);
		return;
	}
	s->bev = tls;
	bufferevent_setcb(tls, on_read, on_write, on_event, s);
	bufferevent_setwatermark(tls, EV_READ, 0, READ_HIGH);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	session_timeouts(s);
}

/* mc-smtp-server's STARTTLS decision. */
static void smtp_starttls(void *ctx, struct mc_smtp_server *smtp)
{
	struct session *s = ctx;
	if (s->d->tls == NULL || s->tls) {
		mc_smtp_server_reply(smtp, 454, "4.7.0",
				     "TLS not available due to temporary "
				     "reason");
		return;
	}
	s->starting_tls = true;
	mc_smtp_server_accept(smtp); /* 220; on_write starts TLS */
}

/* Output drained: the moment to start a pending STARTTLS. */
static void on_write(struct bufferevent *bev, void *ctx)
{
	struct session *s = ctx;
	(void)bev;
	if (s->starting_tls && mc_smtp_server_awaiting_tls(s->smtp) &&
	    !s->jobs.gone)
		begin_tls(s);
}

/* Client bytes arrived. */
static void on_read(struct bufferevent *bev, void *ctx)
{
	(void)bev;
	session_pump(ctx);
}

/* Connection events: TLS up, EOF, errors, timeouts. */
static void on_event(struct bufferevent *bev, short what, void *ctx)
{
	struct session *s = ctx;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		note_tls(s);
		if (s->starting_tls) {
			s->starting_tls = false;
			mc_smtp_server_tls_started(s->smtp);
			session_pump(s);
		}
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    mc_smtp_server_pending(s->smtp)) {
		/* the client waits for us (a slow lookup): keep waiting */
		bufferevent_enable(s->bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		mc_logc(&s->log, MC_LOG_INFO, "timeout");
		mc_smtp_server_timeout(s->smtp);
		session_end(s, true);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		mc_logc(&s->log, MC_LOG_INFO, "connection error");
	session_end(s, false);
}

/* A short random session id for logs and queue ids. */
static void make_id(char *buf, size_t size)
{
	unsigned char r[8];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(r) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02X", r[i]);
}

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

static const struct mc_smtp_server_callbacks callbacks = {
	.write = smtp_write,
	.mail = cmd_mail,
	.rcpt = cmd_rcpt,
	.auth = cmd_auth,
	.vrfy = cmd_vrfy,
	.data_start = data_start,
	.data_chunk = data_chunk,
	.message_end = data_end,
	.starttls = smtp_starttls,
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
	s->bev = bev;
	s->jobs = (struct mc_job_owner){
		.workers = mc_service_workers_slot(s->d->service),
		.loop = loop,
		.refs = 1,
		.free = session_free_owner,
	};
	s->port = port_of(info->listener);
	s->remote = info->remote;
	session_list(s);
	mc_addr_ip_str(&info->remote, s->ip);
	make_id(s->id, sizeof(s->id));
	mc_log_ctx_init(&s->log);
	mc_log_ctx_set(&s->log, "session", "%s", s->id);
	mc_log_ctx_set(&s->log, "ip", "%s", s->ip);
	struct mc_smtp_server_settings set;
	smtp_settings(s, &set);
	struct mc_smtp_server_callbacks cb = callbacks;
	s->smtp = mc_smtp_server_create(&set, &cb, s);
	mc_logc(&s->log, MC_LOG_INFO, "connect on %s", info->listener);
	bufferevent_setcb(bev, on_read, on_write, on_event, s);
	bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	session_timeouts(s);
	mc_smtp_server_greet(s->smtp);
}
