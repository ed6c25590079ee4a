// Starts a fresh mcppoold for one round of a Node benchmark and stops it (with its servers).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// bin: the directory with mcppoold and mcpctl; catalog: the servers.json text; pin: taskset -c 0.
export async function startDaemon({ bin, catalog, env = {}, pin = false }) {
  const dir = mkdtempSync(join(tmpdir(), 'mcppool-node-bench.'));
  const sock = join(dir, 'mcppool.sock');
  writeFileSync(join(dir, 'servers.json'), catalog);
  writeFileSync(join(dir, 'empty.env'), '');
  const argv = [join(bin, 'mcppoold'), '-s', sock, '--servers', join(dir, 'servers.json'),
    '--env-file', join(dir, 'empty.env'), '--log-level', 'warn'];
  const cmd = pin ? ['taskset', '-c', '0', ...argv] : argv;
  const child = spawn(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  for (let i = 0; i < 300 && !existsSync(sock) && child.exitCode === null; i++) await sleep(20);
  if (!existsSync(sock)) throw new Error(`mcppoold did not come up (exit status ${child.exitCode})`);
  for (let i = 0; i < 100; i++) {
    try { execFileSync(join(bin, 'mcpctl'), ['-s', sock, 'servers'], { stdio: 'ignore' }); break; }
    catch { await sleep(50); }
  }
  const stop = async () => {
    if (child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} }, 10000);
      await done;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { pid: child.pid, sock, stop };
}
