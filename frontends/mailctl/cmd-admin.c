/* mailctl op, token, reseller, department, dkim, dns, audit, relay, maintain:
 * the administrative operations of tenants/ (mc-admin.h) from the
 * provider's shell, as the provider ("mailctl (<unix user>)" in the audit
 * log). `mailctl op NAME ARGS` calls any operation by name with a JSON
 * body and prints its JSON result; the other verbs are shorthands. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-admin.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailctl.h"

#define BODY_MAX (10u * 1024 * 1024)

/* One call: the operation, its path arguments, body and list options. */
struct call {
	const char *op;
	struct mc_admin_call c;
	struct mc_admin_list list;
	json_t *body, *filters;
	char *raw;
};

/* Prints the problem members of a failed operation to stderr. */
static void print_problem(const json_t *problem)
{
	if (problem == NULL)
		return;
	char *s = json_dumps(problem, JSON_COMPACT | JSON_SORT_KEYS);
	fprintf(stderr, "mailctl: details: %s\n", s);
	free(s);
}

/* Runs the call as the provider; *out_r gets the result. Exit code. */
static int run_call(struct mailctl *ctl, struct call *k, json_t **out_r)
{
	mc_admin_op *fn = mc_admin_op_find(k->op);
	struct mc_actor actor;
	struct mc_error err = {0};
	int rc;

	if (fn == NULL)
		return mailctl_usage(NULL, "unknown operation \"%s\"", k->op);
	if ((rc = mailctl_connect(ctl)) != 0)
		return rc;
	mc_actor_mailctl(&actor);
	struct mc_redis *redis = mc_service_redis_from_config(ctl->config);
	struct mc_admin_settings set = {.pg = ctl->pg,
					.redis = redis,
					.cfg = ctl->config,
					.actor = &actor};
	struct mc_admin *a = mc_admin_create(&set);
	k->c.body = k->body;
	k->c.list = &k->list;
	k->list.filters = k->filters;
	*out_r = NULL;
	rc = fn(a, &k->c, out_r, &err) < 0 ? -1 : 0;
	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err.msg);
		print_problem(mc_admin_problem(a));
		rc = err.cls == MC_ERR_TEMPORARY ? EXIT_TEMPFAIL
		     : err.cls == MC_ERR_INVALID ? EXIT_USAGE
						 : EXIT_FAIL;
	}
	mc_admin_destroy(&a);
	mc_redis_destroy(&redis);
	return rc;
}

static void call_free(struct call *k)
{
	json_decref(k->body);
	json_decref(k->filters);
	free(k->raw);
}

/* Prints a JSON result indented (a string result as it is). */
static void print_json(const json_t *out)
{
	if (json_is_string(out)) {
		fputs(json_string_value(out), stdout);
		return;
	}
	if (out == NULL)
		return;
	char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
}

