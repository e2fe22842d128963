/* mc-api: answers one HTTP request of the REST API: matches the route,
 * authenticates, reads the body and the query, runs the operation through
 * mc_admin_op_find() (with Idempotency-Key replay), maps its error class
 * to a problem document, writes the response and logs the request. */
#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mc-api-private.h"

#define OPENAPI_MAX (8 * 1024 * 1024)

struct mc_api *mc_api_create(const struct mc_api_settings *set)
{
	struct mc_api *api = mc_calloc(1, sizeof(*api));
	api->cfg = set->cfg;
	if (set->openapi_path != NULL && *set->openapi_path != '\0')
		api->openapi_path = mc_strdup(set->openapi_path);
	if (set->cfg != NULL)
		mc_login_throttle_from_config(set->cfg, &api->throttle);
	return api;
}

void mc_api_destroy(struct mc_api **api)
{
	if (*api == NULL)
		return;
	free((*api)->openapi_path);
	free(*api);
	*api = NULL;
}

/* The request fields every answer needs. */
static void req_init(struct mc_api_req *req, struct mg_connection *conn,
		     struct mc_api *api)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	memset(req, 0, sizeof(*req));
	req->conn = conn;
	req->api = api;
	req->th = mg_get_thread_pointer(conn);
	req->method = ri->request_method != NULL ? ri->request_method : "";
	const char *uri =
		ri->local_uri_raw != NULL ? ri->local_uri_raw : ri->request_uri;
	uri = uri != NULL ? uri : "/";
	req->path = mc_strndup(uri, strcspn(uri, "?"));
	req->query = ri->query_string;
	const char *id = mg_get_header(conn, "X-Request-Id");
	if (mc_api_request_id_ok(id))
		snprintf(req->request_id, sizeof(req->request_id), "%s", id);
	else
		mc_log_session_id(req->request_id);
	snprintf(req->client_ip, sizeof(req->client_ip), "%s", ri->remote_addr);
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	mc_buf_init(&req->body, NULL, 0);
	mc_buf_init(&req->headers, NULL, 0);
}

/* Frees what the request holds. */
static void req_free(struct mc_api_req *req)
{
	mc_api_match_free(&req->match);
	json_decref(req->json);
	mc_buf_free(&req->body);
	mc_buf_free(&req->headers);
	free(req->location);
	free(req->path);
}

/* The access log line (no query string, no credentials). */
static void log_request(const struct mc_api_req *req)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)((now.tv_sec - req->start.tv_sec) * 1000 +
			 (now.tv_nsec - req->start.tv_nsec) / 1000000);
	mc_log_info("http: %s %s %d %ldms actor=\"%s\" ip=%s request_id=%s",
		    req->method, req->path, req->status, ms,
		    req->auth != MC_API_AUTH_NONE ? req->actor.name : "-",
		    req->client_ip, req->request_id);
}

/* GET /api/v1/openapi.yaml: the contract, read from disk. */
static void serve_openapi(struct mc_api_req *req)
{
	const char *path = req->api->openapi_path;
	FILE *f = path != NULL ? fopen(path, "rb") : NULL;
	if (f == NULL) {
		mc_api_send_problem(req, "not-found",
				    "the API description is not installed",
				    NULL);
		return;
	}
	struct mc_buf b;
	mc_buf_init(&b, NULL, OPENAPI_MAX);
	char buf[16384];
	size_t n;
	bool ok = true;
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = mc_buf_append(&b, buf, n);
	ok = ok && !ferror(f);
	fclose(f);
	if (ok)
		mc_api_send(req, 200, "application/yaml; charset=utf-8", b.data,
			    b.len);
	else
		mc_api_send_problem(req, "server-error",
				    "cannot read the API description", NULL);
	mc_buf_free(&b);
}

