/* conn-limits: [connections], the per-IP defences of the MX port against
 * clients outside [filter] trusted_networks: concurrent connections and
 * connections per minute (421 4.7.0 at connect or XCLIENT), messages per
 * minute (451 4.7.1 at MAIL), unknown recipients that block the IP for
 * block_time (421 4.7.0 at connect, 450 4.7.1 at RCPT), a pregreet delay
 * that drops clients talking first (554 5.7.1, as postscreen does), and
 * the optional reverse-DNS, HELO and sender-domain checks.
 *
 * Counters are Redis keys per IP, each operation one Lua script run on a
 * worker: "mc:conn:c:IP" concurrent (INCR/DECR, a TTL in case a daemon
 * dies with sessions open), "mc:conn:m:IP" and "mc:conn:msg:IP" sorted
 * sets of the last minute's connections and messages (a true sliding
 * window, at most the limit's size), "mc:conn:u:IP" unknown recipients,
 * "mc:blk:IP" the block. Redis being down lets everything through (one
 * warning per outage); so does a DNS failure in the optional checks. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-redis.h"
#include "smtpd.h"

#define CONC_TTL_S    3600 /* the concurrent count outlives a crash by this */
#define PTR_NAMES_MAX 5	   /* PTR names tried for the reverse DNS */

/* KEYS: block, concurrent, per-minute set. ARGV: max concurrent, per
 * minute, now in ms, a unique member, the concurrent count's TTL.
 * {1, ttl} blocked, {2, 0} too many concurrent, {3, 0} too many per
 * minute, else {0, 0} (counted). */
static const char connect_script[] =
	"local t = redis.call('TTL', KEYS[1]) "
	"if t ~= -2 then return {1, t} end "
	"local mx, pm = tonumber(ARGV[1]), tonumber(ARGV[2]) "
	"if mx > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= mx "
	"then return {2, 0} end "
	"if pm > 0 then "
	"redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', "
	"tonumber(ARGV[3]) - 60000) "
	"if redis.call('ZCARD', KEYS[3]) >= pm then return {3, 0} end "
	"redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4]) "
	"redis.call('PEXPIRE', KEYS[3], 60000) end "
	"if mx > 0 then redis.call('INCR', KEYS[2]) "
	"redis.call('EXPIRE', KEYS[2], ARGV[5]) end "
	"return {0, 0}";

/* KEYS: a per-minute set. ARGV: limit, now in ms, a unique member.
 * 1 over (nothing added), 0 counted. */
static const char rate_script[] =
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', "
	"tonumber(ARGV[2]) - 60000) "
	"if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 1 "
	"end "
	"redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) "
	"redis.call('PEXPIRE', KEYS[1], 60000) return 0";

/* KEYS: the concurrent count. Decrements it, gone at 0. */
static const char release_script[] =
	"local n = redis.call('DECR', KEYS[1]) "
	"if n <= 0 then redis.call('DEL', KEYS[1]) end return n";

/* KEYS: unknown-recipient count, block. ARGV: limit, block time (s).
 * 1 when this one set the block. */
static const char unknown_script[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
	"if n >= tonumber(ARGV[1]) then "
	"redis.call('SET', KEYS[2], '1', 'EX', ARGV[2]) "
	"redis.call('DEL', KEYS[1]) return 1 end return 0";

static int redis_down; /* atomic: the outage was logged */

/* A Redis call failed: warn once per outage. */
static void redis_failed(const struct mc_error *err)
{
	if (!__atomic_exchange_n(&redis_down, 1, __ATOMIC_RELAXED))
		mc_log_warning("connection limits not enforced (Redis): %s",
			       err->msg);
}

/* A Redis call worked: the outage, if any, is over. */
static void redis_up(void)
{
	if (__atomic_exchange_n(&redis_down, 0, __ATOMIC_RELAXED))
		mc_log_notice("connection limits enforced again (Redis is "
			      "back)");
}

/* The reply of a call (NULL: Redis down, logged). */
static redisReply *checked(redisReply *r, const struct mc_error *err)
{
	if (r == NULL)
		redis_failed(err);
	else
		redis_up();
	return r;
}

/* The integer element i of an array reply, or of an integer reply. */
static long long reply_int(const redisReply *r, size_t i)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_ARRAY && i < r->elements &&
	    r->element[i]->type == REDIS_REPLY_INTEGER)
		return r->element[i]->integer;
	return 0;
}

