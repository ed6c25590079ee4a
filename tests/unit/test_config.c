/* Tests of daemon/config.c: defaults, .env syntax, precedence and refusal of bad values. */
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "log.h"

static const char *const all_vars[] = {
	"MAX_CONNECTIONS_PER_USER", "MAX_TOTAL_CONNECTIONS", "CONNECTION_TIMEOUT",
	"CLEANUP_INTERVAL", "REQUEST_TIMEOUT", "MCPPOOL_START_TIMEOUT", "MCPPOOL_KILL_TIMEOUT",
	"MCPPOOL_MAX_FRAME", "MCPPOOL_MAX_MESSAGE", "MCPPOOL_MAX_OUTPUT", "MCPPOOL_MAX_CLIENTS",
	"MCPPOOL_MAX_INFLIGHT", "MCPPOOL_LOG_LEVEL", "MCPPOOL_SOCKET", "MCPPOOL_SOCKET_GROUP",
	"MCPPOOL_SERVERS", "MCPPOOL_CHILD_ENV", "MCPPOOL_BUSY_POLL_US", "MCPPOOL_REPLY_SPIN_US", "MCPPOOL_MAX_INPUT", "MCPPOOL_PING_TIMEOUT", "XDG_RUNTIME_DIR", NULL
};

/* Each numeric variable with a value just above its range and, if any, just below; whether 0 is in its range. */
static const struct {
	const char *name;
	const char *above;
	const char *below;
	bool zero_ok;
} numeric[] = {
	{ "MAX_CONNECTIONS_PER_USER", "100001", NULL },
	{ "MAX_TOTAL_CONNECTIONS", "1000001", NULL },
	{ "CONNECTION_TIMEOUT", "2147483648", NULL },
	{ "CLEANUP_INTERVAL", "2147483648", NULL },
	{ "REQUEST_TIMEOUT", "2147483648", NULL },
	{ "MCPPOOL_START_TIMEOUT", "2147483648", NULL },
	{ "MCPPOOL_KILL_TIMEOUT", "2147483648", NULL },
	{ "MCPPOOL_MAX_FRAME", "1073741825", "1023" },
	{ "MCPPOOL_MAX_MESSAGE", "1073741825", "1023" },
	{ "MCPPOOL_MAX_OUTPUT", "68719476737", "1023" },
	{ "MCPPOOL_MAX_CLIENTS", "1000001", NULL },
	{ "MCPPOOL_MAX_INFLIGHT", "1000001", NULL },
	{ "MCPPOOL_BUSY_POLL_US", "10001", NULL, true },
	{ "MCPPOOL_MAX_INPUT", "68719476737", "1048575" },
	{ "MCPPOOL_PING_TIMEOUT", "2147483648", NULL },
};
#define NNUMERIC (sizeof(numeric) / sizeof(numeric[0]))

static char dir[64];
static char err[512];
static struct config cfg;

static void clear_env(void)
{
	for (int i = 0; all_vars[i]; i++)
		unsetenv(all_vars[i]);
}

