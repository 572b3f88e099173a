"""The prior benchmark end to end at a tiny size: every row filled, report written, resume."""

from __future__ import annotations

import math

import pytest

from annotator.synthetic.builder import CorpusSize
from eval.experiments.prior_benchmark import TRAINING_SETS, PriorBenchmarkConfig, run_prior_benchmark

pytestmark = pytest.mark.slow  # trains five priors end to end


def test_prior_benchmark_tiny(tmp_path, standin_paths, layer32_small_encoder, tiny_prior_args):
    _, _, pretrain, cache = layer32_small_encoder
    cfg = PriorBenchmarkConfig(out=str(tmp_path), model=str(standin_paths.pkl), encoder_cache=str(cache),
                               pretrain=pretrain, mocap=CorpusSize(3, 1, 60), lab=CorpusSize(3, 1, 30),
                               wild=CorpusSize(6, 1, 40), prior_overrides=tiny_prior_args, starts=2, samples=4,
                               seconds=2.0)
    table = run_prior_benchmark(cfg)
    names = [r["training set"] for r in table]
    assert names[:-1] == list(TRAINING_SETS) and "reference" in names[-1]
    for row in table[:-1]:
        for key in ("fd_expression", "fd_pose", "fd_landmarks", "fd_combined", "apd_mean_world", "variance_ratio",
                    "out_of_range", "jaw_3-6Hz"):
            assert math.isfinite(row[key]), (row["training set"], key)
        assert row["train_clips"] > 0 and row["train_minutes"] > 0 and row["nonfinite_fraction"] == 0
    by = {r["training set"]: r for r in table}
    assert by["wild / ground truth"]["annotation_mpve_mm"] == 0
    assert by["wild / regress"]["annotation_mpve_mm"] > 0 and by["lab / NeuFace"]["annotation_mpve_mm"] > 0
    assert by["lab / NeuFace"]["train_clips"] % 7 == 0  # each view of a lab capture is a clip
    assert by["wild / ground truth"]["train_clips"] == by["wild / NeuFace"]["train_clips"]
    md = (tmp_path / "prior_benchmark.md").read_text()
    assert "| wild / regress |" in md and "## Reading" in md and "NeuFace annotations beat" in md
    assert (tmp_path / "eval" / "horizon.png").stat().st_size > 1000 and "jaw_3-6Hz" in md
    horizon = (tmp_path / "eval" / "horizon.csv").read_text().splitlines()
    assert len(horizon) == 1 + 2 * (len(TRAINING_SETS) + 2)  # header + 2 seconds per set (and reference, real)
    # a rerun reuses corpora, annotations, priors and samples
    stamp = (tmp_path / "samples" / "wild_regress" / "samples.json").stat().st_mtime_ns
    again = run_prior_benchmark(cfg)
    assert (tmp_path / "samples" / "wild_regress" / "samples.json").stat().st_mtime_ns == stamp
    assert [r["fd_pose"] for r in again] == [r["fd_pose"] for r in table]
