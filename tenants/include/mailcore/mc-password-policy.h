/* mc-password-policy: the password policy of a domain (domains.pw_*
 * columns, the JSON password_policy object): checking a new password
 * against it, when a password expires and when to remind, and generating
 * random passwords that always satisfy it. Lengths are Unicode code points
 * of the UTF-8 password. Character classes are ASCII: lower a-z, upper
 * A-Z, digit 0-9; every other allowed character (ASCII punctuation, space,
 * any non-ASCII character) counts as a symbol. */
#ifndef MC_PASSWORD_POLICY_H
#define MC_PASSWORD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_error;

/* Character classes (bits of mc_password_policy.classes). */
#define MC_PW_LOWER  0x01u
#define MC_PW_UPPER  0x02u
#define MC_PW_DIGIT  0x04u
#define MC_PW_SYMBOL 0x08u
#define MC_PW_ALL    0x0fu

/* Longest password accepted, in bytes. */
#define MC_PASSWORD_MAX_BYTES 1024
/* Longest generated password (the schema's largest pw_min_length); a
 * buffer for mc_password_policy_generate needs one byte more. */
#define MC_PASSWORD_GEN_MAX 128
/* Shortest generated password. */
#define MC_PASSWORD_GEN_MIN 16

/* The policy; the caller owns the strings. exceptions: local parts the
 * maximum age does not apply to (service accounts), compared
 * case-insensitively. */
struct mc_password_policy {
	unsigned int min_length;    /* code points; at least 1 is enforced */
	unsigned int classes;	    /* MC_PW_* bits that must all be present */
	unsigned int max_age_days;  /* 0 = passwords never expire */
	unsigned int reminder_days; /* remind this many days before expiry */
	const char *const *exceptions;
	size_t n_exceptions;
};

/* The schema defaults: 10 characters, no classes, no expiry, 14 days. */
void mc_password_policy_init(struct mc_password_policy *policy);

/* "lower", "upper", "digit", "symbol" <-> MC_PW_* (one bit); 0 / NULL
 * when unknown. */
unsigned int mc_password_policy_class_from_name(const char *name);
const char *mc_password_policy_class_name(unsigned int bit);

/* Checks a new password for the user local_part (may be NULL). true, or
 * false with MC_ERR_INVALID and a reason naming the first rule broken:
 * "at most 1024 bytes", "not valid UTF-8", "must not contain control
 * characters", "at least 12 characters", "needs a digit" (every missing
 * class is named: "needs an upper-case letter, a digit and a symbol"),
 * "must not be the same as the user name". The password is not copied. */
bool mc_password_policy_check(const char *password,
			      const struct mc_password_policy *policy,
			      const char *local_part, struct mc_error *err);

/* True when local_part is one of the policy's exceptions. */
bool mc_password_policy_is_exception(const struct mc_password_policy *policy,
				     const char *local_part);
/* When a password set at changed_at (Unix time) expires: 0 when the
 * policy has no maximum age or local_part is an exception. */
int64_t mc_password_policy_expires_at(int64_t changed_at,
				      const struct mc_password_policy *policy,
				      const char *local_part);
/* True when the password expires and now is at or past its expiry. */
bool mc_password_policy_expired(int64_t changed_at,
				const struct mc_password_policy *policy,
				const char *local_part, int64_t now);
/* True when the password expires, has not yet, and now is within
 * reminder_days of the expiry (never when reminder_days is 0). */
bool mc_password_policy_reminder_due(int64_t changed_at,
				     const struct mc_password_policy *policy,
				     const char *local_part, int64_t now);

/* Writes a random password of max(MC_PASSWORD_GEN_MIN, min_length) ASCII
 * characters from an unambiguous alphabet (no 0/O, 1/l/I), with at least
 * one character of every class, into buf (NUL-terminated). false when
 * size is too small, min_length is over MC_PASSWORD_GEN_MAX, or the
 * OpenSSL random generator fails (buf is then wiped). The caller wipes buf
 * when done. */
bool mc_password_policy_generate(const struct mc_password_policy *policy,
				 char *buf, size_t size);

#endif
