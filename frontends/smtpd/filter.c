/* filter: the inbound checks (mc-filter) around mc-smtpd's commands, for
 * mail from outside: not from authenticated clients nor from [filter]
 * trusted_networks, and only on the MX port. MAIL runs the DNSBLs (554
 * 5.7.1 over the threshold) and SPF (on a worker), RCPT reads the
 * recipient domain's policy and answers SPF for it (550 5.7.23) and
 * greylists where the domain always does, the end of DATA decides per
 * domain (data.c writes the headers and the subject tag). */
#include <jansson.h>
#include <string.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-bayes.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-dnsbl.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-events.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-greylist.h"
#include "mailcore/mc-spamrules.h"
#include "smtpd.h"

/* The virus scanner of [antivirus], or NULL (none configured). */
static struct mc_av *open_av(const struct mc_config *cfg)
{
	const char *dir = mc_config_str(cfg, "antivirus", "database");
	if (*dir == '\0')
		return NULL;
	struct mc_av_settings set = {
		.database_dir = dir,
		.max_scan_size = mc_config_size(cfg, "antivirus",
						"max_scan_size"),
		.scan_archives = true,
	};
	struct mc_error err = {0};
	struct mc_av *av = mc_av_clamav_create(&set, &err);
	if (av == NULL)
		mc_log_error("antivirus: %s (mail is not scanned)", err.msg);
	return av;
}

/* The spam scorer of [spam], or NULL (off, or its rules do not load). */
static struct mc_spamrules *open_spam(const struct mc_config *cfg)
{
	struct mc_spamrules_settings set;
	struct mc_error err = {0};
	const char *rules = mc_config_str(cfg, "spam", "rules");
	if (!mc_config_bool(cfg, "spam", "enabled"))
		return NULL;
	mc_spamrules_settings_init(&set);
	set.rules_file = *rules != '\0' ? rules : NULL;
	struct mc_spamrules *sr = mc_spamrules_create(&set, &err);
	if (sr == NULL)
		mc_log_error("spam rules: %s (mail is not scored)", err.msg);
	return sr;
}

/* The DNSBLs of [spam] dnsbl, or NULL (none). */
static struct mc_dnsbl *open_dnsbl(const struct mc_config *cfg)
{
	const char *zones = mc_config_str(cfg, "spam", "dnsbl");
	const char *text = mc_config_str(cfg, "spam", "dnsbl_reject_text");
	if (*zones == '\0')
		return NULL;
	struct mc_dnsbl_settings set = {
		.zones = zones,
		.threshold = (int)mc_config_int(cfg, "spam", "dnsbl_threshold"),
		.reject_text = *text != '\0' ? text : NULL,
	};
	struct mc_error err = {0};
	struct mc_dnsbl *bl = mc_dnsbl_create(&set, &err);
	if (bl == NULL)
		mc_log_error("dnsbl: %s (not used)", err.msg);
	return bl;
}

/* Greylisting of [greylist], or NULL (mode off). */
static struct mc_greylist *open_greylist(const struct mc_config *cfg)
{
	if (strcmp(mc_config_str(cfg, "greylist", "mode"), "off") == 0)
		return NULL;
	struct mc_greylist_settings set = {
		.delay_s = (unsigned)(mc_config_duration_ms(cfg, "greylist",
							    "delay") /
				      1000),
		.window_s = (unsigned)(mc_config_duration_ms(cfg, "greylist",
							     "window") /
				       1000),
		.exempt_networks =
			mc_config_str(cfg, "greylist", "exempt_networks"),
		.exempt_domains =
			mc_config_str(cfg, "greylist", "exempt_domains"),
	};
	struct mc_error err = {0};
	struct mc_greylist *gl = mc_greylist_create(&set, &err);
	if (gl == NULL)
		mc_log_error("greylist: %s (off)", err.msg);
	return gl;
}

