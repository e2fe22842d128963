/* mailctl store gc: runs the message store's garbage collector
 * (mc-store-gc) once: message rows nothing uses any more, blobs no row
 * names and temp files of crashed writers, each only once older than
 * --min-age (default 1h), the margin a delivery has between its blob and
 * its row. */
#include <getopt.h>
#include <stdio.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mailctl.h"

/* Shorter margins would race deliveries between blob and row. */
#define MIN_AGE_FLOOR_MS (60u * 1000u)

enum { STORE_GC };

static const struct option gc_opts[] = {
	{"min-age", required_argument, NULL, 'a'}, {0}};

/* --min-age DURATION into *ms_r (at least a minute); 0 or EXIT_USAGE. */
static int parse_min_age(const char *value, uint64_t *ms_r)
{
	if (!mc_str_parse_duration_ms(value, ms_r))
		return mailctl_usage(&mailctl_store_cmds[STORE_GC],
				     "bad duration \"%s\" for --min-age: use "
				     "e.g. 30m or 1h",
				     value);
	if (*ms_r < MIN_AGE_FLOOR_MS)
		return mailctl_usage(&mailctl_store_cmds[STORE_GC],
				     "--min-age %s is too short: deliveries "
				     "write their blob first, keep at least 1m",
				     value);
	return 0;
}

/* Options of store gc into set; 0 or EXIT_USAGE. */
static int gc_options(int argc, char **argv, struct mc_store_gc_settings *set)
{
	const struct mailctl_cmd *cmd = &mailctl_store_cmds[STORE_GC];
	int opt, rc;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", gc_opts, NULL)) != -1) {
		if (opt != 'a')
			return mailctl_usage(cmd,
					     "unknown option or missing value");
		if ((rc = parse_min_age(optarg, &set->min_age_ms)) != 0)
			return rc;
	}
	if (optind != argc)
		return mailctl_usage(cmd, "unexpected argument \"%s\"",
				     argv[optind]);
	return 0;
}

/* store gc [--min-age DURATION] */
static int store_gc(struct mailctl *ctl, int argc, char **argv)
{
	struct mc_store_gc_settings set = {.min_age_ms = 0};
	int rc = gc_options(argc, argv, &set);
	if (rc != 0 || (rc = mailctl_connect(ctl)) != 0)
		return rc;
	struct mc_error err = {0};
	struct mc_blob_store *blobs =
		mc_service_blobs_from_config(ctl->config, &err);
	if (blobs == NULL)
		return mailctl_fail(&err);
	struct mc_store_gc_stats st;
	int r = mc_store_gc(ctl->pg, blobs, &set, &st, &err);
	mc_blob_store_destroy(&blobs);
	if (r < 0)
		return mailctl_fail(&err);
	printf("gc: %llu message rows, %llu blobs (%llu bytes), %llu temp "
	       "files removed\n",
	       (unsigned long long)st.rows_deleted,
	       (unsigned long long)st.blobs_removed,
	       (unsigned long long)st.bytes_freed,
	       (unsigned long long)st.tmp_removed);
	return 0;
}

const struct mailctl_cmd mailctl_store_cmds[] = {
	[STORE_GC] = {"store", "gc", "[--min-age DURATION]", store_gc},
	{0},
};
