// The pool client: one Unix-socket connection to mcppoold, many requests in flight on it.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import process from 'node:process';
import { Encoder, Decoder } from '@msgpack/msgpack';

import { McpPoolError } from './errors.js';
import { resolveSocketPath } from './sockpath.js';

export const CLIENT_NAME = 'mcppool-node/0.1.0';
const WIRE_VERSION = 2;
const DEFAULT_MAX_FRAME = 16 * 1024 * 1024; // until hello announces the daemon's
const HEADER = 4;
const REQUEST = 0, REPLY = 1, NOTIFY = 2, EVENT = 3;

// A daemon that is alive answers a request by its own deadline; the client's timer
// backs it up for one that is not, a little later so the daemon's answer wins the race.
const DEFAULT_TIMEOUT_GRACE_MS = 1000;

const encoder = new Encoder({ ignoreUndefined: true });

function notConnected(message, cause) {
	return new McpPoolError('NOT_CONNECTED', message, { cause });
}

/*
 * Reassembles frames from socket chunks without copying a payload more than once.
 * push() returns the payloads complete so far; it throws McpPoolError PROTOCOL when the
 * daemon sends an empty frame or one above maxFrame (its request cannot be told, so the
 * connection must break to keep "one reply each").
 */
class FrameReader {
	constructor(maxFrame) {
		this.maxFrame = maxFrame;
		this.chunks = [];
		this.size = 0;
		this.need = -1; // payload length of the frame being read, -1 while reading its header
	}

	midFrame() {
		return this.size > 0 || this.need >= 0;
	}

	take(n) {
		const first = this.chunks[0];
		let out;
		if (first.length >= n) {
			out = first.subarray(0, n);
			if (first.length === n)
				this.chunks.shift();
			else
				this.chunks[0] = first.subarray(n);
		} else {
			out = Buffer.allocUnsafe(n);
			let off = 0;
			while (off < n) {
				const c = this.chunks[0];
				const k = Math.min(c.length, n - off);
				c.copy(out, off, 0, k);
				off += k;
				if (k === c.length)
					this.chunks.shift();
				else
					this.chunks[0] = c.subarray(k);
			}
		}
		this.size -= n;
		return out;
	}

	push(chunk) {
		const frames = [];
		this.chunks.push(chunk);
		this.size += chunk.length;
		for (;;) {
			if (this.need < 0) {
				if (this.size < HEADER)
					return frames;
				const len = this.take(HEADER).readUInt32BE(0);
				if (len === 0)
					throw new McpPoolError('PROTOCOL', 'the daemon sent an empty frame');
				if (len > this.maxFrame)
					throw new McpPoolError('PROTOCOL', `the daemon sent a frame of ${len} ` +
						`bytes, above the limit of ${this.maxFrame}`);
				this.need = len;
			}
			if (this.size < this.need)
				return frames;
			frames.push(this.take(this.need));
			this.need = -1;
		}
	}
}

/*
 * One socket to the daemon and the requests in flight on it. It breaks once (the
 * daemon went away, or broke the protocol): every pending request is rejected with the
 * reason, and the pool opens a new Connection for the next request.
 */
class Connection {
	constructor(pool, socket) {
		this.pool = pool;
		this.socket = socket;
		this.pending = new Map(); // id -> entry
		this.nextId = 1;
		this.version = 1;
		this.maxFrame = DEFAULT_MAX_FRAME;
		this.reader = new FrameReader(pool.maxIncomingFrame ?? DEFAULT_MAX_FRAME);
		this.decoder = new Decoder();
		this.broken = null; // the McpPoolError that broke it
		this.refusal = null; // an id-0 TOO_MANY_CLIENTS: the daemon's reason for the close that follows
		this.corked = false;
		this.hello = null;
		socket.on('data', (chunk) => this.onData(chunk));
		socket.on('error', (err) => this.fail(notConnected(`the connection to the daemon failed: ${err.message}`, err)));
		socket.on('close', () => {
			if (this.reader.midFrame())
				this.fail(new McpPoolError('PROTOCOL', 'the daemon closed the connection in the middle of a frame'));
			else
				this.fail(notConnected('the daemon closed the connection'));
		});
	}

