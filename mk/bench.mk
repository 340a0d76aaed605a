# bench.mk - cport-bench's reference servers, `make bench` (QUICK=1: reduced), `make bench-profile`
# and their tests.
# Included by the Makefile; `make test` runs test-bench through TEST_EXTRA.

# Debian's python3 has the packages deps.sh installs (pytest, uvloop).
BENCH_PY := $(firstword $(wildcard /usr/bin/python3) python3)
BENCH_REFS := $(B)/bench/ref-epoll $(B)/bench/ref-uv $(B)/bench/ref-threads $(B)/bench/ref-udp $(B)/bench/ref-uring $(B)/bench/ref-udp-uring
BENCH_TEST_BINS := $(B)/bench/ref-epoll $(B)/bench/ref-udp $(B)/bench/ref-uring $(B)/bench/ref-udp-uring $(B)/tests/bench-hist-test $(B)/tests/bench-pattern-test

$(B)/bench/ref-epoll: bench/ref/echo_epoll.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $<

$(B)/bench/ref-threads: bench/ref/echo_threads.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -lpthread

$(B)/bench/ref-udp: bench/ref/udp_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $<

$(B)/bench/ref-uring: bench/ref/echo_uring.c bench/ref/buf_ring.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -luring

$(B)/bench/ref-udp-uring: bench/ref/udp_uring.c bench/ref/buf_ring.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -luring

$(B)/bench/ref-uv: bench/ref/echo_uv.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -luv

$(B)/tests/bench-hist-test: tests/bench/hist_test.c apps/bench/hist.c apps/bench/hist.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iapps/bench -o $@ tests/bench/hist_test.c apps/bench/hist.c -lm

$(B)/tests/bench-pattern-test: tests/bench/pattern_test.c apps/bench/pattern.c apps/bench/pattern.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iapps/bench -o $@ tests/bench/pattern_test.c apps/bench/pattern.c

.PHONY: bench bench-profile bench-usershare test-bench
bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(BENCH_REFS)
	$(BENCH_PY) bench/run.py --build $(B) $(if $(QUICK),--quick) $(if $(CELLS),--cells $(CELLS)) \
		$(if $(REPEATS),--repeats $(REPEATS)) $(if $(DURATION),--duration $(DURATION))

# Instructions (callgrind) and system calls (strace) per echoed message.
bench-profile:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(B)/bench/ref-epoll
	$(BENCH_PY) bench/profile.py --build $(B)

# The user-space share of each server's CPU, sampled by perf (cpu-clock),
# with the top user-space symbols; 1,000 x 64 B unless ARGS says otherwise.
bench-usershare:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(B)/bench/ref-epoll
	$(BENCH_PY) bench/usershare.py --build $(B) $(ARGS)

test-bench: $(B)/cport-bench $(BENCH_TEST_BINS)
	@echo "== cport-bench tests"
	CPORT_BUILD=$(B) $(BENCH_PY) -m pytest -q -rs -p no:cacheprovider $(PYTEST_PAR) tests/bench

TEST_EXTRA += test-bench
TEST_BINS += $(B)/cport-bench $(BENCH_TEST_BINS)
