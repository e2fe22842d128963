/* mc-queue: the durable outbound queue in PostgreSQL (tables queue and
 * queue_recipients, written by mc-store at acceptance). Delivery agents
 * claim due recipients with FOR UPDATE SKIP LOCKED under a lease (so
 * several processes and nodes share one queue, and a crashed agent's
 * claims come back when the lease ends), record each attempt's outcome
 * (delivered, deferred with backoff, failed and waiting for its DSN,
 * bounced), and drop an entry with its message reference once every
 * recipient is final. Management (list, show, hold, release, retry,
 * delete with or without a bounce) is scoped by tenant. */
#ifndef MC_QUEUE_H
#define MC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_error;
struct mc_pg;
struct mc_pool;

/* A claimed recipient. */
struct mc_queue_rcpt {
	const char *address;
	const char *orcpt; /* or NULL */
	unsigned notify;   /* MC_SMTP_NOTIFY_* */
	unsigned attempts; /* before this one */
	bool delay_warned;
	const char *last_error; /* or NULL */
	time_t first_deferred;	/* 0 if never */
};

enum mc_queue_job_kind {
	MC_QUEUE_DELIVER, /* recipients to deliver (queued or deferred) */
	MC_QUEUE_NOTIFY,  /* 'failed' recipients waiting for their DSN */
};

/* Claimed recipients of one queue entry with one recipient domain. */
struct mc_queue_job {
	enum mc_queue_job_kind kind;
	int64_t tenant_id, entry_id, message_id;
	const char *queue_id;
	const char *sender; /* "" = null reverse-path */
	const char *envid, *ret; /* or NULL */
	const char *auth_user, *client_ip; /* or NULL */
	const char *sha256;		   /* the content blob */
	uint64_t size;
	time_t created_at;
	time_t expires_at;  /* the entry's lifetime ends */
	const char *domain; /* the recipients' domain (lowercase) */
	struct mc_queue_rcpt *rcpts;
	size_t rcpts_count;
};

struct mc_queue_claim_settings {
	const char *owner;   /* "host:pid", recorded in claimed_by */
	unsigned lease_s;    /* claims expire after this; 0 = 600 */
	size_t max;	     /* recipients per claim; 0 = 100 */
	/* the lifetime of entries whose tenant sets none; 0 = 5 days */
	unsigned lifetime_s;
};

/* Claims due recipients of entries not held: each recipient with state
 * queued/deferred/failed, next_attempt <= now and no live claim,
 * grouped into jobs (pool). 0 and *jobs_r, *count_r (count 0 when
 * nothing is due), or -1 with err (MC_ERR_TEMPORARY). */
int mc_queue_claim(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_queue_claim_settings *set,
		   struct mc_queue_job **jobs_r, size_t *count_r,
		   struct mc_error *err);

enum mc_queue_outcome {
	MC_QUEUE_DELIVERED, /* final: accepted by the next hop */
	MC_QUEUE_DEFERRED,  /* retry after the backoff */
	MC_QUEUE_FAILED,    /* needs a DSN (kept until mc_queue_bounced) */
	MC_QUEUE_BOUNCED,   /* final: DSN sent or not wanted */
	MC_QUEUE_RELEASE,   /* not tried (destination busy): claim dropped */
	MC_QUEUE_WARNED,    /* a delay DSN was sent: still deferred */
};

struct mc_queue_result {
	const char *address;
	enum mc_queue_outcome outcome;
	const char *status;	/* "5.1.1" (or NULL) */
	const char *error;	/* last_error text: "mx.example[127.0.0.2]
				 * said: 550 5.1.1 No such user", or NULL */
	const char *remote_mta; /* or NULL */
};

struct mc_queue_backoff {
	unsigned min_s; /* first retry; 0 = 300 */
	unsigned max_s; /* cap; 0 = 14400 (doubling from min_s) */
};

/* Records the outcome of each recipient of job (results in any order;
 * recipients without a result keep their state and lose the claim).
 * Only rows still claimed by owner are changed. Deferred ones get
 * next_attempt = now + backoff(attempts). When the entry has no
 * recipient left to deliver or notify, it is deleted and its message's
 * refcount dropped. 0, or -1 with err (MC_ERR_TEMPORARY). */
int mc_queue_complete(struct mc_pg *pg, const struct mc_queue_job *job,
		      const char *owner, const struct mc_queue_backoff *backoff,
		      const struct mc_queue_result *results, size_t count,
		      struct mc_error *err);

/* The next time something in the queue becomes due (0 if the queue is
 * empty or held): for a delivery agent's sleep. -1 with err. */
int mc_queue_next_due(struct mc_pg *pg, time_t *when_r, struct mc_error *err);

/* Management ------------------------------------------------------- */

struct mc_queue_filter {
	const int64_t *tenants; /* scope: NULL = all (provider) */
	size_t tenants_count;
	const char *sender_domain; /* scope or filter; NULL = any */
	const char *sender;	   /* substring; NULL = any */
	const char *recipient;	   /* substring; NULL = any */
	const char *recipient_domain;
	const char *state;  /* "queued", "deferred", "held", "failed" or NULL */
	unsigned min_age_s; /* entries at least this old */
	const char *after;  /* cursor: queue_id to continue after, or NULL */
	size_t limit;	    /* 0 = 100 */
	/* the server's lifetime (as in mc_queue_claim_settings), for the
	 * expires_at shown of entries whose tenant sets none; 0 = 5 days */
	unsigned lifetime_s;
};

struct mc_queue_entry_rcpt {
	const char *address, *state, *last_error, *status;
	unsigned attempts;
	time_t next_attempt;
};

struct mc_queue_entry {
	int64_t tenant_id;
	const char *queue_id, *sender, *state; /* queued / held */
	const char *envid, *ret, *auth_user, *client_ip, *held_reason;
	uint64_t size;
	time_t created_at, expires_at;
	const struct mc_queue_entry_rcpt *rcpts;
	size_t rcpts_count;
};

/* Entries matching f ordered by queue_id (pool). 0 or -1 with err. */
int mc_queue_list(struct mc_pg *pg, struct mc_pool *pool,
		  const struct mc_queue_filter *f,
		  const struct mc_queue_entry **entries_r, size_t *count_r,
		  struct mc_error *err);
/* One entry by queue_id within the scope of f (its tenants and
 * sender_domain; other fields ignored): 1, 0 (none in scope), -1. */
int mc_queue_show(struct mc_pg *pg, struct mc_pool *pool,
		  const struct mc_queue_filter *scope, const char *queue_id,
		  struct mc_queue_entry *entry_r, struct mc_error *err);

enum mc_queue_action {
	MC_QUEUE_HOLD,	     /* no delivery until released */
	MC_QUEUE_UNHOLD,     /* release */
	MC_QUEUE_RETRY,	     /* every pending recipient due now */
	MC_QUEUE_DELETE,     /* drop silently */
	MC_QUEUE_DELETE_DSN, /* fail every pending recipient: DSN sent */
};
/* Applies action to queue_id within scope (reason: held_reason / the
 * DSN's text, or NULL). 1 done, 0 not found in scope, -1 with err. */
int mc_queue_act(struct mc_pg *pg, const struct mc_queue_filter *scope,
		 const char *queue_id, enum mc_queue_action action,
		 const char *reason, struct mc_error *err);

/* Deferred recipients per tenant (for the deferred-queue threshold). */
int mc_queue_deferred_count(struct mc_pg *pg, int64_t tenant_id,
			    uint64_t *count_r, struct mc_error *err);

#endif
