/* mc-smtp-server-auth: AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms: initial responses, "*" cancel, strict base64, refusal before
 * TLS unless the client is trusted. Credentials go to the auth callback;
 * decoded secrets are zeroed as soon as it returns. */
#include "mc-smtp-server-private.h"

#include <stdlib.h>
#include <string.h>

enum { AUTH_IDLE = 0, AUTH_PLAIN_WAIT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

/* True when the AUTH extension is in effect (advertised) right now; a
 * second AUTH after success still gets 503 (RFC 4954 4). */
bool smtp_auth_offered(const struct mc_smtp_server *s)
{
	return s->set.auth && s->cb.auth != NULL &&
	       (s->tls || s->set.auth_trusted);
}

/* Forgets a half-finished exchange, zeroing the LOGIN user name. */
void smtp_auth_clear(struct mc_smtp_server *s)
{
	if (s->login_user != NULL) {
		mc_secure_zero(s->login_user, s->login_user_len);
		free(s->login_user);
		s->login_user = NULL;
	}
	s->login_user_len = 0;
	s->auth_step = AUTH_IDLE;
}

/* The value of a base64 digit, -1 if not one. */
static int b64_value(unsigned char c)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(a, c) : NULL;

	return p != NULL ? (int)(p - a) : -1;
}

/* Strict RFC 4648 decoding into a new heap buffer (NUL-terminated);
 * NULL on bad input. */
static char *b64_decode(const char *in, size_t len, size_t *n_r)
{
	char *out;
	size_t o = 0;

	if (len % 4 != 0)
		return NULL;
	out = mc_malloc(len / 4 * 3 + 1);
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;

		for (size_t k = 0; k < 4; k++) {
			v[k] = b64_value((unsigned char)in[i + k]);
			if (in[i + k] == '=' && i + 4 == len && k >= 2 &&
			    (k == 3 || in[i + 3] == '=')) {
				v[k] = 0;
				pad++;
			} else if (v[k] < 0) {
				mc_secure_zero(out, len / 4 * 3 + 1);
				free(out);
				return NULL;
			}
		}
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[o] = '\0';
	*n_r = o;
	return out;
}

/* Zeroes and frees a decoded buffer. */
static void secret_free(char *p, size_t n)
{
	if (p == NULL)
		return;
	mc_secure_zero(p, n + 1);
	free(p);
}

/* Hands credentials to the daemon; the password is zeroed afterwards by
 * the caller. */
static void auth_decide(struct mc_smtp_server *s, const char *mech,
			const char *authzid, const char *authcid,
			const char *pass, size_t pass_len)
{
	struct mc_smtp_server_auth a = {
		mech,
		mc_pstrdup(s->cmd_pool, authzid),
		mc_pstrdup(s->cmd_pool, authcid),
		pass,
		pass_len,
	};

	s->auth_step = AUTH_IDLE;
	s->auth_cand = mc_pstrdup(s->cmd_pool, authcid);
	s->pending = P_AUTH;
	s->cb.auth(s->ctx, s, &a);
}

/* message = [authzid] UTF8NUL authcid UTF8NUL passwd  (RFC 4616 2) */
static void plain_response(struct mc_smtp_server *s, char *msg, size_t n)
{
	char *nul1 = memchr(msg, '\0', n), *nul2;

	nul2 = nul1 != NULL
		       ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - msg))
		       : NULL;
	if (nul2 == NULL || nul2 == nul1 + 1 ||
	    memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - msg)) != NULL) {
		s->auth_step = AUTH_IDLE;
		smtp_send(s, 501, "5.5.2", "Invalid PLAIN response");
		return;
	}
	auth_decide(s, "PLAIN", msg, nul1 + 1, nul2 + 1,
		    n - (size_t)(nul2 + 1 - msg));
}

/* LOGIN: the user name, then the password. */
static void login_response(struct mc_smtp_server *s, char *msg, size_t n)
{
	if (memchr(msg, '\0', n) != NULL || (n == 0 && !s->login_user)) {
		smtp_auth_clear(s);
		smtp_send(s, 501, "5.5.2", "Invalid LOGIN response");
		return;
	}
	if (s->auth_step == AUTH_LOGIN_USER) {
		s->login_user = mc_strndup(msg, n);
		s->login_user_len = n;
		s->auth_step = AUTH_LOGIN_PASS;
		smtp_send(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
		return;
	}
	auth_decide(s, "LOGIN", "", s->login_user, msg, n);
	smtp_auth_clear(s);
}

/* A base64 response ("=" is empty) for the current step. */
static void auth_response(struct mc_smtp_server *s, const char *b64)
{
	size_t n = 0;
	char *msg = strcmp(b64, "=") == 0 ? mc_strdup("")
					  : b64_decode(b64, strlen(b64), &n);

	if (msg == NULL) {
		smtp_auth_clear(s);
		smtp_send(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	if (s->auth_step == AUTH_PLAIN_WAIT)
		plain_response(s, msg, n);
	else
		login_response(s, msg, n);
	secret_free(msg, n);
}

/* A continuation line: "*" cancels (RFC 4954 4). */
void smtp_auth_line(struct mc_smtp_server *s, char *line, size_t len)
{
	(void)len;
	if (strcmp(line, "*") == 0) {
		smtp_auth_clear(s);
		smtp_send(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	auth_response(s, line);
}

/* Sequence and policy checks; true when AUTH may proceed. */
static bool auth_allowed(struct mc_smtp_server *s)
{
	if (!s->set.auth || s->cb.auth == NULL)
		smtp_send(s, 502, "5.5.1", "AUTH not available");
	else if (!s->helo_done || !s->ehlo)
		smtp_send(s, 503, "5.5.1", "Send EHLO first");
	else if (s->auth_user != NULL)
		smtp_send(s, 503, "5.5.1", "Already authenticated");
	else if (s->in_trans)
		smtp_send(s, 503, "5.5.1",
			  "AUTH not allowed during a "
			  "mail transaction");
	else if (!s->tls && !s->set.auth_trusted)
		smtp_send(s, 538, "5.7.11",
			  "Encryption required for "
			  "requested authentication "
			  "mechanism");
	else
		return true;
	return false;
}

/* auth-command = "AUTH" SP sasl-mech [SP initial-response]
 *                *(CRLF [base64]) [CRLF cancel-response] CRLF
 * initial-response = base64 / "="; cancel-response = "*" */
void smtp_cmd_auth(struct mc_smtp_server *s, char *args)
{
	char *ir = strchr(args, ' ');

	if (!auth_allowed(s))
		return;
	if (ir != NULL)
		*ir++ = '\0';
	if (mc_str_eq_icase(args, "PLAIN")) {
		s->auth_step = AUTH_PLAIN_WAIT;
		if (ir == NULL)
			smtp_send(s, 334, NULL, "");
	} else if (mc_str_eq_icase(args, "LOGIN")) {
		s->auth_step = AUTH_LOGIN_USER;
		if (ir == NULL)
			smtp_send(s, 334, NULL,
				  "VXNlcm5hbWU6"); /* "Username:" */
	} else {
		smtp_send(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	if (ir != NULL)
		auth_response(s, ir);
}
