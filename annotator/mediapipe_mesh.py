"""MediaPipe's face mesh as the annotator's detector: 478 points per frame, and the iBUG 68 taken from them.

MediaPipe's legacy ``solutions.face_mesh`` (the ``mediapipe==0.10.14`` wheel ships its face detection and
mesh models; later releases need task files downloaded at run time, which the suite never does) runs in
tracking mode on a video: the face detector runs until a face is found, then the mesh of the last frame
seeds the next. Each view is a new track (:meth:`MediaPipeDetector.reset`). The single-face rules of
:class:`annotator.detect.FaceTracker` pick one face among the meshes found (boxes from the mesh points).

**The 68 iBUG points** are 68 mesh points (:data:`IBUG_FROM_MESH`): for each iBUG point, the mesh point
with the smallest mean distance to dlib's 68-point predictor over 222 real frames where both found the
face (the astronaut photo and every 5th of the first 300 frames of the four clips in
``shared/data/real_clips``), in units of dlib's outer inter-ocular distance, chosen among the mesh points
of the same region in MediaPipe's own region lists (brows, eyes, lips; the nose among all 468 face
points). The 17 contour points (0-16) come from the mesh's face-oval (silhouette) points, so that they
stay on the outline; the mesh's oval is a fixed set of surface points, not the visible silhouette, so on a
turned head the far-side contour points sit inside the visible outline (dlib's predictor has the same
habit, and the annotator's dynamic contour models it). Mean distance to dlib after mapping: 2.9 % of the
inter-ocular distance for the 51 inner points, 6.0 % for the contour (``docs/annotator.md``).

The full 478 points (468 face + 10 iris, ``refine_landmarks``) are kept in the capture
(:attr:`annotator.capture.Capture.dense`) for the dense landmark term.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["MediaPipeDetector", "IBUG_FROM_MESH", "MESH_POINTS", "MEDIAPIPE_VERSION"]

log = logging.getLogger(__name__)

#: the wheel whose bundled models the detector uses (installed by ``make install``)
MEDIAPIPE_VERSION = "0.10.14"
#: points of MediaPipe's refined face mesh: 468 face + 10 iris
MESH_POINTS = 478
#: iBUG-68 point i is mesh point IBUG_FROM_MESH[i] (derivation: the module docstring)
IBUG_FROM_MESH = np.array([
    127, 234, 132, 58, 172, 136, 149, 176, 152, 377, 378, 365, 397, 288, 323, 454, 356,  # 0-16 contour (face oval)
    70, 63, 105, 66, 107, 285, 296, 334, 293, 300,  # 17-26 brows
    168, 197, 195, 4, 75, 97, 2, 326, 305,  # 27-35 nose
    33, 160, 158, 155, 153, 144,  # 36-41 right eye
    362, 385, 386, 263, 373, 380,  # 42-47 left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 91,  # 48-59 outer lips
    78, 82, 13, 312, 415, 317, 14, 87,  # 60-67 inner lips
])


class MediaPipeDetector:
    """MediaPipe face mesh in tracking mode, behind the :class:`annotator.detect.Detector` protocol.

    :meth:`detect` runs the mesh on a frame and returns one box per face found (score 1: the legacy
    solution reports no per-face score); :meth:`landmarks` gives the 68 iBUG points of the face in the
    chosen box and :meth:`dense` its 478 points, ``(x, y, confidence)`` in pixels.

    Args:
        max_faces: faces tracked at once (the track rules pick one).
        min_detection / min_tracking: MediaPipe's detection and tracking confidence thresholds.
        video: tracking mode (each frame seeded by the last); ``False`` treats frames as independent photos.
    """

    name = "mediapipe"
    dense_points = MESH_POINTS

    def __init__(self, max_faces: int = 2, min_detection: float = 0.5, min_tracking: float = 0.5,
                 video: bool = True) -> None:
        if importlib.util.find_spec("mediapipe") is None:
            raise ImportError(f"the mediapipe detector needs mediapipe=={MEDIAPIPE_VERSION} "
                              "(make install, or pip install --no-deps mediapipe==0.10.14 with -e .[face])")
        from mediapipe.python.solutions import face_mesh

        self._settings = dict(static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=True,
                              min_detection_confidence=min_detection, min_tracking_confidence=min_tracking)
        self._face_mesh = face_mesh
        self._mesh = None
        self._fresh = False  # the graph has not processed a frame yet (its start-up notices are due)
        self._last: list[tuple[np.ndarray, np.ndarray]] = []  # (box, points (478, 3)) of the last frame

    def reset(self) -> None:
        """Start a new track (a new video or view): MediaPipe forgets the last frame's faces."""
        with _quiet_native_stderr():
            if self._mesh is not None:
                self._mesh.close()
            self._mesh = self._face_mesh.FaceMesh(**self._settings)
        self._fresh, self._last = True, []

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def detect(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        if self._mesh is None:
            self.reset()
        rgb = np.ascontiguousarray(frame[..., :3] if frame.ndim == 3 else np.repeat(frame[..., None], 3, -1))
        with warnings.catch_warnings(), _quiet_native_stderr(self._fresh):
            # MediaPipe 0.10.14 calls a protobuf API deprecated under it; its C++ side prints start-up notices
            warnings.filterwarnings("ignore", message=".*GetPrototype", category=UserWarning)
            found = self._mesh.process(rgb).multi_face_landmarks or []
        self._fresh = False
        h, w = rgb.shape[:2]
        self._last = []
        for face in found:
            pts = np.array([(p.x * w, p.y * h) for p in face.landmark], np.float64)
            if len(pts) != MESH_POINTS:
                raise RuntimeError(f"MediaPipe returned {len(pts)} mesh points, expected {MESH_POINTS}")
            box = np.concatenate([pts.min(0), pts.max(0)])
            self._last.append((box, np.concatenate([pts, np.ones((MESH_POINTS, 1))], 1)))
        return [(box, 1.0) for box, _ in self._last]

    def dense(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """``(478, 3)``: the mesh of the face in ``box`` (found by the last :meth:`detect` of ``frame``)."""
        for b, pts in self._last:
            if np.array_equal(b, box):
                return pts
        raise ValueError("box is not one the last detect() returned for this frame")

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        return self.dense(frame, box)[IBUG_FROM_MESH]

    def __del__(self) -> None:  # MediaPipe graphs hold threads; close them with the detector
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass



@contextmanager
def _quiet_native_stderr(active: bool = True):
    """Silence what native code writes to the process's stderr (file descriptor 2) inside the block:
    MediaPipe's graph start-up and first-inference notices (TFLite, absl), which no setting turns off."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
