/* mc-mime: incremental RFC 5322 / MIME (RFC 2045-2047, 2231) message
 * parser. Push bytes with mc_mime_parser_feed(), pull events with
 * mc_mime_parser_next(): part begin, each header, the parsed Content-*
 * headers, decoded body bytes, part end with sizes (for IMAP BODYSTRUCTURE)
 * and warnings for malformed input. Never fails: broken input gives a
 * best-effort structure plus WARNING events. Memory stays bounded by one
 * line plus one header block, whatever the message size. */
#ifndef MC_MIME_H
#define MC_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_mime_parser;

/* Hard limits; 0 selects the default given in brackets. */
struct mc_mime_settings {
	size_t max_header_bytes; /* header block bytes per part [64 KiB] */
	unsigned max_headers;	 /* header fields per part [1000] */
	unsigned max_depth;	 /* parts nest at most this deep [20] */
	unsigned max_parts;	 /* parts per message [1000] */
	size_t max_line_length;	 /* physical line bytes [16 KiB], >= 256 */
};

enum mc_mime_event_type {
	MC_MIME_EV_PART_BEGIN = 1,
	MC_MIME_EV_HEADER,
	MC_MIME_EV_HEADERS_END,
	MC_MIME_EV_BODY,
	MC_MIME_EV_PART_END,
	MC_MIME_EV_WARNING,
};

enum mc_mime_encoding {
	MC_MIME_ENC_7BIT = 0,
	MC_MIME_ENC_8BIT,
	MC_MIME_ENC_BINARY,
	MC_MIME_ENC_BASE64,
	MC_MIME_ENC_QP,
	MC_MIME_ENC_UNKNOWN, /* passed through undecoded */
};

/* A parameter: lower-case name, value decoded (RFC 2231 sections joined,
 * %XX decoded and converted to UTF-8 when the charset is known). */
struct mc_mime_param {
	const char *name;
	const char *value;
};

/* The Content-* headers of a part, with defaults applied. Absent strings
 * are NULL. type/subtype/disposition/encoding_name are lower-case. */
struct mc_mime_part_info {
	const char *type, *subtype;
	const struct mc_mime_param *params;
	unsigned params_count;
	const char *boundary, *charset, *name; /* shortcuts into params */
	enum mc_mime_encoding encoding;
	const char *encoding_name;
	const char *disposition;
	const struct mc_mime_param *disposition_params;
	unsigned disposition_params_count;
	const char *filename;
	const char *id, *description, *language, *location, *md5;
	bool type_defaulted; /* no usable Content-Type header */
	uint64_t header_offset, header_size, body_offset;
};

/* An event. Every pointer in it stays valid until the next call of
 * mc_mime_parser_next() or mc_mime_parser_destroy(). Parts are numbered
 * 0 (the message), 1, 2... in the order they begin; parent is -1 for the
 * message. Offsets count bytes from the start of the input. */
struct mc_mime_event {
	enum mc_mime_event_type type;
	unsigned part;
	unsigned depth;
	int parent;
	union {
		/* PART_BEGIN: where its header block starts. */
		struct {
			uint64_t offset;
		} begin;
		/* HEADER: name as written (NUL-terminated), value unfolded
		 * (line breaks removed, outer blanks trimmed, 8-bit bytes
		 * kept, value[value_len] is NUL); [offset, end_offset) is the
		 * raw field including its final line break. */
		struct {
			const char *name;
			const char *value;
			size_t value_len;
			uint64_t offset, end_offset;
		} header;
		/* HEADERS_END: the parsed Content-* headers. */
		struct {
			const struct mc_mime_part_info *info;
		} headers_end;
		/* BODY: decoded bytes of a leaf part (may contain NULs). */
		struct {
			const unsigned char *data;
			size_t size;
		} body;
		/* PART_END: raw body size (bytes as on input, the line break
		 * before a boundary excluded), vsize (bare LFs counted as
		 * CRLF) and lines (line breaks, plus one for an unterminated
		 * last line). */
		struct {
			uint64_t header_size, body_offset;
			uint64_t body_size, body_vsize, body_lines;
		} end;
		/* WARNING: what was wrong, at which input offset. */
		struct {
			const char *text;
			uint64_t offset;
		} warning;
	} u;
};

/* A new parser; set may be NULL for the defaults. Free with destroy. */
struct mc_mime_parser *mc_mime_parser_create(const struct mc_mime_settings *s);
/* Frees the parser; accepts NULL and clears *parser. */
void mc_mime_parser_destroy(struct mc_mime_parser **parser);

/* Pushes input, split anywhere. data is not copied: it must stay valid
 * until mc_mime_parser_next() has returned 0 or -1 (everything consumed).
 * Feeding again before that is allowed but copies the unconsumed rest. */
void mc_mime_parser_feed(struct mc_mime_parser *parser, const void *data,
			 size_t len);
/* Marks the end of input: the pending partial line and all open parts
 * are then completed. No feed after this. */
void mc_mime_parser_finish(struct mc_mime_parser *parser);
/* 1: *ev_r holds an event; 0: more input is needed; -1: finished and
 * every event has been returned. */
int mc_mime_parser_next(struct mc_mime_parser *parser,
			struct mc_mime_event *ev_r);

/* "7bit", "base64"... for logs and BODYSTRUCTURE. */
const char *mc_mime_encoding_name(enum mc_mime_encoding enc);

#endif
