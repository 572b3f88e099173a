"""The HuMoR-Face state: one frame of facial motion as a vector, and its conversions.

Per frame, in the camera-aligned FLAME frame (the frame of each view of an annotation; no
translation - the head rotates about FLAME's root joint):

======================  =========  ==========================================================
part                    size       meaning
======================  =========  ==========================================================
``root_orient``         9          global head rotation, 3x3 matrix (row-major)
``root_orient_vel``     3          its angular velocity, rad/s (from the skew part of dR/dt R^T)
``jaw``                 9          jaw rotation matrix
``neck``, ``eyes``      9, 18      optional rotations (our annotations keep them at 0)
``expression``          n_exp      FLAME expression (0 = the paper-literal state, without it)
``landmarks``           68 x 3     the 68 "full" 3D landmarks, **cm**
``landmarks_vel``       68 x 3     their velocities, cm/s
======================  =========  ==========================================================

Optionally (``extra_velocities``) the jaw, neck, eyes and expression get velocities too, each right after
its part: ``jaw_vel`` (3, rad/s, like ``root_orient_vel``), ``neck_vel`` (3), ``eyes_vel`` (6),
``expression_vel`` (n_exp, 1/s). HuMoR gives its joint angles none; without them, nothing in the state says
whether the jaw is opening or closing except the mouth landmarks' velocities, mixed with head motion.

Velocities are central differences at the native frame rate, computed before resampling to 30 Hz.
Resampling interpolates (rotations by slerp, everything else linearly) at the 30 Hz times: HuMoR's
nearest-frame resampling is exact for its 60/120 Hz mocap, but turns 25 fps video (VoxCeleb2) into a
stutter - every sixth frame a duplicate, i.e. a zero step followed by a double one. The decoder's output has the same parts with rotations as axis-angle
deltas (3 per rotation) - see :class:`StateSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from flame.errors import InputError
from flame.head import head_layer
from flame.layer import FlameLayer
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from flame.sequence import MOTION_FPS, FlameSequence, resample_positions, resize_coefficients, sequence_to_params
from flame.types import N_EXP, POSE_SLICES, FlameParams

__all__ = ["StateSpec", "angular_velocity", "central_difference", "resample_positions", "resample_states",
           "sequence_to_states", "states_to_params", "reverse_states", "prior_layer", "ROTATIONS", "VELOCITY_OF",
           "OPTIONAL_VELOCITIES"]

ROTATIONS = ("root_orient", "jaw", "neck", "eyes")
#: parts whose velocity is always in the state
VELOCITY_OF = {"root_orient": "root_orient_vel", "landmarks": "landmarks_vel"}
#: parts that can get one (``StateSpec.extra_velocities``)
OPTIONAL_VELOCITIES = ("jaw", "neck", "eyes", "expression")


@dataclass(frozen=True)
class StateSpec:
    """The layout of the state vector (input) and of the decoder's output.

    Attributes:
        n_exp: the leading expression components kept in the state (0: the paper-literal state without
            expression); sequences with fewer are zero-padded, the components beyond are not modelled.
        neck: include the neck rotation; eyes: include both eye rotations.
        n_landmarks: 3D landmarks (68, the "full" iBUG embedding).
        extra_velocities: parts among ``OPTIONAL_VELOCITIES`` that get a velocity too (the head rotation
            and the landmarks always have one), e.g. ``("jaw", "expression")``.
    """

    n_exp: int = N_EXP
    neck: bool = False
    eyes: bool = False
    n_landmarks: int = 68
    extra_velocities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_velocities", tuple(self.extra_velocities))  # lists from configs
        present = {"jaw": True, "neck": self.neck, "eyes": self.eyes, "expression": self.n_exp > 0}
        for part in self.extra_velocities:
            if part not in OPTIONAL_VELOCITIES:
                raise ValueError(f"extra_velocities: {part!r} is not one of {OPTIONAL_VELOCITIES}")
            if not present[part]:
                raise ValueError(f"extra_velocities: {part!r} is not in this state (enable it: neck / eyes / "
                                 "n_exp > 0)")
        if len(set(self.extra_velocities)) != len(self.extra_velocities):
            raise ValueError(f"extra_velocities lists a part twice: {self.extra_velocities}")

    @cached_property
    def velocity_of(self) -> dict[str, str]:
        """Part -> its velocity part, for every part that has one."""
        return {p: f"{p}_vel" for p in ("root_orient", *OPTIONAL_VELOCITIES, "landmarks")
                if p in VELOCITY_OF or p in self.extra_velocities}

    @cached_property
    def parts(self) -> dict[str, int]:
        """State part -> size, in order (a velocity right after its part)."""
        p = {"root_orient": 9, "jaw": 9}
        if self.neck:
            p["neck"] = 9
        if self.eyes:
            p["eyes"] = 18
        if self.n_exp:
            p["expression"] = self.n_exp
        p["landmarks"] = 3 * self.n_landmarks
        out = {}
        for part, n in p.items():
            out[part] = n
            if part in self.velocity_of:
                out[self.velocity_of[part]] = n // 3 if part in ROTATIONS else n
        return out

    @cached_property
    def slices(self) -> dict[str, slice]:
        return _slices(self.parts)

    @cached_property
    def out_parts(self) -> dict[str, int]:
        """Decoder output part -> size: rotations as axis-angle deltas (3 per rotation)."""
        return {k: (n // 3 if k in ROTATIONS else n) for k, n in self.parts.items()}

    @cached_property
    def out_slices(self) -> dict[str, slice]:
        return _slices(self.out_parts)

    @property
    def dim(self) -> int:
        return sum(self.parts.values())

    @property
    def out_dim(self) -> int:
        return sum(self.out_parts.values())

    @property
    def rotations(self) -> list[str]:
        return [k for k in self.parts if k in ROTATIONS]

    @property
    def euclidean(self) -> list[str]:
        return [k for k in self.parts if k not in ROTATIONS]

    def euclidean_mask(self) -> Tensor:
        """``(dim,)`` bool: the channels that are normalized (everything but rotation matrices)."""
        m = torch.zeros(self.dim, dtype=torch.bool)
        for k in self.euclidean:
            m[self.slices[k]] = True
        return m

    def get(self, states: Tensor, part: str) -> Tensor:
        """A part of ``states (..., dim)``: rotations as ``(..., k, 3, 3)``, landmarks as ``(..., 68, 3)``."""
        x = states[..., self.slices[part]]
        if part in ROTATIONS:
            return x.reshape(*x.shape[:-1], -1, 3, 3)
        if part in ("landmarks", "landmarks_vel"):
            return x.reshape(*x.shape[:-1], self.n_landmarks, 3)
        return x


def _slices(parts: dict[str, int]) -> dict[str, slice]:
    out, start = {}, 0
    for k, n in parts.items():
        out[k] = slice(start, start + n)
        start += n
    return out


def central_difference(x: np.ndarray, fps: float) -> np.ndarray:
    """``(x[t+1] - x[t-1]) / (2 h)`` along axis 0 (one-sided at the ends); ``h = 1 / fps``."""
    return np.gradient(x, 1.0 / fps, axis=0)


def angular_velocity(rot: np.ndarray, fps: float) -> np.ndarray:
    """``(T, 3)`` rad/s of rotation matrices ``(T, 3, 3)``: ``vee(skew(dR/dt R^T))``."""
    w = np.einsum("tij,tkj->tik", central_difference(rot, fps), rot)
    w = 0.5 * (w - np.swapaxes(w, 1, 2))
    return np.stack([w[:, 2, 1], w[:, 0, 2], w[:, 1, 0]], axis=1)


def resample_states(states: np.ndarray, positions: np.ndarray, spec: "StateSpec") -> np.ndarray:
    """States ``(T, dim)`` at fractional frame ``positions``: rotation blocks by slerp, the rest linearly."""
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, len(states) - 1)
    w = (positions - lo)[:, None]
    out = (1.0 - w) * states[lo] + w * states[hi]
    for part in spec.rotations:
        sl = spec.slices[part]
        a = torch.as_tensor(states[lo, sl]).reshape(len(lo), -1, 3, 3)
        b = torch.as_tensor(states[hi, sl]).reshape(len(lo), -1, 3, 3)
        rel = matrix_to_axis_angle(a.transpose(-1, -2) @ b) * torch.as_tensor(w)[:, :, None]
        out[:, sl] = (a @ axis_angle_to_matrix(rel)).reshape(len(lo), -1).numpy()
    return out


def sequence_to_states(seq: FlameSequence, layer: FlameLayer, spec: StateSpec, view: int = 0,
                       target_fps: float = MOTION_FPS) -> np.ndarray:
    """States ``(T30, dim)`` float64 of one view of an annotated sequence, resampled to ``target_fps``."""
    pose = np.asarray(seq.pose[view], np.float64)
    with torch.no_grad():
        out = layer.landmarks(sequence_to_params(seq, layer, view))
    lm = out.landmarks3d.double().numpy() * 100.0  # cm
    rots = {k: axis_angle_to_matrix(torch.as_tensor(pose[:, POSE_SLICES[s]])).numpy()[:, None]
            for k, s in (("root_orient", "global"), ("jaw", "jaw"), ("neck", "neck"))}
    rots["eyes"] = np.stack([axis_angle_to_matrix(torch.as_tensor(pose[:, POSE_SLICES[e]])).numpy()
                             for e in ("left_eye", "right_eye")], 1)
    parts = {k: r.reshape(len(r), -1) for k, r in rots.items()}  # (T, k, 3, 3) -> (T, 9k)
    expression = np.asarray(seq.expression[view], np.float64)[:, :spec.n_exp]  # the state's leading components
    parts["expression"] = resize_coefficients(expression, spec.n_exp, "expression") if spec.n_exp else None
    parts["landmarks"] = lm.reshape(len(lm), -1)
    for part, vel in spec.velocity_of.items():
        if part in ROTATIONS:
            parts[vel] = np.concatenate([angular_velocity(r, seq.fps) for r in rots[part].swapaxes(0, 1)], 1)
        else:
            parts[vel] = central_difference(parts[part], seq.fps)
    states = np.concatenate([parts[k] for k in spec.parts], axis=1)
    return resample_states(states, resample_positions(len(states), seq.fps, target_fps), spec)


def reverse_states(states: Tensor, spec: StateSpec) -> Tensor:
    """The motion played backwards: states ``(..., T, dim)`` in reverse time order with the velocity parts
    negated. Exact for the velocities of :func:`sequence_to_states` (central differences, one-sided at the
    ends, all negate under time reversal), so for a 30 fps sequence this equals featurizing the reversed
    sequence."""
    sign = torch.ones(spec.dim, dtype=states.dtype, device=states.device)
    for velocity in spec.velocity_of.values():
        sign[spec.slices[velocity]] = -1.0
    return states.flip(-2) * sign


def states_to_params(states: Tensor, spec: StateSpec, shape: Tensor, n_exp: int) -> FlameParams:
    """FLAME parameters of states ``(..., dim)`` for a layer with ``n_exp`` expression components:
    rotations back to axis-angle, the expression (zero-padded; all zeros for a paper-literal state) and
    the given identity ``shape (n_shape,)``. A layer with fewer expression components than the state is
    refused (see :func:`prior_layer`)."""
    if spec.n_exp > n_exp:
        raise InputError(f"the state has {spec.n_exp} expression components but the layer {n_exp}; build the layer "
                         f"with n_exp={spec.n_exp} (motionprior.state.prior_layer)")
    batch = states.shape[:-1]
    pose = states.new_zeros(*batch, 15)
    pose[..., 0:3] = matrix_to_axis_angle(spec.get(states, "root_orient")[..., 0, :, :])
    pose[..., 6:9] = matrix_to_axis_angle(spec.get(states, "jaw")[..., 0, :, :])
    if spec.neck:
        pose[..., 3:6] = matrix_to_axis_angle(spec.get(states, "neck")[..., 0, :, :])
    if spec.eyes:
        pose[..., 9:15] = matrix_to_axis_angle(spec.get(states, "eyes")).flatten(-2)
    expr = states.new_zeros(*batch, n_exp)
    if spec.n_exp:
        expr[..., :spec.n_exp] = spec.get(states, "expression")
    return FlameParams(shape.to(states.dtype).expand(*batch, -1), expr, pose)


def prior_layer(spec: StateSpec, flame_model: str | None = None, assets: str | None = None) -> FlameLayer:
    """The head model of a prior with state ``spec`` (:func:`flame.head.head_layer`): the default number
    of expression components, or the state's if it has more."""
    return head_layer(flame_model, assets=assets, n_exp=max(spec.n_exp, N_EXP))
