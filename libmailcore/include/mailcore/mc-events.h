/* mc-events: an event sink for things operators and tenants want to know
 * about (a sending limit hit, a tenant's deferred queue growing), behind
 * a vtable so the transport can change: Redis streams now (XADD
 * mc:events MAXLEN ~ 100000 * type T tenant N json {...}), Kafka later,
 * and an in-memory backend for unit tests. A sink is thread-safe: every
 * backend serialises its own emits. Emitting is best effort for callers:
 * an event lost to an outage is logged, never a reason to refuse mail. */
#ifndef MC_EVENTS_H
#define MC_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_error;
struct mc_redis;

/* The event types emitted today. */
#define MC_EVENT_LIMIT_HIT	"limit.hit"
#define MC_EVENT_QUEUE_DEFERRED "queue.deferred_threshold"

/* The Redis stream and its approximate length cap. */
#define MC_EVENTS_STREAM	"mc:events"
#define MC_EVENTS_STREAM_MAXLEN 100000

/* One event as a backend receives it (valid during the call only). */
struct mc_event {
	const char *type;  /* MC_EVENT_* */
	int64_t tenant_id; /* 0 = the provider */
	const char *json;  /* a JSON object, compact */
};

/* A backend: emit returns 0, or -1 with err (MC_ERR_TEMPORARY when its
 * transport is down); destroy frees ctx. Calls are serialised by the
 * sink, so a backend needs no locking of its own. */
struct mc_events_backend {
	const char *name;
	int (*emit)(void *ctx, const struct mc_event *ev, struct mc_error *err);
	void (*destroy)(void *ctx);
};

struct mc_events;

/* A sink over backend with its context (owned by the sink from now on).
 * The caller owns the result. */
struct mc_events *mc_events_create(const struct mc_events_backend *backend,
				   void *ctx);
/* Frees the sink and its backend; accepts NULL and clears *events. */
void mc_events_destroy(struct mc_events **events);
/* The backend's name ("redis", "memory"). */
const char *mc_events_backend_name(const struct mc_events *events);

/* Emits an event whose data is the JSON object data (not consumed; NULL
 * = {}), serialised with sorted keys. events may be NULL (nothing
 * happens, 0). 0, or -1 with err. */
int mc_events_emit(struct mc_events *events, const char *type,
		   int64_t tenant_id, const json_t *data, struct mc_error *err);

/* The Redis backend: XADD to MC_EVENTS_STREAM over redis, which the sink
 * owns (and destroys) from now on. */
struct mc_events *mc_events_redis_create(struct mc_redis *redis);

/* The memory backend: keeps the last 1000 events for inspection. */
struct mc_events *mc_events_memory_create(void);
/* How many events a memory sink holds (0 for another backend). */
size_t mc_events_memory_count(struct mc_events *events);
/* Event i (0 = oldest kept) of a memory sink, copied into *ev_r; its
 * strings are owned by the sink and valid until the next emit or
 * destroy. False when out of range or not a memory sink. */
bool mc_events_memory_get(struct mc_events *events, size_t i,
			  struct mc_event *ev_r);

#endif
