/* test-dkim: DKIM signing and verifying with keys in the dkim_keys format
 * (PKCS#8 PEM, p= as mc-dkim-keys publishes it) and key records in the
 * in-memory DNS, every signature checked by libopendkim: round trips for
 * RSA-2048, Ed25519 and both, tampering, unsigned mail, key and DNS
 * failures, chunked reads; the Ed25519 signer's canonicalization against
 * hand-made vectors, and its memory use over many messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-dkim.h"
#include "mailcore/mc-dns.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#define DOMAIN "example.test"

static const char message[] = "From: Alice <alice@example.test>\r\n"
			      "To: bob@example.net\r\n"
			      "Subject: a folded\r\n"
			      "\tsubject line\r\n"
			      "Date: Tue, 02 Dec 2025 10:00:00 +0000\r\n"
			      "Message-ID: <1@example.test>\r\n"
			      "X-Unsigned: whatever\r\n"
			      "\r\n"
			      "Hello Bob,\r\n"
			      "\r\n"
			      "two lines  with   blanks \r\n"
			      "\r\n\r\n";

/* A key as dkim_keys stores it. */
struct key {
	const char *alg; /* "rsa-2048" or "ed25519" */
	char *pem;	 /* PKCS#8 PEM */
	char *p;	 /* base64 p= */
};

static struct key rsa_key = {"rsa-2048", NULL, NULL};
static struct key ed_key = {"ed25519", NULL, NULL};

/* Base64 of data, no line breaks (caller frees). */
static char *b64(const unsigned char *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* p=: the DER SubjectPublicKeyInfo (RSA) or the raw key (Ed25519). */
static char *public_b64(EVP_PKEY *pkey, bool ed)
{
	unsigned char buf[1024], *p = buf;
	size_t len = sizeof(buf);
	if (ed)
		assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, buf, &len),
				 1);
	else
		len = (size_t)i2d_PUBKEY(pkey, &p);
	assert_true(len > 0 && len <= sizeof(buf));
	return b64(buf, len);
}

/* Generates k once, in the stored format of mc-dkim-keys. */
static const struct key *get_key(struct key *k)
{
	if (k->pem != NULL)
		return k;
	bool ed = strcmp(k->alg, "ed25519") == 0;
	EVP_PKEY *pkey =
		ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
		   : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(pkey);
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(
		PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL),
		1);
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	k->pem = mc_strndup(data, (size_t)n);
	BIO_free(bio);
	k->p = public_b64(pkey, ed);
	EVP_PKEY_free(pkey);
	return k;
}

/* A message in memory, read at most chunk bytes at a time. */
struct reader {
	const char *data;
	size_t len, chunk;
	bool fail;
};

/* The mc_dkim_read_fn of a struct reader. */
static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct reader *r = ctx;
	if (r->fail)
		return -1;
	if (offset >= r->len)
		return 0;
	size_t n = r->len - (size_t)offset;
	if (n > len)
		n = len;
	if (r->chunk > 0 && n > r->chunk)
		n = r->chunk;
	memcpy(buf, r->data + offset, n);
	return (ssize_t)n;
}

/* The test fixture: memory DNS, the DKIM handle, a pool. */
struct fx {
	struct mc_dns *dns;
	struct mc_dkim *dkim;
	struct mc_pool *pool;
};

static void fx_init(struct fx *fx)
{
	struct mc_error err = {0};
	fx->dns = mc_dns_memory_create();
	fx->dkim = mc_dkim_create(fx->dns, &err);
	assert_non_null(fx->dkim);
	fx->pool = mc_pool_create("test-dkim", 0);
}

static void fx_deinit(struct fx *fx)
{
	mc_dkim_destroy(&fx->dkim);
	assert_null(fx->dkim);
	mc_dns_destroy(&fx->dns);
	mc_pool_destroy(&fx->pool);
}

/* Publishes k under selector in the memory DNS. */
static void publish(struct fx *fx, const char *selector, const struct key *k)
{
	char name[256], txt[1024];
	snprintf(name, sizeof(name), "%s._domainkey." DOMAIN, selector);
	snprintf(txt, sizeof(txt), "v=DKIM1; k=%s; p=%s",
		 strcmp(k->alg, "ed25519") == 0 ? "ed25519" : "rsa", k->p);
	assert_int_equal(mc_dns_memory_add(fx->dns, name, "TXT", txt), 0);
}

