/* mc-content-rules: per-domain content policy. An ordered list of rules
 * (JSON, as the REST API carries it) is validated and compiled once; each
 * message is summarised once into facts (subject, header fields, decoded
 * body text, attachments, sizes, envelope); evaluation then needs no I/O.
 *
 * A rule, in the JSON the compiler takes (unknown keys are refused; "id"
 * is allowed and ignored):
 *
 *   {"name": "no invoices", "position": 10, "enabled": true,
 *    "match": "all" | "any",
 *    "conditions": [COND | {"any": [COND...]} | {"all": [COND...]}],
 *    "action": {"type": "reject", "text": "550 reply text"}}
 *
 *   COND = {"field": F, "op": OP, "value": V, "case_sensitive": false}
 *
 * name: 1..100 bytes. position: an integer >= 0, unique in the list
 * (absent: the rule's index in the array); rules run in position order.
 * enabled: default true. match: "all" (AND, the default) or "any" (OR) of
 * the conditions; a group ({"any": [...]} or {"all": [...]}, one level,
 * no groups inside) counts as one condition whose members are joined as
 * its key says. At least one condition; at most
 * MC_CONTENT_CONDITIONS_MAX conditions per rule, group members included;
 * at most MC_CONTENT_RULES_MAX rules.
 *
 * Fields (F) and the values they test:
 *   subject          the decoded Subject ("" when there is none)
 *   body             the decoded text of the text/plain and text/html
 *                    parts that are not attachments (HTML tags dropped),
 *                    UTF-8, parts joined by "\n", cut at max_body
 *   sender           the envelope sender (MAIL FROM; "" for <>)
 *   recipient        each envelope recipient (RCPT TO)
 *   header:<Name>    each value of the top-level header field Name
 *                    (name case-insensitive; value unfolded, RFC 2047
 *                    decoded)
 *   attachment_name  each attachment's file name (Content-Disposition
 *                    filename, else Content-Type name; "" if none)
 *   attachment_type  each attachment's declared type, "type/subtype"
 *                    lower case
 *   attachment_size  each attachment's decoded size in bytes
 *   size             the whole message's size in bytes
 * An attachment is every leaf MIME part except the text/plain and
 * text/html parts that have neither a file name nor an "attachment"
 * disposition; a whole message of a non-text type is one attachment.
 *
 * Operators (OP): on the text fields contains, not_contains, equals,
 * starts_with, ends_with (value a string of 1..1000 bytes; equals also
 * ""), matches (value a PCRE2 pattern, UTF mode, run with match, depth
 * and heap limits: a match that hits a limit counts as no match and is
 * counted in the verdict's regex_errors); on attachment_size and size gt,
 * lt, equals (value an integer >= 0 or a size string "10M", as
 * mc_str_parse_size reads it); exists on any field (value optional,
 * true by default; false tests absence). Text comparisons ignore ASCII
 * case unless case_sensitive is true; matches is then caseless in the
 * Unicode sense.
 *
 * Multi-valued fields (recipient, header:<Name>, attachment_*) hold when
 * any value satisfies the operator; not_contains holds when no value
 * contains the text (so it holds for an empty set). exists holds for:
 * subject, body, sender when non-empty; recipient and header:<Name> when
 * there is at least one; attachment_* when there is an attachment (for
 * attachment_name: one with a name); size always.
 *
 * Actions: reject (optional "text": the reply text, printable ASCII, at
 * most 500 bytes; the default MC_CONTENT_REJECT_TEXT), quarantine, hold
 * (for approval) and deliver (optional "text": a reason for the log, at
 * most 500 bytes) are deciding; tag (required "text": at most 100 bytes
 * of UTF-8 without control characters, e.g. "[EXTERNAL]") and bcc
 * (required "address": local@domain) are not.
 *
 * Evaluation, exactly:
 *  1. The attachment blocklist (when set) runs first: the first
 *     attachment (in message order) whose name ends in "." + a listed
 *     extension (case-insensitive, trailing dots and blanks of the name
 *     ignored) or whose declared type is a listed type (or under a
 *     listed wildcard: "image" + slash + star) decides with the
 *     blocklist's action (reject or
 *     quarantine); no rule runs then, so no rule can let it through.
 *  2. Otherwise the enabled rules run in position order (disabled ones
 *     are skipped). A matching rule with a non-deciding action adds its
 *     tag or BCC address (in rule order; a repeated tag or address is
 *     kept once) and evaluation goes on; the first matching rule with a
 *     deciding action ends evaluation. Tags and BCCs of rules after it
 *     are not collected; those before it are reported whatever it
 *     decided (the caller applies them to accepted mail only).
 *  3. When no rule decides, the action is MC_CONTENT_NONE: the message
 *     goes on through the normal path with the collected tags and BCCs.
 *
 * Thread safety: a compiled set is immutable once compiled and its
 * blocklist set; any number of threads may evaluate it at once. */
