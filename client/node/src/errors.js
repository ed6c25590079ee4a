// McpPoolError: every failure of the client, with a stable code.

/*
 * The daemon's stable codes (proto/PROTOCOL.md) and the three the client adds, as
 * libmcppool does: NOT_CONNECTED (the daemon cannot be reached, or went away),
 * PROTOCOL (the daemon broke the wire protocol), TIMEOUT (no reply within the
 * client's own timeout).
 */
export const CODES = Object.freeze([
	'BAD_REQUEST', 'UNKNOWN_MCP', 'AUTH_INVALID', 'POOL_EXHAUSTED', 'UPSTREAM_START_FAILED',
	'UPSTREAM_CLOSED', 'UPSTREAM_TIMEOUT', 'UPSTREAM_ERROR', 'FORBIDDEN', 'SHUTTING_DOWN',
	'INTERNAL', 'UNSUPPORTED_VERSION', 'CANCELLED', 'AUTH_REQUIRED', 'TOO_MANY_CLIENTS', 'CONFIG_INVALID',
	'NOT_CONNECTED', 'PROTOCOL', 'TIMEOUT',
]);

export class McpPoolError extends Error {
	/*
	 * code: a stable string (a daemon newer than this client may send one not in
	 * CODES: it is kept as sent). data: the error's data, when it has any (for
	 * UPSTREAM_ERROR the server's JSON-RPC error {code, message, data?}).
	 */
	constructor(code, message, { data, cause } = {}) {
		super(message, cause === undefined ? undefined : { cause });
		this.name = 'McpPoolError';
		this.code = code;
		if (data !== undefined)
			this.data = data;
	}

	/* From a reply's error map {code, message, data?}. */
	static fromWire(error) {
		const code = typeof error?.code === 'string' ? error.code : 'PROTOCOL';
		const message = typeof error?.message === 'string' ? error.message : `error ${code}`;
		return new McpPoolError(code, message, { data: error?.data ?? undefined });
	}
}
