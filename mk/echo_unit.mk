# echo_unit.mk - unit tests of cport-echo's pure pieces (tests/echo_unit, Criterion): the metrics request parser, the PROXY header parser.
# Included by the Makefile; `make test` runs test-echo-unit through TEST_EXTRA.
ECHO_UNIT_BIN := $(B)/tests/echo-unit-tests
ECHO_UNIT_SRC := apps/echo/http_req.c apps/echo/proxy_hdr.c

$(ECHO_UNIT_BIN): $(wildcard tests/echo_unit/*.c) $(ECHO_UNIT_SRC) $(ECHO_UNIT_SRC:.c=.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iapps/echo -o $@ $(wildcard tests/echo_unit/*.c) $(ECHO_UNIT_SRC) -lcriterion

.PHONY: test-echo-unit
test-echo-unit: $(ECHO_UNIT_BIN)
	@echo "== echo unit tests (the metrics request parser, the PROXY header parser)"
	@./$(ECHO_UNIT_BIN) --jobs 1

TEST_EXTRA += test-echo-unit
