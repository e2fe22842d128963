/* mc-error: error classes shared by every module. The class decides what a
 * client sees: TEMPORARY (database or Redis down, timeouts) becomes SMTP
 * 4xx / IMAP NO [UNAVAILABLE]; the others are permanent answers. Never turn
 * an outage into a bounce. */
#ifndef MC_ERROR_H
#define MC_ERROR_H

#include <stdbool.h>

enum mc_error_class {
	MC_ERR_NONE = 0,
	MC_ERR_TEMPORARY, /* retry later: outage, timeout, serialization */
	MC_ERR_PERMANENT, /* will fail again the same way */
	MC_ERR_NOTFOUND,  /* the named object does not exist */
	MC_ERR_EXISTS,	  /* duplicate: the object already exists */
	MC_ERR_INVALID,	  /* bad input: syntax, range, unknown key */
	MC_ERR_DENIED,	  /* not allowed: role, credentials, policy */
	MC_ERR_LIMIT,	  /* a configured limit would be exceeded */
	MC_ERR_STALE,	  /* the object changed since the caller read it */
};

/* A caller-owned error slot. Functions that can fail take a
 * struct mc_error *err which may be NULL. The first error set wins until
 * mc_error_clear(). */
struct mc_error {
	enum mc_error_class cls;
	char msg[512];
};

void mc_error_clear(struct mc_error *err);
void mc_error_set(struct mc_error *err, enum mc_error_class cls,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like mc_error_set but always overwrites a previous error. */
void mc_error_reset(struct mc_error *err, enum mc_error_class cls,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with "prefix: ". */
void mc_error_prefix(struct mc_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool mc_error_is_temporary(const struct mc_error *err);
/* "temporary", "permanent", "not found", "exists", "invalid", "denied",
 * "limit", "stale", "none". */
const char *mc_error_class_name(enum mc_error_class cls);
/* sysexits-style process exit code for a class: 75 (TEMPFAIL) for
 * temporary, 1 otherwise, 0 for none. */
int mc_error_exit_code(enum mc_error_class cls);

#endif
