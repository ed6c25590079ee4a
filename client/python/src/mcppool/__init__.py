"""mcppool: a Python client of mcppoold, the MCP connection pool daemon.

    import mcppool
    pool = mcppool.Pool()                       # blocking, shareable by threads
    pool.call("alice", "demo", "echo", {"message": "hi"})

    pool = await mcppool.AsyncPool.connect()    # asyncio
    await pool.call("alice", "demo", "echo", {"message": "hi"})

Errors raise McpPoolError with a stable ``.code`` (see proto/PROTOCOL.md).
"""
from ._async import AsyncPool
from ._errors import (AUTH_INVALID, AUTH_REQUIRED, BAD_REQUEST, CANCELLED, FORBIDDEN, INTERNAL,
                      NOT_CONNECTED, POOL_EXHAUSTED, PROTOCOL, SHUTTING_DOWN, TIMEOUT,
                      TOO_MANY_CLIENTS, CONFIG_INVALID,
                      UNKNOWN_MCP, UNSUPPORTED_VERSION, UPSTREAM_CLOSED, UPSTREAM_ERROR,
                      UPSTREAM_START_FAILED, UPSTREAM_TIMEOUT, McpPoolError)
from ._protocol import VERSION as __version__
from ._protocol import default_socket_path
from ._sync import Pool

__all__ = [
    "Pool", "AsyncPool", "McpPoolError", "default_socket_path", "__version__",
    "BAD_REQUEST", "UNKNOWN_MCP", "AUTH_INVALID", "POOL_EXHAUSTED", "UPSTREAM_START_FAILED",
    "UPSTREAM_CLOSED", "UPSTREAM_TIMEOUT", "UPSTREAM_ERROR", "FORBIDDEN", "SHUTTING_DOWN",
    "INTERNAL", "UNSUPPORTED_VERSION", "CANCELLED", "AUTH_REQUIRED", "TOO_MANY_CLIENTS", "CONFIG_INVALID", "NOT_CONNECTED",
    "PROTOCOL", "TIMEOUT",
]
