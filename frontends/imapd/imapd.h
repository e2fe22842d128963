/* imapd: what the files of mc-imapd share. main.c sets the daemon up,
 * session.c runs a connection (bufferevents, TLS, COMPRESS, timeouts,
 * the mc-imap-parser events, one command at a time), sync.c keeps a
 * selected mailbox in step with the store (EXISTS, EXPUNGE/VANISHED,
 * FETCH FLAGS) and notify.c carries change notices from Redis to the
 * sessions. One file per command group (cmd-*.c) fills the table of
 * commands.c. */
#ifndef IMAPD_H
#define IMAPD_H

#include <stdbool.h>
#include <stdint.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-blob.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-imap-parser.h"
#include "mailcore/mc-imap-seqset.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-mailbox.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-server.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-workers.h"

struct session;
struct command;

/* The daemon, shared by every loop (read-only after start). */
struct imapd {
	struct mc_service *service;
	SSL_CTX *tls;
	struct mc_blob_store *blobs;
	const char *hostname;
	struct mc_imap_parser_settings parser;
	unsigned idle_timeout_ms, login_timeout_ms;
	unsigned max_sessions_per_user;
	uint64_t append_limit;
	struct mc_cidr plain_auth_nets[MC_ADDR_NETS_MAX];
	size_t plain_auth_nets_count;
	bool proxy, proxy_tls; /* proxy mode ([imapd] proxy) */
	/* proxies whose x-originating-ip (ID) is believed */
	struct mc_cidr proxy_nets[MC_ADDR_NETS_MAX];
	size_t proxy_nets_count;
	struct mc_login_throttle throttle;
	struct mc_policy_settings policy; /* server defaults ([policy]) */
};

enum imap_state {
	IMAP_NOT_AUTH = 0x1,
	IMAP_AUTH = 0x2,
	IMAP_SELECTED = 0x4,
	IMAP_LOGOUT = 0x8,
};

/* The mailbox a session has selected, as the client last saw it. */
struct selected {
	int64_t id;
	char *name; /* heap */
	bool readonly;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq; /* what the client was told */
	uint32_t *uids;		/* heap: uids[seq - 1], ascending */
	size_t count, cap;
	struct mc_imap_seqset searchres; /* "$" (SEARCHRES), heap ranges */
	bool dirty; /* a notice came: sync at the next chance */
};

/* One client connection. */
struct session {
	struct mc_job_owner jobs; /* the connection + each job in flight */
	struct imapd *d;
	struct mc_loop *loop;
	struct mc_conn *conn; /* NULL once the connection is over */
	struct mc_imap_parser *parser;
	struct mc_log_ctx log;
	char id[17];
	struct proxy *proxy;	     /* proxy.c: the backend, when relayed */
	struct session *notify_next; /* notify.c's list of the user */
	bool registered;	     /* on that list */
	struct mc_sockaddr remote;
	char ip[MC_ADDR_STR_MAX];
	bool tls, starting_tls, stopping;
	bool pumping; /* session_pump is running (no recursion) */
	enum imap_state state;
	/* after login */
	struct mc_mailbox_owner owner;
	char user[320];
	bool rev2, utf8, condstore, qresync; /* ENABLEd (or implied) */
	struct selected *sel;
	/* the command in progress: commands run one at a time */
	struct command *cmd;
	bool idling;
	unsigned bad_commands;
};

/* A command while it runs (owns its pool: args, ctx, results). */
struct command {
	struct session *s;
	struct mc_pool *pool;
	const char *tag, *name;
	const struct mc_imap_arg *args;
	size_t argc;
	bool uid; /* "UID FETCH" etc.: name is the verb, args follow it */
	/* during run: the LITERAL_BEGIN event of a streamed APPEND */
	const struct mc_imap_event *literal;
	void *ctx;
	/* A command that reads more from the client (APPEND's literals,
	 * IDLE's DONE, AUTHENTICATE's response) sets receiving; busy pauses
	 * that (a job runs). Its events go to these: */
	bool receiving, busy;
	void (*literal_begin)(struct command *cmd,
			      const struct mc_imap_event *ev);
	void (*literal_data)(struct command *cmd, const void *data, size_t len);
	void (*literal_end)(struct command *cmd);
	void (*line)(struct command *cmd, const char *line, size_t len);
	/* the COMMAND event that ends a streamed APPEND */
	void (*finished)(struct command *cmd, const struct mc_imap_event *ev);
	/* a parse error inside it (ev), or the client left (ev NULL): the
	 * command cleans up (and answers when ev is set) */
	void (*aborted)(struct command *cmd, const struct mc_imap_event *ev);
};

/* An entry of the command table. */
struct command_def {
	const char *name;
	unsigned states; /* enum imap_state bits where it is allowed */
	bool uid;	 /* also as "UID <name>" */
	void (*run)(struct command *cmd);
	bool no_expunge; /* no EXPUNGE responses while the non-UID form
			    runs (RFC 3501 7.4.1: FETCH, STORE, SEARCH) */
};
/* One table per cmd-*.c file, each ending with a NULL name. */
extern const struct command_def auth_command_defs[];	/* cmd-auth.c */
extern const struct command_def mailbox_command_defs[]; /* cmd-mailbox.c */
extern const struct command_def select_command_defs[];	/* cmd-select.c */
extern const struct command_def fetch_command_defs[];	/* cmd-fetch.c */
extern const struct command_def search_command_defs[];	/* cmd-search.c */
extern const struct command_def store_command_defs[];	/* cmd-store.c */
extern const struct command_def append_command_defs[];	/* cmd-append.c */
extern const struct command_def idle_command_defs[];	/* cmd-idle.c */

