/* mc-password-policy: the domain password policy: the rules a new password
 * must meet (length in code points, character classes, not the user name,
 * no control characters), expiry and reminder times, and a generator of
 * random passwords (OpenSSL RAND_bytes) that always meets the policy. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-password-policy.h"

#define DAY 86400

static const char *const class_names[] = {"lower", "upper", "digit", "symbol"};
static const char *const class_phrases[] = {
	"a lower-case letter", "an upper-case letter", "a digit", "a symbol"};

/* The generator's alphabets, one per class, without look-alikes. */
static const char *const gen_sets[] = {
	"abcdefghijkmnpqrstuvwxyz",
	"ABCDEFGHJKLMNPQRSTUVWXYZ",
	"23456789",
	"!#%*+-=?@_",
};

void mc_password_policy_init(struct mc_password_policy *policy)
{
	memset(policy, 0, sizeof(*policy));
	policy->min_length = 10;
	policy->reminder_days = 14;
}

unsigned int mc_password_policy_class_from_name(const char *name)
{
	for (unsigned int i = 0; i < 4; i++) {
		if (strcmp(name, class_names[i]) == 0)
			return 1u << i;
	}
	return 0;
}

const char *mc_password_policy_class_name(unsigned int bit)
{
	for (unsigned int i = 0; i < 4; i++) {
		if (bit == 1u << i)
			return class_names[i];
	}
	return NULL;
}

/* Length of the UTF-8 sequence a lead byte starts, 0 if it cannot lead. */
static size_t utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	return c < 0xf5 ? 4 : 0;
}

/* Decodes one UTF-8 sequence at s (n bytes left) into *cp_r; returns its
 * length, 0 when invalid (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = utf8_len(s[0]);
	uint32_t cp;

	if (len == 0 || len > n)
		return 0;
	cp = len == 1 ? s[0] : s[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		return 0;
	*cp_r = cp;
	return len;
}

/* The MC_PW_* class of a code point, 0 for a control character. */
static unsigned int char_class(uint32_t cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return 0;
	if (cp >= 'a' && cp <= 'z')
		return MC_PW_LOWER;
	if (cp >= 'A' && cp <= 'Z')
		return MC_PW_UPPER;
	if (cp >= '0' && cp <= '9')
		return MC_PW_DIGIT;
	return MC_PW_SYMBOL;
}

/* Scans password: its code points and classes; false with a reason for
 * bad UTF-8 or a control character. */
static bool scan(const char *password, size_t *n_cp_r, unsigned int *classes_r,
		 struct mc_error *err)
{
	const unsigned char *p = (const unsigned char *)password;
	size_t n = strlen(password), n_cp = 0;
	unsigned int classes = 0, cls;
	uint32_t cp;

	for (size_t i = 0, len; i < n; i += len, n_cp++) {
		if ((len = utf8_decode(p + i, n - i, &cp)) == 0) {
			mc_error_set(err, MC_ERR_INVALID, "not valid UTF-8");
			return false;
		}
		if ((cls = char_class(cp)) == 0) {
			mc_error_set(err, MC_ERR_INVALID,
				     "must not contain control characters");
			return false;
		}
		classes |= cls;
	}
	*n_cp_r = n_cp;
	*classes_r = classes;
	return true;
}

/* Sets "needs X, Y and Z" for the classes in missing. */
static void missing_classes(unsigned int missing, struct mc_error *err)
{
	char text[128] = "needs";
	unsigned int left = missing;

	for (unsigned int i = 0; i < 4; i++) {
		if ((missing & (1u << i)) == 0)
			continue;
		left &= ~(1u << i);
		strcat(text, text[5] == '\0' ? " "
			     : left != 0     ? ", "
					     : " and ");
		strcat(text, class_phrases[i]);
	}
	mc_error_set(err, MC_ERR_INVALID, "%s", text);
}

