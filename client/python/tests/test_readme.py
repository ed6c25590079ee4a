"""The README's "From Python" example runs, against the catalog of `make run`."""
import os
import re
import subprocess
import sys

from conftest import PKG, binary


def demo_catalog(fixture):
    # As scripts/run-demo.sh writes it.
    return {"mcpServers": {
        "demo": {"command": fixture, "args": ["--name", "demo"]},
        "demo-auth": {"command": fixture, "args": ["--name", "demo-auth"],
                      "env": {"DEMO_TOKEN": "${auth.token}"}},
    }}


def test_the_from_python_example_prints_what_its_comments_say(make_daemon, tmp_path):
    d = make_daemon(servers=demo_catalog(binary("mcp-fixture")))
    with open(os.path.join(PKG, "README.md")) as f:
        code = re.search(r"## From Python.*?```python\n(.*?)```", f.read(), re.S).group(1)
    assert 'SOCK = "build/demo/mcppool.sock"' in code
    script = tmp_path / "example.py"
    script.write_text(code.replace("build/demo/mcppool.sock", d.sock))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, PYTHONPATH=os.path.join(PKG, "src")))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # The daemon's UPSTREAM_TIMEOUT, unless it was more than 0.5 s late (a loaded machine).
    assert lines[2] in ("UPSTREAM_TIMEOUT", "TIMEOUT")
    assert lines[:2] + lines[3:] == ["hello", "s3cret", str([str(2 * i) for i in range(10)])]
