/* mc-ratelimit: the sending limits that keep the provider's IPs off
 * blacklists. Mail submitted for outbound delivery (an authenticated
 * sender, or a client relaying through us; inbound mail to our users is
 * not counted) counts toward three subjects: the user, the sender domain
 * and the client IP, each with messages and recipients per minute and
 * messages and bytes per day:
 *
 *   [limits]
 *   user_messages_per_minute = 0     0 = unlimited, for every limit
 *   user_recipients_per_minute = 0
 *   user_messages_per_day = 0
 *   user_bytes_per_day = 0           (size)
 *   domain_... and ip_...            the same four for the others
 *   notify_interval = 1h             one notice per limit and subject
 *   deferred_threshold = 0           deferred recipients of a tenant
 *                                    above which an event is emitted
 *   deferred_hold = no               then its new submissions are held
 *
 * A domain may override the user_ and domain_ limits of its senders with
 * domains.send_limits, a JSON object of the same key names (a key that
 * is present replaces the server's value, 0 included). IP limits are the
 * server's.
 *
 * Counters live in Redis under "mc:rl:<subject>:<kind>:<window>" with a
 * TTL of two windows. Per-minute limits use a sliding window (this
 * minute's count plus the previous minute's weighted by how much of it
 * the window still covers), per-day limits a fixed window (the UTC day).
 * Every operation on a subject's counters is one Lua script, so a check
 * and an increment see all counters at one instant. Redis being down
 * never refuses mail: the operations return -1 and callers go ahead. */
#ifndef MC_RATELIMIT_H
#define MC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_blob_store;
struct mc_config;
struct mc_error;
struct mc_events;
struct mc_pg;
struct mc_redis;

/* Who is counted. */
enum mc_ratelimit_scope {
	MC_RL_USER = 0,
	MC_RL_DOMAIN,
	MC_RL_IP,
	MC_RL_SCOPE_COUNT,
};

/* What is counted. */
enum mc_ratelimit_kind {
	MC_RL_MESSAGES_MINUTE = 0,
	MC_RL_RECIPIENTS_MINUTE,
	MC_RL_MESSAGES_DAY,
	MC_RL_BYTES_DAY,
	MC_RL_KIND_COUNT,
};

/* "user", "domain", "ip". */
const char *mc_ratelimit_scope_name(enum mc_ratelimit_scope scope);
/* "messages_per_minute", "recipients_per_minute", "messages_per_day",
 * "bytes_per_day": with the scope's name and "_" in front, the key names
 * of [limits] and of domains.send_limits. */
const char *mc_ratelimit_kind_name(enum mc_ratelimit_kind kind);

/* The limits of one submission; 0 = unlimited. */
struct mc_ratelimit_limits {
	uint64_t v[MC_RL_SCOPE_COUNT][MC_RL_KIND_COUNT];
};

struct mc_ratelimit_settings {
	struct mc_ratelimit_limits limits; /* the server's */
	unsigned notify_interval_s;	   /* 0 = 3600 */
	uint64_t deferred_threshold;	   /* 0 = off */
	bool deferred_hold;
	/* for tests: the window lengths (0 = 60 and 86400) and how long a
	 * tenant's deferred count is cached (0 = 60) */
	unsigned minute_s, day_s, deferred_cache_s;
};

/* Reads [limits] of a loaded configuration into set_r. */
void mc_ratelimit_settings_from_config(const struct mc_config *cfg,
				       struct mc_ratelimit_settings *set_r);
/* True when any limit of set is nonzero (else nothing is counted). */
bool mc_ratelimit_any(const struct mc_ratelimit_limits *limits);

/* The subject of one submission. user_id 0 = no user (relayed mail),
 * domain_id 0 = a sender domain that is not ours, ip NULL or "" = no IP
 * counted. The strings are the caller's; user and domain name the
 * subjects in texts and notices (may be NULL). */
struct mc_ratelimit_subject {
	int64_t tenant_id; /* who is notified; 0 = the provider */
	int64_t user_id;
	int64_t domain_id;
	const char *ip;
	const char *user;   /* "alice@example.com" */
	const char *domain; /* "example.com" */
};

/* How much a check asks for, or a record adds; a check only looks at
 * the kinds whose amount is nonzero. */
struct mc_ratelimit_amount {
	uint64_t messages, recipients, bytes;
};

/* The outcome of a check. */
struct mc_ratelimit_verdict {
	bool over;
	enum mc_ratelimit_scope scope;
	enum mc_ratelimit_kind kind;
	uint64_t limit, used; /* used: before the amount */
};

/* The limits of a submission from the sender domain domain_id (0: the
 * server's): set's, with the domain's send_limits applied; the domain's
 * name goes to name_r (size bytes, "" if none) when name_r is not NULL.
 * Cached in Redis for a minute (redis may be NULL). 1, 0 no such domain
 * (the server's limits), -1 with err (the database is down; limits_r
 * still holds the server's). */
