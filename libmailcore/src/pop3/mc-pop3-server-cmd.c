/* mc-pop3-server-cmd: the POP3 verbs, dispatched by one table entry per
 * verb (the states it is valid in, its argument count and usage) with the
 * RFC 1939 / RFC 2449 / RFC 2595 grammar above each handler. USER, PASS,
 * APOP and AUTH live in -auth.c; RETR and TOP stream through -data.c. */
#include "mc-pop3-server-private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IN_AUTH	 (1u << MC_POP3_STATE_AUTHORIZATION)
#define IN_TRANS (1u << MC_POP3_STATE_TRANSACTION)
#define MAX_ARGS 4
#define FLUSH_AT 8192

typedef void cmd_fn(struct mc_pop3_server *s, char **argv, size_t argc,
		    char *rest);

struct cmd {
	const char *name;
	unsigned states;
	size_t min_args, max_args;
	bool raw; /* gets the unsplit rest of the line */
	const char *usage;
	cmd_fn *fn;
};

/* True for lines whose arguments are credentials (zeroed after use). */
bool pop3_cmd_is_secret(const char *line, size_t len)
{
	return len > 5 && (strncasecmp(line, "PASS ", 5) == 0 ||
			   strncasecmp(line, "AUTH ", 5) == 0 ||
			   strncasecmp(line, "APOP ", 5) == 0);
}

/* Appends one capability line. */
static void capa_line(struct mc_buf *b, const char *fmt, const char *arg)
{
	mc_buf_printf(b, fmt, arg);
	mc_buf_append(b, "\r\n", 2);
}

/* capa = "CAPA" CRLF (RFC 2449 5); the list depends on the state: the
 * AUTHORIZATION-only ones (USER, SASL, STLS) go away after login. */
static void cmd_capa(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	bool auth = s->state == MC_POP3_STATE_AUTHORIZATION;
	struct mc_buf b;

	(void)argv, (void)argc, (void)rest;
	mc_buf_init(&b, NULL, 0);
	mc_buf_append_str(&b, "+OK Capability list follows\r\n");
	if (s->cb.retr != NULL)
		capa_line(&b, "TOP", NULL);
	capa_line(&b, "UIDL", NULL);
	if (auth && pop3_auth_offered(s))
		capa_line(&b, "USER", NULL);
	capa_line(&b, "RESP-CODES", NULL);
	capa_line(&b, "AUTH-RESP-CODE", NULL);
	if (auth && pop3_auth_offered(s))
		capa_line(&b, "SASL PLAIN", NULL);
	if (auth && s->set.stls && s->cb.stls != NULL && !s->tls)
		capa_line(&b, "STLS", NULL);
	capa_line(&b, "PIPELINING", NULL);
	capa_line(&b, "EXPIRE NEVER", NULL);
	if (s->set.login_delay_cap)
		mc_buf_printf(&b, "LOGIN-DELAY %u\r\n", s->set.login_delay);
	if (s->set.implementation != NULL)
		capa_line(&b, "IMPLEMENTATION %s", s->set.implementation);
	mc_buf_append_str(&b, ".\r\n");
	pop3_write(s, b.data, b.len);
	mc_buf_free(&b);
}

/* noop = "NOOP" CRLF (RFC 1939 5) */
static void cmd_noop(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)argv, (void)argc, (void)rest;
	pop3_ok(s, "");
}

/* quit = "QUIT" CRLF (RFC 1939 4 and 6): in TRANSACTION the UPDATE state
 * asks the daemon to expunge the deleted messages. */
static void cmd_quit(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t *del, n = 0;

	(void)argv, (void)argc, (void)rest;
	if (s->state == MC_POP3_STATE_AUTHORIZATION) {
		pop3_sign_off(s);
		return;
	}
	s->state = MC_POP3_STATE_UPDATE;
	del = mc_palloc_array(s->cmd_pool, s->count + 1, sizeof(*del));
	for (size_t i = 0; i < s->count; i++)
		if (s->msgs[i].deleted)
			del[n++] = i;
	s->pending = P_UPDATE;
	if (s->cb.update == NULL)
		mc_pop3_server_update_ok(s);
	else
		s->cb.update(s->ctx, s, del, n);
}

/* stls = "STLS" CRLF (RFC 2595 4) */
static void cmd_stls(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)argv, (void)argc, (void)rest;
	if (s->tls) {
		pop3_err(s, MC_POP3_CODE_NONE, "TLS is already active");
		return;
	}
	if (!s->set.stls || s->cb.stls == NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "STLS is not available");
		return;
	}
	pop3_auth_clear(s);
	s->pending = P_STLS;
	s->cb.stls(s->ctx, s);
}

/* Counts and sizes the messages not marked deleted. */
static void drop_totals(const struct mc_pop3_server *s, size_t *n_r,
			uint64_t *octets_r)
{
	*n_r = 0;
	*octets_r = 0;
	for (size_t i = 0; i < s->count; i++) {
		if (s->msgs[i].deleted)
			continue;
		(*n_r)++;
		*octets_r += s->msgs[i].size;
	}
}

