/* mc-password: password hashing and verification. New hashes are yescrypt
 * by default (libcrypt); bcrypt, SHA512-CRYPT ($6$) and Argon2id
 * (libargon2) hashes verify too, so users migrated from other systems can
 * log in and be rehashed. Comparisons are constant-time. */
#ifndef MC_PASSWORD_H
#define MC_PASSWORD_H

#include <stdbool.h>

struct mc_error;

enum mc_password_scheme {
	MC_PW_YESCRYPT = 0, /* $y$ */
	MC_PW_BCRYPT,	    /* $2b$ */
	MC_PW_SHA512_CRYPT, /* $6$ */
	MC_PW_ARGON2ID,	    /* $argon2id$ */
};

/* "yescrypt", "bcrypt", "sha512-crypt", "argon2id". */
bool mc_password_scheme_parse(const char *name,
			      enum mc_password_scheme *scheme_r);
const char *mc_password_scheme_name(enum mc_password_scheme scheme);

/* Returns a new hash (caller free()s it) or NULL with err set. */
char *mc_password_hash(const char *password, enum mc_password_scheme scheme,
		       struct mc_error *err);
/* 1 = matches, 0 = does not, -1 = unknown or malformed hash (err set). */
int mc_password_verify(const char *password, const char *hash,
		       struct mc_error *err);
/* The scheme of a stored hash, false if unrecognised. */
bool mc_password_hash_scheme(const char *hash,
			     enum mc_password_scheme *scheme_r);
/* True when hash is not of the preferred scheme (rehash at next login). */
bool mc_password_needs_rehash(const char *hash,
			      enum mc_password_scheme preferred);

#endif
