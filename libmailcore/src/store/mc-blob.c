/* mc-blob: dispatch from the public blob API to a backend vtable, plus the
 * parts every backend shares: SHA-256 of the written bytes (OpenSSL EVP),
 * hash validation before any backend sees a name (so no path is ever
 * built from one that is malformed), and read clamping to the blob size. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"

#include "mc-blob-private.h"

#define SHA256_LEN 32

/* True for 64 lower-case hex digits followed by the NUL. */
bool mc_blob_hash_valid(const char *hash)
{
	if (hash == NULL)
		return false;
	for (size_t i = 0; i < MC_BLOB_HASH_LEN; i++) {
		char c = hash[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return hash[MC_BLOB_HASH_LEN] == '\0';
}

/* Sets MC_ERR_INVALID unless hash is well formed; false then. */
static bool hash_check(const char *hash, struct mc_error *err)
{
	if (mc_blob_hash_valid(hash))
		return true;
	mc_error_set(err, MC_ERR_INVALID, "blob: invalid hash");
	return false;
}

/* Frees the store through its backend; accepts NULL. */
void mc_blob_store_destroy(struct mc_blob_store **store)
{
	if (store == NULL || *store == NULL)
		return;
	(*store)->v->destroy(*store);
	*store = NULL;
}

/* Frees the digest state of a writer. */
static void writer_free_md(struct mc_blob_writer *w)
{
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
}

/* A backend writer with a fresh SHA-256 context. */
struct mc_blob_writer *mc_blob_writer_create(struct mc_blob_store *store,
					     struct mc_error *err)
{
	struct mc_blob_writer *w = store->v->writer_create(store, err);

	if (w == NULL)
		return NULL;
	w->store = store;
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL)
		abort();
	if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "blob: SHA-256 init failed");
		mc_blob_writer_abort(&w);
		return NULL;
	}
	return w;
}

/* Hands the bytes to the backend, then to the digest. */
int mc_blob_writer_write(struct mc_blob_writer *w, const void *data, size_t len,
			 struct mc_error *err)
{
	if (w->failed) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "blob: write after a failed write");
		return -1;
	}
	if (len == 0)
		return 0;
	if (w->store->v->writer_write(w, data, len, err) < 0) {
		w->failed = true;
		return -1;
	}
	if (EVP_DigestUpdate(w->md, data, len) != 1) {
		w->failed = true;
		mc_error_set(err, MC_ERR_PERMANENT, "blob: SHA-256 failed");
		return -1;
	}
	w->size += len;
	return 0;
}

/* Bytes accepted so far. */
uint64_t mc_blob_writer_size(const struct mc_blob_writer *w)
{
	return w->size;
}

ssize_t mc_blob_writer_pread(struct mc_blob_writer *w, void *buf, size_t len,
			     uint64_t offset, struct mc_error *err)
{
	if (offset >= w->size || len == 0)
		return 0;
	if (len > w->size - offset)
		len = (size_t)(w->size - offset);
	return w->store->v->writer_pread(w, buf, len, offset, err);
}

/* The lower-case hex digest of everything written. */
static int writer_digest(struct mc_blob_writer *w,
			 char hash[MC_BLOB_HASH_LEN + 1], struct mc_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(w->md, md, &len) != 1 || len != SHA256_LEN) {
		mc_error_set(err, MC_ERR_PERMANENT, "blob: SHA-256 failed");
		return -1;
	}
	for (unsigned int i = 0; i < len; i++)
		snprintf(hash + i * 2, 3, "%02x", md[i]);
	return 0;
}

/* Commits the blob under its hash; the writer is gone afterwards. */
int mc_blob_writer_finish(struct mc_blob_writer **wp,
			  char hash_r[MC_BLOB_HASH_LEN + 1],
			  struct mc_error *err)
{
	struct mc_blob_writer *w = *wp;
	char hash[MC_BLOB_HASH_LEN + 1];
	int ret;

