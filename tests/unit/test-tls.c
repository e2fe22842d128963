/* test-tls: server contexts from generated PEM files: protocol floor,
 * options, and errors that name the offending file; per-domain
 * certificates picked by SNI, checked with real in-process handshakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-tls.h"

#include "mc-test.h"

static char dir[64];

/* Removes the temporary files at exit. */
static void cleanup(void)
{
	mc_test_rmdir(dir);
}

/* Creates cert.pem, key.pem, other.pem (another key) and garbage.pem once. */
static void make_files(void)
{
	EVP_PKEY *other;
	char path[128];
	FILE *f;

	if (dir[0] != '\0')
		return;
	assert_non_null(mc_test_mkdtemp(dir, sizeof(dir), "test-tls"));
	atexit(cleanup);
	X509_free(mc_test_write_cert_key(dir));
	other = EVP_EC_gen("P-256");
	assert_non_null(other);
	mc_test_write_pem(dir, "other.pem", other, NULL);
	snprintf(path, sizeof(path), "%s/garbage.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	EVP_PKEY_free(other);
}

/* "" and NULL stay as they are, other names go into the test dir. */
static const char *file(const char *name, char *buf, size_t size)
{
	if (name == NULL || *name == '\0')
		return name;
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

struct ctx_case {
	const char *cert, *key, *min_version;
	int want_version; /* 0: creation fails */
	enum mc_error_class cls;
	const char *want_msg;  /* substring of the message */
	const char *want_file; /* this file's full path is in the message */
};

static const struct ctx_case ctx_cases[] = {
	{"cert.pem", "key.pem", NULL, TLS1_2_VERSION, MC_ERR_NONE, "", NULL},
	{"cert.pem", "key.pem", "1.2", TLS1_2_VERSION, MC_ERR_NONE, "", NULL},
	{"cert.pem", "key.pem", "1.3", TLS1_3_VERSION, MC_ERR_NONE, "", NULL},
	{"cert.pem", "key.pem", "1.1", 0, MC_ERR_INVALID, "\"1.1\"", NULL},
	{"missing.pem", "key.pem", NULL, 0, MC_ERR_PERMANENT,
	 "cannot load certificate ", "missing.pem"},
	{"garbage.pem", "key.pem", NULL, 0, MC_ERR_PERMANENT,
	 "cannot load certificate ", "garbage.pem"},
	{"cert.pem", "missing.pem", NULL, 0, MC_ERR_PERMANENT,
	 "cannot load private key ", "missing.pem"},
	{"cert.pem", "other.pem", NULL, 0, MC_ERR_PERMANENT, "", "other.pem"},
	{"cert.pem", "cert.pem", NULL, 0, MC_ERR_PERMANENT,
	 "cannot load private key ", "cert.pem"},
	{"", "key.pem", NULL, 0, MC_ERR_INVALID,
	 "no TLS certificate configured", NULL},
	{NULL, "key.pem", NULL, 0, MC_ERR_INVALID,
	 "no TLS certificate configured", NULL},
	{"cert.pem", "", NULL, 0, MC_ERR_INVALID,
	 "no TLS certificate configured", NULL},
	{"cert.pem", NULL, NULL, 0, MC_ERR_INVALID,
	 "no TLS certificate configured", NULL},
};

/* A failed case: class, message, file named, OpenSSL queue left empty. */
static void check_failure(const struct ctx_case *c, const struct mc_error *err)
{
	char path[128];

	assert_int_equal(err->cls, c->cls);
	if (strstr(err->msg, c->want_msg) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err->msg, c->want_msg);
	if (c->want_file != NULL) {
		file(c->want_file, path, sizeof(path));
		if (strstr(err->msg, path) == NULL)
			fail_msg("\"%s\" does not name %s", err->msg, path);
		/* the file is followed by OpenSSL's reason */
		assert_null(strstr(err->msg, "unknown error"));
		assert_non_null(strstr(strstr(err->msg, path), ": "));
	}
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_ctx_cases(void **state)
{
	const long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			  SSL_OP_CIPHER_SERVER_PREFERENCE;
	char cbuf[128], kbuf[128];

	(void)state;
	make_files();
	for (size_t i = 0; i < sizeof(ctx_cases) / sizeof(ctx_cases[0]); i++) {
		const struct ctx_case *c = &ctx_cases[i];
		struct mc_tls_settings set = {file(c->cert, cbuf, sizeof(cbuf)),
					      file(c->key, kbuf, sizeof(kbuf)),
					      c->min_version};
		struct mc_error err;
		SSL_CTX *ctx;

		mc_error_clear(&err);
		ctx = mc_tls_server_ctx_create(&set, &err);
		if (c->want_version == 0) {
			assert_null(ctx);
			check_failure(c, &err);
			continue;
		}
		assert_non_null(ctx);
		assert_int_equal(err.cls, MC_ERR_NONE);
		assert_int_equal(SSL_CTX_get_min_proto_version(ctx),
				 c->want_version);
		assert_true((SSL_CTX_get_options(ctx) & opts) ==
			    (uint64_t)opts);
		assert_non_null(SSL_CTX_get0_certificate(ctx));
		SSL_CTX_free(ctx);
	}
}

static void test_last_error(void **state)
{
	char buf[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	(void)state;
	ERR_clear_error();
	assert_string_equal(mc_tls_last_error(buf, sizeof(buf)),
			    "unknown error");
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, "/nonexistent/x",
						      SSL_FILETYPE_PEM),
			 0);
	assert_int_not_equal(ERR_peek_error(), 0);
	mc_tls_last_error(buf, sizeof(buf));
	assert_true(buf[0] != '\0');
	assert_string_not_equal(buf, "unknown error");
	assert_int_equal(ERR_peek_error(), 0);
	/* a tiny buffer is still terminated */
	SSL_CTX_use_certificate_file(ctx, "/nonexistent/x", SSL_FILETYPE_PEM);
	assert_ptr_equal(mc_tls_last_error(buf, 4), buf);
	assert_true(strlen(buf) <= 3);
	SSL_CTX_free(ctx);
}

/* The SNI directories (the cleanup helper is not recursive). */
enum sni_dir {
	SNI_GOOD,
	SNI_WILD_ONLY,
	SNI_NOKEY,
	SNI_MISMATCH,
	SNI_BIG,
	SNI_NONAME,
	SNI_EMPTY,
	SNI_DIRS
};
static char sni_dirs[SNI_DIRS][64];

/* Which certificate a handshake should show. */
enum sni_want { WANT_DEFAULT, WANT_EXACT, WANT_WILD, WANT_CN_ONLY, WANT_N };
static X509 *sni_certs[WANT_N]; /* [WANT_DEFAULT] belongs to its context */

/* Removes the SNI directories at exit. */
static void sni_cleanup(void)
{
	for (int i = 0; i < SNI_DIRS; i++)
		mc_test_rmdir(sni_dirs[i]);
	for (int i = WANT_EXACT; i < WANT_N; i++)
		X509_free(sni_certs[i]);
}

/* Writes size bytes of junk as dir/name. */
static void write_junk(const char *dir, const char *name, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	assert_int_equal(fclose(f), 0);
}

/* Fills the SNI directories once: good (exact, wildcard, CN only, plus
 * files to ignore), wildcard only, and one per error. */
static void make_sni_files(void)
{
	static const char *const exact[] = {"mail.example.test",
					    "smtp.example.test", NULL};
	static const char *const wild[] = {"*.other.test", NULL};
	EVP_PKEY *other;
	char path[128];

	if (sni_dirs[0][0] != '\0')
		return;
	for (int i = 0; i < SNI_DIRS; i++)
		assert_non_null(mc_test_mkdtemp(
			sni_dirs[i], sizeof(sni_dirs[i]), "test-tls-sni"));
	atexit(sni_cleanup);
	/* the CN of a certificate with subjectAltNames is not used */
	sni_certs[WANT_EXACT] = mc_test_write_named_pair(
		sni_dirs[SNI_GOOD], "exact", "cn-ignored.example.test", exact);
	sni_certs[WANT_WILD] = mc_test_write_named_pair(
		sni_dirs[SNI_GOOD], "wild", "wild.other.test", wild);
	sni_certs[WANT_CN_ONLY] = mc_test_write_named_pair(
		sni_dirs[SNI_GOOD], "cnonly", "CN.Only.Test", NULL);
	write_junk(sni_dirs[SNI_GOOD], "orphan.key", 10);
	write_junk(sni_dirs[SNI_GOOD], ".hidden.pem", 10);
	write_junk(sni_dirs[SNI_GOOD], "README", 10);
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_WILD_ONLY], "w",
					   "w.other.test", wild));
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_NOKEY], "a", "a.test",
					   NULL));
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_NOKEY], "b", "b.test",
					   NULL));
	snprintf(path, sizeof(path), "%s/b.key", sni_dirs[SNI_NOKEY]);
	assert_int_equal(unlink(path), 0);
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_MISMATCH], "a",
					   "a.test", NULL));
	other = EVP_EC_gen("P-256");
	assert_non_null(other);
	mc_test_write_pem(sni_dirs[SNI_MISMATCH], "a.key", other, NULL);
	EVP_PKEY_free(other);
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_BIG], "a", "a.test",
					   NULL));
	write_junk(sni_dirs[SNI_BIG], "big.pem", 1024 * 1024 + 1);
	X509_free(mc_test_write_named_pair(sni_dirs[SNI_NONAME], "a",
					   "not a host name", NULL));
	write_junk(sni_dirs[SNI_BIG], "big.key", 10);
}

