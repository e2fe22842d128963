/* mc-config: loads mailcore.conf with inih, checks every section, key and
 * value against the schema in mc-config-keys.c, applies MAILCORE_<S>_<K>
 * environment overrides and answers typed getters. Errors name the file and
 * line, or the environment variable, so an operator can fix them at once. */
#include "mailcore/mc-config.h"

#include "mailcore/mc-addr.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX	 (1024 * 1024)
#define CONFIG_ADDRS_MAX 16
#define CONFIG_NETS_MAX  MC_ADDR_NETS_MAX
#define CONFIG_LINE_MAX	 4096 /* bytes per line, newline included */
#define WHY_MAX		 512

/* The effective value of one schema key. */
struct cfg_value {
	const char *str; /* text as given (PATH: resolved; ENUM: canonical) */
	int64_t num;	 /* MC_CFG_INT */
	uint64_t unum;	 /* MC_CFG_SIZE (bytes), MC_CFG_DURATION (ms) */
	bool flag;	 /* MC_CFG_BOOL */
	bool set;	 /* from the file or the environment */
};

struct mc_config {
	struct mc_pool *pool;	  /* secure: values may hold secrets */
	const char *path;	  /* NULL without a file */
	const char *dir;	  /* absolute directory of path */
	struct cfg_value *values; /* parallel to mc_config_keys */
	size_t n_keys;
};

/* Where a value came from, for error messages and path resolution. */
struct cfg_origin {
	const char *file; /* with line: the config file */
	int line;
	const char *env; /* the environment variable */
};

/* Index of [section] key in the schema, -1 if unknown. */
static int find_key(const char *section, const char *key)
{
	for (int i = 0; mc_config_keys[i].section != NULL; i++) {
		if (strcmp(mc_config_keys[i].section, section) == 0 &&
		    strcmp(mc_config_keys[i].key, key) == 0)
			return i;
	}
	return -1;
}

/* True when the schema has a key in section. */
static bool section_known(const char *section)
{
	for (int i = 0; mc_config_keys[i].section != NULL; i++) {
		if (strcmp(mc_config_keys[i].section, section) == 0)
			return true;
	}
	return false;
}

/* Writes v as the largest exact unit of units (divisors, names). */
static void format_unit(char *buf, size_t size, int64_t v, const int64_t *div,
			const char *const *names, int n)
{
	for (int i = 0; i < n; i++) {
		if (v != 0 && v % div[i] == 0) {
			snprintf(buf, size, "%" PRId64 "%s", v / div[i],
				 names[i]);
			return;
		}
	}
	snprintf(buf, size, "%" PRId64 "%s", v, names[n - 1]);
}

/* A size bound for messages: "10M", "1k", "512". */
static void format_size(char *buf, size_t size, int64_t v)
{
	static const int64_t div[] = {1LL << 40, 1LL << 30, 1LL << 20,
				      1LL << 10, 1};
	static const char *const names[] = {"T", "G", "M", "k", ""};

	format_unit(buf, size, v, div, names, 5);
}

/* A duration bound for messages: "5m", "30s", "100ms". */
static void format_duration(char *buf, size_t size, int64_t v)
{
	static const int64_t div[] = {86400000, 3600000, 60000, 1000, 1};
	static const char *const names[] = {"d", "h", "m", "s", "ms"};

	format_unit(buf, size, v, div, names, 5);
}

/* Appends " from MIN to MAX" to why for a bounded key. */
static void append_bounds(const struct mc_config_key *k, char *why, size_t size)
{
	char lo[32], hi[32];
	size_t len = strlen(why);

	if (k->min == 0 && k->max == 0)
		return;
	if (k->type == MC_CFG_SIZE) {
		format_size(lo, sizeof(lo), k->min);
		format_size(hi, sizeof(hi), k->max);
	} else if (k->type == MC_CFG_DURATION) {
		format_duration(lo, sizeof(lo), k->min);
		format_duration(hi, sizeof(hi), k->max);
	} else {
		snprintf(lo, sizeof(lo), "%" PRId64, k->min);
		snprintf(hi, sizeof(hi), "%" PRId64, k->max);
	}
	snprintf(why + len, size - len, " from %s to %s", lo, hi);
}

/* True when v lies within the key's bounds (0,0 = unbounded). */
static bool in_bounds(const struct mc_config_key *k, int64_t v)
{
	return (k->min == 0 && k->max == 0) || (v >= k->min && v <= k->max);
}

