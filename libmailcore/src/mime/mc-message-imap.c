/* mc-message-imap: writes the IMAP ENVELOPE, BODY and BODYSTRUCTURE values
 * (RFC 3501 7.4.2, RFC 9051 7.5.2) from the part tree, and the string
 * writer they share:
 *   nstring = string / "NIL" ; string = quoted / literal
 *   quoted  = DQUOTE *QUOTED-CHAR DQUOTE ; literal = "{" number "}" CRLF *CHAR8
 */
#include "mc-message-private.h"

#include "mailcore/mc-address.h"

#include <stdlib.h>
#include <string.h>

#define QUOTED_MAX 1000

/* One zero-length text/plain part, written where a part is required but
 * there is none (a multipart without parts, an opaque message/rfc822). */
#define EMPTY_BODY                                                             \
	"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0"
#define EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

/* True when s cannot go out as a quoted string. */
static bool needs_literal(const char *s, size_t len)
{
	if (len > QUOTED_MAX)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return true;
	}
	return false;
}

/* Appends s as a quoted string or a literal; NIL for NULL. */
void msg_imap_string(struct mc_buf *out, const char *s)
{
	size_t len;

	if (s == NULL) {
		mc_buf_append_str(out, "NIL");
		return;
	}
	len = strlen(s);
	if (needs_literal(s, len)) {
		mc_buf_printf(out, "{%zu}\r\n", len);
		mc_buf_append(out, s, len);
		return;
	}
	mc_buf_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			mc_buf_append_c(out, '\\');
		mc_buf_append_c(out, s[i]);
	}
	mc_buf_append_c(out, '"');
}

/* Appends s upper-cased (ASCII) as an IMAP string. */
static void upper_string(struct mc_buf *out, const char *s)
{
	char tmp[128], *u;
	size_t len = strlen(s);

	u = len < sizeof(tmp) ? tmp : mc_malloc(len + 1);
	for (size_t i = 0; i <= len; i++)
		u[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 32) : s[i];
	msg_imap_string(out, u);
	if (u != tmp)
		free(u);
}

/* Appends one address: (name adl mailbox host), or a group marker. */
static void write_address(struct mc_buf *out, const struct mc_address *a)
{
	if (a->is_group_start) {
		mc_buf_append_str(out, "(NIL NIL ");
		msg_imap_string(out, a->group != NULL ? a->group : "");
		mc_buf_append_str(out, " NIL)");
		return;
	}
	if (a->is_group_end) {
		mc_buf_append_str(out, "(NIL NIL NIL NIL)");
		return;
	}
	mc_buf_append_c(out, '(');
	msg_imap_string(out, a->name);
	mc_buf_append_str(out, " NIL ");
	msg_imap_string(out, a->local != NULL ? a->local : "");
	mc_buf_append_c(out, ' ');
	/* a NIL host would mark a group start: "" for a bare local part */
	msg_imap_string(out, a->domain != NULL ? a->domain : "");
	mc_buf_append_c(out, ')');
}

/* Appends an address list; false (nothing appended) when it is empty. */
static bool write_addresses(struct mc_buf *out, struct mc_pool *pool,
			    const char *raw)
{
	struct mc_address *addrs;
	size_t count;

	if (raw == NULL)
		return false;
	addrs = mc_address_parse(pool, raw, strlen(raw), 0, &count);
	if (count == 0)
		return false;
	mc_buf_append_c(out, '(');
	for (size_t i = 0; i < count; i++)
		write_address(out, &addrs[i]);
	mc_buf_append_c(out, ')');
	return true;
}

/* Appends the list of field, or of fallback when field is empty. */
static void write_env_addresses(struct mc_buf *out, struct mc_pool *pool,
				const char *field, const char *fallback)
{
	if (!write_addresses(out, pool, field) &&
	    (fallback == NULL || !write_addresses(out, pool, fallback)))
		mc_buf_append_str(out, "NIL");
}

/* envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
 *            env-reply-to SP env-to SP env-cc SP env-bcc SP
 *            env-in-reply-to SP env-message-id ")" */
