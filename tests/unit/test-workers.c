/* test-workers: jobs run on worker threads with their per-thread data,
 * completions on the submitting loop's thread, thread_init/deinit once per
 * thread, a bounded queue, and a destroy that drains pending jobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-server.h"
#include "mailcore/mc-workers.h"

#include "mc-test.h"

#define NLOOPS	      2
#define NTHREADS      3
#define JOBS_PER_LOOP 10

/* Per-worker data set by thread_init. */
struct wdata {
	unsigned idx;
	pthread_t thread;
};

static int inits[NTHREADS], deinits[NTHREADS], bad_init_ctx;
static char init_ctx;

static void thread_init(struct mc_worker *worker, void *ctx)
{
	struct wdata *d = malloc(sizeof(*d));
	unsigned i = mc_worker_index(worker);

	d->idx = i;
	d->thread = pthread_self();
	mc_worker_set_data(worker, d);
	if (ctx != &init_ctx)
		mc_test_bump(&bad_init_ctx);
	if (i < NTHREADS)
		mc_test_bump(&inits[i]);
}

static void thread_deinit(struct mc_worker *worker, void *ctx)
{
	unsigned i = mc_worker_index(worker);

	(void)ctx;
	free(mc_worker_data(worker));
	mc_worker_set_data(worker, NULL);
	if (i < NTHREADS)
		mc_test_bump(&deinits[i]);
}

static struct mc_workers *new_workers(unsigned threads, size_t max_queue)
{
	struct mc_workers_settings set = {threads, max_queue, thread_init,
					  thread_deinit, &init_ctx};
	struct mc_error err;
	struct mc_workers *w;

	memset(inits, 0, sizeof(inits));
	memset(deinits, 0, sizeof(deinits));
	mc_error_clear(&err);
	w = mc_workers_create(&set, &err);
	if (w == NULL)
		fail_msg("mc_workers_create: %s", err.msg);
	return w;
}

/* thread_init and thread_deinit ran exactly once on each thread. */
static void check_init_deinit(unsigned threads)
{
	for (unsigned i = 0; i < threads; i++) {
		assert_int_equal(inits[i], 1);
		assert_int_equal(deinits[i], 1);
	}
	assert_int_equal(bad_init_ctx, 0);
}

/* ---- jobs from loops ---- */

static pthread_t loop_threads[NLOOPS];
static struct mc_workers *pool;
static int ndone, nbad;

struct loop_job {
	unsigned loop;
	pthread_t worker_thread;
	bool data_ok;
};

static struct loop_job loop_jobs[NLOOPS][JOBS_PER_LOOP];

/* Job: runs on a worker, which sees its own data. */
static void loop_job_fn(struct mc_worker *worker, void *ctx)
{
	struct loop_job *j = ctx;
	const struct wdata *d = mc_worker_data(worker);

	j->worker_thread = pthread_self();
	j->data_ok = d != NULL && d->idx == mc_worker_index(worker) &&
		     pthread_equal(d->thread, pthread_self());
}

/* Completion: must run on the submitting loop's thread. */
static void loop_job_done(void *ctx)
{
	struct loop_job *j = ctx;

	if (!pthread_equal(pthread_self(), loop_threads[j->loop]))
		mc_test_bump(&nbad);
	mc_test_bump(&ndone);
}

struct loop_ctx {
	struct mc_loop *loop;
	unsigned idx;
};

/* Posted on each loop: notes its thread and submits its jobs. */
static void submit_from_loop(void *ctx)
{
	struct loop_ctx *lc = ctx;

	loop_threads[lc->idx] = pthread_self();
	for (unsigned i = 0; i < JOBS_PER_LOOP; i++) {
		loop_jobs[lc->idx][i].loop = lc->idx;
		if (mc_workers_submit(pool, lc->loop, loop_job_fn,
				      loop_job_done, &loop_jobs[lc->idx][i],
				      NULL) != 0)
			mc_test_bump(&nbad);
	}
}

static void *run_thread(void *arg)
{
	mc_server_run(arg);
	return NULL;
}

