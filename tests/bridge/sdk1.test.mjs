// The official TypeScript SDK 1.x Client, through StdioClientTransport spawning `mcpctl bridge`.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startDaemon, bridgeParams, textOf, stats, until } from './helpers.mjs';

let daemon;
before(async () => { daemon = await startDaemon(); });
after(async () => { await daemon.stop(); });
// A failed assertion must not leave a bridge running (it would keep this process alive).
const clients = [];
afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });

async function open(user = 'alice') {
  const client = new Client({ name: 'bridge-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport(bridgeParams(daemon, user)));
  clients.push(client);
  return client;
}

test('initialize gives the pooled server\'s identity and capabilities', async () => {
  const client = await open();
  assert.equal(client.getServerVersion().name, 'pooled-demo');
  assert.ok(client.getServerCapabilities().tools);
  await client.close();
});

test('lists tools and calls one', async () => {
  const client = await open();
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'through the bridge' } });
  assert.equal(textOf(r), 'through the bridge');
  await client.close();
});

test('a server error arrives as the server\'s JSON-RPC error', async () => {
  const client = await open();
  await assert.rejects(client.callTool({ name: 'error', arguments: { code: -32099, message: 'nope' } }),
    (e) => e instanceof McpError && e.code === -32099 && /nope/.test(e.message));
  await client.close();
});

test('concurrent calls each get their own result', async () => {
  const client = await open();
  const ms = [120, 80, 40, 0, 60];
  const results = await Promise.all(ms.map((m) => client.callTool({ name: 'sleep', arguments: { ms: m } })));
  assert.deepEqual(results.map(textOf), ms.map((m) => `slept ${m}`));
  await client.close();
});

test('progress reaches onprogress with the host\'s token',
  async () => {
    const client = await open();
    const seen = [];
    const r = await client.callTool({ name: 'progress', arguments: { steps: 3, ms: 20 } }, undefined,
      { onprogress: (p) => seen.push(p) });
    assert.equal(textOf(r), 'done 3');
    // The SDK runs notification handlers a microtask late but answers responses at once:
    // the last progress, sent right before the result, may find its handler gone. The
    // others, 20 ms apart, must all arrive, in order, with the host's token mapped back.
    const expected = [[1, 3], [2, 3], [3, 3]];
    assert.ok(seen.length >= 2, `progress ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.map((p) => [p.progress, p.total]), expected.slice(0, seen.length));
    await client.close();
  });

test('an aborted call is cancelled in the server', async () => {
  const client = await open('carol');
  const before = await stats(client);
  const ac = new AbortController();
  const call = client.callTool({ name: 'sleep', arguments: { ms: 30000 } }, undefined, { signal: ac.signal });
  await until(async () => (await stats(client)).calls >= before.calls + 2, 'the sleep to reach the server');
  ac.abort('user');
  await assert.rejects(call);
  await until(async () => (await stats(client)).cancelNotices > before.cancelNotices,
    'notifications/cancelled to reach the server');
  await client.close();
});

test('a second bridge reuses the same server process', async () => {
  const first = await open('dave');
  const pid = Number(textOf(await first.callTool({ name: 'pid', arguments: {} })));
  assert.ok(pid > 0);
  assert.equal(daemon.pooledPid('dave:demo'), pid);
  await first.close(); // stdin closes: the bridge exits, the server stays warm
  assert.equal(daemon.pooledPid('dave:demo'), pid);

  const second = await open('dave');
  assert.equal(Number(textOf(await second.callTool({ name: 'pid', arguments: {} }))), pid);
  await second.close();
});
