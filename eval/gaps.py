"""Completing a gap in a clip: the baseline, the errors and the plot that ``python -m eval inpainting`` and the
demo's inpainting tab share.

A clip is one view at the motion rate (:func:`clip_at_motion_rate`); a gap is its frames ``[a, b)``, with known
frames on both sides. Linear interpolation (:func:`linear_fill`, :func:`linear_sequence`) is the baseline every
completion is compared with; :func:`gap_errors` scores a completion against what was removed;
:func:`compare_completions` runs a generator that can inpaint and scores it next to the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from eval.metrics.motion import MotionFeatures, rotation_angle_deg
from eval.motion_features import resample_linear, sequence_features
from flame.sequence import MOTION_FPS, FlameSequence, resample_pose, resample_positions

__all__ = ["linear_fill", "linear_sequence", "gap_errors", "clip_at_motion_rate", "GapComparison",
           "compare_completions", "plot_gap_curves", "LINEAR"]

LINEAR = "linear interpolation"


def _slerp_gap(rotations: np.ndarray, a: int, b: int) -> np.ndarray:
    """Axis-angle ``rotations (T, 3)`` with frames ``[a, b)`` replaced by slerp between frames ``a - 1`` and ``b``."""
    out = rotations.copy()
    out[a:b] = Slerp([a - 1, b], Rotation.from_rotvec(rotations[[a - 1, b]]))(np.arange(a, b)).as_rotvec()
    return out


def _lerp_gap(values: np.ndarray, a: int, b: int) -> np.ndarray:
    """``values (T, E)`` with frames ``[a, b)`` replaced by linear interpolation between frames ``a - 1`` and ``b``."""
    w = ((np.arange(a, b) - (a - 1)) / (b - (a - 1)))[:, None]
    out = values.copy()
    out[a:b] = (1 - w) * values[a - 1] + w * values[b]
    return out


def linear_fill(head: np.ndarray, jaw: np.ndarray, expression: np.ndarray, a: int, b: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames ``[a, b)`` of axis-angle ``head``, ``jaw (T, 3)`` and ``expression (T, E)`` replaced by slerp /
    linear interpolation between frames ``a - 1`` and ``b``."""
    return _slerp_gap(head, a, b), _slerp_gap(jaw, a, b), _lerp_gap(expression, a, b)


def linear_sequence(clip: FlameSequence, a: int, b: int) -> FlameSequence:
    """The one-view ``clip`` with frames ``[a, b)`` interpolated: every joint's rotation by slerp, the expression
    linearly (as :func:`linear_fill`)."""
    pose = np.asarray(clip.pose[0], np.float64).reshape(clip.n_frames, 5, 3)
    joints = [_slerp_gap(pose[:, j], a, b) for j in range(5)]
    expression = _lerp_gap(np.asarray(clip.expression[0], np.float64), a, b)
    return clip.replace(pose=np.stack(joints, 1).reshape(1, clip.n_frames, 15).astype(np.float32),
                        expression=expression[None].astype(np.float32), view_names=np.array([LINEAR]))


def gap_errors(truth: MotionFeatures, pred: MotionFeatures, a: int, b: int) -> dict[str, float]:
    """Errors of ``pred`` against ``truth`` over frames ``[a, b)``: 68 landmarks (cm, world), head and jaw rotation
    (degrees, geodesic), expression RMSE."""
    s = slice(a, b)
    n = min(truth.expression.shape[1], pred.expression.shape[1])
    return {"landmarks_cm": float(np.linalg.norm(pred.landmarks[s] - truth.landmarks[s], axis=-1).mean()),
            "head_deg": float(rotation_angle_deg(pred.head[s], truth.head[s]).mean()),
            "jaw_deg": float(rotation_angle_deg(pred.jaw[s], truth.jaw[s]).mean()),
            "expression_rmse": float(np.sqrt(((pred.expression[s, :n] - truth.expression[s, :n]) ** 2).mean()))}


