/* mc-mime-private: the parser state shared by the mc-mime-*.c files: the
 * line scanner, the stack of open parts, the header block being read, the
 * transfer decoder and the queue of events waiting to be returned. */
#ifndef MC_MIME_PRIVATE_H
#define MC_MIME_PRIVATE_H

#include "mailcore/mc-mime.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIME_BOUNDARY_MAX 200
#define MIME_PARAMS_MAX	  128

enum part_kind { KIND_LEAF = 0, KIND_MULTIPART, KIND_MESSAGE };

enum parse_state {
	ST_HEADERS = 0,
	ST_BODY,     /* leaf body */
	ST_PREAMBLE, /* multipart before its first boundary */
	ST_EPILOGUE, /* multipart after its closing boundary (or skipping) */
	ST_DONE,
};

/* One open part. */
struct mime_part {
	unsigned index, depth;
	int parent;
	enum part_kind kind;
	char *boundary; /* heap, multipart only */
	size_t boundary_len;
	bool digest, closed, skipping;
	uint64_t header_off, body_off, body_lf, body_bare;
};

/* One line unit handed to the state machine: a full line, a chunk of an
 * over-long line, or the unterminated end of input. */
struct mime_line {
	const char *data;
	size_t len;	/* content, line break excluded */
	size_t eol_len; /* 0, 1 (LF) or 2 (CRLF) */
	bool at_start;	/* starts a line */
};

/* The interesting header values of the part being read (hdr_pool). */
struct mime_raw_ctype {
	const char *ctype, *cte, *disposition, *id, *description, *language,
		*location, *md5;
};

struct mc_mime_parser {
	struct mc_mime_settings set;

	/* input: either the caller's data or own copy in inbuf */
	const char *in;
	size_t in_len, in_pos;
	struct mc_buf inbuf, carry;
	bool finished, carry_ready;

	/* position bookkeeping */
	uint64_t off, lf, bare_lf;
	size_t prev_eol_len, cur_line_len, last_line_len;
	bool at_line_start;

	/* parts */
	struct mime_part *stack;
	unsigned depth_count; /* entries on the stack */
	unsigned parts_count;
	enum parse_state state;

	/* header block of the top part */
	struct mc_pool *hdr_pool;
	struct mc_buf field;
	uint64_t field_off, field_end;
	size_t hdr_bytes;
	unsigned hdr_count;
	bool hdr_fresh, field_open, field_skip, hdr_long, hdr_warned_bytes,
		hdr_warned_count;
	struct mime_raw_ctype raw;

	/* transfer decoder of the current leaf */
	enum mc_mime_encoding enc;
	size_t pending_eol;
	uint32_t b64_bits;
	unsigned b64_count;
	bool b64_warned;
	char qp_hold[2];
	unsigned qp_hold_len;
	struct mc_buf qp_ws, dec;

	/* events */
	struct mc_pool *ev_pool;
	struct mc_mime_event *queue;
	size_t q_len, q_pos, q_cap;
};

/* mc-mime.c */
struct mc_mime_event *mime_event_push(struct mc_mime_parser *p,
				      enum mc_mime_event_type type);
void mime_warn(struct mc_mime_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct mime_part *mime_top(struct mc_mime_parser *p);
int mime_find_boundary(struct mc_mime_parser *p, const struct mime_line *l,
		       unsigned below, bool *closing_r);
void mime_handle_boundary(struct mc_mime_parser *p, const struct mime_line *l,
			  unsigned idx, bool closing);
void mime_begin_part(struct mc_mime_parser *p, uint64_t header_off);
void mime_process_line(struct mc_mime_parser *p, const struct mime_line *l);

/* mc-mime-header.c */
void mime_header_line(struct mc_mime_parser *p, const struct mime_line *l);
void mime_headers_end(struct mc_mime_parser *p, const struct mime_line *blank,
		      bool blank_line);
void mime_header_reset(struct mc_mime_parser *p);

/* mc-mime-param.c: parses "type/subtype; params" (want_subtype) or
 * "token; params" into pool; false when there is no valid type. */
bool mime_parse_ctype(struct mc_pool *pool, const char *s, bool want_subtype,
		      const char **type_r, const char **subtype_r,
		      struct mc_mime_param **params_r, unsigned *count_r);
const char *mime_param_get(const struct mc_mime_param *params, unsigned count,
			   const char *name);

/* mc-mime-decode.c */
void mime_decode_start(struct mc_mime_parser *p, enum mc_mime_encoding enc);
void mime_decode_bytes(struct mc_mime_parser *p, const char *data, size_t len);
void mime_decode_eol(struct mc_mime_parser *p, size_t eol_len);
void mime_decode_finish(struct mc_mime_parser *p);

#endif
