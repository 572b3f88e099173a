"""Every ``python -m <package>`` has one CLI style: a listed, described set of subcommands with typed
options, and the project's errors as one ``error:`` line with exit status 2, never a traceback."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from flame.cli import Command, main


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def _error_line(res: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line of a failed run (and nothing that looks like a traceback)."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


PACKAGES = {
    "flame": ["standin", "info", "convert", "showcase"],
    "annotator": ["synth", "run", "pretrain-encoder", "preview", "mediapipe-embedding"],
    "motionprior": ["fit", "validate", "test", "split", "pack", "sample"],
    "eval": ["bench", "score", "annotation-benchmark", "motion", "sample", "prior-benchmark", "inpainting", "real-gaps",
             "real-fidelity", "detectors", "dense-term"],
    "demos": ["quickstart", "app"],
}


def _import(module: str):
    import importlib

    return importlib.import_module(f"{module}.__main__")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_lists_its_commands(package, capsys):
    assert _import(package).main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m {package} ") and "commands:" in out
    for command, spec in _import(package).COMMANDS.items():
        assert f"  {command} " in out and spec.help in out
    assert list(_import(package).COMMANDS) == PACKAGES[package]


@pytest.mark.parametrize("package,command", [(p, c) for p, cs in PACKAGES.items() for c in cs])
def test_every_command_says_what_it_does(package, command, capsys):
    with pytest.raises(SystemExit) as stop:
        _import(package).main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "usage:" in out
    assert len(out.split("\n\n")[1].split()) >= 5  # a description of at least a few words under the usage


@pytest.mark.parametrize("package,argv", [("flame", ["standin", "--outt", "x"]), ("annotator", ["run", "--inputt", "x"]),
                                           ("eval", ["score", "--corpsu", "x"]), ("motionprior", ["sample", "--sampels", "3"])])
def test_a_typo_in_an_option_fails(package, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        _import(package).main(argv)
    assert stop.value.code == 2 and argv[1].lstrip("-") in capsys.readouterr().err


def test_unknown_commands_and_errors_are_one_line(capsys, monkeypatch):
    from flame.errors import InputError

    def broken(argv):
        raise InputError(f"clip.mp4: no face\nwas detected in {argv}")

    commands = {"ok": Command("does nothing", lambda argv: None), "broken": Command("fails", broken)}
    assert main("prog", "A test program.", commands, ["ok"]) == 0
    assert main("prog", "A test program.", commands, ["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
    assert main("prog", "A test program.", commands, ["broken", "x"]) == 2
    assert capsys.readouterr().err == "error: clip.mp4: no face was detected in ['x']\n"
    monkeypatch.setenv("NEUFACE_TRACEBACK", "1")
    with pytest.raises(InputError):
        main("prog", "A test program.", commands, ["broken"])


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


class _Evil:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned > /dev/null",)


def test_flame_info_refuses_a_malicious_pickle_in_one_line(tmp_path):
    evil = tmp_path / "generic_model.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Evil()}, protocol=2))
    line = _error_line(_run("-m", "flame", "info", str(evil)))
    assert "refusing to load" in line and "system" in line and str(evil) in line
    assert "file not found" in _error_line(_run("-m", "flame", "info", str(tmp_path / "nothing.pkl")))


def test_eval_score_refuses_a_truncated_sequence_in_one_line(standin_paths, tmp_path):
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from flame.layout import read_corpus

    corpus = build_corpus(SynthConfig(domain="wild", identities=1, sequences=1, frames=3, out=str(tmp_path / "c"),
                                      model=str(standin_paths.pkl), split_fractions=(0, 0, 1)), progress=False)
    seq = read_corpus(corpus).sequence()
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / f"{seq.id}.npz").write_bytes(seq.gt.read_bytes()[:300])  # cut short, as by a full disk
    line = _error_line(_run("-m", "eval", "score", "--corpus", str(corpus), "--pred", str(pred), "--out",
                            str(tmp_path / "scores")))
    assert f"{seq.id}.npz" in line and "not a FlameSequence file" in line


def test_annotator_run_refuses_a_file_that_is_not_a_video_in_one_line(tmp_path, standin_paths):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    line = _error_line(_run("-m", "annotator", "run", "--input", str(notes), "--output", str(tmp_path / "out")))
    assert "notes.txt" in line and "not a video" in line
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(np.random.default_rng(0).bytes(4096))
    res = _run("-m", "annotator", "run", "--input", str(fake), "--output", str(tmp_path / "out"), "--model",
               str(standin_paths.pkl))
    line = _error_line(res)  # every input failed: exit 2, and the manifest says why
    assert line.startswith("error: clip: VideoError:") and "cannot read this video" in line
    assert "0 done, 0 rejected, 1 failed" in res.stdout