/* The key entry of k for selector. */
static struct mc_dkim_key dkim_key(const struct key *k, const char *selector)
{
	return (struct mc_dkim_key){DOMAIN, selector, k->alg, k->pem};
}

/* Signs msg (read chunk bytes at a time) and returns the DKIM-Signature
 * fields (pool). */
static const char *sign_hdrs(struct fx *fx, const struct mc_dkim_key *keys,
			     size_t n, const char *msg, size_t chunk)
{
	struct reader r = {msg, strlen(msg), chunk, false};
	struct mc_error err = {0};
	const char *hdrs = NULL;
	assert_int_equal(mc_dkim_sign(fx->dkim, fx->pool, keys, n, mem_read, &r,
				      &hdrs, &err),
			 0);
	assert_non_null(hdrs);
	return hdrs;
}

/* Signs msg (read chunk bytes at a time) and returns the signed message
 * (pool). */
static char *sign(struct fx *fx, const struct mc_dkim_key *keys, size_t n,
		  const char *msg, size_t chunk)
{
	return mc_psprintf(fx->pool, "%s%s", sign_hdrs(fx, keys, n, msg, chunk),
			   msg);
}

/* Verifies msg; returns the signature count, results in *sigs_r. */
static size_t verify(struct fx *fx, const char *msg, size_t chunk,
		     const struct mc_dkim_sig **sigs_r)
{
	struct reader r = {msg, strlen(msg), chunk, false};
	struct mc_error err = {0};
	size_t count = 99;
	assert_int_equal(mc_dkim_verify(fx->dkim, fx->pool, mem_read, &r,
					sigs_r, &count, &err),
			 0);
	assert_non_null(*sigs_r);
	return count;
}

/* Replaces the first from in s (pool copy) by to, same length. */
static char *replace(struct fx *fx, const char *s, const char *from,
		     const char *to)
{
	char *copy = mc_pstrdup(fx->pool, s);
	char *at = strstr(copy, from);
	assert_non_null(at);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(at, to, strlen(to));
	return copy;
}

/* Asserts that every LF of s follows a CR. */
static void assert_crlf(const char *s)
{
	for (const char *p = strchr(s, '\n'); p != NULL;
	     p = strchr(p + 1, '\n'))
		assert_true(p > s && p[-1] == '\r');
}

/* The bh= values of the signatures at the start of s, joined (pool). */
static const char *body_hashes(struct fx *fx, const char *s)
{
	const char *out = "";
	for (const char *p = strstr(s, "bh="); p != NULL;
	     p = strstr(p + 1, "bh="))
		out = mc_psprintf(fx->pool, "%s %.*s", out,
				  (int)strcspn(p, ";"), p);
	assert_string_not_equal(out, "");
	return out;
}

/* One round trip of a table. */
struct trip {
	struct key *key;
	const char *selector, *alg;
};

static const struct trip trips[] = {
	{&rsa_key, "mc202512r", "rsa-sha256"},
	{&ed_key, "mc202512e", "ed25519-sha256"},
};

/* RSA-2048 and Ed25519 keys each sign; the published key verifies. */
static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(trips) / sizeof(trips[0]); i++) {
		struct fx fx;
		fx_init(&fx);
		const struct key *k = get_key(trips[i].key);
		publish(&fx, trips[i].selector, k);
		struct mc_dkim_key key = dkim_key(k, trips[i].selector);
		char *signed_msg = sign(&fx, &key, 1, message, 0);
		assert_int_equal(strncmp(signed_msg, "DKIM-Signature: ", 16),
				 0);
		assert_non_null(strstr(signed_msg, "c=relaxed/relaxed"));
		assert_crlf(signed_msg);
		const struct mc_dkim_sig *sigs;
		assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 1);
		assert_int_equal(sigs[0].result, MC_DKIM_PASS);
		assert_string_equal(sigs[0].domain, DOMAIN);
		assert_string_equal(sigs[0].selector, trips[i].selector);
		assert_string_equal(sigs[0].algorithm, trips[i].alg);
		assert_string_equal(sigs[0].reason, "");
		fx_deinit(&fx);
	}
}