/* Reads a whole file ("-" = stdin) of at most BODY_MAX bytes. */
static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct mc_buf buf;
	char chunk[8192];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "mailctl: cannot read %s\n", path);
		return NULL;
	}
	mc_buf_init(&buf, NULL, BODY_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (!mc_buf_append(&buf, chunk, n)) {
			fprintf(stderr, "mailctl: %s is over 10 MiB\n", path);
			n = (size_t)-1;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	char *s =
		n == (size_t)-1 ? NULL : mc_strndup(mc_buf_cstr(&buf), buf.len);
	*len_r = buf.len;
	mc_buf_free(&buf);
	return s;
}

/* --body JSON, or @FILE / - for a file or stdin. 0 or an exit code. */
static int set_body(struct call *k, const char *arg)
{
	json_error_t jerr;
	size_t len;
	char *text = arg[0] == '@' || strcmp(arg, "-") == 0
			     ? read_file(arg[0] == '@' ? arg + 1 : arg, &len)
			     : mc_strdup(arg);

	if (text == NULL)
		return EXIT_USAGE;
	json_decref(k->body);
	k->body = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (k->body == NULL)
		return mailctl_usage(NULL, "bad JSON body: %s (line %d)",
				     jerr.text, jerr.line);
	return 0;
}

/* --filter KEY=VALUE. */
static int add_filter(struct call *k, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		return mailctl_usage(NULL, "bad --filter \"%s\": use KEY=VALUE",
				     arg);
	if (k->filters == NULL)
		k->filters = json_object();
	char *key = mc_strndup(arg, (size_t)(eq - arg));
	json_object_set_new(k->filters, key, json_string(eq + 1));
	free(key);
	return 0;
}

/* Sets the member of k->body named by the limit option "KEY=SIZE". */
static int add_limit(struct call *k, const char *arg)
{
	const char *eq = strchr(arg, '=');
	uint64_t v;

	if (eq == NULL || !mc_str_parse_size(eq + 1, &v) || v > INT64_MAX)
		return mailctl_usage(NULL,
				     "bad --limit \"%s\": use KEY=NUMBER, e.g. "
				     "users=100 or storage_bytes=10G",
				     arg);
	if (k->body == NULL)
		k->body = json_object();
	json_t *limits = json_object_get(k->body, "limits");
	if (limits == NULL) {
		limits = json_object();
		json_object_set_new(k->body, "limits", limits);
	}
	char *key = mc_strndup(arg, (size_t)(eq - arg));
	json_object_set_new(limits, key, json_integer((json_int_t)v));
	free(key);
	return 0;
}

/* Sets a string member of the body. */
static void body_str(struct call *k, const char *key, const char *value)
{
	if (k->body == NULL)
		k->body = json_object();
	json_object_set_new(k->body, key, json_string(value));
}

enum {
	O_BODY = 1000,
	O_RAW,
	O_LIMIT,
	O_CURSOR,
	O_SORT,
	O_FILTER,
	O_IFV,
	O_SETLIMIT,
	O_QLIFE,
};

static const struct option op_opts[] = {
	{"body", required_argument, NULL, O_BODY},
	{"raw", required_argument, NULL, O_RAW},
	{"limit", required_argument, NULL, O_LIMIT},
	{"cursor", required_argument, NULL, O_CURSOR},
	{"sort", required_argument, NULL, O_SORT},
	{"filter", required_argument, NULL, O_FILTER},
	{"if-version", required_argument, NULL, O_IFV},
	{0}};

/* One option of `op`; 0 or an exit code. */
static int op_option(struct call *k, int opt, const char *arg)
{
	uint64_t v;
	switch (opt) {
	case O_BODY:
		return set_body(k, arg);
	case O_RAW:
		free(k->raw);
		k->raw = read_file(arg, &k->c.raw_len);
		k->c.raw = k->raw;
		return k->raw == NULL ? EXIT_USAGE : 0;
	case O_LIMIT:
		if (!mc_str_to_u64(arg, &v) || v == 0 || v > 500)
			return mailctl_usage(NULL, "bad --limit: 1 to 500");
		k->list.limit = (unsigned)v;
		return 0;
	case O_CURSOR:
		k->list.cursor = arg;
		return 0;
	case O_SORT:
		k->list.sort = arg;
		return 0;
	case O_FILTER:
		return add_filter(k, arg);
	case O_IFV:
		if (!mc_str_to_u64(arg, &v) || v > INT64_MAX)
			return mailctl_usage(NULL, "bad --if-version");
		k->c.if_version = (int64_t)v;
		return 0;
	}
	return mailctl_usage(NULL, "unknown option; see mailctl -h");
}

/* Takes the remaining arguments as path arguments. */
static int take_args(struct call *k, int argc, char **argv, int from, int want)
{
	if (want >= 0 && argc - from != want)
		return mailctl_usage(NULL, "expected %d argument%s", want,
				     want == 1 ? "" : "s");
	if (argc - from > 4)
		return mailctl_usage(NULL, "at most 4 path arguments");
	for (int i = from; i < argc; i++)
		k->c.args[k->c.nargs++] = argv[i];
	return 0;
}

/* Runs k and prints its result; the exit code. */
static int finish(struct mailctl *ctl, struct call *k)
{
	json_t *out = NULL;
	int rc = run_call(ctl, k, &out);
	if (rc == 0)
		print_json(out);
	json_decref(out);
	call_free(k);
	return rc;
}

/* op NAME [ARG...] [--body JSON|@FILE|-] [--raw FILE] [list options] */
static int cmd_op(struct mailctl *ctl, int argc, char **argv)
{
	struct call k = {.c.if_version = -1};
	int opt, rc;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", op_opts, NULL)) != -1) {
		if ((rc = op_option(&k, opt, optarg)) != 0) {
			call_free(&k);
			return rc;
		}
	}
	if (optind >= argc) {
		call_free(&k);
		return mailctl_usage(NULL, "expected an operation name");
	}
	k.op = argv[optind];
	if ((rc = take_args(&k, argc, argv, optind + 1, -1)) != 0) {
		call_free(&k);
		return rc;
	}
	return finish(ctl, &k);
}

