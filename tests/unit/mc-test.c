/* mc-test: the helpers of mc-test.h, linked into every unit test: waitable
 * counters, a free loopback port, temporary directories, self-signed
 * certificates as PEM files, the test environment, and expected aborts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-migrate.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-schema.h"

#include "mc-test.h"

pthread_mutex_t mc_test_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t mc_test_cond = PTHREAD_COND_INITIALIZER;

/* Waits (2 s at most) until *counter reaches target. */
void mc_test_wait_for(const int *counter, int target)
{
	struct timespec ts;
	int e = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	pthread_mutex_lock(&mc_test_mutex);
	while (*counter < target && e == 0)
		e = pthread_cond_timedwait(&mc_test_cond, &mc_test_mutex, &ts);
	pthread_mutex_unlock(&mc_test_mutex);
	assert_true(*counter >= target);
}

/* Increments a counter and wakes mc_test_wait_for(). */
void mc_test_bump(int *counter)
{
	pthread_mutex_lock(&mc_test_mutex);
	(*counter)++;
	pthread_cond_broadcast(&mc_test_cond);
	pthread_mutex_unlock(&mc_test_mutex);
}

/* A loopback port that was free a moment ago. */
int mc_test_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Creates /tmp/<name>.XXXXXX, its path in buf. */
char *mc_test_mkdtemp(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "/tmp/%s.XXXXXX", name);

	if (n < 0 || (size_t)n >= size)
		return NULL;
	return mkdtemp(buf);
}

/* Unlinks every entry of dir, then removes dir. */
void mc_test_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* A self-signed certificate for CN=localhost, valid for an hour. */
X509 *mc_test_self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* Writes a key or a certificate (whichever is non-NULL) as PEM. */
void mc_test_write_pem(const char *dir, const char *name, EVP_PKEY *key,
		       X509 *cert)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	if (key != NULL)
		assert_int_equal(
			PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL),
			1);
	if (cert != NULL)
		assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
}

/* dir/key.pem and dir/cert.pem; returns the certificate. */
X509 *mc_test_write_cert_key(const char *dir)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert;

	assert_non_null(key);
	cert = mc_test_self_signed(key);
	mc_test_write_pem(dir, "cert.pem", NULL, cert);
	mc_test_write_pem(dir, "key.pem", key, NULL);
	EVP_PKEY_free(key);
	return cert;
}

/* Adds the DNS names of sans to x as its subjectAltName extension. */
static void add_sans(X509 *x, const char *const *sans)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();

	assert_non_null(gens);
	for (; *sans != NULL; sans++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		assert_non_null(g);
		assert_non_null(s);
		assert_int_equal(ASN1_STRING_set(s, *sans, -1), 1);
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
					   X509V3_ADD_DEFAULT),
			 1);
	GENERAL_NAMES_free(gens);
}

/* A self-signed certificate for CN=cn with DNS subjectAltNames. */
X509 *mc_test_cert_with_names(EVP_PKEY *key, const char *cn,
			      const char *const *sans)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (sans != NULL)
		add_sans(x, sans);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* dir/<base>.key and dir/<base>.pem; returns the certificate. */
X509 *mc_test_write_named_pair(const char *dir, const char *base,
			       const char *cn, const char *const *sans)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char name[256];
	X509 *cert;

	assert_non_null(key);
	cert = mc_test_cert_with_names(key, cn, sans);
	snprintf(name, sizeof(name), "%s.pem", base);
	mc_test_write_pem(dir, name, NULL, cert);
	snprintf(name, sizeof(name), "%s.key", base);
	mc_test_write_pem(dir, name, key, NULL);
	EVP_PKEY_free(key);
	return cert;
}

/* getenv(), with an empty value counted as unset. */
const char *mc_test_getenv(const char *name)
{
	const char *value = getenv(name);

	return value == NULL || *value == '\0' ? NULL : value;
}

void mc_test_expect_abort(void (*fn)(const void *arg), const void *arg)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Opens a connection to MAILCORE_TEST_PG with search_path set. */
static struct mc_pg *pg_with_path(const char *conninfo, const char *schema)
{
	struct mc_pg_settings set = {.conninfo = conninfo};
	struct mc_pg *pg = mc_pg_create(&set);
	struct mc_error err = {0};
	char sql[160];

	snprintf(sql, sizeof(sql), "SET search_path TO %s", schema);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("%s", err.msg);
	return pg;
}

struct mc_pg *mc_test_pg_schema(const char *prefix, char *schema,
				size_t size)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	struct mc_error err = {0};
	char sql[160];

	if (conninfo == NULL)
		return NULL;
	snprintf(schema, size, "mc_test_%s_%ld_%ld", prefix, (long)getpid(),
		 (long)time(NULL));
	struct mc_pg *pg = pg_with_path(conninfo, "public");
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	if (mc_pg_exec_script(pg, sql, &err) < 0)
		fail_msg("%s", err.msg);
	mc_pg_destroy(&pg);
	pg = pg_with_path(conninfo, schema);
	if (mc_migrate_apply(pg, mc_schema_migrations,
			     mc_schema_migrations_count, NULL, NULL, &err) < 0)
		fail_msg("migrations: %s", err.msg);
	return pg;
}

void mc_test_pg_drop_schema(struct mc_pg **pg, const char *schema)
{
	struct mc_error err = {0};
	char sql[160];

	if (*pg == NULL)
		return;
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	(void)mc_pg_exec_script(*pg, sql, &err);
	mc_pg_destroy(pg);
}

