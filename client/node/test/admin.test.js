// Admin access with the daemon's admin token, the reload op, and AUTH_REQUIRED's challenge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { connect, McpPoolError } from '../src/index.js';
import { startDaemon, fixtureCatalog, fixturePath, waitFor } from './helpers.js';

const TOKEN = 'node-admin-token-0123456789';
const CHALLENGE = 'Bearer resource_metadata="https://as.example/.well-known/oauth-protected-resource", ' +
	'scope="files:read", error="invalid_token"';

let d, httpServer, port;

before(async () => {
	// An MCP server over HTTP that wants OAuth: every POST is a 401 with a challenge.
	httpServer = http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			res.writeHead(401, { 'WWW-Authenticate': CHALLENGE, 'Content-Length': 0 });
			res.end();
		});
	});
	await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
	port = httpServer.address().port;
	d = await startDaemon({ catalog: fixtureCatalog({ remote: { url: `http://127.0.0.1:${port}/mcp` } }),
		env: { MCPPOOL_ADMIN_TOKEN_FILE: tokenFile() } });
});

after(async () => {
	await d?.cleanup();
	httpServer?.closeAllConnections();
	await new Promise((r) => httpServer.close(r));
});

/* The token file, private to its owner as the daemon demands, in a dir of its own. */
function tokenFile() {
	const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'mcppool-node-token-'));
	const f = path.join(dir, 'admin.token');
	fs.writeFileSync(f, `${TOKEN}\n`, { mode: 0o600 });
	process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
	return f;
}

const accepted = () => d.stderr.split('admin token accepted').length - 1;

test('reload with the admin token reports the catalog entry added', async () => {
	const pool = await connect({ socket: d.socket, adminToken: TOKEN });
	try {
		const cat = JSON.parse(fs.readFileSync(d.catalog, 'utf8'));
		cat.mcpServers['fx-new'] = { command: fixturePath, args: ['--name', 'fx-new'] };
		fs.writeFileSync(d.catalog, JSON.stringify(cat));
		const r = await pool.reload();
		assert.deepEqual(r.added, ['fx-new']);
		assert.deepEqual(r.removed, []);
		assert.equal(typeof r.summary, 'string');
		const w = await pool.warm('ann', 'fx-new');
		assert.equal(w.server.serverInfo.name, 'fx-new');
	} finally {
		await pool.close();
	}
});

test('a reload of an invalid catalog rejects with CONFIG_INVALID naming the place, and changes nothing', async () => {
	const pool = await connect({ socket: d.socket, adminToken: TOKEN });
	const good = fs.readFileSync(d.catalog, 'utf8');
	try {
		fs.writeFileSync(d.catalog, '{"mcpServers": {\n  oops}}');
		const err = await pool.reload().then(() => assert.fail('an invalid catalog was taken'), (e) => e);
		assert.equal(err.code, 'CONFIG_INVALID', err.message);
		assert.match(err.message, /servers\.json:2:/);
		const w = await pool.warm('ann', 'fx');
		assert.ok(w.server, 'the running catalog still serves');
	} finally {
		fs.writeFileSync(d.catalog, good);
		await pool.close();
	}
});

test('the admin token is sent again on the socket a restart makes', async () => {
	const pool = await connect({ socket: d.socket, adminToken: TOKEN });
	try {
		await waitFor(() => accepted() >= 1, 'the daemon to accept the token');
		await d.restart();
		d.stderr = '';
		// the old socket's close may not have been seen yet: that request fails, the next reconnects
		const s = await waitFor(() => pool.poolStatus().catch((e) => {
			if (e.code !== 'NOT_CONNECTED')
				throw e;
		}), 'a request on a new socket');
		assert.equal(typeof s.totalConnections, 'number');
		assert.equal(accepted(), 1, d.stderr);
	} finally {
		await pool.close();
	}
});

test('a wrong admin token is FORBIDDEN at connect, saying it was the token', async () => {
	const err = await connect({ socket: d.socket, adminToken: 'not-the-token-at-all' }).catch((e) => e);
	assert.ok(err instanceof McpPoolError, String(err));
	assert.equal(err.code, 'FORBIDDEN');
	assert.match(err.message, /admin token/);
});

test('adminToken must be a non-empty string', async () => {
	await assert.rejects(connect({ socket: d.socket, adminToken: '' }), { code: 'BAD_REQUEST' });
});

test('a 401 from an HTTP server is AUTH_REQUIRED with the challenge in .data', async () => {
	const pool = await connect({ socket: d.socket });
	try {
		const err = await pool.call('ann', 'remote', 'echo', {}, { timeoutMs: 5000 }).catch((e) => e);
		assert.ok(err instanceof McpPoolError, String(err));
		assert.equal(err.code, 'AUTH_REQUIRED', err.message);
		assert.equal(err.data.status, 401);
		assert.equal(err.data.scheme, 'Bearer');
		assert.equal(err.data.resource_metadata, 'https://as.example/.well-known/oauth-protected-resource');
		assert.equal(err.data.scope, 'files:read');
		assert.match(err.data.wwwAuthenticate, /resource_metadata=/);
	} finally {
		await pool.close();
	}
});
