/* mc-webd: the REST API (api/) and the well-known mail-client endpoints
 * (wellknown.c) on CivetWeb: plain HTTP on loopback only, HTTPS with the
 * certificate of the other daemons (through the OpenSSL 3 shim, see
 * sslshim/README), a PostgreSQL and Redis connection per CivetWeb worker
 * thread, and periodic maintenance on a thread of its own. `mc-webd
 * --routes` prints the route table. */
#include <civetweb.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-admin.h"
#include "mailcore/mc-api.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tls.h"
#include "webd.h"

#define MAX_ADDRS	  16
#define FIRST_MAINTAIN_MS 10000
#define SHIM_RELATIVE	  "/../lib/mailcore/libssl.so"
#define OPENAPI_INSTALLED "/../share/mailcore/openapi.yaml"
#define OPENAPI_SOURCE	  "/../../api/openapi.yaml"

struct webd {
	const struct mc_config *cfg;
	struct mc_api *api;
	struct mg_context *mg;
	SSL_CTX *tls;
	bool ssl_lib; /* mg_init_library() was called */
	/* maintenance */
	pthread_t maint;
	bool maint_started, stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static struct webd webd;

/* The directory of the running executable, or "." (caller free()s). */
static char *bindir(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return mc_strdup(".");
	path[n] = '\0';
	return mc_strdup(dirname(path));
}

/* A file next to the executable (bindir + rel); caller free()s. */
static char *beside_binary(const char *rel)
{
	char *dir = bindir();
	char *p = mc_asprintf("%s%s", dir, rel);
	free(dir);
	return p;
}

/* [webd] openapi, else the installed copy, else the source tree's. */
static char *openapi_path(const struct mc_config *cfg)
{
	const char *set = mc_config_str(cfg, "webd", "openapi");
	if (*set != '\0')
		return mc_strdup(set);
	char *installed = beside_binary(OPENAPI_INSTALLED);
	if (access(installed, R_OK) == 0)
		return installed;
	free(installed);
	return beside_binary(OPENAPI_SOURCE);
}

/* Appends the addresses of key to the CivetWeb port list (suffix "s" for
 * TLS); loopback_only refuses others. Returns the count or -1. */
static int add_ports(const struct mc_config *cfg, const char *key, bool tls,
		     bool loopback_only, struct mc_buf *ports)
{
	struct mc_sockaddr addrs[MAX_ADDRS];
	struct mc_error err = {0};
	char buf[MC_ADDR_STR_MAX];
	int n = mc_addr_list_parse(mc_config_str(cfg, "webd", key), addrs,
				   MAX_ADDRS, &err);
	if (n < 0) {
		mc_log_error("[webd] %s: %s", key, err.msg);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		mc_addr_str(&addrs[i], buf);
		if (loopback_only && !mc_addr_is_loopback(&addrs[i])) {
			mc_log_error("[webd] %s: %s is not a loopback address: "
				     "plain HTTP is served on loopback only "
				     "(use listen_https for other addresses)",
				     key, buf);
			return -1;
		}
		mc_buf_printf(ports, "%s%s%s", ports->len > 0 ? "," : "", buf,
			      tls ? "s" : "");
	}
	return n;
}

/* The TLS context of the HTTPS listeners: [webd] tls_cert/tls_key, else
 * [tls] cert/key, with [tls] sni_dir, as the other daemons make it. */
static int make_tls(const struct mc_config *cfg)
{
	struct mc_error err = {0};
	struct mc_tls_settings set = {
		.cert_file = mc_config_str(cfg, "webd", "tls_cert"),
		.key_file = mc_config_str(cfg, "webd", "tls_key"),
		.min_version = mc_config_str(cfg, "tls", "min_version"),
	};
	if (*set.cert_file == '\0') {
		set.cert_file = mc_config_str(cfg, "tls", "cert");
		set.key_file = mc_config_str(cfg, "tls", "key");
	}
	if (*set.cert_file == '\0') {
		mc_log_error("[webd] listen_https needs a TLS certificate: set "
			     "[tls] cert and key");
		return -1;
	}
	webd.tls = mc_tls_server_ctx_create(&set, &err);
	const char *sni = mc_config_str(cfg, "tls", "sni_dir");
	if (webd.tls != NULL && *sni != '\0' &&
	    mc_tls_sni_load(webd.tls, &set, sni, &err) < 0) {
		SSL_CTX_free(webd.tls);
		webd.tls = NULL;
	}
	if (webd.tls == NULL)
		mc_log_error("HTTPS: %s", err.msg);
	return webd.tls != NULL ? 0 : -1;
}

/* Loads the OpenSSL 3 shim, then CivetWeb's SSL support; -1 if either
 * fails (CivetWeb would crash on the first TLS connection). */
static int init_ssl_library(const struct mc_config *cfg)
{
	const char *set = mc_config_str(cfg, "webd", "ssl_shim");
	char *path =
		*set != '\0' ? mc_strdup(set) : beside_binary(SHIM_RELATIVE);
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		mc_log_error("HTTPS: cannot load the OpenSSL shim %s: %s "
			     "(set [webd] ssl_shim)",
			     path, dlerror());
		free(path);
		return -1;
	}
	free(path);
	webd.ssl_lib = true;
	if (mg_init_library(MG_FEATURES_SSL) != MG_FEATURES_SSL) {
		mc_log_error("HTTPS: CivetWeb cannot initialise OpenSSL");
		return -1;
	}
	return 0;
}

