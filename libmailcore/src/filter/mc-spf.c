/* mc-spf: SPF (RFC 7208) checks of the HELO and MAIL FROM identities.
 * Each check builds a libspf2 server over its own mc-dns layer
 * (mc-spf-dns.c), maps libspf2's outcome onto the seven results (a DNS
 * failure is temperror, never fail) and writes the Received-SPF value. */
#include "mc-spf-private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-pool.h"
#include "mailcore/mc-spf.h"

#define DEFAULT_MAX_MECH 10
#define DOMAIN_MAX	 253
/* Our explanation when the domain gives none (libspf2's names a dead
 * web site). */
#define DEFAULT_EXP "%{o}%_does%_not%_designate%_%{i}%_as%_a%_permitted%_sender"

struct mc_spf {
	struct mc_dns *dns;
	char *receiver;
	int max_mech;
};

/* One check's question. */
struct query {
	enum mc_spf_identity identity;
	const char *domain;	/* lowercase, no trailing dot */
	const char *sender;	/* "user@domain" / "postmaster@helo" */
	const char *mail_from;	/* as given: "" null sender, NULL unknown */
	const char *helo;	/* NULL or "" when not given */
	const char *client_ip;	/* normalized text */
	int family;		/* of addr */
	unsigned char addr[16]; /* in_addr or in6_addr */
};

/* What libspf2 decided, copied out before its objects are freed. */
struct outcome {
	enum mc_spf_result result;
	const char *explanation;
	const char *problem;
	const char *mechanism;
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* Silences libspf2's warning, info and debug output (stderr). */
static void log_init(void)
{
	SPF_warning_handler = NULL;
	SPF_info_handler = NULL;
	SPF_debug_handler = NULL;
}

/* A checker from the settings. */
struct mc_spf *mc_spf_create(const struct mc_spf_settings *set,
			     struct mc_error *err)
{
	char host[256] = "";
	struct mc_spf *spf;

	if (set == NULL || set->dns == NULL) {
		mc_error_set(err, MC_ERR_INVALID, "SPF: no DNS resolver");
		return NULL;
	}
	pthread_once(&log_once, log_init);
	spf = mc_calloc(1, sizeof(*spf));
	spf->dns = set->dns;
	if (set->receiver != NULL && set->receiver[0] != '\0')
		spf->receiver = mc_strdup(set->receiver);
	else if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0')
		spf->receiver = mc_strdup(host);
	else
		spf->receiver = mc_strdup("localhost");
	spf->max_mech = set->max_dns_mechanisms != 0
				? (int)set->max_dns_mechanisms
				: DEFAULT_MAX_MECH;
	return spf;
}

/* Frees the checker; accepts NULL and clears *spf. */
void mc_spf_destroy(struct mc_spf **spf)
{
	if (spf == NULL || *spf == NULL)
		return;
	free((*spf)->receiver);
	free(*spf);
	*spf = NULL;
}

/* The result names, indexed by enum mc_spf_result. */
static const char *const result_names[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
};

/* The RFC 7208 word for result. */
const char *mc_spf_result_name(enum mc_spf_result result)
{
	if ((unsigned)result >= sizeof(result_names) / sizeof(result_names[0]))
		return "permerror";
	return result_names[result];
}

/* "mailfrom" or "helo". */
const char *mc_spf_identity_name(enum mc_spf_identity identity)
{
	return identity == MC_SPF_IDENTITY_HELO ? "helo" : "mailfrom";
}

/* ---- input checks ---- */

/* Lowercases domain (trailing dot dropped) into the pool; NULL when it is
 * no multi-label DNS name of LDH or "_" labels (RFC 7208 §4.3: none). */
static const char *domain_norm(struct mc_pool *pool, const char *domain)
{
	size_t len = strlen(domain), label = 0, labels = 1;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > DOMAIN_MAX)
		return NULL;
	char *out = mc_pstrndup(pool, domain, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c == '.') {
			if (label == 0)
				return NULL;
			label = 0;
			labels++;
		} else if ((!isalnum(c) && c != '-' && c != '_') ||
			   ++label > 63) {
			return NULL;
		}
		out[i] = (char)tolower(c);
	}
	return label > 0 && labels >= 2 ? out : NULL;
}

/* Parses the client address (IPv4-mapped IPv6 counts as IPv4, RFC 7208
 * §5) into q; false when it is none. */
