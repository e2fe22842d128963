/* mc-admin-maintain: periodic housekeeping of the tenant model, run by
 * mc-webd and `mailctl maintain` as the database owner: purges users
 * deleted more than 7 days ago with their mail (releasing the message
 * references as an expunge does, so that the store's collector removes
 * the blobs), marks domains past their expiry date expired, drops
 * idempotency keys older than a day, sends quarantine digests,
 * deletes expired quarantine items and security log rows older than
 * ADMIN_SECURITY_LOG_DAYS (30). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-directory.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mc-admin-private.h"
#include "mc-admin-reminders.h"

#define NUM	    24
#define PURGE_BATCH 1000

/* One user to purge. */
struct purge {
	int64_t tenant_id, user_id;
	bool purged;
};

/* Locks the user if it is still due; its audit facts into row 0 of
 * *res_r (local part, domain name, domain id, department id, used bytes,
 * reseller path). 1 due, 0 not (restored meanwhile), -1. */
static int lock_due(struct mc_pg *pg, const char *const params[2],
		    PGresult **res_r, struct mc_error *err)
{
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.local_part, d.name, u.domain_id, "
		"coalesce(u.department_id::text, ''), u.used_bytes, "
		"t.reseller_path::text FROM users u JOIN domains d ON "
		"d.tenant_id = u.tenant_id AND d.id = u.domain_id JOIN "
		"tenants t ON t.id = u.tenant_id WHERE u.tenant_id = $1 AND "
		"u.id = $2 AND u.status = 'deleted' AND u.deleted_at < now() "
		"- interval '7 days' FOR UPDATE OF u",
		2, params, err);

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	*res_r = res;
	return 1;
}

/* Drops one reference per mailbox row of the user from its messages;
 * rows reaching 0 get zero_since for mc_store_gc (as an expunge does).
 * The number of mailbox rows released into *count_r. */
static int release_refs(struct mc_pg *pg, const char *const params[2],
			long long *count_r, struct mc_error *err)
{
	PGresult *res = mc_pg_query(
		pg,
		"WITH d AS (SELECT mm.message_id, count(*) AS n FROM "
		"mailbox_messages mm JOIN mailboxes mb ON mb.tenant_id = "
		"mm.tenant_id AND mb.id = mm.mailbox_id WHERE mb.tenant_id = "
		"$1 AND mb.user_id = $2 GROUP BY mm.message_id), "
		"ref AS (UPDATE messages m SET refcount = m.refcount - d.n, "
		"zero_since = CASE WHEN m.refcount - d.n <= 0 THEN now() END "
		"FROM d WHERE m.tenant_id = $1 AND m.id = d.message_id) "
		"SELECT coalesce(sum(n), 0) FROM d",
		2, params, err);

	if (res == NULL)
		return -1;
	*count_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Takes the user's stored bytes off its domain's usage. */
static int release_usage(struct mc_pg *pg, const char *const params[2],
			 const char *domain_id, const char *used,
			 struct mc_error *err)
{
	const char *p[] = {params[0], params[1], domain_id, used};

	if (strcmp(used, "0") == 0)
		return 0;
	return mc_pg_exec(pg,
			  "INSERT INTO domain_usage (tenant_id, domain_id, "
			  "shard, used_bytes) VALUES ($1, $3, $2::bigint % 16, "
			  "-$4::bigint) ON CONFLICT (tenant_id, domain_id, "
			  "shard) DO UPDATE SET used_bytes = "
			  "domain_usage.used_bytes + EXCLUDED.used_bytes",
			  4, p, err) < 0
		       ? -1
		       : 0;
}

/* The audit record "user.purge" by "maintenance". */
static int audit_purge(struct mc_pg *pg, const char *tenant_id,
		       const PGresult *u, long long messages,
		       struct mc_error *err)
{
	char target[400], changes[128];
	const char *params[] = {
		PQgetvalue(u, 0, 5), tenant_id, PQgetvalue(u, 0, 2),
		PQgetvalue(u, 0, 3), target,	changes};

	snprintf(target, sizeof(target), "%s@%s", PQgetvalue(u, 0, 0),
		 PQgetvalue(u, 0, 1));
	snprintf(changes, sizeof(changes),
		 "{\"used_bytes\": %s, \"messages\": %lld}",
		 PQgetvalue(u, 0, 4), messages);
	return mc_pg_exec(pg,
			  "INSERT INTO audit_log (reseller_path, tenant_id, "
			  "domain_id, department_id, actor, actor_role, "
			  "action, target, changes) VALUES ($1::bigint[], $2, "
			  "$3, nullif($4, '')::bigint, 'maintenance', "
			  "'provider', 'user.purge', $5, $6::jsonb)",
			  6, params, err) < 0
		       ? -1
		       : 0;
}

/* Transaction purging one user: references, usage, the rows (mailboxes
 * and their messages cascade), the audit record. */
static int purge_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct purge *pu = ctx;
	char tid[NUM], uid[NUM];
	const char *params[] = {tid, uid};
	PGresult *u = NULL;
	long long messages = 0;
	int r;

	pu->purged = false;
	snprintf(tid, sizeof(tid), "%lld", (long long)pu->tenant_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)pu->user_id);
	r = lock_due(pg, params, &u, err);
	if (r <= 0)
		return r;
	r = -1;
	if (release_refs(pg, params, &messages, err) == 0 &&
	    release_usage(pg, params, PQgetvalue(u, 0, 2), PQgetvalue(u, 0, 4),
			  err) == 0 &&
	    mc_pg_exec(pg, "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
		       2, params, err) >= 0 &&
	    audit_purge(pg, tid, u, messages, err) == 0)
		r = 0;
	PQclear(u);
	pu->purged = r == 0;
	return r;
}

