/* mc-imap-search: the arguments of SEARCH / UID SEARCH (RFC 3501 6.4.4,
 * RFC 9051) read from the parser's argument tree into a search program:
 * ESEARCH return options (RFC 4731, SAVE from RFC 5182), the charset, and
 * a tree of search keys including MODSEQ (RFC 7162) and "$" (RFC 5182).
 * Also the "charset 1*(SP search-key)" form that SORT and THREAD use. */
#ifndef MC_IMAP_SEARCH_H
#define MC_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailcore/mc-imap-seqset.h"

struct mc_pool;
struct mc_imap_arg;

#define MC_IMAP_SEARCH_DEFAULT_DEPTH 32
#define MC_IMAP_SEARCH_DEFAULT_KEYS  1000

/* 0 selects the default. */
struct mc_imap_search_settings {
	unsigned max_depth; /* nesting of (), NOT and OR */
	unsigned max_keys;  /* search keys in one program */
};

/* What mc_imap_search_parse() returns. */
enum mc_imap_search_status {
	/* Answer "tag NO <error>": error_r starts with
	 * "[BADCHARSET (US-ASCII UTF-8)]". */
	MC_IMAP_SEARCH_BADCHARSET = -2,
	/* Answer "tag BAD <error>". */
	MC_IMAP_SEARCH_BAD = -1,
	MC_IMAP_SEARCH_OK = 1,
};

/* ESEARCH return options (RFC 4731, RFC 5182). */
enum mc_imap_search_return {
	MC_IMAP_SEARCH_RETURN_MIN = 1 << 0,
	MC_IMAP_SEARCH_RETURN_MAX = 1 << 1,
	MC_IMAP_SEARCH_RETURN_ALL = 1 << 2,
	MC_IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	MC_IMAP_SEARCH_RETURN_SAVE = 1 << 4,
};

enum mc_imap_search_charset {
	MC_IMAP_SEARCH_CHARSET_NONE = 0, /* no CHARSET given */
	MC_IMAP_SEARCH_CHARSET_US_ASCII,
	MC_IMAP_SEARCH_CHARSET_UTF8,
};

enum mc_imap_search_kind {
	MC_IMAP_SEARCH_ALL = 1,
	MC_IMAP_SEARCH_AND,	/* children (a parenthesised group too) */
	MC_IMAP_SEARCH_OR,	/* children, two or more */
	MC_IMAP_SEARCH_NOT,	/* children[0] */
	MC_IMAP_SEARCH_FLAG,	/* flag, set */
	MC_IMAP_SEARCH_KEYWORD, /* name, set */
	MC_IMAP_SEARCH_DATE,	/* date_field, cmp, date */
	MC_IMAP_SEARCH_SIZE,	/* cmp (LT / GT), number */
	MC_IMAP_SEARCH_HEADER,	/* name (upper-case), value (substring) */
	MC_IMAP_SEARCH_BODY,	/* value */
	MC_IMAP_SEARCH_TEXT,	/* value */
	MC_IMAP_SEARCH_SEQSET,	/* seqset (value: its text), or saved */
	MC_IMAP_SEARCH_UIDSET,	/* seqset (value: its text), or saved */
	MC_IMAP_SEARCH_MODSEQ,	/* number (>=), name, entry_type */
};

/* The system flags a FLAG node tests. */
enum mc_imap_search_flag {
	MC_IMAP_SEARCH_FLAG_ANSWERED = 1,
	MC_IMAP_SEARCH_FLAG_DELETED,
	MC_IMAP_SEARCH_FLAG_DRAFT,
	MC_IMAP_SEARCH_FLAG_FLAGGED,
	MC_IMAP_SEARCH_FLAG_RECENT,
	MC_IMAP_SEARCH_FLAG_SEEN,
};

/* DATE: BEFORE / ON / SINCE; SIZE: SMALLER (LT) / LARGER (GT). */
enum mc_imap_search_cmp {
	MC_IMAP_SEARCH_LT = 1,
	MC_IMAP_SEARCH_EQ,
	MC_IMAP_SEARCH_GE,
	MC_IMAP_SEARCH_GT,
};

