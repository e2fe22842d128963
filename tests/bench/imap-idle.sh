#!/usr/bin/env bash
# make bench: IMAP IDLE memory benchmark. C authenticated connections
# (LOGIN, SELECT INBOX, IDLE) are opened to mailcore's mc-imapd on a
# private stack and to a private Dovecot on loopback, one after the other
# in the same run; tests/bench/imap-idle.py reports the server memory
# per idling connection (PSS and RSS of the server's processes with all
# idling minus with none, divided by C) and checks that new mail for
# user1 reaches its idling connections as an untagged EXISTS (mailcore:
# delivered through mc-smtpd; Dovecot: a file moved into the Maildir's
# new/). A connection that fails or misses the mail fails the run
# loudly (exit 1). See tests/bench/README.md.
#
# Environment: BENCH_IDLE_CONNS (1000), BENCH_IDLE_USERS (100),
# BENCH_IDLE_MSGS (20), BENCH_SIZE (4096), BENCH_WORKERS (4 x nproc),
# BENCH_ONLY (mailcore or dovecot), BENCH_KEEP (1 keeps the temporary
# directory), MAILCORE_BIN (build/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

CONNS=${BENCH_IDLE_CONNS:-1000}
USERS=${BENCH_IDLE_USERS:-100}
MSGS=${BENCH_IDLE_MSGS:-20}
SIZE=${BENCH_SIZE:-4096}
WORKERS=${BENCH_WORKERS:-$(($(nproc) * 4))}
ONLY=${BENCH_ONLY:-}
KEEP=${BENCH_KEEP:-0}
BIN=${MAILCORE_BIN:-$TOP/build/bin}
DOMAIN=bench.test

case $ONLY in
"" | mailcore | dovecot) ;;
postfix) echo "bench: $(basename "$0" .sh): BENCH_ONLY=postfix, nothing to run" >&2; exit 0 ;;
*) echo "bench: BENCH_ONLY must be mailcore or dovecot" >&2; exit 2 ;;
esac
if ((CONNS < 1 || USERS < 1 || MSGS < 1)); then
	echo "bench: BENCH_IDLE_CONNS, _USERS and _MSGS must be positive" >&2
	exit 2
fi
if [[ $ONLY != dovecot && ! ( -x $BIN/mc-imapd && -x $BIN/mc-smtpd ) ]]; then
	echo "bench: $BIN/mc-imapd or mc-smtpd missing; run make first" >&2
	exit 2
fi
# The client and the servers (which inherit it) need a descriptor per
# connection, and then some.
need=$((CONNS * 4 + 512))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < need)); then
	echo "bench: need $need file descriptors, the hard limit is $(ulimit -Hn)" >&2
	exit 2
fi

WORK=$(mktemp -d /tmp/mailcore-bench-idle.XXXXXX)
chmod 755 "$WORK"
failed=0
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# The client: imap-idle.py run with the common settings.
idle() {
	python3 tests/bench/imap-idle.py run --conns "$CONNS" --users "$USERS" \
		--msgs "$MSGS" --size "$SIZE" --domain "$DOMAIN" "$@"
}

run_mailcore() {
	say "mailcore: setting up a private stack in $WORK/mailcore"
	mailcore_setup "$USERS" "$WORKERS"
	mailcore_start mc-smtpd || return 1
	mailcore_start MAILCORE_IMAPD_MAX_SESSIONS_PER_USER=0 mc-imapd ||
		return 1
	local imapd=$MC_PID ok=1
	# shellcheck disable=SC2046
	idle --name mailcore --port "$MC_IMAP_PORT" --pid "$imapd" \
		--store-pid $(mailcore_store_pids) --deliver "smtp:$MC_PORT" \
		--out "$WORK/mailcore.json" || ok=0
	mailcore_check_alive "$imapd" mc-imapd || ok=0
	MC_WARN=$(grep -cE ' (error|warning|crit|alert)' \
		"$mc_state/log/mc-imapd.log" || true)
	mailcore_log_problems mc-imapd 5 > "$WORK/mc-imapd.problems"
	if ((!ok)); then
		fail_loudly "mailcore: IDLE benchmark problems (above); log $mc_state/log/mc-imapd.log"
		mailcore_log_problems mc-imapd >&2
	fi
	stop_mailcore
	((ok))
}

run_dovecot() {
	ensure_dovecot || { fail_loudly "cannot install dovecot"; return 1; }
	say "dovecot: private instance in $WORK/dovecot"
	dovecot_setup "$USERS" "$CONNS"
	dovecot_start || return 1
	local ok=1
	idle --name dovecot --port "$DC_PORT" --pid "$dc_master" \
		--deliver "maildir:$dc_dir/mail" --out "$WORK/dovecot.json" ||
		ok=0
	DC_WARN=$(dovecot_log_problems 1000 | awk '{n += $1} END {print n + 0}')
	dovecot_log_problems 5 > "$WORK/dovecot.problems"
	DC_INOTIFY=$(grep -c 'Inotify instance limit' "$dc_dir"/log/dovecot*.log \
		2>/dev/null | awk -F: '{n += $NF} END {print n + 0}')
	if ((!ok)); then
		fail_loudly "dovecot: IDLE benchmark problems (above); log $dc_dir/log/"
		dovecot_log_problems >&2
	fi
	stop_dovecot
	((ok))
}

if [[ $ONLY != dovecot ]]; then
	run_mailcore || true
fi
if [[ $ONLY != mailcore ]]; then
	run_dovecot || true
fi
python3 tests/bench/imap-idle.py report "$WORK/mailcore.json" \
	"$WORK/dovecot.json" || failed=1
echo "mailcore: mc-imapd, workers=$WORKERS, one process; dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1 || echo -)," \
	"defaults (one imap process per connection), maildir, process and client limits raised to $((CONNS + 100))."
[[ -n ${MC_WARN:-} ]] && echo "mc-imapd log: $MC_WARN warning/error lines." &&
	sed 's/^/    /' "$WORK/mc-imapd.problems"
[[ -n ${DC_WARN:-} ]] && echo "dovecot log: $DC_WARN warning/error lines." &&
	sed 's/^/    /' "$WORK/dovecot.problems"
[[ ${DC_INOTIFY:-0} != 0 ]] &&
	echo "dovecot: the inotify instance limit ($(cat /proc/sys/fs/inotify/max_user_instances) per user) was hit, so some IDLE connections poll every 30 s instead."
machine_line
if ((failed)); then
	echo
	echo "BENCH FAILED (see the messages above)."
	exit 1
fi
