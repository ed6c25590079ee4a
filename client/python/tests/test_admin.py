"""Admin access with the daemon's admin token, the reload op, and AUTH_REQUIRED's challenge."""
import asyncio
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mcppool
from conftest import binary, catalog, wait_until

TOKEN = "python-admin-token-0123456789"
CHALLENGE = ('Bearer resource_metadata="https://as.example/.well-known/oauth-protected-resource", '
             'scope="files:read", error="invalid_token"')


class _Wants401(BaseHTTPRequestHandler):
    """An MCP server over HTTP that wants OAuth: every POST is a 401 with a challenge."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(401)
        self.send_header("WWW-Authenticate", CHALLENGE)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http401():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Wants401)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin_daemon(make_daemon, tmp_path, http401):
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    servers = catalog(binary("mcp-fixture"))
    servers["mcpServers"]["remote"] = {"url": f"http://127.0.0.1:{http401}/mcp"}
    return make_daemon(env={"MCPPOOL_ADMIN_TOKEN_FILE": str(token_file)}, servers=servers)


def _add_entry(d, name):
    with open(d.servers) as f:
        cat = json.load(f)
    cat["mcpServers"][name] = {"command": binary("mcp-fixture"), "args": ["--name", name]}
    with open(d.servers, "w") as f:
        json.dump(cat, f)


def _accepted(d):
    return d.log_text().count("admin token accepted")


def test_reload_with_the_admin_token_reports_the_entry_added(admin_daemon):
    with mcppool.Pool(admin_daemon.sock, admin_token=TOKEN) as pool:
        _add_entry(admin_daemon, "fx-new")
        r = pool.reload()
        assert r["added"] == ["fx-new"] and r["removed"] == []
        assert isinstance(r["summary"], str)
        assert pool.warm("ann", "fx-new")["server"]["serverInfo"]["name"] == "fx-new"


def test_a_reload_of_an_invalid_catalog_raises_config_invalid_and_changes_nothing(admin_daemon):
    with open(admin_daemon.servers) as f:
        good = f.read()
    try:
        with mcppool.Pool(admin_daemon.sock, admin_token=TOKEN) as pool:
            with open(admin_daemon.servers, "w") as f:
                f.write('{"mcpServers": {\n  oops}}')
            with pytest.raises(mcppool.McpPoolError) as e:
                pool.reload()
            assert e.value.code == mcppool.CONFIG_INVALID, e.value.message
            assert "servers.json:2:" in e.value.message
            assert pool.warm("ann", "fx")["server"]
    finally:
        with open(admin_daemon.servers, "w") as f:
            f.write(good)


def test_the_admin_token_is_sent_again_after_a_restart(admin_daemon):
    with mcppool.Pool(admin_daemon.sock, admin_token=TOKEN) as pool:
        assert _accepted(admin_daemon) == 1
        admin_daemon.restart()

        def status():
            try:
                return pool.pool_status()
            except mcppool.McpPoolError as e:  # the old socket's end, seen late
                assert e.code == mcppool.NOT_CONNECTED
                return None
        assert "totalConnections" in wait_until(status, what="a request on a new socket")
        assert _accepted(admin_daemon) == 2


def test_a_wrong_admin_token_is_forbidden_at_connect(admin_daemon):
    with pytest.raises(mcppool.McpPoolError) as e:
        mcppool.Pool(admin_daemon.sock, admin_token="not-the-token-at-all")
    assert e.value.code == mcppool.FORBIDDEN
    assert "admin token" in e.value.message


def test_an_empty_admin_token_is_refused_before_connecting():
    with pytest.raises(ValueError, match="admin_token"):
        mcppool.Pool("/nonexistent.sock", admin_token="", connect=False)


def test_async_reload_with_the_token_and_a_wrong_one(admin_daemon):
    async def main():
        async with await mcppool.AsyncPool.connect(admin_daemon.sock, admin_token=TOKEN) as pool:
            _add_entry(admin_daemon, "fx-async")
            r = await pool.reload()
            assert r["added"] == ["fx-async"]
        with pytest.raises(mcppool.McpPoolError) as e:
            await mcppool.AsyncPool.connect(admin_daemon.sock, admin_token="wrong-token-wrong-token")
        assert e.value.code == mcppool.FORBIDDEN and "admin token" in e.value.message
    asyncio.run(main())


def _check_challenge(err):
    assert err.code == mcppool.AUTH_REQUIRED, err.message
    assert err.data["status"] == 401
    assert err.data["scheme"] == "Bearer"
    assert err.data["resource_metadata"] == "https://as.example/.well-known/oauth-protected-resource"
    assert err.data["scope"] == "files:read"
    assert "resource_metadata=" in err.data["wwwAuthenticate"]


def test_a_401_is_auth_required_with_the_challenge_in_data(admin_daemon):
    with mcppool.Pool(admin_daemon.sock) as pool:
        with pytest.raises(mcppool.McpPoolError) as e:
            pool.call("ann", "remote", "echo", {}, timeout=5)
        _check_challenge(e.value)

    async def main():
        async with await mcppool.AsyncPool.connect(admin_daemon.sock) as pool:
            with pytest.raises(mcppool.McpPoolError) as e:
                await pool.call("bob", "remote", "echo", {}, timeout=5)
            _check_challenge(e.value)
    asyncio.run(main())