/* Both keys: two header fields, both signatures pass. */
static void test_both_keys(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	publish(&fx, "e1", get_key(&ed_key));
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "r1"),
				     dkim_key(&ed_key, "e1")};
	char *signed_msg = sign(&fx, keys, 2, message, 0);
	char *second = strstr(signed_msg + 1, "\r\nDKIM-Signature: ");
	assert_non_null(second);
	assert_null(strstr(second + 3, "DKIM-Signature: "));
	assert_crlf(signed_msg);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 2);
	assert_string_equal(sigs[0].algorithm, "rsa-sha256");
	assert_string_equal(sigs[1].algorithm, "ed25519-sha256");
	assert_int_equal(sigs[0].result, MC_DKIM_PASS);
	assert_int_equal(sigs[1].result, MC_DKIM_PASS);
	fx_deinit(&fx);
}

/* A change after signing, and what it breaks. */
struct tamper {
	const char *from, *to;
};

static const struct tamper tampers[] = {
	{"Hello Bob", "Hello Bot"},	  /* body */
	{"subject line", "subject lime"}, /* signed header (Subject) */
	{"From: Alice", "From: Alica"},	  /* signed header (From) */
};

/* Every tampering makes every signature fail; an unsigned header may
 * change freely. */
static void test_tampered(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	publish(&fx, "e1", get_key(&ed_key));
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "r1"),
				     dkim_key(&ed_key, "e1")};
	char *signed_msg = sign(&fx, keys, 2, message, 0);
	const struct mc_dkim_sig *sigs;
	for (size_t i = 0; i < sizeof(tampers) / sizeof(tampers[0]); i++) {
		char *bad = replace(&fx, signed_msg, tampers[i].from,
				    tampers[i].to);
		assert_int_equal(verify(&fx, bad, 0, &sigs), 2);
		assert_int_equal(sigs[0].result, MC_DKIM_FAIL);
		assert_int_equal(sigs[1].result, MC_DKIM_FAIL);
		assert_string_not_equal(sigs[0].reason, "");
	}
	char *ok = replace(&fx, signed_msg, "whatever", "whenever");
	assert_int_equal(verify(&fx, ok, 0, &sigs), 2);
	assert_int_equal(sigs[0].result, MC_DKIM_PASS);
	assert_int_equal(sigs[1].result, MC_DKIM_PASS);
	fx_deinit(&fx);
}

/* A second From added after signing breaks the (oversigned) signature. */
static void test_added_from(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	struct mc_dkim_key key = dkim_key(&rsa_key, "r1");
	char *signed_msg = sign(&fx, &key, 1, message, 0);
	/* the extra From goes right before the body */
	char *body = strstr(signed_msg, "\r\n\r\n");
	assert_non_null(body);
	char *bad = mc_psprintf(fx.pool, "%.*s\r\nFrom: mallory@evil.test%s",
				(int)(body - signed_msg), signed_msg, body);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, bad, 0, &sigs), 1);
	assert_int_equal(sigs[0].result, MC_DKIM_FAIL);
	fx_deinit(&fx);
}

/* An unsigned message has no results; neither has an empty one. */
static void test_unsigned(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, message, 0, &sigs), 0);
	assert_int_equal(verify(&fx, "", 0, &sigs), 0);
	assert_int_equal(verify(&fx, "Subject: no body", 0, &sigs), 0);
	fx_deinit(&fx);
}

/* No key record: permerror; the resolver failing: temperror (never a
 * fail); other signatures of the message are still checked. */
static void test_key_lookup_failures(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "ok", get_key(&rsa_key));
	mc_dns_memory_fail(fx.dns, "down._domainkey." DOMAIN);
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "missing"),
				     dkim_key(&ed_key, "down"),
				     dkim_key(&rsa_key, "ok")};
	char *signed_msg = sign(&fx, keys, 3, message, 0);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 3);
	assert_int_equal(sigs[0].result, MC_DKIM_PERMERROR);
	assert_string_equal(sigs[0].selector, "missing");
	assert_non_null(strstr(sigs[0].reason, "missing._domainkey."));
	assert_int_equal(sigs[1].result, MC_DKIM_TEMPERROR);
	assert_string_equal(sigs[1].selector, "down");
	assert_int_equal(sigs[2].result, MC_DKIM_PASS);
	fx_deinit(&fx);
}