/* The wall clock in ms (shared by every daemon of the host). */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A member no other connection or message uses. */
static void unique_member(char *buf, size_t size, long long now)
{
	static unsigned counter;
	unsigned n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(buf, size, "%lld.%ld.%u", now, (long)getpid(), n);
}

/* The worker's Redis, NULL when there is no worker (the pool is gone). */
static struct mc_redis *worker_redis(struct mc_worker *worker)
{
	return worker != NULL ? mc_service_worker_redis(worker) : NULL;
}

void conn_limits_open(struct smtpd *d, const struct mc_config *cfg)
{
	struct conn_settings *c = &d->conn;
	const char *s = "connections";
	c->max_per_ip = (unsigned)mc_config_int(cfg, s, "max_per_ip");
	c->per_minute = (unsigned)mc_config_int(cfg, s, "per_minute");
	c->messages_per_minute =
		(unsigned)mc_config_int(cfg, s, "messages_per_minute");
	c->unknown_recipients =
		(unsigned)mc_config_int(cfg, s, "unknown_recipients");
	c->block_s =
		(unsigned)((mc_config_duration_ms(cfg, s, "block_time") + 999) /
			   1000);
	c->pregreet_ms =
		(unsigned)mc_config_duration_ms(cfg, s, "pregreet_delay");
	c->reverse_dns = mc_config_bool(cfg, s, "reverse_dns");
	c->helo_check = mc_config_bool(cfg, s, "helo_check");
	c->sender_domain_check = mc_config_bool(cfg, s, "sender_domain_check");
	int n = mc_cidr_list_parse(
		mc_config_str(cfg, "filter", "trusted_networks"), c->trusted,
		MC_ADDR_NETS_MAX, NULL);
	c->trusted_count = n > 0 ? (size_t)n : 0;
	if (d->dns == NULL && (c->reverse_dns || c->sender_domain_check)) {
		struct mc_error err = {0};
		c->own_dns = mc_dns_from_config(cfg, &err);
		if (c->own_dns == NULL)
			mc_log_error("connections: DNS: %s (reverse_dns and "
				     "sender_domain_check are off)",
				     err.msg);
	}
}

void conn_limits_close(struct smtpd *d)
{
	mc_dns_destroy(&d->conn.own_dns);
}

/* The resolver of the DNS checks, or NULL. */
static struct mc_dns *dns_of(struct smtpd *d)
{
	return d->dns != NULL ? d->dns : d->conn.own_dns;
}

bool conn_limits_wanted(const struct session *s)
{
	return s->port == PORT_MX && !s->user.ok &&
	       !mc_cidr_list_match(s->d->conn.trusted, s->d->conn.trusted_count,
				   &s->remote);
}

/* True when a connection has Redis counters to check. */
static bool counters_on(const struct conn_settings *c)
{
	return c->max_per_ip > 0 || c->per_minute > 0 ||
	       c->unknown_recipients > 0;
}

/* -- releasing the concurrent count --------------------------------- */

struct release_job {
	char ip[MC_ADDR_STR_MAX];
};

/* Worker (detached): one connection of ip less. */
static void release_work(struct mc_worker *worker, void *ctx)
{
	struct release_job *j = ctx;
	struct mc_redis *redis = worker_redis(worker);
	struct mc_error err = {0};
	if (redis != NULL) {
		redisReply *r = checked(
			mc_redis_command(redis, &err, "EVAL %s 1 mc:conn:c:%s",
					 release_script, j->ip),
			&err);
		if (r != NULL)
			freeReplyObject(r);
	}
	free(j);
}

/* Releases the concurrent count of ip off the loop. */
static void release(struct smtpd *d, const char *ip)
{
	struct release_job *j = mc_calloc(1, sizeof(*j));
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	job_detached(d, release_work, j);
}

void conn_limits_end(struct session *s)
{
	if (s->cs.wait != NULL) {
		event_free(s->cs.wait);
		s->cs.wait = NULL;
	}
	if (s->cs.counted[0] != '\0') {
		release(s->d, s->cs.counted);
		s->cs.counted[0] = '\0';
	}
}