/* The scope options shared by token create and binding add. */
static const struct option scope_opts[] = {
	{"role", required_argument, NULL, 'r'},
	{"reseller", required_argument, NULL, 'R'},
	{"tenant", required_argument, NULL, 'T'},
	{"domain", required_argument, NULL, 'D'},
	{"department", required_argument, NULL, 'P'},
	{"holder", required_argument, NULL, 'H'},
	{"name", required_argument, NULL, 'n'},
	{"label", required_argument, NULL, 'l'},
	{"expires-days", required_argument, NULL, 'e'},
	{"no-expiry", no_argument, NULL, 'x'},
	{"network", required_argument, NULL, 'N'},
	{0}};

/* Puts one scope option into the body; 0 or an exit code. */
static int scope_option(struct call *k, int opt, const char *arg)
{
	static const char *const keys[] = {
		['R'] = "reseller", ['T'] = "tenant", ['D'] = "domain"};
	uint64_t v;

	if (k->body == NULL)
		k->body = json_object();
	json_t *scope = json_object_get(k->body, "scope");
	switch (opt) {
	case 'r':
		body_str(k, "role", arg);
		return 0;
	case 'R':
	case 'T':
	case 'D':
	case 'P':
		if (scope == NULL) {
			scope = json_object();
			json_object_set_new(k->body, "scope", scope);
		}
		if (opt != 'P') {
			json_object_set_new(scope, keys[opt], json_string(arg));
			return 0;
		}
		if (!mc_str_to_u64(arg, &v) || v == 0 || v > INT64_MAX)
			return mailctl_usage(NULL, "bad --department id");
		json_object_set_new(scope, "department",
				    json_integer((json_int_t)v));
		return 0;
	case 'H':
		body_str(k, "holder", arg);
		return 0;
	case 'n':
		body_str(k, "name", arg);
		return 0;
	case 'l':
		body_str(k, "label", arg);
		return 0;
	case 'e':
		if (!mc_str_to_u64(arg, &v) || v == 0 || v > 3650)
			return mailctl_usage(NULL,
					     "bad --expires-days: 1 to 3650");
		json_object_set_new(k->body, "expires_in_days",
				    json_integer((json_int_t)v));
		return 0;
	case 'x':
		json_object_set_new(k->body, "expires_at", json_null());
		return 0;
	case 'N': {
		json_t *nets = json_object_get(k->body, "networks");
		if (nets == NULL) {
			nets = json_array();
			json_object_set_new(k->body, "networks", nets);
		}
		json_array_append_new(nets, json_string(arg));
		return 0;
	}
	}
	return mailctl_usage(NULL, "unknown option; see mailctl -h");
}

/* Parses scope options into k; 0 or an exit code. */
static int scope_options(struct call *k, int argc, char **argv)
{
	int opt, rc;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", scope_opts, NULL)) != -1) {
		if ((rc = scope_option(k, opt, optarg)) != 0)
			return rc;
	}
	return optind == argc ? 0
			      : mailctl_usage(NULL,
					      "unexpected argument "
					      "\"%s\"",
					      argv[optind]);
}

/* token create --role ROLE [scope] [--name N] [--expires-days N |
 * --no-expiry] [--network CIDR]...: prints the secret alone on stdout. */
