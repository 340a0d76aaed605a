#!/bin/sh
# deps.sh - install the Debian packages a make target needs, only if missing.
# usage: scripts/deps.sh build|test|bench
set -eu
build="make gcc pkg-config liburing-dev libsystemd-dev"
test="$build libcriterion-dev libseccomp-dev socat netcat-openbsd python3 python3-pytest iproute2 procps systemd prometheus man-db haproxy"
bench="$build gnuplot-nox libuv1-dev python3-uvloop nodejs util-linux valgrind strace"
case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "deps.sh: unknown set '$1' (build|test|bench)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
	echo "deps.sh: need root (or sudo) to install:$missing" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
