/* mc-pop3-server: the server side of POP3 (RFC 1939) with CAPA, RESP-CODES
 * and PIPELINING (RFC 2449), STLS (RFC 2595), AUTH PLAIN (RFC 5034, RFC
 * 4616), the SYS and AUTH response codes (RFC 3206) and optional APOP, as a
 * sans-I/O state machine: the daemon pushes client bytes in, gets reply
 * bytes through a write callback and answers decisions (login, STLS,
 * message data, the UPDATE state's expunge) now or later.
 *
 * Timeouts are the daemon's job (RFC 1939 3: at least 10 minutes of
 * inactivity); on expiry it calls mc_pop3_server_timeout(). After
 * mc_pop3_server_closing() turns true the daemon flushes its output and
 * closes the connection.
 *
 * Command lines: RFC 2449 4 limits them to 255 octets (CRLF included); up
 * to max_line_len (512 by default) is accepted, SASL continuation lines may
 * be MC_POP3_SERVER_AUTH_LINE octets. Every -ERR caused by the client
 * (unknown command, bad syntax, wrong state, no such message, failed
 * login) counts towards max_errors; the one that reaches it is followed by
 * "-ERR Too many errors, closing connection" and the close.
 *
 * Message numbers are 1-based on the wire; the library hands the daemon
 * 0-based indices into the maildrop it supplied (number - 1). */
#ifndef MC_POP3_SERVER_H
#define MC_POP3_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mc_pop3_server;

#define MC_POP3_SERVER_DEFAULT_LINE   512
#define MC_POP3_SERVER_AUTH_LINE      4096
#define MC_POP3_SERVER_DEFAULT_ERRORS 10
#define MC_POP3_SERVER_DEFAULT_INPUT  (64 * 1024)
#define MC_POP3_SERVER_UID_MAX	      70

/* Zero numeric limits mean the defaults above. Strings are copied by
 * mc_pop3_server_create. */
struct mc_pop3_server_settings {
	const char *hostname; /* greeting, sign-off, APOP; NULL = "localhost" */
	const char *greeting; /* after "+OK host "; NULL = mailcore's */
	const char *implementation; /* CAPA IMPLEMENTATION; NULL = none */
	bool stls;	     /* STLS may be offered (a certificate exists) */
	bool tls_active;     /* already TLS (implicit TLS, port 995) */
	bool plaintext_auth; /* USER/PASS, AUTH PLAIN without TLS (loopback) */
	bool apop;	     /* greeting timestamp and APOP; off by default */
	const char *apop_timestamp; /* "<...@host>"; NULL = generated */
	bool login_delay_cap;	    /* advertise "LOGIN-DELAY login_delay" */
	unsigned login_delay;	    /* seconds */
	size_t max_line_len, max_input_buffer;
	unsigned max_errors;
};

enum mc_pop3_state {
	MC_POP3_STATE_AUTHORIZATION = 0,
	MC_POP3_STATE_TRANSACTION,
	MC_POP3_STATE_UPDATE,
};

/* Extended response codes (RFC 2449 8, RFC 3206). */
enum mc_pop3_code {
	MC_POP3_CODE_NONE = 0,
	MC_POP3_CODE_AUTH,	  /* [AUTH]: wrong credentials */
	MC_POP3_CODE_IN_USE,	  /* [IN-USE]: maildrop locked elsewhere */
	MC_POP3_CODE_LOGIN_DELAY, /* [LOGIN-DELAY]: too soon since the last */
	MC_POP3_CODE_SYS_TEMP,	  /* [SYS/TEMP]: outage, retry later */
	MC_POP3_CODE_SYS_PERM,	  /* [SYS/PERM]: permanent system problem */
};

/* Credentials handed to the auth callback. The library owns the strings
 * until the answer; the password is zeroed when the callback returns:
 * copy it if answering later. */
struct mc_pop3_server_auth {
	const char *mechanism; /* "USER" (USER/PASS), "PLAIN" or "APOP" */
	const char *authzid;   /* PLAIN authorization identity, "" if absent */
	const char *user;      /* USER name, PLAIN authcid or APOP name */
	const char *password;  /* USER/PLAIN; "" for APOP; zeroed after */
	size_t password_len;
	const char *apop_timestamp; /* APOP: the greeting's "<...>" */
	const char *apop_digest;    /* APOP: 32 lowercase hex digits */
};

/* One message of the maildrop as the daemon sees it at login. size is
 * the octet count of the message with CRLF line ends (LIST, STAT); uid is
 * 1..70 characters in 0x21..0x7E (RFC 1939 7, UIDL), unique and stable. */
struct mc_pop3_message {
	uint64_t size;
	const char *uid;
};

struct mc_pop3_maildrop {
	size_t count;
	const struct mc_pop3_message *messages; /* count entries */
};

/* Decision callbacks must be followed, now or later, by their answer;
 * until then input is only buffered. s is the server that called.
 *  auth   -> mc_pop3_server_login_ok() or mc_pop3_server_login_fail()
 *  stls   -> mc_pop3_server_stls_ok() or mc_pop3_server_stls_fail()
 *  retr   -> mc_pop3_server_data()* then mc_pop3_server_data_end() or
 *            mc_pop3_server_data_fail()
 *  update -> mc_pop3_server_update_ok() or mc_pop3_server_update_fail()
 * A NULL auth or retr callback disables login or RETR/TOP; NULL stls means
 * STLS is not offered; NULL update accepts. */
