/* filter: the inbound checks (mc-filter) around mc-smtpd's commands, for
 * mail from outside: not from authenticated clients nor from [filter]
 * trusted_networks, and only on the MX port. MAIL runs SPF (on a worker;
 * it never refuses there), RCPT reads the recipient domain's policy and
 * answers SPF for it (550 5.7.23), the end of DATA decides per domain
 * (data.c writes the headers and the subject tag). */
#include <string.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-dns.h"
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
	struct mc_filter_settings set = {0};
	mc_filter_settings_from_config(cfg, &set);
	set.authserv_id = d->hostname;
	set.dns = d->dns;
	set.av = d->av;
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

/* Worker: the SPF check into the transaction. */
static void spf_work(struct mc_worker *worker, void *ctx)
{
	struct spf_job *j = ctx;
	(void)worker;
	mc_filter_spf(j->d->filter, j->t->pool, j->ip, j->helo, j->t->sender,
		      &j->t->spf);
}

/* Loop: MAIL is accepted whatever SPF said (RCPT applies it). */
static void spf_done(struct session *s, void *ctx)
{
	struct spf_job *j = ctx;
	if (s != NULL) {
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
		const struct mc_spf_answer *spf, struct rcpt *r,
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
	r->policy = p;
	*reply_r = mc_filter_spf_rcpt(p, spf);
	return 0;
}

int filter_data(struct smtpd *d, struct mc_pool *pool, struct trans *t,
		mc_filter_read_fn *read, void *ctx, uint64_t size,
		struct mc_filter_verdict *v, struct mc_error *err)
{
	size_t n = 0;
	const struct mc_filter_policy **pol =
		mc_palloc_array(pool, t->rcpts_count + 1, sizeof(*pol));
	for (struct rcpt *r = t->rcpts; r != NULL; r = r->next)
		pol[n++] = r->policy != NULL ? r->policy
					     : mc_filter_defaults(d->filter);
	if (mc_filter_data(d->filter, pool, &t->spf, read, ctx, size, pol, n,
			   v, err) < 0)
		return -1;
	n = 0;
	for (struct rcpt *r = t->rcpts; r != NULL; r = r->next)
		r->junk = v->actions[n++] == MC_FILTER_JUNK;
	return 0;
}
