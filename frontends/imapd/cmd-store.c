/* cmd-store: STORE / UID STORE (RFC 3501 6.4.6) with CONDSTORE's
 * UNCHANGEDSINCE and MODIFIED (RFC 7162 3.1.3), COPY / UID COPY (RFC
 * 3501 6.4.7) with UIDPLUS's COPYUID (RFC 4315), and MOVE / UID MOVE
 * (RFC 6851). Each is one worker job on mc-mailbox, which also tells the
 * user's other sessions (a notice) what changed. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-store.h"

#define KEYWORDS_MAX 128 /* keywords in one STORE */
#define KEYWORD_LEN  255

/* A STORE while it runs (own pool: the job outlives nothing else). */
struct store_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	struct mc_imap_seqset uids;
	enum mc_mailbox_flag_op op;
	bool silent, conditional;
	unsigned flags;
	const char **keywords;
	size_t keywords_count;
	uint64_t unchangedsince;
	/* results */
	struct mc_mailbox_change *changed;
	size_t changed_count;
	uint32_t *failed;
	size_t failed_count;
	int r;
	struct mc_error err;
};

/* A COPY or MOVE while it runs. */
struct copy_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	struct mc_imap_seqset uids;
	const char *to;
	bool move;
	struct mc_mailbox_copied copied;
	int r;
	struct mc_error err;
};

/* Copies a resolved set into pool. */
static void set_copy(struct mc_pool *pool, const struct mc_imap_seqset *from,
		     struct mc_imap_seqset *to)
{
	*to = *from;
	to->ranges =
		mc_palloc_array(pool, from->count + 1, sizeof(*from->ranges));
	if (from->count > 0)
		memcpy(to->ranges, from->ranges,
		       from->count * sizeof(*from->ranges));
}

/* True for a flag-keyword: an atom (RFC 3501 ATOM-CHAR only). */
static bool keyword_valid(const char *s, size_t len)
{
	if (len == 0 || len > KEYWORD_LEN || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* The MC_STORE_FLAG_* bit of a system flag, 0 if it is none we store. */
static unsigned system_flag(const char *s)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"\\Seen", MC_STORE_FLAG_SEEN},
		     {"\\Answered", MC_STORE_FLAG_ANSWERED},
		     {"\\Flagged", MC_STORE_FLAG_FLAGGED},
		     {"\\Deleted", MC_STORE_FLAG_DELETED},
		     {"\\Draft", MC_STORE_FLAG_DRAFT}};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].bit;
	}
	return 0;
}

/* Adds one flag argument; false for \Recent, an unknown \flag or a
 * keyword that is not an atom. */
static bool add_flag(struct store_job *j, const struct mc_imap_arg *a)
{
	if (a->type != MC_IMAP_ARG_ATOM)
		return false;
	if (a->str[0] == '\\') {
		unsigned bit = system_flag(a->str);
		j->flags |= bit;
		return bit != 0;
	}
	if (!keyword_valid(a->str, a->len) || j->keywords_count == KEYWORDS_MAX)
		return false;
	for (size_t i = 0; i < j->keywords_count; i++) {
		if (strcasecmp(j->keywords[i], a->str) == 0)
			return true;
	}
	j->keywords[j->keywords_count++] = mc_pstrdup(j->pool, a->str);
	return true;
}

/* flag-list / (flag *(SP flag)): the n arguments from args on. */
static bool read_flags(struct store_job *j, const struct mc_imap_arg *args,
		       size_t n)
{
	const struct mc_imap_arg *list = args;
	size_t count = n;
	if (n == 1 && args[0].type == MC_IMAP_ARG_LIST) {
		list = args[0].list;
		count = args[0].list_count;
	} else if (n == 0) {
		return false;
	}
	j->keywords = mc_palloc_array(j->pool, KEYWORDS_MAX, sizeof(char *));
	for (size_t i = 0; i < count; i++) {
		if (!add_flag(j, &list[i]))
			return false;
	}
	return true;
}

