"""Training data for the generators: state clips (:mod:`motionprior.clips`) -> windows of transitions.

Where sequences come from: an annotation output, a synthetic corpus (its ground truth - the upper
bound the annotated sets are compared with), a split manifest or a folder with ``train/ val/ test/``
(:func:`flame.layout.find_sequences`), read into memory; or a pack folder (``python -m motionprior
pack``, :mod:`motionprior.pack`) whose windows stream from disk - for data that does not fit in memory.
Each view of a multi-view sequence is its own clip (the state is in each view's camera-aligned frame).
Clips shorter than ``min_seconds`` are dropped; ``trim`` removes that fraction from both ends (HuMoR
keeps the middle 80 % of mocap clips; annotations need no trimming by default).
"""

from __future__ import annotations

import json
import logging

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from flame.errors import InputError
from flame.layout import find_sequences
from flame.sequence import MOTION_FPS
from motionprior.clips import MotionClip, compute_statistics, load_clips
from motionprior.settings import HeadModel, as_block
from motionprior.state import StateSpec, reverse_states
from motionprior.windows import WindowPlan

log = logging.getLogger(__name__)

__all__ = ["WindowDataset", "MotionDataModule"]


class WindowDataset(Dataset):
    """Windows of ``window`` transitions (``window + 1`` frames) of clips in memory, chosen by a
    :class:`~motionprior.windows.WindowPlan` (random for training, as HuMoR; the non-overlapping windows in order
    for validation / test).

    ``time_reversal`` (training only, needs ``spec``): the probability that a window is played backwards
    (:func:`~motionprior.state.reverse_states`). Reversal makes the training motion time-symmetric, so a
    net trend of a small training set (e.g. heads that happen to pitch up on average over its clips)
    cancels instead of being learned and integrated into a drift over a long rollout; it also doubles the
    transitions. Its cost: onsets and offsets (a blink closes faster than it opens) are mixed.
    """

    def __init__(self, clips: list[MotionClip], window: int, random: bool, length: int | None = None,
                 time_reversal: float = 0.0, spec: StateSpec | None = None) -> None:
        if time_reversal and spec is None:
            raise InputError("time_reversal needs the state layout (spec) to negate the velocities")
        self.plan = WindowPlan([len(c.states) for c in clips], window, random, length, time_reversal,
                               source=f"clips at {MOTION_FPS:g} Hz")
        self.clips, self.window, self.spec = clips, window, spec

    def __len__(self) -> int:
        return self.plan.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        c, start, reverse = self.plan.draw() if self.plan.random else (*self.plan.ordered[i], False)
        clip = self.clips[c]
        states = torch.from_numpy(clip.states[start:start + self.window + 1])
        if reverse:
            states = reverse_states(states, self.spec)
        return {"states": states, "shape": torch.from_numpy(clip.shape)}