	/* Sends hello (version 2) and settles on the daemon's answer. */
	async handshake() {
		const res = await new Promise((resolve, reject) => {
			this.submit('hello', { version: WIRE_VERSION, client: CLIENT_NAME }, { resolve, reject });
		});
		if (!res || typeof res.version !== 'number' || res.version < 1 || res.version > WIRE_VERSION)
			throw new McpPoolError('UNSUPPORTED_VERSION',
				`the daemon settled on wire protocol version ${res?.version}; this client speaks 1 and 2`);
		this.hello = res;
		this.version = res.version;
		if (Number.isSafeInteger(res.maxFrame) && res.maxFrame > 0) {
			this.maxFrame = res.maxFrame;
			if (this.pool.maxIncomingFrame === undefined)
				this.reader.maxFrame = res.maxFrame;
		}
		return res;
	}

	/*
	 * Sends the admin token (op admin) so that the admin ops are allowed on this socket,
	 * as mcpctl does right after connecting. A refused token rejects with the daemon's
	 * FORBIDDEN, its message saying it was the token.
	 */
	async login(token) {
		try {
			await new Promise((resolve, reject) => {
				this.submit('admin', { token }, { resolve, reject });
			});
		} catch (err) {
			if (err instanceof McpPoolError && err.code === 'FORBIDDEN')
				throw new McpPoolError('FORBIDDEN', `the daemon refused the admin token: ${err.message}`,
					{ data: err.data });
			throw err;
		}
	}

	/*
	 * Queues request `op` for `entry` ({resolve, reject, onEvent?}) and returns its id.
	 * Throws McpPoolError (nothing sent) when the connection is broken or the frame
	 * exceeds the daemon's maxFrame.
	 */
	submit(op, params, entry) {
		if (this.broken)
			throw notConnected(`the connection is broken: ${this.broken.message}`, this.broken);
		const id = this.nextId;
		const frame = this.frame([REQUEST, id, op, params]);
		this.nextId++;
		this.pending.set(id, entry);
		this.socket.ref();
		this.write(frame);
		return id;
	}

	/* A notify frame; dropped silently when the connection is broken (nothing to cancel then). */
	notify(op, params) {
		if (this.broken)
			return;
		try {
			this.write(this.frame([NOTIFY, op, params]));
		} catch {
			// a cancel too large to send cannot happen: its params are one id
		}
	}

	/* Writes a frame; the frames of one tick go out in one system call. */
	write(frame) {
		if (!this.corked) {
			this.corked = true;
			this.socket.cork();
			process.nextTick(() => {
				this.corked = false;
				this.socket.uncork();
			});
		}
		this.socket.write(frame);
	}

	frame(msg) {
		let payload;
		try {
			payload = encoder.encode(msg);
		} catch (err) {
			throw new McpPoolError('BAD_REQUEST', `the request cannot be encoded: ${err.message}`, { cause: err });
		}
		if (payload.length > this.maxFrame)
			throw new McpPoolError('BAD_REQUEST', `the request is ${payload.length} bytes, ` +
				`above the daemon's frame limit of ${this.maxFrame}`);
		const buf = Buffer.allocUnsafe(HEADER + payload.length);
		buf.writeUInt32BE(payload.length, 0);
		buf.set(payload, HEADER);
		return buf;
	}

	/* Forgets request id (answered, timed out or cancelled); lets the process exit when idle. */
	forget(id) {
		const e = this.pending.get(id);
		if (!e)
			return undefined;
		this.pending.delete(id);
		if (this.pending.size === 0 && !this.broken)
			this.socket.unref();
		return e;
	}

	onData(chunk) {
		let frames;
		try {
			frames = this.reader.push(chunk);
		} catch (err) {
			this.fail(err);
			return;
		}
		for (const f of frames) {
			if (this.broken)
				return;
			this.onFrame(f);
		}
	}

