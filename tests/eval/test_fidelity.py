"""Parameter-space fidelity metrics on planted effects: each planted error must move its own metrics only."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from eval.metrics.fidelity import FIDELITY_COLUMNS, parameter_fidelity, pool_fidelity

FPS = 25.0


def _truth(views=2, frames=200, seed=0):
    """A plausible motion: slow head turns, a 4.5 Hz jaw opening in phrases, smooth expressions."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    pose = np.zeros((views, frames, 15))
    for v in range(views):
        pose[v, :, 0:3] = 0.3 * np.sin(2 * np.pi * 0.2 * t[:, None] + rng.uniform(0, 6, 3)) * [0.5, 1.0, 0.3]
    pose[:, :, 6] = 0.08 * (1 + np.sin(2 * np.pi * 4.5 * t)) * (np.sin(2 * np.pi * 0.3 * t) > -0.3)
    pose[:, :, 7:9] = 0.002 * np.sin(2 * np.pi * 0.5 * t)[:, None]
    expression = np.repeat((0.6 * np.sin(2 * np.pi * 0.15 * t[:, None] + rng.uniform(0, 6, 10)))[None], views, 0)
    return pose, expression


def _score(pose, expression, true_pose, true_expression):
    return parameter_fidelity(pose, true_pose, expression, true_expression, FPS)


def test_perfect_prediction_has_no_error_and_unit_ratios():
    pose, expr = _truth()
    row = _score(pose, expr, pose, expr)
    assert list(row)[:len(FIDELITY_COLUMNS)] == FIDELITY_COLUMNS
    for k in ("head_err_deg", "head_const_deg", "head_resid_deg", "jaw_err_deg", "expr_rmse"):
        assert row[k] == pytest.approx(0.0, abs=1e-6), k
    for k in ("expr_ratio", "jaw_speed_ratio", "jaw_band_ratio"):
        assert row[k] == pytest.approx(1.0), k
    assert row["jaw_band_true"] > 0.3  # the planted 4.5 Hz syllables (phrases switch them on and off at 0.3 Hz)


def test_constant_head_offset_moves_only_the_constant_part():
    pose, expr = _truth()
    tilt = Rotation.from_rotvec(np.radians([4.0, -3.0, 0.0]))  # 5 degrees, in the camera frame
    moved = pose.copy()
    for v in range(pose.shape[0]):
        moved[v, :, :3] = (tilt * Rotation.from_rotvec(pose[v, :, :3])).as_rotvec()
    base, row = _score(pose, expr, pose, expr), _score(moved, expr, pose, expr)
    assert row["head_const_deg"] == pytest.approx(5.0, abs=1e-6)
    assert row["head_err_deg"] == pytest.approx(5.0, abs=1e-6)
    assert row["head_resid_deg"] == pytest.approx(0.0, abs=1e-6)
    for k in FIDELITY_COLUMNS:
        if not k.startswith("head"):
            assert row[k] == pytest.approx(base[k], abs=1e-9), k


def test_head_noise_moves_the_residual_not_the_constant_part():
    pose, expr = _truth()
    rng = np.random.default_rng(1)
    noisy = pose.copy()
    noisy[..., :3] += rng.normal(0, np.radians(2.0), noisy[..., :3].shape)
    row = _score(noisy, expr, pose, expr)
    assert row["head_resid_deg"] > 2.0
    assert row["head_const_deg"] < 0.6  # the mean of 200 noisy offsets: about 2 deg * sqrt(3 / 200) = 0.25 deg


def test_scaled_expressions_move_only_magnitude_and_rmse():
    pose, expr = _truth()
    base, row = _score(pose, expr, pose, expr), _score(pose, 2.0 * expr, pose, expr)
    assert row["expr_ratio"] == pytest.approx(2.0)
    assert row["expr_rmse"] == pytest.approx(np.sqrt((expr ** 2).mean()))  # the error is the truth itself
    for k in FIDELITY_COLUMNS:
        if k not in ("expr_ratio", "expr_rmse", "expr_norm"):
            assert row[k] == pytest.approx(base[k], abs=1e-9), k


def test_jaw_noise_moves_speed_offaxis_and_error_only():
    pose, expr = _truth()
    rng = np.random.default_rng(2)
    noisy = pose.copy()
    noisy[..., 6:9] += rng.normal(0, np.radians(1.0), noisy[..., 6:9].shape)
    base, row = _score(pose, expr, pose, expr), _score(noisy, expr, pose, expr)
    assert row["jaw_speed_ratio"] > 1.5
    assert row["jaw_offaxis_deg"] > 1.0 > 5 * row["jaw_offaxis_true_deg"]
    assert row["jaw_err_deg"] > 1.0
    assert row["jaw_band_ratio"] < 1.0  # white noise spreads power out of the syllable band
    for k in ("head_err_deg", "head_const_deg", "head_resid_deg", "expr_rmse", "expr_ratio"):
        assert row[k] == pytest.approx(base[k], abs=1e-9), k


def test_jaw_band_share_of_pure_tones():
    pose, expr = _truth(views=1, frames=250)
    t = np.arange(250) / FPS
    slow, syllables = pose.copy(), pose.copy()
    slow[..., 6] = 0.1 * np.sin(2 * np.pi * 1.5 * t)
    syllables[..., 6] = 0.1 * np.sin(2 * np.pi * 4.5 * t)
    assert _score(syllables, expr, pose, expr)["jaw_band"] > 0.95
    assert _score(slow, expr, pose, expr)["jaw_band"] < 0.05


def test_pooled_ratios_are_ratios_of_means():
    rows = [{"expr_norm": 1.0, "expr_norm_true": 1.0}, {"expr_norm": 3.0, "expr_norm_true": 0.1}]
    pooled = pool_fidelity(rows)
    assert pooled["expr_ratio"] == pytest.approx(2.0 / 0.55)  # not the mean of 1 and 30
    assert np.isnan(pooled["jaw_err_deg"])


def test_mismatched_inputs_are_refused():
    pose, expr = _truth()
    with pytest.raises(ValueError, match="poses"):
        parameter_fidelity(pose[:, :10], pose, expr, expr, FPS)
    with pytest.raises(ValueError, match="expressions"):
        parameter_fidelity(pose, pose, expr[:, :10], expr, FPS)
