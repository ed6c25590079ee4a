// The shipped TypeScript types: test/types/usage.ts compiles under strict tsc, with
// McpPoolTransport assigned to the SDK's Transport and given to both SDK clients.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { packageDir } from './helpers.js';

test('index.d.ts describes the API and McpPoolTransport is an SDK Transport', () => {
	const tsc = path.join(packageDir, 'node_modules/typescript/bin/tsc');
	const r = spawnSync(process.execPath, [tsc, '-p', path.join(packageDir, 'test/types')], { encoding: 'utf8' });
	assert.equal(r.status, 0, r.stdout + r.stderr);
});
