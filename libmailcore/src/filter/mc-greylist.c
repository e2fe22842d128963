/* mc-greylist: the greylisting triplets and auto-allowed client networks
 * in Redis. Names are reduced to a (keyed) SHA-256 prefix before they
 * become keys; one Lua script per check reads and updates a triplet and
 * its client network at one instant. Also the exemption helper. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-greylist.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-str.h"

#define DEFAULT_DELAY	  300
#define DEFAULT_WINDOW	  (2 * 86400)
#define DEFAULT_ALLOW_TTL (36 * 86400)
#define DEFAULT_AUTO	  5
#define HASH_HEX	  32 /* hex digits of the digest in a key */
#define KEY_LEN		  48
#define NUM_LEN		  24
#define NET_LEN		  (INET6_ADDRSTRLEN + 8)

/* KEYS: the triplet, the client network. ARGV: now, delay, window, allow
 * TTL, auto-allow count (0 = never). A triplet is a hash: f the first
 * attempt, p the last pass (absent while pending); a client network: n
 * the passed triplets, l the last of them or of the network's allowed
 * messages. Returns {reason, retry_in}
 * with the reasons of enum mc_greylist_reason. */
static const char script[] =
	"local now, delay, win, ttl, auto = tonumber(ARGV[1]), "
	"tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), "
	"tonumber(ARGV[5]) "
	"local c = redis.call('HMGET', KEYS[2], 'n', 'l') "
	"local n, l = tonumber(c[1]) or 0, tonumber(c[2]) or 0 "
	"if now - l > ttl then n = 0 end "
	"if auto > 0 and n >= auto then redis.call('HSET', KEYS[2], 'l', now) "
	"redis.call('EXPIRE', KEYS[2], ttl) return {5, 0} end "
	"local t = redis.call('HMGET', KEYS[1], 'f', 'p') "
	"local f, p = tonumber(t[1]), tonumber(t[2]) "
	"if p and now - p <= ttl then redis.call('HSET', KEYS[1], 'p', now) "
	"redis.call('EXPIRE', KEYS[1], ttl) return {4, 0} end "
	"if f == nil or p or now - f > win then "
	"redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], 'f', now) "
	"redis.call('EXPIRE', KEYS[1], win) "
	"return {f == nil and 0 or 2, delay} end "
	"local d = math.max(now - f, 0) "
	"if d < delay then return {1, delay - d} end "
	"redis.call('HSET', KEYS[1], 'p', now) "
	"redis.call('EXPIRE', KEYS[1], ttl) "
	"if auto > 0 then "
	"redis.call('HMSET', KEYS[2], 'n', n + 1, 'l', now) "
	"redis.call('EXPIRE', KEYS[2], ttl) end "
	"return {3, 0}";

struct mc_greylist {
	unsigned delay_s, window_s, allow_ttl_s, auto_allow;
	unsigned v4_prefix, v6_prefix;
	struct mc_cidr nets[MC_ADDR_NETS_MAX];
	size_t net_count;
	char **domains;
	size_t domain_count;
	char *secret;
	size_t secret_len;
	struct mc_pool *pool;
};

/* A numeric IP as family and bytes (IPv4-mapped IPv6 as IPv4). */
struct ip {
	int family;
	unsigned char b[16];
};

/* v if nonzero, else def. */
static unsigned or_default(unsigned v, unsigned def)
{
	return v != 0 ? v : def;
}

/* Parses the exempt domains, lowercased, into gl's pool. */
static void domains_parse(struct mc_greylist *gl, const char *s)
{
	gl->domains = mc_str_split(gl->pool, s != NULL ? s : "", ", \t",
				   &gl->domain_count);
	for (size_t i = 0; i < gl->domain_count; i++)
		mc_str_lower(gl->domains[i]);
}

/* Copies the durations and counts of set, with their defaults. */
static void numbers_init(struct mc_greylist *gl,
			 const struct mc_greylist_settings *set)
{
	gl->delay_s = or_default(set->delay_s, DEFAULT_DELAY);
	gl->window_s = or_default(set->window_s, DEFAULT_WINDOW);
	gl->allow_ttl_s = or_default(set->allow_ttl_s, DEFAULT_ALLOW_TTL);
	gl->auto_allow = set->auto_allow_after < 0
				 ? 0
				 : or_default((unsigned)set->auto_allow_after,
					      DEFAULT_AUTO);
	gl->v4_prefix = or_default(set->v4_prefix, 24);
	gl->v6_prefix = or_default(set->v6_prefix, 64);
}

