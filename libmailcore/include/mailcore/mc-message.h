/* mc-message: one streaming pass over a whole message (through mc-mime)
 * collecting what the message store keeps so IMAP never has to reparse:
 * the IMAP ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 / RFC 9051 7.5.2),
 * a part map locating every section's header and body in the raw bytes,
 * decoded header fields, SORT keys (RFC 5256), and searchable UTF-8 text.
 * Malformed input degrades to a best-effort result; it never fails. */
#ifndef MC_MESSAGE_H
#define MC_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mc-mime.h"

struct mc_message;

struct mc_message_settings {
	struct mc_mime_settings mime; /* parser limits (0 = defaults) */
	size_t max_text; /* searchable text kept, in bytes [256 KiB] */
};

/* What mc_message_finish() produced. Every string is NUL-terminated and
 * owned by the struct mc_message; "" when absent unless said otherwise.
 *
 * envelope, body and bodystructure are complete IMAP values ready to be
 * sent after "ENVELOPE ", "BODY " or "BODYSTRUCTURE ": parenthesised lists
 * of NIL, numbers, quoted strings, and literals ({n}CRLF + n octets) for
 * values a quoted string cannot carry (8-bit, CR, LF, NUL, over 1000
 * octets). ENVELOPE strings are the raw header values (encoded words kept,
 * as RFC 3501 asks); Sender and Reply-To default to From. BODYSTRUCTURE
 * has the extension data (MD5, disposition, language, location); BODY
 * does not. Types and subtypes are upper-case quoted strings, parameter
 * names upper-case, as most servers send them.
 *
 * parts is the part map read by mc_message_part_find(); its format is
 * private to this module (store it as text, hand it back unchanged). */
struct mc_message_info {
	const char *envelope, *body, *bodystructure;
	const char *parts;
	/* Decoded to UTF-8 (RFC 2047, charsets through iconv), unfolded. */
	const char *subject;
	const char *from, *to, *cc; /* "Name <a@b>, c@d" display lists */
	/* Raw, trimmed. */
	const char *message_id, *in_reply_to, *references;
	/* SORT keys: RFC 5256 base subject (UTF-8, upper-cased ASCII
	 * letters... as the RFC's i;unicode-casemap would compare them:
	 * lower-case UTF-8 here); addr-mailbox of the first From, To and Cc
	 * address, lower-cased. */
	const char *base_subject, *sort_from, *sort_to, *sort_cc;
	bool has_date; /* a parseable Date: header */
	time_t date;   /* its instant (UTC) */
	int date_tz;   /* its zone, minutes east of UTC */
	/* Searchable text: subject, addresses, attachment file names and
	 * the decoded text parts (HTML tags dropped), UTF-8, separated by
	 * newlines, cut at max_text. May be empty. */
	const char *text;
	size_t text_len;
	uint64_t size;	      /* octets fed */
	unsigned parts_count; /* MIME parts, the message itself included */
	bool has_attachments; /* a part with a file name or attachment
				 disposition */
	unsigned warnings;    /* malformed-input warnings from mc-mime */
};

/* A new collector; set may be NULL for the defaults. */
struct mc_message *mc_message_create(const struct mc_message_settings *set);
/* Frees it; accepts NULL and clears *msg. */
void mc_message_destroy(struct mc_message **msg);

/* Pushes raw message bytes (as stored: CRLF or LF line ends), split
 * anywhere. data is consumed before the call returns. */
void mc_message_feed(struct mc_message *msg, const void *data, size_t len);
/* Ends the input and builds the result; valid until destroy. Calling it
 * twice returns the same result. */
const struct mc_message_info *mc_message_finish(struct mc_message *msg);

/* Where one section's pieces are in the raw message. */
struct mc_message_part {
	uint64_t header_offset, header_size; /* header block incl. the
						blank line */
	uint64_t body_offset, body_size;
	/* For a message/rfc822 part: its encapsulated message's header
	 * (the section's HEADER / TEXT refer to it); else equal to the
	 * part's own header. */
	uint64_t msg_header_offset, msg_header_size;
	uint64_t msg_body_offset, msg_body_size;
	bool is_message; /* message/rfc822 (or global) */
	bool is_multipart;
};

/* Looks up an IMAP section part number ("" = the whole message, "1",
 * "2.1.3") in a part map from mc_message_info.parts, following the rules
 * of RFC 3501 6.4.5: in a non-multipart message "1" is the body; the
 * parts of a message/rfc822 part are numbered as its encapsulated
 * message's. Returns false when the section does not exist. */
bool mc_message_part_find(const char *parts, const char *section,
			  struct mc_message_part *part_r);

#endif
