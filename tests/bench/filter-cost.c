/* tests/bench/filter-cost.c: the cost per message of each inbound filter
 * (mc-spf, mc-dkim, mc-dmarc, mc-av, mc-spamrules, mc-dnsbl, mc-greylist,
 * mc-bayes, mc-content-rules) over a generated corpus, for filters.sh.
 * "corpus DIR KEY" writes the messages, their envelopes and the DNS
 * records; "run DIR KEY OPTIONS" times every filter on every message
 * (Redis password and PostgreSQL conninfo from the environment:
 * FILTER_COST_REDIS_PASSWORD, FILTER_COST_PG). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mailcore/mc-av.h"
#include "mailcore/mc-bayes.h"
#include "mailcore/mc-content-rules.h"
#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dmarc.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-dnsbl.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-greylist.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-spamrules.h"
#include "mailcore/mc-spf.h"

#define DOMAINS	 10
#define MAX_MSGS 2000
#define RCPT	 "user1@bench.test"
#define DNSBL	 "bl1.dnsbl.test*2, bl2.dnsbl.test*2"

/* A growing byte buffer. */
struct buf {
	char *p;
	size_t n, cap;
};

/* One message of the corpus and its envelope. */
struct msg {
	char *data;
	size_t len;
	int domain;	/* sender domain dN.test */
	char ip[32];	/* the outside client */
	char sender[64];
	bool signed_;
	const struct mc_dkim_sig *sigs; /* from the reference pass */
	size_t sig_count;
	bool have_sigs;
};

/* A reader over a message in memory. */
struct mem {
	const char *p;
	size_t n;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static const char *const words[] = {
	"meeting", "project", "report", "schedule", "budget", "review",
	"customer", "invoice", "delivery", "update", "team", "quarter",
	"release", "server", "backup", "contract", "office", "travel",
	"question", "answer", "draft", "version", "planning", "notes",
	"please", "thanks", "regards", "attached", "tomorrow", "monday",
	"friday", "morning", "afternoon", "agenda", "minutes", "figures",
	"market", "product", "support", "ticket", "change", "request",
	"the", "and", "for", "with", "this", "that", "from", "about",
	"will", "have", "would", "could", "should", "there", "their",
	"when", "what", "which", "also", "into", "over", "after", "before",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static const char *const spamwords[] = {
	"winner", "prize", "offer", "cheap", "discount", "casino", "bonus",
	"credit", "loan", "urgent", "click", "unsubscribe", "free", "deal",
	"limited", "exclusive", "investment", "guaranteed", "pills", "cash",
};
#define NSPAM (sizeof(spamwords) / sizeof(spamwords[0]))

/* Prints a failure and exits 1. */
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "filter-cost: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* xorshift64*: a deterministic corpus on every run. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Appends n bytes. */
static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = mc_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Appends formatted text. */
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Monotonic time in microseconds. */
static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* mc_*_read_fn over struct mem. */
static ssize_t mem_read(void *ctx, void *out, size_t len, uint64_t off)
{
	const struct mem *m = ctx;
	if (off >= m->n)
		return 0;
	size_t k = m->n - off < len ? m->n - off : len;
	memcpy(out, m->p + off, k);
	return (ssize_t)k;
}

/* Appends text lines of random words (CRLF, about 72 columns) until
 * bytes were written; html wraps paragraphs in <p>. */
static void add_text(struct buf *b, size_t bytes, bool html, bool spammy)
{
	size_t start = b->n, col = 0;
	if (html)
		buf_printf(b, "<p>");
	while (b->n - start < bytes) {
		const char *w = spammy && rnd() % 3 == 0
					? spamwords[rnd() % NSPAM]
					: words[rnd() % NWORDS];
		if (rnd() % 97 == 0)
			w = "https://www.example.com/docs/page";
		buf_printf(b, "%s%s", col ? " " : "", w);
		col += strlen(w) + 1;
		if (col > 68) {
			buf_printf(b, html && rnd() % 6 == 0 ? "</p>\r\n<p>"
							     : "\r\n");
			col = 0;
		}
	}
	buf_printf(b, html ? "</p>\r\n" : "\r\n");
}

/* Appends the base64 lines (76 columns, CRLF) of a PDF-like file. */
static void add_pdf(struct buf *b, size_t bytes)
{
	struct buf raw = {0};
	buf_printf(&raw, "%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R"
			 " >> endobj\n3 0 obj << /Length %zu >>\nstream\n",
		   bytes);
	while (raw.n < bytes) {
		unsigned char c = (unsigned char)(rnd() & 0xff);
		buf_add(&raw, &c, 1);
	}
	buf_printf(&raw, "\nendstream endobj\ntrailer << /Root 1 0 R >>\n"
			 "%%%%EOF\n");
	unsigned char line[80];
	for (size_t off = 0; off < raw.n; off += 57) {
		size_t k = raw.n - off < 57 ? raw.n - off : 57;
		int n = EVP_EncodeBlock(line, (unsigned char *)raw.p + off,
					(int)k);
		buf_add(b, line, (size_t)n);
		buf_add(b, "\r\n", 2);
	}
	free(raw.p);
}

/* The header block of message i from domain d. */
static void add_headers(struct buf *b, int i, int d, const char *ctype)
{
	buf_printf(b, "From: \"Sender %d\" <user%d@d%d.test>\r\n", i, i % 7, d);
	buf_printf(b, "To: <" RCPT ">\r\n");
	buf_printf(b, "Subject: %s %s %s #%d\r\n", words[rnd() % NWORDS],
		   words[rnd() % NWORDS], words[rnd() % NWORDS], i);
	buf_printf(b, "Date: Wed, 02 Dec 2026 10:%02d:%02d +0000\r\n",
		   i / 60 % 60, i % 60);
	buf_printf(b, "Message-ID: <bench-%d@d%d.test>\r\n", i, d);
	buf_printf(b, "MIME-Version: 1.0\r\nContent-Type: %s\r\n", ctype);
}

/* The body of message i (kind i % 4: plain text, text + HTML
 * alternative, text + PDF attachment, HTML only) of about size bytes. */
static void add_body(struct buf *b, int i, int d, size_t size)
{
	int kind = i % 4;
	static const char *const types[] = {
		"text/plain; charset=utf-8",
		"multipart/alternative; boundary=\"=alt\"",
		"multipart/mixed; boundary=\"=mix\"",
		"text/html; charset=utf-8",
	};
	add_headers(b, i, d, types[kind]);
	buf_printf(b, "\r\n");
	if (kind == 0 || kind == 3) {
		add_text(b, size, kind == 3, false);
		return;
	}
	const char *bd = kind == 1 ? "=alt" : "=mix";
	buf_printf(b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		   bd);
	add_text(b, kind == 1 ? size / 3 : 1024, false, false);
	if (kind == 1) {
		buf_printf(b, "--%s\r\nContent-Type: text/html; "
			      "charset=utf-8\r\n\r\n<html><body>\r\n", bd);
		add_text(b, size * 2 / 3, true, false);
		buf_printf(b, "</body></html>\r\n");
	} else {
		buf_printf(b, "--%s\r\nContent-Type: application/pdf; "
			      "name=\"report-%d.pdf\"\r\nContent-Disposition:"
			      " attachment; filename=\"report-%d.pdf\"\r\n"
			      "Content-Transfer-Encoding: base64\r\n\r\n",
			   bd, i, i);
		add_pdf(b, size > 2048 ? (size - 1024) * 3 / 4 : 512);
	}
	buf_printf(b, "--%s--\r\n", bd);
}

/* Reads a whole file (NUL-terminated); NULL when it cannot. */
static char *slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = {0};
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	if (len_r)
		*len_r = b.n;
	return b.p ? b.p : mc_strdup("");
}

/* The base64 DER SubjectPublicKeyInfo (the DKIM p=) of a PEM key. */
static char *public_b64(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL)
		die("cannot read the DKIM key");
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	char *out = mc_malloc((size_t)n * 2 + 4);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	return out;
}

