/* transfer: on a delivery thread, one batch over SMTP. Finds the hosts
 * (the relay, or the MX records with fallback to the domain's address;
 * a null MX or a missing domain fails at once), applies MTA-STS and DANE
 * to the TLS required of each, signs each message with its DKIM keys and
 * sends the batch's messages over one connection, trying the next
 * address or host while recipients are left undecided. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliverd.h"
#include "mailcore/mc-smtp-server.h"

/* One message being sent: its content and what goes in front. */
struct body {
	struct mc_blob_reader *reader;
	const char *prefix; /* DKIM-Signature fields */
	bool eightbit;
	bool ready; /* opened and signed */
};

/* A host to try and what its TLS must be. */
struct target {
	const char *host;
	int port;
	enum mc_smtp_tls_mode tls;
	const struct mc_dns_tlsa *tlsa;
	size_t tlsa_count;
};

/* What the batch's last failure was, for the undecided ones. */
struct attempt {
	struct mc_smtp_status last;
	char where[320]; /* "mx.example[127.0.0.2]" */
	bool peer_dsn;	 /* the current server has the DSN extension */
};

void plan_set(struct job_plan *p, size_t i, enum mc_queue_outcome o,
	      const char *status, const char *error, const char *mta)
{
	p->results[i] = (struct mc_queue_result){
		.address = p->job->rcpts[i].address,
		.outcome = o,
		.status = status,
		.error = error,
		.remote_mta = mta,
	};
}

/* True when recipient i of p has its outcome. */
static bool decided(const struct job_plan *p, size_t i)
{
	return p->results[i].address != NULL;
}

/* True when some recipient of the batch is undecided. */
static bool pending(const struct batch *b)
{
	for (size_t j = 0; j < b->count; j++) {
		for (size_t i = 0; i < b->plans[j].job->rcpts_count; i++) {
			if (!decided(&b->plans[j], i))
				return true;
		}
	}
	return false;
}

/* Decides every undecided recipient of the batch the same way. */
static void decide_all(struct batch *b, enum mc_queue_outcome o,
		       const char *status, const char *error)
{
	for (size_t j = 0; j < b->count; j++) {
		struct job_plan *p = &b->plans[j];
		for (size_t i = 0; i < p->job->rcpts_count; i++) {
			if (!decided(p, i))
				plan_set(p, i, o, status, error, NULL);
		}
		p->done = true;
	}
}

/* mc_dkim_read_fn / mc_smtp_client_read_fn over a blob, noting 8-bit
 * bytes as they pass. */
static ssize_t body_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct body *bd = ctx;
	ssize_t n = mc_blob_pread(bd->reader, buf, len, off, NULL);
	for (ssize_t i = 0; i < n && !bd->eightbit; i++)
		bd->eightbit = ((const unsigned char *)buf)[i] >= 0x80;
	return n;
}

/* Scans the whole content once (for BODY=8BITMIME when not signing). */
static void body_scan(struct body *bd, uint64_t size)
{
	char buf[65536];
	for (uint64_t off = 0; off < size && !bd->eightbit;) {
		ssize_t n = body_read(bd, buf, sizeof(buf), off);
		if (n <= 0)
			break;
		off += (uint64_t)n;
	}
}

/* Opens and signs p's message (once per batch). 0, or -1 with err. */
static int body_open(struct batch *b, struct job_plan *p, struct body *bd,
		     struct mc_error *err)
{
	if (bd->ready)
		return 0;
	bd->reader = mc_blob_open(b->d->blobs, p->job->sha256, err);
	if (bd->reader == NULL)
		return -1;
	uint64_t size = mc_blob_reader_size(bd->reader);
	bd->prefix = "";
	if (p->keys_count > 0 &&
	    mc_dkim_sign(b->d->dkim, b->pool, p->keys, p->keys_count,
			 body_read, bd, &bd->prefix, err) < 0) {
		mc_log_warning("queue %s: not signed: %s", p->job->queue_id,
			       err->msg);
		mc_error_clear(err);
		bd->prefix = "";
	}
	if (p->keys_count == 0)
		body_scan(bd, size);
	bd->ready = true;
	return 0;
}

