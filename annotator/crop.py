"""DECA-style crops: landmarks -> crop transform and crop-NDC landmarks; image warping to the crop."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from flame.camera import CROP_SIZE, crop_transform_from_landmarks, invert_transform, pixels_to_ndc, transform_points

__all__ = ["normalize_landmarks", "interpolate_invalid", "warp_to_crop", "CROP_SIZE"]


def normalize_landmarks(landmarks: Tensor, crop_size: int = CROP_SIZE) -> tuple[Tensor, Tensor]:
    """Crop transform from the landmark box (DECA: x1.1, x1.25) and the landmarks in crop NDC.

    Args:
        landmarks: ``(..., 68, 2+)`` image pixels; must be finite (interpolate missing frames first).

    Returns:
        ``tform (..., 3, 3)`` image -> crop pixels, and ``ndc (..., 68, 2)`` in [-1, 1]-ish.
    """
    xy = landmarks[..., :2]
    tform = crop_transform_from_landmarks(xy, crop_size=crop_size)
    return tform, pixels_to_ndc(transform_points(tform, xy), crop_size)


def interpolate_invalid(landmarks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill frames without a detection by linear interpolation in time of each coordinate (nearest
    valid frame at the ends); their confidence stays 0. ``landmarks (V, T, 68, 3)``, ``valid (V, T)``.

    Raises ``ValueError`` if a view has no valid frame at all."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    t = np.arange(out.shape[1])
    for v in range(out.shape[0]):
        ok = np.asarray(valid[v], dtype=bool) & np.isfinite(out[v, :, :, :2]).all(axis=(1, 2))
        if not ok.any():
            raise ValueError(f"view {v} has no frame with a detected face")
        if ok.all():
            continue
        for k in range(68):
            for c in range(2):
                out[v, ~ok, k, c] = np.interp(t[~ok], t[ok], out[v, ok, k, c])
        out[v, ~ok, :, 2] = 0.0
    return out


def warp_to_crop(image: np.ndarray, tform: np.ndarray, crop_size: int = CROP_SIZE) -> Tensor:
    """Bilinear warp of ``image (H, W, 3)`` uint8 into the crop: ``(3, size, size)`` float RGB in [0, 1]
    (DECA's encoder input)."""
    h, w = image.shape[:2]
    inv = invert_transform(torch.as_tensor(tform, dtype=torch.float64))
    ys, xs = torch.meshgrid(torch.arange(crop_size, dtype=torch.float64), torch.arange(crop_size, dtype=torch.float64),
                            indexing="ij")
    src = transform_points(inv, torch.stack([xs, ys], -1).reshape(-1, 2)).reshape(crop_size, crop_size, 2)
    grid = torch.stack([src[..., 0] / (w - 1) * 2 - 1, src[..., 1] / (h - 1) * 2 - 1], -1).float()
    img = torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] / 255.0
    return torch.nn.functional.grid_sample(img, grid[None], mode="bilinear", padding_mode="zeros",
                                           align_corners=True)[0]