/* Calls fn(ctx, name, type, value) for every record of the test zones:
 * SPF with an include, DKIM keys, DMARC policies, DNSBL listings. */
static void each_record(const char *pub,
			void (*fn)(void *, const char *, const char *,
				   const char *),
			void *ctx)
{
	char name[128], val[1024];
	for (int d = 0; d < DOMAINS; d++) {
		snprintf(name, sizeof(name), "d%d.test", d);
		fn(ctx, name, "TXT",
		   "v=spf1 ip4:198.51.100.0/24 include:_spf.dnsbl.test -all");
		fn(ctx, name, "A", "198.51.100.1");
		snprintf(name, sizeof(name), "_dmarc.d%d.test", d);
		fn(ctx, name, "TXT", "v=DMARC1; p=none; rua=mailto:r@x.test");
		snprintf(name, sizeof(name), "sel._domainkey.d%d.test", d);
		snprintf(val, sizeof(val), "v=DKIM1; k=rsa; p=%s", pub);
		fn(ctx, name, "TXT", val);
	}
	fn(ctx, "_spf.dnsbl.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all");
	fn(ctx, "200.2.0.192.bl1.dnsbl.test", "A", "127.0.0.2");
	fn(ctx, "200.2.0.192.bl2.dnsbl.test", "A", "127.0.0.2");
}

/* Writes one record as a zone-file line (TXT split in 200-byte strings). */
static void zone_line(void *ctx, const char *name, const char *type,
		      const char *val)
{
	FILE *f = ctx;
	fprintf(f, "%s. %s ", name, type);
	if (strcmp(type, "TXT") != 0) {
		fprintf(f, "%s\n", val);
		return;
	}
	for (size_t off = 0, n = strlen(val); off < n; off += 200)
		fprintf(f, "%s\"%.200s\"", off ? " " : "", val + off);
	fprintf(f, "\n");
}

