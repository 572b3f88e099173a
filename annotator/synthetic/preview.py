"""Rendered check of a synthetic corpus: frames of one sequence across its views (rows = time),
with the detected landmarks (green) over the true ones (red)."""

from __future__ import annotations

import numpy as np
import torch

from flame.camera import PinholeCamera
from flame.draw import draw_landmarks, draw_points, image_grid, put_text, to_uint8
from flame.files import read_npz
from flame.layer import FlameLayer
from flame.layout import CorpusSequence
from flame.render import render_mesh
from flame.sequence import FlameSequence, sequence_to_params

__all__ = ["preview_sequence"]

_FLIP = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))


def preview_sequence(layer: FlameLayer, sequence: CorpusSequence, n_times: int = 4, size: int = 256) -> np.ndarray:
    """A grid image of a corpus sequence: one row per sampled time, one column per view."""
    from annotator.capture import Capture

    gt = FlameSequence.load(sequence.gt)
    cap = Capture.load(sequence.capture)
    cameras = read_npz(sequence.cameras, "cameras file of a synthetic corpus")
    K, tau = cameras["K"], cameras["aligned_translation"]
    times = np.linspace(0, gt.n_frames - 1, n_times).round().astype(int)
    cells = []
    for t in times:
        for v in range(gt.n_views):
            with torch.no_grad():
                verts = layer(sequence_to_params(gt, layer, v, slice(t, t + 1))).vertices[0].double()
            cam_pts = (verts + torch.as_tensor(tau[v, t])) @ _FLIP.T
            w, h = (int(x) for x in gt.image_size[v])
            pin = PinholeCamera(torch.as_tensor(K[v, t])[None], torch.eye(3, dtype=torch.float64)[None],
                                torch.zeros(1, 3, dtype=torch.float64), (w, h))
            img = to_uint8(render_mesh(cam_pts[None], layer.faces, pin, (h, w), colors=layer.vertex_colors.double(),
                                       background=(0.55, 0.58, 0.62))[0])
            # zoom on the face: crop the landmark box (x2) and resample to size x size
            lo, hi = np.nanmin(gt.landmarks2d[v, t, :, :2], 0), np.nanmax(gt.landmarks2d[v, t, :, :2], 0)
            c, half = (lo + hi) / 2, max(hi - lo) * 0.9
            xs = np.clip(np.linspace(c[0] - half, c[0] + half, size), 0, w - 1).astype(int)
            ys = np.clip(np.linspace(c[1] - half, c[1] + half, size), 0, h - 1).astype(int)
            img = img[ys][:, xs]
            to_cell = lambda p: (p - (c - half)) * size / (2 * half)  # noqa: E731
            img = draw_points(img, to_cell(gt.landmarks2d[v, t, :, :2]), (220, 30, 30), radius=2.0)
            if cap.valid[v, t]:
                img = draw_landmarks(img, to_cell(cap.landmarks[v, t, :, :2]), (40, 220, 40), radius=1.2)
            else:
                img = put_text(img, "NO DETECTION", (8, size // 2), color=(200, 0, 0), scale=2)
            cells.append(put_text(img, f"{gt.view_names[v]} T={t}", (4, 4), scale=2))
    return image_grid(cells, cols=gt.n_views if gt.n_views > 1 else min(n_times, 8))
