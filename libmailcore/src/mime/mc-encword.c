/* mc-encword: RFC 2047 encoded words: decoding in unstructured text and
 * phrases, encoding for generated headers, and charset conversion to UTF-8
 * through glibc iconv. Grammar (RFC 2047 section 2, RFC 2231 section 5):
 *   encoded-word = "=?" charset ["*" language] "?" encoding "?"
 *                  encoded-text "?="
 *   encoding = "B" / "Q" (case-insensitive) */
#include "mailcore/mc-encword.h"

#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define CHARSET_MAX   64
#define LINE_MAX_COLS 76
#define WORD_MAX      75

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* windows-1252 code points of 0x80..0x9F (0 = undefined). */
static const uint16_t cp1252_high[32] = {
	0x20AC, 0,	0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,	0x017D, 0,
	0,	0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,	0x017E, 0x0178};

struct alias {
	const char *name, *iconv_name;
};

/* Names mail software uses for what iconv calls something else. */
static const struct alias aliases[] = {
	{"us-ascii", "WINDOWS-1252"},
	{"ascii", "WINDOWS-1252"},
	{"ansi_x3.4-1968", "WINDOWS-1252"},
	{"iso646-us", "WINDOWS-1252"},
	{"us", "WINDOWS-1252"},
	{"unknown-8bit", "WINDOWS-1252"},
	{"x-unknown", "WINDOWS-1252"},
	{"x-user-defined", "WINDOWS-1252"},
	{"iso-8859-1", "WINDOWS-1252"},
	{"latin1", "WINDOWS-1252"},
	{"gb2312", "GB18030"},
	{"gbk", "GB18030"},
	{"x-gbk", "GB18030"},
	{"euc-cn", "GB18030"},
	{"ks_c_5601-1987", "CP949"},
	{"ks_c_5601", "CP949"},
	{"euc-kr", "CP949"},
	{"shift_jis", "CP932"},
	{"x-sjis", "CP932"},
	{"sjis", "CP932"},
	{"iso-8859-8-i", "ISO-8859-8"},
	{"utf8", "UTF-8"},
};

/* Length of the valid UTF-8 sequence at s (0 when invalid). */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
	if (n > len)
		return 0;
	cp = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

/* Appends code point cp as UTF-8 (U+FFFD for 0). */
static bool append_cp(struct mc_buf *out, uint32_t cp)
{
	char b[3];

	if (cp == 0)
		return mc_buf_append_str(out, replacement);
	if (cp < 0x80)
		return mc_buf_append_c(out, (char)cp);
	if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		return mc_buf_append(out, b, 2);
	}
	b[0] = (char)(0xE0 | (cp >> 12));
	b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	b[2] = (char)(0x80 | (cp & 0x3F));
	return mc_buf_append(out, b, 3);
}

/* Appends bytes that should be UTF-8: valid sequences as they are, other
 * bytes as windows-1252 (cp1252) or U+FFFD. */
static bool append_utf8(struct mc_buf *out, const unsigned char *s, size_t len,
			bool cp1252)
{
	bool ok = true;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(s + i, len - i);

		if (n > 0) {
			ok &= mc_buf_append(out, s + i, n);
			i += n;
			continue;
		}
		if (!cp1252)
			ok &= mc_buf_append_str(out, replacement);
		else if (s[i] < 0xA0)
			ok &= append_cp(out, cp1252_high[s[i] - 0x80]);
		else
			ok &= append_cp(out, s[i]);
		i++;
	}
	return ok;
}

/* The iconv name for a MIME charset name (RFC 2231 "*lang" removed);
 * false when the name cannot be a charset. */
static bool charset_name(const char *charset, char name[CHARSET_MAX + 1])
{
	size_t n = strcspn(charset, "*");

	if (n == 0 || n > CHARSET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)charset[i];

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '/' || c == ',')
			return false;
		name[i] = (char)c;
	}
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcasecmp(name, aliases[i].name) == 0)
			strcpy(name, aliases[i].iconv_name);
	}
	return true;
}

/* Opens a converter to UTF-8 for a canonical name; (iconv_t)-1 if none. */
static iconv_t open_converter(const char *name)
{
	return iconv_open("UTF-8", name);
}