static bool client_parse(struct mc_pool *pool, const char *ip, struct query *q)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};
	char buf[INET6_ADDRSTRLEN];

	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, q->addr) == 1) {
		q->family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, q->addr) == 1) {
		q->family = AF_INET6;
		if (memcmp(q->addr, mapped, sizeof(mapped)) == 0) {
			memmove(q->addr, q->addr + 12, 4);
			q->family = AF_INET;
		}
	} else {
		return false;
	}
	inet_ntop(q->family, q->addr, buf, sizeof(buf));
	q->client_ip = mc_pstrdup(pool, buf);
	return true;
}

/* ---- text for the answer and the header ---- */

/* A copy of s with control and non-ASCII bytes replaced by "?". */
static char *sanitize(struct mc_pool *pool, const char *s)
{
	char *out = mc_pstrdup(pool, s != NULL ? s : "");

	for (char *p = out; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c >= 0x7f)
			*p = '?';
	}
	return out;
}

/* s sanitized, with "\", "(" and ")" escaped for a comment. */
static char *comment_escape(struct mc_pool *pool, const char *s)
{
	const char *clean = sanitize(pool, s);
	char *out = mc_palloc(pool, strlen(clean) * 2 + 1), *o = out;

	for (const char *p = clean; *p != '\0'; p++) {
		if (*p == '\\' || *p == '(' || *p == ')')
			*o++ = '\\';
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* True for an RFC 5322 atext byte. */
static bool atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* True when s is an RFC 5322 dot-atom-text. */
static bool dot_atom(const char *s)
{
	bool last_dot = true;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (last_dot)
				return false;
			last_dot = true;
		} else if (atext((unsigned char)*s)) {
			last_dot = false;
		} else {
			return false;
		}
	}
	return !last_dot;
}

