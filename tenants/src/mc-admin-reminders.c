/* mc-admin-reminders: password expiry reminders for maintenance. Users
 * whose password expires within their domain's reminder days are claimed
 * one at a time in PostgreSQL (users.pw_reminded_at), then get a short
 * auto-generated message (RFC 3834) stored into their INBOX through the
 * message store, with the new-mail notification a delivery publishes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-date.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-password-policy.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-tenants.h"
#include "mc-admin-reminders.h"

#define NUM	 24
#define DAY_SECS "86400"

/* A user claimed for a reminder. */
struct due {
	int64_t tenant_id, user_id, domain_id;
	char local[MC_LOCAL_PART_MAX + 1];
	char domain[MC_DOMAIN_MAX + 1];
	char address[MC_ADDRESS_MAX + 1];
	int64_t changed_at; /* Unix time of the password */
	unsigned max_age_days, reminder_days;
};

/* Claims the next due user after (tenant, user) in key order, skipping
 * rows another run holds: the same rule as mc_password_policy_reminder_due
 * (in whole seconds, no daylight-saving days), exceptions excluded. */
static const char sql_claim[] =
	"WITH due AS (SELECT u.tenant_id, u.id FROM users u JOIN domains d "
	"ON d.tenant_id = u.tenant_id AND d.id = u.domain_id JOIN tenants t "
	"ON t.id = u.tenant_id WHERE (u.tenant_id, u.id) > ($1::bigint, "
	"$2::bigint) AND u.status = 'active' AND d.status = 'active' AND "
	"(d.expires_at IS NULL OR d.expires_at > now()) AND t.status = "
	"'active' AND d.pw_max_age_days > 0 AND d.pw_reminder_days > 0 AND "
	"NOT lower(u.local_part) = ANY (SELECT lower(x) FROM "
	"unnest(d.pw_exceptions) x) AND now() < u.password_changed_at + "
	"d.pw_max_age_days * " DAY_SECS " * interval '1 second' AND now() >= "
	"u.password_changed_at + (d.pw_max_age_days - d.pw_reminder_days) "
	"* " DAY_SECS " * interval '1 second' AND (u.pw_reminded_at IS NULL OR "
	"u.pw_reminded_at < u.password_changed_at) ORDER BY u.tenant_id, "
	"u.id LIMIT 1 FOR UPDATE OF u SKIP LOCKED) "
	"UPDATE users u SET pw_reminded_at = now() FROM due, domains d "
	"WHERE u.tenant_id = due.tenant_id AND u.id = due.id AND "
	"d.tenant_id = u.tenant_id AND d.id = u.domain_id RETURNING "
	"u.tenant_id, u.id, u.domain_id, u.local_part, d.name, "
	"floor(extract(epoch FROM u.password_changed_at))::bigint, "
	"d.pw_max_age_days, d.pw_reminder_days";

/* Column c of row 0 as an integer. */
static int64_t col_int(const PGresult *res, int c)
{
	return strtoll(PQgetvalue(res, 0, c), NULL, 10);
}

/* Claims the next due user after *due's key (0, 0 at first) into *due:
 * 1 claimed, 0 none left, -1. */
static int claim_next(struct mc_pg *pg, struct due *due, struct mc_error *err)
{
	char t[NUM], u[NUM];
	snprintf(t, sizeof(t), "%lld", (long long)due->tenant_id);
	snprintf(u, sizeof(u), "%lld", (long long)due->user_id);
	const char *params[] = {t, u};
	PGresult *res = mc_pg_query(pg, sql_claim, 2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		due->tenant_id = col_int(res, 0);
		due->user_id = col_int(res, 1);
		due->domain_id = col_int(res, 2);
		snprintf(due->local, sizeof(due->local), "%s",
			 PQgetvalue(res, 0, 3));
		snprintf(due->domain, sizeof(due->domain), "%s",
			 PQgetvalue(res, 0, 4));
		snprintf(due->address, sizeof(due->address), "%s@%s",
			 due->local, due->domain);
		due->changed_at = col_int(res, 5);
		due->max_age_days = (unsigned)col_int(res, 6);
		due->reminder_days = (unsigned)col_int(res, 7);
	}
	PQclear(res);
	return found;
}

/* Gives a claimed user back (its reminder was not stored): a later run
 * tries again. Best effort. */
