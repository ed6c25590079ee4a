#!/usr/bin/python3
"""Writes the seed corpora fuzz/corpus/NAME/ from the unit tests' inputs and the fixture's messages.

Run from the repository root after `make` (it starts build/mcp-fixture once):
    /usr/bin/python3 fuzz/seeds.py
Each corpus is replaced; files are named by a hash of their bytes.
"""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess

import msgpack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FILES = 40

# What the fixture is sent: a session touching every kind of reply it writes.
FIXTURE_INPUT = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "h\u00e9llo \"x\"\n\U0001f600"}}},
    {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1.5, "b": -2e3}}},
    {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "fail", "arguments": {}}},
    {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "error", "arguments": {"code": -32001, "message": "nope"}}},
    {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "progress", "arguments": {"steps": 2, "ms": 1, "log": True}, "_meta": {"progressToken": "tok-1"}}},
    {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "getenv", "arguments": {"name": "NOPE_X"}}},
    {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "sleep", "arguments": {"ms": 1, "message": "m"}}},
    {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "nosuch", "arguments": {}}},
    {"jsonrpc": "2.0", "id": 12, "method": "nosuch/method"},
    {"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": {"name": "ping_client", "arguments": {}}},
    {"jsonrpc": "2.0", "id": "srv-1", "result": {}},
    {"jsonrpc": "2.0", "id": 14, "method": "tools/call", "params": {"name": "stats", "arguments": {}}},
    {"jsonrpc": "2.0", "id": 15, "method": "tools/call", "params": {"name": "big", "arguments": {"bytes": 40}}},
]


