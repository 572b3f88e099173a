"""Detectors side by side on real clips: dlib's 68-point predictor and MediaPipe's face mesh.

For every video of a folder (first ``max_frames`` frames, decoded once) and every detector: detection
milliseconds per frame (decoding excluded), how steady the raw 68 points are (median frame-to-frame
acceleration of every point, % of the detector's own outer inter-ocular distance), agreement with dlib on
eight stable points (eye corners, nose tip, mouth corners, chin; % of dlib's inter-ocular distance), then
a NeuFace annotation of each detector's capture: NME of the fit against that detector's own points, MSI_L
and jitter of the fitted 3D landmarks, and the total annotation seconds per frame (detection included). A
contact sheet per clip shows the same frames annotated from each detector (rows), full frames and the
mouth and eyes enlarged.

``python -m eval detectors --clips DIR --out runs/detectors``
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from annotator.neuface import AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from eval.report import markdown_table, write_csv
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS

__all__ = ["run_detectors", "raw_acceleration", "STABLE_POINTS"]

log = logging.getLogger(__name__)
#: iBUG-68 points both detectors place on the same anatomy: eye corners, nose tip, mouth corners, chin
STABLE_POINTS = (36, 39, 42, 45, 30, 48, 54, 8)
COLUMNS = ["clip", "detector", "frames", "found", "detect_ms_per_frame", "raw_accel_iod_pct", "vs_dlib_iod_pct",
           "nme_own", "msi_l", "jitter_mm_s3", "annotate_s", "total_s_per_frame"]


def _iod(points: np.ndarray) -> np.ndarray:
    """``(T,)`` outer inter-ocular distance of iBUG-68 points ``(T, 68, >=2)``."""
    return np.linalg.norm(points[:, 36, :2] - points[:, 45, :2], axis=-1)


def raw_acceleration(points: np.ndarray, valid: np.ndarray) -> float:
    """Median frame-to-frame acceleration ``|p[t+1] - 2 p[t] + p[t-1]|`` of every point ``(T, 68, >=2)``
    over frames whose two neighbours have a face too, in % of the inter-ocular distance at ``t``."""
    ok = valid[:-2] & valid[1:-1] & valid[2:]
    if not ok.any():
        return float("nan")
    p = points[..., :2]
    acc = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1)[ok]  # (N, 68)
    return float(np.median(100.0 * acc / _iod(p[1:-1][ok])[:, None]))


def run_detectors(clips: str, out: str = "runs/detectors", detectors: tuple[str, ...] = ("dlib", "mediapipe"),
                  max_frames: int = 300, model: str | None = None, assets: str = DEFAULT_ASSETS,
                  encoder_cache: str = DEFAULT_ENCODER_CACHE, pretrain: PretrainConfig | None = None,
                  sheet_frames: int = 5) -> list[dict]:
    """Run the comparison (see the module docstring); returns the table rows.

    Args:
        clips: a folder of videos (e.g. ``../shared/data/real_clips``).
        out: output folder (captures, annotations, contact sheets, ``detectors.md`` / ``.csv``).
        detectors: detectors compared (:data:`annotator.detect.DETECTORS`); dlib is the agreement reference.
        max_frames: frames of each clip used (from the start).
        model / assets / encoder_cache / pretrain: head model (default: the stand-in) and landmark encoder.
        sheet_frames: frames per row of the contact sheets.
    """
    from annotator.capture import Capture
    from annotator.detect import make_detector, track_frames
    from annotator.sources import iter_video, video_info, videos_in
    from eval.annotation import stability_scores
    from eval.experiments.setup import annotate_cached, annotation_setup

    videos = videos_in(clips)
    out_dir = Path(out)
    _, layer, layer64, encoder = annotation_setup(model, assets, encoder_cache, pretrain)
    made = {}
    rows = []
    for video in videos:
        frames = [f for _, f in zip(range(max_frames), iter_video(video))]
        fps = video_info(video)["fps"]
        caps, fits = {}, {}
        for name in detectors:
            cached = out_dir / "captures" / f"{video.stem}_{name}.npz"
            if cached.is_file():
                cap = Capture.load(cached)
            else:
                det = made.setdefault(name, make_detector(name))
                t0 = time.perf_counter()
                track = track_frames(frames, det)
                ms = 1e3 * (time.perf_counter() - t0) / len(frames)
                cap = Capture(source=str(video), fps=fps, view_names=np.array(["front"]),
                              frame_ids=np.arange(len(frames)), landmarks=track.landmarks[None], valid=track.valid[None],
                              image_size=np.array([[frames[0].shape[1], frames[0].shape[0]]]),
                              dense=None if track.dense is None else track.dense[None],
                              metadata={"detector": name, "detect_ms_per_frame": ms})
                cap.save(cached)
            caps[name] = cap
            seq = fits[name] = annotate_cached(out_dir / "annotations" / f"{video.stem}_{name}.npz", cap, layer, encoder,
                                               AnnotateConfig())
            s = stability_scores(layer64, seq, cap.landmarks, cap.valid)
            lm, ok = cap.landmarks[0], cap.valid[0]
            ms = cap.metadata["detect_ms_per_frame"]
            rows.append({"clip": video.name, "detector": name, "frames": cap.n_frames, "found": float(ok.mean()),
                         "detect_ms_per_frame": ms, "raw_accel_iod_pct": raw_acceleration(lm, ok),
                         "nme_own": s["nme_det"], "msi_l": s["msi_l"], "jitter_mm_s3": s["jitter_mm_s3"],
                         "annotate_s": seq.metadata["seconds"],
                         "total_s_per_frame": (ms * cap.n_frames / 1e3 + seq.metadata["seconds"]) / cap.n_frames})
        if "dlib" in caps:
            ref = caps["dlib"]
            for r in rows[-len(detectors):]:
                other = caps[r["detector"]]
                both = ref.valid[0] & other.valid[0]
                d = np.linalg.norm(ref.landmarks[0][both][:, STABLE_POINTS, :2] - other.landmarks[0][both][:, STABLE_POINTS, :2],
                                   axis=-1)
                r["vs_dlib_iod_pct"] = float(np.mean(100.0 * d / _iod(ref.landmarks[0][both])[:, None]))
        _contact_sheet(layer64, frames, caps, fits, out_dir / f"{video.stem}_detectors.png", sheet_frames)
        log.info("%s: %s", video.name, rows[-len(detectors):])
    write_csv(out_dir / "detectors.csv", rows, COLUMNS)
    atomic_write_text(out_dir / "detectors.md", (
        f"# Detectors on real clips\n\nClips in `{clips}` (first {max_frames} frames); NeuFace (default settings) on each "
        "detector's capture.\n\n" + markdown_table(rows, COLUMNS) + "\n\nfound: share of frames with a face; "
        "raw_accel_iod_pct: median frame-to-frame acceleration of the raw 68 points (% of the detector's inter-ocular "
        f"distance; lower is steadier); vs_dlib_iod_pct: mean distance to dlib on points {list(STABLE_POINTS)} (% of "
        "dlib's inter-ocular distance); nme_own: the fit against the detector's own points (%); msi_l: higher is "
        "steadier; jitter of the fitted 3D landmarks in mm/s^3; total_s_per_frame: detection + annotation.\n"))
    return rows


def _contact_sheet(layer, frames: list[np.ndarray], caps: dict, fits: dict, path: Path, n: int) -> None:
    """Rows: detectors; columns: ``n`` frames spread over the clip (the fitted mesh over the video), then
    the mouth and the eyes of the middle frame enlarged on the bare video: the detector's 68 points in green,
    its dense points (if any) as small cyan dots, the fit's landmarks in red."""
    from annotator.overlay import render_overlay_frames
    from flame.draw import draw_landmarks, draw_points, image_grid, put_text
    from flame.media import write_png

    picks = np.linspace(0, len(frames) - 1, n + 2).round().astype(int)[1:-1]
    mid = picks[len(picks) // 2]
    cells = []
    for name, seq in fits.items():
        cap = caps[name]
        sub = seq.at(picks)
        for t, img in zip(picks, render_overlay_frames(layer, sub, 0, [frames[t] for t in picks])):
            cells.append(put_text(img, f"{name} | frame {t}", (6, img.shape[0] - 24), color=(255, 255, 0),
                                  scale=max(1, img.shape[1] // 320)))
        bare = frames[mid].copy()
        if cap.dense is not None:
            bare = draw_points(bare, cap.dense[0, mid, :, :2], color=(0, 200, 255), radius=1.0)
        bare = draw_landmarks(bare, cap.landmarks[0, mid, :, :2], color=(0, 220, 0), radius=1.5)
        bare = draw_landmarks(bare, seq.fitted_landmarks2d[0, mid], color=(255, 40, 40), radius=1.5, connect=False)
        for label, ids in (("mouth", slice(48, 68)), ("eyes", slice(36, 48))):
            zoom = _zoom(bare, cap.landmarks[0, mid, ids, :2], frames[0].shape[:2])
            cells.append(put_text(zoom, f"{name} {label}, frame {mid}", (6, 8), color=(255, 255, 0), scale=1))
    write_png(path, image_grid(cells, cols=n + 2))


def _zoom(img: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The region around ``points (K, 2)`` (with a margin) enlarged to ``size`` (nearest neighbour)."""
    ok = np.isfinite(points).all(1)
    if not ok.any():
        return np.zeros((*size, 3), np.uint8)
    lo, hi = points[ok].min(0), points[ok].max(0)
    c, half = (lo + hi) / 2, max(hi - lo) * 0.75 + 4
    h, w = size
    ys = np.clip((c[1] - half + np.arange(h) * 2 * half / h).astype(int), 0, img.shape[0] - 1)
    xs = np.clip((c[0] - half + np.arange(w) * 2 * half / w).astype(int), 0, img.shape[1] - 1)
    return np.ascontiguousarray(img[ys][:, xs])