static int token_create(struct mailctl *ctl, int argc, char **argv)
{
	struct call k = {.op = "token.create", .c.if_version = -1};
	json_t *out = NULL;
	int rc = scope_options(&k, argc, argv);

	if (rc == 0 && json_object_get(k.body, "role") == NULL)
		rc = mailctl_usage(NULL, "token create needs --role");
	if (rc == 0 && json_object_get(k.body, "name") == NULL)
		body_str(&k, "name", "mailctl");
	if (rc == 0 && (rc = run_call(ctl, &k, &out)) == 0) {
		const char *secret =
			json_string_value(json_object_get(out, "token"));
		json_int_t id = json_integer_value(json_object_get(out, "id"));
		printf("%s\n", secret != NULL ? secret : "");
		fprintf(stderr,
			"mailctl: token %lld created; it is shown only once\n",
			(long long)id);
	}
	json_decref(out);
	call_free(&k);
	return rc;
}

/* binding add --role ROLE [scope] [--holder ADDR] [--label L] */
static int binding_add(struct mailctl *ctl, int argc, char **argv)
{
	struct call k = {.op = "binding.create", .c.if_version = -1};
	int rc = scope_options(&k, argc, argv);
	if (rc != 0) {
		call_free(&k);
		return rc;
	}
	return finish(ctl, &k);
}

/* A verb that is one operation with fixed path arguments and optional
 * --limit KEY=N / --parent / --display-name / --algorithm options. */
struct simple {
	const char *verb_op;
	int nargs;
	bool body_options;
};

static const struct option simple_opts[] = {
	{"limit", required_argument, NULL, O_SETLIMIT},
	{"parent", required_argument, NULL, 'p'},
	{"reseller", required_argument, NULL, 'R'},
	{"display-name", required_argument, NULL, 'd'},
	{"algorithm", required_argument, NULL, 'a'},
	{"selector", required_argument, NULL, 's'},
	{"password", required_argument, NULL, 'w'},
	{"status", required_argument, NULL, 'S'},
	{"max", required_argument, NULL, 'm'},
	{"action", required_argument, NULL, 'A'},
	{"target", required_argument, NULL, 'g'},
	{"queue-lifetime", required_argument, NULL, O_QLIFE},
	{0}};

/* --queue-lifetime DURATION ("2d", "36h", a bare number is seconds) or
 * "default" (the server's lifetime): the body's queue_lifetime. */
static int set_lifetime(struct call *k, const char *arg)
{
	uint64_t ms;

	if (k->body == NULL)
		k->body = json_object();
	if (strcmp(arg, "default") == 0) {
		json_object_set_new(k->body, "queue_lifetime", json_null());
		return 0;
	}
	if (!mc_str_parse_duration_ms(arg, &ms) || ms < 1000 || ms % 1000 ||
	    ms / 1000 > INT64_MAX)
		return mailctl_usage(NULL,
				     "bad --queue-lifetime \"%s\": use whole "
				     "seconds, e.g. 2d, 36h, 90m, or default",
				     arg);
	json_object_set_new(k->body, "queue_lifetime",
			    json_integer((json_int_t)(ms / 1000)));
	return 0;
}

/* One option of a shorthand verb into the call. */
static int simple_option(struct call *k, int opt, const char *arg)
{
	uint64_t v;
	switch (opt) {
	case O_SETLIMIT:
		return add_limit(k, arg);
	case O_QLIFE:
		return set_lifetime(k, arg);
	case 'p':
		if (mc_str_to_u64(arg, &v) && v > 0 && v <= INT64_MAX) {
			if (k->body == NULL)
				k->body = json_object();
			json_object_set_new(k->body, "parent",
					    json_integer((json_int_t)v));
		} else {
			body_str(k, "parent", arg);
		}
		return 0;
	case 'R':
		body_str(k, "reseller", arg);
		return 0;
	case 'd':
		body_str(k, "display_name", arg);
		return 0;
	case 'a':
		body_str(k, "algorithm", arg);
		return 0;
	case 's':
		body_str(k, "selector", arg);
		return 0;
	case 'w':
		body_str(k, "password", arg);
		return 0;
	case 'S':
		body_str(k, "status", arg);
		return 0;
	case 'm':
		if (!mc_str_to_u64(arg, &v) || v == 0 || v > 500)
			return mailctl_usage(NULL, "bad --max: 1 to 500");
		k->list.limit = (unsigned)v;
		return 0;
	case 'A':
	case 'g': {
		char *f = mc_asprintf("%s=%s", opt == 'A' ? "action" : "target",
				      arg);
		int rc = add_filter(k, f);
		free(f);
		return rc;
	}
	}
	return mailctl_usage(NULL, "unknown option; see mailctl -h");
}

