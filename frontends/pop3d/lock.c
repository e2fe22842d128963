/* lock: the maildrop lock (RFC 1939 8: one session per maildrop), a
 * Redis key mc:pop3lock:TENANT:USER set with NX to a random token for 60
 * s, refreshed every 20 s while the session lives and deleted at its end
 * only if it still holds our token, so the lock of a crashed daemon
 * simply expires. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mailcore/mc-redis.h"
#include "pop3d.h"

#define LOCK_TTL_MS	60000
#define LOCK_REFRESH_MS 20000

/* Deletes KEYS[1] if it holds ARGV[1]. */
static const char release_lua[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then "
	"return redis.call('del', KEYS[1]) else return 0 end";
/* Extends KEYS[1] to ARGV[2] ms if it holds ARGV[1]. */
static const char refresh_lua[] =
	"if redis.call('get', KEYS[1]) == ARGV[1] then "
	"return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/* A random token in hex. */
static void make_token(char *buf, size_t size)
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(r) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

int lock_take(struct mc_redis *redis, const struct mc_mailbox_owner *owner,
	      struct lock *lock, struct mc_error *err)
{
	snprintf(lock->key, sizeof(lock->key), "mc:pop3lock:%lld:%lld",
		 (long long)owner->tenant_id, (long long)owner->user_id);
	make_token(lock->token, sizeof(lock->token));
	redisReply *r = mc_redis_command(redis, err, "SET %s %s NX PX %d",
					 lock->key, lock->token, LOCK_TTL_MS);
	if (r == NULL)
		return -1;
	int got = r->type == REDIS_REPLY_STATUS ? 1 : 0; /* nil: taken */
	freeReplyObject(r);
	return got;
}

/* Runs script on the lock's key with its token (and ttl). */
static void lock_script(struct mc_worker *worker, const char *script,
			const struct lock *lock)
{
	struct mc_error err = {0};
	struct mc_redis *redis =
		worker != NULL ? mc_service_worker_redis(worker) : NULL;
	if (redis == NULL)
		return; /* no pool any more: the key expires */
	redisReply *r =
		mc_redis_command(redis, &err, "EVAL %s 1 %s %s %d", script,
				 lock->key, lock->token, LOCK_TTL_MS);
	if (r == NULL)
		mc_log_warning("maildrop lock %s: %s", lock->key, err.msg);
	else
		freeReplyObject(r);
}

/* Worker: deletes the lock if still ours; frees it. */
static void release_work(struct mc_worker *worker, void *ctx)
{
	lock_script(worker, release_lua, ctx);
	free(ctx);
}

void lock_release(struct pop3d *d, struct lock *lock)
{
	struct mc_workers *workers = mc_service_workers(d->service);
	struct mc_error err = {0};
	if (workers == NULL || mc_workers_submit(workers, NULL, release_work,
						 NULL, lock, &err) < 0)
		release_work(NULL, lock); /* the key expires by itself */
}

/* Worker: extends the lock (a copy of it, freed here). */
static void refresh_work(struct mc_worker *worker, void *ctx)
{
	lock_script(worker, refresh_lua, ctx);
}

/* Loop: the refresh job is done. */
static void refresh_done(struct mc_job_owner *owner, void *ctx)
{
	(void)owner;
	free(ctx);
}

/* Loop: time to extend the lock; the timer goes on. */
static void refresh_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;
	(void)fd;
	(void)what;
	if (s->lock == NULL)
		return;
	struct lock *copy = mc_malloc(sizeof(*copy));
	*copy = *s->lock;
	if (!session_job(s, refresh_work, refresh_done, copy))
		free(copy);
}

void lock_keep(struct session *s)
{
	struct timeval tv = {.tv_sec = LOCK_REFRESH_MS / 1000,
			     .tv_usec = (LOCK_REFRESH_MS % 1000) * 1000};
	s->lock_timer = event_new(mc_loop_base(s->loop), -1, EV_PERSIST,
				  refresh_tick, s);
	event_add(s->lock_timer, &tv);
}
