/* schedule: the loop side of mc-deliverd. A timer claims due mail on a
 * service worker (prepare.c groups it into batches), each batch waits
 * for a slot under the global and per-destination caps, then goes to a
 * delivery thread (transfer.c) and back to a service worker to record
 * its outcome (finish.c). Only the loop thread touches this state. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "deliverd.h"

/* Batches to one destination in flight. */
struct dest {
	struct dest *next;
	char *key;
	unsigned active;
};

/* The longest wait between claims while they fail. */
#define CLAIM_BACKOFF_MAX_MS 30000u

static void claim_soon(struct deliverd *d, unsigned ms);
static void start_waiting(struct deliverd *d);

/* The destination named key, created on first use. */
static struct dest *dest_get(struct deliverd *d, const char *key)
{
	for (struct dest *x = d->dests; x != NULL; x = x->next) {
		if (strcmp(x->key, key) == 0)
			return x;
	}
	struct dest *x = mc_malloc(sizeof(*x));
	*x = (struct dest){.next = d->dests, .key = mc_strdup(key)};
	d->dests = x;
	return x;
}

/* Ends one batch to key; an idle destination is forgotten. */
static void dest_put(struct deliverd *d, const char *key)
{
	for (struct dest **pp = &d->dests; *pp != NULL; pp = &(*pp)->next) {
		struct dest *x = *pp;
		if (strcmp(x->key, key) != 0)
			continue;
		if (--x->active == 0) {
			*pp = x->next;
			free(x->key);
			free(x);
		}
		return;
	}
}

/* Frees a batch and its pool. */
static void batch_free(struct batch *b)
{
	mc_pool_destroy(&b->pool);
	free(b);
}

/* The service workers' completion of finish_batch. */
static void finished(void *ctx)
{
	struct batch *b = ctx;
	struct deliverd *d = b->d;
	if (b->err.cls != MC_ERR_NONE)
		mc_log_warning("delivery to %s: results not recorded: %s "
			       "(the claims expire and it is retried)",
			       b->key, b->err.msg);
	d->active--;
	batch_free(b);
	start_waiting(d); /* a slot is free */
	claim_soon(d, d->claim_backoff_ms);
}

/* Hands b to a service worker to record its outcome. */
static void finish(struct deliverd *d, struct batch *b)
{
	struct mc_error err = {0};
	struct mc_workers *w = mc_service_workers(d->service);
	if (w == NULL || mc_workers_submit(w, d->loop, finish_batch, finished,
					   b, &err) < 0) {
		mc_error_set(&b->err, MC_ERR_TEMPORARY, "no worker");
		finished(b);
	}
}

/* The delivery thread's completion of transfer_batch. */
static void transferred(void *ctx)
{
	struct batch *b = ctx;
	dest_put(b->d, b->key);
	finish(b->d, b);
}

/* Starts b on a delivery thread (or straight to finish for DSNs). */
static void start(struct deliverd *d, struct batch *b)
{
	struct mc_error err = {0};
	d->active++;
	if (b->notify_only) {
		finish(d, b);
		return;
	}
	dest_get(d, b->key)->active++;
	if (mc_workers_submit(d->senders, d->loop, transfer_batch, transferred,
			      b, &err) < 0) {
		for (size_t i = 0; i < b->count; i++)
			b->plans[i].done = false; /* nothing tried */
		transferred(b);
	}
}

/* True when b may start now. */
static bool has_slot(struct deliverd *d, const struct batch *b)
{
	if (d->active >= d->concurrency)
		return false;
	return b->notify_only ||
	       dest_get(d, b->key)->active < d->dest_concurrency;
}

/* Starts the waiting batches that have a slot, in order. */
static void start_waiting(struct deliverd *d)
{
	struct batch **pp = &d->waiting;
	while (*pp != NULL && !d->stopping) {
		struct batch *b = *pp;
		if (batch_stale(b)) { /* its claims lapse: claimed again later */
			*pp = b->next;
			batch_free(b);
			continue;
		}
		if (!has_slot(d, b)) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		b->next = NULL;
		start(d, b);
	}
}

