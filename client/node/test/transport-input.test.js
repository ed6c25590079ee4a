// McpPoolTransport and input_required results: an SDK 1.x Client that declared elicitation
// and roots is asked them as requests and gets the final result; one that did not gets the
// input_required result as it is. The fixture's need_input tool is a multi round-trip tool.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { McpPoolTransport } from 'mcppool';
import { startDaemon, waitFor } from './helpers.js';

const ROOTS = [{ uri: 'file:///work', name: 'work' }];
let d;

before(async () => { d = await startDaemon(); });
after(async () => { await d?.cleanup(); });

async function open(caps, handlers = {}) {
	const c = new Client({ name: 'sdk-input-test', version: '1.0.0' }, { capabilities: caps });
	if (handlers.elicit)
		c.setRequestHandler(ElicitRequestSchema, handlers.elicit);
	if (handlers.roots)
		c.setRequestHandler(ListRootsRequestSchema, handlers.roots);
	await c.connect(new McpPoolTransport({ socket: d.socket, user: 'alice', mcp: 'fx' }));
	return c;
}

test('a client that declared elicitation and roots is asked each round and gets the final result', async () => {
	const seen = [];
	const c = await open({ elicitation: {}, roots: {} }, {
		elicit: async (req) => {
			seen.push(req.params.message);
			return { action: 'accept', content: { name: `ada ${seen.length}` } };
		},
		roots: async () => ({ roots: ROOTS }),
	});
	try {
		const r = await c.callTool({ name: 'need_input', arguments: { rounds: 2, kinds: 'form,roots' } });
		assert.deepEqual(seen, ['Who are you?', 'Who are you?']);
		assert.deepEqual(r.structuredContent, {
			inputResponses: { form: { action: 'accept', content: { name: 'ada 2' } }, roots: { roots: ROOTS } },
			rounds: 2,
		});
	} finally {
		await c.close();
	}
});

test('a client that declared no elicitation gets the input_required result as it is', async () => {
	const c = await open({});
	try {
		const r = await c.callTool({ name: 'need_input', arguments: {} });
		assert.equal(r.resultType, 'input_required');
		assert.equal(r.requestState, 'need_input/round=1');
	} finally {
		await c.close();
	}
});

test('an error answer fails the call; a cancel while asked cancels our request too', async () => {
	let asked = 0;
	let cancelled = false;
	const c = await open({ elicitation: {} }, {
		elicit: (req, extra) => {
			if (++asked === 1)
				throw new Error('no user here');
			return new Promise((resolve) => extra.signal.addEventListener('abort', () => {
				cancelled = true;
				resolve({ action: 'cancel' });
			}));
		},
	});
	try {
		await assert.rejects(c.callTool({ name: 'need_input', arguments: {} }),
			(e) => e.code === -32000 && e.data?.mcppoolCode === 'INPUT_REQUIRED' && /no user here/.test(e.data.detail.message));
		const ac = new AbortController();
		const call = c.callTool({ name: 'need_input', arguments: {} }, undefined, { signal: ac.signal });
		await waitFor(() => asked === 2, 'the second elicitation');
		ac.abort();
		await assert.rejects(call);
		await waitFor(() => cancelled, 'our elicitation to be cancelled');
	} finally {
		await c.close();
	}
});

test('the 2.x client (legacy era through the transport) is asked too', async () => {
	const c = new Client2({ name: 'sdk-input-test-2', version: '2.0.0' }, { capabilities: { elicitation: { form: {} } } });
	c.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }));
	await c.connect(new McpPoolTransport({ socket: d.socket, user: 'alice', mcp: 'fx' }));
	try {
		const r = await c.callTool({ name: 'need_input', arguments: {} });
		assert.deepEqual(r.structuredContent, { inputResponses: { form: { action: 'decline' } }, rounds: 1 });
	} finally {
		await c.close();
	}
});
