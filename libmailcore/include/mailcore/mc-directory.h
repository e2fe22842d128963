/* mc-directory: address -> who gets the mail. Resolves a recipient
 * through domain aliases (u@old -> u@new), users (with their forwards,
 * with or without a local copy), mailbox and group aliases (nested, local
 * and external targets), "+detail" subaddresses and catch-alls, into the
 * mailboxes to store into and the external addresses to queue for.
 * Results are cached in Redis under a generation number that every
 * change to the directory bumps (mc_directory_invalidate), so a change is
 * seen by the next lookup on every node. */
#ifndef MC_DIRECTORY_H
#define MC_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_error;
struct mc_pg;
struct mc_pool;
struct mc_redis;

/* Targets an address can expand to, at most (then the lookup fails as a
 * permanent loop/expansion error). */
#define MC_DIRECTORY_MAX_TARGETS 1000
#define MC_DIRECTORY_MAX_DEPTH	 10

enum mc_directory_status {
	MC_DIR_OK = 0,		 /* at least one mailbox or external target */
	MC_DIR_NOT_LOCAL,	 /* the domain is not one of ours */
	MC_DIR_UNKNOWN,		 /* no such user or alias: 550 5.1.1 */
	MC_DIR_DISABLED,	 /* user frozen / not active: 550 5.2.1 */
	MC_DIR_DOMAIN_SUSPENDED, /* 550 5.2.1 */
	MC_DIR_DOMAIN_EXPIRED,	 /* 550 5.2.1, distinct text */
	MC_DIR_LOOP, /* alias loop or expansion too big: 554 5.4.6 */
};

/* A mailbox owner the address delivers to, with what the RCPT and commit
 * checks need. Sizes in bytes; quotas 0 = unlimited. */
struct mc_directory_mailbox {
	int64_t tenant_id, user_id, domain_id;
	const char *address; /* the user's own address */
	int64_t quota, used;
	int64_t domain_quota, domain_used;
	int64_t max_message_size; /* the domain's; 0 = server default */
	bool quota_permanent;	  /* over quota is 552 5.2.2, else 452 */
};

/* The lookup's answer; everything is allocated from the caller's pool. */
struct mc_directory_result {
	enum mc_directory_status status;
	const char *text;   /* why, for the SMTP reply (not OK) */
	int64_t tenant_id;  /* the tenant of the address's domain, 0 if none */
	const char *domain; /* the address's domain after domain aliases */
	struct mc_directory_mailbox *mailboxes;
	size_t mailboxes_count;
	const char **external; /* addresses outside our domains */
	size_t external_count;
};

struct mc_directory_settings {
	unsigned cache_ttl_s; /* 0 = no cache */
};

/* Resolves address ("Local@Domain", matched without regard to case).
 * redis may be NULL (no cache). 0 with *result_r filled (any status), or
 * -1 with err (MC_ERR_TEMPORARY when PostgreSQL or Redis is down). */
int mc_directory_resolve(struct mc_pg *pg, struct mc_redis *redis,
			 const struct mc_directory_settings *set,
			 struct mc_pool *pool, const char *address,
			 struct mc_directory_result *result_r,
			 struct mc_error *err);

/* Whether domain (lower case) is one of ours, domain aliases included:
 * 1 yes (tenant in *tenant_id_r, may be NULL), 0 no, -1 error. */
int mc_directory_local_domain(struct mc_pg *pg, const char *domain,
			      int64_t *tenant_id_r, struct mc_error *err);

/* Makes every cached lookup stale (call after any change to domains,
 * users, aliases or forwards). 0, or -1 (Redis down: entries then expire
 * after the cache TTL). */
int mc_directory_invalidate(struct mc_redis *redis, struct mc_error *err);

/* Drops the cached lookups of some addresses (after a delivery changed
 * their usage). Best effort. */
void mc_directory_forget(struct mc_redis *redis, const char *const *addresses,
			 size_t count);

/* Authentication: the active user whose login is address, with its
 * password hash (from pool). 1 found, 0 no such active user (or its
 * domain is not active), -1 error. */
struct mc_directory_login {
	int64_t tenant_id, user_id, domain_id;
	const char *address, *password_hash;
	const char *imap_backend;    /* "IP:port" for an IMAP proxy, or NULL */
	unsigned protocols;	     /* MC_DIR_PROTO_* the user may use */
	int64_t password_changed_at; /* Unix time */
	/* When the password stops working under the domain's password
	 * policy (Unix time, as mc_password_policy_expires_at computes it):
	 * 0 when the domain has no maximum age or the user is one of its
	 * exceptions. */
	int64_t password_expires_at;
};
#define MC_DIR_PROTO_IMAP    0x1u
#define MC_DIR_PROTO_POP3    0x2u
#define MC_DIR_PROTO_SMTP    0x4u
#define MC_DIR_PROTO_WEBMAIL 0x8u
int mc_directory_login(struct mc_pg *pg, struct mc_pool *pool,
		       const char *address, struct mc_directory_login *login_r,
		       struct mc_error *err);
/* True when login's password has expired at now (Unix time): the
 * daemons then refuse even the right password. */
bool mc_directory_login_expired(const struct mc_directory_login *login,
				int64_t now);
/* What IMAP, POP3 and SMTP tell a user with an expired password. */
#define MC_DIRECTORY_EXPIRED_TEXT                                              \
	"Password expired: change it in webmail or ask your administrator"

/* Whether the user may use address as its envelope sender: its own
 * address, the same local part at an alias of its domain, a mailbox
 * alias whose only target is the user, or a send-as grant (an address or
 * "@domain"). 1 yes, 0 no, -1 error. */
int mc_directory_may_send_as(struct mc_pg *pg, int64_t tenant_id,
			     int64_t user_id, const char *address,
			     struct mc_error *err);

/* Whether a client IP may relay as one of tenant's networks, for a
 * sender of that tenant's domains: 1 yes (relaying tenant in
 * *tenant_id_r), 0 no, -1 error. ip is numeric ("192.0.2.1"). */
int mc_directory_relay_network(struct mc_pg *pg, const char *ip,
			       const char *sender_domain, int64_t *tenant_id_r,
			       struct mc_error *err);

#endif
