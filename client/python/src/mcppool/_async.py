"""AsyncPool: the asyncio client, with the Pool's methods as coroutines.

One reader task per connection hands each reply and event to the queue of
the coroutine waiting for it. A task cancelled while its request is in
flight sends the daemon a cancel, so the MCP server is told too.
"""
import asyncio
import inspect
import logging
import os
import socket

from . import _protocol as P
from ._errors import (CANCELLED, INTERNAL, NOT_CONNECTED, PROTOCOL, TIMEOUT,
                      TOO_MANY_CLIENTS, McpPoolError)

log = logging.getLogger("mcppool")


class _Sink:
    """Where one request's events and its end arrive, in order."""

    __slots__ = ("q",)

    def __init__(self):
        self.q = asyncio.Queue()

    def reply(self, error, result):
        self.q.put_nowait(("reply", error, result))

    def event(self, name, params):
        self.q.put_nowait(("event", name, params))

    def fail(self, exc):
        self.q.put_nowait(("fail", exc, None))


class _Connection:
    """One stream to the daemon, its reader task and its requests in flight.

    Once broken (``broken`` says why) it stays broken; every request in flight
    has been failed with that error.
    """

    def __init__(self, sock, reader, writer, note):
        self.sock = sock  # the transport's own socket object
        self.reader = reader
        self.writer = writer
        self.note = note
        self.pid = os.getpid()
        self.loop = asyncio.get_running_loop()
        self.pending = {}
        self.next_id = 1
        self.broken = None
        self.refusal = None  # an id-0 TOO_MANY_CLIENTS: the reason for the close that follows
        self.version = 1
        self.max_frame = P.FRAME_DEFAULT_MAX
        self.frames = P.FrameReader()
        self.task = self.loop.create_task(self._read_loop())

    @classmethod
    async def open(cls, path, connect_timeout, note, admin_token=None):
        """Connects, completes the hello and sends admin_token (when given).
        Raises McpPoolError."""
        why = P.check_socket_path(path)
        if why:
            raise McpPoolError(NOT_CONNECTED, why)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            async with asyncio.timeout(connect_timeout):
                await asyncio.get_running_loop().sock_connect(sock, path)
                reader, writer = await asyncio.open_unix_connection(sock=sock)
        except (OSError, TimeoutError) as e:
            sock.close()
            raise McpPoolError(NOT_CONNECTED, f"cannot connect to {path}: "
                               f"{e.strerror or str(e) or 'timed out'}") from None
        except BaseException:
            sock.close()
            raise
        conn = cls(sock, reader, writer, note)
        try:
            await conn._hello(connect_timeout)
            if admin_token is not None:
                await conn._login(admin_token, connect_timeout)
        except BaseException:
            await conn.close(CANCELLED, "the hello did not complete")
            raise
        return conn

    async def _ask(self, op, params, timeout):
        """Sends op and waits for its (error, result) at most timeout seconds;
        raises McpPoolError when the connection breaks meanwhile."""
        sink = _Sink()
        self.submit(op, params, sink)
        try:
            async with asyncio.timeout(timeout):
                kind, a, b = await sink.q.get()
        except TimeoutError:
            self.break_(TIMEOUT, f"no answer to the {op} within {timeout} s")
            raise self.broken from None
        if kind == "fail":
            raise a
        return a, b

    async def _login(self, token, timeout):
        """Sends the admin token, as mcpctl does right after connecting; a refused
        one raises FORBIDDEN saying it was the token (open() closes the connection)."""
        error, _ = await self._ask("admin", P.admin_params(token), timeout)
        if error is not None:
            raise P.refused_token(error)

    async def _hello(self, timeout):
        a, b = await self._ask("hello", P.hello_params(), timeout)
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
        """Queues request op and returns its id. Raises McpPoolError: BAD_REQUEST
        (nothing sent), or the reason the connection is broken."""
        if self.broken:
            raise self.broken
        rid = self.next_id
        self.next_id += 1
        frame = P.pack_frame([P.REQUEST, rid, op, params], self.max_frame)
        self.pending[rid] = sink
        self.writer.write(frame)  # whole, or not at all: a cancelled task cannot cut it
        return rid

    def usable(self):
        """False once broken, or when its socket is known gone (nothing sent on it would arrive)."""
        return not self.broken and not self.writer.is_closing() and self.pid == os.getpid()

    async def drain(self):
        try:
            await self.writer.drain()
        except OSError:
            pass  # the reader sees the loss and fails what is in flight

    def abandon(self, rid):
        """Forgets request rid; if it was still in flight, tells the daemon to cancel it."""
        if self.pending.pop(rid, None) is None or self.broken:
            return
        self.writer.write(P.pack_frame([P.NOTIFY, "cancel", {"id": rid}], self.max_frame))

    def break_(self, code, message):
        """Breaks the connection once: fails every request in flight with code.
        A daemon that refused us said why before it closed: that reason, not the
        close, is the news (as in libmcppool)."""
        if code == NOT_CONNECTED and self.refusal is not None:
            code, message = self.refusal.code, self.refusal.message
        if self.broken:
            return
        self.broken = McpPoolError(code, message)
        pending, self.pending = self.pending, {}
        self.writer.close()
        for sink in pending.values():
            sink.fail(McpPoolError(code, message))

    async def close(self, code, message):
        self.break_(code, message)
        if self.task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 5.0)
            except TimeoutError:
                self.task.cancel()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    async def _read_loop(self):
        try:
            await self._read()
        except Exception as e:  # a bug here must not leave requests waiting for ever
            log.exception("mcppool: the reader failed")
            self.break_(INTERNAL, f"the client's reader failed: {e!r}")

    async def _read(self):
        while not self.broken:
            try:
                data = await self.reader.read(256 * 1024)
            except OSError as e:
                self.break_(NOT_CONNECTED, f"reading from the daemon: {e.strerror or e}")
                return
            if not data:
                if self.frames.mid_frame():
                    self.break_(PROTOCOL, "the daemon closed the connection in the middle "
                                "of a frame")
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
            sink = self.pending.pop(rid, None)
            if sink is not None:  # else: the late answer of an abandoned request
                sink.reply(a, b)
        elif kind == "event":
            sink = self.pending.get(rid)
            if sink is not None:
                sink.event(a, b)
        else:
            self.note(McpPoolError(PROTOCOL, f"unexpected message from the daemon: {a!r:.200}"))