/* Checks an unsigned SIZE or DURATION value against the bounds. */
static bool in_bounds_u(const struct mc_config_key *k, uint64_t v)
{
	return (k->min == 0 && k->max == 0) ||
	       (v <= INT64_MAX && in_bounds(k, (int64_t)v));
}

/* The choice of an ENUM key matching s (any case), or NULL. */
static const char *enum_choice(struct mc_pool *pool, const char *choices,
			       const char *s)
{
	size_t n;
	char **items = mc_str_split(pool, choices, "|", &n);

	for (size_t i = 0; i < n; i++) {
		if (mc_str_eq_icase(items[i], s))
			return items[i];
	}
	return NULL;
}

/* Checks an ENUM value and stores the canonical choice. */
static bool check_enum(struct mc_pool *pool, const struct mc_config_key *k,
		       const char *s, struct cfg_value *v, char *why,
		       size_t size)
{
	const char *choice = enum_choice(pool, k->choices, s);
	size_t len;

	if (choice != NULL) {
		v->str = choice;
		return true;
	}
	len = (size_t)snprintf(why, size, "expected one of ");
	for (const char *c = k->choices; *c != '\0' && len + 3 < size; c++) {
		if (*c == '|') {
			why[len++] = ',';
			why[len++] = ' ';
		} else {
			why[len++] = *c;
		}
	}
	why[len] = '\0';
	return false;
}

/* Checks a comma-separated address list. */
static bool check_addrs(const char *s, char *why, size_t size)
{
	struct mc_sockaddr addrs[CONFIG_ADDRS_MAX];
	struct mc_error err;

	mc_error_clear(&err);
	if (mc_addr_list_parse(s, addrs, CONFIG_ADDRS_MAX, &err) >= 0)
		return true;
	snprintf(why, size, "%s", err.msg);
	return false;
}

/* Checks a comma-separated network list. */
static bool check_nets(const char *s, char *why, size_t size)
{
	struct mc_cidr nets[CONFIG_NETS_MAX];
	struct mc_error err;

	mc_error_clear(&err);
	if (mc_cidr_list_parse(s, nets, CONFIG_NETS_MAX, &err) >= 0)
		return true;
	snprintf(why, size, "%s", err.msg);
	return false;
}

/* Checks INT, SIZE and DURATION values against syntax and bounds. */
static bool check_number(const struct mc_config_key *k, const char *s,
			 struct cfg_value *v, char *why, size_t size)
{
	bool ok;

	if (k->type == MC_CFG_INT) {
		ok = mc_str_to_i64(s, &v->num) && in_bounds(k, v->num);
		snprintf(why, size, "expected an integer");
	} else if (k->type == MC_CFG_SIZE) {
		ok = mc_str_parse_size(s, &v->unum) && in_bounds_u(k, v->unum);
		snprintf(why, size, "expected a size (512, 10k, 25M, 2G)");
	} else {
		ok = mc_str_parse_duration_ms(s, &v->unum) &&
		     in_bounds_u(k, v->unum);
		snprintf(why, size,
			 "expected a duration (250ms, 30s, 5m, 4h, 7d)");
	}
	if (!ok)
		append_bounds(k, why, size);
	return ok;
}

/* Parses s as key k into v (v->str already set); false with why set. */
static bool check_value(struct mc_pool *pool, const struct mc_config_key *k,
			const char *s, struct cfg_value *v, char *why,
			size_t size)
{
	switch (k->type) {
	case MC_CFG_STRING:
	case MC_CFG_SECRET:
	case MC_CFG_PATH:
		return true;
	case MC_CFG_BOOL:
		if (mc_str_parse_bool(s, &v->flag))
			return true;
		snprintf(why, size,
			 "expected yes or no (true/false, on/off, "
			 "1/0)");
		return false;
	case MC_CFG_INT:
	case MC_CFG_SIZE:
	case MC_CFG_DURATION:
		return check_number(k, s, v, why, size);
	case MC_CFG_ENUM:
		return check_enum(pool, k, s, v, why, size);
	case MC_CFG_ADDRS:
		return check_addrs(s, why, size);
	case MC_CFG_NETS:
		return check_nets(s, why, size);
	}
	snprintf(why, size, "unknown type in the schema");
	return false;
}

