/* quarantine: the release links of the quarantine digests
 * (mc-quarantine.h). GET /quarantine/release?t=TOKEN only shows the item
 * and a form (link scanners prefetch: a GET never releases); POST
 * /quarantine/release with t=TOKEN checks the signed token under [webd]
 * quarantine_secret and releases the item into the user's INBOX. No
 * secret: the path answers 404. */
#include <civetweb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-api.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-str.h"
#include "webd.h"

#define PATH	   "/quarantine/release"
#define BODY_MAX   1024 /* a form holds one token */
#define HTML_TYPE  "text/html; charset=utf-8"
#define LINK_ACTOR "user via link"
#define SHOWN_MAX  200 /* bytes of a sender or subject shown */

/* Made by mc_webd_quarantine_start, read-only afterwards. */
static struct {
	char *secret; /* NULL: links disabled */
} qr;

/* One request being answered. */
struct qr_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	char token[MC_QUARANTINE_TOKEN_SIZE + 2];
	int64_t id, tenant_id, user_id;
};

/* Appends s (at most max bytes) with the HTML special characters
 * escaped. */
static void html_text(struct mc_buf *b, const char *s, size_t max)
{
	for (size_t i = 0; s[i] != '\0' && i < max; i++) {
		switch (s[i]) {
		case '&':
			mc_buf_append_str(b, "&amp;");
			break;
		case '<':
			mc_buf_append_str(b, "&lt;");
			break;
		case '>':
			mc_buf_append_str(b, "&gt;");
			break;
		case '"':
			mc_buf_append_str(b, "&quot;");
			break;
		case '\'':
			mc_buf_append_str(b, "&#39;");
			break;
		default:
			mc_buf_append_c(b, s[i]);
		}
	}
}

/* Starts a page titled title (plain ASCII). */
static void page_begin(struct mc_buf *b, const char *title)
{
	mc_buf_printf(b,
		      "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		      "<meta charset=\"utf-8\"><meta name=\"robots\" "
		      "content=\"noindex\"><title>%s</title></head>\n"
		      "<body style=\"font-family:sans-serif;max-width:40em;"
		      "margin:2em auto\">\n<h1>%s</h1>\n",
		      title, title);
}

/* Sends the page in b (ended here) with status, and frees it. */
static int send_page(struct qr_req *r, int status, struct mc_buf *b)
{
	mc_buf_append_str(b, "</body></html>\n");
	mg_printf(r->conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: " HTML_TYPE "\r\n"
		  "Content-Length: %zu\r\nCache-Control: no-store\r\n"
		  "X-Content-Type-Options: nosniff\r\n"
		  "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
		  "Content-Security-Policy: default-src 'none'; style-src "
		  "'unsafe-inline'; form-action 'self'; frame-ancestors "
		  "'none'\r\nConnection: close\r\n\r\n",
		  status, mg_get_response_code_text(r->conn, status), b->len);
	if (strcmp(r->ri->request_method, "HEAD") != 0)
		mg_write(r->conn, b->data, b->len);
	mc_buf_free(b);
	mc_log_info("http: %s " PATH " %d ip=%s", r->ri->request_method, status,
		    r->ri->remote_addr);
	return status;
}

/* A page of one sentence. */
static int send_message(struct qr_req *r, int status, const char *title,
			const char *text)
{
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	page_begin(&b, title);
	mc_buf_printf(&b, "<p>%s</p>\n", text);
	return send_page(r, status, &b);
}

/* Checks r->token: 0 when valid (ids filled), else the status sent. */
static int check_token(struct qr_req *r)
{
	enum mc_quarantine_token_status st =
		mc_quarantine_token_check(qr.secret, r->token, time(NULL),
					  &r->id, &r->tenant_id, &r->user_id);
	if (st == MC_QUARANTINE_TOKEN_VALID)
		return 0;
	if (st == MC_QUARANTINE_TOKEN_EXPIRED)
		return send_message(r, 410, "Link expired",
				    "This release link has expired.");
	return send_message(r, 403, "Invalid link",
			    "This release link is not valid.");
}

/* The item the token names, for the confirmation page: 1, 0 none,
 * -1 database trouble. */
static int load_item(struct qr_req *r, struct mc_pool *pool,
		     struct mc_quarantine_item *it)
{
	const struct mc_api_thread *t = mg_get_thread_pointer(r->conn);
	struct mc_quarantine_scope scope = {.tenants = &r->tenant_id,
					    .tenants_count = 1,
					    .user_id = r->user_id};
	struct mc_error err = {0};
	if (t == NULL || t->pg == NULL)
		return -1;
	int n = mc_quarantine_show(t->pg, pool, &scope, r->id, it, &err);
	if (n < 0)
		mc_log_warning("quarantine link: %s", err.msg);
	return n;
}

/* The confirmation page: what the item is and a form that releases. */
static int confirm_page(struct qr_req *r, const struct mc_quarantine_item *it)
{
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	page_begin(&b, "Release quarantined message");
	mc_buf_append_str(&b, "<p>From: ");
	html_text(&b, it->sender[0] != '\0' ? it->sender : "<>", SHOWN_MAX);
	mc_buf_append_str(&b, "<br>Subject: ");
	html_text(&b, it->subject, SHOWN_MAX);
	mc_buf_append_str(&b, "<br>Held because: ");
	html_text(&b, it->reason, SHOWN_MAX);
	mc_buf_append_str(&b, "</p>\n<form method=\"post\" action=\"" PATH
			      "\"><input type=\"hidden\" name=\"t\" value=\"");
	html_text(&b, r->token, sizeof(r->token));
	mc_buf_append_str(&b, "\"><button type=\"submit\">Release to my "
			      "inbox</button></form>\n");
	return send_page(r, 200, &b);
}

