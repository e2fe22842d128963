/* proxy: the proxy mode of mc-imapd. Once a user has logged in here and
 * has an IMAP backend (its own or its tenant's), the session connects to
 * that backend (over TLS when [imapd] proxy_tls), tells it the client's
 * address with ID (RFC 2971 x-originating-ip), logs in there with the
 * same credentials, answers the client with the backend's tagged OK, and
 * from then on relays bytes both ways. The backend can be another
 * mailcore node or any IMAP server (a tenant migrating from a legacy
 * one). A backend that cannot be reached is NO [UNAVAILABLE]. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-imap-write.h"

#define PROXY_TIMEOUT_S 15
#define RELAY_PIECE	(64 * 1024)

enum proxy_state { PX_GREETING, PX_ID, PX_LOGIN, PX_RELAY };

struct proxy {
	struct session *s;
	struct command *cmd; /* the client's LOGIN, until answered */
	struct bufferevent *bev;
	enum proxy_state state;
	struct mc_pool *secret; /* user and password, zeroed at the end */
	const char *user, *password;
	size_t password_len;
};

static SSL_CTX *client_ctx;

int proxy_init(struct imapd *d, const struct mc_config *cfg,
	       struct mc_error *err)
{
	if (!mc_config_bool(cfg, "imapd", "proxy"))
		return 0;
	d->proxy = true;
	d->proxy_tls = mc_config_bool(cfg, "imapd", "proxy_tls");
	if (!d->proxy_tls)
		return 0;
	client_ctx = SSL_CTX_new(TLS_client_method());
	const char *ca = mc_config_str(cfg, "imapd", "proxy_ca");
	if (client_ctx == NULL ||
	    SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION) != 1 ||
	    (*ca != '\0' ? SSL_CTX_load_verify_locations(client_ctx, ca, NULL)
			 : SSL_CTX_set_default_verify_paths(client_ctx)) != 1) {
		mc_error_set(err, MC_ERR_INVALID,
			     "[imapd] proxy_ca: cannot load %s", ca);
		return -1;
	}
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

void proxy_deinit(void)
{
	if (client_ctx != NULL)
		SSL_CTX_free(client_ctx);
	client_ctx = NULL;
}

/* Frees the proxy side (the session stays). */
static void proxy_free(struct proxy *p)
{
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	mc_pool_destroy(&p->secret);
	if (p->s->proxy == p)
		p->s->proxy = NULL;
	free(p);
}

/* The backend failed before the relay: the client's LOGIN gets NO. */
static void proxy_fail(struct proxy *p, const char *why)
{
	struct session *s = p->s;
	struct command *cmd = p->cmd;
	mc_logc(&s->log, MC_LOG_WARNING, "proxy to backend failed: %s", why);
	p->cmd = NULL;
	proxy_free(p);
	s->state = IMAP_NOT_AUTH;
	if (cmd != NULL)
		cmd_no(cmd, "UNAVAILABLE",
		       "Your mailbox server is not reachable, try again later");
}

/* Writes "tag LOGIN user password" with quoted strings (refused before
 * when they cannot be quoted). */
static void send_login(struct proxy *p)
{
	struct mc_buf b;
	mc_buf_init(&b, p->secret, 0);
	mc_buf_append_str(&b, "P2 LOGIN ");
	mc_imap_write_string(&b, p->user, strlen(p->user), false);
	mc_buf_append_c(&b, ' ');
	mc_imap_write_string(&b, p->password, p->password_len, false);
	mc_buf_append_str(&b, "\r\n");
	bufferevent_write(p->bev, b.data, b.len);
	mc_secure_zero(b.data, b.len);
	p->state = PX_LOGIN;
}

/* Sends the client's address with ID. */
static void send_id(struct proxy *p)
{
	char line[256];
	snprintf(line, sizeof(line),
		 "P1 ID (\"x-originating-ip\" \"%s\" \"x-session-id\" "
		 "\"%s\")\r\n",
		 p->s->ip, p->s->id);
	bufferevent_write(p->bev, line, strlen(line));
	p->state = PX_ID;
}

/* The relay: everything from the client goes to the backend. */
void proxy_client_input(struct session *s)
{
	const unsigned char *data;
	size_t n;
	struct proxy *p = s->proxy;
	while (p != NULL && p->state == PX_RELAY && s->conn != NULL &&
	       evbuffer_get_length(bufferevent_get_output(p->bev)) <
		       4 * RELAY_PIECE &&
	       (n = mc_conn_input(s->conn, &data, RELAY_PIECE)) > 0) {
		bufferevent_write(p->bev, data, n);
		mc_conn_consume(s->conn, n);
	}
}