/* A record that is no usable key is a permerror. */
static void test_bad_key_record(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	assert_int_equal(mc_dns_memory_add(fx.dns, "r1._domainkey." DOMAIN,
					   "TXT", "v=DKIM1; k=rsa; p="),
			 0); /* revoked */
	assert_int_equal(mc_dns_memory_add(fx.dns, "r2._domainkey." DOMAIN,
					   "TXT", "v=DKIM1; k=rsa; p=AAAA"),
			 0);
	struct mc_dkim_key keys[] = {dkim_key(get_key(&rsa_key), "r1"),
				     dkim_key(&rsa_key, "r2")};
	char *signed_msg = sign(&fx, keys, 2, message, 0);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 2);
	assert_int_equal(sigs[0].result, MC_DKIM_PERMERROR);
	assert_int_equal(sigs[1].result, MC_DKIM_PERMERROR);
	fx_deinit(&fx);
}

/* Reads of 1, 7 and 1000 bytes sign and verify like whole reads, for a
 * body longer than the feeder's buffer too. */
static void test_small_chunks(void **state)
{
	(void)state;
	static const size_t chunks[] = {1, 7, 1000, 0};
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	publish(&fx, "e1", get_key(&ed_key));
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "r1"),
				     dkim_key(&ed_key, "e1")};
	char *big = mc_palloc(fx.pool, 40000);
	strcpy(big, message);
	for (int i = 0; i < 500; i++)
		strcat(big, "a line of body text, sixty bytes or so....\r\n");
	const char *whole = sign(&fx, keys, 2, big, 0);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		const char *s = sign(&fx, keys, 2, big, chunks[i]);
		const struct mc_dkim_sig *sigs;
		/* the body hashes do not depend on the chunking */
		assert_string_equal(body_hashes(&fx, s),
				    body_hashes(&fx, whole));
		for (size_t j = 0; j < sizeof(chunks) / sizeof(chunks[0]);
		     j++) {
			assert_int_equal(verify(&fx, s, chunks[j], &sigs), 2);
			assert_int_equal(sigs[0].result, MC_DKIM_PASS);
			assert_int_equal(sigs[1].result, MC_DKIM_PASS);
		}
	}
	fx_deinit(&fx);
}

/* The signed message with bare LF line ends (a file) still verifies. */
static void test_lf_message(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "e1", get_key(&ed_key));
	struct mc_dkim_key key = dkim_key(&ed_key, "e1");
	const char *s = sign(&fx, &key, 1, message, 0);
	char *lf = mc_pstrdup(fx.pool, s), *w = lf;
	for (const char *p = s; *p != '\0'; p++)
		if (*p != '\r')
			*w++ = *p;
	*w = '\0';
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, lf, 5, &sigs), 1);
	assert_int_equal(sigs[0].result, MC_DKIM_PASS);
	fx_deinit(&fx);
}

/* Only the first ten signatures are checked and reported. */
static void test_signature_limit(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	struct mc_dkim_key keys[12];
	char sel[12][8];
	for (int i = 0; i < 12; i++) {
		snprintf(sel[i], sizeof(sel[i]), "e%d", i);
		publish(&fx, sel[i], get_key(&ed_key));
		keys[i] = dkim_key(&ed_key, sel[i]);
	}
	const char *s = sign(&fx, keys, 12, message, 0);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, s, 0, &sigs), 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(sigs[i].result, MC_DKIM_PASS);
		assert_string_equal(sigs[i].selector, sel[i]);
	}
	fx_deinit(&fx);
}

/* A broken DKIM-Signature is reported (neutral), not dropped. */
static void test_malformed_signature(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	const char *s = mc_psprintf(
		fx.pool,
		"DKIM-Signature: v=1; a=rsa-sha256; d=" DOMAIN "; s=x;\r\n"
		"\tc=relaxed/relaxed; h=from; bh=; b=\r\n%s",
		message);
	const struct mc_dkim_sig *sigs;
	assert_int_equal(verify(&fx, s, 0, &sigs), 1);
	assert_true(sigs[0].result == MC_DKIM_NEUTRAL ||
		    sigs[0].result == MC_DKIM_PERMERROR);
	assert_string_not_equal(sigs[0].reason, "");
	fx_deinit(&fx);
}

