/* mc-dnsbl: DNS blocklist scoring. The configuration parser (zones,
 * return-code filters, weights), the reversed query names, one A lookup
 * (and a TXT lookup when listed) per distinct zone through mc-dns, and
 * the score, per-zone hits and reject text of a check. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-dnsbl.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#define TXT_MAX	   200
#define REJECT_MAX 450 /* fits a reply line with its code and CRLF */
#define REV_MAX	   64  /* the 32 nibbles of IPv6, dotted, and a NUL */
#define QUERY_MAX  (REV_MAX + 1 + MC_DNSBL_ZONE_LEN)

static const char default_text[] = "Client host [$ip] blocked using $zone: "
				   "$reason";
static const char default_text_bare[] = "Client host [$ip] blocked using "
					"$zone";

struct mc_dnsbl {
	struct mc_dnsbl_zone *zones;
	size_t count;
	int threshold;
	char *reject_text; /* NULL: the defaults */
};

/* ---- configuration ---- */

/* Sets err for a bad item and returns -1. */
static int bad(struct mc_error *err, const char *item, const char *why)
{
	mc_error_set(err, MC_ERR_INVALID, "bad DNSBL entry \"%s\": %s", item,
		     why);
	return -1;
}

/* Parses a decimal 0..255 at *p; false when there is none. */
static bool octet_num(const char **p, unsigned *v_r)
{
	unsigned v = 0;
	int digits = 0;
	while (isdigit((unsigned char)**p) && digits < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	*v_r = v;
	return digits > 0 && digits < 4 && v <= 255;
}

/* Allows the values a..b in one octet's bit set. */
static void octet_allow(uint8_t set[32], unsigned a, unsigned b)
{
	for (unsigned v = a; v <= b; v++)
		set[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* One "[a;b..c]" list at *p (after its "["), into set. */
static bool octet_list(const char **p, uint8_t set[32])
{
	for (;;) {
		unsigned a, b;
		if (!octet_num(p, &a))
			return false;
		b = a;
		if ((*p)[0] == '.' && (*p)[1] == '.') {
			*p += 2;
			if (!octet_num(p, &b) || b < a)
				return false;
		}
		octet_allow(set, a, b);
		if (**p == ']') {
			(*p)++;
			return true;
		}
		if (**p != ';')
			return false;
		(*p)++;
	}
}

/* One octet field at *p: a number or a bracketed list. */
static bool octet_parse(const char **p, uint8_t set[32])
{
	unsigned v;
	if (**p == '[') {
		(*p)++;
		return octet_list(p, set);
	}
	if (!octet_num(p, &v))
		return false;
	octet_allow(set, v, v);
	return true;
}

/* The filter text s ("127.0.0.2;127.0.0.[4..6]") into z's patterns. */
static bool filter_parse(const char *s, struct mc_dnsbl_zone *z)
{
	for (;;) {
		if (z->pattern_count == MC_DNSBL_PATTERNS_MAX)
			return false;
		struct mc_dnsbl_pattern *pat = &z->patterns[z->pattern_count++];
		for (int i = 0; i < 4; i++) {
			if ((i > 0 && *s++ != '.') ||
			    !octet_parse(&s, pat->octet[i]))
				return false;
		}
		if (*s == '\0')
			return true;
		if (*s++ != ';')
			return false;
	}
}

/* A signed integer weight; false when s is none or out of range. */
static bool weight_parse(const char *s, int *w_r)
{
	char *end;
	errno = 0;
	long w = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 ||
	    isspace((unsigned char)*s) || w < -MC_DNSBL_WEIGHT_MAX ||
	    w > MC_DNSBL_WEIGHT_MAX)
		return false;
	*w_r = (int)w;
	return true;
}

/* The zone name s, checked and lowercased without its dot, into z. */
static bool zone_name(const char *s, struct mc_dnsbl_zone *z)
{
	size_t len = strlen(s), label = 0;
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > MC_DNSBL_ZONE_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' ? label == 0
			     : !(isalnum(c) || c == '-' || c == '_'))
			return false;
		label = c == '.' ? 0 : label + 1;
		if (label > 63)
			return false;
		z->zone[i] = (char)tolower(c);
	}
	z->zone[len] = '\0';
	return label > 0;
}