/* CivetWeb: every request goes to the API, but for the well-known paths
 * (wellknown.c), which go on to their registered handlers. */
static int on_request(struct mg_connection *conn)
{
	if (mc_webd_wellknown_claims(conn) || mc_webd_quarantine_claims(conn))
		return 0;
	return mc_api_handle(conn, webd.api);
}

/* CivetWeb: errors it answers itself become problem documents. */
static int on_http_error(struct mg_connection *conn, int status,
			 const char *msg)
{
	return mc_api_http_error(conn, status, msg);
}

/* CivetWeb: its messages go to our log. */
static int on_log_message(const struct mg_connection *conn, const char *msg)
{
	(void)conn;
	mc_log_warning("civetweb: %s", msg);
	return 1;
}

/* CivetWeb: a worker thread gets its own connections. */
static void *on_thread_init(const struct mg_context *ctx, int type)
{
	(void)ctx;
	if (type != 1)
		return NULL;
	struct mc_api_thread *t = mc_calloc(1, sizeof(*t));
	t->pg = mc_service_pg_from_config(webd.cfg);
	t->redis = mc_service_redis_from_config(webd.cfg);
	return t;
}

/* CivetWeb: a worker thread ends. */
static void on_thread_exit(const struct mg_context *ctx, int type, void *ptr)
{
	(void)ctx;
	(void)type;
	struct mc_api_thread *t = ptr;
	if (t == NULL)
		return;
	mc_pg_destroy(&t->pg);
	mc_redis_destroy(&t->redis);
	free(t);
}

/* CivetWeb: use our SSL_CTX (made by mc-tls) and leave freeing it to us. */
static int on_external_ssl_ctx(void **ssl_ctx, void *user_data)
{
	(void)user_data;
	if (*ssl_ctx == NULL)
		*ssl_ctx = webd.tls;
	return webd.tls != NULL ? 1 : 0;
}

/* Starts CivetWeb on ports with [webd] threads. */
static int start_civetweb(const struct mc_config *cfg, const char *ports)
{
	static struct mg_callbacks cb = {
		.begin_request = on_request,
		.http_error = on_http_error,
		.log_message = on_log_message,
		.init_thread = on_thread_init,
		.exit_thread = on_thread_exit,
		.external_ssl_ctx = on_external_ssl_ctx,
	};
	char threads[24], ebuf[256] = "";
	snprintf(threads, sizeof(threads), "%lld",
		 (long long)mc_config_int(cfg, "webd", "threads"));
	const char *opts[] = {"listening_ports",
			      ports,
			      "num_threads",
			      threads,
			      "enable_keep_alive",
			      "yes",
			      "keep_alive_timeout_ms",
			      "5000",
			      "request_timeout_ms",
			      "30000",
			      "decode_url",
			      "no",
			      "max_request_size",
			      "16384",
			      NULL};
	struct mg_init_data init = {.callbacks = &cb,
				    .user_data = &webd,
				    .configuration_options = opts};
	struct mg_error_data e = {.text = ebuf,
				  .text_buffer_size = sizeof(ebuf)};
	webd.mg = mg_start2(&init, &e);
	if (webd.mg == NULL)
		mc_log_error("cannot start the web server on %s: %s", ports,
			     ebuf[0] != '\0' ? ebuf : "unknown error");
	return webd.mg != NULL ? 0 : -1;
}

/* Waits ms on the maintenance condition; true when stopping. */
static bool maint_wait(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!webd.stopping &&
	       pthread_cond_timedwait(&webd.cond, &webd.lock, &ts) == 0)
		;
	return webd.stopping;
}

/* One maintenance run. */
static void maintain_once(struct mc_pg *pg, struct mc_redis *redis)
{
	struct mc_error err = {0};
	int n = mc_admin_maintain(pg, redis, webd.cfg, &err);
	if (n < 0)
		mc_log_warning("maintenance failed: %s", err.msg);
	else if (n > 0)
		mc_log_info("maintenance: purged %d deleted user%s", n,
			    n == 1 ? "" : "s");
	else
		mc_log_debug("maintenance done");
}

