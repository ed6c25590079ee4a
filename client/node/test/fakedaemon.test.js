// The client against a fake daemon (test/fake.js): events, id 0 errors, input_required, protocol faults.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';

import { connect, McpPoolError, McpPoolTransport, Pool } from 'mcppool';
import { EVENT, FakeDaemon, NOTIFY, REPLY } from './fake.js';
import { waitFor } from './helpers.js';

let dir;
let fake;

before(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcppool-fake-'));
});

after(() => {
	fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
beforeEach(async () => {
	await fake?.close();
	fake = new FakeDaemon(path.join(dir, `fake${n++}.sock`));
	await fake.listen();
});

after(async () => {
	await fake?.close();
});

const ok = (id, result) => [REPLY, id, null, result];
const text = (t) => ({ content: [{ type: 'text', text: t }] });

test('progress and message events reach the callbacks of their own request', async () => {
	fake.handler = (m, peer) => {
		const [, id, , p] = m;
		const tag = p.arguments.tag;
		peer.send([EVENT, id, 'progress', { progress: 1, total: 2, message: `${tag} 1` }]);
		peer.send([EVENT, id, 'message', { level: 'info', logger: 'fx', data: `${tag} log` }]);
		peer.send([EVENT, id, 'progress', { progress: 2, total: 2 }]);
		peer.send(ok(id, text(tag)));
	};
	const pool = await connect({ socket: fake.socket });
	const seen = { a: [], b: [] };
	const call = (tag) => pool.call('u', 'm', 't', { tag }, {
		onProgress: (p) => seen[tag].push(['progress', p]),
		onMessage: (x) => seen[tag].push(['message', x]),
	});
	const [ra, rb] = await Promise.all([call('a'), call('b')]);
	assert.equal(ra.content[0].text, 'a');
	assert.equal(rb.content[0].text, 'b');
	for (const tag of ['a', 'b']) {
		assert.deepEqual(seen[tag], [
			['progress', { progress: 1, total: 2, message: `${tag} 1` }],
			['message', { level: 'info', logger: 'fx', data: `${tag} log` }],
			['progress', { progress: 2, total: 2 }],
		]);
	}
	for (const r of fake.requests('call'))
		assert.equal(r[3].events, true);
	await pool.close();
});

test('events: true is sent only when a callback asks for events', async () => {
	fake.handler = (m, peer) => peer.send(ok(m[1], text('x')));
	const pool = await connect({ socket: fake.socket });
	await pool.call('u', 'm', 't', {});
	await pool.request('u', 'm', 'x/y', {}, { onMessage() {} });
	await pool.tools('u', 'm', { onProgress() {} });
	assert.equal(fake.requests('call')[0][3].events, undefined);
	assert.equal(fake.requests('request')[0][3].events, true);
	assert.equal(fake.requests('tools')[0][3].events, true);
	assert.equal(fake.requests('hello')[0][3].version, 2);
	await pool.close();
});

test('a version 1 daemon gets no events request', async () => {
	fake.helloVersion = 1;
	fake.handler = (m, peer) => peer.send(ok(m[1], text('x')));
	const pool = await connect({ socket: fake.socket });
	await pool.call('u', 'm', 't', {}, { onProgress() {} });
	assert.equal(fake.requests('call')[0][3].events, undefined);
	await pool.close();
});

test('events for unknown ids and unknown event names are ignored', async () => {
	fake.handler = (m, peer) => {
		peer.send([EVENT, 999, 'progress', { progress: 1 }]);
		peer.send([EVENT, m[1], 'sparkle', { x: 1 }]);
		peer.send([EVENT, m[1], 'progress', { progress: 7 }]);
		peer.send(ok(m[1], text('x')));
		peer.send([EVENT, m[1], 'progress', { progress: 8 }]); // after the reply: not ours any more
	};
	const pool = await connect({ socket: fake.socket });
	const seen = [];
	await pool.call('u', 'm', 't', {}, { onProgress: (p) => seen.push(p.progress) });
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'x');
	assert.deepEqual(seen, [7]);
	await pool.close();
});

test('a progress event restarts the client-side deadline, as the daemon does', async () => {
	fake.handler = (m, peer) => {
		let i = 0;
		const tick = setInterval(() => {
			peer.send([EVENT, m[1], 'progress', { progress: ++i }]);
			if (i === 10) {
				clearInterval(tick);
				peer.send(ok(m[1], text('long')));
			}
		}, 100);
	};
	// 1 s of progress, 100 ms apart, against a deadline of 520 ms
	const pool = await connect({ socket: fake.socket, timeoutGraceMs: 20 });
	const r = await pool.call('u', 'm', 't', {}, { timeoutMs: 500, onProgress() {} });
	assert.equal(r.content[0].text, 'long');
	assert.equal(fake.requests('call')[0][3].timeout_ms, 500);
	await pool.close();
});

test('the client-side timeout rejects with TIMEOUT and sends a cancel', async () => {
	fake.handler = () => {}; // never answers
	const pool = await connect({ socket: fake.socket, timeoutGraceMs: 10 });
	const err = await pool.call('u', 'm', 't', {}, { timeoutMs: 30 }).catch((e) => e);
	assert.equal(err.code, 'TIMEOUT');
	const id = fake.requests('call')[0][1];
	await waitFor(() => fake.notifies('cancel').length === 1, 'the cancel');
	assert.deepEqual(fake.notifies('cancel')[0], [NOTIFY, 'cancel', { id }]);
	await pool.close();
});

test('timeoutMs and an abort also bound the wait for a daemon that never answers hello', async () => {
	fake.answerHello = false;
	const pool = new Pool({ socket: fake.socket, timeoutGraceMs: 10 });
	const err = await pool.call('u', 'm', 't', {}, { timeoutMs: 30 }).catch((e) => e);
	assert.equal(err.code, 'TIMEOUT');
	const ac = new AbortController();
	const p = pool.call('u', 'm', 't', {}).catch((e) => e);
	const q = pool.warm('u', 'm', { signal: ac.signal }).catch((e) => e);
	ac.abort();
	assert.equal((await q).code, 'CANCELLED');
	await pool.close();
	assert.equal((await p).code, 'CANCELLED');
	assert.equal(fake.requests('call').length, 0);
});

test('a refused hello rejects connect with its code; a later request tries a new connection', async () => {
	fake.answerHello = false;
	let refuse = true;
	fake.handler = (m, peer) => {
		if (m[2] === 'hello' && refuse)
			peer.send([REPLY, m[1], { code: 'SHUTTING_DOWN', message: 'stopping' }, null]);
		else if (m[2] === 'hello')
			peer.send(ok(m[1], { version: 2, versions: [1, 2], server: 'fake/1', maxFrame: 1 << 20 }));
		else
			peer.send(ok(m[1], text('served')));
	};
	const pool = new Pool({ socket: fake.socket });
	assert.equal((await pool.call('u', 'm', 't', {}).catch((e) => e)).code, 'SHUTTING_DOWN');
	refuse = false;
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'served');
	assert.equal(fake.requests('hello').length, 2);
	await pool.close();
});

