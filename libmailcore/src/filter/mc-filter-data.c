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
#include "mailcore/mc-bayes.h"
#include "mailcore/mc-content-rules.h"
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

/* One domain's evaluation: its content rules' verdict (NULL: none) and
 * what its action needs said. */
struct domain_eval {
	const struct mc_content_verdict *content;
	const char *reject_code_text; /* the refusal's text */
	unsigned reject_code;
};

/* The action a deciding content rule asks for (NONE: none decided). */
static enum mc_filter_action content_action(struct mc_pool *pool,
					    const struct mc_content_verdict *cv,
					    struct mc_filter_verdict *v,
					    size_t i, struct domain_eval *e)
{
	const char *rule = cv->rule != NULL ? cv->rule : "attachment blocklist";
	switch (cv->action) {
	case MC_CONTENT_REJECT:
		e->reject_code = 550;
		e->reject_code_text = cv->text;
		return MC_FILTER_REJECT;
	case MC_CONTENT_QUARANTINE:
	case MC_CONTENT_HOLD:
		v->quarantine_category[i] = "policy";
		v->quarantine_reason[i] = mc_psprintf(
			pool, "%s: %s",
			cv->action == MC_CONTENT_HOLD ? "held for approval"
						      : "content rule",
			rule);
		return MC_FILTER_QUARANTINE;
	case MC_CONTENT_DELIVER:
		return MC_FILTER_DELIVER;
	default:
		return (enum mc_filter_action)-1;
	}
}

/* The spam score's action at p's thresholds. */
static enum mc_filter_action spam_action(const struct mc_filter_policy *p,
					 const struct mc_filter_verdict *v,
					 struct domain_eval *e,
					 struct mc_pool *pool)
{
	if (!v->scored)
		return MC_FILTER_DELIVER;
	if (p->spam_reject > 0 && v->spam_score >= p->spam_reject) {
		e->reject_code = 550;
		e->reject_code_text = mc_psprintf(
			pool, "Message rejected as spam (score %.1f)",
			v->spam_score);
		return MC_FILTER_REJECT;
	}
	if (p->spam_junk > 0 && v->spam_score >= p->spam_junk)
		return MC_FILTER_JUNK;
	if (p->spam_tag > 0 && v->spam_score >= p->spam_tag)
		return MC_FILTER_TAG;
	return MC_FILTER_DELIVER;
}

/* The action for one domain's policy: a virus, then a deciding content
 * rule, then DMARC, then the spam score. */
static enum mc_filter_action decide(struct mc_pool *pool,
				    const struct mc_filter_policy *p,
				    struct mc_filter_verdict *v, size_t i,
				    struct domain_eval *e)
{
	if (v->virus != NULL) {
		e->reject_code = 554;
		e->reject_code_text = mc_psprintf(
			pool, "Message rejected: virus found: %s", v->virus);
		v->quarantine_category[i] = "virus";
		v->quarantine_reason[i] =
			mc_psprintf(pool, "virus: %s", v->virus);
		return p->virus;
	}
	if (e->content != NULL) {
		enum mc_filter_action a =
			content_action(pool, e->content, v, i, e);
		if ((int)a >= 0)
			return a;
	}
	if (p->sender_list == MC_FILTER_LISTED_ALLOW)
		return MC_FILTER_DELIVER;
	if (p->sender_list == MC_FILTER_LISTED_BLOCK) {
		e->reject_code = 550;
		e->reject_code_text = "Message rejected: the sender is blocked "
				      "by the recipient";
		return MC_FILTER_REJECT;
	}
	if (p->dmarc && v->dmarc.policy == MC_DMARC_POLICY_REJECT) {
		e->reject_code = 550;
		e->reject_code_text = mc_psprintf(
			pool, "Message rejected by the DMARC policy of %s "
			      "(p=reject)",
			v->dmarc.policy_domain != NULL ? v->dmarc.policy_domain
						       : "the sender's domain");
		return MC_FILTER_REJECT;
	}
	if (p->dmarc && v->dmarc.policy == MC_DMARC_POLICY_QUARANTINE)
		return MC_FILTER_JUNK;
	enum mc_filter_action a = spam_action(p, v, e, pool);
	if (a == MC_FILTER_DELIVER && e->content != NULL &&
	    e->content->tags_count > 0)
		return MC_FILTER_TAG;
	return a;
}

/* The subject tag of a TAG action for domain i. */
static const char *tag_of(const struct mc_filter_policy *p,
			  const struct mc_filter_verdict *v,
			  const struct domain_eval *e)
{
	if (v->virus != NULL)
		return p->virus_tag;
	if (e->content != NULL && e->content->tags_count > 0 &&
	    !(v->scored && p->spam_tag > 0 && v->spam_score >= p->spam_tag))
		return e->content->tags[0];
	return p->tag;
}

/* Adds the content rules' BCC addresses (each once). */
static void collect_bcc(struct mc_pool *pool, struct mc_filter_verdict *v,
			const struct mc_content_verdict *cv)
{
	if (cv == NULL || cv->bcc_count == 0)
		return;
	const char **all = mc_palloc_array(pool, v->bcc_count + cv->bcc_count + 1,
					   sizeof(*all));
	if (v->bcc_count > 0)
		memcpy(all, v->bcc, v->bcc_count * sizeof(*all));
	for (size_t i = 0; i < cv->bcc_count; i++) {
		bool seen = false;
		for (size_t j = 0; j < v->bcc_count && !seen; j++)
			seen = strcmp(all[j], cv->bcc[i]) == 0;
		if (!seen)
			all[v->bcc_count++] = cv->bcc[i];
	}
	v->bcc = all;
}