	*wp = NULL;
	hash_r[0] = '\0';
	if (w->failed) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "blob: not stored after a failed write");
		mc_blob_writer_abort(&w);
		return -1;
	}
	if (writer_digest(w, hash, err) < 0) {
		mc_blob_writer_abort(&w);
		return -1;
	}
	writer_free_md(w);
	ret = w->store->v->writer_finish(w, hash, err);
	if (ret == 0)
		memcpy(hash_r, hash, sizeof(hash));
	return ret;
}

/* Drops an unfinished blob; accepts NULL. */
void mc_blob_writer_abort(struct mc_blob_writer **w)
{
	if (w == NULL || *w == NULL)
		return;
	writer_free_md(*w);
	(*w)->store->v->writer_abort(*w);
	*w = NULL;
}

/* Writes a whole blob in one go. */
int mc_blob_put(struct mc_blob_store *store, const void *data, size_t len,
		char hash_r[MC_BLOB_HASH_LEN + 1], struct mc_error *err)
{
	struct mc_blob_writer *w = mc_blob_writer_create(store, err);

	hash_r[0] = '\0';
	if (w == NULL)
		return -1;
	if (mc_blob_writer_write(w, data, len, err) < 0) {
		mc_blob_writer_abort(&w);
		return -1;
	}
	return mc_blob_writer_finish(&w, hash_r, err);
}

/* Opens a blob after checking its name. */
struct mc_blob_reader *mc_blob_open(struct mc_blob_store *store,
				    const char *hash, struct mc_error *err)
{
	struct mc_blob_reader *r;

	if (!hash_check(hash, err))
		return NULL;
	r = store->v->open(store, hash, err);
	if (r != NULL)
		r->store = store;
	return r;
}

/* The blob size in bytes. */
uint64_t mc_blob_reader_size(const struct mc_blob_reader *r)
{
	return r->size;
}

/* Reads what exists of [offset, offset + len). */
ssize_t mc_blob_pread(struct mc_blob_reader *r, void *buf, size_t len,
		      uint64_t offset, struct mc_error *err)
{
	if (offset >= r->size || len == 0)
		return 0;
	if (len > r->size - offset)
		len = (size_t)(r->size - offset);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return r->store->v->pread(r, buf, len, offset, err);
}

/* The reader's file descriptor, -1 when it has none. */
int mc_blob_reader_fd(const struct mc_blob_reader *r)
{
	return r->fd;
}

/* Closes a reader; accepts NULL. */
void mc_blob_reader_close(struct mc_blob_reader **r)
{
	if (r == NULL || *r == NULL)
		return;
	(*r)->store->v->reader_close(*r);
	*r = NULL;
}

/* True when a blob of that (valid) name is stored. */
bool mc_blob_exists(struct mc_blob_store *store, const char *hash)
{
	if (!mc_blob_hash_valid(hash))
		return false;
	return store->v->exists(store, hash);
}

/* Removes a blob after checking its name. */
int mc_blob_delete(struct mc_blob_store *store, const char *hash,
		   struct mc_error *err)
{
	if (!hash_check(hash, err))
		return -1;
	return store->v->delete_blob(store, hash, err);
}

/* Removes a blob not refreshed since older_than, after checking its name. */
int mc_blob_delete_if_older(struct mc_blob_store *store, const char *hash,
			    time_t older_than, uint64_t *size_r,
			    struct mc_error *err)
{
	uint64_t size = 0;

	if (!hash_check(hash, err))
		return -1;
	return store->v->delete_if_older(store, hash, older_than,
					 size_r != NULL ? size_r : &size, err);
}

/* Walks the backend's blobs. */
int mc_blob_foreach(struct mc_blob_store *store,
		    int (*fn)(const char *hash, time_t mtime, void *ctx),
		    void *ctx, struct mc_error *err)
{
	return store->v->walk(store, fn, ctx, err);
}

/* Removes the backend's stale temp files. */
int mc_blob_clean_tmp(struct mc_blob_store *store, time_t older_than,
		      struct mc_error *err)
{
	return store->v->clean_tmp(store, older_than, err);
}
