# The adversarial suite (tests/adversarial): hostile clients next to verifying
# ones, against cport-echo on both backends. Included by the Makefile.

# A python3 that has pytest (a pyenv shim first in PATH may not have it);
# expanded only when the suite runs.
ADV_PYTHON = $(or $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest' 2>/dev/null && { echo $$p; break; }; done),python3)
# Sanitizer builds run every case with fewer clients (CPORT_ADV_SCALE).
ADV_SCALE ?= $(if $(filter 1,$(SANITIZE) $(TSAN)),0.2,1)

.PHONY: test-adversarial
test-adversarial: $(B)/cport-echo
	@echo "== adversarial suite (both backends, scale $(ADV_SCALE))"
	CPORT_BUILD=$(B) CPORT_ADV_SCALE=$(ADV_SCALE) $(ADV_PYTHON) -m pytest -q -s -p no:cacheprovider -rs tests/adversarial

TEST_EXTRA += test-adversarial
