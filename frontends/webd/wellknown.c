/* wellknown: what the DNS records of mc-dns-records.h point mail clients
 * and sending servers at: the MTA-STS policy (RFC 8461, HTTPS only), the
 * Thunderbird autoconfig file (config-v1.1.xml) and the Outlook POX
 * autodiscover answer, for hosted active domains (and their aliases). The
 * answers depend on the domain only, never on whether a user exists. */
#include <civetweb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-api.h"
#include "mailcore/mc-dns-records.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"
#include "webd.h"

#define HOST_MAX   (MC_DOMAIN_MAX + 8) /* a Host header without its port */
#define QUERY_MAX  1024		       /* the autoconfig query string */
#define BODY_MAX   (8 * 1024)	       /* an autodiscover request */
#define DRAIN_MAX  (1024 * 1024)       /* read and dropped past BODY_MAX */
#define XML_TYPE   "text/xml; charset=utf-8"
#define TEXT_TYPE  "text/plain; charset=utf-8"
#define NS_POX	   "http://schemas.microsoft.com/exchange/autodiscover/"
#define NS_RESP	   NS_POX "responseschema/2006"
#define NS_OUTLOOK NS_POX "outlook/responseschema/2006a"

/* A domain is served when it is active, and for a domain alias when the
 * domain it is an alias of is active too. As the table owner, outside any
 * API transaction: no row-level security applies. */
#define SQL_HOSTED                                                             \
	"SELECT 1 FROM domains d LEFT JOIN domains t ON t.id = d.alias_for "   \
	"WHERE d.name = $1 AND d.status = 'active' AND "                       \
	"(d.alias_for IS NULL OR t.status = 'active')"

/* Made once by mc_webd_wellknown_start, read-only afterwards. */
static struct {
	struct mc_pool *pool;
	struct mc_dns_settings set; /* hosts and ports filled in */
	char *policy;		    /* the MTA-STS policy text */
	unsigned long error_id;	    /* the Id of autodiscover errors */
} wk;

/* One request being answered. */
struct wk_req {
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	bool close; /* part of the body is left unread */
};

/* Appends s with the five XML special characters escaped. */
static void xml_text(struct mc_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
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
			mc_buf_append_str(b, "&apos;");
			break;
		default:
			mc_buf_append_c(b, *s);
		}
	}
}

/* Appends "<name>text</name>" on a line of its own, indented. */
static void xml_elem(struct mc_buf *b, int indent, const char *name,
		     const char *text)
{
	mc_buf_printf(b, "%*s<%s>", indent, "", name);
	xml_text(b, text);
	mc_buf_printf(b, "</%s>\n", name);
}

/* Like xml_elem for a number. */
static void xml_uint(struct mc_buf *b, int indent, const char *name, unsigned v)
{
	mc_buf_printf(b, "%*s<%s>%u</%s>\n", indent, "", name, v, name);
}

/* Whether the connection may stay open after the response. */
static bool keep_alive(const struct wk_req *r, int status)
{
	const char *c = mg_get_header(r->conn, "Connection");
	return !r->close && status != 413 && r->ri->http_version != NULL &&
	       strcmp(r->ri->http_version, "1.1") == 0 &&
	       (c == NULL || strcasestr(c, "close") == NULL);
}

/* Sends a complete response (no body for HEAD); extra holds further
 * header lines, each ending in CRLF. Returns status. */
static int send_response(struct wk_req *r, int status, const char *ctype,
			 const char *body, size_t len, const char *extra)
{
	mg_printf(r->conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		  "Content-Length: %zu\r\nCache-Control: no-store\r\n"
		  "X-Content-Type-Options: nosniff\r\nConnection: %s\r\n%s\r\n",
		  status, mg_get_response_code_text(r->conn, status), ctype,
		  len, keep_alive(r, status) ? "keep-alive" : "close",
		  extra != NULL ? extra : "");
	if (len > 0 && strcmp(r->ri->request_method, "HEAD") != 0)
		mg_write(r->conn, body, len);
	mc_log_info("http: %s %s %d ip=%s", r->ri->request_method,
		    r->ri->local_uri, status, r->ri->remote_addr);
	return status;
}

/* A short plain-text answer naming the status ("Not Found"). */
static int send_status(struct wk_req *r, int status, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\r\n",
			 mg_get_response_code_text(r->conn, status));
	return send_response(r, status, TEXT_TYPE, body, (size_t)n, extra);
}

