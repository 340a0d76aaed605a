#!/bin/sh
# deps.sh - install the Debian packages a make target needs, only if missing.
# usage: scripts/deps.sh build|run|test|bench|fuzz|package
set -eu
build="make gcc pkg-config liburing-dev libsystemd-dev"
test="$build libcriterion-dev libseccomp-dev socat netcat-openbsd python3 python3-pytest python3-pytest-xdist iproute2 procps systemd prometheus man-db haproxy valgrind"
# make run: the build, and socat for the README's "try it" line.
run="$build socat"
bench="$build gnuplot-nox libuv1-dev python3-uvloop nodejs util-linux valgrind strace linux-perf"
# make fuzz: libFuzzer is in libclang-rt-14-dev, which clang only recommends.
fuzz="make clang libclang-rt-14-dev"
# make package-test: dpkg-buildpackage (the Build-Depends of debian/control are in $build), lintian.
package="$build dpkg-dev debhelper lintian build-essential fakeroot"
case "${1:-build}" in
build) want=$build ;;
run) want=$run ;;
test) want=$test ;;
bench) want=$bench ;;
fuzz) want=$fuzz ;;
package) want=$package ;;
*) echo "deps.sh: unknown set '$1' (build|run|test|bench|fuzz|package)" >&2; exit 2 ;;
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
