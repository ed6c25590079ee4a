// The user's real alternative: the MCP SDK's Client in process, over stdio to the server,
// against the Node client through mcppoold to the same server, in one run.
//   node nodecmp.mjs --bin DIR --command CMD [--args JSON] [--pin] [--rounds N] [--calls N]
// The paths take turns; each round has a server process of its own (a new SDK Client,
// a new pool user). --pin: the run is under taskset -c 0 and so is its daemon.
import { parseArgs, quantile, spread } from './stats.mjs';
import { startDaemon } from './daemon.mjs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { connect } from '../../client/node/src/index.js';

const o = parseArgs(process.argv.slice(2));
const rounds = Number(o.rounds || 5);
const N = Number(o.calls || 2000);
const args = JSON.parse(o.args || '[]');
const msg = { message: 'hello' };

// Per-call latencies (µs) of N calls one at a time, after N/10 unmeasured.
async function latencies(call) {
  for (let i = 0; i < N / 10; i++) await call();
  const lat = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await call();
    lat[i] = (performance.now() - t) * 1000;
  }
  return Array.from(lat).sort((a, b) => a - b);
}

// Calls/s with k calls in flight, over `ms` after 200 ms unmeasured.
async function rate(call, k, ms = 1000) {
  const start = performance.now() + 200;
  const end = start + ms;
  let n = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    for (;;) {
      await call();
      const t = performance.now();
      if (t >= end) return;
      if (t >= start) n++;
    }
  }));
  return n / (ms / 1000);
}

async function measure(call) {
  const lat = await latencies(call);
  return { p10: quantile(lat, 0.1), p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99),
    min: lat[0], r1: await rate(call, 1), r32: await rate(call, 32) };
}

const d = await startDaemon({ bin: o.bin, pin: !!o.pin,
  catalog: JSON.stringify({ mcpServers: { server: { command: o.command, args } } }) });
const pool = await connect({ socket: d.sock });
const r = { sdk: [], pool: [] };
try {
  for (let i = 0; i < rounds; i++) {
    const c = new Client({ name: 'bench', version: '1.0.0' });
    await c.connect(new StdioClientTransport({ command: o.command, args, stderr: 'ignore' }));
    r.sdk.push(await measure(() => c.callTool({ name: 'echo', arguments: msg })));
    await c.close();
    const user = `round${i}`;
    r.pool.push(await measure(() => pool.call(user, 'server', 'echo', msg)));
    process.stderr.write(`nodecmp: round ${i + 1}/${rounds}${o.pin ? ' (pinned)' : ''}\n`);
  }
} finally {
  await pool.close();
  await d.stop();
}

const rows = [
  ['latency p50 (µs)', (x) => x.p50, 1],
  ['latency p10 / p90 (µs): the two ends of the body', null],
  ['latency p99 (µs)', (x) => x.p99, 1],
  ['calls/s, 1 in flight', (x) => x.r1, 0],
  ['calls/s, 32 in flight', (x) => x.r32, 0],
];
console.log(`| ${o.pin ? 'every process on CPU 0' : 'default scheduling'} (${rounds} rounds × ${N} calls) | SDK Client in process, stdio | Node client → mcppoold | mcppool ÷ SDK |`);
console.log('|---|---:|---:|---:|');
for (const [name, f, digits] of rows) {
  if (!f) {
    const pair = (k) => `${spread(r[k].map((x) => x.p10), 1)} / ${spread(r[k].map((x) => x.p90), 1)}`;
    console.log(`| ${name} | ${pair('sdk')} | ${pair('pool')} | |`);
    continue;
  }
  console.log(`| ${name} | ${spread(r.sdk.map(f), digits)} | ${spread(r.pool.map(f), digits)} | ${spread(r.pool.map((x, i) => f(x) / f(r.sdk[i])), 2)} |`);
}