/* Adds one record to a memory DNS. */
static void memory_add(void *ctx, const char *name, const char *type,
		       const char *val)
{
	if (mc_dns_memory_add(ctx, name, type, val) != 0)
		die("memory DNS refused %s %s", name, type);
}

/* The envelope of message i. */
static void envelope(struct msg *m, int i)
{
	m->domain = i % DOMAINS;
	snprintf(m->ip, sizeof(m->ip), "192.0.2.%d", 10 + i % 50);
	snprintf(m->sender, sizeof(m->sender), "user%d@d%d.test", i % 7,
		 m->domain);
	m->signed_ = i % 2 == 0;
}

/* Signs b's message for domain d (DKIM-Signature put in front). */
static void sign(struct mc_dkim *dkim, struct buf *b, int d, const char *pem)
{
	char dom[32];
	snprintf(dom, sizeof(dom), "d%d.test", d);
	struct mc_dkim_key key = {dom, "sel", "rsa-2048", pem};
	struct mem m = {b->p, b->n};
	struct mc_pool *pool = mc_pool_create("sign", 0);
	struct mc_error err = {0};
	const char *hdrs;
	if (mc_dkim_sign(dkim, pool, &key, 1, mem_read, &m, &hdrs, &err) != 0)
		die("mc_dkim_sign: %s", err.msg);
	struct buf out = {0};
	buf_add(&out, hdrs, strlen(hdrs));
	buf_add(&out, b->p, b->n);
	free(b->p);
	*b = out;
	mc_pool_destroy(&pool);
}

/* corpus DIR KEY [N]: the messages (msg-NNN.eml), envelopes (manifest:
 * "file ip sender") and records.txt (zone-file lines). */
static int cmd_corpus(const char *dir, const char *keyfile, int n)
{
	char *pem = slurp(keyfile, NULL);
	if (pem == NULL)
		die("%s: %s", keyfile, strerror(errno));
	struct mc_error err = {0};
	struct mc_dkim *dkim = mc_dkim_create(NULL, &err);
	if (dkim == NULL)
		die("mc_dkim_create: %s", err.msg);
	char path[4096];
	snprintf(path, sizeof(path), "%s/manifest", dir);
	FILE *man = fopen(path, "w");
	if (man == NULL)
		die("%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		struct msg m;
		envelope(&m, i);
		struct buf b = {0};
		double u = (double)(rnd() % 10000) / 10000.0;
		add_body(&b, i, m.domain, (size_t)(2048 * pow(24.0, u)));
		if (m.signed_)
			sign(dkim, &b, m.domain, pem);
		snprintf(path, sizeof(path), "%s/msg-%03d.eml", dir, i);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(b.p, 1, b.n, f) != b.n || fclose(f))
			die("%s: cannot write", path);
		fprintf(man, "msg-%03d.eml %s %s\n", i, m.ip, m.sender);
		free(b.p);
	}
	fclose(man);
	snprintf(path, sizeof(path), "%s/records.txt", dir);
	FILE *z = fopen(path, "w");
	char *pub = public_b64(pem);
	each_record(pub, zone_line, z);
	fclose(z);
	free(pub);
	free(pem);
	mc_dkim_destroy(&dkim);
	return 0;
}

/* ---- run ---- */

/* The options of "run". */
struct opts {
	const char *dir, *key, *upstream, *redis, *pg, *rules, *clamav;
	long long tenant;
	int passes;
};

/* The corpus and the shared objects every timed filter uses. */
struct world {
	struct opts o;
	struct msg msgs[MAX_MSGS];
	int n;
	struct mc_dns *mem_dns, *unbound;
	struct mc_pool *keep; /* the reference DKIM results */
};

/* The timings of one row. */
struct row {
	const char *name, *note;
	double *us;
	size_t n, cap;
};

/* Records one timing. */
static void row_add(struct row *r, double us)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->us = mc_realloc(r->us, r->cap * sizeof(double));
	}
	r->us[r->n++] = us;
}

/* qsort order of doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int passes = 1; /* every row holds passes runs of the corpus */

/* The median of the n first timings of r (sorts a copy). */
static double first_median(const struct row *r, size_t n)
{
	double *c = mc_malloc(n * sizeof(double));
	memcpy(c, r->us, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp_double);
	double m = c[n / 2];
	free(c);
	return m;
}

/* Prints "name TAB median TAB p95 TAB mean TAB first pass median TAB
 * count TAB note". */