/* One "ZONE[=FILTER][*WEIGHT]" item (modified in place) into z. */
static int item_parse(char *item, struct mc_dnsbl_zone *z, struct mc_error *err)
{
	char *copy = mc_strdup(item), *star = strrchr(item, '*');
	char *eq = strchr(item, '=');
	int ret = 0;
	memset(z, 0, sizeof(*z));
	z->weight = 1;
	if (star != NULL)
		*star++ = '\0';
	if (eq != NULL)
		*eq++ = '\0';
	if (eq != NULL && star != NULL && eq > star)
		ret = bad(err, copy, "the weight goes last");
	else if (!zone_name(item, z))
		ret = bad(err, copy, "bad zone name");
	else if (eq != NULL && !filter_parse(eq, z))
		ret = bad(err, copy, "bad return-code filter");
	else if (star != NULL && !weight_parse(star, &z->weight))
		ret = bad(err, copy, "bad weight");
	free(copy);
	return ret;
}

/* Parses a configuration value into zone entries. */
int mc_dnsbl_zones_parse(const char *s, struct mc_dnsbl_zone *zones, size_t max,
			 struct mc_error *err)
{
	char *buf = mc_strdup(s != NULL ? s : ""), *save = NULL;
	int n = 0;
	for (char *item = strtok_r(buf, ", \t\r\n", &save); item != NULL;
	     item = strtok_r(NULL, ", \t\r\n", &save)) {
		if ((size_t)n == max) {
			n = bad(err, item, "too many zones");
			break;
		}
		if (item_parse(item, &zones[n], err) < 0) {
			n = -1;
			break;
		}
		n++;
	}
	free(buf);
	return n;
}

/* Parses the settings into a DNSBL checker. */
struct mc_dnsbl *mc_dnsbl_create(const struct mc_dnsbl_settings *set,
				 struct mc_error *err)
{
	if (set->threshold < 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DNSBL threshold must not be negative");
		return NULL;
	}
	struct mc_dnsbl *bl = mc_calloc(1, sizeof(*bl));
	bl->zones = mc_calloc(MC_DNSBL_ZONES_MAX, sizeof(*bl->zones));
	int n = mc_dnsbl_zones_parse(set->zones, bl->zones, MC_DNSBL_ZONES_MAX,
				     err);
	if (n < 0) {
		mc_dnsbl_destroy(&bl);
		return NULL;
	}
	bl->count = (size_t)n;
	bl->threshold = set->threshold != 0 ? set->threshold : 1;
	if (set->reject_text != NULL && set->reject_text[0] != '\0')
		bl->reject_text = mc_strdup(set->reject_text);
	return bl;
}

/* Frees a checker; accepts NULL. */
void mc_dnsbl_destroy(struct mc_dnsbl **bl)
{
	if (bl == NULL || *bl == NULL)
		return;
	free((*bl)->zones);
	free((*bl)->reject_text);
	free(*bl);
	*bl = NULL;
}

/* The number of zone entries. */
size_t mc_dnsbl_count(const struct mc_dnsbl *bl)
{
	return bl->count;
}

/* The name of a status, for logs. */
const char *mc_dnsbl_status_name(enum mc_dnsbl_status status)
{
	static const char *const names[] = {"not listed", "listed", "error"};
	return (unsigned)status < 3 ? names[status] : "?";
}

/* ---- checks ---- */

/* The reversed query label of a numeric IP into buf (REV_MAX); false
 * when ip is none. IPv4-mapped IPv6 is reversed as IPv4. */
static bool reverse_name(const char *ip, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	struct in6_addr a6;
	const unsigned char *b = a6.s6_addr;
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &a6) == 1) {
		snprintf(buf, REV_MAX, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
		return true;
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		snprintf(buf, REV_MAX, "%u.%u.%u.%u", b[15], b[14], b[13],
			 b[12]);
		return true;
	}
	for (int i = 0; i < 16; i++) {
		char *o = buf + (15 - i) * 4;
		o[0] = hex[b[i] & 15];
		o[1] = '.';
		o[2] = hex[b[i] >> 4];
		o[3] = i > 0 ? '.' : '\0';
	}
	return true;
}

