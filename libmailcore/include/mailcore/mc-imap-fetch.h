/* mc-imap-fetch: the data items of FETCH / UID FETCH (RFC 3501 6.4.5,
 * RFC 9051 6.4.5) with BINARY (RFC 3516), MODSEQ and the CHANGEDSINCE /
 * VANISHED modifiers (RFC 7162), read from the parser's argument tree into
 * what the server has to send: a bitmask of simple items and a list of
 * body-part requests, each with the name its response echoes. */
#ifndef MC_IMAP_FETCH_H
#define MC_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_pool;
struct mc_imap_arg;

/* Simple data items (macros expand to these). */
enum mc_imap_fetch_item {
	MC_IMAP_FETCH_FLAGS = 1 << 0,
	MC_IMAP_FETCH_INTERNALDATE = 1 << 1,
	MC_IMAP_FETCH_RFC822_SIZE = 1 << 2,
	MC_IMAP_FETCH_ENVELOPE = 1 << 3,
	MC_IMAP_FETCH_BODY = 1 << 4, /* non-extensible BODYSTRUCTURE */
	MC_IMAP_FETCH_BODYSTRUCTURE = 1 << 5,
	MC_IMAP_FETCH_UID = 1 << 6,
	MC_IMAP_FETCH_MODSEQ = 1 << 7,
};

/* What part of the (sub)message a body-part request wants. */
enum mc_imap_fetch_section {
	MC_IMAP_FETCH_SECTION_WHOLE = 1, /* BODY[], BODY[1.2], BINARY[...] */
	MC_IMAP_FETCH_SECTION_HEADER,
	MC_IMAP_FETCH_SECTION_HEADER_FIELDS,
	MC_IMAP_FETCH_SECTION_HEADER_FIELDS_NOT,
	MC_IMAP_FETCH_SECTION_TEXT,
	MC_IMAP_FETCH_SECTION_MIME,
};

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...], RFC822, RFC822.HEADER, RFC822.TEXT. */
struct mc_imap_fetch_part {
	bool peek;	  /* does not set \Seen */
	bool binary;	  /* BINARY: decode the content transfer encoding */
	bool size_only;	  /* BINARY.SIZE: send the decoded size only */
	const char *part; /* "1.2", "" for the whole message */
	enum mc_imap_fetch_section section;
	const char *const *fields; /* HEADER.FIELDS[.NOT], upper-case */
	size_t field_count;
	bool partial; /* <offset.length> given */
	uint64_t offset, length;
	/* The response item name, e.g. "BODY[HEADER.FIELDS (FROM TO)]<0>",
	 * "BINARY[1]", "RFC822.HEADER" (RFC 3501 7.4.2: the section spec is
	 * echoed, of a partial only its origin). */
	const char *name;
};

/* A parsed FETCH request. */
struct mc_imap_fetch {
	unsigned items; /* enum mc_imap_fetch_item bits */
	struct mc_imap_fetch_part *parts;
	size_t part_count;
	bool changedsince_given; /* CHANGEDSINCE (implies MODSEQ) */
	uint64_t changedsince;
	bool vanished; /* VANISHED (UID FETCH with CHANGEDSINCE only) */
};

/* Parses the arguments of FETCH after the sequence set: an item, a macro
 * (ALL FAST FULL) or a list of items, then optionally the modifier list.
 * uid_fetch is true for UID FETCH (adds UID; allows VANISHED; whether
 * QRESYNC is enabled is the caller's check). *fetch_r and everything in it
 * come from pool. False with *error_r (for a tagged BAD) otherwise. */
bool mc_imap_fetch_parse(struct mc_pool *pool, const struct mc_imap_arg *args,
			 size_t count, bool uid_fetch,
			 struct mc_imap_fetch **fetch_r, const char **error_r);

/* True when sending the request sets \Seen: BODY[...] without PEEK,
 * RFC822, RFC822.TEXT, BINARY[...] without PEEK. */
bool mc_imap_fetch_sets_seen(const struct mc_imap_fetch *fetch);

/* A compact text form for logs and tests, from pool: the simple items,
 * then per body part "name/flags/part/SECTION/FIELD,FIELD/offset.length"
 * (flags P peek, B binary, S size only), then the modifiers, e.g.
 * "FLAGS UID BODY[1]<0>/P/1/WHOLE//0.10 CHANGEDSINCE=5 VANISHED". */
const char *mc_imap_fetch_dump(struct mc_pool *pool,
			       const struct mc_imap_fetch *fetch);

#endif