/* Runs a shorthand verb: options, then exactly nargs arguments, which
 * are path arguments except the last when member names the body member
 * it goes to. */
static int run_simple(struct mailctl *ctl, const char *op, int nargs,
		      const char *member, int argc, char **argv)
{
	struct call k = {.op = op, .c.if_version = -1};
	int opt, rc = 0;

	optind = 0;
	while (rc == 0 &&
	       (opt = getopt_long(argc, argv, "", simple_opts, NULL)) != -1)
		rc = simple_option(&k, opt, optarg);
	if (rc == 0 && member != NULL && argc - optind == nargs) {
		body_str(&k, member, argv[argc - 1]);
		argc--;
		nargs--;
	}
	if (rc == 0)
		rc = take_args(&k, argc, argv, optind, nargs);
	if (rc != 0) {
		call_free(&k);
		return rc;
	}
	return finish(ctl, &k);
}

/* The shorthand verbs: group, verb, operation, arguments, and the body
 * member the last argument goes to (NULL: all are path arguments). */
static const struct {
	const char *group, *verb, *op;
	int nargs;
	const char *member;
} shorthands[] = {
	{"reseller", "add", "reseller.create", 1, "name"},
	{"department", "add", "department.create", 2, "name"},
	{"user", "batch", "user.batch", 2, "pattern"},
	{"reseller", "list", "reseller.list", 0, NULL},
	{"reseller", "show", "reseller.get", 1, NULL},
	{"tenant", "list", "tenant.list", 0, NULL},
	{"tenant", "show", "tenant.get", 1, NULL},
	{"tenant", "set", "tenant.update", 1, NULL},
	{"tenant", "usage", "tenant.usage", 1, NULL},
	{"department", "list", "department.list", 1, NULL},
	{"user", "delete", "user.delete", 2, NULL},
	{"user", "restore", "user.restore", 2, NULL},
	{"user", "policy", "user.policy", 2, NULL},
	{"user", "batch", "user.batch", 1, NULL},
	{"user", "export", "user.export", 1, NULL},
	{"dkim", "generate", "dkim.create", 1, NULL},
	{"dkim", "list", "dkim.list", 1, NULL},
	{"dns", "records", "dns.records", 1, NULL},
	{"token", "list", "token.list", 0, NULL},
	{"token", "revoke", "token.delete", 1, NULL},
	{"binding", "list", "binding.list", 0, NULL},
	{"audit", "list", "audit.list", 0, NULL},
	{"relay", "list", "relay.list", 0, NULL},
	{"relay", "remove", "relay.delete", 1, NULL},
};

/* Finds the shorthand of argv[0] (the verb) in group. */
static int shorthand(struct mailctl *ctl, const char *group, int argc,
		     char **argv)
{
	for (size_t i = 0; i < sizeof(shorthands) / sizeof(*shorthands); i++) {
		if (strcmp(shorthands[i].group, group) == 0 &&
		    strcmp(shorthands[i].verb, argv[0]) == 0)
			return run_simple(ctl, shorthands[i].op,
					  shorthands[i].nargs,
					  shorthands[i].member, argc, argv);
	}
	return mailctl_usage(NULL, "unknown command");
}

/* A shorthand verb of the command's own group. */
static int group_cmd(struct mailctl *ctl, int argc, char **argv)
{
	return shorthand(ctl, ctl->cmd->group, argc, argv);
}

