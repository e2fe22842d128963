/* mc-filter-data: the end of DATA. DKIM signatures verified, the From
 * domain's DMARC policy evaluated against SPF and DKIM, the message
 * scanned for viruses; then one action per recipient domain, the answer
 * when all of them refuse, and the Authentication-Results and
 * Received-SPF fields to add. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mc-filter-private.h"

/* The header section read to find From (a longer one: no DMARC). */
#define HEADER_MAX (256 * 1024)

/* Reads up to HEADER_MAX bytes of the header section into pool. */
static size_t read_header(struct mc_pool *pool, mc_filter_read_fn *read,
			  void *ctx, char **out)
{
	char *buf = mc_palloc(pool, HEADER_MAX + 1);
	size_t len = 0;
	ssize_t n;
	while (len < HEADER_MAX &&
	       (n = read(ctx, buf + len, HEADER_MAX - len, len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	buf[len] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (end != NULL)
		end[2] = '\0';
	*out = buf;
	return end != NULL ? (size_t)(end + 2 - buf) : len;
}

/* The end of the field starting at p (its last CRLF excluded). */
static const char *field_end(const char *p, const char *end)
{
	const char *q = p;
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL)
			return end;
		if (nl + 1 >= end || (nl[1] != ' ' && nl[1] != '\t'))
			return nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		q = nl + 1;
	}
	return end;
}

/* The domain of the single From field: 1, 0 (none usable: no DMARC),
 * with *why_r for the log. */
static int from_domain(struct mc_pool *pool, const char *hdr, size_t len,
		       const char **dom_r, const char **why_r)
{
	const char *p = hdr, *end = hdr + len, *value = NULL;
	size_t vlen = 0;
	int froms = 0;
	while (p < end) {
		const char *fe = field_end(p, end);
		const char *colon = memchr(p, ':', (size_t)(fe - p));
		if (colon != NULL && colon - p == 4 &&
		    strncasecmp(p, "From", 4) == 0 && froms++ == 0) {
			value = colon + 1;
			vlen = (size_t)(fe - value);
		}
		p = fe + 2;
	}
	if (froms != 1) {
		*why_r = froms == 0 ? "no From field" : "several From fields";
		return 0;
	}
	return mc_dmarc_from_domain(pool, value, vlen, dom_r, why_r) == 1;
}

/* DMARC for the message (verdict none when it cannot apply). */
static void check_dmarc(struct mc_filter *f, struct mc_pool *pool,
			const struct mc_spf_answer *spf, const char *hdr,
			size_t hlen, struct mc_filter_verdict *v)
{
	const char *dom = NULL, *why = NULL;
	unsigned rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned)random();
	v->dmarc = (struct mc_dmarc_verdict){.result = MC_DMARC_NONE,
					     .reason = why};
	if (!from_domain(pool, hdr, hlen, &dom, &why)) {
		v->dmarc.reason = why;
		return;
	}
	struct mc_dmarc_input in = {
		.from_domain = dom,
		.spf_pass = spf->result == MC_SPF_PASS,
		.spf_domain = spf->domain != NULL && *spf->domain != '\0'
				      ? spf->domain
				      : NULL,
		.dkim = v->dkim,
		.dkim_count = v->dkim_count,
		.random = rnd % 100,
	};
	struct mc_error err = {0};
	(void)mc_dmarc_check(f->dmarc, pool, &in, &v->dmarc, &err);
}

/* The action for one domain's policy. */
static enum mc_filter_action decide(const struct mc_filter_policy *p,
				    const struct mc_filter_verdict *v)
{
	if (v->virus != NULL)
		return p->virus == MC_FILTER_TAG ? MC_FILTER_TAG
						 : MC_FILTER_REJECT;
	if (p->dmarc && v->dmarc.policy == MC_DMARC_POLICY_REJECT)
		return MC_FILTER_REJECT;
	if (p->dmarc && v->dmarc.policy == MC_DMARC_POLICY_QUARANTINE)
		return MC_FILTER_JUNK;
	return MC_FILTER_DELIVER;
}

