/* test-blob: the blob store, run on the filesystem and memory backends
 * through one table: ranged reads, streamed writes against SHA-256 test
 * vectors, dedup, abort, delete, malformed names, concurrent writers, the
 * collector's walk, conditional delete and temp cleanup; then
 * filesystem-only layout, modes, mtime refresh, stray files in the walk
 * and failure cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"

#include "mc-test.h"

#define ABC_SHA256                                                             \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define N_THREADS 4
#define N_ROUNDS  25

struct fixture {
	struct mc_blob_store *store;
	char tmp[64];	/* the temp dir; "" for the memory backend */
	char root[128]; /* tmp/blobs/root, created by the store */
};

/* nftw callback: removes one entry. */
static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf dir. */
static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A filesystem store (fsync off) under a fresh temp dir. */
static int setup_fs(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mc_error err;

	mc_error_clear(&err);
	assert_non_null(mc_test_mkdtemp(f->tmp, sizeof(f->tmp), "test-blob"));
	snprintf(f->root, sizeof(f->root), "%s/blobs/root", f->tmp);
	f->store = mc_blob_store_fs_create(f->root, false, &err);
	assert_non_null(f->store);
	*state = f;
	return 0;
}

/* A memory store. */
static int setup_memory(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->store = mc_blob_store_memory_create();
	*state = f;
	return 0;
}

/* Destroys the store and removes the temp dir. */
static int teardown(void **state)
{
	struct fixture *f = *state;

	mc_blob_store_destroy(&f->store);
	assert_null(f->store);
	if (f->tmp[0] != '\0')
		rm_tree(f->tmp);
	free(f);
	return 0;
}

/* True for the filesystem backend. */
static bool is_fs(const struct fixture *f)
{
	return f->tmp[0] != '\0';
}

/* Entries of dir without . and .., -1 when it cannot be read. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Entries in root/tmp. */
static int count_tmp(const struct fixture *f)
{
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/tmp", f->root);
	return count_entries(dir);
}

static int regular_files;

/* nftw callback: counts regular files outside tmp/. */
static int count_entry(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode) &&
	    strstr(path, "/root/tmp/") == NULL)
		regular_files++;
	return 0;
}

/* Regular files in the store, temp files not counted. */
static int count_blobs(const struct fixture *f)
{
	regular_files = 0;
	assert_int_equal(nftw(f->root, count_entry, 16, FTW_PHYS), 0);
	return regular_files;
}

/* Hex SHA-256, computed independently of the store. */
static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
}