bool mc_charset_is_known(const char *charset)
{
	char name[CHARSET_MAX + 1];
	iconv_t cd;

	if (!charset_name(charset, name))
		return false;
	if (strcasecmp(name, "UTF-8") == 0)
		return true;
	cd = open_converter(name);
	if (cd == (iconv_t)-1)
		return false;
	iconv_close(cd);
	return true;
}

/* Runs iconv over the whole input, U+FFFD for each bad sequence. */
static bool convert(iconv_t cd, const char *in, size_t len, struct mc_buf *out)
{
	char tmp[1024], *inp = (char *)in, *outp;
	size_t inleft = len, outleft;
	bool ok = true;

	for (;;) {
		size_t ret;

		outp = tmp;
		outleft = sizeof(tmp);
		ret = iconv(cd, inleft > 0 ? &inp : NULL, &inleft, &outp,
			    &outleft);
		ok &= mc_buf_append(out, tmp, sizeof(tmp) - outleft);
		if (ret != (size_t)-1 && inleft == 0)
			return ok;
		if (ret != (size_t)-1 || errno == E2BIG)
			continue;
		ok &= mc_buf_append_str(out, replacement);
		if (errno != EILSEQ)
			return ok;
		inp++;
		inleft--;
	}
}

bool mc_charset_to_utf8(const char *charset, const void *in, size_t len,
			struct mc_buf *out)
{
	char name[CHARSET_MAX + 1];
	struct mc_buf tmp;
	iconv_t cd;
	bool ok;

	if (!charset_name(charset, name))
		return false;
	if (strcasecmp(name, "UTF-8") == 0)
		return append_utf8(out, in, len, false);
	cd = open_converter(name);
	if (cd == (iconv_t)-1)
		return false;
	mc_buf_init(&tmp, NULL, out->max);
	ok = convert(cd, in, len, &tmp);
	iconv_close(cd);
	ok = ok && mc_buf_append(out, tmp.data, tmp.len);
	mc_buf_free(&tmp);
	return ok;
}

/* A parsed encoded word; decoded bytes are in the decoder's word buffer. */
struct word {
	char charset[CHARSET_MAX + 1]; /* as written, "*lang" removed */
	char encoding;
	const char *text;
	size_t text_len;
};

struct decoder {
	struct mc_buf *out;
	struct mc_buf pending, bytes, conv;
	char pending_cs[CHARSET_MAX + 1];
	char known_cs[CHARSET_MAX + 1];
	bool ok;
};

/* Value of a hex digit, -1 if none. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Value of a base64 digit, -1 if none. */
static int b64_value(unsigned char c)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != 0 ? strchr(digits, c) : NULL;

	return p != NULL ? (int)(p - digits) : -1;
}

/* Q decoding: "_" is a blank, "=XX" a byte; a bad "=" stays literal. */
static void decode_q(const char *s, size_t len, struct mc_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = -1, lo = -1;

		if (s[i] == '=' && i + 2 < len) {
			hi = hex_value((unsigned char)s[i + 1]);
			lo = hex_value((unsigned char)s[i + 2]);
		}
		if (hi >= 0 && lo >= 0) {
			mc_buf_append_c(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			mc_buf_append_c(out, s[i] == '_' ? ' ' : s[i]);
		}
	}
}

/* B decoding; false on a character outside base64 or a bad length.
 * Missing padding is tolerated. */
static bool decode_b(const char *s, size_t len, struct mc_buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i = 0;

	for (; i < len && s[i] != '='; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mc_buf_append_c(out, (char)((acc >> bits) & 0xFF));
		}
	}
	for (; i < len; i++) {
		if (s[i] != '=')
			return false;
	}
	return bits < 6;
}

