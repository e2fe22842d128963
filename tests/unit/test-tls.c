/* test-tls: server contexts from generated PEM files: protocol floor,
 * options, and errors that name the offending file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_cases),
		cmocka_unit_test(test_last_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
