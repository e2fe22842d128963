/* mailctl queue list, show, hold, release, retry, delete: the outbound
 * queue (mc-queue) as the provider sees it, as text lines or JSON. The
 * changes are audited (queue.hold, queue.release, queue.retry,
 * queue.delete) at the entry's tenant, in the transaction that makes
 * them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-queue.h"
#include "mailcore/mc-str.h"
#include "mailctl.h"

#define PAGE 500

enum { Q_LIST, Q_SHOW, Q_HOLD, Q_RELEASE, Q_RETRY, Q_DELETE };

/* Unix time t as "2024-05-01T12:00:00Z" (from pool); "-" for 0. */
static const char *iso_time(struct mc_pool *pool, time_t t)
{
	struct tm tm;
	char buf[32];
	if (t == 0)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return mc_pstrdup(pool, buf);
}

/* The server's queue lifetime in seconds (for expires_at). */
static unsigned lifetime_s(const struct mailctl *ctl)
{
	return (unsigned)(mc_config_duration_ms(ctl->config, "delivery",
						"lifetime") /
			  1000);
}

/* The name of tenant id ("-" for 0, the provider), from ctl->pool. */
static const char *tenant_name(struct mailctl *ctl, int64_t id)
{
	char buf[24];
	if (id == 0)
		return "-";
	snprintf(buf, sizeof(buf), "%lld", (long long)id);
	const char *params[] = {buf};
	PGresult *res =
		mc_pg_query(ctl->pg, "SELECT name FROM tenants WHERE id = $1",
			    1, params, NULL);
	const char *name =
		res != NULL && PQntuples(res) > 0
			? mc_pstrdup(ctl->pool, PQgetvalue(res, 0, 0))
			: mc_pstrdup(ctl->pool, buf);
	PQclear(res);
	return name;
}

/* The id of tenant name into *id_r; 0 or -1 with err. */
static int tenant_id(struct mailctl *ctl, const char *name, int64_t *id_r,
		     struct mc_error *err)
{
	const char *params[] = {name};
	PGresult *res =
		mc_pg_query(ctl->pg, "SELECT id FROM tenants WHERE name = $1",
			    1, params, err);
	if (res == NULL)
		return -1;
	bool found = PQntuples(res) > 0;
	if (found)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (!found)
		mc_error_set(err, MC_ERR_NOTFOUND, "no tenant %s", name);
	return found ? 0 : -1;
}

/* s as a JSON string, or null. */
static json_t *json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* One recipient as JSON. */
static json_t *rcpt_json(struct mc_pool *pool,
			 const struct mc_queue_entry_rcpt *r)
{
	return json_pack("{ss ss si so so ss}", "address", r->address, "state",
			 r->state, "attempts", (int)r->attempts, "status",
			 json_str_or_null(r->status), "last_error",
			 json_str_or_null(r->last_error), "next_attempt",
			 iso_time(pool, r->next_attempt));
}

/* One entry as JSON. */
static json_t *entry_json(struct mailctl *ctl, const struct mc_queue_entry *e)
{
	json_t *rcpts = json_array();
	for (size_t i = 0; i < e->rcpts_count; i++)
		json_array_append_new(rcpts,
				      rcpt_json(ctl->pool, &e->rcpts[i]));
	return json_pack(
		"{ss ss sI ss ss sI ss ss so so so so so so}", "queue_id",
		e->queue_id, "tenant", tenant_name(ctl, e->tenant_id),
		"tenant_id", (json_int_t)e->tenant_id, "state", e->state,
		"sender", e->sender, "size", (json_int_t)e->size, "created_at",
		iso_time(ctl->pool, e->created_at), "expires_at",
		iso_time(ctl->pool, e->expires_at), "envid",
		json_str_or_null(e->envid), "ret", json_str_or_null(e->ret),
		"auth_user", json_str_or_null(e->auth_user), "client_ip",
		json_str_or_null(e->client_ip), "held_reason",
		json_str_or_null(e->held_reason), "recipients", rcpts);
}

/* Prints JSON value v (stolen) with a newline. */
static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(v);
}

/* One line of queue list: id, tenant, state, created, size, sender and
 * the recipients with their states. */
static void print_row(struct mailctl *ctl, const struct mc_queue_entry *e)
{
	printf("%s\t%s\t%s\t%s\t%llu\t%s\t", e->queue_id,
	       tenant_name(ctl, e->tenant_id), e->state,
	       iso_time(ctl->pool, e->created_at), (unsigned long long)e->size,
	       e->sender[0] != '\0' ? e->sender : "<>");
	for (size_t i = 0; i < e->rcpts_count; i++)
		printf("%s%s(%s)", i > 0 ? "," : "", e->rcpts[i].address,
		       e->rcpts[i].state);
	putchar('\n');
}

