"""`pip install` of the package works offline, with Debian's setuptools."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import PKG


def test_pip_install_offline_into_a_target_dir(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("pip is not installed (Debian: python3-pip)")
    # A copy, so that the in-tree build leaves nothing in the source tree.
    src = tmp_path / "src"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns(
        "tests", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = tmp_path / "target"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    check = ("import mcppool, sys; print(mcppool.__file__); print(mcppool.__version__); "
             "print(mcppool.Pool, mcppool.AsyncPool, mcppool.McpPoolError)")
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                       cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(target)))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(str(target))
    assert lines[1] == "0.1.0"
    assert (target / "mcppool" / "py.typed").exists()
