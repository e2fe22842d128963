/* test-dns: mc-dns against the in-memory zone (MX order and shuffled ties,
 * null MX, NXDOMAIN vs NODATA, failures, secure marks, TXT joining, TLSA,
 * addresses, one-family addresses, PTR, bad records) and the libunbound backend
 * against a real Debian unbound serving local-data on a random loopback port
 * (skipped without /usr/sbin/unbound), including threads and a lookup timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mc-test.h"

#define UNBOUND	 "/usr/sbin/unbound"
#define TLSA_HEX "0123456789abcdef0123456789abcdef"

/* The memory zone most tests share. */
static struct mc_dns *memory_zone(void)
{
	static const char *const recs[][3] = {
		{"multi.example", "MX", "20 Low.Example."},
		{"multi.example", "MX", "10 a.example"},
		{"multi.example", "MX", "10 b.example"},
		{"multi.example", "MX", "5 Top.Example."},
		{"null.example", "MX", "0 ."},
		{"host.example", "A", "192.0.2.1"},
		{"host.example", "A", "192.0.2.2"},
		{"host.example", "AAAA", "2001:db8::1"},
		{"v6.example", "AAAA", "2001:db8::6"},
		{"txt.example", "TXT",
		 "\"v=spf1 \" \"ip4:192.0.2.0/24\" \"-all\""},
		{"txt.example", "TXT", "bare text"},
		{"_25._tcp.host.example", "TLSA", "3 1 1 " TLSA_HEX},
		{"_25._tcp.host.example", "TLSA", "2 0 2 ab cd"},
		{"fail.example", "MX", "10 x.example"},
	};
	struct mc_dns *dns = mc_dns_memory_create();

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		assert_int_equal(mc_dns_memory_add(dns, recs[i][0], recs[i][1],
						   recs[i][2]),
				 0);
	mc_dns_memory_fail(dns, "fail.example");
	mc_dns_memory_secure(dns, "host.example");
	return dns;
}

/* Asserts the MX list of domain: count, prefs and (when set) hosts. */
static void assert_mx(struct mc_dns *dns, const char *domain, size_t want,
		      const unsigned *prefs, const char *const *hosts)
{
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_error err = {0};
	struct mc_dns_answer ans;
	const struct mc_dns_mx *mx;
	size_t n;
	bool nx = true;

	assert_int_equal(mc_dns_mx(dns, pool, domain, &mx, &n, &nx, &ans, &err),
			 1);
	assert_false(nx);
	assert_int_equal(n, want);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(mx[i].pref, prefs[i]);
		if (hosts != NULL && hosts[i] != NULL)
			assert_string_equal(mx[i].host, hosts[i]);
	}
	mc_pool_destroy(&pool);
}

/* MX records come sorted by preference, lowercased, without the dot. */
static void test_mem_mx_sorted(void **state)
{
	static const unsigned prefs[] = {5, 10, 10, 20};
	static const char *const hosts[] = {"top.example", NULL, NULL,
					    "low.example"};
	struct mc_dns *dns = memory_zone();

	(void)state;
	assert_mx(dns, "multi.example", 4, prefs, hosts);
	assert_mx(dns, "MULTI.Example.", 4, prefs, hosts);
	mc_dns_destroy(&dns);
	assert_null(dns);
	mc_dns_destroy(&dns);
}