/* True when s has a byte over 0x7f. */
static bool non_ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* The envelope of p's undecided recipients; idx_r maps back. */
static size_t envelope(struct batch *b, struct job_plan *p, struct body *bd,
		       struct mc_smtp_client_message *m, size_t *idx)
{
	struct mc_smtp_client_rcpt *r = mc_palloc_array(
		b->pool, p->job->rcpts_count + 1, sizeof(*r));
	size_t n = 0;
	bool utf8 = non_ascii(p->job->sender);
	for (size_t i = 0; i < p->job->rcpts_count; i++) {
		if (decided(p, i))
			continue;
		const struct mc_queue_rcpt *q = &p->job->rcpts[i];
		r[n] = (struct mc_smtp_client_rcpt){q->address, q->orcpt,
						    q->notify};
		utf8 |= non_ascii(q->address);
		idx[n++] = i;
	}
	uint64_t size = mc_blob_reader_size(bd->reader);
	*m = (struct mc_smtp_client_message){
		.sender = p->job->sender,
		.envid = p->job->envid,
		.ret = p->job->ret,
		.rcpts = r,
		.rcpts_count = n,
		.size = size + strlen(bd->prefix),
		.eightbit = bd->eightbit,
		.smtputf8 = utf8,
		.prefix = bd->prefix,
		.prefix_len = strlen(bd->prefix),
		.read = body_read,
		.read_ctx = bd,
	};
	return n;
}

/* "host[ip] said: 550 5.1.1 text" or "host[ip]: text" (pool). */
static const char *describe(struct mc_pool *pool, const char *where,
			    const struct mc_smtp_status *st)
{
	if (st->code == 0)
		return mc_psprintf(pool, "%s: %s", where, st->text);
	return mc_psprintf(pool, "%s said: %u %s%s%s", where, st->code,
			   st->enh, *st->enh != '\0' ? " " : "", st->text);
}

/* The status to report for st ("4.0.0" style default by class). */
static const char *status_of(struct mc_pool *pool,
			     const struct mc_smtp_status *st)
{
	if (st->enh[0] != '\0')
		return mc_pstrdup(pool, st->enh);
	return st->code >= 500 ? "5.0.0" : "4.0.0";
}

/* Applies one recipient's reply: delivered, failed or deferred are
 * final for this attempt; a reply-less failure leaves it undecided. */
static void apply(struct batch *b, struct job_plan *p, size_t i,
		  const struct mc_smtp_status *st, const struct attempt *a,
		  const char *host)
{
	const char *mta = mc_pstrdup(b->pool, host);
	if (st->code >= 200 && st->code < 300) {
		plan_set(p, i, MC_QUEUE_DELIVERED, "2.0.0",
			 describe(b->pool, a->where, st), mta);
		p->relayed[i] = !a->peer_dsn &&
				(p->job->rcpts[i].notify & MC_SMTP_NOTIFY_SUCCESS);
	} else if (st->code >= 500 || (st->code == 0 && st->enh[0] == '5')) {
		plan_set(p, i, MC_QUEUE_FAILED, status_of(b->pool, st),
			 describe(b->pool, a->where, st), mta);
	} else if (st->code >= 400) {
		plan_set(p, i, MC_QUEUE_DEFERRED, status_of(b->pool, st),
			 describe(b->pool, a->where, st), mta);
	}
}

