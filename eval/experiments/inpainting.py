"""Completing motion with a gap: the long-context family's inpainting against simple baselines.

``python -m eval inpainting``: for each gap length of ``gaps``, from each clip of a split (at 30 Hz), frames
``[a, a + gap)`` are removed (``a``: the middle of the clip minus half the gap) and completed by

* **the long-context family** (:meth:`motionprior.diffusion.DiffusionGenerator.inpaint`: the frames on
  both sides of the gap are known) - ``samples`` completions, scored one by one; its deterministic completion
  (``mean=True``: from zero noise, the point estimate a user filling a dropout takes); and again with the head
  pose given on the gap frames too (the family's "expression from head pose": jaw and expression completed);
* **linear interpolation** between the last frame before and the first after the gap (head and jaw
  rotations by slerp, expression linearly);
* **HuMoR-Face rolled forward** from the last frame before the gap (it cannot see the frames after it),
  ``samples`` rollouts (with ``humor``).

Errors against what was removed, over the gap frames: 68 landmarks in cm (world, through the head
model), head and jaw rotation in degrees (geodesic), expression RMSE; mean over clips and samples (and
the best of the samples per clip, as inpainting papers report). Continuity at the gap's edges: the steps
from the last known frame into the gap and from the gap to the first known frame after it
(:func:`eval.metrics.motion.frame_steps`: head / jaw deg, expression L2), mean over edges, and the share of
edges whose step is above the 95th percentile of the clips' own frame-to-frame steps in any part (real
motion: at most 0.15, 5 % per part). Written to ``inpainting.md`` / ``.json``, and ``inpainting.png``: head yaw
and jaw opening of one clip per gap length - truth, interpolation, three completions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.gaps import LINEAR, clip_at_motion_rate, compare_completions, gap_errors, plot_gap_curves
from eval.metrics.motion import STEP_PARTS, frame_steps
from eval.motion_features import sequence_features
from eval.report import markdown_table
from flame.errors import InputError
from flame.files import atomic_write_json, atomic_write_text
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["InpaintingConfig", "run_inpainting"]

#: completions per gap length drawn in ``inpainting.png``
EXAMPLE_SAMPLES = 3
COLUMNS = ["gap_s", "method", "landmarks_cm", "landmarks_cm_best", "head_deg", "jaw_deg", "expression_rmse",
           *[f"edge_{p}" for p in STEP_PARTS], "edges_over_p95", "clips"]
#: the table's methods
DIFFUSION = "long-context diffusion (inpainting)"
MEAN = "long-context diffusion (mean completion)"
HEAD_GIVEN = "long-context diffusion (head pose given)"
HUMOR = "HuMoR-Face rolled forward"


@dataclass
class InpaintingConfig:
    """Settings of ``python -m eval inpainting``.

    Attributes:
        diffusion: a long-context generator file; humor: a HuMoR-Face file (optional baseline).
        data: the clips (a corpus, annotation output, split manifest...); split: which split.
        gaps: seconds removed from the middle of each clip (one table block per length); samples:
            completions per clip; seed.
        clips: at most this many clips (evenly spread); out: output folder.
        flame_model / assets: override the head model recorded in the generators.
    """

    diffusion: str
    data: str
    humor: str | None = None
    split: str = "test"
    gaps: tuple[float, ...] = (1.0, 2.0, 4.0)
    samples: int = 10
    seed: int = 0
    clips: int = 16
    out: str = "runs/inpainting"
    flame_model: str | None = None
    assets: str | None = None


def run_inpainting(cfg: InpaintingConfig) -> list[dict]:
    """Run the comparison (see the module docstring); returns the table rows (one per gap and method)."""
    from motionprior.generator import load_generator
    from motionprior.sample import pick_starts

    diffusion = load_generator(cfg.diffusion, cfg.flame_model, cfg.assets)
    if not diffusion.can_inpaint:
        raise InputError(f"{cfg.diffusion}: a {diffusion.family} generator cannot inpaint; pass a long-context "
                         f"(motion-diffusion) generator")
    if not cfg.gaps or min(cfg.gaps) <= 0:
        raise InputError(f"gaps: one or more lengths in seconds above 0, got {cfg.gaps}")
    humor = load_generator(cfg.humor, cfg.flame_model, cfg.assets) if cfg.humor else None
    clips = []
    for start in pick_starts(cfg.data, cfg.split, cfg.clips):
        clip = clip_at_motion_rate(start.sequence, start.view, diffusion.layer)
        clips.append((start.label, clip, sequence_features(clip, diffusion.layer, start.label)[0]))
    p95 = np.percentile(np.concatenate([frame_steps(truth) for _, _, truth in clips]), 95, axis=0)
    table, examples = [], []
    for seconds in cfg.gaps:
        rows = _complete_gaps(cfg, diffusion, humor, clips, int(round(seconds * MOTION_FPS)), p95, examples)
        if not rows:
            raise InputError(f"{cfg.data}@{cfg.split}: no clip is longer than the gap ({seconds:g} s) plus 4 frames")
        table += [{"gap_s": seconds, "method": m, "clips": len(r)}
                  | {k: float(np.mean([x[k] for x in r])) for k in r[0]} for m, r in rows.items()]
    _write(cfg, table)
    plot_gap_curves(Path(cfg.out) / "inpainting.png", examples, EXAMPLE_SAMPLES)
    return table


def _complete_gaps(cfg: InpaintingConfig, diffusion, humor, clips: list, gap: int, p95: np.ndarray,
                   examples: list) -> dict[str, list]:
    """Per method, one error row per clip for gaps of ``gap`` frames (clips too short are skipped); the first
    clip's truth, interpolation and completions are appended to ``examples`` for the plot."""
    from motionprior.generator import MotionStart

    layer = diffusion.layer  # the evaluator poses features in float64 itself
    errors: dict[str, list[dict]] = {}
    for label, clip, truth in clips:
        t = clip.n_frames
        if t < gap + 4:
            continue
        a = (t - gap) // 2
        b = a + gap
        def score(feats: list, lo: int = a, hi: int = b, ref=truth) -> dict:
            return _per_sample([gap_errors(ref, f, lo, hi) | _edges(f, lo, hi, p95) for f in feats])

        cmp = compare_completions(diffusion, clip, a, b, cfg.samples, cfg.seed, label, truth=truth)
        errors.setdefault(DIFFUSION, []).append(score(cmp.completed_features))
        known = np.ones(t, bool)
        known[a:b] = False
        for method, given, mean in ((MEAN, (), True), (HEAD_GIVEN, ("head",), False)):
            done = diffusion.inpaint(clip, known, given=given, n_samples=1 if mean else cfg.samples, seed=cfg.seed,
                                     mean=mean)
            errors.setdefault(method, []).append(score(sequence_features(done, layer, label)))
        errors.setdefault(LINEAR, []).append(score([cmp.linear_features]))
        if len(errors[LINEAR]) == 1:
            examples.append((label, cmp))
        if humor is not None:
            roll = humor.sample([MotionStart(clip, a - 1)], cfg.samples, gap / MOTION_FPS, seed=cfg.seed)[0]
            feats = sequence_features(roll, layer, label)
            errors.setdefault(HUMOR, []).append(_per_sample([
                gap_errors(truth.frames(a - 1, b), f, 1, gap + 1) | _edges(f, 1, gap + 1, p95) for f in feats]))
    return errors


