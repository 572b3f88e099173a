"""FD, APD and long-horizon health on hand-made cases and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from eval.metrics.motion import apd, fd_features, frechet_distance, head_canonical_landmarks, motion_health
from flame.rotations import axis_angle_to_matrix
from flame.sequence import MOTION_FPS
from motionprior.state import StateSpec


def exact_samples(rng, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``n`` samples whose sample mean and (N-1) covariance are exactly ``mean`` and ``cov``."""
    x = rng.standard_normal((n, len(mean)))
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T  # sample cov = I
    return x @ np.linalg.cholesky(cov).T + mean


def test_fd_closed_form_diagonal(rng):
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    a = exact_samples(rng, 500, m1, np.diag(s1))
    b = exact_samples(rng, 300, m2, np.diag(s2))
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()  # 5 + 4 + 1 = 10
    assert frechet_distance(a, b) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(10.0)


def test_fd_general_covariances_match_scipy_sqrtm(rng):
    d = 6
    q1, q2 = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    c1, c2 = q1 @ q1.T + 0.1 * np.eye(d), q2 @ q2.T + 0.1 * np.eye(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = exact_samples(rng, 400, m1, c1), exact_samples(rng, 400, m2, c2)
    cross = scipy.linalg.sqrtm(c1 @ c2).real
    expected = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * cross)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_fd_invariances_and_degenerate_sets(rng):
    a, b = rng.standard_normal((200, 4)), rng.standard_normal((150, 4)) * 2 + 1
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    shift = rng.standard_normal(4)
    fd = frechet_distance(a, b)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(b, a) == pytest.approx(fd, rel=1e-10)
    assert frechet_distance(a @ q.T + shift, b @ q.T + shift) == pytest.approx(fd, rel=1e-8)
    # rank-deficient covariances (fewer samples than dimensions, a constant channel) stay finite and >= 0
    low = np.concatenate([rng.standard_normal((5, 10)), np.zeros((5, 1))], 1)
    assert 0.0 <= frechet_distance(low, low + 0.5) < np.inf
    with pytest.raises(ValueError, match="non-finite"):
        frechet_distance(a, np.full_like(b, np.nan))


def test_apd_hand_made():
    t, l = 5, 4
    base = np.zeros((t, l, 3))
    two = np.stack([base, base + np.array([3.0, 4.0, 0.0])])  # every landmark 5 cm apart
    out = apd(two)
    assert out["apd_mean"] == pytest.approx(5.0)
    assert out["apd_flat"] == pytest.approx(5.0 * np.sqrt(t * l))
    three = np.stack([base, base + [1.0, 0, 0], base + [3.0, 0, 0]])  # pair distances 1, 3, 2
    assert apd(three)["apd_mean"] == pytest.approx(2.0)
    assert apd(two[:1]) == {"apd_mean": 0.0, "apd_flat": 0.0}


def _states(spec: StateSpec, rot: torch.Tensor, lm: np.ndarray) -> np.ndarray:
    x = np.zeros((*lm.shape[:-2], spec.dim))
    x[..., spec.slices["root_orient"]] = rot.reshape(*lm.shape[:-2], 9).numpy()
    x[..., spec.slices["jaw"]] = np.eye(3).reshape(9)
    x[..., spec.slices["landmarks"]] = lm.reshape(*lm.shape[:-2], -1)
    return x


def test_head_canonical_landmarks_remove_the_head_rotation(rng):
    spec = StateSpec(n_exp=0)
    lm = rng.standard_normal((68, 3))
    rot = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.5, -0.2]], dtype=torch.float64))
    turned = np.stack([lm, (lm - lm.mean(0)) @ rot[1].numpy().T + 2.0])
    canon = head_canonical_landmarks(_states(spec, rot, turned), spec)
    np.testing.assert_allclose(canon[1], canon[0], atol=1e-12)


def test_fd_features_pose_is_axis_angle():
    spec = StateSpec(n_exp=2)
    aa = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64)
    x = _states(spec, axis_angle_to_matrix(aa), np.zeros((1, 68, 3)))
    x[0, spec.slices["expression"]] = [0.5, -1.0]
    np.testing.assert_allclose(fd_features(x, spec, "pose"), [[0.1, -0.2, 0.3, 0, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(fd_features(x, spec, "expression"), [[0.5, -1.0]])
    with pytest.raises(ValueError, match="real_mean"):
        fd_features(x, spec, "state")


def test_motion_health_on_real_frozen_and_broken_motion(rng):
    spec = StateSpec(n_exp=0)
    t = np.arange(300) / 30.0
    clips = []
    for k in range(4):  # a talking-like oscillation of the landmarks, a fixed frontal head
        lm = np.tile(rng.standard_normal((68, 3)) * 0.1, (300, 1, 1))
        lm = lm + 0.3 * np.sin(2 * np.pi * (2 + k * 0.3) * t)[:, None, None] * rng.standard_normal((68, 3))
        clips.append(_states(spec, torch.eye(3, dtype=torch.float64).expand(300, 3, 3), lm))
    same = motion_health(np.stack(clips), clips, spec, MOTION_FPS)
    assert same["nonfinite_fraction"] == 0 and same["exploded"] == 0 and same["out_of_range"] == 0
    assert same["freeze_rate"] <= 0.1
    assert same["variance_ratio"] == pytest.approx(1.0, rel=1e-6)
    assert same["speed_ratio"] == pytest.approx(1.0, rel=1e-9) and same["acceleration_ratio"] == pytest.approx(1.0, rel=1e-9)
    # the same motion played at double speed: landmark speed x2, acceleration x4, up to the 30 Hz finite
    # differences (x 2 cos(w/2) and 4 cos^2(w/2), w = 2 pi f / 30: 1.91-1.96 and 3.64-3.83 for f = 2-2.9 Hz)
    h = motion_health(np.stack([c[::2] for c in clips]), clips, spec, MOTION_FPS)
    assert 1.90 < h["speed_ratio"] < 1.97 and 3.6 < h["acceleration_ratio"] < 3.85
    shaky = np.stack(clips).copy()  # the same range, with frame-to-frame jitter on top
    shaky[:, :, spec.slices["landmarks"]] += 0.06 * rng.standard_normal(shaky[:, :, spec.slices["landmarks"]].shape)
    h = motion_health(shaky, clips, spec, MOTION_FPS)
    assert h["acceleration_ratio"] > 2 and h["variance_ratio"] < 1.15
    assert same["rotation_error"] < 1e-12
    frozen = np.repeat(np.stack(clips)[:, :1], 300, axis=1)
    assert motion_health(frozen, clips, spec, MOTION_FPS)["freeze_rate"] == 1.0
    broken = np.stack(clips).copy()
    broken[0, 100:] = np.nan
    broken[1, 200:, spec.slices["landmarks"]] *= 1e4
    h = motion_health(broken, clips, spec, MOTION_FPS)
    assert h["nonfinite_fraction"] == 0.25 and h["exploded"] == pytest.approx(1 / 3) and h["out_of_range"] > 0
