"""Expression directions for any FLAME-layout model, found from landmark targets.

The stand-in's leading components are named, real FLAME's are not; so emotion prototypes, visemes
and the blink are defined by how they move the 51 static landmarks (in mm, in the canonical head
frame) and solved for in the model's expression space by ridge regression. On the stand-in the
solutions use its semantic components; on FLAME they find the equivalent combinations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flame.embedding import LandmarkEmbedding
from flame.model import FlameModelData

__all__ = ["ExpressionDirections", "solve_directions", "EMOTIONS", "INTENSITY"]

#: MEAD's emotions; "neutral" is the zero vector.
EMOTIONS = ("neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
#: MEAD's three intensity levels as fractions of the prototype.
INTENSITY = {1: 0.4, 2: 0.7, 3: 1.0}

# Landmark displacement targets in mm, (dx, dy, dz) in the FLAME frame, given for the subject's
# LEFT side (+x) and mirrored to the right; "both" applies to mid-line points.
_LEFT_RIGHT = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 31: 35, 32: 34, 36: 45, 37: 44, 38: 43, 39: 42, 40: 47,
               41: 46, 48: 54, 49: 53, 50: 52, 55: 59, 56: 58, 60: 64, 61: 63, 65: 67}
_RIGHT_OF = {v: k for k, v in _LEFT_RIGHT.items()}


def _sym(left: dict[int, tuple[float, float, float]]) -> dict[int, tuple[float, float, float]]:
    """Mirror targets given on the left (+x) side; mid-line points are kept."""
    out = dict(left)
    for idx, (dx, dy, dz) in left.items():
        if idx in _RIGHT_OF:
            out[_RIGHT_OF[idx]] = (-dx, dy, dz)
    return out


_TARGETS: dict[str, dict[int, tuple[float, float, float]]] = {
    "happy": _sym({54: (3.0, 4.0, -1.5), 53: (1.0, 2.0, -0.5), 55: (1.0, 1.5, -0.5), 51: (0, 1.0, 0),
                   46: (0, 1.0, 0), 47: (0, 1.0, 0)}),
    "sad": _sym({22: (-1.0, 3.0, 0), 23: (0, 1.5, 0), 26: (0, -1.0, 0), 54: (0.5, -3.0, 0), 55: (0, -1.0, 0)}),
    "surprised": _sym({22: (0, 4.5, 0), 23: (0, 5.0, 0), 24: (0, 5.0, 0), 25: (0, 4.5, 0), 26: (0, 3.5, 0),
                       43: (0, 1.5, 0), 44: (0, 1.5, 0), 56: (0, -2.0, 0), 57: (0, -2.5, 0), 66: (0, -2.5, 0),
                       65: (0, -2.0, 0)}),
    "angry": _sym({22: (-2.0, -3.0, 0.5), 23: (-1.0, -2.0, 0.5), 43: (0, -1.0, 0), 44: (0, -1.0, 0),
                   54: (-1.0, -0.5, 0), 51: (0, -0.5, 0), 57: (0, 0.5, 0)}),
    "disgusted": _sym({50: (0, 3.0, 0.5), 51: (0, 2.5, 0.5), 52: (0, 3.0, 0.5), 35: (0, 1.5, 0), 34: (0, 1.0, 0),
                       22: (-1.0, -2.0, 0), 46: (0, 1.0, 0), 47: (0, 1.0, 0)}),
    "fear": _sym({22: (-1.5, 3.0, 0), 23: (-0.5, 2.5, 0), 24: (0, 2.0, 0), 43: (0, 2.0, 0), 44: (0, 2.0, 0),
                  54: (3.0, -1.0, -1.0), 55: (1.0, -1.0, 0)}),
    "contempt": {54: (2.0, 3.0, -1.0), 53: (1.0, 1.5, -0.5), 55: (0.5, 1.0, 0)},
    # visemes for speech: lip rounding and spreading
    "round": _sym({54: (-3.0, 0, 1.5), 53: (-1.0, 0, 1.5), 51: (0, 0, 2.0), 57: (0, 0, 2.0),
                   55: (-1.0, 0, 1.5)}),
    "spread": _sym({54: (3.0, 0.5, -1.5), 53: (1.0, 0.5, -0.5), 55: (1.0, 0, -0.5)}),
}


@dataclass(frozen=True)
class ExpressionDirections:
    """Expression-space vectors ``(n_exp,)`` of the model in use.

    Attributes:
        emotions: emotion name -> full-intensity prototype.
        visemes: ``{"round": ..., "spread": ...}`` lip shapes for speech.
        blink: the vector that closes the eyelids (upper lid 70 % of the way to the lower lid).
        fit_error_mm: name -> RMS landmark error of the solved direction against its targets.
    """

    emotions: dict[str, np.ndarray]
    visemes: dict[str, np.ndarray]
    blink: np.ndarray
    fit_error_mm: dict[str, float]


def _static_landmark_operator(model: FlameModelData, emb: LandmarkEmbedding, n_exp: int) -> tuple[np.ndarray, np.ndarray]:
    """Neutral static landmarks ``(51, 3)`` mm and their linear map from expression ``(51*3, n_exp)`` mm."""
    tri = model.faces[emb.static_faces]  # (51, 3)
    rest = np.einsum("lk,lkc->lc", emb.static_bary, model.v_template[tri]) * 1000
    op = np.einsum("lk,lkce->lce", emb.static_bary, model.exprdirs[tri][..., :n_exp]) * 1000
    return rest, op.reshape(-1, n_exp)


def _solve(op: np.ndarray, targets: dict[int, tuple[float, float, float]], ridge: float) -> tuple[np.ndarray, float]:
    d = np.zeros((51, 3))
    w = np.full((51, 3), 0.3)  # other points: stay put (soft)
    for idx, disp in targets.items():
        d[idx - 17] = disp
        w[idx - 17] = 1.0
    wr = np.sqrt(w).ravel()
    a = op * wr[:, None]
    b = d.ravel() * wr
    x = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ b)
    rms = float(np.sqrt(np.mean([(op[3 * (i - 17): 3 * (i - 17) + 3] @ x - np.asarray(v)) ** 2
                                 for i, v in targets.items()])))
    return x, rms


def solve_directions(model: FlameModelData, emb: LandmarkEmbedding, n_exp: int, ridge: float = 1.0) -> ExpressionDirections:
    """Solve the emotion prototypes, visemes and blink in the first ``n_exp`` components."""
    rest, op = _static_landmark_operator(model, emb, n_exp)
    errors: dict[str, float] = {}
    emotions = {"neutral": np.zeros(n_exp)}
    for name in EMOTIONS[1:]:
        emotions[name], errors[name] = _solve(op, _TARGETS[name], ridge)
    visemes = {}
    for name in ("round", "spread"):
        visemes[name], errors[name] = _solve(op, _TARGETS[name], ridge)
    # blink: upper lids (37, 38, 43, 44) 70 % of the way down to the lower lids (41, 40, 47, 46)
    target = {}
    for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46)):
        gap = rest[lo - 17] - rest[up - 17]
        target[up] = tuple(0.7 * gap)
        target[lo] = tuple(-0.3 * gap)
    blink, errors["blink"] = _solve(op, target, ridge)
    return ExpressionDirections(emotions=emotions, visemes=visemes, blink=blink, fit_error_mm=errors)
