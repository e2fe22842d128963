/* mc-mailbox: the mailbox list and its changes (create with parents,
 * delete, rename with children and the INBOX special case, subscribe),
 * the UID list of an opened mailbox, quota, and change notices, plus the
 * small helpers the other mc-mailbox files share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailcore/mc-encword.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-redis.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mc-mailbox-private.h"

const char *mb_num(char buf[MB_NUM], int64_t v)
{
	snprintf(buf, MB_NUM, "%lld", (long long)v);
	return buf;
}

void mb_ranges(struct mc_pool *pool, const struct mc_imap_seqset *set,
	       const char **lo_r, const char **hi_r)
{
	struct mc_buf lo, hi;
	mc_buf_init(&lo, pool, 0);
	mc_buf_init(&hi, pool, 0);
	mc_buf_append_c(&lo, '{');
	mc_buf_append_c(&hi, '{');
	for (size_t i = 0; set != NULL && i < set->count; i++) {
		mc_buf_printf(&lo, "%s%u", i > 0 ? "," : "", set->ranges[i].lo);
		mc_buf_printf(&hi, "%s%u", i > 0 ? "," : "", set->ranges[i].hi);
	}
	mc_buf_append_c(&lo, '}');
	mc_buf_append_c(&hi, '}');
	*lo_r = mc_buf_cstr(&lo);
	*hi_r = mc_buf_cstr(&hi);
}

/* The value of one hex digit (input already checked by PostgreSQL). */
static unsigned hexval(char c)
{
	return c <= '9' ? (unsigned)(c - '0')
			: (unsigned)((c | 0x20) - 'a' + 10);
}

const char *mb_bytea(struct mc_pool *pool, const char *hex, size_t *len_r)
{
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	size_t n = strlen(hex) / 2;
	char *out = mc_palloc(pool, n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(hexval(hex[2 * i]) << 4 |
				hexval(hex[2 * i + 1]));
	*len_r = n;
	return out;
}

const char **mb_text_array(struct mc_pool *pool, const char *s, size_t *count_r)
{
	size_t n = 0, cap = s != NULL ? strlen(s) / 2 + 1 : 1;
	const char **list = mc_palloc_array(pool, cap + 1, sizeof(*list));
	const char *p = s != NULL && s[0] == '{' ? s + 1 : "";
	while (*p != '\0' && *p != '}') {
		struct mc_buf item;
		mc_buf_init(&item, pool, 0);
		bool quoted = *p == '"';
		p += quoted;
		while (*p != '\0' &&
		       (quoted ? *p != '"' : (*p != ',' && *p != '}'))) {
			if (quoted && *p == '\\' && p[1] != '\0')
				p++;
			mc_buf_append_c(&item, *p++);
		}
		p += quoted && *p == '"';
		p += *p == ',';
		list[n++] = mc_buf_cstr(&item);
	}
	list[n] = NULL;
	*count_r = n;
	return list;
}

const char *mb_normal_name(const char *name, char *buf)
{
	snprintf(buf, MC_MAILBOX_NAME_MAX + 1, "%s", name);
	if (strncasecmp(buf, "INBOX", 5) == 0 &&
	    (buf[5] == '\0' || buf[5] == MC_MAILBOX_SEP))
		memcpy(buf, "INBOX", 5);
	return buf;
}

bool mc_mailbox_name_valid(const char *name)
{
	size_t len = strlen(name), levels = 1;
	if (len == 0 || len > MC_MAILBOX_NAME_MAX ||
	    name[0] == MC_MAILBOX_SEP || name[len - 1] == MC_MAILBOX_SEP)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return false;
		if (c == MC_MAILBOX_SEP && name[i + 1] == MC_MAILBOX_SEP)
			return false;
		levels += c == MC_MAILBOX_SEP;
	}
	struct mc_buf check;
	mc_buf_init(&check, NULL, 0);
	mc_charset_to_utf8("utf-8", name, len, &check);
	bool utf8 = check.len == len && memcmp(check.data, name, len) == 0;
	mc_buf_free(&check);
	return utf8 && levels <= MC_MAILBOX_DEPTH_MAX;
}

