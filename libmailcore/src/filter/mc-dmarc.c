/* mc-dmarc: DMARC (RFC 7489): the policy record parser (6.3, 6.4), policy
 * discovery through mc-dns with the organizational-domain fallback of
 * 6.6.3, relaxed and strict identifier alignment (3.1) with the
 * organizational domain from libpsl, and the policy after sp= and pct=
 * (6.6.4). The RFC5322.From domain helper follows 6.6.1. */
#include <ctype.h>
#include <libpsl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-address.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#define DEFAULT_RI 86400UL

struct mc_dmarc {
	psl_ctx_t *psl;
	struct mc_dns *dns;
};

/* The records found by discovery. */
struct discovery {
	const char *domain; /* where the record is, NULL when none */
	const char *text;   /* the one v=DMARC1 record */
	size_t candidates;  /* v=DMARC1 records at the last name asked */
};

/* Loads the suffix list of the settings. */
struct mc_dmarc *mc_dmarc_create(const struct mc_dmarc_settings *set,
				 struct mc_dns *dns, struct mc_error *err)
{
	const char *file = set != NULL && set->psl_file != NULL
				   ? set->psl_file
				   : MC_DMARC_PSL_FILE;
	psl_ctx_t *psl = psl_load_file(file);

	if (psl == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "DMARC: cannot load the public suffix list %s",
			     file);
		return NULL;
	}
	struct mc_dmarc *dmarc = mc_calloc(1, sizeof(*dmarc));
	dmarc->psl = psl;
	dmarc->dns = dns;
	return dmarc;
}

/* Frees the suffix list; accepts NULL and clears the pointer. */
void mc_dmarc_destroy(struct mc_dmarc **dmarc)
{
	if (dmarc == NULL || *dmarc == NULL)
		return;
	psl_free((*dmarc)->psl);
	free(*dmarc);
	*dmarc = NULL;
}

/* A lowercase copy of domain without its trailing dot. */
static char *domain_norm(struct mc_pool *pool, const char *domain)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	return mc_str_lower(mc_pstrndup(pool, domain, len));
}

/* The organizational domain: the registrable domain of the list. */
const char *mc_dmarc_org_domain(struct mc_dmarc *dmarc, struct mc_pool *pool,
				const char *domain)
{
	char *norm = domain_norm(pool, domain);
	const char *reg = psl_registrable_domain(dmarc->psl, norm);

	return reg != NULL ? reg : norm;
}

/* ---- the record (RFC 7489 6.3, 6.4) ---- */

