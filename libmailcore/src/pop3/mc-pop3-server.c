/* mc-pop3-server: the POP3 server state machine's core: creation, the input
 * loop (bounded buffer, line splitting, limits), "+OK"/"-ERR" responses
 * with sanitised text and RFC 2449 response codes, and the decisions the
 * daemon answers now or later (login, STLS, UPDATE). Verbs live in -cmd.c,
 * authentication in -auth.c, RETR/TOP streaming in -data.c. */
#include "mc-pop3-server-private.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Everything off, limits at their defaults. */
void mc_pop3_server_settings_init(struct mc_pop3_server_settings *set)
{
	memset(set, 0, sizeof(*set));
}

/* Replaces zero limits by their defaults. */
static void apply_defaults(struct mc_pop3_server_settings *set)
{
	if (set->max_line_len == 0)
		set->max_line_len = MC_POP3_SERVER_DEFAULT_LINE;
	if (set->max_input_buffer == 0)
		set->max_input_buffer = MC_POP3_SERVER_DEFAULT_INPUT;
	if (set->max_errors == 0)
		set->max_errors = MC_POP3_SERVER_DEFAULT_ERRORS;
}

/* A unique "<pid.seq.time@host>" for the APOP greeting (RFC 1939 7). */
static char *make_timestamp(struct mc_pool *pool, const char *host)
{
	static atomic_ulong seq;
	unsigned long n = atomic_fetch_add(&seq, 1);

	return mc_psprintf(pool, "<%ld.%lu.%lld@%s>", (long)getpid(), n,
			   (long long)time(NULL), host);
}

/* Copies the optional strings of the settings into pool. */
static void copy_strings(struct mc_pop3_server *s,
			 const struct mc_pop3_server_settings *set)
{
	s->set.hostname = mc_pstrdup(
		s->pool, set->hostname != NULL ? set->hostname : "localhost");
	s->set.greeting = mc_pstrdup(s->pool, set->greeting != NULL
						      ? set->greeting
						      : "POP3 mailcore ready");
	if (set->implementation != NULL)
		s->set.implementation =
			mc_pstrdup(s->pool, set->implementation);
	s->set.apop_timestamp = NULL;
	if (set->apop)
		s->timestamp =
			set->apop_timestamp != NULL
				? mc_pstrdup(s->pool, set->apop_timestamp)
				: make_timestamp(s->pool, s->set.hostname);
}

/* A new server in the pre-greeting AUTHORIZATION state. */
struct mc_pop3_server *
mc_pop3_server_create(const struct mc_pop3_server_settings *set,
		      const struct mc_pop3_server_callbacks *callbacks,
		      void *ctx)
{
	struct mc_pop3_server *s = mc_calloc(1, sizeof(*s));

	s->pool = mc_pool_create("pop3-server", 1024);
	s->drop_pool = mc_pool_create("pop3-drop", 4096);
	s->cmd_pool = mc_pool_create_secure("pop3-cmd", 1024);
	s->set = *set;
	copy_strings(s, set);
	apply_defaults(&s->set);
	s->cb = *callbacks;
	s->ctx = ctx;
	s->tls = set->tls_active;
	mc_buf_init(&s->in, NULL, 0);
	return s;
}

/* Frees everything; secrets are zeroed first. */
void mc_pop3_server_destroy(struct mc_pop3_server **sp)
{
	struct mc_pop3_server *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	pop3_auth_clear(s);
	if (s->in.data != NULL)
		mc_secure_zero(s->in.data, s->in.cap);
	mc_buf_free(&s->in);
	free(s->user);
	mc_pool_destroy(&s->cmd_pool);
	mc_pool_destroy(&s->drop_pool);
	mc_pool_destroy(&s->pool);
	free(s);
}

/* Raw bytes to the client. */
void pop3_write(struct mc_pop3_server *s, const void *data, size_t len)
{
	if (len > 0)
		s->cb.write(s->ctx, data, len);
}

/* Appends text with control characters (CR/LF injection) made spaces. */
static void append_clean(struct mc_buf *b, const char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		mc_buf_append_c(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
}

/* Writes "status[ text]" CRLF. */
static void send_status(struct mc_pop3_server *s, const char *status,
			const char *code, const char *text)
{
	struct mc_buf b;

	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, status);
	if (code != NULL)
		mc_buf_printf(&b, " [%s]", code);
	if (text != NULL && *text != '\0') {
		mc_buf_append_c(&b, ' ');
		append_clean(&b, text);
	}
	mc_buf_append(&b, "\r\n", 2);
	pop3_write(s, b.data, b.len);
	mc_buf_free(&b);
}

