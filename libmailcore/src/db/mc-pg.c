/* mc-pg: one libpq connection with a per-connection prepared statement
 * cache, one transparent reconnect outside transactions, SQLSTATE-based
 * error classes and a retrying transaction helper. The conninfo may hold
 * a password: it never appears in error messages or logs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailcore/mc-error.h"
#include "mailcore/mc-log.h"
#include "mailcore/mc-pg.h"
#include "mailcore/mc-pool.h"
#include "mailcore/mc-str.h"

#define STMT_BUCKETS 128
#define TXN_ATTEMPTS 3

struct stmt {
	struct stmt *next;
	char *sql;
	char name[24];
};

struct mc_pg {
	char *conninfo;
	char *application_name;
	unsigned connect_timeout_s;
	unsigned statement_timeout_ms;

	PGconn *conn;
	struct stmt *stmts[STMT_BUCKETS];
	unsigned next_stmt_id;
	bool in_txn;
	char last_sqlstate[6];
};

/* FNV-1a hash of the SQL text, for the statement cache. */
static unsigned sql_hash(const char *sql)
{
	uint32_t h = 2166136261u;

	for (; *sql != '\0'; sql++)
		h = (h ^ (unsigned char)*sql) * 16777619u;
	return h % STMT_BUCKETS;
}

/* Forgets every prepared statement (they died with the connection). */
static void stmts_clear(struct mc_pg *pg)
{
	for (unsigned i = 0; i < STMT_BUCKETS; i++) {
		while (pg->stmts[i] != NULL) {
			struct stmt *s = pg->stmts[i];

			pg->stmts[i] = s->next;
			free(s->sql);
			free(s);
		}
	}
	pg->next_stmt_id = 0;
}

/* The cached statement for sql, or NULL. */
static struct stmt *stmt_find(struct mc_pg *pg, const char *sql)
{
	struct stmt *s = pg->stmts[sql_hash(sql)];

	while (s != NULL && strcmp(s->sql, sql) != 0)
		s = s->next;
	return s;
}

/* Adds sql to the cache under the next free name. */
static struct stmt *stmt_add(struct mc_pg *pg, const char *sql)
{
	struct stmt *s = mc_calloc(1, sizeof(*s));
	unsigned b = sql_hash(sql);

	s->sql = mc_strdup(sql);
	snprintf(s->name, sizeof(s->name), "mc_%u", ++pg->next_stmt_id);
	s->next = pg->stmts[b];
	pg->stmts[b] = s;
	return s;
}

/* Copies a libpq message into buf, folding newlines and tabs into single
 * spaces and trimming the ends. */
static void fold_message(const char *msg, char *buf, size_t size)
{
	size_t n = 0;
	bool space = false;

	for (; msg != NULL && *msg != '\0' && n + 1 < size; msg++) {
		if (*msg == '\n' || *msg == '\r' || *msg == '\t' ||
		    *msg == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < size)
			buf[n++] = ' ';
		space = false;
		buf[n++] = *msg;
	}
	buf[n] = '\0';
}

/* Closes the connection and drops everything tied to it. */
static void disconnect(struct mc_pg *pg)
{
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->conn = NULL;
	stmts_clear(pg);
}

/* Creates a handle; does not connect. */
struct mc_pg *mc_pg_create(const struct mc_pg_settings *set)
{
	struct mc_pg *pg = mc_calloc(1, sizeof(*pg));
	unsigned ms =
		set->connect_timeout_ms != 0 ? set->connect_timeout_ms : 5000;

	pg->conninfo = mc_strdup(set->conninfo != NULL ? set->conninfo : "");
	pg->application_name =
		mc_strdup(set->application_name != NULL ? set->application_name
							: "mailcore");
	pg->connect_timeout_s = (ms + 999) / 1000;
	pg->statement_timeout_ms = set->statement_timeout_ms;
	return pg;
}

/* Closes the connection and frees the handle; accepts NULL. */
void mc_pg_destroy(struct mc_pg **pgp)
{
	struct mc_pg *pg = *pgp;

	if (pg == NULL)
		return;
	*pgp = NULL;
	disconnect(pg);
	mc_secure_zero(pg->conninfo, strlen(pg->conninfo));
	free(pg->conninfo);
	free(pg->application_name);
	free(pg);
}