test('a daemon that settles on a version above 2 is refused with UNSUPPORTED_VERSION', async () => {
	fake.helloVersion = 3;
	const err = await connect({ socket: fake.socket }).catch((e) => e);
	assert.equal(err.code, 'UNSUPPORTED_VERSION');
});

test('an abort sends a cancel for that id; the late CANCELLED reply is dropped', async () => {
	fake.handler = (m, peer) => {
		if (m[0] === NOTIFY)
			peer.send([REPLY, m[2].id, { code: 'CANCELLED', message: 'cancelled' }, null]);
	};
	const pool = await connect({ socket: fake.socket });
	const ac = new AbortController();
	const p = pool.call('u', 'm', 't', {}, { signal: ac.signal });
	await waitFor(() => fake.requests('call').length === 1, 'the call');
	ac.abort();
	const err = await p.catch((e) => e);
	assert.equal(err.code, 'CANCELLED');
	assert.ok(err.cause instanceof Error); // AbortController's default reason, an AbortError
	await waitFor(() => fake.notifies('cancel').length === 1, 'the cancel');
	assert.equal(fake.notifies('cancel')[0][2].id, fake.requests('call')[0][1]);
	await pool.close();
});

test('an input_required result is passed through; the retry sends inputResponses and requestState', async () => {
	const pending = {
		resultType: 'input_required',
		inputRequests: { e1: { method: 'elicitation/create', params: { message: 'name?' } } },
		requestState: 'opaque-1',
	};
	fake.handler = (m, peer) => {
		const p = m[3];
		if (p.requestState === 'opaque-1')
			peer.send(ok(m[1], text(`hi ${p.inputResponses.e1.content.name}`)));
		else
			peer.send(ok(m[1], pending));
	};
	const pool = await connect({ socket: fake.socket });
	const first = await pool.call('u', 'm', 'greet', {});
	assert.deepEqual(first, pending);
	const answers = { e1: { action: 'accept', content: { name: 'Ada' } } };
	const second = await pool.call('u', 'm', 'greet', {}, { inputResponses: answers, requestState: first.requestState });
	assert.equal(second.content[0].text, 'hi Ada');
	const retry = fake.requests('call')[1][3];
	assert.deepEqual(retry.inputResponses, answers);
	assert.equal(retry.requestState, 'opaque-1');
	assert.equal(retry.tool, 'greet');
	await pool.close();
});

