// The "From Node.js" example of README.md runs, as written, against the demo catalog of `make run`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { fixturePath, packageDir, startDaemon } from './helpers.js';

test('the README example prints what its comments say', async () => {
	const readme = fs.readFileSync(path.join(packageDir, 'README.md'), 'utf8');
	const script = readme.match(/## From Node\.js[\s\S]*?cat > demo\.mjs <<'EOF'\n([\s\S]*?)\nEOF\n/)[1];
	const expected = ['hello', 's3cret', 'AUTH_INVALID', 'true']; // as its comments say
	const d = await startDaemon({ catalog: { mcpServers: {
		demo: { command: fixturePath, args: ['--name', 'demo'] },
		'demo-auth': { command: fixturePath, args: ['--name', 'demo-auth'], env: { DEMO_TOKEN: '${auth.token}' } },
	} } });
	const file = path.join(packageDir, `readme-demo-${process.pid}.mjs`); // here, so 'mcppool' resolves
	try {
		fs.writeFileSync(file, script);
		const out = execFileSync(process.execPath, [file], { env: { ...process.env, MCPPOOL_SOCKET: d.socket },
			timeout: 30000 }).toString();
		assert.deepEqual(out.trim().split('\n'), expected);
	} finally {
		fs.rmSync(file, { force: true });
		await d.cleanup();
	}
});
