/* mc-bayes-private: what the mc-bayes*.c files share: the settings with
 * defaults applied, the token set the tokenizer fills and the word
 * splitter the message pass feeds (mc-bayes-token.c), the message pass
 * (mc-bayes-text.c) and the scoring (mc-bayes-score.c). */
#ifndef MC_BAYES_PRIVATE_H
#define MC_BAYES_PRIVATE_H

#include "mailcore/mc-bayes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAYES_WORD_MIN 3
#define BAYES_WORD_MAX 30

struct mc_bayes {
	struct mc_bayes_settings set; /* defaults applied */
};

/* Distinct token hashes (open addressing, 0 = empty slot). */
struct bayes_tokens {
	int64_t *slots;
	size_t cap, count, max;
	bool full; /* max reached: further tokens are dropped */
};

/* mc-bayes-token.c */
void bayes_tokens_init(struct bayes_tokens *t, struct mc_pool *pool,
		       size_t max);
/* Adds prefix + word (hashed); false once the set is full. */
bool bayes_tokens_add(struct bayes_tokens *t, const char *prefix,
		      const char *word, size_t len);
/* The tokens sorted ascending, from pool. */
int64_t *bayes_tokens_sorted(const struct bayes_tokens *t,
			     struct mc_pool *pool);
/* Adds the words of UTF-8 text, each with prefix; with urls, URLs
 * become "u:host" tokens instead of words. */
void bayes_words(struct bayes_tokens *t, const char *prefix, const char *s,
		 size_t len, bool urls);
/* Adds "u:host" for every http(s) URL in s (HTML attributes). */
void bayes_urls(struct bayes_tokens *t, const char *s, size_t len);
/* True when s is well-formed UTF-8. */
bool bayes_utf8_valid(const char *s, size_t len);
/* Adds "f:domain" for the address of a From header value. */
void bayes_from_domain(struct bayes_tokens *t, const char *value, size_t len);

/* mc-bayes-text.c: reads the message and fills t. 0, or -1 with err. */
int bayes_read_message(const struct mc_bayes *bayes, struct bayes_tokens *t,
		       mc_bayes_read_fn *read, void *read_ctx,
		       struct mc_error *err);
/* Appends the text of HTML (tags dropped, entities decoded) to out and
 * the hosts of URLs in its tags to t. */
struct mc_buf;
void bayes_html_text(struct bayes_tokens *t, const char *s, size_t len,
		     struct mc_buf *out);

#endif
