/* job: the session's side of struct mc_job_owner (mc-workers): typed
 * work and completions for smtpd sessions, and jobs that need no
 * session. */
#include <stddef.h>
#include <stdlib.h>

#include "mailcore/mc-workers.h"
#include "smtpd.h"

struct job {
	job_work_fn *work;
	job_done_fn *done;
	void *ctx;
};

/* mc_job_fn: the typed work. */
static void job_run(struct mc_worker *worker, void *ctx)
{
	struct job *j = ctx;
	j->work(worker, j->ctx);
}

/* mc_owner_done_fn: the typed completion, with the session or NULL. */
static void job_done(struct mc_job_owner *owner, void *ctx)
{
	struct job *j = ctx;
	struct session *s =
		owner == NULL
			? NULL
			: (struct session *)((char *)owner -
					     offsetof(struct session, jobs));
	j->done(s, j->ctx);
	free(j);
}

bool job_submit(struct session *s, job_work_fn *work, job_done_fn *done,
		void *ctx)
{
	struct job *j = mc_malloc(sizeof(*j));
	*j = (struct job){work, done, ctx};
	if (!mc_job_owner_submit(&s->jobs, job_run, job_done, j)) {
		free(j);
		return false;
	}
	return true;
}

void job_detached(struct smtpd *d, job_work_fn *work, void *ctx)
{
	struct mc_workers *workers = mc_service_workers(d->service);
	struct mc_error err = {0};
	if (workers == NULL ||
	    mc_workers_submit(workers, NULL, work, NULL, ctx, &err) < 0)
		work(NULL, ctx); /* the pool is gone: do it here */
}
