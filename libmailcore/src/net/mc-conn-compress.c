/* mc-conn-compress: COMPRESS=DEFLATE (RFC 4978) as a bufferevent filter
 * with zlib: raw deflate (no zlib header, windowBits -15) both ways, the
 * output flushed with Z_SYNC_FLUSH when mc-conn asks (after each write
 * batch), the input inflated in bounded passes so a small compressed
 * burst cannot fill memory; a corrupt stream closes the connection. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

#include "mailcore/mc-pool.h"
#include "mc-conn-private.h"

#define INFLATE_BOUND (64 * 1024) /* most inflated bytes per pass */
#define OUT_CHUNK     (16 * 1024)

struct mc_conn_zlib {
	z_stream in, out;
	bool in_ok, out_ok;
	bool more;   /* inflate filled its output: it may hold more */
	bool dirty;  /* deflated since the last sync flush */
	bool failed; /* the stream is corrupt: everything is refused */
	mc_conn_zlib_error_fn *on_error;
	void *arg;
};

/* Marks the stream failed and tells mc-conn (once). */
static void zlib_fail(struct mc_conn_zlib *z)
{
	if (z->failed)
		return;
	z->failed = true;
	z->on_error(z->arg);
}

/* One inflate call from in[0..len) into at most room bytes of dst; sets
 * *used and *made; -1 on a corrupt stream. */
static int inflate_step(struct mc_conn_zlib *z, const unsigned char *in,
			size_t len, struct evbuffer *dst, size_t room,
			size_t *used, size_t *made)
{
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(dst, (ev_ssize_t)room, &vec, 1) < 1)
		return -1;
	size_t space = vec.iov_len < room ? vec.iov_len : room;
	z->in.next_in = (unsigned char *)in;
	z->in.avail_in = len > 65536 ? 65536 : (uInt)len;
	z->in.next_out = vec.iov_base;
	z->in.avail_out = (uInt)space;
	int r = inflate(&z->in, Z_SYNC_FLUSH);
	*used = (size_t)(z->in.next_in - in);
	*made = space - z->in.avail_out;
	vec.iov_len = *made;
	evbuffer_commit_space(dst, &vec, 1);
	z->more = z->in.avail_out == 0;
	return r == Z_OK || r == Z_BUF_ERROR ? 0 : -1;
}

/* Inflates src into dst until bound bytes are made or no progress is
 * possible; -1 on a corrupt stream, else the bytes made. */
static long inflate_pass(struct mc_conn_zlib *z, struct evbuffer *src,
			 struct evbuffer *dst, size_t bound)
{
	size_t total = 0;
	while (total < bound) {
		size_t len =
			src != NULL ? evbuffer_get_contiguous_space(src) : 0;
		if (len == 0 && !z->more)
			break;
		const unsigned char *in =
			len > 0 ? evbuffer_pullup(src, (ev_ssize_t)len)
				: (const unsigned char *)"";
		size_t used, made;
		if (inflate_step(z, in, len, dst, bound - total, &used, &made) <
		    0)
			return -1;
		if (used > 0)
			evbuffer_drain(src, used);
		total += made;
		if (used == 0 && made == 0)
			break;
	}
	return (long)total;
}

/* bufferevent_filter_cb for input: inflates what the peer sent. */
static enum bufferevent_filter_result
inflate_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	       enum bufferevent_flush_mode mode, void *ctx)
{
	struct mc_conn_zlib *z = ctx;
	(void)mode;
	if (z->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	size_t bound = limit > 0 && limit < INFLATE_BOUND ? (size_t)limit
							  : INFLATE_BOUND;
	long made = inflate_pass(z, src, dst, bound);
	if (made < 0) {
		zlib_fail(z);
		return BEV_ERROR;
	}
	return made > 0 ? BEV_OK : BEV_NEED_MORE;
}

/* Runs deflate on in[0..len) with flush until it has taken everything
 * and has nothing more to say; -1 on a zlib error. */
static int deflate_into(struct mc_conn_zlib *z, const unsigned char *in,
			size_t len, struct evbuffer *dst, int flush)
{
	z->out.next_in = (unsigned char *)in;
	z->out.avail_in = (uInt)len;
	do {
		struct evbuffer_iovec vec;
		if (evbuffer_reserve_space(dst, OUT_CHUNK, &vec, 1) < 1)
			return -1;
		z->out.next_out = vec.iov_base;
		z->out.avail_out = (uInt)vec.iov_len;
		int r = deflate(&z->out, flush);
		vec.iov_len -= z->out.avail_out;
		evbuffer_commit_space(dst, &vec, 1);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
	} while (z->out.avail_in > 0 || z->out.avail_out == 0);
	return 0;
}

/* bufferevent_filter_cb for output: deflates what we write, and ends
 * the batch with a sync flush when flushed (BEV_FLUSH). */
static enum bufferevent_filter_result
deflate_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
	       enum bufferevent_flush_mode mode, void *ctx)
{
	struct mc_conn_zlib *z = ctx;
	(void)limit;
	if (z->failed)
		return BEV_ERROR;
	size_t len;
	while ((len = evbuffer_get_contiguous_space(src)) > 0) {
		size_t piece = len > 65536 ? 65536 : len;
		const unsigned char *p =
			evbuffer_pullup(src, (ev_ssize_t)piece);
		if (deflate_into(z, p, piece, dst, Z_NO_FLUSH) < 0)
			goto fail;
		evbuffer_drain(src, piece);
		z->dirty = true;
	}
	if (mode != BEV_NORMAL && z->dirty) {
		if (deflate_into(z, NULL, 0, dst, Z_SYNC_FLUSH) < 0)
			goto fail;
		z->dirty = false;
	}
	return BEV_OK;
fail:
	zlib_fail(z);
	return BEV_ERROR;
}

/* The filter's free_context. */
static void zlib_free(void *ctx)
{
	struct mc_conn_zlib *z = ctx;
	if (z->in_ok)
		inflateEnd(&z->in);
	if (z->out_ok)
		deflateEnd(&z->out);
	free(z);
}

struct bufferevent *mc_conn_zlib_new(struct bufferevent *under,
				     mc_conn_zlib_error_fn *on_error, void *arg,
				     struct mc_conn_zlib **z_r)
{
	struct mc_conn_zlib *z = mc_calloc(1, sizeof(*z));
	z->on_error = on_error;
	z->arg = arg;
	z->in_ok = inflateInit2(&z->in, -15) == Z_OK;
	z->out_ok = deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
				 -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
	struct bufferevent *f =
		z->in_ok && z->out_ok
			? bufferevent_filter_new(
				  under, inflate_filter, deflate_filter,
				  BEV_OPT_CLOSE_ON_FREE |
					  BEV_OPT_DEFER_CALLBACKS,
				  zlib_free, z)
			: NULL;
	if (f == NULL) {
		zlib_free(z);
		return NULL;
	}
	*z_r = z;
	return f;
}

int mc_conn_zlib_pump(struct mc_conn_zlib *z, struct evbuffer *dst)
{
	if (z->failed)
		return -1;
	if (!z->more)
		return 0;
	if (inflate_pass(z, NULL, dst, INFLATE_BOUND) < 0) {
		zlib_fail(z);
		return -1;
	}
	return 0;
}
