/* cmd-auth: AUTH PLAIN / LOGIN (RFC 4954) against the directory. The
 * password check (yescrypt: deliberately slow) runs on a worker; a wrong
 * password is answered after a pause so guessing stays slow even from
 * many connections. An outage is 454 4.7.0, never a wrong-password 535.
 * The right password past the domain's maximum age is refused at once,
 * and only once the password is verified, with 535 5.7.8: RFC 4954's
 * answer when the credentials do not work (RFC 3463 class 5: retrying the
 * same password can never succeed, so not 454 4.7.0, which makes clients
 * retry in silence; not 432 4.7.12, which asks for a SASL mechanism
 * transition; not 525 5.7.13 "User Account Disabled" (RFC 5248), which
 * says only an administrator can help, while the user may change the
 * password in webmail). A 535 makes clients ask for the password again,
 * which is what works once it is changed; the text tells why. */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-redis.h"
#include "smtpd.h"

#define FAIL_DELAY_MS 1000

enum auth_verdict {
	AUTH_BAD = 0, /* wrong login or password: 535 after a pause */
	AUTH_OK,
	AUTH_TEMPFAIL, /* lookup failed (never a wrong password): 454 */
	AUTH_BLOCKED,  /* too many recent failures: 454 */
	AUTH_NO_SMTP,  /* the account may not send: 535 5.7.8 at once */
	AUTH_EXPIRED,  /* right password past its maximum age: 535 5.7.8 */
};

struct auth_job {
	struct mc_pool *pool; /* secure: holds the password */
	const char *authcid, *authzid, *password, *ip;
	const struct mc_login_throttle *throttle;
	const struct mc_policy_settings *policy;
	/* results */
	enum auth_verdict verdict;
	struct mc_directory_login login;
	struct mc_error err;
};

/* Looks the login up, verifies the password, checks its age, then asks
 * the effective policy (the user's switch and its domain's policies)
 * about SMTP. */
static enum auth_verdict
check_password(struct mc_pg *pg, struct mc_redis *redis, struct auth_job *j)
{
	if (j->authzid[0] != '\0' && strcasecmp(j->authzid, j->authcid) != 0)
		return AUTH_BAD; /* no proxy authorization */
	int found =
		mc_directory_login(pg, j->pool, j->authcid, &j->login, &j->err);
	if (found <= 0)
		return found < 0 ? AUTH_TEMPFAIL : AUTH_BAD;
	struct mc_error err = {0};
	if (mc_password_verify(j->password, j->login.password_hash, &err) != 1)
		return AUTH_BAD;
	if (mc_directory_login_expired(&j->login, time(NULL)))
		return AUTH_EXPIRED;
	int ok = mc_policy_allows(pg, redis, j->policy, j->login.tenant_id,
				  j->login.user_id, MC_DIR_PROTO_SMTP, &j->err);
	return ok < 0 ? AUTH_TEMPFAIL : ok ? AUTH_OK : AUTH_NO_SMTP;
}

/* Worker: the throttle, then the password; failures are counted. */
static void auth_work(struct mc_worker *worker, void *ctx)
{
	struct auth_job *j = ctx;
	struct mc_redis *redis = mc_service_worker_redis(worker);
	struct mc_error err = {0};
	if (mc_login_throttle_check(redis, j->throttle, j->ip, j->authcid,
				    &err) == 0) {
		j->verdict = AUTH_BLOCKED;
		return;
	}
	j->verdict = check_password(mc_service_worker_pg(worker), redis, j);
	if (j->verdict == AUTH_BAD)
		mc_login_throttle_failed(redis, j->throttle, j->ip, j->authcid);
	else if (j->verdict == AUTH_OK)
		mc_login_throttle_succeeded(redis, j->throttle, j->authcid);
}

/* Loop: the delayed 535 after a failed attempt. */
static void auth_fail_later(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;
	(void)fd;
	(void)what;
	if (!s->jobs.gone) {
		mc_smtp_server_reply(s->smtp, 535, "5.7.8",
				     "Authentication credentials invalid");
		session_pump(s);
	}
	session_unref(s);
}

/* Loop: a refusal answered at once (anything but a wrong password). */
static void auth_refused(struct session *s, const struct auth_job *j)
{
	const char *why = j->verdict == AUTH_BLOCKED
				  ? "blocked, too many failures"
			  : j->verdict == AUTH_NO_SMTP ? "SMTP disabled for it"
			  : j->verdict == AUTH_EXPIRED ? "password expired"
						       : j->err.msg;
	mc_logc(&s->log,
		j->verdict == AUTH_EXPIRED ? MC_LOG_NOTICE : MC_LOG_WARNING,
		"auth of %s: %s", j->authcid, why);
	if (j->verdict == AUTH_NO_SMTP)
		mc_smtp_server_reply(s->smtp, 535, "5.7.8",
				     "SMTP is disabled for this account");
	else if (j->verdict == AUTH_EXPIRED)
		mc_smtp_server_reply(s->smtp, 535, "5.7.8",
				     MC_DIRECTORY_EXPIRED_TEXT);
	else
		mc_smtp_server_reply(
			s->smtp, 454, "4.7.0",
			j->verdict == AUTH_BLOCKED
				? "Too many failed logins, try later"
				: "Temporary authentication failure");
	session_pump(s);
}

/* Loop: answer the AUTH command. */
static void auth_done(struct session *s, void *ctx)
{
	struct auth_job *j = ctx;
	if (s != NULL && j->verdict == AUTH_OK) {
		s->user.ok = true;
		s->user.tenant_id = j->login.tenant_id;
		s->user.user_id = j->login.user_id;
		snprintf(s->user.address, sizeof(s->user.address), "%s",
			 j->login.address);
		mc_log_ctx_set(&s->log, "user", "%s", j->login.address);
		mc_logc(&s->log, MC_LOG_INFO, "authenticated");
		mc_smtp_server_accept(s->smtp);
		session_pump(s);
	} else if (s != NULL && j->verdict != AUTH_BAD) {
		auth_refused(s, j);
	} else if (s != NULL) {
		mc_logc(&s->log, MC_LOG_NOTICE, "authentication failed for %s",
			j->authcid);
		struct timeval tv = {.tv_sec = FAIL_DELAY_MS / 1000,
				     .tv_usec = (FAIL_DELAY_MS % 1000) * 1000};
		s->jobs.refs++;
		event_base_once(mc_loop_base(s->loop), -1, EV_TIMEOUT,
				auth_fail_later, s, &tv);
	}
	mc_pool_destroy(&j->pool);
}

void cmd_auth(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_auth *auth)
{
	struct session *s = ctx;
	struct mc_pool *pool = mc_pool_create_secure("smtp-auth", 1024);
	struct auth_job *j = mc_palloc(pool, sizeof(*j));
	j->pool = pool;
	j->authcid = mc_pstrdup(pool, auth->authcid);
	j->authzid = mc_pstrdup(pool, auth->authzid);
	j->password = mc_pstrndup(pool, auth->password, auth->password_len);
	j->ip = mc_pstrdup(pool, s->ip);
	j->throttle = &s->d->throttle;
	j->policy = &s->d->policy;
	if (!job_submit(s, auth_work, auth_done, j)) {
		mc_pool_destroy(&pool);
		mc_smtp_server_reply(smtp, 454, "4.7.0",
				     "Temporary authentication failure");
	}
}
