/* mc-message-private: state shared by the mc-message-*.c files: the part
 * tree built from mc-mime events, the envelope headers kept per message,
 * the searchable-text collector, and the writers that turn them into IMAP
 * values, the part map and SORT keys at mc_message_finish(). */
#ifndef MC_MESSAGE_PRIVATE_H
#define MC_MESSAGE_PRIVATE_H

#include "mailcore/mc-message.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_DEFAULT_MAX_TEXT (256 * 1024)

/* The header fields kept for a message (the top one or an encapsulated
 * one); order matters for the ENVELOPE writer. */
enum msg_env_field {
	ENV_DATE = 0,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_REFERENCES,
	ENV_COUNT
};

/* Raw (unfolded) values, NULL when the header is absent. */
struct msg_envelope {
	const char *field[ENV_COUNT];
};

/* One MIME part as mc-mime reported it; strings live in the message pool.
 * Children are linked by index; -1 ends a list. */
struct msg_part {
	int parent, first_child, last_child, next_sibling;
	unsigned children;
	bool has_info, ended;
	const char *type, *subtype; /* lower-case */
	struct mc_mime_param *params;
	unsigned params_count;
	const char *encoding; /* lower-case name, NULL = 7bit */
	const char *id, *description, *md5, *language, *location;
	const char *disposition; /* lower-case, NULL if none */
	struct mc_mime_param *dparams;
	unsigned dparams_count;
	uint64_t header_offset, header_size, body_offset, body_size;
	uint64_t body_lines;
	struct msg_envelope *env; /* message roots only */
};

enum html_state { HTML_TEXT = 0, HTML_TAG, HTML_ENTITY, HTML_COMMENT };

/* The searchable text and the text part being added to it. */
struct msg_text {
	struct mc_buf out;
	size_t max;
	bool full;
	/* current text part */
	bool active, html, whole, need_sep;
	char charset[64];
	struct mc_buf raw, conv;
	/* HTML filter */
	enum html_state state;
	char name[16], ent[12], quote;
	size_t name_len, ent_len;
	unsigned dashes;
	bool name_done, closing, skip;
	char skip_name[8];
};

struct mc_message {
	struct mc_message_settings set;
	struct mc_pool *pool;
	struct mc_mime_parser *parser;
	struct msg_part *parts;
	unsigned parts_count, parts_alloc;
	int text_part; /* part whose BODY events go to text, -1 none */
	struct msg_text text;
	struct mc_message_info info;
	uint64_t size;
	unsigned warnings;
	bool finished;
};

/* mc-message-imap.c: IMAP values (RFC 3501 / 9051 section 9 grammar). */
void msg_imap_string(struct mc_buf *out, const char *s);
void msg_imap_envelope(struct mc_buf *out, struct mc_pool *pool,
		       const struct msg_envelope *env);
void msg_imap_body(const struct mc_message *msg, struct mc_buf *out,
		   unsigned part, bool extended);

/* mc-message-parts.c: the part map read by mc_message_part_find(). */
void msg_parts_write(const struct mc_message *msg, struct mc_buf *out);

/* mc-message-sort.c: RFC 5256 base subject and lower-casing, into pool. */
const char *msg_base_subject(struct mc_pool *pool, const char *raw);
const char *msg_lower_utf8(struct mc_pool *pool, const char *s);

/* mc-message-text.c: the searchable text. */
void msg_text_init(struct msg_text *t, size_t max);
void msg_text_free(struct msg_text *t);
/* Adds one newline-separated item (NULL or "" adds nothing). */
void msg_text_add(struct msg_text *t, const char *s);
void msg_text_part_begin(struct msg_text *t, const char *charset, bool html);
void msg_text_part_data(struct msg_text *t, const unsigned char *data,
			size_t len);
void msg_text_part_end(struct msg_text *t);

#endif
