// An Express app whose routes call a user's MCP tools through mcppoold.
// Every worker process of the app shares the daemon's pool: a user's MCP server is started
// once per host, not once per worker. Run: MCPPOOL_SOCKET=... PORT=3000 node server.mjs
import express from 'express';
import { connect, McpPoolError } from 'mcppool';

// The HTTP status for each mcppool error code (anything else: 500).
const STATUS = {
	BAD_REQUEST: 400, AUTH_INVALID: 400, UNKNOWN_MCP: 404, AUTH_REQUIRED: 401, FORBIDDEN: 403,
	POOL_EXHAUSTED: 503, SHUTTING_DOWN: 503, NOT_CONNECTED: 503,
	UPSTREAM_TIMEOUT: 504, TIMEOUT: 504,
	UPSTREAM_START_FAILED: 502, UPSTREAM_CLOSED: 502, UPSTREAM_ERROR: 502,
};

const pool = await connect(); // socket: $MCPPOOL_SOCKET, else the default path
const app = express();
app.use(express.json());

/*
 * Calls tool on the user's MCP server; the call is cancelled in the server when the HTTP
 * client goes away before the answer. In a real app the user (and their auth values)
 * come from the session, not from the URL.
 */
async function callTool(req, res, mcp, tool, args, auth) {
	const ac = new AbortController();
	res.on('close', () => {
		if (!res.writableFinished)
			ac.abort(new Error('the HTTP client went away'));
	});
	try {
		const result = await pool.call(req.params.user, mcp, tool, args, { auth, timeoutMs: 30000, signal: ac.signal });
		res.json(result);
	} catch (err) {
		if (!(err instanceof McpPoolError))
			throw err;
		res.status(STATUS[err.code] ?? 500).json({ error: { code: err.code, message: err.message, data: err.data } });
	}
}

// GET /users/alice/echo?message=hi: the demo server's echo tool, for alice.
app.get('/users/:user/echo', (req, res) =>
	callTool(req, res, process.env.MCP ?? 'demo', 'echo', { message: String(req.query.message ?? 'hello') }));

// POST /users/alice/mcp/demo-auth/tools/getenv {"name":"DEMO_TOKEN"} with X-Mcp-Token: s3cret
app.post('/users/:user/mcp/:mcp/tools/:tool', (req, res) => {
	const token = req.get('x-mcp-token');
	return callTool(req, res, req.params.mcp, req.params.tool, req.body ?? {}, token ? { token } : undefined);
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
	console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
	process.once(sig, () => {
		server.close();
		pool.close();
	});
}
