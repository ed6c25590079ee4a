"""A small fake mcppoold speaking the wire protocol, for what the real daemon
cannot be made to do on demand: send events, id 0 errors, oversized frames,
or never answer."""
import os
import socket
import struct
import tempfile
import threading

import msgpack


class FakeConn:
    """One accepted client: what it sent, and ways to answer it."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, message):
        payload = msgpack.packb(message, use_bin_type=True)
        self.send_raw(struct.pack(">I", len(payload)) + payload)

    def send_raw(self, data):
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def reply(self, rid, result=None, error=None):
        self.send([1, rid, error, result])

    def event(self, rid, name, params):
        self.send([3, rid, name, params])

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeDaemon:
    """Listens on a temp socket. Answers hello with ``version`` and
    ``max_frame``; hands every other message to ``handler(conn, message)``
    in the connection's thread; records every message in ``received``."""

    def __init__(self, handler, version=2, max_frame=16 * 1024 * 1024, hello_error=None,
                 refuse=None):
        self.dir = tempfile.mkdtemp(prefix="mcppool-fake-")
        self.sock = os.path.join(self.dir, "fake.sock")
        self.handler = handler
        self.version = version
        self.max_frame = max_frame
        self.hello_error = hello_error
        self.refuse = refuse  # an error map: sent as a reply of id 0 to the hello, then close
        self.received = []
        self.conns = []
        self.cond = threading.Condition()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.sock)
        self.listener.listen(16)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            conn = FakeConn(s)
            with self.cond:
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        buf = b""
        while True:
            try:
                data = conn.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                conn.sock.close()
                return
            buf += data
            while len(buf) >= 4:
                (n,) = struct.unpack_from(">I", buf)
                if len(buf) < 4 + n:
                    break
                msg = msgpack.unpackb(buf[4:4 + n], raw=False)
                buf = buf[4 + n:]
                with self.cond:
                    self.received.append(msg)
                    self.cond.notify_all()
                if msg[0] == 0 and msg[2] == "hello" and self.refuse:
                    conn.reply(0, error=self.refuse)
                    conn.close()
                elif msg[0] == 0 and msg[2] == "hello" and self.hello_error:
                    conn.reply(msg[1], error=self.hello_error)
                elif msg[0] == 0 and msg[2] == "hello":
                    conn.reply(msg[1], {"version": min(self.version, msg[3]["version"]),
                                        "versions": list(range(1, self.version + 1)),
                                        "server": "fake/0", "maxFrame": self.max_frame})
                else:
                    self.handler(conn, msg)

    def wait_for(self, pred, timeout=10.0):
        """Waits until some received message satisfies pred; returns it."""
        with self.cond:
            found = self.cond.wait_for(
                lambda: next((m for m in self.received if pred(m)), None), timeout)
        assert found is not None, f"no such message; received: {self.received!r}"
        return found

    def requests(self, op):
        with self.cond:
            return [m for m in self.received if m[0] == 0 and m[2] == op]

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        except OSError:
            pass
        self.listener.close()
        with self.cond:
            conns = list(self.conns)
        for c in conns:
            c.close()
        for t in self.threads:
            t.join(5)
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)
