"""A 68-point face detector's errors, applied to projected ground-truth landmarks.

Per frame the face size ``s`` is the square root of the area of the ground-truth landmark box (in
pixels). The model adds, in this order:

* jitter: Gaussian, temporally correlated (AR(1)), std ``jitter * s`` (``contour_jitter * s`` on the 17
  contour points, doubled on self-occluded points);
* contour sliding: the contour points slide along the jawline by ``contour_slide * s * sin(yaw)`` -
  detectors and the model's contour table disagree more as the head turns;
* outliers: with probability ``outlier_rate`` a point jumps by ``outlier_scale * s`` in a random direction;
* confidence: visible points ``U(0.8, 1)``, contour ``U(0.6, 0.9)``, self-occluded ``U(0.1, 0.45)``;
* whole-frame failures: bursts (mean length ``fail_burst`` frames) started with probability
  ``fail_rate`` per frame, and always when the head is turned beyond ``max_yaw_deg`` from the camera
  or the face leaves the image. Failed frames have NaN landmarks, confidence 0 and ``valid = False``.

The intended NME of the detections against the ground truth follows from these parameters; see
:func:`expected_nme`. A dense detector's points (MediaPipe's mesh, :func:`detect_dense`) get the same model
as the inner 68 points - jitter, outliers, confidence - and the frames the 68-point detection lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectorNoise", "NOISE", "detect", "detect_dense", "expected_nme"]


@dataclass(frozen=True)
class DetectorNoise:
    """Parameters of the detector model (fractions of the face size unless stated)."""

    jitter: float = 0.008
    contour_jitter: float = 0.016
    temporal_corr: float = 0.3
    contour_slide: float = 0.03
    outlier_rate: float = 0.003
    outlier_scale: float = 0.08
    fail_rate: float = 0.005
    fail_burst: float = 4.0
    max_yaw_deg: float = 75.0


NOISE = {
    "lab": DetectorNoise(fail_rate=0.003),
    "mocap": DetectorNoise(jitter=0.006, contour_jitter=0.012, fail_rate=0.0),
    "wild": DetectorNoise(jitter=0.010, contour_jitter=0.02, outlier_rate=0.006, fail_rate=0.01),
}


def _face_size(gt: np.ndarray) -> np.ndarray:
    span = np.nanmax(gt, axis=-2) - np.nanmin(gt, axis=-2)
    return np.sqrt(np.maximum(span[..., 0] * span[..., 1], 1e-6))


def detect(gt_px: np.ndarray, occluded: np.ndarray, yaw: np.ndarray, image_size: tuple[int, int],
           rng: np.random.Generator, noise: DetectorNoise) -> tuple[np.ndarray, np.ndarray]:
    """Noisy detections of one view.

    Args:
        gt_px: ``(T, 68, 2)`` true landmark projections in pixels.
        occluded: ``(T, 68)`` bool, self-occluded points.
        yaw: ``(T,)`` head yaw relative to the camera, radians.

    Returns:
        landmarks ``(T, 68, 3)`` (x, y, confidence) and valid ``(T,)``.
    """
    t_len = gt_px.shape[0]
    s = _face_size(gt_px)[:, None, None]  # (T, 1, 1)
    std = np.full((68,), noise.jitter)
    std[:17] = noise.contour_jitter
    std = std[None] * np.where(occluded, 2.0, 1.0)  # (T, 68)
    out = gt_px + _jitter(rng, (t_len, 68), noise.temporal_corr) * std[..., None] * s
    # contour sliding along the jawline tangent
    contour = gt_px[:, :17]
    tangent = np.gradient(contour, axis=1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=-1, keepdims=True), 1e-9)
    out[:, :17] += noise.contour_slide * s * np.sin(yaw)[:, None, None] * tangent
    out += _outliers(rng, (t_len, 68), noise, s)
    conf = rng.uniform(0.8, 1.0, (t_len, 68))
    conf[:, :17] = rng.uniform(0.6, 0.9, (t_len, 17))
    conf = np.where(occluded, rng.uniform(0.1, 0.45, (t_len, 68)), conf)
    # whole-frame failures
    valid = np.ones(t_len, dtype=bool)
    t = 0
    while t < t_len:
        if rng.random() < noise.fail_rate:
            length = 1 + rng.geometric(1 / noise.fail_burst)
            valid[t:t + length] = False
            t += length
        else:
            t += 1
    valid &= np.abs(np.rad2deg(yaw)) <= noise.max_yaw_deg
    w, h = image_size
    inside = (gt_px[..., 0] >= 0) & (gt_px[..., 0] < w) & (gt_px[..., 1] >= 0) & (gt_px[..., 1] < h)
    valid &= inside.mean(-1) > 0.7
    lm = np.concatenate([out, conf[..., None]], axis=-1)
    lm[~valid, :, :2] = np.nan
    lm[~valid, :, 2] = 0.0
    return lm, valid


def _jitter(rng: np.random.Generator, shape: tuple[int, int], corr: float) -> np.ndarray:
    """``(T, K, 2)`` unit Gaussian errors, AR(1) in time with correlation ``corr``."""
    e = rng.standard_normal((*shape, 2))
    for t in range(1, shape[0]):
        e[t] = corr * e[t - 1] + np.sqrt(1 - corr ** 2) * e[t]
    return e


def _outliers(rng: np.random.Generator, shape: tuple[int, int], noise: DetectorNoise, s: np.ndarray) -> np.ndarray:
    """``(T, K, 2)`` outlier jumps in pixels (zero for most points); ``s (T, 1, 1)`` the face size."""
    hit = rng.random(shape) < noise.outlier_rate
    ang = rng.uniform(0, 2 * np.pi, shape)
    return hit[..., None] * noise.outlier_scale * s * np.stack([np.cos(ang), np.sin(ang)], -1)


def detect_dense(gt_px: np.ndarray, occluded: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
                 noise: DetectorNoise) -> np.ndarray:
    """Noisy dense points of one view from the detector whose 68-point output lost the frames where
    ``valid (T,)`` is false (face size: the box of the true dense points).

    Args:
        gt_px: ``(T, K, 2)`` true projections of the dense points in pixels.
        occluded: ``(T, K)`` bool, self-occluded points (double jitter, low confidence).

    Returns:
        ``(T, K, 3)`` x, y, confidence; NaN and 0 on frames without a face.
    """
    t_len, k = gt_px.shape[:2]
    s = _face_size(gt_px)[:, None, None]
    std = noise.jitter * np.where(occluded, 2.0, 1.0)
    out = gt_px + _jitter(rng, (t_len, k), noise.temporal_corr) * std[..., None] * s + _outliers(rng, (t_len, k), noise, s)
    conf = np.where(occluded, rng.uniform(0.1, 0.45, (t_len, k)), rng.uniform(0.8, 1.0, (t_len, k)))
    pts = np.concatenate([out, conf[..., None]], -1)
    pts[~valid, :, :2] = np.nan
    pts[~valid, :, 2] = 0.0
    return pts


def expected_nme(gt_px: np.ndarray, occluded: np.ndarray, noise: DetectorNoise) -> float:
    """The NME (%, 68 points, outer inter-ocular normalization) the jitter alone should produce:
    ``E|e| = sigma sqrt(pi / 2)`` for 2D Gaussian errors, averaged over points and frames.
    Sliding and outliers add a little on top."""
    s = _face_size(gt_px)
    d = np.linalg.norm(gt_px[:, 36] - gt_px[:, 45], axis=-1)
    std = np.full((68,), noise.jitter)
    std[:17] = noise.contour_jitter
    std = std[None] * np.where(occluded, 2.0, 1.0)
    per_frame = (std * np.sqrt(np.pi / 2)).mean(-1) * s / d * 100
    return float(np.mean(per_frame))
