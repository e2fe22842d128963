/* smtpd: what the files of mc-smtpd share. main.c sets the daemon up,
 * session.c runs a connection (an mc_conn feeding the mc-smtp-server
 * state machine), job.c hands blocking work to the worker
 * pool, and one file per decision: cmd-auth.c, cmd-mail.c, cmd-rcpt.c,
 * data.c (spooling into a blob, then the delivery), deliver.c and bcc.c
 * (the rows, with the automatic BCC copies). */
#ifndef SMTPD_H
#define SMTPD_H

#include <stdbool.h>
#include <stdint.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-blob.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-directory.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-filter.h"
#include "mailcore/mc-events.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-message.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-ratelimit.h"
#include "mailcore/mc-server.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-store.h"
#include "mailcore/mc-str.h"
#include "mailcore/mc-workers.h"

enum smtpd_port { PORT_MX, PORT_SUBMISSION, PORT_SUBMISSIONS };

struct event;

/* [connections] (conn-limits.c): the per-IP limits of the MX port. */
struct conn_settings {
	unsigned max_per_ip, per_minute, messages_per_minute;
	unsigned unknown_recipients, block_s, pregreet_ms;
	bool reverse_dns, helo_check, sender_domain_check;
	struct mc_cidr trusted[MC_ADDR_NETS_MAX]; /* [filter] trusted_nets */
	size_t trusted_count;
	struct mc_dns *own_dns; /* when [filter] opened none */
};

/* A session's side of the connection limits. */
struct conn_state {
	bool greeted;	    /* the 220 is out */
	bool checking;	    /* the check of the client IP is in flight */
	struct event *wait; /* the pregreet delay, NULL when over */
	char counted[MC_ADDR_STR_MAX]; /* counted as concurrent ("": no) */
	int rdns; /* 0 unknown, 1 verified, -1 not */
};

/* The daemon, shared by every loop (read-only after start). */
struct smtpd {
	struct mc_service *service;
	SSL_CTX *tls;
	struct mc_blob_store *blobs;
	const char *hostname, *postmaster;
	uint64_t max_message_size;
	unsigned max_recipients, max_errors, max_hops;
	unsigned command_timeout_ms, data_timeout_ms;
	bool vrfy;
	struct mc_cidr relay_nets[MC_ADDR_NETS_MAX];
	size_t relay_nets_count;
	struct mc_cidr plain_auth_nets[MC_ADDR_NETS_MAX];
	size_t plain_auth_nets_count;
	struct mc_cidr xclient_nets[MC_ADDR_NETS_MAX];
	size_t xclient_nets_count;
	/* inbound protection (filter.c); NULL when [filter] is off */
	struct mc_filter *filter;
	struct mc_dns *dns;
	struct mc_av *av;
	struct mc_spamrules *spam;
	struct mc_dnsbl *dnsbl;
	struct mc_greylist *greylist;
	struct mc_bayes *bayes;
	const char *report_spam, *report_ham; /* local parts, "" = off */
	struct mc_cidr filter_trusted[MC_ADDR_NETS_MAX];
	size_t filter_trusted_count;
	struct mc_directory_settings dir;
	struct mc_login_throttle throttle;
	struct mc_policy_settings policy;    /* server defaults ([policy]) */
	struct mc_ratelimit_settings limits; /* [limits] */
	struct mc_events *events;	     /* limit hits, deferred queues */
	struct mc_message_settings msg;
	struct conn_settings conn; /* [connections] */
};

/* The sending limits of a transaction (limits.c): on once it counts (an
 * authenticated sender at MAIL, a relaying client at its first remote
 * RCPT); copied into jobs by value. */
struct limits_state {
	bool on;
	int64_t tenant_id, user_id, domain_id;
	char ip[MC_ADDR_STR_MAX], user[320], domain[256];
	struct mc_ratelimit_limits lim;
	unsigned rcpts; /* recipients counted so far */
	bool hold;	/* over the tenant's deferred threshold: hold */
};

/* The authenticated user of a session. */
struct smtpd_user {
	bool ok;
	int64_t tenant_id, user_id;
	char address[MC_ADDR_STR_MAX * 5];
};

/* An accepted recipient and where it leads (owns its pool). */
struct rcpt {
	struct rcpt *next;
	struct mc_pool *pool;
	const char *address;
	const char *orcpt;
	unsigned notify;
	struct mc_directory_result res;
	bool remote;	      /* queue for address itself */
	int64_t queue_tenant; /* the tenant queuing remote targets */
	/* checked mail: the recipient domain's filter policy, and what the
	 * end of DATA decided for it (Junk instead of the inbox) */
	const struct mc_filter_policy *policy;
	bool junk;
	const char *quarantine; /* held back: the reason (else NULL) */
	int report; /* a report address: 1 spam, -1 ham (stores nothing) */
	const char *quarantine_category;
};

struct spool;