/* Writes "+OK text". */
void pop3_ok(struct mc_pop3_server *s, const char *text)
{
	send_status(s, "+OK", NULL, text);
}

/* The bracketed name of a response code, NULL for none. */
static const char *code_name(enum mc_pop3_code code)
{
	static const char *const names[] = {
		[MC_POP3_CODE_NONE] = NULL,
		[MC_POP3_CODE_AUTH] = "AUTH",
		[MC_POP3_CODE_IN_USE] = "IN-USE",
		[MC_POP3_CODE_LOGIN_DELAY] = "LOGIN-DELAY",
		[MC_POP3_CODE_SYS_TEMP] = "SYS/TEMP",
		[MC_POP3_CODE_SYS_PERM] = "SYS/PERM",
	};

	return (unsigned)code < sizeof(names) / sizeof(names[0]) ? names[code]
								 : NULL;
}

/* Writes "-ERR [code] text"; client-caused errors count towards the
 * limit, past which the session is closed. */
void pop3_err(struct mc_pop3_server *s, enum mc_pop3_code code,
	      const char *text)
{
	send_status(s, "-ERR", code_name(code), text);
	if (code != MC_POP3_CODE_NONE && code != MC_POP3_CODE_AUTH)
		return;
	if (++s->errors >= s->set.max_errors)
		pop3_close(s, "Too many errors, closing connection");
}

/* Sends "-ERR text" (unless inside a multi-line response) and closes. */
void pop3_close(struct mc_pop3_server *s, const char *text)
{
	if (s->io == IO_CLOSED)
		return;
	if (!(s->pending == P_RETR && s->data.started) && text != NULL)
		send_status(s, "-ERR", NULL, text);
	s->io = IO_CLOSED;
	s->pending = P_NONE;
	pop3_auth_clear(s);
}

/* "+OK host POP3 server signing off[ (...)]" and the close. */
void pop3_sign_off(struct mc_pop3_server *s)
{
	size_t left = 0;
	char *t;

	for (size_t i = 0; i < s->count; i++)
		left += !s->msgs[i].deleted;
	if (s->state != MC_POP3_STATE_UPDATE)
		t = mc_asprintf("%s POP3 server signing off", s->set.hostname);
	else if (left == 0)
		t = mc_asprintf("%s POP3 server signing off (maildrop empty)",
				s->set.hostname);
	else
		t = mc_asprintf("%s POP3 server signing off (%zu message%s "
				"left)",
				s->set.hostname, left, left == 1 ? "" : "s");
	pop3_ok(s, t);
	free(t);
	pop3_close(s, NULL);
}

/* Sends the greeting, with the APOP timestamp when enabled. */
void mc_pop3_server_greet(struct mc_pop3_server *s)
{
	char *t = mc_asprintf("%s %s%s%s", s->set.hostname, s->set.greeting,
			      s->timestamp != NULL ? " " : "",
			      s->timestamp != NULL ? s->timestamp : "");

	pop3_ok(s, t);
	free(t);
}

/* The line limit of the current state. */
size_t pop3_line_limit(const struct mc_pop3_server *s)
{
	return s->auth_step != AUTH_IDLE ? MC_POP3_SERVER_AUTH_LINE
					 : s->set.max_line_len;
}

/* Handles one complete line; it is NUL-terminated in place without its
 * line end, and zeroed afterwards when it carried credentials. */
static void handle_line(struct mc_pop3_server *s, char *line, size_t len)
{
	bool auth = s->auth_step != AUTH_IDLE;
	bool secret = auth || pop3_cmd_is_secret(line, len);

	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		pop3_auth_clear(s);
		pop3_err(s, MC_POP3_CODE_NONE, "NUL byte in command line");
	} else if (auth) {
		pop3_auth_line(s, line);
	} else {
		pop3_cmd_dispatch(s, line, len);
	}
	if (secret) /* credentials must not linger in the input buffer */
		mc_secure_zero(line, len);
}

