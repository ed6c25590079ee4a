/* Unit tests: log lines in text and JSON, and the access log's lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "log.h"

/* Runs fn with stderr going to a temp file; returns what it wrote (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/mcppool-log-XXXXXX", *buf = calloc(1, 8192);
	int fd = mkstemp(path), saved = dup(2);

	cr_assert(fd >= 0 && saved >= 0 && buf);
	dup2(fd, 2);
	fn();
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, 8191);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

static void log_a_line(void)
{
	log_warn("[alice:demo] connection lost: \"quoted\" \x01 and \xff bytes");
}

Test(log, json_lines_are_objects_with_the_key_apart_even_for_bad_utf8)
{
	log_set_format(LOG_FORMAT_JSON);
	char *out = capture_stderr(log_a_line);
	log_set_format(LOG_FORMAT_TEXT);
	json_error_t je;
	json_t *o = json_loads(out, 0, &je);

	cr_assert(json_is_object(o), "%s: %s", out, je.text);
	cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "warn");
	cr_expect_str_eq(json_string_value(json_object_get(o, "key")), "alice:demo");
	cr_expect_str_eq(json_string_value(json_object_get(o, "msg")),
			 "connection lost: \"quoted\" \x01 and \xc3\xbf bytes");
	cr_expect(json_is_integer(json_object_get(o, "pid")));
	json_decref(o);
	free(out);
}

Test(log, text_lines_escape_control_characters)
{
	char *out = capture_stderr(log_a_line);

	cr_expect(strstr(out, " WARN [alice:demo] connection lost: \"quoted\" \\x01 and "), "%s", out);
	cr_expect_eq(out[strlen(out) - 1], '\n');
	free(out);
}

static void access_lines(void)
{
	char err[128];

	cr_assert_eq(log_access_open("-", err, sizeof(err)), 0);
	log_access("alice:demo", "tools/call", "search", 12.3456, "OK");
	log_access("bob smith:demo", "tools/list", NULL, 1, "UPSTREAM_TIMEOUT");
	log_access_close();
	log_access("carol:demo", "tools/list", NULL, 1, "OK"); /* closed: nothing */
}

Test(log, access_lines_are_logfmt_and_quote_what_needs_it)
{
	char *out = capture_stderr(access_lines);

	cr_expect(strstr(out, " ACCESS key=alice:demo method=tools/call tool=search ms=12.346 code=OK\n"),
		  "%s", out);
	cr_expect(strstr(out, " ACCESS key=\"bob smith:demo\" method=tools/list ms=1.000 code=UPSTREAM_TIMEOUT\n"),
		  "%s", out);
	cr_expect_null(strstr(out, "carol"), "%s", out);
	free(out);
}

Test(log, the_access_log_refuses_a_path_it_cannot_open)
{
	char err[256];

	cr_expect_eq(log_access_open("/nonexistent-dir/access.log", err, sizeof(err)), -1);
	cr_expect(strstr(err, "/nonexistent-dir/access.log"), "%s", err);
	cr_expect_not(log_access_enabled());
}
