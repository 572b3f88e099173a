"""Normalized mean error (NME) of 2D landmarks."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["nme", "OUTER_EYE_CORNERS"]

#: iBUG-68 outer eye corners (0-based): the subject's right eye outer corner 36, left eye 45.
OUTER_EYE_CORNERS = (36, 45)


def nme(pred: Tensor, gt: Tensor, points: str = "68", mask: Tensor | None = None) -> Tensor:
    """NME in **percent**: per frame, the mean Euclidean landmark error divided by the outer
    inter-ocular distance ``||gt_36 - gt_45||`` (the 300-W convention), averaged over frames.

    Args:
        pred, gt: ``(..., 68, 2)`` image coordinates (any consistent unit, e.g. pixels).
        points: ``"68"`` all points, ``"51"`` the static points 17..67 (no jaw contour), or
            ``"contour"`` the 17 contour points.
        mask: optional ``(...)`` bool of frames to include (e.g. frames with a detection); frames
            with a non-finite prediction or ground truth are always excluded.

    Returns:
        Scalar tensor (percent).
    """
    sel = {"68": slice(0, 68), "51": slice(17, 68), "contour": slice(0, 17)}.get(points)
    if sel is None:
        raise ValueError(f"points must be '68', '51' or 'contour', got {points!r}")
    d = (gt[..., OUTER_EYE_CORNERS[0], :] - gt[..., OUTER_EYE_CORNERS[1], :]).norm(dim=-1)
    err = (pred[..., sel, :] - gt[..., sel, :]).norm(dim=-1).mean(-1) / d * 100.0
    keep = torch.isfinite(err)
    if mask is not None:
        keep = keep & mask
    return err[keep].mean()
