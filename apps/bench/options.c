/* options.c - cport-bench's command line. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bench.h"

#define DEFAULT_PORT 5150
#define DEFAULT_TCP_TIMEOUT 5.0
#define DEFAULT_UDP_TIMEOUT 0.25

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cport-bench [options]\n"
		"  --host ADDR         server address, IPv4 or IPv6 (default 127.0.0.1)\n"
		"  -p, --port N        server port (default %d)\n"
		"  -c, --connections N connections (default 1)\n"
		"  -d, --duration SEC  measured seconds (default 10)\n"
		"  -s, --size BYTES    message size, >= %d (default 64)\n"
		"  --warmup SEC        seconds run before measuring (default 1)\n"
		"  -P, --pipeline N    closed loop: messages in flight per connection (default 1)\n"
		"  -r, --rate R        open loop: R messages/s in total, latency from intended send time\n"
		"  --stream            send continuously and read back: bytes/s\n"
		"  --udp               UDP: one datagram per message; loss and reordering counted\n"
		"  --connect-rate R    open at most R connections per second (default: no limit)\n"
		"  -t, --threads N     client threads, each with its own port (default 1)\n"
		"  --backend NAME      auto, io_uring or epoll (default auto)\n"
		"  --timeout SEC       give a connection up after SEC without progress\n"
		"                      (default %.0f; UDP: a datagram is lost after it, default %.2f)\n"
		"  --json FILE         write every figure and the parameters as JSON\n"
		"  --hgrm FILE         write the latency distribution in HdrHistogram's text format\n"
		"  --server-pid PID    report that process's CPU per message and RSS\n"
		"  --no-pool           receive into a buffer per connection, not the port's pool\n"
		"  -h, --help          this text\n"
		"  --version           the version\n"
		"exit status: 0 all verified, 1 a payload mismatch, 2 usage or setup error,\n"
		"3 connection errors (failed connects, resets, early close, timeouts)\n",
		DEFAULT_PORT, PAT_MIN_SIZE, DEFAULT_TCP_TIMEOUT, DEFAULT_UDP_TIMEOUT);
}

enum {
	OPT_HOST = 256, OPT_WARMUP, OPT_STREAM, OPT_UDP, OPT_CONNECT_RATE, OPT_BACKEND, OPT_TIMEOUT,
	OPT_JSON, OPT_HGRM, OPT_SERVER_PID, OPT_NO_POOL, OPT_VERSION,
};

static const struct option longopts[] = {
	{"host", required_argument, 0, OPT_HOST},
	{"port", required_argument, 0, 'p'},
	{"connections", required_argument, 0, 'c'},
	{"duration", required_argument, 0, 'd'},
	{"size", required_argument, 0, 's'},
	{"warmup", required_argument, 0, OPT_WARMUP},
	{"pipeline", required_argument, 0, 'P'},
	{"rate", required_argument, 0, 'r'},
	{"stream", no_argument, 0, OPT_STREAM},
	{"udp", no_argument, 0, OPT_UDP},
	{"connect-rate", required_argument, 0, OPT_CONNECT_RATE},
	{"threads", required_argument, 0, 't'},
	{"backend", required_argument, 0, OPT_BACKEND},
	{"timeout", required_argument, 0, OPT_TIMEOUT},
	{"json", required_argument, 0, OPT_JSON},
	{"hgrm", required_argument, 0, OPT_HGRM},
	{"server-pid", required_argument, 0, OPT_SERVER_PID},
	{"no-pool", no_argument, 0, OPT_NO_POOL},
	{"help", no_argument, 0, 'h'},
	{"version", no_argument, 0, OPT_VERSION},
	{0, 0, 0, 0},
};

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "cport-bench: bad value for %s: '%s'\n", opt, val);
	return -1;
}

static int parse_uint(const char *opt, const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return bad(opt, s);
	*out = v;
	return 0;
}

static int parse_secs(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return bad(opt, s);
	*out = v;
	return 0;
}

static int parse_backend(const char *s, int *out)
{
	int be = cport_backend_parse(s);
	if (be < 0)
		return bad("--backend", s);
	*out = be;
	return 0;
}

/* Resolve host (numeric IPv4 or IPv6, optionally [bracketed], or a name). */
static int resolve(struct config *cfg)
{
	char host[256];
	size_t n = strlen(cfg->host);
	if (n >= 2 && cfg->host[0] == '[' && cfg->host[n - 1] == ']' && n - 2 < sizeof(host)) {
		memcpy(host, cfg->host + 1, n - 2);
		host[n - 2] = 0;
	} else {
		snprintf(host, sizeof(host), "%s", cfg->host);
	}
	char port[16];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = {.ai_socktype = cfg->udp ? SOCK_DGRAM : SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "cport-bench: cannot resolve '%s': %s\n", cfg->host, gai_strerror(rc));
		return -1;
	}
	memcpy(&cfg->addr, ai->ai_addr, ai->ai_addrlen);
	cfg->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	char text[INET6_ADDRSTRLEN] = "?";
	if (cfg->addr.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&cfg->addr)->sin6_addr, text, sizeof(text));
		snprintf(cfg->addr_text, sizeof(cfg->addr_text), "[%s]:%u", text, cfg->port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&cfg->addr)->sin_addr, text, sizeof(text));
		snprintf(cfg->addr_text, sizeof(cfg->addr_text), "%s:%u", text, cfg->port);
	}
	return 0;
}

