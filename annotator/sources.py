"""Inputs of the annotator, all turned into a :class:`~annotator.capture.Capture`:

* a video file (one view);
* a multi-view capture folder: synchronized per-view videos (``<folder>/<view>.mp4``) or frame
  folders (``<folder>/<view>/*.png|jpg``), as in MEAD;
* a synthetic sequence (a corpus sequence folder or its ``capture.npz``);
* pre-detected landmarks: ``.npy`` / ``.npz`` holding ``(T, 68, 2|3)`` or ``(V, T, 68, 2|3)`` pixels.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from annotator.capture import Capture
from flame.files import read_npz
from flame.layout import CAMERAS_FILE, CAPTURE_FILE

__all__ = ["VideoError", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "video_info", "iter_video", "iter_view",
           "view_layout", "capture_from_video", "capture_from_folder", "capture_from_landmarks", "load_capture"]

log = logging.getLogger(__name__)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: Frame rate assumed for inputs that carry none (frame folders, landmark files): MEAD's 30 fps.
DEFAULT_CAPTURE_FPS = 30.0
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class VideoError(ValueError):
    """A video (or frame folder) cannot be read."""


def videos_in(folder: str | os.PathLike) -> list[Path]:
    """The videos directly in ``folder``, sorted; an :class:`~flame.errors.InputError` when there are none."""
    from flame.errors import InputError

    folder = Path(folder)
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS) if folder.is_dir() else []
    if not videos:
        raise InputError(f"{folder}: no videos ({', '.join(VIDEO_EXTENSIONS)}) in this folder")
    return videos


def video_info(path: str | os.PathLike) -> dict:
    """``{"fps", "n_frames", "size": (w, h)}`` of a video; raises :class:`VideoError` naming the file."""
    import imageio.v2 as iio2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    try:
        reader = iio2.get_reader(str(path), format="FFMPEG")
        meta = reader.get_meta_data()
        n = reader.count_frames()
        reader.close()
    except Exception as e:
        raise VideoError(f"{path}: cannot read this video ({type(e).__name__}: {str(e).splitlines()[0]}); "
                         f"is it a valid video file? Re-encode it with ffmpeg -i IN -c:v libx264 OUT.mp4") from None
    if n <= 0:
        raise VideoError(f"{path}: the video has no frames")
    return {"fps": float(meta.get("fps", 25.0)), "n_frames": int(n), "size": tuple(meta.get("size", (0, 0)))}


def iter_video(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """RGB frames ``(H, W, 3)`` uint8 of a video."""
    import imageio.v2 as iio2

    try:
        reader = iio2.get_reader(str(path), format="FFMPEG")
    except Exception as e:
        raise VideoError(f"{path}: cannot open the video ({type(e).__name__}: {e})") from None
    try:
        for frame in reader:
            yield np.asarray(frame)[..., :3]
    finally:
        reader.close()


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def view_layout(folder: str | os.PathLike) -> dict[str, Path]:
    """The views of a multi-view folder: view name -> video file or frame folder."""
    folder = Path(folder)
    views = {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS}
    views.update({p.name: p for p in sorted(folder.iterdir()) if p.is_dir() and _frame_files(p)})
    return views


def _view_frames(path: Path) -> tuple[int, float | None]:
    if path.is_dir():
        return len(_frame_files(path)), None
    info = video_info(path)
    return info["n_frames"], info["fps"]


def iter_view(path: Path) -> Iterator[np.ndarray]:
    """Frames of one view: a video file or a folder of images."""
    if path.is_dir():
        import imageio.v3 as iio

        for f in _frame_files(path):
            try:
                yield np.asarray(iio.imread(f))[..., :3]
            except Exception as e:
                raise VideoError(f"{f}: cannot read this frame ({type(e).__name__}: {e})") from None
    else:
        yield from iter_video(path)


def _detect_views(views: dict[str, Path], n_frames: int, fps: float, source: str, detector, progress: bool) -> Capture:
    from annotator.detect import track_frames

    sizes: dict[str, tuple[int, int]] = {}

    def frames_of(name: str, path: Path) -> Iterator[np.ndarray]:
        for i, frame in enumerate(iter_view(path)):
            if i >= n_frames:
                return
            sizes.setdefault(name, (frame.shape[1], frame.shape[0]))
            yield frame

    tracks = []
    for name, path in views.items():
        with tqdm(total=n_frames, desc=f"detecting {Path(source).name}/{name}", unit="frame", disable=not progress) as bar:
            track = track_frames(frames_of(name, path), detector, progress=lambda i: bar.update(1))
        if len(track.valid) != n_frames:
            raise VideoError(f"{path}: decoded {len(track.valid)} frames, expected {n_frames}")
        tracks.append(track)
    valid_arr = np.stack([t.valid for t in tracks])
    if not valid_arr.any():
        raise ValueError(f"{source}: no face was detected in any frame; nothing to annotate")
    return Capture(source=str(source), fps=fps, view_names=np.array(list(views)), frame_ids=np.arange(n_frames),
                   landmarks=np.stack([t.landmarks for t in tracks]), valid=valid_arr,
                   image_size=np.array([sizes[n] for n in views]), videos=np.array([str(p) for p in views.values()]),
                   dense=np.stack([t.dense for t in tracks]) if tracks[0].dense is not None else None,
                   metadata={"detector": getattr(detector, "name", "unknown")})


def capture_from_video(path: str | os.PathLike, detector, max_frames: int | None = None, progress: bool = True) -> Capture:
    """Detect one face track through a video."""
    path = Path(path)
    info = video_info(path)
    n = info["n_frames"] if max_frames is None else min(info["n_frames"], max_frames)
    return _detect_views({"front": path}, n, info["fps"], str(path), detector, progress)


def capture_from_folder(folder: str | os.PathLike, detector, fps: float = DEFAULT_CAPTURE_FPS, truncate: bool = False,
                        max_frames: int | None = None, progress: bool = True) -> Capture:
    """A synchronized multi-view capture. Views of different lengths are an error unless ``truncate``
    (then every view is cut to the shortest, and the metadata says so)."""
    folder = Path(folder)
    views = view_layout(folder)
    if not views:
        raise ValueError(f"{folder}: no per-view videos ({', '.join(VIDEO_EXTENSIONS)}) or frame folders found")
    lengths = {}
    for name, p in views.items():
        n, f = _view_frames(p)
        lengths[name] = n
        fps = f or fps
    n = min(lengths.values())
    if len(set(lengths.values())) > 1 and not truncate:
        raise ValueError(f"{folder}: the views have different lengths {lengths}; they cannot be synchronized frame "
                         f"by frame. Fix the capture, or pass --truncate to cut every view to {n} frames.")
    if max_frames is not None:
        n = min(n, max_frames)
    # the calibration is checked before the (long) detection
    calibration = rig_calibration(folder / CAMERAS_FILE, list(views), n) if (folder / CAMERAS_FILE).is_file() else {}
    cap = _detect_views(views, n, fps, str(folder), detector, progress)
    if len(set(lengths.values())) > 1:
        cap = cap.replace(metadata=dict(cap.metadata, truncated_from=lengths))
    return cap.replace(**calibration) if calibration else cap


def rig_calibration(path: Path, view_names: list[str], n_frames: int) -> dict[str, np.ndarray]:
    """A calibrated rig's cameras for a capture's views: ``intrinsics (V, T, 3, 3)`` pinhole K in pixels and
    ``extrinsics (V, T, 3, 4)`` world -> camera ``[R | t]`` (OpenCV), read from ``path`` (``cameras.npz`` beside the
    views, the synthetic corpus's layout: ``view_names (V,)``, ``K``, ``R`` per view as ``(V, 3, 3)`` or per frame as
    ``(V, T, 3, 3)``, ``t`` as ``(V, 3)`` or ``(V, T, 3)``, metres). Views are matched by name."""
    data = read_npz(path, "rig calibration (cameras.npz)", ValueError)
    missing = [k for k in ("view_names", "K", "R", "t") if k not in data]
    if missing:
        raise ValueError(f"{path}: a rig calibration needs view_names, K, R and t; {', '.join(missing)} missing")
    names = [str(n) for n in data["view_names"]]
    absent = [v for v in view_names if v not in names]
    if absent:
        raise ValueError(f"{path}: no camera for the views {absent} (it has {names}); name each view's camera as its "
                         "video or frame folder is named")
    order = [names.index(v) for v in view_names]

    def per_frame(a: np.ndarray, tail: tuple[int, ...], key: str) -> np.ndarray:
        a = np.asarray(a, np.float64)[order]
        if a.shape[1:] == tail:
            return np.broadcast_to(a[:, None], (len(order), n_frames, *tail)).copy()
        if a.shape[1] >= n_frames and a.shape[2:] == tail:
            return a[:, :n_frames]
        raise ValueError(f"{path}: {key} is {a.shape[1:]} per view; expected {tail} or (frames >= {n_frames}, *{tail})")

    K, R, t = per_frame(data["K"], (3, 3), "K"), per_frame(data["R"], (3, 3), "R"), per_frame(data["t"], (3,), "t")
    return {"intrinsics": K, "extrinsics": np.concatenate([R, t[..., None]], -1)}


def capture_from_landmarks(path: str | os.PathLike, fps: float = DEFAULT_CAPTURE_FPS,
                           image_size: tuple[int, int] | None = None) -> Capture:
    """Pre-detected landmarks ``(T, 68, 2|3)`` or ``(V, T, 68, 2|3)`` in pixels (NaN rows = no face)."""
    path = Path(path)
    if path.suffix == ".npz":
        from flame.files import read_npz

        data = read_npz(path, "landmark file", ValueError)
        key = next((k for k in ("landmarks", "landmarks2d", "lmk", "kpt") if k in data), None)
        if key is None:
            raise ValueError(f"{path}: expected an array named 'landmarks' (found {sorted(data)})")
        lm = data[key]
    else:
        lm = np.load(path, allow_pickle=False)
    lm = np.asarray(lm, dtype=np.float64)
    if lm.ndim == 3:
        lm = lm[None]
    if lm.ndim != 4 or lm.shape[2] != 68 or lm.shape[3] not in (2, 3):
        raise ValueError(f"{path}: landmarks must be (T, 68, 2|3) or (V, T, 68, 2|3), got {lm.shape}")
    if lm.shape[3] == 2:
        lm = np.concatenate([lm, np.ones((*lm.shape[:3], 1))], -1)
    valid = np.isfinite(lm[..., :2]).all(axis=(2, 3))
    lm[~valid, :, 2] = 0.0
    if image_size is None:
        image_size = tuple(int(np.ceil(np.nanmax(lm[..., c]))) + 1 for c in (0, 1))
    v, t = lm.shape[:2]
    return Capture(source=str(path), fps=fps, view_names=np.array(["front"] if v == 1 else [f"view{i}" for i in range(v)]),
                   frame_ids=np.arange(t), landmarks=lm, valid=valid, image_size=np.tile(np.array(image_size), (v, 1)))


def load_capture(path: str | os.PathLike, detector=None, fps: float = DEFAULT_CAPTURE_FPS, truncate: bool = False,
                 max_frames: int | None = None, progress: bool = True) -> Capture:
    """Any supported input -> Capture (see the module docstring)."""
    path = Path(path)
    if path.is_dir() and (path / CAPTURE_FILE).is_file():
        return Capture.load(path / CAPTURE_FILE)
    if path.is_file() and path.name.endswith(".npz"):
        from flame.files import read_npz

        if "format" in read_npz(path, "capture or landmark file", ValueError):
            return Capture.load(path)
        return capture_from_landmarks(path, fps)
    if path.is_file() and path.suffix == ".npy":
        return capture_from_landmarks(path, fps)
    if detector is None:
        from annotator.detect import make_detector

        detector = make_detector()
    if path.is_file():
        return capture_from_video(path, detector, max_frames=max_frames, progress=progress)
    if path.is_dir():
        return capture_from_folder(path, detector, fps=fps, truncate=truncate, max_frames=max_frames, progress=progress)
    raise FileNotFoundError(f"{path}: no such input (expected a video, a multi-view folder, a capture.npz or landmarks)")
