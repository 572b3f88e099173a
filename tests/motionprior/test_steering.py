"""Steered training targets for drifted inputs: no drift gives the ground truth, hand-computed cases,
and a critically damped return when the targets are followed."""

from __future__ import annotations

import math

import pytest
import torch

from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from motionprior.state import StateSpec
from motionprior.steering import steered_target

SPEC = StateSpec(n_exp=4, n_landmarks=2)
DT = 1.0 / 30.0


def _trajectory(n: int, omega: float = 0.8, lm_speed: float = 2.0) -> torch.Tensor:
    """``(n, dim)`` ground truth: the head turns at ``omega`` rad/s about y, landmarks move along x at
    ``lm_speed`` cm/s, jaw fixed, expression rising linearly (float64)."""
    t = torch.arange(n, dtype=torch.float64) * DT
    x = torch.zeros(n, SPEC.dim, dtype=torch.float64)
    aa = torch.zeros(n, 3, dtype=torch.float64)
    aa[:, 1] = omega * t
    x[:, SPEC.slices["root_orient"]] = axis_angle_to_matrix(aa).flatten(1)
    x[:, SPEC.slices["root_orient_vel"]] = torch.tensor([0.0, omega, 0.0], dtype=torch.float64)
    x[:, SPEC.slices["jaw"]] = torch.eye(3, dtype=torch.float64).flatten()
    x[:, SPEC.slices["expression"]] = 0.5 * t[:, None]
    lm = torch.zeros(n, 2, 3, dtype=torch.float64)
    lm[..., 0] = lm_speed * t[:, None]
    x[:, SPEC.slices["landmarks"]] = lm.flatten(1)
    x[:, SPEC.slices["landmarks_vel"]] = torch.tensor([lm_speed, 0.0, 0.0] * 2, dtype=torch.float64)
    return x


def test_without_drift_the_target_is_the_ground_truth():
    gt = _trajectory(3)
    torch.testing.assert_close(steered_target(SPEC, gt[1], gt[1], gt[2], 0.5), gt[2], atol=1e-12, rtol=0)


def test_hand_computed_target_of_a_drifted_state():
    gt = _trajectory(3)
    tau = 0.5
    kp, kd = 1 / tau ** 2, 2 / tau
    drifted = gt[1].clone()
    drifted[SPEC.slices["expression"]] += 0.3                       # no velocity in the state: first order
    drifted[SPEC.slices["landmarks"]] += 1.0                        # position error -1 cm on every coordinate
    drifted[SPEC.slices["landmarks_vel"]] += 3.0                    # velocity error -3 cm/s
    y = steered_target(SPEC, drifted, gt[1], gt[2], tau)
    exp = SPEC.slices["expression"]
    torch.testing.assert_close(y[exp], drifted[exp] + (gt[2, exp] - gt[1, exp]) - 0.3 * DT / tau)
    dv = 3.0 + DT * (kp * -1.0 + kd * -3.0)                       # target velocity minus the ground truth's
    vs, ls = SPEC.slices["landmarks_vel"], SPEC.slices["landmarks"]
    torch.testing.assert_close(y[vs], gt[2, vs] + dv)
    torch.testing.assert_close(y[ls], drifted[ls] + (gt[2, ls] - gt[1, ls]) + DT * dv)
    for part in ("root_orient", "root_orient_vel", "jaw"):          # not drifted: the ground truth
        torch.testing.assert_close(y[SPEC.slices[part]], gt[2, SPEC.slices[part]])


def test_following_the_targets_returns_critically_damped():
    """A state drifted by 0.2 rad of yaw and 1 cm, with the right velocities, follows its targets
    step after step: the error decays like (1 + t / tau) exp(-t / tau) and never changes sign."""
    tau, n = 0.4, 91
    gt = _trajectory(n)
    x = gt[0].clone()
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.2, 0.0], dtype=torch.float64))
    x[SPEC.slices["root_orient"]] = (turn @ SPEC.get(gt[0], "root_orient")[0]).flatten()
    x[SPEC.slices["landmarks"]] += 1.0
    yaw_err, lm_err = [], []
    for t in range(n - 1):
        x = steered_target(SPEC, x, gt[t], gt[t + 1], tau)
        rel = SPEC.get(x, "root_orient")[0] @ SPEC.get(gt[t + 1], "root_orient")[0].T
        yaw_err.append(float(matrix_to_axis_angle(rel)[1]))
        lm_err.append(float((x[SPEC.slices["landmarks"]] - gt[t + 1, SPEC.slices["landmarks"]]).mean()))
    for err, e0 in ((yaw_err, 0.2), (lm_err, 1.0)):
        assert min(err) > 0                                          # no overshoot
        t1 = round(tau / DT)
        ideal = (1 + 1) * math.exp(-1)                               # continuous solution at t = tau: 0.74
        assert err[t1 - 1] / e0 == pytest.approx(ideal, abs=0.05)
        assert err[-1] / e0 < 0.01                                   # 7.5 time constants later: gone
    # turns about one axis commute: the rotation error follows the same dynamics as the landmark error
    assert [e / 0.2 for e in yaw_err] == pytest.approx(lm_err, rel=1e-6, abs=1e-9)