/* Reads one command line if complete; false when more input is needed. */
static bool cmd_step(struct mc_pop3_server *s)
{
	char *start = s->in.data + s->in_pos;
	size_t avail = s->in.len - s->in_pos, limit = pop3_line_limit(s);
	char *lf = memchr(start, '\n', avail);

	if (lf == NULL) {
		if (avail >= limit) {
			mc_secure_zero(start, avail);
			s->skipping_line = true;
			s->in_pos = s->in.len;
		}
		return false;
	}
	s->in_pos += (size_t)(lf - start) + 1;
	if (s->skipping_line || (size_t)(lf - start) + 1 > limit) {
		mc_secure_zero(start, (size_t)(lf - start));
		s->skipping_line = false;
		pop3_auth_clear(s);
		pop3_err(s, MC_POP3_CODE_NONE, "Line too long");
		return true;
	}
	mc_pool_clear(s->cmd_pool);
	handle_line(s, start, (size_t)(lf - start));
	return true;
}

/* Runs the machine until it needs input or waits for a decision. */
static void process(struct mc_pop3_server *s)
{
	if (s->in_process)
		return;
	s->in_process = true;
	while (s->pending == P_NONE && s->io == IO_CMD &&
	       s->in_pos < s->in.len && cmd_step(s))
		;
	if (s->io != IO_CMD)
		s->in_pos = s->in.len;
	mc_buf_consume(&s->in, s->in_pos);
	s->in_pos = 0;
	s->in_process = false;
}

/* Buffers client bytes (bounded while a decision is pending) and runs the
 * machine. */
void mc_pop3_server_input(struct mc_pop3_server *s, const void *data,
			  size_t len)
{
	if (s->io != IO_CMD)
		return;
	if (s->pending != P_NONE &&
	    s->in.len - s->in_pos + len > s->set.max_input_buffer) {
		pop3_close(s, "Too much pipelined input, closing connection");
		return;
	}
	mc_buf_append(&s->in, data, len);
	process(s);
}

/* True when kind is the pending decision; clears it. */
bool pop3_take_pending(struct mc_pop3_server *s, enum pop3_pending kind)
{
	if (s->pending != kind || s->io == IO_CLOSED)
		return false;
	s->pending = P_NONE;
	return true;
}

/* True when uid is 1..70 characters in 0x21..0x7E (RFC 1939 7). */
static bool uid_valid(const char *uid)
{
	size_t n = 0;

	if (uid == NULL)
		return false;
	for (; uid[n] != '\0'; n++)
		if ((unsigned char)uid[n] < 0x21 ||
		    (unsigned char)uid[n] > 0x7e)
			return false;
	return n >= 1 && n <= MC_POP3_SERVER_UID_MAX;
}

/* True when every uid of drop is valid. */
static bool drop_valid(const struct mc_pop3_maildrop *drop)
{
	if (drop->count > 0 && drop->messages == NULL)
		return false;
	for (size_t i = 0; i < drop->count; i++)
		if (!uid_valid(drop->messages[i].uid))
			return false;
	return true;
}

/* Copies the maildrop into drop_pool. */
static void copy_drop(struct mc_pop3_server *s,
		      const struct mc_pop3_maildrop *drop)
{
	mc_pool_clear(s->drop_pool);
	s->count = drop->count;
	s->msgs = mc_palloc_array(s->drop_pool, drop->count + 1,
				  sizeof(*s->msgs));
	for (size_t i = 0; i < drop->count; i++) {
		s->msgs[i].size = drop->messages[i].size;
		s->msgs[i].uid =
			mc_pstrdup(s->drop_pool, drop->messages[i].uid);
	}
}

/* Runs buffered input after an answer given outside the input call. */
void pop3_resume(struct mc_pop3_server *s)
{
	process(s);
}

/* auth answered yes: TRANSACTION with the maildrop. */
bool mc_pop3_server_login_ok(struct mc_pop3_server *s,
			     const struct mc_pop3_maildrop *drop)
{
	uint64_t octets = 0;
	char *t;

	if (!pop3_take_pending(s, P_AUTH))
		return false;
	if (drop == NULL || !drop_valid(drop)) {
		pop3_err(s, MC_POP3_CODE_SYS_PERM, "Maildrop cannot be listed");
		pop3_resume(s);
		return false;
	}
	copy_drop(s, drop);
	for (size_t i = 0; i < s->count; i++)
		octets += s->msgs[i].size;
	free(s->user);
	s->user = mc_strdup(s->auth_cand != NULL ? s->auth_cand : "");
	s->state = MC_POP3_STATE_TRANSACTION;
	t = mc_asprintf("Logged in, %zu message%s (%llu octets)", s->count,
			s->count == 1 ? "" : "s", (unsigned long long)octets);
	pop3_ok(s, t);
	free(t);
	pop3_resume(s);
	return true;
}

