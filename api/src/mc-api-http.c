/* mc-api-http: the HTTP mechanics of the API: percent-decoding, query
 * strings into list options, If-Match, media types, problem documents
 * (RFC 9457), reading request bodies within limits, parsing JSON, and
 * writing responses with Content-Length, Cache-Control and X-Request-Id. */
#include <civetweb.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-pool.h"
#include "mc-api-private.h"

#define READ_CHUNK 16384

static const struct {
	const char *slug;
	int status;
	const char *title;
} problems[] = {
	{"bad-request", 400, "Bad request"},
	{"unauthorized", 401, "Authentication required"},
	{"forbidden", 403, "Forbidden"},
	{"not-found", 404, "Not found"},
	{"method-not-allowed", 405, "Method not allowed"},
	{"conflict", 409, "Conflict"},
	{"limit-exceeded", 409, "Limit exceeded"},
	{"precondition-failed", 412, "Precondition failed"},
	{"payload-too-large", 413, "Payload too large"},
	{"unsupported-media-type", 415, "Unsupported media type"},
	{"invalid", 422, "Invalid request"},
	{"idempotency-conflict", 422, "Idempotency key reused"},
	{"too-many-requests", 429, "Too many requests"},
	{"server-error", 500, "Internal server error"},
	{"unavailable", 503, "Service unavailable"},
};

