"""The prior benchmark end to end at a tiny size: every row filled, report written, resume."""

from __future__ import annotations

import math

import pytest
import torch

from annotator.neuface import AnnotateConfig
from annotator.synthetic.builder import CorpusSize
from eval.experiments.prior_benchmark import (
    DATA,
    GENERATORS,
    GOAL_ROWS,
    TRAINING_SETS,
    YARDSTICKS,
    PriorBenchmarkConfig,
    run_prior_benchmark,
)
from eval.motion import REAL_ROW, score_motion
from eval.motion_features import load_motion_set
from flame.head import head_layer
from flame.layout import read_annotations
from flame.sequence import FlameSequence

pytestmark = pytest.mark.slow  # trains ten tiny generators end to end


def test_prior_benchmark_tiny(tmp_path, standin_paths, layer32_small_encoder, tiny_prior_args, tiny_diffusion_args):
    _, _, pretrain, cache = layer32_small_encoder
    cfg = PriorBenchmarkConfig(out=str(tmp_path), model=str(standin_paths.pkl), encoder_cache=str(cache),
                               pretrain=pretrain, mocap=CorpusSize(3, 1, 60), lab=CorpusSize(3, 1, 30),
                               wild=CorpusSize(6, 1, 40), seeds=[0], starts=2, samples=4, horizons=[1.0, 1.5],
                               annotate=AnnotateConfig(epochs=12),
                               overrides={"HuMoR-Face": tiny_prior_args, "long-context diffusion": tiny_diffusion_args})
    table = run_prior_benchmark(cfg)
    rows = [(r["training set"], r["generator"]) for r in table]
    n_gen = len(TRAINING_SETS) * len(GENERATORS)
    assert rows[:n_gen] == [(t, g) for t in TRAINING_SETS for g in GENERATORS]
    assert rows[n_gen:-1] == [(t, DATA) for t in TRAINING_SETS] and "reference" in rows[-1][0]
    for row in table[:n_gen]:
        for key in ("fd_expression", "fd_pose", "fd_landmarks", "fd_combined", "apd_mean_head_canonical", "out_of_range",
                    "jaw_3-6Hz"):
            assert math.isfinite(row[key]), (row["training set"], row["generator"], key)
        assert row["train_clips"] > 0 and row["train_minutes"] > 0 and row["seeds"] == 1
    by = {(r["training set"], r["generator"]): r for r in table}
    assert by[("wild / ground truth", "HuMoR-Face")]["annotation_mpve_mm"] == 0
    assert by[("wild / regress", "HuMoR-Face")]["annotation_mpve_mm"] > 0
    assert by[("lab / NeuFace", "long-context diffusion")]["train_clips"] % 7 == 0  # each view of a lab capture
    annotations = tmp_path / "annotations" / "neuface" / "wild"  # annotated with the benchmark's settings
    entry = next(iter(read_annotations(annotations).values()))
    assert FlameSequence.load(annotations / entry["output"]).metadata["config"].items() >= {"epochs": 12, "method": "neuface"}.items()
    # the ground-truth training set's own motion is the reference set (wild train clips): same scores
    for key in ("fd_expression", "fd_pose", "jaw_3-6Hz", "out_of_range"):
        assert by[("wild / ground truth", DATA)][key] == pytest.approx(table[-1][key], rel=1e-9), key
    assert by[("wild / regress", DATA)]["fd_expression"] > by[("wild / ground truth", DATA)]["fd_expression"]
    md = (tmp_path / "prior_benchmark.md").read_text()
    assert "## 1 s" in md and "## 1.5 s" in md and "## Goals" in md and "## Reading" in md
    assert "**long-context diffusion**" in md and "NeuFace annotations beat" in md
    import csv

    goals = list(csv.DictReader((tmp_path / "goals.csv").open()))
    # one row per goal training set, yardstick, generator and seed
    assert len(goals) == len(GOAL_ROWS) * len(YARDSTICKS) * len(GENERATORS)
    truth_rows = [g for g in goals if g["training set"] == "wild / ground truth"]
    for key in ("fd_expression_vs_data", "jaw_speed_ratio", "apd_identity_removed_vs_test"):  # its own data is the truth
        assert [g[key] for g in truth_rows if g["yardstick"] == "own data"] == [
            g[key] for g in truth_rows if g["yardstick"] == "synthetic truth"]
    assert (tmp_path / "eval_1.5s" / "horizon.png").stat().st_size > 1000
    # the benchmark scores each run as it loads it: the same numbers as scoring the sample files all at once
    layer = head_layer(standin_paths.pkl, dtype=torch.float64)
    samples = tmp_path / "samples" / "wild_neuface" / "humor-face" / "seed0"
    files = sorted(samples.glob("*.npz"))
    run = [c.frames(0, 31) for c in load_motion_set([str(f) for f in files], layer, progress=False)]
    real = load_motion_set(f"{tmp_path / 'corpus' / 'wild'}@test", layer, progress=False)
    whole = {r["set"]: r for r in score_motion({"g": [run]}, real)["rows"]}
    streamed = by[("wild / NeuFace", "HuMoR-Face")]
    for key in ("fd_expression", "fd_pose", "apd_mean_head_canonical", "out_of_range", "jaw_3-6Hz"):
        assert streamed[key] == pytest.approx(whole["g"][key], rel=1e-9), key
    goal = next(g for g in goals if g["training set"] == "wild / NeuFace" and g["yardstick"] == "synthetic truth"
                and g["generator"] == "HuMoR-Face")
    assert float(goal["jaw_speed_ratio"]) == pytest.approx(
        whole["g"]["jaw_speed_deg_s"] / whole[REAL_ROW]["jaw_speed_deg_s"], rel=1e-6)
    # against its own data: the NeuFace annotations of the test identities
    own_real = load_motion_set(f"{tmp_path / 'annotations' / 'neuface' / 'wild'}@test", layer, progress=False)
    own = {r["set"]: r for r in score_motion({"g": [run]}, own_real)["rows"]}
    goal = next(g for g in goals if g["training set"] == "wild / NeuFace" and g["yardstick"] == "own data"
                and g["generator"] == "HuMoR-Face")
    assert float(goal["jaw_speed_ratio"]) == pytest.approx(
        own["g"]["jaw_speed_deg_s"] / own[REAL_ROW]["jaw_speed_deg_s"], rel=1e-6)
    horizon = [line.split(",")[0] for line in (tmp_path / "eval_1s" / "horizon.csv").read_text().splitlines()[1:]]
    for t in TRAINING_SETS:  # the 1 s horizon: one second per generated set
        assert all(horizon.count(f"{t} · {g}") == 1 for g in GENERATORS), t
    # a rerun reuses corpora, annotations, generators and samples
    stamp = (tmp_path / "samples" / "wild_regress" / "humor-face" / "seed0" / "samples.json").stat().st_mtime_ns
    again = run_prior_benchmark(cfg)
    assert (tmp_path / "samples" / "wild_regress" / "humor-face" / "seed0" / "samples.json").stat().st_mtime_ns == stamp
    assert [r["fd_pose"] for r in again] == [r["fd_pose"] for r in table]


def test_samples_are_reused_only_for_the_generator_file_that_wrote_them(tmp_path, monkeypatch):
    """A resumed benchmark keeps a generator's samples, but a generator trained again (another file) samples anew."""
    import json

    import motionprior.sample as sample
    from eval.experiments.prior_benchmark import _sample_row

    calls = []

    def fake_sample_prior(cfg, progress=False):
        calls.append(cfg.checkpoint)
        (tmp_path / sample.SAMPLES_INFO).write_text(json.dumps({"checkpoint": cfg.checkpoint, "files": ["a.npz"]}))

    monkeypatch.setattr(sample, "sample_prior", fake_sample_prior)
    cfg = PriorBenchmarkConfig()
    for prior in ("v0/prior.pt", "v0/prior.pt", "v1/prior.pt"):
        assert _sample_row(cfg, tmp_path / prior, tmp_path, tmp_path, 10.0, tmp_path) == [tmp_path / "a.npz"]
    assert calls == [str(tmp_path / "v0/prior.pt"), str(tmp_path / "v1/prior.pt")]
