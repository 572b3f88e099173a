"""Per-frame motion features of the long-context family: what its denoiser sees of a face.

==============  ======  ==========================================================
group           size    meaning
==============  ======  ==========================================================
``head``        6       global head rotation, 6D (first two matrix columns; Zhou et al.)
``jaw``         3       jaw rotation, axis-angle (rad; the jaw turns < 45 deg about one axis)
``expression``  n_exp   FLAME expression coefficients
==============  ======  ==========================================================

Features are computed from the states of :mod:`motionprior.state` (30 Hz, camera-aligned FLAME frame),
so the family trains from the same data sources, packs and statistics as HuMoR-Face, and its samples
turn back into FLAME pose and expression (:func:`features_to_params`). Identity (shape) is not a
feature: samples take the identity of their start.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from flame.rotations import matrix_to_axis_angle, matrix_to_rotation_6d, rotation_6d_to_matrix
from flame.types import POSE_SLICES
from motionprior.state import StateSpec

__all__ = ["FeatureLayout", "states_to_features", "features_to_params", "GROUPS"]

#: feature groups, in order
GROUPS = ("head", "jaw", "expression")


class FeatureLayout:
    """The feature vector of a state layout (only the head, jaw and expression of ``spec`` are used;
    neck and eye rotations are not modelled)."""

    def __init__(self, spec: StateSpec) -> None:
        if spec.neck or spec.eyes:
            raise ValueError("the long-context family models head, jaw and expression; set state.neck and "
                             "state.eyes to false")
        self.spec = spec

    @cached_property
    def sizes(self) -> dict[str, int]:
        return {"head": 6, "jaw": 3, "expression": self.spec.n_exp}

    @cached_property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for k, n in self.sizes.items():
            out[k] = slice(start, start + n)
            start += n
        return out

    @property
    def dim(self) -> int:
        return sum(self.sizes.values())

    def per_channel(self, values: float | dict[str, float], name: str, default: float | None = None) -> list[float]:
        """``(F,)`` values of a per-group setting ``name``: one number for every channel, or one per group
        (a group left out takes ``default``; without a default every group must be given)."""
        if not isinstance(values, dict):
            return [float(values)] * self.dim
        unknown = set(values) - set(self.sizes)
        missing = [g for g in self.sizes if g not in values] if default is None else []
        if unknown or missing:
            raise ValueError(f"{name}: {f'unknown groups {sorted(unknown)}' if unknown else f'missing {missing}'}; "
                             f"give one number or one per group of {list(self.sizes)}")
        out = []
        for g, n in self.sizes.items():
            out += [float(values.get(g, default))] * n
        return out

    def channels(self, *groups: str) -> list[int]:
        """Channel indices of the named groups."""
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown feature groups {sorted(unknown)}; the groups are {list(GROUPS)}")
        return [i for g in groups for i in range(self.slices[g].start, self.slices[g].stop)]


def states_to_features(states: Tensor, layout: FeatureLayout) -> Tensor:
    """Features ``(..., F)`` of states ``(..., dim)``."""
    spec = layout.spec
    head = matrix_to_rotation_6d(spec.get(states, "root_orient")[..., 0, :, :])
    jaw = matrix_to_axis_angle(spec.get(states, "jaw")[..., 0, :, :])
    parts = [head, jaw] + ([spec.get(states, "expression")] if spec.n_exp else [])
    return torch.cat(parts, -1)


def features_to_params(features: Tensor, layout: FeatureLayout) -> tuple[Tensor, Tensor]:
    """FLAME ``pose (..., 15)`` (neck and eyes zero) and ``expression (..., n_exp)`` of features ``(..., F)``."""
    sl = layout.slices
    pose = features.new_zeros(*features.shape[:-1], 15)
    pose[..., POSE_SLICES["global"]] = matrix_to_axis_angle(rotation_6d_to_matrix(features[..., sl["head"]]))
    pose[..., POSE_SLICES["jaw"]] = features[..., sl["jaw"]]
    return pose, features[..., sl["expression"]]
