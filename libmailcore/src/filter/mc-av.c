/* mc-av: the scanning calls on top of a backend vtable. Copies the
 * signature name into the caller's pool, and turns a file descriptor or
 * a stored blob into a reader callback so no backend needs the whole
 * message in one buffer. */
#include "mc-av-private.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

/* Runs the backend and hands the name over in pool. */
static int scan_source(struct mc_av *av, const struct mc_av_source *src,
		       const char **virus_r, struct mc_pool *pool,
		       struct mc_error *err)
{
	char name[MC_AV_NAME_MAX] = "";
	int ret = av->v->scan(av, src, name, err);

	if (virus_r == NULL)
		return ret;
	*virus_r =
		ret == 1 ? mc_pstrdup(pool, name[0] != '\0' ? name : "Unknown")
			 : NULL;
	return ret;
}

/* Scans bytes in memory. */
int mc_av_scan(struct mc_av *av, const void *data, size_t len,
	       const char **virus_r, struct mc_pool *pool, struct mc_error *err)
{
	struct mc_av_source src = {.data = data != NULL ? data : "",
				   .len = len};

	return scan_source(av, &src, virus_r, pool, err);
}

/* Scans size bytes read through a callback. */
int mc_av_scan_reader(struct mc_av *av, mc_av_read_fn *read, void *ctx,
		      uint64_t size, const char **virus_r, struct mc_pool *pool,
		      struct mc_error *err)
{
	struct mc_av_source src = {.read = read, .ctx = ctx, .size = size};

	return scan_source(av, &src, virus_r, pool, err);
}

/* pread(2) on the descriptor in ctx, retried on EINTR. */
static ssize_t fd_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	int fd = *(const int *)ctx;
	ssize_t n;

	do {
		n = pread(fd, buf, len, (off_t)offset);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* Scans a regular file through its descriptor. */
int mc_av_scan_fd(struct mc_av *av, int fd, const char **virus_r,
		  struct mc_pool *pool, struct mc_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (virus_r != NULL)
			*virus_r = NULL;
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "antivirus: descriptor %d is no readable file",
			     fd);
		return -1;
	}
	return mc_av_scan_reader(av, fd_read, &fd, (uint64_t)st.st_size,
				 virus_r, pool, err);
}

/* mc_blob_pread on the reader in ctx. */
static ssize_t blob_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	return mc_blob_pread(ctx, buf, len, offset, NULL);
}

/* Scans a stored blob through its reader. */
int mc_av_scan_blob(struct mc_av *av, struct mc_blob_reader *blob,
		    const char **virus_r, struct mc_pool *pool,
		    struct mc_error *err)
{
	return mc_av_scan_reader(av, blob_read, blob, mc_blob_reader_size(blob),
				 virus_r, pool, err);
}

/* Heuristic alerts are named "Heuristics.*" (bytecode: "BC.Heuristics"). */
bool mc_av_name_is_heuristic(const char *virus_name)
{
	return virus_name != NULL &&
	       (strncmp(virus_name, "Heuristics.", 11) == 0 ||
		strncmp(virus_name, "BC.Heuristics.", 14) == 0);
}

/* Frees the backend. */
void mc_av_destroy(struct mc_av **av)
{
	if (av == NULL || *av == NULL)
		return;
	(*av)->v->destroy(*av);
	*av = NULL;
}