/* Sends p over c; -1 when the connection is no longer usable. */
static int send_one(struct batch *b, struct mc_smtp_client *c,
		    struct job_plan *p, struct body *bd, struct attempt *a,
		    const char *host)
{
	struct mc_error err = {0};
	if (body_open(b, p, bd, &err) < 0) {
		const char *e = mc_psprintf(b->pool, "message content: %s",
					    err.msg);
		for (size_t i = 0; i < p->job->rcpts_count; i++) {
			if (!decided(p, i))
				plan_set(p, i, MC_QUEUE_DEFERRED, "4.3.0", e,
					 NULL);
		}
		return 0;
	}
	struct mc_smtp_client_message m;
	size_t *idx = mc_palloc_array(b->pool, p->job->rcpts_count + 1,
				      sizeof(*idx));
	size_t n = envelope(b, p, bd, &m, idx);
	if (n == 0)
		return 0;
	struct mc_smtp_status *st = mc_palloc_array(b->pool, n, sizeof(*st));
	struct mc_smtp_status final = {0};
	int rc = mc_smtp_client_send(c, &m, st, &final);
	for (size_t k = 0; k < n; k++) {
		if (st[k].code == 0 && final.code >= 500 &&
		    final.enh[0] != '\0')
			st[k] = final; /* refused as a whole (MAIL) */
		apply(b, p, idx[k], &st[k], a, host);
	}
	if (final.code == 0 || final.code >= 400)
		a->last = final;
	return rc;
}

/* Gives the undecided recipients back untried (their claims are near
 * their end). */
static void release_rest(struct batch *b)
{
	for (size_t j = 0; j < b->count; j++) {
		struct job_plan *p = &b->plans[j];
		for (size_t i = 0; i < p->job->rcpts_count; i++) {
			if (!decided(p, i))
				plan_set(p, i, MC_QUEUE_RELEASE, NULL, NULL,
					 NULL);
		}
	}
}

/* Sends every undecided job of b over c. */
static void send_batch(struct batch *b, struct mc_smtp_client *c,
		       struct body *bodies, struct attempt *a,
		       const char *host)
{
	a->peer_dsn = mc_smtp_client_has(c, "DSN");
	for (size_t j = 0; j < b->count; j++) {
		if (batch_stale(b)) {
			release_rest(b);
			return;
		}
		if (j > 0 && mc_smtp_client_reset(c) < 0)
			return;
		if (send_one(b, c, &b->plans[j], &bodies[j], a, host) < 0)
			return;
	}
}

/* The client settings for t. */
static void settings_for(const struct batch *b, const struct target *t,
			 struct mc_smtp_client_settings *s, const char **names)
{
	*s = b->d->smtp;
	s->tls = t->tls;
	s->tls_sni = t->host;
	names[0] = t->host;
	s->tls_names = names;
	s->tls_names_count = 1;
	s->tlsa = t->tlsa;
	s->tlsa_count = t->tlsa_count;
	if (b->route.host != NULL) {
		s->auth_user = b->route.user;
		s->auth_password = b->route.password;
	}
}

/* Connects to addr (again without TLS when opportunistic TLS failed). */
static struct mc_smtp_client *open_conn(struct mc_smtp_client_settings *s,
					const struct mc_sockaddr *addr,
					const char *host,
					struct mc_smtp_status *st)
{
	struct mc_smtp_client *c = mc_smtp_client_connect(s, addr, host, st);
	if (c == NULL && s->tls == MC_SMTP_TLS_OPPORTUNISTIC &&
	    st->code == 0 && strncmp(st->enh, "4.7", 3) == 0) {
		mc_log_info("%s: TLS failed (%s): trying without", host,
			    st->text);
		s->tls = MC_SMTP_TLS_NONE;
		c = mc_smtp_client_connect(s, addr, host, st);
	}
	return c;
}

/* The addresses of t: an IP literal as it is, else from DNS. */
static int target_addrs(struct batch *b, const struct target *t,
			const struct mc_sockaddr **addrs_r, size_t *n_r,
			struct mc_error *err)
{
	char lit[320];
	bool v6 = strchr(t->host, ':') != NULL;
	snprintf(lit, sizeof(lit), v6 ? "[%s]:%d" : "%s:%d", t->host, t->port);
	struct mc_sockaddr *sa = mc_palloc(b->pool, sizeof(*sa));
	if (mc_addr_parse(lit, sa, NULL) == 0) {
		*addrs_r = sa;
		*n_r = 1;
		return 1;
	}
	struct mc_dns_answer ans = {0};
	return mc_dns_addrs(b->d->dns, b->pool, t->host, t->port, false,
			    addrs_r, n_r, &ans, err);
}

