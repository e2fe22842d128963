/* mc-policy: what applies to one user, resolved the same way for every
 * frontend (SMTP, IMAP, POP3, webmail, the REST API).
 *
 * Resolution: the user's domain's policies in position order; the first
 * whose selectors match (a listed department is the user's or one of its
 * ancestors; or the user's local part is a listed member; or the policy
 * has no selector at all: everyone) gives each setting it sets (non-NULL).
 * Unset settings fall to the domain's columns (attachment_max_bytes,
 * internal_only, protocols, lim_send_count / lim_send_bytes as the daily
 * send defaults, max_message_bytes as the message size), where 0 / false
 * means "not set here", then to the server's [policy] section:
 *
 *   [policy]
 *   attachment_max_bytes = 0   largest decoded attachment (size; 0 = none)
 *   daily_send_count = 0       messages a user may send per UTC day
 *   daily_send_bytes = 0       bytes a user may send per UTC day (size)
 *   internal_only = no         send only to the tenant's own domains
 *
 * Then ceilings: daily_send_count, daily_send_bytes and message_bytes are
 * capped by the nonzero lim_send_count, lim_send_bytes and
 * lim_message_bytes of the user's department and its ancestors, its
 * tenant and the tenant's reseller chain (the smallest wins; an unlimited
 * value becomes the ceiling). Protocols: the user's own switch
 * (users.protocols) intersected with the resolved set.
 *
 * Results are cached in Redis as JSON under the directory's generation
 * (mc-directory.h), so one mc_directory_invalidate() makes both stale;
 * a Redis outage falls back to the database. Sending counters per user
 * and UTC day live in Redis too; an attachment scanner checks a message's
 * decoded attachments against the limit. */
#ifndef MC_POLICY_H
#define MC_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mc_config;
struct mc_error;
struct mc_pg;
struct mc_redis;

/* Seconds a resolved policy stays cached. */
#define MC_POLICY_CACHE_TTL 300
/* Longest policy name (policies.name) plus the NUL. */
#define MC_POLICY_NAME_MAX 64

/* The server's defaults ([policy]); 0 / false = unlimited / off. */
struct mc_policy_settings {
	uint64_t attachment_max_bytes;
	uint64_t daily_send_count, daily_send_bytes;
	bool internal_only;
	unsigned cache_ttl_s; /* 0 = MC_POLICY_CACHE_TTL */
};

/* Reads [policy] of a loaded configuration into set_r. */
void mc_policy_settings_from_config(const struct mc_config *cfg,
				    struct mc_policy_settings *set_r);

/* Where a value came from. */
enum mc_policy_source {
	MC_POLICY_SRC_SERVER = 0,
	MC_POLICY_SRC_POLICY,
	MC_POLICY_SRC_DOMAIN,
	MC_POLICY_SRC_DEPARTMENT,
	MC_POLICY_SRC_TENANT,
	MC_POLICY_SRC_RESELLER,
};
/* "server", "policy", "domain", "department", "tenant", "reseller". */
const char *mc_policy_source_name(enum mc_policy_source src);

/* The fields of an effective policy (indexes of mc_policy.sources). */
enum mc_policy_field {
	MC_POLICY_F_ATTACHMENT_MAX_BYTES = 0,
	MC_POLICY_F_DAILY_SEND_COUNT,
	MC_POLICY_F_DAILY_SEND_BYTES,
	MC_POLICY_F_INTERNAL_ONLY,
	MC_POLICY_F_PROTOCOLS,
	MC_POLICY_F_MESSAGE_BYTES,
	MC_POLICY_F_COUNT,
};
/* The JSON member name of a field ("attachment_max_bytes", ...). */
const char *mc_policy_field_name(enum mc_policy_field field);

/* The effective policy of one user. Limits 0 = unlimited; message_bytes
 * 0 means the daemon's own maximum ([smtpd] max_message_size) applies. */
