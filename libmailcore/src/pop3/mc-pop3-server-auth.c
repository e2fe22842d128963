/* mc-pop3-server-auth: logging in: USER/PASS (RFC 1939 7), APOP (RFC 1939
 * 7, only when enabled) and AUTH PLAIN (RFC 5034, RFC 4616) with or
 * without an initial response, "*" cancel and strict base64. Plaintext
 * mechanisms are refused before TLS unless allowed. Credentials go to the
 * auth callback; decoded secrets are zeroed as soon as it returns. */
#include "mc-pop3-server-private.h"

#include <stdlib.h>
#include <string.h>

#define NEED_TLS                                                               \
	"Plaintext authentication is not allowed without TLS, use STLS first"

/* True when plaintext passwords may be sent now. */
bool pop3_plaintext_ok(const struct mc_pop3_server *s)
{
	return s->tls || s->set.plaintext_auth;
}

/* True when USER/PASS and AUTH PLAIN are in effect (advertised) now. */
bool pop3_auth_offered(const struct mc_pop3_server *s)
{
	return s->cb.auth != NULL && pop3_plaintext_ok(s);
}

/* Forgets the USER name and a half-finished AUTH exchange. */
void pop3_auth_clear(struct mc_pop3_server *s)
{
	if (s->user_cmd != NULL) {
		mc_secure_zero(s->user_cmd, strlen(s->user_cmd));
		free(s->user_cmd);
		s->user_cmd = NULL;
	}
	s->auth_step = AUTH_IDLE;
}

/* Policy checks shared by USER, PASS and AUTH PLAIN; sends the -ERR. */
static bool plaintext_allowed(struct mc_pop3_server *s)
{
	if (s->cb.auth == NULL) {
		pop3_err(s, MC_POP3_CODE_SYS_PERM, "Login is not available");
		return false;
	}
	if (!pop3_plaintext_ok(s)) {
		pop3_err(s, MC_POP3_CODE_NONE, NEED_TLS);
		return false;
	}
	return true;
}

/* Hands credentials to the daemon; the caller zeroes the password after
 * this returns. */
static void auth_decide(struct mc_pop3_server *s, struct mc_pop3_server_auth *a)
{
	a->authzid = mc_pstrdup(s->cmd_pool, a->authzid);
	a->user = mc_pstrdup(s->cmd_pool, a->user);
	if (a->apop_timestamp == NULL)
		a->apop_timestamp = "";
	if (a->apop_digest == NULL)
		a->apop_digest = "";
	s->auth_step = AUTH_IDLE;
	s->auth_cand = mc_pstrdup(s->cmd_pool, a->user);
	s->pending = P_AUTH;
	s->cb.auth(s->ctx, s, a);
}

/* user = "USER" SP name CRLF */
void pop3_cmd_user(struct mc_pop3_server *s, char **argv, size_t argc)
{
	(void)argc;
	pop3_auth_clear(s);
	if (!plaintext_allowed(s))
		return;
	s->user_cmd = mc_strdup(argv[0]);
	pop3_ok(s, "Send PASS");
}

/* pass = "PASS" SP string CRLF; the string may contain spaces and must
 * follow a successful USER. */
void pop3_cmd_pass(struct mc_pop3_server *s, char *args)
{
	struct mc_pop3_server_auth a = {"USER",	      "",   NULL, args,
					strlen(args), NULL, NULL};
	char *user;

	if (!plaintext_allowed(s))
		return;
	if (s->user_cmd == NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "Send USER first");
		return;
	}
	if (*args == '\0') {
		pop3_auth_clear(s);
		pop3_err(s, MC_POP3_CODE_NONE, "Syntax: PASS password");
		return;
	}
	user = mc_pstrdup(s->cmd_pool, s->user_cmd);
	pop3_auth_clear(s); /* a failed PASS needs a new USER */
	a.user = user;
	auth_decide(s, &a);
	mc_secure_zero(args, a.password_len);
}

/* True for 32 hex digits; lowercases them in place. */
static bool digest_valid(char *d)
{
	size_t n = strlen(d);

	if (n != 32 || strspn(d, "0123456789abcdefABCDEF") != n)
		return false;
	mc_str_lower(d);
	return true;
}

/* apop = "APOP" SP name SP digest CRLF, digest = MD5(timestamp password)
 * in lowercase hex; refused unless enabled (no timestamp was sent). */
