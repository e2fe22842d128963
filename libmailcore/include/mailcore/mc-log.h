/* mc-log: leveled logging as plain lines or JSON lines, with a
 * per-connection context (session id, remote address, user...) that is
 * printed with every line logged through it. Thread-safe: one write(2) per
 * line. Secrets are never passed to the logger. */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum mc_log_level {
	MC_LOG_DEBUG = 0,
	MC_LOG_INFO,
	MC_LOG_NOTICE,
	MC_LOG_WARNING,
	MC_LOG_ERROR,
	MC_LOG_FATAL,
};

enum mc_log_format { MC_LOG_PLAIN = 0, MC_LOG_JSON };

#define MC_LOG_CTX_MAX_FIELDS 6
#define MC_LOG_CTX_VALUE_MAX  128

/* Context fields: key is a static string, the value is copied (and cut to
 * MC_LOG_CTX_VALUE_MAX - 1 bytes). Setting an existing key replaces it. */
struct mc_log_ctx {
	unsigned count;
	struct {
		const char *key;
		char value[MC_LOG_CTX_VALUE_MAX];
	} field[MC_LOG_CTX_MAX_FIELDS];
};

/* Process-wide setup; before it, lines go to stderr as plain at INFO.
 * fd < 0 means stderr. progname is copied. */
void mc_log_init(const char *progname, enum mc_log_level level,
		 enum mc_log_format format, int fd);
void mc_log_set_level(enum mc_log_level level);
enum mc_log_level mc_log_get_level(void);
bool mc_log_level_parse(const char *name, enum mc_log_level *level_r);
bool mc_log_format_parse(const char *name, enum mc_log_format *format_r);
const char *mc_log_level_name(enum mc_log_level level);

#define MC_LOG_SESSION_ID_LEN 17 /* 16 hex digits and the NUL */
/* A new random session id ("3FE7F6BBFB9FE8F4") for a connection's log
 * lines. */
void mc_log_session_id(char id[MC_LOG_SESSION_ID_LEN]);

void mc_log_ctx_init(struct mc_log_ctx *ctx);
void mc_log_ctx_set(struct mc_log_ctx *ctx, const char *key, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

/* Plain: "2026-11-23T16:15:30.123Z mc-smtpd[42] info: k=v k2=v2: message"
 * JSON:  {"ts":"...","level":"info","proc":"mc-smtpd","pid":42,
 *         "k":"v","k2":"v2","msg":"message"}
 * ctx may be NULL. Control characters in values and messages are escaped. */
void mc_logc(const struct mc_log_ctx *ctx, enum mc_log_level level,
	     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mc_logcv(const struct mc_log_ctx *ctx, enum mc_log_level level,
	      const char *fmt, va_list ap);

#define mc_log_debug(...)   mc_logc(NULL, MC_LOG_DEBUG, __VA_ARGS__)
#define mc_log_info(...)    mc_logc(NULL, MC_LOG_INFO, __VA_ARGS__)
#define mc_log_notice(...)  mc_logc(NULL, MC_LOG_NOTICE, __VA_ARGS__)
#define mc_log_warning(...) mc_logc(NULL, MC_LOG_WARNING, __VA_ARGS__)
#define mc_log_error(...)   mc_logc(NULL, MC_LOG_ERROR, __VA_ARGS__)

#endif
