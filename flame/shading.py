"""Lambertian shading of rasterized meshes: per-vertex normals, one directional light, dark mouth inside."""

from __future__ import annotations

import torch
from torch import Tensor

from flame.camera import OrthoCamera, PinholeCamera, camera_rotation
from flame.model import SKIN
from flame.normals import vertex_normals
from flame.raster import Fragments, interpolate

__all__ = ["shade", "MOUTH_INSIDE"]

#: Colour of back faces seen through openings (the inside of the mouth).
MOUTH_INSIDE = (0.15, 0.06, 0.06)


def shade(
    frags: Fragments, vertices: Tensor, faces: Tensor, camera: PinholeCamera | OrthoCamera,
    colors: Tensor | None = None, light: tuple[float, float, float] = (-0.35, -0.45, -1.0),
    ambient: float = 0.35, background: tuple[float, float, float] | None = None,
) -> Tensor:
    """Lambertian shading with per-vertex normals (Gouraud-interpolated) and one directional light.

    Args:
        light: direction *toward* the light in the camera frame (x right, y down, z forward);
            the default is a key light above-left of the camera.
        colors: ``(B, V, 3)`` or ``(V, 3)`` albedo in [0, 1]; default skin tone.
        background: RGB, or ``None`` for a transparent background.

    Returns:
        ``(B, H, W, 4)`` float RGBA in [0, 1]. Back faces seen through openings (the inside of the
        mouth) are drawn dark.
    """
    b, n_verts = vertices.shape[:2]
    h, w = frags.face_idx.shape[1:]
    rot = camera_rotation(camera, vertices)
    normals = vertex_normals(vertices, faces) @ rot.transpose(-1, -2)
    if colors is None:
        colors = torch.tensor(SKIN, dtype=vertices.dtype, device=vertices.device).expand(b, n_verts, 3)
    elif colors.dim() == 2:
        colors = colors.expand(b, *colors.shape)
    pix, attr = interpolate(torch.cat([normals, colors.to(vertices.dtype)], dim=-1), faces, frags)
    n = torch.nn.functional.normalize(attr[:, :3], dim=-1, eps=1e-12)
    ldir = torch.nn.functional.normalize(torch.tensor(light, dtype=vertices.dtype, device=vertices.device), dim=0)
    front = frags.front.reshape(-1).index_select(0, pix)
    side = torch.where(front, 1.0, -1.0).to(n.dtype)  # back faces are lit from their inner side
    diffuse = (side * (n @ ldir)).clamp(0, 1)
    intensity = (ambient + (1 - ambient) * diffuse).unsqueeze(-1)
    inside = torch.tensor(MOUTH_INSIDE, dtype=vertices.dtype, device=vertices.device)
    rgb = torch.where(front.unsqueeze(-1), attr[:, 3:] * intensity, inside * (0.5 + 0.5 * intensity))
    out = torch.zeros(b * h * w, 4, dtype=vertices.dtype, device=vertices.device)
    if background is not None:
        out[:, :3] = torch.tensor(background, dtype=vertices.dtype, device=vertices.device)
    out[pix, :3] = rgb
    out[pix, 3] = 1.0
    return out.view(b, h, w, 4)
