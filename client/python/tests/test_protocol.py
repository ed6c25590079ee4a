"""The wire protocol's pieces, without a socket."""
import struct

import msgpack
import pytest

from mcppool import McpPoolError
from mcppool import _protocol as P


def frame(obj):
    payload = msgpack.packb(obj)
    return struct.pack(">I", len(payload)) + payload


def test_frames_split_anywhere_are_put_back_together():
    data = frame([1, 1, None, {"a": 1}]) + frame([3, 2, "progress", {"progress": 1}])
    r = P.FrameReader()
    got = []
    for i in range(len(data)):
        got += r.feed(data[i:i + 1])
    assert got == [[1, 1, None, {"a": 1}], [3, 2, "progress", {"progress": 1}]]
    assert not r.mid_frame()


@pytest.mark.parametrize("data,why", [
    (struct.pack(">I", 0), "empty"),
    (struct.pack(">I", 2048) + b"\x00", "above the limit of 1024"),
    (struct.pack(">I", 2) + b"\x01\x02", "undecodable"),  # two objects
    (struct.pack(">I", 1) + b"\xc1", "undecodable"),  # never used byte
])
def test_a_broken_frame_is_a_protocol_error(data, why):
    with pytest.raises(McpPoolError) as e:
        P.FrameReader(1024).feed(data)
    assert e.value.code == "PROTOCOL"
    assert why in e.value.message


def test_pack_frame_refuses_what_is_too_big_or_not_encodable():
    assert P.pack_frame([0, 1, "x", {}], 1024)[:4] == struct.pack(">I", 6)
    with pytest.raises(McpPoolError) as e:
        P.pack_frame([0, 1, "x", {"s": "y" * 2000}], 1024)
    assert e.value.code == "BAD_REQUEST"
    with pytest.raises(McpPoolError) as e:
        P.pack_frame([0, 1, "x", {"n": 2 ** 70}], 1024)
    assert e.value.code == "BAD_REQUEST"


def test_timeouts_are_sent_in_whole_milliseconds_within_the_protocols_range():
    assert P.op_call(None, "u", "m", "t", timeout=0.0001).params["timeout_ms"] == 1
    assert P.op_call(None, "u", "m", "t", timeout=1.5).params["timeout_ms"] == 1500
    assert P.op_call(None, "u", "m", "t", timeout=1e9).params["timeout_ms"] == 2147483647
    assert P.op_call(None, "u", "m", "t", timeout_ms=250).params["timeout_ms"] == 250
    assert P.op_call(2.0, "u", "m", "t").params["timeout_ms"] == 2000
    assert "timeout_ms" not in P.op_call(None, "u", "m", "t").params
    with pytest.raises(ValueError):
        P.op_call(None, "u", "m", "t", timeout=0)


def test_hello_accepts_only_versions_it_speaks_and_believes_a_sane_max_frame():
    assert P.hello_result({"version": 2, "maxFrame": 4096}) == (2, 4096)
    assert P.hello_result({"version": 1, "maxFrame": 10}) == (1, P.FRAME_DEFAULT_MAX)
    with pytest.raises(McpPoolError):
        P.hello_result({"version": 3})