/* The default context (dir/cert.pem) with the good SNI directory. */
static SSL_CTX *sni_ctx(void)
{
	char cbuf[128], kbuf[128];
	struct mc_tls_settings set = {file("cert.pem", cbuf, sizeof(cbuf)),
				      file("key.pem", kbuf, sizeof(kbuf)),
				      NULL};
	struct mc_error err;
	SSL_CTX *ctx;

	make_files();
	make_sni_files();
	mc_error_clear(&err);
	ctx = mc_tls_server_ctx_create(&set, &err);
	assert_non_null(ctx);
	sni_certs[WANT_DEFAULT] = SSL_CTX_get0_certificate(ctx);
	if (mc_tls_sni_load(ctx, &set, sni_dirs[SNI_GOOD], &err) != 3)
		fail_msg("mc_tls_sni_load: %s", err.msg);
	assert_int_equal(err.cls, MC_ERR_NONE);
	return ctx;
}

/* One handshake step: true once done; fails on a hard error. */
static bool step(SSL *ssl)
{
	int r = SSL_do_handshake(ssl);
	int e;

	if (r == 1)
		return true;
	e = SSL_get_error(ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		fail_msg("handshake failed (%d)", e);
	return false;
}

/* Handshakes a client sending name (none when NULL) with sctx over a
 * socketpair, both ends in this thread; returns the certificate the
 * server presented (caller frees). */
static X509 *handshake(SSL_CTX *sctx, const char *name, int max_version)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	bool cdone = false, sdone = false;
	SSL *c, *s;
	X509 *peer;
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fcntl(fds[i], F_SETFL, O_NONBLOCK), 0);
	assert_non_null(cctx);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(cctx, max_version);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	SSL_set_fd(c, fds[0]);
	SSL_set_fd(s, fds[1]);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (name != NULL)
		assert_int_equal(SSL_set_tlsext_host_name(c, name), 1);
	for (int i = 0; i < 20 && !(cdone && sdone); i++) {
		cdone = cdone || step(c);
		sdone = sdone || step(s);
	}
	assert_true(cdone && sdone);
	peer = SSL_get1_peer_certificate(c);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	close(fds[0]);
	close(fds[1]);
	return peer;
}

