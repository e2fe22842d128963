/* mc-smtp-server-cmd: the SMTP verbs, one table entry and one function per
 * verb with the RFC 5321 (and extension) grammar above each parser, plus
 * the EHLO capability list. DATA/BDAT live in -data.c, AUTH in -auth.c. */
#include "mc-smtp-server-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-addr.h"

/* Sends the EHLO capability list from the settings (RFC 5321 4.1.1.1). */
void smtp_ehlo_reply(struct mc_smtp_server *s)
{
	const char *lines[16];
	char size[48];
	size_t n = 0;

	lines[n++] = s->set.hostname;
	if (s->set.pipelining)
		lines[n++] = "PIPELINING";
	snprintf(size, sizeof(size), "SIZE %llu",
		 (unsigned long long)s->set.max_message_size);
	lines[n++] = size;
	if (s->set.eightbitmime)
		lines[n++] = "8BITMIME";
	if (s->set.binarymime)
		lines[n++] = "BINARYMIME";
	if (s->set.smtputf8)
		lines[n++] = "SMTPUTF8";
	lines[n++] = "ENHANCEDSTATUSCODES";
	if (s->set.chunking)
		lines[n++] = "CHUNKING";
	if (s->set.dsn)
		lines[n++] = "DSN";
	if (s->set.starttls && !s->tls)
		lines[n++] = "STARTTLS";
	if (smtp_auth_offered(s))
		lines[n++] = "AUTH PLAIN LOGIN";
	if (s->set.xclient)
		lines[n++] = "XCLIENT NAME ADDR HELO";
	smtp_send_lines(s, 250, lines, n);
}

/* ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
 * helo = "HELO" SP Domain CRLF */
static void helo_common(struct mc_smtp_server *s, char *args, bool ehlo)
{
	size_t len = strlen(args);

	if (len == 0 || len >= sizeof(s->helo) || strchr(args, ' ') != NULL) {
		smtp_send(s, 501, "5.5.4",
			  ehlo ? "Syntax: EHLO hostname"
			       : "Syntax: HELO hostname");
		return;
	}
	if (!smtp_domain_valid(args, len) &&
	    !(ehlo && smtp_addr_literal_valid(args, len))) {
		smtp_send(s, 501, "5.5.4", "Invalid domain name");
		return;
	}
	memcpy(s->helo, args, len + 1);
	smtp_decide(s, ehlo ? P_EHLO : P_HELO);
}

/* EHLO: see helo_common. */
static void cmd_ehlo(struct mc_smtp_server *s, char *args)
{
	helo_common(s, args, true);
}

/* HELO: see helo_common. */
static void cmd_helo(struct mc_smtp_server *s, char *args)
{
	helo_common(s, args, false);
}

/* True for "KEY" (case-insensitive). */
static bool key_is(const char *key, const char *name)
{
	return mc_str_eq_icase(key, name);
}

/* One MAIL parameter (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
 * RFC 4954 AUTH, RFC 3461 RET/ENVID); 0 or an error code. */
static unsigned mail_param(struct mc_smtp_server *s, char *key, char *val,
			   const char **enh_r, const char **text_r)
{
	struct mc_smtp_server_mail *m = &s->mail;

	*enh_r = "5.5.4";
	*text_r = "Invalid parameter value";
	if (key_is(key, "SIZE") && val != NULL && !m->has_size) {
		if (!mc_str_to_u64(val, &m->size))
			return 501;
		m->has_size = true;
	} else if (key_is(key, "BODY") && val != NULL && s->set.eightbitmime &&
		   m->body == MC_SMTP_BODY_UNSPECIFIED) {
		if (key_is(val, "7BIT"))
			m->body = MC_SMTP_BODY_7BIT;
		else if (key_is(val, "8BITMIME"))
			m->body = MC_SMTP_BODY_8BITMIME;
		else if (key_is(val, "BINARYMIME") && s->set.binarymime)
			m->body = MC_SMTP_BODY_BINARYMIME;
		else
			return 501;
	} else if (key_is(key, "SMTPUTF8") && val == NULL && s->set.smtputf8) {
		m->smtputf8 = true;
	} else if (key_is(key, "AUTH") && val != NULL && m->auth == NULL &&
		   smtp_auth_offered(s)) {
		if ((m->auth = smtp_xtext_decode(s->trans_pool, val)) == NULL)
			return 501;
	} else if (key_is(key, "RET") && val != NULL && s->set.dsn &&
		   m->ret == MC_SMTP_RET_UNSPECIFIED) {
		if (key_is(val, "FULL"))
			m->ret = MC_SMTP_RET_FULL;
		else if (key_is(val, "HDRS"))
			m->ret = MC_SMTP_RET_HDRS;
		else
			return 501;
	} else if (key_is(key, "ENVID") && val != NULL && s->set.dsn &&
		   m->envid == NULL) {
		m->envid = smtp_xtext_decode(s->trans_pool, val);
		if (m->envid == NULL || strlen(m->envid) > 100)
			return 501;
	} else {
		*text_r = "Unsupported parameter";
		return 555;
	}
	return 0;
}