/* Unusable keys and unreadable messages are errors of the right class. */
static void test_errors(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	struct mc_dkim_key bad[] = {
		{DOMAIN, "x", "dsa-1024", get_key(&rsa_key)->pem},
		{DOMAIN, "x", "rsa-2048",
		 "-----BEGIN PRIVATE KEY-----\nAAAA\n"
		 "-----END PRIVATE KEY-----\n"},
		{DOMAIN, "", "ed25519", get_key(&ed_key)->pem},
		{DOMAIN, "x", "ed25519", get_key(&rsa_key)->pem},
		{DOMAIN, "x", "ed25519",
		 "-----BEGIN PRIVATE KEY-----\nAAAA\n"
		 "-----END PRIVATE KEY-----\n"},
		{DOMAIN, "x; d=evil.test", "ed25519", get_key(&ed_key)->pem},
		{"evil.test\r\nX: y", "x", "rsa-2048", get_key(&rsa_key)->pem},
	};
	struct reader r = {message, strlen(message), 0, false};
	const char *hdrs = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_error err = {0};
		assert_int_equal(mc_dkim_sign(fx.dkim, fx.pool, &bad[i], 1,
					      mem_read, &r, &hdrs, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
	}
	assert_null(hdrs);
	struct mc_error err = {0};
	struct mc_dkim_key key = dkim_key(&rsa_key, "r1");
	r.fail = true;
	assert_int_equal(mc_dkim_sign(fx.dkim, fx.pool, &key, 1, mem_read, &r,
				      &hdrs, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	const struct mc_dkim_sig *sigs;
	size_t count;
	mc_error_clear(&err);
	assert_int_equal(mc_dkim_verify(fx.dkim, fx.pool, mem_read, &r, &sigs,
					&count, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	r.fail = false;
	assert_int_equal(mc_dkim_sign(fx.dkim, fx.pool, NULL, 0, mem_read, &r,
				      &hdrs, &err),
			 0);
	assert_string_equal(hdrs, "");
	fx_deinit(&fx);
}

/* The value of tag name in the DKIM-Signature field sig, all blanks and
 * line breaks removed (pool). */
static const char *sig_tag(struct fx *fx, const char *sig, const char *name)
{
	char *flat = mc_pstrdup(fx->pool, sig), *w = flat;
	for (const char *p = sig; *p != '\0'; p++)
		if (strchr(" \t\r\n", *p) == NULL)
			*w++ = *p;
	*w = '\0';
	char *key = mc_psprintf(fx->pool, ";%s=", name);
	char *at = strstr(flat, key);
	if (at == NULL && strncmp(flat, "DKIM-Signature:", 15) == 0 &&
	    strncmp(flat + 15, key + 1, strlen(key) - 1) == 0)
		at = flat + 14;
	assert_non_null(at);
	at += strlen(key);
	return mc_pstrndup(fx->pool, at, strcspn(at, ";"));
}

/* Decodes base64 s, expecting exactly len bytes, into out. */
static void unb64(const char *s, unsigned char *out, size_t len)
{
	unsigned char buf[256];
	size_t n = strlen(s);
	assert_true(n % 4 == 0 && n / 4 * 3 <= sizeof(buf));
	assert_int_equal(EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n),
			 (int)(n / 4 * 3));
	assert_int_equal(n / 4 * 3 - (s[n - 1] == '=') - (s[n - 2] == '='),
			 len);
	memcpy(out, buf, len);
}

/* Whether b64sig is the Ed25519 signature by k of the SHA-256 hash of
 * data (RFC 8463 3), checked with OpenSSL alone. */
static bool ed_verifies(const struct key *k, const char *data,
			const char *b64sig)
{
	unsigned char pub[32], sig[64], hash[32];
	unb64(k->p, pub, sizeof(pub));
	unb64(b64sig, sig, sizeof(sig));
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						     pub, sizeof(pub));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_non_null(pkey);
	assert_non_null(md);
	assert_int_equal(
		EVP_Digest(data, strlen(data), hash, NULL, EVP_sha256(), NULL),
		1);
	bool ok =
		EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
		EVP_DigestVerify(md, sig, sizeof(sig), hash, sizeof(hash)) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return ok;
}

/* A message, and by hand what an Ed25519 signature of it hashes: the
 * relaxed signed fields in h= order (bottom-up for repeated names, the
 * oversigned From adding nothing), h= and bh= (Python hashlib of the
 * relaxed body). */
struct vector {
	const char *msg, *fields, *h, *bh;
};

static const struct vector vectors[] = {
	{message,
	 "from:Alice <alice@example.test>\r\n"
	 "to:bob@example.net\r\n"
	 "subject:a folded subject line\r\n"
	 "date:Tue, 02 Dec 2025 10:00:00 +0000\r\n"
	 "message-id:<1@example.test>\r\n",
	 "From:To:Subject:Date:Message-ID:from",
	 "odVzRL+733culZ5iU4ogl5Owk/ZqvuLb3kKOMXwL/2Q="},
	{"TO: first@example.net\r\n"
	 "X-Other: not signed\r\n"
	 "Cc : not signed (libopendkim: no Cc)\r\n"
	 "Subject:  a \t b  \r\n"
	 "\t  c  \r\n"
	 "from:a@example.test\r\n"
	 "To:\tsecond@example.net \r\n"
	 "\r\n"
	 "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n",
	 "to:second@example.net\r\n"
	 "subject:a b c\r\n"
	 "from:a@example.test\r\n"
	 "to:first@example.net\r\n",
	 "TO:Subject:from:To:from",
	 "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="},
};

/* The Ed25519 signature covers exactly the hand-made canonical header
 * (RFC 6376 3.4.2, 3.7, 5.4.2) and body hash, and libopendkim agrees. */
static void test_ed25519_vectors(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	const struct key *k = get_key(&ed_key);
	publish(&fx, "e1", k);
	struct mc_dkim_key key = dkim_key(k, "e1");
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		const char *sig = sign_hdrs(&fx, &key, 1, v->msg, 3);
		assert_string_equal(sig_tag(&fx, sig, "h"), v->h);
		assert_string_equal(sig_tag(&fx, sig, "bh"), v->bh);
		const char *data = mc_psprintf(
			fx.pool,
			"%sdkim-signature:v=1; a=ed25519-sha256; "
			"c=relaxed/relaxed; d=" DOMAIN "; s=e1; t=%s; h=%s; "
			"bh=%s; b=",
			v->fields, sig_tag(&fx, sig, "t"), v->h, v->bh);
		const char *b = sig_tag(&fx, sig, "b");
		assert_true(ed_verifies(k, data, b));
		assert_false(ed_verifies(k, v->fields, b));
		const struct mc_dkim_sig *sigs;
		char *signed_msg = mc_psprintf(fx.pool, "%s%s", sig, v->msg);
		assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 1);
		assert_int_equal(sigs[0].result, MC_DKIM_PASS);
	}
	fx_deinit(&fx);
}

/* A body, and bh= of its relaxed form (Python hashlib); rsa: whether
 * libopendkim signs it too. */
struct body_vector {
	const char *body, *bh;
	bool rsa;
};

#define BH_RFC6376 "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
#define BH_EMPTY   "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static const struct body_vector bodies[] = {
	/* the example of RFC 6376 A.2, already relaxed */
	{"Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n",
	 BH_RFC6376, true},
	/* blank runs, trailing blanks, trailing (blank) empty lines */
	{"Hi. \t\r\n \r\nWe  lost\t the game. Are you hungry yet?\r\n\r\n"
	 "Joe.  \r\n\r\n \t\r\n\r\n",
	 BH_RFC6376, true},
	/* no CRLF at the end (libopendkim refuses such a message) */
	{"Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.",
	 BH_RFC6376, false},
	/* bare LF line ends, made CRLF */
	{"Hi.\n\nWe lost the game. Are you hungry yet?\n\nJoe.\n\n", BH_RFC6376,
	 true},
	/* an empty body, or only empty lines, is empty (RFC 6376 3.4.4) */
	{"", BH_EMPTY, true},
	{"\r\n \t\r\n\r\n", BH_EMPTY, true},
	/* a leading blank run is one SP; inner empty lines stay */
	{"  Hi.\r\n", "1tyWUfjHAq2QeuofPxRqopmAxzi4kKZJVtepqQ122oI=", true},
	{"\t Hi.  there\r\n\r\n\t x\r\n",
	 "GH+eNPUQCZ+yZVNCdyQzrfFedPO9+W5sk6JrtfGu4rg=", true},
};

