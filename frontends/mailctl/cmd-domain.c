/* mailctl domain alias, set, show, list: domain aliases and the per-domain
 * settings mail routing reads (status, expiry, quotas, message size
 * limit, catch-all). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-tenants.h"
#include "mailctl.h"

enum { DOMAIN_ALIAS, DOMAIN_SET, DOMAIN_SHOW, DOMAIN_LIST };

/* domain alias ALIAS DOMAIN */
static int domain_alias(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 3)
		return mailctl_usage(&mailctl_domain_cmds[DOMAIN_ALIAS],
				     "expected an alias and a domain");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_domain_alias_add(ctl->pg, argv[1], argv[2], &err) < 0)
		return mailctl_fail(&err);
	printf("domain %s added as an alias of %s\n", argv[1], argv[2]);
	mailctl_changed(ctl);
	return 0;
}

static const struct option set_opts[] = {
	{"status", required_argument, NULL, 's'},
	{"expires", required_argument, NULL, 'e'},
	{"quota", required_argument, NULL, 'q'},
	{"default-user-quota", required_argument, NULL, 'u'},
	{"max-message-size", required_argument, NULL, 'm'},
	{"quota-permanent", required_argument, NULL, 'p'},
	{"catchall", required_argument, NULL, 'c'},
	{0}};

/* Applies one option of domain set to ch; 0 or EXIT_USAGE. */
static int set_option(struct mailctl *ctl, int opt, const char *arg,
		      void *changes)
{
	struct mc_domain_changes *ch = changes;
	const struct mailctl_cmd *cmd = &mailctl_domain_cmds[DOMAIN_SET];
	switch (opt) {
	case 's':
		ch->status = arg;
		return 0;
	case 'e':
		ch->expires = arg;
		return 0;
	case 'q':
		return mailctl_parse_size(cmd, "quota", arg, &ch->quota);
	case 'u':
		return mailctl_parse_size(cmd, "default-user-quota", arg,
					  &ch->default_user_quota);
	case 'm':
		return mailctl_parse_size(cmd, "max-message-size", arg,
					  &ch->max_message_size);
	case 'p':
		return mailctl_parse_yes_no(cmd, "quota-permanent", arg,
					    &ch->quota_permanent);
	case 'c':
		ch->set_catchall = true;
		return mailctl_parse_list(ctl, cmd, "catchall", arg,
					  &ch->catchall, &ch->catchall_count);
	default:
		return mailctl_usage(cmd, "unknown option or missing value");
	}
}

/* mailctl_set commit for domains. */
static int domain_commit(struct mc_pg *pg, const char *domain,
			 const void *changes, struct mc_error *err)
{
	return mc_domain_set(pg, domain, changes, err);
}

/* domain set DOMAIN [--status S] [--expires D|never] [--quota SIZE] ... */
static int domain_set(struct mailctl *ctl, int argc, char **argv)
{
	static const struct mailctl_set set = {
		.cmd = &mailctl_domain_cmds[DOMAIN_SET],
		.opts = set_opts,
		.what = "domain",
		.option = set_option,
		.commit = domain_commit,
	};
	struct mc_domain_changes ch;
	mc_domain_changes_init(&ch);
	return mailctl_run_set(ctl, &set, argc, argv, &ch);
}

/* Prints a domain as "key: value" lines. */
static void print_domain(const struct mc_domain_info *d, void *ctx)
{
	(void)ctx;
	printf("name: %s\ntenant: %s\nstatus: %s\nexpires: %s\n"
	       "alias_for: %s\n",
	       d->name, d->tenant, d->status,
	       d->expires != NULL ? d->expires : "never",
	       d->alias_for != NULL ? d->alias_for : "-");
	printf("quota: %lld\nused: %lld\ndefault_user_quota: %lld\n"
	       "max_message_size: %lld\nquota_permanent: %s\n"
	       "catchall: %s\nusers: %lld\n",
	       (long long)d->quota, (long long)d->used,
	       (long long)d->default_user_quota, (long long)d->max_message_size,
	       d->quota_permanent ? "yes" : "no",
	       d->catchall != NULL ? d->catchall : "-", (long long)d->users);
}

/* domain show DOMAIN */
static int domain_show(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_domain_cmds[DOMAIN_SHOW],
				     "expected one domain");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_domain_get(ctl->pg, argv[1], print_domain, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

/* Prints one line of domain list. */
static void print_domain_row(const struct mc_domain_info *d, void *ctx)
{
	(void)ctx;
	printf("%s\t%s\t%s\t%s\n", d->name, d->tenant, d->status,
	       d->alias_for != NULL ? d->alias_for : "-");
}

/* domain list [--tenant NAME] */
static int domain_list(struct mailctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'}, {0}};
	const struct mailctl_cmd *cmd = &mailctl_domain_cmds[DOMAIN_LIST];
	const char *tenant = NULL;
	int opt;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 't')
			return mailctl_usage(cmd, "unknown option or missing "
						  "value");
		tenant = optarg;
	}
	if (optind != argc)
		return mailctl_usage(cmd, "unexpected argument \"%s\"",
				     argv[optind]);
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_domain_list(ctl->pg, tenant, print_domain_row, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

const struct mailctl_cmd mailctl_domain_cmds[] = {
	[DOMAIN_ALIAS] = {"domain", "alias", "ALIAS DOMAIN", domain_alias},
	[DOMAIN_SET] = {"domain", "set",
			"DOMAIN [--status active|suspended|expired] "
			"[--expires YYYY-MM-DD|never] [--quota SIZE] "
			"[--default-user-quota SIZE] [--max-message-size SIZE] "
			"[--quota-permanent yes|no] "
			"[--catchall ADDR[,ADDR...]|none]",
			domain_set},
	[DOMAIN_SHOW] = {"domain", "show", "DOMAIN", domain_show},
	[DOMAIN_LIST] = {"domain", "list", "[--tenant NAME]", domain_list},
	{0},
};