/* -- at connect and XCLIENT ------------------------------------------ */

enum conn_verdict { CONN_OK = 0, CONN_BLOCKED, CONN_BUSY, CONN_RATE };

struct connect_job {
	struct smtpd *d;
	char ip[MC_ADDR_STR_MAX];
	bool xclient;
	enum conn_verdict verdict;
	long long ttl; /* a block's seconds left */
	bool counted;  /* concurrent count taken */
};

/* Worker: the block, the concurrent count and the per-minute window. */
static void connect_work(struct mc_worker *worker, void *ctx)
{
	struct connect_job *j = ctx;
	const struct conn_settings *c = &j->d->conn;
	struct mc_redis *redis = worker_redis(worker);
	struct mc_error err = {0};
	char member[64];
	long long now = now_ms();
	if (redis == NULL)
		return;
	unique_member(member, sizeof(member), now);
	redisReply *r = checked(
		mc_redis_command(
			redis, &err,
			"EVAL %s 3 mc:blk:%s mc:conn:c:%s mc:conn:m:%s "
			"%u %u %lld %s %u",
			connect_script, j->ip, j->ip, j->ip, c->max_per_ip,
			c->per_minute, now, member, CONC_TTL_S),
		&err);
	if (r == NULL)
		return;
	j->verdict = (enum conn_verdict)reply_int(r, 0);
	j->ttl = reply_int(r, 1);
	j->counted = j->verdict == CONN_OK && c->max_per_ip > 0;
	freeReplyObject(r);
}

/* Sends "421 4.7.0 host text" and ends the session. */
static void refuse(struct session *s, const char *text)
{
	char line[512];
	snprintf(line, sizeof(line), "421 4.7.0 %s %s\r\n", s->d->hostname,
		 text);
	mc_logc(&s->log, MC_LOG_NOTICE, "refused: %s", text);
	if (s->conn != NULL)
		mc_conn_write(s->conn, line, strlen(line));
	session_close(s); /* nothing more is read or written */
}

/* The refusal text of a verdict. */
static const char *verdict_text(const struct connect_job *j, char *buf,
				size_t size)
{
	if (j->verdict == CONN_BLOCKED) {
		snprintf(
			buf, size,
			"Your host %s is temporarily blocked (too many unknown "
			"recipients), try again in %lld seconds",
			j->ip, j->ttl > 0 ? j->ttl : 1);
		return buf;
	}
	return "Too many connections from your host";
}

/* Sends the greeting (once) and reads what waited for it. */
static void greet(struct session *s)
{
	if (s->cs.greeted || s->jobs.gone)
		return;
	s->cs.greeted = true;
	mc_smtp_server_greet(s->smtp);
	session_pump(s);
}

/* Loop: the connection may go on, or is refused. */
static void connect_done(struct session *s, void *ctx)
{
	struct connect_job *j = ctx;
	char buf[256];
	if (s == NULL || s->jobs.gone) {
		if (j->counted)
			release(j->d, j->ip);
		free(j);
		return;
	}
	s->cs.checking = false;
	if (j->counted)
		snprintf(s->cs.counted, sizeof(s->cs.counted), "%s", j->ip);
	if (j->verdict != CONN_OK)
		refuse(s, verdict_text(j, buf, sizeof(buf)));
	else if (j->xclient)
		mc_smtp_server_accept(s->smtp); /* the new 220 */
	else if (s->cs.wait == NULL)
		greet(s);
	if (!s->jobs.gone && j->xclient)
		session_pump(s);
	free(j);
}

/* Starts the check of s->ip; false when the pool refused it. */
static bool check_ip(struct session *s, bool xclient)
{
	struct connect_job *j = mc_calloc(1, sizeof(*j));
	j->d = s->d;
	j->xclient = xclient;
	snprintf(j->ip, sizeof(j->ip), "%s", s->ip);
	if (!job_submit(s, connect_work, connect_done, j)) {
		free(j);
		return false;
	}
	s->cs.checking = true;
	return true;
}

/* The pregreet delay is over: greet unless the check still runs. */
static void pregreet_over(evutil_socket_t fd, short what, void *ctx)
{
	struct session *s = ctx;
	(void)fd;
	(void)what;
	event_free(s->cs.wait);
	s->cs.wait = NULL;
	if (!s->cs.checking)
		greet(s);
}