/* Tries each address of t while recipients are undecided. */
static void try_target(struct batch *b, const struct target *t,
		       struct body *bodies, struct attempt *a)
{
	const struct mc_sockaddr *addrs;
	size_t n = 0;
	struct mc_error err = {0};
	int found = target_addrs(b, t, &addrs, &n, &err);
	if (found <= 0) {
		snprintf(a->where, sizeof(a->where), "%s", t->host);
		a->last = (struct mc_smtp_status){.enh = "4.4.3"};
		snprintf(a->last.text, sizeof(a->last.text), "%s",
			 found < 0 ? err.msg : "host has no address");
		return;
	}
	for (size_t i = 0; i < n && pending(b) && !batch_stale(b) &&
			   !b->d->stopping;
	     i++) {
		char ip[MC_ADDR_STR_MAX];
		snprintf(a->where, sizeof(a->where), "%.250s[%s]", t->host,
			 mc_addr_ip_str(&addrs[i], ip));
		const char *names[1];
		struct mc_smtp_client_settings s;
		settings_for(b, t, &s, names);
		struct mc_smtp_client *c = open_conn(&s, &addrs[i], t->host,
						     &a->last);
		if (c == NULL)
			continue;
		send_batch(b, c, bodies, a, t->host);
		mc_smtp_client_close(&c);
	}
}

/* The TLSA records of host when DNSSEC vouches for them (DANE). */
static void dane_for(struct batch *b, struct target *t, bool mx_secure)
{
	if (!b->d->dane || !mx_secure)
		return;
	char name[300];
	snprintf(name, sizeof(name), "_%d._tcp.%s", t->port, t->host);
	struct mc_dns_answer ans = {0};
	struct mc_error err = {0};
	const struct mc_dns_tlsa *tlsa;
	size_t n = 0;
	if (mc_dns_tlsa(b->d->dns, b->pool, name, &tlsa, &n, &ans, &err) > 0 &&
	    ans.secure) {
		t->tls = MC_SMTP_TLS_DANE;
		t->tlsa = tlsa;
		t->tlsa_count = n;
	}
}

/* Delivers to the MX hosts in order (MTA-STS may rule some out). */
static void try_mx(struct batch *b, const struct mc_dns_mx *mx, size_t n,
		   bool secure, struct body *bodies, struct attempt *a)
{
	for (size_t i = 0; i < n && pending(b) && !b->d->stopping; i++) {
		if (mx[i].host[0] == '\0')
			continue;
		struct target t = {mx[i].host, b->d->port, b->d->mx_tls, NULL,
				   0};
		if (b->sts.present && b->sts.enforce) {
			if (!mtasts_mx_match(&b->sts, t.host)) {
				snprintf(a->where, sizeof(a->where), "%s",
					 t.host);
				a->last = (struct mc_smtp_status){.enh =
									  "4.7.5"};
				snprintf(a->last.text, sizeof(a->last.text),
					 "MX host not allowed by the "
					 "MTA-STS policy of %s",
					 b->domain);
				continue;
			}
			t.tls = MC_SMTP_TLS_VERIFY;
		}
		dane_for(b, &t, secure);
		try_target(b, &t, bodies, a);
	}
}

/* A domain without MX records is its own MX (RFC 5321 5.1) if it has an
 * address; without one the mail fails (or waits if DNS fails). */
