// Types of mcppool, the Node.js client of mcppoold (proto/PROTOCOL.md).
import { EventEmitter } from 'node:events';

/** The daemon's stable codes and the client's own three (NOT_CONNECTED, PROTOCOL, TIMEOUT). */
export type McpPoolErrorCode =
	| 'BAD_REQUEST' | 'UNKNOWN_MCP' | 'AUTH_INVALID' | 'POOL_EXHAUSTED' | 'UPSTREAM_START_FAILED'
	| 'UPSTREAM_CLOSED' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_ERROR' | 'FORBIDDEN' | 'SHUTTING_DOWN'
	| 'INTERNAL' | 'UNSUPPORTED_VERSION' | 'CANCELLED' | 'AUTH_REQUIRED' | 'TOO_MANY_CLIENTS' | 'CONFIG_INVALID'
	| 'NOT_CONNECTED' | 'PROTOCOL' | 'TIMEOUT';

export declare const CODES: readonly McpPoolErrorCode[];

export declare class McpPoolError extends Error {
	constructor(code: string, message: string, options?: { data?: unknown; cause?: unknown });
	/** A stable code; a newer daemon may send one this version does not list. */
	readonly code: McpPoolErrorCode | (string & {});
	/** For UPSTREAM_ERROR, the server's JSON-RPC error `{code, message, data?}`; for AUTH_REQUIRED, its challenge (AuthChallenge). */
	readonly data?: unknown;
	static fromWire(error: { code: string; message: string; data?: unknown }): McpPoolError;
}

/**
 * The data of AUTH_REQUIRED: the HTTP server's 401/403 and its WWW-Authenticate challenge
 * (the parameters it gave, and the header as sent). Run the OAuth flow it points to and
 * call again with the token in the auth value the entry's headers use.
 */
export interface AuthChallenge {
	status: number;
	scheme?: string;
	resource_metadata?: string;
	scope?: string;
	error?: string;
	error_description?: string;
	realm?: string;
	wwwAuthenticate?: string;
}

export type JsonObject = { [key: string]: unknown };

export interface ConnectOptions {
	/** The socket path; default $MCPPOOL_SOCKET, else $XDG_RUNTIME_DIR/mcppool.sock, else /tmp/mcppool-UID.sock. */
	socket?: string;
	/** Largest frame accepted from the daemon (bytes); default the maxFrame the daemon announces. */
	maxFrame?: number;
	/**
	 * The daemon's admin token (its MCPPOOL_ADMIN_TOKEN_FILE): sent after the hello on every
	 * socket, reconnections included, so that poolStatus, cleanup, metrics and reload are
	 * allowed to a process that is neither the daemon's uid, root, nor in MCPPOOL_ADMIN_GROUP.
	 * A wrong token makes connect (and the request that reconnects) reject with FORBIDDEN.
	 */
	adminToken?: string;
	/** How long after timeoutMs the client gives up on a daemon that does not answer (ms, default 1000). */
	timeoutGraceMs?: number;
}

export interface OpOptions {
	/** Client-side limit (ms): past it the request is cancelled and rejected with TIMEOUT. */
	timeoutMs?: number;
	/** Aborting sends the daemon a cancel and rejects with CANCELLED (cause: the signal's reason). */
	signal?: AbortSignal;
}

export interface ProgressEvent { progress: number; total?: number; message?: string }
export interface MessageEvent { level: string; logger?: string; data: unknown }

export interface McpOptions extends OpOptions {
	/** The user's auth values, referenced by ${auth.NAME} in the catalog. */
	auth?: Record<string, string>;
	/**
	 * The request's deadline in the daemon (sent as timeout_ms; a progress event restarts it).
	 * Past it the daemon answers UPSTREAM_TIMEOUT; a daemon that does not answer at all
	 * gets TIMEOUT timeoutGraceMs later.
	 */
	timeoutMs?: number;
	/** Asks for events (wire v2): the server's notifications/progress for this request. */
	onProgress?: (progress: ProgressEvent) => void;
	/** Asks for events (wire v2): the server's log notifications while this request is in flight. */
	onMessage?: (message: MessageEvent) => void;
}

/** The eight MCP log levels, least severe first. */
export type LogLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'alert' | 'emergency';

export interface CallOptions extends McpOptions {
	/**
	 * With onMessage or onProgress (events): the least severe log message a 2026-07-28
	 * server is asked to send (sent as log_level; default 'info'). Ignored without
	 * events; another word is the daemon's BAD_REQUEST. Legacy servers log at their own level.
	 */
	logLevel?: LogLevel;
	/** The answers to an input_required result, keyed as in its inputRequests. */
	inputResponses?: InputResponses;
	/** Echoed unchanged from the input_required result (omit it when the result had none). */
	requestState?: string;
}

/** request: the same retry; both are sent inside params. */
export interface RequestOptions extends CallOptions {}

/** One request of a server that needs input: elicitation/create, sampling/createMessage or roots/list. */
export interface InputRequest { method: string; params?: JsonObject }

/** Keyed as the inputRequests they answer: an ElicitResult, CreateMessageResult or ListRootsResult each. */
export type InputResponses = Record<string, JsonObject>;

/**
 * A call or request may complete with this (a success): answer each of inputRequests and
 * retry the same call with inputResponses and requestState.
 */
export interface InputRequiredResult extends JsonObject {
	resultType: 'input_required';
	inputRequests?: Record<string, InputRequest>;
	requestState?: string;
}

