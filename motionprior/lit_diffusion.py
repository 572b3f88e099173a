"""Training logic of the long-context family (the math is :mod:`motionprior.diffusion`).

A batch is ``window`` frames of states per row (the data module's windows of ``window - 1``
transitions), turned into features (:mod:`motionprior.features`) and normalized with per-channel
statistics drawn once from training windows at the start of ``fit``. Each row gets a known-mask
(:func:`training_masks`: the tasks of sampling - a known past, a gap between a known past and future,
known head channels, nothing known) and the loss is the denoising error on the unknown entries
(:func:`motionprior.diffusion.denoising_loss`). Validation logs the same loss with a fixed seed
(``val/selection_loss`` picks the best checkpoint).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import Tensor

from motionprior.diffusion import DiffusionGenerator, DiffusionNetwork, MotionDenoiser, denoising_loss
from motionprior.features import FeatureLayout, states_to_features
from motionprior.lit_base import GeneratorTraining
from motionprior.settings import HeadModel, Optimizer, as_block
from motionprior.state import StateSpec

log = logging.getLogger(__name__)

__all__ = ["LitMotionDiffusion", "DiffusionTraining", "training_masks", "MASK_TASKS"]

MASK_TASKS = ("past", "gap", "head", "none")


@dataclass(frozen=True)
class DiffusionTraining:
    """What the denoiser is trained to do.

    Attributes:
        tasks: probability of each known-mask per window row: ``past`` (the first 1..context frames
            known; half of these exactly ``context``, as in a rollout), ``gap`` (a known past and a known
            future around an unknown gap), ``head`` (head channels known on every frame, plus a past of
            0..context frames), ``none`` (nothing known).
        group_weights: share of the loss of each feature group (head, jaw, expression), spread over its
            channels (default: every channel alike, i.e. by channel count).
        snr_cap: each window's loss is weighted by its diffusion step's signal-to-noise ratio clamped to
            ``[1, snr_cap]`` (1: the plain clean-window error).
        statistics_batches: training batches drawn for the feature statistics.
    """

    tasks: dict[str, float] = field(default_factory=lambda: {"past": 0.55, "gap": 0.2, "head": 0.15, "none": 0.1})
    group_weights: dict[str, float] | None = None
    snr_cap: float = 1.0
    statistics_batches: int = 32

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - set(MASK_TASKS)
        if unknown or any(p < 0 for p in self.tasks.values()) or abs(sum(self.tasks.values()) - 1) > 1e-6:
            raise ValueError(f"tasks: probabilities of {list(MASK_TASKS)} that sum to 1, got {self.tasks}")
        if self.snr_cap < 1:
            raise ValueError(f"snr_cap must be at least 1 (1: the plain clean-window error), got {self.snr_cap}")


def training_masks(n: int, layout: FeatureLayout, window: int, context: int, tasks: dict[str, float],
                   device: torch.device | str = "cpu") -> Tensor:
    """Known-masks ``(n, window, F)`` (1 = known), one task per row drawn from ``tasks`` (see
    :class:`DiffusionTraining`), from torch's global generator."""
    probs = torch.tensor([tasks.get(t, 0.0) for t in MASK_TASKS])
    task = torch.multinomial(probs, n, replacement=True)
    frames = torch.arange(window)[None]
    k = torch.randint(1, context + 1, (n, 1))
    k = torch.where(torch.rand(n, 1) < 0.5, torch.full_like(k, context), k)  # half of the pasts: a full context
    past = frames < k
    gap_end = k + 1 + (torch.rand(n, 1) * (window - k - 1)).long()  # the future starts after >= 1 unknown frame
    gap = past | (frames >= gap_end)
    head_past = frames < (k - 1)  # 0..context - 1 known frames
    rows = torch.zeros(n, window, dtype=torch.bool)
    for i, name in enumerate(MASK_TASKS):
        sel = task == i
        rows[sel] = {"past": past, "gap": gap, "head": head_past, "none": torch.zeros_like(past)}[name][sel]
    mask = rows[..., None].expand(n, window, layout.dim).clone().float()
    head = torch.zeros(layout.dim)
    head[layout.channels("head")] = 1.0
    mask[task == MASK_TASKS.index("head")] = torch.maximum(mask[task == MASK_TASKS.index("head")], head)
    return mask.to(device)


def channel_weights(layout: FeatureLayout, group_weights: dict[str, float] | None) -> Tensor:
    """``(F,)`` loss weights, mean 1: each group's share spread evenly over its channels (None: all 1)."""
    if group_weights is None:
        return torch.ones(layout.dim)
    share = torch.tensor(layout.per_channel(group_weights, "group_weights", default=0.0))
    w = share / torch.tensor([float(n) for n in layout.sizes.values() for _ in range(n)])
    return w * layout.dim / w.sum()


class LitMotionDiffusion(GeneratorTraining):
    """Long-context diffusion training.

    Args:
        state: the state layout the features come from (:class:`motionprior.state.StateSpec`; no neck or
            eyes); head: the head model (:class:`motionprior.settings.HeadModel`).
        network: the denoiser and sampler (:class:`motionprior.diffusion.DiffusionNetwork`).
        training: the mask tasks (:class:`DiffusionTraining`).
        optim: optimizer (:class:`motionprior.settings.Optimizer`).
    """

    family = DiffusionGenerator.family

    def __init__(self, state: StateSpec = StateSpec(), head: HeadModel = HeadModel(),
                 network: DiffusionNetwork = DiffusionNetwork(), training: DiffusionTraining = DiffusionTraining(),
                 optim: Optimizer = Optimizer(name="adamw", lr=2e-4, milestones=())) -> None:
        super().__init__(state, head, optim)
        self.network, self.training_settings = as_block(DiffusionNetwork, network), as_block(DiffusionTraining, training)
        self.save_settings(network=self.network, training=self.training_settings)
        self.model = MotionDenoiser(self.spec, self.network)
        self.layout = FeatureLayout(self.spec)
        self.register_buffer("channel_weights", channel_weights(self.layout, self.training_settings.group_weights),
                             persistent=False)

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None:
            return
        self.check_data(dm)
        if dm.window + 1 != self.network.window:
            raise ValueError(f"data.window is {dm.window} transitions, but the network's window is {self.network.window} "
                             f"frames; set data.window: {self.network.window - 1}")
        if stage == "fit" and self.trainer.ckpt_path is None:
            self.model.set_statistics(*self._feature_statistics(dm))

    def _feature_statistics(self, dm) -> tuple[Tensor, Tensor]:
        """Per-channel mean and std of the features of up to ``statistics_batches`` training batches."""
        feats = []
        for i, batch in enumerate(dm.train_dataloader()):
            if i >= self.training_settings.statistics_batches:
                break
            feats.append(states_to_features(batch["states"].double(), self.layout).flatten(0, 1))
        x = torch.cat(feats)
        log.info("feature statistics from %d frames", len(x))
        return x.mean(0).float(), x.std(0).float()

    def _loss(self, batch: dict[str, Tensor]) -> Tensor:
        x0 = self.model.normalize(states_to_features(batch["states"], self.layout))
        net = self.network
        mask = training_masks(len(x0), self.layout, net.window, net.context, self.training_settings.tasks, x0.device)
        return denoising_loss(self.model, x0, mask, self.channel_weights, self.training_settings.snr_cap)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss.detach(), batch_size=len(batch["states"]))
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):  # same draws each epoch
            torch.manual_seed(batch_idx)
            loss = self._loss(batch)
        bs = len(batch["states"])
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val/selection_loss", loss, batch_size=bs, sync_dist=True)
