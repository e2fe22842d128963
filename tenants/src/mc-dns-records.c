/* mc-dns-records: the DNS records a hosted domain should publish, built from
 * settings the caller takes from [dns], and the MTA-STS policy file. Every
 * input is checked first (MC_ERR_INVALID), then the records are written in
 * one fixed order. Names carry no trailing dot. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-dkim-keys.h"
#include "mailcore/mc-dns-records.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"

#define MX_MAX	       32
#define LIST_MAX       32
#define TEXT_MAX       2048
#define MAX_AGE_MAX    31557600 /* RFC 8461 3.2 */
#define ID_MAX	       32	/* RFC 8461 3.1 */
#define LONGEST_PREFIX (sizeof("_submissions._tcp.") - 1)

/* The settings with every default applied, and the storage they need. */
struct ctx {
	struct mc_dns_settings s;
	const char *domain;
	struct mc_dns_mx default_mx;
	char dmarc_rua[MC_ADDRESS_MAX + 1], tlsrpt_rua[MC_ADDRESS_MAX + 1];
	char id[ID_MAX + 1];
	json_t *records;
};

/* True when s is 1..TEXT_MAX printable ASCII characters. */
static bool printable(const char *s)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		if (s[i] < ' ' || s[i] > '~')
			return false;
	}
	return len >= 1 && len <= TEXT_MAX;
}

/* Checks a report mailbox and writes it, domain lower-cased, to out (or the
 * default "<local>@<domain>" when s is NULL). 0, or -1. */
static int mailbox(const char *s, const char *local, const char *domain,
		   char *out, struct mc_error *err)
{
	char lp[MC_LOCAL_PART_MAX + 1], dom[MC_DOMAIN_MAX + 1];
	if (s == NULL) {
		snprintf(out, MC_ADDRESS_MAX + 1, "%s@%s", local, domain);
		return 0;
	}
	if (mc_tenants_split_address(s, false, lp, dom, NULL) < 0 ||
	    strchr(lp, '!') != NULL || !mc_tenants_valid_domain(dom)) {
		mc_error_set(err, MC_ERR_INVALID, "bad report mailbox \"%s\"",
			     s);
		return -1;
	}
	snprintf(out, MC_ADDRESS_MAX + 1, "%s@%s", lp, dom);
	return 0;
}

/* Applies a default host and checks it; what names it in errors. */
static int host(const char **h, const char *dflt, const char *what,
		struct mc_error *err)
{
	if (*h == NULL)
		*h = dflt;
	if (*h != NULL && mc_tenants_valid_domain(*h))
		return 0;
	mc_error_set(err, MC_ERR_INVALID, "bad %s \"%s\"", what,
		     *h != NULL ? *h : "(none)");
	return -1;
}

/* Applies a default port and checks it. */
static int port(unsigned *p, unsigned dflt, const char *what,
		struct mc_error *err)
{
	if (*p == 0)
		*p = dflt;
	if (*p <= 65535)
		return 0;
	mc_error_set(err, MC_ERR_INVALID, "bad %s port %u", what, *p);
	return -1;
}

/* Applies a default choice and checks it is one of choices ("a|b|c"). */
static int choice(const char **v, const char *dflt, const char *choices,
		  const char *what, struct mc_error *err)
{
	size_t len;
	if (*v == NULL)
		*v = dflt;
	len = strlen(*v);
	for (const char *c = choices; len > 0 && (c = strstr(c, *v)) != NULL;
	     c++) {
		if ((c == choices || c[-1] == '|') &&
		    (c[len] == '\0' || c[len] == '|'))
			return 0;
	}
	mc_error_set(err, MC_ERR_INVALID, "bad %s \"%s\" (%s)", what, *v,
		     choices);
	return -1;
}

/* The MX list (default: the hostname, priority 10) and its hosts. */
static int check_mx(struct ctx *c, struct mc_error *err)
{
	struct mc_dns_settings *s = &c->s;
	if (s->mx_count == 0) {
		c->default_mx = (struct mc_dns_mx){s->hostname, 10};
		s->mx = &c->default_mx;
		s->mx_count = 1;
	}
	if (s->mx_count > MX_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "too many MX hosts");
		return -1;
	}
	for (size_t i = 0; i < s->mx_count; i++) {
		const char *h = s->mx[i].host;
		if (host(&h, NULL, "MX host", err) < 0)
			return -1;
		if (s->mx[i].priority > 65535) {
			mc_error_set(err, MC_ERR_INVALID, "bad MX priority");
			return -1;
		}
	}
	return 0;
}

