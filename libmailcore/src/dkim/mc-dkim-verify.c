/* mc-dkim-verify: checks every DKIM signature of a message (the first
 * MC_DKIM_MAX_SIGS) with libopendkim, fetching each key record through
 * mc-dns from the key lookup callback, and maps libopendkim's verdicts to
 * mc_dkim_result. A failure to ask DNS is a temperror, never a fail. */
#include <string.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-dkim-private.h"

/* What the key lookup found out about one signature, when libopendkim's
 * own error would say less (or the wrong thing, for a DNS failure). */
struct mark {
	DKIM_SIGINFO *sig;
	enum mc_dkim_result result;
	const char *reason;
};

/* The user context of a verifying handle. */
struct verify_ctx {
	struct mc_dns *dns;
	struct mc_pool *pool;
	struct mark marks[MC_DKIM_MAX_SIGS];
	size_t marks_count;
};

/* Remembers result and reason for sig. */
static void mark(struct verify_ctx *ctx, DKIM_SIGINFO *sig,
		 enum mc_dkim_result result, const char *reason)
{
	if (ctx->marks_count < MC_DKIM_MAX_SIGS)
		ctx->marks[ctx->marks_count++] =
			(struct mark){sig, result, reason};
}

/* The mark of sig, or NULL. */
static const struct mark *find_mark(const struct verify_ctx *ctx,
				    const DKIM_SIGINFO *sig)
{
	for (size_t i = 0; i < ctx->marks_count; i++)
		if (ctx->marks[i].sig == sig)
			return &ctx->marks[i];
	return NULL;
}

/* The record to use among the TXT records of a key name: the first that
 * says v=DKIM1, else the first one. */
static const char *pick_record(const char *const *txt, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strncmp(txt[i], "v=DKIM1", 7) == 0)
			return txt[i];
	return txt[0];
}

/* libopendkim's key lookup: the TXT record of s._domainkey.d into buf.
 * Any miss answers NOTFOUND so the other signatures are still checked;
 * the mark says why. */
static DKIM_CBSTAT key_lookup(DKIM *h, DKIM_SIGINFO *sig, unsigned char *buf,
			      size_t buflen)
{
	struct verify_ctx *ctx = dkim_get_user_context(h);
	const char *s = (const char *)dkim_sig_getselector(sig);
	const char *d = (const char *)dkim_sig_getdomain(sig);
	if (ctx == NULL || s == NULL || d == NULL)
		return DKIM_CBSTAT_NOTFOUND;
	char *name = mc_psprintf(ctx->pool, "%s._domainkey.%s", s, d);
	const char *const *txt = NULL;
	size_t count = 0;
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	int r = mc_dns_txt(ctx->dns, ctx->pool, name, &txt, &count, &ans, &err);
	if (r < 0) {
		mark(ctx, sig, MC_DKIM_TEMPERROR,
		     mc_psprintf(ctx->pool, "key lookup failed: %s", err.msg));
		return DKIM_CBSTAT_NOTFOUND;
	}
	const char *rec = r > 0 && count > 0 ? pick_record(txt, count) : NULL;
	if (rec == NULL || strlen(rec) >= buflen) {
		mark(ctx, sig, MC_DKIM_PERMERROR,
		     mc_psprintf(ctx->pool, "%s at %s",
				 rec == NULL ? "no key record"
					     : "key record too long",
				 name));
		return DKIM_CBSTAT_NOTFOUND;
	}
	memcpy(buf, rec, strlen(rec) + 1);
	return DKIM_CBSTAT_CONTINUE;
}

/* libopendkim's prescreen: signatures past the first MC_DKIM_MAX_SIGS
 * are ignored (no key lookups for them). */
