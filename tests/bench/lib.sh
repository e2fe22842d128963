# shellcheck shell=bash
# Shared by the benchmarks in tests/bench/ (source it after cd to the
# top of the repo): messages, arithmetic, ports, memory and CPU sampling
# of process trees, Debian packages installed without starting services,
# a private mailcore stack with its daemons, a private Dovecot, and the
# machine line of the reports. The caller sets WORK (a mktemp dir),
# KEEP, BIN and failed=0, and calls bench_cleanup from its EXIT trap.

# The Python clients leave no __pycache__ in the tree.
export PYTHONDONTWRITEBYTECODE=1

sampler_pid=
mc_state=''
MC_DAEMON_PIDS=()
dc_dir='' dc_master=''

# Prints a line for the user on stderr.
say() {
	echo "bench: $*" >&2
}

# Prints a failure in a way nobody can miss and marks the run failed.
fail_loudly() {
	failed=1
	{
		echo
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		echo "!!! BENCH FAILURE: $*"
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
		echo
	} >&2
}

# Seconds since the epoch with microseconds.
now() {
	echo "$EPOCHREALTIME"
}

# awk arithmetic on its arguments: calc EXPR [VALUES...] with $1.. in EXPR.
calc() {
	local expr=$1
	shift
	awk "BEGIN { \$0 = \"$*\"; printf \"%s\", $expr }"
}

# Stops what the lib started and removes WORK unless the run failed or
# KEEP=1. Call it from the EXIT trap (after the script's own stops).
bench_cleanup() {
	set +e
	stop_sampler
	stop_mailcore
	stop_dovecot
	if ((failed)) || [[ $KEEP == 1 ]]; then
		say "kept $WORK for inspection"
	else
		rm -rf "$WORK"
	fi
}

# --- tools --------------------------------------------------------------

# Installs Debian packages that are missing, without starting any
# service (a policy-rc.d answering 101 while apt runs). Debconf answers
# can be given first: ensure_debs [--preseed "LINE"]... PKG...
ensure_debs() {
	local preseed=() missing=() p st
	while [[ ${1:-} == --preseed ]]; do
		preseed+=("$2")
		shift 2
	done
	for p in "$@"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) != 0 ]]; then
		say "${missing[*]} not installed and we are not root"
		return 1
	fi
	say "installing the Debian package(s) ${missing[*]} (no service start)"
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	for p in "${preseed[@]}"; do
		echo "$p" | debconf-set-selections
	done
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 ||
		rc=$?
	((made_policy)) && rm -f /usr/sbin/policy-rc.d
	if ((rc != 0)); then
		tail -20 "$WORK/apt.log" >&2
		return 1
	fi
}

# A free loopback port.
free_port() {
	python3 -c 'import sys; sys.path.insert(0, "tests/integration")
import ports; print(ports.free_port())'
}

# Waits until something accepts TCP connections on 127.0.0.1:port.
wait_port() {
	local port=$1
	for _ in $(seq 1 400); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# --- memory and CPU sampling ------------------------------------------------

# Peaks of the summed RSS and PSS (KiB) of the root pids and their
# direct children, sampled every 0.2 s into FILE.rss and FILE.pss until
# stopped: start_sampler FILE PID...
start_sampler() {
	local out=$1
	shift
	local pids=$*
	(
		peak_rss=0 peak_pss=0
		while :; do
			sel=""
			for p in $pids; do sel+=" -p $p --ppid $p"; done
			files=()
			# shellcheck disable=SC2086
			for p in $(ps -o pid= $sel 2>/dev/null); do
				files+=("/proc/$p/smaps_rollup")
			done
			read -r rss pss < <(awk '/^Rss:/ {r += $2} /^Pss:/ {p += $2}
				END {print r + 0, p + 0}' "${files[@]}" 2>/dev/null ||
				echo 0 0)
			((rss > peak_rss)) && { peak_rss=$rss; echo "$rss" > "$out.rss"; }
			((pss > peak_pss)) && { peak_pss=$pss; echo "$pss" > "$out.pss"; }
			sleep 0.2
		done
	) &
	sampler_pid=$!
}

# CPU seconds used so far by the root pids, their direct children and
# the children they have reaped: cpu_secs PID...
cpu_secs() {
	local sel="" files=() p
	for p in "$@"; do sel+=" -p $p --ppid $p"; done
	# shellcheck disable=SC2086
	for p in $(ps -o pid= $sel 2>/dev/null); do files+=("/proc/$p/stat"); done
	awk -v roots=" $* " -v hz="$(getconf CLK_TCK)" '{
		pid = $1; sub(/^.*\) /, "")
		t += $12 + $13
		if (index(roots, " " pid " ")) t += $14 + $15
	} END { printf "%.1f", t / hz }' "${files[@]}" 2>/dev/null || echo -
}

