// The default socket path is the one libmcppool, mcpctl and mcppoold resolve.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { connect, McpPoolError, resolveSocketPath } from 'mcppool';
import { buildDir, startDaemon } from './helpers.js';

test('resolution order: explicit, MCPPOOL_SOCKET, XDG_RUNTIME_DIR, /tmp/mcppool-UID.sock', () => {
	const env = { MCPPOOL_SOCKET: '/s/env.sock', XDG_RUNTIME_DIR: '/run/user/7' };
	assert.equal(resolveSocketPath('/s/explicit.sock', env), '/s/explicit.sock');
	assert.equal(resolveSocketPath('', env), '/s/env.sock');
	assert.equal(resolveSocketPath(undefined, env), '/s/env.sock');
	assert.equal(resolveSocketPath(undefined, { MCPPOOL_SOCKET: '', XDG_RUNTIME_DIR: '/run/user/7' }),
		'/run/user/7/mcppool.sock');
	assert.equal(resolveSocketPath(undefined, { XDG_RUNTIME_DIR: '' }), `/tmp/mcppool-${process.getuid()}.sock`);
	assert.equal(resolveSocketPath(undefined, {}), `/tmp/mcppool-${process.getuid()}.sock`);
});

test('a path that does not fit in a sockaddr_un is NOT_CONNECTED', async () => {
	const long = `/tmp/${'x'.repeat(103)}`; // 108 bytes: no room for the NUL
	assert.throws(() => resolveSocketPath(long, {}), (e) => e instanceof McpPoolError && e.code === 'NOT_CONNECTED');
	assert.equal(resolveSocketPath(long.slice(0, -1), {}), long.slice(0, -1));
	await assert.rejects(connect({ socket: long }), (e) => e.code === 'NOT_CONNECTED');
});

test('with no socket given, connect finds the daemon started without -s (XDG_RUNTIME_DIR)', async () => {
	const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'mcppool-xdg-'));
	const d = await startDaemon({ defaultSocket: true, socket: path.join(runtime, 'mcppool.sock'),
		env: { XDG_RUNTIME_DIR: runtime } });
	const saved = { MCPPOOL_SOCKET: process.env.MCPPOOL_SOCKET, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
	try {
		delete process.env.MCPPOOL_SOCKET;
		process.env.XDG_RUNTIME_DIR = runtime;
		const pool = await connect();
		assert.equal(pool.socketPath, path.join(runtime, 'mcppool.sock'));
		assert.equal((await pool.call('alice', 'fx', 'echo', { message: 'default' })).content[0].text, 'default');
		await pool.close();
		// mcpctl (libmcppool) resolves the same path from the same environment
		const out = execFileSync(path.join(buildDir, 'mcpctl'), ['servers'], { env: { ...process.env } });
		assert.equal(JSON.parse(out).success, true);

		// MCPPOOL_SOCKET wins over XDG_RUNTIME_DIR
		process.env.MCPPOOL_SOCKET = d.socket;
		process.env.XDG_RUNTIME_DIR = '/nonexistent';
		const p2 = await connect();
		assert.equal(p2.socketPath, d.socket);
		assert.equal((await p2.call('alice', 'fx', 'echo', { message: 'env' })).content[0].text, 'env');
		await p2.close();
	} finally {
		for (const [k, v] of Object.entries(saved)) {
			if (v === undefined)
				delete process.env[k];
			else
				process.env[k] = v;
		}
		await d.cleanup();
		fs.rmSync(runtime, { recursive: true, force: true });
	}
});