	onFrame(payload) {
		let msg;
		try {
			msg = this.decoder.decode(payload);
		} catch (err) {
			this.fail(new McpPoolError('PROTOCOL', `undecodable frame from the daemon: ${err.message}`));
			return;
		}
		if (!Array.isArray(msg) || !Number.isInteger(msg[1])) {
			this.fail(new McpPoolError('PROTOCOL', 'the daemon sent a message that is not a reply or an event'));
			return;
		}
		if (msg[0] === REPLY && msg.length === 4)
			this.onReply(msg[1], msg[2], msg[3]);
		else if (msg[0] === EVENT && msg.length === 4)
			this.onEvent(msg[1], msg[2], msg[3]);
		else
			this.fail(new McpPoolError('PROTOCOL', `the daemon sent a message of type ${msg[0]}`));
	}

	onReply(id, error, result) {
		if (id === 0) {
			const err = error ? McpPoolError.fromWire(error)
				: new McpPoolError('PROTOCOL', 'the daemon sent a reply of id 0 without an error');
			if (err.code === 'TOO_MANY_CLIENTS')
				this.refusal = err;
			this.pool.reportConnectionError(err);
			return;
		}
		const e = this.forget(id);
		if (!e)
			return; // cancelled or timed out here already: the daemon's answer comes after
		if (error)
			e.reject(McpPoolError.fromWire(error));
		else
			e.resolve(result);
	}

	onEvent(id, name, params) {
		const e = this.pending.get(id);
		if (!e || !e.onEvent || typeof name !== 'string')
			return;
		try {
			e.onEvent(name, params);
		} catch (err) {
			// the app's callback threw: an uncaught exception of its own, not the connection's
			process.nextTick(() => { throw err; });
		}
	}

	/*
	 * Breaks the connection once: every request in flight is rejected with err. A daemon
	 * that refused us said why before it closed: that reason, not the close, is the news
	 * (as in libmcppool).
	 */
	fail(err) {
		if (this.broken)
			return;
		if (this.refusal && err.code === 'NOT_CONNECTED')
			err = this.refusal;
		this.broken = err;
		this.pool.dropConnection(this);
		this.socket.destroy();
		const entries = [...this.pending.values()];
		this.pending.clear();
		for (const e of entries)
			e.reject(err);
	}
}

function openSocket(path) {
	return new Promise((resolve, reject) => {
		const s = net.createConnection({ path });
		const onError = (err) => {
			s.destroy();
			reject(notConnected(`cannot connect to ${path}: ${err.message}`, err));
		};
		s.once('error', onError);
		s.once('connect', () => {
			s.off('error', onError);
			resolve(s);
		});
	});
}

function checkTimeout(ms) {
	if (ms === undefined)
		return;
	if (!Number.isInteger(ms) || ms < 1 || ms > 2147483647)
		throw new McpPoolError('BAD_REQUEST', `timeoutMs must be an integer from 1 to 2147483647, not ${ms}`);
}

function cancelledError(signal) {
	return new McpPoolError('CANCELLED', 'the request was cancelled', { cause: signal.reason });
}

/*
 * One request from op() until it settles: its client-side deadline (armed from the
 * start, so it also bounds the wait for a connection), its AbortSignal, its events.
 * Settles exactly once; giving up after submission forgets the id and sends a cancel.
 */
class PendingRequest {
	constructor(resolve, reject, limit, signal, onEvent, logLevel) {
		this.resolve = resolve;
		this.reject = reject;
		this.limit = limit;
		this.signal = signal;
		this.onEvent = onEvent;
		this.logLevel = logLevel; // sent with events only: the daemon refuses it alone
		this.conn = null;
		this.id = 0;
		this.timer = null;
		this.settled = false;
		this.onAbort = () => this.giveUp(cancelledError(signal));
		if (limit)
			this.arm();
		signal?.addEventListener('abort', this.onAbort, { once: true });
	}