/* Each test runs in its own forked process, inside a fresh directory without a .env. */
static void setup(void)
{
	clear_env();
	snprintf(dir, sizeof(dir), "/tmp/mcppool-config-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chdir(dir), 0);
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	config_free(&cfg);
	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0)
			rmdir(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes name in the test's directory; returns its full path (static storage). */
static const char *write_file(const char *name, const char *text, size_t len)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

static const char *write_env(const char *text)
{
	return write_file("test.env", text, strlen(text));
}

static int load_with(const char *env_file)
{
	struct config_cli cli = { .env_file = env_file };

	config_free(&cfg);
	return config_load(&cfg, &cli, err, sizeof(err));
}

static int load(void)
{
	config_free(&cfg);
	return config_load(&cfg, NULL, err, sizeof(err));
}

Test(config, defaults_are_the_seeds_values)
{
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.max_per_user, 10);
	cr_expect_eq(cfg.max_total, 100);
	cr_expect_eq(cfg.connection_timeout_ms, 1800000);
	cr_expect_eq(cfg.cleanup_interval_ms, 300000);
	cr_expect_eq(cfg.request_timeout_ms, 60000);
}

Test(config, defaults_of_the_daemons_own_variables)
{
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.start_timeout_ms, 60000);
	cr_expect_eq(cfg.kill_timeout_ms, 2000);
	cr_expect_eq(cfg.max_frame, 16777216);
	cr_expect_eq(cfg.max_message, 16777216);
	cr_expect_eq(cfg.max_output, 67108864);
	cr_expect_eq(cfg.max_clients, 1024);
	cr_expect_eq(cfg.max_inflight, 1024);
	cr_expect_eq(cfg.busy_poll_us, 0, "busy polling is off unless asked for");
	cr_expect_eq(cfg.max_input, 268435456);
	cr_expect_eq(cfg.ping_timeout_ms, 10000);
	cr_expect_eq(cfg.log_level, LOG_INFO);
	cr_expect_null(cfg.socket_group);
	cr_expect_null(cfg.servers_path);
	cr_expect_null(cfg.child_env);
}

Test(config, config_defaults_matches_config_load_without_input)
{
	struct config d;

	config_defaults(&d);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(d.max_per_user, cfg.max_per_user);
	cr_expect_eq(d.connection_timeout_ms, cfg.connection_timeout_ms);
	cr_expect_eq(d.max_output, cfg.max_output);
	cr_expect_eq(d.log_level, cfg.log_level);
	cr_expect_str_empty(d.socket_path);
}

Test(config, default_socket_is_under_xdg_runtime_dir)
{
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/run/user/4242/mcppool.sock");
}

Test(config, default_socket_without_xdg_is_in_tmp_by_uid)
{
	char want[64];

	snprintf(want, sizeof(want), "/tmp/mcppool-%ld.sock", (long)getuid());
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, want);
}

Test(config, seed_example_with_trailing_comments_is_read)
{
	const char *path = write_env("# 开发环境\n"
				     "MAX_CONNECTIONS_PER_USER=5\n"
				     "MAX_TOTAL_CONNECTIONS=20\n"
				     "CONNECTION_TIMEOUT=300000    # 5分钟\n"
				     "CLEANUP_INTERVAL=60000       # 1分钟\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_per_user, 5);
	cr_expect_eq(cfg.max_total, 20);
	cr_expect_eq(cfg.connection_timeout_ms, 300000);
	cr_expect_eq(cfg.cleanup_interval_ms, 60000);
}

Test(config, default_dotenv_in_working_directory_is_read)
{
	write_env("");
	write_file(".env", "MAX_TOTAL_CONNECTIONS=77\n", 25);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 77);
}

Test(config, missing_default_dotenv_is_fine)
{
	cr_assert_eq(access(".env", F_OK), -1);
	cr_expect_eq(load(), 0, "%s", err);
}

Test(config, missing_explicit_env_file_is_an_error_naming_it)
{
	cr_assert_eq(load_with("/nonexistent/mcppool.env"), -1);
	cr_expect(strstr(err, "/nonexistent/mcppool.env"), "%s", err);
	cr_expect(strstr(err, "No such file"), "%s", err);
}

Test(config, env_file_that_is_a_directory_is_an_error)
{
	cr_assert_eq(load_with(dir), -1);
	cr_expect(strstr(err, dir), "%s", err);
}

Test(config, process_environment_wins_over_dotenv_file)
{
	const char *path = write_env("MAX_TOTAL_CONNECTIONS=50\nCLEANUP_INTERVAL=1000\n");

	setenv("MAX_TOTAL_CONNECTIONS", "500", 1);
	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 500);
	cr_expect_eq(cfg.cleanup_interval_ms, 1000);
}

Test(config, variable_set_empty_in_environment_still_wins_and_is_refused)
{
	const char *path = write_env("REQUEST_TIMEOUT=5000\n");

	setenv("REQUEST_TIMEOUT", "", 1);
	cr_assert_eq(load_with(path), -1);
	cr_expect(strstr(err, "REQUEST_TIMEOUT=\"\": empty"), "%s", err);
}