static unsigned rcpt_param(struct mc_smtp_server *s, char *key, char *val,
			   const char **enh_r, const char **text_r);

/* Parses the parameters after a path; 0 or an error code. */
static unsigned parse_params(struct mc_smtp_server *s, char *p, bool mail,
			     const char **enh_r, const char **text_r)
{
	char *key, *val;
	unsigned code;

	*enh_r = "5.5.4";
	*text_r = "Syntax error in parameters";
	if (*p != ' ' && *p != '\0')
		return 501;
	while (*p == ' ')
		p++;
	while (*p != '\0') {
		if (!smtp_esmtp_param(&p, &key, &val))
			return 501;
		code = mail ? mail_param(s, key, val, enh_r, text_r)
			    : rcpt_param(s, key, val, enh_r, text_r);
		if (code != 0)
			return code;
	}
	return 0;
}

/* Skips "FROM:" / "TO:" and an optional space; false if absent. */
static bool skip_keyword(char **p, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(*p, kw, n) != 0)
		return false;
	*p += n;
	if (**p == ' ')
		(*p)++;
	return true;
}

/* Checks a MAIL command against the session; 0 or an error sent. */
static bool mail_allowed(struct mc_smtp_server *s)
{
	if (!s->helo_done)
		smtp_send(s, 503, "5.5.1", "Send EHLO/HELO first");
	else if (s->in_trans)
		smtp_send(s, 503, "5.5.1", "Nested MAIL command");
	else if (s->set.auth_required && s->auth_user == NULL)
		smtp_send(s, 530, "5.7.0", "Authentication required");
	else if (s->transactions >= s->set.max_transactions)
		smtp_close(s, "4.7.0", "Too many transactions in this session");
	else
		return true;
	return false;
}

/* mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
 * Reverse-path = Path / "<>"; Mail-parameters = esmtp-param *(SP ...)
 * esmtp-param = esmtp-keyword ["=" esmtp-value] */
static void cmd_mail(struct mc_smtp_server *s, char *args)
{
	const char *p, *enh, *text;
	unsigned code;

	if (!mail_allowed(s))
		return;
	if (!skip_keyword(&args, "FROM:")) {
		smtp_send(s, 501, "5.5.2", "Syntax: MAIL FROM:<address>");
		return;
	}
	mc_pool_clear(s->trans_pool);
	memset(&s->mail, 0, sizeof(s->mail));
	p = args;
	code = smtp_parse_path(s->trans_pool, &p, PATH_REVERSE, &s->mail.from,
			       &enh, &text);
	if (code == 0)
		code = parse_params(s, (char *)p, true, &enh, &text);
	if (code == 0 && s->mail.from.utf8 && !s->mail.smtputf8) {
		code = 553;
		enh = "5.6.7";
		text = "Non-ASCII address requires SMTPUTF8";
	}
	if (code == 0 && s->set.max_message_size != 0 &&
	    s->mail.size > s->set.max_message_size) {
		code = 552;
		enh = "5.3.4";
		text = "Message size exceeds fixed maximum message size";
	}
	if (code != 0) {
		smtp_send(s, code, enh, text);
		return;
	}
	s->trans_utf8 = s->mail.smtputf8;
	s->bin_body = s->mail.body == MC_SMTP_BODY_BINARYMIME;
	smtp_decide(s, P_MAIL);
}

/* One RCPT parameter (RFC 3461 NOTIFY, ORCPT); 0 or an error code.
 * notify-esmtp-value = "NEVER" / 1#notify-list-element
 * orcpt-value = addr-type ";" xtext */
