/* mc-dkim-keys: DKIM signing keys (OpenSSL 3 EVP): generation of RSA-2048
 * and Ed25519 keys as PKCS#8 PEM plus the base64 p= value published in DNS
 * (RSA: DER SubjectPublicKeyInfo, RFC 6376 3.6.1; Ed25519: the raw 32-byte
 * key, RFC 8463 4.2), the TXT record, selectors, and the check that a
 * stored key still matches its published p=. No database access. */
#ifndef MC_DKIM_KEYS_H
#define MC_DKIM_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct mc_error;
struct evp_pkey_st; /* OpenSSL's EVP_PKEY */

enum mc_dkim_algorithm {
	MC_DKIM_RSA_2048,
	MC_DKIM_ED25519,
};

/* Selectors as stored (dkim_keys.selector): ^[a-z0-9][a-z0-9-]{0,62}$ */
#define MC_DKIM_SELECTOR_MAX 63

/* "rsa-2048" or "ed25519" (dkim_keys.algorithm). Static string. */
const char *mc_dkim_keys_algorithm_name(enum mc_dkim_algorithm alg);
/* The inverse of mc_dkim_keys_algorithm_name; 0, or -1 MC_ERR_INVALID. */
int mc_dkim_keys_algorithm_parse(const char *name,
				 enum mc_dkim_algorithm *alg_r,
				 struct mc_error *err);
/* The k= tag value: "rsa" or "ed25519". Static string. */
const char *mc_dkim_keys_k_tag(enum mc_dkim_algorithm alg);

/* Generates a key. *private_pem_r ("-----BEGIN PRIVATE KEY-----", PKCS#8)
 * and *public_r (the p= base64, no blanks) are the caller's: free the PEM
 * with mc_dkim_keys_free_secret(), the p= value with free(). 0, or -1
 * (MC_ERR_PERMANENT when OpenSSL fails; nothing is returned then). */
int mc_dkim_keys_generate(enum mc_dkim_algorithm alg, char **private_pem_r,
			  char **public_r, struct mc_error *err);
/* Wipes (OPENSSL_cleanse) and frees *secret; accepts NULL, clears it. */
void mc_dkim_keys_free_secret(char **secret);

/* Checks that private_pem parses, is a key of alg (RSA: 2048 bits) and
 * that its public key is the one p= (base64) publishes. When pkey_r is
 * not NULL the parsed key is returned there (the caller frees it with
 * EVP_PKEY_free). 0, or -1 MC_ERR_INVALID (what does not fit). */
int mc_dkim_keys_check(enum mc_dkim_algorithm alg, const char *private_pem,
		       const char *public_b64, struct evp_pkey_st **pkey_r,
		       struct mc_error *err);

/* "v=DKIM1; k=rsa; p=<p>" or "v=DKIM1; k=ed25519; p=<p>" (caller frees
 * with free()); NULL with MC_ERR_INVALID when p= is not base64. RSA
 * values exceed 255 bytes: DNS UIs split them into TXT strings. */
char *mc_dkim_keys_txt_value(enum mc_dkim_algorithm alg, const char *public_b64,
			     struct mc_error *err);
/* "<selector>._domainkey.<domain>", no trailing dot (caller frees); NULL
 * with MC_ERR_INVALID for a bad selector or domain, or a name over 253. */
char *mc_dkim_keys_dns_name(const char *selector, const char *domain,
			    struct mc_error *err);

/* True when selector matches ^[a-z0-9][a-z0-9-]{0,62}$ and does not end
 * in '-' (it is one DNS label). */
bool mc_dkim_keys_valid_selector(const char *selector);
/* Writes "mc<yyyymm><r|e>" for now (UTC) into buf (at least
 * MC_DKIM_SELECTOR_MAX + 1 bytes), e.g. "mc202507r" for RSA, "mc202507e"
 * for Ed25519; seq > 0 appends "-<seq + 1>" ("mc202507r-2") for a second
 * key of the month: callers try seq 0, 1, ... until the name is free.
 * Returns buf. */
char *mc_dkim_keys_selector(enum mc_dkim_algorithm alg, time_t now,
			    unsigned seq, char *buf, size_t size);

#endif