/* Skips blanks (WSP). */
static const char *skip_wsp(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31,
 * followed by dmarc-sep or the end. */
static bool is_dmarc1(const char *text)
{
	const char *p = skip_wsp(text);

	if (*p != 'v' && *p != 'V')
		return false;
	p = skip_wsp(p + 1);
	if (*p != '=')
		return false;
	p = skip_wsp(p + 1);
	if (strncmp(p, "DMARC1", 6) != 0)
		return false;
	p = skip_wsp(p + 6);
	return *p == '\0' || *p == ';';
}

/* "none" / "quarantine" / "reject" (case-insensitive); false for other
 * text. */
static bool policy_parse(const char *s, enum mc_dmarc_policy *p_r)
{
	if (strcasecmp(s, "none") == 0)
		*p_r = MC_DMARC_POLICY_NONE;
	else if (strcasecmp(s, "quarantine") == 0)
		*p_r = MC_DMARC_POLICY_QUARANTINE;
	else if (strcasecmp(s, "reject") == 0)
		*p_r = MC_DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

/* "r" or "s": sets *strict_r; other values keep the default. */
static void align_parse(const char *s, bool *strict_r)
{
	if (strcasecmp(s, "s") == 0)
		*strict_r = true;
	else if (strcasecmp(s, "r") == 0)
		*strict_r = false;
}

/* A number in [0, max]; false for anything else. */
static bool num_parse(const char *s, unsigned long max, unsigned long *n_r)
{
	uint64_t n;

	if (!mc_str_to_u64(s, &n) || n > max)
		return false;
	*n_r = (unsigned long)n;
	return true;
}

/* A URI with a scheme (RFC 3986 3.1) and something after it. */
static bool uri_ok(const char *s)
{
	const char *p = s;

	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' ||
	       *p == '.')
		p++;
	return *p == ':' && p[1] != '\0' && p[1] != '!';
}

/* True when a comma-separated rua= list names at least one valid URI. */
static bool rua_ok(struct mc_pool *pool, const char *rua)
{
	size_t n;
	char **uris;

	if (rua == NULL)
		return false;
	uris = mc_str_split(pool, rua, ",", &n);
	for (size_t i = 0; i < n; i++) {
		if (uri_ok(uris[i]))
			return true;
	}
	return false;
}

/* The parse state of one record: the raw policies, validity. */
struct rec_parse {
	struct mc_dmarc_record *rec;
	bool have_p, p_bad, sp_set, sp_bad;
};

/* Applies one tag=value of the record (unknown tags are ignored). */
static void tag_apply(struct rec_parse *st, struct mc_pool *pool,
		      const char *tag, const char *val)
{
	struct mc_dmarc_record *rec = st->rec;
	unsigned long n;

	if (strcasecmp(tag, "p") == 0 && !st->have_p) {
		st->have_p = true;
		st->p_bad = !policy_parse(val, &rec->p);
	} else if (strcasecmp(tag, "sp") == 0 && !st->sp_set) {
		st->sp_set = true;
		st->sp_bad = !policy_parse(val, &rec->sp);
	} else if (strcasecmp(tag, "pct") == 0 && num_parse(val, 100, &n)) {
		rec->pct = (unsigned)n;
	} else if (strcasecmp(tag, "adkim") == 0) {
		align_parse(val, &rec->adkim_strict);
	} else if (strcasecmp(tag, "aspf") == 0) {
		align_parse(val, &rec->aspf_strict);
	} else if (strcasecmp(tag, "rua") == 0 && rec->rua == NULL) {
		rec->rua = mc_pstrdup(pool, val);
	} else if (strcasecmp(tag, "ruf") == 0 && rec->ruf == NULL) {
		rec->ruf = mc_pstrdup(pool, val);
	} else if (strcasecmp(tag, "fo") == 0) {
		rec->fo = mc_pstrdup(pool, val);
	} else if (strcasecmp(tag, "ri") == 0 &&
		   num_parse(val, 0xffffffffUL, &n)) {
		rec->ri = n;
	}
}

/* Splits the record at ';' into tag=value pairs and applies them. */
static void tags_parse(struct rec_parse *st, struct mc_pool *pool,
		       const char *text)
{
	size_t n;
	char **items = mc_str_split(pool, text, ";", &n);

	for (size_t i = 1; i < n; i++) { /* items[0] is v=DMARC1 */
		char *eq = strchr(items[i], '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		tag_apply(st, pool, mc_str_trim(items[i]), mc_str_trim(eq + 1));
	}
}

/* Parses one TXT record into *rec_r. */
int mc_dmarc_record_parse(struct mc_pool *pool, const char *text,
			  struct mc_dmarc_record *rec_r, const char **error_r)
{
	struct rec_parse st = {.rec = rec_r};

	*error_r = NULL;
	memset(rec_r, 0, sizeof(*rec_r));
	if (!is_dmarc1(text))
		return 0;
	rec_r->pct = 100;
	rec_r->fo = "0";
	rec_r->ri = DEFAULT_RI;
	tags_parse(&st, pool, text);
	if (!st.sp_set || st.sp_bad)
		rec_r->sp = rec_r->p;
	if (st.have_p && !st.p_bad && !st.sp_bad)
		return 1;
	*error_r = !st.have_p ? "no p= tag"
		   : st.p_bad ? "invalid p= tag"
			      : "invalid sp= tag";
	if (!rua_ok(pool, rec_r->rua))
		return -1;
	/* 6.6.3 step 6.1: act as if p=none was published */
	rec_r->p = rec_r->sp = MC_DMARC_POLICY_NONE;
	rec_r->policy_invalid = true;
	return 1;
}

/* ---- discovery (RFC 7489 6.6.3) ---- */

/* Asks for _dmarc.<domain>; keeps the v=DMARC1 records in *d. 0, or -1
 * with err when the lookup failed. */
static int lookup(struct mc_dmarc *dmarc, struct mc_pool *pool,
		  const char *domain, struct discovery *d, struct mc_error *err)
{
	const char *name = mc_psprintf(pool, "_dmarc.%s", domain);
	const char *const *txt;
	size_t n;

	d->candidates = 0;
	if (mc_dns_txt(dmarc->dns, pool, name, &txt, &n, NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_dmarc1(txt[i]))
			continue;
		if (d->candidates++ == 0)
			d->text = txt[i];
	}
	if (d->candidates > 0)
		d->domain = domain;
	return 0;
}

/* The From domain's record, else the organizational domain's (steps 1-4).
 * 0, or -1 with err. */
static int discover(struct mc_dmarc *dmarc, struct mc_pool *pool,
		    const char *from, const char *org, struct discovery *d,
		    struct mc_error *err)
{
	memset(d, 0, sizeof(*d));
	if (lookup(dmarc, pool, from, d, err) < 0)
		return -1;
	if (d->candidates > 0 || strcmp(from, org) == 0)
		return 0;
	return lookup(dmarc, pool, org, d, err);
}

/* ---- evaluation (RFC 7489 3.1, 6.6.2, 6.6.4) ---- */

/* Identifier alignment of domain with the From domain of v. */
static bool aligned(struct mc_dmarc *dmarc, struct mc_pool *pool,
		    const struct mc_dmarc_verdict *v, const char *domain,
		    bool strict)
{
	if (domain == NULL || *domain == '\0')
		return false;
	if (strict)
		return strcmp(domain_norm(pool, domain), v->header_from) == 0;
	return strcmp(mc_dmarc_org_domain(dmarc, pool, domain),
		      v->org_domain) == 0;
}

/* Sets the alignment flags of v from the SPF and DKIM results. */
static void align(struct mc_dmarc *dmarc, struct mc_pool *pool,
		  const struct mc_dmarc_input *in, struct mc_dmarc_verdict *v)
{
	const struct mc_dmarc_record *rec = &v->record;

	v->spf_aligned = in->spf_pass && aligned(dmarc, pool, v, in->spf_domain,
						 rec->aspf_strict);
	for (size_t i = 0; i < in->dkim_count && !v->dkim_aligned; i++) {
		const struct mc_dkim_sig *sig = &in->dkim[i];
		if (sig->result != MC_DKIM_PASS ||
		    !aligned(dmarc, pool, v, sig->domain, rec->adkim_strict))
			continue;
		v->dkim_aligned = true;
		v->dkim_domain = domain_norm(pool, sig->domain);
	}
}

/* The requested policy after sp=, then the one applied after pct=. */
static void apply_policy(const struct mc_dmarc_input *in,
			 struct mc_dmarc_verdict *v, struct mc_pool *pool)
{
	const struct mc_dmarc_record *rec = &v->record;

	v->subdomain_policy = strcmp(v->policy_domain, v->header_from) != 0;
	v->requested = v->subdomain_policy ? rec->sp : rec->p;
	if (v->result != MC_DMARC_FAIL || v->requested == MC_DMARC_POLICY_NONE)
		return;
	if (in->random % 100 < rec->pct) {
		v->policy = v->requested;
		return;
	}
	v->sampled_out = true;
	v->reason = mc_psprintf(pool, "%s; sampled out by pct=%u", v->reason,
				rec->pct);
}

/* Evaluates the found record text against the inputs. */
static int evaluate(struct mc_dmarc *dmarc, struct mc_pool *pool,
		    const struct mc_dmarc_input *in, const char *text,
		    struct mc_dmarc_verdict *v)
{
	const char *error;

	if (mc_dmarc_record_parse(pool, text, &v->record, &error) < 0) {
		v->result = MC_DMARC_PERMERROR;
		v->reason = mc_psprintf(pool, "bad record at _dmarc.%s: %s",
					v->policy_domain, error);
		v->policy_domain = NULL;
		return 0;
	}
	align(dmarc, pool, in, v);
	v->result = v->spf_aligned || v->dkim_aligned ? MC_DMARC_PASS
						      : MC_DMARC_FAIL;
	v->reason = v->dkim_aligned  ? "aligned DKIM signature passed"
		    : v->spf_aligned ? "aligned SPF passed"
				     : "no aligned SPF or DKIM pass";
	apply_policy(in, v, pool);
	return 1;
}

/* Discovery and evaluation. */
int mc_dmarc_check(struct mc_dmarc *dmarc, struct mc_pool *pool,
		   const struct mc_dmarc_input *in,
		   struct mc_dmarc_verdict *v_r, struct mc_error *err)
{
	struct discovery d;

	memset(v_r, 0, sizeof(*v_r));
	if (in->from_domain == NULL || in->from_domain[0] == '\0') {
		v_r->reason = "no RFC5322.From domain";
		return 0;
	}
	v_r->header_from = domain_norm(pool, in->from_domain);
	v_r->org_domain = mc_dmarc_org_domain(dmarc, pool, v_r->header_from);
	if (discover(dmarc, pool, v_r->header_from, v_r->org_domain, &d, err) <
	    0) {
		v_r->result = MC_DMARC_TEMPERROR;
		v_r->reason = "DMARC record lookup failed";
		return -1;
	}
	if (d.candidates != 1) {
		v_r->reason = d.candidates == 0 ? "no DMARC record"
						: "several DMARC records";
		return 0;
	}
	v_r->policy_domain = d.domain;
	return evaluate(dmarc, pool, in, d.text, v_r);
}

/* ---- the From domain (RFC 7489 6.6.1) ---- */

/* The From domain of value. */
int mc_dmarc_from_domain(struct mc_pool *pool, const char *value, size_t len,
			 const char **domain_r, const char **error_r)
{
	size_t n;
	struct mc_address *a = mc_address_parse(pool, value, len, 0, &n);
	const char *found = NULL;

	*domain_r = NULL;
	*error_r = NULL;
	for (size_t i = 0; i < n; i++) {
		if (a[i].is_group_start || a[i].is_group_end)
			continue;
		if (a[i].domain == NULL || a[i].domain[0] == '\0' ||
		    a[i].domain[0] == '[') {
			*error_r = "From mailbox without a domain name";
			return 0;
		}
		const char *dom = domain_norm(pool, a[i].domain);
		if (found != NULL && strcmp(found, dom) != 0) {
			*error_r = "From field with several domains";
			return -1;
		}
		found = dom;
	}
	if (found == NULL)
		*error_r = "From field without a mailbox";
	*domain_r = found;
	return found != NULL ? 1 : 0;
}

/* The Authentication-Results name of a result. */
const char *mc_dmarc_result_name(enum mc_dmarc_result r)
{
	switch (r) {
	case MC_DMARC_PASS:
		return "pass";
	case MC_DMARC_FAIL:
		return "fail";
	case MC_DMARC_TEMPERROR:
		return "temperror";
	case MC_DMARC_PERMERROR:
		return "permerror";
	case MC_DMARC_NONE:
		break;
	}
	return "none";
}

/* The record's name of a policy. */
const char *mc_dmarc_policy_name(enum mc_dmarc_policy p)
{
	switch (p) {
	case MC_DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case MC_DMARC_POLICY_REJECT:
		return "reject";
	case MC_DMARC_POLICY_NONE:
		break;
	}
	return "none";
}
