/* mc-login-throttle: failed logins counted in Redis per client IP and
 * per account, across every daemon and node, with a temporary block once
 * either count reaches its limit within the window. A success clears the
 * account's count. Redis being down never locks anyone out: the check
 * then allows the login (and says so through its return value). */
#ifndef MC_LOGIN_THROTTLE_H
#define MC_LOGIN_THROTTLE_H

#include <stdbool.h>

#include "mc-addr.h"

struct mc_config;
struct mc_error;
struct mc_redis;

struct mc_login_throttle {
	unsigned max_per_ip;   /* failures from one IP; 0 = no limit */
	unsigned max_per_user; /* failures for one login; 0 = no limit */
	unsigned window_s;     /* how long a failure counts (and blocks) */
	/* clients whose IP is never counted or blocked (webmail, proxies
	 * on loopback speak for many users) */
	struct mc_cidr exempt[MC_ADDR_NETS_MAX];
	size_t exempt_count;
};

/* The [auth] settings. */
void mc_login_throttle_from_config(const struct mc_config *cfg,
				   struct mc_login_throttle *t);

/* Before a password is checked: 1 go ahead, 0 blocked (too many recent
 * failures from ip or for login), -1 Redis unavailable (go ahead: the
 * caller may log it). login is compared without regard to case. */
int mc_login_throttle_check(struct mc_redis *redis,
			    const struct mc_login_throttle *t, const char *ip,
			    const char *login, struct mc_error *err);
/* After a wrong password (or an unknown login). Best effort. */
void mc_login_throttle_failed(struct mc_redis *redis,
			      const struct mc_login_throttle *t, const char *ip,
			      const char *login);
/* After a successful login: the account's count starts over. */
void mc_login_throttle_succeeded(struct mc_redis *redis,
				 const struct mc_login_throttle *t,
				 const char *login);

#endif
