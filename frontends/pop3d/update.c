/* update: the UPDATE state (RFC 1939 6): at QUIT the messages marked
 * with DELE are removed from the INBOX in the store (flagged \Deleted,
 * then expunged by UID, which logs them for IMAP's QRESYNC) and the
 * user's other sessions are told. On failure nothing is lost: the client
 * gets -ERR and may try again. */
#include <stdlib.h>

#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-store.h"
#include "pop3d.h"

struct update_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	struct mc_imap_seqset uids;
	size_t removed;
	int r;
	struct mc_error err;
};

/* Worker: \Deleted on the UIDs, expunge them, tell the others. */
static void update_work(struct mc_worker *worker, void *ctx)
{
	struct update_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_mailbox_change *changed;
	uint32_t *failed, *gone;
	size_t nchanged, nfailed;
	j->r = mc_mailbox_store(pg, j->pool, &j->owner, j->mailbox_id, &j->uids,
				MC_MAILBOX_FLAGS_ADD, MC_STORE_FLAG_DELETED,
				NULL, 0, 0, &changed, &nchanged, &failed,
				&nfailed, &j->err);
	if (j->r == 0)
		j->r = mc_mailbox_expunge(pg, j->pool, &j->owner, j->mailbox_id,
					  &j->uids, &gone, &j->removed,
					  &j->err);
	if (j->r == 0 && j->removed > 0)
		mc_mailbox_notify(mc_service_worker_redis(worker), &j->owner,
				  "expunge", j->mailbox_id, 0);
}

/* Loop: the answer to QUIT. */
static void update_done(struct mc_job_owner *owner, void *ctx)
{
	struct update_job *j = ctx;
	struct session *s = SESSION_OF(owner);
	if (s != NULL && j->r < 0) {
		mc_logc(&s->log, MC_LOG_WARNING, "expunge failed: %s",
			j->err.msg);
		mc_pop3_server_update_fail(s->pop3, NULL);
		session_pump(s);
	} else if (s != NULL) {
		mc_logc(&s->log, MC_LOG_INFO, "expunged %zu messages",
			j->removed);
		mc_pop3_server_update_ok(s->pop3);
		session_pump(s);
	}
	mc_pool_destroy(&j->pool);
}

void cmd_update(void *ctx, struct mc_pop3_server *pop3, const size_t *deleted,
		size_t n)
{
	struct session *s = ctx;
	if (n == 0) {
		mc_pop3_server_update_ok(pop3);
		return;
	}
	struct mc_pool *pool = mc_pool_create("pop3-update", 1024);
	struct update_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct update_job){
		.pool = pool, .owner = s->owner, .mailbox_id = s->mailbox_id};
	uint32_t *uids = mc_palloc_array(pool, n, sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = s->msgs[deleted[i]].uid;
	mc_imap_seqset_from_sorted(pool, uids, n, &j->uids);
	if (!session_job(s, update_work, update_done, j)) {
		mc_pool_destroy(&pool);
		mc_pop3_server_update_fail(pop3, NULL);
	}
}
