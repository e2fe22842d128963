/* mailctl spam learn, stats: teaches a tenant's Bayesian classifier
 * (mc-bayes) message files as spam or ham (each counted once per tenant,
 * by its SHA-256, as IMAP's Junk training does; the global table follows
 * every tenant's learning), and prints the message and token totals of a
 * tenant's table and of the global one. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-bayes.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailctl.h"

enum { SPAM_LEARN, SPAM_STATS };

/* What the options of a spam command said. */
struct spam_args {
	const char *tenant; /* NULL: none given */
	bool global;	    /* --global or --tenant 0 */
	int as;		    /* 1 --spam, 0 --ham, -1 neither */
};

static const struct option spam_opts[] = {
	{"tenant", required_argument, NULL, 't'},
	{"global", no_argument, NULL, 'g'},
	{"spam", no_argument, NULL, 's'},
	{"ham", no_argument, NULL, 'h'},
	{0}};

/* Applies one option to a; 0 or EXIT_USAGE. */
static int spam_option(const struct mailctl_cmd *cmd, int opt,
		       struct spam_args *a)
{
	int as = opt == 's' ? 1 : opt == 'h' ? 0 : -1;
	if (opt == 't' || opt == 'g') {
		a->tenant = opt == 't' ? optarg : NULL;
		a->global = opt == 'g' || strcmp(optarg, "0") == 0;
		return 0;
	}
	if (as < 0 || (cmd == &mailctl_spam_cmds[SPAM_STATS]))
		return mailctl_usage(cmd, "unknown option or missing value");
	if (a->as >= 0 && a->as != as)
		return mailctl_usage(cmd, "give one of --spam and --ham");
	a->as = as;
	return 0;
}

/* Parses the options into a; 0 or EXIT_USAGE. optind: the first file. */
static int spam_options(const struct mailctl_cmd *cmd, int argc, char **argv,
			struct spam_args *a)
{
	int opt, rc;
	*a = (struct spam_args){.as = -1};
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", spam_opts, NULL)) != -1)
		if ((rc = spam_option(cmd, opt, a)) != 0)
			return rc;
	return 0;
}

/* The id of tenant (a name, or a numeric id); 1, 0 if none, -1. */
static int tenant_id(struct mailctl *ctl, const char *tenant, int64_t *id_r,
		     struct mc_error *err)
{
	const char *p[] = {tenant};
	PGresult *res =
		mc_pg_query(ctl->pg,
			    "SELECT id FROM tenants WHERE name = $1 OR "
			    "($1 ~ '^[0-9]{1,18}$' AND id = $1::bigint) "
			    "ORDER BY name = $1 DESC LIMIT 1",
			    1, p, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) == 1;
	if (found)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return found;
}

/* Connects and resolves the tenant of a (0 for global); 0 or exit code. */
static int spam_connect(struct mailctl *ctl, const struct spam_args *a,
			int64_t *id_r)
{
	struct mc_error err = {0};
	int rc = mailctl_connect(ctl);
	*id_r = 0;
	if (rc != 0 || a->global || a->tenant == NULL)
		return rc;
	int r = tenant_id(ctl, a->tenant, id_r, &err);
	if (r < 0)
		return mailctl_fail(&err);
	if (r == 0) {
		fprintf(stderr, "mailctl: no tenant \"%s\"\n", a->tenant);
		return EXIT_FAIL;
	}
	return 0;
}

/* mc_bayes_read_fn over a file descriptor. */
static ssize_t file_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	return pread(*(int *)ctx, buf, len, (off_t)offset);
}

/* The SHA-256 of the file behind fd as 64 hex digits; 0 or -1. */
static int file_sha256(int fd, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], sum[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	ssize_t n = 0;
	uint64_t off = 0;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += (uint64_t)n;
	}
	EVP_DigestFinal_ex(md, sum, &len);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	return n < 0 ? -1 : 0;
}

