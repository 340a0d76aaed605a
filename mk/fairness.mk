# fairness.mk - tests/fairness: many connections all active against cport-echo
# in each backend and model, none waiting more than 1 s for its echo.
# Included by the Makefile; `make test` runs test-fairness (CI scale) through
# TEST_EXTRA, `make stress` runs stress-fairness (10,000 connections).

# Debian's python3 has the packages deps.sh installs (pytest).
FAIR_PY := $(firstword $(wildcard /usr/bin/python3) python3)
# Sanitizer builds run with fewer connections (CPORT_FAIR_SCALE): half under
# ASan+UBSan, which still shows a starved connection, a quarter under TSan.
FAIR_SCALE ?= $(if $(filter 1,$(TSAN)),0.25,$(if $(filter 1,$(SANITIZE)),0.5,1))
FAIR_PYTEST := $(FAIR_PY) -m pytest -q -s -p no:cacheprovider -rs tests/fairness

.PHONY: test-fairness stress stress-fairness
test-fairness: $(B)/cport-echo $(B)/cport-bench
	@echo "== fairness (both backends, both models, scale $(FAIR_SCALE))"
	CPORT_BUILD=$(B) CPORT_FAIR_SCALE=$(FAIR_SCALE) $(FAIR_PYTEST)

# The issue's held-out check: plain cport-echo (default pool and threads),
# `cport-bench -c 10000 -s 64 -d 8 --timeout 1`, once per backend and model.
stress-fairness: $(B)/cport-echo $(B)/cport-bench
	@echo "== fairness at 10,000 connections (both backends, both models)"
	CPORT_BUILD=$(B) CPORT_FAIR_CONNECTIONS=10000 CPORT_FAIR_POOL=default CPORT_FAIR_THREADS=default \
		CPORT_FAIR_ROUNDS=1 CPORT_FAIR_WARMUP=1 CPORT_FAIR_DURATION=8 $(FAIR_PYTEST)

stress: stress-fairness

# Not in the ASan+UBSan pass: it is a test of waiting times, which the
# sanitizer stretches, and the adversarial suite loads the sanitized server
# with as many connections.
ifneq ($(SANITIZE),1)
TEST_EXTRA += test-fairness
endif