/* ["+" / "-"] "FLAGS" [".SILENT"] */
static bool parse_item(struct store_job *j, const struct mc_imap_arg *a)
{
	const char *s;
	size_t len;
	if (a->type != MC_IMAP_ARG_ATOM || !mc_imap_arg_string(a, &s, &len))
		return false;
	j->op = MC_MAILBOX_FLAGS_SET;
	if (*s == '+' || *s == '-')
		j->op = *s++ == '+' ? MC_MAILBOX_FLAGS_ADD
				    : MC_MAILBOX_FLAGS_REMOVE;
	if (strcasecmp(s, "FLAGS.SILENT") == 0)
		j->silent = true;
	else if (strcasecmp(s, "FLAGS") != 0)
		return false;
	return true;
}

/* store-modifiers: "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")" */
static bool parse_modifiers(struct store_job *j, const struct mc_imap_arg *a)
{
	if (a->list_count != 2 ||
	    !mc_imap_arg_is(&a->list[0], "UNCHANGEDSINCE"))
		return false;
	if (!mc_imap_arg_number(&a->list[1], true, &j->unchangedsince))
		return false;
	j->conditional = true;
	return true;
}

/* Worker: the flag change, and the notice for the other sessions. */
static void store_work(struct mc_worker *worker, void *ctx)
{
	struct store_job *j = ctx;
	j->r = mc_mailbox_store(
		mc_service_worker_pg(worker), j->pool, &j->owner, j->mailbox_id,
		&j->uids, j->op, j->flags, j->keywords, j->keywords_count,
		j->unchangedsince, &j->changed, &j->changed_count, &j->failed,
		&j->failed_count, &j->err);
	if (j->r == 0 && j->changed_count > 0)
		mc_mailbox_notify(mc_service_worker_redis(worker), &j->owner,
				  "flags", j->mailbox_id, j->changed[0].modseq);
}

/* The untagged FETCH of one changed message. */
static void write_change(struct command *cmd, struct mc_buf *b,
			 const struct store_job *j,
			 const struct mc_mailbox_change *ch, uint32_t seq)
{
	const char *sep = "";
	mc_buf_printf(b, "* %u FETCH (", seq);
	if (cmd->uid) {
		mc_buf_printf(b, "UID %u", ch->uid);
		sep = " ";
	}
	if (!j->silent) {
		mc_buf_printf(b, "%sFLAGS ", sep);
		mc_imap_write_flags(b, ch->flags, ch->keywords,
				    ch->keywords_count);
		sep = " ";
	}
	if (cmd->s->condstore)
		mc_buf_printf(b, "%sMODSEQ (%llu)", sep,
			      (unsigned long long)ch->modseq);
	mc_buf_append_str(b, ")\r\n");
}

/* The FETCH responses of a STORE (MODSEQ even when silent, RFC 7162). */
static void store_responses(struct command *cmd, const struct store_job *j)
{
	struct selected *sel = cmd->s->sel;
	struct mc_buf b;
	if (j->silent && !cmd->s->condstore)
		return;
	mc_buf_init(&b, cmd->pool, 0);
	for (size_t i = 0; i < j->changed_count; i++) {
		uint32_t seq = selected_seq(sel, j->changed[i].uid);
		if (seq != 0)
			write_change(cmd, &b, j, &j->changed[i], seq);
	}
	session_write(cmd->s, b.data, b.len);
}

/* "MODIFIED set" of the failed messages (UIDs or sequence numbers). */
static const char *modified_code(struct command *cmd, const uint32_t *uids,
				 size_t n)
{
	uint32_t *v = mc_palloc_array(cmd->pool, n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t x =
			cmd->uid ? uids[i] : selected_seq(cmd->s->sel, uids[i]);
		if (x != 0)
			v[k++] = x;
	}
	struct mc_imap_seqset set;
	struct mc_buf b;
	mc_imap_seqset_from_sorted(cmd->pool, v, k, &set);
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, "MODIFIED ");
	mc_imap_seqset_write(&set, &b);
	return k > 0 ? mc_buf_cstr(&b) : NULL;
}

