/* mc-blob-memory: the in-memory blob backend for unit tests. Blobs sit in
 * an array sorted by hash behind one mutex; each is reference counted so
 * a reader keeps its bytes even after the blob is deleted. The first copy
 * of a hash wins, as on disk, and storing it again refreshes its time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include "mc-blob-private.h"

struct mem_blob {
	char hash[MC_BLOB_HASH_LEN + 1];
	unsigned int refs; /* under the store mutex */
	time_t mtime;	   /* stored or last stored again; under the mutex */
	size_t size;
	unsigned char data[];
};

struct mem_store {
	struct mc_blob_store store;
	pthread_mutex_t mutex;
	struct mem_blob **blobs; /* sorted by hash */
	size_t count, cap;
};

struct mem_writer {
	struct mc_blob_writer w;
	struct mc_buf buf;
};

struct mem_reader {
	struct mc_blob_reader r;
	struct mem_blob *blob;
};

/* Index of hash, or where it would go; *found_r says which. Locked. */
static size_t mem_find(const struct mem_store *ms, const char *hash,
		       bool *found_r)
{
	size_t lo = 0, hi = ms->count;

	*found_r = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(ms->blobs[mid]->hash, hash);

		if (cmp == 0) {
			*found_r = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Inserts blob at index i, growing the array. Locked. */
static void mem_insert(struct mem_store *ms, size_t i, struct mem_blob *blob)
{
	size_t bytes;

	if (ms->count == ms->cap) {
		ms->cap = ms->cap == 0 ? 16 : ms->cap * 2;
		if (!mc_size_mul(ms->cap, sizeof(*ms->blobs), &bytes))
			abort();
		ms->blobs = mc_realloc(ms->blobs, bytes);
	}
	memmove(ms->blobs + i + 1, ms->blobs + i,
		(ms->count - i) * sizeof(*ms->blobs));
	ms->blobs[i] = blob;
	ms->count++;
}

/* Drops one reference, freeing the blob with the last. Locked. */
static void mem_unref(struct mem_blob *blob)
{
	if (--blob->refs == 0)
		free(blob);
}

/* Frees the store and every blob in it. */
static void mem_destroy(struct mc_blob_store *store)
{
	struct mem_store *ms = (struct mem_store *)store;

	for (size_t i = 0; i < ms->count; i++)
		mem_unref(ms->blobs[i]);
	free(ms->blobs);
	pthread_mutex_destroy(&ms->mutex);
	free(ms);
}

/* A writer collecting bytes in a heap buffer. */
static struct mc_blob_writer *mem_writer_create(struct mc_blob_store *store,
						struct mc_error *err)
{
	struct mem_writer *w = mc_calloc(1, sizeof(*w));

	(void)store;
	(void)err;
	mc_buf_init(&w->buf, NULL, 0);
	return &w->w;
}

/* Appends to the buffer. */
static int mem_writer_write(struct mc_blob_writer *_w, const void *data,
			    size_t len, struct mc_error *err)
{
	struct mem_writer *w = (struct mem_writer *)_w;

	if (!mc_buf_append(&w->buf, data, len)) {
		mc_error_set(err, MC_ERR_PERMANENT, "blob: too large");
		return -1;
	}
	return 0;
}

/* Copies written bytes out. */
static ssize_t mem_writer_pread(struct mc_blob_writer *_w, void *buf,
				size_t len, uint64_t offset,
				struct mc_error *err)
{
	struct mem_writer *w = (struct mem_writer *)_w;

	(void)err;
	memcpy(buf, w->buf.data + offset, len);
	return (ssize_t)len;
}

/* A blob holding a copy of the writer's bytes, one reference. */
static struct mem_blob *mem_blob_new(const struct mem_writer *w,
				     const char *hash)
{
	struct mem_blob *blob;
	size_t bytes;

	if (!mc_size_add(sizeof(*blob), w->buf.len, &bytes))
		abort();
	blob = mc_malloc(bytes);
	memcpy(blob->hash, hash, sizeof(blob->hash));
	blob->refs = 1;
	blob->mtime = time(NULL);
	blob->size = w->buf.len;
	if (w->buf.len != 0)
		memcpy(blob->data, w->buf.data, w->buf.len);
	return blob;
}

/* Frees a writer. */
static void mem_writer_free(struct mem_writer *w)
{
	mc_buf_free(&w->buf);
	free(w);
}

/* Stores the bytes unless the hash is there already; frees the writer. */
static int mem_writer_finish(struct mc_blob_writer *_w, const char *hash,
			     struct mc_error *err)
{
	struct mem_writer *w = (struct mem_writer *)_w;
	struct mem_store *ms = (struct mem_store *)_w->store;
	struct mem_blob *blob = mem_blob_new(w, hash);
	bool found;
	size_t i;

	(void)err;
	pthread_mutex_lock(&ms->mutex);
	i = mem_find(ms, hash, &found);
	if (!found) {
		mem_insert(ms, i, blob);
		blob = NULL;
	} else {
		ms->blobs[i]->mtime = time(NULL);
	}
	pthread_mutex_unlock(&ms->mutex);
	free(blob);
	mem_writer_free(w);
	return 0;
}

/* Frees the writer and its bytes. */
static void mem_writer_abort(struct mc_blob_writer *w)
{
	mem_writer_free((struct mem_writer *)w);
}

/* A reader holding a reference to the blob. */
static struct mc_blob_reader *mem_open(struct mc_blob_store *store,
				       const char *hash, struct mc_error *err)
{
	struct mem_store *ms = (struct mem_store *)store;
	struct mem_reader *r = NULL;
	bool found;
	size_t i;

	pthread_mutex_lock(&ms->mutex);
	i = mem_find(ms, hash, &found);
	if (found) {
		r = mc_calloc(1, sizeof(*r));
		r->blob = ms->blobs[i];
		r->blob->refs++;
	}
	pthread_mutex_unlock(&ms->mutex);
	if (r == NULL) {
		mc_error_set(err, MC_ERR_NOTFOUND, "blob %s not found", hash);
		return NULL;
	}
	r->r.size = r->blob->size;
	r->r.fd = -1;
	return &r->r;
}

/* Copies from the (immutable) blob. */
static ssize_t mem_pread(struct mc_blob_reader *_r, void *buf, size_t len,
			 uint64_t offset, struct mc_error *err)
{
	struct mem_reader *r = (struct mem_reader *)_r;

	(void)err;
	memcpy(buf, r->blob->data + offset, len);
	return (ssize_t)len;
}

/* Drops the reader's reference. */
static void mem_reader_close(struct mc_blob_reader *_r)
{
	struct mem_reader *r = (struct mem_reader *)_r;
	struct mem_store *ms = (struct mem_store *)_r->store;

	pthread_mutex_lock(&ms->mutex);
	mem_unref(r->blob);
	pthread_mutex_unlock(&ms->mutex);
	free(r);
}

/* True when the hash is stored. */
static bool mem_exists(struct mc_blob_store *store, const char *hash)
{
	struct mem_store *ms = (struct mem_store *)store;
	bool found;

	pthread_mutex_lock(&ms->mutex);
	(void)mem_find(ms, hash, &found);
	pthread_mutex_unlock(&ms->mutex);
	return found;
}

/* Takes blob i out of the array. Locked. */
static void mem_remove_at(struct mem_store *ms, size_t i)
{
	mem_unref(ms->blobs[i]);
	memmove(ms->blobs + i, ms->blobs + i + 1,
		(ms->count - i - 1) * sizeof(*ms->blobs));
	ms->count--;
}

/* Removes the hash from the array; open readers keep their copy. */
static int mem_delete(struct mc_blob_store *store, const char *hash,
		      struct mc_error *err)
{
	struct mem_store *ms = (struct mem_store *)store;
	bool found;
	size_t i;

	(void)err;
	pthread_mutex_lock(&ms->mutex);
	i = mem_find(ms, hash, &found);
	if (found)
		mem_remove_at(ms, i);
	pthread_mutex_unlock(&ms->mutex);
	return 0;
}

/* Removes the hash if it was stored before older_than. */
static int mem_delete_if_older(struct mc_blob_store *store, const char *hash,
			       time_t older_than, uint64_t *size_r,
			       struct mc_error *err)
{
	struct mem_store *ms = (struct mem_store *)store;
	bool found;
	size_t i;
	int ret = 0;

	(void)err;
	pthread_mutex_lock(&ms->mutex);
	i = mem_find(ms, hash, &found);
	if (found && ms->blobs[i]->mtime < older_than) {
		*size_r = ms->blobs[i]->size;
		mem_remove_at(ms, i);
		ret = 1;
	}
	pthread_mutex_unlock(&ms->mutex);
	return ret;
}

/* A name and time seen by a walk. */
struct mem_entry {
	char hash[MC_BLOB_HASH_LEN + 1];
	time_t mtime;
};

/* Calls fn for a snapshot of the blobs, outside the lock (so fn may
 * delete them). */
static int mem_foreach(struct mc_blob_store *store,
		       int (*fn)(const char *hash, time_t mtime, void *ctx),
		       void *ctx, struct mc_error *err)
{
	struct mem_store *ms = (struct mem_store *)store;
	struct mem_entry *list;
	size_t n;
	int ret = 0;

	(void)err;
	pthread_mutex_lock(&ms->mutex);
	n = ms->count;
	list = mc_calloc(n + 1, sizeof(*list));
	for (size_t i = 0; i < n; i++) {
		memcpy(list[i].hash, ms->blobs[i]->hash, sizeof(list[i].hash));
		list[i].mtime = ms->blobs[i]->mtime;
	}
	pthread_mutex_unlock(&ms->mutex);
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = fn(list[i].hash, list[i].mtime, ctx) < 0 ? -1 : 0;
	free(list);
	return ret;
}

/* Memory writers leave no temp files. */
static int mem_clean_tmp(struct mc_blob_store *store, time_t older_than,
			 struct mc_error *err)
{
	(void)store;
	(void)older_than;
	(void)err;
	return 0;
}

static const struct mc_blob_vfuncs mem_vfuncs = {
	.destroy = mem_destroy,
	.writer_create = mem_writer_create,
	.writer_write = mem_writer_write,
	.writer_finish = mem_writer_finish,
	.writer_abort = mem_writer_abort,
	.writer_pread = mem_writer_pread,
	.open = mem_open,
	.pread = mem_pread,
	.reader_close = mem_reader_close,
	.exists = mem_exists,
	.delete_blob = mem_delete,
	.delete_if_older = mem_delete_if_older,
	.walk = mem_foreach,
	.clean_tmp = mem_clean_tmp,
};

/* An empty in-memory store. */
struct mc_blob_store *mc_blob_store_memory_create(void)
{
	struct mem_store *ms = mc_calloc(1, sizeof(*ms));

	ms->store.v = &mem_vfuncs;
	pthread_mutex_init(&ms->mutex, NULL);
	return &ms->store;
}
