"""Cross-view vertex distance (CVD): multi-view consistency of reconstructions."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cvd"]


def cvd(canonical_vertices: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean distance between the reconstructions of the same frame from different views, in mm.

    ``CVD = mean_t mean_{i<j} mean_v || M_v(t, i) - M_v(t, j) ||`` over all unordered view pairs.

    Args:
        canonical_vertices: ``(V_views, T, N, 3)`` metres, *canonical* frame: FLAME vertices with
            the global rotation (and camera) removed - shape, expression and jaw only - as in
            NeuFace's multi-view loss.
        mask: optional ``(V_views, T)`` bool; a pair counts at frame t only if both views are valid.

    Returns:
        Scalar tensor in millimetres (0 for a single view).
    """
    n_views = canonical_vertices.shape[0]
    if n_views < 2:
        return canonical_vertices.new_zeros(())
    i, j = torch.triu_indices(n_views, n_views, offset=1)
    d = (canonical_vertices[i] - canonical_vertices[j]).norm(dim=-1).mean(-1) * 1000.0  # (pairs, T)
    if mask is not None:
        both = mask[i] & mask[j]
        return d[both].mean()
    return d.mean()
