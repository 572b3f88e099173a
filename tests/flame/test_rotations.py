"""Rotation conversions: conventions on hand cases and float64 round trips."""

from __future__ import annotations

import math

import roma
import torch

from flame import rotations as rot


def test_quaternion_is_xyzw():
    q = rot.axis_angle_to_quaternion(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(q, torch.tensor([0, 0, math.sin(math.pi / 4), math.cos(math.pi / 4)], dtype=torch.float64))


def test_round_trips_float64():
    g = torch.Generator().manual_seed(0)
    aa = torch.randn(64, 3, generator=g, dtype=torch.float64)
    aa = aa * (torch.rand(64, 1, generator=g, dtype=torch.float64) * 3.0 / aa.norm(dim=-1, keepdim=True))
    R = rot.axis_angle_to_matrix(aa)
    torch.testing.assert_close(rot.matrix_to_axis_angle(R), aa)
    torch.testing.assert_close(rot.quaternion_to_matrix(rot.matrix_to_quaternion(R)), R)
    torch.testing.assert_close(rot.rotation_6d_to_matrix(rot.matrix_to_rotation_6d(R)), R)
    torch.testing.assert_close(rot.yaw_pitch_roll_to_matrix(rot.matrix_to_yaw_pitch_roll(R)), R)
    noisy = R + 1e-3 * torch.randn(64, 3, 3, generator=g, dtype=torch.float64)
    assert roma.is_rotation_matrix(rot.orthonormalize(noisy), epsilon=1e-9).all()
    q = rot.matrix_to_quaternion(R)
    assert (rot.canonical_quaternion(-q)[..., 3] >= 0).all()
    torch.testing.assert_close(rot.skew(aa[:1])[0] @ aa[1], torch.linalg.cross(aa[0], aa[1]))
    assert float(rot.geodesic_distance(R[0], R[0])) < 1e-6


def test_head_angle_conventions():
    face = torch.tensor([0.0, 0.0, 1.0])
    yaw = rot.yaw_pitch_roll_to_matrix(torch.tensor([0.5, 0.0, 0.0]))
    assert (yaw @ face)[0] > 0  # positive yaw turns the face toward +x (the subject's left)
    pitch = rot.yaw_pitch_roll_to_matrix(torch.tensor([0.0, 0.5, 0.0]))
    assert (pitch @ face)[1] < 0  # positive pitch tilts the face down
    roll = rot.yaw_pitch_roll_to_matrix(torch.tensor([0.0, 0.0, 0.5]))
    assert (roll @ torch.tensor([0.0, 1.0, 0.0]))[0] < 0  # positive roll tilts the top toward -x


def test_gradients_are_finite_at_zero():
    aa = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    rot.axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()