/* Opens a new connection with the settings' keywords layered over the
 * conninfo string or URI. */
static PGconn *open_conn(struct mc_pg *pg)
{
	const char *keys[5], *vals[5];
	char timeout[16], options[48];
	int n = 0;

	snprintf(timeout, sizeof(timeout), "%u", pg->connect_timeout_s);
	keys[n] = "dbname", vals[n++] = pg->conninfo;
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name", vals[n++] = pg->application_name;
	if (pg->statement_timeout_ms != 0) {
		snprintf(options, sizeof(options), "-c statement_timeout=%u",
			 pg->statement_timeout_ms);
		keys[n] = "options", vals[n++] = options;
	}
	keys[n] = NULL, vals[n] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

/* Sends server notices (NOTICE, WARNING) to the debug log, not stderr. */
static void notice_to_log(void *ctx, const char *message)
{
	char msg[400];

	(void)ctx;
	fold_message(message, msg, sizeof(msg));
	mc_log_debug("database: %s", msg);
}

/* Checks the conninfo syntax up front: libpq's parse errors may quote the
 * string, password included, so they are never passed on. */
static bool conninfo_valid(const char *conninfo)
{
	PQconninfoOption *opts;
	char *errmsg = NULL;

	if (*conninfo == '\0')
		return true;
	opts = PQconninfoParse(conninfo, &errmsg);
	PQfreemem(errmsg);
	if (opts == NULL)
		return false;
	PQconninfoFree(opts);
	return true;
}

/* Connects if not connected or the connection went bad. */
int mc_pg_connect(struct mc_pg *pg, struct mc_error *err)
{
	char msg[400];

	if (mc_pg_is_connected(pg))
		return 0;
	disconnect(pg);
	if (!conninfo_valid(pg->conninfo)) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "database: invalid connection string");
		return -1;
	}
	pg->conn = open_conn(pg);
	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(pg->conn, notice_to_log, NULL);
		return 0;
	}
	fold_message(pg->conn != NULL ? PQerrorMessage(pg->conn)
				      : "out of memory",
		     msg, sizeof(msg));
	disconnect(pg);
	mc_error_set(err, MC_ERR_TEMPORARY, "database: %s", msg);
	return -1;
}

/* True when a connection is open and healthy. */
bool mc_pg_is_connected(const struct mc_pg *pg)
{
	return pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK;
}

/* Makes sure a connection exists; inside a transaction a lost connection
 * cannot be replaced. */
static int ensure_conn(struct mc_pg *pg, struct mc_error *err)
{
	if (mc_pg_is_connected(pg))
		return 0;
	if (pg->in_txn) {
		mc_error_set(err, MC_ERR_TEMPORARY,
			     "database: connection lost inside a transaction");
		return -1;
	}
	return mc_pg_connect(pg, err);
}

/* True when a result says the connection is gone (or never answered). */
static bool conn_lost(struct mc_pg *pg, const PGresult *res)
{
	const char *state;

	if (res == NULL || PQstatus(pg->conn) != CONNECTION_OK)
		return true;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state != NULL &&
	       (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
		strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0);
}

/* True when a result is a success. */
static bool res_ok(const PGresult *res)
{
	ExecStatusType st =
		res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
	       st == PGRES_SINGLE_TUPLE;
}

/* Prepares sql on first use, then executes it. */
static PGresult *exec_prepared(struct mc_pg *pg, const char *sql, int nparams,
			       const char *const *params)
{
	struct stmt *s = stmt_find(pg, sql);
	PGresult *res;

	if (s == NULL) {
		char name[24];

		snprintf(name, sizeof(name), "mc_%u", pg->next_stmt_id + 1);
		res = PQprepare(pg->conn, name, sql, nparams, NULL);
		if (!res_ok(res))
			return res;
		PQclear(res);
		s = stmt_add(pg, sql);
	}
	return PQexecPrepared(pg->conn, s->name, nparams, params, NULL, NULL,
			      0);
}

