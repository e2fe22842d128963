/* mc-imapd: the IMAP server (IMAP4rev1 and IMAP4rev2 with the extensions
 * desktop and phone clients use) on IMAP with STARTTLS and IMAPS, for
 * every mailbox of every tenant, on the message store. */
#include <stdlib.h>
#include <unistd.h>

#include "imapd.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-conn.h"

/* How long a stopping daemon lets commands in flight finish. */
#define STOP_GRACE_MS 1000

static struct imapd imapd_ctx;

/* The host name for greetings: [server] hostname or the system's. */
static const char *hostname(const struct mc_config *cfg)
{
	static char host[256];
	const char *h = mc_config_str(cfg, "server", "hostname");
	if (*h != '\0')
		return h;
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	return host;
}

/* Reads the settings of [imapd]. */
static void load_settings(struct imapd *d, const struct mc_config *cfg)
{
	d->hostname = hostname(cfg);
	d->idle_timeout_ms =
		(unsigned)mc_config_duration_ms(cfg, "imapd", "idle_timeout");
	d->login_timeout_ms =
		(unsigned)mc_config_duration_ms(cfg, "imapd", "login_timeout");
	d->max_sessions_per_user =
		(unsigned)mc_config_int(cfg, "imapd", "max_sessions_per_user");
	d->append_limit = mc_config_size(cfg, "imapd", "max_append");
	d->parser = (struct mc_imap_parser_settings){
		.max_line = (size_t)mc_config_size(cfg, "imapd", "max_line"),
		.max_append = d->append_limit,
	};
	int n = mc_cidr_list_parse(
		mc_config_str(cfg, "imapd", "plaintext_auth_networks"),
		d->plain_auth_nets, MC_ADDR_NETS_MAX, NULL);
	d->plain_auth_nets_count = n > 0 ? (size_t)n : 0;
	n = mc_cidr_list_parse(mc_config_str(cfg, "imapd", "trusted_proxies"),
			       d->proxy_nets, MC_ADDR_NETS_MAX, NULL);
	d->proxy_nets_count = n > 0 ? (size_t)n : 0;
	mc_login_throttle_from_config(cfg, &d->throttle);
	mc_policy_settings_from_config(cfg, &d->policy);
}

/* mc_loop_stop_fn: the notice thread goes first, then every session
 * gets its BYE. */
static bool imapd_loop_stop(struct mc_loop *loop, void *ctx)
{
	notify_stop();
	return mc_conn_stop_loop(loop, ctx);
}

/* After the databases are up: settings, TLS, blobs, notices. */
static int imapd_start(struct mc_service *service)
{
	struct imapd *d = &imapd_ctx;
	const struct mc_config *cfg = mc_service_config(service);
	struct mc_error err = {0};
	d->service = service;
	d->tls = mc_service_tls(service);
	load_settings(d, cfg);
	d->blobs = mc_service_blobs_from_config(cfg, &err);
	if (d->blobs == NULL || proxy_init(d, cfg, &err) < 0 ||
	    notify_start(d, &err) < 0) {
		mc_log_error("%s", err.msg);
		return -1;
	}
	train_init(d);
	mc_server_on_stop(mc_service_server(service), imapd_loop_stop, d,
			  STOP_GRACE_MS);
	mc_service_set_context(service, d);
	return 0;
}

/* At shutdown, once the loops and workers are gone. */
static void imapd_stop(struct mc_service *service)
{
	(void)service;
	notify_stop();
	proxy_deinit();
	train_deinit();
	mc_blob_store_destroy(&imapd_ctx.blobs);
}

static const struct mc_service_listener listeners[] = {
	{"listen", false, session_accept},
	{"listen_tls", true, session_accept},
	{0},
};

static const struct mc_service_def imapd = {
	.name = "mc-imapd",
	.section = "imapd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
	.start = imapd_start,
	.stop = imapd_stop,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &imapd);
}
