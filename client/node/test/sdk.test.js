// The official MCP SDK Client (1.x and 2.x) over McpPoolTransport, against the real daemon.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { connect, McpPoolTransport } from 'mcppool';
import { EVENT, FakeDaemon, REPLY } from './fake.js';
import { fixtureCatalog, fixturePath, packageDir, startDaemon, waitFor } from './helpers.js';

// mcppoold does not send events yet; MCPPOOL_TEST_EVENTS=1 runs these tests once it does.

const everything = path.join(packageDir, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

let d;
let pool; // to look at the daemon from the side

before(async () => {
	d = await startDaemon({ catalog: fixtureCatalog({
		everything: { command: process.execPath, args: [everything, 'stdio'] },
		'fx-modern': { command: fixturePath, args: ['--name', 'fx-modern', '--era', 'modern'] },
	}) });
	pool = await connect({ socket: d.socket });
});

after(async () => {
	await pool?.close();
	await d?.cleanup();
});

async function client1(user, mcp = 'fx', extra = {}) {
	const c = new Client({ name: 'sdk-test', version: '1.0.0' });
	await c.connect(new McpPoolTransport({ socket: d.socket, user, mcp, ...extra }));
	return c;
}

async function cancelNotices(user) {
	return (await pool.call(user, 'fx', 'stats', {})).structuredContent.cancelNotices;
}

describe('SDK 1.x Client', () => {
	test('connect takes the server description from the pool', async () => {
		const c = await client1('alice');
		assert.equal(c.getServerVersion().name, 'fx');
		assert.ok(c.getServerCapabilities().tools);
		await c.close();
	});

	test('listTools and callTool go through the pooled connection', async () => {
		const c = await client1('alice');
		const { tools } = await c.listTools();
		assert.ok(tools.some((t) => t.name === 'echo'));
		const r = await c.callTool({ name: 'echo', arguments: { message: 'via sdk' } });
		assert.deepEqual(r.content, [{ type: 'text', text: 'via sdk' }]);
		const pid = (await c.callTool({ name: 'pid', arguments: {} })).structuredContent.pid;
		assert.equal((await pool.warm('alice', 'fx')).pid, pid, 'the same pooled server');
		await c.close();
	});

	test('two SDK clients of one user share one server process', async () => {
		const a = await client1('bea');
		const b = await client1('bea');
		const pa = (await a.callTool({ name: 'pid', arguments: {} })).structuredContent.pid;
		const pb = (await b.callTool({ name: 'pid', arguments: {} })).structuredContent.pid;
		assert.equal(pa, pb);
		await a.close();
		await b.close();
	});

	test('a JSON-RPC error of the server comes back as itself', async () => {
		const c = await client1('alice');
		const err = await c.callTool({ name: 'error', arguments: { code: -32042, message: 'nope' } }).catch((e) => e);
		assert.ok(err instanceof McpError, String(err));
		assert.equal(err.code, -32042);
		assert.match(err.message, /nope/);
		assert.deepEqual(err.data, { detail: 'fixture' });
		await c.close();
	});

	test('a pool error is a JSON-RPC error whose data names the mcppool code', async () => {
		const err = await client1('alice', 'nope').catch((e) => e);
		assert.ok(err instanceof McpError, String(err));
		assert.equal(err.data.mcppoolCode, 'UNKNOWN_MCP');
		const c = await client1('bob', 'fx-auth', { auth: { token: 't' } });
		const crash = await c.callTool({ name: 'crash', arguments: {} }).catch((e) => e);
		assert.equal(crash.data.mcppoolCode, 'UPSTREAM_CLOSED');
		await c.close();
	});

	test('aborting an SDK request cancels it in the server', async () => {
		const c = await client1('cleo');
		const before = await cancelNotices('cleo');
		const ac = new AbortController();
		const p = c.callTool({ name: 'sleep', arguments: { ms: 10000 } }, undefined, { signal: ac.signal });
		await waitFor(async () => (await pool.poolStatus()).connectionDetails
			.some((x) => x.key === 'cleo:fx' && x.inFlight === 1), 'the call to be in flight');
		ac.abort('changed my mind');
		await assert.rejects(p);
		await waitFor(async () => await cancelNotices('cleo') === before + 1, 'the cancel notice');
		await c.close();
	});

	test('an SDK request timeout cancels it in the server', async () => {
		const c = await client1('dan');
		const before = await cancelNotices('dan');
		const err = await c.callTool({ name: 'sleep', arguments: { ms: 10000 } }, undefined, { timeout: 100 }).catch((e) => e);
		assert.equal(err.code, -32001);
		await waitFor(async () => await cancelNotices('dan') === before + 1, 'the cancel notice');
		await c.close();
	});

	test('progress of the fixture progress tool reaches onprogress', async () => {
		const c = await client1('eve');
		const seen = [];
		const r = await c.callTool({ name: 'progress', arguments: { steps: 3, ms: 10 } }, undefined,
			{ onprogress: (p) => seen.push(p) });
		assert.equal(r.content[0].text, 'done 3');
		assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3]);
		assert.equal(seen[0].total, 3);
		await c.close();
	});

	test('a shared pool is used and left open by the transport', async () => {
		const c = new Client({ name: 'sdk-test', version: '1.0.0' });
		await c.connect(new McpPoolTransport({ pool, user: 'fay', mcp: 'fx' }));
		assert.equal((await c.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content[0].text, '3');
		await c.close();
		assert.equal((await pool.call('fay', 'fx', 'echo', { message: 'open' })).content[0].text, 'open');
	});
});

