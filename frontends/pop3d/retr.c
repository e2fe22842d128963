/* retr: RETR and TOP stream the message from the blob store: a chain of
 * worker jobs reads it a chunk at a time (the loop never touches the
 * disk), each chunk goes to mc-pop3-server (which stuffs dots and counts
 * TOP lines), and the next read waits while the client is slow to take
 * what was sent, so a big message is never held in memory. */
#include <event2/event.h>
#include <stdlib.h>

#include "pop3d.h"

#define CHUNK	    (64 * 1024)
#define OUTPUT_HIGH (256 * 1024) /* read on below this much unsent */
#define WAIT_MS	    10

struct retr {
	struct mc_blob_store *blobs;
	const char *hash;
	struct mc_blob_reader *reader;
	uint64_t offset, size;
	ssize_t got; /* of the last job: bytes in buf, 0 at the end, -1 */
	struct mc_error err;
	struct event *wait; /* back-pressure: look again in a moment */
	unsigned char buf[CHUNK];
};

static void next_chunk(struct session *s, struct retr *r);

void retr_free(struct retr **rp)
{
	struct retr *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	if (r->wait != NULL)
		event_free(r->wait);
	mc_blob_reader_close(&r->reader);
	free(r);
}

/* Worker: the next chunk (opening the blob first). */
static void read_work(struct mc_worker *worker, void *ctx)
{
	struct retr *r = ctx;
	(void)worker;
	if (r->reader == NULL) {
		r->reader = mc_blob_open(r->blobs, r->hash, &r->err);
		if (r->reader == NULL) {
			r->got = -1;
			return;
		}
		r->size = mc_blob_reader_size(r->reader);
	}
	r->got = r->offset >= r->size ? 0
				      : mc_blob_pread(r->reader, r->buf, CHUNK,
						      r->offset, &r->err);
}

/* Loop: the end of the message, or a failure. */
static void finish(struct session *s, struct retr *r)
{
	s->retr = NULL; /* the answer may start the next command's */
	if (r->got < 0) {
		mc_logc(&s->log, MC_LOG_WARNING, "message %s: %s", r->hash,
			r->err.msg);
		mc_pop3_server_data_fail(s->pop3, MC_POP3_CODE_SYS_TEMP, NULL);
	} else {
		mc_pop3_server_data_end(s->pop3);
	}
	retr_free(&r);
	session_pump(s);
}

/* Loop: a chunk was read. */
static void read_done(struct mc_job_owner *owner, void *ctx)
{
	struct session *s = SESSION_OF(owner);
	struct retr *r = ctx;
	if (s == NULL) {
		retr_free(&r);
		return;
	}
	if (r->got <= 0) {
		finish(s, r);
		return;
	}
	r->offset += (uint64_t)r->got;
	mc_pop3_server_data(s->pop3, r->buf, (size_t)r->got);
	if (s->conn == NULL || mc_pop3_server_closing(s->pop3)) {
		s->retr = NULL;
		retr_free(&r);
		session_pump(s); /* ends the session */
		return;
	}
	next_chunk(s, r);
}

/* Loop: the client took some output; read on if it took enough. */
static void wait_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;
	(void)fd;
	(void)what;
	if (!s->jobs.gone && s->retr != NULL)
		next_chunk(s, s->retr);
}

/* Loop: reads the next chunk now, or once the output has drained. */
static void next_chunk(struct session *s, struct retr *r)
{
	if (mc_conn_output_pending(s->conn) >= OUTPUT_HIGH) {
		struct timeval tv = {.tv_usec = WAIT_MS * 1000};
		if (r->wait == NULL)
			r->wait = evtimer_new(mc_loop_base(s->loop), wait_tick,
					      s);
		evtimer_add(r->wait, &tv);
		return;
	}
	if (!session_job(s, read_work, read_done, r)) {
		r->got = -1;
		mc_error_set(&r->err, MC_ERR_TEMPORARY, "worker pool full");
		finish(s, r);
	}
}

void cmd_retr(void *ctx, struct mc_pop3_server *pop3, size_t index,
	      long top_lines)
{
	struct session *s = ctx;
	(void)pop3;
	(void)top_lines; /* the library stops TOP's output */
	struct retr *r = mc_calloc(1, sizeof(*r));
	r->blobs = s->d->blobs;
	r->hash = s->msgs[index].hash;
	s->retr = r;
	next_chunk(s, r);
}
