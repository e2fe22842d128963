/* data: DATA / BDAT. A message up to WRITE_BATCH stays in memory; a
 * bigger one streams into a spool file through a chain of worker jobs
 * (one at a time per message: the loop collects bytes, a job writes
 * them), so the loop never touches the disk and memory stays bounded:
 * past SPOOL_BACKLOG the session stops reading until the disk catches
 * up. At the end one job writes the blob: our Received: header (and the
 * header fields the filters add), then the message, hashed and fed to the
 * MIME analysis on the way; makes it durable, then commits every row
 * (mc-store) before the 250 goes out; any failure on the way is a 4xx and
 * loses nothing.
 * For an authenticated sender the policy resolved at MAIL applies too:
 * its message size, its attachment limit (an mc-policy scanner rides
 * along with the MIME analysis; over it: 552 5.3.4, nothing stored), and
 * each accepted message counts once, with its size, toward its daily
 * sending limits; and toward the installation's sending limits
 * (limits.c) when it was submitted for outbound delivery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailcore/mc-store.h"
#include "smtpd.h"

#define WRITE_BATCH   (64 * 1024)
#define SPOOL_BACKLOG (1024 * 1024)

struct spool {
	struct smtpd *d;
	struct mc_blob_writer *writer; /* the spool file (big messages) */
	struct mc_message *msg;
	struct mc_buf prefix; /* our Received: header */
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
	mc_buf_free(&sp->prefix);
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

/* Worker: writes inflight into the spool file (and the attachment
 * scanner). */
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
	mc_buf_init(&sp->prefix, NULL, 0);
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
	mc_smtp_server_received_header(s->smtp, &info, &sp->prefix);
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

/* Worker: the last bytes go to the spool file if there is one, else the
 * message stays in memory (inflight); the attachment scanner sees them. */
static void spool_settle(struct spool *sp)
{
	if (sp->writer != NULL) {
		spool_write(sp);
		return;
	}
	if (sp->attach != NULL)
		mc_policy_attach_feed(sp->attach, sp->inflight.data,
				      sp->inflight.len);
}

/* Reads the spooled message (file or memory): the count, 0 at the end,
 * or -1. */
static ssize_t spool_read(struct spool *sp, void *buf, size_t len,
			  uint64_t off)
{
	if (sp->writer != NULL)
		return mc_blob_writer_pread(sp->writer, buf, len, off,
					    &sp->err);
	if (off >= sp->inflight.len)
		return 0;
	size_t n = sp->inflight.len - (size_t)off < len
			   ? sp->inflight.len - (size_t)off
			   : len;
	memcpy(buf, sp->inflight.data + off, n);
	return (ssize_t)n;
}

/* Writes bytes into the blob and the MIME analysis. */
static int blob_put(struct spool *sp, struct mc_blob_writer *w,
		    const void *data, size_t len)
{
	if (mc_blob_writer_write(w, data, len, &sp->err) < 0)
		return -1;
	mc_message_feed(sp->msg, data, len);
	return 0;
}

/* Header fields the filters change: forged Authentication-Results
 * dropped, the subject tagged. */
struct rewrite {
	const struct mc_filter *filter; /* NULL: no checks ran */
	const char *tag;		/* NULL: no tag */
};

/* Writes one header field (name: value, its CRLF included) as rw says. */
static int put_field(struct spool *sp, struct mc_blob_writer *w,
		     const struct rewrite *rw, const char *f, size_t len)
{
	const char *colon = memchr(f, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - f) : 0;
	if (colon != NULL && rw->filter != NULL &&
	    mc_filter_drop_field(rw->filter, f, nlen, colon + 1,
				 len - nlen - 1))
		return 0;
	if (colon != NULL && rw->tag != NULL && nlen == 7 &&
	    strncasecmp(f, "Subject", 7) == 0) {
		const char *v = colon + 1;
		while (v < f + len && *v == ' ')
			v++;
		if (blob_put(sp, w, "Subject: ", 9) < 0 ||
		    blob_put(sp, w, rw->tag, strlen(rw->tag)) < 0 ||
		    blob_put(sp, w, " ", 1) < 0)
			return -1;
		return blob_put(sp, w, v, (size_t)(f + len - v));
	}
	return blob_put(sp, w, f, len);
}

/* The length of the header field starting at p (continuation lines and
 * the final line end included), within len. */
static size_t field_len(const char *p, size_t len)
{
	size_t i = 0;
	for (;;) {
		const char *nl = memchr(p + i, '\n', len - i);
		if (nl == NULL)
			return len;
		i = (size_t)(nl - p) + 1;
		if (i >= len || (p[i] != ' ' && p[i] != '\t'))
			return i;
	}
}

/* Copies the message's header section (what a first read holds of it)
 * through the rewrite; returns the bytes of the message consumed. */
static ssize_t put_header(struct spool *sp, struct mc_blob_writer *w,
			  const struct rewrite *rw, char *buf, size_t size)
{
	ssize_t n = spool_read(sp, buf, size - 1, 0);
	if (n <= 0)
		return n;
	buf[n] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end == NULL) /* too long or no body: copied as it is */
		return blob_put(sp, w, buf, (size_t)n) < 0 ? -1 : n;
	size_t hlen = (size_t)(end + 2 - buf), off = 0;
	while (off < hlen) {
		size_t flen = field_len(buf + off, hlen - off);
		if (put_field(sp, w, rw, buf + off, flen) < 0)
			return -1;
		off += flen;
	}
	return (ssize_t)hlen;
}

