# fuzz.mk - libFuzzer targets for every parser that takes outside input (tests/fuzz/NAME.c), built with Debian's
# clang under ASan+UBSan, and `make fuzz`, which runs each for FUZZ_SECONDS (default 60) from its seed corpus
# tests/fuzz/corpus/NAME/ (and tests/fuzz/NAME.dict if there is one). A crash, a leak, a UBSan report or a
# broken contract (fuzz_check) fails it; the input is kept in build/fuzz/NAME.crashes/ and becomes a unit test.
# Target NAME links apps/echo/NAME.c unless FUZZ_SRC_NAME names other files: adding a parser's target is
# tests/fuzz/NAME.c and tests/fuzz/corpus/NAME/, nothing here. `make -j3 fuzz` runs three at once.
# Included by the Makefile.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 8192
FUZZ_B := build/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/*.c))
FUZZ_FLAGS := -std=gnu11 $(WARN) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -D_GNU_SOURCE -Iinclude -Iapps/echo -Itests/fuzz
fuzz_src = $(or $(FUZZ_SRC_$(1)),apps/echo/$(1).c)

# Each run starts from the seed corpus and writes what it finds to build/, never to the repository; the
# `timeout` is a bound on top of libFuzzer's own -max_total_time.
define fuzz_target
$(FUZZ_B)/$(1): tests/fuzz/$(1).c tests/fuzz/fuzz.h $(call fuzz_src,$(1)) $(wildcard apps/echo/*.h)
	@mkdir -p $(FUZZ_B)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $$@ tests/fuzz/$(1).c $(call fuzz_src,$(1))

.PHONY: fuzz-run-$(1)
fuzz-run-$(1): $(FUZZ_B)/$(1)
	@rm -rf $(FUZZ_B)/$(1).corpus $(FUZZ_B)/$(1).crashes && mkdir -p $(FUZZ_B)/$(1).corpus $(FUZZ_B)/$(1).crashes
	@echo "== fuzz $(1): $(FUZZ_SECONDS) s under ASan+UBSan, seeds tests/fuzz/corpus/$(1)"
	@timeout -k 10 $$$$(($(FUZZ_SECONDS) + 120)) $(FUZZ_B)/$(1) -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=1024 -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 \
		$(if $(wildcard tests/fuzz/$(1).dict),-dict=tests/fuzz/$(1).dict) \
		-artifact_prefix=$(FUZZ_B)/$(1).crashes/ $(FUZZ_B)/$(1).corpus tests/fuzz/corpus/$(1) \
		>$(FUZZ_B)/$(1).log 2>&1; rc=$$$$?; \
	if [ $$$$rc -ne 0 ] || [ -n "$$$$(ls -A $(FUZZ_B)/$(1).crashes)" ]; then \
		tail -n 60 $(FUZZ_B)/$(1).log; echo "fuzz $(1): FAILED (exit $$$$rc), inputs in $(FUZZ_B)/$(1).crashes/"; exit 1; \
	fi; \
	grep -E '^(INFO: Seed|Done|stat::number_of_executed_units|stat::peak_rss)' $(FUZZ_B)/$(1).log; \
	echo "fuzz $(1): no crash, corpus $$$$(ls $(FUZZ_B)/$(1).corpus | wc -l) inputs (log $(FUZZ_B)/$(1).log)"
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_target,$(t))))

.PHONY: fuzz fuzz-build deps-fuzz
deps-fuzz:
	@scripts/deps.sh fuzz
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/%)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory --output-sync=target $(FUZZ_TARGETS:%=fuzz-run-%)
