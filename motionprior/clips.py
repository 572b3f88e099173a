"""Annotated sequences as HuMoR-Face state clips (no Lightning: the sampling path and the packer use it).

Each view of a multi-view sequence is its own clip (the state is in each view's camera-aligned frame).
Clips shorter than ``min_seconds`` are dropped; ``trim`` removes that fraction from both ends (HuMoR
keeps the middle 80 % of mocap clips; annotations need no trimming by default).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from flame.errors import InputError
from flame.head import check_head_model
from flame.layer import FlameLayer
from flame.layout import SequenceEntry, named_entries
from flame.sequence import MOTION_FPS, resize_coefficients
from motionprior.state import StateSpec, sequence_to_states

log = logging.getLogger(__name__)

__all__ = ["MotionClip", "load_clips", "compute_statistics"]


@dataclass(frozen=True)
class MotionClip:
    """One view of one sequence as states.

    Attributes:
        name: ``<sequence>/<view>``.
        states: ``(T, dim)`` float32 states at 30 Hz (see :mod:`motionprior.state`).
        shape: ``(n_shape,)`` FLAME identity of the sequence.
    """

    name: str
    states: np.ndarray
    shape: np.ndarray


def load_clips(entries: list[SequenceEntry | Path], layer: FlameLayer, spec: StateSpec, min_seconds: float = 1.0,
               trim: float = 0.0, progress: bool = True) -> list[MotionClip]:
    """Featurize every view of every sequence into clips (see the module docstring); ``entries`` from
    :func:`flame.layout.find_sequences` (or plain paths of FlameSequence files)."""
    clips, cut_expression = [], set()
    if not all(isinstance(e, SequenceEntry) for e in entries):  # plain paths: named uniquely here
        entries = named_entries([e if isinstance(e, SequenceEntry) else SequenceEntry(Path(e)) for e in entries])
    for entry in tqdm(entries, desc="featurize", unit="seq", disable=not progress or len(entries) < 4):
        path, seq = entry.path, entry.load()
        check_head_model(seq, layer, str(path))
        if seq.n_exp > spec.n_exp and np.any(seq.expression[..., spec.n_exp:]):
            cut_expression.add(seq.n_exp)
        shape = np.asarray(resize_coefficients(seq.shape, layer.n_shape, f"{path}: shape (layer: {layer.n_shape})"),
                           np.float32)
        for v, view in enumerate(seq.view_names):
            states = sequence_to_states(seq, layer, spec, view=v).astype(np.float32)
            cut = int(len(states) * trim)
            states = states[cut:len(states) - cut]
            if not np.isfinite(states).all():
                raise InputError(f"{path} (view {view}): non-finite parameters; re-annotate this sequence")
            if len(states) < max(2, min_seconds * MOTION_FPS):
                continue
            clips.append(MotionClip(entry.clip_name(view), states, shape))
    if cut_expression:
        log.warning("the state keeps the first %d of the sequences' %s expression components (n_exp); the rest is "
                    "not modelled", spec.n_exp, "/".join(map(str, sorted(cut_expression))))
    return clips


def compute_statistics(clips: list[MotionClip], spec: StateSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(state_mean, state_std, delta_scale)`` of the (training) clips, float32: Euclidean channels get
    the mean and std over all frames, rotation-matrix channels mean 0 / std 1; the decoder's output
    scale is the RMS of the per-step change (rotations: of the axis-angle of ``R_t R_{t-1}^T``). The same
    sums as a pack's (:func:`motionprior.pack.statistics_from_sums`)."""
    from motionprior.pack import statistic_sums, statistics_from_sums

    if not clips:
        raise InputError("no training clips: the train split is empty or every clip is shorter than min_seconds")
    sums = [statistic_sums(c.states, spec) for c in clips]
    return statistics_from_sums({k: sum(s[k] for s in sums) for k in sums[0]}, spec)
