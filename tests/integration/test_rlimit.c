/* Integration: the open-file limit: raised at start, and a configuration that cannot fit refused. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(rlimit, .init = it_subreaper, .timeout = 30);

/* Criterion runs each test in a process of its own: limits lowered here end with it. */
static void set_nofile(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit(%llu, %llu): %m",
		     (unsigned long long)soft, (unsigned long long)hard);
}

/* Under a hard limit of nofile, the daemon must refuse to start with the arithmetic. */
static void assert_refused(rlim_t nofile, const char *catalog, const char *const *env,
			   const char *arithmetic)
{
	struct itd d;
	int rc;

	set_nofile(nofile, nofile);
	rc = itd_run_to_exit(&d, catalog, env, NULL);
	cr_assert_eq(rc, 78, "exit status %d; see %s", rc, d.log);
	cr_assert(itd_log_contains(&d, arithmetic), "see %s", d.log);
	cr_assert(itd_log_contains(&d, "LimitNOFILE="), "the fix is not named; see %s", d.log);
}

Test(rlimit, a_configuration_that_cannot_fit_in_the_hard_limit_is_refused_with_the_arithmetic)
{
	static const char *const env[] = { "MAX_TOTAL_CONNECTIONS=100", "MCPPOOL_MAX_CLIENTS=1024",
					   NULL };

	/* Even 1 descriptor each would not fit (1156): no stdio setting is suggested. */
	assert_refused(200, NULL, env,
		       "MAX_TOTAL_CONNECTIONS=100 needs 3 descriptors each (a stdio server's stdin "
		       "and stdout pipes (MCPPOOL_SERVER_STDIO=pipes) and its stderr pipe "
		       "(MCPPOOL_SERVER_STDERR=log)) + MCPPOOL_MAX_CLIENTS=1024 + 32 reserved = 1356, "
		       "but the open-file hard limit is 200: raise it (LimitNOFILE= in the systemd "
		       "unit, ulimit -Hn as root) or lower MAX_TOTAL_CONNECTIONS or "
		       "MCPPOOL_MAX_CLIENTS\n");
}

/* 150 x 3 + 64 + 32 = 546; 150 x 2 + 96 = 396; 150 x 1 + 96 = 246. */
static const char *const pool_150[] = { "MAX_TOTAL_CONNECTIONS=150", "MCPPOOL_MAX_CLIENTS=64", NULL };

Test(rlimit, a_refusal_names_the_stdio_setting_that_would_fit)
{
	assert_refused(400, NULL, pool_150,
		       "= 546, but the open-file hard limit is 400: raise it (LimitNOFILE= in the "
		       "systemd unit, ulimit -Hn as root) or lower MAX_TOTAL_CONNECTIONS or "
		       "MCPPOOL_MAX_CLIENTS, or set MCPPOOL_SERVER_STDIO=socket or "
		       "MCPPOOL_SERVER_STDERR=discard or inherit (2 each: 396)");
}

Test(rlimit, a_refusal_names_both_stdio_settings_when_only_both_would_fit)
{
	assert_refused(300, NULL, pool_150,
		       ", or set MCPPOOL_SERVER_STDIO=socket and MCPPOOL_SERVER_STDERR=discard or "
		       "inherit (1 each: 246)");
}

Test(rlimit, on_one_socket_a_refusal_counts_two_descriptors_and_suggests_discard)
{
	static const char *const env[] = { "MAX_TOTAL_CONNECTIONS=150", "MCPPOOL_MAX_CLIENTS=64",
					   "MCPPOOL_SERVER_STDIO=socket", NULL };

	assert_refused(300, NULL, env,
		       "MAX_TOTAL_CONNECTIONS=150 needs 2 descriptors each (a stdio server's "
		       "stdin/stdout socket (MCPPOOL_SERVER_STDIO=socket) and its stderr pipe "
		       "(MCPPOOL_SERVER_STDERR=log)) + MCPPOOL_MAX_CLIENTS=64 + 32 reserved = 396, "
		       "but the open-file hard limit is 300: raise it (LimitNOFILE= in the systemd "
		       "unit, ulimit -Hn as root) or lower MAX_TOTAL_CONNECTIONS or "
		       "MCPPOOL_MAX_CLIENTS, or set MCPPOOL_SERVER_STDERR=discard or inherit "
		       "(1 each: 246)");
}