struct mc_policy {
	int64_t tenant_id, user_id, domain_id;
	char name[MC_POLICY_NAME_MAX]; /* the matching policy; "" = none */
	uint64_t attachment_max_bytes;
	uint64_t daily_send_count, daily_send_bytes;
	bool internal_only;
	unsigned protocols; /* MC_DIR_PROTO_* (mc-directory.h) */
	uint64_t message_bytes;
	enum mc_policy_source sources[MC_POLICY_F_COUNT];
};

/* Resolves the policy of user (tenant_id, user_id), whatever its status.
 * redis may be NULL (no cache). 1 with *policy_r filled, 0 no such user,
 * -1 with err (MC_ERR_TEMPORARY when PostgreSQL is down; Redis being
 * down only costs the cache). */
int mc_policy_resolve(struct mc_pg *pg, struct mc_redis *redis,
		      const struct mc_policy_settings *set, int64_t tenant_id,
		      int64_t user_id, struct mc_policy *policy_r,
		      struct mc_error *err);
/* The same for a user's address ("Local@Domain", any case, or at an
 * alias of its domain). */
int mc_policy_resolve_address(struct mc_pg *pg, struct mc_redis *redis,
			      const struct mc_policy_settings *set,
			      const char *address, struct mc_policy *policy_r,
			      struct mc_error *err);

/* Whether the user may use protocol (one MC_DIR_PROTO_*) by its
 * effective policy, which includes its own switch: 1 yes, 0 no (or no
 * such user), -1 error (MC_ERR_TEMPORARY: never a refusal). */
int mc_policy_allows(struct mc_pg *pg, struct mc_redis *redis,
		     const struct mc_policy_settings *set, int64_t tenant_id,
		     int64_t user_id, unsigned protocol, struct mc_error *err);

/* The JSON object of the REST API's user.policy: {"policy" (name|null),
 * "attachment_max_bytes", "daily_send_count", "daily_send_bytes",
 * "internal_only", "protocols" [names], "message_bytes", "sources"
 * {field: source}}. The caller owns (json_decref()s) the result. */
json_t *mc_policy_to_json(const struct mc_policy *policy);

/* Daily sending counters: "mc:send:TENANT:USER:YYYYMMDD" (the UTC day of
 * now), a hash of messages ("n") and bytes ("b"), kept two days. */
/* What the user sent on now's UTC day: 0, or -1 (Redis down). */
int mc_policy_send_usage(struct mc_redis *redis, int64_t tenant_id,
			 int64_t user_id, time_t now, uint64_t *messages_r,
			 uint64_t *bytes_r, struct mc_error *err);
/* Adds one accepted message of size bytes: 0, or -1 (Redis down). */
int mc_policy_send_record(struct mc_redis *redis, int64_t tenant_id,
			  int64_t user_id, time_t now, uint64_t bytes,
			  struct mc_error *err);
/* True when what was sent already reaches a daily limit of policy. */
bool mc_policy_send_exhausted(const struct mc_policy *policy, uint64_t messages,
			      uint64_t bytes);

/* Attachment scanner: push the raw message, then ask whether a part
 * with a file name (Content-Disposition filename or Content-Type name)
 * or "Content-Disposition: attachment" decodes to more than limit bytes.
 * Memory stays bounded (mc-mime). The caller owns the scanner. */
struct mc_policy_attach;
struct mc_policy_attach *mc_policy_attach_create(uint64_t limit);
void mc_policy_attach_destroy(struct mc_policy_attach **scanner);
/* Pushes raw message bytes, split anywhere; data is consumed at once. */
void mc_policy_attach_feed(struct mc_policy_attach *scanner, const void *data,
			   size_t len);
/* Ends the input: true when a part is too large, with its file name
 * ("" if only the disposition marked it; owned by the scanner) and its
 * decoded size (the first offending part). */
bool mc_policy_attach_finish(struct mc_policy_attach *scanner,
			     const char **name_r, uint64_t *size_r);

#endif