/* True when s is a DNS name for include: (RFC 7208 domain-spec): two or
 * more labels of [a-z0-9_-], 1..63 each, 253 at most. */
static bool spf_domain(const char *s)
{
	size_t len = strlen(s), label = 0, labels = 1;
	if (len < 3 || len > MC_DOMAIN_MAX)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			labels++;
		} else if (((*p < 'a' || *p > 'z') && (*p < '0' || *p > '9') &&
			    *p != '_' && *p != '-') ||
			   ++label > 63)
			return false;
	}
	return label > 0 && labels >= 2;
}

/* The SPF text, or its include: domains and networks. */
static int check_spf(const struct mc_dns_settings *s, struct mc_error *err)
{
	char net[MC_CIDR_MAX];
	if (s->spf != NULL &&
	    (!printable(s->spf) || strncmp(s->spf, "v=spf1", 6) != 0 ||
	     (s->spf[6] != '\0' && s->spf[6] != ' '))) {
		mc_error_set(err, MC_ERR_INVALID, "bad SPF text \"%s\"",
			     s->spf);
		return -1;
	}
	if (s->spf_include_count > LIST_MAX ||
	    s->spf_networks_count > LIST_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "too many SPF mechanisms");
		return -1;
	}
	for (size_t i = 0; i < s->spf_include_count; i++) {
		if (!spf_domain(s->spf_include[i])) {
			mc_error_set(err, MC_ERR_INVALID,
				     "bad SPF include \"%s\"",
				     s->spf_include[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < s->spf_networks_count; i++) {
		if (mc_tenants_parse_cidr(s->spf_networks[i], net, err) < 0)
			return -1;
	}
	return 0;
}

/* The MTA-STS mode, max_age and id (RFC 8461: 1..32 ALPHA / DIGIT). */
static int check_mta_sts(struct ctx *c, struct mc_error *err)
{
	struct mc_dns_settings *s = &c->s;
	const char *id = s->mta_sts_id;
	size_t len = id != NULL ? strlen(id) : 0;
	if (choice(&s->mta_sts_mode, "testing", "testing|enforce",
		   "MTA-STS mode", err) < 0)
		return -1;
	if (s->mta_sts_max_age == 0)
		s->mta_sts_max_age = 604800;
	if (s->mta_sts_max_age > MAX_AGE_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "bad MTA-STS max_age");
		return -1;
	}
	if (id == NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9')))
			len = 0;
	}
	if (len < 1 || len > ID_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "bad MTA-STS id \"%s\"", id);
		return -1;
	}
	return 0;
}

/* The service hosts and ports, defaulting to the server hostname. */
static int check_services(struct mc_dns_settings *s, struct mc_error *err)
{
	if (host(&s->web_host, s->hostname, "web host", err) < 0 ||
	    host(&s->imap_host, s->hostname, "IMAP host", err) < 0 ||
	    host(&s->submission_host, s->hostname, "submission host", err) <
		    0 ||
	    host(&s->pop3_host, s->hostname, "POP3 host", err) < 0)
		return -1;
	if (port(&s->imaps_port, 993, "IMAPS", err) < 0 ||
	    port(&s->submissions_port, 465, "submissions", err) < 0 ||
	    port(&s->submission_port, 587, "submission", err) < 0 ||
	    port(&s->pop3s_port, 995, "POP3S", err) < 0)
		return -1;
	return 0;
}

/* The settings MTA-STS depends on (no domain involved). */
static int resolve_policy(struct ctx *c, const struct mc_dns_settings *set,
			  struct mc_error *err)
{
	c->s = *set;
	if (host(&c->s.hostname, NULL, "server hostname", err) < 0 ||
	    check_mx(c, err) < 0 || check_mta_sts(c, err) < 0)
		return -1;
	return 0;
}

