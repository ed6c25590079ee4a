/* The default socket path. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockpath.h"

int sockpath_resolve(const char *explicit_path, char *buf, size_t buflen)
{
	const char *env = getenv("MCPPOOL_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n;

	if (explicit_path && *explicit_path)
		n = snprintf(buf, buflen, "%s", explicit_path);
	else if (env && *env)
		n = snprintf(buf, buflen, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(buf, buflen, "%s/mcppool.sock", xdg);
	else
		n = snprintf(buf, buflen, "/tmp/mcppool-%ld.sock", (long)getuid());
	if (n < 0 || (size_t)n >= buflen || (size_t)n >= max)
		return -1;
	return 0;
}
