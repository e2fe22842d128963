/* mc-dns: the lookups mail needs on top of a backend vtable. The backend
 * answers raw questions with wire rdata; this file turns it into MX lists
 * (sorted by preference, ties shuffled), socket addresses, joined TXT
 * strings, TLSA records and PTR names, and holds the helpers every
 * backend shares. */
#include "mc-dns-private.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#define DEFAULT_TIMEOUT_MS 10000

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t mc_dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True for the bytes a host name label may hold here (LDH and "_"). */
static bool label_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* Lowercases name into buf without its trailing dot; checks the labels. */
bool mc_dns_name_normalize(const char *name, char *buf)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > MC_DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!label_char(c) || ++label > 63) {
			return false;
		}
		buf[i] = (char)tolower(c);
	}
	buf[len] = '\0';
	return label > 0;
}

/* Reads an uncompressed wire name as lowercase text without the dot. */
bool mc_dns_wire_name(const uint8_t *rdata, size_t len, size_t *pos, char *buf)
{
	size_t p = *pos, out = 0;

	for (;;) {
		if (p >= len)
			return false;
		uint8_t n = rdata[p++];
		if (n == 0)
			break;
		if (n > 63 || p + n > len ||
		    out + n + (out > 0) > MC_DNS_NAME_MAX)
			return false; /* a pointer, or too long */
		if (out > 0)
			buf[out++] = '.';
		for (uint8_t i = 0; i < n; i++)
			buf[out++] = (char)tolower(rdata[p + i]);
		p += n;
	}
	buf[out] = '\0';
	*pos = p;
	return true;
}

/* Asks the backend and folds the answer's DNSSEC state into ans. */
static int ask(struct mc_dns *dns, struct mc_pool *pool, const char *name,
	       uint16_t type, int64_t deadline, struct mc_dns_rrset *rr,
	       struct mc_dns_answer *ans, struct mc_error *err)
{
	int ret;

	memset(rr, 0, sizeof(*rr));
	ret = dns->v->query(dns, pool, name, type, deadline, rr, err);
	ans->secure = ans->secure && rr->secure && ret == 0;
	ans->bogus = ans->bogus || rr->bogus;
	ans->nxdomain = ans->nxdomain || (ret == 0 && rr->nxdomain);
	return ret;
}

/* The deadline of a lookup that starts now. */
static int64_t deadline_of(const struct mc_dns *dns)
{
	unsigned ms =
		dns->timeout_ms != 0 ? dns->timeout_ms : DEFAULT_TIMEOUT_MS;
	return mc_dns_now_ms() + ms;
}

/* Starts an answer: secure until a part of it is not. */
static struct mc_dns_answer *answer_init(struct mc_dns_answer *ans,
					 struct mc_dns_answer *scratch)
{
	if (ans == NULL)
		ans = scratch;
	ans->secure = true;
	ans->bogus = false;
	ans->nxdomain = false;
	return ans;
}

/* The answer for a name DNS cannot hold: it does not exist. 0. */
static int no_such_name(struct mc_dns_answer *ans)
{
	ans->secure = false;
	ans->nxdomain = true;
	return 0;
}

/* An MX with the random key that orders it among equal preferences. */
struct mx_sort {
	struct mc_dns_mx mx;
	uint32_t key;
};

