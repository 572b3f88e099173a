"""Real clips in parameter space: what an annotation method does to the expressions, jaw and identity of
real faces, where no ground truth exists.

For every video of a folder (first ``max_frames`` frames; dlib detections, cached): annotate with each
method of :data:`METHODS` and report the mean expression norm (coefficients) and its ratio to the
per-frame encoder's (``regress``), the off-axis jaw rotation (deg), the identity's RMS coefficient (a face
of the model's population is about 1; the runner flags ``shape_out_of_distribution`` above 2), NME against
the detections, MSI_L and jitter of the fitted 3D landmarks. A sheet per clip shows the middle frame: the
overlay of each method, and its mesh with the head rotation zeroed in a frontal and a side view - the 3D
that a landmark overlay cannot show.

``python -m eval real-fidelity --clips DIR --out runs/real_fidelity``
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from annotator.neuface import OFFICIAL_OBJECTIVE, AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from eval.metrics.fidelity import jaw_offaxis_deg
from eval.report import markdown_table, write_csv
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS

__all__ = ["run_real_fidelity", "METHODS"]

log = logging.getLogger(__name__)
#: the methods compared: the per-frame encoder, NeuFace's official objective, the suite's NeuFace
METHODS = {"regress": AnnotateConfig(method="regress"), "neuface (official objective)": OFFICIAL_OBJECTIVE,
           "neuface": AnnotateConfig()}
COLUMNS = ["clip", "frames", "method", "expr_norm", "expr_vs_regress", "jaw_offaxis_deg", "shape_rms", "nme_det", "msi_l",
           "jitter_mm_s3", "seconds"]


def run_real_fidelity(clips: str, out: str = "runs/real_fidelity", max_frames: int | None = None, model: str | None = None,
                      assets: str = DEFAULT_ASSETS, encoder_cache: str = DEFAULT_ENCODER_CACHE,
                      pretrain: PretrainConfig | None = None) -> list[dict]:
    """Run the comparison (see the module docstring); returns the table rows.

    Args:
        clips: a folder of videos.
        out: output folder (captures, annotations, sheets, ``real_fidelity.md`` / ``.csv``); resumes.
        max_frames: frames of each clip used from the start (None: all).
        model / assets / encoder_cache / pretrain: the head model (default: the stand-in), the landmark
            encoder's cache and pretraining settings.
    """
    from annotator.sources import videos_in
    from eval.annotation import stability_scores
    from eval.experiments.setup import annotate_cached, annotation_setup, cached_capture

    out_dir = Path(out)
    _, layer, layer64, encoder = annotation_setup(model, assets, encoder_cache, pretrain)
    rows = []
    for video in videos_in(clips):
        cap = cached_capture(video, out_dir / "captures", max_frames)
        fits, encoder_expr = {}, None
        for method, cfg in METHODS.items():
            name = f"{method.split(' ')[0]}{'_official' if 'official' in method else ''}.npz"
            seq = fits[method] = annotate_cached(out_dir / "annotations" / video.stem / name, cap, layer, encoder, cfg)
            expr = float(np.linalg.norm(seq.expression, axis=-1).mean())
            if method == "regress":  # METHODS starts with it: the reference of the other rows
                encoder_expr = expr
            rows.append({"clip": video.name, "frames": cap.n_frames, "method": method, "expr_norm": expr,
                         "expr_vs_regress": expr / encoder_expr,
                         "jaw_offaxis_deg": jaw_offaxis_deg(seq.pose),
                         "shape_rms": float(np.sqrt(np.mean(np.square(seq.shape)))),
                         **stability_scores(layer64, seq, cap.landmarks, cap.valid), "seconds": seq.metadata["seconds"]})
            log.info("%s %s: %s", video.name, method, rows[-1])
        _sheet(layer64, video, cap.n_frames // 2, fits, out_dir / f"{video.stem}_fidelity.png")
    write_csv(out_dir / "real_fidelity.csv", rows, COLUMNS)
    atomic_write_text(out_dir / "real_fidelity.md", (
        f"# Real clips in parameter space\n\nClips in `{clips}` ({'all frames' if max_frames is None else f'first {max_frames} frames'}), "
        "dlib detections.\n\n" + markdown_table(rows, COLUMNS) + "\n\nexpr_norm: mean L2 norm of the expression "
        "coefficients per frame, expr_vs_regress its ratio to the per-frame encoder's; jaw_offaxis_deg: mean rotation of "
        "the jaw about y and z; shape_rms: RMS of the identity coefficients; NME (%) against the dlib detections; "
        "MSI_L (higher is steadier) and jitter (mm/s^3) of the fitted 3D landmarks; seconds of annotation.\n"))
    return rows


def _face_square(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """A ``size`` x ``size`` nearest-neighbour crop of ``image`` around the landmarks' box (x1.6)."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    centre, half = (lo + hi) / 2, 0.8 * (hi - lo).max()
    grid = centre[None] - half + (np.arange(size) + 0.5)[:, None] * (2 * half / size)  # (size, 2) x and y
    xs = np.clip(grid[:, 0].round().astype(int), 0, image.shape[1] - 1)
    ys = np.clip(grid[:, 1].round().astype(int), 0, image.shape[0] - 1)
    return np.ascontiguousarray(image[ys[:, None], xs[None, :]])


def _sheet(layer, video: Path, frame: int, fits: dict, path: Path, size: int = 256) -> None:
    """One row per method: the overlay of ``frame``, the mesh with the head rotation zeroed from the front
    and from the subject's left."""
    from annotator.overlay import render_overlay_frames
    from annotator.sources import iter_video
    from flame.camera import OrthoCamera
    from flame.draw import image_grid, put_text, to_uint8
    from flame.media import write_png
    from flame.render import render_mesh
    from flame.rotations import axis_angle_to_matrix
    from flame.sequence import sequence_to_params
    from flame.showcase import HEAD_HEIGHT_M

    image = next(img for t, img in enumerate(iter_video(video)) if t == frame)
    cam = OrthoCamera(torch.tensor([[2.0 / HEAD_HEIGHT_M, 0.0, 0.02]], dtype=torch.float64), size)
    side = axis_angle_to_matrix(torch.tensor([0.0, np.pi / 2, 0.0], dtype=torch.float64))
    cells = []
    for method, seq in fits.items():
        one = seq.frames(frame, frame + 1).view(0)
        over = next(iter(render_overlay_frames(layer, one, 0, [image])))
        params = sequence_to_params(one, layer)
        pose = params.pose.clone()
        pose[..., :3] = 0  # the head rotation zeroed: the face's own shape and expression
        with torch.no_grad():
            verts = layer(type(params)(params.shape, params.expression, pose)).vertices.reshape(1, -1, 3)
        centre = (verts.amax(1, keepdim=True) + verts.amin(1, keepdim=True)) / 2  # about the head's box, not the neck
        views = [verts, (verts - centre) @ side.T + centre]
        renders = [to_uint8(render_mesh(v, layer.faces, cam, (size, size), colors=layer.vertex_colors)[0]) for v in views]
        cells += [put_text(_face_square(over, one.fitted_landmarks2d[0, 0], size), f"{method} | frame {frame}", (4, 4),
                           color=(255, 255, 0)),
                  put_text(renders[0], "front, head rotation zeroed", (4, 4)), put_text(renders[1], "side", (4, 4))]
    write_png(path, image_grid(cells, cols=3))
