/* mc-quarantine: mail held back from a recipient's mailboxes (a virus,
 * spam, a content rule, a DMARC quarantine policy). Each recipient's item
 * holds a reference on the stored message, so its blob outlives it; the
 * item is released into the recipient's INBOX, deleted, or expires.
 * Users learn of new items through a digest message whose release links
 * carry signed, expiring tokens; administrators list, show, release and
 * delete within their scope (tenants, a domain, a user). Everything is
 * synchronous and keeps no state: safe from any thread with its own
 * mc_pg connection. */
#ifndef MC_QUARANTINE_H
#define MC_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_error;
struct mc_message_info;
struct mc_pg;
struct mc_pool;
struct mc_redis;

/* How long an item is kept by default: 30 days. */
#define MC_QUARANTINE_LIFETIME_S (30u * 86400u)
/* The most items one listing or one digest returns. */
#define MC_QUARANTINE_LIST_MAX	 1000u
#define MC_QUARANTINE_DIGEST_MAX 200u
/* A release token: 86 base64url characters (no padding). */
#define MC_QUARANTINE_TOKEN_LEN	 86
#define MC_QUARANTINE_TOKEN_SIZE (MC_QUARANTINE_TOKEN_LEN + 1)

enum mc_quarantine_category {
	MC_QUARANTINE_VIRUS,
	MC_QUARANTINE_SPAM,
	MC_QUARANTINE_POLICY, /* a content rule or other local policy */
	MC_QUARANTINE_DMARC,  /* the sender domain's p=quarantine */
};

/* "virus", "spam", "policy", "dmarc" (as stored); NULL when unknown. */
const char *mc_quarantine_category_name(enum mc_quarantine_category c);
/* The category named name; false when there is none. */
bool mc_quarantine_category_parse(const char *name,
				  enum mc_quarantine_category *c_r);

/* A recipient whose copy is held back. */
struct mc_quarantine_rcpt {
	int64_t user_id, domain_id;
	const char *address;
};

/* What is being quarantined: one message for some recipients of one
 * tenant. The blob named sha256 must already be durable. */
struct mc_quarantine_add {
	int64_t tenant_id;
	const char *sha256;
	const struct mc_message_info *info;
	const char *sender; /* the envelope sender; "" or NULL = null */
	const struct mc_quarantine_rcpt *rcpts;
	size_t rcpts_count;
	const char *reason; /* "virus: Eicar-Signature", "spam score 12.3" */
	enum mc_quarantine_category category;
	unsigned lifetime_s; /* 0 = MC_QUARANTINE_LIFETIME_S */
};

/* Adds one item per recipient and takes as many references on the
 * tenant's message row (created from info, or reused as a delivery would,
 * see mc_store_message_ref), all in one transaction (the caller's when
 * one is open). ids_r (rcpts_count entries, or NULL) receives the new
 * items' ids. 0, or -1 with err (MC_ERR_INVALID for a bad request,
 * MC_ERR_TEMPORARY when the database is unavailable: nothing stored). */
int mc_quarantine_add(struct mc_pg *pg, const struct mc_quarantine_add *a,
		      int64_t *ids_r, struct mc_error *err);

/* Whose items an operation may see: all of it must match. */
struct mc_quarantine_scope {
	const int64_t *tenants; /* NULL = every tenant (the provider) */
	size_t tenants_count;
	int64_t domain_id; /* 0 = any domain */
	int64_t user_id;   /* 0 = any user */
};

/* Listing filters; NULL / 0 fields do not filter. */
struct mc_quarantine_filter {
	const char *state;     /* "held" (not released), "released" */
	const char *category;  /* a category name */
	const char *sender;    /* substring, case-insensitive */
	const char *recipient; /* substring, case-insensitive */
	const char *text;      /* substring of the subject or reason */
	/* cursor: the last id of the previous page (items come newest
	 * first, by descending id) */
	int64_t after;
	size_t limit; /* 0 = 100; at most MC_QUARANTINE_LIST_MAX */
};

/* One item. Strings are never NULL ("" when empty) except sha256 and
 * released_by; times are 0 when unset. */
struct mc_quarantine_item {
	int64_t tenant_id, id;
	int64_t user_id, domain_id;
	int64_t message_id; /* 0 once released */
	const char *sha256; /* the content's blob; NULL once released */
	const char *recipient, *sender, *subject, *reason, *category;
	uint64_t size;
	time_t created_at, expires_at, released_at, digest_sent_at;
	const char *released_by;
};

/* The items in scope matching f, newest first, from pool. 0, or -1 with
 * err (MC_ERR_INVALID for an unknown state or category). */
