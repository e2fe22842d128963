/* mc-tls-sni: per-domain certificates picked by the name a client sends
 * (SNI). Each NAME.pem + NAME.key pair of a directory becomes a context
 * made by mc_tls_server_ctx_create, indexed by its DNS names in two sorted
 * tables (exact names, wildcard parents); the default context's servername
 * callback switches a connection to the matching one. */
#include "mailcore/mc-tls.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#define SNI_MAX_FILE  (1024 * 1024)
#define SNI_MAX_CERTS 100000
#define SNI_MAX_NAME  253

/* One name a loaded certificate covers. */
struct sni_entry {
	const char *name; /* lower case; for a wildcard, the parent */
	size_t seq;	  /* file order: the first file wins a name */
	SSL_CTX *ctx;
};

/* Entries sorted by name once loading is done. */
struct sni_table {
	struct sni_entry *v;
	size_t count, alloc;
};

/* What one mc_tls_sni_load() built; owns the names and the contexts. */
struct sni_index {
	struct mc_pool *pool;
	struct sni_table exact, wild;
	SSL_CTX **ctxs;
	size_t ctx_count;
};

/* Hung on the default context: the current index, swapped by a reload
 * while handshakes read it. */
struct sni_holder {
	pthread_rwlock_t lock;
	struct sni_index *index;
};

static int holder_ex_index = -1;
static pthread_once_t holder_ex_once = PTHREAD_ONCE_INIT;

/* Frees an index and drops its references to the loaded contexts. */
static void index_free(struct sni_index *idx)
{
	if (idx == NULL)
		return;
	for (size_t i = 0; i < idx->ctx_count; i++)
		SSL_CTX_free(idx->ctxs[i]);
	free(idx->ctxs);
	free(idx->exact.v);
	free(idx->wild.v);
	mc_pool_destroy(&idx->pool);
	free(idx);
}

/* ex_data free function: runs when the default context is freed. */
static void holder_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			   int index, long argl, void *argp)
{
	struct sni_holder *h = ptr;

	(void)parent, (void)ad, (void)index, (void)argl, (void)argp;
	if (h == NULL)
		return;
	index_free(h->index);
	pthread_rwlock_destroy(&h->lock);
	free(h);
}

/* Registers the ex_data index once per process. */
static void holder_ex_init(void)
{
	holder_ex_index =
		SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, holder_ex_free);
	if (holder_ex_index < 0)
		abort(); /* out of memory */
}

/* The holder of ctx, created on first use. */
static struct sni_holder *holder_get(SSL_CTX *ctx)
{
	struct sni_holder *h;

	pthread_once(&holder_ex_once, holder_ex_init);
	h = SSL_CTX_get_ex_data(ctx, holder_ex_index);
	if (h != NULL)
		return h;
	h = mc_calloc(1, sizeof(*h));
	pthread_rwlock_init(&h->lock, NULL);
	if (SSL_CTX_set_ex_data(ctx, holder_ex_index, h) != 1)
		abort(); /* out of memory */
	return h;
}

/* Whether c may stand at position i of a name of len bytes. */
static bool name_char_ok(const char *in, size_t i, size_t len)
{
	char c = in[i];

	if (c == '.')
		return i > 0 && i + 1 < len && in[i - 1] != '.';
	if (c == '*')
		return i == 0 && len > 2 && in[1] == '.';
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Lower-cases a host name of len bytes into out (SNI_MAX_NAME + 1 bytes)
 * without one trailing dot; false unless it is a plausible ASCII name
 * (no empty label, a wildcard "*." only in front). */
static bool normalize_name(const char *in, size_t len, char *out)
{
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > SNI_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(in, i, len))
			return false;
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] + 32)
						      : in[i];
	}
	out[len] = '\0';
	return true;
}

/* Appends one entry to a table. */
static void table_add(struct sni_table *t, const char *name, size_t seq,
		      SSL_CTX *ctx)
{
	size_t n;

	if (t->count == t->alloc) {
		t->alloc = t->alloc == 0 ? 64 : t->alloc * 2;
		if (!mc_size_mul(t->alloc, sizeof(*t->v), &n))
			abort();
		t->v = mc_realloc(t->v, n);
	}
	t->v[t->count++] = (struct sni_entry){name, seq, ctx};
}

