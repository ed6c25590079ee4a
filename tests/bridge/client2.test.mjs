// The official TypeScript SDK 2.x Client (@modelcontextprotocol/client) through `mcpctl bridge`:
// legacy mode (initialize) and modern mode (2026-07-28: server/discover, per-request _meta).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { startDaemon, bridgeParams, textOf, stats, until } from './helpers.mjs';

let daemon;
before(async () => { daemon = await startDaemon(); });
after(async () => { await daemon.stop(); });
// A failed assertion must not leave a bridge running (it would keep this process alive).
const clients = [];
afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });

async function open(mode, user = 'alice', mcp = 'demo') {
  const options = mode ? { versionNegotiation: { mode } } : {};
  const client = new Client({ name: 'bridge-test-2', version: '2.0.0' }, options);
  await client.connect(new StdioClientTransport(bridgeParams(daemon, user, mcp)));
  clients.push(client);
  return client;
}

test('legacy mode: initialize, list, call', async () => {
  const client = await open();
  assert.equal(client.getProtocolEra(), 'legacy');
  assert.equal(client.getServerVersion().name, 'pooled-demo');
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'v2 legacy' } })), 'v2 legacy');
  await client.close();
});

test('modern mode (pinned 2026-07-28): server/discover, list, call', async () => {
  const client = await open({ pin: '2026-07-28' });
  assert.equal(client.getProtocolEra(), 'modern');
  assert.deepEqual(client.getDiscoverResult().supportedVersions, ['2026-07-28']);
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'add'));
  assert.equal(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })), '42');
  await client.close();
});

test('auto mode settles on the modern era', async () => {
  const client = await open('auto');
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'auto' } })), 'auto');
  await client.close();
});

test('modern mode: progress reaches onprogress',
  async () => {
    const client = await open({ pin: '2026-07-28' });
    const seen = [];
    const r = await client.callTool({ name: 'progress', arguments: { steps: 2, ms: 20 } },
      { onprogress: (p) => seen.push(p.progress) });
    assert.equal(textOf(r), 'done 2');
    // The 2.x client may handle the last notification after the result that follows it
    // at once, and drop it then: the first one must have arrived, in order.
    assert.equal(seen[0], 1);
    assert.ok(seen.length <= 2 && seen.every((p, i) => p === i + 1), `progress ${seen}`);
  });

test('modern mode: an aborted call is cancelled in the server', async () => {
  const client = await open({ pin: '2026-07-28' }, 'erin');
  const before = await stats(client);
  const ac = new AbortController();
  const call = client.callTool({ name: 'sleep', arguments: { ms: 30000 } }, { signal: ac.signal });
  await until(async () => (await stats(client)).calls >= before.calls + 2, 'the sleep to reach the server');
  ac.abort('user');
  await assert.rejects(call);
  await until(async () => (await stats(client)).cancelNotices > before.cancelNotices,
    'notifications/cancelled to reach the server');
  await client.close();
});

test('modern mode with a 2026-07-28 server behind the pool: list (cache hints), call in its era', async () => {
  const client = await open({ pin: '2026-07-28' }, 'alice', 'demo-modern');
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(client.getServerVersion().name, 'pooled-modern');
  const { tools } = await client.listTools(); // the 2.x client checks ttlMs and cacheScope
  assert.ok(tools.some((t) => t.name === 'echo'));
  const r = await client.callTool({ name: 'protocol', arguments: {} });
  assert.equal(r.structuredContent.era, 'modern');
  assert.equal(r.structuredContent.version, '2026-07-28');
  await client.close();
});
