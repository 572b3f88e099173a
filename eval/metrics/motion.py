"""Metrics of generated facial motion: FD, APD and long-horizon health (numpy, float64).

Conventions (see ``research/metrics.md`` §5, §6, §8):

* **FD** - Fréchet distance between Gaussian fits of *pooled per-frame* features of real and generated
  motion: ``|mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``, covariances with ``N - 1``. Features:
  ``expression`` (the FLAME expression), ``pose`` (axis-angle head rotation + jaw, 6, radians, as
  Learning2Listen's raw DECA pose) and ``state`` (the whole state, Euclidean channels z-scored with the
  *real* set's statistics). The trace of the square root is computed as ``Tr((A^½ B A^½)^½)`` from
  symmetric eigendecompositions (eigenvalues clipped at 0), which is exact for PSD matrices and needs
  no complex ``sqrtm``.
* **APD** - K samples from one start state (the start frame excluded). ``apd_mean``: mean over the
  ``K(K-1)/2`` pairs, frames and landmarks of the per-landmark distance (cm; NeuFace's wording).
  ``apd_flat``: mean over pairs of the L2 norm of the flattened sequence difference (DLow's ``pdist``;
  grows with ``sqrt(3 T L)``). Both in the world (camera-aligned FLAME) frame and head-canonical
  (each frame's head rotation removed about the landmark centroid).
* **Health** of long rollouts against real clips: non-finite samples, explosion (largest |z-score|),
  freeze rate (1-second windows whose mean landmark speed falls below the real 5th percentile),
  generated/real variance ratio, out-of-range frames (a landmark coordinate outside the real min/max),
  drift (|mean_gen - mean_real| / std_real of the landmarks over the last second, averaged over
  channels), smoothness (generated/real ratios of the mean landmark speed and acceleration, world
  frame: a prior that stays in range by shaking scores an acceleration ratio far above 1) and the
  rotation orthonormality error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["StateLayout", "frechet_distance", "fd_features", "apd", "head_canonical_landmarks", "motion_health",
           "FD_VARIANTS"]

FD_VARIANTS = ("expression", "pose", "state")


class StateLayout(Protocol):
    """What the metrics need to know of a state layout (``motionprior.state.StateSpec`` is one):
    ``dim``, ``n_exp``, ``slices`` (part -> slice of the state; ``root_orient``, ``jaw`` as flattened
    3x3 matrices, ``landmarks`` as flattened ``(68, 3)`` cm), the ``rotations`` part names, and
    ``euclidean_mask()`` (``(dim,)`` bool: everything but rotation matrices)."""

    dim: int
    n_exp: int
    slices: Mapping[str, slice]
    rotations: Sequence[str]

    def euclidean_mask(self) -> Any: ...


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """FD between Gaussian fits of feature sets ``real (N, D)`` and ``generated (M, D)`` (float64)."""
    a = np.asarray(real, np.float64)
    b = np.asarray(generated, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"FD needs (N, D) and (M, D) features, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FD needs at least 2 samples per set")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("FD of non-finite features (a rollout diverged?); check motion_health first")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    r = _sqrt_psd(s_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s_b @ r), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * cross)


def _axis_angle(rot: np.ndarray) -> np.ndarray:
    """``(..., 3)`` axis-angle of rotation matrices ``(..., 3, 3)``."""
    rot = np.asarray(rot, np.float64)
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(*rot.shape[:-2], 3)


def fd_features(states: np.ndarray, spec: StateLayout, variant: str, real_mean: np.ndarray | None = None,
                real_std: np.ndarray | None = None) -> np.ndarray:
    """Per-frame FD features ``(N, D)`` of states ``(..., dim)`` (leading dims pooled).

    ``state`` needs the real set's per-channel ``real_mean`` / ``real_std`` (rotation channels are used
    as they are)."""
    x = np.asarray(states, np.float64).reshape(-1, spec.dim)
    if variant == "expression":
        if not spec.n_exp:
            raise ValueError("FD_expression needs a state with expression (n_exp > 0)")
        return x[:, spec.slices["expression"]]
    if variant == "pose":
        return np.concatenate([_axis_angle(x[:, spec.slices[k]].reshape(-1, 3, 3)) for k in ("root_orient", "jaw")], 1)
    if variant == "state":
        if real_mean is None or real_std is None:
            raise ValueError("FD_state needs the real set's real_mean and real_std")
        mask = np.asarray(spec.euclidean_mask(), bool)
        z = (x - real_mean) / np.maximum(real_std, 1e-8)
        return np.where(mask, z, x)
    raise ValueError(f"FD variant must be one of {FD_VARIANTS}, got {variant!r}")


def head_canonical_landmarks(states: np.ndarray, spec: StateLayout) -> np.ndarray:
    """``(..., 68, 3)`` cm: landmarks with each frame's head rotation removed about their centroid."""
    x = np.asarray(states, np.float64)
    lm = x[..., spec.slices["landmarks"]].reshape(*x.shape[:-1], -1, 3)
    rot = x[..., spec.slices["root_orient"]].reshape(*x.shape[:-1], 3, 3)
    centred = lm - lm.mean(-2, keepdims=True)
    return np.einsum("...ji,...lj->...li", rot, centred)  # R^T p


