/* Integration: many app processes through libmcppool at once; the examples; the man pages. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "mcppool.h"

TestSuite(clients, .init = it_subreaper, .timeout = 120);

#define PROCS 8
#define CALLS 50
#define USERS 4

struct load {
	unsigned replies[CALLS]; /* how many times each call was answered */
	unsigned done;
	unsigned bad;
};

struct call_ref {
	struct load *load;
	unsigned index;
	char expect[64];
};

static void on_reply(mcppool_conn *conn, uint64_t id, const mcppool_result *result,
		     const mcppool_error *err, void *arg)
{
	struct call_ref *ref = arg;
	(void)conn;
	(void)id;

	ref->load->replies[ref->index]++;
	ref->load->done++;
	if (err || !result) {
		fprintf(stderr, "call %u failed: %s %s\n", ref->index,
			err ? mcppool_code_name(err->code) : "?", err ? err->message : "");
		ref->load->bad++;
		return;
	}
	char *json = mcppool_result_json(result, 0);
	if (!json || !strstr(json, ref->expect)) {
		fprintf(stderr, "call %u: reply %s lacks %s\n", ref->index, json, ref->expect);
		ref->load->bad++;
	}
	free(json);
}

/* One app process: CALLS calls in flight at once over one connection, on USERS users. */
static int app_process(const char *sock, int proc)
{
	struct load load = { 0 };
	struct call_ref refs[CALLS];
	mcppool_error err;
	mcppool_conn *conn = mcppool_connect(sock, &err);

	if (!conn)
		return 10;
	for (unsigned i = 0; i < CALLS; i++) {
		char user[16], args[128];
		refs[i].load = &load;
		refs[i].index = i;
		snprintf(refs[i].expect, sizeof(refs[i].expect), "p%d-c%u", proc, i);
		snprintf(user, sizeof(user), "user%u", i % USERS);
		/* Half sleep a little, so that replies overtake each other. */
		if (i % 2)
			snprintf(args, sizeof(args), "{\"message\": \"%s\"}", refs[i].expect);
		else
			snprintf(args, sizeof(args), "{\"ms\": %u, \"message\": \"%s\"}", 5 + i % 7 * 5,
				 refs[i].expect);
		if (!mcppool_submit_call(conn, user, "demo", i % 2 ? "echo" : "sleep", args, NULL, 0,
					 on_reply, &refs[i]))
			return 11;
	}
	while (load.done < CALLS) {
		struct pollfd p = { .fd = mcppool_fd(conn), .events = 0 };
		int ev = mcppool_events(conn);
		if (p.fd < 0)
			return 12;
		p.events = (short)((ev & MCPPOOL_READ ? POLLIN : 0) | (ev & MCPPOOL_WRITE ? POLLOUT : 0));
		if (poll(&p, 1, 20000) <= 0)
			return 13;
		if (mcppool_process(conn, (p.revents & (POLLIN | POLLHUP | POLLERR) ? MCPPOOL_READ : 0) |
					      (p.revents & POLLOUT ? MCPPOOL_WRITE : 0)) < 0 &&
		    load.done < CALLS)
			return 14;
	}
	mcppool_close(conn);
	for (unsigned i = 0; i < CALLS; i++)
		if (load.replies[i] != 1)
			return 15;
	return load.bad ? 16 : 0;
}

/* PROCS app processes, CALLS calls in flight each; every reply comes exactly once, on one connection per user. */
static void run_app_processes(struct itd *d)
{
	pid_t pids[PROCS];
	int st;

	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		cr_assert(pids[p] >= 0);
		if (pids[p] == 0)
			_exit(app_process(d->sock, p));
	}
	for (int p = 0; p < PROCS; p++) {
		cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "app process %d: status %d", p,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	json_t *r = itd_ctl_json(d, &st, ARGS("pool-status"));
	cr_assert_eq(json_integer_value(json_object_get(it_data(r), "totalConnections")), USERS);
	json_decref(r);
	char *m;
	itd_ctl(d, &m, NULL, ARGS("metrics"));
	char want[64];
	snprintf(want, sizeof(want), "mcppool_spawns_total %d\n", USERS);
	cr_assert(strstr(m, want), "expected %d spawns: %s", USERS, m);
	snprintf(want, sizeof(want), "mcppool_replies_total{code=\"OK\"} %d\n", PROCS * CALLS);
	cr_assert(strstr(m, want), "expected %d OK replies: %s", PROCS * CALLS, m);
	free(m);
}

Test(clients, eight_processes_with_fifty_calls_in_flight_each_get_every_reply_exactly_once)
{
	struct itd d;

	itd_start(&d, NULL, NULL);
	run_app_processes(&d);
	itd_stop(&d);
	it_assert_no_children();
}

Test(clients, busy_polling_serves_the_same_load_and_sleeps_once_idle)
{
	const char *env[] = { "MCPPOOL_BUSY_POLL_US=2000", NULL };
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long before, after;
	struct itd d;

	itd_start(&d, NULL, env);
	run_app_processes(&d);
	/* Past the 2 ms window the loop must sleep again: no CPU over half a second. */
	it_sleep_ms(100);
	before = it_cpu_ticks(d.pid, NULL);
	it_sleep_ms(500);
	after = it_cpu_ticks(d.pid, NULL);
	cr_assert_leq(after - before, (unsigned long long)hz / 20,
		      "the idle daemon used %llu ticks (of %ld per second) in 0.5 s", after - before,
		      hz);
	itd_stop(&d);
	it_assert_no_children();
}

