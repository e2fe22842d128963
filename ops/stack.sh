#!/usr/bin/env bash
# The dev stack: a real PostgreSQL 15 and a real Redis on loopback, with
# their data under $MAILCORE_STATE (default ./var).
#   ops/stack.sh start    start both (idempotent), create role and database
#   ops/stack.sh stop     stop both by PID
#   ops/stack.sh status   print their state; exit 0 only if both run
# Ports: MAILCORE_DEV_PG_PORT (55432), MAILCORE_DEV_REDIS_PORT (56379), remembered
# in $STATE/stack.env. MAILCORE_STACK_FAST=1 turns off fsync (tests).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

pg_pid() {
	[[ -f $PG_DATA/postmaster.pid ]] || return 1
	local pid
	pid=$(head -1 "$PG_DATA/postmaster.pid")
	kill -0 "$pid" 2>/dev/null && echo "$pid"
}

redis_pid() {
	[[ -f $REDIS_DIR/redis.pid ]] || return 1
	local pid
	pid=$(cat "$REDIS_DIR/redis.pid")
	kill -0 "$pid" 2>/dev/null && echo "$pid"
}

psql_admin() {
	as_user postgres "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres \
		-d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

pg_init() {
	[[ -f $PG_DATA/PG_VERSION ]] && return 0
	mkdir -p "$PG_DATA" "$PG_SOCK"
	chmod 700 "$PG_DATA"
	give_to postgres "$STATE/pg"
	as_user postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 \
		--locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
		--no-sync >"$LOG_DIR/initdb.log" 2>&1 ||
		{ cat "$LOG_DIR/initdb.log" >&2; return 1; }
}

pg_start() {
	if pg_pid >/dev/null; then
		return 0
	fi
	pg_init
	local opts="-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1"
	opts+=" -c max_connections=200"
	[[ ${MAILCORE_STACK_FAST:-0} == 1 ]] &&
		opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	touch "$LOG_DIR/postgresql.log"
	give_to postgres "$LOG_DIR/postgresql.log" "$PG_SOCK"
	as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgresql.log" \
		-w -t 60 -o "$opts" start >/dev/null ||
		{ tail -20 "$LOG_DIR/postgresql.log" >&2; return 1; }
	pg_provision
}

# The mailcore role (password in $STATE/secrets/pg) and its database, and
# mailcore_api, the role API transactions take on under row-level
# security (schema/0003_admin.sql).
pg_provision() {
	local pw
	pw=$(secret pg)
	psql_admin <<SQL
SELECT 'CREATE ROLE mailcore LOGIN' WHERE NOT EXISTS
	(SELECT 1 FROM pg_roles WHERE rolname = 'mailcore') \gexec
ALTER ROLE mailcore PASSWORD '$pw';
SELECT 'CREATE ROLE mailcore_api NOLOGIN' WHERE NOT EXISTS
	(SELECT 1 FROM pg_roles WHERE rolname = 'mailcore_api') \gexec
GRANT mailcore_api TO mailcore;
SELECT 'CREATE DATABASE mailcore OWNER mailcore' WHERE NOT EXISTS
	(SELECT 1 FROM pg_database WHERE datname = 'mailcore') \gexec
SQL
}

redis_start() {
	if redis_pid >/dev/null; then
		return 0
	fi
	mkdir -p "$REDIS_DIR"
	touch "$LOG_DIR/redis.log"
	give_to redis "$REDIS_DIR" "$LOG_DIR/redis.log"
	local pw
	pw=$(secret redis)
	# The password goes through stdin, not the command line.
	printf 'requirepass %s\n' "$pw" | as_user redis redis-server - \
		--port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
		--dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
		--logfile "$LOG_DIR/redis.log" --daemonize yes \
		--save '' --appendonly no >/dev/null
	for _ in $(seq 1 200); do
		REDISCLI_AUTH=$pw redis-cli -p "$REDIS_PORT" ping 2>/dev/null |
			grep -q PONG && return 0
		sleep 0.05
	done
	echo "stack: redis did not start; see $LOG_DIR/redis.log" >&2
	return 1
}

# Sends SIGTERM-like signal to pid and waits up to 30 s for it to end.
stop_pid() {
	local pid=$1 sig=$2
	kill "-$sig" "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 600); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_start() {
	mkdir -p "$LOG_DIR"
	chmod 755 "$STATE"
	save_stack_env
	pg_start
	redis_start
	echo "stack: postgresql on 127.0.0.1:$PG_PORT, redis on 127.0.0.1:$REDIS_PORT"
}

cmd_stop() {
	local pid
	if pid=$(redis_pid); then stop_pid "$pid" TERM; fi
	if pid=$(pg_pid); then stop_pid "$pid" INT; fi
	echo "stack: stopped"
}

cmd_status() {
	local rc=0 pid
	if pid=$(pg_pid); then
		echo "postgresql: running (pid $pid, 127.0.0.1:$PG_PORT)"
	else
		echo "postgresql: stopped"; rc=3
	fi
	if pid=$(redis_pid); then
		echo "redis: running (pid $pid, 127.0.0.1:$REDIS_PORT)"
	else
		echo "redis: stopped"; rc=3
	fi
	return $rc
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