Test(config, command_line_socket_wins_over_environment_and_file)
{
	const char *path = write_env("MCPPOOL_SOCKET=/tmp/from-file.sock\n");
	struct config_cli cli = { .env_file = path, .socket = "/tmp/from-cli.sock" };

	setenv("MCPPOOL_SOCKET", "/tmp/from-env.sock", 1);
	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/from-cli.sock");
}

Test(config, socket_from_environment_wins_over_file)
{
	const char *path = write_env("MCPPOOL_SOCKET=/tmp/from-file.sock\n");

	setenv("MCPPOOL_SOCKET", "/tmp/from-env.sock", 1);
	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/from-env.sock");
}

Test(config, socket_from_file_wins_over_default)
{
	const char *path = write_env("MCPPOOL_SOCKET=/tmp/from-file.sock\n");

	setenv("XDG_RUNTIME_DIR", "/run/user/1", 1);
	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/from-file.sock");
}

Test(config, command_line_servers_wins_over_environment)
{
	char env_cat[PATH_MAX], cli_cat[PATH_MAX];
	struct config_cli cli = { .servers = cli_cat };

	snprintf(env_cat, sizeof(env_cat), "%s", write_file("env.json", "{}", 2));
	snprintf(cli_cat, sizeof(cli_cat), "%s", write_file("cli.json", "{}", 2));
	setenv("MCPPOOL_SERVERS", env_cat, 1);
	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.servers_path, cli_cat);
}

Test(config, command_line_log_level_wins_over_environment)
{
	struct config_cli cli = { .log_level = "error" };

	setenv("MCPPOOL_LOG_LEVEL", "debug", 1);
	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.log_level, LOG_ERROR);
}

Test(config, double_quoted_value_keeps_hash_and_handles_escapes)
{
	const char *path = write_env("MCPPOOL_SOCKET=\"/tmp/a #b \\\"q\\\" \\\\ z.sock\"  # note\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/a #b \"q\" \\ z.sock");
}

Test(config, double_quoted_newline_escape_becomes_a_newline)
{
	const char *path = write_env("MCPPOOL_SOCKET=\"/tmp/a\\nb\"\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/a\nb");
}

Test(config, single_quoted_value_is_literal)
{
	const char *path = write_env("MCPPOOL_SOCKET='/tmp/a\\n #b.sock'\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/a\\n #b.sock");
}

