/* cmd-mail: MAIL FROM starts a transaction. An authenticated client may
 * only use an envelope sender it owns or was granted (553 5.7.1); the
 * null sender is allowed (MDNs, vacation notices). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

struct mail_job {
	struct trans *t;
	int64_t tenant_id, user_id;
	int verdict; /* 1 allowed, 0 not, -1 temporary */
	struct mc_error err;
};

/* A new transaction for MAIL. */
static struct trans *trans_new(struct session *s,
			       const struct mc_smtp_server_mail *mail)
{
	static unsigned counter;
	struct mc_pool *pool = mc_pool_create("smtp-trans", 4096);
	struct trans *t = mc_palloc(pool, sizeof(*t));
	t->pool = pool;
	unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(t->id, sizeof(t->id), "%.12s%04X", s->id, n & 0xffffu);
	char *sender = mc_pstrdup(pool, mail->from.address);
	char *at = strrchr(sender, '@');
	if (at != NULL)
		mc_str_lower(at); /* domains are case-insensitive */
	t->sender = sender;
	t->envid = mail->envid != NULL ? mc_pstrdup(pool, mail->envid) : NULL;
	t->ret = mail->ret == MC_SMTP_RET_FULL	 ? "full"
		 : mail->ret == MC_SMTP_RET_HDRS ? "hdrs"
						 : NULL;
	t->size_hint = mail->has_size ? mail->size : 0;
	t->rcpts_tail = &t->rcpts;
	return t;
}

void trans_free(struct trans **tp)
{
	struct trans *t = *tp;
	if (t == NULL)
		return;
	*tp = NULL;
	spool_free(&t->spool);
	for (struct rcpt *r = t->rcpts, *next; r != NULL; r = next) {
		next = r->next;
		mc_pool_destroy(&r->pool);
	}
	mc_pool_destroy(&t->pool);
}

/* Worker: may the user send as this address? */
static void mail_work(struct mc_worker *worker, void *ctx)
{
	struct mail_job *j = ctx;
	j->verdict = mc_directory_may_send_as(mc_service_worker_pg(worker),
					      j->tenant_id, j->user_id,
					      j->t->sender, &j->err);
}

/* Loop: answer MAIL. */
static void mail_done(struct session *s, void *ctx)
{
	struct mail_job *j = ctx;
	if (s != NULL) {
		if (j->verdict > 0) {
			mc_smtp_server_accept(s->smtp);
		} else if (j->verdict == 0) {
			mc_logc(&s->log, MC_LOG_NOTICE,
				"sender %s not owned by %s", j->t->sender,
				s->user.address);
			mc_smtp_server_reply(
				s->smtp, 553, "5.7.1",
				"Sender address rejected: not owned by the "
				"authenticated user");
			trans_free(&s->trans);
		} else {
			mc_logc(&s->log, MC_LOG_WARNING, "send-as check: %s",
				j->err.msg);
			mc_smtp_server_reply(s->smtp, 451, "4.3.0",
					     SMTPD_TEMPFAIL_TEXT);
			trans_free(&s->trans);
		}
		session_pump(s);
	}
	free(j);
}

void cmd_mail(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_mail *mail)
{
	struct session *s = ctx;
	trans_free(&s->trans);
	s->trans = trans_new(s, mail);
	if (!s->user.ok || s->trans->sender[0] == '\0') {
		mc_smtp_server_accept(smtp);
		return;
	}
	struct mail_job *j = mc_calloc(1, sizeof(*j));
	j->t = s->trans;
	j->tenant_id = s->user.tenant_id;
	j->user_id = s->user.user_id;
	if (!job_submit(s, mail_work, mail_done, j)) {
		free(j);
		mc_smtp_server_reply(smtp, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		trans_free(&s->trans);
	}
}
