/* mc-log: leveled logging to one file descriptor as plain text lines or
 * JSON lines (built with jansson), each carrying an optional context of
 * key=value fields. One write(2) per line under a lock; lines are cut to
 * LOG_LINE_MAX bytes and control characters never reach the output raw. */
#include "mailcore/mc-log.h"

#include "mailcore/mc-str.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192
#define LOG_CUT_MARK "..."

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_progname[64];
static enum mc_log_format log_format = MC_LOG_PLAIN;
static int log_fd = STDERR_FILENO;
static atomic_int log_level = MC_LOG_INFO;

static const char *const level_names[] = {
	[MC_LOG_DEBUG] = "debug",   [MC_LOG_INFO] = "info",
	[MC_LOG_NOTICE] = "notice", [MC_LOG_WARNING] = "warning",
	[MC_LOG_ERROR] = "error",   [MC_LOG_FATAL] = "fatal",
};

/* What one line needs from the process-wide settings. */
struct log_snapshot {
	char progname[sizeof(log_progname)];
	enum mc_log_format format;
	int fd;
};

/* Sets the process-wide destination, format and level. */
void mc_log_init(const char *progname, enum mc_log_level level,
		 enum mc_log_format format, int fd)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_progname, sizeof(log_progname), "%s",
		 progname != NULL ? progname : "");
	log_format = format;
	log_fd = fd < 0 ? STDERR_FILENO : fd;
	pthread_mutex_unlock(&log_lock);
	mc_log_set_level(level);
}

/* Lines below level are dropped. */
void mc_log_set_level(enum mc_log_level level)
{
	atomic_store(&log_level, (int)level);
}

/* The current threshold. */
enum mc_log_level mc_log_get_level(void)
{
	return (enum mc_log_level)atomic_load(&log_level);
}

/* "debug".."fatal", case-insensitive. */
bool mc_log_level_parse(const char *name, enum mc_log_level *level_r)
{
	for (int i = MC_LOG_DEBUG; i <= MC_LOG_FATAL; i++) {
		if (mc_str_eq_icase(name, level_names[i])) {
			*level_r = (enum mc_log_level)i;
			return true;
		}
	}
	return false;
}

/* "plain" or "json", case-insensitive. */
bool mc_log_format_parse(const char *name, enum mc_log_format *format_r)
{
	if (mc_str_eq_icase(name, "plain"))
		*format_r = MC_LOG_PLAIN;
	else if (mc_str_eq_icase(name, "json"))
		*format_r = MC_LOG_JSON;
	else
		return false;
	return true;
}

/* The lower-case name of level. */
const char *mc_log_level_name(enum mc_log_level level)
{
	if ((int)level < MC_LOG_DEBUG || level > MC_LOG_FATAL)
		return "unknown";
	return level_names[level];
}

