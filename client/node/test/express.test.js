// examples/express: the Express app against a real daemon, over HTTP.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { connect } from 'mcppool';
import { fixturePath, packageDir, startDaemon, waitFor } from './helpers.js';

const exampleDir = path.resolve(packageDir, '../../examples/express');

let d;
let app;
let base;
let out = '';

before(async () => {
	// the demo catalog of `make run` (scripts/run-demo.sh)
	d = await startDaemon({ catalog: { mcpServers: {
		demo: { command: fixturePath, args: ['--name', 'demo'] },
		'demo-auth': { command: fixturePath, args: ['--name', 'demo-auth'], env: { DEMO_TOKEN: '${auth.token}' } },
	} } });
	app = spawn(process.execPath, ['server.mjs'], { cwd: exampleDir,
		env: { PATH: process.env.PATH, MCPPOOL_SOCKET: d.socket, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
	app.stdout.on('data', (b) => { out += b; });
	const exited = new Promise((r) => app.once('exit', r));
	let gone = false;
	exited.then(() => { gone = true; });
	base = await waitFor(() => {
		if (gone)
			throw new Error(`the example exited: ${out}`);
		return out.match(/listening on (http:\S+)/)?.[1];
	}, 'the example to listen');
});

after(async () => {
	if (app && app.exitCode === null) {
		const exited = new Promise((r) => app.once('exit', r));
		app.kill('SIGTERM');
		await exited;
	}
	await d?.cleanup();
});

test('GET /users/:user/echo calls the user echo tool through the pool', async () => {
	const r = await fetch(`${base}/users/alice/echo?message=hello%20pool`);
	assert.equal(r.status, 200);
	assert.deepEqual(await r.json(), { content: [{ type: 'text', text: 'hello pool' }] });
});

test('POST a tool call with the user auth value', async () => {
	const r = await fetch(`${base}/users/bob/mcp/demo-auth/tools/getenv`, { method: 'POST',
		headers: { 'content-type': 'application/json', 'x-mcp-token': 's3cret' },
		body: JSON.stringify({ name: 'DEMO_TOKEN' }) });
	assert.equal(r.status, 200);
	assert.equal((await r.json()).structuredContent.value, 's3cret');
});

test('pool errors become HTTP statuses with the mcppool code', async () => {
	let r = await fetch(`${base}/users/bob/mcp/nope/tools/echo`, { method: 'POST' });
	assert.equal(r.status, 404);
	assert.equal((await r.json()).error.code, 'UNKNOWN_MCP');
	r = await fetch(`${base}/users/bob/mcp/demo-auth/tools/echo`, { method: 'POST' });
	assert.equal(r.status, 400);
	assert.equal((await r.json()).error.code, 'AUTH_INVALID');
});

test('an HTTP client that goes away cancels its call in the MCP server', async () => {
	const ac = new AbortController();
	const p = fetch(`${base}/users/carol/mcp/demo/tools/sleep`, { method: 'POST', signal: ac.signal,
		headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ms: 20000 }) }).catch((e) => e);
	const stats = async () => (await (await fetch(`${base}/users/carol/mcp/demo/tools/stats`, { method: 'POST' })).json())
		.structuredContent;
	const pool = await connect({ socket: d.socket });
	await waitFor(async () => (await pool.poolStatus()).connectionDetails
		.some((c) => c.key === 'carol:demo' && c.inFlight === 1), 'the sleep to be in flight');
	await pool.close();
	ac.abort();
	await p;
	await waitFor(async () => (await stats()).cancelNotices === 1, 'the cancel notice');
});
