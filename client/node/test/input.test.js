// input_required results and their retry, against the real daemon and the fixture's need_input tool.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { connect } from 'mcppool';
import { startDaemon } from './helpers.js';

let d;
let pool;

before(async () => {
	d = await startDaemon();
	pool = await connect({ socket: d.socket });
});

after(async () => {
	await pool?.close();
	await d?.cleanup();
});

/* Accepts every form with its defaults, answers roots/list with no roots. */
function answer(result) {
	const answers = {};
	for (const [key, req] of Object.entries(result.inputRequests ?? {})) {
		if (req.method === 'roots/list') {
			answers[key] = { roots: [] };
			continue;
		}
		const content = {};
		for (const [name, prop] of Object.entries(req.params.requestedSchema.properties))
			if (prop.default !== undefined)
				content[name] = prop.default;
		answers[key] = { action: 'accept', content };
	}
	return answers;
}

test('an input_required result is passed through as the call result', async () => {
	const r = await pool.call('alice', 'fx', 'need_input', {});
	assert.equal(r.resultType, 'input_required');
	assert.equal(r.requestState, 'need_input/round=1');
	assert.equal(r.inputRequests.form.method, 'elicitation/create');
});

test('request retries with inputResponses and requestState in params until complete', async () => {
	const params = { name: 'need_input', arguments: { rounds: 2, kinds: 'form,roots' } };
	let r = await pool.request('alice', 'fx', 'tools/call', params);
	let rounds = 0;
	while (r.resultType === 'input_required') {
		r = await pool.request('alice', 'fx', 'tools/call', params,
			{ inputResponses: answer(r), requestState: r.requestState });
		rounds++;
	}
	assert.equal(rounds, 2);
	assert.equal(r.structuredContent.rounds, 2);
	assert.deepEqual(r.structuredContent.inputResponses, {
		form: { action: 'accept', content: { name: 'octocat', age: 42, subscribe: true, color: 'green' } },
		roots: { roots: [] },
	});
	assert.deepEqual(params, { name: 'need_input', arguments: { rounds: 2, kinds: 'form,roots' } },
		'the caller\'s params are left as they were');
});

test('call retries with inputResponses and requestState', async () => {
	const first = await pool.call('alice', 'fx', 'need_input', {});
	const r = await pool.call('alice', 'fx', 'need_input', {},
		{ inputResponses: { form: { action: 'decline' } }, requestState: first.requestState });
	assert.notEqual(r.resultType, 'input_required', 'the retry\'s answers did not reach the server');
	assert.deepEqual(r.structuredContent.inputResponses, { form: { action: 'decline' } });
});
