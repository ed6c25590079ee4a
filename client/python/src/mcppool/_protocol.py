"""The wire protocol without I/O: socket path, frames, messages and op params.

Shared by the blocking Pool and the asyncio AsyncPool; see proto/PROTOCOL.md.
"""
import math
import os
import struct

import msgpack

from ._errors import BAD_REQUEST, PROTOCOL, McpPoolError

VERSION = "0.1.0"
CLIENT_NAME = f"mcppool-python/{VERSION}"
PROTOCOL_VERSION = 2  # the highest version this client speaks

FRAME_DEFAULT_MAX = 16 * 1024 * 1024  # until the hello's answer says otherwise
FRAME_MIN_MAX = 1024  # a smaller announced maxFrame is not believed
TIMEOUT_MAX_MS = 2147483647
SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux, NUL included

# The client gives up on an answer this long after the deadline it sent the
# daemon: the daemon's own UPSTREAM_TIMEOUT (which cancels upstream) comes
# first unless the daemon itself is stuck.
TIMEOUT_GRACE = 0.5

REQUEST, REPLY, NOTIFY, EVENT = 0, 1, 2, 3
_HEADER = struct.Struct(">I")


def default_socket_path(explicit=None):
    """The daemon's socket, resolved as libmcppool does: ``explicit`` when not
    empty, else $MCPPOOL_SOCKET, else $XDG_RUNTIME_DIR/mcppool.sock, else
    /tmp/mcppool-UID.sock."""
    if explicit:
        return os.fspath(explicit)
    env = os.environ.get("MCPPOOL_SOCKET")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return f"{xdg}/mcppool.sock"
    return f"/tmp/mcppool-{os.getuid()}.sock"


def check_socket_path(path):
    """Why path cannot be a socket address, or None when it can."""
    if len(os.fsencode(path)) >= SUN_PATH_MAX:
        return f"the socket path does not fit in {SUN_PATH_MAX - 1} bytes: {path}"
    return None


