/* mc-dkim-keys: DKIM key generation and checks with OpenSSL 3 EVP. Keys are
 * PKCS#8 PEM; the DNS p= value is base64 of the DER SubjectPublicKeyInfo
 * (RSA, RFC 6376 3.6.1) or of the raw public key (Ed25519, RFC 8463 4.2).
 * Buffers that held private keys are wiped before they are freed. */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-dkim-keys.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-tenants.h"

#define RSA_BITS    2048
#define ED25519_LEN 32

const char *mc_dkim_keys_algorithm_name(enum mc_dkim_algorithm alg)
{
	return alg == MC_DKIM_ED25519 ? "ed25519" : "rsa-2048";
}

int mc_dkim_keys_algorithm_parse(const char *name,
				 enum mc_dkim_algorithm *alg_r,
				 struct mc_error *err)
{
	if (strcmp(name, "rsa-2048") == 0)
		*alg_r = MC_DKIM_RSA_2048;
	else if (strcmp(name, "ed25519") == 0)
		*alg_r = MC_DKIM_ED25519;
	else {
		mc_error_set(err, MC_ERR_INVALID,
			     "unknown DKIM algorithm (rsa-2048, ed25519)");
		return -1;
	}
	return 0;
}

const char *mc_dkim_keys_k_tag(enum mc_dkim_algorithm alg)
{
	return alg == MC_DKIM_ED25519 ? "ed25519" : "rsa";
}

/* Sets err from OpenSSL's error queue (then emptied) and returns -1. */
static int ssl_error(struct mc_error *err, const char *what)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	mc_error_set(err, MC_ERR_PERMANENT, "%s: %s", what, buf);
	return -1;
}

