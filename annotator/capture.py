"""Capture: what the annotator reads - 2D landmark tracks of one or more synchronized views.

A real video (after detection) and a synthetic capture produce the same structure, so everything
downstream is shared. On disk it is one ``.npz`` of numeric / unicode arrays (no pickles), written
atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from flame.files import atomic_write_bytes, read_npz

__all__ = ["Capture", "CaptureFormatError", "CAPTURE_TAG"]

CAPTURE_TAG = "neuface-motion-suite/capture"


class CaptureFormatError(ValueError):
    """A capture file or array does not follow the format."""


@dataclass(frozen=True, eq=False)
class Capture:
    """Landmark tracks of ``V`` synchronized views over ``T`` frames.

    Attributes:
        source: where it came from (a video path, a capture folder, ``synthetic:<id>``).
        fps: frames per second.
        view_names: ``(V,)``.
        frame_ids: ``(T,)`` source frame index of each row.
        landmarks: ``(V, T, 68, 3)`` detected iBUG-68 ``(x, y, confidence)`` in image pixels; NaN x/y
            and confidence 0 where no face was detected.
        valid: ``(V, T)`` bool, a face was detected in that view and frame.
        image_size: ``(V, 2)`` width, height in pixels.
        intrinsics: optional ``(V, T, 3, 3)`` pinhole K (calibrated rigs only).
        extrinsics: optional ``(V, T, 3, 4)`` world -> camera ``[R | t]`` (OpenCV, calibrated rigs only).
        videos: optional per-view video paths, relative to the capture file's folder ("" if none).
        dense: optional ``(V, T, P, 3)`` denser points of the detector, ``(x, y, confidence)`` in pixels (MediaPipe's
            478-point face mesh, :mod:`annotator.mediapipe_mesh`; synthetic captures simulate them); NaN and
            confidence 0 where ``valid`` is false.
        metadata: free-form JSON-serializable dict.
    """

    source: str
    fps: float
    view_names: np.ndarray
    frame_ids: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    image_size: np.ndarray
    intrinsics: np.ndarray | None = None
    extrinsics: np.ndarray | None = None
    videos: np.ndarray | None = None
    dense: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v, t = np.shape(self.valid) if np.ndim(self.valid) == 2 else (-1, -1)
        want = {"view_names": (v,), "frame_ids": (t,), "landmarks": (v, t, 68, 3), "image_size": (v, 2)}
        if v < 1 or t < 1:
            raise CaptureFormatError(f"Capture({self.source}): 'valid' must be (V, T), got {np.shape(self.valid)}")
        for key, shape in want.items():
            if np.shape(getattr(self, key)) != shape:
                raise CaptureFormatError(f"Capture({self.source}): '{key}' has shape {np.shape(getattr(self, key))}, "
                                         f"expected {shape}")
        for key, shape in (("intrinsics", (v, t, 3, 3)), ("extrinsics", (v, t, 3, 4)), ("videos", (v,))):
            a = getattr(self, key)
            if a is not None and np.shape(a) != shape:
                raise CaptureFormatError(f"Capture({self.source}): '{key}' has shape {np.shape(a)}, expected {shape}")
        if self.dense is not None and (np.ndim(self.dense) != 4 or np.shape(self.dense)[:2] != (v, t)
                                       or np.shape(self.dense)[3] != 3):
            raise CaptureFormatError(f"Capture({self.source}): 'dense' has shape {np.shape(self.dense)}, expected "
                                     f"({v}, {t}, P, 3)")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise CaptureFormatError(f"Capture({self.source}): fps must be positive, got {self.fps}")

    @property
    def n_views(self) -> int:
        return int(self.valid.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.valid.shape[1])

    def replace(self, **changes: Any) -> "Capture":
        return replace(self, **changes)

    def frames(self, sl: slice) -> "Capture":
        """The capture restricted to the frames ``sl`` (every per-frame array)."""
        cut = lambda a: None if a is None else a[:, sl]  # noqa: E731
        return replace(self, frame_ids=self.frame_ids[sl], landmarks=self.landmarks[:, sl], valid=self.valid[:, sl],
                       intrinsics=cut(self.intrinsics), extrinsics=cut(self.extrinsics), dense=cut(self.dense))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        arrays = {
            "format": np.array(CAPTURE_TAG), "version": np.array(1), "source": np.array(self.source),
            "fps": np.array(float(self.fps)), "view_names": np.asarray(self.view_names).astype(str),
            "frame_ids": np.asarray(self.frame_ids, np.int64), "landmarks": np.asarray(self.landmarks, np.float32),
            "valid": np.asarray(self.valid, bool), "image_size": np.asarray(self.image_size, np.int64),
            "metadata": np.array(json.dumps(self.metadata, sort_keys=True)),
        }
        for key in ("intrinsics", "extrinsics", "dense"):
            if getattr(self, key) is not None:
                arrays[key] = np.asarray(getattr(self, key), np.float32)
        if self.videos is not None:
            arrays["videos"] = np.asarray(self.videos).astype(str)
        atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    @staticmethod
    def load(path: str | os.PathLike) -> "Capture":
        path = Path(path)
        d = read_npz(path, "capture file", CaptureFormatError)
        if str(d.get("format", "")) != CAPTURE_TAG:
            raise CaptureFormatError(f"{path}: not a capture file (format tag {d.get('format')!r})")
        return Capture(
            source=str(d["source"]), fps=float(d["fps"]), view_names=d["view_names"].astype(str),
            frame_ids=d["frame_ids"], landmarks=d["landmarks"], valid=d["valid"].astype(bool),
            image_size=d["image_size"], intrinsics=d.get("intrinsics"), extrinsics=d.get("extrinsics"),
            videos=d["videos"].astype(str) if "videos" in d else None, dense=d.get("dense"),
            metadata=json.loads(str(d["metadata"])),
        )
