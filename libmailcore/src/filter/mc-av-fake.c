/* mc-av-fake: a stand-in antivirus for unit tests of callers. A message
 * is infected when it contains a marker; scans can be made to fail as an
 * engine outage would, and are counted. Thread-safe like the real one. */
#include "mc-av-private.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#define CHUNK 65536

struct fake {
	struct mc_av av;
	unsigned char *marker;
	size_t marker_len;
	char *virus_name;
	atomic_bool fail;
	atomic_uint scans;
};

/* True when the marker occurs in buf. */
static bool has_marker(const struct fake *f, const void *buf, size_t len)
{
	return f->marker_len > 0 &&
	       memmem(buf, len, f->marker, f->marker_len) != NULL;
}

/* Reads the source in chunks, keeping marker_len - 1 bytes of overlap so
 * a marker across two chunks is seen. 1 found, 0 not, -1 read error. */
static int search_reader(const struct fake *f, const struct mc_av_source *src)
{
	size_t keep = f->marker_len > 0 ? f->marker_len - 1 : 0;
	unsigned char *buf = mc_malloc(keep + CHUNK);
	size_t have = 0;
	uint64_t off = 0;
	int found = 0;

	while (found == 0 && off < src->size) {
		ssize_t n = src->read(src->ctx, buf + have, CHUNK, off);
		if (n <= 0) {
			found = n < 0 ? -1 : 0;
			break;
		}
		off += (uint64_t)n;
		have += (size_t)n;
		found = has_marker(f, buf, have) ? 1 : 0;
		size_t tail = have < keep ? have : keep;
		memmove(buf, buf + have - tail, tail);
		have = tail;
	}
	free(buf);
	return found;
}

/* Scans for the marker, or fails when told to. */
static int fake_scan(struct mc_av *av, const struct mc_av_source *src,
		     char name[MC_AV_NAME_MAX], struct mc_error *err)
{
	struct fake *f = (struct fake *)av;
	int found;

	atomic_fetch_add(&f->scans, 1);
	if (atomic_load(&f->fail)) {
		mc_error_set(err, MC_ERR_TEMPORARY, "antivirus: fake failure");
		return -1;
	}
	found = src->data != NULL ? has_marker(f, src->data, src->len)
				  : search_reader(f, src);
	if (found < 0) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "antivirus: reading the message failed");
		return -1;
	}
	if (found > 0)
		snprintf(name, MC_AV_NAME_MAX, "%s", f->virus_name);
	return found;
}

/* Frees the fake. */
static void fake_destroy(struct mc_av *av)
{
	struct fake *f = (struct fake *)av;

	free(f->marker);
	free(f->virus_name);
	free(f);
}

static const struct mc_av_vfuncs fake_vfuncs = {
	.scan = fake_scan,
	.destroy = fake_destroy,
};

/* A fake that finds virus_name wherever marker occurs. */
struct mc_av *mc_av_fake_create(const void *marker, size_t marker_len,
				const char *virus_name)
{
	struct fake *f = mc_calloc(1, sizeof(*f));

	f->av.v = &fake_vfuncs;
	f->marker = mc_malloc(marker_len > 0 ? marker_len : 1);
	if (marker_len > 0)
		memcpy(f->marker, marker, marker_len);
	f->marker_len = marker_len;
	f->virus_name =
		mc_strdup(virus_name != NULL ? virus_name : "Fake.Virus");
	atomic_init(&f->fail, false);
	atomic_init(&f->scans, 0);
	return &f->av;
}

/* Switches simulated failures on or off. */
void mc_av_fake_set_fail(struct mc_av *av, bool fail)
{
	atomic_store(&((struct fake *)av)->fail, fail);
}

/* Scans run so far. */
unsigned mc_av_fake_scans(const struct mc_av *av)
{
	return atomic_load(&((struct fake *)av)->scans);
}
