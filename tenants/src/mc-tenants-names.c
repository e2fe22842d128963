/* mc-tenants-names: syntax of tenant names, domains, local parts and
 * addresses as mailcore stores them (lower case, ASCII; IDN comes later as
 * A-labels), and of the dates and networks mailctl takes. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-tenants.h"

/* True when every character of s is in [a-z0-9._-]. */
static bool all_name_chars(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && strchr("._-", *s) == NULL)
			return false;
	}
	return true;
}

bool mc_tenants_valid_name(const char *name)
{
	size_t len = strlen(name);
	return len >= 1 && len <= 63 && isalnum((unsigned char)name[0]) &&
	       all_name_chars(name);
}

bool mc_tenants_valid_local_part(const char *local_part)
{
	size_t len = strlen(local_part);
	return len >= 1 && len <= MC_LOCAL_PART_MAX &&
	       all_name_chars(local_part);
}

/* One DNS label: letters, digits, inner hyphens, 1..63 characters. */
static bool valid_label(const char *label, size_t len)
{
	if (len < 1 || len > 63 || label[0] == '-' || label[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];
		if (!islower(c) && !isdigit(c) && c != '-')
			return false;
	}
	return true;
}

bool mc_tenants_valid_domain(const char *domain)
{
	size_t len = strlen(domain), dots = 0;
	if (len < 3 || len > MC_DOMAIN_MAX)
		return false;
	for (const char *p = domain;; dots++) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (!valid_label(p, n))
			return false;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return dots >= 1; /* two labels at least */
}

/* External local parts: printable ASCII without blanks, '@' or quotes. */
static bool valid_external_local(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > MC_LOCAL_PART_MAX)
		return false;
	for (; *s != '\0'; s++) {
		if (*s <= ' ' || *s >= 127 || strchr("@\"<>(),;:\\[]", *s))
			return false;
	}
	return true;
}

int mc_tenants_split_address(const char *address, bool strict, char *local_r,
			     char *domain_r, struct mc_error *err)
{
	const char *at = strrchr(address, '@');
	size_t llen = at != NULL ? (size_t)(at - address) : 0;
	if (at == NULL || llen == 0 || llen > MC_LOCAL_PART_MAX ||
	    strlen(at + 1) > MC_DOMAIN_MAX) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad address \"%s\": expected local@domain",
			     address);
		return -1;
	}
	memcpy(local_r, address, llen);
	local_r[llen] = '\0';
	strcpy(domain_r, at + 1);
	mc_str_lower(domain_r);
	if (strict)
		mc_str_lower(local_r);
	if (!mc_tenants_valid_domain(domain_r)) {
		mc_error_set(err, MC_ERR_INVALID, "bad domain \"%s\" in \"%s\"",
			     domain_r, address);
		return -1;
	}
	if (strict ? !mc_tenants_valid_local_part(local_r)
		   : !valid_external_local(local_r)) {
		mc_error_set(
			err, MC_ERR_INVALID,
			"bad local part \"%s\" in \"%s\"%s", local_r, address,
			strict ? ": use letters, digits, '.', '_' or '-'" : "");
		return -1;
	}
	return 0;
}

/* Whether s is exactly n digits; their value in *v. */
static bool digits(const char *s, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

bool mc_tenants_valid_date(const char *date)
{
	static const int days[] = {31, 29, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	int y, m, d;
	if (strlen(date) != 10 || date[4] != '-' || date[7] != '-' ||
	    !digits(date, 4, &y) || !digits(date + 5, 2, &m) ||
	    !digits(date + 8, 2, &d) || y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > days[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m != 2 || d < 29 || leap;
}

/* Whether the bits of addr (len bytes) past the first prefix are 0. */
static bool host_bits_clear(const unsigned char *addr, size_t len,
			    unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8
				: prefix > 8 * i      ? prefix - 8 * i
						      : 0;
		unsigned char mask = (unsigned char)(0xff >> keep);
		if ((addr[i] & mask) != 0)
			return false;
	}
	return true;
}

/* Parses "/LEN" (or "" for max) into *prefix_r. */
static bool parse_prefix(const char *s, unsigned max, unsigned *prefix_r)
{
	if (*s == '\0') {
		*prefix_r = max;
		return true;
	}
	char *end;
	if (s[0] != '/' || !isdigit((unsigned char)s[1]) || strlen(s) > 4)
		return false;
	unsigned long v = strtoul(s + 1, &end, 10);
	if (*end != '\0' || v > max)
		return false;
	*prefix_r = (unsigned)v;
	return true;
}

int mc_tenants_parse_cidr(const char *cidr, char *out, struct mc_error *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	const char *slash = strchr(cidr, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
	int family = memchr(cidr, ':', hlen) != NULL ? AF_INET6 : AF_INET;
	unsigned max = family == AF_INET6 ? 128 : 32, prefix;
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, cidr, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, addr) != 1 ||
	    !parse_prefix(cidr + hlen, max, &prefix))
		goto bad;
	if (!host_bits_clear(addr, max / 8, prefix)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "bad network \"%s\": host bits set past /%u", cidr,
			     prefix);
		return -1;
	}
	inet_ntop(family, addr, host, sizeof(host));
	snprintf(out, MC_CIDR_MAX, "%s/%u", host, prefix);
	return 0;
bad:
	mc_error_set(err, MC_ERR_INVALID,
		     "bad network \"%s\": expected ADDRESS/PREFIX", cidr);
	return -1;
}
