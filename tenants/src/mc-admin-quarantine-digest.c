/* mc-admin-quarantine-digest: the quarantine's share of maintenance:
 * users with new quarantined items get a digest (mc_quarantine_digest,
 * release links under [webd] quarantine_secret and [webd] public_url,
 * default https://<[server] hostname>) stored into their INBOX through
 * the message store, as the password reminders are; then expired items
 * are deleted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-quarantine.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-tenants.h"
#include "mc-admin-private.h"

#define NUM	     24
#define BASE_URL_MAX 256

/* Active users with held, unexpired items not yet in a digest. */
static const char sql_users[] =
	"SELECT DISTINCT q.tenant_id, q.user_id, u.domain_id, u.local_part "
	"|| '@' || d.name FROM quarantine q JOIN users u ON u.tenant_id = "
	"q.tenant_id AND u.id = q.user_id JOIN domains d ON d.tenant_id = "
	"u.tenant_id AND d.id = u.domain_id WHERE q.digest_sent_at IS NULL "
	"AND q.released_at IS NULL AND q.expires_at > now() AND u.status = "
	"'active' ORDER BY 1, 2 LIMIT "
	"1000";

/* One user's digest being built and stored. */
struct digest_job {
	const struct mc_quarantine_digest_settings *set;
	struct mc_blob_store *blobs;
	struct mc_pool *pool;
	struct mc_store_local local;
	struct mc_message *msg;
	struct mc_store_delivery d;
	struct mc_store_local_result result;
	bool built;
};

/* The transaction: the digest (marking its items) and its delivery;
 * a refused delivery rolls the marks back for a later run. */
static int digest_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct digest_job *j = ctx;
	const char *text = NULL;
	size_t len = 0;
	char hash[MC_BLOB_HASH_LEN + 1];
	bool committed = false;

	mc_pool_clear(j->pool);
	mc_message_destroy(&j->msg);
	j->built = false;
	int r = mc_quarantine_digest(pg, j->pool, j->set, j->local.tenant_id,
				     j->local.user_id, 0, &text, &len, err);
	if (r <= 0)
		return r;
	if (mc_blob_put(j->blobs, text, len, hash, err) < 0)
		return -1;
	j->msg = mc_message_create(NULL);
	mc_message_feed(j->msg, text, len);
	j->d = (struct mc_store_delivery){.sha256 = mc_pstrdup(j->pool, hash),
					  .info = mc_message_finish(j->msg),
					  .local = &j->local,
					  .local_count = 1,
					  .sender = ""};
	if (mc_store_deliver_in(pg, &j->d, &j->result, &committed, err) < 0)
		return -1;
	if (!committed || j->result.status != MC_STORE_DELIVERED) {
		mc_error_set(err, MC_ERR_LIMIT, "%s cannot take it (quota)",
			     j->local.address);
		return -1;
	}
	j->built = true;
	return 0;
}

/* Builds and stores the digest of row i of users: 1 sent, 0 nothing new
 * or refused (logged), -1 when the database is unavailable. */
static int digest_one(struct mc_pg *pg, struct mc_redis *redis,
		      struct digest_job *j, const PGresult *users, int i,
		      struct mc_error *err)
{
	struct mc_error e = {0};

	j->local = (struct mc_store_local){
		.tenant_id = strtoll(PQgetvalue(users, i, 0), NULL, 10),
		.user_id = strtoll(PQgetvalue(users, i, 1), NULL, 10),
		.domain_id = strtoll(PQgetvalue(users, i, 2), NULL, 10),
		.address = PQgetvalue(users, i, 3)};
	int r = mc_pg_transaction(pg, digest_txn, j, &e);
	if (r == 0 && j->built) {
		mc_store_notify(redis, &j->d, &j->result);
		mc_log_info("quarantine digest sent to %s", j->local.address);
	}
	mc_message_destroy(&j->msg);
	if (r == 0)
		return j->built ? 1 : 0;
	if (mc_error_is_temporary(&e)) {
		mc_error_set(err, e.cls, "%s", e.msg);
		return -1;
	}
	mc_log_notice("quarantine digest for %s not stored: %s; retried later",
		      j->local.address, e.msg);
	return 0;
}

/* The digests of every user with new items. */
static int send_digests(struct mc_pg *pg, struct mc_redis *redis,
			const struct mc_quarantine_digest_settings *set,
			struct mc_blob_store *blobs, struct mc_error *err)
{
	PGresult *users = mc_pg_query(pg, sql_users, 0, NULL, err);
	struct digest_job j = {.set = set, .blobs = blobs};
	int sent = 0, r = 0;

	if (users == NULL)
		return -1;
	j.pool = mc_pool_create("quarantine-digest", 16384);
	for (int i = 0; i < PQntuples(users) && r >= 0; i++) {
		r = digest_one(pg, redis, &j, users, i, err);
		sent += r > 0;
	}
	mc_pool_destroy(&j.pool);
	PQclear(users);
	return r < 0 ? -1 : sent;
}

/* The base of the release links: [webd] public_url without trailing
 * slashes, else https://<[server] hostname>. */
static void base_url(const struct mc_config *cfg, char *buf, size_t size)
{
	const char *url = mc_config_str(cfg, "webd", "public_url");
	size_t n;

	if (url == NULL || url[0] == '\0') {
		snprintf(buf, size, "https://%s", mc_service_hostname(cfg));
		return;
	}
	snprintf(buf, size, "%s", url);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
}

/* The digests, when links can be signed and the blob store opens. */
static int digests(struct mc_pg *pg, struct mc_redis *redis,
		   const struct mc_config *cfg, struct mc_error *err)
{
	const char *secret = mc_config_str(cfg, "webd", "quarantine_secret");
	char base[BASE_URL_MAX];

	if (secret == NULL || secret[0] == '\0')
		return 0;
	base_url(cfg, base, sizeof(base));
	struct mc_quarantine_digest_settings set = {.secret = secret,
						    .base_url = base};
	struct mc_blob_store *blobs = mc_service_blobs_from_config(cfg, err);
	if (blobs == NULL)
		return -1;
	int r = send_digests(pg, redis, &set, blobs, err);
	mc_blob_store_destroy(&blobs);
	return r;
}

int admin_quarantine_maintain(struct mc_pg *pg, struct mc_redis *redis,
			      const struct mc_config *cfg, struct mc_error *err)
{
	uint64_t expired = 0;
	int sent = cfg != NULL ? digests(pg, redis, cfg, err) : 0;

	if (sent < 0)
		return -1;
	if (mc_quarantine_expire(pg, 0, &expired, err) < 0)
		return -1;
	if (expired > 0)
		mc_log_info("quarantine: %llu expired item%s deleted",
			    (unsigned long long)expired,
			    expired == 1 ? "" : "s");
	return sent;
}
