/* mc-store-gc: the store's garbage collector. Message rows whose refcount
 * dropped to 0 go in batches, with their blob once no tenant names it;
 * then blobs no row names (a delivery whose commit failed after its blob
 * was written) and temp files of crashed writers, once older than the
 * safety margin. Blobs are checked against the database in batches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"

#define BATCH 500
#define NUM   24
/* Longer margins are taken as 100 years: nothing is that old. */
#define MAX_AGE_MS (100ull * 366 * 86400 * 1000)

/* One collection run. */
struct gc {
	struct mc_pg *pg;
	struct mc_blob_store *blobs;
	struct mc_store_gc_stats *stats;
	struct mc_error *err;
	time_t cutoff;	   /* blobs written before this may go */
	char min_age[NUM]; /* the margin in ms, as an SQL parameter */
	/* candidate blobs waiting for one database check */
	char hashes[BATCH][MC_BLOB_HASH_LEN + 1];
	size_t count;
};

/* Deletes up to $2 rows at refcount 0 since before the margin ($1 ms).
 * Rows a delivery holds are skipped; one that a delivery took again
 * (refcount up, zero_since cleared) fails the check in the DELETE. */
static const char sql_delete_rows[] =
	"WITH doomed AS (SELECT tenant_id, id FROM messages WHERE refcount = "
	"0 AND zero_since < now() - $1::bigint * interval '1 millisecond' "
	"LIMIT $2 FOR UPDATE SKIP LOCKED) DELETE FROM messages m USING doomed "
	"d WHERE m.tenant_id = d.tenant_id AND m.id = d.id AND m.refcount = 0 "
	"AND m.zero_since < now() - $1::bigint * interval '1 millisecond' "
	"RETURNING m.sha256";

/* The hashes of $1 that no message row of any tenant names. */
static const char sql_unreferenced[] =
	"SELECT DISTINCT u.h FROM unnest($1::text[]) AS u(h) WHERE NOT "
	"EXISTS (SELECT 1 FROM messages m WHERE m.sha256 = u.h)";

/* Removes one unreferenced blob unless it was stored again lately. */
static int remove_blob(struct gc *gc, const char *hash)
{
	uint64_t size = 0;
	int r = mc_blob_delete_if_older(gc->blobs, hash, gc->cutoff, &size,
					gc->err);

	if (r > 0) {
		gc->stats->blobs_removed++;
		gc->stats->bytes_freed += size;
	}
	return r < 0 ? -1 : 0;
}

/* "{h1,h2,...}" of the pending hashes (hex digits need no quoting). */
static char *hash_array(const struct gc *gc)
{
	struct mc_buf b;

	mc_buf_init(&b, NULL, 0);
	mc_buf_append_c(&b, '{');
	for (size_t i = 0; i < gc->count; i++)
		mc_buf_printf(&b, "%s%s", i > 0 ? "," : "", gc->hashes[i]);
	mc_buf_append_c(&b, '}');
	char *s = mc_strdup(mc_buf_cstr(&b));
	mc_buf_free(&b);
	return s;
}

/* Checks the pending hashes in one query and removes the blobs no row
 * names; the batch is empty afterwards. */
static int flush(struct gc *gc)
{
	char *array;
	PGresult *res;
	int ret = 0;

	if (gc->count == 0)
		return 0;
	array = hash_array(gc);
	gc->count = 0;
	res = mc_pg_query(gc->pg, sql_unreferenced, 1,
			  (const char *const[]){array}, gc->err);
	free(array);
	if (res == NULL)
		return -1;
	for (int i = 0; ret == 0 && i < PQntuples(res); i++)
		ret = remove_blob(gc, PQgetvalue(res, i, 0));
	PQclear(res);
	return ret;
}

/* Adds a candidate blob, checking the batch once it is full. */
static int add_hash(struct gc *gc, const char *hash)
{
	if (!mc_blob_hash_valid(hash))
		return 0; /* the schema forbids it; never a path */
	memcpy(gc->hashes[gc->count++], hash, MC_BLOB_HASH_LEN + 1);
	return gc->count < BATCH ? 0 : flush(gc);
}

/* Deletes one batch of rows and then their blobs if unreferenced:
 * the number of rows deleted, or -1. */
static long delete_row_batch(struct gc *gc)
{
	char limit[NUM];
	const char *params[] = {gc->min_age, limit};
	PGresult *res;
	long n;
	int ret = 0;

	snprintf(limit, sizeof(limit), "%d", BATCH);
	res = mc_pg_query(gc->pg, sql_delete_rows, 2, params, gc->err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	gc->stats->rows_deleted += (uint64_t)n;
	for (long i = 0; ret == 0 && i < n; i++)
		ret = add_hash(gc, PQgetvalue(res, (int)i, 0));
	PQclear(res);
	if (ret == 0)
		ret = flush(gc);
	return ret < 0 ? -1 : n;
}

/* Pass 1: rows at refcount 0 and their blobs, until none is left. */
static int collect_rows(struct gc *gc)
{
	long n;

	do {
		n = delete_row_batch(gc);
	} while (n > 0);
	return n < 0 ? -1 : 0;
}

/* Walk callback: old blobs are candidates. */
static int walk_blob(const char *hash, time_t mtime, void *ctx)
{
	struct gc *gc = ctx;

	return mtime < gc->cutoff ? add_hash(gc, hash) : 0;
}

/* Pass 2: blobs older than the margin that no row names. */
static int collect_blobs(struct gc *gc)
{
	if (mc_blob_foreach(gc->blobs, walk_blob, gc, gc->err) < 0)
		return -1;
	return flush(gc);
}

/* Pass 3: temp files older than the margin. */
static int collect_tmp(struct gc *gc)
{
	int n = mc_blob_clean_tmp(gc->blobs, gc->cutoff, gc->err);

	if (n < 0)
		return -1;
	gc->stats->tmp_removed += (uint64_t)n;
	return 0;
}

int mc_store_gc(struct mc_pg *pg, struct mc_blob_store *blobs,
		const struct mc_store_gc_settings *set,
		struct mc_store_gc_stats *stats_r, struct mc_error *err)
{
	uint64_t ms = set != NULL && set->min_age_ms != 0
			      ? set->min_age_ms
			      : MC_STORE_GC_MIN_AGE_MS;
	struct gc *gc = mc_calloc(1, sizeof(*gc));
	time_t now = time(NULL);
	int ret;

	if (ms > MAX_AGE_MS)
		ms = MAX_AGE_MS; /* keeps time_t and SQL intervals in range */

	*stats_r = (struct mc_store_gc_stats){0};
	gc->pg = pg;
	gc->blobs = blobs;
	gc->stats = stats_r;
	gc->err = err;
	gc->cutoff = now - (time_t)((ms + 999) / 1000);
	snprintf(gc->min_age, sizeof(gc->min_age), "%llu",
		 (unsigned long long)ms);
	ret = collect_rows(gc);
	if (ret == 0)
		ret = collect_blobs(gc);
	if (ret == 0)
		ret = collect_tmp(gc);
	free(gc);
	return ret;
}
