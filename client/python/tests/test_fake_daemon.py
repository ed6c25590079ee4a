"""What the real daemon cannot be made to do on demand, against a fake one:
events, id 0 errors, broken frames, silence."""
import asyncio
import struct
import time

import pytest

import mcppool
from fakedaemon import FakeDaemon

DONE = {"content": [{"type": "text", "text": "done"}]}


@pytest.fixture
def fake():
    made = []

    def make(handler, **kw):
        f = FakeDaemon(handler, **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def sync_call(sock, *args, **kw):
    with mcppool.Pool(sock) as p:
        return p.call(*args, **kw)


def async_call(sock, *args, **kw):
    async def main():
        async with mcppool.AsyncPool(sock) as p:
            return await p.call(*args, **kw)
    return asyncio.run(asyncio.wait_for(main(), 30))


both = pytest.mark.parametrize("call", [sync_call, async_call], ids=["sync", "async"])


def events_then_reply(conn, msg):
    if msg[0] != 0:
        return
    rid = msg[1]
    conn.event(rid + 1000, "progress", {"progress": 99})  # not a request in flight
    conn.event(rid, "progress", {"progress": 1, "total": 2, "message": "half"})
    conn.event(rid, "bogus", {"x": 1})  # an event name the client does not know
    conn.event(rid, "message", {"level": "info", "logger": "fx", "data": "step"})
    conn.event(rid, "progress", {"progress": 2, "total": 2})
    conn.reply(rid, DONE)


@both
def test_progress_and_message_events_reach_their_callbacks_before_the_result(fake, call):
    f = fake(events_then_reply)
    seen = []
    r = call(f.sock, "alice", "fx", "progress", {"steps": 2},
             on_progress=lambda p: seen.append(("progress", p)),
             on_message=lambda m: seen.append(("message", m)))
    assert r == DONE
    assert seen == [("progress", {"progress": 1, "total": 2, "message": "half"}),
                    ("message", {"level": "info", "logger": "fx", "data": "step"}),
                    ("progress", {"progress": 2, "total": 2})]
    assert f.requests("call")[0][3]["events"] is True


def test_async_callbacks_may_be_coroutines(fake):
    f = fake(events_then_reply)
    seen = []

    async def on_progress(p):
        await asyncio.sleep(0)
        seen.append(p["progress"])
    assert async_call(f.sock, "alice", "fx", "progress", on_progress=on_progress) == DONE
    assert seen == [1, 2]


@both
def test_events_are_asked_for_only_with_a_callback(fake, call):
    f = fake(events_then_reply)
    assert call(f.sock, "alice", "fx", "echo", {"message": "x"}) == DONE
    assert "events" not in f.requests("call")[0][3]


@both
def test_a_version_1_daemon_is_not_asked_for_events(fake, call):
    f = fake(lambda c, m: c.reply(m[1], DONE), version=1)
    assert call(f.sock, "alice", "fx", "echo", on_progress=print) == DONE
    assert f.requests("hello")[0][3]["version"] == 2
    assert "events" not in f.requests("call")[0][3]


def progress_every(interval, n):
    def handler(conn, msg):
        if msg[0] != 0:
            return
        for i in range(n):
            time.sleep(interval)
            conn.event(msg[1], "progress", {"progress": i + 1})
        conn.reply(msg[1], DONE)
    return handler


@both
def test_progress_restarts_the_clients_deadline(fake, call):
    # Each gap (0.3 s) is well within the wait (0.5 s + 0.5 s grace); the whole (2.1 s) is not.
    f = fake(progress_every(0.3, 7))
    assert call(f.sock, "alice", "fx", "progress", timeout=0.5, on_progress=lambda p: None) == DONE
    assert f.requests("call")[0][3]["timeout_ms"] == 500


def silent(conn, msg):
    pass


@both
def test_no_answer_within_the_timeout_raises_timeout_and_sends_cancel(fake, call):
    f = fake(silent)
    t0 = time.monotonic()
    with pytest.raises(mcppool.McpPoolError) as e:
        call(f.sock, "alice", "fx", "sleep", {"ms": 100000}, timeout=0.2)
    assert e.value.code == "TIMEOUT"
    assert 0.6 < time.monotonic() - t0 < 5
    rid = f.requests("call")[0][1]
    f.wait_for(lambda m: m == [2, "cancel", {"id": rid}])


def test_an_id_0_error_is_noted_and_loses_no_request(fake):
    def handler(conn, msg):
        conn.reply(0, error={"code": "BAD_REQUEST", "message": "frame of 99 bytes is too big"})
        conn.reply(msg[1], DONE)
    f = fake(handler)
    with mcppool.Pool(f.sock) as p:
        assert p.call("alice", "fx", "echo") == DONE
        assert p.last_error.code == "BAD_REQUEST"
        assert p.call("alice", "fx", "echo") == DONE
    assert len(f.conns) == 1


def test_async_an_id_0_error_is_noted_and_loses_no_request(fake):
    f = fake(lambda c, m: (c.reply(0, error={"code": "BAD_REQUEST", "message": "x"}),
                           c.reply(m[1], DONE)))

    async def main():
        async with mcppool.AsyncPool(f.sock) as p:
            assert await p.call("alice", "fx", "echo") == DONE
            assert p.last_error.code == "BAD_REQUEST"
    asyncio.run(main())


def oversized_once(conn, msg):
    if not hasattr(conn, "broke"):
        conn.broke = True
        conn.send_raw(struct.pack(">I", 2000) + b"\x00" * 10)  # above maxFrame 1024
    else:
        conn.reply(msg[1], DONE)


def test_a_frame_over_the_limit_breaks_the_connection_and_the_next_call_reconnects(fake):
    f = fake(oversized_once, max_frame=1024)
    with mcppool.Pool(f.sock) as p:
        with pytest.raises(mcppool.McpPoolError) as e:
            p.call("alice", "fx", "echo")
        assert e.value.code == "PROTOCOL"
        assert "2000" in e.value.message
        # Another FakeConn: a fresh connection, which has not "broke" yet.
        f.handler = lambda c, m: c.reply(m[1], DONE)
        assert p.call("alice", "fx", "echo") == DONE
    assert len(f.conns) == 2


def test_async_a_frame_over_the_limit_breaks_the_connection_and_the_next_call_reconnects(fake):
    f = fake(oversized_once, max_frame=1024)

    async def main():
        async with mcppool.AsyncPool(f.sock) as p:
            with pytest.raises(mcppool.McpPoolError) as e:
                await p.call("alice", "fx", "echo")
            assert e.value.code == "PROTOCOL"
            f.handler = lambda c, m: c.reply(m[1], DONE)
            assert await p.call("alice", "fx", "echo") == DONE
    asyncio.run(main())
    assert len(f.conns) == 2


@both
def test_a_daemon_that_closes_mid_frame_is_a_protocol_error(fake, call):
    def handler(conn, msg):
        conn.send_raw(struct.pack(">I", 100) + b"\x93")
        conn.close()
    f = fake(handler)
    with pytest.raises(mcppool.McpPoolError) as e:
        call(f.sock, "alice", "fx", "echo")
    assert e.value.code == "PROTOCOL"


@both
def test_the_daemons_max_frame_bounds_what_is_sent(fake, call):
    f = fake(lambda c, m: c.reply(m[1], DONE), max_frame=1024)
    with pytest.raises(mcppool.McpPoolError) as e:
        call(f.sock, "alice", "fx", "echo", {"message": "x" * 2000})
    assert e.value.code == "BAD_REQUEST"
    assert f.requests("call") == []


@both
def test_a_refused_hello_raises_its_code(fake, call):
    f = fake(silent, hello_error={"code": "UNSUPPORTED_VERSION", "message": "no"})
    with pytest.raises(mcppool.McpPoolError) as e:
        call(f.sock, "alice", "fx", "echo")
    assert e.value.code == "UNSUPPORTED_VERSION"


@both
def test_an_input_required_result_is_returned_and_its_retry_carries_the_answers(fake, call):
    pending = {"resultType": "input_required", "requestState": "st-1",
               "inputRequests": {"q1": {"method": "elicitation/create", "params": {}}}}

    def handler(conn, msg):
        p = msg[3]
        conn.reply(msg[1], DONE if p.get("requestState") == "st-1" else pending)
    f = fake(handler)
    assert call(f.sock, "alice", "fx", "ask") == pending
    answers = {"q1": {"action": "accept", "content": {"ok": True}}}
    assert call(f.sock, "alice", "fx", "ask", input_responses=answers,
                request_state="st-1") == DONE
    retry = f.requests("call")[1][3]
    assert retry["inputResponses"] == answers
    assert retry["requestState"] == "st-1"


@both
def test_an_error_code_this_client_does_not_know_is_kept(fake, call):
    f = fake(lambda c, m: c.reply(m[1], error={"code": "NEW_CODE", "message": "m", "data": 1}))
    with pytest.raises(mcppool.McpPoolError) as e:
        call(f.sock, "alice", "fx", "echo")
    assert (e.value.code, e.value.message, e.value.data) == ("NEW_CODE", "m", 1)


def test_a_refused_connection_raises_too_many_clients_not_not_connected(fake):
    why = "mcppoold serves at most 1 client connections (MCPPOOL_MAX_CLIENTS)"
    f = fake(None, refuse={"code": "TOO_MANY_CLIENTS", "message": why})
    with pytest.raises(mcppool.McpPoolError) as e:
        mcppool.Pool(f.sock)
    assert (e.value.code, e.value.message) == (mcppool.TOO_MANY_CLIENTS, why)

    async def main():
        await mcppool.AsyncPool.connect(f.sock)
    with pytest.raises(mcppool.McpPoolError) as e:
        asyncio.run(main())
    assert (e.value.code, e.value.message) == (mcppool.TOO_MANY_CLIENTS, why)
