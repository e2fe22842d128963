/* mc-filter: the inbound protection pipeline mc-smtpd runs on mail from
 * outside (not on authenticated or trusted clients' mail): DNSBLs and
 * SPF at MAIL FROM (SPF's verdict applied per recipient domain at RCPT,
 * with greylisting where a domain always wants it), then at the end of
 * DATA DKIM verification, DMARC, the virus scan and the spam score
 * (rules, the other results, DNSBL hits), greylisting where the score
 * asks for it; one verdict per recipient domain and the header fields to
 * add (one Authentication-Results, Received-SPF, X-Spam-*) while forged
 * Authentication-Results fields with our authserv-id are dropped. Each
 * domain may override the server's actions (domains.filter_settings,
 * JSON). Synchronous: it runs on worker threads; one struct mc_filter is
 * shared by all of them. */
#ifndef MC_FILTER_H
#define MC_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mc-addr.h"
#include "mc-dkim.h"
#include "mc-dmarc.h"
#include "mc-spf.h"

struct mc_av;
struct mc_bayes;
struct mc_config;
struct mc_dnsbl;
struct mc_greylist;
struct mc_redis;
struct mc_spamrules;
struct mc_dns;
struct mc_error;
struct mc_pg;
struct mc_pool;
struct mc_filter;

/* What happens to a message for one recipient domain. */
enum mc_filter_action {
	MC_FILTER_DELIVER, /* to the inbox */
	MC_FILTER_TAG,	   /* to the inbox, the subject tagged */
	MC_FILTER_JUNK,	   /* to the Junk folder */
	MC_FILTER_REJECT,  /* refused (5xx); when only some of the
			    * recipient domains refuse, their copies go to
			    * Junk: the message is accepted once */
	MC_FILTER_QUARANTINE, /* held out of the mailbox (mc-quarantine) */
};

/* When a domain greylists (RFC 6647): never, every new triplet at RCPT,
 * or (the default, as Rspamd does) only a message whose spam score
 * reaches greylist_score. */
enum mc_filter_greylist {
	MC_FILTER_GREY_OFF,
	MC_FILTER_GREY_ALWAYS,
	MC_FILTER_GREY_SCORE,
};

enum mc_filter_sender_list {
	MC_FILTER_LISTED_NONE = 0,
	MC_FILTER_LISTED_ALLOW,
	MC_FILTER_LISTED_BLOCK,
};

/* A domain's choices (server defaults from [filter], then the domain's
 * filter_settings JSON on top). */
struct mc_filter_policy {
	bool spf_reject_fail;	  /* SPF fail: 550 5.7.23 (else tag) */
	bool spf_reject_softfail; /* SPF softfail: 550 5.7.23 (else tag) */
	bool dmarc;		  /* apply p=reject / p=quarantine */
	enum mc_filter_action virus; /* REJECT (554 5.7.1), QUARANTINE or
				      * TAG */
	const char *tag;	     /* the subject tag, e.g. "[SPAM]" */
	const char *virus_tag;	     /* "[VIRUS]" */
	enum mc_filter_greylist greylist;
	/* the recipient's and its domain's sender lists said (allow beats
	 * block): allowed mail skips greylisting, DMARC and the spam score,
	 * blocked mail is refused (550 5.7.1) */
	enum mc_filter_sender_list sender_list;
	/* spam score thresholds (0: that step is off) */
	double spam_tag, spam_junk, spam_reject, greylist_score;
};

struct mc_filter_settings {
	const char *authserv_id; /* our host name, in the headers we add */
	struct mc_dns *dns;	 /* not owned; must outlive the filter */
	struct mc_av *av;	 /* NULL: no virus scan; not owned */
	struct mc_spamrules *spam; /* NULL: no spam score; not owned */
	struct mc_dnsbl *dnsbl;	   /* NULL: no DNSBLs; not owned */
	struct mc_greylist *greylist; /* NULL: no greylisting; not owned */
	struct mc_bayes *bayes;	      /* NULL: no classifier; not owned */
	const char *psl_file;	 /* NULL: mc-dmarc's default */
	struct mc_filter_policy defaults;
};

/* Fills set->defaults from [filter] and authserv_id from [server]. */
void mc_filter_settings_from_config(const struct mc_config *cfg,
				    struct mc_filter_settings *set);

/* NULL with err when a part cannot be set up (the suffix list). The
 * caller owns the result. */
struct mc_filter *mc_filter_create(const struct mc_filter_settings *set,
				   struct mc_error *err);
void mc_filter_destroy(struct mc_filter **filter);

/* The policy of a domain: the defaults with its filter_settings applied
 * (keys spf_fail, spf_softfail: "reject"|"tag"; dmarc: true|false;
 * virus: "reject"|"tag"; tag, virus_tag: strings). Unknown keys and bad
 * values are ignored. */
void mc_filter_policy_apply(struct mc_pool *pool, const char *json,
			    struct mc_filter_policy *policy);
/* Reads a domain's filter_settings and applies them (0), or -1 with
 * err (MC_ERR_TEMPORARY: the caller answers 451). */