void filter_open(struct smtpd *d, const struct mc_config *cfg)
{
	struct mc_error err = {0};
	if (!mc_config_bool(cfg, "filter", "enabled"))
		return;
	int n = mc_cidr_list_parse(mc_config_str(cfg, "filter",
						 "trusted_networks"),
				   d->filter_trusted, MC_ADDR_NETS_MAX, NULL);
	d->filter_trusted_count = n > 0 ? (size_t)n : 0;
	d->dns = mc_dns_from_config(cfg, &err);
	d->av = d->dns != NULL ? open_av(cfg) : NULL;
	d->spam = open_spam(cfg);
	d->dnsbl = open_dnsbl(cfg);
	d->greylist = open_greylist(cfg);
	d->bayes = d->spam != NULL ? mc_bayes_create(NULL) : NULL;
	d->report_spam = mc_config_str(cfg, "spam", "report_spam");
	d->report_ham = mc_config_str(cfg, "spam", "report_ham");
	struct mc_filter_settings set = {0};
	mc_filter_settings_from_config(cfg, &set);
	set.authserv_id = d->hostname;
	set.dns = d->dns;
	set.av = d->av;
	set.spam = d->spam;
	set.dnsbl = d->dnsbl;
	set.greylist = d->greylist;
	set.bayes = d->bayes;
	const char *psl = mc_config_str(cfg, "filter", "psl_file");
	set.psl_file = *psl != '\0' ? psl : NULL;
	d->filter = d->dns != NULL ? mc_filter_create(&set, &err) : NULL;
	if (d->filter == NULL)
		mc_log_error("filter: %s (mail from outside is not checked)",
			     err.msg);
}

void filter_close(struct smtpd *d)
{
	mc_filter_destroy(&d->filter);
	mc_av_destroy(&d->av);
	mc_spamrules_destroy(&d->spam);
	mc_dnsbl_destroy(&d->dnsbl);
	mc_greylist_destroy(&d->greylist);
	mc_bayes_destroy(&d->bayes);
	mc_dns_destroy(&d->dns);
}

bool filter_wanted(const struct session *s)
{
	return s->d->filter != NULL && s->port == PORT_MX && !s->user.ok &&
	       !mc_cidr_list_match(s->d->filter_trusted,
				   s->d->filter_trusted_count, &s->remote);
}

struct spf_job {
	struct trans *t;
	struct smtpd *d;
	const char *ip, *helo;
};

/* Worker: the DNSBLs, then the SPF check, into the transaction. */
static void spf_work(struct mc_worker *worker, void *ctx)
{
	struct spf_job *j = ctx;
	(void)worker;
	j->t->mail_refusal = mc_filter_dnsbl(j->d->filter, j->t->pool, j->ip,
					     &j->t->dnsbl_score);
	if (j->t->mail_refusal.code == 0)
		mc_filter_spf(j->d->filter, j->t->pool, j->ip, j->helo,
			      j->t->sender, &j->t->spf);
}

/* Loop: MAIL is accepted whatever SPF said (RCPT applies it), refused
 * when the client is on the DNSBLs. */
static void spf_done(struct session *s, void *ctx)
{
	struct spf_job *j = ctx;
	if (s != NULL && j->t->mail_refusal.code != 0) {
		const struct mc_filter_reply *r = &j->t->mail_refusal;
		mc_logc(&s->log, MC_LOG_NOTICE, "MAIL refused: %s", r->text);
		mc_smtp_server_reply(s->smtp, r->code, r->enh, r->text);
		trans_free(&s->trans);
		session_pump(s);
	} else if (s != NULL) {
		mc_logc(&s->log, MC_LOG_INFO, "SPF %s for <%s>: %s",
			mc_spf_result_name(j->t->spf.result), j->t->sender,
			j->t->spf.received_spf != NULL ? j->t->spf.received_spf
						       : "");
		mc_smtp_server_accept(s->smtp);
		session_pump(s);
	}
	free(j);
}

