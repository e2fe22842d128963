/* cmd-append: APPEND (RFC 3501 6.3.11 / RFC 9051 6.3.12) with
 * MULTIAPPEND (RFC 3502: every message or none), literal8 (RFC 3516),
 * APPENDLIMIT (RFC 7889) and UIDPLUS's APPENDUID (RFC 4315). The message
 * literals stream into blobs through a chain of worker jobs, one at a
 * time (the loop collects bytes, a job writes and parses them), and the
 * parser pauses (cmd->busy) while the disk catches up; at the end one
 * transaction stores every message. Whatever fails on the way is
 * answered once the command's last byte is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapd.h"
#include "mailcore/mc-date.h"
#include "mailcore/mc-imap-write.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-store.h"

#define WRITE_BATCH  (64 * 1024)
#define BACKLOG	     (1024 * 1024)
#define KEYWORDS_MAX 128
#define KEYWORD_LEN  255
#define MESSAGES_MAX 1000 /* in one MULTIAPPEND */

/* One message of the command. */
struct amsg {
	struct mc_blob_writer *writer;
	struct mc_message *msg;
	unsigned flags;
	const char *keywords; /* a text[] literal, or NULL */
	time_t date;	      /* 0 = now */
	char hash[MC_BLOB_HASH_LEN + 1];
	bool durable;
};

/* What the next job does. */
enum step { STEP_OPEN, STEP_WRITE, STEP_FINISH, STEP_STORE };

/* The command's state: heap, so that it can outlive the command while a
 * job runs or its blobs are dropped on a worker. */
struct append {
	struct imapd *d;
	struct command *cmd; /* NULL once the command is over */
	struct mc_pool *pool;
	struct mc_mailbox_owner owner;
	const char *user, *name;
	struct mc_mailbox_info info; /* after STEP_OPEN */
	struct amsg *msgs;
	size_t count, cap;
	struct mc_buf pending;	/* loop side: bytes of the last message */
	struct mc_buf inflight; /* job side */
	enum step step;
	bool job;    /* a job runs: it owns msgs, inflight, jerr */
	bool ending; /* the last message's literal ended */
	bool gone;   /* the command is over: the job's completion frees */
	/* failures, answered at the end (the first one counts) */
	const char *bad;
	const char *no_code, *no_text; /* a NO (TRYCREATE, TOOBIG...) */
	uint64_t total;		       /* literal bytes announced */
	struct mc_error err, jerr;     /* jerr: set by jobs */
	int found;
	/* STEP_STORE */
	struct mc_store_local_result *results;
	bool committed;
};

static void submit(struct append *a, enum step step);

/* Worker (or loop): frees the state, dropping unfinished blobs. */
static void append_destroy(struct mc_worker *worker, void *ctx)
{
	struct append *a = ctx;
	(void)worker;
	for (size_t i = 0; i < a->count; i++) {
		mc_blob_writer_abort(&a->msgs[i].writer);
		mc_message_destroy(&a->msgs[i].msg);
	}
	free(a->msgs);
	free(a->results);
	mc_buf_free(&a->pending);
	mc_buf_free(&a->inflight);
	mc_pool_destroy(&a->pool);
	free(a);
}

/* Frees the state off the loop when a temp file must go. */
static void append_free(struct append *a)
{
	bool files = false;
	for (size_t i = 0; i < a->count; i++)
		files |= a->msgs[i].writer != NULL;
	struct mc_workers *w = mc_service_workers(a->d->service);
	struct mc_error err = {0};
	if (!files || w == NULL ||
	    mc_workers_submit(w, NULL, append_destroy, NULL, a, &err) < 0)
		append_destroy(NULL, a);
}

/* True once the rest of the command is only read and dropped. */
static bool discarding(const struct append *a)
{
	return a->bad != NULL || a->no_code != NULL ||
	       a->err.cls != MC_ERR_NONE;
}

/* Ends the command: detaches and frees the state, cmd stays. */
static void detach(struct command *cmd, struct append *a)
{
	cmd->ctx = NULL;
	cmd->receiving = cmd->busy = false;
	cmd->aborted = NULL;
	a->cmd = NULL;
	if (a->job)
		a->gone = true;
	else
		append_free(a);
}

