/* mc-password: hashes passwords with yescrypt, bcrypt or SHA512-CRYPT
 * (libxcrypt) or Argon2id (libargon2) and verifies stored hashes of those
 * schemes in constant time. Neither passwords nor hashes ever appear in
 * error messages; buffers that held password material are zeroed. */
#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-pool.h"

#define ARGON2_T_COST	3
#define ARGON2_M_COST	65536 /* KiB */
#define ARGON2_PARALLEL 1
#define ARGON2_SALT_LEN 16
#define ARGON2_HASH_LEN 32
#define BCRYPT_COST	10

static const struct {
	const char *name;
	enum mc_password_scheme scheme;
} scheme_names[] = {
	{"yescrypt", MC_PW_YESCRYPT},
	{"bcrypt", MC_PW_BCRYPT},
	{"sha512-crypt", MC_PW_SHA512_CRYPT},
	{"argon2id", MC_PW_ARGON2ID},
};

static const struct {
	const char *prefix;
	enum mc_password_scheme scheme;
} hash_prefixes[] = {
	{"$y$", MC_PW_YESCRYPT},     {"$2b$", MC_PW_BCRYPT},
	{"$2a$", MC_PW_BCRYPT},	     {"$2y$", MC_PW_BCRYPT},
	{"$6$", MC_PW_SHA512_CRYPT}, {"$argon2id$", MC_PW_ARGON2ID},
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Parses a configured scheme name. */
bool mc_password_scheme_parse(const char *name,
			      enum mc_password_scheme *scheme_r)
{
	for (size_t i = 0; i < N_ELEMENTS(scheme_names); i++) {
		if (strcmp(name, scheme_names[i].name) == 0) {
			*scheme_r = scheme_names[i].scheme;
			return true;
		}
	}
	return false;
}

/* The configuration name of a scheme. */
const char *mc_password_scheme_name(enum mc_password_scheme scheme)
{
	for (size_t i = 0; i < N_ELEMENTS(scheme_names); i++) {
		if (scheme_names[i].scheme == scheme)
			return scheme_names[i].name;
	}
	return "unknown";
}

/* Recognises the scheme of a stored hash by its prefix. */
bool mc_password_hash_scheme(const char *hash,
			     enum mc_password_scheme *scheme_r)
{
	if (hash == NULL)
		return false;
	for (size_t i = 0; i < N_ELEMENTS(hash_prefixes); i++) {
		const char *p = hash_prefixes[i].prefix;

		if (strncmp(hash, p, strlen(p)) == 0) {
			*scheme_r = hash_prefixes[i].scheme;
			return true;
		}
	}
	return false;
}

/* Runs crypt_rn with a zeroed work area; returns a copy of the output or
 * NULL when libcrypt refuses the setting. */
static char *crypt_dup(const char *password, const char *setting)
{
	struct crypt_data *data = mc_calloc(1, sizeof(*data));
	char *out, *copy = NULL;

	out = crypt_rn(password, setting, data, (int)sizeof(*data));
	if (out != NULL && out[0] != '*' && out[0] != '\0')
		copy = mc_strdup(out);
	mc_secure_zero(data, sizeof(*data));
	free(data);
	return copy;
}

/* Hashes with a libxcrypt scheme: fresh salt, then crypt. */
static char *hash_crypt(const char *password, const char *prefix,
			unsigned long count, struct mc_error *err)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char *hash = NULL;

	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting,
			     sizeof(setting)) != NULL)
		hash = crypt_dup(password, setting);
	if (hash == NULL)
		mc_error_set(err, MC_ERR_TEMPORARY, "password hashing failed");
	return hash;
}

/* Hashes with Argon2id and a random 16-byte salt. */
static char *hash_argon2id(const char *password, struct mc_error *err)
{
	unsigned char salt[ARGON2_SALT_LEN];
	size_t len =
		argon2_encodedlen(ARGON2_T_COST, ARGON2_M_COST, ARGON2_PARALLEL,
				  ARGON2_SALT_LEN, ARGON2_HASH_LEN, Argon2_id);
	char *encoded = mc_malloc(len);

	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt) ||
	    argon2id_hash_encoded(ARGON2_T_COST, ARGON2_M_COST, ARGON2_PARALLEL,
				  password, strlen(password), salt,
				  sizeof(salt), ARGON2_HASH_LEN, encoded,
				  len) != ARGON2_OK) {
		free(encoded);
		mc_error_set(err, MC_ERR_TEMPORARY, "password hashing failed");
		return NULL;
	}
	return encoded;
}

/* Hashes a password with the given scheme; the caller free()s it. */
char *mc_password_hash(const char *password, enum mc_password_scheme scheme,
		       struct mc_error *err)
{
	switch (scheme) {
	case MC_PW_YESCRYPT:
		return hash_crypt(password, "$y$", 0, err);
	case MC_PW_BCRYPT:
		return hash_crypt(password, "$2b$", BCRYPT_COST, err);
	case MC_PW_SHA512_CRYPT:
		return hash_crypt(password, "$6$", 0, err);
	case MC_PW_ARGON2ID:
		return hash_argon2id(password, err);
	}
	mc_error_set(err, MC_ERR_INVALID, "unknown password scheme");
	return NULL;
}

/* Verifies against a crypt(3) hash: 1, 0 or -1. crypt reproduces the
 * setting part and a checksum of fixed length, so an output of another
 * length means the stored string was no complete hash. */
static int verify_crypt(const char *password, const char *hash)
{
	char *out = crypt_dup(password, hash);
	size_t len = strlen(hash);
	int ret = -1;

	if (out == NULL)
		return -1;
	if (strlen(out) == len)
		ret = CRYPTO_memcmp(out, hash, len) == 0;
	mc_secure_zero(out, strlen(out));
	free(out);
	return ret;
}

/* Verifies against an Argon2id encoded hash: 1, 0 or -1. */
static int verify_argon2id(const char *password, const char *hash)
{
	int rc = argon2id_verify(hash, password, strlen(password));

	if (rc == ARGON2_OK)
		return 1;
	return rc == ARGON2_VERIFY_MISMATCH ? 0 : -1;
}

/* Checks a password against a stored hash of any supported scheme. */
int mc_password_verify(const char *password, const char *hash,
		       struct mc_error *err)
{
	enum mc_password_scheme scheme;
	int ret = -1;

	if (password != NULL && mc_password_hash_scheme(hash, &scheme)) {
		ret = scheme == MC_PW_ARGON2ID ? verify_argon2id(password, hash)
					       : verify_crypt(password, hash);
	}
	if (ret < 0)
		mc_error_set(err, MC_ERR_INVALID,
			     "unsupported or malformed password hash");
	return ret;
}

/* True when the hash should be replaced by one of the preferred scheme. */
bool mc_password_needs_rehash(const char *hash,
			      enum mc_password_scheme preferred)
{
	enum mc_password_scheme scheme;

	return !mc_password_hash_scheme(hash, &scheme) || scheme != preferred;
}