/* stat = "STAT" CRLF -> "+OK nn mm" (RFC 1939 5) */
static void cmd_stat(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t n;
	uint64_t octets;
	char t[64];

	(void)argv, (void)argc, (void)rest;
	drop_totals(s, &n, &octets);
	snprintf(t, sizeof(t), "%zu %llu", n, (unsigned long long)octets);
	pop3_ok(s, t);
}

/* msg = 1*DIGIT naming a message that exists and is not deleted; sends
 * the -ERR and returns false otherwise. */
static bool lookup(struct mc_pop3_server *s, const char *arg, size_t *index_r)
{
	uint64_t n;
	char t[96];

	if (!mc_str_to_u64(arg, &n)) {
		pop3_err(s, MC_POP3_CODE_NONE, "Invalid message number");
		return false;
	}
	if (n == 0 || n > s->count) {
		pop3_err(s, MC_POP3_CODE_NONE, "No such message");
		return false;
	}
	if (s->msgs[n - 1].deleted) {
		snprintf(t, sizeof(t), "Message %llu already deleted",
			 (unsigned long long)n);
		pop3_err(s, MC_POP3_CODE_NONE, t);
		return false;
	}
	*index_r = (size_t)(n - 1);
	return true;
}

/* Writes a scan listing "+OK head", one line per live message, ".". */
static void listing(struct mc_pop3_server *s, const char *head, bool uidl)
{
	struct mc_buf b;

	mc_buf_init(&b, NULL, 0);
	mc_buf_printf(&b, "+OK %s\r\n", head);
	for (size_t i = 0; i < s->count; i++) {
		if (s->msgs[i].deleted)
			continue;
		if (uidl)
			mc_buf_printf(&b, "%zu %s\r\n", i + 1, s->msgs[i].uid);
		else
			mc_buf_printf(&b, "%zu %llu\r\n", i + 1,
				      (unsigned long long)s->msgs[i].size);
		if (b.len >= FLUSH_AT) {
			pop3_write(s, b.data, b.len);
			mc_buf_clear(&b);
		}
	}
	mc_buf_append_str(&b, ".\r\n");
	pop3_write(s, b.data, b.len);
	mc_buf_free(&b);
}

/* list = "LIST" [SP msg] CRLF (RFC 1939 5) */
static void cmd_list(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t i, n;
	uint64_t octets;
	char t[96];

	(void)rest;
	if (argc == 0) {
		drop_totals(s, &n, &octets);
		snprintf(t, sizeof(t), "%zu message%s (%llu octets)", n,
			 n == 1 ? "" : "s", (unsigned long long)octets);
		listing(s, t, false);
	} else if (lookup(s, argv[0], &i)) {
		snprintf(t, sizeof(t), "%zu %llu", i + 1,
			 (unsigned long long)s->msgs[i].size);
		pop3_ok(s, t);
	}
}

/* uidl = "UIDL" [SP msg] CRLF (RFC 1939 7) */
static void cmd_uidl(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t i;
	char *t;

	(void)rest;
	if (argc == 0) {
		listing(s, "Unique-ID listing follows", true);
	} else if (lookup(s, argv[0], &i)) {
		t = mc_asprintf("%zu %s", i + 1, s->msgs[i].uid);
		pop3_ok(s, t);
		free(t);
	}
}

/* True when RETR/TOP can be served; sends the -ERR otherwise. */
static bool retr_available(struct mc_pop3_server *s)
{
	if (s->cb.retr != NULL)
		return true;
	pop3_err(s, MC_POP3_CODE_SYS_PERM, "Message retrieval not available");
	return false;
}

/* retr = "RETR" SP msg CRLF (RFC 1939 5) */
static void cmd_retr(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t i;

	(void)argc, (void)rest;
	if (retr_available(s) && lookup(s, argv[0], &i))
		pop3_retr_begin(s, i, -1);
}

/* top = "TOP" SP msg SP n CRLF, n a non-negative number of body lines
 * (RFC 1939 7) */
static void cmd_top(struct mc_pop3_server *s, char **argv, size_t argc,
		    char *rest)
{
	uint64_t lines;
	size_t i;

	(void)argc, (void)rest;
	if (!retr_available(s))
		return;
	if (!mc_str_to_u64(argv[1], &lines)) {
		pop3_err(s, MC_POP3_CODE_NONE, "Invalid number of lines");
		return;
	}
	if (lookup(s, argv[0], &i))
		pop3_retr_begin(s, i,
				lines > LONG_MAX ? LONG_MAX : (long)lines);
}

/* dele = "DELE" SP msg CRLF (RFC 1939 5) */
static void cmd_dele(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t i;
	char t[64];

	(void)argc, (void)rest;
	if (!lookup(s, argv[0], &i))
		return;
	s->msgs[i].deleted = true;
	snprintf(t, sizeof(t), "Message %zu deleted", i + 1);
	pop3_ok(s, t);
}

