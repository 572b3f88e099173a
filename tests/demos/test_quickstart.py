"""The quickstart end to end at a tiny size: stand-in, corpus, annotation, prior, rollouts, report; resume."""

from __future__ import annotations

import json
import math
import re

import imageio.v3 as iio
import pytest

from annotator.neuface import AnnotateConfig
from annotator.synthetic.builder import CorpusSize
from demos.quickstart import run_quickstart

pytestmark = pytest.mark.slow  # the whole quickstart

def test_quickstart_small(tmp_path, layer32_small_encoder, tiny_prior_args):
    _, _, pretrain, cache = layer32_small_encoder
    kw = dict(lab=CorpusSize(3, 1, 12), wild=CorpusSize(6, 1, 40), encoder_cache=str(cache), pretrain=pretrain,
              prior_overrides=tiny_prior_args, starts=1, samples=4, seconds=1.0, render=2,
              annotate=AnnotateConfig(epochs=12))
    summary = run_quickstart(out=str(tmp_path), size=64, fps=4, **kw)
    assert "stand-in" in summary["model"]
    png, mp4 = tmp_path / "renders" / "showcase.png", tmp_path / "renders" / "showcase.mp4"
    grid = iio.imread(png)
    assert grid.shape[0] > 64 and grid.std() > 10
    frames = list(iio.imiter(mp4))
    assert len(frames) > 50 and frames[0].shape[:2] == (64, 64)
    assert json.loads((tmp_path / "summary.json").read_text())["mp4"] == str(mp4)
    assert (tmp_path / "corpus" / "lab" / "corpus.json").is_file() and (tmp_path / "renders" / "corpus_lab.png").is_file()
    assert 0.5 < summary["detector_nme_percent"]["wild"] < 10
    # annotation scored against ground truth; NeuFace has a multi-view consistency number on lab
    ann = summary["annotation"]
    assert set(ann) == {"lab", "wild"} and set(ann["lab"]) == {"regress", "neuface"}
    assert 0 < ann["wild"]["neuface"]["mpve_mm"] < 50 and math.isfinite(ann["lab"]["neuface"]["cvd_mm"])
    assert (tmp_path / "prior" / "lightning_logs").is_dir() and summary["prior"].endswith("prior.pt")
    metrics = json.loads((tmp_path / "samples" / "motion.json").read_text())
    sampling = json.loads((tmp_path / "samples" / "samples.json").read_text())
    assert sampling["samples"] == 4 and sampling["horizon_frames"] == 30
    rows = {r["set"]: r for r in metrics["rows"]}  # scored by the motion evaluator, with the reference rows
    assert set(rows) == {"humor-face samples", "real clips of other identities (reference)", "ground truth (reference)",
                         "real (the set judged against)"}
    assert rows["humor-face samples"]["nonfinite_fraction"] == 0 and rows["humor-face samples"]["clips"] == 4
    assert len(list((tmp_path / "samples").glob("*.mp4"))) == 1
    report = (tmp_path / "REPORT.md").read_text()
    assert "stand-in" in report and "| lab | neuface |" in report and "| ground truth (reference) |" in report
    assert "| real clips of other identities (reference) |" in report and "jaw_3-6Hz" in report
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert len(links) >= 6 and all((tmp_path / link).is_file() for link in links), links
    # a second run reuses every stage's outputs (model, annotations, prior, samples)
    stamps = {p: p.stat().st_mtime_ns for p in [tmp_path / "model" / "standin_head.pkl", tmp_path / summary["prior"],
                                                 tmp_path / "samples" / "motion.json"]}
    again = run_quickstart(out=str(tmp_path), size=48, fps=2, **kw)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert json.dumps(again["annotation"]) == json.dumps(summary["annotation"]) and again["prior"] == summary["prior"]