/* An empty context. */
void mc_log_ctx_init(struct mc_log_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

/* Sets or replaces key; a new key beyond the limit is dropped. */
void mc_log_ctx_set(struct mc_log_ctx *ctx, const char *key, const char *fmt,
		    ...)
{
	unsigned i;
	va_list ap;

	for (i = 0; i < ctx->count; i++) {
		if (strcmp(ctx->field[i].key, key) == 0)
			break;
	}
	if (i == MC_LOG_CTX_MAX_FIELDS)
		return;
	if (i == ctx->count)
		ctx->count++;
	ctx->field[i].key = key;
	va_start(ap, fmt);
	vsnprintf(ctx->field[i].value, sizeof(ctx->field[i].value), fmt, ap);
	va_end(ap);
}

/* Logs one line with the fields of ctx (may be NULL). */
void mc_logc(const struct mc_log_ctx *ctx, enum mc_log_level level,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mc_logcv(ctx, level, fmt, ap);
	va_end(ap);
}

/* "2026-11-23T16:15:30.123Z" for now, in UTC. */
static void format_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + len, size - len, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* A fixed-size output area for one plain line. */
struct plain_out {
	char *buf;
	size_t len, size;
	bool full;
};

/* Appends n raw bytes, or marks the line full. */
static void plain_raw(struct plain_out *o, const char *s, size_t n)
{
	if (o->full || n > o->size - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Appends s with control characters written as \xNN. */
static void plain_escaped(struct plain_out *o, const char *s)
{
	char esc[5];

	for (; *s != '\0' && !o->full; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7f) {
			plain_raw(o, s, 1);
			continue;
		}
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		plain_raw(o, esc, 4);
	}
}

/* Appends "k=v k2=v2: " for a non-empty ctx. */
static void plain_ctx(struct plain_out *o, const struct mc_log_ctx *ctx)
{
	for (unsigned i = 0; ctx != NULL && i < ctx->count; i++) {
		plain_escaped(o, ctx->field[i].key);
		plain_raw(o, "=", 1);
		plain_escaped(o, ctx->field[i].value);
		if (i + 1 < ctx->count)
			plain_raw(o, " ", 1);
		else
			plain_raw(o, ": ", 2);
	}
}

/* Formats a plain line into line (LOG_LINE_MAX bytes); returns its length. */
static size_t format_plain(const struct log_snapshot *snap, const char *ts,
			   const struct mc_log_ctx *ctx,
			   enum mc_log_level level, const char *msg, bool cut,
			   char *line)
{
	struct plain_out o = {line, 0, LOG_LINE_MAX - sizeof(LOG_CUT_MARK),
			      false};
	char pid[32];

	plain_escaped(&o, ts);
	plain_raw(&o, " ", 1);
	plain_escaped(&o, snap->progname);
	snprintf(pid, sizeof(pid), "[%ld] ", (long)getpid());
	plain_escaped(&o, pid);
	plain_escaped(&o, mc_log_level_name(level));
	plain_raw(&o, ": ", 2);
	plain_ctx(&o, ctx);
	plain_escaped(&o, msg);
	if (o.full || cut) {
		memcpy(line + o.len, LOG_CUT_MARK, strlen(LOG_CUT_MARK));
		o.len += strlen(LOG_CUT_MARK);
	}
	line[o.len++] = '\n';
	return o.len;
}

/* Length of the valid UTF-8 sequence at p (at most avail bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

/* Copies s into out as valid UTF-8: bad bytes become the text \xNN. */
static void utf8_clean(const char *s, struct mc_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n;

	while (left > 0) {
		n = utf8_len(p, left);
		if (n == 0) {
			mc_buf_printf(out, "\\x%02x", *p);
			n = 1;
		} else {
			mc_buf_append(out, p, n);
		}
		p += n;
		left -= n;
	}
}

/* Adds key: value to obj as a JSON string, cleaning invalid UTF-8. */
static void json_set_clean(json_t *obj, const char *key, const char *value)
{
	struct mc_buf buf;

	mc_buf_init(&buf, NULL, 0);
	utf8_clean(value, &buf);
	json_object_set_new(obj, key, json_string(mc_buf_cstr(&buf)));
	mc_buf_free(&buf);
}

/* Adds the ctx fields; names taken by the line itself get a "ctx_". */
static void json_ctx(json_t *obj, const struct mc_log_ctx *ctx)
{
	char key[64];

	for (unsigned i = 0; ctx != NULL && i < ctx->count; i++) {
		snprintf(key, sizeof(key), "%s", ctx->field[i].key);
		if (json_object_get(obj, key) != NULL)
			snprintf(key, sizeof(key), "ctx_%s", ctx->field[i].key);
		json_set_clean(obj, key, ctx->field[i].value);
	}
}

/* Bytes c takes inside a JSON string as jansson writes it. */
static size_t json_width(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
	    c == '\r' || c == '\t')
		return 2;
	return c < 0x20 ? 6 : 1;
}

/* Drops characters from the end of a valid UTF-8 buffer until at least
 * n bytes of JSON output are gone, then marks the cut. */
static void utf8_cut(struct mc_buf *buf, size_t n)
{
	size_t len = buf->len, gone = 0;

	while (len > 0 && gone < n)
		gone += json_width((unsigned char)buf->data[--len]);
	while (len > 0 && ((unsigned char)buf->data[len] & 0xc0) == 0x80)
		len--;
	buf->len = len;
	buf->data[len] = '\0';
	mc_buf_append_str(buf, LOG_CUT_MARK);
}

/* Serialises obj with msg, cutting msg until the line fits. */
static size_t json_render(json_t *obj, struct mc_buf *msg, char *line)
{
	size_t len = 0;
	char *text;

	for (;;) {
		json_object_set_new(obj, "msg", json_string(mc_buf_cstr(msg)));
		text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text == NULL)
			return 0;
		len = strlen(text);
		if (len < LOG_LINE_MAX || msg->len == 0)
			break;
		free(text);
		utf8_cut(msg, len - (LOG_LINE_MAX - 1) + strlen(LOG_CUT_MARK));
	}
	len = len < LOG_LINE_MAX - 1 ? len : LOG_LINE_MAX - 1;
	memcpy(line, text, len);
	free(text);
	line[len++] = '\n';
	return len;
}

