/* mc-imap-parser-private: the state shared by the IMAP command reader's
 * files: mc-imap-parser.c (input buffer, the event loop, literals, APPEND
 * streaming, error resynchronisation) and mc-imap-parser-line.c (one line
 * of a command tokenised into the argument tree, and the arg helpers). */
#ifndef MC_IMAP_PARSER_PRIVATE_H
#define MC_IMAP_PARSER_PRIVATE_H

#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

/* LITERAL-: the largest non-synchronising literal (RFC 7888 4). */
#define IMAP_LITERAL_MINUS_MAX 4096
/* The largest LITERAL_DATA chunk handed out at once. */
#define IMAP_CHUNK (64 * 1024)
/* Each argument costs its text plus this much of max_command. */
#define IMAP_ARG_COST 8
/* Bytes kept of a line being skipped, to spot a trailing "{n+}". */
#define IMAP_TAIL 32

enum imap_state {
	IS_LINE = 0,  /* reading a line of a command (or a raw line) */
	IS_CONT_WAIT, /* CONTINUE emitted: waiting for continue/refuse */
	IS_LITERAL,   /* reading an inline literal into the tree */
	IS_MSG_BEGIN, /* APPEND: LITERAL_BEGIN is due */
	IS_MSG,	      /* APPEND: streaming LITERAL_DATA */
	IS_MSG_END,   /* APPEND: LITERAL_END is due */
	IS_DISCARD,   /* dropping the bytes of a refused literal */
	IS_SKIP_LINE, /* skipping the rest of a line after an error */
};

/* What parsing one line of a command ended with. */
enum line_result {
	LR_DONE = 0, /* the command is complete */
	LR_LITERAL,  /* the line ended with a literal header */
	LR_BAD,	     /* syntax error: p->err_text says what */
	LR_TOOBIG,   /* over max_command */
};

/* The arguments of one list level (level 0: the command's). */
struct imap_frame {
	struct mc_imap_arg *args;
	size_t count, cap;
};

struct mc_imap_parser {
	struct mc_imap_parser_settings set;
	struct mc_buf in; /* unconsumed client bytes from in_pos */
	size_t in_pos;
	size_t scanned;	      /* bytes of the current line searched for LF */
	struct mc_pool *pool; /* per command (or raw line) */
	enum imap_state state;
	bool line_mode;

	/* the command being read */
	bool in_cmd, append, any_message, need_sep;
	const char *tag, *name;
	struct imap_frame *frames; /* max_depth + 1 of them */
	unsigned depth;
	size_t cmd_bytes;
	const char *err_text;

	/* the literal whose header ended the last line */
	uint64_t lit_size, lit_left;
	bool lit_sync, lit8, lit_msg;
	char *lit_data; /* inline literal, pool */

	/* skipping: the end of the skipped line, and whether a "{n+}" at
	 * its end is a literal to skip too */
	char tail[IMAP_TAIL];
	size_t tail_len;
	bool skip_literals;

	unsigned char *chunk; /* IMAP_CHUNK bytes: LITERAL_DATA copies */
};

/* mc-imap-parser-line.c */
/* Parses "tag SP name" at the start of a command line; false (and
 * p->err_text) on error. Advances *pos past the name. */
bool imap_parse_tag_name(struct mc_imap_parser *p, const char *s, size_t len,
			 size_t *pos);
/* Parses arguments of line s (without its line end) from *pos on. */
enum line_result imap_parse_args(struct mc_imap_parser *p, const char *s,
				 size_t len, size_t pos);
/* Appends an argument to the current list level. */
struct mc_imap_arg *imap_add_arg(struct mc_imap_parser *p,
				 enum mc_imap_arg_type type);
/* True when s ends with a literal header "{n}" / "{n+}"; size and sync
 * in the _r parameters. */
bool imap_tail_literal(const char *s, size_t len, uint64_t *size_r,
		       bool *sync_r);
/* A valid tag at the start of s (up to SP), copied into the pool;
 * NULL when there is none. */
const char *imap_peek_tag(struct mc_imap_parser *p, const char *s, size_t len);

#endif
