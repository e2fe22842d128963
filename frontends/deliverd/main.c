/* mc-deliverd: outbound delivery. Listens on no port: it claims due
 * entries of the PostgreSQL queue (several processes and nodes share it),
 * delivers them to the recipients' MX hosts or a smarthost over SMTP
 * (STARTTLS, MTA-STS, DANE), DKIM-signed with the sender domain's keys,
 * retries temporary failures with backoff and returns DSNs (RFC 3464) to
 * the senders of what failed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliverd.h"
#include "mailcore/mc-config.h"

/* How long a stopping daemon lets deliveries in flight finish; the
 * claims of those still running then lapse (they are retried). */
#define STOP_GRACE_MS 5000

static struct deliverd deliverd_ctx;

enum mc_smtp_tls_mode deliverd_tls_mode(const char *s)
{
	if (strcmp(s, "none") == 0)
		return MC_SMTP_TLS_NONE;
	if (strcmp(s, "required") == 0)
		return MC_SMTP_TLS_REQUIRED;
	if (strcmp(s, "verify") == 0)
		return MC_SMTP_TLS_VERIFY;
	return MC_SMTP_TLS_OPPORTUNISTIC;
}

double deliverd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool batch_stale(const struct batch *b)
{
	return deliverd_now() - b->claimed_at > b->d->claim.lease_s / 2.0;
}

/* A duration key in whole seconds. */
static unsigned secs(const struct mc_config *cfg, const char *key)
{
	return (unsigned)(mc_config_duration_ms(cfg, "delivery", key) / 1000);
}

/* A duration key in milliseconds. */
static unsigned msecs(const struct mc_config *cfg, const char *key)
{
	return (unsigned)mc_config_duration_ms(cfg, "delivery", key);
}

