# stress.mk - stress-ledger (tests/stress): a randomized exactly-once stress
# test that keeps a ledger of every op it starts. `make test` runs a short
# pass (test-stress, through TEST_EXTRA); `make stress` runs long ones.
# Included by the Makefile.
STRESS_SRC := $(wildcard tests/stress/*.c)
STRESS_BIN := $(B)/tests/stress-ledger

$(STRESS_BIN): $(STRESS_SRC) $(wildcard tests/stress/*.h) $(B)/libcport.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(STRESS_SRC) $(B)/libcport.a $(LDLIBS_ALL)

# Each configuration (2 backends x shared/single x default/2-buffer pool) runs
# for 2 s once per seed (sanitizer builds: one seed; the 2-buffer pool
# with a large buffer: the first seed, tests/stress/matrix.sh). STRESS_ARGS adds options.
STRESS_SECONDS ?= 2
STRESS_SEEDS ?= $(if $(filter 1,$(SANITIZE) $(TSAN)),1,1 2)
STRESS_LONG_SECONDS ?= 30
STRESS_LONG_SEEDS ?= 1 2 3 4 5
STRESS_ARGS ?=

.PHONY: test-stress stress
test-stress: $(STRESS_BIN)
	@echo "== ledger stress ($(STRESS_SECONDS) s per run, seeds $(STRESS_SEEDS))"
	@tests/stress/selfcheck.sh $(STRESS_BIN)
	@tests/stress/matrix.sh $(STRESS_BIN) $(STRESS_SECONDS) "$(STRESS_SEEDS)" $(STRESS_ARGS)

stress: $(STRESS_BIN)
	@echo "== ledger stress, long ($(STRESS_LONG_SECONDS) s per run, seeds $(STRESS_LONG_SEEDS))"
	@tests/stress/matrix.sh $(STRESS_BIN) $(STRESS_LONG_SECONDS) "$(STRESS_LONG_SEEDS)" $(STRESS_ARGS)

TEST_EXTRA += test-stress
TEST_BINS += $(STRESS_BIN)
