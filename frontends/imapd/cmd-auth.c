/* cmd-auth: the commands of any state and of the not-authenticated state
 * (RFC 3501 6.1, 6.2): CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), ENABLE
 * (RFC 5161), STARTTLS, LOGIN, AUTHENTICATE PLAIN (with SASL-IR, RFC
 * 4959) and COMPRESS=DEFLATE (RFC 4978). A wrong password is answered
 * after a pause; a storage outage is NO [UNAVAILABLE], never a wrong
 * password; the right password past the domain's maximum age is
 * NO [EXPIRED] (RFC 5530), told only once the password is verified. */
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-redis.h"

#define FAIL_DELAY_MS 1000

static const char caps_any[] = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID "
			       "ENABLE";
static const char caps_auth[] =
	" IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN LIST-EXTENDED "
	"LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES SORT "
	"SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT CONDSTORE "
	"QRESYNC QUOTA QUOTA=RES-STORAGE BINARY "
	"STATUS=SIZE MULTIAPPEND UTF8=ACCEPT";

/* True when a password may be sent on this connection now. */
static bool plaintext_ok(const struct session *s)
{
	return s->tls ||
	       mc_cidr_list_match(s->d->plain_auth_nets,
				  s->d->plain_auth_nets_count, &s->remote);
}

void capabilities(const struct session *s, struct mc_buf *out)
{
	mc_buf_append_str(out, caps_any);
	if (s->state == IMAP_NOT_AUTH) {
		if (s->d->tls != NULL && !s->tls)
			mc_buf_append_str(out, " STARTTLS");
		mc_buf_append_str(out, plaintext_ok(s) ? " AUTH=PLAIN"
						       : " LOGINDISABLED");
		return;
	}
	mc_buf_append_str(out, caps_auth);
	mc_buf_printf(out, " APPENDLIMIT=%llu",
		      (unsigned long long)s->d->append_limit);
	if (s->conn != NULL && !mc_conn_compressing(s->conn))
		mc_buf_append_str(out, " COMPRESS=DEFLATE");
}

/* CAPABILITY */
static void cmd_capability(struct command *cmd)
{
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, "* CAPABILITY ");
	capabilities(cmd->s, &b);
	mc_buf_append_str(&b, "\r\n");
	session_write(cmd->s, b.data, b.len);
	cmd_ok(cmd, NULL, "CAPABILITY completed");
}

/* The tagged OK after a sync. */
static void noop_done(struct command *cmd)
{
	cmd_ok(cmd, NULL, "NOOP completed");
}

/* NOOP, CHECK: report what changed in the selected mailbox. */
static void cmd_noop(struct command *cmd)
{
	if (cmd->s->sel == NULL) {
		cmd_ok(cmd, NULL, "NOOP completed");
		return;
	}
	cmd->s->sel->dirty = true;
	sync_then(cmd, true, noop_done);
}

/* LOGOUT */
static void cmd_logout(struct command *cmd)
{
	struct session *s = cmd->s;
	session_puts(s, "* BYE Logging out\r\n");
	s->state = IMAP_LOGOUT;
	cmd_ok(cmd, NULL, "LOGOUT completed");
	session_close(s);
}

/* From a trusted proxy, "x-originating-ip" names the real client: the
 * session then logs and throttles as that address. */
static void originating_ip(struct session *s, const char *v, size_t len)
{
	char ip[MC_ADDR_STR_MAX];
	struct mc_sockaddr sa;
	char probe[MC_ADDR_STR_MAX + 8];
	if (len == 0 || len >= sizeof(ip) ||
	    !mc_cidr_list_match(s->d->proxy_nets, s->d->proxy_nets_count,
				&s->remote))
		return;
	memcpy(ip, v, len);
	ip[len] = '\0';
	snprintf(probe, sizeof(probe), strchr(ip, ':') ? "[%s]:1" : "%s:1", ip);
	if (mc_addr_parse(probe, &sa, NULL) < 0)
		return;
	mc_logc(&s->log, MC_LOG_INFO, "proxied for client %s", ip);
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	mc_log_ctx_set(&s->log, "ip", "%s", ip);
}

