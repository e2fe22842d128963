/* pop3d: what the files of mc-pop3d share. main.c sets the daemon up,
 * session.c runs a connection (an mc_conn feeding the mc-pop3-server
 * state machine), cmd-auth.c logs in and loads the maildrop (the user's
 * INBOX), lock.c keeps the maildrop lock in Redis, retr.c streams
 * messages from the blob store, update.c expunges DELE'd messages. */
#ifndef POP3D_H
#define POP3D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailcore/mc-addr.h"
#include "mailcore/mc-blob.h"
#include "mailcore/mc-conn.h"
#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-login-throttle.h"
#include "mailcore/mc-mailbox.h"
#include "mailcore/mc-policy.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-pop3-server.h"
#include "mailcore/mc-service.h"
#include "mailcore/mc-workers.h"

/* The daemon, shared by every loop (read-only after start). */
struct pop3d {
	struct mc_service *service;
	SSL_CTX *tls;
	struct mc_blob_store *blobs;
	const char *hostname;
	struct mc_cidr plain_auth_nets[MC_ADDR_NETS_MAX];
	size_t plain_auth_nets_count;
	struct mc_login_throttle throttle;
	struct mc_policy_settings policy; /* server defaults ([policy]) */
};

/* One message of the maildrop. */
struct drop_msg {
	uint32_t uid;
	uint64_t size;
	const char *hash; /* its blob */
};

/* The maildrop lock: mc:pop3lock:TENANT:USER holding a random token. */
struct lock {
	char key[64];
	char token[40];
};

struct retr;

/* One client connection. */
struct session {
	struct pop3d *d;
	struct mc_loop *loop;
	struct mc_conn *conn; /* NULL once closed */
	struct mc_pop3_server *pop3;
	struct mc_log_ctx log;
	char ip[MC_ADDR_STR_MAX];
	struct mc_job_owner jobs; /* the connection + each job in flight */
	bool stopping;
	/* from login on */
	struct mc_pool *pool; /* the maildrop */
	struct mc_mailbox_owner owner;
	int64_t mailbox_id;
	struct drop_msg *msgs;
	size_t count;
	struct lock *lock;	  /* NULL when not held */
	struct event *lock_timer; /* refreshes it */
	struct retr *retr;	  /* the RETR/TOP under way */
};

/* The session of a job owner (NULL when it is gone). */
#define SESSION_OF(owner)                                                      \
	((owner) == NULL ? NULL                                                \
			 : (struct session *)((char *)(owner)-offsetof(        \
				   struct session, jobs)))

/* session.c */
void session_accept(struct mc_loop *loop, struct bufferevent *bev,
		    const struct mc_conn_info *info, void *ctx);
/* Feeds buffered client input to the state machine when it can take it
 * (no decision pending); call after every answer. */
void session_pump(struct session *s);
void session_unref(struct session *s);
/* Runs work on the pool and then done on the session's loop; false when
 * the pool refused it. */
bool session_job(struct session *s, mc_job_fn *work, mc_owner_done_fn *done,
		 void *ctx);

/* cmd-auth.c: the auth decision (login, lock, maildrop). */
void cmd_auth(void *ctx, struct mc_pop3_server *pop3,
	      const struct mc_pop3_server_auth *auth);

/* lock.c: on a worker, takes the lock (1), finds it taken (0) or fails
 * (-1, err). */
int lock_take(struct mc_redis *redis, const struct mc_mailbox_owner *owner,
	      struct lock *lock, struct mc_error *err);
/* On the loop: keeps the session's lock alive while it lives. */
void lock_keep(struct session *s);
/* Gives a lock up (off the loop, best effort); takes ownership. */
void lock_release(struct pop3d *d, struct lock *lock);

/* retr.c */
void cmd_retr(void *ctx, struct mc_pop3_server *pop3, size_t index,
	      long top_lines);
/* Frees a RETR that waits for the client (no job in flight). */
void retr_free(struct retr **r);

/* update.c */
void cmd_update(void *ctx, struct mc_pop3_server *pop3, const size_t *deleted,
		size_t n);

#endif