/* Deterministic pseudo-random bytes. */
static void fill(unsigned char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

/* root/ab/cd/<hash>. */
static void blob_file(const struct fixture *f, const char *hash, char *buf,
		      size_t size)
{
	snprintf(buf, size, "%s/%.2s/%.2s/%s", f->root, hash, hash + 2, hash);
}

/* Lower/upper case, length and traversal: only the first kind is valid. */
static void test_hash_valid(void **state)
{
	static const struct {
		const char *hash;
		bool valid;
	} cases[] = {
		{ABC_SHA256, true},
		{EMPTY_SHA256, true},
		{"00000000000000000000000000000000"
		 "00000000000000000000000000000000",
		 true},
		{"BA7816BF8F01CFEA414140DE5DAE2223"
		 "B00361A396177A9CB410FF61F20015AD",
		 false},
		{"Ba7816bf8f01cfea414140de5dae2223"
		 "b00361a396177a9cb410ff61f20015ad",
		 false},
		{"a7816bf8f01cfea414140de5dae2223b"
		 "00361a396177a9cb410ff61f20015ad",
		 false},
		{ABC_SHA256 "0", false},
		{"ga7816bf8f01cfea414140de5dae2223"
		 "b00361a396177a9cb410ff61f20015ad",
		 false},
		{"ba/816bf8f01cfea414140de5dae2223"
		 "b00361a396177a9cb410ff61f20015ad",
		 false},
		{"../../etc/passwd", false},
		{"", false},
		{NULL, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(mc_blob_hash_valid(cases[i].hash),
				 cases[i].valid);
}

/* put, then pread at the start, middle, end and past it. */
static void test_put_read(void **state)
{
	static const struct {
		uint64_t offset;
		size_t len, expect;
	} reads[] = {
		{0, 10000, 10000}, {0, 20000, 10000},	{5000, 100, 100},
		{9990, 100, 10},   {9999, 1, 1},	{10000, 1, 0},
		{20000, 10, 0},	   {UINT64_MAX, 10, 0}, {123, 0, 0},
	};
	struct fixture *f = *state;
	unsigned char data[10000], buf[20001];
	char hash[65], expect[65];
	struct mc_blob_reader *r;
	struct mc_error err;

	mc_error_clear(&err);
	fill(data, sizeof(data), 1);
	sha256_hex(data, sizeof(data), expect);
	assert_int_equal(mc_blob_put(f->store, data, sizeof(data), hash, &err),
			 0);
	assert_string_equal(hash, expect);
	assert_true(mc_blob_exists(f->store, hash));
	r = mc_blob_open(f->store, hash, &err);
	assert_non_null(r);
	assert_int_equal(mc_blob_reader_size(r), sizeof(data));
	if (is_fs(f))
		assert_true(mc_blob_reader_fd(r) >= 0);
	else
		assert_int_equal(mc_blob_reader_fd(r), -1);
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		ssize_t n;

		memset(buf, 0xee, sizeof(buf));
		n = mc_blob_pread(r, buf, reads[i].len, reads[i].offset, &err);
		assert_int_equal(n, reads[i].expect);
		if (n > 0)
			assert_memory_equal(buf, data + reads[i].offset, n);
		assert_int_equal(buf[n], 0xee);
	}
	mc_blob_reader_close(&r);
	assert_null(r);
	mc_blob_reader_close(&r);
	assert_int_equal(err.cls, MC_ERR_NONE);
}

/* Streams data through a writer in chunks of 1..step bytes. */
static void stream(struct mc_blob_store *store, const unsigned char *data,
		   size_t len, size_t step, char hash[65])
{
	struct mc_blob_writer *w = mc_blob_writer_create(store, NULL);
	size_t done = 0, n = 1;

	assert_non_null(w);
	while (done < len) {
		if (n > len - done)
			n = len - done;
		assert_int_equal(mc_blob_writer_write(w, data + done, n, NULL),
				 0);
		done += n;
		n = n % step + 1;
	}
	assert_int_equal(mc_blob_writer_write(w, "", 0, NULL), 0);
	assert_int_equal(mc_blob_writer_size(w), len);
	assert_int_equal(mc_blob_writer_finish(&w, hash, NULL), 0);
	assert_null(w);
}

/* Many small writes name the blob as mc_blob_put and the test vectors do. */
static void test_stream(void **state)
{
	struct fixture *f = *state;
	unsigned char data[5000];
	char hash[65], put_hash[65], expect[65];
	struct mc_blob_reader *r;

	stream(f->store, (const unsigned char *)"abc", 3, 1, hash);
	assert_string_equal(hash, ABC_SHA256);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, put_hash, NULL), 0);
	assert_string_equal(put_hash, ABC_SHA256);

	fill(data, sizeof(data), 2);
	sha256_hex(data, sizeof(data), expect);
	stream(f->store, data, sizeof(data), 13, hash);
	assert_int_equal(
		mc_blob_put(f->store, data, sizeof(data), put_hash, NULL), 0);
	assert_string_equal(hash, expect);
	assert_string_equal(put_hash, expect);

	stream(f->store, NULL, 0, 1, hash);
	assert_string_equal(hash, EMPTY_SHA256);
	r = mc_blob_open(f->store, EMPTY_SHA256, NULL);
	assert_non_null(r);
	assert_int_equal(mc_blob_reader_size(r), 0);
	assert_int_equal(mc_blob_pread(r, data, sizeof(data), 0, NULL), 0);
	mc_blob_reader_close(&r);
}

/* A writer reads back what it was given, in any slices, before and
 * after more writes; past the end is 0. */
