/* mc-smtp-server: the SMTP server state machine's core: creation, the input
 * loop (bounded buffer, line splitting, limits), reply formatting with
 * sanitised text, and pending decisions answered now or later by the
 * daemon. Verbs live in -cmd.c, DATA/BDAT in -data.c, AUTH in -auth.c. */
#include "mc-smtp-server-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Standard extensions on, TLS/AUTH/VRFY off, limits at their defaults. */
void mc_smtp_server_settings_init(struct mc_smtp_server_settings *set)
{
	memset(set, 0, sizeof(*set));
	set->pipelining = set->eightbitmime = set->binarymime = true;
	set->smtputf8 = set->chunking = set->dsn = true;
}

/* Replaces zero limits by their defaults. */
static void apply_defaults(struct mc_smtp_server_settings *set)
{
	if (set->max_line_len == 0)
		set->max_line_len = set->dsn || set->smtputf8
					    ? MC_SMTP_SERVER_DEFAULT_LINE_EXT
					    : MC_SMTP_SERVER_DEFAULT_LINE;
	if (set->max_input_buffer == 0)
		set->max_input_buffer = MC_SMTP_SERVER_DEFAULT_INPUT;
	if (set->max_recipients == 0)
		set->max_recipients = MC_SMTP_SERVER_DEFAULT_RCPTS;
	if (set->max_errors == 0)
		set->max_errors = MC_SMTP_SERVER_DEFAULT_ERRORS;
	if (set->max_transactions == 0)
		set->max_transactions = MC_SMTP_SERVER_DEFAULT_TRANSACTIONS;
	if (set->max_rsets == 0)
		set->max_rsets = MC_SMTP_SERVER_DEFAULT_RSETS;
	if (set->max_hops == 0)
		set->max_hops = MC_SMTP_SERVER_DEFAULT_HOPS;
	if (set->binarymime && !set->chunking)
		set->binarymime = false; /* RFC 3030: needs CHUNKING */
}

/* A new server in the pre-greeting state. */
struct mc_smtp_server *
mc_smtp_server_create(const struct mc_smtp_server_settings *set,
		      const struct mc_smtp_server_callbacks *callbacks,
		      void *ctx)
{
	struct mc_smtp_server *s = mc_calloc(1, sizeof(*s));

	s->pool = mc_pool_create("smtp-server", 1024);
	s->trans_pool = mc_pool_create("smtp-trans", 2048);
	s->cmd_pool = mc_pool_create("smtp-cmd", 2048);
	s->set = *set;
	s->set.hostname = mc_pstrdup(
		s->pool, set->hostname != NULL ? set->hostname : "localhost");
	s->set.greeting =
		mc_pstrdup(s->pool, set->greeting != NULL ? set->greeting
							  : "ESMTP mailcore");
	apply_defaults(&s->set);
	s->cb = *callbacks;
	s->ctx = ctx;
	s->tls = set->tls_active;
	mc_buf_init(&s->in, NULL, 0);
	return s;
}

/* Frees everything; secrets are zeroed first. */
void mc_smtp_server_destroy(struct mc_smtp_server **sp)
{
	struct mc_smtp_server *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	smtp_auth_clear(s);
	if (s->in.data != NULL)
		mc_secure_zero(s->in.data, s->in.cap);
	mc_buf_free(&s->in);
	free(s->auth_user);
	mc_pool_destroy(&s->cmd_pool);
	mc_pool_destroy(&s->trans_pool);
	mc_pool_destroy(&s->pool);
	free(s);
}

