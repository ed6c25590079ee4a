/* The daemon's listening Unix-domain socket. */
#ifndef MCPPOOL_LISTENER_H
#define MCPPOOL_LISTENER_H

#include <stddef.h>

struct daemon;

/*
 * Creates d->cfg.socket_path with mode 0600 (0660 and its group with
 * MCPPOOL_SOCKET_GROUP) and starts accepting. A stale socket file (nobody
 * accepts on it) is replaced; a live one (another daemon) is an error, and so
 * is a path that exists and is not a socket. Under socket activation
 * (sdnotify_listen_fd()) the passed socket is used instead, its path put in
 * d->cfg.socket_path, and its file is never removed. Returns 0, or -1 with the reason.
 */
int listener_start(struct daemon *d, char *err, size_t errlen);

/* Stops accepting, closes the socket and removes its file if it is still ours. */
void listener_stop(struct daemon *d);

#endif
