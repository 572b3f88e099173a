"""Sampling a trained generator and scoring the samples: ``python -m eval sample``.

Runs ``motionprior.sample`` (FlameSequence files, videos, pose plots) and scores the written files with
the motion evaluator (:mod:`eval.motion`) into the same folder (``motion.md`` / ``.json`` /
``.csv``, horizon and spectrum plots): the samples against the real clips of the split they started
from, with reference rows - the real clips of ``reference_split`` (other identities: what real motion
scores) and, with ``truth`` (a synthetic corpus folder), the ground truth of the split.
"""

from __future__ import annotations

import logging

from flame.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["sample_and_score"]


def sample_and_score(cfg, reference_split: str | None = "train", progress: bool = True,
                     truth: str | None = None) -> dict:
    """Sample with ``cfg`` (:class:`motionprior.sample.SampleConfig`), score the files, write the report.

    Returns the evaluator's result with ``"sampling"``: the sampling settings, start clips and timings."""
    from eval.motion import MotionEvalConfig, evaluate_motion
    from flame.layout import is_corpus
    from motionprior.sample import sample_prior

    if truth and not is_corpus(truth):  # before the long rollout
        raise InputError(f"truth {truth}: not a synthetic corpus folder; pass the corpus the annotations in {cfg.data} "
                         f"were made from")
    run = sample_prior(cfg, progress=progress)
    files = [str(f) for f in run.files]
    reference = f"{cfg.data}@{reference_split}" if reference_split and reference_split != cfg.split else None
    settings = MotionEvalConfig(generated=[files], labels=[f"{run.generator.family} samples"], real=f"{cfg.data}@{cfg.split}",
                                reference=reference, truth=f"{truth}@{cfg.split}" if truth else None, out=cfg.out)
    result = evaluate_motion(settings, layer=run.layer, progress=progress)
    return result | {"sampling": run.info}
