#!/usr/bin/env bash
# make run: the dev stack, the schema, a demo tenant and every frontend on
# the loopback dev ports, until Ctrl-C (or SIGTERM), which stops all that
# this script started. A second run reuses the state in $MAILCORE_STATE.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${MAILCORE_BIN:-$TOP_DIR/build/bin}
CONF=$STATE/mailcore.conf
DAEMONS=(mc-smtpd mc-imapd mc-pop3d mc-deliverd mc-webd)
pids=()
started_stack=0

stop_all() {
	local rc=${1:-0}
	trap - INT TERM EXIT
	set +e # stop everything, whatever fails on the way
	echo
	echo "run: stopping"
	((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	((started_stack)) && "$OPS_DIR/stack.sh" stop
	exit "$rc"
}

mailctl() {
	"$BIN/mailctl" -c "$CONF" "$@"
}

# Runs a mailctl command that may already have been done by an earlier run.
once() {
	local out
	if ! out=$(mailctl "$@" 2>&1); then
		grep -q "already exists" <<<"$out" || { echo "$out" >&2; return 1; }
	fi
}

demo_tenant() {
	mailctl db migrate >/dev/null
	once tenant add demo
	once domain add demo.test --tenant demo
	for u in alice bob; do
		secret "demo-$u" | once user add "$u@demo.test" --password-stdin
	done
	api_token
	dkim_key
}

# The demo domain's DKIM key (made once), listed for ops/devnet.py.
dkim_key() {
	local f=$STATE/run/dkim-demo.test.json
	mailctl dkim list demo.test > "$f"
	grep -q '"status": "active"' "$f" && return 0
	mailctl dkim generate demo.test --selector mc1 >/dev/null
	mailctl dkim list demo.test > "$f"
}

# The stand-in for the Internet: DNS and the example.net MX sink.
start_devnet() {
	local log=$LOG_DIR/devnet.log
	: >"$log"
	setsid python3 "$OPS_DIR/devnet.py" --state "$STATE" \
		--dns-port "$(port 2053)" --mx-port "$(port 2025)" \
		--dkim "$STATE/run/dkim-demo.test.json" >>"$log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 200); do
		grep -q "devnet ready" "$log" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "run: ops/devnet.py did not start; see $log:" >&2
	tail -n 5 "$log" >&2
	return 1
}

# A provider token for the REST API, made once and kept in the secrets
# directory (mode 600): the API shows a token only when it is created.
api_token() {
	local f=$STATE/secrets/api-token
	[[ -s $f ]] && mailctl token list --max 500 2>/dev/null |
		grep -q "\"prefix\": \"$(head -c 12 "$f")\"" && return 0
	(umask 077 && mailctl token create --role provider --name make-run \
		--no-expiry > "$f.tmp" 2>/dev/null) && mv "$f.tmp" "$f"
}

# Starts one daemon and waits for its ready line (or its death).
start_daemon() {
	local d=$1 log=$LOG_DIR/$1.log
	local before
	before=0
	[[ -f $log ]] && before=$(wc -l <"$log")
	# Its own session: Ctrl-C reaches this script, which stops the daemons
	# in order, not the daemons directly.
	setsid "$BIN/$d" -c "$CONF" >>"$log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 200); do
		tail -n +"$((before + 1))" "$log" | grep -q " ready:" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "run: $d did not start; see $log:" >&2
	tail -n 5 "$log" >&2
	return 1
}

port() {
	echo $(($1 + PORT_OFFSET))
}

banner() {
	cat <<TXT

mailcore is running (state in $STATE, logs in $LOG_DIR)
  SMTP (MX)          127.0.0.1:$(port 2525)
  Submission         127.0.0.1:$(port 2587)   STARTTLS
  Submissions        127.0.0.1:$(port 2465)   implicit TLS
  IMAP               127.0.0.1:$(port 2143)   STARTTLS
  IMAPS              127.0.0.1:$(port 2993)
  POP3               127.0.0.1:$(port 2110)   STLS
  POP3S              127.0.0.1:$(port 2995)
  HTTP               http://127.0.0.1:$(port 8080)/
  HTTPS              https://127.0.0.1:$(port 8443)/
  PostgreSQL         127.0.0.1:$PG_PORT (database mailcore)
  Redis              127.0.0.1:$REDIS_PORT
Demo tenant "demo", domain demo.test:
  alice@demo.test    password $(secret demo-alice)
  bob@demo.test      password $(secret demo-bob)
Send a test message:
  swaks --server 127.0.0.1:$(port 2525) --to alice@demo.test
  swaks --server 127.0.0.1:$(port 2587) --tls --auth-user alice@demo.test \
        --auth-password "\$(cat $STATE/secrets/demo-alice)" --from alice@demo.test --to bob@demo.test
Send to the outside world (example.net, a sink on 127.0.0.2; DKIM-signed):
  swaks --server 127.0.0.1:$(port 2587) --tls --auth-user alice@demo.test \
        --auth-password "\$(cat $STATE/secrets/demo-alice)" --from alice@demo.test --to someone@example.net
  ls $STATE/sink/        # NNNN.eml as the sink received it
  build/bin/mailctl -c $CONF dkim verify $STATE/sink/0001.eml
  build/bin/mailctl -c $CONF queue list
Read it:
  curl --cacert $STATE/tls/ca.pem -u alice@demo.test:"\$(cat $STATE/secrets/demo-alice)" \
       'imaps://localhost:$(port 2993)/INBOX;UID=1'
  (mbsync, Thunderbird...: IMAPS localhost:$(port 2993), POP3S localhost:$(port 2995))
REST API (provider token in $STATE/secrets/api-token; api/README.md):
  TOKEN=\$(cat $STATE/secrets/api-token)
  curl --cacert $STATE/tls/ca.pem -H "Authorization: Bearer \$TOKEN" \
       -H 'Content-Type: application/json' -d '{"name": "acme"}' \
       https://localhost:$(port 8443)/api/v1/tenants
  curl --cacert $STATE/tls/ca.pem -H "Authorization: Bearer \$TOKEN" \
       https://localhost:$(port 8443)/api/v1/domains/demo.test/users
TLS test CA: $STATE/tls/ca.pem
Administration: build/bin/mailctl -c $CONF -h
Press Ctrl-C to stop.
TXT
}

trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT
"$OPS_DIR/mkconfig.sh"
"$OPS_DIR/stack.sh" status >/dev/null 2>&1 || started_stack=1
"$OPS_DIR/stack.sh" start
demo_tenant
start_devnet
for d in "${DAEMONS[@]}"; do
	start_daemon "$d"
done
banner
# Waits for a signal; a daemon that dies ends the run.
wait -n "${pids[@]}" || true
echo "run: a daemon exited; see $LOG_DIR" >&2
stop_all 1
