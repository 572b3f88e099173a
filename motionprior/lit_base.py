"""What every generator family's LightningModule shares (training logic only; the math is each family's network).

A family's training module extends :class:`GeneratorTraining`: it names its family (the generator class's
``family``), passes its grouped settings to :meth:`GeneratorTraining.save_settings` (saved beside the weights, with
the class path LightningCLI rebuilds it from), sets ``self.model`` (the network its generator samples with) and
writes its steps. The base holds the state layout and head model, builds the optimizer, checks that the data
module's state layout is the model's, and tags checkpoints so the generator interface can load them.
"""

from __future__ import annotations

from typing import ClassVar

import lightning as L
from torch import nn

from motionprior.generator import checkpoint_tag
from motionprior.settings import HeadModel, Optimizer, as_block, blocks_to_dict, class_path_of
from motionprior.state import StateSpec

__all__ = ["GeneratorTraining"]


class GeneratorTraining(L.LightningModule):
    """The shared part of a family's training module.

    Attributes:
        family: the family's name (its :class:`~motionprior.generator.Generator`'s ``family``).
        spec, head, optim: the state layout, head model and optimizer settings (typed blocks).
        model: the family's network (set by the subclass).
    """

    family: ClassVar[str]
    model: nn.Module

    def __init__(self, state: StateSpec, head: HeadModel, optim: Optimizer) -> None:
        super().__init__()
        self.spec, self.head, self.optim = as_block(StateSpec, state), as_block(HeadModel, head), as_block(Optimizer, optim)

    def save_settings(self, **blocks) -> None:
        """Save the state layout, head model, optimizer and the family's ``blocks`` as plain nested values, with the
        class path, as the checkpoint's hyperparameters."""
        self.save_hyperparameters(class_path_of(self) | blocks_to_dict(state=self.spec, head=self.head, **blocks,
                                                                       optim=self.optim))

    def check_data(self, dm) -> None:
        """Refuse a data module whose state layout is not the model's."""
        if dm.spec != self.spec:
            raise ValueError(f"data state {dm.spec} differs from the model's {self.spec}")

    def configure_optimizers(self):
        return self.optim.build(self.model.parameters())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["generator"] = checkpoint_tag(self.family, self.head.layer(self.spec).model_sha256)