def _edges(feats, a: int, b: int, p95: np.ndarray) -> dict[str, float]:
    """Continuity at a gap ``[a, b)`` of completed ``feats``: the mean step into and out of it per part, and the
    share of its edges (the steps ``a - 1 -> a`` and, where there are frames after it, ``b - 1 -> b``) above
    ``p95 (3,)`` in any part."""
    steps = frame_steps(feats)
    edges = steps[[i for i in (a - 1, b - 1) if 0 <= i < len(steps)]]
    out = {f"edge_{p}": float(edges[:, i].mean()) for i, p in enumerate(STEP_PARTS)}
    return out | {"edges_over_p95": float((edges > p95).any(-1).mean())}


def _per_sample(errs: list[dict]) -> dict:
    """Mean over samples, and the best sample's landmark error."""
    out = {k: float(np.mean([e[k] for e in errs])) for k in errs[0]}
    out["landmarks_cm_best"] = float(min(e["landmarks_cm"] for e in errs))
    return out


def _write(cfg: InpaintingConfig, table: list[dict]) -> None:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "inpainting.json", {"settings": vars(cfg), "rows": table})
    gaps = ", ".join(f"{g:g}" for g in cfg.gaps)
    text = (f"# Inpainting: {gaps} s gaps\n\nClips: `{cfg.data}@{cfg.split}` (up to {cfg.clips}, at 30 Hz); the "
            f"middle of each removed and completed; {cfg.samples} samples per clip for the generators "
            f"(seed {cfg.seed}). Errors over the removed frames: 68 landmarks (cm, world), head and jaw rotation "
            f"(degrees), expression RMSE; landmarks_cm_best: the best sample per clip. Edges: the step into and out "
            f"of the gap (head / jaw deg, expression L2; mean), edges_over_p95: the share of edges with a step above "
            f"the clips' own 95th percentile in any part.\n\n"
            + markdown_table(table, COLUMNS) + "\n")
    atomic_write_text(out / "inpainting.md", text)