/* qsort order: by name, then by file order. */
static int entry_cmp(const void *a, const void *b)
{
	const struct sni_entry *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* bsearch order: a name against an entry. */
static int key_cmp(const void *key, const void *entry)
{
	return strcmp(key, ((const struct sni_entry *)entry)->name);
}

/* Sorts a table and keeps the first file's entry of each name. */
static void table_finish(struct sni_table *t)
{
	size_t out = 0;

	if (t->count == 0)
		return;
	qsort(t->v, t->count, sizeof(*t->v), entry_cmp);
	for (size_t i = 1; i < t->count; i++) {
		if (strcmp(t->v[i].name, t->v[out].name) != 0)
			t->v[++out] = t->v[i];
	}
	t->count = out + 1;
}

/* The context indexed under name, or NULL. */
static SSL_CTX *table_find(const struct sni_table *t, const char *name)
{
	const struct sni_entry *e;

	if (t->count == 0)
		return NULL;
	e = bsearch(name, t->v, t->count, sizeof(*t->v), key_cmp);
	return e != NULL ? e->ctx : NULL;
}

/* Indexes one name of a certificate; false when it is unusable. */
static bool index_name(struct sni_index *idx, const char *raw, size_t len,
		       size_t seq, SSL_CTX *ctx)
{
	char name[SNI_MAX_NAME + 1];

	if (!normalize_name(raw, len, name))
		return false;
	if (name[0] == '*')
		table_add(&idx->wild, mc_pstrdup(idx->pool, name + 2), seq,
			  ctx);
	else
		table_add(&idx->exact, mc_pstrdup(idx->pool, name), seq, ctx);
	return true;
}

/* Indexes the DNS subjectAltNames of x; returns how many were usable. */
static size_t index_sans(struct sni_index *idx, X509 *x, size_t seq,
			 SSL_CTX *ctx)
{
	GENERAL_NAMES *gens =
		X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t n = 0;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *s;

		if (g->type != GEN_DNS)
			continue;
		s = g->d.dNSName;
		if (index_name(idx, (const char *)ASN1_STRING_get0_data(s),
			       (size_t)ASN1_STRING_length(s), seq, ctx))
			n++;
	}
	GENERAL_NAMES_free(gens);
	return n;
}

/* Indexes the subject common names of x; returns how many were usable. */
static size_t index_cns(struct sni_index *idx, X509 *x, size_t seq,
			SSL_CTX *ctx)
{
	const X509_NAME *subject = X509_get_subject_name(x);
	size_t n = 0;
	int i = -1;

	while ((i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >=
	       0) {
		const ASN1_STRING *s = X509_NAME_ENTRY_get_data(
			X509_NAME_get_entry(subject, i));

		if (ASN1_STRING_type(s) != V_ASN1_BMPSTRING &&
		    ASN1_STRING_type(s) != V_ASN1_UNIVERSALSTRING &&
		    index_name(idx, (const char *)ASN1_STRING_get0_data(s),
			       (size_t)ASN1_STRING_length(s), seq, ctx))
			n++;
	}
	return n;
}

/* Fails unless path is a regular file of at most SNI_MAX_FILE bytes. */
static int check_file(const char *path, struct mc_error *err)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		mc_error_set(err, MC_ERR_PERMANENT, "cannot read %s: %s", path,
			     strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		mc_error_set(err, MC_ERR_PERMANENT, "%s is not a regular file",
			     path);
		return -1;
	}
	if (st.st_size > SNI_MAX_FILE) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "%s is larger than %d bytes", path, SNI_MAX_FILE);
		return -1;
	}
	return 0;
}

/* Loads dir/base.pem with dir/base.key into a new context and indexes
 * it under its names. */
static int load_pair(struct sni_index *idx, const struct mc_tls_settings *set,
		     const char *dir, const char *base, struct mc_error *err)
{
	char *cert = mc_asprintf("%s/%s.pem", dir, base);
	char *key = mc_asprintf("%s/%s.key", dir, base);
	struct mc_tls_settings pair = {cert, key, set->min_version};
	SSL_CTX *sctx = NULL;
	int ret = -1;

	if (access(key, F_OK) < 0 && errno == ENOENT)
		mc_error_set(err, MC_ERR_PERMANENT,
			     "certificate %s has no key file %s", cert, key);
	else if (check_file(cert, err) == 0 && check_file(key, err) == 0)
		sctx = mc_tls_server_ctx_create(&pair, err);
	if (sctx != NULL) {
		X509 *x = SSL_CTX_get0_certificate(sctx);
		size_t seq = idx->ctx_count;

		idx->ctxs[idx->ctx_count++] = sctx;
		if (index_sans(idx, x, seq, sctx) > 0 ||
		    index_cns(idx, x, seq, sctx) > 0)
			ret = 0;
		else
			mc_error_set(err, MC_ERR_PERMANENT,
				     "certificate %s has no usable DNS name",
				     cert);
	}
	free(cert);
	free(key);
	return ret;
}