/* Sends the document in b as XML and frees it. */
static int send_xml(struct wk_req *r, struct mc_buf *b)
{
	int status = send_response(r, 200, XML_TYPE, b->data, b->len, NULL);
	mc_buf_free(b);
	return status;
}

/* Whether the method is GET or HEAD; otherwise answers 405. */
static bool get_or_head(struct wk_req *r)
{
	const char *m = r->ri->request_method;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return true;
	send_status(r, 405, "Allow: GET, HEAD\r\n");
	return false;
}

/* The Host header lower-cased, without its port and a trailing dot, in
 * buf (HOST_MAX bytes); false when absent or not a host name. */
static bool request_host(const struct wk_req *r, char *buf)
{
	const char *h = mg_get_header(r->conn, "Host");
	if (h == NULL)
		return false;
	size_t n = strcspn(h, ":");
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 0 || n >= HOST_MAX)
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	mc_str_lower(buf);
	return mc_tenants_valid_domain(buf);
}

/* Whether domain is hosted and active: 1, 0, or -1 (database error). */
static int hosted(const struct wk_req *r, const char *domain)
{
	const struct mc_api_thread *t = mg_get_thread_pointer(r->conn);
	struct mc_error err = {0};
	if (t == NULL || t->pg == NULL)
		return -1;
	const char *params[] = {domain};
	PGresult *res = mc_pg_query(t->pg, SQL_HOSTED, 1, params, &err);
	if (res == NULL) {
		mc_log_warning("well-known lookup of %s: %s", domain, err.msg);
		return -1;
	}
	int found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

/* Answers 404 or 503 unless domain is hosted: the status sent, or 0 when
 * the caller goes on. */
static int require_hosted(struct wk_req *r, const char *domain)
{
	int h = domain != NULL ? hosted(r, domain) : 0;
	if (h < 0)
		return send_status(r, 503, "Retry-After: 5\r\n");
	return h == 0 ? send_status(r, 404, NULL) : 0;
}

/* Fills r; false when the path is not exactly the handler's (CivetWeb
 * matches prefixes): the request then falls through to a 404. */
static bool begin(struct wk_req *r, struct mg_connection *conn,
		  const char *path)
{
	r->conn = conn;
	r->ri = mg_get_request_info(conn);
	r->close = false;
	return r->ri->local_uri != NULL && strcmp(r->ri->local_uri, path) == 0;
}

/* GET https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 3.3):
 * the policy, over HTTPS only. */
static int on_mta_sts(struct mg_connection *conn, void *cbdata)
{
	struct wk_req r;
	char host[HOST_MAX];
	if (!begin(&r, conn, (const char *)cbdata))
		return 0;
	if (!get_or_head(&r))
		return 405;
	const char *domain = NULL;
	if (r.ri->is_ssl && request_host(&r, host) &&
	    mc_str_has_prefix(host, "mta-sts.") &&
	    mc_tenants_valid_domain(host + 8))
		domain = host + 8;
	int status = require_hosted(&r, domain);
	if (status != 0)
		return status;
	return send_response(&r, 200, TEXT_TYPE, wk.policy, strlen(wk.policy),
			     NULL);
}

/* The domain of ?emailaddress=, else of Host autoconfig.<domain>, else
 * Host itself (https://<domain>/.well-known/autoconfig/...), in domain
 * (MC_DOMAIN_MAX + 1 bytes): 1, 0 (none), or -1 (a bad query). */
static int autoconfig_domain(const struct wk_req *r, char *domain)
{
	const char *q = r->ri->query_string;
	char addr[MC_ADDRESS_MAX + 1], local[MC_LOCAL_PART_MAX + 1];
	char host[HOST_MAX];
	if (q != NULL && strlen(q) > QUERY_MAX)
		return -1;
	int n = q != NULL ? mg_get_var(q, strlen(q), "emailaddress", addr,
				       sizeof(addr))
			  : -1;
	if (n == -2)
		return -1;
	if (n >= 0)
		return mc_tenants_split_address(addr, false, local, domain,
						NULL) == 0
			       ? 1
			       : -1;
	if (!request_host(r, host))
		return 0;
	const char *d = host;
	if (mc_str_has_prefix(host, "autoconfig.") &&
	    mc_tenants_valid_domain(host + 11))
		d = host + 11;
	size_t dlen = strlen(d);
	if (dlen > MC_DOMAIN_MAX)
		return 0;
	memcpy(domain, d, dlen + 1);
	return 1;
}

/* One <incomingServer> or <outgoingServer> of config-v1.1.xml. */
static void ac_server(struct mc_buf *b, const char *tag, const char *type,
		      const char *host, unsigned port, const char *socket)
{
	mc_buf_printf(b, "    <%s type=\"%s\">\n", tag, type);
	xml_elem(b, 6, "hostname", host);
	xml_uint(b, 6, "port", port);
	xml_elem(b, 6, "socketType", socket);
	xml_elem(b, 6, "username", "%EMAILADDRESS%");
	xml_elem(b, 6, "authentication", "password-cleartext");
	mc_buf_printf(b, "    </%s>\n", tag);
}

/* The Mozilla autoconfig document (clientConfig version 1.1) of domain. */
static void autoconfig_xml(struct mc_buf *b, const char *domain)
{
	const struct mc_dns_settings *s = &wk.set;
	mc_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			     "<clientConfig version=\"1.1\">\n"
			     "  <emailProvider id=\"");
	xml_text(b, domain);
	mc_buf_append_str(b, "\">\n");
	xml_elem(b, 4, "domain", domain);
	xml_elem(b, 4, "displayName", domain);
	xml_elem(b, 4, "displayShortName", domain);
	ac_server(b, "incomingServer", "imap", s->imap_host, s->imaps_port,
		  "SSL");
	if (s->pop3)
		ac_server(b, "incomingServer", "pop3", s->pop3_host,
			  s->pop3s_port, "SSL");
	ac_server(b, "outgoingServer", "smtp", s->submission_host,
		  s->submissions_port, "SSL");
	ac_server(b, "outgoingServer", "smtp", s->submission_host,
		  s->submission_port, "STARTTLS");
	mc_buf_append_str(b, "  </emailProvider>\n</clientConfig>\n");
}