	arm() {
		if (this.timer)
			clearTimeout(this.timer);
		this.timer = setTimeout(() => this.giveUp(new McpPoolError('TIMEOUT',
			`no reply from the daemon within ${this.limit} ms`)), this.limit);
	}

	settle(fn, value) {
		if (this.settled)
			return;
		this.settled = true;
		if (this.timer)
			clearTimeout(this.timer);
		this.signal?.removeEventListener('abort', this.onAbort);
		fn(value);
	}

	giveUp(err) {
		if (this.settled)
			return;
		if (this.id && this.conn.forget(this.id))
			this.conn.notify('cancel', { id: this.id });
		this.settle(this.reject, err);
	}

	submit(conn, op, params) {
		if (this.settled)
			return;
		this.conn = conn;
		if (this.onEvent && conn.version >= 2) {
			params.events = true;
			if (this.logLevel !== undefined)
				params.log_level = this.logLevel;
		}
		const entry = {
			resolve: (v) => this.settle(this.resolve, v),
			reject: (e) => this.settle(this.reject, e),
			onEvent: this.onEvent && ((name, p) => {
				// the daemon restarts the deadline on progress; so does the backstop
				if (name === 'progress' && this.limit)
					this.arm();
				this.onEvent(name, p);
			}),
		};
		try {
			this.id = conn.submit(op, params, entry);
		} catch (err) {
			this.settle(this.reject, err);
		}
	}
}

/*
 * A pool client. Requests are promises; many may be in flight on the one socket.
 * The socket is opened at connect() and again, by itself, on the first request after
 * it broke (the daemon restarted): requests in flight when it broke fail with
 * NOT_CONNECTED (or PROTOCOL), as in libmcppool. 'error' events report errors that
 * belong to no request (a reply of id 0); without a listener they are only kept in
 * lastError.
 */
export class Pool extends EventEmitter {
	constructor(options = {}) {
		super();
		this.socketPath = resolveSocketPath(options.socket);
		this.maxIncomingFrame = options.maxFrame;
		this.timeoutGraceMs = options.timeoutGraceMs ?? DEFAULT_TIMEOUT_GRACE_MS;
		if (options.adminToken !== undefined && (typeof options.adminToken !== 'string' || !options.adminToken))
			throw new McpPoolError('BAD_REQUEST', 'adminToken must be a non-empty string (the daemon\'s MCPPOOL_ADMIN_TOKEN_FILE)');
		// not enumerable: a logged or inspected Pool does not show it
		Object.defineProperty(this, 'adminToken', { value: options.adminToken, enumerable: false });
		this.lastError = null;
		this.conn = null;
		this.connecting = null;
		this.closed = false;
	}

	/* The live connection, opening one (hello included) when there is none. */
	connection() {
		if (this.closed)
			return Promise.reject(notConnected('the pool client is closed'));
		// while a socket is being opened, nothing may go on it before its hello and token
		if (this.connecting)
			return this.connecting;
		if (this.conn && !this.conn.broken)
			return Promise.resolve(this.conn);
		this.connecting = this.open().finally(() => {
			this.connecting = null;
		});
		return this.connecting;
	}

	async open() {
		const socket = await openSocket(this.socketPath);
		if (this.closed) {
			socket.destroy();
			throw notConnected('the pool client is closed');
		}
		const conn = new Connection(this, socket);
		this.conn = conn;
		try {
			await conn.handshake();
			// every socket, reconnections included: the daemon grants admin per connection
			if (this.adminToken)
				await conn.login(this.adminToken);
		} catch (err) {
			conn.fail(err); // a refused hello (or token) leaves nothing to reuse
			throw err;
		}
		if (conn.pending.size === 0)
			socket.unref();
		return conn;
	}

	dropConnection(conn) {
		if (this.conn === conn)
			this.conn = null;
	}

	reportConnectionError(err) {
		this.lastError = err;
		if (this.listenerCount('error') > 0)
			this.emit('error', err);
	}

