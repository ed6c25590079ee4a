// McpPoolTransport: the MCP SDK's Transport over a pooled connection.
import { connect } from './pool.js';

const MODERN_ERA = '2026-07-28'; // the first stateless revision: server/discover, no initialize
const META_VERSION = 'io.modelcontextprotocol/protocolVersion'; // a modern request's _meta key
const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
const UNSUPPORTED_VERSION = -32022;

/* 2026-07-28 methods whose result is a CacheableResult (ttlMs and cacheScope required). */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list',
	'resources/read']);

const INTERNAL_ERROR = -32603;
const REQUEST_TIMEOUT = -32001; // the SDKs' own code for a request that timed out
const POOL_ERROR = -32000;
const MAX_INPUT_ROUNDS = 16; // retries of one request with the client's answers

/* The capability a client declares at initialize to answer each kind of input request. */
const INPUT_CAPABILITY = {
	'elicitation/create': 'elicitation',
	'sampling/createMessage': 'sampling',
	'roots/list': 'roots',
};

/* A JSON-RPC error to answer a request with as it is. */
class ReplyError extends Error {
	constructor(error) {
		super(error.message);
		this.error = error;
	}
}

function isModern(version) {
	return typeof version === 'string' && version >= MODERN_ERA;
}

/* The version a modern request names in its _meta; undefined for a legacy one. */
function requestVersion(message) {
	const v = message.params?._meta?.[META_VERSION];
	return typeof v === 'string' ? v : undefined;
}

/*
 * A result as a modern client must get it, whatever the era of the server behind the
 * daemon: resultType "complete" and, for a cacheable method, "do not cache" (ttlMs 0,
 * private: the server is one user's) where the server said nothing (as mcpctl bridge does).
 */
function modernize(method, result) {
	if (typeof result !== 'object' || result === null || Array.isArray(result))
		return result;
	const r = { ...result };
	r.resultType ??= 'complete';
	if (CACHEABLE.has(method) && r.resultType === 'complete') {
		if (!Number.isInteger(r.ttlMs))
			r.ttlMs = 0;
		if (typeof r.cacheScope !== 'string')
			r.cacheScope = 'private';
	}
	return r;
}

/*
 * A JSON-RPC error for an McpPoolError: UPSTREAM_ERROR is the server's own error as it
 * sent it; any other code becomes an error whose data names the mcppool code.
 */
export function jsonRpcError(err) {
	if (err?.code === 'UPSTREAM_ERROR' && err.data && Number.isInteger(err.data.code)) {
		const e = { code: err.data.code, message: String(err.data.message ?? err.message) };
		if (err.data.data !== undefined)
			e.data = err.data.data;
		return e;
	}
	const code = typeof err?.code === 'string' ? err.code : 'INTERNAL';
	const data = { mcppoolCode: code };
	if (err?.data !== undefined)
		data.detail = err.data;
	const timedOut = code === 'UPSTREAM_TIMEOUT' || code === 'TIMEOUT';
	return { code: timedOut ? REQUEST_TIMEOUT : INTERNAL_ERROR, message: `${code}: ${err?.message ?? err}`, data };
}

/*
 * Implements the Transport interface of @modelcontextprotocol/sdk 1.x (and of the 2.x
 * @modelcontextprotocol/client): start, send, close, onmessage, onclose, onerror,
 * setProtocolVersion. The pooled server is already initialized by the daemon, so
 * `initialize` (legacy clients) and `server/discover` (2026-07-28 clients, whatever the
 * server's era: the daemon bridges it) are answered here from what `warm` reports of
 * the server; notifications/initialized is swallowed; every other request goes through
 * the pool's `request` op, with its progress and log events turned back into
 * notifications (a modern request's result gets resultType, and the cache hints a
 * legacy server cannot give); notifications/cancelled cancels the pooled request.
 *
 * options: socket or pool (a Pool from connect(), shared, not closed here), user, mcp,
 * auth, timeoutMs (each request's deadline in the daemon; default REQUEST_TIMEOUT).
 */
