"""Every package runs as ``python -m <package>`` with a useful --help; the flame CLI works."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module,words", [
    ("flame", ["standin", "info", "convert", "showcase"]),
    ("annotator", ["Annotate", "FLAME"]),
    ("motionprior", ["HuMoR-Face"]),
    ("eval", ["bench"]),
    ("demos.quickstart", ["--config", "--out", "--size"]),
])
def test_help(module, words):
    res = _run("-m", module, "--help")
    assert res.returncode == 0, res.stderr
    for w in words:
        assert w in res.stdout


def test_flame_info_and_convert(standin_paths, tmp_path):
    res = _run("-m", "flame", "info", str(standin_paths.pkl))
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert "stand-in" in info["label"] and info["shape_components"] == 300 and info["landmark_embedding"] == "found"
    out = tmp_path / "dense.npz"
    res = _run("-m", "flame", "convert", str(standin_paths.pkl), str(out))
    assert res.returncode == 0, res.stderr
    from flame.model import load_model

    assert load_model(out).sha256 == info["sha256"]


def test_flame_cli_errors_are_clear(tmp_path):
    res = _run("-m", "flame", "info", str(tmp_path / "nothing.pkl"))
    assert res.returncode == 2 and "file not found" in res.stderr and "Traceback" not in res.stderr
