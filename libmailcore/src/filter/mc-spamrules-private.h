/* mc-spamrules-private: what the loader (mc-spamrules-load.c), the
 * streaming scan (mc-spamrules-scan.c), the text helpers
 * (mc-spamrules-text.c) and the built-in checks (mc-spamrules-checks.c)
 * share: the compiled rule set and one scan's state. */
#ifndef MC_SPAMRULES_PRIVATE_H
#define MC_SPAMRULES_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <magic.h>
#include <pcre2.h>
#include <pthread.h>

#include "mailcore/mc-mime.h"
#include "mailcore/mc-spamrules.h"
#include "mailcore/mc-str.h"

enum rule_type { RULE_HEADER, RULE_BODY, RULE_RAWBODY, RULE_URI };

/* What of a header field a header rule matches. */
enum rule_target {
	TARGET_DECODED,
	TARGET_RAW,
	TARGET_ADDR,
	TARGET_NAME,
	TARGET_ALL,
	TARGET_EXISTS,
};

struct rule {
	char *name, *description;
	enum rule_type type;
	enum rule_target target;
	char *field; /* header rules except ALL */
	bool negate; /* !~ */
	double score;
	pcre2_code *code; /* NULL for exists: */
};

struct mc_spamrules {
	struct rule *rules;
	size_t count, cap;
	struct mc_spamrules_scores scores;
	char **exts, **types; /* lower-case lists */
	size_t ext_count, type_count;
	char *magic_file;
	size_t max_body, sniff_bytes;
	unsigned max_parts;
	uint32_t match_limit, depth_limit;
	pthread_mutex_t magic_lock; /* guards the idle handles */
	magic_t *magic_idle;
	size_t magic_idle_count, magic_idle_cap;
};

/* One header field of the message. */
struct field {
	const char *name;
	const char *raw;     /* unfolded, as written */
	const char *decoded; /* RFC 2047 decoded, UTF-8 */
};

/* The leaf part being read. */
struct leaf {
	bool active, is_text, is_html, is_attachment;
	unsigned part;
	const char *charset;
	struct mc_buf raw;   /* text parts: decoded bytes, capped */
	struct mc_buf sniff; /* attachments: leading bytes */
	struct mc_spamrules_attachment att;
};

/* One scan. Heap buffers are freed by scan_free(). */
struct scan {
	struct mc_spamrules *sr;
	struct mc_pool *pool;
	struct field *fields;
	size_t field_count, field_cap;
	struct mc_buf body, rawbody, tmp;
	struct leaf leaf;
	struct mc_spamrules_attachment *atts;
	size_t att_count, att_cap;
	struct mc_spamrules_hit *hits;
	size_t hit_count, hit_cap;
	const char **uris;
	size_t uri_count;
	bool body_truncated, parts_truncated;
	unsigned parts_seen, regex_errors;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
	pcre2_jit_stack *jit;
	magic_t magic; /* taken on the first sniff */
	double score;
};

/* mc-spamrules-scan.c */
void scan_hit(struct scan *s, const char *name, double score,
	      const char *description);
/* The first field named name (case-insensitive), or NULL. */
const struct field *scan_field(const struct scan *s, const char *name);
/* 1 match, 0 none (a limit reached counts as none). */
int scan_match(struct scan *s, const pcre2_code *code, const char *subject,
	       size_t len);

/* mc-spamrules-text.c */
/* Appends len bytes of UTF-8 to buf up to its max, cut at a character
 * boundary; false when something was cut. */
bool text_append(struct mc_buf *buf, const char *s, size_t len);
/* Appends the text of an HTML document (tags dropped, entities
 * decoded); false when something was cut at buf's max. */
bool text_html(struct mc_buf *buf, const char *s, size_t len);
/* The links of text, at most max, from pool; count in *n_r. */
const char **text_uris(struct mc_pool *pool, const char *text, size_t len,
		       size_t max, size_t *n_r);

/* mc-spamrules-checks.c */
/* Missing Date / Message-ID, Reply-To and display-name checks. */
void checks_headers(struct scan *s);
/* Flags att by name, declared type and (sniff non-NULL and not empty)
 * the libmagic type of sniff. */
void checks_attachment(struct scan *s, struct mc_spamrules_attachment *att,
		       const struct mc_buf *sniff);
/* The attachment symbols, once all parts are seen. */
void checks_attachments_total(struct scan *s);
/* The other filters' symbols; in may be NULL. */
void checks_inputs(struct scan *s, const struct mc_spamrules_inputs *in);
/* A new libmagic handle for sr; false with why (size bytes) filled. */
bool checks_magic_open(const struct mc_spamrules *sr, magic_t *m_r, char *why,
		       size_t size);
/* Returns the scan's libmagic handle (if any) to the idle list. */
void checks_magic_release(struct scan *s);

#endif
