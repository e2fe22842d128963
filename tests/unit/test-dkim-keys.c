/* test-dkim-keys: DKIM key generation (RSA-2048, Ed25519), the p= value and
 * TXT record, selectors, the stored-key check, and a sign/verify round trip
 * proving the published key verifies signatures of the private one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-dkim-keys.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-tenants.h"

#define PEM_HEAD "-----BEGIN PRIVATE KEY-----\n"
#define PEM_TAIL "-----END PRIVATE KEY-----\n"

struct key {
	enum mc_dkim_algorithm alg;
	char *pem, *pub;
};

/* Generates a key of alg; fails the test otherwise. */
static struct key gen(enum mc_dkim_algorithm alg)
{
	struct key k = {.alg = alg};
	struct mc_error err = {0};
	assert_int_equal(mc_dkim_keys_generate(alg, &k.pem, &k.pub, &err), 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	return k;
}

static void key_free(struct key *k)
{
	mc_dkim_keys_free_secret(&k->pem);
	assert_null(k->pem);
	free(k->pub);
}

/* Decodes base64 b64 (no blanks) into a new buffer of *len_r bytes. */
static unsigned char *unb64(const char *b64, size_t *len_r)
{
	size_t len = strlen(b64);
	unsigned char *out = malloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	assert_true(n >= 0);
	n -= (len > 0 && b64[len - 1] == '=') +
	     (len > 1 && b64[len - 2] == '=');
	*len_r = (size_t)n;
	return out;
}

/* The public key DNS publishes, rebuilt from p= alone. */
static EVP_PKEY *published_key(enum mc_dkim_algorithm alg, const char *b64)
{
	size_t len;
	unsigned char *der = unb64(b64, &len);
	const unsigned char *p = der;
	EVP_PKEY *pkey = alg == MC_DKIM_ED25519
				 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
							       NULL, der, len)
				 : d2i_PUBKEY(NULL, &p, (long)len);
	free(der);
	assert_non_null(pkey);
	return pkey;
}

