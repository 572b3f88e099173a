"""Face detection and 68-point landmarks on real pixels, with one consistent face track per clip.

Detectors: ``dlib`` - dlib's HOG face detector and its 68-point shape predictor; ``mediapipe`` -
MediaPipe's face mesh (478 points, the 68 taken from them; :mod:`annotator.mediapipe_mesh`). dlib's predictor file
(``shape_predictor_68_face_landmarks.dat``) is taken from, in order: the path you give, the
``face-recognition-models`` package (its import is broken on current setuptools, so the file is found
by path), Debian's ``libdlib-data``. Optional: FAN (``face_alignment``) when it is installed *and* its
weights are already on disk (nothing is downloaded).

Tracking: in each frame the detector's boxes are matched to the previous track (largest overlap);
the track starts on the most confident large face. Frames without a matching face are kept and flagged invalid
(NaN landmarks, confidence 0) - never dropped, so frame indices stay aligned.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

__all__ = ["find_predictor", "DlibDetector", "FanDetector", "FaceTracker", "Track", "track_frames", "make_detector",
           "DETECTORS"]

log = logging.getLogger(__name__)
PREDICTOR_NAME = "shape_predictor_68_face_landmarks.dat"
DEBIAN_PREDICTOR = Path("/usr/share/dlib") / PREDICTOR_NAME


def find_predictor(user_path: str | os.PathLike | None = None) -> Path:
    """Locate dlib's 68-point predictor; a clear error lists every place looked at."""
    tried = []
    if user_path:
        p = Path(user_path)
        if p.is_file():
            return p
        tried.append(str(p))
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        p = Path(spec.submodule_search_locations[0]) / "models" / PREDICTOR_NAME
        if p.is_file():
            return p
        tried.append(str(p))
    if DEBIAN_PREDICTOR.is_file():
        return DEBIAN_PREDICTOR
    tried.append(str(DEBIAN_PREDICTOR))
    raise FileNotFoundError(
        f"dlib's {PREDICTOR_NAME} was not found (looked in: {', '.join(tried)}). Install it with "
        f"`pip install face-recognition-models` (part of `pip install -e .[face]`), or `apt-get install "
        f"libdlib-data`, or pass --predictor PATH."
    )


