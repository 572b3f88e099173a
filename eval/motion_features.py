"""Motion files -> per-frame features at 30 Hz through the head model (:class:`~eval.metrics.motion.MotionFeatures`).

A *set* of motion is given as one path or a list of paths, each one of:

* a FlameSequence ``.npz`` or an official NeuFace ``params.npz`` (its layout from ``preset``);
* ``PATH@split``, or a bare ``PATH`` with the default split: a synthetic corpus (its ground truth), an
  annotation output, a split manifest or a folder with ``train/ val/ test/``
  (:func:`flame.layout.find_sequences`);
* any other folder: every ``.npz`` below it.

Every view of a sequence is a clip. Its pose is resampled to 30 Hz by slerp and its expression
linearly (never nearest-frame), then posed by the head model: the 68 "full" 3D landmarks in cm in the
camera-aligned FLAME frame, and head-canonical (the head rotation removed about their centroid).
Clips of generated samples carry the start they were generated from (the ``start`` of the file's
metadata, as ``python -m motionprior sample`` writes it) as their group; other clips are their own group.
"""

from __future__ import annotations

import copy
import logging
import os
import weakref
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from eval.metrics.motion import MotionFeatures
from flame.errors import InputError
from flame.head import check_head_model
from flame.layer import FlameLayer
from flame.layout import SPLITS, SequenceEntry, find_sequences, is_annotation_output, is_corpus, named_entries
from flame.official import NeufaceLayout
from flame.sequence import MOTION_FPS, FlameSequence, resample_pose, resample_positions, resize_coefficients
from flame.types import FlameParams

__all__ = ["sequence_features", "set_entries", "load_motion_set"]

log = logging.getLogger(__name__)


def resample_linear(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Rows of ``x (T, ...)`` linearly interpolated at fractional frame ``positions (N,)``."""
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (positions - lo)[:, None]
    return (1.0 - w) * x[lo] + w * x[hi]


_FLOAT64: "weakref.WeakKeyDictionary[FlameLayer, FlameLayer]" = weakref.WeakKeyDictionary()


def _float64(layer: FlameLayer) -> FlameLayer:
    """``layer`` in float64, the features' precision whatever the caller's layer (a float32 layer moves
    landmarks by ~1e-7 m, enough to flip frames at the edge of the real range); copies are kept per layer."""
    if layer.v_template.dtype == torch.float64:
        return layer
    if layer not in _FLOAT64:
        _FLOAT64[layer] = copy.deepcopy(layer).double()
    return _FLOAT64[layer]


def sequence_features(seq: FlameSequence, layer: FlameLayer, name: str, fps: float = MOTION_FPS) -> list[MotionFeatures]:
    """One :class:`MotionFeatures` per view of ``seq``, resampled to ``fps`` (see the module docstring),
    posed in float64."""
    layer = _float64(layer)
    check_head_model(seq, layer, name)
    like = layer.v_template
    shape = torch.as_tensor(resize_coefficients(np.asarray(seq.shape, np.float64), layer.n_shape, f"{name}: shape"),
                            dtype=like.dtype, device=like.device)
    group = seq.metadata.get("start")
    pos = resample_positions(seq.n_frames, seq.fps, fps)
    out = []
    for v, view in enumerate(seq.view_names):
        pose = resample_pose(np.asarray(seq.pose[v], np.float64).reshape(seq.n_frames, 5, 3), pos).reshape(len(pos), 15)
        expr = resample_linear(np.asarray(seq.expression[v], np.float64), pos)
        e = resize_coefficients(expr, layer.n_exp, f"{name}: expression (head model: {layer.n_exp})")
        params = FlameParams(shape.expand(len(pos), -1), torch.as_tensor(e, dtype=like.dtype, device=like.device),
                             torch.as_tensor(pose, dtype=like.dtype, device=like.device))
        with torch.no_grad():
            lm = layer.landmarks(params).landmarks3d.double().cpu().numpy() * 100.0  # cm
        head = pose[:, 0:3]
        rot = Rotation.from_rotvec(head).as_matrix()
        canonical = np.einsum("tji,tlj->tli", rot, lm - lm.mean(1, keepdims=True))  # R^T (p - centroid)
        clip = f"{name}/{view}"
        out.append(MotionFeatures(clip, str(group) if group is not None else clip, head, pose[:, 6:9], expr, lm,
                                  canonical, fps))
    return out


def set_entries(source: str | os.PathLike | list, split: str = "test",
                layout: NeufaceLayout | str | None = None) -> list[SequenceEntry]:
    """The sequence files of a set (see the module docstring); ``layout`` (a preset name) applies to
    official ``params.npz`` files that no split manifest describes."""
    from flame.official import neuface_layout

    default = neuface_layout(layout) if layout is not None else None
    items = source if isinstance(source, (list, tuple)) else [source]
    out: list[SequenceEntry] = []
    for item in items:
        text = str(item)
        path, _, at = text.rpartition("@") if "@" in text and text.rsplit("@", 1)[1] in SPLITS else (text, "", "")
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such motion file or folder")
        if path.is_file() and path.suffix == ".npz":
            out.append(SequenceEntry(path, default))
        elif path.is_file() or is_corpus(path) or is_annotation_output(path) or any((path / s).is_dir() for s in SPLITS):
            out += [SequenceEntry(e.path, e.layout or default) for e in find_sequences(path, at or split)]
        else:
            files = sorted(path.rglob("*.npz"))
            if not files:
                raise InputError(f"{path}: no .npz motion files below this folder")
            out += [SequenceEntry(p, default) for p in files]
    return named_entries(out)


def load_motion_set(source, layer: FlameLayer, split: str = "test", layout: NeufaceLayout | str | None = None,
                    fps: float = MOTION_FPS, progress: bool = True) -> list[MotionFeatures]:
    """Every clip of a set (see the module docstring) as features at ``fps``."""
    entries = set_entries(source, split, layout)
    if not entries:
        raise InputError(f"{source}: no sequences (split {split})")
    clips: list[MotionFeatures] = []
    for entry in tqdm(entries, desc="features", unit="seq", disable=not progress or len(entries) < 8):
        try:
            seq = entry.load()
        except InputError as e:
            raise InputError(f"{entry.path}: {e}" if str(entry.path) not in str(e) else str(e)) from None
        clips += sequence_features(seq, layer, entry.name, fps)
    return clips