/* The transaction between MAIL and its end. */
struct trans {
	struct mc_pool *pool;
	char id[24];
	const char *sender; /* "" for <> */
	const char *envid, *ret;
	uint64_t size_hint; /* MAIL SIZE=, 0 if none */
	struct rcpt *rcpts, **rcpts_tail;
	unsigned rcpts_count;
	struct spool *spool;
	/* an authenticated sender: its effective policy, resolved at MAIL */
	bool policed;
	struct mc_policy policy;
	struct limits_state limits;
	/* mail from outside, checked (filter.c): SPF and DNSBLs at MAIL */
	bool filtered;
	struct mc_spf_answer spf;
	int dnsbl_score;
	struct mc_filter_reply mail_refusal; /* the DNSBL's, or code 0 */
	const char **filter_bcc; /* content rules' BCC addresses */
	size_t filter_bcc_count;
};

/* One client connection. */
struct session {
	struct smtpd *d;
	struct mc_loop *loop;
	struct mc_conn *conn; /* NULL once closed */
	struct mc_smtp_server *smtp;
	struct mc_log_ctx log;
	char id[17]; /* session id in logs, prefix of queue ids */
	enum smtpd_port port;
	struct mc_sockaddr remote;
	char ip[MC_ADDR_STR_MAX];
	bool in_data;
	struct mc_job_owner jobs; /* the connection + each job in flight */
	bool stopping; /* the daemon stops: 421 once the reply is out */
	struct smtpd_user user;
	struct trans *trans;
	struct conn_state cs; /* conn-limits.c */
};

/* session.c */
void session_accept(struct mc_loop *loop, struct bufferevent *bev,
		    const struct mc_conn_info *info, void *ctx);
/* Feeds buffered client input to the state machine when it can take it
 * (no decision pending, spool not backed up); call after every reply. */
void session_pump(struct session *s);
void session_unref(struct session *s);
/* Ends the connection (once pending output is out). */
void session_close(struct session *s);
/* Sets the read timeout for the current phase (command or data). */
void session_timeouts(struct session *s);

/* job.c: runs work(worker, ctx) on the pool, then done(s, ctx) on the
 * session's loop (struct mc_job_owner does the bookkeeping); done gets
 * s == NULL when the session is gone (it must then only free ctx). False
 * when the pool refused the job (nothing runs; the caller answers with a
 * temporary error). */
typedef mc_job_fn job_work_fn;
typedef void job_done_fn(struct session *s, void *ctx);
bool job_submit(struct session *s, job_work_fn *work, job_done_fn *done,
		void *ctx);
/* A job that needs no session and no answer (cleanups). */
void job_detached(struct smtpd *d, job_work_fn *work, void *ctx);

/* cmd-auth.c, cmd-mail.c, cmd-rcpt.c */
void cmd_auth(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_auth *auth);
void cmd_mail(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_mail *mail);
void cmd_rcpt(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_rcpt *rcpt);
void cmd_vrfy(void *ctx, struct mc_smtp_server *smtp, const char *arg);
/* Frees the transaction (and its spool); accepts NULL. */
void trans_free(struct trans **t);

/* filter.c: the inbound checks around the commands. */
bool filter_wanted(const struct session *s);
/* MAIL of checked mail: SPF on a worker, then 250. */
void filter_mail(struct session *s);
/* Worker, RCPT of a local recipient of checked mail: its domain's
 * policy into r and the SPF answer for it (code 0: accepted); -1 when
 * the policy cannot be read. */
int filter_rcpt(struct mc_worker *worker, struct smtpd *d,
		const struct mc_spf_answer *spf, const char *client_ip,
		const char *sender, struct rcpt *r,
		struct mc_filter_reply *reply_r, struct mc_error *err);
/* Worker, end of DATA of checked mail: the verdict (reply code 0: go
 * on; rcpts marked junk). -1 with err: answer 451. */
int filter_data(struct mc_worker *worker, struct smtpd *d,
		struct mc_pool *pool, struct trans *t, const char *client_ip,
		mc_filter_read_fn *read, void *ctx, uint64_t size,
		struct mc_filter_verdict *v, struct mc_error *err);
/* Worker: the security log rows and events of a verdict (best effort). */
void filter_record(struct mc_worker *worker, struct smtpd *d,
		   struct mc_pool *pool, const struct trans *t,
		   const char *client_ip, const struct mc_filter_verdict *v);
void filter_open(struct smtpd *d, const struct mc_config *cfg);
void filter_close(struct smtpd *d);

/* report.c: the spam / not-spam report addresses. */
typedef ssize_t report_read_fn(void *ctx, void *buf, size_t len,
			       uint64_t offset);
int report_kind(const struct smtpd *d, const char *address);
/* Worker, end of DATA: trains the classifier for each report recipient
 * (best effort, logged). */
void report_learn(struct mc_worker *worker, struct smtpd *d,
		  struct mc_pool *pool, const struct trans *t,
		  report_read_fn *read, void *ctx, uint64_t size);

/* data.c */
void data_start(void *ctx, struct mc_smtp_server *smtp);
void data_chunk(void *ctx, const void *data, size_t len);
void data_end(void *ctx, struct mc_smtp_server *smtp,
	      const struct mc_smtp_server_message *msg);
