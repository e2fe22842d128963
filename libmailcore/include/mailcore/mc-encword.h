/* mc-encword: RFC 2047 encoded words ("=?charset?Q?...?=") in unstructured
 * header text and phrases: decoding to UTF-8, encoding for generated
 * headers, and the charset conversion (glibc iconv) the MIME body code
 * shares. Output always goes to a struct mc_buf (mc-str.h). */
#ifndef MC_ENCWORD_H
#define MC_ENCWORD_H

#include <stdbool.h>
#include <stddef.h>

struct mc_buf;

/* Appends len bytes of header text to out with every well-formed encoded
 * word decoded to UTF-8 (B and Q, charset names case-insensitive, RFC 2231
 * "*lang" suffixes ignored). Whitespace between adjacent encoded words is
 * dropped; malformed words and words in an unknown charset stay as they
 * are. Line breaks are unfolded; NUL/CR/LF produced by decoding become
 * blanks. Raw bytes that are not UTF-8 are read as windows-1252. False when
 * out reached its max. */
bool mc_encword_decode(const char *in, size_t len, struct mc_buf *out);

/* True when UTF-8 text must be encoded to go into a header: 8-bit or
 * control bytes, or something that looks like an encoded word. */
bool mc_encword_needed(const char *utf8, size_t len);

/* Appends utf8 for a header: as is when no encoding is needed, otherwise
 * as UTF-8 Q or B encoded words (whichever is shorter) of at most 75
 * characters, folded with "\r\n " so lines stay within 76 columns.
 * line_used is what the line already holds (e.g. 9 for "Subject: "); when
 * it leaves no room for a word, the output starts with a fold. Text that
 * needs no encoding is appended unchanged (not folded).
 * Encoded words use only characters allowed in a phrase, so the result
 * fits display names as well as unstructured fields. Invalid UTF-8 input
 * becomes U+FFFD. False when out reached its max. */
bool mc_encword_encode(const char *utf8, size_t len, size_t line_used,
		       struct mc_buf *out);

/* Appends len bytes in charset converted to UTF-8. Invalid sequences
 * become U+FFFD; "us-ascii" (and its aliases) is read as windows-1252 as
 * mail clients do. False (nothing appended) for a charset iconv does not
 * know, or when out reached its max. */
bool mc_charset_to_utf8(const char *charset, const void *in, size_t len,
			struct mc_buf *out);

/* True when iconv can convert from charset (after the aliases above). */
bool mc_charset_is_known(const char *charset);

#endif