int mc_ratelimit_limits_for(struct mc_pg *pg, struct mc_redis *redis,
			    const struct mc_ratelimit_settings *set,
			    int64_t domain_id,
			    struct mc_ratelimit_limits *limits_r, char *name_r,
			    size_t size, struct mc_error *err);
/* The same by sender domain name (lower case); the domain's tenant and id
 * go to *tenant_r and *domain_id_r (0 when it is not ours). */
int mc_ratelimit_limits_by_name(struct mc_pg *pg, struct mc_redis *redis,
				const struct mc_ratelimit_settings *set,
				const char *domain, int64_t *tenant_r,
				int64_t *domain_id_r,
				struct mc_ratelimit_limits *limits_r,
				struct mc_error *err);

/* Would amount more pass every limit of subject at time now? Read only.
 * 0 with *verdict_r (over: the first limit it would exceed, in scope
 * then kind order), or -1 with err (Redis down: the caller goes ahead). */
int mc_ratelimit_check(struct mc_redis *redis,
		       const struct mc_ratelimit_settings *set,
		       const struct mc_ratelimit_limits *limits,
		       const struct mc_ratelimit_subject *subject, time_t now,
		       const struct mc_ratelimit_amount *amount,
		       struct mc_ratelimit_verdict *verdict_r,
		       struct mc_error *err);
/* Counts an accepted submission: adds amount to every limited counter
 * of subject at once. 0, or -1 with err. */
int mc_ratelimit_record(struct mc_redis *redis,
			const struct mc_ratelimit_settings *set,
			const struct mc_ratelimit_limits *limits,
			const struct mc_ratelimit_subject *subject, time_t now,
			const struct mc_ratelimit_amount *amount,
			struct mc_error *err);
/* Check and record in one step: adds amount only when every limit
 * passes (so concurrent callers never overshoot). 0 with *verdict_r
 * (over: nothing added), or -1 with err. */
int mc_ratelimit_take(struct mc_redis *redis,
		      const struct mc_ratelimit_settings *set,
		      const struct mc_ratelimit_limits *limits,
		      const struct mc_ratelimit_subject *subject, time_t now,
		      const struct mc_ratelimit_amount *amount,
		      struct mc_ratelimit_verdict *verdict_r,
		      struct mc_error *err);

/* The SMTP answer to an exceeded limit: 451 4.7.1 for a per-minute
 * limit ("Too many messages per minute from this user; try again
 * later"), 550 5.7.1 for a daily cap. The text is static. */
unsigned mc_ratelimit_reply(const struct mc_ratelimit_verdict *verdict,
			    const char **enh_r, const char **text_r);

/* Whether this is the first time within the notify interval that key
 * (a limit and its subject, any text) asks: SET NX EX in Redis under
 * "mc:rl:n:<key>". 1 yes (notify now), 0 already done, -1 with err. */
int mc_ratelimit_notify_once(struct mc_redis *redis,
			     const struct mc_ratelimit_settings *set,
			     const char *key, struct mc_error *err);

/* What reporting a hit needs (all used from one worker thread). */
struct mc_ratelimit_report_ctx {
	struct mc_pg *pg;
	struct mc_redis *redis;
	struct mc_blob_store *blobs; /* NULL: no notice mail */
	struct mc_events *events;    /* NULL: no event */
	const struct mc_ratelimit_settings *set;
	const char *hostname; /* in the notice's From: and Message-ID */
};

/* A limit was hit: once per notify interval per (limit, subject) emits
 * MC_EVENT_LIMIT_HIT and delivers a short notice to the INBOX of the
 * tenant's administrators (users holding a 'tenant' role binding on the
 * tenant, or a 'domain' one on the subject's domain), or when it has
 * none, to postmaster@ of the subject's domain if that is a mailbox.
 * 1 reported now, 0 already reported in this window, -1 with err (what
 * could be done was done; the caller logs it). */
int mc_ratelimit_report(const struct mc_ratelimit_report_ctx *ctx,
			const struct mc_ratelimit_subject *subject,
			const struct mc_ratelimit_verdict *verdict, time_t now,
			struct mc_error *err);

/* The deferred-queue threshold of tenant_id at time now: the number of
 * its queue recipients in state 'deferred' (cached in Redis for
 * deferred_cache_s), compared with set->deferred_threshold. Over it,
 * MC_EVENT_QUEUE_DEFERRED is emitted once per notify interval. 1 over
 * (*count_r the count), 0 not over or the threshold is off, -1 with err
 * (not over, as far as the caller knows). */
int mc_ratelimit_deferred(const struct mc_ratelimit_report_ctx *ctx,
			  int64_t tenant_id, uint64_t *count_r,
			  struct mc_error *err);

#endif