Test(config, quoted_number_is_accepted)
{
	const char *path = write_env("MAX_TOTAL_CONNECTIONS=\"200\"\nMAX_CONNECTIONS_PER_USER='20'\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 200);
	cr_expect_eq(cfg.max_per_user, 20);
}

Test(config, export_prefix_is_accepted)
{
	const char *path = write_env("export MAX_TOTAL_CONNECTIONS=300\n\texport  CLEANUP_INTERVAL=7\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 300);
	cr_expect_eq(cfg.cleanup_interval_ms, 7);
}

Test(config, comments_blank_lines_and_crlf_are_accepted)
{
	const char *path = write_env("# comment\r\n\r\n   \n  # indented comment\nMAX_TOTAL_CONNECTIONS=42\r\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 42);
}

Test(config, whitespace_around_key_and_unquoted_value_is_trimmed)
{
	const char *path = write_env("  MAX_TOTAL_CONNECTIONS \t=   42 \t\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 42);
}

Test(config, hash_inside_unquoted_value_without_space_is_kept)
{
	const char *path = write_env("MCPPOOL_SOCKET=/tmp/a#b.sock\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, "/tmp/a#b.sock");
}

Test(config, unknown_keys_in_the_file_are_ignored)
{
	const char *path = write_env("DATABASE_URL=postgres://u:p@h/db\nJWT_SECRET='x y'\n"
				     "MAX_TOTAL_CONNECTIONS=150\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 150);
}

Test(config, last_occurrence_of_a_key_in_the_file_wins)
{
	const char *path = write_env("MAX_TOTAL_CONNECTIONS=150\nMAX_TOTAL_CONNECTIONS=250\n");

	cr_assert_eq(load_with(path), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 250);
}

Test(config, line_without_equals_is_refused_with_file_and_line_but_not_the_value)
{
	const char *path = write_env("# header\nMAX_TOTAL_CONNECTIONS=10\nAPI_TOKEN hunter2secret\n");
	char want[PATH_MAX + 32];

	cr_assert_eq(load_with(path), -1);
	snprintf(want, sizeof(want), "%s:3: expected KEY=VALUE", path);
	cr_expect(strstr(err, want), "%s", err);
	cr_expect_null(strstr(err, "hunter2"), "%s", err);
}

Test(config, unterminated_quote_is_refused_without_echoing_the_value)
{
	const char *path = write_env("API_TOKEN=\"hunter2secret\n");

	cr_assert_eq(load_with(path), -1);
	cr_expect(strstr(err, ":1: expected KEY=VALUE"), "%s", err);
	cr_expect_null(strstr(err, "hunter2"), "%s", err);
}

Test(config, text_after_closing_quote_is_refused)
{
	const char *path = write_env("\nAPI_TOKEN='hunter2' secret\n");

	cr_assert_eq(load_with(path), -1);
	cr_expect(strstr(err, ":2: expected KEY=VALUE"), "%s", err);
	cr_expect_null(strstr(err, "hunter2"), "%s", err);
}

Test(config, invalid_key_is_refused)
{
	const char *path = write_env("9LIVES=1\n");

	cr_assert_eq(load_with(path), -1);
	cr_expect(strstr(err, ":1: expected KEY=VALUE"), "%s", err);
}

Test(config, nul_byte_in_the_file_is_refused_with_its_line)
{
	const char *path = write_file("nul.env", "A=1\nB=x\0y\n", 10);

	cr_assert_eq(load_with(path), -1);
	cr_expect(strstr(err, ":2: expected KEY=VALUE"), "%s", err);
}

/* Sets name=value (process environment) and expects a refusal naming name and reason. */
static void expect_refused(const char *name, const char *value, const char *reason)
{
	char want[256];

	clear_env();
	setenv(name, value, 1);
	cr_assert_eq(load(), -1, "%s=\"%s\" was accepted", name, value);
	snprintf(want, sizeof(want), "%s=\"", name);
	cr_expect(strncmp(err, want, strlen(want)) == 0, "%s", err);
	cr_expect(strstr(err, reason), "%s=\"%s\": want \"%s\", got: %s", name, value, reason, err);
	cr_expect(strstr(err, "(expected "), "%s", err);
}

Test(config, empty_value_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, "", "empty");
}

Test(config, non_digits_are_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, "abc", "not a number");
}

Test(config, negative_value_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, "-5", "negative");
}

Test(config, plus_sign_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, "+5000", "sign");
}

Test(config, leading_space_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, " 5000", "not a number");
}

Test(config, trailing_junk_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++) {
		expect_refused(numeric[i].name, "5000abc", "trailing characters");
		expect_refused(numeric[i].name, "5000 ", "trailing characters");
		expect_refused(numeric[i].name, "5000.5", "trailing characters");
		expect_refused(numeric[i].name, "0x5000", "trailing characters");
	}
}

Test(config, zero_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		if (!numeric[i].zero_ok)
			expect_refused(numeric[i].name, "0", "zero is meaningless");
}

Test(config, overflow_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, "99999999999999999999999999", "out of range");
}

Test(config, value_above_range_is_refused_for_every_numeric_variable)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		expect_refused(numeric[i].name, numeric[i].above, "out of range");
}

Test(config, value_below_range_is_refused_where_the_minimum_is_above_one)
{
	for (size_t i = 0; i < NNUMERIC; i++)
		if (numeric[i].below)
			expect_refused(numeric[i].name, numeric[i].below, "too small");
}

Test(config, bad_value_message_has_the_documented_shape)
{
	setenv("MAX_TOTAL_CONNECTIONS", "abc", 1);
	cr_assert_eq(load(), -1);
	cr_expect_str_eq(err, "MAX_TOTAL_CONNECTIONS=\"abc\": not a number "
		"(expected an integer from 1 to 1000000)");
}

