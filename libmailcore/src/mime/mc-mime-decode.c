/* mc-mime-decode: incremental Content-Transfer-Encoding decoders (RFC 2045
 * 6.7 quoted-printable, 6.8 base64) appending to the parser's dec buffer.
 * State survives any split of the input; malformed escapes pass through
 * literally, invalid base64 characters are skipped with one warning. */
#include "mc-mime-private.h"

#include <string.h>

#define QP_WS_MAX 1024

/* Value of a base64 alphabet character, -1 for anything else. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Value of a hex digit (either case), -1 otherwise. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Resets the decoder for a new leaf body. */
void mime_decode_start(struct mc_mime_parser *p, enum mc_mime_encoding enc)
{
	p->enc = enc;
	p->pending_eol = 0;
	p->b64_bits = 0;
	p->b64_count = 0;
	p->b64_warned = false;
	p->qp_hold_len = 0;
	mc_buf_clear(&p->qp_ws);
}

/* Emits the bytes of a partial base64 quantum (2 or 3 characters). */
static void b64_flush(struct mc_mime_parser *p)
{
	unsigned char out[3];
	uint32_t v = p->b64_bits << (6 * (4 - p->b64_count));

	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	if (p->b64_count >= 2)
		mc_buf_append(&p->dec, out, p->b64_count - 1);
	else if (p->b64_count == 1)
		mime_warn(p, "base64: truncated quantum");
	p->b64_bits = 0;
	p->b64_count = 0;
}

/* Decodes base64 characters; blanks and line breaks are skipped. */
static void b64_bytes(struct mc_mime_parser *p, const char *data, size_t len)
{
	unsigned char out[3];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		int v = b64_value(c);

		if (v < 0) {
			if (c == '=') {
				b64_flush(p);
			} else if (c != ' ' && c != '\t' && c != '\r' &&
				   !p->b64_warned) {
				p->b64_warned = true;
				mime_warn(p, "base64: invalid character");
			}
			continue;
		}
		p->b64_bits = (p->b64_bits << 6) | (uint32_t)v;
		if (++p->b64_count == 4) {
			out[0] = (unsigned char)(p->b64_bits >> 16);
			out[1] = (unsigned char)(p->b64_bits >> 8);
			out[2] = (unsigned char)p->b64_bits;
			mc_buf_append(&p->dec, out, 3);
			p->b64_bits = 0;
			p->b64_count = 0;
		}
	}
}

/* Writes out held whitespace: it was not trailing after all. */
static void qp_flush_ws(struct mc_mime_parser *p)
{
	if (p->qp_ws.len > 0) {
		mc_buf_append(&p->dec, p->qp_ws.data, p->qp_ws.len);
		mc_buf_clear(&p->qp_ws);
	}
}

/* Feeds one byte while an "=" or "=X" escape is held. */
static bool qp_escape_byte(struct mc_mime_parser *p, unsigned char c)
{
	int v = hex_value(c);

	if (v >= 0 && p->qp_hold_len == 1) {
		p->qp_hold[1] = (char)c;
		p->qp_hold_len = 2;
		return true;
	}
	if (v >= 0) {
		unsigned char out =
			(unsigned char)(hex_value(
						(unsigned char)p->qp_hold[1]) *
						16 +
					v);
		mc_buf_append(&p->dec, &out, 1);
		p->qp_hold_len = 0;
		return true;
	}
	/* malformed: keep the escape literally, reprocess c */
	mc_buf_append(&p->dec, p->qp_hold, p->qp_hold_len);
	p->qp_hold_len = 0;
	return false;
}

/* Decodes quoted-printable line content (no line breaks in data). */
static void qp_bytes(struct mc_mime_parser *p, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];

		if (p->qp_hold_len > 0 && qp_escape_byte(p, c))
			continue;
		if (c == ' ' || c == '\t') {
			if (p->qp_ws.len >= QP_WS_MAX)
				qp_flush_ws(p);
			mc_buf_append_c(&p->qp_ws, (char)c);
			continue;
		}
		qp_flush_ws(p);
		if (c == '=') {
			p->qp_hold[0] = '=';
			p->qp_hold_len = 1;
		} else {
			mc_buf_append(&p->dec, &c, 1);
		}
	}
}

/* Decodes body content of the current leaf into p->dec. */
void mime_decode_bytes(struct mc_mime_parser *p, const char *data, size_t len)
{
	switch (p->enc) {
	case MC_MIME_ENC_BASE64:
		b64_bytes(p, data, len);
		break;
	case MC_MIME_ENC_QP:
		qp_bytes(p, data, len);
		break;
	default:
		mc_buf_append(&p->dec, data, len);
		break;
	}
}

/* A line break inside the body: kept, except a QP soft break ("=" at the
 * end of a line); QP trailing blanks are dropped. */
void mime_decode_eol(struct mc_mime_parser *p, size_t eol_len)
{
	const char *eol = eol_len == 2 ? "\r\n" : "\n";

	if (p->enc == MC_MIME_ENC_BASE64)
		return;
	if (p->enc == MC_MIME_ENC_QP) {
		mc_buf_clear(&p->qp_ws);
		if (p->qp_hold_len == 1) {
			p->qp_hold_len = 0;
			return;
		}
		mc_buf_append(&p->dec, p->qp_hold, p->qp_hold_len);
		p->qp_hold_len = 0;
	}
	mc_buf_append(&p->dec, eol, eol_len);
}

/* End of the body: flushes what the decoder still holds. */
void mime_decode_finish(struct mc_mime_parser *p)
{
	if (p->enc == MC_MIME_ENC_BASE64) {
		b64_flush(p);
	} else if (p->enc == MC_MIME_ENC_QP) {
		mc_buf_clear(&p->qp_ws);
		if (p->qp_hold_len == 2)
			mc_buf_append(&p->dec, p->qp_hold, 2);
		p->qp_hold_len = 0;
	}
}
