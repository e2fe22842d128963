/* mc-str: growable byte buffers (binary safe, always NUL-terminated) and
 * the small string helpers the parsers share: strict number, size and
 * duration parsing, case-insensitive compares, trimming, splitting. */
#ifndef MC_STR_H
#define MC_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_pool;

/* A buffer allocates from pool when one is given (then mc_buf_free is a
 * no-op), from the heap otherwise. max (0 = unlimited) caps len: an append
 * that would pass it appends nothing and returns false. */
struct mc_buf {
	char *data;
	size_t len, cap, max;
	struct mc_pool *pool;
};

void mc_buf_init(struct mc_buf *buf, struct mc_pool *pool, size_t max);
void mc_buf_free(struct mc_buf *buf);
void mc_buf_clear(struct mc_buf *buf);
bool mc_buf_append(struct mc_buf *buf, const void *data, size_t len);
bool mc_buf_append_str(struct mc_buf *buf, const char *s);
bool mc_buf_append_c(struct mc_buf *buf, char c);
bool mc_buf_printf(struct mc_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool mc_buf_vprintf(struct mc_buf *buf, const char *fmt, va_list ap);
/* Drops the first n bytes (all if n >= len). */
void mc_buf_consume(struct mc_buf *buf, size_t n);
/* The contents as a C string; "" for an empty buffer. Owned by buf. */
const char *mc_buf_cstr(const struct mc_buf *buf);

/* Strict parsers: the whole string must match, no sign, no blanks.
 * Return false (result untouched) on syntax error or overflow. */
bool mc_str_to_u64(const char *s, uint64_t *value_r);
bool mc_str_to_i64(const char *s, int64_t *value_r);
/* "512", "10k", "25M", "2G", "1T" (binary multiples, case-insensitive). */
bool mc_str_parse_size(const char *s, uint64_t *bytes_r);
/* "250ms", "30s", "5m", "4h", "7d"; a bare number means seconds. */
bool mc_str_parse_duration_ms(const char *s, uint64_t *ms_r);
/* "yes/no/true/false/on/off/1/0", case-insensitive. */
bool mc_str_parse_bool(const char *s, bool *value_r);

bool mc_str_eq_icase(const char *a, const char *b);
bool mc_str_has_prefix(const char *s, const char *prefix);
bool mc_str_has_suffix_icase(const char *s, const char *suffix);
/* ASCII lower-casing in place; returns s. */
char *mc_str_lower(char *s);
/* Trims ASCII blanks in place; returns the trimmed start inside s. */
char *mc_str_trim(char *s);
/* Splits s at any of seps, trimming blanks and skipping empty items.
 * Returns a NULL-terminated array allocated from pool; count in *n_r. */
char **mc_str_split(struct mc_pool *pool, const char *s, const char *seps,
		    size_t *n_r);

#endif
