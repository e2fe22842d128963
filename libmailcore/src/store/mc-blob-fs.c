/* mc-blob-fs: the filesystem blob backend. A writer fills a temp file in
 * DIR/tmp; finish fsyncs it and renames it to DIR/ab/cd/<hash> (ab, cd:
 * the first hex digit pairs), fsyncing every directory it changes, so a
 * finished blob survives a crash. The store holds only the root path;
 * the collector's walk reads the directories themselves. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"

#include "mc-blob-private.h"

#define DIR_MODE  0750
#define FILE_MODE 0640

struct fs_store {
	struct mc_blob_store store;
	char *dir;
	bool fsync;
};

struct fs_reader {
	struct mc_blob_reader r;
	char *path;
};

struct fs_writer {
	struct mc_blob_writer w;
	int fd;
	char *tmp_path;
};

/* Resource exhaustion and I/O errors may pass; the rest will not. */
static enum mc_error_class errno_class(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EMFILE:
	case ENFILE:
		return MC_ERR_TEMPORARY;
	default:
		return MC_ERR_PERMANENT;
	}
}

/* Sets err from errno after op failed on path. */
static void fs_error(struct mc_error *err, const char *op, const char *path)
{
	int e = errno;
	char buf[128];

	mc_error_set(err, errno_class(e), "blob: %s(%s): %s", op, path,
		     strerror_r(e, buf, sizeof(buf)));
}

/* DIR/ab/cd/<hash> for a valid hash; the caller frees it. */
static char *blob_path(const struct fs_store *fs, const char *hash)
{
	return mc_asprintf("%s/%.2s/%.2s/%s", fs->dir, hash, hash + 2, hash);
}

/* Makes a directory's entries durable (no-op without fsync). */
static int sync_dir(const struct fs_store *fs, const char *dir,
		    struct mc_error *err)
{
	int fd, ret = 0;

	if (!fs->fsync)
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fs_error(err, "open", dir);
		return -1;
	}
	if (fsync(fd) < 0) {
		fs_error(err, "fsync", dir);
		ret = -1;
	}
	close(fd);
	return ret;
}

/* Creates dir inside parent unless it exists; fsyncs parent if created. */
static int make_dir(const struct fs_store *fs, const char *dir,
		    const char *parent, struct mc_error *err)
{
	if (mkdir(dir, DIR_MODE) == 0)
		return sync_dir(fs, parent, err);
	if (errno == EEXIST)
		return 0;
	fs_error(err, "mkdir", dir);
	return -1;
}

/* mkdir -p. */
static int make_dirs(const char *dir, struct mc_error *err)
{
	char *path = mc_strdup(dir);
	int ret = 0;

	for (char *p = path + 1; ret == 0; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, DIR_MODE) < 0 && errno != EEXIST) {
			fs_error(err, "mkdir", path);
			ret = -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(path);
	return ret;
}

/* Frees the store; blobs stay where they are. */
static void fs_destroy(struct mc_blob_store *store)
{
	struct fs_store *fs = (struct fs_store *)store;

	free(fs->dir);
	free(fs);
}

/* Closes and frees a writer (its temp file is left alone). */
static void fs_writer_free(struct fs_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp_path);
	free(w);
}

/* A new temp file DIR/tmp/blob.XXXXXX, mode 0640. */
static struct mc_blob_writer *fs_writer_create(struct mc_blob_store *store,
					       struct mc_error *err)
{
	struct fs_store *fs = (struct fs_store *)store;
	struct fs_writer *w = mc_calloc(1, sizeof(*w));

	w->tmp_path = mc_asprintf("%s/tmp/blob.XXXXXX", fs->dir);
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		fs_error(err, "mkostemp", w->tmp_path);
		fs_writer_free(w);
		return NULL;
	}
	if (fchmod(w->fd, FILE_MODE) < 0) {
		fs_error(err, "fchmod", w->tmp_path);
		unlink(w->tmp_path);
		fs_writer_free(w);
		return NULL;
	}
	return &w->w;
}

