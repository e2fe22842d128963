/* mc-service: the life of a daemon around its protocol code: command
 * line, configuration, logging, TLS contexts, listeners, privilege drop,
 * worker pool with per-worker PostgreSQL and Redis connections, waiting
 * for the databases at start, the ready line, and shutdown on a signal. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tls.h"
#include "mailcore/mc-workers.h"

#define EXIT_USAGE  64
#define EXIT_CONFIG 78
#define MAX_ADDRS   16

struct mc_service {
	const struct mc_service_def *def;
	const char *config_path;
	struct mc_config *config;
	SSL_CTX *tls;
	struct mc_server *server;
	struct mc_workers *workers;
	sigset_t signals;
	void *context;
	int log_fd;
};

/* What each worker thread owns. */
struct worker_conns {
	struct mc_pg *pg;
	struct mc_redis *redis;
};

/* Prints the command line help. */
static void usage(const struct mc_service_def *def, FILE *out)
{
	fprintf(out,
		"usage: %s [-c CONFIG] [-t] [-V]\n"
		"  -c CONFIG  configuration file "
		"(default $MAILCORE_STATE/mailcore.conf)\n"
		"  -t         check the configuration and exit\n"
		"  -V         print the version and exit\n",
		def->name);
}

/* The configuration file named by -c or by $MAILCORE_STATE. */
static char *config_path(const char *given)
{
	if (given != NULL)
		return mc_strdup(given);
	const char *state = getenv("MAILCORE_STATE");
	return mc_asprintf("%s/mailcore.conf",
			   state != NULL && *state != '\0' ? state : "./var");
}

/* Opens the log as configured; -1 (message printed) on failure. */
static int setup_log(struct mc_service *svc)
{
	const struct mc_config *cfg = svc->config;
	enum mc_log_level level = MC_LOG_INFO;
	enum mc_log_format format = MC_LOG_PLAIN;
	const char *file = mc_config_str(cfg, "server", "log_file");
	mc_log_level_parse(mc_config_str(cfg, "server", "log_level"), &level);
	mc_log_format_parse(mc_config_str(cfg, "server", "log_format"),
			    &format);
	svc->log_fd = -1;
	if (*file != '\0') {
		svc->log_fd = open(
			file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (svc->log_fd < 0) {
			fprintf(stderr, "%s: cannot open log %s: %s\n",
				svc->def->name, file, strerror(errno));
			return -1;
		}
	}
	mc_log_init(svc->def->name, level, format, svc->log_fd);
	return 0;
}

/* Loads the per-domain certificates of [tls] sni_dir into svc->tls, which
 * they need as the default. */
static int setup_sni(struct mc_service *svc, const struct mc_tls_settings *set,
		     struct mc_error *err)
{
	const char *dir = mc_config_str(svc->config, "tls", "sni_dir");
	if (*dir == '\0')
		return 0;
	if (svc->tls == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "[tls] sni_dir needs a default certificate: set "
			     "[tls] cert and key");
		return -1;
	}
	int n = mc_tls_sni_load(svc->tls, set, dir, err);
	if (n < 0)
		return -1;
	mc_log_info("loaded %d SNI certificate%s from %s", n, n == 1 ? "" : "s",
		    dir);
	return 0;
}

/* The daemon's TLS context: its own tls_cert/tls_key, else [tls]. NULL
 * without error when no certificate is configured. */
static int setup_tls(struct mc_service *svc, struct mc_error *err)
{
	const struct mc_config *cfg = svc->config;
	const char *sec = svc->def->section;
	if (svc->def->listeners == NULL || svc->def->listeners[0].key == NULL)
		return 0; /* listens on nothing */
	struct mc_tls_settings set = {
		.cert_file = mc_config_str(cfg, sec, "tls_cert"),
		.key_file = mc_config_str(cfg, sec, "tls_key"),
		.min_version = mc_config_str(cfg, "tls", "min_version"),
	};
	if (*set.cert_file == '\0') {
		set.cert_file = mc_config_str(cfg, "tls", "cert");
		set.key_file = mc_config_str(cfg, "tls", "key");
	}
	if (*set.cert_file == '\0')
		return setup_sni(svc, &set, err);
	svc->tls = mc_tls_server_ctx_create(&set, err);
	return svc->tls != NULL ? setup_sni(svc, &set, err) : -1;
}

