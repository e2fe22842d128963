/* mc-imap-parser: the client side of IMAP (RFC 3501 / RFC 9051) read as a
 * sans-I/O stream: the daemon pushes bytes, and pulls events: a complete
 * command with its arguments as a tree (atoms, numbers, quoted strings,
 * literals, lists, NIL), a synchronising literal waiting for "+", the
 * message literals of APPEND streamed in chunks (so a 50 MB APPEND never
 * sits in memory), raw lines while a command (IDLE, AUTHENTICATE) reads
 * them, and errors that leave the stream in sync. LITERAL+ / LITERAL-
 * (RFC 7888) non-synchronising literals and literal8 (~{n}, RFC 3516) are
 * understood. Every size is bounded by the settings. */
#ifndef MC_IMAP_PARSER_H
#define MC_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_imap_parser;

#define MC_IMAP_DEFAULT_LINE	      8192	   /* RFC 7162 4: >= 8192 */
#define MC_IMAP_DEFAULT_INLINE_LITERAL (64 * 1024)
#define MC_IMAP_DEFAULT_COMMAND	      (1024 * 1024)
#define MC_IMAP_DEFAULT_APPEND	      (50 * 1024 * 1024)
#define MC_IMAP_DEFAULT_DEPTH	      32

/* 0 selects the default. */
struct mc_imap_parser_settings {
	size_t max_line;	   /* one line of a command, CRLF included */
	size_t max_inline_literal; /* literal kept in the tree */
	size_t max_command;	   /* all of one command's arguments */
	uint64_t max_append;	   /* one streamed APPEND literal */
	unsigned max_depth;	   /* list nesting */
	bool literal_minus;	   /* LITERAL-: non-sync literals <= 4096 */
};

enum mc_imap_arg_type {
	MC_IMAP_ARG_ATOM = 1, /* includes numbers, flags (\Seen), sequence
				 sets, section specs (BODY[1.2]<0.10>) */
	MC_IMAP_ARG_QUOTED,
	MC_IMAP_ARG_LITERAL,
	MC_IMAP_ARG_NIL,
	MC_IMAP_ARG_LIST,
};

/* An argument. str is NUL-terminated (a literal may also contain NULs:
 * use len). An atom that is immediately followed by a bracket or list
 * stays one atom as RFC 3501 fetch-att syntax needs ("BODY[HEADER.FIELDS
 * (TO FROM)]<0.100>" is one ATOM whose text is exactly that). */
struct mc_imap_arg {
	enum mc_imap_arg_type type;
	const char *str;
	size_t len;
	bool literal8; /* ~{n} */
	const struct mc_imap_arg *list; /* MC_IMAP_ARG_LIST */
	size_t list_count;
};

enum mc_imap_event_type {
	/* A whole command: tag, name (upper-cased), arguments. */
	MC_IMAP_EV_COMMAND = 1,
	/* A synchronising literal {n}: answer with mc_imap_parser_continue
	 * (then write "+ OK" yourself) or mc_imap_parser_refuse. */
	MC_IMAP_EV_CONTINUE,
	/* APPEND only: the message literal of size starts; args holds what
	 * came before it since the command began or since the previous
	 * message (mailbox, then flags and date-time if any). */
	MC_IMAP_EV_LITERAL_BEGIN,
	MC_IMAP_EV_LITERAL_DATA,
	MC_IMAP_EV_LITERAL_END,
	/* A raw line in line mode (without its CRLF). */
	MC_IMAP_EV_LINE,
	/* Malformed input: answer "tag BAD text" (tag is "*" when none
	 * could be read). The rest of the command was skipped. */
	MC_IMAP_EV_BAD,
	/* A literal over the limits: answer "tag NO [TOOBIG] text" (or BAD
	 * for a line too long). The rest of the command was skipped. */
	MC_IMAP_EV_TOOBIG,
};

/* An event; pointers stay valid until the next mc_imap_parser_next(). */
struct mc_imap_event {
	enum mc_imap_event_type type;
	const char *tag;  /* COMMAND, CONTINUE, LITERAL_*, BAD, TOOBIG */
	const char *name; /* COMMAND, CONTINUE, LITERAL_* (upper-case) */
	const struct mc_imap_arg *args;
	size_t args_count;
	uint64_t literal_size;	      /* CONTINUE, LITERAL_BEGIN */
	bool literal8;		      /* LITERAL_BEGIN */
	const unsigned char *data;    /* LITERAL_DATA, LINE */
	size_t data_len;
	const char *text; /* BAD, TOOBIG: what was wrong */
};

struct mc_imap_parser *
mc_imap_parser_create(const struct mc_imap_parser_settings *set);
/* Accepts NULL and clears *p. */
void mc_imap_parser_destroy(struct mc_imap_parser **p);

/* Pushes client bytes (copied), split anywhere. */
void mc_imap_parser_feed(struct mc_imap_parser *p, const void *data,
			 size_t len);
/* 1 with *ev_r filled, 0 when more input is needed (or an answer to
 * CONTINUE is due). */
int mc_imap_parser_next(struct mc_imap_parser *p, struct mc_imap_event *ev_r);
/* Bytes buffered and not yet consumed (the daemon stops reading past a
 * bound). */
size_t mc_imap_parser_buffered(const struct mc_imap_parser *p);

/* Answers a CONTINUE: the literal may come (write "+ ..." now). */
void mc_imap_parser_continue(struct mc_imap_parser *p);
/* Answers a CONTINUE: refused (write the tagged NO/BAD); the command is
 * over, the client sends no literal. */
void mc_imap_parser_refuse(struct mc_imap_parser *p);

/* Line mode (IDLE waiting for DONE, AUTHENTICATE responses): every line
 * comes as MC_IMAP_EV_LINE until line mode is switched off. */
void mc_imap_parser_set_line_mode(struct mc_imap_parser *p, bool on);

/* Helpers on arguments. */
/* True for an ATOM, QUOTED or LITERAL (an "astring"/"string"); *s_r is
 * its text. */
bool mc_imap_arg_string(const struct mc_imap_arg *arg, const char **s_r,
			size_t *len_r);
/* True for an ATOM equal to word, case-insensitively. */
bool mc_imap_arg_is(const struct mc_imap_arg *arg, const char *word);
/* Parses an ATOM as a number (RFC 3501 number: 0..2^32-1, or up to
 * 2^63-1 when wide, for MODSEQ); false otherwise. */
bool mc_imap_arg_number(const struct mc_imap_arg *arg, bool wide,
			uint64_t *n_r);

#endif