/* The answer of one distinct zone. */
struct lookup {
	bool failed;
	const char *error;
	uint32_t codes[16]; /* 127.0.0.0/8 answers, host order */
	size_t code_count;
	const char *txt;
	bool txt_done;
};

/* Keeps the 127.0.0.0/8 answers of addrs in lk; a refusal code
 * (127.255.255.0/24) makes the lookup a failure. */
static void codes_keep(struct mc_pool *pool, const struct mc_sockaddr *addrs,
		       size_t n, struct lookup *lk)
{
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ss.ss_family != AF_INET)
			continue;
		const struct sockaddr_in *sin =
			(const struct sockaddr_in *)&addrs[i].ss;
		uint32_t a = ntohl(sin->sin_addr.s_addr);
		if (a >> 24 != 127)
			continue;
		if (a >> 8 == 0x7fffff) {
			lk->failed = true;
			lk->error = mc_psprintf(
				pool, "query refused (%u.%u.%u.%u)", a >> 24,
				a >> 16 & 255, a >> 8 & 255, a & 255);
		} else if (lk->code_count < 16) {
			lk->codes[lk->code_count++] = a;
		}
	}
	if (lk->code_count > 0)
		lk->failed = false; /* a listing with a refusal beside it */
}

/* Asks the A records of name into lk. */
static void lookup_run(struct mc_dns *dns, struct mc_pool *pool,
		       const char *name, struct lookup *lk)
{
	const struct mc_sockaddr *addrs;
	size_t n = 0;
	struct mc_error err = {0};
	memset(lk, 0, sizeof(*lk));
	if (mc_dns_addrs(dns, pool, name, 0, false, &addrs, &n, NULL, &err) <
	    0) {
		lk->failed = true;
		lk->error = mc_pstrdup(
			pool, err.msg[0] != '\0' ? err.msg : "lookup failed");
		return;
	}
	codes_keep(pool, addrs, n, lk);
}

/* A TXT reason fit for an SMTP reply: printable ASCII, TXT_MAX bytes. */
static const char *txt_clean(struct mc_pool *pool, const char *s)
{
	size_t len = strlen(s) > TXT_MAX ? TXT_MAX : strlen(s);
	char *out = mc_pstrndup(pool, s, len);
	for (char *p = out; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	return out;
}

/* The TXT reason of a listed zone (asked once); NULL when none. */
static const char *lookup_txt(struct mc_dns *dns, struct mc_pool *pool,
			      const char *name, struct lookup *lk)
{
	const char *const *txt;
	size_t n = 0;
	if (!lk->txt_done) {
		lk->txt_done = true;
		if (mc_dns_txt(dns, pool, name, &txt, &n, NULL, NULL) > 0)
			lk->txt = txt_clean(pool, txt[0]);
	}
	return lk->txt;
}

/* True when code matches one of z's patterns (or z has none). */
static bool code_matches(const struct mc_dnsbl_zone *z, uint32_t code)
{
	if (z->pattern_count == 0)
		return true;
	for (size_t i = 0; i < z->pattern_count; i++) {
		bool all = true;
		for (int o = 0; o < 4 && all; o++) {
			unsigned v = code >> (24 - 8 * o) & 255;
			all = z->patterns[i].octet[o][v / 8] >> (v % 8) & 1;
		}
		if (all)
			return true;
	}
	return false;
}

/* Fills hit from its zone's lookup. */
static void hit_fill(struct mc_pool *pool, const struct mc_dnsbl_zone *z,
		     const struct lookup *lk, struct mc_dnsbl_hit *hit)
{
	const char **codes =
		mc_palloc_array(pool, lk->code_count + 1, sizeof(*codes));
	hit->zone = z->zone;
	hit->weight = z->weight;
	hit->status = lk->failed ? MC_DNSBL_ERROR : MC_DNSBL_NOT_LISTED;
	hit->error = lk->failed ? lk->error : NULL;
	for (size_t i = 0; i < lk->code_count; i++) {
		uint32_t a = lk->codes[i];
		codes[i] = mc_psprintf(pool, "%u.%u.%u.%u", a >> 24,
				       a >> 16 & 255, a >> 8 & 255, a & 255);
		if (!lk->failed && code_matches(z, a))
			hit->status = MC_DNSBL_LISTED;
	}
	hit->codes = codes;
	hit->code_count = lk->code_count;
}

/* Appends template t to buf with $ip, $zone and $reason replaced. */
static void expand(struct mc_buf *buf, const char *t, const char *ip,
		   const char *zone, const char *reason)
{
	static const char *const names[] = {"$ip", "$zone", "$reason"};
	const char *values[] = {ip, zone, reason != NULL ? reason : ""};
	while (*t != '\0') {
		size_t i = 0;
		while (i < 3 && !mc_str_has_prefix(t, names[i]))
			i++;
		if (i < 3) {
			mc_buf_append_str(buf, values[i]);
			t += strlen(names[i]);
		} else {
			mc_buf_append_c(buf, *t++);
		}
	}
}

/* The reject text naming the listed hit of the largest weight. */
static const char *reject_text(const struct mc_dnsbl *bl, struct mc_pool *pool,
			       const char *ip, const struct mc_dnsbl_hit *hits)
{
	const struct mc_dnsbl_hit *top = NULL;
	struct mc_buf buf;
	for (size_t i = 0; i < bl->count; i++) {
		if (hits[i].status == MC_DNSBL_LISTED &&
		    (top == NULL || hits[i].weight > top->weight))
			top = &hits[i];
	}
	if (top == NULL)
		return NULL;
	const char *t = bl->reject_text != NULL ? bl->reject_text
			: top->txt != NULL	? default_text
						: default_text_bare;
	mc_buf_init(&buf, pool, 0);
	expand(&buf, t, ip, top->zone, top->txt);
	return mc_pstrndup(pool, mc_buf_cstr(&buf), REJECT_MAX);
}

/* The index of the first entry asking the same zone as entry i. */
static size_t first_of_zone(const struct mc_dnsbl *bl, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		if (strcmp(bl->zones[j].zone, bl->zones[i].zone) == 0)
			return j;
	}
	return i;
}