/* qsort order of the file names. */
static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds a base name to a growing list, at most SNI_MAX_CERTS. */
static int add_name(char ***names, size_t *count, const char *dir,
		    const char *name, size_t len, struct mc_error *err)
{
	if (*count == SNI_MAX_CERTS) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "more than %d certificates in %s", SNI_MAX_CERTS,
			     dir);
		return -1;
	}
	if ((*count & (*count - 1)) == 0) /* 0, 1, 2, 4...: grow */
		*names = mc_realloc(*names, sizeof(**names) *
						    (*count ? *count * 2 : 1));
	(*names)[(*count)++] = mc_strndup(name, len);
	return 0;
}

/* Reads the base names of dir's *.pem files (no dot files), sorted. */
static int list_pems(const char *dir, char ***names_r, size_t *count_r,
		     struct mc_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	*names_r = NULL;
	*count_r = 0;
	if (d == NULL) {
		mc_error_set(err, MC_ERR_PERMANENT, "cannot open %s: %s", dir,
			     strerror(errno));
		return -1;
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] != '.' && len > 4 &&
		    strcmp(de->d_name + len - 4, ".pem") == 0)
			ret = add_name(names_r, count_r, dir, de->d_name,
				       len - 4, err);
	}
	closedir(d);
	if (*count_r > 0)
		qsort(*names_r, *count_r, sizeof(**names_r), str_cmp);
	return ret;
}

/* Frees what list_pems() returned. */
static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Builds an index of every pair in dir; NULL with err set. */
static struct sni_index *index_load(const struct mc_tls_settings *set,
				    const char *dir, struct mc_error *err)
{
	struct sni_index *idx;
	size_t count;
	char **names;
	int ret;

	if (list_pems(dir, &names, &count, err) < 0) {
		free_names(names, count);
		return NULL;
	}
	idx = mc_calloc(1, sizeof(*idx));
	idx->pool = mc_pool_create("tls-sni", 0);
	idx->ctxs = mc_calloc(count > 0 ? count : 1, sizeof(*idx->ctxs));
	ret = 0;
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = load_pair(idx, set, dir, names[i], err);
	free_names(names, count);
	if (ret < 0) {
		index_free(idx);
		return NULL;
	}
	table_finish(&idx->exact);
	table_finish(&idx->wild);
	return idx;
}

/* The context for a normalized host: exact, else "*.parent". */
static SSL_CTX *index_lookup(const struct sni_index *idx, const char *host)
{
	SSL_CTX *found = table_find(&idx->exact, host);
	const char *dot = strchr(host, '.');

	if (found == NULL && dot != NULL && dot[1] != '\0')
		found = table_find(&idx->wild, dot + 1);
	return found;
}

/* Servername callback of the default context (arg): switches the
 * connection to the context covering the name sent, if any. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	const char *sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct sni_holder *h = SSL_CTX_get_ex_data(arg, holder_ex_index);
	char host[SNI_MAX_NAME + 1];
	SSL_CTX *found = NULL;

	(void)alert;
	if (sent == NULL || h == NULL ||
	    !normalize_name(sent, strlen(sent), host) || host[0] == '*')
		return SSL_TLSEXT_ERR_OK;
	pthread_rwlock_rdlock(&h->lock);
	if (h->index != NULL)
		found = index_lookup(h->index, host);
	if (found != NULL)
		SSL_set_SSL_CTX(ssl, found); /* takes its own reference */
	pthread_rwlock_unlock(&h->lock);
	return SSL_TLSEXT_ERR_OK;
}

int mc_tls_sni_load(SSL_CTX *ctx, const struct mc_tls_settings *set,
		    const char *dir, struct mc_error *err)
{
	struct sni_index *idx = index_load(set, dir, err);
	struct sni_holder *h;
	struct sni_index *old;

	if (idx == NULL)
		return -1;
	h = holder_get(ctx);
	pthread_rwlock_wrlock(&h->lock);
	old = h->index;
	h->index = idx;
	pthread_rwlock_unlock(&h->lock);
	index_free(old);
	SSL_CTX_set_tlsext_servername_arg(ctx, ctx);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	return (int)idx->ctx_count;
}
