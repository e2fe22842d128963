/* mc-blob-private: the backend vtable behind mc-blob.h and the base structs
 * each backend embeds as the first member of its own. The dispatch layer
 * (mc-blob.c) validates hashes, hashes written bytes and clamps reads, so
 * backends only ever see well-formed requests. */
#ifndef MC_BLOB_PRIVATE_H
#define MC_BLOB_PRIVATE_H

#include <openssl/evp.h>

#include "mailcore/mc-blob.h"

struct mc_blob_vfuncs {
	/* Frees the store itself; never touches stored blobs. */
	void (*destroy)(struct mc_blob_store *store);
	/* A zeroed writer (base included); the caller fills the base. */
	struct mc_blob_writer *(*writer_create)(struct mc_blob_store *store,
						struct mc_error *err);
	int (*writer_write)(struct mc_blob_writer *w, const void *data,
			    size_t len, struct mc_error *err);
	/* Stores the blob under the (valid) hash; frees w in every case. */
	int (*writer_finish)(struct mc_blob_writer *w, const char *hash,
			     struct mc_error *err);
	/* Drops the blob and frees w. */
	void (*writer_abort)(struct mc_blob_writer *w);
	/* Reads back written bytes; 0 < len <= size - offset only. */
	ssize_t (*writer_pread)(struct mc_blob_writer *w, void *buf, size_t len,
				uint64_t offset, struct mc_error *err);
	/* A reader with base.size and base.fd set; the caller sets store. */
	struct mc_blob_reader *(*open)(struct mc_blob_store *store,
				       const char *hash, struct mc_error *err);
	/* Called with 0 < len <= size - offset only. */
	ssize_t (*pread)(struct mc_blob_reader *r, void *buf, size_t len,
			 uint64_t offset, struct mc_error *err);
	void (*reader_close)(struct mc_blob_reader *r);
	bool (*exists)(struct mc_blob_store *store, const char *hash);
	int (*delete_blob)(struct mc_blob_store *store, const char *hash,
			   struct mc_error *err);
	/* 1 removed (*size_r set), 0 spared or absent, -1 error. */
	int (*delete_if_older)(struct mc_blob_store *store, const char *hash,
			       time_t older_than, uint64_t *size_r,
			       struct mc_error *err);
	/* mc_blob_foreach: fn may delete the blob it is given. */
	int (*walk)(struct mc_blob_store *store,
		    int (*fn)(const char *hash, time_t mtime, void *ctx),
		    void *ctx, struct mc_error *err);
	/* Count of temp files removed, or -1. */
	int (*clean_tmp)(struct mc_blob_store *store, time_t older_than,
			 struct mc_error *err);
};

struct mc_blob_store {
	const struct mc_blob_vfuncs *v;
};

struct mc_blob_writer {
	struct mc_blob_store *store;
	EVP_MD_CTX *md;
	uint64_t size;
	bool failed; /* a write failed: finish must not commit */
};

struct mc_blob_reader {
	struct mc_blob_store *store;
	uint64_t size;
	int fd; /* -1 unless the backend reads from a file */
};

#endif
