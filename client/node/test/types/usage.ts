// Compiled by test/types.test.js (tsc --noEmit): the shipped types describe the API, and
// McpPoolTransport is a Transport for both SDKs.
import { connect, McpPoolError, McpPoolTransport, type AuthChallenge, type CallToolResult, type InputRequiredResult, type Pool } from 'mcppool';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Client as Client2 } from '@modelcontextprotocol/client';

export async function usage(): Promise<void> {
	const pool: Pool = await connect({ socket: '/tmp/x.sock' });
	const ac = new AbortController();
	const r: CallToolResult = await pool.call('alice', 'demo', 'echo', { message: 'x' }, {
		auth: { token: 't' }, timeoutMs: 1000, signal: ac.signal,
		onProgress: (p) => { const n: number = p.progress; void n; },
		onMessage: (m) => { const l: string = m.level; void l; },
		logLevel: 'debug',
	});
	void r.content;
	await pool.request('alice', 'demo', 'tools/list', {}, { onMessage: () => {}, logLevel: 'warning' });
	// @ts-expect-error: not one of the eight MCP log levels
	await pool.call('alice', 'demo', 'echo', {}, { onMessage: () => {}, logLevel: 'warn' });
	const again = await pool.call('alice', 'demo', 'echo', {}, { inputResponses: {}, requestState: 's' });
	void again.resultType;
	if (again.resultType === 'input_required') {
		const ir = again as InputRequiredResult;
		const answers = Object.fromEntries(Object.keys(ir.inputRequests ?? {})
			.map((k) => [k, { action: 'decline' }]));
		await pool.request('alice', 'demo', 'tools/call', { name: 'echo' },
			{ inputResponses: answers, requestState: ir.requestState });
	}
	const w = await pool.warm('alice', 'demo');
	const v: string | undefined = w.server?.protocolVersion;
	void v;
	const e: { evicted: number } = await pool.evict('alice');
	void e;
	const t: string = await pool.metrics();
	void t;
	const s = await pool.poolStatus();
	const total: number = s.totalConnections;
	void total;
	await pool.tools('alice', 'demo', { cursor: 'c' });
	await pool.request('alice', 'demo', 'ping');
	await pool.cleanup();
	await pool.servers();
	const admin = await connect({ socket: '/tmp/x.sock', adminToken: 'secret-token-of-16+' });
	const rl = await admin.reload();
	const added: string[] = rl.added;
	void added, rl.summary;
	pool.on('error', (err) => { const c: string = err.code; void c; });
	try {
		await pool.close();
	} catch (err) {
		if (err instanceof McpPoolError)
			console.log(err.code, err.message, err.data);
		if (err instanceof McpPoolError && err.code === 'AUTH_REQUIRED')
			console.log((err.data as AuthChallenge).resource_metadata);
	}

	const transport: Transport = new McpPoolTransport({ user: 'alice', mcp: 'demo', auth: { token: 't' } });
	await new Client({ name: 'x', version: '1' }).connect(transport);
	await new Client2({ name: 'x', version: '1' }).connect(new McpPoolTransport({ pool, user: 'a', mcp: 'b' }));
}