static void test_writer_pread(void **state)
{
	struct fixture *f = *state;
	unsigned char data[70000], back[70000];
	struct mc_blob_writer *w = mc_blob_writer_create(f->store, NULL);

	assert_non_null(w);
	fill(data, sizeof(data), 7);
	assert_int_equal(mc_blob_writer_write(w, data, 1000, NULL), 0);
	assert_int_equal(mc_blob_writer_pread(w, back, 10, 995, NULL), 5);
	assert_memory_equal(back, data + 995, 5);
	assert_int_equal(mc_blob_writer_write(w, data + 1000,
					      sizeof(data) - 1000, NULL),
			 0);
	size_t got = 0;
	while (got < sizeof(data)) {
		ssize_t n = mc_blob_writer_pread(w, back + got, 4093, got, NULL);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(mc_blob_writer_pread(w, back, 10, sizeof(data), NULL),
			 0);
	mc_blob_writer_abort(&w);
}

/* The same content twice is stored once, with no temp file left over. */
static void test_dedup(void **state)
{
	struct fixture *f = *state;
	char hash1[65], hash2[65], dir[200];

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash1, NULL), 0);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash2, NULL), 0);
	assert_string_equal(hash1, hash2);
	if (is_fs(f)) {
		snprintf(dir, sizeof(dir), "%s/ba/78", f->root);
		assert_int_equal(count_entries(dir), 1);
		assert_int_equal(count_blobs(f), 1);
		assert_int_equal(count_tmp(f), 0);
	}
	assert_int_equal(mc_blob_delete(f->store, hash1, NULL), 0);
	assert_false(mc_blob_exists(f->store, hash1));
}

/* An aborted writer leaves nothing behind; abort accepts NULL. */
static void test_abort(void **state)
{
	struct fixture *f = *state;
	struct mc_blob_writer *w = mc_blob_writer_create(f->store, NULL);
	char hash[65];

	assert_non_null(w);
	assert_int_equal(mc_blob_writer_write(w, "abc", 3, NULL), 0);
	if (is_fs(f))
		assert_int_equal(count_tmp(f), 1);
	mc_blob_writer_abort(&w);
	assert_null(w);
	mc_blob_writer_abort(&w);
	mc_blob_writer_abort(NULL);
	assert_false(mc_blob_exists(f->store, ABC_SHA256));
	if (is_fs(f)) {
		assert_int_equal(count_tmp(f), 0);
		assert_int_equal(count_entries(f->root), 1); /* tmp/ */
	}
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	assert_true(mc_blob_exists(f->store, ABC_SHA256));
}

/* Deleted blobs are not found; deleting twice or never-stored is fine. */
static void test_delete(void **state)
{
	struct fixture *f = *state;
	char hash[65], msg[100];
	struct mc_error err;

	mc_error_clear(&err);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, &err), 0);
	assert_int_equal(mc_blob_delete(f->store, hash, &err), 0);
	assert_false(mc_blob_exists(f->store, hash));
	assert_null(mc_blob_open(f->store, hash, &err));
	assert_int_equal(err.cls, MC_ERR_NOTFOUND);
	snprintf(msg, sizeof(msg), "blob %s not found", hash);
	assert_string_equal(err.msg, msg);
	mc_error_clear(&err);
	assert_int_equal(mc_blob_delete(f->store, hash, &err), 0);
	assert_int_equal(mc_blob_delete(f->store, EMPTY_SHA256, &err), 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	if (is_fs(f))
		assert_int_equal(count_blobs(f), 0);
}

/* A reader keeps reading a blob deleted under it. */
static void test_reader_outlives_delete(void **state)
{
	struct fixture *f = *state;
	unsigned char data[3000], buf[3000];
	struct mc_blob_reader *r;
	char hash[65];

	fill(data, sizeof(data), 3);
	assert_int_equal(mc_blob_put(f->store, data, sizeof(data), hash, NULL),
			 0);
	r = mc_blob_open(f->store, hash, NULL);
	assert_non_null(r);
	assert_int_equal(mc_blob_delete(f->store, hash, NULL), 0);
	assert_false(mc_blob_exists(f->store, hash));
	assert_int_equal(mc_blob_pread(r, buf, sizeof(buf), 0, NULL),
			 sizeof(buf));
	assert_memory_equal(buf, data, sizeof(data));
	mc_blob_reader_close(&r);
}

