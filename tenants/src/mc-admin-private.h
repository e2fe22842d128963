/* mc-admin-private: what the operation files (mc-admin-*.c) share: the
 * context, places in the tree and the scope check, finding objects inside
 * the actor's subtree, the transaction wrapper (RLS scope, audit,
 * directory invalidation), JSON input checks with field errors, list
 * pages with cursors, and the declarations of every operation. */
#ifndef MC_ADMIN_PRIVATE_H
#define MC_ADMIN_PRIVATE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "mailcore/mc-admin.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-tenants.h"

struct mc_admin {
	struct mc_pg *pg;
	struct mc_redis *redis;
	const struct mc_config *cfg;
	struct mc_actor actor;
	json_t *problem; /* extra problem members of the last failure */
	bool dirty;	 /* the directory cache must be invalidated */
};

#define ADMIN_PATH_MAX 16 /* reseller nesting, department depth */

/* What a place denotes. */
enum admin_level {
	ADMIN_AT_PROVIDER = 0,
	ADMIN_AT_RESELLER,
	ADMIN_AT_TENANT,
	ADMIN_AT_DOMAIN,
	ADMIN_AT_DEPARTMENT,
	ADMIN_AT_USER,
};

/* Where an object sits in the tree: the reseller chain above (root
 * first), its tenant, domain, department chain (the department itself
 * last) and user; 0 / empty where it has none. Names for messages and
 * audit targets. */
struct admin_place {
	enum admin_level level;
	/* set by the finders: the object is not inside the actor's subtree
	 * but above its root (the tenant of a domain admin, the domain of a
	 * department admin): reachable as a way down, not to act on */
	bool ancestor;
	int64_t resellers[ADMIN_PATH_MAX];
	size_t nresellers;
	int64_t reseller_id; /* the object is this reseller (reseller ops) */
	int64_t tenant_id, domain_id, user_id;
	int64_t departments[ADMIN_PATH_MAX];
	size_t ndepartments;
	char reseller[64], tenant[64];
	char domain[MC_DOMAIN_MAX + 1];
	char local[MC_LOCAL_PART_MAX + 1];
};

/* True when place is inside the actor's subtree (for a reseller actor,
 * its own reseller row counts as inside). */
bool admin_in_scope(const struct mc_admin *a, const struct admin_place *p);
/* The actor's role is at least min (assistant and department are not
 * compared: min ASSISTANT admits ASSISTANT, DOMAIN and above only;
 * min DEPARTMENT admits DEPARTMENT, DOMAIN and above). Else -1 DENIED
 * "<role> may not <what>". */
int admin_require(struct mc_admin *a, enum mc_role min, const char *what,
		  struct mc_error *err);
/* -1 DENIED "<role> may not <what>" when p is only an ancestor. */
int admin_require_inside(struct mc_admin *a, const struct admin_place *p,
			 const char *what, struct mc_error *err);

/* Finders: look the object up (inside a transaction from admin_txn, so
 * under RLS), fill place (zeroed first, except where said), and check the
 * scope: 0 when inside the subtree or an ancestor of its root (see
 * admin_place.ancestor), -1 NOTFOUND ("no tenant acme") when missing or
 * elsewhere, TEMPORARY. */
int admin_find_reseller(struct mc_admin *a, const char *name,
			struct admin_place *p, struct mc_error *err);
int admin_find_tenant(struct mc_admin *a, const char *name,
		      struct admin_place *p, struct mc_error *err);
/* Domain aliases are not found (they are managed through their domain). */
int admin_find_domain(struct mc_admin *a, const char *name,
		      struct admin_place *p, struct mc_error *err);
/* id: the department id as text; p: the domain's place on entry. */
int admin_find_department(struct mc_admin *a, const char *id,
			  struct admin_place *p, struct mc_error *err);
/* p: the domain's place on entry; the user's (with its department chain)
 * on return. Deleted users are found (restore needs them). */
int admin_find_user(struct mc_admin *a, const char *local,
		    struct admin_place *p, struct mc_error *err);
/* The department chain of department id (itself last) into p. */
int admin_department_chain(struct mc_admin *a, int64_t id,
			   struct admin_place *p, struct mc_error *err);

