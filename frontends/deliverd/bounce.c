/* bounce: a DSN as a new message. mc-dsn writes the report into a new
 * blob (parsed on the way for the store's IMAP data), the directory says
 * where the envelope sender is (a local mailbox, or remote: queued), and
 * mc-store delivers it with the null sender, so a report that cannot be
 * delivered is never reported on (no bounce loops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "deliverd.h"
#include "mailcore/mc-dsn.h"
#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-store.h"

/* Where the report is being written. */
struct sink {
	struct mc_blob_writer *w;
	struct mc_message *msg;
	struct mc_error err;
};

/* mc_dsn_write_fn: into the blob and the parser. */
static int sink_write(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	if (mc_blob_writer_write(s->w, data, len, &s->err) < 0)
		return -1;
	mc_message_feed(s->msg, data, len);
	return 0;
}

/* mc_dsn_read_fn over the original's blob. */
static ssize_t original_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return mc_blob_pread(ctx, buf, len, off, NULL);
}

/* Whether recipient i of p goes in a report of kind. */
static bool in_report(const struct job_plan *p, size_t i,
		      enum report_kind kind)
{
	const struct mc_queue_result *res = &p->results[i];
	if (res->address == NULL)
		return false;
	switch (kind) {
	case REPORT_FAILED:
		return res->outcome == MC_QUEUE_FAILED;
	case REPORT_DELAYED:
		return res->outcome == MC_QUEUE_WARNED;
	case REPORT_RELAYED:
		return res->outcome == MC_QUEUE_DELIVERED && p->relayed[i];
	}
	return false;
}

/* The DSN action of a report kind. */
static enum mc_dsn_action action_of(enum report_kind kind)
{
	return kind == REPORT_FAILED    ? MC_DSN_FAILED
	       : kind == REPORT_DELAYED ? MC_DSN_DELAYED
					: MC_DSN_RELAYED;
}

/* The report's recipients (those of its kind). */
static size_t report_rcpts(struct mc_pool *pool, const struct job_plan *p,
			   enum report_kind kind, time_t now, time_t until,
			   struct mc_dsn_rcpt **r_out)
{
	struct mc_dsn_rcpt *r =
		mc_palloc_array(pool, p->job->rcpts_count + 1, sizeof(*r));
	size_t n = 0;
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		const struct mc_queue_result *res = &p->results[i];
		if (!in_report(p, i, kind))
			continue;
		r[n++] = (struct mc_dsn_rcpt){
			.address = res->address,
			.orcpt = p->job->rcpts[i].orcpt,
			.action = action_of(kind),
			.status = res->status != NULL ? res->status : "5.0.0",
			.remote_mta = res->remote_mta,
			.diag = res->error,
			.last_attempt = now,
			.retry_until = kind == REPORT_DELAYED ? until : 0,
		};
	}
	*r_out = r;
	return n;
}

/* Writes the report for p into a new blob; 0 with hash_r, or -1. */
static int write_report(struct deliverd *d, struct mc_pool *pool,
			const struct job_plan *p, enum report_kind kind,
			struct sink *s, char *hash_r)
{
	time_t now = time(NULL);
	struct mc_dsn_rcpt *rcpts;
	size_t n = report_rcpts(pool, p, kind, now, p->job->expires_at,
				&rcpts);
	if (n == 0)
		return 1;
	struct mc_dsn dsn = {
		.reporting_mta = d->hostname,
		.from = mc_psprintf(pool, "MAILER-DAEMON@%s", d->hostname),
		.to = p->job->sender,
		.envid = p->job->envid,
		.queue_id = p->job->queue_id,
		.arrival = p->job->created_at,
		.rcpts = rcpts,
		.rcpts_count = n,
		.headers_only = kind != REPORT_FAILED || (p->job->ret != NULL &&
				strcmp(p->job->ret, "hdrs") == 0),
		.max_full = d->dsn_max_return,
		.now = now,
	};
	struct mc_blob_reader *orig = mc_blob_open(d->blobs, p->job->sha256,
						   &s->err);
	s->w = orig != NULL ? mc_blob_writer_create(d->blobs, &s->err) : NULL;
	int rc = -1;
	if (s->w != NULL &&
	    mc_dsn_write(&dsn, mc_blob_reader_size(orig), original_read, orig,
			 sink_write, s, &s->err) == 0)
		rc = mc_blob_writer_finish(&s->w, hash_r, &s->err);
	mc_blob_writer_abort(&s->w);
	mc_blob_reader_close(&orig);
	return rc;
}