/* Opens every address of one listener key. */
static int open_listener(struct mc_service *svc,
			 const struct mc_service_listener *l,
			 struct mc_error *err)
{
	struct mc_sockaddr addrs[MAX_ADDRS];
	const char *value =
		mc_config_str(svc->config, svc->def->section, l->key);
	int n = mc_addr_list_parse(value, addrs, MAX_ADDRS, err);
	if (n > 0 && l->implicit_tls && svc->tls == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "[%s] %s needs a TLS certificate: set [tls] cert "
			     "and key",
			     svc->def->section, l->key);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (mc_server_listen(svc->server, l->key, &addrs[i],
				     l->implicit_tls ? svc->tls : NULL,
				     l->accept, svc, err) < 0)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

/* Creates the loops and binds every listener of the daemon. */
static int setup_server(struct mc_service *svc, struct mc_error *err)
{
	struct mc_server_settings set = {
		.loops =
			(unsigned)mc_config_int(svc->config, "server", "loops"),
	};
	svc->server = mc_server_create(&set, err);
	if (svc->server == NULL)
		return -1;
	for (const struct mc_service_listener *l = svc->def->listeners;
	     l != NULL && l->key != NULL; l++) {
		if (open_listener(svc, l, err) < 0)
			return -1;
	}
	return 0;
}

/* Drops root privileges to [server] user once the ports are bound. */
static int drop_privileges(struct mc_service *svc, struct mc_error *err)
{
	const char *user = mc_config_str(svc->config, "server", "user");
	if (*user == '\0' || getuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		mc_error_set(err, MC_ERR_INVALID,
			     "[server] user: no user \"%s\"", user);
		return -1;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		mc_error_set(err, MC_ERR_PERMANENT, "cannot become %s: %s",
			     user, strerror(errno));
		return -1;
	}
	return 0;
}

const char *mc_service_hostname(const struct mc_config *cfg)
{
	static char host[256];
	const char *h = mc_config_str(cfg, "server", "hostname");
	if (*h != '\0')
		return h;
	if (host[0] == '\0' &&
	    (gethostname(host, sizeof(host)) < 0 || host[0] == '\0'))
		snprintf(host, sizeof(host), "localhost");
	return host;
}

struct mc_pg *mc_service_pg_from_config(const struct mc_config *cfg)
{
	struct mc_pg_settings set = {
		.conninfo = mc_config_str(cfg, "database", "conninfo"),
		.connect_timeout_ms = (unsigned)mc_config_duration_ms(
			cfg, "database", "connect_timeout"),
		.statement_timeout_ms = (unsigned)mc_config_duration_ms(
			cfg, "database", "statement_timeout"),
	};
	return mc_pg_create(&set);
}

struct mc_redis *mc_service_redis_from_config(const struct mc_config *cfg)
{
	struct mc_redis_settings set = {
		.host = mc_config_str(cfg, "redis", "host"),
		.port = (unsigned)mc_config_int(cfg, "redis", "port"),
		.socket = mc_config_str(cfg, "redis", "socket"),
		.password = mc_config_str(cfg, "redis", "password"),
		.db = (unsigned)mc_config_int(cfg, "redis", "db"),
		.timeout_ms = (unsigned)mc_config_duration_ms(cfg, "redis",
							      "timeout"),
	};
	return mc_redis_create(&set);
}

struct mc_blob_store *mc_service_blobs_from_config(const struct mc_config *cfg,
						   struct mc_error *err)
{
	const char *dir = mc_config_str(cfg, "store", "blob_dir");
	char *path = *dir != '\0' ? mc_strdup(dir)
				  : mc_asprintf("%s/blobs",
						mc_config_str(cfg, "server",
							      "state_dir"));
	struct mc_blob_store *b = mc_blob_store_fs_create(
		path, mc_config_bool(cfg, "store", "fsync"), err);
	free(path);
	return b;
}

/* Worker thread start: its own (not yet connected) database handles. */
static void worker_init(struct mc_worker *worker, void *ctx)
{
	struct mc_service *svc = ctx;
	struct worker_conns *c = mc_calloc(1, sizeof(*c));
	if (svc->def->needs_db)
		c->pg = mc_service_pg_from_config(svc->config);
	if (svc->def->needs_redis)
		c->redis = mc_service_redis_from_config(svc->config);
	mc_worker_set_data(worker, c);
}

/* Worker thread end. */
static void worker_deinit(struct mc_worker *worker, void *ctx)
{
	(void)ctx;
	struct worker_conns *c = mc_worker_data(worker);
	mc_pg_destroy(&c->pg);
	mc_redis_destroy(&c->redis);
	free(c);
}

struct mc_pg *mc_service_worker_pg(struct mc_worker *worker)
{
	struct worker_conns *c = mc_worker_data(worker);
	if (c->pg != NULL && !mc_pg_is_connected(c->pg))
		(void)mc_pg_connect(c->pg, NULL); /* queries report errors */
	return c->pg;
}

struct mc_redis *mc_service_worker_redis(struct mc_worker *worker)
{
	struct worker_conns *c = mc_worker_data(worker);
	return c->redis;
}

/* Sleeps ms unless SIGINT/SIGTERM arrives first; true if one did. */
static bool sleep_or_signal(struct mc_service *svc, uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	return sigtimedwait(&svc->signals, NULL, &ts) > 0;
}

typedef int probe_fn(struct mc_service *svc, struct mc_error *err);

/* Connects once to PostgreSQL and lets go. */
static int probe_pg(struct mc_service *svc, struct mc_error *err)
{
	struct mc_pg *pg = mc_service_pg_from_config(svc->config);
	int r = mc_pg_connect(pg, err);
	mc_pg_destroy(&pg);
	return r;
}

/* Connects once to Redis, pings and lets go. */
static int probe_redis(struct mc_service *svc, struct mc_error *err)
{
	struct mc_redis *redis = mc_service_redis_from_config(svc->config);
	int r = mc_redis_ping(redis, err);
	mc_redis_destroy(&redis);
	return r;
}

/* Retries probe with a growing delay until it works; false if a signal
 * asked us to stop meanwhile. */
static bool wait_for(struct mc_service *svc, const char *what, probe_fn *probe)
{
	uint64_t max = mc_config_duration_ms(svc->config, "database",
					     "retry_max_delay");
	uint64_t delay = 250;
	for (;;) {
		struct mc_error err = {0};
		if (probe(svc, &err) == 0)
			return true;
		mc_log_warning("%s unavailable, retrying in %llu ms: %s", what,
			       (unsigned long long)delay, err.msg);
		if (sleep_or_signal(svc, delay))
			return false;
		delay = delay * 2 > max ? max : delay * 2;
	}
}

/* Starts the worker pool. */
static int setup_workers(struct mc_service *svc, struct mc_error *err)
{
	struct mc_workers_settings set = {
		.threads = (unsigned)mc_config_int(svc->config, "server",
						   "workers"),
		.thread_init = worker_init,
		.thread_deinit = worker_deinit,
		.ctx = svc,
	};
	svc->workers = mc_workers_create(&set, err);
	return svc->workers != NULL ? 0 : -1;
}

/* Logs the ready line with every listener address. */
static void log_ready(struct mc_service *svc)
{
	struct mc_buf buf;
	mc_buf_init(&buf, NULL, 0);
	for (const struct mc_service_listener *l = svc->def->listeners;
	     l != NULL && l->key != NULL; l++)
		mc_buf_printf(
			&buf, " %s=%s", l->key,
			mc_config_str(svc->config, svc->def->section, l->key));
	mc_log_info("%s %s ready:%s (loops=%u, workers=%lld)", svc->def->name,
		    MC_VERSION, mc_buf_cstr(&buf),
		    mc_server_loop_count(svc->server),
		    (long long)mc_config_int(svc->config, "server", "workers"));
	mc_buf_free(&buf);
}

/* Everything between a loaded configuration and the ready line. Returns
 * 0 to run, 1 when stopped early by a signal, -1 on error. */
static int start(struct mc_service *svc, struct mc_error *err)
{
	if (setup_tls(svc, err) < 0 || setup_server(svc, err) < 0 ||
	    drop_privileges(svc, err) < 0 || setup_workers(svc, err) < 0)
		return -1;
	if (svc->def->needs_db && !wait_for(svc, "database", probe_pg))
		return 1;
	if (svc->def->needs_redis && !wait_for(svc, "redis", probe_redis))
		return 1;
	if (svc->def->start != NULL && svc->def->start(svc) < 0) {
		mc_error_set(err, MC_ERR_PERMANENT, "start-up failed");
		return -1;
	}
	log_ready(svc);
	return 0;
}

/* Parses the command line; returns -1 to go on, else an exit code. */
static int parse_args(struct mc_service *svc, int argc, char **argv,
		      bool *check_only)
{
	int opt;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			svc->config_path = optarg;
			break;
		case 't':
			*check_only = true;
			break;
		case 'V':
			printf("%s %s\n", svc->def->name, MC_VERSION);
			return 0;
		case 'h':
			usage(svc->def, stdout);
			return 0;
		default:
			usage(svc->def, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(svc->def, stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* Releases everything start() made. */
static void teardown(struct mc_service *svc)
{
	mc_workers_destroy(&svc->workers); /* runs what is queued */
	if (svc->server != NULL)
		mc_server_drain(svc->server); /* and their completions */
	if (svc->def->stop != NULL && svc->server != NULL)
		svc->def->stop(svc);
	mc_conn_closing_free_all();
	mc_server_destroy(&svc->server);
	if (svc->tls != NULL)
		SSL_CTX_free(svc->tls);
	mc_config_destroy(&svc->config);
	if (svc->log_fd >= 0)
		close(svc->log_fd);
}

/* Loads the configuration; an exit code on failure, else -1. */
static int load_config(struct mc_service *svc, bool check_only)
{
	struct mc_error err = {0};
	char *path = config_path(svc->config_path);
	svc->config = mc_config_load(path, &err);
	free(path);
	if (svc->config == NULL) {
		fprintf(stderr, "%s: %s\n", svc->def->name, err.msg);
		return EXIT_CONFIG;
	}
	if (check_only) {
		printf("%s: configuration %s is valid\n", svc->def->name,
		       mc_config_path(svc->config));
		mc_config_destroy(&svc->config);
		return 0;
	}
	return setup_log(svc) < 0 ? EXIT_CONFIG : -1;
}

int mc_service_main(int argc, char **argv, const struct mc_service_def *def)
{
	struct mc_service svc = {.def = def, .log_fd = -1};
	bool check_only = false;
	int rc = parse_args(&svc, argc, argv, &check_only);
	if (rc < 0)
		rc = load_config(&svc, check_only);
	if (rc >= 0)
		return rc;
	/* Every thread inherits this mask: the signals are taken by
	 * sigtimedwait while waiting for the databases, then by
	 * mc_server_run. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&svc.signals);
	sigaddset(&svc.signals, SIGINT);
	sigaddset(&svc.signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &svc.signals, NULL);
	struct mc_error err = {0};
	int r = start(&svc, &err);
	if (r < 0) {
		mc_log_error("cannot start: %s", err.msg);
		if (svc.log_fd >= 0) /* the log is a file: say it here too */
			fprintf(stderr, "%s: cannot start: %s\n", def->name,
				err.msg);
		rc = err.cls == MC_ERR_INVALID ? EXIT_CONFIG : 1;
	} else {
		if (r == 0 && mc_server_run(svc.server) < 0)
			rc = 1;
		else
			rc = 0;
		mc_log_info("%s stopped", def->name);
	}
	teardown(&svc);
	return rc;
}

const struct mc_config *mc_service_config(const struct mc_service *service)
{
	return service->config;
}

struct mc_server *mc_service_server(struct mc_service *service)
{
	return service->server;
}

struct mc_workers *mc_service_workers(struct mc_service *service)
{
	return service->workers;
}

void *mc_service_context(const struct mc_service *service)
{
	return service->context;
}

void mc_service_set_context(struct mc_service *service, void *ctx)
{
	service->context = ctx;
}

struct mc_workers *const *mc_service_workers_slot(struct mc_service *service)
{
	return &service->workers;
}

SSL_CTX *mc_service_tls(struct mc_service *service)
{
	return service->tls;
}

void mc_service_close_after_write(struct bufferevent *bev)
{
	mc_conn_close_bev(bev);
}

bool mc_service_closing(void)
{
	return mc_conn_closing();
}

void mc_service_reply_and_close(struct bufferevent *bev, const char *line)
{
	bufferevent_write(bev, line, strlen(line));
	bufferevent_write(bev, "\r\n", 2);
	mc_service_close_after_write(bev);
}
