/* mc-api: the REST API (/api/v1) on CivetWeb, for mc-webd. One handler
 * answers every request: it matches the route table, authenticates
 * (Bearer token or session cookie with CSRF header), reads and checks the
 * body, runs the operation of mc-admin.h, and writes JSON or an RFC 9457
 * problem document. Each CivetWeb worker thread brings its own database
 * and Redis connections (struct mc_api_thread). */
#ifndef MC_API_H
#define MC_API_H

#include <stdio.h>

struct mc_api;
struct mc_config;
struct mg_connection;
struct mc_pg;
struct mc_redis;

struct mc_api_settings {
	const struct mc_config *cfg; /* server settings (login throttle,
					policy defaults); not owned */
	/* the file served at GET /api/v1/openapi.yaml (read per request);
	 * NULL or "": 404 */
	const char *openapi_path;
};

/* What mc_api_handle() finds with mg_get_thread_pointer(conn): the worker
 * thread's own connections (not connected yet is fine). Owned by the
 * caller (mc-webd's init_thread/exit_thread callbacks). */
struct mc_api_thread {
	struct mc_pg *pg;
	struct mc_redis *redis;
};

/* The caller owns the result; strings are copied, cfg is not. */
struct mc_api *mc_api_create(const struct mc_api_settings *set);
void mc_api_destroy(struct mc_api **api);

/* Answers one request completely (a CivetWeb request handler; cbdata is
 * the struct mc_api *). Returns the HTTP status sent. */
int mc_api_handle(struct mg_connection *conn, void *cbdata);

/* For CivetWeb's http_error callback: answers an error CivetWeb detected
 * itself (bad request line, header too large) as a problem document.
 * Returns 0 (handled). */
int mc_api_http_error(struct mg_connection *conn, int status, const char *msg);

/* Writes the route table, one "METHOD /api/v1/path/{param}" per line,
 * sorted. */
void mc_api_print_routes(FILE *out);

#endif
