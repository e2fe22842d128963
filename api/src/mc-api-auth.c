/* mc-api-auth: who is asking. "Authorization: Bearer mct_..." goes to
 * mc_admin_token_authenticate(); otherwise the mc_session cookie names a
 * web session in Redis (8 h idle), whose unsafe requests must carry its
 * X-CSRF-Token. POST /api/v1/sessions logs in with address and password
 * (throttled like the mail daemons), DELETE /api/v1/sessions/current
 * logs out. Tokens, passwords and cookies are never logged. */
#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mc-api-private.h"

#define SESSION_KEY  "mc:sess:"
#define SECRET_BYTES 32
#define SECRET_LEN   43 /* base64url of 32 bytes, unpadded */
#define COOKIE_ATTRS "Secure; HttpOnly; SameSite=Strict; Path=/"

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A new random secret: 43 base64url characters and the NUL. */
static void random_secret(char out[SECRET_LEN + 1])
{
	unsigned char raw[SECRET_BYTES + 1] = {0};
	if (RAND_bytes(raw, SECRET_BYTES) != 1)
		abort(); /* no entropy: nothing safe to do */
	size_t o = 0;
	for (size_t i = 0; i < SECRET_BYTES; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 |
			     (unsigned)raw[i + 1] << 8 |
			     (i + 2 < SECRET_BYTES ? raw[i + 2] : 0);
		for (int k = 18; k >= 0 && o < SECRET_LEN; k -= 6)
			out[o++] = b64url[(v >> k) & 63];
	}
	out[SECRET_LEN] = '\0';
	mc_secure_zero(raw, sizeof(raw));
}

/* The Redis key of a session id: its SHA-256, so a Redis dump holds no
 * usable cookie. */
static void session_key(const char *sid, char *key, size_t size)
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(sid, strlen(sid), md, &len, EVP_sha256(), NULL);
	size_t o = (size_t)snprintf(key, size, "%s", SESSION_KEY);
	for (unsigned i = 0; i < len && o + 2 < size; i++, o += 2)
		snprintf(key + o, size - o, "%02x", md[i]);
}

/* Drops a Redis key, best effort. */
static void redis_del(struct mc_redis *redis, const char *key)
{
	redisReply *r = mc_redis_command(redis, NULL, "DEL %s", key);
	if (r != NULL)
		freeReplyObject(r);
}

/* What every authenticated actor carries from the request. */
static void finish_actor(struct mc_api_req *req, enum mc_api_auth how)
{
	req->auth = how;
	snprintf(req->actor.client_ip, sizeof(req->actor.client_ip), "%s",
		 req->client_ip);
	snprintf(req->actor.request_id, sizeof(req->actor.request_id), "%s",
		 req->request_id);
	if (how == MC_API_AUTH_TOKEN)
		snprintf(req->principal, sizeof(req->principal), "token:%lld",
			 (long long)req->actor.token_id);
	else if (req->actor.binding_id != 0)
		snprintf(req->principal, sizeof(req->principal), "binding:%lld",
			 (long long)req->actor.binding_id);
	else
		snprintf(req->principal, sizeof(req->principal), "user:%lld",
			 (long long)req->actor.user_id);
}

/* 401 or 503 for a failed credential check (the reason goes to the log). */
static int auth_failed(struct mc_api_req *req, const struct mc_error *err,
		       const char *detail)
{
	if (err->cls == MC_ERR_TEMPORARY) {
		mc_log_warning("http: authentication unavailable: %s",
			       err->msg);
		mc_api_send_problem(req, "unavailable",
				    "authentication is unavailable; retry",
				    NULL);
	} else {
		mc_log_notice("http: authentication refused ip=%s "
			      "request_id=%s: %s",
			      req->client_ip, req->request_id, err->msg);
		mc_api_send_problem(req, "unauthorized", detail, NULL);
	}
	return -1;
}

/* Authorization: Bearer <token>. */
static int token_auth(struct mc_api_req *req, const char *value)
{
	struct mc_error err = {0};
	if (strncasecmp(value, "Bearer ", 7) != 0) {
		mc_api_send_problem(req, "unauthorized",
				    "use Authorization: Bearer <token>", NULL);
		return -1;
	}
	value += 7;
	while (*value == ' ')
		value++;
	if (mc_admin_token_authenticate(req->th->pg, value, req->client_ip,
					&req->actor, &err) < 0)
		return auth_failed(req, &err, "the token is not valid");
	finish_actor(req, MC_API_AUTH_TOKEN);
	return 0;
}