/* The relaxed body hash of both signers is the hand-made one, for whole
 * and byte-at-a-time reads. */
static void test_body_hashes(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	struct mc_dkim_key keys[] = {dkim_key(get_key(&rsa_key), "r1"),
				     dkim_key(get_key(&ed_key), "e1")};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		const char *msg =
			mc_psprintf(fx.pool, "From: a@" DOMAIN "\r\n\r\n%s",
				    bodies[i].body);
		bool rsa = bodies[i].rsa;
		for (size_t chunk = 0; chunk < 2; chunk++) {
			const char *s = sign_hdrs(&fx, rsa ? keys : keys + 1,
						  rsa ? 2 : 1, msg, chunk);
			const char *ed =
				rsa ? strstr(s + 1, "DKIM-Signature:") : s;
			assert_non_null(ed);
			assert_string_equal(sig_tag(&fx, s, "bh"),
					    bodies[i].bh);
			assert_string_equal(sig_tag(&fx, ed, "bh"),
					    bodies[i].bh);
		}
	}
	fx_deinit(&fx);
}

/* Every signed name, twice, folded: both kinds sign the same fields (one
 * h=), and both verify; h= folds inside for Ed25519. */
static void test_many_headers(void **state)
{
	(void)state;
	static const char *const names[] = {"From",
					    "Sender",
					    "Reply-To",
					    "Subject",
					    "Date",
					    "Message-ID",
					    "To",
					    "Cc",
					    "MIME-Version",
					    "Content-Type",
					    "Content-Transfer-Encoding",
					    "In-Reply-To",
					    "References",
					    "List-Id",
					    "List-Unsubscribe",
					    "List-Unsubscribe-Post"};
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	publish(&fx, "e1", get_key(&ed_key));
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "r1"),
				     dkim_key(&ed_key, "e1")};
	char *msg = "";
	for (size_t i = 0; i < 2 * sizeof(names) / sizeof(names[0]); i++)
		msg = mc_psprintf(fx.pool, "%s%s:  value \t %zu\r\n", msg,
				  names[i % 16], i);
	msg = mc_psprintf(fx.pool, "%s\r\nbody\r\n", msg);
	const char *s = sign_hdrs(&fx, keys, 2, msg, 0);
	const char *ed = strstr(s + 1, "DKIM-Signature:");
	assert_non_null(ed);
	assert_string_equal(sig_tag(&fx, s, "h"), sig_tag(&fx, ed, "h"));
	assert_non_null(strstr(ed, ":\r\n\t"));
	for (const char *p = ed; (p = strstr(p, "\r\n")) != NULL; p += 2)
		assert_true(strcspn(p + 2, "\r") <= 78);
	const struct mc_dkim_sig *sigs;
	char *signed_msg = mc_psprintf(fx.pool, "%s%s", s, msg);
	assert_int_equal(verify(&fx, signed_msg, 0, &sigs), 2);
	assert_int_equal(sigs[0].result, MC_DKIM_PASS);
	assert_int_equal(sigs[1].result, MC_DKIM_PASS);
	char *bad = replace(&fx, signed_msg, "value \t 17", "value \t 71");
	assert_int_equal(verify(&fx, bad, 0, &sigs), 2);
	assert_int_equal(sigs[0].result, MC_DKIM_FAIL);
	assert_int_equal(sigs[1].result, MC_DKIM_FAIL);
	fx_deinit(&fx);
}

