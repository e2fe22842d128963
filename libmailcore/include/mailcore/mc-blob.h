/* mc-blob: the message content store. Blobs are immutable byte strings
 * named by the SHA-256 of their content (64 lower-case hex digits), so
 * one copy serves every recipient. A backend sits behind a vtable: the
 * filesystem one writes a temp file, fsyncs it, renames it into
 * DIR/ab/cd/<hash> and fsyncs the directory, so a finished write is
 * durable; the memory one is for unit tests. Reference counts live in
 * PostgreSQL (mc-store), not here. All calls are thread-safe. */
#ifndef MC_BLOB_H
#define MC_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct mc_error;
struct mc_blob_store;
struct mc_blob_writer;
struct mc_blob_reader;

#define MC_BLOB_HASH_LEN 64 /* hex digits; buffers need one more */

/* Filesystem backend rooted at dir (created with tmp/ if missing).
 * fsync false skips fsync (tests only). NULL with err on failure. The
 * caller owns the result. */
struct mc_blob_store *mc_blob_store_fs_create(const char *dir, bool fsync,
					      struct mc_error *err);
/* In-memory backend. */
struct mc_blob_store *mc_blob_store_memory_create(void);
/* Accepts NULL and clears *store. Writers and readers must be gone. */
void mc_blob_store_destroy(struct mc_blob_store **store);

/* Starts a new blob (a temp file for the filesystem backend). */
struct mc_blob_writer *mc_blob_writer_create(struct mc_blob_store *store,
					     struct mc_error *err);
/* Appends bytes; -1 with err (disk full: MC_ERR_TEMPORARY). */
int mc_blob_writer_write(struct mc_blob_writer *w, const void *data, size_t len,
			 struct mc_error *err);
/* Bytes written so far. */
uint64_t mc_blob_writer_size(const struct mc_blob_writer *w);
/* Reads back up to len written bytes at offset (a writer used as a
 * spool, e.g. while filters look at a message before it is stored with
 * the headers they add); the count (0 at the end) or -1 with err. */
ssize_t mc_blob_writer_pread(struct mc_blob_writer *w, void *buf, size_t len,
			     uint64_t offset, struct mc_error *err);
/* Makes the blob durable under its hash and frees the writer (also on
 * failure); *w is cleared. If a blob with that hash exists already the
 * new copy is dropped and the old one kept (its mtime refreshed so a
 * collector running at the same time spares it). hash_r gets the hex
 * name. 0, or -1 with err. */
int mc_blob_writer_finish(struct mc_blob_writer **w,
			  char hash_r[MC_BLOB_HASH_LEN + 1],
			  struct mc_error *err);
/* Drops an unfinished blob; accepts NULL and clears *w. */
void mc_blob_writer_abort(struct mc_blob_writer **w);

/* Whole-blob convenience: writes data and finishes. */
int mc_blob_put(struct mc_blob_store *store, const void *data, size_t len,
		char hash_r[MC_BLOB_HASH_LEN + 1], struct mc_error *err);

/* Opens a blob for reading; NULL with err (MC_ERR_NOTFOUND if absent,
 * MC_ERR_INVALID for a malformed hash). The caller closes it. */
struct mc_blob_reader *mc_blob_open(struct mc_blob_store *store,
				    const char *hash, struct mc_error *err);
uint64_t mc_blob_reader_size(const struct mc_blob_reader *r);
/* Reads up to len bytes at offset; returns the count (0 at the end) or
 * -1 with err. */
ssize_t mc_blob_pread(struct mc_blob_reader *r, void *buf, size_t len,
		      uint64_t offset, struct mc_error *err);
/* The file descriptor behind a filesystem reader (for sendfile or
 * mmap), -1 for other backends. Owned by the reader. */
int mc_blob_reader_fd(const struct mc_blob_reader *r);
void mc_blob_reader_close(struct mc_blob_reader **r);

bool mc_blob_exists(struct mc_blob_store *store, const char *hash);
/* Removes a blob; 0 also when it was already gone, -1 with err. */
int mc_blob_delete(struct mc_blob_store *store, const char *hash,
		   struct mc_error *err);
/* Removes a blob only if it was last written before older_than (a
 * writer storing the same content refreshes that time, so a collector
 * never takes a blob a delivery is about to reference; on disk the file
 * is first moved aside, then checked). 1 removed (*size_r gets its
 * size, size_r may be NULL), 0 spared or absent, -1 with err. */
int mc_blob_delete_if_older(struct mc_blob_store *store, const char *hash,
			    time_t older_than, uint64_t *size_r,
			    struct mc_error *err);
/* True for 64 lower-case hex digits. */
bool mc_blob_hash_valid(const char *hash);

/* Calls fn for every stored blob with its name and when it was last
 * written (the file mtime on disk, the insert time in memory), in no
 * particular order. On disk only DIR/ab/cd/<hash> files whose name is a
 * valid hash starting with ab and cd count; anything else is skipped.
 * fn may delete the blob it is given; blobs stored or removed during the
 * walk may or may not be seen. fn returning -1 stops the walk with -1
 * (fn keeps its own error in ctx). 0 after the whole walk, or -1 with
 * err when a directory cannot be read. */
int mc_blob_foreach(struct mc_blob_store *store,
		    int (*fn)(const char *hash, time_t mtime, void *ctx),
		    void *ctx, struct mc_error *err);
/* Removes the temp files of unfinished writes (a crashed writer's) last
 * modified before older_than. Returns how many, or -1 with err; always 0
 * for the memory backend, whose writers leave nothing behind. */
int mc_blob_clean_tmp(struct mc_blob_store *store, time_t older_than,
		      struct mc_error *err);

#endif
