/* mc-spf-dns: a libspf2 DNS layer (SPF_dns_server_t) over mc-dns. It
 * answers A, AAAA, MX, TXT and PTR questions as SPF_dns_rr_t records,
 * NXDOMAIN as HOST_NOT_FOUND, NODATA as NO_DATA and a failure to ask as
 * TRY_AGAIN, so that an unreachable DNS gives temperror, never fail; it
 * enforces the lookup limits of the whole check and expands exp= texts. */
#include "mc-spf-private.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <strings.h>

#include "mailcore/mc-dns.h"
#include "mailcore/mc-pool.h"

/* Stops the check: a limit of RFC 7208 §4.6.4 was exceeded. */
static SPF_dns_rr_t *over_limit(SPF_dns_server_t *layer, const char *domain,
				ns_type type, const char *which)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;

	if (ctx->limit == NULL)
		ctx->limit = which;
	return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
}

/* Counts one DNS-querying term; false when that is one too many. */
static bool term_count(struct mc_spf_dns_ctx *ctx)
{
	return ++ctx->terms <= ctx->max_terms;
}

/* True when name was a host an MX or PTR answer gave (its address
 * lookups belong to that term). */
static bool host_known(const struct mc_spf_dns_ctx *ctx, const char *name)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < ctx->nhosts; i++)
		if (strncasecmp(ctx->hosts[i], name, len) == 0 &&
		    ctx->hosts[i][len] == '\0')
			return true;
	return false;
}

/* Remembers the hosts of an MX or PTR answer. */
static void hosts_add(struct mc_spf_dns_ctx *ctx, const char *const *names,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ctx->nhosts == ctx->hosts_cap) {
			size_t cap = ctx->hosts_cap * 2 + 16;
			const char **h =
				mc_palloc_array(ctx->pool, cap, sizeof(*h));
			if (ctx->nhosts > 0)
				memcpy(h, ctx->hosts, ctx->nhosts * sizeof(*h));
			ctx->hosts = h;
			ctx->hosts_cap = cap;
		}
		ctx->hosts[ctx->nhosts++] = names[i];
	}
}

/* The answer libspf2 gets for a question mc-dns could not answer. */
static SPF_dns_rr_t *failed(SPF_dns_server_t *layer, const char *domain,
			    ns_type type, const struct mc_error *err)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;

	if (ctx->temp.cls == MC_ERR_NONE)
		mc_error_set(&ctx->temp, MC_ERR_TEMPORARY, "%s",
			     err->msg[0] != '\0' ? err->msg
						 : "DNS lookup failed");
	return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
}

/* The empty answer: HOST_NOT_FOUND for NXDOMAIN, NO_DATA otherwise. */
static SPF_dns_rr_t *empty(SPF_dns_server_t *layer, const char *domain,
			   ns_type type, bool nxdomain)
{
	return SPF_dns_rr_new_init(layer, domain, type, 0,
				   nxdomain ? HOST_NOT_FOUND : NO_DATA);
}

/* The empty answer to a term's own lookup: a void lookup. */
static SPF_dns_rr_t *void_answer(SPF_dns_server_t *layer, const char *domain,
				 ns_type type, bool nxdomain)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;

	if (++ctx->voids > MC_SPF_MAX_VOID)
		return over_limit(layer, domain, type,
				  "too many void DNS lookups");
	return empty(layer, domain, type, nxdomain);
}

/* Stores len bytes of data as record idx of rr; false on no memory. */
static bool rr_put(SPF_dns_rr_t *rr, int idx, const void *data, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, idx, len) != SPF_E_SUCCESS)
		return false;
	memcpy(rr->rr[idx], data, len);
	rr->num_rr = idx + 1;
	return true;
}