/* The session stored under req->session_key, or NULL (401/503 sent). */
static json_t *session_load(struct mc_api_req *req)
{
	struct mc_error err = {0};
	redisReply *r = mc_redis_command(req->th->redis, &err, "GET %s",
					 req->session_key);
	json_t *s = NULL;
	if (r == NULL) {
		auth_failed(req, &err, NULL);
		return NULL;
	}
	if (r->type == REDIS_REPLY_STRING)
		s = json_loadb(r->str, r->len, 0, NULL);
	freeReplyObject(r);
	if (!json_is_object(s)) {
		json_decref(s);
		mc_api_send_problem(req, "unauthorized",
				    "the session has ended; log in again",
				    NULL);
	}
	return s;
}

/* Unsafe methods need the session's X-CSRF-Token. */
static bool csrf_ok(struct mc_api_req *req, const json_t *s)
{
	const char *m = req->method;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "OPTIONS") == 0)
		return true;
	const char *want = json_string_value(json_object_get(s, "csrf"));
	const char *got = mc_api_req_header(req, "X-CSRF-Token");
	return want != NULL && got != NULL && strlen(got) == strlen(want) &&
	       CRYPTO_memcmp(got, want, strlen(want)) == 0;
}

/* The implicit user-role actor of a user without a role binding; 1, 0
 * when the user is no longer active, -1 error. */
static int user_actor(struct mc_pg *pg, const char *address,
		      struct mc_actor *actor, struct mc_error *err)
{
	struct mc_pool *pool = mc_pool_create("api-login", 1024);
	struct mc_directory_login login;
	int r = mc_directory_login(pg, pool, address, &login, err);
	if (r == 1) {
		memset(actor, 0, sizeof(*actor));
		actor->role = MC_ROLE_USER;
		actor->tenant_id = login.tenant_id;
		actor->domain_id = login.domain_id;
		actor->user_id = login.user_id;
		snprintf(actor->name, sizeof(actor->name), "%s", login.address);
	}
	mc_pool_destroy(&pool);
	return r;
}

/* The actor of a stored session; 0, -1 with the answer sent. */
static int session_actor(struct mc_api_req *req, const json_t *s)
{
	struct mc_error err = {0};
	json_int_t binding = json_integer_value(json_object_get(s, "binding"));
	const char *address = json_string_value(json_object_get(s, "address"));
	int r;
	if (binding > 0)
		r = mc_admin_binding_actor(req->th->pg, binding, &req->actor,
					   &err) == 0
			    ? 1
			    : -1;
	else
		r = user_actor(req->th->pg, address != NULL ? address : "",
			       &req->actor, &err);
	if (r == 1)
		return 0;
	if (err.cls != MC_ERR_TEMPORARY)
		redis_del(req->th->redis, req->session_key);
	if (r == 0)
		mc_error_set(&err, MC_ERR_DENIED, "session user %s gone",
			     address != NULL ? address : "?");
	return auth_failed(req, &err, "the session has ended; log in again");
}

/* The mc_session cookie's session, with its CSRF check and a fresh idle
 * timeout. */
static int session_auth(struct mc_api_req *req, const char *sid)
{
	session_key(sid, req->session_key, sizeof(req->session_key));
	json_t *s = session_load(req);
	if (s == NULL)
		return -1;
	if (!csrf_ok(req, s)) {
		json_decref(s);
		mc_api_send_problem(req, "forbidden",
				    "missing or wrong X-CSRF-Token", NULL);
		return -1;
	}
	redisReply *r =
		mc_redis_command(req->th->redis, NULL, "EXPIRE %s %d",
				 req->session_key, MC_API_SESSION_TTL_S);
	if (r != NULL)
		freeReplyObject(r);
	int rc = session_actor(req, s);
	json_decref(s);
	if (rc == 0)
		finish_actor(req, MC_API_AUTH_SESSION);
	return rc;
}

int mc_api_authenticate(struct mc_api_req *req)
{
	const char *authz = mc_api_req_header(req, "Authorization");
	if (authz != NULL)
		return token_auth(req, authz);
	const char *cookies = mc_api_req_header(req, "Cookie");
	char sid[SECRET_LEN + 8];
	if (cookies != NULL && mg_get_cookie(cookies, "mc_session", sid,
					     sizeof(sid)) == SECRET_LEN)
		return session_auth(req, sid);
	mc_api_send_problem(req, "unauthorized",
			    "authentication required: Authorization: Bearer "
			    "<token>, or a session",
			    NULL);
	return -1;
}

/* The holder's chosen (want > 0) or strongest role binding: 1 with
 * *id_r, 0 none, -1 error. */
