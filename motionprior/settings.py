"""Settings blocks shared by every generator family (typed, frozen; YAML configs fill them).

A LightningModule of a family receives its settings grouped in blocks (the state layout
:class:`~motionprior.state.StateSpec`, :class:`HeadModel`, the family's network / losses blocks,
:class:`Optimizer`), saves them as plain nested dicts beside the weights, and the generator file
(:mod:`motionprior.generator`) rebuilds the network from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, TypeVar

from flame.layer import FlameLayer

__all__ = ["HeadModel", "Optimizer", "as_block", "blocks_to_dict", "class_path_of"]

T = TypeVar("T")


@dataclass(frozen=True)
class HeadModel:
    """The head model the training sequences were annotated with.

    Attributes:
        flame_model: FLAME model file; ``None``: the stand-in built in ``assets``
            (:func:`flame.head.resolve_model_file`).
        assets: folder of the stand-in and other cached assets.
    """

    flame_model: str | None = None
    assets: str | None = None

    def layer(self, spec) -> FlameLayer:
        """The layer for state layout ``spec`` (:func:`motionprior.state.prior_layer`)."""
        from motionprior.state import prior_layer

        return prior_layer(spec, self.flame_model, self.assets)


@dataclass(frozen=True)
class Optimizer:
    """Adam-family optimizer with a step decay per epoch.

    Attributes:
        name: ``adamax`` (HuMoR) or ``adamw``.
        lr: learning rate; weight_decay: (AdamW only).
        milestones / gamma: epochs at which the rate is multiplied by ``gamma`` (HuMoR: 50 / 80 / 140, 0.5).
    """

    name: str = "adamax"
    lr: float = 1e-4
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (50, 80, 140)
    gamma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if self.name not in ("adamax", "adamw"):
            raise ValueError(f"optimizer name {self.name!r}: choose adamax or adamw")

    def build(self, parameters) -> dict:
        """Lightning's ``configure_optimizers`` answer for ``parameters``."""
        import torch

        if self.name == "adamax":
            opt = torch.optim.Adamax(parameters, lr=self.lr)
        else:
            opt = torch.optim.AdamW(parameters, lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(self.milestones), gamma=self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def as_block(cls: type[T], value: Any) -> T:
    """``value`` as a ``cls`` block: a block is kept, a dict (a saved config) is built; unknown keys are
    errors that name the block and its fields."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"{cls.__name__}: expected a {cls.__name__} or a dict, got {type(value).__name__}")
    unknown = set(value) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}; the settings are "
                         f"{[f.name for f in fields(cls)]}")
    return cls(**value)


def blocks_to_dict(**blocks: Any) -> dict:
    """Settings as plain nested dicts / lists / numbers (what ``torch.load(weights_only=True)`` reads back)."""
    def plain(v):
        if is_dataclass(v):
            return plain(asdict(v))
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return {k: plain(v) for k, v in blocks.items()}


def class_path_of(module: Any) -> dict:
    """``{"_class_path": "package.module.Class"}`` of a LightningModule: saved with its settings, it lets
    LightningCLI rebuild the right family from a checkpoint (``--ckpt_path``)."""
    return {"_class_path": f"{type(module).__module__}.{type(module).__qualname__}"}
