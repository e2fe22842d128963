/* mc-bayes-token: the tokenizer's lower half: UTF-8 text split into
 * lower-cased, digit-folded words of 3..30 bytes, URL hosts and the From
 * domain, each hashed (SHA-256, first 64 bits) into a bounded set of
 * distinct tokens. */
#include "mc-bayes-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "mailcore/mc-pool.h"

#define TOKEN_MAX 300 /* prefix + a host of 253 bytes, with room */
#define HOST_MAX  253

/* The stored form of one token: SHA-256, first 8 bytes big-endian. */
int64_t mc_bayes_token_hash(const char *token, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t v = 0;

	SHA256((const unsigned char *)token, len, md);
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return v == 0 ? 1 : (int64_t)v;
}

/* An empty set for at most max tokens, its slots from pool. */
void bayes_tokens_init(struct bayes_tokens *t, struct mc_pool *pool, size_t max)
{
	t->cap = 16;
	while (t->cap < max * 2)
		t->cap *= 2;
	t->slots = mc_palloc_array(pool, t->cap, sizeof(*t->slots));
	t->count = 0;
	t->max = max;
	t->full = max == 0;
}

/* Inserts hash h unless present; false once the set is full. */
static bool insert(struct bayes_tokens *t, int64_t h)
{
	size_t i = (size_t)((uint64_t)h & (t->cap - 1));

	while (t->slots[i] != 0) {
		if (t->slots[i] == h)
			return true;
		i = (i + 1) & (t->cap - 1);
	}
	if (t->full)
		return false;
	t->slots[i] = h;
	if (++t->count >= t->max)
		t->full = true;
	return true;
}

/* Adds prefix + word; false once the set is full. */
bool bayes_tokens_add(struct bayes_tokens *t, const char *prefix,
		      const char *word, size_t len)
{
	char buf[TOKEN_MAX];
	size_t plen = strlen(prefix);

	if (t->full)
		return false;
	if (plen + len > sizeof(buf))
		return true;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, word, len);
	return insert(t, mc_bayes_token_hash(buf, plen + len));
}

/* qsort order of int64_t. */
static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The tokens sorted ascending, from pool. */
int64_t *bayes_tokens_sorted(const struct bayes_tokens *t, struct mc_pool *pool)
{
	int64_t *v = mc_palloc_array(pool, t->count + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i] != 0)
			v[n++] = t->slots[i];
	}
	qsort(v, n, sizeof(*v), cmp_i64);
	return v;
}

/* Decodes one UTF-8 character of s (len > 0) into *cp; returns its
 * length. Malformed bytes come one at a time as U+FFFD. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
	uint32_t v;

	if (n == 1) {
		*cp = s[0];
		return 1;
	}
	*cp = 0xFFFD;
	if (s[0] < 0xC2 || s[0] > 0xF4 || n > len)
		return 1;
	v = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 1;
		v = v << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
	    (v >= 0xD800 && v <= 0xDFFF))
		return 1;
	*cp = v;
	return n;
}

/* True when s is well-formed UTF-8. */
bool bayes_utf8_valid(const char *s, size_t len)
{
	uint32_t c;

	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_next((const unsigned char *)s + i, len - i, &c);
		if (c == 0xFFFD && n == 1 && (unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

/* True for the characters words are made of. */
static bool is_word_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       (c >= '0' && c <= '9');
	if (c < 0xC0 || c == 0xD7 || c == 0xF7 || c == 0xFFFD)
		return false; /* C1 controls, Latin-1 punctuation, NBSP */
	if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F))
		return false; /* general and CJK punctuation, spaces */
	return !(c >= 0xFE30 && c <= 0xFE6F) && !(c >= 0xFF00 && c <= 0xFF0F);
}