export interface ToolsOptions extends McpOptions { cursor?: string }

export interface CallToolResult extends JsonObject {
	content?: unknown[];
	structuredContent?: JsonObject;
	isError?: boolean;
	/** 'input_required' when the server needs answers: retry with inputResponses and requestState. */
	resultType?: string;
}

export interface ServerDescription {
	protocolVersion: string;
	capabilities: JsonObject;
	serverInfo: { name: string; version: string; [key: string]: unknown };
	instructions?: string;
}

export interface WarmResult { key: string; state: string; pid: number; reused: boolean; server?: ServerDescription }

export interface PoolStatus {
	totalConnections: number;
	userConnectionCounts: Record<string, number>;
	connectionDetails: Array<{
		key: string; name: string; userId: string; lastUsed: string; createTime: string;
		idleMinutes: number; state?: string; inFlight?: number; pid?: number; transport?: string;
	}>;
	config: { maxConnectionsPerUser: number; maxTotalConnections: number; connectionTimeout: number; cleanupInterval: number };
}

export interface CleanupResult {
	message: string;
	before: { totalConnections: number; userConnectionCounts: Record<string, number> };
	after: { totalConnections: number; userConnectionCounts: Record<string, number> };
	cleanedConnections: number;
}

/** What a reload changed: catalog names, and settings as "NAME OLD->NEW"; summary is the daemon's log line. */
export interface ReloadResult {
	added: string[];
	removed: string[];
	changed: string[];
	settings: string[];
	summary: string;
}

export interface ServersResult {
	servers: Array<{ name: string; transport: string; command?: string; url?: string; authKeys: string[] }>;
}

export interface HelloResult { version: number; versions?: number[]; server: string; maxFrame: number }

/**
 * A connection to mcppoold: many requests in flight on one socket. After the daemon
 * goes away, the requests in flight fail (NOT_CONNECTED) and the next request
 * reconnects. Emits 'error' (McpPoolError) for errors that belong to no request.
 */
export declare class Pool extends EventEmitter {
	constructor(options?: ConnectOptions);
	readonly socketPath: string;
	/** The last error that belonged to no request (a reply of id 0), or null. */
	readonly lastError: McpPoolError | null;
	readonly hello: HelloResult | undefined;
	call(user: string, mcp: string, tool: string, args?: JsonObject, opts?: CallOptions): Promise<CallToolResult>;
	request(user: string, mcp: string, method: string, params?: JsonObject, opts?: RequestOptions): Promise<any>;
	tools(user: string, mcp: string, opts?: ToolsOptions): Promise<{ tools: JsonObject[]; nextCursor?: string; [key: string]: unknown }>;
	warm(user: string, mcp: string, opts?: McpOptions): Promise<WarmResult>;
	evict(user: string, mcp?: string, opts?: OpOptions): Promise<{ evicted: number }>;
	poolStatus(opts?: OpOptions): Promise<PoolStatus>;
	cleanup(opts?: OpOptions): Promise<CleanupResult>;
	/** Admin op: the daemon reads its .env and catalog again (as on SIGHUP); a refused configuration is BAD_REQUEST and the running one stays. */
	reload(opts?: OpOptions): Promise<ReloadResult>;
	servers(opts?: OpOptions): Promise<ServersResult>;
	/** Prometheus text exposition. */
	metrics(opts?: OpOptions): Promise<string>;
	/** Closes the socket; requests in flight are rejected with CANCELLED. */
	close(): Promise<void>;
	on(event: 'error', listener: (err: McpPoolError) => void): this;
	on(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** Opens a connection (hello and adminToken included); rejects with NOT_CONNECTED when the daemon cannot be reached, TOO_MANY_CLIENTS when it serves MCPPOOL_MAX_CLIENTS already, FORBIDDEN when it refuses the adminToken. */
export declare function connect(options?: ConnectOptions): Promise<Pool>;

/** The socket path libmcppool would use: explicit, $MCPPOOL_SOCKET, $XDG_RUNTIME_DIR/mcppool.sock, /tmp/mcppool-UID.sock. */
export declare function resolveSocketPath(explicit?: string, env?: Record<string, string | undefined>): string;

export interface JsonRpcMessage { jsonrpc: '2.0'; id?: string | number; method?: string; params?: any; result?: any; error?: any }

export interface McpPoolTransportOptions {
	socket?: string;
	/** A shared Pool; the transport does not close it. */
	pool?: Pool;
	user: string;
	mcp: string;
	auth?: Record<string, string>;
	/** Each forwarded request's deadline in the daemon (ms). */
	timeoutMs?: number;
}

/**
 * The MCP SDK's Transport over a pooled connection:
 * `await new Client(info).connect(new McpPoolTransport({user, mcp, auth}))`.
 */
export declare class McpPoolTransport {
	constructor(options: McpPoolTransportOptions);
	start(): Promise<void>;
	send(message: JsonRpcMessage, options?: unknown): Promise<void>;
	close(): Promise<void>;
	setProtocolVersion(version: string): void;
	sessionId?: string;
	onmessage?: (message: any, extra?: any) => void;
	onclose?: () => void;
	onerror?: (error: Error) => void;
}

/** The JSON-RPC error an McpPoolError becomes in McpPoolTransport. */
export declare function jsonRpcError(err: unknown): { code: number; message: string; data?: unknown };
