/* notify: change notices between sessions, processes and nodes. The
 * store publishes "new|flags|expunge MAILBOX_ID ..." on the user's Redis
 * channel (mc:mbox:TENANT:USER); one thread per process listens to all
 * of them (PSUBSCRIBE) and posts each notice to every loop, where the
 * loop's own table finds that user's sessions: the notice marks the
 * selected mailbox for a sync and wakes IDLE. A global table counts the
 * sessions per user for the per-user limit. Redis down: notices are lost
 * (sessions still see changes at NOOP/CHECK) and the thread reconnects;
 * after a reconnect every selected mailbox is synced once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"
#include "mailcore/mc-redis.h"

#define BUCKETS	  1024
#define MAX_LOOPS 1024
#define RETRY_MS  1000

/* A notice on its way to one loop. */
struct notice {
	struct mc_loop *loop;
	int64_t tenant_id, user_id, mailbox_id; /* user 0: everyone */
};

/* Sessions per user on one loop (loop thread only). */
static struct session *loop_table[MAX_LOOPS][BUCKETS];

/* Sessions per user in the process (any thread, under count_lock). */
struct user_count {
	struct user_count *next;
	int64_t tenant_id, user_id;
	unsigned count;
};
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_count *counts[BUCKETS];

static pthread_t thread;
static bool running;
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mc_redis *sub;
static bool stopping;
static struct imapd *daemon_ctx;

/* The bucket of a user. */
static unsigned bucket(int64_t tenant_id, int64_t user_id)
{
	uint64_t h = (uint64_t)tenant_id * 0x9E3779B97F4A7C15ull ^
		     (uint64_t)user_id * 0xC2B2AE3D27D4EB4Full;
	return (unsigned)(h >> 40) % BUCKETS;
}

/* Adds delta to the user's count; returns the new count. */
static unsigned count_add(int64_t tenant_id, int64_t user_id, int delta)
{
	unsigned b = bucket(tenant_id, user_id), n = 0;
	pthread_mutex_lock(&count_lock);
	struct user_count **pp = &counts[b];
	while (*pp != NULL &&
	       ((*pp)->tenant_id != tenant_id || (*pp)->user_id != user_id))
		pp = &(*pp)->next;
	if (*pp == NULL && delta > 0) {
		*pp = mc_calloc(1, sizeof(**pp));
		(*pp)->tenant_id = tenant_id;
		(*pp)->user_id = user_id;
	}
	if (*pp != NULL) {
		(*pp)->count = (unsigned)((int)(*pp)->count + delta);
		n = (*pp)->count;
		if (n == 0) {
			struct user_count *gone = *pp;
			*pp = gone->next;
			free(gone);
		}
	}
	pthread_mutex_unlock(&count_lock);
	return n;
}

unsigned notify_user_sessions(int64_t tenant_id, int64_t user_id)
{
	return count_add(tenant_id, user_id, 0);
}

void notify_register(struct session *s)
{
	unsigned b = bucket(s->owner.tenant_id, s->owner.user_id);
	struct session **head = &loop_table[mc_loop_index(s->loop)][b];
	s->notify_next = *head;
	*head = s;
	s->registered = true;
	count_add(s->owner.tenant_id, s->owner.user_id, 1);
}

void notify_unregister(struct session *s)
{
	if (!s->registered)
		return;
	unsigned b = bucket(s->owner.tenant_id, s->owner.user_id);
	struct session **pp = &loop_table[mc_loop_index(s->loop)][b];
	while (*pp != NULL && *pp != s)
		pp = &(*pp)->notify_next;
	if (*pp == s)
		*pp = s->notify_next;
	s->registered = false;
	count_add(s->owner.tenant_id, s->owner.user_id, -1);
}

/* Marks s's mailbox for a sync, or wakes it in IDLE. */
static void touch(struct session *s, int64_t mailbox_id)
{
	if (s->sel != NULL && (mailbox_id == 0 || s->sel->id == mailbox_id)) {
		s->sel->dirty = true;
		session_notified(s, mailbox_id);
	}
}

