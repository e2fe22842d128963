/* test-password: hashing round trips for every scheme, verification of
 * fixed known-answer hashes (published vectors where they exist),
 * malformed and unknown hashes, scheme names and needs_rehash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-password.h"

/* Known answers. sha512-crypt is Drepper's specification vector, bcrypt
 * the OpenBSD/Openwall "U*U" vector, Argon2id the reference
 * implementation's test vector; yescrypt and $2b$ were generated once
 * with libxcrypt. */
static const struct {
	const char *password;
	const char *hash;
	enum mc_password_scheme scheme;
} kat[] = {
	{"Hello world!",
	 "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJ"
	 "uesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	 MC_PW_SHA512_CRYPT},
	{"U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	 MC_PW_BCRYPT},
	{"correct horse",
	 "$2b$10$gkjlXrh.0wX8g7ZTrljAnuLerxpBGMi4OeGaxGzLHwKe7ElxeOosS",
	 MC_PW_BCRYPT},
	{"correct horse",
	 "$y$j9T$na6WpG4wL9sfqN2/Er5J3/$6cTzmNaP9wAXiMGqtsZQml17ZPDXYIJ1pwm1"
	 "md.UCH8",
	 MC_PW_YESCRYPT},
	{"password",
	 "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y"
	 "7cJHAph8ArZWb2GRPPc",
	 MC_PW_ARGON2ID},
};

static const enum mc_password_scheme all_schemes[] = {
	MC_PW_YESCRYPT,
	MC_PW_BCRYPT,
	MC_PW_SHA512_CRYPT,
	MC_PW_ARGON2ID,
};

static const char *const prefixes[] = {"$y$", "$2b$", "$6$", "$argon2id$"};

/* Each scheme hashes to its own prefix and verifies right and wrong. */
static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct mc_error err;
		char *hash;

		mc_error_clear(&err);
		hash = mc_password_hash("s3cret pässword", all_schemes[i],
					&err);
		assert_non_null(hash);
		assert_int_equal(err.cls, MC_ERR_NONE);
		assert_true(strncmp(hash, prefixes[i], strlen(prefixes[i])) ==
			    0);
		assert_int_equal(
			mc_password_verify("s3cret pässword", hash, &err), 1);
		assert_int_equal(
			mc_password_verify("s3cret password", hash, &err), 0);
		assert_int_equal(err.cls, MC_ERR_NONE);
		free(hash);
	}
}

/* Two hashes of the same password differ (fresh salts). */
static void test_salted(void **state)
{
	char *a = mc_password_hash("x", MC_PW_SHA512_CRYPT, NULL);
	char *b = mc_password_hash("x", MC_PW_SHA512_CRYPT, NULL);

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* Fixed hashes verify with their password and not with another. */
static void test_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		enum mc_password_scheme scheme;
		struct mc_error err;

		mc_error_clear(&err);
		assert_true(mc_password_hash_scheme(kat[i].hash, &scheme));
		assert_int_equal(scheme, kat[i].scheme);
		assert_int_equal(
			mc_password_verify(kat[i].password, kat[i].hash, &err),
			1);
		assert_int_equal(mc_password_verify("wrong", kat[i].hash, &err),
				 0);
		assert_int_equal(err.cls, MC_ERR_NONE);
	}
}

/* Malformed, truncated and unsupported hashes are -1, INVALID, and the
 * message never repeats the hash or the password. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"plaintext",
		"$6$",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFN"
		"jnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1extra",
		"$y$j9T$",
		"$2b$10$short",
		"$2b$99$gkjlXrh.0wX8g7ZTrljAnuLerxpBGMi4OeGaxGzLHwKe7ElxeOosS",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$",
		"$argon2id$garbage",
		"$argon2i$v=19$m=4096,t=3,p=1$bWFpbGNvcmVzYWx0MDAwMQ$"
		"jbWW0hrr3gl"
		"BMdTxNHLSjCso1O5ZLhuqBX8F6dNNqnY",
		"$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"abJnggxhB/yWI",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_error err;

		mc_error_clear(&err);
		assert_int_equal(mc_password_verify("secretpw", bad[i], &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_string_equal(err.msg,
				    "unsupported or malformed password hash");
	}
	assert_int_equal(mc_password_verify("x", NULL, NULL), -1);
}

/* Scheme names parse and print both ways; unknown names are refused. */
static void test_scheme_names(void **state)
{
	static const char *const names[] = {"yescrypt", "bcrypt",
					    "sha512-crypt", "argon2id"};
	enum mc_password_scheme scheme;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		assert_true(mc_password_scheme_parse(names[i], &scheme));
		assert_int_equal(scheme, all_schemes[i]);
		assert_string_equal(mc_password_scheme_name(all_schemes[i]),
				    names[i]);
	}
	assert_false(mc_password_scheme_parse("md5", &scheme));
	assert_false(mc_password_scheme_parse("", &scheme));
	assert_false(mc_password_scheme_parse("Bcrypt", &scheme));
}

/* Stored hash prefixes map to schemes. */
static void test_hash_scheme(void **state)
{
	static const struct {
		const char *hash;
		bool ok;
		enum mc_password_scheme scheme;
	} cases[] = {
		{"$y$j9T$abc", true, MC_PW_YESCRYPT},
		{"$2b$10$abc", true, MC_PW_BCRYPT},
		{"$2a$10$abc", true, MC_PW_BCRYPT},
		{"$2y$10$abc", true, MC_PW_BCRYPT},
		{"$6$abc$def", true, MC_PW_SHA512_CRYPT},
		{"$argon2id$v=19$", true, MC_PW_ARGON2ID},
		{"$argon2i$v=19$", false, 0},
		{"$5$abc$def", false, 0},
		{"$1$abc$def", false, 0},
		{"", false, 0},
	};
	enum mc_password_scheme scheme;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			mc_password_hash_scheme(cases[i].hash, &scheme),
			cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(scheme, cases[i].scheme);
	}
	assert_false(mc_password_hash_scheme(NULL, &scheme));
}

/* Only hashes of another (or no known) scheme need rehashing. */
static void test_needs_rehash(void **state)
{
	(void)state;
	assert_false(mc_password_needs_rehash(kat[3].hash, MC_PW_YESCRYPT));
	assert_true(mc_password_needs_rehash(kat[0].hash, MC_PW_YESCRYPT));
	assert_true(mc_password_needs_rehash(kat[1].hash, MC_PW_YESCRYPT));
	assert_true(mc_password_needs_rehash(kat[4].hash, MC_PW_YESCRYPT));
	assert_false(mc_password_needs_rehash(kat[4].hash, MC_PW_ARGON2ID));
	assert_false(mc_password_needs_rehash(kat[2].hash, MC_PW_BCRYPT));
	assert_true(mc_password_needs_rehash("plaintext", MC_PW_BCRYPT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_salted),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_scheme_names),
		cmocka_unit_test(test_hash_scheme),
		cmocka_unit_test(test_needs_rehash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
