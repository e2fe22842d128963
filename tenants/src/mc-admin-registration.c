/* mc-admin-registration: self-registration (registration.create). An
 * anonymous visitor creates a mailbox in a domain whose self_registration
 * is "open" (active at once) or "approval" (pending, no login anywhere,
 * until an admin restores it), under every rule of user.create. Also what
 * mc-webd needs before the operation: the domain lookup (as the table
 * owner, for the actor's RLS scope) and the per-IP limit in Redis. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-str.h"
#include "mc-admin-users-private.h"

#define NUM		 24
#define DISPLAY_NAME_MAX 256
#define WINDOW_S	 3600 /* registrations_per_hour counts per hour */
#define KEY_PREFIX	 "mc:reg:ip:"

/* The domains that take registrations: active, not expired, of an active
 * tenant, not a domain alias, self_registration open or approval. */
#define OPEN_DOMAIN                                                            \
	" FROM domains d JOIN tenants t ON t.id = d.tenant_id WHERE "          \
	"d.alias_for IS NULL AND d.status = 'active' AND (d.expires_at IS "    \
	"NULL OR d.expires_at > now()) AND t.status = 'active' AND "           \
	"d.self_registration IN ('open', 'approval')"

/* INCR, the window started by the first attempt; returns {count, ttl}. */
static const char count_script[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"local ttl = redis.call('TTL', KEYS[1]) "
	"if n == 1 or ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) "
	"ttl = tonumber(ARGV[1]) end "
	"return {n, ttl}";

/* The one answer for a domain that is unknown, closed or not active:
 * which of them is not revealed. */
static int no_registration(const char *domain, struct mc_error *err)
{
	mc_error_reset(err, MC_ERR_NOTFOUND,
		       "no domain %.253s accepts registrations", domain);
	return -1;
}

/* Before the operation (mc-webd) -------------------------------------- */

int mc_admin_registration_domain(struct mc_pg *pg, const char *domain,
				 int64_t *tenant_id_r, int64_t *domain_id_r,
				 struct mc_error *err)
{
	const char *params[] = {domain};
	PGresult *res;
	int found;

	if (strlen(domain) > MC_DOMAIN_MAX)
		return 0;
	res = mc_pg_query(pg,
			  "SELECT d.tenant_id, d.id" OPEN_DOMAIN
			  " AND d.name = lower($1)",
			  1, params, err);
	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	if (found) {
		*tenant_id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*domain_id_r = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return found;
}

/* The counter of a client: its IPv4 address, or its IPv6 /64 (one
 * subscriber's usual allocation, so changing addresses does not reset the
 * count); an IPv4-mapped IPv6 address counts as the IPv4 one. */
static void client_key(const char *ip, char *key, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET6, ip, a) != 1) {
		snprintf(key, size, KEY_PREFIX "%s", ip);
		return;
	}
	if (memcmp(a, mapped, sizeof(mapped)) == 0 &&
	    inet_ntop(AF_INET, a + 12, text, sizeof(text)) != NULL) {
		snprintf(key, size, KEY_PREFIX "%s", text);
		return;
	}
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "%s", ip);
	snprintf(key, size, KEY_PREFIX "%s/64", text);
}

/* Reads the {count, ttl} reply of count_script. */
static int count_reply(const redisReply *r, long long *n_r, long long *ttl_r,
		       struct mc_error *err)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "redis: unexpected registration count reply");
		return -1;
	}
	*n_r = r->element[0]->integer;
	*ttl_r = r->element[1]->integer;
	return 0;
}

int mc_admin_registration_throttle(struct mc_redis *redis,
				   unsigned max_per_hour, const char *client_ip,
				   unsigned *retry_after_r,
				   struct mc_error *err)
{
	char key[sizeof(KEY_PREFIX) + 64], ttl[NUM];
	long long n = 0, left = 0;
	redisReply *r;
	int rc;

