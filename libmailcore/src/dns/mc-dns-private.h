/* mc-dns-private: the backend vtable behind mc-dns. A backend answers one
 * raw question (name, type) with the wire rdata of the answer; mc-dns.c
 * turns rdata into MX, addresses, TXT, TLSA and PTR for every backend
 * alike. */
#ifndef MC_DNS_PRIVATE_H
#define MC_DNS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailcore/mc-dns.h"

#define MC_DNS_T_A    1
#define MC_DNS_T_PTR  12
#define MC_DNS_T_MX   15
#define MC_DNS_T_TXT  16
#define MC_DNS_T_AAAA 28
#define MC_DNS_T_TLSA 52

#define MC_DNS_NAME_MAX 253 /* text form, without the trailing dot */

/* The answer to one question: count rdata items of the asked type
 * (pool-owned), none with nxdomain (no such name) or without (NODATA). */
struct mc_dns_rrset {
	const uint8_t *const *rdata;
	const size_t *len;
	size_t count;
	bool nxdomain;
	bool secure;
	bool bogus;
};

struct mc_dns_vfuncs {
	/* Asks for name (normalized: lowercase, no trailing dot) of type,
	 * giving up at deadline_ms (CLOCK_MONOTONIC milliseconds). 0 with
	 * *rr_r filled (also for NXDOMAIN and NODATA), or -1 with err
	 * (MC_ERR_TEMPORARY; rr_r->bogus when validation failed). */
	int (*query)(struct mc_dns *dns, struct mc_pool *pool, const char *name,
		     uint16_t type, int64_t deadline_ms,
		     struct mc_dns_rrset *rr_r, struct mc_error *err);
	/* Frees the backend, dns included. */
	void (*destroy)(struct mc_dns *dns);
};

/* The first member of every backend's struct. */
struct mc_dns {
	const struct mc_dns_vfuncs *v;
	unsigned timeout_ms;
};

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t mc_dns_now_ms(void);
/* Copies name lowercased, without a trailing dot, into buf
 * (MC_DNS_NAME_MAX + 1 bytes). false when it is no valid DNS name. */
bool mc_dns_name_normalize(const char *name, char *buf);
/* Reads the uncompressed wire name at rdata[*pos] as lowercase text
 * without trailing dot ("" for the root) into buf (MC_DNS_NAME_MAX + 1),
 * advancing *pos. false on a malformed or compressed name. */
bool mc_dns_wire_name(const uint8_t *rdata, size_t len, size_t *pos, char *buf);
/* Converts zone-file rdata text of type ("MX", "A", "AAAA", "TXT",
 * "TLSA", "PTR") into wire rdata (pool): 0 with *type_r, *wire_r, *len_r, or
 * -1 with err (MC_ERR_INVALID). */
int mc_dns_rdata_from_text(struct mc_pool *pool, const char *type,
			   const char *text, uint16_t *type_r,
			   const uint8_t **wire_r, size_t *len_r,
			   struct mc_error *err);

#endif