/* Base64 of data without line breaks (caller frees). */
static char *b64_encode(const unsigned char *data, size_t len)
{
	char *out = mc_malloc((len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* True when s is canonical-looking base64: the alphabet, a multiple of 4
 * long, '=' padding (at most 2) only at the end. */
static bool valid_b64(const char *s, size_t len)
{
	size_t pad = 0;
	if (len == 0 || len % 4 != 0 || len > 8192)
		return false;
	while (pad < 2 && s[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* Decodes base64 s into a new buffer (caller frees); NULL when invalid. */
static unsigned char *b64_decode(const char *s, size_t *len_r)
{
	size_t len = strlen(s), pad = 0;
	if (!valid_b64(s, len))
		return NULL;
	pad = (s[len - 1] == '=') + (s[len - 2] == '=');
	unsigned char *out = mc_malloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return NULL;
	}
	*len_r = (size_t)n - pad;
	return out;
}

/* The bytes p= publishes for pkey (caller frees); NULL on failure. */
static unsigned char *public_bytes(EVP_PKEY *pkey, enum mc_dkim_algorithm alg,
				   size_t *len_r)
{
	if (alg == MC_DKIM_ED25519) {
		unsigned char *raw = mc_malloc(ED25519_LEN);
		*len_r = ED25519_LEN;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, len_r) == 1 &&
		    *len_r == ED25519_LEN)
			return raw;
		free(raw);
		return NULL;
	}
	int n = i2d_PUBKEY(pkey, NULL);
	if (n <= 0)
		return NULL;
	unsigned char *der = mc_malloc((size_t)n), *p = der;
	*len_r = (size_t)i2d_PUBKEY(pkey, &p);
	return der;
}

/* The private key as PKCS#8 PEM in a new string (caller wipes); NULL on
 * failure. The BIO is secure memory, cleansed when freed. */
static char *private_pem(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data = NULL, *pem = NULL;
	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
		long len = BIO_get_mem_data(bio, &data);
		if (len > 0)
			pem = mc_strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return pem;
}

/* A new key of alg, or NULL. */
static EVP_PKEY *keygen(enum mc_dkim_algorithm alg)
{
	if (alg == MC_DKIM_ED25519)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
}

int mc_dkim_keys_generate(enum mc_dkim_algorithm alg, char **private_pem_r,
			  char **public_r, struct mc_error *err)
{
	EVP_PKEY *pkey = keygen(alg);
	unsigned char *pub = NULL;
	size_t pub_len = 0;
	char *pem = NULL;
	if (pkey == NULL)
		return ssl_error(err, "DKIM key generation failed");
	pem = private_pem(pkey);
	pub = public_bytes(pkey, alg, &pub_len);
	EVP_PKEY_free(pkey);
	if (pem == NULL || pub == NULL) {
		mc_dkim_keys_free_secret(&pem);
		free(pub);
		return ssl_error(err, "DKIM key encoding failed");
	}
	*private_pem_r = pem;
	*public_r = b64_encode(pub, pub_len);
	free(pub);
	return 0;
}

void mc_dkim_keys_free_secret(char **secret)
{
	if (secret == NULL || *secret == NULL)
		return;
	OPENSSL_cleanse(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}

/* A PEM password callback that refuses: encrypted keys never prompt. */
static int no_password(char *buf, int size, int rwflag, void *ctx)
{
	(void)buf, (void)size, (void)rwflag, (void)ctx;
	return -1;
}

/* Parses a PEM private key, or NULL (OpenSSL's errors cleared). */
static EVP_PKEY *parse_private(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = NULL;
	if (bio != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
		BIO_free(bio);
	}
	ERR_clear_error();
	return pkey;
}

/* True when pkey is a key of alg (RSA: of RSA_BITS bits). */
static bool key_is(EVP_PKEY *pkey, enum mc_dkim_algorithm alg)
{
	if (alg == MC_DKIM_ED25519)
		return EVP_PKEY_is_a(pkey, "ED25519");
	return EVP_PKEY_is_a(pkey, "RSA") &&
	       EVP_PKEY_get_bits(pkey) == RSA_BITS;
}

/* 0 when pkey's public key is the one public_b64 encodes, else -1. */
static int public_matches(EVP_PKEY *pkey, enum mc_dkim_algorithm alg,
			  const char *public_b64, struct mc_error *err)
{
	size_t want_len = 0, have_len = 0;
	unsigned char *want = b64_decode(public_b64, &want_len);
	unsigned char *have = public_bytes(pkey, alg, &have_len);
	bool same = want != NULL && have != NULL && want_len == have_len &&
		    memcmp(want, have, have_len) == 0;
	if (!same)
		mc_error_set(err, MC_ERR_INVALID, "%s",
			     want == NULL ? "DKIM p= is not base64"
					  : "DKIM key does not match its p=");
	free(want);
	free(have);
	return same ? 0 : -1;
}

int mc_dkim_keys_check(enum mc_dkim_algorithm alg, const char *private_pem,
		       const char *public_b64, struct evp_pkey_st **pkey_r,
		       struct mc_error *err)
{
	EVP_PKEY *pkey = parse_private(private_pem);
	if (pkey == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "DKIM key is not a PEM key");
		return -1;
	}
	if (!key_is(pkey, alg)) {
		mc_error_set(err, MC_ERR_INVALID, "DKIM key is not %s",
			     mc_dkim_keys_algorithm_name(alg));
		EVP_PKEY_free(pkey);
		return -1;
	}
	if (public_matches(pkey, alg, public_b64, err) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	if (pkey_r != NULL)
		*pkey_r = pkey;
	else
		EVP_PKEY_free(pkey);
	return 0;
}

char *mc_dkim_keys_txt_value(enum mc_dkim_algorithm alg, const char *public_b64,
			     struct mc_error *err)
{
	if (!valid_b64(public_b64, strlen(public_b64))) {
		mc_error_set(err, MC_ERR_INVALID, "DKIM p= is not base64");
		return NULL;
	}
	return mc_asprintf("v=DKIM1; k=%s; p=%s", mc_dkim_keys_k_tag(alg),
			   public_b64);
}

char *mc_dkim_keys_dns_name(const char *selector, const char *domain,
			    struct mc_error *err)
{
	if (!mc_dkim_keys_valid_selector(selector)) {
		mc_error_set(err, MC_ERR_INVALID, "invalid DKIM selector");
		return NULL;
	}
	if (!mc_tenants_valid_domain(domain) ||
	    strlen(selector) + strlen("._domainkey.") + strlen(domain) >
		    MC_DOMAIN_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "invalid DKIM domain");
		return NULL;
	}
	return mc_asprintf("%s._domainkey.%s", selector, domain);
}

bool mc_dkim_keys_valid_selector(const char *selector)
{
	size_t len = strlen(selector);
	if (len < 1 || len > MC_DKIM_SELECTOR_MAX || selector[0] == '-' ||
	    selector[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = selector[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

char *mc_dkim_keys_selector(enum mc_dkim_algorithm alg, time_t now,
			    unsigned seq, char *buf, size_t size)
{
	struct tm tm;
	char month[16] = "000000";
	if (gmtime_r(&now, &tm) != NULL && tm.tm_year >= -1900 &&
	    tm.tm_year <= 9999 - 1900)
		strftime(month, sizeof(month), "%Y%m", &tm);
	char tag = alg == MC_DKIM_ED25519 ? 'e' : 'r';
	if (seq == 0)
		snprintf(buf, size, "mc%s%c", month, tag);
	else
		snprintf(buf, size, "mc%s%c-%lu", month, tag,
			 (unsigned long)seq + 1);
	return buf;
}