static int pick_binding(struct mc_pg *pg, int64_t tenant_id, int64_t user_id,
			int64_t want, int64_t *id_r, struct mc_error *err)
{
	char t[24], u[24], w[24];
	snprintf(t, sizeof(t), "%lld", (long long)tenant_id);
	snprintf(u, sizeof(u), "%lld", (long long)user_id);
	snprintf(w, sizeof(w), "%lld", (long long)want);
	const char *params[] = {t, u, w};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT id FROM role_bindings WHERE holder_tenant = $1 "
		"AND holder_id = $2 AND ($3::bigint = 0 OR id = $3::bigint) "
		"ORDER BY CASE role WHEN 'provider' THEN 6 "
		"WHEN 'reseller' THEN 5 WHEN 'tenant' THEN 4 "
		"WHEN 'domain' THEN 3 WHEN 'department' THEN 2 "
		"WHEN 'assistant' THEN 1 ELSE 0 END DESC, id LIMIT 1",
		3, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n == 1 ? 1 : 0;
}

/* The login request's members; -1 with 4xx sent. */
static int login_input(struct mc_api_req *req, const char **address_r,
		       const char **password_r, int64_t *binding_r)
{
	const char *key;
	json_t *v;
	if (mc_api_parse_json_body(req) < 0)
		return -1;
	json_object_foreach(req->json, key, v)
	{
		if (strcmp(key, "address") != 0 &&
		    strcmp(key, "password") != 0 && strcmp(key, "binding") != 0)
			return mc_api_send_invalid(req, key, "unknown member"),
			       -1;
	}
	*address_r = json_string_value(json_object_get(req->json, "address"));
	*password_r = json_string_value(json_object_get(req->json, "password"));
	v = json_object_get(req->json, "binding");
	*binding_r = json_is_integer(v) ? json_integer_value(v) : 0;
	if (*address_r == NULL || **address_r == '\0')
		return mc_api_send_invalid(req, "address", "required"), -1;
	if (*password_r == NULL)
		return mc_api_send_invalid(req, "password", "required"), -1;
	if (v != NULL && (!json_is_integer(v) || *binding_r <= 0))
		return mc_api_send_invalid(req, "binding",
					   "must be a role binding id"),
		       -1;
	return 0;
}

/* Checks address and password; 1 good (login filled), 0 wrong, -1
 * error. */
static int check_password(struct mc_api_req *req, struct mc_pool *pool,
			  const char *address, const char *password,
			  struct mc_directory_login *login,
			  struct mc_error *err)
{
	int r = mc_directory_login(req->th->pg, pool, address, login, err);
	if (r != 1)
		return r;
	struct mc_error perr = {0};
	r = mc_password_verify(password, login->password_hash, &perr);
	if (r < 0)
		mc_log_warning("http: login %s: %s", address, perr.msg);
	return r == 1 ? 1 : 0;
}

/* A mailbox owner without an admin role logs in for webmail and its own
 * settings: its policy must allow webmail. 0, or -1 with the answer. */
static int webmail_allowed(struct mc_api_req *req,
			   const struct mc_directory_login *login)
{
	struct mc_policy_settings set;
	struct mc_error err = {0};

	mc_policy_settings_from_config(req->api->cfg, &set);
	int r = mc_policy_allows(req->th->pg, req->th->redis, &set,
				 login->tenant_id, login->user_id,
				 MC_DIR_PROTO_WEBMAIL, &err);
	if (r == 1)
		return 0;
	if (r < 0) {
		mc_log_warning("http: login %s: %s", login->address, err.msg);
		mc_api_header(req, "Retry-After", "5");
		mc_api_send_problem(req, "unavailable",
				    "temporarily unavailable; try again", NULL);
		return -1;
	}
	mc_api_send_problem(req, "forbidden",
			    "webmail is not enabled for this account", NULL);
	return -1;
}

/* The actor a login acts as; 0, or -1 with the answer sent. */
static int login_actor(struct mc_api_req *req,
		       const struct mc_directory_login *login, int64_t want)
{
	struct mc_error err = {0};
	int64_t id = 0;
	int r = pick_binding(req->th->pg, login->tenant_id, login->user_id,
			     want, &id, &err);
	if (r == 0 && want > 0)
		return mc_api_send_invalid(req, "binding",
					   "not one of your role bindings"),
		       -1;
	if (r == 1 &&
	    mc_admin_binding_actor(req->th->pg, id, &req->actor, &err) == 0)
		return 0;
	if (r == 0 &&
	    user_actor(req->th->pg, login->address, &req->actor, &err) == 1)
		return webmail_allowed(req, login);
	if (err.cls == MC_ERR_NONE)
		mc_error_set(&err, MC_ERR_DENIED, "user vanished");
	return auth_failed(req, &err, "wrong address or password");
}

