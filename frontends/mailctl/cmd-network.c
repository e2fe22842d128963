/* mailctl network add, remove, list: the client networks that may relay
 * mail from a tenant's domains without authenticating. Changes are
 * audited (network.create, network.delete) in their transaction. */
#include <stdio.h>

#include "mailcore/mc-tenants.h"
#include "mailctl.h"

enum { NETWORK_ADD, NETWORK_REMOVE, NETWORK_LIST };

typedef int network_fn(struct mc_pg *pg, const char *tenant, const char *cidr,
		       struct mc_error *err);

struct network_change {
	network_fn *fn;
	const char *tenant, *cidr;
};

/* A network change as a mailctl change. */
static int network_apply(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct network_change *c = ctx;
	return c->fn(pg, c->tenant, c->cidr, err);
}

/* The audit changes: the network as stored ("addr/len"). */
static json_t *network_changes(const char *cidr)
{
	char net[MC_CIDR_MAX];
	struct mc_error err = {0};
	if (mc_tenants_parse_cidr(cidr, net, &err) < 0)
		snprintf(net, sizeof(net), "%s", cidr); /* refused anyway */
	return json_pack("{ss}", "network", net);
}

/* network add|remove TENANT CIDR, audited as action. */
static int network_change(struct mailctl *ctl, int argc, char **argv, int which,
			  network_fn *fn, const char *done, const char *action)
{
	if (argc != 3)
		return mailctl_usage(&mailctl_network_cmds[which],
				     "expected a tenant and a network");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct network_change c = {fn, argv[1], argv[2]};
	struct mailctl_audit au = {action, argv[1], network_changes(argv[2])};
	if (mailctl_audited(ctl, network_apply, &c, false, &au, &err) < 0)
		return mailctl_fail(&err);
	printf("network %s %s tenant %s\n", argv[2], done, argv[1]);
	mailctl_changed(ctl);
	return 0;
}

/* network add TENANT CIDR */
static int network_add(struct mailctl *ctl, int argc, char **argv)
{
	return network_change(ctl, argc, argv, NETWORK_ADD, mc_network_add,
			      "added to", "network.create");
}

/* network remove TENANT CIDR */
static int network_remove(struct mailctl *ctl, int argc, char **argv)
{
	return network_change(ctl, argc, argv, NETWORK_REMOVE,
			      mc_network_remove, "removed from",
			      "network.delete");
}

/* Prints one network. */
static void print_network(const char *cidr, void *ctx)
{
	(void)ctx;
	printf("%s\n", cidr);
}

/* network list TENANT */
static int network_list(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_network_cmds[NETWORK_LIST],
				     "expected a tenant");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_network_list(ctl->pg, argv[1], print_network, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

const struct mailctl_cmd mailctl_network_cmds[] = {
	[NETWORK_ADD] = {"network", "add", "TENANT CIDR", network_add},
	[NETWORK_REMOVE] = {"network", "remove", "TENANT CIDR", network_remove},
	[NETWORK_LIST] = {"network", "list", "TENANT", network_list},
	{0},
};