/* Malformed names fail with INVALID and reach no file: a naive path
 * DIR/ab/cd/<hash> for "..//victim" would be tmp/victim. Names that
 * would escape the temp dir are never passed to delete (we run as root). */
static void test_invalid(void **state)
{
	static const struct {
		const char *hash;
		bool try_delete;
	} bad[] = {
		{"..//victim", true},
		{"../../etc/passwd", false},
		{"BA7816BF8F01CFEA414140DE5DAE2223"
		 "B00361A396177A9CB410FF61F20015AD",
		 true},
		{"a7816bf8f01cfea414140de5dae2223b"
		 "00361a396177a9cb410ff61f20015ad",
		 true},
		{ABC_SHA256 "/", true},
		{"", true},
	};
	struct fixture *f = *state;
	char victim[100], hash[65];
	struct mc_error err;

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	if (is_fs(f)) {
		snprintf(victim, sizeof(victim), "%s/victim", f->tmp);
		assert_int_equal(close(creat(victim, 0600)), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mc_error_clear(&err);
		assert_null(mc_blob_open(f->store, bad[i].hash, &err));
		assert_int_equal(err.cls, MC_ERR_INVALID);
		assert_false(mc_blob_exists(f->store, bad[i].hash));
		if (!bad[i].try_delete)
			continue;
		mc_error_clear(&err);
		assert_int_equal(mc_blob_delete(f->store, bad[i].hash, &err),
				 -1);
		assert_int_equal(err.cls, MC_ERR_INVALID);
	}
	assert_true(mc_blob_exists(f->store, ABC_SHA256));
	if (is_fs(f))
		assert_int_equal(access(victim, F_OK), 0);
}

struct thread_arg {
	struct mc_blob_store *store;
	unsigned int id;
	int failures;
};

/* Stores data via a writer, then checks its name and contents. */
static int store_and_check(struct mc_blob_store *store,
			   const unsigned char *data, size_t len, size_t step)
{
	struct mc_blob_writer *w = mc_blob_writer_create(store, NULL);
	unsigned char buf[4096];
	char hash[65], expect[65];
	struct mc_blob_reader *r;
	int bad = 0;

	for (size_t done = 0; w != NULL && done < len; done += step) {
		size_t n = len - done < step ? len - done : step;

		bad += mc_blob_writer_write(w, data + done, n, NULL) != 0;
	}
	if (w == NULL || mc_blob_writer_finish(&w, hash, NULL) != 0)
		return 1;
	sha256_hex(data, len, expect);
	bad += strcmp(hash, expect) != 0;
	r = mc_blob_open(store, hash, NULL);
	if (r == NULL)
		return bad + 1;
	bad += mc_blob_pread(r, buf, sizeof(buf), 0, NULL) != (ssize_t)len;
	bad += memcmp(buf, data, len) != 0;
	mc_blob_reader_close(&r);
	return bad;
}

/* One writer thread: a blob shared by all threads and one of its own per
 * round. Failures are counted, not asserted (cmocka is not thread-safe). */
static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	unsigned char shared[3000], own[2000];

	fill(shared, sizeof(shared), 99);
	for (unsigned int round = 0; round < N_ROUNDS; round++) {
		fill(own, sizeof(own), 1000 + a->id * N_ROUNDS + round);
		a->failures += store_and_check(a->store, shared, sizeof(shared),
					       7 * (a->id + 1));
		a->failures += store_and_check(a->store, own, sizeof(own),
					       100 + round);
	}
	return NULL;
}