/* Actions, the answer and the tag from the results. */
static void actions(struct mc_pool *pool,
		    const struct mc_filter_policy *const *policies,
		    size_t count, struct domain_eval *evals,
		    struct mc_filter_verdict *v)
{
	size_t rejects = 0;
	v->actions = mc_palloc_array(pool, count + 1, sizeof(*v->actions));
	for (size_t i = 0; i < count; i++) {
		v->actions[i] = decide(pool, policies[i], v, i, &evals[i]);
		rejects += v->actions[i] == MC_FILTER_REJECT;
		if (v->actions[i] == MC_FILTER_TAG && v->tag == NULL)
			v->tag = tag_of(policies[i], v, &evals[i]);
		if (v->actions[i] != MC_FILTER_REJECT)
			collect_bcc(pool, v, evals[i].content);
	}
	if (count > 0 && rejects == count)
		v->reply = (struct mc_filter_reply){
			evals[0].reject_code, "5.7.1", evals[0].reject_code_text};
	for (size_t i = 0; i < count && rejects < count; i++) {
		if (v->actions[i] == MC_FILTER_REJECT)
			v->actions[i] = MC_FILTER_JUNK; /* accepted once */
	}
}

/* The content rules of each local domain, evaluated on facts extracted
 * once (only when some domain has rules). 0, or -1 with err. */
static int content(struct mc_pool *pool, const struct mc_filter_envelope *env,
		   mc_filter_read_fn *read, void *ctx, size_t count,
		   struct domain_eval *evals, struct mc_error *err)
{
	const struct mc_content_facts *facts = NULL;
	if (env == NULL || env->pg == NULL || env->domain_ids == NULL)
		return 0;
	for (size_t i = 0; i < count; i++) {
		struct mc_content_rules *rules;
		if (env->domain_ids[i] <= 0 ||
		    mc_content_rules_load(env->pg, pool, env->tenants[i],
					  env->domain_ids[i], &rules, err) < 0) {
			if (err->cls != MC_ERR_NONE)
				return -1;
			continue;
		}
		if (mc_content_rules_total(rules) == 0 &&
		    mc_content_rules_blocklist_count(rules) == 0)
			continue;
		if (facts == NULL &&
		    mc_content_facts_extract(pool, read, ctx, env->sender,
					     env->rcpts, count, NULL, &facts,
					     err) < 0)
			return -1;
		struct mc_content_verdict *cv = mc_palloc(pool, sizeof(*cv));
		mc_content_rules_eval(rules, facts, cv);
		evals[i].content = cv;
	}
	return 0;
}

/* The Bayes symbol for the spam score (none while no table is active). */
static int bayes(struct mc_filter *f, struct mc_pool *pool,
		 const struct mc_filter_envelope *env, mc_filter_read_fn *read,
		 void *ctx, struct mc_spamrules_hit *hit,
		 struct mc_filter_verdict *v, struct mc_error *err)
{
	struct mc_bayes_result r;
	v->bayes = -1;
	if (f->set.bayes == NULL || env == NULL || env->pg == NULL ||
	    env->bayes_tenant <= 0)
		return 0;
	if (mc_bayes_classify(f->set.bayes, env->pg, pool, env->bayes_tenant,
			      read, ctx, &r, err) < 0)
		return -1;
	if (!r.active)
		return 0;
	v->bayes = r.probability;
	double p = r.probability;
	*hit = (struct mc_spamrules_hit){
		p >= 0.5 ? "BAYES_SPAM" : "BAYES_HAM",
		p >= 0.99   ? 4.0
		: p >= 0.9  ? 3.0
		: p >= 0.5  ? 1.0
		: p <= 0.01 ? -3.0
		: p <= 0.1  ? -1.5
			    : 0.0,
		mc_psprintf(pool, "Bayes spam probability %.2f", p)};
	return hit->score != 0.0 ? 1 : 0;
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
	struct mc_spamrules_hit hit;
	if (f->set.spam == NULL)
		return 0;
	int extra = bayes(f, pool, env, read, ctx, &hit, v, err);
	if (extra < 0)
		return -1;
	struct mc_spamrules_inputs in = {
		.spf = spf->result,
		.dkim = dkim_summary(v),
		.dmarc = v->dmarc.result,
		.dnsbl_score = env != NULL ? env->dnsbl_score : 0,
		.extra = extra > 0 ? &hit : NULL,
		.extra_count = (size_t)extra,
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
		    p->greylist_score <= 0 ||
		    v->spam_score < p->greylist_score ||
		    p->sender_list == MC_FILTER_LISTED_ALLOW)
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
	v->bayes = -1;
	struct domain_eval *evals =
		mc_palloc_array(pool, count + 1, sizeof(*evals));
	v->quarantine_reason = mc_palloc_array(pool, count + 1, sizeof(char *));
	v->quarantine_category =
		mc_palloc_array(pool, count + 1, sizeof(char *));
	if ((v->virus == NULL &&
	     score(f, pool, spf, env, read, read_ctx, v, err) < 0) ||
	    content(pool, env, read, read_ctx, count, evals, err) < 0)
		return -1;
	actions(pool, policies, count, evals, v);
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