enum mc_imap_search_date_field {
	MC_IMAP_SEARCH_DATE_INTERNAL = 1, /* BEFORE ON SINCE */
	MC_IMAP_SEARCH_DATE_SENT,	  /* SENTBEFORE SENTON SENTSINCE */
};

/* RFC 7162 entry-type-req of MODSEQ "/flags/x" TYPE n. */
enum mc_imap_search_entry_type {
	MC_IMAP_SEARCH_ENTRY_NONE = 0,
	MC_IMAP_SEARCH_ENTRY_PRIV,
	MC_IMAP_SEARCH_ENTRY_SHARED,
	MC_IMAP_SEARCH_ENTRY_ALL,
};

/* A node of the search program. Only the fields named for its kind are
 * meaningful. Strings are NUL-terminated and contain no NUL. */
struct mc_imap_search_node {
	enum mc_imap_search_kind kind;
	struct mc_imap_search_node **children;
	size_t child_count;
	enum mc_imap_search_flag flag;
	bool set;   /* FLAG, KEYWORD: true = must be set (SEEN, KEYWORD) */
	bool saved; /* SEQSET, UIDSET: "$", the saved result (RFC 5182) */
	const char *name;
	const char *value;
	enum mc_imap_search_cmp cmp;
	enum mc_imap_search_date_field date_field;
	/* DATE: midnight UTC of the day given; compare days only, ignoring
	 * time and zone (RFC 3501 6.4.4). */
	time_t date;
	uint64_t number; /* SIZE: octets; MODSEQ: mod-sequence */
	/* SEQSET, UIDSET: parsed, "*" unresolved; ranges from the pool. */
	struct mc_imap_seqset seqset;
	enum mc_imap_search_entry_type entry_type; /* MODSEQ */
};

/* A parsed SEARCH command. */
struct mc_imap_search {
	bool return_given;    /* RETURN (...) seen: answer with ESEARCH */
	unsigned return_opts; /* enum mc_imap_search_return bits; RETURN ()
				 gives ALL */
	enum mc_imap_search_charset charset;
	struct mc_imap_search_node *root; /* an AND of the top-level keys */
	bool uses_modseq; /* a MODSEQ key: the response carries MODSEQ */
	bool uses_saved;  /* "$" appears */
	unsigned key_count;
};

/* Parses the arguments of SEARCH after the command name:
 * [RETURN (opts)] [CHARSET astring] 1*search-key. Everything, *search_r
 * included, is allocated from pool. set may be NULL (defaults). On
 * failure *error_r is a static or pool text for the reply. */
enum mc_imap_search_status
mc_imap_search_parse(struct mc_pool *pool,
		     const struct mc_imap_search_settings *set,
		     const struct mc_imap_arg *args, size_t count,
		     struct mc_imap_search **search_r, const char **error_r);

/* The same for SORT and THREAD (RFC 5256): charset SP 1*search-key, the
 * charset being mandatory and not preceded by "CHARSET". */
enum mc_imap_search_status mc_imap_search_parse_criteria(
	struct mc_pool *pool, const struct mc_imap_search_settings *set,
	const struct mc_imap_arg *args, size_t count,
	struct mc_imap_search **search_r, const char **error_r);

/* Simplifies a tree in place and returns the new root: NOT NOT x -> x,
 * NOT of a flag or keyword test -> the inverted test, AND / OR with one
 * child -> the child, nested AND in AND (OR in OR) flattened, ALL dropped
 * from an AND with other children. New nodes come from pool. */
struct mc_imap_search_node *
mc_imap_search_simplify(struct mc_pool *pool, struct mc_imap_search_node *n);

/* A compact text form of the tree for logs and tests, e.g.
 * "(AND (FLAG \Seen) (NOT (HEADER FROM \"bob\")) (DATE INTERNAL >=
 * 2006-01-02))", allocated from pool. */
const char *mc_imap_search_dump(struct mc_pool *pool,
				const struct mc_imap_search_node *n);

#endif
