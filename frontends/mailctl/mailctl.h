/* mailctl: the administration command line. Each command group lives in
 * its own cmd-*.c and registers a table of verbs. */
#ifndef MAILCTL_H
#define MAILCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailcore/mc-error.h"

/* Exit codes: bad usage or bad arguments, failure, database down. */
#define EXIT_USAGE    2
#define EXIT_FAIL     1
#define EXIT_TEMPFAIL 75

struct mc_config;
struct mc_pg;
struct mc_pool;

struct mailctl {
	const char *config_path;
	struct mc_config *config;
	struct mc_pg *pg;
	struct mc_pool *pool;	       /* for the command's lifetime */
	const struct mailctl_cmd *cmd; /* the command being run */
};

struct mailctl_cmd {
	const char *group, *verb;
	const char *usage; /* arguments after "mailctl GROUP VERB" */
	int (*run)(struct mailctl *ctl, int argc, char **argv);
};

extern const struct mailctl_cmd mailctl_db_cmds[];
extern const struct mailctl_cmd mailctl_tenant_cmds[];
extern const struct mailctl_cmd mailctl_user_cmds[];
extern const struct mailctl_cmd mailctl_domain_cmds[];
extern const struct mailctl_cmd mailctl_mailbox_cmds[];
extern const struct mailctl_cmd mailctl_alias_cmds[];
extern const struct mailctl_cmd mailctl_network_cmds[];
extern const struct mailctl_cmd mailctl_store_cmds[];
extern const struct mailctl_cmd mailctl_queue_cmds[]; /* cmd-queue.c */
extern const struct mailctl_cmd mailctl_dkim_cmds[];  /* cmd-dkim.c */
extern const struct mailctl_cmd mailctl_spam_cmds[];  /* cmd-spam.c */
/* Commands whose verb is "" take the group alone ("mailctl op NAME"). */
extern const struct mailctl_cmd mailctl_admin_cmds[];

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
/* After a successful change: makes the directory cache stale through
 * Redis; if Redis is unreachable, prints one warning line (never fails). */
void mailctl_changed(struct mailctl *ctl);

/* The audit record of a command that changes the tenant model through
 * mc-tenants.h (see mc_admin_audit_cli). */
struct mailctl_audit {
	const char *action; /* "user.create", as the operations name them */
	const char *target; /* the address, domain or tenant name changed */
	json_t *changes;    /* the changed fields (owned), NULL = {} */
};
/* A change through mc-tenants.h: 0 or -1 with err. */
typedef int mailctl_change_fn(struct mc_pg *pg, void *ctx,
			      struct mc_error *err);
/* Makes the change fn and writes its audit record au; consumes
 * au->changes. When fn runs no transaction of its own (own_txn false),
 * both happen in one transaction: both are committed, or neither and the
 * failure (of the change or of its record) is returned. When fn commits
 * a transaction of its own, the record follows the committed change; if
 * writing it fails, one line "mailctl: warning: audit record not written:
 * ..." is printed and the command still succeeds (the change is made; as
 * mailctl_changed does for Redis). 0 or -1 with err (of the change). */
int mailctl_audited(struct mailctl *ctl, mailctl_change_fn *fn, void *ctx,
		    bool own_txn, struct mailctl_audit *au,
		    struct mc_error *err);
/* count strings as a JSON array (new reference), for audit changes. */
json_t *mailctl_json_strings(const char *const *items, size_t count);

/* A "set" command: long options applied one by one to a changes struct,
 * then exactly one target, at least one change, and commit. */
struct option;
struct mailctl_set {
	const struct mailctl_cmd *cmd;
	const struct option *opts;
	const char *what; /* "domain", "user": usage and done messages */
	/* Applies one option; 0 or an exit code. */
	int (*option)(struct mailctl *ctl, int opt, const char *arg,
		      void *changes);
	/* Writes the changes; 0 or -1 with err. It runs in the transaction
	 * that also writes the audit record. */
	int (*commit)(struct mc_pg *pg, const char *target, const void *changes,
		      struct mc_error *err);
	const char *action; /* of the audit record: "domain.update" */
	/* The changes as the audit record's changes object (new ref). */
	json_t *(*audit)(const void *changes);
};
/* Runs set with changes (already initialised); returns the exit code. */
int mailctl_run_set(struct mailctl *ctl, const struct mailctl_set *set,
		    int argc, char **argv, void *changes);

/* Option value parsers: 0, or EXIT_USAGE with the message printed. */
/* A size ("10M", "1G", "0" = unlimited) into *bytes_r. */
int mailctl_parse_size(const struct mailctl_cmd *cmd, const char *option,
		       const char *value, int64_t *bytes_r);
/* "yes" or "no" into *flag_r (1 or 0). */
int mailctl_parse_yes_no(const struct mailctl_cmd *cmd, const char *option,
			 const char *value, int *flag_r);
/* "ADDR[,ADDR...]" into an array from ctl->pool, or "none" (count 0). */
int mailctl_parse_list(struct mailctl *ctl, const struct mailctl_cmd *cmd,
		       const char *option, const char *value,
		       const char *const **items_r, size_t *count_r);

#endif
