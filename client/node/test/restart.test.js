// A daemon restart under a running app costs only the calls in flight.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connect, McpPoolError, McpPoolTransport } from 'mcppool';
import { packageDir, startDaemon, waitFor } from './helpers.js';

let d;

before(async () => {
	d = await startDaemon();
});

after(async () => {
	await d?.cleanup();
});

test('calls in flight fail with NOT_CONNECTED; the next call reconnects by itself', async () => {
	const pool = await connect({ socket: d.socket });
	try {
		assert.equal((await pool.call('alice', 'fx', 'echo', { message: 'before' })).content[0].text, 'before');
		const inFlight = [];
		for (let i = 0; i < 5; i++)
			inFlight.push(pool.call('alice', 'fx', 'sleep', { ms: 30000 }).then(() => null, (e) => e));
		await waitFor(async () => {
			const p2 = await connect({ socket: d.socket });
			const s = await p2.poolStatus();
			await p2.close();
			return s.connectionDetails.some((c) => c.inFlight === 5);
		}, 'the calls to be in flight');
		await d.restart();
		const errors = await Promise.all(inFlight);
		for (const e of errors) {
			assert.ok(e instanceof McpPoolError);
			assert.equal(e.code, 'NOT_CONNECTED');
		}
		const r = await pool.call('alice', 'fx', 'echo', { message: 'after' });
		assert.equal(r.content[0].text, 'after');
		const again = await Promise.all([1, 2, 3].map((i) => pool.call('alice', 'fx', 'add', { a: i, b: i })));
		assert.deepEqual(again.map((x) => x.content[0].text), ['2', '4', '6']);
	} finally {
		await pool.close();
	}
});

test('a restart while idle costs nothing: the next call reconnects', async () => {
	const pool = await connect({ socket: d.socket });
	try {
		await pool.call('bob', 'fx', 'echo', { message: 'x' });
		await d.restart();
		assert.equal((await pool.call('bob', 'fx', 'echo', { message: 'y' })).content[0].text, 'y');
	} finally {
		await pool.close();
	}
});

test('a daemon that is down: NOT_CONNECTED, then the call after its return succeeds', async () => {
	const pool = await connect({ socket: d.socket });
	try {
		await d.stop('SIGKILL');
		await waitFor(async () => {
			const e = await pool.call('carl', 'fx', 'echo', { message: 'x' }).then(() => null, (err) => err);
			return e?.code === 'NOT_CONNECTED';
		}, 'the call to fail');
		await d.restart();
		assert.equal((await pool.call('carl', 'fx', 'echo', { message: 'back' })).content[0].text, 'back');
	} finally {
		await pool.close();
	}
});

test('an SDK Client on McpPoolTransport survives a restart: the call in flight fails, the next works', async () => {
	const c = new Client({ name: 'restart-test', version: '1.0.0' });
	await c.connect(new McpPoolTransport({ socket: d.socket, user: 'eli', mcp: 'fx' }));
	try {
		const inFlight = c.callTool({ name: 'sleep', arguments: { ms: 30000 } }).then(() => null, (e) => e);
		await waitFor(async () => {
			const p2 = await connect({ socket: d.socket });
			const s = await p2.poolStatus();
			await p2.close();
			return s.connectionDetails.some((x) => x.key === 'eli:fx' && x.inFlight === 1);
		}, 'the call to be in flight');
		await d.restart();
		assert.equal((await inFlight).data.mcppoolCode, 'NOT_CONNECTED');
		const r = await c.callTool({ name: 'echo', arguments: { message: 'after' } });
		assert.equal(r.content[0].text, 'after');
	} finally {
		await c.close();
	}
});

test('an idle pool client does not keep the process alive', async () => {
	// The child connects and calls, and never closes: it must exit by itself.
	const script = `
		import { connect } from 'mcppool';
		const pool = await connect({ socket: ${JSON.stringify(d.socket)} });
		const r = await pool.call('dora', 'fx', 'echo', { message: 'done' });
		console.log(r.content[0].text);
	`;
	const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir,
		stdio: ['ignore', 'pipe', 'inherit'] });
	let out = '';
	child.stdout.on('data', (b) => { out += b; });
	const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
	const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
	clearTimeout(timer);
	assert.equal(code, 0);
	assert.equal(out.trim(), 'done');
});

test('a pending call keeps the process alive until its reply', async () => {
	const script = `
		import { connect } from 'mcppool';
		const pool = await connect({ socket: ${JSON.stringify(d.socket)} });
		pool.call('dora', 'fx', 'sleep', { ms: 300, message: 'woke' })
			.then((r) => console.log(r.structuredContent.message));
	`;
	const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir,
		stdio: ['ignore', 'pipe', 'inherit'] });
	let out = '';
	child.stdout.on('data', (b) => { out += b; });
	const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
	assert.equal(code, 0);
	assert.equal(out.trim(), 'woke');
});
