/* cmd-fetch: what cmd-fetch.c (the command: batches of UIDs, worker jobs,
 * \Seen, CHANGEDSINCE / VANISHED, back-pressure) and cmd-fetch-body.c
 * (one message's response as a list of segments: text, raw byte ranges
 * of the blob, content-transfer-decoded BINARY sections) share. */
#ifndef CMD_FETCH_H
#define CMD_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd.h"
#include "mailcore/mc-imap-fetch.h"
#include "mailcore/mc-message.h"

/* Appended to the output per job before it goes back to the loop. */
#define FETCH_CHUNK (256 * 1024)

enum fetch_seg_kind {
	FETCH_SEG_TEXT = 1, /* text[0..len) */
	FETCH_SEG_RANGE,    /* the blob's bytes [offset, offset + len) */
	FETCH_SEG_DECODE,   /* decoded bytes [offset, offset + len) of part */
};

/* A piece of one message's response. */
struct fetch_seg {
	enum fetch_seg_kind kind;
	const char *text;
	uint64_t offset, len;
	struct mc_message_part part;
};

struct fetch_decoder;

/* One message's response while it is built (in a worker) and sent, maybe
 * over several jobs. */
struct fetch_msg {
	struct mc_pool *pool; /* the message's: segments and texts */
	struct mc_blob_store *blobs;
	const char *sha256;
	struct mc_blob_reader *blob; /* opened at the first body section */
	struct mc_buf text;	     /* text not yet made a segment */
	struct fetch_seg *segs;
	size_t count, cap;
	size_t i;     /* the segment being sent */
	uint64_t pos; /* bytes of it sent */
	struct fetch_decoder *dec;
	char *piece; /* read buffer of raw ranges */
	bool built;
};

/* Results of fetch_msg_part() besides 0. */
#define FETCH_ERR	  (-1) /* err set */
#define FETCH_UNKNOWN_CTE (-2) /* BINARY of an unknown encoding */

/* Starts a message (fm zeroed or reset before); sha256 may be NULL when
 * no body section is asked for. */
void fetch_msg_begin(struct fetch_msg *fm, struct mc_blob_store *blobs,
		     const char *sha256);
/* Frees what the message holds; fm can begin again after. */
void fetch_msg_reset(struct fetch_msg *fm);
/* Appends text to the response. */
void fetch_msg_text(struct fetch_msg *fm, const void *data, size_t len);
void fetch_msg_printf(struct fetch_msg *fm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends one body section "NAME value" for the message whose part map
 * is parts: 0, FETCH_ERR or FETCH_UNKNOWN_CTE. */
int fetch_msg_part(struct fetch_msg *fm, const char *parts,
		   const struct mc_imap_fetch_part *fp, struct mc_error *err);
/* Ends the building (the pending text becomes the last segment). */
void fetch_msg_built(struct fetch_msg *fm);
/* Appends the response to out until out reaches FETCH_CHUNK: 1 when all
 * of it is out, 0 when out is full. */
int fetch_msg_emit(struct fetch_msg *fm, struct mc_buf *out);

/* HEADER.FIELDS / HEADER.FIELDS.NOT: the fields of header (a raw header
 * block) named (or, with not, not named) in fields, upper-case names,
 * with their continuation lines, then the blank line. */
void fetch_header_fields(const char *header, size_t len,
			 const char *const *fields, size_t n, bool not,
			 struct mc_buf *out);

#endif
