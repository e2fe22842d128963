/* mc-smtp-server-received: the trace header a receiving SMTP server adds
 * (RFC 5321 4.4 Time-stamp-line) with the RFC 3848 / RFC 6531 "with"
 * protocol (ESMTPSA, UTF8SMTPS...), TLS and authentication comments. The
 * library prepends nothing itself: the daemon asks for the header. */
#include "mc-smtp-server-private.h"

#include <string.h>
#include <time.h>

/* Appends s keeping printable ASCII; in comments also drops ()\ . */
static void append_safe(struct mc_buf *out, const char *s, bool comment)
{
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e || c == ';' ||
		    (comment && strchr("()\\", c) != NULL))
			continue;
		mc_buf_append_c(out, (char)c);
	}
}

/* The "for" address: in an SMTPUTF8 transaction its UTF-8 (checked by
 * the path parser) is kept, as RFC 6532 header fields allow. */
static void append_rcpt(const struct mc_smtp_server *s, struct mc_buf *out,
			const char *rcpt)
{
	if (!s->trans_utf8) {
		append_safe(out, rcpt, false);
		return;
	}
	for (const char *p = rcpt; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x80 || (c >= 0x21 && c <= 0x7e && c != ';'))
			mc_buf_append_c(out, (char)c);
	}
}

/* The "with" protocol name: SMTP, ESMTP[S][A], UTF8SMTP[S][A]. */
static void append_protocol(const struct mc_smtp_server *s, struct mc_buf *out)
{
	if (!s->ehlo) {
		mc_buf_append_str(out, "SMTP");
		return;
	}
	mc_buf_append_str(out, s->trans_utf8 ? "UTF8SMTP" : "ESMTP");
	if (s->tls)
		mc_buf_append_c(out, 'S');
	if (s->auth_user != NULL)
		mc_buf_append_c(out, 'A');
}

/* RFC 5322 date-time in UTC: "Mon, 23 Nov 2026 16:48:31 +0000". */
static void append_date(struct mc_buf *out, time_t t)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	gmtime_r(&t, &tm);
	mc_buf_printf(out, "%s, %d %s %d %02d:%02d:%02d +0000",
		      days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* From-domain = "FROM" FWS Extended-Domain, TCP-info in the comment. */
static void append_from(const struct mc_smtp_server *s,
			const struct mc_smtp_server_received_info *info,
			struct mc_buf *out)
{
	mc_buf_append_str(out, "Received: from ");
	append_safe(out, s->helo_done ? s->helo : "unknown", false);
	mc_buf_append_str(out, " (");
	if (info->rdns != NULL && *info->rdns != '\0') {
		append_safe(out, info->rdns, true);
		mc_buf_append_c(out, ' ');
	}
	mc_buf_append_str(out, info->ip != NULL && strchr(info->ip, ':')
				       ? "[IPv6:"
				       : "[");
	append_safe(out, info->ip != NULL ? info->ip : "unknown", true);
	mc_buf_append_str(out, "])\r\n");
}

/* Builds the whole header into out (appended). */
void mc_smtp_server_received_header(
	const struct mc_smtp_server *s,
	const struct mc_smtp_server_received_info *info, struct mc_buf *out)
{
	append_from(s, info, out);
	if (s->tls && info->tls_version != NULL) {
		mc_buf_append_str(out, "\t(using ");
		append_safe(out, info->tls_version, true);
		if (info->tls_cipher != NULL) {
			mc_buf_append_str(out, " with cipher ");
			append_safe(out, info->tls_cipher, true);
		}
		mc_buf_append_str(out, ")\r\n");
	}
	if (s->auth_user != NULL) {
		mc_buf_append_str(out, "\t(Authenticated sender: ");
		append_safe(out, s->auth_user, true);
		mc_buf_append_str(out, ")\r\n");
	}
	mc_buf_append_str(out, "\tby ");
	append_safe(out, s->set.hostname, false);
	mc_buf_append_str(out, " (mailcore) with ");
	append_protocol(s, out);
	if (info->id != NULL && *info->id != '\0') {
		mc_buf_append_str(out, " id ");
		append_safe(out, info->id, false);
	}
	if (info->for_rcpt != NULL) {
		mc_buf_append_str(out, "\r\n\tfor <");
		append_rcpt(s, out, info->for_rcpt);
		mc_buf_append_c(out, '>');
	}
	mc_buf_append_str(out, "; ");
	append_date(out, info->time != 0 ? info->time : time(NULL));
	mc_buf_append_str(out, "\r\n");
}
