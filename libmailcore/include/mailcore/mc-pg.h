/* mc-pg: PostgreSQL access for one thread (each worker owns one). Every
 * query is a prepared statement, prepared on first use per connection and
 * again after a reconnect. Errors are classed by SQLSTATE: connection
 * loss, timeouts, serialization failures and deadlocks are TEMPORARY;
 * unique violations are EXISTS; data and constraint errors are INVALID. */
#ifndef MC_PG_H
#define MC_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "mc-error.h"

struct mc_pg;

struct mc_pg_settings {
	const char *conninfo;	       /* libpq "key=value" string or URI */
	unsigned connect_timeout_ms;   /* 0 = 5000 */
	unsigned statement_timeout_ms; /* 0 = server default */
	const char *application_name;  /* NULL = "mailcore" */
};

/* Does not connect yet. The caller owns the result; conninfo is copied. */
struct mc_pg *mc_pg_create(const struct mc_pg_settings *set);
void mc_pg_destroy(struct mc_pg **pg);

/* Connects if not connected (or the connection went bad). 0 or -1. */
int mc_pg_connect(struct mc_pg *pg, struct mc_error *err);
bool mc_pg_is_connected(const struct mc_pg *pg);

/* Runs sql as a prepared statement with text parameters (NULL = SQL
 * NULL). Reconnects once if the connection was lost outside a
 * transaction. Returns the result (caller PQclear()s it) or NULL with err
 * classed. */
PGresult *mc_pg_query(struct mc_pg *pg, const char *sql, int nparams,
		      const char *const *params, struct mc_error *err);
/* Like mc_pg_query, but the statement is not kept prepared: for SQL
 * built per request (searches), which would otherwise fill the cache. */
PGresult *mc_pg_query_once(struct mc_pg *pg, const char *sql, int nparams,
			   const char *const *params, struct mc_error *err);
/* Like mc_pg_query for statements whose rows do not matter: returns the
 * number of rows affected, or -1. */
long mc_pg_exec(struct mc_pg *pg, const char *sql, int nparams,
		const char *const *params, struct mc_error *err);
/* Runs a multi-statement script without preparing it (migrations). */
int mc_pg_exec_script(struct mc_pg *pg, const char *sql, struct mc_error *err);

/* Transactions: begin, then commit or rollback. */
int mc_pg_begin(struct mc_pg *pg, struct mc_error *err);
int mc_pg_commit(struct mc_pg *pg, struct mc_error *err);
void mc_pg_rollback(struct mc_pg *pg);
bool mc_pg_in_transaction(const struct mc_pg *pg);

/* Runs fn inside BEGIN/COMMIT; rolls back if fn returns -1. Retries the
 * whole transaction up to 3 times on serialization failure or deadlock.
 * Returns fn's result (>= 0) or -1 with err set. */
typedef int mc_pg_txn_fn(struct mc_pg *pg, void *ctx, struct mc_error *err);
int mc_pg_transaction(struct mc_pg *pg, mc_pg_txn_fn *fn, void *ctx,
		      struct mc_error *err);

/* The SQLSTATE the schema's limit triggers raise (mc_limit_fail): the
 * error is MC_ERR_LIMIT and its message is the DETAIL, a JSON object
 * {"limit", "level", "name", "max"}. */
#define MC_PG_SQLSTATE_LIMIT "MC001"

/* The error class of an SQLSTATE ("23505" -> MC_ERR_EXISTS, ...). */
enum mc_error_class mc_pg_sqlstate_class(const char *sqlstate);
/* Sets err from a failed result (or the connection when res is NULL). */
void mc_pg_error_from_result(struct mc_pg *pg, const PGresult *res,
			     struct mc_error *err);

struct mc_pool;
/* "{1,2,3}": n 64-bit ids as an array literal for a bigint[] parameter,
 * from pool; NULL when ids is NULL (SQL NULL). */
const char *mc_pg_id_array(struct mc_pool *pool, const int64_t *ids, size_t n);

#endif