/* Four threads writing the same and different blobs concurrently. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct thread_arg args[N_THREADS];
	pthread_t threads[N_THREADS];
	unsigned char shared[3000];
	char hash[65];

	for (unsigned int i = 0; i < N_THREADS; i++) {
		args[i] = (struct thread_arg){.store = f->store, .id = i};
		assert_int_equal(pthread_create(&threads[i], NULL, thread_main,
						&args[i]),
				 0);
	}
	for (unsigned int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
	}
	fill(shared, sizeof(shared), 99);
	sha256_hex(shared, sizeof(shared), hash);
	assert_true(mc_blob_exists(f->store, hash));
	if (is_fs(f)) {
		assert_int_equal(count_blobs(f), 1 + N_THREADS * N_ROUNDS);
		assert_int_equal(count_tmp(f), 0);
	}
}

/* Filesystem layout: DIR/ab/cd/<hash>, a regular file of mode 0640. */
static void test_fs_layout(void **state)
{
	struct fixture *f = *state;
	char path[300], hash[65], buf[8] = "";
	struct stat st;
	int fd;

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	blob_file(f, hash, path, sizeof(path));
	assert_string_equal(path + strlen(f->root), "/ba/78/" ABC_SHA256);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_size, 3);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	assert_string_equal(buf, "abc");
	snprintf(path, sizeof(path), "%s/ba/78", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0700, 0700);
	assert_int_equal(st.st_mode & 0007, 0);
}

/* Storing a blob again keeps the existing copy and refreshes its mtime. */
static void test_fs_mtime_refresh(void **state)
{
	struct fixture *f = *state;
	ino_t ino;
	struct timespec old[2] = {{946684800, 0}, {946684800, 0}};
	char path[300], hash[65];
	struct stat st;

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	blob_file(f, hash, path, sizeof(path));
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mtime, 946684800);
	ino = st.st_ino;
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtime > time(NULL) - 60);
	assert_int_equal(st.st_ino, ino); /* the old copy was kept */
	assert_int_equal(count_tmp(f), 0);
}

/* With fsync on, blobs land the same way. */
static void test_fs_fsync(void **state)
{
	struct fixture *f = *state;
	struct mc_blob_store *store;
	struct mc_blob_reader *r;
	char dir[200], hash[65], buf[4];

	snprintf(dir, sizeof(dir), "%s/synced/", f->tmp);
	store = mc_blob_store_fs_create(dir, true, NULL);
	assert_non_null(store);
	assert_int_equal(mc_blob_put(store, "abc", 3, hash, NULL), 0);
	assert_int_equal(mc_blob_put(store, "abc", 3, hash, NULL), 0);
	r = mc_blob_open(store, hash, NULL);
	assert_non_null(r);
	assert_int_equal(mc_blob_pread(r, buf, sizeof(buf), 0, NULL), 3);
	assert_memory_equal(buf, "abc", 3);
	mc_blob_reader_close(&r);
	mc_blob_store_destroy(&store);
	assert_null(store);
	mc_blob_store_destroy(&store);
	mc_blob_store_destroy(NULL);
	snprintf(dir, sizeof(dir), "%s/synced/ba/78/" ABC_SHA256, f->tmp);
	assert_int_equal(access(dir, F_OK), 0);
}

/* A root that cannot be created fails cleanly; an existing one opens. */
static void test_fs_create_fails(void **state)
{
	struct fixture *f = *state;
	struct mc_blob_store *store;
	char path[128];
	struct mc_error err;

	snprintf(path, sizeof(path), "%s/file", f->tmp);
	assert_int_equal(close(creat(path, 0600)), 0);
	strcat(path, "/root");
	mc_error_clear(&err);
	assert_null(mc_blob_store_fs_create(path, false, &err));
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "Not a directory"));
	mc_error_clear(&err);
	assert_null(mc_blob_store_fs_create("", false, &err));
	assert_int_equal(err.cls, MC_ERR_INVALID);
	store = mc_blob_store_fs_create(f->root, false, NULL);
	assert_non_null(store);
	mc_blob_store_destroy(&store);
}

/* When DIR/ab cannot be a directory, finish fails with the path and
 * reason, and no temp file stays; other prefixes still work. */