Test(config, bad_value_in_the_file_names_the_variable)
{
	const char *path = write_env("CLEANUP_INTERVAL=5min\n");

	cr_assert_eq(load_with(path), -1);
	cr_expect_str_eq(err, "CLEANUP_INTERVAL=\"5min\": trailing characters after the number "
		"(expected milliseconds from 1 to 2147483647)");
}

Test(config, control_characters_in_a_bad_value_are_escaped)
{
	setenv("REQUEST_TIMEOUT", "1\n2\"", 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "REQUEST_TIMEOUT=\"1\\x0a2\\\"\""), "%s", err);
	cr_expect_null(strchr(err, '\n'), "%s", err);
}

Test(config, range_limits_themselves_are_accepted)
{
	setenv("MAX_CONNECTIONS_PER_USER", "100000", 1);
	setenv("MAX_TOTAL_CONNECTIONS", "1000000", 1);
	setenv("CONNECTION_TIMEOUT", "2147483647", 1);
	setenv("CLEANUP_INTERVAL", "1", 1);
	setenv("MCPPOOL_MAX_FRAME", "1024", 1);
	setenv("MCPPOOL_MAX_MESSAGE", "1073741824", 1);
	setenv("MCPPOOL_MAX_OUTPUT", "68719476736", 1);
	setenv("MCPPOOL_MAX_INFLIGHT", "1000000", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.max_per_user, 100000);
	cr_expect_eq(cfg.max_total, 1000000);
	cr_expect_eq(cfg.connection_timeout_ms, 2147483647ULL);
	cr_expect_eq(cfg.cleanup_interval_ms, 1);
	cr_expect_eq(cfg.max_frame, 1024);
	cr_expect_eq(cfg.max_message, 1073741824);
	cr_expect_eq(cfg.max_output, 68719476736ULL);
	cr_expect_eq(cfg.max_inflight, 1000000);
}

Test(config, leading_zeros_are_decimal)
{
	setenv("MAX_TOTAL_CONNECTIONS", "0100", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.max_total, 100);
}

Test(config, per_user_limit_above_total_is_refused)
{
	setenv("MAX_CONNECTIONS_PER_USER", "20", 1);
	setenv("MAX_TOTAL_CONNECTIONS", "10", 1);
	cr_assert_eq(load(), -1);
	cr_expect_str_eq(err, "MAX_CONNECTIONS_PER_USER=20 exceeds MAX_TOTAL_CONNECTIONS=10 "
		"(per-user limit must not exceed the total)");
}

Test(config, per_user_limit_equal_to_total_is_accepted)
{
	setenv("MAX_CONNECTIONS_PER_USER", "50", 1);
	setenv("MAX_TOTAL_CONNECTIONS", "50", 1);
	cr_expect_eq(load(), 0, "%s", err);
}

Test(config, output_limit_below_message_limit_is_refused)
{
	setenv("MCPPOOL_MAX_OUTPUT", "2048", 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "MCPPOOL_MAX_OUTPUT=2048"), "%s", err);
	cr_expect(strstr(err, "MCPPOOL_MAX_MESSAGE=16777216"), "%s", err);
}

Test(config, unknown_log_level_is_refused)
{
	setenv("MCPPOOL_LOG_LEVEL", "loud", 1);
	cr_assert_eq(load(), -1);
	cr_expect_str_eq(err, "MCPPOOL_LOG_LEVEL=\"loud\": unknown level "
		"(expected error, warn, info or debug)");
}

Test(config, unknown_log_level_on_the_command_line_names_the_option)
{
	struct config_cli cli = { .log_level = "trace" };

	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), -1);
	cr_expect(strstr(err, "--log-level=\"trace\": unknown level"), "%s", err);
}

Test(config, log_level_is_case_insensitive)
{
	setenv("MCPPOOL_LOG_LEVEL", "DEBUG", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.log_level, LOG_DEBUG);
}

