"""NeuFace's losses: 2D landmarks, temporal consistency of the head rotation, multi-view consistency
of the canonical mesh (official weights 10 / 100 / 200; ``docs/annotator.md``); and the suite's additions: distances to
fixed targets (anchors, neighbour means) and an anatomical jaw."""

from __future__ import annotations

import torch
from torch import Tensor

from flame.rotations import axis_angle_to_quaternion, canonical_quaternion

__all__ = ["landmark_loss", "rotation_quaternions", "box_average", "moving_average", "temporal_loss", "visibility_weights",
           "merge_views", "multiview_loss", "anchor_loss", "neighbour_mean", "jaw_anatomy_loss"]


def landmark_loss(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Confidence-weighted L1 of ``(..., 68, 2)`` crop-NDC landmarks:
    ``sum w (|dx| + |dy|) / (2 sum w)`` (the official ``batch_kp_2d_l1_loss``)."""
    return (weight[..., None] * (pred - target).abs()).sum() / (2 * weight.sum() + 1e-8)


def rotation_quaternions(global_aa: Tensor) -> Tensor:
    """Unit quaternions (XYZW, scalar part >= 0) of axis-angle head rotations ``(..., 3)``."""
    return canonical_quaternion(axis_angle_to_quaternion(global_aa))


def box_average(x: Tensor, window: int) -> Tensor:
    """Centred moving average of ``x (..., T, C)`` along time over ``window`` frames (``t - w//2 .. t + w//2``),
    truncated at the sequence's ends (each end frame averages the frames that exist)."""
    half = window // 2
    t_len = x.shape[-2]
    padded = torch.nn.functional.pad(x.transpose(-1, -2), (half, half))  # zeros outside the sequence
    ones = torch.nn.functional.pad(torch.ones_like(x[..., :1].transpose(-1, -2)), (half, half))
    kernel = torch.ones(2 * half + 1, dtype=x.dtype, device=x.device)
    s = padded.unfold(-1, 2 * half + 1, 1) @ kernel
    c = ones.unfold(-1, 2 * half + 1, 1) @ kernel
    return (s / c).transpose(-1, -2)[..., :t_len, :]


def moving_average(q: Tensor, window: int, centred: bool = True) -> Tensor:
    """Normalized moving average of quaternions along the time axis (dim -2) of ``q (..., T, 4)``.

    ``centred``: window ``t - w//2 .. t + w//2`` over the *whole* sequence, truncated at its ends (our
    default). Otherwise the official off-centre window ``t-2 .. t+1`` (for ``window=4``), with the
    first two and the last two frames keeping their own value.
    """
    t_len = q.shape[-2]
    if centred:
        half = window // 2
        padded = torch.nn.functional.pad(q.transpose(-1, -2), (half, half))  # zeros outside the sequence
        ones = torch.nn.functional.pad(torch.ones_like(q[..., :1].transpose(-1, -2)), (half, half))
        kernel = torch.ones(window, dtype=q.dtype, device=q.device)
        s = padded.unfold(-1, window, 1) @ kernel
        c = ones.unfold(-1, window, 1) @ kernel
        avg = (s / c).transpose(-1, -2)
    else:
        avg = q.clone()
        lo = window // 2
        hi = window - lo
        for t in range(lo, t_len - lo):
            avg[..., t, :] = q[..., t - lo:t + hi, :].mean(-2)
    return torch.nn.functional.normalize(avg[..., :t_len, :], dim=-1)


def temporal_loss(q: Tensor, target: Tensor) -> Tensor:
    """``sum_views mean_{t,c} (q - q~)^2`` for ``q, target (V, T, 4)``."""
    return (q - target).square().mean(dim=(-1, -2)).sum()


def visibility_weights(normals: Tensor, vertices: Tensor, temperature: float = 0.1, threshold: float = 0.28,
                       min_z: float = -0.08) -> Tensor:
    """Per-vertex weights of each view, ``(V, ..., N)``, summing to one over views.

    ``normals``/``vertices`` ``(V, ..., N, 3)`` are posed in each view's camera-aligned frame (the camera
    looks along -z from +z). A vertex's similarity is its normal's z (facing the camera), set to 0
    below ``threshold`` or behind ``min_z``; weights are ``softmax_views(sim / temperature)`` with
    zero similarities pushed to -100 (the official ``efficient_spatial_consistency_loss``).
    """
    sim = normals[..., 2]
    sim = torch.where((sim < threshold) | (vertices[..., 2] < min_z), torch.zeros_like(sim), sim)
    sim = torch.where(sim == 0, torch.full_like(sim, -100.0), sim)
    return torch.softmax(sim / temperature, dim=0)


def merge_views(canonical: Tensor, weights: Tensor) -> Tensor:
    """Visibility-weighted mean over views: ``(V, ..., N, 3), (V, ..., N) -> (..., N, 3)``."""
    return (canonical * weights[..., None]).sum(0)


def multiview_loss(canonical: Tensor, merged: Tensor) -> Tensor:
    """L1 between each view's canonical vertices ``(V, B, N, 3)`` and the merged mesh ``(B, N, 3)``."""
    return (canonical - merged[None]).abs().mean()


def anchor_loss(value: Tensor, target: Tensor) -> Tensor:
    """Mean over views and frames of the squared distance ``|value - target|^2`` of ``(V, B, C)`` vectors."""
    return (value - target).square().sum(-1).mean()


def neighbour_mean(x: Tensor) -> Tensor:
    """The mean of each frame's two neighbours in ``x (..., T, C)`` (time on dim -2); the first and last frames
    keep their own value. ``x - neighbour_mean(x)`` is minus half the second difference, so a squared distance to
    it penalizes acceleration: detector jitter far more than a 4.5 Hz syllable at 25-30 fps."""
    if x.shape[-2] < 3:
        return x.clone()
    inner = 0.5 * (x[..., :-2, :] + x[..., 2:, :])
    return torch.cat([x[..., :1, :], inner, x[..., -1:, :]], dim=-2)


def jaw_anatomy_loss(jaw: Tensor) -> Tensor:
    """An anatomical jaw ``(..., 3)`` axis-angle: mean of the squared rotation about y and z (lateral shift, twist)
    plus the squared opening below closed (a negative rotation about x), rad^2."""
    return (jaw[..., 1:].square().sum(-1) + torch.relu(-jaw[..., 0]).square()).mean()