static int check_combination(struct config *cfg, bool timeout_set)
{
	if (cfg->mode == MODE_STREAM && cfg->udp) {
		fprintf(stderr, "cport-bench: --stream is TCP only\n");
		return -1;
	}
	if (cfg->mode == MODE_STREAM && cfg->rate > 0) {
		fprintf(stderr, "cport-bench: --stream and --rate exclude each other\n");
		return -1;
	}
	if (cfg->udp && cfg->size > BENCH_UDP_MAX_SIZE) {
		fprintf(stderr, "cport-bench: UDP messages are at most %u bytes\n", BENCH_UDP_MAX_SIZE);
		return -1;
	}
	if (cfg->threads > cfg->conns)
		cfg->threads = cfg->conns;
	if (!timeout_set)
		cfg->timeout = cfg->udp ? DEFAULT_UDP_TIMEOUT : DEFAULT_TCP_TIMEOUT;
	return 0;
}

/* Returns 0 to run, 1 when done (help, version), -1 on a usage error. */
int options_parse(int argc, char **argv, struct config *cfg)
{
	*cfg = (struct config){.host = "127.0.0.1", .port = DEFAULT_PORT, .conns = 1, .duration = 10,
			       .warmup = 1, .size = 64, .pipeline = 1, .threads = 1, .mode = MODE_CLOSED};
	bool timeout_set = false;
	unsigned long v;
	int o;
	while ((o = getopt_long(argc, argv, "p:c:d:s:P:r:t:h", longopts, NULL)) != -1) {
		int rc = 0;
		switch (o) {
		case OPT_HOST: cfg->host = optarg; break;
		case 'p': rc = parse_uint("--port", optarg, 1, 65535, &v); cfg->port = (unsigned)v; break;
		case 'c': rc = parse_uint("-c", optarg, 1, PAT_MAX_CONNS - 1, &v); cfg->conns = (unsigned)v; break;
		case 'd': rc = parse_secs("-d", optarg, 0.01, 86400, &cfg->duration); break;
		case 's': rc = parse_uint("-s", optarg, PAT_MIN_SIZE, BENCH_MAX_SIZE, &v); cfg->size = v; break;
		case OPT_WARMUP: rc = parse_secs("--warmup", optarg, 0, 3600, &cfg->warmup); break;
		case 'P': rc = parse_uint("--pipeline", optarg, 1, BENCH_MAX_PIPELINE, &v); cfg->pipeline = (unsigned)v; break;
		case 'r': rc = parse_secs("--rate", optarg, 0.001, 1e9, &cfg->rate); cfg->mode = MODE_OPEN; break;
		case OPT_STREAM: cfg->mode = MODE_STREAM; break;
		case OPT_UDP: cfg->udp = true; break;
		case OPT_CONNECT_RATE: rc = parse_secs("--connect-rate", optarg, 0.001, 1e9, &cfg->connect_rate); break;
		case 't': rc = parse_uint("--threads", optarg, 1, 1024, &v); cfg->threads = (unsigned)v; break;
		case OPT_BACKEND: rc = parse_backend(optarg, &cfg->backend); break;
		case OPT_TIMEOUT: rc = parse_secs("--timeout", optarg, 0.001, 3600, &cfg->timeout); timeout_set = true; break;
		case OPT_JSON: cfg->json_path = optarg; break;
		case OPT_HGRM: cfg->hgrm_path = optarg; break;
		case OPT_SERVER_PID: rc = parse_uint("--server-pid", optarg, 1, 1u << 30, &v); cfg->server_pid = (int)v; break;
		case OPT_NO_POOL: cfg->own_buffers = true; break;
		case 'h': usage(stdout); return 1;
		case OPT_VERSION: printf("cport-bench %s\n", cport_version()); return 1;
		default: usage(stderr); return -1;
		}
		if (rc)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "cport-bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (check_combination(cfg, timeout_set) || resolve(cfg))
		return -1;
	return 0;
}