/* GET/HEAD: the confirmation page; nothing changes. */
static int on_get(struct qr_req *r)
{
	const char *q = r->ri->query_string;
	if (q == NULL ||
	    mg_get_var(q, strlen(q), "t", r->token, sizeof(r->token)) < 0)
		r->token[0] = '\0';
	int status = check_token(r);
	if (status != 0)
		return status;
	struct mc_pool *pool = mc_pool_create("quarantine-link", 2048);
	struct mc_quarantine_item it;
	int n = load_item(r, pool, &it);
	if (n < 0)
		status = send_message(r, 503, "Try again later",
				      "The service is busy; try again later.");
	else if (n == 0)
		status = send_message(r, 404, "Not found",
				      "This message is no longer in "
				      "quarantine.");
	else if (it.released_at != 0)
		status = send_message(r, 200, "Already released",
				      "This message was already released.");
	else
		status = confirm_page(r, &it);
	mc_pool_destroy(&pool);
	return status;
}

/* Reads the form body (at most BODY_MAX bytes) into buf; -1 when it is
 * larger or unreadable. */
static long read_form(struct qr_req *r, char *buf)
{
	size_t len = 0;
	int n;
	if (r->ri->content_length > BODY_MAX)
		return -1;
	while (len < BODY_MAX &&
	       (n = mg_read(r->conn, buf + len, BODY_MAX - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return (long)len;
}

/* The answer to a release attempt that returned n with err. */
static int release_result(struct qr_req *r, int n, const struct mc_error *err)
{
	if (n > 0)
		return send_message(r, 200, "Released",
				    "The message was delivered to your "
				    "inbox.");
	if (n == 0)
		return send_message(r, 404, "Not found",
				    "This message is no longer in quarantine.");
	if (err->cls == MC_ERR_STALE)
		return send_message(r, 409, "Already released",
				    "This message was already released.");
	if (err->cls == MC_ERR_LIMIT)
		return send_message(r, 409, "Mailbox full",
				    "Your mailbox is full: make room and try "
				    "again.");
	mc_log_warning("quarantine release of item %lld: %s", (long long)r->id,
		       err->msg);
	return send_message(r, mc_error_is_temporary(err) ? 503 : 409,
			    "Not released",
			    "The message could not be released.");
}

/* POST: checks the token again and releases the item. */
static int on_post(struct qr_req *r)
{
	char body[BODY_MAX + 1];
	long len = read_form(r, body);
	if (len < 0)
		return send_message(r, 413, "Too large", "Request too large.");
	if (mg_get_var(body, (size_t)len, "t", r->token, sizeof(r->token)) < 0)
		r->token[0] = '\0';
	int status = check_token(r);
	if (status != 0)
		return status;
	const struct mc_api_thread *t = mg_get_thread_pointer(r->conn);
	if (t == NULL || t->pg == NULL)
		return release_result(
			r, -1, &(struct mc_error){.cls = MC_ERR_TEMPORARY});
	struct mc_quarantine_scope scope = {.tenants = &r->tenant_id,
					    .tenants_count = 1,
					    .user_id = r->user_id};
	struct mc_error err = {0};
	int n = mc_quarantine_release(t->pg, t->redis, &scope, r->id,
				      LINK_ACTOR, &err);
	if (n > 0)
		mc_log_info("quarantine item %lld released by its link",
			    (long long)r->id);
	return release_result(r, n, &err);
}

/* The handler of PATH (CivetWeb matches prefixes: exact path only). */
static int on_release(struct mg_connection *conn, void *cbdata)
{
	struct qr_req r = {.conn = conn, .ri = mg_get_request_info(conn)};
	(void)cbdata;
	if (r.ri->local_uri == NULL || strcmp(r.ri->local_uri, PATH) != 0)
		return 0;
	if (qr.secret == NULL)
		return send_message(&r, 404, "Not found",
				    "Release links are not enabled.");
	const char *m = r.ri->request_method;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return on_get(&r);
	if (strcmp(m, "POST") == 0)
		return on_post(&r);
	mg_printf(conn,
		  "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, "
		  "POST\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	return 405;
}

bool mc_webd_quarantine_claims(const struct mg_connection *conn)
{
	const char *uri = mg_get_request_info(conn)->local_uri;
	return uri != NULL && strcmp(uri, PATH) == 0;
}

void mc_webd_quarantine_start(struct mg_context *ctx,
			      const struct mc_config *cfg)
{
	const char *secret = mc_config_str(cfg, "webd", "quarantine_secret");
	qr.secret =
		secret != NULL && secret[0] != '\0' ? mc_strdup(secret) : NULL;
	mg_set_request_handler(ctx, PATH, on_release, NULL);
}

void mc_webd_quarantine_stop(void)
{
	if (qr.secret != NULL)
		mc_secure_zero(qr.secret, strlen(qr.secret));
	free(qr.secret);
	qr.secret = NULL;
}
