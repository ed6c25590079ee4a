"""A daemon restart costs only the calls in flight: the next call reconnects by itself."""
import asyncio
import threading

import pytest

import mcppool
from conftest import text, wait_until

# What a call in flight may get when the daemon stops under it: the daemon's
# word if it answered before closing, else the client's NOT_CONNECTED.
LOST = {"NOT_CONNECTED", "SHUTTING_DOWN", "UPSTREAM_CLOSED", "CANCELLED"}


def in_flight(sock, key):
    with mcppool.Pool(sock) as admin:
        return any(c["key"] == key and c["inFlight"] >= 1
                   for c in admin.pool_status()["connectionDetails"])


def test_sync_pool_survives_a_daemon_restart(make_daemon):
    d = make_daemon()
    p = mcppool.Pool(d.sock)
    assert text(p.call("alice", "fx", "echo", {"message": "before"})) == "before"
    errors = []

    def slow():
        try:
            p.call("alice", "fx", "sleep", {"ms": 20000})
        except mcppool.McpPoolError as e:
            errors.append(e)
    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: in_flight(d.sock, "alice:fx"), what="calls in flight")
    d.stop()
    for t in threads:
        t.join(10)
    assert len(errors) == 3 and {e.code for e in errors} <= LOST, errors
    with pytest.raises(mcppool.McpPoolError) as e:
        p.call("alice", "fx", "echo", {"message": "down"})
    assert e.value.code == "NOT_CONNECTED"
    d.start()
    assert text(p.call("alice", "fx", "echo", {"message": "after"})) == "after"
    p.close()


def test_sync_pool_reconnects_when_the_restart_was_not_seen_yet(make_daemon):
    d = make_daemon()
    with mcppool.Pool(d.sock) as p:
        p.call("alice", "fx", "echo", {"message": "x"})
        d.restart()
        assert text(p.call("alice", "fx", "echo", {"message": "again"})) == "again"


def test_async_pool_survives_a_daemon_restart(make_daemon):
    d = make_daemon()

    async def main():
        async with await mcppool.AsyncPool.connect(d.sock) as p:
            assert text(await p.call("alice", "fx", "echo", {"message": "before"})) == "before"
            tasks = [asyncio.create_task(p.call("alice", "fx", "sleep", {"ms": 20000}))
                     for _ in range(3)]
            while not await asyncio.to_thread(in_flight, d.sock, "alice:fx"):
                await asyncio.sleep(0.01)
            await asyncio.to_thread(d.stop)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, mcppool.McpPoolError) and r.code in LOST
                       for r in results), results
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("alice", "fx", "echo", {"message": "down"})
            assert e.value.code == "NOT_CONNECTED"
            await asyncio.to_thread(d.start)
            assert text(await p.call("alice", "fx", "echo", {"message": "after"})) == "after"
    asyncio.run(asyncio.wait_for(main(), 60))


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] == "Z"
    except FileNotFoundError:
        return True


def test_a_daemon_killed_under_a_call_fails_it_with_not_connected(make_daemon):
    d = make_daemon()
    with mcppool.Pool(d.sock) as p:
        child = p.warm("alice", "fx")["pid"]
        box = []
        t = threading.Thread(target=lambda: box.append(_catch(
            lambda: p.call("alice", "fx", "sleep", {"ms": 20000}))))
        t.start()
        wait_until(lambda: in_flight(d.sock, "alice:fx"), what="the call in flight")
        d.proc.kill()  # no goodbye: the socket just closes
        d.proc.wait()
        t.join(10)
        assert box[0].code == "NOT_CONNECTED"
        wait_until(lambda: _gone(child), what="the orphaned server to exit on stdin EOF")
        d.start()
        assert text(p.call("alice", "fx", "echo", {"message": "after"})) == "after"


def _catch(fn):
    try:
        return fn()
    except mcppool.McpPoolError as e:
        return e
