/* options.c - parsing cport-echo's command line. */
#include "options.h"
#include "parse.h"

#include "cport.h"
#include "log.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 1024
#define MAX_ADDRS 64
#define DEFAULT_DRAIN_MS 10000UL
#define DEFAULT_UDP_MIN_PORT 1024
#define DEFAULT_PROXY_TIMEOUT_MS 5000UL
/* Pipes of spliced echoes at a time: 1,024 descriptors, and at most 32 MiB
 * of pipe buffers, half of what the kernel gives an unprivileged user
 * before it shrinks new pipes (fs.pipe-user-pages-soft). */
#define DEFAULT_SPLICE_PIPES 512UL

enum {
	OPT_BACKEND = 256,
	OPT_MODEL,
	OPT_TCP_ONLY,
	OPT_UDP_ONLY,
	OPT_MAX_CONNS,
	OPT_IDLE,
	OPT_DRAIN,
	OPT_UDP_MIN_PORT,
	OPT_UDP_ALLOW_BCAST,
	OPT_POOL,
	OPT_POOL_SIZE,
	OPT_POOL_LARGE,
	OPT_POOL_LARGE_SIZE,
	OPT_METRICS,
	OPT_USER,
	OPT_INETD,
	OPT_PROXY,
	OPT_PROXY_TIMEOUT,
	OPT_REUSEPORT,
	OPT_SPLICE_PIPES,
	OPT_RECV_AHEAD,
};

static const struct option long_opts[] = {
	{"port", required_argument, NULL, 'p'},
	{"bind", required_argument, NULL, 'b'},
	{"listen", required_argument, NULL, 'l'},
	{"threads", required_argument, NULL, 't'},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"model", required_argument, NULL, OPT_MODEL},
	{"tcp-only", no_argument, NULL, OPT_TCP_ONLY},
	{"udp-only", no_argument, NULL, OPT_UDP_ONLY},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN},
	{"udp-min-source-port", required_argument, NULL, OPT_UDP_MIN_PORT},
	{"udp-allow-broadcast", no_argument, NULL, OPT_UDP_ALLOW_BCAST},
	{"pool-buffers", required_argument, NULL, OPT_POOL},
	{"pool-buffer-size", required_argument, NULL, OPT_POOL_SIZE},
	{"pool-large-buffers", required_argument, NULL, OPT_POOL_LARGE},
	{"pool-large-buffer-size", required_argument, NULL, OPT_POOL_LARGE_SIZE},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"user", required_argument, NULL, OPT_USER},
	{"inetd", no_argument, NULL, OPT_INETD},
	{"proxy-protocol", no_argument, NULL, OPT_PROXY},
	{"proxy-header-timeout", required_argument, NULL, OPT_PROXY_TIMEOUT},
	{"reuseport", no_argument, NULL, OPT_REUSEPORT},
	{"splice-pipes", required_argument, NULL, OPT_SPLICE_PIPES},
	{"recv-ahead", no_argument, NULL, OPT_RECV_AHEAD},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cport-echo [OPTION]...\n"
		"Echo server (TCP and UDP, RFC 862) on a cport completion port.\n"
		"By default serves TCP and UDP on 0.0.0.0:%d and [::]:%d.\n"
		"\n"
		"  -p, --port N             port to serve (0: pick a free one; default %d)\n"
		"  -b, --bind ADDR          serve on this IPv4 or IPv6 address only\n"
		"  -l, --listen ADDR:PORT   serve on ADDR:PORT ([ADDR]:PORT for IPv6); repeatable\n"
		"  -t, --threads N          worker threads (default: 2 x usable CPUs shared, usable CPUs per-thread)\n"
		"      --backend NAME       auto, io_uring or epoll (default auto)\n"
		"      --model NAME         shared (one port for all threads) or per-thread\n"
		"                           (one port and listener per thread; default shared)\n"
		"      --tcp-only           serve TCP only\n"
		"      --udp-only           serve UDP only\n"
		"      --max-connections N  close connections beyond N at once (default: no limit)\n"
		"      --idle-timeout SECS  close connections idle that long (default: never)\n"
		"      --drain-timeout SECS on SIGTERM, time left to connections (default 10)\n"
		"      --udp-min-source-port N\n"
		"                           drop datagrams from source ports below N (default %d)\n"
		"      --udp-allow-broadcast\n"
		"                           answer broadcast and multicast sources too\n"
		"      --pool-buffers N     receive pool buffers per port, 1..32768 (default: the library's)\n"
		"      --pool-buffer-size B bytes per pool buffer, 512..1048576 (default: the library's)\n"
		"      --pool-large-buffers N  large pool buffers per port, for connections that send\n"
		"                           more than a pool buffer at once, 0..32768 (default 64,\n"
		"                           none when --pool-buffer-size is as large; 0: none)\n"
		"      --pool-large-buffer-size B  bytes per large pool buffer, above --pool-buffer-size,\n"
		"                           up to 1048576 (default 65536)\n"
		"      --splice-pipes N     echo connections that send more than a pool buffer at once\n"
		"                           through a pipe with splice(2), no copy; N at a time,\n"
		"                           0..65536 (default 512; 0: never)\n"
		"      --recv-ahead         io_uring: each connection's receives read ahead through one\n"
		"                           capped multishot request, not a request per message\n"
		"                           (CPORT_RECV_AHEAD; Linux 6.17; off by default); the pool\n"
		"                           then has 4096 buffers unless --pool-buffers is given\n"
		"      --metrics ADDR:PORT  serve GET /metrics (Prometheus text format) there\n"
		"      --user NAME          drop to user NAME (and its groups) once the sockets are open\n"
		"      --inetd              serve the socket on standard input (inetd.conf 'wait')\n"
		"      --proxy-protocol     each TCP connection starts with a PROXY protocol v1 or v2\n"
		"                           header (from a load balancer): logs and metrics see the client\n"
		"      --proxy-header-timeout SECS\n"
		"                           close connections whose header is not whole by then (default 5)\n"
		"      --reuseport          SO_REUSEPORT: several processes share the port, the kernel\n"
		"                           spreads connections and datagrams over them\n"
		"  -q, --quiet              print errors only\n"
		"  -v, --verbose            print more (twice: debug)\n"
		"  -h, --help               print this help and exit\n"
		"  -V, --version            print the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT drain and exit 0 (a second one closes everything at\n"
		"once); SIGUSR1 prints the counters.\n"
		"Under systemd socket activation (LISTEN_FDS) the inherited sockets are served\n"
		"instead of binding; readiness goes to NOTIFY_SOCKET when it is set.\n",
		ECHO_DEFAULT_PORT, ECHO_DEFAULT_PORT, ECHO_DEFAULT_PORT, DEFAULT_UDP_MIN_PORT);
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "cport-echo: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'cport-echo --help' for more information.\n");
	return -1;
}

