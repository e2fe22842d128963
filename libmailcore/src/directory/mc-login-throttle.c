/* mc-login-throttle: failed-login counters in Redis, "mc:lf:ip:IP" and
 * "mc:lf:u:LOGIN", each living window_s seconds from its first failure
 * (INCR, then EXPIRE when it was new, in one Lua call). It sits with the
 * directory rather than in auth/ because it needs Redis, which is above
 * auth in the dependency order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-str.h"

#define LOGIN_MAX 320

static const char incr_script[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	"return n";

void mc_login_throttle_from_config(const struct mc_config *cfg,
				   struct mc_login_throttle *t)
{
	t->max_per_ip = (unsigned)mc_config_int(cfg, "auth", "max_failures_ip");
	t->max_per_user =
		(unsigned)mc_config_int(cfg, "auth", "max_failures_user");
	t->window_s = (unsigned)(mc_config_duration_ms(cfg, "auth",
						       "failure_window") /
				 1000);
	int n = mc_cidr_list_parse(
		mc_config_str(cfg, "auth", "throttle_exempt_networks"),
		t->exempt, MC_ADDR_NETS_MAX, NULL);
	t->exempt_count = n > 0 ? (size_t)n : 0;
}

/* True when failures from ip count (it is not exempt). */
static bool ip_counts(const struct mc_login_throttle *t, const char *ip)
{
	struct mc_sockaddr sa;
	char buf[MC_ADDR_STR_MAX + 8];
	if (t->max_per_ip == 0)
		return false;
	snprintf(buf, sizeof(buf), strchr(ip, ':') != NULL ? "[%s]:1" : "%s:1",
		 ip);
	return mc_addr_parse(buf, &sa, NULL) < 0 ||
	       !mc_cidr_list_match(t->exempt, t->exempt_count, &sa);
}

/* The lower-cased login, cut to a sane length. */
static const char *norm_login(const char *login, char buf[LOGIN_MAX])
{
	snprintf(buf, LOGIN_MAX, "%s", login);
	return mc_str_lower(buf);
}

/* The count under key (0 when absent); -1 on error. */
static long long get_count(struct mc_redis *redis, const char *prefix,
			   const char *name, struct mc_error *err)
{
	redisReply *r = mc_redis_command(redis, err, "GET %s%s", prefix, name);
	if (r == NULL)
		return -1;
	long long n =
		r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
	freeReplyObject(r);
	return n;
}

int mc_login_throttle_check(struct mc_redis *redis,
			    const struct mc_login_throttle *t, const char *ip,
			    const char *login, struct mc_error *err)
{
	char l[LOGIN_MAX];
	if (t->max_per_ip == 0 && t->max_per_user == 0)
		return 1;
	long long by_ip =
		ip_counts(t, ip) ? get_count(redis, "mc:lf:ip:", ip, err) : 0;
	long long by_user =
		by_ip >= 0 && t->max_per_user > 0
			? get_count(redis, "mc:lf:u:", norm_login(login, l),
				    err)
			: 0;
	if (by_ip < 0 || by_user < 0)
		return -1;
	return (t->max_per_ip > 0 && by_ip >= t->max_per_ip) ||
			       (t->max_per_user > 0 &&
				by_user >= t->max_per_user)
		       ? 0
		       : 1;
}

/* Counts one failure under prefix+name. */
static void count_failure(struct mc_redis *redis, const char *prefix,
			  const char *name, unsigned window_s)
{
	char key[LOGIN_MAX + 16], ttl[16];
	struct mc_error err = {0};
	snprintf(key, sizeof(key), "%s%s", prefix, name);
	snprintf(ttl, sizeof(ttl), "%u", window_s > 0 ? window_s : 600);
	redisReply *r = mc_redis_command(redis, &err, "EVAL %s 1 %s %s",
					 incr_script, key, ttl);
	if (r != NULL)
		freeReplyObject(r);
}

void mc_login_throttle_failed(struct mc_redis *redis,
			      const struct mc_login_throttle *t, const char *ip,
			      const char *login)
{
	char l[LOGIN_MAX];
	if (ip_counts(t, ip))
		count_failure(redis, "mc:lf:ip:", ip, t->window_s);
	if (t->max_per_user > 0)
		count_failure(redis, "mc:lf:u:", norm_login(login, l),
			      t->window_s);
}

void mc_login_throttle_succeeded(struct mc_redis *redis,
				 const struct mc_login_throttle *t,
				 const char *login)
{
	char l[LOGIN_MAX];
	struct mc_error err = {0};
	if (t->max_per_user == 0)
		return;
	redisReply *r = mc_redis_command(redis, &err, "DEL mc:lf:u:%s",
					 norm_login(login, l));
	if (r != NULL)
		freeReplyObject(r);
}
