/* mc-smtp-server-private: the state shared by the SMTP server files:
 * mc-smtp-server.c (input loop, replies, decisions), -cmd.c (one parser per
 * verb), -path.c (paths and ESMTP parameters), -data.c (DATA and BDAT),
 * -auth.c (AUTH PLAIN/LOGIN) and -received.c (Received: header). */
#ifndef MC_SMTP_SERVER_PRIVATE_H
#define MC_SMTP_SERVER_PRIVATE_H

#include "mailcore/mc-pool.h"
#include "mailcore/mc-smtp-server.h"
#include "mailcore/mc-str.h"

enum smtp_state {
	ST_CMD = 0,  /* reading command lines */
	ST_DATA,     /* reading DATA until CRLF.CRLF */
	ST_BDAT,     /* reading a BDAT chunk */
	ST_TLS_WAIT, /* STARTTLS accepted: discard until tls_started */
	ST_CLOSED,   /* QUIT, 421: discard everything */
};

enum smtp_pending {
	P_NONE = 0,
	P_HELO,
	P_EHLO,
	P_MAIL,
	P_RCPT,
	P_DATA,
	P_BDAT,
	P_MSG_END,
	P_AUTH,
	P_STARTTLS,
	P_VRFY,
	P_XCLIENT,
};

/* The DATA unstuffer's position relative to CRLF.CRLF. */
enum data_state { DS_BOL = 0, DS_TEXT, DS_CR, DS_DOT, DS_DOTCR };

struct data_parser {
	enum data_state state;
	uint64_t size;
	unsigned bare_lf, bare_cr, hops;
	bool too_big;
	/* header scan on the unstuffed stream */
	bool in_header, hdr_bol;
	unsigned hdr_pos; /* chars of the line matched against "received:" */
	char out[4096];
	size_t out_len;
};

struct mc_smtp_server {
	struct mc_smtp_server_settings set;
	struct mc_smtp_server_callbacks cb;
	void *ctx;
	struct mc_pool *pool, *trans_pool, *cmd_pool;
	struct mc_buf in;
	size_t in_pos;
	enum smtp_state state;
	enum smtp_pending pending;
	bool in_process, skipping_line;

	/* session */
	char helo[256];
	bool helo_done, ehlo, tls, ever_ehlo;
	char *auth_user; /* heap */
	unsigned errors, transactions, rsets;

	/* transaction */
	bool in_trans, trans_utf8, chunking, bin_body;
	struct mc_smtp_server_mail mail;
	struct mc_smtp_server_rcpt rcpt;
	unsigned rcpts;

	/* XCLIENT, while its decision is pending */
	struct mc_smtp_server_xclient xclient;

	/* DATA / BDAT */
	struct data_parser dp;
	uint64_t bdat_left;
	bool bdat_last;
	unsigned bdat_err_code;
	char bdat_err_enh[16];
	char *bdat_err_text; /* cmd_pool */
	struct mc_smtp_server_message msg;

	/* AUTH: 0 idle, 1 PLAIN wants response, 2/3 LOGIN user/password */
	int auth_step;
	char *login_user; /* heap, zeroed on free */
	char *auth_cand;  /* cmd_pool: authcid awaiting the decision */
	size_t login_user_len;
};

/* mc-smtp-server.c */
void smtp_send(struct mc_smtp_server *s, unsigned code, const char *enh,
	       const char *text);
void smtp_send_lines(struct mc_smtp_server *s, unsigned code,
		     const char *const *lines, size_t n);
void smtp_close(struct mc_smtp_server *s, const char *enh, const char *text);
void smtp_decide(struct mc_smtp_server *s, enum smtp_pending kind);
void smtp_trans_reset(struct mc_smtp_server *s);
void smtp_session_reset(struct mc_smtp_server *s);
size_t smtp_line_limit(const struct mc_smtp_server *s);

/* mc-smtp-server-cmd.c */
void smtp_cmd_dispatch(struct mc_smtp_server *s, char *line, size_t len);
void smtp_ehlo_reply(struct mc_smtp_server *s);

/* mc-smtp-server-path.c */
enum path_kind { PATH_REVERSE, PATH_FORWARD };
/* Parses "<...>" at *p; 0 ok, else the SMTP code to reply with and the
 * enhanced code/text in enh_r/text_r. Advances *p past '>'. */
unsigned smtp_parse_path(struct mc_pool *pool, const char **p,
			 enum path_kind kind, struct mc_smtp_server_path *r,
			 const char **enh_r, const char **text_r);
bool smtp_domain_valid(const char *d, size_t len);
bool smtp_addr_literal_valid(const char *d, size_t len);
bool smtp_utf8_valid(const char *s, size_t len);
char *smtp_xtext_decode(struct mc_pool *pool, const char *s);
bool smtp_esmtp_param(char **p, char **key_r, char **value_r);

/* mc-smtp-server-data.c */
void smtp_data_begin(struct mc_smtp_server *s);
bool smtp_data_step(struct mc_smtp_server *s);
bool smtp_bdat_step(struct mc_smtp_server *s);
void smtp_cmd_data(struct mc_smtp_server *s, char *args);
void smtp_cmd_bdat(struct mc_smtp_server *s, char *args);
void smtp_data_started(struct mc_smtp_server *s, unsigned code, const char *enh,
		       const char *text);
void smtp_bdat_started(struct mc_smtp_server *s, unsigned code, const char *enh,
		       const char *text);

/* mc-smtp-server-auth.c */
void smtp_cmd_auth(struct mc_smtp_server *s, char *args);
void smtp_auth_line(struct mc_smtp_server *s, char *line, size_t len);
bool smtp_auth_offered(const struct mc_smtp_server *s);
void smtp_auth_clear(struct mc_smtp_server *s);

#endif
