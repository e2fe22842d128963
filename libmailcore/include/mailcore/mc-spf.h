/* mc-spf: Sender Policy Framework (RFC 7208) checks of the HELO and MAIL
 * FROM identities. libspf2 evaluates the records; every DNS question goes
 * through mc-dns, and a DNS failure gives temperror, never fail. Checks
 * are synchronous (they run on worker threads) and one struct mc_spf may
 * serve any number of threads at once: each check builds its own libspf2
 * server, as libspf2's SPF_server_t is not documented thread-safe. */
#ifndef MC_SPF_H
#define MC_SPF_H

struct mc_dns;
struct mc_error;
struct mc_pool;
struct mc_spf;

/* RFC 7208 §2.6 results, in the order of mc_spf_result_name(). */
enum mc_spf_result {
	MC_SPF_NONE = 0,
	MC_SPF_NEUTRAL,
	MC_SPF_PASS,
	MC_SPF_FAIL,
	MC_SPF_SOFTFAIL,
	MC_SPF_TEMPERROR,
	MC_SPF_PERMERROR,
};

/* The identity a check authorized (RFC 7208 §2.3, §2.4). */
enum mc_spf_identity {
	MC_SPF_IDENTITY_MAILFROM = 0,
	MC_SPF_IDENTITY_HELO,
};

struct mc_spf_settings {
	struct mc_dns *dns; /* required; not owned, must outlive the mc_spf */
	/* our host name, for the comment and receiver= of Received-SPF;
	 * NULL or "": gethostname() */
	const char *receiver;
	/* the DNS-querying terms one check may evaluate (RFC 7208 §4.6.4;
	 * more is permerror); 0 = 10 */
	unsigned max_dns_mechanisms;
};

/* The outcome of one check; strings owned by the pool passed in, free of
 * CR, LF and other control bytes. */
struct mc_spf_answer {
	enum mc_spf_result result;
	enum mc_spf_identity identity;
	const char *domain; /* the domain checked, lowercase; "" if none */
	const char *sender; /* "user@domain", or "postmaster@helo" for the
			       HELO identity (the %{s} of the check) */
	/* for fail: the domain's exp= text (or ours); "" otherwise */
	const char *explanation;
	/* "receiver: domain of x designates 192.0.2.1 as permitted sender" */
	const char *comment;
	/* for temperror and permerror: what went wrong; NULL otherwise */
	const char *problem;
	/* "default" when no mechanism matched; NULL when not known
	 * (libspf2 does not say which mechanism matched) */
	const char *mechanism;
	/* the complete Received-SPF field value, on one line, without the
	 * field name: result (comment) client-ip=...; envelope-from=...;
	 * helo=...; receiver=...; identity=...; [mechanism=...;]
	 * [problem=...;] (RFC 7208 §9.1) */
	const char *received_spf;
};

/* NULL with err (MC_ERR_INVALID) when the settings are unusable. */
struct mc_spf *mc_spf_create(const struct mc_spf_settings *set,
			     struct mc_error *err);
/* Accepts NULL and clears *spf. */
void mc_spf_destroy(struct mc_spf **spf);

/* Checks the MAIL FROM identity mail_from ("user@domain", no angle
 * brackets) of a client at client_ip (an IPv4 or IPv6 literal) that said
 * helo. The null sender (mail_from "" or NULL) checks the HELO identity
 * instead, as postmaster@helo (RFC 7208 §2.4): the same as
 * mc_spf_check_helo(). A domain that is no multi-label DNS name gives
 * none without any lookup. Loopback clients pass (libspf2's rule: the
 * pipeline should not check its own or trusted clients at all). 1 with
 * *ans_r filled for every SPF result (temperror and permerror included),
 * -1 with err (MC_ERR_INVALID) when client_ip is no IP address. */
int mc_spf_check(struct mc_spf *spf, struct mc_pool *pool,
		 const char *client_ip, const char *helo, const char *mail_from,
		 struct mc_spf_answer *ans_r, struct mc_error *err);
/* Checks the HELO identity alone (RFC 7208 §2.3 recommends it first: a
 * pass or fail there may decide without the MAIL FROM check). A HELO
 * that is an address literal or no FQDN gives none. Returns as
 * mc_spf_check(). */
int mc_spf_check_helo(struct mc_spf *spf, struct mc_pool *pool,
		      const char *client_ip, const char *helo,
		      struct mc_spf_answer *ans_r, struct mc_error *err);

/* "none", "neutral", "pass", "fail", "softfail", "temperror",
 * "permerror" (the Received-SPF and Authentication-Results words). */
const char *mc_spf_result_name(enum mc_spf_result result);
/* The name of an identity: "mailfrom" or "helo". */
const char *mc_spf_identity_name(enum mc_spf_identity identity);

#endif