/* The options of queue list into f (and json); 0 or EXIT_USAGE. */
static int list_options(struct mailctl *ctl, int argc, char **argv,
			struct mc_queue_filter *f, const char **tenant,
			bool *json)
{
	static const struct option opts[] = {
		{"tenant", required_argument, NULL, 't'},
		{"domain", required_argument, NULL, 'd'},
		{"sender", required_argument, NULL, 's'},
		{"recipient", required_argument, NULL, 'r'},
		{"state", required_argument, NULL, 'S'},
		{"older-than", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{0}};
	const struct mailctl_cmd *cmd = &mailctl_queue_cmds[Q_LIST];
	uint64_t ms;
	int opt;
	(void)ctl;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			*tenant = optarg;
			break;
		case 'd':
			f->recipient_domain = optarg;
			break;
		case 's':
			f->sender = optarg;
			break;
		case 'r':
			f->recipient = optarg;
			break;
		case 'S':
			f->state = optarg;
			break;
		case 'o':
			if (!mc_str_parse_duration_ms(optarg, &ms) ||
			    ms / 1000 > UINT32_MAX)
				return mailctl_usage(cmd,
						     "bad duration \"%s\" for "
						     "--older-than: use e.g. "
						     "30m or 2d",
						     optarg);
			f->min_age_s = (unsigned)(ms / 1000);
			break;
		case 'j':
			*json = true;
			break;
		default:
			return mailctl_usage(cmd, "unknown option or missing "
						  "value");
		}
	}
	if (optind != argc)
		return mailctl_usage(cmd, "unexpected argument \"%s\"",
				     argv[optind]);
	return 0;
}

/* Prints every entry matching f, a page at a time; 0 or -1 with err. */
static int list_pages(struct mailctl *ctl, struct mc_queue_filter *f, bool json,
		      struct mc_error *err)
{
	json_t *all = json ? json_array() : NULL;
	const struct mc_queue_entry *e;
	size_t n;
	f->limit = PAGE;
	do {
		if (mc_queue_list(ctl->pg, ctl->pool, f, &e, &n, err) < 0) {
			json_decref(all);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (json)
				json_array_append_new(all,
						      entry_json(ctl, &e[i]));
			else
				print_row(ctl, &e[i]);
		}
		if (n > 0)
			f->after = e[n - 1].queue_id;
	} while (n == PAGE);
	if (json)
		print_json(all);
	return 0;
}

/* queue list [--tenant T] [--domain D] [--sender S] [--recipient R]
 * [--state S] [--older-than DURATION] [--json] */