/* Appends the claimed batches to the waiting list. */
static void enqueue(struct deliverd *d, struct batch *list)
{
	double now = deliverd_now();
	for (struct batch *b = list; b != NULL; b = b->next)
		b->claimed_at = now;
	struct batch **tail = &d->waiting;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = list;
}

/* Number of batches waiting. */
static size_t waiting_count(const struct deliverd *d)
{
	size_t n = 0;
	for (const struct batch *b = d->waiting; b != NULL; b = b->next)
		n++;
	return n;
}

/* Backs off while claims fail (the database is down), logging once when
 * that starts and once when it ends. */
static void note_claim(struct deliverd *d, const struct mc_error *err)
{
	if (err->cls == MC_ERR_NONE) {
		if (d->claim_backoff_ms > 0)
			mc_log_notice("queue: claiming works again");
		d->claim_backoff_ms = 0;
		return;
	}
	if (d->claim_backoff_ms == 0)
		mc_log_warning("queue: cannot claim mail (retrying, backing off "
			       "up to %u s): %s",
			       CLAIM_BACKOFF_MAX_MS / 1000, err->msg);
	unsigned next = d->claim_backoff_ms > 0 ? d->claim_backoff_ms * 2
						: d->poll_ms * 2;
	d->claim_backoff_ms = next < CLAIM_BACKOFF_MAX_MS ? next
							  : CLAIM_BACKOFF_MAX_MS;
}

/* The service workers' completion of prepare_claim. */
static void claimed(void *ctx)
{
	struct claim_run *run = ctx;
	struct deliverd *d = run->d;
	d->claiming = false;
	note_claim(d, &run->err);
	enqueue(d, run->batches);
	bool more = run->count >= d->claim.max && d->claim_backoff_ms == 0;
	free(run);
	start_waiting(d);
	if (more)
		claim_soon(d, 0);
}

/* Claims due mail on a service worker unless busy. */
static void claim(struct deliverd *d)
{
	if (d->claiming || d->stopping || d->active >= d->concurrency ||
	    waiting_count(d) >= d->concurrency)
		return;
	struct claim_run *run = mc_malloc(sizeof(*run));
	*run = (struct claim_run){.d = d};
	struct mc_error err = {0};
	struct mc_workers *w = mc_service_workers(d->service);
	d->claiming = true;
	if (w == NULL ||
	    mc_workers_submit(w, d->loop, prepare_claim, claimed, run, &err) <
		    0) {
		d->claiming = false;
		free(run);
	}
}

/* The timer: claim, then again after the poll interval. */
static void on_timer(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct deliverd *d = ctx;
	start_waiting(d);
	claim(d);
	claim_soon(d, d->claim_backoff_ms > 0 ? d->claim_backoff_ms : d->poll_ms);
}

/* (Re)arms the timer to fire in ms. */
static void claim_soon(struct deliverd *d, unsigned ms)
{
	if (d->stopping)
		return;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(d->timer, &tv);
}

/* Posted to the loop: the first tick. */
static void first_tick(void *ctx)
{
	claim_soon(ctx, 0);
}

int schedule_start(struct deliverd *d)
{
	d->loop = mc_server_loop(mc_service_server(d->service), 0);
	d->timer = evtimer_new(mc_loop_base(d->loop), on_timer, d);
	if (d->timer == NULL)
		return -1;
	mc_loop_post(d->loop, first_tick, d);
	return 0;
}

/* Drops the batches that never started: their claims expire. */
static void drop_waiting(struct deliverd *d)
{
	while (d->waiting != NULL) {
		struct batch *b = d->waiting;
		d->waiting = b->next;
		batch_free(b);
	}
}

bool schedule_stopping(struct mc_loop *loop, void *ctx)
{
	struct deliverd *d = ctx;
	if (loop != d->loop)
		return false;
	if (!d->stopping) {
		d->stopping = true;
		evtimer_del(d->timer);
		drop_waiting(d);
	}
	if (d->active > 0 || d->claiming)
		return true;
	event_free(d->timer);
	d->timer = NULL;
	return false;
}