/* Lower case of c for ASCII, Latin-1, Greek and Cyrillic capitals. */
static uint32_t lower_cp(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
		return c + 32;
	if ((c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
	    (c >= 0x410 && c <= 0x42F))
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

/* Writes c as UTF-8 into b (4 bytes of room); returns its length. */
static size_t utf8_put(char *b, uint32_t c)
{
	if (c < 0x80) {
		b[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (char)(0xC0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		b[0] = (char)(0xE0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3F));
		b[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	b[0] = (char)(0xF0 | c >> 18);
	b[1] = (char)(0x80 | (c >> 12 & 0x3F));
	b[2] = (char)(0x80 | (c >> 6 & 0x3F));
	b[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* A word being collected; too_long once it passed BAYES_WORD_MAX. */
struct word {
	char b[BAYES_WORD_MAX + 4];
	size_t len;
	bool too_long;
};

/* Appends character c, lower-cased and with digits folded to '0'. */
static void word_put(struct word *w, uint32_t c)
{
	char b[4];
	size_t n;

	c = c >= '0' && c <= '9' ? '0' : lower_cp(c);
	n = utf8_put(b, c);
	if (w->len + n > BAYES_WORD_MAX) {
		w->too_long = true;
		return;
	}
	memcpy(w->b + w->len, b, n);
	w->len += n;
}

/* Ends the word: adds it when its length fits, and starts a new one. */
static void word_end(struct bayes_tokens *t, const char *prefix, struct word *w)
{
	if (!w->too_long && w->len >= BAYES_WORD_MIN)
		bayes_tokens_add(t, prefix, w->b, w->len);
	w->len = 0;
	w->too_long = false;
}

/* True for the bytes a host name is made of (IDNs kept as UTF-8). */
static bool is_host_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c >= 0x80;
}

/* Adds "u:host" for the host at s; returns the bytes the host took. */
static size_t add_host(struct bayes_tokens *t, const char *s, size_t len)
{
	char host[HOST_MAX];
	size_t n = 0, h;

	while (n < len && is_host_byte((unsigned char)s[n]))
		n++;
	for (h = n; h > 0 && s[h - 1] == '.'; h--)
		;
	if (h > 0 && h <= sizeof(host)) {
		for (size_t i = 0; i < h; i++)
			host[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32)
							     : s[i];
		bayes_tokens_add(t, "u:", host, h);
	}
	return n;
}

/* The length of the URL scheme s starts with (0 for a "www." host, the
 * host being part of it), (size_t)-1 when s starts no URL. */
static size_t url_prefix(const char *s, size_t len)
{
	static const char *const prefixes[] = {"http://", "https://", "www."};

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(prefixes[i]);

		if (len > n && strncasecmp(s, prefixes[i], n) == 0)
			return i == 2 ? 0 : n;
	}
	return (size_t)-1;
}

/* True for the bytes that end a URL in text. */
static bool ends_url(unsigned char c)
{
	return c <= ' ' || c == '<' || c == '>' || c == '"' || c == '\'';
}

/* A URL at s: adds its host and returns its length, 0 if none. */
static size_t url_at(struct bayes_tokens *t, const char *s, size_t len)
{
	size_t skip = url_prefix(s, len), n;

	if (skip == (size_t)-1)
		return 0;
	n = skip + add_host(t, s + skip, len - skip);
	while (n < len && !ends_url((unsigned char)s[n]))
		n++;
	return n;
}

/* Adds the words of UTF-8 text (and URL hosts when urls). */
void bayes_words(struct bayes_tokens *t, const char *prefix, const char *s,
		 size_t len, bool urls)
{
	struct word w = {.len = 0};
	size_t i = 0, n;
	uint32_t c;

	while (i < len && !t->full) {
		if (urls && w.len == 0 && !w.too_long &&
		    (n = url_at(t, s + i, len - i)) > 0) {
			i += n;
			continue;
		}
		i += utf8_next((const unsigned char *)s + i, len - i, &c);
		if (is_word_cp(c))
			word_put(&w, c);
		else
			word_end(t, prefix, &w);
	}
	word_end(t, prefix, &w);
}

/* Adds "u:host" for every http(s) URL in s (HTML attributes). */
void bayes_urls(struct bayes_tokens *t, const char *s, size_t len)
{
	for (size_t i = 0; i + 7 < len; i++) {
		size_t skip = url_prefix(s + i, len - i);

		if (skip != (size_t)-1 && skip > 0)
			i += skip + add_host(t, s + i + skip, len - i - skip);
	}
}

/* Adds "f:domain" for the address of a From header value: the one in
 * <...> if any, else the whole value; the domain after its last '@'. */
void bayes_from_domain(struct bayes_tokens *t, const char *value, size_t len)
{
	const char *lt = memrchr(value, '<', len), *at, *end = value + len;
	char dom[HOST_MAX];
	size_t n = 0;

	if (lt != NULL) {
		const char *gt = memchr(lt, '>', (size_t)(end - lt));

		value = lt + 1;
		end = gt != NULL ? gt : end;
	}
	at = memrchr(value, '@', (size_t)(end - value));
	if (at == NULL)
		return;
	for (at++;
	     at < end && is_host_byte((unsigned char)*at) && n < sizeof(dom);
	     at++)
		dom[n++] = *at >= 'A' && *at <= 'Z' ? (char)(*at + 32) : *at;
	while (n > 0 && dom[n - 1] == '.')
		n--;
	if (n > 0)
		bayes_tokens_add(t, "f:", dom, n);
}