/* ID ("(name value ...)" or NIL): logged, answered with ours. */
static void cmd_id(struct command *cmd)
{
	struct session *s = cmd->s;
	if (cmd->argc != 1 || (cmd->args[0].type != MC_IMAP_ARG_NIL &&
			       cmd->args[0].type != MC_IMAP_ARG_LIST)) {
		cmd_bad(cmd, "Expected ID (fields) or ID NIL");
		return;
	}
	const struct mc_imap_arg *l = &cmd->args[0];
	for (size_t i = 0; i + 1 < l->list_count && i < 60; i += 2) {
		const char *k, *v;
		size_t kl, vl;
		if (!mc_imap_arg_string(&l->list[i], &k, &kl) ||
		    !mc_imap_arg_string(&l->list[i + 1], &v, &vl))
			continue;
		mc_logc(&s->log, MC_LOG_DEBUG, "ID %.*s=%.*s",
			(int)(kl > 30 ? 30 : kl), k, (int)(vl > 100 ? 100 : vl),
			v);
		if (s->state == IMAP_NOT_AUTH && kl == 16 &&
		    strncasecmp(k, "x-originating-ip", 16) == 0)
			originating_ip(s, v, vl);
	}
	session_puts(s, "* ID (\"name\" \"mailcore\" \"version\" \"" MC_VERSION
			"\")\r\n");
	cmd_ok(cmd, NULL, "ID completed");
}

/* ENABLE capability... (RFC 5161): IMAP4rev2, CONDSTORE, QRESYNC,
 * UTF8=ACCEPT. */
static void cmd_enable(struct command *cmd)
{
	struct session *s = cmd->s;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, "* ENABLED");
	for (size_t i = 0; i < cmd->argc; i++) {
		const struct mc_imap_arg *a = &cmd->args[i];
		bool *flag = mc_imap_arg_is(a, "IMAP4rev2")	? &s->rev2
			     : mc_imap_arg_is(a, "CONDSTORE")	? &s->condstore
			     : mc_imap_arg_is(a, "QRESYNC")	? &s->qresync
			     : mc_imap_arg_is(a, "UTF8=ACCEPT") ? &s->utf8
								: NULL;
		if (flag == NULL || *flag)
			continue;
		*flag = true;
		mc_buf_printf(&b, " %s", a->str);
	}
	if (s->qresync)
		s->condstore = true;
	if (s->rev2)
		s->utf8 = true;
	mc_buf_append_str(&b, "\r\n");
	session_write(s, b.data, b.len);
	cmd_ok(cmd, NULL, "ENABLE completed");
}

/* STARTTLS */
static void cmd_starttls(struct command *cmd)
{
	struct session *s = cmd->s;
	if (s->d->tls == NULL || s->tls) {
		cmd_bad(cmd, s->tls ? "TLS is already active"
				    : "TLS is not available");
		return;
	}
	cmd_ok(cmd, NULL, "Begin TLS negotiation now");
	session_start_tls(s);
}

/* COMPRESS DEFLATE */
static void cmd_compress(struct command *cmd)
{
	struct session *s = cmd->s;
	if (cmd->argc != 1 || !mc_imap_arg_is(&cmd->args[0], "DEFLATE")) {
		cmd_bad(cmd, "Only COMPRESS DEFLATE is supported");
		return;
	}
	if (s->conn == NULL || mc_conn_compressing(s->conn)) {
		cmd_no(cmd, "COMPRESSIONACTIVE", "Compression is already on");
		return;
	}
	cmd_ok(cmd, NULL, "DEFLATE active");
	session_start_compress(s);
}

