/* mc-dkim-sign: DKIM-Signature header fields for outbound mail, one per
 * key, relaxed/relaxed, the message read once for all keys: rsa-sha256
 * for rsa-2048 keys by libopendkim, ed25519-sha256 (RFC 8463) for ed25519
 * keys by mc-dkim-ed25519 (libopendkim leaks every Ed25519 key it
 * parses). Both take the stored PKCS#8 PEM private keys as they are. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-dkim-private.h"

#define SIG_PREFIX   "DKIM-Signature: "
#define NAME_MAX_LEN 253 /* of d= and s= */

/* What signs with one key: a libopendkim handle or an Ed25519 signer. */
struct signer {
	DKIM *rsa;
	struct mc_dkim_ed *ed;
};

/* Whether s is a usable d= or s= value: a non-empty dot-atom of letters,
 * digits, '-' and '_' (nothing that could break the header field). */
static bool name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789-_.") == n;
}

/* Checks the parts of key every algorithm needs; false with err. */
static bool key_ok(const struct mc_dkim_key *key, struct mc_error *err)
{
	if (!name_ok(key->domain) || !name_ok(key->selector) ||
	    key->private_key == NULL || *key->private_key == '\0') {
		mc_error_set(err, MC_ERR_INVALID,
			     "DKIM: key without a valid domain, selector or "
			     "secret");
		return false;
	}
	return true;
}

/* A libopendkim rsa-sha256 signing handle for key, or NULL with err
 * (MC_ERR_INVALID). The key is checked first: libopendkim parses it only
 * at the end of the message and leaks when it cannot. */
static DKIM *rsa_handle(struct mc_dkim *dkim, const struct mc_dkim_key *key,
			struct mc_error *err)
{
	DKIM_STAT st = DKIM_STAT_INVALID;
	EVP_PKEY *pkey = mc_dkim_load_key(key->private_key, EVP_PKEY_RSA);
	if (pkey == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DKIM key: no RSA private key (PEM) for "
			     "%s._domainkey.%s",
			     key->selector, key->domain);
		return NULL;
	}
	EVP_PKEY_free(pkey);
	DKIM *h = dkim_sign(dkim->lib, (const unsigned char *)"mc-dkim", NULL,
			    (dkim_sigkey_t)key->private_key,
			    (const unsigned char *)key->selector,
			    (const unsigned char *)key->domain,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
			    DKIM_SIGN_RSASHA256, -1, &st);
	if (h == NULL)
		mc_dkim_lib_error(err, MC_ERR_INVALID, NULL, "key", st);
	return h;
}

/* The signer of key into *s; -1 with err (MC_ERR_INVALID). */
static int signer_init(struct mc_dkim *dkim, const struct mc_dkim_key *key,
		       struct signer *s, struct mc_error *err)
{
	const char *alg = key->algorithm != NULL ? key->algorithm : "";
	if (strcmp(alg, "rsa-2048") != 0 && strcmp(alg, "ed25519") != 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DKIM: unknown key algorithm \"%s\"", alg);
		return -1;
	}
	if (!key_ok(key, err))
		return -1;
	if (strcmp(alg, "ed25519") == 0)
		s->ed = mc_dkim_ed_create(key, err);
	else
		s->rsa = rsa_handle(dkim, key, err);
	return s->ed != NULL || s->rsa != NULL ? 0 : -1;
}

/* Finishes h and appends its header field to o, line ends made CRLF
 * (libopendkim folds with a bare LF unless the message taught it CRLF). */
static int add_rsa(DKIM *h, const struct mc_dkim_key *key,
		   struct mc_dkim_buf *o, struct mc_error *err)
{
	unsigned char *sig = NULL;
	size_t len = 0;
	DKIM_STAT st = dkim_eom(h, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(h, strlen(SIG_PREFIX), &sig, &len);
	if (st != DKIM_STAT_OK) {
		mc_dkim_lib_error(err, MC_ERR_INVALID, h, "signing", st);
		mc_error_prefix(err, "%s._domainkey.%s", key->selector,
				key->domain);
		return -1;
	}
	mc_dkim_buf_add(o, SIG_PREFIX, strlen(SIG_PREFIX));
	for (size_t i = 0; i < len; i++) {
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			mc_dkim_buf_add(o, "\r", 1);
		mc_dkim_buf_add(o, (const char *)sig + i, 1);
	}
	mc_dkim_buf_add(o, "\r\n", 2);
	return 0;
}

/* Reads the message once into all signers, then collects the fields in
 * the order of the keys. */
static int sign_all(struct signer *signers, const struct mc_dkim_key *keys,
		    size_t count, mc_dkim_read_fn *read, void *read_ctx,
		    struct mc_dkim_buf *o, struct mc_error *err)
{
	DKIM **rsa = mc_calloc(count, sizeof(*rsa));
	struct mc_dkim_ed **ed = mc_calloc(count, sizeof(*ed));
	size_t nrsa = 0, ned = 0;
	time_t now = time(NULL);
	for (size_t i = 0; i < count; i++) {
		if (signers[i].rsa != NULL)
			rsa[nrsa++] = signers[i].rsa;
		else
			ed[ned++] = signers[i].ed;
	}
	int rc = mc_dkim_feed_sign(rsa, nrsa, ed, ned, read, read_ctx, err);
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = signers[i].rsa != NULL
			     ? add_rsa(signers[i].rsa, &keys[i], o, err)
			     : mc_dkim_ed_finish(signers[i].ed, now, o, err);
	free(rsa);
	free(ed);
	return rc;
}

int mc_dkim_sign(struct mc_dkim *dkim, struct mc_pool *pool,
		 const struct mc_dkim_key *keys, size_t keys_count,
		 mc_dkim_read_fn *read, void *read_ctx, const char **headers_r,
		 struct mc_error *err)
{
	struct signer *signers = mc_calloc(keys_count + 1, sizeof(*signers));
	struct mc_dkim_buf o = {0};
	int rc = 0;
	mc_dkim_buf_add(&o, "", 0);
	for (size_t i = 0; i < keys_count && rc == 0; i++)
		rc = signer_init(dkim, &keys[i], &signers[i], err);
	if (rc == 0 && keys_count > 0)
		rc = sign_all(signers, keys, keys_count, read, read_ctx, &o,
			      err);
	for (size_t i = 0; i < keys_count; i++) {
		if (signers[i].rsa != NULL)
			dkim_free(signers[i].rsa);
		mc_dkim_ed_destroy(&signers[i].ed);
	}
	if (rc == 0)
		*headers_r = mc_pstrndup(pool, o.data, o.len);
	free(o.data);
	free(signers);
	return rc;
}
