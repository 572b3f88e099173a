"""Annotated sequences as HuMoR-Face state clips (no Lightning: the sampling path and the packer use it).

Each view of a multi-view sequence is its own clip (the state is in each view's camera-aligned frame).
Clips shorter than ``min_seconds`` are dropped; ``trim`` removes that fraction from both ends (HuMoR
keeps the middle 80 % of mocap clips; annotations need no trimming by default). The normalization
statistics of a set of clips are sums over clips, merged the same way in memory and across a pack's shards.
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

__all__ = ["MotionClip", "load_clips", "compute_statistics", "statistic_sums", "statistics_from_sums", "add_sums", "SUM_KEYS"]


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
    sums as a pack's (:func:`statistics_from_sums`)."""
    if not clips:
        raise InputError("no training clips: the train split is empty or every clip is shorter than min_seconds")
    merged = None
    for c in clips:
        merged = add_sums(merged, statistic_sums(c.states, spec))
    return statistics_from_sums(merged, spec)


#: the partial sums of the normalization statistics, mergeable over clips and shards
SUM_KEYS = ("n", "sum", "sumsq", "n_delta", "delta_sumsq")


def statistic_sums(states: np.ndarray, spec: StateSpec) -> dict[str, np.ndarray]:
    """Partial sums of one clip's states ``(T, dim)`` for :func:`statistics_from_sums` (float64): frame
    count, sum and sum of squares per channel, step count and the sum of squared per-step changes per
    output channel (rotations: the axis-angle of ``R_t R_{t-1}^T``)."""
    from flame.rotations import matrix_to_axis_angle

    x = np.asarray(states, np.float64)
    t = torch.as_tensor(x)
    delta = []
    for part in spec.parts:
        if part in spec.rotations:
            r = spec.get(t, part)
            delta.append(matrix_to_axis_angle(r[1:] @ r[:-1].transpose(-1, -2)).flatten(1))
        else:
            delta.append(t[1:, spec.slices[part]] - t[:-1, spec.slices[part]])
    d = torch.cat(delta, 1).numpy()
    return {"n": np.array(len(x), np.float64), "sum": x.sum(0), "sumsq": (x * x).sum(0),
            "n_delta": np.array(len(d), np.float64), "delta_sumsq": (d * d).sum(0)}


def add_sums(a: dict | None, b: dict) -> dict:
    """Merged :func:`statistic_sums` (``a`` None: ``b`` alone)."""
    return dict(b) if a is None else {k: a[k] + b[k] for k in SUM_KEYS}


def statistics_from_sums(sums: dict[str, np.ndarray], spec: StateSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(state_mean, state_std, delta_scale)`` float32 from merged :func:`statistic_sums`: Euclidean
    channels get the mean and the (N - 1) std over frames, rotation-matrix channels mean 0 / std 1; the
    decoder's output scale is the RMS of the per-step change."""
    n = float(sums["n"])
    if n < 2:
        raise InputError("no training clips: the train split is empty or every clip is shorter than min_seconds")
    mean = sums["sum"] / n
    var = np.maximum(sums["sumsq"] - n * mean * mean, 0.0) / (n - 1)
    mask = spec.euclidean_mask().numpy()
    state_mean = np.where(mask, mean, 0.0)
    state_std = np.where(mask, np.sqrt(var), 1.0)
    scale = np.sqrt(sums["delta_sumsq"] / max(float(sums["n_delta"]), 1.0))
    return tuple(torch.as_tensor(a, dtype=torch.float32) for a in (state_mean, state_std, scale))