stop_sampler() {
	if [[ -n $sampler_pid ]]; then
		kill "$sampler_pid" 2>/dev/null
		wait "$sampler_pid" 2>/dev/null
		sampler_pid=
	fi
}

# KiB in a file as MiB with one decimal, or "-".
mib() {
	[[ -s $1 ]] && calc 'sprintf("%.1f", $1 / 1024)' "$(cat "$1")" ||
		echo -
}

# --- mailcore -------------------------------------------------------------

mc_psql() {
	runuser -u postgres -- /usr/lib/postgresql/15/bin/psql \
		-h "$mc_state/pg/run" -p "$MAILCORE_DEV_PG_PORT" -U postgres \
		-d mailcore -qAt -v ON_ERROR_STOP=1 "$@"
}

mailctl() {
	"$BIN/mailctl" -c "$mc_state/mailcore.conf" "$@"
}

# A private state dir WORK/mailcore with the stack (durable PostgreSQL:
# fsync on), the schema, tenant "bench", domain DOMAIN and users
# user1..userN with passwords bench-pw-K: mailcore_setup USERS WORKERS.
# Sets MC_PORT (SMTP MX) and MC_IMAP_PORT (IMAP).
mailcore_setup() {
	local users=$1 workers=$2
	mc_state=$WORK/mailcore
	mkdir -p "$mc_state"
	export MAILCORE_STATE=$mc_state MAILCORE_BIN=$BIN
	unset MAILCORE_STACK_FAST
	read -r MAILCORE_DEV_PG_PORT MAILCORE_DEV_REDIS_PORT \
		MAILCORE_DEV_PORT_OFFSET < <(python3 tests/integration/ports.py)
	export MAILCORE_DEV_PG_PORT MAILCORE_DEV_REDIS_PORT MAILCORE_DEV_PORT_OFFSET
	ops/mkconfig.sh >/dev/null
	ops/stack.sh start >/dev/null
	local conf=$mc_state/mailcore.conf
	sed -i "s/^workers = .*/workers = $workers/" "$conf"
	printf '\n[store]\nfsync = yes\n' >> "$conf"
	mailctl db migrate >/dev/null
	mailctl tenant add bench >/dev/null
	mailctl domain add "$DOMAIN" --tenant bench >/dev/null
	say "mailcore: creating $users users"
	for ((u = 1; u <= users; u++)); do
		mailctl user add "user$u@$DOMAIN" --password "bench-pw-$u" >/dev/null
	done
	# shellcheck disable=SC2034 # used by the scripts
	MC_PORT=$((2525 + MAILCORE_DEV_PORT_OFFSET))
	# shellcheck disable=SC2034
	MC_IMAP_PORT=$((2143 + MAILCORE_DEV_PORT_OFFSET))
}

# Starts a daemon of BIN (mc-smtpd, mc-imapd...) with the private config
# and waits for its ready line; sets MC_PID. Extra MAILCORE_* settings
# can come before the name: mailcore_start [VAR=VALUE]... DAEMON.
mailcore_start() {
	local envs=()
	while [[ $1 == *=* ]]; do
		envs+=("$1")
		shift
	done
	local name=$1 log=$mc_state/log/$1.log
	env "${envs[@]}" setsid "$BIN/$name" -c "$mc_state/mailcore.conf" \
		>>"$log" 2>&1 &
	MC_PID=$!
	MC_DAEMON_PIDS+=("$MC_PID")
	for _ in $(seq 1 400); do
		grep -q " ready:" "$log" && return 0
		kill -0 "$MC_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail_loudly "$name did not start; $log:"
	tail -20 "$log" >&2
	return 1
}

# Stops one daemon by pid (SIGTERM, then waits for it).
mailcore_stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# Stops every daemon started by mailcore_start, then the stack.
stop_mailcore() {
	local p
	for p in "${MC_DAEMON_PIDS[@]}"; do
		mailcore_stop_pid "$p"
	done
	MC_DAEMON_PIDS=()
	MC_PID=
	if [[ -n $mc_state ]]; then
		ops/stack.sh stop >/dev/null 2>&1
		mc_state=
	fi
}

# The pids of the stack's PostgreSQL postmaster and Redis.
mailcore_store_pids() {
	echo "$(head -1 "$mc_state/pg/data/postmaster.pid")" \
		"$(cat "$mc_state/redis/redis.pid")"
}

