/* mc-pop3-server-private: the state shared by the POP3 server files:
 * mc-pop3-server.c (input loop, responses, decisions), -cmd.c (one parser
 * per verb), -auth.c (USER/PASS, APOP, AUTH PLAIN) and -data.c (RETR/TOP
 * streaming with dot-stuffing). */
#ifndef MC_POP3_SERVER_PRIVATE_H
#define MC_POP3_SERVER_PRIVATE_H

#include "mailcore/mc-pool.h"
#include "mailcore/mc-pop3-server.h"
#include "mailcore/mc-str.h"

enum pop3_io {
	IO_CMD = 0,  /* reading command lines */
	IO_TLS_WAIT, /* STLS accepted: discard until tls_started */
	IO_CLOSED,   /* QUIT, fatal error: discard everything */
};

enum pop3_pending {
	P_NONE = 0,
	P_AUTH,
	P_STLS,
	P_RETR,
	P_UPDATE,
};

/* AUTH exchange: idle, or AUTH PLAIN waiting for its response line. */
enum pop3_auth_step { AUTH_IDLE = 0, AUTH_PLAIN_WAIT };

struct pop3_msg {
	uint64_t size;
	char *uid; /* drop_pool */
	bool deleted;
};

/* RETR/TOP output filter: bare LF -> CRLF, dot-stuffing, TOP counting. */
struct pop3_data {
	bool started;	 /* "+OK" sent */
	bool bol;	 /* at the start of an output line */
	bool prev_cr;	 /* the last byte was CR */
	bool header;	 /* still in the header section */
	bool done;	 /* TOP has all its lines: ignore the rest */
	size_t line_len; /* bytes of the current line so far */
	long top_lines;	 /* -1 for RETR */
	long body_lines;
	uint64_t size; /* for "+OK n octets" */
};

struct mc_pop3_server {
	struct mc_pop3_server_settings set;
	struct mc_pop3_server_callbacks cb;
	void *ctx;
	struct mc_pool *pool, *drop_pool, *cmd_pool;
	struct mc_buf in;
	size_t in_pos;
	enum pop3_io io;
	enum mc_pop3_state state;
	enum pop3_pending pending;
	bool in_process, skipping_line, tls;
	unsigned errors;
	char *timestamp; /* pool; NULL without APOP */

	/* AUTHORIZATION */
	char *user_cmd;	 /* heap: the USER name awaiting PASS */
	char *auth_cand; /* cmd_pool: the name awaiting the decision */
	enum pop3_auth_step auth_step;

	/* TRANSACTION */
	char *user; /* heap: logged-in user */
	struct pop3_msg *msgs;
	size_t count;

	/* RETR/TOP in progress */
	struct pop3_data data;
};

/* mc-pop3-server.c */
void pop3_ok(struct mc_pop3_server *s, const char *text);
void pop3_err(struct mc_pop3_server *s, enum mc_pop3_code code,
	      const char *text);
void pop3_write(struct mc_pop3_server *s, const void *data, size_t len);
void pop3_close(struct mc_pop3_server *s, const char *text);
size_t pop3_line_limit(const struct mc_pop3_server *s);
void pop3_sign_off(struct mc_pop3_server *s);
bool pop3_take_pending(struct mc_pop3_server *s, enum pop3_pending kind);
void pop3_resume(struct mc_pop3_server *s);

/* mc-pop3-server-cmd.c */
void pop3_cmd_dispatch(struct mc_pop3_server *s, char *line, size_t len);
bool pop3_cmd_is_secret(const char *line, size_t len);

/* mc-pop3-server-auth.c */
bool pop3_plaintext_ok(const struct mc_pop3_server *s);
bool pop3_auth_offered(const struct mc_pop3_server *s);
void pop3_cmd_user(struct mc_pop3_server *s, char **argv, size_t argc);
void pop3_cmd_pass(struct mc_pop3_server *s, char *args);
void pop3_cmd_apop(struct mc_pop3_server *s, char **argv, size_t argc);
void pop3_cmd_auth(struct mc_pop3_server *s, char **argv, size_t argc);
void pop3_auth_line(struct mc_pop3_server *s, char *line);
void pop3_auth_clear(struct mc_pop3_server *s);

/* mc-pop3-server-data.c */
void pop3_retr_begin(struct mc_pop3_server *s, size_t index, long top_lines);

#endif
