/* mc-av-private: the backend vtable behind mc-av. A backend scans one
 * source, either bytes in memory or a reader callback over size bytes;
 * mc-av.c turns file descriptors and blobs into readers for every
 * backend alike. */
#ifndef MC_AV_PRIVATE_H
#define MC_AV_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "mailcore/mc-av.h"

/* What to scan: data (len bytes) when data is non-NULL, else size bytes
 * read through read(ctx). */
struct mc_av_source {
	const void *data;
	size_t len;
	mc_av_read_fn *read;
	void *ctx;
	uint64_t size;
};

#define MC_AV_NAME_MAX 256

struct mc_av_vfuncs {
	/* 1 infected with the signature name copied into name (cut to
	 * MC_AV_NAME_MAX - 1 bytes), 0 clean, -1 with err
	 * (MC_ERR_TEMPORARY). */
	int (*scan)(struct mc_av *av, const struct mc_av_source *src,
		    char name[MC_AV_NAME_MAX], struct mc_error *err);
	/* Frees the backend, av included. */
	void (*destroy)(struct mc_av *av);
};

/* The first member of every backend's struct. */
struct mc_av {
	const struct mc_av_vfuncs *v;
};

#endif