/* Answers a failure found on the way (the command is over). */
static void answer_failure(struct command *cmd, struct append *a)
{
	const char *bad = a->bad;
	const char *no_code = a->no_code, *no_text = a->no_text;
	struct mc_error err = a->err;
	detach(cmd, a);
	if (bad != NULL)
		cmd_bad(cmd, bad);
	else if (no_code != NULL)
		cmd_no(cmd, no_code, no_text);
	else
		cmd_fail(cmd, &err);
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

/* The MC_STORE_FLAG_* bit of a system flag; 0 for \Recent or others. */
static unsigned system_flag(const char *s)
{
	static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged",
					    "\\Deleted", "\\Draft"};
	for (unsigned i = 0; i < 5; i++) {
		if (strcasecmp(s, names[i]) == 0)
			return 1u << i; /* MC_STORE_FLAG_* order */
	}
	return 0;
}

/* flag-list = "(" [flag *(SP flag)] ")": the flags and the keywords as
 * a text[] literal; false on a flag that cannot be stored. */
static bool parse_flag_list(struct append *a, const struct mc_imap_arg *l,
			    struct amsg *m)
{
	struct mc_buf kw;
	mc_buf_init(&kw, a->pool, 0);
	if (l->list_count > KEYWORDS_MAX)
		return false;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct mc_imap_arg *f = &l->list[i];
		if (f->type != MC_IMAP_ARG_ATOM)
			return false;
		if (f->str[0] == '\\') {
			unsigned bit = system_flag(f->str);
			if (bit == 0)
				return false;
			m->flags |= bit;
			continue;
		}
		if (!keyword_valid(f->str, f->len))
			return false;
		mc_buf_printf(&kw, "%s\"%s\"", kw.len > 0 ? "," : "{", f->str);
	}
	if (kw.len > 0) {
		mc_buf_append_c(&kw, '}');
		m->keywords = mc_buf_cstr(&kw);
	}
	return true;
}

/* append-opts = [SP flag-list] [SP date-time]: the arguments before a
 * message literal. False on anything else. */
static bool parse_opts(struct append *a, const struct mc_imap_arg *args,
		       size_t n, struct amsg *m)
{
	size_t i = 0;
	if (i < n && args[i].type == MC_IMAP_ARG_LIST) {
		if (!parse_flag_list(a, &args[i], m))
			return false;
		i++;
	}
	if (i < n && args[i].type == MC_IMAP_ARG_QUOTED) {
		if (!mc_date_parse_imap(args[i].str, &m->date, NULL))
			return false;
		i++;
	}
	return i == n;
}

/* A new message (the last one of the state). */
static struct amsg *add_message(struct append *a)
{
	if (a->count == a->cap) {
		a->cap = a->cap == 0 ? 4 : a->cap * 2;
		a->msgs = mc_realloc(a->msgs, a->cap * sizeof(*a->msgs));
	}
	struct amsg *m = &a->msgs[a->count++];
	*m = (struct amsg){.msg = mc_message_create(NULL)};
	return m;
}

/* Notes a NO to answer once the command is read. */
static void refuse(struct append *a, const char *code, const char *text)
{
	if (a->no_code == NULL) {
		a->no_code = code;
		a->no_text = text;
	}
}

/* Starts a message of size bytes with its options (the args before its
 * literal). */
static void begin_message(struct append *a, const struct mc_imap_arg *args,
			  size_t n, uint64_t size)
{
	if (discarding(a))
		return; /* the rest is read and dropped */
	struct amsg *m = add_message(a);
	a->total += size;
	if (!parse_opts(a, args, n, m))
		a->bad = "Invalid flags or date-time";
	else if (a->total > a->d->append_limit)
		refuse(a, "TOOBIG", "Messages too large together");
	else if (a->count > MESSAGES_MAX)
		refuse(a, "LIMIT", "Too many messages in one APPEND");
}

