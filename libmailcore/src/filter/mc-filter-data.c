/* mc-filter-data: the end of DATA. DKIM signatures verified, the From
 * domain's DMARC policy evaluated against SPF and DKIM, the message
 * scanned for viruses and scored for spam; then one action per
 * recipient domain, the answer when all of them refuse (or greylisting's
 * when the score asks for it), and the Authentication-Results,
 * Received-SPF and X-Spam fields to add. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-spamrules.h"
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
	if (!v->scored)
		return MC_FILTER_DELIVER;
	if (p->spam_reject > 0 && v->spam_score >= p->spam_reject)
		return MC_FILTER_REJECT;
	if (p->spam_junk > 0 && v->spam_score >= p->spam_junk)
		return MC_FILTER_JUNK;
	if (p->spam_tag > 0 && v->spam_score >= p->spam_tag)
		return MC_FILTER_TAG;
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
	if (v->dmarc.policy != MC_DMARC_POLICY_REJECT) {
		v->reply = (struct mc_filter_reply){
			550, "5.7.1",
			mc_psprintf(pool, "Message rejected as spam (score %.1f)",
				    v->spam_score)};
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
	v->headers = mc_psprintf(pool, "Authentication-Results: %s\r\n%s%s%s%s",
				 mc_authres_value(ar),
				 spf->received_spf != NULL ? "Received-SPF: "
							   : "",
				 spf->received_spf != NULL ? spf->received_spf
							   : "",
				 spf->received_spf != NULL ? "\r\n" : "",
				 v->spam_headers != NULL ? v->spam_headers : "");
}

/* The DKIM input of the spam score: pass when one passed, else fail
 * when one failed. */
static enum mc_dkim_result dkim_summary(const struct mc_filter_verdict *v)
{
	enum mc_dkim_result r = MC_DKIM_NONE;
	for (size_t i = 0; i < v->dkim_count; i++) {
		if (v->dkim[i].result == MC_DKIM_PASS)
			return MC_DKIM_PASS;
		if (v->dkim[i].result == MC_DKIM_FAIL)
			r = MC_DKIM_FAIL;
	}
	return r;
}

/* X-Spam-Score and X-Spam-Status (the symbols that hit, at most 20). */
static const char *spam_headers(struct mc_pool *pool,
				const struct mc_spamrules_result *r,
				double tag)
{
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_buf_printf(&b, "X-Spam-Score: %.1f\r\nX-Spam-Status: %s, score=%.1f",
		      r->score, tag > 0 && r->score >= tag ? "Yes" : "No",
		      r->score);
	for (size_t i = 0; i < r->hit_count && i < 20; i++)
		mc_buf_printf(&b, "%s%s", i == 0 ? "\r\n\ttests=" : ",",
			      r->hits[i].name);
	mc_buf_append_str(&b, "\r\n");
	return mc_buf_cstr(&b);
}

/* The spam score (none without rules). 0, or -1 with err. */
static int score(struct mc_filter *f, struct mc_pool *pool,
		 const struct mc_spf_answer *spf,
		 const struct mc_filter_envelope *env, mc_filter_read_fn *read,
		 void *ctx, struct mc_filter_verdict *v, struct mc_error *err)
{
	struct mc_spamrules_result r;
	if (f->set.spam == NULL)
		return 0;
	struct mc_spamrules_inputs in = {
		.spf = spf->result,
		.dkim = dkim_summary(v),
		.dmarc = v->dmarc.result,
		.dnsbl_score = env != NULL ? env->dnsbl_score : 0,
	};
	if (mc_spamrules_scan(f->set.spam, pool, read, ctx, &in, &r, err) < 0)
		return -1;
	v->scored = true;
	v->spam_score = r.score;
	v->spam_headers = spam_headers(pool, &r, f->set.defaults.spam_tag);
	return 0;
}

/* Greylisting where a domain asks for it at this score: the first
 * deferral answers the whole transaction (451 4.7.1). */
static void greylist_scored(struct mc_filter *f, struct mc_pool *pool,
			    const struct mc_filter_envelope *env,
			    const struct mc_filter_policy *const *policies,
			    size_t count, struct mc_filter_verdict *v)
{
	if (env == NULL || !v->scored || v->reply.code != 0)
		return;
	for (size_t i = 0; i < count; i++) {
		const struct mc_filter_policy *p = policies[i];
		if (p->greylist != MC_FILTER_GREY_SCORE ||
		    p->greylist_score <= 0 || v->spam_score < p->greylist_score)
			continue;
		struct mc_filter_reply g = mc_filter_greylist(
			f, pool, env, env->rcpts[i], env->rcpt_domains[i]);
		if (g.code != 0) {
			v->reply = g;
			return;
		}
	}
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
		   const struct mc_spf_answer *spf,
		   const struct mc_filter_envelope *env, mc_filter_read_fn *read,
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
	if (v->virus == NULL &&
	    score(f, pool, spf, env, read, read_ctx, v, err) < 0)
		return -1;
	actions(pool, policies, count, v);
	greylist_scored(f, pool, env, policies, count, v);
	headers(f, pool, spf, v);
	v->summary = mc_psprintf(
		pool, "spf=%s dkim=%s dmarc=%s%s%s%s", mc_spf_result_name(spf->result),
		v->dkim_count == 0 ? "none"
				   : mc_dkim_result_name(v->dkim[0].result),
		mc_dmarc_result_name(v->dmarc.result),
		v->virus != NULL ? " virus=" : "",
		v->virus != NULL ? v->virus : "",
		v->scored ? mc_psprintf(pool, " spam=%.1f", v->spam_score)
			  : "");
	return 0;
}