test('a reply of id 0 is an error event; the requests in flight still get their replies', async () => {
	fake.handler = (m, peer) => {
		peer.send([REPLY, 0, { code: 'BAD_REQUEST', message: 'frame of 99 bytes above the limit' }, null]);
		setTimeout(() => peer.send(ok(m[1], text('fine'))), 20);
	};
	const pool = await connect({ socket: fake.socket });
	const errors = [];
	pool.on('error', (e) => errors.push(e));
	const r = await pool.call('u', 'm', 't', {});
	assert.equal(r.content[0].text, 'fine');
	assert.equal(errors.length, 1);
	assert.ok(errors[0] instanceof McpPoolError);
	assert.equal(errors[0].code, 'BAD_REQUEST');
	assert.equal(pool.lastError, errors[0]);
	await pool.close();
});

test('without an error listener a reply of id 0 is kept in lastError, not thrown', async () => {
	fake.handler = (m, peer) => {
		peer.send([REPLY, 0, { code: 'BAD_REQUEST', message: 'undecodable' }, null]);
		peer.send(ok(m[1], text('fine')));
	};
	const pool = await connect({ socket: fake.socket });
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'fine');
	assert.equal(pool.lastError.code, 'BAD_REQUEST');
	await pool.close();
});

test('a reply for an unknown id is ignored', async () => {
	fake.handler = (m, peer) => {
		peer.send(ok(12345, text('stray')));
		peer.send(ok(m[1], text('mine')));
	};
	const pool = await connect({ socket: fake.socket });
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'mine');
	await pool.close();
});

test('replies in any order go to their own requests', async () => {
	const held = [];
	fake.handler = (m, peer) => {
		held.push(m);
		if (held.length === 3)
			for (const h of held.reverse())
				peer.send(ok(h[1], text(h[3].arguments.n)));
	};
	const pool = await connect({ socket: fake.socket });
	const rs = await Promise.all(['1', '2', '3'].map((n) => pool.call('u', 'm', 't', { n })));
	assert.deepEqual(rs.map((r) => r.content[0].text), ['1', '2', '3']);
	await pool.close();
});

test('an undecodable frame breaks the connection with PROTOCOL; the next call reconnects', async () => {
	let first = true;
	fake.handler = (m, peer) => {
		if (first) {
			first = false;
			peer.raw(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1])); // 0xc1 is never valid msgpack
		} else {
			peer.send(ok(m[1], text('again')));
		}
	};
	const pool = await connect({ socket: fake.socket });
	const err = await pool.call('u', 'm', 't', {}).catch((e) => e);
	assert.equal(err.code, 'PROTOCOL');
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'again');
	assert.equal(fake.requests('hello').length, 2);
	await pool.close();
});

