"""Inpainting evaluation: the baseline and the gap errors against hand-computed cases, and the command end to
end on tiny generators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from eval.experiments.inpainting import DIFFUSION, HEAD_GIVEN, HUMOR, MEAN, InpaintingConfig, _edges, run_inpainting
from eval.gaps import LINEAR, gap_errors, linear_fill, linear_sequence
from eval.metrics.motion import MotionFeatures
from flame.errors import InputError

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "motionprior"


def _features(head, jaw, expression, landmarks) -> MotionFeatures:
    return MotionFeatures("c", "c", head, jaw, expression, landmarks, landmarks, 30.0)


def test_linear_fill_reproduces_a_constant_rate_motion():
    t = np.arange(20, dtype=float)
    head = np.stack([0.02 * t, np.zeros(20), np.zeros(20)], 1)  # a constant-rate turn about x: slerp is exact
    jaw = np.stack([0.01 * t + 0.1, np.zeros(20), np.zeros(20)], 1)
    expr = np.stack([0.5 * t, -t], 1)
    h, j, e = linear_fill(head, jaw, expr, 5, 12)
    np.testing.assert_allclose(h, head, atol=1e-12)
    np.testing.assert_allclose(j, jaw, atol=1e-12)
    np.testing.assert_allclose(e, expr, atol=1e-12)
    broken = head.copy()
    broken[5:12] = 1.0
    np.testing.assert_allclose(linear_fill(broken, jaw, expr, 5, 12)[0], head, atol=1e-12)  # gap content ignored


def test_linear_sequence_keeps_the_known_frames_and_interpolates_every_joint():
    from flame.sequence import FlameSequence

    t = np.arange(20, dtype=float)
    pose = np.zeros((20, 15))
    pose[:, 0], pose[:, 6], pose[:, 10] = 0.02 * t, 0.01 * t + 0.1, -0.015 * t  # head, jaw, left eye: constant rates
    expr = np.stack([0.5 * t, -t], 1)
    clip = FlameSequence.from_params(shape=np.zeros(3), expression=expr, pose=pose, fps=30.0, model="m", model_sha256="h")
    broken = clip.replace(pose=clip.pose.copy(), expression=clip.expression.copy())
    broken.pose[:, 5:12] = 1.0
    broken.expression[:, 5:12] = 9.0
    filled = linear_sequence(broken, 5, 12)
    np.testing.assert_allclose(filled.pose, clip.pose, atol=1e-6)
    np.testing.assert_allclose(filled.expression, clip.expression, atol=1e-5)
    assert filled.n_views == 1 and filled.view_names[0] == LINEAR


def test_gap_errors_hand_computed():
    rng = np.random.default_rng(0)
    lm = rng.normal(size=(10, 68, 3))
    head, jaw, expr = np.zeros((10, 3)), np.zeros((10, 3)), np.zeros((10, 4))
    truth = _features(head, jaw, expr, lm)
    shift = lm.copy()
    shift[2:6] += np.array([0.3, 0.4, 0.0])  # 0.5 cm inside the gap
    jaw2 = jaw.copy()
    jaw2[2:6] = Rotation.from_euler("x", 10, degrees=True).as_rotvec()
    expr2 = expr.copy()
    expr2[2:6] = 2.0
    err = gap_errors(truth, _features(head, jaw2, expr2, shift), 2, 6)
    assert err["landmarks_cm"] == pytest.approx(0.5) and err["jaw_deg"] == pytest.approx(10.0)
    assert err["head_deg"] == pytest.approx(0.0, abs=1e-9) and err["expression_rmse"] == pytest.approx(2.0)
    assert gap_errors(truth, truth, 2, 6) == {"landmarks_cm": 0.0, "head_deg": 0.0, "jaw_deg": 0.0,
                                              "expression_rmse": 0.0}


def test_gap_edges_see_a_jump_into_the_gap():
    """A 1 deg/frame head turn whose completion of frames [5, 12) starts 20 deg off and returns: the step into
    the gap is 21 deg, the step out 1 deg; one edge of two is above the 95th percentile."""
    t = np.arange(20, dtype=float)
    head = np.stack([np.zeros(20), np.radians(t), np.zeros(20)], 1)
    z = np.zeros((20, 3))
    smooth = _features(head, z, np.zeros((20, 2)), np.zeros((20, 68, 3)))
    p95 = np.array([1.5, 1.0, 0.1])
    assert _edges(smooth, 5, 12, p95) == pytest.approx({"edge_head": 1.0, "edge_jaw": 0.0, "edge_expr": 0.0,
                                                        "edges_over_p95": 0.0})
    jumped = head.copy()
    jumped[5, 1] += np.radians(20.0)
    out = _edges(_features(jumped, z, np.zeros((20, 2)), np.zeros((20, 68, 3))), 5, 12, p95)
    assert out["edge_head"] == pytest.approx((21.0 + 1.0) / 2) and out["edges_over_p95"] == 0.5


@pytest.mark.slow
def test_inpainting_command(tmp_path, standin_paths, tiny_prior_args, tiny_diffusion_args):
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from eval.__main__ import main
    from motionprior.train import fit_or_resume

    corpus = build_corpus(SynthConfig(domain="wild", identities=5, sequences=1, frames=50, out=str(tmp_path / "wild"),
                                      model=str(standin_paths.pkl), seed=4, split_fractions=(0.6, 0.2, 0.2)),
                          progress=False)
    common = ["--data.data", str(corpus), "--model.head.flame_model", str(standin_paths.pkl)]
    humor = fit_or_resume(CONFIGS / "quick.yaml", tmp_path / "humor", [*common, *tiny_prior_args])
    diffusion = fit_or_resume(CONFIGS / "diffusion.yaml", tmp_path / "diffusion", [*common, *tiny_diffusion_args])
    out = tmp_path / "inpainting"
    assert main(["inpainting", "--diffusion", str(diffusion), "--humor", str(humor), "--data", str(corpus),
                 "--gaps", "[0.5, 1.0]", "--samples", "3", "--out", str(out)]) == 0
    table = json.loads((out / "inpainting.json").read_text())["rows"]
    methods = (DIFFUSION, MEAN, HEAD_GIVEN, LINEAR, HUMOR)
    assert [(r["gap_s"], r["method"]) for r in table] == [(g, m) for g in (0.5, 1.0) for m in methods]
    for r in table:
        assert r["clips"] == 1 and np.isfinite([r["landmarks_cm"], r["head_deg"], r["jaw_deg"], r["edge_head"]]).all()
        assert r["landmarks_cm_best"] <= r["landmarks_cm"] + 1e-12
        assert 0.0 <= r["edges_over_p95"] <= 1.0
    assert (out / "inpainting.png").is_file()
    rows = {r["method"]: r for r in table if r["gap_s"] == 0.5}
    assert rows[HEAD_GIVEN]["head_deg"] == pytest.approx(0.0, abs=1e-3)  # the head is given on every frame
    assert rows[MEAN]["landmarks_cm_best"] == rows[MEAN]["landmarks_cm"]  # one deterministic completion
    with pytest.raises(InputError, match="cannot inpaint"):
        run_inpainting(InpaintingConfig(diffusion=str(humor), data=str(corpus), out=str(out)))
