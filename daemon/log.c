/* Logging to stderr, and the opt-in access log. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mpjson.h"

#define LINE_MAX_BYTES 2048

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;

/* The access log: -1 when off; STDERR_FILENO for "-"; else a file we opened. */
static int access_fd = -1;
static char *access_path; /* the file's path, for log_access_reopen(); NULL for "-" */

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_names_lower[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names_lower[i]) == 0)
			return i;
	return -1;
}

void log_set_format(enum log_format format)
{
	current_format = format;
}

int log_format_parse(const char *s)
{
	if (strcasecmp(s, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcasecmp(s, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

/* A line being built: bytes past cap are dropped (the line is cut). */
struct line {
	char buf[LINE_MAX_BYTES + 256];
	size_t n;
};

static size_t line_room(const struct line *l)
{
	return sizeof(l->buf) - 8 - l->n; /* kept for the closing quote, "}" and "\n" */
}

static void line_add(struct line *l, const char *s, size_t len)
{
	if (len > line_room(l))
		len = line_room(l);
	memcpy(l->buf + l->n, s, len);
	l->n += len;
}

static void line_addf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_addf(struct line *l, const char *fmt, ...)
{
	size_t room = line_room(l) + 1;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(l->buf + l->n, room, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k < room ? (size_t)k : room - 1;
}

/* "2026-11-23T21:32:31.123Z" */
static void line_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	l->n += strftime(l->buf + l->n, line_room(l), "%Y-%m-%dT%H:%M:%S", &tm);
	line_addf(l, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Text: control characters as \xNN. */
static void line_text(struct line *l, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len && line_room(l) >= 4; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f) {
			l->buf[l->n++] = (char)c;
		} else {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			line_add(l, esc, 4);
		}
	}
}

/*
 * A JSON string (quotes included). Bytes of text that is not valid UTF-8
 * (a server's output may be anything) are written as \u00NN, so the line
 * stays valid JSON.
 */
static void line_json_string(struct line *l, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool utf8 = mpjson_utf8_valid(s, len);

	line_add(l, "\"", 1);
	for (size_t i = 0; i < len && line_room(l) >= 7; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			line_add(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
			char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			line_add(l, esc, 6);
		} else {
			l->buf[l->n++] = (char)c;
		}
	}
	l->buf[l->n++] = '"'; /* line_room kept space for it */
}

/* {"ts":"...","level":"info","pid":PID */
static void line_json_head(struct line *l, enum log_level level)
{
	line_add(l, "{\"ts\":\"", 7);
	line_time(l);
	line_addf(l, "\",\"level\":\"%s\",\"pid\":%ld", level_names_lower[level], (long)getpid());
}

static void line_write(int fd, struct line *l)
{
	l->buf[l->n++] = '\n';
	/* One write per line; a short write to a log is not worth retrying. */
	if (write(fd, l->buf, l->n) < 0)
		return;
}

/* The length of "[KEY] " at the start of msg (the pool key of the message), or 0. */
static size_t key_prefix(const char *msg, size_t *key_len)
{
	const char *end;

	if (msg[0] != '[' || !(end = strstr(msg, "] ")) || end == msg + 1 || !memchr(msg, ':', (size_t)(end - msg)))
		return 0;
	*key_len = (size_t)(end - msg - 1);
	return (size_t)(end - msg) + 2;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[LINE_MAX_BYTES];
	struct line l;
	size_t skip, key_len = 0;
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l.n = 0;
	if (current_format == LOG_FORMAT_JSON) {
		skip = key_prefix(msg, &key_len);
		line_json_head(&l, level);
		line_add(&l, ",\"msg\":", 7);
		line_json_string(&l, msg + skip, strlen(msg + skip));
		if (skip) {
			line_add(&l, ",\"key\":", 7);
			line_json_string(&l, msg + 1, key_len);
		}
		l.buf[l.n++] = '}';
	} else {
		line_time(&l);
		line_addf(&l, " mcppoold[%ld] %s ", (long)getpid(), level_names[level]);
		line_text(&l, msg, strlen(msg));
	}
	line_write(STDERR_FILENO, &l);
}

/* ---- the access log --------------------------------------------------------- */

static int access_open_path(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s for appending: %s", path, strerror(errno));
		return -1;
	}
	return fd;
}

int log_access_open(const char *spec, char *err, size_t errlen)
{
	int fd;

	log_access_close();
	if (!spec || !*spec)
		return 0;
	if (strcmp(spec, "-") == 0) {
		access_fd = STDERR_FILENO;
		return 0;
	}
	if ((fd = access_open_path(spec, err, errlen)) < 0)
		return -1;
	if (!(access_path = strdup(spec))) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	access_fd = fd;
	return 0;
}

int log_access_reopen(char *err, size_t errlen)
{
	int fd;

	if (!access_path)
		return 0;
	if ((fd = access_open_path(access_path, err, errlen)) < 0)
		return -1; /* the old descriptor keeps working */
	close(access_fd);
	access_fd = fd;
	return 0;
}

void log_access_close(void)
{
	if (access_fd > STDERR_FILENO)
		close(access_fd);
	access_fd = -1;
	free(access_path);
	access_path = NULL;
}

bool log_access_enabled(void)
{
	return access_fd >= 0;
}

/* True when v can be written bare in logfmt. */
static bool logfmt_plain(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == '"' || *v == '=' || *v == '\\' || *v == 0x7f)
			return false;
	return true;
}

static void logfmt_pair(struct line *l, const char *name, const char *v)
{
	line_addf(l, " %s=", name);
	if (logfmt_plain(v)) {
		line_add(l, v, strlen(v));
		return;
	}
	/* Quoted as a JSON string: quotes and backslashes escaped, controls as \u00NN. */
	line_json_string(l, v, strlen(v));
}

static void json_pair(struct line *l, const char *name, const char *v)
{
	line_addf(l, ",\"%s\":", name);
	line_json_string(l, v, strlen(v));
}

void log_access(const char *key, const char *method, const char *tool, double ms, const char *code)
{
	struct line l;

	if (access_fd < 0)
		return;
	if (!tool)
		tool = "";
	l.n = 0;
	if (current_format == LOG_FORMAT_JSON) {
		line_json_head(&l, LOG_INFO);
		line_add(&l, ",\"msg\":\"request\"", 16);
		json_pair(&l, "key", key);
		json_pair(&l, "method", method);
		if (*tool)
			json_pair(&l, "tool", tool);
		line_addf(&l, ",\"duration_ms\":%.3f", ms);
		json_pair(&l, "code", code);
		l.buf[l.n++] = '}';
	} else {
		line_time(&l);
		line_addf(&l, " mcppoold[%ld] ACCESS", (long)getpid());
		logfmt_pair(&l, "key", key);
		logfmt_pair(&l, "method", method);
		if (*tool)
			logfmt_pair(&l, "tool", tool);
		line_addf(&l, " ms=%.3f", ms);
		logfmt_pair(&l, "code", code);
	}
	line_write(access_fd, &l);
}
