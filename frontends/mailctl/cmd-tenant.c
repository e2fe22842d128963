/* mailctl tenant, domain: the top of the tenant model. */
#include <getopt.h>
#include <stdio.h>

#include "mailcore/mc-tenants.h"
#include "mailctl.h"

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
	if (mc_tenant_add(ctl->pg, argv[1], &err) < 0)
		return mailctl_fail(&err);
	printf("tenant %s added\n", argv[1]);
	mailctl_changed(ctl);
	return 0;
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
	if (mc_domain_add(ctl->pg, argv[optind], tenant, &err) < 0)
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
