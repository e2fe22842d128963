/* mailctl db: schema migrations. */
#include <stdio.h>

#include "mailcore/mc-migrate.h"
#include "mailcore/mc-schema.h"
#include "mailctl.h"

/* Prints each migration as it is applied. */
static void progress(const struct mc_migration *m, void *ctx)
{
	(void)ctx;
	printf("applied %s\n", m->name);
}

/* db migrate: applies the embedded migrations not yet applied. */
static int db_migrate(struct mailctl *ctl, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return mailctl_usage(&mailctl_db_cmds[0],
				     "unexpected argument");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	int n = mc_migrate_apply(ctl->pg, mc_schema_migrations,
				 mc_schema_migrations_count, progress, NULL,
				 &err);
	if (n < 0)
		return mailctl_fail(&err);
	printf("schema up to date (%d applied, %zu known)\n", n,
	       mc_schema_migrations_count);
	return 0;
}

const struct mailctl_cmd mailctl_db_cmds[] = {
	{"db", "migrate", "", db_migrate},
	{0},
};
