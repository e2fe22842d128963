/* mc-smtpd: edge SMTP for every tenant domain: MX (mail from anywhere for
 * our domains), submission (STARTTLS, AUTH required) and submissions
 * (implicit TLS). Mail is accepted only once it is durable in the store;
 * remote recipients go to the outbound queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "smtpd.h"

/* How long a stopping daemon lets replies and deliveries in flight
 * finish. */
#define STOP_GRACE_MS 1000

static struct smtpd smtpd_ctx;

/* Parses a network key (already checked by mc-config). */
static size_t nets(const struct mc_config *cfg, const char *key,
		   struct mc_cidr *list)
{
	int n = mc_cidr_list_parse(mc_config_str(cfg, "smtpd", key), list,
				   MC_ADDR_NETS_MAX, NULL);
	return n > 0 ? (size_t)n : 0;
}

/* Opens the blob store named by the configuration. */
static struct mc_blob_store *open_blobs(const struct mc_config *cfg)
{
	struct mc_error err = {0};
	struct mc_blob_store *b = mc_service_blobs_from_config(cfg, &err);
	if (b == NULL)
		mc_log_error("blob store: %s", err.msg);
	return b;
}

/* Reads the settings of [smtpd] and friends. */
static void load_settings(struct smtpd *d, const struct mc_config *cfg)
{
	d->hostname = mc_service_hostname(cfg);
	d->postmaster = mc_config_str(cfg, "smtpd", "postmaster");
	d->max_message_size = mc_config_size(cfg, "smtpd", "max_message_size");
	d->max_recipients =
		(unsigned)mc_config_int(cfg, "smtpd", "max_recipients");
	d->max_errors = (unsigned)mc_config_int(cfg, "smtpd", "max_errors");
	d->max_hops = (unsigned)mc_config_int(cfg, "smtpd", "max_hops");
	d->command_timeout_ms = (unsigned)mc_config_duration_ms(
		cfg, "smtpd", "command_timeout");
	d->data_timeout_ms =
		(unsigned)mc_config_duration_ms(cfg, "smtpd", "data_timeout");
	d->vrfy = mc_config_bool(cfg, "smtpd", "vrfy");
	mc_login_throttle_from_config(cfg, &d->throttle);
	mc_policy_settings_from_config(cfg, &d->policy);
	mc_ratelimit_settings_from_config(cfg, &d->limits);
	d->relay_nets_count = nets(cfg, "relay_networks", d->relay_nets);
	d->plain_auth_nets_count =
		nets(cfg, "plaintext_auth_networks", d->plain_auth_nets);
	d->xclient_nets_count = nets(cfg, "xclient_networks", d->xclient_nets);
	d->dir.cache_ttl_s = (unsigned)(mc_config_duration_ms(cfg, "directory",
							      "cache_ttl") /
					1000);
	d->msg.max_text = mc_config_size(cfg, "store", "max_search_text");
}

/* After the databases are up: settings, TLS and the blob store. */
static int smtpd_start(struct mc_service *service)
{
	struct smtpd *d = &smtpd_ctx;
	const struct mc_config *cfg = mc_service_config(service);
	d->service = service;
	d->tls = mc_service_tls(service);
	load_settings(d, cfg);
	d->blobs = open_blobs(cfg);
	if (d->blobs == NULL)
		return -1;
	filter_open(d, cfg);
	conn_limits_open(d, cfg);
	d->events = mc_events_redis_create(mc_service_redis_from_config(cfg));
	mc_server_on_stop(mc_service_server(service), mc_conn_stop_loop, NULL,
			  STOP_GRACE_MS);
	mc_service_set_context(service, d);
	return 0;
}

/* At shutdown, once the loops and workers are gone. */
static void smtpd_stop(struct mc_service *service)
{
	(void)service;
	mc_blob_store_destroy(&smtpd_ctx.blobs);
	mc_events_destroy(&smtpd_ctx.events);
	conn_limits_close(&smtpd_ctx);
	filter_close(&smtpd_ctx);
}

/* Accepts a connection; the service context is ours once started. */
static void smtpd_accept(struct mc_loop *loop, struct bufferevent *bev,
			 const struct mc_conn_info *info, void *ctx)
{
	session_accept(loop, bev, info, ctx);
}

static const struct mc_service_listener listeners[] = {
	{"listen_mx", false, smtpd_accept},
	{"listen_submission", false, smtpd_accept},
	{"listen_submissions", true, smtpd_accept},
	{0},
};

static const struct mc_service_def smtpd = {
	.name = "mc-smtpd",
	.section = "smtpd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
	.start = smtpd_start,
	.stop = smtpd_stop,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &smtpd);
}