def fixture_lines():
    """The lines the fixture writes for FIXTURE_INPUT (and the input lines themselves)."""
    sent = [json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in FIXTURE_INPUT]
    text = "\n".join(sent[:14]) + "\nnot json\n[1,2]\n"
    proc = subprocess.Popen([os.path.join(ROOT, "build/mcp-fixture")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdin.write(text.encode())
    proc.stdin.flush()
    out = []
    while True:  # ping_client asks us; answer it, then send the rest
        line = proc.stdout.readline()
        out.append(line.rstrip(b"\n"))
        if b'"srv-1"' in line:
            break
    proc.stdin.write(("\n".join(sent[14:]) + "\n").encode())
    proc.stdin.close()
    out += [l.rstrip(b"\n") for l in proc.stdout]
    proc.wait()
    return [s.encode() for s in sent] + [l for l in out if l]


def c_literal_groups(path):
    """Every run of adjacent C string literals in path, decoded to bytes."""
    src = open(path, encoding="utf-8").read()
    lit = r'"(?:[^"\\\n]|\\.)*"'
    groups = []
    for m in re.finditer(r'(?:%s\s*)+' % lit, src):
        data = b""
        for part in re.findall(lit, m.group(0)):
            data += c_unescape(part[1:-1])
        groups.append(data)
    return groups


def c_unescape(s):
    out, i, b = bytearray(), 0, s.encode("utf-8")
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("b"): 8, ord("f"): 12, ord("0"): 0,
              ord("\\"): 92, ord('"'): 34, ord("'"): 39, ord("a"): 7, ord("v"): 11}
    while i < len(b):
        if b[i] != 92:
            out.append(b[i])
            i += 1
        elif b[i + 1] == ord("x"):
            j = i + 2
            while j < len(b) and j < i + 4 and chr(b[j]) in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(b[i + 2:j], 16) & 0xFF)
            i = j
        elif chr(b[i + 1]) in "01234567" and i + 2 < len(b) and chr(b[i + 2]) in "01234567":
            j = i + 1
            while j < len(b) and j < i + 4 and chr(b[j]) in "01234567":
                j += 1
            out.append(int(b[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out.append(simple.get(b[i + 1], b[i + 1]))
            i += 2
    return bytes(out)


def pick(items, limit=MAX_FILES):
    """Up to limit distinct items, spread over the list, shortest first within a tie."""
    seen, uniq = set(), []
    for it in items:
        if it not in seen and len(it) <= 4096:
            seen.add(it)
            uniq.append(it)
    if len(uniq) <= limit:
        return uniq
    step = len(uniq) / limit
    return [uniq[int(k * step)] for k in range(limit)]


def write(name, items):
    d = os.path.join(ROOT, "fuzz/corpus", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in pick(items):
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def wire_messages():
    """Protocol messages (proto/PROTOCOL.md), well formed and not."""
    auth = {"token": "s3cret"}
    ok = [
        [0, 1, "hello", {"version": 1, "client": "mcpctl/0.1.0"}],
        [0, 1, "hello", {"version": 2, "client": "mcppool-node/0.1.0"}],
        [1, 1, None, {"version": 2, "server": "mcppoold/0.1.0", "maxFrame": 16777216}],
        [0, 2, "call", {"user": "alice", "mcp": "fixture", "tool": "echo", "arguments": {"message": "hi"}, "auth": auth, "timeout_ms": 5000}],
        [0, 3, "request", {"user": "bob", "mcp": "fixture", "method": "ping", "params": {}, "events": True}],
        [0, 4, "tools", {"user": "u", "mcp": "m", "cursor": "c1"}],
        [0, 5, "warm", {"user": "u", "mcp": "m"}],
        [0, 6, "evict", {"user": "u"}],
        [0, 7, "pool_status", {}],
        [1, 2, None, {"content": [{"type": "text", "text": "hi"}], "isError": False}],
        [1, 3, {"code": "UPSTREAM_ERROR", "message": "nope", "data": {"code": -32001, "message": "nope", "data": {"detail": "fixture"}}}, None],
        [1, 0, {"code": "BAD_REQUEST", "message": "frame of 20000000 bytes exceeds 16777216"}, None],
        [1, 9, {"code": "NOT_A_CODE", "message": "x"}, None],
        [2, "cancel", {"id": 2}],
        [3, 8, "progress", {"progress": 1, "total": 2, "message": "step 1"}],
        [3, 8, "message", {"level": "info", "logger": "fixture", "data": "step 1"}],
        [1, 10, None, {"f": 1.5, "neg": -1, "big": 2**64 - 1, "min": -2**63, "b": b"\x00\x01", "nested": [[[]], {}]}],
    ]
    out = [pack(m) for m in ok]
    out += [
        pack([0, 0, "call", {}]), pack([0, 1, "call"]), pack([0, 1, 5, {}]), pack([0, 1, "x", []]),
        pack([4, 1]), pack([]), pack({"a": 1}), pack([1, 1, 7, None]),
        b"\xc1", b"\x94\x00\x01", b"\x94\x00\x01\xa4hel", b"\x91\xc0\xc0", b"\xdd\xff\xff\xff\xff",
        b"\xdf\x7f\xff\xff\xff\x00", b"\xdb\xff\xff\xff\xff", b"\x91" * 65 + b"\xc0",
        b"\x91" * 33 + b"\xc0", b"\xca\x7f\xc0\x00\x00", b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01",
        b"\xd4\x01\x02", b"\xc7\x01\x05x", b"\xcf" + b"\xff" * 8, b"\xd3\x80" + b"\x00" * 7,
    ]
    return out


def main():
    lines = fixture_lines()
    json_lits = [g for g in c_literal_groups(os.path.join(ROOT, "tests/unit/test_jsontext.c"))
                 if 0 < len(g) <= 300 and not g.startswith(b"%")]
    parsed = []
    for t in lines + json_lits:
        try:
            parsed.append(json.loads(t))
        except ValueError:
            pass
    wire = wire_messages()

    frames = []
    for k, m in enumerate(wire[:20]):
        frames.append(bytes([0, k]) + struct.pack(">I", len(m)) + m)
    frames.append(bytes([0, 1]) + b"".join(struct.pack(">I", len(m)) + m for m in wire[:4]))
    frames.append(bytes([2, 3]) + struct.pack(">I", 40) + b"x" * 40 + struct.pack(">I", 3) + b"abc")
    frames.append(bytes([1, 0]) + b"\x00\x00\x00\x00" + struct.pack(">I", 1) + b"\xc0")
    frames.append(bytes([0, 9]) + b"\xff\xff\xff\xff" + b"y" * 10)
    frames.append(bytes([0, 0]) + b"\x00\x00\x00")
    write("frame", frames)
    write("wire", wire)

    write("jsontext_in", lines[:15] + json_lits)
    from_json = []
    for p in parsed:
        try:
            from_json.append(pack(p))
        except (OverflowError, ValueError):
            pass  # integers beyond 64 bits
    special = [
        b"\x82\xa1a\xc4\x01x\xa1a\x01",       # {"a": bin, "a": 1}: the overridden value counts
        b"\x83\xa1a\x01\xa1b\x02\xa1a\x03",     # repeated key
        b"\x81\xa1\x00\x05",                    # a key holding a NUL
        b"\xa3\xc0\x80x", b"\xa3\xed\xa0\x80",  # overlong, surrogate
        b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00",  # NaN
        b"\xca\x3f\xc0\x00\x00",                # float32 1.5
        b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",  # uint64 max
        b"\x81\x01\x02", b"\xd5\x01ab",
    ]
    write("jsontext_out", from_json[:28] + special)
    write("mpjson", [b"\x00" + m for m in (from_json[:12] + special)] +
          [b"\x01" + t for t in (lines[:6] + json_lits[:14])])
    write("jsonrpc", lines + [l for l in json_lits if l.lstrip().startswith(b"{")][:6])

    env_lits = [g for g in c_literal_groups(os.path.join(ROOT, "tests/unit/test_config.c"))
                if re.match(rb"^\s*(#|export |[A-Za-z_][A-Za-z0-9_]*\s*=)", g) and b"=" in g]
    env_lits.append(b"MCPPOOL_SOCKET_GROUP=root\nMCPPOOL_SERVERS=/etc/hostname\n"
                    b"MCPPOOL_LOG_LEVEL=debug\nMCPPOOL_CHILD_ENV=HOME,PATH\n")
    write("dotenv", env_lits)

    cat_lits = []
    for g in c_literal_groups(os.path.join(ROOT, "tests/unit/test_catalog.c")):
        if b"%" in g or not g.lstrip().startswith(b"{"):
            continue
        if b"mcpServers" in g:
            cat_lits.append(g)
        else:
            cat_lits.append(b'{"mcpServers": {"s": ' + g + b"}}")
    for path in ("tmp/me/build/demo/servers.json",):
        full = os.path.join(ROOT, path)
        if os.path.exists(full):
            cat_lits.append(open(full, "rb").read())
    write("catalog", cat_lits)

    # fuzz_sseparse: three bytes (max_data, chunk seed, event to stop at), then the stream.
    sse_lits = [g for g in c_literal_groups(os.path.join(ROOT, "tests/unit/test_sseparse.c"))
                if re.search(rb"(^|\n)(data|event|id|retry|:)", g)]
    sse_lits += [b"event: message\ndata: " + l + b"\n\n" for l in lines[14:20]]
    sse_lits += [b"id: 0\r\nretry: 99999999999\r\ndata: a\r\ndata:\r\n\r\n",
                 b"event: " + b"e" * 40 + b"\ndata: x\n\nid: " + b"i" * 300 + b"\ndata: y\n\n"]
    heads = [b"\x10\x05\x00", b"\x00\x07\x00", b"\x01\x2a\x02", b"\xff\x01\x01"]
    write("sseparse", [heads[k % len(heads)] + g for k, g in enumerate(sse_lits)])

    # fuzz_era: one byte (version, capabilities), then an app's params.
    era_lits = [g for g in c_literal_groups(os.path.join(ROOT, "tests/unit/test_era.c"))
                if g.lstrip()[:1] in (b"{", b"[")]
    era_lits += [json.dumps(m["params"]).encode() for m in FIXTURE_INPUT if "params" in m]
    era_lits += [b'{"supportedVersions":["2025-06-18","2026-07-28"]}', b'["2025-03-26","2024-11-05"]',
                 b'{"_meta":{"io.modelcontextprotocol/clientInfo":1},"_meta":{"a":[]}}',
                 b'{"\\u005fmeta":{"x":1},"n\\u0061me":"e"}']
    write("era", [bytes([k % 9]) + g for k, g in enumerate(era_lits)])

    # fuzz_httpauth: the header's value (its first byte's low bit: 401 or 403).
    write("httpauth", [
        b'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"',
        b'Bearer error="insufficient_scope", scope="files:read files:write", '
        b'error_description="needs \\"write\\""',
        b'Bearer realm=example,scope=a, error=invalid_token',
        b'Basic realm="x", Bearer realm="y"',
        b'Bearer, realm = "unterminated',
        b'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        b'bearer RESOURCE_METADATA=a REALM="b\\\\"',
        b'',
        b'Bearer \xc3\xa9=1, realm="\xff"',
    ])


if __name__ == "__main__":
    main()