/* Both algorithms: PKCS#8 PEM that re-parses, p= of the right size. */
static void test_generate(void **state)
{
	static const struct {
		enum mc_dkim_algorithm alg;
		size_t pub_len; /* decoded p= bytes */
		const char *type;
	} cases[] = {
		{MC_DKIM_RSA_2048, 294, "RSA"}, /* DER SPKI of RSA-2048 */
		{MC_DKIM_ED25519, 32, "ED25519"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct key k = gen(cases[i].alg);
		size_t len, plen = strlen(k.pem);
		assert_true(strncmp(k.pem, PEM_HEAD, strlen(PEM_HEAD)) == 0);
		assert_true(plen > strlen(PEM_TAIL));
		assert_string_equal(k.pem + plen - strlen(PEM_TAIL), PEM_TAIL);
		assert_null(strpbrk(k.pub, " \t\r\n"));
		free(unb64(k.pub, &len));
		assert_int_equal(len, cases[i].pub_len);
		EVP_PKEY *pkey = NULL;
		assert_int_equal(mc_dkim_keys_check(cases[i].alg, k.pem, k.pub,
						    &pkey, NULL),
				 0);
		assert_true(EVP_PKEY_is_a(pkey, cases[i].type));
		EVP_PKEY_free(pkey);
		key_free(&k);
	}
}

/* Two keys of one algorithm differ. */
static void test_generate_fresh(void **state)
{
	(void)state;
	struct key a = gen(MC_DKIM_ED25519), b = gen(MC_DKIM_ED25519);
	assert_string_not_equal(a.pub, b.pub);
	assert_string_not_equal(a.pem, b.pem);
	key_free(&a);
	key_free(&b);
}

/* The check refuses what does not fit: another key's p=, the wrong
 * algorithm, a broken PEM, a p= that is not base64. */
static void test_check_mismatch(void **state)
{
	(void)state;
	struct key r = gen(MC_DKIM_RSA_2048);
	struct key e1 = gen(MC_DKIM_ED25519), e2 = gen(MC_DKIM_ED25519);
	char broken[64] = PEM_HEAD "QUJD\n" PEM_TAIL;
	const struct {
		enum mc_dkim_algorithm alg;
		const char *pem, *pub;
	} cases[] = {
		{MC_DKIM_ED25519, e1.pem, e2.pub},
		{MC_DKIM_ED25519, e1.pem, r.pub},
		{MC_DKIM_RSA_2048, r.pem, e1.pub},
		{MC_DKIM_RSA_2048, e1.pem, e1.pub},
		{MC_DKIM_ED25519, r.pem, r.pub},
		{MC_DKIM_ED25519, broken, e1.pub},
		{MC_DKIM_ED25519, "", e1.pub},
		{MC_DKIM_ED25519, e1.pem, "not base64!"},
		{MC_DKIM_ED25519, e1.pem, ""},
		{MC_DKIM_ED25519, e1.pem, "QUJD="},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mc_error err = {0};
		EVP_PKEY *pkey = NULL;
		assert_int_equal(mc_dkim_keys_check(cases[i].alg, cases[i].pem,
						    cases[i].pub, &pkey, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_null(pkey);
	}
	assert_int_equal(
		mc_dkim_keys_check(MC_DKIM_ED25519, e2.pem, e2.pub, NULL, NULL),
		0);
	key_free(&r);
	key_free(&e1);
	key_free(&e2);
}

/* Signs msg with the private key and verifies with the published one;
 * a changed message must not verify. */
static void round_trip(enum mc_dkim_algorithm alg)
{
	static const char msg[] = "from:a@example.com\r\nsubject:hi\r\n";
	struct key k = gen(alg);
	EVP_PKEY *priv = NULL, *pub = published_key(alg, k.pub);
	assert_int_equal(mc_dkim_keys_check(alg, k.pem, k.pub, &priv, NULL), 0);
	const EVP_MD *md = alg == MC_DKIM_ED25519 ? NULL : EVP_sha256();
	unsigned char sig[512];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, priv), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len,
					(const unsigned char *)msg,
					strlen(msg)),
			 1);
	assert_int_equal(sig_len, alg == MC_DKIM_ED25519 ? 64 : 256);
	for (int tamper = 0; tamper < 2; tamper++) {
		assert_int_equal(EVP_MD_CTX_reset(ctx), 1);
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub),
				 1);
		assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len,
						  (const unsigned char *)msg,
						  strlen(msg) - (size_t)tamper),
				 tamper ? 0 : 1);
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	key_free(&k);
}

static void test_sign_verify_rsa(void **state)
{
	(void)state;
	round_trip(MC_DKIM_RSA_2048);
}

static void test_sign_verify_ed25519(void **state)
{
	(void)state;
	round_trip(MC_DKIM_ED25519);
}