/* [delivery] relay = HOST[:PORT] and its AUTH and TLS. */
static void load_relay(struct deliverd *d, const struct mc_config *cfg)
{
	const char *relay = mc_config_str(cfg, "delivery", "relay");
	if (*relay == '\0')
		return;
	char *host = mc_strdup(relay);
	char *colon = strrchr(host, ':');
	d->relay.port = 25;
	if (colon != NULL && strchr(colon, ']') == NULL) {
		*colon = '\0';
		d->relay.port = atoi(colon + 1);
	}
	if (host[0] == '[') { /* [host]: no MX lookup, as Postfix writes it */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	d->relay.host = host;
	const char *user = mc_config_str(cfg, "delivery", "relay_user");
	d->relay.user = *user != '\0' ? user : NULL;
	d->relay.password = mc_config_str(cfg, "delivery", "relay_password");
	d->relay.tls = deliverd_tls_mode(mc_config_str(cfg, "delivery", "relay_tls"));
}

/* The SMTP client settings every connection starts from. */
static void load_smtp(struct deliverd *d, const struct mc_config *cfg)
{
	d->smtp = (struct mc_smtp_client_settings){
		.helo_name = d->helo_name,
		.connect_timeout_ms = msecs(cfg, "connect_timeout"),
		.command_timeout_ms = msecs(cfg, "command_timeout"),
		.data_timeout_ms = msecs(cfg, "data_timeout"),
		.tls_ctx = d->tls_ctx,
	};
	d->mx_tls = deliverd_tls_mode(mc_config_str(cfg, "delivery", "tls"));
}

/* Reads [delivery], [dns] and friends. */
static void load_settings(struct deliverd *d, const struct mc_config *cfg)
{
	const char *helo = mc_config_str(cfg, "delivery", "helo_name");
	d->hostname = mc_service_hostname(cfg);
	d->helo_name = *helo != '\0' ? helo : d->hostname;
	snprintf(d->owner, sizeof(d->owner), "%.100s:%ld", d->hostname,
		 (long)getpid());
	d->claim = (struct mc_queue_claim_settings){
		.owner = d->owner,
		.lease_s = secs(cfg, "lease") > 0 ? secs(cfg, "lease") : 1,
		.max = 100,
		.lifetime_s = secs(cfg, "lifetime"),
	};
	d->backoff.min_s = secs(cfg, "retry_min");
	d->backoff.max_s = secs(cfg, "retry_max");
	d->port = (int)mc_config_int(cfg, "delivery", "port");
	d->concurrency = (unsigned)mc_config_int(cfg, "delivery", "concurrency");
	d->dest_concurrency = (unsigned)mc_config_int(
		cfg, "delivery", "destination_concurrency");
	d->dkim_on = mc_config_bool(cfg, "delivery", "dkim");
	d->mta_sts = mc_config_bool(cfg, "delivery", "mta_sts");
	d->mta_sts_port = (int)mc_config_int(cfg, "delivery", "mta_sts_port");
	d->dane = mc_config_bool(cfg, "delivery", "dane");
	d->delay_warning_s = secs(cfg, "delay_warning");
	d->poll_ms = msecs(cfg, "poll_interval");
	d->dsn_max_return = mc_config_size(cfg, "delivery", "dsn_max_return");
	d->dir.cache_ttl_s = (unsigned)(mc_config_duration_ms(cfg, "directory",
							      "cache_ttl") /
					1000);
	d->msg.max_text = mc_config_size(cfg, "store", "max_search_text");
	load_relay(d, cfg);
}

/* The blob store, the resolver, the signer and the TLS context. */
static int open_backends(struct deliverd *d, const struct mc_config *cfg)
{
	struct mc_error err = {0};
	const char *ca = mc_config_str(cfg, "delivery", "tls_ca_file");
	d->blobs = mc_service_blobs_from_config(cfg, &err);
	if (d->blobs == NULL) {
		mc_log_error("blob store: %s", err.msg);
		return -1;
	}
	d->dns = mc_dns_from_config(cfg, &err);
	if (d->dns == NULL) {
		mc_log_error("dns: %s", err.msg);
		return -1;
	}
	d->dkim = mc_dkim_create(d->dns, &err);
	d->tls_ctx = mc_smtp_client_tls_ctx(*ca != '\0' ? ca : NULL, &err);
	if (d->dkim == NULL || d->tls_ctx == NULL) {
		mc_log_error("delivery: %s", err.msg);
		return -1;
	}
	return 0;
}

/* The threads that hold SMTP sessions (they block on the network, so
 * they are not the service's database workers). */
static int open_senders(struct deliverd *d)
{
	struct mc_error err = {0};
	struct mc_workers_settings set = {.threads = d->concurrency};
	d->senders = mc_workers_create(&set, &err);
	if (d->senders == NULL) {
		mc_log_error("delivery threads: %s", err.msg);
		return -1;
	}
	return 0;
}

/* After the databases are up: settings, backends, threads, scheduler. */
static int deliverd_start(struct mc_service *service)
{
	struct deliverd *d = &deliverd_ctx;
	const struct mc_config *cfg = mc_service_config(service);
	d->service = service;
	load_settings(d, cfg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1; /* once, before any thread uses libcurl */
	if (open_backends(d, cfg) < 0)
		return -1;
	load_smtp(d, cfg);
	if (open_senders(d) < 0)
		return -1;
	mc_service_set_context(service, d);
	mc_server_on_stop(mc_service_server(service), schedule_stopping, d,
			  STOP_GRACE_MS);
	return schedule_start(d);
}

/* At shutdown, once the loops and the service workers are gone. */
static void deliverd_stop(struct mc_service *service)
{
	struct deliverd *d = mc_service_context(service);
	if (d == NULL)
		return;
	d->stopping = true;
	if (d->active > 0) {
		/* blocked in DNS or SMTP: not waited for; the process ends
		 * and their claims lapse */
		mc_log_notice("%u deliveries still running at exit: they are "
			      "retried when their claims lapse",
			      d->active);
		return;
	}
	mc_workers_destroy(&d->senders);
	mc_server_drain(mc_service_server(service));
	mc_dkim_destroy(&d->dkim);
	mc_dns_destroy(&d->dns);
	if (d->tls_ctx != NULL)
		SSL_CTX_free(d->tls_ctx);
	mc_blob_store_destroy(&d->blobs);
}

static const struct mc_service_listener listeners[] = {{0}};

static const struct mc_service_def deliverd = {
	.name = "mc-deliverd",
	.section = "delivery",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
	.start = deliverd_start,
	.stop = deliverd_stop,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &deliverd);
}