static const char sql_list[] =
	"SELECT b.id, b.name, b.special_use, b.subscribed, b.uidvalidity, "
	"b.uidnext, b.highestmodseq, b.messages, (SELECT count(*) FROM "
	"mailbox_messages mm WHERE mm.tenant_id = b.tenant_id AND "
	"mm.mailbox_id = b.id AND mm.flags & 1 = 0), b.size_bytes, (SELECT "
	"count(*) FROM mailbox_messages mm WHERE mm.tenant_id = b.tenant_id "
	"AND mm.mailbox_id = b.id AND mm.flags & 8 <> 0) FROM mailboxes b "
	"WHERE b.tenant_id = $1 AND b.user_id = $2 ";

/* Fills info from row r of a sql_list result. */
static void info_from_row(struct mc_pool *pool, PGresult *res, int r,
			  struct mc_mailbox_info *info)
{
	*info = (struct mc_mailbox_info){
		.id = strtoll(PQgetvalue(res, r, 0), NULL, 10),
		.name = mc_pstrdup(pool, PQgetvalue(res, r, 1)),
		.special_use =
			PQgetisnull(res, r, 2)
				? NULL
				: mc_pstrdup(pool, PQgetvalue(res, r, 2)),
		.subscribed = PQgetvalue(res, r, 3)[0] == 't',
		.uidvalidity =
			(uint32_t)strtoul(PQgetvalue(res, r, 4), NULL, 10),
		.uidnext = (uint32_t)strtoul(PQgetvalue(res, r, 5), NULL, 10),
		.highestmodseq = strtoull(PQgetvalue(res, r, 6), NULL, 10),
		.messages = (uint32_t)strtoul(PQgetvalue(res, r, 7), NULL, 10),
		.unseen = (uint32_t)strtoul(PQgetvalue(res, r, 8), NULL, 10),
		.size = strtoull(PQgetvalue(res, r, 9), NULL, 10),
		.deleted = (uint32_t)strtoul(PQgetvalue(res, r, 10), NULL, 10),
	};
}

int mc_mailbox_list(struct mc_pg *pg, struct mc_pool *pool,
		    const struct mc_mailbox_owner *owner,
		    struct mc_mailbox_info **list_r, size_t *count_r,
		    struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM];
	if (mc_store_create_default_mailboxes(pg, owner->tenant_id,
					      owner->user_id, err) < 0)
		return -1;
	char *sql = mc_psprintf(pool, "%sORDER BY b.name", sql_list);
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id)};
	PGresult *res = mc_pg_query(pg, sql, 2, params, err);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	*list_r = mc_palloc_array(pool, (size_t)n + 1, sizeof(**list_r));
	for (int r = 0; r < n; r++)
		info_from_row(pool, res, r, &(*list_r)[r]);
	*count_r = (size_t)n;
	PQclear(res);
	return 0;
}

int mc_mailbox_get(struct mc_pg *pg, struct mc_pool *pool,
		   const struct mc_mailbox_owner *owner, const char *name,
		   struct mc_mailbox_info *info_r, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], norm[MC_MAILBOX_NAME_MAX + 1];
	char *sql = mc_psprintf(pool, "%sAND b.name = $3", sql_list);
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id),
				mb_normal_name(name, norm)};
	PGresult *res = mc_pg_query(pg, sql, 3, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found)
		info_from_row(pool, res, 0, info_r);
	PQclear(res);
	if (!found && strcmp(norm, "INBOX") == 0) {
		/* INBOX always exists: make the defaults and look again */
		if (mc_store_create_default_mailboxes(pg, owner->tenant_id,
						      owner->user_id, err) < 0)
			return -1;
		res = mc_pg_query(pg, sql, 3, params, err);
		if (res == NULL)
			return -1;
		found = PQntuples(res) > 0;
		if (found)
			info_from_row(pool, res, 0, info_r);
		PQclear(res);
	}
	return found;
}

int mb_lock_by_name(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		    const char *name, int64_t *id_r, uint32_t *uidvalidity_r,
		    struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], norm[MC_MAILBOX_NAME_MAX + 1];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id),
				mb_normal_name(name, norm)};
	PGresult *res = mc_pg_query(pg,
				    "SELECT id, uidvalidity FROM mailboxes "
				    "WHERE tenant_id = $1 AND user_id = $2 AND "
				    "name = $3 FOR UPDATE",
				    3, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (uidvalidity_r != NULL)
			*uidvalidity_r = (uint32_t)strtoul(
				PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return found;
}

/* Inserts one mailbox unless it exists: 1 created, 0 existed, -1. */
static int insert_mailbox(struct mc_pg *pg,
			  const struct mc_mailbox_owner *owner,
			  const char *name, const char *special_use,
			  struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id), name, special_use};
	long n = mc_pg_exec(pg,
			    "INSERT INTO mailboxes (tenant_id, user_id, name, "
			    "special_use) VALUES ($1, $2, $3, $4) ON CONFLICT "
			    "DO NOTHING",
			    4, params, err);
	return n < 0 ? -1 : n > 0;
}

