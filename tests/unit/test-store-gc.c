/* test-store-gc: the store's garbage collector against a real PostgreSQL
 * (a fresh schema per run) and the filesystem blob backend with mtimes
 * set by hand: orphan blobs by age, referenced blobs, refcount-0 rows by
 * age with their blob or without it when another tenant shares it, the
 * default margin, batches past 500, a row held by a concurrent delivery,
 * stale temp files, and a database outage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-store.h"

#include "mc-test.h"

#define HOUR_MS (3600u * 1000u)

static char schema[96];
static struct mc_pg *pg;
static struct mc_blob_store *blobs;
static char tmp[64], root[128];

static int group_setup(void **state)
{
	(void)state;
	pg = mc_test_pg_schema("gc", schema, sizeof(schema));
	if (pg != NULL)
		mc_test_sql(pg, "INSERT INTO tenants (name) VALUES ('one'), ('two')");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mc_test_pg_drop_schema(&pg, schema);
	return 0;
}

/* nftw callback: removes one entry. */
static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh blob store and no message rows. */
static int setup(void **state)
{
	(void)state;
	if (pg == NULL)
		return 0;
	assert_non_null(mc_test_mkdtemp(tmp, sizeof(tmp), "test-store-gc"));
	snprintf(root, sizeof(root), "%s/blobs", tmp);
	blobs = mc_blob_store_fs_create(root, false, NULL);
	assert_non_null(blobs);
	mc_test_sql(pg, "DELETE FROM messages");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (pg == NULL)
		return 0;
	mc_blob_store_destroy(&blobs);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* root/ab/cd/<hash>. */
static void path_of(const char *hash, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%.2s/%.2s/%s", root, hash, hash + 2, hash);
}

/* Sets path's mtime to age_s seconds ago. */
static void age(const char *path, time_t age_s)
{
	time_t when = time(NULL) - age_s;
	struct timespec ts[2] = {{when, 0}, {when, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Stores text as a blob written age_s seconds ago; hash into hash. */
static void put(const char *text, time_t age_s, char hash[65])
{
	char path[300];
	assert_int_equal(mc_blob_put(blobs, text, strlen(text), hash, NULL), 0);
	path_of(hash, path, sizeof(path));
	age(path, age_s);
}

/* A message row of tenant for hash; zero_age_s < 0 leaves zero_since
 * NULL, else it is that many seconds ago. */
static void row(int tenant, const char *hash, int refcount, int zero_age_s)
{
	char q[400], zero[64] = "NULL";
	if (zero_age_s >= 0)
		snprintf(zero, sizeof(zero), "now() - interval '%d seconds'",
			 zero_age_s);
	snprintf(q, sizeof(q),
		 "INSERT INTO messages (tenant_id, sha256, size_bytes, "
		 "refcount, envelope, body, bodystructure, zero_since) VALUES "
		 "(%d, '%s', 1, %d, '', '', '', %s)",
		 tenant, hash, refcount, zero);
	mc_test_sql(pg, q);
}

/* Rows of a hash. */
static long long rows_of(const char *hash)
{
	char q[160];
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM messages WHERE sha256 = '%s'", hash);
	return mc_test_num(pg, q);
}

/* One collection that must work. */
static struct mc_store_gc_stats gc(uint64_t min_age_ms)
{
	struct mc_store_gc_settings set = {.min_age_ms = min_age_ms};
	struct mc_store_gc_stats st;
	struct mc_error err = {0};
	if (mc_store_gc(pg, blobs, &set, &st, &err) < 0)
		fail_msg("gc: %s", err.msg);
	return st;
}

/* An old orphan goes; a young one and an old referenced one stay. */
static void test_orphan_blobs(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char old[65], young[65], used[65];
	put("old orphan", 7200, old);
	put("young orphan", 600, young);
	put("referenced", 7200, used);
	row(1, used, 1, -1);
	struct mc_store_gc_stats st = gc(HOUR_MS);
	assert_false(mc_blob_exists(blobs, old));
	assert_true(mc_blob_exists(blobs, young));
	assert_true(mc_blob_exists(blobs, used));
	assert_int_equal(st.blobs_removed, 1);
	assert_int_equal(st.bytes_freed, strlen("old orphan"));
	assert_int_equal(st.rows_deleted, 0);
	assert_int_equal(st.tmp_removed, 0);
	st = gc(HOUR_MS); /* nothing left to do */
	assert_int_equal(st.blobs_removed, 0);
	assert_true(mc_blob_exists(blobs, young));
	st = gc(5 * 60 * 1000); /* a shorter margin takes the young one */
	assert_int_equal(st.blobs_removed, 1);
	assert_false(mc_blob_exists(blobs, young));
	assert_true(mc_blob_exists(blobs, used));
}

/* Refcount-0 rows past the margin go with their blob unless another
 * tenant's row names it; younger ones and referenced ones stay. */
static void test_zero_rows(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char gone[65], young[65], shared[65], live[65];
	put("zero since long", 7200, gone);
	put("zero since lately", 7200, young);
	put("shared by two tenants", 7200, shared);
	put("still used", 7200, live);
	row(1, gone, 0, 7200);
	row(1, young, 0, 600);
	row(1, shared, 0, 7200);
	row(2, shared, 1, -1);
	row(1, live, 2, -1);
	struct mc_store_gc_stats st = gc(HOUR_MS);
	assert_int_equal(st.rows_deleted, 2);
	assert_int_equal(st.blobs_removed, 1);
	assert_int_equal(st.bytes_freed, strlen("zero since long"));
	assert_int_equal(rows_of(gone), 0);
	assert_false(mc_blob_exists(blobs, gone));
	assert_int_equal(rows_of(young), 1);
	assert_true(mc_blob_exists(blobs, young));
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages WHERE tenant_id = "
			     "1 AND refcount = 0 AND zero_since < now() - "
			     "interval '1 hour'"),
			 0);
	assert_int_equal(rows_of(shared), 1);
	assert_true(mc_blob_exists(blobs, shared));
	assert_int_equal(rows_of(live), 1);
	assert_true(mc_blob_exists(blobs, live));
}

/* Without a margin set, an hour is kept. */
static void test_default_margin(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char old[65], recent[65];
	put("two hours", 7200, old);
	put("half an hour", 1800, recent);
	struct mc_store_gc_stats st;
	struct mc_error err = {0};
	assert_int_equal(mc_store_gc(pg, blobs, NULL, &st, &err), 0);
	assert_int_equal(st.blobs_removed, 1);
	assert_false(mc_blob_exists(blobs, old));
	assert_true(mc_blob_exists(blobs, recent));
}

/* Creates an empty orphan file named by the hex of i, age_s old. */
static void orphan_file(unsigned i, time_t age_s)
{
	char hash[65], path[300];
	snprintf(hash, sizeof(hash), "%064x", i);
	path_of(hash, path, sizeof(path));
	int fd = creat(path, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	age(path, age_s);
}

/* More than one batch of rows and of blobs; stale temp files go, a
 * fresh one stays. */
static void test_batches_and_tmp(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char dir[200];
	snprintf(dir, sizeof(dir), "%s/00", root);
	assert_int_equal(mkdir(dir, 0750), 0);
	snprintf(dir, sizeof(dir), "%s/00/00", root);
	assert_int_equal(mkdir(dir, 0750), 0);
	for (unsigned i = 1; i <= 1201; i++)
		orphan_file(i, 7200);
	mc_test_sql(pg, "INSERT INTO messages (tenant_id, sha256, size_bytes, "
		"refcount, envelope, body, bodystructure, zero_since) SELECT "
		"1, lpad(to_hex(g), 64, '0'), 1, 0, '', '', '', now() - "
		"interval '2 hours' FROM generate_series(1, 1100) AS g");
	char path[200];
	snprintf(path, sizeof(path), "%s/tmp/blob.crashed", root);
	assert_int_equal(close(creat(path, 0640)), 0);
	age(path, 7200);
	snprintf(path, sizeof(path), "%s/tmp/blob.writing", root);
	assert_int_equal(close(creat(path, 0640)), 0);
	struct mc_store_gc_stats st = gc(HOUR_MS);
	assert_int_equal(st.rows_deleted, 1100);
	assert_int_equal(st.blobs_removed, 1201);
	assert_int_equal(st.bytes_freed, 1201);
	assert_int_equal(st.tmp_removed, 1);
	assert_int_equal(mc_test_num(pg, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(access(path, F_OK), 0);
	struct stat sb;
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_nlink, 2); /* no file left in 00/00 */
}

/* A row a delivery holds locked (raising its refcount) is skipped, and
 * its blob kept; once committed it is in use. */
static void test_concurrent_delivery(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char hash[65], q[300];
	put("being delivered again", 7200, hash);
	row(1, hash, 0, 7200);
	struct mc_pg *other = mc_test_pg_connect_schema(schema);
	struct mc_error err = {0};
	assert_int_equal(mc_pg_begin(other, &err), 0);
	snprintf(q, sizeof(q),
		 "UPDATE messages SET refcount = refcount + 1, zero_since = "
		 "NULL WHERE sha256 = '%s'",
		 hash);
	mc_test_sql(other, q);
	struct mc_store_gc_stats st = gc(HOUR_MS);
	assert_int_equal(st.rows_deleted, 0);
	assert_int_equal(st.blobs_removed, 0);
	assert_int_equal(mc_pg_commit(other, &err), 0);
	mc_pg_destroy(&other);
	st = gc(HOUR_MS);
	assert_int_equal(st.rows_deleted, 0);
	assert_int_equal(rows_of(hash), 1);
	assert_true(mc_blob_exists(blobs, hash));
}

/* An unreachable database fails as temporary and removes nothing. */
static void test_database_down(void **state)
{
	(void)state;
	if (pg == NULL)
		skip();
	char hash[65];
	put("orphan while down", 7200, hash);
	char conninfo[64];
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d connect_timeout=2",
		 mc_test_free_port());
	struct mc_pg_settings set = {.conninfo = conninfo};
	struct mc_pg *down = mc_pg_create(&set);
	struct mc_store_gc_stats st;
	struct mc_error err = {0};
	assert_int_equal(mc_store_gc(down, blobs, NULL, &st, &err), -1);
	assert_int_equal(err.cls, MC_ERR_TEMPORARY);
	assert_int_equal(st.blobs_removed, 0);
	assert_true(mc_blob_exists(blobs, hash));
	mc_pg_destroy(&down);
}

#define GC_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		GC_TEST(test_orphan_blobs),
		GC_TEST(test_zero_rows),
		GC_TEST(test_default_margin),
		GC_TEST(test_batches_and_tmp),
		GC_TEST(test_concurrent_delivery),
		GC_TEST(test_database_down),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
