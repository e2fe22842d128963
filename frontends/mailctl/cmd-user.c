/* mailctl user, alias: mailboxes and the addresses that lead to them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-password.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-tenants.h"
#include "mailctl.h"

typedef int set_password_fn(struct mc_pg *pg, const char *address,
			    const char *hash, struct mc_error *err);

/* Parses ADDRESS (--password PW | --password-stdin), hashes the password
 * with the configured scheme and hands the hash to fn. */
static int with_password(struct mailctl *ctl, const struct mailctl_cmd *cmd,
			 int argc, char **argv, set_password_fn *fn,
			 const char *done)
{
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
		if (hash == NULL || fn(ctl->pg, argv[optind], hash, &err) < 0) {
			rc = mailctl_fail(&err);
		} else {
			printf("user %s %s\n", argv[optind], done);
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
	return with_password(ctl, &mailctl_user_cmds[0], argc, argv,
			     mc_user_add, "added");
}

/* user passwd ADDRESS (--password PW | --password-stdin) */
static int user_passwd(struct mailctl *ctl, int argc, char **argv)
{
	return with_password(ctl, &mailctl_user_cmds[1], argc, argv,
			     mc_user_set_password, "password changed");
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
	if (mc_alias_add(ctl->pg, argv[1], (const char *const *)argv + 2,
			 (size_t)argc - 2, &err) < 0)
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