void pop3_cmd_apop(struct mc_pop3_server *s, char **argv, size_t argc)
{
	struct mc_pop3_server_auth a = {"APOP", "", argv[0], "", 0, NULL, NULL};

	(void)argc;
	pop3_auth_clear(s);
	if (!s->set.apop || s->timestamp == NULL || s->cb.auth == NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "APOP is not available");
		return;
	}
	if (!digest_valid(argv[1])) {
		pop3_err(s, MC_POP3_CODE_NONE,
			 "Syntax: APOP name digest (32 hex digits)");
		return;
	}
	a.apop_timestamp = s->timestamp;
	a.apop_digest = mc_pstrdup(s->cmd_pool, argv[1]);
	auth_decide(s, &a);
}

/* The value of a base64 digit (RFC 4648 4), -1 if not one. */
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
	return c == '/' ? 63 : -1;
}

/* Decodes one 4-digit group into out; returns the bytes written or -1.
 * Padding is only allowed in the last group. */
static int b64_group(const char *in, bool last, unsigned char *out)
{
	int v[4], pad = 0;

	for (int k = 0; k < 4; k++) {
		v[k] = b64_value((unsigned char)in[k]);
		if (v[k] >= 0 && pad == 0)
			continue;
		if (in[k] != '=' || !last || k < 2)
			return -1;
		v[k] = 0;
		pad++;
	}
	out[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
	out[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
	out[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	return 3 - pad;
}

/* Strict base64 into a new heap buffer (NUL-terminated); NULL on bad
 * input. The caller zeroes and frees it. */
static char *b64_decode(const char *in, size_t len, size_t *n_r)
{
	size_t o = 0, cap = len / 4 * 3 + 1;
	char *out;

	if (len % 4 != 0)
		return NULL;
	out = mc_malloc(cap);
	for (size_t i = 0; i < len; i += 4) {
		int n = b64_group(in + i, i + 4 == len,
				  (unsigned char *)out + o);

		if (n < 0) {
			mc_secure_zero(out, cap);
			free(out);
			return NULL;
		}
		o += (size_t)n;
	}
	out[o] = '\0';
	*n_r = o;
	return out;
}

/* message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 2) */
static void plain_message(struct mc_pop3_server *s, char *msg, size_t n)
{
	char *nul1 = memchr(msg, '\0', n), *nul2 = NULL;
	struct mc_pop3_server_auth a = {"PLAIN", msg,  NULL, NULL,
					0,	 NULL, NULL};

	if (nul1 != NULL)
		nul2 = memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL || nul2 == nul1 + 1 ||
	    memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - msg)) != NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "Invalid PLAIN response");
		return;
	}
	a.user = nul1 + 1;
	a.password = nul2 + 1;
	a.password_len = n - (size_t)(nul2 + 1 - msg);
	auth_decide(s, &a);
}

/* A base64 client response ("=" is empty, RFC 5034 4). */
static void plain_response(struct mc_pop3_server *s, const char *b64)
{
	size_t n = 0;
	char *msg = strcmp(b64, "=") == 0 ? mc_strdup("")
					  : b64_decode(b64, strlen(b64), &n);

	s->auth_step = AUTH_IDLE;
	if (msg == NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "Invalid base64 data");
		return;
	}
	plain_message(s, msg, n);
	mc_secure_zero(msg, n + 1);
	free(msg);
}

/* A continuation line: "*" cancels (RFC 5034 4). */
void pop3_auth_line(struct mc_pop3_server *s, char *line)
{
	if (strcmp(line, "*") == 0) {
		pop3_auth_clear(s);
		pop3_err(s, MC_POP3_CODE_NONE, "Authentication cancelled");
		return;
	}
	plain_response(s, line);
}

/* "AUTH" alone: the mechanisms usable now, as a multi-line list. */
static void list_mechanisms(struct mc_pop3_server *s)
{
	if (pop3_auth_offered(s))
		pop3_write(s, "+OK\r\nPLAIN\r\n.\r\n", 15);
	else
		pop3_write(s, "+OK\r\n.\r\n", 8);
}

/* auth = "AUTH" SP sasl-mech [SP initial-response] CRLF
 *        *(base64 CRLF) [cancel CRLF]; initial-response = base64 / "=" */
void pop3_cmd_auth(struct mc_pop3_server *s, char **argv, size_t argc)
{
	pop3_auth_clear(s);
	if (argc == 0) {
		list_mechanisms(s);
		return;
	}
	if (!mc_str_eq_icase(argv[0], "PLAIN")) {
		pop3_err(s, MC_POP3_CODE_NONE,
			 "Unsupported authentication mechanism");
		return;
	}
	if (!plaintext_allowed(s))
		return;
	if (argc == 2) {
		plain_response(s, argv[1]);
		return;
	}
	s->auth_step = AUTH_PLAIN_WAIT;
	pop3_write(s, "+ \r\n", 4);
}
