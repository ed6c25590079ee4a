// input_required results through `mcpctl bridge`: a legacy host that declared elicitation
// and roots is asked them as requests of the bridge's own; a host that did not gets the
// result as it is; a modern (2026-07-28) host gets it as it is and answers it itself.
// The fixture's need_input tool is a 2026-07-28-style multi round-trip tool.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientTransport2 } from '@modelcontextprotocol/client/stdio';
import { startDaemon, bridgeParams, until } from './helpers.mjs';

let daemon;
before(async () => { daemon = await startDaemon(); });
after(async () => { await daemon.stop(); });
const clients = [];
afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });

const ROOTS = [{ uri: 'file:///work', name: 'work' }];

/** A legacy (1.x SDK) host; with answering, it declares elicitation and roots and answers them. */
async function openLegacy(answering, seen = []) {
  const caps = answering ? { elicitation: {}, roots: {} } : {};
  const client = new Client({ name: 'bridge-input-test', version: '1.0.0' }, { capabilities: caps });
  if (answering) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.push(req.params.message);
      return { action: 'accept', content: { name: `ada ${seen.length}`, age: 36 } };
    });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: ROOTS }));
  }
  await client.connect(new StdioClientTransport(bridgeParams(daemon)));
  clients.push(client);
  return client;
}

test('a legacy host that declared elicitation is asked each round, then gets the final result', async () => {
  const seen = [];
  const client = await openLegacy(true, seen);
  const r = await client.callTool({ name: 'need_input', arguments: { rounds: 2, kinds: 'form,roots' } });
  assert.deepEqual(seen, ['Who are you?', 'Who are you?']);
  assert.deepEqual(r.structuredContent, {
    inputResponses: { form: { action: 'accept', content: { name: 'ada 2', age: 36 } }, roots: { roots: ROOTS } },
    rounds: 2,
  });
});

test('a legacy host that declared no elicitation gets the input_required result as it is', async () => {
  const client = await openLegacy(false);
  const r = await client.callTool({ name: 'need_input', arguments: {} });
  assert.equal(r.resultType, 'input_required');
  assert.equal(r.requestState, 'need_input/round=1');
});

test('a legacy host that cannot sample gets the result as it is, and the bridge asks nothing', async () => {
  const seen = [];
  const client = await openLegacy(true, seen);
  const r = await client.callTool({ name: 'need_input', arguments: { kinds: 'form,sampling' } });
  assert.equal(r.resultType, 'input_required');
  assert.deepEqual(seen, []);
});

test('a url elicitation goes only to a host that declared elicitation.url', async () => {
  const seen = [];
  const client = await openLegacy(true, seen);
  const r = await client.callTool({ name: 'need_input', arguments: { kinds: 'url' } });
  assert.equal(r.resultType, 'input_required', 'a bare elicitation capability means forms only');
  assert.deepEqual(seen, []);
  const client2 = new Client({ name: 'bridge-input-test', version: '1.0.0' },
    { capabilities: { elicitation: { form: {}, url: {} } } });
  client2.setRequestHandler(ElicitRequestSchema, async (req) => {
    seen.push(req.params.url);
    return { action: 'accept' };
  });
  await client2.connect(new StdioClientTransport(bridgeParams(daemon)));
  clients.push(client2);
  const r2 = await client2.callTool({ name: 'need_input', arguments: { kinds: 'url' } });
  assert.deepEqual(seen, ['https://example.test/sign-in']);
  assert.deepEqual(r2.structuredContent.inputResponses, { url: { action: 'accept' } });
});

test('a modern host gets input_required as it is and its own retry completes', async () => {
  const client = new Client2({ name: 'bridge-input-test-2', version: '2.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }));
  await client.connect(new StdioClientTransport2(bridgeParams(daemon)));
  clients.push(client);
  assert.equal(client.getProtocolEra(), 'modern');
  const r = await client.callTool({ name: 'need_input', arguments: {} });
  assert.deepEqual(r.structuredContent, { inputResponses: { form: { action: 'decline' } }, rounds: 1 });
});

test('a host that answers an input request with an error gets the call failed with it', async () => {
  const client = new Client({ name: 'bridge-input-test', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => { throw new Error('no user here'); });
  await client.connect(new StdioClientTransport(bridgeParams(daemon)));
  clients.push(client);
  await assert.rejects(client.callTool({ name: 'need_input', arguments: {} }),
    (e) => e.code === -32000 && e.data?.mcppool === 'INPUT_REQUIRED' && /no user here/.test(e.data.detail.message));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
  assert.equal(r.content[0].text, 'still here');
});

test('a host that cancels its request while asked has the bridge\'s request cancelled too', async () => {
  let asked = false;
  let cancelled = false;
  const client = new Client({ name: 'bridge-input-test', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, (req, extra) => new Promise((resolve) => {
    asked = true;
    extra.signal.addEventListener('abort', () => { cancelled = true; resolve({ action: 'cancel' }); });
  }));
  await client.connect(new StdioClientTransport(bridgeParams(daemon)));
  clients.push(client);
  const ac = new AbortController();
  const call = client.callTool({ name: 'need_input', arguments: {} }, undefined, { signal: ac.signal });
  await until(() => asked, 'the elicitation to reach the host');
  ac.abort();
  await assert.rejects(call);
  await until(() => cancelled, 'the bridge to cancel its elicitation');
  const r = await client.callTool({ name: 'echo', arguments: { message: 'after' } });
  assert.equal(r.content[0].text, 'after');
});
