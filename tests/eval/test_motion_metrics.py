"""FD, APD, spectra and health on hand-made cases and closed forms (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from eval.metrics.motion import (
    COMBINED_SCALES,
    MotionFeatures,
    angular_speed,
    apd,
    band_shares,
    continuity,
    dominant_frequency,
    fd_features,
    frame_steps,
    frechet_distance,
    real_motion,
    spectrum,
)


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
    assert np.isnan(apd(two[:1])["apd_mean"])


def _clip(t: int, head=None, jaw=None, expression=None) -> MotionFeatures:
    z = np.zeros((t, 3))
    head = z if head is None else head
    lm = np.zeros((t, 68, 3))
    expression = np.zeros((t, 10)) if expression is None else expression
    return MotionFeatures("c", "c", head, z if jaw is None else jaw, expression, lm, lm, 30.0)


def test_fd_features_blocks_and_fixed_combined_scale():
    t = 4
    head = np.tile([0.1, -0.2, 0.3], (t, 1))
    c = _clip(t, head=head, expression=np.tile(np.arange(10.0), (t, 1)))
    np.testing.assert_allclose(fd_features([c], "pose")[0], [0.1, -0.2, 0.3, 0, 0, 0])
    e = fd_features([c], "expression")
    assert e.shape == (t, 50) and np.array_equal(e[0, :10], np.arange(10.0)) and not e[:, 10:].any()  # zero-padded
    comb = fd_features([c], "combined")
    assert comb.shape == (t, 3 + 3 + 50 + 204)
    np.testing.assert_allclose(comb[0, :3], head[0] / (COMBINED_SCALES["head"] * np.sqrt(3)))
    # a head rotation off by 0.1 rad on every axis adds exactly 1 to the combined FD
    shifted = _clip(t, head=head + 0.1, expression=c.expression)
    base = np.concatenate([fd_features([c], "combined"), fd_features([c], "combined") + 1e-3 * np.eye(t, 260)])
    moved = np.concatenate([fd_features([shifted], "combined"), fd_features([shifted], "combined") + 1e-3 * np.eye(t, 260)])
    assert frechet_distance(base, moved) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="FD variant"):
        fd_features([c], "state")


def test_spectrum_of_a_4p5_hz_jaw_peaks_at_4p5_hz(rng):
    t = np.arange(600) / 30.0
    clips = [0.15 + 0.1 * np.sin(2 * np.pi * 4.5 * t + p)[:, None] + 0.005 * rng.standard_normal((600, 1))
             for p in rng.uniform(0, 2 * np.pi, 4)]
    f, p = spectrum(clips, 30.0)
    assert dominant_frequency(f, p) == pytest.approx(4.5, abs=0.03)
    shares = band_shares(f, p)
    assert shares["3-6Hz"] > 0.95 and sum(shares.values()) == pytest.approx(1.0)
    slow = [np.sin(2 * np.pi * 0.4 * t)[:, None] + 0.3 * np.sin(2 * np.pi * 2.0 * t)[:, None]]
    f, p = spectrum(slow, 30.0)
    assert dominant_frequency(f, p) == pytest.approx(2.0, abs=0.03)  # the 0.4 Hz posture leaks past 1 Hz: no peak
    assert band_shares(f, p)["0-1Hz"] > 0.8


def test_angular_speed_of_a_steady_turn():
    t = np.arange(31) / 30.0
    yaw = np.stack([np.zeros(31), np.radians(20.0) * t, np.zeros(31)], 1)  # 20 deg/s about y
    np.testing.assert_allclose(angular_speed(yaw, 30.0), 20.0, rtol=1e-9)


def _steady(t: int, rng, jump_deg: float = 0.0, expr_jump: float = 0.0) -> MotionFeatures:
    """A clip turning 1 deg per frame about y, the jaw opening 0.5 deg per frame and the expression
    moving 0.1 per frame, with an extra head turn of ``jump_deg`` and an expression step of
    ``expr_jump`` between frames 0 and 1."""
    yaw = np.radians(np.arange(t) * 1.0 + jump_deg * (np.arange(t) >= 1))
    head = np.stack([np.zeros(t), yaw, np.zeros(t)], 1)
    jaw = np.stack([np.radians(np.arange(t) * 0.5), np.zeros(t), np.zeros(t)], 1)
    direction = rng.standard_normal(10)
    direction /= np.linalg.norm(direction)
    expression = (np.arange(t)[:, None] * 0.1 + expr_jump * (np.arange(t) >= 1)[:, None]) * direction
    return _clip(t, head=head, jaw=jaw, expression=expression)


def test_frame_steps_hand_made(rng):
    steps = frame_steps(_steady(6, rng, jump_deg=20.0, expr_jump=0.4))
    np.testing.assert_allclose(steps[:, 0], [21, 1, 1, 1, 1], rtol=1e-9)  # head deg
    np.testing.assert_allclose(steps[:, 1], 0.5, rtol=1e-9)  # jaw deg
    np.testing.assert_allclose(steps[:, 2], [0.5, 0.1, 0.1, 0.1, 0.1], rtol=1e-9)  # expression L2


def test_continuity_a_planted_start_jump_moves_only_its_part(rng):
    real = [_steady(40, rng) for _ in range(3)]
    ref = real_motion(real, 30.0)
    np.testing.assert_allclose(ref.step_median, [1.0, 0.5, 0.1], rtol=1e-9)
    first = lambda clips: np.array([frame_steps(c)[0] for c in clips])  # noqa: E731
    smooth = continuity(first([_steady(10, rng) for _ in range(4)]), ref)
    assert smooth["head_jump"] == pytest.approx(1.0) and smooth["head_jump_over_p95"] == 0.0
    jumped = continuity(first([_steady(10, rng, jump_deg=26.8) for _ in range(4)]), ref)
    assert jumped["head_jump"] == pytest.approx(27.8) and jumped["head_jump_over_p95"] == 1.0
    for k in ("jaw_jump", "expr_jump", "jaw_jump_over_p95", "expr_jump_over_p95"):
        assert jumped[k] == pytest.approx(smooth[k])
    expr = continuity(first([_steady(10, rng, expr_jump=1.0)]), ref)
    assert expr["expr_jump_over_p95"] == 1.0 and expr["head_jump_over_p95"] == 0.0