/* Splits "local@domain" into two path arguments in place. */
static int split_user_args(int *argc, char ***argv, char **buf)
{
	char *at;
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] == '-')
			continue;
		if ((at = strrchr((*argv)[i], '@')) == NULL)
			return mailctl_usage(NULL, "expected an address "
						   "user@domain");
		/* rebuild argv with domain, local */
		char **nv = mc_calloc((size_t)*argc + 2, sizeof(char *));
		int n = 0;
		for (int j = 0; j < *argc; j++) {
			if (j != i) {
				nv[n++] = (*argv)[j];
				continue;
			}
			*at = '\0';
			nv[n++] = at + 1;
			nv[n++] = (*argv)[j];
		}
		*buf = (char *)nv;
		*argv = nv;
		*argc = n;
		return 0;
	}
	return mailctl_usage(NULL, "expected an address user@domain");
}

/* user delete|restore|policy ADDRESS: path arguments domain, local. */
static int user_addr_cmd(struct mailctl *ctl, int argc, char **argv)
{
	char *buf = NULL;
	int rc = split_user_args(&argc, &argv, &buf);
	if (rc == 0)
		rc = group_cmd(ctl, argc, argv);
	free(buf);
	return rc;
}

/* user import DOMAIN FILE (CSV; "-" = stdin): prints the report. */
static int user_import(struct mailctl *ctl, int argc, char **argv)
{
	struct call k = {.op = "user.import", .c.if_version = -1};

	if (argc != 3)
		return mailctl_usage(NULL, "expected a domain and a CSV file");
	k.raw = read_file(argv[2], &k.c.raw_len);
	if (k.raw == NULL)
		return EXIT_USAGE;
	k.c.raw = k.raw;
	k.c.args[k.c.nargs++] = argv[1];
	return finish(ctl, &k);
}

static const struct option relay_opts[] = {
	{"tenant", required_argument, NULL, 'T'},
	{"match", required_argument, NULL, 'm'},
	{"host", required_argument, NULL, 'h'},
	{"port", required_argument, NULL, 'p'},
	{"user", required_argument, NULL, 'u'},
	{"password-stdin", no_argument, NULL, 'w'},
	{"tls", required_argument, NULL, 't'},
	{"priority", required_argument, NULL, 'P'},
	{0}};

/* An integer option of relay add into the body (the operation checks
 * the range). */
static int body_int(struct call *k, const char *key, const char *arg)
{
	bool neg = arg[0] == '-';
	int64_t v;

	if (!mc_str_to_i64(arg + neg, &v))
		return mailctl_usage(NULL, "bad --%s \"%s\": not a number", key,
				     arg);
	if (neg)
		v = -v;
	if (k->body == NULL)
		k->body = json_object();
	json_object_set_new(k->body, key, json_integer((json_int_t)v));
	return 0;
}

/* One option of relay add; *stdin_r: read the password from stdin. */
static int relay_option(struct call *k, int opt, const char *arg, bool *stdin_r)
{
	static const char *const keys[] = {['T'] = "tenant",
					   ['m'] = "match",
					   ['h'] = "host",
					   ['u'] = "auth_user",
					   ['t'] = "tls"};
	switch (opt) {
	case 'T':
	case 'm':
	case 'h':
	case 'u':
	case 't':
		body_str(k, keys[opt], arg);
		return 0;
	case 'p':
		return body_int(k, "port", arg);
	case 'P':
		return body_int(k, "priority", arg);
	case 'w':
		*stdin_r = true;
		return 0;
	}
	return mailctl_usage(NULL, "unknown option; see mailctl -h");
}

/* The password of relay add from one line of stdin into the body. */
static int relay_password(struct call *k)
{
	char *pw = mailctl_read_password(NULL, true);

	if (pw == NULL)
		return EXIT_USAGE;
	body_str(k, "auth_password", pw);
	mc_secure_zero(pw, strlen(pw));
	free(pw);
	return 0;
}

/* relay add KIND [--tenant T] [--match DOMAIN] --host H [--port P]
 * [--user U --password-stdin] [--tls MODE] [--priority N]: prints the
 * new route (without the password). */