/* s sanitized as a key-value value: a dot-atom or a quoted-string. */
static const char *kv_value(struct mc_pool *pool, const char *s)
{
	const char *clean = sanitize(pool, s);
	char *out, *o;

	if (dot_atom(clean))
		return clean;
	out = o = mc_palloc(pool, strlen(clean) * 2 + 3);
	*o++ = '"';
	for (const char *p = clean; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* The comment text (unescaped) for the answer of q. */
static const char *comment_text(struct mc_pool *pool, const struct mc_spf *spf,
				const struct query *q,
				const struct outcome *out)
{
	const char *who =
		q->identity == MC_SPF_IDENTITY_HELO ? q->domain : q->sender;
	const char *r = spf->receiver, *ip = q->client_ip;

	if (q->domain[0] == '\0')
		return mc_psprintf(pool, "%s: no domain to check", r);
	switch (out->result) {
	case MC_SPF_PASS:
		return mc_psprintf(pool,
				   "%s: domain of %s designates %s as "
				   "permitted sender",
				   r, who, ip);
	case MC_SPF_FAIL:
		return mc_psprintf(pool,
				   "%s: domain of %s does not designate "
				   "%s as permitted sender",
				   r, who, ip);
	case MC_SPF_SOFTFAIL:
		return mc_psprintf(pool,
				   "%s: domain of transitioning %s does "
				   "not designate %s as permitted sender",
				   r, who, ip);
	case MC_SPF_NEUTRAL:
		return mc_psprintf(pool,
				   "%s: %s is neither permitted nor "
				   "denied by domain of %s",
				   r, ip, who);
	case MC_SPF_NONE:
		return mc_psprintf(pool,
				   "%s: domain of %s does not provide an "
				   "SPF record",
				   r, who);
	case MC_SPF_TEMPERROR:
		return mc_psprintf(pool,
				   "%s: temporary error checking domain "
				   "of %s",
				   r, who);
	default:
		return mc_psprintf(pool,
				   "%s: permanent error in the SPF "
				   "record of %s",
				   r, who);
	}
}

/* The Received-SPF field value of ans for q (RFC 7208 §9.1). */
static const char *received_spf(struct mc_pool *pool, const struct mc_spf *spf,
				const struct query *q,
				const struct mc_spf_answer *ans)
{
	char *v = mc_psprintf(pool, "%s (%s) client-ip=%s;",
			      mc_spf_result_name(ans->result),
			      comment_escape(pool, ans->comment),
			      kv_value(pool, q->client_ip));

	if (q->mail_from != NULL)
		v = mc_psprintf(pool, "%s envelope-from=%s;", v,
				kv_value(pool, q->mail_from));
	if (q->helo != NULL && q->helo[0] != '\0')
		v = mc_psprintf(pool, "%s helo=%s;", v,
				kv_value(pool, q->helo));
	v = mc_psprintf(pool, "%s receiver=%s; identity=%s;", v,
			kv_value(pool, spf->receiver),
			mc_spf_identity_name(q->identity));
	if (ans->mechanism != NULL)
		v = mc_psprintf(pool, "%s mechanism=%s;", v,
				kv_value(pool, ans->mechanism));
	if (ans->problem != NULL)
		v = mc_psprintf(pool, "%s problem=%s;", v,
				kv_value(pool, ans->problem));
	return v;
}

/* Fills ans from q and the outcome. */
static void answer_fill(struct mc_pool *pool, const struct mc_spf *spf,
			const struct query *q, const struct outcome *out,
			struct mc_spf_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	ans->result = out->result;
	ans->identity = q->identity;
	ans->domain = sanitize(pool, q->domain);
	ans->sender = sanitize(pool, q->sender);
	ans->explanation = sanitize(pool, out->explanation);
	ans->comment = sanitize(pool, comment_text(pool, spf, q, out));
	ans->problem =
		out->problem != NULL ? sanitize(pool, out->problem) : NULL;
	ans->mechanism = out->mechanism;
	ans->received_spf = received_spf(pool, spf, q, ans);
}

/* ---- evaluation with libspf2 ---- */

/* The first error message libspf2 recorded, or the text of code. */
static const char *spf_problem(struct mc_pool *pool, SPF_response_t *resp,
			       SPF_errcode_t code)
{
	for (int i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *e = SPF_response_message(resp, i);
		if (SPF_error_errorp(e) && SPF_error_message(e) != NULL)
			return mc_pstrdup(pool, SPF_error_message(e));
	}
	return mc_pstrdup(pool, SPF_strerror(code));
}

/* Maps libspf2's result onto ours; a DNS failure is never fail, an
 * exceeded limit (our layer stops the check with TRY_AGAIN) permerror. */
static enum mc_spf_result map_result(SPF_response_t *resp, SPF_errcode_t code,
				     const struct mc_spf_dns_ctx *ctx)
{
	static const enum mc_spf_result map[] = {
		[SPF_RESULT_NEUTRAL] = MC_SPF_NEUTRAL,
		[SPF_RESULT_PASS] = MC_SPF_PASS,
		[SPF_RESULT_FAIL] = MC_SPF_FAIL,
		[SPF_RESULT_SOFTFAIL] = MC_SPF_SOFTFAIL,
		[SPF_RESULT_NONE] = MC_SPF_NONE,
		[SPF_RESULT_TEMPERROR] = MC_SPF_TEMPERROR,
		[SPF_RESULT_PERMERROR] = MC_SPF_PERMERROR,
	};
	SPF_result_t r = SPF_response_result(resp);

	if (ctx->limit != NULL)
		return MC_SPF_PERMERROR;
	if (r == SPF_RESULT_TEMPERROR || code == SPF_E_DNS_ERROR)
		return MC_SPF_TEMPERROR;
	if (r > SPF_RESULT_INVALID && r <= SPF_RESULT_PERMERROR)
		return r == SPF_RESULT_PASS || ctx->temp.cls == MC_ERR_NONE
			       ? map[r]
			       : MC_SPF_TEMPERROR;
	if (ctx->temp.cls != MC_ERR_NONE)
		return MC_SPF_TEMPERROR;
	/* no result set: no record (none), or one that did not compile */
	return code == SPF_E_NOT_SPF && SPF_response_errors(resp) <= 1
		       ? MC_SPF_NONE
		       : MC_SPF_PERMERROR;
}

/* Copies what libspf2 decided into out (pool). */
static void outcome_read(struct mc_pool *pool, SPF_response_t *resp,
			 SPF_errcode_t code, const struct mc_spf_dns_ctx *ctx,
			 struct outcome *out)
{
	const char *exp = SPF_response_get_explanation(resp);

	out->result = map_result(resp, code, ctx);
	if (out->result == MC_SPF_FAIL && exp != NULL)
		out->explanation = mc_pstrdup(pool, exp);
	if (out->result == MC_SPF_TEMPERROR)
		out->problem = ctx->temp.cls != MC_ERR_NONE
				       ? mc_pstrdup(pool, ctx->temp.msg)
				       : spf_problem(pool, resp, code);
	else if (out->result == MC_SPF_PERMERROR)
		out->problem = ctx->limit != NULL
				       ? ctx->limit
				       : spf_problem(pool, resp, code);
	if (SPF_response_reason(resp) == SPF_REASON_DEFAULT &&
	    out->result != MC_SPF_TEMPERROR)
		out->mechanism = "default";
}

/* A libspf2 server over layer, configured from spf. */
static SPF_server_t *server_new(const struct mc_spf *spf,
				SPF_dns_server_t *layer)
{
	SPF_server_t *server = SPF_server_new_dns(layer, 0);
	SPF_response_t *resp = NULL;

	if (server == NULL)
		abort();
	SPF_server_set_rec_dom(server, spf->receiver);
	SPF_server_set_max_dns_mech(server, spf->max_mech);
	SPF_server_set_explanation(server, DEFAULT_EXP, &resp);
	if (resp != NULL)
		SPF_response_free(resp);
	return server;
}

/* The libspf2 request for q. */
static SPF_request_t *request_new(SPF_server_t *server, const struct query *q)
{
	SPF_request_t *req = SPF_request_new(server);

	if (req == NULL)
		abort();
	if (q->family == AF_INET)
		SPF_request_set_ipv4(req, *(const struct in_addr *)q->addr);
	else
		SPF_request_set_ipv6(req, *(const struct in6_addr *)q->addr);
	if (q->identity == MC_SPF_IDENTITY_HELO) {
		SPF_request_set_helo_dom(req, q->domain);
		req->use_helo = 1;
		return req;
	}
	if (q->helo != NULL && q->helo[0] != '\0')
		SPF_request_set_helo_dom(req, q->helo);
	SPF_request_set_env_from(req, q->sender);
	return req;
}

/* Runs libspf2 on q with a DNS layer of its own; fills out. */
static void evaluate(const struct mc_spf *spf, struct mc_pool *pool,
		     const struct query *q, struct outcome *out)
{
	struct mc_spf_dns_ctx ctx = {.dns = spf->dns,
				     .max_terms = (unsigned)spf->max_mech};
	SPF_response_t *resp = NULL;
	SPF_errcode_t code;

	ctx.pool = mc_pool_create("spf-dns", 0);
	SPF_dns_server_t *layer = mc_spf_dns_layer_new(&ctx);
	SPF_server_t *server = server_new(spf, layer);
	SPF_request_t *req = request_new(server, q);
	ctx.request = req;
	code = SPF_request_query_mailfrom(req, &resp);
	outcome_read(pool, resp, code, &ctx, out);
	SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(server);
	SPF_dns_free(layer);
	mc_pool_destroy(&ctx.pool);
}

/* Checks q unless its domain cannot be checked (none); fills ans. */
static int check(struct mc_spf *spf, struct mc_pool *pool,
		 const char *client_ip, struct query *q,
		 struct mc_spf_answer *ans_r, struct mc_error *err)
{
	struct outcome out = {.result = MC_SPF_NONE};

	if (!client_parse(pool, client_ip, q)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "SPF: client address \"%s\" is no IP address",
			     client_ip != NULL ? client_ip : "");
		return -1;
	}
	if (q->domain[0] != '\0')
		evaluate(spf, pool, q, &out);
	answer_fill(pool, spf, q, &out, ans_r);
	return 1;
}

/* Checks the HELO identity (postmaster@helo); mail_from is what the
 * header shows as envelope-from ("" null sender, NULL not known yet). */
static int helo_check(struct mc_spf *spf, struct mc_pool *pool,
		      const char *client_ip, const char *helo,
		      const char *mail_from, struct mc_spf_answer *ans_r,
		      struct mc_error *err)
{
	struct query q = {.identity = MC_SPF_IDENTITY_HELO,
			  .helo = helo,
			  .mail_from = mail_from};
	const char *dom = helo != NULL ? domain_norm(pool, helo) : NULL;

	q.domain = dom != NULL ? dom : "";
	q.sender = mc_psprintf(pool, "postmaster@%s", q.domain);
	return check(spf, pool, client_ip, &q, ans_r, err);
}

/* Checks the HELO identity alone. */
int mc_spf_check_helo(struct mc_spf *spf, struct mc_pool *pool,
		      const char *client_ip, const char *helo,
		      struct mc_spf_answer *ans_r, struct mc_error *err)
{
	return helo_check(spf, pool, client_ip, helo, NULL, ans_r, err);
}

/* Checks the MAIL FROM identity; the null sender checks HELO. */
int mc_spf_check(struct mc_spf *spf, struct mc_pool *pool,
		 const char *client_ip, const char *helo, const char *mail_from,
		 struct mc_spf_answer *ans_r, struct mc_error *err)
{
	struct query q = {.identity = MC_SPF_IDENTITY_MAILFROM,
			  .helo = helo,
			  .mail_from = mail_from};
	const char *at, *dom;

	if (mail_from == NULL || mail_from[0] == '\0')
		return helo_check(spf, pool, client_ip, helo, "", ans_r, err);
	at = strrchr(mail_from, '@');
	dom = domain_norm(pool, at != NULL ? at + 1 : mail_from);
	q.domain = dom != NULL ? dom : "";
	q.sender = at != NULL ? mail_from
			      : mc_psprintf(pool, "postmaster@%s", mail_from);
	return check(spf, pool, client_ip, &q, ans_r, err);
}