	*retry_after_r = 0;
	if (max_per_hour == 0)
		return 1;
	if (redis == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY, "redis: not configured");
		return -1;
	}
	client_key(client_ip, key, sizeof(key));
	r = mc_redis_command(redis, err, "EVAL %s 1 %s %s", count_script, key,
			     admin_id_text(WINDOW_S, ttl));
	if (r == NULL)
		return -1;
	rc = count_reply(r, &n, &left, err);
	freeReplyObject(r);
	if (rc < 0)
		return -1;
	if (n <= (long long)max_per_hour)
		return 1;
	*retry_after_r = left > 0 ? (unsigned)left : 1;
	return 0;
}

/* The operation ------------------------------------------------------- */

/* Is this the anonymous actor mc-webd builds for a registration: the
 * user role without a user, binding or token, in one domain? */
static bool anonymous(const struct mc_actor *ac)
{
	return ac->role == MC_ROLE_USER && ac->user_id == 0 &&
	       ac->binding_id == 0 && ac->token_id == 0 && ac->tenant_id > 0 &&
	       ac->domain_id > 0;
}

/* What the request gives and what the transaction produces. */
struct reg_ctx {
	const char *domain;
	char local[MC_LOCAL_PART_MAX + 1];
	const char *password, *display_name;
	char mode[16]; /* the domain's self_registration */
	char address[MC_ADDRESS_MAX + 1];
	const char *status; /* of the new user */
};

/* Role addresses that only administrators create: RFC 2142's mailbox
 * names, the addresses certificate authorities mail to prove control of
 * a domain (CA/Browser Forum BR 3.2.2.4.4), and the system senders. */
static const char *const reserved[] = {
	"abuse",      "admin",	"administrator", "ftp",
	"hostmaster", "info",	"mailer-daemon", "marketing",
	"news",	      "noc",	"no-reply",	 "noreply",
	"postmaster", "root",	"sales",	 "security",
	"support",    "usenet", "uucp",		 "webmaster",
	"www",	      NULL};

/* Is local one of the reserved role addresses? */
static bool is_reserved(const char *local)
{
	for (const char *const *r = reserved; *r != NULL; r++) {
		if (strcmp(local, *r) == 0)
			return true;
	}
	return false;
}

/* local_part: lower-cased into c->local, by the user.create rules, and
 * not a reserved role address. */
static int parse_local(struct mc_admin *a, const json_t *body,
		       struct reg_ctx *c, struct mc_error *err)
{
	const char *s;

	if (admin_get_string(a, body, "local_part", MC_LOCAL_PART_MAX, true,
			     false, &s, err) <= 0)
		return -1;
	snprintf(c->local, sizeof(c->local), "%s", s);
	mc_str_lower(c->local);
	if (!mc_tenants_valid_local_part(c->local)) {
		admin_field_error(a, err, "local_part",
				  "use 1 to 64 letters, digits, '.', '_' or "
				  "'-'");
		return -1;
	}
	if (!is_reserved(c->local))
		return 0;
	admin_field_error(a, err, "local_part",
			  "%s is reserved for the domain's administrators",
			  c->local);
	return -1;
}

/* The body {local_part, password, display_name?}. */
static int parse_body(struct mc_admin *a, const json_t *body, struct reg_ctx *c,
		      struct mc_error *err)
{
	static const char *const fields[] = {"local_part", "password",
					     "display_name", NULL};

	if (admin_body_check(a, body, fields, true, err) < 0 ||
	    parse_local(a, body, c, err) < 0 ||
	    admin_get_string(a, body, "password", MC_PASSWORD_MAX_BYTES, true,
			     false, &c->password, err) <= 0 ||
	    admin_get_string(a, body, "display_name", DISPLAY_NAME_MAX, false,
			     true, &c->display_name, err) < 0)
		return -1;
	return 0;
}

/* Re-reads, locked, whether the domain at p still takes registrations
 * and how (c->mode). */
