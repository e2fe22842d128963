/* mc-admin-limits: the limits every level of the tree shares (reseller,
 * tenant, domain, department): loading a level's lim_* columns and
 * counters, the JSON "limits" and "usage" objects, and the carving rules
 * the triggers do not check (a child's limit within its ancestors'
 * nonzero limits, a parent's limit not below its subtree's, storage
 * allocated from parent to children, a user quota within its domain's);
 * and small helpers the tenancy operation files share (lists, versions). */
#ifndef MC_ADMIN_LIMITS_H
#define MC_ADMIN_LIMITS_H

#include <jansson.h>
#include <stdint.h>

#include "mc-admin-private.h"

/* One level's limits and usage. Keys a level does not have are 0. */
struct admin_level_usage {
	enum admin_level level; /* RESELLER, TENANT, DOMAIN or DEPARTMENT */
	int64_t id;
	char name[MC_DOMAIN_MAX + 1];
	struct admin_limits lim; /* domain: storage = quota_bytes,
				    message_bytes = max_message_bytes */
	int64_t n_domains, n_users, n_aliases, n_lists;
	int64_t used_bytes;	 /* stored mail in the subtree */
	int64_t allocated_bytes; /* storage given to the children */
};

/* "reseller", "tenant", "domain", "department", ... */
const char *admin_level_name(enum admin_level level);
/* The NULL-terminated keys of the "limits" object of level (for
 * admin_limits_parse). */
const char *const *admin_limit_keys(enum admin_level level);

/* Loads the level's row id (visible under the actor's RLS scope) into
 * u; with_usage also sums the used and allocated storage. 1 found, 0 no
 * such row (err untouched), -1 error. */
int admin_level_load(struct mc_admin *a, enum admin_level level, int64_t id,
		     bool with_usage, struct admin_level_usage *u,
		     struct mc_error *err);
/* The "limits" / "usage" objects of u as the design note lists them per
 * level (new references). */
json_t *admin_limits_json(const struct admin_level_usage *u);
json_t *admin_usage_json(const struct admin_level_usage *u);
/* Loads level id with usage and sets "limits" and "usage" on obj. */
int admin_level_json_add(struct mc_admin *a, json_t *obj,
			 enum admin_level level, int64_t id,
			 struct mc_error *err);

/* The eight limits as UPDATE parameters, in the order domains, users,
 * aliases, lists, storage, message_bytes, send_count, send_bytes: NULL
 * where ADMIN_LIMIT_UNSET, else the decimal value in bufs[i]. */
void admin_limits_params(const struct admin_limits *l, char bufs[8][24],
			 const char *params[8]);
/* Does l set any limit level has? */
bool admin_limits_given(const struct admin_limits *l, enum admin_level level);
/* The changed limits as an audit "limits" object (NULL when none). */
json_t *admin_limits_changes(const struct admin_limits *l,
			     enum admin_level level);

/* Checks new limits l (ADMIN_LIMIT_UNSET = unchanged) of the object of
 * level at place p (its finder's place for an update; for a create the
 * place of its parent with the ancestors filled) whose id is self (0 when
 * it is being created; then an absent storage counts as unlimited):
 *  - each count or cap limit within every ancestor's nonzero limit;
 *  - on updates, not below any explicit limit in its subtree;
 *  - storage: within what the parent has left to allocate, never
 *    unlimited under a storage-limited parent; on updates, at least what
 *    it has allocated to its children (no unlimited child), for a domain
 *    at least its largest user quota.
 * Ancestors above the actor's RLS scope are read as the database owner
 * (their limits bind the actor too; nothing else of them is returned but
 * the blocking name and limit, as the count triggers report them). The
 * storage parent is locked FOR UPDATE so that concurrent allocations
 * serialise. 0, or -1 with MC_ERR_LIMIT via admin_limit_error (limit,
 * the level and name whose limit blocks, that limit). */
int admin_limits_check(struct mc_admin *a, const struct admin_place *p,
		       enum admin_level level, int64_t self,
		       const struct admin_limits *l, struct mc_error *err);

/* For user operations: quota_bytes of a user of the domain at p (0 =
 * none of its own, sharing the domain's) must be at most the domain's
 * quota_bytes when it has one. 0, or -1 MC_ERR_LIMIT (limit
 * "storage_bytes", level "domain", max the domain quota), TEMPORARY. */
int admin_limits_check_user_quota(struct mc_admin *a,
				  const struct admin_place *p,
				  int64_t quota_bytes, struct mc_error *err);

/* Helpers of the tenancy operation files (the rest are in
 * mc-admin-private.h). */

/* The lim_* columns of resellers and tenants, their INSERT values
 * $4..$11 (absent = 0) and their UPDATE assignments from $4..$11 (absent
 * = unchanged), in the order of admin_limits_params. */
#define ADMIN_LIMIT_COLS                                                       \
	"lim_domains, lim_users, lim_aliases, lim_lists, lim_storage, "        \
	"lim_message_bytes, lim_send_count, lim_send_bytes"
#define ADMIN_LIMIT_VALUES                                                     \
	"coalesce($4::bigint, 0), coalesce($5::bigint, 0), "                   \
	"coalesce($6::bigint, 0), coalesce($7::bigint, 0), "                   \
	"coalesce($8::bigint, 0), coalesce($9::bigint, 0), "                   \
	"coalesce($10::bigint, 0), coalesce($11::bigint, 0)"
#define ADMIN_LIMIT_SET                                                        \
	"lim_domains = coalesce($4::bigint, lim_domains), "                    \
	"lim_users = coalesce($5::bigint, lim_users), "                        \
	"lim_aliases = coalesce($6::bigint, lim_aliases), "                    \
	"lim_lists = coalesce($7::bigint, lim_lists), "                        \
	"lim_storage = coalesce($8::bigint, lim_storage), "                    \
	"lim_message_bytes = coalesce($9::bigint, lim_message_bytes), "        \
	"lim_send_count = coalesce($10::bigint, lim_send_count), "             \
	"lim_send_bytes = coalesce($11::bigint, lim_send_bytes)"

/* Checks the name of a reseller or tenant create body (got already: the
 * rules of mc_tenants_valid_name) and reads its parent member (a name, or
 * null: *top_r set). 0 or -1 with field errors. */
int admin_read_named(struct mc_admin *a, const json_t *body, const char *name,
		     const char *parent_field, const char **parent_r,
		     bool *top_r, struct mc_error *err);
/* A status value (NULL = absent) must be active or suspended. */
int admin_check_status(struct mc_admin *a, const char *status,
		       struct mc_error *err);
/* The reseller a new reseller or tenant goes below into p: the one
 * named, else the actor's own (reseller admins, DENIED with message
 * denied when top); p zeroed when there is none (the provider's). */
int admin_parent_reseller(struct mc_admin *a, const char *name, bool top,
			  const char *denied, struct admin_place *p,
			  struct mc_error *err);

/* Builds one list item from row of res (may query); NULL on error. */
typedef json_t *admin_row_fn(struct mc_admin *a, PGresult *res, int row,
			     struct mc_error *err);
/* Finishes sql (an mc_buf holding "SELECT ... WHERE ..." whose last two
 * columns are the sort expression as text and the id) with the cursor
 * condition, order and limit, runs it with params[0..n) (params needs two
 * free slots), and returns the page of row() items, or NULL. sql is not
 * freed. */
json_t *admin_list_run(struct mc_admin *a, const struct admin_list *l,
		       struct mc_buf *sql, const char **params, int n,
		       const char *id_expr, admin_row_fn *row,
		       struct mc_error *err);

#endif
