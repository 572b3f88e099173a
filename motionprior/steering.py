"""Training targets for fed-back states that drifted from the ground truth.

In the autoregressive phase a window's input ``x̂_{t-1}`` is the model's own output and differs from the
ground truth ``x_{t-1}``. HuMoR's target is still ``x_t``: one step must undo all the drift. When the
fed-back outputs are prior samples (``prior_feedback``), the drift is as large as a sample's deviation,
and targets that cancel it in one step teach the model that steps jump and that the input velocity
does not predict the next step - rollouts stay in range but shake.

:func:`steered_target` instead applies the ground truth's step to the drifted state and steers it back
with a critically damped spring of time constant ``return_time`` (seconds):

* parts with a velocity in the state (head rotation, landmarks, and those of ``extra_velocities``): the
  target velocity is the drifted velocity plus the ground truth's change of velocity plus
  ``dt * (k_p e_x + k_d e_v)``, ``k_p = 1 / return_time^2``, ``k_d = 2 / return_time``, where ``e_x``,
  ``e_v`` are the position and velocity errors (ground truth minus drifted); the target position is
  the drifted one moved by the ground truth's step plus ``dt`` times the target's velocity deviation
  from the ground truth's, so position and velocity stay consistent and the drifted state keeps its
  momentum;
* parts without: the ground truth's step plus ``dt / return_time`` of the error. The step is the
  ground truth's whatever the drifted state was doing, so it cannot be predicted from the input and
  such a part loses its momentum in training (measured on the jaw; see ``StateSpec.extra_velocities``).

The return time is one number for every part or a number per part (what each choice did:
``docs/experiments/``).

With no drift the target is ``x_t``. Rotations use left-multiplied axis-angles, world frame, as the
state's angular velocity does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from flame.sequence import MOTION_FPS
from motionprior.state import ROTATIONS, StateSpec

__all__ = ["DriftControl", "FEEDBACK_MODES", "steered_target", "return_times", "teacher_probability"]

#: what is done to a generated state before it is fed back (:func:`motionprior.rollout.make_feedback`)
FEEDBACK_MODES = ("none", "velocities", "flame", "flame+velocities")


@dataclass(frozen=True)
class DriftControl:
    """How HuMoR-Face learns to stay on the data in long rollouts.

    Attributes:
        sched_sampling: epochs (start, end) of the teacher-forcing -> autoregressive ramp (HuMoR: 10, 20).
        feedback: what is done to a prediction before it is fed back, in training and sampling: ``none``
            (HuMoR), ``flame`` (landmarks from FLAME of the predicted parameters, HuMoR-Qual),
            ``velocities`` (recomputed from the step) or ``flame+velocities``.
        prior_feedback: fraction of the fed-back predictions (per window row and step) made with a sample
            of the learned prior instead of the posterior. 0: HuMoR (the rollout tracks the ground truth,
            since the posterior sees it); 1: every fed-back state drifts as in sampling.
        return_time: seconds over which the target of a step from a fed-back (drifted) input steers back
            to the ground truth (:func:`steered_target`): one number, or one per part without a velocity
            (e.g. ``{root_orient: 0.25, jaw: 0.05, expression: 0.05, landmarks: 0.25}``); ``None``: the
            target is the ground truth (HuMoR: all drift undone in one step).
    """

    sched_sampling: tuple[int, int] = (10, 20)
    feedback: str = "none"
    prior_feedback: float = 0.0
    return_time: float | dict[str, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sched_sampling", tuple(self.sched_sampling))
        if self.feedback not in FEEDBACK_MODES:
            raise ValueError(f"feedback {self.feedback!r}: choose one of {FEEDBACK_MODES}")
        if not 0.0 <= self.prior_feedback <= 1.0:
            raise ValueError(f"prior_feedback {self.prior_feedback}: a fraction in [0, 1]")

    def check(self, spec: StateSpec) -> None:
        """Errors for settings that do not fit the state ``spec``."""
        if "flame" in self.feedback and spec.n_exp == 0:
            raise ValueError("feedback 'flame' needs the expression in the state (n_exp > 0)")
        if self.return_time is not None:
            return_times(spec, self.return_time)


def teacher_probability(epoch: int, start: int, end: int) -> float:
    """Probability of feeding the ground truth at ``epoch`` (1 until ``start``, linear to 0 at ``end``)."""
    if end <= start:
        return 1.0 if epoch < start else 0.0
    return float(np.clip(1.0 - (epoch - start) / (end - start), 0.0, 1.0))


def steered_target(spec: StateSpec, drifted: Tensor, prev: Tensor, nxt: Tensor,
                   return_time: float | dict[str, float], fps: float = MOTION_FPS) -> Tensor:
    """The target ``(..., dim)`` for input ``drifted (..., dim)`` of a step whose ground truth goes
    ``prev -> nxt`` (both ``(..., dim)``; see the module docstring). ``return_time``: seconds, one for
    every part or one per part (a velocity follows its part)."""
    times = return_times(spec, return_time)
    dt = 1.0 / fps
    out = nxt.clone()
    for part in spec.parts:
        if part in spec.velocity_of.values():
            continue
        tau = times[part]
        kp, kd = 1.0 / tau ** 2, 2.0 / tau
        sl = spec.slices[part]
        rot = part in ROTATIONS
        if rot:
            a, b, h = spec.get(prev, part), spec.get(nxt, part), spec.get(drifted, part)
            error = matrix_to_axis_angle(a @ h.transpose(-1, -2))  # (..., k, 3): rotates drifted onto ground truth
        else:
            a, b, h = prev[..., sl], nxt[..., sl], drifted[..., sl]
            error = a - h
        if part in spec.velocity_of:
            vs = spec.slices[spec.velocity_of[part]]
            v_err = prev[..., vs] - drifted[..., vs]
            dv = -v_err + dt * (kp * error.reshape(v_err.shape) + kd * v_err)  # target velocity - ground truth's
            out[..., vs] = nxt[..., vs] + dv
            shift = (dt * dv).reshape(error.shape)
        else:
            shift = error * (dt / tau)
        if rot:
            step = b @ a.transpose(-1, -2)
            out[..., sl] = (axis_angle_to_matrix(shift) @ step @ h).flatten(-3)
        else:
            out[..., sl] = h + (b - a) + shift
    return out


def return_times(spec: StateSpec, return_time: float | dict[str, float]) -> dict[str, float]:
    """Seconds per part without a velocity of its own: ``return_time`` for all, or a dict naming every
    such part; all > 0."""
    parts = [p for p in spec.parts if p not in spec.velocity_of.values()]
    if isinstance(return_time, dict):
        unknown, missing = set(return_time) - set(parts), set(parts) - set(return_time)
        if unknown or missing:
            raise ValueError(f"return_time per part: unknown {sorted(unknown)}, missing {sorted(missing)}; name each of "
                             f"{parts} (or give one number for all)")
        times = {p: float(return_time[p]) for p in parts}
    else:
        times = dict.fromkeys(parts, float(return_time))
    bad = {p: t for p, t in times.items() if not t > 0}
    if bad:
        raise ValueError(f"return_time must be > 0 seconds, got {bad}")
    return times