static int queue_list(struct mailctl *ctl, int argc, char **argv)
{
	struct mc_queue_filter f = {.tenants = NULL};
	const char *tenant = NULL;
	bool json = false;
	int64_t tid;
	int rc = list_options(ctl, argc, argv, &f, &tenant, &json);
	if (rc != 0 || (rc = mailctl_connect(ctl)) != 0)
		return rc;
	struct mc_error err = {0};
	if (tenant != NULL) {
		if (tenant_id(ctl, tenant, &tid, &err) < 0)
			return mailctl_fail(&err);
		f.tenants = &tid;
		f.tenants_count = 1;
	}
	f.lifetime_s = lifetime_s(ctl);
	if (list_pages(ctl, &f, json, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

/* Parses "QUEUE_ID [options]" with one flag option (NULL: none) and one
 * option with a value (NULL: none); the id into *id_r. 0 or EXIT_USAGE. */
static int id_options(const struct mailctl_cmd *cmd, int argc, char **argv,
		      const char *flag, bool *flag_r, const char *valopt,
		      const char **val_r, const char **id_r)
{
	struct option opts[3] = {{0}};
	size_t n = 0;
	if (flag != NULL)
		opts[n++] = (struct option){flag, no_argument, NULL, 'f'};
	if (valopt != NULL)
		opts[n++] =
			(struct option){valopt, required_argument, NULL, 'v'};
	int opt;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'f')
			*flag_r = true;
		else if (opt == 'v')
			*val_r = optarg;
		else
			return mailctl_usage(cmd, "unknown option or missing "
						  "value");
	}
	if (optind != argc - 1)
		return mailctl_usage(cmd, "expected one queue id");
	*id_r = argv[optind];
	return 0;
}

/* Looks up queue_id (provider scope) into e; 0, or an exit code. */
static int find_entry(struct mailctl *ctl, const char *queue_id,
		      struct mc_queue_entry *e)
{
	struct mc_queue_filter scope = {.lifetime_s = lifetime_s(ctl)};
	struct mc_error err = {0};
	int r = mc_queue_show(ctl->pg, ctl->pool, &scope, queue_id, e, &err);
	if (r < 0)
		return mailctl_fail(&err);
	if (r == 0) {
		fprintf(stderr, "mailctl: no queue entry %s\n", queue_id);
		return EXIT_FAIL;
	}
	return 0;
}

/* Prints an entry as "key: value" lines, then one line per recipient. */
static void print_entry(struct mailctl *ctl, const struct mc_queue_entry *e)
{
	printf("queue_id: %s\ntenant: %s\nstate: %s\nsender: %s\n"
	       "size: %llu\ncreated: %s\nexpires: %s\n",
	       e->queue_id, tenant_name(ctl, e->tenant_id), e->state,
	       e->sender[0] != '\0' ? e->sender : "<>",
	       (unsigned long long)e->size, iso_time(ctl->pool, e->created_at),
	       iso_time(ctl->pool, e->expires_at));
	printf("envid: %s\nret: %s\nauth_user: %s\nclient_ip: %s\n"
	       "held_reason: %s\n",
	       e->envid ? e->envid : "-", e->ret ? e->ret : "-",
	       e->auth_user ? e->auth_user : "-",
	       e->client_ip ? e->client_ip : "-",
	       e->held_reason ? e->held_reason : "-");
	for (size_t i = 0; i < e->rcpts_count; i++) {
		const struct mc_queue_entry_rcpt *r = &e->rcpts[i];
		printf("recipient: %s\t%s\tattempts=%u\tnext=%s\tstatus=%s\t"
		       "%s\n",
		       r->address, r->state, r->attempts,
		       iso_time(ctl->pool, r->next_attempt),
		       r->status ? r->status : "-",
		       r->last_error ? r->last_error : "-");
	}
}

/* queue show QUEUE_ID [--json] */
static int queue_show(struct mailctl *ctl, int argc, char **argv)
{
	bool json = false;
	const char *id;
	struct mc_queue_entry e;
	int rc = id_options(&mailctl_queue_cmds[Q_SHOW], argc, argv, "json",
			    &json, NULL, NULL, &id);
	if (rc != 0 || (rc = mailctl_connect(ctl)) != 0 ||
	    (rc = find_entry(ctl, id, &e)) != 0)
		return rc;
	if (json)
		print_json(entry_json(ctl, &e));
	else
		print_entry(ctl, &e);
	return 0;
}

/* One action on one tenant's entry, as a mailctl change. */
struct queue_change {
	int64_t tenant_id;
	const char *queue_id, *reason;
	enum mc_queue_action action;
};

/* mc_queue_act within the entry's tenant. */
static int act_change(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	const struct queue_change *c = ctx;
	struct mc_queue_filter scope = {.tenants = &c->tenant_id,
					.tenants_count = 1};
	int r = mc_queue_act(pg, &scope, c->queue_id, c->action, c->reason,
			     err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no queue entry %s",
			     c->queue_id);
	return r > 0 ? 0 : -1;
}

/* Applies action to entry e with its audit record (target: the tenant,
 * "" for the provider's own entries); 0 or an exit code. */
static int act_audited(struct mailctl *ctl, const struct mc_queue_entry *e,
		       enum mc_queue_action action, const char *audit_action,
		       const char *reason)
{
	struct queue_change c = {e->tenant_id, e->queue_id, reason, action};
	json_t *changes = json_pack("{ss}", "queue_id", e->queue_id);
	if (reason != NULL)
		json_object_set_new(changes, "reason", json_string(reason));
	if (action == MC_QUEUE_DELETE_DSN)
		json_object_set_new(changes, "bounce", json_true());
	struct mailctl_audit au = {
		audit_action,
		e->tenant_id != 0 ? tenant_name(ctl, e->tenant_id) : "",
		changes};
	struct mc_error err = {0};
	if (mailctl_audited(ctl, act_change, &c, false, &au, &err) < 0)
		return mailctl_fail(&err);
	return 0;
}

/* Finds the entry of queue_id and applies action to it. */
static int act_on_id(struct mailctl *ctl, const char *queue_id,
		     enum mc_queue_action action, const char *audit_action,
		     const char *reason, const char *done)
{
	struct mc_queue_entry e;
	int rc = mailctl_connect(ctl);
	if (rc != 0 || (rc = find_entry(ctl, queue_id, &e)) != 0 ||
	    (rc = act_audited(ctl, &e, action, audit_action, reason)) != 0)
		return rc;
	printf("queue entry %s %s\n", queue_id, done);
	return 0;
}

/* queue hold QUEUE_ID [--reason TEXT] */
static int queue_hold(struct mailctl *ctl, int argc, char **argv)
{
	const char *reason = NULL, *id;
	int rc = id_options(&mailctl_queue_cmds[Q_HOLD], argc, argv, NULL, NULL,
			    "reason", &reason, &id);
	if (rc != 0)
		return rc;
	return act_on_id(ctl, id, MC_QUEUE_HOLD, "queue.hold", reason, "held");
}

/* queue release QUEUE_ID */
static int queue_release(struct mailctl *ctl, int argc, char **argv)
{
	const char *id;
	int rc = id_options(&mailctl_queue_cmds[Q_RELEASE], argc, argv, NULL,
			    NULL, NULL, NULL, &id);
	if (rc != 0)
		return rc;
	return act_on_id(ctl, id, MC_QUEUE_UNHOLD, "queue.release", NULL,
			 "released");
}

/* Retries every entry of the queue, a page at a time: 0 or exit code. */
static int retry_all(struct mailctl *ctl)
{
	struct mc_queue_filter f = {.limit = PAGE,
				    .lifetime_s = lifetime_s(ctl)};
	const struct mc_queue_entry *e;
	size_t n, total = 0;
	struct mc_error err = {0};
	int rc;
	do {
		if (mc_queue_list(ctl->pg, ctl->pool, &f, &e, &n, &err) < 0)
			return mailctl_fail(&err);
		for (size_t i = 0; i < n; i++, total++) {
			if ((rc = act_audited(ctl, &e[i], MC_QUEUE_RETRY,
					      "queue.retry", NULL)) != 0)
				return rc;
		}
		if (n > 0)
			f.after = e[n - 1].queue_id;
	} while (n == PAGE);
	printf("%zu queue entries due now\n", total);
	return 0;
}

/* queue retry QUEUE_ID|--all */
static int queue_retry(struct mailctl *ctl, int argc, char **argv)
{
	const struct mailctl_cmd *cmd = &mailctl_queue_cmds[Q_RETRY];
	if (argc == 2 && strcmp(argv[1], "--all") == 0) {
		int rc = mailctl_connect(ctl);
		return rc != 0 ? rc : retry_all(ctl);
	}
	const char *id;
	int rc = id_options(cmd, argc, argv, NULL, NULL, NULL, NULL, &id);
	if (rc != 0)
		return rc;
	return act_on_id(ctl, id, MC_QUEUE_RETRY, "queue.retry", NULL,
			 "due now");
}

/* queue delete QUEUE_ID [--bounce] */
static int queue_delete(struct mailctl *ctl, int argc, char **argv)
{
	bool bounce = false;
	const char *id;
	int rc = id_options(&mailctl_queue_cmds[Q_DELETE], argc, argv, "bounce",
			    &bounce, NULL, NULL, &id);
	if (rc != 0)
		return rc;
	return act_on_id(ctl, id,
			 bounce ? MC_QUEUE_DELETE_DSN : MC_QUEUE_DELETE,
			 "queue.delete", NULL,
			 bounce ? "deleted, DSN to the sender" : "deleted");
}

const struct mailctl_cmd mailctl_queue_cmds[] = {
	[Q_LIST] = {"queue", "list",
		    "[--tenant T] [--domain RECIPIENT_DOMAIN] [--sender S] "
		    "[--recipient R] [--state queued|deferred|held|failed] "
		    "[--older-than DURATION] [--json]",
		    queue_list},
	[Q_SHOW] = {"queue", "show", "QUEUE_ID [--json]", queue_show},
	[Q_HOLD] = {"queue", "hold", "QUEUE_ID [--reason TEXT]", queue_hold},
	[Q_RELEASE] = {"queue", "release", "QUEUE_ID", queue_release},
	[Q_RETRY] = {"queue", "retry", "QUEUE_ID|--all", queue_retry},
	[Q_DELETE] = {"queue", "delete", "QUEUE_ID [--bounce]", queue_delete},
	{0},
};
