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

``part_return_times`` sets a part's own time (measured on the quickstart corpus: 0.05 s for the jaw and
expression with 0.25 s for the head lets the face keep moving without shaking the head; see the README).

With no drift the target is ``x_t``. Rotations use left-multiplied axis-angles, world frame, as the
state's angular velocity does.
"""

from __future__ import annotations

from torch import Tensor

from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from flame.sequence import MOTION_FPS
from motionprior.state import ROTATIONS, StateSpec

__all__ = ["steered_target", "check_return_times"]


def steered_target(spec: StateSpec, drifted: Tensor, prev: Tensor, nxt: Tensor, return_time: float,
                   fps: float = MOTION_FPS, part_return_times: dict[str, float] | None = None) -> Tensor:
    """The target ``(..., dim)`` for input ``drifted (..., dim)`` of a step whose ground truth goes
    ``prev -> nxt`` (both ``(..., dim)``; see the module docstring). ``part_return_times`` overrides
    ``return_time`` for the named parts (a velocity follows its part)."""
    times = check_return_times(spec, return_time, part_return_times)
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


def check_return_times(spec: StateSpec, return_time: float, part_return_times: dict[str, float] | None = None
                       ) -> dict[str, float]:
    """Seconds per (non-velocity) part: ``return_time``, overridden by ``part_return_times``; all > 0."""
    parts = [p for p in spec.parts if p not in spec.velocity_of.values()]
    unknown = set(part_return_times or {}) - set(parts)
    if unknown:
        raise ValueError(f"part_return_times: unknown parts {sorted(unknown)}; choose among {parts}")
    times = {p: float((part_return_times or {}).get(p, return_time)) for p in parts}
    bad = {p: t for p, t in times.items() if not t > 0}
    if bad:
        raise ValueError(f"return_time / part_return_times must be > 0 seconds, got {bad}")
    return times
