"""The head model in use: a FLAME model file, or the procedural stand-in when none is given.

Every package resolves its head model here: :func:`resolve_model_file` gives the file (the stand-in
is built in ``assets`` on first use), :func:`load_head` reads a model and its landmark embedding once
per process (cached by path, size and modification time), and :func:`head_layer` builds a
:class:`~flame.layer.FlameLayer` of it with the component counts asked for (a new layer each call, so a
caller may move it to a device; building one takes milliseconds).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import torch

from flame.embedding import LandmarkEmbedding, find_landmark_embedding
from flame.errors import InputError
from flame.layer import FlameLayer
from flame.model import FlameModelData, load_model
from flame.sequence import UNRECORDED_MODEL, FlameSequence
from flame.types import N_EXP, N_SHAPE

__all__ = ["DEFAULT_ASSETS", "UNRECORDED_MODEL", "resolve_model_file", "load_head", "head_layer", "check_head_model"]

log = logging.getLogger(__name__)

#: Where the stand-in is built and cached when no model file is given.
DEFAULT_ASSETS = "runs/assets/standin"


def resolve_model_file(model: str | os.PathLike | None = None, assets: str | os.PathLike | None = None) -> Path:
    """The model file: ``model`` when given, else the stand-in in ``assets`` (default
    :data:`DEFAULT_ASSETS`), built there if missing. Absolute, so it stays valid from another folder."""
    if model:
        return Path(model).resolve()
    from flame.standin import ensure_standin

    return ensure_standin(assets or DEFAULT_ASSETS).pkl.resolve()


@lru_cache(maxsize=8)
def _load(path: str, size: int, mtime_ns: int) -> tuple[FlameModelData, LandmarkEmbedding]:
    return load_model(path), find_landmark_embedding(path)


def load_head(model: str | os.PathLike | None = None,
              assets: str | os.PathLike | None = None) -> tuple[FlameModelData, LandmarkEmbedding]:
    """The model data and landmark embedding (found next to the model file) of :func:`resolve_model_file`."""
    path = resolve_model_file(model, assets)
    stat = path.stat() if path.is_file() else None  # a missing file: the loader's error names it (not cached)
    return _load(str(path), stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0)


def head_layer(model: str | os.PathLike | None = None, *, assets: str | os.PathLike | None = None,
               n_shape: int = N_SHAPE, n_exp: int = N_EXP, dtype: torch.dtype = torch.float32) -> FlameLayer:
    """A FLAME layer of the head model with ``n_shape`` identity and ``n_exp`` expression components."""
    data, embedding = load_head(model, assets)
    return FlameLayer(data, embedding, n_shape=n_shape, n_exp=n_exp, dtype=dtype)


_warned_unrecorded: set[str] = set()
_LISTED_UNRECORDED = 5  # files named in the warning, per process (a data set has thousands)


def check_head_model(sequence: FlameSequence, layer: FlameLayer, name: str) -> None:
    """The one rule for a sequence read with a head model: a sequence annotated with another model file
    (its recorded hash differs) is refused with the fix; one that records no hash (official NeuFace
    exports never do) is accepted, with a warning naming the file that the model cannot be checked (the
    first few files of a process, then one line for the rest). ``name`` says which sequence or file."""
    recorded = sequence.model_sha256
    if recorded in (UNRECORDED_MODEL, ""):
        source = sequence.metadata.get("imported_from") or name  # the file, for an imported official export
        if source not in _warned_unrecorded and len(_warned_unrecorded) <= _LISTED_UNRECORDED:
            _warned_unrecorded.add(source)
            if len(_warned_unrecorded) > _LISTED_UNRECORDED:
                log.warning("more files record no head model (not listed further); the same assumption holds")
                return
            log.warning("%s: the head model it was annotated with is not recorded (%s); assuming %s - pass that "
                        "model file (--model / flame_model) if it is another", source, sequence.model,
                        layer.model_label)
        return
    if recorded != layer.model_sha256:
        raise InputError(f"{name}: annotated with head model {sequence.model} ({recorded[:12]}), but "
                         f"{layer.model_label} ({layer.model_sha256[:12]}) is in use; pass the same model file "
                         f"(--model / flame_model)")