/* Creates the parents of name that are missing. */
static int create_parents(struct mc_pg *pg,
			  const struct mc_mailbox_owner *owner,
			  const char *name, struct mc_error *err)
{
	char buf[MC_MAILBOX_NAME_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", name);
	for (char *p = strchr(buf, MC_MAILBOX_SEP); p != NULL;
	     p = strchr(p + 1, MC_MAILBOX_SEP)) {
		*p = '\0';
		if (insert_mailbox(pg, owner, buf, NULL, err) < 0)
			return -1;
		*p = MC_MAILBOX_SEP;
	}
	return 0;
}

struct create_args {
	const struct mc_mailbox_owner *owner;
	const char *name, *special_use;
};

/* Transaction body of mc_mailbox_create. */
static int create_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct create_args *a = ctx;
	if (create_parents(pg, a->owner, a->name, err) < 0)
		return -1;
	int r = insert_mailbox(pg, a->owner, a->name, a->special_use, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_EXISTS, "mailbox %s already exists",
			     a->name);
	return r > 0 ? 0 : -1;
}

/* Refuses a bad name with MC_ERR_INVALID. */
static bool check_name(const char *name, struct mc_error *err)
{
	if (mc_mailbox_name_valid(name))
		return true;
	mc_error_set(err, MC_ERR_INVALID, "invalid mailbox name");
	return false;
}

int mc_mailbox_create(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *name, const char *special_use,
		      struct mc_error *err)
{
	char norm[MC_MAILBOX_NAME_MAX + 1];
	struct create_args a = {owner, mb_normal_name(name, norm), special_use};
	if (!check_name(name, err))
		return -1;
	if (mc_store_create_default_mailboxes(pg, owner->tenant_id,
					      owner->user_id, err) < 0)
		return -1;
	return mc_pg_transaction(pg, create_txn, &a, err);
}

struct delete_args {
	const struct mc_mailbox_owner *owner;
	const char *name;
};

/* Transaction body of mc_mailbox_delete. */
static int delete_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct delete_args *a = ctx;
	char tid[MB_NUM], id[MB_NUM];
	int64_t mailbox_id;
	int r = mb_lock_by_name(pg, a->owner, a->name, &mailbox_id, NULL, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no mailbox %s", a->name);
	if (r <= 0)
		return -1;
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(id, mailbox_id)};
	struct mc_pool *pool = mc_pool_create("mailbox-delete", 1024);
	uint32_t *gone;
	size_t n;
	r = mb_expunge_txn(pg, pool, a->owner, mailbox_id, NULL, false, &gone,
			   &n, err);
	mc_pool_destroy(&pool);
	if (r < 0 ||
	    mc_pg_exec(pg,
		       "DELETE FROM mailboxes WHERE tenant_id = $1 AND "
		       "id = $2",
		       2, params, err) < 0)
		return -1;
	return 0;
}

/* True for INBOX and the special-use mailboxes (never deleted). */
static int is_protected(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
			const char *name, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM];
	if (strcmp(name, "INBOX") == 0)
		return 1;
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id), name};
	PGresult *res = mc_pg_query(pg,
				    "SELECT 1 FROM mailboxes WHERE tenant_id = "
				    "$1 AND user_id = $2 AND name = $3 AND "
				    "special_use IS NOT NULL",
				    3, params, err);
	if (res == NULL)
		return -1;
	int r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

int mc_mailbox_delete(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *name, struct mc_error *err)
{
	char norm[MC_MAILBOX_NAME_MAX + 1];
	struct delete_args a = {owner, mb_normal_name(name, norm)};
	int p = is_protected(pg, owner, a.name, err);
	if (p > 0)
		mc_error_set(err, MC_ERR_INVALID,
			     "%s cannot be deleted: INBOX and the special-use "
			     "mailboxes stay",
			     a.name);
	if (p != 0)
		return -1;
	return mc_pg_transaction(pg, delete_txn, &a, err);
}

struct rename_args {
	const struct mc_mailbox_owner *owner;
	const char *from, *to;
};

