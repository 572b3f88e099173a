"""What the experiments on annotations share: the head model and encoder, cached captures of videos, and
annotations made once and resumed (a finished file is read back, never recomputed)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["annotation_setup", "cached_capture", "annotate_cached"]


def annotation_setup(model: str | None, assets: str, encoder_cache: str, pretrain=None):
    """What an experiment on annotations needs: the model file (default: the stand-in in ``assets``), its
    float32 and float64 layers, and the landmark encoder (pretrained and cached on first use).
    Returns ``(model_path, layer, layer64, encoder)``."""
    from annotator.pretrain import PretrainConfig, load_or_pretrain
    from flame.head import head_layer, resolve_model_file

    model_path = resolve_model_file(model, assets)
    layer, layer64 = head_layer(model_path), head_layer(model_path, dtype=torch.float64)
    return model_path, layer, layer64, load_or_pretrain(layer, encoder_cache, pretrain or PretrainConfig(), progress=False)


def cached_capture(video: Path, folder: Path, max_frames: int | None = None, detector: str = "dlib"):
    """The capture of ``video`` (``detector``'s face track, first ``max_frames`` frames), detected once and
    cached as ``folder/<stem>.npz``."""
    from annotator.capture import Capture
    from annotator.detect import make_detector
    from annotator.sources import capture_from_video

    cached = Path(folder) / f"{Path(video).stem}.npz"
    if cached.is_file():
        return Capture.load(cached)
    cap = capture_from_video(video, make_detector(detector), max_frames=max_frames, progress=False)
    cap.save(cached)
    return cap


def annotate_cached(path: str | os.PathLike, capture, layer, encoder, cfg, **inputs):
    """The annotation of ``capture`` with ``cfg``, written to ``path`` (a FlameSequence ``.npz``, atomically) and
    read back from there when it exists (resume). ``inputs``: further arguments of
    :func:`annotator.neuface.annotate` (``prior``, ``dense``)."""
    from annotator.neuface import annotate
    from flame.sequence import FlameSequence

    path = Path(path)
    if path.is_file():
        return FlameSequence.load(path)
    seq = annotate(capture, layer, encoder, cfg, **inputs).sequence
    seq.save(path)
    return seq
