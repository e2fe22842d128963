/* mc-api-private: what the files of api/src share: the route table and
 * its matcher, the request being answered, problem documents, body and
 * query parsing, response writing, authentication and Idempotency-Key
 * replay. */
#ifndef MC_API_PRIVATE_H
#define MC_API_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailcore/mc-admin.h"
#include "mailcore/mc-api.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-str.h"

#define MC_API_PREFIX	     "/api/"
#define MC_API_BODY_MAX	     (1024 * 1024)	/* JSON bodies */
#define MC_API_CSV_MAX	     (10 * 1024 * 1024) /* text/csv bodies */
#define MC_API_DRAIN_MAX     (16 * 1024 * 1024) /* read and dropped */
#define MC_API_ARGS_MAX	     4
#define MC_API_PROBLEM_BASE  "https://mailcore.invalid/problems/"
#define MC_API_SESSION_TTL_S (8 * 3600) /* idle lifetime */

/* Route flags. */
enum {
	MC_API_NO_AUTH = 1u << 0,    /* anyone (login, the contract) */
	MC_API_CSV_BODY = 1u << 1,   /* body is text/csv, up to 10 MiB */
	MC_API_ACTION = 1u << 2,     /* POST action: If-Match, optional body */
	MC_API_LIST = 1u << 3,	     /* query -> struct mc_admin_list */
	MC_API_CSV_EXPORT = 1u << 4, /* Accept: text/csv or ?format=csv runs
					csv_op, answered as text/csv */
};

/* What answers a route besides an operation. */
enum mc_api_builtin {
	MC_API_OP = 0,
	MC_API_LOGIN,
	MC_API_LOGOUT,
	MC_API_OPENAPI,
};

struct mc_api_route {
	const char *method;  /* "GET" */
	const char *pattern; /* "/api/v1/domains/{domain}/users/{local}" */
	const char *op;	     /* "user.get"; NULL for a builtin */
	int status;	     /* on success */
	unsigned flags;
	enum mc_api_builtin builtin;
	const char *csv_op; /* MC_API_CSV_EXPORT: the CSV operation */
	/* 201: Location built from the created resource: "{member}" is a
	 * member of the result, "{0}" a path parameter; NULL = none */
	const char *location;
};
/* THE route table, ending with a NULL method. */
extern const struct mc_api_route mc_api_routes[];

/* The result of matching a request against the table. */
struct mc_api_match {
	const struct mc_api_route *route; /* NULL: no route for method */
	bool path_found;		  /* some route has this path */
	char allow[64];			  /* methods of the path: "GET, POST" */
	char *args[MC_API_ARGS_MAX];	  /* percent-decoded; heap */
	size_t nargs;
};
/* Matches method and raw path (no query). A literal segment is
 * preferred over a parameter. Returns true when route is set; false with
 * path_found (405, allow set) or without (404). Free with
 * mc_api_match_free(). */
bool mc_api_route_match(const char *method, const char *path,
			struct mc_api_match *m);
void mc_api_match_free(struct mc_api_match *m);

/* Percent-decodes src[0..len) into a new string (plus_space: '+' is a
 * blank, for query strings). NULL when it has a bad escape or a NUL. */
char *mc_api_url_decode(const char *src, size_t len, bool plus_space);

/* Problems (RFC 9457). The status and title of a slug ("not-found"),
 * false for an unknown slug. */
bool mc_api_problem_type(const char *slug, int *status_r, const char **title_r);
/* {type, title, status, detail, instance?} plus members (not replacing
 * those); caller json_decref()s. detail and instance may be NULL. */
json_t *mc_api_problem_new(const char *slug, const char *detail,
			   const char *instance, const json_t *members);
/* The problem slug of an operation's error class (mc-admin.h). */
const char *mc_api_error_slug(enum mc_error_class cls);

/* The query string as list options: limit (1..500), cursor, sort, and
 * every other parameter into filters (format is kept out). */
struct mc_api_query {
	json_t *params;	 /* every parameter, decoded (strings) */
	json_t *filters; /* the filter parameters */
	struct mc_admin_list list;
};
/* 0, or -1 with *field_r naming the bad parameter and *error_r why
 * (static strings). q is to be freed either way. */
int mc_api_query_parse(const char *qs, struct mc_api_query *q,
		       const char **field_r, const char **error_r);
void mc_api_query_free(struct mc_api_query *q);
/* A query parameter, or NULL. */
const char *mc_api_query_get(const struct mc_api_query *q, const char *name);