void filter_mail(struct session *s)
{
	struct spf_job *j = mc_calloc(1, sizeof(*j));
	const char *helo = mc_smtp_server_helo_domain(s->smtp);
	s->trans->filtered = true;
	*j = (struct spf_job){
		.t = s->trans,
		.d = s->d,
		.ip = mc_pstrdup(s->trans->pool, s->ip),
		.helo = mc_pstrdup(s->trans->pool, helo != NULL ? helo : ""),
	};
	if (!job_submit(s, spf_work, spf_done, j)) {
		free(j);
		mc_smtp_server_reply(s->smtp, 451, "4.3.0", SMTPD_TEMPFAIL_TEXT);
		trans_free(&s->trans);
	}
}

int filter_rcpt(struct mc_worker *worker, struct smtpd *d,
		const struct mc_spf_answer *spf, const char *client_ip,
		const char *sender, struct rcpt *r,
		struct mc_filter_reply *reply_r, struct mc_error *err)
{
	struct mc_filter_policy *p = mc_palloc(r->pool, sizeof(*p));
	*p = *mc_filter_defaults(d->filter);
	*reply_r = (struct mc_filter_reply){0};
	if (r->res.mailboxes_count > 0 &&
	    mc_filter_policy_load(d->filter, mc_service_worker_pg(worker),
				  r->pool, r->res.mailboxes[0].tenant_id,
				  r->res.mailboxes[0].domain_id, p, err) < 0)
		return -1;
	if (r->res.mailboxes_count > 0 &&
	    mc_filter_sender_lists(mc_service_worker_pg(worker),
				   r->res.mailboxes[0].tenant_id,
				   r->res.mailboxes[0].domain_id,
				   r->res.mailboxes[0].user_id, sender, p,
				   err) < 0)
		return -1;
	r->policy = p;
	*reply_r = mc_filter_spf_rcpt(p, spf);
	if (reply_r->code == 0 && p->greylist == MC_FILTER_GREY_ALWAYS &&
	    p->sender_list != MC_FILTER_LISTED_ALLOW) {
		struct mc_filter_envelope env = {
			.redis = mc_service_worker_redis(worker),
			.client_ip = client_ip,
			.sender = sender,
		};
		*reply_r = mc_filter_greylist(d->filter, r->pool, &env,
					      r->address, r->res.domain);
	}
	return 0;
}

int filter_data(struct mc_worker *worker, struct smtpd *d,
		struct mc_pool *pool, struct trans *t, const char *client_ip,
		mc_filter_read_fn *read, void *ctx, uint64_t size,
		struct mc_filter_verdict *v, struct mc_error *err)
{
	size_t n = 0, m = t->rcpts_count + 1;
	const struct mc_filter_policy **pol =
		mc_palloc_array(pool, m, sizeof(*pol));
	const char **addrs = mc_palloc_array(pool, m, sizeof(*addrs));
	const char **doms = mc_palloc_array(pool, m, sizeof(*doms));
	int64_t *tenants = mc_palloc_array(pool, m, sizeof(*tenants));
	int64_t *ids = mc_palloc_array(pool, m, sizeof(*ids));
	int64_t bayes_tenant = 0;
	for (struct rcpt *r = t->rcpts; r != NULL; r = r->next, n++) {
		pol[n] = r->policy != NULL ? r->policy
					   : mc_filter_defaults(d->filter);
		addrs[n] = r->address;
		doms[n] = r->res.domain;
		if (!r->remote && r->res.mailboxes_count > 0) {
			tenants[n] = r->res.mailboxes[0].tenant_id;
			ids[n] = r->res.mailboxes[0].domain_id;
			if (bayes_tenant == 0)
				bayes_tenant = tenants[n];
		}
	}
	struct mc_filter_envelope env = {
		.redis = mc_service_worker_redis(worker),
		.client_ip = client_ip,
		.sender = t->sender,
		.rcpts = addrs,
		.rcpt_domains = doms,
		.tenants = tenants,
		.domain_ids = ids,
		.pg = mc_service_worker_pg(worker),
		.bayes_tenant = bayes_tenant,
		.dnsbl_score = t->dnsbl_score,
	};
	if (mc_filter_data(d->filter, pool, &t->spf, &env, read, ctx, size,
			   pol, n, v, err) < 0)
		return -1;
	n = 0;
	for (struct rcpt *r = t->rcpts; r != NULL; r = r->next, n++) {
		r->junk = v->actions[n] == MC_FILTER_JUNK;
		if (v->actions[n] == MC_FILTER_QUARANTINE && !r->remote) {
			r->quarantine = v->quarantine_reason[n];
			r->quarantine_category = v->quarantine_category[n];
		}
	}
	t->filter_bcc = v->bcc;
	t->filter_bcc_count = v->bcc_count;
	return 0;
}

