/* data: DATA / BDAT. The message streams into a blob through a chain of
 * worker jobs (one at a time per message: the loop collects bytes, a job
 * writes them, hashes them and feeds the MIME analysis), so the loop
 * never touches the disk and memory stays bounded: past SPOOL_BACKLOG
 * the session stops reading until the disk catches up. At the end one
 * job makes the blob durable, then commits every row (mc-store) before
 * the 250 goes out; any failure on the way is a 4xx and loses nothing.
 * For an authenticated sender the policy resolved at MAIL applies too:
 * its message size, its attachment limit (an mc-policy scanner rides
 * along with the MIME analysis; over it: 552 5.3.4, nothing stored), and
 * each accepted message counts once, with its size, toward its daily
 * sending limits; and toward the installation's sending limits
 * (limits.c) when it was submitted for outbound delivery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-store.h"
#include "smtpd.h"

#define WRITE_BATCH   (64 * 1024)
#define SPOOL_BACKLOG (1024 * 1024)

struct spool {
	struct smtpd *d;
	struct mc_blob_writer *writer;
	struct mc_message *msg;
	struct mc_policy_attach *attach; /* NULL: no attachment limit */
	uint64_t attach_limit;
	struct mc_buf pending;	/* loop side: bytes for the next job */
	struct mc_buf inflight; /* job side: bytes being written */
	bool busy;		/* a job owns writer, msg and inflight */
	bool abandoned;		/* the transaction ended meanwhile */
	bool ended;		/* the message is complete */
	bool failed;
	struct mc_error err;
	struct timespec started;
};

/* The final job of a message. */
struct deliver_job {
	struct spool *sp;
	struct trans *t;
	const char *client_ip, *auth_user;
	struct mc_pool *pool;
	struct delivery_outcome out;
	const char *count_error; /* the daily counter could not be bumped */
};

static void write_done(struct session *s, void *ctx);
static void submit_final(struct session *s, struct spool *sp);

/* Frees the spool's memory and its blob writer (unlinking the temp
 * file: called on a worker). */
static void spool_destroy(struct mc_worker *worker, void *ctx)
{
	struct spool *sp = ctx;
	(void)worker;
	mc_blob_writer_abort(&sp->writer);
	mc_message_destroy(&sp->msg);
	mc_policy_attach_destroy(&sp->attach);
	mc_buf_free(&sp->pending);
	mc_buf_free(&sp->inflight);
	free(sp);
}

void spool_free(struct spool **spp)
{
	struct spool *sp = *spp;
	if (sp == NULL)
		return;
	*spp = NULL;
	if (sp->busy) {
		sp->abandoned = true; /* the job's completion frees it */
		return;
	}
	if (sp->writer != NULL)
		job_detached(sp->d, spool_destroy, sp);
	else
		spool_destroy(NULL, sp);
}

bool spool_backlogged(const struct trans *t)
{
	return t->spool != NULL && t->spool->pending.len >= SPOOL_BACKLOG;
}

/* Worker: writes inflight into the blob and the MIME analysis. */
static void spool_write(struct spool *sp)
{
	if (sp->failed || sp->inflight.len == 0)
		return;
	if (sp->writer == NULL)
		sp->writer = mc_blob_writer_create(sp->d->blobs, &sp->err);
	if (sp->writer == NULL ||
	    mc_blob_writer_write(sp->writer, sp->inflight.data,
				 sp->inflight.len, &sp->err) < 0)
		sp->failed = true;
	else
		mc_message_feed(sp->msg, sp->inflight.data, sp->inflight.len);
	if (!sp->failed && sp->attach != NULL)
		mc_policy_attach_feed(sp->attach, sp->inflight.data,
				      sp->inflight.len);
	mc_buf_clear(&sp->inflight);
}

/* mc_job_fn for a write batch. */
static void write_work(struct mc_worker *worker, void *ctx)
{
	(void)worker;
	spool_write(ctx);
}

/* Hands the pending bytes to a job (the loop side of the chain). */
static void hand_over(struct spool *sp)
{
	struct mc_buf tmp = sp->inflight;
	sp->inflight = sp->pending;
	sp->pending = tmp;
	mc_buf_clear(&sp->pending);
	sp->busy = true;
}

/* Starts a write job if one is due and none runs. */
static void kick(struct session *s, struct spool *sp)
{
	if (sp->busy || sp->pending.len < WRITE_BATCH)
		return;
	hand_over(sp);
	if (!job_submit(s, write_work, write_done, sp)) {
		sp->busy = false;
		sp->failed = true;
		mc_error_set(&sp->err, MC_ERR_TEMPORARY, "worker pool full");
	}
}