static unsigned rcpt_param(struct mc_smtp_server *s, char *key, char *val,
			   const char **enh_r, const char **text_r)
{
	struct mc_smtp_server_rcpt *r = &s->rcpt;

	*enh_r = "5.5.4";
	*text_r = "Invalid parameter value";
	if (key_is(key, "NOTIFY") && val != NULL && s->set.dsn &&
	    r->notify == 0) {
		size_t n;
		char **items = mc_str_split(s->cmd_pool, val, ",", &n);

		for (size_t i = 0; i < n; i++) {
			if (key_is(items[i], "NEVER"))
				r->notify |= MC_SMTP_NOTIFY_NEVER;
			else if (key_is(items[i], "SUCCESS"))
				r->notify |= MC_SMTP_NOTIFY_SUCCESS;
			else if (key_is(items[i], "FAILURE"))
				r->notify |= MC_SMTP_NOTIFY_FAILURE;
			else if (key_is(items[i], "DELAY"))
				r->notify |= MC_SMTP_NOTIFY_DELAY;
			else
				return 501;
		}
		if (n == 0 || ((r->notify & MC_SMTP_NOTIFY_NEVER) &&
			       r->notify != MC_SMTP_NOTIFY_NEVER))
			return 501;
	} else if (key_is(key, "ORCPT") && val != NULL && s->set.dsn &&
		   r->orcpt == NULL) {
		char *semi = strchr(val, ';');

		if (semi == NULL || semi == val)
			return 501;
		r->orcpt_type =
			mc_pstrndup(s->cmd_pool, val, (size_t)(semi - val));
		r->orcpt = smtp_xtext_decode(s->cmd_pool, semi + 1);
		if (r->orcpt == NULL || *r->orcpt == '\0' ||
		    strlen(r->orcpt) > 500)
			return 501;
	} else {
		*text_r = "Unsupported parameter";
		return 555;
	}
	return 0;
}

/* rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
 *        Forward-path ) [SP Rcpt-parameters] CRLF */
static void cmd_rcpt(struct mc_smtp_server *s, char *args)
{
	const char *p, *enh, *text;
	unsigned code;

	if (!s->in_trans) {
		smtp_send(s, 503, "5.5.1", "Need MAIL command first");
		return;
	}
	if (!skip_keyword(&args, "TO:")) {
		smtp_send(s, 501, "5.5.2", "Syntax: RCPT TO:<address>");
		return;
	}
	memset(&s->rcpt, 0, sizeof(s->rcpt));
	p = args;
	code = smtp_parse_path(s->cmd_pool, &p, PATH_FORWARD, &s->rcpt.to, &enh,
			       &text);
	if (code == 0)
		code = parse_params(s, (char *)p, false, &enh, &text);
	if (code == 0 && s->rcpt.to.utf8 && !s->trans_utf8) {
		code = 553;
		enh = "5.6.7";
		text = "Non-ASCII address requires SMTPUTF8";
	}
	if (code == 0 && s->rcpts >= s->set.max_recipients) {
		code = 452;
		enh = "4.5.3";
		text = "Too many recipients";
	}
	if (code != 0) {
		smtp_send(s, code, enh, text);
		return;
	}
	smtp_decide(s, P_RCPT);
}

