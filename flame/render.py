"""Render a mesh in one call: rasterize (:mod:`flame.raster`) and shade (:mod:`flame.shading`).

The pieces: :mod:`flame.camera` (cameras and screen projection), :mod:`flame.raster` (z-buffer,
visibility), :mod:`flame.shading` (lighting), :mod:`flame.draw` (landmarks, text, grids on images),
:mod:`flame.media` (PNG and mp4 writing).
"""

from __future__ import annotations

import torch
from torch import Tensor

from flame.camera import OrthoCamera, PinholeCamera, to_screen
from flame.raster import rasterize
from flame.shading import shade

__all__ = ["render_mesh"]


def render_mesh(
    vertices: Tensor, faces: Tensor, camera: PinholeCamera | OrthoCamera, image_size: tuple[int, int],
    colors: Tensor | None = None, background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
    **shade_kwargs,
) -> Tensor:
    """Rasterize and shade: ``vertices (B, V, 3)`` world -> ``(B, H, W, 4)`` RGBA float."""
    with torch.no_grad():
        screen, persp = to_screen(vertices, camera)
        frags = rasterize(screen, faces, image_size, perspective=persp)
        return shade(frags, vertices, faces, camera, colors=colors, background=background, **shade_kwargs)
