/* mc-message-sort: SORT keys. The RFC 5256 section 2.1 base subject:
 *   subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
 *   subj-blob   = "[" *BLOBCHAR "]" *WSP
 *   subj-leader = (*subj-blob subj-refwd) / WSP
 *   subj-trailer = "(fwd)" / WSP ; subj-fwd = "[fwd:" subj-base "]"
 * and UTF-8 lower-casing (towlower in the C.UTF-8 locale). */
#include "mc-message-private.h"

#include "mailcore/mc-encword.h"

#include <locale.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale = (locale_t)0;

/* Opens the C.UTF-8 locale once (left (locale_t)0 when missing). */
static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decodes the valid UTF-8 sequence at s into *cp_r; 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
	if (n > len)
		return 0;
	cp = s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	*cp_r = cp;
	return n;
}

/* Appends code point cp as UTF-8. */
static void utf8_append(struct mc_buf *out, uint32_t cp)
{
	char b[4];

	if (cp < 0x80) {
		mc_buf_append_c(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		mc_buf_append(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		mc_buf_append(out, b, 3);
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		mc_buf_append(out, b, 4);
	}
}

/* Lower case of one code point. */
static uint32_t lower_cp(uint32_t cp)
{
	wint_t l;

	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	if (utf8_locale == (locale_t)0)
		return cp;
	l = towlower_l((wint_t)cp, utf8_locale);
	if (l == 0 || l > 0x10FFFF || (l >= 0xD800 && l <= 0xDFFF))
		return cp;
	return (uint32_t)l;
}

/* s with every character lower-cased, allocated from pool. */
const char *msg_lower_utf8(struct mc_pool *pool, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	struct mc_buf out;
	uint32_t cp;

	pthread_once(&utf8_once, utf8_locale_init);
	mc_buf_init(&out, pool, 0);
	for (size_t i = 0; i < len;) {
		size_t n = utf8_decode(u + i, len - i, &cp);

		if (n == 0) {
			mc_buf_append_c(&out, s[i++]);
			continue;
		}
		utf8_append(&out, lower_cp(cp));
		i += n;
	}
	return mc_buf_cstr(&out);
}

/* Step 1: encoded words decoded, blanks and line breaks turned into
 * single spaces. */
static char *normalize(struct mc_pool *pool, const char *raw, size_t *len_r)
{
	struct mc_buf dec;
	char *s;
	size_t n = 0;

	mc_buf_init(&dec, pool, 0);
	mc_encword_decode(raw, strlen(raw), &dec);
	s = mc_pstrdup(pool, mc_buf_cstr(&dec));
	for (size_t i = 0; s[i] != '\0'; i++) {
		char c = s[i] == '\t' || s[i] == '\r' || s[i] == '\n' ? ' '
								      : s[i];

		if (c == ' ' && n > 0 && s[n - 1] == ' ')
			continue;
		s[n++] = c;
	}
	s[n] = '\0';
	*len_r = n;
	return s;
}

/* Step 2: removes trailing blanks and "(fwd)" trailers. */
static void strip_trailers(const char *s, size_t *len)
{
	for (;;) {
		while (*len > 0 && s[*len - 1] == ' ')
			(*len)--;
		if (*len < 5 || strncasecmp(s + *len - 5, "(fwd)", 5) != 0)
			return;
		*len -= 5;
	}
}

/* Length of a subj-blob at s, 0 when there is none. */
static size_t blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != ']'; i++) {
		if (s[i] == '[')
			return 0;
	}
	if (i == len)
		return 0;
	for (i++; i < len && s[i] == ' '; i++)
		;
	return i;
}

/* Length of a subj-refwd at s, 0 when there is none. */
static size_t refwd_len(const char *s, size_t len)
{
	size_t i;

	if (len >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 &&
		 (strncasecmp(s, "re", 2) == 0 || strncasecmp(s, "fw", 2) == 0))
		i = 2;
	else
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	i += blob_len(s + i, len - i);
	return i < len && s[i] == ':' ? i + 1 : 0;
}

/* Length of a subj-leader at s, 0 when there is none. */
static size_t leader_len(const char *s, size_t len)
{
	size_t i = 0, n;

	if (len > 0 && s[0] == ' ')
		return 1;
	while ((n = blob_len(s + i, len - i)) > 0)
		i += n;
	n = refwd_len(s + i, len - i);
	return n > 0 ? i + n : 0;
}

/* Step 4: a leading subj-blob goes when something remains after it. */
static bool strip_blob(const char **s, size_t *len)
{
	size_t n = blob_len(*s, *len);

	if (n == 0)
		return false;
	for (size_t i = n; i < *len; i++) {
		if ((*s)[i] != ' ') {
			*s += n;
			*len -= n;
			return true;
		}
	}
	return false;
}

/* Steps 3 to 5: leaders and blobs removed until none is left. */
static void strip_leaders(const char **s, size_t *len)
{
	bool changed = true;
	size_t n;

	while (changed) {
		changed = false;
		while ((n = leader_len(*s, *len)) > 0) {
			*s += n;
			*len -= n;
			changed = true;
		}
		changed |= strip_blob(s, len);
	}
}

/* The RFC 5256 base subject of a raw Subject value, lower-cased. */
const char *msg_base_subject(struct mc_pool *pool, const char *raw)
{
	const char *s;
	size_t len;

	if (raw == NULL)
		return "";
	s = normalize(pool, raw, &len);
	for (;;) {
		strip_trailers(s, &len);
		strip_leaders(&s, &len);
		/* step 6: "[fwd:" subj-base "]" unwrapped, back to step 2 */
		if (len >= 6 && strncasecmp(s, "[fwd:", 5) == 0 &&
		    s[len - 1] == ']') {
			s += 5;
			len -= 6;
			continue;
		}
		break;
	}
	return msg_lower_utf8(pool, mc_pstrndup(pool, s, len));
}