describe('pool.call progress against the real daemon', () => {
	test('onProgress and onMessage get the fixture progress tool events', async () => {
		const progress = [];
		const messages = [];
		const r = await pool.call('gil', 'fx', 'progress', { steps: 3, ms: 10, log: true },
			{ onProgress: (p) => progress.push(p), onMessage: (m) => messages.push(m) });
		assert.equal(r.content[0].text, 'done 3');
		assert.deepEqual(progress, [1, 2, 3].map((i) => ({ progress: i, total: 3, message: `step ${i}` })));
		assert.deepEqual(messages.map((m) => m.data), ['step 1', 'step 2', 'step 3']);
	});
});

describe('SDK 2.x Client (@modelcontextprotocol/client)', () => {
	test('default (legacy) negotiation: listTools, callTool, an error', async () => {
		const c = new Client2({ name: 'sdk2-test', version: '1.0.0' });
		await c.connect(new McpPoolTransport({ socket: d.socket, user: 'hal', mcp: 'fx' }));
		assert.equal(c.getServerVersion().name, 'fx');
		const { tools } = await c.listTools();
		assert.ok(tools.some((t) => t.name === 'echo'));
		const r = await c.callTool({ name: 'echo', arguments: { message: 'v2' } });
		assert.equal(r.content[0].text, 'v2');
		const err = await c.callTool({ name: 'error', arguments: { code: -32042, message: 'nope' } }).catch((e) => e);
		assert.equal(err.code, -32042);
		await c.close();
	});

	test('auto negotiation settles on 2026-07-28 through the transport, for a legacy server too', async () => {
		const c = new Client2({ name: 'sdk2-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
		const t = new McpPoolTransport({ socket: d.socket, user: 'hal', mcp: 'fx' });
		const methods = [];
		const send = t.send.bind(t);
		t.send = (m, o) => { methods.push(m.method); return send(m, o); };
		await c.connect(t);
		assert.equal(c.getProtocolEra(), 'modern');
		assert.equal(methods[0], 'server/discover');
		assert.ok(!methods.includes('initialize'), methods.join(' '));
		assert.equal(c.getServerVersion().name, 'fx');
		assert.equal((await c.callTool({ name: 'add', arguments: { a: 2, b: 2 } })).content[0].text, '4');
		await c.close();
	});

	// The 2.x client validates modern results: resultType, and ttlMs/cacheScope on lists.
	for (const mcp of ['fx', 'fx-modern']) {
		test(`modern mode (pinned 2026-07-28) with a ${mcp === 'fx' ? 'legacy' : 'modern'} server: list, call, progress, a version refused`, async () => {
			const c = new Client2({ name: 'sdk2-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
			const t = new McpPoolTransport({ socket: d.socket, user: 'hal', mcp });
			await c.connect(t);
			try {
				assert.equal(c.getProtocolEra(), 'modern');
				assert.deepEqual(c.getDiscoverResult().supportedVersions, ['2026-07-28']);
				assert.equal(c.getServerVersion().name, mcp);
				const { tools } = await c.listTools();
				assert.ok(tools.some((x) => x.name === 'echo'));
				const era = (await c.callTool({ name: 'protocol', arguments: {} })).structuredContent.era;
				assert.equal(era, mcp === 'fx' ? 'legacy' : 'modern'); // the daemon speaks each server's own
				const seen = [];
				const r = await c.callTool({ name: 'progress', arguments: { steps: 2, ms: 5 } },
					{ onprogress: (p) => seen.push(p.progress) });
				assert.equal(r.content[0].text, 'done 2');
				assert.equal(seen[0], 1); // the 2.x client may drop the last one, right before the result
				const answers = [];
				t.onmessage = (m) => answers.push(m);
				await t.send({ jsonrpc: '2.0', id: 'old', method: 'tools/list',
					params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } });
				await waitFor(() => answers.length, 'the answer to a request of another version');
				assert.equal(answers[0].error.code, -32022);
				assert.deepEqual(answers[0].error.data.supported, ['2026-07-28']);
			} finally {
				await c.close();
			}
		});

		test(`modern mode with a ${mcp === 'fx' ? 'legacy' : 'modern'} server: the client answers input_required itself`, async () => {
			const c = new Client2({ name: 'sdk2-test', version: '1.0.0' },
				{ versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: { form: {} } } });
			c.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }));
			await c.connect(new McpPoolTransport({ socket: d.socket, user: 'hal', mcp }));
			try {
				const r = await c.callTool({ name: 'need_input', arguments: {} });
				assert.deepEqual(r.structuredContent, { inputResponses: { form: { action: 'decline' } }, rounds: 1 });
			} finally {
				await c.close();
			}
		});
	}
});

