/* mc-ratelimit: the sending-limit counters in Redis. One Lua script does
 * every operation on a submission's counters (check, add, or check and
 * add) so they are seen and changed at one instant; each counter is a
 * key per window, read together with the previous window for the
 * sliding per-minute limits. Also [limits], the SMTP replies and the
 * once-per-window notification guard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-config.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-ratelimit.h"
#include "mailcore/mc-redis.h"

#define COUNTERS_MAX (MC_RL_SCOPE_COUNT * MC_RL_KIND_COUNT)
#define KEY_LEN	     160
#define NUM_LEN	     24

/* KEYS: this and the previous window's key per counter. ARGV: mode
 * (check, add, take), the number of counters, then per counter its
 * limit, amount, the previous window's weight in thousandths, the TTL.
 * Returns {0, 0}, or {i, used} for the first counter i a check fails. */
static const char script[] =
	"local n = tonumber(ARGV[2]) "
	"if ARGV[1] ~= 'add' then for i = 1, n do "
	"local b = 2 + (i - 1) * 4 "
	"local lim, amt, w = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), "
	"tonumber(ARGV[b + 3]) "
	"local used = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') "
	"if w > 0 then used = used + math.floor(tonumber(redis.call('GET', "
	"KEYS[2 * i]) or '0') * w / 1000) end "
	"if amt > 0 and used + amt > lim then return {i, used} end end end "
	"if ARGV[1] ~= 'check' then for i = 1, n do "
	"local b = 2 + (i - 1) * 4 "
	"if tonumber(ARGV[b + 2]) > 0 then "
	"redis.call('INCRBY', KEYS[2 * i - 1], ARGV[b + 2]) "
	"redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[b + 4]) end end end "
	"return {0, 0}";

static const char *const scope_names[MC_RL_SCOPE_COUNT] = {"user", "domain",
							   "ip"};
static const char *const kind_names[MC_RL_KIND_COUNT] = {
	"messages_per_minute", "recipients_per_minute", "messages_per_day",
	"bytes_per_day"};
/* The kinds in counter keys. */
static const char *const kind_tags[MC_RL_KIND_COUNT] = {"mm", "rm", "md", "bd"};

const char *mc_ratelimit_scope_name(enum mc_ratelimit_scope scope)
{
	return scope < MC_RL_SCOPE_COUNT ? scope_names[scope] : "?";
}

const char *mc_ratelimit_kind_name(enum mc_ratelimit_kind kind)
{
	return kind < MC_RL_KIND_COUNT ? kind_names[kind] : "?";
}

void mc_ratelimit_settings_from_config(const struct mc_config *cfg,
				       struct mc_ratelimit_settings *set_r)
{
	*set_r = (struct mc_ratelimit_settings){0};
	for (int s = 0; s < MC_RL_SCOPE_COUNT; s++) {
		for (int k = 0; k < MC_RL_KIND_COUNT; k++) {
			char key[64];
			snprintf(key, sizeof(key), "%s_%s", scope_names[s],
				 kind_names[k]);
			set_r->limits.v[s][k] =
				k == MC_RL_BYTES_DAY
					? mc_config_size(cfg, "limits", key)
					: (uint64_t)mc_config_int(cfg, "limits",
								  key);
		}
	}
	set_r->notify_interval_s =
		(unsigned)(mc_config_duration_ms(cfg, "limits",
						 "notify_interval") /
			   1000);
	set_r->deferred_threshold =
		(uint64_t)mc_config_int(cfg, "limits", "deferred_threshold");
	set_r->deferred_hold = mc_config_bool(cfg, "limits", "deferred_hold");
}

bool mc_ratelimit_any(const struct mc_ratelimit_limits *l)
{
	for (int s = 0; s < MC_RL_SCOPE_COUNT; s++) {
		for (int k = 0; k < MC_RL_KIND_COUNT; k++) {
			if (l->v[s][k] > 0)
				return true;
		}
	}
	return false;
}

/* One counter of an operation. */
struct counter {
	enum mc_ratelimit_scope scope;
	enum mc_ratelimit_kind kind;
	uint64_t limit, amount;
	char key[KEY_LEN], prev[KEY_LEN];
	char args[4][NUM_LEN];
};

/* The arguments of one script run. */
struct op {
	struct counter c[COUNTERS_MAX];
	int n;
};

