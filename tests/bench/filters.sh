#!/usr/bin/env bash
# Inbound filter cost: what each filter of issue 7 costs per message, and
# what they cost mc-smtpd end to end. A corpus of realistic messages
# (plain text, HTML, PDF-like attachments, 2-50 KiB, half DKIM-signed
# with a key published in a test DNS zone) goes through each filter in a
# C micro-benchmark (tests/bench/filter-cost.c, built here with gcc
# against build/lib/libmailcore.a), then the same messages go to
# mc-smtpd on a private stack with the filters off (trusted loopback
# client) and on (outside client named with XCLIENT). No competitor:
# BENCH_ONLY=postfix|dovecot skips it. Fails loudly (exit 1) on any
# error. See tests/bench/README.md.
#
# Environment: BENCH_CORPUS (200 messages), BENCH_PASSES (3 timed passes
# over the corpus per filter), BENCH_MSGS (1000 messages per end-to-end
# side), BENCH_SESSIONS (20), BENCH_USERS (23), BENCH_WORKERS (4 x
# nproc), BENCH_BAYES (1; 0 skips training and timing Bayes), BENCH_ONLY,
# BENCH_KEEP (1 keeps the temporary directory), MAILCORE_BIN (build/bin),
# MAILCORE_LIB (build/lib).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

CORPUS=${BENCH_CORPUS:-200}
PASSES=${BENCH_PASSES:-3}
MSGS=${BENCH_MSGS:-1000}
SESSIONS=${BENCH_SESSIONS:-20}
USERS=${BENCH_USERS:-23}
WORKERS=${BENCH_WORKERS:-$(($(nproc) * 4))}
BAYES=${BENCH_BAYES:-1}
ONLY=${BENCH_ONLY:-}
KEEP=${BENCH_KEEP:-0}
BIN=${MAILCORE_BIN:-$TOP/build/bin}
LIB=${MAILCORE_LIB:-$TOP/build/lib}
DOMAIN=bench.test
RULES=$TOP/libmailcore/data/spam-rules.conf
CLAMAV=$TOP/tests/fixtures/clamav
DNSBL_ZONES="bl1.dnsbl.test*2, bl2.dnsbl.test*2"
PKGS="libevent libevent_openssl libevent_pthreads openssl libpq hiredis inih
jansson libcrypt libargon2 libunbound opendkim libcurl libclamav libpcre2-8
libpsl"

case $ONLY in
"" | mailcore) ;;
postfix | dovecot)
	echo "bench: filters: BENCH_ONLY=$ONLY, nothing to run" >&2
	exit 0
	;;
*) echo "bench: BENCH_ONLY must be mailcore, postfix or dovecot" >&2; exit 2 ;;
esac

for f in "$BIN/mc-smtpd" "$BIN/mailctl" "$LIB/libmailcore.a"; do
	if [[ ! -e $f ]]; then
		echo "bench: $f missing; run make first" >&2
		exit 2
	fi
done

WORK=$(mktemp -d /tmp/mailcore-bench-filters.XXXXXX)
chmod 755 "$WORK"
failed=0
dns_pid=''

cleanup() {
	set +e
	if [[ -n $dns_pid ]]; then
		kill -TERM "$dns_pid" 2>/dev/null
		wait "$dns_pid" 2>/dev/null
	fi
	bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the micro-benchmark ---------------------------------------------------

# Builds WORK/filter-cost against a copy of libmailcore.a (a rebuild
# going on meanwhile cannot hurt the link).
build_filter_cost() {
	cp "$LIB/libmailcore.a" "$WORK/libmailcore.a"
	# shellcheck disable=SC2046,SC2086
	if ! gcc -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread -O2 \
		-I libmailcore/include $(pkg-config --cflags $PKGS) \
		tests/bench/filter-cost.c -o "$WORK/filter-cost" \
		"$WORK/libmailcore.a" $(pkg-config --libs $PKGS) \
		-lspf2 -lmagic -lm >"$WORK/gcc.log" 2>&1; then
		fail_loudly "tests/bench/filter-cost.c does not build:"
		head -30 "$WORK/gcc.log" >&2
		return 1
	fi
}

# The DKIM key, the corpus and its DNS records in WORK/corpus.
make_corpus() {
	mkdir -p "$WORK/corpus"
	openssl genrsa -out "$WORK/dkim.pem" 2048 2>/dev/null
	"$WORK/filter-cost" corpus "$WORK/corpus" "$WORK/dkim.pem" "$CORPUS"
}

# Starts unbound with the records (tests/bench/filters.py dns); sets
# DNS_PORT.
start_dns() {
	python3 tests/bench/filters.py dns "$WORK" "$WORK/corpus/records.txt" \
		"$WORK/dns.port" >"$WORK/dns.log" 2>&1 &
	dns_pid=$!
	for _ in $(seq 1 200); do
		[[ -s $WORK/dns.port ]] && break
		kill -0 "$dns_pid" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -s $WORK/dns.port ]]; then
		fail_loudly "the test DNS server (unbound) did not start:"
		tail -20 "$WORK/dns.log" >&2
		return 1
	fi
	DNS_PORT=$(cat "$WORK/dns.port")
}