/* RENAME INBOX: a new mailbox takes INBOX's messages (and its UID
 * counters); INBOX logs them as expunged and stays, empty. */
static int rename_inbox(struct mc_pg *pg, struct rename_args *a,
			struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(uid, a->owner->user_id), a->to};
	if (insert_mailbox(pg, a->owner, a->to, NULL, err) < 0)
		return -1;
	return mc_pg_exec(
		       pg,
		       "WITH i AS (SELECT id, uidnext, highestmodseq, "
		       "messages, "
		       "size_bytes FROM mailboxes WHERE tenant_id = $1 AND "
		       "user_id = $2 AND name = 'INBOX' FOR UPDATE), n AS "
		       "(UPDATE mailboxes m SET uidnext = i.uidnext, "
		       "highestmodseq = i.highestmodseq + 1, messages = "
		       "i.messages, size_bytes = i.size_bytes FROM i WHERE "
		       "m.tenant_id = $1 AND m.user_id = $2 AND m.name = $3 "
		       "RETURNING m.id), mv AS (UPDATE mailbox_messages mm SET "
		       "mailbox_id = (SELECT id FROM n) FROM i WHERE "
		       "mm.tenant_id = $1 AND mm.mailbox_id = i.id RETURNING "
		       "mm.uid), lg AS (INSERT INTO expunged SELECT $1, i.id, "
		       "mv.uid, i.highestmodseq + 1 FROM mv, i ON CONFLICT DO "
		       "NOTHING) UPDATE mailboxes m SET highestmodseq = "
		       "i.highestmodseq + 1, messages = 0, size_bytes = 0 FROM "
		       "i "
		       "WHERE m.tenant_id = $1 AND m.id = i.id",
		       3, params, err) < 0
		       ? -1
		       : 0;
}

/* Transaction body of mc_mailbox_rename. */
static int rename_txn(struct mc_pg *pg, void *ctx, struct mc_error *err)
{
	struct rename_args *a = ctx;
	char tid[MB_NUM], uid[MB_NUM];
	int64_t id;
	int r = mb_lock_by_name(pg, a->owner, a->from, &id, NULL, err);
	if (r == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no mailbox %s", a->from);
	int exists =
		r > 0 ? mb_lock_by_name(pg, a->owner, a->to, &id, NULL, err)
		      : -1;
	if (exists > 0)
		mc_error_set(err, MC_ERR_EXISTS, "mailbox %s already exists",
			     a->to);
	if (exists != 0 || create_parents(pg, a->owner, a->to, err) < 0)
		return -1;
	if (strcmp(a->from, "INBOX") == 0)
		return rename_inbox(pg, a, err);
	const char *params[] = {mb_num(tid, a->owner->tenant_id),
				mb_num(uid, a->owner->user_id), a->from, a->to};
	return mc_pg_exec(pg,
			  "UPDATE mailboxes SET name = $4 || substr(name, "
			  "length($3) + 1) WHERE tenant_id = $1 AND user_id = "
			  "$2 AND (name = $3 OR left(name, length($3) + 1) = "
			  "$3 || '/')",
			  4, params, err) < 0
		       ? -1
		       : 0;
}

int mc_mailbox_rename(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		      const char *from, const char *to, struct mc_error *err)
{
	char f[MC_MAILBOX_NAME_MAX + 1], t[MC_MAILBOX_NAME_MAX + 1];
	struct rename_args a = {owner, mb_normal_name(from, f),
				mb_normal_name(to, t)};
	size_t flen = strlen(a.from);
	if (!check_name(to, err))
		return -1;
	if (strcmp(a.to, "INBOX") == 0 || (strncmp(a.to, a.from, flen) == 0 &&
					   a.to[flen] == MC_MAILBOX_SEP)) {
		mc_error_set(err, MC_ERR_INVALID, "cannot rename %s to %s",
			     a.from, a.to);
		return -1;
	}
	return mc_pg_transaction(pg, rename_txn, &a, err);
}

int mc_mailbox_subscribe(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
			 const char *name, bool subscribed,
			 struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], norm[MC_MAILBOX_NAME_MAX + 1];
	const char *params[] = {
		mb_num(tid, owner->tenant_id), mb_num(uid, owner->user_id),
		mb_normal_name(name, norm), subscribed ? "true" : "false"};
	long n = mc_pg_exec(pg,
			    "UPDATE mailboxes SET subscribed = $4 WHERE "
			    "tenant_id = $1 AND user_id = $2 AND name = $3",
			    4, params, err);
	if (n == 0)
		mc_error_set(err, MC_ERR_NOTFOUND, "no mailbox %s", norm);
	return n > 0 ? 0 : -1;
}