/* A relative PATH from the file or environment, made absolute. */
static const char *resolve_path(const struct mc_config *cfg,
				const struct mc_config_key *k,
				const struct cfg_origin *origin, const char *s)
{
	if (k->type != MC_CFG_PATH || s[0] == '\0' || s[0] == '/' ||
	    cfg->dir == NULL || (origin->file == NULL && origin->env == NULL))
		return mc_pstrdup(cfg->pool, s);
	if (strcmp(cfg->dir, "/") == 0)
		return mc_psprintf(cfg->pool, "/%s", s);
	return mc_psprintf(cfg->pool, "%s/%s", cfg->dir, s);
}

/* Reports a bad value, naming where it came from. */
static void bad_value(struct mc_error *err, const struct mc_config_key *k,
		      const struct cfg_origin *origin, const char *s,
		      const char *why)
{
	if (origin->env != NULL)
		mc_error_set(err, MC_ERR_INVALID,
			     "environment %s: bad value \"%s\": %s",
			     origin->env, s, why);
	else if (origin->file != NULL)
		mc_error_set(err, MC_ERR_INVALID,
			     "%s:%d: [%s] %s: bad value \"%s\": %s",
			     origin->file, origin->line, k->section, k->key, s,
			     why);
	else
		mc_error_set(err, MC_ERR_INVALID,
			     "default of [%s] %s: bad value \"%s\": %s",
			     k->section, k->key, s, why);
}

/* Validates s and makes it the value of key idx. */
static bool set_value(struct mc_config *cfg, int idx, const char *s,
		      const struct cfg_origin *origin, struct mc_error *err)
{
	const struct mc_config_key *k = &mc_config_keys[idx];
	struct cfg_value v = {0};
	char why[WHY_MAX];

	v.str = resolve_path(cfg, k, origin, s);
	v.set = origin->file != NULL || origin->env != NULL;
	why[0] = '\0';
	if (!check_value(cfg->pool, k, v.str, &v, why, sizeof(why))) {
		bad_value(err, k, origin, s, why);
		return false;
	}
	cfg->values[idx] = v;
	return true;
}

/* State shared by the line reader and the key handler. */
struct parse_state {
	struct mc_config *cfg;
	const char *data; /* the whole file */
	size_t len, pos;
	int line;     /* physical line last handed to inih */
	int err_line; /* line of err, 0 while there is none */
	struct mc_error err;
};

/* Records the first error of the file, at the current line. */
static void parse_fail(struct parse_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void parse_fail(struct parse_state *st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (st->err_line != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->err_line = st->line;
	mc_error_set(&st->err, MC_ERR_INVALID, "%s:%d: %s", st->cfg->path,
		     st->line, msg);
}

/* Checks a "[section]" line, which inih does not report by itself. */
static void check_section_line(struct parse_state *st, const char *line)
{
	const char *end = strchr(line, ']'), *rest;
	char name[64];

	if (line[0] != '[' || end == NULL)
		return;
	for (rest = end + 1; *rest != '\0' && strchr(" \t\r\n", *rest); rest++)
		;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		parse_fail(st, "syntax error");
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
	if (!section_known(name))
		parse_fail(st, "unknown section [%s]", name);
}

/* inih reader: hands out one physical line, without leading blanks (so
 * inih never sees a continuation line), and counts lines. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	const char *p = st->data + st->pos, *nl;
	size_t n;

	if (st->err_line != 0 || st->pos >= st->len)
		return NULL;
	nl = memchr(p, '\n', st->len - st->pos);
	n = nl != NULL ? (size_t)(nl - p) + 1 : st->len - st->pos;
	st->pos += n;
	st->line++;
	if (st->line == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	for (; n > 0 && (*p == ' ' || *p == '\t'); p++, n--)
		;
	if (n >= (size_t)num) {
		parse_fail(st, "syntax error: line longer than %d bytes",
			   num - 2);
		return NULL;
	}
	if (memchr(p, '\0', n) != NULL) {
		parse_fail(st, "syntax error: NUL byte");
		return NULL;
	}
	memcpy(str, p, n);
	str[n] = '\0';
	check_section_line(st, str);
	return st->err_line != 0 ? NULL : str;
}

/* inih handler: one "key = value" of the file. */
static int handle_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct parse_state *st = user;
	struct cfg_origin origin = {st->cfg->path, st->line, NULL};
	int idx;

	if (st->err_line != 0)
		return 0;
	if (section[0] == '\0') {
		parse_fail(st, "key \"%s\" outside of any section", name);
		return 0;
	}
	idx = find_key(section, name);
	if (idx < 0) {
		parse_fail(st, "unknown key \"%s\" in section [%s]", name,
			   section);
		return 0;
	}
	if (!set_value(st->cfg, idx, value, &origin, &st->err)) {
		st->err_line = st->line;
		return 0;
	}
	return 1;
}

/* Reads the whole file into buf (heap). */
static bool read_file(const char *path, struct mc_buf *buf,
		      struct mc_error *err)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		mc_error_set(err,
			     errno == ENOENT ? MC_ERR_NOTFOUND
					     : MC_ERR_PERMANENT,
			     "cannot read %s: %s", path, strerror(errno));
		return false;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || !mc_buf_append(buf, chunk, (size_t)n)) {
			mc_error_set(err, MC_ERR_PERMANENT,
				     "cannot read %s: %s", path,
				     n < 0 ? strerror(errno)
					   : "file too large");
			close(fd);
			return false;
		}
	}
	close(fd);
	return true;
}