/* auth answered no, with the reason's response code. */
void mc_pop3_server_login_fail(struct mc_pop3_server *s, enum mc_pop3_code code)
{
	mc_pop3_server_login_fail_text(s, code, NULL);
}

/* auth answered no, with the code and the daemon's text (or ours). */
void mc_pop3_server_login_fail_text(struct mc_pop3_server *s,
				    enum mc_pop3_code code, const char *text)
{
	static const char *const texts[] = {
		[MC_POP3_CODE_NONE] = "Authentication failed",
		[MC_POP3_CODE_AUTH] = "Authentication failed",
		[MC_POP3_CODE_IN_USE] = "Maildrop is locked by another session",
		[MC_POP3_CODE_LOGIN_DELAY] = "Too soon since the last login",
		[MC_POP3_CODE_SYS_TEMP] = "Temporary system failure, try later",
		[MC_POP3_CODE_SYS_PERM] = "Maildrop unavailable",
	};

	if (!pop3_take_pending(s, P_AUTH))
		return;
	if ((unsigned)code >= sizeof(texts) / sizeof(texts[0]) ||
	    code == MC_POP3_CODE_NONE)
		code = MC_POP3_CODE_AUTH;
	pop3_err(s, code, text != NULL ? text : texts[code]);
	pop3_resume(s);
}

/* stls answered yes: wait for the handshake, dropping pipelined input
 * (RFC 2595 4: no command injection). */
void mc_pop3_server_stls_ok(struct mc_pop3_server *s)
{
	if (!pop3_take_pending(s, P_STLS))
		return;
	pop3_ok(s, "Begin TLS negotiation");
	if (s->io == IO_CMD)
		s->io = IO_TLS_WAIT;
	s->in_pos = s->in.len;
	pop3_resume(s);
}

/* stls answered no. */
void mc_pop3_server_stls_fail(struct mc_pop3_server *s)
{
	if (!pop3_take_pending(s, P_STLS))
		return;
	pop3_err(s, MC_POP3_CODE_SYS_TEMP, "TLS not available right now");
	pop3_resume(s);
}

/* TLS is up: a fresh AUTHORIZATION state. */
void mc_pop3_server_tls_started(struct mc_pop3_server *s)
{
	if (s->io != IO_TLS_WAIT)
		return;
	pop3_auth_clear(s);
	s->tls = true;
	s->io = IO_CMD;
	mc_buf_clear(&s->in);
	s->in_pos = 0;
}

/* update answered yes: the deleted messages are gone. */
void mc_pop3_server_update_ok(struct mc_pop3_server *s)
{
	if (!pop3_take_pending(s, P_UPDATE))
		return;
	pop3_sign_off(s);
}

/* update answered no: nothing was removed (RFC 1939 6). */
void mc_pop3_server_update_fail(struct mc_pop3_server *s, const char *text)
{
	if (!pop3_take_pending(s, P_UPDATE))
		return;
	send_status(s, "-ERR", "SYS/TEMP",
		    text != NULL ? text
				 : "Deleted messages could not be removed; "
				   "none were removed");
	pop3_close(s, NULL);
}

/* The daemon's inactivity timer expired. */
void mc_pop3_server_timeout(struct mc_pop3_server *s)
{
	pop3_close(s, "Disconnected: inactivity timeout");
}

/* True once the daemon must flush and close. */
bool mc_pop3_server_closing(const struct mc_pop3_server *s)
{
	return s->io == IO_CLOSED;
}

/* True while a decision is outstanding. */
bool mc_pop3_server_pending(const struct mc_pop3_server *s)
{
	return s->pending != P_NONE;
}

/* True between an accepted STLS and tls_started. */
bool mc_pop3_server_awaiting_tls(const struct mc_pop3_server *s)
{
	return s->io == IO_TLS_WAIT;
}

/* The RFC 1939 state. */
enum mc_pop3_state mc_pop3_server_state(const struct mc_pop3_server *s)
{
	return s->state;
}

/* The logged-in user or NULL. */
const char *mc_pop3_server_user(const struct mc_pop3_server *s)
{
	return s->user;
}

/* The APOP greeting timestamp or NULL. */
const char *mc_pop3_server_apop_timestamp(const struct mc_pop3_server *s)
{
	return s->timestamp;
}