export class McpPoolTransport {
	constructor({ socket, pool, user, mcp, auth, timeoutMs } = {}) {
		if (typeof user !== 'string' || typeof mcp !== 'string')
			throw new TypeError('McpPoolTransport needs user and mcp (strings)');
		this.socket = socket;
		this.pool = pool ?? null;
		this.ownsPool = !pool;
		this.user = user;
		this.mcp = mcp;
		this.auth = auth;
		this.timeoutMs = timeoutMs;
		this.inFlight = new Map(); // JSON-RPC id -> AbortController
		this.started = false;
		this.closed = false;
		this.protocolVersion = undefined;
		this.server = null; // warm's server description, once asked
		this.clientCaps = undefined; // what the client declared at initialize
		this.asks = new Map(); // our request id to the client -> {resolve, reject}
		this.nextAsk = 0;
		this.onmessage = undefined;
		this.onclose = undefined;
		this.onerror = undefined;
	}

	async start() {
		if (this.started)
			throw new Error('McpPoolTransport already started');
		this.started = true;
		if (!this.pool)
			this.pool = await connect({ socket: this.socket });
	}

	setProtocolVersion(version) {
		this.protocolVersion = version;
	}

	async send(message) {
		if (this.closed)
			throw new Error('McpPoolTransport is closed');
		if (!this.started)
			throw new Error('McpPoolTransport not started');
		if (typeof message?.method !== 'string') {
			this.response(message); // to an input request we sent the client
			return;
		}
		if (message.id === undefined || message.id === null)
			this.notification(message);
		else
			this.handle(message);
	}

	notification(message) {
		if (message.method === 'notifications/cancelled')
			this.inFlight.get(message.params?.requestId)?.abort();
		// notifications/initialized and any other: the daemon owns the session
	}

	async describe() {
		if (!this.server) {
			const r = await this.pool.warm(this.user, this.mcp, { auth: this.auth, timeoutMs: this.timeoutMs });
			this.server = r.server ?? {};
		}
		return this.server;
	}

	async handle(message) {
		const { id, method } = message;
		const ac = new AbortController();
		this.inFlight.set(id, ac);
		try {
			let result;
			if (method === 'initialize') {
				this.clientCaps = message.params?.capabilities ?? {};
				result = this.initializeResult(await this.describe(), message.params);
			}
			else if (method === 'server/discover')
				result = this.discoverResult(await this.describe());
			else if (requestVersion(message) !== undefined)
				result = modernize(method, await this.forwardModern(message, ac.signal));
			else
				result = await this.forward(message, ac.signal);
			this.deliver({ jsonrpc: '2.0', id, result });
		} catch (err) {
			if (err instanceof ReplyError)
				this.deliver({ jsonrpc: '2.0', id, error: err.error });
			else if (!ac.signal.aborted && !this.closed)
				this.deliver({ jsonrpc: '2.0', id, error: jsonRpcError(err) });
			// a cancelled request is not answered: the SDK forgot it when it cancelled
		} finally {
			this.inFlight.delete(id);
		}
	}

	initializeResult(server, params) {
		// The older of the host's and the server's versions (a host that knows only older
		// revisions keeps working); the daemon bridges a modern server to what the host asked.
		const asked = params?.protocolVersion;
		const theirs = server.protocolVersion;
		const version = !theirs || (asked && (isModern(theirs) || asked < theirs)) ? asked : theirs;
		const r = { protocolVersion: version, capabilities: server.capabilities ?? {},
			serverInfo: server.serverInfo ?? { name: this.mcp, version: '' } };
		if (server.instructions !== undefined)
			r.instructions = server.instructions;
		return r;
	}

	/*
	 * The 2026-07-28 DiscoverResult, for a server of either era (the daemon speaks each
	 * server's own). Not cacheable: the pooled server may be restarted, or replaced by a
	 * catalog reload.
	 */
	discoverResult(server) {
		const r = { resultType: 'complete', supportedVersions: [MODERN_ERA],
			capabilities: server.capabilities ?? {} };
		if (server.instructions !== undefined)
			r.instructions = server.instructions;
		r._meta = { [META_SERVER_INFO]: server.serverInfo ?? { name: this.mcp, version: '' } };
		r.ttlMs = 0;
		r.cacheScope = 'private';
		return r;
	}

	/*
	 * A modern request: it names the version in its _meta (-32022 for one other than
	 * ours), and input_required results go back to the client as they are (it reads them).
	 */
	forwardModern(message, signal) {
		const v = requestVersion(message);
		if (v !== MODERN_ERA)
			throw new ReplyError({ code: UNSUPPORTED_VERSION, message: 'Unsupported protocol version',
				data: { supported: [MODERN_ERA], requested: v } });
		return this.forwardOnce(message, message.params, signal);
	}

