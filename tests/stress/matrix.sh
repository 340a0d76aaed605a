#!/bin/sh
# matrix.sh - run stress-ledger over both backends, shared and single-thread
# ports, the default and a 2-buffer pool, once per seed; fail if any run fails.
# usage: tests/stress/matrix.sh BINARY SECONDS "SEED..." [more stress-ledger options]
set -u
bin=$1 secs=$2 seeds=$3
shift 3
runs=0 failed=0
for be in io_uring epoll; do
	for mode in shared single; do
		for pool in 0 2; do
			for seed in $seeds; do
				runs=$((runs + 1))
				if ! "$bin" --backend "$be" --mode "$mode" --pool-buffers "$pool" \
					--seconds "$secs" --seed "$seed" "$@"; then
					failed=$((failed + 1))
					echo "stress-ledger: FAILED: --backend $be --mode $mode --pool-buffers $pool --seed $seed"
				fi
			done
		done
	done
done
echo "stress-ledger: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
