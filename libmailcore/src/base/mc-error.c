/* mc-error: the caller-owned error slot every fallible function fills in,
 * and the mapping from error class to names and process exit codes. The
 * first error set wins until mc_error_clear(); mc_error_reset() overwrites. */
#include "mailcore/mc-error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Empties the slot. */
void mc_error_clear(struct mc_error *err)
{
	if (err == NULL)
		return;
	err->cls = MC_ERR_NONE;
	err->msg[0] = '\0';
}

/* Stores class and message, overwriting whatever was there. */
static void error_store(struct mc_error *err, enum mc_error_class cls,
			const char *fmt, va_list ap)
{
	err->cls = cls;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

/* Sets the error unless one is already set. */
void mc_error_set(struct mc_error *err, enum mc_error_class cls,
		  const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->cls != MC_ERR_NONE)
		return;
	va_start(ap, fmt);
	error_store(err, cls, fmt, ap);
	va_end(ap);
}

/* Sets the error, replacing an earlier one. */
void mc_error_reset(struct mc_error *err, enum mc_error_class cls,
		    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	error_store(err, cls, fmt, ap);
	va_end(ap);
}

/* Turns "msg" into "prefix: msg"; does nothing when no error is set. */
void mc_error_prefix(struct mc_error *err, const char *fmt, ...)
{
	char joined[2 * sizeof(err->msg) + 2];
	size_t len;
	va_list ap;
	int ret;

	if (err == NULL || err->cls == MC_ERR_NONE)
		return;
	va_start(ap, fmt);
	ret = vsnprintf(joined, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = ret > 0 ? (size_t)ret : 0;
	if (len >= sizeof(err->msg))
		len = sizeof(err->msg) - 1;
	memcpy(joined + len, ": ", 2);
	memcpy(joined + len + 2, err->msg, sizeof(err->msg));
	len = strnlen(joined, sizeof(err->msg) - 1);
	memcpy(err->msg, joined, len);
	err->msg[len] = '\0';
}

/* True when the error says "try again later". */
bool mc_error_is_temporary(const struct mc_error *err)
{
	return err != NULL && err->cls == MC_ERR_TEMPORARY;
}

/* A short lower-case name for cls. */
const char *mc_error_class_name(enum mc_error_class cls)
{
	switch (cls) {
	case MC_ERR_NONE:
		return "none";
	case MC_ERR_TEMPORARY:
		return "temporary";
	case MC_ERR_PERMANENT:
		return "permanent";
	case MC_ERR_NOTFOUND:
		return "not found";
	case MC_ERR_EXISTS:
		return "exists";
	case MC_ERR_INVALID:
		return "invalid";
	case MC_ERR_DENIED:
		return "denied";
	case MC_ERR_LIMIT:
		return "limit";
	case MC_ERR_STALE:
		return "stale";
	}
	return "unknown";
}

/* sysexits-style exit code: 0 none, 75 (EX_TEMPFAIL) temporary, else 1. */
int mc_error_exit_code(enum mc_error_class cls)
{
	if (cls == MC_ERR_NONE)
		return 0;
	return cls == MC_ERR_TEMPORARY ? 75 : 1;
}
