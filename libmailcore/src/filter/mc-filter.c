/* mc-filter: the pipeline's setup and its MAIL/RCPT part: the shared
 * checkers (SPF, DKIM, DMARC), the server's default actions from
 * [filter], a domain's overrides from domains.filter_settings, and the
 * SPF verdict per recipient domain. mc-filter-data.c is the end of DATA. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-dnsbl.h"
#include "mailcore/mc-greylist.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mc-filter-private.h"

static const char lists_sql[] =
	"SELECT bool_or(kind = 'allow'), bool_or(kind = 'block') "
	"FROM sender_lists WHERE tenant_id = $1 AND domain_id = $2"
	" AND (user_id IS NULL OR user_id = $3)"
	" AND (pattern = lower($4) OR pattern = '@' || lower($5))";

static const char policy_sql[] =
	"SELECT filter_settings::text FROM domains "
	"WHERE tenant_id = $1 AND id = $2";

/* "reject" / "quarantine" / "tag", else dflt. */
static enum mc_filter_action virus_action(const char *v,
					  enum mc_filter_action dflt)
{
	if (v != NULL && strcmp(v, "reject") == 0)
		return MC_FILTER_REJECT;
	if (v != NULL && strcmp(v, "quarantine") == 0)
		return MC_FILTER_QUARANTINE;
	if (v != NULL && strcmp(v, "tag") == 0)
		return MC_FILTER_TAG;
	return dflt;
}

/* "off" / "always" / "score", else dflt. */
static enum mc_filter_greylist greylist_mode(const char *v,
					     enum mc_filter_greylist dflt)
{
	if (v == NULL)
		return dflt;
	if (strcmp(v, "off") == 0)
		return MC_FILTER_GREY_OFF;
	if (strcmp(v, "always") == 0)
		return MC_FILTER_GREY_ALWAYS;
	if (strcmp(v, "score") == 0)
		return MC_FILTER_GREY_SCORE;
	return dflt;
}

void mc_filter_settings_from_config(const struct mc_config *cfg,
				    struct mc_filter_settings *set)
{
	const char *host = mc_config_str(cfg, "server", "hostname");
	set->authserv_id = *host != '\0' ? host : NULL;
	struct mc_filter_policy *p = &set->defaults;
	p->spf_reject_fail =
		strcmp(mc_config_str(cfg, "filter", "spf_fail"), "reject") == 0;
	p->spf_reject_softfail =
		strcmp(mc_config_str(cfg, "filter", "spf_softfail"),
		       "reject") == 0;
	p->dmarc = mc_config_bool(cfg, "filter", "dmarc");
	p->virus = virus_action(mc_config_str(cfg, "filter", "virus"),
				MC_FILTER_REJECT);
	p->tag = mc_config_str(cfg, "filter", "tag");
	p->virus_tag = mc_config_str(cfg, "filter", "virus_tag");
	p->greylist = greylist_mode(mc_config_str(cfg, "greylist", "mode"),
				    MC_FILTER_GREY_SCORE);
	p->spam_tag = (double)mc_config_int(cfg, "spam", "tag_score");
	p->spam_junk = (double)mc_config_int(cfg, "spam", "junk_score");
	p->spam_reject = (double)mc_config_int(cfg, "spam", "reject_score");
	p->greylist_score =
		(double)mc_config_int(cfg, "spam", "greylist_score");
}

struct mc_filter *mc_filter_create(const struct mc_filter_settings *set,
				   struct mc_error *err)
{
	struct mc_filter *f = mc_calloc(1, sizeof(*f));
	f->set = *set;
	f->authserv_id = mc_strdup(set->authserv_id != NULL ? set->authserv_id
							    : "localhost");
	f->set.authserv_id = f->authserv_id;
	struct mc_spf_settings spf = {.dns = set->dns,
				      .receiver = f->authserv_id};
	struct mc_dmarc_settings dmarc = {.psl_file = set->psl_file};
	f->spf = mc_spf_create(&spf, err);
	f->dkim = f->spf != NULL ? mc_dkim_create(set->dns, err) : NULL;
	f->dmarc = f->dkim != NULL ? mc_dmarc_create(&dmarc, set->dns, err)
				   : NULL;
	if (f->dmarc == NULL) {
		mc_filter_destroy(&f);
		return NULL;
	}
	return f;
}

void mc_filter_destroy(struct mc_filter **filter)
{
	struct mc_filter *f = *filter;
	if (f == NULL)
		return;
	*filter = NULL;
	mc_spf_destroy(&f->spf);
	mc_dkim_destroy(&f->dkim);
	mc_dmarc_destroy(&f->dmarc);
	free(f->authserv_id);
	free(f);
}

const struct mc_filter_policy *mc_filter_defaults(const struct mc_filter *f)
{
	return &f->set.defaults;
}

/* "reject" / "tag" of a JSON member into *reject (else unchanged). */
static void reject_or_tag(json_t *o, const char *key, bool *reject)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (v != NULL && strcmp(v, "reject") == 0)
		*reject = true;
	else if (v != NULL && strcmp(v, "tag") == 0)
		*reject = false;
}

/* A string member copied into pool (else unchanged). */
static void string_member(struct mc_pool *pool, json_t *o, const char *key,
			  const char **out)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (v != NULL && strlen(v) <= 64)
		*out = mc_pstrdup(pool, v);
}

/* A number member in [0, 1000] (else unchanged). */
static void number_member(json_t *o, const char *key, double *out)
{
	json_t *v = json_object_get(o, key);
	if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) <= 1000)
		*out = json_number_value(v);
}