/* Every setting, with defaults, for domain. */
static int resolve(struct ctx *c, const char *domain,
		   const struct mc_dns_settings *set, struct mc_error *err)
{
	struct mc_dns_settings *s = &c->s;
	c->domain = domain;
	if (!mc_tenants_valid_domain(domain) ||
	    strlen(domain) + LONGEST_PREFIX > MC_DOMAIN_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "bad domain \"%s\"", domain);
		return -1;
	}
	if (resolve_policy(c, set, err) < 0 || check_spf(s, err) < 0 ||
	    check_services(s, err) < 0 ||
	    choice(&s->dmarc_policy, "quarantine", "none|quarantine|reject",
		   "DMARC policy", err) < 0 ||
	    mailbox(s->dmarc_rua, "dmarc-reports", domain, c->dmarc_rua, err) <
		    0 ||
	    mailbox(s->tlsrpt_rua, "tls-reports", domain, c->tlsrpt_rua, err) <
		    0)
		return -1;
	return 0;
}

/* The DKIM keys: selectors (and the names they make) and TXT values. */
static int check_dkim(const char *domain, const struct mc_dns_dkim *dkim,
		      size_t n, struct mc_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *sel = dkim[i].selector;
		if (!mc_dkim_keys_valid_selector(sel) ||
		    strlen(sel) + strlen("._domainkey.") + strlen(domain) >
			    MC_DOMAIN_MAX ||
		    !printable(dkim[i].value) ||
		    strncmp(dkim[i].value, "v=DKIM1;", 8) != 0) {
			mc_error_set(err, MC_ERR_INVALID,
				     "bad DKIM record \"%s\"", sel);
			return -1;
		}
	}
	return 0;
}

/* Appends one record; prio and port < 0 are left out. */
static void add(struct ctx *c, const char *type, const char *name,
		const char *value, int prio, int port, const char *purpose)
{
	json_t *r = json_pack("{s:s, s:s, s:s}", "type", type, "name", name,
			      "value", value);
	if (prio >= 0)
		json_object_set_new(r, "priority", json_integer(prio));
	if (port >= 0)
		json_object_set_new(r, "port", json_integer(port));
	json_object_set_new(r, "purpose", json_string(purpose));
	json_array_append_new(c->records, r);
}

/* Appends a record named "<prefix>.<domain>". */
static void add_sub(struct ctx *c, const char *type, const char *prefix,
		    const char *value, const char *purpose)
{
	char *name = mc_asprintf("%s.%s", prefix, c->domain);
	add(c, type, name, value, -1, -1, purpose);
	free(name);
}

/* The SPF text: the configured one, or built from its parts. */
static char *spf_text(const struct mc_dns_settings *s)
{
	struct mc_buf b;
	char net[MC_CIDR_MAX];
	if (s->spf != NULL)
		return mc_strdup(s->spf);
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "v=spf1 mx");
	for (size_t i = 0; i < s->spf_include_count; i++)
		mc_buf_printf(&b, " include:%s", s->spf_include[i]);
	for (size_t i = 0; i < s->spf_networks_count; i++) {
		mc_tenants_parse_cidr(s->spf_networks[i], net, NULL);
		bool v6 = strchr(net, ':') != NULL;
		char *slash = strrchr(net, '/');
		if (strcmp(slash, v6 ? "/128" : "/32") == 0)
			*slash = '\0'; /* a host: the bare address */
		mc_buf_printf(&b, " ip%c:%s", v6 ? '6' : '4', net);
	}
	mc_buf_append_str(&b, " -all");
	char *text = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	return text;
}

/* MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT: mail flow and its policies. */
static void add_mail_records(struct ctx *c, const struct mc_dns_dkim *dkim,
			     size_t dkim_count)
{
	const struct mc_dns_settings *s = &c->s;
	char *v;
	for (size_t i = 0; i < s->mx_count; i++)
		add(c, "MX", c->domain, s->mx[i].host, (int)s->mx[i].priority,
		    -1, "incoming mail");
	v = spf_text(s);
	add(c, "TXT", c->domain, v, -1, -1,
	    "SPF: the servers that send mail for the domain");
	free(v);
	for (size_t i = 0; i < dkim_count; i++) {
		v = mc_asprintf("%s._domainkey", dkim[i].selector);
		add_sub(c, "TXT", v, dkim[i].value, "DKIM public key");
		free(v);
	}
	v = mc_asprintf("v=DMARC1; p=%s; rua=mailto:%s", s->dmarc_policy,
			c->dmarc_rua);
	add_sub(c, "TXT", "_dmarc", v, "DMARC policy and aggregate reports");
	free(v);
	v = mc_asprintf("v=STSv1; id=%s", c->id);
	add_sub(c, "TXT", "_mta-sts", v, "MTA-STS policy version");
	free(v);
	add_sub(c, "CNAME", "mta-sts", s->web_host,
		"MTA-STS policy host (HTTPS)");
	v = mc_asprintf("v=TLSRPTv1; rua=mailto:%s", c->tlsrpt_rua);
	add_sub(c, "TXT", "_smtp._tls", v, "SMTP TLS reports (TLS-RPT)");
	free(v);
}