class Detector(Protocol):
    """What :func:`track_frames` needs of a detector. Optional: ``reset()`` (a new track begins: a tracking
    detector forgets the last frame) and ``dense(frame, box)`` with ``dense_points`` (a denser point set
    kept beside the 68)."""

    name: str

    def detect(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Face boxes ``(l, t, r, b)`` in pixels with scores."""

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """``(68, 3)``: x, y in pixels and a confidence in [0, 1]."""


class DlibDetector:
    """dlib HOG detector (run on a downscaled grey image for speed) + 68-point predictor."""

    name = "dlib"

    def __init__(self, predictor: str | os.PathLike | None = None, max_side: int = 480, upsample: int = 0) -> None:
        try:
            import dlib
        except ImportError as e:
            raise ImportError("dlib is required for detection on videos: pip install dlib-bin (or -e .[face])") from e
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(find_predictor(predictor)))
        self.max_side, self.upsample = max_side, upsample

    def detect(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        grey = frame.mean(-1).astype(np.uint8) if frame.ndim == 3 else frame
        scale = min(1.0, self.max_side / max(grey.shape[:2]))
        if scale < 1.0:
            idx_y = (np.arange(int(grey.shape[0] * scale)) / scale).astype(int)
            idx_x = (np.arange(int(grey.shape[1] * scale)) / scale).astype(int)
            grey = np.ascontiguousarray(grey[idx_y][:, idx_x])
        rects, scores, _ = self.detector.run(grey, self.upsample, 0.0)
        return [(np.array([r.left(), r.top(), r.right(), r.bottom()], float) / scale, float(s))
                for r, s in zip(rects, scores)]

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        rect = self._dlib.rectangle(*[int(round(v)) for v in box])
        shape = self.predictor(np.ascontiguousarray(frame), rect)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        return np.concatenate([pts, np.ones((68, 1))], 1)  # dlib gives no per-point confidence


class FanDetector:
    """FAN 2D landmarks (``face_alignment``), only when installed with weights already on disk."""

    name = "fan"

    def __init__(self) -> None:
        if importlib.util.find_spec("face_alignment") is None:
            raise ImportError("FAN needs the face_alignment package (pip install face-alignment)")
        hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
        if not any(hub.glob("2DFAN4*")) or not any(hub.glob("s3fd*")):
            raise FileNotFoundError(f"FAN weights are not in {hub}; the suite never downloads them. Run face_alignment "
                                    f"once on a machine with internet access and copy the checkpoints there.")
        import face_alignment

        self.fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device="cpu", flip_input=False)

    def detect(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        boxes = self.fa.face_detector.detect_from_image(frame[..., ::-1].copy())
        return [(np.asarray(b[:4], float), float(b[4])) for b in boxes]

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        pts, scores, _ = self.fa.get_landmarks(frame, detected_faces=[box], return_landmark_score=True)
        return np.concatenate([pts[0], np.clip(scores[0], 0, 1)[:, None]], 1)


#: the detectors of :func:`make_detector`
DETECTORS = ("dlib", "mediapipe", "fan")


def make_detector(name: str = "dlib", predictor: str | None = None) -> Detector:
    """The detector ``name`` (:data:`DETECTORS`); ``predictor``: dlib's predictor file."""
    if name == "dlib":
        return DlibDetector(predictor)
    if name == "mediapipe":
        from annotator.mediapipe_mesh import MediaPipeDetector

        return MediaPipeDetector()
    if name == "fan":
        return FanDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    area = lambda x: np.prod(np.clip(x[2:] - x[:2], 0, None))  # noqa: E731
    return float(inter / max(area(a) + area(b) - inter, 1e-9))


@dataclass
class FaceTracker:
    """Keeps one face across frames: the most confident large face first, then the box overlapping the
    last one (a face elsewhere in the frame is ignored)."""

    min_iou: float = 0.2
    last: np.ndarray | None = None

    def choose(self, boxes: list[tuple[np.ndarray, float]]) -> np.ndarray | None:
        if not boxes:
            return None
        if self.last is None:  # the most confident, large face starts the track
            box = max(boxes, key=lambda b: b[1] * np.sqrt(np.prod(b[0][2:] - b[0][:2])))[0]
        else:
            box, overlap = max(((b, _iou(b, self.last)) for b, _ in boxes), key=lambda x: x[1])
            if overlap < self.min_iou:
                return None
        self.last = box
        return box


@dataclass(frozen=True)
class Track:
    """One face through a clip.

    Attributes:
        landmarks: ``(T, 68, 3)`` iBUG-68 x, y in pixels and a confidence; NaN and 0 where no face.
        valid: ``(T,)`` a face was found.
        boxes: ``(T, 4)`` its box ``(l, t, r, b)`` in pixels (NaN where no face).
        dense: ``(T, P, 3)`` float32, the detector's dense points (MediaPipe: 478), or None.
    """

    landmarks: np.ndarray
    valid: np.ndarray
    boxes: np.ndarray
    dense: np.ndarray | None = None


def _missing(points: int) -> np.ndarray:
    out = np.full((points, 3), np.nan)
    out[:, 2] = 0.0
    return out


def track_frames(frames: Iterable[np.ndarray], detector: Detector, progress=None) -> Track:
    """One face through ``frames`` (the rules of :class:`FaceTracker`); a new track of the detector."""
    if hasattr(detector, "reset"):
        detector.reset()
    tracker = FaceTracker()
    n_dense = getattr(detector, "dense_points", 0)
    lms, valid, boxes, dense = [], [], [], []
    for i, frame in enumerate(frames):
        box = tracker.choose(detector.detect(frame))
        found = box is not None
        lms.append(detector.landmarks(frame, box) if found else _missing(68))
        valid.append(found)
        boxes.append(box if found else np.full(4, np.nan))
        if n_dense:
            dense.append(detector.dense(frame, box) if found else _missing(n_dense))
        if progress is not None:
            progress(i + 1)
    if not lms:
        raise ValueError("no frames to detect faces in")
    return Track(np.stack(lms), np.array(valid), np.stack(boxes),
                 np.stack(dense).astype(np.float32) if n_dense else None)  # float32: 5.7 kB a frame