def clip_at_motion_rate(seq: FlameSequence, view: int, layer) -> FlameSequence:
    """View ``view`` of ``seq`` resampled to the motion rate as a one-view sequence (the frames inpainting works
    on), with the evaluator's own resampling."""
    pos = resample_positions(seq.n_frames, seq.fps)
    pose = resample_pose(np.asarray(seq.pose[view], np.float64).reshape(seq.n_frames, 5, 3), pos).reshape(len(pos), 15)
    expr = resample_linear(np.asarray(seq.expression[view], np.float64), pos)
    return FlameSequence.from_params(shape=seq.shape, expression=expr, pose=pose, fps=MOTION_FPS, model=layer.model_label,
                                     model_sha256=layer.model_sha256, view_names=[str(seq.view_names[view])],
                                     metadata=dict(seq.metadata))


@dataclass(frozen=True)
class GapComparison:
    """A clip's gap ``[a, b)`` completed by a generator and by interpolation.

    Attributes:
        clip / linear / completed: the truth, the interpolation (one view each) and the completions (one view
            each), at the motion rate.
        truth_features / linear_features / completed_features: their evaluator features.
        table: errors over the gap (:func:`gap_errors`): interpolation first, then each completion.
    """

    a: int
    b: int
    clip: FlameSequence
    linear: FlameSequence
    completed: FlameSequence
    truth_features: MotionFeatures
    linear_features: MotionFeatures
    completed_features: list[MotionFeatures]
    table: list[dict]


def compare_completions(generator, clip: FlameSequence, a: int, b: int, n_samples: int, seed: int, label: str,
                        truth: MotionFeatures | None = None, **inpaint) -> GapComparison:
    """``n_samples`` completions of the gap ``[a, b)`` of the one-view ``clip`` by ``generator`` (one that can
    inpaint), next to linear interpolation, scored against the clip. ``truth``: the clip's features when already
    computed; ``inpaint``: further arguments of the generator's ``inpaint`` (``given``, ``mean``)."""
    known = np.ones(clip.n_frames, bool)
    known[a:b] = False
    layer = generator.layer
    done = generator.inpaint(clip, known, n_samples=n_samples, seed=seed, **inpaint)
    truth = truth if truth is not None else sequence_features(clip, layer, label)[0]
    linear = linear_sequence(clip, a, b)
    linear_features = sequence_features(linear, layer, label)[0]
    completed = sequence_features(done, layer, label)
    table = [{"method": LINEAR} | gap_errors(truth, linear_features, a, b)]
    table += [{"method": f"completion {i + 1}"} | gap_errors(truth, f, a, b) for i, f in enumerate(completed)]
    return GapComparison(a, b, clip, linear, done, truth, linear_features, completed, table)


def plot_gap_curves(path: str | Path, examples: list[tuple[str, GapComparison]], completions: int = 3) -> Path:
    """One column per example (a title and a :class:`GapComparison`): head yaw and jaw opening (degrees) of the
    truth, the interpolation and up to ``completions`` completions, the gap shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionprior.figures import pose_curves

    fig, axes = plt.subplots(2, len(examples), figsize=(5 * len(examples), 6.5), squeeze=False, constrained_layout=True)
    for col, (title, cmp) in enumerate(examples):
        truth, linear = pose_curves(cmp.clip.pose[0]), pose_curves(cmp.linear.pose[0])
        done = pose_curves(cmp.completed.pose[:completions])
        x = np.arange(cmp.clip.n_frames) / MOTION_FPS
        for row, (key, what) in enumerate((("yaw", "head yaw (deg)"), ("jaw", "jaw opening (deg)"))):
            ax = axes[row, col]
            ax.axvspan(cmp.a / MOTION_FPS, cmp.b / MOTION_FPS, color="0.9")
            ax.plot(x, truth[key], "k", lw=2, label="truth")
            ax.plot(x, linear[key], "b--", lw=1.5, label=LINEAR)
            for i, curve in enumerate(done[key]):
                ax.plot(x, curve, color="C3", lw=1, label="completions" if i == 0 else None)
            ax.set_title(f"{title}: {(cmp.b - cmp.a) / MOTION_FPS:g} s gap, {what}", fontsize=9)
            ax.set_xlabel("s")
    axes[0, 0].legend(fontsize=8)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)
