/* Logging to stderr: one line per event, with a level; never secrets. */
#ifndef MCPPOOL_LOG_H
#define MCPPOOL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines above this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *s);

/*
 * Writes "2026-11-23T21:32:31.123Z mcppoold[PID] LEVEL message\n" as one
 * write(2), so lines from several processes never interleave. Control
 * characters in the message are escaped; lines are cut at 2 KiB.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
