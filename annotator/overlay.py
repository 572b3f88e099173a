"""Visual outputs of an annotation: overlay videos and meshes.

The overlay shows, per frame, the fitted mesh (shaded, semi-transparent) over the video frame, the
detected landmarks (green) and the fitted landmarks (red). The mesh is projected straight into the
original image: the weak-perspective camera maps to crop pixels, the inverse crop transform to the
frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from flame.camera import invert_transform, ndc_to_pixels, transform_points, weak_perspective_project
from flame.layer import FlameLayer
from flame.mesh_io import write_obj, write_ply
from flame.camera import OrthoCamera
from flame.draw import draw_landmarks, overlay, put_text
from flame.media import write_video
from flame.raster import rasterize
from flame.shading import shade
from flame.sequence import FlameSequence, sequence_to_params

__all__ = ["render_overlay_frames", "write_overlay_video", "export_meshes"]


def render_overlay_frames(layer: FlameLayer, seq: FlameSequence, view: int, frames: Iterable[np.ndarray] | None,
                          alpha: float = 0.55, batch: int = 16) -> Iterable[np.ndarray]:
    """Overlay frames of one view (``frames`` are the video's RGB frames; ``None`` draws on grey)."""
    w, h = (int(x) for x in seq.image_size[view])
    frame_iter = iter(frames) if frames is not None else None
    label = "STAND-IN, NOT FLAME" if seq.is_standin else ""
    for s in range(0, seq.n_frames, batch):
        t = np.arange(s, min(seq.n_frames, s + batch))
        with torch.no_grad():
            out = layer(sequence_to_params(seq, layer, view, t))
            cam = torch.as_tensor(seq.cam[view, t], dtype=out.vertices.dtype)
            p = weak_perspective_project(out.vertices, cam)
            inv = invert_transform(torch.as_tensor(seq.crop_tform[view, t], dtype=p.dtype))
            xy = transform_points(inv, ndc_to_pixels(p[..., :2], seq.crop_size))
            scale = inv[:, 0, 0].abs()[:, None, None]  # crop -> image zoom, keeps depths comparable
            screen = torch.cat([xy, p[..., 2:] * scale], -1)
            frags = rasterize(screen, layer.faces, (h, w))
            rgba = shade(frags, out.vertices, layer.faces, OrthoCamera(cam, seq.crop_size),
                         colors=layer.vertex_colors.to(out.vertices.dtype), background=None).numpy()
        for i, ti in enumerate(t):
            base = next(frame_iter) if frame_iter is not None else np.full((h, w, 3), 110, np.uint8)
            img = overlay(base, rgba[i], alpha=alpha)
            if seq.valid[view, ti]:
                img = draw_landmarks(img, seq.landmarks2d[view, ti, :, :2], (40, 230, 40), radius=max(1.5, w / 400))
            if seq.fitted_landmarks2d is not None:
                img = draw_landmarks(img, seq.fitted_landmarks2d[view, ti], (235, 40, 40), radius=max(1.2, w / 500),
                                     connect=False)
            scale_txt = max(1, w // 320)
            img = put_text(img, f"{seq.metadata.get('method', '')} {seq.view_names[view]} {int(seq.frame_ids[ti])}",
                           (6, 6), color=(255, 255, 255), scale=scale_txt)
            if label:
                img = put_text(img, label, (6, h - 8 * scale_txt), color=(255, 80, 80), scale=scale_txt)
            yield img


def write_overlay_video(layer: FlameLayer, seq: FlameSequence, view: int, out: str | os.PathLike,
                        frames: Iterable[np.ndarray] | None = None) -> Path:
    """Write the overlay of one view as an mp4 at the sequence's frame rate."""
    write_video(out, list(render_overlay_frames(layer, seq, view, frames)), fps=seq.fps)
    return Path(out)


def export_meshes(layer: FlameLayer, seq: FlameSequence, frames: list[int], folder: str | os.PathLike,
                  view: int = 0, fmt: str = "obj") -> list[Path]:
    """OBJ or PLY files of chosen frames (posed in the view's camera-aligned frame, metres)."""
    folder = Path(folder)
    t = np.asarray(frames, dtype=int)
    if (t < 0).any() or (t >= seq.n_frames).any():
        raise ValueError(f"frames {frames} outside the sequence (0..{seq.n_frames - 1})")
    with torch.no_grad():
        verts = layer(sequence_to_params(seq, layer, view, t)).vertices.double().numpy()
    faces = layer.faces.numpy()
    colors = layer.vertex_colors.double().numpy()
    paths = []
    for i, ti in enumerate(t):
        name = folder / f"{seq.view_names[view]}_{int(seq.frame_ids[ti]):05d}.{fmt}"
        note = f"{seq.model}\nframe {int(seq.frame_ids[ti])}, view {seq.view_names[view]}, metres, FLAME frame"
        paths.append(write_obj(name, verts[i], faces, colors, comment=note) if fmt == "obj"
                     else write_ply(name, verts[i], faces, colors))
    return paths
