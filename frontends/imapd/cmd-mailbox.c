/* cmd-mailbox: the mailbox list and its changes: LIST (with
 * LIST-EXTENDED selection and return options, CHILDREN, SPECIAL-USE and
 * LIST-STATUS), LSUB, STATUS (with SIZE, DELETED, HIGHESTMODSEQ),
 * NAMESPACE, CREATE (with USE, RFC 6154), DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, and QUOTA's GETQUOTA / GETQUOTAROOT (RFC 9208). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "mailcore/mc-imap-write.h"

#define ROOT_USER   "User quota"
#define ROOT_DOMAIN "Domain quota"

/* STATUS items as bits. */
enum {
	ST_MESSAGES = 1 << 0,
	ST_UIDNEXT = 1 << 1,
	ST_UIDVALIDITY = 1 << 2,
	ST_UNSEEN = 1 << 3,
	ST_RECENT = 1 << 4,
	ST_SIZE = 1 << 5,
	ST_HIGHESTMODSEQ = 1 << 6,
	ST_DELETED = 1 << 7,
};

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{"MESSAGES", ST_MESSAGES},
	{"UIDNEXT", ST_UIDNEXT},
	{"UIDVALIDITY", ST_UIDVALIDITY},
	{"UNSEEN", ST_UNSEEN},
	{"RECENT", ST_RECENT},
	{"SIZE", ST_SIZE},
	{"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
	{"DELETED", ST_DELETED},
};

/* Parses a STATUS item list; 0 when one is unknown or it is empty. */
static unsigned status_bits(const struct mc_imap_arg *list)
{
	unsigned bits = 0;
	if (list->type != MC_IMAP_ARG_LIST || list->list_count == 0)
		return 0;
	for (size_t i = 0; i < list->list_count; i++) {
		unsigned bit = 0;
		for (size_t k = 0;
		     k < sizeof(status_items) / sizeof(*status_items); k++) {
			if (mc_imap_arg_is(&list->list[i],
					   status_items[k].name))
				bit = status_items[k].bit;
		}
		if (bit == 0)
			return 0;
		bits |= bit;
	}
	return bits;
}

/* Appends "* STATUS name (ITEM n ...)". */
static void write_status(struct command *cmd, struct mc_buf *b,
			 const struct mc_mailbox_info *m, unsigned bits)
{
	const char *sep = "";
	mc_buf_append_str(b, "* STATUS ");
	cmd_write_mailbox(cmd, b, m->name);
	mc_buf_append_str(b, " (");
#define ITEM(bit, name, fmt, v)                                                \
	if (bits & (bit)) {                                                    \
		mc_buf_printf(b, "%s" name " " fmt, sep, v);                   \
		sep = " ";                                                     \
	}
	ITEM(ST_MESSAGES, "MESSAGES", "%u", m->messages);
	ITEM(ST_UIDNEXT, "UIDNEXT", "%u", m->uidnext);
	ITEM(ST_UIDVALIDITY, "UIDVALIDITY", "%u", m->uidvalidity);
	ITEM(ST_UNSEEN, "UNSEEN", "%u", m->unseen);
	ITEM(ST_RECENT, "RECENT", "%u", 0u);
	ITEM(ST_SIZE, "SIZE", "%llu", (unsigned long long)m->size);
	ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ", "%llu",
	     (unsigned long long)m->highestmodseq);
	ITEM(ST_DELETED, "DELETED", "%u", m->deleted);
#undef ITEM
	mc_buf_append_str(b, ")\r\n");
}

/* True when name matches the LIST pattern ('*' any, '%' any but '/'). */
static bool pattern_match(const char *p, const char *name)
{
	for (; *p != '\0'; p++, name++) {
		if (*p == '*' || *p == '%') {
			for (const char *n = name;; n++) {
				if (pattern_match(p + 1, n))
					return true;
				if (*n == '\0' ||
				    (*p == '%' && *n == MC_MAILBOX_SEP))
					return false;
			}
		}
		if (*name == '\0' || *p != *name)
			return false;
	}
	return *name == '\0';
}

