"""The HuMoR-Face state: layout, velocities, resampling and the featurize -> defeaturize round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from flame.errors import InputError
from flame.sequence import FlameSequence
from flame.types import FlameParams
from motionprior.state import (
    StateSpec,
    angular_velocity,
    frame_vectors,
    prior_layer,
    resample_positions,
    reverse_states,
    sequence_to_states,
    states_at,
    states_to_params,
)


def smooth_sequence(layer, t: int = 61, fps: float = 60.0, yaw_rate: float = 1.0, seed: int = 0) -> FlameSequence:
    """One view: a head turning at ``yaw_rate`` rad/s, the jaw opening and closing, a slow expression."""
    rng = np.random.default_rng(seed)
    time = np.arange(t) / fps
    pose = np.zeros((1, t, 15), np.float32)
    pose[0, :, 1] = yaw_rate * time - 0.3
    pose[0, :, 6] = 0.15 * (1 - np.cos(2 * np.pi * time))
    expr = (np.sin(time[:, None] * rng.uniform(1, 3, 50)) * rng.normal(0, 0.5, 50)).astype(np.float32)[None]
    return FlameSequence(
        model=layer.model_label, model_sha256=layer.model_sha256, fps=fps, view_names=np.array(["front"]),
        frame_ids=np.arange(t), shape=rng.normal(0, 0.7, 100).astype(np.float32), expression=expr, pose=pose,
        cam=np.full((1, t, 3), 8.0, np.float32), crop_tform=np.tile(np.eye(3, dtype=np.float32), (1, t, 1, 1)),
        landmarks2d=np.zeros((1, t, 68, 3), np.float32), valid=np.ones((1, t), bool), image_size=np.array([[224, 224]]))


def test_layout_sizes():
    assert StateSpec().dim == 9 + 3 + 9 + 50 + 204 + 204 == 479
    assert StateSpec().out_dim == 3 + 3 + 3 + 50 + 204 + 204 == 467
    literal = StateSpec(n_exp=0)  # HuMoR-Face's paper-literal state (no expression)
    assert (literal.dim, literal.out_dim) == (429, 417)
    full = StateSpec(neck=True, eyes=True)
    assert full.rotations == ["root_orient", "jaw", "neck", "eyes"] and full.dim == 479 + 27


def test_resample_positions_hand_cases():
    np.testing.assert_array_equal(resample_positions(7, 60.0), [0, 2, 4, 6])
    np.testing.assert_array_equal(resample_positions(5, 30.0), np.arange(5))
    pos = resample_positions(100, 25.0)
    assert len(pos) == 119 and pos[0] == 0 and pos[-1] == pytest.approx(98 + 1 / 3)
    np.testing.assert_allclose(np.diff(pos), 25 / 30)


def test_resampling_25_fps_interpolates_instead_of_duplicating_frames():
    spec = StateSpec(n_exp=1)
    t = torch.arange(26, dtype=torch.float64) / 25.0
    pose = torch.zeros(26, 15, dtype=torch.float64)
    pose[:, 1] = 0.5 * t  # a constant-rate turn about y
    frames = frame_vectors(pose, t[:, None], torch.zeros(26, 68, 3, dtype=torch.float64), spec)  # expression linear in time
    out = states_at(lambda i: frames[i], 26, 25.0, spec, torch.as_tensor(resample_positions(26, 25.0)))
    assert len(out) == 31
    np.testing.assert_allclose(np.diff(out[:, spec.slices["expression"]], axis=0), 1 / 30, atol=1e-12)  # no stutter
    r = spec.get(out, "root_orient")[:, 0]
    np.testing.assert_allclose(torch.atan2(r[:, 0, 2], r[:, 2, 2]), 0.5 * np.arange(31) / 30, atol=1e-9)
    # a central difference of rotation matrices: sin(w h) / h, 1 - 7e-5 of the rate at h = 1/25 s
    np.testing.assert_allclose(out[:, spec.slices["root_orient_vel"]], np.tile([0.0, 0.5, 0.0], (31, 1)), atol=5e-5)


def test_states_of_a_few_frames_equal_those_of_the_whole_sequence_and_carry_gradients(layer64):
    """What the annotator's prior term does: a few states of a long motion, read from the frames they need,
    with gradients to those frames only."""
    seq = smooth_sequence(layer64, t=41, fps=25.0)
    spec = StateSpec(extra_velocities=("jaw", "expression"))
    whole = torch.as_tensor(sequence_to_states(seq, layer64, spec))
    lm = layer64.landmarks(FlameParams(torch.as_tensor(np.pad(seq.shape, (0, 200)), dtype=torch.float64)[None],
                                       torch.as_tensor(np.pad(seq.expression[0], ((0, 0), (0, 50))), dtype=torch.float64),
                                       torch.as_tensor(seq.pose[0], dtype=torch.float64))).landmarks3d * 100
    frames = frame_vectors(torch.as_tensor(seq.pose[0], dtype=torch.float64),
                           torch.as_tensor(seq.expression[0], dtype=torch.float64), lm, spec).requires_grad_()
    positions = torch.as_tensor(resample_positions(41, 25.0))
    pick = torch.tensor([0, 7, 8, 47, 48])  # both ends and a few inside
    few = states_at(lambda i: frames[i], 41, 25.0, spec, positions[pick])
    torch.testing.assert_close(few, whole[pick], atol=1e-9, rtol=0)
    few[2].sum().backward()  # the state at 30 Hz frame 8 = native position 6.67: frames 5..8 through velocities
    touched = torch.nonzero(frames.grad.abs().sum(-1)).flatten().tolist()
    assert touched == [5, 6, 7, 8]


def test_angular_velocity_of_a_constant_turn():
    t = np.arange(30) / 60.0
    rot = torch.stack([torch.tensor([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
                       for a in 1.5 * t])
    w = angular_velocity(rot, 60.0)
    np.testing.assert_allclose(w, np.tile([0.0, 1.5, 0.0], (30, 1)), atol=2e-4)


def test_featurize_defeaturize_round_trip(layer64):
    layer = layer64
    seq = smooth_sequence(layer)
    spec = StateSpec()
    states = sequence_to_states(seq, layer, spec)
    idx = resample_positions(seq.n_frames, seq.fps).astype(int)  # 60 -> 30 fps: every other frame
    assert states.shape == (len(idx), spec.dim) == (31, 479)
    params = states_to_params(torch.as_tensor(states), spec, torch.as_tensor(seq.shape, dtype=torch.float64), 50)
    np.testing.assert_allclose(params.pose.numpy(), seq.pose[0, idx], atol=1e-6)
    np.testing.assert_allclose(params.expression.numpy(), seq.expression[0, idx], atol=1e-6)
    # landmarks (cm) are FLAME's landmarks of the parameters; velocities are native-rate central differences
    pad = lambda a, n: np.concatenate([a, np.zeros((*a.shape[:-1], n - a.shape[-1]))], -1)  # noqa: E731
    lm = layer.landmarks(FlameParams(torch.as_tensor(pad(seq.shape, 300))[None],
                                     torch.as_tensor(pad(seq.expression[0], 100)),
                                     torch.as_tensor(seq.pose[0], dtype=torch.float64))).landmarks3d.numpy() * 100
    np.testing.assert_allclose(spec.get(torch.as_tensor(states), "landmarks").numpy(), lm[idx], atol=1e-6)
    vel = (lm[2:] - lm[:-2]) * seq.fps / 2
    np.testing.assert_allclose(spec.get(torch.as_tensor(states[1:-1]), "landmarks_vel").numpy(), vel[idx[1:-1] - 1],
                               atol=1e-6)
    np.testing.assert_allclose(states[:, spec.slices["root_orient_vel"]], np.tile([0, 1.0, 0], (31, 1)), atol=1e-3)


def test_paper_literal_state_has_no_expression(layer32):
    spec = StateSpec(n_exp=0)
    states = sequence_to_states(smooth_sequence(layer32, t=31, fps=30.0), layer32, spec)
    assert states.shape == (31, 429)
    params = states_to_params(torch.as_tensor(states), spec, torch.zeros(100), 50)
    assert params.expression.abs().max() == 0


def test_rotation_parts_are_rotation_matrices(layer32):
    spec = StateSpec()
    states = torch.as_tensor(sequence_to_states(smooth_sequence(layer32), layer32, spec))
    for part in spec.rotations:
        r = spec.get(states, part)
        np.testing.assert_allclose((r @ r.transpose(-1, -2)).numpy(), np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
        assert torch.det(r).min() == pytest.approx(1.0, abs=1e-6)


def test_reverse_states_equals_featurizing_the_reversed_sequence(layer64):
    """Oracle: play the FLAME parameters backwards and featurize them (30 fps, so no resampling)."""
    seq = smooth_sequence(layer64, t=31, fps=30.0)
    backwards = dataclasses.replace(seq, pose=seq.pose[:, ::-1].copy(), expression=seq.expression[:, ::-1].copy())
    spec = StateSpec()
    forward = torch.as_tensor(sequence_to_states(seq, layer64, spec))
    expected = sequence_to_states(backwards, layer64, spec)
    np.testing.assert_allclose(reverse_states(forward, spec).numpy(), expected, atol=1e-6)
    assert spec.get(forward, "root_orient_vel")[:, 1].min() > 0.9  # the head turns one way...
    assert spec.get(reverse_states(forward, spec), "root_orient_vel")[:, 1].max() < -0.9  # ...and back
    # batched (..., T, dim) and an involution
    both = torch.stack([forward, forward.flip(0)])
    assert torch.equal(reverse_states(both, spec)[0], reverse_states(forward, spec))
    assert torch.equal(reverse_states(reverse_states(forward, spec), spec), forward)


def test_extra_velocities_layout_and_validation():
    spec = StateSpec(extra_velocities=["jaw", "expression"])  # a list, as from a YAML config
    assert spec.extra_velocities == ("jaw", "expression")
    assert list(spec.parts) == ["root_orient", "root_orient_vel", "jaw", "jaw_vel", "expression", "expression_vel",
                                "landmarks", "landmarks_vel"]
    assert spec.dim == 479 + 3 + 50 and spec.out_dim == 467 + 3 + 50
    assert list(StateSpec().parts) == ["root_orient", "root_orient_vel", "jaw", "expression", "landmarks",
                                       "landmarks_vel"]  # the default layout is unchanged
    assert StateSpec(eyes=True, extra_velocities=("eyes",)).parts["eyes_vel"] == 6
    with pytest.raises(ValueError, match="not one of"):
        StateSpec(extra_velocities=("root_orient",))
    with pytest.raises(ValueError, match="not in this state"):
        StateSpec(extra_velocities=("neck",))
    with pytest.raises(ValueError, match="not in this state"):
        StateSpec(n_exp=0, extra_velocities=("expression",))
    with pytest.raises(ValueError, match="twice"):
        StateSpec(extra_velocities=("jaw", "jaw"))


def test_extra_velocities_are_native_rate_derivatives(layer64):
    """smooth_sequence's jaw opens as 0.15 (1 - cos 2 pi t) about x: angular velocity 0.3 pi sin(2 pi t);
    the expression's velocity is its central difference at 60 fps."""
    seq = smooth_sequence(layer64)
    spec = StateSpec(extra_velocities=("jaw", "expression"))
    states = sequence_to_states(seq, layer64, spec)
    base = sequence_to_states(seq, layer64, StateSpec())
    for part in StateSpec().parts:  # the other parts are what the default state has
        np.testing.assert_array_equal(states[:, spec.slices[part]], base[:, StateSpec().slices[part]])
    t = np.arange(31) / 30.0
    expected = np.zeros((31, 3))
    expected[:, 0] = 0.3 * np.pi * np.sin(2 * np.pi * t)
    np.testing.assert_allclose(states[1:-1, spec.slices["jaw_vel"]], expected[1:-1], atol=5e-3)
    idx = resample_positions(seq.n_frames, seq.fps).astype(int)
    e = seq.expression[0].astype(np.float64)
    np.testing.assert_allclose(states[1:-1, spec.slices["expression_vel"]], ((e[2:] - e[:-2]) * 30.0)[idx[1:-1] - 1],
                               atol=1e-5)


