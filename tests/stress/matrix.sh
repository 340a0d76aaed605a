#!/bin/sh
# matrix.sh - run stress-ledger over both backends, shared and single-thread
# ports, the default and a 2-buffer pool once per seed, and a 2-buffer pool
# with one large buffer (32 KiB) with the first seed; fail if any run fails.
# A third of the TCP connections read ahead (CPORT_RECV_AHEAD); a later
# --recv-ahead among the options overrides it.
# usage: tests/stress/matrix.sh BINARY SECONDS "SEED..." [more stress-ledger options]
set -u
bin=$1 secs=$2 seeds=$3
shift 3
first_seed=${seeds%% *}
runs=0 failed=0
for be in io_uring epoll; do
	for mode in shared single; do
		for pool in 0 2 2+1; do
			small=${pool%+*} large=0 run_seeds=$seeds
			if [ "$pool" != "$small" ]; then
				large=${pool#*+} run_seeds=$first_seed
			fi
			for seed in $run_seeds; do
				runs=$((runs + 1))
				if ! "$bin" --backend "$be" --mode "$mode" --pool-buffers "$small" --large-buffers "$large" \
					--seconds "$secs" --seed "$seed" --recv-ahead 33 "$@"; then
					failed=$((failed + 1))
					echo "stress-ledger: FAILED: --backend $be --mode $mode --pool-buffers $small" \
						"--large-buffers $large --seed $seed"
				fi
			done
		done
	done
done
echo "stress-ledger: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
