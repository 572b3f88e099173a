"""Fidelity of an annotation in the parameters a motion model learns: head rotation, jaw and expression
against the ground truth (numpy / scipy, float64).

Inputs are one sequence's FLAME parameters per view: ``pose (V, T, 15)`` axis-angle [global | neck | jaw |
eyes] in the camera-aligned FLAME frame (radians) and ``expression (V, T, E)`` coefficients, prediction
and truth with the same views and frames (all frames count: those without a detection too). Errors are
averaged over frames and views; statistics of a motion (magnitude, speed, spectrum) are taken per view
and averaged over views, so a 7-view capture scores like one motion seen seven times.

* ``head_err_deg``: mean geodesic angle between predicted and true head rotations. It splits into
  ``head_const_deg``, the angle of the sequence's constant offset ``C`` (the chordal mean of the
  per-frame offsets ``R_pred R_true^T``, i.e. an error of the camera frame: a tilt the whole sequence
  shares) and ``head_resid_deg``, the mean angle left once it is removed (``C R_true`` vs ``R_pred``).
  A constant offset moves only ``head_const_deg``; the two do not add up exactly (angles are not
  additive), but each is zero when its kind of error is absent.
* ``jaw_err_deg``: mean geodesic angle between jaw rotations.
* ``expr_rmse``: root mean square of the coefficient differences (over the leading components both
  have; a missing component counts as zero).
* ``expr_norm`` / ``expr_norm_true``: mean L2 norm of the expression vector per frame;
  ``expr_ratio``: their ratio (1 is the truth's magnitude; a model trained on inflated expressions
  inflates them).
* ``jaw_speed_deg_s`` / ``..._true``: mean angular speed of the jaw (the rotation between consecutive
  frames, deg/s); ``jaw_speed_ratio``: their ratio.
* ``jaw_band`` / ``jaw_band_true``: share of the jaw opening's power (rotation about x) in the speech
  syllable band :data:`JAW_BAND` (Welch spectrum of :func:`eval.metrics.motion.spectrum`);
  ``jaw_band_ratio``: their ratio.
* ``jaw_offaxis_deg`` / ``..._true``: mean magnitude of the jaw rotation's y and z axis-angle components
  (lateral shift and twist; an anatomical jaw mostly opens about x).

Ratios of a set of sequences are ratios of the set's means (:func:`pool_fidelity`), never means of
per-sequence ratios: a sequence with a still jaw would otherwise dominate the jaw-speed ratio.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from eval.metrics.motion import angular_speed, band_shares, rotation_angle_deg, spectrum

__all__ = ["FIDELITY_COLUMNS", "JAW_BAND", "RATIOS", "parameter_fidelity", "pool_fidelity", "head_offset", "jaw_offaxis_deg"]

#: the speech syllable band of the jaw opening (Hz), as in the motion spectra's bands
JAW_BAND = "3-6Hz"
#: ratio column -> (numerator column, denominator column)
RATIOS = {"expr_ratio": ("expr_norm", "expr_norm_true"),
          "jaw_speed_ratio": ("jaw_speed_deg_s", "jaw_speed_true_deg_s"),
          "jaw_band_ratio": ("jaw_band", "jaw_band_true")}
FIDELITY_COLUMNS = ["head_err_deg", "head_const_deg", "head_resid_deg", "jaw_err_deg", "expr_rmse", "expr_norm",
                    "expr_norm_true", "expr_ratio", "jaw_speed_deg_s", "jaw_speed_true_deg_s", "jaw_speed_ratio",
                    "jaw_band", "jaw_band_true", "jaw_band_ratio", "jaw_offaxis_deg", "jaw_offaxis_true_deg"]
_HEAD, _JAW = slice(0, 3), slice(6, 9)


def jaw_offaxis_deg(pose: np.ndarray) -> float:
    """Mean magnitude (deg) of the jaw's y and z axis-angle components of FLAME poses ``(..., 15)``."""
    return float(np.degrees(np.linalg.norm(np.asarray(pose, np.float64)[..., 7:9], axis=-1)).mean())


