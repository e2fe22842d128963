/* mc-greylist: greylisting in Redis (shared by every node). A message is
 * seen as the triplet (client network, envelope sender, recipient); the
 * client network is the client's /24 for IPv4 (IPv4-mapped IPv6
 * included) and its /64 for IPv6, so a sender's pool of outbound hosts
 * counts as one client. The first attempt of a triplet is deferred (the
 * caller replies "451 4.7.1" with the retry hint); a retry at least
 * delay_s later and at most window_s after the first attempt passes and
 * the triplet is then allowed for allow_ttl_s, refreshed by each pass.
 * A retry before the delay stays deferred without restarting the clock;
 * one after the window starts over. Once auto_allow_after distinct
 * triplets of a client network have passed, the whole network is
 * allowed (refreshed by each of its messages), as postgrey's
 * auto-whitelist-clients does.
 *
 * Keys: "mc:grey:t:<h>" per triplet and "mc:grey:c:<h>" per client
 * network, <h> the first 32 hex digits of SHA-256 (HMAC-SHA-256 when
 * hash_secret is set: a /24 alone is easy to find again from a plain
 * hash) so no address is stored in clear; both keys carry a TTL (the
 * window while pending, allow_ttl_s once allowed). Each check is one Lua
 * script, so concurrent attempts of one triplet agree. The time is the
 * caller's (tests move it), the TTLs are Redis's.
 *
 * Exemptions are the caller's (authenticated clients, per-domain mode,
 * spam score), helped by mc_greylist_exempt() for loopback, the exempt
 * networks (which should include the trusted networks) and the exempt
 * recipient domains. Redis being down makes a check return -1
 * (MC_ERR_TEMPORARY): the pipeline then lets the message through (fail
 * open), as an unreachable DNS must not stop mail either.
 *
 * The object is immutable after creation: one may be shared by every
 * worker thread; each thread passes its own struct mc_redis. */
#ifndef MC_GREYLIST_H
#define MC_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct mc_error;
struct mc_greylist;
struct mc_redis;

struct mc_greylist_settings {
	unsigned delay_s;     /* before a retry passes; 0 = 300 */
	unsigned window_s;    /* a retry passes within; 0 = 2 days */
	unsigned allow_ttl_s; /* a passed triplet stays allowed; 0 = 36 days */
	/* passed triplets after which the client network is allowed;
	 * 0 = 5, negative = never */
	int auto_allow_after;
	/* prefix lengths of a client network; 0 = 24 and 64 */
	unsigned v4_prefix, v6_prefix;
	/* "10.0.0.0/8, 2001:db8::/32": never greylisted (NULL or "" =
	 * none; loopback always is) */
	const char *exempt_networks;
	/* "example.com, .example.org": recipient domains never
	 * greylisted; a leading dot means the subdomains (NULL = none) */
	const char *exempt_domains;
	/* the key of the HMAC naming Redis keys; NULL or "" = plain
	 * SHA-256 */
	const char *hash_secret;
};

/* Why a check answered as it did. */
enum mc_greylist_reason {
	MC_GREYLIST_NEW = 0,   /* first attempt: recorded, deferred */
	MC_GREYLIST_EARLY,     /* retry before the delay: deferred */
	MC_GREYLIST_RESTARTED, /* retry after the window: recorded again */
	MC_GREYLIST_PASSED,    /* retry in time: passes, now allowed */
	MC_GREYLIST_KNOWN,     /* an allowed triplet: passes */
	MC_GREYLIST_CLIENT,    /* an auto-allowed client network: passes */
};

struct mc_greylist_result {
	enum mc_greylist_reason reason;
	/* deferred: seconds until a retry passes (the reply's hint) */
	unsigned retry_in_s;
};

/* Parses the lists of set (strings are copied). NULL with err
 * (MC_ERR_INVALID, naming the bad item). The caller owns the result. */
struct mc_greylist *mc_greylist_create(const struct mc_greylist_settings *set,
				       struct mc_error *err);
/* Frees gl; accepts NULL and clears *gl. */
void mc_greylist_destroy(struct mc_greylist **gl);

/* True when the message is never greylisted: the client (numeric IP,
 * "192.0.2.1" or "2001:db8::1") is on loopback or in an exempt network,
 * the recipient domain is exempt (any case; may be NULL), or the client
 * authenticated. */
bool mc_greylist_exempt(const struct mc_greylist *gl, const char *client_ip,
			const char *rcpt_domain, bool authenticated);

/* Checks and records one attempt at time now of the triplet (client_ip
 * numeric; sender the envelope sender without <>, "" for the null
 * sender; rcpt the recipient address), both compared without regard to
 * case (a BATV "prvs=TAG=" prefix of the sender is dropped). 1 pass, 0
 * defer, with *result_r; -1 with err: MC_ERR_INVALID for a client_ip
 * that is no IP, otherwise Redis failed (MC_ERR_TEMPORARY when it
 * could not be reached; the caller fails open). */
int mc_greylist_check(const struct mc_greylist *gl, struct mc_redis *redis,
		      const char *client_ip, const char *sender,
		      const char *rcpt, time_t now,
		      struct mc_greylist_result *result_r,
		      struct mc_error *err);

/* The text of the 451 4.7.1 reply to a deferral into buf (size bytes),
 * "Greylisted, please try again in 300 seconds"; returns buf. */
const char *mc_greylist_reply_text(const struct mc_greylist_result *result,
				   char *buf, size_t size);

/* "new", "early", "restarted", "passed", "known", "client". */
const char *mc_greylist_reason_name(enum mc_greylist_reason reason);

#endif