/* One SRV record; host NULL = not offered (target ".", RFC 6186 4). */
static void add_srv(struct ctx *c, const char *service, const char *host,
		    unsigned port, const char *purpose)
{
	char *name = mc_asprintf("%s._tcp.%s", service, c->domain);
	char *v = host != NULL ? mc_asprintf("1 %u %s", port, host)
			       : mc_strdup("0 0 .");
	add(c, "SRV", name, v, 0, host != NULL ? (int)port : 0, purpose);
	free(v);
	free(name);
}

/* Client configuration: autoconfig/autodiscover and SRV records. */
static void add_client_records(struct ctx *c)
{
	const struct mc_dns_settings *s = &c->s;
	add_sub(c, "CNAME", "autoconfig", s->web_host,
		"mail client autoconfiguration (Thunderbird)");
	add_sub(c, "CNAME", "autodiscover", s->web_host,
		"mail client autodiscovery (Outlook)");
	add_srv(c, "_imaps", s->imap_host, s->imaps_port,
		"IMAP over TLS (RFC 8314)");
	add_srv(c, "_imap", NULL, 0,
		"IMAP without TLS: not offered, use IMAPS (RFC 6186)");
	add_srv(c, "_submissions", s->submission_host, s->submissions_port,
		"mail submission over TLS (RFC 8314)");
	add_srv(c, "_submission", s->submission_host, s->submission_port,
		"mail submission with STARTTLS (RFC 6186)");
	add_srv(c, "_pop3s", s->pop3 ? s->pop3_host : NULL, s->pop3s_port,
		s->pop3 ? "POP3 over TLS (RFC 8314)"
			: "POP3 over TLS: not offered");
	add_srv(c, "_pop3", NULL, 0,
		"POP3 without TLS: not offered, use POP3S (RFC 6186)");
}

/* The policy file of resolved settings (caller frees). */
static char *policy_text(const struct mc_dns_settings *s)
{
	struct mc_buf b;
	mc_buf_init(&b, NULL, 0);
	mc_buf_printf(&b, "version: STSv1\r\nmode: %s\r\n", s->mta_sts_mode);
	for (size_t i = 0; i < s->mx_count; i++)
		mc_buf_printf(&b, "mx: %s\r\n", s->mx[i].host);
	mc_buf_printf(&b, "max_age: %u\r\n", (unsigned)s->mta_sts_max_age);
	char *text = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	return text;
}