def test_return_time_must_be_positive():
    gt = _trajectory(2)
    with pytest.raises(ValueError, match="return_time"):
        steered_target(SPEC, gt[0], gt[0], gt[1], 0.0)


def test_a_part_with_an_extra_velocity_keeps_its_momentum():
    """Without a velocity the target's jaw step is the ground truth's (a fixed jaw: none), whatever the
    drifted jaw was doing; with ``jaw_vel`` in the state the drifted jaw keeps turning, slowed by the spring."""
    spec = StateSpec(n_exp=4, n_landmarks=2, extra_velocities=("jaw",))
    gt = torch.zeros(3, spec.dim, dtype=torch.float64)
    base = _trajectory(3)
    for part in SPEC.parts:
        gt[:, spec.slices[part]] = base[:, SPEC.slices[part]]
    drifted = gt[1].clone()
    drifted[spec.slices["jaw_vel"]] = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)  # opening at 2 rad/s
    tau = 0.5
    y = steered_target(spec, drifted, gt[1], gt[2], tau)
    dv = 2.0 + DT * (2 / tau) * -2.0                                 # no angle error, velocity error -2 rad/s
    torch.testing.assert_close(y[spec.slices["jaw_vel"]], torch.tensor([dv, 0.0, 0.0], dtype=torch.float64))
    turned = matrix_to_axis_angle(spec.get(y, "jaw")[0])
    torch.testing.assert_close(turned, torch.tensor([DT * dv, 0.0, 0.0], dtype=torch.float64))
    assert turned[0] > 0.8 * 2.0 * DT                                # most of the step it was making
    no_vel = steered_target(SPEC, base[1], base[1], base[2], tau)    # the same drift-free jaw without jaw_vel
    torch.testing.assert_close(SPEC.get(no_vel, "jaw"), SPEC.get(base[2], "jaw"))


def test_return_time_per_part():
    """The expression steered with its own 0.1 s, the landmarks with 0.5 s (hand-computed as in
    ``test_hand_computed_target_of_a_drifted_state``); unknown or missing parts and non-positive times are
    errors."""
    gt = _trajectory(3)
    drifted = gt[1].clone()
    drifted[SPEC.slices["expression"]] += 0.3
    drifted[SPEC.slices["landmarks"]] += 1.0
    times = {"root_orient": 0.5, "jaw": 0.5, "expression": 0.1, "landmarks": 0.5}
    y = steered_target(SPEC, drifted, gt[1], gt[2], times)
    exp, ls, vs = SPEC.slices["expression"], SPEC.slices["landmarks"], SPEC.slices["landmarks_vel"]
    torch.testing.assert_close(y[exp], drifted[exp] + (gt[2, exp] - gt[1, exp]) - 0.3 * DT / 0.1)
    dv = DT * (1 / 0.5 ** 2) * -1.0
    torch.testing.assert_close(y[vs], gt[2, vs] + dv)
    torch.testing.assert_close(y[ls], drifted[ls] + (gt[2, ls] - gt[1, ls]) + DT * dv)
    with pytest.raises(ValueError, match="unknown"):
        steered_target(SPEC, drifted, gt[1], gt[2], times | {"landmarks_vel": 0.1})
    with pytest.raises(ValueError, match="missing"):
        steered_target(SPEC, drifted, gt[1], gt[2], {"jaw": 0.1})
    with pytest.raises(ValueError, match="> 0"):
        steered_target(SPEC, drifted, gt[1], gt[2], times | {"jaw": 0.0})