static int add_addr(struct config *cfg, const struct listen_addr *la)
{
	struct listen_addr *a;

	if (cfg->naddrs >= MAX_ADDRS)
		return -1;
	a = realloc(cfg->addrs, (cfg->naddrs + 1) * sizeof(*a));
	if (!a)
		return -1;
	cfg->addrs = a;
	cfg->addrs[cfg->naddrs++] = *la;
	return 0;
}

/* The CPUs this process may run on (its affinity mask, as taskset or
 * systemd's CPUAffinity= set it), as the port's concurrency limit counts
 * them: a per-thread port more than that only takes turns on a CPU. */
static long usable_cpus(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

static unsigned default_threads(enum model model)
{
	long n = usable_cpus();

	if (n < 1)
		n = 1;
	if (n > MAX_THREADS / 2)
		n = MAX_THREADS / 2;
	return model == MODEL_SHARED ? 2 * (unsigned)n : (unsigned)n;
}

static int parse_backend(const char *s, int *out)
{
	int be = cport_backend_parse(s);
	if (be < 0)
		return -1;
	*out = be;
	return 0;
}

struct cmdline {
	const char *bind;
	long port; /* -1: not given */
	int tcp_only, udp_only;
	int quiet, verbose;
	int large_given;      /* --pool-large-buffers */
	int large_size_given; /* --pool-large-buffer-size */
};

#define LIB_POOL_BUFFER_SIZE 16384 /* cport_options.pool_buffer_size 0 means this */
#define DEFAULT_POOL_LARGE_BUFFERS 64
#define DEFAULT_POOL_LARGE_BUFFER_SIZE 65536
/* --recv-ahead's pool when --pool-buffers is not given. A connection that
 * reads ahead holds a buffer from its data's arrival to its echo's end, and
 * the library arms read-ahead on at most half the pool's buffers (more
 * fall back to a request per message): at 1,000 connections 1,024 buffers
 * read 0.98x ref-epoll's CPU per message, 4,096 0.89x (docs/performance.md).
 * 64 MiB of address space per port, resident only as it is used. */
#define RECV_AHEAD_POOL_BUFFERS 4096

/* Large pool buffers: 64 of 64 KiB unless told otherwise; by default none
 * when the pool's own buffers are as large, but a large size given that is
 * not larger is a mistake. */
static int settle_pool(struct config *cfg, const struct cmdline *cl)
{
	if (cfg->recv_ahead && !cfg->pool_buffers)
		cfg->pool_buffers = RECV_AHEAD_POOL_BUFFERS;
	unsigned small = cfg->pool_buffer_size ? cfg->pool_buffer_size : LIB_POOL_BUFFER_SIZE;
	if (!cfg->pool_large_buffer_size)
		cfg->pool_large_buffer_size = DEFAULT_POOL_LARGE_BUFFER_SIZE;
	if (!cl->large_given)
		cfg->pool_large_buffers = cfg->pool_large_buffer_size > small ? DEFAULT_POOL_LARGE_BUFFERS : 0;
	if ((cfg->pool_large_buffers || cl->large_size_given) && cfg->pool_large_buffer_size <= small)
		return bad("%s", "--pool-large-buffer-size must be more than --pool-buffer-size");
	return 0;
}

/* The addresses: --listen entries, plus --bind/--port if given, else the
 * default wildcard pair; each entry is its own port group. */
static int build_addrs(struct config *cfg, const struct cmdline *cl, unsigned groups)
{
	unsigned port = cl->port >= 0 ? (unsigned)cl->port : ECHO_DEFAULT_PORT;
	struct listen_addr la;

	if (cl->bind) {
		if (parse_host(cl->bind, port, &la) != 0)
			return bad("bad --bind address '%s' (an IPv4 or IPv6 literal)", cl->bind);
		la.group = groups;
		return add_addr(cfg, &la) == 0 ? 0 : bad("too many addresses%s", "");
	}
	if (cfg->naddrs && cl->port < 0)
		return 0;
	if (parse_host("0.0.0.0", port, &la) != 0)
		return -1;
	la.group = groups;
	if (add_addr(cfg, &la) != 0)
		return bad("too many addresses%s", "");
	if (parse_host("::", port, &la) != 0)
		return -1;
	la.group = groups;
	la.optional = 1;
	return add_addr(cfg, &la) == 0 ? 0 : bad("too many addresses%s", "");
}

static int parse_one(int c, const char *arg, struct config *cfg, struct cmdline *cl, unsigned *groups)
{
	unsigned long v;
	struct listen_addr la;

	switch (c) {
	case 'p':
		if (parse_ulong(arg, 0, 65535, &v) != 0)
			return bad("bad --port '%s' (0..65535)", arg);
		cl->port = (long)v;
		return 0;
	case 'b':
		cl->bind = arg;
		return 0;
	case 'l':
		if (parse_listen(arg, &la) != 0)
			return bad("bad --listen '%s' (ADDR:PORT or [ADDR6]:PORT)", arg);
		la.group = (*groups)++;
		return add_addr(cfg, &la) == 0 ? 0 : bad("too many --listen addresses%s", "");
	case 't':
		if (parse_ulong(arg, 1, MAX_THREADS, &v) != 0)
			return bad("bad --threads '%s' (1..1024)", arg);
		cfg->threads = (unsigned)v;
		return 0;
	case OPT_BACKEND:
		if (parse_backend(arg, &cfg->backend) != 0)
			return bad("bad --backend '%s' (auto, io_uring or epoll)", arg);
		return 0;
	case OPT_MODEL:
		if (!strcmp(arg, "shared"))
			cfg->model = MODEL_SHARED;
		else if (!strcmp(arg, "per-thread"))
			cfg->model = MODEL_PER_THREAD;
		else
			return bad("bad --model '%s' (shared or per-thread)", arg);
		return 0;
	case OPT_TCP_ONLY:
		cl->tcp_only = 1;
		return 0;
	case OPT_UDP_ONLY:
		cl->udp_only = 1;
		return 0;
	case OPT_MAX_CONNS:
		if (parse_ulong(arg, 0, ULONG_MAX, &cfg->max_conns) != 0)
			return bad("bad --max-connections '%s'", arg);
		return 0;
	case OPT_IDLE:
		if (parse_secs(arg, &cfg->idle_ms) != 0)
			return bad("bad --idle-timeout '%s' (seconds)", arg);
		return 0;
	case OPT_DRAIN:
		if (parse_secs(arg, &cfg->drain_ms) != 0)
			return bad("bad --drain-timeout '%s' (seconds)", arg);
		return 0;
	case OPT_UDP_MIN_PORT:
		if (parse_ulong(arg, 0, 65535, &v) != 0)
			return bad("bad --udp-min-source-port '%s' (0..65535)", arg);
		cfg->udp_min_port = (unsigned)v;
		return 0;
	case OPT_UDP_ALLOW_BCAST:
		cfg->udp_allow_broadcast = 1;
		return 0;
	case OPT_POOL:
		if (parse_ulong(arg, 1, 32768, &v) != 0)
			return bad("bad --pool-buffers '%s' (1..32768)", arg);
		cfg->pool_buffers = (unsigned)v;
		return 0;
	case OPT_POOL_SIZE:
		if (parse_ulong(arg, 512, 1u << 20, &v) != 0)
			return bad("bad --pool-buffer-size '%s' (512..1048576)", arg);
		cfg->pool_buffer_size = (unsigned)v;
		return 0;
	case OPT_POOL_LARGE:
		if (parse_ulong(arg, 0, 32768, &v) != 0)
			return bad("bad --pool-large-buffers '%s' (0..32768)", arg);
		cl->large_given = 1;
		cfg->pool_large_buffers = (unsigned)v;
		return 0;
	case OPT_POOL_LARGE_SIZE:
		if (parse_ulong(arg, 1024, 1u << 20, &v) != 0)
			return bad("bad --pool-large-buffer-size '%s' (1024..1048576)", arg);
		cl->large_size_given = 1;
		cfg->pool_large_buffer_size = (unsigned)v;
		return 0;
	case OPT_METRICS:
		if (parse_listen(arg, &cfg->metrics) != 0)
			return bad("bad --metrics '%s' (ADDR:PORT or [ADDR6]:PORT)", arg);
		return 0;
	case OPT_USER:
		if (!*arg)
			return bad("bad --user '%s' (a user name)", arg);
		cfg->user = arg;
		return 0;
	case OPT_INETD:
		cfg->inetd = 1;
		return 0;
	case OPT_PROXY:
		cfg->proxy_protocol = 1;
		return 0;
	case OPT_PROXY_TIMEOUT:
		if (parse_secs(arg, &cfg->proxy_timeout_ms) != 0 || !cfg->proxy_timeout_ms)
			return bad("bad --proxy-header-timeout '%s' (seconds, above 0)", arg);
		return 0;
	case OPT_REUSEPORT:
		cfg->reuseport = 1;
		return 0;
	case OPT_RECV_AHEAD:
		cfg->recv_ahead = 1;
		return 0;
	case OPT_SPLICE_PIPES:
		if (parse_ulong(arg, 0, 65536, &cfg->splice_pipes) != 0)
			return bad("bad --splice-pipes '%s' (0..65536)", arg);
		return 0;
	case 'q':
		cl->quiet = 1;
		return 0;
	case 'v':
		cl->verbose++;
		return 0;
	default:
		return bad("%s", "bad option");
	}
}

int options_parse(int argc, char **argv, struct config *cfg)
{
	struct cmdline cl = {.port = -1};
	unsigned groups = 0;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->metrics.fd = -1;
	cfg->drain_ms = DEFAULT_DRAIN_MS;
	cfg->udp_min_port = DEFAULT_UDP_MIN_PORT;
	cfg->proxy_timeout_ms = DEFAULT_PROXY_TIMEOUT_MS;
	cfg->splice_pipes = DEFAULT_SPLICE_PIPES;
	opterr = 0; /* our own messages */
	while ((c = getopt_long(argc, argv, ":p:b:l:t:qvhV", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf("cport-echo %s (libcport %s)\n", CPORT_VERSION_STRING, cport_version());
			return 1;
		}
		if (c == '?' || c == ':') {
			const char *what = c == '?' ? "unknown option '%s'" : "option '%s' needs a value";
			return bad(what, argv[optind - 1]);
		}
		if (parse_one(c, optarg, cfg, &cl, &groups) != 0)
			return -1;
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (cl.tcp_only && cl.udp_only)
		return bad("%s", "--tcp-only and --udp-only exclude each other");
	if (cl.quiet && cl.verbose)
		return bad("%s", "--quiet and --verbose exclude each other");
	cfg->tcp = !cl.udp_only;
	cfg->udp = !cl.tcp_only;
	if (!cfg->threads)
		cfg->threads = default_threads(cfg->model);
	cfg->addrs_given = cl.bind || cl.port >= 0 || cfg->naddrs;
	if (cfg->inetd && cfg->addrs_given)
		return bad("%s", "--inetd serves standard input: no --listen, --bind or --port");
	if (settle_pool(cfg, &cl) != 0)
		return -1;
	cfg->log_level = cl.quiet ? LOG_ERR : cl.verbose >= 2 ? LOG_DEBUG : cl.verbose ? LOG_INFO : LOG_NOTICE;
	if (cl.bind || cl.port >= 0 || !cfg->naddrs)
		return build_addrs(cfg, &cl, groups);
	return 0;
}

void options_free(struct config *cfg)
{
	free(cfg->addrs);
	cfg->addrs = NULL;
	cfg->naddrs = 0;
}

void addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host)))
			snprintf(host, sizeof(host), "?");
		snprintf(out, outlen, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
			snprintf(host, sizeof(host), "?");
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "(family %d)", sa->sa_family);
	}
}