/* GET /mail/config-v1.1.xml?emailaddress=... and GET
 * /.well-known/autoconfig/mail/config-v1.1.xml: Thunderbird autoconfig. */
static int on_autoconfig(struct mg_connection *conn, void *cbdata)
{
	struct wk_req r;
	char domain[MC_DOMAIN_MAX + 1];
	if (!begin(&r, conn, (const char *)cbdata))
		return 0;
	if (!get_or_head(&r))
		return 405;
	int d = autoconfig_domain(&r, domain);
	if (d < 0)
		return send_status(&r, 400, NULL);
	int status = require_hosted(&r, d > 0 ? domain : NULL);
	if (status != 0)
		return status;
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	autoconfig_xml(&b, domain);
	return send_xml(&r, &b);
}

/* Reads and drops what is left of the body, up to DRAIN_MAX; past that
 * the connection is closed after the response. */
static void drain(struct wk_req *r)
{
	char buf[4096];
	size_t total = 0;
	int n;
	while (total < DRAIN_MAX &&
	       (n = mg_read(r->conn, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	r->close = total >= DRAIN_MAX;
}

/* Reads the whole body into buf (BODY_MAX + 1 bytes, NUL-terminated):
 * its length, or -1 when it is larger than BODY_MAX (then drained). */
static long read_body(struct wk_req *r, char *buf)
{
	size_t len = 0;
	int n = 0;
	if (r->ri->content_length > BODY_MAX) {
		drain(r);
		return -1;
	}
	while (len <= BODY_MAX &&
	       (n = mg_read(r->conn, buf + len, BODY_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		r->close = true;
	if (len > BODY_MAX) {
		drain(r);
		return -1;
	}
	buf[len] = '\0';
	return (long)len;
}

/* Replaces the five predefined XML entities of s in place; false on any
 * other '&' (character references are not expected in an address). */
static bool xml_unescape(char *s)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'},
		    {"&lt;", '<'},
		    {"&gt;", '>'},
		    {"&quot;", '"'},
		    {"&apos;", '\''}};
	char *w = s;
	while (*s != '\0') {
		size_t i = 0;
		if (*s != '&') {
			*w++ = *s++;
			continue;
		}
		while (i < 5 && !mc_str_has_prefix(s, ents[i].ent))
			i++;
		if (i == 5)
			return false;
		*w++ = ents[i].c;
		s += strlen(ents[i].ent);
	}
	*w = '\0';
	return true;
}

/* The text of the first <name>...</name> in body, trimmed and with its
 * entities replaced, in out (size bytes); false when absent, empty, too
 * long, or holding a NUL, a '<' or an unknown entity. */
static bool scan_element(const char *body, size_t len, const char *name,
			 char *out, size_t size)
{
	char open[48], close[48];
	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	const char *s = memmem(body, len, open, strlen(open));
	if (s == NULL)
		return false;
	s += strlen(open);
	const char *e =
		memmem(s, len - (size_t)(s - body), close, strlen(close));
	char tmp[MC_ADDRESS_MAX + 256];
	if (e == NULL || (size_t)(e - s) >= sizeof(tmp) ||
	    memchr(s, '\0', (size_t)(e - s)) != NULL ||
	    memchr(s, '<', (size_t)(e - s)) != NULL)
		return false;
	memcpy(tmp, s, (size_t)(e - s));
	tmp[e - s] = '\0';
	char *t = mc_str_trim(tmp);
	if (!xml_unescape(t) || *t == '\0' || strlen(t) >= size)
		return false;
	memcpy(out, t, strlen(t) + 1);
	return true;
}

/* The POX error answer (HTTP 200): code 600 invalid request, 601 the
 * requested response schema is not offered. */
static int pox_error(struct wk_req *r, int code, const char *message)
{
	struct mc_buf b;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	mc_buf_init(&b, NULL, 0);
	mc_buf_printf(&b,
		      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		      "<Autodiscover xmlns=\"%s\">\n  <Response>\n"
		      "    <Error Time=\"%02d:%02d:%02d\" Id=\"%lu\">\n",
		      NS_RESP, tm.tm_hour, tm.tm_min, tm.tm_sec, wk.error_id);
	xml_uint(&b, 6, "ErrorCode", (unsigned)code);
	xml_elem(&b, 6, "Message", message);
	mc_buf_append_str(&b, "      <DebugData />\n    </Error>\n"
			      "  </Response>\n</Autodiscover>\n");
	return send_xml(r, &b);
}

/* One <Protocol> of the POX answer: implicit TLS, password login. */
static void pox_protocol(struct mc_buf *b, const char *type, const char *host,
			 unsigned port, const char *login)
{
	mc_buf_append_str(b, "      <Protocol>\n");
	xml_elem(b, 8, "Type", type);
	xml_elem(b, 8, "Server", host);
	xml_uint(b, 8, "Port", port);
	xml_elem(b, 8, "LoginName", login);
	xml_elem(b, 8, "DomainRequired", "off");
	xml_elem(b, 8, "SPA", "off");
	xml_elem(b, 8, "SSL", "on");
	xml_elem(b, 8, "AuthRequired", "on");
	if (strcmp(type, "SMTP") == 0) {
		xml_elem(b, 8, "UsePOPAuth", "off");
		xml_elem(b, 8, "SMTPLast", "off");
	}
	mc_buf_append_str(b, "      </Protocol>\n");
}

/* The POX settings answer for the address (login name as given). */
static void autodiscover_xml(struct mc_buf *b, const char *login)
{
	const struct mc_dns_settings *s = &wk.set;
	mc_buf_printf(b,
		      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		      "<Autodiscover xmlns=\"%s\">\n"
		      "  <Response xmlns=\"%s\">\n    <Account>\n",
		      NS_RESP, NS_OUTLOOK);
	xml_elem(b, 6, "AccountType", "email");
	xml_elem(b, 6, "Action", "settings");
	pox_protocol(b, "IMAP", s->imap_host, s->imaps_port, login);
	if (s->pop3)
		pox_protocol(b, "POP3", s->pop3_host, s->pop3s_port, login);
	pox_protocol(b, "SMTP", s->submission_host, s->submissions_port, login);
	mc_buf_append_str(b, "    </Account>\n  </Response>\n"
			     "</Autodiscover>\n");
}

/* Answers a read request body: the settings, a POX error, or 404 for a
 * domain that is not ours. */
static int autodiscover_answer(struct wk_req *r, const char *body, size_t len)
{
	char addr[MC_ADDRESS_MAX + 1], local[MC_LOCAL_PART_MAX + 1];
	char domain[MC_DOMAIN_MAX + 1], schema[256];
	if (!scan_element(body, len, "EMailAddress", addr, sizeof(addr)) ||
	    mc_tenants_split_address(addr, false, local, domain, NULL) < 0)
		return pox_error(r, 600, "Invalid Request");
	if (scan_element(body, len, "AcceptableResponseSchema", schema,
			 sizeof(schema)) &&
	    strcmp(schema, NS_OUTLOOK) != 0)
		return pox_error(r, 601, "Provider is not available");
	int status = require_hosted(r, domain);
	if (status != 0)
		return status;
	char *login = mc_asprintf("%s@%s", local, domain);
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	autodiscover_xml(&b, login);
	free(login);
	return send_xml(r, &b);
}

/* POST /autodiscover/autodiscover.xml: Outlook's POX autodiscover. */
static int on_autodiscover(struct mg_connection *conn, void *cbdata)
{
	struct wk_req r;
	if (!begin(&r, conn, (const char *)cbdata))
		return 0;
	if (strcmp(r.ri->request_method, "POST") != 0) {
		drain(&r);
		return send_status(&r, 405, "Allow: POST\r\n");
	}
	char *body = mc_malloc(BODY_MAX + 1);
	long len = read_body(&r, body);
	int status = len < 0 ? send_status(&r, 413, NULL)
			     : autodiscover_answer(&r, body, (size_t)len);
	free(body);
	return status;
}

/* The paths served, each with its handler. */
static const struct endpoint {
	const char *path;
	mg_request_handler fn;
} endpoints[] = {
	{"/.well-known/mta-sts.txt", on_mta_sts},
	{"/mail/config-v1.1.xml", on_autoconfig},
	{"/.well-known/autoconfig/mail/config-v1.1.xml", on_autoconfig},
	{"/autodiscover/autodiscover.xml", on_autodiscover},
	{"/Autodiscover/Autodiscover.xml", on_autodiscover},
};

#define N_ENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

bool mc_webd_wellknown_claims(const struct mg_connection *conn)
{
	const char *uri = mg_get_request_info(conn)->local_uri;
	for (size_t i = 0; uri != NULL && i < N_ENDPOINTS; i++)
		if (strcmp(uri, endpoints[i].path) == 0)
			return true;
	return false;
}

/* host, or the server hostname when unset; false when not a host name. */
static bool default_host(const char **host, const char *hostname)
{
	if (*host == NULL)
		*host = hostname;
	return mc_tenants_valid_domain(*host);
}

/* A small stable number for the Id of POX errors (FNV-1a of s). */
static unsigned long fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* wk.set and wk.policy from [dns]; -1 (logged) on a bad setting. */
static int load_settings(const struct mc_config *cfg)
{
	struct mc_error err = {0};
	struct mc_dns_settings *s = &wk.set;
	if (mc_dns_settings_from_config(cfg, wk.pool, s, &err) < 0 ||
	    (wk.policy = mc_dns_mta_sts_policy(s, &err)) == NULL) {
		mc_log_error("%s: MTA-STS, autoconfig and autodiscover are "
			     "not served",
			     err.msg);
		return -1;
	}
	if (!default_host(&s->imap_host, s->hostname) ||
	    !default_host(&s->pop3_host, s->hostname) ||
	    !default_host(&s->submission_host, s->hostname)) {
		mc_log_error("[dns] imap_host, pop3_host and submission_host "
			     "must be host names: autoconfig and autodiscover "
			     "are not served");
		return -1;
	}
	wk.error_id = fnv1a(s->hostname);
	return 0;
}

void mc_webd_wellknown_start(struct mg_context *ctx,
			     const struct mc_config *cfg)
{
	wk.pool = mc_pool_create("wellknown", 0);
	if (load_settings(cfg) < 0) {
		mc_webd_wellknown_stop();
		return;
	}
	for (size_t i = 0; i < N_ENDPOINTS; i++)
		mg_set_request_handler(ctx, endpoints[i].path, endpoints[i].fn,
				       (void *)endpoints[i].path);
}

void mc_webd_wellknown_stop(void)
{
	free(wk.policy);
	wk.policy = NULL;
	mc_pool_destroy(&wk.pool);
	memset(&wk.set, 0, sizeof(wk.set));
}
