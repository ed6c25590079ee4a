// A real mcppoold on a temporary socket for the bridge tests, and `mcpctl bridge` as a
// stdio MCP server for the SDK clients. Run from the repository root or from here.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const buildDir = process.env.MCPPOOL_BUILD ?? 'build';
export const build = isAbsolute(buildDir) ? buildDir : join(root, buildDir);
export const mcpctl = join(build, 'mcpctl');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function accepts(path) {
  return new Promise((res) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

/** Polls fn() until it returns a truthy value (10 s at most). */
export async function until(fn, what) {
  for (let i = 0; i < 1000; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts mcppoold with the fixture as "demo" (serverInfo name "pooled-demo") and as
 * "demo-modern" (--era modern, "pooled-modern"), waits until
 * its socket accepts. Returns {sock, ctl(args), stop()}.
 */
export async function startDaemon() {
  const dir = mkdtempSync(join(tmpdir(), 'mcppool-it-bridge-'));
  const sock = join(dir, 'sock');
  const servers = join(dir, 'servers.json');
  writeFileSync(servers, JSON.stringify({ mcpServers: {
    demo: { command: join(build, 'mcp-fixture'), args: ['--name', 'pooled-demo'] },
    'demo-modern': { command: join(build, 'mcp-fixture'), args: ['--name', 'pooled-modern', '--era', 'modern'] },
  } }));
  const log = join(dir, 'mcppoold.log');
  const logFd = openSync(log, 'w');
  const daemon = spawn(join(build, 'mcppoold'), ['-s', sock, '--servers', servers, '--env-file', '/dev/null'],
    { stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd);
  const exited = new Promise((res) => daemon.once('exit', res));
  await until(() => accepts(sock), 'mcppoold to accept');
  return {
    sock,
    /** mcpctl -s SOCK args..., its stdout parsed as JSON. */
    ctl(args) {
      return JSON.parse(execFileSync(mcpctl, ['-s', sock, ...args], { encoding: 'utf8' }));
    },
    /** The pid of key's pooled server in pool-status (0 when not pooled). */
    pooledPid(key) {
      const d = this.ctl(['pool-status']).data.connectionDetails.find((e) => e.key === key);
      return d ? d.pid : 0;
    },
    /** The daemon's log so far (shown when a test fails). */
    log: () => readFileSync(log, 'utf8'),
    async stop() {
      daemon.kill('SIGTERM');
      const status = await exited;
      rmSync(dir, { recursive: true, force: true });
      if (status !== 0) throw new Error(`mcppoold exited with status ${status}`);
    },
  };
}

/** What StdioClientTransport needs to spawn `mcpctl bridge USER MCP` (both SDKs take it). */
export function bridgeParams(daemon, user = 'alice', mcp = 'demo') {
  return { command: mcpctl, args: ['-s', daemon.sock, 'bridge', user, mcp], stderr: 'inherit' };
}

/** The first text content of a CallToolResult. */
export const textOf = (result) => result.content?.[0]?.text;

/** The fixture's counters (stats tool) through client. */
export async function stats(client) {
  return (await client.callTool({ name: 'stats', arguments: {} })).structuredContent;
}