/* A login attempt on a worker. */
enum login_verdict {
	LOGIN_BAD = 0, /* wrong login or password */
	LOGIN_OK,
	LOGIN_TEMPFAIL, /* lookup failed: never a wrong password */
	LOGIN_BLOCKED,	/* too many recent failures */
	LOGIN_NO_IMAP,	/* the account may not use IMAP */
	LOGIN_EXPIRED,	/* right password, past the domain's maximum age */
};

struct login_job {
	struct mc_pool *pool; /* secure: holds the password */
	char *login, *password;
	const char *ip;
	const struct mc_login_throttle *throttle;
	const struct mc_policy_settings *policy;
	enum login_verdict verdict;
	struct mc_directory_login user;
	struct mc_error err;
};

/* Looks the login up, verifies the password, checks its age, then asks
 * the effective policy (the user's switch and its domain's policies)
 * about IMAP. */
static enum login_verdict
check_password(struct mc_pg *pg, struct mc_redis *redis, struct login_job *j)
{
	int found =
		mc_directory_login(pg, j->pool, j->login, &j->user, &j->err);
	if (found <= 0)
		return found < 0 ? LOGIN_TEMPFAIL : LOGIN_BAD;
	struct mc_error err = {0};
	if (mc_password_verify(j->password, j->user.password_hash, &err) != 1)
		return LOGIN_BAD;
	if (mc_directory_login_expired(&j->user, time(NULL)))
		return LOGIN_EXPIRED;
	int ok = mc_policy_allows(pg, redis, j->policy, j->user.tenant_id,
				  j->user.user_id, MC_DIR_PROTO_IMAP, &j->err);
	return ok < 0 ? LOGIN_TEMPFAIL : ok ? LOGIN_OK : LOGIN_NO_IMAP;
}

/* Worker: the throttle, then the password; failures are counted. */
static void login_work(struct mc_worker *worker, void *ctx)
{
	struct login_job *j = ctx;
	struct mc_redis *redis = mc_service_worker_redis(worker);
	struct mc_error err = {0};
	if (mc_login_throttle_check(redis, j->throttle, j->ip, j->login,
				    &err) == 0) {
		j->verdict = LOGIN_BLOCKED;
		return;
	}
	j->verdict = check_password(mc_service_worker_pg(worker), redis, j);
	if (j->verdict == LOGIN_BAD)
		mc_login_throttle_failed(redis, j->throttle, j->ip, j->login);
	else if (j->verdict == LOGIN_OK)
		mc_login_throttle_succeeded(redis, j->throttle, j->login);
}

/* Loop: the NO after the pause of a failed login. */
static void login_fail_later(evutil_socket_t fd, short what, void *ctx)
{
	struct command *cmd = ctx;
	(void)fd;
	(void)what;
	if (cmd->s->jobs.gone) {
		struct session *s = cmd->s;
		command_discard(cmd);
		mc_job_owner_unref(&s->jobs);
		return;
	}
	struct session *s = cmd->s;
	cmd_no(cmd, "AUTHENTICATIONFAILED", "Authentication failed");
	mc_job_owner_unref(&s->jobs);
}

/* Becomes the user: state, log context, registry, timeouts. */
static void logged_in(struct command *cmd, const struct mc_directory_login *u)
{
	struct session *s = cmd->s;
	s->state = IMAP_AUTH;
	s->owner = (struct mc_mailbox_owner){u->tenant_id, u->user_id,
					     u->domain_id};
	snprintf(s->user, sizeof(s->user), "%s", u->address);
	mc_log_ctx_set(&s->log, "user", "%s", u->address);
	mc_logc(&s->log, MC_LOG_INFO, "logged in");
	notify_register(s);
	session_timeouts(s);
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, "CAPABILITY ");
	capabilities(s, &b);
	cmd_ok(cmd, mc_buf_cstr(&b), "Logged in");
}