int mc_quarantine_list(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_quarantine_scope *scope,
		       const struct mc_quarantine_filter *f,
		       const struct mc_quarantine_item **items_r,
		       size_t *count_r, struct mc_error *err);

/* Item id within scope into *item_r (strings from pool): 1, 0 when
 * there is none in scope, -1 with err. */
int mc_quarantine_show(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_quarantine_scope *scope, int64_t id,
		       struct mc_quarantine_item *item_r, struct mc_error *err);

/* Releases item id within scope in one transaction (the caller's when
 * one is open): delivers the stored message into the recipient's INBOX
 * through the store (internal date: when it was quarantined), marks the
 * item released by actor ("admin x@y", "user via link"; 1-400 bytes) and
 * drops the item's reference. With redis, and in a transaction of its
 * own, the new mail is announced (mc_store_notify). 1 released, 0 none in
 * scope, -1 with err: MC_ERR_STALE when it was already released,
 * MC_ERR_LIMIT when the recipient is over quota, MC_ERR_PERMANENT when
 * the recipient is gone (nothing changes in these cases). */
int mc_quarantine_release(struct mc_pg *pg, struct mc_redis *redis,
			  const struct mc_quarantine_scope *scope, int64_t id,
			  const char *actor, struct mc_error *err);

/* Deletes item id within scope (released or not), dropping its reference
 * if it holds one. 1 deleted, 0 none in scope, -1 with err. */
int mc_quarantine_delete(struct mc_pg *pg,
			 const struct mc_quarantine_scope *scope, int64_t id,
			 struct mc_error *err);

/* Deletes the items that expired at now (0 = the database's clock), in
 * batches, dropping their references: for the maintenance job. The
 * number deleted in *count_r (also when it fails part way; may be NULL).
 * 0, or -1 with err. */
int mc_quarantine_expire(struct mc_pg *pg, time_t now, uint64_t *count_r,
			 struct mc_error *err);

/* Release links -------------------------------------------------------- */

enum mc_quarantine_token_status {
	MC_QUARANTINE_TOKEN_VALID,
	MC_QUARANTINE_TOKEN_INVALID, /* malformed, tampered, other secret */
	MC_QUARANTINE_TOKEN_EXPIRED, /* genuine, but past its expiry */
};

/* Writes the release token of item id of user_id in tenant_id, valid
 * until expires: the fields and an HMAC-SHA256 under secret over them,
 * base64url. False (token_r "") when secret is NULL or empty. */
bool mc_quarantine_token(const char *secret, int64_t id, int64_t tenant_id,
			 int64_t user_id, time_t expires,
			 char token_r[MC_QUARANTINE_TOKEN_SIZE]);

/* Checks token under secret at now (the MAC is compared in constant
 * time, before the expiry is looked at). When valid, *id_r, *tenant_r
 * and *user_r name the item (any may be NULL); otherwise they are left
 * alone. The caller releases with the scope {tenant, user}. */
enum mc_quarantine_token_status
mc_quarantine_token_check(const char *secret, const char *token, time_t now,
			  int64_t *id_r, int64_t *tenant_r, int64_t *user_r);

/* Digests ------------------------------------------------------------- */

struct mc_quarantine_digest_settings {
	const char *secret;   /* for the release tokens */
	const char *base_url; /* "https://mail.example.com" (no final /) */
	const char *from;     /* NULL = "postmaster@<the user's domain>" */
	time_t now;	      /* 0 = time(NULL) */
	unsigned max_items;   /* 0 = MC_QUARANTINE_DIGEST_MAX */
};

/* Builds the digest of the user's new items: held, not expired, created
 * at or after since and not in an earlier digest, oldest first. The
 * message (RFC 5322, CRLF, multipart/alternative: text/plain and a simple
 * text/html, UTF-8) lists each item's sender, subject, reason and date
 * with its release link base_url + "/quarantine/release?t=" + token
 * (valid until the item expires), and comes back in *message_r (from
 * pool, *size_r bytes). The items listed are marked as sent
 * (digest_sent_at) in the same statement: delivering the message is the
 * caller's job. 1 built, 0 nothing new (no message), -1 with err
 * (MC_ERR_NOTFOUND: no such user; MC_ERR_INVALID: no secret or URL). */
int mc_quarantine_digest(struct mc_pg *pg, struct mc_pool *pool,
			 const struct mc_quarantine_digest_settings *set,
			 int64_t tenant_id, int64_t user_id, time_t since,
			 const char **message_r, size_t *size_r,
			 struct mc_error *err);

#endif