/* Purges the users due, each in its own transaction; one that fails
 * permanently is logged and left for the next run. The count, or -1
 * when the database is unavailable. */
static int purge_users(struct mc_pg *pg, struct mc_error *err)
{
	char limit[NUM];
	const char *params[] = {limit};
	PGresult *res;
	int purged = 0;

	snprintf(limit, sizeof(limit), "%d", PURGE_BATCH);
	res = mc_pg_query(pg,
			  "SELECT tenant_id, id FROM users WHERE status = "
			  "'deleted' AND deleted_at < now() - interval "
			  "'7 days' ORDER BY deleted_at LIMIT $1::int",
			  1, params, err);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct purge pu = {
			.tenant_id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
			.user_id = strtoll(PQgetvalue(res, i, 1), NULL, 10)};
		struct mc_error e = {0};
		if (mc_pg_transaction(pg, purge_txn, &pu, &e) < 0) {
			if (mc_error_is_temporary(&e)) {
				PQclear(res);
				mc_error_set(err, e.cls, "%s", e.msg);
				return -1;
			}
			mc_log_warning("purging user %s failed: %s",
				       PQgetvalue(res, i, 1), e.msg);
		}
		purged += pu.purged;
	}
	PQclear(res);
	return purged;
}

int mc_admin_maintain(struct mc_pg *pg, struct mc_redis *redis,
		      const struct mc_config *cfg, struct mc_error *err)
{
	int purged = purge_users(pg, err);
	long expired;

	if (purged < 0)
		return -1;
	/* reminders need the blob store of the configuration */
	if (cfg != NULL && admin_password_reminders(pg, redis, cfg, err) < 0)
		return -1;
	/* quarantine digests (with [webd] quarantine_secret) and expiry */
	if (admin_quarantine_maintain(pg, redis, cfg, err) < 0)
		return -1;
	expired = mc_pg_exec(pg,
			     "UPDATE domains SET status = 'expired', version "
			     "= version + 1 WHERE expires_at <= now() AND "
			     "status <> 'expired'",
			     0, NULL, err);
	if (expired < 0 ||
	    mc_pg_exec(pg,
		       "DELETE FROM idempotency_keys WHERE created_at < "
		       "now() - interval '24 hours'",
		       0, NULL, err) < 0 ||
	    admin_security_log_purge(pg, err) < 0)
		return -1;
	if ((purged > 0 || expired > 0) && redis != NULL) {
		struct mc_error ierr = {0};
		(void)mc_directory_invalidate(redis, &ierr);
	}
	return purged;
}