#ifndef MC_CONTENT_RULES_H
#define MC_CONTENT_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mc-mime.h"

struct mc_error;
struct mc_pg;
struct mc_pool;
struct mc_content_rules;

#define MC_CONTENT_RULES_MAX	  100 /* rules per domain */
#define MC_CONTENT_CONDITIONS_MAX 20  /* conditions per rule */
#define MC_CONTENT_BLOCKLIST_MAX  200 /* blocklist entries per domain */
#define MC_CONTENT_REJECT_TEXT	  "Message rejected by content policy"
#define MC_CONTENT_BLOCKED_TEXT	  "Attachment type not allowed"

enum mc_content_action {
	MC_CONTENT_NONE = 0, /* nothing decided: the normal path */
	MC_CONTENT_REJECT,
	MC_CONTENT_QUARANTINE,
	MC_CONTENT_HOLD,
	MC_CONTENT_DELIVER,
	MC_CONTENT_TAG,
	MC_CONTENT_BCC,
};

/* "none", "reject", "quarantine", "hold", "deliver", "tag", "bcc". */
const char *mc_content_action_name(enum mc_content_action action);

/* ---- facts: one summary per message ---- */

struct mc_content_header {
	const char *name;  /* as written */
	const char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
};

struct mc_content_attachment {
	const char *name; /* decoded file name, "" if none */
	const char *type; /* "type/subtype", lower case */
	uint64_t size;	  /* decoded bytes */
};

/* Every string is NUL-terminated. Filled by mc_content_facts_extract
 * (then everything is pool-owned) or by hand (tests, callers that have
 * the facts already). */
struct mc_content_facts {
	const char *sender; /* envelope sender, "" for <> */
	const char *const *recipients;
	size_t recipients_count;
	const char *subject;			 /* decoded, "" when absent */
	const struct mc_content_header *headers; /* top level, in order */
	size_t headers_count;
	const char *body; /* decoded text (see above); may hold NULs */
	size_t body_len;
	bool body_truncated; /* more text than max_body */
	const struct mc_content_attachment *attachments; /* message order */
	size_t attachments_count;
	bool attachments_truncated; /* more than max_attachments */
	uint64_t size;		    /* message bytes */
};

/* Reads the message: up to len bytes at offset; the count, 0 at the end,
 * -1 on error (the shape of mc_dkim_read_fn). */
typedef ssize_t mc_content_read_fn(void *ctx, void *buf, size_t len,
				   uint64_t offset);

/* 0 selects the default given in brackets. */
struct mc_content_limits {
	struct mc_mime_settings mime; /* parser limits (mc-mime defaults) */
	size_t max_body;	      /* body text kept [64 KiB] */
	size_t max_attachments;	      /* attachments kept [1000] */
};

/* Reads the whole message once through read (offsets from 0, in order)
 * and summarises it; sender and recipients are copied (sender NULL is
 * ""). limits may be NULL. Malformed MIME gives a best-effort summary.
 * 0 with *facts_r (pool), or -1 with err (MC_ERR_TEMPORARY: reading
 * failed). */
int mc_content_facts_extract(struct mc_pool *pool, mc_content_read_fn *read,
			     void *read_ctx, const char *sender,
			     const char *const *recipients,
			     size_t recipients_count,
			     const struct mc_content_limits *limits,
			     const struct mc_content_facts **facts_r,
			     struct mc_error *err);

