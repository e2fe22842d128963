/* mc-directory-cache: the Redis side of the directory. Cached lookups
 * live under "mc:dir:<generation>:<address>" as JSON; bumping the
 * generation ("mc:dir:gen") makes all of them stale at once, on every
 * node, and the stale entries expire by their TTL. One round trip per
 * lookup: a Lua script reads the generation and the entry together. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"
#include "mc-directory-private.h"

#define GEN_KEY	   "mc:dir:gen"
#define KEY_PREFIX "mc:dir:"

static const char get_script[] =
	"local g = redis.call('GET', KEYS[1]) or '0' "
	"return {g, redis.call('GET', 'mc:dir:' .. g .. ':' .. ARGV[1])}";

static const char forget_script[] =
	"local g = redis.call('GET', KEYS[1]) or '0' "
	"for _, a in ipairs(ARGV) do redis.call('DEL', 'mc:dir:' .. g .. "
	"':' .. a) end return 0";

int mc_directory_invalidate(struct mc_redis *redis, struct mc_error *err)
{
	redisReply *r = mc_redis_command(redis, err, "INCR %s", GEN_KEY);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

void mc_directory_forget(struct mc_redis *redis, const char *const *addresses,
			 size_t count)
{
	if (redis == NULL || count == 0)
		return;
	size_t argc = count + 4;
	const char **argv = mc_calloc(argc, sizeof(*argv));
	size_t *lens = mc_calloc(argc, sizeof(*lens));
	argv[0] = "EVAL";
	argv[1] = forget_script;
	argv[2] = "1";
	argv[3] = GEN_KEY;
	argc = 4;
	for (size_t i = 0; i < count; i++)
		argv[argc++] = addresses[i];
	for (size_t i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	struct mc_error err = {0};
	redisReply *r = mc_redis_commandv(redis, (int)argc, argv, lens, &err);
	if (r != NULL)
		freeReplyObject(r);
	free(argv);
	free(lens);
}

/* JSON of one mailbox entry. */
static json_t *mailbox_to_json(const struct mc_directory_mailbox *m)
{
	return json_pack("[IIIsIIIIIb]", (json_int_t)m->tenant_id,
			 (json_int_t)m->user_id, (json_int_t)m->domain_id,
			 m->address, (json_int_t)m->quota, (json_int_t)m->used,
			 (json_int_t)m->domain_quota,
			 (json_int_t)m->domain_used,
			 (json_int_t)m->max_message_size, m->quota_permanent);
}

/* The whole result as compact JSON (caller frees). */
static char *result_to_json(const struct mc_directory_result *r)
{
	json_t *mb = json_array(), *ext = json_array();
	for (size_t i = 0; i < r->mailboxes_count; i++)
		json_array_append_new(mb, mailbox_to_json(&r->mailboxes[i]));
	for (size_t i = 0; i < r->external_count; i++)
		json_array_append_new(ext, json_string(r->external[i]));
	json_t *o = json_pack("{sisssIsssoso}", "s", (int)r->status, "t",
			      r->text != NULL ? r->text : "", "tenant",
			      (json_int_t)r->tenant_id, "d",
			      r->domain != NULL ? r->domain : "", "m", mb, "x",
			      ext);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* Fills one mailbox from its JSON array; false if malformed. */
static bool mailbox_from_json(struct mc_pool *pool, json_t *a,
			      struct mc_directory_mailbox *m)
{
	json_int_t v[9];
	const char *addr;
	int perm;
	if (json_unpack(a, "[IIIsIIIIIb]", &v[0], &v[1], &v[2], &addr, &v[3],
			&v[4], &v[5], &v[6], &v[7], &perm) < 0)
		return false;
	*m = (struct mc_directory_mailbox){
		.tenant_id = v[0],
		.user_id = v[1],
		.domain_id = v[2],
		.address = mc_pstrdup(pool, addr),
		.quota = v[3],
		.used = v[4],
		.domain_quota = v[5],
		.domain_used = v[6],
		.max_message_size = v[7],
		.quota_permanent = perm != 0,
	};
	return true;
}

/* Parses a cached entry; false if it is malformed (then a miss). */
static bool result_from_json(struct mc_pool *pool, const char *s, size_t len,
			     struct mc_directory_result *r)
{
	json_t *o = json_loadb(s, len, 0, NULL), *mb, *ext;
	json_int_t tenant;
	const char *text, *domain;
	int status;
	bool ok = o != NULL &&
		  json_unpack(o, "{sisssIsssoso}", "s", &status, "t", &text,
			      "tenant", &tenant, "d", &domain, "m", &mb, "x",
			      &ext) == 0 &&
		  json_is_array(mb) && json_is_array(ext);
	if (ok) {
		*r = (struct mc_directory_result){
			.status = (enum mc_directory_status)status,
			.text = mc_pstrdup(pool, text),
			.tenant_id = tenant,
			.domain = mc_pstrdup(pool, domain),
			.mailboxes_count = json_array_size(mb),
			.external_count = json_array_size(ext),
		};
		r->mailboxes = mc_palloc_array(pool, r->mailboxes_count + 1,
					       sizeof(*r->mailboxes));
		r->external = mc_palloc_array(pool, r->external_count + 1,
					      sizeof(*r->external));
		for (size_t i = 0; ok && i < r->mailboxes_count; i++)
			ok = mailbox_from_json(pool, json_array_get(mb, i),
					       &r->mailboxes[i]);
		for (size_t i = 0; ok && i < r->external_count; i++) {
			const char *x =
				json_string_value(json_array_get(ext, i));
			ok = x != NULL;
			r->external[i] = ok ? mc_pstrdup(pool, x) : NULL;
		}
	}
	json_decref(o);
	return ok;
}

int dir_cache_get(struct mc_redis *redis, struct mc_pool *pool,
		  const char *address, struct mc_directory_result *result_r,
		  char gen_r[DIR_GEN_MAX], struct mc_error *err)
{
	redisReply *r = mc_redis_command(redis, err, "EVAL %s 1 %s %s",
					 get_script, GEN_KEY, address);
	if (r == NULL)
		return -1;
	int hit = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(gen_r, DIR_GEN_MAX, "%s", r->element[0]->str);
		redisReply *v = r->element[1];
		hit = v->type == REDIS_REPLY_STRING &&
		      result_from_json(pool, v->str, v->len, result_r);
	} else {
		snprintf(gen_r, DIR_GEN_MAX, "0");
	}
	freeReplyObject(r);
	return hit;
}

void dir_cache_put(struct mc_redis *redis, const char *gen, const char *address,
		   const struct mc_directory_result *r, unsigned ttl_s)
{
	char *json = result_to_json(r);
	if (json == NULL)
		return;
	struct mc_error err = {0};
	redisReply *reply =
		mc_redis_command(redis, &err, "SET %s%s:%s %s EX %u",
				 KEY_PREFIX, gen, address, json, ttl_s);
	if (reply != NULL)
		freeReplyObject(reply);
	else
		mc_log_debug("directory cache: %s", err.msg);
	free(json);
}
