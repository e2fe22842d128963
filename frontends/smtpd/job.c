/* job: the bridge from a session on its loop to the worker pool. A job
 * holds a reference on its session, so a client that disconnects while
 * its lookup or delivery runs never leaves the completion a dangling
 * pointer: the completion just frees its context. */
#include <stdlib.h>

#include "mailcore/mc-workers.h"
#include "smtpd.h"

struct job {
	struct session *s;
	job_work_fn *work;
	job_done_fn *done;
	void *ctx;
};

/* Worker side. */
static void job_run(struct mc_worker *worker, void *ctx)
{
	struct job *j = ctx;
	j->work(worker, j->ctx);
}

/* Loop side: the completion, then the reference goes. */
static void job_finish(void *ctx)
{
	struct job *j = ctx;
	struct session *s = j->s;
	j->done(s->gone ? NULL : s, j->ctx);
	free(j);
	session_unref(s);
}

bool job_submit(struct session *s, job_work_fn *work, job_done_fn *done,
		void *ctx)
{
	struct mc_workers *workers = mc_service_workers(s->d->service);
	if (workers == NULL) /* stopping: the pool is gone */
		return false;
	struct job *j = mc_malloc(sizeof(*j));
	*j = (struct job){.s = s, .work = work, .done = done, .ctx = ctx};
	struct mc_error err = {0};
	s->refs++;
	if (mc_workers_submit(workers, s->loop, job_run, job_finish, j,
			      &err) < 0) {
		mc_logc(&s->log, MC_LOG_WARNING, "worker pool: %s", err.msg);
		s->refs--;
		free(j);
		return false;
	}
	return true;
}

void job_detached(struct smtpd *d, job_work_fn *work, void *ctx)
{
	struct mc_error err = {0};
	struct mc_workers *workers = mc_service_workers(d->service);
	if (workers == NULL ||
	    mc_workers_submit(workers, NULL, work, NULL, ctx, &err) < 0)
		work(NULL, ctx); /* the pool is gone: do it here */
}