def apd(landmarks: np.ndarray) -> dict[str, float]:
    """APD of ``K`` samples ``(K, T, L, 3)`` (cm; drop the shared start frame before calling).

    Returns ``{"apd_mean": ..., "apd_flat": ...}`` (see the module docstring); 0 for ``K < 2``.
    """
    x = np.asarray(landmarks, np.float64)
    k = x.shape[0]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"APD needs (K, T, L, 3) landmarks, got {x.shape}")
    if k < 2:
        return {"apd_mean": 0.0, "apd_flat": 0.0}
    i, j = np.triu_indices(k, 1)
    per_point, flat = 0.0, 0.0
    for a, b in zip(i, j):  # pairs one at a time: K = 50 x 300 frames stays small in memory
        d = x[a] - x[b]
        per_point += np.linalg.norm(d, axis=-1).mean()
        flat += np.sqrt((d ** 2).sum())
    n = len(i)
    return {"apd_mean": float(per_point / n), "apd_flat": float(flat / n)}


def _window_speed(lm: np.ndarray, fps: float, window: int) -> np.ndarray:
    """Mean landmark speed (cm/s) of consecutive ``window``-frame windows of ``lm (T, L, 3)``."""
    speed = np.linalg.norm(np.diff(lm, axis=0), axis=-1).mean(-1) * fps  # (T-1,)
    n = len(speed) // window
    return speed[:n * window].reshape(n, window).mean(1) if n else np.zeros(0)


def _speed_acceleration(lm: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean landmark speed (cm/s) and acceleration (cm/s^2) of ``lm (..., T, L, 3)``, flattened."""
    v = np.diff(lm, axis=-3) * fps
    a = np.diff(v, axis=-3) * fps
    return np.linalg.norm(v, axis=-1).mean(-1).ravel(), np.linalg.norm(a, axis=-1).mean(-1).ravel()


def motion_health(generated: np.ndarray, real: list[np.ndarray], spec: StateLayout, fps: float,
                  explode_z: float = 50.0) -> dict[str, float]:
    """Long-horizon health of generated states ``(N, T, dim)`` against real clips ``[(T_i, dim)]``, both
    at ``fps`` (the windows of the freeze rate are one second long).

    Landmarks are taken head-canonical for freeze / variance / range / drift, so that a head that
    only turns is not counted as moving face (and head pose has its own FD). Returns a flat dict (see
    the module docstring); ``nonfinite_fraction`` is the fraction of samples with any NaN / inf (the
    other numbers use the finite samples only).
    """
    gen = np.asarray(generated, np.float64)
    finite = np.isfinite(gen).all(axis=(1, 2))
    out: dict[str, float] = {"nonfinite_fraction": float(1.0 - finite.mean())}
    gen = gen[finite]
    real_x = np.concatenate([np.asarray(r, np.float64) for r in real])
    mask = np.asarray(spec.euclidean_mask(), bool)
    mean, std = real_x.mean(0), np.maximum(real_x.std(0), 1e-8)
    if not len(gen):
        return out | {k: float("nan") for k in ("max_abs_z", "exploded", "freeze_rate", "variance_ratio",
                                                "out_of_range", "drift_z", "speed_ratio",
                                                "acceleration_ratio", "rotation_error")}
    z = np.abs((gen - mean) / std)[..., mask]
    out["max_abs_z"] = float(z.max())
    out["exploded"] = float((z.max(axis=(1, 2)) > explode_z).mean())
    window = int(round(fps))
    real_speed = np.concatenate([_window_speed(head_canonical_landmarks(r, spec), fps, window) for r in real])
    gen_lm = head_canonical_landmarks(gen, spec)
    gen_speed = np.concatenate([_window_speed(g, fps, window) for g in gen_lm])
    out["freeze_rate"] = float((gen_speed < np.percentile(real_speed, 5)).mean()) if len(gen_speed) and len(real_speed) else float("nan")
    real_lm = head_canonical_landmarks(real_x, spec).reshape(len(real_x), -1)
    g = gen_lm.reshape(-1, real_lm.shape[1])
    out["variance_ratio"] = float((g.var(0) / np.maximum(real_lm.var(0), 1e-12)).mean())
    world = gen[..., spec.slices["landmarks"]].reshape(-1, real_lm.shape[1])
    lo, hi = real_x[:, spec.slices["landmarks"]].min(0), real_x[:, spec.slices["landmarks"]].max(0)
    out["out_of_range"] = float(((world < lo) | (world > hi)).any(-1).mean())
    last = gen_lm[:, -window:].reshape(-1, real_lm.shape[1])
    out["drift_z"] = float((np.abs(last.mean(0) - real_lm.mean(0)) / np.maximum(real_lm.std(0), 1e-8)).mean())
    n = len(real_lm[0]) // 3
    real_va = [_speed_acceleration(np.asarray(r, np.float64)[:, spec.slices["landmarks"]].reshape(len(r), n, 3), fps)
               for r in real if len(r) >= 3]
    gen_v, gen_a = _speed_acceleration(gen[..., spec.slices["landmarks"]].reshape(*gen.shape[:2], n, 3), fps)
    out["speed_ratio"] = float(gen_v.mean() / max(np.concatenate([v for v, _ in real_va]).mean(), 1e-12))
    out["acceleration_ratio"] = float(gen_a.mean() / max(np.concatenate([a for _, a in real_va]).mean(), 1e-12))
    rot_err = 0.0
    for part in spec.rotations:
        r = gen[..., spec.slices[part]].reshape(-1, 3, 3)
        rot_err = max(rot_err, float(np.abs(np.einsum("nij,nkj->nik", r, r) - np.eye(3)).max()))
    out["rotation_error"] = rot_err
    return out