/* What LIST was asked for. */
struct list_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	const char **patterns;
	size_t pattern_count;
	bool subscribed_only, special_only, lsub;
	bool ret_subscribed, ret_children, ret_special;
	unsigned status;
	struct mc_mailbox_info *list;
	size_t count;
	int r;
	struct mc_error err;
};

/* Worker: every mailbox of the user. */
static void list_work(struct mc_worker *worker, void *ctx)
{
	struct list_job *j = ctx;
	j->r = mc_mailbox_list(mc_service_worker_pg(worker), j->pool, &j->owner,
			       &j->list, &j->count, &j->err);
}

/* True when some mailbox is below name. */
static bool has_children(const struct list_job *j, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < j->count; i++) {
		if (strncmp(j->list[i].name, name, len) == 0 &&
		    j->list[i].name[len] == MC_MAILBOX_SEP)
			return true;
	}
	return false;
}

/* True when name matches one of the patterns. */
static bool matches(const struct list_job *j, const char *name)
{
	for (size_t i = 0; i < j->pattern_count; i++) {
		if (pattern_match(j->patterns[i], name))
			return true;
	}
	return false;
}

/* Appends one LIST (or LSUB) line, and STATUS when asked. */
static void write_list(struct command *cmd, struct list_job *j,
		       struct mc_buf *b, const struct mc_mailbox_info *m)
{
	const char *sep = "";
	mc_buf_printf(b, "* %s (", j->lsub ? "LSUB" : "LIST");
	bool kids = has_children(j, m->name);
	if (!j->lsub) {
		mc_buf_printf(b, "%s",
			      kids ? "\\HasChildren" : "\\HasNoChildren");
		sep = " ";
	}
	if (m->special_use != NULL && !j->lsub) {
		mc_buf_printf(b, "%s%s", sep, m->special_use);
		sep = " ";
	}
	if (m->subscribed && (j->ret_subscribed || j->subscribed_only) &&
	    !j->lsub)
		mc_buf_printf(b, "%s\\Subscribed", sep);
	mc_buf_append_str(b, ") \"/\" ");
	cmd_write_mailbox(cmd, b, m->name);
	mc_buf_append_str(b, "\r\n");
	if (j->status != 0)
		write_status(cmd, b, m, j->status);
}

