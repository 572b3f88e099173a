"""Temporal stability of 3D point tracks: MSI3D and jitter."""

from __future__ import annotations

from torch import Tensor

__all__ = ["acceleration", "msi3d", "jitter", "REFERENCE_FPS"]

#: Accelerations are expressed per (1/30 s)^2 so MSI3D is comparable across frame rates.
REFERENCE_FPS = 30.0


def acceleration(points: Tensor, fps: float) -> Tensor:
    """Second differences ``x[t+1] - 2 x[t] + x[t-1]`` of ``points (..., T, N, 3)``, rescaled to a
    30 fps frame step: ``(..., T-2, N, 3)`` in (input units) per (1/30 s)^2."""
    a = points[..., 2:, :, :] - 2 * points[..., 1:-1, :, :] + points[..., :-2, :, :]
    return a * (REFERENCE_FPS / fps) ** 2


def msi3d(points_mm: Tensor, fps: float, window: int | None = None, eps: float = 0.0) -> Tensor:
    """Motion stability index (NeuFace's MSI3D): higher is more stable.

    ``MSI3D = mean_i 1 / (sigma_i + eps)``, where for each point ``i`` (a landmark for MSI_L, a
    vertex for MSI_V) ``sigma_i`` is the temporal variance of its 3D acceleration, computed per axis
    and averaged over x, y, z.

    Conventions (the paper does not state them; these are ours):
        * units: positions in **millimetres**, accelerations per (1/30 s)^2 whatever the input fps
          (see :func:`acceleration`), so values are comparable across 25 / 30 / 60 fps data;
        * window: the whole sequence by default; with ``window=w`` the variance is taken over
          consecutive non-overlapping windows of ``w`` accelerations and averaged;
        * ``eps`` guards static points (default 0, as in the paper's formula).

    Args:
        points_mm: ``(T, N, 3)`` point tracks in mm (T >= 4).
        fps: frame rate of the tracks.

    Returns:
        Scalar tensor.
    """
    a = acceleration(points_mm, fps)  # (T-2, N, 3)
    if window is None:
        var = a.var(dim=0, unbiased=False).mean(-1)  # (N,)
    else:
        n_win = a.shape[0] // window
        if n_win < 1:
            raise ValueError(f"window={window} is longer than the {a.shape[0]} accelerations")
        w = a[: n_win * window].reshape(n_win, window, *a.shape[1:])
        var = w.var(dim=1, unbiased=False).mean(-1).mean(0)
    return (1.0 / (var + eps)).mean()


def jitter(points_mm: Tensor, fps: float) -> Tensor:
    """Mean magnitude of the third difference (jerk) of ``points_mm (T, N, 3)``, in **mm/s^3**:
    ``mean_{t,i} || x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t] || * fps^3``."""
    j = points_mm[3:] - 3 * points_mm[2:-1] + 3 * points_mm[1:-2] - points_mm[:-3]
    return j.norm(dim=-1).mean() * fps ** 3