/* Appends text with control characters (CR/LF injection) made spaces. */
static void append_clean(struct mc_buf *b, const char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		mc_buf_append_c(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
}

/* Counts an error reply; past the limit the session is closed. */
static void count_error(struct mc_smtp_server *s, unsigned code)
{
	if (code < 400 || code == 421 || s->state == ST_CLOSED)
		return;
	if (++s->errors >= s->set.max_errors)
		smtp_close(s, "4.7.0", "Too many errors, closing connection");
}

/* Writes one reply line "code enh text". */
void smtp_send(struct mc_smtp_server *s, unsigned code, const char *enh,
	       const char *text)
{
	struct mc_buf b;

	if (code < 200 || code > 599)
		code = 451;
	mc_buf_init(&b, NULL, 0);
	mc_buf_printf(&b, "%03u ", code);
	if (enh != NULL && *enh != '\0') {
		append_clean(&b, enh);
		mc_buf_append_c(&b, ' ');
	}
	append_clean(&b, text != NULL ? text : "");
	mc_buf_append(&b, "\r\n", 2);
	s->cb.write(s->ctx, b.data, b.len);
	mc_buf_free(&b);
	count_error(s, code);
}

/* Writes a multi-line reply "code-line" ... "code line". */
void smtp_send_lines(struct mc_smtp_server *s, unsigned code,
		     const char *const *lines, size_t n)
{
	struct mc_buf b;

	mc_buf_init(&b, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		mc_buf_printf(&b, "%03u%c", code, i + 1 < n ? '-' : ' ');
		append_clean(&b, lines[i]);
		mc_buf_append(&b, "\r\n", 2);
	}
	s->cb.write(s->ctx, b.data, b.len);
	mc_buf_free(&b);
}

/* Sends 421 with the hostname and closes the session. */
void smtp_close(struct mc_smtp_server *s, const char *enh, const char *text)
{
	char *t;

	if (s->state == ST_CLOSED)
		return;
	t = mc_asprintf("%s %s", s->set.hostname, text);
	smtp_send(s, 421, enh, t);
	free(t);
	s->state = ST_CLOSED;
	s->pending = P_NONE;
	smtp_trans_reset(s);
}

/* Sends the banner. */
void mc_smtp_server_greet(struct mc_smtp_server *s)
{
	char *t = mc_asprintf("%s %s", s->set.hostname, s->set.greeting);

	smtp_send(s, 220, NULL, t);
	free(t);
}

/* The line limit of the current state. */
size_t smtp_line_limit(const struct mc_smtp_server *s)
{
	return s->auth_step != 0 ? MC_SMTP_SERVER_AUTH_LINE
				 : s->set.max_line_len;
}

/* Ends the transaction MAIL started, telling the daemon. */
void smtp_trans_reset(struct mc_smtp_server *s)
{
	bool was = s->in_trans;

	s->in_trans = s->trans_utf8 = s->chunking = s->bin_body = false;
	s->rcpts = 0;
	memset(&s->mail, 0, sizeof(s->mail));
	memset(&s->rcpt, 0, sizeof(s->rcpt));
	mc_pool_clear(s->trans_pool);
	if (was && s->cb.transaction_end != NULL)
		s->cb.transaction_end(s->ctx);
}

/* Back to the state before EHLO (STARTTLS, RFC 3207 4.2). */
void smtp_session_reset(struct mc_smtp_server *s)
{
	smtp_trans_reset(s);
	smtp_auth_clear(s);
	s->helo_done = s->ehlo = false;
	s->helo[0] = '\0';
}

/* Handles one complete line; it is NUL-terminated in place without its
 * line end, and zeroed afterwards when it carried AUTH data. */
static void handle_line(struct mc_smtp_server *s, char *line, size_t len)
{
	bool auth = s->auth_step != 0;
	bool secret = auth || (len > 5 && strncasecmp(line, "AUTH ", 5) == 0);

	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (auth)
		smtp_auth_line(s, line, len);
	else
		smtp_cmd_dispatch(s, line, len);
	if (secret) /* credentials must not linger in the input buffer */
		mc_secure_zero(line, len);
}

/* Reads one command line if complete; false when more input is needed. */
static bool cmd_step(struct mc_smtp_server *s)
{
	char *start = s->in.data + s->in_pos;
	size_t avail = s->in.len - s->in_pos, limit = smtp_line_limit(s);
	char *lf = memchr(start, '\n', avail);

	if (lf == NULL) {
		if (avail >= limit) {
			s->skipping_line = true;
			s->in_pos = s->in.len;
		}
		return false;
	}
	s->in_pos += (size_t)(lf - start) + 1;
	if (s->skipping_line || (size_t)(lf - start) + 1 > limit) {
		s->skipping_line = false;
		s->auth_step = 0;
		smtp_auth_clear(s);
		smtp_send(s, 500, "5.5.6", "Line too long");
		return true;
	}
	mc_pool_clear(s->cmd_pool);
	handle_line(s, start, (size_t)(lf - start));
	return true;
}

/* One step of the state machine; false when it cannot progress. */
static bool step(struct mc_smtp_server *s)
{
	switch (s->state) {
	case ST_CMD:
		return cmd_step(s);
	case ST_DATA:
		return smtp_data_step(s);
	case ST_BDAT:
		return smtp_bdat_step(s);
	case ST_TLS_WAIT:
	case ST_CLOSED:
		s->in_pos = s->in.len;
		return false;
	}
	return false;
}

/* Runs the machine until it needs input or waits for a decision. */
static void process(struct mc_smtp_server *s)
{
	if (s->in_process)
		return;
	s->in_process = true;
	while (s->pending == P_NONE &&
	       (s->in_pos < s->in.len ||
		(s->state == ST_BDAT && s->bdat_left == 0)) &&
	       step(s))
		;
	if (s->state == ST_CLOSED || s->state == ST_TLS_WAIT)
		s->in_pos = s->in.len;
	mc_buf_consume(&s->in, s->in_pos);
	s->in_pos = 0;
	s->in_process = false;
}

/* Buffers client bytes (bounded) and runs the machine. */
void mc_smtp_server_input(struct mc_smtp_server *s, const void *data,
			  size_t len)
{
	if (s->state == ST_CLOSED || s->state == ST_TLS_WAIT)
		return;
	if (s->in.len - s->in_pos + len > s->set.max_input_buffer &&
	    s->pending != P_NONE) {
		smtp_close(s, "4.7.0", "Too much pipelined input");
		return;
	}
	mc_buf_append(&s->in, data, len);
	process(s);
}

/* Invokes the decision callback of kind (NULL accepts). */
void smtp_decide(struct mc_smtp_server *s, enum smtp_pending kind)
{
	void *c = s->ctx;

	s->pending = kind;
	switch (kind) {
	case P_HELO:
	case P_EHLO: {
		struct mc_smtp_server_helo h = {
			mc_pstrdup(s->cmd_pool, s->helo), kind == P_EHLO};
		if (s->cb.helo == NULL)
			break;
		s->cb.helo(c, s, &h);
		return;
	}
	case P_MAIL:
		if (s->cb.mail == NULL)
			break;
		s->cb.mail(c, s, &s->mail);
		return;
	case P_RCPT:
		if (s->cb.rcpt == NULL)
			break;
		s->cb.rcpt(c, s, &s->rcpt);
		return;
	case P_DATA:
	case P_BDAT:
		if (s->cb.data_start == NULL)
			break;
		s->cb.data_start(c, s);
		return;
	case P_MSG_END:
		if (s->cb.message_end == NULL)
			break;
		s->cb.message_end(c, s, &s->msg);
		return;
	case P_STARTTLS:
		if (s->cb.starttls == NULL)
			break;
		s->cb.starttls(c, s);
		return;
	case P_XCLIENT:
		if (s->cb.xclient == NULL)
			break;
		s->cb.xclient(c, s, &s->xclient);
		return;
	default:
		/* P_AUTH and P_VRFY call their callbacks themselves */
		return;
	}
	mc_smtp_server_accept(s);
}

/* The EHLO/HELO answer: 2xx records the domain. */
static void helo_done(struct mc_smtp_server *s, enum smtp_pending kind,
		      unsigned code, const char *enh, const char *text)
{
	if (code / 100 != 2) {
		s->helo[0] = '\0';
		smtp_send(s, code, enh, text);
		return;
	}
	smtp_trans_reset(s);
	s->helo_done = true;
	s->ehlo = kind == P_EHLO;
	if (s->ehlo) {
		s->ever_ehlo = true;
		smtp_ehlo_reply(s);
	} else {
		char *t = mc_asprintf("%s", s->set.hostname);

		smtp_send(s, 250, NULL, t);
		free(t);
	}
}

/* The answer to MAIL, RCPT, the message, AUTH or STARTTLS. */
static void decision_done(struct mc_smtp_server *s, enum smtp_pending kind,
			  unsigned code, const char *enh, const char *text)
{
	bool ok = code / 100 == 2;

	if (kind == P_MAIL && ok) {
		s->in_trans = true;
		s->transactions++;
	} else if (kind == P_RCPT && ok) {
		s->rcpts++;
	} else if (kind == P_AUTH && ok) {
		free(s->auth_user);
		s->auth_user = mc_strdup(s->auth_cand);
	}
	if (kind == P_XCLIENT && ok) {
		smtp_session_reset(s); /* a new client: EHLO again */
		mc_smtp_server_greet(s);
		return;
	}
	smtp_send(s, code, enh, text);
	if (kind == P_MAIL && !ok)
		smtp_trans_reset(s);
	if (kind == P_MSG_END)
		smtp_trans_reset(s);
	if (kind == P_STARTTLS && code == 220 && s->state != ST_CLOSED) {
		s->state = ST_TLS_WAIT;
		s->in_pos = s->in.len; /* RFC 3207 5: no command injection */
	}
}

/* Answers the pending decision and resumes buffered input. */
void mc_smtp_server_reply(struct mc_smtp_server *s, unsigned code,
			  const char *enh, const char *text)
{
	enum smtp_pending kind = s->pending;

	if (kind == P_NONE || s->state == ST_CLOSED)
		return;
	s->pending = P_NONE;
	if (code < 200 || code > 599)
		code = 451;
	if (kind == P_HELO || kind == P_EHLO)
		helo_done(s, kind, code, enh, text);
	else if (kind == P_DATA)
		smtp_data_started(s, code, enh, text);
	else if (kind == P_BDAT)
		smtp_bdat_started(s, code, enh, text);
	else
		decision_done(s, kind, code, enh, text);
	process(s);
}

/* Default positive answers, indexed by enum smtp_pending. */
static const struct {
	unsigned code;
	const char *enh, *text;
} accept_replies[] = {
	[P_HELO] = {250, NULL, ""},
	[P_EHLO] = {250, NULL, ""},
	[P_MAIL] = {250, "2.1.0", "Sender OK"},
	[P_RCPT] = {250, "2.1.5", "Recipient OK"},
	[P_DATA] = {354, NULL, "End data with <CR><LF>.<CR><LF>"},
	[P_BDAT] = {250, "2.0.0", "OK"},
	[P_MSG_END] = {250, "2.0.0", "OK: queued"},
	[P_AUTH] = {235, "2.7.0", "Authentication successful"},
	[P_STARTTLS] = {220, "2.0.0", "Ready to start TLS"},
	[P_VRFY] = {252, "2.5.0",
		    "Cannot VRFY user, but will accept "
		    "message and attempt delivery"},
	[P_XCLIENT] = {220, NULL, ""},
};

/* The default positive answer to the pending decision. */
void mc_smtp_server_accept(struct mc_smtp_server *s)
{
	enum smtp_pending k = s->pending;

	if (k == P_NONE)
		return;
	mc_smtp_server_reply(s, accept_replies[k].code, accept_replies[k].enh,
			     accept_replies[k].text);
}

/* TLS is up: forget everything from before (RFC 3207 4.2). */
void mc_smtp_server_tls_started(struct mc_smtp_server *s)
{
	if (s->state != ST_TLS_WAIT)
		return;
	smtp_session_reset(s);
	s->tls = true;
	s->state = ST_CMD;
	mc_buf_clear(&s->in);
	s->in_pos = 0;
}

/* The daemon's command or data timer expired. */
void mc_smtp_server_timeout(struct mc_smtp_server *s)
{
	smtp_close(s, "4.4.2", "Error: timeout exceeded");
}

/* True once the daemon must flush and close. */
bool mc_smtp_server_closing(const struct mc_smtp_server *s)
{
	return s->state == ST_CLOSED;
}

/* True while a decision is outstanding. */
bool mc_smtp_server_pending(const struct mc_smtp_server *s)
{
	return s->pending != P_NONE;
}

/* True between an accepted STARTTLS and tls_started. */
bool mc_smtp_server_awaiting_tls(const struct mc_smtp_server *s)
{
	return s->state == ST_TLS_WAIT;
}

/* The authenticated user or NULL. */
const char *mc_smtp_server_auth_user(const struct mc_smtp_server *s)
{
	return s->auth_user;
}

/* The HELO/EHLO domain or NULL. */
const char *mc_smtp_server_helo_domain(const struct mc_smtp_server *s)
{
	return s->helo_done ? s->helo : NULL;
}