int mc_filter_policy_load(struct mc_filter *f, struct mc_pg *pg,
			  struct mc_pool *pool, int64_t tenant_id,
			  int64_t domain_id, struct mc_filter_policy *policy,
			  struct mc_error *err);
const struct mc_filter_policy *mc_filter_defaults(const struct mc_filter *f);
/* Looks sender ("" = null) up in the sender lists of the domain and of
 * user_id (0 = none) into policy->sender_list. 0, or -1 with err. */
int mc_filter_sender_lists(struct mc_pg *pg, int64_t tenant_id,
			   int64_t domain_id, int64_t user_id,
			   const char *sender, struct mc_filter_policy *policy,
			   struct mc_error *err);

/* An SMTP answer (code 0: none). */
struct mc_filter_reply {
	unsigned code;
	const char *enh, *text;
};

/* MAIL FROM: the SPF check of the client (sender "" checks the HELO
 * identity). Never fails: DNS trouble is a temperror result. */
void mc_filter_spf(struct mc_filter *f, struct mc_pool *pool,
		   const char *client_ip, const char *helo, const char *sender,
		   struct mc_spf_answer *ans_r);
/* RCPT: the answer SPF gives for a recipient of a domain with policy
 * (code 0: go on). */
struct mc_filter_reply mc_filter_spf_rcpt(const struct mc_filter_policy *policy,
					  const struct mc_spf_answer *spf);

/* MAIL FROM: the DNSBL score of the client; a refusal (554 5.7.1 with
 * the list's text) when it is over the threshold. A list that cannot be
 * asked counts as not listing. */
struct mc_filter_reply mc_filter_dnsbl(struct mc_filter *f,
				       struct mc_pool *pool,
				       const char *client_ip, int *score_r);

/* The greylisting triplet of a transaction. */
struct mc_filter_envelope {
	struct mc_redis *redis;
	const char *client_ip, *sender;
	const char *const *rcpts; /* one per policy of mc_filter_data */
	const char *const *rcpt_domains;
	/* the recipient domains' tenant and id (0: a remote recipient): the
	 * content rules of each local domain are loaded through pg */
	const int64_t *tenants, *domain_ids;
	struct mc_pg *pg;     /* NULL: no Bayes, no content rules */
	int64_t bayes_tenant; /* whose classifier (0: none) */
	int dnsbl_score;
};

/* Greylists one recipient now (451 4.7.1 while deferred; code 0: pass,
 * exempt, or Redis down: greylisting fails open). */
struct mc_filter_reply mc_filter_greylist(struct mc_filter *f,
					  struct mc_pool *pool,
					  const struct mc_filter_envelope *env,
					  const char *rcpt,
					  const char *rcpt_domain);

/* Reads the message being checked (CRLF lines, as received, without our
 * Received header); the count, 0 at the end, -1 on error. */
typedef ssize_t mc_filter_read_fn(void *ctx, void *buf, size_t len,
				  uint64_t offset);

/* What the end of DATA decides. */
struct mc_filter_verdict {
	/* per policy given, in the same order */
	enum mc_filter_action *actions;
	/* when every domain refuses: the answer (else code 0) */
	struct mc_filter_reply reply;
	/* header fields to put at the top, CRLF-terminated (pool) */
	const char *headers;
	/* the subject tag for TAG actions ("[VIRUS]" or the policy's) */
	const char *tag;
	const struct mc_dkim_sig *dkim;
	size_t dkim_count;
	struct mc_dmarc_verdict dmarc;
	const char *virus; /* the signature name, or NULL */
	bool scored;	   /* a spam score was computed */
	double spam_score;
	const char *spam_headers; /* X-Spam-Score and X-Spam-Status */
	double bayes;		  /* spam probability, or -1 (inactive) */
	/* per policy: why a QUARANTINE action was taken and its category
	 * ("virus", "spam", "policy", "dmarc"), NULL otherwise */
	const char **quarantine_reason, **quarantine_category;
	/* addresses content rules add as BCC copies (any domain) */
	const char **bcc;
	size_t bcc_count;
	/* one line for the log: "spf=pass dkim=pass dmarc=pass ..." */
	const char *summary;
};

/* The end of DATA. spf is the answer of mc_filter_spf; policies one per
 * recipient domain. 0 with *v_r, or -1 with err (temporary: a message
 * that cannot be read or scanned is answered 451, never accepted
 * unchecked nor refused). */
int mc_filter_data(struct mc_filter *f, struct mc_pool *pool,
		   const struct mc_spf_answer *spf,
		   const struct mc_filter_envelope *env, mc_filter_read_fn *read,
		   void *read_ctx, uint64_t size,
		   const struct mc_filter_policy *const *policies, size_t count,
		   struct mc_filter_verdict *v_r, struct mc_error *err);

/* Whether a header field of an incoming message is a forged
 * Authentication-Results with our authserv-id (to be dropped). */
bool mc_filter_drop_field(const struct mc_filter *f, const char *name,
			  size_t name_len, const char *value, size_t value_len);

#endif
