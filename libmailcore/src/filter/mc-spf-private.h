/* mc-spf-private: the libspf2 DNS layer shared by mc-spf.c and
 * mc-spf-dns.c. One layer serves one check: it answers libspf2's
 * questions from mc-dns, remembers the first temporary failure, counts
 * the DNS-querying terms and void lookups of the whole check (RFC 7208
 * §4.6.4: libspf2 counts per record only, and lets one more through)
 * and answers exp= lookups itself. */
#ifndef MC_SPF_PRIVATE_H
#define MC_SPF_PRIVATE_H

#include <arpa/nameser.h>
#include <netinet/in.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "mailcore/mc-error.h"

struct mc_dns;
struct mc_pool;

#define MC_SPF_MAX_VOID 2 /* RFC 7208 §4.6.4 */

/* What the layer of one check works with. */
struct mc_spf_dns_ctx {
	struct mc_dns *dns;
	struct mc_pool *pool;	/* scratch for the mc-dns answers */
	SPF_request_t *request; /* for expanding exp= texts */
	unsigned max_terms;	/* DNS-querying terms allowed */
	struct mc_error temp;	/* the first temporary DNS failure */
	const char *limit;	/* set when a limit was exceeded: which */
	unsigned records;	/* SPF records fetched (1 + include/redirect) */
	unsigned terms;		/* DNS-querying terms counted */
	unsigned voids;		/* of which gave no answer */
	const char **hosts;	/* names MX and PTR answers gave */
	size_t nhosts, hosts_cap;
};

/* A libspf2 DNS layer answering from ctx (which must outlive it); free
 * it with SPF_dns_free() after SPF_server_free(). */
SPF_dns_server_t *mc_spf_dns_layer_new(struct mc_spf_dns_ctx *ctx);

#endif
