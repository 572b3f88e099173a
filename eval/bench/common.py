"""What the benchmarks share: timing helpers (interleaved repeats and medians, so that a slow moment of a shared
machine hits both sides of a ratio alike), and untrained generators of the training configs' sizes with a neutral
start to time them on."""

from __future__ import annotations

import importlib
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml


def interleaved_median(fns: dict[str, Callable[[], object]], repeats: int, inner: int = 1,
                       warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, measuring them in turn ``repeats`` times."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t) / inner)
    return {k: statistics.median(v) for k, v in samples.items()}


#: the training configs the benchmarks take their network sizes from
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "motionprior"


def training_module(config: str, model_file: Path, **network):
    """The (untrained, seeded) LightningModule of the training config ``config`` in :data:`CONFIGS` (its
    ``init_args``), on the head model ``model_file``, with the given network overrides. Timings do not depend on
    the weights, so the speed benchmarks use untrained networks of the configured sizes."""
    spec = yaml.safe_load((CONFIGS / config).read_text())["model"]
    module, name = spec["class_path"].rsplit(".", 1)
    args = dict(spec["init_args"], head={"flame_model": str(model_file)})
    args["network"] = dict(args["network"], **network)
    torch.manual_seed(0)
    return getattr(importlib.import_module(module), name)(**args)


def untrained_generator(lit):
    """The generator of a :func:`training_module`, behind the generator interface."""
    from motionprior.generator import family_class

    config = {k: v for k, v in lit.hparams.items() if not k.startswith("_")}
    return family_class(lit.family)(lit.model, config, lit.head.layer(lit.spec))


def neutral_start(layer, frames: int = 30):
    """A :class:`~motionprior.generator.MotionStart`: a still neutral head of ``frames`` frames at 30 fps."""
    from motionprior.generator import MotionStart, params_to_sequence

    pose = torch.zeros(1, frames, 15)
    seq = params_to_sequence(pose, torch.zeros(1, frames, layer.n_exp), np.zeros(layer.n_shape), layer,
                             {"name": "neutral"})
    return MotionStart(seq)