/* Loop: a write batch is done; the next one, or the final job. */
static void write_done(struct session *s, void *ctx)
{
	struct spool *sp = ctx;
	sp->busy = false;
	if (sp->abandoned) {
		spool_free(&sp);
		return;
	}
	if (s == NULL)
		return; /* the session frees the spool with its transaction */
	if (sp->ended)
		submit_final(s, sp);
	else {
		kick(s, sp);
		session_pump(s); /* reading may resume */
	}
}

void data_chunk(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	struct spool *sp = s->trans != NULL ? s->trans->spool : NULL;
	if (sp == NULL || sp->failed)
		return;
	mc_buf_append(&sp->pending, data, len);
	kick(s, sp);
}

/* A new spool whose first bytes are our Received: header. */
static struct spool *spool_new(struct session *s)
{
	struct spool *sp = mc_calloc(1, sizeof(*sp));
	sp->d = s->d;
	sp->msg = mc_message_create(&s->d->msg);
	mc_buf_init(&sp->pending, NULL, 0);
	mc_buf_init(&sp->inflight, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &sp->started);
	struct trans *t = s->trans;
	if (t->policed && t->policy.attachment_max_bytes > 0) {
		sp->attach_limit = t->policy.attachment_max_bytes;
		sp->attach = mc_policy_attach_create(sp->attach_limit);
	}
	const char *version = NULL, *cipher = NULL;
	if (s->conn != NULL)
		(void)mc_conn_tls(s->conn, &version, &cipher);
	struct mc_smtp_server_received_info info = {
		.ip = s->ip,
		.tls_version = version,
		.tls_cipher = cipher,
		.id = t->id,
		.for_rcpt = t->rcpts_count == 1 ? t->rcpts->address : NULL,
	};
	mc_smtp_server_received_header(s->smtp, &info, &sp->pending);
	return sp;
}

void data_start(void *ctx, struct mc_smtp_server *smtp)
{
	struct session *s = ctx;
	if (s->trans == NULL) {
		mc_smtp_server_reply(smtp, 503, "5.5.1", "No valid recipients");
		return;
	}
	spool_free(&s->trans->spool);
	s->trans->spool = spool_new(s);
	s->in_data = true;
	session_timeouts(s);
	mc_smtp_server_accept(smtp);
}

/* The smallest size limit among the local recipients' domains (0 =
 * none). */
static uint64_t domain_size_limit(const struct trans *t)
{
	uint64_t limit = 0;
	for (const struct rcpt *r = t->rcpts; r != NULL; r = r->next) {
		for (size_t i = 0; i < r->res.mailboxes_count; i++) {
			uint64_t m =
				(uint64_t)r->res.mailboxes[i].max_message_size;
			if (m > 0 && (limit == 0 || m < limit))
				limit = m;
		}
	}
	return limit;
}

void data_end(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_message *msg)
{
	struct session *s = ctx;
	struct spool *sp = s->trans != NULL ? s->trans->spool : NULL;
	s->in_data = false;
	session_timeouts(s);
	uint64_t limit = s->trans != NULL ? domain_size_limit(s->trans) : 0;
	uint64_t own = s->trans != NULL && s->trans->policed
			       ? s->trans->policy.message_bytes
			       : 0;
	if (sp != NULL && own > 0 && msg->size > own) {
		mc_smtp_server_reply(smtp, 552, "5.3.4",
				     "Message size exceeds this account's "
				     "limit");
		return;
	}
	if (sp == NULL || (limit > 0 && msg->size > limit)) {
		mc_smtp_server_reply(smtp, 552, "5.3.4",
				     "Message size exceeds the recipient's "
				     "limit");
		return;
	}
	sp->ended = true;
	if (!sp->busy)
		submit_final(s, sp);
}

/* A file name fit for a reply line: printable ASCII, at most 100. */
static const char *reply_safe(struct mc_pool *pool, const char *name)
{
	char *s = mc_pstrndup(pool, name, 100);
	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return s;
}

/* Worker: true (with the 552) when an attachment is over the sender's
 * limit; the blob is then never finished, so nothing is stored. */
static bool attachment_refused(struct deliver_job *j, struct spool *sp)
{
	const char *name;
	uint64_t size;
	if (sp->attach == NULL ||
	    !mc_policy_attach_finish(sp->attach, &name, &size))
		return false;
	j->out.code = 552;
	j->out.enh = "5.3.4";
	j->out.text = mc_psprintf(j->pool,
				  "attachment %s%stoo large "
				  "(limit %llu bytes)",
				  reply_safe(j->pool, name),
				  name[0] != '\0' ? " " : "",
				  (unsigned long long)sp->attach_limit);
	j->out.error =
		mc_psprintf(j->pool, "%llu bytes", (unsigned long long)size);
	return true;
}