/* The heap bytes in use: ASan's count in a sanitizer build, else glibc's.
 */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));
static size_t heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes != NULL)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

/* Signing 1000 messages with an Ed25519 key keeps no memory (libopendkim
 * kept ~470 bytes of key per message); LeakSanitizer checks it too. */
static void test_ed25519_no_leak(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	struct mc_dkim_key key = dkim_key(get_key(&ed_key), "e1");
	struct reader r = {message, strlen(message), 0, false};
	size_t before = 0;
	for (int i = 0; i < 1020; i++) {
		const char *hdrs = NULL;
		struct mc_error err = {0};
		if (i == 20)
			before = heap_in_use();
		assert_int_equal(mc_dkim_sign(fx.dkim, fx.pool, &key, 1,
					      mem_read, &r, &hdrs, &err),
				 0);
		assert_int_equal(strncmp(hdrs,
					 "DKIM-Signature: v=1; "
					 "a=ed25519-sha256;",
					 37),
				 0);
		mc_pool_clear(fx.pool);
	}
	size_t after = heap_in_use();
	assert_true(after < before + 64 * 1024);
	fx_deinit(&fx);
}

/* What each worker thread of test_threads does. */
struct worker {
	struct fx *fx;
	const char *msg;
	int passes;
};

/* Signs and verifies a few times with the shared handle. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct mc_pool *pool = mc_pool_create("worker", 0);
	struct mc_dkim_key keys[] = {dkim_key(&rsa_key, "r1"),
				     dkim_key(&ed_key, "e1")};
	for (int i = 0; i < 5; i++) {
		struct reader r = {w->msg, strlen(w->msg), 100, false};
		const char *hdrs = NULL;
		const struct mc_dkim_sig *sigs;
		size_t n = 0;
		if (mc_dkim_sign(w->fx->dkim, pool, keys, 2, mem_read, &r,
				 &hdrs, NULL) < 0)
			continue;
		char *s = mc_psprintf(pool, "%s%s", hdrs, w->msg);
		struct reader v = {s, strlen(s), 100, false};
		if (mc_dkim_verify(w->fx->dkim, pool, mem_read, &v, &sigs, &n,
				   NULL) == 0 &&
		    n == 2 && sigs[0].result == MC_DKIM_PASS &&
		    sigs[1].result == MC_DKIM_PASS)
			w->passes++;
		mc_pool_clear(pool);
	}
	mc_pool_destroy(&pool);
	return NULL;
}

/* One struct mc_dkim serves several threads at once. */
static void test_threads(void **state)
{
	(void)state;
	struct fx fx;
	fx_init(&fx);
	publish(&fx, "r1", get_key(&rsa_key));
	publish(&fx, "e1", get_key(&ed_key));
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){&fx, message, 0};
		assert_int_equal(
			pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].passes, 5);
	}
	fx_deinit(&fx);
}

