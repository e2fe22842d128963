/* deliverd: what the files of mc-deliverd share. main.c sets the daemon
 * up; schedule.c runs on the loop: it claims due mail, groups it into
 * batches per destination, keeps the concurrency caps and hands each
 * batch through its three stages: prepare.c (a service worker: relay
 * route, DKIM keys, MTA-STS cache), transfer.c (a delivery thread: DNS,
 * SMTP, signing) and finish.c (a service worker: bounces, queue rows). */
#ifndef DELIVERD_H
#define DELIVERD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-smtp-client.h"
#include "mailcore/mc-workers.h"

/* A smarthost: from [delivery] relay or a relay_routes row. */
struct route {
	const char *host; /* NULL: MX delivery */
	int port;
	const char *user, *password; /* AUTH, or NULL */
	enum mc_smtp_tls_mode tls;
};

/* The daemon, shared by every loop and thread (read-only after start
 * but for the scheduler's fields, which only the loop touches). */
struct deliverd {
	struct mc_service *service;
	struct mc_loop *loop;
	struct mc_workers *senders; /* the delivery threads */
	struct mc_blob_store *blobs;
	struct mc_dns *dns;
	struct mc_dkim *dkim;
	SSL_CTX *tls_ctx;
	const char *hostname, *helo_name;
	char owner[128]; /* "host:pid" on the claims */
	struct mc_queue_claim_settings claim;
	struct mc_queue_backoff backoff;
	struct mc_smtp_client_settings smtp; /* the common part */
	struct mc_directory_settings dir;
	struct mc_message_settings msg;
	int port;	       /* of remote MX hosts */
	struct route relay;    /* [delivery] relay (host NULL if none) */
	enum mc_smtp_tls_mode mx_tls;
	bool dkim_on, mta_sts, dane;
	int mta_sts_port;
	unsigned delay_warning_s, poll_ms;
	uint64_t dsn_max_return;
	unsigned concurrency, dest_concurrency;
	/* scheduler state (loop only) */
	struct event *timer;
	bool claiming, stopping;
	unsigned claim_backoff_ms; /* > 0 while claims fail */
	unsigned active; /* batches in flight */
	struct dest *dests;
	struct batch *waiting; /* claimed, waiting for a destination slot */
};

/* What one claimed job needs besides the queue row (from prepare). */
struct job_plan {
	struct mc_queue_job *job;
	const struct mc_dkim_key *keys;
	size_t keys_count;
	struct mc_queue_result *results; /* one per recipient */
	/* delivered to a next hop without DSN while NOTIFY had SUCCESS:
	 * we owe the "relayed" report (RFC 3461 section 6.2.1) */
	bool *relayed;
	bool done; /* every recipient has its result */
};

/* The reports a delivery agent writes (finish.c, bounce.c). */
enum report_kind {
	REPORT_FAILED,	/* the failed recipients */
	REPORT_DELAYED, /* a warning for the long-deferred ones */
	REPORT_RELAYED, /* success, as far as our next hop goes */
};

/* The MTA-STS policy of a recipient domain (mtasts.c). */
struct sts_policy {
	bool present;	   /* a policy is known */
	bool enforce;	   /* mode=enforce */
	bool fresh;	   /* fetched now: store it (finish.c) */
	const char *id;	   /* of the _mta-sts TXT record */
	const char *mode;  /* enforce, testing, none */
	const char **mx;   /* patterns */
	size_t mx_count;
	unsigned max_age;
};

/* Jobs with one destination: one connection carries them all. */
struct batch {
	struct batch *next;
	struct deliverd *d;
	struct mc_pool *pool;
	char *key; /* "mx:DOMAIN" or "relay:HOST:PORT" */
	const char *domain;
	struct job_plan *plans;
	size_t count;
	struct route route; /* host NULL: MX delivery */
	struct sts_policy sts;
	bool notify_only; /* MC_QUEUE_NOTIFY jobs: no transfer */
	double claimed_at; /* monotonic seconds: work stops at half the lease */
	struct mc_error err;
};

/* main.c: "none|opportunistic|required|verify" to the client's mode
 * (opportunistic for anything else). */
enum mc_smtp_tls_mode deliverd_tls_mode(const char *s);
/* Monotonic seconds. */
double deliverd_now(void);
/* True when b's claims are too old to start more work on: past half the
 * lease, so another agent never claims what we are still sending. */
bool batch_stale(const struct batch *b);

/* schedule.c */
int schedule_start(struct deliverd *d);
/* mc_loop_stop_fn: true while batches are in flight. */
bool schedule_stopping(struct mc_loop *loop, void *ctx);

/* prepare.c: on a service worker, fills routes, keys and the cached
 * MTA-STS policy of each batch; claims come from claim_run. */
struct claim_run {
	struct deliverd *d;
	struct mc_pool *pool;
	struct mc_queue_job *jobs;
	size_t count;
	struct batch *batches; /* built by prepare */
	struct mc_error err;
};
void prepare_claim(struct mc_worker *worker, void *ctx);

/* transfer.c: on a delivery thread, delivers the batch and fills every
 * plan's results. */
void transfer_batch(struct mc_worker *worker, void *ctx);
/* Sets a recipient's outcome. */
void plan_set(struct job_plan *p, size_t i, enum mc_queue_outcome o,
	      const char *status, const char *error, const char *mta);

/* mtasts.c: the policy of b's domain (cached one from prepare, else
 * fetched over HTTPS); false when it cannot be known now and delivery
 * must wait (a temporary failure for the batch). */
bool mtasts_policy(struct batch *b);
/* Whether host matches one of the policy's MX patterns. */
bool mtasts_mx_match(const struct sts_policy *p, const char *host);

/* finish.c: on a service worker, sends the DSNs owed and records every
 * outcome. */
void finish_batch(struct mc_worker *worker, void *ctx);
/* Writes and submits the DSN of plan's recipients of that kind; true
 * when it is in the store (or none is wanted). */
bool bounce_send(struct deliverd *d, struct mc_worker *worker,
		 struct mc_pool *pool, struct job_plan *plan,
		 enum report_kind kind);

#endif