/* The subject's part of its counter keys; false when it has none. */
static bool subject_tag(const struct mc_ratelimit_subject *subj,
			enum mc_ratelimit_scope scope, char *buf, size_t size)
{
	if (scope == MC_RL_USER && subj->user_id > 0)
		snprintf(buf, size, "u:%lld:%lld", (long long)subj->tenant_id,
			 (long long)subj->user_id);
	else if (scope == MC_RL_DOMAIN && subj->domain_id > 0)
		snprintf(buf, size, "d:%lld", (long long)subj->domain_id);
	else if (scope == MC_RL_IP && subj->ip != NULL && subj->ip[0] != '\0')
		snprintf(buf, size, "i:%.64s", subj->ip);
	else
		return false;
	return true;
}

/* The amount of a kind. */
static uint64_t amount_of(const struct mc_ratelimit_amount *a,
			  enum mc_ratelimit_kind kind)
{
	switch (kind) {
	case MC_RL_MESSAGES_MINUTE:
	case MC_RL_MESSAGES_DAY:
		return a->messages;
	case MC_RL_RECIPIENTS_MINUTE:
		return a->recipients;
	default:
		return a->bytes;
	}
}

/* Fills counter c's keys and arguments for time now. */
static void counter_fill(struct counter *c,
			 const struct mc_ratelimit_settings *set,
			 const char *tag, time_t now)
{
	bool minute = c->kind == MC_RL_MESSAGES_MINUTE ||
		      c->kind == MC_RL_RECIPIENTS_MINUTE;
	long long len = minute ? (set->minute_s > 0 ? set->minute_s : 60)
			       : (set->day_s > 0 ? set->day_s : 86400);
	long long w = (long long)now / len;
	long long weight =
		minute ? (len - (long long)now % len) * 1000 / len : 0;
	snprintf(c->key, KEY_LEN, "mc:rl:%s:%s:%lld", tag, kind_tags[c->kind],
		 w);
	snprintf(c->prev, KEY_LEN, "mc:rl:%s:%s:%lld", tag, kind_tags[c->kind],
		 w - 1);
	snprintf(c->args[0], NUM_LEN, "%llu", (unsigned long long)c->limit);
	snprintf(c->args[1], NUM_LEN, "%llu", (unsigned long long)c->amount);
	snprintf(c->args[2], NUM_LEN, "%lld", weight);
	snprintf(c->args[3], NUM_LEN, "%lld", 2 * len);
}

/* The counters an operation touches: each limited kind of each scope the
 * subject has, whose amount is nonzero. */
static void op_build(struct op *op, const struct mc_ratelimit_settings *set,
		     const struct mc_ratelimit_limits *limits,
		     const struct mc_ratelimit_subject *subj, time_t now,
		     const struct mc_ratelimit_amount *amount)
{
	op->n = 0;
	for (int s = 0; s < MC_RL_SCOPE_COUNT; s++) {
		char tag[96];
		if (!subject_tag(subj, (enum mc_ratelimit_scope)s, tag,
				 sizeof(tag)))
			continue;
		for (int k = 0; k < MC_RL_KIND_COUNT; k++) {
			uint64_t a =
				amount_of(amount, (enum mc_ratelimit_kind)k);
			if (limits->v[s][k] == 0 || a == 0)
				continue;
			struct counter *c = &op->c[op->n++];
			c->scope = (enum mc_ratelimit_scope)s;
			c->kind = (enum mc_ratelimit_kind)k;
			c->limit = limits->v[s][k];
			c->amount = a;
			counter_fill(c, set, tag, now);
		}
	}
}

/* Runs the script in mode over op: 0 (verdict filled), or -1. */
static int op_run(struct mc_redis *redis, const struct op *op, const char *mode,
		  struct mc_ratelimit_verdict *verdict, struct mc_error *err)
{
	const char *argv[4 + 2 * COUNTERS_MAX + 2 + 4 * COUNTERS_MAX];
	char nkeys[NUM_LEN], ncounters[NUM_LEN];
	int argc = 0;
	*verdict = (struct mc_ratelimit_verdict){0};
	if (op->n == 0)
		return 0;
	snprintf(nkeys, sizeof(nkeys), "%d", 2 * op->n);
	snprintf(ncounters, sizeof(ncounters), "%d", op->n);
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = nkeys;
	for (int i = 0; i < op->n; i++) {
		argv[argc++] = op->c[i].key;
		argv[argc++] = op->c[i].prev;
	}
	argv[argc++] = mode;
	argv[argc++] = ncounters;
	for (int i = 0; i < op->n; i++)
		for (int a = 0; a < 4; a++)
			argv[argc++] = op->c[i].args[a];
	redisReply *r = mc_redis_commandv(redis, argc, argv, NULL, err);
	if (r == NULL)
		return -1;
	long long idx = 0, used = 0;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		idx = r->element[0]->integer;
		used = r->element[1]->integer;
	}
	freeReplyObject(r);
	if (idx >= 1 && idx <= op->n) {
		const struct counter *c = &op->c[idx - 1];
		*verdict = (struct mc_ratelimit_verdict){
			true, c->scope, c->kind, c->limit, (uint64_t)used};
	}
	return 0;
}