/* rset = "RSET" CRLF */
static void cmd_rset(struct mc_smtp_server *s, char *args)
{
	if (*args != '\0') {
		smtp_send(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	if (++s->rsets > s->set.max_rsets) {
		smtp_close(s, "4.7.0", "Too many RSET commands");
		return;
	}
	smtp_trans_reset(s);
	smtp_send(s, 250, "2.0.0", "OK");
}

/* noop = "NOOP" [ SP String ] CRLF */
static void cmd_noop(struct mc_smtp_server *s, char *args)
{
	(void)args;
	smtp_send(s, 250, "2.0.0", "OK");
}

/* quit = "QUIT" CRLF */
static void cmd_quit(struct mc_smtp_server *s, char *args)
{
	char *t;

	if (*args != '\0') {
		smtp_send(s, 501, "5.5.4", "Syntax: QUIT");
		return;
	}
	t = mc_asprintf("%s closing connection", s->set.hostname);
	smtp_send(s, 221, "2.0.0", t);
	free(t);
	smtp_trans_reset(s);
	s->state = ST_CLOSED;
}

/* vrfy = "VRFY" SP String CRLF */
static void cmd_vrfy(struct mc_smtp_server *s, char *args)
{
	if (*args == '\0') {
		smtp_send(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	if (!s->set.vrfy || s->cb.vrfy == NULL) {
		smtp_send(s, 252, "2.5.0",
			  "Cannot VRFY user, but will "
			  "accept message and attempt delivery");
		return;
	}
	s->pending = P_VRFY;
	s->cb.vrfy(s->ctx, s, mc_pstrdup(s->cmd_pool, args));
}

/* help = "HELP" [ SP String ] CRLF */
static void cmd_help(struct mc_smtp_server *s, char *args)
{
	(void)args;
	smtp_send(s, 214, "2.0.0",
		  "Commands: EHLO HELO MAIL RCPT DATA BDAT "
		  "RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

/* starttls = "STARTTLS" CRLF (RFC 3207 4) */
static void cmd_starttls(struct mc_smtp_server *s, char *args)
{
	if (*args != '\0')
		smtp_send(s, 501, "5.5.4", "Syntax: STARTTLS");
	else if (!s->set.starttls || s->tls)
		smtp_send(s, 503, "5.5.1",
			  s->tls ? "TLS already active"
				 : "STARTTLS not offered");
	else
		smtp_decide(s, P_STARTTLS);
}

/* One XCLIENT attribute into s->xclient; false when it is bad. */
static bool xclient_attr(struct mc_smtp_server *s, char *key, char *val)
{
	const char *v = smtp_xtext_decode(s->cmd_pool, val);
	if (v == NULL)
		return false;
	if (strcmp(v, "[UNAVAILABLE]") == 0 || strcmp(v, "[TEMPUNAVAIL]") == 0)
		v = NULL;
	if (strcasecmp(key, "ADDR") == 0) {
		if (v != NULL && strncasecmp(v, "IPV6:", 5) == 0)
			v += 5;
		struct mc_sockaddr sa;
		char lit[80];
		snprintf(lit, sizeof(lit),
			 v != NULL && strchr(v, ':') ? "[%s]:25" : "%s:25",
			 v != NULL ? v : "");
		if (v != NULL && mc_addr_parse(lit, &sa, NULL) < 0)
			return false;
		s->xclient.addr = v;
	} else if (strcasecmp(key, "NAME") == 0) {
		s->xclient.name = v;
	} else if (strcasecmp(key, "HELO") == 0) {
		s->xclient.helo = v;
	} else if (strcasecmp(key, "PROTO") != 0 &&
		   strcasecmp(key, "PORT") != 0 &&
		   strcasecmp(key, "LOGIN") != 0) {
		return false;
	}
	return true;
}

/* xclient = "XCLIENT" 1*( SP attribute-name "=" attribute-value ) CRLF
 * (Postfix XCLIENT_README; attribute-value is xtext, or [UNAVAILABLE]) */
static void cmd_xclient(struct mc_smtp_server *s, char *args)
{
	char *p = args, *key, *val;
	if (!s->set.xclient) {
		smtp_send(s, 550, "5.7.0", "Error: insufficient authorization");
		return;
	}
	if (s->in_trans) {
		smtp_send(s, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	s->xclient = (struct mc_smtp_server_xclient){0};
	bool any = false;
	while (smtp_esmtp_param(&p, &key, &val)) {
		if (val == NULL || !xclient_attr(s, key, val)) {
			smtp_send(s, 501, "5.5.4", "Bad XCLIENT attribute");
			return;
		}
		any = true;
	}
	if (!any || *p != '\0') {
		smtp_send(s, 501, "5.5.4", "Syntax: XCLIENT attribute=value...");
		return;
	}
	smtp_decide(s, P_XCLIENT);
}

static const struct {
	const char *verb;
	void (*fn)(struct mc_smtp_server *s, char *args);
} verbs[] = {
	{"EHLO", cmd_ehlo},	 {"HELO", cmd_helo},
	{"MAIL", cmd_mail},	 {"RCPT", cmd_rcpt},
	{"DATA", smtp_cmd_data}, {"BDAT", smtp_cmd_bdat},
	{"RSET", cmd_rset},	 {"NOOP", cmd_noop},
	{"QUIT", cmd_quit},	 {"VRFY", cmd_vrfy},
	{"HELP", cmd_help},	 {"STARTTLS", cmd_starttls},
	{"AUTH", smtp_cmd_auth},	 {"XCLIENT", cmd_xclient},
};

/* Splits "VERB args" and runs the verb's handler. */
void smtp_cmd_dispatch(struct mc_smtp_server *s, char *line, size_t len)
{
	char *args = line;

	if (memchr(line, '\0', len) != NULL) {
		smtp_send(s, 500, "5.5.2", "Syntax error: NUL in command");
		return;
	}
	while (*args != '\0' && *args != ' ')
		args++;
	if (*args == ' ')
		*args++ = '\0';
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (mc_str_eq_icase(line, verbs[i].verb)) {
			verbs[i].fn(s, args);
			return;
		}
	}
	smtp_send(s, 500, "5.5.1", "Command unrecognized");
}