static void row_print(struct row *r)
{
	if (r->n == 0)
		die("%s: no timings", r->name);
	size_t first = r->n / (size_t)passes ? r->n / (size_t)passes : 1;
	double m1 = first_median(r, first);
	qsort(r->us, r->n, sizeof(double), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < r->n; i++)
		sum += r->us[i];
	size_t p95 = (size_t)ceil(r->n * 0.95) - 1;
	printf("%s\t%.1f\t%.1f\t%.1f\t%.1f\t%zu\t%s\n", r->name,
	       r->us[r->n / 2], r->us[p95], sum / r->n, m1, r->n,
	       r->note ? r->note : "");
	fflush(stdout);
	free(r->us);
}

/* Loads the corpus listed in DIR/manifest. */
static void load_corpus(struct world *w)
{
	char path[4096], file[256], ip[64], sender[128];
	snprintf(path, sizeof(path), "%s/manifest", w->o.dir);
	FILE *man = fopen(path, "r");
	if (man == NULL)
		die("%s: %s", path, strerror(errno));
	while (w->n < MAX_MSGS &&
	       fscanf(man, "%255s %63s %127s", file, ip, sender) == 3) {
		struct msg *m = &w->msgs[w->n];
		int i = atoi(file + 4);
		envelope(m, i);
		snprintf(path, sizeof(path), "%s/%s", w->o.dir, file);
		m->data = slurp(path, &m->len);
		if (m->data == NULL)
			die("%s: %s", path, strerror(errno));
		w->n++;
	}
	fclose(man);
	if (w->n == 0)
		die("empty corpus in %s", w->o.dir);
}

/* Makes the memory DNS and the libunbound one (forwarding to upstream). */
static void make_dns(struct world *w)
{
	char *pem = slurp(w->o.key, NULL);
	if (pem == NULL)
		die("%s: %s", w->o.key, strerror(errno));
	char *pub = public_b64(pem);
	w->mem_dns = mc_dns_memory_create();
	each_record(pub, memory_add, w->mem_dns);
	free(pub);
	free(pem);
	struct mc_error err = {0};
	struct mc_dns_settings set = {.upstream = w->o.upstream,
				      .timeout_ms = 3000};
	w->unbound = mc_dns_create(&set, &err);
	if (w->unbound == NULL)
		die("mc_dns_create(%s): %s", w->o.upstream, err.msg);
}

/* Times SPF checks of every message through dns. */
static void bench_spf(struct world *w, struct mc_dns *dns, const char *name)
{
	struct mc_error err = {0};
	struct mc_spf_settings set = {.dns = dns, .receiver = "mx.bench.test"};
	struct mc_spf *spf = mc_spf_create(&set, &err);
	if (spf == NULL)
		die("mc_spf_create: %s", err.msg);
	struct row r = {.name = name};
	struct mc_pool *pool = mc_pool_create("spf", 0);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mc_spf_answer a;
			char helo[64];
			snprintf(helo, sizeof(helo), "mx.d%d.test", m->domain);
			double t = now_us();
			int rc = mc_spf_check(spf, pool, m->ip, helo,
					      m->sender, &a, &err);
			row_add(&r, now_us() - t);
			if (rc != 1 || a.result != MC_SPF_PASS)
				die("%s: %s from %s: %s %s", name, m->sender,
				    m->ip, rc == 1 ? mc_spf_result_name(
							     a.result)
						   : err.msg,
				    rc == 1 && a.problem ? a.problem : "");
			mc_pool_clear(pool);
		}
	}
	r.note = "pass; an ip4 + include: (2 TXT lookups)";
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_spf_destroy(&spf);
}

/* Checks one message's DKIM results: pass when signed, none if not. */
static void dkim_expect(const char *name, const struct msg *m,
			const struct mc_dkim_sig *s, size_t n)
{
	if (!m->signed_ && n == 0)
		return;
	if (m->signed_ && n == 1 && s[0].result == MC_DKIM_PASS)
		return;
	die("%s: %s: %zu signatures, %s (%s)", name, m->sender, n,
	    n ? mc_dkim_result_name(s[0].result) : "-", n ? s[0].reason : "");
}

/* Times DKIM verification of every message through dns (signed ones
 * and unsigned ones in separate rows); keeps the results of the first
 * pass for DMARC and the spam score. */
static void bench_dkim(struct world *w, struct mc_dns *dns, const char *name,
		       const char *name_unsigned)
{
	struct mc_error err = {0};
	struct mc_dkim *dkim = mc_dkim_create(dns, &err);
	if (dkim == NULL)
		die("mc_dkim_create: %s", err.msg);
	struct row rs = {.name = name}, ru = {.name = name_unsigned};
	struct mc_pool *pool = mc_pool_create("dkim", 0);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mem rd = {m->data, m->len};
			const struct mc_dkim_sig *s;
			size_t n;
			struct mc_pool *use = m->have_sigs ? pool : w->keep;
			double t = now_us();
			int rc = mc_dkim_verify(dkim, use, mem_read, &rd, &s,
						&n, &err);
			row_add(m->signed_ ? &rs : &ru, now_us() - t);
			if (rc != 0)
				die("%s: %s", name, err.msg);
			dkim_expect(name, m, s, n);
			if (!m->have_sigs) {
				m->sigs = s;
				m->sig_count = n;
				m->have_sigs = true;
			}
			mc_pool_clear(pool);
		}
	}
	rs.note = "rsa-2048 relaxed/relaxed, 1 key lookup";
	ru.note = "no DKIM-Signature: the message is still read";
	row_print(&rs);
	row_print(&ru);
	mc_pool_destroy(&pool);
	mc_dkim_destroy(&dkim);
}