/* The value of one hex digit, or -1. */
static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *mc_api_url_decode(const char *src, size_t len, bool plus_space)
{
	char *out = mc_malloc(len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];
		if (c == '%') {
			int h = i + 2 < len ? hexval(src[i + 1]) : -1;
			int l = h >= 0 ? hexval(src[i + 2]) : -1;
			if (l < 0 || (h == 0 && l == 0)) {
				free(out);
				return NULL;
			}
			c = h * 16 + l;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

bool mc_api_problem_type(const char *slug, int *status_r, const char **title_r)
{
	for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++) {
		if (strcmp(problems[i].slug, slug) == 0) {
			*status_r = problems[i].status;
			*title_r = problems[i].title;
			return true;
		}
	}
	return false;
}

json_t *mc_api_problem_new(const char *slug, const char *detail,
			   const char *instance, const json_t *members)
{
	int status = 500;
	const char *title = "Internal server error";
	if (!mc_api_problem_type(slug, &status, &title))
		slug = "server-error";
	json_t *p = json_pack("{s:s+, s:s, s:i}", "type", MC_API_PROBLEM_BASE,
			      slug, "title", title, "status", status);
	if (detail != NULL)
		json_object_set_new(p, "detail", json_string(detail));
	if (instance != NULL)
		json_object_set_new(p, "instance", json_string(instance));
	if (members != NULL && json_is_object(members))
		json_object_update_missing(p, (json_t *)members);
	return p;
}

const char *mc_api_error_slug(enum mc_error_class cls)
{
	switch (cls) {
	case MC_ERR_NOTFOUND:
		return "not-found";
	case MC_ERR_DENIED:
		return "forbidden";
	case MC_ERR_INVALID:
		return "invalid";
	case MC_ERR_EXISTS:
		return "conflict";
	case MC_ERR_LIMIT:
		return "limit-exceeded";
	case MC_ERR_STALE:
		return "precondition-failed";
	case MC_ERR_TEMPORARY:
		return "unavailable";
	default:
		return "server-error";
	}
}

/* Adds one "name=value" pair of a query string to q->params. */
static int query_pair(struct mc_api_query *q, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	size_t nl = eq != NULL ? (size_t)(eq - s) : len;
	char *name = mc_api_url_decode(s, nl, true);
	char *value = eq != NULL ? mc_api_url_decode(eq + 1, len - nl - 1, true)
				 : mc_strdup("");
	json_t *v = value != NULL ? json_string(value) : NULL;
	int r = name != NULL && *name != '\0' && v != NULL ? 0 : -1;
	if (r == 0)
		json_object_set_new(q->params, name, v);
	else
		json_decref(v);
	free(name);
	free(value);
	return r;
}

/* Splits the query string into q->params. */
static int query_split(const char *qs, struct mc_api_query *q)
{
	while (qs != NULL && *qs != '\0') {
		size_t len = strcspn(qs, "&");
		if (len > 0 && query_pair(q, qs, len) < 0)
			return -1;
		qs += len;
		if (*qs == '&')
			qs++;
	}
	return 0;
}

/* Fills the list options from the parsed parameters. */
static int query_list(struct mc_api_query *q, const char **field_r,
		      const char **error_r)
{
	const char *limit = mc_api_query_get(q, "limit");
	uint64_t n = 0;
	if (limit != NULL && (!mc_str_to_u64(limit, &n) || n < 1 || n > 500)) {
		*field_r = "limit";
		*error_r = "must be an integer from 1 to 500";
		return -1;
	}
	q->list.limit = (unsigned)n;
	q->list.cursor = mc_api_query_get(q, "cursor");
	q->list.sort = mc_api_query_get(q, "sort");
	const char *key;
	json_t *v;
	json_object_foreach(q->params, key, v)
	{
		if (strcmp(key, "limit") != 0 && strcmp(key, "cursor") != 0 &&
		    strcmp(key, "sort") != 0 && strcmp(key, "format") != 0)
			json_object_set(q->filters, key, v);
	}
	q->list.filters = json_object_size(q->filters) > 0 ? q->filters : NULL;
	return 0;
}

int mc_api_query_parse(const char *qs, struct mc_api_query *q,
		       const char **field_r, const char **error_r)
{
	memset(q, 0, sizeof(*q));
	q->params = json_object();
	q->filters = json_object();
	if (query_split(qs, q) < 0) {
		*field_r = "query";
		*error_r = "malformed query string";
		return -1;
	}
	return query_list(q, field_r, error_r);
}

void mc_api_query_free(struct mc_api_query *q)
{
	json_decref(q->params);
	json_decref(q->filters);
	memset(q, 0, sizeof(*q));
}

const char *mc_api_query_get(const struct mc_api_query *q, const char *name)
{
	return json_string_value(json_object_get(q->params, name));
}

int mc_api_if_match_parse(const char *value, int64_t *version_r)
{
	*version_r = -1;
	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 1 && value[0] == '*')
		return 0;
	if (len < 3 || len > 22 || value[0] != '"' || value[len - 1] != '"')
		return -1;
	char digits[24];
	memcpy(digits, value + 1, len - 2);
	digits[len - 2] = '\0';
	int64_t v;
	if (!mc_str_to_i64(digits, &v) || v < 0)
		return -1;
	*version_r = v;
	return 0;
}

bool mc_api_content_type_is(const char *header, const char *type)
{
	if (header == NULL)
		return false;
	while (*header == ' ')
		header++;
	size_t len = strcspn(header, "; \t");
	return len == strlen(type) && strncasecmp(header, type, len) == 0;
}

bool mc_api_accepts(const char *header, const char *type)
{
	if (header == NULL)
		return false;
	size_t tl = strlen(type);
	for (const char *p = header; *p != '\0';) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ";, \t");
		if (len == tl && strncasecmp(p, type, len) == 0)
			return true;
		if (len == 16 && strncasecmp(p, "application/json", 16) == 0)
			return false;
		p += strcspn(p, ",");
	}
	return false;
}

bool mc_api_request_id_ok(const char *id)
{
	size_t len = id != NULL ? strlen(id) : 0;
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) &&
		    strchr("._:-", id[i]) == 0)
			return false;
	return true;
}

/* Appends s percent-encoded as a path segment. */
static void append_segment(struct mc_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~@+", c) != NULL)
			mc_buf_append_c(b, (char)c);
		else
			mc_buf_printf(b, "%%%02X", c);
	}
}

