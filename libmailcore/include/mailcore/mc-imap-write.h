/* mc-imap-write: the string forms of IMAP responses (RFC 3501 / RFC 9051
 * 4.3, 9): astring, string and nstring each written in the cheapest safe
 * form (atom, quoted, literal), flag lists, and the modified UTF-7 of
 * mailbox names (RFC 3501 5.1.3). Every writer appends to an mc_buf and
 * returns false when the buffer's max was reached. */
#ifndef MC_IMAP_WRITE_H
#define MC_IMAP_WRITE_H

#include <stdbool.h>
#include <stddef.h>

struct mc_buf;

/* string: quoted when s has no CR, LF or NUL, is at most 1000 bytes and
 * has no 8-bit byte (with utf8 true, IMAP4rev2 / UTF8=ACCEPT: valid UTF-8
 * may be quoted); a literal "{n}\r\n..." otherwise. */
bool mc_imap_write_string(struct mc_buf *out, const char *s, size_t len,
			  bool utf8);
/* nstring: NIL for a NULL s, else as mc_imap_write_string. */
bool mc_imap_write_nstring(struct mc_buf *out, const char *s, size_t len,
			   bool utf8);
/* astring: a bare atom when s is non-empty, all ASTRING-CHAR and not
 * "NIL" (any case); a string otherwise. */
bool mc_imap_write_atom_or_string(struct mc_buf *out, const char *s, bool utf8);
/* "(\Seen \Answered \Flagged \Deleted \Draft kw...)" for the bits set in
 * system_flags (MC_STORE_FLAG_*: 0x01 Seen, 0x02 Answered, 0x04 Flagged,
 * 0x08 Deleted, 0x10 Draft) and the keywords; a keyword that is not an
 * atom is left out. */
bool mc_imap_write_flags(struct mc_buf *out, unsigned system_flags,
			 const char *const *keywords, size_t n);

/* UTF-8 to modified UTF-7; false (out partly written) on invalid UTF-8. */
bool mc_imap_utf7_encode(const char *utf8, struct mc_buf *out);
/* Modified UTF-7 to UTF-8, strictly: false on 8-bit or control bytes,
 * unterminated, non-minimal or adjacent shift sequences, printable ASCII
 * encoded in BASE64, bad padding or unpaired surrogates. "&-" is "&". */
bool mc_imap_utf7_decode(const char *mutf7, struct mc_buf *out);

#endif