/* Loop: the answer to LOGIN or AUTHENTICATE. */
static void login_done(struct command *cmd, void *ctx)
{
	struct login_job *j = ctx;
	if (cmd == NULL) {
		mc_pool_destroy(&j->pool);
		return;
	}
	struct session *s = cmd->s;
	unsigned limit = s->d->max_sessions_per_user;
	bool ok = j->verdict == LOGIN_OK;
	if (ok && limit > 0 &&
	    notify_user_sessions(j->user.tenant_id, j->user.user_id) >= limit) {
		mc_logc(&s->log, MC_LOG_NOTICE, "too many sessions for %s",
			j->login);
		cmd_no(cmd, "LIMIT", "Too many sessions for this user");
	} else if (ok && s->d->proxy && j->user.imap_backend != NULL) {
		mc_log_ctx_set(&s->log, "user", "%s", j->user.address);
		proxy_start(cmd, j->user.imap_backend, j->login, j->password,
			    strlen(j->password));
	} else if (ok) {
		logged_in(cmd, &j->user);
	} else if (j->verdict == LOGIN_TEMPFAIL) {
		mc_logc(&s->log, MC_LOG_WARNING, "login lookup: %s",
			j->err.msg);
		cmd_no(cmd, "UNAVAILABLE",
		       "Temporary failure, try again later");
	} else if (j->verdict == LOGIN_BLOCKED) {
		mc_logc(&s->log, MC_LOG_NOTICE,
			"login for %s blocked: too many failures", j->login);
		cmd_no(cmd, "UNAVAILABLE",
		       "Too many failed logins; try again later");
	} else if (j->verdict == LOGIN_NO_IMAP) {
		mc_logc(&s->log, MC_LOG_NOTICE, "IMAP disabled for %s",
			j->login);
		cmd_no(cmd, "AUTHORIZATIONFAILED",
		       "IMAP access is disabled for this account");
	} else if (j->verdict == LOGIN_EXPIRED) {
		mc_logc(&s->log, MC_LOG_NOTICE, "password of %s expired",
			j->login);
		cmd_no(cmd, "EXPIRED", MC_DIRECTORY_EXPIRED_TEXT);
	} else {
		mc_logc(&s->log, MC_LOG_NOTICE, "login failed for %s",
			j->login);
		struct timeval tv = {.tv_sec = FAIL_DELAY_MS / 1000};
		s->jobs.refs++;
		event_base_once(mc_loop_base(s->loop), -1, EV_TIMEOUT,
				login_fail_later, cmd, &tv);
	}
	mc_pool_destroy(&j->pool);
}

/* Starts checking login/password (copied into a secure pool). */
static void start_login(struct command *cmd, const char *login,
			const char *password, size_t password_len)
{
	if (!plaintext_ok(cmd->s)) {
		cmd_no(cmd, "PRIVACYREQUIRED",
		       "Use STARTTLS (or port 993) before logging in");
		return;
	}
	struct mc_pool *pool = mc_pool_create_secure("imap-login", 1024);
	struct login_job *j = mc_palloc(pool, sizeof(*j));
	j->pool = pool;
	j->login = mc_pstrdup(pool, login);
	j->password = mc_pstrndup(pool, password, password_len);
	j->ip = mc_pstrdup(pool, cmd->s->ip);
	j->throttle = &cmd->s->d->throttle;
	j->policy = &cmd->s->d->policy;
	if (!cmd_job(cmd, login_work, login_done, j))
		mc_pool_destroy(&pool);
}

/* LOGIN userid password */
static void cmd_login(struct command *cmd)
{
	const char *user, *pass;
	size_t ulen, plen;
	if (cmd->argc != 2 ||
	    !mc_imap_arg_string(&cmd->args[0], &user, &ulen) ||
	    !mc_imap_arg_string(&cmd->args[1], &pass, &plen)) {
		cmd_bad(cmd, "Expected LOGIN user password");
		return;
	}
	start_login(cmd, user, pass, plen);
	mc_secure_zero((void *)pass, plen);
}

