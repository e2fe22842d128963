/* mc-av-clamav: the libclamav backend. One engine is loaded and compiled
 * at create and then shared read-only by every scanning thread (libclamav
 * supports concurrent scans on a compiled engine, as clamd's thread pool
 * does); all per-scan state lives in a struct on the scanning stack. Limit
 * overruns are raised as "Heuristics.Limits.Exceeded.*" alerts so a zip
 * bomb is never passed as clean. */
#include "mc-av-private.h"

#include <clamav.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"

struct clamav {
	struct mc_av av;
	struct cl_engine *engine;
	struct cl_scan_options opts;
};

/* The state of one scan, handed to libclamav's callbacks as context. */
struct scan_ctx {
	const struct mc_av_source *src;
	bool read_failed;
	char found[MC_AV_NAME_MAX]; /* last alert the engine reported */
	char msg[256];		    /* last error message of libclamav */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cl_error_t init_result;
/* libclamav's last message outside a scan (cl_load), per thread. */
static _Thread_local char load_msg[256];

/* Copies s into buf of size bytes, cut and terminated. */
static void copy_str(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s);
}

/* libclamav's messages: kept in the scan (or load) for error texts, and
 * logged at debug level instead of going to stderr. During a scan,
 * libclamav passes (per thread) the context given to cl_scanmap_callback,
 * always a struct scan_ctx here; outside scans it passes NULL. */
static void clamav_msg(enum cl_msg severity, const char *fullmsg,
		       const char *msg, void *context)
{
	struct scan_ctx *ctx = context;
	size_t len = strcspn(msg, "\n");

	(void)fullmsg;
	if (severity < CL_MSG_WARN)
		return;
	if (ctx != NULL)
		snprintf(ctx->msg, sizeof(ctx->msg), "%.*s", (int)len, msg);
	else
		snprintf(load_msg, sizeof(load_msg), "%.*s", (int)len, msg);
	mc_logc(NULL, MC_LOG_DEBUG, "libclamav: %.*s", (int)len, msg);
}

/* Once per process, before any engine: cl_init and the message hook. */
static void clamav_init(void)
{
	cl_set_clcb_msg(clamav_msg);
	init_result = cl_init(CL_INIT_DEFAULT);
}

/* Every alert, including heuristic ones that leave virname unset. */
static void clamav_found(int fd, const char *virname, void *context)
{
	struct scan_ctx *ctx = context;

	(void)fd;
	if (ctx != NULL && virname != NULL)
		copy_str(ctx->found, sizeof(ctx->found), virname);
}

/* fmap read callback: fills count bytes unless the source ends first. */
static off_t clamav_pread(void *handle, void *buf, size_t count, off_t offset)
{
	struct scan_ctx *ctx = handle;
	size_t done = 0;

	while (done < count) {
		ssize_t n =
			ctx->src->read(ctx->src->ctx, (char *)buf + done,
				       count - done, (uint64_t)offset + done);
		if (n < 0) {
			ctx->read_failed = true;
			errno = EIO;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (off_t)done;
}

/* A map over the source: the memory itself, or reads on demand. */
static cl_fmap_t *open_map(struct scan_ctx *ctx)
{
	const struct mc_av_source *src = ctx->src;

	if (src->data != NULL)
		return cl_fmap_open_memory(src->data, src->len);
	if (src->size > SIZE_MAX)
		return NULL;
	return cl_fmap_open_handle(ctx, 0, (size_t)src->size, clamav_pread, 1);
}

/* Turns the engine's verdict into 1/0/-1. */
static int scan_result(struct scan_ctx *ctx, cl_error_t ret,
		       const char *virname, char name[MC_AV_NAME_MAX],
		       struct mc_error *err)
{
	if (ctx->read_failed) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "antivirus: reading the message failed");
		return -1;
	}
	if (ret == CL_CLEAN || ret == CL_BREAK)
		return 0;
	if (ret == CL_VIRUS) {
		copy_str(name, MC_AV_NAME_MAX,
			 virname != NULL	 ? virname
			 : ctx->found[0] != '\0' ? ctx->found
						 : "Heuristics.Unnamed");
		return 1;
	}
	mc_error_set(err, MC_ERR_TEMPORARY, "antivirus scan failed: %s%s%s",
		     cl_strerror(ret), ctx->msg[0] != '\0' ? ": " : "",
		     ctx->msg);
	return -1;
}

/* Scans one source with the shared engine. */
static int clamav_scan(struct mc_av *av, const struct mc_av_source *src,
		       char name[MC_AV_NAME_MAX], struct mc_error *err)
{
	struct clamav *c = (struct clamav *)av;
	struct scan_ctx ctx = {.src = src};
	struct cl_scan_options opts = c->opts;
	const char *virname = NULL;
	unsigned long scanned = 0;
	cl_fmap_t *map;
	cl_error_t ret;

	if (src->data != NULL ? src->len == 0 : src->size == 0)
		return 0;
	if ((map = open_map(&ctx)) == NULL) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "antivirus: cannot map the message");
		return -1;
	}
	ret = cl_scanmap_callback(map, NULL, &virname, &scanned, c->engine,
				  &opts, &ctx);
	ret = scan_result(&ctx, ret, virname, name, err);
	cl_fmap_close(map);
	return ret;
}