/* Fails unless the server presented the wanted certificate. */
static void check_peer(X509 *peer, enum sni_want want, const char *name)
{
	char subject[256];

	assert_non_null(peer);
	if (X509_cmp(peer, sni_certs[want]) != 0)
		fail_msg("SNI \"%s\": got %s, want certificate %d",
			 name != NULL ? name : "(none)",
			 X509_NAME_oneline(X509_get_subject_name(peer), subject,
					   sizeof(subject)),
			 (int)want);
	X509_free(peer);
}

struct sni_case {
	const char *name; /* sent by the client; NULL: no SNI */
	enum sni_want want;
};

static const struct sni_case sni_cases[] = {
	{"mail.example.test", WANT_EXACT},
	{"smtp.example.test", WANT_EXACT},
	{"MAIL.Example.Test", WANT_EXACT},
	{"mail.example.test.", WANT_EXACT},
	{"a.other.test", WANT_WILD},
	{"Z-9.OTHER.test.", WANT_WILD},
	{"a.b.other.test", WANT_DEFAULT}, /* one label deep only */
	{"other.test", WANT_DEFAULT},
	{"cn.only.test", WANT_CN_ONLY},
	{"cn-ignored.example.test", WANT_DEFAULT},
	{"example.test", WANT_DEFAULT},
	{"x.mail.example.test", WANT_DEFAULT},
	{"unknown.test", WANT_DEFAULT},
	{"*.other.test", WANT_DEFAULT},
	{NULL, WANT_DEFAULT},
};

