"""Real clips with a gap made on purpose: what the motion prior does where a real face is lost.

For every video of a folder: detect the face track (dlib, cached), hide the detections of a stretch of
``gap_seconds`` in the middle of the clip (its frames become frames without a face), annotate the clip
with NeuFace with and without the motion prior (:mod:`annotator.motion_term`), and compare the fit with
the detections that were hidden - the only reference a real clip has: NME inside the gap, NME on the
other frames, jitter of the 3D landmarks. A contact sheet per clip shows frames across the gap (rows:
without / with the prior): the fitted mesh and landmarks (red) over the video, the hidden detections
(green) inside the gap.

``python -m eval real-gaps --clips DIR --prior GENERATOR.pt --out runs/real_gaps``
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from annotator.neuface import AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from eval.report import markdown_table, write_csv
from flame.errors import InputError
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS

__all__ = ["run_real_gaps", "gap_frames"]

log = logging.getLogger(__name__)
COLUMNS = ["clip", "frames", "gap", "method", "nme_gap", "nme_visible", "jitter_mm_s3", "seconds"]


def gap_frames(valid: np.ndarray, length: int) -> np.ndarray:
    """``(T,)`` bool: ``length`` frames centred in the clip (``valid (T,)`` the frames with a detection; the
    gap is moved to the nearest stretch where every frame has one, so it hides only real detections)."""
    n = len(valid)
    if length >= n - 2:
        raise InputError(f"a gap of {length} frames does not fit in a clip of {n} frames")
    starts = [s for s in range(1, n - length) if valid[s:s + length].all()]
    if not starts:
        raise InputError(f"no stretch of {length} frames with a face in every frame")
    start = min(starts, key=lambda s: abs(s + length / 2 - n / 2))
    mask = np.zeros(n, bool)
    mask[start:start + length] = True
    return mask


def run_real_gaps(clips: str, prior: str, out: str = "runs/real_gaps", gap_seconds: float = 1.0,
                  lambda_prior: float = AnnotateConfig.lambda_prior, max_frames: int | None = 300,
                  model: str | None = None, assets: str = DEFAULT_ASSETS, encoder_cache: str = DEFAULT_ENCODER_CACHE,
                  pretrain: PretrainConfig | None = None, sheet_frames: int = 6) -> list[dict]:
    """Run the experiment (see the module docstring); returns the table rows.

    Args:
        clips: a folder of videos (e.g. ``../shared/data/real_clips``).
        prior: a HuMoR-Face generator trained with the same head model.
        out: output folder (captures, annotations, contact sheets, ``real_gaps.md`` / ``.csv``).
        gap_seconds: length of the hidden stretch; lambda_prior: the motion prior's weight.
        max_frames: frames of each clip used (from the start).
        model / assets / encoder_cache: the head model (default: the stand-in) and landmark-encoder cache.
        pretrain: landmark-encoder pretraining settings (default: the annotator's).
        sheet_frames: frames per row of the contact sheets.
    """
    from annotator.motion_term import load_motion_prior
    from annotator.sources import videos_in
    from eval.annotation import fitted_landmarks_px, stability_scores
    from eval.experiments.setup import annotate_cached, annotation_setup, cached_capture
    from eval.metrics import nme

    videos = videos_in(clips)
    out_dir = Path(out)
    model_path, layer, layer64, encoder = annotation_setup(model, assets, encoder_cache, pretrain)
    term = load_motion_prior(prior, layer, model_path)
    settings = {"neuface": (AnnotateConfig(), None),
                "neuface + prior": (AnnotateConfig(prior=str(prior), lambda_prior=lambda_prior), term)}
    rows = []
    for video in videos:
        cap = cached_capture(video, out_dir / "captures", max_frames)
        gap = gap_frames(cap.valid[0], int(round(gap_seconds * cap.fps)))
        hidden = cap.replace(valid=cap.valid & ~gap[None])
        det = torch.as_tensor(np.asarray(cap.landmarks[..., :2], np.float64))
        fits = {}
        for method, (cfg, motion) in settings.items():
            seq = fits[method] = annotate_cached(out_dir / "annotations" / video.stem / f"{method.replace(' + ', '_')}.npz",
                                                 hidden, layer, encoder, cfg, prior=motion)
            fitted = torch.as_tensor(fitted_landmarks_px(layer64, seq))
            visible = torch.as_tensor(hidden.valid)
            rows.append({"clip": video.name, "frames": cap.n_frames, "gap": f"{np.flatnonzero(gap)[0]}-{np.flatnonzero(gap)[-1]}",
                         "method": method, "nme_gap": float(nme(fitted, det, mask=torch.as_tensor(gap)[None])),
                         "nme_visible": float(nme(fitted, det, mask=visible)),
                         "jitter_mm_s3": stability_scores(layer64, seq)["jitter_mm_s3"], "seconds": seq.metadata["seconds"]})
            log.info("%s %s: %s", video.name, method, rows[-1])
        _contact_sheet(layer64, video, cap, gap, fits, out_dir / f"{video.stem}_gap.png", sheet_frames)
    write_csv(out_dir / "real_gaps.csv", rows, COLUMNS)
    atomic_write_text(out_dir / "real_gaps.md", (
        f"# Real clips with a {gap_seconds:g} s gap\n\nClips in `{clips}` (first {max_frames} frames), dlib detections; the "
        f"detections of the gap frames are hidden from the annotation and used as the reference. Prior: `{prior}` "
        f"(weight {lambda_prior:g}).\n\n" + markdown_table(rows, COLUMNS) + "\n\nNME in % of the outer inter-ocular "
        "distance against the dlib detections (inside the gap: the hidden ones); jitter of the fitted 3D landmarks in "
        "mm/s^3; seconds of annotation.\n"))
    return rows


def _contact_sheet(layer, video: Path, cap, gap: np.ndarray, fits: dict, path: Path, n: int) -> None:
    """Frames across the gap (one row per method): the fit over the video, the hidden detections in green."""
    from annotator.overlay import render_overlay_frames
    from annotator.sources import iter_video
    from flame.draw import image_grid, put_text
    from flame.media import write_png

    idx = np.flatnonzero(gap)
    pad = max(2, len(idx) // 4)
    picks = np.linspace(max(idx[0] - pad, 0), min(idx[-1] + pad, cap.n_frames - 1), n).round().astype(int)
    frames = {}
    for t, frame in enumerate(iter_video(video)):
        if t in picks:
            frames[t] = frame
        if t >= picks[-1]:
            break
    cells = []
    for method, seq in fits.items():
        shown = seq.replace(landmarks2d=cap.landmarks, valid=cap.valid)  # the hidden detections are drawn too
        sub = shown.at(picks)
        for t, img in zip(picks, render_overlay_frames(layer, sub, 0, [frames[t] for t in picks])):
            label = f"{method} | {'GAP' if gap[t] else 'seen'} {t}"
            cells.append(put_text(img, label, (6, img.shape[0] - 24), color=(255, 255, 0), scale=max(1, img.shape[1] // 320)))
    write_png(path, image_grid(cells, cols=n))
