/* mc-service: what every daemon does around its protocol code. Parses the
 * command line (-c CONFIG, -t to check the config, -V), loads and checks
 * the configuration, sets up logging, opens the listeners named by the
 * daemon's config keys (with their TLS contexts), starts the worker pool
 * (each worker with its own PostgreSQL and Redis connection), waits for
 * PostgreSQL and Redis (retrying with a logged message, never crashing),
 * logs that it is ready, and runs the loops until SIGINT or SIGTERM. */
#ifndef MC_SERVICE_H
#define MC_SERVICE_H

#include <stdbool.h>

#include "mc-server.h"

#define MC_VERSION "0.1.0"

struct mc_blob_store;
struct mc_config;
struct mc_error;
struct mc_pg;
struct mc_redis;
struct mc_service;
struct mc_worker;

struct mc_service_listener {
	const char *key;      /* address-list key in the daemon's section */
	bool implicit_tls;    /* TLS handshake first (465, 993, 995, 443) */
	mc_accept_cb *accept; /* its ctx is the struct mc_service * */
};

struct mc_service_def {
	const char *name;    /* "mc-smtpd": log and process name */
	const char *section; /* "smtpd": the config section of its keys */
	const struct mc_service_listener *listeners; /* ends with key NULL */
	bool needs_db, needs_redis;
	/* Called once everything is up, before "ready"; may be NULL.
	 * Returns 0, or -1 to stop the daemon. */
	int (*start)(struct mc_service *service);
	/* Called at shutdown once the loops and the workers have stopped;
	 * may be NULL. */
	void (*stop)(struct mc_service *service);
};

/* The whole life of a daemon; returns the process exit code: 0, 64
 * (usage), 78 (bad config), 1 (cannot start). */
int mc_service_main(int argc, char **argv, const struct mc_service_def *def);

const struct mc_config *mc_service_config(const struct mc_service *service);
struct mc_server *mc_service_server(struct mc_service *service);
struct mc_workers *mc_service_workers(struct mc_service *service);
/* Where the pool is, for struct mc_job_owner (NULL there once the pool
 * is gone at shutdown). */
struct mc_workers *const *mc_service_workers_slot(struct mc_service *service);
void *mc_service_context(const struct mc_service *service);
void mc_service_set_context(struct mc_service *service, void *ctx);
/* The TLS context for STARTTLS in the daemon's section (NULL if none). */
SSL_CTX *mc_service_tls(struct mc_service *service);

/* A worker's own connections, made lazily by the pool's thread_init. */
struct mc_pg *mc_service_worker_pg(struct mc_worker *worker);
struct mc_redis *mc_service_worker_redis(struct mc_worker *worker);

/* Closes and frees bev once its pending output is sent, or when the peer
 * goes away or 30 s pass. bev is no longer the caller's. */
void mc_service_close_after_write(struct bufferevent *bev);
/* True while connections handed to mc_service_close_after_write() still
 * have output to send (a stopping daemon waits for them). */
bool mc_service_closing(void);
/* Writes line and CRLF to bev, then mc_service_close_after_write(). For
 * refusals ("421 ... try later"). */
void mc_service_reply_and_close(struct bufferevent *bev, const char *line);

/* The name for greetings and Received headers: [server] hostname, else
 * the system's host name (owned by the library). */
const char *mc_service_hostname(const struct mc_config *cfg);

/* Helpers shared with mailctl: settings from a loaded configuration. */
struct mc_pg *mc_service_pg_from_config(const struct mc_config *cfg);
struct mc_redis *mc_service_redis_from_config(const struct mc_config *cfg);
/* The message blob store of [store] blob_dir, else [server] state_dir +
 * "/blobs", with [store] fsync; NULL with err. The caller owns it. */
struct mc_blob_store *mc_service_blobs_from_config(const struct mc_config *cfg,
						   struct mc_error *err);

#endif