static int domain_mode(struct mc_admin *a, const struct admin_place *p,
		       struct reg_ctx *c, struct mc_error *err)
{
	char tid[NUM], did[NUM];
	const char *params[] = {admin_id_text(p->tenant_id, tid),
				admin_id_text(p->domain_id, did)};
	PGresult *res = admin_query(a,
				    "SELECT d.self_registration" OPEN_DOMAIN
				    " AND d.tenant_id = $1 AND d.id = $2 FOR "
				    "UPDATE OF d",
				    2, params, err);
	int found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		snprintf(c->mode, sizeof(c->mode), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found ? 0 : no_registration(c->domain, err);
}

/* The "user.register" record beside user.create's: that the visitor
 * registered itself, and with which outcome. */
static int audit_register(struct mc_admin *a, const struct admin_place *p,
			  int64_t user_id, const struct reg_ctx *c,
			  struct mc_error *err)
{
	struct admin_place up = *p;
	json_t *ch = json_pack("{ssss}", "status", c->status,
			       "self_registration", c->mode);
	int r;

	up.level = ADMIN_AT_USER;
	up.user_id = user_id;
	snprintf(up.local, sizeof(up.local), "%s", c->local);
	r = admin_audit(a, &up, "user.register", c->address, ch, err);
	json_decref(ch);
	return r;
}

/* Transaction of registration.create. */
static int register_txn(struct mc_admin *a, void *ctx, struct mc_error *err)
{
	struct reg_ctx *c = ctx;
	struct admin_place p;
	struct admin_new_user u;
	int r;

	c->status = NULL;
	if (admin_find_domain(a, c->domain, &p, err) < 0 ||
	    domain_mode(a, &p, c, err) < 0)
		return -1;
	c->status = strcmp(c->mode, "open") == 0 ? "active" : "pending";
	u = (struct admin_new_user){.local_part = c->local,
				    .password = c->password,
				    .display_name = c->display_name,
				    .quota_bytes = -1,
				    .status = c->status};
	r = admin_user_insert(a, &p, &u, err);
	mc_secure_zero(u.generated, sizeof(u.generated));
	if (r < 0)
		return -1;
	snprintf(c->address, sizeof(c->address), "%s@%s", c->local, p.domain);
	return audit_register(a, &p, u.user_id, c, err);
}

/* What an anonymous client may learn of a failure: limits without the
 * tenant's name or size, outages without their cause (logged instead). */
static void public_error(struct mc_admin *a, const struct reg_ctx *c,
			 struct mc_error *err)
{
	if (err->cls == MC_ERR_LIMIT) {
		const char *limit =
			json_string_value(json_object_get(a->problem, "limit"));
		json_t *members = json_pack("{ss}", "limit",
					    limit != NULL ? limit : "users");

		json_decref(a->problem);
		a->problem = members;
		mc_error_reset(err, MC_ERR_LIMIT,
			       "%.253s accepts no more registrations",
			       c->domain);
	} else if (err->cls == MC_ERR_TEMPORARY) {
		mc_log_warning("registration (request %s): %s",
			       a->actor.request_id, err->msg);
		mc_error_reset(err, MC_ERR_TEMPORARY,
			       "registration is unavailable; retry later");
	} else if (err->cls == MC_ERR_NOTFOUND) {
		no_registration(c->domain, err);
	}
}

ADMIN_OP(admin_registration_create)
{
	struct reg_ctx c = {.domain = admin_arg(call, 0)};

	*out_r = NULL;
	json_decref(a->problem);
	a->problem = NULL;
	if (!anonymous(&a->actor)) {
		mc_error_set(err, MC_ERR_DENIED,
			     "registration.create is for visitors registering "
			     "themselves; administrators use user.create");
		return -1;
	}
	if (parse_body(a, call->body, &c, err) < 0)
		return -1;
	if (admin_txn(a, register_txn, &c, err) < 0) {
		public_error(a, &c, err);
		return -1;
	}
	*out_r = json_pack("{ssss}", "address", c.address, "status", c.status);
	return 0;
}
