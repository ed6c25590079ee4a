/*
 * bench: the measuring half of `make bench`. Each subcommand runs one section
 * against processes that bench/run.sh started, and prints it as Markdown.
 *
 *   bench hotpath    --daemon S --echo S --fixture PATH [--daemon-pid P] [--echo-pid P]
 *                    [--daemon-label TEXT] [--alt S --alt-pid P --alt-label TEXT]
 *                    [--relay S --relay-pid P] ...
 *   bench throughput --daemon S --daemon-pid P --echo S --echo-pid P [--seconds T] [--rounds R]
 *   bench peers      --daemon S --daemon-pid P --url URL --peer-pid P [--iterations N] ...
 *   bench cold       --daemon S --mcp NAME --label TEXT [--count N] [--warm N]
 *   bench memory     --daemon S --daemon-pid P --count N [--from N] [--label SETTINGS]
 *   bench calls      --daemon S --count N      (the load that runs under callgrind)
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench.h"

#define ECHO_ARGS "{\"message\":\"hello\"}"
#define CALL_TIMEOUT_MS 30000   /* no blocking call waits longer */
#define WARM_TIMEOUT_NS (300ull * 1000000000u)

mcppool_conn *daemon_connect(const struct bench_opts *o)
{
	mcppool_error err;
	mcppool_conn *c = mcppool_connect(o->daemon, &err);

	if (!c)
		die("connect %s: %s: %s", o->daemon ? o->daemon : "(default)",
		    mcppool_code_name(err.code), err.message);
	mcppool_set_timeout(c, CALL_TIMEOUT_MS);
	return c;
}

void daemon_call(mcppool_conn *c, const struct bench_opts *o, const char *user)
{
	mcppool_error err;

	if (mcppool_call(c, user, o->mcp, "echo", ECHO_ARGS, NULL, 0, NULL, &err) < 0)
		die("call %s %s echo: %s: %s", user, o->mcp, mcppool_code_name(err.code), err.message);
}

static void on_warmed(mcppool_conn *c, uint64_t id, const mcppool_result *result,
		      const mcppool_error *err, void *arg)
{
	(void)c;
	(void)id;
	(void)result;
	if (err)
		die("warm: %s: %s", mcppool_code_name(err->code), err->message);
	(*(unsigned *)arg)--;
}

/* Runs c's I/O until fewer than `below` of its requests are in flight; dies past deadline_ns. */
static void pump_until_below(mcppool_conn *c, const unsigned *inflight, unsigned below,
			     uint64_t deadline_ns)
{
	while (*inflight >= below) {
		int want = mcppool_events(c);
		struct pollfd pfd = { .fd = mcppool_fd(c),
				      .events = (short)((want & MCPPOOL_READ ? POLLIN : 0) |
							(want & MCPPOOL_WRITE ? POLLOUT : 0)) };
		int revents;

		if (now_ns() > deadline_ns || poll(&pfd, 1, 1000) < 0)
			die("warming the users took too long");
		revents = (pfd.revents & (POLLIN | POLLHUP | POLLERR) ? MCPPOOL_READ : 0) |
			  (pfd.revents & POLLOUT ? MCPPOOL_WRITE : 0);
		if (mcppool_process(c, revents) < 0)
			die("the daemon connection broke: %s", mcppool_conn_error(c)->message);
	}
}

void daemon_warm_users(mcppool_conn *c, const struct bench_opts *o, const char *prefix,
		       unsigned from, unsigned to, unsigned window)
{
	uint64_t deadline = now_ns() + WARM_TIMEOUT_NS;
	unsigned inflight = 0;
	char user[64];

	for (unsigned i = from; i < to; i++) {
		snprintf(user, sizeof(user), "%s%u", prefix, i);
		if (!mcppool_submit_warm(c, user, o->mcp, NULL, 0, on_warmed, &inflight))
			die("submit warm: %s", mcppool_conn_error(c)->message);
		inflight++;
		pump_until_below(c, &inflight, window, deadline);
	}
	pump_until_below(c, &inflight, 1, deadline);
}

size_t echo_frame_len(void)
{
	char line[256];

	return (size_t)snprintf(line, sizeof(line),
				"{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":"
				"{\"name\":\"echo\",\"arguments\":%s}}\n",
				100000u, ECHO_ARGS);
}

