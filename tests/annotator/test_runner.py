"""The corpus runner: manifest, resume, shards, isolation of bad inputs, a run killed and resumed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from annotator.neuface import AnnotateConfig
from annotator.runner import RunConfig, discover_jobs, run
from flame.sequence import FlameSequence

pytestmark = pytest.mark.slow  # annotation runs with the pretrained encoder


def _cfg(inp, out, standin_paths, encoder_cache, **kw) -> RunConfig:
    from annotator.pretrain import PretrainConfig

    optimizes = kw.get("method", "neuface") != "regress"
    return RunConfig(input=str(inp), output=str(out), model=str(standin_paths.pkl), encoder_cache=str(encoder_cache),
                     annotate=AnnotateConfig(epochs=2) if optimizes else AnnotateConfig(),
                     pretrain=PretrainConfig(steps=500, batch=128), **kw)


def _manifest(out):
    return [json.loads(x) for f in sorted(out.glob("manifest*.jsonl")) for x in f.read_text().splitlines()]


def test_corpus_run_resume_and_shards(tiny_corpus, tmp_path, standin_paths, layer32_small_encoder):
    cache = layer32_small_encoder[3]
    wild = tiny_corpus["wild"]
    out = tmp_path / "out"
    entries = run(_cfg(wild, out, standin_paths, cache, method="regress"), progress=False)
    assert [e["status"] for e in entries] == ["done"] * 3
    for e in entries:
        seq = FlameSequence.load(out / e["output"])
        assert seq.metadata["method"] == "regress" and e["output"].startswith("test/")
    stamp = {e["id"]: (out / e["output"]).stat().st_mtime_ns for e in entries}
    assert run(_cfg(wild, out, standin_paths, cache, method="regress"), progress=False) == []  # resume: all done
    assert all((out / e["output"]).stat().st_mtime_ns == stamp[e["id"]] for e in entries)
    shard_out = tmp_path / "shards"
    ids = []
    for i in range(2):
        ids.append({e["id"] for e in run(_cfg(wild, shard_out, standin_paths, cache, method="regress", shard=f"{i}/2"),
                                         progress=False)})
    assert not ids[0] & ids[1] and ids[0] | ids[1] == set(stamp)
    assert len(list(shard_out.glob("manifest.shard-*-of-2.jsonl"))) == 2
    with pytest.raises(ValueError, match="i/n"):
        run(_cfg(wild, shard_out, standin_paths, cache, shard="3"), progress=False)


def test_multiview_neuface_run_with_visuals(tiny_corpus, tmp_path, standin_paths, layer32_small_encoder):
    cache = layer32_small_encoder[3]
    out = tmp_path / "lab"
    entries = run(_cfg(tiny_corpus["lab"], out, standin_paths, cache, overlay=True, mesh_frames=[0, 3]), progress=False)
    assert all(e["status"] == "done" for e in entries) and entries[0]["views"] == 7
    assert "lmk" in entries[0]["losses"] and entries[0]["fit_seconds"] > 0
    assert len(list((out / "overlays").glob("*.mp4"))) == 14
    objs = sorted((out / "meshes").rglob("*.obj"))
    assert len(objs) == 4


def test_bad_inputs_are_isolated(face_videos, tmp_path, standin_paths, layer32_small_encoder):
    cache = layer32_small_encoder[3]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("face.mp4", "gap.mp4", "noface.mp4", "broken.mp4"):
        shutil.copy(face_videos / name, inputs / name)
    shutil.copytree(face_videos / "multiview_bad", inputs / "multiview_bad")
    jobs = {j.id: j.kind for j in discover_jobs(inputs)}
    assert jobs == {"broken": "video", "face": "video", "gap": "video", "noface": "video", "multiview_bad": "folder"}
    out = tmp_path / "out"
    entries = {e["id"]: e for e in run(_cfg(inputs, out, standin_paths, cache, overlay=True), progress=False)}
    assert entries["face"]["status"] == "done" and entries["face"]["valid_fraction"] == 1.0
    assert entries["gap"]["status"] == "done"
    gap = FlameSequence.load(out / entries["gap"]["output"])
    assert gap.n_frames == 24 and not gap.valid[0, 8:14].any() and gap.valid[0, :8].all()  # kept and flagged
    assert np.isfinite(gap.pose).all()  # parameters exist for the frames without a face
    assert entries["noface"]["status"] == "failed" and "no face was detected" in entries["noface"]["error"]
    assert entries["broken"]["status"] == "failed" and "cannot read" in entries["broken"]["error"]
    assert entries["multiview_bad"]["status"] == "failed" and "different lengths" in entries["multiview_bad"]["error"]
    assert (out / "overlays" / "face_front.mp4").is_file()
    # truncation is explicit
    fixed = run(_cfg(face_videos / "multiview_bad", tmp_path / "mv", standin_paths, cache, truncate=True), progress=False)
    assert fixed[0]["status"] == "done" and fixed[0]["frames"] == 9 and fixed[0]["views"] == 2


def test_quality_gate_rejects_faceless_sequences(tiny_corpus, tmp_path, standin_paths, layer32_small_encoder):
    cache = layer32_small_encoder[3]
    entries = run(_cfg(tiny_corpus["wild"], tmp_path / "q", standin_paths, cache, max_failed_fraction=-1.0),
                  progress=False)
    assert entries and all(e["status"] == "rejected" and "too_many_failed_frames" in e["flags"][0] for e in entries)
    flagged = run(_cfg(tiny_corpus["wild"], tmp_path / "s", standin_paths, cache, max_shape_rms=0.0, drop_flagged=True,
                       method="regress"), progress=False)
    assert len(flagged) == len(entries) and all(
        e["status"] == "rejected" and "shape_out_of_distribution" in e["flags"][0] for e in flagged)
    assert not list((tmp_path / "s").rglob("*/*.npz"))


def test_killed_run_resumes_without_rewriting(tiny_corpus, tmp_path, standin_paths, layer32_small_encoder):
    cache = layer32_small_encoder[3]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "annotator", "run", "--input", str(tiny_corpus["wild"]), "--output", str(out),
           "--model", str(standin_paths.pkl), "--encoder_cache", str(cache), "--annotate.epochs", "40",
           "--pretrain.steps", "500", "--pretrain.batch", "128"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "manifest.jsonl").is_file():
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    first = _manifest(out)
    assert 1 <= len(first) < 3, "the run should be killed after its first sequence"
    kept = {e["id"]: (out / e["output"]).stat().st_mtime_ns for e in first}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    final = _manifest(out)
    assert sorted(e["id"] for e in final) == sorted({e["id"] for e in final}) and len(final) == 3
    for i, stamp in kept.items():
        assert (out / next(e["output"] for e in final if e["id"] == i)).stat().st_mtime_ns == stamp


def test_the_exit_status_says_whether_inputs_failed(face_videos, tmp_path, standin_paths, layer32_small_encoder, capsys):
    from annotator.__main__ import main

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(face_videos / "face.mp4", inputs / "face.mp4")
    shutil.copy(face_videos / "broken.mp4", inputs / "broken.mp4")
    shutil.copytree(face_videos / "multiview_bad", inputs / "multiview_bad")  # a folder of inputs, not one capture
    common = ["--model", str(standin_paths.pkl), "--encoder_cache", str(layer32_small_encoder[3]), "--method", "regress",
              "--pretrain.steps", "500", "--pretrain.batch", "128"]
    assert main(["run", "--input", str(inputs), "--output", str(tmp_path / "out"), *common]) == 1  # some failed
    captured = capsys.readouterr()
    assert "1 done, 0 rejected, 2 failed" in captured.out
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: broken: VideoError:") and "different lengths" in errors[1]
    assert main(["run", "--input", str(inputs / "face.mp4"), "--output", str(tmp_path / "one"), *common]) == 0
    assert main(["run", "--input", str(inputs / "broken.mp4"), "--output", str(tmp_path / "two"), *common]) == 2
