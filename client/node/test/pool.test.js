// The pool client against the real daemon: every method, pipelining, timeouts, cancellation, errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { connect, McpPoolError } from 'mcppool';
import { startDaemon, waitFor } from './helpers.js';

let d;
let pool;

before(async () => {
	d = await startDaemon();
	// a loaded machine may delay the daemon's UPSTREAM_TIMEOUT: the client's backstop waits longer
	pool = await connect({ socket: d.socket, timeoutGraceMs: 10000 });
});

after(async () => {
	await pool?.close();
	await d?.cleanup();
});

async function rejects(promise, code) {
	const err = await promise.then(() => assert.fail(`expected ${code}`), (e) => e);
	assert.ok(err instanceof McpPoolError, `not an McpPoolError: ${err}`);
	assert.equal(err.code, code, err.message);
	return err;
}

function text(result) {
	return result.content[0].text;
}

async function stats(user, mcp = 'fx') {
	return (await pool.call(user, mcp, 'stats', {})).structuredContent;
}

describe('methods', () => {
	test('connect settles on wire version 2 and learns the daemon frame limit', () => {
		assert.equal(pool.hello.version, 2);
		assert.ok(pool.hello.maxFrame > 0);
	});

	test('call resolves to the CallToolResult', async () => {
		const r = await pool.call('alice', 'fx', 'echo', { message: 'hello' });
		assert.deepEqual(r, { content: [{ type: 'text', text: 'hello' }] });
	});

	test('call of a tool that fails resolves with isError true', async () => {
		const r = await pool.call('alice', 'fx', 'fail', {});
		assert.equal(r.isError, true);
		assert.equal(text(r), 'requested failure');
	});

	test('call passes auth to the server through the catalog', async () => {
		const r = await pool.call('bob', 'fx-auth', 'getenv', { name: 'FX_TOKEN' }, { auth: { token: 's3cret' } });
		assert.equal(r.structuredContent.value, 's3cret');
	});

	test('request sends any MCP method with its params', async () => {
		const r = await pool.request('alice', 'fx', 'tools/call', { name: 'add', arguments: { a: 2, b: 3 } });
		assert.equal(text(r), '5');
		assert.deepEqual(await pool.request('alice', 'fx', 'ping'), {});
	});

	test('tools lists the server tools', async () => {
		const r = await pool.tools('alice', 'fx');
		const names = r.tools.map((t) => t.name);
		for (const n of ['echo', 'add', 'sleep', 'stats', 'progress'])
			assert.ok(names.includes(n), n);
	});

	test('warm opens a connection and describes the server', async () => {
		const r = await pool.warm('carol', 'fx');
		assert.equal(r.key, 'carol:fx');
		assert.equal(r.reused, false);
		assert.ok(r.pid > 0);
		assert.equal(r.server.serverInfo.name, 'fx');
		assert.ok(r.server.protocolVersion);
		assert.ok(r.server.capabilities.tools);
		const again = await pool.warm('carol', 'fx');
		assert.equal(again.reused, true);
		assert.equal(again.pid, r.pid);
	});

	test('evict closes a user connections', async () => {
		await pool.warm('dave', 'fx');
		await pool.warm('dave', 'fx-auth', { auth: { token: 't' } });
		assert.deepEqual(await pool.evict('dave', 'fx'), { evicted: 1 });
		assert.deepEqual(await pool.evict('dave'), { evicted: 1 });
		assert.deepEqual(await pool.evict('dave'), { evicted: 0 });
	});

	test('poolStatus has the seed keys', async () => {
		await pool.warm('erin', 'fx');
		const s = await pool.poolStatus();
		assert.deepEqual(Object.keys(s).sort(), ['config', 'connectionDetails', 'totalConnections', 'userConnectionCounts']);
		assert.equal(s.userConnectionCounts.erin, 1);
		const e = s.connectionDetails.find((c) => c.key === 'erin:fx');
		assert.equal(e.userId, 'erin');
		assert.match(e.lastUsed, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		assert.equal(typeof s.config.maxConnectionsPerUser, 'number');
	});

	test('cleanup reports before and after', async () => {
		const r = await pool.cleanup();
		assert.equal(r.message, 'Cleanup completed');
		assert.equal(typeof r.before.totalConnections, 'number');
		assert.equal(typeof r.cleanedConnections, 'number');
	});

	test('servers lists the catalog without secrets', async () => {
		const r = await pool.servers();
		const fxa = r.servers.find((s) => s.name === 'fx-auth');
		assert.equal(fxa.transport, 'stdio');
		assert.deepEqual(fxa.authKeys, ['token']);
	});

	test('metrics is the Prometheus text', async () => {
		const t = await pool.metrics();
		assert.equal(typeof t, 'string');
		assert.match(t, /^# TYPE mcppool_connections gauge$/m);
	});
});

describe('logLevel', () => {
	const args = { steps: 1, ms: 1, log: true, log_level: 'debug' };

	test('call and request send logLevel with their events: the server\'s debug messages arrive', async () => {
		const seen = [];
		await pool.call('lena', 'fx', 'progress', args, { onMessage: (m) => seen.push(m), logLevel: 'debug' });
		await pool.request('lena', 'fx', 'tools/call', { name: 'progress', arguments: args },
			{ onMessage: (m) => seen.push(m), logLevel: 'debug' });
		assert.deepEqual(seen.map((m) => [m.level, m.data]), [['debug', 'step 1'], ['debug', 'step 1']]);
	});

	test('a level the daemon does not know is its BAD_REQUEST, naming the levels', async () => {
		const onMessage = () => {};
		let err = await rejects(pool.call('lena', 'fx', 'echo', { message: 'x' }, { onMessage, logLevel: 'warn' }),
			'BAD_REQUEST');
		assert.match(err.message, /debug, info, notice, warning/);
		err = await rejects(pool.request('lena', 'fx', 'tools/list', {}, { onMessage, logLevel: 'loud' }),
			'BAD_REQUEST');
		assert.match(err.message, /log_level/);
	});

	test('without events logLevel is not sent (the daemon would refuse it alone)', async () => {
		const r = await pool.call('lena', 'fx', 'echo', { message: 'x' }, { logLevel: 'warn' });
		assert.equal(text(r), 'x');
	});
});

describe('pipelining', () => {
	test('50 concurrent calls on one socket each get their own reply', async () => {
		const calls = [];
		for (let i = 0; i < 50; i++) {
			// sleeps of varied length make the daemon answer out of order
			const ms = (i * 7) % 23;
			calls.push(pool.call('frank', 'fx', 'sleep', { ms, message: `call ${i}` }));
		}
		const results = await Promise.all(calls);
		results.forEach((r, i) => {
			assert.equal(r.structuredContent.message, `call ${i}`);
			assert.equal(r.structuredContent.ms, (i * 7) % 23);
		});
	});

	test('calls of many users and servers in flight at once', async () => {
		const calls = [];
		for (let i = 0; i < 20; i++)
			calls.push(pool.call(`user${i % 4}`, 'fx', 'add', { a: i, b: 1000 }));
		const results = await Promise.all(calls);
		results.forEach((r, i) => assert.equal(text(r), String(i + 1000)));
	});
});

describe('timeouts and cancellation', () => {
	test('timeoutMs is the daemon deadline: UPSTREAM_TIMEOUT and the server is told', async () => {
		const before = (await stats('gina')).cancelNotices;
		const t0 = Date.now();
		await rejects(pool.call('gina', 'fx', 'sleep', { ms: 5000 }, { timeoutMs: 100 }), 'UPSTREAM_TIMEOUT');
		assert.ok(Date.now() - t0 < 8000);
		await waitFor(async () => (await stats('gina')).cancelNotices === before + 1, 'the cancel notice');
	});

	test('a daemon that never answers: TIMEOUT after timeoutMs plus the grace', async () => {
		// A daemon stopped with SIGSTOP reads nothing: only the client-side timer can end the call.
		const d2 = await startDaemon();
		const p2 = await connect({ socket: d2.socket, timeoutGraceMs: 50 });
		try {
			await p2.warm('hank', 'fx');
			d2.proc.kill('SIGSTOP');
			const t0 = Date.now();
			const err = await rejects(p2.call('hank', 'fx', 'echo', { message: 'x' }, { timeoutMs: 100 }), 'TIMEOUT');
			assert.ok(Date.now() - t0 >= 150);
			assert.match(err.message, /150 ms/);
			await rejects(p2.poolStatus({ timeoutMs: 50 }), 'TIMEOUT');
		} finally {
			d2.proc.kill('SIGCONT');
			await p2.close();
			await d2.cleanup();
		}
	});

	test('timeoutMs out of range is refused locally with BAD_REQUEST', async () => {
		await rejects(pool.call('alice', 'fx', 'echo', { message: 'x' }, { timeoutMs: 0 }), 'BAD_REQUEST');
		await rejects(pool.call('alice', 'fx', 'echo', { message: 'x' }, { timeoutMs: 1.5 }), 'BAD_REQUEST');
	});

	test('aborting a call cancels it upstream and rejects with CANCELLED', async () => {
		const before = (await stats('ivan')).cancelNotices;
		const ac = new AbortController();
		const reason = new Error('user left');
		const p = pool.call('ivan', 'fx', 'sleep', { ms: 10000 }, { signal: ac.signal });
		await waitFor(async () => (await pool.poolStatus()).connectionDetails
			.some((c) => c.key === 'ivan:fx' && c.inFlight === 1), 'the call to be in flight');
		const t0 = Date.now();
		ac.abort(reason);
		const err = await rejects(p, 'CANCELLED');
		assert.equal(err.cause, reason);
		assert.ok(Date.now() - t0 < 1000);
		await waitFor(async () => (await stats('ivan')).cancelNotices === before + 1, 'the cancel notice');
	});

	test('an already aborted signal sends nothing', async () => {
		const ac = new AbortController();
		ac.abort('no');
		const before = (await stats('judy')).calls;
		const err = await rejects(pool.call('judy', 'fx', 'echo', { message: 'x' }, { signal: ac.signal }), 'CANCELLED');
		assert.equal(err.cause, 'no');
		assert.equal((await stats('judy')).calls, before + 1); // the stats call itself only
	});

	test('the connection keeps serving after cancels and timeouts', async () => {
		const r = await pool.call('alice', 'fx', 'echo', { message: 'still here' });
		assert.equal(text(r), 'still here');
	});
});

describe('typed errors', () => {
	test('UNKNOWN_MCP', async () => {
		const err = await rejects(pool.call('alice', 'nope', 'echo', {}), 'UNKNOWN_MCP');
		assert.match(err.message, /nope/);
	});

	test('AUTH_INVALID names the key', async () => {
		const err = await rejects(pool.call('bob', 'fx-auth', 'echo', { message: 'x' }), 'AUTH_INVALID');
		assert.match(err.message, /token/);
		await rejects(pool.call('bob', 'fx', 'echo', { message: 'x' }, { auth: { extra: 'v' } }), 'AUTH_INVALID');
	});

	test('UPSTREAM_ERROR keeps the server code, message and data', async () => {
		const err = await rejects(pool.call('alice', 'fx', 'error', { code: -32042, message: 'nope' }), 'UPSTREAM_ERROR');
		assert.equal(err.data.code, -32042);
		assert.equal(err.data.message, 'nope');
		assert.deepEqual(err.data.data, { detail: 'fixture' });
	});

	test('UPSTREAM_CLOSED when the server dies with the call in flight', async () => {
		await rejects(pool.call('kim', 'fx', 'crash', {}), 'UPSTREAM_CLOSED');
		assert.equal(text(await pool.call('kim', 'fx', 'echo', { message: 'again' })), 'again');
	});

	test('BAD_REQUEST from the daemon for a bad user id', async () => {
		await rejects(pool.call('a:b', 'fx', 'echo', {}), 'BAD_REQUEST');
	});

	test('errors are McpPoolError instances with code, message and name', async () => {
		const err = await rejects(pool.call('alice', 'nope', 'echo', {}), 'UNKNOWN_MCP');
		assert.ok(err instanceof Error);
		assert.equal(err.name, 'McpPoolError');
		assert.equal(typeof err.message, 'string');
	});
});

describe('frame limits', () => {
	test('a request above the daemon maxFrame is refused locally with BAD_REQUEST', async () => {
		const big = 'x'.repeat(pool.hello.maxFrame);
		const err = await rejects(pool.call('alice', 'fx', 'echo', { message: big }), 'BAD_REQUEST');
		assert.match(err.message, /frame limit/);
		assert.equal(text(await pool.call('alice', 'fx', 'echo', { message: 'small' })), 'small');
	});

	test('a reply above the client limit breaks the connection with PROTOCOL; the next call reconnects', async () => {
		const p2 = await connect({ socket: d.socket, maxFrame: 64 * 1024 });
		try {
			const err = await rejects(p2.call('lena', 'fx', 'big', { bytes: 100000 }), 'PROTOCOL');
			assert.match(err.message, /above the limit/);
			assert.equal(text(await p2.call('lena', 'fx', 'big', { bytes: 10 })), 'x'.repeat(10));
		} finally {
			await p2.close();
		}
	});

	test('a large reply within the limits arrives whole', async () => {
		const r = await pool.call('lena', 'fx', 'big', { bytes: 3 * 1024 * 1024 });
		assert.equal(text(r).length, 3 * 1024 * 1024);
	});
});

describe('close', () => {
	test('close rejects the calls in flight with CANCELLED and later calls with NOT_CONNECTED', async () => {
		const p2 = await connect({ socket: d.socket });
		const p = p2.call('mia', 'fx', 'sleep', { ms: 10000 });
		await waitFor(async () => (await pool.poolStatus()).connectionDetails
			.some((c) => c.key === 'mia:fx' && c.inFlight === 1), 'the call to be in flight');
		await p2.close();
		await rejects(p, 'CANCELLED');
		await rejects(p2.call('mia', 'fx', 'echo', { message: 'x' }), 'NOT_CONNECTED');
		// the daemon cancels what the closed socket had in flight
		await waitFor(async () => (await pool.poolStatus()).connectionDetails
			.some((c) => c.key === 'mia:fx' && c.inFlight === 0), 'the daemon to cancel it');
	});

	test('connect to a socket nobody listens on rejects with NOT_CONNECTED', async () => {
		await rejects(connect({ socket: `${d.dir}/nobody.sock` }), 'NOT_CONNECTED');
	});
});
