/* systemd integration: readiness notification (sd_notify) and socket activation (LISTEN_FDS). */
#ifndef MCPPOOL_SDNOTIFY_H
#define MCPPOOL_SDNOTIFY_H

#include <stddef.h>

struct daemon;

/*
 * Tells the service manager that the daemon is ready: READY=1, once the socket
 * accepts. Like every sdnotify_* notification, a no-op without NOTIFY_SOCKET
 * (not started by systemd), and a failure to send is only logged at debug level:
 * a daemon must not stop over its supervisor's mailbox.
 */
void sdnotify_ready(const struct daemon *d);

/* STOPPING=1: the daemon has begun to shut down. */
void sdnotify_stopping(void);

/* RELOADING=1 (with MONOTONIC_USEC): a reload has begun; send sdnotify_ready() when it is done. */
void sdnotify_reloading(void);

/*
 * The listening socket passed by socket activation (LISTEN_FDS and LISTEN_PID
 * naming us), made non-blocking and close-on-exec; the variables are removed
 * from the environment so that no child sees them. Returns the descriptor,
 * with its path copied into path (left as is when the socket has none);
 * -1 when nothing was passed; -2 with the reason in err when what was passed
 * is not exactly one listening Unix stream socket.
 */
int sdnotify_listen_fd(char *path, size_t pathlen, char *err, size_t errlen);

#endif
