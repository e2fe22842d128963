/* mc-api-idem: Idempotency-Key on POST. The first request with a key
 * claims (principal, key) in idempotency_keys with a hash of the request;
 * its response (below 500) is kept for 24 hours and replayed to a retry
 * with "Idempotent-Replayed: true". The same key with another request is
 * 422 idempotency-conflict; a retry while the first still runs is 409. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mc-api-private.h"

#define KEY_MAX 255

/* The SHA-256 (hex) of what makes two requests the same. */
static void request_hash(const struct mc_api_req *req, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned int len = 0;
	const char *q = req->query != NULL ? req->query : "";
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, req->method, strlen(req->method) + 1);
	EVP_DigestUpdate(md, req->path, strlen(req->path) + 1);
	EVP_DigestUpdate(md, q, strlen(q) + 1);
	EVP_DigestUpdate(md, req->body.data != NULL ? req->body.data : "",
			 req->body.len);
	EVP_DigestFinal_ex(md, d, &len);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A key of 1..255 visible ASCII characters. */
static bool key_ok(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] < 0x20 ||
		    (unsigned char)key[i] > 0x7e)
			return false;
	return true;
}

/* Claims the key: 1 claimed, 0 taken, -1 error. */
static int claim(struct mc_api_req *req, struct mc_error *err)
{
	const char *p[] = {req->principal, req->idem_key, req->idem_hash};
	long n = mc_pg_exec(req->th->pg,
			    "INSERT INTO idempotency_keys (principal, key, "
			    "request_hash) VALUES ($1, $2, $3) "
			    "ON CONFLICT DO NOTHING",
			    3, p, err);
	return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/* Drops a key record older than 24 hours: 1 dropped, 0 not, -1 error. */
static int drop_expired(struct mc_api_req *req, struct mc_error *err)
{
	const char *p[] = {req->principal, req->idem_key};
	long n = mc_pg_exec(req->th->pg,
			    "DELETE FROM idempotency_keys WHERE principal = $1 "
			    "AND key = $2 AND created_at < now() - "
			    "interval '24 hours'",
			    2, p, err);
	return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/* Answers a retry from the kept record. */
static void replay(struct mc_api_req *req, const PGresult *res)
{
	if (strcmp(PQgetvalue(res, 0, 0), req->idem_hash) != 0) {
		mc_api_send_problem(req, "idempotency-conflict",
				    "this Idempotency-Key was used for another "
				    "request",
				    NULL);
		return;
	}
	if (PQgetisnull(res, 0, 1)) {
		mc_api_send_problem(req, "conflict",
				    "a request with this Idempotency-Key is "
				    "still running",
				    NULL);
		return;
	}
	int status = atoi(PQgetvalue(res, 0, 1));
	const char *body = PQgetvalue(res, 0, 3);
	mc_api_header(req, "Idempotent-Replayed", "true");
	if (!PQgetisnull(res, 0, 2))
		mc_api_header(req, "Location", "%s", PQgetvalue(res, 0, 2));
	json_t *j = *body != '\0' ? json_loads(body, 0, NULL) : NULL;
	if (status < 300)
		mc_api_send_json(req, status, j);
	else
		mc_api_send(req, status, "application/problem+json", body,
			    strlen(body));
	json_decref(j);
}

/* Looks up a taken key: 1 answered, 0 gone meanwhile, -1 error. */
static int lookup(struct mc_api_req *req, struct mc_error *err)
{
	const char *p[] = {req->principal, req->idem_key};
	PGresult *res = mc_pg_query(
		req->th->pg,
		"SELECT request_hash, status, location, coalesce(body, '') "
		"FROM idempotency_keys WHERE principal = $1 AND key = $2",
		2, p, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	if (n == 1)
		replay(req, res);
	PQclear(res);
	return n == 1 ? 1 : 0;
}

/* Claim, or expire and claim, or replay: 0 claimed, 1 answered, -1. */
static int claim_or_replay(struct mc_api_req *req, struct mc_error *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = claim(req, err);
		if (r != 0)
			return r < 0 ? -1 : 0;
		r = drop_expired(req, err);
		if (r < 0)
			return -1;
		if (r == 1)
			continue;
		r = lookup(req, err);
		if (r != 0)
			return r;
	}
	mc_error_set(err, MC_ERR_TEMPORARY, "idempotency key keeps changing");
	return -1;
}

int mc_api_idem_begin(struct mc_api_req *req)
{
	const char *key = mc_api_req_header(req, "Idempotency-Key");
	if (strcmp(req->method, "POST") != 0 || key == NULL ||
	    req->principal[0] == '\0')
		return 0;
	if (!key_ok(key)) {
		mc_api_send_problem(req, "bad-request",
				    "Idempotency-Key must be 1 to 255 visible "
				    "characters",
				    NULL);
		return 1;
	}
	snprintf(req->idem_key, sizeof(req->idem_key), "%s", key);
	request_hash(req, req->idem_hash);
	struct mc_error err = {0};
	int r = claim_or_replay(req, &err);
	if (r == 0) {
		req->idem_owned = true;
		return 0;
	}
	if (r < 0) {
		mc_log_warning("http: Idempotency-Key lookup failed: %s",
			       err.msg);
		mc_api_send_problem(req, "unavailable",
				    "cannot check the Idempotency-Key", NULL);
	}
	return 1;
}

void mc_api_idem_finish(struct mc_api_req *req, int status, const char *body)
{
	struct mc_error err = {0};
	char st[16];
	snprintf(st, sizeof(st), "%d", status);
	req->idem_owned = false;
	const char *p[] = {req->principal, req->idem_key, st, req->location,
			   body};
	long n;
	if (status >= 500)
		n = mc_pg_exec(req->th->pg,
			       "DELETE FROM idempotency_keys WHERE "
			       "principal = $1 AND key = $2",
			       2, p, &err);
	else
		n = mc_pg_exec(req->th->pg,
			       "UPDATE idempotency_keys SET status = $3, "
			       "location = $4, body = $5 WHERE principal = $1 "
			       "AND key = $2",
			       5, p, &err);
	if (n < 0)
		mc_log_warning("http: cannot record Idempotency-Key: %s",
			       err.msg);
}
