/* Checks of the configuration that warn rather than stop: mistakes that would otherwise pass in silence. */
#ifndef MCPPOOL_CONFCHECK_H
#define MCPPOOL_CONFCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct catalog;

/*
 * Optimal string alignment distance between a and b (insertions, deletions,
 * substitutions and adjacent transpositions each cost 1), capped at 255.
 */
unsigned confcheck_distance(const char *a, const char *b);

/*
 * The variable mcppool knows that name most likely misspells: the nearest of
 * them when it is close enough (at most 2 edits, 3 for long names), else
 * NULL. A name mcppool knows, exactly, is not a misspelling (NULL).
 */
const char *confcheck_suggest(const char *name);

/*
 * Warns (log_warn) when name, found in origin (".env path" or "the
 * environment"), is not a variable mcppool reads but looks meant to be one:
 * an MCPPOOL_ prefix, or a near miss of a known name
 * (MAX_CONECTIONS_PER_USER): "did you mean MAX_CONNECTIONS_PER_USER?". Never
 * logs a value. Returns 1 when it warned.
 */
int confcheck_variable(const char *name, const char *origin);

/* confcheck_variable() over every variable of the process environment. */
void confcheck_environment(void);

/*
 * Warnings on the loaded configuration and catalog, logged with log_warn: a
 * stdio command does not resolve (on the PATH its child gets, or as a path),
 * with a hint at "args" when the command holds a space. With full
 * (--check-config) also: the socket's directory is missing or not writable,
 * and a millisecond value below one second (likely meant as seconds).
 * Returns how many warnings it gave.
 */
unsigned confcheck_run(const struct config *cfg, const struct catalog *cat, bool full);

/*
 * One line naming every timeout in force: each millisecond variable, then the
 * catalog entries that set their own "timeout". Writes into buf (cut when
 * longer than len).
 */
void confcheck_timeouts(const struct config *cfg, const struct catalog *cat, char *buf, size_t len);

#endif