struct mc_pg *mc_test_pg_connect_schema(const char *schema)
{
	const char *conninfo = mc_test_getenv("MAILCORE_TEST_PG");
	return conninfo == NULL ? NULL : pg_with_path(conninfo, schema);
}

struct mc_redis *mc_test_redis(unsigned db)
{
	const char *hostport = mc_test_getenv("MAILCORE_TEST_REDIS");
	char host[64];
	unsigned port = 0;

	if (hostport == NULL ||
	    sscanf(hostport, "%63[^:]:%u", host, &port) != 2)
		return NULL;
	struct mc_redis_settings set = {
		.host = host,
		.port = port,
		.password = mc_test_getenv("MAILCORE_TEST_REDIS_PASSWORD"),
		.db = db,
	};
	return mc_redis_create(&set);
}

/* The IMAP argument tree builder for the tests of the argument grammars. */
static struct mc_imap_arg *build_items(struct mc_pool *pool, const char **sp,
				       size_t *count_r);

/* A quoted string at *sp ("..." with \" and \\) into arg. */
static void build_quoted(struct mc_pool *pool, const char **sp,
			 struct mc_imap_arg *arg)
{
	const char *s = *sp + 1;
	char *out = mc_palloc(pool, strlen(s) + 1);
	size_t n = 0;

	for (; *s != '"'; s++) {
		assert_true(*s != '\0');
		if (*s == '\\')
			s++;
		out[n++] = *s;
	}
	arg->type = MC_IMAP_ARG_QUOTED;
	arg->str = out;
	arg->len = n;
	*sp = s + 1;
}

/* A literal {n}\r\n<n bytes> at *sp into arg. */
static void build_literal(struct mc_pool *pool, const char **sp,
			  struct mc_imap_arg *arg)
{
	char *end;
	size_t n = strtoul(*sp + 1, &end, 10);

	assert_memory_equal(end, "}\r\n", 3);
	arg->type = MC_IMAP_ARG_LITERAL;
	arg->str = mc_pstrndup(pool, end + 3, n);
	arg->len = n;
	*sp = end + 3 + n;
}

/* Skips a quoted string starting at s; returns its closing quote (or the
 * terminating NUL). */
static const char *skip_quoted(const char *s)
{
	for (s++; *s != '"' && *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
	}
	return s;
}

/* An atom; a "[...]" inside it (spaces, lists and quoted strings included)
 * stays part of it, as the real parser does for fetch-att syntax. */
static void build_atom(struct mc_pool *pool, const char **sp,
		       struct mc_imap_arg *arg)
{
	const char *s = *sp;
	int bracket = 0;

	for (; *s != '\0'; s++) {
		if (bracket > 0 && *s == '"')
			s = skip_quoted(s);
		else if (*s == '[')
			bracket++;
		else if (*s == ']' && bracket > 0)
			bracket--;
		else if (bracket == 0 && (*s == ' ' || *s == '(' || *s == ')'))
			break;
		if (*s == '\0')
			break;
	}
	arg->str = mc_pstrndup(pool, *sp, (size_t)(s - *sp));
	arg->len = (size_t)(s - *sp);
	arg->type = strcmp(arg->str, "NIL") == 0 ? MC_IMAP_ARG_NIL
						 : MC_IMAP_ARG_ATOM;
	*sp = s;
}

/* One argument at *sp. */
static void build_one(struct mc_pool *pool, const char **sp,
		      struct mc_imap_arg *arg)
{
	if (**sp == '(') {
		(*sp)++;
		arg->type = MC_IMAP_ARG_LIST;
		arg->list = build_items(pool, sp, &arg->list_count);
		assert_int_equal(**sp, ')');
		(*sp)++;
		arg->str = "";
	} else if (**sp == '"') {
		build_quoted(pool, sp, arg);
	} else if (**sp == '{') {
		build_literal(pool, sp, arg);
	} else {
		build_atom(pool, sp, arg);
	}
}

/* Arguments separated by blanks up to ")" or the end. */
static struct mc_imap_arg *build_items(struct mc_pool *pool, const char **sp,
				       size_t *count_r)
{
	struct mc_imap_arg *args =
		mc_palloc_array(pool, strlen(*sp) + 1, sizeof(*args));
	size_t n = 0;

	for (;;) {
		while (**sp == ' ')
			(*sp)++;
		if (**sp == '\0' || **sp == ')')
			break;
		build_one(pool, sp, &args[n++]);
	}
	*count_r = n;
	return args;
}

struct mc_imap_arg *mc_test_imap_args(struct mc_pool *pool, const char *text,
				 size_t *count_r)
{
	struct mc_imap_arg *args = build_items(pool, &text, count_r);

	assert_int_equal(*text, '\0');
	return args;
}

void mc_test_sql(struct mc_pg *pg, const char *stmt)
{
	struct mc_error err = {0};
	if (mc_pg_exec_script(pg, stmt, &err) < 0)
		fail_msg("%s: %s", stmt, err.msg);
}

long long mc_test_num(struct mc_pg *pg, const char *q)
{
	struct mc_error err = {0};
	PGresult *res = mc_pg_query(pg, q, 0, NULL, &err);
	if (res == NULL)
		fail_msg("%s: %s", q, err.msg);
	long long v = PQntuples(res) > 0
			      ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
			      : -1;
	PQclear(res);
	return v;
}