/* Loop: the LIST responses. */
static void list_done(struct command *cmd, void *ctx)
{
	struct list_job *j = ctx;
	if (cmd != NULL && j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (cmd != NULL) {
		struct mc_buf b;
		mc_buf_init(&b, cmd->pool, 0);
		for (size_t i = 0; i < j->count; i++) {
			const struct mc_mailbox_info *m = &j->list[i];
			if (!matches(j, m->name) ||
			    ((j->subscribed_only || j->lsub) &&
			     !m->subscribed) ||
			    (j->special_only && m->special_use == NULL))
				continue;
			write_list(cmd, j, &b, m);
		}
		session_write(cmd->s, b.data, b.len);
		cmd_ok(cmd, NULL,
		       j->lsub ? "LSUB completed" : "LIST completed");
	}
	mc_pool_destroy(&j->pool);
}

/* Decodes a LIST pattern (mUTF-7 unless UTF-8) with the reference. */
static const char *list_pattern(struct command *cmd, const char *ref,
				const struct mc_imap_arg *a)
{
	const char *p;
	size_t len;
	if (!mc_imap_arg_string(a, &p, &len))
		return NULL;
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_append_str(&b, ref);
	if (cmd->s->utf8)
		mc_buf_append_str(&b, p);
	else if (!mc_imap_utf7_decode(p, &b))
		return NULL;
	char *pat = b.data != NULL ? b.data : mc_pstrdup(cmd->pool, "");
	/* INBOX matches in any case (RFC 3501 5.1) */
	if (strncasecmp(pat, "INBOX", 5) == 0 &&
	    (pat[5] == '\0' || pat[5] == MC_MAILBOX_SEP))
		memcpy(pat, "INBOX", 5);
	return pat;
}

/* Reads "(SUBSCRIBED SPECIAL-USE ...)" selection options. */
static bool selection(struct list_job *j, const struct mc_imap_arg *l)
{
	for (size_t i = 0; i < l->list_count; i++) {
		if (mc_imap_arg_is(&l->list[i], "SUBSCRIBED"))
			j->subscribed_only = true;
		else if (mc_imap_arg_is(&l->list[i], "SPECIAL-USE"))
			j->special_only = true;
		else if (!mc_imap_arg_is(&l->list[i], "REMOTE") &&
			 !mc_imap_arg_is(&l->list[i], "RECURSIVEMATCH"))
			return false;
	}
	return true;
}

/* Reads "RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS (...))". */
static bool return_options(struct list_job *j, const struct mc_imap_arg *l)
{
	for (size_t i = 0; i < l->list_count; i++) {
		const struct mc_imap_arg *o = &l->list[i];
		if (mc_imap_arg_is(o, "SUBSCRIBED"))
			j->ret_subscribed = true;
		else if (mc_imap_arg_is(o, "CHILDREN"))
			j->ret_children = true;
		else if (mc_imap_arg_is(o, "SPECIAL-USE"))
			j->ret_special = true;
		else if (mc_imap_arg_is(o, "STATUS") && i + 1 < l->list_count &&
			 (j->status = status_bits(&l->list[++i])) != 0)
			continue;
		else
			return false;
	}
	return true;
}

/* Reads one pattern or a list of patterns into j. */
static bool patterns(struct command *cmd, struct list_job *j, const char *ref,
		     const struct mc_imap_arg *a)
{
	size_t n = a->type == MC_IMAP_ARG_LIST ? a->list_count : 1;
	j->patterns = mc_palloc_array(j->pool, n + 1, sizeof(*j->patterns));
	for (size_t i = 0; i < n; i++) {
		const struct mc_imap_arg *p =
			a->type == MC_IMAP_ARG_LIST ? &a->list[i] : a;
		if ((j->patterns[i] = list_pattern(cmd, ref, p)) == NULL)
			return false;
		j->patterns[i] = mc_pstrdup(j->pool, j->patterns[i]);
	}
	j->pattern_count = n;
	return n > 0;
}

/* LIST [(selection)] reference pattern(s) [RETURN (options)] */
static void run_list(struct command *cmd, bool lsub)
{
	size_t i = 0;
	struct mc_pool *pool = mc_pool_create("imap-list", 4096);
	struct list_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct list_job){
		.pool = pool, .owner = cmd->s->owner, .lsub = lsub};
	const char *ref;
	size_t len;
	bool ok = true;
	if (!lsub && i < cmd->argc && cmd->args[i].type == MC_IMAP_ARG_LIST)
		ok = selection(j, &cmd->args[i++]);
	ok = ok && i + 2 <= cmd->argc &&
	     mc_imap_arg_string(&cmd->args[i], &ref, &len) &&
	     patterns(cmd, j, ref, &cmd->args[i + 1]);
	i += 2;
	if (ok && !lsub && i + 2 == cmd->argc &&
	    mc_imap_arg_is(&cmd->args[i], "RETURN") &&
	    cmd->args[i + 1].type == MC_IMAP_ARG_LIST)
		ok = return_options(j, &cmd->args[i + 1]), i += 2;
	if (!ok || i != cmd->argc) {
		mc_pool_destroy(&pool);
		cmd_bad(cmd, "Invalid LIST arguments");
		return;
	}
	if (j->pattern_count == 1 && j->patterns[0][0] == '\0' &&
	    !lsub) { /* LIST "" "": the hierarchy delimiter */
		mc_pool_destroy(&pool);
		session_puts(cmd->s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		cmd_ok(cmd, NULL, "LIST completed");
		return;
	}
	if (!cmd_job(cmd, list_work, list_done, j))
		mc_pool_destroy(&pool);
}

static void cmd_list(struct command *cmd)
{
	run_list(cmd, false);
}

static void cmd_lsub(struct command *cmd)
{
	run_list(cmd, true);
}

/* NAMESPACE: one personal namespace, "/" separated, no prefix. */
static void cmd_namespace(struct command *cmd)
{
	session_puts(cmd->s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	cmd_ok(cmd, NULL, "NAMESPACE completed");
}

/* A mailbox operation on a worker. */
struct mbox_job {
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	const char *name, *to, *special_use;
	unsigned status;
	int (*op)(struct mbox_job *j, struct mc_pg *pg);
	const char *done_text;
	struct mc_mailbox_info info;
	int r;
	struct mc_error err;
};

/* Worker: runs j->op. */
static void mbox_work(struct mc_worker *worker, void *ctx)
{
	struct mbox_job *j = ctx;
	j->r = j->op(j, mc_service_worker_pg(worker));
}

/* Loop: the answer. */
static void mbox_done(struct command *cmd, void *ctx)
{
	struct mbox_job *j = ctx;
	if (cmd != NULL && j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (cmd != NULL) {
		if (j->status != 0) {
			struct mc_buf b;
			mc_buf_init(&b, cmd->pool, 0);
			write_status(cmd, &b, &j->info, j->status);
			session_write(cmd->s, b.data, b.len);
		}
		cmd_ok(cmd, NULL, j->done_text);
	}
	mc_pool_destroy(&j->pool);
}

static int op_create(struct mbox_job *j, struct mc_pg *pg)
{
	return mc_mailbox_create(pg, &j->owner, j->name, j->special_use,
				 &j->err);
}

static int op_delete(struct mbox_job *j, struct mc_pg *pg)
{
	return mc_mailbox_delete(pg, &j->owner, j->name, &j->err);
}

static int op_rename(struct mbox_job *j, struct mc_pg *pg)
{
	return mc_mailbox_rename(pg, &j->owner, j->name, j->to, &j->err);
}

static int op_subscribe(struct mbox_job *j, struct mc_pg *pg)
{
	return mc_mailbox_subscribe(pg, &j->owner, j->name, true, &j->err);
}

static int op_unsubscribe(struct mbox_job *j, struct mc_pg *pg)
{
	return mc_mailbox_subscribe(pg, &j->owner, j->name, false, &j->err);
}

static int op_status(struct mbox_job *j, struct mc_pg *pg)
{
	int r = mc_mailbox_get(pg, j->pool, &j->owner, j->name, &j->info,
			       &j->err);
	if (r == 0)
		mc_error_set(&j->err, MC_ERR_NOTFOUND, "no such mailbox");
	return r > 0 ? 0 : -1;
}

/* Starts a mailbox job on the name in args[0] (and args[1] for RENAME),
 * with a special use (CREATE) or STATUS items. */
static void start_mbox(struct command *cmd, size_t nargs,
		       int (*op)(struct mbox_job *, struct mc_pg *),
		       const char *done, const char *special_use,
		       unsigned status)
{
	if (cmd->argc < nargs) {
		cmd_bad(cmd, "Missing arguments");
		return;
	}
	const char *name = cmd_mailbox_arg(cmd, &cmd->args[0]);
	const char *to = name != NULL && nargs == 2
				 ? cmd_mailbox_arg(cmd, &cmd->args[1])
				 : NULL;
	if (name == NULL || (nargs == 2 && to == NULL))
		return;
	struct mc_pool *pool = mc_pool_create("imap-mbox", 2048);
	struct mbox_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct mbox_job){.pool = pool,
			       .owner = cmd->s->owner,
			       .name = mc_pstrdup(pool, name),
			       .to = to != NULL ? mc_pstrdup(pool, to) : NULL,
			       .op = op,
			       .done_text = done,
			       .special_use = special_use,
			       .status = status};
	if (!cmd_job(cmd, mbox_work, mbox_done, j))
		mc_pool_destroy(&pool);
}

/* The special-use attribute of "(USE (\Sent))", or NULL. */
static const char *create_use(const struct mc_imap_arg *a, bool *bad_r)
{
	static const char *const uses[] = {"\\Drafts", "\\Sent",    "\\Trash",
					   "\\Junk",   "\\Archive", "\\All",
					   "\\Flagged"};
	*bad_r = true;
	if (a->type != MC_IMAP_ARG_LIST || a->list_count != 2 ||
	    !mc_imap_arg_is(&a->list[0], "USE") ||
	    a->list[1].type != MC_IMAP_ARG_LIST || a->list[1].list_count != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		if (mc_imap_arg_is(&a->list[1].list[0], uses[i])) {
			*bad_r = false;
			return uses[i];
		}
	}
	return NULL;
}

/* CREATE mailbox [(USE (\Special))] */
static void cmd_create(struct command *cmd)
{
	const char *use = NULL;
	bool bad = false;
	if (cmd->argc == 2)
		use = create_use(&cmd->args[1], &bad);
	if (bad || cmd->argc < 1 || cmd->argc > 2) {
		cmd_bad(cmd, cmd->argc == 2 ? "Unknown USE attribute"
					    : "Expected CREATE mailbox");
		return;
	}
	start_mbox(cmd, 1, op_create, "CREATE completed", use, 0);
}

static void cmd_delete(struct command *cmd)
{
	start_mbox(cmd, 1, op_delete, "DELETE completed", NULL, 0);
}

static void cmd_rename(struct command *cmd)
{
	start_mbox(cmd, 2, op_rename, "RENAME completed", NULL, 0);
}

static void cmd_subscribe(struct command *cmd)
{
	start_mbox(cmd, 1, op_subscribe, "SUBSCRIBE completed", NULL, 0);
}

static void cmd_unsubscribe(struct command *cmd)
{
	start_mbox(cmd, 1, op_unsubscribe, "UNSUBSCRIBE completed", NULL, 0);
}

/* STATUS mailbox (items) */
static void cmd_status(struct command *cmd)
{
	unsigned bits = cmd->argc == 2 ? status_bits(&cmd->args[1]) : 0;
	if (bits == 0) {
		cmd_bad(cmd, "Expected STATUS mailbox (items)");
		return;
	}
	start_mbox(cmd, 1, op_status, "STATUS completed", NULL, bits);
}

/* A quota question on a worker. */
struct quota_job {
	struct mc_mailbox_owner owner;
	const char *root, *mailbox; /* GETQUOTA root / GETQUOTAROOT box */
	struct mc_mailbox_quota q;
	int r;
	struct mc_error err;
	struct mc_pool *pool;
};

static void quota_work(struct mc_worker *worker, void *ctx)
{
	struct quota_job *j = ctx;
	j->r = mc_mailbox_quota(mc_service_worker_pg(worker), &j->owner, &j->q,
				&j->err);
}

/* Appends "* QUOTA root (STORAGE used limit)" in KiB. */
static void write_quota(struct mc_buf *b, const char *root, uint64_t used,
			uint64_t limit)
{
	mc_buf_printf(b, "* QUOTA \"%s\" (STORAGE %llu %llu)\r\n", root,
		      (unsigned long long)(used + 1023) / 1024,
		      (unsigned long long)limit / 1024);
}

/* Loop: QUOTAROOT and QUOTA responses. */
static void quota_done(struct command *cmd, void *ctx)
{
	struct quota_job *j = ctx;
	if (cmd != NULL && j->r < 0) {
		cmd_fail(cmd, &j->err);
	} else if (cmd != NULL) {
		struct mc_buf b;
		mc_buf_init(&b, cmd->pool, 0);
		bool user = j->q.limit > 0, dom = j->q.domain_limit > 0;
		if (j->mailbox != NULL) {
			mc_buf_append_str(&b, "* QUOTAROOT ");
			cmd_write_mailbox(cmd, &b, j->mailbox);
			mc_buf_printf(&b, "%s%s\r\n",
				      user ? " \"" ROOT_USER "\"" : "",
				      dom ? " \"" ROOT_DOMAIN "\"" : "");
		}
		bool want_user =
			j->root == NULL || strcmp(j->root, ROOT_USER) == 0;
		bool want_dom =
			j->root == NULL || strcmp(j->root, ROOT_DOMAIN) == 0;
		if (user && want_user)
			write_quota(&b, ROOT_USER, j->q.used, j->q.limit);
		if (dom && want_dom)
			write_quota(&b, ROOT_DOMAIN, j->q.domain_used,
				    j->q.domain_limit);
		session_write(cmd->s, b.data, b.len);
		if (j->root != NULL &&
		    !((user && want_user) || (dom && want_dom)))
			cmd_no(cmd, "NONEXISTENT", "No such quota root");
		else
			cmd_ok(cmd, NULL, "GETQUOTA completed");
	}
	mc_pool_destroy(&j->pool);
}

/* GETQUOTA root / GETQUOTAROOT mailbox */
static void run_quota(struct command *cmd, bool root)
{
	const char *arg;
	size_t len;
	if (cmd->argc != 1 || !mc_imap_arg_string(&cmd->args[0], &arg, &len)) {
		cmd_bad(cmd, "Expected one argument");
		return;
	}
	const char *mailbox = root ? NULL : cmd_mailbox_arg(cmd, &cmd->args[0]);
	if (!root && mailbox == NULL)
		return;
	struct mc_pool *pool = mc_pool_create("imap-quota", 1024);
	struct quota_job *j = mc_palloc(pool, sizeof(*j));
	*j = (struct quota_job){
		.owner = cmd->s->owner,
		.pool = pool,
		.root = root ? mc_pstrdup(pool, arg) : NULL,
		.mailbox = mailbox != NULL ? mc_pstrdup(pool, mailbox) : NULL};
	if (!cmd_job(cmd, quota_work, quota_done, j))
		mc_pool_destroy(&pool);
}

static void cmd_getquota(struct command *cmd)
{
	run_quota(cmd, true);
}

static void cmd_getquotaroot(struct command *cmd)
{
	run_quota(cmd, false);
}

#define AUTH_OR_SELECTED (IMAP_AUTH | IMAP_SELECTED)
const struct command_def mailbox_command_defs[] = {
	{"LIST", AUTH_OR_SELECTED, false, cmd_list, false},
	{"LSUB", AUTH_OR_SELECTED, false, cmd_lsub, false},
	{"NAMESPACE", AUTH_OR_SELECTED, false, cmd_namespace, false},
	{"STATUS", AUTH_OR_SELECTED, false, cmd_status, false},
	{"CREATE", AUTH_OR_SELECTED, false, cmd_create, false},
	{"DELETE", AUTH_OR_SELECTED, false, cmd_delete, false},
	{"RENAME", AUTH_OR_SELECTED, false, cmd_rename, false},
	{"SUBSCRIBE", AUTH_OR_SELECTED, false, cmd_subscribe, false},
	{"UNSUBSCRIBE", AUTH_OR_SELECTED, false, cmd_unsubscribe, false},
	{"GETQUOTA", AUTH_OR_SELECTED, false, cmd_getquota, false},
	{"GETQUOTAROOT", AUTH_OR_SELECTED, false, cmd_getquotaroot, false},
	{NULL, 0, false, NULL, false},
};
