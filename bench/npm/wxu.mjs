// The scenario a pooler exists for: W app worker processes serving the same U users.
//   node wxu.mjs --bin DIR --label L --command CMD [--args JSON] --workers W --users U
//                [--rounds N] [--steady-seconds S]
// Per round, both designs side by side, each from cold:
//   per-worker: every worker keeps its own pool, an MCP SDK Client (StdioClientTransport)
//               per user, so W × U servers;
//   mcppool:    every worker calls through one fresh mcppoold (the Node client), U servers.
// Prints a Markdown table: server processes, PSS of servers + daemon, cold starts, time
// until every worker's first call for every user is answered, steady calls/s.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, descendants, parseArgs, pssKiB, spread } from './stats.mjs';
import { startDaemon } from './daemon.mjs';

const here = fileURLToPath(import.meta.url);
const o = parseArgs(process.argv.slice(2));

if (o.worker) await worker(o);
else await main(o);

// ---- worker process -------------------------------------------------------------------

async function worker(o) {
  const users = Array.from({ length: Number(o.users) }, (_, i) => `user${i}`);
  let call; // (user) => Promise
  let close;
  const send = (m) => new Promise((r) => process.send(m, r));
  if (o.mode === 'pooled') {
    const { connect } = await import('../../client/node/src/index.js');
    let pool;
    call = async (u) => {
      const r = await pool.call(u, 'server', 'echo', { message: 'hi' }, { timeoutMs: 60000 });
      if (!r.content) throw new Error('no content');
    };
    process.once('message', async () => {
      pool = await connect({ socket: o.sock });
      await first();
    });
    close = () => pool.close();
  } else {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const clients = new Map();
    call = async (u) => {
      let c = clients.get(u);
      if (!c) {
        c = new Client({ name: 'bench-worker', version: '1.0.0' });
        clients.set(u, c);
        await c.connect(new StdioClientTransport({ command: o.command, args: JSON.parse(o.args), stderr: 'ignore' }));
      }
      const r = await c.callTool({ name: 'echo', arguments: { message: 'hi' } });
      if (!r.content) throw new Error('no content');
    };
    process.once('message', () => first());
    close = () => Promise.all([...clients.values()].map((c) => c.close()));
  }
  // Each user's first call, all at once, as requests arrive at a worker that just started.
  async function first() {
    await Promise.all(users.map((u) => call(u)));
    await send({ first: true });
    process.once('message', steady);
  }
  // Every user keeps one call in flight; calls answered inside [start, end) are counted.
  async function steady({ warmMs, measureMs }) {
    const start = performance.now() + warmMs;
    const end = start + measureMs;
    let n = 0;
    await Promise.all(users.map(async (u) => {
      for (;;) {
        await call(u);
        const t = performance.now();
        if (t >= end) return;
        if (t >= start) n++;
      }
    }));
    await send({ calls: n });
    // The servers stay until the orchestrator has read their CPU time.
    process.once('message', async () => {
      await close();
      process.exit(0);
    });
  }
  await send({ ready: true });
}

// ---- orchestrator ---------------------------------------------------------------------

function once(child, key) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => { if (m[key] !== undefined) { child.off('message', onMsg); resolve(m); } };
    child.on('message', onMsg);
    child.once('exit', (c) => reject(new Error(`worker exited (${c}) before ${key}`)));
  });
}

