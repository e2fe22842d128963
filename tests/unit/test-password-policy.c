/* test-password-policy: the domain password policy: the check of new
 * passwords (code-point length, classes, user name, control characters,
 * size), class names, expiry and reminders with exceptions, and the
 * generator, whose passwords must pass the check of every policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-password-policy.h"

#define DAY 86400

struct check_case {
	const char *password;
	unsigned int min_length, classes;
	const char *local_part;
	const char *reason; /* NULL: accepted; else the exact reason */
};

/* New passwords against policies: accepted, or the rule named. */
static void test_check(void **state)
{
	(void)state;
	static const struct check_case cases[] = {
		{"correct horse", 10, 0, "alice", NULL},
		{"short", 10, 0, "alice", "at least 10 characters"},
		{"elevenchars", 12, 0, NULL, "at least 12 characters"},
		{"twelve chars", 12, 0, NULL, NULL},
		{"", 0, 0, NULL, "at least 1 character"},
		{"x", 0, 0, NULL, NULL},
		/* 6 code points in 12 bytes: too short for 8 */
		{"\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f\xc3\xa9\xc3\xa8", 8, 0, NULL,
		 "at least 8 characters"},
		{"\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f\xc3\xa9\xc3\xa8", 6, 0, NULL,
		 NULL},
		{"\xf0\x9f\x94\x91\xf0\x9f\x94\x91\xf0\x9f\x94\x91", 3,
		 MC_PW_SYMBOL, NULL, NULL},
		{"abcdefghij", 6, MC_PW_DIGIT, NULL, "needs a digit"},
		{"abcdefghi1", 6, MC_PW_DIGIT, NULL, NULL},
		{"abcdefghi1", 6, MC_PW_UPPER, NULL,
		 "needs an upper-case letter"},
		{"ABCDEFGHI1", 6, MC_PW_LOWER, NULL,
		 "needs a lower-case letter"},
		{"abcdefghi1", 6, MC_PW_SYMBOL, NULL, "needs a symbol"},
		{"abcdef ghi", 6, MC_PW_SYMBOL, NULL, NULL},
		{"abcdef\xc3\xa9ghi", 6, MC_PW_SYMBOL, NULL, NULL},
		{"abcdefghij", 6, MC_PW_ALL, NULL,
		 "needs an upper-case letter, a digit and a symbol"},
		{"ABCDEFGHIJ", 6, MC_PW_LOWER | MC_PW_DIGIT, NULL,
		 "needs a lower-case letter and a digit"},
		{"!!!!!!!!!!", 6, MC_PW_ALL, NULL,
		 "needs a lower-case letter, an upper-case letter and a "
		 "digit"},
		{"aB3$efghij", 6, MC_PW_ALL, NULL, NULL},
		{"Alice.Smith", 6, 0, "alice.smith",
		 "must not be the same as the user name"},
		{"alice.smith1", 6, 0, "alice.smith", NULL},
		{"tab\there1", 6, 0, NULL,
		 "must not contain control characters"},
		{"del\x7fhere1", 6, 0, NULL,
		 "must not contain control characters"},
		{"c1\xc2\x85here1", 6, 0, NULL,
		 "must not contain control characters"},
		{"new\nline12", 6, 0, NULL,
		 "must not contain control characters"},
		{"bad\xffutf8xx", 6, 0, NULL, "not valid UTF-8"},
		{"overlong\xc0\xafxx", 6, 0, NULL, "not valid UTF-8"},
		{"surrogate\xed\xa0\x80x", 6, 0, NULL, "not valid UTF-8"},
		{"truncated\xe2\x82", 6, 0, NULL, "not valid UTF-8"},
		/* the length rule comes before the classes */
		{"ab", 6, MC_PW_DIGIT, NULL, "at least 6 characters"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		struct mc_password_policy policy;
		struct mc_error err;
		bool ok;

		mc_password_policy_init(&policy);
		policy.min_length = c->min_length;
		policy.classes = c->classes;
		mc_error_clear(&err);
		ok = mc_password_policy_check(c->password, &policy,
					      c->local_part, &err);
		if (c->reason == NULL) {
			if (!ok)
				fail_msg("case %zu refused: %s", i, err.msg);
			continue;
		}
		if (ok)
			fail_msg("case %zu accepted", i);
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_string_equal(err.msg, c->reason);
	}
}

/* At most 1024 bytes, however few code points that is. */
static void test_check_size(void **state)
{
	(void)state;
	struct mc_password_policy policy;
	struct mc_error err;
	char big[MC_PASSWORD_MAX_BYTES + 2];

	mc_password_policy_init(&policy);
	memset(big, 'a', MC_PASSWORD_MAX_BYTES);
	big[MC_PASSWORD_MAX_BYTES] = '\0';
	assert_true(mc_password_policy_check(big, &policy, NULL, NULL));
	big[MC_PASSWORD_MAX_BYTES] = 'a';
	big[MC_PASSWORD_MAX_BYTES + 1] = '\0';
	mc_error_clear(&err);
	assert_false(mc_password_policy_check(big, &policy, NULL, &err));
	assert_string_equal(err.msg, "at most 1024 bytes");
}

/* The schema defaults and the class names. */
static void test_defaults_and_names(void **state)
{
	(void)state;
	struct mc_password_policy policy;
	static const char *const names[] = {"lower", "upper", "digit",
					    "symbol"};

	mc_password_policy_init(&policy);
	assert_int_equal(policy.min_length, 10);
	assert_int_equal(policy.classes, 0);
	assert_int_equal(policy.max_age_days, 0);
	assert_int_equal(policy.reminder_days, 14);
	assert_int_equal(policy.n_exceptions, 0);
	for (unsigned int i = 0; i < 4; i++) {
		unsigned int bit = mc_password_policy_class_from_name(names[i]);
		assert_int_equal(bit, 1u << i);
		assert_string_equal(mc_password_policy_class_name(bit),
				    names[i]);
	}
	assert_int_equal(MC_PW_LOWER | MC_PW_UPPER | MC_PW_DIGIT | MC_PW_SYMBOL,
			 MC_PW_ALL);
	assert_int_equal(mc_password_policy_class_from_name("Lower"), 0);
	assert_int_equal(mc_password_policy_class_from_name("space"), 0);
	assert_null(mc_password_policy_class_name(0));
	assert_null(mc_password_policy_class_name(MC_PW_LOWER | MC_PW_UPPER));
}

struct expiry_case {
	unsigned int max_age, reminder;
	const char *local_part;
	int64_t now_offset;	/* seconds after the change */
	int64_t expires_offset; /* -1: expires_at is 0 */
	bool expired, reminder_due;
};

/* Expiry times, expired and reminder windows; exceptions never expire. */
static void test_expiry(void **state)
{
	(void)state;
	static const char *const exceptions[] = {"backup", "Scanner"};
	static const struct expiry_case cases[] = {
		{0, 14, "alice", 1000 * DAY, -1, false, false},
		{90, 14, "alice", 0, 90 * DAY, false, false},
		{90, 14, "alice", 76 * DAY - 1, 90 * DAY, false, false},
		{90, 14, "alice", 76 * DAY, 90 * DAY, false, true},
		{90, 14, "alice", 90 * DAY - 1, 90 * DAY, false, true},
		{90, 14, "alice", 90 * DAY, 90 * DAY, true, false},
		{90, 0, "alice", 90 * DAY - 1, 90 * DAY, false, false},
		{90, 14, "backup", 95 * DAY, -1, false, false},
		{90, 14, "SCANNER", 89 * DAY, -1, false, false},
		{90, 14, "scanner", 95 * DAY, -1, false, false},
		{90, 14, "backup2", 95 * DAY, 90 * DAY, true, false},
		{90, 14, NULL, 80 * DAY, 90 * DAY, false, true},
		{3650, 365, "alice", 3285 * DAY, 3650 * DAY, false, true},
	};
	const int64_t changed = 1700000000;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct expiry_case *c = &cases[i];
		struct mc_password_policy policy;
		int64_t now = changed + c->now_offset;
		int64_t want =
			c->expires_offset < 0 ? 0 : changed + c->expires_offset;

		mc_password_policy_init(&policy);
		policy.max_age_days = c->max_age;
		policy.reminder_days = c->reminder;
		policy.exceptions = exceptions;
		policy.n_exceptions = 2;
		assert_int_equal(mc_password_policy_expires_at(changed, &policy,
							       c->local_part),
				 want);
		assert_int_equal(mc_password_policy_expired(changed, &policy,
							    c->local_part, now),
				 c->expired);
		assert_int_equal(mc_password_policy_reminder_due(
					 changed, &policy, c->local_part, now),
				 c->reminder_due);
	}
}