static void test_fs_finish_fails(void **state)
{
	struct fixture *f = *state;
	struct mc_blob_writer *w;
	char path[200], hash[65] = "x";
	struct mc_error err;

	snprintf(path, sizeof(path), "%s/ba", f->root);
	assert_int_equal(close(creat(path, 0600)), 0);
	mc_error_clear(&err);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, &err), -1);
	assert_string_equal(hash, "");
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "/root/ba/78"));
	assert_non_null(strstr(err.msg, "Not a directory"));
	assert_int_equal(count_tmp(f), 0);

	w = mc_blob_writer_create(f->store, NULL);
	assert_non_null(w);
	assert_int_equal(mc_blob_writer_write(w, "ab", 2, NULL), 0);
	assert_int_equal(mc_blob_writer_write(w, "c", 1, NULL), 0);
	assert_int_equal(mc_blob_writer_finish(&w, hash, NULL), -1);
	assert_null(w);
	assert_int_equal(count_tmp(f), 0);
	assert_false(mc_blob_exists(f->store, ABC_SHA256));

	assert_int_equal(mc_blob_put(f->store, "", 0, hash, NULL), 0);
	assert_string_equal(hash, EMPTY_SHA256);
}

/* A failed write (file size limit) poisons the writer: finish stores
 * nothing and removes the temp file. */
static void test_fs_write_fails(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	unsigned char data[8192];
	struct mc_blob_writer *w;
	char hash[65];
	struct mc_error err;
	int write_ret, again_ret, finish_ret;
	void (*old_handler)(int);

	memset(data, 'x', sizeof(data));
	mc_error_clear(&err);
	w = mc_blob_writer_create(f->store, NULL);
	assert_non_null(w);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	write_ret = mc_blob_writer_write(w, data, sizeof(data), &err);
	again_ret = mc_blob_writer_write(w, "a", 1, NULL);
	finish_ret = mc_blob_writer_finish(&w, hash, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);

	assert_int_equal(write_ret, -1);
	assert_int_equal(err.cls, MC_ERR_PERMANENT);
	assert_non_null(strstr(err.msg, "File too large"));
	assert_int_equal(again_ret, -1);
	assert_int_equal(finish_ret, -1);
	assert_null(w);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(count_blobs(f), 0);
}

/* What a walk saw. */
struct seen {
	char hashes[8][65];
	time_t mtimes[8];
	int count;
	int stop_after; /* return -1 at this call; 0 = never */
	bool delete_each;
	struct mc_blob_store *store;
};

/* foreach callback: records the blob, maybe deletes it or stops. */
static int see(const char *hash, time_t mtime, void *ctx)
{
	struct seen *s = ctx;

	if (s->count < 8) {
		snprintf(s->hashes[s->count], 65, "%s", hash);
		s->mtimes[s->count] = mtime;
	}
	s->count++;
	if (s->delete_each && mc_blob_delete(s->store, hash, NULL) < 0)
		return -1;
	return s->count == s->stop_after ? -1 : 0;
}

/* Index of hash among what was seen, -1 if not there. */
static int seen_index(const struct seen *s, const char *hash)
{
	for (int i = 0; i < s->count && i < 8; i++) {
		if (strcmp(s->hashes[i], hash) == 0)
			return i;
	}
	return -1;
}

/* The walk sees each blob once with the time it was stored; -1 from the
 * callback stops it; the callback may delete what it is given. */
static void test_foreach(void **state)
{
	struct fixture *f = *state;
	unsigned char data[700];
	char hashes[3][65];
	struct seen s = {0};
	time_t t0 = time(NULL), t1;

	assert_int_equal(mc_blob_foreach(f->store, see, &s, NULL), 0);
	assert_int_equal(s.count, 0);
	fill(data, sizeof(data), 4);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hashes[0], NULL), 0);
	assert_int_equal(mc_blob_put(f->store, "", 0, hashes[1], NULL), 0);
	assert_int_equal(
		mc_blob_put(f->store, data, sizeof(data), hashes[2], NULL), 0);
	t1 = time(NULL);
	assert_int_equal(mc_blob_foreach(f->store, see, &s, NULL), 0);
	assert_int_equal(s.count, 3);
	for (int i = 0; i < 3; i++) {
		int j = seen_index(&s, hashes[i]);

		assert_true(j >= 0);
		assert_true(s.mtimes[j] >= t0 && s.mtimes[j] <= t1);
	}
	s = (struct seen){.stop_after = 2};
	assert_int_equal(mc_blob_foreach(f->store, see, &s, NULL), -1);
	assert_int_equal(s.count, 2);
	s = (struct seen){.delete_each = true, .store = f->store};
	assert_int_equal(mc_blob_foreach(f->store, see, &s, NULL), 0);
	assert_int_equal(s.count, 3);
	for (int i = 0; i < 3; i++)
		assert_false(mc_blob_exists(f->store, hashes[i]));
}

