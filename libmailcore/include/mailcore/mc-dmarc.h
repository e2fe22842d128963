/* mc-dmarc: DMARC (RFC 7489) for inbound mail: policy discovery through
 * mc-dns (_dmarc.<From domain>, then _dmarc.<organizational domain>), the
 * organizational domain from the public suffix list with libpsl (Debian's
 * publicsuffix package by default), identifier alignment of the SPF and
 * DKIM results the caller already has, and the policy to apply after sp=
 * and pct=. Thread-safe: one struct mc_dmarc shared by the workers (the
 * suffix list is read-only once loaded). */
#ifndef MC_DMARC_H
#define MC_DMARC_H

#include <stdbool.h>
#include <stddef.h>

struct mc_dkim_sig;
struct mc_dns;
struct mc_error;
struct mc_pool;
struct mc_dmarc;

/* libpsl's own default (libpsl reads the DAFSA and the .dat text alike);
 * both ship in Debian's publicsuffix package. */
#define MC_DMARC_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dafsa"

struct mc_dmarc_settings {
	/* the public suffix list for psl_load_file(): the .dafsa or the
	 * .dat of publicsuffix; NULL = MC_DMARC_PSL_FILE */
	const char *psl_file;
};

enum mc_dmarc_policy {
	MC_DMARC_POLICY_NONE,
	MC_DMARC_POLICY_QUARANTINE,
	MC_DMARC_POLICY_REJECT,
};

enum mc_dmarc_result {
	MC_DMARC_NONE,	    /* no (usable) policy record: no DMARC */
	MC_DMARC_PASS,	    /* an aligned identifier passed */
	MC_DMARC_FAIL,	    /* a record exists and nothing aligned passed */
	MC_DMARC_TEMPERROR, /* the record lookup failed: never reject */
	MC_DMARC_PERMERROR, /* a record with an invalid p= or sp= and no rua=:
			     * no DMARC processing (RFC 7489 6.6.3 step 6) */
};

/* A parsed policy record (RFC 7489 6.3). Strings from the pool. */
struct mc_dmarc_record {
	enum mc_dmarc_policy p;
	enum mc_dmarc_policy sp; /* = p when absent or invalid-with-rua */
	unsigned pct;		 /* 0..100; 100 when absent or bad */
	bool adkim_strict;	 /* adkim=s (default r) */
	bool aspf_strict;	 /* aspf=s (default r) */
	const char *rua, *ruf;	 /* as written; NULL when absent */
	const char *fo;		 /* as written; "0" when absent */
	unsigned long ri;	 /* seconds; 86400 when absent or bad */
	/* p= (or sp=) was missing or invalid but rua= names a URI: the
	 * record is used as p=none (RFC 7489 6.6.3 step 6.1) */
	bool policy_invalid;
};

/* What the check needs from the SMTP transaction and the other filters. */
struct mc_dmarc_input {
	const char *from_domain; /* RFC5322.From domain (see below) */
	bool spf_pass;		 /* the SPF result was "pass" */
	/* the domain SPF checked: the MAIL FROM domain, or the HELO name
	 * for a null reverse-path; NULL when SPF did not run */
	const char *spf_domain;
	const struct mc_dkim_sig *dkim; /* mc_dkim_verify()'s results */
	size_t dkim_count;
	/* a random number in [0,100) for pct= sampling (a message is
	 * subject to the policy when random < pct) */
	unsigned random;
};

/* The outcome: all an Authentication-Results "dmarc" entry, the SMTP
 * answer and the logs need. Strings from the pool passed to the check. */
struct mc_dmarc_verdict {
	enum mc_dmarc_result result;
	/* what to do with the message: none unless the result is fail and
	 * the message was sampled in by pct= */
	enum mc_dmarc_policy policy;
	/* the record's p= (or sp= for a subdomain found through the
	 * organizational domain) before pct=; none without a record */
	enum mc_dmarc_policy requested;
	bool subdomain_policy;	   /* requested came from sp= */
	bool sampled_out;	   /* a fail left at policy none by pct= */
	bool spf_aligned;	   /* SPF passed for an aligned domain */
	bool dkim_aligned;	   /* a DKIM signature passed for one */
	const char *dkim_domain;   /* d= of the first aligned pass, or NULL */
	const char *header_from;   /* the From domain, lowercase; or NULL */
	const char *org_domain;	   /* its organizational domain */
	const char *policy_domain; /* where the record was found, or NULL */
	struct mc_dmarc_record record; /* valid when policy_domain != NULL */
	const char *reason; /* a short explanation for logs and reason= */
};

/* Loads the suffix list. NULL with err (MC_ERR_INVALID) when it cannot
 * be read. The caller owns the result and keeps dns alive while it is
 * used. */
struct mc_dmarc *mc_dmarc_create(const struct mc_dmarc_settings *set,
				 struct mc_dns *dns, struct mc_error *err);
void mc_dmarc_destroy(struct mc_dmarc **dmarc);

/* The organizational domain of domain (RFC 7489 3.2: one label more than
 * its public suffix), lowercase, from pool; the domain itself when it is
 * a public suffix. */
const char *mc_dmarc_org_domain(struct mc_dmarc *dmarc, struct mc_pool *pool,
				const char *domain);

/* Parses one TXT record: 1 and *rec_r (strings from pool) for a usable
 * DMARC record, 0 when the text does not start with v=DMARC1, -1 with
 * *error_r when p= (or sp=) is missing or invalid and no rua= URI saves
 * it. Unknown tags and bad optional values are ignored (defaults). */
int mc_dmarc_record_parse(struct mc_pool *pool, const char *text,
			  struct mc_dmarc_record *rec_r, const char **error_r);

/* Runs discovery and evaluation for in (RFC 7489 6.6.2-6.6.4); *v_r is
 * always filled. 1 for pass or fail, 0 for none or permerror, -1 with err
 * (MC_ERR_TEMPORARY) for temperror: a DNS failure must never reject. */
int mc_dmarc_check(struct mc_dmarc *dmarc, struct mc_pool *pool,
		   const struct mc_dmarc_input *in,
		   struct mc_dmarc_verdict *v_r, struct mc_error *err);

/* The RFC5322.From domain of a From header field value (folded or not):
 * 1 and *domain_r (lowercase, from pool); 0 with *error_r when there is
 * no mailbox with a domain; -1 with *error_r when the field holds
 * mailboxes of different domains (RFC 7489 6.6.1: refused). Several
 * mailboxes of one domain are that domain. A message with more than one
 * From field is the caller's to refuse. */
int mc_dmarc_from_domain(struct mc_pool *pool, const char *value, size_t len,
			 const char **domain_r, const char **error_r);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *mc_dmarc_result_name(enum mc_dmarc_result r);
/* "none", "quarantine", "reject". */
const char *mc_dmarc_policy_name(enum mc_dmarc_policy p);

#endif
