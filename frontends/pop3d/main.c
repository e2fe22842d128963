/* mc-pop3d: POP3 (RFC 1939) with STLS on the plain port and POP3S on the
 * implicit-TLS one, for every tenant's users: the maildrop is the user's
 * INBOX, locked in Redis for the session; DELE'd messages are expunged
 * from the store at QUIT, so IMAP sees the same mailbox. */
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "pop3d.h"

/* How long a stopping daemon lets answers in flight finish. */
#define STOP_GRACE_MS 1000

static struct pop3d pop3d_ctx;

/* After the databases are up: settings, TLS and the blob store. */
static int pop3d_start(struct mc_service *service)
{
	struct pop3d *d = &pop3d_ctx;
	const struct mc_config *cfg = mc_service_config(service);
	struct mc_error err = {0};
	d->service = service;
	d->tls = mc_service_tls(service);
	d->hostname = mc_service_hostname(cfg);
	int n = mc_cidr_list_parse(
		mc_config_str(cfg, "pop3d", "plaintext_auth_networks"),
		d->plain_auth_nets, MC_ADDR_NETS_MAX, NULL);
	d->plain_auth_nets_count = n > 0 ? (size_t)n : 0;
	mc_login_throttle_from_config(cfg, &d->throttle);
	mc_policy_settings_from_config(cfg, &d->policy);
	d->blobs = mc_service_blobs_from_config(cfg, &err);
	if (d->blobs == NULL) {
		mc_log_error("blob store: %s", err.msg);
		return -1;
	}
	mc_server_on_stop(mc_service_server(service), mc_conn_stop_loop, NULL,
			  STOP_GRACE_MS);
	mc_service_set_context(service, d);
	return 0;
}

/* At shutdown, once the loops and workers are gone. */
static void pop3d_stop(struct mc_service *service)
{
	(void)service;
	mc_blob_store_destroy(&pop3d_ctx.blobs);
}

static const struct mc_service_listener listeners[] = {
	{"listen", false, session_accept},
	{"listen_tls", true, session_accept},
	{0},
};

static const struct mc_service_def pop3d = {
	.name = "mc-pop3d",
	.section = "pop3d",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
	.start = pop3d_start,
	.stop = pop3d_stop,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &pop3d);
}