/* Stores a new session for req->actor; its id and CSRF token. */
static int session_create(struct mc_api_req *req, char sid[SECRET_LEN + 1],
			  char csrf[SECRET_LEN + 1], const char *address)
{
	struct mc_error err = {0};
	random_secret(sid);
	random_secret(csrf);
	session_key(sid, req->session_key, sizeof(req->session_key));
	json_t *s = json_pack("{s:I, s:s, s:s}", "binding",
			      (json_int_t)req->actor.binding_id, "address",
			      address, "csrf", csrf);
	char *text = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	redisReply *r =
		mc_redis_command(req->th->redis, &err, "SET %s %s EX %d",
				 req->session_key, text, MC_API_SESSION_TTL_S);
	free(text);
	if (r == NULL)
		return auth_failed(req, &err, NULL);
	freeReplyObject(r);
	return 0;
}

/* The login answer: the actor as me.get shows it, and the CSRF token. */
static void login_answer(struct mc_api_req *req, const char *csrf)
{
	mc_admin_op *me = mc_admin_op_find("me.get");
	struct mc_admin_settings set = {.pg = req->th->pg,
					.redis = req->th->redis,
					.cfg = req->api->cfg,
					.actor = &req->actor};
	struct mc_admin *admin = mc_admin_create(&set);
	struct mc_admin_call call = {.if_version = -1};
	struct mc_error err = {0};
	json_t *out = NULL;
	if (me == NULL || me(admin, &call, &out, &err) < 0 ||
	    !json_is_object(out)) {
		json_decref(out);
		out = json_pack("{s:s, s:s}", "role",
				mc_role_name(req->actor.role), "name",
				req->actor.name);
	}
	mc_admin_destroy(&admin);
	json_object_set_new(out, "csrf_token", json_string(csrf));
	json_object_set_new(out, "expires_in",
			    json_integer(MC_API_SESSION_TTL_S));
	mc_api_send_json(req, 201, out);
	json_decref(out);
}

/* The password out of memory once it was checked. */
static void forget_password(struct mc_api_req *req, const char *password)
{
	if (password != NULL)
		mc_secure_zero((char *)password, strlen(password));
	if (req->body.data != NULL)
		mc_secure_zero(req->body.data, req->body.len);
}

/* Throttle, password, binding: 1 logged in, -1 answer sent. */
static int login_check(struct mc_api_req *req, const char *address,
		       const char *password, int64_t want)
{
	struct mc_error err = {0};
	const struct mc_login_throttle *t = &req->api->throttle;
	if (mc_login_throttle_check(req->th->redis, t, req->client_ip, address,
				    &err) == 0) {
		mc_api_header(req, "Retry-After", "%u", t->window_s);
		mc_api_send_problem(req, "too-many-requests",
				    "too many failed logins; try later", NULL);
		return -1;
	}
	struct mc_pool *pool = mc_pool_create("api-login", 1024);
	struct mc_directory_login login;
	mc_error_clear(&err);
	int r = check_password(req, pool, address, password, &login, &err);
	if (r == 0) {
		mc_login_throttle_failed(req->th->redis, t, req->client_ip,
					 address);
		mc_error_set(&err, MC_ERR_DENIED, "login failed for %s",
			     address);
	}
	if (r == 1) {
		mc_login_throttle_succeeded(req->th->redis, t, address);
		r = login_actor(req, &login, want) == 0 ? 1 : -1;
	} else if (!req->sent) {
		auth_failed(req, &err, "wrong address or password");
	}
	mc_pool_destroy(&pool);
	return r == 1 ? 1 : -1;
}

int mc_api_login(struct mc_api_req *req)
{
	const char *address = NULL, *password = NULL;
	int64_t want = 0;
	if (login_input(req, &address, &password, &want) < 0)
		return -1;
	int r = login_check(req, address, password, want);
	forget_password(req, password);
	if (r < 0)
		return -1;
	finish_actor(req, MC_API_AUTH_SESSION);
	char sid[SECRET_LEN + 1], csrf[SECRET_LEN + 1];
	if (session_create(req, sid, csrf, address) < 0)
		return -1;
	mc_api_header(req, "Set-Cookie", "mc_session=%s; " COOKIE_ATTRS, sid);
	mc_secure_zero(sid, sizeof(sid));
	mc_log_info("http: session opened for %s (%s) ip=%s", req->actor.name,
		    mc_role_name(req->actor.role), req->client_ip);
	login_answer(req, csrf);
	return 0;
}

int mc_api_logout(struct mc_api_req *req)
{
	if (req->auth != MC_API_AUTH_SESSION) {
		mc_api_send_problem(req, "not-found",
				    "no session: tokens are revoked with "
				    "DELETE /api/v1/tokens/{id}",
				    NULL);
		return -1;
	}
	redis_del(req->th->redis, req->session_key);
	mc_api_header(req, "Set-Cookie",
		      "mc_session=; Max-Age=0; " COOKIE_ATTRS);
	mc_api_send(req, 204, NULL, "", 0);
	return 0;
}