/* Records of equal preference come in both orders over many lookups. */
static void test_mem_mx_ties_shuffled(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_dns_mx *mx;
	size_t n, a_first = 0;
	int rounds = 200;

	(void)state;
	for (int i = 0; i < rounds; i++) {
		assert_int_equal(mc_dns_mx(dns, pool, "multi.example", &mx, &n,
					   NULL, NULL, NULL),
				 1);
		assert_int_equal(n, 4);
		assert_string_equal(mx[0].host, "top.example");
		assert_true(strcmp(mx[1].host, "a.example") == 0 ||
			    strcmp(mx[2].host, "a.example") == 0);
		a_first += strcmp(mx[1].host, "a.example") == 0;
	}
	assert_true(a_first > 20 && a_first < (size_t)rounds - 20);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* A null MX ("0 .") is one record with host "". */
static void test_mem_null_mx(void **state)
{
	static const unsigned prefs[] = {0};
	static const char *const hosts[] = {""};
	struct mc_dns *dns = memory_zone();

	(void)state;
	assert_mx(dns, "null.example", 1, prefs, hosts);
	mc_dns_destroy(&dns);
}

struct absent_case {
	const char *name;
	bool nxdomain;
};

/* A known name without MX is NODATA; unknown and invalid names NXDOMAIN. */
static void test_mem_nxdomain_nodata(void **state)
{
	static const struct absent_case cases[] = {
		{"host.example", false},
		{"txt.example.", false},
		{"nope.example", true},
		{"a..b", true},
		{"", true},
		{"bad name.example", true},
	};
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_dns_mx *mx;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_error err = {0};
		bool nx = !cases[i].nxdomain;
		assert_int_equal(mc_dns_mx(dns, pool, cases[i].name, &mx, &n,
					   &nx, NULL, &err),
				 0);
		assert_int_equal(nx, cases[i].nxdomain);
		assert_int_equal(n, 0);
		assert_int_equal(err.cls, MC_ERR_NONE);
	}
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* A failed name gives -1 and a temporary error for every lookup type. */
static void test_mem_fail(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_error err = {0};
	const struct mc_dns_mx *mx;
	const struct mc_sockaddr *addrs;
	const char *const *txt;
	size_t n;
	bool nx;

	(void)state;
	assert_int_equal(
		mc_dns_mx(dns, pool, "fail.example", &mx, &n, &nx, NULL, &err),
		-1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_non_null(strstr(err.msg, "fail.example"));
	mc_error_clear(&err);
	assert_int_equal(mc_dns_addrs(dns, pool, "fail.example", 25, false,
				      &addrs, &n, NULL, &err),
			 -1);
	assert_true(mc_error_is_temporary(&err));
	mc_error_clear(&err);
	assert_int_equal(
		mc_dns_txt(dns, pool, "fail.example", &txt, &n, NULL, &err),
		-1);
	assert_true(mc_error_is_temporary(&err));
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Only names marked secure give secure answers. */
static void test_mem_secure(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans = {.secure = true, .bogus = true};
	const struct mc_sockaddr *addrs;
	const char *const *txt;
	size_t n;

	(void)state;
	assert_int_equal(mc_dns_addrs(dns, pool, "host.example", 25, false,
				      &addrs, &n, &ans, NULL),
			 1);
	assert_true(ans.secure);
	assert_false(ans.bogus);
	assert_int_equal(
		mc_dns_txt(dns, pool, "txt.example", &txt, &n, &ans, NULL), 1);
	assert_false(ans.secure);
	assert_false(ans.bogus);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* TXT records come back one string each, their strings joined. */
static void test_mem_txt(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	char longtxt[700];
	const char *const *txt;
	size_t n;

	(void)state;
	assert_int_equal(
		mc_dns_txt(dns, pool, "txt.example", &txt, &n, NULL, NULL), 1);
	assert_int_equal(n, 2);
	assert_string_equal(txt[0], "v=spf1 ip4:192.0.2.0/24-all");
	assert_string_equal(txt[1], "bare text");
	memset(longtxt, 'x', sizeof(longtxt) - 1);
	longtxt[sizeof(longtxt) - 1] = '\0';
	assert_int_equal(mc_dns_memory_add(dns, "long.example", "TXT", longtxt),
			 0);
	assert_int_equal(
		mc_dns_txt(dns, pool, "long.example", &txt, &n, NULL, NULL), 1);
	assert_int_equal(n, 1);
	assert_string_equal(txt[0], longtxt);
	assert_int_equal(
		mc_dns_txt(dns, pool, "host.example", &txt, &n, NULL, NULL), 0);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Asserts one TLSA record's fields and data. */
static void assert_tlsa(const struct mc_dns_tlsa *t, uint8_t u, uint8_t s,
			uint8_t m, const uint8_t *data, size_t len)
{
	assert_int_equal(t->usage, u);
	assert_int_equal(t->selector, s);
	assert_int_equal(t->mtype, m);
	assert_int_equal(t->data_len, len);
	assert_memory_equal(t->data, data, len);
}

/* TLSA records with their fields and binary data. */
static void test_mem_tlsa(void **state)
{
	static const uint8_t d1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
				       0xcd, 0xef, 0x01, 0x23, 0x45, 0x67,
				       0x89, 0xab, 0xcd, 0xef};
	static const uint8_t d2[] = {0xab, 0xcd};
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_dns_tlsa *tlsa;
	size_t n;

	(void)state;
	assert_int_equal(mc_dns_tlsa(dns, pool, "_25._tcp.host.example", &tlsa,
				     &n, NULL, NULL),
			 1);
	assert_int_equal(n, 2);
	assert_tlsa(&tlsa[0], 3, 1, 1, d1, sizeof(d1));
	assert_tlsa(&tlsa[1], 2, 0, 2, d2, sizeof(d2));
	assert_int_equal(mc_dns_tlsa(dns, pool, "_25._tcp.nope.example", &tlsa,
				     &n, NULL, NULL),
			 0);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Asserts that addrs[i] formats as want. */
static void assert_addr(const struct mc_sockaddr *addr, const char *want)
{
	char buf[MC_ADDR_STR_MAX];

	assert_string_equal(mc_addr_str(addr, buf), want);
}

/* A and AAAA addresses with the port, IPv6 first only when asked. */
static void test_mem_addrs(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_sockaddr *a;
	size_t n;

	(void)state;
	assert_int_equal(mc_dns_addrs(dns, pool, "host.example", 25, false, &a,
				      &n, NULL, NULL),
			 1);
	assert_int_equal(n, 3);
	assert_addr(&a[0], "192.0.2.1:25");
	assert_addr(&a[1], "192.0.2.2:25");
	assert_addr(&a[2], "[2001:db8::1]:25");
	assert_int_equal(mc_dns_addrs(dns, pool, "host.example", 2525, true, &a,
				      &n, NULL, NULL),
			 1);
	assert_int_equal(n, 3);
	assert_addr(&a[0], "[2001:db8::1]:2525");
	assert_addr(&a[2], "192.0.2.2:2525");
	assert_int_equal(mc_dns_addrs(dns, pool, "v6.example", 25, false, &a,
				      &n, NULL, NULL),
			 1);
	assert_int_equal(n, 1);
	assert_int_equal(mc_dns_addrs(dns, pool, "multi.example", 25, true, &a,
				      &n, NULL, NULL),
			 0);
	assert_int_equal(mc_dns_addrs(dns, pool, "nope.example", 25, true, &a,
				      &n, NULL, NULL),
			 0);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* One family at a time, NXDOMAIN told from NODATA in the answer. */
static void test_mem_addrs_family(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	const struct mc_sockaddr *a;
	size_t n;

	(void)state;
	assert_int_equal(mc_dns_addrs_family(dns, pool, "host.example", AF_INET,
					     &a, &n, &ans, NULL),
			 1);
	assert_int_equal(n, 2);
	assert_addr(&a[0], "192.0.2.1:0");
	assert_addr(&a[1], "192.0.2.2:0");
	assert_true(ans.secure);
	assert_int_equal(mc_dns_addrs_family(dns, pool, "host.example",
					     AF_INET6, &a, &n, &ans, NULL),
			 1);
	assert_int_equal(n, 1);
	assert_addr(&a[0], "[2001:db8::1]:0");
	assert_int_equal(mc_dns_addrs_family(dns, pool, "v6.example", AF_INET,
					     &a, &n, &ans, NULL),
			 0);
	assert_false(ans.nxdomain);
	assert_int_equal(mc_dns_addrs_family(dns, pool, "nope.example",
					     AF_INET6, &a, &n, &ans, NULL),
			 0);
	assert_true(ans.nxdomain);
	assert_int_equal(mc_dns_addrs_family(dns, pool, "fail.example", AF_INET,
					     &a, &n, &ans, &err),
			 -1);
	assert_true(mc_error_is_temporary(&err));
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Every lookup's answer tells NXDOMAIN from NODATA. */
static void test_mem_answer_nxdomain(void **state)
{
	struct mc_dns *dns = memory_zone();
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans;
	const char *const *txt;
	const struct mc_dns_tlsa *tlsa;
	size_t n;

	(void)state;
	assert_int_equal(
		mc_dns_txt(dns, pool, "host.example", &txt, &n, &ans, NULL), 0);
	assert_false(ans.nxdomain);
	assert_int_equal(
		mc_dns_txt(dns, pool, "nope.example", &txt, &n, &ans, NULL), 0);
	assert_true(ans.nxdomain);
	assert_int_equal(
		mc_dns_txt(dns, pool, "txt.example", &txt, &n, &ans, NULL), 1);
	assert_false(ans.nxdomain);
	assert_int_equal(
		mc_dns_tlsa(dns, pool, "bad name", &tlsa, &n, &ans, NULL), 0);
	assert_true(ans.nxdomain);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* PTR by IPv4 and IPv6 literal and by reverse name; absent; failed. */
static void test_mem_ptr(void **state)
{
	static const char v6rev[] = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
				    "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
	struct mc_dns *dns = mc_dns_memory_create();
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans;
	struct mc_error err = {0};
	const char *const *names;
	size_t n;

	(void)state;
	assert_int_equal(mc_dns_memory_add(dns, "1.2.0.192.in-addr.arpa", "PTR",
					   "Mail.Example."),
			 0);
	assert_int_equal(mc_dns_memory_add(dns, "1.2.0.192.in-addr.arpa", "PTR",
					   "other.example"),
			 0);
	assert_int_equal(mc_dns_memory_add(dns, v6rev, "PTR", "v6.example."),
			 0);
	assert_int_equal(
		mc_dns_memory_add(dns, "2.2.0.192.in-addr.arpa", "TXT", "x"),
		0);
	assert_int_equal(mc_dns_memory_add(dns, "x.example", "PTR", "a b"), -1);
	mc_dns_memory_fail(dns, "3.2.0.192.in-addr.arpa");
	assert_int_equal(
		mc_dns_ptr(dns, pool, "192.0.2.1", &names, &n, &ans, NULL), 1);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "mail.example");
	assert_string_equal(names[1], "other.example");
	assert_int_equal(mc_dns_ptr(dns, pool, "1.2.0.192.in-addr.arpa.",
				    &names, &n, &ans, NULL),
			 1);
	assert_int_equal(n, 2);
	assert_int_equal(
		mc_dns_ptr(dns, pool, "2001:db8::1", &names, &n, &ans, NULL),
		1);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "v6.example");
	assert_int_equal(mc_dns_ptr(dns, pool, v6rev, &names, &n, &ans, NULL),
			 1);
	assert_int_equal(
		mc_dns_ptr(dns, pool, "192.0.2.2", &names, &n, &ans, NULL), 0);
	assert_false(ans.nxdomain);
	assert_int_equal(
		mc_dns_ptr(dns, pool, "192.0.2.9", &names, &n, &ans, NULL), 0);
	assert_true(ans.nxdomain);
	assert_int_equal(n, 0);
	assert_int_equal(
		mc_dns_ptr(dns, pool, "192.0.2.3", &names, &n, &ans, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Malformed zone-file text is refused. */
static void test_mem_bad_records(void **state)
{
	static const char *const bad[][3] = {
		{"x.example", "A", "192.0.2"},
		{"x.example", "A", "::1"},
		{"x.example", "AAAA", "1.2.3.4"},
		{"x.example", "MX", "10"},
		{"x.example", "MX", "70000 a."},
		{"x.example", "MX", "a b"},
		{"x.example", "MX", "1 a..b"},
		{"x.example", "TXT", "\"open"},
		{"x.example", "TLSA", "3 1 1"},
		{"x.example", "TLSA", "3 1 1 abc"},
		{"x.example", "TLSA", "3 1 1 zz"},
		{"x.example", "SRV", "1 2 3 a."},
		{"a..b", "A", "192.0.2.1"},
	};
	struct mc_dns *dns = mc_dns_memory_create();
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_sockaddr *a;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			mc_dns_memory_add(dns, bad[i][0], bad[i][1], bad[i][2]),
			-1);
	assert_int_equal(mc_dns_addrs(dns, pool, "x.example", 25, false, &a, &n,
				      NULL, NULL),
			 0);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* ---- the libunbound backend against a real unbound ---- */

struct server {
	char dir[64];
	int port;
	pid_t pid;
};

static const char *const zone_data[] = {
	"multi.test. MX 20 low.test.",
	"multi.test. MX 10 Mixed.Case.Test.",
	"multi.test. MX 10 other.test.",
	"multi.test. MX 5 top.multi.test.",
	"nullmx.test. MX 0 .",
	"host.test. A 127.0.0.2",
	"host.test. A 127.0.0.3",
	"host.test. AAAA ::2",
	"txt.test. TXT \"v=spf1 \" \"-all\"",
	"_25._tcp.host.test. TLSA 3 1 1 " TLSA_HEX,
	"5.4.3.2.in-addr.arpa. PTR Ptr.Test.",
};

/* True when UDP port is free on 127.0.0.1 too. */
static bool udp_free(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Writes the unbound configuration for s into s->dir. */
static void write_config(const struct server *s, const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f,
		"server:\n interface: 127.0.0.1@%d\n port: %d\n"
		" do-daemonize: no\n chroot: \"\"\n username: \"\"\n"
		" pidfile: \"\"\n use-syslog: no\n logfile: \"\"\n"
		" directory: \"%s\"\n do-ip6: no\n num-threads: 1\n"
		" module-config: \"iterator\"\n local-zone: \"test.\" static\n",
		s->port, s->port, s->dir);
	for (size_t i = 0; i < sizeof(zone_data) / sizeof(zone_data[0]); i++)
		fprintf(f, " local-data: '%s'\n", zone_data[i]);
	fprintf(f, "remote-control:\n control-enable: no\n");
	assert_int_equal(fclose(f), 0);
}

/* True once something accepts TCP connections on 127.0.0.1:port. */
static bool tcp_up(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Forks unbound on s's config, its output in dir/unbound.log. */
static void spawn(struct server *s, const char *conf)
{
	char log[128];

	snprintf(log, sizeof(log), "%s/unbound.log", s->dir);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		freopen(log, "w", stderr);
		freopen("/dev/null", "w", stdout);
		execl(UNBOUND, "unbound", "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
}

/* Starts unbound on a free port; waits until it accepts connections. */
static int server_setup(void **state)
{
	struct server *s = mc_calloc(1, sizeof(*s));
	char conf[128];

	*state = s;
	if (access(UNBOUND, X_OK) != 0)
		return 0;
	assert_non_null(mc_test_mkdtemp(s->dir, sizeof(s->dir), "test-dns"));
	do
		s->port = mc_test_free_port();
	while (!udp_free(s->port));
	snprintf(conf, sizeof(conf), "%s/unbound.conf", s->dir);
	write_config(s, conf);
	spawn(s, conf);
	for (int i = 0; i < 500 && !tcp_up(s->port); i++)
		usleep(5000);
	assert_true(tcp_up(s->port));
	return 0;
}

/* Stops unbound and removes its directory. */
static int server_teardown(void **state)
{
	struct server *s = *state;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	if (s->dir[0] != '\0')
		mc_test_rmdir(s->dir);
	free(s);
	return 0;
}

/* A resolver forwarding to the test server (skips without unbound). */
static struct mc_dns *ub_resolver(void **state, unsigned timeout_ms)
{
	struct server *s = *state;
	char up[32];
	struct mc_error err = {0};
	struct mc_dns *dns;

	if (s->pid == 0)
		skip();
	snprintf(up, sizeof(up), "127.0.0.1:%d", s->port);
	dns = mc_dns_create(&(struct mc_dns_settings){.upstream = up,
						      .timeout_ms = timeout_ms},
			    &err);
	assert_non_null(dns);
	return dns;
}

/* MX from unbound: sorted, names uncompressed (top.multi.test is
 * compressed on the wire), lowercased; the null MX. */
static void test_ub_mx(void **state)
{
	static const unsigned prefs[] = {5, 10, 10, 20};
	static const char *const hosts[] = {"top.multi.test", NULL, NULL,
					    "low.test"};
	static const unsigned null_pref[] = {0};
	static const char *const null_host[] = {""};
	struct mc_dns *dns = ub_resolver(state, 2000);
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_dns_mx *mx;
	size_t n;

	assert_mx(dns, "multi.test", 4, prefs, hosts);
	assert_mx(dns, "nullmx.test.", 1, null_pref, null_host);
	assert_int_equal(
		mc_dns_mx(dns, pool, "Multi.Test", &mx, &n, NULL, NULL, NULL),
		1);
	assert_true(strcmp(mx[1].host, "mixed.case.test") == 0 ||
		    strcmp(mx[2].host, "mixed.case.test") == 0);
	assert_true(strcmp(mx[1].host, "other.test") == 0 ||
		    strcmp(mx[2].host, "other.test") == 0);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* NODATA and NXDOMAIN from unbound, told apart. */
static void test_ub_absent(void **state)
{
	struct mc_dns *dns = ub_resolver(state, 2000);
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_error err = {0};
	const struct mc_dns_mx *mx;
	const char *const *txt;
	size_t n;
	bool nx = true;

	assert_int_equal(
		mc_dns_mx(dns, pool, "host.test", &mx, &n, &nx, NULL, &err), 0);
	assert_false(nx);
	assert_int_equal(
		mc_dns_mx(dns, pool, "nope.test", &mx, &n, &nx, NULL, &err), 0);
	assert_true(nx);
	assert_int_equal(
		mc_dns_txt(dns, pool, "nope.test", &txt, &n, NULL, &err), 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* A, AAAA, TXT and TLSA from unbound. */
static void test_ub_records(void **state)
{
	static const uint8_t d1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
				       0xcd, 0xef, 0x01, 0x23, 0x45, 0x67,
				       0x89, 0xab, 0xcd, 0xef};
	struct mc_dns *dns = ub_resolver(state, 2000);
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans;
	const struct mc_sockaddr *a;
	const char *const *txt;
	const struct mc_dns_tlsa *tlsa;
	size_t n;

	assert_int_equal(mc_dns_addrs(dns, pool, "host.test", 25, true, &a, &n,
				      &ans, NULL),
			 1);
	assert_int_equal(n, 3);
	assert_false(ans.secure);
	assert_addr(&a[0], "[::2]:25");
	assert_true(strncmp(mc_addr_str(&a[1], (char[MC_ADDR_STR_MAX]){0}),
			    "127.0.0.", 8) == 0);
	assert_int_equal(
		mc_dns_txt(dns, pool, "txt.test", &txt, &n, &ans, NULL), 1);
	assert_int_equal(n, 1);
	assert_string_equal(txt[0], "v=spf1 -all");
	assert_int_equal(mc_dns_tlsa(dns, pool, "_25._tcp.host.test", &tlsa, &n,
				     &ans, NULL),
			 1);
	assert_int_equal(n, 1);
	assert_tlsa(&tlsa[0], 3, 1, 1, d1, sizeof(d1));
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* PTR and one-family lookups from unbound, NXDOMAIN in the answer. */
static void test_ub_ptr_family(void **state)
{
	struct mc_dns *dns = ub_resolver(state, 2000);
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_dns_answer ans;
	const struct mc_sockaddr *a;
	const char *const *names;
	size_t n;

	assert_int_equal(
		mc_dns_ptr(dns, pool, "2.3.4.5", &names, &n, &ans, NULL), 1);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "ptr.test");
	assert_int_equal(mc_dns_addrs_family(dns, pool, "host.test", AF_INET6,
					     &a, &n, &ans, NULL),
			 1);
	assert_int_equal(n, 1);
	assert_addr(&a[0], "[::2]:0");
	assert_int_equal(mc_dns_addrs_family(dns, pool, "txt.test", AF_INET, &a,
					     &n, &ans, NULL),
			 0);
	assert_false(ans.nxdomain);
	assert_int_equal(mc_dns_addrs_family(dns, pool, "nope.test", AF_INET,
					     &a, &n, &ans, NULL),
			 0);
	assert_true(ans.nxdomain);
	mc_pool_destroy(&pool);
	mc_dns_destroy(&dns);
}

/* Each thread's lookups against one shared resolver. */
static void *lookup_thread(void *arg)
{
	struct mc_dns *dns = arg;
	struct mc_pool *pool = mc_pool_create("t", 0);
	const struct mc_dns_mx *mx;
	const struct mc_sockaddr *a;
	size_t n, ok = 0;

	for (int i = 0; i < 25; i++) {
		ok += mc_dns_mx(dns, pool, "multi.test", &mx, &n, NULL, NULL,
				NULL) == 1 &&
		      n == 4 && mx[0].pref == 5;
		ok += mc_dns_addrs(dns, pool, "host.test", 25, false, &a, &n,
				   NULL, NULL) == 1 &&
		      n == 3;
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
	return (void *)ok;
}

/* Eight threads share one resolver; every lookup succeeds. */
static void test_ub_threads(void **state)
{
	struct mc_dns *dns = ub_resolver(state, 2000);
	pthread_t t[8];

	for (int i = 0; i < 8; i++)
		assert_int_equal(
			pthread_create(&t[i], NULL, lookup_thread, dns), 0);
	for (int i = 0; i < 8; i++) {
		void *ok;
		assert_int_equal(pthread_join(t[i], &ok), 0);
		assert_int_equal((size_t)ok, 50);
	}
	mc_dns_destroy(&dns);
}

/* CLOCK_MONOTONIC now in milliseconds. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A UDP socket on a free port that never answers; its fd. */
static int silent_socket(int *port_r)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

/* A silent upstream: -1 temporary after the 300 ms timeout, promptly. */
static void test_ub_timeout(void **state)
{
	struct mc_dns *good = ub_resolver(state, 2000), *dns;
	struct mc_pool *pool = mc_pool_create("t", 0);
	struct mc_error err = {0};
	const struct mc_dns_mx *mx;
	int port, fd = silent_socket(&port);
	char up[32];
	size_t n;

	snprintf(up, sizeof(up), "127.0.0.1:%d", port);
	dns = mc_dns_create(
		&(struct mc_dns_settings){.upstream = up, .timeout_ms = 300},
		&err);
	assert_non_null(dns);
	for (int i = 0; i < 2; i++) {
		int64_t t0 = now_ms();
		mc_error_clear(&err);
		assert_int_equal(mc_dns_mx(dns, pool, "multi.test", &mx, &n,
					   NULL, NULL, &err),
				 -1);
		int64_t took = now_ms() - t0;
		assert_int_equal(err.cls, MC_ERR_TEMPORARY);
		assert_true(took >= 250 && took < 1000);
	}
	assert_int_equal(
		mc_dns_mx(good, pool, "multi.test", &mx, &n, NULL, NULL, NULL),
		1);
	mc_dns_destroy(&dns);
	mc_dns_destroy(&good);
	close(fd);
	mc_pool_destroy(&pool);
}

/* Unusable settings are refused at creation. */
static void test_ub_bad_settings(void **state)
{
	static const char *const bad[] = {"localhost:53",    "127.0.0.1:0",
					  "127.0.0.1:99999", "[::1",
					  "1.2.3.4:x",	     ":53"};
	struct mc_dns *dns;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_error err = {0};
		dns = mc_dns_create(
			&(struct mc_dns_settings){.upstream = bad[i]}, &err);
		assert_null(dns);
		assert_int_equal(err.cls, MC_ERR_INVALID);
	}
	struct mc_error err = {0};
	dns = mc_dns_create(
		&(struct mc_dns_settings){.upstream = "[::1]:53",
					  .trust_anchor_file =
						  "/nonexistent/anchor"},
		&err);
	assert_null(dns);
	assert_non_null(strstr(err.msg, "/nonexistent/anchor"));
	dns = mc_dns_create(&(struct mc_dns_settings){.upstream = "[::1]:53"},
			    NULL);
	assert_non_null(dns);
	mc_dns_destroy(&dns);
}

#define UB_TEST(f)                                                             \
	cmocka_unit_test_setup_teardown(f, server_setup, server_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_mx_sorted),
		cmocka_unit_test(test_mem_mx_ties_shuffled),
		cmocka_unit_test(test_mem_null_mx),
		cmocka_unit_test(test_mem_nxdomain_nodata),
		cmocka_unit_test(test_mem_fail),
		cmocka_unit_test(test_mem_secure),
		cmocka_unit_test(test_mem_txt),
		cmocka_unit_test(test_mem_tlsa),
		cmocka_unit_test(test_mem_addrs),
		cmocka_unit_test(test_mem_addrs_family),
		cmocka_unit_test(test_mem_answer_nxdomain),
		cmocka_unit_test(test_mem_ptr),
		cmocka_unit_test(test_mem_bad_records),
		UB_TEST(test_ub_mx),
		UB_TEST(test_ub_absent),
		UB_TEST(test_ub_records),
		UB_TEST(test_ub_ptr_family),
		UB_TEST(test_ub_threads),
		UB_TEST(test_ub_timeout),
		cmocka_unit_test(test_ub_bad_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