static const char log_sql[] =
	"INSERT INTO security_log (tenant_id, domain_id, queue_id, client_ip,"
	" sender, recipient, action, reason, spf, dkim, dmarc, spam_score,"
	" virus) VALUES ($1, $2, $3, $4::inet, $5, $6, $7, $8, $9, $10, $11,"
	" $12::real, $13)";

/* The log word of an action (a refused message: "reject"). */
static const char *action_word(const struct mc_filter_verdict *v, size_t i)
{
	static const char *const words[] = {"deliver", "tag", "junk",
					    "reject", "quarantine"};
	if (v->reply.code >= 500)
		return "reject";
	if (v->reply.code >= 400)
		return "tempfail";
	return words[v->actions[i]];
}

/* One recipient's row; a failure is only logged. */
static void log_row(struct mc_pg *pg, struct mc_pool *pool,
		    const struct trans *t, const struct rcpt *r,
		    const char *client_ip, const struct mc_filter_verdict *v,
		    size_t i)
{
	const struct mc_directory_mailbox *m = &r->res.mailboxes[0];
	const char *p[] = {
		mc_psprintf(pool, "%lld", (long long)m->tenant_id),
		mc_psprintf(pool, "%lld", (long long)m->domain_id),
		t->id,
		client_ip,
		t->sender,
		r->address,
		action_word(v, i),
		v->reply.code != 0 ? v->reply.text : r->quarantine,
		mc_spf_result_name(t->spf.result),
		v->dkim_count > 0 ? mc_dkim_result_name(v->dkim[0].result)
				  : "none",
		mc_dmarc_result_name(v->dmarc.result),
		v->scored ? mc_psprintf(pool, "%.2f", v->spam_score) : NULL,
		v->virus,
	};
	struct mc_error err = {0};
	if (mc_pg_exec(pg, log_sql, 13, p, &err) < 0)
		mc_log_warning("message %s: security log: %s", t->id, err.msg);
}

/* The event of a verdict (best effort). */
static void emit(struct smtpd *d, const struct trans *t, const struct rcpt *r,
		 const char *client_ip, const struct mc_filter_verdict *v,
		 size_t i)
{
	json_t *o = json_pack("{ssssssssssss}", "queue_id", t->id, "client_ip",
			      client_ip, "sender", t->sender, "recipient",
			      r->address, "action", action_word(v, i),
			      "summary", v->summary);
	(void)mc_events_emit(d->events, "filter.verdict",
			     r->res.mailboxes[0].tenant_id, o, NULL);
	json_decref(o);
}

void filter_record(struct mc_worker *worker, struct smtpd *d,
		   struct mc_pool *pool, const struct trans *t,
		   const char *client_ip, const struct mc_filter_verdict *v)
{
	size_t i = 0;
	struct mc_pg *pg = mc_service_worker_pg(worker);
	for (const struct rcpt *r = t->rcpts; r != NULL; r = r->next, i++) {
		if (r->remote || r->res.mailboxes_count == 0)
			continue;
		log_row(pg, pool, t, r, client_ip, v, i);
		emit(d, t, r, client_ip, v, i);
	}
}