/* Parses the settings into a greylist. */
struct mc_greylist *mc_greylist_create(const struct mc_greylist_settings *set,
				       struct mc_error *err)
{
	if (set->v4_prefix > 32 || set->v6_prefix > 128) {
		mc_error_set(err, MC_ERR_INVALID,
			     "greylist network prefix out of range");
		return NULL;
	}
	struct mc_greylist *gl = mc_calloc(1, sizeof(*gl));
	gl->pool = mc_pool_create_secure("greylist", 0);
	numbers_init(gl, set);
	int n = mc_cidr_list_parse(
		set->exempt_networks != NULL ? set->exempt_networks : "",
		gl->nets, MC_ADDR_NETS_MAX, err);
	if (n < 0) {
		mc_error_prefix(err, "greylist exempt networks");
		mc_greylist_destroy(&gl);
		return NULL;
	}
	gl->net_count = (size_t)n;
	domains_parse(gl, set->exempt_domains);
	if (set->hash_secret != NULL && set->hash_secret[0] != '\0') {
		gl->secret = mc_pstrdup(gl->pool, set->hash_secret);
		gl->secret_len = strlen(gl->secret);
	}
	return gl;
}

/* Frees a greylist; accepts NULL. */
void mc_greylist_destroy(struct mc_greylist **gl)
{
	if (gl == NULL || *gl == NULL)
		return;
	mc_pool_destroy(&(*gl)->pool);
	free(*gl);
	*gl = NULL;
}

/* Parses a numeric IP; false when s is none. */
static bool ip_parse(const char *s, struct ip *ip)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	  0,
						 0, 0, 0, 0, 255, 255};
	memset(ip, 0, sizeof(*ip));
	if (s == NULL)
		return false;
	if (inet_pton(AF_INET, s, ip->b) == 1) {
		ip->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, ip->b) != 1)
		return false;
	ip->family = AF_INET6;
	if (memcmp(ip->b, mapped, 12) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		memset(ip->b + 4, 0, 12);
		ip->family = AF_INET;
	}
	return true;
}

/* The socket address of ip (port 0), for the mc-addr matchers. */
static void ip_sockaddr(const struct ip *ip, struct mc_sockaddr *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&sa->ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ip->b, 4);
		sa->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa->ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ip->b, 16);
		sa->len = sizeof(*sin6);
	}
}

/* True when domain (lowercase) is one of the exempt domains. */
static bool domain_exempt(const struct mc_greylist *gl, const char *domain)
{
	size_t len = strlen(domain);
	for (size_t i = 0; i < gl->domain_count; i++) {
		const char *d = gl->domains[i];
		size_t dl = strlen(d);
		if (d[0] == '.' ? len > dl && strcmp(domain + len - dl, d) == 0
				: strcmp(domain, d) == 0)
			return true;
	}
	return false;
}

/* Whether a message is never greylisted. */
bool mc_greylist_exempt(const struct mc_greylist *gl, const char *client_ip,
			const char *rcpt_domain, bool authenticated)
{
	struct ip ip;
	struct mc_sockaddr sa;
	if (authenticated)
		return true;
	if (rcpt_domain != NULL && rcpt_domain[0] != '\0') {
		char *d = mc_str_lower(mc_strdup(rcpt_domain));
		bool hit = domain_exempt(gl, d);
		free(d);
		if (hit)
			return true;
	}
	if (!ip_parse(client_ip, &ip))
		return false;
	ip_sockaddr(&ip, &sa);
	return mc_addr_is_loopback(&sa) ||
	       mc_cidr_list_match(gl->nets, gl->net_count, &sa);
}

/* The client network of ip as text: "192.0.2.0/24", "2001:db8::/64". */
static void network_str(const struct mc_greylist *gl, const struct ip *ip,
			char buf[NET_LEN])
{
	unsigned prefix = ip->family == AF_INET ? gl->v4_prefix : gl->v6_prefix;
	unsigned char b[16] = {0};
	char text[INET6_ADDRSTRLEN];
	for (unsigned i = 0; i < prefix / 8; i++)
		b[i] = ip->b[i];
	if (prefix % 8 != 0)
		b[prefix / 8] = ip->b[prefix / 8] & (0xff << (8 - prefix % 8));
	inet_ntop(ip->family, b, text, sizeof(text));
	snprintf(buf, NET_LEN, "%s/%u", text, prefix);
}

/* Appends the lowercased envelope sender, without a BATV prvs= tag. */
static void sender_append(struct mc_buf *buf, const char *sender)
{
	const char *at = strchr(sender, '@');
	if (at != NULL && strncasecmp(sender, "prvs=", 5) == 0) {
		const char *eq = strchr(sender + 5, '=');
		if (eq != NULL && eq < at)
			sender = eq + 1;
	}
	for (const char *p = sender; *p != '\0'; p++)
		mc_buf_append_c(buf, (char)tolower((unsigned char)*p));
}

