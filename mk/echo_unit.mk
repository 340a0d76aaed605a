# echo_unit.mk - unit tests of cport-echo's pure pieces (tests/echo_unit, Criterion): the metrics request parser,
# the PROXY header parser and the command line's value parsers.
# Included by the Makefile; `make test` runs test-echo-unit through TEST_EXTRA.
ECHO_UNIT_BIN := $(B)/tests/echo-unit-tests
ECHO_UNIT_SRC := apps/echo/http_req.c apps/echo/proxy_hdr.c apps/echo/parse.c

$(ECHO_UNIT_BIN): $(wildcard tests/echo_unit/*.c) $(ECHO_UNIT_SRC) $(ECHO_UNIT_SRC:.c=.h) apps/echo/options.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iapps/echo -o $@ $(wildcard tests/echo_unit/*.c) $(ECHO_UNIT_SRC) -lcriterion

.PHONY: test-echo-unit
test-echo-unit: $(ECHO_UNIT_BIN)
	@echo "== echo unit tests (the metrics request parser, the PROXY header parser, the command line's value parsers)"
	@./$(ECHO_UNIT_BIN) --jobs 1

TEST_EXTRA += test-echo-unit
TEST_BINS += $(ECHO_UNIT_BIN)