def pack_frame(message, max_frame):
    """One frame for message. Raises McpPoolError(BAD_REQUEST) when the message
    cannot be encoded or exceeds max_frame; nothing is sent then."""
    try:
        payload = msgpack.packb(message, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise McpPoolError(BAD_REQUEST, f"cannot encode the request: {e}") from None
    if len(payload) > max_frame:
        raise McpPoolError(BAD_REQUEST, f"the request is {len(payload)} bytes, above the "
                           f"daemon's frame limit of {max_frame}")
    return _HEADER.pack(len(payload)) + payload


class FrameReader:
    """Cuts the daemon's byte stream into decoded messages.

    A frame above max_frame, an empty frame or one that is not exactly one
    msgpack object means the framing is lost: feed() raises McpPoolError(PROTOCOL),
    as libmcppool breaks the connection then (such a frame belongs to no request
    that could be told). The oversized frame is never buffered whole.
    """

    def __init__(self, max_frame=FRAME_DEFAULT_MAX):
        self.max_frame = max_frame
        self._buf = bytearray()

    def mid_frame(self):
        """True while part of a frame is buffered."""
        return len(self._buf) > 0

    def feed(self, data):
        """Adds data; returns the list of whole messages it completed."""
        self._buf += data
        out, pos, buf = [], 0, self._buf
        while len(buf) - pos >= 4:
            (n,) = _HEADER.unpack_from(buf, pos)
            if n == 0:
                raise McpPoolError(PROTOCOL, "the daemon sent an empty frame")
            if n > self.max_frame:
                raise McpPoolError(PROTOCOL, f"the daemon sent a frame of {n} bytes, "
                                   f"above the limit of {self.max_frame}")
            if len(buf) - pos - 4 < n:
                break
            try:
                with memoryview(buf) as view:  # released before buf is resized below
                    out.append(msgpack.unpackb(view[pos + 4:pos + 4 + n], raw=False))
            except Exception as e:  # msgpack raises several types for bad input
                raise McpPoolError(PROTOCOL, f"undecodable frame from the daemon: {e}") from None
            pos += 4 + n
        if pos:
            del buf[:pos]
        return out


def classify(message):
    """(kind, id, a, b) of a decoded message: ("reply", id, error, result),
    ("event", id, name, params), or ("other", None, message, None)."""
    if isinstance(message, list) and len(message) == 4 and isinstance(message[1], int):
        if message[0] == REPLY:
            return "reply", message[1], message[2], message[3]
        if message[0] == EVENT and isinstance(message[2], str):
            return "event", message[1], message[2], message[3]
    return "other", None, message, None


def hello_params():
    return {"version": PROTOCOL_VERSION, "client": CLIENT_NAME}


def admin_params(token):
    """The params of op admin (the daemon's admin token); raises ValueError for a bad token."""
    if not isinstance(token, str) or not token:
        raise ValueError("admin_token must be a non-empty str (the daemon's "
                         "MCPPOOL_ADMIN_TOKEN_FILE)")
    return {"token": token}


def refused_token(error):
    """The McpPoolError for the daemon's answer refusing the admin token."""
    err = McpPoolError.from_wire(error)
    return McpPoolError(err.code, f"the daemon refused the admin token: {err.message}", err.data)


def hello_result(result):
    """(version, max_frame) from the hello's answer; raises McpPoolError(PROTOCOL)."""
    if not isinstance(result, dict):
        raise McpPoolError(PROTOCOL, f"the daemon answered the hello with {result!r}")
    version = result.get("version")
    if not isinstance(version, int) or not 1 <= version <= PROTOCOL_VERSION:
        raise McpPoolError(PROTOCOL, f"the daemon chose protocol version {version!r}")
    mf = result.get("maxFrame")
    max_frame = FRAME_DEFAULT_MAX
    if isinstance(mf, int) and FRAME_MIN_MAX <= mf <= 0xFFFFFFFF:
        max_frame = mf
    return version, max_frame


def resolve_timeout(timeout, timeout_ms, default):
    """The deadline in seconds (or None) from a call's timeout (s), timeout_ms or
    the pool's default."""
    if timeout is not None and timeout_ms is not None:
        raise ValueError("give timeout (seconds) or timeout_ms, not both")
    if timeout_ms is not None:
        timeout = timeout_ms / 1000.0
    if timeout is None:
        timeout = default
    if timeout is not None and not timeout > 0:
        raise ValueError(f"a timeout must be positive, not {timeout!r}")
    return timeout


def wire_timeout_ms(timeout):
    return min(TIMEOUT_MAX_MS, max(1, math.ceil(timeout * 1000)))


class Op:
    """One request to send: op name, params, and how the caller waits for it.

    ``timeout`` is the deadline in seconds (None: the daemon's own); ``wire``
    says whether the op carries it as timeout_ms (then the client waits
    TIMEOUT_GRACE longer); ``events`` whether the caller wants events, asked
    for only on a version 2 connection; ``log_level`` is sent with those events
    only (the daemon refuses it alone).
    """

    __slots__ = ("name", "params", "timeout", "wire", "on_progress", "on_message",
                 "log_level")

    def __init__(self, name, params, timeout=None, wire=False, on_progress=None,
                 on_message=None, log_level=None):
        self.name = name
        self.params = params
        self.timeout = timeout
        self.wire = wire
        self.on_progress = on_progress
        self.on_message = on_message
        self.log_level = log_level

    def wait_seconds(self):
        """How long the client waits for the answer, restarted by each progress event."""
        if self.timeout is None:
            return None
        return self.timeout + TIMEOUT_GRACE if self.wire else self.timeout

    def params_for(self, version):
        if (self.on_progress or self.on_message) and version >= 2:
            if self.log_level is not None:
                return dict(self.params, events=True, log_level=self.log_level)
            return dict(self.params, events=True)
        return self.params

    def handler(self, event):
        """The callback for an event name, or None (unknown names are ignored)."""
        if event == "progress":
            return self.on_progress
        if event == "message":
            return self.on_message
        return None


def _mcp_params(user, mcp, auth, timeout):
    p = {"user": user, "mcp": mcp}
    if auth:
        p["auth"] = dict(auth)
    if timeout is not None:
        p["timeout_ms"] = wire_timeout_ms(timeout)
    return p


def op_call(default_timeout, user, mcp, tool, args=None, *, auth=None, timeout=None,
            timeout_ms=None, on_progress=None, on_message=None, input_responses=None,
            request_state=None, log_level=None):
    t = resolve_timeout(timeout, timeout_ms, default_timeout)
    p = _mcp_params(user, mcp, auth, t)
    p["tool"] = tool
    if args is not None:
        p["arguments"] = args
    if input_responses is not None:
        p["inputResponses"] = input_responses
    if request_state is not None:
        p["requestState"] = request_state
    return Op("call", p, t, True, on_progress, on_message, log_level)


def op_request(default_timeout, user, mcp, method, params=None, *, auth=None, timeout=None,
               timeout_ms=None, on_progress=None, on_message=None, input_responses=None,
               request_state=None, log_level=None):
    t = resolve_timeout(timeout, timeout_ms, default_timeout)
    p = _mcp_params(user, mcp, auth, t)
    p["method"] = method
    # The retry of an input_required result: both go inside params (a copy).
    if input_responses is not None or request_state is not None:
        params = dict(params or {})
        if input_responses is not None:
            params["inputResponses"] = input_responses
        if request_state is not None:
            params["requestState"] = request_state
    if params is not None:
        p["params"] = params
    return Op("request", p, t, True, on_progress, on_message, log_level)


def op_tools(default_timeout, user, mcp, cursor=None, *, auth=None, timeout=None,
             timeout_ms=None):
    t = resolve_timeout(timeout, timeout_ms, default_timeout)
    p = _mcp_params(user, mcp, auth, t)
    if cursor is not None:
        p["cursor"] = cursor
    return Op("tools", p, t, True)


def op_warm(default_timeout, user, mcp, *, auth=None, timeout=None, timeout_ms=None):
    t = resolve_timeout(timeout, timeout_ms, default_timeout)
    return Op("warm", _mcp_params(user, mcp, auth, t), t, True)


def op_evict(default_timeout, user, mcp=None, *, timeout=None, timeout_ms=None):
    p = {"user": user}
    if mcp is not None:
        p["mcp"] = mcp
    return Op("evict", p, resolve_timeout(timeout, timeout_ms, default_timeout))


def op_admin(default_timeout, name, *, timeout=None, timeout_ms=None):
    return Op(name, {}, resolve_timeout(timeout, timeout_ms, default_timeout))


def metrics_text(result):
    if not isinstance(result, dict) or not isinstance(result.get("text"), str):
        raise McpPoolError(PROTOCOL, f"the daemon answered metrics with {result!r}")
    return result["text"]
