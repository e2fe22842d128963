/* mc-admin: delegated administration of the tenant model, shared by the
 * REST API (api/) and mailctl. Every operation runs as an actor (a role
 * over a subtree of provider -> resellers -> tenant -> domain ->
 * departments -> user), finds its target only inside the actor's subtree
 * (else MC_ERR_NOTFOUND, so nothing outside is revealed), checks that the
 * role may do the action (else MC_ERR_DENIED), runs in one transaction
 * under row-level security (role mailcore_api, mailcore.scope), writes its
 * audit record in that transaction, and invalidates the directory cache
 * after commit. Resources go in and come out as JSON objects (jansson) of
 * the shapes documented in api/openapi.yaml. */
#ifndef MC_ADMIN_H
#define MC_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_config;
struct mc_error;
struct mc_pg;
struct mc_redis;

/* Roles, weakest first. A role may grant (role bindings, tokens) only
 * roles it holds itself or weaker ones, inside its own subtree; assistant
 * and department are not comparable with each other (domain is above
 * both). */
enum mc_role {
	MC_ROLE_USER = 0,   /* own settings and password */
	MC_ROLE_ASSISTANT,  /* a domain's aliases, groups and BCC rules */
	MC_ROLE_DEPARTMENT, /* the users of a department subtree */
	MC_ROLE_DOMAIN,	    /* one domain */
	MC_ROLE_TENANT,	    /* one tenant and its domains */
	MC_ROLE_RESELLER,   /* a reseller, its sub-resellers and tenants */
	MC_ROLE_PROVIDER,   /* everything */
};
/* "user", "assistant", "department", "domain", "tenant", "reseller",
 * "provider" (the names role_bindings.role stores). */
const char *mc_role_name(enum mc_role role);
/* false for an unknown name. */
bool mc_role_parse(const char *name, enum mc_role *role_r);

/* Who acts: a role over a subtree (ids of the scope's root and the levels
 * above it, 0 where none), as resolved from a token, a web session or
 * mailctl. */
struct mc_actor {
	enum mc_role role;
	int64_t reseller_id;   /* reseller role: the reseller */
	int64_t tenant_id;     /* tenant role and below */
	int64_t domain_id;     /* domain, assistant, department, user */
	int64_t department_id; /* department role */
	int64_t user_id;       /* user role: the user; else the holder or 0 */
	int64_t binding_id;    /* 0: mailctl */
	int64_t token_id;      /* 0: not a token */
	char name[160];	       /* for the audit log: "token 12 (deploy)",
				  "alice@acme.test", "mailctl (root)" */
	char client_ip[64];    /* "" = local */
	char request_id[64];   /* "" = none */
};

/* The actor mailctl runs as: provider, named after the Unix user. */
void mc_actor_mailctl(struct mc_actor *actor);

/* The audit record of a change that mailctl's older commands make
 * through mc-tenants.h instead of an operation, written as the operations
 * write theirs, by the actor of mc_actor_mailctl(). action is named like
 * the operations' ("user.create"); target is an address if it has an
 * '@', else a tenant name for tenant.* and network.* actions, else a
 * domain or domain alias name; it is recorded lower-cased. The record is
 * placed at the target, which must exist (looked up as the table owner,
 * no RLS role): an address at its domain and tenant (and the user's
 * department, if it is a user), a domain alias at its domain, a tenant
 * at the tenant. changes: the changed fields (NULL = {}; not stolen;
 * secrets already "***"). Runs in the caller's open transaction, so that
 * a change made in it and its record commit together; else in one of its
 * own, after the change. 0, or -1 with err (MC_ERR_NOTFOUND "no domain
 * x" when the target is not there). */
int mc_admin_audit_cli(struct mc_pg *pg, const char *action, const char *target,
		       const json_t *changes, struct mc_error *err);

struct mc_admin_settings {
	struct mc_pg *pg;	      /* the caller's connection */
	struct mc_redis *redis;	      /* cache invalidation; may be NULL */
	const struct mc_config *cfg;  /* server settings (DNS names, server
					 policy defaults); may be NULL */
	const struct mc_actor *actor; /* copied */
};
/* One caller's context (a request, a mailctl run). The caller owns it; it
 * does not own pg, redis or cfg. */
struct mc_admin *mc_admin_create(const struct mc_admin_settings *set);
void mc_admin_destroy(struct mc_admin **admin);
const struct mc_actor *mc_admin_actor(const struct mc_admin *admin);

/* Members to add to the problem document of the last failed operation
 * ({"limit": ..., "level": ..., "name": ..., "max": ...} for
 * MC_ERR_LIMIT, {"errors": [{"field", "detail"}]} for field errors), or
 * NULL. Owned by admin, valid until the next operation. */
const json_t *mc_admin_problem(const struct mc_admin *admin);

/* List options. Lists return {"items": [...], "next_cursor": "..." or
 * null}; items are in sort order, cursor continues after the last one. */
struct mc_admin_list {
	const char *cursor; /* NULL: from the start; opaque, from next_cursor */
	unsigned limit;	    /* 1..500; 0 = 50 */
	const char *sort;   /* "name", "-name", "created_at", ...; NULL =
			       the resource's default */
	const json_t *filters; /* object of query parameters (strings), e.g.
				  {"status": "active", "q": "ali"}; NULL */
};

/* One call of an operation: path parameters in the order of the route,
 * the request body, list options, the If-Match version. */
struct mc_admin_call {
	const char *args[4];
	size_t nargs;
	const json_t *body; /* JSON body (object); NULL when none */
	const char *raw;    /* non-JSON body (text/csv), raw_len bytes */
	size_t raw_len;
	const struct mc_admin_list *list; /* list operations; NULL = defaults */
	int64_t if_version; /* If-Match: the version the client saw; -1 any */
};

