/* mailctl domain alias, set, show, list: domain aliases and the per-domain
 * settings mail routing reads (status, expiry, quotas, message size
 * limit, catch-all). Changes are audited (domain_alias.create,
 * domain.update) in the transaction that makes them. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mailctl.h"

enum { DOMAIN_ALIAS, DOMAIN_SET, DOMAIN_SHOW, DOMAIN_LIST };

struct alias_add {
	const char *alias, *domain;
};

/* mc_domain_alias_add as a mailctl change. */
static int alias_add_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct alias_add *d = ctx;
	return mc_domain_alias_add(pg, d->alias, d->domain, err);
}

/* The audit changes of domain alias: the domain (lower-cased). */
static json_t *alias_changes(const char *domain)
{
	char name[MC_DOMAIN_MAX + 1];
	snprintf(name, sizeof(name), "%s", domain);
	return json_pack("{ss}", "domain", mc_str_lower(name));
}

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
	struct alias_add d = {argv[1], argv[2]};
	struct mailctl_audit au = {"domain_alias.create", argv[1],
				   alias_changes(argv[2])};
	if (mailctl_audited(ctl, alias_add_change, &d, false, &au, &err) < 0)
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

/* Sets key of o to the size v unless it is unchanged. */
static void put_size(json_t *o, const char *key, int64_t v)
{
	if (v != MC_UNCHANGED)
		json_object_set_new(o, key, json_integer(v));
}

/* The audit changes of domain set, named as in the API's domains. */
static json_t *set_audit(const void *changes)
{
	const struct mc_domain_changes *ch = changes;
	json_t *o = json_object(), *limits = json_object();
	if (ch->status != NULL)
		json_object_set_new(o, "status", json_string(ch->status));
	if (ch->expires != NULL)
		json_object_set_new(o, "expires",
				    strcmp(ch->expires, "never") == 0
					    ? json_null()
					    : json_string(ch->expires));
	put_size(limits, "storage_bytes", ch->quota);
	put_size(limits, "message_bytes", ch->max_message_size);
	if (json_object_size(limits) > 0)
		json_object_set(o, "limits", limits);
	json_decref(limits);
	put_size(o, "default_user_quota", ch->default_user_quota);
	if (ch->quota_permanent != MC_UNCHANGED)
		json_object_set_new(o, "quota_permanent",
				    json_boolean(ch->quota_permanent));
	if (ch->set_catchall)
		json_object_set_new(
			o, "catchall",
			mailctl_json_strings(ch->catchall, ch->catchall_count));
	return o;
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
		.action = "domain.update",
		.audit = set_audit,
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
