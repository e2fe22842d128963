/* mc-store: the message store's metadata in PostgreSQL, on top of the
 * content blobs of mc-blob. A delivery is one transaction: the message
 * row (one per content per tenant, refcounted), a row per mailbox with
 * its UID and MODSEQ, user and domain quota usage, and the outbound queue
 * entry for remote recipients, all committed together or not at all.
 * Default mailboxes (INBOX, Drafts, Sent, Trash, Junk, Archive with their
 * special use) are created on first use. New mail is announced on Redis
 * for IMAP IDLE and webmail push on every node. */
#ifndef MC_STORE_H
#define MC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_blob_store;
struct mc_error;
struct mc_message_info;
struct mc_pg;
struct mc_redis;

/* The most searchable text a message row takes: PostgreSQL refuses a
 * tsvector over 1 MB, and text of that size can produce one. */
#define MC_STORE_MAX_SEARCH_TEXT (512 * 1024)

/* Redis pub/sub channel of a user's mailboxes: "mc:mbox:TENANT:USER";
 * messages are "new MAILBOX_ID UID MODSEQ". */
#define MC_STORE_CHANNEL_FMT "mc:mbox:%lld:%lld"

/* The system flags as stored (mailbox_messages.flags bits). */
#define MC_STORE_FLAG_SEEN     0x01u
#define MC_STORE_FLAG_ANSWERED 0x02u
#define MC_STORE_FLAG_FLAGGED  0x04u
#define MC_STORE_FLAG_DELETED  0x08u
#define MC_STORE_FLAG_DRAFT    0x10u

/* A local recipient: a user's mailbox. */
struct mc_store_local {
	int64_t tenant_id, user_id, domain_id;
	const char *address; /* for logs and DSNs */
	const char *mailbox; /* NULL = INBOX */
	unsigned flags;	     /* MC_STORE_FLAG_* */
	const char *keywords; /* NULL, or a text[] literal: "{$Label1,x}" */
	/* An automatic copy (BCC): when it cannot be stored it is dropped,
	 * never bounced to the sender, and it alone commits nothing. */
	bool copy;
};

/* A remote recipient for the outbound queue, queued under tenant_id. */
struct mc_store_remote {
	int64_t tenant_id;
	const char *address;
	const char *orcpt; /* "rfc822;x@y" or NULL */
	unsigned notify;   /* MC_SMTP_NOTIFY_* bits */
	bool copy;	   /* an automatic copy: it alone commits nothing */
};

/* What is being delivered. The blob named sha256 must already be
 * durable. */
struct mc_store_delivery {
	const char *sha256;
	const struct mc_message_info *info;
	time_t internal_date; /* 0 = now */
	const struct mc_store_local *local;
	size_t local_count;
	const struct mc_store_remote *remote;
	size_t remote_count;
	/* The envelope kept with queue entries. */
	const char *queue_id;
	const char *sender;	 /* "" = null reverse-path */
	const char *envid, *ret; /* NULL, or "full"/"hdrs" */
	const char *auth_user, *client_ip;
	bool hold; /* queue entries start 'held' (sending limits) */
};

enum mc_store_local_status {
	MC_STORE_DELIVERED = 0,
	MC_STORE_OVER_QUOTA,	    /* the user's quota */
	MC_STORE_OVER_DOMAIN_QUOTA, /* the domain's quota */
	MC_STORE_NO_MAILBOX,	    /* the user is gone */
};

/* Per local recipient, in the order given. */
struct mc_store_local_result {
	enum mc_store_local_status status;
	int64_t mailbox_id, uid, modseq;
};

/* Delivers in one transaction. When no local recipient could take the
 * message and there are no remote ones, nothing is committed and
 * *committed_r is false; otherwise the delivered rows and the queue entry
 * are committed, and local recipients that failed (quota) are queued as
 * 'failed' recipients for a DSN (unless the sender is null). results
 * (local_count entries) is filled either way. 0, or -1 with err
 * (MC_ERR_TEMPORARY when the database is unavailable: nothing stored). */
int mc_store_deliver(struct mc_pg *pg, const struct mc_store_delivery *d,
		     struct mc_store_local_result *results, bool *committed_r,
		     struct mc_error *err);

/* Delivers n messages in one transaction, all or nothing (IMAP
 * MULTIAPPEND, RFC 3502): when a local recipient of any of them cannot
 * take its message (quota, gone) nothing is committed and *committed_r
 * is false. results is flat: the local results of d[0], then of d[1]...;
 * the deliveries after a refused one are not tried (their results are
 * left as given). 0, or -1 with err (nothing stored). */
int mc_store_deliver_many(struct mc_pg *pg, const struct mc_store_delivery *d,
			  size_t n, struct mc_store_local_result *results,
			  bool *committed_r, struct mc_error *err);

/* Like mc_store_deliver, inside the caller's open transaction (so that
 * other rows commit with the delivery): not retried on its own, and on -1
 * the caller rolls back. */
int mc_store_deliver_in(struct mc_pg *pg, const struct mc_store_delivery *d,
			struct mc_store_local_result *results,
			bool *committed_r, struct mc_error *err);

/* Creates the tenant's message row for sha256 (the blob durable) from
 * info, or reuses the row it has, and takes refs references on it as a
 * delivery does: for holders other than mailboxes and queue entries (the
 * quarantine). In the caller's transaction when one is open. The row's
 * id in *message_id_r. 0, or -1 with err. */
int mc_store_message_ref(struct mc_pg *pg, int64_t tenant_id,
			 const char *sha256,
			 const struct mc_message_info *info, unsigned refs,
			 int64_t *message_id_r, struct mc_error *err);

/* Publishes a "new" notification per delivered recipient. Best effort:
 * the mail is stored whatever Redis says. */
void mc_store_notify(struct mc_redis *redis, const struct mc_store_delivery *d,
		     const struct mc_store_local_result *results);

/* Creates the default mailboxes the user lacks. 0 or -1. */
int mc_store_create_default_mailboxes(struct mc_pg *pg, int64_t tenant_id,
				      int64_t user_id, struct mc_error *err);

/* Garbage collection */

/* The default safety margin: one hour. */
#define MC_STORE_GC_MIN_AGE_MS (3600u * 1000u)

struct mc_store_gc_settings {
	/* Spares what is younger: message rows whose refcount reached 0
	 * more recently, blobs and temp files written more recently. A blob
	 * is written before its row exists, so this is the margin a
	 * delivery has between the two. 0 = MC_STORE_GC_MIN_AGE_MS. */
	uint64_t min_age_ms;
};

/* What one run removed. */
struct mc_store_gc_stats {
	uint64_t rows_deleted;	/* message rows with refcount 0 */
	uint64_t blobs_removed; /* their blobs and unreferenced ones */
	uint64_t tmp_removed;	/* temp files of unfinished writes */
	uint64_t bytes_freed;	/* the size of the blobs removed */
};

/* Collects in three passes: message rows with refcount 0 since before
 * min_age (in batches, locked with SKIP LOCKED and checked again as they
 * are deleted, so a concurrent delivery or collector is safe) with their
 * blob unless another tenant's row still names it; then blobs written
 * before min_age that no message row names; then stale temp files. A
 * blob stored again meanwhile is spared (mc_blob_delete_if_older).
 * *stats_r counts what was removed, also when it fails part way. 0, or
 * -1 with err (MC_ERR_TEMPORARY when the database is unavailable). */
int mc_store_gc(struct mc_pg *pg, struct mc_blob_store *blobs,
		const struct mc_store_gc_settings *set,
		struct mc_store_gc_stats *stats_r, struct mc_error *err);

#endif
