"""Progress and log events from a real MCP server, through the real daemon."""
import asyncio

import pytest

import mcppool

STEPS = [{"progress": i, "total": 3, "message": f"step {i}"} for i in (1, 2, 3)]
LOGS = [{"level": "info", "logger": "fixture", "data": f"step {i}"} for i in (1, 2, 3)]


def test_sync_call_gets_progress_and_log_events_before_its_result(daemon):
    progress, messages = [], []
    with mcppool.Pool(daemon.sock) as p:
        assert p.protocol_version == 2
        r = p.call("alice", "fx", "progress", {"steps": 3, "ms": 20, "log": True},
                   on_progress=progress.append, on_message=messages.append)
    assert r["content"][0]["text"] == "done 3"
    assert progress == STEPS
    assert messages == LOGS


def test_async_call_gets_progress_and_log_events_before_its_result(daemon):
    progress, messages = [], []

    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            return await p.call("alice", "fx", "progress", {"steps": 3, "ms": 20, "log": True},
                                on_progress=progress.append, on_message=messages.append)
    r = asyncio.run(asyncio.wait_for(main(), 30))
    assert r["content"][0]["text"] == "done 3"
    assert progress == STEPS
    assert messages == LOGS


def test_a_long_call_with_progress_outlives_its_timeout(daemon):
    # Each progress event restarts the deadline: 10 steps of 150 ms under a 0.5 s timeout.
    with mcppool.Pool(daemon.sock) as p:
        r = p.call("alice", "fx", "progress", {"steps": 10, "ms": 150}, timeout=0.5,
                   on_progress=lambda e: None)
    assert r["content"][0]["text"] == "done 10"


DEBUG_ARGS = {"steps": 1, "ms": 1, "log": True, "log_level": "debug"}
DEBUG_LOG = [{"level": "debug", "logger": "fixture", "data": "step 1"}]


def test_sync_log_level_reaches_the_daemon_with_the_events(daemon):
    messages = []
    with mcppool.Pool(daemon.sock) as p:
        p.call("alice", "fx", "progress", DEBUG_ARGS, on_message=messages.append,
               log_level="debug")
        p.request("alice", "fx", "tools/call", {"name": "progress", "arguments": DEBUG_ARGS},
                  on_message=messages.append, log_level="debug")
        with pytest.raises(mcppool.McpPoolError) as e:
            p.call("alice", "fx", "echo", {"message": "x"}, on_message=messages.append,
                   log_level="warn")
        assert e.value.code == "BAD_REQUEST"
        assert "debug, info, notice, warning" in str(e.value)
        # Without events it is not sent: the daemon would refuse it alone.
        r = p.call("alice", "fx", "echo", {"message": "x"}, log_level="warn")
        assert r["content"][0]["text"] == "x"
    assert messages == DEBUG_LOG * 2


def test_async_log_level_reaches_the_daemon_with_the_events(daemon):
    messages = []

    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            await p.call("alice", "fx", "progress", DEBUG_ARGS, on_message=messages.append,
                         log_level="debug")
            await p.request("alice", "fx", "tools/call",
                            {"name": "progress", "arguments": DEBUG_ARGS},
                            on_message=messages.append, log_level="debug")
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.request("alice", "fx", "tools/list", on_message=messages.append,
                                log_level="loud")
            return e.value
    err = asyncio.run(asyncio.wait_for(main(), 30))
    assert err.code == "BAD_REQUEST"
    assert messages == DEBUG_LOG * 2