/* Frees the engine. */
static void clamav_destroy(struct mc_av *av)
{
	struct clamav *c = (struct clamav *)av;

	if (c->engine != NULL)
		cl_engine_free(c->engine);
	free(c);
}

static const struct mc_av_vfuncs clamav_vfuncs = {
	.scan = clamav_scan,
	.destroy = clamav_destroy,
};

/* Sets a numeric engine limit unless it is 0 (keep the default). */
static int set_limit(struct cl_engine *e, enum cl_engine_field field,
		     uint64_t value, uint64_t max, struct mc_error *err)
{
	cl_error_t ret;

	if (value == 0)
		return 0;
	ret = cl_engine_set_num(e, field,
				(long long)(value > max ? max : value));
	if (ret == CL_SUCCESS)
		return 0;
	mc_error_set(err, MC_ERR_INVALID, "antivirus limit: %s",
		     cl_strerror(ret));
	return -1;
}

/* The engine's limits and temp directory from the settings. */
static int configure(struct cl_engine *e, const struct mc_av_settings *set,
		     struct mc_error *err)
{
	const struct {
		enum cl_engine_field field;
		uint64_t value, max;
	} limits[] = {
		{CL_ENGINE_MAX_SCANSIZE, set->max_scan_size, LLONG_MAX},
		{CL_ENGINE_MAX_FILESIZE, set->max_scan_size, LLONG_MAX},
		{CL_ENGINE_MAX_RECURSION, set->max_recursion, UINT32_MAX},
		{CL_ENGINE_MAX_FILES, set->max_files, UINT32_MAX},
	};

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		if (set_limit(e, limits[i].field, limits[i].value,
			      limits[i].max, err) < 0)
			return -1;
	}
	if (set->tmp_dir != NULL &&
	    cl_engine_set_str(e, CL_ENGINE_TMPDIR, set->tmp_dir) !=
		    CL_SUCCESS) {
		mc_error_set(err, MC_ERR_INVALID, "antivirus tmp_dir %s",
			     set->tmp_dir);
		return -1;
	}
	cl_engine_set_clcb_virus_found(e, clamav_found);
	return 0;
}

/* The database must be a directory; libclamav's own error is vaguer. */
static int check_dir(const char *dir, struct mc_error *err)
{
	struct stat st;

	if (dir == NULL || dir[0] == '\0') {
		mc_error_set(err, MC_ERR_INVALID,
			     "antivirus: no database directory configured");
		return -1;
	}
	if (stat(dir, &st) < 0) {
		mc_error_set(err, MC_ERR_INVALID, "antivirus database %s: %s",
			     dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		mc_error_set(err, MC_ERR_INVALID,
			     "antivirus database %s: not a directory", dir);
		return -1;
	}
	return 0;
}

/* Loads every signature file of dir; at least one signature is needed. */
static int load_db(struct cl_engine *e, const char *dir, struct mc_error *err)
{
	unsigned sigs = 0;
	cl_error_t ret;

	load_msg[0] = '\0';
	ret = cl_load(dir, e, &sigs, CL_DB_STDOPT);
	if (ret != CL_SUCCESS) {
		mc_error_set(err, MC_ERR_INVALID,
			     "antivirus database %s: %s%s%s", dir,
			     cl_strerror(ret), load_msg[0] != '\0' ? ": " : "",
			     load_msg);
		return -1;
	}
	if (sigs == 0) {
		mc_error_set(err, MC_ERR_INVALID,
			     "antivirus database %s: no signatures", dir);
		return -1;
	}
	return 0;
}

/* What every scan asks for: all parsers (archives only when wanted) and
 * alerts on limit overruns. No heuristic precedence: a real signature
 * found in the part that was scanned wins over the limit alert. */
static void scan_options(struct cl_scan_options *o,
			 const struct mc_av_settings *set)
{
	memset(o, 0, sizeof(*o));
	o->parse = ~0u;
	if (!set->scan_archives)
		o->parse &= ~(uint32_t)CL_SCAN_PARSE_ARCHIVE;
	o->general = CL_SCAN_GENERAL_HEURISTICS;
	o->heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
}

/* Creates an engine, loads the database and compiles it. */
struct mc_av *mc_av_clamav_create(const struct mc_av_settings *set,
				  struct mc_error *err)
{
	struct clamav *c;
	cl_error_t ret;

	pthread_once(&init_once, clamav_init);
	if (init_result != CL_SUCCESS) {
		mc_error_set(err, MC_ERR_TEMPORARY, "libclamav init: %s",
			     cl_strerror(init_result));
		return NULL;
	}
	if (check_dir(set->database_dir, err) < 0)
		return NULL;
	c = mc_calloc(1, sizeof(*c));
	c->av.v = &clamav_vfuncs;
	scan_options(&c->opts, set);
	if ((c->engine = cl_engine_new()) == NULL)
		mc_error_set(err, MC_ERR_TEMPORARY, "libclamav: no engine");
	else if (configure(c->engine, set, err) == 0 &&
		 load_db(c->engine, set->database_dir, err) == 0) {
		if ((ret = cl_engine_compile(c->engine)) == CL_SUCCESS)
			return &c->av;
		mc_error_set(err, MC_ERR_TEMPORARY, "antivirus compile: %s",
			     cl_strerror(ret));
	}
	clamav_destroy(&c->av);
	return NULL;
}