# Reports a dead daemon and the end of its log: mailcore_check_alive
# PID NAME.
mailcore_check_alive() {
	local pid=$1 name=$2
	kill -0 "$pid" 2>/dev/null && return 0
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	fail_loudly "$name died (exit status $rc); log $mc_state/log/$name.log:"
	tail -30 "$mc_state/log/$name.log" >&2
	return 1
}

# Warning and error lines of a daemon's log, grouped, most frequent
# first: mailcore_log_problems NAME [MAX].
mailcore_log_problems() {
	grep -E ' (error|warning|crit|alert)' "$mc_state/log/$1.log" 2>/dev/null |
		sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head "-${2:-10}"
}

# --- Dovecot --------------------------------------------------------------

ensure_dovecot() {
	ensure_debs dovecot-core dovecot-imapd
}

# A private Dovecot in WORK/dovecot: its own config, base_dir, state_dir,
# logs, and maildirs (maildir:WORK/dovecot/mail/%u, owned by nobody);
# users user1..userN@DOMAIN with the same passwords as mailcore's in a
# passwd-file, a static userdb (nobody:nogroup), plain IMAP only on
# 127.0.0.1:DC_PORT, no SSL. Limits allow CONNS connections:
# dovecot_setup USERS CONNS.
dovecot_setup() {
	local users=$1 conns=$2
	dc_dir=$WORK/dovecot
	mkdir -p "$dc_dir"/{run,state,log,mail}
	chmod 755 "$dc_dir"
	chown nobody:nogroup "$dc_dir/mail" "$dc_dir/state"
	DC_PORT=$(free_port)
	for ((u = 1; u <= users; u++)); do
		echo "user$u@$DOMAIN:{PLAIN}bench-pw-$u::::::"
	done > "$dc_dir/passwd"
	chmod 644 "$dc_dir/passwd"
	local limit=$((conns + 100))
	cat > "$dc_dir/dovecot.conf" <<CF
# Private Dovecot for tests/bench (plain IMAP on loopback, no SSL).
protocols = imap
listen = 127.0.0.1
base_dir = $dc_dir/run
state_dir = $dc_dir/state
instance_name = mailcore-bench-$$
log_path = $dc_dir/log/dovecot.log
info_log_path = $dc_dir/log/dovecot.info.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$dc_dir/mail/%u
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dc_dir/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dc_dir/mail/%u
}
default_process_limit = $limit
default_client_limit = $((limit * 2))
mail_max_userip_connections = $limit
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_PORT
  }
  inet_listener imaps {
    port = 0
  }
  process_limit = $limit
}
service imap {
  process_limit = $limit
}
service anvil {
  client_limit = $((limit * 3))
}
service auth {
  client_limit = $((limit * 3))
}
CF
}

# Starts the private Dovecot; sets dc_master (the master's pid).
dovecot_start() {
	if ! dovecot -c "$dc_dir/dovecot.conf" >"$dc_dir/log/start.log" 2>&1; then
		fail_loudly "dovecot did not start:"
		cat "$dc_dir/log/start.log" "$dc_dir/log/dovecot.log" >&2 2>/dev/null
		return 1
	fi
	for _ in $(seq 1 200); do
		[[ -s $dc_dir/run/master.pid ]] && break
		sleep 0.05
	done
	dc_master=$(cat "$dc_dir/run/master.pid" 2>/dev/null || true)
	if [[ -z $dc_master ]] || ! wait_port "$DC_PORT"; then
		fail_loudly "dovecot does not listen on 127.0.0.1:$DC_PORT"
		tail -20 "$dc_dir/log/dovecot.log" >&2
		return 1
	fi
}

stop_dovecot() {
	[[ -n $dc_dir && -n $dc_master ]] || return 0
	kill -TERM "$dc_master" 2>/dev/null
	for _ in $(seq 1 200); do
		kill -0 "$dc_master" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$dc_master" 2>/dev/null && kill -KILL "$dc_master"
	dc_master=
}

# Problems in Dovecot's log (errors, fatals, panics, warnings), grouped.
dovecot_log_problems() {
	grep -hE '(Error|Fatal|Panic|Warning):' "$dc_dir"/log/dovecot*.log \
		2>/dev/null | sed -E 's/^[A-Z][a-z]{2} [0-9 :]+//;
			s/\([^)]*\)//; s/<[^>]*>//g' |
		sort | uniq -c | sort -rn | head "-${1:-10}"
}

# --- report ----------------------------------------------------------------

# The machine line of the reports.
machine_line() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)," \
		"$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)," \
		"kernel $(uname -r), $(df -T /tmp | awk 'NR == 2 {print $2}') on /tmp."
}
