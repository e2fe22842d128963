/* session: one POP3 connection on its loop (an mc_conn). Client bytes go
 * into the mc-pop3-server state machine only while no decision is
 * pending (login, RETR, QUIT's expunge run on workers), so pipelined
 * commands wait in the socket buffer. STLS is mc-conn's once the +OK is
 * out; the session times out after 10 minutes without a command (RFC
 * 1939 3). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3d.h"

#define FEED_PIECE	(16 * 1024)
#define IDLE_TIMEOUT_MS (10 * 60 * 1000)

/* Frees what the session owns; runs when the last reference goes. */
static void session_free(struct session *s)
{
	retr_free(&s->retr);
	mc_pop3_server_destroy(&s->pop3);
	mc_pool_destroy(&s->pool);
	free(s);
}

void session_unref(struct session *s)
{
	mc_job_owner_unref(&s->jobs);
}

/* struct mc_job_owner's free: the last reference went. */
static void session_free_owner(struct mc_job_owner *owner)
{
	session_free(SESSION_OF(owner));
}

bool session_job(struct session *s, mc_job_fn *work, mc_owner_done_fn *done,
		 void *ctx)
{
	return mc_job_owner_submit(&s->jobs, work, done, ctx);
}

/* The connection is over: close it once pending replies are out, give
 * the maildrop lock up, keep the session for the jobs in flight. */
static void session_end(struct session *s)
{
	if (s->jobs.gone)
		return;
	s->jobs.gone = true;
	if (s->conn != NULL) {
		mc_conn_close(s->conn);
		s->conn = NULL;
	}
	if (s->lock_timer != NULL)
		event_free(s->lock_timer);
	s->lock_timer = NULL;
	if (s->lock != NULL)
		lock_release(s->d, s->lock);
	s->lock = NULL;
	mc_logc(&s->log, MC_LOG_INFO, "disconnected");
	session_unref(s);
}

/* Tells the client the daemon stops, and closes. */
static void say_goodbye(struct session *s)
{
	static const char bye[] = "-ERR [SYS/TEMP] Server shutting down\r\n";
	if (s->conn != NULL && !mc_pop3_server_awaiting_tls(s->pop3))
		mc_conn_write(s->conn, bye, sizeof(bye) - 1);
	session_end(s);
}

/* mc-pop3-server's write callback: reply bytes for the client. */
static void pop3_write(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	if (s->conn != NULL)
		mc_conn_write(s->conn, data, len);
}

/* True when the state machine can take more input now. */
static bool can_feed(const struct session *s)
{
	return !s->jobs.gone && !s->stopping &&
	       !mc_pop3_server_pending(s->pop3) &&
	       !mc_pop3_server_awaiting_tls(s->pop3) &&
	       !mc_pop3_server_closing(s->pop3);
}

void session_pump(struct session *s)
{
	s->jobs.refs++; /* a callback below may end the session */
	while (s->conn != NULL && can_feed(s)) {
		const unsigned char *p;
		size_t len = mc_conn_input(s->conn, &p, FEED_PIECE);
		if (len == 0)
			break;
		mc_pop3_server_input(s->pop3, p, len);
		if (s->conn != NULL)
			mc_conn_consume(s->conn, len);
	}
	if (!s->jobs.gone && s->stopping && !mc_pop3_server_pending(s->pop3))
		say_goodbye(s);
	if (!s->jobs.gone && mc_pop3_server_closing(s->pop3))
		session_end(s);
	session_unref(s);
}

/* mc-pop3-server's STLS decision. */
static void pop3_stls(void *ctx, struct mc_pop3_server *pop3)
{
	struct session *s = ctx;
	if (s->d->tls == NULL || mc_conn_tls(s->conn, NULL, NULL)) {
		mc_pop3_server_stls_fail(pop3);
		return;
	}
	mc_pop3_server_stls_ok(pop3); /* the +OK, then TLS */
	mc_conn_start_tls(s->conn, s->d->tls);
}

/* mc_conn: client bytes arrived. */
static void conn_readable(void *ctx)
{
	session_pump(ctx);
}

/* mc_conn: TLS is up (implicit, or after STLS). */
static void conn_tls_ready(void *ctx)
{
	struct session *s = ctx;
	const char *version, *cipher;
	if (mc_conn_tls(s->conn, &version, &cipher))
		mc_logc(&s->log, MC_LOG_DEBUG, "TLS %s %s", version, cipher);
	if (mc_pop3_server_awaiting_tls(s->pop3)) {
		mc_pop3_server_tls_started(s->pop3);
		session_pump(s);
	}
}

/* mc_conn: no command for the idle timeout. */
static void conn_timeout(void *ctx)
{
	struct session *s = ctx;
	if (mc_pop3_server_pending(s->pop3))
		return; /* the client waits for us: wait on */
	mc_logc(&s->log, MC_LOG_INFO, "timeout");
	mc_pop3_server_timeout(s->pop3);
	session_end(s);
}

/* mc_conn: the client went away or the connection failed. */
static void conn_closed(void *ctx)
{
	struct session *s = ctx;
	s->conn = NULL;
	session_end(s);
}

/* mc_conn: the daemon stops: goodbye now, or once the answer in
 * progress is out (session_pump). No QUIT: nothing is expunged. */
static void conn_stop(void *ctx)
{
	struct session *s = ctx;
	s->stopping = true;
	if (!s->jobs.gone && !mc_pop3_server_pending(s->pop3))
		say_goodbye(s);
}

static const struct mc_conn_callbacks conn_callbacks = {
	.readable = conn_readable,
	.tls_ready = conn_tls_ready,
	.timeout = conn_timeout,
	.closed = conn_closed,
	.stop = conn_stop,
};

static const struct mc_pop3_server_callbacks pop3_callbacks = {
	.write = pop3_write,
	.auth = cmd_auth,
	.stls = pop3_stls,
	.retr = cmd_retr,
	.update = cmd_update,
};

/* mc-pop3-server settings for a connection. */
static void pop3_settings(const struct session *s,
			  const struct mc_conn_info *info,
			  struct mc_pop3_server_settings *set)
{
	const struct pop3d *d = s->d;
	mc_pop3_server_settings_init(set);
	set->hostname = d->hostname;
	set->implementation = "mailcore " MC_VERSION;
	set->stls = d->tls != NULL;
	set->tls_active = info->tls;
	set->plaintext_auth = mc_cidr_list_match(
		d->plain_auth_nets, d->plain_auth_nets_count, &info->remote);
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
	mc_addr_ip_str(&info->remote, s->ip);
	mc_log_ctx_init(&s->log);
	mc_log_ctx_set(&s->log, "ip", "%s", s->ip);
	struct mc_pop3_server_settings set;
	pop3_settings(s, info, &set);
	s->pop3 = mc_pop3_server_create(&set, &pop3_callbacks, s);
	mc_logc(&s->log, MC_LOG_INFO, "connect on %s", info->listener);
	s->conn = mc_conn_create(loop, bev, info, &conn_callbacks, s);
	mc_conn_set_timeout(s->conn, IDLE_TIMEOUT_MS);
	mc_pop3_server_greet(s->pop3);
}
