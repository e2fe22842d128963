#!/usr/bin/env bash
# make bench: SMTP ingest benchmark. The same smtp-source load (Postfix's
# test client) goes to mailcore's mc-smtpd and to a private Postfix
# instance on loopback, one after the other in the same run, and the
# messages per second that reach the store (mailcore: rows in
# mailbox_messages; Postfix: files in the Maildirs) are compared.
# A run that loses mail fails loudly (exit 1). See tests/bench/README.md.
#
# Environment: BENCH_MSGS (5000), BENCH_SIZE (4096), BENCH_SESSIONS (20),
# BENCH_USERS (100), BENCH_WORKERS (4 x nproc), BENCH_REUSE (0; 1 sends
# every message of a smtp-source run over one connection), BENCH_ONLY
# (mailcore or postfix), BENCH_TIMEOUT (600 s), BENCH_KEEP (1 keeps the
# temporary directories), MAILCORE_BIN (build/bin), XDG_CACHE_HOME.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

MSGS=${BENCH_MSGS:-5000}
SIZE=${BENCH_SIZE:-4096}
SESSIONS=${BENCH_SESSIONS:-20}
USERS=${BENCH_USERS:-100}
WORKERS=${BENCH_WORKERS:-$(($(nproc) * 4))}
REUSE=${BENCH_REUSE:-0}
ONLY=${BENCH_ONLY:-}
TIMEOUT=${BENCH_TIMEOUT:-600}
KEEP=${BENCH_KEEP:-0}
BIN=${MAILCORE_BIN:-$TOP/build/bin}
if [[ -n ${XDG_CACHE_HOME:-} ]]; then
	CACHE=$XDG_CACHE_HOME/mailcore-bench
else
	CACHE=$TOP/tests/bench/.cache
fi
DOMAIN=bench.test
SENDER=sender@client.bench.invalid

case $ONLY in
"" | mailcore | postfix) ;;
dovecot) echo "bench: ingest: BENCH_ONLY=dovecot, nothing to run" >&2; exit 0 ;;
*) echo "bench: BENCH_ONLY must be mailcore or postfix" >&2; exit 2 ;;
esac

WORK=$(mktemp -d /tmp/mailcore-bench.XXXXXX)
chmod 755 "$WORK"
failed=0
pf_dir='' pf_master=''

