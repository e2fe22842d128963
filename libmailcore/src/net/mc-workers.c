/* mc-workers: a fixed pool of threads taking jobs from one bounded FIFO
 * (mutex + condition variable). A job's completion is posted back to the
 * loop that submitted it. Worker threads block asynchronous signals, so
 * SIGINT/SIGTERM reach the thread running mc_server_run(). */
#include "mailcore/mc-workers.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-server.h"

#define DEFAULT_MAX_QUEUE 10000

struct job {
	struct job *next;
	struct mc_loop *loop;
	mc_job_fn *fn;
	mc_job_done_fn *done;
	void *ctx;
};

struct mc_worker {
	struct mc_workers *pool;
	unsigned idx;
	pthread_t thread;
	void *data;
};

struct mc_workers {
	struct mc_workers_settings set;
	pthread_mutex_t lock; /* protects everything below */
	pthread_cond_t cond;
	struct job *head, **tailp;
	size_t queued;
	bool stopping;
	unsigned nthreads; /* started */
	struct mc_worker *workers;
};

/* Takes the next job, waiting for one; NULL once stopping and empty. */
static struct job *next_job(struct mc_workers *pool)
{
	struct job *job;

	pthread_mutex_lock(&pool->lock);
	while (pool->head == NULL && !pool->stopping)
		pthread_cond_wait(&pool->cond, &pool->lock);
	job = pool->head;
	if (job != NULL) {
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tailp = &pool->head;
		pool->queued--;
	}
	pthread_mutex_unlock(&pool->lock);
	return job;
}

/* Runs one job and sends its completion where it belongs. */
static void run_job(struct mc_worker *worker, struct job *job)
{
	job->fn(worker, job->ctx);
	if (job->done != NULL) {
		if (job->loop != NULL)
			mc_loop_post(job->loop, job->done, job->ctx);
		else
			job->done(job->ctx);
	}
	free(job);
}

/* Thread body: init, jobs until the pool stops and drains, deinit. */
static void *worker_thread(void *arg)
{
	struct mc_worker *worker = arg;
	struct mc_workers *pool = worker->pool;
	struct job *job;
	char name[16];

	snprintf(name, sizeof(name), "mc-worker-%u", worker->idx);
	pthread_setname_np(pthread_self(), name);
	if (pool->set.thread_init != NULL)
		pool->set.thread_init(worker, pool->set.ctx);
	while ((job = next_job(pool)) != NULL)
		run_job(worker, job);
	if (pool->set.thread_deinit != NULL)
		pool->set.thread_deinit(worker, pool->set.ctx);
	return NULL;
}

/* Starts the threads with asynchronous signals blocked; returns 0, or the
 * pthread_create error (pool->nthreads then says how many started). */
static int start_threads(struct mc_workers *pool)
{
	sigset_t all, old;
	int e = 0;

	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; pool->nthreads < pool->set.threads; pool->nthreads++) {
		struct mc_worker *worker = &pool->workers[pool->nthreads];

		worker->pool = pool;
		worker->idx = pool->nthreads;
		e = pthread_create(&worker->thread, NULL, worker_thread,
				   worker);
		if (e != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

struct mc_workers *mc_workers_create(const struct mc_workers_settings *set,
				     struct mc_error *err)
{
	struct mc_workers *pool;
	int e;

	if (set->threads < 1) {
		mc_error_set(err, MC_ERR_INVALID,
			     "worker threads must be >= 1");
		return NULL;
	}
	pool = mc_calloc(1, sizeof(*pool));
	pool->set = *set;
	if (pool->set.max_queue == 0)
		pool->set.max_queue = DEFAULT_MAX_QUEUE;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->tailp = &pool->head;
	pool->workers = mc_calloc(set->threads, sizeof(*pool->workers));
	e = start_threads(pool);
	if (e != 0) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "cannot start worker thread: %s", strerror(e));
		mc_workers_destroy(&pool);
	}
	return pool;
}

int mc_workers_submit(struct mc_workers *workers, struct mc_loop *loop,
		      mc_job_fn *job, mc_job_done_fn *done, void *job_ctx,
		      struct mc_error *err)
{
	struct job *j;

	pthread_mutex_lock(&workers->lock);
	if (workers->stopping || workers->queued >= workers->set.max_queue) {
		bool stopping = workers->stopping;

		pthread_mutex_unlock(&workers->lock);
		mc_error_set(err, MC_ERR_TEMPORARY, "%s",
			     stopping ? "worker pool is shutting down"
				      : "worker queue is full");
		return -1;
	}
	j = mc_malloc(sizeof(*j));
	*j = (struct job){NULL, loop, job, done, job_ctx};
	*workers->tailp = j;
	workers->tailp = &j->next;
	workers->queued++;
	pthread_cond_signal(&workers->cond);
	pthread_mutex_unlock(&workers->lock);
	return 0;
}

void mc_workers_destroy(struct mc_workers **workersp)
{
	struct mc_workers *pool = *workersp;

	if (pool == NULL)
		return;
	*workersp = NULL;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->workers[i].thread, NULL);
	/* jobs left only if no thread ever started; they never run */
	while (pool->head != NULL) {
		struct job *j = pool->head;

		pool->head = j->next;
		free(j);
	}
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->workers);
	free(pool);
}

unsigned mc_worker_index(const struct mc_worker *worker)
{
	return worker->idx;
}

void *mc_worker_data(const struct mc_worker *worker)
{
	return worker->data;
}

void mc_worker_set_data(struct mc_worker *worker, void *data)
{
	worker->data = data;
}

/* A job of an owner in flight. */
struct owner_job {
	struct mc_job_owner *owner;
	mc_job_fn *work;
	mc_owner_done_fn *done;
	void *ctx;
};

/* Worker side of an owner's job. */
static void owner_job_run(struct mc_worker *worker, void *ctx)
{
	struct owner_job *j = ctx;
	j->work(worker, j->ctx);
}

/* Loop side: the completion, then the job's reference goes. */
static void owner_job_done(void *ctx)
{
	struct owner_job *j = ctx;
	struct mc_job_owner *owner = j->owner;
	j->done(owner->gone ? NULL : owner, j->ctx);
	free(j);
	mc_job_owner_unref(owner);
}

bool mc_job_owner_submit(struct mc_job_owner *owner, mc_job_fn *work,
			 mc_owner_done_fn *done, void *ctx)
{
	if (owner->workers == NULL || *owner->workers == NULL)
		return false;
	struct owner_job *j = mc_malloc(sizeof(*j));
	*j = (struct owner_job){owner, work, done, ctx};
	owner->refs++;
	if (mc_workers_submit(*owner->workers, owner->loop, owner_job_run,
			      owner_job_done, j, NULL) < 0) {
		owner->refs--;
		free(j);
		return false;
	}
	return true;
}

void mc_job_owner_unref(struct mc_job_owner *owner)
{
	if (--owner->refs == 0)
		owner->free(owner);
}