async def _run_callback(op, name, params):
    cb = op.handler(name)
    if cb is not None:
        r = cb(params)
        if inspect.isawaitable(r):
            await r


class AsyncPool:
    """The asyncio client of mcppoold: Pool's methods as coroutines, many
    requests in flight on one socket. Use it from one event loop.

    ``await AsyncPool.connect(socket)`` connects at once; ``AsyncPool(socket)``
    connects at the first request. ``admin_token``: as Pool's, sent on every
    connection. After the daemon goes away, the requests
    in flight fail (NOT_CONNECTED, or PROTOCOL) and the next one reconnects.
    """

    def __init__(self, socket=None, *, timeout=None, connect_timeout=10.0, admin_token=None):
        self.socket_path = P.default_socket_path(socket)
        if admin_token is not None:
            P.admin_params(admin_token)  # a bad one is refused now, not at each connect
        self._admin_token = admin_token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.last_error = None
        self._lock = None  # an asyncio.Lock, made inside the loop
        self._loop = None
        self._conn = None
        self._closed = False

    @classmethod
    async def connect(cls, socket=None, **kw):
        """A pool connected to the daemon; raises McpPoolError(NOT_CONNECTED)."""
        pool = cls(socket, **kw)
        await pool._connection()
        return pool

    async def __aenter__(self):
        await self._connection()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    @property
    def protocol_version(self):
        conn = self._conn
        return conn.version if conn is not None and not conn.broken else None

    def _drop_foreign(self, loop):
        """Drops a connection made in another event loop (an earlier asyncio.run()):
        it cannot serve this one."""
        conn = self._conn
        if conn is not None and conn.loop is not loop:
            self._conn = None
            conn.sock.close()  # its loop may be closed: no transport call is safe

    async def close(self):
        """Closes the connection; requests in flight fail with CANCELLED (the
        daemon cancels them upstream). Later requests raise NOT_CONNECTED."""
        self._closed = True
        self._drop_foreign(asyncio.get_running_loop())
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close(CANCELLED, "the pool was closed")

    def _note(self, err):
        self.last_error = err
        log.warning("mcppool: error from the daemon for no request: %s", err)

    async def _connection(self):
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
            self._drop_foreign(loop)
        async with self._lock:
            if self._closed:
                raise McpPoolError(NOT_CONNECTED, "the pool is closed")
            conn = self._conn
            if conn is None or not conn.usable():
                self._conn = None
                conn = await _Connection.open(self.socket_path, self.connect_timeout,
                                              self._note, self._admin_token)
                self._conn = conn
            return conn

    async def _run(self, op):
        conn = await self._connection()
        sink = _Sink()
        rid = conn.submit(op.name, op.params_for(conn.version), sink)
        loop = asyncio.get_running_loop()
        wait = op.wait_seconds()
        deadline = None if wait is None else loop.time() + wait
        try:
            await conn.drain()
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        kind, a, b = await sink.q.get()
                except TimeoutError:
                    raise McpPoolError(TIMEOUT, f"no answer to {op.name} within "
                                       f"{wait:g} s") from None
                if kind == "event":
                    if a == "progress" and deadline is not None:
                        deadline = loop.time() + wait
                    await _run_callback(op, a, b)
                elif kind == "fail":
                    raise a
                elif a is not None:
                    raise McpPoolError.from_wire(a)
                else:
                    return b
        except BaseException:
            conn.abandon(rid)
            raise

    async def call(self, user, mcp, tool, args=None, *, auth=None, timeout=None, timeout_ms=None,
                   on_progress=None, on_message=None, input_responses=None,
                   request_state=None, log_level=None):
        """Calls tool with args (a dict); returns the MCP CallToolResult as a dict.
        A result with ``isError: true`` is a result, and so is an ``input_required``
        one: retry it with input_responses and request_state.

        auth: the user's auth values (dict str→str). timeout (seconds) or
        timeout_ms: the deadline. on_progress, on_message: called with each
        event's params, or awaited if they return awaitables. log_level (with
        them): the least severe log message a 2026-07-28 server is asked to
        send ("debug" to "emergency"; default "info"), not sent without events;
        another word is the daemon's BAD_REQUEST.
        """
        return await self._run(P.op_call(
            self.timeout, user, mcp, tool, args, auth=auth, timeout=timeout,
            timeout_ms=timeout_ms, on_progress=on_progress, on_message=on_message,
            input_responses=input_responses, request_state=request_state,
            log_level=log_level))

    async def request(self, user, mcp, method, params=None, *, auth=None, timeout=None,
                      timeout_ms=None, on_progress=None, on_message=None,
                      input_responses=None, request_state=None, log_level=None):
        """Sends any MCP request; returns its JSON-RPC result (an ``input_required``
        one too: retry it with input_responses and request_state, sent inside params).
        on_progress, on_message and log_level as for call()."""
        return await self._run(P.op_request(
            self.timeout, user, mcp, method, params, auth=auth, timeout=timeout,
            timeout_ms=timeout_ms, on_progress=on_progress, on_message=on_message,
            input_responses=input_responses, request_state=request_state,
            log_level=log_level))

    async def tools(self, user, mcp, cursor=None, *, auth=None, timeout=None, timeout_ms=None):
        """The tools/list result, from cursor (None for the first page)."""
        return await self._run(P.op_tools(self.timeout, user, mcp, cursor, auth=auth,
                                          timeout=timeout, timeout_ms=timeout_ms))

    async def warm(self, user, mcp, *, auth=None, timeout=None, timeout_ms=None):
        """Opens (or finds) the user's connection: {key, state, pid, reused, server}."""
        return await self._run(P.op_warm(self.timeout, user, mcp, auth=auth, timeout=timeout,
                                         timeout_ms=timeout_ms))

    async def evict(self, user, mcp=None, *, timeout=None, timeout_ms=None):
        """Closes the user's connections (only the one to mcp when given): {evicted}."""
        return await self._run(P.op_evict(self.timeout, user, mcp, timeout=timeout,
                                          timeout_ms=timeout_ms))

    async def pool_status(self, *, timeout=None, timeout_ms=None):
        """The pool-status object (an admin op)."""
        return await self._run(P.op_admin(self.timeout, "pool_status", timeout=timeout,
                                          timeout_ms=timeout_ms))

    async def cleanup(self, *, timeout=None, timeout_ms=None):
        """Closes idle connections past CONNECTION_TIMEOUT now (an admin op)."""
        return await self._run(P.op_admin(self.timeout, "cleanup", timeout=timeout,
                                          timeout_ms=timeout_ms))

    async def reload(self, *, timeout=None, timeout_ms=None):
        """The daemon reads its .env and catalog again, as on SIGHUP (an admin op):
        {added, removed, changed, settings, summary}; a configuration it refuses
        raises BAD_REQUEST and the running one stays."""
        return await self._run(P.op_admin(self.timeout, "reload", timeout=timeout,
                                          timeout_ms=timeout_ms))

    async def servers(self, *, timeout=None, timeout_ms=None):
        """The catalog without secrets: {servers: [...]}."""
        return await self._run(P.op_admin(self.timeout, "servers", timeout=timeout,
                                          timeout_ms=timeout_ms))

    async def metrics(self, *, timeout=None, timeout_ms=None):
        """The Prometheus text exposition, as a str (an admin op)."""
        result = await self._run(P.op_admin(self.timeout, "metrics", timeout=timeout,
                                            timeout_ms=timeout_ms))
        return P.metrics_text(result)
