"""Looking at generated motion: video grids and pose curves of FlameSequence samples (any generator).

``head_camera`` frames the whole head (skull to neck, ear to ear) of an identity in a square crop;
``render_samples`` writes a labelled video grid of samples rendered at their final size;
``plot_samples`` draws head yaw / pitch / roll and jaw opening over time, with a real clip for reference.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from flame.layer import FlameLayer
from flame.rotations import axis_angle_to_matrix, matrix_to_yaw_pitch_roll
from flame.sequence import FlameSequence
from flame.types import POSE_SLICES, FlameParams

__all__ = ["head_camera", "render_samples", "pose_curves", "plot_samples", "pose_curves_figure", "MARGIN"]

#: the head's larger extent fills 1 / MARGIN of the frame (room for turns and an open mouth)
MARGIN = 1.3


def head_camera(layer: FlameLayer, shape: np.ndarray | Tensor) -> Tensor:
    """Weak-perspective camera ``(1, 3)`` (scale, tx, ty) that frames the neutral head of identity
    ``shape (n_shape,)`` whole, centred, with :data:`MARGIN` around its larger extent."""
    like = layer.v_template
    params = FlameParams.zeros((1,), layer.n_shape, layer.n_exp, like)
    beta = torch.as_tensor(np.asarray(shape), dtype=like.dtype)[:layer.n_shape]
    params.shape[0, :len(beta)] = beta
    with torch.no_grad():
        v = layer(params).vertices[0]
    lo, hi = v[:, :2].min(0).values, v[:, :2].max(0).values
    centre, extent = (lo + hi) / 2, float((hi - lo).max())
    return torch.tensor([[2.0 / (MARGIN * extent), -float(centre[0]), -float(centre[1])]])


def render_samples(layer: FlameLayer, seq: FlameSequence, path: str | os.PathLike, size: int = 160,
                   max_samples: int = 9, batch: int = 32, progress: bool = True, labels: list[str] | None = None) -> Path:
    """A video grid of up to ``max_samples`` samples (views) of ``seq``, each tile ``size`` pixels, the whole
    head framed (:func:`head_camera`), time and head model labelled; ``labels``: a name per tile (default
    ``#i``)."""
    from tqdm.auto import tqdm

    from flame.camera import OrthoCamera
    from flame.draw import image_grid, put_text, to_uint8
    from flame.media import write_video
    from flame.render import render_mesh

    k = min(seq.n_views, max_samples)
    cols = math.ceil(math.sqrt(k))
    cam = head_camera(layer, seq.shape)
    label = "STAND-IN, NOT FLAME" if layer.is_standin else layer.model_name.upper()
    text = max(1, size // 160)
    frames = []
    for t0 in tqdm(range(0, seq.n_frames, batch), desc="render samples", unit="batch", disable=not progress):
        t1 = min(t0 + batch, seq.n_frames)
        pose = torch.as_tensor(seq.pose[:k, t0:t1])
        params = FlameParams(torch.as_tensor(seq.shape).expand(*pose.shape[:2], -1),
                             torch.as_tensor(seq.expression[:k, t0:t1]), pose)
        with torch.no_grad():
            verts = layer(params).vertices.flatten(0, 1)
            rgba = render_mesh(verts, layer.faces, OrthoCamera(cam.expand(len(verts), 3), size), (size, size),
                               colors=layer.vertex_colors).view(k, t1 - t0, size, size, 4)
        for t in range(t1 - t0):
            tiles = [put_text(to_uint8(rgba[i, t]), f"{labels[i] if labels else f'#{i}'} {(t0 + t) / seq.fps:4.1f}s",
                              (3, 3), scale=text) for i in range(k)]
            grid = image_grid(tiles, cols=cols)
            frames.append(put_text(grid, label, (3, grid.shape[0] - 6 * text - 3), color=(150, 0, 0), scale=text))
    write_video(path, frames, fps=seq.fps)
    return Path(path)


def pose_curves(pose: np.ndarray | Tensor) -> dict[str, np.ndarray]:
    """Head yaw / pitch / roll and jaw opening angle in degrees, ``(..., T)`` each, of FLAME poses
    ``(..., T, 15)`` (axis-angle)."""
    pose = torch.as_tensor(np.asarray(pose), dtype=torch.float64)
    ypr = torch.rad2deg(matrix_to_yaw_pitch_roll(axis_angle_to_matrix(pose[..., POSE_SLICES["global"]])))
    jaw = torch.rad2deg(pose[..., POSE_SLICES["jaw"]].norm(dim=-1))
    return {"yaw": ypr[..., 0].numpy(), "pitch": ypr[..., 1].numpy(), "roll": ypr[..., 2].numpy(), "jaw": jaw.numpy()}


def plot_samples(samples: FlameSequence, real: FlameSequence | None = None, real_view: int = 0, real_start: int = 0,
                 max_samples: int = 8, title: str = ""):
    """:func:`pose_curves_figure` of up to ``max_samples`` samples, with view ``real_view`` of ``real`` from
    frame ``real_start`` in black."""
    ref = real.pose[real_view, real_start:] if real is not None else None
    return pose_curves_figure(samples.pose[:max_samples], samples.fps, ref, real.fps if real is not None else None,
                              title)


def pose_curves_figure(pose, fps: float, real_pose=None, real_fps: float | None = None, title: str = ""):
    """A matplotlib figure: head yaw / pitch / roll and jaw opening (degrees) over time of sample poses
    ``(K, T, 15)``, with a real clip's ``(T', 15)`` in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = pose_curves(pose)
    ref = pose_curves(real_pose) if real_pose is not None else None
    fig, axes = plt.subplots(1, 4, figsize=(14, 2.8), constrained_layout=True)
    t = np.arange(curves["yaw"].shape[-1]) / fps
    for ax, name in zip(axes, curves):
        for k in range(len(curves[name])):
            ax.plot(t, curves[name][k], lw=0.8, alpha=0.8)
        if ref is not None:
            ax.plot(np.arange(len(ref[name])) / real_fps, ref[name], color="k", lw=1.2, label="real")
        ax.set_title(f"{'jaw opening' if name == 'jaw' else 'head ' + name} (deg)", fontsize=9)
        ax.set_xlabel("s", fontsize=8)
    if ref is not None:
        axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
