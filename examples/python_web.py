#!/usr/bin/env python3
"""Example: a small web handler that calls a user's MCP tool through the pool.

Standard library only (http.server), plus the mcppool package: one Pool is
shared by every request thread, and all of them go over one socket.

    GET  /call/USER/MCP/TOOL?name=value...   string arguments from the query
    POST /call/USER/MCP/TOOL                 arguments as a JSON object body
    "Authorization: Bearer T" is passed as the auth value "token".

The answer is the tool's CallToolResult as JSON, or {"code", "message",
"data"?} with an HTTP status for the pool's error. A real app takes the user from its own
session, never from the URL.

Run it against `make run` (from the top of the source tree):

    PYTHONPATH=client/python/src python3 examples/python_web.py \
        --socket build/demo/mcppool.sock --port 8080
    curl 'http://127.0.0.1:8080/call/alice/demo/echo?message=hello'
    # {"content": [{"type": "text", "text": "hello"}]}
    curl -H 'Authorization: Bearer s3cret' -d '{"name":"DEMO_TOKEN"}' \
        http://127.0.0.1:8080/call/bob/demo-auth/getenv
    # {"content": [{"type": "text", "text": "s3cret"}], "structuredContent": {...}}

python3 is Debian's, with python3-msgpack (or pip install ./client/python).
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import mcppool

# The HTTP status for each error code; anything else is a 502 (the server behind failed).
STATUS = {
    "BAD_REQUEST": 400, "AUTH_INVALID": 401, "AUTH_REQUIRED": 401, "FORBIDDEN": 403,
    "UNKNOWN_MCP": 404,
    "POOL_EXHAUSTED": 503, "SHUTTING_DOWN": 503, "NOT_CONNECTED": 503,
    "UPSTREAM_TIMEOUT": 504, "TIMEOUT": 504,
}


class Handler(BaseHTTPRequestHandler):
    pool = None  # set by main(): one Pool for every thread

    def do_GET(self):
        url = urlsplit(self.path)
        self.call(url.path, dict(parse_qsl(url.query)))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            args = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return self.answer(400, {"code": "BAD_REQUEST", "message": "the body is not JSON"})
        self.call(urlsplit(self.path).path, args)

    def call(self, path, args):
        parts = [unquote(p) for p in path.split("/")[1:]]
        if len(parts) != 4 or parts[0] != "call":
            return self.answer(404, {"code": "NOT_FOUND", "message": "use /call/USER/MCP/TOOL"})
        _, user, mcp, tool = parts
        bearer = self.headers.get("Authorization", "")
        auth = {"token": bearer[7:]} if bearer.startswith("Bearer ") else None
        try:
            result = self.pool.call(user, mcp, tool, args, auth=auth, timeout=30)
        except mcppool.McpPoolError as e:
            body = {"code": e.code, "message": e.message}
            if e.data is not None:  # AUTH_REQUIRED: the challenge, to start the OAuth flow
                body["data"] = e.data
            return self.answer(STATUS.get(e.code, 502), body)
        self.answer(200, result)

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("python_web: " + fmt % args + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", help="the daemon's socket (default: as libmcppool resolves it)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0: any free port")
    opts = ap.parse_args()
    # connect=False: the app starts even while the daemon does not run yet.
    Handler.pool = mcppool.Pool(opts.socket, connect=False)
    server = ThreadingHTTPServer((opts.host, opts.port), Handler)
    print(f"listening on http://{opts.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        Handler.pool.close()


if __name__ == "__main__":
    main()
