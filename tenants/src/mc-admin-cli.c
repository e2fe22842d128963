/* mc-admin-cli: the audit records of mailctl's older commands, which
 * change the tenant model through mc-tenants.h, not the operations: placed
 * at the target by the operations' finders (as the table owner, no RLS),
 * written by admin_audit as the provider "mailctl (<unix user>)". */
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-pg.h"
#include "mailcore/mc-str.h"
#include "mc-admin-private.h"

struct cli_audit {
	struct mc_admin *a;
	const char *action;
	char target[MC_ADDRESS_MAX + 1]; /* lower-cased */
	const json_t *changes;
};

/* Is the target of action a tenant name? */
static bool tenant_action(const char *action)
{
	return strncmp(action, "tenant.", 7) == 0 ||
	       strncmp(action, "network.", 8) == 0 ||
	       strncmp(action, "queue.", 6) == 0;
}

/* Places p at domain name, or at the domain it is an alias of. */
static int place_domain(struct mc_admin *a, const char *name,
			struct admin_place *p, struct mc_error *err)
{
	const char *params[] = {name};
	PGresult *res = admin_query(a,
				    "SELECT coalesce(m.name, d.name) FROM "
				    "domains d LEFT JOIN domains m ON m.id = "
				    "d.alias_for WHERE d.name = $1",
				    1, params, err);
	if (res == NULL)
		return -1;
	char primary[MC_DOMAIN_MAX + 1];
	bool found = PQntuples(res) > 0;
	if (found)
		snprintf(primary, sizeof(primary), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!found) {
		mc_error_set(err, MC_ERR_NOTFOUND, "no domain %s", name);
		return -1;
	}
	return admin_find_domain(a, primary, p, err);
}

/* Places p at address: its domain, and the user (with its department)
 * when the address is a user's rather than an alias. */
static int place_address(struct mc_admin *a, char *address,
			 struct admin_place *p, struct mc_error *err)
{
	char *at = strrchr(address, '@');
	struct mc_error uerr = {0};

	*at = '\0';
	int r = place_domain(a, at + 1, p, err);
	if (r == 0 && admin_find_user(a, address, p, &uerr) < 0) {
		/* not a user: the record stays at the domain */
		if (uerr.cls != MC_ERR_NOTFOUND) {
			mc_error_set(err, uerr.cls, "%s", uerr.msg);
			r = -1;
		}
	}
	*at = '@';
	return r;
}

/* Transaction body: place the record, then write it. */
static int audit_body(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct cli_audit *c = ctx;
	struct admin_place p;
	int r;

	(void)pg;
	if (strchr(c->target, '@') != NULL)
		r = place_address(c->a, c->target, &p, err);
	else if (tenant_action(c->action) && c->target[0] == '\0')
		r = (memset(&p, 0, sizeof(p)), 0); /* the provider's own */
	else if (tenant_action(c->action))
		r = admin_find_tenant(c->a, c->target, &p, err);
	else
		r = place_domain(c->a, c->target, &p, err);
	if (r < 0)
		return -1;
	return admin_audit(c->a, &p, c->action, c->target, c->changes, err);
}

int mc_admin_audit_cli(struct mc_pg *pg, const char *action, const char *target,
		       const json_t *changes, struct mc_error *err)
{
	struct mc_actor actor;
	struct cli_audit c = {.action = action, .changes = changes};

	if (strlen(target) >= sizeof(c.target)) {
		mc_error_set(err, MC_ERR_INVALID, "audit target too long");
		return -1;
	}
	snprintf(c.target, sizeof(c.target), "%s", target);
	mc_str_lower(c.target);
	mc_actor_mailctl(&actor);
	struct mc_admin_settings set = {.pg = pg, .actor = &actor};
	c.a = mc_admin_create(&set);
	int r = mc_pg_in_transaction(pg)
			? audit_body(pg, &c, err)
			: mc_pg_transaction(pg, audit_body, &c, err);
	mc_admin_destroy(&c.a);
	return r < 0 ? -1 : 0;
}