/* True while spooled data waits for the disk: stop reading. */
bool spool_backlogged(const struct trans *t);
/* Drops a spool; its blob is removed off the loop. */
void spool_free(struct spool **sp);

/* bcc.c: the automatic BCC copies of a transaction (all from pool):
 * mailboxes and remote addresses marked as copies, and the targets whose
 * cached lookups the delivery makes stale (they have a quota). */
struct bcc_copies {
	struct mc_store_local *local;
	size_t local_count;
	struct mc_store_remote *remote;
	size_t remote_count;
	const char **forget;
	size_t forget_count;
};
/* Worker: matches t (authed: its sender was authenticated) against the
 * rules and resolves the targets. 0, or -1 with err (an outage: 451). */
int bcc_copies(struct mc_worker *worker,
	       const struct mc_directory_settings *dir, struct mc_pool *pool,
	       const struct trans *t, bool authed, struct bcc_copies *copies_r,
	       struct mc_error *err);

/* deliver.c: the rows of a message whose blob (hash) is durable, with its
 * automatic BCC copies (dir: how targets are looked up). */
struct delivery_outcome {
	unsigned code;
	const char *enh, *text;
	const char *error; /* what went wrong, for the log */
	const char *filter; /* the checks' summary, or NULL */
	size_t local, remote;
	uint64_t size;
};
void deliver_commit(struct mc_worker *worker, struct mc_pool *pool,
		    const struct trans *t,
		    const struct mc_directory_settings *dir,
		    const char *client_ip, const char *auth_user,
		    const char *hash, const struct mc_message_info *info,
		    struct delivery_outcome *out);

/* limits.c (workers): ls's limits for an authenticated user of domain_id,
 * or for a client relaying from sender_domain under queue_tenant (the
 * caller has set ip, ids and user). */
void limits_for_user(struct mc_worker *worker, struct smtpd *d,
		     struct limits_state *ls);
void limits_for_relay(struct mc_worker *worker, struct smtpd *d,
		      struct limits_state *ls, const char *sender_domain,
		      int64_t queue_tenant);
/* Checks amount against ls: 0 passes (also when Redis is down: logged),
 * else the refusal's code with its enhanced code and text (static); a
 * refusal is reported to the tenant once per window. */
unsigned limits_check(struct mc_worker *worker, struct smtpd *d,
		      const struct limits_state *ls,
		      const struct mc_ratelimit_amount *amount,
		      const char **enh_r, const char **text_r);
/* Sets ls->hold when the tenant is over its deferred threshold. */
void limits_deferred(struct mc_worker *worker, struct smtpd *d,
		     struct limits_state *ls);
/* Counts an accepted message of size bytes; false (err set) when Redis
 * is down. */
bool limits_record(struct mc_worker *worker, struct smtpd *d,
		   const struct limits_state *ls, uint64_t size,
		   struct mc_error *err);

/* conn-limits.c: [connections], per client IP (Redis, on workers; Redis
 * down lets everything through, logged once), for clients of the MX port
 * outside [filter] trusted_networks. */
void conn_limits_open(struct smtpd *d, const struct mc_config *cfg);
void conn_limits_close(struct smtpd *d);
bool conn_limits_wanted(const struct session *s);
/* A new connection: the greeting, after the pregreet delay and the check
 * of the client IP (blocked, concurrent, per minute: 421 4.7.0). */
void conn_limits_connect(struct session *s);
/* Client bytes before the greeting: a talker is dropped (554 5.7.1)
 * when the pregreet delay is on, else they wait. */
void conn_limits_early_input(struct session *s);
/* XCLIENT named a new client (s->ip): its check, then the 220 or 421. */
void conn_limits_xclient(struct session *s);
/* The connection is over: its concurrent count goes. */
void conn_limits_end(struct session *s);
/* mc-smtp-server's HELO/EHLO decision (helo_check: 504 5.5.2). */
void conn_limits_helo(void *ctx, struct mc_smtp_server *smtp,
		      const struct mc_smtp_server_helo *helo);
/* MAIL without AUTH: true when a check runs (messages per minute, the
 * reverse DNS, the sender domain) and then calls cmd_mail_unauth() or
 * refuses; false when there is nothing to check. */
bool conn_limits_mail(struct session *s);
/* Worker, RCPT: true when ip is blocked (450 4.7.1). */
bool conn_limits_blocked(struct mc_worker *worker, struct smtpd *d,
			 const char *ip);
/* Worker, RCPT of an unknown recipient: counts it; at
 * unknown_recipients ip is blocked for block_time. */
void conn_limits_unknown(struct mc_worker *worker, struct smtpd *d,
			 const char *ip);
/* cmd-mail.c: MAIL without AUTH once conn_limits_mail() passed it. */
void cmd_mail_unauth(struct session *s);

/* The 451 every outage gives. */
#define SMTPD_TEMPFAIL_TEXT "Temporary failure, please try again later"

#endif