bool mc_password_policy_check(const char *password,
			      const struct mc_password_policy *policy,
			      const char *local_part, struct mc_error *err)
{
	unsigned int min = policy->min_length > 0 ? policy->min_length : 1;
	unsigned int classes, missing;
	size_t n_cp;

	if (strlen(password) > MC_PASSWORD_MAX_BYTES) {
		mc_error_set(err, MC_ERR_INVALID, "at most %d bytes",
			     MC_PASSWORD_MAX_BYTES);
		return false;
	}
	if (!scan(password, &n_cp, &classes, err))
		return false;
	if (n_cp < min) {
		mc_error_set(err, MC_ERR_INVALID, "at least %u character%s",
			     min, min == 1 ? "" : "s");
		return false;
	}
	missing = policy->classes & MC_PW_ALL & ~classes;
	if (missing != 0) {
		missing_classes(missing, err);
		return false;
	}
	if (local_part != NULL && strcasecmp(password, local_part) == 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "must not be the same as the user name");
		return false;
	}
	return true;
}

bool mc_password_policy_is_exception(const struct mc_password_policy *policy,
				     const char *local_part)
{
	if (local_part == NULL)
		return false;
	for (size_t i = 0; i < policy->n_exceptions; i++) {
		if (strcasecmp(policy->exceptions[i], local_part) == 0)
			return true;
	}
	return false;
}

int64_t mc_password_policy_expires_at(int64_t changed_at,
				      const struct mc_password_policy *policy,
				      const char *local_part)
{
	if (policy->max_age_days == 0 ||
	    mc_password_policy_is_exception(policy, local_part))
		return 0;
	return changed_at + (int64_t)policy->max_age_days * DAY;
}

bool mc_password_policy_expired(int64_t changed_at,
				const struct mc_password_policy *policy,
				const char *local_part, int64_t now)
{
	int64_t expires =
		mc_password_policy_expires_at(changed_at, policy, local_part);
	return expires != 0 && now >= expires;
}

bool mc_password_policy_reminder_due(int64_t changed_at,
				     const struct mc_password_policy *policy,
				     const char *local_part, int64_t now)
{
	int64_t expires =
		mc_password_policy_expires_at(changed_at, policy, local_part);

	if (expires == 0 || policy->reminder_days == 0 || now >= expires)
		return false;
	return now >= expires - (int64_t)policy->reminder_days * DAY;
}

/* A uniform random index below n (n <= 256) by rejection sampling over a
 * pool of random bytes refilled as needed; -1 when RAND_bytes fails. */
static int random_below(unsigned int n, unsigned char *pool, size_t size,
			size_t *used)
{
	unsigned int limit = 256 - 256 % n;

	for (;;) {
		if (*used == size) {
			if (RAND_bytes(pool, (int)size) != 1)
				return -1;
			*used = 0;
		}
		unsigned int b = pool[(*used)++];
		if (b < limit)
			return (int)(b % n);
	}
}

/* Fills buf[0..len) with one character of every class first, the rest
 * from all classes, then shuffles (Fisher-Yates). */
static bool fill_random(char *buf, size_t len, unsigned char *pool, size_t size)
{
	char all[96];
	size_t used = size;
	int r;

	snprintf(all, sizeof(all), "%s%s%s%s", gen_sets[0], gen_sets[1],
		 gen_sets[2], gen_sets[3]);
	for (size_t i = 0; i < len; i++) {
		const char *set = i < 4 ? gen_sets[i] : all;
		if ((r = random_below((unsigned int)strlen(set), pool, size,
				      &used)) < 0)
			return false;
		buf[i] = set[r];
	}
	for (size_t i = len - 1; i > 0; i--) {
		r = random_below((unsigned int)i + 1, pool, size, &used);
		if (r < 0)
			return false;
		char c = buf[i];
		buf[i] = buf[r];
		buf[r] = c;
	}
	return true;
}

bool mc_password_policy_generate(const struct mc_password_policy *policy,
				 char *buf, size_t size)
{
	size_t len = policy->min_length > MC_PASSWORD_GEN_MIN
			     ? policy->min_length
			     : MC_PASSWORD_GEN_MIN;
	unsigned char pool[256];
	bool ok;

	if (len > MC_PASSWORD_GEN_MAX || size < len + 1)
		return false;
	ok = fill_random(buf, len, pool, sizeof(pool));
	OPENSSL_cleanse(pool, sizeof(pool));
	if (!ok) {
		OPENSSL_cleanse(buf, size);
		return false;
	}
	buf[len] = '\0';
	return true;
}
