"""Which training windows an epoch reads: the one sampler behind the in-memory and the packed datasets
(:class:`motionprior.data.WindowDataset`, :class:`motionprior.pack.PackedWindows`), which differ only in where
a window's states are read from."""

from __future__ import annotations

import torch

from flame.errors import InputError

__all__ = ["WindowPlan"]


class WindowPlan:
    """Windows of ``window`` transitions (``window + 1`` frames) over clips of ``lengths`` frames; clips not longer
    than the window are skipped (``clips``: the indices of the others; none is an error naming ``source``).

    ``random=True`` (training, as HuMoR): :meth:`draw` picks a uniformly chosen clip and a uniformly chosen start,
    played backwards with probability ``time_reversal``, from torch's global generator (seeded by
    ``seed_everything``); an epoch is ``length`` draws (default: the number of non-overlapping windows).
    ``random=False`` (validation / test): :attr:`ordered`, the non-overlapping windows of every clip in order.
    """

    def __init__(self, lengths: list[int], window: int, random: bool, length: int | None = None,
                 time_reversal: float = 0.0, source: str = "the data") -> None:
        if not 0.0 <= time_reversal <= 1.0:
            raise InputError(f"time_reversal is a probability in [0, 1], got {time_reversal}")
        self.lengths, self.window, self.random, self.time_reversal = [int(n) for n in lengths], window, random, time_reversal
        self.clips = [i for i, n in enumerate(self.lengths) if n > window]
        if not self.clips:
            raise InputError(f"{source}: no clip is longer than the window ({window + 1} frames); use a shorter window")
        self.ordered = [(i, s) for i in self.clips for s in range(0, self.lengths[i] - window, window)]
        self.length = (length or len(self.ordered)) if random else len(self.ordered)

    def draw(self) -> tuple[int, int, bool]:
        """A random window: ``(clip index, start frame, reversed)``."""
        c = self.clips[int(torch.randint(len(self.clips), ()))]
        start = int(torch.randint(self.lengths[c] - self.window, ()))
        reverse = bool(self.time_reversal) and float(torch.rand(())) < self.time_reversal
        return c, start, reverse
