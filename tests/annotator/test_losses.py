"""NeuFace's losses on hand-computed cases."""

from __future__ import annotations

import math

import torch

from annotator.losses import (
    landmark_loss,
    merge_views,
    moving_average,
    multiview_loss,
    rotation_quaternions,
    temporal_loss,
    visibility_weights,
)


def test_landmark_loss_is_confidence_weighted_l1():
    target = torch.zeros(2, 68, 2)
    pred = target.clone()
    pred[0, 0] = torch.tensor([0.3, 0.1])  # |dx| + |dy| = 0.4 on one point
    w = torch.ones(2, 68)
    assert float(landmark_loss(pred, target, w)) == float(torch.tensor(0.4) / (2 * 136))
    w[0, 0] = 0.0  # a zero-confidence point does not count
    assert float(landmark_loss(pred, target, w)) == 0.0


def _yaw_track(n: int, step: float) -> torch.Tensor:
    aa = torch.zeros(1, n, 3, dtype=torch.float64)
    aa[0, :, 1] = step * torch.arange(n, dtype=torch.float64)
    return rotation_quaternions(aa)


def test_centred_moving_average_keeps_constant_velocity_rotation():
    q = _yaw_track(20, 0.05)
    avg = moving_average(q, 5)
    # by symmetry the mean of a window around t points exactly at q[t] in the interior
    torch.testing.assert_close(avg[:, 2:-2], q[:, 2:-2])
    assert float(temporal_loss(q[:, 2:-2], avg[:, 2:-2])) < 1e-20
    # a jittered track is pulled back toward the smooth one
    noisy = q.clone()
    noisy[0, 10] = rotation_quaternions(torch.tensor([[0.0, 0.5 + 0.1, 0.0]], dtype=torch.float64))[0]
    assert float((moving_average(noisy, 5)[0, 10] - q[0, 10]).norm()) < float((noisy[0, 10] - q[0, 10]).norm())


def test_official_window_is_off_centre_and_edges_keep_their_values():
    q = _yaw_track(12, 0.1)
    avg = moving_average(q, 4, centred=False)
    torch.testing.assert_close(avg[:, :2], q[:, :2])
    torch.testing.assert_close(avg[:, -2:], q[:, -2:])
    expected = torch.nn.functional.normalize(q[:, 3:7].mean(1), dim=-1)  # t = 5 uses frames 3, 4, 5, 6
    torch.testing.assert_close(avg[:, 5], expected)


def test_quaternions_have_a_non_negative_scalar_part():
    q = rotation_quaternions(torch.tensor([[0.0, 3.0, 0.0], [0.0, -3.0, 0.0]]))
    assert (q[..., 3] >= 0).all()
    assert math.isclose(float(q[0, 1]), math.sin(1.5), rel_tol=1e-6)


def test_visibility_weights_and_merging():
    # 2 views x 3 vertices; normals (z) 0.9 / 0.1 / 0.5 in view 0 and 0.1 / 0.9 / 0.5 in view 1
    nz = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]])
    normals = torch.zeros(2, 3, 3)
    normals[..., 2] = nz
    verts = torch.zeros(2, 3, 3)
    w = visibility_weights(normals, verts)
    torch.testing.assert_close(w.sum(0), torch.ones(3))
    assert w[0, 0] > 0.999 and w[1, 1] > 0.999  # the view that faces the vertex wins
    torch.testing.assert_close(w[:, 2], torch.tensor([0.5, 0.5]))
    hidden = torch.zeros(2, 3, 3)
    torch.testing.assert_close(visibility_weights(hidden, verts), torch.full((2, 3), 0.5))  # nobody sees it
    behind = verts.clone()
    behind[0, 0, 2] = -0.1  # vertex 0 lies behind the head in view 0 ...
    seen = normals.clone()
    seen[1, 0, 2] = 0.5  # ... and view 1 sees it well enough
    assert visibility_weights(seen, behind)[1, 0] > 0.999
    canon = torch.stack([torch.zeros(3, 3), torch.ones(3, 3)])
    merged = merge_views(canon, w)
    torch.testing.assert_close(merged[2], torch.full((3,), 0.5))
    assert float(multiview_loss(canon[:, None], merged[None])) > 0
    assert float(multiview_loss(canon[:1, None], canon[0][None])) == 0.0