cleanup() {
	set +e
	stop_postfix
	bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------

# Sets SMTP_SOURCE to Postfix's smtp-source taken out of the postfix .deb
# (apt-get download + dpkg -x, cached), without installing anything.
get_smtp_source() {
	local root=$CACHE/postfix-root
	if [[ ! -x $root/usr/sbin/smtp-source ]]; then
		say "fetching smtp-source from the postfix Debian package into $CACHE"
		mkdir -p "$CACHE/deb"
		rm -f "$CACHE"/deb/postfix_*.deb
		(cd "$CACHE/deb" && apt-get download -q postfix >/dev/null 2>&1) ||
			{ say "apt-get download postfix failed"; return 1; }
		rm -rf "$root.tmp"
		dpkg -x "$CACHE"/deb/postfix_*.deb "$root.tmp"
		rm -rf "$root" && mv "$root.tmp" "$root"
		rm -f "$CACHE"/deb/postfix_*.deb
	fi
	SMTP_SOURCE=$root/usr/sbin/smtp-source
	export LD_LIBRARY_PATH=$root/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

# Installs the postfix package if missing, without starting any service
# and without configuring the system's own instance.
ensure_postfix() {
	ensure_debs --preseed \
		"postfix postfix/main_mailer_type select No configuration" postfix
}

# --- the load -------------------------------------------------------------

# The plan: message j (0..MSGS-1) goes to user (j % USERS) + 1 over lane
# (j % SESSIONS). Each lane is one SMTP session at a time; it runs one
# smtp-source (-s 1) per user it serves, with that user's share. Prints
# "lane user count" lines.
make_plan() {
	awk -v m="$MSGS" -v s="$SESSIONS" -v u="$USERS" 'BEGIN {
		for (j = 0; j < m; j++) n[j % s, j % u + 1]++
		for (k in n) { split(k, a, SUBSEP); print a[1], a[2], n[k] }
	}' | sort -n -k1,1 -k2,2
}

# Sends the whole load to 127.0.0.1:port with SESSIONS lanes in parallel;
# logs go to DIR/lane-N.log, a failed smtp-source run to DIR/failures.
run_load() {
	local port=$1 dir=$2 lane
	mkdir -p "$dir"
	make_plan > "$dir/plan"
	local opts=(-l "$SIZE" -f "$SENDER" -M client.bench.invalid)
	[[ $REUSE == 1 ]] && opts+=(-d)
	local pids=()
	for ((lane = 0; lane < SESSIONS; lane++)); do
		awk -v l="$lane" '$1 == l { print $2, $3 }' "$dir/plan" |
			while read -r user count; do
				"$SMTP_SOURCE" -s 1 -m "$count" "${opts[@]}" \
					-t "user$user@$DOMAIN" "127.0.0.1:$port" \
					>>"$dir/lane-$lane.log" 2>&1 ||
					echo "lane $lane user$user rc=$?" >>"$dir/failures"
			done &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# Says how the load went; returns 1 when a smtp-source run failed.
check_load() {
	local dir=$1 name=$2
	[[ -s $dir/failures ]] || return 0
	fail_loudly "$name: $(wc -l <"$dir/failures") smtp-source run(s) failed"
	head -5 "$dir/failures" >&2
	cat "$dir"/lane-*.log 2>/dev/null | sort | uniq -c | sort -rn | head -5 >&2
	return 1
}

# --- mailcore -------------------------------------------------------------

# Starts mc-smtpd and waits for its ready line; sets MC_PID.
mailcore_start_smtpd() {
	mailcore_start mc-smtpd
}

# Stored messages: rows of mailbox_messages.
mailcore_count() {
	mc_psql -c "SELECT count(*) FROM mailbox_messages"
}

run_mailcore() {
	say "mailcore: setting up a private stack in $WORK/mailcore"
	mailcore_setup "$USERS" "$WORKERS"
	mailcore_start_smtpd || return 1
	local pg_pid redis_pid
	pg_pid=$(head -1 "$mc_state/pg/data/postmaster.pid")
	redis_pid=$(cat "$mc_state/redis/redis.pid")
	start_sampler "$WORK/mc-store" "$pg_pid" "$redis_pid"
	local store_sampler=$sampler_pid
	start_sampler "$WORK/mc-smtpd" "$MC_PID"
	say "mailcore: sending $MSGS messages to 127.0.0.1:$MC_PORT"
	local t0 t1
	t0=$(now)
	run_load "$MC_PORT" "$WORK/load-mailcore"
	t1=$(now)
	stop_sampler
	sampler_pid=$store_sampler
	stop_sampler
	MC_CPU=$(cpu_secs "$MC_PID")
	MC_STORE_CPU=$(cpu_secs "$pg_pid" "$redis_pid")
	local ok=1 load_ok=1
	mailcore_check_alive "$MC_PID" mc-smtpd || ok=0
	check_load "$WORK/load-mailcore" mailcore || load_ok=0
	((load_ok)) || ok=0
	local n what
	n=$(mailcore_count)
	MC_STORED=$n
	if ((n != MSGS)); then
		# mc-smtpd answers 250 only once a message is durable: when
		# every smtp-source run succeeded, a missing row is mail that
		# was acknowledged and not stored.
		what="MISSING MAIL (some were refused or cut off, see above)"
		((load_ok)) && what="LOST MAIL (every message got its 250)"
		((n > MSGS)) && what="DUPLICATED MAIL"
		sleep 5
		local later
		later=$(mailcore_count)
		fail_loudly "mailcore $what: $n of $MSGS messages in mailbox_messages after the load ($later after 5 s more); log $mc_state/log/mc-smtpd.log"
		mailcore_log_problems mc-smtpd >&2
		ok=0
	fi
	MC_SECS=$(calc '$2 - $1' "$t0" "$t1")
	MC_WARN=$(grep -cE ' (error|warning|crit|alert)' \
		"$mc_state/log/mc-smtpd.log" || true)
	((ok)) || MC_SECS=
	[[ -n $MC_SECS ]] && say "mailcore: $n messages stored in ${MC_SECS} s"
	stop_mailcore
	((ok))
}

# --- Postfix -------------------------------------------------------------

# A private instance: its own config, queue, data and Maildir root under
# WORK/postfix, smtpd on a free loopback port, bench.test as a virtual
# mailbox domain with the same users, delivered by virtual(8) to Maildirs.
postfix_setup() {
	pf_dir=$WORK/postfix
	local etc=$pf_dir/etc
	mkdir -p "$etc" "$pf_dir"/{queue,data,maildirs,log}
	chown postfix: "$pf_dir/data"
	chown nobody:nogroup "$pf_dir/maildirs"
	PF_PORT=$(free_port)
	local uid gid
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	for ((u = 1; u <= USERS; u++)); do
		echo "user$u@$DOMAIN $DOMAIN/user$u/"
	done > "$etc/vmailbox"
	cat > "$etc/main.cf" <<CF
# Private Postfix instance for tests/bench/ingest.sh.
compatibility_level = 3.6
queue_directory = $pf_dir/queue
data_directory = $pf_dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.invalid
mydomain = bench.invalid
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains =
mynetworks = 127.0.0.0/8
local_transport = error:no local delivery
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtputf8_enable = no
smtpd_banner = \$myhostname ESMTP
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$etc/vmailbox
virtual_mailbox_base = $pf_dir/maildirs
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
maillog_file = $pf_dir/log/postfix.log
maillog_file_prefixes = $pf_dir
CF
	cat > "$etc/master.cf" <<CF
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
}

postfix_start() {
	if ! postfix -c "$pf_dir/etc" start >"$pf_dir/log/start.log" 2>&1; then
		fail_loudly "postfix did not start:"
		cat "$pf_dir/log/start.log" "$pf_dir/log/postfix.log" >&2 2>/dev/null
		return 1
	fi
	pf_master=$(awk '{print $1}' "$pf_dir/queue/pid/master.pid")
	if ! wait_port "$PF_PORT"; then
		fail_loudly "postfix does not listen on 127.0.0.1:$PF_PORT"
		tail -20 "$pf_dir/log/postfix.log" >&2
		return 1
	fi
}

stop_postfix() {
	[[ -n $pf_dir && -n $pf_master ]] || return 0
	postfix -c "$pf_dir/etc" stop >/dev/null 2>&1
	for _ in $(seq 1 200); do
		kill -0 "$pf_master" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pf_master" 2>/dev/null && kill -KILL "$pf_master"
	pf_master=
}

# Delivered messages: files in the new/ directories of the Maildirs.
postfix_count() {
	find "$pf_dir/maildirs" -path '*/new/*' -type f 2>/dev/null | wc -l
}

run_postfix() {
	ensure_postfix || { fail_loudly "cannot install postfix"; return 1; }
	say "postfix: private instance in $WORK/postfix"
	postfix_setup
	postfix_start || return 1
	start_sampler "$WORK/postfix" "$pf_master"
	say "postfix: sending $MSGS messages to 127.0.0.1:$PF_PORT"
	local t0 t1 t2 n last=-1 last_change
	t0=$(now)
	run_load "$PF_PORT" "$WORK/load-postfix"
	t1=$(now)
	last_change=$t1
	local ok=1
	# Waits for the Maildirs; gives up after 60 s without progress.
	while :; do
		n=$(postfix_count)
		((n >= MSGS)) && break
		if ((n != last)); then
			last=$n
			last_change=$(now)
		elif (($(calc 'int($2 - $1)' "$last_change" "$(now)") >= 60)); then
			break
		fi
		(($(calc 'int($2 - $1)' "$t0" "$(now)") >= TIMEOUT)) && break
		sleep 0.05
	done
	t2=$(now)
	stop_sampler
	PF_CPU=$(cpu_secs "$pf_master")
	check_load "$WORK/load-postfix" postfix || ok=0
	PF_STORED=$n
	if ((n != MSGS)); then
		fail_loudly "postfix delivered $n of $MSGS messages to the Maildirs"
		tail -10 "$pf_dir/log/postfix.log" >&2
		ok=0
	fi
	PF_QSECS=$(calc '$2 - $1' "$t0" "$t1")
	PF_SECS=$(calc '$2 - $1' "$t0" "$t2")
	if ((ok)); then
		say "postfix: $n messages in the Maildirs in ${PF_SECS} s (queued in ${PF_QSECS} s)"
	else
		PF_SECS='' PF_QSECS=''
	fi
	stop_postfix
	((ok))
}

# --- report ----------------------------------------------------------------

# msg/s for a duration, or "-".
rate() {
	[[ -n $1 ]] && calc 'sprintf("%.0f", $1 / $2)' "$MSGS" "$1" || echo -
}

# Seconds with two decimals, or "-".
secs() {
	[[ -n $1 ]] && calc 'sprintf("%.2f", $1)' "$1" || echo -
}

# postfix time / mailcore time, or "-".
ratio() {
	[[ -n $1 && -n $2 ]] && calc 'sprintf("%.2f", $2 / $1)' "$1" "$2" || echo -
}

report() {
	local title
	title="ingest ($MSGS msgs x $(calc '$1 / 1024' "$SIZE") KiB, $SESSIONS sessions, $USERS users)"
	local fmt='%-56s %9s %9s %7s\n'
	echo
	printf "$fmt" "$title" mailcore postfix ratio
	printf "$fmt" "accepted into the store, msg/s" \
		"$(rate "${MC_SECS:-}")" "$(rate "${PF_SECS:-}")" \
		"$(ratio "${MC_SECS:-}" "${PF_SECS:-}")"
	printf "$fmt" "  wall time, s" "$(secs "${MC_SECS:-}")" \
		"$(secs "${PF_SECS:-}")" ""
	printf "$fmt" "acknowledged to the client (queue for postfix), msg/s" \
		"$(rate "${MC_SECS:-}")" "$(rate "${PF_QSECS:-}")" \
		"$(ratio "${MC_SECS:-}" "${PF_QSECS:-}")"
	printf "$fmt" "messages found in the store afterwards" \
		"${MC_STORED:--}" "${PF_STORED:--}" ""
	printf "$fmt" "CPU seconds (mc-smtpd | postfix processes)" \
		"${MC_CPU:--}" "${PF_CPU:--}" ""
	printf "$fmt" "peak RSS, MiB (mc-smtpd | postfix processes)" \
		"$(mib "$WORK/mc-smtpd.rss")" "$(mib "$WORK/postfix.rss")" ""
	printf "$fmt" "peak PSS, MiB (mc-smtpd | postfix processes)" \
		"$(mib "$WORK/mc-smtpd.pss")" "$(mib "$WORK/postfix.pss")" ""
	echo
	echo "ratio = mailcore / postfix (above 1: mailcore is faster)."
	[[ -s $WORK/mc-store.rss ]] &&
		echo "mailcore's store processes (PostgreSQL + Redis): peak RSS $(mib "$WORK/mc-store.rss") MiB, PSS $(mib "$WORK/mc-store.pss") MiB, ${MC_STORE_CPU:--} CPU seconds."
	echo "mailcore: mc-smtpd workers=$WORKERS, [store] fsync = yes, PostgreSQL fsync on;" \
		"postfix $(postconf -d -h mail_version 2>/dev/null || echo -), defaults, virtual(8) to Maildir."
	[[ -n ${MC_WARN:-} ]] && echo "mc-smtpd log: $MC_WARN warning/error lines."
	echo "smtp-source: $SESSIONS lanes of -s 1, $( [[ $REUSE == 1 ]] && echo 'one connection per run (-d)' || echo 'one connection per message'), 1 recipient per message."
	machine_line
}

# --- main ------------------------------------------------------------------

if ((MSGS < 1 || SESSIONS < 1 || USERS < 1)); then
	echo "bench: BENCH_MSGS, BENCH_SESSIONS and BENCH_USERS must be positive" >&2
	exit 2
fi
if [[ $ONLY != postfix && ! -x $BIN/mc-smtpd ]]; then
	echo "bench: $BIN/mc-smtpd missing; run make first" >&2
	exit 2
fi
get_smtp_source
if [[ $ONLY != postfix ]]; then
	run_mailcore || true
fi
if [[ $ONLY != mailcore ]]; then
	run_postfix || true
fi
report
if ((failed)); then
	echo
	echo "BENCH FAILED (see the messages above)."
	exit 1
fi
