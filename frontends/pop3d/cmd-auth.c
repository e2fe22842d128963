/* cmd-auth: USER/PASS and AUTH PLAIN (the protocol is mc-pop3-server's)
 * against the directory, then the maildrop lock and the maildrop itself
 * (the INBOX: its UIDs, sizes and blobs), all in one worker job. A wrong
 * password is answered after a pause so guessing stays slow; an outage
 * is -ERR [SYS/TEMP], a maildrop in use -ERR [IN-USE]; the right password
 * past the domain's maximum age is -ERR [AUTH] (RFC 3206: a problem with
 * the credentials, not the server) with its own text, told at once and
 * only once the password is verified. */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-redis.h"
#include "pop3d.h"

#define FAIL_DELAY_MS 1000

struct auth_job {
	struct pop3d *d;
	struct mc_pool *pool; /* secure: holds the password */
	const char *user, *authzid, *password, *ip;
	/* results */
	enum mc_pop3_code code; /* NONE: logged in */
	bool expired;		/* AUTH for a right but expired password */
	struct mc_directory_login login;
	struct mc_mailbox_owner owner;
	struct mc_pool *drop_pool; /* the maildrop, for the session */
	struct mc_mailbox_info inbox;
	struct mc_mailbox_msg *msgs;
	size_t count;
	struct lock *lock;
	struct mc_error err;
};

/* Worker: the user, its password and the password's age, then the
 * effective policy's protocols; AUTH, SYS_TEMP, SYS_PERM or NONE. */
static enum mc_pop3_code check_login(struct mc_pg *pg, struct mc_redis *redis,
				     struct auth_job *j)
{
	if (j->authzid[0] != '\0' && strcasecmp(j->authzid, j->user) != 0)
		return MC_POP3_CODE_AUTH; /* no proxy authorization */
	int found =
		mc_directory_login(pg, j->pool, j->user, &j->login, &j->err);
	if (found < 0) /* an error is never a wrong password */
		return MC_POP3_CODE_SYS_TEMP;
	struct mc_error err = {0};
	if (found == 0 ||
	    mc_password_verify(j->password, j->login.password_hash, &err) != 1)
		return MC_POP3_CODE_AUTH;
	if (mc_directory_login_expired(&j->login, time(NULL))) {
		j->expired = true;
		return MC_POP3_CODE_AUTH;
	}
	int ok = mc_policy_allows(pg, redis, &j->d->policy, j->login.tenant_id,
				  j->login.user_id, MC_DIR_PROTO_POP3, &j->err);
	if (ok < 0)
		return MC_POP3_CODE_SYS_TEMP;
	if (ok == 0) {
		mc_error_set(&j->err, MC_ERR_PERMANENT,
			     "POP3 access is disabled for this account");
		return MC_POP3_CODE_SYS_PERM;
	}
	j->owner = (struct mc_mailbox_owner){
		j->login.tenant_id, j->login.user_id, j->login.domain_id};
	return MC_POP3_CODE_NONE;
}

/* Worker: the INBOX's messages with their sizes and blobs; -1 on an
 * error. */
static int load_drop(struct mc_pg *pg, struct auth_job *j)
{
	int r = mc_mailbox_get(pg, j->drop_pool, &j->owner, "INBOX", &j->inbox,
			       &j->err);
	if (r <= 0)
		return r < 0 ? -1 : 0; /* no INBOX: an empty maildrop */
	uint32_t *uids = NULL, uidnext;
	size_t n = 0;
	uint64_t hms;
	if (mc_mailbox_uids(pg, &j->owner, j->inbox.id, 0, &uids, &n, &uidnext,
			    &hms, &j->err) < 0)
		return -1;
	struct mc_imap_seqset set;
	mc_imap_seqset_from_sorted(j->drop_pool, uids, n, &set);
	free(uids);
	if (n == 0)
		return 0;
	return mc_mailbox_fetch(pg, j->drop_pool, &j->owner, j->inbox.id, &set,
				MC_MAILBOX_F_BASIC, &j->msgs, &j->count,
				&j->err) < 0
		       ? -1
		       : 0;
}

/* Worker: login, lock, maildrop. */
static void auth_work(struct mc_worker *worker, void *ctx)
{
	struct auth_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_redis *redis = mc_service_worker_redis(worker);
	struct mc_error err = {0};
	if (mc_login_throttle_check(redis, &j->d->throttle, j->ip, j->user,
				    &err) == 0) {
		mc_error_set(&j->err, MC_ERR_TEMPORARY,
			     "too many failed logins");
		j->code = MC_POP3_CODE_SYS_TEMP;
		return;
	}
	j->code = check_login(pg, redis, j);
	if (j->code == MC_POP3_CODE_AUTH && !j->expired)
		mc_login_throttle_failed(redis, &j->d->throttle, j->ip,
					 j->user);
	if (j->code != MC_POP3_CODE_NONE)
		return;
	mc_login_throttle_succeeded(redis, &j->d->throttle, j->user);
	j->lock = mc_calloc(1, sizeof(*j->lock));
	int locked = lock_take(mc_service_worker_redis(worker), &j->owner,
			       j->lock, &j->err);
	if (locked <= 0) {
		free(j->lock);
		j->lock = NULL;
		j->code = locked == 0 ? MC_POP3_CODE_IN_USE
				      : MC_POP3_CODE_SYS_TEMP;
		return;
	}
	j->drop_pool = mc_pool_create("pop3-drop", 4096);
	if (load_drop(pg, j) < 0)
		j->code = MC_POP3_CODE_SYS_TEMP; /* auth_done releases */
}

