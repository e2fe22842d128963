/* mailctl: the administration command line. Each command group lives in
 * its own cmd-*.c and registers a table of verbs. */
#ifndef MAILCTL_H
#define MAILCTL_H

#include <stdbool.h>

#include "mailcore/mc-error.h"

/* Exit codes: bad usage or bad arguments, failure, database down. */
#define EXIT_USAGE    2
#define EXIT_FAIL     1
#define EXIT_TEMPFAIL 75

struct mc_config;
struct mc_pg;

struct mailctl {
	const char *config_path;
	struct mc_config *config;
	struct mc_pg *pg;
};

struct mailctl_cmd {
	const char *group, *verb;
	const char *usage; /* arguments after "mailctl GROUP VERB" */
	int (*run)(struct mailctl *ctl, int argc, char **argv);
};

extern const struct mailctl_cmd mailctl_db_cmds[];
extern const struct mailctl_cmd mailctl_tenant_cmds[];
extern const struct mailctl_cmd mailctl_user_cmds[];

/* Prints "mailctl: msg" to stderr and returns the exit code. */
int mailctl_usage(const struct mailctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints err and returns its exit code (2 invalid, 75 temporary, else 1). */
int mailctl_fail(const struct mc_error *err);
/* Loads the configuration and connects to PostgreSQL; exit code or 0. */
int mailctl_connect(struct mailctl *ctl);
/* Reads a password: from --password, or one line of stdin. Returns a
 * malloc()ed copy, NULL (message printed) when none or too long. */
char *mailctl_read_password(const char *given, bool from_stdin);

#endif
