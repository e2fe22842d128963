/* mc-av: antivirus scanning of whole RFC 5322 messages, behind a vtable:
 * libclamav for the daemons (its MIME parser decodes attachments, base64
 * and archives included) and a fake for unit tests of callers. Scans are
 * synchronous and thread-safe: one struct mc_av (one compiled engine) is
 * shared by every worker thread; libclamav allows concurrent scans on a
 * compiled engine, as clamd does. Reloading signatures is not done here:
 * create a new struct mc_av and swap it in. Every scan tells infected (1)
 * from clean (0) from "could not tell" (-1, temporary), so an outage
 * never accepts or rejects a message by mistake. */
#ifndef MC_AV_H
#define MC_AV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mc_blob_reader;
struct mc_error;
struct mc_pool;
struct mc_av;

struct mc_av_settings {
	/* [antivirus] database: a directory of ClamAV signature files
	 * (.cvd/.cld, or .hdb/.ndb... whose names get ".UNOFFICIAL") */
	const char *database_dir;
	/* zip-bomb limits, 0 = libclamav's default: bytes scanned per
	 * message and per embedded file (CL_ENGINE_MAX_SCANSIZE and
	 * MAX_FILESIZE), nesting depth (MAX_RECURSION) and embedded files
	 * (MAX_FILES). Going over one is reported as infected with a
	 * "Heuristics.Limits.Exceeded.*" name, never as clean. */
	uint64_t max_scan_size;
	uint64_t max_files;
	uint64_t max_recursion;
	/* look inside zip, tar, 7z, rar... attachments */
	bool scan_archives;
	/* where libclamav writes its per-scan temp files; NULL = $TMPDIR
	 * or /tmp */
	const char *tmp_dir;
};

/* libclamav: loads and compiles every signature file of database_dir
 * (cl_init runs once per process). NULL with err when the directory is
 * missing, unreadable or holds no signature (MC_ERR_INVALID), or the
 * engine fails (MC_ERR_TEMPORARY). Loading takes about 20 ms with a tiny
 * database, seconds with the official one. The caller owns the result. */
struct mc_av *mc_av_clamav_create(const struct mc_av_settings *set,
				  struct mc_error *err);
/* A fake for unit tests: data containing marker (binary-safe, copied)
 * is infected with virus_name (copied), anything else is clean. */
struct mc_av *mc_av_fake_create(const void *marker, size_t marker_len,
				const char *virus_name);
/* Makes the fake's scans fail (-1, MC_ERR_TEMPORARY) while fail is true,
 * as an engine error or an unreadable message would. */
void mc_av_fake_set_fail(struct mc_av *av, bool fail);
/* How many scans the fake has run (thread-safe). */
unsigned mc_av_fake_scans(const struct mc_av *av);
/* Accepts NULL and clears *av. No scan may be running. */
void mc_av_destroy(struct mc_av **av);

/* Scans len bytes of data (a whole message or file). 1 infected with
 * *virus_r the signature name as the engine gives it (pool-owned, e.g.
 * "Mailcore.Test.EICAR.UNOFFICIAL"), 0 clean (*virus_r NULL), -1 with
 * err (MC_ERR_TEMPORARY: retry later, do not accept). virus_r may be
 * NULL, and then pool too. */
int mc_av_scan(struct mc_av *av, const void *data, size_t len,
	       const char **virus_r, struct mc_pool *pool,
	       struct mc_error *err);

/* Reads up to len bytes at offset into buf: the count, 0 at the end,
 * -1 on error. Called from the scanning thread only, one call at a
 * time. */
typedef ssize_t mc_av_read_fn(void *ctx, void *buf, size_t len,
			      uint64_t offset);

/* Like mc_av_scan for size bytes read through read(ctx), so a large
 * message needs no contiguous buffer. A read error makes the scan fail
 * (-1, MC_ERR_TEMPORARY) whatever the engine concluded. */
int mc_av_scan_reader(struct mc_av *av, mc_av_read_fn *read, void *ctx,
		      uint64_t size, const char **virus_r, struct mc_pool *pool,
		      struct mc_error *err);
/* Scans the whole file behind fd (pread: the file offset is kept). */
int mc_av_scan_fd(struct mc_av *av, int fd, const char **virus_r,
		  struct mc_pool *pool, struct mc_error *err);
/* Scans a stored blob (see mc-blob.h). */
int mc_av_scan_blob(struct mc_av *av, struct mc_blob_reader *blob,
		    const char **virus_r, struct mc_pool *pool,
		    struct mc_error *err);

/* True for the names libclamav gives heuristic alerts rather than
 * signature matches ("Heuristics.*", e.g.
 * "Heuristics.Limits.Exceeded.MaxFileSize" for a message over a limit),
 * so a policy may tag those instead of rejecting. */
bool mc_av_name_is_heuristic(const char *virus_name);

#endif
