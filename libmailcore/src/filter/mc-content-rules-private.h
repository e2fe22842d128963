/* mc-content-rules-private: the compiled form of content rules shared by
 * the compiler (mc-content-rules.c, -cond.c), the evaluator (-eval.c), the
 * blocklist (-blocklist.c), the facts extractor (-facts.c) and the
 * loader (-load.c). */
#ifndef MC_CONTENT_RULES_PRIVATE_H
#define MC_CONTENT_RULES_PRIVATE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "mailcore/mc-content-rules.h"

/* Limits every regular-expression match runs under. */
#define CR_MATCH_LIMIT	   100000
#define CR_DEPTH_LIMIT	   5000
#define CR_HEAP_LIMIT_KIB  4096
#define CR_VALUE_MAX	   1000 /* bytes of a text value or pattern */
#define CR_NAME_MAX	   100	/* bytes of a rule name */
#define CR_TEXT_MAX	   500	/* bytes of a reject text or reason */
#define CR_TAG_MAX	   100	/* bytes of a tag */
#define CR_HEADER_NAME_MAX 76	/* bytes of a header:<Name> name */

enum cr_field {
	CR_F_SUBJECT,
	CR_F_BODY,
	CR_F_SENDER,
	CR_F_RECIPIENT,
	CR_F_HEADER,
	CR_F_ATT_NAME,
	CR_F_ATT_TYPE,
	CR_F_ATT_SIZE,
	CR_F_SIZE,
};

enum cr_op {
	CR_OP_CONTAINS,
	CR_OP_NOT_CONTAINS,
	CR_OP_EQUALS,
	CR_OP_MATCHES,
	CR_OP_STARTS_WITH,
	CR_OP_ENDS_WITH,
	CR_OP_GT,
	CR_OP_LT,
	CR_OP_EXISTS,
};

/* One condition, or a group of conditions (members, joined by any). */
struct cr_cond {
	bool is_group, any;
	struct cr_cond *members;
	size_t members_count;
	enum cr_field field;
	const char *header; /* CR_F_HEADER: the field name */
	enum cr_op op;
	const char *text; /* text operand (lower case unless case_sensitive) */
	size_t text_len;
	uint64_t number; /* numeric operand */
	bool want;	 /* exists: true tests presence */
	bool case_sensitive;
	pcre2_code *re; /* matches */
};

struct cr_rule {
	const char *name;
	int64_t position;
	bool enabled, any;
	struct cr_cond *conds;
	size_t conds_count;
	enum mc_content_action action;
	const char *text;    /* reject text, tag or reason; NULL if none */
	const char *address; /* bcc */
};

struct mc_content_rules {
	struct mc_pool *pool;
	struct cr_rule *rules; /* in position order */
	size_t count, enabled;
	pcre2_general_context *gctx; /* pool allocation */
	pcre2_compile_context *cctx;
	pcre2_match_context *mctx; /* the limits */
	/* blocklist: extensions (no dot) and MIME types, lower case */
	const char **block;
	size_t block_count;
	enum mc_content_action block_action;
};

/* Whether att matches the blocklist of rules; the entry in *entry_r. */
bool cr_blocklist_match(const struct mc_content_rules *rules,
			const struct mc_content_attachment *att,
			const char **entry_r);

/* Whether a condition holds for facts; *regex_errors counts failures. */
bool cr_cond_eval(const struct mc_content_rules *rules, const struct cr_cond *c,
		  const struct mc_content_facts *f, pcre2_match_data *md,
		  unsigned *regex_errors);

/* The compiler's part for one condition (mc-content-rules-cond.c):
 * validates json into *c (from pool); 0 or -1 with err prefixed by where. */
int cr_cond_compile(struct mc_content_rules *rules, const json_t *json,
		    const char *where, struct cr_cond *c, struct mc_error *err);

/* Checks an address "local@domain" (for bcc). */
bool cr_address_valid(const char *s);

#endif
