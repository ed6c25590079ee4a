// The default socket path, resolved as mcppoold, mcpctl and libmcppool do (proto/sockpath.c).
import process from 'node:process';

import { McpPoolError } from './errors.js';

const SUN_PATH_MAX = 108; // sizeof(struct sockaddr_un.sun_path), the terminating NUL included

/*
 * explicit when non-empty, else $MCPPOOL_SOCKET, else $XDG_RUNTIME_DIR/mcppool.sock,
 * else /tmp/mcppool-UID.sock. Throws McpPoolError NOT_CONNECTED when the path does not
 * fit in a sockaddr_un.
 */
export function resolveSocketPath(explicit, env = process.env) {
	let path;
	if (explicit)
		path = explicit;
	else if (env.MCPPOOL_SOCKET)
		path = env.MCPPOOL_SOCKET;
	else if (env.XDG_RUNTIME_DIR)
		path = `${env.XDG_RUNTIME_DIR}/mcppool.sock`;
	else
		path = `/tmp/mcppool-${process.getuid()}.sock`;
	if (Buffer.byteLength(path) >= SUN_PATH_MAX)
		throw new McpPoolError('NOT_CONNECTED',
			`the socket path does not fit in ${SUN_PATH_MAX - 1} bytes: ${path}`);
	return path;
}