/* The absolute directory holding path. */
static const char *config_dir(struct mc_pool *pool, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *cwd;

	if (slash == path)
		return "/";
	dir = slash != NULL ? mc_pstrndup(pool, path, (size_t)(slash - path))
			    : mc_pstrdup(pool, ".");
	if (dir[0] == '/' || (cwd = getcwd(NULL, 0)) == NULL)
		return dir;
	if (strcmp(dir, ".") == 0)
		dir = mc_pstrdup(pool, cwd);
	else
		dir = mc_psprintf(pool, "%s%s%s", cwd,
				  strcmp(cwd, "/") == 0 ? "" : "/", dir);
	free(cwd);
	return dir;
}

/* Parses the file over the defaults; false with err set. */
static bool parse_file(struct mc_config *cfg, struct mc_error *err)
{
	struct parse_state st = {.cfg = cfg};
	struct mc_buf buf;
	int ret, saved_max_line;

	mc_buf_init(&buf, NULL, CONFIG_FILE_MAX);
	if (!read_file(cfg->path, &buf, err)) {
		mc_secure_zero(buf.data, buf.cap);
		mc_buf_free(&buf);
		return false;
	}
	st.data = buf.data;
	st.len = buf.len;
	mc_error_clear(&st.err);
	/* Debian's inih sizes its line buffer from this run-time option. */
	saved_max_line = ini_max_line;
	ini_max_line = CONFIG_LINE_MAX;
	ret = ini_parse_stream(read_line, &st, handle_key, &st);
	ini_max_line = saved_max_line;
	mc_secure_zero(buf.data, buf.cap);
	mc_buf_free(&buf);
	if (ret != 0 && (st.err_line == 0 || ret < st.err_line)) {
		mc_error_set(err, MC_ERR_INVALID, "%s:%d: syntax error",
			     cfg->path, ret);
		return false;
	}
	if (st.err_line != 0)
		mc_error_set(err, st.err.cls, "%s", st.err.msg);
	return st.err_line == 0;
}

/* "MAILCORE_SMTPD_LISTEN_MX" for [smtpd] listen_mx. */
static void env_name(const struct mc_config_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "MAILCORE_%s_%s", k->section, k->key);
	for (char *p = buf; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (*p == '-' || *p == '.')
			*p = '_';
	}
}

/* Applies MAILCORE_<SECTION>_<KEY> overrides. */
static bool apply_env(struct mc_config *cfg, struct mc_error *err)
{
	char name[128];
	const char *value;

	for (size_t i = 0; i < cfg->n_keys; i++) {
		struct cfg_origin origin = {NULL, 0, name};

		env_name(&mc_config_keys[i], name, sizeof(name));
		value = getenv(name);
		if (value != NULL &&
		    !set_value(cfg, (int)i, value, &origin, err))
			return false;
	}
	return true;
}

/* Stores and checks every default of the schema. */
static bool apply_defaults(struct mc_config *cfg, struct mc_error *err)
{
	const struct cfg_origin origin = {NULL, 0, NULL};

	for (size_t i = 0; i < cfg->n_keys; i++) {
		const char *def = mc_config_keys[i].default_value;

		if (!set_value(cfg, (int)i, def != NULL ? def : "", &origin,
			       err))
			return false;
	}
	return true;
}

/* Loads defaults, then path (if any), then the environment. */
struct mc_config *mc_config_load(const char *path, struct mc_error *err)
{
	struct mc_config *cfg = mc_calloc(1, sizeof(*cfg));

