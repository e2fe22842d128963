/* mc-config: the INI configuration (parsed with inih) checked against one
 * schema of known sections and keys. MAILCORE_<SECTION>_<KEY> in the
 * environment overrides key in [section]. An unknown section or key, or a
 * bad value, is an MC_ERR_INVALID error naming the file, line and key (or
 * the environment variable). */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_error;

enum mc_config_type {
	MC_CFG_STRING,
	MC_CFG_SECRET,	 /* a string never printed by mc_config_dump */
	MC_CFG_PATH,	 /* a string; relative paths resolve against the
			    directory of the config file */
	MC_CFG_INT,	 /* decimal, within [min, max] */
	MC_CFG_BOOL,	 /* yes/no/true/false/on/off/1/0 */
	MC_CFG_SIZE,	 /* "10M" -> bytes, within [min, max] */
	MC_CFG_DURATION, /* "30s" -> milliseconds, within [min, max] */
	MC_CFG_ENUM,	 /* one of the '|'-separated choices */
	MC_CFG_ADDRS,	 /* comma-separated "ip:port" list; may be empty */
	MC_CFG_NETS,	 /* comma-separated CIDR list ("10.0.0.0/8, ::1") */
};

struct mc_config_key {
	const char *section;
	const char *key;
	enum mc_config_type type;
	const char *default_value;
	const char *choices; /* MC_CFG_ENUM: "plain|json" */
	int64_t min, max;    /* INT, SIZE, DURATION; 0,0 = no bound */
	const char *help;
};

/* The schema: every key of every section, ending with a zeroed entry. */
extern const struct mc_config_key mc_config_keys[];

struct mc_config;

/* Loads path (NULL: defaults and environment only). Returns NULL with err
 * set (MC_ERR_INVALID, or MC_ERR_NOTFOUND for a missing file) on failure.
 * The caller owns the result. */
struct mc_config *mc_config_load(const char *path, struct mc_error *err);
void mc_config_destroy(struct mc_config **cfg);

/* Getters. Asking for a key that is not in the schema, or with the wrong
 * type, is a programming error and aborts. Strings are owned by cfg. */
const char *mc_config_str(const struct mc_config *cfg, const char *section,
			  const char *key);
int64_t mc_config_int(const struct mc_config *cfg, const char *section,
		      const char *key);
bool mc_config_bool(const struct mc_config *cfg, const char *section,
		    const char *key);
uint64_t mc_config_size(const struct mc_config *cfg, const char *section,
			const char *key);
uint64_t mc_config_duration_ms(const struct mc_config *cfg, const char *section,
			       const char *key);
/* True when the file or the environment set the key. */
bool mc_config_is_set(const struct mc_config *cfg, const char *section,
		      const char *key);
/* The file loaded, or NULL. */
const char *mc_config_path(const struct mc_config *cfg);
/* Writes "[section]\nkey = value" lines of the effective configuration to
 * fd, secrets shown as "(hidden)". */
void mc_config_dump(const struct mc_config *cfg, int fd);

#endif