/* rset = "RSET" CRLF (RFC 1939 5) */
static void cmd_rset(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	size_t n;
	uint64_t octets;
	char t[96];

	(void)argv, (void)argc, (void)rest;
	for (size_t i = 0; i < s->count; i++)
		s->msgs[i].deleted = false;
	drop_totals(s, &n, &octets);
	snprintf(t, sizeof(t), "Maildrop has %zu message%s (%llu octets)", n,
		 n == 1 ? "" : "s", (unsigned long long)octets);
	pop3_ok(s, t);
}

/* USER: see -auth.c. */
static void cmd_user(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)rest;
	pop3_cmd_user(s, argv, argc);
}

/* PASS: the whole rest of the line is the password (RFC 1939 7). */
static void cmd_pass(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)argv, (void)argc;
	pop3_cmd_pass(s, rest);
}

/* APOP: see -auth.c. */
static void cmd_apop(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)rest;
	pop3_cmd_apop(s, argv, argc);
}

/* AUTH: see -auth.c. */
static void cmd_auth(struct mc_pop3_server *s, char **argv, size_t argc,
		     char *rest)
{
	(void)rest;
	pop3_cmd_auth(s, argv, argc);
}

static const struct cmd commands[] = {
	{"CAPA", IN_AUTH | IN_TRANS, 0, 0, false, "CAPA", cmd_capa},
	{"QUIT", IN_AUTH | IN_TRANS, 0, 0, false, "QUIT", cmd_quit},
	{"USER", IN_AUTH, 1, 1, false, "USER name", cmd_user},
	{"PASS", IN_AUTH, 1, MAX_ARGS, true, "PASS password", cmd_pass},
	{"APOP", IN_AUTH, 2, 2, false, "APOP name digest", cmd_apop},
	{"AUTH", IN_AUTH, 0, 2, false, "AUTH [mechanism [initial-response]]",
	 cmd_auth},
	{"STLS", IN_AUTH, 0, 0, false, "STLS", cmd_stls},
	{"NOOP", IN_TRANS, 0, 0, false, "NOOP", cmd_noop},
	{"STAT", IN_TRANS, 0, 0, false, "STAT", cmd_stat},
	{"LIST", IN_TRANS, 0, 1, false, "LIST [msg]", cmd_list},
	{"UIDL", IN_TRANS, 0, 1, false, "UIDL [msg]", cmd_uidl},
	{"RETR", IN_TRANS, 1, 1, false, "RETR msg", cmd_retr},
	{"TOP", IN_TRANS, 2, 2, false, "TOP msg lines", cmd_top},
	{"DELE", IN_TRANS, 1, 1, false, "DELE msg", cmd_dele},
	{"RSET", IN_TRANS, 0, 0, false, "RSET", cmd_rset},
};

/* The table entry for a keyword (case-insensitive), NULL if unknown. */
static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (mc_str_eq_icase(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* Splits args at spaces into argv; false when there are too many. */
static bool split_args(char *p, char **argv, size_t *argc_r)
{
	size_t n = 0;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (n == MAX_ARGS)
			return false;
		argv[n++] = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
	}
	*argc_r = n;
	return true;
}

/* Sends the readable refusal of a command valid only in the other state. */
static void wrong_state(struct mc_pop3_server *s, const struct cmd *c)
{
	char t[80];

	snprintf(t, sizeof(t), "%s is %s", c->name,
		 s->state == MC_POP3_STATE_AUTHORIZATION
			 ? "only valid after logging in"
			 : "not valid after logging in");
	pop3_err(s, MC_POP3_CODE_NONE, t);
}

/* command = keyword *(SP param) CRLF; keywords are case-insensitive, 3-4
 * characters (RFC 1939 3, RFC 2449 3). */
void pop3_cmd_dispatch(struct mc_pop3_server *s, char *line, size_t len)
{
	char *argv[MAX_ARGS], *rest = line + strcspn(line, " ");
	const struct cmd *c;
	size_t argc = 0;
	char t[80];

	(void)len;
	if (*rest != '\0')
		*rest++ = '\0';
	c = find_cmd(line);
	if (c == NULL) {
		pop3_err(s, MC_POP3_CODE_NONE, "Unknown command");
		return;
	}
	if ((c->states & (1u << s->state)) == 0) {
		wrong_state(s, c);
		return;
	}
	if (c->raw) { /* PASS: passwords may hold spaces */
		c->fn(s, NULL, 0, rest);
		return;
	}
	if (!split_args(rest, argv, &argc) || argc < c->min_args ||
	    argc > c->max_args) {
		snprintf(t, sizeof(t), "Syntax: %s", c->usage);
		pop3_err(s, MC_POP3_CODE_NONE, t);
		return;
	}
	c->fn(s, argv, argc, rest);
}
