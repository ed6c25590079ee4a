// The daemon's refusal over MCPPOOL_MAX_CLIENTS reaches the client as TOO_MANY_CLIENTS, every time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, McpPoolError } from 'mcppool';
import { startDaemon, waitFor } from './helpers.js';

test('a client over MCPPOOL_MAX_CLIENTS of the real daemon rejects with TOO_MANY_CLIENTS', async () => {
	const d = await startDaemon({ env: { MCPPOOL_MAX_CLIENTS: '1' } });
	try {
		// the daemon may not yet have seen the close of startDaemon's readiness probe
		const first = await waitFor(() => connect({ socket: d.socket }).catch((e) => {
			assert.equal(e.code, 'TOO_MANY_CLIENTS', e.message);
			return null;
		}), 'the one client to be let in');
		for (let i = 0; i < 50; i++) {
			const err = await connect({ socket: d.socket }).then(() => assert.fail('a second client was let in'), (e) => e);
			assert.ok(err instanceof McpPoolError, String(err));
			assert.equal(err.code, 'TOO_MANY_CLIENTS', err.message);
			assert.match(err.message, /MCPPOOL_MAX_CLIENTS/);
		}
		await first.close();
	} finally {
		await d.cleanup();
	}
});