/* Worker: the blob: the prefix, the header (rewritten), then the rest
 * of the spooled message. 0 with hash, or -1 with sp->err. */
static int blob_store(struct spool *sp, const char *prefix,
		      const struct rewrite *rw, char hash[MC_BLOB_HASH_LEN + 1])
{
	struct mc_blob_writer *w = mc_blob_writer_create(sp->d->blobs, &sp->err);
	if (w == NULL || blob_put(sp, w, prefix, strlen(prefix)) < 0) {
		mc_blob_writer_abort(&w);
		return -1;
	}
	char *buf = mc_malloc(WRITE_BATCH + 1);
	ssize_t n = put_header(sp, w, rw, buf, WRITE_BATCH + 1);
	uint64_t off = n > 0 ? (uint64_t)n : 0;
	while (n > 0 && (n = spool_read(sp, buf, WRITE_BATCH, off)) > 0 &&
	       blob_put(sp, w, buf, (size_t)n) == 0)
		off += (uint64_t)n;
	free(buf);
	if (n != 0) {
		mc_blob_writer_abort(&w);
		return -1;
	}
	return mc_blob_writer_finish(&w, hash, &sp->err);
}

/* The answer when the message could not be kept. */
static void spool_failed(struct deliver_job *j, struct spool *sp)
{
	bool full = sp->err.cls == MC_ERR_TEMPORARY;
	j->out.code = full ? 452 : 451;
	j->out.enh = full ? "4.3.1" : "4.3.0";
	j->out.text = full ? "Insufficient system storage" : SMTPD_TEMPFAIL_TEXT;
	j->out.error = sp->err.msg;
}

/* mc_filter_read_fn over the spool. */
static ssize_t filter_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return spool_read(ctx, buf, len, off);
}

/* Worker: the checks of mail from outside. False when they decided the
 * answer (a refusal, or 451 when they could not run); else the header
 * fields to add and the rewrite. */
static bool run_filters(struct mc_worker *worker, struct deliver_job *j,
			struct spool *sp, const char **headers,
			struct rewrite *rw)
{
	struct mc_filter_verdict v;
	struct mc_error err = {0};
	uint64_t size = sp->writer != NULL ? mc_blob_writer_size(sp->writer)
					   : sp->inflight.len;
	if (filter_data(worker, sp->d, j->pool, j->t, j->client_ip, filter_read,
			sp, size, &v, &err) < 0) {
		j->out = (struct delivery_outcome){
			.code = 451, .enh = "4.3.0", .text = SMTPD_TEMPFAIL_TEXT};
		j->out.error = mc_psprintf(j->pool, "checks: %s", err.msg);
		return false;
	}
	j->out.filter = v.summary;
	filter_record(worker, sp->d, j->pool, j->t, j->client_ip, &v);
	if (v.reply.code != 0) {
		j->out.code = v.reply.code;
		j->out.enh = v.reply.enh;
		j->out.text = v.reply.text;
		j->out.error = v.summary;
		return false;
	}
	*headers = v.headers;
	*rw = (struct rewrite){sp->d->filter, v.tag};
	return true;
}

/* Worker: the last bytes, the checks, the durable blob, then the rows. */
static void final_work(struct mc_worker *worker, void *ctx)
{
	struct deliver_job *j = ctx;
	struct spool *sp = j->sp;
	char hash[MC_BLOB_HASH_LEN + 1];
	const char *added = "";
	struct rewrite rw = {0};
	spool_settle(sp);
	if (!sp->failed && attachment_refused(j, sp))
		return;
	if (!sp->failed && j->t->filtered &&
	    !run_filters(worker, j, sp, &added, &rw))
		return;
	if (!sp->failed)
		report_learn(worker, sp->d, j->pool, j->t, filter_read, sp,
			     sp->writer != NULL
				     ? mc_blob_writer_size(sp->writer)
				     : sp->inflight.len);
	const char *prefix = mc_psprintf(j->pool, "%.*s%s",
					 (int)sp->prefix.len, sp->prefix.data,
					 added);
	if (!sp->failed && blob_store(sp, prefix, &rw, hash) < 0)
		sp->failed = true;
	mc_blob_writer_abort(&sp->writer); /* the spool file */
	if (sp->failed) {
		spool_failed(j, sp);
		return;
	}
	const char *filter = j->out.filter;
	deliver_commit(worker, j->pool, j->t, &sp->d->dir, j->client_ip,
		       j->auth_user, hash, mc_message_finish(sp->msg), &j->out);
	j->out.filter = filter;
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
				"remote=%zu%s%s stored in %ld ms",
				j->t->id, j->t->sender,
				(unsigned long long)j->out.size, j->out.local,
				j->out.remote, j->out.filter != NULL ? " " : "",
				j->out.filter != NULL ? j->out.filter : "",
				elapsed_ms(&sp->started));
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