/* A queue id for the report: "B" and 15 hex digits. */
static void report_id(char *buf, size_t size)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)time(NULL) ^ (uint64_t)clock();
	snprintf(buf, size, "B%015llX", (unsigned long long)(r >> 4));
}

/* The delivery of the report to the sender's mailboxes or queue. */
static void report_targets(struct mc_pool *pool,
			   const struct mc_directory_result *dir,
			   const struct job_plan *p,
			   struct mc_store_delivery *sd)
{
	struct mc_store_local *l = mc_palloc_array(
		pool, dir->mailboxes_count + 1, sizeof(*l));
	for (size_t i = 0; i < dir->mailboxes_count; i++) {
		const struct mc_directory_mailbox *m = &dir->mailboxes[i];
		l[i] = (struct mc_store_local){
			.tenant_id = m->tenant_id,
			.user_id = m->user_id,
			.domain_id = m->domain_id,
			.address = m->address,
		};
	}
	size_t nr = dir->status == MC_DIR_NOT_LOCAL ? 1 : dir->external_count;
	struct mc_store_remote *r = mc_palloc_array(pool, nr + 1, sizeof(*r));
	for (size_t i = 0; i < nr; i++) {
		r[i] = (struct mc_store_remote){
			.tenant_id = dir->status == MC_DIR_NOT_LOCAL
					     ? p->job->tenant_id
					     : dir->tenant_id,
			.address = dir->status == MC_DIR_NOT_LOCAL
					   ? p->job->sender
					   : dir->external[i],
			.notify = MC_SMTP_NOTIFY_NEVER,
		};
	}
	sd->local = l;
	sd->local_count = dir->mailboxes_count;
	sd->remote = r;
	sd->remote_count = nr;
}

/* Delivers the report in hash to the envelope sender. true when stored
 * (or when the sender cannot receive it: it is dropped and logged). */
static bool submit(struct deliverd *d, struct mc_worker *worker,
		   struct mc_pool *pool, const struct job_plan *p,
		   const char *hash, const struct mc_message_info *info)
{
	struct mc_pg *pg = mc_service_worker_pg(worker);
	struct mc_redis *redis = mc_service_worker_redis(worker);
	struct mc_directory_result dir;
	struct mc_error err = {0};
	if (mc_directory_resolve(pg, redis, &d->dir, pool, p->job->sender,
				 &dir, &err) < 0) {
		mc_log_warning("%s: DSN to <%s> waits: %s", p->job->queue_id,
			       p->job->sender, err.msg);
		return false;
	}
	if (dir.status != MC_DIR_OK && dir.status != MC_DIR_NOT_LOCAL) {
		mc_log_warning("%s: DSN to <%s> dropped: %s", p->job->queue_id,
			       p->job->sender, dir.text);
		return true;
	}
	char id[24];
	report_id(id, sizeof(id));
	struct mc_store_delivery sd = {.sha256 = hash, .info = info,
				       .queue_id = id, .sender = ""};
	report_targets(pool, &dir, p, &sd);
	struct mc_store_local_result *res =
		mc_palloc_array(pool, sd.local_count + 1, sizeof(*res));
	bool committed = false;
	if (mc_store_deliver(pg, &sd, res, &committed, &err) < 0) {
		mc_log_warning("%s: DSN not stored: %s", p->job->queue_id,
			       err.msg);
		return false;
	}
	if (committed)
		mc_store_notify(redis, &sd, res);
	mc_log_info("%s: sender non-delivery notification: %s%s",
		    p->job->queue_id, id, committed ? "" : " (refused: quota)");
	return true;
}

bool bounce_send(struct deliverd *d, struct mc_worker *worker,
		 struct mc_pool *pool, struct job_plan *plan,
		 enum report_kind kind)
{
	struct sink s = {.msg = mc_message_create(&d->msg)};
	char hash[MC_BLOB_HASH_LEN + 1];
	int rc = write_report(d, pool, plan, kind, &s, hash);
	bool ok = rc == 1;
	if (rc == 0)
		ok = submit(d, worker, pool, plan, hash,
			    mc_message_finish(s.msg));
	else if (rc < 0)
		mc_log_warning("%s: DSN not written: %s", plan->job->queue_id,
			       s.err.msg);
	mc_message_destroy(&s.msg);
	return ok;
}