struct mc_conn;

/* session.c */
void session_accept(struct mc_loop *loop, struct bufferevent *bev,
		    const struct mc_conn_info *info, void *ctx);
/* Appends bytes for the client (raw: the caller formats). */
void session_write(struct session *s, const void *data, size_t len);
/* Appends a C string for the client. */
void session_puts(struct session *s, const char *text);
void session_printf(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Ends the connection after the output is sent (BYE already written). */
void session_close(struct session *s);
/* Starts TLS on the connection once "OK Begin TLS" is out. */
void session_start_tls(struct session *s);
/* Turns COMPRESS=DEFLATE on for everything after the tagged OK. */
bool session_start_compress(struct session *s);
/* Runs what the parser has next, once no command is in progress. */
void session_pump(struct session *s);
/* Sets the autologout timer for the state (login or idle timeout). */
void session_timeouts(struct session *s);

/* commands.c: tagged replies end the command (and free it); code is a
 * response code without brackets ("TRYCREATE") or NULL. */
void cmd_ok(struct command *cmd, const char *code, const char *text);
void cmd_no(struct command *cmd, const char *code, const char *text);
void cmd_bad(struct command *cmd, const char *text);
/* The NO for a store error: [UNAVAILABLE] for outages, [OVERQUOTA],
 * [NONEXISTENT], [ALREADYEXISTS], [CANNOT], else [SERVERBUG]. */
void cmd_fail(struct command *cmd, const struct mc_error *err);
/* Runs work on a worker, then done(cmd or NULL when the session is
 * gone, ctx) on the loop; false (and a NO [UNAVAILABLE] sent) when the
 * pool refused it. */
typedef void cmd_done_fn(struct command *cmd, void *ctx);
bool cmd_job(struct command *cmd, mc_job_fn *work, cmd_done_fn *done,
	     void *ctx);
/* Frees a command without answering (the client is gone). */
void command_discard(struct command *cmd);
/* Starts a parsed command, or an APPEND whose first literal begins
 * (session.c calls it). */
void command_start(struct session *s, const struct mc_imap_event *ev);
/* Appends the capability list for the session's state. */
void capabilities(const struct session *s, struct mc_buf *out);
/* Writes the string forms with the session's UTF-8 setting. */
void cmd_write_astring(struct command *cmd, struct mc_buf *out, const char *s);
/* A mailbox name argument decoded to UTF-8 (modified UTF-7 unless the
 * session is UTF-8), from the command's pool; NULL with a BAD sent. */
const char *cmd_mailbox_arg(struct command *cmd, const struct mc_imap_arg *a);
/* A mailbox name as the client wants to see it (mUTF-7 or UTF-8). */
void cmd_write_mailbox(struct command *cmd, struct mc_buf *out,
		       const char *utf8_name);
/* A sequence set argument resolved against the selected mailbox into
 * UIDs (for UID commands the numbers are UIDs; "$" is SEARCHRES); false
 * with a BAD sent on bad syntax. */
bool cmd_uid_set(struct command *cmd, const struct mc_imap_arg *a,
		 struct mc_imap_seqset *uids_r);
/* The sequence number of uid in the selected mailbox, 0 if absent. */
uint32_t selected_seq(const struct selected *sel, uint32_t uid);

/* sync.c: brings the selected mailbox up to date, writing the untagged
 * responses (EXPUNGE or VANISHED only when expunges may be sent), then
 * calls then(cmd). */
void sync_then(struct command *cmd, bool allow_expunge,
	       void (*then)(struct command *cmd));
/* Opens a mailbox as selected (after SELECT/EXAMINE). */
void selected_free(struct selected **sel);

/* proxy.c: the proxy mode. */
struct mc_config;
int proxy_init(struct imapd *d, const struct mc_config *cfg,
	       struct mc_error *err);
void proxy_deinit(void);
/* After a local login: relays the session to the user's backend,
 * answering cmd with the backend's answer. */
void proxy_start(struct command *cmd, const char *backend, const char *user,
		 const char *password, size_t password_len);
/* True once the session is a relay (its input goes to the backend). */
bool proxy_relaying(const struct session *s);
/* Moves client input to the backend. */
void proxy_client_input(struct session *s);
/* The client went away: drop the backend. */
void proxy_session_gone(struct session *s);

/* train.c: Bayes training from COPY / MOVE into and out of Junk. */
/* Makes the classifier (at start) and frees it (at stop). */
void train_init(struct imapd *d);
void train_deinit(void);
/* After a COPY / MOVE committed: queues the learning of the copied
 * messages (spam into Junk, ham out of Junk but not into Trash) on a
 * worker; never fails (problems are logged). */
void train_copied(const struct mc_mailbox_owner *owner, int64_t src_mailbox_id,
		  const struct mc_mailbox_copied *copied);

/* notify.c: the Redis subscriber thread and the per-user registry of
 * logged-in sessions. */
int notify_start(struct imapd *d, struct mc_error *err);
void notify_stop(void);
void notify_register(struct session *s);
void notify_unregister(struct session *s);
/* How many sessions the user has (for the per-user limit). */
unsigned notify_user_sessions(int64_t tenant_id, int64_t user_id);
/* Runs on the session's loop when its user's mailbox changed (IDLE
 * reports at once; others at their next command). */
void session_notified(struct session *s, int64_t mailbox_id);

#endif
