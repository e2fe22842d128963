/* mc-addr: numeric socket addresses as written in configuration files,
 * "127.0.0.1:25" or "[::1]:25", and comma-separated lists of them. Host
 * names are refused: nothing here ever blocks on DNS. */
#include "mailcore/mc-addr.h"

#include "mailcore/mc-error.h"
#include "mailcore/mc-str.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ADDR_ITEM_MAX 128

/* Parses a port number 1..65535. */
static bool parse_port(const char *s, in_port_t *port_r)
{
	uint64_t v;

	if (!mc_str_to_u64(s, &v) || v < 1 || v > 65535)
		return false;
	*port_r = htons((uint16_t)v);
	return true;
}

/* Fills addr_r from a numeric IPv4 or IPv6 host and a network-order port. */
static bool fill_addr(const char *host, bool v6, in_port_t port,
		      struct mc_sockaddr *addr_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr_r->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr_r->ss;

	memset(addr_r, 0, sizeof(*addr_r));
	if (v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		addr_r->len = sizeof(*sin6);
		return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = port;
	addr_r->len = sizeof(*sin);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1;
}

/* Splits "[v6]:port" or "v4:port" (in place) into host and port. */
static const char *split_host_port(char *s, char **host_r, char **port_r,
				   bool *v6_r)
{
	char *p;

	*v6_r = s[0] == '[';
	if (*v6_r) {
		p = strchr(s, ']');
		if (p == NULL || p[1] != ':')
			return "expected [IPv6]:PORT";
		*p = '\0';
		*host_r = s + 1;
		*port_r = p + 2;
		return NULL;
	}
	p = strrchr(s, ':');
	if (p == NULL)
		return "expected IP:PORT";
	if (strchr(s, ':') != p)
		return "IPv6 addresses must be written as [IP]:PORT";
	*p = '\0';
	*host_r = s;
	*port_r = p + 1;
	return NULL;
}

/* Parses one numeric "IPv4:port" or "[IPv6]:port"; 0 on success. */
int mc_addr_parse(const char *s, struct mc_sockaddr *addr_r,
		  struct mc_error *err)
{
	char copy[ADDR_ITEM_MAX], *host, *port;
	in_port_t nport;
	const char *why;
	bool v6;

	if (strlen(s) >= sizeof(copy)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad address \"%.40s...\": "
			     "too long",
			     s);
		return -1;
	}
	strcpy(copy, s);
	why = split_host_port(copy, &host, &port, &v6);
	if (why == NULL && !parse_port(port, &nport))
		why = "port must be a number from 1 to 65535";
	if (why == NULL && !fill_addr(host, v6, nport, addr_r))
		why = v6 ? "not a numeric IPv6 address"
			 : "not a numeric IP address (host names are not "
			   "resolved)";
	if (why != NULL) {
		mc_error_set(err, MC_ERR_INVALID, "bad address \"%s\": %s", s,
			     why);
		return -1;
	}
	return 0;
}

/* True for the blanks allowed around list items. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies the next comma-separated item of *sp, trimmed, into item;
 * false when it does not fit. *sp becomes NULL after the last item. */
static bool next_item(const char **sp, char *item, size_t size)
{
	const char *s = *sp, *end = strchr(s, ',');

	*sp = end != NULL ? end + 1 : NULL;
	if (end == NULL)
		end = s + strlen(s);
	while (s < end && is_blank(*s))
		s++;
	while (end > s && is_blank(end[-1]))
		end--;
	if ((size_t)(end - s) >= size)
		return false;
	memcpy(item, s, (size_t)(end - s));
	item[end - s] = '\0';
	return true;
}

typedef int item_parse_fn(const char *item, void *out, size_t idx,
			  struct mc_error *err);

/* Parses "a, b, c" with parse(item, out, index); empty items are skipped.
 * what and whats name an item and items in errors. Returns the count or
 * -1. */
static int parse_list(const char *s, size_t max, const char *what,
		      const char *whats, item_parse_fn *parse, void *out,
		      struct mc_error *err)
{
	char item[ADDR_ITEM_MAX];
	size_t n = 0;

	while (s != NULL) {
		if (!next_item(&s, item, sizeof(item))) {
			mc_error_set(err, MC_ERR_INVALID,
				     "bad %s: item longer than %d bytes", what,
				     ADDR_ITEM_MAX - 1);
			return -1;
		}
		if (item[0] == '\0')
			continue;
		if (n == max) {
			mc_error_set(err, MC_ERR_INVALID,
				     "too many %s (at most %zu)", whats, max);
			return -1;
		}
		if (parse(item, out, n, err) < 0)
			return -1;
		n++;
	}
	return (int)n;
}

/* item_parse_fn for socket addresses. */
static int addr_item(const char *item, void *out, size_t idx,
		     struct mc_error *err)
{
	return mc_addr_parse(item, (struct mc_sockaddr *)out + idx, err);
}

/* Parses "a, b, c" into addrs; empty items are skipped. */
int mc_addr_list_parse(const char *s, struct mc_sockaddr *addrs, size_t max,
		       struct mc_error *err)
{
	return parse_list(s, max, "address", "addresses", addr_item, addrs,
			  err);
}