/* Worker: writes inflight into the last message's blob and parser; with
 * finish, makes the blob durable. */
static void write_step(struct append *a, bool finish)
{
	struct amsg *m = &a->msgs[a->count - 1];
	if (m->writer == NULL && !m->durable && a->jerr.cls == MC_ERR_NONE &&
	    (a->inflight.len > 0 || finish))
		m->writer = mc_blob_writer_create(a->d->blobs, &a->jerr);
	if (m->writer != NULL && a->inflight.len > 0) {
		if (mc_blob_writer_write(m->writer, a->inflight.data,
					 a->inflight.len, &a->jerr) == 0)
			mc_message_feed(m->msg, a->inflight.data,
					a->inflight.len);
	}
	mc_buf_clear(&a->inflight);
	if (finish && m->writer != NULL && a->jerr.cls == MC_ERR_NONE &&
	    mc_blob_writer_finish(&m->writer, m->hash, &a->jerr) == 0) {
		m->durable = true;
		mc_message_finish(m->msg);
	}
}

/* Worker: every message in one transaction, then the "new" notices. */
static void store_step(struct mc_worker *worker, struct append *a)
{
	struct mc_store_local *l = mc_calloc(a->count, sizeof(*l));
	struct mc_store_delivery *d = mc_calloc(a->count, sizeof(*d));
	for (size_t i = 0; i < a->count; i++) {
		const struct amsg *m = &a->msgs[i];
		l[i] = (struct mc_store_local){.tenant_id = a->owner.tenant_id,
					       .user_id = a->owner.user_id,
					       .domain_id = a->owner.domain_id,
					       .address = a->user,
					       .mailbox = a->info.name,
					       .flags = m->flags,
					       .keywords = m->keywords};
		d[i] = (struct mc_store_delivery){
			.sha256 = m->hash,
			.info = mc_message_finish(m->msg),
			.internal_date = m->date,
			.local = &l[i],
			.local_count = 1};
	}
	if (mc_store_deliver_many(mc_service_worker_pg(worker), d, a->count,
				  a->results, &a->committed, &a->jerr) == 0 &&
	    a->committed) {
		for (size_t i = 0; i < a->count; i++)
			mc_store_notify(mc_service_worker_redis(worker), &d[i],
					&a->results[i]);
	}
	free(l);
	free(d);
}

/* Worker: the mailbox (the default ones are made on first use, as a
 * delivery would). */
static void open_step(struct mc_worker *worker, struct append *a)
{
	struct mc_pg *pg = mc_service_worker_pg(worker);
	a->found = mc_mailbox_get(pg, a->pool, &a->owner, a->name, &a->info,
				  &a->jerr);
	if (a->found != 0)
		return;
	if (mc_store_create_default_mailboxes(pg, a->owner.tenant_id,
					      a->owner.user_id, &a->jerr) < 0)
		a->found = -1;
	else
		a->found = mc_mailbox_get(pg, a->pool, &a->owner, a->name,
					  &a->info, &a->jerr);
}

/* mc_job_fn: the step that was due. */
static void append_work(struct mc_worker *worker, void *ctx)
{
	struct append *a = ctx;
	switch (a->step) {
	case STEP_OPEN:
		open_step(worker, a);
		break;
	case STEP_WRITE:
	case STEP_FINISH:
		write_step(a, a->step == STEP_FINISH);
		break;
	case STEP_STORE:
		store_step(worker, a);
		break;
	}
}

/* Starts a write job when enough bytes wait and none runs. */
static void kick(struct append *a)
{
	if (a->job || discarding(a))
		return;
	if (a->ending)
		submit(a, STEP_FINISH);
	else if (a->pending.len >= WRITE_BATCH)
		submit(a, STEP_WRITE);
}

