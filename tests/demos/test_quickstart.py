"""The quickstart writes the stand-in and renders it."""

from __future__ import annotations

import json

import imageio.v3 as iio

from demos.quickstart import CorpusSize, run_quickstart

TINY = dict(lab=CorpusSize(3, 1, 12), wild=CorpusSize(3, 1, 12))


def test_quickstart_small(tmp_path):
    summary = run_quickstart(out=str(tmp_path), size=64, fps=4, **TINY)
    assert "stand-in" in summary["model"]
    png, mp4 = tmp_path / "renders" / "showcase.png", tmp_path / "renders" / "showcase.mp4"
    grid = iio.imread(png)
    assert grid.shape[0] > 64 and grid.std() > 10
    frames = list(iio.imiter(mp4))
    assert len(frames) > 50 and frames[0].shape[:2] == (64, 64)
    assert json.loads((tmp_path / "summary.json").read_text())["mp4"] == str(mp4)
    assert (tmp_path / "model" / "standin_head.pkl").is_file()
    assert (tmp_path / "corpus" / "lab" / "corpus.json").is_file() and (tmp_path / "renders" / "corpus_lab.png").is_file()
    assert 0.5 < summary["detector_nme_percent"]["wild"] < 10
    # a second run reuses the model files
    before = (tmp_path / "model" / "standin_head.pkl").stat().st_mtime_ns
    run_quickstart(out=str(tmp_path), size=48, fps=2, **TINY)
    assert (tmp_path / "model" / "standin_head.pkl").stat().st_mtime_ns == before
