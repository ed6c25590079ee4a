/*
 * Integration: the trust model. Any peer that can open the socket may act for
 * any user (call, warm, evict); the admin ops (pool_status, cleanup, metrics,
 * reload) need the daemon's uid, root, MCPPOOL_ADMIN_GROUP, or the admin token
 * of MCPPOOL_ADMIN_TOKEN_FILE. A second uid is nobody (65534): the tests need root.
 */
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "errcode.h"
#include "harness.h"

TestSuite(access, .init = it_subreaper, .timeout = 60);

#define NOBODY 65534
#define TOKEN "correct-horse-battery-staple-42"

/* What the peer of another uid does, and what it got. */
struct peer_run {
	gid_t extra_group;   /* a supplementary group to hold (0: none) */
	const char *token;   /* sent with the admin op first, when not NULL */
	const char *op;
	const char *params;  /* JSON, NULL = {} */
};

/*
 * Runs one op as nobody on a new connection. Returns the reply's error code
 * (ERR_OK on success), or ERR_FORBIDDEN + 100 when the token was refused.
 */
static int as_nobody(struct itd *d, const struct peer_run *run)
{
	pid_t pid;
	int st;

	if (getuid() != 0)
		cr_skip_test("needs root to act as a second uid");
	/* The socket and its directory must be reachable by the other uid. */
	chmod(d->dir, 0755);
	chmod(d->sock, 0666);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct wire_msg m;
		msgpack_zone z;
		int fd;

		if (setgroups(run->extra_group ? 1 : 0, &run->extra_group) < 0 ||
		    setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(120);
		msgpack_zone_init(&z, 4096);
		fd = it_raw_connect(d);
		it_raw_hello(fd, 1);
		if (it_raw_recv(fd, &z, &m, 5000) < 0)
			_exit(121);
		if (run->token) {
			char params[200];

			snprintf(params, sizeof(params), "{\"token\": \"%s\"}", run->token);
			it_raw_request(fd, 2, "admin", params);
			if (it_raw_recv(fd, &z, &m, 5000) < 0)
				_exit(122);
			if (m.error)
				_exit(100 + m.err_code);
		}
		it_raw_request(fd, 3, run->op, run->params);
		if (it_raw_recv(fd, &z, &m, 5000) < 0)
			_exit(123);
		_exit(m.error ? m.err_code : ERR_OK);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the peer died: status %d", st);
	cr_assert_lt(WEXITSTATUS(st), 120, "the peer failed before its op (%d); see %s",
		     WEXITSTATUS(st), d->log);
	return WEXITSTATUS(st);
}

static void expect_code(struct itd *d, const struct peer_run *run, int want)
{
	int got = as_nobody(d, run);

	cr_expect_eq(got, want, "%s as nobody: got %s (%d), expected %s", run->op,
		     got >= 100 ? "token refused" : errcode_name(got), got, errcode_name(want));
}

Test(access, another_uid_may_call_and_evict_but_not_run_admin_ops)
{
	struct itd d;

	itd_start(&d, NULL, NULL);
	expect_code(&d, &(struct peer_run){ .op = "call", .params =
		"{\"user\": \"alice\", \"mcp\": \"demo\", \"tool\": \"echo\", "
		"\"arguments\": {\"message\": \"hi\"}}" }, ERR_OK);
	expect_code(&d, &(struct peer_run){ .op = "evict", .params = "{\"user\": \"alice\"}" },
		    ERR_OK);
	expect_code(&d, &(struct peer_run){ .op = "pool_status" }, ERR_FORBIDDEN);
	expect_code(&d, &(struct peer_run){ .op = "metrics" }, ERR_FORBIDDEN);
	expect_code(&d, &(struct peer_run){ .op = "cleanup" }, ERR_FORBIDDEN);
	expect_code(&d, &(struct peer_run){ .op = "reload" }, ERR_FORBIDDEN);
	itd_stop(&d);
	it_assert_no_children();
}

Test(access, members_of_the_admin_group_may_run_admin_ops)
{
	struct group *users = getgrnam("users");
	char env[64];
	struct itd d;

	if (!users)
		cr_skip_test("no group \"users\" on this host");
	snprintf(env, sizeof(env), "MCPPOOL_ADMIN_GROUP=users");
	itd_start(&d, NULL, (const char *const[]){ env, NULL });
	/* A supplementary group counts, as the kernel saw it at connect. */
	expect_code(&d, &(struct peer_run){ .extra_group = users->gr_gid, .op = "pool_status" },
		    ERR_OK);
	expect_code(&d, &(struct peer_run){ .extra_group = users->gr_gid, .op = "reload" }, ERR_OK);
	expect_code(&d, &(struct peer_run){ .op = "pool_status" }, ERR_FORBIDDEN);
	itd_stop(&d);
	it_assert_no_children();
}

/* A token file only its owner reads; its path is written into path. */
static void token_file(char path[64], const char *token)
{
	int fd;

	strcpy(path, "/tmp/mcppool-token-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, token, strlen(token)) == (ssize_t)strlen(token));
	close(fd);
}

Test(access, the_admin_token_allows_admin_ops_and_a_wrong_one_is_forbidden)
{
	char path[64], env[128], wrong[64];
	struct itd d;
	json_t *r;
	int st;

	token_file(path, TOKEN "\n");
	snprintf(env, sizeof(env), "MCPPOOL_ADMIN_TOKEN_FILE=%s", path);
	itd_start(&d, NULL, (const char *const[]){ env, NULL });

	expect_code(&d, &(struct peer_run){ .token = TOKEN, .op = "pool_status" }, ERR_OK);
	expect_code(&d, &(struct peer_run){ .token = TOKEN "x", .op = "pool_status" },
		    100 + ERR_FORBIDDEN);
	expect_code(&d, &(struct peer_run){ .token = "", .op = "pool_status" }, 100 + ERR_FORBIDDEN);
	cr_expect(itd_log_contains(&d, "wrong admin token"), "see %s", d.log);
	cr_expect(!itd_log_contains(&d, TOKEN), "the token is in the log");

	/* mcpctl sends it: --token-file, else MCPPOOL_ADMIN_TOKEN (a wrong one fails even for root). */
	r = itd_ctl_json(&d, &st, ARGS("--token-file", path, "pool-status"));
	cr_expect_eq(st, 0, "mcpctl --token-file: %s", it_error_code(r));
	json_decref(r);
	token_file(wrong, "not-the-right-token-at-all\n");
	r = itd_ctl_json(&d, &st, ARGS("--token-file", wrong, "pool-status"));
	cr_expect_eq(st, 1);
	cr_expect_str_eq(it_error_code(r), "FORBIDDEN");
	json_decref(r);
	setenv("MCPPOOL_ADMIN_TOKEN", "also-wrong-but-from-the-environment", 1);
	r = itd_ctl_json(&d, &st, ARGS("pool-status"));
	unsetenv("MCPPOOL_ADMIN_TOKEN");
	cr_expect_str_eq(it_error_code(r), "FORBIDDEN", "MCPPOOL_ADMIN_TOKEN was not sent");
	json_decref(r);
	itd_stop(&d);
	unlink(path);
	unlink(wrong);
	it_assert_no_children();
}

Test(access, a_bad_admin_setting_stops_start_up_naming_it)
{
	char path[64];
	struct itd d;
	int rc;

	rc = itd_run_to_exit(&d, NULL, (const char *const[]){ "MCPPOOL_ADMIN_GROUP=no-such-group-x", NULL },
			     NULL);
	cr_expect_eq(rc, 78);
	cr_expect(itd_log_contains(&d, "MCPPOOL_ADMIN_GROUP=\"no-such-group-x\": no such group"),
		  "see %s", d.log);
	token_file(path, "short\n");
	{
		char env[128];

		snprintf(env, sizeof(env), "MCPPOOL_ADMIN_TOKEN_FILE=%s", path);
		rc = itd_run_to_exit(&d, NULL, (const char *const[]){ env, NULL }, NULL);
	}
	cr_expect_eq(rc, 78);
	cr_expect(itd_log_contains(&d, "too short (at least 16 characters"), "see %s", d.log);
	unlink(path);
}