/* Times DMARC evaluation (discovery through the memory DNS, the SPF and
 * DKIM results of the reference pass). */
static void bench_dmarc(struct world *w)
{
	struct mc_error err = {0};
	struct mc_dmarc_settings set = {0};
	struct mc_dmarc *dm = mc_dmarc_create(&set, w->mem_dns, &err);
	if (dm == NULL)
		die("mc_dmarc_create: %s", err.msg);
	struct row r = {.name = "dmarc (memory dns)"};
	struct mc_pool *pool = mc_pool_create("dmarc", 0);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			char dom[32];
			snprintf(dom, sizeof(dom), "d%d.test", m->domain);
			struct mc_dmarc_input in = {
				.from_domain = dom, .spf_pass = true,
				.spf_domain = dom, .dkim = m->sigs,
				.dkim_count = m->sig_count};
			struct mc_dmarc_verdict v;
			double t = now_us();
			int rc = mc_dmarc_check(dm, pool, &in, &v, &err);
			row_add(&r, now_us() - t);
			if (rc != 1 || v.result != MC_DMARC_PASS)
				die("dmarc: %s: %s", dom,
				    rc < 0 ? err.msg
					   : mc_dmarc_result_name(v.result));
			mc_pool_clear(pool);
		}
	}
	r.note = "pass (aligned SPF, and DKIM when signed), p=none";
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_dmarc_destroy(&dm);
}

/* Times the libclamav scan of every message. */
static void bench_av(struct world *w)
{
	struct mc_error err = {0};
	struct mc_av_settings set = {.database_dir = w->o.clamav,
				     .scan_archives = true};
	double t0 = now_us();
	struct mc_av *av = mc_av_clamav_create(&set, &err);
	if (av == NULL)
		die("mc_av_clamav_create(%s): %s", w->o.clamav, err.msg);
	fprintf(stderr, "filter-cost: libclamav engine loaded in %.0f ms\n",
		(now_us() - t0) / 1000);
	struct row r = {.name = "av scan (libclamav)"};
	struct mc_pool *pool = mc_pool_create("av", 0);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			const char *virus = NULL;
			double t = now_us();
			int rc = mc_av_scan(av, m->data, m->len, &virus, pool,
					    &err);
			row_add(&r, now_us() - t);
			if (rc != 0)
				die("av scan: %s", rc < 0 ? err.msg : virus);
			mc_pool_clear(pool);
		}
	}
	r.note = "3 test signatures (tests/fixtures/clamav), clean";
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_av_destroy(&av);
}

/* Times the rule-based spam score (rules file plus built-in checks,
 * the SPF / DKIM / DMARC inputs of a passing message). */
static void bench_spamrules(struct world *w)
{
	struct mc_error err = {0};
	struct mc_spamrules_settings set;
	mc_spamrules_settings_init(&set);
	set.rules_file = w->o.rules;
	struct mc_spamrules *sr = mc_spamrules_create(&set, &err);
	if (sr == NULL)
		die("mc_spamrules_create(%s): %s", w->o.rules, err.msg);
	struct row r = {.name = "spam rules"};
	struct mc_pool *pool = mc_pool_create("spam", 0);
	double max = -1e9;
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mc_spamrules_inputs in = {
				.spf = MC_SPF_PASS, .dmarc = MC_DMARC_PASS,
				.dkim = m->sig_count ? MC_DKIM_PASS
						     : MC_DKIM_NONE};
			struct mc_spamrules_result res;
			double t = now_us();
			int rc = mc_spamrules_scan_buffer(sr, pool, m->data,
							  m->len, &in, &res,
							  &err);
			row_add(&r, now_us() - t);
			if (rc != 0)
				die("spam rules: %s", err.msg);
			if (res.score > max)
				max = res.score;
			mc_pool_clear(pool);
		}
	}
	static char note[128];
	snprintf(note, sizeof(note), "%zu rules + built-in checks; max score "
				     "%.1f",
		 mc_spamrules_rule_count(sr), max);
	r.note = note;
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_spamrules_destroy(&sr);
}

