#!/usr/bin/env bash
# Installs the Debian packages mailcore needs to build, run and test.
# Idempotent and quick: asks dpkg first and calls apt-get only for what is
# missing. Needs root when something is missing.
set -euo pipefail

PACKAGES=(
	# build
	build-essential pkg-config
	# libraries (README, "Dependencies", says why each is there)
	libssl-dev libpq-dev libhiredis-dev libevent-dev libinih-dev
	libjansson-dev libcrypt-dev libargon2-dev zlib1g-dev libcmocka-dev
	libcivetweb-dev libcsv-dev libunbound-dev libopendkim-dev
	libcurl4-openssl-dev libspf2-dev libpsl-dev publicsuffix libclamav-dev
	libpcre2-dev libmagic-dev
	# dev stack and tests
	postgresql-15 postgresql-client-15 redis-server redis-tools openssl
	python3 python3-pytest python3-yaml python3-jsonschema curl swaks libnet-ssleay-perl libio-socket-ssl-perl isync
	fetchmail unbound ldnsutils clamav-testfiles
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}"
if [[ $(id -u) != 0 ]]; then
	echo "deps: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Packages may not start services during install (containers, CI).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
