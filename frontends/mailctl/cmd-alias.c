/* mailctl alias remove, alias list: the rest of the alias life cycle
 * (alias add lives with the users in cmd-user.c). A removal is audited
 * (alias.delete) in its transaction. */
#include <stdio.h>

#include "mailcore/mc-tenants.h"
#include "mailctl.h"

enum { ALIAS_REMOVE, ALIAS_LIST };

/* mc_alias_remove as a mailctl change (ctx: the address). */
static int alias_remove_change(struct mc_pg *pg, void *ctx,
			       struct mc_error *err)
{
	return mc_alias_remove(pg, ctx, err);
}

/* alias remove ADDRESS */
static int alias_remove(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_alias_cmds[ALIAS_REMOVE],
				     "expected one address");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct mailctl_audit au = {"alias.delete", argv[1], NULL};
	if (mailctl_audited(ctl, alias_remove_change, argv[1], false, &au,
			    &err) < 0)
		return mailctl_fail(&err);
	printf("alias %s removed\n", argv[1]);
	mailctl_changed(ctl);
	return 0;
}

/* Prints one alias: address, tab, targets. */
static void print_alias(const char *address, const char *targets, void *ctx)
{
	(void)ctx;
	printf("%s\t%s\n", address, targets);
}

/* alias list DOMAIN */
static int alias_list(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_alias_cmds[ALIAS_LIST],
				     "expected a domain");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_alias_list(ctl->pg, argv[1], print_alias, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

const struct mailctl_cmd mailctl_alias_cmds[] = {
	[ALIAS_REMOVE] = {"alias", "remove", "ADDRESS", alias_remove},
	[ALIAS_LIST] = {"alias", "list", "DOMAIN", alias_list},
	{0},
};
