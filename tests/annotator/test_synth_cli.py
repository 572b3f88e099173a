"""The corpus command line: build from a config file with overrides, preview, score, rendered frames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_synth_preview_and_score(tmp_path, standin_paths):
    out = tmp_path / "corpus"
    res = _run("-m", "annotator", "synth", "--config", str(CONFIGS / "annotator" / "synth_mocap.yaml"),
               "--identities", "3", "--sequences", "1", "--frames", "30", "--out", str(out),
               "--model", str(standin_paths.pkl))
    assert res.returncode == 0, res.stderr
    assert (out / "corpus.json").is_file() and len((out / "manifest.jsonl").read_text().splitlines()) == 3
    png = tmp_path / "preview.png"
    res = _run("-m", "annotator", "preview", "--corpus", str(out), "--out", str(png), "--times", "3", "--size", "96")
    assert res.returncode == 0, res.stderr
    assert iio.imread(png).shape[1] > 3 * 96
    res = _run("-m", "eval", "score", "--corpus", str(out), "--pred", "gt", "--out", str(tmp_path / "scores"))
    assert res.returncode == 0, res.stderr
    assert "mean" in res.stdout and (tmp_path / "scores" / "scores.csv").is_file()
    res = _run("-m", "annotator", "synth", "--domain", "lab", "--identites", "2", "--out", str(tmp_path / "x"))
    assert res.returncode != 0 and "identites" in res.stderr  # a typo fails loudly


def test_rendered_frames(tmp_path, standin_paths):
    from annotator.capture import Capture
    from annotator.synthetic.builder import SynthConfig, build_corpus

    out = build_corpus(SynthConfig(domain="wild", identities=1, sequences=1, frames=12, out=str(tmp_path / "c"),
                                   model=str(standin_paths.pkl), image_size=128, render=True), progress=False)
    seq = next(out.rglob("capture.npz")).parent
    cap = Capture.load(seq / "capture.npz")
    frames = np.stack(list(iio.imiter(seq / str(cap.videos[0]))))
    assert frames.shape == (12, 128, 128, 3)
    # the face is drawn where the landmarks are: mostly skin-coloured pixels under the inner face points
    hits = []
    for t in np.nonzero(cap.valid[0])[0]:
        xy = cap.landmarks[0, t, 17:48, :2].round().astype(int).clip(0, 127)
        px = frames[t, xy[:, 1], xy[:, 0]].astype(int)
        hits.append(np.mean(px[:, 0] > px[:, 2] + 15))
    assert np.mean(hits) > 0.8, hits
