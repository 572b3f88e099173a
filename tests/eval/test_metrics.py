"""Annotation metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from eval.metrics import cvd, jitter, mpve, msi3d, nme, similarity_align
from flame.rotations import axis_angle_to_matrix


def _points(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(n, 3, generator=g, dtype=torch.float64)


def test_mpve_known_offset_and_alignments():
    gt = _points()
    pred = gt + torch.tensor([0.001, 0.0, 0.0], dtype=torch.float64)  # 1 mm along x
    assert float(mpve(pred, gt)) == pytest.approx(1.0)
    assert float(mpve(pred, gt, align="centroid")) == pytest.approx(0.0, abs=1e-9)
    R = axis_angle_to_matrix(torch.tensor([0.3, -0.5, 0.2], dtype=torch.float64))
    moved = 1.3 * gt @ R.T + torch.tensor([0.05, -0.02, 0.1], dtype=torch.float64)
    assert float(mpve(moved, gt)) > 10
    assert float(mpve(moved, gt, align="procrustes")) == pytest.approx(0.0, abs=1e-9)
    torch.testing.assert_close(similarity_align(moved, gt), gt)
    with pytest.raises(ValueError, match="align"):
        mpve(pred, gt, align="icp")


def test_mpve_masks_frames_and_procrustes_excludes_reflections():
    gt = torch.stack([_points(seed=1), _points(seed=2)])
    pred = gt.clone()
    pred[1] += 0.002
    assert float(mpve(pred, gt)) == pytest.approx(1.0 * math.sqrt(3))  # mean over both frames: (0 + 2 sqrt 3) / 2
    assert float(mpve(pred, gt, mask=torch.tensor([True, False]))) == 0.0
    mirrored = gt[0] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert float(mpve(mirrored, gt[0], align="procrustes")) > 1.0  # a reflection is not a rigid motion


def test_cvd_pairs():
    base = _points()[None, None].repeat(3, 4, 1, 1)  # (views, T, N, 3)
    assert float(cvd(base)) == 0.0
    shifted = base.clone()
    shifted[2] += torch.tensor([0.002, 0.0, 0.0], dtype=torch.float64)  # view 2 is 2 mm off
    # pairs (0,1) = 0, (0,2) = 2, (1,2) = 2 -> mean 4/3 mm
    assert float(cvd(shifted)) == pytest.approx(4 / 3)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2] = False
    assert float(cvd(shifted, mask=mask)) == 0.0
    assert float(cvd(base[:1])) == 0.0


def test_nme_known_offset():
    gt = torch.zeros(2, 68, 2, dtype=torch.float64)
    gt[:, :, 0] = torch.linspace(0, 200, 68)
    gt[:, 36] = torch.tensor([50.0, 0.0])
    gt[:, 45] = torch.tensor([150.0, 0.0])  # outer inter-ocular distance 100
    pred = gt + torch.tensor([3.0, 4.0], dtype=torch.float64)  # 5 px everywhere
    assert float(nme(pred, gt)) == pytest.approx(5.0)
    contour_only = gt.clone()
    contour_only[:, :17] += torch.tensor([6.0, 8.0], dtype=torch.float64)  # 10 px on the 17 contour points
    assert float(nme(contour_only, gt)) == pytest.approx(10 * 17 / 68)
    assert float(nme(contour_only, gt, points="51")) == 0.0
    assert float(nme(contour_only, gt, points="contour")) == pytest.approx(10.0)
    broken = pred.clone()
    broken[1] = float("nan")  # a frame without detection is skipped
    assert float(nme(broken, gt)) == pytest.approx(5.0)
    assert float(nme(contour_only, gt, mask=torch.tensor([True, False]))) == pytest.approx(2.5)


def test_msi_constant_velocity_and_zigzag():
    t = torch.arange(40, dtype=torch.float64)
    line = torch.stack([2 * t, -t, 0.5 * t], -1)[:, None]  # constant velocity: zero acceleration
    assert float(msi3d(line, fps=30, eps=1e-3)) == pytest.approx(1000.0)
    parabola = torch.stack([t ** 2, t, t], -1)[:, None]  # constant acceleration: zero variance
    assert float(msi3d(parabola, fps=30, eps=1e-3)) == pytest.approx(1000.0)
    d = 0.5
    zig = torch.zeros(40, 1, 3, dtype=torch.float64)
    zig[:, 0, 0] = d * (-1.0) ** t  # acceleration +-4d on x only: per-axis variances (16 d^2, 0, 0)
    expected = 3 / (16 * d ** 2)
    assert float(msi3d(zig, fps=30)) == pytest.approx(expected)
    # accelerations are expressed per (1/30 s)^2: the same track sampled at 60 fps is 16x steadier
    assert float(msi3d(zig, fps=60)) == pytest.approx(16 * expected)
    assert float(msi3d(zig, fps=30, window=8)) == pytest.approx(expected)
    assert float(msi3d(zig + line, fps=30)) == pytest.approx(expected)  # adding a constant velocity changes nothing


def test_jitter_cubic():
    t = torch.arange(20, dtype=torch.float64)
    cubic = torch.stack([t ** 3, torch.zeros_like(t), torch.zeros_like(t)], -1)[:, None]  # third difference = 6
    assert float(jitter(cubic, fps=25)) == pytest.approx(6 * 25 ** 3)
    assert float(jitter(torch.stack([t, t, t], -1)[:, None], fps=25)) == 0.0