test('a frame above the daemon maxFrame breaks the connection with PROTOCOL', async () => {
	fake.handler = (m, peer) => {
		const b = Buffer.alloc(4);
		b.writeUInt32BE((1 << 20) + 1, 0); // the fake announced maxFrame 1 MiB
		peer.raw(b);
	};
	const pool = await connect({ socket: fake.socket });
	const err = await pool.call('u', 'm', 't', {}).catch((e) => e);
	assert.equal(err.code, 'PROTOCOL');
	assert.match(err.message, /above the limit/);
	await pool.close();
});

test('a request above the announced maxFrame is refused locally and nothing is sent', async () => {
	fake.handler = (m, peer) => peer.send(ok(m[1], text('x')));
	const pool = await connect({ socket: fake.socket });
	const err = await pool.call('u', 'm', 't', { big: 'x'.repeat(1 << 20) }).catch((e) => e);
	assert.equal(err.code, 'BAD_REQUEST');
	assert.equal(fake.requests('call').length, 0);
	assert.equal((await pool.call('u', 'm', 't', {})).content[0].text, 'x');
	await pool.close();
});

test('the daemon closing mid-frame is PROTOCOL, closing between frames NOT_CONNECTED', async () => {
	let k = 0;
	fake.handler = (m, peer) => {
		if (k++ === 0)
			peer.raw(Buffer.from([0, 0, 0, 10, 0x93]));
		peer.end();
	};
	const pool = await connect({ socket: fake.socket });
	assert.equal((await pool.call('u', 'm', 't', {}).catch((e) => e)).code, 'PROTOCOL');
	assert.equal((await pool.call('u', 'm', 't', {}).catch((e) => e)).code, 'NOT_CONNECTED');
	await pool.close();
});

test('an error reply keeps code, message and data', async () => {
	fake.handler = (m, peer) => peer.send([REPLY, m[1], { code: 'AUTH_REQUIRED', message: 'HTTP 401',
		data: { wwwAuthenticate: 'Bearer realm="x"' } }, null]);
	const pool = await connect({ socket: fake.socket });
	const err = await pool.call('u', 'm', 't', {}).catch((e) => e);
	assert.equal(err.code, 'AUTH_REQUIRED');
	assert.equal(err.message, 'HTTP 401');
	assert.deepEqual(err.data, { wwwAuthenticate: 'Bearer realm="x"' });
	await pool.close();
});

test('McpPoolTransport answers initialize with the older of the host and server versions', async () => {
	let server = { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 's', version: '1' } };
	fake.handler = (m, peer) => peer.send(ok(m[1], { key: 'u:m', state: 'active', pid: 1, reused: true, server }));
	const initialize = async (asked) => {
		const t = new McpPoolTransport({ socket: fake.socket, user: 'u', mcp: 'm' });
		const got = new Promise((r) => { t.onmessage = r; });
		await t.start();
		await t.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: asked, capabilities: {},
			clientInfo: { name: 'c', version: '1' } } });
		const reply = await got;
		await t.close();
		return reply.result.protocolVersion;
	};
	assert.equal(await initialize('2025-11-25'), '2025-06-18');
	assert.equal(await initialize('2025-03-26'), '2025-03-26');
	server = { ...server, protocolVersion: '2026-07-28' };
	assert.equal(await initialize('2025-11-25'), '2025-11-25');
});

test('a daemon that refuses the connection (id 0 TOO_MANY_CLIENTS, then close) rejects with that code', async () => {
	fake.answerHello = false;
	const why = 'mcppoold serves at most 1 client connections (MCPPOOL_MAX_CLIENTS)';
	fake.handler = (m, peer) => {
		peer.send([REPLY, 0, { code: 'TOO_MANY_CLIENTS', message: why }, null]);
		peer.end();
	};
	const err = await connect({ socket: fake.socket }).catch((e) => e);
	assert.ok(err instanceof McpPoolError, String(err));
	assert.equal(err.code, 'TOO_MANY_CLIENTS');
	assert.equal(err.message, why);
});
