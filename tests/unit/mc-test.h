/* mc-test: support shared by the unit tests: counters that threads bump
 * and the test thread waits on, a free loopback port, temporary
 * directories, a self-signed certificate written as PEM files, and the
 * MAILCORE_TEST_* environment. Failures are cmocka assertion failures. */
#ifndef MC_TEST_H
#define MC_TEST_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stddef.h>

/* Guards the counters; mc_test_cond is broadcast on every change. */
extern pthread_mutex_t mc_test_mutex;
extern pthread_cond_t mc_test_cond;

/* Waits (2 s at most) until *counter reaches target; fails otherwise. */
void mc_test_wait_for(const int *counter, int target);
/* Increments *counter under mc_test_mutex and wakes mc_test_wait_for(). */
void mc_test_bump(int *counter);

/* A loopback TCP port that was free a moment ago. */
int mc_test_free_port(void);

/* Creates /tmp/<name>.XXXXXX into buf; returns buf, or NULL (errno). */
char *mc_test_mkdtemp(char *buf, size_t size, const char *name);
/* Removes the files in dir, then dir itself (not recursive). */
void mc_test_rmdir(const char *dir);

/* A self-signed certificate for CN=localhost and key (caller frees). */
X509 *mc_test_self_signed(EVP_PKEY *key);
/* Writes key and/or cert (whichever is non-NULL) as PEM to dir/name. */
void mc_test_write_pem(const char *dir, const char *name, EVP_PKEY *key,
		       X509 *cert);
/* Writes a new P-256 key as dir/key.pem and its self-signed CN=localhost
 * certificate as dir/cert.pem; returns the certificate (caller frees). */
X509 *mc_test_write_cert_key(const char *dir);

/* A self-signed certificate for CN=cn carrying the DNS subjectAltNames of
 * the NULL-terminated list sans (no extension when NULL), valid for an
 * hour (caller frees). */
X509 *mc_test_cert_with_names(EVP_PKEY *key, const char *cn,
			      const char *const *sans);
/* Writes a new P-256 key as dir/<base>.key and its certificate from
 * mc_test_cert_with_names() as dir/<base>.pem; returns the certificate
 * (caller frees). */
X509 *mc_test_write_named_pair(const char *dir, const char *base,
			       const char *cn, const char *const *sans);

/* The environment variable name, or NULL when it is unset or empty. */
const char *mc_test_getenv(const char *name);

struct mc_pg;
struct mc_redis;

/* A fresh schema "mc_test_<prefix>_<pid>_<time>" (name written to schema)
 * with every migration applied, and a connection whose search_path is
 * it; NULL when MAILCORE_TEST_PG is unset (then skip()). */
struct mc_pg *mc_test_pg_schema(const char *prefix, char *schema, size_t size);
/* Another connection to that schema (NULL without MAILCORE_TEST_PG). */
struct mc_pg *mc_test_pg_connect_schema(const char *schema);
/* Drops the schema and the connection. */
void mc_test_pg_drop_schema(struct mc_pg **pg, const char *schema);
/* Runs SQL that must work (fails the test otherwise). */
void mc_test_sql(struct mc_pg *pg, const char *stmt);
/* The first value of a query that must work, as an integer (-1 without
 * rows). */
long long mc_test_num(struct mc_pg *pg, const char *q);
/* A (not yet connected) Redis client for MAILCORE_TEST_REDIS using
 * database db, or NULL when unset. */
struct mc_redis *mc_test_redis(unsigned db);

struct mc_imap_arg;
struct mc_pool;
/* IMAP arguments from text, as the parser would give them but without
 * it: atoms (a "[...]" section stays in its atom), "quoted", {n}\r\n
 * literals, (lists), NIL; from pool. Fails the test on bad text. */
struct mc_imap_arg *mc_test_imap_args(struct mc_pool *pool, const char *text,
				      size_t *count_r);

/* Runs fn(arg) in a forked child (stderr silenced) and asserts that the
 * child dies of SIGABRT. */
void mc_test_expect_abort(void (*fn)(const void *arg), const void *arg);

#endif
