#!/bin/sh
# selfcheck.sh - show that stress-ledger's ledger counts each kind of fault:
# with one fault planted (--inject), the run must fail and its counter be nonzero.
# usage: tests/stress/selfcheck.sh BINARY
set -u
bin=$1
failed=0
for fault in double stale key kind eintr data lost; do
	out=$("$bin" --backend epoll --mode single --seconds 1 --drain-ms 500 --inject "$fault" 2>/dev/null)
	rc=$?
	if [ "$rc" -ne 1 ] || ! printf '%s\n' "$out" | grep -Eq " $fault [1-9]"; then
		echo "stress-ledger self-check: a planted '$fault' fault was not counted (exit $rc): $out"
		failed=1
	fi
done
[ "$failed" -eq 0 ] && echo "stress-ledger self-check: each planted fault (double stale key kind eintr data lost) was counted"
exit "$failed"
