"""``python -m motionprior split``: train / val / test split manifests of the official NeuFace dataset,
by identity, so that no person appears in two splits.

Expected layout of the downloaded dataset (the official export writes
``{output_dir}/{MEAD|celebv_hq}/{data_name}/flame_params/params.npz``; any folder depth above
``data_name`` is fine)::

    ROOT/MEAD/M003_angry_level_1_001/flame_params/params.npz      data_name = {ID}_{emotion}_{level}_{seq}
    ROOT/VoxCeleb2/id00012_21Uxsk56VDQ_00001/flame_params/params.npz
    ROOT/celebv_hq/-0h6LJnUSUY_0/flame_params/params.npz           data_name = {YouTube id}_{clip}

The identity of a file (:func:`identity_of`): MEAD - the actor ID before the first ``_``; VoxCeleb2 -
the ``idNNNNN`` speaker ID in its path or the data name's first ``_`` token; CelebV-HQ has no identity
labels, so the YouTube video (the data name without its last ``_<clip>``) stands in for the person.
Identities are shuffled with ``seed`` and cut by ``fractions`` (val and test get at least one identity
each when there are three or more); the manifest states the ``preset``
(the layout of every file: :data:`flame.official.NEUFACE_PRESETS`) and lists paths relative to itself.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flame.errors import InputError
from flame.files import atomic_write_text
from flame.layout import OFFICIAL_PARAMS_FILE, SPLITS, sequence_name
from flame.official import NEUFACE_PRESETS, PresetName

__all__ = ["SplitConfig", "identity_of", "write_splits"]

log = logging.getLogger(__name__)


def identity_of(path: str | os.PathLike, preset: str) -> str:
    """The person a ``params.npz`` shows, from its path (see the module docstring)."""
    path = Path(path)
    name = sequence_name(path)
    if preset == "mead":
        return name.split("_")[0]
    if preset == "voxceleb2":
        found = [p for p in path.parts if re.fullmatch(r"id\d+", p)] or re.findall(r"^(id\d+)", name)
        return found[0] if found else name.split("_")[0]
    if preset == "celebv_hq":
        return name.rsplit("_", 1)[0] if "_" in name else name
    raise InputError(f"unknown data set preset {preset!r}; choose from {list(NEUFACE_PRESETS)}")


@dataclass
class SplitConfig:
    """Settings of ``python -m motionprior split``.

    Attributes:
        root: the downloaded dataset (searched recursively for ``params.npz``).
        preset: ``mead``, ``voxceleb2`` or ``celebv_hq``: the files' layout and identity rule.
        out: the split manifest to write (``.yaml``).
        fractions: train / val / test shares of the identities.
        seed: seed of the identity shuffle.
    """

    root: str
    preset: PresetName
    out: str = "splits.yaml"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0


def write_splits(cfg: SplitConfig) -> dict[str, int]:
    """Write the manifest; returns the number of files per split."""
    import yaml

    if cfg.preset not in NEUFACE_PRESETS:
        raise InputError(f"preset: unknown data set {cfg.preset!r}; choose from {list(NEUFACE_PRESETS)}")
    if len(cfg.fractions) != 3 or min(cfg.fractions) < 0 or not np.isclose(sum(cfg.fractions), 1.0):
        raise InputError(f"fractions must be three non-negative shares summing to 1, got {cfg.fractions}")
    root, out = Path(cfg.root), Path(cfg.out)
    files = sorted(root.rglob(OFFICIAL_PARAMS_FILE))
    if not files:
        raise InputError(f"{root}: no {OFFICIAL_PARAMS_FILE} below this folder (expected <data_name>/flame_params/params.npz)")
    by_id: dict[str, list[Path]] = {}
    for f in files:
        by_id.setdefault(identity_of(f, cfg.preset), []).append(f)
    ids = sorted(by_id)
    np.random.default_rng(cfg.seed).shuffle(ids)
    n = len(ids)
    # at least one identity in every split with a share, while there are identities to spare
    n_val, n_test = (max(int(f > 0 and n >= 3), int(round(f * n))) for f in cfg.fractions[1:])
    parts = dict(zip(SPLITS, (ids[:n - n_val - n_test], ids[n - n_val - n_test:n - n_test], ids[n - n_test:])))
    base = out.resolve().parent
    table = {"preset": cfg.preset} | {
        s: [os.path.relpath(f.resolve(), base) for i in sorted(parts[s]) for f in by_id[i]] for s in SPLITS}
    atomic_write_text(out, "# python -m motionprior split: by identity\n" + yaml.safe_dump(table, sort_keys=False))
    counts = {s: len(table[s]) for s in SPLITS}
    log.info("%s: %d identities -> %s files", out, len(ids), counts)
    return counts
