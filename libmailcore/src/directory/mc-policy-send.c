/* mc-policy-send: what enforcing a policy on outgoing mail needs besides
 * the resolution: the per-user daily sending counters in Redis (one hash
 * per user and UTC day, kept two days) and the attachment scanner, an
 * mc-mime pass summing each named or attached part's decoded bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-mime.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-redis.h"

/* Counters outlive their day so a client's clock skew never resets one. */
#define SEND_KEY_TTL (2 * 86400)
#define NAME_MAX_LEN 256

static const char record_script[] =
	"redis.call('HINCRBY', KEYS[1], 'n', 1) "
	"redis.call('HINCRBY', KEYS[1], 'b', ARGV[1]) "
	"redis.call('EXPIRE', KEYS[1], ARGV[2]) return 0";

/* "mc:send:TENANT:USER:YYYYMMDD" for now's UTC day. */
static void send_key(char *buf, size_t size, int64_t tenant_id, int64_t user_id,
		     time_t now)
{
	struct tm tm;
	gmtime_r(&now, &tm);
	snprintf(buf, size, "mc:send:%lld:%lld:%04d%02d%02d",
		 (long long)tenant_id, (long long)user_id, tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
}

/* A hash field's value as a number (absent: 0). */
static uint64_t field_value(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
}

int mc_policy_send_usage(struct mc_redis *redis, int64_t tenant_id,
			 int64_t user_id, time_t now, uint64_t *messages_r,
			 uint64_t *bytes_r, struct mc_error *err)
{
	char key[96];
	send_key(key, sizeof(key), tenant_id, user_id, now);
	*messages_r = *bytes_r = 0;
	redisReply *r = mc_redis_command(redis, err, "HMGET %s n b", key);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		*messages_r = field_value(r->element[0]);
		*bytes_r = field_value(r->element[1]);
	}
	freeReplyObject(r);
	return 0;
}

int mc_policy_send_record(struct mc_redis *redis, int64_t tenant_id,
			  int64_t user_id, time_t now, uint64_t bytes,
			  struct mc_error *err)
{
	char key[96];
	send_key(key, sizeof(key), tenant_id, user_id, now);
	redisReply *r = mc_redis_command(
		redis, err, "EVAL %s 1 %s %llu %d", record_script, key,
		(unsigned long long)bytes, SEND_KEY_TTL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

bool mc_policy_send_exhausted(const struct mc_policy *p, uint64_t messages,
			      uint64_t bytes)
{
	return (p->daily_send_count > 0 && messages >= p->daily_send_count) ||
	       (p->daily_send_bytes > 0 && bytes >= p->daily_send_bytes);
}

struct mc_policy_attach {
	struct mc_mime_parser *parser;
	uint64_t limit;
	/* the leaf part being read */
	int part;
	bool counted; /* it is an attachment */
	uint64_t size;
	char name[NAME_MAX_LEN];
	/* the first part over the limit */
	bool over;
	uint64_t over_size;
	char over_name[NAME_MAX_LEN];
};

struct mc_policy_attach *mc_policy_attach_create(uint64_t limit)
{
	struct mc_policy_attach *a = mc_calloc(1, sizeof(*a));
	a->parser = mc_mime_parser_create(NULL);
	a->limit = limit;
	a->part = -1;
	return a;
}

void mc_policy_attach_destroy(struct mc_policy_attach **ap)
{
	struct mc_policy_attach *a = *ap;
	if (a == NULL)
		return;
	*ap = NULL;
	mc_mime_parser_destroy(&a->parser);
	free(a);
}

/* A part's headers are known: is it an attachment, and called what? */
static void part_begins(struct mc_policy_attach *a,
			const struct mc_mime_event *ev)
{
	const struct mc_mime_part_info *info = ev->u.headers_end.info;
	const char *name = info->filename != NULL ? info->filename : info->name;
	a->part = (int)ev->part;
	a->size = 0;
	a->counted =
		name != NULL || (info->disposition != NULL &&
				 strcmp(info->disposition, "attachment") == 0);
	snprintf(a->name, sizeof(a->name), "%s", name != NULL ? name : "");
}

/* A part ended: remember the first one over the limit. */
static void part_ends(struct mc_policy_attach *a,
		      const struct mc_mime_event *ev)
{
	if ((int)ev->part != a->part)
		return;
	if (a->counted && !a->over && a->limit > 0 && a->size > a->limit) {
		a->over = true;
		a->over_size = a->size;
		memcpy(a->over_name, a->name, sizeof(a->over_name));
	}
	a->part = -1;
}

/* Takes every event the parser has ready. */
static void drain(struct mc_policy_attach *a)
{
	struct mc_mime_event ev;
	while (mc_mime_parser_next(a->parser, &ev) == 1) {
		if (ev.type == MC_MIME_EV_HEADERS_END)
			part_begins(a, &ev);
		else if (ev.type == MC_MIME_EV_BODY && (int)ev.part == a->part)
			a->size += ev.u.body.size;
		else if (ev.type == MC_MIME_EV_PART_END)
			part_ends(a, &ev);
	}
}

void mc_policy_attach_feed(struct mc_policy_attach *a, const void *data,
			   size_t len)
{
	if (a->parser == NULL || len == 0)
		return;
	mc_mime_parser_feed(a->parser, data, len);
	drain(a);
}

bool mc_policy_attach_finish(struct mc_policy_attach *a, const char **name_r,
			     uint64_t *size_r)
{
	if (a->parser != NULL) {
		mc_mime_parser_finish(a->parser);
		drain(a);
		mc_mime_parser_destroy(&a->parser);
	}
	*name_r = a->over_name;
	*size_r = a->over_size;
	return a->over;
}