static const char *long_path(char *buf, size_t len)
{
	memset(buf, 'x', len);
	buf[0] = '/';
	buf[len] = '\0';
	return buf;
}

Test(config, socket_path_of_108_bytes_is_refused)
{
	char path[200];

	setenv("MCPPOOL_SOCKET", long_path(path, 108), 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "MCPPOOL_SOCKET=\""), "%s", err);
	cr_expect(strstr(err, "too long"), "%s", err);
}

Test(config, socket_path_of_107_bytes_is_accepted)
{
	char path[200];

	setenv("MCPPOOL_SOCKET", long_path(path, 107), 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_path, path);
}

Test(config, too_long_socket_on_the_command_line_names_the_option)
{
	char path[300];
	struct config_cli cli = { .socket = long_path(path, 250) };

	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), -1);
	cr_expect(strstr(err, "--socket=\""), "%s", err);
}

Test(config, too_long_default_socket_under_xdg_runtime_dir_is_refused)
{
	char path[200];

	setenv("XDG_RUNTIME_DIR", long_path(path, 100), 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "XDG_RUNTIME_DIR"), "%s", err);
}

Test(config, unknown_socket_group_is_refused)
{
	setenv("MCPPOOL_SOCKET_GROUP", "mcppool-no-such-group-zz", 1);
	cr_assert_eq(load(), -1);
	cr_expect_str_eq(err, "MCPPOOL_SOCKET_GROUP=\"mcppool-no-such-group-zz\": no such group");
}

Test(config, existing_socket_group_is_kept)
{
	struct group *g = getgrgid(getgid());

	cr_assert_not_null(g);
	setenv("MCPPOOL_SOCKET_GROUP", g->gr_name, 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_group, g->gr_name);
}

Test(config, missing_servers_file_is_refused)
{
	setenv("MCPPOOL_SERVERS", "/nonexistent/servers.json", 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "MCPPOOL_SERVERS=\"/nonexistent/servers.json\""), "%s", err);
	cr_expect(strstr(err, "No such file"), "%s", err);
}

Test(config, missing_servers_file_on_the_command_line_names_the_option)
{
	struct config_cli cli = { .servers = "/nonexistent/servers.json" };

	cr_assert_eq(config_load(&cfg, &cli, err, sizeof(err)), -1);
	cr_expect(strstr(err, "--servers=\"/nonexistent/servers.json\""), "%s", err);
}

Test(config, servers_path_that_is_a_directory_is_refused)
{
	setenv("MCPPOOL_SERVERS", dir, 1);
	cr_assert_eq(load(), -1);
	cr_expect(strstr(err, "directory"), "%s", err);
}

Test(config, existing_servers_file_is_kept)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", write_file("servers.json", "{}", 2));
	setenv("MCPPOOL_SERVERS", path, 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.servers_path, path);
}