/* Every operation has this shape. *out_r (caller json_decref()s it) is
 * the resource (with its "version" for ETags), a list page, a report, or
 * NULL for deletes. Returns 0, or -1 with err classed:
 *   MC_ERR_NOTFOUND  no such object in the actor's subtree (404)
 *   MC_ERR_DENIED    in the subtree, but the role may not (403)
 *   MC_ERR_INVALID   bad input; mc_admin_problem() names the fields (422)
 *   MC_ERR_EXISTS    duplicate (409)
 *   MC_ERR_LIMIT     a limit at some level (409, mc_admin_problem())
 *   MC_ERR_STALE     If-Match version differs (412)
 *   MC_ERR_TEMPORARY database or Redis unavailable (503) */
typedef int mc_admin_op(struct mc_admin *admin,
			const struct mc_admin_call *call, json_t **out_r,
			struct mc_error *err);

/* The operations by name ("tenant.create"), for the REST routes and
 * mailctl. The table ends with a NULL name. */
struct mc_admin_op_def {
	const char *name;
	mc_admin_op *fn;
};
extern const struct mc_admin_op_def mc_admin_ops[];
/* The operation called name, or NULL. */
mc_admin_op *mc_admin_op_find(const char *name);

/* Authentication (runs as the database owner, before any scope):
 * token is "mct_" + 43 base64url characters. Fills actor from the token's
 * binding, checks expiry, revocation and source networks (client_ip),
 * records last use (at most once a minute). 0; -1 MC_ERR_DENIED for an
 * unknown, expired, revoked or out-of-network token (the text says which,
 * for the log only), MC_ERR_TEMPORARY. */
int mc_admin_token_authenticate(struct mc_pg *pg, const char *token,
				const char *client_ip, struct mc_actor *actor_r,
				struct mc_error *err);
/* The actor of role binding id held by a logged-in user (web sessions). */
int mc_admin_binding_actor(struct mc_pg *pg, int64_t binding_id,
			   struct mc_actor *actor_r, struct mc_error *err);

/* Maintenance, run periodically by mc-webd and by `mailctl maintain`:
 * purges users deleted more than 7 days ago with their mail, sends the
 * password expiry reminders that are due (into the users' INBOX; only
 * with cfg, which names the blob store), marks domains past their expiry
 * date expired, drops idempotency keys older than a day. Returns the
 * number of users purged, or -1. */
int mc_admin_maintain(struct mc_pg *pg, struct mc_redis *redis,
		      const struct mc_config *cfg, struct mc_error *err);

/* Self-registration (POST /api/v1/domains/{domain}/registrations, no
 * credentials). First, as the database owner (before any RLS scope): the
 * domain that takes registrations (active and unexpired, of an active
 * tenant, not a domain alias, self_registration open or approval): 1
 * with its ids, 0 when there is none (unknown, closed or inactive alike),
 * -1 TEMPORARY. The caller then runs registration.create [domain] as the
 * anonymous actor: MC_ROLE_USER with that tenant_id and domain_id and
 * user_id, binding_id, token_id 0. The operation accepts no other actor;
 * every other operation finds nothing for this one (it owns no user). */
int mc_admin_registration_domain(struct mc_pg *pg, const char *domain,
				 int64_t *tenant_id_r, int64_t *domain_id_r,
				 struct mc_error *err);
/* The per-client limit of registration attempts: counts one attempt of
 * client_ip (IPv6: its /64) in Redis, in a window of an hour from the
 * first. 1 allowed; 0 over max_per_hour (*retry_after_r: seconds until
 * the window ends); -1 TEMPORARY when Redis cannot count (redis NULL
 * too): the caller refuses then, this door being unauthenticated.
 * max_per_hour 0 = no limit (Redis is not asked). */
int mc_admin_registration_throttle(struct mc_redis *redis,
				   unsigned max_per_hour, const char *client_ip,
				   unsigned *retry_after_r,
				   struct mc_error *err);

/* Operations (the mc_admin_ops table holds them all; args in [] are the
 * path parameters):
 *   reseller.list/.create, reseller.get/.update/.delete [reseller]
 *   tenant.list/.create, tenant.get/.update/.delete [tenant]
 *   tenant.usage [tenant]
 *   domain.list (all visible), domain.list_tenant/.create [tenant]
 *   domain.get/.update/.delete/.usage [domain]
 *   domain_alias.list/.create [domain], domain_alias.delete [domain, alias]
 *   department.list/.create [domain], department.get/.update/.delete
 *     [domain, id]
 *   user.list/.create/.import/.batch/.export [domain]
 *   user.get/.update/.delete/.freeze/.restore/.password/.usage/.policy
 *     [domain, local]
 *   alias.list/.create [domain], alias.get/.update/.delete [domain, local]
 *   bcc.list/.create [domain], bcc.delete [domain, id]
 *   policy.list/.create [domain], policy.get/.update/.delete [domain, name]
 *   binding.list/.create, binding.get/.delete [id]
 *   token.list/.create, token.get/.delete [id]   (delete revokes)
 *   audit.list
 *   dkim.list/.create [domain], dkim.delete [domain, selector]
 *   dns.records [domain]
 *   me.get
 *   queue.list (all visible), queue.list_tenant [tenant],
 *     queue.list_domain [domain], queue.show/.hold/.release/.retry/.delete
 *     [queue_id]   (mc-queue.h in the actor's scope; domain admin and up)
 *   relay.list/.create, relay.delete [id]   (smarthost routes of
 *     mc-deliverd; the provider only)
 *   registration.create [domain]   (the anonymous actor only, see above) */

#endif