/* Times the DNSBL check (2 zones) of every client through dns. */
static void bench_dnsbl(struct world *w, struct mc_dns *dns, const char *name)
{
	struct mc_error err = {0};
	struct mc_dnsbl_settings set = {.zones = DNSBL, .threshold = 3};
	struct mc_dnsbl *bl = mc_dnsbl_create(&set, &err);
	if (bl == NULL)
		die("mc_dnsbl_create: %s", err.msg);
	struct row r = {.name = name};
	struct mc_pool *pool = mc_pool_create("dnsbl", 0);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			const struct mc_dnsbl_result *res;
			double t = now_us();
			int rc = mc_dnsbl_check(bl, dns, pool, w->msgs[i].ip,
						&res, &err);
			row_add(&r, now_us() - t);
			if (rc != 0 || res->score != 0)
				die("%s: %s: rc %d", name, w->msgs[i].ip, rc);
			for (size_t k = 0; k < res->hit_count; k++)
				if (res->hits[k].status == MC_DNSBL_ERROR)
					die("%s: %s: %s", name, res->hits[k].zone,
					    res->hits[k].error);
			mc_pool_clear(pool);
		}
	}
	r.note = "2 zones, not listed (NXDOMAIN), 50 clients";
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_dnsbl_destroy(&bl);
}

/* A connected mc_redis for "host:port". */
static struct mc_redis *redis_open(const char *hostport)
{
	static char host[256];
	snprintf(host, sizeof(host), "%s", hostport);
	char *colon = strrchr(host, ':');
	if (colon == NULL)
		die("--redis wants host:port");
	*colon = '\0';
	struct mc_redis_settings set = {
		.host = host, .port = (unsigned)atoi(colon + 1),
		.password = getenv("FILTER_COST_REDIS_PASSWORD")};
	struct mc_redis *r = mc_redis_create(&set);
	struct mc_error err = {0};
	if (mc_redis_connect(r, &err) != 0)
		die("redis %s: %s", hostport, err.msg);
	return r;
}

/* Times greylisting checks in Redis: one new triplet per message on the
 * first pass (deferred), retries (still early) after. */
static void bench_greylist(struct world *w)
{
	struct mc_error err = {0};
	struct mc_greylist_settings set = {.hash_secret = "bench"};
	struct mc_greylist *gl = mc_greylist_create(&set, &err);
	if (gl == NULL)
		die("mc_greylist_create: %s", err.msg);
	struct mc_redis *redis = redis_open(w->o.redis);
	struct row r = {.name = "greylist check (redis)"};
	time_t now = time(NULL);
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mc_greylist_result res;
			char rcpt[64];
			snprintf(rcpt, sizeof(rcpt), "u%d-%ld@bench.test", i,
				 (long)now);
			double t = now_us();
			int rc = mc_greylist_check(gl, redis, m->ip, m->sender,
						   rcpt, now, &res, &err);
			row_add(&r, now_us() - t);
			if (rc != 0)
				die("greylist: rc %d %s", rc, err.msg);
		}
	}
	r.note = "one Lua script per check: new, then early retries";
	row_print(&r);
	mc_redis_destroy(&redis);
	mc_greylist_destroy(&gl);
}

/* A synthetic training message (spam or ham, number i) into b. */
static void training_msg(struct buf *b, bool spam, int i)
{
	b->n = 0;
	buf_printf(b, "From: <x%d@%s.test>\r\nSubject: %s %s\r\n\r\n", i,
		   spam ? "promo" : "corp", spam ? spamwords[i % NSPAM]
						 : words[i % NWORDS],
		   spam ? spamwords[(i * 7) % NSPAM] : words[(i * 5) % NWORDS]);
	add_text(b, 600 + (size_t)(rnd() % 1200), false, spam);
}

/* The lower-case hex SHA-256 of a buffer. */
static void sha256_hex(const struct buf *b, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)b->p, b->n, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(out + i * 2, "%02x", md[i]);
}

/* Learns 200 spam and 200 ham synthetic messages for the tenant. */
static void bayes_train(struct world *w, struct mc_bayes *bayes,
			struct mc_pg *pg)
{
	struct buf b = {0};
	struct mc_pool *pool = mc_pool_create("learn", 0);
	struct mc_error err = {0};
	double t0 = now_us();
	for (int i = 0; i < 400; i++) {
		bool spam = i % 2 == 0;
		char sha[65];
		training_msg(&b, spam, i);
		sha256_hex(&b, sha);
		struct mem rd = {b.p, b.n};
		if (mc_bayes_learn(bayes, pg, pool, w->o.tenant, sha, mem_read,
				   &rd, spam, &err) < 0)
			die("mc_bayes_learn: %s", err.msg);
		mc_pool_clear(pool);
	}
	fprintf(stderr, "filter-cost: learned 200 spam + 200 ham in %.1f s\n",
		(now_us() - t0) / 1e6);
	mc_pool_destroy(&pool);
	free(b.p);
}