/* Runs fn in one transaction as role mailcore_api with the actor's RLS
 * scope; clears the problem first; on success invalidates the directory
 * cache when fn set a->dirty. Limit errors from the database become
 * MC_ERR_LIMIT with a readable message and the problem members. */
typedef int admin_txn_fn(struct mc_admin *a, void *ctx, struct mc_error *err);
int admin_txn(struct mc_admin *a, admin_txn_fn *fn, void *ctx,
	      struct mc_error *err);

/* Sets err MC_ERR_LIMIT and the problem members for a limit that a
 * request would exceed (limit "users", level "tenant", name "acme"). */
int admin_limit_error(struct mc_admin *a, struct mc_error *err,
		      const char *limit, const char *level, const char *name,
		      int64_t max);

/* Writes the audit record of a change to target at place (inside the
 * transaction). changes: object of changed fields (NULL = {}); it is not
 * stolen. Secrets must already be replaced by "***". */
int admin_audit(struct mc_admin *a, const struct admin_place *p,
		const char *action, const char *target, const json_t *changes,
		struct mc_error *err);

/* admin_audit with changes stolen. */
int admin_audit_new(struct mc_admin *a, const struct admin_place *p,
		    const char *action, const char *target, json_t *changes,
		    struct mc_error *err);

/* Queries through a->pg (prepared / once); results as mc-pg. */
PGresult *admin_query(struct mc_admin *a, const char *sql, int n,
		      const char *const *params, struct mc_error *err);
long admin_exec(struct mc_admin *a, const char *sql, int n,
		const char *const *params, struct mc_error *err);

/* Input checks. Each failure adds {"field", "detail"} to the problem's
 * "errors" and sets err INVALID ("invalid request: <first detail>"). */