def test_reverse_states_negates_the_extra_velocities(layer64):
    seq = smooth_sequence(layer64, t=31, fps=30.0)
    backwards = dataclasses.replace(seq, pose=seq.pose[:, ::-1].copy(), expression=seq.expression[:, ::-1].copy())
    spec = StateSpec(extra_velocities=("jaw", "expression"))
    forward = torch.as_tensor(sequence_to_states(seq, layer64, spec))
    np.testing.assert_allclose(reverse_states(forward, spec).numpy(), sequence_to_states(backwards, layer64, spec),
                               atol=1e-6)


def test_the_state_keeps_the_leading_expression_components_and_the_layer_holds_them(layer32, standin_paths):
    seq = smooth_sequence(layer32, t=31, fps=30.0)
    spec = StateSpec(n_exp=4)
    states = sequence_to_states(seq, layer32, spec)
    np.testing.assert_allclose(spec.get(torch.as_tensor(states), "expression").numpy(), seq.expression[0, :, :4],
                               atol=1e-6)
    assert prior_layer(StateSpec(n_exp=4), str(standin_paths.pkl)).n_exp == 50  # the default count, at least
    wide = StateSpec(n_exp=80)
    assert prior_layer(wide, str(standin_paths.pkl)).n_exp == 80
    with pytest.raises(InputError, match="80 expression components but the layer 50"):
        states_to_params(torch.zeros(2, wide.dim, dtype=torch.float64), wide, torch.zeros(100), 50)