static void test_loop_completions(void **state)
{
	struct mc_server_settings sset = {NLOOPS};
	struct mc_server *server = mc_server_create(&sset, NULL);
	struct loop_ctx lc[NLOOPS];
	pthread_t runner;

	(void)state;
	assert_non_null(server);
	pool = new_workers(NTHREADS, 0);
	for (unsigned i = 0; i < NLOOPS; i++) {
		lc[i] = (struct loop_ctx){mc_server_loop(server, i), i};
		mc_loop_post(lc[i].loop, submit_from_loop, &lc[i]);
	}
	assert_int_equal(pthread_create(&runner, NULL, run_thread, server), 0);
	mc_test_wait_for(&ndone, NLOOPS * JOBS_PER_LOOP);
	mc_server_stop(server);
	pthread_join(runner, NULL);
	mc_workers_destroy(&pool);
	assert_null(pool);
	assert_int_equal(nbad, 0);
	for (unsigned l = 0; l < NLOOPS; l++) {
		for (unsigned i = 0; i < JOBS_PER_LOOP; i++) {
			const struct loop_job *j = &loop_jobs[l][i];

			assert_true(j->data_ok);
			for (unsigned k = 0; k < NLOOPS; k++)
				assert_false(pthread_equal(j->worker_thread,
							   loop_threads[k]));
		}
	}
	check_init_deinit(NTHREADS);
	mc_server_destroy(&server);
}

/* ---- queue limits and draining ---- */

static int started, ran, done_on_worker, done_elsewhere;
static bool gate_open;
static pthread_t job_thread;

/* Job: counts itself; the first waits until the gate opens. */
static void gated_job(struct mc_worker *worker, void *ctx)
{
	(void)worker;
	(void)ctx;
	mc_test_bump(&started);
	pthread_mutex_lock(&mc_test_mutex);
	while (!gate_open)
		pthread_cond_wait(&mc_test_cond, &mc_test_mutex);
	pthread_mutex_unlock(&mc_test_mutex);
	mc_test_bump(&ran);
}

static void open_gate(void)
{
	pthread_mutex_lock(&mc_test_mutex);
	gate_open = true;
	pthread_cond_broadcast(&mc_test_cond);
	pthread_mutex_unlock(&mc_test_mutex);
}

struct queue_case {
	size_t max_queue;
	int accepted; /* submits accepted while one job runs */
};

static const struct queue_case queue_cases[] = {
	{1, 1}, {2, 2}, {0, 10000}, /* the default */
};

static void test_queue_full(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(queue_cases) / sizeof(queue_cases[0]);
	     c++) {
		const struct queue_case *qc = &queue_cases[c];
		struct mc_workers *w = new_workers(1, qc->max_queue);
		struct mc_error err;

		started = ran = 0;
		gate_open = false;
		assert_int_equal(
			mc_workers_submit(w, NULL, gated_job, NULL, NULL, NULL),
			0);
		mc_test_wait_for(&started, 1); /* out of the queue, running */
		for (int i = 0; i < qc->accepted; i++)
			assert_int_equal(mc_workers_submit(w, NULL, gated_job,
							   NULL, NULL, NULL),
					 0);
		mc_error_clear(&err);
		assert_int_equal(
			mc_workers_submit(w, NULL, gated_job, NULL, NULL, &err),
			-1);
		assert_int_equal(err.cls, MC_ERR_TEMPORARY);
		assert_non_null(strstr(err.msg, "full"));
		open_gate();
		mc_workers_destroy(&w);
		assert_int_equal(ran, qc->accepted + 1);
		check_init_deinit(1);
	}
}

/* Job: the first one is slow, so the others are still queued when
 * mc_workers_destroy() is called. */
static void drain_job(struct mc_worker *worker, void *ctx)
{
	(void)worker;
	if (ctx != NULL)
		usleep(50 * 1000);
	job_thread = pthread_self();
	mc_test_bump(&ran);
}

/* Completion of a job submitted without a loop: on the worker thread. */
static void drain_done(void *ctx)
{
	(void)ctx;
	mc_test_bump(pthread_equal(pthread_self(), job_thread)
			     ? &done_on_worker
			     : &done_elsewhere);
}

static void test_destroy_drains(void **state)
{
	struct mc_workers *w = new_workers(1, 0);
	static char slow;

	(void)state;
	ran = done_on_worker = done_elsewhere = 0;
	assert_int_equal(
		mc_workers_submit(w, NULL, drain_job, drain_done, &slow, NULL),
		0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mc_workers_submit(w, NULL, drain_job,
						   drain_done, NULL, NULL),
				 0);
	pthread_mutex_lock(&mc_test_mutex);
	assert_true(ran < 11); /* still queued */
	pthread_mutex_unlock(&mc_test_mutex);
	mc_workers_destroy(&w);
	assert_int_equal(ran, 11);
	assert_int_equal(done_on_worker, 11);
	assert_int_equal(done_elsewhere, 0);
	check_init_deinit(1);
	mc_workers_destroy(&w); /* NULL is fine */
}

static void test_invalid(void **state)
{
	struct mc_workers_settings set = {0, 0, NULL, NULL, NULL};
	struct mc_error err;

	(void)state;
	mc_error_clear(&err);
	assert_null(mc_workers_create(&set, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_completions),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_destroy_drains),
		cmocka_unit_test(test_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