class MotionDataModule(L.LightningDataModule):
    """Train / val / test windows of one data source.

    Args:
        data: annotation output, corpus, split manifest, split folder or pack folder (see the module docstring).
        window: transitions per training window (HuMoR: 10).
        batch_size: windows per batch.
        val_split: the split used for validation (``val``; ``test`` when the data has no val split).
        min_seconds: drop clips shorter than this.
        trim: fraction cut from both ends of every clip.
        epoch_windows: training windows per epoch (default: the number of non-overlapping windows).
        time_reversal: probability that a training window is played backwards (0 = HuMoR; see
            :class:`WindowDataset`).
        num_workers: DataLoader workers.
        state / head: the state layout and the head model; the command line passes the model's.
    """

    def __init__(self, data: str, window: int = 10, batch_size: int = 64, val_split: str = "val",
                 min_seconds: float = 1.0, trim: float = 0.0, epoch_windows: int | None = None, time_reversal: float = 0.0,
                 num_workers: int = 0, state: StateSpec = StateSpec(), head: HeadModel = HeadModel()) -> None:
        super().__init__()
        self.data, self.window, self.batch_size, self.val_split = data, window, batch_size, val_split
        self.min_seconds, self.trim, self.num_workers = min_seconds, trim, num_workers
        self.epoch_windows, self.time_reversal = epoch_windows, time_reversal
        self.spec, self.head = as_block(StateSpec, state), as_block(HeadModel, head)
        self.clips: dict[str, list[MotionClip]] = {}
        self._statistics: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def packed(self) -> bool:
        """``data`` is a pack folder (``python -m motionprior pack``): windows stream from its shards."""
        from motionprior.pack import is_pack

        return is_pack(self.data)

    def _check_pack(self) -> None:
        from dataclasses import asdict

        from motionprior.pack import is_complete, read_pack

        info = read_pack(self.data)
        if info["state"] != json.loads(json.dumps(asdict(self.spec))):
            raise InputError(f"{self.data}: packed with state {info['state']}, but the prior's is {asdict(self.spec)}; "
                             f"pack again with the prior's n_exp / neck / eyes / extra_velocities")
        layer = self.head.layer(self.spec)
        if info["model_sha256"] != layer.model_sha256:
            raise InputError(f"{self.data}: packed with head model {info['model']}, but the prior uses "
                             f"{layer.model_label}; pass the same model file (--model.head.flame_model)")
        if not is_complete(self.data):
            raise InputError(f"{self.data}: the pack is incomplete; run the remaining `python -m motionprior pack` "
                             f"shards")

    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _windows(self, split: str, random: bool) -> Dataset:
        if self.packed:
            from motionprior.pack import PackedWindows

            rank, world_size = self._rank()
            return PackedWindows(self.data, split, self.window, random, length=self.epoch_windows,
                                 time_reversal=self.time_reversal if random else 0.0, spec=self.spec, rank=rank,
                                 world_size=world_size)
        return WindowDataset(self._split(split), self.window, random=random, length=self.epoch_windows if random else None,
                             time_reversal=self.time_reversal if random else 0.0, spec=self.spec)

    def _split(self, split: str) -> list[MotionClip]:
        if split not in self.clips:
            layer = self.head.layer(self.spec)
            paths = find_sequences(self.data, split)
            if not paths:
                raise InputError(f"{self.data}: the {split} split has no sequences (use --data.val_split test, or "
                                 f"a split manifest that lists {split} files)")
            self.clips[split] = load_clips(paths, layer, self.spec, self.min_seconds, self.trim)
            n = sum(len(c.states) for c in self.clips[split])
            log.info("%s split: %d sequences, %d clips, %d frames (%.1f min at 30 Hz)", split, len(paths),
                     len(self.clips[split]), n, n / MOTION_FPS / 60)
        return self.clips[split]

    def setup(self, stage: str | None = None) -> None:
        if stage in ("fit", None):
            trainer = getattr(self, "trainer", None)
            if trainer is not None and trainer.world_size > 1:
                # seed_everything gives every process the same generator: offset it per rank, or every
                # process would draw the same random windows (and latent samples)
                torch.manual_seed(torch.initial_seed() + trainer.global_rank)
            if self.packed:
                self._check_pack()
            else:
                self._split("train")
                self._split(self.val_split)
        if stage in ("validate",) and not self.packed:
            self._split(self.val_split)
        if stage in ("test",) and not self.packed:
            self._split("test")

    def state_statistics(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The train split's state normalization (:func:`motionprior.clips.compute_statistics`; a pack's stored
        statistics), computed when a family first asks for it (HuMoR-Face does; the long-context family normalizes
        its own features) and kept."""
        if self._statistics is None:
            if self.packed:
                from motionprior.pack import pack_statistics

                self._statistics = pack_statistics(self.data)
            else:
                self._statistics = compute_statistics(self._split("train"), self.spec)
        return self._statistics

    def train_dataloader(self) -> DataLoader:
        ds = self._windows("train", random=True)
        return DataLoader(ds, batch_size=min(self.batch_size, len(ds)), drop_last=True, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._windows(self.val_split, random=False), batch_size=self.batch_size,
                          num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._windows("test", random=False), batch_size=self.batch_size, num_workers=self.num_workers)
