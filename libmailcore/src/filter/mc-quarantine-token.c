/* mc-quarantine-token: the signed, expiring tokens of release links. A
 * token is base64url (no padding) of 64 bytes: the item id, tenant id,
 * user id and expiry as big-endian 64-bit integers, then HMAC-SHA256
 * under the server's secret over a context label and those 32 bytes. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"

#define FIELDS_LEN 32
#define MAC_LEN	   32
#define RAW_LEN	   (FIELDS_LEN + MAC_LEN)
#define LABEL	   "mailcore quarantine release v1"

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Writes v big-endian at p. */
static void put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (unsigned char)(u & 0xff);
}

/* The big-endian 64-bit value at p. */
static int64_t get64(const unsigned char *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

/* The MAC of the fields under secret. */
static void mac(const char *secret, const unsigned char fields[FIELDS_LEN],
		unsigned char out[MAC_LEN])
{
	unsigned char msg[sizeof(LABEL) + FIELDS_LEN];
	unsigned int len = MAC_LEN;
	memcpy(msg, LABEL, sizeof(LABEL)); /* the NUL separates the label */
	memcpy(msg + sizeof(LABEL), fields, FIELDS_LEN);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, sizeof(msg), out,
	     &len);
}

/* base64url of the raw token, without padding. */
static void encode(const unsigned char raw[RAW_LEN],
		   char out[MC_QUARANTINE_TOKEN_SIZE])
{
	size_t o = 0;
	for (size_t i = 0; i < RAW_LEN; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		size_t n = RAW_LEN - i < 3 ? RAW_LEN - i : 3;
		if (n > 1)
			v |= (uint32_t)raw[i + 1] << 8;
		if (n > 2)
			v |= raw[i + 2];
		for (size_t k = 0; k <= n; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	out[o] = '\0';
}

/* The value of a base64url character, or -1. */
static int b64val(char c)
{
	const char *p = c != '\0' ? strchr(b64url, c) : NULL;
	return p != NULL ? (int)(p - b64url) : -1;
}

/* Decodes exactly MC_QUARANTINE_TOKEN_LEN characters, refusing any other
 * length, character, or non-zero unused bits. */
static bool decode(const char *s, unsigned char raw[RAW_LEN])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	if (strlen(s) != MC_QUARANTINE_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < MC_QUARANTINE_TOKEN_LEN; i++) {
		int v = b64val(s[i]);
		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return o == RAW_LEN && acc == 0;
}

bool mc_quarantine_token(const char *secret, int64_t id, int64_t tenant_id,
			 int64_t user_id, time_t expires,
			 char token_r[MC_QUARANTINE_TOKEN_SIZE])
{
	unsigned char raw[RAW_LEN];
	token_r[0] = '\0';
	if (secret == NULL || secret[0] == '\0')
		return false;
	put64(raw, id);
	put64(raw + 8, tenant_id);
	put64(raw + 16, user_id);
	put64(raw + 24, (int64_t)expires);
	mac(secret, raw, raw + FIELDS_LEN);
	encode(raw, token_r);
	return true;
}

enum mc_quarantine_token_status
mc_quarantine_token_check(const char *secret, const char *token, time_t now,
			  int64_t *id_r, int64_t *tenant_r, int64_t *user_r)
{
	unsigned char raw[RAW_LEN], want[MAC_LEN];
	if (secret == NULL || secret[0] == '\0' || token == NULL ||
	    !decode(token, raw))
		return MC_QUARANTINE_TOKEN_INVALID;
	mac(secret, raw, want);
	bool ok = CRYPTO_memcmp(want, raw + FIELDS_LEN, MAC_LEN) == 0;
	mc_secure_zero(want, sizeof(want));
	if (!ok)
		return MC_QUARANTINE_TOKEN_INVALID;
	if ((int64_t)now >= get64(raw + 24))
		return MC_QUARANTINE_TOKEN_EXPIRED;
	if (id_r != NULL)
		*id_r = get64(raw);
	if (tenant_r != NULL)
		*tenant_r = get64(raw + 8);
	if (user_r != NULL)
		*user_r = get64(raw + 16);
	return MC_QUARANTINE_TOKEN_VALID;
}
