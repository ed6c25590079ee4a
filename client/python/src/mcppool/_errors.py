"""The error type of mcppool and its stable codes."""

# The wire protocol's codes (proto/PROTOCOL.md, "Errors"): never renamed.
BAD_REQUEST = "BAD_REQUEST"
UNKNOWN_MCP = "UNKNOWN_MCP"
AUTH_INVALID = "AUTH_INVALID"
POOL_EXHAUSTED = "POOL_EXHAUSTED"
UPSTREAM_START_FAILED = "UPSTREAM_START_FAILED"
UPSTREAM_CLOSED = "UPSTREAM_CLOSED"
UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
UPSTREAM_ERROR = "UPSTREAM_ERROR"
FORBIDDEN = "FORBIDDEN"
SHUTTING_DOWN = "SHUTTING_DOWN"
INTERNAL = "INTERNAL"
UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
CANCELLED = "CANCELLED"
AUTH_REQUIRED = "AUTH_REQUIRED"  # data: the HTTP server's WWW-Authenticate challenge
TOO_MANY_CLIENTS = "TOO_MANY_CLIENTS"  # the daemon serves MCPPOOL_MAX_CLIENTS connections
CONFIG_INVALID = "CONFIG_INVALID"  # reload() refused: the new .env or catalog is invalid; the old one is kept
# The client's own codes, as in libmcppool(3); they never cross the wire.
NOT_CONNECTED = "NOT_CONNECTED"
PROTOCOL = "PROTOCOL"
TIMEOUT = "TIMEOUT"


class McpPoolError(Exception):
    """A request failed: ``code`` is a stable string, ``message`` is for people,
    ``data`` is the error's data (for UPSTREAM_ERROR the MCP server's JSON-RPC
    error ``{code, message, data?}``; for AUTH_REQUIRED the server's challenge
    ``{status, scheme?, resource_metadata?, scope?, error?, error_description?,
    realm?, wwwAuthenticate?}``), or None.

    A code sent by a newer daemon that this client does not know is kept as sent.
    """

    def __init__(self, code, message, data=None):
        super().__init__(code, message, data)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self):
        return f"{self.code}: {self.message}"

    @classmethod
    def from_wire(cls, error):
        """The exception for a reply's error map; a malformed one reads as PROTOCOL."""
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return cls(PROTOCOL, f"the daemon sent a malformed error: {error!r}")
        message = error.get("message")
        return cls(error["code"], message if isinstance(message, str) else "", error.get("data"))
