"""Mean per-vertex error (MPVE) with three alignments."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mpve", "similarity_align"]


def similarity_align(source: Tensor, target: Tensor, scale: bool = True) -> Tensor:
    """Umeyama: the similarity transform (rotation, translation, optional uniform scale) of
    ``source (..., N, 3)`` that best fits ``target (..., N, 3)`` in least squares; returns the
    aligned source. Computed in float64; reflections are excluded."""
    src, tgt = source.double(), target.double()
    mu_s, mu_t = src.mean(-2, keepdim=True), tgt.mean(-2, keepdim=True)
    xs, xt = src - mu_s, tgt - mu_t
    cov = xt.transpose(-1, -2) @ xs / src.shape[-2]
    u, sig, vh = torch.linalg.svd(cov)
    d = torch.ones_like(sig)
    d[..., -1] = torch.sign(torch.linalg.det(u @ vh))
    rot = u @ torch.diag_embed(d) @ vh
    if scale:
        var = xs.square().sum((-1, -2)) / src.shape[-2]
        s = (sig * d).sum(-1) / var.clamp_min(1e-30)
    else:
        s = torch.ones_like(sig[..., 0])
    aligned = s[..., None, None] * xs @ rot.transpose(-1, -2) + mu_t
    return aligned.to(source.dtype)


def mpve(pred: Tensor, gt: Tensor, align: str = "none", mask: Tensor | None = None) -> Tensor:
    """Mean per-vertex Euclidean error in **millimetres** (inputs in metres).

    Args:
        pred, gt: ``(..., V, 3)`` vertices in the same frame (e.g. the camera-aligned FLAME frame).
        align: ``"none"`` (raw), ``"centroid"`` (translate pred so the centroids coincide) or
            ``"procrustes"`` (per-frame similarity: rotation, translation, scale; PA-MPVE).
        mask: optional ``(...)`` bool of frames to include.

    Returns:
        Scalar tensor: mean over vertices and included frames.
    """
    if align == "centroid":
        pred = pred - pred.mean(-2, keepdim=True) + gt.mean(-2, keepdim=True)
    elif align == "procrustes":
        pred = similarity_align(pred, gt)
    elif align != "none":
        raise ValueError(f"align must be 'none', 'centroid' or 'procrustes', got {align!r}")
    err = (pred - gt).norm(dim=-1).mean(-1) * 1000.0
    if mask is not None:
        err = err[mask]
    return err.mean()