/* qsort order: preference, then the random key. */
static int mx_cmp(const void *a, const void *b)
{
	const struct mx_sort *x = a, *y = b;

	if (x->mx.pref != y->mx.pref)
		return x->mx.pref < y->mx.pref ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* Parses the MX rdata items into a sorted pool array; count of them. */
static size_t mx_parse(struct mc_pool *pool, const struct mc_dns_rrset *rr,
		       struct mc_dns_mx **mx_r)
{
	struct mx_sort *tmp = mc_calloc(rr->count + 1, sizeof(*tmp));
	struct mc_dns_mx *mx =
		mc_palloc_array(pool, rr->count + 1, sizeof(*mx));
	char host[MC_DNS_NAME_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < rr->count; i++) {
		size_t pos = 2;
		if (rr->len[i] < 3 ||
		    !mc_dns_wire_name(rr->rdata[i], rr->len[i], &pos, host))
			continue;
		tmp[n].mx.pref =
			(unsigned)rr->rdata[i][0] << 8 | rr->rdata[i][1];
		tmp[n].mx.host = mc_pstrdup(pool, host);
		tmp[n++].key = arc4random();
	}
	qsort(tmp, n, sizeof(*tmp), mx_cmp);
	for (size_t i = 0; i < n; i++)
		mx[i] = tmp[i].mx;
	free(tmp);
	*mx_r = mx;
	return n;
}

/* Sets the error for an answer whose records could not be parsed. */
static int malformed(struct mc_error *err, const char *type, const char *name)
{
	mc_error_set(err, MC_ERR_TEMPORARY, "malformed %s records for %s", type,
		     name);
	return -1;
}

/* MX records of domain, sorted by preference with ties shuffled. */
int mc_dns_mx(struct mc_dns *dns, struct mc_pool *pool, const char *domain,
	      const struct mc_dns_mx **mx_r, size_t *count_r, bool *nxdomain_r,
	      struct mc_dns_answer *ans_r, struct mc_error *err)
{
	char name[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr;
	struct mc_dns_mx *mx;
	bool nx_scratch, *nx = nxdomain_r != NULL ? nxdomain_r : &nx_scratch;

	*mx_r = NULL;
	*count_r = 0;
	*nx = false;
	if (!mc_dns_name_normalize(domain, name)) {
		*nx = true; /* a name DNS cannot hold does not exist */
		ans->secure = false;
		ans->nxdomain = true;
		return 0;
	}
	if (ask(dns, pool, name, MC_DNS_T_MX, deadline_of(dns), &rr, ans, err) <
	    0)
		return -1;
	*nx = rr.nxdomain;
	if (rr.count == 0)
		return 0;
	*count_r = mx_parse(pool, &rr, &mx);
	if (*count_r == 0)
		return malformed(err, "MX", name);
	*mx_r = mx;
	return 1;
}

/* Appends the addresses of one A or AAAA rrset to addrs at *n. */
static void addrs_add(const struct mc_dns_rrset *rr, uint16_t type, int port,
		      struct mc_sockaddr *addrs, size_t *n)
{
	for (size_t i = 0; i < rr->count; i++) {
		struct mc_sockaddr *a = &addrs[*n];
		memset(a, 0, sizeof(*a));
		if (type == MC_DNS_T_A && rr->len[i] == 4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			memcpy(&sin->sin_addr, rr->rdata[i], 4);
			a->len = sizeof(*sin);
		} else if (type == MC_DNS_T_AAAA && rr->len[i] == 16) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			memcpy(&s6->sin6_addr, rr->rdata[i], 16);
			a->len = sizeof(*s6);
		} else {
			continue;
		}
		(*n)++;
	}
}

/* The A and AAAA addresses of host, one family after the other. */
int mc_dns_addrs(struct mc_dns *dns, struct mc_pool *pool, const char *host,
		 int port, bool want_v6, const struct mc_sockaddr **addrs_r,
		 size_t *count_r, struct mc_dns_answer *ans_r,
		 struct mc_error *err)
{
	const uint16_t order[2] = {want_v6 ? MC_DNS_T_AAAA : MC_DNS_T_A,
				   want_v6 ? MC_DNS_T_A : MC_DNS_T_AAAA};
	char name[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr[2];
	struct mc_error first = {0};
	int64_t deadline = deadline_of(dns);
	bool failed = false;
	size_t n = 0;

	memset(rr, 0, sizeof(rr));
	*addrs_r = NULL;
	*count_r = 0;
	if (!mc_dns_name_normalize(host, name))
		return no_such_name(ans);
	for (int i = 0; i < 2; i++) {
		if (ask(dns, pool, name, order[i], deadline, &rr[i], ans,
			&first) < 0)
			failed = true;
		else if (rr[i].nxdomain)
			break; /* the other type cannot exist either */
	}
	struct mc_sockaddr *addrs = mc_palloc_array(
		pool, rr[0].count + rr[1].count + 1, sizeof(*addrs));
	for (int i = 0; i < 2; i++)
		addrs_add(&rr[i], order[i], port, addrs, &n);
	if (n == 0 && failed) {
		mc_error_set(err, first.cls, "%s", first.msg);
		return -1;
	}
	*addrs_r = addrs;
	*count_r = n;
	return n > 0;
}

/* The addresses of host of one family only (A or AAAA). */
int mc_dns_addrs_family(struct mc_dns *dns, struct mc_pool *pool,
			const char *host, int family,
			const struct mc_sockaddr **addrs_r, size_t *count_r,
			struct mc_dns_answer *ans_r, struct mc_error *err)
{
	uint16_t type = family == AF_INET6 ? MC_DNS_T_AAAA : MC_DNS_T_A;
	char name[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr;
	size_t n = 0;

	*addrs_r = NULL;
	*count_r = 0;
	if (!mc_dns_name_normalize(host, name))
		return no_such_name(ans);
	if (ask(dns, pool, name, type, deadline_of(dns), &rr, ans, err) < 0)
		return -1;
	struct mc_sockaddr *addrs =
		mc_palloc_array(pool, rr.count + 1, sizeof(*addrs));
	addrs_add(&rr, type, 0, addrs, &n);
	*addrs_r = addrs;
	*count_r = n;
	return n > 0;
}

/* Joins the character-strings of one TXT rdata; NULL when malformed. */
static char *txt_join(struct mc_pool *pool, const uint8_t *rdata, size_t len)
{
	char *out = mc_palloc(pool, len + 1);
	size_t pos = 0, o = 0;

	while (pos < len) {
		uint8_t n = rdata[pos++];
		if (pos + n > len)
			return NULL;
		memcpy(out + o, rdata + pos, n);
		o += n;
		pos += n;
	}
	out[o] = '\0';
	return out;
}

/* TXT records of name, each record's strings joined into one. */
int mc_dns_txt(struct mc_dns *dns, struct mc_pool *pool, const char *name,
	       const char *const **txt_r, size_t *count_r,
	       struct mc_dns_answer *ans_r, struct mc_error *err)
{
	char norm[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr;
	const char **txt;
	size_t n = 0;

	*txt_r = NULL;
	*count_r = 0;
	if (!mc_dns_name_normalize(name, norm))
		return no_such_name(ans);
	if (ask(dns, pool, norm, MC_DNS_T_TXT, deadline_of(dns), &rr, ans,
		err) < 0)
		return -1;
	if (rr.count == 0)
		return 0;
	txt = mc_palloc_array(pool, rr.count + 1, sizeof(*txt));
	for (size_t i = 0; i < rr.count; i++) {
		char *s = txt_join(pool, rr.rdata[i], rr.len[i]);
		if (s != NULL)
			txt[n++] = s;
	}
	if (n == 0)
		return malformed(err, "TXT", norm);
	*txt_r = txt;
	*count_r = n;
	return 1;
}

/* TLSA records of name ("_25._tcp.mx.example"). */
int mc_dns_tlsa(struct mc_dns *dns, struct mc_pool *pool, const char *name,
		const struct mc_dns_tlsa **tlsa_r, size_t *count_r,
		struct mc_dns_answer *ans_r, struct mc_error *err)
{
	char norm[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr;
	struct mc_dns_tlsa *tlsa;
	size_t n = 0;

	*tlsa_r = NULL;
	*count_r = 0;
	if (!mc_dns_name_normalize(name, norm))
		return no_such_name(ans);
	if (ask(dns, pool, norm, MC_DNS_T_TLSA, deadline_of(dns), &rr, ans,
		err) < 0)
		return -1;
	if (rr.count == 0)
		return 0;
	tlsa = mc_palloc_array(pool, rr.count, sizeof(*tlsa));
	for (size_t i = 0; i < rr.count; i++) {
		if (rr.len[i] < 3)
			continue;
		tlsa[n].usage = rr.rdata[i][0];
		tlsa[n].selector = rr.rdata[i][1];
		tlsa[n].mtype = rr.rdata[i][2];
		tlsa[n].data = rr.rdata[i] + 3;
		tlsa[n++].data_len = rr.len[i] - 3;
	}
	if (n == 0)
		return malformed(err, "TLSA", norm);
	*tlsa_r = tlsa;
	*count_r = n;
	return 1;
}

/* Writes the reverse-tree name of an address literal into buf; false
 * when ip is none. */
static bool reverse_name(const char *ip, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t a[16];
	size_t o = 0;

	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(buf, size, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2],
			 a[1], a[0]);
		return true;
	}
	if (inet_pton(AF_INET6, ip, a) != 1 || size < 16 * 4 + 9)
		return false;
	for (int i = 15; i >= 0; i--) {
		buf[o++] = hex[a[i] & 15];
		buf[o++] = '.';
		buf[o++] = hex[a[i] >> 4];
		buf[o++] = '.';
	}
	memcpy(buf + o, "ip6.arpa", sizeof("ip6.arpa"));
	return true;
}

/* The names of the PTR rdata items (pool); count of them. */
static size_t ptr_parse(struct mc_pool *pool, const struct mc_dns_rrset *rr,
			const char ***names_r)
{
	const char **names =
		mc_palloc_array(pool, rr->count + 1, sizeof(*names));
	char host[MC_DNS_NAME_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < rr->count; i++) {
		size_t pos = 0;
		if (mc_dns_wire_name(rr->rdata[i], rr->len[i], &pos, host) &&
		    host[0] != '\0')
			names[n++] = mc_pstrdup(pool, host);
	}
	*names_r = names;
	return n;
}

/* PTR names of an address literal or of a reverse-tree name. */
int mc_dns_ptr(struct mc_dns *dns, struct mc_pool *pool, const char *ip,
	       const char *const **names_r, size_t *count_r,
	       struct mc_dns_answer *ans_r, struct mc_error *err)
{
	char rev[MC_DNS_NAME_MAX + 1], norm[MC_DNS_NAME_MAX + 1];
	struct mc_dns_answer scratch, *ans = answer_init(ans_r, &scratch);
	struct mc_dns_rrset rr;
	const char **names;

	*names_r = NULL;
	*count_r = 0;
	if (!reverse_name(ip, rev, sizeof(rev)))
		snprintf(rev, sizeof(rev), "%s", ip);
	if (!mc_dns_name_normalize(rev, norm))
		return no_such_name(ans);
	if (ask(dns, pool, norm, MC_DNS_T_PTR, deadline_of(dns), &rr, ans,
		err) < 0)
		return -1;
	if (rr.count == 0)
		return 0;
	*count_r = ptr_parse(pool, &rr, &names);
	if (*count_r == 0)
		return malformed(err, "PTR", norm);
	*names_r = names;
	return 1;
}

/* Frees the resolver (any backend); accepts NULL and clears *dns. */
void mc_dns_destroy(struct mc_dns **dns)
{
	if (dns == NULL || *dns == NULL)
		return;
	(*dns)->v->destroy(*dns);
	*dns = NULL;
}

/* ---- zone-file text to wire rdata (the memory backend's input) ---- */

/* Writes the wire form of a normalized name ("" = root) at out. */
static size_t name_to_wire(const char *name, uint8_t *out)
{
	size_t o = 0;

	while (*name != '\0') {
		size_t n = strcspn(name, ".");
		out[o++] = (uint8_t)n;
		memcpy(out + o, name, n);
		o += n;
		name += n + (name[n] == '.');
	}
	out[o++] = 0;
	return o;
}

/* "PREF HOST" (HOST "." for a null MX) to wire. */
static bool mx_from_text(const char *text, uint8_t *out, size_t *len_r)
{
	char host[MC_DNS_NAME_MAX + 2], norm[MC_DNS_NAME_MAX + 1];
	unsigned long pref;
	char *end;

	pref = strtoul(text, &end, 10);
	if (end == text || pref > 65535 || !isspace((unsigned char)*end))
		return false;
	if (sscanf(end, " %254s", host) != 1)
		return false;
	if (strcmp(host, ".") == 0)
		norm[0] = '\0';
	else if (!mc_dns_name_normalize(host, norm))
		return false;
	out[0] = (uint8_t)(pref >> 8);
	out[1] = (uint8_t)pref;
	*len_r = 2 + name_to_wire(norm, out + 2);
	return true;
}

/* "HOST." or "HOST" (a PTR or other name target) to wire. */
static bool target_from_text(const char *text, uint8_t *out, size_t *len_r)
{
	char norm[MC_DNS_NAME_MAX + 1];

	text += strspn(text, " \t");
	if (!mc_dns_name_normalize(text, norm))
		return false;
	*len_r = name_to_wire(norm, out);
	return true;
}

/* Appends s[0..n) as character-strings of at most 255 bytes. */
static void txt_put(const char *s, size_t n, uint8_t *out, size_t *o)
{
	do {
		size_t chunk = n > 255 ? 255 : n;
		out[(*o)++] = (uint8_t)chunk;
		memcpy(out + *o, s, chunk);
		*o += chunk;
		s += chunk;
		n -= chunk;
	} while (n > 0);
}

/* One "quoted string" (\" and \\ escapes) at *p appended to out. */
static bool txt_quoted(const char **p, uint8_t *out, size_t *o)
{
	const char *s = *p + 1;
	char buf[256];
	size_t n = 0;

	while (*s != '"') {
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (*s == '\0' || n == sizeof(buf) - 1)
			return false;
		buf[n++] = *s++;
	}
	txt_put(buf, n, out, o);
	*p = s + 1;
	return true;
}

/* TXT text: "a" "b" strings, or bare text as one string. */
static bool txt_from_text(const char *text, uint8_t *out, size_t *len_r)
{
	size_t o = 0;

	if (*text != '"') {
		txt_put(text, strlen(text), out, &o);
		*len_r = o;
		return true;
	}
	while (*text != '\0') {
		if (*text != '"' || !txt_quoted(&text, out, &o))
			return false;
		text += strspn(text, " \t");
	}
	*len_r = o;
	return true;
}

/* The value of one hex digit, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "USAGE SELECTOR MTYPE HEX" (spaces allowed in HEX) to wire. */
static bool tlsa_from_text(const char *text, uint8_t *out, size_t *len_r)
{
	unsigned u, s, m;
	int used = 0;
	size_t o = 3;

	if (sscanf(text, "%u %u %u %n", &u, &s, &m, &used) != 3 || used == 0 ||
	    u > 255 || s > 255 || m > 255)
		return false;
	out[0] = (uint8_t)u;
	out[1] = (uint8_t)s;
	out[2] = (uint8_t)m;
	for (const char *p = text + used; *p != '\0'; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int hi = hexval(p[0]), lo = p[1] != '\0' ? hexval(p[1]) : -1;
		if (hi < 0 || lo < 0)
			return false;
		out[o++] = (uint8_t)(hi << 4 | lo);
		p++;
	}
	*len_r = o;
	return o > 3;
}

/* Converts zone-file rdata text of one type into wire rdata. */
int mc_dns_rdata_from_text(struct mc_pool *pool, const char *type,
			   const char *text, uint16_t *type_r,
			   const uint8_t **wire_r, size_t *len_r,
			   struct mc_error *err)
{
	size_t tlen = strlen(text), len = 0;
	uint8_t *out = mc_palloc(pool, tlen + tlen / 255 + 300);
	bool ok = false;

	if (strcasecmp(type, "A") == 0) {
		*type_r = MC_DNS_T_A;
		ok = inet_pton(AF_INET, text, out) == 1;
		len = 4;
	} else if (strcasecmp(type, "AAAA") == 0) {
		*type_r = MC_DNS_T_AAAA;
		ok = inet_pton(AF_INET6, text, out) == 1;
		len = 16;
	} else if (strcasecmp(type, "MX") == 0) {
		*type_r = MC_DNS_T_MX;
		ok = mx_from_text(text, out, &len);
	} else if (strcasecmp(type, "TXT") == 0) {
		*type_r = MC_DNS_T_TXT;
		ok = txt_from_text(text, out, &len);
	} else if (strcasecmp(type, "TLSA") == 0) {
		*type_r = MC_DNS_T_TLSA;
		ok = tlsa_from_text(text, out, &len);
	} else if (strcasecmp(type, "PTR") == 0) {
		*type_r = MC_DNS_T_PTR;
		ok = target_from_text(text, out, &len);
	}
	if (!ok) {
		mc_error_set(err, MC_ERR_INVALID, "bad %s record \"%s\"", type,
			     text);
		return -1;
	}
	*wire_r = out;
	*len_r = len;
	return 0;
}

struct mc_dns *mc_dns_from_config(const struct mc_config *cfg,
				  struct mc_error *err)
{
	const char *up = mc_config_str(cfg, "dns", "upstream");
	const char *ta = mc_config_str(cfg, "dns", "trust_anchor");
	struct mc_dns_settings set = {
		.upstream = *up != '\0' ? up : NULL,
		.trust_anchor_file = *ta != '\0' ? ta : NULL,
		.timeout_ms = (unsigned)mc_config_duration_ms(cfg, "dns",
							      "timeout"),
	};
	return mc_dns_create(&set, err);
}