/* True when c is one of the characters the generator must avoid. */
static bool ambiguous(char c)
{
	return strchr("0O1lI", c) != NULL;
}

/* 200 generated passwords pass the check of several policies: length
 * max(16, min_length), every class, no look-alikes, not all the same. */
static void test_generate(void **state)
{
	(void)state;
	static const struct {
		unsigned int min_length, classes;
	} policies[] = {
		{6, 0},
		{10, MC_PW_ALL},
		{16, MC_PW_DIGIT},
		{17, MC_PW_ALL},
		{32, MC_PW_UPPER | MC_PW_SYMBOL},
		{128, MC_PW_ALL},
	};
	char first[MC_PASSWORD_GEN_MAX + 1] = "";

	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		struct mc_password_policy policy;
		size_t want;
		bool differs = false;

		mc_password_policy_init(&policy);
		policy.min_length = policies[p].min_length;
		policy.classes = policies[p].classes;
		want = policy.min_length > 16 ? policy.min_length : 16;
		for (int i = 0; i < 200; i++) {
			char buf[MC_PASSWORD_GEN_MAX + 1];
			struct mc_error err;

			mc_error_clear(&err);
			assert_true(mc_password_policy_generate(&policy, buf,
								sizeof(buf)));
			assert_int_equal(strlen(buf), want);
			if (!mc_password_policy_check(buf, &policy, "alice",
						      &err))
				fail_msg("\"%s\" refused: %s", buf, err.msg);
			/* every class, whatever the policy asks */
			policy.classes = MC_PW_ALL;
			assert_true(mc_password_policy_check(buf, &policy, NULL,
							     NULL));
			policy.classes = policies[p].classes;
			for (size_t k = 0; buf[k] != '\0'; k++)
				assert_false(ambiguous(buf[k]));
			if (i == 0)
				strcpy(first, buf);
			else if (strcmp(first, buf) != 0)
				differs = true;
		}
		assert_true(differs);
	}
}

/* Refused: a buffer too small, a minimum past the generator's maximum. */
static void test_generate_limits(void **state)
{
	(void)state;
	struct mc_password_policy policy;
	char buf[MC_PASSWORD_GEN_MAX + 1];

	mc_password_policy_init(&policy);
	assert_false(mc_password_policy_generate(&policy, buf, 16));
	assert_true(mc_password_policy_generate(&policy, buf, 17));
	assert_int_equal(strlen(buf), 16);
	policy.min_length = MC_PASSWORD_GEN_MAX + 1;
	assert_false(mc_password_policy_generate(&policy, buf, sizeof(buf)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_check_size),
		cmocka_unit_test(test_defaults_and_names),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