static bool has_address(struct batch *b)
{
	const struct mc_sockaddr *addrs;
	size_t n = 0;
	struct mc_dns_answer ans = {0};
	struct mc_error err = {0};
	int rc = mc_dns_addrs(b->d->dns, b->pool, b->domain, b->d->port, false,
			      &addrs, &n, &ans, &err);
	if (rc < 0)
		decide_all(b, MC_QUEUE_DEFERRED, "4.4.3",
			   mc_psprintf(b->pool, "address lookup of %s: %s",
				       b->domain, err.msg));
	else if (rc == 0)
		decide_all(b, MC_QUEUE_FAILED, "5.1.2",
			   mc_psprintf(b->pool,
				       "domain %s has no MX and no address",
				       b->domain));
	return rc > 0;
}

/* MX delivery: the records, or the implicit MX of the domain itself. */
static void deliver_mx(struct batch *b, struct body *bodies,
		       struct attempt *a)
{
	const struct mc_dns_mx *mx;
	size_t n = 0;
	bool nx = false;
	struct mc_dns_answer ans = {0};
	struct mc_error err = {0};
	int found = mc_dns_mx(b->d->dns, b->pool, b->domain, &mx, &n, &nx,
			      &ans, &err);
	if (found < 0) {
		decide_all(b, MC_QUEUE_DEFERRED, "4.4.3",
			   mc_psprintf(b->pool, "MX lookup of %s: %s",
				       b->domain, err.msg));
		return;
	}
	if (found == 0 && nx) {
		decide_all(b, MC_QUEUE_FAILED, "5.1.2",
			   mc_psprintf(b->pool, "domain %s does not exist",
				       b->domain));
		return;
	}
	if (found > 0 && n == 1 && mx[0].host[0] == '\0') {
		decide_all(b, MC_QUEUE_FAILED, "5.1.10",
			   mc_psprintf(b->pool,
				       "domain %s accepts no mail (null MX, "
				       "RFC 7505)",
				       b->domain));
		return;
	}
	if (found == 0 && !has_address(b)) /* decided there */
		return;
	if (found == 0) { /* no MX: the domain's own address */
		struct mc_dns_mx *self = mc_palloc(b->pool, sizeof(*self));
		*self = (struct mc_dns_mx){b->domain, 0};
		mx = self;
		n = 1;
	}
	if (b->d->mta_sts)
		mtasts_policy(b);
	try_mx(b, mx, n, ans.secure, bodies, a);
}

/* Relay delivery to the batch's smarthost. */
static void deliver_relay(struct batch *b, struct body *bodies,
			  struct attempt *a)
{
	struct target t = {b->route.host, b->route.port, b->route.tls, NULL,
			   0};
	try_target(b, &t, bodies, a);
}

/* The undecided ones after every host: deferred with the last error. */
static void defer_rest(struct batch *b, const struct attempt *a)
{
	const struct mc_smtp_status *st = &a->last;
	const char *status = st->enh[0] == '4' ? st->enh : "4.4.1";
	if (st->code >= 400 && st->enh[0] == '\0')
		status = "4.0.0";
	const char *text =
		a->where[0] != '\0' ? describe(b->pool, a->where, st)
				    : "no host could be reached";
	decide_all(b, MC_QUEUE_DEFERRED, mc_pstrdup(b->pool, status), text);
}

void transfer_batch(struct mc_worker *worker, void *ctx)
{
	(void)worker;
	struct batch *b = ctx;
	if (b->d->stopping)
		return; /* nothing tried: the claims lapse */
	struct body *bodies =
		mc_palloc_array(b->pool, b->count + 1, sizeof(*bodies));
	struct attempt a = {0};
	if (b->route.host != NULL)
		deliver_relay(b, bodies, &a);
	else
		deliver_mx(b, bodies, &a);
	if (batch_stale(b) || b->d->stopping)
		release_rest(b);
	if (pending(b))
		defer_rest(b, &a);
	for (size_t j = 0; j < b->count; j++) {
		mc_blob_reader_close(&bodies[j].reader);
		b->plans[j].done = true;
	}
}