	/*
	 * Forwards the request. A client of the initialize era cannot read an input_required
	 * result, but one that declared what it asks for (elicitation, sampling, roots) is
	 * sent each input request as a request of ours; the request is then retried with the
	 * answers and the requestState, until it completes (the bridge does the same). Other
	 * clients get the result as it is.
	 */
	async forward(message, signal) {
		let params = message.params;
		for (let round = 0; ; round++) {
			const result = await this.forwardOnce(message, params, signal);
			if (!this.canAnswer(result))
				return result;
			if (round === MAX_INPUT_ROUNDS)
				throw new ReplyError({ code: POOL_ERROR,
					message: `the server still asks for input after ${MAX_INPUT_ROUNDS} rounds of answers`,
					data: { mcppoolCode: 'INPUT_REQUIRED' } });
			const inputResponses = await this.askClient(result.inputRequests ?? {}, signal);
			params = { ...message.params, inputResponses };
			if (result.requestState !== undefined)
				params.requestState = result.requestState;
			else
				delete params.requestState;
		}
	}

	canAnswer(result) {
		if (result?.resultType !== 'input_required' || !this.clientCaps || isModern(this.protocolVersion))
			return false;
		const requests = result.inputRequests ?? {};
		if (typeof requests !== 'object')
			return false;
		return Object.values(requests).every((r) => {
			const cap = INPUT_CAPABILITY[r?.method];
			const declared = cap === undefined ? undefined : this.clientCaps[cap];
			if (typeof declared !== 'object' || declared === null)
				return false;
			// a url elicitation needs elicitation.url: a bare elicitation means forms only
			return r.params?.mode !== 'url' || typeof declared.url === 'object';
		});
	}

	/* Sends the client each input request; resolves to the answers, keyed the same. */
	async askClient(requests, signal) {
		const ids = [];
		const answers = Object.entries(requests).map(([key, req]) => {
			const id = `mcppool-${++this.nextAsk}`;
			ids.push(id);
			const answer = new Promise((resolve, reject) => this.asks.set(id, { resolve, reject }));
			const msg = { jsonrpc: '2.0', id, method: req.method };
			if (req.params !== undefined)
				msg.params = req.params;
			this.deliver(msg);
			return answer.then((result) => [key, result]);
		});
		const onAbort = () => {
			for (const id of ids) {
				if (!this.asks.has(id))
					continue;
				this.asks.get(id).reject(signal.reason);
				this.asks.delete(id);
				this.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled',
					params: { requestId: id, reason: 'the client cancelled the request' } });
			}
		};
		signal.addEventListener('abort', onAbort, { once: true });
		try {
			return Object.fromEntries(await Promise.all(answers));
		} finally {
			signal.removeEventListener('abort', onAbort);
			for (const id of ids)
				this.asks.delete(id);
		}
	}

	/* The client's response to one of our input requests. */
	response(message) {
		const ask = this.asks.get(message?.id);
		if (!ask)
			return; // not ours, or its request was cancelled meanwhile
		this.asks.delete(message.id);
		if (message.error !== undefined)
			ask.reject(new ReplyError({ code: POOL_ERROR,
				message: 'the client answered the server\'s input request with an error',
				data: { mcppoolCode: 'INPUT_REQUIRED', detail: message.error } }));
		else
			ask.resolve(message.result ?? {});
	}

	forwardOnce(message, params, signal) {
		const token = message.params?._meta?.progressToken;
		return this.pool.request(this.user, this.mcp, message.method, params, {
			auth: this.auth,
			timeoutMs: this.timeoutMs,
			signal,
			onProgress: (p) => {
				if (token !== undefined)
					this.deliver({ jsonrpc: '2.0', method: 'notifications/progress',
						params: { ...p, progressToken: token } });
			},
			onMessage: (m) => this.deliver({ jsonrpc: '2.0', method: 'notifications/message', params: m }),
		});
	}

	deliver(message) {
		if (this.closed)
			return;
		try {
			this.onmessage?.(message);
		} catch (err) {
			this.onerror?.(err instanceof Error ? err : new Error(String(err)));
		}
	}

	async close() {
		if (this.closed)
			return;
		this.closed = true;
		for (const ac of this.inFlight.values())
			ac.abort();
		this.inFlight.clear();
		if (this.ownsPool && this.pool)
			await this.pool.close();
		this.onclose?.();
	}
}