/* Trains Bayes in PostgreSQL, then times classifying every message. */
static void bench_bayes(struct world *w)
{
	struct mc_pg_settings ps = {.conninfo = w->o.pg};
	struct mc_pg *pg = mc_pg_create(&ps);
	struct mc_error err = {0};
	if (mc_pg_connect(pg, &err) != 0)
		die("postgresql: %s", err.msg);
	struct mc_bayes *bayes = mc_bayes_create(NULL);
	bayes_train(w, bayes, pg);
	struct row r = {.name = "bayes classify (postgresql)"};
	struct mc_pool *pool = mc_pool_create("bayes", 0);
	double sum = 0;
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mem rd = {m->data, m->len};
			struct mc_bayes_result res;
			double t = now_us();
			int rc = mc_bayes_classify(bayes, pg, pool,
						   w->o.tenant, mem_read, &rd,
						   &res, &err);
			row_add(&r, now_us() - t);
			if (rc != 0 || !res.active)
				die("bayes: %s", rc ? err.msg : "not active");
			sum += res.tokens;
			mc_pool_clear(pool);
		}
	}
	static char note[128];
	snprintf(note, sizeof(note), "trained 200/200; %.0f tokens/msg",
		 sum / r.n);
	r.note = note;
	row_print(&r);
	mc_pool_destroy(&pool);
	mc_bayes_destroy(&bayes);
	mc_pg_destroy(&pg);
}

/* Ten content rules of the kinds a domain sets. */
static const char content_json[] =
	"[{\"name\":\"invoice tag\",\"conditions\":[{\"field\":\"subject\","
	"\"op\":\"contains\",\"value\":\"invoice\"}],\"action\":{\"type\":"
	"\"tag\",\"text\":\"[INVOICE]\"}},"
	"{\"name\":\"no exe\",\"conditions\":[{\"field\":\"attachment_name\","
	"\"op\":\"ends_with\",\"value\":\".exe\"}],\"action\":{\"type\":"
	"\"reject\"}},"
	"{\"name\":\"big\",\"conditions\":[{\"field\":\"size\",\"op\":\"gt\","
	"\"value\":\"20M\"}],\"action\":{\"type\":\"hold\"}},"
	"{\"name\":\"blocked sender\",\"conditions\":[{\"field\":\"sender\","
	"\"op\":\"ends_with\",\"value\":\"@blocked.test\"}],\"action\":"
	"{\"type\":\"reject\"}},"
	"{\"name\":\"wire\",\"match\":\"all\",\"conditions\":[{\"field\":"
	"\"body\",\"op\":\"matches\",\"value\":\"wire\\\\s+transfer|iban\\\\s*"
	"[A-Z]{2}\\\\d{2}\"},{\"field\":\"header:Reply-To\",\"op\":\"exists\"}"
	"],\"action\":{\"type\":\"quarantine\"}},"
	"{\"name\":\"ceo\",\"conditions\":[{\"field\":\"header:From\",\"op\":"
	"\"matches\",\"value\":\"\\\\bceo\\\\b\"}],\"action\":{\"type\":"
	"\"tag\",\"text\":\"[EXTERNAL]\"}},"
	"{\"name\":\"archive bcc\",\"conditions\":[{\"field\":\"recipient\","
	"\"op\":\"equals\",\"value\":\"legal@bench.test\"}],\"action\":"
	"{\"type\":\"bcc\",\"address\":\"archive@bench.test\"}},"
	"{\"name\":\"big pdf\",\"conditions\":[{\"field\":\"attachment_type\","
	"\"op\":\"equals\",\"value\":\"application/pdf\"},{\"field\":"
	"\"attachment_size\",\"op\":\"gt\",\"value\":\"10M\"}],\"action\":"
	"{\"type\":\"quarantine\"}},"
	"{\"name\":\"words\",\"match\":\"any\",\"conditions\":[{\"field\":"
	"\"body\",\"op\":\"contains\",\"value\":\"confidential\"},{\"field\":"
	"\"subject\",\"op\":\"starts_with\",\"value\":\"URGENT\"}],\"action\":"
	"{\"type\":\"tag\",\"text\":\"[CHECK]\"}},"
	"{\"name\":\"mailer\",\"conditions\":[{\"any\":[{\"field\":"
	"\"header:X-Mailer\",\"op\":\"contains\",\"value\":\"bulk\"},{\"field\""
	":\"header:List-Id\",\"op\":\"exists\"}]}],\"action\":{\"type\":"
	"\"deliver\"}}]";

/* Times content rules: summarising the message (facts) plus evaluating
 * the ten rules, and the evaluation alone. */