static int run_example(struct itd *d, const char *name, char **out)
{
	char bin[4096];
	char cmd[8192];
	FILE *p;
	size_t cap = 65536, len = 0;

	it_bin(name, bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "%s %s demo 2>&1", bin, d->sock);
	p = popen(cmd, "r");
	*out = calloc(1, cap);
	len = fread(*out, 1, cap - 1, p);
	(*out)[len] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(clients, the_blocking_example_calls_the_demo_server)
{
	struct itd d;
	char *out;
	itd_start(&d, NULL, NULL);
	cr_assert_eq(run_example(&d, "examples/blocking", &out), 0, "%s", out);
	cr_assert(strstr(out, "hello"), "%s", out);
	free(out);
	itd_stop(&d);
	it_assert_no_children();
}

Test(clients, the_evloop_example_runs_ten_calls_in_a_libev_loop)
{
	struct itd d;
	char *out;
	itd_start(&d, NULL, NULL);
	cr_assert_eq(run_example(&d, "examples/evloop", &out), 0, "%s", out);
	free(out);
	itd_stop(&d);
	it_assert_no_children();
}

Test(clients, every_man_page_renders_without_warnings)
{
	const char *pages[] = { "man/mcppoold.8", "man/mcpctl.1", "man/libmcppool.3",
				"man/mcppool-servers.5" };
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		char cmd[512], buf[4096];
		cr_assert(access(pages[i], R_OK) == 0, "%s is missing", pages[i]);
		snprintf(cmd, sizeof(cmd),
			 "MANWIDTH=80 man --warnings -E UTF-8 -l %s 2>&1 >/dev/null", pages[i]);
		FILE *p = popen(cmd, "r");
		size_t n = fread(buf, 1, sizeof(buf) - 1, p);
		buf[n] = '\0';
		int st = pclose(p);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "man -l %s failed: %s", pages[i], buf);
		cr_assert_eq(n, 0, "man -l %s warned: %s", pages[i], buf);
	}
}

Test(clients, an_outside_program_builds_with_pkg_config_after_make_install)
{
	char dest[] = "/tmp/mcppool-it-installXXXXXX";
	char cmd[4096], *out;
	struct itd d;

	cr_assert(mkdtemp(dest));
	snprintf(cmd, sizeof(cmd),
		 /* -o all: install what the suite was built from; relinking binaries that
		    tests running in parallel execute would pull them from under those tests. */
		 "make -s -o all install B=%s PREFIX=/usr DESTDIR=%s >/dev/null 2>&1 && "
		 "export PKG_CONFIG_SYSROOT_DIR=%s PKG_CONFIG_PATH=%s/usr/lib/pkgconfig && "
		 "cc %s -o %s/app examples/blocking.c $(pkg-config --cflags --libs mcppool) "
		 "-Wl,-rpath,%s/usr/lib 2>&1",
		 it_build(), dest, dest, dest,
		 /* an instrumented library needs an instrumented program */
		 strstr(it_build(), "asan") ? "-fsanitize=address,undefined" : "", dest, dest);
	cr_assert_eq(system(cmd), 0, "install + pkg-config build failed: %s", cmd);
	snprintf(cmd, sizeof(cmd), "%s/usr/share/man/man8/mcppoold.8", dest);
	cr_assert(access(cmd, R_OK) == 0, "man page not installed");
	snprintf(cmd, sizeof(cmd), "%s/usr/include/mcppool.h", dest);
	cr_assert(access(cmd, R_OK) == 0, "header not installed");

	itd_start(&d, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "%s/app %s demo 2>&1", dest, d.sock);
	FILE *p = popen(cmd, "r");
	out = calloc(1, 4096);
	size_t n = fread(out, 1, 4095, p);
	out[n] = '\0';
	cr_assert_eq(pclose(p), 0, "the installed-library program failed: %s", out);
	cr_assert(strstr(out, "hello"), "%s", out);
	free(out);
	itd_stop(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dest);
	system(cmd);
}

/*
 * The static library's protocol code is internal: an application may define the
 * same names (frame_begin, wire_decode, ...) and still link it, and nm shows only
 * mcppool_* symbols.
 */
Test(clients, the_static_library_exports_only_its_api)
{
	char dir[] = "/tmp/mcppool-it-staticXXXXXX";
	char path[300], cmd[4096], lib[512];
	FILE *f;

	cr_assert(mkdtemp(dir));
	snprintf(lib, sizeof(lib), "%s/libmcppool.a", it_build());
	snprintf(cmd, sizeof(cmd),
		 "nm -g --defined-only %s | awk 'NF == 3 && $3 !~ /^mcppool_/ { print $3 }' | "
		 "grep . && exit 1; exit 0", lib);
	cr_assert_eq(system(cmd), 0, "libmcppool.a exports symbols outside mcppool_*");
	snprintf(path, sizeof(path), "%s/app.c", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("#include <stdio.h>\n#include <string.h>\n#include <mcppool.h>\n"
	      "int frame_begin(void) { return 1; }\n"
	      "int wire_decode(void) { return 2; }\n"
	      "int jsontext_skip(void) { return 3; }\n"
	      "int main(void) {\n"
	      "  printf(\"%d %s\\n\", frame_begin() + wire_decode() + jsontext_skip(),\n"
	      "         mcppool_code_name(MCPPOOL_BAD_REQUEST));\n"
	      "  return 0;\n}\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cc %s -Iclient -o %s/app %s %s $(pkg-config --libs msgpack libsodium jansson "
		 "libcurl) -lev -lm 2>&1 && %s/app | grep -qx '6 BAD_REQUEST'",
		 strstr(it_build(), "asan") ? "-fsanitize=address,undefined" : "", dir, path, lib,
		 dir);
	cr_assert_eq(system(cmd), 0, "an app with its own frame_begin/wire_decode failed: %s", cmd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
}
