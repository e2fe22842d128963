/* mailctl user set, user show, sendas add, sendas remove: a mailbox's
 * settings (status, quota, display name, forwards) and the addresses its
 * user may send as. Changes are audited (user.update, send_as.create,
 * send_as.delete) in the transaction that makes them. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "mailctl.h"

enum { USER_SET, USER_SHOW, SENDAS_ADD, SENDAS_REMOVE };

static const struct option set_opts[] = {
	{"status", required_argument, NULL, 's'},
	{"quota", required_argument, NULL, 'q'},
	{"display-name", required_argument, NULL, 'n'},
	{"forward", required_argument, NULL, 'f'},
	{"keep-copy", required_argument, NULL, 'k'},
	{"imap-backend", required_argument, NULL, 'b'},
	{"protocols", required_argument, NULL, 'p'},
	{0}};

/* Applies one option of user set to ch; 0 or EXIT_USAGE. */
static int set_option(struct mailctl *ctl, int opt, const char *arg,
		      void *changes)
{
	struct mc_user_changes *ch = changes;
	const struct mailctl_cmd *cmd = &mailctl_mailbox_cmds[USER_SET];
	switch (opt) {
	case 's':
		ch->status = arg;
		return 0;
	case 'q':
		return mailctl_parse_size(cmd, "quota", arg, &ch->quota);
	case 'n':
		ch->display_name = arg;
		return 0;
	case 'f':
		ch->set_forward = true;
		return mailctl_parse_list(ctl, cmd, "forward", arg,
					  &ch->forward, &ch->forward_count);
	case 'k':
		return mailctl_parse_yes_no(cmd, "keep-copy", arg,
					    &ch->keep_copy);
	case 'b':
		ch->imap_backend = strcmp(arg, "none") == 0 ? "" : arg;
		return 0;
	case 'p':
		ch->protocols = strcmp(arg, "none") == 0 ? "" : arg;
		return 0;
	default:
		return mailctl_usage(cmd, "unknown option or missing value");
	}
}

/* mailctl_set commit for users. */
static int user_commit(struct mc_pg *pg, const char *address,
		       const void *changes, struct mc_error *err)
{
	return mc_user_set(pg, address, changes, err);
}

/* A comma-separated list ("" = none) as a JSON array. */
static json_t *list_json(const char *list)
{
	json_t *a = json_array();
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(p));
	return a;
}

/* The audit changes of user set, named as in the API's users. */
static json_t *set_audit(const void *changes)
{
	const struct mc_user_changes *ch = changes;
	json_t *o = json_object(), *fwd = json_object();
	if (ch->status != NULL)
		json_object_set_new(o, "status", json_string(ch->status));
	if (ch->quota != MC_UNCHANGED)
		json_object_set_new(o, "quota_bytes", json_integer(ch->quota));
	if (ch->display_name != NULL)
		json_object_set_new(o, "display_name",
				    json_string(ch->display_name));
	if (ch->set_forward)
		json_object_set_new(
			fwd, "targets",
			mailctl_json_strings(ch->forward, ch->forward_count));
	if (ch->keep_copy != MC_UNCHANGED)
		json_object_set_new(fwd, "keep_copy",
				    json_boolean(ch->keep_copy));
	if (json_object_size(fwd) > 0)
		json_object_set(o, "forward", fwd);
	json_decref(fwd);
	if (ch->imap_backend != NULL)
		json_object_set_new(o, "imap_backend",
				    ch->imap_backend[0] != '\0'
					    ? json_string(ch->imap_backend)
					    : json_null());
	if (ch->protocols != NULL)
		json_object_set_new(o, "protocols", list_json(ch->protocols));
	return o;
}

/* user set ADDRESS [--status S] [--quota SIZE] [--display-name NAME]
 * [--forward ADDR,...|none] [--keep-copy yes|no] */
static int user_set(struct mailctl *ctl, int argc, char **argv)
{
	static const struct mailctl_set set = {
		.cmd = &mailctl_mailbox_cmds[USER_SET],
		.opts = set_opts,
		.what = "user",
		.option = set_option,
		.commit = user_commit,
		.action = "user.update",
		.audit = set_audit,
	};
	struct mc_user_changes ch;
	mc_user_changes_init(&ch);
	return mailctl_run_set(ctl, &set, argc, argv, &ch);
}