/* Appends the value of one "{name}" of a Location template; false when
 * the result has no such member. */
static bool location_value(struct mc_buf *b, const char *name, size_t len,
			   const json_t *out, char *const *args, size_t nargs)
{
	char key[64];
	if (len >= sizeof(key))
		return false;
	memcpy(key, name, len);
	key[len] = '\0';
	if (len == 1 && key[0] >= '0' && key[0] <= '9') {
		size_t i = (size_t)(key[0] - '0');
		if (i >= nargs)
			return false;
		append_segment(b, args[i]);
		return true;
	}
	const json_t *v = json_object_get(out, key);
	if (json_is_string(v))
		append_segment(b, json_string_value(v));
	else if (json_is_integer(v))
		mc_buf_printf(b, "%lld", (long long)json_integer_value(v));
	else
		return false;
	return true;
}

char *mc_api_location(const char *tmpl, const json_t *out, char *const *args,
		      size_t nargs)
{
	if (tmpl == NULL || !json_is_object(out))
		return NULL;
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	for (const char *p = tmpl; *p != '\0';) {
		const char *end = p[0] == '{' ? strchr(p, '}') : NULL;
		if (end == NULL) {
			mc_buf_append_c(&b, *p++);
		} else if (!location_value(&b, p + 1, (size_t)(end - p - 1),
					   out, args, nargs)) {
			mc_buf_free(&b);
			return NULL;
		} else {
			p = end + 1;
		}
	}
	char *s = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	return s;
}

const char *mc_api_req_header(const struct mc_api_req *req, const char *name)
{
	return mg_get_header(req->conn, name);
}