struct mc_pop3_server_callbacks {
	/* Required: reply bytes for the client, in order. */
	void (*write)(void *ctx, const void *data, size_t len);
	void (*auth)(void *ctx, struct mc_pop3_server *s,
		     const struct mc_pop3_server_auth *auth);
	/* Accepting makes the library send "+OK" and wait for
	 * mc_pop3_server_tls_started(). */
	void (*stls)(void *ctx, struct mc_pop3_server *s);
	/* RETR (top_lines -1) or TOP (top_lines >= 0) of message index. The
	 * daemon supplies the raw message; the library counts TOP lines,
	 * turns bare LF into CRLF and dot-stuffs. */
	void (*retr)(void *ctx, struct mc_pop3_server *s, size_t index,
		     long top_lines);
	/* QUIT in TRANSACTION: expunge deleted[0..n-1] (0-based indices,
	 * ascending; n may be 0), then answer. The array is owned by s. */
	void (*update)(void *ctx, struct mc_pop3_server *s,
		       const size_t *deleted, size_t n);
};

/* Everything off, limits 0 (defaults). */
void mc_pop3_server_settings_init(struct mc_pop3_server_settings *set);

/* Returns a new server; callbacks are copied, ctx is passed back. */
struct mc_pop3_server *
mc_pop3_server_create(const struct mc_pop3_server_settings *set,
		      const struct mc_pop3_server_callbacks *callbacks,
		      void *ctx);
/* Accepts NULL; clears *s. Must not be called from a callback. */
void mc_pop3_server_destroy(struct mc_pop3_server **s);

/* Sends "+OK host greeting" (with the APOP timestamp when enabled). */
void mc_pop3_server_greet(struct mc_pop3_server *s);
/* Bytes from the client, split anywhere. */
void mc_pop3_server_input(struct mc_pop3_server *s, const void *data,
			  size_t len);

/* Answers auth: the session enters TRANSACTION with a copy of drop (the
 * caller keeps ownership of drop). Returns false, answering
 * "-ERR [SYS/PERM]", if a uid is invalid (a daemon bug). */
bool mc_pop3_server_login_ok(struct mc_pop3_server *s,
			     const struct mc_pop3_maildrop *drop);
/* Answers auth with "-ERR [code] text" (code NONE counts as AUTH). */
void mc_pop3_server_login_fail(struct mc_pop3_server *s,
			       enum mc_pop3_code code);
/* The same with the daemon's text (one line; NULL = the default). */
void mc_pop3_server_login_fail_text(struct mc_pop3_server *s,
				    enum mc_pop3_code code, const char *text);

/* Message bytes for the pending RETR/TOP, any split. The "+OK" line goes
 * out with the first call (or with data_end for an empty message). */
void mc_pop3_server_data(struct mc_pop3_server *s, const void *data,
			 size_t len);
/* The message is complete: ends the line if needed and sends ".". */
void mc_pop3_server_data_end(struct mc_pop3_server *s);
/* The message cannot be read: "-ERR [code] text" if nothing was sent yet;
 * once the multi-line response has begun the only honest way out is to
 * close the connection without the terminating ".", which it does. */
void mc_pop3_server_data_fail(struct mc_pop3_server *s, enum mc_pop3_code code,
			      const char *text);

/* Answers stls: "+OK Begin TLS negotiation"; buffered input is dropped. */
void mc_pop3_server_stls_ok(struct mc_pop3_server *s);
/* Answers stls with "-ERR [SYS/TEMP] TLS not available right now". */
void mc_pop3_server_stls_fail(struct mc_pop3_server *s);
/* The daemon finished the TLS handshake after STLS: a fresh
 * AUTHORIZATION state (RFC 2595 4), no new greeting. */
void mc_pop3_server_tls_started(struct mc_pop3_server *s);

/* Answers update: "+OK host signing off (...)" and the close. */
void mc_pop3_server_update_ok(struct mc_pop3_server *s);
/* Answers update with "-ERR [SYS/TEMP] text" (NULL: a standard text) and
 * closes; per RFC 1939 6 no deleted message was removed. */
void mc_pop3_server_update_fail(struct mc_pop3_server *s, const char *text);

/* Sends "-ERR Disconnected: inactivity timeout" (unless a multi-line
 * response is under way) and closes. */
void mc_pop3_server_timeout(struct mc_pop3_server *s);

/* True once the connection must be closed after flushing output. */
bool mc_pop3_server_closing(const struct mc_pop3_server *s);
/* True while a decision is pending (the daemon may stop reading). */
bool mc_pop3_server_pending(const struct mc_pop3_server *s);
/* True after STLS was accepted until mc_pop3_server_tls_started(). */
bool mc_pop3_server_awaiting_tls(const struct mc_pop3_server *s);
enum mc_pop3_state mc_pop3_server_state(const struct mc_pop3_server *s);
/* The logged-in user (owned by s), NULL before login. */
const char *mc_pop3_server_user(const struct mc_pop3_server *s);
/* The APOP timestamp of the greeting (owned by s), NULL without APOP. */
const char *mc_pop3_server_apop_timestamp(const struct mc_pop3_server *s);

#endif