/* If-Match: NULL/absent or "*" -> -1 (any); "\"12\"" -> 12. Returns 0,
 * or -1 for anything else (weak or several tags, garbage). */
int mc_api_if_match_parse(const char *value, int64_t *version_r);
/* True when a Content-Type header names media type type ("text/csv"),
 * parameters and case ignored. */
bool mc_api_content_type_is(const char *header, const char *type);
/* True when an Accept header asks for type before JSON. */
bool mc_api_accepts(const char *header, const char *type);
/* A usable X-Request-Id: 1..63 of [A-Za-z0-9._:-]. */
bool mc_api_request_id_ok(const char *id);
/* The Location of a created resource from the route's template, or NULL
 * (caller free()s). */
char *mc_api_location(const char *tmpl, const json_t *out, char *const *args,
		      size_t nargs);

struct mc_api {
	const struct mc_config *cfg;
	char *openapi_path;
	struct mc_login_throttle throttle;
};

/* How the request was authenticated. */
enum mc_api_auth {
	MC_API_AUTH_NONE = 0,
	MC_API_AUTH_TOKEN,
	MC_API_AUTH_SESSION,
};

/* One request being answered. */
struct mc_api_req {
	struct mg_connection *conn;
	struct mc_api *api;
	struct mc_api_thread *th;
	const char *method;
	char *path;	   /* without the query, as sent */
	const char *query; /* NULL: none */
	char request_id[64];
	char client_ip[48];
	struct timespec start;
	const struct mc_api_route *route;
	struct mc_api_match match;

	enum mc_api_auth auth;
	struct mc_actor actor;
	char principal[64]; /* for Idempotency-Key: "token:12" ... */
	char session_key[96];

	struct mc_buf body; /* raw request body */
	bool body_read;
	bool body_left;	 /* more than we were willing to read */
	bool must_close; /* answer with Connection: close, read nothing */
	json_t *json;	 /* parsed JSON body, NULL when none */

	struct mc_buf headers; /* extra response header lines */
	char *location;	       /* for 201 and Idempotency-Key records */
	bool idem_owned;       /* store the response under idem_key */
	char idem_key[256];
	char idem_hash[65];
	int status; /* sent */
	bool sent;
};

/* Response writing (every response: Content-Length, Cache-Control:
 * no-store, X-Request-Id). Return the status. */
void mc_api_header(struct mc_api_req *req, const char *name, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));
int mc_api_send(struct mc_api_req *req, int status, const char *ctype,
		const char *body, size_t len);
/* JSON (NULL: 204 without a body); a single resource (not a list) with
 * an integer "version" gets its ETag. */
int mc_api_send_json(struct mc_api_req *req, int status, const json_t *json);
/* A problem document; adds WWW-Authenticate (401), Retry-After (503). */
int mc_api_send_problem(struct mc_api_req *req, const char *slug,
			const char *detail, const json_t *members);
/* 422 invalid with errors [{field, detail}]. */
int mc_api_send_invalid(struct mc_api_req *req, const char *field,
			const char *detail);

/* Reads the body (at most max bytes). 0, or -1 with 413 sent. */
int mc_api_read_body(struct mc_api_req *req, size_t max);
/* Reads and drops an unread body so the connection can be reused. */
void mc_api_drain_body(struct mc_api_req *req);
/* Parses the body as a JSON object after checking its Content-Type;
 * an empty body is no body (req->json NULL). 0, or -1 with 400/415 sent. */
int mc_api_parse_json_body(struct mc_api_req *req);
/* A request header, or NULL. */
const char *mc_api_req_header(const struct mc_api_req *req, const char *name);

/* Authentication: Bearer token, else the session cookie (X-CSRF-Token
 * on unsafe methods). 0 with req->actor set, or -1 with 401/403/503
 * sent. */
int mc_api_authenticate(struct mc_api_req *req);
/* POST /api/v1/sessions and DELETE /api/v1/sessions/current. */
int mc_api_login(struct mc_api_req *req);
int mc_api_logout(struct mc_api_req *req);

/* Idempotency-Key on POST: 0 go on (req->idem_owned when the response is
 * to be kept), or 1 when the answer was already sent (a replay, a
 * conflict, an error). */
int mc_api_idem_begin(struct mc_api_req *req);
/* Keeps the response of an owned key (status < 500), else forgets the
 * key so the request can be retried. */
void mc_api_idem_finish(struct mc_api_req *req, int status, const char *body);

#endif