/* "APPENDUID uidvalidity uid-set" of the stored messages. */
static const char *appenduid_code(struct command *cmd, struct append *a)
{
	uint32_t *uids = mc_palloc_array(cmd->pool, a->count, sizeof(*uids));
	for (size_t i = 0; i < a->count; i++)
		uids[i] = (uint32_t)a->results[i].uid;
	struct mc_imap_seqset set;
	mc_imap_seqset_from_sorted(cmd->pool, uids, a->count, &set);
	struct mc_buf b;
	mc_buf_init(&b, cmd->pool, 0);
	mc_buf_printf(&b, "APPENDUID %u ", a->info.uidvalidity);
	mc_imap_seqset_write(&set, &b);
	return mc_buf_cstr(&b);
}

/* The tagged OK, after the sync that reported EXISTS. */
static void append_ok(struct command *cmd)
{
	cmd_ok(cmd, cmd->ctx, "APPEND completed");
}

/* Loop: the answer once the store transaction ran. */
static void stored(struct command *cmd, struct append *a)
{
	bool quota = false;
	for (size_t i = 0; i < a->count; i++)
		quota |= a->results[i].status == MC_STORE_OVER_QUOTA ||
			 a->results[i].status == MC_STORE_OVER_DOMAIN_QUOTA;
	if (a->err.cls != MC_ERR_NONE || !a->committed) {
		if (a->err.cls == MC_ERR_NONE)
			mc_error_set(&a->err,
				     quota ? MC_ERR_PERMANENT
					   : MC_ERR_TEMPORARY,
				     "%s", quota ? "over quota" : "not stored");
		answer_failure(cmd, a);
		return;
	}
	const char *code = appenduid_code(cmd, a);
	struct selected *sel = cmd->s->sel;
	bool here = sel != NULL && sel->id == a->info.id;
	detach(cmd, a);
	cmd->ctx = (void *)code;
	if (here) {
		sel->dirty = true;
		sync_then(cmd, true, append_ok);
	} else {
		append_ok(cmd);
	}
}

/* Loop: the mailbox lookup came back. */
static void opened(struct append *a)
{
	if (a->found == 0)
		refuse(a, "TRYCREATE", "No such mailbox");
	else if (a->found < 0 && a->err.cls == MC_ERR_NONE)
		mc_error_set(&a->err, MC_ERR_TEMPORARY, "mailbox lookup");
}

/* mc_owner_done_fn: a step is done; the next one, or reading resumes. */
static void append_done(struct mc_job_owner *owner, void *ctx)
{
	struct append *a = ctx;
	a->job = false;
	if (owner == NULL || a->gone) {
		append_free(a);
		return;
	}
	struct command *cmd = a->cmd;
	if (a->jerr.cls != MC_ERR_NONE && a->err.cls == MC_ERR_NONE)
		a->err = a->jerr;
	if (a->step == STEP_STORE) {
		stored(cmd, a);
		return;
	}
	if (a->step == STEP_OPEN)
		opened(a);
	if (a->step == STEP_FINISH)
		a->ending = false;
	kick(a);
	cmd->busy = a->job && (a->ending || a->pending.len >= BACKLOG);
	if (!cmd->busy)
		session_pump(cmd->s);
}

/* Hands the pending bytes to a job for step. */
static void submit(struct append *a, enum step step)
{
	struct mc_buf tmp = a->inflight;
	a->inflight = a->pending;
	a->pending = tmp;
	mc_buf_clear(&a->pending);
	a->step = step;
	a->job = true;
	if (mc_job_owner_submit(&a->cmd->s->jobs, append_work, append_done, a))
		return;
	a->job = false;
	mc_buf_clear(&a->inflight);
	mc_error_set(&a->err, MC_ERR_TEMPORARY, "worker pool full");
}

/* Event: bytes of the current message. */
static void append_data(struct command *cmd, const void *data, size_t len)
{
	struct append *a = cmd->ctx;
	if (discarding(a))
		return;
	mc_buf_append(&a->pending, data, len);
	kick(a);
	if (a->job && a->pending.len >= BACKLOG)
		cmd->busy = true; /* the disk catches up first */
}

/* Event: the current message's literal ended; its blob is finished
 * before anything else is read. */
static void append_literal_end(struct command *cmd)
{
	struct append *a = cmd->ctx;
	if (discarding(a))
		return;
	a->ending = true;
	kick(a);
	cmd->busy = a->job;
	if (!a->job)
		a->ending = false; /* could not submit: a->err is set */
}