/* Builds and runs one operation. */
static int operate(struct mc_redis *redis,
		   const struct mc_ratelimit_settings *set,
		   const struct mc_ratelimit_limits *limits,
		   const struct mc_ratelimit_subject *subj, time_t now,
		   const struct mc_ratelimit_amount *amount, const char *mode,
		   struct mc_ratelimit_verdict *verdict, struct mc_error *err)
{
	struct op *op = malloc(sizeof(*op));
	if (op == NULL)
		abort();
	op_build(op, set, limits, subj, now, amount);
	int r = op_run(redis, op, mode, verdict, err);
	free(op);
	return r;
}

int mc_ratelimit_check(struct mc_redis *redis,
		       const struct mc_ratelimit_settings *set,
		       const struct mc_ratelimit_limits *limits,
		       const struct mc_ratelimit_subject *subj, time_t now,
		       const struct mc_ratelimit_amount *amount,
		       struct mc_ratelimit_verdict *verdict_r,
		       struct mc_error *err)
{
	return operate(redis, set, limits, subj, now, amount, "check",
		       verdict_r, err);
}

int mc_ratelimit_record(struct mc_redis *redis,
			const struct mc_ratelimit_settings *set,
			const struct mc_ratelimit_limits *limits,
			const struct mc_ratelimit_subject *subj, time_t now,
			const struct mc_ratelimit_amount *amount,
			struct mc_error *err)
{
	struct mc_ratelimit_verdict v;
	return operate(redis, set, limits, subj, now, amount, "add", &v, err);
}

int mc_ratelimit_take(struct mc_redis *redis,
		      const struct mc_ratelimit_settings *set,
		      const struct mc_ratelimit_limits *limits,
		      const struct mc_ratelimit_subject *subj, time_t now,
		      const struct mc_ratelimit_amount *amount,
		      struct mc_ratelimit_verdict *verdict_r,
		      struct mc_error *err)
{
	return operate(redis, set, limits, subj, now, amount, "take", verdict_r,
		       err);
}

/* The reply texts, by kind and scope. */
static const char *const texts[MC_RL_KIND_COUNT][MC_RL_SCOPE_COUNT] = {
	{"Too many messages per minute from this user; try again later",
	 "Too many messages per minute from this domain; try again later",
	 "Too many messages per minute from this IP address; try again "
	 "later"},
	{"Too many recipients per minute from this user; try again later",
	 "Too many recipients per minute from this domain; try again later",
	 "Too many recipients per minute from this IP address; try again "
	 "later"},
	{"Daily message limit reached for this user",
	 "Daily message limit reached for this domain",
	 "Daily message limit reached for this IP address"},
	{"Daily sending volume limit reached for this user",
	 "Daily sending volume limit reached for this domain",
	 "Daily sending volume limit reached for this IP address"},
};

unsigned mc_ratelimit_reply(const struct mc_ratelimit_verdict *v,
			    const char **enh_r, const char **text_r)
{
	bool minute = v->kind == MC_RL_MESSAGES_MINUTE ||
		      v->kind == MC_RL_RECIPIENTS_MINUTE;
	*enh_r = minute ? "4.7.1" : "5.7.1";
	*text_r =
		texts[v->kind % MC_RL_KIND_COUNT][v->scope % MC_RL_SCOPE_COUNT];
	return minute ? 451 : 550;
}

int mc_ratelimit_notify_once(struct mc_redis *redis,
			     const struct mc_ratelimit_settings *set,
			     const char *key, struct mc_error *err)
{
	unsigned ttl =
		set->notify_interval_s > 0 ? set->notify_interval_s : 3600;
	redisReply *r = mc_redis_command(redis, err,
					 "SET mc:rl:n:%s 1 NX EX %u", key, ttl);
	if (r == NULL)
		return -1;
	int first = r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	return first;
}
