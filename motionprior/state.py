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
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from flame.errors import InputError
from flame.head import head_layer
from flame.layer import FlameLayer
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from flame.sequence import MOTION_FPS, FlameSequence, resample_positions, sequence_to_params
from flame.types import N_EXP, POSE_SLICES, FlameParams

__all__ = ["StateSpec", "angular_velocity", "central_difference", "resample_positions", "frame_vectors",
           "interpolate_states", "states_at", "sequence_to_states", "states_to_params", "reverse_states", "prior_layer", "ROTATIONS", "VELOCITY_OF",
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
    def base_of(self) -> dict[str, str]:
        """Velocity part -> the part it is the velocity of."""
        return {v: p for p, v in self.velocity_of.items()}

    @cached_property
    def frame_parts(self) -> dict[str, int]:
        """The parts that are not velocities (what one frame alone determines), in state order."""
        return {k: n for k, n in self.parts.items() if k not in self.base_of}

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


def _vee_skew(m: Tensor) -> Tensor:
    """``vee`` of the skew-symmetric part of ``m (..., 3, 3)``: ``(..., 3)``."""
    w = 0.5 * (m - m.transpose(-1, -2))
    return torch.stack([w[..., 2, 1], w[..., 0, 2], w[..., 1, 0]], -1)


def central_difference(x: Tensor, fps: float) -> Tensor:
    """``(x[t+1] - x[t-1]) / (2 h)`` along the time axis (-2) of ``x (..., T, C)``, one-sided at the ends;
    ``h = 1 / fps``. Zero for a single frame."""
    prev, nxt = _neighbours(torch.arange(x.shape[-2], device=x.device), x.shape[-2])
    return _difference(x.index_select(-2, prev), x.index_select(-2, nxt), prev, nxt, fps)


def _neighbours(idx: Tensor, n_frames: int) -> tuple[Tensor, Tensor]:
    """The frames a central difference at ``idx`` reads: one before and one after, clamped to the sequence."""
    return (idx - 1).clamp(min=0), (idx + 1).clamp(max=n_frames - 1)


def _difference(x_prev: Tensor, x_next: Tensor, prev: Tensor, nxt: Tensor, fps: float) -> Tensor:
    """``(x_next - x_prev) / ((nxt - prev) / fps)`` of values ``(..., N, C)`` at frames ``prev``, ``nxt (N,)``
    (zero where they coincide: a single frame)."""
    span = (nxt - prev).to(x_prev.dtype)[:, None] / fps
    return (x_next - x_prev) / span.clamp(min=1e-12) * (span > 0)


def angular_velocity(rot: Tensor, fps: float) -> Tensor:
    """``(..., T, 3)`` rad/s of rotation matrices ``(..., T, 3, 3)``: ``vee(skew(dR/dt R^T))``."""
    d = central_difference(rot.flatten(-2), fps).unflatten(-1, (3, 3))
    return _vee_skew(d @ rot.transpose(-1, -2))


def frame_vectors(pose: Tensor, expression: Tensor, landmarks: Tensor, spec: StateSpec) -> Tensor:
    """The parts of the state of ``spec`` that are not velocities, ``(..., T, frame_dim)`` in state order, of
    frames with axis-angle ``pose (..., T, 15)``, ``expression (..., T, n)`` (cut or zero-padded to the
    state's ``n_exp``) and 3D ``landmarks (..., T, n_landmarks, 3)`` in cm. Differentiable."""
    blocks = []
    for part in spec.frame_parts:
        if part in ROTATIONS:
            names = ("left_eye", "right_eye") if part == "eyes" else ({"root_orient": "global"}.get(part, part),)
            rots = [axis_angle_to_matrix(pose[..., POSE_SLICES[n]]) for n in names]
            blocks.append(torch.stack(rots, -3).flatten(-3))
        elif part == "expression":
            e = expression[..., :spec.n_exp]
            blocks.append(torch.nn.functional.pad(e, (0, spec.n_exp - e.shape[-1])))
        else:
            blocks.append(landmarks.flatten(-2))
    return torch.cat(blocks, -1)


def interpolate_states(a: Tensor, b: Tensor, w: Tensor, spec: StateSpec) -> Tensor:
    """States between ``a`` and ``b (..., J, dim)`` at fractions ``w (J,)``: rotation blocks by slerp
    ``A exp(w log(A^T B))``, everything else linearly."""
    w = w.to(a.dtype)[:, None]
    out = (1.0 - w) * a + w * b
    parts = []
    for part in spec.parts:
        sl = spec.slices[part]
        if part in ROTATIONS:
            ra, rb = spec.get(a, part), spec.get(b, part)
            rel = matrix_to_axis_angle(ra.transpose(-1, -2) @ rb) * w[..., None]
            parts.append((ra @ axis_angle_to_matrix(rel)).flatten(-3))
        else:
            parts.append(out[..., sl])
    return torch.cat(parts, -1)


def states_at(frames: Callable[[Tensor], Tensor], n_frames: int, fps: float, spec: StateSpec,
              positions: Tensor) -> Tensor:
    """States ``(..., J, dim)`` at fractional native frame ``positions (J,)`` of a motion of ``n_frames``
    frames at ``fps``, whose :func:`frame_vectors` at native frames ``i (N,)`` are ``frames(i) (..., N,
    frame_dim)``. Velocities are central differences at the native rate (one-sided at the ends), then the
    states are interpolated (:func:`interpolate_states`). Reads only the frames the positions need (up to
    two each side), so a caller can evaluate a few states of a long motion; differentiable."""
    lo = positions.floor().long()
    hi = (lo + 1).clamp(max=n_frames - 1)
    idx = torch.cat([lo, hi])
    prev, nxt = _neighbours(idx, n_frames)
    x, x_prev, x_next = frames(idx), frames(prev), frames(nxt)
    fslice = _slices(spec.frame_parts)
    blocks = []
    for part in spec.parts:
        if part in spec.frame_parts:
            blocks.append(x[..., fslice[part]])
            continue
        base = spec.base_of[part]
        d = _difference(x_prev[..., fslice[base]], x_next[..., fslice[base]], prev, nxt, fps)
        if base in ROTATIONS:
            r = x[..., fslice[base]].unflatten(-1, (-1, 3, 3))
            d = _vee_skew(d.unflatten(-1, (-1, 3, 3)) @ r.transpose(-1, -2)).flatten(-2)
        blocks.append(d)
    native = torch.cat(blocks, -1)
    j = len(positions)
    return interpolate_states(native[..., :j, :], native[..., j:, :], positions - lo, spec)


def sequence_to_states(seq: FlameSequence, layer: FlameLayer, spec: StateSpec, view: int = 0,
                       target_fps: float = MOTION_FPS) -> np.ndarray:
    """States ``(T30, dim)`` float64 of one view of an annotated sequence, resampled to ``target_fps``."""
    with torch.no_grad():
        lm = layer.landmarks(sequence_to_params(seq, layer, view)).landmarks3d.double() * 100.0  # cm
        f = frame_vectors(torch.as_tensor(np.asarray(seq.pose[view], np.float64)),
                          torch.as_tensor(np.asarray(seq.expression[view], np.float64)), lm, spec)
        positions = torch.as_tensor(resample_positions(seq.n_frames, seq.fps, target_fps))
        return states_at(lambda i: f[..., i, :], seq.n_frames, seq.fps, spec, positions).numpy()


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
