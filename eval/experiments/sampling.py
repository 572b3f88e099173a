"""Scoring long rollouts of a HuMoR-Face prior: ``python -m eval sample``.

Runs ``motionprior.sample`` (samples, videos, pose plots) and writes ``metrics.json`` next to them:

* per start: APD (mean and flattened variants), world and head-canonical;
* ``all``: FD (expression, pose, state) and long-horizon health of all samples against the real clips
  of the split, plus the mean APDs;
* ``reference``: the same FD / health numbers for the real clips of ``reference_split`` (cut to a
  common length) judged against the split - what real, held-out motion scores, the yardstick for the
  samples (real motion of other identities has out-of-range frames and FD > 0 too);
* ``truth`` (with ``truth``, a synthetic corpus folder): the same numbers for the corpus's ground-truth
  motion of the scored split judged against its annotations - what the true motion behind the
  annotations scores (annotation jitter makes the annotations move faster than the faces did, so true
  motion has a freeze rate > 0 against them).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from eval.metrics.motion import (
    FD_VARIANTS,
    StateLayout,
    apd,
    fd_features,
    frechet_distance,
    head_canonical_landmarks,
    motion_health,
)
from flame.errors import InputError
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["evaluate_samples", "reference_metrics", "score_samples", "score_run", "sample_and_score"]


def evaluate_samples(generated: np.ndarray, real: list[np.ndarray], spec: StateLayout) -> dict:
    """FD (each variant) and health of generated states ``(N, T, dim)`` (start frames excluded) against
    real clips ``[(T_i, dim)]``."""
    real_x = np.concatenate(real).astype(np.float64)
    mean, std = real_x.mean(0), real_x.std(0)
    out = {}
    for variant in FD_VARIANTS:
        if variant == "expression" and not spec.n_exp:
            continue
        out[f"fd_{variant}"] = frechet_distance(fd_features(real_x, spec, variant, mean, std),
                                                fd_features(generated, spec, variant, mean, std))
    return out | motion_health(generated, real, spec, MOTION_FPS)


def reference_metrics(reference: list[np.ndarray], real: list[np.ndarray], spec: StateLayout) -> dict:
    """:func:`evaluate_samples` of real clips ``[(T_i, dim)]`` (cut to their shortest length) against
    other real clips: what real motion scores."""
    n = min(len(r) for r in reference)
    return {"clips": len(reference), "frames": n} | evaluate_samples(
        np.stack([r[:n] for r in reference]).astype(np.float64), real, spec)


def score_samples(states: np.ndarray, real: list[np.ndarray], spec: StateLayout, names: list[str]) -> dict:
    """Metrics of samples ``(K, B, H + 1, dim)`` (B starts named ``names``; the start frames are
    excluded): ``{"starts": {name: APDs}, "all": FD + health + mean APDs}``."""
    states = np.asarray(states, np.float64)
    k, _, t1, _ = states.shape
    starts = {}
    for b, name in enumerate(names):
        gen = states[:, b, 1:]
        starts[name] = {"world": apd(gen[..., spec.slices["landmarks"]].reshape(k, t1 - 1, -1, 3)),
                        "head_canonical": apd(head_canonical_landmarks(gen, spec))}
    out = evaluate_samples(states[:, :, 1:].reshape(-1, t1 - 1, states.shape[-1]), real, spec)
    for key in ("apd_mean", "apd_flat"):
        for frame in ("world", "head_canonical"):
            out[f"{key}_{frame}"] = float(np.mean([s[frame][key] for s in starts.values()]))
    return {"starts": starts, "all": out}


def score_run(run, reference: list[np.ndarray] | None = None) -> dict:
    """The metrics dict of a :class:`motionprior.sample.SampleRun` (see the module docstring)."""
    metrics = dict(run.info) | score_samples(run.states.double().numpy(), [c.states for c in run.clips], run.spec,
                                             [c.name for c in run.starts])
    if reference:
        metrics["reference"] = reference_metrics(reference, [c.states for c in run.clips], run.spec)
    return metrics


def sample_and_score(cfg, reference_split: str | None = "train", progress: bool = True,
                     truth: str | None = None) -> dict:
    """Sample with ``cfg`` (:class:`motionprior.sample.SampleConfig`), score, write ``metrics.json``.

    ``reference_split`` and ``truth`` (a synthetic corpus folder) add the ``reference`` / ``truth``
    entries of the module docstring.
    """
    from flame.files import atomic_write_json
    from flame.layout import find_sequences, is_corpus
    from motionprior.data import load_clips
    from motionprior.sample import sample_prior

    if truth and not is_corpus(truth):  # before the long rollout
        raise InputError(f"truth {truth}: not a synthetic corpus folder; pass the corpus the annotations in {cfg.data} "
                         f"were made from")
    run = sample_prior(cfg, progress=progress)
    reference = None
    if reference_split and reference_split != cfg.split:
        ref = load_clips(find_sequences(cfg.data, reference_split), run.layer, run.spec, min_seconds=0.0, progress=False)
        reference = [c.states for c in ref] or None
    metrics = score_run(run, reference)
    if reference:
        metrics["reference"]["split"] = reference_split
    if truth:
        gt = load_clips(find_sequences(truth, cfg.split), run.layer, run.spec, min_seconds=0.0, progress=False)
        metrics["truth"] = reference_metrics([c.states for c in gt], [c.states for c in run.clips], run.spec) \
            | {"data": str(truth), "split": cfg.split}
    atomic_write_json(Path(cfg.out) / "metrics.json", metrics)
    return metrics