/* Writes the derived id (20 hex digits of SHA-256 of the policy). */
static void derive_id(const struct mc_dns_settings *s, char *out)
{
	unsigned char md[32];
	char *text = policy_text(s);
	EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
	free(text);
	for (int i = 0; i < 10; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

json_t *mc_dns_records(const char *domain, const struct mc_dns_settings *set,
		       const struct mc_dns_dkim *dkim, size_t dkim_count,
		       struct mc_error *err)
{
	struct ctx c = {0};
	if (resolve(&c, domain, set, err) < 0 ||
	    check_dkim(domain, dkim, dkim_count, err) < 0)
		return NULL;
	if (c.s.mta_sts_id != NULL)
		snprintf(c.id, sizeof(c.id), "%s", c.s.mta_sts_id);
	else
		derive_id(&c.s, c.id);
	c.records = json_array();
	add_mail_records(&c, dkim, dkim_count);
	add_client_records(&c);
	return json_pack("{s:s, s:o}", "domain", domain, "records", c.records);
}

char *mc_dns_mta_sts_policy(const struct mc_dns_settings *set,
			    struct mc_error *err)
{
	struct ctx c = {0};
	if (resolve_policy(&c, set, err) < 0)
		return NULL;
	return policy_text(&c.s);
}

int mc_dns_mta_sts_id(const struct mc_dns_settings *set, char *buf, size_t size,
		      struct mc_error *err)
{
	struct ctx c = {0};
	if (resolve_policy(&c, set, err) < 0)
		return -1;
	if (size < 21) {
		mc_error_set(err, MC_ERR_INVALID,
			     "MTA-STS id buffer too small");
		return -1;
	}
	derive_id(&c.s, buf);
	return 0;
}

/* A [dns] string copied into pool, NULL when empty. */
static const char *cfg_str(const struct mc_config *cfg, struct mc_pool *pool,
			   const char *key)
{
	const char *v = mc_config_str(cfg, "dns", key);
	return *v != '\0' ? mc_pstrdup(pool, v) : NULL;
}

/* One "PRIO HOST" or "HOST" item of [dns] mx. */
static int parse_mx_item(struct mc_pool *pool, const char *item,
			 struct mc_dns_mx *mx, struct mc_error *err)
{
	size_t n;
	char **w = mc_str_split(pool, item, " \t", &n);
	int64_t prio = 10;
	if ((n == 1 || (n == 2 && mc_str_to_i64(w[0], &prio) && prio >= 0 &&
			prio <= 65535)) &&
	    mc_tenants_valid_domain(mc_str_lower(w[n - 1]))) {
		*mx = (struct mc_dns_mx){w[n - 1], (unsigned)prio};
		return 0;
	}
	mc_error_set(err, MC_ERR_INVALID,
		     "[dns] mx: bad item \"%s\" (PRIORITY HOST)", item);
	return -1;
}

/* [dns] mx into set (nothing when empty). */
static int parse_mx(const struct mc_config *cfg, struct mc_pool *pool,
		    struct mc_dns_settings *set, struct mc_error *err)
{
	size_t n;
	char **items =
		mc_str_split(pool, mc_config_str(cfg, "dns", "mx"), ",", &n);
	struct mc_dns_mx *mx = mc_palloc_array(pool, n + 1, sizeof(*mx));
	if (n > MX_MAX) {
		mc_error_set(err, MC_ERR_INVALID, "[dns] mx: too many hosts");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (parse_mx_item(pool, items[i], &mx[i], err) < 0)
			return -1;
	}
	set->mx = mx;
	set->mx_count = n;
	return 0;
}

/* An INT key of [dns] as unsigned (the schema bounds it). */
static unsigned cfg_uint(const struct mc_config *cfg, const char *key)
{
	return (unsigned)mc_config_int(cfg, "dns", key);
}

int mc_dns_settings_from_config(const struct mc_config *cfg,
				struct mc_pool *pool,
				struct mc_dns_settings *set_r,
				struct mc_error *err)
{
	struct mc_dns_settings s = {
		.hostname = mc_pstrdup(pool, mc_service_hostname(cfg)),
		.spf = cfg_str(cfg, pool, "spf"),
		.dmarc_policy = cfg_str(cfg, pool, "dmarc_policy"),
		.dmarc_rua = cfg_str(cfg, pool, "dmarc_rua"),
		.mta_sts_mode = cfg_str(cfg, pool, "mta_sts_mode"),
		.mta_sts_max_age = cfg_uint(cfg, "mta_sts_max_age"),
		.tlsrpt_rua = cfg_str(cfg, pool, "tlsrpt_rua"),
		.web_host = cfg_str(cfg, pool, "web_host"),
		.imap_host = cfg_str(cfg, pool, "imap_host"),
		.submission_host = cfg_str(cfg, pool, "submission_host"),
		.pop3_host = cfg_str(cfg, pool, "pop3_host"),
		.imaps_port = cfg_uint(cfg, "imaps_port"),
		.submissions_port = cfg_uint(cfg, "submissions_port"),
		.submission_port = cfg_uint(cfg, "submission_port"),
		.pop3s_port = cfg_uint(cfg, "pop3s_port"),
		.pop3 = mc_config_bool(cfg, "dns", "pop3"),
	};
	s.spf_include = (const char *const *)mc_str_split(
		pool, mc_config_str(cfg, "dns", "spf_include"), ", \t",
		&s.spf_include_count);
	s.spf_networks = (const char *const *)mc_str_split(
		pool, mc_config_str(cfg, "dns", "spf_networks"), ", \t",
		&s.spf_networks_count);
	if (parse_mx(cfg, pool, &s, err) < 0)
		return -1;
	*set_r = s;
	return 0;
}
