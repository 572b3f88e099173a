"""Frames where no view has a face: parameters interpolated between the nearest frames with one."""

from __future__ import annotations

import numpy as np
import torch

from annotator.encoders import EncoderOutput
from annotator.neuface import fill_faceless
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle


def test_a_planted_steady_motion_is_recovered_inside_a_gap_and_held_at_the_ends():
    v, t = 2, 12
    time = torch.arange(t, dtype=torch.float64)
    axis = torch.nn.functional.normalize(torch.tensor([0.3, 1.0, -0.2], dtype=torch.float64), dim=0)
    head = (0.05 * time[:, None] * axis).expand(v, t, 3)  # a constant angular velocity about one axis
    jaw = torch.stack([0.01 * time, 0 * time, 0 * time], -1).expand(v, t, 3)
    expression = (torch.linspace(-1, 1, 4, dtype=torch.float64) * time[:, None]).expand(v, t, 4)
    cam = torch.stack([8 + 0.1 * time, 0.01 * time, -0.02 * time], -1).expand(v, t, 3)
    truth = EncoderOutput(torch.zeros(5, dtype=torch.float64), expression, torch.cat([head, jaw], -1), cam)
    faceless = np.zeros(t, bool)
    faceless[[0, 1, 4, 5, 6, 11]] = True
    noise = lambda x: torch.where(torch.as_tensor(faceless)[:, None], x + 0.3, x)  # noqa: E731  (what the fit left there)
    out = fill_faceless(EncoderOutput(truth.shape, noise(expression), noise(truth.pose6), noise(cam)), faceless)
    inside = torch.as_tensor(~faceless)
    inside[[4, 5, 6]] = True  # inside the gap: the line (and the steady rotation) between frames 3 and 7
    for got, want in ((out.expression, expression), (out.pose6, truth.pose6), (out.cam, cam)):
        torch.testing.assert_close(got[:, inside], want[:, inside])
    torch.testing.assert_close(out.expression[:, [0, 1]], expression[:, [2, 2]])  # held at the ends
    torch.testing.assert_close(out.pose6[:, 11], truth.pose6[:, 10])
    still = fill_faceless(truth, np.zeros(t, bool))
    assert still is truth


def test_rotations_are_slerped_not_averaged_as_vectors():
    """Between two rotations about different axes the filled rotation lies on the geodesic (equal angle to both at
    the midpoint), which a linear mix of axis-angle vectors misses."""
    a, b = torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.2, 0.0], dtype=torch.float64)
    pose6 = torch.zeros(1, 3, 6, dtype=torch.float64)
    pose6[0, 0, :3], pose6[0, 2, :3] = a, b
    out = fill_faceless(EncoderOutput(torch.zeros(1, dtype=torch.float64), torch.zeros(1, 3, 2, dtype=torch.float64),
                                      pose6, torch.ones(1, 3, 3, dtype=torch.float64)), np.array([False, True, False]))
    mid = axis_angle_to_matrix(out.pose6[0, 1, :3])
    angle = lambda r: float(matrix_to_axis_angle(mid.T @ axis_angle_to_matrix(r)).norm())  # noqa: E731
    assert abs(angle(a) - angle(b)) < 1e-9 and abs(angle(a) + angle(b) - angle_between(a, b)) < 1e-9


def angle_between(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(matrix_to_axis_angle(axis_angle_to_matrix(a).T @ axis_angle_to_matrix(b)).norm())
