"""Timing helpers shared by the benchmarks: interleaved repeats and medians, so that a slow moment
of a shared machine hits both sides of a ratio alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable


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
