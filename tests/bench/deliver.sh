#!/usr/bin/env bash
# Outbound delivery benchmark: the same N messages leave mailcore's
# mc-deliverd and a private Postfix for remote domains, one after the
# other in the same run, into the same fast sink (Postfix's smtp-sink on
# 127.0.0.2). Each queue is filled first (mc-deliverd not running /
# Postfix holding the mail), then released, and the time until the sink
# has accepted the last message gives messages per second. mailcore runs
# three times: MX lookups through a local unbound, a static relay
# ([delivery] relay, the equivalent of Postfix's transport_maps), and the
# static relay with RSA-2048 DKIM signing. A message lost or delivered
# twice fails the run loudly (exit 1). See tests/bench/README.md.
#
# Environment: BENCH_MSGS (2000), BENCH_SIZE (10240), BENCH_DOMAINS (4),
# BENCH_CONCURRENCY (20), BENCH_DEST_CONCURRENCY (20), BENCH_ROWS
# ("mx relay dkim"), BENCH_ONLY (mailcore or postfix), BENCH_TIMEOUT
# (120 s per side), BENCH_KEEP (1 keeps the temporary directory),
# MAILCORE_BIN (build/bin), XDG_CACHE_HOME.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

MSGS=${BENCH_MSGS:-2000}
SIZE=${BENCH_SIZE:-10240}
NDOM=${BENCH_DOMAINS:-4}
CONC=${BENCH_CONCURRENCY:-20}
DCONC=${BENCH_DEST_CONCURRENCY:-20}
ROWS=${BENCH_ROWS:-mx relay dkim}
ONLY=${BENCH_ONLY:-}
TIMEOUT=${BENCH_TIMEOUT:-120}
KEEP=${BENCH_KEEP:-0}
BIN=${MAILCORE_BIN:-$TOP/build/bin}
if [[ -n ${XDG_CACHE_HOME:-} ]]; then
	CACHE=$XDG_CACHE_HOME/mailcore-bench
else
	CACHE=$TOP/tests/bench/.cache
fi
DOMAIN=bench.test
SENDER=user1@$DOMAIN
SINK_HOST=127.0.0.2
INJECT_SESSIONS=20

case $ONLY in
"" | mailcore | postfix) ;;
dovecot) echo "bench: deliver: BENCH_ONLY=dovecot, nothing to run" >&2; exit 0 ;;
*) echo "bench: BENCH_ONLY must be mailcore or postfix" >&2; exit 2 ;;
esac
for r in $ROWS; do
	case $r in
	mx | relay | dkim) ;;
	*) echo "bench: BENCH_ROWS takes mx, relay and dkim" >&2; exit 2 ;;
	esac
done

WORK=$(mktemp -d /tmp/mailcore-bench-deliver.XXXXXX)
chmod 755 "$WORK"
failed=0
pf_dir='' pf_master='' sink_pid='' dns_pid=''
declare -A SECS CPU STORE_CPU RSS PSS STORE_PSS SESS

