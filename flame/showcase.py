"""Render a head model's range of motion: a labelled PNG grid and an mp4.

Rows of the grid: neutral and yaw turntable (with the 68 landmarks), shape sweep, expression sweep,
jaw opening, eye turn. Works on real FLAME and on the stand-in (which is labelled as such).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from flame.camera import OrthoCamera, ndc_to_pixels, weak_perspective_project
from flame.draw import draw_landmarks, image_grid, put_text, to_uint8
from flame.layer import FlameLayer
from flame.media import write_png, write_video
from flame.render import render_mesh
from flame.types import POSE_SLICES, FlameParams

__all__ = ["ShowcaseFrame", "showcase_frames", "render_showcase"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShowcaseFrame:
    """One pose of the showcase: parameters, a caption, whether to draw landmarks, and whether the
    frame goes into the still grid."""

    params: FlameParams
    caption: str
    landmarks: bool = False
    still: bool = False


#: metres: the stand-in's (and FLAME's) head without the lower neck; an orthographic frame this tall holds it
HEAD_HEIGHT_M = 0.26


def _params(layer: FlameLayer, shape=None, expression=None, **pose: tuple[float, float, float]) -> FlameParams:
    like = layer.v_template
    p = FlameParams.zeros((), layer.n_shape, layer.n_exp, like=like)
    pv = p.pose.clone()
    for name, value in pose.items():
        pv[POSE_SLICES[name]] = torch.tensor(value, dtype=like.dtype)
    sv = p.shape.clone() if shape is None else shape
    ev = p.expression.clone() if expression is None else expression
    return FlameParams(sv, ev, pv)


def showcase_frames(layer: FlameLayer, fps: int = 25, expression_names: list[str] | None = None,
                    full_expression: float = 2.0, n_shape_sweep: int = 6, n_exp_sweep: int = 8) -> list[ShowcaseFrame]:
    """The animation: turntable, shape sweep, expression sweep, jaw, eyes."""
    frames: list[ShowcaseFrame] = []
    zeros = lambda n: layer.v_template.new_zeros(n)  # noqa: E731
    ease = lambda t: 0.5 - 0.5 * math.cos(math.pi * t)  # noqa: E731
    n = fps  # frames per segment
    frames.append(ShowcaseFrame(_params(layer), "neutral", landmarks=True, still=True))
    yaws = np.concatenate([np.linspace(0, 60, n), np.linspace(60, -60, 2 * n), np.linspace(-60, 0, n)])
    for i, y in enumerate(yaws):
        still = i in (n // 2, n + n // 2, 3 * n - 1 - n // 2)
        frames.append(ShowcaseFrame(_params(layer, **{"global": (0.0, math.radians(y), 0.0)}),
                                    f"yaw {y:+.0f} deg", landmarks=True, still=still))
    for k in range(min(n_shape_sweep, layer.n_shape)):
        for i, t in enumerate(np.linspace(0, 1, n)):
            s = zeros(layer.n_shape)
            s[k] = 3.0 * math.sin(2 * math.pi * t)
            frames.append(ShowcaseFrame(_params(layer, shape=s), f"shape {k} {float(s[k]):+.1f}",
                                        still=i in (n // 4, 3 * n // 4)))
    for k in range(min(n_exp_sweep, layer.n_exp)):
        name = expression_names[k] if expression_names and k < len(expression_names) else f"expression {k}"
        for i, t in enumerate(np.linspace(0, 1, n)):
            e = zeros(layer.n_exp)
            e[k] = full_expression * ease(min(1.0, 2 * t) if t < 0.5 else 2 - 2 * t)
            frames.append(ShowcaseFrame(_params(layer, expression=e), f"{name} {float(e[k]):+.1f}",
                                        still=i == n // 2))
    for i, t in enumerate(np.linspace(0, 1, n)):
        a = 0.35 * ease(min(1.0, 2 * t) if t < 0.5 else 2 - 2 * t)
        frames.append(ShowcaseFrame(_params(layer, jaw=(a, 0.0, 0.0)), f"jaw {a:.2f} rad", landmarks=True,
                                    still=i in (n // 4, n // 2)))
    gaze = [(0.0, 0.35), (0.0, -0.35), (-0.3, 0.0), (0.3, 0.0)]
    for gx, gy in gaze:
        for i, t in enumerate(np.linspace(0, 1, n // 2)):
            w = ease(min(1.0, 2 * t) if t < 0.5 else 2 - 2 * t)
            eye = (gx * w, gy * w, 0.0)
            frames.append(ShowcaseFrame(_params(layer, left_eye=eye, right_eye=eye),
                                        f"eyes pitch {gx * w:+.2f} yaw {gy * w:+.2f}", still=i == n // 4))
    return frames


def render_showcase(
    layer: FlameLayer, out_dir: str | os.PathLike, size: int = 256, fps: int = 25,
    expression_names: list[str] | None = None, full_expression: float = 2.0,
    batch: int = 16,
) -> tuple[Path, Path]:
    """Render the showcase of ``layer``'s model into ``out_dir``; returns (png, mp4) paths."""
    out_dir = Path(out_dir)
    frames = showcase_frames(layer, fps=fps, expression_names=expression_names, full_expression=full_expression)
    like = layer.v_template
    scale = 2.0 / HEAD_HEIGHT_M  # the head fills the frame
    cam = OrthoCamera(torch.tensor([[scale, 0.0, 0.02]], dtype=like.dtype, device=like.device), size)
    label = "STAND-IN, NOT FLAME" if layer.is_standin else layer.model_name.upper()
    images: list[np.ndarray] = []
    stills: list[np.ndarray] = []
    for start in tqdm(range(0, len(frames), batch), desc="rendering showcase", unit="batch"):
        chunk = frames[start:start + batch]
        params = FlameParams(*(torch.stack([getattr(f.params, k) for f in chunk]) for k in ("shape", "expression", "pose")))
        with torch.no_grad():
            out = layer(params)
            rgba = render_mesh(out.vertices, layer.faces, OrthoCamera(cam.cam.expand(len(chunk), 3), size),
                               (size, size), colors=layer.vertex_colors)
            lm = weak_perspective_project(out.landmarks2d_3d, cam.cam.expand(len(chunk), 3))
            lm_px = ndc_to_pixels(lm[..., :2], size).cpu().numpy()
        for i, f in enumerate(chunk):
            img = to_uint8(rgba[i])
            if f.landmarks:
                img = draw_landmarks(img, lm_px[i], radius=max(1.0, size / 200))
            img = put_text(img, f.caption, (4, 4), scale=max(1, size // 160))
            img = put_text(img, label, (4, size - 6 * max(1, size // 160) - 2), color=(150, 0, 0),
                           scale=max(1, size // 160))
            images.append(img)
            if f.still:
                stills.append(img)
    png = out_dir / "showcase.png"
    mp4 = out_dir / "showcase.mp4"
    write_png(png, image_grid(stills, cols=6))
    write_video(mp4, images, fps=fps)
    log.info("wrote %s (%d stills) and %s (%d frames)", png, len(stills), mp4, len(images))
    return png, mp4
