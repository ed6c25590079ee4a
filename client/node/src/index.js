// mcppool: the Node.js client of mcppoold (proto/PROTOCOL.md), and an MCP SDK transport over it.
export { connect, Pool } from './pool.js';
export { McpPoolError, CODES } from './errors.js';
export { McpPoolTransport, jsonRpcError } from './transport.js';
export { resolveSocketPath } from './sockpath.js';