/* Writes all of data, retrying short writes and EINTR. */
static int fs_writer_write(struct mc_blob_writer *_w, const void *data,
			   size_t len, struct mc_error *err)
{
	struct fs_writer *w = (struct fs_writer *)_w;
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fs_error(err, "write", w->tmp_path);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads back from the temp file, retrying short reads and EINTR. */
static ssize_t fs_writer_pread(struct mc_blob_writer *_w, void *buf, size_t len,
			       uint64_t offset, struct mc_error *err)
{
	struct fs_writer *w = (struct fs_writer *)_w;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(w->fd, (char *)buf + done, len - done,
				  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fs_error(err, "pread", w->tmp_path);
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* fsyncs (unless disabled) and closes the temp file. */
static int fs_writer_close(struct fs_writer *w, bool sync, struct mc_error *err)
{
	int ret = 0;

	if (sync && fsync(w->fd) < 0) {
		fs_error(err, "fsync", w->tmp_path);
		ret = -1;
	}
	if (close(w->fd) < 0 && ret == 0) {
		fs_error(err, "close", w->tmp_path);
		ret = -1;
	}
	w->fd = -1;
	return ret;
}

/* Puts tmp at final unless a copy is there already, whose mtime is then
 * refreshed instead. A copy we may not touch is replaced (same bytes). */
static int link_blob(const struct fs_store *fs, const char *tmp,
		     const char *final, const char *dir, struct mc_error *err)
{
	if (utimensat(AT_FDCWD, final, NULL, 0) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno != ENOENT && errno != EACCES && errno != EPERM) {
		fs_error(err, "utimensat", final);
		return -1;
	}
	if (rename(tmp, final) < 0) {
		fs_error(err, "rename", final);
		return -1;
	}
	return sync_dir(fs, dir, err);
}

/* Makes DIR/ab and DIR/ab/cd, then moves the temp file in. */
static int commit(const struct fs_store *fs, const char *tmp, const char *hash,
		  struct mc_error *err)
{
	char *dir1 = mc_asprintf("%s/%.2s", fs->dir, hash);
	char *dir2 = mc_asprintf("%s/%.2s", dir1, hash + 2);
	char *final = mc_asprintf("%s/%s", dir2, hash);
	int ret = -1;

	if (make_dir(fs, dir1, fs->dir, err) == 0 &&
	    make_dir(fs, dir2, dir1, err) == 0)
		ret = link_blob(fs, tmp, final, dir2, err);
	free(final);
	free(dir2);
	free(dir1);
	return ret;
}

/* Makes the temp file durable under its hash; frees the writer. */
static int fs_writer_finish(struct mc_blob_writer *_w, const char *hash,
			    struct mc_error *err)
{
	struct fs_writer *w = (struct fs_writer *)_w;
	struct fs_store *fs = (struct fs_store *)_w->store;
	int ret = fs_writer_close(w, fs->fsync, err);

	if (ret == 0)
		ret = commit(fs, w->tmp_path, hash, err);
	if (ret < 0)
		unlink(w->tmp_path);
	fs_writer_free(w);
	return ret;
}

/* Removes the temp file and frees the writer. */
static void fs_writer_abort(struct mc_blob_writer *_w)
{
	struct fs_writer *w = (struct fs_writer *)_w;

	unlink(w->tmp_path);
	fs_writer_free(w);
}

/* Opens DIR/ab/cd/<hash> read-only. */
static struct mc_blob_reader *fs_open(struct mc_blob_store *store,
				      const char *hash, struct mc_error *err)
{
	char *path = blob_path((struct fs_store *)store, hash);
	struct fs_reader *r;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			mc_error_set(err, MC_ERR_NOTFOUND, "blob %s not found",
				     hash);
		else
			fs_error(err, "open", path);
		free(path);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		fs_error(err, "fstat", path);
		close(fd);
		free(path);
		return NULL;
	}
	r = mc_calloc(1, sizeof(*r));
	r->r.fd = fd;
	r->r.size = (uint64_t)st.st_size;
	r->path = path;
	return &r->r;
}

/* Reads exactly len bytes unless the file ends first. */
static ssize_t fs_pread(struct mc_blob_reader *r, void *buf, size_t len,
			uint64_t offset, struct mc_error *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(r->fd, (char *)buf + done, len - done,
				  (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fs_error(err, "pread", ((struct fs_reader *)r)->path);
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Closes the file and frees the reader. */
static void fs_reader_close(struct mc_blob_reader *_r)
{
	struct fs_reader *r = (struct fs_reader *)_r;

	close(r->r.fd);
	free(r->path);
	free(r);
}

/* True when DIR/ab/cd/<hash> exists. */
static bool fs_exists(struct mc_blob_store *store, const char *hash)
{
	char *path = blob_path((struct fs_store *)store, hash);
	bool ret = access(path, F_OK) == 0;

	free(path);
	return ret;
}

/* Unlinks the blob; one already gone is fine. */
static int fs_delete(struct mc_blob_store *store, const char *hash,
		     struct mc_error *err)
{
	char *path = blob_path((struct fs_store *)store, hash);
	int ret = 0;

	if (unlink(path) < 0 && errno != ENOENT) {
		fs_error(err, "unlink", path);
		ret = -1;
	}
	free(path);
	return ret;
}

/* Moves DIR/ab/cd/<hash> to a fresh name in DIR/tmp: 1 moved (aside_r
 * set, caller frees), 0 no such blob, -1 error. After the move a writer
 * of the same content finds no copy and renames its own into place. */
static int move_aside(const struct fs_store *fs, const char *path,
		      char **aside_r, struct mc_error *err)
{
	char *aside = mc_asprintf("%s/tmp/gc.XXXXXX", fs->dir);
	int fd = mkostemp(aside, O_CLOEXEC);

	*aside_r = NULL;
	if (fd < 0) {
		fs_error(err, "mkostemp", aside);
		free(aside);
		return -1;
	}
	close(fd);
	if (rename(path, aside) == 0) {
		*aside_r = aside;
		return 1;
	}
	bool gone = errno == ENOENT;
	if (!gone)
		fs_error(err, "rename", path);
	unlink(aside);
	free(aside);
	return gone ? 0 : -1;
}

/* Unlinks the moved blob if it was not refreshed since older_than (a
 * writer that found it before the move); otherwise puts it back, over
 * any new copy, which holds the same bytes. 1 removed, 0 put back. */
static int drop_aside(const char *aside, const char *path, time_t older_than,
		      uint64_t *size_r, struct mc_error *err)
{
	struct stat st;

	if (stat(aside, &st) < 0) {
		fs_error(err, "stat", aside);
		return -1;
	}
	if (st.st_mtime >= older_than) {
		if (rename(aside, path) == 0)
			return 0;
		fs_error(err, "rename", path);
		return -1;
	}
	if (unlink(aside) < 0) {
		fs_error(err, "unlink", aside);
		return -1;
	}
	*size_r = (uint64_t)st.st_size;
	return 1;
}

/* Removes the blob unless a writer refreshed it since older_than. */
static int fs_delete_if_older(struct mc_blob_store *store, const char *hash,
			      time_t older_than, uint64_t *size_r,
			      struct mc_error *err)
{
	const struct fs_store *fs = (const struct fs_store *)store;
	char *path = blob_path(fs, hash), *aside;
	int ret = move_aside(fs, path, &aside, err);

	if (ret > 0)
		ret = drop_aside(aside, path, older_than, size_r, err);
	free(aside);
	free(path);
	return ret;
}

/* One walk over DIR/ab/cd/<hash>. */
struct walk {
	const struct fs_store *fs;
	int (*fn)(const char *hash, time_t mtime, void *ctx);
	void *ctx;
	struct mc_error *err;
};

/* True for two lower-case hex digits and the NUL. */
static bool hex_pair(const char *s)
{
	for (int i = 0; i < 2; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[2] == '\0';
}

/* Sets err from errno for op on DIR/rel. */
static void walk_error(const struct walk *wk, const char *op, const char *rel)
{
	int e = errno;
	char *path = mc_asprintf("%s/%s", wk->fs->dir, rel);

	errno = e;
	fs_error(wk->err, op, path);
	free(path);
}

/* Opens the subdirectory name of d (DIR/rel): NULL with *failed_r false
 * when it is gone or no directory, NULL with *failed_r true on error. */
static DIR *open_sub(const struct walk *wk, DIR *d, const char *name,
		     const char *rel, bool *failed_r)
{
	int fd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *sub;

	*failed_r = false;
	if (fd < 0) {
		*failed_r = errno != ENOENT && errno != ENOTDIR;
		if (*failed_r)
			walk_error(wk, "open", rel);
		return NULL;
	}
	sub = fdopendir(fd);
	if (sub == NULL) {
		walk_error(wk, "fdopendir", rel);
		close(fd);
		*failed_r = true;
	}
	return sub;
}

/* Calls fn for each regular file of DIR/ab/cd named by a hash starting
 * with abcd (prefix). */
static int walk_leaf(const struct walk *wk, DIR *d, const char *rel,
		     const char *prefix)
{
	struct dirent *de;
	struct stat st;

	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!mc_blob_hash_valid(de->d_name) ||
		    strncmp(de->d_name, prefix, 4) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
		    0) {
			if (errno == ENOENT)
				continue;
			walk_error(wk, "stat", rel);
			return -1;
		}
		if (S_ISREG(st.st_mode) &&
		    wk->fn(de->d_name, st.st_mtime, wk->ctx) < 0)
			return -1;
	}
	if (errno != 0) {
		walk_error(wk, "readdir", rel);
		return -1;
	}
	return 0;
}

/* Walks d = DIR/rel at depth 0 (rel ""), 1 ("ab") or 2 ("ab/cd"). */
static int walk_dir(const struct walk *wk, DIR *d, const char *rel, int depth)
{
	struct dirent *de;
	char sub_rel[8], prefix[5];
	bool failed;
	int ret = 0;

	if (depth == 2) {
		snprintf(prefix, sizeof(prefix), "%.2s%.2s", rel, rel + 3);
		return walk_leaf(wk, d, rel, prefix);
	}
	while (ret == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (!hex_pair(de->d_name))
			continue;
		snprintf(sub_rel, sizeof(sub_rel), "%.2s%s%.2s", rel,
			 depth == 0 ? "" : "/", de->d_name);
		DIR *sub = open_sub(wk, d, de->d_name, sub_rel, &failed);
		if (sub == NULL) {
			ret = failed ? -1 : 0;
			continue;
		}
		ret = walk_dir(wk, sub, sub_rel, depth + 1);
		closedir(sub);
		errno = 0;
	}
	if (ret == 0 && errno != 0) {
		walk_error(wk, "readdir", rel);
		ret = -1;
	}
	return ret;
}

/* Calls fn for every blob under DIR. */
static int fs_foreach(struct mc_blob_store *store,
		      int (*fn)(const char *hash, time_t mtime, void *ctx),
		      void *ctx, struct mc_error *err)
{
	const struct fs_store *fs = (const struct fs_store *)store;
	struct walk wk = {.fs = fs, .fn = fn, .ctx = ctx, .err = err};
	DIR *d = opendir(fs->dir);
	int ret;

	if (d == NULL) {
		fs_error(err, "opendir", fs->dir);
		return -1;
	}
	ret = walk_dir(&wk, d, "", 0);
	closedir(d);
	return ret;
}

/* Unlinks name in d if it is a regular file older than older_than: 1
 * removed, 0 kept or gone, -1 error. */
static int clean_entry(DIR *d, const char *tmp, const char *name,
		       time_t older_than, struct mc_error *err)
{
	struct stat st;

	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_mtime >= older_than)
		return 0;
	if (unlinkat(dirfd(d), name, 0) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	fs_error(err, "unlink", tmp);
	return -1;
}

/* Removes the temp files in DIR/tmp older than older_than. */
static int fs_clean_tmp(struct mc_blob_store *store, time_t older_than,
			struct mc_error *err)
{
	const struct fs_store *fs = (const struct fs_store *)store;
	char *tmp = mc_asprintf("%s/tmp", fs->dir);
	DIR *d = opendir(tmp);
	struct dirent *de;
	int count = 0, r;

	if (d == NULL) {
		fs_error(err, "opendir", tmp);
		free(tmp);
		return -1;
	}
	while (count >= 0 && (de = readdir(d)) != NULL) {
		r = clean_entry(d, tmp, de->d_name, older_than, err);
		count = r < 0 ? -1 : count + r;
	}
	closedir(d);
	free(tmp);
	return count;
}

static const struct mc_blob_vfuncs fs_vfuncs = {
	.destroy = fs_destroy,
	.writer_create = fs_writer_create,
	.writer_write = fs_writer_write,
	.writer_finish = fs_writer_finish,
	.writer_abort = fs_writer_abort,
	.writer_pread = fs_writer_pread,
	.open = fs_open,
	.pread = fs_pread,
	.reader_close = fs_reader_close,
	.exists = fs_exists,
	.delete_blob = fs_delete,
	.delete_if_older = fs_delete_if_older,
	.walk = fs_foreach,
	.clean_tmp = fs_clean_tmp,
};

/* Creates dir and dir/tmp if missing and returns a store rooted there. */
struct mc_blob_store *mc_blob_store_fs_create(const char *dir, bool fsync,
					      struct mc_error *err)
{
	struct fs_store *fs;
	char *tmp;
	size_t len = strlen(dir);
	int ret;

	if (len == 0) {
		mc_error_set(err, MC_ERR_INVALID, "blob: empty directory");
		return NULL;
	}
	while (len > 1 && dir[len - 1] == '/')
		len--;
	fs = mc_calloc(1, sizeof(*fs));
	fs->store.v = &fs_vfuncs;
	fs->dir = mc_strndup(dir, len);
	fs->fsync = fsync;
	tmp = mc_asprintf("%s/tmp", fs->dir);
	ret = make_dirs(fs->dir, err);
	if (ret == 0 && mkdir(tmp, DIR_MODE) < 0 && errno != EEXIST) {
		fs_error(err, "mkdir", tmp);
		ret = -1;
	}
	free(tmp);
	if (ret < 0) {
		fs_destroy(&fs->store);
		return NULL;
	}
	return &fs->store;
}
