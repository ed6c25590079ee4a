// Test support: a real mcppoold on its own socket in a temp dir, with a temp catalog.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(here, '..');
export const buildDir = path.resolve(packageDir, process.env.MCPPOOL_BUILD ?? '../../build');
export const daemonPath = path.join(buildDir, 'mcppoold');
export const fixturePath = path.join(buildDir, 'mcp-fixture');

for (const p of [daemonPath, fixturePath]) {
	if (!fs.existsSync(p))
		throw new Error(`${p} is missing: run make in the repository, or set MCPPOOL_BUILD to the build dir`);
}

/* The catalog most tests use: the C fixture, one entry with an auth key. */
export function fixtureCatalog(extra = {}) {
	return {
		mcpServers: {
			fx: { command: fixturePath, args: ['--name', 'fx'] },
			'fx-auth': { command: fixturePath, args: ['--name', 'fx-auth'],
				env: { FX_TOKEN: '${auth.token}' } },
			...extra,
		},
	};
}

/* Polls cond() every few ms until it is truthy, or throws after ms. */
export async function waitFor(cond, what, ms = 10000) {
	const end = Date.now() + ms;
	for (;;) {
		const v = await cond();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 10));
	}
}

function socketAccepts(sock) {
	return new Promise((resolve) => {
		const s = net.createConnection({ path: sock });
		s.once('connect', () => { s.destroy(); resolve(true); });
		s.once('error', () => resolve(false));
	});
}

/*
 * A daemon in a fresh temp dir: socket dir/mcppool.sock (or opts.socket), catalog
 * dir/servers.json, cwd dir (so no stray .env is read); opts.env adds to the daemon's
 * small environment. stop() sends SIGTERM and waits;
 * restart() stops it and starts another on the same socket.
 */
export async function startDaemon(opts = {}) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcppool-node-'));
	const socket = opts.socket ?? path.join(dir, 'mcppool.sock');
	const catalog = path.join(dir, 'servers.json');
	fs.writeFileSync(catalog, JSON.stringify(opts.catalog ?? fixtureCatalog()));
	const d = { dir, socket, catalog, proc: null, stderr: '' };

	d.start = async () => {
		const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env };
		// opts.defaultSocket: no -s, the daemon resolves its default path from env
		const args = opts.defaultSocket ? ['--servers', catalog] : ['-s', socket, '--servers', catalog];
		const proc = spawn(daemonPath, args, { cwd: dir, env,
			stdio: ['ignore', 'ignore', 'pipe'] });
		d.proc = proc;
		proc.stderr.on('data', (b) => { d.stderr += b; });
		const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
		d.exited = exited;
		let gone = null;
		exited.then((x) => { gone = x; });
		await waitFor(async () => {
			if (gone)
				throw new Error(`mcppoold exited (${JSON.stringify(gone)}): ${d.stderr}`);
			return socketAccepts(socket);
		}, 'mcppoold to accept');
	};
	d.stop = async (signal = 'SIGTERM') => {
		if (!d.proc || d.proc.exitCode !== null || d.proc.signalCode !== null)
			return;
		d.proc.kill(signal);
		await d.exited;
	};
	d.restart = async () => {
		await d.stop('SIGKILL');
		fs.rmSync(socket, { force: true });
		await d.start();
	};
	d.cleanup = async () => {
		await d.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	};
	await d.start();
	return d;
}
