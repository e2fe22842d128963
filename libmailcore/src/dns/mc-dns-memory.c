/* mc-dns-memory: an in-memory zone behind the mc-dns vtable, for unit
 * tests. It answers only the records added (NODATA for other types of a
 * known name, NXDOMAIN for unknown names), fails names marked so as a
 * timed-out resolver would, and marks names DNSSEC-secure on request. */
#include "mc-dns-private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

static const struct mc_dns_vfuncs mem_vfuncs;

struct mem_entry {
	char *name;
	uint16_t type; /* 0 for a name that only carries flags */
	const uint8_t *wire;
	size_t len;
	bool fail, secure;
};

struct mem_dns {
	struct mc_dns dns; /* first */
	pthread_mutex_t lock;
	struct mc_pool *pool;
	struct mem_entry *entries;
	size_t count, cap;
};

/* Appends an entry for name (already normalized); returns it. */
static struct mem_entry *entry_add(struct mem_dns *m, const char *name)
{
	if (m->count == m->cap) {
		m->cap = m->cap == 0 ? 16 : m->cap * 2;
		m->entries =
			mc_realloc(m->entries, m->cap * sizeof(*m->entries));
	}
	struct mem_entry *e = &m->entries[m->count++];
	memset(e, 0, sizeof(*e));
	e->name = mc_pstrdup(m->pool, name);
	return e;
}

/* The flags entry of name, created when missing. */
static struct mem_entry *flags_of(struct mem_dns *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++) {
		if (m->entries[i].type == 0 &&
		    strcmp(m->entries[i].name, name) == 0)
			return &m->entries[i];
	}
	return entry_add(m, name);
}

/* Adds one record from zone-file text. */
int mc_dns_memory_add(struct mc_dns *dns, const char *name, const char *type,
		      const char *rdata)
{
	struct mem_dns *m = (struct mem_dns *)dns;
	char norm[MC_DNS_NAME_MAX + 1];
	const uint8_t *wire;
	uint16_t t;
	size_t len;
	int ret = -1;

	if (dns->v != &mem_vfuncs || !mc_dns_name_normalize(name, norm))
		return -1;
	pthread_mutex_lock(&m->lock);
	if (mc_dns_rdata_from_text(m->pool, type, rdata, &t, &wire, &len,
				   NULL) == 0) {
		struct mem_entry *e = entry_add(m, norm);
		e->type = t;
		e->wire = wire;
		e->len = len;
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Sets a flag on name's flags entry. */
static void mark(struct mc_dns *dns, const char *name, bool fail)
{
	struct mem_dns *m = (struct mem_dns *)dns;
	char norm[MC_DNS_NAME_MAX + 1];

	if (dns->v != &mem_vfuncs || !mc_dns_name_normalize(name, norm))
		return;
	pthread_mutex_lock(&m->lock);
	struct mem_entry *e = flags_of(m, norm);
	if (fail)
		e->fail = true;
	else
		e->secure = true;
	pthread_mutex_unlock(&m->lock);
}

/* Makes every lookup of name fail temporarily. */
void mc_dns_memory_fail(struct mc_dns *dns, const char *name)
{
	mark(dns, name, true);
}

/* Marks the answers for name as DNSSEC-secure. */
void mc_dns_memory_secure(struct mc_dns *dns, const char *name)
{
	mark(dns, name, false);
}

/* Copies the records of name and type into rr (pool); flags of name. */
static void collect(struct mem_dns *m, struct mc_pool *pool, const char *name,
		    uint16_t type, struct mc_dns_rrset *rr, bool *fail_r,
		    bool *exists_r)
{
	const uint8_t **rdata =
		mc_palloc_array(pool, m->count + 1, sizeof(*rdata));
	size_t *len = mc_palloc_array(pool, m->count + 1, sizeof(*len));

	for (size_t i = 0; i < m->count; i++) {
		const struct mem_entry *e = &m->entries[i];
		if (strcmp(e->name, name) != 0)
			continue;
		*fail_r = *fail_r || e->fail;
		rr->secure = rr->secure || e->secure;
		*exists_r = *exists_r || e->type != 0;
		if (e->type != type)
			continue;
		rdata[rr->count] = mc_pmemdup(pool, e->wire, e->len);
		len[rr->count++] = e->len;
	}
	rr->rdata = rdata;
	rr->len = len;
}

/* The vtable query: answers from the entries. */
static int mem_query(struct mc_dns *dns, struct mc_pool *pool, const char *name,
		     uint16_t type, int64_t deadline_ms,
		     struct mc_dns_rrset *rr_r, struct mc_error *err)
{
	struct mem_dns *m = (struct mem_dns *)dns;
	bool fail = false, exists = false;

	(void)deadline_ms;
	pthread_mutex_lock(&m->lock);
	collect(m, pool, name, type, rr_r, &fail, &exists);
	pthread_mutex_unlock(&m->lock);
	if (fail) {
		rr_r->count = 0;
		rr_r->secure = false;
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "DNS lookup of %s failed: server failure", name);
		return -1;
	}
	rr_r->nxdomain = !exists;
	return 0;
}

/* The vtable destroy. */
static void mem_destroy(struct mc_dns *dns)
{
	struct mem_dns *m = (struct mem_dns *)dns;

	pthread_mutex_destroy(&m->lock);
	mc_pool_destroy(&m->pool);
	free(m->entries);
	free(m);
}

static const struct mc_dns_vfuncs mem_vfuncs = {
	.query = mem_query,
	.destroy = mem_destroy,
};

/* An empty in-memory zone. */
struct mc_dns *mc_dns_memory_create(void)
{
	struct mem_dns *m = mc_calloc(1, sizeof(*m));

	m->dns.v = &mem_vfuncs;
	m->pool = mc_pool_create("dns-memory", 0);
	pthread_mutex_init(&m->lock, NULL);
	return &m->dns;
}