/* Answers the client's LOGIN with the backend's tagged response. */
static void login_answered(struct proxy *p, const char *line)
{
	struct command *cmd = p->cmd;
	struct session *s = p->s;
	const char *rest = line + 3; /* after "P2 " */
	if (strncmp(rest, "OK", 2) != 0) {
		proxy_fail(p, line);
		return;
	}
	p->state = PX_RELAY;
	p->cmd = NULL;
	mc_pool_destroy(&p->secret);
	bufferevent_set_timeouts(p->bev, NULL, NULL); /* sessions idle long */
	mc_logc(&s->log, MC_LOG_INFO, "proxied to its backend");
	session_printf(s, "%s %s\r\n", cmd->tag, rest);
	command_discard(cmd);
	s->state = IMAP_AUTH;
	proxy_client_input(s);
}

/* One line from the backend before the relay. */
static void backend_line(struct proxy *p, char *line)
{
	size_t len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (p->state == PX_GREETING) {
		if (strncmp(line, "* OK", 4) != 0)
			proxy_fail(p, line);
		else
			send_id(p);
	} else if (p->state == PX_ID && strncmp(line, "P1 ", 3) == 0) {
		send_login(p);
	} else if (p->state == PX_LOGIN && strncmp(line, "P2 ", 3) == 0) {
		login_answered(p, line);
	}
}

/* Backend bytes: lines until the relay, then straight to the client. */
static void backend_read(struct bufferevent *bev, void *ctx)
{
	struct proxy *p = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (p->state != PX_RELAY) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL)
			return;
		struct session *s = p->s;
		backend_line(p, line);
		free(line);
		if (s->proxy != p)
			return; /* failed: p is gone */
	}
	struct session *s = p->s;
	size_t n;
	while (s->conn != NULL && (n = evbuffer_get_length(in)) > 0) {
		unsigned char *data = evbuffer_pullup(in, (ev_ssize_t)n);
		mc_conn_write(s->conn, data, n);
		evbuffer_drain(in, n);
	}
}

/* The backend's output drained: read more from the client. */
static void backend_written(struct bufferevent *bev, void *ctx)
{
	struct proxy *p = ctx;
	(void)bev;
	if (p->state == PX_RELAY)
		proxy_client_input(p->s);
}

/* Backend connected, closed or failed. */
static void backend_event(struct bufferevent *bev, short what, void *ctx)
{
	struct proxy *p = ctx;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (p->state != PX_RELAY) {
		proxy_fail(p, what & BEV_EVENT_TIMEOUT ? "timeout"
						       : "connection failed");
		return;
	}
	struct session *s = p->s;
	proxy_free(p);
	session_close(s); /* the backend ended the session */
}

/* A bufferevent to the backend, with TLS when configured. */
static struct bufferevent *backend_bev(struct session *s, const char *host)
{
	struct event_base *base = mc_loop_base(s->loop);
	int opts = BEV_OPT_CLOSE_ON_FREE;
	if (!s->d->proxy_tls)
		return bufferevent_socket_new(base, -1, opts);
	SSL *ssl = SSL_new(client_ctx);
	if (ssl == NULL)
		return NULL;
	SSL_set_tlsext_host_name(ssl, host);
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	return bufferevent_openssl_socket_new(base, -1, ssl,
					      BUFFEREVENT_SSL_CONNECTING, opts);
}

void proxy_start(struct command *cmd, const char *backend, const char *user,
		 const char *password, size_t password_len)
{
	struct session *s = cmd->s;
	struct mc_sockaddr addr;
	char host[MC_ADDR_STR_MAX];
	if (mc_addr_parse(backend, &addr, NULL) < 0) {
		cmd_no(cmd, "UNAVAILABLE", "Mailbox server misconfigured");
		mc_logc(&s->log, MC_LOG_ERROR, "bad imap backend \"%s\"",
			backend);
		return;
	}
	struct proxy *p = mc_calloc(1, sizeof(*p));
	p->s = s;
	p->cmd = cmd;
	p->secret = mc_pool_create_secure("imap-proxy", 512);
	p->user = mc_pstrdup(p->secret, user);
	p->password = mc_pstrndup(p->secret, password, password_len);
	p->password_len = password_len;
	s->proxy = p;
	mc_addr_ip_str(&addr, host);
	p->bev = backend_bev(s, host);
	struct timeval tv = {.tv_sec = PROXY_TIMEOUT_S};
	if (p->bev == NULL) {
		proxy_fail(p, "cannot create the connection");
		return;
	}
	bufferevent_setcb(p->bev, backend_read, backend_written, backend_event,
			  p);
	bufferevent_set_timeouts(p->bev, &tv, &tv);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&addr.ss,
				       (int)addr.len) < 0)
		proxy_fail(p, "connect failed");
}

void proxy_session_gone(struct session *s)
{
	if (s->proxy == NULL)
		return;
	struct proxy *p = s->proxy;
	if (p->cmd != NULL) {
		command_discard(p->cmd);
		p->cmd = NULL;
	}
	proxy_free(p);
}

bool proxy_relaying(const struct session *s)
{
	return s->proxy != NULL && s->proxy->state == PX_RELAY;
}