struct load_spec load_shape(const struct bench_opts *o, enum load_target target, unsigned conns,
			    unsigned users)
{
	return (struct load_spec){
		.target = target,
		.socket = target == LOAD_DAEMON ? o->daemon : o->echo,
		.mcp = o->mcp,
		.conns = conns,
		.inflight = 8,
		.users = users,
		.threads = o->threads,
		.frame_len = echo_frame_len(),
		.warmup_s = 0.25,
		.seconds = o->seconds,
		.server_pid = target == LOAD_DAEMON ? o->daemon_pid : o->echo_pid,
	};
}

void print_ratio(double num, double den)
{
	if (den > 0)
		printf("%.2f", num / den);
	else
		fputs("—", stdout);
}

int section_calls(const struct bench_opts *o)
{
	mcppool_conn *c = daemon_connect(o);

	daemon_call(c, o, "bench-cg");
	for (unsigned i = 0; i < o->count; i++)
		daemon_call(c, o, "bench-cg");
	mcppool_close(c);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(const struct bench_opts *o);
} sections[] = {
	{ "hotpath", section_hotpath }, { "throughput", section_throughput },
	{ "peers", section_peers },     { "cold", section_cold },
	{ "memory", section_memory },   { "calls", section_calls },
};

static unsigned parse_uint(const char *name, const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 100000000ul)
		die("--%s: not a count: %s", name, s);
	return (unsigned)v;
}

static void parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "daemon", 1, NULL, 'd' },     { "daemon-pid", 1, NULL, 'D' },
		{ "echo", 1, NULL, 'e' },       { "echo-pid", 1, NULL, 'E' },
		{ "fixture", 1, NULL, 'f' },    { "mcp", 1, NULL, 'm' },
		{ "label", 1, NULL, 'l' },      { "url", 1, NULL, 'u' },
		{ "peer-pid", 1, NULL, 'P' },   { "iterations", 1, NULL, 'i' },
		{ "rounds", 1, NULL, 'r' },     { "count", 1, NULL, 'c' },
		{ "warm", 1, NULL, 'w' },       { "threads", 1, NULL, 't' },
		{ "seconds", 1, NULL, 's' },    { "alt", 1, NULL, 'a' },
		{ "alt-pid", 1, NULL, 'A' },    { "alt-label", 1, NULL, 'L' },
		{ "daemon-label", 1, NULL, 'T' },
		{ "from", 1, NULL, 'F' },       { "relay", 1, NULL, 'R' },
		{ "relay-pid", 1, NULL, 'Q' },
		{ 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->daemon = optarg; break;
		case 'D': o->daemon_pid = (pid_t)parse_uint("daemon-pid", optarg); break;
		case 'e': o->echo = optarg; break;
		case 'E': o->echo_pid = (pid_t)parse_uint("echo-pid", optarg); break;
		case 'f': o->fixture = optarg; break;
		case 'm': o->mcp = optarg; break;
		case 'l': o->label = optarg; break;
		case 'u': o->url = optarg; break;
		case 'P': o->peer_pid = (pid_t)parse_uint("peer-pid", optarg); break;
		case 'i': o->iterations = parse_uint("iterations", optarg); break;
		case 'r': o->rounds = parse_uint("rounds", optarg); break;
		case 'c': o->count = parse_uint("count", optarg); break;
		case 'w': o->warm = parse_uint("warm", optarg); break;
		case 't': o->threads = parse_uint("threads", optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'a': o->alt = optarg; break;
		case 'A': o->alt_pid = (pid_t)parse_uint("alt-pid", optarg); break;
		case 'L': o->alt_label = optarg; break;
		case 'T': o->daemon_label = optarg; break;
		case 'F': o->from = parse_uint("from", optarg); break;
		case 'R': o->relay = optarg; break;
		case 'Q': o->relay_pid = (pid_t)parse_uint("relay-pid", optarg); break;
		default: exit(2);
		}
	}
	if (!o->rounds || !o->threads || !o->iterations || o->seconds <= 0 || o->seconds > 30)
		die("--rounds, --threads, --iterations must be at least 1, --seconds in (0, 30]");
}

int main(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct bench_opts o = {
		.mcp = "fixture", .label = "fixture", .iterations = 20000, .rounds = 5,
		.count = 20, .warm = 200, .seconds = 1.0,
		.threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (unsigned)cpus,
	};

	if (argc < 2) {
		fputs("usage: bench SECTION [OPTIONS] (see bench/bench.c)\n", stderr);
		return 2;
	}
	parse_opts(argc - 1, argv + 1, &o);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(argv[1], sections[i].name))
			return sections[i].run(&o);
	fprintf(stderr, "bench: unknown section %s\n", argv[1]);
	return 2;
}
