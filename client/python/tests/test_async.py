"""The asyncio AsyncPool against the real daemon."""
import asyncio
import gc
import time

import pytest

import mcppool
from conftest import text


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _stats(pool, user):
    return (await pool.call(user, "fx", "stats"))["structuredContent"]


async def _until(cond, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_every_method_is_a_coroutine(daemon):
    async def main():
        async with await mcppool.AsyncPool.connect(daemon.sock) as p:
            assert p.protocol_version == 2
            assert text(await p.call("alice", "fx", "echo", {"message": "hi"})) == "hi"
            r = await p.call("bob", "fx-auth", "getenv", {"name": "FX_TOKEN"},
                             auth={"token": "t0k"})
            assert r["structuredContent"]["value"] == "t0k"
            assert await p.request("alice", "fx", "ping") == {}
            assert "echo" in [t["name"] for t in (await p.tools("alice", "fx"))["tools"]]
            w = await p.warm("carol", "fx")
            assert w["key"] == "carol:fx" and w["server"]["serverInfo"]["name"] == "fx"
            st = await p.pool_status()
            assert st["userConnectionCounts"]["carol"] == 1
            assert (await p.cleanup())["message"] == "Cleanup completed"
            assert "fx" in [s["name"] for s in (await p.servers())["servers"]]
            assert "mcppool_connections" in await p.metrics()
            assert await p.evict("carol") == {"evicted": 1}
    run(main())


def test_fifty_concurrent_calls_in_a_task_group_each_get_their_own_reply(daemon):
    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            tasks = []
            async with asyncio.TaskGroup() as tg:
                for i in range(50):
                    # Later calls sleep less, so the replies come back out of order.
                    tasks.append(tg.create_task(p.call(
                        f"u{i % 5}", "fx", "sleep", {"ms": 100 - 2 * i, "message": f"m{i}"})))
            got = [t.result()["structuredContent"]["message"] for t in tasks]
            assert got == [f"m{i}" for i in range(50)]
    run(main())


def test_typed_errors(daemon):
    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("alice", "nope", "echo")
            assert e.value.code == "UNKNOWN_MCP"
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("bob", "fx-auth", "echo", auth={"wrong": "x"})
            assert e.value.code == "AUTH_INVALID"
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("alice", "fx", "error", {"code": -32001})
            assert e.value.code == "UPSTREAM_ERROR"
            assert e.value.data["code"] == -32001
            assert e.value.data["data"] == {"detail": "fixture"}
    run(main())


def test_cancelling_the_task_cancels_the_request_on_the_server(daemon):
    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            before = (await _stats(p, "can"))["cancelNotices"]
            task = asyncio.create_task(p.call("can", "fx", "sleep", {"ms": 10000}))

            async def in_flight():
                st = await p.pool_status()
                return any(c["key"] == "can:fx" and c["inFlight"] == 1
                           for c in st["connectionDetails"])
            await _until(in_flight, what="the call in flight")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

            async def told():
                return (await _stats(p, "can"))["cancelNotices"] == before + 1
            await _until(told, what="the server's cancel notice")
            assert (await _stats(p, "can"))["cancelled"] >= 1
    run(main())


def test_a_timeout_raises_and_cancels_on_the_server(daemon):
    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            before = (await _stats(p, "tmo"))["cancelNotices"]
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("tmo", "fx", "sleep", {"ms": 10000}, timeout=0.3)
            assert e.value.code in ("UPSTREAM_TIMEOUT", "TIMEOUT")

            async def told():
                return (await _stats(p, "tmo"))["cancelNotices"] == before + 1
            await _until(told, what="the server's cancel notice")
    run(main())


def test_asyncio_wait_for_timeout_cancels_the_request_too(daemon):
    async def main():
        async with mcppool.AsyncPool(daemon.sock) as p:
            before = (await _stats(p, "wf"))["cancelNotices"]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(p.call("wf", "fx", "sleep", {"ms": 10000}), 0.3)

            async def told():
                return (await _stats(p, "wf"))["cancelNotices"] == before + 1
            await _until(told, what="the server's cancel notice")
    run(main())


def test_close_fails_calls_in_flight_with_cancelled(daemon):
    async def main():
        p = await mcppool.AsyncPool.connect(daemon.sock)
        task = asyncio.create_task(p.call("cls", "fx", "sleep", {"ms": 10000}))
        async with mcppool.AsyncPool(daemon.sock) as admin:
            async def in_flight():
                st = await admin.pool_status()
                return any(c["key"] == "cls:fx" and c["inFlight"] == 1
                           for c in st["connectionDetails"])
            await _until(in_flight, what="the call in flight")
        await p.close()
        with pytest.raises(mcppool.McpPoolError) as e:
            await task
        assert e.value.code == "CANCELLED"
        with pytest.raises(mcppool.McpPoolError) as e:
            await p.call("cls", "fx", "echo")
        assert e.value.code == "NOT_CONNECTED"
    run(main())


def test_connect_to_nothing_raises_not_connected(tmp_path):
    async def main():
        with pytest.raises(mcppool.McpPoolError) as e:
            await mcppool.AsyncPool.connect(str(tmp_path / "none.sock"))
        assert e.value.code == "NOT_CONNECTED"
    run(main())


# The socket of each earlier loop's connection is closed, but asyncio's transport
# object, whose loop is gone, still warns when collected.
@pytest.mark.filterwarnings("ignore:unclosed transport:ResourceWarning")
def test_one_pool_serves_one_event_loop_after_another(daemon):
    p = mcppool.AsyncPool(daemon.sock)
    for i in range(3):
        r = asyncio.run(p.call("alice", "fx", "echo", {"message": f"loop{i}"}))
        assert text(r) == f"loop{i}"
    asyncio.run(p.close())
    gc.collect()  # the warnings, if any, within this test