/* ---- compiled rules ---- */

/* Validates and compiles a JSON array of rules (NULL: no rules) into
 * pool: everything, the PCRE2 patterns included, lives until the pool is
 * freed (there is no destroy). 0, or -1 with err naming the place:
 * MC_ERR_INVALID ("rules[2].conditions[0].value: ...") or MC_ERR_LIMIT
 * (too many rules or conditions); *rules_r is then untouched. */
int mc_content_rules_compile(const json_t *rules, struct mc_pool *pool,
			     struct mc_content_rules **rules_r,
			     struct mc_error *err);

/* Sets the attachment blocklist of a compiled set (before it is shared):
 * list is a JSON array (NULL: none) of at most MC_CONTENT_BLOCKLIST_MAX
 * strings, each an extension ("exe", ".exe", "tar.gz") or a MIME type
 * ("application/x-msdownload", or a whole top-level type as "video"
 * + slash + star); action is
 * MC_CONTENT_REJECT or MC_CONTENT_QUARANTINE. Entries are copied (lower
 * case) into the compiled set's pool. 0, or -1 with err (MC_ERR_INVALID
 * "blocklist[3]: ...", MC_ERR_LIMIT); the previous list then stays. */
int mc_content_rules_set_blocklist(struct mc_content_rules *rules,
				   const json_t *list,
				   enum mc_content_action action,
				   struct mc_error *err);

/* Validates without keeping anything (for the REST API): rules and
 * blocklist as above, either may be NULL. 0 or -1 with err. */
int mc_content_rules_validate(const json_t *rules, const json_t *blocklist,
			      struct mc_error *err);

/* Enabled rules, all rules, and blocklist entries of a compiled set. */
size_t mc_content_rules_count(const struct mc_content_rules *rules);
size_t mc_content_rules_total(const struct mc_content_rules *rules);
size_t mc_content_rules_blocklist_count(const struct mc_content_rules *rules);

/* What evaluation decided. Strings point into the compiled set or the
 * facts: valid while both are. */
struct mc_content_verdict {
	enum mc_content_action action; /* deciding action, or NONE */
	/* reject: the reply text (the rule's, MC_CONTENT_REJECT_TEXT or for
	 * the blocklist MC_CONTENT_BLOCKED_TEXT); other deciding actions:
	 * the rule's optional reason or NULL; NONE: NULL */
	const char *text;
	const char *rule; /* deciding rule's name; NULL: none/blocklist */
	int64_t position; /* its position; -1 without one */
	bool blocklisted; /* the attachment blocklist decided */
	const char *blocked_attachment; /* its name (or type if unnamed) */
	const char *blocked_entry;	/* the blocklist entry it matched */
	const char *tags[MC_CONTENT_RULES_MAX]; /* collected, rule order */
	size_t tags_count;
	const char *bcc[MC_CONTENT_RULES_MAX]; /* collected addresses */
	size_t bcc_count;
	unsigned rules_matched; /* matching rules seen, deciding included */
	unsigned regex_errors;	/* matches stopped by a limit or error */
};

/* Evaluates facts against the blocklist and the rules as described at
 * the top of this file, filling *out. rules NULL is an empty set. */
void mc_content_rules_eval(const struct mc_content_rules *rules,
			   const struct mc_content_facts *facts,
			   struct mc_content_verdict *out);

/* ---- storage (schema/0009_content_rules.sql) ---- */

/* Loads and compiles the rules of a domain (content_rules, in position
 * order) and its attachment blocklist (domains.attachment_blocklist and
 * attachment_blocklist_action) into pool. 1 with *rules_r; 0 when the
 * domain does not exist (*rules_r an empty set); -1 with err:
 * MC_ERR_TEMPORARY from the database, or the compiler's error (prefixed
 * "stored rules") when stored rules no longer compile, which the caller
 * should treat as temporary rather than skip the policy. */
int mc_content_rules_load(struct mc_pg *pg, struct mc_pool *pool,
			  int64_t tenant_id, int64_t domain_id,
			  struct mc_content_rules **rules_r,
			  struct mc_error *err);

#endif
