"""Camera rigs of the synthetic domains (pinhole, OpenCV convention, world = FLAME frame).

* ``lab`` (MEAD-like): 7 static calibrated views around the subject at 1 m - front, left_30, left_60,
  right_30, right_60 (left = the subject's left, +x), top and down (30 degrees above / below).
* ``wild`` (VoxCeleb2-like): one hand-held camera - distance 0.45-1.1 m drifting, focal length
  (zoom) drifting, the face off-centre, slow orbit and high-frequency shake.
* ``mocap`` (VOCASET-like): one frontal camera at 0.8 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CameraTrack", "make_rig", "DOMAIN_FPS", "LAB_VIEWS"]

DOMAIN_FPS = {"lab": 30.0, "wild": 25.0, "mocap": 60.0}
LAB_VIEWS = {  # name: (azimuth toward the subject's left in degrees, elevation in degrees)
    "front": (0.0, 0.0), "left_30": (30.0, 0.0), "left_60": (60.0, 0.0), "right_30": (-30.0, 0.0),
    "right_60": (-60.0, 0.0), "top": (0.0, 30.0), "down": (0.0, -30.0),
}
FACE_CENTRE = np.array([0.0, 0.0, 0.03])  # world point the cameras aim at (metres)


@dataclass(frozen=True)
class CameraTrack:
    """One view over time: ``K, R (T, 3, 3)``, ``t (T, 3)`` world -> camera, image ``(width, height)``."""

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``(T, N, 3)`` -> ``(T, N, 3)`` pixels ``u, v`` and depth."""
        pc = np.einsum("tij,tnj->tni", self.R, points) + self.t[:, None]
        uv = np.einsum("tij,tnj->tni", self.K, pc / pc[..., 2:3])
        return np.concatenate([uv[..., :2], pc[..., 2:3]], axis=-1)


def _look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0])) -> tuple[np.ndarray, np.ndarray]:
    z = target - eye
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(-np.broadcast_to(up, z.shape), z)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-2)
    return R, -np.einsum("...ij,...j->...i", R, eye)


def _intrinsics(f: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    K = np.zeros((len(f), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = size[0] / 2, size[1] / 2, 1.0
    return K


def _slow(rng: np.random.Generator, n: int, fps: float, tau: float) -> np.ndarray:
    from annotator.synthetic.motion import _smooth_process

    return _smooth_process(rng, n, fps, tau, 1.0)[:, 0]


def make_rig(domain: str, n_frames: int, rng: np.random.Generator, image_size: int = 512) -> list[CameraTrack]:
    """The cameras of one sequence of ``domain``."""
    size = (image_size, image_size)
    fps = DOMAIN_FPS[domain]
    n = n_frames
    if domain == "lab":
        tracks = []
        for name, (az, el) in LAB_VIEWS.items():
            a, e = np.deg2rad(az), np.deg2rad(el)
            eye = FACE_CENTRE + 1.0 * np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])
            R, t = _look_at(eye, FACE_CENTRE)
            f = np.full(n, 2.2 * image_size)  # the head (~0.25 m) fills about half the frame at 1 m
            tracks.append(CameraTrack(name, _intrinsics(f, size), np.repeat(R[None], n, 0), np.repeat(t[None], n, 0), size))
        return tracks
    if domain == "mocap":
        R, t = _look_at(FACE_CENTRE + np.array([0.0, 0.0, 0.8]), FACE_CENTRE)
        f = np.full(n, 1.8 * image_size)
        return [CameraTrack("front", _intrinsics(f, size), np.repeat(R[None], n, 0), np.repeat(t[None], n, 0), size)]
    if domain == "wild":
        d0 = rng.uniform(0.45, 1.1)
        dist = d0 * (1 + 0.12 * np.tanh(_slow(rng, n, fps, 3.0)))
        face_px = rng.uniform(0.28, 0.5) * image_size  # face height in pixels, drifting with zoom
        f0 = face_px * d0 / 0.2
        f = f0 * (1 + 0.08 * np.tanh(_slow(rng, n, fps, 4.0)))
        az = np.deg2rad(rng.uniform(-15, 15) + 6 * np.tanh(_slow(rng, n, fps, 5.0)))
        el = np.deg2rad(rng.uniform(-10, 10) + 4 * np.tanh(_slow(rng, n, fps, 5.0)))
        eye = FACE_CENTRE + dist[:, None] * np.stack([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)], 1)
        offset = rng.uniform(-0.25, 0.25, 2) * d0 * image_size / f0  # the face is off-centre in the frame
        target = FACE_CENTRE + np.array([offset[0], offset[1], 0.0])
        R, t = _look_at(eye, np.broadcast_to(target, eye.shape))
        # hand-held shake: small fast rotations of the camera
        from scipy.spatial.transform import Rotation

        from annotator.synthetic.motion import _smooth_process

        shake = np.deg2rad(0.35) * _smooth_process(rng, n, fps, 0.08, 1.0, dims=3)
        S = Rotation.from_rotvec(shake).as_matrix()
        R2 = S @ R
        t2 = np.einsum("tij,tj->ti", S, t)
        return [CameraTrack("front", _intrinsics(f, size), R2, t2, size)]
    raise ValueError(f"unknown domain {domain!r}; choose lab, wild or mocap")