/* Checks a PLAIN response (authzid NUL authcid NUL password) and logs in. */
static void plain_response(struct command *cmd, const char *b64, size_t len)
{
	unsigned char buf[1024];
	if (len == 1 && b64[0] == '*') {
		cmd_bad(cmd, "AUTHENTICATE cancelled");
		return;
	}
	int n = len > 0 && len < 1300
			? EVP_DecodeBlock(buf, (const unsigned char *)b64,
					  (int)len)
			: -1;
	while (n > 0 && len >= 1 && b64[len - 1] == '=' && n > 0)
		n--, len--;
	const char *authz = (const char *)buf;
	const char *authc = n > 0 ? memchr(buf, 0, (size_t)n) : NULL;
	const char *pass = authc != NULL
				   ? memchr(authc + 1, 0,
					    (size_t)(n - (authc + 1 - authz)))
				   : NULL;
	if (pass == NULL) {
		cmd_bad(cmd, "Malformed PLAIN response");
		return;
	}
	authc++;
	pass++;
	if (*authz != '\0' && strcasecmp(authz, authc) != 0) {
		cmd_no(cmd, "AUTHORIZATIONFAILED", "No proxy authorization");
		return;
	}
	start_login(cmd, authc, pass, (size_t)(n - (pass - authz)));
	mc_secure_zero(buf, sizeof(buf));
}

/* The client's response line to "+ ". */
static void auth_line(struct command *cmd, const char *line, size_t len)
{
	cmd->receiving = false;
	cmd->line = NULL;
	mc_imap_parser_set_line_mode(cmd->s->parser, false);
	plain_response(cmd, line, len);
}

/* AUTHENTICATE PLAIN [initial-response] */
static void cmd_authenticate(struct command *cmd)
{
	if (cmd->argc < 1 || cmd->argc > 2 ||
	    cmd->args[0].type != MC_IMAP_ARG_ATOM) {
		cmd_bad(cmd, "Expected AUTHENTICATE mechanism");
		return;
	}
	if (!mc_imap_arg_is(&cmd->args[0], "PLAIN")) {
		cmd_no(cmd, "CANNOT", "Unsupported authentication mechanism");
		return;
	}
	if (!plaintext_ok(cmd->s)) {
		cmd_no(cmd, "PRIVACYREQUIRED",
		       "Use STARTTLS (or port 993) before logging in");
		return;
	}
	if (cmd->argc == 2) {
		const char *ir = cmd->args[1].str;
		size_t len = cmd->args[1].len;
		plain_response(cmd, ir, strcmp(ir, "=") == 0 ? 0 : len);
		return;
	}
	cmd->receiving = true;
	cmd->line = auth_line;
	mc_imap_parser_set_line_mode(cmd->s->parser, true);
	session_puts(cmd->s, "+ \r\n");
}

#define ANY_STATE (IMAP_NOT_AUTH | IMAP_AUTH | IMAP_SELECTED)
const struct command_def auth_command_defs[] = {
	{"CAPABILITY", ANY_STATE, false, cmd_capability, false},
	{"NOOP", ANY_STATE, false, cmd_noop, false},
	{"CHECK", IMAP_SELECTED, false, cmd_noop, false},
	{"LOGOUT", ANY_STATE, false, cmd_logout, false},
	{"ID", ANY_STATE, false, cmd_id, false},
	{"ENABLE", IMAP_AUTH | IMAP_SELECTED, false, cmd_enable, false},
	{"STARTTLS", IMAP_NOT_AUTH, false, cmd_starttls, false},
	{"LOGIN", IMAP_NOT_AUTH, false, cmd_login, false},
	{"AUTHENTICATE", IMAP_NOT_AUTH, false, cmd_authenticate, false},
	{"COMPRESS", IMAP_AUTH | IMAP_SELECTED, false, cmd_compress, false},
	{NULL, 0, false, NULL, false},
};