/* Parses "{1,2,3}" into a malloc()ed array. */
static uint32_t *parse_uids(const char *s, size_t *count_r)
{
	size_t cap = 16, n = 0;
	uint32_t *v = mc_malloc(cap * sizeof(*v));
	for (const char *p = s + (s[0] == '{'); *p != '\0' && *p != '}';) {
		char *end;
		unsigned long u = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (n == cap)
			v = mc_realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = (uint32_t)u;
		p = *end == ',' ? end + 1 : end;
	}
	*count_r = n;
	return v;
}

int mc_mailbox_uids(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		    int64_t mailbox_id, uint32_t after, uint32_t **uids_r,
		    size_t *count_r, uint32_t *uidnext_r,
		    uint64_t *highestmodseq_r, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM], id[MB_NUM], a[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id),
				mb_num(id, mailbox_id), mb_num(a, after)};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT b.uidnext, b.highestmodseq, ARRAY(SELECT mm.uid FROM "
		"mailbox_messages mm WHERE mm.tenant_id = b.tenant_id AND "
		"mm.mailbox_id = b.id AND mm.uid > $4 ORDER BY mm.uid) FROM "
		"mailboxes b WHERE b.tenant_id = $1 AND b.user_id = $2 AND "
		"b.id "
		"= $3",
		4, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		mc_error_set(err, MC_ERR_NOTFOUND, "mailbox is gone");
		return -1;
	}
	*uidnext_r = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	*highestmodseq_r = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	*uids_r = parse_uids(PQgetvalue(res, 0, 2), count_r);
	PQclear(res);
	return 0;
}

int mc_mailbox_quota(struct mc_pg *pg, const struct mc_mailbox_owner *owner,
		     struct mc_mailbox_quota *quota_r, struct mc_error *err)
{
	char tid[MB_NUM], uid[MB_NUM];
	const char *params[] = {mb_num(tid, owner->tenant_id),
				mb_num(uid, owner->user_id)};
	PGresult *res = mc_pg_query(
		pg,
		"SELECT u.used_bytes, u.quota_bytes, (SELECT coalesce(sum("
		"used_bytes), 0) FROM domain_usage du WHERE du.tenant_id = "
		"u.tenant_id AND du.domain_id = u.domain_id), d.quota_bytes, "
		"(SELECT coalesce(sum(messages), 0) FROM mailboxes b WHERE "
		"b.tenant_id = u.tenant_id AND b.user_id = u.id) FROM users u "
		"JOIN domains d ON d.tenant_id = u.tenant_id AND d.id = "
		"u.domain_id WHERE u.tenant_id = $1 AND u.id = $2",
		2, params, err);
	if (res == NULL)
		return -1;
	int found = PQntuples(res) > 0;
	if (found) {
		uint64_t v[5];
		for (int c = 0; c < 5; c++)
			v[c] = strtoull(PQgetvalue(res, 0, c), NULL, 10);
		*quota_r = (struct mc_mailbox_quota){v[0], v[1], v[2], v[3],
						     (uint32_t)v[4]};
	} else {
		mc_error_set(err, MC_ERR_NOTFOUND, "user is gone");
	}
	PQclear(res);
	return found ? 0 : -1;
}

bool mc_mailbox_error_is_quota(const struct mc_error *err)
{
	return err != NULL && err->cls == MC_ERR_PERMANENT &&
	       strncmp(err->msg, "over quota", 10) == 0;
}

void mc_mailbox_notify(struct mc_redis *redis,
		       const struct mc_mailbox_owner *owner, const char *what,
		       int64_t mailbox_id, uint64_t modseq)
{
	char channel[64], msg[96];
	struct mc_error err = {0};
	if (redis == NULL)
		return;
	snprintf(channel, sizeof(channel), MC_STORE_CHANNEL_FMT,
		 (long long)owner->tenant_id, (long long)owner->user_id);
	snprintf(msg, sizeof(msg), "%s %lld %llu", what, (long long)mailbox_id,
		 (unsigned long long)modseq);
	redisReply *r =
		mc_redis_command(redis, &err, "PUBLISH %s %s", channel, msg);
	if (r != NULL)
		freeReplyObject(r);
}
