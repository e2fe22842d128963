/* mc-str: growable NUL-terminated byte buffers (heap or pool backed, with
 * an optional size cap) and the strict string helpers the parsers share:
 * numbers, sizes, durations, booleans, ASCII case, trimming, splitting. */
#include "mailcore/mc-str.h"

#include "mailcore/mc-pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

/* An empty buffer; max 0 means unlimited. */
void mc_buf_init(struct mc_buf *buf, struct mc_pool *pool, size_t max)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->max = max;
	buf->pool = pool;
}

/* Frees heap memory (pool memory stays with the pool); buf is empty after. */
void mc_buf_free(struct mc_buf *buf)
{
	if (buf->pool == NULL)
		free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

/* Empties the buffer, keeping its memory. */
void mc_buf_clear(struct mc_buf *buf)
{
	buf->len = 0;
	if (buf->data != NULL)
		buf->data[0] = '\0';
}

/* Makes room for n more bytes and the NUL; false past max or overflow. */
static bool buf_reserve(struct mc_buf *buf, size_t n)
{
	size_t need, cap;
	char *data;

	if (!mc_size_add(buf->len, n, &need) ||
	    (buf->max != 0 && need > buf->max) || !mc_size_add(need, 1, &need))
		return false;
	if (need <= buf->cap)
		return true;
	cap = buf->cap < BUF_MIN_CAP ? BUF_MIN_CAP : buf->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (buf->pool == NULL) {
		data = mc_realloc(buf->data, cap);
	} else {
		data = mc_palloc(buf->pool, cap);
		if (buf->len != 0)
			memcpy(data, buf->data, buf->len);
	}
	buf->data = data;
	buf->cap = cap;
	return true;
}

/* Appends len bytes; nothing is appended when max would be passed. */
bool mc_buf_append(struct mc_buf *buf, const void *data, size_t len)
{
	if (!buf_reserve(buf, len))
		return false;
	if (len != 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

/* Appends a C string. */
bool mc_buf_append_str(struct mc_buf *buf, const char *s)
{
	return mc_buf_append(buf, s, strlen(s));
}

/* Appends one byte. */
bool mc_buf_append_c(struct mc_buf *buf, char c)
{
	return mc_buf_append(buf, &c, 1);
}

/* Appends formatted text. */
bool mc_buf_printf(struct mc_buf *buf, const char *fmt, ...)
{
	va_list ap;
	bool ret;

	va_start(ap, fmt);
	ret = mc_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return ret;
}

/* Appends formatted text, all or nothing. */
bool mc_buf_vprintf(struct mc_buf *buf, const char *fmt, va_list ap)
{
	va_list ap2;
	int len;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0 || !buf_reserve(buf, (size_t)len))
		return false;
	vsnprintf(buf->data + buf->len, (size_t)len + 1, fmt, ap);
	buf->len += (size_t)len;
	return true;
}

/* Drops the first n bytes. */
void mc_buf_consume(struct mc_buf *buf, size_t n)
{
	if (n >= buf->len) {
		mc_buf_clear(buf);
		return;
	}
	memmove(buf->data, buf->data + n, buf->len - n);
	buf->len -= n;
	buf->data[buf->len] = '\0';
}

/* The contents as a C string, "" when nothing was ever appended. */
const char *mc_buf_cstr(const struct mc_buf *buf)
{
	return buf->data != NULL ? buf->data : "";
}

/* ASCII-only character class helpers, independent of the locale. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII lower case of c. */
static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* True for the blanks mc_str_trim removes. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

/* Parses leading decimal digits; *end_r is the first non-digit. */
static bool parse_digits(const char *s, uint64_t *value_r, const char **end_r)
{
	uint64_t v = 0;
	unsigned d;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*value_r = v;
	*end_r = s;
	return true;
}

/* Whole-string unsigned decimal. */
bool mc_str_to_u64(const char *s, uint64_t *value_r)
{
	const char *end;
	uint64_t v;

	if (!parse_digits(s, &v, &end) || *end != '\0')
		return false;
	*value_r = v;
	return true;
}

/* Whole-string signed decimal: an optional '-', never '+'. */
bool mc_str_to_i64(const char *s, int64_t *value_r)
{
	bool neg = *s == '-';
	uint64_t v;

	if (!mc_str_to_u64(s + (neg ? 1 : 0), &v))
		return false;
	if (neg && v > (uint64_t)INT64_MAX + 1)
		return false;
	if (!neg && v > (uint64_t)INT64_MAX)
		return false;
	if (neg)
		*value_r =
			v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*value_r = (int64_t)v;
	return true;
}

/* v * mult into *result_r, false on overflow. */
static bool mul_u64(uint64_t v, uint64_t mult, uint64_t *result_r)
{
	if (mult != 0 && v > UINT64_MAX / mult)
		return false;
	*result_r = v * mult;
	return true;
}

/* Binary multiplier of a size suffix ("" for bytes), 0 if unknown. */
static uint64_t size_unit(const char *suffix)
{
	static const char units[] = "kmgt";
	const char *p;

	if (*suffix == '\0')
		return 1;
	if (suffix[1] != '\0')
		return 0;
	p = strchr(units, to_lower(*suffix));
	return p == NULL ? 0 : (uint64_t)1 << (10 * (p - units + 1));
}

/* "512", "10k", "25M", "2G", "1T". */
bool mc_str_parse_size(const char *s, uint64_t *bytes_r)
{
	uint64_t v, mult;
	const char *end;

	if (!parse_digits(s, &v, &end) || (mult = size_unit(end)) == 0)
		return false;
	return mul_u64(v, mult, bytes_r);
}

/* Milliseconds per duration unit ("" = seconds), 0 if unknown. */
static uint64_t duration_unit(const char *suffix)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = {
		{"", 1000},   {"ms", 1},      {"s", 1000},
		{"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (mc_str_eq_icase(suffix, units[i].name))
			return units[i].ms;
	}
	return 0;
}

/* "250ms", "30s", "5m", "4h", "7d"; a bare number is seconds. */
bool mc_str_parse_duration_ms(const char *s, uint64_t *ms_r)
{
	uint64_t v, mult;
	const char *end;

	if (!parse_digits(s, &v, &end) || (mult = duration_unit(end)) == 0)
		return false;
	return mul_u64(v, mult, ms_r);
}

/* yes/no/true/false/on/off/1/0 in any case. */
bool mc_str_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (mc_str_eq_icase(s, yes[i])) {
			*value_r = true;
			return true;
		}
		if (mc_str_eq_icase(s, no[i])) {
			*value_r = false;
			return true;
		}
	}
	return false;
}