/* Worker: counts an accepted message toward the sender's daily limits
 * (one message, its size); a Redis outage is logged, never an error. */
static void count_sent(struct mc_worker *worker, struct deliver_job *j)
{
	const struct trans *t = j->t;
	struct mc_error err = {0};
	if (!t->policed || j->out.code != 250)
		return;
	if (mc_policy_send_record(mc_service_worker_redis(worker),
				  t->policy.tenant_id, t->policy.user_id,
				  time(NULL), j->out.size, &err) < 0)
		j->count_error = mc_pstrdup(j->pool, err.msg);
}

/* Worker: counts an accepted message toward the sending limits. */
static void count_limits(struct mc_worker *worker, struct deliver_job *j)
{
	struct mc_error err = {0};
	if (!j->t->limits.on || j->out.code != 250)
		return;
	if (!limits_record(worker, j->sp->d, &j->t->limits, j->out.size, &err))
		j->count_error = mc_pstrdup(j->pool, err.msg);
}

/* Worker: the last bytes, the durable blob, then the rows. */
static void final_work(struct mc_worker *worker, void *ctx)
{
	struct deliver_job *j = ctx;
	struct spool *sp = j->sp;
	char hash[MC_BLOB_HASH_LEN + 1];
	spool_write(sp);
	if (!sp->failed && attachment_refused(j, sp))
		return;
	if (!sp->failed &&
	    mc_blob_writer_finish(&sp->writer, hash, &sp->err) < 0)
		sp->failed = true;
	if (sp->failed) {
		bool full = sp->err.cls == MC_ERR_TEMPORARY;
		j->out.code = full ? 452 : 451;
		j->out.enh = full ? "4.3.1" : "4.3.0";
		j->out.text = full ? "Insufficient system storage"
				   : SMTPD_TEMPFAIL_TEXT;
		j->out.error = sp->err.msg;
		return;
	}
	deliver_commit(worker, j->pool, j->t, &sp->d->dir, j->client_ip,
		       j->auth_user, hash, mc_message_finish(sp->msg), &j->out);
	count_sent(worker, j);
	count_limits(worker, j);
}

/* Milliseconds since t. */
static long elapsed_ms(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Loop: the answer to the message. */
static void final_done(struct session *s, void *ctx)
{
	struct deliver_job *j = ctx;
	struct spool *sp = j->sp;
	sp->busy = false;
	if (s != NULL && j->count_error != NULL)
		mc_logc(&s->log, MC_LOG_WARNING,
			"message %s not counted toward daily limits: %s",
			j->t->id, j->count_error);
	if (s != NULL) {
		if (j->out.code / 100 == 2)
			mc_logc(&s->log, MC_LOG_INFO,
				"message %s from=<%s> size=%llu local=%zu "
				"remote=%zu stored in %ld ms",
				j->t->id, j->t->sender,
				(unsigned long long)j->out.size, j->out.local,
				j->out.remote, elapsed_ms(&sp->started));
		else
			mc_logc(&s->log, MC_LOG_WARNING,
				"message %s: %u %s%s%s", j->t->id, j->out.code,
				j->out.text, j->out.error != NULL ? ": " : "",
				j->out.error != NULL ? j->out.error : "");
		/* the reply ends the transaction, which frees the spool */
		mc_smtp_server_reply(s->smtp, j->out.code, j->out.enh,
				     j->out.text);
		session_pump(s);
	} else if (sp->abandoned) {
		spool_free(&sp);
	}
	mc_pool_destroy(&j->pool);
	free(j);
}

/* Starts the final job of a complete message. */
static void submit_final(struct session *s, struct spool *sp)
{
	struct deliver_job *j = mc_calloc(1, sizeof(*j));
	j->pool = mc_pool_create("smtp-deliver", 4096);
	j->sp = sp;
	j->t = s->trans;
	j->client_ip = mc_pstrdup(j->pool, s->ip);
	j->auth_user = s->user.ok ? mc_pstrdup(j->pool, s->user.address) : NULL;
	hand_over(sp);
	if (!job_submit(s, final_work, final_done, j)) {
		sp->busy = false;
		mc_pool_destroy(&j->pool);
		free(j);
		mc_smtp_server_reply(s->smtp, 451, "4.3.0",
				     SMTPD_TEMPFAIL_TEXT);
	}
}
