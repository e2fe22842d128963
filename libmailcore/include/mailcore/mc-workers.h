/* mc-workers: the worker pool that runs blocking or CPU-heavy jobs
 * (database and Redis round trips, password hashing, virus scans) off the
 * event loops. A job is a plain synchronous function; its completion runs
 * back on the loop that submitted it. Each worker thread keeps private
 * data (its own PostgreSQL and Redis connections) set up by thread_init. */
#ifndef MC_WORKERS_H
#define MC_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

struct mc_error;
struct mc_loop;
struct mc_worker;
struct mc_workers;

struct mc_workers_settings {
	unsigned threads; /* >= 1 */
	size_t max_queue; /* pending jobs before submit refuses; 0 = 10000 */
	/* Run on each worker thread at start and end; may be NULL. */
	void (*thread_init)(struct mc_worker *worker, void *ctx);
	void (*thread_deinit)(struct mc_worker *worker, void *ctx);
	void *ctx;
};

/* Runs on a worker thread. */
typedef void mc_job_fn(struct mc_worker *worker, void *job_ctx);
/* Runs on the submitting loop's thread (or on the worker thread when the
 * job was submitted with loop == NULL). */
typedef void mc_job_done_fn(void *job_ctx);

/* The caller owns the result; threads start at once. */
struct mc_workers *mc_workers_create(const struct mc_workers_settings *set,
				     struct mc_error *err);
/* Queues a job. Returns -1 (MC_ERR_TEMPORARY) when the queue is full or
 * the pool is shutting down; the job is then not run. done may be NULL. */
int mc_workers_submit(struct mc_workers *workers, struct mc_loop *loop,
		      mc_job_fn *job, mc_job_done_fn *done, void *job_ctx,
		      struct mc_error *err);
/* Runs every queued job, stops the threads (thread_deinit runs) and frees
 * the pool. Completions for loops are still posted. Accepts NULL. */
void mc_workers_destroy(struct mc_workers **workers);

/* Jobs of a refcounted owner living on one loop (a client session): each
 * job in flight holds a reference, so the owner outlives it; when the
 * owner is gone (the client left) its completions still run, to free
 * what they own, but are told so. Embed the struct in the owner. */
struct mc_job_owner {
	/* where the pool is: *workers turns NULL when it is destroyed */
	struct mc_workers *const *workers;
	struct mc_loop *loop;
	unsigned refs; /* set to 1 for the owner itself */
	bool gone;     /* the owner's connection is over */
	void (*free)(struct mc_job_owner *owner); /* at the last unref */
};
/* Runs on the owner's loop: owner is NULL when it is gone. */
typedef void mc_owner_done_fn(struct mc_job_owner *owner, void *ctx);
/* Submits work(worker, ctx), then done on the owner's loop. False when
 * the pool refused it (or is gone): nothing runs, the caller answers
 * with a temporary error. */
bool mc_job_owner_submit(struct mc_job_owner *owner, mc_job_fn *work,
			 mc_owner_done_fn *done, void *ctx);
/* Drops a reference; the last one calls owner->free. */
void mc_job_owner_unref(struct mc_job_owner *owner);

unsigned mc_worker_index(const struct mc_worker *worker);
void *mc_worker_data(const struct mc_worker *worker);
void mc_worker_set_data(struct mc_worker *worker, void *data);

#endif