/* Arms the pregreet delay. */
static void pregreet_start(struct session *s, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	s->cs.wait = evtimer_new(mc_loop_base(s->loop), pregreet_over, s);
	evtimer_add(s->cs.wait, &tv);
}

void conn_limits_connect(struct session *s)
{
	const struct conn_settings *c = &s->d->conn;
	if (!conn_limits_wanted(s)) {
		greet(s);
		return;
	}
	if (c->pregreet_ms > 0)
		pregreet_start(s, c->pregreet_ms);
	if (counters_on(c) && !check_ip(s, false))
		mc_logc(&s->log, MC_LOG_WARNING,
			"connection limits not checked: worker pool busy");
	if (s->cs.wait == NULL && !s->cs.checking)
		greet(s);
}

void conn_limits_early_input(struct session *s)
{
	static const char line[] =
		"554 5.7.1 Protocol error: you talked before the greeting\r\n";
	if (s->d->conn.pregreet_ms == 0 || s->jobs.gone)
		return; /* it waits for the greeting */
	mc_logc(&s->log, MC_LOG_NOTICE,
		"dropped: the client talked before the greeting");
	if (s->conn != NULL)
		mc_conn_write(s->conn, line, sizeof(line) - 1);
	session_close(s);
}

void conn_limits_xclient(struct session *s)
{
	if (s->cs.counted[0] != '\0') { /* the proxy no longer counts */
		release(s->d, s->cs.counted);
		s->cs.counted[0] = '\0';
	}
	s->cs.rdns = 0;
	if (!conn_limits_wanted(s) || !counters_on(&s->d->conn) ||
	    !check_ip(s, true))
		mc_smtp_server_accept(s->smtp);
}

/* -- HELO --------------------------------------------------------------- */

