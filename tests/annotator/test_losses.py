"""NeuFace's losses on hand-computed cases."""

from __future__ import annotations

import math

import torch

from annotator.losses import (
    anchor_loss,
    box_average,
    jaw_anatomy_loss,
    landmark_loss,
    merge_views,
    moving_average,
    multiview_loss,
    neighbour_mean,
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


def test_neighbour_mean_measures_acceleration_and_spares_the_ends():
    x = torch.tensor([[0.0], [1.0], [4.0], [9.0], [16.0]])  # t^2: second difference 2 everywhere
    nm = neighbour_mean(x)
    torch.testing.assert_close(x[1:-1] - nm[1:-1], torch.full((3, 1), -1.0))  # minus half of it
    torch.testing.assert_close(nm[[0, -1]], x[[0, -1]])
    line = torch.arange(6.0)[:, None] * 0.3
    torch.testing.assert_close(neighbour_mean(line), line)  # constant velocity costs nothing
    torch.testing.assert_close(neighbour_mean(x[:2]), x[:2])


def test_box_average_is_the_centred_mean_truncated_at_the_ends():
    x = torch.tensor([[1.0], [2.0], [6.0], [3.0]])
    torch.testing.assert_close(box_average(x, 3), torch.tensor([[1.5], [3.0], [11 / 3], [4.5]]))


def test_anchor_and_jaw_anatomy_losses_on_hand_cases():
    value = torch.zeros(2, 3, 4)
    target = torch.zeros(2, 3, 4)
    target[0, 0] = torch.tensor([1.0, 2.0, 0.0, 0.0])  # squared distance 5 in one of 6 view-frames
    assert math.isclose(float(anchor_loss(value, target)), 5.0 / 6, rel_tol=1e-6)
    jaw = torch.tensor([[0.2, 0.0, 0.0], [-0.1, 0.0, 0.0], [0.1, 0.3, -0.4]])
    # an opening costs nothing; closing past closed (0.1) and lateral / twist rotation (0.3, 0.4) do
    assert math.isclose(float(jaw_anatomy_loss(jaw)), (0.01 + 0.09 + 0.16) / 3, rel_tol=1e-6)
