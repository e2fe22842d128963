/* mc-mailbox-private: what the mc-mailbox files share: number and array
 * parameters, the UID-set join, bytea decoding, and the expunge core that
 * EXPUNGE, DELETE and MOVE all use. */
#ifndef MC_MAILBOX_PRIVATE_H
#define MC_MAILBOX_PRIVATE_H

#include "mailcore/mc-error.h"
#include "mailcore/mc-mailbox.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"

#define MB_NUM 24

/* Text of a 64-bit integer in buf. */
const char *mb_num(char buf[MB_NUM], int64_t v);

/* The UID set as two bigint[] literals of range bounds ("{1,5}" and
 * "{3,9}" for 1:3,5:9) for the join
 * "JOIN unnest($lo::bigint[], $hi::bigint[]) r(lo, hi) ON uid BETWEEN
 * r.lo AND r.hi". */
void mb_ranges(struct mc_pool *pool, const struct mc_imap_seqset *set,
	       const char **lo_r, const char **hi_r);

/* Decodes a bytea column (hex output format) into pool; *len_r set. */
const char *mb_bytea(struct mc_pool *pool, const char *hex, size_t *len_r);

/* Parses a text[] column ({a,"b c"}) into a NULL-terminated array from
 * pool; *count_r set. */
const char **mb_text_array(struct mc_pool *pool, const char *s,
			   size_t *count_r);

/* Inside a transaction: removes the messages of mailbox_id in uids (NULL:
 * all) that are \Deleted (or any when only_deleted is false), logs them,
 * releases their message rows and the owner's usage. UIDs from pool.
 * 0 or -1. */
int mb_expunge_txn(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_mailbox_owner *owner, int64_t mailbox_id,
		   const struct mc_imap_seqset *uids, bool only_deleted,
		   uint32_t **expunged_r, size_t *count_r,
		   struct mc_error *err);

/* Looks a mailbox up by name inside a transaction, locking its row:
 * 1 (id and uidvalidity set), 0 none, -1 error. */
int mb_lock_by_name(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		    const char *name, int64_t *id_r, uint32_t *uidvalidity_r,
		    struct mc_error *err);

/* The normal form of a name: a first level "inbox" in any case is
 * "INBOX". Into buf (MC_MAILBOX_NAME_MAX + 1 bytes). */
const char *mb_normal_name(const char *name, char *buf);

#endif