cleanup() {
	set +e
	stop_postfix
	stop_sink
	stop_dns
	bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------

# Sets SMTP_SOURCE and SMTP_SINK to Postfix's test programs taken out of
# the postfix .deb (apt-get download + dpkg -x, cached, as ingest.sh).
get_postfix_tools() {
	local root=$CACHE/postfix-root
	if [[ ! -x $root/usr/sbin/smtp-sink ]]; then
		say "fetching smtp-source/smtp-sink from the postfix Debian package into $CACHE"
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
	SMTP_SINK=$root/usr/sbin/smtp-sink
	export LD_LIBRARY_PATH=$root/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
}

ensure_postfix() {
	ensure_debs --preseed \
		"postfix postfix/main_mailer_type select No configuration" postfix
}

# --- the remote side: sink and DNS ------------------------------------------

# The plan: "DOMAIN COUNT" lines, MSGS spread evenly over NDOM domains.
make_plan() {
	local k n
	for ((k = 1; k <= NDOM; k++)); do
		n=$((MSGS / NDOM + (k <= MSGS % NDOM ? 1 : 0)))
		((n > 0)) && echo "r$k.remote.test $n"
	done
	return 0
}

# Starts smtp-sink on SINK_HOST:SINK_PORT (a new port), capturing every
# message to WORK/sink-NAME/ and counting in WORK/sink-NAME.out.
start_sink() {
	local name=$1
	SINK_DIR=$WORK/sink-$name
	SINK_OUT=$WORK/sink-$name.out
	mkdir -p "$SINK_DIR"
	chown nobody "$SINK_DIR"
	SINK_PORT=$(free_port)
	"$SMTP_SINK" -c -u nobody -m 512 -d "$SINK_DIR/" \
		"$SINK_HOST:$SINK_PORT" 1024 >"$SINK_OUT" 2>&1 &
	sink_pid=$!
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/$SINK_HOST/$SINK_PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	fail_loudly "smtp-sink does not listen on $SINK_HOST:$SINK_PORT"
	cat "$SINK_OUT" >&2
	return 1
}

# Messages the sink has accepted so far ("." received): its -c counter.
sink_count() {
	local s
	s=$(tail -c 80 "$SINK_OUT" 2>/dev/null) || s=
	[[ $s == *mesg=* ]] || { echo 0; return; }
	s=${s##*mesg=}
	echo "${s%%[!0-9]*}"
}

# SMTP sessions the sink has seen.
sink_sessions() {
	local s
	s=$(tail -c 80 "$SINK_OUT" 2>/dev/null) || s=
	[[ $s == *sess=* ]] || { echo 0; return; }
	s=${s##*sess=}
	echo "${s%%[!0-9]*}"
}

stop_sink() {
	[[ -n $sink_pid ]] || return 0
	kill -TERM "$sink_pid" 2>/dev/null
	wait "$sink_pid" 2>/dev/null
	sink_pid=
}

# Checks the capture against the plan (exactly once each): check_sink
# NAME [--dkim].
check_sink() {
	local name=$1
	shift
	local out rc=0
	out=$(python3 tests/bench/deliver.py check "$SINK_DIR" "$WORK/plan" \
		"$@") || rc=$?
	say "$name: sink: $out"
	((rc == 0)) && return 0
	fail_loudly "$name: the sink did not get every message exactly once: $out"
	return 1
}

# unbound (tests/integration/dns_server.py) with MX records for the
# remote domains pointing at SINK_HOST; sets DNS_PORT.
start_dns() {
	local dom
	while read -r dom _; do
		echo "$dom. MX 10 mx.$dom."
		echo "mx.$dom. A $SINK_HOST"
	done < "$WORK/plan" > "$WORK/dns-records"
	python3 tests/bench/deliver.py dns "$WORK" "$WORK/dns-records" \
		>"$WORK/dns.out" 2>&1 &
	dns_pid=$!
	for _ in $(seq 1 200); do
		if grep -q '^ready ' "$WORK/dns.out"; then
			DNS_PORT=$(awk '/^ready / {print $2}' "$WORK/dns.out")
			return 0
		fi
		kill -0 "$dns_pid" 2>/dev/null || break
		sleep 0.05
	done
	fail_loudly "unbound did not start:"
	cat "$WORK/dns.out" >&2
	return 1
}

stop_dns() {
	[[ -n $dns_pid ]] || return 0
	kill -TERM "$dns_pid" 2>/dev/null
	wait "$dns_pid" 2>/dev/null
	dns_pid=
}

# --- the load ------------------------------------------------------------

# Sends the plan's messages to 127.0.0.1:port (smtp-source -N: recipient
# 1rcpt@DOMAIN, 2rcpt@DOMAIN, ...), INJECT_SESSIONS sessions in all.
inject() {
	local port=$1 name=$2 dom n pids=() s
	s=$((INJECT_SESSIONS / NDOM > 0 ? INJECT_SESSIONS / NDOM : 1))
	: > "$WORK/inject-$name.failures"
	while read -r dom n; do
		"$SMTP_SOURCE" -s "$s" -m "$n" -N -l "$SIZE" -f "$SENDER" \
			-M client.bench.invalid -t "rcpt@$dom" "127.0.0.1:$port" \
			>>"$WORK/inject-$name.log" 2>&1 ||
			echo "$dom rc=$?" >>"$WORK/inject-$name.failures" &
		pids+=($!)
	done < "$WORK/plan"
	wait "${pids[@]}"
	[[ -s $WORK/inject-$name.failures ]] || return 0
	fail_loudly "$name: filling the queue failed (smtp-source):"
	cat "$WORK/inject-$name.failures" >&2
	tail -5 "$WORK/inject-$name.log" >&2
	return 1
}

# Waits until the sink has MSGS messages, giving up after 30 s without
# progress or TIMEOUT in all, or when the pid given dies. Sets T_END.
wait_sink() {
	local watch=$1 t0 n last=-1 last_change
	t0=$(now)
	last_change=$t0
	while :; do
		n=$(sink_count)
		((n >= MSGS)) && break
		if ((n != last)); then
			last=$n
			last_change=$(now)
		elif (($(calc 'int($2 - $1)' "$last_change" "$(now)") >= 30)); then
			break
		fi
		(($(calc 'int($2 - $1)' "$t0" "$(now)") >= TIMEOUT)) && break
		[[ -n $watch ]] && ! kill -0 "$watch" 2>/dev/null && break
		sleep 0.02
	done
	T_END=$(now)
	SINK_N=$n
}

# Polls "cmd" until it prints 0, up to 15 s; true when it did.
wait_zero() {
	for _ in $(seq 1 300); do
		[[ $("$@") == 0 ]] && return 0
		sleep 0.05
	done
	return 1
}

# --- mailcore -------------------------------------------------------------

mc_queued() {
	mc_psql -c "SELECT count(*) FROM queue_recipients WHERE state = 'queued'"
}

mc_queue_left() {
	mc_psql -c "SELECT count(*) FROM queue"
}

# The stack, tenant bench with domain bench.test, user1 (the sender) and
# an RSA-2048 DKIM key (used by the dkim row only).
mailcore_prepare() {
	say "mailcore: setting up a private stack in $WORK/mailcore"
	mailcore_setup 1 "$(($(nproc) * 4))"
	mailctl dkim generate "$DOMAIN" --algorithm rsa-2048 --selector s1 \
		>/dev/null
}

# mc-deliverd's settings for a row (MAILCORE_* assignments).
row_env() {
	local row=$1
	local e=(MAILCORE_DNS_UPSTREAM="127.0.0.1:$DNS_PORT"
		MAILCORE_DELIVERY_PORT="$SINK_PORT"
		MAILCORE_DELIVERY_CONCURRENCY="$CONC"
		MAILCORE_DELIVERY_DESTINATION_CONCURRENCY="$DCONC"
		MAILCORE_DELIVERY_TLS=none)
	if [[ $row == mx ]]; then
		e+=(MAILCORE_DELIVERY_DKIM=no)
	else
		e+=(MAILCORE_DELIVERY_RELAY="[$SINK_HOST]:$SINK_PORT"
			MAILCORE_DELIVERY_RELAY_TLS=none)
		[[ $row == dkim ]] && e+=(MAILCORE_DELIVERY_DKIM=yes) ||
			e+=(MAILCORE_DELIVERY_DKIM=no)
	fi
	echo "${e[@]}"
}

# One mailcore row: fill the queue through mc-smtpd (relay network),
# stop it, start mc-deliverd and time it until the sink has every
# message.
run_mailcore_row() {
	local row=$1 name=mailcore-$1
	start_sink "$row" || return 1
	mailcore_start MAILCORE_SMTPD_RELAY_NETWORKS=127.0.0.0/8 mc-smtpd ||
		return 1
	local smtpd=$MC_PID
	say "$name: queueing $MSGS messages through mc-smtpd"
	inject "$MC_PORT" "$name" || return 1
	mailcore_stop_pid "$smtpd"
	local q
	q=$(mc_queued)
	if ((q != MSGS)); then
		fail_loudly "$name: $q of $MSGS recipients queued after the fill"
		return 1
	fi
	mc_psql -c CHECKPOINT
	local pg_pid redis_pid store0 env
	read -r pg_pid redis_pid < <(mailcore_store_pids)
	store0=$(cpu_secs "$pg_pid" "$redis_pid")
	read -ra env < <(row_env "$row")
	say "$name: starting mc-deliverd ($(printf '%s ' "${env[@]}" | sed 's/MAILCORE_//g'))"
	rm -f "$WORK/$name".{rss,pss} "$WORK/$name-store".{rss,pss}
	start_sampler "$WORK/$name-store" "$pg_pid" "$redis_pid"
	local store_sampler=$sampler_pid t0
	t0=$(now)
	mailcore_start "${env[@]}" mc-deliverd || return 1
	local dpid=$MC_PID
	start_sampler "$WORK/$name" "$dpid"
	wait_sink "$dpid"
	stop_sampler
	sampler_pid=$store_sampler
	stop_sampler
	CPU[$row]=$(cpu_secs "$dpid")
	STORE_CPU[$row]=$(calc 'sprintf("%.1f", $2 - $1)' "$store0" \
		"$(cpu_secs "$pg_pid" "$redis_pid")")
	local ok=1
	mailcore_check_alive "$dpid" mc-deliverd || ok=0
	if ((SINK_N != MSGS)); then
		fail_loudly "$name: the sink has $SINK_N of $MSGS messages; log $mc_state/log/mc-deliverd-$row.log"
		mailcore_log_problems mc-deliverd >&2
		ok=0
	fi
	if ((ok)) && ! wait_zero mc_queue_left; then
		fail_loudly "$name: $(mc_queue_left) queue entries left after the sink had them all"
		ok=0
	fi
	mailcore_stop_pid "$dpid"
	SESS[$row]=$(sink_sessions)
	stop_sink
	local opt=()
	[[ $row == dkim ]] && opt=(--dkim)
	check_sink "$name" "${opt[@]}" || ok=0
	RSS[$row]=$(mib "$WORK/$name.rss")
	PSS[$row]=$(mib "$WORK/$name.pss")
	STORE_PSS[$row]=$(mib "$WORK/$name-store.pss")
	((ok)) || return 1
	SECS[$row]=$(calc '$2 - $1' "$t0" "$T_END")
	say "$name: $MSGS messages at the sink in ${SECS[$row]} s"
}

run_mailcore() {
	mailcore_prepare || return 1
	local row
	for row in $ROWS; do
		# a failed row may leave its mail or daemons behind: stop there
		local rc=0
		run_mailcore_row "$row" || rc=1
		# mailcore_start waits for a ready line: each row starts on
		# fresh logs (kept as NAME-ROW.log)
		local n
		for n in mc-smtpd mc-deliverd; do
			[[ -f $mc_state/log/$n.log ]] &&
				mv "$mc_state/log/$n.log" "$mc_state/log/$n-$row.log"
		done
		# a failed row may leave its mail or daemons behind: stop there
		((rc == 0)) || { stop_sink; failed=1; break; }
	done
	MC_WARN=$(cat "$mc_state"/log/mc-deliverd-*.log 2>/dev/null |
		grep -cE ' (error|warning|crit|alert)' || true)
	stop_mailcore
}

# --- Postfix -------------------------------------------------------------

# A private instance under WORK/postfix: smtpd on a free loopback port
# puts every message on hold (an access map answering HOLD), and
# transport_maps sends the remote domains to [SINK_HOST]:SINK_PORT.
postfix_setup() {
	pf_dir=$WORK/postfix
	local etc=$pf_dir/etc dom
	mkdir -p "$etc" "$pf_dir"/{queue,data,log}
	chown postfix: "$pf_dir/data"
	PF_PORT=$(free_port)
	while read -r dom _; do
		echo "$dom smtp:[$SINK_HOST]:$SINK_PORT"
	done < "$WORK/plan" > "$etc/transport"
	echo "127.0.0.1 HOLD prefill for the benchmark" > "$etc/hold"
	cat > "$etc/main.cf" <<CF
# Private Postfix instance for tests/bench/deliver.sh.
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
smtpd_data_restrictions = check_client_access texthash:$etc/hold
transport_maps = texthash:$etc/transport
default_process_limit = $CONC
default_destination_concurrency_limit = $DCONC
smtp_tls_security_level = none
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

# Queue files in the named queues of the instance.
pf_queue_files() {
	local q d=()
	for q in "$@"; do d+=("$pf_dir/queue/$q"); done
	find "${d[@]}" -type f 2>/dev/null | wc -l
}

pf_queue_left() {
	pf_queue_files incoming active deferred hold maildrop
}

run_postfix() {
	ensure_postfix || { fail_loudly "cannot install postfix"; return 1; }
	start_sink postfix || return 1
	say "postfix: private instance in $WORK/postfix"
	postfix_setup
	postfix_start || return 1
	say "postfix: queueing $MSGS messages (on hold) through smtpd"
	inject "$PF_PORT" postfix || return 1
	local held
	for _ in $(seq 1 200); do
		held=$(pf_queue_files hold)
		((held >= MSGS)) && break
		sleep 0.05
	done
	if ((held != MSGS || $(pf_queue_left) != MSGS)); then
		fail_loudly "postfix: $held of $MSGS messages on hold ($(pf_queue_left) in the queue) after the fill"
		return 1
	fi
	local cpu0 t0
	cpu0=$(cpu_secs "$pf_master")
	rm -f "$WORK/postfix".{rss,pss}
	start_sampler "$WORK/postfix" "$pf_master"
	say "postfix: releasing the queue (postsuper -H ALL, postqueue -f)"
	t0=$(now)
	postsuper -c "$pf_dir/etc" -H ALL 2>>"$pf_dir/log/postsuper.log"
	postqueue -c "$pf_dir/etc" -f
	wait_sink "$pf_master"
	stop_sampler
	CPU[postfix]=$(calc 'sprintf("%.1f", $2 - $1)' "$cpu0" \
		"$(cpu_secs "$pf_master")")
	local ok=1
	if ((SINK_N != MSGS)); then
		fail_loudly "postfix: the sink has $SINK_N of $MSGS messages; log $pf_dir/log/postfix.log"
		grep -E 'warning|error|fatal|panic' "$pf_dir/log/postfix.log" |
			tail -5 >&2
		ok=0
	fi
	if ((ok)) && ! wait_zero pf_queue_left; then
		fail_loudly "postfix: $(pf_queue_left) queue files left after the sink had them all"
		ok=0
	fi
	stop_postfix
	SESS[postfix]=$(sink_sessions)
	stop_sink
	check_sink postfix || ok=0
	RSS[postfix]=$(mib "$WORK/postfix.rss")
	PSS[postfix]=$(mib "$WORK/postfix.pss")
	((ok)) || return 1
	SECS[postfix]=$(calc '$2 - $1' "$t0" "$T_END")
	say "postfix: $MSGS messages at the sink in ${SECS[postfix]} s"
}

# --- report ----------------------------------------------------------------

# msg/s of a row, or "-".
rate() {
	[[ -n ${SECS[$1]:-} ]] &&
		calc 'sprintf("%.0f", $1 / $2)' "$MSGS" "${SECS[$1]}" || echo -
}

# CPU milliseconds per message of the given CPU seconds, or "-".
per_msg() {
	[[ -n $1 && $1 != - ]] &&
		calc 'sprintf("%.2f", $1 * 1000 / $2)' "$1" "$MSGS" || echo -
}

# CPU seconds of a row, counting mailcore's store processes too.
cpu_total() {
	local c=${CPU[$1]:-} s=${STORE_CPU[$1]:-0}
	[[ -n $c && $c != - ]] && calc 'sprintf("%.1f", $1 + $2)' "$c" "$s" ||
		echo -
}

# a / b with two decimals, or "-".
ratio() {
	[[ -n $1 && -n $2 && $1 != - && $2 != - && $2 != 0 && $2 != 0.00 ]] &&
		calc 'sprintf("%.2f", $1 / $2)' "$1" "$2" || echo -
}

report_row() {
	local row=$1 label=$2 fmt=$3
	local r c t
	r=$(rate "$row")
	c=$(per_msg "${CPU[$row]:-}")
	t=$(per_msg "$(cpu_total "$row")")
	printf "$fmt" "$label" "$r" "$(ratio "$r" "$(rate postfix)")" \
		"$c" "$t" "$(ratio "$t" "$(per_msg "$(cpu_total postfix)")")" \
		"${RSS[$row]:--}" "${PSS[$row]:--}" \
		"$(ratio "${PSS[$row]:--}" "${PSS[postfix]:--}")" \
		"${SESS[$row]:--}"
}

report() {
	local fmt='%-38s %6s %6s %8s %8s %6s %7s %7s %6s %5s\n'
	echo
	echo "deliver: $MSGS msgs x $(calc '$1 / 1024' "$SIZE") KiB to $NDOM remote domains, concurrency $CONC, per destination $DCONC, no TLS"
	printf "$fmt" "" "msg/s" "ratio" "CPU ms/" "+store" "ratio" "RSS" "PSS" \
		"ratio" "SMTP"
	printf "$fmt" "" "" "" "msg" "ms/msg" "" "MiB" "MiB" "" "conns"
	local row
	for row in $ROWS; do
		case $row in
		mx) report_row mx "mailcore, MX via unbound" "$fmt" ;;
		relay) report_row relay "mailcore, static relay" "$fmt" ;;
		dkim) report_row dkim "mailcore, static relay + DKIM rsa-2048" "$fmt" ;;
		esac
	done
	report_row postfix "postfix, transport_maps [ip]:port" "$fmt"
	echo
	echo "ratio = mailcore / postfix: msg/s above 1, CPU and PSS below 1 are better for mailcore."
	echo "CPU ms/msg: mc-deliverd | the whole postfix process tree; +store adds mailcore's PostgreSQL + Redis."
	echo "RSS/PSS: peak of mc-deliverd | the postfix tree (master and its children)."
	local sp=""
	for row in $ROWS; do
		[[ -n ${STORE_PSS[$row]:-} ]] && sp+=" $row ${STORE_PSS[$row]} MiB,"
	done
	[[ -n $sp ]] && echo "mailcore's PostgreSQL + Redis peak PSS:${sp%,}."
	echo "wall time, s:$(for row in $ROWS postfix; do
		[[ -n ${SECS[$row]:-} ]] && printf ' %s %.2f' "$row" "${SECS[$row]}"
	done)."
	echo "mailcore: PostgreSQL fsync on; postfix $(postconf -d -h mail_version 2>/dev/null || echo -)," \
		"defaults otherwise (slow start at initial_destination_concurrency, connection cache on demand)."
	[[ -n ${MC_WARN:-} ]] && echo "mc-deliverd log: $MC_WARN warning/error lines."
	echo "sink: smtp-sink on $SINK_HOST, capturing every message (-d) to $(df -T "$WORK" | awk 'NR == 2 {print $2}')."
	machine_line
}

# --- main ------------------------------------------------------------------

if ((MSGS < 1 || NDOM < 1 || CONC < 1 || DCONC < 1)); then
	echo "bench: BENCH_MSGS, BENCH_DOMAINS and the concurrencies must be positive" >&2
	exit 2
fi
if [[ $ONLY != postfix && ! -x $BIN/mc-deliverd ]]; then
	echo "bench: $BIN/mc-deliverd missing; run make first" >&2
	exit 2
fi
get_postfix_tools
make_plan > "$WORK/plan"
if [[ $ONLY != postfix ]]; then
	start_dns && run_mailcore || true
	stop_dns
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