void msg_imap_envelope(struct mc_buf *out, struct mc_pool *pool,
		       const struct msg_envelope *env)
{
	const char *const *f = env->field;

	mc_buf_append_c(out, '(');
	msg_imap_string(out, f[ENV_DATE]);
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, f[ENV_SUBJECT]);
	mc_buf_append_c(out, ' ');
	write_env_addresses(out, pool, f[ENV_FROM], NULL);
	mc_buf_append_c(out, ' ');
	write_env_addresses(out, pool, f[ENV_SENDER], f[ENV_FROM]);
	mc_buf_append_c(out, ' ');
	write_env_addresses(out, pool, f[ENV_REPLY_TO], f[ENV_FROM]);
	for (unsigned i = ENV_TO; i <= ENV_BCC; i++) {
		mc_buf_append_c(out, ' ');
		write_env_addresses(out, pool, f[i], NULL);
	}
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, f[ENV_IN_REPLY_TO]);
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, f[ENV_MESSAGE_ID]);
	mc_buf_append_c(out, ')');
}

/* body-fld-param = "(" string SP string *(SP string SP string) ")" / nil.
 * A text part without charset gets the RFC 2045 default first. */
static void write_params(struct mc_buf *out, const struct mc_mime_param *p,
			 unsigned count, bool add_charset)
{
	bool first = true;

	for (unsigned i = 0; i < count && add_charset; i++)
		add_charset = strcmp(p[i].name, "charset") != 0;
	if (count == 0 && !add_charset) {
		mc_buf_append_str(out, "NIL");
		return;
	}
	mc_buf_append_c(out, '(');
	if (add_charset) {
		mc_buf_append_str(out, "\"CHARSET\" \"us-ascii\"");
		first = false;
	}
	for (unsigned i = 0; i < count; i++, first = false) {
		if (!first)
			mc_buf_append_c(out, ' ');
		upper_string(out, p[i].name);
		mc_buf_append_c(out, ' ');
		msg_imap_string(out, p[i].value);
	}
	mc_buf_append_c(out, ')');
}

/* body-fld-dsp = "(" string SP body-fld-param ")" / nil */
static void write_disposition(struct mc_buf *out, const struct msg_part *p)
{
	if (p->disposition == NULL) {
		mc_buf_append_str(out, "NIL");
		return;
	}
	mc_buf_append_c(out, '(');
	upper_string(out, p->disposition);
	mc_buf_append_c(out, ' ');
	write_params(out, p->dparams, p->dparams_count, false);
	mc_buf_append_c(out, ')');
}

/* Next language tag of a Content-Language value (comments skipped) into
 * tag; false at the end. */
static bool next_language(const char **s, char *tag, size_t size)
{
	const char *p = *s;
	size_t n = 0;
	unsigned depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && (*p == ',' || *p == ' ' || *p == '\t')) {
			if (n > 0)
				break;
		} else if (depth == 0 && n + 1 < size) {
			tag[n++] = *p;
		}
	}
	tag[n] = '\0';
	*s = p;
	return n > 0;
}

/* body-fld-lang = nstring / "(" string *(SP string) ")" */
static void write_language(struct mc_buf *out, const char *value)
{
	char tag[128];
	const char *s = value;
	unsigned count = 0;

	while (value != NULL && next_language(&s, tag, sizeof(tag)))
		count++;
	if (count == 0) {
		mc_buf_append_str(out, "NIL");
		return;
	}
	if (count > 1)
		mc_buf_append_c(out, '(');
	for (s = value, count = 0; next_language(&s, tag, sizeof(tag));) {
		if (count++ > 0)
			mc_buf_append_c(out, ' ');
		msg_imap_string(out, tag);
	}
	if (count > 1)
		mc_buf_append_c(out, ')');
}

/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void write_ext_common(struct mc_buf *out, const struct msg_part *p)
{
	mc_buf_append_c(out, ' ');
	write_disposition(out, p);
	mc_buf_append_c(out, ' ');
	write_language(out, p->language);
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, p->location);
}