# A value of the private stack's mailcore.conf: conf_value SECTION KEY.
conf_value() {
	awk -v s="[$1]" -v k="$2" '$0 == s { in_s = 1; next }
		/^\[/ { in_s = 0 }
		in_s && $1 == k { sub(/^[^=]*= */, ""); print; exit }' \
		"$mc_state/mailcore.conf"
}

# Times every filter; rows in WORK/rows.tsv.
run_filter_cost() {
	local args=(--upstream "127.0.0.1:$DNS_PORT"
		--redis "127.0.0.1:$MAILCORE_DEV_REDIS_PORT"
		--rules "$RULES" --clamav "$CLAMAV" --passes "$PASSES")
	if [[ $BAYES == 1 ]]; then
		local tenant
		tenant=$(mc_psql -c "SELECT id FROM tenants WHERE name = 'bench'")
		args+=(--tenant "$tenant")
		# (in the environment, not on the command line)
		export FILTER_COST_PG
		FILTER_COST_PG=$(conf_value database conninfo)
	fi
	export FILTER_COST_REDIS_PASSWORD
	FILTER_COST_REDIS_PASSWORD=$(conf_value redis password)
	say "timing each filter over $CORPUS messages x $PASSES passes"
	if ! "$WORK/filter-cost" run "$WORK/corpus" "$WORK/dkim.pem" \
		"${args[@]}" >"$WORK/rows.tsv" 2>"$WORK/filter-cost.log"; then
		fail_loudly "filter-cost failed:"
		tail -20 "$WORK/filter-cost.log" >&2
		return 1
	fi
	sed 's/^filter-cost: /bench: /' "$WORK/filter-cost.log" >&2
}

# --- end to end -----------------------------------------------------------------

# Starts mc-smtpd with every filter configured: DNS from the test
# unbound, XCLIENT from loopback, the test signatures, the default spam
# rules, 2 DNSBLs; greylisting stays at its default (by score).
start_smtpd() {
	mailcore_start MAILCORE_DNS_UPSTREAM="127.0.0.1:$DNS_PORT" \
		MAILCORE_DNS_TIMEOUT=3s \
		MAILCORE_SMTPD_XCLIENT_NETWORKS=127.0.0.0/8 \
		MAILCORE_ANTIVIRUS_DATABASE="$CLAMAV" \
		MAILCORE_SPAM_RULES="$RULES" \
		MAILCORE_SPAM_DNSBL="$DNSBL_ZONES" \
		MAILCORE_SPAM_DNSBL_THRESHOLD=3 mc-smtpd
}

mailcore_count() {
	mc_psql -c "SELECT count(*) FROM mailbox_messages"
}

# One side of the end-to-end load: e2e MODE (on|off); sets E2E_RATE_MODE
# and E2E_CPU_MODE (mc-smtpd CPU ms per message).
e2e() {
	local mode=$1 before after cpu0 cpu1 out=$WORK/e2e-$1.json
	before=$(mailcore_count)
	cpu0=$(cpu_secs "$MC_PID")
	say "end to end, filters $mode: $MSGS messages, $SESSIONS sessions"
	python3 tests/bench/filters.py load "$WORK/corpus" "$MC_PORT" "$mode" \
		"$MSGS" "$SESSIONS" "$USERS" "$out"
	cpu1=$(cpu_secs "$MC_PID")
	after=$(mailcore_count)
	mailcore_check_alive "$MC_PID" mc-smtpd || return 1
	local secs sent nerr
	read -r secs sent nerr < <(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r["secs"], r["sent"], len(r["errors"]))
for e in r["errors"][:10]: print(e, file=sys.stderr)' "$out" 2>"$WORK/e2e-$mode.errors")
	if ((nerr > 0 || sent != MSGS)); then
		fail_loudly "filters $mode: $nerr of $MSGS messages not accepted:"
		cat "$WORK/e2e-$mode.errors" >&2
		mailcore_log_problems mc-smtpd >&2
		return 1
	fi
	if ((after - before != MSGS)); then
		fail_loudly "filters $mode: $((after - before)) of $MSGS accepted messages in mailbox_messages"
		return 1
	fi
	printf -v "E2E_RATE_$mode" '%s' "$(calc 'sprintf("%.0f", $1 / $2)' "$MSGS" "$secs")"
	printf -v "E2E_CPU_$mode" '%s' "$(calc 'sprintf("%.2f", ($2 - $1) * 1000 / $3)' "$cpu0" "$cpu1" "$MSGS")"
}

# Messages whose log line carries filter results ("spf=... dkim=...").
checked_count() {
	grep -cE ' message [0-9A-F]+ from=.* spf=[a-z]+ dkim=[a-z]+' \
		"$mc_state/log/mc-smtpd.log" || true
}

# Checks that the filters ran on every message of the "on" side and on
# none of the "off" side: checked_count after each (expected COUNT).
check_checked() {
	local side=$1 want=$2 n
	n=$(checked_count)
	((n == want)) && return 0
	fail_loudly "filters $side: $n messages logged with filter results, expected $want"
	return 1
}

# --- report ----------------------------------------------------------------

report() {
	local fmt='%-34s %9s %9s %9s %7s  %s\n' c
	echo
	if [[ -s $WORK/rows.tsv ]]; then
		c=$(grep '^#corpus' "$WORK/rows.tsv" || true)
		# shellcheck disable=SC2086
		set -- $c
		echo "filter cost per message: ${2:-?} messages (${3:-?}-${5:-?} KiB, mean ${4:-?} KiB, ${6:-?} DKIM-signed), $PASSES passes each, one thread"
		printf "$fmt" filter "median µs" "p95 µs" "mean µs" \
			"pass 1" "notes"
		grep -v '^#' "$WORK/rows.tsv" |
			while IFS=$'\t' read -r name med p95 mean m1 _ note; do
				printf "$fmt" "$name" "$med" "$p95" "$mean" \
					"$m1" "$note"
			done
		echo "(pass 1 = the median of the first pass over the corpus alone: caches cold)"
	fi
	if [[ -n ${E2E_RATE_off:-} || -n ${E2E_RATE_on:-} ]]; then
		local fmt2='%-52s %9s %11s %9s\n'
		echo
		echo "end to end: mc-smtpd, $MSGS messages per side, $SESSIONS sessions, one connection per message"
		printf "$fmt2" "" "msg/s" "CPU ms/msg" "ratio"
		printf "$fmt2" "filters off (trusted loopback client)" \
			"${E2E_RATE_off:--}" "${E2E_CPU_off:--}" "1.00"
		local ratio=-
		[[ -n ${E2E_RATE_off:-} && -n ${E2E_RATE_on:-} ]] &&
			ratio=$(calc 'sprintf("%.2f", $2 / $1)' "$E2E_RATE_off" "$E2E_RATE_on")
		printf "$fmt2" "filters on (outside client named by XCLIENT)" \
			"${E2E_RATE_on:--}" "${E2E_CPU_on:--}" "$ratio"
		echo "ratio = msg/s with filters on / off (below 1: what the filters cost)."
		echo "CPU ms/msg: mc-smtpd's own CPU over the side (PostgreSQL, Redis and unbound not counted)."
		[[ -n ${E2E_SUMMARY:-} ]] && echo "filters on, mc-smtpd's results: $E2E_SUMMARY."
		if [[ -n ${MC_WARN:-} && $MC_WARN != 0 ]]; then
			echo "mc-smtpd log: $MC_WARN warning/error lines, most frequent:"
			echo "$MC_PROBLEMS"
		fi
	fi
	echo "AV: libclamav with the 3 test signatures of tests/fixtures/clamav only; the official ClamAV database (main/daily/bytecode, ~8 million signatures) is not installed here, so real scans cost more and loading takes seconds."
	echo "DNS: memory = mc-dns's in-memory zone (CPU only); unbound = mc-dns (libunbound) forwarding to a Debian unbound on loopback."
	echo "mailcore: mc-smtpd workers=$WORKERS, PostgreSQL fsync on, [store] fsync = yes; greylisting by score (default), DNSBLs $DNSBL_ZONES."
	machine_line
	echo "load average: ${LOAD0:-?} at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
}

# --- main ------------------------------------------------------------------

run() {
	build_filter_cost || return 1
	make_corpus || { fail_loudly "the corpus could not be made"; return 1; }
	start_dns || return 1
	say "mailcore: setting up a private stack in $WORK/mailcore"
	mailcore_setup "$USERS" "$WORKERS"
	run_filter_cost || return 1
	start_smtpd || return 1
	e2e off || return 1
	check_checked off 0 || return 1
	e2e on || return 1
	check_checked on "$MSGS" || return 1
	E2E_SUMMARY=$(grep -oE ' spf=[a-z]+ dkim=[a-z]+ dmarc=[a-z]+' \
		"$mc_state/log/mc-smtpd.log" | sort | uniq -c |
		awk '{printf "%s%s x%s", sep, $2 " " $3 " " $4, $1; sep = ", "}')
	MC_WARN=$(grep -cE ' (error|warning|crit|alert)' \
		"$mc_state/log/mc-smtpd.log" || true)
	MC_PROBLEMS=$(mailcore_log_problems mc-smtpd 3 |
		sed -E 's/(session|message)[= ][0-9A-F]+:? ?//g')
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
run || true
report
if ((failed)); then
	echo
	echo "BENCH FAILED (see the messages above)."
	exit 1
fi