void admin_field_error(struct mc_admin *a, struct mc_error *err,
		       const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* body must be an object (or NULL when !required) whose members are all
 * in the NULL-terminated allowed list. 0 or -1. */
int admin_body_check(struct mc_admin *a, const json_t *body,
		     const char *const *allowed, bool required,
		     struct mc_error *err);
/* Member getters: 1 present (value set), 0 absent (required -> error),
 * -1 wrong type or range. Strings: 1..max bytes of UTF-8 without control
 * characters (allow_empty admits ""). */
int admin_get_string(struct mc_admin *a, const json_t *body, const char *field,
		     size_t max, bool required, bool allow_empty,
		     const char **value_r, struct mc_error *err);
int admin_get_int(struct mc_admin *a, const json_t *body, const char *field,
		  int64_t min, int64_t max, bool required, int64_t *value_r,
		  struct mc_error *err);
int admin_get_bool(struct mc_admin *a, const json_t *body, const char *field,
		   bool required, bool *value_r, struct mc_error *err);
/* An array of 0..max strings of 1..item_max bytes each; *array_r is
 * borrowed from body. */
int admin_get_strings(struct mc_admin *a, const json_t *body, const char *field,
		      size_t max, size_t item_max, bool required,
		      const json_t **array_r, struct mc_error *err);
/* A JSON string array as a PostgreSQL array literal ("{...}", quoted
 * elements); caller free()s. */
char *admin_pg_array(const json_t *array);
/* A PostgreSQL array value (text form) as a JSON array of strings (NULL
 * or "" -> []). */
json_t *admin_json_array(const char *pg_array);

/* If-Match: -1 when call->if_version is set and differs from version. */
int admin_check_version(const struct mc_admin_call *call, int64_t version,
			struct mc_error *err);

/* Lists. Parses call->list against the resource's sortable columns (JSON
 * field name -> SQL expression) with a default; the cursor carries the
 * last item's sort value and id. */
struct admin_sort {
	const char *field; /* JSON name accepted in ?sort= */
	const char *expr;  /* SQL expression, e.g. "d.name" */
};
struct admin_list {
	const struct admin_sort *sort;
	bool desc;
	unsigned limit;
	bool after; /* a cursor was given */
	char after_value[512];
	int64_t after_id;
	char after_id_text[24];
	const json_t *filters;
};
int admin_list_parse(struct mc_admin *a, const struct mc_admin_call *call,
		     const struct admin_sort *sorts, struct admin_list *l,
		     struct mc_error *err);
struct mc_buf;
/* A filter value from the query (NULL when absent). */
const char *admin_filter(const struct admin_list *l, const char *name);
/* When value is not NULL: appends it to params[*n] and cond to sql (an
 * mc_buf) with each "$?" in cond naming that parameter ("$3"). */
void admin_where(struct mc_buf *sql, const char **params, int *n,
		 const char *value, const char *cond);
/* Appends to sql (an mc_buf) " AND (<sort>, <id_expr>) > ($n, $n+1)"
 * when there is a cursor (< when descending), then " ORDER BY <sort>
 * [DESC], <id_expr> [DESC] LIMIT <limit + 1>"; the parameters go to
 * params[*n...] (strings owned by l). */
void admin_list_sql(const struct admin_list *l, const char *id_expr,
		    struct mc_buf *sql, const char **params, int *n);
/* The page {"items", "next_cursor"} from items (stolen). more: the query
 * returned a row past l->limit (the op fetches limit + 1 rows and keeps
 * limit); then the cursor is made of the last kept row's sort value (the
 * sort expression selected as ::text) and id. */
json_t *admin_page(const struct admin_list *l, json_t *items, bool more,
		   const char *last_value, int64_t last_id);

/* SQL for timestamps as RFC 3339 UTC text. */
#define ADMIN_TS(col)                                                          \
	"to_char(" col " AT TIME ZONE 'UTC', "                                 \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Limits of one level (0 = unlimited), as stored in lim_* columns. */
struct admin_limits {
	int64_t domains, users, aliases, lists, storage, message_bytes,
		send_count, send_bytes;
};
#define ADMIN_LIMIT_UNSET (-1)
/* Parses the "limits" member of body; fields not given stay
 * ADMIN_LIMIT_UNSET. allowed: the keys this level has. 1 given, 0
 * absent, -1. */
int admin_limits_parse(struct mc_admin *a, const json_t *body,
		       const char *const *allowed, struct admin_limits *l,
		       struct mc_error *err);

/* Helpers every operation file shares. */

/* id as decimal text into buf (24 bytes); returns buf. */
char *admin_id_text(int64_t id, char *buf);
/* A column as int64 / as a JSON string or null (SQL NULL, bad UTF-8). */
int64_t admin_col_i64(const PGresult *res, int row, int col);
json_t *admin_col_json(const PGresult *res, int row, int col);
/* Parses a PostgreSQL bigint array "{1,2}" into ids (at most max);
 * returns how many. */
size_t admin_parse_ids(const char *text, int64_t *ids, size_t max);
/* Path parameter i of call, "" when missing. */
const char *admin_arg(const struct mc_admin_call *call, size_t i);
/* Path parameter i as a positive decimal id; else -1 NOTFOUND
 * "no <what> <parameter>". */
int admin_arg_id(const struct mc_admin_call *call, size_t i, const char *what,
		 int64_t *id_r, struct mc_error *err);
/* -1 MC_ERR_INVALID unless call has n path parameters. */
int admin_need_args(const struct mc_admin_call *call, size_t n,
		    struct mc_error *err);
/* Starts an operation: no output yet, no problem left from the previous
 * one (field errors are collected before the transaction clears it). */
void admin_op_begin(struct mc_admin *a, json_t **out_r);
/* Rewrites a duplicate-key error as "<what> <name> already exists";
 * returns -1. */
int admin_exists_error(struct mc_error *err, const char *what,
		       const char *name);

/* admin_txn for an operation with output: *ctx_out (a member of ctx) is
 * released and cleared before each attempt; on success it is handed out
 * in *out_r (which may be NULL), else released. 0 or -1. */
int admin_run(struct mc_admin *a, admin_txn_fn *fn, void *ctx, json_t **ctx_out,
	      json_t **out_r, struct mc_error *err);
/* Sets *out_r to o; 0, or -1 when o is NULL (its error is in err). */
int admin_out(json_t **out_r, json_t *o);

/* If-Match on a locked row: runs sql (n params; "SELECT ... FOR UPDATE")
 * and checks the version in column col of its row. 0, -1 STALE /
 * TEMPORARY / NOTFOUND with the message fmt when there is no row. */
int admin_lock_row(struct mc_admin *a, const struct mc_admin_call *call,
		   const char *sql, int n, const char *const *params, int col,
		   struct mc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
/* Runs sql ("SELECT version ... WHERE id = $1 FOR UPDATE") for id and
 * checks If-Match. 0, -1 NOTFOUND ("no <what>") / STALE / TEMPORARY. */
int admin_lock_version(struct mc_admin *a, const char *sql, int64_t id,
		       const struct mc_admin_call *call, const char *what,
		       struct mc_error *err);

/* Makes one list item of row of res; arg as the caller gave it. */
typedef json_t *admin_item_fn(const PGresult *res, int row, const void *arg);
/* The page of a list query's result (limit + 1 rows): item() of each kept
 * row, the cursor from the sort value in column sort_col and the id in
 * column id_col of the last kept row (negative columns count from the
 * end: -1 is the last). */
json_t *admin_page_rows(const struct admin_list *l, const PGresult *res,
			int sort_col, int id_col, admin_item_fn *item,
			const void *arg);
/* The page of items (stolen: the items of the kept rows of res) with
 * the cursor as admin_page_rows makes it. */
json_t *admin_page_end(const struct admin_list *l, const PGresult *res,
		       json_t *items, int sort_col, int id_col);
/* How many rows of res a page keeps (at most l->limit). */
int admin_page_keep(const struct admin_list *l, const PGresult *res);
/* Finishes sql (an mc_buf) with admin_list_sql, runs it once with
 * params[0..n) (params needs two free slots) and frees sql. */
PGresult *admin_list_fetch(struct mc_admin *a, const struct admin_list *l,
			   struct mc_buf *sql, const char *id_expr,
			   const char **params, int n, struct mc_error *err);
/* admin_list_fetch, then the page of item() rows whose last two columns
 * are the sort value and id; NULL on error. */
json_t *admin_list_page(struct mc_admin *a, const struct admin_list *l,
			struct mc_buf *sql, const char *id_expr,
			const char **params, int n, admin_item_fn *item,
			const void *arg, struct mc_error *err);

/* Each operation (mc_admin_ops in mc-admin-ops.c names them). */
#define ADMIN_OP(name)                                                         \
	int name(struct mc_admin *a, const struct mc_admin_call *call,         \
		 json_t **out_r, struct mc_error *err)
ADMIN_OP(admin_me_get);
ADMIN_OP(admin_reseller_list);
ADMIN_OP(admin_reseller_create);
ADMIN_OP(admin_reseller_get);
ADMIN_OP(admin_reseller_update);
ADMIN_OP(admin_reseller_delete);
ADMIN_OP(admin_tenant_list);
ADMIN_OP(admin_tenant_create);
ADMIN_OP(admin_tenant_get);
ADMIN_OP(admin_tenant_update);
ADMIN_OP(admin_tenant_delete);
ADMIN_OP(admin_tenant_usage);
ADMIN_OP(admin_domain_list);
ADMIN_OP(admin_domain_list_tenant);
ADMIN_OP(admin_domain_create);
ADMIN_OP(admin_domain_get);
ADMIN_OP(admin_domain_update);
ADMIN_OP(admin_domain_delete);
ADMIN_OP(admin_domain_usage);
ADMIN_OP(admin_domain_alias_list);
ADMIN_OP(admin_domain_alias_create);
ADMIN_OP(admin_domain_alias_delete);
ADMIN_OP(admin_department_list);
ADMIN_OP(admin_department_create);
ADMIN_OP(admin_department_get);
ADMIN_OP(admin_department_update);
ADMIN_OP(admin_department_delete);
ADMIN_OP(admin_user_list);
ADMIN_OP(admin_user_create);
ADMIN_OP(admin_user_import);
ADMIN_OP(admin_user_batch);
ADMIN_OP(admin_user_export);
ADMIN_OP(admin_user_get);
ADMIN_OP(admin_user_update);
ADMIN_OP(admin_user_delete);
ADMIN_OP(admin_user_freeze);
ADMIN_OP(admin_user_restore);
ADMIN_OP(admin_user_password);
ADMIN_OP(admin_user_usage);
ADMIN_OP(admin_user_policy);
ADMIN_OP(admin_alias_list);
ADMIN_OP(admin_alias_create);
ADMIN_OP(admin_alias_get);
ADMIN_OP(admin_alias_update);
ADMIN_OP(admin_alias_delete);
ADMIN_OP(admin_bcc_list);
ADMIN_OP(admin_bcc_create);
ADMIN_OP(admin_bcc_delete);
ADMIN_OP(admin_policy_list);
ADMIN_OP(admin_policy_create);
ADMIN_OP(admin_policy_get);
ADMIN_OP(admin_policy_update);
ADMIN_OP(admin_policy_delete);
ADMIN_OP(admin_binding_list);
ADMIN_OP(admin_binding_create);
ADMIN_OP(admin_binding_get);
ADMIN_OP(admin_binding_delete);
ADMIN_OP(admin_token_list);
ADMIN_OP(admin_token_create);
ADMIN_OP(admin_token_get);
ADMIN_OP(admin_token_delete);
ADMIN_OP(admin_audit_list);
ADMIN_OP(admin_dkim_list);
ADMIN_OP(admin_dkim_create);
ADMIN_OP(admin_dkim_delete);
ADMIN_OP(admin_dns_records);
ADMIN_OP(admin_registration_create);
ADMIN_OP(admin_queue_list);
ADMIN_OP(admin_queue_list_tenant);
ADMIN_OP(admin_queue_list_domain);
ADMIN_OP(admin_queue_show);
ADMIN_OP(admin_queue_hold);
ADMIN_OP(admin_queue_release);
ADMIN_OP(admin_queue_retry);
ADMIN_OP(admin_queue_delete);
ADMIN_OP(admin_relay_list);
ADMIN_OP(admin_relay_create);
ADMIN_OP(admin_relay_delete);
ADMIN_OP(admin_quarantine_list);
ADMIN_OP(admin_quarantine_list_domain);
ADMIN_OP(admin_quarantine_show);
ADMIN_OP(admin_quarantine_release);
ADMIN_OP(admin_quarantine_delete);
ADMIN_OP(admin_security_list);
ADMIN_OP(admin_security_list_domain);
ADMIN_OP(admin_content_rules_list);
ADMIN_OP(admin_content_rules_create);
ADMIN_OP(admin_content_rules_delete);
ADMIN_OP(admin_sender_lists_list);
ADMIN_OP(admin_sender_lists_create);
ADMIN_OP(admin_sender_lists_delete);

/* A domain's inbound protection settings as domain.create / .update take
 * them (mc-admin-content.c): filter_settings (validated, replaces the
 * stored object), attachment_blocklist (normalised array literal) and
 * attachment_blocklist_action; NULL = not given. */
struct admin_filter_in {
	char *filter_settings; /* JSON text */
	char *blocklist;       /* PostgreSQL array literal */
	const char *blocklist_action;
};
/* Reads and checks those members of body (field errors name the key:
 * "filter_settings.spf_fail"). 0 or -1. */
int admin_filter_read(struct mc_admin *a, const json_t *body,
		      struct admin_filter_in *in, struct mc_error *err);
void admin_filter_in_free(struct admin_filter_in *in);
/* Stores what in gives on domain id (nothing when nothing is given). */
int admin_filter_update(struct mc_admin *a, int64_t domain_id,
			const struct admin_filter_in *in, struct mc_error *err);
/* The domain columns admin_filter_json_add reads, from "d". */
#define ADMIN_FILTER_COLS                                                      \
	"d.filter_settings::text, d.attachment_blocklist::text, "              \
	"d.attachment_blocklist_action"
/* Sets "filter_settings", "attachment_blocklist" and
 * "attachment_blocklist_action" on o from columns col..col+2 of row. */
void admin_filter_json_add(json_t *o, const PGresult *res, int row, int col);

/* Security log rows (schema/0011) are kept this many days; maintenance
 * deletes older ones. */
#define ADMIN_SECURITY_LOG_DAYS 30
/* Maintenance (mc-admin-security.c): deletes the security log rows older
 * than ADMIN_SECURITY_LOG_DAYS, in batches. How many, or -1 with err. */
long admin_security_log_purge(struct mc_pg *pg, struct mc_error *err);

/* Maintenance (mc-admin-quarantine-digest.c): the quarantine digests of
 * users with new items, stored into their INBOX (only with a [webd]
 * quarantine_secret), then the expiry of old items. The number of
 * digests sent, or -1 with err. */
int admin_quarantine_maintain(struct mc_pg *pg, struct mc_redis *redis,
			      const struct mc_config *cfg,
			      struct mc_error *err);

#endif
