/* mailctl: entry point. Parses the global options, finds the command in
 * the tables of the cmd-*.c files and runs it. Exit codes: 0 done, 1
 * failed (duplicate, not found), 2 bad usage or arguments, 75 database
 * unavailable (try again). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-admin.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailctl.h"

#define PASSWORD_MAX 1024

static const struct mailctl_cmd *const tables[] = {
	mailctl_db_cmds,      mailctl_tenant_cmds,
	mailctl_domain_cmds,  mailctl_user_cmds,
	mailctl_mailbox_cmds, mailctl_alias_cmds,
	mailctl_network_cmds, mailctl_store_cmds,
	mailctl_admin_cmds,   mailctl_queue_cmds, mailctl_dkim_cmds,
	mailctl_spam_cmds,    NULL};

/* Prints the list of commands. */
static void print_help(FILE *out)
{
	fprintf(out, "usage: mailctl [-c CONFIG] COMMAND [ARGS]\n"
		     "CONFIG defaults to $MAILCORE_STATE/mailcore.conf.\n"
		     "commands:\n");
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct mailctl_cmd *c = tables[t]; c->group; c++)
			fprintf(out, "  %s%s%s %s\n", c->group,
				c->verb[0] != '\0' ? " " : "", c->verb,
				c->usage);
}

int mailctl_usage(const struct mailctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mailctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, " (usage: mailctl %s %s %s)", cmd->group,
			cmd->verb, cmd->usage);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

int mailctl_fail(const struct mc_error *err)
{
	fprintf(stderr, "mailctl: %s\n", err->msg);
	switch (err->cls) {
	case MC_ERR_INVALID:
		return EXIT_USAGE;
	case MC_ERR_TEMPORARY:
		return EXIT_TEMPFAIL;
	default:
		return EXIT_FAIL;
	}
}

/* The configuration file: -c, or $MAILCORE_STATE/mailcore.conf. */
static char *default_config_path(void)
{
	const char *state = getenv("MAILCORE_STATE");
	return mc_asprintf("%s/mailcore.conf",
			   state != NULL && *state != '\0' ? state : "./var");
}