/* Parses the encoded word at s; its length, 0 when malformed. */
static size_t parse_word(const char *s, size_t len, struct word *w)
{
	size_t i = 2, cs_len = 0;

	if (len < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	for (; i < len && s[i] != '?'; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
		if (s[i] == '*' && cs_len == 0)
			cs_len = i - 2;
	}
	if (cs_len == 0)
		cs_len = i - 2;
	if (i + 3 >= len || cs_len == 0 || cs_len > CHARSET_MAX ||
	    strchr("BbQq", s[i + 1]) == NULL || s[i + 2] != '?')
		return 0;
	memcpy(w->charset, s + 2, cs_len);
	w->charset[cs_len] = '\0';
	w->encoding = (char)(s[i + 1] | 0x20);
	w->text = s + i + 3;
	for (i += 3; i + 1 < len && s[i] != '?'; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	if (i + 1 >= len || s[i] != '?' || s[i + 1] != '=')
		return 0;
	w->text_len = (size_t)(s + i - w->text);
	return i + 2;
}

/* Decodes the encoded word at s into dec->bytes; its length, 0 when it is
 * malformed or its charset unknown. */
static size_t try_word(struct decoder *dec, const char *s, size_t len,
		       struct word *w)
{
	size_t n = parse_word(s, len, w);

	if (n == 0)
		return 0;
	mc_buf_clear(&dec->bytes);
	if (w->encoding == 'q')
		decode_q(w->text, w->text_len, &dec->bytes);
	else if (!decode_b(w->text, w->text_len, &dec->bytes))
		return 0;
	if (strcasecmp(w->charset, dec->known_cs) == 0)
		return n;
	if (!mc_charset_is_known(w->charset))
		return 0;
	strcpy(dec->known_cs, w->charset);
	return n;
}

/* Converts the pending bytes to UTF-8 into out, with NUL/CR/LF blanked. */
static void flush(struct decoder *dec)
{
	if (dec->pending.len == 0)
		return;
	mc_buf_clear(&dec->conv);
	mc_charset_to_utf8(dec->pending_cs, dec->pending.data, dec->pending.len,
			   &dec->conv);
	for (size_t i = 0; i < dec->conv.len; i++) {
		char c = dec->conv.data[i];

		if (c == '\0' || c == '\r' || c == '\n')
			dec->conv.data[i] = ' ';
	}
	dec->ok &= mc_buf_append(dec->out, dec->conv.data, dec->conv.len);
	mc_buf_clear(&dec->pending);
}

/* Queues a decoded word; adjacent words of one charset are converted
 * together so characters split between them survive. */
static void add_word(struct decoder *dec, const struct word *w)
{
	if (strcasecmp(dec->pending_cs, w->charset) != 0) {
		flush(dec);
		strcpy(dec->pending_cs, w->charset);
	}
	mc_buf_append(&dec->pending, dec->bytes.data, dec->bytes.len);
}

/* Length of the raw text at s: up to the next "=?", at least 1 byte. */
static size_t raw_len(const char *s, size_t len)
{
	size_t i = 1;

	while (i < len && !(s[i] == '=' && i + 1 < len && s[i + 1] == '?'))
		i++;
	return i;
}

/* Appends raw text, unfolded, as UTF-8 (windows-1252 fallback). */
static void add_raw(struct decoder *dec, const char *s, size_t len)
{
	size_t start = 0;

	flush(dec);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
			continue;
		dec->ok &=
			append_utf8(dec->out, (const unsigned char *)s + start,
				    i - start, true);
		start = i + 1;
	}
}

/* Length of the blanks at s followed by a good encoded word (which is
 * then decoded); 0 otherwise. */
static size_t gap_before_word(struct decoder *dec, const char *s, size_t len,
			      struct word *w, size_t *word_len_r)
{
	size_t i = 0;

	while (i < len && strchr(" \t\r\n", s[i]) != NULL && s[i] != '\0')
		i++;
	if (i == 0 || i == len)
		return 0;
	*word_len_r = try_word(dec, s + i, len - i, w);
	return *word_len_r > 0 ? i : 0;
}

/* The decoding loop over the whole input. */
static void decode_all(struct decoder *dec, const char *s, size_t len)
{
	struct word w;
	bool after_word = false;
	size_t i = 0, n, gap;

	while (i < len) {
		n = try_word(dec, s + i, len - i, &w);
		gap = 0;
		if (n == 0 && after_word)
			gap = gap_before_word(dec, s + i, len - i, &w, &n);
		if (n > 0) {
			add_word(dec, &w);
			i += gap + n;
			after_word = true;
			continue;
		}
		after_word = false;
		n = raw_len(s + i, len - i);
		add_raw(dec, s + i, n);
		i += n;
	}
	flush(dec);
}

bool mc_encword_decode(const char *in, size_t len, struct mc_buf *out)
{
	struct decoder dec = {.out = out, .ok = true};

	mc_buf_init(&dec.pending, NULL, 0);
	mc_buf_init(&dec.bytes, NULL, 0);
	mc_buf_init(&dec.conv, NULL, 0);
	decode_all(&dec, in, len);
	mc_buf_free(&dec.pending);
	mc_buf_free(&dec.bytes);
	mc_buf_free(&dec.conv);
	return dec.ok;
}

bool mc_encword_needed(const char *utf8, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)utf8[i];

		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return true;
		if (c == '=' && i + 1 < len && utf8[i + 1] == '?')
			return true;
	}
	return false;
}