/* Writes the numeric IP of addr into buf. */
const char *mc_addr_ip_str(const struct mc_sockaddr *addr, char *buf)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
	const struct sockaddr_in6 *sin6 =
		(const struct sockaddr_in6 *)&addr->ss;
	const char *ret = NULL;

	if (addr->ss.ss_family == AF_INET)
		ret = inet_ntop(AF_INET, &sin->sin_addr, buf, MC_ADDR_STR_MAX);
	else if (addr->ss.ss_family == AF_INET6)
		ret = inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
				MC_ADDR_STR_MAX);
	if (ret == NULL)
		strcpy(buf, "?");
	return buf;
}

/* Writes "ip:port" or "[ip]:port" into buf. */
const char *mc_addr_str(const struct mc_sockaddr *addr, char *buf)
{
	char ip[MC_ADDR_STR_MAX];

	mc_addr_ip_str(addr, ip);
	if (addr->ss.ss_family == AF_INET6)
		snprintf(buf, MC_ADDR_STR_MAX, "[%.*s]:%d", 50, ip,
			 mc_addr_port(addr));
	else
		snprintf(buf, MC_ADDR_STR_MAX, "%.*s:%d", 50, ip,
			 mc_addr_port(addr));
	return buf;
}

/* The port in host order, -1 for an unknown family. */
int mc_addr_port(const struct mc_sockaddr *addr)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
	const struct sockaddr_in6 *sin6 =
		(const struct sockaddr_in6 *)&addr->ss;

	if (addr->ss.ss_family == AF_INET)
		return ntohs(sin->sin_port);
	if (addr->ss.ss_family == AF_INET6)
		return ntohs(sin6->sin6_port);
	return -1;
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, else 0. */
int mc_addr_is_loopback(const struct mc_sockaddr *addr)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
	const struct sockaddr_in6 *sin6 =
		(const struct sockaddr_in6 *)&addr->ss;
	const uint8_t *b = sin6->sin6_addr.s6_addr;

	if (addr->ss.ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (addr->ss.ss_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
}

/* Fills family and addr of c from a numeric host; false if not one. */
static bool cidr_host(const char *host, struct mc_cidr *c)
{
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		c->prefix = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		c->prefix = 128;
	} else
		return false;
	return true;
}

/* True when the bits of addr after the first prefix bits are all zero. */
static bool host_bits_zero(const unsigned char *addr, unsigned prefix,
			   unsigned bits)
{
	for (unsigned i = prefix; i < bits; i++) {
		if ((addr[i / 8] & (0x80u >> (i % 8))) != 0)
			return false;
	}
	return true;
}

int mc_cidr_parse(const char *s, struct mc_cidr *cidr_r, struct mc_error *err)
{
	char copy[ADDR_ITEM_MAX];
	const char *why = NULL;
	uint64_t prefix;

	snprintf(copy, sizeof(copy), "%s", s);
	char *slash = strchr(copy, '/');
	if (slash != NULL)
		*slash = '\0';
	if (strlen(s) >= sizeof(copy) || !cidr_host(copy, cidr_r))
		why = "not a numeric IP address or network";
	else if (slash != NULL) {
		unsigned bits = cidr_r->prefix;
		if (!mc_str_to_u64(slash + 1, &prefix) || prefix > bits)
			why = "bad prefix length";
		else if (!host_bits_zero(cidr_r->addr, (unsigned)prefix, bits))
			why = "address has bits set after the prefix";
		else
			cidr_r->prefix = (unsigned)prefix;
	}
	if (why != NULL) {
		mc_error_set(err, MC_ERR_INVALID, "bad network \"%s\": %s", s,
			     why);
		return -1;
	}
	return 0;
}

/* item_parse_fn for networks. */
static int cidr_item(const char *item, void *out, size_t idx,
		     struct mc_error *err)
{
	return mc_cidr_parse(item, (struct mc_cidr *)out + idx, err);
}

int mc_cidr_list_parse(const char *s, struct mc_cidr *list, size_t max,
		       struct mc_error *err)
{
	return parse_list(s, max, "network", "networks", cidr_item, list, err);
}

/* True when the first prefix bits of a and b agree. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b,
			 unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xffu << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* The client's IP as family + bytes, IPv4-mapped IPv6 unwrapped. */
static int addr_bytes(const struct mc_sockaddr *addr, unsigned char out[16])
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
	const struct sockaddr_in6 *sin6 =
		(const struct sockaddr_in6 *)&addr->ss;

	if (addr->ss.ss_family == AF_INET) {
		memcpy(out, &sin->sin_addr, 4);
		return AF_INET;
	}
	if (addr->ss.ss_family != AF_INET6)
		return AF_UNSPEC;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(out, sin6->sin6_addr.s6_addr + 12, 4);
		return AF_INET;
	}
	memcpy(out, &sin6->sin6_addr, 16);
	return AF_INET6;
}

bool mc_cidr_list_match(const struct mc_cidr *list, size_t n,
			const struct mc_sockaddr *addr)
{
	unsigned char ip[16];
	int family = addr_bytes(addr, ip);

	for (size_t i = 0; i < n; i++) {
		if (list[i].family == family &&
		    prefix_equal(list[i].addr, ip, list[i].prefix))
			return true;
	}
	return false;
}