/* Stores the strings as the records of a new successful answer. */
static SPF_dns_rr_t *strings_rr(SPF_dns_server_t *layer, const char *domain,
				ns_type type, const char *const *s, size_t n)
{
	SPF_dns_rr_t *rr =
		SPF_dns_rr_new_init(layer, domain, type, 0, NETDB_SUCCESS);
	int idx = 0;

	if (rr == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i][0] == '\0')
			continue; /* a null MX names no host */
		if (!rr_put(rr, idx++, s[i], strlen(s[i]) + 1))
			abort();
	}
	if (idx == 0)
		rr->herrno = NO_DATA;
	return rr;
}

/* The in_addr or in6_addr inside a. */
static const void *addr_bytes(const struct mc_sockaddr *a)
{
	if (a->ss.ss_family == AF_INET)
		return &((const struct sockaddr_in *)&a->ss)->sin_addr;
	return &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
}

/* A or AAAA records of domain; term says it is a term's own lookup. */
static SPF_dns_rr_t *ask_addrs(SPF_dns_server_t *layer, const char *domain,
			       ns_type type, bool term)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;
	int family = type == ns_t_aaaa ? AF_INET6 : AF_INET;
	struct mc_error err = {0};
	struct mc_dns_answer ans;
	const struct mc_sockaddr *a;
	size_t n;
	int ret = mc_dns_addrs_family(ctx->dns, ctx->pool, domain, family, &a,
				      &n, &ans, &err);

	if (ret < 0)
		return failed(layer, domain, type, &err);
	if (ret == 0)
		return term ? void_answer(layer, domain, type, ans.nxdomain)
			    : empty(layer, domain, type, ans.nxdomain);
	SPF_dns_rr_t *rr =
		SPF_dns_rr_new_init(layer, domain, type, 0, NETDB_SUCCESS);
	if (rr == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!rr_put(rr, (int)i, addr_bytes(&a[i]),
			    family == AF_INET ? sizeof(struct in_addr)
					      : sizeof(struct in6_addr)))
			abort();
	}
	return rr;
}

/* MX host names of domain (preference order). */
static SPF_dns_rr_t *ask_mx(SPF_dns_server_t *layer, const char *domain)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;
	struct mc_error err = {0};
	struct mc_dns_answer ans;
	const struct mc_dns_mx *mx;
	size_t n;
	int ret = mc_dns_mx(ctx->dns, ctx->pool, domain, &mx, &n, NULL, &ans,
			    &err);

	if (ret < 0)
		return failed(layer, domain, ns_t_mx, &err);
	if (ret == 0)
		return void_answer(layer, domain, ns_t_mx, ans.nxdomain);
	const char **hosts = mc_palloc_array(ctx->pool, n, sizeof(*hosts));
	for (size_t i = 0; i < n; i++)
		hosts[i] = mx[i].host;
	hosts_add(ctx, hosts, n);
	return strings_rr(layer, domain, ns_t_mx, hosts, n);
}

/* TXT (strings joined) or PTR records of domain. */
static SPF_dns_rr_t *ask_names(SPF_dns_server_t *layer, const char *domain,
			       ns_type type)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;
	struct mc_error err = {0};
	struct mc_dns_answer ans;
	const char *const *s;
	size_t n;
	int ret = type == ns_t_txt ? mc_dns_txt(ctx->dns, ctx->pool, domain, &s,
						&n, &ans, &err)
				   : mc_dns_ptr(ctx->dns, ctx->pool, domain, &s,
						&n, &ans, &err);

	if (ret < 0)
		return failed(layer, domain, type, &err);
	if (ret == 0)
		return type == ns_t_ptr
			       ? void_answer(layer, domain, type, ans.nxdomain)
			       : empty(layer, domain, type, ans.nxdomain);
	if (type == ns_t_ptr)
		hosts_add(ctx, s, n);
	return strings_rr(layer, domain, type, s, n);
}

/* The layer's lookup: one question, answered from mc-dns. TXT questions
 * are record fetches (exp= goes through get_exp), so their count beyond
 * the first is that of include and redirect terms. */
