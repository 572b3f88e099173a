"""Trained HuMoR-Face priors on disk, without Lightning: the sampling path (the sample command, the
evaluator's callers, the demo, the benchmarks) loads them from here.

Two files load: the standalone ``prior.pt`` that ``fit`` exports next to its checkpoints (``{"format":
PRIOR_FORMAT, "version", "config": the training settings, "state_dict": the network}``) and a Lightning
``.ckpt`` (its ``hyper_parameters`` and the ``model.`` entries of its ``state_dict``). Both are read with
``torch.load(weights_only=True)`` and loaded strictly.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from flame.types import N_EXP
from motionprior.model import HumorFace
from motionprior.state import StateSpec

__all__ = ["PRIOR_FORMAT", "MODEL_KEYS", "export_prior", "load_prior"]

PRIOR_FORMAT = "humor-face-prior"
#: the settings that build the network (the rest of a prior's config is training)
MODEL_KEYS = ("n_exp", "neck", "eyes", "extra_velocities", "hidden", "layers", "latent", "conditional_prior")


def export_prior(checkpoint: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the model of a Lightning checkpoint as a small standalone prior file (weights + config)."""
    from flame.files import atomic_write_bytes

    model, config = load_prior(checkpoint)
    payload = {"format": PRIOR_FORMAT, "version": 1, "config": config, "state_dict": model.state_dict()}
    atomic_write_bytes(path, lambda f: torch.save(payload, f))
    return Path(path)


def load_prior(path: str | os.PathLike) -> tuple[HumorFace, dict]:
    """A trained prior from a Lightning ``.ckpt`` or an exported prior file, loaded strictly
    (``weights_only``; a missing or unexpected key is an error). Returns the model (eval mode) and its
    config (the training hyper-parameters, incl. ``flame_model``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prior checkpoint (train one with `python -m motionprior fit`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ValueError(f"{path}: not a HuMoR-Face checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(ckpt, dict) and ckpt.get("format") == PRIOR_FORMAT:
        config, state = dict(ckpt["config"]), ckpt["state_dict"]
    elif isinstance(ckpt, dict) and "state_dict" in ckpt and "hyper_parameters" in ckpt:
        config = dict(ckpt["hyper_parameters"])
        state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    else:
        raise ValueError(f"{path}: not a HuMoR-Face checkpoint (no {PRIOR_FORMAT!r} format tag or Lightning state_dict)")
    defaults = {"n_exp": N_EXP, "neck": False, "eyes": False, "extra_velocities": (), "hidden": 1024, "layers": 4,
                "latent": 48, "conditional_prior": True}
    kw = {k: config.get(k, defaults[k]) for k in MODEL_KEYS}
    spec = StateSpec(n_exp=kw.pop("n_exp"), neck=kw.pop("neck"), eyes=kw.pop("eyes"),
                     extra_velocities=tuple(kw.pop("extra_velocities")))
    model = HumorFace(spec, **kw)
    model.load_state_dict(state, strict=True)
    return model.eval(), config