/* Learns one file; prints what happened. 0 or an exit code. */
static int learn_file(struct mailctl *ctl, const struct mc_bayes *bayes,
		      int64_t tenant, const char *path, bool is_spam)
{
	struct mc_error err = {0};
	char sha[65] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || file_sha256(fd, sha) < 0) {
		fprintf(stderr, "mailctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_FAIL;
	}
	struct mc_pool *pool = mc_pool_create("mailctl-spam", 0);
	int r = mc_bayes_learn(bayes, ctl->pg, pool, tenant, sha, file_read,
			       &fd, is_spam, &err);
	mc_pool_destroy(&pool);
	close(fd);
	if (r < 0) {
		mc_error_prefix(&err, "%s", path);
		return mailctl_fail(&err);
	}
	printf("%s: %s %s\n", path, r > 0 ? "learned as" : "already learned as",
	       is_spam ? "spam" : "ham");
	return 0;
}

/* spam learn --tenant T (--spam|--ham) FILE... */
static int spam_learn(struct mailctl *ctl, int argc, char **argv)
{
	const struct mailctl_cmd *cmd = &mailctl_spam_cmds[SPAM_LEARN];
	struct spam_args a;
	int64_t tenant;
	int rc = spam_options(cmd, argc, argv, &a), worst = 0;
	if (rc != 0)
		return rc;
	if (a.global)
		return mailctl_usage(cmd, "learning is per tenant (the global "
					  "table sums every tenant's)");
	if (a.tenant == NULL || a.as < 0 || optind >= argc)
		return mailctl_usage(cmd, "expected --tenant, --spam or --ham "
					  "and message files");
	int first = optind;
	if ((rc = spam_connect(ctl, &a, &tenant)) != 0)
		return rc;
	struct mc_bayes *bayes = mc_bayes_create(NULL);
	for (int i = first; i < argc; i++) {
		rc = learn_file(ctl, bayes, tenant, argv[i], a.as == 1);
		if (rc != 0 && (worst == 0 || rc == EXIT_TEMPFAIL))
			worst = rc;
	}
	mc_bayes_destroy(&bayes);
	return worst;
}

/* Prints the totals of one table (tenant 0: the global one). */
static int print_totals(struct mailctl *ctl, int64_t tenant, const char *label)
{
	struct mc_error err = {0};
	const char *p[] = {mc_psprintf(ctl->pool, "%" PRId64, tenant)};
	PGresult *res = mc_pg_query(
		ctl->pg,
		"SELECT coalesce((SELECT spam_messages FROM bayes_totals WHERE "
		"tenant_id = $1), 0), coalesce((SELECT ham_messages FROM "
		"bayes_totals WHERE tenant_id = $1), 0), (SELECT count(*) FROM "
		"bayes_tokens WHERE tenant_id = $1 AND spam + ham > 0)",
		1, p, &err);
	if (res == NULL)
		return mailctl_fail(&err);
	printf("%s: %s spam, %s ham messages, %s tokens\n", label,
	       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	       PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

/* spam stats [--tenant T] */
static int spam_stats(struct mailctl *ctl, int argc, char **argv)
{
	const struct mailctl_cmd *cmd = &mailctl_spam_cmds[SPAM_STATS];
	struct spam_args a;
	int64_t tenant;
	int rc = spam_options(cmd, argc, argv, &a);
	if (rc != 0)
		return rc;
	if (optind != argc)
		return mailctl_usage(cmd, "unexpected argument \"%s\"",
				     argv[optind]);
	if ((rc = spam_connect(ctl, &a, &tenant)) != 0)
		return rc;
	if (tenant > 0 && (rc = print_totals(ctl, tenant,
					     mc_psprintf(ctl->pool, "tenant %s",
							 a.tenant))) != 0)
		return rc;
	return print_totals(ctl, 0, "global");
}

const struct mailctl_cmd mailctl_spam_cmds[] = {
	[SPAM_LEARN] = {"spam", "learn", "--tenant T (--spam|--ham) FILE...",
			spam_learn},
	[SPAM_STATS] = {"spam", "stats", "[--tenant T|--global]", spam_stats},
	{0},
};
