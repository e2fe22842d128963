/* mc-mailbox: a user's mailboxes as IMAP and POP3 see them, on the rows
 * mc-store writes: the mailbox list with status counts, create / delete /
 * rename (children follow) / subscribe, opening a mailbox (UIDVALIDITY,
 * UIDNEXT, HIGHESTMODSEQ, its UIDs), message metadata for FETCH, SORT and
 * THREAD, flag changes with MODSEQ and UNCHANGEDSINCE (RFC 7162), what
 * changed since a MODSEQ (flags, new mail, expunges from the expunge
 * log), EXPUNGE, COPY and MOVE with UIDPLUS results, and quota. Every
 * call is one short transaction scoped to one user of one tenant; the
 * caller (a worker) owns the connection. Errors: MC_ERR_NOTFOUND (no such
 * mailbox), MC_ERR_EXISTS, MC_ERR_INVALID (bad name, INBOX or a special
 * mailbox that cannot be deleted), MC_ERR_PERMANENT with "over quota"
 * (see mc_mailbox_error_is_quota), MC_ERR_TEMPORARY (outage). */
#ifndef MC_MAILBOX_H
#define MC_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_error;
struct mc_imap_seqset;
struct mc_pg;
struct mc_pool;
struct mc_redis;

#define MC_MAILBOX_NAME_MAX  1000 /* bytes of a full name (UTF-8) */
#define MC_MAILBOX_DEPTH_MAX 32	  /* levels of hierarchy */
#define MC_MAILBOX_SEP	     '/'

/* Whose mailboxes. */
struct mc_mailbox_owner {
	int64_t tenant_id, user_id, domain_id;
};

struct mc_mailbox_info {
	int64_t id;
	const char *name;	 /* full name, UTF-8, '/'-separated */
	const char *special_use; /* "\\Sent"..., NULL if none */
	bool subscribed;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint32_t messages, unseen, deleted;
	uint64_t size;
};

/* Every mailbox of the owner, sorted by name, with its counts (the
 * default mailboxes are created first if missing). From pool. */
int mc_mailbox_list(struct mc_pg *pg, struct mc_pool *pool,
		    const struct mc_mailbox_owner *owner,
		    struct mc_mailbox_info **list_r, size_t *count_r,
		    struct mc_error *err);
/* One mailbox by name ("INBOX" in any case is INBOX): 1, 0 if none, -1. */
int mc_mailbox_get(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_mailbox_owner *owner, const char *name,
		   struct mc_mailbox_info *info_r, struct mc_error *err);

/* True for a name a mailbox may have: UTF-8, no control characters, no
 * empty level, no leading or trailing '/', at most the limits above. */
bool mc_mailbox_name_valid(const char *name);
/* Creates name and the missing parents; special_use may be NULL. */
int mc_mailbox_create(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *name, const char *special_use,
		      struct mc_error *err);
/* Deletes a mailbox and its messages (INBOX and the special-use
 * mailboxes are refused). Its children stay. */
int mc_mailbox_delete(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *name, struct mc_error *err);
/* Renames a mailbox and its children; renaming INBOX moves its messages
 * into the new mailbox and leaves INBOX empty (RFC 3501 6.3.5). */
int mc_mailbox_rename(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *from, const char *to, struct mc_error *err);
int mc_mailbox_subscribe(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
			 const char *name, bool subscribed,
			 struct mc_error *err);

/* The UIDs of a mailbox above after (0 = all), ascending, allocated with
 * malloc (caller frees); *count_r set. Also the current UIDNEXT and
 * HIGHESTMODSEQ, read in the same snapshot. */
int mc_mailbox_uids(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		    int64_t mailbox_id, uint32_t after, uint32_t **uids_r,
		    size_t *count_r, uint32_t *uidnext_r,
		    uint64_t *highestmodseq_r, struct mc_error *err);

/* What FETCH, SEARCH, SORT and THREAD need of messages. */
#define MC_MAILBOX_F_FLAGS     0x01u /* flags, keywords, modseq */
#define MC_MAILBOX_F_BASIC     0x02u /* internal date, size, blob hash */
#define MC_MAILBOX_F_STRUCTURE 0x04u /* envelope, body, bodystructure, parts   \
				      */
#define MC_MAILBOX_F_SORT 0x08u	     /* sort and thread keys */

struct mc_mailbox_msg {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags; /* MC_STORE_FLAG_* */
	const char **keywords;
	size_t keywords_count;
	time_t internal_date;
	uint64_t size;
	const char *sha256;
	/* IMAP values (may hold literals with 8-bit bytes): len given */
	const char *envelope, *body, *bodystructure;
	size_t envelope_len, body_len, bodystructure_len;
	const char *parts;
	/* sort and thread keys */
	const char *base_subject, *sort_from, *sort_to, *sort_cc;
	const char *from, *to; /* display lists */
	const char *message_id, *in_reply_to, *references;
	bool has_sent_date;
	time_t sent_date;
	const char *subject; /* decoded: tells replies for THREAD */
};

/* The messages whose UIDs are in uids (a resolved set), ascending, with
 * the columns of what; from pool. */
int mc_mailbox_fetch(struct mc_pg *pg, struct mc_pool *pool,
		     const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		     const struct mc_imap_seqset *uids, unsigned what,
		     struct mc_mailbox_msg **msgs_r, size_t *count_r,
		     struct mc_error *err);

