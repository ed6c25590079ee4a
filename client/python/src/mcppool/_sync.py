"""Pool: the blocking client, safe to share between threads.

One socket carries every thread's requests: a reader thread hands each reply
(and each event) to the queue of the thread waiting for it, so callbacks run
in the calling thread.
"""
import logging
import os
import queue
import socket as _socket
import threading
import time

from . import _protocol as P
from ._errors import (CANCELLED, INTERNAL, NOT_CONNECTED, PROTOCOL, TIMEOUT,
                      TOO_MANY_CLIENTS, McpPoolError)

log = logging.getLogger("mcppool")


class _Sink:
    """Where one request's events and its end arrive, in order."""

    __slots__ = ("q",)

    def __init__(self):
        self.q = queue.SimpleQueue()

    def reply(self, error, result):
        self.q.put(("reply", error, result))

    def event(self, name, params):
        self.q.put(("event", name, params))

    def fail(self, exc):
        self.q.put(("fail", exc, None))


class _SendFailed(Exception):
    """The frame did not reach the daemon whole, so the daemon never saw it."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


class _Connection:
    """One socket to the daemon, its reader thread and its requests in flight.

    Once broken (``broken`` is the McpPoolError saying why) it stays broken:
    every request in flight has been failed with that error and the Pool
    opens a new connection for the next one.
    """

    def __init__(self, sock, note):
        self.sock = sock
        self.note = note  # called with connection-level errors (reply id 0)
        self.pid = os.getpid()
        self.lock = threading.Lock()  # pending, next_id, broken
        self.wlock = threading.Lock()  # one frame at a time on the socket; its close
        self.pending = {}
        self.next_id = 1
        self.broken = None
        self.refusal = None  # an id-0 TOO_MANY_CLIENTS: the reason for the close that follows
        self.version = 1
        self.max_frame = P.FRAME_DEFAULT_MAX
        self.frames = P.FrameReader()
        self.reader = threading.Thread(target=self._read_loop, name="mcppool-reader",
                                       daemon=True)
        self.reader.start()

    @classmethod
    def open(cls, path, connect_timeout, note, admin_token=None):
        """Connects, completes the hello and sends admin_token (when given).
        Raises McpPoolError."""
        why = P.check_socket_path(path)
        if why:
            raise McpPoolError(NOT_CONNECTED, why)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise McpPoolError(NOT_CONNECTED, f"cannot connect to {path}: "
                               f"{e.strerror or e}") from None
        sock.settimeout(None)
        conn = cls(sock, note)
        conn._hello(connect_timeout)
        if admin_token is not None:
            conn._login(admin_token, connect_timeout)
        return conn

    def _ask(self, op, params, timeout):
        """Sends op and waits for its (error, result) at most timeout seconds;
        raises McpPoolError when the connection breaks meanwhile."""
        sink = _Sink()
        try:
            self.submit(op, params, sink)
            kind, a, b = sink.q.get(timeout=timeout)
        except _SendFailed as e:
            raise e.error from None
        except queue.Empty:
            self.break_(TIMEOUT, f"no answer to the {op} within {timeout} s")
            raise self.broken from None
        if kind == "fail":
            raise a
        return a, b

    def _login(self, token, timeout):
        """Sends the admin token, as mcpctl does right after connecting; a refused
        one breaks the connection and raises FORBIDDEN saying it was the token."""
        error, _ = self._ask("admin", P.admin_params(token), timeout)
        if error is not None:
            err = P.refused_token(error)
            self.break_(err.code, err.message)
            raise err

    def _hello(self, timeout):
        a, b = self._ask("hello", P.hello_params(), timeout)
        try:
            if a is not None:
                err = McpPoolError.from_wire(a)
                raise McpPoolError(err.code, f"the daemon refused the hello: {err.message}")
            self.version, self.max_frame = P.hello_result(b)
        except McpPoolError as e:
            self.break_(e.code, e.message)
            raise
        self.frames.max_frame = self.max_frame

    def submit(self, op, params, sink):
        """Sends request op and returns its id; sink gets its events and end.
        Raises McpPoolError(BAD_REQUEST) (nothing sent) or _SendFailed."""
        with self.lock:
            rid = self.next_id
            self.next_id += 1
        frame = P.pack_frame([P.REQUEST, rid, op, params], self.max_frame)
        with self.lock:
            if self.broken:
                raise _SendFailed(self.broken)
            self.pending[rid] = sink
        try:
            with self.wlock:
                self.sock.sendall(frame)
        except OSError as e:
            with self.lock:
                self.pending.pop(rid, None)
            self.break_(NOT_CONNECTED, f"writing to the daemon: {e.strerror or e}")
            raise _SendFailed(self.broken) from None
        return rid

    def abandon(self, rid):
        """Forgets request rid; if it was still in flight, tells the daemon to cancel it."""
        with self.lock:
            in_flight = self.pending.pop(rid, None) is not None and not self.broken
        if not in_flight:
            return
        frame = P.pack_frame([P.NOTIFY, "cancel", {"id": rid}], self.max_frame)
        try:
            with self.wlock:
                self.sock.sendall(frame)
        except OSError as e:
            self.break_(NOT_CONNECTED, f"writing to the daemon: {e.strerror or e}")

    def break_(self, code, message):
        """Breaks the connection once: fails every request in flight with code.
        A daemon that refused us said why before it closed: that reason, not the
        close, is the news (as in libmcppool)."""
        if code == NOT_CONNECTED and self.refusal is not None:
            code, message = self.refusal.code, self.refusal.message
        with self.lock:
            if self.broken:
                return
            self.broken = McpPoolError(code, message)
            pending, self.pending = self.pending, {}
        try:
            self.sock.shutdown(_socket.SHUT_RDWR)  # wakes the reader; it closes the socket
        except OSError:
            pass
        for sink in pending.values():
            sink.fail(McpPoolError(code, message))

    def forget_after_fork(self):
        """In a forked child: drops the parent's socket without touching the parent's use of it."""
        self.broken = McpPoolError(NOT_CONNECTED, "inherited across fork")
        self.pending = {}
        self.sock.close()

    def _read_loop(self):
        try:
            self._read()
        except Exception as e:  # a bug here must not leave requests waiting for ever
            log.exception("mcppool: the reader failed")
            self.break_(INTERNAL, f"the client's reader failed: {e!r}")
        finally:
            with self.wlock:
                self.sock.close()

    def _read(self):
        while not self.broken:
            try:
                data = self.sock.recv(256 * 1024)
            except OSError as e:
                self.break_(NOT_CONNECTED, f"reading from the daemon: {e.strerror or e}")
                return
            if not data:
                if self.frames.mid_frame():
                    self.break_(PROTOCOL, "the daemon closed the connection in the "
                                "middle of a frame")
                else:
                    self.break_(NOT_CONNECTED, "the daemon closed the connection")
                return
            try:
                messages = self.frames.feed(data)
            except McpPoolError as e:
                self.break_(e.code, e.message)
                return
            for m in messages:
                self._dispatch(m)

    def _dispatch(self, message):
        kind, rid, a, b = P.classify(message)
        if kind == "reply" and rid == 0:
            err = McpPoolError.from_wire(a)
            if err.code == TOO_MANY_CLIENTS:
                self.refusal = err
            self.note(err)
        elif kind == "reply":
            with self.lock:
                sink = self.pending.pop(rid, None)
            if sink is not None:  # else: the late answer of an abandoned request
                sink.reply(a, b)
        elif kind == "event":
            with self.lock:
                sink = self.pending.get(rid)
            if sink is not None:
                sink.event(a, b)
        else:
            self.note(McpPoolError(PROTOCOL, f"unexpected message from the daemon: {a!r:.200}"))


def _run_callback(op, name, params):
    cb = op.handler(name)
    if cb is not None:
        cb(params)


class Pool:
    """A blocking client of mcppoold; one instance may serve many threads at once.

    ``socket``: the daemon's socket path (default: $MCPPOOL_SOCKET, else
    $XDG_RUNTIME_DIR/mcppool.sock, else /tmp/mcppool-UID.sock). ``timeout``:
    the default deadline of every request, in seconds (None: the daemon's
    REQUEST_TIMEOUT). ``connect``: connect now (raising NOT_CONNECTED when the
    daemon cannot be reached) rather than at the first request.
    ``admin_token``: the daemon's admin token (its MCPPOOL_ADMIN_TOKEN_FILE),
    sent after the hello on every connection, reconnections included, so that
    the admin ops are allowed to a process that is neither the daemon's uid,
    root, nor in MCPPOOL_ADMIN_GROUP; a wrong one raises FORBIDDEN.

    When the daemon goes away, the requests in flight fail (NOT_CONNECTED, or
    PROTOCOL when a frame was cut) and the next request connects again.
    """

    def __init__(self, socket=None, *, timeout=None, connect_timeout=10.0, connect=True,
                 admin_token=None):
        self.socket_path = P.default_socket_path(socket)
        if admin_token is not None:
            P.admin_params(admin_token)  # a bad one is refused now, not at each connect
        self._admin_token = admin_token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.last_error = None  # the last connection-level error the daemon reported
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._conn = None
        self._closed = False
        if connect:
            self._connection()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        conn = self.__dict__.get("_conn")
        if conn is not None and conn.pid == os.getpid():
            conn.break_(CANCELLED, "the pool was garbage-collected")

    @property
    def protocol_version(self):
        """The protocol version of the current connection (None when not connected)."""
        conn = self._conn
        return conn.version if conn is not None and not conn.broken else None

    def close(self):
        """Closes the connection; requests in flight fail with CANCELLED (the
        daemon cancels them upstream). Later requests raise NOT_CONNECTED."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None and conn.pid == os.getpid():
            conn.break_(CANCELLED, "the pool was closed")
            if conn.reader is not threading.current_thread():
                conn.reader.join(5.0)

    def _note(self, err):
        self.last_error = err
        log.warning("mcppool: error from the daemon for no request: %s", err)

    def _connection(self):
        if self._pid != os.getpid():
            # A forked child: the parent's socket and locks are not ours to use.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            if self._conn is not None:
                self._conn.forget_after_fork()
                self._conn = None
        with self._lock:
            if self._closed:
                raise McpPoolError(NOT_CONNECTED, "the pool is closed")
            conn = self._conn
            if conn is None or conn.broken:
                self._conn = None
                conn = _Connection.open(self.socket_path, self.connect_timeout, self._note,
                                        self._admin_token)
                self._conn = conn
            return conn

    def _run(self, op):
        for attempt in (0, 1):
            conn = self._connection()
            sink = _Sink()
            try:
                rid = conn.submit(op.name, op.params_for(conn.version), sink)
            except _SendFailed as e:
                if attempt:
                    raise e.error from None
                continue  # it never reached the daemon: a new connection may take it
            return self._wait(conn, rid, sink, op)

    def _wait(self, conn, rid, sink, op):
        wait = op.wait_seconds()
        deadline = None if wait is None else time.monotonic() + wait
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    kind, a, b = sink.q.get(timeout=remaining)
                except queue.Empty:
                    raise McpPoolError(TIMEOUT, f"no answer to {op.name} within "
                                       f"{wait:g} s") from None
                if kind == "event":
                    if a == "progress" and deadline is not None:
                        deadline = time.monotonic() + wait
                    _run_callback(op, a, b)
                elif kind == "fail":
                    raise a
                elif a is not None:
                    raise McpPoolError.from_wire(a)
                else:
                    return b
        except BaseException:
            conn.abandon(rid)
            raise

    def call(self, user, mcp, tool, args=None, *, auth=None, timeout=None, timeout_ms=None,
             on_progress=None, on_message=None, input_responses=None, request_state=None,
             log_level=None):
        """Calls tool with args (a dict); returns the MCP CallToolResult as a dict.
        A result with ``isError: true`` is a result, and so is an ``input_required``
        one: retry it with input_responses and request_state.

        auth: the user's auth values (dict str→str). timeout (seconds) or
        timeout_ms: the deadline. on_progress, on_message: called with each
        event's params, in this thread. log_level (with them): the least severe
        log message a 2026-07-28 server is asked to send ("debug" to
        "emergency"; default "info"), not sent without events; another word
        is the daemon's BAD_REQUEST.
        """
        return self._run(P.op_call(
            self.timeout, user, mcp, tool, args, auth=auth, timeout=timeout,
            timeout_ms=timeout_ms, on_progress=on_progress, on_message=on_message,
            input_responses=input_responses, request_state=request_state,
            log_level=log_level))

    def request(self, user, mcp, method, params=None, *, auth=None, timeout=None,
                timeout_ms=None, on_progress=None, on_message=None,
                input_responses=None, request_state=None, log_level=None):
        """Sends any MCP request; returns its JSON-RPC result (an ``input_required``
        one too: retry it with input_responses and request_state, sent inside params).
        on_progress, on_message and log_level as for call()."""
        return self._run(P.op_request(
            self.timeout, user, mcp, method, params, auth=auth, timeout=timeout,
            timeout_ms=timeout_ms, on_progress=on_progress, on_message=on_message,
            input_responses=input_responses, request_state=request_state,
            log_level=log_level))

    def tools(self, user, mcp, cursor=None, *, auth=None, timeout=None, timeout_ms=None):
        """The tools/list result, from cursor (None for the first page)."""
        return self._run(P.op_tools(self.timeout, user, mcp, cursor, auth=auth,
                                    timeout=timeout, timeout_ms=timeout_ms))

    def warm(self, user, mcp, *, auth=None, timeout=None, timeout_ms=None):
        """Opens (or finds) the user's connection: {key, state, pid, reused, server}."""
        return self._run(P.op_warm(self.timeout, user, mcp, auth=auth, timeout=timeout,
                                   timeout_ms=timeout_ms))

    def evict(self, user, mcp=None, *, timeout=None, timeout_ms=None):
        """Closes the user's connections (only the one to mcp when given): {evicted}."""
        return self._run(P.op_evict(self.timeout, user, mcp, timeout=timeout,
                                    timeout_ms=timeout_ms))

    def pool_status(self, *, timeout=None, timeout_ms=None):
        """The pool-status object (an admin op)."""
        return self._run(P.op_admin(self.timeout, "pool_status", timeout=timeout,
                                    timeout_ms=timeout_ms))

    def cleanup(self, *, timeout=None, timeout_ms=None):
        """Closes idle connections past CONNECTION_TIMEOUT now (an admin op)."""
        return self._run(P.op_admin(self.timeout, "cleanup", timeout=timeout,
                                    timeout_ms=timeout_ms))

    def reload(self, *, timeout=None, timeout_ms=None):
        """The daemon reads its .env and catalog again, as on SIGHUP (an admin op):
        {added, removed, changed, settings, summary}; a configuration it refuses
        raises BAD_REQUEST and the running one stays."""
        return self._run(P.op_admin(self.timeout, "reload", timeout=timeout,
                                    timeout_ms=timeout_ms))

    def servers(self, *, timeout=None, timeout_ms=None):
        """The catalog without secrets: {servers: [...]}."""
        return self._run(P.op_admin(self.timeout, "servers", timeout=timeout,
                                    timeout_ms=timeout_ms))

    def metrics(self, *, timeout=None, timeout_ms=None):
        """The Prometheus text exposition, as a str (an admin op)."""
        return P.metrics_text(self._run(P.op_admin(self.timeout, "metrics", timeout=timeout,
                                                   timeout_ms=timeout_ms)))
