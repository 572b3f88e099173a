"""Vertex normals of a triangle mesh (torch; any device, differentiable)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["vertex_normals"]


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals ``(B, V, 3)`` (outward for counter-clockwise faces)."""
    tri = vertices[:, faces]
    fn = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    vn = torch.zeros_like(vertices)
    for k in range(3):
        vn.index_add_(1, faces[:, k], fn)
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)