static void test_result_names(void **state)
{
	(void)state;
	static const struct {
		enum mc_dkim_result r;
		const char *name;
	} names[] = {
		{MC_DKIM_NONE, "none"},
		{MC_DKIM_PASS, "pass"},
		{MC_DKIM_FAIL, "fail"},
		{MC_DKIM_NEUTRAL, "neutral"},
		{MC_DKIM_TEMPERROR, "temperror"},
		{MC_DKIM_PERMERROR, "permerror"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(mc_dkim_result_name(names[i].r),
				    names[i].name);
}

/* Frees the generated keys at the end. */
static int free_keys(void **state)
{
	(void)state;
	struct key *keys[] = {&rsa_key, &ed_key};
	for (size_t i = 0; i < 2; i++) {
		if (keys[i]->pem != NULL)
			mc_secure_zero(keys[i]->pem, strlen(keys[i]->pem));
		free(keys[i]->pem);
		free(keys[i]->p);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_both_keys),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_added_from),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_key_lookup_failures),
		cmocka_unit_test(test_bad_key_record),
		cmocka_unit_test(test_small_chunks),
		cmocka_unit_test(test_lf_message),
		cmocka_unit_test(test_signature_limit),
		cmocka_unit_test(test_malformed_signature),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_ed25519_vectors),
		cmocka_unit_test(test_body_hashes),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_ed25519_no_leak),
		cmocka_unit_test(test_result_names),
	};
	return cmocka_run_group_tests(tests, NULL, free_keys);
}