int mailctl_connect(struct mailctl *ctl)
{
	struct mc_error err = {0};
	ctl->config = mc_config_load(ctl->config_path, &err);
	if (ctl->config == NULL)
		return mailctl_fail(&err);
	ctl->pg = mc_service_pg_from_config(ctl->config);
	if (mc_pg_connect(ctl->pg, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

char *mailctl_read_password(const char *given, bool from_stdin)
{
	if (given != NULL && !from_stdin)
		return mc_strdup(given);
	if (given != NULL || !from_stdin) {
		fputs("mailctl: give exactly one of --password PW and "
		      "--password-stdin\n",
		      stderr);
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n <= 0 || n > PASSWORD_MAX) {
		fputs(n <= 0 ? "mailctl: no password on standard input\n"
			     : "mailctl: password too long\n",
		      stderr);
		if (line != NULL)
			mc_secure_zero(line, cap);
		free(line);
		return NULL;
	}
	return line;
}

void mailctl_changed(struct mailctl *ctl)
{
	struct mc_error err = {0};
	struct mc_redis *redis = mc_service_redis_from_config(ctl->config);
	if (mc_directory_invalidate(redis, &err) < 0)
		fprintf(stderr,
			"mailctl: warning: directory cache not invalidated: "
			"%s; cached lookups expire within [directory] "
			"cache_ttl\n",
			err.msg);
	mc_redis_destroy(&redis);
}

struct audited {
	mailctl_change_fn *fn;
	void *ctx;
	const struct mailctl_audit *au;
};

/* Transaction body of mailctl_audited: the change, then its record. */
static int audited_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct audited *x = ctx;
	if (x->fn(pg, x->ctx, err) < 0)
		return -1;
	if (mc_admin_audit_cli(pg, x->au->action, x->au->target, x->au->changes,
			       err) < 0) {
		mc_error_prefix(err, "nothing changed: audit record not "
				     "written");
		return -1;
	}
	return 0;
}

/* The record of a change fn already committed: a failure only warns. */
static int audit_after(struct mailctl *ctl, mailctl_change_fn *fn, void *ctx,
		       const struct mailctl_audit *au, struct mc_error *err)
{
	struct mc_error aerr = {0};
	if (fn(ctl->pg, ctx, err) < 0)
		return -1;
	if (mc_admin_audit_cli(ctl->pg, au->action, au->target, au->changes,
			       &aerr) < 0)
		fprintf(stderr,
			"mailctl: warning: audit record not written: %s\n",
			aerr.msg);
	return 0;
}

int mailctl_audited(struct mailctl *ctl, mailctl_change_fn *fn, void *ctx,
		    bool own_txn, struct mailctl_audit *au,
		    struct mc_error *err)
{
	struct audited x = {fn, ctx, au};
	int r = own_txn ? audit_after(ctl, fn, ctx, au, err)
			: mc_pg_transaction(ctl->pg, audited_txn, &x, err);
	json_decref(au->changes);
	au->changes = NULL;
	return r < 0 ? -1 : 0;
}

json_t *mailctl_json_strings(const char *const *items, size_t count)
{
	json_t *a = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, json_string(items[i]));
	return a;
}

int mailctl_parse_size(const struct mailctl_cmd *cmd, const char *option,
		       const char *value, int64_t *bytes_r)
{
	uint64_t v;
	if (!mc_str_parse_size(value, &v) || v > INT64_MAX)
		return mailctl_usage(cmd,
				     "bad size \"%s\" for --%s: use e.g. 10M, "
				     "1G or 0 (unlimited)",
				     value, option);
	*bytes_r = (int64_t)v;
	return 0;
}

int mailctl_parse_yes_no(const struct mailctl_cmd *cmd, const char *option,
			 const char *value, int *flag_r)
{
	if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
		return mailctl_usage(cmd,
				     "bad value \"%s\" for --%s: use yes "
				     "or no",
				     value, option);
	*flag_r = strcmp(value, "yes") == 0;
	return 0;
}

int mailctl_parse_list(struct mailctl *ctl, const struct mailctl_cmd *cmd,
		       const char *option, const char *value,
		       const char *const **items_r, size_t *count_r)
{
	*items_r = NULL;
	*count_r = 0;
	if (strcmp(value, "none") == 0)
		return 0;
	char **items = mc_str_split(ctl->pool, value, ",", count_r);
	if (*count_r == 0)
		return mailctl_usage(cmd,
				     "bad value \"%s\" for --%s: use "
				     "ADDR[,ADDR...] or none",
				     value, option);
	*items_r = (const char *const *)items;
	return 0;
}

/* The command named by group and verb, or NULL. */
static const struct mailctl_cmd *find_cmd(const char *group, const char *verb)
{
	for (size_t t = 0; tables[t] != NULL; t++)
		for (const struct mailctl_cmd *c = tables[t]; c->group; c++)
			if (strcmp(c->group, group) == 0 &&
			    (c->verb[0] == '\0' ||
			     (verb != NULL && strcmp(c->verb, verb) == 0)))
				return c;
	return NULL;
}

/* Parses the global options and runs the command; returns the exit code. */
static int run(struct mailctl *ctl, int argc, char **argv)
{
	int opt;
	opterr = 0; /* we print our own one-line errors */
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c':
			ctl->config_path = optarg;
			break;
		case 'h':
			print_help(stdout);
			return 0;
		default:
			return mailctl_usage(NULL,
					     "unknown option \"-%c\"; see "
					     "mailctl -h",
					     optopt);
		}
	}
	if (optind >= argc) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	const char *verb = optind + 1 < argc ? argv[optind + 1] : NULL;
	const struct mailctl_cmd *cmd = find_cmd(argv[optind], verb);
	if (cmd == NULL)
		return mailctl_usage(NULL,
				     "unknown command \"%s%s%s\"; see "
				     "mailctl -h",
				     argv[optind], verb != NULL ? " " : "",
				     verb != NULL ? verb : "");
	/* getopt in the command starts at the verb (or the group of a
	 * command without verbs) */
	if (cmd->verb[0] != '\0')
		optind += 1;
	ctl->cmd = cmd;
	return cmd->run(ctl, argc - optind, argv + optind);
}

int main(int argc, char **argv)
{
	char *default_path = default_config_path();
	struct mailctl ctl = {.config_path = default_path,
			      .pool = mc_pool_create("mailctl", 0)};
	mc_log_init("mailctl", MC_LOG_WARNING, MC_LOG_PLAIN, -1);
	int rc = run(&ctl, argc, argv);
	mc_pg_destroy(&ctl.pg);
	mc_config_destroy(&ctl.config);
	mc_pool_destroy(&ctl.pool);
	free(default_path);
	return rc;
}

struct set_change {
	const struct mailctl_set *set;
	const char *target;
	const void *changes;
};

/* A set command's commit as a mailctl change. */
static int set_commit(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct set_change *sc = ctx;
	return sc->set->commit(pg, sc->target, sc->changes, err);
}

int mailctl_run_set(struct mailctl *ctl, const struct mailctl_set *set,
		    int argc, char **argv, void *changes)
{
	int opt, rc, count = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", set->opts, NULL)) != -1) {
		if ((rc = set->option(ctl, opt, optarg, changes)) != 0)
			return rc;
		count++;
	}
	if (optind != argc - 1)
		return mailctl_usage(set->cmd, "expected one %s", set->what);
	if (count == 0)
		return mailctl_usage(set->cmd, "nothing to change");
	if ((rc = mailctl_connect(ctl)) != 0)
		return rc;
	struct mc_error err = {0};
	struct set_change sc = {set, argv[optind], changes};
	struct mailctl_audit au = {set->action, argv[optind],
				   set->audit(changes)};
	if (mailctl_audited(ctl, set_commit, &sc, false, &au, &err) < 0)
		return mailctl_fail(&err);
	printf("%s %s updated\n", set->what, argv[optind]);
	mailctl_changed(ctl);
	return 0;
}
