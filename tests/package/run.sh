#!/bin/sh
# run.sh - `make package-test`: build the Debian packages from a copy of the tree (dpkg-buildpackage writes
# to ..), check them with lintian (no errors), install them with apt-get, run what they installed and build
# programs against libcport-dev and libcport-win32-dev through pkg-config; then purge them, leaving the
# machine as it was. Needs root or sudo (scripts/deps.sh package installs what it uses). KEEP_WORK=1 keeps
# the work directory (build log, packages, lintian output).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n '1s/^cport (\([^)]*\)).*/\1/p' "$repo/debian/changelog")
pkgs="libcport0 libcport-dev cport-echo cport-bench libcport-win32-0 libcport-win32-dev"
BUILD_TIMEOUT=900
STEP_TIMEOUT=120

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
	echo "package-test: needs root (or sudo) to install the packages" >&2; exit 1
fi
# Someone's own cport packages are theirs: refuse rather than replace and then purge them.
for p in $pkgs; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "package-test: $p is installed already; remove it first" >&2; exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cport-package-test.XXXXXX")
installed=0
cleanup() {
	rc=$?
	if [ "$installed" = 1 ]; then
		# shellcheck disable=SC2086
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs >/dev/null || rc=1
		for p in $pkgs; do
			if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
				echo "package-test: $p is still installed" >&2; rc=1
			fi
		done
	fi
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

echo "== package-test: dpkg-buildpackage -us -uc -b in $work"
src="$work/cport-$version"
mkdir -p "$src"
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$src" -xf -
if ! (cd "$src" && DEB_BUILD_OPTIONS="noddebs parallel=2" timeout "$BUILD_TIMEOUT" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log"; fail "dpkg-buildpackage"
fi
for p in $pkgs; do
	deb=$(find "$work" -maxdepth 1 -name "${p}_${version}_*.deb")
	[ -n "$deb" ] || fail "no $p package"
	echo "  ${deb#"$work"/}"
done

echo "== lintian (errors fail; the tags it shows are listed)"
# Not --show-overrides: lintian 2.116 then counts an overridden error in its exit status.
if timeout "$BUILD_TIMEOUT" lintian --fail-on error "$work"/cport_"$version"_*.changes \
	>"$work/lintian.log" 2>&1; then lintian_rc=0; else lintian_rc=$?; fi
grep -v '^running with root privileges' "$work/lintian.log" | sed 's/^/  /' || true
grep -h '^[a-z]' "$repo"/debian/*.lintian-overrides | sed 's/^/  overridden, with the reason in debian\/: /'
[ "$lintian_rc" -eq 0 ] || fail "lintian (exit $lintian_rc)"

echo "== apt-get install ./*.deb"
installed=1
# shellcheck disable=SC2046
$sudo env DEBIAN_FRONTEND=noninteractive timeout "$BUILD_TIMEOUT" apt-get install -y -qq --no-install-recommends \
	$(for p in $pkgs; do echo "$work/${p}_${version}_"*.deb; done) >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; fail "apt-get install"; }

echo "== what the packages installed runs"
out=$(timeout "$STEP_TIMEOUT" /usr/bin/cport-echo --version) || fail "cport-echo --version"
echo "  $out"
[ "$out" = "cport-echo $version (libcport $version)" ] || fail "cport-echo --version says '$out'"
out=$(timeout "$STEP_TIMEOUT" /usr/bin/cport-bench --version) || fail "cport-bench --version"
echo "  $out"
for f in /usr/share/man/man1/cport-echo.1.gz /usr/share/man/man1/cport-bench.1.gz /usr/share/man/man3/cport.3.gz \
	/lib/systemd/system/cport-echo.service /lib/systemd/system/cport-echo.socket; do
	[ -f "$f" ] || fail "$f is missing"
done
grep -q '^ExecStart=/usr/bin/cport-echo$' /lib/systemd/system/cport-echo.service || fail "ExecStart is not /usr/bin"
[ ! -e /etc/systemd/system/sockets.target.wants/cport-echo.socket ] || fail "cport-echo.socket was enabled"

echo "== the installed cport-echo serves; the installed cport-bench verifies every byte it echoes"
# The log exists before the server does: the background job opens it only
# once it runs, and a first look that found no file ended the script (set -e).
: >"$work/echo.log"
timeout "$STEP_TIMEOUT" /usr/bin/cport-echo --listen 127.0.0.1:0 --tcp-only --threads 2 2>"$work/echo.log" &
echo_pid=$!
# Its ready line names the port it got; bounded: 200 checks 0.1 s apart.
port=""
for _ in $(seq 200); do
	port=$(sed -n 's/^cport-echo: listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/echo.log")
	[ -n "$port" ] || ! kill -0 "$echo_pid" 2>/dev/null || { sleep 0.1; continue; }
	break
done
[ -n "$port" ] || { cat "$work/echo.log"; fail "cport-echo did not get ready"; }
timeout "$STEP_TIMEOUT" /usr/bin/cport-bench --host 127.0.0.1 -p "$port" -c 8 -d 1 --warmup 0 >"$work/bench.log" 2>&1 ||
	{ cat "$work/bench.log"; fail "cport-bench against the installed cport-echo"; }
grep -E '^(throughput|result):' "$work/bench.log" | sed 's/^/  /' || true
kill -TERM "$echo_pid"
wait "$echo_pid" || { cat "$work/echo.log"; fail "cport-echo did not exit 0 on SIGTERM"; }
echo "  cport-echo on 127.0.0.1:$port: echoed, verified, drained and exited 0"

echo "== a program built against libcport-dev: cc app.c \$(pkg-config --cflags --libs cport)"
# shellcheck disable=SC2046
timeout "$STEP_TIMEOUT" cc -Wall -Wextra -Werror -o "$work/app" "$repo/tests/package/app.c" \
	$(pkg-config --cflags --libs cport) || fail "building against cport.pc"
ldd "$work/app" | grep -Eq "libcport.so.0 => (/usr)?/lib/[^ ]*/libcport.so.0" || fail "app does not use the packaged libcport.so.0"
timeout "$STEP_TIMEOUT" "$work/app" || fail "app (shared)"
echo "  and linked with \$(pkg-config --variable=libdir cport)/libcport.a:"
libdir=$(pkg-config --variable=libdir cport)
# shellcheck disable=SC2046
timeout "$STEP_TIMEOUT" cc -Wall -Wextra -Werror -o "$work/app-static" "$repo/tests/package/app.c" \
	$(pkg-config --cflags cport) "$libdir/libcport.a" $(pkg-config --static --libs-only-l cport | sed 's/-lcport //') ||
	fail "building against libcport.a"
timeout "$STEP_TIMEOUT" "$work/app-static" || fail "app (static)"

echo "== a classic IOCP program built against libcport-win32-dev: \$(pkg-config --cflags --libs cport-win32)"
# shellcheck disable=SC2046
timeout "$STEP_TIMEOUT" cc -Wall -Werror -o "$work/iocp_echo" "$repo/examples/win32/iocp_echo.c" \
	$(pkg-config --cflags --libs cport-win32) || fail "building against cport-win32.pc"
ldd "$work/iocp_echo" | grep -Eq "libcport-win32.so.0 => (/usr)?/lib/[^ ]*/libcport-win32.so.0" || fail "iocp_echo does not use the packaged shim"
timeout "$STEP_TIMEOUT" "$work/iocp_echo" 0 </dev/null || fail "iocp_echo (serves port 0, stops at the end of its input)"

echo "== package-test: ok ($pkgs built, lintian without errors, installed, ran; purged)"