/* Event: the next message of a MULTIAPPEND begins. */
static void append_literal_begin(struct command *cmd,
				 const struct mc_imap_event *ev)
{
	begin_message(cmd->ctx, ev->args, ev->args_count, ev->literal_size);
}

/* Event: the command line ended after the last message. */
static void append_finished(struct command *cmd, const struct mc_imap_event *ev)
{
	struct append *a = cmd->ctx;
	cmd->receiving = false;
	if (ev->args_count > 0 && !discarding(a))
		a->bad = "Expected a message literal";
	if (discarding(a)) {
		answer_failure(cmd, a);
		return;
	}
	a->results = mc_calloc(a->count, sizeof(*a->results));
	submit(a, STEP_STORE);
	if (!a->job)
		answer_failure(cmd, a);
}

/* Event: a parse error inside the command (answered now), or the client
 * left (ev NULL). */
static void append_aborted(struct command *cmd, const struct mc_imap_event *ev)
{
	struct append *a = cmd->ctx;
	detach(cmd, a);
	if (ev == NULL)
		return;
	if (ev->type == MC_IMAP_EV_TOOBIG)
		cmd_no(cmd, "TOOBIG", ev->text);
	else
		cmd_bad(cmd, ev->text);
}

/* The mailbox argument decoded to UTF-8 (as cmd_mailbox_arg, without
 * answering: the literal is still to be read); NULL if invalid. */
static const char *mailbox_name(struct command *cmd,
				const struct mc_imap_arg *a)
{
	const char *s;
	size_t len;
	if (!mc_imap_arg_string(a, &s, &len) || len == 0 || strlen(s) != len)
		return NULL;
	if (cmd->s->utf8)
		return s;
	struct mc_buf out;
	mc_buf_init(&out, cmd->pool, MC_MAILBOX_NAME_MAX * 2);
	return mc_imap_utf7_decode(s, &out) ? mc_buf_cstr(&out) : NULL;
}

/* The state of a new APPEND. */
static struct append *append_new(struct command *cmd)
{
	struct session *s = cmd->s;
	struct append *a = mc_calloc(1, sizeof(*a));
	a->d = s->d;
	a->cmd = cmd;
	a->pool = mc_pool_create("imap-append", 2048);
	a->owner = s->owner;
	a->user = mc_pstrdup(a->pool, s->user);
	mc_buf_init(&a->pending, NULL, 0);
	mc_buf_init(&a->inflight, NULL, 0);
	return a;
}

/* append = "APPEND" SP mailbox 1*append-message (RFC 3502)
 * append-message = append-opts SP append-data
 * append-opts = [SP flag-list] [SP date-time]
 * append-data = literal / literal8 (RFC 3516 "~{n}") */
static void cmd_append(struct command *cmd)
{
	if (cmd->literal == NULL) {
		cmd_bad(cmd, "Expected a mailbox and a message literal");
		return;
	}
	struct append *a = append_new(cmd);
	cmd->ctx = a;
	cmd->receiving = true;
	cmd->literal_begin = append_literal_begin;
	cmd->literal_data = append_data;
	cmd->literal_end = append_literal_end;
	cmd->finished = append_finished;
	cmd->aborted = append_aborted;
	const char *name =
		cmd->argc > 0 ? mailbox_name(cmd, &cmd->args[0]) : NULL;
	if (name == NULL)
		a->bad = "Expected a mailbox name";
	else
		a->name = mc_pstrdup(a->pool, name);
	begin_message(a, cmd->args + 1, cmd->argc > 0 ? cmd->argc - 1 : 0,
		      cmd->literal->literal_size);
	if (discarding(a))
		return;
	submit(a, STEP_OPEN);
	cmd->busy = a->job;
}

const struct command_def append_command_defs[] = {
	{"APPEND", IMAP_AUTH | IMAP_SELECTED, false, cmd_append, false},
	{NULL, 0, false, NULL, false},
};
