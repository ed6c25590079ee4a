"""examples/python_web.py answers HTTP requests with tool results from the pool."""
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import PKG, ROOT


@pytest.fixture(scope="module")
def web(daemon):
    p = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "examples", "python_web.py"),
         "--socket", daemon.sock, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, PYTHONPATH=os.path.join(PKG, "src")))
    line = p.stdout.readline()
    assert line.startswith("listening on "), line
    yield line.split()[-1]
    p.send_signal(signal.SIGINT)
    p.wait(10)
    p.stdout.close()


def fetch(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_get_calls_the_users_tool(web):
    status, body = fetch(web + "/call/alice/fx/echo?message=hello%20web")
    assert status == 200
    assert body == {"content": [{"type": "text", "text": "hello web"}]}


def test_post_sends_json_arguments_and_the_bearer_token_as_auth(web):
    status, body = fetch(web + "/call/bob/fx-auth/getenv",
                         json.dumps({"name": "FX_TOKEN"}).encode(),
                         {"Authorization": "Bearer s3cret", "Content-Type": "application/json"})
    assert status == 200
    assert body["structuredContent"]["value"] == "s3cret"


def test_a_pool_error_is_an_http_status_with_its_code(web):
    assert fetch(web + "/call/alice/nope/echo") == (
        404, {"code": "UNKNOWN_MCP", "message": 'no MCP server named "nope" in the catalog'})
    status, body = fetch(web + "/call/bob/fx-auth/echo?message=x")
    assert (status, body["code"]) == (401, "AUTH_INVALID")
