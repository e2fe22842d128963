/* mailctl tenant, domain: the top of the tenant model. Each change is
 * audited (tenant.create, domain.create) in the transaction that makes
 * it. */
#include <getopt.h>
#include <stdio.h>

#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mailctl.h"

/* mc_tenant_add as a mailctl change (ctx: the name). */
static int tenant_add_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	return mc_tenant_add(pg, ctx, err);
}

/* tenant add NAME */
static int tenant_add(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_tenant_cmds[0],
				     "expected one tenant name");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct mailctl_audit au = {"tenant.create", argv[1],
				   json_pack("{ss}", "name", argv[1])};
	rc = mailctl_audited(ctl, tenant_add_change, argv[1], false, &au, &err);
	if (rc < 0)
		return mailctl_fail(&err);
	printf("tenant %s added\n", argv[1]);
	mailctl_changed(ctl);
	return 0;
}

struct domain_add {
	const char *domain, *tenant;
};

/* mc_domain_add as a mailctl change. */
static int domain_add_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct domain_add *d = ctx;
	return mc_domain_add(pg, d->domain, d->tenant, err);
}

/* The audit changes of domain add: the names, lower-cased. */
static json_t *domain_add_changes(const char *domain, const char *tenant)
{
	char name[MC_DOMAIN_MAX + 1], t[64];
	snprintf(name, sizeof(name), "%s", domain);
	snprintf(t, sizeof(t), "%s", tenant);
	return json_pack("{ssss}", "name", mc_str_lower(name), "tenant",
			 mc_str_lower(t));
}

/* domain add DOMAIN --tenant NAME */
static int domain_add(struct mailctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'}, {0}};
	const struct mailctl_cmd *cmd = &mailctl_tenant_cmds[1];
	const char *tenant = NULL;
	int opt;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (opt != 't')
			return mailctl_usage(cmd, "unknown option \"%s\"",
					     argv[optind - 1]);
		tenant = optarg;
	}
	if (optind != argc - 1 || tenant == NULL)
		return mailctl_usage(cmd,
				     "expected a domain and --tenant NAME");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct domain_add d = {argv[optind], tenant};
	struct mailctl_audit au = {"domain.create", argv[optind],
				   domain_add_changes(argv[optind], tenant)};
	if (mailctl_audited(ctl, domain_add_change, &d, false, &au, &err) < 0)
		return mailctl_fail(&err);
	printf("domain %s added to tenant %s\n", argv[optind], tenant);
	mailctl_changed(ctl);
	return 0;
}

const struct mailctl_cmd mailctl_tenant_cmds[] = {
	{"tenant", "add", "NAME", tenant_add},
	{"domain", "add", "DOMAIN --tenant NAME", domain_add},
	{0},
};
