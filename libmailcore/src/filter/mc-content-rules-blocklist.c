/* mc-content-rules-blocklist: a domain's attachment type blocklist, file
 * name extensions ("exe", "tar.gz") and declared MIME types
 * ("application/x-msdownload", or a top-level type with a star subtype),
 * checked before any content rule. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include "mc-content-rules-private.h"

#define EXT_MAX	  32
#define TOKEN_MAX 127

/* An RFC 2045 token of 1..TOKEN_MAX bytes (the star allowed if star). */
static bool token_valid(const char *s, size_t n, bool star)
{
	if (n == 0 || n > TOKEN_MAX)
		return false;
	if (star && n == 1 && s[0] == '*')
		return true;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("!#$&^_.+-", s[i]))
			return false;
	return true;
}

/* An extension: letters, digits, "_+~-", inner single dots. */
static bool ext_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > EXT_MAX || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_+~-.", *s))
			return false;
	return true;
}

/* The normalised entry (pool), or NULL when s is not a valid one. */
static const char *entry_parse(struct mc_pool *pool, const char *s)
{
	const char *slash = strchr(s, '/');
	if (slash != NULL) {
		if (!token_valid(s, (size_t)(slash - s), false) ||
		    !token_valid(slash + 1, strlen(slash + 1), true))
			return NULL;
		return mc_str_lower(mc_pstrdup(pool, s));
	}
	if (s[0] == '.')
		s++;
	return s[0] != '\0' && s[0] != '.' && ext_valid(s)
		       ? mc_str_lower(mc_pstrdup(pool, s))
		       : NULL;
}

int mc_content_rules_set_blocklist(struct mc_content_rules *rules,
				   const json_t *list,
				   enum mc_content_action action,
				   struct mc_error *err)
{
	size_t n = list != NULL ? json_array_size(list) : 0;

	if (action != MC_CONTENT_REJECT && action != MC_CONTENT_QUARANTINE) {
		mc_error_set(err, MC_ERR_INVALID,
			     "blocklist: the action is reject or quarantine");
		return -1;
	}
	if (list != NULL && !json_is_array(list)) {
		mc_error_set(err, MC_ERR_INVALID, "blocklist: not an array");
		return -1;
	}
	if (n > MC_CONTENT_BLOCKLIST_MAX) {
		mc_error_set(err, MC_ERR_LIMIT,
			     "blocklist: %zu entries, at most %d", n,
			     MC_CONTENT_BLOCKLIST_MAX);
		return -1;
	}
	const char **block =
		mc_palloc_array(rules->pool, n + 1, sizeof(*block));
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(list, i));
		block[i] = s != NULL ? entry_parse(rules->pool, s) : NULL;
		if (block[i] == NULL) {
			mc_error_set(
				err, MC_ERR_INVALID,
				"blocklist[%zu]: not an extension (\"exe\")"
				" or a MIME type (\"application/zip\")",
				i);
			return -1;
		}
	}
	rules->block = block;
	rules->block_count = n;
	rules->block_action = action;
	return 0;
}

/* Whether name (trailing dots and blanks ignored) ends in "." + ext. */
static bool name_has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);
	while (n > 0 && (name[n - 1] == '.' || name[n - 1] == ' ' ||
			 name[n - 1] == '\t'))
		n--;
	return n > e && name[n - e - 1] == '.' &&
	       strncasecmp(name + n - e, ext, e) == 0;
}

/* Whether the declared type matches a type entry (maybe "x/" + star). */
static bool type_matches(const char *type, const char *entry)
{
	size_t n = strlen(entry);
	if (n >= 2 && entry[n - 1] == '*' && entry[n - 2] == '/')
		return strncasecmp(type, entry, n - 1) == 0;
	return strcasecmp(type, entry) == 0;
}

bool cr_blocklist_match(const struct mc_content_rules *rules,
			const struct mc_content_attachment *att,
			const char **entry_r)
{
	for (size_t i = 0; i < rules->block_count; i++) {
		const char *e = rules->block[i];
		bool hit = strchr(e, '/') != NULL
				   ? att->type != NULL &&
					     type_matches(att->type, e)
				   : att->name != NULL &&
					     name_has_ext(att->name, e);
		if (hit) {
			*entry_r = e;
			return true;
		}
	}
	return false;
}