/* The refusal when every domain refuses. */
static void refusal(struct mc_pool *pool, struct mc_filter_verdict *v)
{
	if (v->virus != NULL) {
		v->reply = (struct mc_filter_reply){
			554, "5.7.1",
			mc_psprintf(pool, "Message rejected: virus found: %s",
				    v->virus)};
		return;
	}
	v->reply = (struct mc_filter_reply){
		550, "5.7.1",
		mc_psprintf(pool,
			    "Message rejected by the DMARC policy of %s "
			    "(p=reject)",
			    v->dmarc.policy_domain != NULL
				    ? v->dmarc.policy_domain
				    : "the sender's domain")};
}

/* Actions, the answer and the tag from the results. */
static void actions(struct mc_pool *pool,
		    const struct mc_filter_policy *const *policies,
		    size_t count, struct mc_filter_verdict *v)
{
	size_t rejects = 0;
	v->actions = mc_palloc_array(pool, count + 1, sizeof(*v->actions));
	for (size_t i = 0; i < count; i++) {
		v->actions[i] = decide(policies[i], v);
		rejects += v->actions[i] == MC_FILTER_REJECT;
		if (v->actions[i] == MC_FILTER_TAG && v->tag == NULL)
			v->tag = v->virus != NULL ? policies[i]->virus_tag
						  : policies[i]->tag;
	}
	if (count > 0 && rejects == count)
		refusal(pool, v);
	for (size_t i = 0; i < count && rejects < count; i++) {
		if (v->actions[i] == MC_FILTER_REJECT)
			v->actions[i] = MC_FILTER_JUNK; /* accepted once */
	}
}

/* Authentication-Results and Received-SPF, CRLF-terminated. */
static void headers(struct mc_filter *f, struct mc_pool *pool,
		    const struct mc_spf_answer *spf,
		    struct mc_filter_verdict *v)
{
	struct mc_authres *ar = mc_authres_create(pool, f->authserv_id);
	bool helo = spf->identity == MC_SPF_IDENTITY_HELO;
	mc_authres_add_spf(ar, mc_spf_result_name(spf->result),
			   helo ? NULL : spf->sender, helo ? spf->domain : NULL);
	for (size_t i = 0; i < v->dkim_count; i++)
		mc_authres_add_dkim(ar, &v->dkim[i]);
	if (v->dkim_count == 0)
		mc_authres_add(ar, "dkim", "none");
	mc_authres_add_dmarc(ar, &v->dmarc);
	v->headers = mc_psprintf(pool, "Authentication-Results: %s\r\n%s%s%s",
				 mc_authres_value(ar),
				 spf->received_spf != NULL ? "Received-SPF: "
							   : "",
				 spf->received_spf != NULL ? spf->received_spf
							   : "",
				 spf->received_spf != NULL ? "\r\n" : "");
}

/* The virus scan (none without a scanner). 0, or -1 with err. */
static int scan(struct mc_filter *f, struct mc_pool *pool,
		mc_filter_read_fn *read, void *ctx, uint64_t size,
		struct mc_filter_verdict *v, struct mc_error *err)
{
	const char *virus = NULL;
	if (f->set.av == NULL)
		return 0;
	int rc = mc_av_scan_reader(f->set.av, read, ctx, size, &virus, pool,
				   err);
	if (rc < 0)
		return -1;
	v->virus = rc == 1 ? virus : NULL;
	return 0;
}

int mc_filter_data(struct mc_filter *f, struct mc_pool *pool,
		   const struct mc_spf_answer *spf, mc_filter_read_fn *read,
		   void *read_ctx, uint64_t size,
		   const struct mc_filter_policy *const *policies, size_t count,
		   struct mc_filter_verdict *v, struct mc_error *err)
{
	char *hdr;
	*v = (struct mc_filter_verdict){0};
	if (mc_dkim_verify(f->dkim, pool, read, read_ctx, &v->dkim,
			   &v->dkim_count, err) < 0 ||
	    scan(f, pool, read, read_ctx, size, v, err) < 0)
		return -1;
	size_t hlen = read_header(pool, read, read_ctx, &hdr);
	check_dmarc(f, pool, spf, hdr, hlen, v);
	actions(pool, policies, count, v);
	headers(f, pool, spf, v);
	v->summary = mc_psprintf(
		pool, "spf=%s dkim=%s dmarc=%s%s%s", mc_spf_result_name(spf->result),
		v->dkim_count == 0 ? "none"
				   : mc_dkim_result_name(v->dkim[0].result),
		mc_dmarc_result_name(v->dmarc.result),
		v->virus != NULL ? " virus=" : "",
		v->virus != NULL ? v->virus : "");
	return 0;
}
