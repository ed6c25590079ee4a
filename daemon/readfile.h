/* Reading a whole configuration file, bounded, with its secrets wiped on failure. */
#ifndef MCPPOOL_READFILE_H
#define MCPPOOL_READFILE_H

#include <stddef.h>

/*
 * Reads path into a fresh NUL-terminated buffer of *len bytes. Files larger
 * than max bytes, directories and unreadable paths fail with one line in err
 * naming the path. Whatever was read before a failure is wiped (a .env holds
 * secrets). The caller frees the buffer (wiping it first if it holds secrets).
 */
char *readfile_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