static SPF_dns_rr_t *lookup(SPF_dns_server_t *layer, const char *domain,
			    ns_type type, int should_cache)
{
	struct mc_spf_dns_ctx *ctx = layer->hook;
	bool term;

	(void)should_cache;
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
		term = !host_known(ctx, domain);
		if (term && !term_count(ctx))
			break;
		return ask_addrs(layer, domain, type, term);
	case ns_t_mx:
		if (!term_count(ctx))
			break;
		return ask_mx(layer, domain);
	case ns_t_ptr:
		if (!term_count(ctx))
			break;
		return ask_names(layer, domain, type);
	case ns_t_txt:
		if (++ctx->records > 1 && !term_count(ctx))
			break;
		return ask_names(layer, domain, type);
	default: /* type 99 (SPF, obsolete since RFC 7208) and the rest */
		return empty(layer, domain, type, false);
	}
	return over_limit(layer, domain, type, "too many DNS lookups");
}

/* "%_" for every space: libspf2 1.2.10 mangles literal spaces in
 * macro-strings. */
static char *macro_spaces(struct mc_pool *pool, const char *text)
{
	char *out = mc_palloc(pool, strlen(text) * 2 + 1), *o = out;

	for (; *text != '\0'; text++) {
		if (*text == ' ')
			*o++ = '%', *o++ = '_';
		else
			*o++ = *text;
	}
	*o = '\0';
	return out;
}

/* The data of a compiled macro (it follows the struct). */
static SPF_data_t *macro_data(SPF_macro_t *m)
{
	return (SPF_data_t *)((char *)m + sizeof(*m));
}

/* Expands text (or the server's explanation when NULL or bad) into
 * *bufp for ctx's request. */
static SPF_errcode_t expand(SPF_server_t *server, struct mc_spf_dns_ctx *ctx,
			    const char *text, char **bufp, size_t *buflenp)
{
	SPF_response_t *resp = SPF_response_new(ctx->request);
	SPF_macro_t *m = NULL, *use = server->explanation;
	SPF_errcode_t e = SPF_E_NOT_CONFIG;

	if (resp == NULL)
		abort();
	if (text != NULL &&
	    SPF_record_compile_macro(server, resp, &m, text) == SPF_E_SUCCESS)
		use = m;
	if (use != NULL)
		e = SPF_record_expand_data(server, ctx->request, resp,
					   macro_data(use), use->macro_len,
					   bufp, buflenp);
	if (m != NULL)
		SPF_macro_free(m);
	SPF_response_free(resp);
	return e;
}

/* The layer's exp= lookup (RFC 7208 §6.2): the one TXT record of domain,
 * expanded; any DNS trouble or more than one record falls back to our
 * explanation. Not counted against the limits. */
static SPF_errcode_t get_exp(SPF_server_t *server, const char *domain,
			     char **bufp, size_t *buflenp)
{
	struct mc_spf_dns_ctx *ctx = server->resolver->hook;
	const char *const *txt;
	const char *text = NULL;
	size_t n;

	if (mc_dns_txt(ctx->dns, ctx->pool, domain, &txt, &n, NULL, NULL) ==
		    1 &&
	    n == 1)
		text = macro_spaces(ctx->pool, txt[0]);
	return expand(server, ctx, text, bufp, buflenp);
}

/* The layer's destructor (SPF_dns_free). */
static void destroy(SPF_dns_server_t *layer)
{
	free(layer);
}

/* A libspf2 DNS layer answering from ctx. */
SPF_dns_server_t *mc_spf_dns_layer_new(struct mc_spf_dns_ctx *ctx)
{
	SPF_dns_server_t *layer = mc_calloc(1, sizeof(*layer));

	layer->destroy = destroy;
	layer->lookup = lookup;
	layer->get_exp = get_exp;
	layer->name = "mc-dns";
	layer->hook = ctx;
	return layer;
}
