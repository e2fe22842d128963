/* train: teaches the tenant's Bayesian classifier (mc-bayes) from what
 * users do: messages COPYed or MOVEd into Junk are learned as spam, out
 * of Junk into any mailbox but Trash as ham. The learning is a worker job
 * of its own, queued once the command's transaction committed: it never
 * holds up or fails the command, and a failure is only logged. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "mailcore/mc-bayes.h"
#include "mailcore/mc-pg.h"

/* Messages learned from one command at most (the rest are skipped). */
#define TRAIN_MAX 1000

enum train_kind { TRAIN_NONE, TRAIN_SPAM, TRAIN_HAM };

/* The classifier and the daemon (set at start, read-only after). */
static struct {
	struct imapd *d;
	struct mc_bayes *bayes;
} train;

/* One command's learning while it waits and runs (heap). */
struct train_job {
	struct mc_mailbox_owner owner;
	int64_t src_mailbox_id, dst_mailbox_id;
	int64_t *uids; /* in the destination */
	size_t count;
};

/* A blob being read by mc-bayes. */
struct train_read {
	struct mc_blob_reader *r;
};

void train_init(struct imapd *d)
{
	train.d = d;
	train.bayes = mc_bayes_create(NULL);
}

void train_deinit(void)
{
	mc_bayes_destroy(&train.bayes);
}

/* mc_bayes_read_fn over a blob. */
static ssize_t blob_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct train_read *t = ctx;
	struct mc_error err = {0};
	return mc_blob_pread(t->r, buf, len, offset, &err);
}

/* True for the mailbox row (special_use, name) of a Junk or Trash box. */
static bool is_box(PGresult *res, int row, const char *use, const char *name)
{
	return strcmp(PQgetvalue(res, row, 1), use) == 0 ||
	       strcasecmp(PQgetvalue(res, row, 2), name) == 0;
}

/* What moving from the source to the destination teaches, from their
 * rows; TRAIN_NONE when either is gone. */
static enum train_kind kind_of(const struct train_job *j, PGresult *res)
{
	int src = -1, dst = -1;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (id == j->src_mailbox_id)
			src = i;
		if (id == j->dst_mailbox_id)
			dst = i;
	}
	if (src < 0 || dst < 0 || src == dst)
		return TRAIN_NONE;
	bool src_junk = is_box(res, src, "\\Junk", "Junk");
	bool dst_junk = is_box(res, dst, "\\Junk", "Junk");
	if (dst_junk && !src_junk)
		return TRAIN_SPAM;
	if (src_junk && !dst_junk && !is_box(res, dst, "\\Trash", "Trash"))
		return TRAIN_HAM;
	return TRAIN_NONE;
}

/* Reads both mailboxes of the job: the kind of learning, or -1. */
static int job_kind(struct mc_pg *pg, struct mc_pool *pool,
		    const struct train_job *j, struct mc_error *err)
{
	const char *p[] = {mc_psprintf(pool, "%" PRId64, j->owner.tenant_id),
			   mc_psprintf(pool, "%" PRId64, j->owner.user_id),
			   mc_psprintf(pool, "%" PRId64, j->src_mailbox_id),
			   mc_psprintf(pool, "%" PRId64, j->dst_mailbox_id)};
	PGresult *res =
		mc_pg_query(pg,
			    "SELECT id, coalesce(special_use, ''), name "
			    "FROM mailboxes WHERE tenant_id = $1 AND "
			    "user_id = $2 AND id IN ($3, $4)",
			    4, p, err);
	if (res == NULL)
		return -1;
	enum train_kind k = kind_of(j, res);
	PQclear(res);
	return (int)k;
}

/* The distinct SHA-256 names of the job's messages still in the
 * destination, from pool; the count or -1. */