enum mc_mailbox_flag_op {
	MC_MAILBOX_FLAGS_SET = 0, /* FLAGS */
	MC_MAILBOX_FLAGS_ADD,	  /* +FLAGS */
	MC_MAILBOX_FLAGS_REMOVE,  /* -FLAGS */
};

/* A message whose flags changed (or, for a CONDSTORE failure, did not). */
struct mc_mailbox_change {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;
	const char **keywords;
	size_t keywords_count;
};

/* STORE: changes the flags of the messages in uids. unchangedsince > 0
 * leaves messages whose MODSEQ is above it alone and lists them in
 * failed_r (the MODIFIED response code). Changed messages get one new
 * MODSEQ; messages whose flags end up the same are not changed. Results
 * from pool. */
int mc_mailbox_store(struct mc_pg *pg, struct mc_pool *pool,
		     const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		     const struct mc_imap_seqset *uids,
		     enum mc_mailbox_flag_op op, unsigned flags,
		     const char *const *keywords, size_t keywords_count,
		     uint64_t unchangedsince,
		     struct mc_mailbox_change **changed_r,
		     size_t *changed_count_r, uint32_t **failed_r,
		     size_t *failed_count_r, struct mc_error *err);

/* What changed in a mailbox since a MODSEQ: flag changes and new
 * messages (modseq > since), and UIDs expunged since (from the expunge
 * log), plus the current HIGHESTMODSEQ and UIDNEXT. From pool. */
struct mc_mailbox_delta {
	struct mc_mailbox_change *changes;
	size_t changes_count;
	uint32_t *expunged;
	size_t expunged_count;
	uint64_t highestmodseq;
	uint32_t uidnext;
	uint32_t messages;
};
int mc_mailbox_changes(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		       uint64_t since, struct mc_mailbox_delta *delta_r,
		       struct mc_error *err);

/* EXPUNGE (uids NULL: every \Deleted message) or UID EXPUNGE (only the
 * \Deleted ones in uids): removes them, logs them with a new MODSEQ for
 * QRESYNC, releases their message rows and the owner's usage. The UIDs
 * removed, ascending, from pool. */
int mc_mailbox_expunge(struct mc_pg *pg, struct mc_pool *pool,
		       const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		       const struct mc_imap_seqset *uids, uint32_t **expunged_r,
		       size_t *count_r, struct mc_error *err);

/* COPY / MOVE (RFC 6851) of the messages in uids into the mailbox named
 * to, checking the quota (a copy counts against it). The UIDPLUS
 * COPYUID data: destination UIDVALIDITY, source and destination UIDs in
 * the same order; for MOVE also the source UIDs expunged. From pool. */
struct mc_mailbox_copied {
	uint32_t uidvalidity;
	uint32_t *src, *dst;
	size_t count;
	int64_t dst_mailbox_id;
};
int mc_mailbox_copy(struct mc_pg *pg, struct mc_pool *pool,
		    const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		    const struct mc_imap_seqset *uids, const char *to,
		    bool move, struct mc_mailbox_copied *result_r,
		    struct mc_error *err);

/* Storage use and limit (0 = unlimited) of the owner, and of its domain. */
struct mc_mailbox_quota {
	uint64_t used, limit;
	uint64_t domain_used, domain_limit;
	uint32_t messages;
};
int mc_mailbox_quota(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		     struct mc_mailbox_quota *quota_r, struct mc_error *err);

/* True when err says a write failed for the quota (IMAP OVERQUOTA). */
bool mc_mailbox_error_is_quota(const struct mc_error *err);

/* Tells the owner's other sessions, on every node, that a mailbox
 * changed ("flags"/"expunge"/"new" MAILBOX_ID MODSEQ on the owner's
 * channel, MC_STORE_CHANNEL_FMT). Best effort. */
void mc_mailbox_notify(struct mc_redis *redis,
		       const struct mc_mailbox_owner *owner, const char *what,
		       int64_t mailbox_id, uint64_t modseq);

/* Search */

struct mc_blob_store;
struct mc_imap_search;

/* SEARCH (RFC 3501 6.4.4, RFC 9051, MODSEQ of RFC 7162): the UIDs of the
 * messages of the mailbox matching program, ascending, from pool, and the
 * highest MODSEQ among them (0 when none) for "(MODSEQ n)". The caller
 * first turns sequence-set keys and "$" into resolved UID sets (a SEQSET
 * node is MC_ERR_INVALID). uid_scope (resolved; NULL = every message)
 * bounds the messages looked at. Flags, keywords (case-insensitive),
 * dates (UTC days), sizes, UIDs, MODSEQ, SUBJECT/FROM/TO/CC (substrings
 * of the decoded values) and BODY/TEXT (whole words, full-text index)
 * are answered in SQL; BCC and HEADER of other fields read each
 * candidate's header from blobs, which may be NULL only when the program
 * has no such key. */
int mc_mailbox_search(struct mc_pg *pg, struct mc_blob_store *blobs,
		      struct mc_pool *pool,
		      const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		      const struct mc_imap_search *program,
		      const struct mc_imap_seqset *uid_scope, uint32_t **uids_r,
		      size_t *count_r, uint64_t *max_modseq_r,
		      struct mc_error *err);

#endif