/* The TXT value has exactly the RFC 6376 / RFC 8463 shape. */
static void test_txt_value(void **state)
{
	(void)state;
	struct mc_error err = {0};
	char *v = mc_dkim_keys_txt_value(MC_DKIM_RSA_2048, "QUJDRA==", NULL);
	assert_string_equal(v, "v=DKIM1; k=rsa; p=QUJDRA==");
	free(v);
	v = mc_dkim_keys_txt_value(MC_DKIM_ED25519, "QUJD", NULL);
	assert_string_equal(v, "v=DKIM1; k=ed25519; p=QUJD");
	free(v);
	struct key k = gen(MC_DKIM_ED25519);
	v = mc_dkim_keys_txt_value(MC_DKIM_ED25519, k.pub, NULL);
	assert_int_equal(strlen(v), strlen("v=DKIM1; k=ed25519; p=") + 44);
	free(v);
	key_free(&k);
	assert_null(mc_dkim_keys_txt_value(MC_DKIM_RSA_2048, "a b", &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_null(mc_dkim_keys_txt_value(MC_DKIM_RSA_2048, "", NULL));
	assert_null(mc_dkim_keys_txt_value(MC_DKIM_RSA_2048, "QUJ;", NULL));
}

/* The record name and its refusals. */
static void test_dns_name(void **state)
{
	(void)state;
	struct mc_error err = {0};
	char long_dom[260];
	char *n = mc_dkim_keys_dns_name("mc202507r", "example.com", NULL);
	assert_string_equal(n, "mc202507r._domainkey.example.com");
	free(n);
	assert_null(mc_dkim_keys_dns_name("Bad", "example.com", &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	assert_null(mc_dkim_keys_dns_name("ok", "Example.com", NULL));
	assert_null(mc_dkim_keys_dns_name("ok", "localhost", NULL));
	/* 4 labels of 60 + ".com": valid alone, too long with the prefix */
	memset(long_dom, 'a', sizeof(long_dom));
	for (int i = 60; i < 243; i += 61)
		long_dom[i] = '.';
	strcpy(long_dom + 243, ".com");
	assert_true(mc_tenants_valid_domain(long_dom));
	n = mc_dkim_keys_dns_name("s", long_dom, NULL);
	assert_null(n);
}

/* Selector syntax: ^[a-z0-9][a-z0-9-]{0,62}$, no trailing hyphen. */
static void test_valid_selector(void **state)
{
	static const struct {
		const char *sel;
		bool ok;
	} cases[] = {
		{"mc202507r", true}, {"a", true},    {"0", true},
		{"s-1", true},	     {"", false},    {"-a", false},
		{"a-", false},	     {"A", false},   {"a_b", false},
		{"a.b", false},	     {"a b", false}, {"é", false},
	};
	char max[80];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_dkim_keys_valid_selector(cases[i].sel),
				 cases[i].ok);
	memset(max, 'a', sizeof(max));
	max[63] = '\0';
	assert_true(mc_dkim_keys_valid_selector(max));
	max[63] = 'a';
	max[64] = '\0';
	assert_false(mc_dkim_keys_valid_selector(max));
}

/* Generated selectors: month in UTC, per-algorithm letter, sequence. */
static void test_selector(void **state)
{
	static const struct {
		enum mc_dkim_algorithm alg;
		time_t now;
		unsigned seq;
		const char *want;
	} cases[] = {
		{MC_DKIM_RSA_2048, 1752537600, 0, "mc202507r"},
		{MC_DKIM_ED25519, 1752537600, 0, "mc202507e"},
		{MC_DKIM_RSA_2048, 1767225599, 0, "mc202512r"},
		{MC_DKIM_ED25519, 1767225600, 0, "mc202601e"},
		{MC_DKIM_RSA_2048, 1752537600, 1, "mc202507r-2"},
		{MC_DKIM_ED25519, 1752537600, 9, "mc202507e-10"},
	};
	char buf[MC_DKIM_SELECTOR_MAX + 1];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = mc_dkim_keys_selector(cases[i].alg, cases[i].now,
						cases[i].seq, buf, sizeof(buf));
		assert_ptr_equal(s, buf);
		assert_string_equal(s, cases[i].want);
		assert_true(mc_dkim_keys_valid_selector(s));
	}
}

/* Algorithm names as the schema spells them. */
static void test_algorithm_names(void **state)
{
	(void)state;
	enum mc_dkim_algorithm alg = MC_DKIM_RSA_2048;
	struct mc_error err = {0};
	assert_string_equal(mc_dkim_keys_algorithm_name(MC_DKIM_RSA_2048),
			    "rsa-2048");
	assert_string_equal(mc_dkim_keys_algorithm_name(MC_DKIM_ED25519),
			    "ed25519");
	assert_string_equal(mc_dkim_keys_k_tag(MC_DKIM_RSA_2048), "rsa");
	assert_int_equal(mc_dkim_keys_algorithm_parse("ed25519", &alg, NULL),
			 0);
	assert_int_equal(alg, MC_DKIM_ED25519);
	assert_int_equal(mc_dkim_keys_algorithm_parse("rsa-2048", &alg, NULL),
			 0);
	assert_int_equal(alg, MC_DKIM_RSA_2048);
	assert_int_equal(mc_dkim_keys_algorithm_parse("rsa", &alg, &err), -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_fresh),
		cmocka_unit_test(test_check_mismatch),
		cmocka_unit_test(test_sign_verify_rsa),
		cmocka_unit_test(test_sign_verify_ed25519),
		cmocka_unit_test(test_txt_value),
		cmocka_unit_test(test_dns_name),
		cmocka_unit_test(test_valid_selector),
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_algorithm_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