async function round(o, mode) {
  const W = Number(o.workers);
  const catalog = JSON.stringify({ mcpServers: { server: { command: o.command, args: JSON.parse(o.args) } } });
  const d = mode === 'pooled' ? await startDaemon({ bin: o.bin, catalog, env: { MAX_TOTAL_CONNECTIONS: '1000' } }) : null;
  const argv = ['--worker', '--mode', mode, '--users', o.users, '--command', o.command, '--args', o.args,
    ...(d ? ['--sock', d.sock] : [])];
  const workers = Array.from({ length: W }, () => fork(here, argv, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  try {
    await Promise.all(workers.map((w) => once(w, 'ready')));
    const t0 = performance.now();
    const firsts = workers.map((w) => once(w, 'first'));
    for (const w of workers) w.send({ go: true });
    await Promise.all(firsts);
    const firstMs = performance.now() - t0;
    // The servers now running, and their memory (and the daemon's).
    const servers = (d ? [d.pid] : workers.map((w) => w.pid)).flatMap((p) => descendants(p));
    const serverPss = servers.reduce((a, p) => a + pssKiB(p), 0);
    const daemonPss = d ? pssKiB(d.pid) : 0;
    const workerPss = workers.reduce((a, w) => a + pssKiB(w.pid), 0);
    const measureMs = Number(o['steady-seconds'] || 2) * 1000;
    const cpu0 = [...servers, ...(d ? [d.pid] : [])].reduce((a, p) => a + cpuSeconds(p), 0);
    const counts = workers.map((w) => once(w, 'calls'));
    for (const w of workers) w.send({ warmMs: 500, measureMs });
    const calls = (await Promise.all(counts)).reduce((a, m) => a + m.calls, 0);
    const cpu1 = [...servers, ...(d ? [d.pid] : [])].reduce((a, p) => a + cpuSeconds(p), 0);
    const exits = workers.map((w) => new Promise((r) => (w.exitCode === null ? w.once('exit', r) : r())));
    for (const w of workers) w.send({ close: true });
    await Promise.all(exits);
    return { servers: servers.length, firstMs, serverPss, daemonPss, workerPss, rate: calls / (measureMs / 1000),
      cpuPerCall: calls ? ((cpu1 - cpu0) * 1e6) / calls : NaN };
  } finally {
    await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => { w.once('exit', r); w.kill('SIGTERM'); }) : null)));
    if (d) await d.stop();
  }
}

// The 1-, 5- and 15-minute load averages: the figures depend on what else the machine runs.
function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

async function main(o) {
  const load0 = loadavg();
  const rounds = Number(o.rounds || 3);
  const r = { perworker: [], pooled: [] };
  for (let i = 0; i < rounds; i++) {
    for (const mode of ['perworker', 'pooled']) {
      r[mode].push(await round(o, mode));
      process.stderr.write(`wxu: ${o.label} ${o.workers}×${o.users} ${mode} round ${i + 1}/${rounds}\n`);
    }
  }
  const col = (mode, f, digits) => spread(r[mode].map(f), digits);
  const ratio = (f, digits = 1) => spread(r.perworker.map((x, i) => f(x) / f(r.pooled[i])), digits);
  const mib = (k) => k / 1024;
  const rows = [
    ['server processes (= cold starts)', (x) => x.servers, 0],
    ['time until every worker\'s first call for every user is answered (ms)', (x) => x.firstMs, 0],
    ['PSS of servers + daemon (MiB)', (x) => mib(x.serverPss + x.daemonPss), 1],
    ['  of which the daemon (MiB)', (x) => mib(x.daemonPss), 1],
    ['PSS of the W workers themselves (MiB)', (x) => mib(x.workerPss), 1],
    ['steady calls/s (every user 1 call in flight per worker, after 0.5 s warm-up)', (x) => x.rate, 0],
    ['server + daemon CPU per steady call (µs)', (x) => x.cpuPerCall, 1],
  ];
  console.log(`| ${o.label}, ${o.workers} workers × ${o.users} users | per-worker pools (SDK Client per user per worker) | one mcppoold (Node client) | per-worker ÷ mcppool |`);
  console.log('|---|---:|---:|---:|');
  for (const [name, f, digits] of rows) {
    const daemonRow = name.includes('of which');
    const pw = daemonRow ? '— (no daemon)' : col('perworker', f, digits);
    console.log(`| ${name} | ${pw} | ${col('pooled', f, digits)} | ${daemonRow ? '—' : ratio(f, 2)} |`);
  }
  console.log(`\nLoad average (1, 5, 15 min) before the rounds: ${load0}; after: ${loadavg()}.`);
}
