"""Fixtures: a real mcppoold with the C fixture server behind it, per test module.

The build directory is $MCPPOOL_BUILD (relative paths from the current
directory) or ../../build from client/python.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)  # client/python
ROOT = os.path.dirname(os.path.dirname(PKG))
sys.path.insert(0, os.path.join(PKG, "src"))
sys.path.insert(0, HERE)


def build_dir():
    b = os.environ.get("MCPPOOL_BUILD")
    return os.path.abspath(b) if b else os.path.join(ROOT, "build")


def binary(name):
    path = os.path.join(build_dir(), name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run make first")
    return path


def wait_until(cond, timeout=10.0, what="condition"):
    """Polls cond() until it is true; fails the test after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def catalog(fixture):
    return {"mcpServers": {
        "fx": {"command": fixture, "args": ["--name", "fx"]},
        "fx-auth": {"command": fixture, "args": ["--name", "fx-auth"],
                    "env": {"FX_TOKEN": "${auth.token}"}},
    }}


class Daemon:
    """A real mcppoold on its own socket in a private temp dir."""

    def __init__(self, env=None, sock_name="mcppool.sock", servers=None):
        self.dir = tempfile.mkdtemp(prefix="mcppool-py-")
        self.sock = os.path.join(self.dir, sock_name)
        self.servers = os.path.join(self.dir, "servers.json")
        self.log = os.path.join(self.dir, "mcppoold.log")
        self.env = env or {}
        self.proc = None
        with open(self.servers, "w") as f:
            json.dump(servers or catalog(binary("mcp-fixture")), f)

    def start(self):
        env = dict(os.environ, **self.env)
        env.pop("MCPPOOL_SOCKET", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary("mcppoold"), "-s", self.sock, "--servers", self.servers,
                 "--env-file", "/dev/null"], stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, env=env)
        wait_until(self._accepts, what="mcppoold to accept")
        return self

    def _accepts(self):
        if self.proc.poll() is not None:
            pytest.fail(f"mcppoold exited with {self.proc.returncode}: {self.log_text()}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def make_daemon():
    """Starts daemons of one's own (own settings, restarts); all stopped after the test."""
    made = []

    def make(env=None, sock_name="mcppool.sock", start=True, servers=None):
        d = Daemon(env, sock_name, servers)
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        d.cleanup()


def fixture_stats(pool, user, mcp="fx"):
    """The fixture's stats tool, through a Pool: {calls, cancelled, cancelNotices, ...}."""
    return pool.call(user, mcp, "stats")["structuredContent"]


def text(result):
    return result["content"][0]["text"]