/* How run() sends a statement. */
enum run_mode { RUN_PREPARED, RUN_ONCE, RUN_SCRIPT };

/* Sends sql the way mode says. */
static PGresult *exec_mode(struct mc_pg *pg, const char *sql, int nparams,
			   const char *const *params, enum run_mode mode)
{
	if (mode == RUN_PREPARED)
		return exec_prepared(pg, sql, nparams, params);
	if (mode == RUN_ONCE)
		return PQexecParams(pg->conn, sql, nparams, NULL, params, NULL,
				    NULL, 0);
	return PQexec(pg->conn, sql);
}

/* Runs sql (prepared, once with parameters, or as a plain script),
 * reconnecting and retrying once when the connection was lost outside a
 * transaction. */
static PGresult *run(struct mc_pg *pg, const char *sql, int nparams,
		     const char *const *params, enum run_mode mode,
		     struct mc_error *err)
{
	PGresult *res = NULL;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (ensure_conn(pg, err) < 0)
			return NULL;
		res = exec_mode(pg, sql, nparams, params, mode);
		if (res_ok(res))
			return res;
		if (attempt > 0 || pg->in_txn || !conn_lost(pg, res))
			break;
		mc_log_warning("database: connection lost, reconnecting");
		PQclear(res);
		res = NULL;
		disconnect(pg);
	}
	mc_pg_error_from_result(pg, res, err);
	PQclear(res);
	return NULL;
}

/* Runs a prepared statement; the caller PQclear()s the result. */
PGresult *mc_pg_query(struct mc_pg *pg, const char *sql, int nparams,
		      const char *const *params, struct mc_error *err)
{
	return run(pg, sql, nparams, params, RUN_PREPARED, err);
}

/* Runs a statement with parameters without keeping it prepared. */
PGresult *mc_pg_query_once(struct mc_pg *pg, const char *sql, int nparams,
			   const char *const *params, struct mc_error *err)
{
	return run(pg, sql, nparams, params, RUN_ONCE, err);
}

/* Runs a prepared statement and returns the number of rows affected. */
long mc_pg_exec(struct mc_pg *pg, const char *sql, int nparams,
		const char *const *params, struct mc_error *err)
{
	PGresult *res = run(pg, sql, nparams, params, RUN_PREPARED, err);
	long n;

	if (res == NULL)
		return -1;
	n = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}

/* Runs a multi-statement script without preparing it. */
int mc_pg_exec_script(struct mc_pg *pg, const char *sql, struct mc_error *err)
{
	PGresult *res = run(pg, sql, 0, NULL, RUN_SCRIPT, err);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Opens a transaction. */
int mc_pg_begin(struct mc_pg *pg, struct mc_error *err)
{
	if (pg->in_txn) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "database: transaction already open");
		return -1;
	}
	if (mc_pg_exec_script(pg, "BEGIN", err) < 0)
		return -1;
	pg->in_txn = true;
	return 0;
}

/* Commits the open transaction; a transaction the server already aborted
 * comes back as ROLLBACK and is an error. */
int mc_pg_commit(struct mc_pg *pg, struct mc_error *err)
{
	PGresult *res;
	bool committed;

	res = run(pg, "COMMIT", 0, NULL, false, err);
	pg->in_txn = false;
	if (res == NULL)
		return -1;
	committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
	PQclear(res);
	if (!committed) {
		mc_error_set(err, MC_ERR_PERMANENT,
			     "database: transaction was rolled back");
		return -1;
	}
	return 0;
}