void mc_filter_policy_apply(struct mc_pool *pool, const char *text,
			    struct mc_filter_policy *p)
{
	json_t *o = text != NULL ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return;
	}
	reject_or_tag(o, "spf_fail", &p->spf_reject_fail);
	reject_or_tag(o, "spf_softfail", &p->spf_reject_softfail);
	json_t *dmarc = json_object_get(o, "dmarc");
	if (json_is_boolean(dmarc))
		p->dmarc = json_is_true(dmarc);
	p->virus = virus_action(json_string_value(json_object_get(o, "virus")),
				p->virus);
	string_member(pool, o, "tag", &p->tag);
	string_member(pool, o, "virus_tag", &p->virus_tag);
	p->greylist = greylist_mode(
		json_string_value(json_object_get(o, "greylist")), p->greylist);
	number_member(o, "spam_tag", &p->spam_tag);
	number_member(o, "spam_junk", &p->spam_junk);
	number_member(o, "spam_reject", &p->spam_reject);
	number_member(o, "greylist_score", &p->greylist_score);
	json_decref(o);
}

int mc_filter_policy_load(struct mc_filter *f, struct mc_pg *pg,
			  struct mc_pool *pool, int64_t tenant_id,
			  int64_t domain_id, struct mc_filter_policy *policy,
			  struct mc_error *err)
{
	char t[24], d[24];
	snprintf(t, sizeof(t), "%lld", (long long)tenant_id);
	snprintf(d, sizeof(d), "%lld", (long long)domain_id);
	const char *params[] = {t, d};
	*policy = f->set.defaults;
	PGresult *r = mc_pg_query(pg, policy_sql, 2, params, err);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 1)
		mc_filter_policy_apply(pool, PQgetvalue(r, 0, 0), policy);
	PQclear(r);
	return 0;
}

int mc_filter_sender_lists(struct mc_pg *pg, int64_t tenant_id,
			   int64_t domain_id, int64_t user_id,
			   const char *sender, struct mc_filter_policy *policy,
			   struct mc_error *err)
{
	char t[24], d[24], u[24];
	const char *at = sender != NULL ? strrchr(sender, '@') : NULL;
	if (at == NULL)
		return 0; /* the null sender is on no list */
	snprintf(t, sizeof(t), "%lld", (long long)tenant_id);
	snprintf(d, sizeof(d), "%lld", (long long)domain_id);
	snprintf(u, sizeof(u), "%lld", (long long)user_id);
	const char *p[] = {t, d, u, sender, at + 1};
	PGresult *r = mc_pg_query(pg, lists_sql, 5, p, err);
	if (r == NULL)
		return -1;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		policy->sender_list = MC_FILTER_LISTED_ALLOW;
	else if (strcmp(PQgetvalue(r, 0, 1), "t") == 0)
		policy->sender_list = MC_FILTER_LISTED_BLOCK;
	PQclear(r);
	return 0;
}

void mc_filter_spf(struct mc_filter *f, struct mc_pool *pool,
		   const char *client_ip, const char *helo, const char *sender,
		   struct mc_spf_answer *ans_r)
{
	struct mc_error err = {0};
	if (mc_spf_check(f->spf, pool, client_ip, helo, sender, ans_r, &err) <
	    0) {
		*ans_r = (struct mc_spf_answer){
			.result = MC_SPF_PERMERROR,
			.domain = "",
			.sender = sender != NULL ? sender : "",
			.problem = mc_pstrdup(pool, err.msg),
		};
	}
}

struct mc_filter_reply mc_filter_spf_rcpt(const struct mc_filter_policy *p,
					  const struct mc_spf_answer *spf)
{
	bool fail = spf->result == MC_SPF_FAIL && p->spf_reject_fail;
	bool soft = spf->result == MC_SPF_SOFTFAIL && p->spf_reject_softfail;
	if (!fail && !soft)
		return (struct mc_filter_reply){0};
	return (struct mc_filter_reply){
		550, "5.7.23",
		fail ? "SPF validation failed: the sender's domain does not "
		       "allow this host to send its mail"
		     : "SPF softfail: the sender's domain does not vouch for "
		       "this host"};
}

struct mc_filter_reply mc_filter_dnsbl(struct mc_filter *f,
				       struct mc_pool *pool,
				       const char *client_ip, int *score_r)
{
	const struct mc_dnsbl_result *res = NULL;
	struct mc_error err = {0};
	*score_r = 0;
	if (f->set.dnsbl == NULL || mc_dnsbl_count(f->set.dnsbl) == 0 ||
	    mc_dnsbl_check(f->set.dnsbl, f->set.dns, pool, client_ip, &res,
			   &err) < 0)
		return (struct mc_filter_reply){0};
	*score_r = res->score;
	if (!res->over)
		return (struct mc_filter_reply){0};
	return (struct mc_filter_reply){554, "5.7.1", res->reject_text};
}

struct mc_filter_reply mc_filter_greylist(struct mc_filter *f,
					  struct mc_pool *pool,
					  const struct mc_filter_envelope *env,
					  const char *rcpt,
					  const char *rcpt_domain)
{
	struct mc_greylist_result res;
	struct mc_error err = {0};
	if (f->set.greylist == NULL ||
	    mc_greylist_exempt(f->set.greylist, env->client_ip, rcpt_domain,
			       false) ||
	    mc_greylist_check(f->set.greylist, env->redis, env->client_ip,
			      env->sender, rcpt, time(NULL), &res, &err) != 0)
		return (struct mc_filter_reply){0}; /* pass, or fail open */
	char *text = mc_palloc(pool, 128);
	mc_greylist_reply_text(&res, text, 128);
	return (struct mc_filter_reply){451, "4.7.1", text};
}

bool mc_filter_drop_field(const struct mc_filter *f, const char *name,
			  size_t name_len, const char *value, size_t value_len)
{
	return mc_authres_is_forged(f->authserv_id, name, name_len, value,
				    value_len);
}