/* The maintenance thread: 10 s after start, then every interval. */
static void *maintain_main(void *arg)
{
	(void)arg;
	uint64_t every =
		mc_config_duration_ms(webd.cfg, "webd", "maintain_interval");
	struct mc_pg *pg = mc_service_pg_from_config(webd.cfg);
	struct mc_redis *redis = mc_service_redis_from_config(webd.cfg);
	uint64_t wait = FIRST_MAINTAIN_MS;
	pthread_mutex_lock(&webd.lock);
	while (!maint_wait(wait)) {
		pthread_mutex_unlock(&webd.lock);
		maintain_once(pg, redis);
		pthread_mutex_lock(&webd.lock);
		wait = every;
	}
	pthread_mutex_unlock(&webd.lock);
	mc_pg_destroy(&pg);
	mc_redis_destroy(&redis);
	return NULL;
}

/* Starts the maintenance thread. */
static int start_maintenance(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&webd.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&webd.lock, NULL);
	int e = pthread_create(&webd.maint, NULL, maintain_main, NULL);
	if (e != 0) {
		mc_log_error("cannot start the maintenance thread: %s",
			     strerror(e));
		return -1;
	}
	webd.maint_started = true;
	return 0;
}

/* The ports CivetWeb listens on; -1 on a bad or refused address. */
static int listen_ports(const struct mc_config *cfg, struct mc_buf *ports,
			int *https_r)
{
	if (add_ports(cfg, "listen_http", false, true, ports) < 0)
		return -1;
	*https_r = add_ports(cfg, "listen_https", true, false, ports);
	if (*https_r < 0)
		return -1;
	if (ports->len == 0) {
		mc_log_error("[webd] listen_http and listen_https are both "
			     "empty: nothing to serve");
		return -1;
	}
	return 0;
}

/* mc-service start: after the databases answer, before "ready". */
static int webd_start(struct mc_service *svc)
{
	webd.cfg = mc_service_config(svc);
	struct mc_buf ports;
	mc_buf_init(&ports, NULL, 0);
	int https = 0;
	int r = listen_ports(webd.cfg, &ports, &https);
	if (r == 0 && https > 0)
		r = make_tls(webd.cfg) < 0 || init_ssl_library(webd.cfg) < 0
			    ? -1
			    : 0;
	else if (r == 0) {
		mg_init_library(0);
		webd.ssl_lib = true;
	}
	char *openapi = openapi_path(webd.cfg);
	struct mc_api_settings set = {.cfg = webd.cfg, .openapi_path = openapi};
	webd.api = mc_api_create(&set);
	free(openapi);
	if (r == 0)
		r = start_civetweb(webd.cfg, mc_buf_cstr(&ports));
	if (r == 0) {
		mc_webd_wellknown_start(webd.mg, webd.cfg);
		mc_webd_quarantine_start(webd.mg, webd.cfg);
	}
	if (r == 0) {
		mc_log_info(
			"web server on %s (%lld threads)", mc_buf_cstr(&ports),
			(long long)mc_config_int(webd.cfg, "webd", "threads"));
		r = start_maintenance();
	}
	mc_buf_free(&ports);
	return r;
}

/* mc-service stop: CivetWeb and the maintenance thread end. */
static void webd_stop(struct mc_service *svc)
{
	(void)svc;
	if (webd.mg != NULL)
		mg_stop(webd.mg);
	webd.mg = NULL;
	mc_webd_wellknown_stop();
	mc_webd_quarantine_stop();
	if (webd.maint_started) {
		pthread_mutex_lock(&webd.lock);
		webd.stopping = true;
		pthread_cond_signal(&webd.cond);
		pthread_mutex_unlock(&webd.lock);
		pthread_join(webd.maint, NULL);
		webd.maint_started = false;
	}
	if (webd.tls != NULL)
		SSL_CTX_free(webd.tls);
	webd.tls = NULL;
	mc_api_destroy(&webd.api);
	if (webd.ssl_lib)
		mg_exit_library();
	webd.ssl_lib = false;
}

/* CivetWeb has the listeners: mc-service opens none. */
static const struct mc_service_listener no_listeners[] = {{0}};

static const struct mc_service_def webd_def = {
	.name = "mc-webd",
	.section = "webd",
	.listeners = no_listeners,
	.needs_db = true,
	.needs_redis = true,
	.start = webd_start,
	.stop = webd_stop,
};

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--routes") == 0) {
		mc_api_print_routes(stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	return mc_service_main(argc, argv, &webd_def);
}
