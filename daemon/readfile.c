/* Reading a whole configuration file, bounded, with its secrets wiped on failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "readfile.h"

static void discard(char *buf, size_t n, int fd)
{
	if (buf) {
		sodium_memzero(buf, n);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
}

char *readfile_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t n = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	/* The size is checked while reading too: the file may grow meanwhile. */
	if ((st.st_size > 0 && (size_t)st.st_size > max) || !(buf = malloc(max + 1)))
		goto too_large_or_nomem;
	for (;;) {
		ssize_t r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max)
			goto too_large_or_nomem;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
too_large_or_nomem:
	if (buf || (st.st_size > 0 && (size_t)st.st_size > max))
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
	else
		snprintf(err, errlen, "%s: out of memory", path);
	discard(buf, n, fd);
	return NULL;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	discard(buf, n, fd);
	return NULL;
}
