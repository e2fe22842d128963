/* mailctl user, alias: mailboxes and the addresses that lead to them.
 * Changes are audited (user.create, user.password, alias.create; the
 * password never, as "***"): user add and alias add commit their own
 * transaction, so their record follows it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mailctl.h"

typedef int set_password_fn(struct mc_pg *pg, const char *address,
			    const char *hash, struct mc_error *err);

/* What a password command does. */
struct pw_cmd {
	const struct mailctl_cmd *cmd;
	set_password_fn *fn;
	const char *done;   /* "added" */
	const char *action; /* of the audit record */
	bool own_txn;	    /* fn commits a transaction of its own */
};

struct pw_change {
	set_password_fn *fn;
	const char *address, *hash;
};

/* A password command's fn as a mailctl change. */
static int pw_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct pw_change *c = ctx;
	return c->fn(pg, c->address, c->hash, err);
}

/* Runs pw's change with its audit record (the password as "***"). */
static int pw_apply(struct mailctl *ctl, const struct pw_cmd *pw,
		    const char *address, const char *hash, struct mc_error *err)
{
	struct pw_change c = {pw->fn, address, hash};
	json_t *changes = json_pack("{ss}", "password", "***");
	const char *at = strrchr(address, '@');
	if (strcmp(pw->action, "user.create") == 0 && at != NULL) {
		char local[MC_LOCAL_PART_MAX + 1];
		snprintf(local, sizeof(local), "%.*s", (int)(at - address),
			 address);
		json_object_set_new(changes, "local_part",
				    json_string(mc_str_lower(local)));
	}
	struct mailctl_audit au = {pw->action, address, changes};
	return mailctl_audited(ctl, pw_change, &c, pw->own_txn, &au, err);
}

/* Parses ADDRESS (--password PW | --password-stdin), hashes the password
 * with the configured scheme and hands the hash to pw->fn. */
static int with_password(struct mailctl *ctl, const struct pw_cmd *pw, int argc,
			 char **argv)
{
	const struct mailctl_cmd *cmd = pw->cmd;
	static const struct option opts[] = {
		{"password", required_argument, NULL, 'p'},
		{"password-stdin", no_argument, NULL, 's'},
		{0}};
	const char *given = NULL;
	bool from_stdin = false;
	int opt;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'p')
			given = optarg;
		else if (opt == 's')
			from_stdin = true;
		else
			return mailctl_usage(cmd, "unknown option \"%s\"",
					     argv[optind - 1]);
	}
	if (optind != argc - 1)
		return mailctl_usage(cmd, "expected one address");
	char *password = mailctl_read_password(given, from_stdin);
	if (password == NULL)
		return EXIT_USAGE;
	int rc = mailctl_connect(ctl);
	struct mc_error err = {0};
	char *hash = NULL;
	enum mc_password_scheme scheme = MC_PW_YESCRYPT;
	if (rc == 0) {
		mc_password_scheme_parse(
			mc_config_str(ctl->config, "auth", "password_scheme"),
			&scheme);
		hash = mc_password_hash(password, scheme, &err);
		if (hash == NULL ||
		    pw_apply(ctl, pw, argv[optind], hash, &err) < 0) {
			rc = mailctl_fail(&err);
		} else {
			printf("user %s %s\n", argv[optind], pw->done);
			mailctl_changed(ctl);
		}
	}
	mc_secure_zero(password, strlen(password));
	free(password);
	free(hash);
	return rc;
}

/* user add ADDRESS (--password PW | --password-stdin) */
static int user_add(struct mailctl *ctl, int argc, char **argv)
{
	static const struct pw_cmd pw = {&mailctl_user_cmds[0], mc_user_add,
					 "added", "user.create", true};
	return with_password(ctl, &pw, argc, argv);
}

/* user passwd ADDRESS (--password PW | --password-stdin) */
static int user_passwd(struct mailctl *ctl, int argc, char **argv)
{
	static const struct pw_cmd pw = {
		&mailctl_user_cmds[1], mc_user_set_password, "password changed",
		"user.password", false};
	return with_password(ctl, &pw, argc, argv);
}

/* Prints one row of user list. */
static void print_user(const struct mc_user_info *u, void *ctx)
{
	(void)ctx;
	char quota[32];
	if (u->quota_bytes == 0)
		strcpy(quota, "unlimited");
	else
		snprintf(quota, sizeof(quota), "%lld",
			 (long long)u->quota_bytes);
	printf("%-40s %-8s %-12s %s\n", u->address, u->status, quota,
	       u->created_at);
}

/* user list DOMAIN */
static int user_list(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_user_cmds[2],
				     "expected a domain");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	printf("%-40s %-8s %-12s %s\n", "ADDRESS", "STATUS", "QUOTA",
	       "CREATED");
	if (mc_user_list(ctl->pg, argv[1], print_user, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

struct alias_add {
	const char *address;
	const char *const *targets;
	size_t count;
};

/* mc_alias_add as a mailctl change. */
static int alias_add_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct alias_add *al = ctx;
	return mc_alias_add(pg, al->address, al->targets, al->count, err);
}

/* alias add ADDRESS TARGET... */
static int alias_add(struct mailctl *ctl, int argc, char **argv)
{
	if (argc < 3)
		return mailctl_usage(&mailctl_user_cmds[3],
				     "expected an address and targets");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct alias_add al = {argv[1], (const char *const *)argv + 2,
			       (size_t)argc - 2};
	struct mailctl_audit au = {
		"alias.create", argv[1],
		json_pack("{ssso}", "kind", "alias", "targets",
			  mailctl_json_strings(al.targets, al.count))};
	if (mailctl_audited(ctl, alias_add_change, &al, true, &au, &err) < 0)
		return mailctl_fail(&err);
	printf("alias %s added (%d targets)\n", argv[1], argc - 2);
	mailctl_changed(ctl);
	return 0;
}

const struct mailctl_cmd mailctl_user_cmds[] = {
	{"user", "add", "ADDRESS (--password PW | --password-stdin)", user_add},
	{"user", "passwd", "ADDRESS (--password PW | --password-stdin)",
	 user_passwd},
	{"user", "list", "DOMAIN", user_list},
	{"alias", "add", "ADDRESS TARGET...", alias_add},
	{0},
};