static void test_sni_select(void **state)
{
	static const int versions[] = {0, TLS1_2_VERSION};
	SSL_CTX *ctx = sni_ctx();

	(void)state;
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		for (size_t i = 0; i < sizeof(sni_cases) / sizeof(sni_cases[0]);
		     i++) {
			const struct sni_case *c = &sni_cases[i];

			check_peer(handshake(ctx, c->name, versions[v]),
				   c->want, c->name);
		}
	}
	SSL_CTX_free(ctx);
}

/* Loading again replaces the index; a failed load keeps the old one. */
static void test_sni_reload(void **state)
{
	SSL_CTX *ctx = sni_ctx();
	struct mc_tls_settings set = {NULL, NULL, NULL};
	struct mc_error err;
	char cn[64] = "";
	X509 *peer;

	(void)state;
	mc_error_clear(&err);
	assert_int_equal(
		mc_tls_sni_load(ctx, &set, sni_dirs[SNI_WILD_ONLY], &err), 1);
	check_peer(handshake(ctx, "mail.example.test", 0), WANT_DEFAULT,
		   "mail.example.test");
	peer = handshake(ctx, "a.other.test", 0);
	assert_non_null(peer);
	X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
				  cn, sizeof(cn));
	assert_string_equal(cn, "w.other.test");
	X509_free(peer);
	assert_int_equal(mc_tls_sni_load(ctx, &set, sni_dirs[SNI_EMPTY], &err),
			 0);
	check_peer(handshake(ctx, "a.other.test", 0), WANT_DEFAULT,
		   "a.other.test");
	assert_int_equal(mc_tls_sni_load(ctx, &set, sni_dirs[SNI_GOOD], &err),
			 3);
	assert_int_equal(mc_tls_sni_load(ctx, &set, sni_dirs[SNI_NOKEY], &err),
			 -1);
	check_peer(handshake(ctx, "mail.example.test", 0), WANT_EXACT,
		   "mail.example.test");
	SSL_CTX_free(ctx);
}

struct sni_err_case {
	enum sni_dir dir;      /* SNI_DIRS: a directory that does not exist */
	const char *want_file; /* in the message, with the directory */
	const char *want_msg;
};

static const struct sni_err_case sni_err_cases[] = {
	{SNI_NOKEY, "b.pem", "no key file"},
	{SNI_NOKEY, "b.key", "no key file"},
	{SNI_MISMATCH, "a.key", "private key"},
	{SNI_NONAME, "a.pem", "no usable DNS name"},
	{SNI_BIG, "big.pem", "larger than"},
	{SNI_DIRS, "", "cannot open"},
};

static void test_sni_errors(void **state)
{
	struct mc_tls_settings set = {NULL, NULL, "1.3"};
	char path[128];

	(void)state;
	make_sni_files();
	for (size_t i = 0; i < sizeof(sni_err_cases) / sizeof(sni_err_cases[0]);
	     i++) {
		const struct sni_err_case *c = &sni_err_cases[i];
		const char *d = c->dir == SNI_DIRS ? "/nonexistent/sni"
						   : sni_dirs[c->dir];
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
		struct mc_error err;

		mc_error_clear(&err);
		assert_int_equal(mc_tls_sni_load(ctx, &set, d, &err), -1);
		assert_int_equal(err.cls, MC_ERR_PERMANENT);
		snprintf(path, sizeof(path), "%s%s%s", d,
			 *c->want_file != '\0' ? "/" : "", c->want_file);
		if (strstr(err.msg, path) == NULL ||
		    strstr(err.msg, c->want_msg) == NULL)
			fail_msg("\"%s\" lacks %s or \"%s\"", err.msg, path,
				 c->want_msg);
		assert_int_equal(ERR_peek_error(), 0);
		SSL_CTX_free(ctx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_cases),
		cmocka_unit_test(test_last_error),
		cmocka_unit_test(test_sni_select),
		cmocka_unit_test(test_sni_reload),
		cmocka_unit_test(test_sni_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
