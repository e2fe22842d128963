#!/usr/bin/env bash
# make test: starts a private stack (PostgreSQL, Redis) in a temporary
# state directory on free loopback ports, runs the unit tests and the
# integration tests against it, stops everything and prints the summary,
# ending with "N passed, N failed". Exit status 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
results=$PWD/$B/results
rm -rf "$results"
mkdir -p "$results"

state=$(mktemp -d /tmp/mailcore-test.XXXXXX)
chmod 755 "$state"
export MAILCORE_STATE=$state MAILCORE_STACK_FAST=1 MAILCORE_BIN=$PWD/$B/bin
read -r MAILCORE_DEV_PG_PORT MAILCORE_DEV_REDIS_PORT MAILCORE_DEV_PORT_OFFSET \
	< <(python3 tests/integration/ports.py)
export MAILCORE_DEV_PG_PORT MAILCORE_DEV_REDIS_PORT MAILCORE_DEV_PORT_OFFSET

cleanup() {
	ops/stack.sh stop >/dev/null 2>&1
	rm -rf "$state"
}
trap cleanup EXIT

if ! ops/mkconfig.sh || ! ops/stack.sh start; then
	echo "test: the dev stack did not start"
	echo "0 passed, 1 failed"
	exit 1
fi
export MAILCORE_TEST_PG="host=$state/pg/run port=$MAILCORE_DEV_PG_PORT user=postgres dbname=postgres"
export MAILCORE_TEST_REDIS="127.0.0.1:$MAILCORE_DEV_REDIS_PORT"
MAILCORE_TEST_REDIS_PASSWORD=$(cat "$state/secrets/redis")
export MAILCORE_TEST_REDIS_PASSWORD

echo "== unit tests"
tests/run-unit.sh "$B/tests" "$results"
echo "== integration tests"
/usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider \
	-o junit_family=xunit2 --junitxml="$results/integration.xml"
echo "== summary"
tests/summary.py "$results"