/* Loop: the answer to STORE. */
static void store_done(struct command *cmd, void *ctx)
{
	struct store_job *j = ctx;
	if (cmd != NULL && j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (cmd != NULL) {
		struct selected *sel = cmd->s->sel;
		store_responses(cmd, j);
		/* nothing else changed meanwhile: the client is up to date */
		if (j->changed_count > 0 &&
		    j->changed[0].modseq == sel->highestmodseq + 1)
			sel->highestmodseq = j->changed[0].modseq;
		const char *code =
			j->failed_count > 0
				? modified_code(cmd, j->failed, j->failed_count)
				: NULL;
		cmd_ok(cmd, code,
		       code != NULL ? "Conditional STORE failed"
				    : "STORE completed");
	}
	mc_pool_destroy(&j->pool);
}

/* UNCHANGEDSINCE 0 fails for every message that exists (RFC 7162
 * 3.1.3): answered without a job. */
static void store_unchanged_zero(struct command *cmd, struct store_job *j)
{
	struct selected *sel = cmd->s->sel;
	uint32_t *v = mc_palloc_array(cmd->pool, sel->count + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < sel->count; i++) {
		if (mc_imap_seqset_contains(&j->uids, sel->uids[i]))
			v[n++] = sel->uids[i];
	}
	mc_pool_destroy(&j->pool);
	const char *code = modified_code(cmd, v, n);
	cmd_ok(cmd, code,
	       code != NULL ? "Conditional STORE failed" : "STORE completed");
}

/* Reads the arguments after the sequence set; a BAD text or NULL. */
static const char *store_args(struct command *cmd, struct store_job *j)
{
	size_t i = 1;
	if (i < cmd->argc && cmd->args[i].type == MC_IMAP_ARG_LIST) {
		if (!parse_modifiers(j, &cmd->args[i]))
			return "Invalid STORE modifiers";
		i++;
	}
	if (i >= cmd->argc || !parse_item(j, &cmd->args[i]))
		return "Expected FLAGS, +FLAGS or -FLAGS";
	if (!read_flags(j, &cmd->args[i + 1], cmd->argc - i - 1))
		return "Invalid flags";
	return NULL;
}

/* STORE sequence-set [SP store-modifiers] SP store-att-flags
 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
 *		     (flag-list / (flag *(SP flag))) */
static void cmd_store(struct command *cmd)
{
	struct session *s = cmd->s;
	struct mc_imap_seqset uids;
	if (cmd->argc < 3) {
		cmd_bad(cmd, "Expected a sequence set, an item and flags");
		return;
	}
	if (!cmd_uid_set(cmd, &cmd->args[0], &uids))
		return;
	struct mc_pool *pool = mc_pool_create("imap-store", 2048);
	struct store_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct store_job){
		.pool = pool, .owner = s->owner, .mailbox_id = s->sel->id};
	const char *bad = store_args(cmd, j);
	if (bad != NULL || s->sel->readonly) {
		mc_pool_destroy(&pool);
		if (bad != NULL)
			cmd_bad(cmd, bad);
		else
			cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	set_copy(pool, &uids, &j->uids);
	if (j->conditional)
		s->condstore = true; /* a CONDSTORE enabling command */
	if (j->conditional && j->unchangedsince == 0) {
		store_unchanged_zero(cmd, j);
		return;
	}
	if (!cmd_job(cmd, store_work, store_done, j))
		mc_pool_destroy(&pool);
}

/* Worker: the copy or move, and the notices. */
static void copy_work(struct mc_worker *worker, void *ctx)
{
	struct copy_job *j = ctx;
	j->r = mc_mailbox_copy(mc_service_worker_pg(worker), j->pool, &j->owner,
			       j->mailbox_id, &j->uids, j->to, j->move,
			       &j->copied, &j->err);
	if (j->r < 0 || j->copied.count == 0)
		return;
	struct mc_redis *redis = mc_service_worker_redis(worker);
	mc_mailbox_notify(redis, &j->owner, "new", j->copied.dst_mailbox_id, 0);
	if (j->move)
		mc_mailbox_notify(redis, &j->owner, "expunge", j->mailbox_id,
				  0);
}

/* "COPYUID uidvalidity src-set dst-set" (both in the same order). */
static const char *copyuid_code(struct command *cmd,
				const struct mc_mailbox_copied *c)
{
	struct mc_imap_seqset src, dst;
	struct mc_buf b;
	mc_imap_seqset_from_sorted(cmd->pool, c->src, c->count, &src);
	mc_imap_seqset_from_sorted(cmd->pool, c->dst, c->count, &dst);
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_printf(&b, "COPYUID %u ", c->uidvalidity);
	mc_imap_seqset_write(&src, &b);
	mc_buf_append_c(&b, ' ');
	mc_imap_seqset_write(&dst, &b);
	return mc_buf_cstr(&b);
}

/* MOVE: EXPUNGE (or VANISHED) for the moved messages the client knows,
 * which leave the session's list. */
static void report_moved(struct command *cmd, const struct mc_mailbox_copied *c)
{
	struct session *s = cmd->s;
	struct selected *sel = s->sel;
	uint32_t *known =
		mc_palloc_array(cmd->pool, c->count + 1, sizeof(*known));
	size_t n = 0;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	for (size_t i = c->count; i-- > 0;) {
		uint32_t seq = selected_seq(sel, c->src[i]);
		if (seq == 0)
			continue;
		n++;
		known[c->count - n] = c->src[i]; /* ascending at the end */
		if (!s->qresync)
			mc_buf_printf(&b, "* %u EXPUNGE\r\n", seq);
		memmove(&sel->uids[seq - 1], &sel->uids[seq],
			(sel->count - seq) * sizeof(*sel->uids));
		sel->count--;
	}
	if (s->qresync && n > 0) {
		struct mc_imap_seqset set;
		mc_imap_seqset_from_sorted(cmd->pool, known + c->count - n, n,
					   &set);
		mc_buf_append_str(&b, "* VANISHED ");
		mc_imap_seqset_write(&set, &b);
		mc_buf_append_str(&b, "\r\n");
	}
	session_write(s, b.data, b.len);
}

/* Loop: the answer to COPY / MOVE. */
static void copy_done(struct command *cmd, void *ctx)
{
	struct copy_job *j = ctx;
	if (j->r >= 0)
		train_copied(&j->owner, j->mailbox_id, &j->copied);
	if (cmd == NULL) {
		mc_pool_destroy(&j->pool);
		return;
	}
	if (j->r < 0 && j->err.cls == MC_ERR_NOTFOUND) {
		cmd_no(cmd, "TRYCREATE", "No such mailbox");
	} else if (j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (j->copied.count == 0) {
		cmd_ok(cmd, NULL,
		       j->move ? "No messages moved" : "No messages copied");
	} else if (!j->move) {
		cmd_ok(cmd, copyuid_code(cmd, &j->copied), "COPY completed");
	} else {
		session_printf(cmd->s, "* OK [%s] Moved\r\n",
			       copyuid_code(cmd, &j->copied));
		report_moved(cmd, &j->copied);
		cmd_ok(cmd, NULL, "MOVE completed");
	}
	mc_pool_destroy(&j->pool);
}

/* COPY / MOVE sequence-set SP mailbox */
static void run_copy(struct command *cmd, bool move)
{
	struct session *s = cmd->s;
	struct mc_imap_seqset uids;
	if (cmd->argc != 2) {
		cmd_bad(cmd, "Expected a sequence set and a mailbox");
		return;
	}
	if (!cmd_uid_set(cmd, &cmd->args[0], &uids))
		return;
	const char *to = cmd_mailbox_arg(cmd, &cmd->args[1]);
	if (to == NULL)
		return;
	if (move && s->sel->readonly) {
		cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
		return;
	}
	struct mc_pool *pool = mc_pool_create("imap-copy", 2048);
	struct copy_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct copy_job){.pool = pool,
			       .owner = s->owner,
			       .mailbox_id = s->sel->id,
			       .to = mc_pstrdup(pool, to),
			       .move = move};
	set_copy(pool, &uids, &j->uids);
	if (!cmd_job(cmd, copy_work, copy_done, j))
		mc_pool_destroy(&pool);
}

/* COPY, UID COPY */
static void cmd_copy(struct command *cmd)
{
	run_copy(cmd, false);
}

/* MOVE, UID MOVE */
static void cmd_move(struct command *cmd)
{
	run_copy(cmd, true);
}

const struct command_def store_command_defs[] = {
	{"STORE", IMAP_SELECTED, true, cmd_store, true},
	{"COPY", IMAP_SELECTED, true, cmd_copy, false},
	{"MOVE", IMAP_SELECTED, true, cmd_move, false},
	{NULL, 0, false, NULL, false},
};
