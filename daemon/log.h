/* Logging to stderr: one line per event, with a level; never secrets. The opt-in access log. */
#ifndef MCPPOOL_LOG_H
#define MCPPOOL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* MCPPOOL_LOG_FORMAT: text lines for people, or one JSON object per line for collectors. */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Lines above this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *s);

void log_set_format(enum log_format format);
/* Parses "text", "json"; -1 when unknown. */
int log_format_parse(const char *s);

/*
 * Writes one line as one write(2), so lines from several processes never
 * interleave; lines are cut at 2 KiB. Text:
 *   "2026-11-23T21:32:31.123Z mcppoold[PID] LEVEL message\n"
 * with control characters escaped. JSON (MCPPOOL_LOG_FORMAT=json):
 *   {"ts":"2026-11-23T21:32:31.123Z","level":"info","pid":PID,"msg":"...","key":"user:mcp"}
 * where "key" is present when the message starts with "[user:mcp] " (the
 * pool key, which the message then goes without).
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * MCPPOOL_ACCESS_LOG: "-" writes access lines to stderr with the other logs,
 * a path appends them to that file (created 0640), NULL or "" turns the log
 * off. Returns 0, or -1 with the reason in err (the log is then off).
 * log_access_reopen() opens the same path again (after a rotation).
 */
int log_access_open(const char *spec, char *err, size_t errlen);
int log_access_reopen(char *err, size_t errlen);
void log_access_close(void);
bool log_access_enabled(void);

/*
 * One access line for a request: its pool key, method, tool (NULL or "" when
 * none), duration and outcome code; never arguments nor auth values. Text
 * (logfmt, values quoted when needed):
 *   "2026-...Z mcppoold[PID] ACCESS key=alice:github method=tools/call tool=search ms=12.345 code=OK"
 * JSON: {"ts":...,"level":"info","pid":PID,"msg":"request","key":...,"method":...,
 *        "tool":...,"duration_ms":12.345,"code":"OK"}
 */
void log_access(const char *key, const char *method, const char *tool, double ms, const char *code);

#endif