def head_offset(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The constant offset of one view's head rotations ``(T, 3)`` axis-angle and what is left:
    ``(C (3, 3), residual angles (T,) deg)`` with ``C`` the chordal mean of ``R_pred R_true^T``."""
    offsets = Rotation.from_rotvec(pred) * Rotation.from_rotvec(true).inv()
    c = offsets.mean()
    residual = (c * Rotation.from_rotvec(true)).inv() * Rotation.from_rotvec(pred)
    return c.as_matrix(), np.degrees(residual.magnitude())


def _pad(e: np.ndarray, n: int) -> np.ndarray:
    return np.pad(e, [(0, 0)] * (e.ndim - 1) + [(0, n - e.shape[-1])])


def parameter_fidelity(pred_pose: np.ndarray, true_pose: np.ndarray, pred_expression: np.ndarray,
                       true_expression: np.ndarray, fps: float) -> dict[str, float]:
    """The columns of :data:`FIDELITY_COLUMNS` for one sequence (see the module docstring).

    Args:
        pred_pose, true_pose: ``(V, T, 15)`` radians.
        pred_expression, true_expression: ``(V, T, E_pred)``, ``(V, T, E_true)``.
        fps: frame rate of both.
    """
    pp, tp = np.asarray(pred_pose, np.float64), np.asarray(true_pose, np.float64)
    if pp.shape != tp.shape or pp.ndim != 3 or pp.shape[-1] != 15:
        raise ValueError(f"poses must both be (V, T, 15), got {pp.shape} and {tp.shape}")
    n_exp = max(pred_expression.shape[-1], true_expression.shape[-1])
    pe, te = _pad(np.asarray(pred_expression, np.float64), n_exp), _pad(np.asarray(true_expression, np.float64), n_exp)
    if pe.shape[:2] != pp.shape[:2] or te.shape[:2] != pp.shape[:2]:
        raise ValueError(f"expressions {pe.shape[:2]} / {te.shape[:2]} do not match the poses' views and frames {pp.shape[:2]}")
    views = range(pp.shape[0])
    const, resid = [], []
    for v in views:
        c, r = head_offset(pp[v, :, _HEAD], tp[v, :, _HEAD])
        const.append(np.degrees(Rotation.from_matrix(c).magnitude()))
        resid.append(r.mean())
    row = {
        "head_err_deg": float(rotation_angle_deg(pp[..., _HEAD], tp[..., _HEAD]).mean()),  # every view has T frames
        "head_const_deg": float(np.mean(const)),
        "head_resid_deg": float(np.mean(resid)),
        "jaw_err_deg": float(rotation_angle_deg(pp[..., _JAW], tp[..., _JAW]).mean()),
        "expr_rmse": float(np.sqrt(((pe - te) ** 2).mean())),
        "expr_norm": float(np.linalg.norm(pe, axis=-1).mean()),
        "expr_norm_true": float(np.linalg.norm(te, axis=-1).mean()),
        "jaw_offaxis_deg": jaw_offaxis_deg(pp),
        "jaw_offaxis_true_deg": jaw_offaxis_deg(tp),
    }
    for suffix, pose in (("", pp), ("_true", tp)):
        row[f"jaw_speed{suffix}_deg_s"] = float(np.mean([angular_speed(pose[v, :, _JAW], fps).mean() for v in views]))
        freqs, power = spectrum([pose[v, :, 6] for v in views], fps)
        row[f"jaw_band{suffix}"] = band_shares(freqs, power)[JAW_BAND]
    return _with_ratios(row)


def _with_ratios(row: dict) -> dict:
    for ratio, (num, den) in RATIOS.items():
        a, b = row.get(num, np.nan), row.get(den, np.nan)
        row[ratio] = float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")
    return {k: row[k] for k in FIDELITY_COLUMNS} | {k: v for k, v in row.items() if k not in FIDELITY_COLUMNS}


def pool_fidelity(rows: list[dict]) -> dict[str, float]:
    """The fidelity columns of a set of sequences: means of the per-sequence values (NaN ignored), and
    the ratios recomputed from the pooled means (see the module docstring)."""
    out = {}
    for k in FIDELITY_COLUMNS:
        if k in RATIOS:
            continue
        values = np.array([r.get(k, np.nan) for r in rows], np.float64)
        out[k] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return _with_ratios(out)
