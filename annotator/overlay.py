"""Visual outputs of an annotation: overlay videos and meshes.

The overlay shows, per frame, the fitted mesh (shaded, semi-transparent) over the video frame, the
detected landmarks (green) and the fitted landmarks (red). The mesh is projected straight into the
original image: the sequence's camera (weak perspective, or perspective with its intrinsics) maps to crop
pixels, the inverse crop transform to the frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from flame.camera import OrthoCamera, invert_transform, ndc_to_pixels, project_crop, transform_points
from flame.draw import draw_landmarks, overlay, put_text
from flame.layer import FlameLayer
from flame.media import write_video
from flame.raster import rasterize
from flame.sequence import FlameSequence, sequence_to_params
from flame.shading import shade

__all__ = ["render_overlay_frames", "write_overlay_video"]


def _face_box(xy: torch.Tensor, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixel box ``(x0, y0, x1, y1)`` covering every projected vertex ``xy (..., 2)`` inside the image,
    or ``None`` when the meshes are outside it."""
    lo = torch.floor(xy.reshape(-1, 2).amin(0)).long().tolist()
    hi = torch.ceil(xy.reshape(-1, 2).amax(0)).long().tolist()
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0] + 1, width), min(hi[1] + 1, height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def render_overlay_frames(layer: FlameLayer, seq: FlameSequence, view: int, frames: Iterable[np.ndarray] | None,
                          alpha: float = 0.55, batch: int = 8) -> Iterator[np.ndarray]:
    """Overlay frames ``(H, W, 3)`` uint8 of one view, one at a time (``frames`` are the video's RGB
    frames, consumed as they are needed; ``None`` draws on grey). Only the box around the face is
    rasterized, so memory depends on the face's size on screen and the batch, not on the frame size or
    the number of frames."""
    w, h = (int(x) for x in seq.image_size[view])
    frame_iter = iter(frames) if frames is not None else None
    label = "STAND-IN, NOT FLAME" if seq.is_standin else ""
    for s in range(0, seq.n_frames, batch):
        t = np.arange(s, min(seq.n_frames, s + batch))
        with torch.no_grad():
            out = layer(sequence_to_params(seq, layer, view, t))
            cam = torch.as_tensor(seq.cam[view, t], dtype=out.vertices.dtype)
            tform = torch.as_tensor(seq.crop_tform[view, t], dtype=cam.dtype)
            K = None if seq.intrinsics is None else torch.as_tensor(seq.intrinsics[view, t], dtype=cam.dtype)
            p = project_crop(out.vertices, cam, tform, K, seq.crop_size)
            inv = invert_transform(tform)
            xy = transform_points(inv, ndc_to_pixels(p[..., :2], seq.crop_size))
            scale = inv[:, 0, 0].abs()[:, None, None]  # crop -> image zoom, keeps depths comparable
            box = _face_box(xy, w, h)
            if box is not None:
                x0, y0, x1, y1 = box
                offset = torch.tensor([x0, y0], dtype=xy.dtype)
                frags = rasterize(torch.cat([xy - offset, p[..., 2:] * scale], -1), layer.faces, (y1 - y0, x1 - x0))
                rgba = shade(frags, out.vertices, layer.faces, OrthoCamera(cam, seq.crop_size),
                             colors=layer.vertex_colors.to(out.vertices.dtype), background=None).numpy()
        for i, ti in enumerate(t):
            img = np.array(next(frame_iter)) if frame_iter is not None else np.full((h, w, 3), 110, np.uint8)
            if box is not None:
                img[y0:y1, x0:x1] = overlay(img[y0:y1, x0:x1], rgba[i], alpha=alpha)
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
    """Write the overlay of one view as an mp4 at the sequence's frame rate, streaming frame by frame."""
    return write_video(out, render_overlay_frames(layer, seq, view, frames), fps=seq.fps)
