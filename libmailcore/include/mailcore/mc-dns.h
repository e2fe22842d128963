/* mc-dns: the DNS lookups mail needs (MX, A/AAAA, TXT, TLSA, PTR), behind a
 * vtable: libunbound for the daemons (forwarding to [dns] upstream, or
 * the system's resolv.conf; DNSSEC validated when a trust anchor is
 * given) and an in-memory zone for unit tests. Lookups are synchronous
 * and thread-safe: they run in worker jobs, never on a loop. Every
 * lookup tells a missing name (0) from a failure to ask (-1, temporary),
 * which decides a bounce from a retry. */
#ifndef MC_DNS_H
#define MC_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc-addr.h"

struct mc_error;
struct mc_pool;
struct mc_dns;

struct mc_dns_settings {
	/* "HOST:PORT" or "HOST" (port 53) of a recursive resolver to
	 * forward every query to; NULL: the system's /etc/resolv.conf */
	const char *upstream;
	/* a DNSSEC trust anchor file (unbound's auto-trust-anchor-file
	 * format); NULL: answers are never "secure" (no DANE) */
	const char *trust_anchor_file;
	unsigned timeout_ms; /* per lookup; 0 = 10000 */
};

struct mc_dns_mx {
	const char *host; /* lowercase, no trailing dot; "" for a null MX */
	unsigned pref;
};

struct mc_dns_tlsa {
	uint8_t usage, selector, mtype;
	const uint8_t *data;
	size_t data_len;
};

/* The answer of one lookup (records owned by the pool passed in). */
struct mc_dns_answer {
	bool secure;   /* DNSSEC validated (always false without an anchor) */
	bool bogus;    /* validation failed: treat as a temporary failure */
	bool nxdomain; /* the name does not exist (0 returns: vs NODATA) */
};

/* libunbound. NULL with err when the settings are unusable. */
struct mc_dns *mc_dns_create(const struct mc_dns_settings *set,
			     struct mc_error *err);
/* An in-memory zone for unit tests: answers only what was added,
 * NXDOMAIN for the rest, a temporary failure for names marked so. */
struct mc_dns *mc_dns_memory_create(void);
/* Adds a record in zone-file text: type "MX" rdata "10 mx.example.",
 * "A" "192.0.2.1", "AAAA" "2001:db8::1", "TXT" "v=spf1 -all",
 * "TLSA" "3 1 1 <hex>", "PTR" "host.example." (name
 * "1.2.0.192.in-addr.arpa"). 0 or -1. */
int mc_dns_memory_add(struct mc_dns *dns, const char *name, const char *type,
		      const char *rdata);
/* Makes every lookup of name fail as a timeout would (SERVFAIL). */
void mc_dns_memory_fail(struct mc_dns *dns, const char *name);
/* Marks the answers for name as DNSSEC-secure. */
void mc_dns_memory_secure(struct mc_dns *dns, const char *name);
void mc_dns_destroy(struct mc_dns **dns);
struct mc_config;
/* libunbound as [dns] upstream, trust_anchor and timeout say; NULL with
 * err. */
struct mc_dns *mc_dns_from_config(const struct mc_config *cfg,
				  struct mc_error *err);

/* MX records of domain sorted by preference (ties in random order):
 * 1 and *mx_r, *count_r (pool), 0 when the domain has none (NODATA) or
 * does not exist (*nxdomain_r), -1 with err (MC_ERR_TEMPORARY) when the
 * resolver failed or the answer is bogus. A null MX (RFC 7505) is one
 * record with host "". */
int mc_dns_mx(struct mc_dns *dns, struct mc_pool *pool, const char *domain,
	      const struct mc_dns_mx **mx_r, size_t *count_r, bool *nxdomain_r,
	      struct mc_dns_answer *ans_r, struct mc_error *err);
/* The A and AAAA addresses of host (IPv6 first when want_v6), port set
 * to port. 1, 0 (no address), -1 with err (temporary). */
int mc_dns_addrs(struct mc_dns *dns, struct mc_pool *pool, const char *host,
		 int port, bool want_v6, const struct mc_sockaddr **addrs_r,
		 size_t *count_r, struct mc_dns_answer *ans_r,
		 struct mc_error *err);
/* The addresses of host of one family only: AF_INET asks A, AF_INET6
 * AAAA (port 0). 1, 0 (none; ans_r->nxdomain tells NXDOMAIN from NODATA),
 * -1 with err (temporary). */
int mc_dns_addrs_family(struct mc_dns *dns, struct mc_pool *pool,
			const char *host, int family,
			const struct mc_sockaddr **addrs_r, size_t *count_r,
			struct mc_dns_answer *ans_r, struct mc_error *err);
/* TXT records of name, each one string (the record's strings joined).
 * 1, 0, -1 as above. */
int mc_dns_txt(struct mc_dns *dns, struct mc_pool *pool, const char *name,
	       const char *const **txt_r, size_t *count_r,
	       struct mc_dns_answer *ans_r, struct mc_error *err);
/* TLSA records of name ("_25._tcp.mx.example"). 1, 0, -1 as above. */
int mc_dns_tlsa(struct mc_dns *dns, struct mc_pool *pool, const char *name,
		const struct mc_dns_tlsa **tlsa_r, size_t *count_r,
		struct mc_dns_answer *ans_r, struct mc_error *err);

/* PTR names (lowercase, no trailing dot; pool) of ip, an address literal
 * ("192.0.2.1", "2001:db8::1") or a name already in the reverse tree
 * ("1.2.0.192.in-addr.arpa", "...ip6.arpa"). 1, 0, -1 as above. */
int mc_dns_ptr(struct mc_dns *dns, struct mc_pool *pool, const char *ip,
	       const char *const **names_r, size_t *count_r,
	       struct mc_dns_answer *ans_r, struct mc_error *err);

/* The backend vtable (mc-dns-private.h has the struct). */
#endif