static long job_hashes(struct mc_pg *pg, struct mc_pool *pool,
		       const struct train_job *j, char ***hashes_r,
		       struct mc_error *err)
{
	const char *p[] = {mc_psprintf(pool, "%" PRId64, j->owner.tenant_id),
			   mc_psprintf(pool, "%" PRId64, j->dst_mailbox_id),
			   mc_pg_id_array(pool, j->uids, j->count)};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT DISTINCT m.sha256 FROM mailbox_messages mm JOIN "
		"messages m ON m.tenant_id = mm.tenant_id AND m.id = "
		"mm.message_id WHERE mm.tenant_id = $1 AND mm.mailbox_id = $2 "
		"AND mm.uid = ANY($3::bigint[])",
		3, p, err);
	if (res == NULL)
		return -1;
	long n = PQntuples(res);
	*hashes_r = mc_palloc_array(pool, (size_t)n + 1, sizeof(char *));
	for (long i = 0; i < n; i++)
		(*hashes_r)[i] = mc_pstrdup(pool, PQgetvalue(res, (int)i, 0));
	PQclear(res);
	return n;
}

/* Learns one message; a failure is logged. */
static void learn_one(struct mc_pg *pg, const struct train_job *j,
		      const char *sha256, bool is_spam)
{
	struct mc_error err = {0};
	struct train_read t = {mc_blob_open(train.d->blobs, sha256, &err)};
	struct mc_pool *pool = mc_pool_create("imap-train", 0);
	int r = t.r == NULL ? -1
			    : mc_bayes_learn(train.bayes, pg, pool,
					     j->owner.tenant_id, sha256,
					     blob_read, &t, is_spam, &err);
	if (r < 0)
		mc_log_warning("bayes: tenant %" PRId64 " user %" PRId64
			       ": not learned as %s: %s: %s",
			       j->owner.tenant_id, j->owner.user_id,
			       is_spam ? "spam" : "ham", sha256, err.msg);
	mc_blob_reader_close(&t.r);
	mc_pool_destroy(&pool);
}

/* mc_job_fn: decides what the move teaches, then learns each message. */
static void train_work(struct mc_worker *worker, void *ctx)
{
	struct train_job *j = ctx;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_pool *pool = mc_pool_create("imap-train-job", 0);
	struct mc_error err = {0};
	char **hashes = NULL;
	long n = 0;
	int kind = job_kind(pg, pool, j, &err);
	if (kind > TRAIN_NONE)
		n = job_hashes(pg, pool, j, &hashes, &err);
	if (kind < 0 || n < 0)
		mc_log_warning("bayes: tenant %" PRId64 ": not learned: %s",
			       j->owner.tenant_id, err.msg);
	for (long i = 0; i < n; i++)
		learn_one(pg, j, hashes[i], kind == TRAIN_SPAM);
	mc_pool_destroy(&pool);
}

/* mc_job_done_fn: frees the job. */
static void train_free(void *ctx)
{
	struct train_job *j = ctx;
	free(j->uids);
	free(j);
}

void train_copied(const struct mc_mailbox_owner *owner, int64_t src_mailbox_id,
		  const struct mc_mailbox_copied *copied)
{
	struct mc_workers *workers =
		train.bayes == NULL ? NULL
				    : mc_service_workers(train.d->service);
	struct mc_error err = {0};
	if (workers == NULL || copied->count == 0)
		return;
	struct train_job *j = mc_calloc(1, sizeof(*j));
	*j = (struct train_job){.owner = *owner,
				.src_mailbox_id = src_mailbox_id,
				.dst_mailbox_id = copied->dst_mailbox_id};
	j->count = copied->count < TRAIN_MAX ? copied->count : TRAIN_MAX;
	if (j->count < copied->count)
		mc_log_warning("bayes: tenant %" PRId64 ": %zu messages, "
			       "learning the first %d",
			       owner->tenant_id, copied->count, TRAIN_MAX);
	j->uids = mc_calloc(j->count, sizeof(*j->uids));
	for (size_t i = 0; i < j->count; i++)
		j->uids[i] = copied->dst[i];
	if (mc_workers_submit(workers, NULL, train_work, train_free, j, &err) <
	    0) {
		mc_log_warning("bayes: tenant %" PRId64 ": not learned: %s",
			       owner->tenant_id, err.msg);
		train_free(j);
	}
}