describe('interop: server-everything through the pool and the SDK', () => {
	test('initialize, listTools and callTool echo and get-sum', { skip: !fs.existsSync(everything) && 'server-everything not installed' }, async () => {
		const c = await client1('ivy', 'everything');
		assert.match(c.getServerVersion().name, /everything/i);
		const { tools } = await c.listTools();
		const names = tools.map((t) => t.name);
		assert.ok(names.includes('echo') && names.includes('get-sum'), names.join(' '));
		const r = await c.callTool({ name: 'echo', arguments: { message: 'hi' } });
		assert.match(r.content[0].text, /hi/);
		const s = await c.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
		assert.match(s.content[0].text, /42/);
		await c.close();
	});
});

describe('McpPoolTransport against a fake daemon sending events', () => {
	test('progress events become notifications/progress with the SDK token; onprogress sees them', async () => {
		const fake = new FakeDaemon(path.join(d.dir, 'fake.sock'));
		await fake.listen();
		const server = { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } };
		fake.handler = (m, peer) => {
			const [, id, op, p] = m;
			if (op === 'warm')
				return peer.send([REPLY, id, null, { key: 'u:m', state: 'active', pid: 1, reused: true, server }]);
			if (op === 'request' && p.method === 'tools/call') {
				peer.send([EVENT, id, 'progress', { progress: 1, total: 2 }]);
				peer.send([EVENT, id, 'message', { level: 'info', data: 'half way' }]);
				peer.send([EVENT, id, 'progress', { progress: 2, total: 2 }]);
				return peer.send([REPLY, id, null, { content: [{ type: 'text', text: 'done' }] }]);
			}
			return peer.send([REPLY, id, { code: 'BAD_REQUEST', message: `unexpected ${op}` }, null]);
		};
		const c = new Client({ name: 'sdk-test', version: '1.0.0' });
		const logs = [];
		c.fallbackNotificationHandler = async (n) => { logs.push(n); };
		await c.connect(new McpPoolTransport({ socket: fake.socket, user: 'u', mcp: 'm' }));
		const seen = [];
		const r = await c.callTool({ name: 't', arguments: {} }, undefined, { onprogress: (p) => seen.push(p) });
		assert.equal(r.content[0].text, 'done');
		assert.deepEqual(seen, [{ progress: 1, total: 2 }, { progress: 2, total: 2 }]);
		await waitFor(() => logs.length === 1, 'the log notification');
		assert.equal(logs[0].method, 'notifications/message');
		assert.equal(logs[0].params.data, 'half way');
		const call = fake.requests('request')[0][3];
		assert.equal(call.events, true);
		assert.equal(typeof call.params._meta.progressToken, 'number'); // the SDK's own token goes to the daemon
		await c.close();
		await fake.close();
	});
});