/* On a loop: hands the notice to the user's sessions there. */
static void deliver(void *ctx)
{
	struct notice *n = ctx;
	struct session *const *table = loop_table[mc_loop_index(n->loop)];
	for (unsigned b = 0; b < BUCKETS; b++) {
		if (n->user_id != 0 && b != bucket(n->tenant_id, n->user_id))
			continue;
		for (struct session *s = table[b], *next; s != NULL; s = next) {
			next = s->notify_next;
			if (n->user_id == 0 ||
			    (s->owner.tenant_id == n->tenant_id &&
			     s->owner.user_id == n->user_id))
				touch(s, n->mailbox_id);
		}
	}
	free(n);
}

/* Posts a copy of the notice to every loop. */
static void broadcast(const struct notice *n)
{
	struct mc_server *server = mc_service_server(daemon_ctx->service);
	unsigned loops = mc_server_loop_count(server);
	for (unsigned i = 0; i < loops && i < MAX_LOOPS; i++) {
		struct notice *c = mc_malloc(sizeof(*c));
		*c = *n;
		c->loop = mc_server_loop(server, i);
		mc_loop_post(c->loop, deliver, c);
	}
}

/* Parses "mc:mbox:T:U" and "verb MAILBOX ..."; false if malformed. */
static bool parse_notice(const char *channel, const char *msg, struct notice *n)
{
	long long t, u, m;
	char verb[16];
	if (sscanf(channel, "mc:mbox:%lld:%lld", &t, &u) != 2 ||
	    sscanf(msg, "%15s %lld", verb, &m) != 2 || u == 0)
		return false;
	n->tenant_id = t;
	n->user_id = u;
	n->mailbox_id = m;
	return true;
}

/* Connects and subscribes; false (logged once) when Redis is down. */
static bool subscribe(bool *warned)
{
	struct mc_error err = {0};
	pthread_mutex_lock(&sub_lock);
	int r = stopping ? -1 : mc_redis_psubscribe(sub, "mc:mbox:*", &err);
	pthread_mutex_unlock(&sub_lock);
	if (r < 0 && !stopping && !*warned) {
		mc_log_warning("notices: %s; IDLE waits for NOOP until Redis "
			       "is back",
			       err.msg);
		*warned = true;
	}
	return r == 0;
}

/* The subscriber thread: reads notices until stopped. */
static void *listen_thread(void *arg)
{
	(void)arg;
	bool warned = false;
	while (!stopping) {
		if (!subscribe(&warned)) {
			usleep(RETRY_MS * 1000);
			continue;
		}
		if (warned)
			mc_log_info("notices: subscribed again");
		warned = false;
		struct notice all = {0}; /* notices may have been missed */
		broadcast(&all);
		char *channel, *msg;
		struct mc_error err = {0};
		while (mc_redis_message(sub, &channel, &msg, &err) == 1) {
			struct notice n;
			if (parse_notice(channel, msg, &n))
				broadcast(&n);
			free(channel);
			free(msg);
		}
	}
	return NULL;
}

int notify_start(struct imapd *d, struct mc_error *err)
{
	daemon_ctx = d;
	sub = mc_service_redis_from_config(mc_service_config(d->service));
	int e = pthread_create(&thread, NULL, listen_thread, NULL);
	if (e != 0) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "cannot start the notice thread: %s", strerror(e));
		mc_redis_destroy(&sub);
		return -1;
	}
	running = true;
	return 0;
}

void notify_stop(void)
{
	static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&stop_lock); /* every loop may call it */
	if (running) {
		pthread_mutex_lock(&sub_lock);
		stopping = true;
		mc_redis_interrupt(sub);
		pthread_mutex_unlock(&sub_lock);
		pthread_join(thread, NULL);
		running = false;
		mc_redis_destroy(&sub);
	}
	pthread_mutex_unlock(&stop_lock);
}
