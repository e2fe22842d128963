/* mc-dnsbl: DNS blocklist scoring of a client IP. Each configured zone is
 * asked for the client's reversed address (IPv4 octets, or the 32 IPv6
 * nibbles) below it; an A answer inside 127.0.0.0/8 that matches the
 * entry's return-code filter (if any) is a listing, and adds the entry's
 * weight to the score (a negative weight makes the zone an allowlist).
 * The score reaching the threshold makes the client "over".
 *
 * The zones come from a config value in postscreen_dnsbl_sites syntax:
 *
 *   zen.spamhaus.org*2, bl.example=127.0.0.4*3, allow.example*-5,
 *   zen.spamhaus.org=127.0.0.[10;11]*-1, multi.example=127.0.0.2;127.0.0.4
 *
 * items separated by commas or blanks: ZONE[=FILTER][*WEIGHT], weight an
 * integer (default 1). FILTER is one or more addresses separated by ";",
 * each octet a number, "[a..b]" or "[a;b;c]" (ranges allowed inside).
 * A zone may appear more than once (it is asked once per check).
 *
 * DNS failures never block mail: a zone that cannot be asked counts as
 * not listed and is reported as MC_DNSBL_ERROR for the caller to log. So
 * are the 127.255.255.0/24 answers, which the large lists use to say that
 * a query was refused (Spamhaus through a public resolver, over a
 * quota): a refusal is not a listing.
 *
 * An object is immutable after creation: one may be shared by every
 * worker thread (each check takes its resolver and pool). */
#ifndef MC_DNSBL_H
#define MC_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_dns;
struct mc_error;
struct mc_pool;
struct mc_dnsbl;

#define MC_DNSBL_ZONES_MAX    32    /* entries in one configuration */
#define MC_DNSBL_PATTERNS_MAX 8	    /* addresses in one filter */
#define MC_DNSBL_ZONE_LEN     189   /* longest zone: IPv6 query names fit */
#define MC_DNSBL_WEIGHT_MAX   10000 /* |weight| */

/* One address pattern of a filter: the values allowed for each octet. */
struct mc_dnsbl_pattern {
	uint8_t octet[4][32]; /* bit v of octet[i] set: value v allowed */
};

/* One parsed configuration entry. */
struct mc_dnsbl_zone {
	char zone[MC_DNSBL_ZONE_LEN + 1]; /* lowercase, no trailing dot */
	int weight;
	/* none: any 127.0.0.0/8 answer lists */
	struct mc_dnsbl_pattern patterns[MC_DNSBL_PATTERNS_MAX];
	size_t pattern_count;
};

/* Parses a configuration value into up to max entries (an empty string
 * gives 0). Returns the count, or -1 with err (MC_ERR_INVALID, naming
 * the bad item). */
int mc_dnsbl_zones_parse(const char *s, struct mc_dnsbl_zone *zones, size_t max,
			 struct mc_error *err);

struct mc_dnsbl_settings {
	const char *zones; /* the configuration value above */
	int threshold;	   /* score at which the client is over; 0 = 1,
			    * negative refused */
	/* the reject text, "$ip", "$zone" and "$reason" replaced; NULL:
	 * "Client host [$ip] blocked using $zone: $reason" (without ": "
	 * and reason when the zone gave no TXT) */
	const char *reject_text;
};

/* Parses set (strings are copied). NULL with err (MC_ERR_INVALID). The
 * caller owns the result. */
struct mc_dnsbl *mc_dnsbl_create(const struct mc_dnsbl_settings *set,
				 struct mc_error *err);
/* Frees bl; accepts NULL and clears *bl. */
void mc_dnsbl_destroy(struct mc_dnsbl **bl);
/* The number of zone entries (0: checks are free and never over). */
size_t mc_dnsbl_count(const struct mc_dnsbl *bl);

enum mc_dnsbl_status {
	MC_DNSBL_NOT_LISTED = 0,
	MC_DNSBL_LISTED,
	MC_DNSBL_ERROR, /* the zone could not be asked: not listed */
};

/* The answer of one entry (all strings from the check's pool). */
struct mc_dnsbl_hit {
	const char *zone;
	int weight;
	enum mc_dnsbl_status status;
	/* the zone's 127.0.0.0/8 answers ("127.0.0.2"), listed or not */
	const char *const *codes;
	size_t code_count;
	/* listed: the zone's TXT reason (first record, control characters
	 * replaced, cut to 200 bytes), NULL when it gave none */
	const char *txt;
	const char *error; /* MC_DNSBL_ERROR: why */
};

struct mc_dnsbl_result {
	int score;
	bool over;
	const struct mc_dnsbl_hit *hits; /* one per entry, in order */
	size_t hit_count;
	/* over: the reject text (naming the listed zone of the largest
	 * weight); NULL otherwise */
	const char *reject_text;
	const char *query; /* the reversed address, "2.0.0.127" */
};

/* Asks every zone about client_ip (numeric IPv4 or IPv6; IPv4-mapped
 * IPv6 is asked as IPv4). 1 over the threshold, 0 not, with *result_r
 * (pool); -1 with err (MC_ERR_INVALID) only when client_ip is no IP. */
int mc_dnsbl_check(const struct mc_dnsbl *bl, struct mc_dns *dns,
		   struct mc_pool *pool, const char *client_ip,
		   const struct mc_dnsbl_result **result_r,
		   struct mc_error *err);

/* "not listed", "listed", "error". */
const char *mc_dnsbl_status_name(enum mc_dnsbl_status status);

#endif