/* The key prefix followed by the hex digest prefix of data. */
static void key_of(const struct mc_greylist *gl, const char *prefix,
		   const struct mc_buf *data, char key[KEY_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	if (gl->secret != NULL)
		HMAC(EVP_sha256(), gl->secret, (int)gl->secret_len,
		     (const unsigned char *)data->data, data->len, md, &md_len);
	else
		EVP_Digest(data->data, data->len, md, &md_len, EVP_sha256(),
			   NULL);
	if (md_len * 2 < HASH_HEX)
		abort();
	int o = snprintf(key, KEY_LEN, "%s", prefix);
	for (int i = 0; i < HASH_HEX / 2; i++)
		o += snprintf(key + o, KEY_LEN - (size_t)o, "%02x", md[i]);
}

/* The triplet's and the client network's keys. */
static void keys_build(const struct mc_greylist *gl, const struct ip *ip,
		       const char *sender, const char *rcpt, char tkey[KEY_LEN],
		       char ckey[KEY_LEN])
{
	char net[NET_LEN];
	struct mc_buf buf;
	network_str(gl, ip, net);
	mc_buf_init(&buf, NULL, 0);
	mc_buf_append(&buf, "c", 2); /* with its NUL: fields apart */
	mc_buf_append(&buf, net, strlen(net) + 1);
	key_of(gl, "mc:grey:c:", &buf, ckey);
	buf.data[0] = 't';
	sender_append(&buf, sender != NULL ? sender : "");
	mc_buf_append_c(&buf, '\0');
	for (const char *p = rcpt != NULL ? rcpt : ""; *p != '\0'; p++)
		mc_buf_append_c(&buf, (char)tolower((unsigned char)*p));
	key_of(gl, "mc:grey:t:", &buf, tkey);
	mc_buf_free(&buf);
}

/* Runs the script for the two keys: 0 with *result_r, or -1. */
static int run(const struct mc_greylist *gl, struct mc_redis *redis,
	       const char *tkey, const char *ckey, time_t now,
	       struct mc_greylist_result *result_r, struct mc_error *err)
{
	char args[5][NUM_LEN];
	snprintf(args[0], NUM_LEN, "%lld", (long long)now);
	snprintf(args[1], NUM_LEN, "%u", gl->delay_s);
	snprintf(args[2], NUM_LEN, "%u", gl->window_s);
	snprintf(args[3], NUM_LEN, "%u", gl->allow_ttl_s);
	snprintf(args[4], NUM_LEN, "%u", gl->auto_allow);
	const char *argv[] = {"EVAL",  script,	"2",	 tkey,	  ckey,
			      args[0], args[1], args[2], args[3], args[4]};
	redisReply *r = mc_redis_commandv(redis, 10, argv, NULL, err);
	if (r == NULL)
		return -1;
	bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		  r->element[0]->type == REDIS_REPLY_INTEGER &&
		  r->element[0]->integer >= MC_GREYLIST_NEW &&
		  r->element[0]->integer <= MC_GREYLIST_CLIENT;
	if (ok) {
		result_r->reason =
			(enum mc_greylist_reason)r->element[0]->integer;
		result_r->retry_in_s = (unsigned)r->element[1]->integer;
	}
	freeReplyObject(r);
	if (!ok)
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "greylist: unexpected reply from Redis");
	return ok ? 0 : -1;
}

/* Checks and records one attempt of a triplet. */
int mc_greylist_check(const struct mc_greylist *gl, struct mc_redis *redis,
		      const char *client_ip, const char *sender,
		      const char *rcpt, time_t now,
		      struct mc_greylist_result *result_r, struct mc_error *err)
{
	char tkey[KEY_LEN], ckey[KEY_LEN];
	struct ip ip;
	*result_r = (struct mc_greylist_result){0};
	if (!ip_parse(client_ip, &ip)) {
		mc_error_set(err, MC_ERR_INVALID, "greylist: bad client IP");
		return -1;
	}
	keys_build(gl, &ip, sender, rcpt, tkey, ckey);
	if (run(gl, redis, tkey, ckey, now, result_r, err) < 0)
		return -1;
	return result_r->reason >= MC_GREYLIST_PASSED;
}

/* The text of the deferral reply. */
const char *mc_greylist_reply_text(const struct mc_greylist_result *result,
				   char *buf, size_t size)
{
	snprintf(buf, size, "Greylisted, please try again in %u seconds",
		 result->retry_in_s);
	return buf;
}

/* The name of a reason, for logs and events. */
const char *mc_greylist_reason_name(enum mc_greylist_reason reason)
{
	static const char *const names[] = {"new",    "early", "restarted",
					    "passed", "known", "client"};
	return (unsigned)reason < sizeof(names) / sizeof(names[0])
		       ? names[reason]
		       : "?";
}