/* True for an address literal: "[192.0.2.1]", "[IPv6:2001:db8::1]". */
static bool helo_literal(const char *h)
{
	size_t n = strlen(h);
	char buf[64];
	unsigned char addr[16];
	if (n < 3 || h[0] != '[' || h[n - 1] != ']' || n - 2 >= sizeof(buf))
		return false;
	memcpy(buf, h + 1, n - 2);
	buf[n - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* True for a character of a host name label. */
static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* True for a fully-qualified host name: two labels or more of letters,
 * digits, '-' (not at their ends) and '_', the last not numeric. */
static bool helo_fqdn(const char *h)
{
	size_t labels = 0, len = 0;
	bool numeric = true;
	if (strlen(h) > 253)
		return false;
	for (const char *p = h;; p++) {
		if (*p == '.' || *p == '\0') {
			if (len == 0 || len > 63 || p[-1] == '-')
				return false;
			labels++;
			if (*p == '\0')
				return labels >= 2 && !numeric;
			len = 0;
			numeric = true;
			continue;
		}
		if (!label_char(*p) || (len == 0 && *p == '-'))
			return false;
		numeric = numeric && *p >= '0' && *p <= '9';
		len++;
	}
}

void conn_limits_helo(void *ctx, struct mc_smtp_server *smtp,
		      const struct mc_smtp_server_helo *helo)
{
	struct session *s = ctx;
	char text[320];
	if (!s->d->conn.helo_check || !conn_limits_wanted(s) ||
	    helo_fqdn(helo->domain) || helo_literal(helo->domain)) {
		mc_smtp_server_accept(smtp);
		return;
	}
	snprintf(text, sizeof(text),
		 "<%.255s>: Helo command rejected: need fully-qualified "
		 "hostname",
		 helo->domain);
	mc_logc(&s->log, MC_LOG_NOTICE, "HELO %s refused", helo->domain);
	mc_smtp_server_reply(smtp, 504, "5.5.2", text);
}

/* -- MAIL --------------------------------------------------------------- */

struct mail_check {
	struct smtpd *d;
	struct mc_pool *pool;
	const char *ip;
	const char *sender, *domain; /* domain NULL: not checked */
	bool rdns_wanted, rate;
	int rdns; /* the reverse DNS found: 1 verified, -1 not, 0 unknown */
	unsigned code;
	const char *enh, *text;
};

/* Sets the check's refusal. */
static void mail_refuse(struct mail_check *j, unsigned code, const char *enh,
			const char *text)
{
	j->code = code;
	j->enh = enh;
	j->text = text;
}

/* Whether one of the addresses of name is ip: 1, 0, -1 (DNS failed). */
static int name_has_ip(struct mc_dns *dns, struct mc_pool *pool,
		       const char *name, const char *ip)
{
	const struct mc_sockaddr *addrs;
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	char buf[MC_ADDR_STR_MAX];
	size_t n = 0;
	int family = strchr(ip, ':') != NULL ? AF_INET6 : AF_INET;
	int r = mc_dns_addrs_family(dns, pool, name, family, &addrs, &n, &ans,
				    &err);
	for (size_t i = 0; r > 0 && i < n; i++)
		if (strcmp(mc_addr_ip_str(&addrs[i], buf), ip) == 0)
			return 1;
	return r < 0 ? -1 : 0;
}

/* Worker: ip's reverse DNS: 1 a PTR name resolves back to it, -1 none
 * does, 0 the DNS failed (not judged). */
static int rdns_verify(struct mc_dns *dns, struct mc_pool *pool, const char *ip)
{
	const char *const *names;
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	size_t n = 0;
	bool failed = false;
	int r = mc_dns_ptr(dns, pool, ip, &names, &n, &ans, &err);
	if (r < 0)
		return 0;
	for (size_t i = 0; r > 0 && i < n && i < PTR_NAMES_MAX; i++) {
		int m = name_has_ip(dns, pool, names[i], ip);
		if (m > 0)
			return 1;
		failed = failed || m < 0;
	}
	return failed ? 0 : -1;
}

/* Worker: the sender domain's MX, A or AAAA: 1 some, 0 none, 2 a null
 * MX, -1 the DNS failed. */
static int domain_exists(struct mc_dns *dns, struct mc_pool *pool,
			 const char *domain)
{
	const struct mc_dns_mx *mx;
	const struct mc_sockaddr *addrs;
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	size_t n = 0;
	bool nx = false;
	int r = mc_dns_mx(dns, pool, domain, &mx, &n, &nx, &ans, &err);
	if (r != 0)
		return r < 0 ? -1 : n == 1 && mx[0].host[0] == '\0' ? 2 : 1;
	if (nx)
		return 0;
	r = mc_dns_addrs_family(dns, pool, domain, AF_INET, &addrs, &n, &ans,
				&err);
	if (r == 0)
		r = mc_dns_addrs_family(dns, pool, domain, AF_INET6, &addrs, &n,
					&ans, &err);
	return r;
}

/* Worker: the sender domain check. */
static void check_sender_domain(struct mail_check *j)
{
	int r = domain_exists(dns_of(j->d), j->pool, j->domain);
	if (r < 0)
		mc_log_info("sender domain %s: lookup failed, not checked",
			    j->domain);
	if (r == 0)
		mail_refuse(j, 450, "4.1.8",
			    mc_psprintf(j->pool,
					"<%s>: Sender address rejected: "
					"Domain not found",
					j->sender));
	else if (r == 2)
		mail_refuse(j, 550, "5.7.27",
			    mc_psprintf(j->pool,
					"<%s>: Sender address rejected: "
					"Domain does not accept mail",
					j->sender));
}

/* Worker: one message more from ip this minute, if under the limit. */
static void check_rate(struct mc_worker *worker, struct mail_check *j)
{
	struct mc_redis *redis = worker_redis(worker);
	struct mc_error err = {0};
	char member[64];
	long long now = now_ms();
	if (redis == NULL)
		return;
	unique_member(member, sizeof(member), now);
	redisReply *r = checked(
		mc_redis_command(redis, &err,
				 "EVAL %s 1 mc:conn:msg:%s %u %lld %s",
				 rate_script, j->ip,
				 j->d->conn.messages_per_minute, now, member),
		&err);
	if (r == NULL)
		return;
	if (reply_int(r, 0) == 1)
		mail_refuse(j, 451, "4.7.1",
			    "Too many messages from your host, try again "
			    "later");
	freeReplyObject(r);
}

/* Worker: the reverse DNS, the sender domain, then the rate. */
static void mail_check_work(struct mc_worker *worker, void *ctx)
{
	struct mail_check *j = ctx;
	if (j->rdns_wanted)
		j->rdns = rdns_verify(dns_of(j->d), j->pool, j->ip);
	if (j->rdns_wanted && j->rdns == 0)
		mc_log_info("reverse DNS of %s: lookup failed, not checked",
			    j->ip);
	if (j->rdns < 0)
		mail_refuse(j, 450, "4.7.25",
			    mc_psprintf(j->pool,
					"Client host rejected: cannot find "
					"your hostname, [%s]",
					j->ip));
	if (j->code == 0 && j->domain != NULL)
		check_sender_domain(j);
	if (j->code == 0 && j->rate)
		check_rate(worker, j);
}

/* Loop: MAIL goes on to the next checks, or is refused. */
static void mail_check_done(struct session *s, void *ctx)
{
	struct mail_check *j = ctx;
	if (s != NULL && j->rdns != 0)
		s->cs.rdns = j->rdns;
	if (s != NULL && j->code != 0) {
		mc_logc(&s->log, MC_LOG_NOTICE, "MAIL refused: %u %s %s",
			j->code, j->enh, j->text);
		mc_smtp_server_reply(s->smtp, j->code, j->enh, j->text);
		trans_free(&s->trans);
		session_pump(s);
	} else if (s != NULL) {
		cmd_mail_unauth(s);
		session_pump(s);
	}
	mc_pool_destroy(&j->pool);
}

/* The sender domain to check at MAIL, or NULL. */
static const char *domain_to_check(const struct session *s)
{
	const char *at = strrchr(s->trans->sender, '@');
	if (!s->d->conn.sender_domain_check || dns_of(s->d) == NULL ||
	    at == NULL || at[1] == '\0' || at[1] == '[')
		return NULL;
	return at + 1;
}

bool conn_limits_mail(struct session *s)
{
	const struct conn_settings *c = &s->d->conn;
	if (!conn_limits_wanted(s))
		return false;
	struct mc_pool *pool = mc_pool_create("smtp-conn-mail", 2048);
	struct mail_check *j = mc_palloc(pool, sizeof(*j));
	const char *domain = domain_to_check(s);
	*j = (struct mail_check){
		.d = s->d,
		.pool = pool,
		.ip = mc_pstrdup(pool, s->ip),
		.sender = mc_pstrdup(pool, s->trans->sender),
		.domain = domain != NULL ? mc_pstrdup(pool, domain) : NULL,
		.rdns_wanted = c->reverse_dns && dns_of(s->d) != NULL &&
			       s->cs.rdns == 0,
		.rdns = c->reverse_dns ? s->cs.rdns : 0,
		.rate = c->messages_per_minute > 0,
	};
	if ((j->rdns_wanted || j->rdns < 0 || j->domain != NULL || j->rate) &&
	    job_submit(s, mail_check_work, mail_check_done, j))
		return true;
	mc_pool_destroy(&pool);
	return false;
}

/* -- RCPT --------------------------------------------------------------- */

bool conn_limits_blocked(struct mc_worker *worker, struct smtpd *d,
			 const char *ip)
{
	struct mc_redis *redis = worker_redis(worker);
	struct mc_error err = {0};
	(void)d;
	if (redis == NULL)
		return false;
	redisReply *r = checked(
		mc_redis_command(redis, &err, "EXISTS mc:blk:%s", ip), &err);
	if (r == NULL)
		return false;
	bool blocked = reply_int(r, 0) > 0;
	freeReplyObject(r);
	return blocked;
}

void conn_limits_unknown(struct mc_worker *worker, struct smtpd *d,
			 const char *ip)
{
	const struct conn_settings *c = &d->conn;
	struct mc_redis *redis = worker_redis(worker);
	struct mc_error err = {0};
	if (redis == NULL || c->unknown_recipients == 0)
		return;
	redisReply *r = checked(
		mc_redis_command(redis, &err,
				 "EVAL %s 2 mc:conn:u:%s mc:blk:%s %u %u",
				 unknown_script, ip, ip, c->unknown_recipients,
				 c->block_s),
		&err);
	if (r == NULL)
		return;
	if (reply_int(r, 0) == 1)
		mc_log_notice("client %s blocked for %us: %u unknown "
			      "recipients",
			      ip, c->block_s, c->unknown_recipients);
	freeReplyObject(r);
}
