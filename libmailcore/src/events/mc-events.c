/* mc-events: the event sink (a vtable with a mutex in front of it) and
 * its two backends: Redis (XADD to a capped stream, one field each for
 * the type, the tenant and the JSON data) and memory (a ring of the last
 * events, for unit tests). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-events.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"

#define MEMORY_KEEP 1000

struct mc_events {
	const struct mc_events_backend *backend;
	void *ctx;
	pthread_mutex_t lock;
};

struct mc_events *mc_events_create(const struct mc_events_backend *backend,
				   void *ctx)
{
	struct mc_events *e = mc_calloc(1, sizeof(*e));
	e->backend = backend;
	e->ctx = ctx;
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

void mc_events_destroy(struct mc_events **ep)
{
	struct mc_events *e = *ep;
	if (e == NULL)
		return;
	*ep = NULL;
	if (e->backend->destroy != NULL)
		e->backend->destroy(e->ctx);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

const char *mc_events_backend_name(const struct mc_events *e)
{
	return e->backend->name;
}

int mc_events_emit(struct mc_events *e, const char *type, int64_t tenant_id,
		   const json_t *data, struct mc_error *err)
{
	if (e == NULL)
		return 0;
	char *json = data != NULL
			     ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS)
			     : strdup("{}");
	if (json == NULL)
		abort(); /* allocation failure (or not an object) */
	struct mc_event ev = {type, tenant_id, json};
	pthread_mutex_lock(&e->lock);
	int r = e->backend->emit(e->ctx, &ev, err);
	pthread_mutex_unlock(&e->lock);
	free(json);
	return r;
}

/* Redis: XADD mc:events MAXLEN ~ N * type T tenant N json J. */
static int redis_emit(void *ctx, const struct mc_event *ev,
		      struct mc_error *err)
{
	redisReply *r = mc_redis_command(
		ctx, err, "XADD %s MAXLEN ~ %d * type %s tenant %lld json %s",
		MC_EVENTS_STREAM, MC_EVENTS_STREAM_MAXLEN, ev->type,
		(long long)ev->tenant_id, ev->json);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* Frees the sink's Redis connection. */
static void redis_destroy(void *ctx)
{
	struct mc_redis *redis = ctx;
	mc_redis_destroy(&redis);
}

static const struct mc_events_backend redis_backend = {
	.name = "redis",
	.emit = redis_emit,
	.destroy = redis_destroy,
};

struct mc_events *mc_events_redis_create(struct mc_redis *redis)
{
	return mc_events_create(&redis_backend, redis);
}

/* Memory: a ring of copies. */
struct memory {
	struct mc_event ring[MEMORY_KEEP];
	size_t first, count;
};

/* Frees the strings of one kept event. */
static void memory_clear(struct mc_event *ev)
{
	free((char *)ev->type);
	free((char *)ev->json);
	*ev = (struct mc_event){0};
}

/* Keeps a copy, dropping the oldest when full. */
static int memory_emit(void *ctx, const struct mc_event *ev,
		       struct mc_error *err)
{
	struct memory *m = ctx;
	(void)err;
	if (m->count == MEMORY_KEEP) {
		memory_clear(&m->ring[m->first]);
		m->first = (m->first + 1) % MEMORY_KEEP;
		m->count--;
	}
	struct mc_event *slot = &m->ring[(m->first + m->count++) % MEMORY_KEEP];
	*slot = (struct mc_event){mc_strdup(ev->type), ev->tenant_id,
				  mc_strdup(ev->json)};
	return 0;
}

/* Frees every kept event. */
static void memory_destroy(void *ctx)
{
	struct memory *m = ctx;
	for (size_t i = 0; i < m->count; i++)
		memory_clear(&m->ring[(m->first + i) % MEMORY_KEEP]);
	free(m);
}

static const struct mc_events_backend memory_backend = {
	.name = "memory",
	.emit = memory_emit,
	.destroy = memory_destroy,
};

struct mc_events *mc_events_memory_create(void)
{
	return mc_events_create(&memory_backend,
				mc_calloc(1, sizeof(struct memory)));
}

size_t mc_events_memory_count(struct mc_events *e)
{
	if (e == NULL || e->backend != &memory_backend)
		return 0;
	pthread_mutex_lock(&e->lock);
	size_t n = ((struct memory *)e->ctx)->count;
	pthread_mutex_unlock(&e->lock);
	return n;
}

bool mc_events_memory_get(struct mc_events *e, size_t i, struct mc_event *ev_r)
{
	if (e == NULL || e->backend != &memory_backend)
		return false;
	pthread_mutex_lock(&e->lock);
	struct memory *m = e->ctx;
	bool ok = i < m->count;
	if (ok)
		*ev_r = m->ring[(m->first + i) % MEMORY_KEEP];
	pthread_mutex_unlock(&e->lock);
	return ok;
}