	/* The wire version and limits the daemon announced; undefined before connect. */
	get hello() {
		return this.conn?.hello ?? undefined;
	}

	/*
	 * Runs op with params. opts: timeoutMs (also sent as timeout_ms when sendTimeout),
	 * signal, onEvent(name, params) (asks for events on a v2 connection), logLevel
	 * (sent as log_level with those events).
	 */
	async op(op, params, opts = {}, sendTimeout = false) {
		const { timeoutMs, signal } = opts;
		checkTimeout(timeoutMs);
		if (signal?.aborted)
			throw cancelledError(signal);
		if (sendTimeout && timeoutMs !== undefined)
			params.timeout_ms = timeoutMs;
		const limit = timeoutMs === undefined ? 0 : timeoutMs + (sendTimeout ? this.timeoutGraceMs : 0);
		return new Promise((resolve, reject) => {
			const r = new PendingRequest(resolve, reject, limit, signal, opts.onEvent, opts.logLevel);
			this.connection().then((conn) => r.submit(conn, op, params), (err) => r.settle(reject, err));
		});
	}

	call(user, mcp, tool, args, opts = {}) {
		const params = { user, mcp, tool, arguments: args ?? {}, auth: opts.auth };
		if (opts.inputResponses !== undefined)
			params.inputResponses = opts.inputResponses;
		if (opts.requestState !== undefined)
			params.requestState = opts.requestState;
		return this.op('call', params, withEvents(opts), true);
	}

	/* The retry of an input_required result: inputResponses and requestState go inside params. */
	request(user, mcp, method, params, opts = {}) {
		if (opts.inputResponses !== undefined || opts.requestState !== undefined) {
			params = { ...params };
			if (opts.inputResponses !== undefined)
				params.inputResponses = opts.inputResponses;
			if (opts.requestState !== undefined)
				params.requestState = opts.requestState;
		}
		const p = { user, mcp, method, params, auth: opts.auth };
		return this.op('request', p, withEvents(opts), true);
	}

	tools(user, mcp, opts = {}) {
		const p = { user, mcp, cursor: opts.cursor, auth: opts.auth };
		return this.op('tools', p, withEvents(opts), true);
	}

	warm(user, mcp, opts = {}) {
		return this.op('warm', { user, mcp, auth: opts.auth }, opts, true);
	}

	evict(user, mcp, opts = {}) {
		return this.op('evict', { user, mcp }, opts);
	}

	poolStatus(opts = {}) {
		return this.op('pool_status', {}, opts);
	}

	cleanup(opts = {}) {
		return this.op('cleanup', {}, opts);
	}

	/*
	 * Admin op: the daemon reads its .env and catalog again, as on SIGHUP:
	 * {added, removed, changed, settings, summary}; a refused configuration is BAD_REQUEST.
	 */
	reload(opts = {}) {
		return this.op('reload', {}, opts);
	}

	servers(opts = {}) {
		return this.op('servers', {}, opts);
	}

	async metrics(opts = {}) {
		const r = await this.op('metrics', {}, opts);
		return r.text;
	}

	/*
	 * Closes the socket; requests in flight are rejected with CANCELLED (the daemon
	 * cancels them upstream when it sees the socket close), as mcppool_close() does.
	 */
	async close() {
		if (this.closed)
			return;
		this.closed = true;
		const conn = this.conn;
		if (conn)
			conn.fail(new McpPoolError('CANCELLED', 'the pool client was closed'));
	}
}

/* opts with onEvent routing progress and message events to onProgress / onMessage. */
function withEvents(opts) {
	const { onProgress, onMessage } = opts;
	if (!onProgress && !onMessage)
		return opts;
	return {
		...opts,
		onEvent(name, params) {
			if (name === 'progress' && onProgress)
				onProgress(params);
			else if (name === 'message' && onMessage)
				onMessage(params);
		},
	};
}

/* Opens a connection to the daemon (hello and admin token included) and returns the Pool. */
export async function connect(options = {}) {
	const pool = new Pool(options);
	await pool.connection();
	return pool;
}
