/* The daemon's signals: which stop it, which reload it, which it only notes in the log. */
#ifndef MCPPOOL_SIGNALS_H
#define MCPPOOL_SIGNALS_H

#include <stddef.h>

struct daemon;

/*
 * Watches, as libev signal events handled in the loop, every catchable signal
 * whose default action would end the daemon without its cleanup:
 * - the first SIGTERM or SIGINT drains (daemon_drain): the socket goes,
 *   new requests get SHUTTING_DOWN, requests in flight finish up to
 *   MCPPOOL_SHUTDOWN_TIMEOUT; a second one, or SIGQUIT at any time, stops at
 *   once (daemon_stop_now); either way daemon_run() then answers what is
 *   still in flight, closes and reaps every child and removes the socket;
 *   one that arrives while it does so is only logged;
 * - SIGHUP reloads the .env file and the catalog (reload_run(); refused while
 *   stopping);
 * - SIGUSR1, SIGUSR2,
 *   SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGXCPU, SIGXFSZ, SIGPWR, SIGSTKFLT,
 *   SIGTRAP and the real-time signals are logged and ignored.
 * The signals of a fault in the daemon itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGSYS, SIGABRT) keep their default action: a handler could not make their
 * cause safe to go on from. Children start with default dispositions (exec
 * resets handled signals). Returns 0, or -1 when out of memory.
 */
int signals_start(struct daemon *d);

/*
 * Stops the watchers and frees them, at the very end of daemon_run(): their
 * signals are ignored from then on (the daemon is exiting), never given back a
 * default action that would kill it. NULL-safe state.
 */
void signals_stop(struct daemon *d);

#endif