/* The CSV body of user.import: text/csv within 10 MiB. */
static int read_csv_body(struct mc_api_req *req)
{
	if (mc_api_read_body(req, MC_API_CSV_MAX) < 0)
		return -1;
	if (!mc_api_content_type_is(mc_api_req_header(req, "Content-Type"),
				    "text/csv")) {
		mc_api_send_problem(req, "unsupported-media-type",
				    "the body must be text/csv", NULL);
		return -1;
	}
	return 0;
}

/* Reads what the route takes: a CSV or JSON body. */
static int read_input(struct mc_api_req *req)
{
	if ((req->route->flags & MC_API_CSV_BODY) != 0)
		return read_csv_body(req);
	if (strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PATCH") == 0)
		return mc_api_parse_json_body(req);
	return 0;
}

/* If-Match on PATCH, DELETE and actions; -1 with 400 sent. */
static int read_if_match(struct mc_api_req *req, int64_t *version_r)
{
	*version_r = -1;
	bool applies = strcmp(req->method, "PATCH") == 0 ||
		       strcmp(req->method, "DELETE") == 0 ||
		       (req->route->flags & MC_API_ACTION) != 0;
	if (!applies)
		return 0;
	if (mc_api_if_match_parse(mc_api_req_header(req, "If-Match"),
				  version_r) == 0)
		return 0;
	mc_api_send_problem(req, "bad-request",
			    "If-Match must be one entity tag \"<version>\" "
			    "or *",
			    NULL);
	return -1;
}

/* Whether a CSV export was asked for. */
static bool wants_csv(const struct mc_api_req *req,
		      const struct mc_api_query *q)
{
	const char *format = mc_api_query_get(q, "format");
	if ((req->route->flags & MC_API_CSV_EXPORT) == 0)
		return false;
	return (format != NULL && strcmp(format, "csv") == 0) ||
	       mc_api_accepts(mc_api_req_header(req, "Accept"), "text/csv");
}

/* The answer to a failed operation. */
static void send_op_error(struct mc_api_req *req, const struct mc_admin *admin,
			  const struct mc_error *err)
{
	const char *slug = mc_api_error_slug(err->cls);
	const char *op = req->route->op;
	if (strcmp(slug, "server-error") == 0) {
		mc_log_error("http: %s failed (request %s): %s", op,
			     req->request_id, err->msg);
		mc_api_send_problem(req, slug, "internal error; see the log",
				    NULL);
		return;
	}
	if (err->cls == MC_ERR_TEMPORARY)
		mc_log_warning("http: %s unavailable (request %s): %s", op,
			       req->request_id, err->msg);
	mc_api_send_problem(req, slug, err->msg,
			    admin != NULL ? mc_admin_problem(admin) : NULL);
}

/* The answer to a successful operation. */
static void send_op_result(struct mc_api_req *req, const json_t *out, bool csv)
{
	if (csv && json_is_string(out)) {
		mc_api_send(req, 200, "text/csv; charset=utf-8",
			    json_string_value(out), json_string_length(out));
		return;
	}
	int status = req->route->status;
	if (status == 201) {
		req->location =
			mc_api_location(req->route->location, out,
					req->match.args, req->match.nargs);
		if (req->location != NULL)
			mc_api_header(req, "Location", "%s", req->location);
	}
	mc_api_send_json(req, out != NULL ? status : 204, out);
}

/* Runs the operation name with call and answers. */
static void call_op(struct mc_api_req *req, const char *name,
		    const struct mc_admin_call *call, bool csv)
{
	mc_admin_op *fn = mc_admin_op_find(name);
	struct mc_error err = {0};
	if (fn == NULL) {
		mc_error_set(&err, MC_ERR_PERMANENT, "no operation %s", name);
		send_op_error(req, NULL, &err);
		return;
	}
	if (mc_api_idem_begin(req) != 0)
		return;
	struct mc_admin_settings set = {.pg = req->th->pg,
					.redis = req->th->redis,
					.cfg = req->api->cfg,
					.actor = &req->actor};
	struct mc_admin *admin = mc_admin_create(&set);
	json_t *out = NULL;
	if (fn(admin, call, &out, &err) < 0)
		send_op_error(req, admin, &err);
	else
		send_op_result(req, out, csv);
	json_decref(out);
	mc_admin_destroy(&admin);
}

/* An operation route: input, options, the call. */
static void run_op(struct mc_api_req *req)
{
	struct mc_admin_call call = {.nargs = req->match.nargs};
	struct mc_api_query q;
	const char *field = NULL, *why = NULL;
	if (read_input(req) < 0 || read_if_match(req, &call.if_version) < 0)
		return;
	if (mc_api_query_parse(req->query, &q, &field, &why) < 0) {
		mc_api_send_invalid(req, field, why);
		mc_api_query_free(&q);
		return;
	}
	for (size_t i = 0; i < req->match.nargs; i++)
		call.args[i] = req->match.args[i];
	call.body = req->json;
	if ((req->route->flags & MC_API_CSV_BODY) != 0) {
		call.raw = mc_buf_cstr(&req->body);
		call.raw_len = req->body.len;
	}
	if ((req->route->flags & MC_API_LIST) != 0)
		call.list = &q.list;
	bool csv = wants_csv(req, &q);
	call_op(req, csv ? req->route->csv_op : req->route->op, &call, csv);
	mc_api_query_free(&q);
}

/* Self-registration: the one operation that runs without credentials.
 * Nothing the client sends is taken as identity (no token, no cookie);
 * the request acts as a user-role actor without a user, scoped to the
 * target domain's tenant, which only registration.create accepts. The
 * domain is found first (as the table owner, for that scope), then the
 * attempt is counted per client address; Redis down refuses (503). */
static int registration_gate(struct mc_api_req *req, int64_t *tenant_id_r,
			     int64_t *domain_id_r)
{
	struct mc_error err = {0};
	const struct mc_config *cfg = req->api->cfg;
	unsigned max = 5, retry = 0;
	int r = mc_admin_registration_domain(req->th->pg, req->match.args[0],
					     tenant_id_r, domain_id_r, &err);
	if (r == 0)
		return mc_api_send_problem(req, "not-found",
					   "no such domain accepts "
					   "registrations",
					   NULL),
		       -1;
	if (cfg != NULL)
		max = (unsigned)mc_config_int(cfg, "webd",
					      "registrations_per_hour");
	if (r > 0)
		r = mc_admin_registration_throttle(
			req->th->redis, max, req->client_ip, &retry, &err);
	if (r == 0) {
		mc_api_header(req, "Retry-After", "%u", retry);
		return mc_api_send_problem(req, "too-many-requests",
					   "too many registrations from your "
					   "address; try later",
					   NULL),
		       -1;
	}
	if (r > 0)
		return 0;
	mc_log_warning("http: registration unavailable: %s", err.msg);
	return mc_api_send_problem(req, "unavailable",
				   "registration is unavailable; retry later",
				   NULL),
	       -1;
}

/* The anonymous actor of a registration, then the operation. */
static void run_registration(struct mc_api_req *req)
{
	int64_t tenant_id = 0, domain_id = 0;
	if (strcmp(req->route->op, "registration.create") != 0) {
		mc_api_send_problem(req, "server-error",
				    "no anonymous actor for this route", NULL);
		return;
	}
	if (registration_gate(req, &tenant_id, &domain_id) < 0)
		return;
	memset(&req->actor, 0, sizeof(req->actor));
	req->actor.role = MC_ROLE_USER;
	req->actor.tenant_id = tenant_id;
	req->actor.domain_id = domain_id;
	snprintf(req->actor.name, sizeof(req->actor.name),
		 "self-registration (%s)", req->client_ip);
	snprintf(req->actor.client_ip, sizeof(req->actor.client_ip), "%s",
		 req->client_ip);
	snprintf(req->actor.request_id, sizeof(req->actor.request_id), "%s",
		 req->request_id);
	run_op(req); /* req->principal stays "": no Idempotency-Key records */
}

/* A route that is not there: 404, or 405 with Allow. */
static void send_no_route(struct mc_api_req *req)
{
	if (!req->match.path_found) {
		mc_api_send_problem(req, "not-found", "no such resource", NULL);
		return;
	}
	mc_api_header(req, "Allow", "%s", req->match.allow);
	char *d = mc_asprintf("%s is not allowed here; use %s", req->method,
			      req->match.allow);
	mc_api_send_problem(req, "method-not-allowed", d, NULL);
	free(d);
}

/* Refuses a body over the route's limit before anything else. */
static bool body_too_large(struct mc_api_req *req)
{
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	size_t max = (req->route->flags & MC_API_CSV_BODY) != 0
			     ? MC_API_CSV_MAX
			     : MC_API_BODY_MAX;
	if (ri->content_length <= (long long)max)
		return false;
	return mc_api_read_body(req, max) < 0;
}

/* Everything between the request line and the response. */
static void dispatch(struct mc_api_req *req)
{
	if (!mc_str_has_prefix(req->path, MC_API_PREFIX)) {
		mc_api_send_problem(req, "not-found", "no such page", NULL);
		return;
	}
	if (!mc_api_route_match(req->method, req->path, &req->match)) {
		send_no_route(req);
		return;
	}
	req->route = req->match.route;
	if (body_too_large(req))
		return;
	if (req->route->builtin == MC_API_OPENAPI) {
		serve_openapi(req);
		return;
	}
	if (req->route->builtin == MC_API_LOGIN) {
		mc_api_login(req);
		return;
	}
	/* an operation route without authentication: self-registration */
	if ((req->route->flags & MC_API_NO_AUTH) != 0 &&
	    req->route->builtin == MC_API_OP) {
		run_registration(req);
		return;
	}
	if (mc_api_authenticate(req) < 0)
		return;
	if (req->route->builtin == MC_API_LOGOUT)
		mc_api_logout(req);
	else
		run_op(req);
}

int mc_api_handle(struct mg_connection *conn, void *cbdata)
{
	struct mc_api_req req;
	req_init(&req, conn, cbdata);
	if (req.th == NULL) {
		req.must_close = true;
		mc_api_send_problem(&req, "unavailable", "no worker context",
				    NULL);
	} else {
		dispatch(&req);
	}
	if (!req.sent)
		mc_api_send_problem(&req, "server-error", "no response", NULL);
	log_request(&req);
	int status = req.status;
	req_free(&req);
	return status;
}

/* The slug of a status CivetWeb reports itself. */
static const char *status_slug(int status)
{
	switch (status) {
	case 404:
		return "not-found";
	case 405:
		return "method-not-allowed";
	case 413:
		return "payload-too-large";
	case 415:
		return "unsupported-media-type";
	case 503:
		return "unavailable";
	default:
		return status < 500 ? "bad-request" : "server-error";
	}
}

int mc_api_http_error(struct mg_connection *conn, int status, const char *msg)
{
	struct mc_api_req req;
	req_init(&req, conn, NULL);
	req.must_close = true;
	json_t *p = mc_api_problem_new(status_slug(status), msg, NULL, NULL);
	json_object_set_new(p, "status", json_integer(status));
	json_object_set_new(
		p, "title",
		json_string(mg_get_response_code_text(conn, status)));
	char *s = json_dumps(p, JSON_COMPACT);
	mc_api_send(&req, status, "application/problem+json", s, strlen(s));
	free(s);
	json_decref(p);
	mc_log_info("http: %s %s %d (%s) ip=%s", req.method, req.path, status,
		    msg != NULL ? msg : "", req.client_ip);
	req_free(&req);
	return 0;
}
