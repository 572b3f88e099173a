"""Long-horizon sampling from a trained HuMoR-Face prior, and what to do with the samples.

``sample_states`` rolls out ``K`` samples from each of ``B`` start states for ``H`` steps (30 Hz), z from
the learned prior (or its mean), rotations re-orthonormalized every step and, optionally, each state
corrected before it is fed back (``make_feedback``: FLAME landmarks of the predicted parameters as in
HuMoR-Qual, velocities recomputed from the step, or both).
``states_to_sequence`` turns the samples of one start into a FlameSequence (one "view" per sample,
identity from the start frame); ``render_samples`` writes a labelled video grid and ``plot_rollout`` a
figure of head yaw / pitch / roll and jaw opening over time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from flame.camera import CROP_SIZE
from flame.layer import FlameLayer
from flame.rotations import matrix_to_axis_angle, matrix_to_yaw_pitch_roll
from flame.sequence import MOTION_FPS, FlameSequence
from motionprior.model import HumorFace
from motionprior.state import StateSpec, states_to_params

__all__ = ["FEEDBACK_MODES", "FRONT_CAMERA", "make_feedback", "sample_states", "states_to_sequence", "render_samples", "plot_rollout", "pose_curves"]


FEEDBACK_MODES = ("none", "velocities", "flame", "flame+velocities")
#: weak-perspective camera (scale, tx, ty) framing a FLAME-sized head from the front, for renders
FRONT_CAMERA = (2.0 / 0.26, 0.0, 0.02)


def make_feedback(mode: str, model: HumorFace, layer: FlameLayer | None = None, shape: Tensor | None = None
                  ) -> Callable[[Tensor, Tensor], Tensor] | None:
    """What is done to every generated state before it is fed back, ``f(x_prev (N, dim), x (N, dim))``:

    * ``none``: nothing (HuMoR);
    * ``flame``: the predicted landmarks are replaced by FLAME(shape, predicted pose / expression)'s,
      cm (HuMoR-Qual); needs ``layer`` and ``shape (N, n_shape)``, the identity of each row;
    * ``velocities``: the velocity channels are recomputed from the step
      (:meth:`HumorFace.project_velocities`);
    * ``flame+velocities``: both, landmarks first (the velocities then follow the FLAME landmarks).
    """
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"feedback {mode!r}: choose one of {FEEDBACK_MODES}")
    if mode == "none":
        return None
    flame = "flame" in mode
    if flame and (layer is None or shape is None):
        raise ValueError(f"feedback {mode!r} needs the head model and the identity shape of every row")
    spec = model.spec

    def feedback(x_prev: Tensor, x: Tensor) -> Tensor:
        if flame:
            params = states_to_params(x, spec, shape.to(x), layer.n_exp)
            x = x.clone()
            x[..., spec.slices["landmarks"]] = (layer.landmarks(params).landmarks3d * 100.0).to(x.dtype).flatten(-2)
        if "velocities" in mode:
            x = model.project_velocities(x_prev, x)
        return x

    return feedback


def sample_states(model: HumorFace, x0: Tensor, horizon: int, n_samples: int, use_mean: bool = False, seed: int = 0,
                  feedback: str = "none", layer: FlameLayer | None = None, shape: Tensor | None = None) -> Tensor:
    """``(K, B, horizon + 1, dim)`` rollouts of start states ``x0 (B, dim)`` (the start first).

    ``feedback``: see :func:`make_feedback`; the FLAME modes need ``layer`` and ``shape (B, n_shape)``.
    """
    if not torch.isfinite(x0).all():
        raise ValueError("start states contain NaN / inf")
    fb = make_feedback(feedback, model, layer, shape.repeat(n_samples, 1) if shape is not None else None)
    gen = torch.Generator(device=x0.device).manual_seed(seed)
    return model.rollout(x0, horizon, n_samples=n_samples, use_mean=use_mean, generator=gen, feedback=fb)


def states_to_sequence(states: Tensor, spec: StateSpec, shape: np.ndarray, layer: FlameLayer,
                       cam: np.ndarray | None = None, metadata: dict | None = None) -> FlameSequence:
    """Samples ``(K, T, dim)`` of one start as a FlameSequence with K views ``sample_000`` ... (30 Hz).
    ``cam (3,)``: weak-perspective camera of the start frame (default: a centred face)."""
    k, t, _ = states.shape
    params = states_to_params(states.double(), spec, torch.as_tensor(shape, dtype=torch.float64), layer.n_exp)
    cam = np.asarray(cam if cam is not None else (8.0, 0.0, 0.0), np.float32)
    return FlameSequence(
        model=layer.model_label, model_sha256=layer.model_sha256, fps=MOTION_FPS,
        view_names=np.array([f"sample_{i:03d}" for i in range(k)]), frame_ids=np.arange(t),
        shape=np.asarray(shape, np.float32), expression=params.expression.float().numpy(),
        pose=params.pose.float().numpy(), cam=np.broadcast_to(cam, (k, t, 3)).copy(),
        crop_tform=np.broadcast_to(np.eye(3, dtype=np.float32), (k, t, 3, 3)).copy(),
        landmarks2d=np.full((k, t, 68, 3), np.nan, np.float32), valid=np.ones((k, t), bool),
        image_size=np.full((k, 2), CROP_SIZE, np.int64), metadata=dict(metadata or {}, generated_by="HuMoR-Face"),
    )


def render_samples(layer: FlameLayer, seq: FlameSequence, path: str | os.PathLike, size: int = 160,
                   max_samples: int = 9, batch: int = 32, progress: bool = True) -> Path:
    """A video grid of up to ``max_samples`` samples of ``seq`` (front camera, head model labelled)."""
    from tqdm.auto import tqdm

    from flame.camera import OrthoCamera
    from flame.draw import image_grid, put_text, to_uint8
    from flame.media import write_video
    from flame.render import render_mesh
    from flame.types import FlameParams

    k = min(seq.n_views, max_samples)
    cols = math.ceil(math.sqrt(k))
    cam = OrthoCamera(torch.tensor([FRONT_CAMERA]), size)
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
            rgba = render_mesh(verts, layer.faces, OrthoCamera(cam.cam.expand(len(verts), 3), size), (size, size),
                               colors=layer.vertex_colors).view(k, t1 - t0, size, size, 4)
        for t in range(t1 - t0):
            tiles = [put_text(to_uint8(rgba[i, t]), f"#{i} {(t0 + t) / seq.fps:4.1f}s", (3, 3), scale=text)
                     for i in range(k)]
            grid = image_grid(tiles, cols=cols)
            frames.append(put_text(grid, label, (3, grid.shape[0] - 6 * text - 3), color=(150, 0, 0), scale=text))
    write_video(path, frames, fps=seq.fps)
    return Path(path)


def pose_curves(states: Tensor, spec: StateSpec) -> dict[str, Tensor]:
    """Head yaw / pitch / roll and jaw opening in degrees, ``(..., T)`` each, of states ``(..., T, dim)``."""
    ypr = torch.rad2deg(matrix_to_yaw_pitch_roll(spec.get(states, "root_orient")[..., 0, :, :].double()))
    jaw = torch.rad2deg(matrix_to_axis_angle(spec.get(states, "jaw")[..., 0, :, :].double()).norm(dim=-1))
    return {"yaw": ypr[..., 0], "pitch": ypr[..., 1], "roll": ypr[..., 2], "jaw": jaw}


def plot_rollout(samples: Tensor, spec: StateSpec, real: Tensor | None = None, fps: float = MOTION_FPS, title: str = ""):
    """A matplotlib figure: head yaw / pitch / roll and jaw opening (degrees) over time for samples
    ``(K, T, dim)``, with a real clip ``(T', dim)`` in black when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = pose_curves(samples, spec)
    ref = pose_curves(real, spec) if real is not None else None
    fig, axes = plt.subplots(1, 4, figsize=(14, 2.8), constrained_layout=True)
    t = np.arange(samples.shape[1]) / fps
    for ax, name in zip(axes, curves):
        for k in range(samples.shape[0]):
            ax.plot(t, curves[name][k].numpy(), lw=0.8, alpha=0.8)
        if ref is not None:
            ax.plot(np.arange(len(ref[name])) / fps, ref[name].numpy(), color="k", lw=1.2, label="real")
        ax.set_title(f"{'jaw opening' if name == 'jaw' else 'head ' + name} (deg)", fontsize=9)
        ax.set_xlabel("s", fontsize=8)
    if ref is not None:
        axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
