/* mailctl dkim verify [FILE]: checks the DKIM signatures of a message
 * (FILE, or standard input when none or "-") with the key records from [dns]
 * upstream, one line per signature. Exit 0 when at least one passes, 1
 * otherwise. It needs the configuration, not the database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dns.h"
#include "mailctl.h"

enum { DKIM_VERIFY };

/* A message read in order from a stream. */
struct stream {
	FILE *fp;
	uint64_t pos;
	bool failed;
};

/* The mc_dkim_read_fn of a stream: sequential reads only. */
static ssize_t stream_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct stream *s = ctx;
	if (offset != s->pos)
		return -1;
	size_t n = fread(buf, 1, len, s->fp);
	if (n == 0 && ferror(s->fp)) {
		s->failed = true;
		return -1;
	}
	s->pos += n;
	return (ssize_t)n;
}

/* Loads the configuration and creates the resolver of [dns]; NULL with
 * the exit code in *rc_r. */
static struct mc_dns *open_dns(struct mailctl *ctl, int *rc_r)
{
	struct mc_error err = {0};
	ctl->config = mc_config_load(ctl->config_path, &err);
	if (ctl->config == NULL) {
		*rc_r = mailctl_fail(&err);
		return NULL;
	}
	struct mc_dns *dns = mc_dns_from_config(ctl->config, &err);
	if (dns == NULL)
		*rc_r = mailctl_fail(&err);
	return dns;
}

/* Prints the verdicts; the exit code (0 when one passed). */
static int print_sigs(const struct mc_dkim_sig *sigs, size_t count)
{
	int rc = EXIT_FAIL;
	if (count == 0)
		printf("no signature\n");
	for (size_t i = 0; i < count; i++) {
		const struct mc_dkim_sig *s = &sigs[i];
		printf("d=%s s=%s a=%s result=%s%s%s\n", s->domain, s->selector,
		       s->algorithm, mc_dkim_result_name(s->result),
		       s->reason[0] != '\0' ? " " : "", s->reason);
		if (s->result == MC_DKIM_PASS)
			rc = 0;
	}
	return rc;
}

/* Verifies the message of stream with dns; the exit code. */
static int verify_stream(struct mailctl *ctl, struct mc_dns *dns,
			 struct stream *st, const char *name)
{
	struct mc_error err = {0};
	struct mc_dkim *dkim = mc_dkim_create(dns, &err);
	if (dkim == NULL)
		return mailctl_fail(&err);
	const struct mc_dkim_sig *sigs = NULL;
	size_t count = 0;
	int r = mc_dkim_verify(dkim, ctl->pool, stream_read, st, &sigs, &count,
			       &err);
	mc_dkim_destroy(&dkim);
	if (r < 0 && st->failed) {
		fprintf(stderr, "mailctl: reading %s failed\n", name);
		return EXIT_FAIL;
	}
	return r < 0 ? mailctl_fail(&err) : print_sigs(sigs, count);
}

/* dkim verify [FILE] */
static int dkim_verify_cmd(struct mailctl *ctl, int argc, char **argv)
{
	const struct mailctl_cmd *cmd = &mailctl_dkim_cmds[DKIM_VERIFY];
	if (argc > 2)
		return mailctl_usage(cmd, "unexpected argument \"%s\"",
				     argv[2]);
	const char *path =
		argc == 2 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	struct stream st = {.fp = path != NULL ? fopen(path, "rb") : stdin};
	if (st.fp == NULL) {
		fprintf(stderr, "mailctl: %s: %s\n", path, strerror(errno));
		return EXIT_FAIL;
	}
	int rc = 0;
	struct mc_dns *dns = open_dns(ctl, &rc);
	if (dns != NULL) {
		rc = verify_stream(ctl, dns, &st,
				   path != NULL ? path : "standard input");
		mc_dns_destroy(&dns);
	}
	if (path != NULL)
		fclose(st.fp);
	return rc;
}

const struct mailctl_cmd mailctl_dkim_cmds[] = {
	[DKIM_VERIFY] = {"dkim", "verify", "[FILE]", dkim_verify_cmd},
	{0},
};
