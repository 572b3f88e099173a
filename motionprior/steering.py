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

With no drift the target is ``x_t``. Rotations use left-multiplied axis-angles, world frame, as the
state's angular velocity does.
"""

from __future__ import annotations

from torch import Tensor

from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from motionprior.state import ROTATIONS, TARGET_FPS, StateSpec

__all__ = ["steered_target"]


def steered_target(spec: StateSpec, drifted: Tensor, prev: Tensor, nxt: Tensor, return_time: float,
                   fps: float = TARGET_FPS) -> Tensor:
    """The target ``(..., dim)`` for input ``drifted (..., dim)`` of a step whose ground truth goes
    ``prev -> nxt`` (both ``(..., dim)``; see the module docstring)."""
    if return_time <= 0:
        raise ValueError(f"return_time must be > 0 seconds, got {return_time}")
    dt = 1.0 / fps
    kp, kd = 1.0 / return_time ** 2, 2.0 / return_time
    out = nxt.clone()
    for part in spec.parts:
        if part in spec.velocity_of.values():
            continue
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
            shift = error * (dt / return_time)
        if rot:
            step = b @ a.transpose(-1, -2)
            out[..., sl] = (axis_angle_to_matrix(shift) @ step @ h).flatten(-3)
        else:
            out[..., sl] = h + (b - a) + shift
    return out
