#!/usr/bin/env bash
# make bench: IMAP load benchmark. The same mailboxes (N users x M
# messages, APPENDed the same way) and the same load (C connections for
# T seconds, each looping SELECT, FETCH, UID FETCH BODY.PEEK[], UID
# SEARCH, UID STORE, APPEND, \Deleted + EXPUNGE) go to mailcore's
# mc-imapd on a private stack and to a private Dovecot on loopback, one
# after the other in the same run; tests/bench/imap-load.py measures and
# prints the ratio table. Any NO, BAD or wrong result fails the run
# loudly (exit 1). See tests/bench/README.md.
#
# Environment: BENCH_IMAP_USERS (20), BENCH_IMAP_MSGS (200), BENCH_SIZE
# (4096), BENCH_IMAP_CONNS (20), BENCH_IMAP_SECS (20), BENCH_WORKERS
# (4 x nproc), BENCH_FILL (imap; smtp fills mailcore through mc-smtpd),
# BENCH_NODELAY (0; 1 sets TCP_NODELAY on the client's sockets),
# BENCH_ONLY (mailcore or dovecot), BENCH_KEEP (1 keeps the temporary
# directory), MAILCORE_BIN (build/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
# shellcheck source=tests/bench/lib.sh
source tests/bench/lib.sh

USERS=${BENCH_IMAP_USERS:-20}
MSGS=${BENCH_IMAP_MSGS:-200}
SIZE=${BENCH_SIZE:-4096}
CONNS=${BENCH_IMAP_CONNS:-20}
SECS=${BENCH_IMAP_SECS:-20}
WORKERS=${BENCH_WORKERS:-$(($(nproc) * 4))}
FILL=${BENCH_FILL:-imap}
NODELAY=${BENCH_NODELAY:-0}
ONLY=${BENCH_ONLY:-}
KEEP=${BENCH_KEEP:-0}
BIN=${MAILCORE_BIN:-$TOP/build/bin}
DOMAIN=bench.test

case $ONLY in
"" | mailcore | dovecot) ;;
postfix) echo "bench: $(basename "$0" .sh): BENCH_ONLY=postfix, nothing to run" >&2; exit 0 ;;
*) echo "bench: BENCH_ONLY must be mailcore or dovecot" >&2; exit 2 ;;
esac
case $FILL in
imap | smtp) ;;
*) echo "bench: BENCH_FILL must be imap or smtp" >&2; exit 2 ;;
esac
if ((USERS < 1 || MSGS < 1 || CONNS < 1)); then
	echo "bench: BENCH_IMAP_USERS, _MSGS and _CONNS must be positive" >&2
	exit 2
fi
if [[ $ONLY != dovecot && ! -x $BIN/mc-imapd ]]; then
	echo "bench: $BIN/mc-imapd missing; run make first" >&2
	exit 2
fi

WORK=$(mktemp -d /tmp/mailcore-bench-imap.XXXXXX)
chmod 755 "$WORK"
failed=0
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The client: imap-load.py run with the common settings.
load() {
	local opts=()
	[[ $NODELAY == 1 ]] && opts+=(--nodelay)
	python3 tests/bench/imap-load.py run --users "$USERS" --msgs "$MSGS" \
		--size "$SIZE" --conns "$CONNS" --secs "$SECS" \
		--domain "$DOMAIN" "${opts[@]}" "$@"
}

run_mailcore() {
	say "mailcore: setting up a private stack in $WORK/mailcore"
	mailcore_setup "$USERS" "$WORKERS"
	local fill=(--fill imap)
	if [[ $FILL == smtp ]]; then
		mailcore_start mc-smtpd || return 1
		fill=(--fill smtp --smtp-port "$MC_PORT")
	fi
	mailcore_start MAILCORE_IMAPD_MAX_SESSIONS_PER_USER=0 mc-imapd ||
		return 1
	local imapd=$MC_PID ok=1
	# shellcheck disable=SC2046
	load --name mailcore --port "$MC_IMAP_PORT" --pid "$imapd" \
		--store-pid $(mailcore_store_pids) "${fill[@]}" \
		--out "$WORK/mailcore.json" || ok=0
	mailcore_check_alive "$imapd" mc-imapd || ok=0
	MC_WARN=$(grep -cE ' (error|warning|crit|alert)' \
		"$mc_state/log/mc-imapd.log" || true)
	mailcore_log_problems mc-imapd 5 > "$WORK/mc-imapd.problems"
	if ((!ok)); then
		fail_loudly "mailcore: errors during the IMAP load (above); log $mc_state/log/mc-imapd.log"
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
	load --name dovecot --port "$DC_PORT" --pid "$dc_master" \
		--out "$WORK/dovecot.json" || ok=0
	DC_WARN=$(dovecot_log_problems 1000 | awk '{n += $1} END {print n + 0}')
	dovecot_log_problems 5 > "$WORK/dovecot.problems"
	if ((!ok)); then
		fail_loudly "dovecot: errors during the IMAP load (above); log $dc_dir/log/"
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
python3 tests/bench/imap-load.py report "$WORK/mailcore.json" \
	"$WORK/dovecot.json" || failed=1
echo "mailcore: mc-imapd, workers=$WORKERS, [store] fsync = yes, PostgreSQL fsync on, fill by $FILL;" \
	"dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1 || echo -), defaults, maildir, fill by imap."
[[ -n ${MC_WARN:-} ]] && echo "mc-imapd log: $MC_WARN warning/error lines." &&
	sed 's/^/    /' "$WORK/mc-imapd.problems"
[[ -n ${DC_WARN:-} ]] && echo "dovecot log: $DC_WARN warning/error lines." &&
	sed 's/^/    /' "$WORK/dovecot.problems"
echo "client: imap-load.py (imaplib, TCP_NODELAY $([[ $NODELAY == 1 ]] && echo on || echo 'off: the default')), one process per connection, each looping the whole mix;" \
	"connection i uses user (i mod $USERS)+1."
machine_line
if ((failed)); then
	echo
	echo "BENCH FAILED (see the messages above)."
	exit 1
fi