/* 150 x 1 + 64 + 32 = 246 fits in 300. */
static const char *const fits_with_one[] = { "MAX_TOTAL_CONNECTIONS=150", "MCPPOOL_MAX_CLIENTS=64",
					     "MCPPOOL_SERVER_STDIO=socket",
					     "MCPPOOL_SERVER_STDERR=discard", NULL };

Test(rlimit, on_one_socket_with_stderr_discarded_a_stdio_connection_counts_one_descriptor)
{
	struct itd d;

	set_nofile(300, 300);
	itd_start(&d, NULL, fits_with_one);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rlimit, an_http_entry_in_the_catalog_counts_four_descriptors_per_connection)
{
	assert_refused(300,
		       "{\"mcpServers\": {\"demo\": {\"command\": \"@FIXTURE@\"}, "
		       "\"remote\": {\"url\": \"http://127.0.0.1:9/mcp\"}}}",
		       fits_with_one,
		       "MAX_TOTAL_CONNECTIONS=150 needs 4 descriptors each (an HTTP entry's "
		       "connection: libcurl's wake-up pair, the listening GET stream and a kept-alive "
		       "POST socket) + MCPPOOL_MAX_CLIENTS=64 + 32 reserved = 696, but the open-file "
		       "hard limit is 300");
}

/* The "Max open files" soft and hard limits of a process, from /proc/PID/limits. */
static void proc_nofile(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
	char path[64], line[256];
	FILE *f;

	*soft = *hard = 0;
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	cr_assert_not_null(f = fopen(path, "r"), "%s: %m", path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Max open files %llu %llu", soft, hard) == 2)
			break;
	fclose(f);
}

Test(rlimit, the_soft_open_file_limit_is_raised_to_the_hard_limit_at_start)
{
	struct rlimit old;
	unsigned long long soft, hard;
	struct itd d;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < 2000)
		cr_skip_test("the hard open-file limit (%llu) is below the 2000 this test needs",
			     (unsigned long long)old.rlim_max);
	set_nofile(256, 2000);
	itd_start(&d, NULL, NULL);
	proc_nofile(d.pid, &soft, &hard);
	cr_assert_eq(hard, 2000);
	cr_assert_eq(soft, 2000, "the daemon's soft limit is %llu", soft);
	cr_assert(itd_log_contains(&d, "open-file limit raised from 256 to 2000"), "see %s", d.log);
	itd_stop(&d);
	it_assert_no_children();
}

Test(rlimit, a_reload_to_limits_that_cannot_fit_is_refused_and_the_old_ones_kept)
{
	static const char *const env[] = { "MCPPOOL_MAX_CLIENTS=100", NULL };
	char path[] = "/tmp/mcppool-rlimit-env-XXXXXX";
	struct itd d;
	FILE *f;
	int fd, st;

	set_nofile(1000, 1000); /* 100 x 3 + 100 + 32 = 432 fits; 450 x 3 + 100 + 32 does not */
	cr_assert((fd = mkstemp(path)) >= 0);
	cr_assert(write(fd, "MAX_TOTAL_CONNECTIONS=100\n", 26) == 26);
	close(fd);
	itd_start_args(&d, NULL, env, NULL, ARGS("--env-file", path));
	cr_assert(f = fopen(path, "w"));
	fputs("MAX_TOTAL_CONNECTIONS=450\n", f);
	fclose(f);
	json_t *r = itd_ctl_json(&d, &st, ARGS("reload"));
	cr_assert_eq(st, 1, "the reload was not refused; see %s", d.log);
	cr_assert(itd_log_contains(&d, "MAX_TOTAL_CONNECTIONS=450 needs 3 descriptors each"),
		  "see %s", d.log);
	json_decref(r);
	r = itd_pool_status(&d);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"),
							 "maxTotalConnections")), 100);
	json_decref(r);
	itd_stop(&d);
	unlink(path);
	it_assert_no_children();
}