/* Prints a user as "key: value" lines. */
static void print_user(const struct mc_user_details *u, void *ctx)
{
	(void)ctx;
	printf("address: %s\ndisplay_name: %s\nstatus: %s\nquota: %lld\n"
	       "used: %lld\n",
	       u->address, u->display_name, u->status, (long long)u->quota,
	       (long long)u->used);
	printf("forward: %s\nkeep_copy: %s\nsend_as: %s\ncreated: %s\n",
	       u->forward != NULL ? u->forward : "-",
	       u->keep_copy ? "yes" : "no",
	       u->send_as != NULL ? u->send_as : "-", u->created_at);
	printf("protocols: %s\nimap_backend: %s\n",
	       u->protocols[0] != '\0' ? u->protocols : "none",
	       u->imap_backend != NULL ? u->imap_backend : "-");
}

/* user show ADDRESS */
static int user_show(struct mailctl *ctl, int argc, char **argv)
{
	if (argc != 2)
		return mailctl_usage(&mailctl_mailbox_cmds[USER_SHOW],
				     "expected one address");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	if (mc_user_get(ctl->pg, argv[1], print_user, NULL, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

typedef int send_as_fn(struct mc_pg *pg, const char *user, const char *address,
		       struct mc_error *err);

struct send_as_change {
	send_as_fn *fn;
	const char *user, *address;
};

/* A send-as grant or revocation as a mailctl change. */
static int send_as_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct send_as_change *c = ctx;
	return c->fn(pg, c->user, c->address, err);
}

/* The audit changes of sendas: the address, lower-cased. */
static json_t *send_as_changes(const char *address)
{
	char a[MC_ADDRESS_MAX + 1];
	snprintf(a, sizeof(a), "%s", address);
	return json_pack("{ss}", "address", mc_str_lower(a));
}

/* sendas add|remove USER ADDRESS|@DOMAIN, audited as action. */
static int send_as(struct mailctl *ctl, int argc, char **argv, int which,
		   send_as_fn *fn, const char *done, const char *action)
{
	if (argc != 3)
		return mailctl_usage(&mailctl_mailbox_cmds[which],
				     "expected a user and an address or "
				     "@domain");
	int rc = mailctl_connect(ctl);
	if (rc != 0)
		return rc;
	struct mc_error err = {0};
	struct send_as_change c = {fn, argv[1], argv[2]};
	struct mailctl_audit au = {action, argv[1], send_as_changes(argv[2])};
	if (mailctl_audited(ctl, send_as_change, &c, false, &au, &err) < 0)
		return mailctl_fail(&err);
	printf("%s %s %s\n", argv[1], done, argv[2]);
	mailctl_changed(ctl);
	return 0;
}

/* sendas add USER ADDRESS|@DOMAIN */
static int sendas_add(struct mailctl *ctl, int argc, char **argv)
{
	return send_as(ctl, argc, argv, SENDAS_ADD, mc_send_as_add,
		       "may now send as", "send_as.create");
}

/* sendas remove USER ADDRESS|@DOMAIN */
static int sendas_remove(struct mailctl *ctl, int argc, char **argv)
{
	return send_as(ctl, argc, argv, SENDAS_REMOVE, mc_send_as_remove,
		       "may no longer send as", "send_as.delete");
}

const struct mailctl_cmd mailctl_mailbox_cmds[] = {
	[USER_SET] = {"user", "set",
		      "ADDRESS [--status active|frozen] [--quota SIZE] "
		      "[--display-name NAME] [--forward ADDR[,ADDR...]|none] "
		      "[--keep-copy yes|no] [--imap-backend IP:PORT|none] "
		      "[--protocols imap,pop3,smtp,webmail|none]",
		      user_set},
	[USER_SHOW] = {"user", "show", "ADDRESS", user_show},
	[SENDAS_ADD] = {"sendas", "add", "USER ADDRESS|@DOMAIN", sendas_add},
	[SENDAS_REMOVE] = {"sendas", "remove", "USER ADDRESS|@DOMAIN",
			   sendas_remove},
	{0},
};
