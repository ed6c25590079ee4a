"""The default socket path is resolved as libmcppool resolves it."""
import asyncio
import os

import pytest

import mcppool


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("MCPPOOL_SOCKET", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return monkeypatch


def test_explicit_then_mcppool_socket_then_xdg_then_tmp(clean_env):
    assert mcppool.default_socket_path() == f"/tmp/mcppool-{os.getuid()}.sock"
    clean_env.setenv("XDG_RUNTIME_DIR", "/run/user/42")
    assert mcppool.default_socket_path() == "/run/user/42/mcppool.sock"
    clean_env.setenv("MCPPOOL_SOCKET", "/srv/pool.sock")
    assert mcppool.default_socket_path() == "/srv/pool.sock"
    assert mcppool.default_socket_path("/x.sock") == "/x.sock"


def test_empty_values_count_as_unset(clean_env):
    clean_env.setenv("MCPPOOL_SOCKET", "")
    clean_env.setenv("XDG_RUNTIME_DIR", "")
    assert mcppool.default_socket_path("") == f"/tmp/mcppool-{os.getuid()}.sock"


def test_pool_without_a_path_finds_the_daemon_in_xdg_runtime_dir(clean_env, make_daemon):
    d = make_daemon(sock_name="mcppool.sock")
    clean_env.setenv("XDG_RUNTIME_DIR", d.dir)
    with mcppool.Pool() as p:
        assert p.socket_path == d.sock
        assert p.call("alice", "fx", "echo", {"message": "xdg"})["content"][0]["text"] == "xdg"

    async def main():
        async with await mcppool.AsyncPool.connect() as ap:
            return await ap.call("alice", "fx", "echo", {"message": "axdg"})
    assert asyncio.run(main())["content"][0]["text"] == "axdg"


def test_pool_without_a_path_uses_mcppool_socket(clean_env, make_daemon):
    d = make_daemon(sock_name="other.sock")
    clean_env.setenv("MCPPOOL_SOCKET", d.sock)
    clean_env.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    with mcppool.Pool() as p:
        assert p.servers()["servers"]


def test_an_explicit_path_wins_over_the_environment(clean_env, make_daemon):
    d = make_daemon()
    clean_env.setenv("MCPPOOL_SOCKET", "/nonexistent/mcppool.sock")
    with mcppool.Pool(d.sock) as p:
        assert p.socket_path == d.sock


def test_a_path_too_long_for_a_socket_is_not_connected():
    with pytest.raises(mcppool.McpPoolError) as e:
        mcppool.Pool("/tmp/" + "x" * 200)
    assert e.value.code == "NOT_CONNECTED"
    assert "107 bytes" in e.value.message