static void release(struct mc_pg *pg, const struct due *due)
{
	char t[NUM], u[NUM];
	snprintf(t, sizeof(t), "%lld", (long long)due->tenant_id);
	snprintf(u, sizeof(u), "%lld", (long long)due->user_id);
	const char *params[] = {t, u};
	struct mc_error err = {0};
	if (mc_pg_exec(pg,
		       "UPDATE users SET pw_reminded_at = NULL WHERE "
		       "tenant_id = $1 AND id = $2",
		       2, params, &err) < 0)
		mc_log_warning("password reminder of %s not released: %s",
			       due->address, err.msg);
}

/* When the claimed user's password expires, as the policy module says. */
static int64_t expiry_of(const struct due *due)
{
	struct mc_password_policy policy;
	mc_password_policy_init(&policy);
	policy.max_age_days = due->max_age_days;
	policy.reminder_days = due->reminder_days;
	return mc_password_policy_expires_at(due->changed_at, &policy,
					     due->local);
}

/* The reminder message (from pool), CRLF line ends. */
static const char *compose(struct mc_pool *pool, const struct due *due,
			   time_t now)
{
	char date[MC_DATE_RFC5322_MAX], day[16];
	time_t expires = (time_t)expiry_of(due);
	struct tm tm;
	gmtime_r(&expires, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	mc_date_format_rfc5322(now, 0, date);
	return mc_psprintf(
		pool,
		"From: postmaster@%s\r\nTo: %s\r\n"
		"Subject: Your password expires on %s\r\nDate: %s\r\n"
		"Message-ID: <pw-expiry.%lld.%lld.%lld@%s>\r\n"
		"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n"
		"Your password for %s expires on %s; change it in webmail or "
		"ask your administrator.\r\n",
		due->domain, due->address, day, date, (long long)due->tenant_id,
		(long long)due->user_id, (long long)due->changed_at,
		due->domain, due->address, day);
}

/* Stores the message into the user's INBOX and announces it: 1 stored,
 * 0 refused (over quota, gone), -1 with err. */
static int store(struct mc_pg *pg, struct mc_redis *redis,
		 struct mc_blob_store *blobs, const struct due *due,
		 const char *text, struct mc_error *err)
{
	char hash[MC_BLOB_HASH_LEN + 1];
	if (mc_blob_put(blobs, text, strlen(text), hash, err) < 0)
		return -1;
	struct mc_message *msg = mc_message_create(NULL);
	mc_message_feed(msg, text, strlen(text));
	struct mc_store_local local = {
		.tenant_id = due->tenant_id,
		.user_id = due->user_id,
		.domain_id = due->domain_id,
		.address = due->address,
	};
	struct mc_store_delivery d = {
		.sha256 = hash,
		.info = mc_message_finish(msg),
		.local = &local,
		.local_count = 1,
		.sender = "",
	};
	struct mc_store_local_result res = {0};
	bool committed = false;
	int r = mc_store_deliver(pg, &d, &res, &committed, err);
	if (r == 0 && committed) {
		const char *addresses[] = {due->address};
		mc_store_notify(redis, &d, &res);
		mc_directory_forget(redis, addresses, 1);
	}
	mc_message_destroy(&msg);
	return r < 0 ? -1 : committed;
}

/* Composes and stores one claimed user's reminder, releasing the claim
 * unless it was stored: 1, 0 or -1 as store(). */
static int remind(struct mc_pg *pg, struct mc_redis *redis,
		  struct mc_blob_store *blobs, const struct due *due,
		  struct mc_error *err)
{
	struct mc_pool *pool = mc_pool_create("pw-reminder", 2048);
	int r = store(pg, redis, blobs, due, compose(pool, due, time(NULL)),
		      err);
	mc_pool_destroy(&pool);
	if (r != 1)
		release(pg, due);
	if (r == 1)
		mc_log_info("password expiry reminder sent to %s",
			    due->address);
	else if (r == 0)
		mc_log_notice("password expiry reminder for %s not stored "
			      "(mailbox full or gone); retried later",
			      due->address);
	return r;
}

int admin_password_reminders(struct mc_pg *pg, struct mc_redis *redis,
			     const struct mc_config *cfg, struct mc_error *err)
{
	struct mc_blob_store *blobs = NULL;
	struct due due = {0};
	int sent = 0, r;

	while ((r = claim_next(pg, &due, err)) == 1) {
		if (blobs == NULL &&
		    (blobs = mc_service_blobs_from_config(cfg, err)) == NULL) {
			release(pg, &due);
			r = -1;
			break;
		}
		if ((r = remind(pg, redis, blobs, &due, err)) < 0)
			break;
		sent += r;
	}
	mc_blob_store_destroy(&blobs);
	return r < 0 ? -1 : sent;
}
