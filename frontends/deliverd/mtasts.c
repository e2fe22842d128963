/* mtasts: MTA-STS (RFC 8461) for a recipient domain. The _mta-sts TXT
 * record names the current policy id; when it differs from the cached
 * policy's (or nothing is cached), the policy is fetched from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt with libcurl (the
 * certificate verified, no redirects, 64 KiB at most; the host resolved
 * through mc-dns so [dns] upstream applies), parsed, and stored by
 * finish.c. A failed fetch keeps the cached policy; without one, mail
 * goes as if the domain had no policy (RFC 8461 section 5). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliverd.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-str.h"

#define POLICY_MAX	 65536
#define POLICY_MAX_MX	 32
#define POLICY_MAX_AGE	 31557600u
#define FETCH_TIMEOUT_MS 20000L

/* The body being downloaded. */
struct fetch {
	char buf[POLICY_MAX + 1];
	size_t len;
	bool too_big;
};

/* CURLOPT_WRITEFUNCTION: keeps at most POLICY_MAX bytes. */
static size_t on_data(char *data, size_t size, size_t n, void *ctx)
{
	struct fetch *f = ctx;
	size_t len = size * n;
	if (f->len + len > POLICY_MAX) {
		f->too_big = true;
		return 0; /* aborts the transfer */
	}
	memcpy(f->buf + f->len, data, len);
	f->len += len;
	return len;
}

/* The id= of a "v=STSv1; id=..." record, or NULL. */
static const char *record_id(struct mc_pool *pool, const char *txt)
{
	if (strncmp(txt, "v=STSv1", 7) != 0)
		return NULL;
	const char *id = strstr(txt, "id=");
	if (id == NULL)
		return NULL;
	id += 3;
	return mc_pstrndup(pool, id, strcspn(id, "; \t"));
}

/* The current policy id from DNS: 1, 0 (no record), -1 (lookup
 * failed). */
static int current_id(struct batch *b, const char **id_r)
{
	char name[300];
	snprintf(name, sizeof(name), "_mta-sts.%s", b->domain);
	const char *const *txt;
	size_t n = 0;
	struct mc_dns_answer ans = {0};
	struct mc_error err = {0};
	int rc = mc_dns_txt(b->d->dns, b->pool, name, &txt, &n, &ans, &err);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if ((*id_r = record_id(b->pool, txt[i])) != NULL)
			return 1;
	}
	return 0;
}

/* One "key: value" line of a policy into p. */
static bool policy_line(struct mc_pool *pool, char *line,
			struct sts_policy *p, bool *version_ok)
{
	char *colon = strchr(line, ':');
	if (colon == NULL)
		return true; /* ignored */
	*colon = '\0';
	char *key = mc_str_trim(line), *val = mc_str_trim(colon + 1);
	if (strcmp(key, "version") == 0)
		*version_ok = strcmp(val, "STSv1") == 0;
	else if (strcmp(key, "mode") == 0)
		p->mode = mc_pstrdup(pool, val);
	else if (strcmp(key, "max_age") == 0)
		p->max_age = (unsigned)strtoul(val, NULL, 10);
	else if (strcmp(key, "mx") == 0 && p->mx_count < POLICY_MAX_MX)
		p->mx[p->mx_count++] = mc_str_lower(mc_pstrdup(pool, val));
	return true;
}

/* Parses a policy body; false when it is not a valid STSv1 policy. */
static bool policy_parse(struct mc_pool *pool, char *text,
			 struct sts_policy *p)
{
	bool version_ok = false;
	p->mx = mc_palloc_array(pool, POLICY_MAX_MX + 1, sizeof(*p->mx));
	p->mx_count = 0;
	p->mode = NULL;
	for (char *save = NULL, *line = strtok_r(text, "\r\n", &save);
	     line != NULL; line = strtok_r(NULL, "\r\n", &save))
		policy_line(pool, line, p, &version_ok);
	if (!version_ok || p->mode == NULL)
		return false;
	if (p->max_age > POLICY_MAX_AGE)
		p->max_age = POLICY_MAX_AGE;
	p->enforce = strcmp(p->mode, "enforce") == 0;
	return p->enforce ? p->mx_count > 0
			  : strcmp(p->mode, "testing") == 0 ||
				    strcmp(p->mode, "none") == 0;
}

/* "mta-sts.DOMAIN:PORT:IP" for CURLOPT_RESOLVE, or NULL. */
static struct curl_slist *pin_host(struct batch *b, const char *host)
{
	const struct mc_sockaddr *addrs;
	size_t n = 0;
	struct mc_dns_answer ans = {0};
	struct mc_error err = {0};
	if (mc_dns_addrs(b->d->dns, b->pool, host, b->d->mta_sts_port, false,
			 &addrs, &n, &ans, &err) <= 0)
		return NULL;
	char ip[MC_ADDR_STR_MAX], entry[400];
	snprintf(entry, sizeof(entry), "%s:%d:%s", host, b->d->mta_sts_port,
		 mc_addr_ip_str(&addrs[0], ip));
	return curl_slist_append(NULL, entry);
}

/* Sets the transfer's options. */
static void fetch_options(CURL *h, struct batch *b, const char *url,
			  struct curl_slist *pin, struct fetch *f)
{
	const char *ca = mc_config_str(mc_service_config(b->d->service),
				       "delivery", "tls_ca_file");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, pin);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (*ca != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
}

/* Downloads the policy text; true with f filled on HTTP 200. */
static bool fetch(struct batch *b, struct fetch *f)
{
	char host[300], url[400];
	snprintf(host, sizeof(host), "mta-sts.%s", b->domain);
	snprintf(url, sizeof(url), "https://%s:%d/.well-known/mta-sts.txt",
		 host, b->d->mta_sts_port);
	struct curl_slist *pin = pin_host(b, host);
	CURL *h = pin != NULL ? curl_easy_init() : NULL;
	if (h == NULL) {
		curl_slist_free_all(pin);
		return false;
	}
	fetch_options(h, b, url, pin, f);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(pin);
	if (rc != CURLE_OK || status != 200)
		mc_log_info("MTA-STS %s: fetch failed: %s (HTTP %ld)", url,
			    curl_easy_strerror(rc), status);
	f->buf[f->len] = '\0';
	return rc == CURLE_OK && status == 200 && !f->too_big;
}

bool mtasts_policy(struct batch *b)
{
	const char *id = NULL;
	int rc = current_id(b, &id);
	if (rc <= 0 || (b->sts.present && strcmp(b->sts.id, id) == 0))
		return true; /* no record (or DNS down): the cache, if any */
	struct fetch *f = mc_malloc(sizeof(*f));
	f->len = 0;
	f->too_big = false;
	struct sts_policy p = {0};
	if (fetch(b, f) && policy_parse(b->pool, f->buf, &p)) {
		p.present = p.fresh = true;
		p.id = id;
		b->sts = p;
		mc_log_info("MTA-STS %s: policy %s mode %s", b->domain, id,
			    p.mode);
	}
	free(f);
	return true;
}

bool mtasts_mx_match(const struct sts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->mx_count; i++) {
		const char *pat = p->mx[i];
		if (pat[0] == '*' && pat[1] == '.') {
			const char *dot = strchr(host, '.');
			if (dot != NULL && dot != host &&
			    strcasecmp(dot, pat + 1) == 0)
				return true;
		} else if (strcasecmp(pat, host) == 0) {
			return true;
		}
	}
	return false;
}