/* True for bytes a Q word in a phrase may carry literally (RFC 2047 5(3)). */
static bool q_literal(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!*+-/", c) != NULL;
}

/* Q-encoded length of n bytes. */
static size_t q_len(const unsigned char *s, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += q_literal(s[i]) || s[i] == ' ' ? 1 : 3;
	return total;
}

/* Encoded length of n bytes in Q or B. */
static size_t enc_len(const unsigned char *s, size_t n, bool b)
{
	return b ? (n + 2) / 3 * 4 : q_len(s, n);
}

/* Appends n bytes Q-encoded. */
static bool append_q(struct mc_buf *out, const unsigned char *s, size_t n)
{
	bool ok = true;

	for (size_t i = 0; i < n; i++) {
		if (q_literal(s[i]))
			ok &= mc_buf_append_c(out, (char)s[i]);
		else if (s[i] == ' ')
			ok &= mc_buf_append_c(out, '_');
		else
			ok &= mc_buf_printf(out, "=%02X", s[i]);
	}
	return ok;
}

/* Appends n bytes base64-encoded. */
static bool append_b(struct mc_buf *out, const unsigned char *s, size_t n)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	bool ok = true;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		char q[4];

		v |= i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0;
		v |= i + 2 < n ? s[i + 2] : 0;
		q[0] = digits[v >> 18];
		q[1] = digits[(v >> 12) & 63];
		q[2] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? digits[v & 63] : '=';
		ok &= mc_buf_append(out, q, 4);
	}
	return ok;
}

/* How many bytes (whole characters, at least one) of s fit in an encoded
 * text of at most room characters. */
static size_t chunk_len(const unsigned char *s, size_t len, bool b, size_t room)
{
	size_t n = 0;

	while (n < len) {
		size_t c = utf8_len(s + n, len - n);

		if (c == 0)
			c = 1;
		if (n > 0 && enc_len(s, n + c, b) > room)
			break;
		n += c;
	}
	return n;
}

/* Emits sanitized UTF-8 as folded encoded words. */
static bool encode_words(const unsigned char *s, size_t len, size_t used,
			 struct mc_buf *out)
{
	const size_t overhead = 12; /* "=?UTF-8?Q?" "?=" */
	bool b = enc_len(s, len, true) < enc_len(s, len, false), ok = true;
	size_t room;

	if (used + overhead + 12 > LINE_MAX_COLS && used > 0) {
		ok &= mc_buf_append_str(out, "\r\n ");
		used = 1;
	}
	while (len > 0) {
		size_t n;

		room = LINE_MAX_COLS - used;
		room = (room > WORD_MAX ? WORD_MAX : room) - overhead;
		n = chunk_len(s, len, b, room);
		ok &= mc_buf_append_str(out, b ? "=?UTF-8?B?" : "=?UTF-8?Q?");
		ok &= b ? append_b(out, s, n) : append_q(out, s, n);
		ok &= mc_buf_append_str(out, "?=");
		s += n;
		len -= n;
		if (len > 0)
			ok &= mc_buf_append_str(out, "\r\n ");
		used = 1;
	}
	return ok;
}

bool mc_encword_encode(const char *utf8, size_t len, size_t line_used,
		       struct mc_buf *out)
{
	struct mc_buf clean;
	bool ok;

	if (!mc_encword_needed(utf8, len))
		return mc_buf_append(out, utf8, len);
	mc_buf_init(&clean, NULL, 0);
	append_utf8(&clean, (const unsigned char *)utf8, len, false);
	ok = encode_words((const unsigned char *)clean.data, clean.len,
			  line_used, out);
	mc_buf_free(&clean);
	return ok;
}
