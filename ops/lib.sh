# Shared by the ops scripts: where the state lives and which ports to use.
# Source it; it defines STATE and the PG_*/REDIS_* variables, remembering
# the ports chosen at first start in $STATE/stack.env.

OPS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_DIR=$(dirname "$OPS_DIR")
STATE=${MAILCORE_STATE:-./var}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
export MAILCORE_STATE=$STATE

if [[ -f $STATE/stack.env ]]; then
	# shellcheck disable=SC1091
	source "$STATE/stack.env"
fi
PG_PORT=${PG_PORT:-${MAILCORE_DEV_PG_PORT:-55432}}
REDIS_PORT=${REDIS_PORT:-${MAILCORE_DEV_REDIS_PORT:-56379}}
PORT_OFFSET=${PORT_OFFSET:-${MAILCORE_DEV_PORT_OFFSET:-0}}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DATA=$STATE/pg/data
PG_SOCK=$STATE/pg/run
REDIS_DIR=$STATE/redis
LOG_DIR=$STATE/log

# Runs a command as the given service user when we are root (initdb and
# postgres refuse to run as root), as ourselves otherwise.
as_user() {
	local user=$1
	shift
	if [[ $(id -u) == 0 ]] && id "$user" >/dev/null 2>&1; then
		runuser -u "$user" -- "$@"
	else
		"$@"
	fi
}

# Gives a path to the service user when we are root.
give_to() {
	local user=$1
	shift
	if [[ $(id -u) == 0 ]] && id "$user" >/dev/null 2>&1; then
		chown -R "$user:" "$@"
	fi
}

# A random secret of 32 hex characters.
new_secret() {
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# The secret stored under name, created on first use (mode 600).
secret() {
	local f=$STATE/secrets/$1
	if [[ ! -s $f ]]; then
		mkdir -p "$STATE/secrets"
		chmod 700 "$STATE/secrets"
		(umask 077 && new_secret > "$f")
	fi
	cat "$f"
}

save_stack_env() {
	printf 'PG_PORT=%s\nREDIS_PORT=%s\nPORT_OFFSET=%s\n' \
		"$PG_PORT" "$REDIS_PORT" "$PORT_OFFSET" > "$STATE/stack.env"
}