static void bench_content(struct world *w)
{
	struct mc_pool *rpool = mc_pool_create("rules", 0);
	json_error_t jerr;
	json_t *js = json_loads(content_json, 0, &jerr);
	struct mc_error err = {0};
	struct mc_content_rules *rules;
	if (js == NULL)
		die("content rules JSON: %s", jerr.text);
	if (mc_content_rules_compile(js, rpool, &rules, &err) != 0)
		die("mc_content_rules_compile: %s", err.msg);
	json_decref(js);
	if (mc_content_rules_count(rules) != 10)
		die("content rules: %zu compiled", mc_content_rules_count(rules));
	struct row r = {.name = "content rules (facts + 10 rules)"};
	struct row e = {.name = "  of which evaluating the rules"};
	struct mc_pool *pool = mc_pool_create("content", 0);
	const char *rcpts[] = {RCPT};
	for (int p = 0; p < w->o.passes; p++) {
		for (int i = 0; i < w->n; i++) {
			struct msg *m = &w->msgs[i];
			struct mem rd = {m->data, m->len};
			const struct mc_content_facts *facts;
			struct mc_content_verdict v;
			double t = now_us();
			if (mc_content_facts_extract(pool, mem_read, &rd,
						     m->sender, rcpts, 1, NULL,
						     &facts, &err) != 0)
				die("content facts: %s", err.msg);
			double t1 = now_us();
			mc_content_rules_eval(rules, facts, &v);
			double t2 = now_us();
			row_add(&r, t2 - t);
			row_add(&e, t2 - t1);
			if (v.action != MC_CONTENT_NONE || v.regex_errors)
				die("content rules decided %s",
				    mc_content_action_name(v.action));
			mc_pool_clear(pool);
		}
	}
	r.note = "no rule decides";
	row_print(&r);
	row_print(&e);
	mc_pool_destroy(&pool);
	mc_pool_destroy(&rpool);
}

/* Prints the corpus line (count, sizes, kinds). */
static void corpus_summary(const struct world *w)
{
	size_t total = 0, min = SIZE_MAX, max = 0, sig = 0;
	for (int i = 0; i < w->n; i++) {
		size_t l = w->msgs[i].len;
		total += l;
		min = l < min ? l : min;
		max = l > max ? l : max;
		sig += w->msgs[i].signed_;
	}
	printf("#corpus\t%d\t%.1f\t%.1f\t%.1f\t%zu\n", w->n, min / 1024.0,
	       total / 1024.0 / w->n, max / 1024.0, sig);
}

/* Parses "run" options. */
static void parse_opts(struct opts *o, int argc, char **argv)
{
	o->passes = 3;
	o->pg = getenv("FILTER_COST_PG");
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (strcmp(k, "--upstream") == 0)
			o->upstream = v;
		else if (strcmp(k, "--redis") == 0)
			o->redis = v;
		else if (strcmp(k, "--tenant") == 0)
			o->tenant = atoll(v);
		else if (strcmp(k, "--rules") == 0)
			o->rules = v;
		else if (strcmp(k, "--clamav") == 0)
			o->clamav = v;
		else if (strcmp(k, "--passes") == 0)
			o->passes = atoi(v);
		else
			die("unknown option %s", k);
	}
	if (!o->upstream || !o->redis || !o->rules || !o->clamav ||
	    o->passes < 1)
		die("run needs --upstream --redis --rules --clamav");
}

/* run DIR KEY OPTIONS: every row, in the order of the report. */
static int cmd_run(const char *dir, const char *key, int argc, char **argv)
{
	static struct world w;
	w.o.dir = dir;
	w.o.key = key;
	parse_opts(&w.o, argc, argv);
	passes = w.o.passes;
	load_corpus(&w);
	make_dns(&w);
	w.keep = mc_pool_create("keep", 0);
	corpus_summary(&w);
	bench_spf(&w, w.mem_dns, "spf (memory dns)");
	bench_spf(&w, w.unbound, "spf (unbound)");
	bench_dkim(&w, w.mem_dns, "dkim verify, signed (memory dns)",
		   "dkim verify, unsigned");
	bench_dkim(&w, w.unbound, "dkim verify, signed (unbound)",
		   "dkim verify, unsigned (unbound)");
	bench_dmarc(&w);
	bench_av(&w);
	bench_spamrules(&w);
	bench_dnsbl(&w, w.mem_dns, "dnsbl, 2 zones (memory dns)");
	bench_dnsbl(&w, w.unbound, "dnsbl, 2 zones (unbound)");
	bench_greylist(&w);
	if (w.o.pg && w.o.tenant > 0)
		bench_bayes(&w);
	bench_content(&w);
	for (int i = 0; i < w.n; i++)
		free(w.msgs[i].data);
	mc_pool_destroy(&w.keep);
	mc_dns_destroy(&w.mem_dns);
	mc_dns_destroy(&w.unbound);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "corpus") == 0)
		return cmd_corpus(argv[2], argv[3],
				  argc > 4 ? atoi(argv[4]) : 200);
	if (argc >= 4 && strcmp(argv[1], "run") == 0)
		return cmd_run(argv[2], argv[3], argc - 4, argv + 4);
	fprintf(stderr, "usage: filter-cost corpus DIR KEY [N]\n"
			"       filter-cost run DIR KEY --upstream H:P --redis"
			" H:P [--tenant ID] --rules FILE"
			" --clamav DIR [--passes N]\n");
	return 2;
}