/* ASCII case-insensitive equality. */
bool mc_str_eq_icase(const char *a, const char *b)
{
	for (; *a != '\0' && to_lower(*a) == to_lower(*b); a++, b++)
		;
	return *a == '\0' && *b == '\0';
}

/* True when s starts with prefix (case-sensitive). */
bool mc_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True when s ends with suffix, ignoring ASCII case. */
bool mc_str_has_suffix_icase(const char *s, const char *suffix)
{
	size_t len = strlen(s), slen = strlen(suffix);

	return slen <= len && mc_str_eq_icase(s + len - slen, suffix);
}

/* Lower-cases ASCII letters in place. */
char *mc_str_lower(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		*p = to_lower(*p);
	return s;
}

/* Cuts trailing blanks and returns the first non-blank. */
char *mc_str_trim(char *s)
{
	size_t len;

	while (is_blank(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	s[len] = '\0';
	return s;
}

/* Splits at any of seps; items are trimmed, empty ones skipped. */
char **mc_str_split(struct mc_pool *pool, const char *s, const char *seps,
		    size_t *n_r)
{
	char *copy = mc_pstrdup(pool, s), *item, *p;
	size_t max = 1, n = 0;
	char **items;

	for (p = copy; *p != '\0'; p++)
		max += strchr(seps, *p) != NULL;
	items = mc_palloc_array(pool, max + 1, sizeof(*items));
	for (item = p = copy;; p++) {
		bool end = *p == '\0';

		if (!end && strchr(seps, *p) == NULL)
			continue;
		*p = '\0';
		item = mc_str_trim(item);
		if (*item != '\0')
			items[n++] = item;
		if (end)
			break;
		item = p + 1;
	}
	items[n] = NULL;
	if (n_r != NULL)
		*n_r = n;
	return items;
}