	cfg->pool = mc_pool_create_secure("config", 0);
	while (mc_config_keys[cfg->n_keys].section != NULL)
		cfg->n_keys++;
	cfg->values =
		mc_palloc_array(cfg->pool, cfg->n_keys, sizeof(*cfg->values));
	if (path != NULL) {
		cfg->path = mc_pstrdup(cfg->pool, path);
		cfg->dir = config_dir(cfg->pool, path);
	}
	if (!apply_defaults(cfg, err) ||
	    (path != NULL && !parse_file(cfg, err)) || !apply_env(cfg, err)) {
		mc_config_destroy(&cfg);
		return NULL;
	}
	return cfg;
}

/* Frees cfg, zeroing every value; accepts NULL and clears *cfgp. */
void mc_config_destroy(struct mc_config **cfgp)
{
	if (cfgp == NULL || *cfgp == NULL)
		return;
	mc_pool_destroy(&(*cfgp)->pool);
	free(*cfgp);
	*cfgp = NULL;
}

/* The value of a schema key of one of the given types, or abort(). */
static const struct cfg_value *lookup(const struct mc_config *cfg,
				      const char *section, const char *key,
				      enum mc_config_type t1,
				      enum mc_config_type t2)
{
	int idx = find_key(section, key);

	if (idx < 0) {
		fprintf(stderr, "mc_config: no key [%s] %s in the schema\n",
			section, key);
		abort();
	}
	if (mc_config_keys[idx].type != t1 && mc_config_keys[idx].type != t2) {
		fprintf(stderr, "mc_config: [%s] %s read with the wrong type\n",
			section, key);
		abort();
	}
	return &cfg->values[idx];
}

/* The text of a STRING, SECRET, PATH, ENUM, ADDRS or NETS key. */
const char *mc_config_str(const struct mc_config *cfg, const char *section,
			  const char *key)
{
	int idx = find_key(section, key);
	enum mc_config_type t =
		idx < 0 ? MC_CFG_STRING : mc_config_keys[idx].type;

	if (t == MC_CFG_SECRET || t == MC_CFG_PATH || t == MC_CFG_ENUM ||
	    t == MC_CFG_ADDRS || t == MC_CFG_NETS)
		return lookup(cfg, section, key, t, t)->str;
	return lookup(cfg, section, key, MC_CFG_STRING, MC_CFG_STRING)->str;
}

/* The value of an INT key. */
int64_t mc_config_int(const struct mc_config *cfg, const char *section,
		      const char *key)
{
	return lookup(cfg, section, key, MC_CFG_INT, MC_CFG_INT)->num;
}

/* The value of a BOOL key. */
bool mc_config_bool(const struct mc_config *cfg, const char *section,
		    const char *key)
{
	return lookup(cfg, section, key, MC_CFG_BOOL, MC_CFG_BOOL)->flag;
}

/* The value of a SIZE key in bytes. */
uint64_t mc_config_size(const struct mc_config *cfg, const char *section,
			const char *key)
{
	return lookup(cfg, section, key, MC_CFG_SIZE, MC_CFG_SIZE)->unum;
}

/* The value of a DURATION key in milliseconds. */
uint64_t mc_config_duration_ms(const struct mc_config *cfg, const char *section,
			       const char *key)
{
	return lookup(cfg, section, key, MC_CFG_DURATION, MC_CFG_DURATION)
		->unum;
}

/* True when the file or the environment gave the key. */
bool mc_config_is_set(const struct mc_config *cfg, const char *section,
		      const char *key)
{
	int idx = find_key(section, key);

	if (idx < 0) {
		fprintf(stderr, "mc_config: no key [%s] %s in the schema\n",
			section, key);
		abort();
	}
	return cfg->values[idx].set;
}

/* The file loaded, or NULL. */
const char *mc_config_path(const struct mc_config *cfg)
{
	return cfg->path;
}

/* Writes all of buf to fd. */
static void write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/* Writes the effective configuration, secrets hidden. */
void mc_config_dump(const struct mc_config *cfg, int fd)
{
	const char *section = NULL;
	struct mc_buf buf;

	mc_buf_init(&buf, NULL, 0);
	for (size_t i = 0; i < cfg->n_keys; i++) {
		const struct mc_config_key *k = &mc_config_keys[i];

		if (section == NULL || strcmp(section, k->section) != 0)
			mc_buf_printf(&buf, "%s[%s]\n",
				      section == NULL ? "" : "\n", k->section);
		section = k->section;
		mc_buf_printf(&buf, "%s = %s\n", k->key,
			      k->type == MC_CFG_SECRET ? "(hidden)"
						       : cfg->values[i].str);
	}
	write_all(fd, buf.data, buf.len);
	mc_buf_free(&buf);
}