void mc_api_header(struct mc_api_req *req, const char *name, const char *fmt,
		   ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	for (char *p = value; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' '; /* no header injection */
	mc_buf_printf(&req->headers, "%s: %s\r\n", name, value);
}

/* Whether the connection may stay open after this response, the way
 * CivetWeb decides it (it closes after a 401). */
static bool keep_alive(const struct mc_api_req *req, int status)
{
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	const char *c = mg_get_header(req->conn, "Connection");
	return !req->body_left && !req->must_close && status != 401 &&
	       ri->http_version != NULL &&
	       strcmp(ri->http_version, "1.1") == 0 &&
	       (c == NULL || strcasestr(c, "close") == NULL);
}

int mc_api_send(struct mc_api_req *req, int status, const char *ctype,
		const char *body, size_t len)
{
	if (req->sent)
		return req->status;
	if (req->idem_owned)
		mc_api_idem_finish(req, status, body);
	mc_api_drain_body(req);
	req->sent = true;
	req->status = status;
	char clen[48] = "";
	if (status != 204 && status != 304)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
	mg_printf(req->conn,
		  "HTTP/1.1 %d %s\r\n%s"
		  "Cache-Control: no-store\r\n"
		  "X-Content-Type-Options: nosniff\r\n"
		  "X-Request-Id: %s\r\nConnection: %s\r\n%s%s%s%s\r\n",
		  status, mg_get_response_code_text(req->conn, status), clen,
		  req->request_id,
		  keep_alive(req, status) ? "keep-alive" : "close",
		  ctype != NULL ? "Content-Type: " : "",
		  ctype != NULL ? ctype : "", ctype != NULL ? "\r\n" : "",
		  mc_buf_cstr(&req->headers));
	if (len > 0 && strcmp(req->method, "HEAD") != 0)
		mg_write(req->conn, body, len);
	return status;
}

/* Sends a JSON document with its content type. */
static int send_doc(struct mc_api_req *req, int status, const char *ctype,
		    const json_t *json)
{
	char *s = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		abort(); /* out of memory */
	int r = mc_api_send(req, status, ctype, s, strlen(s));
	free(s);
	return r;
}

int mc_api_send_json(struct mc_api_req *req, int status, const json_t *json)
{
	if (json == NULL || status == 204)
		return mc_api_send(req, 204, NULL, "", 0);
	const json_t *v = json_object_get(json, "version");
	if (json_is_integer(v) && json_object_get(json, "items") == NULL)
		mc_api_header(req, "ETag", "\"%lld\"",
			      (long long)json_integer_value(v));
	return send_doc(req, status, "application/json", json);
}

int mc_api_send_problem(struct mc_api_req *req, const char *slug,
			const char *detail, const json_t *members)
{
	json_t *p = mc_api_problem_new(slug, detail, req->path, members);
	int status = (int)json_integer_value(json_object_get(p, "status"));
	if (status == 401)
		mc_api_header(req, "WWW-Authenticate",
			      "Bearer realm=\"mailcore\"");
	if (status == 503)
		mc_api_header(req, "Retry-After", "5");
	int r = send_doc(req, status, "application/problem+json", p);
	json_decref(p);
	return r;
}

int mc_api_send_invalid(struct mc_api_req *req, const char *field,
			const char *detail)
{
	json_t *m = json_pack("{s:[{s:s, s:s}]}", "errors", "field", field,
			      "detail", detail);
	char *text = mc_asprintf("%s: %s", field, detail);
	int r = mc_api_send_problem(req, "invalid", text, m);
	free(text);
	json_decref(m);
	return r;
}

/* Reads up to max more bytes into the body; the number read, 0 at the
 * end, -1 on a read error. */
static int read_some(struct mc_api_req *req, char *buf, size_t max)
{
	int n = mg_read(req->conn, buf, max < READ_CHUNK ? max : READ_CHUNK);
	return n < 0 ? -1 : n;
}

int mc_api_read_body(struct mc_api_req *req, size_t max)
{
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	if (req->body_read)
		return 0;
	req->body_read = true;
	if (ri->content_length > (long long)max) {
		req->body_left = true;
		mc_api_send_problem(req, "payload-too-large",
				    "the request body is too large", NULL);
		return -1;
	}
	char buf[READ_CHUNK];
	int n;
	while ((n = read_some(req, buf, sizeof(buf))) > 0) {
		if (req->body.len + (size_t)n > max) {
			req->body_left = true;
			mc_api_send_problem(req, "payload-too-large",
					    "the request body is too large",
					    NULL);
			return -1;
		}
		mc_buf_append(&req->body, buf, (size_t)n);
	}
	if (n < 0)
		req->body_left = true; /* the connection is broken: close */
	return 0;
}

void mc_api_drain_body(struct mc_api_req *req)
{
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	if (req->must_close || (req->body_read && !req->body_left))
		return;
	if (ri->content_length == 0 ||
	    (ri->content_length < 0 &&
	     mg_get_header(req->conn, "Transfer-Encoding") == NULL))
		return;
	size_t total = 0;
	char buf[READ_CHUNK];
	int n;
	while (total < MC_API_DRAIN_MAX &&
	       (n = read_some(req, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	req->body_read = true;
	req->body_left = total >= MC_API_DRAIN_MAX;
}

int mc_api_parse_json_body(struct mc_api_req *req)
{
	if (mc_api_read_body(req, MC_API_BODY_MAX) < 0)
		return -1;
	if (req->body.len == 0)
		return 0;
	if (!mc_api_content_type_is(mc_api_req_header(req, "Content-Type"),
				    "application/json")) {
		mc_api_send_problem(req, "unsupported-media-type",
				    "the body must be application/json", NULL);
		return -1;
	}
	json_error_t jerr;
	req->json = json_loadb(req->body.data, req->body.len,
			       JSON_REJECT_DUPLICATES, &jerr);
	if (req->json == NULL || !json_is_object(req->json)) {
		char *d = req->json == NULL
				  ? mc_asprintf("malformed JSON at line %d: %s",
						jerr.line, jerr.text)
				  : mc_strdup("the body must be a JSON object");
		mc_api_send_problem(req, "bad-request", d, NULL);
		free(d);
		return -1;
	}
	return 0;
}