static int relay_add(struct mailctl *ctl, int argc, char **argv)
{
	struct call k = {.op = "relay.create", .c.if_version = -1};
	bool from_stdin = false;
	int opt, rc = 0;

	optind = 0;
	while (rc == 0 &&
	       (opt = getopt_long(argc, argv, "", relay_opts, NULL)) != -1)
		rc = relay_option(&k, opt, optarg, &from_stdin);
	if (rc == 0 && argc - optind != 1)
		rc = mailctl_usage(NULL, "expected one KIND: all, tenant, "
					 "sender_domain or recipient_domain");
	if (rc == 0)
		body_str(&k, "kind", argv[optind]);
	if (rc == 0 && from_stdin)
		rc = relay_password(&k);
	if (rc != 0) {
		call_free(&k);
		return rc;
	}
	return finish(ctl, &k);
}

/* maintain: purges deleted users past 7 days, expires domains. */
static int maintain(struct mailctl *ctl, int argc, char **argv)
{
	(void)argv;
	struct mc_error err = {0};
	int rc;

	if (argc != 1)
		return mailctl_usage(NULL, "maintain takes no arguments");
	if ((rc = mailctl_connect(ctl)) != 0)
		return rc;
	struct mc_redis *redis = mc_service_redis_from_config(ctl->config);
	int purged = mc_admin_maintain(ctl->pg, redis, ctl->config, &err);
	mc_redis_destroy(&redis);
	if (purged < 0)
		return mailctl_fail(&err);
	printf("maintenance done: %d user%s purged\n", purged,
	       purged == 1 ? "" : "s");
	return 0;
}

const struct mailctl_cmd mailctl_admin_cmds[] = {
	{"op", "",
	 "NAME [ARG...] [--body JSON|@FILE|-] [--raw FILE] "
	 "[--limit N] [--cursor C] [--sort F] [--filter K=V]... "
	 "[--if-version N]",
	 cmd_op},
	{"token", "create",
	 "--role ROLE [--reseller R|--tenant T|--domain D [--department "
	 "ID]] [--holder ADDR] [--name N] [--expires-days N|--no-expiry] "
	 "[--network CIDR]...",
	 token_create},
	{"token", "list", "", group_cmd},
	{"token", "revoke", "ID", group_cmd},
	{"binding", "add",
	 "--role ROLE [--reseller R|--tenant T|--domain D [--department "
	 "ID]] [--holder ADDR] [--label L]",
	 binding_add},
	{"binding", "list", "", group_cmd},
	{"reseller", "add",
	 "NAME [--parent RESELLER] [--display-name X] [--limit KEY=N]...",
	 group_cmd},
	{"reseller", "list", "", group_cmd},
	{"reseller", "show", "NAME", group_cmd},
	{"tenant", "list", "", group_cmd},
	{"tenant", "show", "NAME", group_cmd},
	{"tenant", "set",
	 "NAME [--limit KEY=N]... [--status S] "
	 "[--display-name X] [--queue-lifetime DURATION|default]",
	 group_cmd},
	{"tenant", "usage", "NAME", group_cmd},
	{"department", "add", "DOMAIN NAME [--parent ID]", group_cmd},
	{"department", "list", "DOMAIN", group_cmd},
	{"user", "import", "DOMAIN FILE.csv", user_import},
	{"user", "batch", "DOMAIN PATTERN [--password PW]", group_cmd},
	{"user", "export", "DOMAIN", group_cmd},
	{"user", "delete", "ADDRESS", user_addr_cmd},
	{"user", "restore", "ADDRESS", user_addr_cmd},
	{"user", "policy", "ADDRESS", user_addr_cmd},
	{"dkim", "generate",
	 "DOMAIN [--algorithm rsa-2048|ed25519] "
	 "[--selector S]",
	 group_cmd},
	{"dkim", "list", "DOMAIN", group_cmd},
	{"dns", "records", "DOMAIN", group_cmd},
	{"audit", "list", "[--action A] [--target T] [--max N]", group_cmd},
	{"relay", "add",
	 "all|tenant|sender_domain|recipient_domain [--tenant T] "
	 "[--match DOMAIN] --host H [--port P] [--user U --password-stdin] "
	 "[--tls none|opportunistic|required|verify] [--priority N]",
	 relay_add},
	{"relay", "list", "", group_cmd},
	{"relay", "remove", "ID", group_cmd},
	{"maintain", "", "", maintain},
	{0},
};