/* Looks entry i up (or reuses its zone's lookup) and fills its hit. */
static void check_one(const struct mc_dnsbl *bl, struct mc_dns *dns,
		      struct mc_pool *pool, const char *rev, size_t i,
		      struct lookup *lks, struct mc_dnsbl_hit *hit)
{
	const struct mc_dnsbl_zone *z = &bl->zones[i];
	size_t j = first_of_zone(bl, i);
	char name[QUERY_MAX];
	snprintf(name, sizeof(name), "%s.%s", rev, z->zone);
	if (j == i)
		lookup_run(dns, pool, name, &lks[i]);
	hit_fill(pool, z, &lks[j], hit);
	if (hit->status == MC_DNSBL_LISTED)
		hit->txt = lookup_txt(dns, pool, name, &lks[j]);
}

/* Asks every zone about a client and scores it. */
int mc_dnsbl_check(const struct mc_dnsbl *bl, struct mc_dns *dns,
		   struct mc_pool *pool, const char *client_ip,
		   const struct mc_dnsbl_result **result_r,
		   struct mc_error *err)
{
	char rev[REV_MAX];
	struct lookup lks[MC_DNSBL_ZONES_MAX];
	*result_r = NULL;
	if (!reverse_name(client_ip, rev)) {
		mc_error_set(err, MC_ERR_INVALID, "DNSBL: bad client IP");
		return -1;
	}
	struct mc_dnsbl_result *res = mc_palloc(pool, sizeof(*res));
	struct mc_dnsbl_hit *hits =
		mc_palloc_array(pool, bl->count + 1, sizeof(*hits));
	for (size_t i = 0; i < bl->count; i++) {
		check_one(bl, dns, pool, rev, i, lks, &hits[i]);
		if (hits[i].status == MC_DNSBL_LISTED)
			res->score += hits[i].weight;
	}
	res->hits = hits;
	res->hit_count = bl->count;
	res->query = mc_pstrdup(pool, rev);
	res->over = bl->count > 0 && res->score >= bl->threshold;
	if (res->over)
		res->reject_text = reject_text(bl, pool, client_ip, hits);
	*result_r = res;
	return res->over;
}