Test(config, child_env_list_is_kept)
{
	setenv("MCPPOOL_CHILD_ENV", "HTTPS_PROXY,NODE_OPTIONS,_X1", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_str_eq(cfg.child_env, "HTTPS_PROXY,NODE_OPTIONS,_X1");
}

Test(config, malformed_child_env_list_is_refused)
{
	static const char *const bad[] = { "A,,B", "A,", ",A", "A-B", "1A", "A B" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("MCPPOOL_CHILD_ENV", bad[i], 1);
		cr_expect_eq(load(), -1, "\"%s\" was accepted", bad[i]);
		cr_expect(strstr(err, "MCPPOOL_CHILD_ENV=\""), "%s", err);
	}
}

Test(config, printed_configuration_reads_back_the_same)
{
	char path[PATH_MAX], printed[PATH_MAX];
	struct config again = { 0 };
	struct config_cli cli = { .env_file = printed };
	FILE *f;

	snprintf(path, sizeof(path), "%s", write_file("servers.json", "{}", 2));
	setenv("MAX_CONNECTIONS_PER_USER", "7", 1);
	setenv("CONNECTION_TIMEOUT", "123456", 1);
	setenv("MCPPOOL_MAX_OUTPUT", "99999999", 1);
	setenv("MCPPOOL_LOG_LEVEL", "warn", 1);
	setenv("MCPPOOL_SOCKET", "/tmp/odd \"name\" #1.sock", 1);
	setenv("MCPPOOL_SERVERS", path, 1);
	setenv("MCPPOOL_CHILD_ENV", "HTTPS_PROXY", 1);
	cr_assert_eq(load(), 0, "%s", err);

	snprintf(printed, sizeof(printed), "%s/printed.env", dir);
	f = fopen(printed, "w");
	cr_assert_not_null(f);
	config_print(&cfg, f);
	fclose(f);
	clear_env();
	cr_assert_eq(config_load(&again, &cli, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(again.max_per_user, 7);
	cr_expect_eq(again.connection_timeout_ms, 123456);
	cr_expect_eq(again.max_output, 99999999);
	cr_expect_eq(again.log_level, LOG_WARN);
	cr_expect_str_eq(again.socket_path, "/tmp/odd \"name\" #1.sock");
	cr_expect_str_eq(again.servers_path, path);
	cr_expect_str_eq(again.child_env, "HTTPS_PROXY");
	cr_expect_null(again.socket_group);
	config_free(&again);
}

Test(config, printed_configuration_names_every_seed_variable)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(load(), 0, "%s", err);
	config_print(&cfg, f);
	fclose(f);
	cr_expect(strstr(buf, "MAX_CONNECTIONS_PER_USER=10\n"), "%s", buf);
	cr_expect(strstr(buf, "MAX_TOTAL_CONNECTIONS=100\n"), "%s", buf);
	cr_expect(strstr(buf, "CONNECTION_TIMEOUT=1800000\n"), "%s", buf);
	cr_expect(strstr(buf, "CLEANUP_INTERVAL=300000\n"), "%s", buf);
	cr_expect(strstr(buf, "REQUEST_TIMEOUT=60000\n"), "%s", buf);
	free(buf);
}

Test(config, failed_load_leaves_no_strings_behind)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", write_file("servers.json", "{}", 2));
	setenv("MCPPOOL_SERVERS", path, 1);
	setenv("MCPPOOL_CHILD_ENV", "bad-name", 1);
	cr_assert_eq(load(), -1);
	cr_expect_null(cfg.servers_path);
	cr_expect_null(cfg.child_env);
}

Test(config, busy_poll_takes_zero_for_off_and_microseconds_up_to_ten_thousand)
{
	setenv("MCPPOOL_BUSY_POLL_US", "0", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.busy_poll_us, 0);
	setenv("MCPPOOL_BUSY_POLL_US", "10000", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.busy_poll_us, 10000);
	expect_refused("MCPPOOL_BUSY_POLL_US", "10001", "out of range");
	expect_refused("MCPPOOL_BUSY_POLL_US", "-1", "negative");
}

Test(config, reply_spin_is_off_unless_asked_for_and_takes_microseconds_up_to_ten_thousand)
{
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.reply_spin_us, 0);
	setenv("MCPPOOL_REPLY_SPIN_US", "50", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.reply_spin_us, 50);
	setenv("MCPPOOL_REPLY_SPIN_US", "10000", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.reply_spin_us, 10000);
	expect_refused("MCPPOOL_REPLY_SPIN_US", "10001", "out of range");
	expect_refused("MCPPOOL_REPLY_SPIN_US", "-1", "negative");
}

Test(config, max_input_must_hold_one_whole_frame)
{
	setenv("MCPPOOL_MAX_FRAME", "2000000", 1);
	setenv("MCPPOOL_MAX_INPUT", "2000003", 1);
	cr_assert_eq(load(), -1, "an input budget smaller than one frame was accepted");
	cr_expect(strstr(err, "MCPPOOL_MAX_INPUT=2000003"), "%s", err);
	cr_expect(strstr(err, "MCPPOOL_MAX_FRAME=2000000"), "%s", err);
	setenv("MCPPOOL_MAX_INPUT", "2000004", 1);
	cr_assert_eq(load(), 0, "%s", err);
	cr_expect_eq(cfg.max_input, 2000004);
}