/* Only blobs stored before the given time go; the size comes back. */
static void test_delete_if_older(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;
	char hash[65];
	struct mc_error err;

	mc_error_clear(&err);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	assert_int_equal(mc_blob_delete_if_older(f->store, hash,
						 time(NULL) - 60, &size, &err),
			 0);
	assert_true(mc_blob_exists(f->store, hash));
	assert_int_equal(mc_blob_delete_if_older(f->store, hash, time(NULL) + 2,
						 &size, &err),
			 1);
	assert_int_equal(size, 3);
	assert_false(mc_blob_exists(f->store, hash));
	assert_int_equal(mc_blob_delete_if_older(f->store, hash, time(NULL) + 2,
						 NULL, &err),
			 0);
	assert_int_equal(err.cls, MC_ERR_NONE);
	assert_int_equal(mc_blob_delete_if_older(f->store, "../x",
						 time(NULL) + 2, NULL, &err),
			 -1);
	assert_int_equal(err.cls, MC_ERR_INVALID);
	if (is_fs(f))
		assert_int_equal(count_tmp(f), 0);
}

/* Sets path's mtime to when. */
static void set_mtime(const char *path, time_t when)
{
	struct timespec ts[2] = {{when, 0}, {when, 0}};

	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Temp files older than the limit go, an open writer's stays and still
 * finishes; the memory backend has none. */
static void test_clean_tmp(void **state)
{
	struct fixture *f = *state;
	struct mc_blob_writer *w = mc_blob_writer_create(f->store, NULL);
	char path[200], hash[65];
	time_t old = time(NULL) - 7200;

	assert_non_null(w);
	assert_int_equal(mc_blob_writer_write(w, "abc", 3, NULL), 0);
	if (!is_fs(f)) {
		assert_int_equal(
			mc_blob_clean_tmp(f->store, time(NULL) + 10, NULL), 0);
		mc_blob_writer_abort(&w);
		return;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/tmp/blob.crash%d", f->root, i);
		assert_int_equal(close(creat(path, 0600)), 0);
		set_mtime(path, old);
	}
	snprintf(path, sizeof(path), "%s/tmp/olddir", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	set_mtime(path, old);
	assert_int_equal(count_tmp(f), 4);
	assert_int_equal(mc_blob_clean_tmp(f->store, time(NULL) - 60, NULL), 2);
	assert_int_equal(count_tmp(f), 2); /* the writer's and the dir */
	assert_int_equal(mc_blob_clean_tmp(f->store, time(NULL) - 60, NULL), 0);
	assert_int_equal(mc_blob_writer_finish(&w, hash, NULL), 0);
	assert_string_equal(hash, ABC_SHA256);
	assert_true(mc_blob_exists(f->store, hash));
}

/* Creates root/rel as an empty file. */
static void touch(const struct fixture *f, const char *rel)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(close(creat(path, 0600)), 0);
}

/* Creates root/rel as a directory. */
static void make_dir(const struct fixture *f, const char *rel)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(mkdir(path, 0700), 0);
}

/* The walk skips what is not DIR/ab/cd/<abcd...> as a regular file and
 * reports the file's mtime. */