/* True for a part with a multipart Content-Type. */
static bool is_multipart(const struct msg_part *p)
{
	return p->has_info && strcmp(p->type, "multipart") == 0;
}

/* True for message/rfc822 and message/global. */
static bool is_message(const struct msg_part *p)
{
	return p->has_info && strcmp(p->type, "message") == 0 &&
	       (strcmp(p->subtype, "rfc822") == 0 ||
		strcmp(p->subtype, "global") == 0);
}

/* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
static void write_multipart(const struct mc_message *msg, struct mc_buf *out,
			    const struct msg_part *p, bool ext)
{
	mc_buf_append_c(out, '(');
	for (int c = p->first_child; c >= 0; c = msg->parts[c].next_sibling)
		msg_imap_body(msg, out, (unsigned)c, ext);
	if (p->first_child < 0)
		mc_buf_append_str(out, ext ? EMPTY_BODY " NIL NIL NIL NIL)"
					   : EMPTY_BODY ")");
	mc_buf_append_c(out, ' ');
	upper_string(out, p->subtype);
	if (ext) {
		mc_buf_append_c(out, ' ');
		write_params(out, p->params, p->params_count, false);
		write_ext_common(out, p);
	}
	mc_buf_append_c(out, ')');
}

/* The envelope, body and line count of a message/rfc822 part. */
static void write_message_fields(const struct mc_message *msg,
				 struct mc_buf *out, const struct msg_part *p,
				 bool ext)
{
	const struct msg_part *inner =
		p->first_child >= 0 ? &msg->parts[p->first_child] : NULL;

	mc_buf_append_c(out, ' ');
	if (inner != NULL && inner->env != NULL)
		msg_imap_envelope(out, msg->pool, inner->env);
	else
		mc_buf_append_str(out, EMPTY_ENVELOPE);
	mc_buf_append_c(out, ' ');
	if (inner != NULL)
		msg_imap_body(msg, out, (unsigned)p->first_child, ext);
	else
		mc_buf_append_str(out, ext ? EMPTY_BODY " NIL NIL NIL NIL)"
					   : EMPTY_BODY ")");
	mc_buf_printf(out, " %llu", (unsigned long long)p->body_lines);
}

/* body-type-1part = (body-type-basic / body-type-msg / body-type-text)
 *                   [SP body-ext-1part] */
static void write_single(const struct mc_message *msg, struct mc_buf *out,
			 const struct msg_part *p, bool ext)
{
	bool known = p->has_info;
	bool text = !known || strcmp(p->type, "text") == 0;

	mc_buf_append_c(out, '(');
	upper_string(out, known ? p->type : "text");
	mc_buf_append_c(out, ' ');
	upper_string(out, known ? p->subtype : "plain");
	mc_buf_append_c(out, ' ');
	write_params(out, p->params, p->params_count, text);
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, p->id);
	mc_buf_append_c(out, ' ');
	msg_imap_string(out, p->description);
	mc_buf_append_c(out, ' ');
	upper_string(out, p->encoding != NULL ? p->encoding : "7bit");
	mc_buf_printf(out, " %llu", (unsigned long long)p->body_size);
	if (text)
		mc_buf_printf(out, " %llu", (unsigned long long)p->body_lines);
	else if (is_message(p))
		write_message_fields(msg, out, p, ext);
	if (ext) {
		mc_buf_append_c(out, ' ');
		msg_imap_string(out, p->md5);
		write_ext_common(out, p);
	}
	mc_buf_append_c(out, ')');
}

/* body = "(" (body-type-1part / body-type-mpart) ")" for part idx. */
void msg_imap_body(const struct mc_message *msg, struct mc_buf *out,
		   unsigned idx, bool extended)
{
	const struct msg_part *p = &msg->parts[idx];

	if (is_multipart(p))
		write_multipart(msg, out, p, extended);
	else
		write_single(msg, out, p, extended);
}