static DKIM_CBSTAT prescreen(DKIM *h, DKIM_SIGINFO **sigs, int nsigs)
{
	(void)h;
	for (int i = MC_DKIM_MAX_SIGS; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

void mc_dkim_verify_setup(DKIM_LIB *lib)
{
	dkim_set_key_lookup(lib, key_lookup);
	dkim_set_prescreen(lib, prescreen);
}

/* The result class of a signature error code. */
static enum mc_dkim_result error_result(int code)
{
	switch (code) {
	case DKIM_SIGERROR_BADSIG:
		return MC_DKIM_FAIL;
	case DKIM_SIGERROR_KEYFAIL:
		return MC_DKIM_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
	case DKIM_SIGERROR_KEYTOOSMALL:
		return MC_DKIM_PERMERROR;
	default:
		return MC_DKIM_NEUTRAL;
	}
}

/* The verdict on sig into out (result and reason). */
static void judge(const struct verify_ctx *ctx, DKIM_SIGINFO *sig,
		  struct mc_dkim_sig *out)
{
	const struct mark *m = find_mark(ctx, sig);
	int code = dkim_sig_geterror(sig);
	unsigned flags = dkim_sig_getflags(sig);
	const char *why = dkim_sig_geterrorstr(code);
	if (m != NULL) {
		out->result = m->result;
		out->reason = m->reason;
	} else if ((flags & DKIM_SIGFLAG_PASSED) != 0 &&
		   dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		out->result = MC_DKIM_PASS;
		out->reason = "";
	} else if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
		out->result = MC_DKIM_FAIL;
		out->reason = "body hash did not verify";
	} else if (code == DKIM_SIGERROR_OK || code == DKIM_SIGERROR_UNKNOWN) {
		out->result = MC_DKIM_NEUTRAL;
		out->reason = (flags & DKIM_SIGFLAG_IGNORE) != 0
				      ? "signature ignored"
				      : "signature not verified";
	} else {
		out->result = error_result(code);
		out->reason = why != NULL ? why : "unknown signature error";
	}
}

/* A tag of sig copied into pool, "" when absent. */
static const char *tag(struct mc_pool *pool, const unsigned char *value)
{
	return mc_pstrdup(pool, value != NULL ? (const char *)value : "");
}

/* Copies the verdicts of h's signatures into *sigs_r (pool). */
static void collect(DKIM *h, const struct verify_ctx *ctx, struct mc_pool *pool,
		    const struct mc_dkim_sig **sigs_r, size_t *count_r)
{
	DKIM_SIGINFO **list = NULL;
	int n = 0;
	if (dkim_getsiglist(h, &list, &n) != DKIM_STAT_OK || n <= 0)
		n = 0;
	if (n > MC_DKIM_MAX_SIGS)
		n = MC_DKIM_MAX_SIGS;
	struct mc_dkim_sig *sigs =
		mc_palloc_array(pool, (size_t)n + 1, sizeof(*sigs));
	for (int i = 0; i < n; i++) {
		judge(ctx, list[i], &sigs[i]);
		sigs[i].reason = mc_pstrdup(pool, sigs[i].reason);
		sigs[i].domain = tag(pool, dkim_sig_getdomain(list[i]));
		sigs[i].selector = tag(pool, dkim_sig_getselector(list[i]));
		sigs[i].algorithm = tag(pool, dkim_sig_getalgorithm(list[i]));
	}
	*sigs_r = sigs;
	*count_r = (size_t)n;
}

int mc_dkim_verify(struct mc_dkim *dkim, struct mc_pool *pool,
		   mc_dkim_read_fn *read, void *read_ctx,
		   const struct mc_dkim_sig **sigs_r, size_t *count_r,
		   struct mc_error *err)
{
	struct verify_ctx ctx = {.dns = dkim->dns, .pool = pool};
	DKIM_STAT st = DKIM_STAT_INTERNAL;
	if (dkim->dns == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "DKIM: verifying needs DNS");
		return -1;
	}
	DKIM *h = dkim_verify(dkim->lib, (const unsigned char *)"mc-dkim", NULL,
			      &st);
	if (h == NULL)
		return mc_dkim_lib_error(err, MC_ERR_TEMPORARY, NULL, "verify",
					 st);
	dkim_set_user_context(h, &ctx);
	int rc = mc_dkim_feed(&h, 1, true, read, read_ctx, err);
	*sigs_r = NULL;
	*count_r = 0;
	if (rc == 0) {
		(void)dkim_eom(h, NULL);
		collect(h, &ctx, pool, sigs_r, count_r);
	} else if (rc == 1) {
		*sigs_r = mc_palloc(pool, sizeof(struct mc_dkim_sig));
	}
	dkim_free(h);
	return rc < 0 ? -1 : 0;
}