/* Rolls back the open transaction, if the connection still exists. */
void mc_pg_rollback(struct mc_pg *pg)
{
	if (mc_pg_is_connected(pg) &&
	    PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	pg->in_txn = false;
}

/* True between mc_pg_begin and mc_pg_commit/mc_pg_rollback. */
bool mc_pg_in_transaction(const struct mc_pg *pg)
{
	return pg->in_txn;
}

/* True for the SQLSTATEs worth retrying a whole transaction for. */
static bool txn_retryable(const char *state)
{
	return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

/* One attempt of mc_pg_transaction: BEGIN, fn, COMMIT. */
static int txn_attempt(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		       struct mc_error *err)
{
	int ret;

	if (mc_pg_begin(pg, err) < 0)
		return -1;
	pg->last_sqlstate[0] = '\0';
	ret = fn(pg, ctx, err);
	if (ret < 0) {
		mc_pg_rollback(pg);
		if (err != NULL && err->cls == MC_ERR_NONE)
			mc_error_set(err, MC_ERR_PERMANENT,
				     "database: transaction failed");
		return -1;
	}
	if (mc_pg_commit(pg, err) < 0)
		return -1;
	return ret;
}

/* Runs fn in a transaction, retrying on serialization failure/deadlock. */
int mc_pg_transaction(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		      struct mc_error *err)
{
	struct mc_error local;
	int ret = -1;

	for (int attempt = 1; attempt <= TXN_ATTEMPTS; attempt++) {
		mc_error_clear(&local);
		pg->last_sqlstate[0] = '\0';
		ret = txn_attempt(pg, fn, ctx, &local);
		if (ret >= 0)
			return ret;
		if (!txn_retryable(pg->last_sqlstate))
			break;
	}
	mc_error_set(err, local.cls, "%s", local.msg);
	return -1;
}

/* The error class of an SQLSTATE. */
enum mc_error_class mc_pg_sqlstate_class(const char *s)
{
	static const char *const temporary[] = {
		"57P01", "57P02", "57P03", "57014", "40001", "40P01", "55P03",
	};

	if (s == NULL || strlen(s) != 5)
		return MC_ERR_PERMANENT;
	if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0)
		return MC_ERR_TEMPORARY;
	for (size_t i = 0; i < sizeof(temporary) / sizeof(*temporary); i++) {
		if (strcmp(s, temporary[i]) == 0)
			return MC_ERR_TEMPORARY;
	}
	if (strcmp(s, "23505") == 0)
		return MC_ERR_EXISTS;
	if (strcmp(s, MC_PG_SQLSTATE_LIMIT) == 0)
		return MC_ERR_LIMIT;
	if (strcmp(s, "23503") == 0)
		return MC_ERR_NOTFOUND;
	if (strncmp(s, "23", 2) == 0 || strncmp(s, "22", 2) == 0)
		return MC_ERR_INVALID;
	return MC_ERR_PERMANENT;
}

/* Sets err from a failed result, or from the connection when res is NULL
 * or carries no SQLSTATE. */
void mc_pg_error_from_result(struct mc_pg *pg, const PGresult *res,
			     struct mc_error *err)
{
	const char *state = NULL, *primary = NULL, *detail = NULL;
	bool bad = pg == NULL || !mc_pg_is_connected(pg);
	enum mc_error_class cls;
	char msg[400];

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		if (primary == NULL)
			primary = PQresultErrorMessage(res);
		detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	}
	if ((primary == NULL || *primary == '\0') && pg != NULL &&
	    pg->conn != NULL)
		primary = PQerrorMessage(pg->conn);
	fold_message(primary, msg, sizeof(msg));
	if (pg != NULL)
		snprintf(pg->last_sqlstate, sizeof(pg->last_sqlstate), "%s",
			 state != NULL ? state : "");
	cls = state != NULL ? mc_pg_sqlstate_class(state) : MC_ERR_PERMANENT;
	if (bad || (state == NULL && res == NULL))
		cls = MC_ERR_TEMPORARY;
	if (cls == MC_ERR_LIMIT && detail != NULL) {
		mc_error_set(err, cls, "%s", detail);
		return;
	}
	mc_error_set(err, cls, "database: %s",
		     msg[0] != '\0' ? msg : "unknown error");
}

const char *mc_pg_id_array(struct mc_pool *pool, const int64_t *ids, size_t n)
{
	if (ids == NULL)
		return NULL;
	struct mc_buf b;
	mc_buf_init(&b, pool, 0);
	mc_buf_append_c(&b, '{');
	for (size_t i = 0; i < n; i++)
		mc_buf_printf(&b, "%s%lld", i > 0 ? "," : "",
			      (long long)ids[i]);
	mc_buf_append_c(&b, '}');
	return mc_buf_cstr(&b);
}