/* Loop: the delayed -ERR [AUTH] after a failed attempt. */
static void auth_fail_later(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;
	(void)fd;
	(void)what;
	if (!s->jobs.gone) {
		mc_pop3_server_login_fail(s->pop3, MC_POP3_CODE_AUTH);
		session_pump(s);
	}
	session_unref(s);
}

/* Loop: the session takes the maildrop over from the job. */
static bool enter_drop(struct session *s, struct auth_job *j)
{
	s->pool = j->drop_pool;
	j->drop_pool = NULL;
	s->owner = j->owner;
	s->mailbox_id = j->inbox.id;
	s->count = j->count;
	s->msgs = mc_palloc_array(s->pool, j->count + 1, sizeof(*s->msgs));
	struct mc_pop3_message *pm =
		mc_palloc_array(s->pool, j->count + 1, sizeof(*pm));
	for (size_t i = 0; i < j->count; i++) {
		const struct mc_mailbox_msg *m = &j->msgs[i];
		s->msgs[i] = (struct drop_msg){m->uid, m->size, m->sha256};
		pm[i].size = m->size;
		pm[i].uid = mc_psprintf(s->pool, "%lu.%lu",
					(unsigned long)j->inbox.uidvalidity,
					(unsigned long)m->uid);
	}
	s->lock = j->lock;
	j->lock = NULL;
	lock_keep(s);
	struct mc_pop3_maildrop drop = {j->count, pm};
	return mc_pop3_server_login_ok(s->pop3, &drop);
}

/* Loop: a failed login, answered now or after the pause. */
static void auth_refuse(struct session *s, struct auth_job *j)
{
	if (j->expired) {
		mc_logc(&s->log, MC_LOG_NOTICE, "password of %s expired",
			j->user);
		mc_pop3_server_login_fail_text(s->pop3, MC_POP3_CODE_AUTH,
					       MC_DIRECTORY_EXPIRED_TEXT);
		session_pump(s);
		return;
	}
	if (j->code != MC_POP3_CODE_AUTH) {
		mc_logc(&s->log, MC_LOG_WARNING, "login of %s: %s", j->user,
			j->code == MC_POP3_CODE_IN_USE ? "maildrop in use"
						       : j->err.msg);
		mc_pop3_server_login_fail(s->pop3, j->code);
		session_pump(s);
		return;
	}
	mc_logc(&s->log, MC_LOG_NOTICE, "authentication failed for %s",
		j->user);
	struct timeval tv = {.tv_sec = FAIL_DELAY_MS / 1000,
			     .tv_usec = (FAIL_DELAY_MS % 1000) * 1000};
	s->jobs.refs++;
	event_base_once(mc_loop_base(s->loop), -1, EV_TIMEOUT, auth_fail_later,
			s, &tv);
}

/* Loop: answers the login. */
static void auth_done(struct mc_job_owner *owner, void *ctx)
{
	struct auth_job *j = ctx;
	struct session *s = SESSION_OF(owner);
	if (s != NULL && j->code == MC_POP3_CODE_NONE) {
		mc_log_ctx_set(&s->log, "user", "%s", j->login.address);
		mc_logc(&s->log, MC_LOG_INFO, "logged in, %zu messages",
			j->count);
		(void)enter_drop(s, j);
		session_pump(s);
	} else if (s != NULL) {
		auth_refuse(s, j);
	}
	if (j->lock != NULL) /* not handed over */
		lock_release(j->d, j->lock);
	mc_pool_destroy(&j->drop_pool);
	mc_pool_destroy(&j->pool);
}

void cmd_auth(void *ctx, struct mc_pop3_server *pop3,
	      const struct mc_pop3_server_auth *auth)
{
	struct session *s = ctx;
	struct mc_pool *pool = mc_pool_create_secure("pop3-auth", 1024);
	struct auth_job *j = mc_palloc(pool, sizeof(*j));
	memset(j, 0, sizeof(*j));
	j->d = s->d;
	j->pool = pool;
	j->user = mc_pstrdup(pool, auth->user);
	j->authzid = mc_pstrdup(pool, auth->authzid);
	j->password = mc_pstrndup(pool, auth->password, auth->password_len);
	j->ip = mc_pstrdup(pool, s->ip);
	if (!session_job(s, auth_work, auth_done, j)) {
		mc_pool_destroy(&pool);
		mc_pop3_server_login_fail(pop3, MC_POP3_CODE_SYS_TEMP);
	}
}