/* Formats a JSON line into line (LOG_LINE_MAX bytes); returns its length. */
static size_t format_json(const struct log_snapshot *snap, const char *ts,
			  const struct mc_log_ctx *ctx, enum mc_log_level level,
			  const char *msg, bool cut, char *line)
{
	json_t *obj = json_object();
	struct mc_buf buf;
	size_t len;

	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "level",
			    json_string(mc_log_level_name(level)));
	json_set_clean(obj, "proc", snap->progname);
	json_object_set_new(obj, "pid", json_integer((json_int_t)getpid()));
	json_ctx(obj, ctx);
	mc_buf_init(&buf, NULL, 0);
	utf8_clean(msg, &buf);
	if (cut)
		utf8_cut(&buf, 0);
	len = json_render(obj, &buf, line);
	mc_buf_free(&buf);
	json_decref(obj);
	return len;
}

/* Copies the settings a line needs, under the lock. */
static void take_snapshot(struct log_snapshot *snap)
{
	pthread_mutex_lock(&log_lock);
	memcpy(snap->progname, log_progname, sizeof(snap->progname));
	if (snap->progname[0] == '\0')
		snprintf(snap->progname, sizeof(snap->progname), "%s",
			 program_invocation_short_name);
	snap->format = log_format;
	snap->fd = log_fd;
	pthread_mutex_unlock(&log_lock);
}

/* Writes the whole line with one write(2) unless the kernel splits it. */
static void write_line(int fd, const char *line, size_t len)
{
	ssize_t ret;

	pthread_mutex_lock(&log_lock);
	while (len > 0) {
		ret = write(fd, line, len);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			break;
		line += ret;
		len -= (size_t)ret;
	}
	pthread_mutex_unlock(&log_lock);
}

/* Formats and writes one line if level passes the threshold. */
void mc_logcv(const struct mc_log_ctx *ctx, enum mc_log_level level,
	      const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX], ts[40];
	struct log_snapshot snap;
	int saved_errno = errno;
	size_t len;
	bool cut;

	if ((int)level < atomic_load(&log_level))
		return;
	cut = vsnprintf(msg, sizeof(msg), fmt, ap) >= (int)sizeof(msg);
	take_snapshot(&snap);
	format_timestamp(ts, sizeof(ts));
	if (snap.format == MC_LOG_JSON)
		len = format_json(&snap, ts, ctx, level, msg, cut, line);
	else
		len = format_plain(&snap, ts, ctx, level, msg, cut, line);
	write_line(snap.fd, line, len);
	errno = saved_errno;
}

void mc_log_session_id(char id[MC_LOG_SESSION_ID_LEN])
{
	unsigned char r[8];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(id + 2 * i, 3, "%02X", r[i]);
}