static void test_fs_foreach_skips_strays(void **state)
{
	struct fixture *f = *state;
	char path[300], hash[65];
	struct seen s = {0};

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	blob_file(f, hash, path, sizeof(path));
	set_mtime(path, 946684800);
	touch(f, "ba/78/notahash");
	touch(f, "ba/78/" EMPTY_SHA256); /* wrong directory */
	make_dir(f, "ba/78/" ABC_SHA256 "0");
	touch(f, "tmp/" EMPTY_SHA256); /* a temp file */
	touch(f, "e3");		       /* a file, not a directory */
	make_dir(f, "E3");	       /* upper case */
	make_dir(f, "e3b");	       /* three digits */
	make_dir(f, "e4");
	touch(f, "e4/b0");
	make_dir(f, "e5");
	make_dir(f, "e5/b0");
	snprintf(path, sizeof(path), "%s/ba/78/%s", f->root,
		 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001"
		 "500");
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(mc_blob_foreach(f->store, see, &s, NULL), 0);
	assert_int_equal(s.count, 1);
	assert_string_equal(s.hashes[0], ABC_SHA256);
	assert_int_equal(s.mtimes[0], 946684800);
}

/* An old blob goes; one stored again since (mtime refreshed) stays, and
 * neither leaves anything in tmp/. */
static void test_fs_delete_if_older_refreshed(void **state)
{
	struct fixture *f = *state;
	char path[300], hash[65];
	uint64_t size = 0;

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	blob_file(f, hash, path, sizeof(path));
	set_mtime(path, time(NULL) - 7200);
	assert_int_equal(mc_blob_delete_if_older(f->store, hash,
						 time(NULL) - 3600, &size,
						 NULL),
			 1);
	assert_int_equal(size, 3);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	set_mtime(path, time(NULL) - 7200);
	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	assert_int_equal(mc_blob_delete_if_older(f->store, hash,
						 time(NULL) - 3600, &size,
						 NULL),
			 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_tmp(f), 0);
}

/* A blob directory that cannot be read fails the walk with its path. */
static void test_fs_foreach_fails(void **state)
{
	struct fixture *f = *state;
	char path[300], hash[65];
	struct seen s = {0};
	struct mc_error err;

	assert_int_equal(mc_blob_put(f->store, "abc", 3, hash, NULL), 0);
	snprintf(path, sizeof(path), "%s/ba/78", f->root);
	assert_int_equal(chmod(path, 0), 0);
	mc_error_clear(&err);
	int ret = mc_blob_foreach(f->store, see, &s, &err);
	assert_int_equal(chmod(path, 0750), 0);
	if (geteuid() == 0) /* root reads it anyway */
		assert_int_equal(ret, 0);
	else {
		assert_int_equal(ret, -1);
		assert_non_null(strstr(err.msg, "/root/ba/78"));
	}
	rm_tree(f->root);
	mc_error_clear(&err);
	assert_int_equal(mc_blob_foreach(f->store, see, &s, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
	assert_int_equal(mc_blob_clean_tmp(f->store, time(NULL), &err), -1);
}

#define BOTH(fn)                                                               \
	{.name = "fs/" #fn,                                                    \
	 .test_func = fn,                                                      \
	 .setup_func = setup_fs,                                               \
	 .teardown_func = teardown},                                           \
	{                                                                      \
		.name = "memory/" #fn, .test_func = fn,                        \
		.setup_func = setup_memory, .teardown_func = teardown          \
	}
#define FS(fn)                                                                 \
	{                                                                      \
		.name = "fs/" #fn, .test_func = fn, .setup_func = setup_fs,    \
		.teardown_func = teardown                                      \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_valid),
		BOTH(test_put_read),
		BOTH(test_stream),
		BOTH(test_dedup),
		BOTH(test_writer_pread),
		BOTH(test_abort),
		BOTH(test_delete),
		BOTH(test_reader_outlives_delete),
		BOTH(test_invalid),
		BOTH(test_threads),
		BOTH(test_foreach),
		BOTH(test_delete_if_older),
		BOTH(test_clean_tmp),
		FS(test_fs_foreach_skips_strays),
		FS(test_fs_delete_if_older_refreshed),
		FS(test_fs_foreach_fails),
		FS(test_fs_layout),
		FS(test_fs_mtime_refresh),
		FS(test_fs_fsync),
		FS(test_fs_create_fails),
		FS(test_fs_finish_fails),
		FS(test_fs_write_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
