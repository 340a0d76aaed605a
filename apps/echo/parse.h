/* parse.h - the values of cport-echo's command line, parsed by pure functions: numbers, seconds, addresses (and a fuzzer's target). */
#ifndef ECHO_PARSE_H
#define ECHO_PARSE_H

#include "options.h"

/* A decimal number in [min, max], digits only (no sign, no spaces): 0 and
 * *out, or -1. */
int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Seconds, fractions allowed, up to a year, to milliseconds (anything
 * above 0 is at least 1 ms): 0 and *ms, or -1. */
int parse_secs(const char *s, unsigned long *ms);

/* An IPv4 or IPv6 literal (brackets allowed around IPv6), no names, with
 * port: 0 and *la (zeroed first, fd -1), or -1. */
int parse_host(const char *host, unsigned port, struct listen_addr *la);

/* "ADDR:PORT" or "[ADDR6]:PORT", PORT 0..65535: 0 and *la, or -1. */
int parse_listen(const char *arg, struct listen_addr *la);

#endif
