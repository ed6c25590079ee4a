"""The blocking Pool against the real daemon."""
import asyncio
import os
import threading
import time

import pytest

import mcppool
from conftest import fixture_stats, text, wait_until


@pytest.fixture(scope="module")
def pool(daemon):
    with mcppool.Pool(daemon.sock) as p:
        yield p


def test_call_returns_the_tool_result_as_a_dict(pool):
    r = pool.call("alice", "fx", "echo", {"message": "hello"})
    assert r == {"content": [{"type": "text", "text": "hello"}]}


def test_call_without_args_sends_none(pool):
    assert text(pool.call("alice", "fx", "count")).isdigit()


def test_a_tool_failure_is_a_result_with_is_error(pool):
    r = pool.call("alice", "fx", "fail")
    assert r["isError"] is True
    assert text(r) == "requested failure"


def test_auth_reaches_the_server_through_the_catalog(pool):
    r = pool.call("bob", "fx-auth", "getenv", {"name": "FX_TOKEN"}, auth={"token": "s3cret"})
    assert r["structuredContent"] == {"name": "FX_TOKEN", "value": "s3cret"}


def test_request_sends_any_mcp_method(pool):
    assert pool.request("alice", "fx", "ping") == {}
    r = pool.request("alice", "fx", "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    assert text(r) == "5"


def test_tools_lists_the_servers_tools(pool):
    names = [t["name"] for t in pool.tools("alice", "fx")["tools"]]
    assert {"echo", "sleep", "stats", "progress"} <= set(names)


def test_warm_opens_the_connection_and_says_what_the_server_is(pool):
    r = pool.warm("carol", "fx")
    assert r["key"] == "carol:fx"
    assert r["pid"] > 0
    assert r["server"]["serverInfo"]["name"] == "fx"
    assert pool.warm("carol", "fx")["reused"] is True


def test_evict_closes_the_users_connections(pool):
    pool.warm("dave", "fx")
    assert pool.evict("dave", "fx") == {"evicted": 1}
    pool.warm("dave", "fx")
    assert pool.evict("dave") == {"evicted": 1}
    assert pool.evict("dave") == {"evicted": 0}


def test_pool_status_lists_the_connections(pool):
    pool.warm("erin", "fx")
    st = pool.pool_status()
    assert st["userConnectionCounts"]["erin"] == 1
    assert "erin:fx" in [c["key"] for c in st["connectionDetails"]]
    assert set(st["config"]) == {"maxConnectionsPerUser", "maxTotalConnections",
                                 "connectionTimeout", "cleanupInterval"}


def test_cleanup_reports_before_and_after(pool):
    r = pool.cleanup()
    assert r["message"] == "Cleanup completed"
    assert r["cleanedConnections"] == 0
    assert r["before"]["totalConnections"] == r["after"]["totalConnections"]


def test_servers_lists_the_catalog(pool):
    s = {e["name"]: e for e in pool.servers()["servers"]}
    assert s["fx-auth"]["authKeys"] == ["token"]
    assert s["fx"]["transport"] == "stdio"


def test_metrics_is_prometheus_text(pool):
    t = pool.metrics()
    assert isinstance(t, str)
    assert "# TYPE mcppool_connections" in t


def test_unknown_mcp_raises_its_code(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("alice", "nope", "echo", {"message": "x"})
    assert e.value.code == mcppool.UNKNOWN_MCP == "UNKNOWN_MCP"
    assert "nope" in e.value.message


def test_missing_auth_raises_auth_invalid(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("bob", "fx-auth", "echo", {"message": "x"})
    assert e.value.code == "AUTH_INVALID"
    assert "token" in e.value.message


def test_a_json_rpc_error_raises_upstream_error_with_its_data(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("alice", "fx", "error", {"code": -32042, "message": "nope"})
    assert e.value.code == "UPSTREAM_ERROR"
    assert e.value.data["code"] == -32042
    assert e.value.data["message"] == "nope"
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("alice", "fx", "error")
    assert e.value.data == {"code": -32000, "message": "requested error",
                            "data": {"detail": "fixture"}}


def test_a_bad_param_raises_bad_request(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("a:b", "fx", "echo")
    assert e.value.code == "BAD_REQUEST"


def test_an_unencodable_argument_raises_bad_request_and_sends_nothing(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("alice", "fx", "echo", {"message": object()})
    assert e.value.code == "BAD_REQUEST"
    assert text(pool.call("alice", "fx", "echo", {"message": "still fine"})) == "still fine"


def test_a_timeout_gets_upstream_timeout_and_cancels_the_server_side(pool):
    before = fixture_stats(pool, "tim")["cancelNotices"]
    t0 = time.monotonic()
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("tim", "fx", "sleep", {"ms": 10000}, timeout=0.3)
    assert e.value.code in ("UPSTREAM_TIMEOUT", "TIMEOUT")
    assert time.monotonic() - t0 < 5
    wait_until(lambda: fixture_stats(pool, "tim")["cancelNotices"] == before + 1,
               what="the server's cancel notice")


def test_timeout_ms_is_the_same_deadline_in_milliseconds(pool):
    with pytest.raises(mcppool.McpPoolError) as e:
        pool.call("tim", "fx", "sleep", {"ms": 10000}, timeout_ms=200)
    assert e.value.code in ("UPSTREAM_TIMEOUT", "TIMEOUT")
    with pytest.raises(ValueError):
        pool.call("tim", "fx", "echo", timeout=1, timeout_ms=1000)


def test_threads_share_one_pool_and_each_gets_its_own_reply(pool):
    results, errors = {}, []

    def worker(t):
        try:
            for i in range(10):
                msg = f"t{t}-{i}"
                r = pool.call(f"user{t % 3}", "fx", "sleep",
                              {"ms": (t * 7 + i * 3) % 20, "message": msg})
                results[msg] = r["structuredContent"]["message"]
        except Exception as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert len(results) == 80
    assert all(k == v for k, v in results.items())


def test_close_fails_calls_in_flight_with_cancelled(daemon):
    p = mcppool.Pool(daemon.sock)
    box = []
    th = threading.Thread(target=lambda: box.append(_catch(
        lambda: p.call("zed", "fx", "sleep", {"ms": 10000}))))
    th.start()
    wait_until(lambda: any(c["key"] == "zed:fx" and c["inFlight"] == 1
                           for c in p.pool_status()["connectionDetails"]),
               what="the call in flight")
    p.close()
    th.join(10)
    assert box[0].code == "CANCELLED"
    with pytest.raises(mcppool.McpPoolError) as e:
        p.call("zed", "fx", "echo", {"message": "x"})
    assert e.value.code == "NOT_CONNECTED"


def _catch(fn):
    try:
        return fn()
    except mcppool.McpPoolError as e:
        return e


def test_a_frame_over_the_daemons_limit_is_refused_before_sending(make_daemon):
    d = make_daemon(env={"MCPPOOL_MAX_FRAME": "65536"})
    with mcppool.Pool(d.sock) as p:
        with pytest.raises(mcppool.McpPoolError) as e:
            p.call("alice", "fx", "echo", {"message": "x" * 70000})
        assert e.value.code == "BAD_REQUEST"
        assert "65536" in e.value.message
        assert text(p.call("alice", "fx", "echo", {"message": "x" * 60000})) == "x" * 60000
        assert p.last_error is None  # the daemon never saw it (it answers one with id 0)


def test_an_unreachable_daemon_raises_not_connected(tmp_path):
    with pytest.raises(mcppool.McpPoolError) as e:
        mcppool.Pool(str(tmp_path / "none.sock"))
    assert e.value.code == "NOT_CONNECTED"
    p = mcppool.Pool(str(tmp_path / "none.sock"), connect=False)
    with pytest.raises(mcppool.McpPoolError) as e:
        p.pool_status()
    assert e.value.code == "NOT_CONNECTED"


def test_a_forked_child_gets_its_own_connection_and_leaves_the_parents_alone(pool):
    assert text(pool.call("alice", "fx", "echo", {"message": "parent"})) == "parent"
    pid = os.fork()
    if pid == 0:  # never return into pytest from here
        ok = False
        try:
            ok = text(pool.call("alice", "fx", "echo", {"message": "child"})) == "child"
            pool.close()
        except BaseException:
            pass
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert text(pool.call("alice", "fx", "echo", {"message": "parent again"})) == "parent again"


def test_a_client_over_the_real_daemons_limit_gets_too_many_clients(make_daemon):
    d = make_daemon(env={"MCPPOOL_MAX_CLIENTS": "1"})

    def admitted():  # the daemon may not yet have seen the close of its readiness probe
        try:
            return mcppool.Pool(d.sock)
        except mcppool.McpPoolError as e:
            assert e.code == mcppool.TOO_MANY_CLIENTS, e.message
            return None
    with wait_until(admitted, what="the one client to be let in") as first:
        first.call("alice", "fx", "echo", {"message": "in"})
        for _ in range(20):
            with pytest.raises(mcppool.McpPoolError) as e:
                mcppool.Pool(d.sock)
            assert e.value.code == mcppool.TOO_MANY_CLIENTS, e.value.message
            assert "MCPPOOL_MAX_CLIENTS" in e.value.message

        async def refused():
            await mcppool.AsyncPool.connect(d.sock)
        for _ in range(20):
            with pytest.raises(mcppool.McpPoolError) as e:
                asyncio.run(refused())
            assert e.value.code == mcppool.TOO_MANY_CLIENTS, e.value.message
